//! `chartpin verify` and `chartpin resolve`: flags → request →
//! [`crate::verify::run`] → [`crate::report::verify`] → exit status.
//!
//! Verify proves digests; it does not judge mutability. A chart reference
//! without a digest is counted in the summary (`unpinned`) and never becomes
//! a finding, so `verify` on a half-pinned chart still exits 0 when every
//! digest it does carry exists. `chartpin lint` (and `release`, which runs
//! it) is where unpinned references fail a build. Findings are rendered by
//! [`crate::report`], worded as lint words them.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::{
    ChartArgs, DigestsArgs, FormatArgs, RegistryArgs, RenderArgs, RequireArgs, SignatureArgs,
    Stdout,
};
use crate::diag::Exit;
use crate::report::{self, Format, RenderOptions};
use crate::verify::VerifyOptions;
use crate::verify::run::VerifyRequest;
use crate::verify::targets::split_named;

#[derive(Debug, Clone, Args)]
#[command(
    after_help = super::EXIT_CODES_HELP,
    mut_arg("paths", |a| a.help(super::CHARTS_OR_IMAGES_HELP).value_name("PATH|IMAGE")),
    mut_arg("digests", |a| a.help(
        "Digest manifest whose entries to verify, besides any charts or images named. Repeatable; entries merge"
    )),
)]
pub struct VerifyArgs {
    /// Charts, or pinned image references.
    #[command(flatten)]
    pub charts: ChartArgs,
    #[command(flatten)]
    pub digests: DigestsArgs,
    /// Fetch each manifest and check that its bytes hash to the pinned digest.
    #[arg(long)]
    pub content: bool,
    /// Check that each tag pinned beside a digest still points to that digest.
    #[arg(long = "check-tags")]
    pub check_tags: bool,
    /// Configuration file for every chart (default: each chart's .chartpin.yaml, whose requirePlatforms and requireIndex add to the flags).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub require: RequireArgs,
    #[command(flatten)]
    pub signature: SignatureArgs,
    #[command(flatten)]
    pub render: RenderArgs,
    #[command(flatten)]
    pub format: FormatArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `resolve`'s arguments. Its output is a digest manifest (data for `pin
/// --digests`): `--format json` wraps the entries in the JSON envelope; the
/// other formats print the manifest itself.
#[derive(Debug, Clone, Args)]
#[command(
    after_help = super::EXIT_CODES_HELP,
    mut_arg("paths", |a| a.help(super::CHARTS_OR_IMAGES_HELP).value_name("PATH|IMAGE")),
    mut_arg("platforms", |a| a.help(
        "Resolve to this platform's own manifest instead of the multi-platform index (os/arch[/variant]). At most one"
    )),
)]
pub struct ResolveArgs {
    /// Charts, or image references to look up.
    #[command(flatten)]
    pub charts: ChartArgs,
    /// Write the digest manifest to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Output format: json prints the resolved entries in the JSON envelope
    /// (docs/json.md); the others print the digest manifest [default: human].
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

pub fn run(args: VerifyArgs) -> anyhow::Result<Exit> {
    let platforms = args.require.platforms(&args.registry)?;
    let client = super::build_client(&args.registry)?;
    let (charts, images) = split_named(
        &args.charts.paths,
        &args.charts.charts,
        args.digests.is_empty(),
    )?;
    let manifest = if args.digests.is_empty() {
        None
    } else {
        Some(args.digests.read()?)
    };
    let request = VerifyRequest {
        images,
        charts,
        manifest,
        options: VerifyOptions {
            content: args.content,
            check_tags: args.check_tags,
            platforms,
            require_index: args.require.require_index,
            hermetic: false,
            describe: false,
            signature: args.signature.policy()?,
        },
        config: args.config.clone(),
        // Static, as lint is, unless asked: with `--render` the images helm
        // renders are verified too (a subchart's literal, one a `--set` gives).
        discovery: crate::lint::LintOptions {
            render: args.render.mode(crate::helm::RenderMode::Off) != crate::helm::RenderMode::Off,
            helm: args.render.spec(crate::helm::RenderMode::Off)?,
            ..crate::lint::LintOptions::default()
        },
    };
    let bar = progress_bar();
    let run = crate::verify::run::verify_request(&client, &request, &|done, total| {
        if let Some(bar) = &bar {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut out = Stdout::lock();
    report::verify::render(args.format.resolve(), &run, &mut out)?;
    out.flush()?;
    Ok(Exit::from_findings(&run.outcome.findings))
}

/// A progress bar on stderr when it is a terminal, not in CI and not `-q`; `None` otherwise.
fn progress_bar() -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal()
        || std::env::var_os("CI").is_some()
        || super::logging::quiet()
    {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("verifying {pos}/{len} {wide_bar}")
            .expect("valid template"),
    );
    Some(bar)
}

pub fn run_resolve(args: ResolveArgs) -> anyhow::Result<Exit> {
    let platforms = super::parse_platforms(&args.registry.platforms)?;
    if platforms.len() > 1 {
        anyhow::bail!("resolve takes at most one --platform (a manifest line names one digest)");
    }
    let client = super::build_client(&args.registry)?;
    let (charts, images) = split_named(&args.charts.paths, &args.charts.charts, true)?;
    let origin = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from("<resolved>"));
    let run =
        crate::verify::run::resolve_request(&client, &images, &charts, platforms.first(), &origin)?;
    let exit = super::report_resolution(&run)?;
    let json = args.format == Some(Format::Json);
    if exit != Exit::Clean && !json {
        return Ok(exit);
    }
    let text = if exit == Exit::Clean {
        run.resolution
            .manifest
            .to_ref_lines()
            .map_err(anyhow::Error::msg)?
    } else {
        String::new()
    };
    if let Some(path) = args.output.as_ref().filter(|_| exit == Exit::Clean) {
        std::fs::write(path, &text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    if json {
        let opts = RenderOptions {
            files_checked: Some(run.files_checked),
            ..RenderOptions::default()
        };
        report::verify::render_resolve_json(&run, exit, args.output.as_deref(), &opts, &mut out)?;
    } else if args.output.is_none() {
        out.write_all(text.as_bytes())?;
    }
    out.flush()?;
    Ok(exit)
}
