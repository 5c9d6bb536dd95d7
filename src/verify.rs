//! Verification and resolution of image references against their registries.
//!
//! `verify` proves that each pinned reference resolves: the registry has a
//! manifest with exactly that digest (HEAD with the four manifest types; the
//! `Docker-Content-Digest` it answers must be the pinned one, and when it sends
//! none the manifest is fetched and hashed instead), optionally that the bytes
//! hash to the digest (`content`), that a tag written beside the digest still
//! points to it (`check_tags`), and that expected platforms are present.
//!
//! One rule shapes this module: a reference is reported verified only when a
//! registry answer proved it. Anything short of proof (a lying header, bytes
//! that do not hash, an auth refusal, retries exhausted) is a finding, and the
//! unanswered ones (`auth-failed`, `registry-unreachable`) make the exit 3.
//!
//! Targets come from the caller (digest manifests, image arguments, chart
//! discovery); identical references are checked once and their findings are
//! reported at every place they occur. Nothing here prints.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use sha2::Digest as _;

use crate::diag::{Code, Finding};
use crate::reference::{Algorithm, Digest, ImageRef};
use crate::registry::{RegistryClient, RegistryError};

/// Where a reference was found: file, 1-based line and column (0 when unknown), YAML path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub yaml_path: Option<String>,
}

/// One reference to verify, with where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// A pinned reference (`repo[:tag]@digest`); unpinned ones are not verified.
    pub image: ImageRef,
    pub location: Option<Location>,
}

impl Target {
    pub fn new(image: ImageRef) -> Self {
        Target {
            image,
            location: None,
        }
    }

    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }
}

/// A platform an image must provide: `os/arch[/variant]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// Parse `linux/amd64` or `linux/arm/v7`.
    pub fn parse(s: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &&str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        };
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: None,
            }),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: Some(variant.to_string()),
            }),
            _ => Err(format!(
                "invalid platform `{s}` (expected os/arch or os/arch/variant, e.g. linux/arm64)"
            )),
        }
    }

    /// Whether `(os, arch, variant)` as an image states them satisfies this platform
    /// (no variant asked → any variant).
    fn matches(&self, os: &str, arch: &str, variant: Option<&str>) -> bool {
        self.os == os
            && self.architecture == arch
            && self.variant.as_deref().is_none_or(|v| Some(v) == variant)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// What to check beyond existence.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// GET each manifest and hash its exact bytes.
    pub content: bool,
    /// Check that a tag written beside the digest still points to it.
    pub check_tags: bool,
    /// Platforms every image must provide.
    pub platforms: Vec<Platform>,
}

/// The result of a run: findings (empty when all verified) and counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyOutcome {
    pub findings: Vec<Finding>,
    /// Distinct references checked.
    pub checked: usize,
    /// Distinct references proven.
    pub verified: usize,
    /// Targets skipped because they carry no digest.
    pub unpinned: usize,
}

/// A problem found with one distinct reference.
type Problem = (Code, String);

/// Verify `targets`; `progress(done, total)` is called as distinct references finish.
pub async fn verify(
    client: &RegistryClient,
    targets: &[Target],
    options: &VerifyOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> VerifyOutcome {
    let key = |t: &Target| {
        let mut k = t.image.name();
        if options.check_tags
            && let Some(tag) = t.image.tag()
        {
            k.push(':');
            k.push_str(tag);
        }
        if let Some(d) = t.image.digest() {
            k.push('@');
            k.push_str(&d.to_string());
        }
        k
    };
    let mut unique: Vec<(String, ImageRef)> = Vec::new();
    let mut seen = HashMap::new();
    let mut unpinned = 0;
    for t in targets {
        if !t.image.is_pinned() {
            unpinned += 1;
            continue;
        }
        let k = key(t);
        if !seen.contains_key(&k) {
            seen.insert(k.clone(), unique.len());
            unique.push((k, t.image.clone()));
        }
    }
    let total = unique.len();
    let options = Arc::new(options.clone());
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (_, image)) in unique.iter().enumerate() {
        let (client, image, options) = (client.clone(), image.clone(), options.clone());
        tasks.spawn(async move { (i, check(&client, &image, &options).await) });
    }
    let mut results: Vec<Vec<Problem>> = vec![Vec::new(); total];
    let mut done = 0;
    while let Some(joined) = tasks.join_next().await {
        let (i, problems) = joined.unwrap_or_else(|e| {
            // A panicking check must not read as verified.
            (
                usize::MAX,
                vec![(Code::RegistryUnreachable, format!("internal error: {e}"))],
            )
        });
        if i == usize::MAX {
            results.iter_mut().for_each(|r| r.extend(problems.clone()));
        } else {
            results[i] = problems;
        }
        done += 1;
        progress(done, total);
    }
    let verified = results.iter().filter(|r| r.is_empty()).count();
    let mut findings = Vec::new();
    for t in targets.iter().filter(|t| t.image.is_pinned()) {
        for (code, message) in &results[seen[&key(t)]] {
            findings.push(place(Finding::new(*code, message.clone()), t));
        }
    }
    VerifyOutcome {
        findings,
        checked: total,
        verified,
        unpinned,
    }
}

fn place(mut f: Finding, t: &Target) -> Finding {
    f = f.with_image(t.image.as_str());
    if let Some(loc) = &t.location {
        f.file = Some(loc.file.clone());
        f.line = loc.line;
        f.column = loc.column;
        f.path = loc.yaml_path.clone();
    }
    f
}

fn registry_problem(e: RegistryError) -> Problem {
    match e {
        RegistryError::Auth { .. } => (Code::AuthFailed, e.to_string()),
        _ => (Code::RegistryUnreachable, e.to_string()),
    }
}

/// All checks for one distinct pinned reference; empty means proven.
async fn check(client: &RegistryClient, image: &ImageRef, options: &VerifyOptions) -> Vec<Problem> {
    match check_inner(client, image, options).await {
        Ok(problems) => problems,
        Err(e) => vec![registry_problem(e)],
    }
}

async fn check_inner(
    client: &RegistryClient,
    image: &ImageRef,
    options: &VerifyOptions,
) -> Result<Vec<Problem>, RegistryError> {
    let digest = image.digest().expect("only pinned references are checked");
    let name = image.name();
    let mut problems = Vec::new();
    let mut need_body = options.content || !options.platforms.is_empty();
    if !need_body {
        match client.head_manifest(image, &digest.to_string()).await? {
            None => return Ok(vec![not_found(&name, digest)]),
            Some(head) => match head.digest_header {
                Some(h) if h == digest.to_string() => {}
                Some(h) => {
                    return Ok(vec![(
                        Code::ContentMismatch,
                        format!(
                            "{name}: asked for {digest}, the registry answered Docker-Content-Digest {h}"
                        ),
                    )]);
                }
                // No header: the registry's word is not proof; fetch and hash.
                None => need_body = true,
            },
        }
    }
    if need_body {
        let Some(body) = client.get_manifest(image, &digest.to_string()).await? else {
            return Ok(vec![not_found(&name, digest)]);
        };
        let actual = digest_of(digest.algorithm(), &body.bytes);
        if actual != digest.to_string() {
            return Ok(vec![(
                Code::ContentMismatch,
                format!("{name}: the manifest served for {digest} hashes to {actual}"),
            )]);
        }
        if let Some(h) = &body.digest_header
            && *h != actual
        {
            return Ok(vec![(
                Code::ContentMismatch,
                format!(
                    "{name}: the manifest hashes to {digest} but the registry answered Docker-Content-Digest {h}"
                ),
            )]);
        }
        if !options.platforms.is_empty() {
            problems.extend(check_platforms(client, image, &body.bytes, &options.platforms).await?);
        }
    }
    if options.check_tags
        && let Some(tag) = image.tag()
    {
        match tag_digest(client, image, tag).await? {
            None => problems.push((
                Code::TagDrift,
                format!("{name}:{tag} no longer exists; {digest} is pinned"),
            )),
            Some(now) if now != digest.to_string() => problems.push((
                Code::TagDrift,
                format!("{name}:{tag} now points to {now}, not the pinned {digest}"),
            )),
            Some(_) => {}
        }
    }
    Ok(problems)
}

fn not_found(name: &str, digest: &Digest) -> Problem {
    (
        Code::DigestNotFound,
        format!("{name}: the registry has no manifest {digest}"),
    )
}

/// The digest a tag points to now: the HEAD's header, or the hash of the GET.
async fn tag_digest(
    client: &RegistryClient,
    image: &ImageRef,
    tag: &str,
) -> Result<Option<String>, RegistryError> {
    if let Some(head) = client.head_manifest(image, tag).await? {
        if let Some(h) = head.digest_header.filter(|h| Digest::parse(h).is_ok()) {
            return Ok(Some(h));
        }
    } else {
        return Ok(None);
    }
    Ok(client
        .get_manifest(image, tag)
        .await?
        .map(|b| digest_of(Algorithm::Sha256, &b.bytes)))
}

/// `algorithm:hex` of `bytes`.
pub fn digest_of(algorithm: Algorithm, bytes: &[u8]) -> String {
    match algorithm {
        Algorithm::Sha256 => format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes))),
        Algorithm::Sha512 => format!("sha512:{}", hex::encode(sha2::Sha512::digest(bytes))),
    }
}

#[derive(Deserialize)]
struct ManifestDoc {
    #[serde(default)]
    manifests: Option<Vec<IndexEntry>>,
    #[serde(default)]
    config: Option<Descriptor>,
}

#[derive(Deserialize)]
struct IndexEntry {
    digest: String,
    #[serde(default)]
    platform: Option<PlatformDoc>,
}

#[derive(Deserialize)]
struct Descriptor {
    digest: String,
}

#[derive(Deserialize)]
struct PlatformDoc {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

impl PlatformDoc {
    fn show(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

/// What a manifest provides: an index's platforms (with digests), or one image's platform.
enum Provided {
    Index(Vec<(PlatformDoc, String)>),
    Image(PlatformDoc),
}

async fn provided(
    client: &RegistryClient,
    image: &ImageRef,
    bytes: &[u8],
) -> Result<Result<Provided, String>, RegistryError> {
    let name = image.name();
    let Ok(doc) = serde_json::from_slice::<ManifestDoc>(bytes) else {
        return Ok(Err(format!("{name}: the manifest is not valid JSON")));
    };
    if let Some(entries) = doc.manifests {
        return Ok(Ok(Provided::Index(
            entries
                .into_iter()
                .filter_map(|e| e.platform.map(|p| (p, e.digest)))
                .collect(),
        )));
    }
    let Some(config) = doc.config else {
        return Ok(Err(format!(
            "{name}: the manifest has neither `manifests` nor `config`"
        )));
    };
    let Ok(config_digest) = Digest::parse(&config.digest) else {
        return Ok(Err(format!(
            "{name}: the manifest's config digest is invalid"
        )));
    };
    let Some(blob) = client.get_blob(image, &config_digest).await? else {
        return Ok(Err(format!(
            "{name}: the registry has no config blob {config_digest}"
        )));
    };
    if digest_of(config_digest.algorithm(), &blob) != config_digest.to_string() {
        return Ok(Err(format!(
            "{name}: the config blob does not hash to {config_digest}"
        )));
    }
    match serde_json::from_slice::<PlatformDoc>(&blob) {
        Ok(p) => Ok(Ok(Provided::Image(p))),
        Err(_) => Ok(Err(format!("{name}: the image config is not valid JSON"))),
    }
}

async fn check_platforms(
    client: &RegistryClient,
    image: &ImageRef,
    bytes: &[u8],
    wanted: &[Platform],
) -> Result<Vec<Problem>, RegistryError> {
    let name = image.name();
    let provided = match provided(client, image, bytes).await? {
        Ok(p) => p,
        Err(msg) => return Ok(vec![(Code::ContentMismatch, msg)]),
    };
    let (have, list): (Vec<&PlatformDoc>, String) = match &provided {
        Provided::Index(entries) => (
            entries.iter().map(|(p, _)| p).collect(),
            entries
                .iter()
                .map(|(p, _)| p.show())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Provided::Image(p) => (vec![p], p.show()),
    };
    Ok(wanted
        .iter()
        .filter(|w| {
            !have
                .iter()
                .any(|p| w.matches(&p.os, &p.architecture, p.variant.as_deref()))
        })
        .map(|w| {
            (
                Code::PlatformMissing,
                format!("{name}: no {w} image (it provides {list})"),
            )
        })
        .collect())
}

/// A tag looked up: the reference with its tag and the digest it points to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The reference as written, with the tag looked up (`latest` when none was written).
    pub image: ImageRef,
    pub digest: Digest,
}

impl Resolved {
    /// `ref:tag@sha256:…`, the `RefLines` digest-manifest form.
    pub fn line(&self) -> String {
        self.image.with_digest(&self.digest).as_str().to_string()
    }
}

/// Why a tag could not be resolved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("{0}: tag not found")]
    NotFound(String),
    #[error("{image}: no {platform} image (it provides {provided})")]
    NoPlatform {
        image: String,
        platform: String,
        provided: String,
    },
    #[error("{0}")]
    BadManifest(String),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// Look `image`'s tag up (`latest` when none is written): the index digest,
/// or with `platform` that platform's manifest digest.
pub async fn resolve(
    client: &RegistryClient,
    image: &ImageRef,
    platform: Option<&Platform>,
) -> Result<Resolved, ResolveError> {
    let tag = image.tag().unwrap_or("latest").to_string();
    let tagged = ImageRef::parse(&format!("{}:{tag}", image.written_name()))
        .map_err(|e| ResolveError::BadManifest(e.to_string()))?;
    let shown = format!("{}:{tag}", image.name());
    let digest = tag_digest(client, &tagged, &tag)
        .await?
        .ok_or_else(|| ResolveError::NotFound(shown.clone()))?;
    let digest = Digest::parse(&digest).map_err(|e| ResolveError::BadManifest(e.to_string()))?;
    let Some(platform) = platform else {
        return Ok(Resolved {
            image: tagged,
            digest,
        });
    };
    let body = client
        .get_manifest(&tagged, &digest.to_string())
        .await?
        .ok_or_else(|| ResolveError::NotFound(shown.clone()))?;
    if digest_of(digest.algorithm(), &body.bytes) != digest.to_string() {
        return Err(ResolveError::BadManifest(format!(
            "{shown}: the manifest served does not hash to {digest}"
        )));
    }
    let provided = provided(client, &tagged, &body.bytes)
        .await?
        .map_err(ResolveError::BadManifest)?;
    let (pick, list) = match &provided {
        Provided::Index(entries) => (
            entries
                .iter()
                .find(|(p, _)| platform.matches(&p.os, &p.architecture, p.variant.as_deref()))
                .map(|(_, d)| d.clone()),
            entries
                .iter()
                .map(|(p, _)| p.show())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Provided::Image(p) => (
            platform
                .matches(&p.os, &p.architecture, p.variant.as_deref())
                .then(|| digest.to_string()),
            p.show(),
        ),
    };
    let pick = pick.ok_or_else(|| ResolveError::NoPlatform {
        image: shown.clone(),
        platform: platform.to_string(),
        provided: list,
    })?;
    let digest =
        Digest::parse(&pick).map_err(|e| ResolveError::BadManifest(format!("{shown}: {e}")))?;
    Ok(Resolved {
        image: tagged,
        digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_and_match() {
        let p = Platform::parse("linux/arm64").unwrap();
        assert!(p.matches("linux", "arm64", Some("v8")));
        assert!(!p.matches("linux", "amd64", None));
        let v7 = Platform::parse("linux/arm/v7").unwrap();
        assert!(v7.matches("linux", "arm", Some("v7")));
        assert!(!v7.matches("linux", "arm", Some("v6")));
        assert!(!v7.matches("linux", "arm", None));
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", "linux amd64"] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn digest_of_hex_encodes_the_exact_bytes() {
        assert_eq!(
            digest_of(Algorithm::Sha256, b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
