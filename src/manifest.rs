//! Digest manifests: the files a release build leaves behind that say which
//! digest each pushed image got (FIELD-NOTES §1). Every reader produces the
//! same [`DigestManifest`]; the format is detected unless given.
//!
//! CONTRACT (stub; the readers are being written): the types and signatures
//! below are what `pin`, `verify` and `release` build on.

use std::path::{Path, PathBuf};

use crate::diag::InputError;
use crate::reference::{Digest, ImageRef};

/// How a manifest entry names its image.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EntryName {
    /// A full reference (`ghcr.io/org/app`, `docker.io/library/nginx`); its tag, if
    /// written, is in [`ManifestEntry::tag`] and the ref itself carries no digest.
    Full(ImageRef),
    /// A short image name (`osm-controller`): the chart supplies registry and namespace.
    Short(String),
}

/// Where an entry came from, for messages: file and 1-based line/column (0 when unknown).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
        }
    }
}

/// One image → digest statement of a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestEntry {
    pub name: EntryName,
    /// The tag the build pushed, when the manifest says it.
    pub tag: Option<String>,
    /// The pullable manifest (or index) digest. Never a config digest.
    pub digest: Digest,
    pub origin: Origin,
}

/// The formats chartpin reads; `--digests-format` takes these names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestFormat {
    /// `docker images --digests` table (OSM `osm_image_digest_<tag>.txt`).
    DockerImages,
    /// `name: sha256:<hex>` lines (OSM multi-arch log).
    NameDigestLines,
    /// `ref[:tag]@sha256:<hex>` lines.
    RefLines,
    /// goreleaser `digests.txt`: `<hex>  ref:tag`.
    Goreleaser,
    /// `docker buildx build|bake|imagetools create --metadata-file` JSON.
    BuildxMetadata,
    /// kbld lock (`kind: Config`, `overrides`).
    KbldLock,
    /// imgpkg `ImagesLock`.
    ImgpkgLock,
    /// A plain YAML/JSON map of image → digest.
    Map,
}

/// All entries read from one or more manifest files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DigestManifest {
    pub entries: Vec<ManifestEntry>,
}

/// Read one manifest file's text, detecting its format unless `format` is given.
pub fn parse_manifest(
    _path: &Path,
    _text: &str,
    _format: Option<ManifestFormat>,
) -> Result<DigestManifest, InputError> {
    todo!("manifest readers")
}

/// Read and merge several manifest files. Two entries for one image with
/// different digests are an error naming both origins.
pub fn read_manifests(
    _paths: &[PathBuf],
    _format: Option<ManifestFormat>,
) -> Result<DigestManifest, InputError> {
    todo!("manifest readers")
}
