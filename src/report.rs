//! Renderers of findings: human, JSON, SARIF, GitHub workflow commands, Markdown.
//!
//! One [`Format`] enum, one renderer each; every command reports through here
//! so a finding reads the same whichever command produced it. Renderers write
//! to `&mut dyn Write` and never decide the exit status (that is
//! [`crate::diag::Exit::from_findings`]). Paths are shown relative to a base
//! directory when they lie under it, so CI annotations and SARIF URIs point
//! at repository files rather than at the runner's checkout path.
//!
//! The JSON and SARIF shapes are documented in `docs/lint.md` and are stable:
//! fields may be added, never renamed or removed.

pub mod pin;
pub mod release;
pub mod verify;

pub use pin::{edits_diff, unified_diff};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use anstyle::{AnsiColor, Style};
use serde::Serialize;

use crate::diag::{Code, Finding, Severity};
pub use crate::source::Sources;
use crate::source::{LineCol, Position, SourceFile};
use crate::terminal::{Escaped, EscapingWriter, escape};

/// Output format for findings and summaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `file:line:col` with the source line and a marker; colour on a terminal.
    Human,
    /// One JSON document: `schema_version`, `command`, `summary`, `findings` (docs/json.md).
    Json,
    /// SARIF 2.1.0, for GitHub code scanning and other SARIF consumers.
    Sarif,
    /// GitHub Actions workflow commands (`::error file=…,line=…::…`).
    Github,
}

impl Format {
    /// The default: `github` inside GitHub Actions (`GITHUB_ACTIONS=true`), else `human`.
    pub fn default_for_env() -> Format {
        if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
            Format::Github
        } else {
            Format::Human
        }
    }
}

/// Where the SARIF `tool.driver.informationUri` points.
pub const INFORMATION_URI: &str = match option_env!("CARGO_PKG_REPOSITORY") {
    Some(r) if !r.is_empty() => r,
    _ => "https://github.com/chartpin/chartpin",
};

/// The SARIF 2.1.0 schema URI written as `$schema`.
pub const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// How to render: the base directory paths are made relative to, colour,
/// where source lines come from.
#[derive(Debug, Clone)]
pub struct RenderOptions<'a> {
    /// Paths under this directory are shown relative to it (SARIF URIs, annotations).
    pub base: Option<PathBuf>,
    /// ANSI colour in the human format; see [`color_for_stdout`].
    pub color: bool,
    /// The texts positions are worked out from (files in memory, files as
    /// read before a command rewrote them); other files are read from disk.
    pub sources: Option<&'a Sources<'a>>,
    /// How many files were checked, for the summary; `None` when unknown.
    pub files_checked: Option<usize>,
}

impl Default for RenderOptions<'_> {
    fn default() -> Self {
        RenderOptions {
            base: std::env::current_dir().ok(),
            color: false,
            sources: None,
            files_checked: None,
        }
    }
}

/// Whether to colour what goes to standard output. anstream decides: the
/// `--color` choice when it is `always` or `never` (the CLI sets it with
/// [`anstream::ColorChoice::write_global`]); for `auto`, never with `NO_COLOR`
/// set non-empty (<https://no-color.org>), always with `CLICOLOR_FORCE` set
/// non-empty (anstream reads `CLICOLOR_FORCE=0` as set too), never with
/// `CLICOLOR=0`, else only on a terminal (<https://bixense.com/clicolors/>).
pub fn color_for_stdout() -> bool {
    anstream::AutoStream::choice(&io::stdout()) != anstream::ColorChoice::Never
}

/// Render `findings` in `format`.
pub fn render(
    format: Format,
    findings: &[Finding],
    opts: &RenderOptions<'_>,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Human => render_human(findings, opts, out),
        Format::Json => render_json(findings, opts, out),
        Format::Sarif => render_sarif(findings, opts, out),
        Format::Github => render_github(findings, opts, &mut EscapingWriter::new(out)),
    }
}

/// `path` relative to `base` when it lies under it, with `./` components
/// dropped; otherwise as given. Never touches the file system.
pub fn relative_path(path: &Path, base: Option<&Path>) -> PathBuf {
    let cleaned: PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    if let Some(base) = base
        && cleaned.is_absolute()
        && let Ok(rel) = cleaned.strip_prefix(base)
        && !rel.as_os_str().is_empty()
    {
        return rel.to_path_buf();
    }
    if cleaned.as_os_str().is_empty() {
        return path.to_path_buf();
    }
    cleaned
}

/// A path for output: relative when possible, `/`-separated.
fn shown_path(path: &Path, opts: &RenderOptions<'_>) -> String {
    let rel = relative_path(path, opts.base.as_deref());
    let s = rel.to_string_lossy();
    if std::path::MAIN_SEPARATOR == '\\' {
        s.replace('\\', "/")
    } else {
        s.into_owned()
    }
}

/// The texts a render works lines and columns out from: the options'
/// [`Sources`], then, for a file not among them, the file on disk (read once).
struct Texts<'a> {
    sources: Option<&'a Sources<'a>>,
    disk: HashMap<PathBuf, Option<SourceFile>>,
}

impl<'a> Texts<'a> {
    fn new(findings: &[Finding], opts: &RenderOptions<'a>) -> Self {
        let mut disk = HashMap::new();
        for loc in findings.iter().filter_map(|f| f.location.as_ref()) {
            let file: &Path = &loc.file;
            if loc.position.is_none()
                || opts.sources.is_some_and(|s| s.text_of(loc).is_some())
                || disk.contains_key(file)
            {
                continue;
            }
            let text = std::fs::read_to_string(file)
                .ok()
                .map(|t| SourceFile::new(file, t));
            disk.insert(file.to_path_buf(), text);
        }
        Texts {
            sources: opts.sources,
            disk,
        }
    }

    fn on_disk(&self, file: &Path) -> Option<&SourceFile> {
        self.disk.get(file).and_then(Option::as_ref)
    }

    /// The text of `file` to show lines of: the last one the sources hold.
    fn get(&self, file: &Path) -> Option<&SourceFile> {
        self.sources
            .and_then(|s| s.get(file))
            .or_else(|| self.on_disk(file))
    }

    /// The finding's 1-based line and column, worked out in the text its
    /// position was taken in; `None` without a position or a known text.
    fn line_col(&self, f: &Finding) -> Option<LineCol> {
        let loc = f.location.as_ref()?;
        let start = loc.position?.start();
        let text = self
            .sources
            .and_then(|s| s.text_of(loc))
            .or_else(|| self.on_disk(&loc.file))?;
        Some(text.line_col(start))
    }

    /// `(line, column)`, `(0, 0)` for a finding without a position.
    fn numbers(&self, f: &Finding) -> (usize, usize) {
        self.line_col(f).map_or((0, 0), |lc| (lc.line, lc.column))
    }
}

/// Counts over a list of findings, for every format's summary.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub total: usize,
    pub errors: usize,
    pub warnings: usize,
    pub notes: usize,
    /// Findings per code, keyed by the kebab-case code.
    pub by_code: BTreeMap<String, usize>,
    /// Distinct files that have at least one finding.
    pub files_with_findings: usize,
    /// Files checked, when the command knows.
    pub files_checked: Option<usize>,
}

impl Summary {
    pub fn of(findings: &[Finding], files_checked: Option<usize>) -> Summary {
        let mut s = Summary {
            files_checked,
            ..Summary::default()
        };
        let mut files = BTreeSet::new();
        for f in findings {
            s.total += 1;
            match f.severity {
                Severity::Error => s.errors += 1,
                Severity::Warning => s.warnings += 1,
                Severity::Note => s.notes += 1,
            }
            *s.by_code.entry(f.code.as_str().to_string()).or_default() += 1;
            if let Some(file) = f.file() {
                files.insert(file.to_path_buf());
            }
        }
        s.files_with_findings = files.len();
        s
    }

    /// `2 errors, 1 warning in 2 files` or `no findings`.
    pub fn sentence(&self) -> String {
        if self.total == 0 {
            return match self.files_checked {
                Some(n) => format!("no findings ({} checked)", plural(n, "file")),
                None => "no findings".to_string(),
            };
        }
        let mut parts = Vec::new();
        if self.errors > 0 {
            parts.push(plural(self.errors, "error"));
        }
        if self.warnings > 0 {
            parts.push(plural(self.warnings, "warning"));
        }
        if self.notes > 0 {
            parts.push(plural(self.notes, "note"));
        }
        let mut s = parts.join(", ");
        if self.files_with_findings > 0 {
            s.push_str(&format!(" in {}", plural(self.files_with_findings, "file")));
        }
        if let Some(n) = self.files_checked {
            s.push_str(&format!(" ({} checked)", plural(n, "file")));
        }
        s
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

// ---------------------------------------------------------------- human

struct Palette {
    on: bool,
}

impl Palette {
    /// `text` shown escaped ([`crate::terminal`]), in `style` when colour is on.
    fn paint(&self, style: Style, text: &str) -> String {
        let text = escape(text);
        if self.on {
            format!("{style}{text}{style:#}")
        } else {
            text.into_owned()
        }
    }
    fn severity(&self, s: Severity) -> Style {
        severity_style(s)
    }
}

const BOLD: Style = Style::new().bold();
/// The line-number gutter of a source snippet.
const GUTTER: Style = Style::new()
    .bold()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Blue)));

/// The style of a severity word in human output (bold red, yellow, cyan).
pub fn severity_style(s: Severity) -> Style {
    let color = match s {
        Severity::Error => AnsiColor::Red,
        Severity::Warning => AnsiColor::Yellow,
        Severity::Note => AnsiColor::Cyan,
    };
    Style::new().bold().fg_color(Some(color.into()))
}

/// `file:line:col: severity[code]: message`, then the source line with a
/// marker under the span (or the column), then a one-line summary.
pub fn render_human(
    findings: &[Finding],
    opts: &RenderOptions<'_>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let pal = Palette { on: opts.color };
    let texts = Texts::new(findings, opts);
    for f in findings {
        let at = texts.line_col(f);
        let mut loc = String::new();
        if let Some(file) = f.file() {
            loc.push_str(&shown_path(file, opts));
            if let Some(lc) = at {
                loc.push_str(&format!(":{lc}"));
            }
            loc.push_str(": ");
        }
        let sev = f.severity.as_str();
        writeln!(
            out,
            "{}{}: {}",
            pal.paint(BOLD, &loc),
            pal.paint(pal.severity(f.severity), &format!("{sev}[{}]", f.code)),
            pal.paint(BOLD, &f.message)
        )?;
        if let (Some(file), Some(lc)) = (f.file(), at)
            && let Some(src) = texts.get(file)
        {
            write_snippet(f, lc, src, &pal, out)?;
        }
        let mut notes = Vec::new();
        if let Some(p) = &f.path {
            notes.push(format!("at {p}"));
        }
        if let Some(i) = &f.image {
            notes.push(format!("image {i}"));
        }
        if !notes.is_empty() {
            writeln!(out, "  = {}", Escaped(&notes.join(", ")))?;
        }
    }
    let summary = Summary::of(findings, opts.files_checked);
    let sentence = summary.sentence();
    let colour = if summary.errors > 0 {
        severity_style(Severity::Error)
    } else if summary.warnings > 0 {
        severity_style(Severity::Warning)
    } else {
        BOLD.fg_color(Some(AnsiColor::Green.into()))
    };
    writeln!(out, "{}", pal.paint(colour, &sentence))
}

fn write_snippet(
    f: &Finding,
    at: LineCol,
    src: &SourceFile,
    pal: &Palette,
    out: &mut dyn Write,
) -> io::Result<()> {
    let line = src.line_text(at.line);
    if line.is_empty() && at.line > src.index().line_count() {
        return Ok(());
    }
    let gutter = at.line.to_string().len();
    // The marker lines up with the line as shown, control characters escaped.
    let before: String = line.chars().take(at.column.saturating_sub(1)).collect();
    let pad: String = escape(&before)
        .chars()
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    // Underline the span's characters on this line; with only a start
    // (verify, release and manifests know where a scalar starts), the
    // scalar at the column. At least one marker.
    let width = match f.location.as_ref().and_then(|l| l.position) {
        Some(Position::Span(s)) => src
            .text
            .get(s.range())
            .map(|t| escape(t.lines().next().unwrap_or("")).chars().count())
            .unwrap_or(1),
        _ => scalar_width(line, at.column),
    }
    .max(1);
    let bar = pal.paint(GUTTER, "|");
    writeln!(out, "{:gutter$} {bar}", "")?;
    writeln!(
        out,
        "{} {bar} {}",
        pal.paint(GUTTER, &at.line.to_string()),
        Escaped(line)
    )?;
    writeln!(
        out,
        "{:gutter$} {bar} {pad}{}",
        "",
        pal.paint(pal.severity(f.severity), &"^".repeat(width))
    )
}

/// How many characters the YAML scalar starting at 1-based character
/// `column` of `line` covers: a quoted one up to and including its closing
/// quote (as lint underlines values), a plain one to the end of its token.
/// 1 when the quote does not close on this line or the column is unknown.
fn scalar_width(line: &str, column: usize) -> usize {
    if column == 0 {
        return 1;
    }
    let chars: Vec<char> = line.chars().skip(column.saturating_sub(1)).collect();
    match chars.first() {
        Some(&q @ ('"' | '\'')) => {
            let mut i = 1;
            while i < chars.len() {
                match chars[i] {
                    '\\' if q == '"' => i += 2,
                    '\'' if q == '\'' && chars.get(i + 1) == Some(&'\'') => i += 2,
                    c if c == q => return i + 1,
                    _ => i += 1,
                }
            }
            1
        }
        _ => chars
            .iter()
            .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | ']' | '}'))
            .count(),
    }
}

// ---------------------------------------------------------------- json

/// One finding in the JSON format. Field names are part of the stable interface.
#[derive(Serialize)]
struct JsonFinding<'a> {
    code: Code,
    severity: Severity,
    message: &'a str,
    file: Option<String>,
    line: usize,
    column: usize,
    path: Option<&'a str>,
    image: Option<&'a str>,
}

/// The version of the JSON envelope: bumped when a field is renamed or
/// removed or changes type (fields may be added within a version).
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// What a command counted besides findings. Every command's JSON `summary`
/// carries every one of these keys with the same type; a command that does
/// not do that work reports 0 (or `false`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Image sites whose digest was (or would be) written.
    pub pinned: usize,
    /// Files that change (or would).
    pub changed_files: usize,
    /// Whether the command wrote files.
    pub written: bool,
    /// Distinct pinned references asked of a registry.
    pub checked: usize,
    /// Distinct pinned references a registry proved.
    pub verified: usize,
    /// References without a digest, so not verified.
    pub unpinned: usize,
    /// Tags looked up and turned into digests.
    pub resolved: usize,
}

/// The JSON `summary`: [`Summary`] with `files_checked` always a number,
/// then the [`Counts`].
#[derive(Serialize)]
struct JsonSummary {
    total: usize,
    errors: usize,
    warnings: usize,
    notes: usize,
    by_code: BTreeMap<String, usize>,
    files_with_findings: usize,
    files_checked: usize,
    #[serde(flatten)]
    counts: Counts,
}

/// Every command's JSON document: `schema_version`, `command`, `summary`,
/// `findings`, then the command's own fields (`data`, flattened). The shape
/// is documented in `docs/json.md` and `docs/chartpin.schema.json`.
#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    schema_version: u32,
    command: &'a str,
    summary: JsonSummary,
    findings: Vec<JsonFinding<'a>>,
    #[serde(flatten)]
    data: &'a T,
}

/// A command's own JSON fields: none.
#[derive(Serialize)]
pub struct NoData {}

/// Render `findings` as `lint`'s JSON document (the command whose output is
/// findings alone); see [`render_json_document`].
pub fn render_json(
    findings: &[Finding],
    opts: &RenderOptions<'_>,
    out: &mut dyn Write,
) -> io::Result<()> {
    render_json_document("lint", findings, &Counts::default(), &NoData {}, opts, out)
}

/// `command`'s JSON document: the envelope around `findings`, `counts`
/// and `data`, pretty-printed, ending with a newline.
pub fn render_json_document<T: Serialize>(
    command: &str,
    findings: &[Finding],
    counts: &Counts,
    data: &T,
    opts: &RenderOptions<'_>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let s = Summary::of(findings, opts.files_checked);
    let texts = Texts::new(findings, opts);
    let doc = Envelope {
        schema_version: JSON_SCHEMA_VERSION,
        command,
        summary: JsonSummary {
            total: s.total,
            errors: s.errors,
            warnings: s.warnings,
            notes: s.notes,
            by_code: s.by_code,
            files_with_findings: s.files_with_findings,
            files_checked: s.files_checked.unwrap_or(0),
            counts: counts.clone(),
        },
        findings: findings
            .iter()
            .map(|f| {
                let (line, column) = texts.numbers(f);
                JsonFinding {
                    code: f.code,
                    severity: f.severity,
                    message: &f.message,
                    file: f.file().map(|p| shown_path(p, opts)),
                    line,
                    column,
                    path: f.path.as_deref(),
                    image: f.image.as_deref(),
                }
            })
            .collect(),
        data,
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

// ---------------------------------------------------------------- sarif

/// The subset of the SARIF 2.1.0 object model chartpin writes. Names follow
/// the specification (OASIS SARIF 2.1.0, §3); optional parts are omitted
/// rather than written empty, as GitHub code scanning prefers.
pub mod sarif {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    pub struct Log {
        #[serde(rename = "$schema")]
        pub schema: String,
        pub version: String,
        pub runs: Vec<Run>,
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct Run {
        pub tool: Tool,
        pub results: Vec<SarifResult>,
        pub column_kind: String,
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    pub struct Tool {
        pub driver: Driver,
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct Driver {
        pub name: String,
        pub version: String,
        pub semantic_version: String,
        pub information_uri: String,
        pub rules: Vec<Rule>,
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct Rule {
        pub id: String,
        pub name: String,
        pub short_description: Message,
        pub full_description: Message,
        pub default_configuration: Configuration,
        pub help: Message,
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    pub struct Configuration {
        pub level: String,
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    pub struct Message {
        pub text: String,
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct SarifResult {
        pub rule_id: String,
        pub rule_index: usize,
        pub level: String,
        pub message: Message,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub locations: Vec<Location>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub properties: Option<ResultProperties>,
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct ResultProperties {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub yaml_path: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub image: Option<String>,
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct Location {
        pub physical_location: PhysicalLocation,
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct PhysicalLocation {
        pub artifact_location: ArtifactLocation,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub region: Option<Region>,
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct ArtifactLocation {
        pub uri: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub uri_base_id: Option<String>,
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct Region {
        pub start_line: usize,
        pub start_column: usize,
    }
}

/// The SARIF `level` for a severity.
fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

/// Percent-encode what a relative URI reference cannot hold literally
/// (RFC 3986 `pchar` plus `/`), so paths with spaces stay valid URIs.
fn uri_encode(path: &str) -> String {
    let mut s = String::with_capacity(path.len());
    for b in path.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'/'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b'@'
            );
        if keep {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// The SARIF log for `findings`, as the typed model.
pub fn sarif_log(findings: &[Finding], opts: &RenderOptions<'_>) -> sarif::Log {
    use sarif::*;
    let used: BTreeSet<Code> = findings.iter().map(|f| f.code).collect();
    let rules: Vec<Rule> = used
        .iter()
        .map(|c| Rule {
            id: c.as_str().to_string(),
            name: c.as_str().to_string(),
            short_description: Message {
                text: c.description().to_string(),
            },
            full_description: Message {
                text: c.description().to_string(),
            },
            default_configuration: Configuration {
                level: sarif_level(c.default_severity()).to_string(),
            },
            help: Message {
                text: format!("See `chartpin lint` documentation for `{c}`."),
            },
        })
        .collect();
    let index: HashMap<Code, usize> = used.iter().enumerate().map(|(i, c)| (*c, i)).collect();
    let texts = Texts::new(findings, opts);
    let results = findings
        .iter()
        .map(|f| {
            let locations = f
                .file()
                .map(|file| {
                    let shown = shown_path(file, opts);
                    let relative = !Path::new(&shown).is_absolute();
                    let uri = if relative {
                        uri_encode(&shown)
                    } else {
                        format!("file://{}", uri_encode(&shown))
                    };
                    vec![Location {
                        physical_location: PhysicalLocation {
                            artifact_location: ArtifactLocation {
                                uri,
                                uri_base_id: relative.then(|| "%SRCROOT%".to_string()),
                            },
                            region: texts.line_col(f).map(|lc| Region {
                                start_line: lc.line,
                                start_column: lc.column.max(1),
                            }),
                        },
                    }]
                })
                .unwrap_or_default();
            let properties = (f.path.is_some() || f.image.is_some()).then(|| ResultProperties {
                yaml_path: f.path.clone(),
                image: f.image.clone(),
            });
            SarifResult {
                rule_id: f.code.as_str().to_string(),
                rule_index: index[&f.code],
                level: sarif_level(f.severity).to_string(),
                message: Message {
                    text: f.message.clone(),
                },
                locations,
                properties,
            }
        })
        .collect();
    Log {
        schema: SARIF_SCHEMA.to_string(),
        version: "2.1.0".to_string(),
        runs: vec![Run {
            tool: Tool {
                driver: Driver {
                    name: "chartpin".to_string(),
                    version: env!("CARGO_PKG_VERSION").to_string(),
                    semantic_version: env!("CARGO_PKG_VERSION").to_string(),
                    information_uri: INFORMATION_URI.to_string(),
                    rules,
                },
            },
            results,
            column_kind: "unicodeCodePoints".to_string(),
        }],
    }
}

/// SARIF 2.1.0 as GitHub code scanning accepts it, pretty-printed.
pub fn render_sarif(
    findings: &[Finding],
    opts: &RenderOptions<'_>,
    out: &mut dyn Write,
) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &sarif_log(findings, opts))?;
    writeln!(out)
}

// ---------------------------------------------------------------- github

/// Escape a workflow command's message (data): `%`, CR, LF.
pub fn github_escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escape a workflow command property value: as data, plus `:` and `,`.
pub fn github_escape_property(s: &str) -> String {
    github_escape_data(s)
        .replace(':', "%3A")
        .replace(',', "%2C")
}

/// One workflow command a line: `::error file=…,line=…,col=…,title=CODE::message`.
/// Notes become `::notice`. The summary goes last as a plain (non-command) line.
pub fn render_github(
    findings: &[Finding],
    opts: &RenderOptions<'_>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let texts = Texts::new(findings, opts);
    for f in findings {
        let command = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "notice",
        };
        let mut props = Vec::new();
        if let Some(file) = f.file() {
            props.push(format!(
                "file={}",
                github_escape_property(&shown_path(file, opts))
            ));
            if let Some(lc) = texts.line_col(f) {
                props.push(format!("line={}", lc.line));
                props.push(format!("col={}", lc.column.max(1)));
            }
        }
        props.push(format!("title={}", github_escape_property(f.code.as_str())));
        let mut message = f.message.clone();
        if let Some(p) = &f.path {
            message.push_str(&format!(" (at {p})"));
        }
        writeln!(
            out,
            "::{command} {}::{}",
            props.join(","),
            github_escape_data(&message)
        )?;
    }
    writeln!(
        out,
        "chartpin: {}",
        Summary::of(findings, opts.files_checked).sentence()
    )
}

// ---------------------------------------------------------------- markdown

/// Untrusted text as Markdown that GitHub shows as that text: the job
/// summary is read as Markdown with inline HTML, so a key or message
/// holding `<img src=…>`, `[x](…)`, `**`, a backtick or a `|` would
/// otherwise become an element, a link, emphasis, code or a new table
/// cell. Every character with inline meaning is backslash-escaped (GFM
/// allows it before any ASCII punctuation), control characters are shown
/// as [`escape`] shows them, and line breaks become `<br>`.
pub fn markdown_text(s: &str) -> String {
    let s = escape(s);
    let mut out = String::with_capacity(s.len() + 8);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '!' | '|' | '~' | '&' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => out.push_str("<br>"),
            c => out.push(c),
        }
    }
    out
}

/// Untrusted text as a Markdown code span showing it literally: fenced by
/// one more backtick than its longest run of them (padded when it starts
/// or ends with one), `|` escaped so that a table cell does not split
/// (GFM splits cells before it reads code spans), control characters
/// shown as [`escape`] shows them, and a line break as a space (a code
/// span holds one line).
pub fn markdown_code(s: &str) -> String {
    let s = escape(s)
        .replace("\r\n", " ")
        .replace('\n', " ")
        .replace('|', "\\|");
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// A GitHub-flavoured Markdown table of cells that are Markdown already
/// (made by [`markdown_text`] or [`markdown_code`]). Rows shorter than
/// `headers` are padded with empty cells; longer rows are cut (a table
/// cannot grow columns).
pub fn render_markdown_table(
    headers: &[&str],
    rows: &[Vec<String>],
    out: &mut dyn Write,
) -> io::Result<()> {
    let line = |cells: Vec<String>| format!("| {} |", cells.join(" | "));
    writeln!(
        out,
        "{}",
        line(headers.iter().map(|h| markdown_text(h)).collect())
    )?;
    writeln!(
        out,
        "{}",
        line(headers.iter().map(|_| "---".to_string()).collect())
    )?;
    for row in rows {
        let cells = (0..headers.len())
            .map(|i| row.get(i).cloned().unwrap_or_default())
            .collect();
        writeln!(out, "{}", line(cells))?;
    }
    Ok(())
}

/// Findings as a Markdown summary: a count line and a table of findings.
pub fn render_markdown(
    findings: &[Finding],
    opts: &RenderOptions<'_>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let summary = Summary::of(findings, opts.files_checked);
    writeln!(out, "**chartpin**: {}", summary.sentence())?;
    if findings.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    let texts = Texts::new(findings, opts);
    let rows: Vec<Vec<String>> = findings
        .iter()
        .map(|f| {
            let mut loc = f.file().map(|p| shown_path(p, opts)).unwrap_or_default();
            if let Some(lc) = texts.line_col(f) {
                loc.push_str(&format!(":{lc}"));
            }
            vec![
                f.severity.as_str().to_string(),
                markdown_code(f.code.as_str()),
                markdown_text(&loc),
                f.image.as_deref().map(markdown_code).unwrap_or_default(),
                markdown_text(&f.message),
            ]
        })
        .collect();
    render_markdown_table(
        &["severity", "code", "location", "image", "message"],
        &rows,
        out,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Span;

    fn opts() -> RenderOptions<'static> {
        RenderOptions {
            base: Some(PathBuf::from("/repo")),
            color: false,
            sources: None,
            files_checked: None,
        }
    }

    #[test]
    fn paths_are_made_relative_to_the_base_only_when_under_it() {
        let base = Some(Path::new("/repo"));
        assert_eq!(
            relative_path(Path::new("/repo/charts/a/values.yaml"), base),
            PathBuf::from("charts/a/values.yaml")
        );
        assert_eq!(
            relative_path(Path::new("/elsewhere/values.yaml"), base),
            PathBuf::from("/elsewhere/values.yaml")
        );
        assert_eq!(
            relative_path(Path::new("./chart/values.yaml"), base),
            PathBuf::from("chart/values.yaml")
        );
    }

    #[test]
    fn github_escaping_follows_the_workflow_command_rules() {
        assert_eq!(github_escape_data("50% a\r\nb: c,d"), "50%25 a%0D%0Ab: c,d");
        assert_eq!(
            github_escape_property("a:b,c%\n"),
            "a%3Ab%2Cc%25%0A".to_string()
        );
    }

    #[test]
    fn human_marker_spans_the_site() {
        let mut sources = Sources::new();
        let src = SourceFile::new("/repo/values.yaml", "image:\n  tag: \"1.2.3\"\n");
        let start = src.text.find('"').unwrap();
        let f = Finding::new(Code::MutableTag, "m").at(&src, Span::new(start, start + 7));
        sources.insert(src);
        let o = RenderOptions {
            sources: Some(&sources),
            ..opts()
        };
        let mut out = Vec::new();
        render_human(&[f], &o, &mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert_eq!(
            s,
            "values.yaml:2:8: error[mutable-tag]: m\n  |\n2 |   tag: \"1.2.3\"\n  |        ^^^^^^^\n1 error in 1 file\n"
        );
    }

    #[test]
    fn human_marker_without_a_span_covers_the_scalar_at_the_column() {
        let text = "a: \"sha256:ab\"  # c\nb: 'it''s' x\nc: nginx:1@sha256:ab # c\nd: [x:1, y]\ne: \"open\n";
        let mut sources = Sources::new();
        let src = SourceFile::new("/repo/values.yaml", text);
        sources.insert(src.clone());
        let o = RenderOptions {
            sources: Some(&sources),
            ..opts()
        };
        let marker = |line: usize, column: usize| {
            let at = crate::source::Location::starting(&src, src.offset_of(line, column));
            let f = Finding::new(Code::DigestNotFound, "m").located(at);
            let mut out = Vec::new();
            render_human(&[f], &o, &mut out).unwrap();
            let s = String::from_utf8(out).unwrap();
            s.lines()
                .nth(3)
                .unwrap()
                .trim_start_matches([' ', '|'])
                .to_string()
        };
        assert_eq!(marker(1, 4), "^".repeat("\"sha256:ab\"".len()));
        assert_eq!(marker(2, 4), "^".repeat("'it''s'".len()));
        assert_eq!(marker(3, 4), "^".repeat("nginx:1@sha256:ab".len()));
        assert_eq!(marker(4, 5), "^".repeat("x:1".len()));
        assert_eq!(marker(5, 4), "^");
        assert_eq!(scalar_width("x: \"a\\\"b\" y", 4), 6);
        assert_eq!(scalar_width("x: y", 0), 1);
    }

    #[test]
    fn markdown_table_pads_short_rows_and_cuts_long_ones() {
        let mut out = Vec::new();
        render_markdown_table(
            &["a", "b"],
            &[
                vec![markdown_text("x|y")],
                vec!["1".into(), markdown_text("2\n3"), "cut".into()],
            ],
            &mut out,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "| a | b |\n| --- | --- |\n| x\\|y |  |\n| 1 | 2<br>3 |\n"
        );
    }

    #[test]
    fn markdown_text_leaves_no_element_link_emphasis_or_cell_break() {
        let cases = [
            ("web.image", "web.image"),
            (
                "<img src=x onerror=alert(1)>",
                "\\<img src=x onerror=alert(1)\\>",
            ),
            ("[click](https://evil)", "\\[click\\](https://evil)"),
            ("**bold** _it_ ~s~", "\\*\\*bold\\*\\* \\_it\\_ \\~s\\~"),
            ("a|b `c` \\d", "a\\|b \\`c\\` \\\\d"),
            ("&lt; ![i](x) #1", "\\&lt; \\!\\[i\\](x) \\#1"),
            ("one\r\ntwo\nthree", "one<br>two<br>three"),
            ("\x1b]0;t\x07", "\\\\x1b\\]0;t\\\\x07"),
        ];
        for (text, want) in cases {
            assert_eq!(markdown_text(text), want, "{text:?}");
        }
    }

    #[test]
    fn markdown_code_shows_its_text_literally_in_one_cell() {
        let cases = [
            ("nginx:1.25", "`nginx:1.25`"),
            ("a`b", "``a`b``"),
            ("`x``", "``` `x`` ```"),
            ("a|b", "`a\\|b`"),
            ("two\nlines", "`two lines`"),
            ("\x1b[2J", "`\\x1b[2J`"),
        ];
        for (text, want) in cases {
            assert_eq!(markdown_code(text), want, "{text:?}");
        }
    }

    #[test]
    fn sarif_uri_encodes_spaces_and_keeps_slashes() {
        assert_eq!(uri_encode("my chart/values.yaml"), "my%20chart/values.yaml");
    }
}
