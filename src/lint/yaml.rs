//! A small YAML tree with byte spans, for what lint reads structurally:
//! rendered manifests, `Chart.yaml`, and values used to resolve
//! `{{ .Values.x }}` in templates. Built from granit-parser events, whose
//! byte offsets are exact on non-ASCII text (FIELD-NOTES §6).
//!
//! Image *sites* in values files are not found here: that is
//! [`crate::values`], which knows every chart convention.

use granit_parser::{Event, Parser, ScalarStyle};

use crate::diag::InputError;
use crate::source::{SourceFile, Span};

/// A YAML node: scalar, sequence or mapping, with the byte span of its text.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Scalar {
        value: String,
        /// Plain scalars may be numbers, booleans or null; quoted ones are strings.
        plain: bool,
        span: Span,
    },
    Seq {
        items: Vec<Node>,
        span: Span,
    },
    Map {
        entries: Vec<(String, Node)>,
        span: Span,
    },
    /// An alias or anything else lint does not look into.
    Other {
        span: Span,
    },
}

/// One document of a stream, with the span from its start to its end.
#[derive(Clone, Debug)]
pub struct Document {
    pub root: Option<Node>,
    pub span: Span,
}

impl Node {
    pub fn span(&self) -> Span {
        match self {
            Node::Scalar { span, .. }
            | Node::Seq { span, .. }
            | Node::Map { span, .. }
            | Node::Other { span } => *span,
        }
    }

    /// The value under `key` of a mapping (the last one, as YAML loaders do).
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map { entries, .. } => entries.iter().rev().find(|(k, _)| k == key).map(|e| &e.1),
            _ => None,
        }
    }

    /// Follow a dotted key path (`image.tag`).
    pub fn lookup<'a>(&self, path: impl IntoIterator<Item = &'a str>) -> Option<&Node> {
        let mut node = self;
        for key in path {
            node = node.get(key)?;
        }
        Some(node)
    }

    /// The text of a scalar (`None` for collections and for plain `null`/`~`).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Scalar { value, plain, .. } => {
                if *plain && matches!(value.as_str(), "null" | "~" | "Null" | "NULL" | "") {
                    None
                } else {
                    Some(value)
                }
            }
            _ => None,
        }
    }

    /// `b`'s entries laid over `self`: maps merge key by key, anything else is replaced.
    /// Helm merges a parent's values for a subchart over the subchart's own this way.
    pub fn merged_with(&self, over: &Node) -> Node {
        match (self, over) {
            (
                Node::Map { entries, span },
                Node::Map {
                    entries: over_entries,
                    ..
                },
            ) => {
                let mut out: Vec<(String, Node)> = entries.clone();
                for (k, v) in over_entries {
                    match out.iter_mut().find(|(ok, _)| ok == k) {
                        Some((_, existing)) => *existing = existing.merged_with(v),
                        None => out.push((k.clone(), v.clone())),
                    }
                }
                Node::Map {
                    entries: out,
                    span: *span,
                }
            }
            (
                _,
                Node::Scalar {
                    plain: true, value, ..
                },
            ) if value == "null" || value == "~" => self.clone(),
            _ => over.clone(),
        }
    }
}

/// The node as JSON (which is YAML), so a merged tree can be handed to the
/// values scanner. Plain scalars that are JSON literals keep their type.
pub fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value;
    match node {
        Node::Scalar { value, plain, .. } => {
            if *plain {
                match value.as_str() {
                    "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
                    "true" | "True" | "TRUE" => return Value::Bool(true),
                    "false" | "False" | "FALSE" => return Value::Bool(false),
                    _ => {}
                }
                if let Ok(n) = serde_json::from_str::<serde_json::Number>(value) {
                    return Value::Number(n);
                }
            }
            Value::String(value.clone())
        }
        Node::Seq { items, .. } => Value::Array(items.iter().map(to_json).collect()),
        Node::Map { entries, .. } => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect(),
        ),
        Node::Other { .. } => Value::Null,
    }
}

/// Parse every document of `src`. Malformed YAML is an [`InputError`] at its position.
pub fn parse_stream(src: &SourceFile) -> Result<Vec<Document>, InputError> {
    let text = src.text.as_str();
    let mut options = granit_parser::Options::default();
    options.set_emit_comments(false);
    let parser = &mut Parser::new_from_str_with_options(text, options);
    let mut docs = Vec::new();
    // Stack of collections under construction: (node, pending key for maps).
    let mut stack: Vec<(Node, Option<String>)> = Vec::new();
    let mut doc_root: Option<Node> = None;
    let mut doc_start = 0usize;
    let offset = |m: &granit_parser::Marker| m.byte_offset().unwrap_or_else(|| m.index());
    for item in parser {
        let (event, span) = item.map_err(|e| {
            let m = e.marker();
            let at = m.byte_offset().unwrap_or(0).min(text.len());
            let lc = src.line_col(at);
            let _ = lc;
            InputError::at(src, at, format!("malformed YAML: {}", e.info()))
        })?;
        let sp = Span::new(
            offset(&span.start),
            offset(&span.end).max(offset(&span.start)),
        );
        let finished: Option<Node> = match event {
            Event::DocumentStart(..) => {
                doc_start = sp.start;
                doc_root = None;
                None
            }
            Event::DocumentEnd => {
                // A document of only comments parses as an empty plain scalar.
                let root = doc_root.take().filter(|r| {
                    !matches!(r, Node::Scalar { value, plain: true, span }
                        if value.is_empty() || (value == "~" && span.is_empty()))
                });
                docs.push(Document {
                    root,
                    span: Span::new(doc_start.min(sp.end), sp.end),
                });
                None
            }
            Event::Scalar(value, style, ..) => Some(Node::Scalar {
                value: value.into_owned(),
                plain: style == ScalarStyle::Plain,
                span: sp,
            }),
            Event::Alias(_) | Event::UnresolvedAlias(_) => Some(Node::Other { span: sp }),
            Event::SequenceStart(..) => {
                stack.push((
                    Node::Seq {
                        items: Vec::new(),
                        span: sp,
                    },
                    None,
                ));
                None
            }
            Event::MappingStart(..) => {
                stack.push((
                    Node::Map {
                        entries: Vec::new(),
                        span: sp,
                    },
                    None,
                ));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => stack.pop().map(|(mut n, _)| {
                match &mut n {
                    Node::Seq { span, .. } | Node::Map { span, .. } => {
                        span.end = sp.end.max(span.start)
                    }
                    _ => {}
                }
                n
            }),
            _ => None,
        };
        if let Some(node) = finished {
            match stack.last_mut() {
                None => doc_root = Some(node),
                Some((Node::Seq { items, .. }, _)) => items.push(node),
                Some((Node::Map { entries, .. }, pending)) => match pending.take() {
                    None => {
                        let key = match &node {
                            Node::Scalar { value, .. } => value.clone(),
                            _ => String::new(),
                        };
                        *pending = Some(key);
                    }
                    Some(key) => entries.push((key, node)),
                },
                Some(_) => {}
            }
        }
    }
    Ok(docs)
}

/// Parse a single-document file (values.yaml, Chart.yaml); an empty file gives `None`.
pub fn parse_one(src: &SourceFile) -> Result<Option<Node>, InputError> {
    Ok(parse_stream(src)?.into_iter().find_map(|d| d.root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_bytes_and_paths_resolve() {
        let src = SourceFile::new("v.yaml", "# é\nimage:\n  tag: \"1.2\"\nlist: [a, b]\n");
        let root = parse_one(&src).unwrap().unwrap();
        let tag = root.lookup(["image", "tag"]).unwrap();
        assert_eq!(tag.as_str(), Some("1.2"));
        assert_eq!(src.slice(tag.span()), "\"1.2\"");
        assert!(matches!(root.get("list"), Some(Node::Seq { items, .. }) if items.len() == 2));
    }

    #[test]
    fn streams_keep_every_document() {
        let src = SourceFile::new("r.yaml", "---\na: 1\n---\n# only a comment\n---\nb: 2\n");
        let docs = parse_stream(&src).unwrap();
        assert_eq!(docs.len(), 3, "{docs:?}");
        assert!(docs[1].root.is_none(), "{docs:?}");
    }

    #[test]
    fn malformed_yaml_is_an_input_error_with_a_position() {
        let src = SourceFile::new("bad.yaml", "a: [1, 2\nb: 3\n");
        let e = parse_stream(&src).unwrap_err();
        assert!(e.line > 0, "{e}");
    }

    #[test]
    fn merge_lays_maps_over_maps() {
        let a = parse_one(&SourceFile::new(
            "a",
            "image: {repository: x, tag: '1'}\nk: v\n",
        ))
        .unwrap()
        .unwrap();
        let b = parse_one(&SourceFile::new("b", "image: {tag: '2'}\n"))
            .unwrap()
            .unwrap();
        let m = a.merged_with(&b);
        assert_eq!(m.lookup(["image", "tag"]).unwrap().as_str(), Some("2"));
        assert_eq!(
            m.lookup(["image", "repository"]).unwrap().as_str(),
            Some("x")
        );
        assert_eq!(m.get("k").unwrap().as_str(), Some("v"));
    }
}
