//! From a probe to edits: write each manifest digest where the templates
//! read it, in the form they render, or say why it cannot be written.
//!
//! For each rendered image the manifest covers, the first of these that
//! holds wins:
//! 1. a digest value the image already renders from (`digest: sha256:…`,
//!    `sha: <hex>`) gets the new digest in the same form;
//! 2. a digest key the second probe render showed the templates honour
//!    (declared or not) gets the digest in the form they render;
//! 3. the value that renders at the end of the reference (a tag, or a whole
//!    string) gets `@sha256:…` after it;
//! 4. an empty key that renders there once set (a version that defaults to
//!    another) gets the rendered tag and the digest;
//! 5. a reference written literally in a template gets the digest after it.
//!
//! A value that renders several different images, or also renders outside
//! image fields (a label), cannot hold one image's digest: that image is
//! `unpinnable-image`, with the reason, and nothing is written for it.
//! Values of subcharts are written as overrides in the parent's
//! `values.yaml`, under the dependency's name or alias.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use super::{DigestForm, Probe, ProbedImage, ValuesAt};
use crate::chart::{Chart, ChartOrigin};
use crate::lint::rendered::RenderedImage;
use crate::manifest::DigestManifest;
use crate::reference::{Digest, ImageRef};
use crate::source::Span;
use crate::values::ValuesFile;
use crate::yaml::{Edit, YamlPath};

/// Where a probe pin is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Written {
    /// A values path in the parent's `values.yaml` (an override, for a subchart's value).
    Values(YamlPath),
    /// A template, relative to the chart (`templates/tests/test.yaml`).
    Template(String),
}

/// How the digest is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WrittenForm {
    /// A digest key, `sha256:<hex>`.
    DigestKey,
    /// A digest key the template prefixes itself: bare hex.
    BareHex,
    /// `tag@sha256:…` in a tag (or version) value.
    TagAt,
    /// A whole reference with its digest.
    FullString,
    /// A literal reference in a template.
    Template,
}

impl WrittenForm {
    pub fn as_str(self) -> &'static str {
        match self {
            WrittenForm::DigestKey => "digest key",
            WrittenForm::BareHex => "bare hex digest key",
            WrittenForm::TagAt => "tag@digest",
            WrittenForm::FullString => "full reference",
            WrittenForm::Template => "template literal",
        }
    }
}

/// One rendered image a probe pins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbePin {
    /// The image as rendered before.
    pub image: String,
    /// The rendered object and field (`Deployment/web container \`app\``).
    pub object: String,
    pub digest: Digest,
    pub entry: usize,
    pub written: Written,
    pub form: WrittenForm,
    /// The values file the digest goes to (relative to the chart) and the
    /// values paths that compose the image, for messages.
    pub composed_of: Vec<ValuesAt>,
    /// Where the edit is, in the file written.
    pub span: Span,
    pub changed: bool,
}

/// A rendered image the manifest covers that cannot be pinned, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unpinnable {
    pub image: RenderedImage,
    pub entry: usize,
    pub reason: String,
    /// The values path the reason is about, if any.
    pub path: Option<YamlPath>,
}

/// A template the probe splices digests into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateEdit {
    /// Relative to the chart: `templates/tests/test.yaml`, `charts/x/templates/…`.
    pub rel: String,
    pub edits: Vec<Edit>,
}

/// What a probe plans for one chart.
#[derive(Clone, Debug, Default)]
pub struct ProbePlan {
    /// The parent's `values.yaml` the edits are for (its path as shown).
    pub values_path: PathBuf,
    pub values_edits: Vec<Edit>,
    pub templates: Vec<TemplateEdit>,
    pub pins: Vec<ProbePin>,
    pub unpinnable: Vec<Unpinnable>,
    /// Paths of the parent's values the probe saw composing a covered image:
    /// the conventions leave them to the probe.
    pub claimed: Vec<YamlPath>,
    /// Manifest entries the probe used.
    pub used_entries: HashSet<usize>,
    /// helm runs the probe took.
    pub renders: usize,
    /// The probe's baseline render (the chart as it is, with the user's
    /// values): release's proof takes it as its render before the pin
    /// instead of rendering the same again.
    pub baseline: Option<String>,
}

impl ProbePlan {
    /// Whether the conventions should leave a site at `path` alone.
    pub fn claims(&self, path: &YamlPath) -> bool {
        self.claimed
            .iter()
            .any(|c| c.0.starts_with(&path.0) || path.0.starts_with(&c.0))
    }
}

/// A choice of where to write one image's digest.
struct Choice {
    at: Written,
    value: String,
    form: WrittenForm,
}

/// The reference without its digest.
fn core(reference: &str) -> &str {
    reference.split('@').next().unwrap_or(reference)
}

/// A literal template `reference` as pinned to `digest`.
fn pinned_literal(reference: &str, digest: &Digest) -> String {
    format!("{}@{digest}", core(reference))
}

/// Plan the probe's pins (see the module docs). `values` is the parent's
/// `values.yaml` as the pin read it. Entries in `mapped` are placed by the
/// chart's `.chartpin.yaml` (`images:`): the user's word wins, and the
/// probe leaves them alone (the proof by rendering still checks them).
pub fn plan(
    probe: &Probe,
    chart: &Chart,
    values: &ValuesFile,
    manifest: &DigestManifest,
    mapped: &HashSet<usize>,
) -> ProbePlan {
    let mut out = ProbePlan {
        values_path: values.source().path.to_path_buf(),
        renders: probe.renders,
        ..ProbePlan::default()
    };
    let text = values.text();
    let root = values.documents().first();
    let mut by_path: HashMap<YamlPath, String> = HashMap::new();
    let mut settings: Vec<(YamlPath, String)> = Vec::new();
    let mut template_edits: BTreeMap<String, Vec<Edit>> = BTreeMap::new();
    let mut done: HashSet<(String, String)> = HashSet::new();
    for img in &probe.images {
        let Ok(r) = ImageRef::parse(&img.image.reference) else {
            continue;
        };
        let Some(entry) = manifest.find(&r) else {
            continue;
        };
        let ei = manifest
            .entries
            .iter()
            .position(|e| std::ptr::eq(e, entry))
            .unwrap_or(0);
        if mapped.contains(&ei) {
            continue;
        }
        out.used_entries.insert(ei);
        for p in &img.parts {
            out.claimed.push(p.at.coord.clone());
        }
        for k in &img.digest_keys {
            out.claimed.push(k.at.coord.clone());
        }
        let d = &entry.digest;
        let choice = match choose(probe, img, &r, d, chart) {
            Ok(c) => c,
            Err((reason, path)) => {
                out.unpinnable.push(Unpinnable {
                    image: img.image.clone(),
                    entry: ei,
                    reason,
                    path,
                });
                continue;
            }
        };
        // The same image rendered in several places is one pin.
        let key = (format!("{:?}", choice.at), img.image.reference.clone());
        if !done.insert(key) {
            continue;
        }
        // The pin, once its place in the file is known.
        let pin_at = |span: Span, changed: bool| ProbePin {
            image: img.image.reference.clone(),
            object: img.image.describe(),
            digest: d.clone(),
            entry: ei,
            written: choice.at.clone(),
            form: choice.form,
            composed_of: img.parts.iter().map(|p| p.at.clone()).collect(),
            span,
            changed,
        };
        match &choice.at {
            Written::Values(path) => {
                let Some(root) = root else {
                    out.unpinnable.push(Unpinnable {
                        image: img.image.clone(),
                        entry: ei,
                        reason: "the chart's values.yaml is empty, so no override can be added"
                            .to_string(),
                        path: Some(path.clone()),
                    });
                    continue;
                };
                if let Some(prev) = by_path.get(path)
                    && *prev != choice.value
                {
                    out.unpinnable.push(Unpinnable {
                        image: img.image.clone(),
                        entry: ei,
                        reason: format!(
                            "`{path}` also renders another image with another digest; one value cannot pin both"
                        ),
                        path: Some(path.clone()),
                    });
                    continue;
                }
                match crate::yaml::set_path(text, root, path, &choice.value) {
                    Ok(edit) => {
                        let changed = text[edit.span.range()] != edit.replacement;
                        by_path.insert(path.clone(), choice.value.clone());
                        if changed && !settings.iter().any(|(p, _)| p == path) {
                            settings.push((path.clone(), choice.value.clone()));
                        }
                        out.pins.push(pin_at(edit.span, changed));
                    }
                    Err(e) => out.unpinnable.push(Unpinnable {
                        image: img.image.clone(),
                        entry: ei,
                        reason: format!("the pin goes to `{path}`, but {e}"),
                        path: Some(path.clone()),
                    }),
                }
            }
            Written::Template(rel) => {
                let edits = literal_edits(chart, rel, &img.image.reference, &choice.value);
                let span = edits.first().map_or(Span::new(0, 0), |e| e.span);
                let changed = !edits.is_empty();
                template_edits.entry(rel.clone()).or_default().extend(edits);
                out.pins.push(pin_at(span, changed));
            }
        }
    }
    out.templates = template_edits
        .into_iter()
        .map(|(rel, mut edits)| {
            edits.sort();
            edits.dedup();
            TemplateEdit { rel, edits }
        })
        .collect();
    if let Some(root) = root {
        // Each setting was tried alone above; together they only share insertion places.
        out.values_edits = crate::yaml::set_paths(text, root, &settings).unwrap_or_default();
    }
    out.values_edits.sort();
    out.values_edits.dedup();
    out
}

/// Whether one of the values a `--set` argument gives (`a=x,b[0]=y`)
/// is part of `reference`, as a `--set` that sets the image would be.
fn sets_a_value_in(set: &str, reference: &str) -> bool {
    set.split(',')
        .filter_map(|item| item.split_once('='))
        .any(|(_, value)| value.len() > 1 && reference.contains(value))
}

/// Why a value cannot hold one image's digest, if it cannot.
fn shared(probe: &Probe, at: &ValuesAt, reference: &str) -> Option<String> {
    if let Some(by) = probe.set_by(&at.coord) {
        return Some(format!(
            "`{}` is set by {by}, which would hide a pin in the chart's values.yaml at install time too; pin it in that file",
            at.coord
        ));
    }
    let u = probe.uses.get(&at.coord)?;
    let others: Vec<&String> = u.references.iter().filter(|r| *r != reference).collect();
    if !others.is_empty() {
        let list: Vec<&str> = others.iter().take(3).map(|s| s.as_str()).collect();
        return Some(format!(
            "`{}` renders {} different images ({reference}, {}{}); one digest cannot pin them",
            at.coord,
            others.len() + 1,
            list.join(", "),
            if others.len() > 3 { ", …" } else { "" }
        ));
    }
    if u.outside_images {
        return Some(format!(
            "`{}` also renders outside image fields (a label or annotation), where a digest would break the chart",
            at.coord
        ));
    }
    None
}

/// Where the digest of `img` goes, or why it cannot go anywhere.
fn choose(
    probe: &Probe,
    img: &ProbedImage,
    r: &ImageRef,
    d: &Digest,
    chart: &Chart,
) -> Result<Choice, (String, Option<YamlPath>)> {
    let reference = img.image.reference.as_str();
    let mut blocked: Option<(String, Option<YamlPath>)> = None;
    let mut note = |reason: String, at: &ValuesAt| {
        if blocked.is_none() {
            blocked = Some((reason, Some(at.coord.clone())));
        }
    };
    // 1. A digest value the image renders from already.
    for p in &img.parts {
        if Digest::parse_prefixed_or_bare(&p.value).is_err() {
            continue;
        }
        if let Some(why) = shared(probe, &p.at, reference) {
            note(why, &p.at);
            continue;
        }
        let bare = !p.value.contains(':');
        return Ok(Choice {
            at: Written::Values(p.at.coord.clone()),
            value: if bare {
                d.hex().to_string()
            } else {
                d.to_string()
            },
            form: if bare {
                WrittenForm::BareHex
            } else {
                WrittenForm::DigestKey
            },
        });
    }
    // 2. A digest key the templates honour.
    for k in &img.digest_keys {
        if let Some(why) = shared(probe, &k.at, reference) {
            note(why, &k.at);
            continue;
        }
        let pinned = format!("{}{}", k.rendered_base, d);
        if !ImageRef::parse(&pinned).is_ok_and(|p| p.name() == r.name()) {
            continue;
        }
        return Ok(match k.form {
            DigestForm::Prefixed => Choice {
                at: Written::Values(k.at.coord.clone()),
                value: d.to_string(),
                form: WrittenForm::DigestKey,
            },
            DigestForm::Bare => Choice {
                at: Written::Values(k.at.coord.clone()),
                value: d.hex().to_string(),
                form: WrittenForm::BareHex,
            },
        });
    }
    // 3. The value at the end of the reference.
    let core_ref = core(reference);
    if let Some(p) = img.parts.iter().max_by_key(|p| p.end) {
        let value = core(&p.value);
        let ends = !value.is_empty()
            && (core_ref.ends_with(value)
                || core_ref.ends_with(value.trim_start_matches('v'))
                || core_ref.ends_with(&value.to_ascii_lowercase()));
        if ends {
            match shared(probe, &p.at, reference) {
                Some(why) => note(why, &p.at),
                None => {
                    let full = ImageRef::parse(value).is_ok_and(|v| v.written_path().contains('/'));
                    return Ok(Choice {
                        at: Written::Values(p.at.coord.clone()),
                        value: format!("{value}@{d}"),
                        form: if full && value.contains('/') {
                            WrittenForm::FullString
                        } else {
                            WrittenForm::TagAt
                        },
                    });
                }
            }
        }
    }
    // 4. An empty key that renders at the end once set.
    if let Some(tag) = r.tag() {
        for at in &img.tail_keys {
            if let Some(why) = shared(probe, at, reference) {
                note(why, at);
                continue;
            }
            return Ok(Choice {
                at: Written::Values(at.coord.clone()),
                value: format!("{}@{d}", core(tag)),
                form: WrittenForm::TagAt,
            });
        }
    }
    // 5. A literal reference in a template.
    if img.parts.is_empty()
        && let Some(rel) = img.image.template.as_deref().and_then(template_rel)
    {
        let pinned = pinned_literal(reference, d);
        if let Some((c, inner)) = chart.holding(&rel) {
            let literal = !literal_edits(chart, &rel, reference, &pinned).is_empty()
                || c.file(&inner).is_some_and(|s| s.text.contains(&pinned));
            if literal && !matches!(c.origin, ChartOrigin::Dir(_)) {
                return Err((
                    format!(
                        "it is written in {rel}, inside a packaged subchart that cannot be edited"
                    ),
                    None,
                ));
            }
            if literal {
                return Ok(Choice {
                    at: Written::Template(rel),
                    value: pinned,
                    form: WrittenForm::Template,
                });
            }
        }
    }
    if let Some(b) = blocked {
        return Err(b);
    }
    if img.parts.is_empty() {
        let why = match probe
            .sets_as_given
            .iter()
            .find(|s| sets_a_value_in(s, reference))
        {
            Some(set) => format!(
                "it comes from no values key the probe could mark: `--set {set}` sets it, and the probe passed that --set to helm as it is (above its markers); pin it where that --set comes from"
            ),
            None => "it comes from no values key the probe could mark, and is not written literally in a template"
                .to_string(),
        };
        return Err((why, None));
    }
    // Values that render several images say so first: that is why no pin fits.
    if let Some((why, at)) = img
        .parts
        .iter()
        .rev()
        .find_map(|p| shared(probe, &p.at, reference).map(|w| (w, p.at.coord.clone())))
    {
        return Err((why, Some(at)));
    }
    let tail = img
        .parts
        .iter()
        .max_by_key(|p| p.end)
        .map(|p| p.end)
        .unwrap_or(0);
    let rest = core_ref.get(tail..).unwrap_or("");
    Err((
        format!(
            "its end ({}) does not come from a values key, and the templates honour no digest key for it",
            if rest.is_empty() { core_ref } else { rest }
        ),
        img.parts.last().map(|p| p.at.coord.clone()),
    ))
}

/// `chart/templates/x.yaml` (a `# Source:` path) relative to the chart.
fn template_rel(source: &str) -> Option<String> {
    source.split_once('/').map(|(_, rest)| rest.to_string())
}

fn ref_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._-/:@".contains(&b)
}

/// Splices putting `pinned` in place of each literal `reference` in `rel`.
fn literal_edits(chart: &Chart, rel: &str, reference: &str, pinned: &str) -> Vec<Edit> {
    let Some((c, inner)) = chart.holding(rel) else {
        return Vec::new();
    };
    let Some(src) = c.file(&inner) else {
        return Vec::new();
    };
    literal_edits_in(&src.text, reference, pinned)
}

/// Splices putting `pinned` in place of each literal `reference` in `text`.
fn literal_edits_in(text: &str, reference: &str, pinned: &str) -> Vec<Edit> {
    let t = text.as_bytes();
    text.match_indices(reference)
        .filter(|(i, m)| {
            let before = *i == 0 || !ref_byte(t[i - 1]);
            let after = i + m.len() >= t.len() || !ref_byte(t[i + m.len()]);
            before && after
        })
        .filter(|_| reference != pinned)
        .map(|(i, m)| Edit {
            span: Span::new(i, i + m.len()),
            replacement: pinned.to_string(),
        })
        .collect()
}

/// `text` (a template as planned) with its literal `pins` made again, as a
/// second pin would: each image as rendered before gets its digest once
/// more (as it renders pinned, it pins to itself). The same text when the
/// pin settled; not the same when a reference was left unpinned.
pub fn repin_literals(text: &str, pins: &[ProbePin]) -> Result<String, crate::yaml::EditError> {
    let mut edits = Vec::new();
    for p in pins {
        let pinned = pinned_literal(&p.image, &p.digest);
        edits.extend(literal_edits_in(text, &p.image, &pinned));
    }
    crate::yaml::apply_edits(text, &edits)
}
