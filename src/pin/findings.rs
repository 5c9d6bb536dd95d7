//! The findings matching produces, built here once for `pin` and `release`
//! so they read the same whichever command reports them.
//!
//! (Here rather than in [`crate::diag`]: they are made of matching's types,
//! manifest entries and image sites, which sit beside `diag`, not below it.)

use crate::diag::{Code, Finding, Severity};
use crate::manifest::ManifestEntry;
use crate::source::SourceFile;
use crate::values::ImageSite;

use super::{Skipped, site_display, unmatched_entry_message};

/// `unmatched-entry`: a manifest entry no image matched, at the entry's
/// line. Its `image` is the entry's full reference, `name[:tag]@digest`, so
/// the finding alone says which digest went unused.
pub fn unmatched_entry(e: &ManifestEntry, severity: Severity) -> Finding {
    let mut f = Finding::new(Code::UnmatchedEntry, unmatched_entry_message(e))
        .in_file(&e.origin.file)
        .with_image(e.display_ref())
        .with_severity(severity);
    f.line = e.origin.line;
    f.column = e.origin.column;
    f
}

/// `unmatched-image`: a site in `source` no entry matched. One already
/// pinned is a note; the others have `severity`.
pub fn unmatched_image(source: &SourceFile, site: &ImageSite, severity: Severity) -> Finding {
    let image = site_display(site);
    let (state, sev) = if site.is_pinned() {
        (" (already pinned)", Severity::Note)
    } else {
        ("", severity)
    };
    Finding::new(
        Code::UnmatchedImage,
        format!("`{image}` has no manifest entry{state}"),
    )
    .at(source, site.span)
    .with_path(site.path.to_string())
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
