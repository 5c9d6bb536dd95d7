//! Building the tree from granit-parser events, and what reading refuses:
//! malformed YAML, tab indentation (the parser's own check), duplicate keys
//! (granit-parser accepts them silently, FIELD-NOTES §6; a reader of
//! rendered output may keep them, as Helm's own decoder does), nesting past a
//! reader's limit. Aliases stay aliases in the tree; [`Anchors`] says what
//! each stands for and [`AliasBudget`] bounds how many a reader follows.

use std::borrow::Cow;
use std::collections::HashMap;

use granit_parser::{Event, Parser};

use super::{MAX_TEXT, Map, Node, QuoteStyle, Scalar, Seq, Text, TreeSpan};
use crate::diag::InputError;
use crate::source::{SourceFile, Span};

/// The anchored nodes of a file and which one each alias names.
#[derive(Clone, Debug, Default)]
pub struct Anchors<'a> {
    /// Each anchored node as written (its own aliases stay aliases).
    nodes: Vec<Node<'a>>,
    /// Anchor id → index into `nodes` (ids are unique across documents).
    by_id: HashMap<usize, usize>,
    /// Alias byte offset → index into `nodes`.
    aliases: HashMap<usize, usize>,
}

impl<'a> Anchors<'a> {
    /// The node the alias at `span` stands for.
    pub fn target(&self, span: Span) -> Option<&Node<'a>> {
        self.aliases.get(&span.start).map(|&i| &self.nodes[i])
    }
}

/// Aliases followed in one scan at most: a file of aliases of aliases
/// (the "billion laughs") must not make a scan exponential.
pub const MAX_ALIAS_EXPANSIONS: usize = 10_000;

/// How many aliases one reader may still follow: a file of aliases of
/// aliases (the "billion laughs") must not make a scan exponential.
#[derive(Clone, Copy, Debug)]
pub struct AliasBudget {
    left: usize,
}

impl Default for AliasBudget {
    fn default() -> Self {
        AliasBudget {
            left: MAX_ALIAS_EXPANSIONS,
        }
    }
}

impl AliasBudget {
    /// The node the alias at `span` stands for, while the budget lasts.
    pub fn follow<'t, 'a>(&mut self, anchors: &'t Anchors<'a>, span: Span) -> Option<&'t Node<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        anchors.target(span)
    }
}

/// What to do with a key written twice in one mapping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Duplicates {
    /// An input error at the second, naming the first (values, manifests).
    #[default]
    Reject,
    /// Keep both entries; readers that look keys up take the last, as YAML
    /// loaders do (lint's reading of rendered output and templates' values).
    Keep,
}

/// How [`parse`] reads.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    pub duplicates: Duplicates,
    /// Deepest nesting accepted (`None`: no limit of ours).
    pub max_depth: Option<usize>,
}

/// One document of a stream: its root (`None` for a document of only
/// comments) and the bytes from its start to its end.
#[derive(Clone, Debug)]
pub struct Document<'a> {
    pub root: Option<Node<'a>>,
    pub span: Span,
}

/// A parsed YAML stream: its documents and what their aliases stand for.
#[derive(Clone, Debug, Default)]
pub struct Yaml<'a> {
    pub documents: Vec<Document<'a>>,
    pub anchors: Anchors<'a>,
}

impl<'a> Yaml<'a> {
    /// The roots of the documents that have one, in order.
    pub fn roots(&self) -> impl Iterator<Item = &Node<'a>> {
        self.documents.iter().filter_map(|d| d.root.as_ref())
    }
}

/// Parse every document of `source`, rejecting what `options` says to.
pub fn parse(source: &SourceFile, options: Options) -> Result<Yaml<'_>, InputError> {
    let mut b = Builder::new(source, options)?;
    let mut documents = Vec::new();
    while let Some(doc) = b.document()? {
        documents.push(doc);
    }
    Ok(Yaml {
        documents,
        anchors: b.anchors,
    })
}

/// [`parse`] one document at a time: `each` gets every document as it is
/// read, and its tree is given back before the next one is built. For a
/// reader of a long stream that needs one document at a time (lint of
/// `--rendered` output): a stream of many documents is never held as one
/// tree (issue 10: peak memory within 4× the input). Anchors do not reach
/// across documents (YAML 1.2, 9.1), so none are kept from one to the next.
/// On malformed YAML, the documents before it have been given to `each`.
pub fn parse_each<'a>(
    source: &'a SourceFile,
    options: Options,
    mut each: impl FnMut(Document<'a>) -> Result<(), InputError>,
) -> Result<(), InputError> {
    let mut b = Builder::new(source, options)?;
    while let Some(doc) = b.document()? {
        b.anchors = Anchors::default();
        each(doc)?;
    }
    Ok(())
}

/// Mappings with fewer keys than this find duplicates by a scan, not a hash map.
const SMALL_MAP: usize = 16;

/// Past this many nodes a collection's slice is a block of its own
/// (glibc maps blocks of 128 KiB and more apart from the heap), which the
/// allocator shrinks in place without leaving a hole in the heap.
const LARGE_COLLECTION: usize = 4096;

/// The nodes from `first` on (a collection's, on top of the collections
/// open around it), moved out of `stack` into a slice of exactly their
/// number. The outermost collection, when large (one 20 MB flow sequence),
/// takes the stack's own block, shrunk in place: a copy would hold it
/// twice. A large collection inside others leaves the stack far bigger than
/// what is still on it, and the stack gives the rest back.
fn take_from<T>(stack: &mut Vec<T>, first: usize) -> Box<[T]> {
    let count = stack.len() - first;
    if first == 0 && count >= LARGE_COLLECTION {
        return std::mem::take(stack).into_boxed_slice();
    }
    let taken: Box<[T]> = stack.drain(first..).collect();
    if count >= LARGE_COLLECTION && stack.capacity() > 2 * stack.len() {
        stack.shrink_to_fit();
    }
    taken
}

/// Builds the tree straight from the parser's event stream (one event of
/// lookahead), so no event list is held: time and memory stay linear.
struct Builder<'a, I> {
    source: &'a SourceFile,
    parser: I,
    peeked: Option<(Event<'a>, Span)>,
    anchors: Anchors<'a>,
    options: Options,
    /// Collections open around the node being read.
    depth: usize,
    /// The items and the entries read so far of the collections open, each
    /// collection's on top of its parent's: a collection's nodes are moved
    /// out into a slice of exactly their number when it ends. A vector per
    /// collection grown by doubling and shrunk to fit would leave a freed
    /// tail behind every mapping and sequence of the tree, a hole no later
    /// block of the tree fits (issue 10: on a dense values file those holes
    /// cost more than a third of the tree).
    items: Vec<Node<'a>>,
    entries: Vec<(Node<'a>, Node<'a>)>,
}

impl<'a> Builder<'a, Parser<'a, granit_parser::StrInput<'a>>> {
    /// A builder for `source`, refused past [`MAX_TEXT`]: the tree keeps
    /// 32-bit offsets (only a `--max-input-size` raised past 2 GiB lets
    /// such a text be read at all).
    fn new(source: &'a SourceFile, options: Options) -> Result<Self, InputError> {
        if source.text.len() > MAX_TEXT {
            return Err(InputError::file(
                &source.path,
                format!(
                    "{} bytes of YAML: chartpin reads YAML texts of at most 2 GiB",
                    source.text.len()
                ),
            ));
        }
        // Comments are never needed here (edits are byte splices, so they stay as
        // written); not capturing them saves the parser a copy of each one.
        let mut parser_options = granit_parser::Options::default();
        parser_options.set_emit_comments(false);
        Ok(Builder {
            source,
            parser: Parser::new_from_str_with_options(&source.text, parser_options),
            peeked: None,
            anchors: Anchors::default(),
            options,
            depth: 0,
            items: Vec::new(),
            entries: Vec::new(),
        })
    }
}

impl<'a, I> Builder<'a, I>
where
    I: Iterator<Item = Result<(Event<'a>, granit_parser::Span), granit_parser::ScanError>>,
{
    /// The next document of the stream, or `None` at its end.
    fn document(&mut self) -> Result<Option<Document<'a>>, InputError> {
        while let Some((ev, span)) = self.next()? {
            if let Event::DocumentStart(..) = ev {
                let root = if matches!(self.peek()?, Some(Event::DocumentEnd)) {
                    None
                } else {
                    Some(self.node()?)
                };
                // The document's end event, if the stream has it.
                let end = match self.peek()? {
                    Some(Event::DocumentEnd) => self.next()?.map_or(span.end, |(_, s)| s.end),
                    _ => self
                        .peeked
                        .as_ref()
                        .map_or(self.source.text.len(), |(_, s)| s.start),
                };
                return Ok(Some(Document {
                    root,
                    span: Span::new(span.start, end.max(span.start)),
                }));
            }
        }
        Ok(None)
    }

    fn pull(&mut self) -> Result<Option<(Event<'a>, Span)>, InputError> {
        match self.parser.next() {
            None => Ok(None),
            Some(Ok((ev, span))) => {
                let (Some(s), Some(e)) = (span.start.byte_offset(), span.end.byte_offset()) else {
                    return Err(InputError::file(
                        &self.source.path,
                        "YAML parser gave no byte offsets",
                    ));
                };
                Ok(Some((ev, Span::new(s, e.max(s)))))
            }
            Some(Err(err)) => {
                let m = err.marker();
                let msg = format!("malformed YAML: {}", err.info());
                Err(match m.byte_offset() {
                    Some(off) => InputError::at(self.source, off, msg),
                    None => InputError::at_line_col(self.source, m.line(), m.col() + 1, msg),
                })
            }
        }
    }

    fn next(&mut self) -> Result<Option<(Event<'a>, Span)>, InputError> {
        match self.peeked.take() {
            Some(ev) => Ok(Some(ev)),
            None => self.pull(),
        }
    }

    fn peek(&mut self) -> Result<Option<&Event<'a>>, InputError> {
        if self.peeked.is_none() {
            self.peeked = self.pull()?;
        }
        Ok(self.peeked.as_ref().map(|(e, _)| e))
    }

    fn unexpected_end(&self) -> InputError {
        InputError::file(&self.source.path, "unexpected end of YAML")
    }

    /// The next node, remembered under its anchor id when it has one.
    fn node(&mut self) -> Result<Node<'a>, InputError> {
        let (node, anchor) = self.bare_node()?;
        if anchor != 0 {
            self.anchors.by_id.insert(anchor, self.anchors.nodes.len());
            self.anchors.nodes.push(node.clone());
        }
        Ok(node)
    }

    /// The next node and its anchor id (0 for none), within the depth limit.
    fn bare_node(&mut self) -> Result<(Node<'a>, usize), InputError> {
        self.depth += 1;
        let node = self.unlimited_node();
        self.depth -= 1;
        node
    }

    /// An input error at `at` when the nesting is past the reader's limit.
    fn check_depth(&self, at: usize) -> Result<(), InputError> {
        match self.options.max_depth {
            Some(max) if self.depth > max => Err(InputError::at(
                self.source,
                at,
                format!("nested deeper than {max} levels"),
            )),
            _ => Ok(()),
        }
    }

    fn unlimited_node(&mut self) -> Result<(Node<'a>, usize), InputError> {
        loop {
            let Some((ev, span)) = self.next()? else {
                return Err(self.unexpected_end());
            };
            match ev {
                Event::Comment(..) | Event::Anchor(..) => continue,
                Event::Scalar(v, style, anchor, _) => {
                    let style = QuoteStyle::from_granit(style);
                    let source: &'a SourceFile = self.source;
                    let raw = &source.text[span.range()];
                    let is_null = style == QuoteStyle::Plain
                        && (raw.is_empty() || matches!(raw, "~" | "null" | "Null" | "NULL"));
                    let value = if raw.is_empty() && style == QuoteStyle::Plain {
                        Text::borrowed("")
                    } else {
                        borrowed(v, raw, style)
                    };
                    let scalar = Scalar {
                        anchored: anchor != 0,
                        is_null,
                        ..Scalar::new(value, span, style)
                    };
                    return Ok((Node::Scalar(scalar), anchor));
                }
                Event::Alias(id) => {
                    if let Some(&i) = self.anchors.by_id.get(&id) {
                        self.anchors.aliases.insert(span.start, i);
                    }
                    return Ok((Node::Alias(TreeSpan::of(span)), 0));
                }
                Event::SequenceStart(style, anchor, _) => {
                    self.check_depth(span.start)?;
                    let first = self.items.len();
                    loop {
                        self.skip_meta()?;
                        match self.peek()? {
                            Some(Event::SequenceEnd) => {
                                self.next()?;
                                break;
                            }
                            None => return Err(self.unexpected_end()),
                            _ => {
                                let item = self.node()?;
                                self.items.push(item);
                            }
                        }
                    }
                    let items = take_from(&mut self.items, first);
                    return Ok((
                        Node::Seq(Seq::new(
                            items,
                            span,
                            style == granit_parser::StructureStyle::Flow,
                            anchor != 0,
                        )),
                        anchor,
                    ));
                }
                Event::MappingStart(style, anchor, _) => {
                    self.check_depth(span.start)?;
                    let flow = style == granit_parser::StructureStyle::Flow;
                    let anchored = anchor != 0;
                    let first_entry = self.entries.len();
                    // Keys seen so far. Small mappings (nearly all) are searched
                    // directly; past `SMALL_MAP` keys an index keeps it linear.
                    let mut seen: HashMap<Box<str>, usize> = HashMap::new();
                    let mut indexed = false;
                    loop {
                        self.skip_meta()?;
                        match self.peek()? {
                            Some(Event::MappingEnd) => {
                                self.next()?;
                                break;
                            }
                            None => return Err(self.unexpected_end()),
                            _ => {}
                        }
                        let key = self.node()?;
                        if let Node::Scalar(k) = &key
                            && k.value != "<<"
                            && self.options.duplicates == Duplicates::Reject
                        {
                            let entries = &self.entries[first_entry..];
                            let first = if entries.len() < SMALL_MAP {
                                entries.iter().find_map(|(e, _)| match e {
                                    Node::Scalar(e) if e.value == k.value => Some(e.span().start),
                                    _ => None,
                                })
                            } else {
                                if !indexed {
                                    indexed = true;
                                    for (e, _) in entries {
                                        if let Node::Scalar(e) = e
                                            && e.value != "<<"
                                        {
                                            seen.entry(e.value.as_str().into())
                                                .or_insert(e.span().start);
                                        }
                                    }
                                }
                                seen.get(k.value.as_str()).copied()
                            };
                            if let Some(first) = first {
                                let lc = self.source.line_col(first);
                                return Err(InputError::at(
                                    self.source,
                                    k.span().start,
                                    format!(
                                        "duplicate key `{}` (first defined at line {}, column {})",
                                        k.value, lc.line, lc.column
                                    ),
                                ));
                            }
                            if indexed {
                                seen.insert(k.value.as_str().into(), k.span().start);
                            }
                        }
                        self.skip_meta()?;
                        let value = self.node()?;
                        self.entries.push((key, value));
                    }
                    let entries = take_from(&mut self.entries, first_entry);
                    return Ok((Node::Map(Map::new(entries, span, flow, anchored)), anchor));
                }
                _ => {
                    return Err(InputError::at(
                        self.source,
                        span.start,
                        "unexpected YAML structure",
                    ));
                }
            }
        }
    }

    /// Skip comments and anchor metadata between nodes.
    fn skip_meta(&mut self) -> Result<(), InputError> {
        while matches!(self.peek()?, Some(Event::Comment(..) | Event::Anchor(..))) {
            self.next()?;
        }
        Ok(())
    }
}

/// The scalar's value as a borrow of its source bytes when they are the
/// value (inside the quotes for a quoted scalar), else the parser's copy.
fn borrowed<'a>(value: Cow<'_, str>, raw: &'a str, style: QuoteStyle) -> Text<'a> {
    let inner = match style {
        QuoteStyle::SingleQuoted | QuoteStyle::DoubleQuoted if raw.len() >= 2 => {
            &raw[1..raw.len() - 1]
        }
        _ => raw,
    };
    if *value == *inner {
        Text::borrowed(inner)
    } else {
        Text::owned(value.into_owned())
    }
}
