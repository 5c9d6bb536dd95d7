//! What of untrusted text may reach a terminal: control characters are shown
//! escaped, never written raw.
//!
//! Keys, values and file names in a chart, registry answers and helm's
//! messages are anyone's text; written raw, `ESC ] 0 ; … BEL` retitles the
//! terminal, `ESC [ 2 J` clears it, a C1 `CSI` (U+009B) does the same on
//! terminals that honour it, and a bidi override (U+202E) makes a line read
//! other than it is. Every human renderer, every message on stderr and the
//! GitHub format pass their text through [`escape`], either directly (the
//! human findings renderer, which adds its own colour around escaped text)
//! or through [`EscapingWriter`] (everything without colour). JSON and SARIF
//! need nothing here: serde_json writes every C0 control as `\u00XX`.
//!
//! Tabs and newlines are layout and stay; so does a CR before an LF (a CRLF
//! file's lines in a diff). Every other C0 control, DEL and C1 control is
//! shown as `\xNN`, a bidi embedding, override or isolate as `\u{NNNN}`.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Write};

/// Whether `c` must not reach a terminal raw (tab, LF and CR are decided by
/// the caller: they may be layout).
fn is_hostile(c: char) -> bool {
    matches!(c,
        '\0'..='\x1f' | '\x7f'..='\u{9f}'
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// How `c` is shown: `\x1b` for a C0, DEL or C1 control, `\u{202e}` for bidi.
fn push_escaped(out: &mut String, c: char) {
    use fmt::Write as _;
    let n = c as u32;
    if n <= 0xff {
        let _ = write!(out, "\\x{n:02x}");
    } else {
        let _ = write!(out, "\\u{{{n:04x}}}");
    }
}

/// `text` with every control character shown escaped (see the module
/// docs); borrowed when there is none, as for nearly all text.
pub fn escape(text: &str) -> Cow<'_, str> {
    let needs = |(i, c): (usize, char)| match c {
        '\t' | '\n' => false,
        '\r' => text.as_bytes().get(i + 1) != Some(&b'\n'),
        c => is_hostile(c),
    };
    if !text.char_indices().any(needs) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for (i, c) in text.char_indices() {
        if needs((i, c)) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `text` shown escaped, for `format!` arguments.
#[derive(Clone, Copy, Debug)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(self.0))
    }
}

/// A writer that passes everything through [`escape`]: the sink of output
/// that carries no colour of its own (diffs, tables, site lines, GitHub
/// workflow commands, notes and errors on stderr). Bytes that are not UTF-8
/// are shown as `\xNN`; a sequence cut between two writes, or a CR that may
/// be followed by an LF, waits for the next write or for `flush`.
pub struct EscapingWriter<W: Write> {
    inner: W,
    /// Bytes held back: the start of a UTF-8 sequence, or a trailing CR.
    carry: Vec<u8>,
}

impl<W: Write> EscapingWriter<W> {
    pub fn new(inner: W) -> Self {
        EscapingWriter {
            inner,
            carry: Vec::new(),
        }
    }

    /// Escape and write what is complete in `carry + buf`; keep the rest.
    fn pass(&mut self, buf: &[u8], last: bool) -> io::Result<()> {
        let mut bytes = std::mem::take(&mut self.carry);
        bytes.extend_from_slice(buf);
        let mut out = String::new();
        let mut chunks = bytes.utf8_chunks().peekable();
        while let Some(chunk) = chunks.next() {
            let at_end = chunks.peek().is_none();
            let mut valid = chunk.valid();
            let invalid = chunk.invalid();
            if at_end && !last {
                // Hold back a cut sequence, and a CR whose LF may come next.
                if invalid.is_empty() && valid.ends_with('\r') {
                    valid = &valid[..valid.len() - 1];
                    self.carry.push(b'\r');
                } else if !invalid.is_empty() && invalid.len() < 4 {
                    out.push_str(&escape(valid));
                    self.carry.extend_from_slice(invalid);
                    break;
                }
            }
            out.push_str(&escape(valid));
            for b in invalid {
                use fmt::Write as _;
                let _ = write!(out, "\\x{b:02x}");
            }
        }
        self.inner.write_all(out.as_bytes())
    }
}

impl<W: Write> Write for EscapingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pass(buf, false)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.pass(&[], true)?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for EscapingWriter<W> {
    fn drop(&mut self) {
        if !self.carry.is_empty() {
            let _ = self.pass(&[], true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_shown_and_layout_stays() {
        let cases = [
            ("plain text", "plain text"),
            ("a\tb\nc\r\nd", "a\tb\nc\r\nd"),
            ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),
            ("\x1b[2J", "\\x1b[2J"),
            ("bare\rcr", "bare\\x0dcr"),
            ("del\x7f", "del\\x7f"),
            ("c1 \u{9b}2J", "c1 \\x9b2J"),
            ("\u{202e}txt.exe", "\\u{202e}txt.exe"),
            ("\u{2066}iso\u{2069}", "\\u{2066}iso\\u{2069}"),
            ("é ü 日本", "é ü 日本"),
        ];
        for (raw, shown) in cases {
            assert_eq!(escape(raw), shown, "{raw:?}");
        }
        assert!(matches!(escape("nothing to do"), Cow::Borrowed(_)));
        assert_eq!(Escaped("x\x1by").to_string(), "x\\x1by");
    }

    #[test]
    fn the_writer_escapes_across_cut_writes() {
        let mut buf = Vec::new();
        let mut w = EscapingWriter::new(&mut buf);
        let text = "日\x1b[2J\r\nend\r".as_bytes();
        // Every cut of the text into two writes gives the same bytes.
        for cut in 0..=text.len() {
            w.write_all(&text[..cut]).unwrap();
            w.write_all(&text[cut..]).unwrap();
            w.flush().unwrap();
        }
        drop(w);
        let out = String::from_utf8(buf).unwrap();
        let one = "日\\x1b[2J\r\nend\\x0d";
        assert_eq!(out, one.repeat(text.len() + 1));
        let mut buf = Vec::new();
        EscapingWriter::new(&mut buf)
            .write_all(b"bad \xff byte\xe6")
            .unwrap();
        assert_eq!(buf, b"bad \\xff byte\\xe6");
    }
}
