//! A small document tree for the structured manifest formats, read from JSON
//! or YAML, that keeps the byte offset of every node and key so a reader can
//! point an error at the exact field.
//!
//! JSON has its own strict parser here (RFC 8259): `serde_json::Value` drops
//! positions, and reading JSON as YAML would accept trailing commas and reject
//! tab-indented JSON. YAML is read into the one tree of [`crate::yaml`] and
//! converted here. Both refuse duplicate keys, naming both places; YAML
//! aliases are refused (a manifest has no use for them) and only one document
//! is allowed.

use crate::diag::InputError;
use crate::source::SourceFile;

/// Deepest nesting accepted; manifests are shallow, and the limit keeps
/// hostile input from exhausting the stack.
const MAX_DEPTH: usize = 64;

/// A node and the byte offset where it starts.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Node {
    pub at: usize,
    pub value: Value,
}

/// A node's content. Scalars that are not strings (JSON numbers, booleans,
/// null) keep their text in `Other` so a reader can say what it found.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Value {
    Map(Vec<(Key, Node)>),
    Seq(Vec<Node>),
    Str(String),
    Other(String),
}

/// A mapping key and the byte offset where it starts.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Key {
    pub at: usize,
    pub text: String,
}

impl Node {
    /// The value under `key`, when this is a map that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries()?
            .iter()
            .find(|(k, _)| k.text == key)
            .map(|(_, v)| v)
    }

    /// The key of `key` itself (for errors about a key), when present.
    pub fn key(&self, key: &str) -> Option<&Key> {
        self.entries()?
            .iter()
            .find(|(k, _)| k.text == key)
            .map(|(k, _)| k)
    }

    pub fn entries(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// What kind of node this is, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Map(_) => "a map",
            Value::Seq(_) => "a list",
            Value::Str(_) => "a string",
            Value::Other(_) => "a number, boolean or null",
        }
    }
}

/// Parse `source` as JSON.
pub(super) fn parse_json(source: &SourceFile) -> Result<Node, InputError> {
    let text = &*source.text;
    let mut p = Json {
        s: text.as_bytes(),
        text,
        pos: 0,
    };
    if text.starts_with('\u{feff}') {
        p.pos = 3;
    }
    let run = |p: &mut Json| -> Result<Node, (usize, String)> {
        p.ws();
        let node = p.value(0)?;
        p.ws();
        if p.pos < p.s.len() {
            return Err((p.pos, "unexpected text after the JSON value".into()));
        }
        Ok(node)
    };
    let node =
        run(&mut p).map_err(|(at, m)| InputError::at(source, at, format!("invalid JSON: {m}")))?;
    check_duplicates(source, &node)?;
    Ok(node)
}

struct Json<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
}

type JResult<T> = Result<T, (usize, String)>;

impl Json<'_> {
    fn ws(&mut self) {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn expect(&mut self, b: u8, what: &str) -> JResult<()> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err((self.pos, format!("expected {what}")))
        }
    }

    fn value(&mut self, depth: usize) -> JResult<Node> {
        if depth > MAX_DEPTH {
            return Err((self.pos, format!("nested deeper than {MAX_DEPTH} levels")));
        }
        let at = self.pos;
        let value = match self.peek() {
            Some(b'{') => self.object(depth)?,
            Some(b'[') => self.array(depth)?,
            Some(b'"') => Value::Str(self.string()?),
            Some(b't') => self.word("true")?,
            Some(b'f') => self.word("false")?,
            Some(b'n') => self.word("null")?,
            Some(b'-' | b'0'..=b'9') => self.number()?,
            Some(_) => return Err((at, "expected a value".into())),
            None => return Err((at, "unexpected end of input".into())),
        };
        Ok(Node { at, value })
    }

    fn object(&mut self, depth: usize) -> JResult<Value> {
        self.pos += 1;
        let mut out = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Map(out));
        }
        loop {
            self.ws();
            let at = self.pos;
            if self.peek() != Some(b'"') {
                return Err((at, "expected a string key".into()));
            }
            let text = self.string()?;
            self.ws();
            self.expect(b':', "`:` after the key")?;
            self.ws();
            let v = self.value(depth + 1)?;
            out.push((Key { at, text }, v));
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Map(out));
                }
                _ => return Err((self.pos, "expected `,` or `}`".into())),
            }
        }
    }

    fn array(&mut self, depth: usize) -> JResult<Value> {
        self.pos += 1;
        let mut out = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Seq(out));
        }
        loop {
            self.ws();
            out.push(self.value(depth + 1)?);
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Seq(out));
                }
                _ => return Err((self.pos, "expected `,` or `]`".into())),
            }
        }
    }

    fn word(&mut self, w: &str) -> JResult<Value> {
        if self.s[self.pos..].starts_with(w.as_bytes()) {
            self.pos += w.len();
            Ok(Value::Other(w.to_string()))
        } else {
            Err((self.pos, "expected a value".into()))
        }
    }

    fn number(&mut self) -> JResult<Value> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let s = p.pos;
            while matches!(p.peek(), Some(b'0'..=b'9')) {
                p.pos += 1;
            }
            p.pos > s
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        if self.peek() == Some(b'0') {
            self.pos += 1;
        } else if !digits(self) {
            return Err((self.pos, "expected a digit".into()));
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !digits(self) {
                return Err((self.pos, "expected a digit after `.`".into()));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !digits(self) {
                return Err((self.pos, "expected a digit in the exponent".into()));
            }
        }
        Ok(Value::Other(self.text[start..self.pos].to_string()))
    }

    fn string(&mut self) -> JResult<String> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        let mut run = self.pos;
        loop {
            let Some(b) = self.peek() else {
                return Err((open, "unterminated string".into()));
            };
            match b {
                b'"' => {
                    out.push_str(&self.text[run..self.pos]);
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(&self.text[run..self.pos]);
                    let esc_at = self.pos;
                    self.pos += 1;
                    let c = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.pos += 1;
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if !self.s[self.pos..].starts_with(b"\\u") {
                                    return Err((
                                        esc_at,
                                        "unpaired surrogate in `\\u` escape".into(),
                                    ));
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err((
                                        esc_at,
                                        "unpaired surrogate in `\\u` escape".into(),
                                    ));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            let c = char::from_u32(code).ok_or_else(|| {
                                (esc_at, "unpaired surrogate in `\\u` escape".to_string())
                            })?;
                            out.push(c);
                            run = self.pos;
                            continue;
                        }
                        _ => return Err((esc_at, "invalid escape".into())),
                    };
                    out.push(c);
                    self.pos += 1;
                    run = self.pos;
                }
                0..=0x1f => return Err((self.pos, "control character in string".into())),
                _ => self.pos += 1,
            }
        }
    }

    fn hex4(&mut self) -> JResult<u32> {
        let digits = self
            .s
            .get(self.pos..self.pos + 4)
            .filter(|d| d.iter().all(u8::is_ascii_hexdigit))
            .ok_or((self.pos, "expected 4 hex digits".to_string()))?;
        let v = u32::from_str_radix(std::str::from_utf8(digits).unwrap_or("0"), 16).unwrap_or(0);
        self.pos += 4;
        Ok(v)
    }
}

/// Parse `source` as a single YAML document, on the one tree of
/// [`crate::yaml`] (duplicate keys refused there, nesting bounded).
pub(super) fn parse_yaml(source: &SourceFile) -> Result<Node, InputError> {
    let yaml = crate::yaml::parse(
        source,
        crate::yaml::Options {
            max_depth: Some(MAX_DEPTH),
            ..Default::default()
        },
    )?;
    if let Some(second) = yaml.documents.get(1) {
        return Err(InputError::at(
            source,
            second.span.start,
            "a digest manifest holds one YAML document; found a second",
        ));
    }
    let root = yaml
        .documents
        .into_iter()
        .next()
        .and_then(|d| d.root)
        .ok_or_else(|| InputError::file(&source.path, "the YAML file holds no document"))?;
    let node = from_yaml(source, &root)?;
    check_duplicates(source, &node)?;
    Ok(node)
}

/// A manifest node from a YAML node: every scalar is a string, aliases are refused.
fn from_yaml(source: &SourceFile, node: &crate::yaml::Node<'_>) -> Result<Node, InputError> {
    use crate::yaml::Node as Y;
    let at = node.offset();
    let value = match node {
        Y::Scalar(s) => Value::Str(s.value.to_string()),
        Y::Alias(_) => {
            return Err(InputError::at(
                source,
                at,
                "YAML aliases are not supported in a digest manifest; write the value out",
            ));
        }
        Y::Seq(s) => Value::Seq(
            s.items
                .iter()
                .map(|n| from_yaml(source, n))
                .collect::<Result<_, _>>()?,
        ),
        Y::Map(m) => {
            let mut entries = Vec::with_capacity(m.entries.len());
            for (k, v) in &m.entries {
                let Some(k) = k.as_scalar() else {
                    return Err(InputError::at(
                        source,
                        k.offset(),
                        "mapping keys must be plain strings",
                    ));
                };
                let key = Key {
                    at: k.span().start,
                    text: k.value.to_string(),
                };
                entries.push((key, from_yaml(source, v)?));
            }
            Value::Map(entries)
        }
    };
    Ok(Node { at, value })
}

/// Refuse a map that has one key twice, naming both places.
fn check_duplicates(source: &SourceFile, node: &Node) -> Result<(), InputError> {
    match &node.value {
        Value::Map(entries) => {
            for (i, (k, v)) in entries.iter().enumerate() {
                if let Some((first, _)) = entries[..i].iter().find(|(f, _)| f.text == k.text) {
                    let lc = source.line_col(first.at);
                    return Err(InputError::at(
                        source,
                        k.at,
                        format!(
                            "duplicate key `{}` (first at {}:{}:{})",
                            k.text,
                            source.path.display(),
                            lc.line,
                            lc.column
                        ),
                    ));
                }
                check_duplicates(source, v)?;
            }
            Ok(())
        }
        Value::Seq(items) => items.iter().try_for_each(|n| check_duplicates(source, n)),
        _ => Ok(()),
    }
}
