//! Messages that used to leave a first-time user stuck now name the next
//! step, say things once, and one more digest-manifest shape is read:
//! `skopeo inspect` output, made by the real skopeo against a real registry.

use crate::support::cli::{chartpin, temp_chart};
use crate::support::helm;
use crate::support::registry::Registry;

const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

#[test]
fn pin_and_release_of_a_packaged_chart_say_to_use_the_source_directory() {
    let (tmp, dir, _) = temp_chart("image: nginx:1.25\n", "");
    let tgz = helm::package(&dir, tmp.path());
    let log = tmp.path().join("digests.txt");
    std::fs::write(&log, format!("docker.io/library/nginx:1.25@{DIGEST}\n")).unwrap();
    for cmd in ["pin", "release"] {
        let run = chartpin(&[
            cmd,
            tgz.to_str().unwrap(),
            "--digests",
            log.to_str().unwrap(),
        ])
        .run();
        assert_eq!(run.code, 2, "{cmd}: {}", run.all());
        assert!(
            run.stderr.contains(
                "is a file, not a chart directory: pin works on the chart's source directory; \
                 a packaged chart cannot be edited"
            ),
            "{cmd}: {}",
            run.stderr
        );
    }
}

#[test]
fn an_unmatched_entry_points_to_images_rules() {
    let reg = Registry::start();
    let app = reg.push_image("org/app", Some("v1"), "app");
    let (tmp, dir, log) = temp_chart(
        &format!("image: {}/org/app:v1\n", reg.host),
        &format!(
            "{}/org/app:v1@{}\nghcr.io/org/tool:v1@{DIGEST}\n",
            reg.host, app.digest
        ),
    );
    let hint = "add an `images:` rule in .chartpin.yaml: docs/config.md";
    let (d, l) = (dir.to_str().unwrap(), log.to_str().unwrap());
    for cmd in ["pin", "release"] {
        let run = chartpin(&[cmd, d, "--digests", l, "--dry-run"])
            .env("TMPDIR", tmp.path())
            .run();
        assert_eq!(run.code, 0, "{cmd}: {}", run.all());
        let line = run
            .stdout
            .lines()
            .find(|l| l.contains("warning[unmatched-entry]"))
            .unwrap_or_else(|| panic!("{cmd}: {}", run.all()));
        assert!(
            line.contains("ghcr.io/org/tool:v1") && line.contains(hint),
            "{cmd}: {line}"
        );
    }
}

#[test]
fn config_errors_say_error_and_the_position_once() {
    let (_tmp, dir, log) = temp_chart("image: nginx:1.25\n", &format!("nginx:1.25@{DIGEST}\n"));
    std::fs::write(
        dir.join(".chartpin.yaml"),
        "images:\n  - entry: x\n    bogus: 1\n",
    )
    .unwrap();
    let run = chartpin(&[
        "pin",
        dir.to_str().unwrap(),
        "--digests",
        log.to_str().unwrap(),
    ])
    .run();
    assert_eq!(run.code, 2, "{}", run.all());
    let first = run.stderr.lines().next().unwrap();
    assert!(first.starts_with("error: ") && first.ends_with(
        ".chartpin.yaml:3:5: invalid config: unknown field `bogus`, expected one of entry, path, form, clear"
    ), "{first}");
    assert_eq!(first.matches("error").count(), 1, "{first}");
}

#[test]
fn skopeo_inspect_output_is_a_digest_manifest() {
    let reg = Registry::start();
    let app = reg.push_image("org/app", Some("v1"), "app");
    let tool = reg.push_image("org/tool", Some("2.0"), "tool");
    let inspect = |image: &str| {
        let out = std::process::Command::new(crate::support::tool("skopeo"))
            .args(["inspect", "--tls-verify=false"])
            .arg(format!("docker://{}/{image}", reg.host))
            .output()
            .expect("run skopeo");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let (tmp, dir, _) = temp_chart(
        &format!(
            "image: {}/org/app:v1\ntool:\n  image: {}/org/tool:2.0\n",
            reg.host, reg.host
        ),
        "",
    );
    // One object, as `skopeo inspect` prints it, and a list (`jq -s`).
    let one = tmp.path().join("app-inspect.json");
    std::fs::write(&one, inspect("org/app:v1")).unwrap();
    let list = tmp.path().join("all-inspect.json");
    std::fs::write(
        &list,
        format!("[{},\n{}]", inspect("org/app:v1"), inspect("org/tool:2.0")),
    )
    .unwrap();

    let d = dir.to_str().unwrap();
    let single = chartpin(&["pin", d, "--digests", one.to_str().unwrap(), "--dry-run"]).run();
    assert_eq!(single.code, 0, "{}", single.all());
    assert!(
        single
            .stdout
            .contains(&format!("+image: {}/org/app:v1@{}", reg.host, app.digest)),
        "{}",
        single.all()
    );

    let both = chartpin(&["pin", d, "--digests", list.to_str().unwrap()]).run();
    assert_eq!(both.code, 0, "{}", both.all());
    let values = std::fs::read_to_string(dir.join("values.yaml")).unwrap();
    assert!(
        values.contains(&format!("org/tool:2.0@{}", tool.digest)),
        "{values}"
    );
    let verify = chartpin(&["verify", d]).run();
    assert_eq!(verify.code, 0, "{}", verify.all());
    let forced = chartpin(&[
        "verify",
        "--digests",
        list.to_str().unwrap(),
        "--digests-format",
        "skopeo",
    ])
    .run();
    assert_eq!(forced.code, 0, "{}", forced.all());
}

#[test]
fn lint_of_a_directory_says_which_subdirectories_it_did_not_search() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // The only chart sits under node_modules, which the walk does not enter.
    for d in [
        ".git/refs",
        "node_modules/pkg/chart",
        "target/debug",
        "docs",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(
        root.join("node_modules/pkg/chart/Chart.yaml"),
        "apiVersion: v2\nname: n\nversion: 0.1.0\n",
    )
    .unwrap();
    let run = chartpin(&["lint", "."]).current_dir(root).run();
    assert_eq!(run.code, 2, "{}", run.all());
    let err = run.stderr.lines().next().unwrap();
    assert!(err.contains("no chart found"), "{err}");
    assert!(
        err.ends_with(
            "; not searched: ./.git (hidden directory), ./node_modules (npm packages), ./target (build output)"
        ),
        "{err}"
    );

    // With a chart found, -v logs what was not searched; stdout is the report alone.
    std::fs::create_dir_all(root.join("charts/app")).unwrap();
    std::fs::write(
        root.join("charts/app/Chart.yaml"),
        "apiVersion: v2\nname: app\nversion: 0.1.0\n",
    )
    .unwrap();
    let run = chartpin(&["lint", ".", "-v"]).current_dir(root).run();
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr
            .contains("not searched for charts: ./node_modules (npm packages)"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("not searched"), "{}", run.stdout);
}
