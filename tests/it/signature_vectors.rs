//! Real cosign and Sigstore test vectors, taken as data from the public
//! test fixtures of sigstore-rs and sigstore-python (tests/fixtures/cosign/
//! SOURCES.md says which file came from where), verified offline through
//! the same code every signature found in a registry goes through
//! (`judge_layer`, and `verify_bundle` for a Sigstore bundle).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chartpin::reference::{Digest, ImageRef};
use chartpin::verify::signature::keyless::{self, Allowed, TrustedRoot};
use chartpin::verify::signature::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, Identity, SIGNATURE_ANNOTATION, SignaturePolicy,
    Trust, Verdict, expected_payloads, judge_layer, parse_key,
};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cosign")
        .join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(fixture(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn key_policy(rel: &str) -> SignaturePolicy {
    let file = fixture(rel);
    SignaturePolicy {
        trust: Trust::Key {
            key: parse_key(&file, &read(rel)).expect("a public key"),
            file,
            root: None,
        },
        recursive: false,
    }
}

fn annotations(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

const BUSYBOX: &str = "registry-testing.svc.lan/busybox";
const BUSYBOX_DIGEST: &str =
    "sha256:f3cfc9d0dbf931d3db4685ec659b7ac68e2a578219da4aae65427886e649b06b";

#[test]
fn sigstore_rs_key_vector_verifies_and_its_tampered_forms_do_not() {
    let policy = key_policy("key/cosign.pub");
    let payload = read("key/payload.json");
    let sig = read("key/payload.sig").trim().to_string();
    let image = ImageRef::parse(&format!("{BUSYBOX}@{BUSYBOX_DIGEST}")).unwrap();
    let digest = Digest::parse(BUSYBOX_DIGEST).unwrap();
    let ann = annotations(&[(SIGNATURE_ANNOTATION, sig.clone())]);
    let v = judge_layer(payload.as_bytes(), &ann, &image, &digest, &policy);
    assert!(matches!(v, Verdict::Verified(_)), "{v:?}");

    // The same payload pinned at another digest: it does not sign that one.
    let other = Digest::parse(&format!("sha256:{}", "a".repeat(64))).unwrap();
    let v = judge_layer(
        payload.as_bytes(),
        &ann,
        &image.with_digest(&other),
        &other,
        &policy,
    );
    assert!(
        matches!(&v, Verdict::Invalid(m) if m.contains("signs sha256:f3cf")),
        "{v:?}"
    );

    // The same digest in another repository.
    let elsewhere =
        ImageRef::parse(&format!("registry-testing.svc.lan/other@{BUSYBOX_DIGEST}")).unwrap();
    let v = judge_layer(payload.as_bytes(), &ann, &elsewhere, &digest, &policy);
    assert!(
        matches!(&v, Verdict::Invalid(m) if m.contains("repository")),
        "{v:?}"
    );

    // One bit of the payload flipped.
    let mut flipped = payload.clone().into_bytes();
    flipped[10] ^= 1;
    let v = judge_layer(&flipped, &ann, &image, &digest, &policy);
    assert!(
        matches!(&v, Verdict::Invalid(m) if m.contains("does not verify with the key")),
        "{v:?}"
    );

    // The key sigstore-rs's own test uses as the wrong one.
    let wrong = std::env::temp_dir().join(format!("chartpin-wrong-{}.pub", std::process::id()));
    std::fs::write(
        &wrong,
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAETJP9cqpUQsn2ggmJniWGjHdlsHzD\nJsB89BPhZYch0U0hKANx5TY+ncrm0s8bfJxxHoenAEFhwhuXeb4PqIrtoQ==\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    let wrong_policy = SignaturePolicy {
        trust: Trust::Key {
            key: SignaturePolicy::load_key(&wrong).unwrap(),
            file: wrong.clone(),
            root: None,
        },
        recursive: false,
    };
    let _ = std::fs::remove_file(&wrong);
    let v = judge_layer(payload.as_bytes(), &ann, &image, &digest, &wrong_policy);
    assert!(matches!(v, Verdict::Invalid(_)), "{v:?}");
}

fn legacy_keyless(identity: Identity, issuer: &str) -> (SignaturePolicy, ImageRef, Digest) {
    let root =
        TrustedRoot::load(&fixture("keyless-legacy/trusted_root.json")).expect("trusted root");
    let d = "sha256:5f481572d088dc4023afb35fced9530ced3d9b03bf7299c6f492163cb9f0452e";
    (
        SignaturePolicy {
            trust: Trust::Keyless {
                identity,
                issuer: issuer.to_string(),
                root,
            },
            recursive: false,
        },
        ImageRef::parse(&format!(
            "registry-testing.svc.lan/kubewarden/disallow-service-nodeport@{d}"
        ))
        .unwrap(),
        Digest::parse(d).unwrap(),
    )
}

/// sigstore-rs's keyless image signature of 2021 (Fulcio's first root, a
/// Rekor bundle): signature, SET, log entry and chain verify against the
/// production trusted root sigstore-python ships. Its certificate predates
/// Fulcio's OIDC issuer extension, so a policy naming an issuer must call
/// it untrusted, which it can only say once everything else verified.
#[test]
fn sigstore_rs_legacy_keyless_vector_verifies_up_to_the_issuer_it_lacks() {
    let payload = read("keyless-legacy/payload.json");
    let ann = annotations(&[
        (
            SIGNATURE_ANNOTATION,
            read("keyless-legacy/payload.sig").trim().to_string(),
        ),
        (CERTIFICATE_ANNOTATION, read("keyless-legacy/cert.pem")),
        (BUNDLE_ANNOTATION, read("keyless-legacy/bundle.json")),
    ]);
    let (policy, image, digest) = legacy_keyless(
        Identity::Exact("flavio@castelli.me".into()),
        "https://github.com/login/oauth",
    );
    let v = judge_layer(payload.as_bytes(), &ann, &image, &digest, &policy);
    assert!(
        matches!(&v, Verdict::Untrusted(m) if m.contains("names no OIDC issuer")),
        "{v:?}"
    );

    let (policy, ..) = legacy_keyless(Identity::Exact("someone@example.com".into()), "x");
    let v = judge_layer(payload.as_bytes(), &ann, &image, &digest, &policy);
    assert!(
        matches!(&v, Verdict::Untrusted(m) if m.contains("is for flavio@castelli.me")),
        "{v:?}"
    );

    // The log entry is for this payload: another payload fails on its signature first.
    let mut flipped = payload.clone().into_bytes();
    flipped[20] ^= 1;
    let v = judge_layer(&flipped, &ann, &image, &digest, &policy);
    assert!(matches!(v, Verdict::Invalid(_)), "{v:?}");

    // A SET with one bit flipped.
    let mut bundle: serde_json::Value =
        serde_json::from_str(&read("keyless-legacy/bundle.json")).unwrap();
    let set = bundle["SignedEntryTimestamp"].as_str().unwrap().to_string();
    let mut raw = base64_decode(&set);
    let last = raw.len() - 1;
    raw[last] ^= 1;
    bundle["SignedEntryTimestamp"] = base64_encode(&raw).into();
    let mut ann2 = ann.clone();
    ann2.insert(BUNDLE_ANNOTATION.into(), bundle.to_string());
    let v = judge_layer(payload.as_bytes(), &ann2, &image, &digest, &policy);
    assert!(
        matches!(&v, Verdict::Invalid(m) if m.contains("signed entry timestamp")),
        "{v:?}"
    );

    // Without its bundle, its signing time cannot be established offline.
    let mut ann3 = ann.clone();
    ann3.remove(BUNDLE_ANNOTATION);
    let v = judge_layer(payload.as_bytes(), &ann3, &image, &digest, &policy);
    assert!(
        matches!(&v, Verdict::Invalid(m) if m.contains("no transparency log entry")),
        "{v:?}"
    );
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// sigstore-python's v0.3 bundle over `bundle_v3.txt`, against the staging
/// trusted root it was made under: verified, and refused for another
/// identity, another issuer, another trusted root, and another artifact.
#[test]
fn sigstore_python_v3_bundle_verifies_offline_against_its_trusted_root() {
    let root = TrustedRoot::load(&fixture("bundle-v3/trusted_root.json")).expect("trusted root");
    let bundle = read("bundle-v3/bundle_v3.txt.sigstore");
    let artifact = std::fs::read(fixture("bundle-v3/bundle_v3.txt")).unwrap();
    let identity = Identity::Exact("william@yossarian.net".into());
    let allowed = Allowed {
        identity: &identity,
        issuer: "https://github.com/login/oauth",
        root: &root,
    };
    let v = keyless::verify_bundle(&bundle, &artifact, &allowed);
    assert!(
        matches!(&v, Verdict::Verified(m) if m.contains("william@yossarian.net")),
        "{v:?}"
    );

    let re = Identity::regexp(r".*@yossarian\.net").unwrap();
    let v = keyless::verify_bundle(
        &bundle,
        &artifact,
        &Allowed {
            identity: &re,
            ..allowed
        },
    );
    assert!(matches!(v, Verdict::Verified(_)), "{v:?}");
    // Anchored: a pattern matching only part of the name does not allow it.
    let part = Identity::regexp("yossarian").unwrap();
    let v = keyless::verify_bundle(
        &bundle,
        &artifact,
        &Allowed {
            identity: &part,
            ..allowed
        },
    );
    assert!(matches!(v, Verdict::Untrusted(_)), "{v:?}");

    let other = Identity::Exact("mallory@example.com".into());
    let v = keyless::verify_bundle(
        &bundle,
        &artifact,
        &Allowed {
            identity: &other,
            ..allowed
        },
    );
    assert!(
        matches!(&v, Verdict::Untrusted(m) if m.contains("not `mallory@example.com`")),
        "{v:?}"
    );

    let v = keyless::verify_bundle(
        &bundle,
        &artifact,
        &Allowed {
            issuer: "https://accounts.google.com",
            ..allowed
        },
    );
    assert!(
        matches!(&v, Verdict::Untrusted(m) if m.contains("https://github.com/login/oauth")),
        "{v:?}"
    );

    // The production root does not trust staging's log or CA.
    let production = TrustedRoot::load(&fixture("keyless-legacy/trusted_root.json")).unwrap();
    let v = keyless::verify_bundle(
        &bundle,
        &artifact,
        &Allowed {
            root: &production,
            ..allowed
        },
    );
    assert!(matches!(v, Verdict::Untrusted(_)), "{v:?}");

    let v = keyless::verify_bundle(&bundle, b"another artifact", &allowed);
    assert!(matches!(v, Verdict::Invalid(_)), "{v:?}");
}

/// The payloads chartpin rebuilds instead of fetching are, byte for byte,
/// the ones in the real vectors (both made by cosign for a repository on a
/// registry host, with no annotations).
#[test]
fn the_payload_rebuilt_for_a_pinned_digest_is_the_vectors_exact_bytes() {
    let key = read("key/payload.json");
    let image = ImageRef::parse(&format!("{BUSYBOX}@{BUSYBOX_DIGEST}")).unwrap();
    let digest = Digest::parse(BUSYBOX_DIGEST).unwrap();
    assert!(
        expected_payloads(&image, &digest).contains(&key.into_bytes()),
        "{:?}",
        expected_payloads(&image, &digest)
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect::<Vec<_>>()
    );
    let (_, image, digest) = legacy_keyless(Identity::Exact(String::new()), "");
    let legacy = read("keyless-legacy/payload.json");
    assert!(expected_payloads(&image, &digest).contains(&legacy.into_bytes()));
    // Another digest is another payload.
    let other = Digest::parse(&format!("sha256:{}", "a".repeat(64))).unwrap();
    assert!(
        !expected_payloads(&image, &other)
            .contains(&read("keyless-legacy/payload.json").into_bytes())
    );
}
