//! The `pin` use case over several charts: lock them, read and check every
//! values file and config before anything is written, optionally look the
//! mutable references' tags up (`--resolve`), plan the edits, and write the
//! changed files as one transaction ([`crate::write::commit`]).
//!
//! An entry is unmatched only when no chart used it. Nothing here prints.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::diag::{Finding, InputError, Severity};
use crate::lock::{self, LockError};
use crate::manifest::{DigestManifest, ManifestEntry};
use crate::registry::RegistryClient;
use crate::source::Sources;
use crate::values::ValuesFile;
use crate::verify::Platform;
use crate::verify::run::{ResolveRun, RunError};
use crate::write::{self, ChangeRef, WriteError, WriteNote};
use crate::yaml::Edit;

use super::{PinOptions, PinOutcome, findings};

/// What to pin.
#[derive(Clone, Debug, Default)]
pub struct PinRequest {
    /// Chart directories.
    pub charts: Vec<PathBuf>,
    /// Values files to pin, relative to each chart (default: `values.yaml`).
    pub values: Vec<PathBuf>,
    /// `--config FILE` for every chart; else each chart's `.chartpin.yaml`.
    pub config: Option<PathBuf>,
    /// Write the changed files (false for `--dry-run` and `--check`).
    pub write: bool,
    /// Unmatched images and entries are errors, not warnings.
    pub strict: bool,
    /// helm to probe each chart's render with ([`crate::probe`]); `None`
    /// pins by the values conventions alone.
    pub helm: Option<crate::helm::Helm>,
    /// What helm renders with besides the chart (`--values-file`, `--set`).
    pub render: crate::helm::RenderSpec,
    /// `--render`: a chart helm cannot render is an error (else it is
    /// pinned by the conventions, with a note).
    pub render_required: bool,
}

/// `--resolve`: where to look tags up.
pub struct ResolveWith<'a> {
    pub client: &'a RegistryClient,
    pub platform: Option<Platform>,
}

/// One chart's values files: (path as shown, real path to write, parsed file).
#[derive(Clone, Debug)]
pub struct ChartValues {
    pub chart: crate::chart::Chart,
    pub files: Vec<(PathBuf, PathBuf, ValuesFile)>,
}

/// A finished pin, ready to render.
#[derive(Debug, Default)]
pub struct PinRun {
    pub charts: Vec<ChartValues>,
    /// One per chart, in the same order.
    pub outcomes: Vec<PinOutcome>,
    /// Entries no chart used.
    pub unmatched_entries: Vec<ManifestEntry>,
    /// The files whose text changes (written when [`PinRun::written`]);
    /// their texts through [`PinRun::change`].
    pub changes: Vec<PinChange>,
    pub written: bool,
    /// `unmatched-image` and `unmatched-entry` findings.
    pub findings: Vec<Finding>,
    /// Sites whose digest changes, over every chart.
    pub pinned: usize,
    /// Files with a change planned, over every chart.
    pub changed_files: usize,
    /// Unpinned images no entry matched.
    pub unmatched_images: usize,
    /// What `--resolve` looked up; when it failed nothing else was done.
    pub resolution: Option<ResolveRun>,
    /// What the writer wants the user told.
    pub write_notes: Vec<WriteNote>,
    /// Charts that could not be rendered and were pinned by the conventions.
    pub render_notes: Vec<String>,
    /// The manifest files' texts, which `unmatched-entry` findings point into.
    pub manifest_sources: Sources<'static>,
}

/// A file whose text the pin changes. A values file's texts are not
/// copied: the old one is its [`ValuesFile`]'s, the new one its plan's
/// (issue 10: a large values file is held once as read, once as planned).
#[derive(Clone, Debug)]
pub struct PinChange {
    /// The path as shown.
    pub shown: PathBuf,
    /// The canonical path written.
    pub real: PathBuf,
    texts: ChangeTexts,
}

#[derive(Clone, Debug)]
enum ChangeTexts {
    /// `charts[chart].files[file]` and `outcomes[chart].files[file]`.
    Values { chart: usize, file: usize },
    /// `outcomes[chart].templates[template]`, with the template's texts.
    Template {
        chart: usize,
        template: usize,
        old: crate::source::SharedText,
        new: String,
    },
}

impl PinRun {
    /// The texts of `change`, and the edits that make the new from the old.
    pub fn change<'r>(&'r self, change: &'r PinChange) -> (ChangeRef<'r>, &'r [Edit]) {
        let (old, new, edits) = match &change.texts {
            ChangeTexts::Values { chart, file } => {
                let plan = &self.outcomes[*chart].files[*file];
                (
                    self.charts[*chart].files[*file].2.text(),
                    plan.new_text.as_str(),
                    plan.edits.as_slice(),
                )
            }
            ChangeTexts::Template {
                chart,
                template,
                old,
                new,
            } => (
                &**old,
                new.as_str(),
                self.outcomes[*chart].templates[*template].edits.as_slice(),
            ),
        };
        let file = ChangeRef {
            shown: &change.shown,
            real: &change.real,
            old,
            new,
        };
        (file, edits)
    }

    /// A manifest entry's origin as `file:line:col`.
    pub fn manifest_origin(&self, origin: &crate::manifest::Origin) -> String {
        origin.display_in(&self.manifest_sources)
    }
}

/// Why a pin could not run. Each is an input error (exit 2) except a
/// registry that could not answer under `--resolve`.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Resolve(#[from] RunError),
    #[error(transparent)]
    Probe(#[from] crate::probe::ProbeError),
}

fn read_chart(chart: &Path, values: &[PathBuf]) -> Result<ChartValues, InputError> {
    let real = chart
        .canonicalize()
        .map_err(|e| InputError::file(chart, format!("chart directory cannot be read: {e}")))?;
    if real.is_file() {
        return Err(InputError::file(chart, super::NOT_A_SOURCE_DIRECTORY));
    }
    if !real.is_dir() {
        return Err(InputError::file(chart, "is not a chart directory"));
    }
    let mut chart = crate::chart::load_dir(chart)?;
    let files = super::read_values(&chart, values)?;
    // Each values file read is now held by its ValuesFile: the chart's own
    // copy of it would hold the text twice (issue 10: memory).
    for (shown, _, _) in &files {
        chart.files.retain(|_, src| *src.path != **shown);
    }
    Ok(ChartValues { chart, files })
}

/// Run the pin: see the module documentation. `waiting` is called when
/// another run holds a chart's lock.
pub fn run(
    req: &PinRequest,
    mut manifest: DigestManifest,
    resolve: Option<ResolveWith<'_>>,
    waiting: &mut dyn FnMut(&Path),
) -> Result<PinRun, PinError> {
    let _locks = lock::lock_named(&req.charts, waiting)?;
    // Read and check everything before anything is written.
    let mut prepared = Vec::new();
    for chart in &req.charts {
        let values = read_chart(chart, &req.values)?;
        let config = Config::of_chart(&values.chart, req.config.as_deref())?;
        prepared.push((values, config));
    }
    let mut run = PinRun::default();
    if let Some(with) = resolve {
        let editing: HashSet<PathBuf> = prepared
            .iter()
            .flat_map(|(v, _)| v.files.iter().map(|(_, real, _)| real.clone()))
            .collect();
        let found =
            crate::verify::targets::mutable_chart_images(&req.charts).map_err(RunError::from)?;
        let images: Vec<_> = found
            .targets
            .into_iter()
            .filter(|t| {
                t.location
                    .as_ref()
                    .and_then(|l| l.at.file.canonicalize().ok())
                    .is_some_and(|f| editing.contains(&f))
            })
            .map(|t| t.image)
            .filter(|i| manifest.find(i).is_none())
            .collect();
        let mut resolved = crate::verify::run::resolve_request(
            with.client,
            &images,
            &[],
            with.platform.as_ref(),
            Path::new("<resolved>"),
        )?;
        resolved.notes = found.notes;
        let failed = !resolved.resolution.failures.is_empty();
        manifest
            .entries
            .extend(resolved.resolution.manifest.entries.iter().cloned());
        manifest
            .sources
            .extend(resolved.resolution.manifest.sources.iter().cloned());
        run.resolution = Some(resolved);
        if failed {
            return Ok(run);
        }
    }
    for (values, config) in &mut prepared {
        let probe = match &req.helm {
            Some(helm) => {
                match super::probe_plan(
                    &values.chart,
                    &values.files,
                    &manifest,
                    config.as_ref(),
                    helm,
                    &req.render,
                ) {
                    Ok(p) => p,
                    // Rendering was not asked for: a chart helm cannot render
                    // is pinned by the conventions, and the user is told why.
                    Err(e) if !req.render_required => {
                        run.render_notes.push(format!(
                            "{}: rendering failed, so its images are found by the values conventions alone: {e}",
                            values.chart.root.display()
                        ));
                        None
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            None => None,
        };
        let opts = PinOptions {
            sha_format: super::sha_format_from_templates(&values.chart),
            subchart_sha_formats: super::subchart_sha_formats(&values.chart),
            config: config.clone(),
            probe,
        };
        let parsed = values.files.iter().map(|(_, _, v)| v);
        let mut outcome = super::plan_edits(parsed, &manifest, &opts)?;
        // The plans hold what was read from the trees; what is left to do
        // needs the texts only, and each tree is given back before its
        // file's planned text is made (issue 10).
        for ((_, _, vf), plan) in values.files.iter_mut().zip(&mut outcome.files) {
            vf.forget_trees();
            plan.apply(vf.text())?;
        }
        run.outcomes.push(outcome);
    }
    run.charts = prepared.into_iter().map(|(v, _)| v).collect();
    run.unmatched_entries = manifest
        .entries
        .iter()
        .filter(|e| run.outcomes.iter().all(|o| o.unmatched_entries.contains(e)))
        .cloned()
        .collect();
    let severity = if req.strict {
        Severity::Error
    } else {
        Severity::Warning
    };
    for (chart, (values, outcome)) in run.charts.iter().zip(&run.outcomes).enumerate() {
        for (file, ((shown, real, vf), plan)) in values.files.iter().zip(&outcome.files).enumerate()
        {
            run.pinned += plan.pinned.iter().filter(|p| p.changed).count();
            run.changed_files += usize::from(plan.changed());
            for s in &plan.unmatched_images {
                run.findings
                    .push(findings::unmatched_image(vf.source(), s, severity));
                run.unmatched_images += usize::from(!s.pinned);
            }
            if plan.changed() && plan.new_text != vf.text() {
                run.changes.push(PinChange {
                    shown: shown.clone(),
                    real: real.clone(),
                    texts: ChangeTexts::Values { chart, file },
                });
            }
        }
    }
    for (chart, (values, outcome)) in run.charts.iter().zip(&run.outcomes).enumerate() {
        let vf = values
            .files
            .iter()
            .find(|(shown, _, _)| *shown == values.chart.root.join("values.yaml"))
            .or(values.files.first())
            .map(|(_, _, v)| v);
        for u in &outcome.unpinnable {
            run.findings
                .push(findings::unpinnable(vf.map(|v| v.source()), u, severity));
        }
        for (template, t) in outcome.templates.iter().enumerate() {
            let Some(src) = values.chart.file_deep(&t.rel) else {
                continue;
            };
            let new =
                crate::yaml::apply_edits(&src.text, &t.edits).map_err(|e| e.in_file(&src.path))?;
            run.pinned += t.pins.iter().filter(|p| p.changed).count();
            if *new != *src.text {
                run.changed_files += 1;
                let real = src
                    .path
                    .canonicalize()
                    .unwrap_or_else(|_| src.path.to_path_buf());
                run.changes.push(PinChange {
                    shown: src.path.to_path_buf(),
                    real,
                    texts: ChangeTexts::Template {
                        chart,
                        template,
                        old: src.text.clone(),
                        new,
                    },
                });
            }
        }
    }
    for e in &run.unmatched_entries {
        run.findings.push(findings::unmatched_entry(e, severity));
    }
    if req.write && !run.changes.is_empty() {
        let changes: Vec<ChangeRef<'_>> = run.changes.iter().map(|c| run.change(c).0).collect();
        run.write_notes = write::commit_refs(&changes)?;
    }
    run.written = req.write;
    run.manifest_sources = manifest.sources.into_iter().collect();
    Ok(run)
}
