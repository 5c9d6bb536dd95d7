//! `chartpin verify` and `chartpin resolve`: wiring from flags to [`crate::verify`].
//!
//! Targets are gathered here: image references given as arguments, entries
//! of `--digests` manifests, and (once the lint branch's discovery is merged)
//! the pinned references inside charts. Findings are printed by
//! [`print_findings`], a stand-in until the shared renderers in
//! `crate::report` land.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::{ChartArgs, FormatArgs, RegistryArgs};
use crate::diag::{Exit, Finding, Unanswered};
use crate::manifest::{EntryName, read_manifests};
use crate::reference::ImageRef;
use crate::registry::credentials::CredentialStore;
use crate::registry::{ClientConfig, Mirror, RegistryClient};
use crate::report::Format;
use crate::verify::{Location, Platform, ResolveError, Target, VerifyOptions, VerifyOutcome};

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub charts: ChartArgs,
    /// Verify the entries of these digest manifests instead of the charts' references. Repeatable.
    #[arg(long = "digests", value_name = "FILE")]
    pub digests: Vec<PathBuf>,
    /// Fetch each manifest and check that its bytes hash to the pinned digest.
    #[arg(long)]
    pub content: bool,
    /// Check that each tag pinned beside a digest still points to that digest.
    #[arg(long = "check-tags")]
    pub check_tags: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub format: FormatArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ResolveArgs {
    /// Chart directories or image references (default: the current directory).
    #[arg(value_name = "PATH|IMAGE")]
    pub targets: Vec<String>,
    /// A chart directory; the same as giving it as a positional PATH. Repeatable.
    #[arg(long = "chart", value_name = "DIR")]
    pub charts: Vec<PathBuf>,
    /// Write the digest manifest to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

pub fn run(args: VerifyArgs) -> anyhow::Result<Exit> {
    let platforms = parse_platforms(&args.registry.platforms)?;
    let client = build_client(&args.registry)?;
    let mut targets = Vec::new();
    let mut charts: Vec<PathBuf> = args.charts.charts.clone();
    for path in &args.charts.paths {
        match classify_arg(&path.to_string_lossy())? {
            Arg::Chart(dir) => charts.push(dir),
            Arg::Image(image) => {
                if !image.is_pinned() {
                    anyhow::bail!(
                        "`{image}` has no digest to verify (pin it first, or use `chartpin resolve`)"
                    );
                }
                targets.push(Target::new(image));
            }
        }
    }
    if !args.digests.is_empty() {
        targets.extend(targets_from_manifests(&args.digests)?);
    }
    if charts.is_empty() && targets.is_empty() && args.digests.is_empty() {
        charts.push(PathBuf::from("."));
    }
    if !charts.is_empty() {
        targets.extend(targets_from_charts(&charts)?);
    }
    let options = VerifyOptions {
        content: args.content,
        check_tags: args.check_tags,
        platforms,
    };
    let bar = progress_bar();
    let outcome = runtime()?.block_on(crate::verify::verify(
        &client,
        &targets,
        &options,
        &|done, total| {
            if let Some(bar) = &bar {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            }
        },
    ));
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    print_findings(args.format.resolve(), &outcome)?;
    Ok(Exit::from_findings(&outcome.findings))
}

/// The pinned references inside charts, with their places.
///
/// Chart discovery belongs to the lint helper (`crate::lint`); it is wired in
/// at merge time. Until then, naming a chart is a usage error.
pub fn targets_from_charts(charts: &[PathBuf]) -> anyhow::Result<Vec<Target>> {
    let names: Vec<String> = charts.iter().map(|c| c.display().to_string()).collect();
    anyhow::bail!(
        "chart discovery not wired yet (charts: {}); pass image references or --digests FILE",
        names.join(", ")
    )
}

/// Entries of digest manifests as targets: `name[:tag]@digest` at the entry's origin.
pub fn targets_from_manifests(paths: &[PathBuf]) -> anyhow::Result<Vec<Target>> {
    let manifest = read_manifests(paths, None)?;
    let mut out = Vec::new();
    for entry in manifest.entries {
        let name = match &entry.name {
            EntryName::Full(image) => image.written_name(),
            EntryName::Short(short) => anyhow::bail!(
                "{}: `{short}` is a short image name; verifying it needs the chart that supplies its registry",
                entry.origin
            ),
        };
        let text = match &entry.tag {
            Some(tag) => format!("{name}:{tag}@{}", entry.digest),
            None => format!("{name}@{}", entry.digest),
        };
        let image = ImageRef::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", entry.origin))?;
        out.push(Target::new(image).at(Location {
            file: entry.origin.file.clone(),
            line: entry.origin.line,
            column: entry.origin.column,
            yaml_path: None,
        }));
    }
    Ok(out)
}

enum Arg {
    Chart(PathBuf),
    Image(ImageRef),
}

/// A positional argument is a chart when it is a directory, else an image reference.
fn classify_arg(arg: &str) -> anyhow::Result<Arg> {
    let path = Path::new(arg);
    if path.is_dir() {
        return Ok(Arg::Chart(path.to_path_buf()));
    }
    ImageRef::parse(arg).map(Arg::Image).map_err(|e| {
        anyhow::anyhow!("`{arg}` is neither a chart directory nor an image reference: {e}")
    })
}

fn parse_platforms(raw: &[String]) -> anyhow::Result<Vec<Platform>> {
    raw.iter()
        .map(|p| Platform::parse(p).map_err(anyhow::Error::msg))
        .collect()
}

/// The registry client the flags and environment describe.
pub fn build_client(args: &RegistryArgs) -> anyhow::Result<RegistryClient> {
    if args.concurrency == 0 {
        anyhow::bail!("--concurrency must be at least 1");
    }
    if args.timeout == 0 {
        anyhow::bail!("--timeout must be at least 1 second");
    }
    let mirrors = args
        .registry_mirrors
        .iter()
        .map(|m| Mirror::parse(m).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let credentials = CredentialStore::from_env()?;
    let timeout = Duration::from_secs(args.timeout);
    let config = ClientConfig {
        concurrency: args.concurrency,
        timeout,
        connect_timeout: timeout.min(Duration::from_secs(10)),
        insecure_registries: args.insecure_registries.clone(),
        ca_file: args.ca_file.clone(),
        mirrors,
        credentials,
        ..ClientConfig::default()
    };
    Ok(RegistryClient::new(config)?)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
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

/// Print findings and a summary. A stand-in for the shared renderers in
/// `crate::report`: the lead swaps this for them when the lint branch lands.
pub fn print_findings(format: Format, outcome: &VerifyOutcome) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json | Format::Sarif => {
            let doc = serde_json::json!({
                "findings": outcome.findings,
                "summary": {
                    "checked": outcome.checked,
                    "verified": outcome.verified,
                    "unpinned": outcome.unpinned,
                },
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
        Format::Github => {
            for f in &outcome.findings {
                let mut props = vec![format!("title={}", f.code)];
                if let Some(file) = &f.file {
                    props.push(format!("file={}", file.display()));
                    if f.line > 0 {
                        props.push(format!("line={},col={}", f.line, f.column));
                    }
                }
                writeln!(
                    out,
                    "::{} {}::{}",
                    f.severity.as_str(),
                    props.join(","),
                    f.message
                )?;
            }
        }
        Format::Human => {
            for f in &outcome.findings {
                write_human(&mut out, f)?;
            }
            writeln!(
                out,
                "verified {} of {} distinct references{}",
                outcome.verified,
                outcome.checked,
                if outcome.unpinned > 0 {
                    format!(" ({} unpinned skipped)", outcome.unpinned)
                } else {
                    String::new()
                }
            )?;
        }
    }
    Ok(())
}

fn write_human(out: &mut impl Write, f: &Finding) -> std::io::Result<()> {
    let loc = f.location();
    if !loc.is_empty() {
        write!(out, "{loc}: ")?;
    }
    write!(out, "{}[{}]: {}", f.severity.as_str(), f.code, f.message)?;
    if let Some(image) = &f.image {
        write!(out, " ({image})")?;
    }
    writeln!(out)
}

pub fn run_resolve(args: ResolveArgs) -> anyhow::Result<Exit> {
    let platforms = parse_platforms(&args.registry.platforms)?;
    if platforms.len() > 1 {
        anyhow::bail!("resolve takes at most one --platform (a manifest line names one digest)");
    }
    let client = build_client(&args.registry)?;
    let mut images: Vec<ImageRef> = Vec::new();
    let mut charts = args.charts.clone();
    for t in &args.targets {
        match classify_arg(t)? {
            Arg::Chart(dir) => charts.push(dir),
            Arg::Image(image) => images.push(image),
        }
    }
    if charts.is_empty() && images.is_empty() {
        charts.push(PathBuf::from("."));
    }
    if !charts.is_empty() {
        images.extend(targets_from_charts(&charts)?.into_iter().map(|t| t.image));
    }
    let mut seen = std::collections::HashSet::new();
    images.retain(|i| seen.insert(i.as_str().to_string()));
    let platform = platforms.first();
    let results = runtime()?.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, image) in images.iter().enumerate() {
            let (client, image, platform) = (client.clone(), image.clone(), platform.cloned());
            tasks.spawn(async move {
                (
                    i,
                    crate::verify::resolve(&client, &image, platform.as_ref()).await,
                )
            });
        }
        let mut results: Vec<Option<Result<_, ResolveError>>> = vec![None; images.len()];
        while let Some(joined) = tasks.join_next().await {
            let (i, r) = joined.expect("resolve task");
            results[i] = Some(r);
        }
        results
    });
    let mut lines = Vec::new();
    let mut exit = Exit::Clean;
    let mut stderr = std::io::stderr().lock();
    for (image, result) in images.iter().zip(results) {
        match result.expect("every task reports") {
            Ok(resolved) => lines.push(resolved.line()),
            Err(ResolveError::Registry(e)) => {
                writeln!(stderr, "error: {image}: {}", Unanswered(e.to_string()))?;
                exit = exit.max(Exit::Unanswered);
            }
            Err(e) => {
                writeln!(stderr, "error: {image}: {e}")?;
                exit = exit.max(Exit::Findings);
            }
        }
    }
    if exit != Exit::Clean {
        return Ok(exit);
    }
    let mut text = lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(Exit::Clean)
}
