//! cosign signatures made by an independent implementation
//! (`cosign_sign.py`, on Python's `cryptography` package) and pushed to the
//! local registry the two ways cosign stores them: the tag
//! `sha256-<hex>.sig`, and an OCI 1.1 referrer (a manifest with `subject`
//! and the cosign artifact type, listed in the referrers tag schema index
//! `sha256-<hex>`, which is what a registry without the referrers API
//! holds; the referrers API itself is answered by the proxy in tests).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::registry::{OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, Registry};

pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const COSIGN_ARTIFACT: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";

/// A Python 3 with the `cryptography` package, or a panic naming the install script.
pub fn python() -> PathBuf {
    let mut candidates = vec![super::tool("python3")];
    candidates.push(PathBuf::from("/usr/bin/python3"));
    for p in candidates {
        let ok = Command::new(&p)
            .args(["-c", "import cryptography"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return p;
        }
    }
    panic!(
        "no python3 with the `cryptography` package; run scripts/install-deps (it installs python3-cryptography)"
    )
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/cosign_sign.py")
}

/// One simple-signing layer: the payload and the layer's annotations.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Signed {
    pub payload: String,
    pub signature: String,
    pub certificate: Option<String>,
    pub bundle: Option<String>,
}

/// What to sign: `reference` (host/repo) at `digest`; `payload_digest`
/// makes the payload name another digest; `optional` is the payload's
/// `optional` object (`cosign sign -a k=v`), `null` when `None`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Job {
    pub reference: String,
    pub digest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional: Option<serde_json::Value>,
}

impl Job {
    pub fn new(reference: &str, digest: &str) -> Job {
        Job {
            reference: reference.to_string(),
            digest: digest.to_string(),
            payload_digest: None,
            optional: None,
        }
    }
}

fn run(args: &[&str], jobs: &[Job]) -> Vec<Signed> {
    let mut child = Command::new(python())
        .arg(script())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run cosign_sign.py");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&serde_json::to_vec(jobs).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "cosign_sign.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cosign_sign.py output")
}

/// A key pair made by the Python signer: `kind` is `p256` or `ed25519`.
pub struct KeySigner {
    pub dir: PathBuf,
    pub kind: &'static str,
}

impl KeySigner {
    pub fn new(dir: &Path, kind: &'static str) -> KeySigner {
        let out = Command::new(python())
            .arg(script())
            .args(["key", kind, dir.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        KeySigner {
            dir: dir.to_path_buf(),
            kind,
        }
    }

    /// `cosign.pub`, the public half.
    pub fn public_key(&self) -> PathBuf {
        self.dir.join("cosign.pub")
    }

    pub fn sign(&self, jobs: &[Job]) -> Vec<Signed> {
        run(&["sign", self.dir.to_str().unwrap(), self.kind], jobs)
    }

    /// Signatures with a Rekor bundle each, from the test log in `log_dir`
    /// (made on first use, with `log_dir/trusted_root.json`, as [`keyless`] makes it).
    pub fn sign_logged(&self, log_dir: &Path, jobs: &[Job]) -> Vec<Signed> {
        run(
            &[
                "sign",
                self.dir.to_str().unwrap(),
                self.kind,
                log_dir.to_str().unwrap(),
            ],
            jobs,
        )
    }
}

/// A keyless signer: a test CA and log (made on first use in `dir`,
/// `dir/trusted_root.json`), certificates for `identity` from `issuer`.
pub fn keyless(dir: &Path, identity: &str, issuer: &str, jobs: &[Job]) -> Vec<Signed> {
    run(&["keyless", dir.to_str().unwrap(), identity, issuer], jobs)
}

fn layers_json(registry: &Registry, repo: &str, signed: &[Signed]) -> Vec<serde_json::Value> {
    signed
        .iter()
        .map(|s| {
            let digest = registry.push_blob_bytes(repo, s.payload.as_bytes());
            let mut ann = serde_json::json!({"dev.cosignproject.cosign/signature": s.signature});
            if let Some(c) = &s.certificate {
                ann["dev.sigstore.cosign/certificate"] = c.clone().into();
                ann["dev.sigstore.cosign/chain"] = "".into();
            }
            if let Some(b) = &s.bundle {
                ann["dev.sigstore.cosign/bundle"] = b.clone().into();
            }
            serde_json::json!({
                "mediaType": SIMPLE_SIGNING,
                "digest": digest,
                "size": s.payload.len(),
                "annotations": ann,
            })
        })
        .collect()
}

fn tag_of(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

/// Push `signed` as cosign's tag-scheme signature of `repo@digest`.
pub fn push_tag_scheme(registry: &Registry, repo: &str, digest: &str, signed: &[Signed]) {
    let config = registry.push_blob_bytes(repo, b"{}");
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config, "size": 2},
        "layers": layers_json(registry, repo, signed),
    }))
    .unwrap();
    registry.push_manifest(
        repo,
        Some(&format!("{}.sig", tag_of(digest))),
        OCI_MANIFEST,
        &manifest,
    );
}

/// Push `signed` as an OCI 1.1 referrer of `repo@digest` (subject of
/// `subject_size` bytes) and list it in the referrers tag schema index;
/// the index's bytes (what a referrers API would answer).
pub fn push_referrer(
    registry: &Registry,
    repo: &str,
    digest: &str,
    subject_size: usize,
    signed: &[Signed],
    tag_schema: bool,
) -> Vec<u8> {
    let config = registry.push_blob_bytes(repo, b"{}");
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": COSIGN_ARTIFACT,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config, "size": 2},
        "layers": layers_json(registry, repo, signed),
        "subject": {"mediaType": OCI_MANIFEST, "digest": digest, "size": subject_size},
    }))
    .unwrap();
    let referrer = registry.push_manifest(repo, None, OCI_MANIFEST, &manifest);
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": OCI_MANIFEST,
            "digest": referrer,
            "size": manifest.len(),
            "artifactType": COSIGN_ARTIFACT,
        }],
    }))
    .unwrap();
    if tag_schema {
        registry.push_manifest(repo, Some(&tag_of(digest)), OCI_INDEX, &index);
    }
    index
}
