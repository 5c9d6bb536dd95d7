//! `--signature`: is the pinned digest signed, by whom the policy allows?
//!
//! cosign stores a signature of `repo@sha256:<hex>` in two places, and both
//! are read: the tag `sha256-<hex>.sig` (an image manifest whose layers are
//! simple-signing payloads, each with its base64 signature, and for keyless
//! signatures its certificate, chain and Rekor bundle, in annotations), and
//! OCI 1.1 referrers (`GET /v2/<name>/referrers/<digest>`, falling back to
//! the referrers tag schema `sha256-<hex>` when the API answers 404), whose
//! cosign signature artifacts have the same layers. The tag scheme is read
//! first; the referrers only when it gives no verified signature. A payload
//! in cosign's usual form is rebuilt rather than fetched (see `layers`),
//! so an image signed the usual way costs one request more than plain
//! `verify`: the signature manifest.
//!
//! Each candidate signature gets a [`Verdict`]: `Verified` (valid and
//! allowed), `Untrusted` (valid, but by a certificate or identity the policy
//! does not allow) or `Invalid` (it does not prove this digest: a bad
//! signature, a payload naming another digest or repository, a broken
//! certificate or log entry). The best verdict of all candidates is the
//! image's; none at all is `signature-missing`. A signature made with
//! another key cannot be told from an altered one (ECDSA and Ed25519
//! signatures do not name their key), so both are `Invalid`.
//!
//! A registry that answers the referrers API, or a signature tag, with
//! something that is not a manifest is an unusable answer
//! (`registry-unreachable`, exit 3), never "unsigned" and never "signed".

pub mod der;
pub mod keyless;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;

use crate::diag::InputError;
use crate::reference::{Digest, ImageRef};
use crate::registry::{RegistryClient, RegistryError, digest_of};
pub use der::PublicKey;
pub use keyless::TrustedRoot;

/// The media type of a cosign simple-signing payload layer.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The artifact type of a cosign signature stored as an OCI 1.1 referrer.
pub const COSIGN_ARTIFACT: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
/// Layer annotations cosign writes.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// The `critical.type` of a cosign image signature payload.
pub const PAYLOAD_TYPE: &str = "cosign container image signature";

/// Most referrers, and most layers of one signature manifest, looked at.
const MAX_REFERRERS: usize = 64;
const MAX_LAYERS: usize = 16;

/// What one signature proves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Valid and allowed: by whom, as a message says it.
    Verified(String),
    /// Valid, but not by a key or identity the policy allows: why.
    Untrusted(String),
    /// It does not prove this digest: why.
    Invalid(String),
}

/// An identity a keyless signature's certificate must name.
#[derive(Clone, Debug)]
pub enum Identity {
    Exact(String),
    /// `--certificate-identity-regexp`: the whole name must match.
    Regexp(String, regex::Regex),
}

impl PartialEq for Identity {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Identity::Exact(a), Identity::Exact(b)) => a == b,
            (Identity::Regexp(a, _), Identity::Regexp(b, _)) => a == b,
            _ => false,
        }
    }
}
impl Eq for Identity {}

impl Identity {
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Identity::Exact(s) => s == name,
            Identity::Regexp(_, re) => re.is_match(name),
        }
    }

    /// The pattern anchored, so that it must match a whole name.
    pub fn regexp(pattern: &str) -> Result<Identity, regex::Error> {
        regex::Regex::new(&format!("^(?:{pattern})$"))
            .map(|re| Identity::Regexp(pattern.to_string(), re))
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Exact(s) => write!(f, "`{s}`"),
            Identity::Regexp(p, _) => write!(f, "an identity matching `{p}`"),
        }
    }
}

/// Whose signatures count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trust {
    /// `--key FILE`; with `--trusted-root`, a signature must carry a Rekor
    /// bundle whose entry that root's log signed ([`key_logged`]).
    Key {
        file: PathBuf,
        key: PublicKey,
        root: Option<TrustedRoot>,
    },
    /// `--certificate-identity[-regexp]`, `--certificate-oidc-issuer`, `--trusted-root`.
    Keyless {
        identity: Identity,
        issuer: String,
        root: TrustedRoot,
    },
}

/// The signature policy of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignaturePolicy {
    pub trust: Trust,
    /// `--recursive`: an index's platform images must be signed too.
    pub recursive: bool,
}

/// The settings a policy is built from, as the `--signature` flags or a
/// `.chartpin.yaml` `signature:` give them.
#[derive(Clone, Copy, Debug, Default)]
pub struct PolicySettings<'a> {
    pub key: Option<&'a Path>,
    pub certificate_identity: Option<&'a str>,
    pub certificate_identity_regexp: Option<&'a str>,
    pub certificate_oidc_issuer: Option<&'a str>,
    pub trusted_root: Option<&'a Path>,
    pub recursive: bool,
}

/// Why settings make no policy; each caller words it in its own terms
/// (the flag, or the config key).
#[derive(Debug)]
pub enum PolicyError {
    /// Neither a key nor an identity.
    NoIdentity,
    /// Keyless without the issuer.
    NoIssuer,
    /// Keyless without the trusted root.
    NoTrustedRoot,
    /// The identity regexp does not compile: the pattern and why.
    BadRegexp(String, regex::Error),
    /// The key or trusted root file is unreadable or malformed.
    Input(InputError),
}

impl From<InputError> for PolicyError {
    fn from(e: InputError) -> Self {
        PolicyError::Input(e)
    }
}

impl SignaturePolicy {
    /// The policy `s` describes: a key, else a keyless identity (exact,
    /// else the regexp) with its issuer and trusted root.
    pub fn build(s: PolicySettings<'_>) -> Result<SignaturePolicy, PolicyError> {
        let trust = if let Some(file) = s.key {
            Trust::Key {
                file: file.to_path_buf(),
                key: Self::load_key(file)?,
                root: s.trusted_root.map(TrustedRoot::load).transpose()?,
            }
        } else {
            let identity = match (s.certificate_identity, s.certificate_identity_regexp) {
                (Some(i), _) => Identity::Exact(i.to_string()),
                (None, Some(re)) => {
                    Identity::regexp(re).map_err(|e| PolicyError::BadRegexp(re.to_string(), e))?
                }
                (None, None) => return Err(PolicyError::NoIdentity),
            };
            Trust::Keyless {
                identity,
                issuer: s
                    .certificate_oidc_issuer
                    .ok_or(PolicyError::NoIssuer)?
                    .to_string(),
                root: TrustedRoot::load_keyless(s.trusted_root.ok_or(PolicyError::NoTrustedRoot)?)?,
            }
        };
        Ok(SignaturePolicy {
            trust,
            recursive: s.recursive,
        })
    }

    /// The policy a `.chartpin.yaml` `signature:` names (read from `config_file`).
    pub fn from_config(
        c: &crate::config::SignatureConfig,
        config_file: &Path,
    ) -> Result<SignaturePolicy, InputError> {
        Self::build(PolicySettings {
            key: c.key.as_deref(),
            certificate_identity: c.certificate_identity.as_deref(),
            certificate_identity_regexp: c.certificate_identity_regexp.as_deref(),
            certificate_oidc_issuer: c.certificate_oidc_issuer.as_deref(),
            trusted_root: c.trusted_root.as_deref(),
            recursive: c.recursive,
        })
        .map_err(|e| {
            let why = match e {
                PolicyError::Input(e) => return e,
                PolicyError::BadRegexp(re, e) => format!(
                    "`signature.certificateIdentityRegexp`: `{re}` is not a valid regular expression: {e}"
                ),
                PolicyError::NoIdentity => {
                    "`signature` needs `key`, or `certificateIdentity` (or `certificateIdentityRegexp`)".into()
                }
                PolicyError::NoIssuer => {
                    "keyless `signature` needs `certificateOidcIssuer`".into()
                }
                PolicyError::NoTrustedRoot => "keyless `signature` needs `trustedRoot`".into(),
            };
            InputError::file(config_file, why)
        })
    }

    /// Read a PEM public key file; a problem names the file and what is wrong.
    pub fn load_key(file: &Path) -> Result<PublicKey, InputError> {
        let source = crate::diag::read_source(file)?;
        parse_key(file, &source.text)
    }
}

/// A PEM `PUBLIC KEY` (SubjectPublicKeyInfo), as `cosign generate-key-pair`
/// writes `cosign.pub`.
pub fn parse_key(file: &Path, text: &str) -> Result<PublicKey, InputError> {
    let bad = |why: String| InputError::file(file, format!("not a public key: {why}"));
    let start = text
        .find("-----BEGIN ")
        .ok_or_else(|| bad("no `-----BEGIN PUBLIC KEY-----` PEM block".into()))?;
    let (label, der) = x509_cert::der::pem::decode_vec(text[start..].trim_end().as_bytes())
        .map_err(|e| bad(format!("the PEM block does not decode ({e})")))?;
    if label != "PUBLIC KEY" {
        return Err(bad(format!(
            "the PEM block is `{label}`, not `PUBLIC KEY` (give the public half, cosign.pub)"
        )));
    }
    PublicKey::from_spki(&der).map_err(|e| bad(format!("the `PUBLIC KEY` block is {e}")))
}

/// The outcome for one digest.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Verified,
    Missing,
    Invalid,
    Untrusted,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Verified => "verified",
            Status::Missing => "missing",
            Status::Invalid => "invalid",
            Status::Untrusted => "untrusted",
        }
    }
}

/// One digest's signature result: the status and what it says (who signed,
/// or why not).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub status: Status,
    pub detail: String,
}

/// A signature found, before it is judged.
struct Candidate {
    /// Where it was found: `tag sha256-….sig` or `referrer sha256:…`.
    place: String,
    payload: Result<Vec<u8>, String>,
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(rename = "artifactType")]
    artifact_type: Option<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct SignatureManifest {
    #[serde(rename = "artifactType")]
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    subject: Option<Descriptor>,
}

#[derive(Deserialize)]
struct ReferrersIndex {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    manifests: Vec<Descriptor>,
}

/// Look `digest`'s signatures up in `image`'s repository and judge them.
pub async fn check(
    client: &RegistryClient,
    image: &ImageRef,
    digest: &Digest,
    policy: &SignaturePolicy,
) -> Result<Outcome, RegistryError> {
    let mut verdicts = Vec::new();
    let tag = format!("{}-{}.sig", digest.algorithm().as_str(), digest.hex());
    for c in from_tag(client, image, digest, &tag).await? {
        verdicts.push(judge(&c, image, digest, policy));
    }
    if !verdicts.iter().any(|v| matches!(v.1, Verdict::Verified(_))) {
        let (candidates, unsupported) = from_referrers(client, image, digest).await?;
        for c in candidates {
            verdicts.push(judge(&c, image, digest, policy));
        }
        if verdicts.is_empty() && unsupported > 0 {
            return Ok(Outcome {
                status: Status::Missing,
                detail: format!(
                    "no cosign signature of {digest} (it has {unsupported} Sigstore bundle referrer(s), a format chartpin does not verify yet)"
                ),
            });
        }
    }
    Ok(best(verdicts, digest))
}

fn best(verdicts: Vec<(String, Verdict)>, digest: &Digest) -> Outcome {
    let rank = |v: &Verdict| match v {
        Verdict::Verified(_) => 0,
        Verdict::Untrusted(_) => 1,
        Verdict::Invalid(_) => 2,
    };
    let Some((place, v)) = verdicts.into_iter().min_by_key(|(_, v)| rank(v)) else {
        return Outcome {
            status: Status::Missing,
            detail: format!(
                "no signature of {digest} (looked for the tag {}-{}.sig and OCI referrers)",
                digest.algorithm().as_str(),
                digest.hex()
            ),
        };
    };
    match v {
        Verdict::Verified(by) => Outcome {
            status: Status::Verified,
            detail: format!("signed by {by} ({place})"),
        },
        Verdict::Untrusted(why) => Outcome {
            status: Status::Untrusted,
            detail: format!("the signature in {place} is valid, but {why}"),
        },
        Verdict::Invalid(why) => Outcome {
            status: Status::Invalid,
            detail: format!("the signature in {place} does not verify: {why}"),
        },
    }
}

/// The simple-signing layers of the manifest at `tag`, none when it is absent.
async fn from_tag(
    client: &RegistryClient,
    image: &ImageRef,
    digest: &Digest,
    tag: &str,
) -> Result<Vec<Candidate>, RegistryError> {
    let Some(body) = client.get_manifest(image, tag).await? else {
        return Ok(Vec::new());
    };
    let manifest: SignatureManifest = serde_json::from_slice(&body.bytes).map_err(|_| {
        client.garbage(
            image,
            format!("the signature tag {tag} holds something that is not an OCI image manifest"),
        )
    })?;
    layers(client, image, digest, &manifest, &format!("tag {tag}")).await
}

/// The simple-signing layers of one signature manifest, with their payloads.
///
/// A payload whose bytes are known without asking is not fetched: cosign
/// writes the payload for `repo@digest` in one deterministic form
/// ([`expected_payloads`]), so when one of those forms hashes to the
/// layer's digest it is, byte for byte, the blob the registry would serve
/// (the descriptor names it by its hash), and the signature is verified
/// over it just the same. Any other payload (annotations in `optional`, a
/// claimed identity, another signer's spacing) is fetched.
async fn layers(
    client: &RegistryClient,
    image: &ImageRef,
    digest: &Digest,
    manifest: &SignatureManifest,
    place: &str,
) -> Result<Vec<Candidate>, RegistryError> {
    let mut out = Vec::new();
    let mut expected: Option<Vec<Vec<u8>>> = None;
    for layer in manifest
        .layers
        .iter()
        .filter(|l| l.media_type == SIMPLE_SIGNING)
        .take(MAX_LAYERS)
    {
        let payload = match Digest::parse(&layer.digest) {
            Err(_) => Err(format!(
                "its layer digest `{}` is not a digest",
                layer.digest
            )),
            Ok(d) => {
                let known = expected
                    .get_or_insert_with(|| expected_payloads(image, digest))
                    .iter()
                    .find(|p| digest_of(d.algorithm(), p) == d.to_string())
                    .cloned();
                match known {
                    Some(bytes) => Ok(bytes),
                    None => match client.get_blob(image, &d).await? {
                        None => Err(format!("the registry has no payload blob {d}")),
                        Some(bytes) if digest_of(d.algorithm(), &bytes) != d.to_string() => {
                            Err(format!("the payload blob served does not hash to {d}"))
                        }
                        Some(bytes) => Ok(bytes),
                    },
                }
            }
        };
        out.push(Candidate {
            place: place.to_string(),
            payload,
            annotations: layer.annotations.clone(),
        });
    }
    Ok(out)
}

/// Signatures among `digest`'s OCI 1.1 referrers: the API, or the
/// referrers tag schema when it answers 404. Also the number of Sigstore
/// bundle referrers, which are not verified yet.
async fn from_referrers(
    client: &RegistryClient,
    image: &ImageRef,
    digest: &Digest,
) -> Result<(Vec<Candidate>, usize), RegistryError> {
    let fallback = format!("{}-{}", digest.algorithm().as_str(), digest.hex());
    let (bytes, what) = match client.get_referrers(image, digest).await? {
        Some(b) => (b, "the referrers API".to_string()),
        None => match client.get_manifest(image, &fallback).await? {
            Some(b) => (b.bytes, format!("the referrers tag {fallback}")),
            None => return Ok((Vec::new(), 0)),
        },
    };
    let index: ReferrersIndex = serde_json::from_slice(&bytes)
        .ok()
        .filter(|i: &ReferrersIndex| {
            i.schema_version == 2
                && i.media_type
                    .as_deref()
                    .is_none_or(|t| t == "application/vnd.oci.image.index.v1+json")
        })
        .ok_or_else(|| {
            client.garbage(
                image,
                format!(
                    "{what} answered for {digest} with something that is not an OCI image index"
                ),
            )
        })?;
    let mut out = Vec::new();
    let mut unsupported = 0;
    for entry in index.manifests.iter().take(MAX_REFERRERS) {
        let t = entry.artifact_type.as_deref().unwrap_or_default();
        if t.starts_with("application/vnd.dev.sigstore.bundle") {
            unsupported += 1;
            continue;
        }
        if !(t == COSIGN_ARTIFACT || t.is_empty()) {
            continue;
        }
        let place = format!("referrer {}", entry.digest);
        let Ok(d) = Digest::parse(&entry.digest) else {
            return Err(client.garbage(
                image,
                format!("{what} lists `{}`, not a digest", entry.digest),
            ));
        };
        let Some(body) = client.get_manifest(image, &d.to_string()).await? else {
            continue;
        };
        if digest_of(d.algorithm(), &body.bytes) != d.to_string() {
            out.push(Candidate {
                place,
                payload: Err(format!("the manifest served does not hash to {d}")),
                annotations: BTreeMap::new(),
            });
            continue;
        }
        let Ok(manifest) = serde_json::from_slice::<SignatureManifest>(&body.bytes) else {
            continue;
        };
        let is_signature = manifest.artifact_type.as_deref() == Some(COSIGN_ARTIFACT)
            || manifest
                .config
                .as_ref()
                .is_some_and(|c| c.media_type == COSIGN_ARTIFACT)
            || manifest
                .layers
                .iter()
                .any(|l| l.media_type == SIMPLE_SIGNING);
        if !is_signature {
            continue;
        }
        if manifest.subject.as_ref().map(|s| s.digest.as_str()) != Some(digest.to_string().as_str())
        {
            out.push(Candidate {
                place,
                payload: Err(format!(
                    "it is listed as a referrer of {digest} but its subject is another manifest"
                )),
                annotations: BTreeMap::new(),
            });
            continue;
        }
        out.extend(layers(client, image, digest, &manifest, &place).await?);
    }
    Ok((out, unsupported))
}

/// The simple-signing payloads cosign writes for `image` at `digest` when
/// no annotations are given: Go's `encoding/json` of sigstore's
/// `payload.SimpleContainerImage` (fields in declaration order, no spaces,
/// `"optional":null`), with `docker-reference` the repository as
/// go-containerregistry names it (`index.docker.io/library/nginx` on Docker
/// Hub) or as chartpin normalises it (`docker.io/library/nginx`) or as
/// written. Distinct forms only; none of these characters needs escaping,
/// since a repository name is lowercase ASCII, digits, `.`, `_`, `-`, `/`
/// and a `host:port`.
pub fn expected_payloads(image: &ImageRef, digest: &Digest) -> Vec<Vec<u8>> {
    let mut names = Vec::new();
    if image.registry() == crate::reference::DOCKER_HUB {
        names.push(format!("index.docker.io/{}", image.repository()));
    }
    names.push(image.name());
    names.push(image.written_name());
    let mut out: Vec<Vec<u8>> = Vec::new();
    for name in names {
        let p = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"{name}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"{PAYLOAD_TYPE}"}},"optional":null}}"#
        )
        .into_bytes();
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

fn b64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()
}

/// The one PEM certificate in `pem`, as DER.
fn pem_cert(pem: &str) -> Option<Vec<u8>> {
    let start = pem.find("-----BEGIN CERTIFICATE-----")?;
    let rest = &pem[start..];
    let end = rest.find("-----END CERTIFICATE-----")? + "-----END CERTIFICATE-----".len();
    let (label, der) = x509_cert::der::pem::decode_vec(&rest.as_bytes()[..end]).ok()?;
    (label == "CERTIFICATE").then_some(der)
}

/// Judge one candidate under the policy.
fn judge(
    c: &Candidate,
    image: &ImageRef,
    digest: &Digest,
    policy: &SignaturePolicy,
) -> (String, Verdict) {
    let verdict = match &c.payload {
        Ok(p) => judge_layer(p, &c.annotations, image, digest, policy),
        Err(why) => Verdict::Invalid(why.clone()),
    };
    (c.place.clone(), verdict)
}

/// Judge one simple-signing layer (its payload blob and its annotations)
/// as a signature of `image` at `digest`: what every signature found in a
/// registry goes through, and what tests give real cosign vectors to.
pub fn judge_layer(
    payload: &[u8],
    annotations: &BTreeMap<String, String>,
    image: &ImageRef,
    digest: &Digest,
    policy: &SignaturePolicy,
) -> Verdict {
    let Some(sig) = annotations.get(SIGNATURE_ANNOTATION) else {
        return Verdict::Invalid(format!(
            "its layer has no `{SIGNATURE_ANNOTATION}` annotation"
        ));
    };
    let Some(sig) = b64(sig) else {
        return Verdict::Invalid(format!(
            "its `{SIGNATURE_ANNOTATION}` annotation is not base64"
        ));
    };
    let cert = annotations
        .get(CERTIFICATE_ANNOTATION)
        .filter(|s| !s.is_empty());
    let verdict = match &policy.trust {
        Trust::Key { file, key, root } => {
            if key.verifies(payload, &sig) {
                key_logged(file, key, root.as_ref(), payload, &sig, annotations)
            } else if cert
                .and_then(|p| pem_cert(p))
                .is_some_and(|d| cert_key_verifies(&d, payload, &sig))
            {
                Verdict::Untrusted(format!(
                    "it was made with a certificate's key (keyless), not with the key {}",
                    file.display()
                ))
            } else {
                Verdict::Invalid(format!(
                    "the signature does not verify with the key {} (made with another key, or altered)",
                    file.display()
                ))
            }
        }
        Trust::Keyless {
            identity,
            issuer,
            root,
        } => {
            let Some(cert_der) = cert.and_then(|p| pem_cert(p)) else {
                return Verdict::Invalid(format!(
                    "it has no `{CERTIFICATE_ANNOTATION}` certificate (made with a key, not keyless?)"
                ));
            };
            let entry = match bundle_entry(annotations) {
                Ok(e) => e,
                Err(v) => return v,
            };
            keyless::verify(
                &keyless::Material {
                    payload,
                    signature: &sig,
                    cert_der: &cert_der,
                    entry,
                },
                &keyless::Allowed {
                    identity,
                    issuer,
                    root,
                },
            )
        }
    };
    match verdict {
        Verdict::Verified(by) => match check_payload(payload, image, digest) {
            Ok(()) => Verdict::Verified(by),
            Err(why) => Verdict::Invalid(why),
        },
        other => other,
    }
}

/// The log entry of cosign's bundle annotation, when the layer has one; a
/// bundle that does not read is `Invalid`.
fn bundle_entry(
    annotations: &BTreeMap<String, String>,
) -> Result<Option<keyless::LogEntry>, Verdict> {
    annotations
        .get(BUNDLE_ANNOTATION)
        .map(|b| keyless::LogEntry::from_cosign_bundle(b).map_err(Verdict::Invalid))
        .transpose()
}

/// A signature that verifies with the policy's key, judged by its Rekor
/// bundle as cosign does by default: without a trusted root there is no
/// log key to check a bundle with offline, so it is not checked (the CLI
/// says so once); with one, the layer must carry a bundle whose entry
/// that root's log signed for this payload, signature and key.
fn key_logged(
    file: &Path,
    key: &PublicKey,
    root: Option<&TrustedRoot>,
    payload: &[u8],
    sig: &[u8],
    annotations: &BTreeMap<String, String>,
) -> Verdict {
    let by = format!("the key {}", file.display());
    let Some(root) = root else {
        return Verdict::Verified(by);
    };
    let entry = match bundle_entry(annotations) {
        Ok(Some(e)) => e,
        Ok(None) => {
            return Verdict::Untrusted(format!(
                "it carries no transparency log entry (no `{BUNDLE_ANNOTATION}` annotation), and the trusted root {} is given, so one is required",
                root.file.display()
            ));
        }
        Err(v) => return v,
    };
    let logged = keyless::Logged {
        payload,
        signature: sig,
        signer_der: &key.spki,
    };
    match keyless::check_entry(&entry, root, &logged) {
        Ok(()) => Verdict::Verified(format!("{by}, log index {}", entry.log_index)),
        Err(v) => v,
    }
}

fn cert_key_verifies(der: &[u8], payload: &[u8], sig: &[u8]) -> bool {
    keyless::Cert::from_der(der).is_ok_and(|c| c.key().verifies(payload, sig))
}

/// The simple-signing payload must sign this digest in this repository.
pub fn check_payload(payload: &[u8], image: &ImageRef, digest: &Digest) -> Result<(), String> {
    let v: serde_json::Value =
        serde_json::from_slice(payload).map_err(|_| "its payload is not JSON".to_string())?;
    let field = |p: &str| v.pointer(p).and_then(serde_json::Value::as_str);
    match field("/critical/type") {
        Some(PAYLOAD_TYPE) => {}
        other => {
            return Err(format!(
                "its payload's `critical.type` is {}, not `{PAYLOAD_TYPE}`",
                other.map_or("missing".to_string(), |t| format!("`{t}`"))
            ));
        }
    }
    let signed = field("/critical/image/docker-manifest-digest")
        .ok_or("its payload has no `critical.image.docker-manifest-digest`")?;
    if signed != digest.to_string() {
        return Err(format!("its payload signs {signed}, not {digest}"));
    }
    let reference = field("/critical/identity/docker-reference")
        .ok_or("its payload has no `critical.identity.docker-reference`")?;
    let named = ImageRef::parse(reference).map(|r| r.name());
    if named.as_deref() != Ok(image.name().as_str()) {
        return Err(format!(
            "its payload signs the repository `{reference}`, not {}",
            image.name()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(image: &str) -> Vec<String> {
        let image = ImageRef::parse(image).unwrap();
        let digest = image.digest().unwrap().clone();
        expected_payloads(&image, &digest)
            .iter()
            .map(|p| {
                let v: serde_json::Value = serde_json::from_slice(p).unwrap();
                assert_eq!(check_payload(p, &image, &digest), Ok(()));
                v["critical"]["identity"]["docker-reference"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn expected_payloads_name_the_repository_as_cosign_and_chartpin_write_it() {
        let d = format!("sha256:{}", "b".repeat(64));
        assert_eq!(
            names(&format!("nginx@{d}")),
            [
                "index.docker.io/library/nginx",
                "docker.io/library/nginx",
                "nginx"
            ]
        );
        assert_eq!(
            names(&format!("docker.io/mgreau/cosign-test:v1@{d}")),
            [
                "index.docker.io/mgreau/cosign-test",
                "docker.io/mgreau/cosign-test"
            ]
        );
        assert_eq!(
            names(&format!("127.0.0.1:5000/shop/app@{d}")),
            ["127.0.0.1:5000/shop/app"]
        );
        let image = ImageRef::parse(&format!("ghcr.io/o/a@{d}")).unwrap();
        let digest = image.digest().unwrap().clone();
        assert_eq!(
            expected_payloads(&image, &digest),
            [format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"ghcr.io/o/a"}},"image":{{"docker-manifest-digest":"{d}"}},"type":"cosign container image signature"}},"optional":null}}"#
            )
            .into_bytes()]
        );
    }
}
