//! `release --lock FILE`: what was released, as data a later step can check
//! without asking a registry again. One entry per released image site: the
//! values file and path, the reference written, its digest, and what the
//! registry showed of it (kind, media type, each platform's digest). The
//! format is documented in docs/release.md; `schema_version` changes only
//! when a field changes meaning or goes away.

use serde::Serialize;

use crate::verify::{PlatformDigest, VerifyOutcome};

use super::Plan;

/// The lock file's format version.
pub const SCHEMA_VERSION: u32 = 1;

/// The whole lock file.
#[derive(Clone, Debug, Serialize)]
pub struct ImageLock {
    pub schema_version: u32,
    /// `chartpin <version>`, which wrote it.
    pub tool: String,
    pub images: Vec<LockedImage>,
}

/// One released image site.
#[derive(Clone, Debug, Serialize)]
pub struct LockedImage {
    /// The values file, as named.
    pub file: String,
    /// The YAML path of the site.
    pub path: String,
    /// The image's name (`ghcr.io/org/app`).
    pub image: String,
    /// The reference the chart renders now (`ghcr.io/org/app:v1@sha256:…`).
    pub reference: String,
    pub digest: String,
    /// `index`, `image`, … as verify classified it; `null` when the
    /// reference could not be composed, so nothing was asked.
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
}

/// The lock for a verified plan.
pub fn build(plan: &Plan, verified: &VerifyOutcome) -> ImageLock {
    let images = plan
        .rows
        .iter()
        .zip(&plan.targets)
        .map(|(row, target)| {
            let proof = target.as_ref().and_then(|t| verified.proof_of(&t.image));
            LockedImage {
                file: row.location.file.display().to_string(),
                path: row.path.clone(),
                image: row.image.clone(),
                reference: row.new_reference.clone(),
                digest: row.digest.clone(),
                kind: proof.map(|p| p.kind.clone()),
                media_type: proof.and_then(|p| p.media_type.clone()),
                platforms: proof.map(|p| p.platforms.clone()).unwrap_or_default(),
                signature: proof
                    .and_then(|p| p.signature.clone())
                    .unwrap_or_else(|| "not-checked".to_string()),
                signature_detail: proof.and_then(|p| p.signature_detail.clone()),
            }
        })
        .collect();
    ImageLock {
        schema_version: SCHEMA_VERSION,
        tool: format!("chartpin {}", env!("CARGO_PKG_VERSION")),
        images,
    }
}
