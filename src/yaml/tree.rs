//! The nodes: scalars with their span and quote style, mappings in written
//! order, sequences, and aliases left as aliases (what they stand for is in
//! [`super::Anchors`]).

use std::borrow::Cow;

use granit_parser::ScalarStyle;

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

/// A scalar as read: its value after unescaping, and how and where it was
/// written. The value borrows the source's bytes whenever they are the value
/// (no escapes, no folding: nearly every scalar), so a tree costs no string
/// of its own per scalar; [`Scalar::into_owned`] detaches one from its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scalar<'a> {
    /// The value after YAML escape processing; empty for a null written as nothing.
    pub value: Cow<'a, str>,
    /// Bytes of the scalar in the source, quotes included. Empty for an implicit
    /// null (`key:` with nothing after it): then it sits on the `:`.
    pub span: Span,
    pub style: QuoteStyle,
    /// The scalar carries an anchor (`&name`).
    pub anchored: bool,
    /// Written as nothing at all (`key:`), or as `~`/`null`.
    pub is_null: bool,
}

impl Scalar<'_> {
    /// The value as a string, empty for a null.
    pub fn text(&self) -> &str {
        if self.is_null { "" } else { &self.value }
    }

    /// This scalar with its value copied out of the source.
    pub fn into_owned(self) -> Scalar<'static> {
        Scalar {
            value: Cow::Owned(self.value.into_owned()),
            span: self.span,
            style: self.style,
            anchored: self.anchored,
            is_null: self.is_null,
        }
    }

    /// The value is empty or null.
    pub fn is_empty(&self) -> bool {
        self.text().is_empty()
    }
}

/// A node of the values tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node<'a> {
    Scalar(Scalar<'a>),
    Map(Map<'a>),
    Seq(Seq<'a>),
    /// An alias (`*name`) at this span.
    Alias(Span),
}

/// A mapping, keys in written order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Map<'a> {
    pub entries: Vec<(Node<'a>, Node<'a>)>,
    pub flow: bool,
    pub anchored: bool,
    /// Where the mapping starts (empty span for block mappings).
    pub span: Span,
}

/// A sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seq<'a> {
    pub items: Vec<Node<'a>>,
    pub flow: bool,
    pub anchored: bool,
    pub span: Span,
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
            Node::Map(m) => m.anchored,
            Node::Seq(s) => s.anchored,
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
        self.as_scalar().filter(|s| !s.is_null).map(|s| &*s.value)
    }

    /// The bytes this node was written in (where it starts, for a block collection).
    pub fn span(&self) -> Span {
        match self {
            Node::Scalar(s) => s.span,
            Node::Map(m) => m.span,
            Node::Seq(s) => s.span,
            Node::Alias(s) => *s,
        }
    }

    /// A byte offset to point messages at.
    pub fn offset(&self) -> usize {
        match self {
            Node::Scalar(s) => s.span.start,
            Node::Map(m) => m.span.start,
            Node::Seq(s) => s.span.start,
            Node::Alias(s) => s.start,
        }
    }
}

impl<'a> Map<'a> {
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
