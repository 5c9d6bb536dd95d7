//! `chartpin release`: the pre-release step as one transaction over a
//! chart's files ([`run::run`]). It plans the pin in memory ([`plan`]),
//! proves every digest it is about to write exists in its registry
//! ([`verify_more`] of its [`plan_targets`], each row then
//! [`mark_verified`]), lints the pinned chart in memory, its planned files in
//! place ([`lint_plan`]), and only when all of that passes writes the changed
//! files with the one atomic writer ([`crate::write::commit`]), holding the
//! charts' locks ([`crate::lock`]) from planning to commit.
//!
//! Why a transaction: the release step is where hand-copied digests, a
//! forgotten `tag: ""` and unchecked pushes slipped through. A release
//! engineer or a workflow should get either a fully pinned, verified,
//! lint-clean chart, or no change at all and the reason. A manifest none of
//! whose entries matches an image is such a reason: it stops the release
//! (`unmatched-entry` as errors, exit 1) rather than reading as "nothing to
//! release".
//!
//! What "nothing changes" means on disk is the writer's promise: each file
//! is either exactly old or exactly new, and a refusal (read-only file, hard
//! link, owner that cannot be kept) writes nothing.
//!
//! Nothing here prints; the CLI renders the findings and the summary rows.

pub mod imagelock;
pub mod park;
pub mod run;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::chart::Chart;
use crate::chartmeta::{self, ChartMetaPlan, ImagePin};
use crate::config::Config;
use crate::diag::{Code, Finding, InputError, Severity};
use crate::lint::{self, LintOptions, LintOutcome};
use crate::manifest::{DigestManifest, EntryName};
use crate::pin::{self, PinOptions};
use crate::reference::{Digest, ImageRef};
use crate::registry::RegistryClient;
use crate::source::{SharedText, SourceFile, Sources};
use crate::values::{ImageSite, ValuesFile, YamlPath};
use crate::verify::{self, Location, Target, VerifyOptions};
pub use crate::write::FileChange;

/// What to release.
#[derive(Clone, Debug, Default)]
pub struct ReleaseRequest {
    /// Chart directories.
    pub charts: Vec<PathBuf>,
    /// Values files to pin, relative to each chart (default: `values.yaml`).
    pub values: Vec<PathBuf>,
    /// `--config FILE` for every chart; else each chart's `.chartpin.yaml`.
    pub config: Option<PathBuf>,
    /// helm and its values, to probe each chart's render for where its
    /// images are read ([`crate::probe`]), as pin does; `None` plans by the
    /// values conventions alone.
    pub probe: Option<(crate::helm::Helm, crate::helm::RenderSpec)>,
}

/// Whether a pinned digest was proven to exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verified {
    /// Not checked yet.
    Pending,
    /// The registry answered and proved it.
    Yes,
    /// The registry answered: it is not there (or not as pinned).
    No,
    /// The registry could not answer (auth, network, retries exhausted).
    Unanswered,
}

impl Verified {
    pub fn as_str(self) -> &'static str {
        match self {
            Verified::Pending => "not checked",
            Verified::Yes => "yes",
            Verified::No => "no",
            Verified::Unanswered => "unanswered",
        }
    }
}

/// One pinned image: a row of the summary table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SummaryRow {
    /// The image's name as the chart renders it (`ghcr.io/org/app`).
    pub image: String,
    /// The reference the chart rendered before (`ghcr.io/org/app:v1.2.0`).
    pub old_reference: String,
    /// The reference verified and written (`ghcr.io/org/app@sha256:…`).
    pub new_reference: String,
    pub digest: String,
    pub verified: Verified,
    /// Whether the file changes for this site (false when it was already pinned to this digest).
    pub changed: bool,
    /// Where the digest goes: the values file, as shown, and the offset in
    /// its text as read ([`Plan::sources`]).
    pub location: crate::source::Location,
    /// The YAML path of the site.
    pub path: String,
}

impl SummaryRow {
    /// `file:line:col path`, for tables; positions from `sources`.
    pub fn site(&self, sources: &Sources) -> String {
        format!("{} {}", self.location.display_in(sources), self.path)
    }
}

/// One chart's part of the plan.
#[derive(Clone, Debug)]
pub struct ChartPlan {
    pub dir: PathBuf,
    /// The chart directory, canonical.
    pub real_dir: PathBuf,
    /// The values files: each as read and as planned, the texts shared
    /// with [`ChartPlan::chart`], [`Plan::sources`] and, while it is linted,
    /// the planned chart ([`planned_chart`]; the texts as read are set
    /// aside meanwhile, [`park`]).
    pub values: Vec<FileChange>,
    /// Templates whose literal references the probe pins (`templates/tests/…`,
    /// a subchart's `charts/x/templates/…`).
    pub templates: Vec<FileChange>,
    /// For each of `values`, then each of `templates`: the edits that make
    /// it as planned from as read ([`park`] keeps their undo).
    pub edits: Vec<Vec<crate::yaml::Edit>>,
    /// `Chart.yaml` with its `artifacthub.io/images` annotation updated, when it has one.
    pub chart_yaml: Option<(FileChange, ChartMetaPlan)>,
    /// The chart as read, before the plan's changes.
    pub chart: Chart,
    /// Its configuration (`--config`, else its `.chartpin.yaml`), for what
    /// verify must require of its images.
    pub config: Option<Config>,
    /// The chart as it is, rendered by the probe (with the request's
    /// values): the proof's render before the pin, which
    /// [`run::run`] takes from here to prove the pin.
    pub rendered: Option<String>,
}

/// Everything the release would do, computed in memory.
#[derive(Clone, Debug)]
pub struct Plan {
    pub charts: Vec<ChartPlan>,
    /// One per pinned site, in file order.
    pub rows: Vec<SummaryRow>,
    /// What to verify: one per row, in the same order; `None` where the
    /// reference cannot be composed (that row gets a finding instead).
    pub targets: Vec<Option<Target>>,
    /// Findings from planning (entries matching nothing, sites that cannot be pinned).
    pub findings: Vec<Finding>,
    /// No entry of the manifest matched any image: the release stops (exit 1).
    pub nothing_matched: bool,
    /// The values files as read and the manifest's files: the texts rows,
    /// targets and planning findings point into (and, once linted, the
    /// configurations lint's ignore rules came from).
    pub sources: Sources<'static>,
}

impl Plan {
    /// The files whose text changes, values files and templates first,
    /// then `Chart.yaml`s.
    pub fn changes(&self) -> Vec<&FileChange> {
        self.edited_changes().into_iter().map(|(c, _)| c).collect()
    }

    /// [`Plan::changes`], each with the edits that make it, when they are
    /// known (a `Chart.yaml` annotation is rewritten whole): a diff of a
    /// large file is made from its edits ([`crate::report::edits_diff`]).
    pub fn edited_changes(&self) -> Vec<(&FileChange, Option<&[crate::yaml::Edit]>)> {
        let files = self.charts.iter().flat_map(|c| {
            c.values
                .iter()
                .chain(&c.templates)
                .zip(c.edits.iter().map(|e| Some(e.as_slice())))
        });
        let metas = self
            .charts
            .iter()
            .filter_map(|c| c.chart_yaml.as_ref().map(|m| (&m.0, None)));
        files.chain(metas).filter(|(c, _)| c.old != c.new).collect()
    }
}

/// Read each chart's values files (refusing any outside the chart) and
/// `Chart.yaml`, compute the pin and the annotation update, and the
/// references to verify.
pub fn plan(req: &ReleaseRequest, manifest: &DigestManifest) -> Result<Plan, InputError> {
    let mut charts = Vec::new();
    let mut rows = Vec::new();
    let mut targets = Vec::new();
    let mut findings = Vec::new();
    let mut used_entries = vec![false; manifest.entries.len()];
    let mut sources = Sources::new();
    for dir in &req.charts {
        let real_dir = dir
            .canonicalize()
            .map_err(|e| InputError::file(dir, format!("chart directory cannot be read: {e}")))?;
        // What `lint`, `pin` and `verify` take as a chart named directly: a
        // `Chart.yaml`, or a `values.yaml` alone (then there is no annotation
        // to sync). Anything else would be linted as a tree of other charts.
        if real_dir.is_file() {
            return Err(InputError::file(dir, pin::NOT_A_SOURCE_DIRECTORY));
        }
        let has_chart_yaml = real_dir.join("Chart.yaml").is_file();
        if !has_chart_yaml && !real_dir.join("values.yaml").is_file() {
            return Err(InputError::file(
                dir,
                "is not a chart directory (no Chart.yaml or values.yaml)",
            ));
        }
        let step = crate::steps::step("read chart");
        let chart = crate::chart::load_dir(dir)?;
        let config = Config::of_chart(&chart, req.config.as_deref())?;
        let files = pin::read_values(&chart, &req.values)?;
        drop(step);
        let mut probe = match &req.probe {
            Some((helm, spec)) => {
                pin::probe_plan(&chart, &files, manifest, config.as_ref(), helm, spec)
                    .map_err(|e| InputError::file(dir, e.to_string()))?
            }
            None => None,
        };
        let rendered = probe.as_mut().and_then(|p| p.baseline.take());
        let opts = PinOptions {
            sha_format: pin::sha_format_from_templates(&chart),
            subchart_sha_formats: pin::subchart_sha_formats(&chart),
            config: config.clone(),
            probe,
        };
        let parsed = files.iter().map(|(_, _, v)| v);
        // The planned texts are made below, each once its file's tree is
        // given back (issue 10).
        let step = crate::steps::step("pin");
        let outcome = pin::plan_edits(parsed, manifest, &opts)?;
        drop(step);
        for (i, e) in manifest.entries.iter().enumerate() {
            if !outcome.unmatched_entries.contains(e) {
                used_entries[i] = true;
            }
        }
        // A rendered image the manifest covers that cannot be pinned fails the release.
        if let Some((_, _, vf)) = files.first() {
            for u in &outcome.unpinnable {
                findings.push(pin::findings::unpinnable(
                    Some(vf.source()),
                    u,
                    Severity::Error,
                ));
            }
        }
        let mut values = Vec::new();
        let mut image_pins = Vec::new();
        // The planned files, and for each the file as read with the edits
        // between them: an unstable pin is reported where the file as read has it.
        let mut pinned_files = Vec::new();
        let mut as_read = Vec::new();
        for ((shown, real, mut vf), plan) in files.into_iter().zip(outcome.files) {
            // Only the sites a pin names are looked up below: the others are
            // given back as the walk finds them (issue 10: memory).
            let named: HashSet<&YamlPath> = plan.pinned.iter().map(|p| &p.path).collect();
            let old_sites = pinned_sites(&vf, &named)?;
            // Only the text of the file as read is needed from here on: its
            // tree is given back before the planned text's is built, so the
            // two trees are never held together (issue 10: memory).
            vf.forget_trees();
            // One planned text, shared by the change, the planned file and
            // (while it is linted) the planned chart.
            let new_text: SharedText = plan.planned(vf.text())?.into();
            let new_vf = ValuesFile::parse(&shown, new_text.clone())?;
            let new_sites = pinned_sites(&new_vf, &named)?;
            for p in &plan.pinned {
                let old = find_site(&old_sites, &p.path);
                let new = find_site(&new_sites, &p.path);
                let before = old.and_then(|s| s.reference.as_ref().ok());
                let after = new
                    .and_then(|s| s.reference.as_ref().ok())
                    .filter(|r| r.digest() == Some(&p.digest))
                    .cloned()
                    .or_else(|| before.map(|b| b.with_digest(&p.digest)))
                    .or_else(|| entry_reference(manifest, p.entry, &p.digest));
                // Point at where the digest goes, as `pin` does.
                let at = old.map_or(p.span, crate::pin::written_span);
                let location = crate::source::Location::starting(vf.source(), at.start);
                let row = SummaryRow {
                    image: after
                        .as_ref()
                        .map(|r| r.written_name())
                        .unwrap_or_else(|| p.image.clone()),
                    old_reference: before
                        .map(|r| r.to_string())
                        .unwrap_or_else(|| p.image.clone()),
                    new_reference: after.as_ref().map(|r| r.to_string()).unwrap_or_default(),
                    digest: p.digest.to_string(),
                    verified: Verified::Pending,
                    changed: p.changed,
                    location: location.clone(),
                    path: p.path.to_string(),
                };
                match &after {
                    Some(r) => {
                        // Verify under the tag the image was released as, so
                        // `--check-tags` can prove the tag still points to the
                        // digest even where the chart renders the digest alone
                        // (OSM clears its tag; Bitnami's digest overrides it).
                        let target = match before {
                            Some(b)
                                if r.tag().is_none()
                                    && b.tag().is_some()
                                    && b.name() == r.name() =>
                            {
                                b.with_digest(&p.digest)
                            }
                            _ => r.clone(),
                        };
                        targets.push(Some(Target::new(target).at(Location {
                            at: location,
                            yaml_path: Some(p.path.to_string()),
                        })));
                        image_pins.push(ImagePin {
                            image: before.cloned().unwrap_or_else(|| r.clone()),
                            digest: p.digest.clone(),
                        });
                    }
                    None => {
                        targets.push(None);
                        findings.push(
                            Finding::new(
                                Code::UnresolvableImage,
                                format!(
                                    "the registry and name of `{}` cannot be worked out from the values, so {} cannot be verified before it is written",
                                    p.path, p.digest
                                ),
                            )
                            .with_severity(Severity::Error)
                            .at(vf.source(), at)
                            .with_path(p.path.to_string()),
                        );
                    }
                }
                rows.push(row);
            }
            for s in &plan.skipped {
                findings.push(pin::findings::not_pinned(vf.source(), s));
            }
            values.push(FileChange {
                shown,
                real,
                old: vf.source().text.clone(),
                new: new_text,
            });
            pinned_files.push(new_vf);
            as_read.push((vf.source().clone(), plan.edits));
            sources.insert(vf.into_source());
        }
        // References written literally in templates, as the probe pins them.
        let mut templates = Vec::new();
        let mut template_edits = Vec::new();
        for t in &outcome.templates {
            let Some(src) = chart.file_deep(&t.rel) else {
                continue;
            };
            let new =
                crate::yaml::apply_edits(&src.text, &t.edits).map_err(|e| e.in_file(&src.path))?;
            for p in &t.pins {
                let before = ImageRef::parse(&p.image).ok();
                let after = before.as_ref().map(|b| b.with_digest(&p.digest));
                let location = crate::source::Location::starting(src, p.span.start);
                rows.push(SummaryRow {
                    image: after
                        .as_ref()
                        .map(|r| r.written_name())
                        .unwrap_or_else(|| p.image.clone()),
                    old_reference: p.image.clone(),
                    new_reference: after.as_ref().map(|r| r.to_string()).unwrap_or_default(),
                    digest: p.digest.to_string(),
                    verified: Verified::Pending,
                    changed: p.changed,
                    location: location.clone(),
                    path: t.rel.clone(),
                });
                match (&after, &before) {
                    (Some(r), Some(b)) => {
                        targets.push(Some(Target::new(r.clone()).at(Location {
                            at: location,
                            yaml_path: None,
                        })));
                        image_pins.push(ImagePin {
                            image: b.clone(),
                            digest: p.digest.clone(),
                        });
                    }
                    _ => targets.push(None),
                }
            }
            let again = crate::probe::plan::repin_literals(&new, &t.pins)
                .map_err(|e| e.in_file(&src.path))?;
            if again != new {
                findings.push(unstable_pin(src, &t.edits, &new, &again));
            }
            if *new != *src.text {
                let real = src
                    .path
                    .canonicalize()
                    .unwrap_or_else(|_| src.path.to_path_buf());
                templates.push(FileChange {
                    shown: src.path.to_path_buf(),
                    real,
                    old: src.text.clone(),
                    new: new.into(),
                });
                template_edits.push(t.edits.clone());
            }
            sources.insert(src.clone());
        }
        // A second pin over the planned values must find nothing left to do
        // (the planned templates were pinned again above). The probe's edits
        // are for the texts as read: the second pin keeps only what the
        // probe claimed, so the conventions still leave it.
        let again_opts = PinOptions {
            probe: opts.probe.as_ref().map(|p| crate::probe::plan::ProbePlan {
                values_edits: Vec::new(),
                templates: Vec::new(),
                pins: Vec::new(),
                ..p.clone()
            }),
            ..opts.clone()
        };
        // Each planned file's tree is given back before its text is pinned
        // again (issue 10), and the file itself right after.
        let again = pin::plan_edits(&pinned_files, manifest, &again_opts)?;
        let mut edits = Vec::new();
        for ((mut vf, plan), (src, file_edits)) in
            pinned_files.into_iter().zip(&again.files).zip(as_read)
        {
            vf.forget_trees();
            // Settled unless an edit of the second pin writes something new
            // (only then is its text made, to say where).
            if !crate::yaml::change_nothing(vf.text(), &plan.edits) {
                let again_text = plan.planned(vf.text())?;
                if again_text != vf.text() {
                    findings.push(unstable_pin(&src, &file_edits, vf.text(), &again_text));
                }
            }
            edits.push(file_edits);
        }
        edits.extend(template_edits);
        let chart_yaml = match chart.file("Chart.yaml") {
            Some(src) if has_chart_yaml => plan_chart_yaml(src, &real_dir, &image_pins)?,
            _ => None,
        };
        charts.push(ChartPlan {
            dir: dir.clone(),
            real_dir,
            values,
            templates,
            edits,
            chart_yaml,
            chart,
            config,
            rendered,
        });
    }
    // A manifest none of whose entries matched is a mistake to stop on,
    // not a release with nothing to do.
    let nothing_matched = !manifest.entries.is_empty() && !used_entries.contains(&true);
    let severity = if nothing_matched {
        Severity::Error
    } else {
        Code::UnmatchedEntry.default_severity()
    };
    for (e, used) in manifest.entries.iter().zip(used_entries) {
        if !used {
            findings.push(pin::findings::unmatched_entry(e, severity));
        }
    }
    sources.extend(manifest.sources.iter().cloned());
    Ok(Plan {
        charts,
        rows,
        targets,
        findings,
        nothing_matched,
        sources,
    })
}

/// `unstable-pin`: pinning `planned` (`file` as read, with `edits`) again
/// gives `again`. The finding points where the two first differ, in `file`
/// as read (the text the report holds for it).
fn unstable_pin(
    file: &crate::source::SourceFile,
    edits: &[crate::yaml::Edit],
    planned: &str,
    again: &str,
) -> Finding {
    let at = planned
        .bytes()
        .zip(again.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or(planned.len().min(again.len()));
    let at = crate::yaml::offset_before_edits(edits, at).min(file.text.len());
    Finding::new(
        Code::UnstablePin,
        "pinning the planned text again would change it here: the pin did not settle, so it is not released",
    )
    .at(file, crate::source::Span::new(at, at))
}

/// The chart as it would be after the plan: the chart as read, with the
/// planned texts in place of its files, in memory.
pub fn planned_chart(c: &ChartPlan) -> Chart {
    let mut chart = c.chart.clone();
    let changes = c
        .values
        .iter()
        .chain(&c.templates)
        .chain(c.chart_yaml.as_ref().map(|m| &m.0))
        .filter(|change| change.old != change.new);
    for change in changes {
        // The file as named and, when a symlink inside the chart leads
        // elsewhere, as it really is: both read the new text.
        let mut rels: Vec<String> = [
            change.shown.strip_prefix(&c.dir).ok(),
            change.real.strip_prefix(&c.real_dir).ok(),
        ]
        .into_iter()
        .flatten()
        .map(|r| r.to_string_lossy().into_owned())
        .collect();
        rels.dedup();
        for rel in rels {
            chart.replace_file(&rel, change.new.clone());
        }
    }
    chart
}

/// The digests the plan applies, as [`crate::prove`] checks them: one per
/// row whose new reference is known.
pub fn expected_digests(plan: &Plan) -> Vec<crate::prove::Expected> {
    let mut out: Vec<crate::prove::Expected> = Vec::new();
    for r in &plan.rows {
        let (Ok(reference), Ok(digest)) =
            (ImageRef::parse(&r.new_reference), Digest::parse(&r.digest))
        else {
            continue;
        };
        let e = crate::prove::Expected {
            name: reference.name(),
            digest,
            path: Some(r.path.clone()),
            location: Some(r.location.clone()),
        };
        if !out.iter().any(|o| o.name == e.name && o.digest == e.digest) {
            out.push(e);
        }
    }
    out
}

/// The image sites of `vf` (for editing) that [`find_site`] could find for
/// one of `named`, in file order.
fn pinned_sites(vf: &ValuesFile, named: &HashSet<&YamlPath>) -> Result<Vec<ImageSite>, InputError> {
    let mut out = Vec::new();
    vf.each_image_site(|s| {
        if at_a_path(&s, |p| named.contains(p)) {
            out.push(s);
        }
    })?;
    crate::values::in_file_order(&mut out, |s| s.span.start);
    Ok(out)
}

/// The site at `path`, or the one whose digest field is at `path`.
fn find_site<'a>(sites: &'a [ImageSite], path: &YamlPath) -> Option<&'a ImageSite> {
    sites.iter().find(|s| at_a_path(s, |p| p == path))
}

/// Whether the site, or its digest field, is at a path `is` accepts.
fn at_a_path(s: &ImageSite, is: impl Fn(&YamlPath) -> bool) -> bool {
    is(&s.path)
        || s.fields.digest.as_ref().is_some_and(|d| is(&d.path))
        || s.fields.sha.as_ref().is_some_and(|d| is(&d.path))
}

/// The manifest entry's own full reference with `digest`, when it names one.
fn entry_reference(manifest: &DigestManifest, entry: usize, digest: &Digest) -> Option<ImageRef> {
    match &manifest.entries.get(entry)?.name {
        EntryName::Full(r) => Some(r.with_digest(digest)),
        EntryName::Short(_) => None,
    }
}

/// `Chart.yaml` (`src`, as the chart reader read it) with its image
/// annotation pinned, when it has the annotation.
fn plan_chart_yaml(
    src: &SourceFile,
    real_dir: &Path,
    pins: &[ImagePin],
) -> Result<Option<(FileChange, ChartMetaPlan)>, InputError> {
    let shown = src.path.to_path_buf();
    let real = real_dir.join("Chart.yaml");
    let text = src.text.clone();
    let Some(meta) = chartmeta::plan_annotation_text(&shown, &text, pins)? else {
        return Ok(None);
    };
    let change = FileChange {
        shown,
        real,
        old: text,
        new: meta.new_text.clone().into(),
    };
    Ok(Some((change, meta)))
}

/// The references the plan's pins write, to verify.
pub fn plan_targets(plan: &Plan) -> Vec<Target> {
    plan.targets.iter().flatten().cloned().collect()
}

/// Mark each row of `plan` verified, not, or unanswered, by `outcome`.
pub fn mark_verified(plan: &mut Plan, outcome: &verify::VerifyOutcome) {
    for (row, target) in plan.rows.iter_mut().zip(&plan.targets) {
        let Some(t) = target else { continue };
        let mine: Vec<&Finding> = outcome
            .findings
            .iter()
            .filter(|f| f.image.as_deref() == Some(t.image.as_str()))
            .collect();
        row.verified = if mine.is_empty() {
            Verified::Yes
        } else if mine.iter().any(|f| f.code.is_unanswered()) {
            Verified::Unanswered
        } else {
            Verified::No
        };
    }
}

/// Verify `targets` with `options` and what the plan's charts' configurations
/// require of their images.
pub async fn verify_more(
    client: &RegistryClient,
    plan: &Plan,
    targets: &[Target],
    options: &VerifyOptions,
) -> verify::VerifyOutcome {
    let mut options = options.clone();
    for config in plan.charts.iter().filter_map(|c| c.config.as_ref()) {
        options.require_from(config);
    }
    verify::verify(client, targets, &options, &|_, _| {}).await
}

/// Lint the charts as they would be after the release: each chart as read,
/// with the planned texts in place of its files, in memory. Findings name
/// the chart's own files; nothing is copied (except by `--render`, where
/// helm renders a staged copy, [`crate::chart::stage`]) and nothing in the
/// chart is touched.
pub fn lint_plan(plan: &Plan, opts: &LintOptions) -> Result<LintOutcome, lint::LintError> {
    let charts = plan.charts.iter().map(planned_chart).collect();
    lint::lint_charts(charts, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unstable_pin_is_reported_where_the_file_as_read_has_it() {
        // The first pin spliced a digest into line 2; a second pin would
        // change line 4, which the plan has 71 bytes further on than the
        // file as read.
        let read = "a: 1\nimage: nginx:1.25\nb: 2\nother: redis:7\n";
        let digest = format!("@sha256:{}", "a".repeat(64));
        let at = read.find(":1.25").unwrap() + ":1.25".len();
        let edits = vec![crate::yaml::Edit {
            span: crate::source::Span::new(at, at),
            replacement: digest.clone(),
        }];
        let planned = crate::yaml::apply_edits(read, &edits).unwrap();
        let again = planned.replace("redis:7", "redis:7@sha256:bb");
        let file = SourceFile::new("values.yaml", read);
        let f = unstable_pin(&file, &edits, &planned, &again);
        let position = f.location.as_ref().and_then(|l| l.position).unwrap();
        assert_eq!(
            position.start(),
            read.find("redis:7").unwrap() + "redis:7".len()
        );
        // And a difference inside the first pin's own digest points at it.
        let again = planned.replacen("@sha256:a", "@sha256:b", 1);
        let f = unstable_pin(&file, &edits, &planned, &again);
        let position = f.location.as_ref().and_then(|l| l.position).unwrap();
        assert_eq!(position.start(), at);
    }
}
