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

/// The finding for `found`, if its reference is not pinned.
pub fn check(found: &FoundImage) -> Option<Finding> {
    let r = &found.reference;
    let shown = match &found.written {
        Some(w) if w != r => format!("`{r}` (written `{w}`)"),
        _ => format!("`{r}`"),
    };
    let (code, message) = match classify(r) {
        Verdict::Pinned => return None,
        Verdict::MutableTag => (
            Code::MutableTag,
            format!("{shown} is referenced by tag without a digest"),
        ),
        Verdict::ImplicitLatest => (
            Code::ImplicitLatest,
            format!("{shown} has neither tag nor digest, so it pulls whatever `latest` is"),
        ),
        Verdict::InvalidDigest(e) => (Code::InvalidDigest, format!("{shown}: {e}")),
        Verdict::InvalidReference(e) => (Code::InvalidReference, format!("{shown}: {e}")),
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
