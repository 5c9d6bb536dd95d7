//! Probing a chart's render: which values compose each rendered image.
//!
//! Key names in `values.yaml` (the conventions, `crate::values`) guess where
//! an image lives; the templates decide. A probe asks helm: it renders the
//! chart once as the user would, then once with a unique marker in place of
//! every string scalar that could feed an image (the parent's `values.yaml`
//! and each subchart's own, laid over through the parent under the
//! dependency's name or alias, and `global`), and reads where each marker
//! lands in every rendered image field ([`crate::lint::rendered`]). A
//! second render sets candidate digest keys (`digest`, `sha`) beside the
//! values that compose each image, declared or not, and marks empty
//! `tag`/`version` keys, to learn which digest form the templates render.
//!
//! The user's `--values-file`s and `--set`s are fed like the parent's own
//! values, ahead of it: a value they set is marked with their value, and
//! its marker, laid after their files, is what renders. helm ranks any
//! `--set` above every `-f`, so the probe replays the `--set`s as helm
//! applies them over the merged files ([`strvals`]: list indexes, escapes,
//! `{a,b}`, `null`) and lays what they leave as a file below the markers in
//! their place; only their whole numbers stay `--set`s (a file's number is
//! a float64, a `--set`'s an int64). A value an override takes whole (a
//! list, a scalar, a `null` above it) is not marked in the files below it.
//! The `--set`s are passed as they are, and markers under them hidden, when
//! helm refuses one, or when one indexes a list of the user's files holding
//! a value this probe reads otherwise than helm (an alias, `yes`, `012`).
//! [`Probe::set_by`] tells the plan which paths they hold.
//!
//! Markers go into string scalars only, and only into those whose text
//! appears in a rendered image (never booleans, numbers, maps, empty strings
//! or strings like `"true"`): templates compare and branch on values, and a
//! marker there would change what renders. They are laid as nested maps
//! that merge with the chart's own (a list is laid whole). They are short,
//! lowercase and alphanumeric, so they survive `lower`, `trimPrefix "v"`,
//! `printf` and `default`, and are valid both as a repository path component
//! and as a tag. What the chart's own files say they refuse (its schema, a
//! `fail` guard, a template name built from a value: [`refusals`]) is not
//! laid, and the probe's renders leave `NOTES.txt` out (`helm template`
//! never prints it, and bitnami's refuses any image it does not know).
//! When a probe render fails nonetheless, its markers are split in halves
//! and rendered again, within a fixed budget; the markers of a half that
//! fails alone are dropped, so one picky template costs its own images, not
//! the chart's.
//!
//! Nothing here writes: [`plan`] turns a probe into edits.

pub mod plan;
mod refusals;
mod strvals;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use serde_json::{Map as JsonMap, Value};

use crate::chart::{Chart, ChartOrigin};
use crate::diag::InputError;
use crate::helm::{Helm, HelmError, RenderSpec};
use crate::lint::rendered::{RenderedImage, rendered_images};
use crate::yaml::{Node, PathSeg, QuoteStyle, YamlPath};

/// Most probe renders for one chart, bisection retries included.
const MAX_PROBE_RENDERS: usize = 12;
/// Most markers laid in one chart (the largest corpus chart uses ~200).
const MAX_MARKERS: usize = 4_000;

/// Why a chart could not be probed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    Helm(#[from] HelmError),
    #[error(transparent)]
    Input(#[from] InputError),
}

/// Where a value sits: the chart's own values file or a subchart's, and the
/// path the parent sets it at (its override).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValuesAt {
    /// The values file, relative to the chart (`charts/grafana/values.yaml`).
    pub file: String,
    /// The path in that file.
    pub path: YamlPath,
    /// The path in the parent's values that sets it (`grafana.image.tag`,
    /// `global.tag`); the same as `path` for the parent's own file.
    pub coord: YamlPath,
    /// The file declares the key (false for a digest key the probe added).
    pub declared: bool,
}

impl ValuesAt {
    /// Whether the value is in the parent's own `values.yaml`.
    pub fn in_parent(&self) -> bool {
        self.file == "values.yaml"
    }
}

/// A value that composes a rendered image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub at: ValuesAt,
    /// The value as the file holds it.
    pub value: String,
    /// Bytes of the rendered reference this value produced (as far as the
    /// probe can tell: it assumes the value renders as written).
    pub start: usize,
    pub end: usize,
}

/// How a template renders a digest key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestForm {
    /// The key holds `sha256:<hex>`.
    Prefixed,
    /// The key holds bare hex; the template writes `sha256:`.
    Bare,
}

/// A digest key the templates render for an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestKey {
    pub at: ValuesAt,
    pub form: DigestForm,
    /// The image as rendered with the probe's digest in the key, the digest
    /// taken out again (`repo:tag@`, `repo@`): what a pin renders before its digest.
    pub rendered_base: String,
}

/// One rendered image and where its parts come from.
#[derive(Clone, Debug)]
pub struct ProbedImage {
    /// The image as the chart renders it with the user's values.
    pub image: RenderedImage,
    /// The values that compose it, in rendered order.
    pub parts: Vec<Part>,
    /// Digest keys the templates honour for it, best first.
    pub digest_keys: Vec<DigestKey>,
    /// Empty keys that, once set, render at the end of the reference in
    /// place of what they default to (`controllerImageVersion: ""`
    /// defaulting to `linkerdVersion`).
    pub tail_keys: Vec<ValuesAt>,
}

/// What a probe learned about a chart.
#[derive(Clone, Debug, Default)]
pub struct Probe {
    /// The render with the user's values, as helm printed it.
    pub baseline: String,
    /// Every rendered image, in stream order.
    pub images: Vec<ProbedImage>,
    /// How many times helm ran for the probe (the baseline included).
    pub renders: usize,
    /// For each values path (by its override path), the distinct rendered
    /// references it composes; and whether it also renders outside any
    /// image field (a label, an annotation), where a digest would break the chart.
    pub uses: BTreeMap<YamlPath, Uses>,
    /// Markers that could not be laid because their renders failed.
    pub dropped: usize,
    /// The user's `--values-file`s and `--set`s, last first: a value they
    /// set is what renders, and a pin in the chart's values would be hidden
    /// by them at install time too.
    pub overrides: Vec<Override>,
    /// The `--set`s passed to helm as they are, above the probe's markers,
    /// when the probe could not lay them as a file below (markers under
    /// them do not land).
    pub sets_as_given: Vec<String>,
}

/// Values the user lays over the chart's at render time.
#[derive(Clone, Debug)]
pub struct Override {
    /// How the user gave it: `--values-file ci.yaml`, `--set image.tag=2.0`.
    pub shown: String,
    /// The paths it sets, in the parent's values: a file's leaves (a list
    /// whole), or what a `--set` wrote as helm applies it over the files (a
    /// list it created whole, else the elements it set or added).
    touched: Vec<Vec<PathSeg>>,
}

impl Probe {
    /// The user's override that sets `coord` (a value above it, or one
    /// under it), if any: `containers[0].image` is set by `--set
    /// containers[0].image=x`, and by a `--values-file` holding `containers`.
    pub fn set_by(&self, coord: &YamlPath) -> Option<&str> {
        let meets = |t: &Vec<PathSeg>| t.starts_with(&coord.0) || coord.0.starts_with(t);
        self.overrides
            .iter()
            .find(|o| o.touched.iter().any(meets))
            .map(|o| o.shown.as_str())
    }
}

/// The paths of `tree`'s leaves: every value that is not a map (a list whole).
fn leaf_paths(tree: &Value, path: &mut Vec<PathSeg>, out: &mut Vec<Vec<PathSeg>>) {
    match tree {
        Value::Object(o) => {
            for (k, v) in o {
                path.push(PathSeg::Key(k.clone()));
                leaf_paths(v, path, out);
                path.pop();
            }
        }
        _ if !path.is_empty() => out.push(path.clone()),
        _ => {}
    }
}

/// Where a value renders.
#[derive(Clone, Debug, Default)]
pub struct Uses {
    pub references: std::collections::BTreeSet<String>,
    pub outside_images: bool,
}

/// A values file that feeds the render, as an owned tree.
struct Feed {
    file: String,
    /// The override path prefix (`[]` for the parent, `[grafana]`, …).
    prefix: Vec<String>,
    tree: Value,
}

impl Feed {
    fn coord(&self, path: &[PathSeg]) -> YamlPath {
        if matches!(path.first(), Some(PathSeg::Key(k)) if k == "global") {
            return YamlPath(path.to_vec());
        }
        let mut v: Vec<PathSeg> = self.prefix.iter().cloned().map(PathSeg::Key).collect();
        v.extend(path.iter().cloned());
        YamlPath(v)
    }
}

/// Whether a feed ahead of this one holds a value at `coord` or above it
/// that helm takes whole: a list (a user's list replaces the chart's), a
/// scalar, a null (`--set a=null` deletes `a`), a map where `coord` has a
/// list index, or anything at `coord` itself. The value at `coord` then
/// never renders, and a marker there would bring it back.
fn hidden(ahead: &[Feed], coord: &YamlPath) -> bool {
    ahead.iter().filter(|f| f.tree.is_object()).any(|f| {
        refusals::within(coord, &f.prefix).is_some_and(|rest| {
            let mut v = &f.tree;
            for seg in rest {
                v = match (seg, v) {
                    (PathSeg::Key(k), Value::Object(o)) => match o.get(k) {
                        Some(x) => x,
                        None => return false,
                    },
                    _ => return true,
                };
            }
            true
        })
    })
}

/// One value the probe lays.
#[derive(Clone, Debug)]
struct Assign {
    feed: usize,
    path: Vec<PathSeg>,
    /// What is laid (a marker, or a digest).
    laid: String,
    /// The marker inside `laid` that is searched for.
    token: String,
    /// The value the file holds ("" for an undeclared key).
    value: String,
    /// Laid as a YAML number (a whole-number value keeps its type, so
    /// templates that compute with it still render).
    number: bool,
    declared: bool,
}

impl Assign {
    /// What is laid, as the YAML value helm reads.
    fn laid_json(&self) -> Value {
        match self.laid.parse::<u64>() {
            Ok(n) if self.number => Value::from(n),
            _ => Value::String(self.laid.clone()),
        }
    }
}

/// Whether a values template's `if` takes `v` as set.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Remove every `templates/NOTES.txt` of `chart` and its directory
/// subcharts from its staged copy at `dir`.
fn remove_notes(chart: &Chart, staged: &crate::chart::stage::Staged, dir: &Path) {
    if chart.file("templates/NOTES.txt").is_some() {
        staged.remove_file(&dir.join("templates/NOTES.txt"));
    }
    for sub in &chart.subcharts {
        if let Ok(rel) = sub.root.strip_prefix(&chart.root) {
            remove_notes(sub, staged, &dir.join(rel));
        }
    }
}

/// The marker for assignment `n`: short, lowercase, alphanumeric, not
/// starting with `v`, and not a prefix of another marker.
fn marker(n: usize) -> String {
    format!("zq{n}k")
}

/// The marker for assignment `n` in a value that reads as a version
/// (`v1.2.3`, `1.14.0`): still a version (`semverCompare` takes it, and it
/// is newer than any real one), keeping the value's `v`.
fn version_marker(n: usize, like: &str) -> String {
    let v = if like.starts_with('v') { "v" } else { "" };
    format!("{v}99.{n}.77")
}

/// The marker for assignment `n` in a whole-number value: still a number
/// (`int`, `gt` and `add` keep working), its digits unlike a real tag's.
/// Six digits, under a million: helm reads a file's number as a float64,
/// and prints one of seven digits or more as `1.234567e+06`.
fn number_marker(n: usize) -> String {
    const _: () = assert!(MAX_MARKERS < 10_000);
    format!("9{n:04}7")
}

/// Whether `s` is a whole image reference with a path and a tag.
fn looks_like_full_reference(s: &str) -> bool {
    s.contains('/')
        && crate::reference::ImageRef::parse(s)
            .is_ok_and(|r| r.tag().is_some() || r.digest().is_some())
}

/// Whether `s` reads as a version: `v1.2`, `1.14.0`, `0.45.0-kafka-3.9.0`.
fn is_version(s: &str) -> bool {
    let t = s.strip_prefix('v').unwrap_or(s);
    let mut it = t.split('.');
    let (Some(a), Some(b)) = (it.next(), it.next()) else {
        return false;
    };
    !a.is_empty()
        && a.bytes().all(|c| c.is_ascii_digit())
        && b.bytes().next().is_some_and(|c| c.is_ascii_digit())
}

/// The made-up digest hex for assignment `n`.
fn fake_hex(n: usize) -> String {
    format!("{}{:08x}", "c0ffee0d".repeat(7), n)
}

/// Plain YAML scalars as their JSON type; every other scalar is a string.
fn scalar_json(s: &crate::yaml::Scalar<'_>) -> Value {
    if s.is_null {
        return Value::Null;
    }
    if s.style != QuoteStyle::Plain {
        return Value::String(s.value.to_string());
    }
    let v = &*s.value;
    match v {
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = v.parse::<i64>() {
        return Value::from(i);
    }
    if let Ok(f) = v.parse::<f64>()
        && f.is_finite()
        && v.bytes().any(|b| b.is_ascii_digit())
    {
        return serde_json::Number::from_f64(f).map_or(Value::String(v.to_string()), Value::Number);
    }
    Value::String(v.to_string())
}

fn node_json(n: &Node<'_>, depth: usize) -> Value {
    if depth > 64 {
        return Value::Null;
    }
    match n {
        Node::Scalar(s) => scalar_json(s),
        Node::Map(m) => {
            let mut o = JsonMap::new();
            for (k, v) in &m.entries {
                if let Some(k) = k.as_scalar() {
                    o.insert(k.value.to_string(), node_json(v, depth + 1));
                }
            }
            Value::Object(o)
        }
        Node::Seq(s) => Value::Array(s.items.iter().map(|i| node_json(i, depth + 1)).collect()),
        // An alias stands for something the probe does not mark.
        Node::Alias(_) => Value::Null,
    }
}

/// The values files that feed a render of `chart`: its own, then each
/// subchart's (recursively), with the override prefix each is reached by.
fn feeds_of(
    chart: &Chart,
    values: Option<&crate::source::SourceFile>,
) -> Result<Vec<Feed>, InputError> {
    let mut out = Vec::new();
    if chart.file("values.yaml").is_none()
        && let Some(src) = values
    {
        out.push(Feed {
            file: "values.yaml".to_string(),
            prefix: Vec::new(),
            tree: tree_of(src)?,
        });
    }
    collect_feeds(chart, "", &[], &mut out, 0)?;
    Ok(out)
}

/// The user's values, as the probe lays them.
struct UserValues {
    /// Every override, the one that wins first.
    overrides: Vec<Override>,
    /// Feeds laid like the parent's own, the one that wins first, so a value
    /// the user set is the one marked, and its marker, laid after it, is what
    /// renders.
    feeds: Vec<Feed>,
    /// What the `--set`s leave, as a values text: laid as a file below the
    /// markers in place of the `--set`s themselves, which helm would rank
    /// above any file. `None` when helm refuses a `--set` (the probe then
    /// passes them as they are).
    sets_laid: Option<String>,
    /// The whole numbers the `--set`s leave, as `--set`s of their own: helm
    /// holds them as int64 (`eq .Values.n 1` works, `1000000` prints as
    /// such) where a file's number is a float64, so these stay `--set`s.
    int_sets: Vec<(YamlPath, String)>,
}

fn user_values(spec: &RenderSpec) -> Result<UserValues, InputError> {
    let mut files = Vec::new();
    let mut doubtful = Vec::new();
    for path in &spec.values_files {
        // A regular file within the size limit, as every chart file is.
        let src = crate::diag::read_regular_source(path)?;
        let yaml = crate::yaml::parse(&src, crate::yaml::Options::default())?;
        let root = yaml.roots().next();
        if let Some(r) = root {
            read_otherwise(r, &mut Vec::new(), &mut doubtful, 0);
        }
        let tree = root.map_or(Value::Null, |r| node_json(r, 0));
        files.push((format!("--values-file {}", path.display()), tree));
    }
    // helm merges the files in order, then applies each `--set` to the result.
    let mut values = Value::Object(JsonMap::new());
    for (_, tree) in &files {
        if tree.is_object() {
            merge(&mut values, tree.clone());
        }
    }
    let mut overrides = Vec::new();
    let mut written = Vec::new();
    let mut refused = false;
    for s in &spec.sets {
        let w = match &mut values {
            Value::Object(root) if !refused => strvals::apply(s, root),
            _ => Err(String::new()),
        };
        let w = w.unwrap_or_else(|e| {
            tracing::debug!(set = %s, error = %e, "helm refuses this --set; the probe passes the --sets as they are");
            refused = true;
            strvals::Written::default()
        });
        overrides.push(Override {
            shown: format!("--set {s}"),
            touched: w.touched.clone(),
        });
        written.push(w);
    }
    overrides.reverse();
    let mut feeds = Vec::new();
    let mut sets_laid = None;
    let mut int_sets = Vec::new();
    let touched: Vec<&[PathSeg]> = written
        .iter()
        .flat_map(|w| &w.touched)
        .map(Vec::as_slice)
        .collect();
    let tree = prune(&values, &touched).unwrap_or_else(|| Value::Object(JsonMap::new()));
    // A list a `--set` indexes is laid whole, the files' elements with it:
    // as this probe reads them, which is not always as helm does.
    if let Some(p) = doubtful.iter().find(|p| in_a_list(&tree, p)) {
        tracing::debug!(path = %YamlPath(p.clone()), "a --set indexes a list of the --values-files holding a value helm reads otherwise; the probe passes the --sets as they are");
        refused = true;
    }
    if !refused && !spec.sets.is_empty() {
        for p in written.iter().flat_map(|w| &w.ints) {
            let at = YamlPath(p.clone());
            if let Some(n) = get(&values, p).and_then(Value::as_i64)
                && !int_sets.iter().any(|(q, _)| *q == at)
            {
                int_sets.push((at, strvals::spelled(p, n)));
            }
        }
        sets_laid = Some(values_text(&tree));
        feeds.push(Feed {
            file: "--set".to_string(),
            prefix: Vec::new(),
            tree,
        });
    }
    for (shown, tree) in files.into_iter().rev() {
        let mut touched = Vec::new();
        leaf_paths(&tree, &mut Vec::new(), &mut touched);
        overrides.push(Override {
            shown: shown.clone(),
            touched,
        });
        feeds.push(Feed {
            file: shown,
            prefix: Vec::new(),
            tree,
        });
    }
    Ok(UserValues {
        overrides,
        feeds,
        sets_laid,
        int_sets,
    })
}

/// The paths in `n` that helm reads otherwise than [`node_json`] does:
/// aliases and merge keys (`<<`), and plain scalars, keys included, that
/// helm's YAML 1.1 reading types apart (`yes`/`on`/`n` are booleans,
/// `012` is octal, `0x1f`, `0o17`, `0b11` and `1_000` are numbers).
fn read_otherwise(
    n: &Node<'_>,
    path: &mut Vec<PathSeg>,
    out: &mut Vec<Vec<PathSeg>>,
    depth: usize,
) {
    if depth > 64 {
        // Deeper than [`node_json`] reads.
        out.push(path.clone());
        return;
    }
    match n {
        Node::Scalar(s) if helm_reads_otherwise(s) => out.push(path.clone()),
        Node::Alias(_) => out.push(path.clone()),
        Node::Map(m) => {
            for (k, v) in &m.entries {
                let Some(k) = k.as_scalar() else { continue };
                path.push(PathSeg::Key(k.value.to_string()));
                if helm_reads_otherwise(k) {
                    out.push(path.clone());
                } else {
                    read_otherwise(v, path, out, depth + 1);
                }
                path.pop();
            }
        }
        Node::Seq(s) => {
            for (i, v) in s.items.iter().enumerate() {
                path.push(PathSeg::Index(i));
                read_otherwise(v, path, out, depth + 1);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Plain words helm's YAML 1.1 reading takes as booleans (`<<`: a merge key).
const YAML11_WORDS: [&str; 17] = [
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
    "OFF", "<<",
];

/// Whether helm's YAML 1.1 reading types plain `s` apart from [`scalar_json`].
fn helm_reads_otherwise(s: &crate::yaml::Scalar<'_>) -> bool {
    let v = &*s.value;
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    let radix = digits.len() > 1
        && digits.starts_with('0')
        && digits[1..].starts_with(|c: char| c.is_ascii_digit() || "xXoObB".contains(c));
    let underscored = v.contains('_')
        && v.bytes()
            .all(|b| b.is_ascii_digit() || b"_+-.".contains(&b));
    s.style == QuoteStyle::Plain && (YAML11_WORDS.contains(&v) || radix || underscored)
}

/// Whether `path` is held in `tree` inside a list.
fn in_a_list(tree: &Value, path: &[PathSeg]) -> bool {
    (1..path.len()).any(|n| get(tree, &path[..n]).is_some_and(Value::is_array))
        && get(tree, path).is_some()
}

fn tree_of(src: &crate::source::SourceFile) -> Result<Value, InputError> {
    let yaml = crate::yaml::parse(src, crate::yaml::Options::default())?;
    Ok(yaml.roots().next().map_or(Value::Null, |r| node_json(r, 0)))
}

fn collect_feeds(
    chart: &Chart,
    rel: &str,
    prefix: &[String],
    out: &mut Vec<Feed>,
    depth: usize,
) -> Result<(), InputError> {
    if depth > 8 {
        return Ok(());
    }
    if let Some(src) = chart.file("values.yaml") {
        out.push(Feed {
            file: format!("{rel}values.yaml"),
            prefix: prefix.to_vec(),
            tree: tree_of(src)?,
        });
    }
    for sub in &chart.subcharts {
        let dir = sub
            .root
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| sub.name.clone());
        let mut p = prefix.to_vec();
        p.push(sub.values_key().to_string());
        collect_feeds(sub, &format!("{rel}charts/{dir}/"), &p, out, depth + 1)?;
    }
    Ok(())
}

/// Whether a string value could feed an image: non-empty, one word, not a
/// word templates branch on, and its text shows in some rendered reference.
fn is_candidate(v: &str, rendered: &[String]) -> bool {
    if v.is_empty() || v.len() > 512 || v.contains(char::is_whitespace) {
        return false;
    }
    let lower = v.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "enabled" | "disabled"
    ) {
        return false;
    }
    let trimmed = lower.strip_prefix('v').filter(|t| !t.is_empty());
    rendered
        .iter()
        .any(|r| r.contains(&lower) || trimmed.is_some_and(|t| r.contains(t)))
}

/// A leaf the probe may mark: a string, or a whole number (as written).
#[derive(Clone, Copy, PartialEq, Eq)]
enum LeafKind {
    String,
    Integer,
}

/// Every string and whole-number leaf of `tree` with its path.
fn string_leaves(
    tree: &Value,
    path: &mut Vec<PathSeg>,
    out: &mut Vec<(Vec<PathSeg>, String, LeafKind)>,
) {
    match tree {
        Value::String(s) => out.push((path.clone(), s.clone(), LeafKind::String)),
        Value::Number(n) if n.is_i64() || n.is_u64() => {
            out.push((path.clone(), n.to_string(), LeafKind::Integer))
        }
        Value::Object(o) => {
            for (k, v) in o {
                path.push(PathSeg::Key(k.clone()));
                string_leaves(v, path, out);
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                path.push(PathSeg::Index(i));
                string_leaves(v, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn get<'v>(tree: &'v Value, path: &[PathSeg]) -> Option<&'v Value> {
    let mut v = tree;
    for s in path {
        v = match (s, v) {
            (PathSeg::Key(k), Value::Object(o)) => o.get(k)?,
            (PathSeg::Index(i), Value::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(v)
}

/// Set `path` in `tree` to `value`, creating maps on the way (never
/// replacing a non-map with one).
fn set(tree: &mut Value, path: &[PathSeg], value: Value) -> bool {
    let Some((last, init)) = path.split_last() else {
        return false;
    };
    let mut v = tree;
    for s in init {
        v = match (s, v) {
            (PathSeg::Key(k), Value::Object(o)) => o
                .entry(k.clone())
                .or_insert_with(|| Value::Object(JsonMap::new())),
            (PathSeg::Index(i), Value::Array(a)) => match a.get_mut(*i) {
                Some(x) => x,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, v) {
        (PathSeg::Key(k), Value::Object(o)) => {
            o.insert(k.clone(), value);
            true
        }
        (PathSeg::Index(i), Value::Array(a)) if *i < a.len() => {
            a[*i] = value;
            true
        }
        _ => false,
    }
}

/// The part of `marked` that leads to `paths`: maps keep only the keys on
/// the way (so the overlay merges with the chart's maps), lists are laid
/// whole (helm replaces lists).
fn prune(marked: &Value, paths: &[&[PathSeg]]) -> Option<Value> {
    if paths.iter().any(|p| p.is_empty()) {
        return Some(marked.clone());
    }
    match marked {
        Value::Object(o) => {
            let mut by_key: BTreeMap<&str, Vec<&[PathSeg]>> = BTreeMap::new();
            for p in paths {
                if let PathSeg::Key(k) = &p[0] {
                    by_key.entry(k.as_str()).or_default().push(&p[1..]);
                }
            }
            let mut out = JsonMap::new();
            for (k, rest) in by_key {
                if let Some(v) = o.get(k).and_then(|v| prune(v, &rest)) {
                    out.insert(k.to_string(), v);
                }
            }
            Some(Value::Object(out))
        }
        Value::Array(_) => Some(marked.clone()),
        _ => None,
    }
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(x) if x.is_object() && v.is_object() => merge(x, v),
                    _ => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (into, from) => *into = from,
    }
}

/// The overlay (a YAML text) laying `assigns` over `feeds`.
fn overlay(feeds: &[Feed], assigns: &[&Assign]) -> String {
    let mut root = Value::Object(JsonMap::new());
    // Subcharts first, then the parent: the parent's overrides win.
    for (fi, feed) in feeds.iter().enumerate().rev() {
        let mine: Vec<&&Assign> = assigns.iter().filter(|a| a.feed == fi).collect();
        if mine.is_empty() {
            continue;
        }
        let mut marked = if feed.tree.is_object() {
            feed.tree.clone()
        } else {
            Value::Object(JsonMap::new())
        };
        let mut paths: Vec<&[PathSeg]> = Vec::new();
        for a in &mine {
            if set(&mut marked, &a.path, a.laid_json()) {
                paths.push(&a.path);
            }
        }
        let Some(Value::Object(mut pruned)) = prune(&marked, &paths) else {
            continue;
        };
        if !feed.prefix.is_empty() {
            if let Some(g) = pruned.remove("global") {
                let mut wrapped = JsonMap::new();
                wrapped.insert("global".to_string(), g);
                merge(&mut root, Value::Object(wrapped));
            }
            let mut v = Value::Object(pruned);
            for k in feed.prefix.iter().rev() {
                let mut m = JsonMap::new();
                m.insert(k.clone(), v);
                v = Value::Object(m);
            }
            merge(&mut root, v);
        } else {
            merge(&mut root, Value::Object(pruned));
        }
    }
    values_text(&root)
}

/// `v` as a YAML text helm reads back as the same tree: flow style, every
/// key and string double-quoted (so none reads as a bool, a number or a
/// null), every character outside printable ASCII escaped.
fn values_text(v: &Value) -> String {
    let mut out = String::new();
    write_yaml(v, &mut out);
    out
}

fn write_yaml(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => quoted(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_yaml(x, out);
            }
            out.push(']');
        }
        Value::Object(o) => {
            out.push('{');
            for (i, (k, x)) in o.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                quoted(k, out);
                out.push_str(": ");
                write_yaml(x, out);
            }
            out.push('}');
        }
    }
}

fn quoted(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            c if (c as u32) <= 0xFFFF => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
}

/// How a rendered image is found again in another render of the chart:
/// its template, kind, the ordinal of its document among that template's
/// documents of that kind, the field, and its ordinal there.
type ImageKey = (Option<String>, String, usize, String, usize);

fn keyed(images: &[RenderedImage]) -> Vec<ImageKey> {
    let mut docs: HashMap<(Option<String>, String), Vec<usize>> = HashMap::new();
    let mut in_field: HashMap<(usize, String), usize> = HashMap::new();
    images
        .iter()
        .map(|i| {
            let d = docs
                .entry((i.template.clone(), i.kind.clone()))
                .or_default();
            if !d.contains(&i.document) {
                d.push(i.document);
            }
            let ord = d.iter().position(|x| *x == i.document).unwrap_or(0);
            let n = in_field.entry((i.document, i.field.clone())).or_default();
            let k = *n;
            *n += 1;
            (i.template.clone(), i.kind.clone(), ord, i.field.clone(), k)
        })
        .collect()
}

/// A renderer that retries a failing set of values in halves, within a budget.
struct Renderer<'a> {
    helm: &'a Helm,
    release: &'a str,
    chart: &'a Path,
    spec: &'a RenderSpec,
    /// Laid before each overlay: the user's `--set`s as a file.
    under: Option<&'a str>,
    /// The user's whole-number `--set`s, passed as `--set`s.
    int_sets: &'a [(YamlPath, String)],
    feeds: &'a [Feed],
    renders: usize,
    dropped: usize,
}

impl Renderer<'_> {
    /// Split a failing set: the values of the subchart helm's message
    /// names (`…/charts/<dir>/templates/…`) from the rest, else by
    /// top-level subtree, else in halves.
    fn split<'x>(&self, set: Vec<&'x Assign>, message: &str) -> (Vec<&'x Assign>, Vec<&'x Assign>) {
        let named = message
            .split("/charts/")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .map(|dir| format!("charts/{dir}/"));
        if let Some(dir) = named {
            let key = self
                .feeds
                .iter()
                .find(|f| f.file.starts_with(&dir))
                .and_then(|f| f.prefix.first().cloned());
            if let Some(key) = key {
                let (a, b): (Vec<_>, Vec<_>) = set.iter().partition(|x| {
                    matches!(self.feeds[x.feed].coord(&x.path).0.first(), Some(PathSeg::Key(k)) if *k == key)
                });
                if !a.is_empty() && !b.is_empty() {
                    return (a, b);
                }
            }
        }
        let top = |x: &Assign| format!("{:?}", self.feeds[x.feed].coord(&x.path).0.first());
        let first = top(set[0]);
        if set.iter().any(|x| top(x) != first) {
            let mid = set.len() / 2;
            // The subtree boundary nearest the middle.
            let cut = (1..set.len())
                .filter(|&i| top(set[i]) != top(set[i - 1]))
                .min_by_key(|&i| i.abs_diff(mid))
                .unwrap_or(mid);
            let mut a = set;
            let b = a.split_off(cut);
            return (a, b);
        }
        let mut a = set;
        let b = a.split_off(a.len() / 2);
        (a, b)
    }

    /// The spec for a render laying `set`: the user's whole-number
    /// `--set`s added, but for those a marker of `set` takes the place of.
    fn spec_for(&self, set: &[&Assign]) -> RenderSpec {
        let marked = |p: &YamlPath| set.iter().any(|a| self.feeds[a.feed].coord(&a.path) == *p);
        let mut spec = self.spec.clone();
        spec.sets.extend(
            self.int_sets
                .iter()
                .filter(|(p, _)| !marked(p))
                .map(|(_, s)| s.clone()),
        );
        spec
    }

    /// Renders covering `assigns` (each with the assignments it laid).
    fn render<'x>(&mut self, assigns: Vec<&'x Assign>) -> Vec<(Vec<&'x Assign>, String)> {
        let mut out = Vec::new();
        let mut queue = vec![assigns];
        // Bounded: every round either renders or drops, within the budget.
        while let Some(set) = queue.pop() {
            if set.is_empty() {
                continue;
            }
            if self.renders >= MAX_PROBE_RENDERS {
                self.dropped += set.len();
                continue;
            }
            self.renders += 1;
            let text = overlay(self.feeds, &set);
            tracing::trace!(overlay = %text, "probe render");
            let laid: Vec<String> = self
                .under
                .map(str::to_string)
                .into_iter()
                .chain([text])
                .collect();
            match self
                .helm
                .template(self.release, self.chart, &self.spec_for(&set), &laid)
            {
                Ok(r) => out.push((set, r)),
                Err(e) => {
                    let message = e.to_string();
                    // A schema's refusal is final; a message naming a
                    // value may name several where one is refused.
                    let (named, final_refusal) = named_in(&message, &set, self.feeds);
                    if named.len() == set.len() && set.len() > 1 {
                        // Everything laid is named: none of it renders.
                        tracing::debug!(markers = set.len(), error = %e, "probe render failed on everything it names; dropping");
                        self.dropped += set.len();
                    } else if !named.is_empty() && named.len() < set.len() {
                        // The message names what it refuses (a marker, a
                        // digest, a values path, a schema's key): render
                        // the rest; what it names is dropped when alone,
                        // else tried in halves (`image.sha forbidden. Use
                        // image.digest instead` names both).
                        tracing::debug!(markers = set.len(), refused = named.len(), error = %e, "probe render failed; setting aside what it names");
                        let (named, rest): (Vec<_>, Vec<_>) = set
                            .into_iter()
                            .enumerate()
                            .partition(|(i, _)| named.contains(i));
                        let mut named: Vec<&Assign> = named.into_iter().map(|(_, a)| a).collect();
                        if named.len() == 1 || final_refusal {
                            self.dropped += named.len();
                        } else {
                            let second = named.split_off(named.len() / 2);
                            queue.push(second);
                            queue.push(named);
                        }
                        queue.push(rest.into_iter().map(|(_, a)| a).collect());
                    } else if set.len() > 1 {
                        tracing::debug!(markers = set.len(), error = %e, "probe render failed; splitting");
                        let (a, b) = self.split(set, &message);
                        queue.push(b);
                        queue.push(a);
                    } else {
                        self.dropped += 1;
                    }
                }
            }
        }
        out
    }
}

/// The indexes of the assignments in `set` that helm's `message` names:
/// its marker or digest, its values path (`image.sha forbidden`), or its key
/// in a schema error (`at '/image': additional properties 'sha' not allowed`).
fn named_in(message: &str, set: &[&Assign], feeds: &[Feed]) -> (Vec<usize>, bool) {
    let mut schema: Vec<String> = Vec::new();
    for line in message.lines() {
        let Some(rest) = line.split_once("at '/").map(|(_, r)| r) else {
            continue;
        };
        let Some((ptr, tail)) = rest.split_once('\'') else {
            continue;
        };
        let base = ptr.replace('/', ".");
        match tail.split_once("additional properties ") {
            Some((_, props)) => {
                let props = props.split(" not allowed").next().unwrap_or("");
                for k in props.split(',') {
                    let k = k.trim().trim_matches('\'');
                    if !k.is_empty() {
                        schema.push(if base.is_empty() {
                            k.to_string()
                        } else {
                            format!("{base}.{k}")
                        });
                    }
                }
            }
            None if !base.is_empty() => schema.push(base),
            None => {}
        }
    }
    let word = |needle: &str| {
        let b = message.as_bytes();
        message.match_indices(needle).any(|(i, m)| {
            let edge = |c: u8| !(c.is_ascii_alphanumeric() || c == b'_' || c == b'.');
            (i == 0 || edge(b[i - 1])) && b.get(i + m.len()).is_none_or(|&c| edge(c))
        })
    };
    // A message from a subchart's template (`…/charts/<name>/templates/…`)
    // names that subchart's values.
    let subchart = message
        .split("/charts/")
        .nth(1)
        .and_then(|r| r.split('/').next());
    let in_named_chart = |a: &Assign| {
        let f = &feeds[a.feed];
        match subchart {
            Some(name) => {
                f.prefix.last().is_some_and(|k| k == name)
                    || f.file.starts_with(&format!("charts/{name}/"))
            }
            None => f.prefix.is_empty(),
        }
    };
    let by_schema: Vec<usize> = set
        .iter()
        .enumerate()
        .filter(|(_, a)| {
            let dotted = YamlPath(a.path.clone()).to_string();
            schema
                .iter()
                .any(|p| *p == dotted || dotted.starts_with(&format!("{p}.")))
        })
        .map(|(i, _)| i)
        .collect();
    if !by_schema.is_empty() {
        return (by_schema, true);
    }
    let named = set
        .iter()
        .enumerate()
        .filter(|(_, a)| {
            let dotted = YamlPath(a.path.clone()).to_string();
            let token = a.laid.strip_prefix("sha256:").unwrap_or(&a.token);
            let path_named = (a.path.len() > 1 && word(&dotted))
                || word(&format!(".Values.{dotted}"))
                || message.contains(&format!(".Values.{dotted} "))
                || message.contains(&format!(".Values.{dotted})"));
            count_bounded(message, token) > 0 || (path_named && in_named_chart(a))
        })
        .map(|(i, _)| i)
        .collect();
    (named, false)
}

/// Probe `chart` (a directory chart) with helm: see the module docs.
/// `values` is the chart's own `values.yaml` when the caller holds it
/// apart from the chart (pin moves it out of the chart's files).
pub fn probe(
    chart: &Chart,
    values: Option<&crate::source::SourceFile>,
    helm: &Helm,
    spec: &RenderSpec,
) -> Result<Probe, ProbeError> {
    let step = crate::steps::step("probe stage");
    let staged = match &chart.origin {
        ChartOrigin::Dir(_) => Some(crate::chart::stage::stage(chart)?),
        _ => None,
    };
    drop(step);
    let target = match (&staged, &chart.origin) {
        (Some(s), _) => s.chart_dir().to_path_buf(),
        (None, ChartOrigin::Archive(p)) => p.clone(),
        (None, _) => {
            return Err(
                InputError::file(&chart.root, "only a chart on disk can be rendered").into(),
            );
        }
    };
    let shown = |e: HelmError| match &staged {
        Some(s) => e.shown_as(s.chart_dir(), &chart.root),
        None => e,
    };
    // What the probe reads of the chart and the user's values needs no
    // render: it is read while helm renders the baseline.
    let (baseline, (refusals, user, chart_feeds)) = std::thread::scope(|scope| {
        let reading = scope.spawn(|| {
            let _step = crate::steps::step("probe read values");
            (
                refusals::Refusals::read(chart),
                user_values(spec),
                feeds_of(chart, values),
            )
        });
        let baseline = helm.template(&chart.name, &target, spec, &[]);
        (baseline, crate::steps::joined(reading))
    });
    let baseline = baseline.map_err(shown)?;
    if let Some(s) = &staged {
        // helm renders NOTES.txt (and a template there may refuse what a
        // marker does to an image: bitnami's "Original containers have been
        // substituted") but `helm template` never prints it: the probe's
        // renders go without. The baseline above, and the proof, keep it.
        remove_notes(chart, s, Path::new(""));
    }
    let step = crate::steps::step("probe markers");
    let base_images = rendered_images(&baseline)?;
    let base_keys = keyed(&base_images);
    let refs: Vec<String> = base_images
        .iter()
        .map(|i| i.reference.to_ascii_lowercase())
        .collect();
    let user = user?;
    let mut feeds = user.feeds;
    feeds.extend(chart_feeds?);
    let overrides = user.overrides;
    // The probe's renders take the `--set`s as a file below the markers
    // (their whole numbers as `--set`s still: [`Renderer::spec_for`]).
    let probe_spec = RenderSpec {
        sets: if user.sets_laid.is_some() {
            Vec::new()
        } else {
            spec.sets.clone()
        },
        ..spec.clone()
    };
    let tags: HashSet<&str> = base_images
        .iter()
        .filter_map(|i| {
            let r = i.reference.split('@').next()?;
            let (_, tag) = r.rsplit_once(':')?;
            (!tag.contains('/')).then_some(tag)
        })
        .collect();

    // Render 1: markers in every candidate string.
    let mut assigns = Vec::new();
    let mut seen_coords = HashSet::new();
    // The parent first: where it overrides a subchart's value, that is what renders.
    for (fi, feed) in feeds.iter().enumerate() {
        let mut leaves = Vec::new();
        string_leaves(&feed.tree, &mut Vec::new(), &mut leaves);
        for (path, value, kind) in leaves {
            // A number is marked only where it is some rendered image's
            // whole tag (trivy-operator's `policiesBundle.tag: 1`): numbers
            // elsewhere are counts and ports templates compute with.
            let candidate = match kind {
                LeafKind::String => is_candidate(&value, &refs),
                LeafKind::Integer => tags.contains(value.as_str()),
            };
            if !candidate || assigns.len() >= MAX_MARKERS {
                continue;
            }
            let coord = feed.coord(&path);
            if !seen_coords.insert(coord.clone())
                || refusals.names_a_template(&coord)
                || hidden(&feeds[..fi], &coord)
            {
                continue;
            }
            let n = assigns.len();
            let (token, laid) = if kind == LeafKind::Integer {
                let m = number_marker(n);
                (m.clone(), m)
            } else if is_version(&value) {
                let m = version_marker(n, &value);
                (m.clone(), m)
            } else if looks_like_full_reference(&value) {
                // Shaped like a reference (a domain, a path, a tag), so a
                // reader that takes only such strings as images (env values,
                // args) still sees it.
                let m = marker(n);
                let laid = format!("{m}.io/m:t");
                (m, laid)
            } else {
                let m = marker(n);
                (m.clone(), m)
            };
            let a = Assign {
                feed: fi,
                path,
                token,
                laid,
                value,
                declared: true,
                number: kind == LeafKind::Integer,
            };
            if refusals.schema_allows(&coord, &a.laid_json()) {
                assigns.push(a);
            }
        }
    }
    let mut r = Renderer {
        helm,
        release: &chart.name,
        chart: &target,
        spec: &probe_spec,
        under: user.sets_laid.as_deref(),
        int_sets: &user.int_sets,
        feeds: &feeds,
        renders: 1,
        dropped: 0,
    };
    let at_of = |a: &Assign| ValuesAt {
        file: feeds[a.feed].file.clone(),
        path: YamlPath(a.path.clone()),
        coord: feeds[a.feed].coord(&a.path),
        declared: a.declared,
    };
    let mut images: Vec<ProbedImage> = base_images
        .iter()
        .map(|i| ProbedImage {
            image: i.clone(),
            parts: Vec::new(),
            digest_keys: Vec::new(),
            tail_keys: Vec::new(),
        })
        .collect();
    let mut uses: BTreeMap<YamlPath, Uses> = BTreeMap::new();
    let by_marker: HashMap<&str, &Assign> = assigns.iter().map(|a| (a.token.as_str(), a)).collect();
    drop(step);
    for (_, text) in r.render(assigns.iter().collect()) {
        let _step = crate::steps::step("probe read markers");
        let Ok(probed) = rendered_images(&text) else {
            continue;
        };
        let keys = keyed(&probed);
        let index: HashMap<&ImageKey, &RenderedImage> = keys.iter().zip(&probed).collect();
        let mut inside: HashMap<&str, usize> = HashMap::new();
        for (bi, key) in base_keys.iter().enumerate() {
            let Some(p) = index.get(key) else { continue };
            let found = markers_in(&p.reference, &by_marker);
            // Positions in the baseline reference: each marker stands for its value.
            let mut shift: isize = 0;
            for (m, at) in found {
                let Some(a) = by_marker.get(m) else { continue };
                *inside.entry(a.token.as_str()).or_default() += 1;
                let start = (at as isize + shift).max(0) as usize;
                let end = start + a.value.len();
                let laid_len = if p.reference[at..].starts_with(&a.laid) {
                    a.laid.len()
                } else {
                    m.len()
                };
                shift += a.value.len() as isize - laid_len as isize;
                let at = at_of(a);
                uses.entry(at.coord.clone())
                    .or_default()
                    .references
                    .insert(base_images[bi].reference.clone());
                if !images[bi].parts.iter().any(|x| x.at == at) {
                    images[bi].parts.push(Part {
                        at,
                        value: a.value.clone(),
                        start,
                        end,
                    });
                }
            }
        }
        // A marker that shows up more often in the stream than in image
        // fields renders somewhere else too.
        for (m, n) in inside {
            if count_bounded(&text, m) > n
                && let Some(a) = by_marker.get(m)
            {
                uses.entry(at_of(a).coord).or_default().outside_images = true;
            }
        }
    }
    for img in &mut images {
        img.parts.sort_by_key(|p| p.start);
    }

    // Render 2: digest keys beside each image's parts, and empty tag keys.
    let mut second: Vec<Assign> = Vec::new();
    let mut laid: HashSet<(usize, Vec<PathSeg>)> = HashSet::new();
    let mut n = assigns.len();
    for img in &images {
        for part in &img.parts {
            let Some(fi) = feeds.iter().position(|f| f.file == part.at.file) else {
                continue;
            };
            let feed = &feeds[fi];
            let Some((_, parent)) = part.at.path.0.split_last() else {
                continue;
            };
            let Some(Value::Object(map)) = get(&feed.tree, parent) else {
                continue;
            };
            let mut add = |path: Vec<PathSeg>, laid_value: String, value: String, declared| {
                let a = Assign {
                    feed: fi,
                    path,
                    token: laid_value.clone(),
                    laid: laid_value,
                    value,
                    declared,
                    number: false,
                };
                let coord = feed.coord(&a.path);
                let is_set = |p: &YamlPath| {
                    second.iter().any(|s| feeds[s.feed].coord(&s.path) == *p)
                        || feeds.iter().any(|f| {
                            refusals::within(p, &f.prefix)
                                .and_then(|rest| get(&f.tree, rest))
                                .is_some_and(truthy)
                        })
                };
                if !refusals.schema_allows(&coord, &a.laid_json())
                    || refusals.fails_when_set(&coord, is_set)
                {
                    return;
                }
                if laid.insert((fi, a.path.clone())) {
                    second.push(a);
                }
            };
            for key in ["digest", "sha"] {
                let current = map.get(key);
                let open = match current {
                    None | Some(Value::Null) => true,
                    Some(Value::String(s)) => s.is_empty(),
                    _ => false,
                };
                if open {
                    let mut p = parent.to_vec();
                    p.push(PathSeg::Key(key.to_string()));
                    let hex = fake_hex(n);
                    n += 1;
                    let v = if key == "digest" {
                        format!("sha256:{hex}")
                    } else {
                        hex
                    };
                    add(p, v, String::new(), current.is_some());
                }
            }
            for (k, v) in map {
                let lk = k.to_ascii_lowercase();
                if matches!(v, Value::String(s) if s.is_empty())
                    && (lk.contains("tag") || lk.contains("version"))
                {
                    let mut p = parent.to_vec();
                    p.push(PathSeg::Key(k.clone()));
                    // Shaped as a version: templates compare versions
                    // (`semverCompare`) on what these keys default to.
                    let m = version_marker(n, "");
                    n += 1;
                    add(p, m, String::new(), true);
                }
            }
        }
    }
    if !second.is_empty() {
        // Digest keys first, `sha` keys last: a chart that forbids one of
        // them (`image.sha forbidden. Use image.digest instead`) fails the
        // render, and the first halving then parts the two.
        let rank = |a: &&Assign| match a.path.last() {
            Some(PathSeg::Key(k)) if k == "digest" => 0,
            Some(PathSeg::Key(k)) if k == "sha" => 2,
            _ => 1,
        };
        let mut ordered: Vec<&Assign> = second.iter().collect();
        ordered.sort_by_key(rank);
        for (set, text) in r.render(ordered) {
            let _step = crate::steps::step("probe read digest keys");
            let Ok(probed) = rendered_images(&text) else {
                continue;
            };
            let keys = keyed(&probed);
            let index: HashMap<&ImageKey, &RenderedImage> = keys.iter().zip(&probed).collect();
            for (bi, key) in base_keys.iter().enumerate() {
                let Some(p) = index.get(key) else { continue };
                for a in &set {
                    let at = at_of(a);
                    if a.laid.starts_with("99.") {
                        if p.reference.ends_with(&a.laid) && !a.laid.is_empty() {
                            let elsewhere = count_bounded(&text, &a.laid) > 1;
                            let u = uses.entry(at.coord.clone()).or_default();
                            u.references.insert(base_images[bi].reference.clone());
                            u.outside_images |= elsewhere;
                            images[bi].tail_keys.push(at);
                        }
                        continue;
                    }
                    let hex = a.laid.trim_start_matches("sha256:");
                    let Some(pos) = p.reference.find(hex) else {
                        continue;
                    };
                    let before = &p.reference[..pos];
                    let (form, base) = if let Some(b) = before.strip_suffix("sha256:sha256:") {
                        (DigestForm::Bare, b)
                    } else if let Some(b) = before.strip_suffix("sha256:") {
                        // Laid with its prefix it rendered as laid; laid bare, the template adds it.
                        if a.laid.starts_with("sha256:") {
                            (DigestForm::Prefixed, b)
                        } else {
                            (DigestForm::Bare, b)
                        }
                    } else if !a.laid.starts_with("sha256:") {
                        (DigestForm::Prefixed, before)
                    } else {
                        continue;
                    };
                    let u = uses.entry(at.coord.clone()).or_default();
                    u.references.insert(base_images[bi].reference.clone());
                    // A digest may render in a field of its own (a custom
                    // resource's `sha:`), not in labels or annotations.
                    u.outside_images |= in_metadata(&text, hex);
                    images[bi].digest_keys.push(DigestKey {
                        at,
                        form,
                        rendered_base: format!("{base}{}", &p.reference[pos + hex.len()..]),
                    });
                }
            }
        }
    }
    tracing::debug!(
        chart = %chart.root.display(),
        markers = assigns.len(),
        digest_keys = second.len(),
        renders = r.renders,
        dropped = r.dropped,
        "probed the render"
    );
    Ok(Probe {
        baseline,
        images,
        renders: r.renders,
        uses,
        dropped: r.dropped,
        overrides,
        sets_as_given: probe_spec.sets.clone(),
    })
}

/// How often `m` occurs in `text` as a whole marker (not as the start of a longer one).
fn count_bounded(text: &str, m: &str) -> usize {
    let b = text.as_bytes();
    text.match_indices(m)
        .filter(|(i, _)| {
            let e = i + m.len();
            e >= b.len() || !b[e].is_ascii_digit()
        })
        .count()
}

/// Whether `needle` occurs in a `labels:`, `matchLabels:` or
/// `annotations:` block of the stream.
fn in_metadata(text: &str, needle: &str) -> bool {
    let lines: Vec<&str> = text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    lines.iter().enumerate().any(|(n, l)| {
        if !l.contains(needle) {
            return false;
        }
        let me = indent(l);
        // The nearest line above with less indentation is the parent key.
        lines[..n]
            .iter()
            .rev()
            .take(200)
            .find(|p| !p.trim().is_empty() && indent(p) < me)
            .is_some_and(|p| {
                let k = p.trim().trim_start_matches("- ");
                matches!(k, "labels:" | "matchLabels:" | "annotations:")
            })
    })
}

/// The markers in `s` with their byte offsets, in order.
fn markers_in<'s>(s: &'s str, known: &HashMap<&str, &Assign>) -> Vec<(&'s str, usize)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 3 < b.len() {
        // A version marker: `99.<n>.77`, `v` kept, digits not running on.
        if b[i..].starts_with(b"99.") && (i == 0 || !b[i - 1].is_ascii_digit()) {
            let mut j = i + 3;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if b[j..].starts_with(b".77") && (j + 3 >= b.len() || !b[j + 3].is_ascii_digit()) {
                let start = if i > 0 && b[i - 1] == b'v' { i - 1 } else { i };
                let m = &s[start..j + 3];
                let m = if known.contains_key(m) {
                    m
                } else {
                    &s[i..j + 3]
                };
                if known.contains_key(m) {
                    out.push((m, if m.starts_with('v') { start } else { i }));
                    i = j + 3;
                    continue;
                }
            }
        }
        // A number marker: a whole run of digits that is a known marker.
        if b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_digit()) {
            let mut j = i;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j - i >= 5 && known.contains_key(&s[i..j]) {
                out.push((&s[i..j], i));
                i = j;
                continue;
            }
        }
        if &b[i..i + 2] == b"zq" && b[i + 2].is_ascii_digit() {
            let mut j = i + 2;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j < b.len() && b[j] == b'k' {
                out.push((&s[i..=j], i));
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests;
