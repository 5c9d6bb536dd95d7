//! What a chart refuses, read before the probe renders.
//!
//! A probe render helm refuses costs a render more (the failing set is
//! split or set aside, [`super::Renderer`]), so what the chart's own files
//! say it refuses is not laid in the first place:
//!
//! - its `values.schema.json` (the parent's and each subchart's, each over
//!   the values it validates): no key where `additionalProperties: false`
//!   leaves no room for it (cert-manager and OSM refuse an undeclared
//!   `image.sha`), no value the `type`, `enum`, `const`, `pattern` or
//!   length bounds at its path refuse;
//! - templates that build a template's name from a value (dapr's
//!   `include (print "address." .Values.global.actors.serviceName)`): a
//!   marker there names a template that does not exist;
//! - `fail` guards (`{{ if .Values.image.sha }}{{ fail "image.sha
//!   forbidden. Use image.digest instead" }}`, prometheus-node-exporter): a
//!   key whose being set makes a template fail is not set, and of keys that
//!   fail only together (`if and .Values.a .Values.b`) not all are set.
//!
//! What is not read here (a schema's `if`/`then`, `format`, a guard with
//! `eq` or `not`, a `required` inside a helper) still costs its render.

use std::collections::HashSet;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

use crate::chart::Chart;
use crate::yaml::{PathSeg, YamlPath};

/// How deep a schema is followed (`$ref` chains, nesting).
const MAX_SCHEMA_DEPTH: usize = 64;

/// The refusals of a chart and its subcharts.
#[derive(Debug, Default)]
pub(super) struct Refusals {
    scopes: Vec<Scope>,
}

/// One chart of the tree: where its values sit in the parent's, and what it refuses.
#[derive(Debug)]
struct Scope {
    /// The override path of this chart's values (`[]` for the parent, `[grafana]`, …).
    prefix: Vec<String>,
    schema: Option<Value>,
    /// Values (by override path) a template builds a template's name from.
    template_names: HashSet<YamlPath>,
    guards: Vec<Guard>,
}

/// A `fail` guarded by values being set.
#[derive(Debug)]
struct Guard {
    /// By override path.
    paths: Vec<YamlPath>,
    /// `and`: the template fails only when every one is set; else when any is.
    all: bool,
}

impl Refusals {
    /// Read the refusals of `chart` and its subcharts (directory subcharts;
    /// a vendored archive's files are not in memory).
    pub(super) fn read(chart: &Chart) -> Refusals {
        let mut out = Refusals::default();
        collect(chart, &[], &mut out.scopes, 0);
        out
    }

    /// Whether every schema that validates `coord` allows `laid` there.
    pub(super) fn schema_allows(&self, coord: &YamlPath, laid: &Value) -> bool {
        self.scopes.iter().all(|s| {
            let (Some(schema), Some(rest)) = (&s.schema, within(coord, &s.prefix)) else {
                return true;
            };
            allows(schema, schema, rest, laid, 0)
        })
    }

    /// Whether a template builds a template's name from `coord`.
    pub(super) fn names_a_template(&self, coord: &YamlPath) -> bool {
        self.scopes.iter().any(|s| s.template_names.contains(coord))
    }

    /// Whether setting `coord` makes a `fail` guard fire, given which other
    /// values are set.
    pub(super) fn fails_when_set(
        &self,
        coord: &YamlPath,
        is_set: impl Fn(&YamlPath) -> bool,
    ) -> bool {
        self.scopes
            .iter()
            .flat_map(|s| &s.guards)
            .filter(|g| g.paths.contains(coord))
            .any(|g| !g.all || g.paths.iter().all(|p| p == coord || is_set(p)))
    }
}

/// `coord` relative to a chart whose values sit at `prefix`: `global` is
/// every chart's; anything else only under the prefix.
pub(super) fn within<'c>(coord: &'c YamlPath, prefix: &[String]) -> Option<&'c [PathSeg]> {
    let segs = &coord.0;
    if matches!(segs.first(), Some(PathSeg::Key(k)) if k == "global") {
        return Some(segs);
    }
    if segs.len() < prefix.len() {
        return None;
    }
    let under = segs
        .iter()
        .zip(prefix)
        .all(|(s, p)| matches!(s, PathSeg::Key(k) if k == p));
    under.then(|| &segs[prefix.len()..])
}

fn collect(chart: &Chart, prefix: &[String], out: &mut Vec<Scope>, depth: usize) {
    if depth > 8 {
        return;
    }
    let schema = chart
        .file("values.schema.json")
        .and_then(|f| serde_json::from_str::<Value>(&f.text).ok());
    let coord = |dotted: &str| {
        let mut segs: Vec<PathSeg> = Vec::new();
        if dotted != "global" && !dotted.starts_with("global.") {
            segs.extend(prefix.iter().cloned().map(PathSeg::Key));
        }
        segs.extend(dotted.split('.').map(|k| PathSeg::Key(k.to_string())));
        YamlPath(segs)
    };
    let mut template_names = HashSet::new();
    let mut guards = Vec::new();
    for (_, src) in chart.templates() {
        for name in template_name_re().captures_iter(&src.text) {
            for v in values_re().captures_iter(&name[1]) {
                template_names.insert(coord(&v[1]));
            }
        }
        for g in guard_re().captures_iter(&src.text) {
            let cond = &g[1];
            let paths: Vec<YamlPath> = values_re()
                .captures_iter(cond)
                .map(|v| coord(&v[1]))
                .collect();
            // Only a condition on values being set: `.Values.x`, `and`, `or`.
            let rest = values_re().replace_all(cond, " ");
            let words: Vec<&str> = rest
                .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
                .filter(|w| !w.is_empty())
                .collect();
            if paths.is_empty() || words.iter().any(|w| !matches!(*w, "and" | "or")) {
                continue;
            }
            let all = words.contains(&"and") && !words.contains(&"or");
            guards.push(Guard { paths, all });
        }
    }
    out.push(Scope {
        prefix: prefix.to_vec(),
        schema,
        template_names,
        guards,
    });
    for sub in &chart.subcharts {
        let mut p = prefix.to_vec();
        p.push(sub.values_key().to_string());
        collect(sub, &p, out, depth + 1);
    }
}

fn values_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\$?\.Values\.([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)").expect("a valid regex")
    })
}

/// `include (print …)`, `template (printf …)`: a name built from values.
fn template_name_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\b(?:include|template)\s*\(\s*printf?\s+([^)]*)\)").expect("a valid regex")
    })
}

/// `{{ if COND }}` (or `else if`) whose next action is `fail`.
fn guard_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\{\{-?\s*(?:else\s+)?if\s+([^}]*?)\s*-?\}\}\s*\{\{-?\s*fail\b")
            .expect("a valid regex")
    })
}

/// The schema `s` points to (`$ref` into the same document followed).
fn resolve<'s>(mut s: &'s Value, root: &'s Value) -> &'s Value {
    for _ in 0..MAX_SCHEMA_DEPTH {
        let Some(ptr) = s.get("$ref").and_then(Value::as_str) else {
            return s;
        };
        match ptr.strip_prefix('#').and_then(|p| root.pointer(p)) {
            Some(next) => s = next,
            // A remote or unknown reference: nothing known about it.
            None => return &Value::Bool(true),
        }
    }
    s
}

/// Whether `schema` allows `laid` at `path` (as far as this reader knows:
/// what it cannot tell it allows).
pub(super) fn allows(
    schema: &Value,
    root: &Value,
    path: &[PathSeg],
    laid: &Value,
    depth: usize,
) -> bool {
    if depth > MAX_SCHEMA_DEPTH {
        return true;
    }
    let s = resolve(schema, root);
    let Value::Object(o) = s else {
        // `false` allows nothing; `true` (or junk) everything.
        return *s != Value::Bool(false);
    };
    let branches = |k: &str| o.get(k).and_then(Value::as_array).filter(|a| !a.is_empty());
    if let Some(all) = branches("allOf")
        && !all.iter().all(|b| allows(b, root, path, laid, depth + 1))
    {
        return false;
    }
    for k in ["anyOf", "oneOf"] {
        if let Some(any) = branches(k)
            && !any.iter().any(|b| allows(b, root, path, laid, depth + 1))
        {
            return false;
        }
    }
    match path.split_first() {
        None => leaf_allows(o, laid),
        Some((PathSeg::Key(k), rest)) => {
            if let Some(p) = o.get("properties").and_then(|p| p.get(k)) {
                return allows(p, root, rest, laid, depth + 1);
            }
            if let Some(Value::Object(pp)) = o.get("patternProperties") {
                for (pat, sub) in pp {
                    if Regex::new(pat).is_ok_and(|re| re.is_match(k)) {
                        return allows(sub, root, rest, laid, depth + 1);
                    }
                }
            }
            match o.get("additionalProperties") {
                Some(sub @ (Value::Object(_) | Value::Bool(false))) => {
                    allows(sub, root, rest, laid, depth + 1)
                }
                _ => true,
            }
        }
        Some((PathSeg::Index(_), rest)) => match o.get("items") {
            Some(sub @ Value::Object(_)) => allows(sub, root, rest, laid, depth + 1),
            _ => true,
        },
    }
}

fn leaf_allows(o: &serde_json::Map<String, Value>, laid: &Value) -> bool {
    let kind = match laid {
        Value::String(_) => "string",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::Bool(_) => "boolean",
        Value::Null => "null",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let type_ok = |t: &Value| {
        t.as_str()
            .is_some_and(|t| t == kind || (t == "number" && kind == "integer"))
    };
    match o.get("type") {
        Some(Value::Array(ts)) if !ts.iter().any(type_ok) => return false,
        Some(t @ Value::String(_)) if !type_ok(t) => return false,
        _ => {}
    }
    if o.get("enum")
        .and_then(Value::as_array)
        .is_some_and(|e| !e.contains(laid))
    {
        return false;
    }
    if o.get("const").is_some_and(|c| c != laid) {
        return false;
    }
    if let Value::String(s) = laid {
        let chars = s.chars().count() as u64;
        if o.get("maxLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| chars > m)
            || o.get("minLength")
                .and_then(Value::as_u64)
                .is_some_and(|m| chars < m)
        {
            return false;
        }
        if let Some(pat) = o.get("pattern").and_then(Value::as_str)
            && Regex::new(pat).is_ok_and(|re| !re.is_match(s))
        {
            return false;
        }
    }
    true
}
