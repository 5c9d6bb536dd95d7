//! `chartpin verify` and `chartpin resolve`: wiring from flags to [`crate::verify`].
//!
//! Targets are gathered here: image references given as arguments, entries
//! of `--digests` manifests, and the references inside charts, found by the
//! same discovery as `lint` ([`crate::lint::discover`]: values files
//! with their subcharts, templates, `Chart.yaml`'s `artifacthub.io/images`
//! annotation; directories and packaged `.tgz` charts alike).
//!
//! Verify proves digests; it does not judge mutability. A chart reference
//! without a digest is counted in the summary (`unpinned`) and never becomes
//! a finding, so `verify` on a half-pinned chart still exits 0 when every
//! digest it does carry exists. `chartpin lint` (and `release`, which runs
//! it) is where unpinned references fail a build. Findings are rendered by
//! [`crate::report`], worded as lint words them.

use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::{ChartArgs, DigestsArgs, FormatArgs, RegistryArgs};
use crate::config::Config;
use crate::diag::{Exit, Unanswered};
use crate::lint::{self, FoundImage, ImageOrigin, LintOptions};
use crate::manifest::{
    DigestManifest, EntryName, ManifestEntry, ManifestFormat, Origin, read_manifests,
};
use crate::pin::{self, PinOptions};
use crate::reference::ImageRef;
use crate::registry::credentials::CredentialStore;
use crate::registry::{ClientConfig, Mirror, RegistryClient};
use crate::report::{self, Format, RenderOptions, Sources};
use crate::source::SourceFile;
use crate::values::{ImageSite, SiteKind, ValuesFile};
use crate::verify::{
    Location, Platform, ResolveError, Resolved, Target, VerifyOptions, VerifyOutcome,
};

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

/// `resolve`'s arguments. No `--format`: its output is a digest manifest
/// (data for `pin --digests`), not findings.
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
    #[command(flatten)]
    pub registry: RegistryArgs,
}

pub fn run(args: VerifyArgs) -> anyhow::Result<Exit> {
    let platforms = parse_platforms(&args.registry.platforms)?;
    let client = build_client(&args.registry)?;
    let mut targets = Vec::new();
    let mut charts: Vec<PathBuf> = Vec::new();
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
    charts.extend(args.charts.charts.iter().cloned());
    if charts.is_empty() && targets.is_empty() && args.digests.is_empty() {
        charts.push(PathBuf::from("."));
    }
    let mut sources = Sources::new();
    let mut unresolved = 0;
    if !charts.is_empty() {
        let found = chart_targets(&charts)?;
        unresolved = found.unresolved;
        targets.extend(found.images.into_iter().map(|i| i.target));
        sources = found.sources;
    }
    if !args.digests.is_empty() {
        targets.extend(targets_from_manifests_with_charts(
            &args.digests.digests,
            args.digests.digests_format,
            &charts,
        )?);
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
    let mut out = std::io::stdout().lock();
    render_outcome(
        args.format.resolve(),
        &outcome,
        unresolved,
        &sources,
        &mut out,
    )?;
    out.flush()?;
    Ok(Exit::from_findings(&outcome.findings))
}

/// One reference found in a chart, as verify and resolve use it.
#[derive(Clone, Debug)]
pub struct ChartImage {
    /// The reference at its place (for a values block: the digest field, else the site).
    pub target: Target,
    /// A values block without a tag: the chart's template supplies one
    /// (often its `appVersion`), so the reference alone does not say which.
    pub tag_from_template: bool,
}

/// What discovery found in charts, ready for verify.
#[derive(Clone, Debug, Default)]
pub struct ChartTargets {
    /// Every reference that follows the grammar, pinned or not, in file
    /// order. Verify checks the pinned ones and counts the others as unpinned.
    pub images: Vec<ChartImage>,
    /// References discovery could not work out (template expressions with
    /// unknown parts): neither verified nor resolvable.
    pub unresolved: usize,
    /// Every file of the charts (packaged ones too), for renderers.
    pub sources: Sources,
}

/// The references inside charts (directories, parents of chart directories,
/// packaged `.tgz`), found as `lint` finds them, each at its place.
///
/// A template image built from values keys, or equal to a values reference
/// of the same chart, is left out: its values site is where a digest is
/// written and where findings point.
pub fn chart_targets(charts: &[PathBuf]) -> anyhow::Result<ChartTargets> {
    let lint::Discovered {
        images: found,
        sources,
    } = lint::discover(charts, &LintOptions::default())?;
    // Keyed by path; as before, a later file of the same path wins.
    let files: HashMap<PathBuf, SourceFile> =
        sources.into_iter().map(|s| (s.path.clone(), s)).collect();
    let values_refs: HashSet<(PathBuf, String)> = found
        .iter()
        .filter(|i| i.origin == ImageOrigin::Values)
        .filter_map(|i| Some((i.chart_root.clone(), i.image_ref()?.canonical())))
        .collect();
    let mut sites: HashMap<PathBuf, Vec<ImageSite>> = HashMap::new();
    let mut out = ChartTargets::default();
    for img in &found {
        let Some(image) = img.image_ref() else {
            if img.values_paths.is_empty() {
                out.unresolved += 1;
            }
            continue;
        };
        let echoes_values = matches!(img.origin, ImageOrigin::Template | ImageOrigin::Rendered)
            && (!img.values_paths.is_empty()
                || values_refs.contains(&(img.chart_root.clone(), image.canonical())));
        if echoes_values {
            continue;
        }
        let mut location = Location {
            file: img.file.clone(),
            line: img.line,
            column: img.column,
            yaml_path: img.path.clone(),
        };
        let mut tag_from_template = false;
        if img.origin == ImageOrigin::Values
            && let Some(src) = files.get(&img.file)
        {
            let file_sites = sites.entry(img.file.clone()).or_insert_with(|| {
                crate::values::readable_sites(&src.path, &src.text).unwrap_or_default()
            });
            if let Some(site) = find_site(file_sites, img) {
                tag_from_template = site.kind == SiteKind::Block
                    && site.fields.tag.is_none()
                    && image.tag().is_none()
                    && !image.is_pinned();
                refine_location(&mut location, site, src);
            }
        }
        out.images.push(ChartImage {
            target: Target::new(image).at(location),
            tag_from_template,
        });
    }
    for (_, src) in files {
        out.sources.insert(src);
    }
    Ok(out)
}

/// The pinned and unpinned references inside charts as verify targets.
#[allow(dead_code)] // the entry point `release` wiring calls
pub fn targets_from_charts(charts: &[PathBuf]) -> anyhow::Result<Vec<Target>> {
    Ok(chart_targets(charts)?
        .images
        .into_iter()
        .map(|i| i.target)
        .collect())
}

fn find_site<'a>(sites: &'a [ImageSite], img: &FoundImage) -> Option<&'a ImageSite> {
    let path = img.path.as_deref()?;
    sites.iter().find(|s| s.path.to_string() == path)
}

/// Point at the field that holds the digest (`digest`, `sha`, the string,
/// a `tag: v1@sha256:…`) rather than at the block's key.
fn refine_location(location: &mut Location, site: &ImageSite, src: &SourceFile) {
    let f = &site.fields;
    let tag_with_digest = f.tag.as_ref().filter(|t| t.scalar.value.contains('@'));
    let field = f
        .digest
        .as_ref()
        .filter(|d| !d.scalar.value.is_empty())
        .or(f.sha.as_ref().filter(|d| !d.scalar.value.is_empty()))
        .or(tag_with_digest)
        .or(f.string.as_ref());
    if let Some(field) = field {
        let lc = src.line_col(field.scalar.span.start);
        location.line = lc.line;
        location.column = lc.column;
        location.yaml_path = Some(field.path.to_string());
    }
}

/// Entries of digest manifests as targets: `name[:tag]@digest` at the entry's origin.
/// Short names are a usage error: see [`targets_from_manifests_with_charts`].
#[allow(dead_code)] // the entry point `release` wiring calls
pub fn targets_from_manifests(paths: &[PathBuf]) -> anyhow::Result<Vec<Target>> {
    targets_from_manifests_with_charts(paths, None, &[])
}

/// Entries of digest manifests as targets. A short name (`osm-controller`)
/// takes its registry and namespace from the image it matches in `charts`
/// (matched as `pin` matches it); without charts, or when it matches no
/// image, it is a usage error, since its registry is unknown.
pub fn targets_from_manifests_with_charts(
    paths: &[PathBuf],
    format: Option<ManifestFormat>,
    charts: &[PathBuf],
) -> anyhow::Result<Vec<Target>> {
    let manifest = read_manifests(paths, format)?;
    let has_short = manifest
        .entries
        .iter()
        .any(|e| matches!(e.name, EntryName::Short(_)));
    let short_names = if has_short && !charts.is_empty() {
        short_entry_names(&manifest, charts)?
    } else {
        HashMap::new()
    };
    let mut out = Vec::new();
    for (i, entry) in manifest.entries.iter().enumerate() {
        let name = match &entry.name {
            EntryName::Full(image) => image.written_name(),
            EntryName::Short(short) => match short_names.get(&i) {
                Some(name) => name.clone(),
                None if charts.is_empty() => anyhow::bail!(
                    "{}: `{short}` is a short image name; verifying it needs the chart that supplies its registry (name the chart too: `chartpin verify CHART --digests FILE`)",
                    entry.origin
                ),
                None => anyhow::bail!(
                    "{}: `{short}` is a short image name and matches no image in the charts named, so its registry is unknown",
                    entry.origin
                ),
            },
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

/// For each short-named entry (by index) the full image name of the chart
/// image it pins, using `pin`'s matching over each chart's `values.yaml`
/// (and its `.chartpin.yaml`).
fn short_entry_names(
    manifest: &DigestManifest,
    charts: &[PathBuf],
) -> anyhow::Result<HashMap<usize, String>> {
    let mut names = HashMap::new();
    for path in charts {
        for chart in lint::chart::discover(path)? {
            let Some(src) = chart.file("values.yaml") else {
                continue;
            };
            let config = match chart.file(crate::config::FILE_NAME) {
                Some(c) => Some(Config::parse(&c.path, &c.text)?),
                None => None,
            };
            let vf = ValuesFile::parse(&src.path, src.text.clone())?;
            let sites = vf.image_sites()?;
            let opts = PinOptions {
                config,
                ..PinOptions::default()
            };
            let outcome = pin::pin(std::slice::from_ref(&vf), manifest, &opts)?;
            for p in outcome.files.iter().flat_map(|f| &f.pinned) {
                if !matches!(manifest.entries[p.entry].name, EntryName::Short(_)) {
                    continue;
                }
                if let Some(Ok(r)) = sites
                    .iter()
                    .find(|s| s.path == p.path)
                    .map(|s| &s.reference)
                {
                    names.entry(p.entry).or_insert_with(|| r.written_name());
                }
            }
        }
    }
    Ok(names)
}

/// Findings through the shared renderers, then verify's counts: a line in
/// the human and GitHub formats, `summary.{checked,verified,unpinned}` in JSON.
/// SARIF carries the findings only.
pub fn render_outcome(
    format: Format,
    outcome: &VerifyOutcome,
    unresolved: usize,
    sources: &Sources,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let opts = RenderOptions {
        color: format == Format::Human && report::color_for_stdout(),
        sources: Some(sources),
        ..RenderOptions::default()
    };
    let unpinned = outcome.unpinned + unresolved;
    match format {
        Format::Json => {
            let mut buf = Vec::new();
            report::render(format, &outcome.findings, &opts, &mut buf)?;
            let mut doc: serde_json::Value = serde_json::from_slice(&buf)?;
            let summary = &mut doc["summary"];
            summary["checked"] = outcome.checked.into();
            summary["verified"] = outcome.verified.into();
            summary["unpinned"] = unpinned.into();
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            writeln!(out)?;
        }
        Format::Sarif => report::render(format, &outcome.findings, &opts, out)?,
        Format::Human | Format::Github => {
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

enum Arg {
    Chart(PathBuf),
    Image(ImageRef),
}

/// A positional argument is a chart when it is a directory or a packaged
/// chart (`.tgz`, `.tar.gz`), else an image reference.
fn classify_arg(arg: &str) -> anyhow::Result<Arg> {
    let path = Path::new(arg);
    let archive = (arg.ends_with(".tgz") || arg.ends_with(".tar.gz")) && path.is_file();
    if path.is_dir() || archive {
        return Ok(Arg::Chart(path.to_path_buf()));
    }
    ImageRef::parse(arg).map(Arg::Image).map_err(|e| {
        anyhow::anyhow!(
            "`{arg}` is neither a chart (directory or .tgz) nor an image reference: {e}"
        )
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
    if args.deadline == 0 {
        anyhow::bail!("--deadline must be at least 1 second");
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
        deadline: Duration::from_secs(args.deadline),
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
    let platforms = parse_platforms(&args.registry.platforms)?;
    if platforms.len() > 1 {
        anyhow::bail!("resolve takes at most one --platform (a manifest line names one digest)");
    }
    let client = build_client(&args.registry)?;
    let mut images: Vec<ImageRef> = Vec::new();
    let mut charts = Vec::new();
    for t in &args.charts.paths {
        match classify_arg(&t.to_string_lossy())? {
            Arg::Chart(dir) => charts.push(dir),
            Arg::Image(image) => images.push(image),
        }
    }
    charts.extend(args.charts.charts.iter().cloned());
    if charts.is_empty() && images.is_empty() {
        charts.push(PathBuf::from("."));
    }
    // Not locked: the runtime's threads log to stderr while this one waits for them.
    let mut stderr = std::io::stderr();
    if !charts.is_empty() {
        images.extend(
            mutable_chart_images(&charts, &mut super::logging::notes())?
                .into_iter()
                .map(|t| t.image),
        );
    }
    let origin = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from("<resolved>"));
    let (manifest, exit) =
        resolve_to_manifest(&client, &images, platforms.first(), &origin, &mut stderr)?;
    if exit != Exit::Clean {
        return Ok(exit);
    }
    let text = manifest.to_ref_lines().map_err(anyhow::Error::msg)?;
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(Exit::Clean)
}

/// The mutable references of `charts` that `resolve` looks up, at their
/// places: every reference discovery found without a digest. A values block without a tag
/// is skipped with a note on `notes`: its template supplies the tag (often
/// the chart's `appVersion`), and looking `latest` up would pin the wrong
/// image. So are references discovery could not work out.
pub fn mutable_chart_images(
    charts: &[PathBuf],
    notes: &mut dyn Write,
) -> anyhow::Result<Vec<Target>> {
    let found = chart_targets(charts)?;
    let mut images = Vec::new();
    for i in found.images {
        if i.target.image.is_pinned() {
            continue;
        }
        if i.tag_from_template {
            let at = i
                .target
                .location
                .as_ref()
                .map(|l| format!("{}:{}:{}: ", l.file.display(), l.line, l.column))
                .unwrap_or_default();
            writeln!(
                notes,
                "note: {at}`{}` has no tag in values; the chart's template supplies it, so it is not resolved (name IMAGE:TAG explicitly)",
                i.target.image
            )?;
            continue;
        }
        images.push(i.target);
    }
    if found.unresolved > 0 {
        writeln!(
            notes,
            "note: {} reference{} in templates could not be worked out and {} not resolved (`chartpin lint` shows where)",
            found.unresolved,
            if found.unresolved == 1 { "" } else { "s" },
            if found.unresolved == 1 { "is" } else { "are" }
        )?;
    }
    Ok(images)
}

/// Look every image's tag up (`latest` when none is written), distinct
/// images once, and gather the answers as a digest manifest whose entries
/// sit at `origin`'s line numbers (one line each, as `to_ref_lines` writes
/// them). Failures are written to `errors`; the exit is 1 when a tag or
/// platform is missing, 3 when a registry could not answer, else 0.
pub fn resolve_to_manifest(
    client: &RegistryClient,
    images: &[ImageRef],
    platform: Option<&Platform>,
    origin: &Path,
    errors: &mut dyn Write,
) -> anyhow::Result<(DigestManifest, Exit)> {
    let mut seen = HashSet::new();
    let images: Vec<ImageRef> = images
        .iter()
        .filter(|i| {
            let tag = i.tag().unwrap_or("latest");
            seen.insert(format!("{}:{tag}", i.name()))
        })
        .cloned()
        .collect();
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
        let mut results: Vec<Option<Result<Resolved, ResolveError>>> = vec![None; images.len()];
        while let Some(joined) = tasks.join_next().await {
            let (i, r) = joined.expect("resolve task");
            results[i] = Some(r);
        }
        results
    });
    let mut manifest = DigestManifest::default();
    let mut exit = Exit::Clean;
    for (image, result) in images.iter().zip(results) {
        match result.expect("every task reports") {
            Ok(resolved) => {
                let name = ImageRef::parse(&resolved.image.written_name())
                    .map_err(|e| anyhow::anyhow!("{image}: {e}"))?;
                manifest.entries.push(ManifestEntry {
                    name: EntryName::Full(name),
                    tag: resolved.image.tag().map(str::to_string),
                    digest: resolved.digest,
                    origin: Origin {
                        file: origin.to_path_buf(),
                        line: manifest.entries.len() + 1,
                        column: 1,
                    },
                });
            }
            Err(ResolveError::Registry(e)) => {
                writeln!(errors, "error: {image}: {}", Unanswered(e.to_string()))?;
                exit = exit.max(Exit::Unanswered);
            }
            Err(e) => {
                writeln!(errors, "error: {image}: {e}")?;
                exit = exit.max(Exit::Findings);
            }
        }
    }
    Ok((manifest, exit))
}
