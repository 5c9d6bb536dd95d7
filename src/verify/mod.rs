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
//!
//! Manifests are read with oci-client's typed models (`OciImageIndex`,
//! `OciImageManifest`, `Platform`); Docker's v2 manifest list and manifest
//! have the same fields and are read by the same models.

pub mod kind;
pub mod run;
pub mod signature;
pub mod targets;

use std::collections::HashMap;
use std::sync::Arc;

use oci_client::config::{Architecture, Os};
use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE, OciImageIndex, OciImageManifest, OciManifest, Platform as OciPlatform,
    Versioned,
};

use crate::diag::{Code, Finding, Severity};
use crate::reference::{Algorithm, Digest, ImageRef};
use crate::registry::{RegistryClient, RegistryError};
pub use kind::Kind;

/// Where a reference was found: the place in its file (line and column
/// are worked out when reporting) and its YAML path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    pub at: crate::source::Location,
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

pub use crate::reference::{InvalidPlatform, Platform};

/// Whether `p`, as a manifest or config states it, satisfies `wanted`
/// (no variant asked → any variant). Compared as oci-spec's enums, both
/// sides read through the same `From<&str>`, so its aliases (it reads
/// `armbe` as `arm64be`) cannot make a written platform miss itself.
fn satisfies(wanted: &Platform, p: &OciPlatform) -> bool {
    Os::from(wanted.os.as_str()) == p.os
        && Architecture::from(wanted.architecture.as_str()) == p.architecture
        && wanted
            .variant
            .as_deref()
            .is_none_or(|v| Some(v) == p.variant.as_deref())
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
    /// `--require-index`: a single platform's manifest pinned where its tag
    /// points to an index is an error, not a warning.
    pub require_index: bool,
    /// `release --hermetic`: never ask a registry where a tag points; only
    /// the pinned digests are looked up (so no `platform-manifest` check).
    pub hermetic: bool,
    /// `release --lock`: read each single image's config too, so that its
    /// [`Proof`] names its platform.
    pub describe: bool,
    /// `--signature`: every pinned digest (with `recursive`, every platform
    /// image of an index too) must carry a signature the policy allows.
    pub signature: Option<Arc<signature::SignaturePolicy>>,
}

impl VerifyOptions {
    /// Add what a chart's `.chartpin.yaml` requires (`requirePlatforms`,
    /// `requireIndex`) to these options. A run over several charts checks
    /// the union of their requirements.
    pub fn require_from(&mut self, config: &crate::config::Config) {
        for p in &config.require_platforms {
            if !self.platforms.contains(p) {
                self.platforms.push(p.clone());
            }
        }
        self.require_index |= config.require_index;
    }

    /// Take a chart's `.chartpin.yaml` `signature:` policy when no
    /// `--signature` flags gave one. Charts of one run whose configurations
    /// name different policies are an input error (there is no union of
    /// two signers); `from` remembers whose policy was taken.
    pub fn require_signature_from(
        &mut self,
        config: &crate::config::Config,
        from: &mut Option<crate::config::SignatureConfig>,
    ) -> Result<(), crate::diag::InputError> {
        let Some(wanted) = &config.signature else {
            return Ok(());
        };
        match from {
            Some(first) if !first.same_policy(wanted) => Err(crate::diag::InputError::file(
                &config.path,
                format!(
                    "`signature` differs from the one in {}; a run over both needs --signature flags",
                    first.location.file.display()
                ),
            )),
            Some(_) => Ok(()),
            None if self.signature.is_some() => Ok(()),
            None => {
                self.signature = Some(Arc::new(signature::SignaturePolicy::from_config(
                    wanted,
                    &config.path,
                )?));
                *from = Some(wanted.clone());
                Ok(())
            }
        }
    }
}

/// What the registry showed of one pinned digest: its kind and, for an
/// index, each platform's image digest (attestation entries left out); for
/// a single image, its platform when its config was read.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Proof {
    /// `index`, `image`, `attestation`, `signature`, `sbom`, `artifact`.
    pub kind: String,
    /// The manifest's media type as served.
    pub media_type: Option<String>,
    pub platforms: Vec<PlatformDigest>,
    /// With `--signature`: `verified`, `missing`, `invalid` or `untrusted`.
    pub signature: Option<String>,
    /// Who signed it (verified), or why the signature does not count.
    pub signature_detail: Option<String>,
}

/// One platform an image provides and the digest of its manifest.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PlatformDigest {
    /// `os/arch[/variant]`.
    pub platform: String,
    pub digest: String,
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
    /// What each distinct pinned reference the registry answered for is
    /// (`name@digest` → proof).
    pub proofs: HashMap<String, Proof>,
}

impl VerifyOutcome {
    /// Add a further run's findings, counts and proofs to this one's.
    pub fn absorb(&mut self, other: VerifyOutcome) {
        self.findings.extend(other.findings);
        self.checked += other.checked;
        self.verified += other.verified;
        self.unpinned += other.unpinned;
        self.proofs.extend(other.proofs);
    }

    /// The proof of `image`'s digest, when the registry answered for it.
    pub fn proof_of(&self, image: &ImageRef) -> Option<&Proof> {
        let digest = image.digest()?;
        self.proofs.get(&format!("{}@{digest}", image.name()))
    }
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
    let mut proofs = HashMap::new();
    let mut done = 0;
    while let Some(joined) = tasks.join_next().await {
        let (i, (problems, proof)) = joined.unwrap_or_else(|e| {
            // A panicking check must not read as verified.
            (
                usize::MAX,
                (
                    vec![(Code::RegistryUnreachable, format!("internal error: {e}"))],
                    None,
                ),
            )
        });
        if let (Some(proof), Some((_, image))) = (proof, unique.get(i))
            && let Some(d) = image.digest()
        {
            proofs.insert(format!("{}@{d}", image.name()), proof);
        }
        if i == usize::MAX {
            results.iter_mut().for_each(|r| r.extend(problems.clone()));
        } else {
            results[i] = problems;
        }
        done += 1;
        progress(done, total);
    }
    let finding = |code: Code, message: &str| {
        let f = Finding::new(code, message);
        if code == Code::PlatformManifest && options.require_index {
            f.with_severity(Severity::Error)
        } else {
            f
        }
    };
    // A warning (a platform manifest pinned) leaves the digest proven.
    let verified = results
        .iter()
        .filter(|r| {
            r.iter()
                .all(|(c, m)| finding(*c, m).severity != Severity::Error)
        })
        .count();
    let mut findings = Vec::new();
    for t in targets.iter().filter(|t| t.image.is_pinned()) {
        for (code, message) in &results[seen[&key(t)]] {
            findings.push(place(finding(*code, message), t));
        }
    }
    VerifyOutcome {
        findings,
        checked: total,
        verified,
        unpinned,
        proofs,
    }
}

fn place(mut f: Finding, t: &Target) -> Finding {
    f = f.with_image(t.image.as_str());
    if let Some(loc) = &t.location {
        f.location = Some(loc.at.clone());
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

/// All checks for one distinct pinned reference (no problems means proven),
/// and what the registry showed of it.
async fn check(
    client: &RegistryClient,
    image: &ImageRef,
    options: &VerifyOptions,
) -> (Vec<Problem>, Option<Proof>) {
    let mut proof = None;
    match check_inner(client, image, options, &mut proof).await {
        Ok(problems) => (problems, proof),
        Err(e) => (vec![registry_problem(e)], proof),
    }
}

async fn check_inner(
    client: &RegistryClient,
    image: &ImageRef,
    options: &VerifyOptions,
    proof: &mut Option<Proof>,
) -> Result<Vec<Problem>, RegistryError> {
    let digest = image.digest().expect("only pinned references are checked");
    let name = image.name();
    let mut problems = Vec::new();
    // Always the body: existence, the bytes' hash and the kind in one request.
    {
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
        let parsed = match parse_manifest(&body.bytes) {
            Ok(p) => p,
            Err(why) => {
                return Ok(vec![(
                    Code::NotAnImage,
                    format!("{name}: {digest} is not an image: {why}"),
                )]);
            }
        };
        let kind = kind::classify(&parsed);
        *proof = Some(Proof {
            kind: kind.as_str().to_string(),
            media_type: body.media_type.clone(),
            platforms: match &parsed {
                ParsedManifest::Index(index) => index
                    .manifests
                    .iter()
                    .filter(|e| !kind::is_attestation_entry(e))
                    .filter_map(|e| {
                        Some(PlatformDigest {
                            platform: show_platform(e.platform.as_ref()?),
                            digest: e.digest.clone(),
                        })
                    })
                    .collect(),
                ParsedManifest::Image(_) => Vec::new(),
            },
            signature: None,
            signature_detail: None,
        });
        if !kind.is_runnable() {
            return Ok(vec![(
                Code::NotAnImage,
                format!(
                    "{name}: {digest} is {}, not an image a kubelet can run",
                    kind.describe()
                ),
            )]);
        }
        if let Some(policy) = &options.signature {
            let outcome = signature::check(client, image, digest, policy).await?;
            if let Some(p) = proof.as_mut() {
                p.signature = Some(outcome.status.as_str().to_string());
                p.signature_detail = Some(outcome.detail.clone());
            }
            problems.extend(signature_problem(&format!("{name}@{digest}"), &outcome));
            if policy.recursive
                && let ParsedManifest::Index(index) = &parsed
            {
                let children = index
                    .manifests
                    .iter()
                    .filter(|e| !kind::is_attestation_entry(e))
                    .take(MAX_CHILDREN);
                for e in children {
                    let Ok(child) = Digest::parse(&e.digest) else {
                        continue;
                    };
                    let outcome = signature::check(client, image, &child, policy).await?;
                    let platform = e
                        .platform
                        .as_ref()
                        .map_or_else(|| "no platform".to_string(), show_platform);
                    problems.extend(signature_problem(
                        &format!("{name}@{child} ({platform} of the index {digest})"),
                        &outcome,
                    ));
                }
            }
        }
        if kind == Kind::Image
            && !options.hermetic
            && let Some(tag) = image.tag()
            && let Some(problem) = platform_manifest(client, image, tag, digest).await?
        {
            problems.push(problem);
        }
        if options.describe
            && kind == Kind::Image
            && let Ok(Provided::Image(p)) = provided(client, image, &body.bytes).await?
            && let Some(proof) = proof.as_mut()
        {
            proof.platforms.push(PlatformDigest {
                platform: show_platform(&p),
                digest: digest.to_string(),
            });
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

/// Most platform images of one index whose signatures `--recursive` checks.
const MAX_CHILDREN: usize = 64;

/// The finding a signature outcome makes, if any.
fn signature_problem(what: &str, outcome: &signature::Outcome) -> Option<Problem> {
    let code = match outcome.status {
        signature::Status::Verified => return None,
        signature::Status::Missing => Code::SignatureMissing,
        signature::Status::Invalid => Code::SignatureInvalid,
        signature::Status::Untrusted => Code::SignatureUntrusted,
    };
    Some((code, format!("{what}: {}", outcome.detail)))
}

/// `platform-manifest` when `tag` points to an index that lists `digest` as
/// one platform's image: the index was meant.
async fn platform_manifest(
    client: &RegistryClient,
    image: &ImageRef,
    tag: &str,
    digest: &Digest,
) -> Result<Option<Problem>, RegistryError> {
    let Some(head) = client.head_manifest(image, tag).await? else {
        return Ok(None);
    };
    let index_type =
        |t: &str| t == OCI_IMAGE_INDEX_MEDIA_TYPE || t == IMAGE_MANIFEST_LIST_MEDIA_TYPE;
    if head.digest_header.as_deref() == Some(&digest.to_string())
        || head.media_type.as_deref().is_some_and(|t| !index_type(t))
    {
        return Ok(None);
    }
    let Some(body) = client.get_manifest(image, tag).await? else {
        return Ok(None);
    };
    let Ok(ParsedManifest::Index(index)) = parse_manifest(&body.bytes) else {
        return Ok(None);
    };
    let pinned = digest.to_string();
    let Some(entry) = index.manifests.iter().find(|e| e.digest == pinned) else {
        return Ok(None);
    };
    let platform = entry
        .platform
        .as_ref()
        .map(show_platform)
        .unwrap_or_else(|| "one platform's".to_string());
    let index_digest = head
        .digest_header
        .filter(|h| Digest::parse(h).is_ok())
        .unwrap_or_else(|| digest_of(Algorithm::Sha256, &body.bytes));
    Ok(Some((
        Code::PlatformManifest,
        format!(
            "{name}: {digest} is the {platform} manifest of the index {name}:{tag} points to ({index_digest}); pin the index, or clusters on its other platforms cannot pull it",
            name = image.name()
        ),
    )))
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

/// `algorithm:hex` of `bytes` (it lives in the registry layer, which also hashes).
pub use crate::registry::digest_of;

/// A manifest read with oci-client's typed models. Docker's v2 manifest list
/// and v2 manifest have the same fields as the OCI index and image manifest
/// (only their media types differ), so the OCI models read both; the media
/// type in the body picks the model, and a body without one (allowed by OCI)
/// is read as whichever model fits.
enum ParsedManifest {
    Index(OciImageIndex),
    Image(Box<OciImageManifest>),
}

/// Read `bytes` as an index or image manifest, or say why they are neither.
fn parse_manifest(bytes: &[u8]) -> Result<ParsedManifest, String> {
    let versioned: Versioned = serde_json::from_slice(bytes).map_err(|e| {
        if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_err() {
            "the manifest is not valid JSON".to_string()
        } else {
            format!("the manifest is not an OCI or Docker v2 manifest ({e})")
        }
    })?;
    let invalid =
        |what: &str, e: serde_json::Error| format!("the manifest is not a valid {what} ({e})");
    match versioned.media_type.as_deref() {
        Some(OCI_IMAGE_INDEX_MEDIA_TYPE | IMAGE_MANIFEST_LIST_MEDIA_TYPE) => {
            serde_json::from_slice(bytes)
                .map(ParsedManifest::Index)
                .map_err(|e| invalid("image index", e))
        }
        Some(OCI_IMAGE_MEDIA_TYPE | IMAGE_MANIFEST_MEDIA_TYPE) => serde_json::from_slice(bytes)
            .map(|m| ParsedManifest::Image(Box::new(m)))
            .map_err(|e| invalid("image manifest", e)),
        Some(other) => Err(format!(
            "the manifest has media type {other}, neither an image index nor an image manifest"
        )),
        None => match serde_json::from_slice::<OciManifest>(bytes) {
            Ok(OciManifest::ImageIndex(index)) => Ok(ParsedManifest::Index(index)),
            Ok(OciManifest::Image(image)) => Ok(ParsedManifest::Image(Box::new(image))),
            Err(_) => {
                Err("the manifest is neither an image index nor an image manifest".to_string())
            }
        },
    }
}

/// `os/arch[/variant]` as `--platform` writes it.
fn show_platform(p: &OciPlatform) -> String {
    match &p.variant {
        Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
        None => format!("{}/{}", p.os, p.architecture),
    }
}

/// What a manifest provides: an index's platforms (with digests), or one image's platform.
enum Provided {
    Index(Vec<(OciPlatform, String)>),
    Image(OciPlatform),
}

impl Provided {
    /// Every platform provided, for messages: `linux/amd64, linux/arm64/v8`.
    fn list(&self) -> String {
        match self {
            Provided::Index(entries) => entries
                .iter()
                .map(|(p, _)| show_platform(p))
                .collect::<Vec<_>>()
                .join(", "),
            Provided::Image(p) => show_platform(p),
        }
    }
}

async fn provided(
    client: &RegistryClient,
    image: &ImageRef,
    bytes: &[u8],
) -> Result<Result<Provided, String>, RegistryError> {
    let name = image.name();
    let config = match parse_manifest(bytes) {
        Err(why) => return Ok(Err(format!("{name}: {why}"))),
        // Entries without a platform (attestations in some indexes) provide none.
        Ok(ParsedManifest::Index(index)) => {
            return Ok(Ok(Provided::Index(
                index
                    .manifests
                    .into_iter()
                    .filter(|e| !kind::is_attestation_entry(e))
                    .filter_map(|e| e.platform.map(|p| (p, e.digest)))
                    .collect(),
            )));
        }
        Ok(ParsedManifest::Image(manifest)) => manifest.config,
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
    // The image config states its platform in the same fields (`os`,
    // `architecture`, `variant`, `os.version`) as an index entry's platform
    // object, so oci-client's `Platform` reads it; its `ConfigFile` has no
    // `variant` and would lose `arm64/v8`.
    match serde_json::from_slice::<OciPlatform>(&blob) {
        Ok(p) => Ok(Ok(Provided::Image(p))),
        Err(_) => Ok(Err(format!(
            "{name}: the image config does not state its os and architecture"
        ))),
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
    let have: Vec<&OciPlatform> = match &provided {
        Provided::Index(entries) => entries.iter().map(|(p, _)| p).collect(),
        Provided::Image(p) => vec![p],
    };
    let list = provided.list();
    Ok(wanted
        .iter()
        .filter(|w| !have.iter().any(|p| satisfies(w, p)))
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
    let pick = match &provided {
        Provided::Index(entries) => entries
            .iter()
            .find(|(p, _)| satisfies(platform, p))
            .map(|(_, d)| d.clone()),
        Provided::Image(p) => satisfies(platform, p).then(|| digest.to_string()),
    };
    let pick = pick.ok_or_else(|| ResolveError::NoPlatform {
        image: shown.clone(),
        platform: platform.to_string(),
        provided: provided.list(),
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

    /// A platform object as an index entry or image config writes it.
    fn stated(json: &str) -> OciPlatform {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn platforms_parse_and_match() {
        let arm64_v8 = stated(r#"{"os": "linux", "architecture": "arm64", "variant": "v8"}"#);
        let amd64 = stated(r#"{"os": "linux", "architecture": "amd64"}"#);
        let p = Platform::parse("linux/arm64").unwrap();
        assert!(satisfies(&p, &arm64_v8));
        assert!(!satisfies(&p, &amd64));
        let v7 = Platform::parse("linux/arm/v7").unwrap();
        assert!(satisfies(
            &v7,
            &stated(r#"{"os": "linux", "architecture": "arm", "variant": "v7"}"#)
        ));
        assert!(!satisfies(
            &v7,
            &stated(r#"{"os": "linux", "architecture": "arm", "variant": "v6"}"#)
        ));
        assert!(!satisfies(
            &v7,
            &stated(r#"{"os": "linux", "architecture": "arm"}"#)
        ));
        // Names oci-spec does not know, and one it aliases, still match themselves.
        let odd = stated(r#"{"os": "plan10", "architecture": "armbe"}"#);
        assert!(satisfies(&Platform::parse("plan10/armbe").unwrap(), &odd));
        assert_eq!(
            show_platform(&odd),
            "plan10/arm64be",
            "oci-spec's alias, shown as it reads"
        );
        assert_eq!(show_platform(&arm64_v8), "linux/arm64/v8");
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", "linux amd64"] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn index_json(media_type: Option<&str>, entry_type: &str) -> String {
        let mt = media_type
            .map(|m| format!(r#""mediaType": "{m}","#))
            .unwrap_or_default();
        format!(
            r#"{{"schemaVersion": 2, {mt} "manifests": [
                {{"mediaType": "{entry_type}", "digest": "{D1}", "size": 525,
                  "platform": {{"architecture": "amd64", "os": "linux"}}}},
                {{"mediaType": "{entry_type}", "digest": "{D2}", "size": 525,
                  "platform": {{"architecture": "arm64", "os": "linux", "variant": "v8",
                                "features": ["sse4"]}}}}
            ]}}"#
        )
    }

    fn image_json(media_type: Option<&str>, config_type: &str, layer_type: &str) -> String {
        let mt = media_type
            .map(|m| format!(r#""mediaType": "{m}","#))
            .unwrap_or_default();
        format!(
            r#"{{"schemaVersion": 2, {mt}
                "config": {{"mediaType": "{config_type}", "digest": "{D1}", "size": 1469}},
                "layers": [{{"mediaType": "{layer_type}", "digest": "{D2}", "size": 3623807}}]}}"#
        )
    }

    fn index_platforms(bytes: &str) -> Vec<(String, String)> {
        match parse_manifest(bytes.as_bytes()) {
            Ok(ParsedManifest::Index(i)) => i
                .manifests
                .iter()
                .map(|e| {
                    (
                        show_platform(e.platform.as_ref().unwrap()),
                        e.digest.clone(),
                    )
                })
                .collect(),
            Ok(ParsedManifest::Image(_)) => panic!("read as an image manifest: {bytes}"),
            Err(e) => panic!("{e}: {bytes}"),
        }
    }

    #[test]
    fn indexes_and_docker_manifest_lists_read_alike() {
        let expected = vec![
            ("linux/amd64".to_string(), D1.to_string()),
            ("linux/arm64/v8".to_string(), D2.to_string()),
        ];
        for (media_type, entry_type) in [
            (Some(OCI_IMAGE_INDEX_MEDIA_TYPE), OCI_IMAGE_MEDIA_TYPE),
            (
                Some(IMAGE_MANIFEST_LIST_MEDIA_TYPE),
                IMAGE_MANIFEST_MEDIA_TYPE,
            ),
            (None, OCI_IMAGE_MEDIA_TYPE),
        ] {
            assert_eq!(
                index_platforms(&index_json(media_type, entry_type)),
                expected,
                "{media_type:?}"
            );
        }
    }

    #[test]
    fn oci_and_docker_image_manifests_name_their_config() {
        for (media_type, config_type, layer_type) in [
            (
                Some(OCI_IMAGE_MEDIA_TYPE),
                "application/vnd.oci.image.config.v1+json",
                "application/vnd.oci.image.layer.v1.tar+gzip",
            ),
            (
                Some(IMAGE_MANIFEST_MEDIA_TYPE),
                "application/vnd.docker.container.image.v1+json",
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
            ),
            (
                None,
                "application/vnd.oci.image.config.v1+json",
                "application/vnd.oci.image.layer.v1.tar+gzip",
            ),
        ] {
            let bytes = image_json(media_type, config_type, layer_type);
            match parse_manifest(bytes.as_bytes()) {
                Ok(ParsedManifest::Image(m)) => assert_eq!(m.config.digest, D1, "{bytes}"),
                Ok(ParsedManifest::Index(_)) => panic!("read as an index: {bytes}"),
                Err(e) => panic!("{e}: {bytes}"),
            }
        }
    }

    #[test]
    fn what_is_not_an_index_or_image_manifest_says_why() {
        let schema1 = r#"{"schemaVersion": 1, "mediaType": "application/vnd.docker.distribution.manifest.v1+prettyjws",
            "name": "library/busybox", "tag": "1", "architecture": "amd64", "fsLayers": []}"#;
        let cases: &[(&str, &str)] = &[
            ("{not json", "not valid JSON"),
            (r#"{"manifests": []}"#, "not an OCI or Docker v2 manifest"),
            (
                schema1,
                "media type application/vnd.docker.distribution.manifest.v1+prettyjws",
            ),
            (
                &index_json(Some(OCI_IMAGE_INDEX_MEDIA_TYPE), OCI_IMAGE_MEDIA_TYPE)
                    .replace(r#""size": 525,"#, ""),
                "not a valid image index",
            ),
            (
                r#"{"schemaVersion": 2}"#,
                "neither an image index nor an image manifest",
            ),
        ];
        for (bytes, why) in cases {
            match parse_manifest(bytes.as_bytes()) {
                Err(e) => assert!(e.contains(why), "{e:?} should say {why:?}"),
                Ok(_) => panic!("accepted {bytes}"),
            }
        }
    }

    #[test]
    fn an_image_config_states_its_platform() {
        let config = r#"{"architecture": "arm64", "variant": "v8", "os": "linux",
            "created": "2024-01-01T00:00:00Z", "config": {"Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": []}, "history": []}"#;
        let p: OciPlatform = serde_json::from_str(config).unwrap();
        assert_eq!(show_platform(&p), "linux/arm64/v8");
        assert!(satisfies(&Platform::parse("linux/arm64/v8").unwrap(), &p));
    }

    #[test]
    fn digest_of_hex_encodes_the_exact_bytes() {
        assert_eq!(
            digest_of(Algorithm::Sha256, b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
