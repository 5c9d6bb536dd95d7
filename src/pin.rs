//! Pinning: match digest-manifest entries to the image sites of a chart's
//! values files and compute the byte edits that write each digest in the form
//! that chart's templates render (FIELD-NOTES §2):
//!
//! - an existing `digest` field is filled (`sha256:<hex>`);
//! - a `sha` field gets bare hex or `sha256:<hex>`, as the templates expect
//!   ([`sha_format_from_templates`]; `.chartpin.yaml` can say);
//! - a block with only a `tag` gets `tag: "<tag>@sha256:…"`, the one pin
//!   charts without a digest field render;
//! - a block with neither gets a `digest:` line inserted after its repository
//!   (cert-manager keeps `tag` and `digest` commented out);
//! - a single string becomes `repo:tag@sha256:…`;
//! - OSM's name-keyed map gets its digest and the shared `tag` cleared, since
//!   a non-empty tag wins over the digests there.
//!
//! Already-pinned references are re-pinned when the manifest's digest differs.
//! Nothing here prints or writes: [`pin`] returns the edits, new texts and
//! what matched and what did not; the CLI decides what to do with them.

pub mod findings;
pub mod run;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use crate::chart::Chart;

use crate::config::{Config, ShaFormat, WriteForm};
use crate::diag::InputError;
use crate::manifest::{DigestManifest, EntryName, ManifestEntry};
use crate::probe::plan::{ProbePin, ProbePlan, Unpinnable, Written};
use crate::reference::{Digest, ImageRef};
use crate::source::Span;
use crate::values::{
    DigestState, Edit, Field, ImageSite, Node, SiteError, SiteKind, ValuesFile, YamlPath,
    apply_edits, set_scalar,
};
use crate::yaml::InsertError;

/// What [`pin`] needs besides the files and the manifest.
#[derive(Clone, Debug, Default)]
pub struct PinOptions {
    /// How `sha` fields are written when their current value does not show it.
    pub sha_format: Option<ShaFormat>,
    /// The same per subchart section (`kube-state-metrics:` in kube-prometheus-stack
    /// is rendered by the subchart's templates, which may expect the other form).
    pub subchart_sha_formats: std::collections::BTreeMap<String, ShaFormat>,
    /// The chart's `.chartpin.yaml`, if any.
    pub config: Option<Config>,
    /// What probing the render planned ([`crate::probe::plan`]): its edits
    /// go to the file it names, and the conventions leave the values it
    /// claimed alone.
    pub probe: Option<ProbePlan>,
}

/// How a pinned site was found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Found {
    /// By the values key-name conventions (no render, or an image the render does not show).
    #[default]
    Conventions,
    /// By probing `helm template`.
    Render,
}

impl Found {
    pub fn as_str(self) -> &'static str {
        match self {
            Found::Conventions => "conventions",
            Found::Render => "render",
        }
    }
}

/// One image site that a manifest entry was matched to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pinned {
    pub path: YamlPath,
    /// Where the digest is written ([`written_span`]), for `file:line:col`.
    pub span: Span,
    /// The image as the chart rendered it before, or its short name.
    pub image: String,
    pub digest: Digest,
    /// The digest the site held before.
    pub previous: DigestState,
    /// Whether the file changes for this site (false when already pinned to `digest`).
    pub changed: bool,
    /// Index of the entry in the manifest.
    pub entry: usize,
    /// Whether the render or the conventions found it.
    pub found: Found,
}

/// A site an entry matched but that cannot be pinned, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub site: ImageSite,
    pub reason: String,
}

/// A site no manifest entry matched: what its report and finding say of
/// it, not the whole site (issue 10: on a file dense in image sites nearly
/// every site is one, and a whole site is most of a kilobyte).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnmatchedSite {
    /// The site's YAML path (`controller.image`).
    pub path: String,
    /// Where the site is ([`ImageSite::span`]).
    pub span: Span,
    /// The image as shown ([`site_display`]).
    pub image: String,
    /// Whether the chart renders it with a digest ([`ImageSite::is_pinned`]).
    pub pinned: bool,
}

impl UnmatchedSite {
    fn of(site: &ImageSite) -> Self {
        UnmatchedSite {
            path: site.path.to_string(),
            span: site.span,
            image: site_display(site),
            pinned: site.is_pinned(),
        }
    }
}

/// The plan for one values file.
#[derive(Clone, Debug)]
pub struct FilePlan {
    pub path: PathBuf,
    pub edits: Vec<Edit>,
    pub pinned: Vec<Pinned>,
    /// Sites no manifest entry matched.
    pub unmatched_images: Vec<UnmatchedSite>,
    pub skipped: Vec<Skipped>,
    /// The file's text with the edits applied (empty until
    /// [`FilePlan::apply`] after [`plan_edits`]).
    pub new_text: String,
}

impl FilePlan {
    /// Make [`FilePlan::new_text`]: `text` (the file's text as read) with
    /// the edits applied.
    pub fn apply(&mut self, text: &str) -> Result<(), InputError> {
        self.new_text = self.planned(text)?;
        Ok(())
    }

    /// `text` (the file's text as read) with the edits applied.
    pub fn planned(&self, text: &str) -> Result<String, InputError> {
        apply_edits(text, &self.edits).map_err(|e| e.in_file(&self.path))
    }

    /// Whether the file would change.
    pub fn changed(&self) -> bool {
        self.pinned.iter().any(|p| p.changed) || !self.edits.is_empty()
    }
}

/// The plan for all values files of a pin.
#[derive(Clone, Debug)]
pub struct PinOutcome {
    pub files: Vec<FilePlan>,
    /// Entries that matched no site in any file.
    pub unmatched_entries: Vec<ManifestEntry>,
    /// Templates the probe splices digests into.
    pub templates: Vec<TemplatePlan>,
    /// Rendered images the probe found it cannot pin.
    pub unpinnable: Vec<Unpinnable>,
    /// Whether the render was probed, and how many times helm ran.
    pub renders: Option<usize>,
}

/// A template file the probe pins literal references in.
#[derive(Clone, Debug)]
pub struct TemplatePlan {
    /// Relative to the chart.
    pub rel: String,
    pub edits: Vec<Edit>,
    pub pins: Vec<ProbePin>,
}

/// Match `manifest` against `files` and compute every edit and each file's
/// planned text.
pub fn pin<'f>(
    files: impl IntoIterator<Item = &'f ValuesFile>,
    manifest: &DigestManifest,
    opts: &PinOptions,
) -> Result<PinOutcome, InputError> {
    plan_files(files, manifest, opts, true)
}

/// [`pin`] without the planned texts (each [`FilePlan::new_text`] is
/// empty): for a caller that gives a file's trees back
/// ([`ValuesFile::forget_trees`]) before it makes the planned text with
/// [`FilePlan::apply`], so that a file's tree and its planned text are
/// never held together (issue 10: on a dense file the tree is twice the
/// text).
pub fn plan_edits<'f>(
    files: impl IntoIterator<Item = &'f ValuesFile>,
    manifest: &DigestManifest,
    opts: &PinOptions,
) -> Result<PinOutcome, InputError> {
    plan_files(files, manifest, opts, false)
}

/// [`pin`], each file's planned text made as its plan is (`apply`), or not
/// ([`plan_edits`]).
fn plan_files<'f>(
    files: impl IntoIterator<Item = &'f ValuesFile>,
    manifest: &DigestManifest,
    opts: &PinOptions,
    apply: bool,
) -> Result<PinOutcome, InputError> {
    let mut used: HashSet<usize> = HashSet::new();
    if let Some(p) = &opts.probe {
        used.extend(p.used_entries.iter().copied());
    }
    let mut plans = Vec::new();
    let idx = EntryIndex::new(manifest);
    for vf in files {
        let mut plan = plan_file(vf, manifest, &idx, opts, &mut used)?;
        if apply {
            plan.apply(vf.text())?;
        }
        plans.push(plan);
    }
    let unmatched_entries = manifest
        .entries
        .iter()
        .enumerate()
        .filter(|(i, _)| !used.contains(i))
        .map(|(_, e)| e.clone())
        .collect();
    // An image the probe could not place but the conventions pinned is pinned.
    let conventions_pinned: HashSet<usize> = plans
        .iter()
        .flat_map(|p| p.pinned.iter())
        .filter(|p| p.found == Found::Conventions)
        .map(|p| p.entry)
        .collect();
    let (templates, unpinnable, renders) = match &opts.probe {
        Some(p) => (
            p.templates
                .iter()
                .map(|t| TemplatePlan {
                    rel: t.rel.clone(),
                    edits: t.edits.clone(),
                    pins: p
                        .pins
                        .iter()
                        .filter(|x| x.written == Written::Template(t.rel.clone()))
                        .cloned()
                        .collect(),
                })
                .collect(),
            p.unpinnable
                .iter()
                .filter(|u| !conventions_pinned.contains(&u.entry))
                .cloned()
                .collect(),
            Some(p.renders),
        ),
        None => (Vec::new(), Vec::new(), None),
    };
    Ok(PinOutcome {
        files: plans,
        unmatched_entries,
        templates,
        unpinnable,
        renders,
    })
}

fn plan_file(
    vf: &ValuesFile,
    manifest: &DigestManifest,
    idx: &EntryIndex,
    opts: &PinOptions,
    used: &mut HashSet<usize>,
) -> Result<FilePlan, InputError> {
    let text = vf.text();
    let mut edits = Vec::new();
    let mut pinned = Vec::new();
    let mut skipped = Vec::new();
    let mut mapped: HashSet<YamlPath> = HashSet::new();
    let probe = opts
        .probe
        .as_ref()
        .filter(|p| *p.values_path == *vf.source().path);
    // Only a site an entry matches needs all of it, unless `images:` rules
    // or the probe look sites up by path: the others are made into what the
    // report says of them as the walk finds them (issue 10: a file dense in
    // image sites never holds all its sites).
    let keep_all = probe.is_some() || opts.config.as_ref().is_some_and(|c| !c.images.is_empty());
    let mut sites = Vec::new();
    let mut unmatched_images = Vec::new();
    // Each kept site with the entry it matches, matched once.
    vf.each_image_site(|site| {
        let entry = match_entry(&site, manifest, idx);
        if keep_all || entry.is_some() {
            sites.push((site, entry));
        } else if !site.unused {
            // A site the chart does not render (ingress-nginx's unused chroot digest) is no gap.
            unmatched_images.push(UnmatchedSite::of(&site));
        }
    })?;
    crate::values::in_file_order(&mut sites, |(s, _)| s.span.start);
    if let Some(p) = probe {
        edits.extend(p.values_edits.iter().cloned());
        for x in &p.pins {
            let Written::Values(path) = &x.written else {
                continue;
            };
            // Shown at the image site the conventions know, when one holds the path.
            let site = sites
                .iter()
                .map(|(s, _)| s)
                .find(|s| path.0.starts_with(&s.path.0));
            pinned.push(Pinned {
                path: site.map_or_else(|| path.clone(), |s| s.path.clone()),
                span: x.span,
                image: x.image.clone(),
                digest: x.digest.clone(),
                previous: site.map_or(DigestState::Absent, |s| s.digest_state.clone()),
                changed: x.changed,
                entry: x.entry,
                found: Found::Render,
            });
        }
    }

    if let Some(cfg) = &opts.config {
        for m in &cfg.images {
            let entries: Vec<usize> = manifest
                .entries
                .iter()
                .enumerate()
                .filter(|(_, e)| entry_is_named(e, &m.entry))
                .map(|(i, _)| i)
                .collect();
            let Some(&ei) = entries.first() else { continue };
            let entry = &manifest.entries[ei];
            let site = sites.iter().map(|(s, _)| s).find(|s| {
                s.path == m.path || s.fields.digest.as_ref().is_some_and(|d| d.path == m.path)
            });
            let before = edits.len();
            if let Some(site) = site {
                mapped.insert(site.path.clone());
                match site_edits(text, site, entry, opts) {
                    Ok(e) => {
                        edits.extend(e);
                        pinned.push(pinned_record(site, entry, ei, edits.len() > before));
                    }
                    Err(reason) => skipped.push(Skipped {
                        site: site.clone(),
                        reason: reason.to_string(),
                    }),
                }
            } else {
                let Some(Node::Scalar(sc)) = vf.node_at(&m.path) else {
                    return Err(InputError::file(
                        &cfg.path,
                        format!(
                            "line {}: `{}` is not a scalar in {}",
                            cfg.line_of(&m.location),
                            m.path,
                            vf.source().path.display()
                        ),
                    ));
                };
                let current = sc.text();
                let value = match m.form.unwrap_or(WriteForm::Digest) {
                    WriteForm::Digest => entry.digest.to_string(),
                    WriteForm::Hex => entry.digest.hex().to_string(),
                    WriteForm::Tag => {
                        let base = current.split('@').next().unwrap_or("");
                        let base = if base.is_empty() {
                            entry.tag.clone().unwrap_or_default()
                        } else {
                            base.to_string()
                        };
                        format!("{base}@{}", entry.digest)
                    }
                    WriteForm::Reference => match ImageRef::parse(current) {
                        Ok(r) => r.with_digest(&entry.digest).to_string(),
                        Err(e) => {
                            return Err(InputError::file(
                                &vf.source().path,
                                format!("`{}` is not a reference: {e}", m.path),
                            ));
                        }
                    },
                };
                if current != value {
                    edits.push(set_scalar(text, sc, &value));
                }
                pinned.push(Pinned {
                    path: m.path.clone(),
                    span: sc.span(),
                    image: entry_display(entry),
                    digest: entry.digest.clone(),
                    previous: DigestState::Absent,
                    changed: edits.len() > before,
                    entry: ei,
                    found: Found::Conventions,
                });
                mapped.insert(m.path.clone());
            }
            for c in &m.clear {
                if let Some(Node::Scalar(sc)) = vf.node_at(c)
                    && !sc.is_empty()
                {
                    edits.push(set_scalar(text, sc, ""));
                    if let Some(p) = pinned.last_mut() {
                        p.changed = true;
                    }
                }
            }
            used.insert(ei);
        }
    }

    for (site, entry) in &sites {
        if mapped.contains(&site.path) || probe.is_some_and(|p| p.claims(&site.path)) {
            continue;
        }
        let Some(ei) = *entry else {
            if !site.unused {
                unmatched_images.push(UnmatchedSite::of(site));
            }
            continue;
        };
        used.insert(ei);
        let entry = &manifest.entries[ei];
        let before = edits.len();
        match site_edits(text, site, entry, opts) {
            Ok(e) => {
                edits.extend(e);
                pinned.push(pinned_record(site, entry, ei, edits.len() > before));
            }
            Err(reason) => skipped.push(Skipped {
                site: site.clone(),
                reason: reason.to_string(),
            }),
        }
    }
    drop(sites);
    crate::values::in_file_order(&mut unmatched_images, |s| s.span.start);

    edits.sort();
    edits.dedup();
    Ok(FilePlan {
        path: vf.source().path.to_path_buf(),
        edits,
        pinned,
        unmatched_images,
        skipped,
        new_text: String::new(),
    })
}

/// Where a pin of `site` is written, for `file:line:col`: the digest field,
/// else the sha field, else the tag or string field, else the site itself.
/// `pin` and `release` both point there.
pub fn written_span(site: &ImageSite) -> Span {
    let f = &site.fields;
    f.digest
        .as_ref()
        .or(f.sha.as_ref())
        .or(f.string.as_ref())
        .or(f.tag.as_ref())
        .map_or(site.span, |f| f.scalar.span())
}

fn pinned_record(site: &ImageSite, entry: &ManifestEntry, ei: usize, changed: bool) -> Pinned {
    Pinned {
        path: site.path.clone(),
        span: written_span(site),
        image: site_display(site),
        digest: entry.digest.clone(),
        previous: site.digest_state.clone(),
        changed,
        entry: ei,
        found: Found::Conventions,
    }
}

/// The image of a site for messages: its reference, or its short name.
pub fn site_display(site: &ImageSite) -> String {
    match &site.reference {
        Ok(r) => r.to_string(),
        Err(_) => site.short_name().unwrap_or_else(|| site.path.to_string()),
    }
}

/// The message of an `unmatched-entry` finding, the same in pin and
/// release, with the way out: an entry the conventions cannot place needs
/// an `images:` rule saying where it goes.
pub fn unmatched_entry_message(e: &ManifestEntry) -> String {
    format!(
        "manifest entry {} ({}) matches no image in the chart; if the chart holds it somewhere \
         chartpin does not look, add an `images:` rule in .chartpin.yaml: docs/config.md",
        entry_display(e),
        e.digest.short()
    )
}

/// What pin and release say when named a file (a packaged `.tgz`, say)
/// instead of a chart directory.
pub const NOT_A_SOURCE_DIRECTORY: &str = "is a file, not a chart directory: pin works on the \
     chart's source directory; a packaged chart cannot be edited";

/// A manifest entry's image for messages.
pub fn entry_display(e: &ManifestEntry) -> String {
    let name = match &e.name {
        EntryName::Full(r) => r.to_string(),
        EntryName::Short(s) => s.clone(),
    };
    match &e.tag {
        Some(t) if !name.ends_with(&format!(":{t}")) => format!("{name}:{t}"),
        _ => name,
    }
}

/// Whether a config `entry:` string names manifest entry `e`.
fn entry_is_named(e: &ManifestEntry, name: &str) -> bool {
    match &e.name {
        EntryName::Short(s) => s == name,
        EntryName::Full(r) => {
            r.as_str() == name
                || ImageRef::parse(name).is_ok_and(|n| n.name() == r.name())
                || r.written_path().rsplit('/').next() == Some(name)
        }
    }
}

/// Letters and digits only, lowercased: `osm-controller` ~ `osmController`.
fn squash(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The normalised names a site answers to: its rendered name, and for
/// digest-keyed maps the name guessed from registry and key.
fn site_names(site: &ImageSite) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(r) = &site.reference {
        names.push(r.name());
    }
    if let SiteKind::DigestKeyed { name_hint, .. } = &site.kind {
        let reg = site
            .fields
            .registry
            .as_ref()
            .map(|f| f.scalar.text().to_string())
            .unwrap_or_default();
        let s = if reg.is_empty() {
            name_hint.clone()
        } else {
            format!("{reg}/{name_hint}")
        };
        if let Ok(r) = ImageRef::parse(&s) {
            names.push(r.name());
        }
    }
    names
}

/// Manifest entries indexed by normalised name, by repository path without
/// registry, and by squashed short name, so matching stays linear in the
/// number of sites (the benchmark pins 2,000 images against 2,000 entries).
struct EntryIndex {
    by_name: HashMap<String, Vec<usize>>,
    by_repository: HashMap<String, Vec<usize>>,
    by_short: HashMap<String, Vec<usize>>,
}

impl EntryIndex {
    fn new(manifest: &DigestManifest) -> EntryIndex {
        let mut idx = EntryIndex {
            by_name: HashMap::new(),
            by_repository: HashMap::new(),
            by_short: HashMap::new(),
        };
        for (i, e) in manifest.entries.iter().enumerate() {
            match &e.name {
                EntryName::Full(r) => {
                    idx.by_name.entry(r.name()).or_default().push(i);
                    idx.by_repository.entry(r.repository()).or_default().push(i);
                }
                EntryName::Short(s) => idx.by_short.entry(squash(s)).or_default().push(i),
            }
        }
        idx
    }
}

/// The index of the manifest entry for `site`: full names first, then the
/// repository path without its registry, then short names.
fn match_entry(site: &ImageSite, manifest: &DigestManifest, idx: &EntryIndex) -> Option<usize> {
    let names = site_names(site);
    let site_tag = site
        .reference
        .as_ref()
        .ok()
        .and_then(|r| r.tag())
        .map(|t| t.split('@').next().unwrap_or(t).to_string());
    // An entry for another tag never matches a tagged site: the build did not
    // push that tag. Among the rest, the entry with the site's tag wins.
    let pick = |cands: Vec<usize>| -> Option<usize> {
        let tag_of = |i: usize| manifest.entries[i].tag.as_deref();
        let mut cands: Vec<usize> = cands
            .into_iter()
            .filter(|&i| match (tag_of(i), site_tag.as_deref()) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            })
            .collect();
        cands.sort_unstable();
        cands.dedup();
        cands
            .iter()
            .copied()
            .find(|&i| tag_of(i).is_some() && tag_of(i) == site_tag.as_deref())
            .or(cands.first().copied())
    };
    let lookup = |map: &HashMap<String, Vec<usize>>, keys: &[String]| -> Vec<usize> {
        keys.iter()
            .filter_map(|k| map.get(k))
            .flatten()
            .copied()
            .collect()
    };
    if let Some(i) = pick(lookup(&idx.by_name, &names)) {
        return Some(i);
    }
    let repos: Vec<String> = names
        .iter()
        .filter_map(|n| n.split_once('/').map(|(_, p)| p.to_string()))
        .collect();
    if let Some(i) = pick(lookup(&idx.by_repository, &repos)) {
        return Some(i);
    }
    let mut shorts: Vec<String> = site.short_name().map(|s| squash(&s)).into_iter().collect();
    if let SiteKind::NameKeyed { key } | SiteKind::DigestKeyed { key, .. } = &site.kind {
        shorts.push(squash(key));
    }
    pick(lookup(&idx.by_short, &shorts))
}

/// Why a matched site cannot be pinned; the reason a [`Skipped`] gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SiteEditError {
    /// The site's reference cannot be composed from values.
    Site(SiteError),
    /// A name-keyed site whose digest map has no entry for it.
    NoDigestEntry { path: YamlPath },
    /// A block with an empty tag, no digest field, and no tag in the manifest.
    NoTag { path: YamlPath },
    /// A block with no field a digest line could go beside.
    NoField { path: YamlPath },
    /// The digest line cannot be inserted (a flow mapping).
    Insert(InsertError),
}

impl std::fmt::Display for SiteEditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SiteEditError::Site(e) => e.fmt(f),
            SiteEditError::NoDigestEntry { path } => {
                write!(f, "`{path}` has no digest entry to fill")
            }
            SiteEditError::NoTag { path } => write!(
                f,
                "`{path}` has an empty tag and no digest field, and the manifest gives no tag"
            ),
            SiteEditError::NoField { path } => {
                write!(f, "`{path}` has no field a digest could be written beside")
            }
            SiteEditError::Insert(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SiteEditError {}

/// The edits that pin `site` to `entry`'s digest; empty when it already is.
pub fn site_edits(
    text: &str,
    site: &ImageSite,
    entry: &ManifestEntry,
    opts: &PinOptions,
) -> Result<Vec<Edit>, SiteEditError> {
    let d = &entry.digest;
    let f = &site.fields;
    let mut edits = Vec::new();
    let mut extra = Vec::new();
    let mut set = |field: &Field, value: String| {
        if field.scalar.text() != value || field.scalar.is_null && !value.is_empty() {
            edits.push(set_scalar(text, &field.scalar, &value));
        }
    };
    match &site.kind {
        SiteKind::String => {
            let r = site
                .reference
                .as_ref()
                .map_err(|e| SiteEditError::Site(e.clone()))?;
            // A string site always carries its scalar.
            if let Some(field) = &f.string {
                set(field, r.with_digest(d).to_string());
            }
        }
        SiteKind::NameKeyed { .. } | SiteKind::DigestKeyed { .. } => {
            let field = f
                .digest
                .as_ref()
                .ok_or_else(|| SiteEditError::NoDigestEntry {
                    path: site.path.clone(),
                })?;
            set(field, d.to_string());
            // OSM renders the tag when it is non-empty: clear it so the digests take effect.
            if let Some(tag) = &f.tag
                && !tag.scalar.is_empty()
            {
                set(tag, String::new());
            }
        }
        SiteKind::Block | SiteKind::Sibling => {
            let tag_text = f
                .tag
                .as_ref()
                .map(|t| t.scalar.text().to_string())
                .unwrap_or_default();
            let tag_base = tag_text.split('@').next().unwrap_or("").to_string();
            if let Some(field) = &f.digest {
                set(field, d.to_string());
                // cilium: the digest renders only with `useDigest: true`.
                if let Some(u) = &f.use_digest
                    && u.scalar.text() == "false"
                    && u.scalar.style == crate::values::QuoteStyle::Plain
                {
                    extra.push(Edit {
                        span: u.scalar.span(),
                        replacement: "true".to_string(),
                    });
                }
                if tag_text.contains('@')
                    && let Some(tag) = &f.tag
                {
                    set(tag, format!("{tag_base}@{d}"));
                }
            } else if let Some(field) = &f.sha {
                let format = match Digest::parse_prefixed_or_bare(field.scalar.text()) {
                    Ok(_) if field.scalar.text().contains(':') => ShaFormat::Prefixed,
                    Ok(_) => ShaFormat::Bare,
                    Err(_) => match site.path.0.first() {
                        Some(crate::values::PathSeg::Key(k))
                            if opts.subchart_sha_formats.contains_key(k) =>
                        {
                            opts.subchart_sha_formats[k]
                        }
                        _ => opts.sha_format.unwrap_or(ShaFormat::Bare),
                    },
                };
                let format = opts
                    .config
                    .as_ref()
                    .and_then(|c| c.sha_format)
                    .unwrap_or(format);
                set(
                    field,
                    match format {
                        ShaFormat::Bare => d.hex().to_string(),
                        ShaFormat::Prefixed => d.to_string(),
                    },
                );
            } else if let Some(tag) = &f.tag {
                let base = if tag_base.is_empty() {
                    entry.tag.clone().ok_or_else(|| SiteEditError::NoTag {
                        path: site.path.clone(),
                    })?
                } else {
                    tag_base
                };
                set(tag, format!("{base}@{d}"));
            } else {
                let repo = f
                    .repository
                    .as_ref()
                    .ok_or_else(|| SiteEditError::NoField {
                        path: site.path.clone(),
                    })?;
                extra.push(
                    crate::yaml::insert_key_after(
                        text,
                        repo.key_offset,
                        &repo.scalar,
                        &repo.path,
                        "digest",
                        &d.to_string(),
                    )
                    .map_err(SiteEditError::Insert)?,
                );
            }
        }
    }
    edits.extend(extra);
    Ok(edits)
}

/// Probe `chart`'s render and plan the pins it shows, against the chart's
/// own `values.yaml` among `files` (the parent's overrides go there). `None`
/// when that file is not being pinned (`--values other.yaml`). Entries the
/// chart's `config` maps (`images:`) are left to the mapping.
pub fn probe_plan(
    chart: &Chart,
    files: &[(PathBuf, PathBuf, ValuesFile)],
    manifest: &DigestManifest,
    config: Option<&Config>,
    helm: &crate::helm::Helm,
    spec: &crate::helm::RenderSpec,
) -> Result<Option<ProbePlan>, crate::probe::ProbeError> {
    let Some((_, _, vf)) = files
        .iter()
        .find(|(shown, _, _)| *shown == chart.root.join("values.yaml"))
    else {
        return Ok(None);
    };
    // A chart with no templates renders nothing to probe.
    let renders_anything = chart.templates().next().is_some()
        || chart
            .subcharts
            .iter()
            .any(|s| s.templates().next().is_some());
    if !renders_anything {
        return Ok(None);
    }
    let probe = {
        let _step = crate::steps::step("probe");
        crate::probe::probe(chart, Some(vf.source()), helm, spec)?
    };
    let _step = crate::steps::step("probe plan");
    let mapped: HashSet<usize> = config
        .map(|c| {
            c.images
                .iter()
                .filter_map(|m| {
                    manifest
                        .entries
                        .iter()
                        .position(|e| entry_is_named(e, &m.entry))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut plan = crate::probe::plan::plan(&probe, chart, vf, manifest, &mapped);
    plan.baseline = Some(probe.baseline);
    Ok(Some(plan))
}

/// The values files `values` (default `values.yaml`) of `chart`, parsed,
/// each checked to lie inside the chart ([`Chart::values_files`]): a path or
/// symlink that leads outside it is an input error. Each file comes back as
/// (path as shown, real path to write, parsed file).
pub fn read_values(
    chart: &Chart,
    values: &[PathBuf],
) -> Result<Vec<(PathBuf, PathBuf, ValuesFile)>, InputError> {
    chart
        .values_files(values)?
        .into_iter()
        .map(|v| {
            // The chart's own reading when it is the same file: one text
            // and one line index for both (issue 10).
            let vf = ValuesFile::from_source(v.source)?;
            Ok((v.shown, v.real, vf))
        })
        .collect()
}

/// How the chart's templates write `sha` fields: `@sha256:{{ … }}` means bare
/// hex, `@{{ … }}` means the field carries `sha256:`. `None` when the chart
/// has no templates or they do not say.
pub fn sha_format_from_templates(chart: &Chart) -> Option<ShaFormat> {
    let mut prefixed = false;
    for (_, src) in chart.templates() {
        let compact: String = src.text.split_whitespace().collect();
        if compact.contains("@sha256:{{") {
            return Some(ShaFormat::Bare);
        }
        if compact.contains("@{{") && compact.contains(".sha") {
            prefixed = true;
        }
    }
    prefixed.then_some(ShaFormat::Prefixed)
}

/// [`sha_format_from_templates`] for every subchart directory under
/// `charts/` whose templates say, keyed by the directory's name.
pub fn subchart_sha_formats(chart: &Chart) -> std::collections::BTreeMap<String, ShaFormat> {
    chart
        .subcharts
        .iter()
        .filter(|s| matches!(s.origin, crate::chart::ChartOrigin::Dir(_)))
        .filter_map(|s| {
            let name = s.root.file_name()?.to_str()?.to_string();
            Some((name, sha_format_from_templates(s)?))
        })
        .collect()
}

#[cfg(test)]
mod tests;
