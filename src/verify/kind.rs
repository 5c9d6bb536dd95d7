//! What a pinned digest names: an index, an image a kubelet can run, or
//! something else a pipeline pinned by mistake.
//!
//! Pipelines pin the wrong digest in known ways: a buildx attestation
//! manifest (its index entry says `unknown/unknown`), a cosign signature or
//! an SBOM stored beside the image, an OCI artifact that is not an image at
//! all, or one platform's manifest taken out of the index. The manifest's own
//! media types tell them apart: an image manifest whose config is an image
//! config and whose layers are not in-toto statements, signatures or SBOM
//! documents is an image; `artifactType`, the config's media type and the
//! layers' media types say what anything else is.

use oci_client::manifest::{OciDescriptor, OciImageIndex, OciImageManifest};

use super::ParsedManifest;

/// The kind of manifest a digest names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An OCI image index or Docker manifest list with at least one runnable entry.
    Index,
    /// A single image manifest a kubelet can run.
    Image,
    /// An in-toto statement or DSSE envelope (buildx, cosign attestations).
    Attestation(String),
    /// A signature (cosign simple signing, a Sigstore bundle, Notary).
    Signature(String),
    /// A software bill of materials (SPDX, CycloneDX, Syft).
    Sbom(String),
    /// Any other OCI artifact (a Helm chart, a WASM module, a referrers index …).
    Artifact(String),
}

impl Kind {
    /// Whether a kubelet can run what the digest names.
    pub fn is_runnable(&self) -> bool {
        matches!(self, Kind::Index | Kind::Image)
    }

    /// The kebab-case name used in JSON and in messages (`attestation`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Index => "index",
            Kind::Image => "image",
            Kind::Attestation(_) => "attestation",
            Kind::Signature(_) => "signature",
            Kind::Sbom(_) => "sbom",
            Kind::Artifact(_) => "artifact",
        }
    }

    /// How a message names it: `a build attestation (application/vnd.in-toto+json)`.
    pub fn describe(&self) -> String {
        match self {
            Kind::Index => "an image index".to_string(),
            Kind::Image => "an image manifest".to_string(),
            Kind::Attestation(t) => format!("a build attestation ({t})"),
            Kind::Signature(t) => format!("a signature ({t})"),
            Kind::Sbom(t) => format!("an SBOM ({t})"),
            Kind::Artifact(t) => format!("an OCI artifact ({t})"),
        }
    }
}

/// Media types of image configs: what makes a manifest an image.
const IMAGE_CONFIGS: &[&str] = &[
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

/// The annotation buildx puts on an index entry that is an attestation.
pub const REFERENCE_TYPE: &str = "vnd.docker.reference.type";

/// What a media type (an `artifactType`, a config's or a layer's) says the
/// manifest is, when it names something that is not an image.
fn by_media_type(t: &str) -> Option<Kind> {
    let l = t.to_ascii_lowercase();
    let owned = || t.to_string();
    if l.contains("in-toto") || l.contains("dsse.envelope") || l.contains("attestation") {
        Some(Kind::Attestation(owned()))
    } else if l.contains("cosign.simplesigning")
        || l.contains("cosign.artifact.sig")
        || l.contains("sigstore.bundle")
        || l.contains("notary.signature")
    {
        Some(Kind::Signature(owned()))
    } else if l.contains("spdx") || l.contains("cyclonedx") || l.contains("syft") {
        Some(Kind::Sbom(owned()))
    } else {
        None
    }
}

fn classify_image(m: &OciImageManifest) -> Kind {
    let layers = m
        .layers
        .iter()
        .map(|d: &OciDescriptor| d.media_type.as_str());
    let stated = m
        .artifact_type
        .iter()
        .map(String::as_str)
        .chain(std::iter::once(m.config.media_type.as_str()))
        .chain(layers);
    if let Some(k) = stated.filter_map(by_media_type).next() {
        return k;
    }
    if let Some(t) = &m.artifact_type {
        return Kind::Artifact(t.clone());
    }
    if IMAGE_CONFIGS.contains(&m.config.media_type.as_str()) {
        Kind::Image
    } else {
        Kind::Artifact(m.config.media_type.clone())
    }
}

/// Whether an index entry is an attestation rather than a platform's image.
pub fn is_attestation_entry(e: &oci_client::manifest::ImageIndexEntry) -> bool {
    let annotated = e
        .annotations
        .as_ref()
        .and_then(|a| a.get(REFERENCE_TYPE))
        .is_some_and(|v| v == "attestation-manifest");
    let unknown = e
        .platform
        .as_ref()
        .is_some_and(|p| p.os.to_string() == "unknown" && p.architecture.to_string() == "unknown");
    annotated || unknown || e.artifact_type.as_deref().and_then(by_media_type).is_some()
}

fn classify_index(i: &OciImageIndex) -> Kind {
    if let Some(t) = &i.artifact_type {
        return by_media_type(t).unwrap_or_else(|| Kind::Artifact(t.clone()));
    }
    if !i.manifests.is_empty() && i.manifests.iter().all(is_attestation_entry) {
        return Kind::Attestation("an index of attestations only".to_string());
    }
    Kind::Index
}

/// The kind of a parsed manifest.
pub(super) fn classify(m: &ParsedManifest) -> Kind {
    match m {
        ParsedManifest::Index(i) => classify_index(i),
        ParsedManifest::Image(m) => classify_image(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(json: &str) -> Kind {
        classify(&super::super::parse_manifest(json.as_bytes()).unwrap())
    }

    fn image(config: &str, layer: &str, artifact: Option<&str>) -> String {
        let artifact = artifact
            .map(|a| format!(r#""artifactType": "{a}","#))
            .unwrap_or_default();
        format!(
            r#"{{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", {artifact}
               "config": {{"mediaType": "{config}", "digest": "sha256:{z}", "size": 2}},
               "layers": [{{"mediaType": "{layer}", "digest": "sha256:{z}", "size": 2}}]}}"#,
            z = "0".repeat(64)
        )
    }

    #[test]
    fn images_and_what_pipelines_pin_by_mistake_are_told_apart() {
        let oci_config = "application/vnd.oci.image.config.v1+json";
        let tar = "application/vnd.oci.image.layer.v1.tar+gzip";
        assert_eq!(kind(&image(oci_config, tar, None)), Kind::Image);
        assert_eq!(
            kind(&image(
                "application/vnd.docker.container.image.v1+json",
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
                None
            )),
            Kind::Image
        );
        // buildx attestation manifest: an image config, in-toto layers.
        assert_eq!(
            kind(&image(oci_config, "application/vnd.in-toto+json", None)).as_str(),
            "attestation"
        );
        // cosign's tag-scheme signature.
        assert_eq!(
            kind(&image(
                oci_config,
                "application/vnd.dev.cosign.simplesigning.v1+json",
                None
            ))
            .as_str(),
            "signature"
        );
        // An OCI 1.1 SBOM artifact: empty config, artifactType.
        assert_eq!(
            kind(&image(
                "application/vnd.oci.empty.v1+json",
                "application/spdx+json",
                Some("application/spdx+json")
            )),
            Kind::Sbom("application/spdx+json".into())
        );
        // A Helm chart pushed as OCI.
        assert_eq!(
            kind(&image(
                "application/vnd.cncf.helm.config.v1+json",
                "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                None
            )),
            Kind::Artifact("application/vnd.cncf.helm.config.v1+json".into())
        );
        assert!(!Kind::Artifact(String::new()).is_runnable());
        assert!(Kind::Index.is_runnable() && Kind::Image.is_runnable());
    }

    #[test]
    fn an_index_of_attestations_only_is_not_runnable() {
        let z = "0".repeat(64);
        let entry = |platform: &str, annotation: &str| {
            format!(
                r#"{{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:{z}", "size": 2,
                    "platform": {platform} {annotation}}}"#
            )
        };
        let att = entry(
            r#"{"os": "unknown", "architecture": "unknown"}"#,
            r#", "annotations": {"vnd.docker.reference.type": "attestation-manifest"}"#,
        );
        let amd = entry(r#"{"os": "linux", "architecture": "amd64"}"#, "");
        let index = |entries: &[&str]| {
            format!(
                r#"{{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [{}]}}"#,
                entries.join(",")
            )
        };
        assert_eq!(kind(&index(&[&amd, &att])), Kind::Index);
        assert!(!kind(&index(&[&att])).is_runnable());
    }
}
