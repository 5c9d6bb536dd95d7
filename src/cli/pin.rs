//! `chartpin pin`: wiring from flags to [`crate::pin`]: find the chart's
//! values files (refusing any outside the chart), read manifests and config,
//! plan the edits, then print a summary or diff and write atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::{ChartArgs, DigestsArgs, FormatArgs, RegistryArgs};
use crate::config::Config;
use crate::diag::{Code, Exit, Finding, InputError, Severity};
use crate::manifest::{self, DigestManifest};
use crate::pin::{self, FilePlan, PinOptions, PinOutcome};
use crate::report::{self, Format, RenderOptions, Sources};
use crate::source::SourceFile;
use crate::values::{DigestState, ValuesFile};

#[derive(Debug, Clone, Args)]
#[command(
    after_help = super::EXIT_CODES_HELP,
    mut_arg("platforms", |a| a.help(
        "With --resolve: pin this platform's own manifest instead of the multi-platform index (os/arch[/variant]). At most one"
    )),
)]
pub struct PinArgs {
    #[command(flatten)]
    pub charts: ChartArgs,
    #[command(flatten)]
    pub digests: DigestsArgs,
    /// Look the chart's mutable references up in their registries and pin
    /// those digests (instead of, or besides, --digests).
    #[arg(long)]
    pub resolve: bool,
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
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// One chart's values files, read and checked to lie inside the chart.
struct ChartValues {
    chart: PathBuf,
    /// (path as shown, real path to write, parsed file)
    files: Vec<(PathBuf, PathBuf, ValuesFile)>,
}

/// Resolve `--values` (or `values.yaml`) inside `chart` ([`pin::read_values`]).
fn read_chart_values(chart: &Path, values: &[PathBuf]) -> anyhow::Result<ChartValues> {
    let chart_real = chart
        .canonicalize()
        .with_context(|| format!("chart directory {} cannot be read", chart.display()))?;
    if !chart_real.is_dir() {
        anyhow::bail!(InputError::file(chart, "is not a chart directory"));
    }
    let files = pin::read_values(chart, &chart_real, values)?;
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

/// A unified diff of one file's change. The headers show the path as given:
/// `a/chart/values.yaml` and `b/…` for a relative path (as `git diff` does),
/// the path itself for an absolute one (`a/tmp/…` would name another file).
pub fn unified_diff(path: &Path, old: &str, new: &str) -> String {
    let shown = path.display().to_string();
    let (from, to) = if path.is_absolute() {
        (shown.clone(), shown)
    } else {
        (format!("a/{shown}"), format!("b/{shown}"))
    };
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&from, &to)
        .to_string()
}

pub fn run(args: PinArgs) -> anyhow::Result<Exit> {
    if args.digests.is_empty() && !args.resolve {
        anyhow::bail!("`chartpin pin` needs at least one --digests FILE, or --resolve");
    }
    let charts = args.charts.all();
    // Read and check everything before anything is written.
    let mut prepared = Vec::new();
    for chart in &charts {
        let values = read_chart_values(chart, &args.values)?;
        let config = Config::load(chart, args.config.as_deref())?;
        prepared.push((values, config));
    }
    let mut manifest = if args.digests.is_empty() {
        DigestManifest::default()
    } else {
        args.digests.read()?
    };
    if args.resolve {
        let (resolved, exit) = resolve_from_registries(&args, &charts, &prepared, &manifest)?;
        if exit != Exit::Clean {
            return Ok(exit);
        }
        manifest.entries.extend(resolved.entries);
    }
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

    let format = args.format.resolve();
    let mut out = std::io::stdout().lock();
    let mut pending = 0;
    for ((values, _), outcome) in prepared.iter().zip(&outcomes) {
        for ((shown, real, vf), plan) in values.files.iter().zip(&outcome.files) {
            if !plan.changed() || plan.new_text == vf.text() {
                continue;
            }
            pending += 1;
            if (args.dry_run || args.diff) && matches!(format, Format::Human | Format::Github) {
                write!(out, "{}", unified_diff(shown, vf.text(), &plan.new_text))?;
            }
            if !args.dry_run && !args.check {
                write_atomic(real, &plan.new_text)
                    .with_context(|| format!("cannot write {}", shown.display()))?;
            }
        }
    }
    let written = !args.dry_run && !args.check;
    let findings = findings(&prepared, &outcomes, &unmatched_entries, args.strict);
    let counts = Counts::of(&prepared, &outcomes);
    // The values files as read: the renderer's source lines must match the
    // findings' positions even after the files were rewritten.
    let mut sources = Sources::new();
    for (values, _) in &prepared {
        for (_, _, vf) in &values.files {
            sources.insert(vf.source.clone());
        }
    }
    let render_opts = RenderOptions {
        color: format == Format::Human && report::color_for_stdout(),
        sources: Some(&sources),
        ..RenderOptions::default()
    };
    match format {
        Format::Json => {
            let show_diff = args.dry_run || args.diff;
            let mut doc = json_report(&prepared, &outcomes, &unmatched_entries, written, show_diff);
            let mut buf = Vec::new();
            report::render(Format::Json, &findings, &render_opts, &mut buf)?;
            let rendered: serde_json::Value = serde_json::from_slice(&buf)?;
            doc["findings"] = rendered["findings"].clone();
            doc["summary"] = rendered["summary"].clone();
            doc["summary"]["pinned"] = counts.pinned.into();
            doc["summary"]["changed_files"] = counts.changed_files.into();
            doc["summary"]["written"] = written.into();
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
        Format::Sarif => report::render(Format::Sarif, &findings, &render_opts, &mut out)?,
        Format::Github => {
            site_lines(&mut out, &prepared, &outcomes)?;
            report::render(Format::Github, &findings, &render_opts, &mut out)?;
            writeln!(out, "chartpin pin: {}", counts.sentence(written))?;
        }
        Format::Human => {
            site_lines(&mut out, &prepared, &outcomes)?;
            // Unmatched images and entries read as lint's findings do.
            if !findings.is_empty() {
                report::render(Format::Human, &findings, &render_opts, &mut out)?;
            }
            writeln!(out, "{}", counts.sentence(written))?;
        }
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

/// `pin --resolve`: the digests the charts' mutable references' tags point
/// to now, for the values files being pinned. References `--digests`
/// already covers are not looked up. Exit 1 or 3 (nothing written) when a
/// tag is missing or a registry cannot answer.
fn resolve_from_registries(
    args: &PinArgs,
    charts: &[PathBuf],
    prepared: &[Prepared],
    manifest: &DigestManifest,
) -> anyhow::Result<(DigestManifest, Exit)> {
    let platforms = args
        .registry
        .platforms
        .iter()
        .map(|p| crate::verify::Platform::parse(p).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if platforms.len() > 1 {
        anyhow::bail!("pin --resolve takes at most one --platform (a pin names one digest)");
    }
    let client = super::verify::build_client(&args.registry)?;
    let editing: std::collections::HashSet<PathBuf> = prepared
        .iter()
        .flat_map(|(v, _)| v.files.iter().map(|(_, real, _)| real.clone()))
        .collect();
    // Not locked: the runtime's threads log to stderr while this one waits for them.
    let mut stderr = std::io::stderr();
    let images: Vec<_> = super::verify::mutable_chart_images(charts, &mut super::logging::notes())?
        .into_iter()
        .filter(|t| {
            t.location
                .as_ref()
                .and_then(|l| l.file.canonicalize().ok())
                .is_some_and(|f| editing.contains(&f))
        })
        .map(|t| t.image)
        .filter(|i| manifest.find(i).is_none())
        .collect();
    super::verify::resolve_to_manifest(
        &client,
        &images,
        platforms.first(),
        Path::new("<resolved>"),
        &mut stderr,
    )
}

type Prepared = (ChartValues, Option<Config>);

/// Images pinned and files changed, over every chart.
struct Counts {
    pinned: usize,
    changed_files: usize,
}

impl Counts {
    fn of(prepared: &[Prepared], outcomes: &[PinOutcome]) -> Counts {
        let (mut pinned, mut changed_files) = (0, 0);
        for ((values, _), outcome) in prepared.iter().zip(outcomes) {
            for plan in outcome.files.iter().take(values.files.len()) {
                pinned += plan.pinned.iter().filter(|p| p.changed).count();
                changed_files += usize::from(plan.changed());
            }
        }
        Counts {
            pinned,
            changed_files,
        }
    }

    /// `pinned 3 images in 1 file` (`would pin` when nothing is written).
    fn sentence(&self, written: bool) -> String {
        let verb = if written { "pinned" } else { "would pin" };
        format!(
            "{verb} {} image{} in {} file{}",
            self.pinned,
            if self.pinned == 1 { "" } else { "s" },
            self.changed_files,
            if self.changed_files == 1 { "" } else { "s" }
        )
    }
}

/// `unmatched-image` and `unmatched-entry` findings, for the shared
/// renderers. An image that is already pinned is a note; under `--strict`
/// the others are errors (they fail the run), else warnings.
fn findings(
    prepared: &[Prepared],
    outcomes: &[PinOutcome],
    unmatched_entries: &[manifest::ManifestEntry],
    strict: bool,
) -> Vec<Finding> {
    let severity = if strict {
        Severity::Error
    } else {
        Severity::Warning
    };
    let mut out = Vec::new();
    for ((values, _), outcome) in prepared.iter().zip(outcomes) {
        for ((_, _, vf), plan) in values.files.iter().zip(&outcome.files) {
            for s in &plan.unmatched_images {
                let image = pin::site_display(s);
                let (state, sev) = if s.is_pinned() {
                    (" (already pinned)", Severity::Note)
                } else {
                    ("", severity)
                };
                out.push(
                    Finding::new(
                        Code::UnmatchedImage,
                        format!("`{image}` has no manifest entry{state}"),
                    )
                    .at(&vf.source, s.span)
                    .with_path(s.path.to_string())
                    .with_image(image)
                    .with_severity(sev),
                );
            }
        }
    }
    for e in unmatched_entries {
        let mut f = Finding::new(
            Code::UnmatchedEntry,
            format!(
                "manifest entry {} ({}) matches no image in the chart",
                pin::entry_display(e),
                e.digest.short()
            ),
        )
        .in_file(&e.origin.file)
        .with_image(e.display_ref())
        .with_severity(severity);
        f.line = e.origin.line;
        f.column = e.origin.column;
        out.push(f);
    }
    out
}

/// Per-site lines: pinned, already pinned, not pinned (and why). Unmatched
/// images and entries are findings, rendered by [`report`].
fn site_lines(
    out: &mut impl Write,
    prepared: &[Prepared],
    outcomes: &[PinOutcome],
) -> std::io::Result<()> {
    for ((values, _), outcome) in prepared.iter().zip(outcomes) {
        for ((shown, _, vf), plan) in values.files.iter().zip(&outcome.files) {
            report_file(out, shown, &vf.source, plan)?;
        }
    }
    Ok(())
}

fn report_file(
    out: &mut impl Write,
    shown: &Path,
    source: &SourceFile,
    plan: &FilePlan,
) -> std::io::Result<()> {
    for p in &plan.pinned {
        let lc = source.line_col(p.span.start);
        // The image by name (its old digest is shown as the "before"), then old → new.
        let name = p.image.split('@').next().unwrap_or(&p.image);
        let change = if p.changed {
            let before = match &p.previous {
                DigestState::Filled(d) => d.short(),
                DigestState::Empty => "empty digest".to_string(),
                DigestState::Absent => "no digest".to_string(),
                DigestState::Invalid(t) => format!("invalid digest `{t}`"),
            };
            format!("pinned {name}: {before} → {}", p.digest)
        } else {
            format!("already pinned {name}: {}", p.digest)
        };
        writeln!(out, "{}:{lc}: {change} (at {})", shown.display(), p.path)?;
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
                "unmatched_images": plan.unmatched_images.iter().map(|s| {
                    let (line, column) = at(s.span);
                    json!({"code": Code::UnmatchedImage, "path": s.path.to_string(), "line": line,
                           "column": column, "image": pin::site_display(s), "pinned": s.is_pinned()})
                }).collect::<Vec<_>>(),
            }));
        }
    }
    json!({
        "files": files,
        "unmatched_entries": unmatched_entries.iter().map(|e| json!({
            "code": Code::UnmatchedEntry, "image": pin::entry_display(e),
            "digest": e.digest.to_string(), "origin": e.origin.to_string(),
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_headers_show_the_path_as_given() {
        let rel = unified_diff(Path::new("chart/values.yaml"), "a: 1\n", "a: 2\n");
        assert!(
            rel.starts_with("--- a/chart/values.yaml\n+++ b/chart/values.yaml\n"),
            "{rel}"
        );
        let abs = unified_diff(Path::new("/tmp/x/values.yaml"), "a: 1\n", "a: 2\n");
        assert!(
            abs.starts_with("--- /tmp/x/values.yaml\n+++ /tmp/x/values.yaml\n"),
            "{abs}"
        );
        assert!(abs.contains("-a: 1\n+a: 2\n"), "{abs}");
    }
}
