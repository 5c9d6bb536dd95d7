//! `chartpin release`: wiring from flags to [`crate::release`]: read the
//! manifests, plan the pin, verify, lint the planned result in memory, write only when
//! everything passed, then report (findings, the summary table, the
//! Markdown job summary).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::{ChartArgs, DigestsArgs, FormatArgs, RegistryArgs};
use crate::diag::{Exit, Finding};
use crate::lint::LintOptions;
use crate::release::{self, Plan, ReleaseRequest, SummaryRow};
use crate::report::{self, Format, RenderOptions, Sources};
use crate::verify::{Platform, VerifyOptions};

#[derive(Debug, Clone, Args)]
#[command(after_help = super::EXIT_CODES_HELP)]
pub struct ReleaseArgs {
    #[command(flatten)]
    pub charts: ChartArgs,
    #[command(flatten)]
    pub digests: DigestsArgs,
    /// Values file to pin, relative to the chart (default: values.yaml). Repeatable.
    #[arg(long = "values", value_name = "FILE")]
    pub values: Vec<PathBuf>,
    /// Also run `helm template` on the pinned chart and lint what it renders (needs helm on PATH).
    #[arg(long)]
    pub render: bool,
    /// Configuration file (default: .chartpin.yaml beside Chart.yaml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Write the Markdown summary here (default: append to $GITHUB_STEP_SUMMARY when set).
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    /// Fetch each manifest and check that its bytes hash to the pinned digest.
    #[arg(long)]
    pub content: bool,
    /// Check that each tag pinned beside a digest still points to that digest.
    #[arg(long = "check-tags")]
    pub check_tags: bool,
    /// Do every check and print a unified diff of what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also print a unified diff of what was written.
    #[arg(long)]
    pub diff: bool,
    #[command(flatten)]
    pub format: FormatArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

pub fn run(args: ReleaseArgs) -> anyhow::Result<Exit> {
    if args.digests.is_empty() {
        anyhow::bail!("`chartpin release` needs at least one --digests FILE");
    }
    let platforms = args
        .registry
        .platforms
        .iter()
        .map(|p| Platform::parse(p).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let client = super::verify::build_client(&args.registry)?;
    let format = args.format.resolve();

    // 1. Plan everything in memory.
    let manifest = args.digests.read()?;
    let request = ReleaseRequest {
        charts: args.charts.all(),
        values: args.values.clone(),
        config: args.config.clone(),
    };
    let mut plan = release::plan(&request, &manifest)?;

    // 2. Prove every digest about to be written exists.
    let options = VerifyOptions {
        content: args.content,
        check_tags: args.check_tags,
        platforms,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let verify_findings = runtime.block_on(release::verify_plan(&client, &mut plan, &options));
    drop(runtime);

    // 3. Lint the chart as it would be written.
    let lint = release::lint_plan(
        &plan,
        &LintOptions {
            rendered: None,
            render: args.render,
            helm: None,
            config: args.config.clone(),
        },
    )?;

    let mut findings: Vec<Finding> = plan.findings.clone();
    findings.extend(verify_findings);
    findings.extend(lint.findings);
    let exit = Exit::from_findings(&findings);

    // 4. Write only when everything passed.
    let changes = plan.changes();
    let written = exit == Exit::Clean && !args.dry_run && !changes.is_empty();
    if written {
        release::commit(&changes).context("writing the pinned files")?;
    }

    // 5. Report.
    let mut sources = Sources::new();
    for s in lint.sources {
        sources.insert(s);
    }
    let render_opts = RenderOptions {
        color: format == Format::Human && report::color_for_stdout(),
        sources: Some(&sources),
        ..RenderOptions::default()
    };
    let status = status_line(&plan, exit, written, args.dry_run);
    let mut out = std::io::stdout().lock();
    if (args.diff || args.dry_run) && matches!(format, Format::Human | Format::Github) {
        for c in &changes {
            write!(
                out,
                "{}",
                super::pin::unified_diff(&c.shown, &c.old, &c.new)
            )?;
        }
    }
    match format {
        Format::Json => {
            let mut buf = Vec::new();
            report::render_json(&findings, &render_opts, &mut buf)?;
            let mut doc: serde_json::Value = serde_json::from_slice(&buf)?;
            let base = render_opts.base.as_deref();
            doc["images"] = serde_json::to_value(
                plan.rows
                    .iter()
                    .map(|r| json_row(r, base))
                    .collect::<Vec<_>>(),
            )?;
            doc["files"] = changes
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "file": shown(&c.shown, base),
                        "written": written,
                        "diff": (args.diff || args.dry_run)
                            .then(|| super::pin::unified_diff(&c.shown, &c.old, &c.new)),
                    })
                })
                .collect();
            doc["written"] = written.into();
            doc["status"] = status.clone().into();
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
        Format::Sarif => report::render(format, &findings, &render_opts, &mut out)?,
        Format::Human | Format::Github => {
            report::render(format, &findings, &render_opts, &mut out)?;
            writeln!(out)?;
            human_table(&mut out, &plan.rows, render_opts.base.as_deref())?;
            writeln!(out, "{status}")?;
        }
    }
    out.flush()?;
    drop(out);

    let summary_target = match &args.summary {
        Some(p) => Some((p.clone(), false)),
        None => std::env::var_os("GITHUB_STEP_SUMMARY")
            .filter(|v| !v.is_empty())
            .map(|v| (PathBuf::from(v), true)),
    };
    if let Some((path, append)) = summary_target {
        let mut md = Vec::new();
        markdown_summary(&mut md, &plan, &findings, &status, &render_opts)?;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(&path)
            .with_context(|| format!("cannot write the summary to {}", path.display()))?;
        file.write_all(&md)
            .with_context(|| format!("cannot write the summary to {}", path.display()))?;
    }
    Ok(exit)
}

/// One sentence saying what happened.
fn status_line(plan: &Plan, exit: Exit, written: bool, dry_run: bool) -> String {
    let files = plan.changes().len();
    let pinned = plan.rows.iter().filter(|r| r.changed).count();
    let verified = plan
        .rows
        .iter()
        .filter(|r| r.verified == release::Verified::Yes)
        .count();
    let images = plural(pinned, "image");
    let files_s = plural(files, "file");
    match exit {
        Exit::Clean if written => format!(
            "released: pinned {images} in {files_s}; {verified} of {} digests verified in their registries; lint clean",
            plan.rows.len()
        ),
        Exit::Clean if dry_run => format!(
            "dry run: would pin {images} in {files_s}; {verified} of {} digests verified; lint clean; nothing written",
            plan.rows.len()
        ),
        Exit::Clean => format!(
            "nothing to release: every image is already pinned ({verified} of {} digests verified; lint clean)",
            plan.rows.len()
        ),
        Exit::Unanswered => "not released: a registry could not answer, so the digests are unproven; nothing was written".to_string(),
        _ => "not released: the checks above failed; nothing was written".to_string(),
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn shown(p: &Path, base: Option<&Path>) -> String {
    report::relative_path(p, base).display().to_string()
}

fn site(r: &SummaryRow, base: Option<&Path>) -> String {
    format!(
        "{}:{}:{} {}",
        shown(&r.file, base),
        r.line,
        r.column,
        r.path
    )
}

fn json_row(r: &SummaryRow, base: Option<&Path>) -> serde_json::Value {
    serde_json::json!({
        "image": r.image,
        "old_reference": r.old_reference,
        "new_reference": r.new_reference,
        "digest": r.digest,
        "verified": r.verified,
        "changed": r.changed,
        "file": shown(&r.file, base),
        "line": r.line,
        "column": r.column,
        "path": r.path,
    })
}

const HEADERS: [&str; 5] = ["image", "old reference", "new digest", "verified", "site"];

fn cells(r: &SummaryRow, base: Option<&Path>) -> [String; 5] {
    [
        r.image.clone(),
        r.old_reference.clone(),
        r.digest.clone(),
        r.verified.as_str().to_string(),
        site(r, base),
    ]
}

/// The summary as an aligned plain-text table.
fn human_table(
    out: &mut impl Write,
    rows: &[SummaryRow],
    base: Option<&Path>,
) -> std::io::Result<()> {
    if rows.is_empty() {
        return writeln!(out, "no image in the chart matched the digest manifest");
    }
    let body: Vec<[String; 5]> = rows.iter().map(|r| cells(r, base)).collect();
    let mut widths = HEADERS.map(str::len);
    for row in &body {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    writeln!(out, "{}", line(&HEADERS.map(|h| h.to_uppercase())))?;
    for row in &body {
        writeln!(out, "{}", line(row))?;
    }
    Ok(())
}

/// The job summary: a heading, the status, the table, and the findings.
fn markdown_summary(
    out: &mut dyn Write,
    plan: &Plan,
    findings: &[Finding],
    status: &str,
    opts: &RenderOptions<'_>,
) -> std::io::Result<()> {
    writeln!(out, "## chartpin release\n")?;
    writeln!(out, "{status}\n")?;
    let base = opts.base.as_deref();
    let rows: Vec<Vec<String>> = plan
        .rows
        .iter()
        .map(|r| {
            let [image, old, digest, verified, site] = cells(r, base);
            vec![
                format!("`{image}`"),
                format!("`{old}`"),
                format!("`{digest}`"),
                verified,
                site,
            ]
        })
        .collect();
    report::render_markdown_table(&HEADERS, &rows, out)?;
    if !findings.is_empty() {
        writeln!(out)?;
        report::render_markdown(findings, opts, out)?;
    }
    writeln!(out)
}
