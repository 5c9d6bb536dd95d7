//! The reference rules: what a written image reference says about
//! mutability. A reference with a digest (with or without a tag) is pinned;
//! a tag alone is `mutable-tag`; neither is `implicit-latest`; grammar
//! failures are `invalid-digest` or `invalid-reference`.

use super::FoundImage;
use crate::diag::{Code, Finding};
use crate::reference::{ImageRef, RefError};

/// What a reference is, as far as lint cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pinned,
    MutableTag,
    ImplicitLatest,
    InvalidDigest(String),
    InvalidReference(String),
}

/// Classify a written reference.
pub fn classify(reference: &str) -> Verdict {
    match ImageRef::parse(reference) {
        Ok(r) if r.is_pinned() => Verdict::Pinned,
        Ok(r) if r.tag().is_some() => Verdict::MutableTag,
        Ok(_) => Verdict::ImplicitLatest,
        Err(RefError::InvalidDigest(e)) => Verdict::InvalidDigest(e.to_string()),
        Err(e) => Verdict::InvalidReference(e.to_string()),
    }
}

/// How a message names a reference: as it resolves, and how it was written
/// when that differs (a template expression).
pub fn shown(reference: &str, written: Option<&str>) -> String {
    match written {
        Some(w) if w != reference => format!("`{reference}` (written `{w}`)"),
        _ => format!("`{reference}`"),
    }
}

/// The `mutable-tag` message for a reference named by [`shown`].
pub fn mutable_tag(shown: &str) -> String {
    format!("{shown} is referenced by tag without a digest")
}

/// The `implicit-latest` message for a reference named by [`shown`].
pub fn implicit_latest(shown: &str) -> String {
    format!("{shown} has neither tag nor digest, so it pulls whatever `latest` is")
}

/// The `invalid-digest` message: the reference and what is wrong with its digest.
pub fn invalid_digest(shown: &str, why: &str) -> String {
    format!("{shown}: {why}")
}

/// The `invalid-reference` message: the reference and the grammar error.
pub fn invalid_reference(shown: &str, why: &str) -> String {
    format!("{shown}: {why}")
}

/// The finding for `found`, if its reference is not pinned.
pub fn check(found: &FoundImage) -> Option<Finding> {
    let shown = shown(&found.reference, found.written.as_deref());
    let (code, message) = match classify(&found.reference) {
        Verdict::Pinned => return None,
        Verdict::MutableTag => (Code::MutableTag, mutable_tag(&shown)),
        Verdict::ImplicitLatest => (Code::ImplicitLatest, implicit_latest(&shown)),
        Verdict::InvalidDigest(e) => (Code::InvalidDigest, invalid_digest(&shown, &e)),
        Verdict::InvalidReference(e) => (Code::InvalidReference, invalid_reference(&shown, &e)),
    };
    Some(found.finding(code, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        let d = "sha256:".to_string() + &"a".repeat(64);
        assert_eq!(classify(&format!("nginx:1.25@{d}")), Verdict::Pinned);
        assert_eq!(classify(&format!("nginx@{d}")), Verdict::Pinned);
        assert_eq!(classify("nginx:1.25"), Verdict::MutableTag);
        assert_eq!(classify("quay.io/a/b:latest"), Verdict::MutableTag);
        assert_eq!(classify("nginx"), Verdict::ImplicitLatest);
        assert_eq!(classify("localhost:5000/app"), Verdict::ImplicitLatest);
        assert!(matches!(
            classify("nginx@sha256:ABC"),
            Verdict::InvalidDigest(_)
        ));
        assert!(matches!(
            classify(&format!("nginx@sha256:{}", "A".repeat(64))),
            Verdict::InvalidDigest(_)
        ));
        assert!(matches!(classify("Nginx:1"), Verdict::InvalidReference(_)));
        assert!(matches!(classify("a b"), Verdict::InvalidReference(_)));
        assert!(matches!(classify(""), Verdict::InvalidReference(_)));
    }
}
