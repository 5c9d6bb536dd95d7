//! `release --lock FILE`: what was released, as data a later step can check
//! without asking a registry again. The format is documented in
//! docs/release.md; `schema_version` changes only when a field changes
//! meaning or goes away.
//!
//! Two sources, named in the lock (`source`):
//!
//! - `render` (the release proved its pin by rendering, the default when
//!   helm is found): one entry per distinct image the pinned chart renders:
//!   subchart images, images written literally in templates and images
//!   pinned before this release included, each with where it renders and,
//!   when this release pinned it at one site, that site. Images this
//!   release did not pin are verified too ([`unverified_targets`]), since
//!   the lock records what the registry showed of each.
//! - `values` (`--no-render`, no helm, a chart without `Chart.yaml`): one
//!   entry per released site, as before rendering existed: what the
//!   chart renders is not known, so the lock cannot claim it.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::diag::InputError;
use crate::lint::rendered::{self, RenderedImage};
use crate::reference::ImageRef;
use crate::verify::{self, PlatformDigest, Proof, Target, VerifyOutcome};

use super::{Plan, SummaryRow};

/// The lock file's format version: 2 lists rendered images (a `digest` may
/// be `null`, a site may be unknown); 1 listed released sites only.
pub const SCHEMA_VERSION: u32 = 2;

/// Where a lock's entries come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockSource {
    /// Every image the pinned chart renders.
    Render,
    /// The values sites the release pinned (the chart was not rendered).
    Values,
    /// Some charts of the release rendered, others did not (each entry says).
    Mixed,
}

/// The whole lock file.
#[derive(Clone, Debug, Serialize)]
pub struct ImageLock {
    pub schema_version: u32,
    /// `chartpin <version>`, which wrote it.
    pub tool: String,
    pub source: LockSource,
    pub images: Vec<LockedImage>,
}

/// One image: rendered by a chart, or (`source: values`) released at a site.
#[derive(Clone, Debug, Serialize)]
pub struct LockedImage {
    /// The chart directory, as named.
    pub chart: String,
    /// `render` or `values`: how this entry was found.
    pub source: LockSource,
    /// The site this release pinned the image at: the values file or the
    /// template, as named; `null` when the release did not pin it here (it
    /// was pinned before) or pinned it at several sites.
    pub file: Option<String>,
    /// The YAML path of that values site (`null` for a template literal).
    pub path: Option<String>,
    /// The site's 1-based line.
    pub line: Option<usize>,
    /// The image's name (`ghcr.io/org/app`).
    pub image: String,
    /// The reference as the chart renders it (`ghcr.io/org/app:v1@sha256:…`).
    pub reference: String,
    /// `null` for a rendered image without a digest (only a lint
    /// suppression lets such a release succeed).
    pub digest: Option<String>,
    /// `index`, `image`, … as verify classified it; `null` when nothing
    /// was asked (no digest, or no reference could be composed).
    pub kind: Option<String>,
    pub media_type: Option<String>,
    /// An index's platforms and their images' digests; a single image's
    /// own platform and digest.
    pub platforms: Vec<PlatformDigest>,
    /// The signature check's result: `verified`, `missing`, `invalid`,
    /// `untrusted`, or `not-checked` without `--signature`.
    pub signature: String,
    /// With `--signature`: who signed it, or why the signature does not count.
    pub signature_detail: Option<String>,
    /// Where it renders (`source: render`); empty for `values`.
    pub rendered: Vec<RenderedAt>,
}

/// One place a rendered image appears.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RenderedAt {
    /// The template, as helm's `# Source:` names it (`shop/charts/db/templates/db.yaml`).
    pub template: Option<String>,
    /// `Kind/name` of the object.
    pub object: String,
    /// The container's name, when the image is a container's.
    pub container: Option<String>,
    /// The field in the object (`spec.template.spec.containers[0].image`).
    pub field: String,
}

/// One distinct image a chart's planned render holds.
#[derive(Clone, Debug)]
pub struct RenderedEntry {
    /// Index into [`Plan::charts`].
    chart: usize,
    reference: String,
    parsed: Option<ImageRef>,
    /// The chart file its first appearance renders from, for findings.
    file: PathBuf,
    at: Vec<RenderedAt>,
}

/// The images of each planned render (`renders`: chart root → `helm
/// template` output, as the proof rendered them), distinct per chart by
/// their canonical reference, in render order. `None` for a chart the
/// release did not render.
pub fn rendered(
    plan: &Plan,
    renders: &[(PathBuf, crate::source::SharedText)],
) -> Result<Vec<Option<Vec<RenderedEntry>>>, InputError> {
    let mut out = Vec::new();
    for (i, c) in plan.charts.iter().enumerate() {
        let Some((_, text)) = renders.iter().find(|(root, _)| *root == c.chart.root) else {
            out.push(None);
            continue;
        };
        let mut entries: Vec<RenderedEntry> = Vec::new();
        for img in rendered::rendered_images(text)? {
            let parsed = ImageRef::parse(&img.reference).ok();
            let key = parsed.as_ref().map(ImageRef::canonical);
            let at = rendered_at(&img);
            let same = |e: &RenderedEntry| match &key {
                Some(k) => e.parsed.as_ref().map(ImageRef::canonical).as_ref() == Some(k),
                None => e.reference == img.reference,
            };
            match entries.iter_mut().find(|e| same(e)) {
                Some(e) if !e.at.contains(&at) => e.at.push(at),
                Some(_) => {}
                None => entries.push(RenderedEntry {
                    chart: i,
                    file: template_file(&c.dir, img.template.as_deref()),
                    reference: img.reference.clone(),
                    parsed,
                    at: vec![at],
                }),
            }
        }
        out.push(Some(entries));
    }
    Ok(out)
}

fn rendered_at(img: &RenderedImage) -> RenderedAt {
    RenderedAt {
        template: img.template.clone(),
        object: format!("{}/{}", img.kind, img.name),
        container: img.container.clone(),
        field: img.field.clone(),
    }
}

/// The chart file helm's `# Source: <chart>/templates/x.yaml` names, under
/// the chart directory `dir` (the chart's own name is the first part).
fn template_file(dir: &Path, source: Option<&str>) -> PathBuf {
    match source.and_then(|s| s.split_once('/')) {
        Some((_, rel)) => dir.join(rel),
        None => dir.to_path_buf(),
    }
}

/// The pinned rendered images `verified` holds no proof of (the release did
/// not pin them: pinned before, or by a subchart), as targets placed at the
/// template they render from.
pub fn unverified_targets(
    entries: &[Option<Vec<RenderedEntry>>],
    verified: &VerifyOutcome,
) -> Vec<Target> {
    let mut out = Vec::new();
    for e in entries.iter().flatten().flatten() {
        let Some(r) = &e.parsed else { continue };
        if r.is_pinned() && verified.proof_of(r).is_none() {
            out.push(Target::new(r.clone()).at(verify::Location {
                at: crate::source::Location::file(e.file.clone()),
                yaml_path: None,
            }));
        }
    }
    out
}

/// The lock for a verified plan: each chart's rendered images where
/// `entries` has them ([`rendered`]), else its released sites.
pub fn build(
    plan: &Plan,
    entries: &[Option<Vec<RenderedEntry>>],
    verified: &VerifyOutcome,
) -> ImageLock {
    let mut images = Vec::new();
    for (i, c) in plan.charts.iter().enumerate() {
        match entries.get(i).and_then(Option::as_ref) {
            Some(rendered) => {
                images.extend(rendered.iter().map(|e| from_render(plan, e, verified)))
            }
            None => images.extend(
                plan.rows
                    .iter()
                    .zip(&plan.targets)
                    .filter(|(row, _)| row.location.file.starts_with(&c.dir))
                    .map(|(row, target)| from_site(plan, row, target.as_ref(), verified)),
            ),
        }
    }
    let rendered = entries.iter().filter(|e| e.is_some()).count();
    let source = match rendered {
        0 => LockSource::Values,
        n if n == plan.charts.len() => LockSource::Render,
        _ => LockSource::Mixed,
    };
    ImageLock {
        schema_version: SCHEMA_VERSION,
        tool: format!("chartpin {}", env!("CARGO_PKG_VERSION")),
        source,
        images,
    }
}

/// What the registry showed, as the lock's fields.
struct Shown {
    kind: Option<String>,
    media_type: Option<String>,
    platforms: Vec<PlatformDigest>,
    signature: String,
    signature_detail: Option<String>,
}

fn shown(proof: Option<&Proof>) -> Shown {
    Shown {
        kind: proof.map(|p| p.kind.clone()),
        media_type: proof.and_then(|p| p.media_type.clone()),
        platforms: proof.map(|p| p.platforms.clone()).unwrap_or_default(),
        signature: proof
            .and_then(|p| p.signature.clone())
            .unwrap_or_else(|| "not-checked".to_string()),
        signature_detail: proof.and_then(|p| p.signature_detail.clone()),
    }
}

/// A row's site: the values file or template, the YAML path (values only)
/// and the line.
fn site(plan: &Plan, row: &SummaryRow) -> (String, Option<String>, Option<usize>) {
    let in_values = plan
        .charts
        .iter()
        .flat_map(|c| &c.values)
        .any(|change| *change.shown == *row.location.file);
    (
        row.location.file.display().to_string(),
        in_values.then(|| row.path.clone()),
        row.location.line_col(&plan.sources).map(|lc| lc.line),
    )
}

fn from_site(
    plan: &Plan,
    row: &SummaryRow,
    target: Option<&Target>,
    verified: &VerifyOutcome,
) -> LockedImage {
    let s = shown(target.and_then(|t| verified.proof_of(&t.image)));
    let (file, path, line) = site(plan, row);
    LockedImage {
        chart: chart_of(plan, &row.location.file),
        source: LockSource::Values,
        file: Some(file),
        path,
        line,
        image: row.image.clone(),
        reference: row.new_reference.clone(),
        digest: Some(row.digest.clone()),
        kind: s.kind,
        media_type: s.media_type,
        platforms: s.platforms,
        signature: s.signature,
        signature_detail: s.signature_detail,
        rendered: Vec::new(),
    }
}

fn chart_of(plan: &Plan, file: &Path) -> String {
    plan.charts
        .iter()
        .find(|c| file.starts_with(&c.dir))
        .map(|c| c.dir.display().to_string())
        .unwrap_or_default()
}

fn from_render(plan: &Plan, e: &RenderedEntry, verified: &VerifyOutcome) -> LockedImage {
    let c = &plan.charts[e.chart];
    let s = shown(e.parsed.as_ref().and_then(|r| verified.proof_of(r)));
    // The release's sites for this image in this chart: one is its site.
    let mut sites: Vec<&SummaryRow> = Vec::new();
    if let Some(r) = &e.parsed
        && let Some(d) = r.digest()
    {
        for row in plan.rows.iter().filter(|row| {
            row.location.file.starts_with(&c.dir)
                && row.digest == d.to_string()
                && ImageRef::parse(&row.new_reference).is_ok_and(|n| n.name() == r.name())
        }) {
            if !sites
                .iter()
                .any(|s| s.location.file == row.location.file && s.path == row.path)
            {
                sites.push(row);
            }
        }
    }
    let (file, path, line) = match sites.as_slice() {
        [row] => {
            let (f, p, l) = site(plan, row);
            (Some(f), p, l)
        }
        _ => (None, None, None),
    };
    LockedImage {
        chart: c.dir.display().to_string(),
        source: LockSource::Render,
        file,
        path,
        line,
        image: e
            .parsed
            .as_ref()
            .map(ImageRef::written_name)
            .unwrap_or_else(|| e.reference.clone()),
        reference: e.reference.clone(),
        digest: e
            .parsed
            .as_ref()
            .and_then(|r| r.digest())
            .map(|d| d.to_string()),
        kind: s.kind,
        media_type: s.media_type,
        platforms: s.platforms,
        signature: s.signature,
        signature_detail: s.signature_detail,
        rendered: e.at.clone(),
    }
}
