//! Edits as byte splices: an [`Edit`] replaces one span and nothing else, a
//! scalar is re-rendered only in its own quoting, and a new key is inserted
//! on a line of its own in the indentation the file already uses.

use std::fmt;

use super::{Node, QuoteStyle, Scalar, YamlPath};
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

impl EditError {
    /// The input error for the file at `path` whose edits these are.
    pub fn in_file(&self, path: &std::path::Path) -> crate::diag::InputError {
        crate::diag::InputError::file(path, format!("conflicting edits: {self}"))
    }
}

/// `edits` in the order they apply, each once.
fn in_order(edits: &[Edit]) -> Vec<&Edit> {
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort();
    sorted.dedup();
    sorted
}

/// Apply `edits` to `text` by splicing bytes; everything outside the edited
/// spans is copied as it was. Identical duplicate edits count once.
pub fn apply_edits(text: &str, edits: &[Edit]) -> Result<String, EditError> {
    let mut out = String::with_capacity(text.len() + edits.len() * 80);
    for piece in pieces(text, edits)? {
        out.push_str(piece);
    }
    Ok(out)
}

/// The pieces [`apply_edits`] joins: the text between the edits and each
/// edit's replacement, in order; an error for edits that cannot apply.
fn pieces<'t>(text: &'t str, edits: &'t [Edit]) -> Result<Vec<&'t str>, EditError> {
    let sorted = in_order(edits);
    let mut out = Vec::with_capacity(2 * sorted.len() + 1);
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
        out.push(&text[pos..s.start]);
        out.push(e.replacement.as_str());
        pos = s.end;
        prev = Some(s);
    }
    out.push(&text[pos..]);
    Ok(out)
}

/// Where `at`, an offset into the text [`apply_edits`] made of `text` and
/// `edits`, stands in `text`: past an edit, shifted back by what the edit
/// added; inside an edit's replacement, at the start of what it replaced.
pub fn offset_before_edits(edits: &[Edit], at: usize) -> usize {
    // `shift`: how far the planned text has moved ahead of the original.
    let mut shift: isize = 0;
    for e in in_order(edits) {
        let start = e.span.start.saturating_add_signed(shift);
        if at < start {
            break;
        }
        if at < start + e.replacement.len() {
            return e.span.start;
        }
        shift += e.replacement.len() as isize - e.span.len() as isize;
    }
    at.saturating_add_signed(-shift)
}

/// Whether `edits` would leave `text` as it is: each writes the very bytes
/// it replaces. Answered without making the edited text (a second pin of
/// a large planned file, to prove it settled, would copy it whole).
pub fn change_nothing(text: &str, edits: &[Edit]) -> bool {
    edits
        .iter()
        .all(|e| text.get(e.span.range()) == Some(e.replacement.as_str()))
}

/// Whether [`apply_edits`] of `text` and `edits` gives `expected`, told
/// without making that text (`release` checks a large file's undo so
/// before it lets the file go).
pub fn edits_give(text: &str, edits: &[Edit], expected: &str) -> bool {
    let Ok(pieces) = pieces(text, edits) else {
        return false;
    };
    let mut rest = expected;
    for piece in pieces {
        match rest.strip_prefix(piece) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

/// The edits that turn the text [`apply_edits`] made of `text` and `edits`
/// back into `text`: each replaced span of `text`, put back where its
/// replacement stands in the edited text. Edits that touch there are
/// merged into one, so the undo always applies. `None` when an edit lies
/// outside `text` (then `apply_edits` refused it too).
pub fn undo_edits(text: &str, edits: &[Edit]) -> Option<Vec<Edit>> {
    let mut out: Vec<Edit> = Vec::new();
    // `shift`: how far the edited text has moved ahead of `text`.
    let mut shift: isize = 0;
    for e in in_order(edits) {
        let replaced = text.get(e.span.range())?;
        let start = e.span.start.saturating_add_signed(shift);
        let span = Span::new(start, start + e.replacement.len());
        shift += e.replacement.len() as isize - e.span.len() as isize;
        match out.last_mut() {
            Some(last) if last.span.end == span.start => {
                last.span = Span::new(last.span.start, span.end);
                last.replacement.push_str(replaced);
            }
            _ => out.push(Edit {
                span,
                replacement: replaced.to_string(),
            }),
        }
    }
    out.retain(|e| !(e.span.is_empty() && e.replacement.is_empty()));
    Some(out)
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
    let span = scalar.span();
    if scalar.text() == value {
        return Edit {
            span,
            replacement: text[span.range()].to_string(),
        };
    }
    if span.is_empty() {
        // An implicit null sits on the `:` (granit-parser puts its empty span there).
        let at = text[span.start..]
            .find(':')
            .map_or(span.start, |i| span.start + i + 1);
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
        span,
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
    let end = after.span().end.max(key_offset);
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

/// The last byte of `node` and everything under it (keys included).
fn subtree_end(node: &Node<'_>) -> usize {
    match node {
        Node::Scalar(s) => s.span().end,
        Node::Alias(s) => s.span().end,
        Node::Map(m) => m
            .entries
            .iter()
            .map(|(k, v)| subtree_end(k).max(subtree_end(v)))
            .max()
            .unwrap_or(m.span().end),
        Node::Seq(s) => s
            .items
            .iter()
            .map(subtree_end)
            .max()
            .unwrap_or(s.span().end),
    }
}

/// The column of the line `offset` is on where its first key starts.
fn column(text: &str, offset: usize) -> usize {
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    text[start..offset].chars().count()
}

/// The indentation step the file uses for nested mappings (2 when it has none).
fn indent_step(text: &str, root: &Node<'_>) -> usize {
    fn find(text: &str, node: &Node<'_>, depth: usize) -> Option<usize> {
        let m = node.as_map().filter(|m| !m.flow())?;
        let col = column(text, m.entries.first()?.0.span().start);
        for (_, v) in &m.entries {
            if let Some(inner) = v.as_map().filter(|m| !m.flow())
                && let Some((k, _)) = inner.entries.first()
            {
                let c = column(text, k.span().start);
                if c > col {
                    return Some(c - col);
                }
            }
            if depth < 8
                && let Some(s) = find(text, v, depth + 1)
            {
                return Some(s);
            }
        }
        None
    }
    find(text, root, 0).unwrap_or(2)
}

/// A block of keys to insert after the last entry of a mapping.
struct Insertion {
    at: usize,
    eol: &'static str,
    indent: usize,
    step: usize,
    keys: Vec<String>,
    value: String,
}

/// What setting one path takes: an edit of a scalar, or an insertion.
enum Setting {
    Edit(Edit),
    Insert(Insertion),
}

fn plan_set(
    text: &str,
    root: &Node<'_>,
    path: &YamlPath,
    value: &str,
) -> Result<Setting, InsertError> {
    use crate::yaml::PathSeg;
    let refuse = || InsertError::FlowMapping {
        path: path.clone(),
        key: path.last_key().unwrap_or("").to_string(),
    };
    let keys: Vec<&str> = path
        .0
        .iter()
        .map(|s| match s {
            PathSeg::Key(k) => Some(k.as_str()),
            PathSeg::Index(_) => None,
        })
        .collect::<Option<_>>()
        .ok_or_else(refuse)?;
    let mut node = root;
    let mut depth = 0;
    while depth < keys.len() {
        match node {
            Node::Map(m) => match m.get(keys[depth]) {
                Some(next) => {
                    node = next;
                    depth += 1;
                }
                None => break,
            },
            _ => return Err(refuse()),
        }
    }
    if depth == keys.len() {
        return match node {
            Node::Scalar(s) => Ok(Setting::Edit(set_scalar(text, s, value))),
            _ => Err(refuse()),
        };
    }
    let Node::Map(m) = node else {
        return Err(refuse());
    };
    if m.flow() || m.entries.is_empty() {
        return Err(refuse());
    }
    let indent = column(text, m.entries[0].0.span().start);
    let step = indent_step(text, root);
    let end = m
        .entries
        .iter()
        .map(|(k, v)| subtree_end(k).max(subtree_end(v)))
        .max()
        .unwrap_or(0);
    let (at, eol) = match text[end..].find('\n') {
        Some(i) if i > 0 && text.as_bytes()[end + i - 1] == b'\r' => (end + i - 1, "\r\n"),
        Some(i) => (end + i, "\n"),
        None => (text.len(), "\n"),
    };
    Ok(Setting::Insert(Insertion {
        at,
        eol,
        indent,
        step,
        keys: keys[depth..].iter().map(|k| k.to_string()).collect(),
        value: value.to_string(),
    }))
}

/// The edit that makes `path` (keys only) hold `value` in the document
/// `root` of `text`: see [`set_paths`].
pub fn set_path(
    text: &str,
    root: &Node<'_>,
    path: &YamlPath,
    value: &str,
) -> Result<Edit, InsertError> {
    set_paths(text, root, &[(path.clone(), value.to_string())])
        .map(|mut e| e.pop().expect("one setting makes one edit"))
        .map_err(|(_, e)| e)
}

/// The edits that make each path (keys only) hold its value in the
/// document `root` of `text`: a scalar there is set in its own quoting;
/// else the missing keys are added as a block after the last entry of the
/// deepest mapping on the path that exists, in the file's indentation and
/// line ending, one block per place (keys shared by several paths written
/// once). A path through a flow mapping, a sequence or a scalar cannot be
/// extended without rewriting what is there: the error names its index.
pub fn set_paths(
    text: &str,
    root: &Node<'_>,
    settings: &[(YamlPath, String)],
) -> Result<Vec<Edit>, (usize, InsertError)> {
    let mut edits = Vec::new();
    // (offset, -indent) -> insertions, so a deeper mapping's keys come
    // before its parent's at the same offset.
    let mut inserts: std::collections::BTreeMap<(usize, std::cmp::Reverse<usize>), Vec<Insertion>> =
        std::collections::BTreeMap::new();
    for (i, (path, value)) in settings.iter().enumerate() {
        match plan_set(text, root, path, value).map_err(|e| (i, e))? {
            Setting::Edit(e) => edits.push(e),
            Setting::Insert(ins) => inserts
                .entry((ins.at, std::cmp::Reverse(ins.indent)))
                .or_default()
                .push(ins),
        }
    }
    let mut by_offset: std::collections::BTreeMap<usize, String> =
        std::collections::BTreeMap::new();
    for ((at, _), group) in inserts {
        let out = by_offset.entry(at).or_default();
        render_inserts(&group, 0, out);
    }
    for (at, replacement) in by_offset {
        edits.push(Edit {
            span: Span::new(at, at),
            replacement,
        });
    }
    Ok(edits)
}

/// The nested block for insertions sharing a place, keys at `level` on.
fn render_inserts(group: &[Insertion], level: usize, out: &mut String) {
    let mut order: Vec<&str> = Vec::new();
    for g in group {
        if let Some(k) = g.keys.get(level)
            && !order.contains(&k.as_str())
        {
            order.push(k);
        }
    }
    for k in order {
        let under: Vec<&Insertion> = group
            .iter()
            .filter(|g| g.keys.get(level).map(String::as_str) == Some(k))
            .collect();
        let g0 = under[0];
        out.push_str(g0.eol);
        out.push_str(&" ".repeat(g0.indent + level * g0.step));
        out.push_str(&render_scalar(QuoteStyle::Plain, k));
        out.push(':');
        if let Some(leaf) = under.iter().find(|g| g.keys.len() == level + 1) {
            out.push(' ');
            out.push_str(&render_scalar(QuoteStyle::Plain, &leaf.value));
        } else {
            let deeper: Vec<Insertion> = under
                .iter()
                .map(|g| Insertion {
                    at: g.at,
                    eol: g.eol,
                    indent: g.indent,
                    step: g.step,
                    keys: g.keys.clone(),
                    value: g.value.clone(),
                })
                .collect();
            render_inserts(&deeper, level + 1, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(start: usize, end: usize, replacement: &str) -> Edit {
        Edit {
            span: Span::new(start, end),
            replacement: replacement.to_string(),
        }
    }

    #[test]
    fn an_offset_in_the_edited_text_is_found_in_the_text_as_read() {
        let text = "a: x\nb: y\nc: z\n";
        // `x` becomes `xx@1`, `b`'s space goes, and `c:` gains a `!`.
        let edits = [edit(3, 4, "xx@1"), edit(7, 8, ""), edit(12, 12, "!")];
        let planned = apply_edits(text, &edits).unwrap();
        assert_eq!(planned, "a: xx@1\nb:y\nc:! z\n");
        // Before any edit: where it was.
        assert_eq!(offset_before_edits(&edits, 1), 1);
        // Inside a replacement: the start of what it replaced.
        assert_eq!(offset_before_edits(&edits, 5), 3);
        // After the first edit: shifted back by what it added (`\n` of line 1).
        assert_eq!(offset_before_edits(&edits, 7), 4);
        // After the deletion: the `y` after it.
        assert_eq!(&planned[10..11], "y");
        assert_eq!(&text[offset_before_edits(&edits, 10)..][..1], "y");
        // Inside the insertion, and past it.
        assert_eq!(offset_before_edits(&edits, 14), 12);
        assert_eq!(&text[offset_before_edits(&edits, 16)..][..1], "z");
        // With no edits, every offset is its own.
        assert_eq!(offset_before_edits(&[], 9), 9);
    }

    #[test]
    fn undoing_the_edits_gives_back_the_text_as_read() {
        let text = "a: x\nb: y\nc: z\n\u{e9}: w\n";
        let cases: &[&[Edit]] = &[
            &[],
            &[edit(3, 4, "xx@1"), edit(7, 8, ""), edit(12, 12, "!")],
            // An insertion and a replacement at one place, then two
            // deletions side by side (their undos touch: merged).
            &[
                edit(3, 3, "<"),
                edit(3, 4, "X"),
                edit(8, 9, ""),
                edit(9, 10, ""),
            ],
            // A replacement that is the same bytes, and one after a
            // two-byte character.
            &[edit(0, 1, "a"), edit(18, 19, "ww")],
            // The whole text.
            &[edit(0, text.len(), "")],
        ];
        for edits in cases {
            let planned = apply_edits(text, edits).unwrap();
            let undo = undo_edits(text, edits).unwrap();
            assert_eq!(apply_edits(&planned, &undo).unwrap(), text, "{edits:?}");
            // And the check that needs neither text made agrees.
            assert!(edits_give(&planned, &undo, text), "{edits:?}");
            assert!(edits_give(text, edits, &planned), "{edits:?}");
            assert!(!edits_give(text, edits, &format!("{planned}x")));
            assert!(edits.is_empty() || !edits_give(text, edits, text));
        }
        // Edits that write what is there change nothing; any other does.
        assert!(change_nothing(text, &[]));
        assert!(change_nothing(text, &[edit(0, 1, "a"), edit(3, 4, "x")]));
        assert!(!change_nothing(text, &[edit(0, 1, "a"), edit(3, 3, "x")]));
        assert!(!change_nothing(text, &[edit(3, 99, "x")]));
        // An edit outside the text has no undo.
        assert_eq!(undo_edits(text, &[edit(3, 99, "")]), None);
    }
}
