//! `chartpin pin`: flags → [`PinRequest`] → [`crate::pin::run::run`] →
//! [`crate::report::pin`] → exit status.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::{ChartArgs, DigestsArgs, FormatArgs, RegistryArgs, RenderArgs, Stdout};
use crate::diag::Exit;
use crate::helm::{Helm, RenderMode};
use crate::manifest::DigestManifest;
use crate::pin::run::{PinRequest, ResolveWith};
use crate::report;

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
    pub render: RenderArgs,
    #[command(flatten)]
    pub format: FormatArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

pub fn run(args: PinArgs) -> anyhow::Result<Exit> {
    if args.digests.is_empty() && !args.resolve {
        anyhow::bail!("`chartpin pin` needs at least one --digests FILE, or --resolve");
    }
    let manifest = if args.digests.is_empty() {
        DigestManifest::default()
    } else {
        args.digests.read()?
    };
    let client;
    let resolve = if args.resolve {
        let mut platforms = super::parse_platforms(&args.registry.platforms)?;
        if platforms.len() > 1 {
            anyhow::bail!("pin --resolve takes at most one --platform (a pin names one digest)");
        }
        client = super::build_client(&args.registry)?;
        Some(ResolveWith {
            client: &client,
            platform: platforms.pop(),
        })
    } else {
        None
    };
    // pin probes the render when helm is there: the templates, not key
    // names, say where each image is read.
    let spec = args.render.spec(RenderMode::Auto)?;
    let helm = Helm::for_mode(args.render.mode(RenderMode::Auto), &spec)?;
    if helm.is_none() && args.render.mode(RenderMode::Auto) == RenderMode::Auto {
        eprintln!(
            "{}",
            crate::helm::render_skipped_notice("helm is not on PATH")
        );
    }
    let request = PinRequest {
        render_required: args.render.mode(RenderMode::Auto) == RenderMode::Required,
        helm,
        render: spec,
        charts: args.charts.all(),
        values: args.values.clone(),
        config: args.config.clone(),
        write: !args.dry_run && !args.check,
        strict: args.strict,
    };
    let run = crate::pin::run::run(&request, manifest, resolve, &mut super::note_waiting)?;
    if let Some(r) = &run.resolution {
        let exit = super::report_resolution(r)?;
        if exit != Exit::Clean {
            return Ok(exit);
        }
    }
    for n in &run.render_notes {
        eprintln!("chartpin: {n}");
    }
    super::print_write_notes(&run.write_notes);
    let mut out = Stdout::lock();
    report::pin::render(
        args.format.resolve(),
        &run,
        args.dry_run || args.diff,
        &mut out,
    )?;
    out.flush()?;
    if args.check && !run.changes.is_empty() {
        return Ok(Exit::Findings);
    }
    if args.strict && (run.unmatched_images > 0 || !run.unmatched_entries.is_empty()) {
        return Ok(Exit::Findings);
    }
    Ok(Exit::Clean)
}
