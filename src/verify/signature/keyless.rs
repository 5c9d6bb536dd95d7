//! Keyless (Fulcio certificate) signatures, verified offline against a
//! Sigstore trusted root file: the JSON `cosign trusted-root create` writes
//! and TUF distributes (`application/vnd.dev.sigstore.trustedroot+json`).
//!
//! What is checked, in order: the signature over the payload with the
//! certificate's key; the transparency log entry's signed entry timestamp
//! (SET) with the key of the log the trusted root names by that log ID,
//! valid at the entry's time; that the entry is this signature's (its body
//! names the payload's SHA-256, this signature and this certificate); that
//! the certificate chains, at the entry's time, to a certificate authority
//! of the trusted root valid then (each link's signature, validity and
//! names); its extended key usage (code signing); then the policy: a
//! subject alternative name equal to (or fully matching) the identity, and
//! the OIDC issuer extension (1.3.6.1.4.1.57264.1.8, else the older .1.1)
//! equal to the issuer. Not checked: inclusion proofs and checkpoints
//! (the SET is Rekor's promise of inclusion), SCTs from the CT log,
//! RFC 3161 timestamps, revocation.
//!
//! The log entry checks ([`check_entry`]) serve `--key` signatures too,
//! when a trusted root is given (see `super::key_logged`).

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use x509_cert::der::{Decode, Encode};

use super::der::{self, PublicKey};
use super::{Identity, Verdict};
use crate::diag::InputError;

/// Seconds since the Unix epoch.
type Unix = i64;

/// When a key or authority may be used: `[start, end)`, no end meaning still valid.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Window {
    start: Unix,
    end: Option<Unix>,
}

impl Window {
    fn contains(&self, t: Unix) -> bool {
        t >= self.start && self.end.is_none_or(|e| t < e)
    }
}

/// A transparency log's key.
#[derive(Clone, Debug, PartialEq, Eq)]
struct LogKey {
    base_url: String,
    /// The log ID: SHA-256 of the key's SubjectPublicKeyInfo.
    key_id: Vec<u8>,
    key: PublicKey,
    valid: Window,
}

/// A certificate, parsed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cert {
    der: Vec<u8>,
    subject: Vec<u8>,
    issuer: Vec<u8>,
    not_before: Unix,
    not_after: Unix,
    key: PublicKey,
}

impl Cert {
    pub fn from_der(der_bytes: &[u8]) -> Result<Cert, String> {
        let cert = x509_cert::Certificate::from_der(der_bytes)
            .map_err(|e| format!("not a DER X.509 certificate ({e})"))?;
        let tbs = cert.tbs_certificate();
        let spki = tbs
            .subject_public_key_info()
            .to_der()
            .map_err(|e| e.to_string())?;
        let validity = tbs.validity();
        Ok(Cert {
            der: der_bytes.to_vec(),
            subject: tbs.subject().to_der().map_err(|e| e.to_string())?,
            issuer: tbs.issuer().to_der().map_err(|e| e.to_string())?,
            not_before: validity.not_before.to_unix_duration().as_secs() as Unix,
            not_after: validity.not_after.to_unix_duration().as_secs() as Unix,
            key: PublicKey::from_spki(&spki).map_err(|e| format!("its key is {e}"))?,
        })
    }

    /// The certificate's public key.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    fn valid_at(&self, t: Unix) -> bool {
        self.not_before <= t && t <= self.not_after
    }

    /// Whether `issuer` signed this certificate (names and signature).
    fn issued_by(&self, issuer: &Cert) -> bool {
        self.issuer == issuer.subject
            && der::cert_parts(&self.der)
                .is_some_and(|p| issuer.key.verifies_with(p.sig_alg, p.tbs, p.signature))
    }
}

/// A Fulcio certificate authority: its chain, issuing certificate first.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Authority {
    uri: String,
    chain: Vec<Cert>,
    valid: Window,
}

/// The trust anchors of keyless verification, read from a trusted root file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedRoot {
    pub file: PathBuf,
    logs: Vec<LogKey>,
    authorities: Vec<Authority>,
}

fn b64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

impl TrustedRoot {
    /// Read `path`; any problem is an input error naming the file and the field.
    pub fn load(path: &Path) -> Result<TrustedRoot, InputError> {
        let text = crate::diag::read_source(path)?;
        Self::parse(path, &text.text)
    }

    /// Read `path` for keyless verification, which chains the signing
    /// certificate to one of the root's certificate authorities; with
    /// `--key` only the transparency logs are needed.
    pub fn load_keyless(path: &Path) -> Result<TrustedRoot, InputError> {
        let root = Self::load(path)?;
        if root.authorities.is_empty() {
            return Err(InputError::file(
                path,
                "not a Sigstore trusted root for keyless verification: `certificateAuthorities` names no certificate authority",
            ));
        }
        Ok(root)
    }

    pub fn parse(path: &Path, text: &str) -> Result<TrustedRoot, InputError> {
        let bad = |field: &str, why: &str| {
            InputError::file(
                path,
                format!("not a Sigstore trusted root: `{field}` {why}"),
            )
        };
        let doc: Value = serde_json::from_str(text).map_err(|e| {
            InputError::file(
                path,
                format!(
                    "not a Sigstore trusted root: not JSON (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            )
        })?;
        match doc.get("mediaType").and_then(Value::as_str) {
            Some(t) if t.starts_with("application/vnd.dev.sigstore.trustedroot") => {}
            Some(_) => {
                return Err(bad(
                    "mediaType",
                    "is not application/vnd.dev.sigstore.trustedroot+json",
                ));
            }
            None => return Err(bad("mediaType", "is missing")),
        }
        let window = |v: Option<&Value>, field: &str| -> Result<Window, InputError> {
            let v = v.ok_or_else(|| bad(field, "is missing"))?;
            let start = v
                .get("start")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(&format!("{field}.start"), "is missing"))?;
            let start = rfc3339(start)
                .ok_or_else(|| bad(&format!("{field}.start"), "is not an RFC 3339 time"))?;
            let end = match v.get("end") {
                None | Some(Value::Null) => None,
                Some(e) => Some(
                    e.as_str()
                        .and_then(rfc3339)
                        .ok_or_else(|| bad(&format!("{field}.end"), "is not an RFC 3339 time"))?,
                ),
            };
            Ok(Window { start, end })
        };
        let list = |key: &str| -> Result<Vec<Value>, InputError> {
            match doc.get(key) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(a)) => Ok(a.clone()),
                Some(_) => Err(bad(key, "is not a list")),
            }
        };
        let mut logs = Vec::new();
        for (i, t) in list("tlogs")?.iter().enumerate() {
            let f = |s: &str| format!("tlogs[{i}].{s}");
            let raw = t
                .pointer("/publicKey/rawBytes")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(&f("publicKey.rawBytes"), "is missing"))?;
            let spki = b64(raw).ok_or_else(|| bad(&f("publicKey.rawBytes"), "is not base64"))?;
            let key = PublicKey::from_spki(&spki)
                .map_err(|e| bad(&f("publicKey.rawBytes"), &format!("is {e}")))?;
            let key_id = match t.pointer("/logId/keyId").and_then(Value::as_str) {
                Some(k) => b64(k).ok_or_else(|| bad(&f("logId.keyId"), "is not base64"))?,
                None => Sha256::digest(&spki).to_vec(),
            };
            logs.push(LogKey {
                base_url: t
                    .get("baseUrl")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                key_id,
                key,
                valid: window(t.pointer("/publicKey/validFor"), &f("publicKey.validFor"))?,
            });
        }
        let mut authorities = Vec::new();
        for (i, ca) in list("certificateAuthorities")?.iter().enumerate() {
            let f = |s: &str| format!("certificateAuthorities[{i}].{s}");
            let certs = ca
                .pointer("/certChain/certificates")
                .and_then(Value::as_array)
                .ok_or_else(|| bad(&f("certChain.certificates"), "is missing"))?;
            if certs.is_empty() {
                return Err(bad(&f("certChain.certificates"), "is empty"));
            }
            let mut chain = Vec::new();
            for (j, c) in certs.iter().enumerate() {
                let field = f(&format!("certChain.certificates[{j}].rawBytes"));
                let raw = c
                    .get("rawBytes")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad(&field, "is missing"))?;
                let der_bytes = b64(raw).ok_or_else(|| bad(&field, "is not base64"))?;
                chain
                    .push(Cert::from_der(&der_bytes).map_err(|e| bad(&field, &format!("is {e}")))?);
            }
            authorities.push(Authority {
                uri: ca
                    .get("uri")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                chain,
                valid: window(ca.get("validFor"), &f("validFor"))?,
            });
        }
        if logs.is_empty() {
            return Err(bad("tlogs", "names no transparency log"));
        }
        Ok(TrustedRoot {
            file: path.to_path_buf(),
            logs,
            authorities,
        })
    }
}

/// `2021-03-07T03:20:29.000Z` (or with an offset) as Unix seconds.
pub fn rfc3339(s: &str) -> Option<Unix> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6
            && (rest.starts_with('+') || rest.starts_with('-'))
            && &rest[3..4] == ":" =>
        {
            let oh: i64 = rest[1..3].parse().ok()?;
            let om: i64 = rest[4..6].parse().ok()?;
            let o = oh * 3600 + om * 60;
            if rest.starts_with('-') { -o } else { o }
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y2, m2) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(days * 86400 + h * 3600 + mi * 60 + se - offset)
}

/// A transparency log entry as a signature carries it: cosign's
/// `dev.sigstore.cosign/bundle` annotation (`SignedEntryTimestamp` and
/// `Payload`) or a Sigstore bundle's `tlogEntries[0]`.
#[derive(Clone, Debug)]
pub struct LogEntry {
    /// Base64 of the canonicalized entry body, as logged.
    pub body: String,
    pub integrated_time: Unix,
    pub log_index: i64,
    pub log_id: Vec<u8>,
    pub set: Vec<u8>,
}

impl LogEntry {
    /// cosign's bundle annotation; the error names the field.
    pub fn from_cosign_bundle(json: &str) -> Result<LogEntry, String> {
        let v: Value =
            serde_json::from_str(json).map_err(|_| "the bundle is not JSON".to_string())?;
        let s = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .ok_or(format!("the bundle has no `{}`", &p[1..].replace('/', ".")))
        };
        let n = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_i64)
                .ok_or(format!("the bundle has no `{}`", &p[1..].replace('/', ".")))
        };
        Ok(LogEntry {
            body: s("/Payload/body")?.to_string(),
            integrated_time: n("/Payload/integratedTime")?,
            log_index: n("/Payload/logIndex")?,
            log_id: hex::decode(s("/Payload/logID")?)
                .map_err(|_| "the bundle's `Payload.logID` is not hex".to_string())?,
            set: b64(s("/SignedEntryTimestamp")?)
                .ok_or("the bundle's `SignedEntryTimestamp` is not base64")?,
        })
    }

    /// The entry's `tlogEntries[i]` object of a Sigstore bundle.
    pub fn from_bundle_entry(v: &Value) -> Result<LogEntry, String> {
        let s = |p: &str| {
            v.pointer(p).and_then(Value::as_str).ok_or(format!(
                "`tlogEntries[0].{}` is missing",
                &p[1..].replace('/', ".")
            ))
        };
        // protobuf JSON writes int64 as strings.
        let int = |p: &str| -> Result<i64, String> {
            match v.pointer(p) {
                Some(Value::String(t)) => t
                    .parse()
                    .map_err(|_| format!("`tlogEntries[0].{}` is not an integer", &p[1..])),
                Some(Value::Number(n)) => n
                    .as_i64()
                    .ok_or(format!("`tlogEntries[0].{}` is not an integer", &p[1..])),
                _ => Err(format!("`tlogEntries[0].{}` is missing", &p[1..])),
            }
        };
        Ok(LogEntry {
            body: s("/canonicalizedBody")?.to_string(),
            integrated_time: int("/integratedTime")?,
            log_index: int("/logIndex")?,
            log_id: b64(s("/logId/keyId")?).ok_or("`tlogEntries[0].logId.keyId` is not base64")?,
            set: b64(s("/inclusionPromise/signedEntryTimestamp")?)
                .ok_or("`tlogEntries[0].inclusionPromise.signedEntryTimestamp` is not base64")?,
        })
    }

    /// What Rekor signed: the entry as RFC 8785 canonical JSON (keys sorted).
    fn signed_bytes(&self) -> Vec<u8> {
        format!(
            r#"{{"body":{},"integratedTime":{},"logID":"{}","logIndex":{}}}"#,
            serde_json::Value::String(self.body.clone()),
            self.integrated_time,
            hex::encode(&self.log_id),
            self.log_index
        )
        .into_bytes()
    }
}

/// What a keyless signature brings: the payload it signs, its signature,
/// its certificate and its log entry.
pub struct Material<'a> {
    pub payload: &'a [u8],
    pub signature: &'a [u8],
    pub cert_der: &'a [u8],
    pub entry: Option<LogEntry>,
}

/// The policy's side: what identity and issuer are allowed.
pub struct Allowed<'a> {
    pub identity: &'a Identity,
    pub issuer: &'a str,
    pub root: &'a TrustedRoot,
}

/// Code signing (1.3.6.1.5.5.7.3.3).
const CODE_SIGNING: &str = "1.3.6.1.5.5.7.3.3";
/// Fulcio's OIDC issuer extensions: the DER one, and the older raw one.
const ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";
const ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";

/// Verify one keyless signature; see the module comment for the order.
pub fn verify(m: &Material<'_>, allowed: &Allowed<'_>) -> Verdict {
    let cert = match Cert::from_der(m.cert_der) {
        Ok(c) => c,
        Err(e) => return Verdict::Invalid(format!("its certificate is {e}")),
    };
    if !cert.key.verifies(m.payload, m.signature) {
        return Verdict::Invalid("the signature does not verify with its certificate's key".into());
    }
    let Some(entry) = &m.entry else {
        return Verdict::Invalid(
            "it carries no transparency log entry, so its signing time cannot be established offline".into(),
        );
    };
    let root = allowed.root;
    let logged = Logged {
        payload: m.payload,
        signature: m.signature,
        signer_der: m.cert_der,
    };
    if let Err(v) = check_entry(entry, root, &logged) {
        return v;
    }
    let t = entry.integrated_time;
    if !cert.valid_at(t) {
        return Verdict::Invalid(format!(
            "its certificate was not valid when it was logged ({t}, Unix time)"
        ));
    }
    let issued = root.authorities.iter().find(|ca| {
        ca.valid.contains(t)
            && cert.issued_by(&ca.chain[0])
            && ca.chain.iter().all(|c| c.valid_at(t))
            && ca.chain.windows(2).all(|w| w[0].issued_by(&w[1]))
    });
    let Some(ca) = issued else {
        return Verdict::Untrusted(format!(
            "its certificate does not chain to a certificate authority of {} valid when it was logged",
            root.file.display()
        ));
    };
    let facts = match CertFacts::read(m.cert_der) {
        Ok(f) => f,
        Err(e) => return Verdict::Invalid(format!("its certificate {e}")),
    };
    if !facts.code_signing {
        return Verdict::Untrusted("its certificate is not for code signing".into());
    }
    let Some(identity) = facts.sans.iter().find(|s| allowed.identity.matches(s)) else {
        return Verdict::Untrusted(format!(
            "its certificate is for {}, not {}",
            if facts.sans.is_empty() {
                "no identity".to_string()
            } else {
                facts.sans.join(", ")
            },
            allowed.identity
        ));
    };
    match &facts.issuer {
        Some(i) if i == allowed.issuer => {}
        Some(i) => {
            return Verdict::Untrusted(format!(
                "its certificate was issued for an identity from {i}, not {}",
                allowed.issuer
            ));
        }
        None => {
            return Verdict::Untrusted(format!(
                "its certificate names no OIDC issuer (extension {ISSUER_V2} or {ISSUER_V1}); {} is required",
                allowed.issuer
            ));
        }
    }
    Verdict::Verified(format!(
        "{identity} (issuer {}), certificate from {}, log index {}",
        allowed.issuer, ca.uri, entry.log_index
    ))
}

/// What a transparency log entry must vouch for: this payload's hash,
/// this signature, by this signer.
pub struct Logged<'a> {
    pub payload: &'a [u8],
    pub signature: &'a [u8],
    /// The certificate's DER (keyless), or the key's SubjectPublicKeyInfo
    /// (`--key`): what the entry's `publicKey` holds, as PEM.
    pub signer_der: &'a [u8],
}

/// The log entry checks keyless and key signatures share: `root` names the
/// log by the entry's log ID (`Untrusted` otherwise), the signed entry
/// timestamp verifies with that log's key (`Invalid`), the key was valid at
/// the entry's time (`Untrusted`), and the entry's body is this signature's
/// ([`entry_matches`], `Invalid`).
pub fn check_entry(
    entry: &LogEntry,
    root: &TrustedRoot,
    logged: &Logged<'_>,
) -> Result<(), Verdict> {
    let Some(log) = root.logs.iter().find(|l| l.key_id == entry.log_id) else {
        return Err(Verdict::Untrusted(format!(
            "it was logged by a transparency log ({}) that {} does not name",
            hex::encode(&entry.log_id),
            root.file.display()
        )));
    };
    if !log.key.verifies(&entry.signed_bytes(), &entry.set) {
        return Err(Verdict::Invalid(format!(
            "its signed entry timestamp does not verify with the key of {}",
            log.base_url
        )));
    }
    let t = entry.integrated_time;
    if !log.valid.contains(t) {
        return Err(Verdict::Untrusted(format!(
            "it was logged at {t} (Unix time), outside the validity of {}'s key in {}",
            log.base_url,
            root.file.display()
        )));
    }
    entry_matches(entry, logged).map_err(|why| Verdict::Invalid(format!("its log entry {why}")))
}

/// Verify a Sigstore bundle (`application/vnd.dev.sigstore.bundle…`, v0.1
/// to v0.3) whose `messageSignature` signs `artifact`: the same checks as a
/// cosign keyless signature, with the bundle's certificate and first log
/// entry. A DSSE envelope is not verified (an `Invalid` verdict says so).
pub fn verify_bundle(bundle: &str, artifact: &[u8], allowed: &Allowed<'_>) -> Verdict {
    let v: Value = match serde_json::from_str(bundle) {
        Ok(v) => v,
        Err(_) => return Verdict::Invalid("the bundle is not JSON".into()),
    };
    match v.get("mediaType").and_then(Value::as_str) {
        Some(t) if t.starts_with("application/vnd.dev.sigstore.bundle") => {}
        _ => return Verdict::Invalid("the bundle's `mediaType` is not a Sigstore bundle's".into()),
    }
    let cert = v
        .pointer("/verificationMaterial/certificate/rawBytes")
        .or_else(|| v.pointer("/verificationMaterial/x509CertificateChain/certificates/0/rawBytes"))
        .and_then(Value::as_str)
        .and_then(b64);
    let Some(cert) = cert else {
        return Verdict::Invalid("the bundle has no `verificationMaterial.certificate`".into());
    };
    if v.get("dsseEnvelope").is_some() {
        return Verdict::Invalid(
            "the bundle holds a DSSE envelope, which chartpin does not verify yet".into(),
        );
    }
    let Some(sig) = v
        .pointer("/messageSignature/signature")
        .and_then(Value::as_str)
        .and_then(b64)
    else {
        return Verdict::Invalid("the bundle has no `messageSignature.signature`".into());
    };
    if let Some(d) = v
        .pointer("/messageSignature/messageDigest/digest")
        .and_then(Value::as_str)
        && b64(d).as_deref() != Some(Sha256::digest(artifact).as_slice())
    {
        return Verdict::Invalid(
            "the bundle's `messageSignature.messageDigest` is not the artifact's SHA-256".into(),
        );
    }
    let entry = match v.pointer("/verificationMaterial/tlogEntries/0") {
        None => None,
        Some(e) => match LogEntry::from_bundle_entry(e) {
            Ok(e) => Some(e),
            Err(why) => return Verdict::Invalid(format!("the bundle's {why}")),
        },
    };
    verify(
        &Material {
            payload: artifact,
            signature: &sig,
            cert_der: &cert,
            entry,
        },
        allowed,
    )
}

/// That the log entry's body is this signature's: a `hashedrekord` or
/// `rekord` entry naming the payload's SHA-256, this signature and this
/// signer (certificate or key).
fn entry_matches(entry: &LogEntry, m: &Logged<'_>) -> Result<(), String> {
    let body = b64(&entry.body).ok_or("body is not base64")?;
    let v: Value = serde_json::from_slice(&body).map_err(|_| "body is not JSON")?;
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or_default();
    if !matches!(kind, "hashedrekord" | "rekord") {
        return Err(format!("is a `{kind}` entry, not a hashedrekord or rekord"));
    }
    let hash = v.pointer("/spec/data/hash/value").and_then(Value::as_str);
    if hash != Some(hex::encode(Sha256::digest(m.payload)).as_str()) {
        return Err("names another payload".into());
    }
    let sig = v
        .pointer("/spec/signature/content")
        .and_then(Value::as_str)
        .and_then(b64);
    if sig.as_deref() != Some(m.signature) {
        return Err("names another signature".into());
    }
    let key = v
        .pointer("/spec/signature/publicKey/content")
        .and_then(Value::as_str)
        .and_then(b64)
        .and_then(|pem| {
            x509_cert::der::pem::decode_vec(&pem)
                .ok()
                .map(|(_, der)| der)
        });
    if key.as_deref() != Some(m.signer_der) {
        return Err("names another signer (certificate or key)".into());
    }
    Ok(())
}

/// What the policy reads from a Fulcio certificate.
struct CertFacts {
    sans: Vec<String>,
    issuer: Option<String>,
    code_signing: bool,
}

impl CertFacts {
    fn read(der_bytes: &[u8]) -> Result<CertFacts, String> {
        use x509_cert::ext::pkix::name::GeneralName;
        use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectAltName};
        let cert = x509_cert::Certificate::from_der(der_bytes).map_err(|e| e.to_string())?;
        let mut facts = CertFacts {
            sans: Vec::new(),
            issuer: None,
            code_signing: false,
        };
        let mut v1 = None;
        for ext in cert.tbs_certificate().extensions().into_iter().flatten() {
            let value = ext.extn_value.as_bytes();
            match ext.extn_id.to_string().as_str() {
                "2.5.29.17" => {
                    let san = SubjectAltName::from_der(value)
                        .map_err(|_| "has an unreadable subject alternative name".to_string())?;
                    for name in san.0 {
                        match name {
                            GeneralName::Rfc822Name(s)
                            | GeneralName::UniformResourceIdentifier(s)
                            | GeneralName::DnsName(s) => facts.sans.push(s.to_string()),
                            _ => {}
                        }
                    }
                }
                "2.5.29.37" => {
                    let eku = ExtendedKeyUsage::from_der(value)
                        .map_err(|_| "has an unreadable extended key usage".to_string())?;
                    facts.code_signing = eku.0.iter().any(|o| o.to_string() == CODE_SIGNING);
                }
                ISSUER_V2 => facts.issuer = der::utf8_string(value),
                ISSUER_V1 => v1 = String::from_utf8(value.to_vec()).ok(),
                _ => {}
            }
        }
        if facts.issuer.is_none() {
            facts.issuer = v1;
        }
        Ok(facts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_read_as_unix_seconds() {
        assert_eq!(rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339("2021-03-07T03:20:29.000Z"), Some(1_615_087_229));
        assert_eq!(rfc3339("2021-03-07T04:20:29+01:00"), Some(1_615_087_229));
        for bad in [
            "2021-03-07",
            "2021-13-07T03:20:29Z",
            "2021-03-07T03:20:29",
            "2021-03-07T03:20:29.Z",
        ] {
            assert_eq!(rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_root_without_authorities_serves_a_key_but_not_keyless() {
        let fixture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/cosign/bundle-v3/trusted_root.json"
        );
        let mut doc: Value =
            serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
        doc["certificateAuthorities"] = Value::Array(Vec::new());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs-only.json");
        std::fs::write(&path, doc.to_string()).unwrap();
        let root = TrustedRoot::load(&path).expect("the logs are enough for --key");
        assert_eq!(root.logs.len(), 2);
        let e = TrustedRoot::load_keyless(&path).unwrap_err().to_string();
        assert!(
            e.contains("logs-only.json") && e.contains("names no certificate authority"),
            "{e}"
        );
        assert!(TrustedRoot::load_keyless(Path::new(fixture)).is_ok());
    }

    #[test]
    fn a_malformed_trusted_root_names_its_field() {
        let p = Path::new("root.json");
        let err = |t: &str| TrustedRoot::parse(p, t).unwrap_err().to_string();
        assert!(err("{").contains("not JSON"));
        assert!(err(r#"{"mediaType": "x"}"#).contains("`mediaType`"));
        let e = err(
            r#"{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [{"publicKey": {"rawBytes": "!!"}}]}"#,
        );
        assert!(
            e.contains("root.json") && e.contains("`tlogs[0].publicKey.rawBytes` is not base64"),
            "{e}"
        );
        let e = err(
            r#"{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "certificateAuthorities": [{"certChain": {"certificates": [{"rawBytes": "AAAA"}]}}]}"#,
        );
        assert!(e.contains("`certificateAuthorities[0].certChain.certificates[0].rawBytes` is not a DER X.509 certificate"), "{e}");
    }
}
