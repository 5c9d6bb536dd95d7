//! `chartpin verify` and `chartpin resolve` against a real registry: open,
//! htpasswd, token auth, TLS, a credential helper, mirrors, and every fault
//! the proxy can inject. The real binary runs with a clean HOME and
//! DOCKER_CONFIG, so nothing from the machine leaks in.

use std::time::Duration;

use base64::Engine;

use crate::support::cli::{Run, assert_snake_case_keys, chartpin, finding_fields};
use crate::support::proxy::{Fault, Proxy};
use crate::support::registry::{Auth, Options, Registry};

/// A plain-HTTP registry that takes `user`/`password` (htpasswd).
fn htpasswd_registry(user: &str, password: &str) -> Registry {
    Registry::start_with(Options {
        auth: Auth::Htpasswd {
            user: user.into(),
            password: password.into(),
        },
        tls: false,
    })
}

fn pinned(host: &str, repo: &str, digest: &str) -> String {
    format!("{host}/{repo}@{digest}")
}

const MISSING: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

#[test]
fn harness_supports_htpasswd_token_and_tls() {
    for options in [
        Options {
            auth: Auth::Htpasswd {
                user: "alice".into(),
                password: "s3cret-htpasswd".into(),
            },
            tls: false,
        },
        Options {
            auth: Auth::Token {
                user: "bob".into(),
                password: "s3cret-token".into(),
            },
            tls: false,
        },
        Options {
            auth: Auth::Open,
            tls: true,
        },
    ] {
        let reg = Registry::start_with(options);
        let img = reg.push_image("app", Some("v1"), "one");
        assert!(img.digest.starts_with("sha256:"));
    }
}

#[test]
fn open_registry_verifies_present_digests_and_reports_missing_ones() {
    let reg = Registry::start();
    let img = reg.push_image("app", Some("v1"), "one");
    let idx = reg.push_index("multi", Some("v2"), "two", &["linux/amd64", "linux/arm64"]);
    let a = pinned(&reg.host, "app", &img.digest);
    let b = format!("{}/multi:v2@{}", reg.host, idx.digest);
    let ok = chartpin(&["verify", &a, &b]).run();
    assert_eq!(ok.code, 0, "{}", ok.all());
    assert!(ok.stdout.contains("verified 2 of 2"), "{}", ok.stdout);
    let content = chartpin(&["verify", "--content", &a, &b]).run();
    assert_eq!(content.code, 0, "{}", content.all());

    let missing = pinned(&reg.host, "app", MISSING);
    let bad = chartpin(&["verify", &a, &missing, "--format", "json"]).run();
    assert_eq!(bad.code, 1, "{}", bad.all());
    let doc: serde_json::Value = serde_json::from_str(&bad.stdout).unwrap();
    assert_snake_case_keys(&doc);
    let findings = doc["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0]["code"], "digest-not-found");
    assert_eq!(findings[0]["image"], missing.as_str());
    // An image that never existed in a repository that never existed.
    let nowhere = chartpin(&["verify", &pinned(&reg.host, "nope", MISSING)]).run();
    assert_eq!(nowhere.code, 1, "{}", nowhere.all());
}

#[test]
fn platforms_are_checked_in_indexes_and_single_manifests() {
    let reg = Registry::start();
    let idx = reg.push_index("multi", Some("v1"), "p", &["linux/amd64", "linux/arm64/v8"]);
    let single = reg.push_image("single", Some("v1"), "s");
    let i = pinned(&reg.host, "multi", &idx.digest);
    let s = pinned(&reg.host, "single", &single.digest);
    let both = chartpin(&[
        "verify",
        &i,
        "--platform",
        "linux/amd64",
        "--platform",
        "linux/arm64",
    ])
    .run();
    assert_eq!(both.code, 0, "{}", both.all());
    let s390 = chartpin(&["verify", &i, "--platform", "linux/s390x"]).run();
    assert_eq!(s390.code, 1, "{}", s390.all());
    assert!(
        s390.stdout.contains("platform-missing") && s390.stdout.contains("linux/arm64/v8"),
        "{}",
        s390.stdout
    );
    let amd = chartpin(&["verify", &s, "--platform", "linux/amd64"]).run();
    assert_eq!(amd.code, 0, "{}", amd.all());
    let arm = chartpin(&["verify", &s, "--platform", "linux/arm64"]).run();
    assert_eq!(arm.code, 1, "{}", arm.all());
    assert!(arm.stdout.contains("platform-missing"), "{}", arm.stdout);
}

#[test]
fn check_tags_reports_a_moved_tag() {
    let reg = Registry::start();
    let first = reg.push_image("app", Some("v1"), "first");
    let r = format!("{}/app:v1@{}", reg.host, first.digest);
    assert_eq!(chartpin(&["verify", "--check-tags", &r]).run().code, 0);
    let second = reg.push_image("app", None, "second");
    reg.retag(
        "app",
        "v1",
        crate::support::registry::OCI_MANIFEST,
        &second.manifest,
    );
    let moved = chartpin(&["verify", "--check-tags", &r]).run();
    assert_eq!(moved.code, 1, "{}", moved.all());
    assert!(
        moved.stdout.contains("tag-drift") && moved.stdout.contains(&second.digest),
        "{}",
        moved.stdout
    );
    // Without --check-tags the digest itself still exists.
    assert_eq!(chartpin(&["verify", &r]).run().code, 0);
}

/// Assert that neither the password nor any base64 form of the credentials shows.
fn assert_no_secret(run: &Run, user: &str, password: &str) {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let all = run.all();
    assert!(!all.contains(password), "password leaked:\n{all}");
    assert!(!all.contains(&b64), "base64 credentials leaked:\n{all}");
}

#[test]
fn htpasswd_credentials_come_from_docker_config_and_never_show() {
    let (user, password) = ("alice", "pw-htpasswd-Zq81");
    let reg = htpasswd_registry(user, password);
    let img = reg.push_image("app", Some("v1"), "one");
    let r = pinned(&reg.host, "app", &img.digest);

    let anonymous = chartpin(&["verify", &r]).run();
    assert_eq!(anonymous.code, 3, "{}", anonymous.all());
    assert!(
        anonymous.stdout.contains("auth-failed"),
        "{}",
        anonymous.stdout
    );

    let cfg = reg.write_docker_config(&reg.dir().join("docker"));
    let cfg = cfg.to_str().unwrap();
    for extra in [&[][..], &["--content"][..], &["--format", "json"][..]] {
        let mut args = vec!["verify", &r];
        args.extend_from_slice(extra);
        let ok = chartpin(&args).envs(&[("DOCKER_CONFIG", cfg)]).run();
        assert_eq!(ok.code, 0, "{}", ok.all());
        assert_no_secret(&ok, user, password);
    }
    let missing = chartpin(&["verify", &pinned(&reg.host, "app", MISSING)])
        .envs(&[("DOCKER_CONFIG", cfg)])
        .run();
    assert_eq!(missing.code, 1, "{}", missing.all());
    assert_no_secret(&missing, user, password);

    // Wrong password: refused, exit 3, and the wrong password does not show either.
    let wrong_dir = reg.dir().join("wrong");
    std::fs::create_dir_all(&wrong_dir).unwrap();
    let wrong_pw = "not-the-pw-77";
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{wrong_pw}"));
    std::fs::write(
        wrong_dir.join("config.json"),
        serde_json::json!({"auths": {format!("http://{}", reg.host): {"auth": auth}}}).to_string(),
    )
    .unwrap();
    let wrong = chartpin(&["verify", &r])
        .envs(&[("DOCKER_CONFIG", wrong_dir.to_str().unwrap())])
        .run();
    assert_eq!(wrong.code, 3, "{}", wrong.all());
    assert!(wrong.stdout.contains("auth-failed"), "{}", wrong.stdout);
    assert_no_secret(&wrong, user, wrong_pw);
}

#[test]
fn podman_auth_file_is_read() {
    let (user, password) = ("pod", "pw-podman-1x");
    let reg = htpasswd_registry(user, password);
    let img = reg.push_image("app", Some("v1"), "one");
    let dir = reg.write_docker_config(&reg.dir().join("podman"));
    let auth_file = dir.join("config.json");
    let ok = chartpin(&["verify", &pinned(&reg.host, "app", &img.digest)])
        .envs(&[("REGISTRY_AUTH_FILE", auth_file.to_str().unwrap())])
        .run();
    assert_eq!(ok.code, 0, "{}", ok.all());
    assert_no_secret(&ok, user, password);
}

#[test]
fn token_auth_gets_a_scoped_bearer_token() {
    let (user, password) = ("bob", "pw-token-Yk22");
    let reg = Registry::start_with(Options {
        auth: Auth::Token {
            user: user.into(),
            password: password.into(),
        },
        tls: false,
    });
    let img = reg.push_image("app", Some("v1"), "one");
    let idx = reg.push_index("multi", Some("v1"), "m", &["linux/amd64", "linux/arm64"]);
    let r = pinned(&reg.host, "app", &img.digest);
    let anonymous = chartpin(&["verify", &r]).run();
    assert_eq!(anonymous.code, 3, "{}", anonymous.all());
    assert!(
        anonymous.stdout.contains("auth-failed"),
        "{}",
        anonymous.stdout
    );

    let before = reg
        .token_issuer
        .as_ref()
        .unwrap()
        .requests
        .load(std::sync::atomic::Ordering::SeqCst);
    let cfg = reg.write_docker_config(&reg.dir().join("docker"));
    let ok = chartpin(&[
        "verify",
        "--content",
        "--platform",
        "linux/amd64",
        &r,
        &pinned(&reg.host, "multi", &idx.digest),
    ])
    .envs(&[("DOCKER_CONFIG", cfg.to_str().unwrap())])
    .run();
    assert_eq!(ok.code, 0, "{}", ok.all());
    assert_no_secret(&ok, user, password);
    let after = reg
        .token_issuer
        .as_ref()
        .unwrap()
        .requests
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(after > before, "no token was requested");
}

#[test]
fn tls_registry_needs_the_ca_file() {
    let reg = Registry::start_with(Options {
        auth: Auth::Open,
        tls: true,
    });
    let img = reg.push_image("app", Some("v1"), "one");
    let r = pinned(&reg.host, "app", &img.digest);
    let rejected = chartpin(&["verify", &r]).run();
    assert_eq!(rejected.code, 3, "{}", rejected.all());
    assert!(
        rejected.stdout.contains("registry-unreachable") && rejected.stdout.contains("certificate"),
        "{}",
        rejected.stdout
    );
    let ca = reg.ca_file.as_ref().unwrap().to_str().unwrap().to_string();
    let ok = chartpin(&["verify", "--content", "--ca-file", &ca, &r]).run();
    assert_eq!(ok.code, 0, "{}", ok.all());
}

#[test]
fn credential_helper_on_path_supplies_credentials() {
    let (user, password) = ("helper-user", "pw-helper-Qq9");
    let reg = htpasswd_registry(user, password);
    let img = reg.push_image("app", Some("v1"), "one");
    let bin = reg.dir().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("docker-credential-test");
    // Answers only for the exact key it is asked about.
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread key\nif [ \"$key\" = \"{host}\" ]; then\n  printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{password}\"}}' \"$key\"\nelse\n  echo 'credentials not found in native keychain'; exit 1\nfi\n",
            host = reg.host
        ),
    )
    .unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&script).unwrap().permissions(),
        0o755,
    );
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let cfg = reg.dir().join("docker");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config.json"),
        serde_json::json!({"credHelpers": {reg.host.clone(): "test"}}).to_string(),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let ok = chartpin(&["verify", &pinned(&reg.host, "app", &img.digest)])
        .envs(&[("DOCKER_CONFIG", cfg.to_str().unwrap()), ("PATH", &path)])
        .run();
    assert_eq!(ok.code, 0, "{}", ok.all());
    assert_no_secret(&ok, user, password);

    // credsStore: the same helper for every registry.
    std::fs::write(cfg.join("config.json"), r#"{"credsStore": "test"}"#).unwrap();
    let store = chartpin(&["verify", &pinned(&reg.host, "app", &img.digest)])
        .envs(&[("DOCKER_CONFIG", cfg.to_str().unwrap()), ("PATH", &path)])
        .run();
    assert_eq!(store.code, 0, "{}", store.all());
    assert_no_secret(&store, user, password);
}

#[test]
fn several_registries_with_different_credentials_in_one_run() {
    let a = htpasswd_registry("ann", "pw-a-111");
    let b = Registry::start_with(Options {
        auth: Auth::Token {
            user: "ben".into(),
            password: "pw-b-222".into(),
        },
        tls: false,
    });
    let c = Registry::start();
    let ia = a.push_image("app", Some("v1"), "a");
    let ib = b.push_image("app", Some("v1"), "b");
    let ic = c.push_image("app", Some("v1"), "c");
    let enc =
        |u: &str, p: &str| base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
    let cfg = a.dir().join("docker-multi");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config.json"),
        serde_json::json!({"auths": {
            a.host.clone(): {"auth": enc("ann", "pw-a-111")},
            b.host.clone(): {"auth": enc("ben", "pw-b-222")},
        }})
        .to_string(),
    )
    .unwrap();
    let run = chartpin(&[
        "verify",
        &pinned(&a.host, "app", &ia.digest),
        &pinned(&b.host, "app", &ib.digest),
        &pinned(&c.host, "app", &ic.digest),
    ])
    .envs(&[("DOCKER_CONFIG", cfg.to_str().unwrap())])
    .run();
    assert_eq!(run.code, 0, "{}", run.all());
    assert_no_secret(&run, "ann", "pw-a-111");
    assert_no_secret(&run, "ben", "pw-b-222");
}

#[test]
fn mirror_serves_references_that_keep_their_names() {
    let reg = Registry::start();
    let img = reg.push_image("org/app", Some("v1"), "m");
    let r = format!("registry.example.invalid/org/app@{}", img.digest);
    let mirror = format!("registry.example.invalid={}", reg.host);
    let ok = chartpin(&["verify", "--registry-mirror", &mirror, &r]).run();
    assert_eq!(ok.code, 0, "{}", ok.all());
}

#[test]
fn identical_references_are_checked_once() {
    let reg = Registry::start();
    let img = reg.push_image("app", Some("v1"), "one");
    let proxy = Proxy::start(&reg.host);
    let r = pinned(&proxy.host, "app", &img.digest);
    let run = chartpin(&["verify", &r, &r, &r]).run();
    assert_eq!(run.code, 0, "{}", run.all());
    let manifest_requests = proxy
        .request_log()
        .iter()
        .filter(|l| l.contains("/manifests/"))
        .count();
    assert_eq!(manifest_requests, 1, "{:?}", proxy.request_log());
}

/// One fault case: what the proxy does, flags, and the documented outcome.
struct Case {
    name: &'static str,
    faults: Vec<(Fault, Option<usize>)>,
    flags: &'static [&'static str],
    exit: i32,
    code: Option<&'static str>,
}

#[test]
fn faults_give_their_documented_outcome_and_never_a_false_verified() {
    let reg = Registry::start();
    let img = reg.push_image("app", Some("v1"), "one");
    let once = |f: Fault| vec![(f, Some(1))];
    let always = |f: Fault| vec![(f, None)];
    let cases = vec![
        Case {
            name: "429 Retry-After seconds, then ok",
            faults: once(Fault::RetryAfterSeconds(1)),
            flags: &[],
            exit: 0,
            code: None,
        },
        Case {
            name: "429 Retry-After date, then ok",
            faults: once(Fault::RetryAfterDate(Duration::from_secs(1))),
            flags: &[],
            exit: 0,
            code: None,
        },
        Case {
            name: "500 twice, then ok",
            faults: vec![(Fault::Status(500), Some(2))],
            flags: &[],
            exit: 0,
            code: None,
        },
        Case {
            name: "502, then ok",
            faults: once(Fault::Status(502)),
            flags: &["--content"],
            exit: 0,
            code: None,
        },
        Case {
            name: "503, then ok",
            faults: once(Fault::Status(503)),
            flags: &[],
            exit: 0,
            code: None,
        },
        Case {
            name: "reset, then ok",
            faults: once(Fault::Reset),
            flags: &[],
            exit: 0,
            code: None,
        },
        Case {
            name: "slow past the timeout, then ok",
            faults: once(Fault::Slow(Duration::from_secs(3))),
            flags: &["--timeout", "1"],
            exit: 0,
            code: None,
        },
        Case {
            name: "503 always",
            faults: always(Fault::Status(503)),
            flags: &[],
            exit: 3,
            code: Some("registry-unreachable"),
        },
        Case {
            name: "reset always",
            faults: always(Fault::Reset),
            flags: &[],
            exit: 3,
            code: Some("registry-unreachable"),
        },
        Case {
            name: "slow always",
            faults: always(Fault::Slow(Duration::from_secs(3))),
            flags: &["--timeout", "1"],
            exit: 3,
            code: Some("registry-unreachable"),
        },
        Case {
            name: "429 beyond the retry budget",
            faults: always(Fault::RetryAfterSeconds(100_000)),
            flags: &[],
            exit: 3,
            code: Some("registry-unreachable"),
        },
        Case {
            name: "wrong Docker-Content-Digest on HEAD",
            faults: always(Fault::WrongDigestHeader),
            flags: &[],
            exit: 1,
            code: Some("content-mismatch"),
        },
        Case {
            name: "wrong Docker-Content-Digest on GET",
            faults: always(Fault::WrongDigestHeader),
            flags: &["--content"],
            exit: 1,
            code: Some("content-mismatch"),
        },
        Case {
            name: "body altered",
            faults: always(Fault::CorruptBody),
            flags: &["--content"],
            exit: 1,
            code: Some("content-mismatch"),
        },
        Case {
            name: "body altered, platform check",
            faults: always(Fault::CorruptBody),
            flags: &["--platform", "linux/amd64"],
            exit: 1,
            code: Some("content-mismatch"),
        },
    ];
    for case in cases {
        let proxy = Proxy::start(&reg.host);
        for (fault, times) in &case.faults {
            proxy.inject_where(None, "/manifests/", fault.clone(), *times);
        }
        let r = pinned(&proxy.host, "app", &img.digest);
        let mut args = vec!["verify", "--format", "json"];
        args.extend_from_slice(case.flags);
        args.push(&r);
        let run = chartpin(&args).run();
        assert_eq!(run.code, case.exit, "{}: {}", case.name, run.all());
        assert!(
            proxy.faults_fired() >= 1,
            "{}: the fault never fired",
            case.name
        );
        let doc: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{}: {e}: {}", case.name, run.all()));
        let verified = doc["summary"]["verified"].as_u64().unwrap();
        match case.code {
            None => {
                assert_eq!(verified, 1, "{}", case.name);
                assert!(
                    proxy.requests() > proxy.faults_fired(),
                    "{}: no retry reached the registry",
                    case.name
                );
            }
            Some(code) => {
                assert_eq!(verified, 0, "{}: reported verified", case.name);
                let codes = finding_fields(&doc, "code");
                assert_eq!(codes, vec![code], "{}", case.name);
            }
        }
    }
}

#[test]
fn resolve_then_verify_round_trip() {
    let reg = Registry::start();
    let img = reg.push_image("app", Some("v1"), "one");
    let idx = reg.push_index("multi", Some("v2"), "two", &["linux/amd64", "linux/arm64"]);
    let out = reg.dir().join("digests.txt");
    let a = format!("{}/app:v1", reg.host);
    let b = format!("{}/multi:v2", reg.host);
    let run = chartpin(&["resolve", &a, &b, "--output", out.to_str().unwrap()]).run();
    assert_eq!(run.code, 0, "{}", run.all());
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text, format!("{a}@{}\n{b}@{}\n", img.digest, idx.digest));

    // Platform picks that platform's manifest out of the index.
    let arm = chartpin(&["resolve", &b, "--platform", "linux/arm64"]).run();
    assert_eq!(arm.code, 0, "{}", arm.all());
    assert_eq!(
        arm.stdout.trim(),
        format!("{b}@{}", idx.manifests[1].digest)
    );
    let none = chartpin(&["resolve", &b, "--platform", "linux/s390x"]).run();
    assert_eq!(none.code, 1, "{}", none.all());
    let missing = chartpin(&["resolve", &format!("{}/app:nope", reg.host)]).run();
    assert_eq!(missing.code, 1, "{}", missing.all());

    // Every resolved line verifies, tags included.
    let lines: Vec<&str> = text.lines().collect();
    let mut args = vec!["verify", "--check-tags", "--content"];
    args.extend(lines);
    let verified = chartpin(&args).run();
    assert_eq!(verified.code, 0, "{}", verified.all());
    assert!(
        verified.stdout.contains("verified 2 of 2"),
        "{}",
        verified.stdout
    );

    // The same file as a digest manifest; findings point at its lines.
    let from_file = chartpin(&["verify", "--check-tags", "--digests", out.to_str().unwrap()]).run();
    assert_eq!(from_file.code, 0, "{}", from_file.all());
    std::fs::write(&out, format!("{text}{}/other:v9@{MISSING}\n", reg.host)).unwrap();
    let bad = chartpin(&["verify", "--digests", out.to_str().unwrap()]).run();
    assert_eq!(bad.code, 1, "{}", bad.all());
    assert!(
        bad.stdout.contains("digests.txt:3:") && bad.stdout.contains("digest-not-found"),
        "{}",
        bad.stdout
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["verify", "not a ref"][..],
        &["verify", "127.0.0.1:1/app:v1"][..],
        &[
            "verify",
            "--platform",
            "linux",
            "127.0.0.1:1/app@sha256:1111111111111111111111111111111111111111111111111111111111111111",
        ][..],
        &[
            "verify",
            "--registry-mirror",
            "nope",
            "127.0.0.1:1/app@sha256:1111111111111111111111111111111111111111111111111111111111111111",
        ][..],
        &[
            "verify",
            "--ca-file",
            "/nonexistent/ca.pem",
            "127.0.0.1:1/app@sha256:1111111111111111111111111111111111111111111111111111111111111111",
        ][..],
    ] {
        let run = chartpin(args).run();
        assert_eq!(run.code, 2, "{args:?}: {}", run.all());
    }
}

/// A chart whose values point at `host`: a Bitnami-style block, a string
/// site, and an `artifacthub.io/images` annotation naming the block's image.
fn write_chart(dir: &std::path::Path, host: &str) -> std::path::PathBuf {
    let chart = dir.join("web");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        format!(
            "apiVersion: v2\nname: web\nversion: 0.1.0\nannotations:\n  artifacthub.io/images: |\n    - name: app\n      image: {host}/app:v1\n"
        ),
    )
    .unwrap();
    std::fs::write(
        chart.join("values.yaml"),
        format!(
            "# web chart\nimage:\n  registry: {host}\n  repository: app\n  tag: v1\n  digest: \"\"\nsidecar:\n  image: {host}/multi:v2\n"
        ),
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: \"{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n        - name: sidecar\n          image: {{ .Values.sidecar.image }}\n",
    )
    .unwrap();
    chart
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` not in:\n{text}"))
        + 1
}

#[test]
fn resolve_pin_verify_round_trip_on_a_chart() {
    let reg = Registry::start();
    let img = reg.push_image("app", Some("v1"), "one");
    let idx = reg.push_index("multi", Some("v2"), "two", &["linux/amd64", "linux/arm64"]);
    let tmp = tempfile::tempdir().unwrap();
    let chart = write_chart(tmp.path(), &reg.host);
    let c = chart.to_str().unwrap();
    let values_path = chart.join("values.yaml");

    // Nothing pinned yet: verify has nothing to check and says so.
    let before = chartpin(&["verify", c]).run();
    assert_eq!(before.code, 0, "{}", before.all());
    assert!(
        before.stdout.contains("verified 0 of 0") && before.stdout.contains("3 unpinned"),
        "{}",
        before.stdout
    );

    // resolve → a ref-lines manifest pin reads.
    let resolved = tmp.path().join("resolved.txt");
    let run = chartpin(&[
        "resolve",
        "--chart",
        c,
        "--output",
        resolved.to_str().unwrap(),
    ])
    .run();
    assert_eq!(run.code, 0, "{}", run.all());
    let text = std::fs::read_to_string(&resolved).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            format!("{}/app:v1@{}", reg.host, img.digest),
            format!("{}/multi:v2@{}", reg.host, idx.digest),
        ]
    );

    // The conventions' round trip (a render would put the digest in the
    // tag, since this template does not read `digest`).
    let pin = chartpin(&[
        "pin",
        c,
        "--digests",
        resolved.to_str().unwrap(),
        "--no-render",
    ])
    .run();
    assert_eq!(pin.code, 0, "{}", pin.all());
    let values = std::fs::read_to_string(&values_path).unwrap();
    assert!(
        values.contains(&format!("  digest: \"{}\"", img.digest)),
        "{values}"
    );
    assert!(
        values.contains(&format!("  image: {}/multi:v2@{}", reg.host, idx.digest)),
        "{values}"
    );

    // Positional PATH and --chart DIR are the same thing.
    for args in [
        &["verify", c][..],
        &["verify", "--chart", c, "--content", "--check-tags"][..],
    ] {
        let ok = chartpin(args).run();
        assert_eq!(ok.code, 0, "{args:?}: {}", ok.all());
        assert!(ok.stdout.contains("verified 2 of 2"), "{}", ok.stdout);
        // The annotation still names the tag only: counted, not verified.
        assert!(ok.stdout.contains("1 unpinned reference"), "{}", ok.stdout);
    }

    // A packaged chart verifies the same.
    let tgz = tmp.path().join("web-0.1.0.tgz");
    crate::support::run_tool(
        "tar",
        &[
            "czf",
            tgz.to_str().unwrap(),
            "-C",
            tmp.path().to_str().unwrap(),
            "web",
        ],
    );
    let packaged = chartpin(&["verify", tgz.to_str().unwrap()]).run();
    assert_eq!(packaged.code, 0, "{}", packaged.all());
    assert!(
        packaged.stdout.contains("verified 2 of 2"),
        "{}",
        packaged.stdout
    );

    // Move the tag: --check-tags reports drift at the digest's line.
    let other = reg.push_image("app", Some("v1"), "moved");
    assert_ne!(other.digest, img.digest);
    let drift = chartpin(&["verify", c, "--check-tags"]).run();
    assert_eq!(drift.code, 1, "{}", drift.all());
    let digest_line = line_of(&values, "digest:");
    assert!(
        drift
            .stdout
            .contains(&format!("values.yaml:{digest_line}:11: error[tag-drift]")),
        "{}",
        drift.stdout
    );
    // Without --check-tags the pinned digest still exists: exit 0.
    assert_eq!(chartpin(&["verify", c]).run().code, 0);

    // Point the digest at one the registry never had: exit 1 at that line.
    std::fs::write(&values_path, values.replace(&img.digest, MISSING)).unwrap();
    let bad = chartpin(&["verify", c]).run();
    assert_eq!(bad.code, 1, "{}", bad.all());
    assert!(
        bad.stdout.contains(&format!(
            "values.yaml:{digest_line}:11: error[digest-not-found]"
        )),
        "{}",
        bad.stdout
    );
    assert!(bad.stdout.contains("= at image.digest"), "{}", bad.stdout);
    assert!(bad.stdout.contains("verified 1 of 2"), "{}", bad.stdout);
}

#[test]
fn pin_resolve_then_verify() {
    let reg = Registry::start();
    let img = reg.push_image("app", Some("v1"), "one");
    let idx = reg.push_index("multi", Some("v2"), "two", &["linux/amd64", "linux/arm64"]);
    let tmp = tempfile::tempdir().unwrap();
    let chart = write_chart(tmp.path(), &reg.host);
    let c = chart.to_str().unwrap();

    let check = chartpin(&["pin", c, "--resolve", "--check"]).run();
    assert_eq!(check.code, 1, "{}", check.all());
    let pin = chartpin(&["pin", c, "--resolve"]).run();
    assert_eq!(pin.code, 0, "{}", pin.all());
    assert!(
        pin.stdout.contains("pinned 2 images in 1 file"),
        "{}",
        pin.stdout
    );
    let values = std::fs::read_to_string(chart.join("values.yaml")).unwrap();
    assert!(
        values.contains(&img.digest) && values.contains(&idx.digest),
        "{values}"
    );
    let ok = chartpin(&["verify", c, "--check-tags"]).run();
    assert_eq!(ok.code, 0, "{}", ok.all());
    assert!(ok.stdout.contains("verified 2 of 2"), "{}", ok.stdout);

    // A tag the registry does not have: exit 1, nothing written.
    let tmp2 = tempfile::tempdir().unwrap();
    let chart2 = write_chart(tmp2.path(), &reg.host);
    let values2 = chart2.join("values.yaml");
    let text2 = std::fs::read_to_string(&values2)
        .unwrap()
        .replace("tag: v1", "tag: v9");
    std::fs::write(&values2, &text2).unwrap();
    let missing = chartpin(&["pin", chart2.to_str().unwrap(), "--resolve"]).run();
    assert_eq!(missing.code, 1, "{}", missing.all());
    assert!(
        missing.stderr.contains("app:v9: tag not found"),
        "{}",
        missing.all()
    );
    assert_eq!(std::fs::read_to_string(&values2).unwrap(), text2);
}

#[test]
fn verify_over_a_chart_renders_sarif_and_github() {
    let reg = Registry::start();
    let img = reg.push_image("app", Some("v1"), "one");
    let tmp = tempfile::tempdir().unwrap();
    let chart = write_chart(tmp.path(), &reg.host);
    let values_path = chart.join("values.yaml");
    let values = std::fs::read_to_string(&values_path)
        .unwrap()
        .replace("digest: \"\"", &format!("digest: \"{MISSING}\""))
        .replace("multi:v2", &format!("multi:v2@{}", img.digest));
    std::fs::write(&values_path, &values).unwrap();
    let c = chart.to_str().unwrap();
    let digest_line = line_of(&values, "digest:");
    let sidecar_line = line_of(&values, "multi:v2@");

    let sarif = chartpin(&["verify", c, "--format", "sarif"]).run();
    assert_eq!(sarif.code, 1, "{}", sarif.all());
    let log: serde_json::Value = serde_json::from_str(&sarif.stdout).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let results = log["runs"][0]["results"].as_array().unwrap();
    // Both references are missing: app by digest, multi because that digest lives in `app`.
    assert_eq!(results.len(), 2, "{}", sarif.stdout);
    let rules: Vec<&str> = results
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["digest-not-found", "digest-not-found"]);
    let loc = &results[0]["locations"][0]["physicalLocation"];
    assert!(
        loc["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("web/values.yaml"),
        "{loc}"
    );
    assert_eq!(loc["region"]["startLine"], digest_line);
    assert_eq!(loc["region"]["startColumn"], 11);
    assert_eq!(results[0]["properties"]["yamlPath"], "image.digest");
    assert_eq!(
        results[1]["locations"][0]["physicalLocation"]["region"]["startLine"],
        sidecar_line
    );

    let github = chartpin(&["verify", c, "--format", "github"]).run();
    assert_eq!(github.code, 1, "{}", github.all());
    let expected = format!(
        "values.yaml,line={digest_line},col=11,title=digest-not-found::{}/app: the registry has no manifest {MISSING} (at image.digest)",
        reg.host
    );
    assert!(
        github
            .stdout
            .lines()
            .any(|l| l.starts_with("::error file=") && l.ends_with(&expected)),
        "{}",
        github.stdout
    );
    assert!(
        github.stdout.contains("chartpin verify: verified 0 of 2"),
        "{}",
        github.stdout
    );

    let json = chartpin(&["verify", c, "--format", "json"]).run();
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["summary"]["checked"], 2);
    assert_eq!(doc["summary"]["verified"], 0);
    assert_eq!(doc["summary"]["unpinned"], 1);
    assert_eq!(doc["summary"]["errors"], 2);
    assert_eq!(doc["findings"][0]["line"], digest_line);
}

#[test]
fn short_manifest_names_take_their_registry_from_the_chart() {
    let reg = Registry::start();
    let img = reg.push_image("app", Some("v1"), "one");
    let tmp = tempfile::tempdir().unwrap();
    let chart = write_chart(tmp.path(), &reg.host);
    let c = chart.to_str().unwrap();
    let digests = tmp.path().join("digests.txt");
    std::fs::write(&digests, format!("app: {}\n", img.digest)).unwrap();
    let d = digests.to_str().unwrap();

    let alone = chartpin(&["verify", "--digests", d]).run();
    assert_eq!(alone.code, 2, "{}", alone.all());
    assert!(alone.stderr.contains("short image name"), "{}", alone.all());

    let with_chart = chartpin(&["verify", "--chart", c, "--digests", d]).run();
    assert_eq!(with_chart.code, 0, "{}", with_chart.all());
    assert!(
        with_chart.stdout.contains("verified 1 of 1"),
        "{}",
        with_chart.stdout
    );

    std::fs::write(&digests, format!("app: {MISSING}\n")).unwrap();
    let bad = chartpin(&["verify", "--chart", c, "--digests", d]).run();
    assert_eq!(bad.code, 1, "{}", bad.all());
    assert!(
        bad.stdout.contains("digests.txt:1:") && bad.stdout.contains(&format!("{}/app", reg.host)),
        "{}",
        bad.stdout
    );

    std::fs::write(&digests, format!("nothing-like-it: {}\n", img.digest)).unwrap();
    let unknown = chartpin(&["verify", "--chart", c, "--digests", d]).run();
    assert_eq!(unknown.code, 2, "{}", unknown.all());
    assert!(
        unknown.stderr.contains("matches no image"),
        "{}",
        unknown.all()
    );
}

#[test]
fn verify_render_checks_the_images_helm_renders_with_the_given_values() {
    let reg = Registry::start();
    let app = reg.push_image("team/app", Some("v1"), "app v1");
    let side = reg.push_image("team/side", Some("v1"), "side v1");
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("c");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: c\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("values.yaml"),
        format!(
            "image: {}\nsidecar: \"\"\n",
            pinned(&reg.host, "team/app", &app.digest)
        ),
    )
    .unwrap();
    // The sidecar renders only when the CI values (or a --set) give it.
    std::fs::write(
        chart.join("templates/pod.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: app\n      image: {{ .Values.image }}\n    {{- with .Values.sidecar }}\n    - name: sidecar\n      image: {{ . }}\n    {{- end }}\n",
    )
    .unwrap();
    let missing = pinned(&reg.host, "team/side", MISSING);
    let ci = dir.path().join("ci.yaml");
    std::fs::write(&ci, format!("sidecar: {missing}\n")).unwrap();
    let (c, ci) = (chart.to_str().unwrap(), ci.to_str().unwrap());
    let run = |args: &[&str]| {
        chartpin(args)
            .env("PATH", crate::support::helm::path_with_helm())
            .run()
    };

    // Statically only the values' image is there, and it exists.
    let fixed = run(&["verify", c, "--values-file", ci]);
    assert_eq!(fixed.code, 0, "{}", fixed.all());
    // Rendered with the CI values, the sidecar's digest is checked too.
    for given in [
        ["--values-file", ci],
        ["--set", &format!("sidecar={missing}")],
    ] {
        let rendered = run(&[
            "verify", c, "--render", given[0], given[1], "--format", "json",
        ]);
        assert_eq!(rendered.code, 1, "{given:?}: {}", rendered.all());
        let doc: serde_json::Value = serde_json::from_str(&rendered.stdout).unwrap();
        let findings = doc["findings"].as_array().unwrap();
        assert_eq!(findings.len(), 1, "{given:?}: {}", rendered.stdout);
        assert_eq!(findings[0]["code"], "digest-not-found");
        assert_eq!(findings[0]["image"], missing.as_str());
        assert!(
            findings[0]["file"]
                .as_str()
                .is_some_and(|f| f.ends_with("templates/pod.yaml")),
            "{given:?}: {}",
            rendered.stdout
        );
    }
    // A sidecar that exists: the render verifies both.
    let present = pinned(&reg.host, "team/side", &side.digest);
    let both = run(&[
        "verify",
        c,
        "--render",
        "--set",
        &format!("sidecar={present}"),
    ]);
    assert_eq!(both.code, 0, "{}", both.all());
    assert!(both.stdout.contains("verified 2 of 2"), "{}", both.stdout);
    // `--render` without helm is a usage error, as lint's is.
    let no_helm = chartpin(&["verify", c, "--render"])
        .env("PATH", "/nonexistent")
        .run();
    assert_eq!(no_helm.code, 2, "{}", no_helm.all());
    assert!(no_helm.stderr.contains("not on PATH"), "{}", no_helm.stderr);
}
