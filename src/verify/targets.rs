//! What `verify` and `resolve` look at: image references given as
//! arguments, entries of digest manifests, and the references inside
//! charts, found by the same discovery as `lint` ([`crate::lint::discover`]:
//! values files with their subcharts, templates, `Chart.yaml`'s
//! `artifacthub.io/images` annotation; directories and packaged `.tgz`
//! charts alike).
//!
//! A manifest entry with a short name (`osm-controller`) takes its registry
//! and namespace from the chart image it pins, matched as `pin` matches it.
//! Resolving looks tags up; it skips, with a note, what it cannot resolve
//! honestly (a values block whose tag the template supplies). Nothing here
//! prints: notes and failures come back as data.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::diag::{Exit, InputError};
use crate::lint::{self, FoundImage, ImageOrigin, LintError, LintOptions};
use crate::manifest::{DigestManifest, EntryName, ManifestEntry, Origin};
use crate::pin::{self, PinOptions};
use crate::reference::ImageRef;
use crate::registry::RegistryClient;
use crate::source::{Position, SourceFile};
use crate::values::{ImageSite, SiteKind, ValuesFile};

use super::{Location, Platform, ResolveError, Resolved, Target};

/// Why targets could not be gathered.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(transparent)]
    Lint(#[from] LintError),
    #[error(transparent)]
    Input(#[from] InputError),
    /// An argument that is neither a chart nor a usable image reference.
    #[error("{0}")]
    Argument(String),
}

/// A positional argument of `verify` or `resolve`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Named {
    Chart(PathBuf),
    Image(ImageRef),
}

/// A positional argument is a chart when it is a directory or a packaged
/// chart (`.tgz`, `.tar.gz`), else an image reference.
pub fn classify(arg: &Path) -> Result<Named, TargetError> {
    let text = arg.to_string_lossy();
    let archive = (text.ends_with(".tgz") || text.ends_with(".tar.gz")) && arg.is_file();
    if arg.is_dir() || archive {
        return Ok(Named::Chart(arg.to_path_buf()));
    }
    ImageRef::parse(&text).map(Named::Image).map_err(|e| {
        TargetError::Argument(format!(
            "`{text}` is neither a chart (directory or .tgz) nor an image reference: {e}"
        ))
    })
}

/// Positional arguments and `--chart`s split into charts and images; `.`
/// when nothing at all is named (and `default_dot`).
pub fn split_named(
    paths: &[PathBuf],
    charts: &[PathBuf],
    default_dot: bool,
) -> Result<(Vec<PathBuf>, Vec<ImageRef>), TargetError> {
    let (mut dirs, mut images) = (Vec::new(), Vec::new());
    for p in paths {
        match classify(p)? {
            Named::Chart(d) => dirs.push(d),
            Named::Image(i) => images.push(i),
        }
    }
    dirs.extend(charts.iter().cloned());
    if dirs.is_empty() && images.is_empty() && default_dot {
        dirs.push(PathBuf::from("."));
    }
    Ok((dirs, images))
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
    pub sources: Vec<SourceFile>,
}

/// The references inside charts (directories, parents of chart directories,
/// packaged `.tgz`), found as `lint` finds them with `discovery` (static
/// by default; with `render`, also what helm renders), each at its place.
///
/// A template or rendered image built from values keys, or equal to a
/// values reference of the same chart, is left out: its values site is
/// where a digest is written and where findings point.
pub fn chart_targets(
    charts: &[PathBuf],
    discovery: &LintOptions,
) -> Result<ChartTargets, LintError> {
    let lint::Discovered {
        images: found,
        sources,
    } = lint::discover(charts, discovery)?;
    // Keyed by path; as before, a later file of the same path wins.
    let files: HashMap<PathBuf, SourceFile> = sources
        .into_iter()
        .map(|s| (s.path.to_path_buf(), s))
        .collect();
    let values_refs: HashSet<(std::sync::Arc<Path>, String)> = found
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
            at: img.location.clone(),
            yaml_path: img.path.clone(),
        };
        let mut tag_from_template = false;
        if img.origin == ImageOrigin::Values
            && let Some(src) = files.get(img.file())
        {
            let file_sites = sites.entry(img.file().to_path_buf()).or_insert_with(|| {
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
    out.sources = files.into_values().collect();
    out.sources.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
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
        location.at = crate::source::Location::starting(src, field.scalar.span().start);
        location.yaml_path = Some(field.path.to_string());
    }
}

/// Entries of a digest manifest as targets, at the entries' origins. A
/// short name (`osm-controller`) takes its registry and namespace from the
/// image it matches in `charts` (matched as `pin` matches it); without
/// charts, or when it matches no image, it is an input error, since its
/// registry is unknown.
pub fn manifest_targets(
    manifest: &DigestManifest,
    charts: &[PathBuf],
) -> Result<Vec<Target>, TargetError> {
    let has_short = manifest
        .entries
        .iter()
        .any(|e| matches!(e.name, EntryName::Short(_)));
    let short_names = if has_short && !charts.is_empty() {
        short_entry_names(manifest, charts)?
    } else {
        HashMap::new()
    };
    let at_entry = |entry: &ManifestEntry, message: String| {
        let source = manifest
            .sources
            .iter()
            .find(|s| s.path == entry.origin.file);
        match (source, entry.origin.position) {
            (Some(s), Some(p)) => InputError {
                source_line: None,
                ..InputError::at(s, p.start(), message)
            },
            _ => InputError::file(&entry.origin.file, message),
        }
    };
    let mut out = Vec::new();
    for (i, entry) in manifest.entries.iter().enumerate() {
        let name = match &entry.name {
            EntryName::Full(image) => image.written_name(),
            EntryName::Short(short) => match short_names.get(&i) {
                Some(name) => name.clone(),
                None if charts.is_empty() => return Err(at_entry(entry, format!(
                    "`{short}` is a short image name; verifying it needs the chart that supplies its registry (name the chart too: `chartpin verify CHART --digests FILE`)"
                )).into()),
                None => return Err(at_entry(entry, format!(
                    "`{short}` is a short image name and matches no image in the charts named, so its registry is unknown"
                )).into()),
            },
        };
        let text = match &entry.tag {
            Some(tag) => format!("{name}:{tag}@{}", entry.digest),
            None => format!("{name}@{}", entry.digest),
        };
        let image = ImageRef::parse(&text).map_err(|e| at_entry(entry, e.to_string()))?;
        out.push(Target::new(image).at(Location {
            at: entry.origin.clone(),
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
) -> Result<HashMap<usize, String>, TargetError> {
    let mut names = HashMap::new();
    for path in charts {
        for chart in crate::chart::discover(path)? {
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

/// The mutable references of `charts` that `resolve` looks up, at their
/// places, and notes on what it leaves out: a values block without a tag
/// (its template supplies the tag, often the chart's `appVersion`, and
/// looking `latest` up would pin the wrong image) and references discovery
/// could not work out.
#[derive(Clone, Debug, Default)]
pub struct MutableImages {
    pub targets: Vec<Target>,
    /// One line each, without the `note: ` prefix.
    pub notes: Vec<String>,
    /// How many files discovery read.
    pub files: usize,
}

/// See [`MutableImages`].
pub fn mutable_chart_images(charts: &[PathBuf]) -> Result<MutableImages, LintError> {
    let found = chart_targets(charts, &LintOptions::default())?;
    let sources: crate::source::Sources = found.sources.iter().cloned().collect();
    let mut out = MutableImages {
        files: found.sources.len(),
        ..MutableImages::default()
    };
    for i in found.images {
        if i.target.image.is_pinned() {
            continue;
        }
        if i.tag_from_template {
            let at = i
                .target
                .location
                .as_ref()
                .map(|l| format!("{}: ", l.at.display_in(&sources)))
                .unwrap_or_default();
            out.notes.push(format!(
                "{at}`{}` has no tag in values; the chart's template supplies it, so it is not resolved (name IMAGE:TAG explicitly)",
                i.target.image
            ));
            continue;
        }
        out.targets.push(i.target);
    }
    if found.unresolved > 0 {
        out.notes.push(format!(
            "{} reference{} in templates could not be worked out and {} not resolved (`chartpin lint` shows where)",
            found.unresolved,
            if found.unresolved == 1 { "" } else { "s" },
            if found.unresolved == 1 { "is" } else { "are" }
        ));
    }
    Ok(out)
}

/// Tags looked up: the answers as a digest manifest, and what failed.
#[derive(Debug, Default)]
pub struct Resolution {
    /// One entry per distinct `name:tag`, at `origin`'s line numbers (one
    /// line each, as `to_ref_lines` writes them).
    pub manifest: DigestManifest,
    /// The resolved images, in the same order as the entries.
    pub resolved: Vec<Resolved>,
    pub failures: Vec<(ImageRef, ResolveError)>,
}

impl Resolution {
    /// 1 when a tag or platform is missing, 3 when a registry could not answer, else 0.
    pub fn exit(&self) -> Exit {
        self.failures
            .iter()
            .map(|(_, e)| match e {
                ResolveError::Registry(_) => Exit::Unanswered,
                _ => Exit::Findings,
            })
            .max()
            .unwrap_or(Exit::Clean)
    }
}

/// Look every image's tag up (`latest` when none is written), distinct
/// images once, and gather the answers as a digest manifest whose entries
/// sit at `origin`.
pub async fn resolve_all(
    client: &RegistryClient,
    images: &[ImageRef],
    platform: Option<&Platform>,
    origin: &Path,
) -> Resolution {
    let mut seen = HashSet::new();
    let images: Vec<ImageRef> = images
        .iter()
        .filter(|i| {
            let tag = i.tag().unwrap_or("latest");
            seen.insert(format!("{}:{tag}", i.name()))
        })
        .cloned()
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, image) in images.iter().enumerate() {
        let (client, image, platform) = (client.clone(), image.clone(), platform.cloned());
        tasks.spawn(async move { (i, super::resolve(&client, &image, platform.as_ref()).await) });
    }
    let mut results: Vec<Option<Result<Resolved, ResolveError>>> = vec![None; images.len()];
    while let Some(joined) = tasks.join_next().await {
        let (i, r) = joined.expect("resolve task");
        results[i] = Some(r);
    }
    let mut out = Resolution::default();
    // The manifest as `to_ref_lines` writes it: each entry starts its line.
    let mut text = String::new();
    for (image, result) in images.into_iter().zip(results) {
        match result.expect("every task reports") {
            Ok(resolved) => match ImageRef::parse(&resolved.image.written_name()) {
                Ok(name) => {
                    let entry = ManifestEntry {
                        name: EntryName::Full(name),
                        tag: resolved.image.tag().map(str::to_string),
                        digest: resolved.digest.clone(),
                        origin: Origin {
                            file: origin.into(),
                            position: Some(Position::Start(text.len())),
                            source: None,
                        },
                    };
                    text.push_str(&entry.display_ref());
                    text.push('\n');
                    out.manifest.entries.push(entry);
                    out.resolved.push(resolved);
                }
                Err(e) => out
                    .failures
                    .push((image, ResolveError::BadManifest(e.to_string()))),
            },
            Err(e) => out.failures.push((image, e)),
        }
    }
    let source = SourceFile::new(origin, text);
    for e in &mut out.manifest.entries {
        e.origin.source = Some(source.id());
    }
    out.manifest.sources = vec![source];
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::RegistryError;

    #[test]
    fn arguments_are_charts_when_directories_else_image_references() {
        let dir = tempfile::tempdir().unwrap();
        let (charts, images) = split_named(
            &[dir.path().to_path_buf(), PathBuf::from("nginx:1.27")],
            &[PathBuf::from("other")],
            true,
        )
        .unwrap();
        assert_eq!(charts, [dir.path().to_path_buf(), PathBuf::from("other")]);
        assert_eq!(images, [ImageRef::parse("nginx:1.27").unwrap()]);
        let (charts, images) = split_named(&[], &[], true).unwrap();
        assert_eq!((charts, images.len()), (vec![PathBuf::from(".")], 0));
        assert!(split_named(&[], &[], false).unwrap().0.is_empty());
        let err = split_named(&[PathBuf::from("Not A Ref!")], &[], true).unwrap_err();
        assert!(err.to_string().contains("neither a chart"), "{err}");
    }

    #[test]
    fn a_registry_that_cannot_answer_outranks_a_missing_tag() {
        let image = ImageRef::parse("nginx:1.27").unwrap();
        let mut r = Resolution::default();
        assert_eq!(r.exit(), Exit::Clean);
        r.failures
            .push((image.clone(), ResolveError::NotFound("nginx:1.27".into())));
        assert_eq!(r.exit(), Exit::Findings);
        r.failures.push((
            image,
            ResolveError::Registry(RegistryError::Unreachable {
                host: "h".into(),
                reason: "x".into(),
            }),
        ));
        assert_eq!(r.exit(), Exit::Unanswered);
    }
}
