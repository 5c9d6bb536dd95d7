//! The nodes: scalars with their span and quote style, mappings in written
//! order, sequences, and aliases left as aliases (what they stand for is in
//! [`super::Anchors`]).

use granit_parser::ScalarStyle;

use super::Text;
use crate::source::Span;

/// How a scalar was written; an edit re-renders its value in the same style.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QuoteStyle {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    /// `|` block; its span covers the content only, not the header.
    Literal,
    /// `>` block; its span covers the content only, not the header.
    Folded,
}

impl QuoteStyle {
    pub(super) fn from_granit(s: ScalarStyle) -> QuoteStyle {
        match s {
            ScalarStyle::Plain => QuoteStyle::Plain,
            ScalarStyle::SingleQuoted => QuoteStyle::SingleQuoted,
            ScalarStyle::DoubleQuoted => QuoteStyle::DoubleQuoted,
            ScalarStyle::Literal => QuoteStyle::Literal,
            _ => QuoteStyle::Folded,
        }
    }

    /// Whether this is a `|` or `>` block scalar.
    pub fn is_block(self) -> bool {
        matches!(self, QuoteStyle::Literal | QuoteStyle::Folded)
    }
}

/// Where a node was written: a [`Span`] in 32-bit offsets, as the tree
/// keeps it (the parser refuses texts past [`super::MAX_TEXT`]), half the
/// size of a `Span` in each of a tree's many nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TreeSpan {
    start: u32,
    end: u32,
}

impl TreeSpan {
    pub(super) fn of(span: Span) -> TreeSpan {
        let offset = |n: usize| u32::try_from(n).expect("YAML texts are limited to 2 GiB");
        TreeSpan {
            start: offset(span.start),
            end: offset(span.end),
        }
    }

    /// The span, in the offsets the rest of chartpin uses.
    pub fn span(self) -> Span {
        Span::new(self.start as usize, self.end as usize)
    }
}

/// A scalar as read: its value after unescaping, and how and where it was
/// written. The value borrows the source's bytes whenever they are the value
/// (no escapes, no folding: nearly every scalar), so a tree costs no string
/// of its own per scalar; [`Scalar::into_owned`] detaches one from its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scalar<'a> {
    /// The value after YAML escape processing; empty for a null written as nothing.
    pub value: Text<'a>,
    pub(super) at: TreeSpan,
    pub style: QuoteStyle,
    /// The scalar carries an anchor (`&name`).
    pub anchored: bool,
    /// Written as nothing at all (`key:`), or as `~`/`null`.
    pub is_null: bool,
}

impl<'a> Scalar<'a> {
    /// A scalar of `value`, written at `span` in `style`, with no anchor.
    pub fn new(value: impl Into<Text<'a>>, span: Span, style: QuoteStyle) -> Self {
        Scalar {
            value: value.into(),
            at: TreeSpan::of(span),
            style,
            anchored: false,
            is_null: false,
        }
    }

    /// Bytes of the scalar in the source, quotes included. Empty for an implicit
    /// null (`key:` with nothing after it): then it sits on the `:`.
    pub fn span(&self) -> Span {
        self.at.span()
    }

    /// This scalar, placed at `span` (a value read through an alias, at the alias).
    pub fn with_span(mut self, span: Span) -> Self {
        self.set_span(span);
        self
    }

    /// Place this scalar at `span`.
    pub fn set_span(&mut self, span: Span) {
        self.at = TreeSpan::of(span);
    }

    /// This scalar (where and how it was written) holding `value` instead.
    pub fn with_value<'b>(&self, value: Text<'b>) -> Scalar<'b> {
        Scalar {
            value,
            at: self.at,
            style: self.style,
            anchored: self.anchored,
            is_null: self.is_null,
        }
    }

    /// The value as a string, empty for a null.
    pub fn text(&self) -> &str {
        if self.is_null { "" } else { &self.value }
    }

    /// This scalar with its value copied out of the source.
    pub fn into_owned(self) -> Scalar<'static> {
        let Scalar {
            value,
            at,
            style,
            anchored,
            is_null,
        } = self;
        Scalar {
            value: value.into_owned(),
            at,
            style,
            anchored,
            is_null,
        }
    }

    /// The value is empty or null.
    pub fn is_empty(&self) -> bool {
        self.text().is_empty()
    }
}

impl<'a> Seq<'a> {
    /// A sequence of `items` starting at `span`, in flow style (`[…]`) or
    /// not, carrying an anchor or not.
    pub fn new(items: impl Into<Box<[Node<'a>]>>, span: Span, flow: bool, anchored: bool) -> Self {
        Seq {
            items: items.into(),
            opening: Opening::new(span, flow, anchored),
        }
    }
}

/// How a mapping or a sequence was written, read from its [`Opening`].
macro_rules! opening_accessors {
    ($($collection:ident),*) => {$(
        impl $collection<'_> {
            /// Where the collection starts (empty span for a block collection).
            pub fn span(&self) -> Span {
                self.opening.span()
            }

            /// Written in flow style (`{a: 1}`, `[a, b]`).
            pub fn flow(&self) -> bool {
                self.opening.flow()
            }

            /// The collection carries an anchor (`&name`).
            pub fn anchored(&self) -> bool {
                self.opening.anchored()
            }
        }
    )*};
}

opening_accessors!(Map, Seq);

/// A node of the values tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node<'a> {
    Scalar(Scalar<'a>),
    Map(Map<'a>),
    Seq(Seq<'a>),
    /// An alias (`*name`) at this span (see [`Node::span`]).
    Alias(TreeSpan),
}

/// Where a collection starts and how it is written, in 8 bytes: its
/// span's offsets (below 2³¹, [`super::MAX_TEXT`]) with the flow style in
/// the top bit of the start and the anchor in that of the end, so that a
/// mapping or sequence is no larger than a scalar and a node is 32 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Opening {
    start: u32,
    end: u32,
}

const FLAG: u32 = 1 << 31;

impl Opening {
    fn new(span: Span, flow: bool, anchored: bool) -> Opening {
        let TreeSpan { start, end } = TreeSpan::of(span);
        debug_assert!(start < FLAG && end < FLAG, "texts are limited to 2 GiB");
        Opening {
            start: start | if flow { FLAG } else { 0 },
            end: end | if anchored { FLAG } else { 0 },
        }
    }

    fn span(self) -> Span {
        Span::new((self.start & !FLAG) as usize, (self.end & !FLAG) as usize)
    }

    fn flow(self) -> bool {
        self.start & FLAG != 0
    }

    fn anchored(self) -> bool {
        self.end & FLAG != 0
    }
}

/// A mapping, keys in written order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Map<'a> {
    pub entries: Box<[(Node<'a>, Node<'a>)]>,
    opening: Opening,
}

/// A sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seq<'a> {
    pub items: Box<[Node<'a>]>,
    opening: Opening,
}

impl<'a> Node<'a> {
    /// The scalar, if this node is one.
    pub fn as_scalar(&self) -> Option<&Scalar<'a>> {
        match self {
            Node::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The mapping, if this node is one.
    pub fn as_map(&self) -> Option<&Map<'a>> {
        match self {
            Node::Map(m) => Some(m),
            _ => None,
        }
    }

    /// Whether this node carries an anchor or is an alias.
    pub fn anchored_or_alias(&self) -> bool {
        match self {
            Node::Scalar(s) => s.anchored,
            Node::Map(m) => m.anchored(),
            Node::Seq(s) => s.anchored(),
            Node::Alias(_) => true,
        }
    }

    /// The value under scalar key `key`, when this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        self.as_map()?.get(key)
    }

    /// Follow a path of keys (`["image", "tag"]`).
    pub fn lookup<'k>(&self, path: impl IntoIterator<Item = &'k str>) -> Option<&Node<'a>> {
        let mut node = self;
        for key in path {
            node = node.get(key)?;
        }
        Some(node)
    }

    /// The value of a scalar that is not null (`None` for collections, aliases
    /// and plain `null`/`~`/nothing).
    pub fn as_str(&self) -> Option<&str> {
        self.as_scalar()
            .filter(|s| !s.is_null)
            .map(|s| s.value.as_str())
    }

    /// The bytes this node was written in (where it starts, for a block collection).
    pub fn span(&self) -> Span {
        match self {
            Node::Scalar(s) => s.span(),
            Node::Map(m) => m.span(),
            Node::Seq(s) => s.span(),
            Node::Alias(at) => at.span(),
        }
    }

    /// A byte offset to point messages at.
    pub fn offset(&self) -> usize {
        self.span().start
    }
}

impl<'a> Map<'a> {
    /// A mapping of `entries` starting at `span`, in flow style (`{…}`) or
    /// not, carrying an anchor or not.
    pub fn new(
        entries: impl Into<Box<[(Node<'a>, Node<'a>)]>>,
        span: Span,
        flow: bool,
        anchored: bool,
    ) -> Self {
        Map {
            entries: entries.into(),
            opening: Opening::new(span, flow, anchored),
        }
    }

    /// The value under scalar key `key` (the last one, as YAML loaders take it;
    /// a file read with duplicate keys rejected has only one).
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k.as_scalar().is_some_and(|s| s.value == key))
            .map(|(_, v)| v)
    }

    /// The key node of `key`.
    pub fn key_of(&self, key: &str) -> Option<&Scalar<'a>> {
        self.entries
            .iter()
            .filter_map(|(k, _)| k.as_scalar())
            .find(|s| s.value == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A values file dense in image sites is mostly nodes: an entry (a key
    /// node and a value node) takes 64 bytes, where it took 112 with
    /// `usize` spans and a `Cow<str>` per scalar (issue 10).
    #[test]
    fn a_node_takes_32_bytes() {
        assert_eq!(std::mem::size_of::<Scalar>(), 24);
        assert_eq!(std::mem::size_of::<Node>(), 32);
    }
}
