//! The `verify` and `resolve` use cases end to end: gather targets
//! ([`super::targets`]), ask the registries on the one runtime
//! ([`crate::registry::runtime`]), return what a renderer needs.

use std::path::{Path, PathBuf};

use crate::manifest::DigestManifest;
use crate::reference::ImageRef;
use crate::registry::RegistryClient;
use crate::registry::runtime::block_on;
use crate::source::SourceFile;

use super::targets::{self, Resolution, TargetError};
use super::{Platform, Target, VerifyOptions, VerifyOutcome};

/// What to verify: images named, charts, a digest manifest's entries.
#[derive(Clone, Debug, Default)]
pub struct VerifyRequest {
    pub images: Vec<ImageRef>,
    pub charts: Vec<PathBuf>,
    pub manifest: Option<DigestManifest>,
    pub options: VerifyOptions,
    /// `--config FILE`: one configuration for every chart; without it each
    /// chart's own `.chartpin.yaml` adds its requirements to `options`.
    pub config: Option<PathBuf>,
    /// How the charts' images are found: as static lint finds them, and
    /// with `render` also every image helm renders with the request's
    /// values (`--render`, `--values-file`, `--set`).
    pub discovery: crate::lint::LintOptions,
}

/// A verify run, ready to render.
#[derive(Clone, Debug, Default)]
pub struct VerifyRun {
    pub outcome: VerifyOutcome,
    /// References discovery could not work out (counted as unpinned).
    pub unresolved: usize,
    /// The charts' files and the manifests', which findings point into.
    pub sources: Vec<SourceFile>,
    /// Files read: the charts' files and the manifests.
    pub files_checked: usize,
}

/// Why a use case could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Targets(#[from] TargetError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

impl From<crate::lint::LintError> for RunError {
    fn from(e: crate::lint::LintError) -> Self {
        RunError::Targets(e.into())
    }
}

/// Verify `req`; `progress(done, total)` as distinct references finish.
pub fn verify_request(
    client: &RegistryClient,
    req: &VerifyRequest,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<VerifyRun, RunError> {
    let mut targets = Vec::new();
    for image in &req.images {
        if !image.is_pinned() {
            return Err(TargetError::Argument(format!(
                "`{image}` has no digest to verify (pin it first, or use `chartpin resolve`)"
            ))
            .into());
        }
        targets.push(Target::new(image.clone()));
    }
    let mut run = VerifyRun::default();
    if !req.charts.is_empty() {
        let found = targets::chart_targets(&req.charts, &req.discovery)?;
        run.unresolved = found.unresolved;
        targets.extend(found.images.into_iter().map(|i| i.target));
        run.sources = found.sources;
    }
    let mut options = req.options.clone();
    let configs = match &req.config {
        Some(p) => crate::config::Config::load(Path::new("."), Some(p))
            .map_err(TargetError::from)?
            .into_iter()
            .collect(),
        None => chart_configs(&run.sources)?,
    };
    let mut signature_from = None;
    for c in &configs {
        options.require_from(c);
        options
            .require_signature_from(c, &mut signature_from)
            .map_err(TargetError::from)?;
    }
    run.files_checked = run.sources.len();
    if let Some(manifest) = &req.manifest {
        targets.extend(targets::manifest_targets(manifest, &req.charts)?);
        run.files_checked += manifest_files(manifest);
        run.sources.extend(manifest.sources.iter().cloned());
    }
    run.outcome =
        block_on(super::verify(client, &targets, &options, progress)).map_err(RunError::Runtime)?;
    Ok(run)
}

/// The `.chartpin.yaml` files among the charts' files, parsed.
fn chart_configs(sources: &[SourceFile]) -> Result<Vec<crate::config::Config>, TargetError> {
    sources
        .iter()
        .filter(|s| s.path.file_name() == Some(std::ffi::OsStr::new(crate::config::FILE_NAME)))
        .map(|s| crate::config::Config::parse(&s.path, &s.text).map_err(TargetError::from))
        .collect()
}

/// Distinct files a manifest's entries came from.
pub fn manifest_files(manifest: &DigestManifest) -> usize {
    let mut files: Vec<&Path> = manifest.entries.iter().map(|e| &*e.origin.file).collect();
    files.sort();
    files.dedup();
    files.len()
}

/// A resolve run: the answers, and notes on what was left out.
#[derive(Debug, Default)]
pub struct ResolveRun {
    pub resolution: Resolution,
    pub notes: Vec<String>,
    /// Chart files read.
    pub files_checked: usize,
}

/// Look up `images` and the mutable references of `charts`; entries sit at `origin`.
pub fn resolve_request(
    client: &RegistryClient,
    images: &[ImageRef],
    charts: &[PathBuf],
    platform: Option<&Platform>,
    origin: &Path,
) -> Result<ResolveRun, RunError> {
    let mut images = images.to_vec();
    let mut run = ResolveRun::default();
    if !charts.is_empty() {
        let found = targets::mutable_chart_images(charts)?;
        images.extend(found.targets.into_iter().map(|t| t.image));
        run.notes = found.notes;
        run.files_checked = found.files;
    }
    run.resolution = block_on(targets::resolve_all(client, &images, platform, origin))
        .map_err(RunError::Runtime)?;
    Ok(run)
}
