//! chartpin against registries that misbehave on purpose (issue 10 items 1,
//! 2 and 9; issue 11's `-q`/`-v`): credential files of the wrong shape,
//! redirects to other hosts, token realms on other hosts and schemes,
//! redirect loops, HEAD answered 405, registries that never answer. The
//! misbehaving servers are [`Hostile`] servers on 127.0.0.1 that record
//! every request, `Authorization` included; the well-behaved ones are the
//! real registry of the harness. Every run is checked for secrets in all of
//! its output, at the highest verbosity.

use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::json;

use crate::support::cli::{Run, chartpin, temp_chart};
use crate::support::hostile::{Hostile, Reply, Seen};
use crate::support::registry::{Auth, OCI_MANIFEST, Options, Registry, sha256};

const USER: &str = "leaky";
const PASSWORD: &str = "pw-S3cr3t-9917";
/// A number standing where a password should be: a secret too.
const NUMBER_SECRET: &str = "99170099";
const MISSING: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
/// A small manifest a hostile registry serves.
/// A minimal valid image manifest (verify classifies what it reads: an image).
const MANIFEST: &[u8] = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// chartpin in a clean environment (the shared runner) with `env` added.
fn run_with(args: &[&str], env: &[(&str, &str)]) -> Run {
    chartpin(args).envs(env).run()
}

/// Panics if any of `secrets`, or the base64 of `USER:PASSWORD`, shows anywhere.
fn assert_hidden(run: &Run, secrets: &[&str]) {
    let all = run.all();
    let pair = b64(&format!("{USER}:{PASSWORD}"));
    for s in secrets.iter().copied().chain([PASSWORD, pair.as_str()]) {
        assert!(!all.contains(s), "`{s}` leaked:\n{all}");
    }
}

/// A Docker config directory holding `config` as `config.json`.
fn docker_config(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), config).unwrap();
    dir
}

/// A config with `USER:PASSWORD` for `host` in `auths`.
fn credentials_for(host: &str) -> tempfile::TempDir {
    docker_config(
        &json!({"auths": {host: {"auth": b64(&format!("{USER}:{PASSWORD}"))}}}).to_string(),
    )
}

/// A plain-HTTP registry checking `auth`.
fn plain_registry(auth: Auth) -> Registry {
    Registry::start_with(Options { auth, tls: false })
}

fn manifest_requests(seen: &[Seen]) -> usize {
    seen.iter()
        .filter(|s| s.path().contains("/manifests/"))
        .count()
}

#[test]
fn malformed_credential_files_exit_2_naming_file_and_key_never_the_value() {
    let auth = b64(&format!("{USER}:{PASSWORD}"));
    // (file text, key path named, whether podman's auth.json reads that key too)
    let cases: Vec<(String, &str, bool)> = vec![
        (
            json!({"auths": {"reg:5000": auth}}).to_string(),
            r#"`auths."reg:5000"` must be an object"#,
            true,
        ),
        (
            format!(
                r#"{{"auths":{{"reg:5000":{{"username":"{USER}","password":{NUMBER_SECRET}}}}}}}"#
            ),
            r#"`auths."reg:5000".password` must be a string, found a number"#,
            true,
        ),
        (
            json!({"auths": {"reg:5000": {"auth": [auth]}}}).to_string(),
            r#"`auths."reg:5000".auth` must be a string"#,
            true,
        ),
        (
            json!({"auths": [auth]}).to_string(),
            "`auths` must be an object",
            true,
        ),
        (
            json!(auth).to_string(),
            "must be an object at the top level, found a string",
            true,
        ),
        (
            json!({"credHelpers": {"reg:5000": {"s": PASSWORD}}}).to_string(),
            r#"`credHelpers."reg:5000"` must be a string"#,
            false,
        ),
        (
            format!(r#"{{"credsStore":{NUMBER_SECRET}}}"#),
            "`credsStore` must be a string",
            false,
        ),
        (
            format!(r#"{{"auths":{{"reg:5000":{{"auth":"{auth}" {PASSWORD}}}}}}}"#),
            "invalid JSON at line 1, column",
            true,
        ),
        (
            format!(r#"{{"auths":{{"reg:5000":{{"auth":"{auth}"#),
            "JSON that ends too early",
            true,
        ),
    ];
    let target = format!("127.0.0.1:9/app@{MISSING}");
    for (text, key, podman_too) in &cases {
        let docker = docker_config(text);
        let file = docker.path().join("config.json");
        let mut runs = Vec::new();
        for cmd in [
            &["-vvv", "verify", &target][..],
            &["resolve", "-vvv", "127.0.0.1:9/app:v1"],
        ] {
            runs.push(run_with(
                cmd,
                &[("DOCKER_CONFIG", docker.path().to_str().unwrap())],
            ));
        }
        if *podman_too {
            let run = run_with(
                &["-vvv", "verify", &target],
                &[("REGISTRY_AUTH_FILE", file.to_str().unwrap())],
            );
            runs.push(run);
        }
        for run in &runs {
            assert_eq!(run.code, 2, "{text}\n{}", run.all());
            let file = file.display().to_string();
            assert!(
                run.stderr.contains(&file) && run.stderr.contains(key),
                "{text}\n{}",
                run.all()
            );
            assert_hidden(run, &[&auth, NUMBER_SECRET]);
        }
    }
    // pin --resolve and release load credentials the same way.
    let (_tmp, chart, digests) = temp_chart("image: 127.0.0.1:9/app:v1\n", "");
    let docker = docker_config(&cases[0].0);
    let env = [("DOCKER_CONFIG", docker.path().to_str().unwrap())];
    let chart = chart.to_str().unwrap();
    for cmd in [
        &["pin", chart, "--resolve", "-vvv"][..],
        &[
            "release",
            "--chart",
            chart,
            "--digests",
            digests.to_str().unwrap(),
            "-vvv",
        ],
    ] {
        let run = run_with(cmd, &env);
        assert_eq!(run.code, 2, "{cmd:?}\n{}", run.all());
        assert!(
            run.stderr.contains(r#"auths."reg:5000""#),
            "{cmd:?}\n{}",
            run.all()
        );
        assert_hidden(&run, &[&auth]);
    }
}

#[test]
fn documented_credential_shapes_authenticate_and_never_show_at_the_highest_verbosity() {
    let reg = plain_registry(Auth::Htpasswd {
        user: USER.into(),
        password: PASSWORD.into(),
    });
    let img = reg.push_image("app", Some("v1"), "shapes");
    let target = format!("{}/app:v1@{}", reg.host, img.digest);
    let auth = b64(&format!("{USER}:{PASSWORD}"));
    let host = reg.host.clone();
    let bin = tempfile::tempdir().unwrap();
    let helper = bin.path().join("docker-credential-shape");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread key\nprintf '{{\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}'\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let docker_shapes = [
        json!({"auths": {&host: {"auth": auth}}}),
        json!({"auths": {format!("http://{host}/v1/"): {"auth": auth, "email": null, "identitytoken": null}},
               "HttpHeaders": {"User-Agent": "x"}, "currentContext": "default"}),
        json!({"auths": {&host: {"username": USER, "password": PASSWORD}}}),
        json!({"credHelpers": {&host: "shape"}}),
        json!({"credsStore": "shape", "auths": {&host: {}}}),
    ];
    for shape in &docker_shapes {
        let dir = docker_config(&shape.to_string());
        let env = [
            ("DOCKER_CONFIG", dir.path().to_str().unwrap()),
            ("PATH", path.as_str()),
        ];
        let run = run_with(&["-vvv", "verify", "--content", &target], &env);
        assert_eq!(run.code, 0, "{shape}\n{}", run.all());
        assert!(
            run.stderr.contains("Basic auth"),
            "no auth log at -vvv:\n{}",
            run.all()
        );
        assert_hidden(&run, &[&auth]);
    }
    let podman = docker_config(&json!({"auths": {&host: {"auth": auth}}}).to_string());
    let file = podman.path().join("config.json");
    let run = run_with(
        &["-vvv", "verify", &target],
        &[("REGISTRY_AUTH_FILE", file.to_str().unwrap())],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr.contains(&format!("auths in {}", file.display())),
        "{}",
        run.all()
    );
    assert_hidden(&run, &[&auth]);

    // Token auth: neither the password nor any token issued shows.
    let reg = plain_registry(Auth::Token {
        user: USER.into(),
        password: PASSWORD.into(),
    });
    let img = reg.push_image("app", Some("v1"), "token-shapes");
    let dir = credentials_for(&reg.host);
    let run = run_with(
        &[
            "verify",
            "-vvv",
            "--content",
            "--check-tags",
            &format!("{}/app:v1@{}", reg.host, img.digest),
        ],
        &[("DOCKER_CONFIG", dir.path().to_str().unwrap())],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr.contains("Bearer token for repository:app:pull")
            && run.stderr.contains("HTTP 200 in"),
        "no auth or request log at -vvv:\n{}",
        run.all()
    );
    let issued = reg
        .token_issuer
        .as_ref()
        .unwrap()
        .issued
        .lock()
        .unwrap()
        .clone();
    assert!(!issued.is_empty(), "no token was issued");
    let issued: Vec<&str> = issued.iter().map(String::as_str).collect();
    assert_hidden(&run, &issued);
    assert!(!run.all().contains("Bearer ey"), "{}", run.all());
}

#[test]
fn a_redirect_target_and_its_token_realm_never_receive_the_registry_credentials() {
    let digest = sha256(MANIFEST);
    // C: a token service that hands out a token to anyone.
    let c = Hostile::start(|_| {
        Reply::ok(br#"{"token":"tok-from-c"}"#).with("Content-Type", "application/json")
    });
    // B: where A redirects; it wants a token from C.
    let realm = format!("{}/token", c.url());
    let d = digest.clone();
    let b = Hostile::start(move |s| match s.authorization() {
        Some("Bearer tok-from-c") => Reply::ok(MANIFEST)
            .with("Docker-Content-Digest", &d)
            .with("Content-Type", OCI_MANIFEST),
        _ => Reply::challenge(&format!(r#"Bearer realm="{realm}",service="b""#)),
    });
    // A: the registry the credentials are for; once authenticated it redirects to B.
    let basic = format!("Basic {}", b64(&format!("{USER}:{PASSWORD}")));
    let to_b = b.url();
    let a = Hostile::start(move |s| {
        if s.authorization() == Some(basic.as_str()) {
            Reply::redirect(307, &format!("{to_b}{}", s.target))
        } else {
            Reply::challenge(r#"Basic realm="a""#)
        }
    });
    let dir = credentials_for(&a.host);
    let run = run_with(
        &["-vvv", "verify", &format!("{}/app@{digest}", a.host)],
        &[("DOCKER_CONFIG", dir.path().to_str().unwrap())],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert_hidden(&run, &["tok-from-c"]);
    assert!(
        a.seen()
            .iter()
            .any(|s| s.authorization().is_some_and(|v| v.starts_with("Basic "))),
        "A never got its own credentials: {:?}",
        a.seen()
    );
    let at_b = b.seen();
    assert!(!at_b.is_empty(), "A's redirect was not followed");
    for s in &at_b {
        assert!(
            matches!(s.authorization(), None | Some("Bearer tok-from-c")),
            "B received {s:?}"
        );
    }
    let at_c = c.seen();
    assert!(!at_c.is_empty(), "B's challenge was not answered");
    for s in &at_c {
        assert_eq!(s.authorization(), None, "C received A's credentials: {s:?}");
    }
}

#[test]
fn forbidden_token_realms_are_refused_at_once_without_retries() {
    let digest = sha256(MANIFEST);
    for (realm, says) in [
        ("ftp://127.0.0.1:9/token", "scheme `ftp` is not allowed"),
        ("file:///etc/passwd", "scheme `file` is not allowed"),
        (
            "http://tokens.invalid:8080/token",
            "refusing to send credentials to a plain-HTTP token service (tokens.invalid:8080)",
        ),
    ] {
        let challenge = format!(r#"Bearer realm="{realm}",service="a""#);
        let a = Hostile::start(move |_| Reply::challenge(&challenge));
        let dir = credentials_for(&a.host);
        let run = run_with(
            &["-vv", "verify", &format!("{}/app@{digest}", a.host)],
            &[("DOCKER_CONFIG", dir.path().to_str().unwrap())],
        );
        assert_eq!(run.code, 3, "{realm}\n{}", run.all());
        assert!(
            run.stdout.contains("auth-failed") && run.stdout.contains(says),
            "{realm}\n{}",
            run.all()
        );
        assert!(
            !run.stderr.contains("retrying"),
            "{realm}: retried\n{}",
            run.all()
        );
        assert_eq!(manifest_requests(&a.seen()), 1, "{realm}: {:?}", a.seen());
        assert_hidden(&run, &[]);
    }
}

#[test]
fn redirect_loops_and_downgrades_are_final() {
    let digest = sha256(MANIFEST);
    let b_url = Arc::new(OnceLock::<String>::new());
    let to_b = b_url.clone();
    let a = Hostile::start(move |s| {
        Reply::redirect(307, &format!("{}{}", to_b.get().unwrap(), s.target))
    });
    let to_a = a.url();
    let b = Hostile::start(move |s| Reply::redirect(302, &format!("{to_a}{}", s.target)));
    b_url.set(b.url()).unwrap();
    let run = run_with(&["-v", "verify", &format!("{}/app@{digest}", a.host)], &[]);
    assert_eq!(run.code, 3, "{}", run.all());
    assert!(run.stdout.contains("redirect loop"), "{}", run.all());
    assert!(!run.stderr.contains("retrying"), "{}", run.all());
    assert_eq!(manifest_requests(&a.seen()), 1, "{:?}", a.seen());
    assert_eq!(manifest_requests(&b.seen()), 1, "{:?}", b.seen());

    // A redirect to plain HTTP on a host that is neither loopback nor insecure is not followed.
    let down =
        Hostile::start(|s| Reply::redirect(301, &format!("http://registry.invalid{}", s.target)));
    let run = run_with(&["verify", &format!("{}/app@{digest}", down.host)], &[]);
    assert_eq!(run.code, 3, "{}", run.all());
    assert!(
        run.stdout
            .contains("redirected to plain HTTP at registry.invalid"),
        "{}",
        run.all()
    );
    assert_eq!(manifest_requests(&down.seen()), 1, "{:?}", down.seen());
}

#[test]
fn head_answered_405_is_asked_again_as_get() {
    let digest = sha256(MANIFEST);
    for header in [false, true] {
        let d = digest.clone();
        let a = Hostile::start(move |s| {
            let known = s.path().ends_with(&d) || s.path().ends_with("/manifests/v1");
            match (s.method.as_str(), known) {
                ("HEAD", _) => Reply::status(405),
                (_, false) => Reply::status(404),
                (_, true) if header => Reply::ok(MANIFEST).with("Docker-Content-Digest", &d),
                (_, true) => Reply::ok(MANIFEST),
            }
        });
        let ok = run_with(&["verify", &format!("{}/app@{digest}", a.host)], &[]);
        assert_eq!(ok.code, 0, "{}", ok.all());
        // With a tag, verify also asks where the tag points (is an index
        // meant?): that HEAD is answered 405 and asked again as GET.
        let tagged = run_with(&["verify", &format!("{}/app:v1@{digest}", a.host)], &[]);
        assert_eq!(tagged.code, 0, "{}", tagged.all());
        let missing = run_with(&["verify", &format!("{}/app@{MISSING}", a.host)], &[]);
        assert_eq!(missing.code, 1, "{}", missing.all());
        assert!(
            missing.stdout.contains("digest-not-found"),
            "{}",
            missing.all()
        );
        let resolved = run_with(&["-v", "resolve", &format!("{}/app:v1", a.host)], &[]);
        assert_eq!(resolved.code, 0, "{}", resolved.all());
        assert_eq!(
            resolved.stdout.trim(),
            format!("{}/app:v1@{digest}", a.host)
        );
        assert!(
            resolved
                .stderr
                .contains("answered HTTP 405; asking again with GET"),
            "{}",
            resolved.all()
        );
        // verify reads a pinned digest with GET (its kind needs the body),
        // so the HEADs are the tag's and resolve's.
        let methods: Vec<String> = a.seen().into_iter().map(|s| s.method).collect();
        assert_eq!(
            methods.iter().filter(|m| *m == "HEAD").count(),
            2,
            "{methods:?}"
        );
    }
}

#[test]
fn client_errors_are_final_and_asked_once() {
    let digest = sha256(MANIFEST);
    for (status, exit) in [(400, 3), (404, 1), (410, 3), (501, 3)] {
        let a = Hostile::start(move |_| Reply::status(status));
        let run = run_with(&["-v", "verify", &format!("{}/app@{digest}", a.host)], &[]);
        assert_eq!(run.code, exit, "{status}\n{}", run.all());
        assert!(!run.stderr.contains("retrying"), "{status}\n{}", run.all());
        assert_eq!(manifest_requests(&a.seen()), 1, "{status}: {:?}", a.seen());
    }
}

/// Run chartpin, killing it (and failing) if it is still running after `limit`.
fn run_within(args: &[&str], limit: Duration) -> Run {
    let home = tempfile::tempdir().unwrap();
    let mut child = chartpin(args)
        .home(home.path())
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chartpin");
    let started = Instant::now();
    while child.try_wait().expect("wait for chartpin").is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chartpin {args:?} still running after {limit:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Run::from_output(child.wait_with_output().expect("chartpin output"))
}

#[test]
fn a_registry_that_never_answers_ends_within_the_deadline() {
    let silent = Hostile::silent();
    let pinned = format!("{}/app@{}", silent.host, sha256(MANIFEST));
    let tagged = format!("{}/app:v1", silent.host);
    for args in [
        &["verify", "--timeout", "1", "--deadline", "3", &pinned][..],
        // The default --timeout (30 s) is cut short by the deadline.
        &["verify", "--deadline", "2", &pinned],
        &["resolve", "--timeout", "1", "--deadline", "3", &tagged],
    ] {
        let run = run_within(args, Duration::from_secs(20));
        assert_eq!(run.code, 3, "{args:?}\n{}", run.all());
        assert!(run.all().contains("--deadline"), "{args:?}\n{}", run.all());
    }
    assert!(
        silent.connections() > 0,
        "the silent registry was never asked"
    );
    let bad = run_with(&["verify", "--deadline", "0", &pinned], &[]);
    assert_eq!(bad.code, 2, "{}", bad.all());
}

#[test]
fn quiet_leaves_only_errors_on_stderr_and_verbose_logs_registry_work() {
    let reg = Registry::start();
    let img = reg.push_image("app", Some("v1"), "quiet");
    let values = format!(
        "a:\n  image:\n    repository: {h}/app\nb:\n  image: {h}/app:v1\n",
        h = reg.host
    );
    let (_tmp, chart, _) = temp_chart(&values, "");
    let chart = chart.to_str().unwrap();
    let expected = format!("{}/app:v1@{}\n", reg.host, img.digest);

    let plain = run_with(&["resolve", chart], &[]);
    assert_eq!(
        (plain.code, plain.stdout.as_str()),
        (0, expected.as_str()),
        "{}",
        plain.all()
    );
    assert!(plain.stderr.contains("note:"), "{}", plain.all());
    for quiet in [
        &["-q", "resolve", chart][..],
        &["resolve", "--quiet", chart],
    ] {
        let run = run_with(quiet, &[]);
        assert_eq!(
            (run.code, run.stdout.as_str()),
            (0, expected.as_str()),
            "{}",
            run.all()
        );
        assert_eq!(run.stderr, "", "{quiet:?}");
    }
    let errors = run_with(&["-q", "resolve", &format!("{}/app:nope", reg.host)], &[]);
    assert_eq!(errors.code, 1, "{}", errors.all());
    assert!(errors.stderr.starts_with("error: "), "{}", errors.all());

    let verbose = run_with(&["resolve", "-vv", chart], &[]);
    assert_eq!(verbose.stdout, expected, "{}", verbose.all());
    let request_log = format!("HEAD http://{}/v2/app/manifests/v1: HTTP 200 in ", reg.host);
    assert!(verbose.stderr.contains(&request_log), "{}", verbose.all());
    assert!(!plain.stderr.contains("HTTP 200"), "{}", plain.all());

    let both = run_with(&["-q", "-v", "resolve", chart], &[]);
    assert_eq!(both.code, 2, "{}", both.all());
}
