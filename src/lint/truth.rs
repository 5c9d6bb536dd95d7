//! `--render`: the render is the truth. Each mutable image the chart
//! renders is reported once per place that produces it, and nothing else:
//! a values site or template image that does not render (a disabled
//! component, a branch not taken) is not a finding, nor is a site whose
//! image renders pinned, nor a template image lint could not work out
//! statically (the render worked it out).
//!
//! A rendered image is placed where its pin goes, when lint can tell: at
//! the values site that describes it (same reference, or the site's name
//! when the template adds the tag, `tag: ""` filled from `appVersion`),
//! else at the template line that builds it, else where [`super::rendered`]
//! placed it (the template line that writes it literally, or the template
//! file). A values site's own advice (`empty-digest`,
//! `digest-field-ignored`, `invalid-digest`) is kept, naming the rendered
//! reference.

use std::path::{Path, PathBuf};

use super::{FoundImage, ImageOrigin, rules};
use crate::diag::{Code, Finding};
use crate::reference::ImageRef;

/// How well a static reference describes a rendered one; lower is better.
fn matches(written: &str, rendered: &str) -> Option<u8> {
    if written.contains('…') {
        return glob(written, rendered).then_some(3);
    }
    let (Ok(s), Ok(r)) = (ImageRef::parse(written), ImageRef::parse(rendered)) else {
        return None;
    };
    if s.canonical() == r.canonical() {
        return Some(0);
    }
    if s.name() == r.name() && s.digest().is_none() && (s.tag().is_none() || s.tag() == r.tag()) {
        return Some(1);
    }
    None
}

/// `…`-separated literal parts of `pattern` appear in `text` in order,
/// anchored at the ends the pattern does not leave open.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('…').collect();
    let mut at = 0;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        let found = if i == 0 {
            text.starts_with(part).then_some(0)
        } else if i == parts.len() - 1 {
            (text.len() >= at + part.len() && text.ends_with(part)).then(|| text.len() - part.len())
        } else {
            text[at..].find(part).map(|j| at + j)
        };
        let Some(j) = found else {
            return false;
        };
        at = j + part.len();
    }
    parts.iter().any(|p| !p.is_empty())
}

/// A static place a rendered image may be reported at.
struct Anchor<'a> {
    /// Values sites before templates, exact references before partial ones.
    rank: (u8, u8),
    file: &'a Path,
    location: Option<crate::source::Location>,
    path: Option<&'a str>,
    /// The values site's own finding, when it gives advice of its own.
    advice: Option<&'a Finding>,
    /// How the template writes the image (`{{ .registry }}/x:{{ .tag }}`).
    written: Option<&'a str>,
}

/// The findings of a lint whose charts were rendered with `--render`.
/// `site_findings` and `other` are what the static scans found; `roots`
/// are the rendered charts' roots.
pub(super) fn findings(
    images: &[FoundImage],
    site_findings: &[(std::sync::Arc<Path>, Finding)],
    other: &[Finding],
    roots: &[PathBuf],
) -> Vec<Finding> {
    let top = |p: &Path| roots.iter().find(|r| p.starts_with(r));
    let mut out = Vec::new();
    for f in other {
        let rendered_chart = f.file().and_then(top).is_some();
        if f.code == Code::SkippedDocument || !rendered_chart {
            out.push(f.clone());
        }
    }
    for img in images
        .iter()
        .filter(|i| i.origin == ImageOrigin::ChartAnnotation)
    {
        out.extend(rules::check(img));
    }
    for r in images.iter().filter(|i| i.origin == ImageOrigin::Rendered) {
        let Some(found) = rules::check(r) else {
            continue;
        };
        let chart = top(&r.chart_root);
        let same_chart = |root: &Path| chart.is_none() || top(root) == chart;
        let mut anchors: Vec<Anchor<'_>> = Vec::new();
        for s in images.iter().filter(|i| {
            matches!(i.origin, ImageOrigin::Values | ImageOrigin::Template)
                && same_chart(&i.chart_root)
        }) {
            let Some(q) = matches(&s.reference, &r.reference) else {
                continue;
            };
            // The site's own finding points at the field to change (the tag,
            // the empty digest); its advice is kept when it says more.
            let own = (s.origin == ImageOrigin::Values)
                .then(|| {
                    site_findings
                        .iter()
                        .map(|(_, f)| f)
                        .find(|f| f.file() == Some(s.file()) && f.path == s.path)
                })
                .flatten();
            let advice = own.filter(|f| {
                matches!(
                    f.code,
                    Code::EmptyDigest | Code::DigestFieldIgnored | Code::InvalidDigest
                )
            });
            let location = match own {
                Some(f) => f.location.clone(),
                None => Some(s.location.clone()),
            };
            anchors.push(Anchor {
                rank: (u8::from(s.origin != ImageOrigin::Values), q),
                file: s.file(),
                location,
                path: s.path.as_deref(),
                advice,
                written: s.written.as_deref(),
            });
        }
        // Template images lint judged by their known tail (`{{ include … }}/x:1`).
        for f in other
            .iter()
            .filter(|f| f.code != Code::SkippedDocument && f.file().is_some_and(&same_chart))
        {
            let (Some(image), Some(file)) = (f.image.as_deref(), f.file()) else {
                continue;
            };
            if let Some(q) = matches(image, &r.reference) {
                anchors.push(Anchor {
                    rank: (1, q),
                    file,
                    location: f.location.clone(),
                    path: f.path.as_deref(),
                    advice: None,
                    written: None,
                });
            }
        }
        let Some(a) = unique_best(anchors, images, r) else {
            // Several places produce the same image, or none: the template
            // file, without a line that might be the wrong one.
            let mut found = found;
            if found
                .location
                .as_ref()
                .is_some_and(|l| l.position.is_some())
                && !placed_at_literal(images, r)
            {
                found.location = Some(crate::source::Location::file(r.file()));
            }
            out.push(found);
            continue;
        };
        let mut g = match a.advice {
            Some(advice) => {
                let mut g = advice.clone();
                if canonical(advice.image.as_deref()) != canonical(Some(&r.reference)) {
                    g.message = format!(
                        "{}; it renders as `{}`",
                        g.message.trim_end_matches('.'),
                        r.reference
                    );
                }
                if let Some(c) = &r.context {
                    g.message = format!("{} ({c})", g.message);
                }
                g
            }
            // Named as the template writes it, as static lint names it.
            None => match (a.written, found.code) {
                (Some(w), Code::MutableTag | Code::ImplicitLatest) => {
                    let shown = rules::shown(&r.reference, Some(w));
                    let mut g = found.clone();
                    g.message = if found.code == Code::MutableTag {
                        rules::mutable_tag(&shown)
                    } else {
                        rules::implicit_latest(&shown)
                    };
                    if let Some(c) = &r.context {
                        g.message = format!("{} ({c})", g.message);
                    }
                    g
                }
                _ => found,
            },
        };
        g.image = Some(r.reference.clone());
        g.location = Some(
            a.location
                .unwrap_or_else(|| crate::source::Location::file(a.file)),
        );
        g.path = a.path.map(str::to_string).or(g.path);
        out.push(g);
    }
    out
}

/// The one place that produces rendered image `r`: the best-ranked anchor,
/// when it is the only one at its rank (anchors at the same location count
/// once). Values sites that tie are told apart by the template the image
/// renders from: when exactly one of them is what a static template image
/// of that file reads (`{{ .Values.a.image.repository }}` reads `a.image`),
/// that one. Otherwise `None`: lint does not guess.
fn unique_best<'a>(
    anchors: Vec<Anchor<'a>>,
    images: &[FoundImage],
    r: &FoundImage,
) -> Option<Anchor<'a>> {
    let best = anchors.iter().map(|a| a.rank).min()?;
    let mut tied: Vec<Anchor<'a>> = Vec::new();
    for a in anchors.into_iter().filter(|a| a.rank == best) {
        let same = |b: &Anchor<'_>| b.file == a.file && b.location == a.location;
        if !tied.iter().any(same) {
            tied.push(a);
        }
    }
    if tied.len() == 1 {
        return tied.pop();
    }
    // Values sites the rendering template reads.
    let read: Vec<&String> = images
        .iter()
        .filter(|i| i.origin == ImageOrigin::Template && i.file() == r.file())
        .flat_map(|i| &i.values_paths)
        .collect();
    let mut read_by_template: Vec<Anchor<'a>> = tied
        .into_iter()
        .filter(|a| {
            a.rank.0 == 0
                && a.path.is_some_and(|p| {
                    read.iter()
                        .any(|u| u.as_str() == p || u.starts_with(&format!("{p}.")))
                })
        })
        .collect();
    (read_by_template.len() == 1)
        .then(|| read_by_template.pop())
        .flatten()
}

/// Whether the rendered image sits at the one template line that writes it
/// literally (so its line is not a guess).
fn placed_at_literal(images: &[FoundImage], r: &FoundImage) -> bool {
    let literals = images
        .iter()
        .filter(|i| {
            i.origin == ImageOrigin::Template
                && i.file() == r.file()
                && super::canonical(&i.reference) == super::canonical(&r.reference)
        })
        .count();
    literals <= 1
}

fn canonical(r: Option<&str>) -> Option<String> {
    r.map(super::canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_references_match_what_renders() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            matches("nginx:1.25", "docker.io/library/nginx:1.25"),
            Some(0)
        );
        // The template adds the tag (appVersion).
        assert_eq!(
            matches(
                "quay.io/jetstack/cert-manager-controller",
                "quay.io/jetstack/cert-manager-controller:v1.16.0"
            ),
            Some(1)
        );
        assert_eq!(matches("nginx:1.25", "nginx:1.26"), None);
        assert_eq!(matches(&format!("nginx@{d}"), "nginx:1.25"), None);
        assert_eq!(
            matches("…/thanos/thanos:v0.42.4", "quay.io/thanos/thanos:v0.42.4"),
            Some(3)
        );
        assert_eq!(
            matches("…/thanos/thanos:v0.42.4", "quay.io/thanos/thanos:v0.42.5"),
            None
        );
        assert_eq!(
            matches("registry.k8s.io/x:…", "registry.k8s.io/x:v1"),
            Some(3)
        );
        assert_eq!(matches("registry.k8s.io/x:…", "quay.io/x:v1"), None);
        assert_eq!(matches("…", "quay.io/x:v1"), None);
    }
}
