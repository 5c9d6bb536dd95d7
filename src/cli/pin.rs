//! `chartpin pin`: wiring from flags to [`crate::pin`]: find the chart's
//! values files (refusing any outside the chart), read manifests and config,
//! plan the edits, then print a summary or diff and write atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::{ChartArgs, FormatArgs};
use crate::config::Config;
use crate::diag::{Code, Exit, InputError};
use crate::manifest::{self, ManifestFormat};
use crate::pin::{self, FilePlan, PinOptions, PinOutcome};
use crate::report::Format;
use crate::source::SourceFile;
use crate::values::ValuesFile;

#[derive(Debug, Clone, Args)]
pub struct PinArgs {
    #[command(flatten)]
    pub charts: ChartArgs,
    /// Digest manifest produced by the release build. Repeatable; entries merge.
    #[arg(long = "digests", value_name = "FILE")]
    pub digests: Vec<PathBuf>,
    /// Read the manifests as this format instead of detecting it.
    #[arg(long = "digests-format", value_name = "FORMAT")]
    pub digests_format: Option<String>,
    /// Values file to pin, relative to the chart (default: values.yaml). Repeatable.
    #[arg(long = "values", value_name = "FILE")]
    pub values: Vec<PathBuf>,
    /// Configuration file (default: .chartpin.yaml beside Chart.yaml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print a unified diff of what would change and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write nothing; exit 1 if any file would change.
    #[arg(long)]
    pub check: bool,
    /// Also print a unified diff of what was written.
    #[arg(long)]
    pub diff: bool,
    /// Exit 1 when an image has no manifest entry or an entry matches no image.
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub format: FormatArgs,
}

/// One chart's values files, read and checked to lie inside the chart.
struct ChartValues {
    chart: PathBuf,
    /// (path as shown, real path to write, parsed file)
    files: Vec<(PathBuf, PathBuf, ValuesFile)>,
}

/// Resolve `--values` (or `values.yaml`) inside `chart`; a path or symlink
/// that leads outside the chart is an input error.
fn read_chart_values(chart: &Path, values: &[PathBuf]) -> anyhow::Result<ChartValues> {
    let chart_real = chart
        .canonicalize()
        .with_context(|| format!("chart directory {} cannot be read", chart.display()))?;
    if !chart_real.is_dir() {
        anyhow::bail!(InputError::file(chart, "is not a chart directory"));
    }
    let names: Vec<PathBuf> = if values.is_empty() {
        vec![PathBuf::from("values.yaml")]
    } else {
        values.to_vec()
    };
    let mut files = Vec::new();
    for name in names {
        let shown = if name.is_absolute() {
            name.clone()
        } else {
            chart.join(&name)
        };
        let real = shown
            .canonicalize()
            .map_err(|e| InputError::file(&shown, format!("cannot read values file: {e}")))?;
        if !real.starts_with(&chart_real) {
            anyhow::bail!(InputError::file(
                &shown,
                format!(
                    "values file resolves to {}, outside the chart {}; refusing to read or write it",
                    real.display(),
                    chart_real.display()
                )
            ));
        }
        let text = std::fs::read_to_string(&real)
            .map_err(|e| InputError::file(&shown, format!("cannot read values file: {e}")))?;
        let vf = ValuesFile::parse(&shown, text)?;
        files.push((shown, real, vf));
    }
    Ok(ChartValues {
        chart: chart.to_path_buf(),
        files,
    })
}

/// Write `text` to `path` atomically: a temporary file in the same directory,
/// the original's permissions, then a rename over it.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("values");
    let perms = std::fs::metadata(path)?.permissions();
    let mut attempt = 0;
    let (tmp, mut file) = loop {
        let tmp = dir.join(format!(
            ".{name}.chartpin-{}-{attempt}.tmp",
            std::process::id()
        ));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    };
    let result = (|| {
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        drop(file);
        std::fs::set_permissions(&tmp, perms)?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A unified diff of one file's change.
pub fn unified_diff(path: &Path, old: &str, new: &str) -> String {
    let shown = path.display().to_string();
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("a/{}", shown.trim_start_matches('/')),
            &format!("b/{}", shown.trim_start_matches('/')),
        )
        .to_string()
}

pub fn run(args: PinArgs) -> anyhow::Result<Exit> {
    if args.digests.is_empty() {
        anyhow::bail!("`chartpin pin` needs at least one --digests FILE");
    }
    let format = match &args.digests_format {
        Some(f) => Some(f.parse::<ManifestFormat>().map_err(anyhow::Error::msg)?),
        None => None,
    };
    let charts = args.charts.all();
    // Read and check everything before anything is written.
    let mut prepared = Vec::new();
    for chart in &charts {
        let values = read_chart_values(chart, &args.values)?;
        let config = Config::load(chart, args.config.as_deref())?;
        prepared.push((values, config));
    }
    let manifest = manifest::read_manifests(&args.digests, format)?;
    let mut outcomes = Vec::new();
    for (values, config) in &prepared {
        let opts = PinOptions {
            sha_format: pin::sha_format_from_templates(&values.chart),
            subchart_sha_formats: pin::subchart_sha_formats(&values.chart),
            config: config.clone(),
        };
        let parsed: Vec<ValuesFile> = values.files.iter().map(|(_, _, v)| v.clone()).collect();
        outcomes.push(pin::pin(&parsed, &manifest, &opts)?);
    }
    // An entry is unmatched only if no chart used it.
    let unmatched_entries: Vec<_> = manifest
        .entries
        .iter()
        .filter(|e| outcomes.iter().all(|o| o.unmatched_entries.contains(e)))
        .cloned()
        .collect();

    let mut out = std::io::stdout().lock();
    let json = args.format.resolve() == Format::Json;
    let mut pending = 0;
    for ((values, _), outcome) in prepared.iter().zip(&outcomes) {
        for ((shown, real, vf), plan) in values.files.iter().zip(&outcome.files) {
            if !plan.changed() || plan.new_text == vf.text() {
                continue;
            }
            pending += 1;
            if (args.dry_run || args.diff) && !json {
                write!(out, "{}", unified_diff(shown, vf.text(), &plan.new_text))?;
            }
            if !args.dry_run && !args.check {
                write_atomic(real, &plan.new_text)
                    .with_context(|| format!("cannot write {}", shown.display()))?;
            }
        }
    }
    let written = !args.dry_run && !args.check;
    match args.format.resolve() {
        Format::Json => {
            let show_diff = args.dry_run || args.diff;
            let doc = json_report(&prepared, &outcomes, &unmatched_entries, written, show_diff);
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
        fmt => human_report(
            &mut out,
            &prepared,
            &outcomes,
            &unmatched_entries,
            written,
            fmt == Format::Github,
        )?,
    }
    let unmatched_images: usize = outcomes
        .iter()
        .flat_map(|o| &o.files)
        .flat_map(|f| &f.unmatched_images)
        .filter(|s| !s.is_pinned())
        .count();
    if args.check && pending > 0 {
        return Ok(Exit::Findings);
    }
    if args.strict && (unmatched_images > 0 || !unmatched_entries.is_empty()) {
        return Ok(Exit::Findings);
    }
    Ok(Exit::Clean)
}

type Prepared = (ChartValues, Option<Config>);

fn human_report(
    out: &mut impl Write,
    prepared: &[Prepared],
    outcomes: &[PinOutcome],
    unmatched_entries: &[manifest::ManifestEntry],
    written: bool,
    github: bool,
) -> anyhow::Result<()> {
    let (mut pinned, mut changed_files) = (0, 0);
    for ((values, _), outcome) in prepared.iter().zip(outcomes) {
        for ((shown, _, vf), plan) in values.files.iter().zip(&outcome.files) {
            report_file(out, shown, &vf.source, plan, github)?;
            pinned += plan.pinned.iter().filter(|p| p.changed).count();
            changed_files += usize::from(plan.changed());
        }
    }
    for e in unmatched_entries {
        let msg = format!(
            "{}: manifest entry {} ({}) matches no image in the chart",
            Code::UnmatchedEntry,
            pin::entry_display(e),
            e.digest.short()
        );
        if github {
            writeln!(
                out,
                "::warning title={}::{}: {msg}",
                Code::UnmatchedEntry,
                e.origin
            )?;
        } else {
            writeln!(out, "{}: {msg}", e.origin)?;
        }
    }
    let verb = if written { "pinned" } else { "would pin" };
    writeln!(
        out,
        "{verb} {pinned} image{} in {changed_files} file{}",
        if pinned == 1 { "" } else { "s" },
        if changed_files == 1 { "" } else { "s" }
    )?;
    Ok(())
}

fn report_file(
    out: &mut impl Write,
    shown: &Path,
    source: &SourceFile,
    plan: &FilePlan,
    github: bool,
) -> std::io::Result<()> {
    for p in &plan.pinned {
        let lc = source.line_col(p.span.start);
        let what = if p.changed {
            "pinned"
        } else {
            "already pinned"
        };
        writeln!(
            out,
            "{}:{lc}: {what} {} {} @ {}",
            shown.display(),
            p.path,
            p.image,
            p.digest
        )?;
    }
    for s in &plan.skipped {
        let lc = source.line_col(s.site.span.start);
        writeln!(
            out,
            "{}:{lc}: not pinned {}: {}",
            shown.display(),
            s.site.path,
            s.reason
        )?;
    }
    for s in &plan.unmatched_images {
        let lc = source.line_col(s.span.start);
        let state = if s.is_pinned() {
            " (already pinned)"
        } else {
            ""
        };
        let msg = format!(
            "{}: {} {} has no manifest entry{state}",
            Code::UnmatchedImage,
            s.path,
            pin::site_display(s)
        );
        if github {
            writeln!(
                out,
                "::warning file={},line={},col={},title={}::{msg}",
                shown.display(),
                lc.line,
                lc.column,
                Code::UnmatchedImage
            )?;
        } else {
            writeln!(out, "{}:{lc}: {msg}", shown.display())?;
        }
    }
    Ok(())
}

fn json_report(
    prepared: &[Prepared],
    outcomes: &[PinOutcome],
    unmatched_entries: &[manifest::ManifestEntry],
    written: bool,
    show_diff: bool,
) -> serde_json::Value {
    use serde_json::json;
    let mut files = Vec::new();
    for ((values, _), outcome) in prepared.iter().zip(outcomes) {
        for ((shown, _, vf), plan) in values.files.iter().zip(&outcome.files) {
            let at = |span: crate::source::Span| {
                let lc = vf.source.line_col(span.start);
                (lc.line, lc.column)
            };
            files.push(json!({
                "file": shown.display().to_string(),
                "changed": plan.changed(),
                "diff": (show_diff && plan.changed())
                    .then(|| unified_diff(shown, vf.text(), &plan.new_text)),
                "written": written && plan.changed(),
                "pinned": plan.pinned.iter().map(|p| {
                    let (line, column) = at(p.span);
                    json!({"path": p.path.to_string(), "line": line, "column": column,
                           "image": p.image, "digest": p.digest.to_string(), "changed": p.changed})
                }).collect::<Vec<_>>(),
                "skipped": plan.skipped.iter().map(|s| {
                    let (line, column) = at(s.site.span);
                    json!({"path": s.site.path.to_string(), "line": line, "column": column, "reason": s.reason})
                }).collect::<Vec<_>>(),
                "unmatchedImages": plan.unmatched_images.iter().map(|s| {
                    let (line, column) = at(s.span);
                    json!({"code": Code::UnmatchedImage, "path": s.path.to_string(), "line": line,
                           "column": column, "image": pin::site_display(s), "pinned": s.is_pinned()})
                }).collect::<Vec<_>>(),
            }));
        }
    }
    json!({
        "files": files,
        "unmatchedEntries": unmatched_entries.iter().map(|e| json!({
            "code": Code::UnmatchedEntry, "image": pin::entry_display(e),
            "digest": e.digest.to_string(), "origin": e.origin.to_string(),
        })).collect::<Vec<_>>(),
    })
}
