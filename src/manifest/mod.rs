//! Digest manifests: the files a release build leaves behind that say which
//! digest each pushed image got (FIELD-NOTES §1). Every reader produces the
//! same [`DigestManifest`]; the format is detected from the content (and, for
//! ambiguous content, the file name) unless `--digests-format` names it.
//!
//! The readers are strict on purpose: a pin written from a wrong digest breaks
//! a release silently, so an uppercase or truncated digest, a config digest
//! (image ID) offered as a pullable digest, or two different digests for one
//! image are [`InputError`]s naming the file, line and column, never guesses.
//!
//! Layout: `lines` reads the line formats (docker-images table, `name: digest`,
//! `ref@digest`, goreleaser), `tree` turns JSON and YAML into a small tree that
//! keeps byte offsets, and `structured` reads buildx metadata, kbld and imgpkg
//! locks, plain maps and `skopeo inspect` output from that tree.

mod lines;
mod structured;
mod tree;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::diag::InputError;
use crate::reference::{Digest, ImageRef};
use crate::source::SourceFile;

/// How a manifest entry names its image.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EntryName {
    /// A full reference (`ghcr.io/org/app`, `docker.io/library/nginx`); its tag, if
    /// written, is in [`ManifestEntry::tag`] and the ref itself carries no digest.
    Full(ImageRef),
    /// A short image name (`osm-controller`): the chart supplies registry and namespace.
    Short(String),
}

impl EntryName {
    /// The key two entries must share to speak about the same image: the
    /// normalised name for full references (`docker.io/library/nginx`), the
    /// name itself for short names.
    pub fn key(&self) -> String {
        match self {
            EntryName::Full(r) => r.name(),
            EntryName::Short(s) => s.clone(),
        }
    }
}

impl fmt::Display for EntryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryName::Full(r) => f.write_str(r.as_str()),
            EntryName::Short(s) => f.write_str(s),
        }
    }
}

/// Where an entry came from, for messages: file and 1-based line/column (0 when unknown).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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

impl ManifestEntry {
    /// `name[:tag]@digest`, as the entry would be written in a ref-lines manifest.
    pub fn display_ref(&self) -> String {
        match &self.tag {
            Some(t) => format!("{}:{t}@{}", self.name, self.digest),
            None => format!("{}@{}", self.name, self.digest),
        }
    }
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
    /// `skopeo inspect` JSON (`Name`, `Digest`), one object or a list of them.
    SkopeoInspect,
}

impl ManifestFormat {
    /// Every format, in the order `--digests-format` documents them.
    pub const ALL: &'static [ManifestFormat] = &[
        ManifestFormat::DockerImages,
        ManifestFormat::NameDigestLines,
        ManifestFormat::RefLines,
        ManifestFormat::Goreleaser,
        ManifestFormat::BuildxMetadata,
        ManifestFormat::KbldLock,
        ManifestFormat::ImgpkgLock,
        ManifestFormat::Map,
        ManifestFormat::SkopeoInspect,
    ];

    /// The `--digests-format` name (`docker-images`, `name-digest`, …).
    pub fn name(self) -> &'static str {
        match self {
            ManifestFormat::DockerImages => "docker-images",
            ManifestFormat::NameDigestLines => "name-digest",
            ManifestFormat::RefLines => "ref-lines",
            ManifestFormat::Goreleaser => "goreleaser",
            ManifestFormat::BuildxMetadata => "buildx",
            ManifestFormat::KbldLock => "kbld",
            ManifestFormat::ImgpkgLock => "imgpkg",
            ManifestFormat::Map => "map",
            ManifestFormat::SkopeoInspect => "skopeo",
        }
    }

    /// The format a `--digests-format` name stands for.
    pub fn from_name(name: &str) -> Option<ManifestFormat> {
        Self::ALL.iter().copied().find(|f| f.name() == name)
    }

    /// The accepted names joined by `, `, for help and error texts.
    pub fn names() -> String {
        Self::ALL
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for ManifestFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ManifestFormat {
    type Err = String;
    /// Parse a `--digests-format` name; the error lists the accepted names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s).ok_or_else(|| {
            format!(
                "unknown digest manifest format `{s}` (expected one of: {})",
                Self::names()
            )
        })
    }
}

/// All entries read from one or more manifest files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DigestManifest {
    pub entries: Vec<ManifestEntry>,
}

impl DigestManifest {
    /// The entry for a chart's image reference, matched on the normalised name.
    ///
    /// When `image` has a tag, an entry with the same tag wins, then an entry
    /// without a tag. When `image` has no tag, an untagged entry wins, then any
    /// entries for the name provided they all carry one digest. Entries with
    /// another tag never match a tagged image: the build did not push that tag.
    pub fn find(&self, image: &ImageRef) -> Option<&ManifestEntry> {
        let key = image.name();
        let same_name = self
            .entries
            .iter()
            .filter(|e| matches!(&e.name, EntryName::Full(r) if r.name() == key));
        pick(same_name, image.tag())
    }

    /// The entry for a short image name (`osm-controller`), with the same tag
    /// rules as [`DigestManifest::find`].
    pub fn find_short(&self, name: &str, tag: Option<&str>) -> Option<&ManifestEntry> {
        let same_name = self
            .entries
            .iter()
            .filter(|e| matches!(&e.name, EntryName::Short(s) if s == name));
        pick(same_name, tag)
    }

    /// Write the manifest as `ref[:tag]@digest` lines (the `ref-lines` format,
    /// what `chartpin resolve`/`verify --output` print). Short names cannot be
    /// written as references: they would read back as Docker Hub names.
    pub fn to_ref_lines(&self) -> Result<String, String> {
        let mut out = String::new();
        for e in &self.entries {
            if let EntryName::Short(s) = &e.name {
                return Err(format!(
                    "entry `{s}` ({}) has a short name; ref lines need full references",
                    e.origin
                ));
            }
            out.push_str(&e.display_ref());
            out.push('\n');
        }
        Ok(out)
    }
}

fn pick<'a>(
    candidates: impl Iterator<Item = &'a ManifestEntry>,
    tag: Option<&str>,
) -> Option<&'a ManifestEntry> {
    let candidates: Vec<_> = candidates.collect();
    if let Some(t) = tag {
        return candidates
            .iter()
            .find(|e| e.tag.as_deref() == Some(t))
            .or_else(|| candidates.iter().find(|e| e.tag.is_none()))
            .copied();
    }
    if let Some(e) = candidates.iter().find(|e| e.tag.is_none()) {
        return Some(e);
    }
    let first = candidates.first()?;
    candidates
        .iter()
        .all(|e| e.digest == first.digest)
        .then_some(*first)
}

/// Read one manifest file's text, detecting its format unless `format` is given.
pub fn parse_manifest(
    path: &Path,
    text: &str,
    format: Option<ManifestFormat>,
) -> Result<DigestManifest, InputError> {
    let source = SourceFile::new(path, text);
    let format = match format {
        Some(f) => f,
        None => detect(&source)?,
    };
    let entries = match format {
        ManifestFormat::DockerImages => lines::docker_images(&source)?,
        ManifestFormat::NameDigestLines => lines::name_digest(&source)?,
        ManifestFormat::RefLines => lines::ref_lines(&source)?,
        ManifestFormat::Goreleaser => lines::goreleaser(&source)?,
        ManifestFormat::BuildxMetadata => structured::buildx(&source)?,
        ManifestFormat::KbldLock => structured::kbld(&source)?,
        ManifestFormat::ImgpkgLock => structured::imgpkg(&source)?,
        ManifestFormat::Map => structured::map(&source)?,
        ManifestFormat::SkopeoInspect => structured::skopeo(&source)?,
    };
    if entries.is_empty() {
        return Err(InputError::file(
            path,
            format!("the {format} digest manifest has no entries"),
        ));
    }
    let mut manifest = DigestManifest::default();
    merge_into(&mut manifest, entries, Some(&source))?;
    Ok(manifest)
}

/// Read and merge several manifest files. Two entries for one image with
/// different digests are an error naming both origins.
///
/// OSM's pipeline leaves `osm_image_digest_latest.txt` beside
/// `osm_image_digest_<tag>.txt`; the release tag's file is the one to use.
/// Given both, their `latest` and release-tag rows for one image must agree,
/// else the error says to pass only the release tag's file.
pub fn read_manifests(
    paths: &[PathBuf],
    format: Option<ManifestFormat>,
) -> Result<DigestManifest, InputError> {
    let mut manifest = DigestManifest::default();
    for path in paths {
        let source = crate::diag::read_source(path)?;
        let one = parse_manifest(path, &source.text, format)?;
        merge_into(&mut manifest, one.entries, Some(&source))?;
    }
    Ok(manifest)
}

/// Add `entries` to `manifest`: identical duplicates collapse into the first,
/// contradicting ones are an error at the later entry naming the earlier.
///
/// Two entries contradict when they name the same image with different
/// digests and their tags could mean the same pull: equal tags, either tag
/// missing, or either tag `latest`. Two different release tags of one image
/// (`app:v1` and `app:v1-debug`) may carry different digests.
fn merge_into(
    manifest: &mut DigestManifest,
    entries: Vec<ManifestEntry>,
    source: Option<&SourceFile>,
) -> Result<(), InputError> {
    let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, e) in manifest.entries.iter().enumerate() {
        by_key.entry(e.name.key()).or_default().push(i);
    }
    for entry in entries {
        let key = entry.name.key();
        let seen = by_key.entry(key).or_default();
        let mut duplicate = false;
        for &i in seen.iter() {
            let other = &manifest.entries[i];
            if !std::mem::discriminant(&other.name).eq(&std::mem::discriminant(&entry.name)) {
                continue;
            }
            let same_tag = other.tag == entry.tag;
            if same_tag && other.digest == entry.digest {
                duplicate = true;
                break;
            }
            let overlap = same_tag
                || other.tag.is_none()
                || entry.tag.is_none()
                || other.tag.as_deref() == Some("latest")
                || entry.tag.as_deref() == Some("latest");
            if overlap && other.digest != entry.digest {
                return Err(conflict(other, &entry, source));
            }
        }
        if !duplicate {
            seen.push(manifest.entries.len());
            manifest.entries.push(entry);
        }
    }
    Ok(())
}

fn conflict(
    first: &ManifestEntry,
    second: &ManifestEntry,
    source: Option<&SourceFile>,
) -> InputError {
    let mut message = format!(
        "`{}` has two different digests: {} here and {} at {}",
        second.name, second.digest, first.digest, first.origin
    );
    if let (Some(a), Some(b)) = (&first.tag, &second.tag) {
        message = format!(
            "`{}` has two different digests: {} (tag `{b}`) here and {} (tag `{a}`) at {}",
            second.name, second.digest, first.digest, first.origin
        );
    }
    if first.tag.as_deref() == Some("latest") || second.tag.as_deref() == Some("latest") {
        message.push_str(
            "; a `latest` manifest and a release tag's manifest disagree: pass only the release \
             tag's file (e.g. osm_image_digest_<tag>.txt, not osm_image_digest_latest.txt)",
        );
    }
    let source_line = source
        .filter(|s| s.path == second.origin.file && second.origin.line > 0)
        .map(|s| s.line_text(second.origin.line).to_string());
    InputError {
        file: second.origin.file.clone(),
        line: second.origin.line,
        column: second.origin.column,
        message,
        source_line,
    }
}

/// Work out a file's format from its content; the file name breaks ties.
fn detect(source: &SourceFile) -> Result<ManifestFormat, InputError> {
    let text = source.text.trim_start_matches('\u{feff}');
    let first = text.trim_start();
    if first.starts_with('{') || first.starts_with('[') {
        return Ok(structured::detect_json(source));
    }
    let file_name = source
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(f) = lines::detect(text, &file_name) {
        return Ok(f);
    }
    if !lines::has_content(text) {
        return Err(InputError::file(
            &source.path,
            "the digest manifest is empty: it has no entries",
        ));
    }
    structured::detect_yaml(source).ok_or_else(|| {
        InputError::file(
            &source.path,
            format!(
                "cannot tell which digest manifest format this is; pass --digests-format with one of: {}",
                ManifestFormat::names()
            ),
        )
    })
}

/// Split a written entry name into name and tag: a name with a `/` is a full
/// reference, one without is a short name (`osm-controller`, `init:v1`).
pub(crate) fn parse_entry_name(text: &str) -> Result<(EntryName, Option<String>), String> {
    let r = ImageRef::parse(text).map_err(|e| format!("`{text}` is not an image name: {e}"))?;
    if r.digest().is_some() {
        return Err(format!(
            "`{text}` carries a digest where an image name is expected"
        ));
    }
    let tag = r.tag().map(str::to_string);
    let name = if text.contains('/') {
        split_pinned(&r)?.0
    } else {
        EntryName::Short(r.written_name())
    };
    Ok((name, tag))
}

/// Split `ref[:tag][@digest]` into a digest-free full name and its tag.
pub(crate) fn split_pinned(r: &ImageRef) -> Result<(EntryName, Option<String>), String> {
    let name = ImageRef::parse(&r.written_name())
        .map_err(|e| format!("`{}` is not an image name: {e}", r.as_str()))?;
    Ok((EntryName::Full(name), r.tag().map(str::to_string)))
}

/// The origin of byte `offset` in `source`.
pub(crate) fn origin_at(source: &SourceFile, offset: usize) -> Origin {
    let lc = source.line_col(offset);
    Origin {
        file: source.path.clone(),
        line: lc.line,
        column: lc.column,
    }
}

#[cfg(test)]
mod tests;
