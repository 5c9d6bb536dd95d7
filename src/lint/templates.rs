//! Image references written in `templates/`: `image:` keys and command-line
//! flags (`--prometheus-config-reloader=quay.io/…:v0.x`), literal or built
//! from simple template actions.
//!
//! Templates are Go text/template over YAML and do not parse as YAML, so this
//! reads them line by line and understands only what can be resolved without
//! running Helm: `.Values.a.b` lookups (also relative to an enclosing
//! `with .Values.x`), `.Chart.AppVersion`, string literals, and the pipeline
//! functions `default`, `quote`, `squote`, `toString`, `trim`, `print` and
//! `printf "%s…"`. An image that is wholly one helper call or variable
//! (`{{ include "x.image" . }}`) is left to the values scan and `--render`;
//! an image that is partly known but cannot be finished is
//! `unresolvable-image`. `--render` is the ground truth for the rest.

use std::path::Path;

use super::yaml::Node;
use super::{FoundImage, ImageOrigin};
use crate::diag::{Code, Finding};
use crate::source::{SourceFile, Span};

/// What template actions can see: the chart's merged values and its `Chart.yaml`.
#[derive(Debug, Default)]
pub struct Context<'a> {
    pub values: Option<&'a Node<'a>>,
    pub chart: Option<&'a Node<'a>>,
    pub chart_name: &'a str,
    /// Values paths looked up while evaluating the current image.
    pub used: std::cell::RefCell<Vec<String>>,
    /// The keys of each large mapping of the values looked up (by its
    /// address), indexed on its first lookup: templates look a mapping up
    /// once per image, and a scan of thousands of keys per lookup made lint
    /// quadratic (12,000 lookups in a mapping of 48,000 keys took 5 s).
    pub indexes: std::cell::RefCell<std::collections::HashMap<usize, KeyIndex<'a>>>,
}

/// A mapping's values by key (the last of equal keys, as [`Node::get`] takes it).
pub type KeyIndex<'a> = std::collections::HashMap<&'a str, &'a Node<'a>>;

/// Mappings with more keys than this are looked up through an index.
const INDEXED_PAST: usize = 32;

/// The value of a template expression, as far as it can be known.
#[derive(Clone, Debug, PartialEq)]
enum Val {
    Known(String),
    /// A values lookup that found nothing (renders empty, or `<no value>`).
    Missing,
    Unknown,
}

/// What `.` means at a point of the template.
#[derive(Clone, Debug, PartialEq)]
enum Scope {
    /// The top level: `.` is the root context (`.Values`, `.Chart`).
    Root,
    /// Inside `with .Values.<path>`, or `with (merge .Values.<a> .Values.<b>)`:
    /// the blocks `.` stands for, the first that sets a key winning.
    Values(Vec<Vec<String>>),
    /// Inside `range`, `define`, or a `with` lint cannot follow.
    Unknown,
}

/// A `{{ … }}` action: its byte range and inner text.
#[derive(Clone, Debug)]
struct Action {
    span: Span,
    inner: String,
}

fn actions(text: &str) -> Vec<Action> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = text[at..].find("{{") {
        let start = at + i;
        let Some(j) = text[start + 2..].find("}}") else {
            break;
        };
        let end = start + 2 + j + 2;
        out.push(Action {
            span: Span::new(start, end),
            inner: text[start + 2..end - 2].to_string(),
        });
        at = end;
    }
    out
}

/// The action's text without trim markers and surrounding space.
fn clean(inner: &str) -> &str {
    let s = inner.trim();
    let s = s.strip_prefix('-').unwrap_or(s);
    let s = s.strip_suffix('-').unwrap_or(s);
    s.trim()
}

/// Split on whitespace, keeping double-quoted and backquoted strings whole.
fn tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in s.chars() {
        match quote {
            Some(q) => {
                cur.push(c);
                if escaped {
                    escaped = false;
                } else if c == '\\' && q == '"' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            None => {
                if c == '"' || c == '`' {
                    quote = Some(c);
                }
                cur.push(c);
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Split a pipeline on `|` outside strings.
fn pipeline(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                cur.push(c);
            }
            Some(_) => cur.push(c),
            None if c == '"' || c == '`' => {
                quote = Some(c);
                cur.push(c);
            }
            None if c == '|' => out.push(std::mem::take(&mut cur)),
            None => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().map(|p| p.trim().to_string()).collect()
}

fn node_text(n: &Node) -> Val {
    match n {
        Node::Scalar(_) => match n.as_str() {
            Some(s) => Val::Known(s.to_string()),
            None => Val::Missing,
        },
        _ => Val::Unknown,
    }
}

impl<'a> Context<'a> {
    fn values_at(&self, path: &[String]) -> Val {
        self.used.borrow_mut().push(path.join("."));
        // No values file: helm renders with empty values.
        let Some(mut node) = self.values else {
            return Val::Missing;
        };
        for key in path {
            match self.child(node, key) {
                Some(n) => node = n,
                None => return Val::Missing,
            }
        }
        node_text(node)
    }

    /// `node`'s value under `key`: a small mapping is scanned, a large one
    /// looked up in its index ([`Context::indexes`]).
    fn child(&self, node: &'a Node<'a>, key: &str) -> Option<&'a Node<'a>> {
        let map = node.as_map()?;
        if map.entries.len() <= INDEXED_PAST {
            return map.get(key);
        }
        let mut indexes = self.indexes.borrow_mut();
        let index = indexes
            .entry(std::ptr::from_ref(map) as usize)
            .or_insert_with(|| {
                map.entries
                    .iter()
                    .filter_map(|(k, v)| Some((&*k.as_scalar()?.value, v)))
                    .collect()
            });
        index.get(key).copied()
    }

    /// A term: a string literal, `.Values.a.b`, `$.Values…`, `.Chart.X`, or a
    /// field of the enclosing `with`.
    fn term(&self, t: &str, scope: &Scope) -> Val {
        if let Some(lit) = t
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .or_else(|| t.strip_prefix('`').and_then(|s| s.strip_suffix('`')))
        {
            return Val::Known(lit.replace("\\\"", "\""));
        }
        let rooted = t.strip_prefix('$').filter(|r| r.starts_with('.'));
        let (path, from_root) = match rooted {
            Some(r) => (r, true),
            None if t.starts_with('.') => (t, false),
            None => return Val::Unknown,
        };
        let parts: Vec<String> = path
            .split('.')
            .skip(1)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        let effective = if from_root { &Scope::Root } else { scope };
        match effective {
            Scope::Root => match parts.first().map(String::as_str) {
                Some("Values") => self.values_at(&parts[1..]),
                Some("Chart") => match (self.chart, parts.get(1).map(String::as_str)) {
                    (Some(c), Some("AppVersion")) => {
                        c.get("appVersion").map_or(Val::Missing, node_text)
                    }
                    (Some(c), Some("Version")) => c.get("version").map_or(Val::Missing, node_text),
                    (_, Some("Name")) => Val::Known(self.chart_name.to_string()),
                    _ => Val::Unknown,
                },
                _ => Val::Unknown,
            },
            Scope::Values(bases) => {
                // sprig's `merge` fills a key the first block leaves unset or
                // empty from the next.
                let mut found = Val::Missing;
                for base in bases {
                    let mut p = base.clone();
                    p.extend(parts.iter().cloned());
                    match self.values_at(&p) {
                        Val::Missing => {}
                        Val::Known(v) if v.is_empty() => found = Val::Known(v),
                        v => return v,
                    }
                }
                found
            }
            Scope::Unknown => Val::Unknown,
        }
    }

    /// The values blocks a `with` argument names, relative to `scope`: one
    /// lookup, or `(merge A B …)` of lookups (ingress-nginx's
    /// `with (merge .Values.defaultBackend.image .Values.global.image)`).
    fn with_target(&self, arg: &str, scope: &Scope) -> Scope {
        let t = arg.trim();
        let inner = t.strip_prefix('(').and_then(|t| t.strip_suffix(')'));
        let merged = inner.and_then(|i| i.trim().strip_prefix("merge "));
        let terms: Vec<String> = match merged {
            Some(args) => tokens(args),
            None => vec![t.to_string()],
        };
        let mut bases = Vec::new();
        for term in &terms {
            match self.with_block(term, scope) {
                Some(Scope::Values(b)) => bases.extend(b),
                _ => return Scope::Unknown,
            }
        }
        Scope::Values(bases)
    }

    /// The values blocks one lookup names, relative to `scope`.
    fn with_block(&self, t: &str, scope: &Scope) -> Option<Scope> {
        let (path, rooted) = match t.strip_prefix('$') {
            Some(r) => (r, true),
            None => (t, false),
        };
        if !path.starts_with('.') || path.contains(' ') {
            return None;
        }
        let parts: Vec<String> = path
            .split('.')
            .skip(1)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        match (if rooted { &Scope::Root } else { scope }, parts.first()) {
            (Scope::Root, Some(v)) if v == "Values" => {
                Some(Scope::Values(vec![parts[1..].to_vec()]))
            }
            (Scope::Values(bases), _) => Some(Scope::Values(
                bases
                    .iter()
                    .map(|b| b.iter().chain(&parts).cloned().collect())
                    .collect(),
            )),
            _ => None,
        }
    }

    /// Evaluate an action's pipeline.
    fn eval(&self, inner: &str, scope: &Scope) -> Val {
        let stages = pipeline(clean(inner));
        let mut val: Option<Val> = None;
        for stage in stages {
            let toks = tokens(&stage);
            let Some(head) = toks.first() else {
                return Val::Unknown;
            };
            let args: Vec<Val> = toks[1..].iter().map(|t| self.term(t, scope)).collect();
            let with_piped = |mut a: Vec<Val>| {
                if let Some(v) = &val {
                    a.push(v.clone());
                }
                a
            };
            let next = match head.as_str() {
                "default" => {
                    let a = with_piped(args);
                    match a.as_slice() {
                        [d, v] => match (v, d) {
                            (Val::Known(s), _) if !s.is_empty() => v.clone(),
                            // A value lint cannot see (inside `range`): the
                            // literal default is what the chart ships.
                            (Val::Unknown, Val::Known(lit)) if looks_like_reference(lit) => {
                                d.clone()
                            }
                            (Val::Unknown, _) => Val::Unknown,
                            _ => d.clone(),
                        },
                        _ => Val::Unknown,
                    }
                }
                "quote" | "squote" | "toString" | "trim" | "print" => {
                    let a = with_piped(args);
                    match a.as_slice() {
                        [v] => match (head.as_str(), v) {
                            ("trim", Val::Known(s)) => Val::Known(s.trim().to_string()),
                            ("quote" | "squote" | "toString" | "print", Val::Missing) => {
                                Val::Known(String::new())
                            }
                            _ => v.clone(),
                        },
                        _ => Val::Unknown,
                    }
                }
                "printf" => {
                    let a = with_piped(args);
                    match a.split_first() {
                        Some((Val::Known(fmt), rest)) => printf(fmt, rest),
                        _ => Val::Unknown,
                    }
                }
                _ if val.is_none() && toks.len() == 1 => self.term(head, scope),
                _ => Val::Unknown,
            };
            val = Some(next);
        }
        val.unwrap_or(Val::Unknown)
    }
}

/// `printf` with `%s`/`%v` verbs only.
fn printf(fmt: &str, args: &[Val]) -> Val {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('s' | 'v') => match args.next() {
                Some(Val::Known(s)) => out.push_str(s),
                _ => return Val::Unknown,
            },
            _ => return Val::Unknown,
        }
    }
    Val::Known(out)
}

/// A template value split into literal text and actions, evaluated.
struct Evaluated {
    /// The value with unknown parts replaced by `\0`.
    text: String,
    unknown: usize,
    missing: usize,
    actions: usize,
    literal_chars: usize,
}

fn evaluate(ctx: &Context<'_>, value: &str, scope: &Scope) -> Evaluated {
    let mut ev = Evaluated {
        text: String::new(),
        unknown: 0,
        missing: 0,
        actions: 0,
        literal_chars: 0,
    };
    let mut rest = value;
    while let Some(i) = rest.find("{{") {
        let lit = &rest[..i];
        ev.literal_chars += lit.trim().len();
        ev.text.push_str(lit);
        let Some(j) = rest[i..].find("}}") else {
            ev.unknown += 1;
            ev.text.push('\0');
            return ev;
        };
        let inner = &rest[i + 2..i + j];
        ev.actions += 1;
        if clean(inner).starts_with("/*") {
            // A comment renders nothing.
        } else {
            match ctx.eval(inner, scope) {
                Val::Known(s) => ev.text.push_str(&s),
                Val::Missing => {
                    ev.missing += 1;
                    ev.text.push('\0');
                }
                Val::Unknown => {
                    ev.unknown += 1;
                    ev.text.push('\0');
                }
            }
        }
        rest = &rest[i + j + 2..];
    }
    ev.literal_chars += rest.trim().len();
    ev.text.push_str(rest);
    ev
}

/// Per-line scope: the scope in force at the start of each line.
fn scopes(ctx: &Context<'_>, text: &str, acts: &[Action]) -> Vec<(usize, Scope)> {
    let mut stack: Vec<Scope> = vec![Scope::Root];
    let mut out = vec![(0usize, Scope::Root)];
    for a in acts {
        let s = clean(&a.inner);
        let word = s.split_whitespace().next().unwrap_or("");
        let cur = stack.last().cloned().unwrap_or(Scope::Unknown);
        match word {
            "with" => stack.push(ctx.with_target(s["with".len()..].trim(), &cur)),
            "range" | "define" | "block" => stack.push(Scope::Unknown),
            "if" => stack.push(cur),
            "end" => {
                if stack.len() > 1 {
                    stack.pop();
                }
            }
            _ => continue,
        }
        let after = stack.last().cloned().unwrap_or(Scope::Unknown);
        out.push((a.span.end, after));
    }
    let _ = text;
    out
}

/// Whether a values key holds an image digest (`digest`, `imageDigest`, `sha`).
fn is_digest_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("digest") || k == "sha" || k == "sha256"
}

/// The text as Helm renders it with the chart's values, as far as
/// `{{ if <term> }} … {{ else }} … {{ end }}` and trim markers go: the
/// branch not taken, and the `if`/`else`/`end` actions of such a block, are
/// taken out, and so are the spaces and tabs a `{{-` or `-}}` trims (newlines
/// stay, so lines stay lines); [`Live::file_offset`] maps back to the file.
/// An inline conditional
/// `{{ .repository }}{{ if .digest }}@{{ .digest }}{{ else }}:{{ .tag }}{{ end }}`
/// so reads as the one reference it renders, and cert-manager's
/// `{{- if .registry -}}{{ .registry }}/{{- end -}}{{ .repository }}{{- if (.digest) -}} @{{ .digest }}…`
/// as its. A block on one line is decided on any one-term condition: it
/// chooses how one value renders. A block over several lines is decided
/// only on a digest field: that chooses between a digest and a tag form of
/// one image, whereas other conditions (`.Values.debug.enabled`) gate images
/// a user may switch on, which lint must still see.
fn live_text(ctx: &Context<'_>, text: &str, acts: &[Action], scopes: &[(usize, Scope)]) -> Live {
    struct Block {
        /// Whether the branch is taken, and whether the condition is a digest field.
        cond: Option<(bool, bool)>,
        open: Span,
        else_at: Option<Span>,
    }
    let mut stack: Vec<Block> = Vec::new();
    let mut blank: Vec<Span> = Vec::new();
    for a in acts {
        let s = clean(&a.inner);
        let word = s.split_whitespace().next().unwrap_or("");
        match word {
            "if" => {
                let arg = s["if".len()..].trim();
                // `if (.digest)`: one term in parentheses is that term.
                let arg = arg
                    .strip_prefix('(')
                    .and_then(|t| t.strip_suffix(')'))
                    .unwrap_or(arg);
                let toks = tokens(arg.trim());
                let cond = match toks.as_slice() {
                    [t] if t.starts_with(['.', '$']) => {
                        ctx.used.borrow_mut().clear();
                        match ctx.term(t, scope_at(scopes, a.span.start)) {
                            Val::Known(v) => Some(!v.trim().is_empty()),
                            Val::Missing => Some(false),
                            Val::Unknown => None,
                        }
                        .map(|taken| (taken, t.rsplit('.').next().is_some_and(is_digest_key)))
                    }
                    _ => None,
                };
                stack.push(Block {
                    cond,
                    open: a.span,
                    else_at: None,
                });
            }
            "with" | "range" | "define" | "block" => stack.push(Block {
                cond: None,
                open: a.span,
                else_at: None,
            }),
            "else" => {
                if let Some(b) = stack.last_mut() {
                    if s.split_whitespace().nth(1).is_some() {
                        // `else if …`: more than two branches; leave the block undecided.
                        b.cond = None;
                    } else {
                        b.else_at = Some(a.span);
                    }
                }
            }
            "end" => {
                let Some(b) = stack.pop() else { continue };
                let Some((taken, on_digest)) = b.cond else {
                    continue;
                };
                if !on_digest && text[b.open.start..a.span.end].contains('\n') {
                    continue;
                }
                let else_at = b.else_at;
                blank.push(b.open);
                blank.push(a.span);
                if let Some(e) = else_at {
                    blank.push(e);
                }
                let untaken = match (taken, else_at) {
                    (true, Some(e)) => Some(Span::new(e.end, a.span.start)),
                    (true, None) => None,
                    (false, Some(e)) => Some(Span::new(b.open.end, e.start)),
                    (false, None) => Some(Span::new(b.open.end, a.span.start)),
                };
                blank.extend(untaken);
            }
            _ => {}
        }
    }
    let mut dropped = vec![false; text.len()];
    for span in blank {
        dropped[span.range()].fill(true);
    }
    // Trim markers: `{{- ` eats the spaces before the action, ` -}}` those after.
    let horizontal = |b: &u8| *b == b' ' || *b == b'\t';
    for a in acts {
        if a.inner.starts_with("- ") || a.inner.starts_with("-\t") {
            let before = text.as_bytes()[..a.span.start]
                .iter()
                .rev()
                .take_while(|b| horizontal(b));
            dropped[a.span.start - before.count()..a.span.start].fill(true);
        }
        if a.inner.ends_with(" -") || a.inner.ends_with("\t-") {
            let after = text.as_bytes()[a.span.end..]
                .iter()
                .take_while(|b| horizontal(b));
            dropped[a.span.end..a.span.end + after.count()].fill(true);
        }
    }
    let mut bytes = Vec::with_capacity(text.len());
    let mut at = Vec::with_capacity(text.len() + 1);
    for (i, &b) in text.as_bytes().iter().enumerate() {
        if !dropped[i] || b == b'\n' {
            bytes.push(b);
            at.push(i);
        }
    }
    at.push(text.len());
    // Whole actions and the text between them are dropped, never part of a character.
    match String::from_utf8(bytes) {
        Ok(text) => Live { text, at },
        Err(_) => Live {
            text: text.to_string(),
            at: (0..=text.len()).collect(),
        },
    }
}

/// A template's text with the branches not taken removed ([`live_text`]).
struct Live {
    text: String,
    /// For each byte of `text` (and its end), the offset in the file.
    at: Vec<usize>,
}

impl Live {
    fn file_offset(&self, i: usize) -> usize {
        self.at[i.min(self.at.len() - 1)]
    }

    /// The file bytes from the first to the last byte of `span`.
    fn file_span(&self, span: Span) -> Span {
        let start = self.file_offset(span.start);
        if span.is_empty() {
            return Span::new(start, start);
        }
        Span::new(start, self.file_offset(span.end - 1) + 1)
    }
}

fn scope_at(scopes: &[(usize, Scope)], offset: usize) -> &Scope {
    let i = scopes.partition_point(|(at, _)| *at <= offset);
    &scopes[i.saturating_sub(1)].1
}

/// The end of a value: before a ` #` comment outside actions and quotes.
fn value_end(line: &str, from: usize) -> usize {
    let b = line.as_bytes();
    let mut i = from;
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        if depth == 0 && quote.is_none() && b[i] == b'#' && (i == from || b[i - 1] == b' ') {
            return i;
        }
        if line[i..].starts_with("{{") {
            depth += 1;
            i += 2;
            continue;
        }
        if depth > 0 && line[i..].starts_with("}}") {
            depth -= 1;
            i += 2;
            continue;
        }
        if depth == 0 {
            match (quote, b[i]) {
                (None, b'"' | b'\'') => quote = Some(b[i]),
                (Some(q), c) if c == q => quote = None,
                _ => {}
            }
        }
        i += 1;
    }
    b.len()
}

/// A reference found in a template, before the rules run.
pub struct TemplateScan {
    pub images: Vec<FoundImage>,
    pub findings: Vec<Finding>,
    /// For `unresolvable-image` findings (by index into `findings`) whose
    /// every values lookup can be placed, the values paths named
    /// ([`values_mentions`]): the caller drops those a values site describes.
    pub mentions: Vec<(usize, Vec<String>)>,
}

/// Scan one template file.
pub fn scan(src: &SourceFile, ctx: &Context<'_>, chart_root: &Path) -> TemplateScan {
    let text = &*src.text;
    let acts = actions(text);
    let comments: Vec<Span> = acts
        .iter()
        .filter(|a| clean(&a.inner).starts_with("/*"))
        .map(|a| a.span)
        .collect();
    let scopes = scopes(ctx, text, &acts);
    let live = live_text(ctx, text, &acts, &scopes);
    let file_at = |i: usize| live.file_offset(i);
    let mut out = TemplateScan {
        images: Vec::new(),
        findings: Vec::new(),
        mentions: Vec::new(),
    };
    let mut line_start = 0usize;
    for line in live.text.split_inclusive('\n') {
        let here = line_start;
        line_start += line.len();
        let line = line.trim_end_matches(['\n', '\r']);
        let trimmed = line.trim_start();
        if trimmed.starts_with('#')
            || comments
                .iter()
                .any(|c| c.start <= file_at(here) && file_at(here) < c.end)
        {
            continue;
        }
        // `image:` keys, also as a list item or quoted key.
        let indent = line.len() - trimmed.len();
        let key_text = trimmed
            .strip_prefix("- ")
            .map(str::trim_start)
            .unwrap_or(trimmed);
        let key_at = indent + (trimmed.len() - key_text.len());
        for key in ["image:", "\"image\":", "'image':"] {
            if let Some(after) = key_text.strip_prefix(key) {
                let vstart = key_at + key.len() + (after.len() - after.trim_start().len());
                let vend = value_end(line, vstart);
                let raw = line[vstart..vend].trim_end();
                if !raw.is_empty() {
                    let (v, vs) = unquote(raw, here + vstart);
                    let vs = live.file_span(vs);
                    let scope = scope_at(&scopes, file_at(here + vstart)).clone();
                    site(src, ctx, &scope, v, vs, None, chart_root, &mut out);
                }
                break;
            }
        }
        // `--flag=<image>` arguments.
        let mut at = 0;
        while let Some(i) = line[at..].find("--") {
            let start = at + i;
            at = start + 2;
            let name_len = line[at..]
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
                .count();
            if name_len == 0 || line.as_bytes().get(at + name_len) != Some(&b'=') {
                continue;
            }
            let flag = &line[at..at + name_len];
            let vstart = at + name_len + 1;
            let vend = flag_value_end(line, vstart);
            at = vend.max(at);
            let v = &line[vstart..vend];
            if v.is_empty() || v.contains("://") {
                continue;
            }
            let scope = scope_at(&scopes, file_at(here + vstart)).clone();
            let span = live.file_span(Span::new(here + vstart, here + vend));
            site(src, ctx, &scope, v, span, Some(flag), chart_root, &mut out);
        }
    }
    out
}

fn flag_value_end(line: &str, from: usize) -> usize {
    let b = line.as_bytes();
    let mut i = from;
    let mut depth = 0usize;
    while i < b.len() {
        if line[i..].starts_with("{{") {
            depth += 1;
            i += 2;
            continue;
        }
        if depth > 0 {
            if line[i..].starts_with("}}") {
                depth -= 1;
                i += 2;
            } else {
                i += 1;
            }
            continue;
        }
        if b[i].is_ascii_whitespace() || matches!(b[i], b'"' | b'\'' | b',' | b']') {
            break;
        }
        i += 1;
    }
    i
}

/// Strip one layer of matching quotes, narrowing the span with it.
fn unquote(raw: &str, at: usize) -> (&str, Span) {
    let b = raw.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        return (
            &raw[1..raw.len() - 1],
            Span::new(at + 1, at + raw.len() - 1),
        );
    }
    (raw, Span::new(at, at + raw.len()))
}

/// Whether a resolved flag value is an image rather than a path, a URL, a
/// CIDR list or a duration: under a flag that names an image, any
/// reference; under another flag, a reference with a tag or digest and a
/// path ([`super::rendered::is_image_text`], the rule the render uses).
fn looks_like_image(flag: &str, v: &str) -> bool {
    let named = flag.contains("image");
    if v.contains("://") {
        return false;
    }
    (named && crate::reference::ImageRef::parse(v).is_ok())
        || super::rendered::is_image_text(v, named)
}

/// A literal that reads as an image reference with a tag or digest
/// (`"nginx:latest"`), as opposed to a word or a number.
fn looks_like_reference(lit: &str) -> bool {
    super::rendered::is_image_text(lit, true)
}

#[allow(clippy::too_many_arguments)]
fn site(
    src: &SourceFile,
    ctx: &Context<'_>,
    scope: &Scope,
    value: &str,
    span: Span,
    flag: Option<&str>,
    chart_root: &Path,
    out: &mut TemplateScan,
) {
    ctx.used.borrow_mut().clear();
    let ev = evaluate(ctx, value, scope);
    let yaml_path = flag.map(|f| format!("--{f}"));
    let mut found = FoundImage::new(
        ev.text.replace('\0', "…"),
        ImageOrigin::Template,
        src,
        span,
        yaml_path,
        chart_root,
    );
    if value.contains("{{") {
        found.written = Some(value.trim().to_string());
    }
    if ev.unknown == 0 && ev.missing == 0 {
        let resolved = ev.text.trim();
        if resolved.is_empty() {
            return;
        }
        if let Some(f) = flag
            && !looks_like_image(f, resolved)
        {
            return;
        }
        found.reference = resolved.to_string();
        found.values_paths = ctx.used.borrow().clone();
        out.images.push(found);
        return;
    }
    // Wholly one helper call or variable: the image comes from elsewhere.
    if ev.actions == 1 && ev.literal_chars == 0 && ev.missing == 0 {
        return;
    }
    if flag.is_some_and(|f| !f.contains("image")) {
        return;
    }
    // The last path component decides tag and digest; judge it when it is known.
    let tail = ev.text.rsplit('/').next().unwrap_or("");
    if ev.text.contains('/') && !tail.contains('\0') && !tail.is_empty() {
        let code = if tail.contains('@') {
            None
        } else if tail.contains(':') {
            Some(Code::MutableTag)
        } else {
            Some(Code::ImplicitLatest)
        };
        if let Some(code) = code {
            let shown = super::rules::shown(&found.reference, found.written.as_deref());
            let msg = if code == Code::MutableTag {
                super::rules::mutable_tag(&shown)
            } else {
                super::rules::implicit_latest(&shown)
            };
            out.findings.push(found.finding(code, msg));
        }
        return;
    }
    let why = if ev.missing > 0 {
        "a values key it uses is not set"
    } else {
        "it depends on template logic lint cannot follow"
    };
    let msg = format!(
        "cannot work out the image `{value}`: {why}; lint the rendered chart with --render"
    );
    if let Some(m) = values_mentions(value, scope) {
        out.mentions.push((out.findings.len(), m));
    }
    out.findings
        .push(found.finding(Code::UnresolvableImage, msg));
}

/// The values paths an expression's lookups name, as written: `.Values.a.b`
/// wherever it stands (a `define` is nearly always included with the root
/// context), and `.b` inside `with .Values.a`. Variables (`$registry`) are
/// not lookups. `None` when a lookup cannot be placed (`.b` inside `range`)
/// or there is none.
fn values_mentions(value: &str, scope: &Scope) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for a in actions(value) {
        for stage in pipeline(clean(&a.inner)) {
            for t in tokens(&stage) {
                let t = t.trim_start_matches('(').trim_end_matches(')');
                let rooted = t.strip_prefix('$').unwrap_or(t);
                if let Some(path) = rooted.strip_prefix(".Values.") {
                    out.push(path.to_string());
                } else if t.starts_with('.')
                    && !t.starts_with(".Chart.")
                    && !t.starts_with(".Release.")
                {
                    match scope {
                        // The first block merged is the one a site describes;
                        // `.` alone (`include "x.image" .`) is the block itself.
                        Scope::Values(bases) if !bases.is_empty() => {
                            let base = bases[0].join(".");
                            out.push(if t == "." { base } else { format!("{base}{t}") });
                        }
                        _ => return None,
                    }
                }
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::yaml::parse_one;

    fn scan_with(values: &str, tpl: &str) -> TemplateScan {
        let values_src = SourceFile::new("values.yaml", values);
        let v = parse_one(&values_src).unwrap();
        let chart_src = SourceFile::new("Chart.yaml", "name: c\nappVersion: 2.0.1\n");
        let chart = parse_one(&chart_src).unwrap();
        let ctx = Context {
            values: v.as_ref(),
            chart: chart.as_ref(),
            chart_name: "c",
            used: Default::default(),
            indexes: Default::default(),
        };
        scan(
            &SourceFile::new("c/templates/t.yaml", tpl),
            &ctx,
            Path::new("c"),
        )
    }

    /// The 1-based line and column of `at` in `text`, (0, 0) without a position.
    fn line_col(at: &crate::source::Location, text: &str) -> (usize, usize) {
        at.line_col_in(&SourceFile::new("t", text))
            .map_or((0, 0), |lc| (lc.line, lc.column))
    }

    fn scan_without_values(tpl: &str) -> TemplateScan {
        let ctx = Context {
            values: None,
            chart: None,
            chart_name: "c",
            used: Default::default(),
            indexes: Default::default(),
        };
        scan(
            &SourceFile::new("c/templates/t.yaml", tpl),
            &ctx,
            Path::new("c"),
        )
    }

    fn refs(s: &TemplateScan) -> Vec<&str> {
        s.images.iter().map(|i| i.reference.as_str()).collect()
    }

    #[test]
    fn keys_of_a_large_mapping_are_found_as_in_a_small_one() {
        // Past INDEXED_PAST keys at the top and below: each lookup goes
        // through an index, and finds what a scan finds (a missing key too).
        let mut values = String::new();
        for i in 0..100 {
            values.push_str(&format!("svc{i}:\n  image:\n"));
            for j in 0..40 {
                values.push_str(&format!("    k{j}: v{j}\n"));
            }
            values.push_str(&format!(
                "    repository: r.io/app{i}\n    tag: \"1.{i}\"\n"
            ));
        }
        let tpl = "image: {{ .Values.svc7.image.repository }}:{{ .Values.svc7.image.tag }}\nimage: {{ .Values.svc99.image.repository }}:{{ .Values.svc99.image.k39 }}\nimage: x.io/y:{{ .Values.nope.image.tag | default \"2\" }}\n";
        let s = scan_with(&values, tpl);
        assert_eq!(refs(&s), ["r.io/app7:1.7", "r.io/app99:v39", "x.io/y:2"]);
    }

    #[test]
    fn literal_images_in_every_quoting() {
        let tpl = "containers:\n  - image: busybox:1.36\n  - image: \"nginx\"  # comment\n    name: x\n  - name: y\n    image: 'quay.io/a/b:1' \n";
        let s = scan_with("", tpl);
        assert_eq!(refs(&s), ["busybox:1.36", "nginx", "quay.io/a/b:1"]);
        let at = |i: &FoundImage| line_col(&i.location, tpl);
        assert_eq!(at(&s.images[0]), (2, 12));
        assert_eq!(at(&s.images[1]).1, 13);
    }

    #[test]
    fn values_lookups_resolve_with_defaults_and_with_blocks() {
        let s = scan_with(
            "registry: docker.io\ntag: \"\"\nfb:\n  registry: cr.fluentbit.io\n  tag: 2.1.0\n",
            concat!(
                "image: {{ .Values.registry }}/app:{{ .Values.tag | default .Chart.AppVersion }}\n",
                "{{- with .Values.fb }}\n",
                "image: \"{{ .registry }}/fluent/fluent-bit:{{ .tag }}\"\n",
                "{{- end }}\n",
                "image: {{ printf \"%s/x:%s\" .Values.registry \"1\" | quote }}\n",
            ),
        );
        assert_eq!(
            refs(&s),
            [
                "docker.io/app:2.0.1",
                "cr.fluentbit.io/fluent/fluent-bit:2.1.0",
                "docker.io/x:1"
            ]
        );
        assert!(s.findings.is_empty());
    }

    #[test]
    fn helpers_alone_are_left_to_values_and_render() {
        let s = scan_with(
            "",
            "image: {{ include \"common.images.image\" (dict \"imageRoot\" .Values.image) }}\n{{- range .Values.sidecars }}\nimage: {{ .image }}\n{{- end }}\n",
        );
        assert!(s.images.is_empty() && s.findings.is_empty());
    }

    #[test]
    fn partly_known_images_are_judged_by_their_tail_or_unresolvable() {
        let tpl = concat!(
            "image: {{ include \"reg\" . }}/fluent-bit:{{ .Values.tag }}\n",
            "image: {{ include \"reg\" . }}/fluent-bit:{{ include \"tag\" . }}\n",
            "image: {{ .Values.nothere }}/x:{{ .Values.alsonot }}\n",
        );
        let s = scan_with("tag: 1.0\n", tpl);
        let codes: Vec<Code> = s.findings.iter().map(|f| f.code).collect();
        assert_eq!(
            codes,
            [
                Code::MutableTag,
                Code::UnresolvableImage,
                Code::UnresolvableImage
            ]
        );
        assert_eq!(line_col(s.findings[0].location.as_ref().unwrap(), tpl).0, 1);
    }

    #[test]
    fn partly_known_images_are_worded_as_the_rules_word_them() {
        let s = scan_with(
            "",
            concat!(
                "image: {{ include \"reg\" . }}/fluent-bit:2.1\n",
                "image: {{ include \"reg\" . }}/fluent-bit\n",
            ),
        );
        let got: Vec<(Code, &str)> = s
            .findings
            .iter()
            .map(|f| (f.code, f.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    Code::MutableTag,
                    "`…/fluent-bit:2.1` (written `{{ include \"reg\" . }}/fluent-bit:2.1`) is referenced by tag without a digest"
                ),
                (
                    Code::ImplicitLatest,
                    "`…/fluent-bit` (written `{{ include \"reg\" . }}/fluent-bit`) has neither tag nor digest, so it pulls whatever `latest` is"
                ),
            ]
        );
    }

    #[test]
    fn flags_with_images_are_found_and_paths_are_not() {
        let s = scan_with(
            "reloader: {tag: v0.70.0}\n",
            concat!(
                "args:\n",
                "  - --prometheus-config-reloader=quay.io/prometheus-operator/prometheus-config-reloader:{{ .Values.reloader.tag }}\n",
                "  - --config=/etc/config.yaml\n",
                "  - --url=http://example.com:80/x\n",
                "  - \"--sidecar-image=busybox\"\n",
                "  - --log-level=info\n",
            ),
        );
        assert_eq!(
            refs(&s),
            [
                "quay.io/prometheus-operator/prometheus-config-reloader:v0.70.0",
                "busybox"
            ]
        );
        assert_eq!(
            s.images[0].path.as_deref(),
            Some("--prometheus-config-reloader")
        );
    }

    #[test]
    fn a_digest_condition_decides_which_branch_is_linted() {
        let d = format!("sha256:{}", "a".repeat(64));
        let tpl = concat!(
            "- {{ if .Values.a.digest }}image: r/a@{{ .Values.a.digest }}{{ else }}image: r/a:{{ .Values.a.tag }}{{ end }}\n",
            "  image: \"{{ if .Values.a.digest }}r/a@{{ .Values.a.digest }}{{ else }}r/a:{{ .Values.a.tag }}{{ end }}\"\n",
            "{{- if .Values.a.digest }}\n",
            "  image: r/a@{{ .Values.a.digest }}\n",
            "{{- else }}\n",
            "  image: r/a:{{ .Values.a.tag }}\n",
            "{{- end }}\n",
            "{{- if .Values.debug }}\n",
            "  image: busybox:1\n",
            "{{- end }}\n",
        );
        let set = scan_with(
            &format!("a: {{tag: '1', digest: '{d}'}}\ndebug: false\n"),
            tpl,
        );
        let p = format!("r/a@{d}");
        assert_eq!(refs(&set), [p.as_str(), &p, &p, "busybox:1"]);
        assert!(set.findings.is_empty(), "{:?}", set.findings);
        let unset = scan_with("a: {tag: '1', digest: ''}\ndebug: false\n", tpl);
        assert_eq!(refs(&unset), ["r/a:1", "r/a:1", "r/a:1", "busybox:1"]);
        let columns: Vec<_> = unset
            .images
            .iter()
            .map(|i| line_col(&i.location, tpl))
            .collect();
        assert_eq!(columns, [(1, 78), (2, 72), (6, 10), (9, 10)]);
    }

    #[test]
    fn inline_digest_conditionals_read_as_the_reference_they_render() {
        let d = format!("sha256:{}", "b".repeat(64));
        let tpl = concat!(
            "{{- with .Values.image }}\n",
            "image: {{ .repository }}{{ if .digest }}@{{ .digest }}{{ else }}:{{ .tag }}{{ end }}\n",
            "{{- end }}\n",
            "image: \"{{ .Values.image.repository }}{{ if .Values.image.digest }}@{{ .Values.image.digest }}{{ else }}:{{ .Values.image.tag }}{{ end }}\"\n",
            "args: [\"--helper-image={{ .Values.image.repository }}{{- if .Values.image.digest }}@{{ .Values.image.digest }}{{- else }}:{{ .Values.image.tag }}{{- end }}\"]\n",
        );
        let pinned = scan_with(
            &format!("image: {{repository: quay.io/a/b, tag: '1.0', digest: '{d}'}}\n"),
            tpl,
        );
        let p = format!("quay.io/a/b@{d}");
        assert_eq!(refs(&pinned), [p.as_str(), &p, &p]);
        assert!(pinned.findings.is_empty(), "{:?}", pinned.findings);
        assert!(pinned.images.iter().all(|i| i.is_pinned()));
        let tagged = scan_with("image: {repository: quay.io/a/b, tag: '1.0'}\n", tpl);
        assert_eq!(refs(&tagged), ["quay.io/a/b:1.0"; 3]);
        // The finding points at the value as written, conditional included.
        let first = &tagged.images[0];
        assert_eq!(line_col(&first.location, tpl), (2, 8));
        let written = &tpl[first.location.span().unwrap().range()];
        assert!(
            written.starts_with("{{ .repository }}") && written.ends_with("{{ .tag }}"),
            "{written}"
        );
    }

    #[test]
    fn one_line_conditionals_and_trim_markers_render_as_helm_renders_them() {
        // cert-manager 1.16's acmesolver flag: an optional registry, a
        // parenthesised digest condition, a space the trim markers eat, and
        // `default` called with the default first.
        let tpl = concat!(
            "{{- with .Values.acmesolver.image }}\n",
            "- --acme-http01-solver-image={{- if .registry -}}{{ .registry }}/{{- end -}}{{ .repository }}{{- if (.digest) -}} @{{ .digest }}{{- else -}}:{{ default $.Chart.AppVersion .tag }} {{- end -}}\n",
            "{{- end }}\n",
        );
        let d = format!("sha256:{}", "c".repeat(64));
        let cases = [
            (
                "{repository: quay.io/j/solver}".to_string(),
                "quay.io/j/solver:2.0.1".to_string(),
            ),
            (
                "{registry: r.io, repository: j/solver, tag: v1}".to_string(),
                "r.io/j/solver:v1".to_string(),
            ),
            (
                format!("{{repository: quay.io/j/solver, digest: '{d}'}}"),
                format!("quay.io/j/solver@{d}"),
            ),
        ];
        for (image, want) in cases {
            let s = scan_with(&format!("acmesolver:\n  image: {image}\n"), tpl);
            assert_eq!(refs(&s), [want.as_str()], "{image}");
            assert!(
                s.findings.iter().all(|f| f.code != Code::UnresolvableImage),
                "{image}: {:?}",
                s.findings
            );
        }
        // A condition that is not a digest field, over several lines, gates an
        // image a user may switch on: it is still read.
        let gated = scan_with(
            "debug: false\n",
            "{{- if .Values.debug }}\nimage: busybox:1.36\n{{- end }}\n",
        );
        assert_eq!(refs(&gated), ["busybox:1.36"]);
    }

    #[test]
    fn with_merge_reads_each_key_from_the_first_block_that_sets_it() {
        // ingress-nginx: `with (merge .Values.defaultBackend.image .Values.global.image)`.
        let tpl = concat!(
            "{{- with (merge .Values.defaultBackend.image .Values.global.image) }}\n",
            "image: {{ if .repository }}{{ .repository }}{{ else }}{{ .registry }}/{{ .image }}{{ end }}:{{ .tag }}{{ if .digest }}@{{ .digest }}{{ end }}\n",
            "{{- end }}\n",
        );
        let values = |backend: &str| {
            format!(
                "global:\n  image:\n    registry: registry.k8s.io\n    tag: v9\ndefaultBackend:\n  image:\n{backend}"
            )
        };
        let cases = [
            // The registry comes from global; the block's own keys win.
            (
                "    registry: \"\"\n    image: defaultbackend-amd64\n    tag: \"1.5\"\n",
                "registry.k8s.io/defaultbackend-amd64:1.5",
            ),
            // A key the block leaves out comes from the next block.
            (
                "    image: defaultbackend-amd64\n",
                "registry.k8s.io/defaultbackend-amd64:v9",
            ),
            (
                "    repository: quay.io/x/backend\n    tag: \"2\"\n",
                "quay.io/x/backend:2",
            ),
        ];
        for (backend, want) in cases {
            let s = scan_with(&values(backend), tpl);
            assert_eq!(refs(&s), [want], "{backend}");
        }
    }

    #[test]
    fn a_default_literal_is_the_image_when_the_value_is_empty_or_absent() {
        let tpl = concat!(
            "image: {{ .Values.img | default \"nginx:latest\" }}\n",
            "image: {{ .Values.absent | default \"busybox:1.36\" | quote }}\n",
            "image: {{ default \"alpine:3\" .Values.empty }}\n",
            "image: \"{{ .Values.set | default \"nope:1\" }}\"\n",
        );
        let s = scan_with("img: \"\"\nempty: \"\"\nset: quay.io/x/y:2\n", tpl);
        assert_eq!(
            refs(&s),
            ["nginx:latest", "busybox:1.36", "alpine:3", "quay.io/x/y:2"]
        );
        // No values file at all: the defaults still render.
        let none = scan_without_values(tpl);
        assert_eq!(
            refs(&none),
            ["nginx:latest", "busybox:1.36", "alpine:3", "nope:1"]
        );
        // Inside `range` the value is unknown: the literal default is the chart's image.
        let ranged = scan_with(
            "",
            "{{- range .Values.jobs }}\nimage: {{ .image | default \"busybox:1.36\" }}\n{{- end }}\n",
        );
        assert_eq!(refs(&ranged), ["busybox:1.36"]);
    }

    #[test]
    fn flag_values_that_are_not_images_are_not_judged() {
        let s = scan_with(
            "nets: \"10.0.0.0/8,192.168.0.0/16\"\nurl: \"http://svc:8080/api/v1\"\nv6: \"fd00::/8\"\n",
            concat!(
                "args:\n",
                "  - --cluster-networks={{ .Values.nets }}\n",
                "  - --submitter-service-url={{ .Values.url }}\n",
                "  - --service-cidr={{ .Values.v6 }}\n",
                "  - --cluster-networks=10.0.0.0/8,172.16.0.0/12\n",
                "  - --timeout=30s\n",
                "  - --addr=svc.ns.svc:8080\n",
            ),
        );
        assert!(s.images.is_empty(), "{:?}", refs(&s));
        assert!(s.findings.is_empty(), "{:?}", s.findings);
    }

    #[test]
    fn comments_are_not_scanned() {
        let s = scan_with(
            "",
            "# image: nginx:1\n{{/*\nimage: busybox:1\n*/}}\nimage: ok@sha256:0000000000000000000000000000000000000000000000000000000000000000\n",
        );
        assert_eq!(s.images.len(), 1);
    }
}
