//! `chartpin verify` and `chartpin resolve`: flags → request →
//! [`crate::verify::run`] → report → exit status.
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

use super::{ChartArgs, DigestsArgs, FormatArgs, RegistryArgs, Stdout};
use crate::diag::{Exit, Unanswered};
use crate::report::{self, Counts, Format, RenderOptions, Sources};
use crate::verify::run::{VerifyRequest, VerifyRun};
use crate::verify::targets::split_named;
use crate::verify::{ResolveError, VerifyOptions, VerifyOutcome};

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
    let platforms = super::parse_platforms(&args.registry.platforms)?;
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
    render_outcome(args.format.resolve(), &run, &mut out)?;
    out.flush()?;
    Ok(Exit::from_findings(&run.outcome.findings))
}

/// Findings through the shared renderers, then verify's counts: a line in
/// the human and GitHub formats, `summary.{checked,verified,unpinned}` in JSON.
/// SARIF carries the findings only.
fn render_outcome(format: Format, run: &VerifyRun, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut sources = Sources::new();
    for s in &run.sources {
        sources.insert(s.clone());
    }
    let opts = RenderOptions {
        color: format == Format::Human && report::color_for_stdout(),
        sources: Some(&sources),
        files_checked: Some(run.files_checked),
        ..RenderOptions::default()
    };
    let outcome = &run.outcome;
    let unpinned = outcome.unpinned + run.unresolved;
    match format {
        Format::Json => {
            let counts = Counts {
                checked: outcome.checked,
                verified: outcome.verified,
                unpinned,
                ..Counts::default()
            };
            report::render_json_document(
                "verify",
                &outcome.findings,
                &counts,
                &report::NoData {},
                &opts,
                out,
            )?;
        }
        Format::Sarif => report::render(format, &outcome.findings, &opts, out)?,
        Format::Human | Format::Github => {
            // The finding summary line counts findings only, as before.
            let opts = RenderOptions {
                files_checked: None,
                ..opts
            };
            report::render(format, &outcome.findings, &opts, out)?;
            let prefix = if format == Format::Github {
                "chartpin verify: "
            } else {
                ""
            };
            writeln!(out, "{prefix}{}", summary_line(outcome, unpinned))?;
        }
    }
    Ok(())
}

/// `verified 3 of 4 distinct pinned references; 2 unpinned not verified (…)`.
pub fn summary_line(outcome: &VerifyOutcome, unpinned: usize) -> String {
    let mut s = format!(
        "verified {} of {} distinct pinned reference{}",
        outcome.verified,
        outcome.checked,
        if outcome.checked == 1 { "" } else { "s" }
    );
    if unpinned > 0 {
        s.push_str(&format!(
            "; {unpinned} unpinned reference{} not verified (`chartpin lint` reports them)",
            if unpinned == 1 { "" } else { "s" }
        ));
    }
    s
}

/// A progress bar on stderr when it is a terminal and not in CI; `None` otherwise.
fn progress_bar() -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() || std::env::var_os("CI").is_some() {
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
    let mut stderr = std::io::stderr().lock();
    for note in &run.notes {
        writeln!(stderr, "note: {note}")?;
    }
    for (image, e) in &run.resolution.failures {
        match e {
            ResolveError::Registry(e) => {
                writeln!(stderr, "error: {image}: {}", Unanswered(e.to_string()))?
            }
            e => writeln!(stderr, "error: {image}: {e}")?,
        }
    }
    let exit = run.resolution.exit();
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
        let counts = Counts {
            resolved: run.resolution.resolved.len(),
            ..Counts::default()
        };
        let data = json::Data::of(&run, exit, args.output.as_deref());
        report::render_json_document("resolve", &[], &counts, &data, &opts, &mut out)?;
    } else if args.output.is_none() {
        out.write_all(text.as_bytes())?;
    }
    out.flush()?;
    Ok(exit)
}

/// resolve's own JSON fields, as serde structs (see docs/json.md).
mod json {
    use std::path::Path;

    use serde::Serialize;

    use crate::diag::Exit;
    use crate::verify::run::ResolveRun;

    #[derive(Serialize)]
    pub struct Data {
        /// One per distinct `name:tag` looked up, in order.
        entries: Vec<Entry>,
        /// Lookups that failed (the exit status says how).
        failures: Vec<Failure>,
        /// Where the manifest was written, when `--output` was given and it was.
        output: Option<String>,
    }

    #[derive(Serialize)]
    struct Entry {
        /// `name:tag@digest`, the manifest line.
        reference: String,
        name: String,
        tag: Option<String>,
        digest: String,
    }

    #[derive(Serialize)]
    struct Failure {
        image: String,
        error: String,
        unanswered: bool,
    }

    impl Data {
        pub fn of(run: &ResolveRun, exit: Exit, output: Option<&Path>) -> Data {
            Data {
                entries: run
                    .resolution
                    .resolved
                    .iter()
                    .map(|r| Entry {
                        reference: r.line(),
                        name: r.image.written_name(),
                        tag: r.image.tag().map(str::to_string),
                        digest: r.digest.to_string(),
                    })
                    .collect(),
                failures: run
                    .resolution
                    .failures
                    .iter()
                    .map(|(image, e)| Failure {
                        image: image.to_string(),
                        error: e.to_string(),
                        unanswered: matches!(e, crate::verify::ResolveError::Registry(_)),
                    })
                    .collect(),
                output: output
                    .filter(|_| exit == Exit::Clean)
                    .map(|p| p.display().to_string()),
            }
        }
    }
}
