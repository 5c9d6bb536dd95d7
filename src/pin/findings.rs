//! The findings matching produces, built here once for `pin` and `release`
//! so they read the same whichever command reports them.
//!
//! (Here rather than in [`crate::diag`]: they are made of matching's types,
//! manifest entries and image sites, which sit beside `diag`, not below it.)

use crate::diag::{Code, Finding, Severity};
use crate::manifest::ManifestEntry;
use crate::source::SourceFile;

use super::{Skipped, UnmatchedSite, site_display, unmatched_entry_message};

/// `unmatched-entry`: a manifest entry no image matched, at the entry's
/// line. Its `image` is the entry's full reference, `name[:tag]@digest`, so
/// the finding alone says which digest went unused.
pub fn unmatched_entry(e: &ManifestEntry, severity: Severity) -> Finding {
    Finding::new(Code::UnmatchedEntry, unmatched_entry_message(e))
        .located(e.origin.clone())
        .with_image(e.display_ref())
        .with_severity(severity)
}

/// `unmatched-image`: a site in `source` no entry matched. One already
/// pinned is a note; the others have `severity`.
pub fn unmatched_image(source: &SourceFile, site: &UnmatchedSite, severity: Severity) -> Finding {
    let image = site.image.clone();
    let (state, sev) = if site.pinned {
        (" (already pinned)", Severity::Note)
    } else {
        ("", severity)
    };
    Finding::new(
        Code::UnmatchedImage,
        format!("`{image}` has no manifest entry{state}"),
    )
    .at(source, site.span)
    .with_path(site.path.clone())
    .with_image(image)
    .with_severity(sev)
}

/// `unmatched-image` for a site an entry matched but that cannot be pinned.
pub fn not_pinned(source: &SourceFile, s: &Skipped) -> Finding {
    Finding::new(Code::UnmatchedImage, format!("not pinned: {}", s.reason))
        .at(source, s.site.span)
        .with_path(s.site.path.to_string())
        .with_image(site_display(&s.site))
}

/// `unpinnable-image`: a rendered image the manifest covers that cannot be
/// pinned where its templates read it, with the reason. It points at the
/// values path the reason names, else at the chart's `values.yaml`.
pub fn unpinnable(
    values: Option<&SourceFile>,
    u: &crate::probe::plan::Unpinnable,
    severity: Severity,
) -> Finding {
    let mut f = Finding::new(
        Code::UnpinnableImage,
        format!(
            "`{}` ({}) is not pinned: {}",
            u.image.reference,
            u.image.describe(),
            u.reason
        ),
    )
    .with_image(u.image.reference.clone())
    .with_severity(severity);
    if let Some(src) = values {
        let at = u
            .path
            .as_ref()
            .and_then(|p| {
                crate::values::ValuesFile::parse(&src.path, src.text.clone())
                    .ok()
                    .and_then(|vf| vf.node_at(p).map(|n| n.offset()))
            })
            .unwrap_or(0);
        f = f.at(src, crate::source::Span::new(at, at));
    }
    if let Some(p) = &u.path {
        f = f.with_path(p.to_string());
    }
    f
}
