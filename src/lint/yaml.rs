//! How lint reads YAML structurally: rendered manifests, `Chart.yaml`, and
//! values as the templates see them, all on the one tree of [`crate::yaml`].
//! Reading here keeps duplicate keys (a lookup takes the last, as YAML
//! loaders and Helm's decoder do), as lint always has for rendered output
//! and `Chart.yaml`; a values file is still refused for them where its image
//! sites are read ([`crate::values`]).
//!
//! What is lint's own: Helm's merge of a parent's values over a
//! subchart's ([`merged_with`]), and a tree as JSON for the values scanner.
//! Image *sites* in values files are not found here: that is
//! [`crate::values`], which knows every chart convention.

use crate::diag::InputError;
use crate::source::{SourceFile, Span};
pub use crate::yaml::{Document, Node};
use crate::yaml::{Duplicates, Map, QuoteStyle, Scalar};

/// How lint reads: duplicate keys kept, everything else as [`crate::yaml::parse`].
fn options() -> crate::yaml::Options {
    crate::yaml::Options {
        duplicates: Duplicates::Keep,
        ..Default::default()
    }
}

/// A document of only comments parses as an empty plain scalar: no root.
fn comment_only(root: &Node<'_>) -> bool {
    matches!(root, Node::Scalar(s) if s.style == QuoteStyle::Plain
        && (s.value.is_empty() || (&*s.value == "~" && s.span().is_empty())))
}

/// Parse every document of `src`. Malformed YAML is an [`InputError`] at its position.
pub fn parse_stream(src: &SourceFile) -> Result<Vec<Document<'_>>, InputError> {
    let yaml = crate::yaml::parse(src, options())?;
    Ok(yaml
        .documents
        .into_iter()
        .map(|d| Document {
            root: d.root.filter(|r| !comment_only(r)),
            span: d.span,
        })
        .collect())
}

/// [`parse_stream`] one document at a time ([`crate::yaml::parse_each`]):
/// a long stream is never held as one tree.
pub fn parse_stream_each<'a>(
    src: &'a SourceFile,
    mut each: impl FnMut(Document<'a>) -> Result<(), InputError>,
) -> Result<(), InputError> {
    crate::yaml::parse_each(src, options(), |d| {
        each(Document {
            root: d.root.filter(|r| !comment_only(r)),
            span: d.span,
        })
    })
}

/// Parse a single-document file (values.yaml, Chart.yaml); an empty file gives `None`.
pub fn parse_one(src: &SourceFile) -> Result<Option<Node<'_>>, InputError> {
    Ok(parse_stream(src)?.into_iter().find_map(|d| d.root))
}

/// The roots of `roots` that are more than a comment.
pub fn real_roots<'t, 'a>(roots: &'t [Node<'a>]) -> impl Iterator<Item = &'t Node<'a>> {
    roots.iter().filter(|r| !comment_only(r))
}

/// A mapping of one `key` to `value`, as Helm builds `{global: …}` overlays.
pub fn map_of<'a>(key: &'static str, value: Node<'a>) -> Node<'a> {
    let key = Node::Scalar(Scalar::new(key, Span::default(), QuoteStyle::Plain));
    Node::Map(Map::new(vec![(key, value)], Span::default(), false, false))
}

/// The text of a mapping key.
fn key_text<'n>(k: &'n Node<'_>) -> Option<&'n str> {
    k.as_scalar().map(|s| &*s.value)
}

/// `over`'s entries laid over `base`: maps merge key by key, a null keeps
/// what was there, anything else is replaced. Helm merges a parent's values
/// for a subchart over the subchart's own this way.
pub fn merged_with<'a>(base: &Node<'a>, over: &Node<'a>) -> Node<'a> {
    merged_into(base.clone(), over)
}

/// The real documents of `roots` merged as [`merged_with`] merges them,
/// the first taken as it is and each later one laid into it, rather than
/// copied (issue 10: the merged copy of a large document was held beside
/// the document).
pub fn merged_in_place(roots: Vec<Node<'_>>) -> Option<Node<'_>> {
    let mut real = roots.into_iter().filter(|r| !comment_only(r));
    let first = real.next()?;
    Some(real.fold(first, |acc, next| merged_into(acc, &next)))
}

/// [`merged_with`] of `base` and `over`, reusing `base`: each key laid
/// over is found by an index (the last of equal keys), since a scan of the
/// base per key was quadratic on two large documents.
pub fn merged_into<'a>(base: Node<'a>, over: &Node<'a>) -> Node<'a> {
    match (base, over) {
        (Node::Map(b), Node::Map(o)) => {
            let (span, flow, anchored) = (b.span(), b.flow(), b.anchored());
            let mut entries = b.entries.into_vec();
            let mut at: std::collections::HashMap<Option<String>, usize> = entries
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (key_text(k).map(str::to_string), i))
                .collect();
            for (k, v) in &o.entries {
                let key = key_text(k).map(str::to_string);
                match at.get(&key) {
                    Some(&i) => {
                        let old =
                            std::mem::replace(&mut entries[i].1, Node::Alias(Default::default()));
                        entries[i].1 = merged_into(old, v);
                    }
                    None => {
                        at.insert(key, entries.len());
                        entries.push((k.clone(), v.clone()));
                    }
                }
            }
            Node::Map(Map::new(entries, span, flow, anchored))
        }
        (base, Node::Scalar(s))
            if s.style == QuoteStyle::Plain && matches!(&*s.value, "null" | "~") =>
        {
            base
        }
        _ => over.clone(),
    }
}

/// The real documents of `roots` merged, keeping at their top level only
/// the keys `keep` accepts and the scalars (what a site at the top may be
/// read with beside it): what the sites under those keys read once merged,
/// without a merged copy of everything else.
pub fn merged_under<'a>(roots: &[Node<'a>], keep: impl Fn(&str) -> bool) -> Option<Node<'a>> {
    let kept = real_roots(roots).map(|r| match r {
        Node::Map(m) => Node::Map(Map::new(
            m.entries
                .iter()
                .filter(|(k, v)| {
                    matches!(v, Node::Scalar(_) | Node::Alias(_)) || key_text(k).is_some_and(&keep)
                })
                .cloned()
                .collect::<Vec<_>>(),
            m.span(),
            m.flow(),
            m.anchored(),
        )),
        other => other.clone(),
    });
    kept.reduce(|acc, next| merged_with(&acc, &next))
}

/// The node as JSON (which is YAML), so a merged tree can be handed to the
/// values scanner. Plain scalars that are JSON literals keep their type.
pub fn to_json(node: &Node<'_>) -> serde_json::Value {
    use serde_json::Value;
    match node {
        Node::Scalar(s) => {
            let value = &*s.value;
            if s.style == QuoteStyle::Plain {
                match value {
                    "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
                    "true" | "True" | "TRUE" => return Value::Bool(true),
                    "false" | "False" | "FALSE" => return Value::Bool(false),
                    _ => {}
                }
                if let Ok(n) = serde_json::from_str::<serde_json::Number>(value) {
                    return Value::Number(n);
                }
            }
            Value::String(value.to_string())
        }
        Node::Seq(s) => Value::Array(s.items.iter().map(to_json).collect()),
        Node::Map(m) => Value::Object(
            m.entries
                .iter()
                .map(|(k, v)| (key_text(k).unwrap_or_default().to_string(), to_json(v)))
                .collect(),
        ),
        Node::Alias(_) => Value::Null,
    }
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
        assert!(matches!(root.get("list"), Some(Node::Seq(s)) if s.items.len() == 2));
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
        let a_src = SourceFile::new("a", "image: {repository: x, tag: '1'}\nk: v\n");
        let a = parse_one(&a_src).unwrap().unwrap();
        let b_src = SourceFile::new("b", "image: {tag: '2'}\n");
        let b = parse_one(&b_src).unwrap().unwrap();
        let m = merged_with(&a, &b);
        assert_eq!(m.lookup(["image", "tag"]).unwrap().as_str(), Some("2"));
        assert_eq!(
            m.lookup(["image", "repository"]).unwrap().as_str(),
            Some("x")
        );
        assert_eq!(m.get("k").unwrap().as_str(), Some("v"));
    }

    /// Rendered output and `Chart.yaml` keep duplicate keys, the last one
    /// winning as in Helm's decoder; the values reader refuses them.
    #[test]
    fn duplicate_keys_are_kept_and_the_last_wins() {
        let src = SourceFile::new("r.yaml", "kind: Pod\nimage: a:1\nimage: b:2\n");
        let root = parse_one(&src).unwrap().unwrap();
        assert_eq!(root.get("image").and_then(Node::as_str), Some("b:2"));
        let strict = crate::yaml::parse(&src, crate::yaml::Options::default());
        assert!(
            strict
                .unwrap_err()
                .to_string()
                .contains("duplicate key `image`")
        );
    }
}
