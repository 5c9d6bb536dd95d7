//! Edits as byte splices: an [`Edit`] replaces one span and nothing else, a
//! scalar is re-rendered only in its own quoting, and a new key is inserted
//! on a line of its own in the indentation the file already uses.

use std::fmt;

use super::{QuoteStyle, Scalar, YamlPath};
use crate::source::Span;

/// A replacement of the bytes at `span`. An empty span inserts.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Edit {
    pub span: Span,
    pub replacement: String,
}

/// Why a set of edits cannot be applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EditError {
    /// Two different edits touch the same bytes.
    Overlap(Span, Span),
    /// An edit reaches past the end of the text or splits a character.
    OutOfBounds(Span),
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EditError::Overlap(a, b) => write!(
                f,
                "edits overlap at bytes {}..{} and {}..{}",
                a.start, a.end, b.start, b.end
            ),
            EditError::OutOfBounds(s) => {
                write!(
                    f,
                    "edit at bytes {}..{} is outside the text",
                    s.start, s.end
                )
            }
        }
    }
}

impl std::error::Error for EditError {}

/// Apply `edits` to `text` by splicing bytes; everything outside the edited
/// spans is copied as it was. Identical duplicate edits count once.
pub fn apply_edits(text: &str, edits: &[Edit]) -> Result<String, EditError> {
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut out = String::with_capacity(text.len() + edits.len() * 80);
    let mut pos = 0;
    let mut prev: Option<Span> = None;
    for e in sorted {
        let s = e.span;
        if s.end > text.len() || !text.is_char_boundary(s.start) || !text.is_char_boundary(s.end) {
            return Err(EditError::OutOfBounds(s));
        }
        if let Some(p) = prev
            && (s.start < p.end || (s.start == p.start && p.is_empty() == s.is_empty()))
        {
            return Err(EditError::Overlap(p, s));
        }
        out.push_str(&text[pos..s.start]);
        out.push_str(&e.replacement);
        pos = s.end;
        prev = Some(s);
    }
    out.push_str(&text[pos..]);
    Ok(out)
}

/// `value` written as a scalar of `style` (block styles fall back to double quotes).
pub fn render_scalar(style: QuoteStyle, value: &str) -> String {
    match style {
        QuoteStyle::Plain if plain_safe(value) => value.to_string(),
        QuoteStyle::SingleQuoted if !value.contains(['\n', '\r']) => {
            format!("'{}'", value.replace('\'', "''"))
        }
        _ => {
            let mut s = String::with_capacity(value.len() + 2);
            s.push('"');
            for c in value.chars() {
                match c {
                    '"' => s.push_str("\\\""),
                    '\\' => s.push_str("\\\\"),
                    '\n' => s.push_str("\\n"),
                    '\t' => s.push_str("\\t"),
                    c => s.push(c),
                }
            }
            s.push('"');
            s
        }
    }
}

/// Whether `v` reads back as the same string when written plain: image
/// references, digests and tags are; empty strings, YAML keywords and numbers are not.
fn plain_safe(v: &str) -> bool {
    if v.is_empty() || v.parse::<f64>().is_ok() {
        return false;
    }
    let lower = v.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "true" | "false" | "null" | "~" | "yes" | "no" | "on" | "off" | "y" | "n"
    ) {
        return false;
    }
    let first = v.as_bytes()[0];
    v.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-/:@+".contains(&b))
        && first.is_ascii_alphanumeric()
        && !v.ends_with(':')
}

/// The edit that sets `scalar` to `value` in its own quoting. An implicit null
/// (`key:`) gets ` value` inserted after its colon. Setting a scalar to the
/// value it already holds keeps its bytes: they already read as that value,
/// and a re-render could change how it is written (a plain `1` would become
/// `"1"`, a null `""`, an escape `\u0041` an `A`).
pub fn set_scalar(text: &str, scalar: &Scalar, value: &str) -> Edit {
    if scalar.text() == value {
        return Edit {
            span: scalar.span,
            replacement: text[scalar.span.range()].to_string(),
        };
    }
    if scalar.span.is_empty() {
        // An implicit null sits on the `:` (granit-parser puts its empty span there).
        let at = text[scalar.span.start..]
            .find(':')
            .map_or(scalar.span.start, |i| scalar.span.start + i + 1);
        return Edit {
            span: Span::new(at, at),
            replacement: format!(" {}", render_scalar(QuoteStyle::Plain, value)),
        };
    }
    let style = if scalar.is_null {
        QuoteStyle::Plain
    } else {
        scalar.style
    };
    Edit {
        span: scalar.span,
        replacement: render_scalar(style, value),
    }
}

/// Why a key cannot be inserted beside another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InsertError {
    /// The key sits in a flow mapping (`{a: 1, b: 2}`), where a new line
    /// would change the file's layout; the user should add the key.
    FlowMapping { path: YamlPath, key: String },
}

impl fmt::Display for InsertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InsertError::FlowMapping { path, key } => write!(
                f,
                "`{path}` is in a flow mapping; add a `{key}` field to it to pin it"
            ),
        }
    }
}

impl std::error::Error for InsertError {}

/// An edit inserting `key: value` on a new line after the line of the entry
/// whose key starts at `key_offset` and whose value is `after` (at `path`),
/// at that key's indentation and with the file's line ending.
pub fn insert_key_after(
    text: &str,
    key_offset: usize,
    after: &Scalar,
    path: &YamlPath,
    key: &str,
    value: &str,
) -> Result<Edit, InsertError> {
    let line_start = text[..key_offset].rfind('\n').map_or(0, |i| i + 1);
    let prefix = &text[line_start..key_offset];
    if prefix.contains(['{', ',']) {
        return Err(InsertError::FlowMapping {
            path: path.clone(),
            key: key.to_string(),
        });
    }
    let indent: String = prefix.chars().map(|_| ' ').collect();
    let end = after.span.end.max(key_offset);
    let (at, eol) = match text[end..].find('\n') {
        Some(i) if i > 0 && text.as_bytes()[end + i - 1] == b'\r' => (end + i - 1, "\r\n"),
        Some(i) => (end + i, "\n"),
        None => (text.len(), "\n"),
    };
    Ok(Edit {
        span: Span::new(at, at),
        replacement: format!(
            "{eol}{indent}{key}: {}",
            render_scalar(QuoteStyle::Plain, value)
        ),
    })
}
