//! `verify --signature` against the real local registry, with signatures
//! made by an independent implementation (tests/it/support/cosign_sign.py,
//! Python's `cryptography`) and pushed the two ways cosign stores them.

use std::path::Path;

use chartpin::reference::{Digest, ImageRef};
use chartpin::verify::signature::expected_payloads;

use crate::support::cli::{Run, chartpin};
use crate::support::cosign::{self, Job, KeySigner};
use crate::support::proxy::{Fault, Proxy};
use crate::support::registry::{PushedImage, Registry};

fn codes(run: &Run) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", run.all()));
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

/// Exit 1 with exactly one finding, `code`.
#[track_caller]
fn refused(run: &Run, code: &str) {
    assert_eq!(
        (run.code, codes(run)),
        (1, vec![code.to_string()]),
        "{}",
        run.all()
    );
}

/// Exit 1 with exactly one finding, `code`, whose message says `why`.
#[track_caller]
fn refused_for(run: &Run, code: &str, why: &str) {
    refused(run, code);
    assert!(run.stdout.contains(why), "{}", run.all());
}

fn pinned(reg_host: &str, img: &PushedImage) -> String {
    format!("{reg_host}/{}@{}", img.repo, img.digest)
}

fn verify_key(image: &str, key: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "verify",
        image,
        "--signature",
        "--key",
        key.to_str().unwrap(),
        "--format",
        "json",
    ];
    args.extend(extra);
    chartpin(&args).run()
}

fn job(reg: &Registry, img: &PushedImage) -> Job {
    Job::new(&reg.reference(&img.repo), &img.digest)
}

#[test]
fn key_signatures_verify_under_the_tag_scheme_and_as_referrers() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let p256 = KeySigner::new(&dir.path().join("p256"), "p256");
    let ed = KeySigner::new(&dir.path().join("ed"), "ed25519");

    let tagged = reg.push_image("shop/tagged", Some("1"), "tagged");
    cosign::push_tag_scheme(
        &reg,
        "shop/tagged",
        &tagged.digest,
        &p256.sign(&[job(&reg, &tagged)]),
    );
    let referred = reg.push_image("shop/referred", None, "referred");
    cosign::push_referrer(
        &reg,
        "shop/referred",
        &referred.digest,
        referred.manifest.len(),
        &p256.sign(&[job(&reg, &referred)]),
        true,
    );
    let edwards = reg.push_image("shop/ed", None, "ed");
    cosign::push_tag_scheme(
        &reg,
        "shop/ed",
        &edwards.digest,
        &ed.sign(&[job(&reg, &edwards)]),
    );

    let both = chartpin(&[
        "verify",
        &pinned(&reg.host, &tagged),
        &pinned(&reg.host, &referred),
        "--signature",
        "--key",
        p256.public_key().to_str().unwrap(),
    ])
    .run();
    assert_eq!(both.code, 0, "{}", both.all());
    assert!(both.stdout.contains("verified 2 of 2"), "{}", both.all());

    let run = verify_key(&pinned(&reg.host, &edwards), &ed.public_key(), &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    // The other key does not verify it.
    let run = verify_key(&pinned(&reg.host, &edwards), &p256.public_key(), &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(codes(&run), ["signature-invalid"]);
}

#[test]
fn tampered_and_missing_signatures_are_refused_with_their_codes() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let signer = KeySigner::new(&dir.path().join("k"), "p256");
    let other = KeySigner::new(&dir.path().join("other"), "p256");
    let key = signer.public_key();

    // A payload naming another digest, validly signed.
    let moved = reg.push_image("t/moved", None, "moved");
    let mut j = job(&reg, &moved);
    j.payload_digest = Some(format!("sha256:{}", "1".repeat(64)));
    cosign::push_tag_scheme(&reg, "t/moved", &moved.digest, &signer.sign(&[j]));
    let run = verify_key(&pinned(&reg.host, &moved), &key, &[]);
    refused(&run, "signature-invalid");
    assert!(
        run.stdout.contains("its payload signs sha256:1111"),
        "{}",
        run.all()
    );

    // One bit of the signature flipped.
    let flipped = reg.push_image("t/flipped", None, "flipped");
    let mut signed = signer.sign(&[job(&reg, &flipped)]);
    let mut raw = base64_decode(&signed[0].signature);
    let n = raw.len() - 3;
    raw[n] ^= 0x01;
    signed[0].signature = base64_encode(&raw);
    cosign::push_tag_scheme(&reg, "t/flipped", &flipped.digest, &signed);
    let run = verify_key(&pinned(&reg.host, &flipped), &key, &[]);
    refused(&run, "signature-invalid");

    // Signed with another key.
    let foreign = reg.push_image("t/foreign", None, "foreign");
    cosign::push_tag_scheme(
        &reg,
        "t/foreign",
        &foreign.digest,
        &other.sign(&[job(&reg, &foreign)]),
    );
    let run = verify_key(&pinned(&reg.host, &foreign), &key, &[]);
    refused(&run, "signature-invalid");

    // Not signed at all.
    let bare = reg.push_image("t/bare", None, "bare");
    let run = verify_key(&pinned(&reg.host, &bare), &key, &[]);
    refused(&run, "signature-missing");

    // Keyless-signed, checked against a key: valid, but not by the key.
    let keyless = reg.push_image("t/keyless", None, "keyless");
    let signed = cosign::keyless(
        &dir.path().join("ca"),
        "dev@example.com",
        "https://issuer.test",
        &[job(&reg, &keyless)],
    );
    cosign::push_tag_scheme(&reg, "t/keyless", &keyless.digest, &signed);
    let run = verify_key(&pinned(&reg.host, &keyless), &key, &[]);
    refused(&run, "signature-untrusted");

    // A good signature beside a bad one is enough.
    let mixed = reg.push_image("t/mixed", None, "mixed");
    let mut signed = other.sign(&[job(&reg, &mixed)]);
    signed.extend(signer.sign(&[job(&reg, &mixed)]));
    cosign::push_tag_scheme(&reg, "t/mixed", &mixed.digest, &signed);
    let run = verify_key(&pinned(&reg.host, &mixed), &key, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
}

/// `--key` with `--trusted-root` checks each signature's Rekor bundle as
/// cosign does by default (the signed entry timestamp under the root's log
/// key, the entry naming this payload, signature and key); without a
/// trusted root the bundle is not checked, and the run says so once.
#[test]
fn key_signatures_under_a_trusted_root_must_carry_a_rekor_bundle_that_verifies() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let signer = KeySigner::new(&dir.path().join("k"), "p256");
    let key = signer.public_key();
    let log = dir.path().join("log");
    let push = |repo: &str, edit: &dyn Fn(&mut cosign::Signed)| {
        let img = reg.push_image(repo, None, repo);
        let mut signed = signer.sign_logged(&log, &[job(&reg, &img)]);
        edit(&mut signed[0]);
        cosign::push_tag_scheme(&reg, repo, &img.digest, &signed);
        pinned(&reg.host, &img)
    };
    let root = log.join("trusted_root.json");
    let root_arg = ["--trusted-root", root.to_str().unwrap()];

    let logged = push("r/logged", &|_| {});
    let run = verify_key(&logged, &key, &root_arg);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(!run.stderr.contains("not checked"), "{}", run.all());
    let run = verify_key(&logged, &key, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        run.stderr
            .matches("note: --key without --trusted-root: Rekor bundles")
            .count(),
        1,
        "{}",
        run.all()
    );

    // The signed entry timestamp with one bit flipped.
    let flipped_set = push("r/set", &|s| {
        let mut b: serde_json::Value = serde_json::from_str(s.bundle.as_ref().unwrap()).unwrap();
        let mut raw = base64_decode(b["SignedEntryTimestamp"].as_str().unwrap());
        let n = raw.len() - 1;
        raw[n] ^= 1;
        b["SignedEntryTimestamp"] = base64_encode(&raw).into();
        s.bundle = Some(b.to_string());
    });
    refused_for(
        &verify_key(&flipped_set, &key, &root_arg),
        "signature-invalid",
        "signed entry timestamp",
    );
    // Without a trusted root the same bundle is not looked at.
    assert_eq!(verify_key(&flipped_set, &key, &[]).code, 0);

    // A genuine bundle, but another signature's (the log signed it; it
    // names another payload).
    let other = reg.push_image("r/other", None, "other");
    let foreign_bundle = signer.sign_logged(&log, &[job(&reg, &other)])[0]
        .bundle
        .clone();
    let swapped = push("r/swapped", &|s| s.bundle = foreign_bundle.clone());
    refused_for(
        &verify_key(&swapped, &key, &root_arg),
        "signature-invalid",
        "its log entry names another payload",
    );

    // A bundle that is not JSON.
    let garbled = push("r/garbled", &|s| s.bundle = Some("{not json".into()));
    refused(&verify_key(&garbled, &key, &root_arg), "signature-invalid");

    // No bundle: valid, but the trusted root asks for a log entry.
    let unlogged = push("r/unlogged", &|s| s.bundle = None);
    refused_for(
        &verify_key(&unlogged, &key, &root_arg),
        "signature-untrusted",
        "carries no transparency log entry",
    );

    // Logged by a log the trusted root does not name.
    let elsewhere = dir.path().join("other-log");
    cosign::keyless(&elsewhere, "x@example.com", "https://i", &[]);
    let run = verify_key(
        &logged,
        &key,
        &[
            "--trusted-root",
            elsewhere.join("trusted_root.json").to_str().unwrap(),
        ],
    );
    refused_for(&run, "signature-untrusted", "does not name");
}

/// cosign's usual payload (no annotations) is rebuilt from the pinned
/// repository and digest, not fetched: the signature manifest is the only
/// request a signed image costs beyond plain `verify`. Any other payload
/// is fetched, and refused when the bytes served are not the ones named.
#[test]
fn a_payload_in_cosigns_usual_form_is_not_fetched_and_any_other_is_fetched_and_checked() {
    let reg = Registry::start();
    let proxy = Proxy::start(&reg.host);
    let dir = tempfile::tempdir().unwrap();
    let signer = KeySigner::new(&dir.path().join("k"), "p256");
    let key = signer.public_key();
    let at_proxy = |img: &PushedImage| format!("{}/{}@{}", proxy.host, img.repo, img.digest);
    let job_at_proxy =
        |img: &PushedImage| Job::new(&format!("{}/{}", proxy.host, img.repo), &img.digest);
    let requests_for = |repo: &str| -> Vec<String> {
        proxy
            .request_log()
            .into_iter()
            .filter(|l| l.contains(&format!("/v2/{repo}/")))
            .collect()
    };

    // The usual form: the independent signer writes the very bytes chartpin
    // rebuilds, and no blob is asked for.
    let usual = reg.push_image("f/usual", None, "usual");
    let signed = signer.sign(&[job_at_proxy(&usual)]);
    let image = ImageRef::parse(&at_proxy(&usual)).unwrap();
    let digest = Digest::parse(&usual.digest).unwrap();
    assert!(
        expected_payloads(&image, &digest).contains(&signed[0].payload.clone().into_bytes()),
        "{}",
        signed[0].payload
    );
    cosign::push_tag_scheme(&reg, "f/usual", &usual.digest, &signed);
    let run = verify_key(&at_proxy(&usual), &key, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let tag = usual.digest.replacen(':', "-", 1);
    assert_eq!(
        requests_for("f/usual"),
        [
            format!("GET /v2/f/usual/manifests/{}", usual.digest),
            format!("GET /v2/f/usual/manifests/{tag}.sig"),
        ],
        "one request beyond plain verify: no payload blob, no referrers"
    );
    // What is verified is the bytes the descriptor names; a registry that
    // would serve others for that blob is not asked.
    proxy.inject_where(Some("GET"), "/blobs/", Fault::CorruptBody, None);
    let run = verify_key(&at_proxy(&usual), &key, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    proxy.clear();

    // The usual form with one bit of the signature flipped: refused, unfetched.
    let flipped = reg.push_image("f/flipped", None, "flipped");
    let mut signed = signer.sign(&[job_at_proxy(&flipped)]);
    let mut raw = base64_decode(&signed[0].signature);
    raw[8] ^= 0x01;
    signed[0].signature = base64_encode(&raw);
    cosign::push_tag_scheme(&reg, "f/flipped", &flipped.digest, &signed);
    let run = verify_key(&at_proxy(&flipped), &key, &[]);
    refused(&run, "signature-invalid");
    assert!(
        !requests_for("f/flipped")
            .iter()
            .any(|l| l.contains("/blobs/")),
        "{:?}",
        proxy.request_log()
    );

    // Annotations (`cosign sign -a`): the payload is fetched and verifies.
    let annotated = reg.push_image("f/annotated", None, "annotated");
    let mut j = job_at_proxy(&annotated);
    j.optional = Some(serde_json::json!({"commit": "0123abc", "ci": "yes"}));
    let signed = signer.sign(&[j]);
    assert!(
        signed[0]
            .payload
            .ends_with(r#""optional":{"ci":"yes","commit":"0123abc"}}"#)
    );
    cosign::push_tag_scheme(&reg, "f/annotated", &annotated.digest, &signed);
    let run = verify_key(&at_proxy(&annotated), &key, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        requests_for("f/annotated")
            .iter()
            .filter(|l| l.contains("/blobs/sha256:"))
            .count(),
        1,
        "{:?}",
        proxy.request_log()
    );
    // The same, with the blob's bytes changed on the way: refused.
    proxy.inject_where(Some("GET"), "/blobs/", Fault::CorruptBody, None);
    let run = verify_key(&at_proxy(&annotated), &key, &[]);
    refused(&run, "signature-invalid");
    assert!(run.stdout.contains("does not hash to"), "{}", run.all());
    proxy.clear();

    // A payload altered after signing (the descriptor names the altered
    // bytes, which are not the usual form): fetched, and refused.
    let altered = reg.push_image("f/altered", None, "altered");
    let mut signed = signer.sign(&[job_at_proxy(&altered)]);
    signed[0].payload = signed[0]
        .payload
        .replace("\"optional\":null", "\"optional\":{\"x\":\"y\"}");
    cosign::push_tag_scheme(&reg, "f/altered", &altered.digest, &signed);
    let run = verify_key(&at_proxy(&altered), &key, &[]);
    refused(&run, "signature-invalid");
    assert!(
        requests_for("f/altered")
            .iter()
            .any(|l| l.contains("/blobs/")),
        "{:?}",
        proxy.request_log()
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

#[test]
fn keyless_signatures_verify_offline_against_the_trusted_root_and_the_identity() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    let img = reg.push_image("k/app", Some("1"), "keyless app");
    let signed = cosign::keyless(
        &ca,
        "https://github.com/org/app/.github/workflows/release.yml@refs/tags/v1",
        "https://token.actions.githubusercontent.com",
        &[job(&reg, &img)],
    );
    cosign::push_tag_scheme(&reg, "k/app", &img.digest, &signed);
    let root = ca.join("trusted_root.json");
    let keyless = |identity: &[&str], issuer: &str, root: &Path| {
        let mut args = vec![
            "verify",
            "--format",
            "json",
            "--signature",
            "--certificate-oidc-issuer",
            issuer,
            "--trusted-root",
            root.to_str().unwrap(),
        ];
        args.extend(identity);
        let image = pinned(&reg.host, &img);
        args.push(&image);
        chartpin(&args).run()
    };
    let issuer = "https://token.actions.githubusercontent.com";
    let ok = keyless(
        &[
            "--certificate-identity",
            "https://github.com/org/app/.github/workflows/release.yml@refs/tags/v1",
        ],
        issuer,
        &root,
    );
    assert_eq!(ok.code, 0, "{}", ok.all());
    let ok = keyless(
        &[
            "--certificate-identity-regexp",
            r"https://github\.com/org/app/.*",
        ],
        issuer,
        &root,
    );
    assert_eq!(ok.code, 0, "{}", ok.all());

    let wrong = keyless(
        &[
            "--certificate-identity",
            "https://github.com/evil/app/.github/workflows/release.yml@refs/tags/v1",
        ],
        issuer,
        &root,
    );
    assert_eq!(
        (wrong.code, codes(&wrong)),
        (1, vec!["signature-untrusted".to_string()]),
        "{}",
        wrong.all()
    );
    let wrong = keyless(
        &["--certificate-identity-regexp", "https://github.com/org"],
        issuer,
        &root,
    );
    assert_eq!(
        codes(&wrong),
        ["signature-untrusted"],
        "an unanchored prefix must not match: {}",
        wrong.all()
    );
    let wrong = keyless(
        &[
            "--certificate-identity-regexp",
            r"https://github\.com/org/app/.*",
        ],
        "https://accounts.google.com",
        &root,
    );
    assert_eq!(codes(&wrong), ["signature-untrusted"], "{}", wrong.all());

    // Another CA and log: not trusted.
    let other = dir.path().join("other-ca");
    cosign::keyless(&other, "x@example.com", issuer, &[job(&reg, &img)]);
    let wrong = keyless(
        &["--certificate-identity-regexp", ".*"],
        issuer,
        &other.join("trusted_root.json"),
    );
    assert_eq!(codes(&wrong), ["signature-untrusted"], "{}", wrong.all());

    // The payload altered after signing.
    let altered = reg.push_image("k/altered", None, "altered");
    let mut signed = cosign::keyless(&ca, "dev@example.com", issuer, &[job(&reg, &altered)]);
    signed[0].payload = signed[0]
        .payload
        .replace("\"optional\":null", "\"optional\":{}");
    cosign::push_tag_scheme(&reg, "k/altered", &altered.digest, &signed);
    let run = chartpin(&[
        "verify",
        &pinned(&reg.host, &altered),
        "--format",
        "json",
        "--signature",
        "--certificate-identity",
        "dev@example.com",
        "--certificate-oidc-issuer",
        issuer,
        "--trusted-root",
        root.to_str().unwrap(),
    ])
    .run();
    refused(&run, "signature-invalid");
}

/// The referrers API, answered by the proxy in front of a registry that
/// does not have it; and a referrers API answering garbage.
#[test]
fn the_referrers_api_is_asked_first_and_garbage_from_it_is_unreachable() {
    let reg = Registry::start();
    let proxy = Proxy::start(&reg.host);
    let dir = tempfile::tempdir().unwrap();
    let signer = KeySigner::new(&dir.path().join("k"), "ed25519");
    let img = reg.push_image("r/app", None, "referred by the API");
    cosign::push_referrer(
        &reg,
        "r/app",
        &img.digest,
        img.manifest.len(),
        &signer.sign(&[job(&reg, &img)]),
        false,
    );
    let image = format!("{}/r/app@{}", proxy.host, img.digest);

    // Without the API (distribution answers 404) and no tag schema index: missing.
    let run = verify_key(&image, &signer.public_key(), &[]);
    assert_eq!(codes(&run), ["signature-missing"], "{}", run.all());
    assert!(
        proxy
            .request_log()
            .iter()
            .any(|l| l.contains("/referrers/")),
        "{:?}",
        proxy.request_log()
    );

    // Signed for the proxy's name, listed only by the API.
    let signed = signer.sign(&[Job::new(&format!("{}/r/app", proxy.host), &img.digest)]);
    let index = cosign::push_referrer(
        &reg,
        "r/app",
        &img.digest,
        img.manifest.len(),
        &signed,
        false,
    );
    proxy.inject_where(
        Some("GET"),
        "/referrers/",
        Fault::Answer {
            content_type: "application/vnd.oci.image.index.v1+json".into(),
            body: index,
        },
        None,
    );
    let run = chartpin(&[
        "verify",
        &image,
        "--signature",
        "--key",
        signer.public_key().to_str().unwrap(),
    ])
    .run();
    assert_eq!(run.code, 0, "{}", run.all());

    proxy.clear();
    proxy.inject_where(
        Some("GET"),
        "/referrers/",
        Fault::Answer {
            content_type: "application/vnd.oci.image.index.v1+json".into(),
            body: b"{\"manifests\": 7}".to_vec(),
        },
        None,
    );
    let run = verify_key(&image, &signer.public_key(), &[]);
    assert_eq!(run.code, 3, "{}", run.all());
    assert_eq!(codes(&run), ["registry-unreachable"], "{}", run.all());
    assert!(
        run.stdout.contains("not an OCI image index"),
        "{}",
        run.all()
    );
}

#[test]
fn recursive_requires_each_platform_image_to_be_signed() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let signer = KeySigner::new(&dir.path().join("k"), "p256");
    let index = reg.push_index("m/app", Some("1"), "multi", &["linux/amd64", "linux/arm64"]);
    let repo = reg.reference("m/app");
    cosign::push_tag_scheme(
        &reg,
        "m/app",
        &index.digest,
        &signer.sign(&[Job::new(&repo, &index.digest)]),
    );
    let image = format!("{repo}@{}", index.digest);
    let key = signer.public_key();
    assert_eq!(verify_key(&image, &key, &[]).code, 0);
    let run = verify_key(&image, &key, &["--recursive"]);
    assert_eq!(
        codes(&run),
        ["signature-missing", "signature-missing"],
        "{}",
        run.all()
    );
    assert!(
        run.stdout.contains("linux/arm64 of the index"),
        "{}",
        run.all()
    );
    for child in &index.manifests {
        cosign::push_tag_scheme(
            &reg,
            "m/app",
            &child.digest,
            &signer.sign(&[Job::new(&repo, &child.digest)]),
        );
    }
    let run = verify_key(&image, &key, &["--recursive"]);
    assert_eq!(run.code, 0, "{}", run.all());
}

#[test]
fn malformed_keys_trusted_roots_and_policies_are_input_errors() {
    let dir = tempfile::tempdir().unwrap();
    let image = format!("127.0.0.1:1/app@sha256:{}", "a".repeat(64));
    let key = dir.path().join("cosign.pub");
    std::fs::write(
        &key,
        "-----BEGIN PUBLIC KEY-----\nnot base64!\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    let run = verify_key(&image, &key, &[]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains("cosign.pub: not a public key"),
        "{}",
        run.all()
    );
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let run = verify_key(&image, &key, &[]);
    assert!(
        run.code == 2 && run.stderr.contains("not `PUBLIC KEY`"),
        "{}",
        run.all()
    );

    let root = dir.path().join("root.json");
    std::fs::write(&root, r#"{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1", "tlogs": [{"publicKey": {"rawBytes": "AAAA"}}]}"#).unwrap();
    let run = chartpin(&[
        "verify",
        &image,
        "--signature",
        "--certificate-identity",
        "a@b",
        "--certificate-oidc-issuer",
        "https://i",
        "--trusted-root",
        root.to_str().unwrap(),
    ])
    .run();
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains("root.json") && run.stderr.contains("`tlogs[0].publicKey.rawBytes`"),
        "{}",
        run.all()
    );

    for args in [
        vec!["--signature"],
        vec![
            "--signature",
            "--certificate-identity",
            "a@b",
            "--trusted-root",
            "x.json",
        ],
        vec![
            "--signature",
            "--certificate-identity-regexp",
            "(",
            "--certificate-oidc-issuer",
            "i",
            "--trusted-root",
            "x.json",
        ],
        vec!["--key", "cosign.pub"],
    ] {
        let mut all = vec!["verify", image.as_str()];
        all.extend(args.iter().copied());
        let run = chartpin(&all).run();
        assert_eq!(run.code, 2, "{args:?}: {}", run.all());
    }
}

/// `.chartpin.yaml` `signature:` requires signatures as the flags do (its
/// files relative to the config); a malformed one is an input error at its line.
#[test]
fn a_chart_config_can_require_signatures() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("chart");
    std::fs::create_dir_all(chart.join("keys")).unwrap();
    let signer = KeySigner::new(&dir.path().join("k"), "p256");
    std::fs::copy(signer.public_key(), chart.join("keys/cosign.pub")).unwrap();
    let img = reg.push_image("c/app", None, "config-signed");
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: c\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("values.yaml"),
        format!("image: {}\n", pinned(&reg.host, &img)),
    )
    .unwrap();
    std::fs::write(
        chart.join(".chartpin.yaml"),
        "signature:\n  key: keys/cosign.pub\n",
    )
    .unwrap();
    let c = chart.to_str().unwrap();
    let run = chartpin(&["verify", c, "--format", "json"]).run();
    assert_eq!(codes(&run), ["signature-missing"], "{}", run.all());
    cosign::push_tag_scheme(&reg, "c/app", &img.digest, &signer.sign(&[job(&reg, &img)]));
    let run = chartpin(&["verify", c]).run();
    assert_eq!(run.code, 0, "{}", run.all());
    // `key` with `trustedRoot`: the signature (made without a bundle) must
    // carry a log entry.
    cosign::keyless(&dir.path().join("log"), "x@example.com", "https://i", &[]);
    std::fs::write(
        chart.join(".chartpin.yaml"),
        "signature:\n  key: keys/cosign.pub\n  trustedRoot: ../log/trusted_root.json\n",
    )
    .unwrap();
    let run = chartpin(&["verify", c, "--format", "json"]).run();
    assert_eq!(codes(&run), ["signature-untrusted"], "{}", run.all());

    std::fs::write(
        chart.join(".chartpin.yaml"),
        "requireIndex: false\nsignature:\n  trustedRoot: root.json\n",
    )
    .unwrap();
    let run = chartpin(&["verify", c]).run();
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains(".chartpin.yaml:3:3")
            && run.stderr.contains("`signature` needs either `key`"),
        "{}",
        run.all()
    );
    std::fs::write(
        chart.join(".chartpin.yaml"),
        "signature:\n  key: missing.pub\n",
    )
    .unwrap();
    let run = chartpin(&["verify", c]).run();
    assert!(
        run.code == 2 && run.stderr.contains("missing.pub"),
        "{}",
        run.all()
    );
    // The same builder as the flags', its errors in the config's terms.
    std::fs::write(dir.path().join("root.json"), "{}").unwrap();
    std::fs::write(
        chart.join(".chartpin.yaml"),
        "signature:\n  certificateIdentityRegexp: \"(unclosed\"\n  certificateOidcIssuer: https://issuer.test\n  trustedRoot: ../root.json\n",
    )
    .unwrap();
    let run = chartpin(&["verify", c]).run();
    assert!(
        run.code == 2
            && run.stderr.contains(
                "`signature.certificateIdentityRegexp`: `(unclosed` is not a valid regular expression"
            ),
        "{}",
        run.all()
    );
    let run = chartpin(&[
        "verify",
        &pinned(&reg.host, &img),
        "--signature",
        "--certificate-identity-regexp",
        "(unclosed",
        "--certificate-oidc-issuer",
        "https://issuer.test",
        "--trusted-root",
        dir.path().join("root.json").to_str().unwrap(),
    ])
    .run();
    assert!(
        run.code == 2
            && run.stderr.contains(
                "--certificate-identity-regexp `(unclosed` is not a valid regular expression"
            ),
        "{}",
        run.all()
    );
}
