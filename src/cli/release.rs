//! `chartpin release`: flags → [`ReleaseRequest`] → the transaction
//! ([`crate::release::run::run`]) → [`crate::report::release`] (findings,
//! the summary table, the Markdown job summary) → exit status.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::{
    ChartArgs, DigestsArgs, FormatArgs, RegistryArgs, RenderArgs, RequireArgs, SignatureArgs,
    Stdout,
};
use crate::diag::Exit;
use crate::helm::RenderMode;
use crate::lint::LintOptions;
use crate::release::run::ReleaseOptions;
use crate::release::{self, ReleaseRequest};
use crate::report;
use crate::verify::VerifyOptions;

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
    #[command(flatten)]
    pub render: RenderArgs,
    /// Configuration file (default: .chartpin.yaml beside Chart.yaml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Write the Markdown summary here (default: append to $GITHUB_STEP_SUMMARY when set).
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    /// Fetch each manifest and check that its bytes hash to the pinned digest.
    #[arg(long)]
    pub content: bool,
    /// Write a lock file here: every image the pinned chart renders (each verified; without a render, the released sites) with its digest, kind, platforms (child digests) and signature result, as JSON (docs/release.md). Written only when the release succeeds.
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    /// Never ask a registry where a tag points: only the manifests' digests are looked up (existence, kind, platforms); no --check-tags, no platform-manifest check.
    #[arg(long, conflicts_with = "check_tags")]
    pub hermetic: bool,
    /// Check that each tag pinned beside a digest still points to that digest.
    #[arg(long = "check-tags")]
    pub check_tags: bool,
    #[command(flatten)]
    pub require: RequireArgs,
    #[command(flatten)]
    pub signature: SignatureArgs,
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
    let platforms = args.require.platforms(&args.registry)?;
    let client = {
        let _step = crate::steps::step("registry client");
        super::build_client(&args.registry)?
    };
    let format = args.format.resolve();
    let manifest = args.digests.read()?;
    // Plan the pins from the probed render whenever helm is there, as pin
    // does: the templates, not key names, say where each image is read.
    let spec = args.render.spec(RenderMode::Auto)?;
    let probe = crate::helm::Helm::for_mode(args.render.mode(RenderMode::Auto), &spec)?
        .map(|h| (h, spec.clone()));
    let request = ReleaseRequest {
        charts: args.charts.all(),
        values: args.values.clone(),
        config: args.config.clone(),
        probe,
    };
    let options = ReleaseOptions {
        verify: VerifyOptions {
            content: args.content,
            check_tags: args.check_tags,
            platforms,
            require_index: args.require.require_index,
            hermetic: args.hermetic,
            describe: args.lock.is_some(),
            signature: args.signature.policy()?,
        },
        lint: LintOptions {
            rendered: None,
            render: false,
            helm: spec.clone(),
            config: args.config.clone(),
            prerendered: Vec::new(),
        },
        dry_run: args.dry_run,
        lock: args.lock.clone(),
        // The release proves its pin by rendering whenever helm is there.
        render: args.render.mode(RenderMode::Auto),
        helm: spec.clone(),
    };
    let run = release::run::run(
        &request,
        &manifest,
        &client,
        &options,
        &mut super::note_waiting,
    )?;
    super::print_write_notes(&run.write_notes);
    if let release::run::Rendering::Skipped(why) = &run.rendering {
        // Once per run, however many charts.
        eprintln!("{}", crate::helm::render_skipped_notice(why));
    }

    let _step = crate::steps::step("report");
    let mut out = Stdout::lock();
    report::release::render(
        format,
        &run,
        args.diff || args.dry_run,
        args.dry_run,
        &mut out,
    )?;
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
        report::release::markdown_summary(&run, args.dry_run, &mut md)?;
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
    Ok(run.exit)
}
