//! The use cases as users meet them through the binary: one JSON envelope
//! for every command (validated against docs/chartpin.schema.json), the
//! per-chart lock, what the one writer keeps and refuses, a stdout closed
//! early, and a release whose manifest matches nothing.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::release::chart_for;
use crate::support::cli::{Chartpin, Run, chartpin, temp_chart};
use crate::support::registry::Registry;

const SCHEMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/chartpin.schema.json");
const NOBODY: u32 = 65534;

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

/// chartpin's clean environment with HOME and TMPDIR at `home`.
fn in_home(args: &[&str], home: &Path) -> Chartpin {
    chartpin(args)
        .home(home)
        .env("TMPDIR", home)
        .env_remove(chartpin::lock::TIMEOUT_ENV)
}

/// [`in_home`], run to completion.
fn run_in(args: &[&str], home: &Path) -> Run {
    in_home(args, home).run()
}

/// Every `sha256:<hex>` in `text`, in order.
fn digests_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("sha256:") {
        let d: String = rest[i..].chars().take(7 + 64).collect();
        out.push(d);
        rest = &rest[i + 7..];
    }
    out
}

/// Panics unless `stdout` parses and validates against docs/chartpin.schema.json
/// as `command`'s document; returns it.
fn valid_document(command: &str, stdout: &str) -> serde_json::Value {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(SCHEMA).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let doc: serde_json::Value = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("{command}: not JSON ({e}):\n{stdout}"));
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{command}: {errors:#?}\n{doc:#}");
    assert_eq!(doc["command"], command);
    assert_eq!(doc["schema_version"], 1);
    doc
}

/// The `image` of the document's `unmatched-entry` finding.
fn unmatched_entry_image(doc: &serde_json::Value) -> &str {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "unmatched-entry")
        .and_then(|f| f["image"].as_str())
        .unwrap_or_else(|| panic!("no unmatched-entry finding in {doc:#}"))
}

#[test]
fn every_command_prints_one_envelope_that_the_schema_accepts() {
    let reg = Registry::start();
    let web = reg.push_image("shop/web", Some("1.0"), "web 1.0");
    let tool = reg.push_image("shop/tool", Some("2.1"), "tool 2.1");
    let dir = tempfile::tempdir().unwrap();
    let chart = chart_for(&reg.host, dir.path());
    let c = chart.to_str().unwrap();
    let digests = dir.path().join("digests.txt");
    std::fs::write(
        &digests,
        format!(
            "{h}/shop/web:1.0@{}\n{h}/shop/tool:2.1@{}\n{h}/shop/unused:1@{}\n",
            web.digest,
            tool.digest,
            digest('7'),
            h = reg.host
        ),
    )
    .unwrap();
    let d = digests.to_str().unwrap();

    let lint = run_in(&["lint", c, "--format", "json"], dir.path());
    assert_eq!(lint.code, 1, "{}", lint.all());
    let doc = valid_document("lint", &lint.stdout);
    assert!(doc["summary"]["files_checked"].as_u64().unwrap() >= 2);

    let pin = run_in(
        &["pin", c, "--digests", d, "--dry-run", "--format", "json"],
        dir.path(),
    );
    assert_eq!(pin.code, 0, "{}", pin.all());
    let doc = valid_document("pin", &pin.stdout);
    // files_checked is a number in every command now (it was null in pin).
    assert_eq!(doc["summary"]["files_checked"], 1);
    assert_eq!(doc["summary"]["pinned"], 2);
    // unmatched-entry's finding names the entry's full reference, digest included.
    let unused = format!("{}/shop/unused:1@{}", reg.host, digest('7'));
    assert_eq!(unmatched_entry_image(&doc), unused);

    let release = run_in(
        &[
            "release",
            c,
            "--digests",
            d,
            "--dry-run",
            "--format",
            "json",
        ],
        dir.path(),
    );
    assert_eq!(release.code, 0, "{}", release.all());
    let doc = valid_document("release", &release.stdout);
    assert_eq!(doc["summary"]["verified"], 2);
    assert_eq!(doc["summary"]["written"], false);
    assert_eq!(
        unmatched_entry_image(&doc),
        unused,
        "release words unmatched-entry as pin does"
    );

    let pinned = format!("{}/shop/web:1.0@{}", reg.host, web.digest);
    let verify = run_in(&["verify", &pinned, "--format", "json"], dir.path());
    assert_eq!(verify.code, 0, "{}", verify.all());
    let doc = valid_document("verify", &verify.stdout);
    assert_eq!(doc["summary"]["verified"], 1);
    assert_eq!(doc["summary"]["files_checked"], 0);

    let tag = format!("{}/shop/tool:2.1", reg.host);
    let resolve = run_in(&["resolve", &tag, "--format", "json"], dir.path());
    assert_eq!(resolve.code, 0, "{}", resolve.all());
    let doc = valid_document("resolve", &resolve.stdout);
    assert_eq!(doc["summary"]["resolved"], 1);
    assert_eq!(
        doc["entries"][0]["reference"],
        format!("{tag}@{}", tool.digest)
    );
    // Human (the default) still prints the manifest itself.
    let human = run_in(&["resolve", &tag], dir.path());
    assert_eq!(human.stdout, format!("{tag}@{}\n", tool.digest));
    // A tag that is not there: exit 1, and JSON says which.
    let missing = format!("{}/shop/tool:9.9", reg.host);
    let gone = run_in(&["resolve", &missing, "--format", "json"], dir.path());
    assert_eq!(gone.code, 1, "{}", gone.all());
    let doc = valid_document("resolve", &gone.stdout);
    assert_eq!(doc["failures"][0]["image"], missing);
    assert_eq!(doc["failures"][0]["unanswered"], false);
}

#[test]
fn summary_keys_and_types_are_the_same_in_every_command() {
    let (tmp, chart, digests) = temp_chart("image: nginx:1.27\n", "");
    std::fs::write(&digests, format!("nginx:1.27@{}\n", digest('1'))).unwrap();
    let (c, d) = (chart.to_str().unwrap(), digests.to_str().unwrap());
    let shape = |doc: &serde_json::Value| -> Vec<(String, &'static str)> {
        doc["summary"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let t = match v {
                    serde_json::Value::Bool(_) => "bool",
                    serde_json::Value::Number(_) => "number",
                    serde_json::Value::Object(_) => "object",
                    _ => "other",
                };
                (k.clone(), t)
            })
            .collect()
    };
    let lint = run_in(&["lint", c, "--format", "json"], tmp.path());
    let pin = run_in(
        &["pin", c, "--digests", d, "--check", "--format", "json"],
        tmp.path(),
    );
    let lint = valid_document("lint", &lint.stdout);
    let pin = valid_document("pin", &pin.stdout);
    assert_eq!(shape(&lint), shape(&pin));
    assert!(shape(&lint).iter().all(|(_, t)| *t != "other"), "{lint:#}");
}

#[test]
fn a_release_whose_manifest_matches_nothing_fails_saying_so() {
    let (tmp, chart, digests) = temp_chart(
        "image: nginx:1.27@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
        "",
    );
    std::fs::write(&digests, format!("ghcr.io/org/other:1@{}\n", digest('2'))).unwrap();
    let before = std::fs::read_to_string(chart.join("values.yaml")).unwrap();
    let out = run_in(
        &[
            "release",
            chart.to_str().unwrap(),
            "--digests",
            digests.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout.contains(
            "not released: no entry of the digest manifest matched an image in the chart"
        ),
        "{}",
        out.all()
    );
    assert!(
        out.stdout.contains("error[unmatched-entry]"),
        "{}",
        out.all()
    );
    assert!(!out.stdout.contains("nothing to release"), "{}", out.all());
    assert_eq!(
        std::fs::read_to_string(chart.join("values.yaml")).unwrap(),
        before
    );
}

#[test]
fn a_chart_locked_by_another_run_is_refused_with_exit_2() {
    let (tmp, chart, digests) = temp_chart("image: nginx:1.27\n", "");
    std::fs::write(&digests, format!("nginx:1.27@{}\n", digest('3'))).unwrap();
    let holder = std::fs::File::open(chart.canonicalize().unwrap()).unwrap();
    holder.try_lock().expect("the test takes the chart's lock");
    let args = [
        "pin",
        chart.to_str().unwrap(),
        "--digests",
        digests.to_str().unwrap(),
    ];
    let started = Instant::now();
    let out = in_home(&args, tmp.path())
        .env(chartpin::lock::TIMEOUT_ENV, "1")
        .run();
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(out.stderr.contains("another chartpin run"), "{}", out.all());
    assert_eq!(
        std::fs::read_to_string(chart.join("values.yaml")).unwrap(),
        "image: nginx:1.27\n"
    );
    // Released, the same run goes through.
    drop(holder);
    let out = run_in(&args, tmp.path());
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        std::fs::read_to_string(chart.join("values.yaml"))
            .unwrap()
            .contains(&digest('3'))
    );
}

#[test]
fn concurrent_releases_never_mix_their_manifests() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let chart = chart_for(&reg.host, dir.path());
    let (a, b, set_a, set_b) = two_manifests(&reg, dir.path());
    let c = chart.to_str().unwrap();
    for round in 0..30 {
        let spawn = |m: &Path| {
            in_home(
                &[
                    "release",
                    c,
                    "--digests",
                    m.to_str().unwrap(),
                    "--format",
                    "human",
                ],
                dir.path(),
            )
            // Generous under load: the point is that the second run waits.
            .env(chartpin::lock::TIMEOUT_ENV, "120")
            .command()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        };
        let (first, second) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let (p1, p2) = (spawn(first), spawn(second));
        for p in [p1, p2] {
            let out = Run::from_output(p.wait_with_output().unwrap());
            assert_eq!(out.code, 0, "round {round}: {}", out.all());
            assert!(
                !out.stderr.contains("No such file"),
                "round {round}: {}",
                out.all()
            );
        }
        let values = std::fs::read_to_string(chart.join("values.yaml")).unwrap();
        let meta = std::fs::read_to_string(chart.join("Chart.yaml")).unwrap();
        let mut seen = digests_in(&values);
        seen.extend(digests_in(&meta));
        assert_eq!(seen.len(), 4, "round {round}:\n{values}\n{meta}");
        let from_a = seen.iter().all(|d| set_a.contains(d));
        let from_b = seen.iter().all(|d| set_b.contains(d));
        assert!(
            from_a || from_b,
            "round {round}: a mixed result:\n{values}\n{meta}"
        );
    }
}

/// Two digest manifests for the release fixture at `reg`, `a.txt` and
/// `b.txt` in `dir`, naming different pushed builds: (a, b, a's digests, b's).
fn two_manifests(reg: &Registry, dir: &Path) -> (PathBuf, PathBuf, [String; 2], [String; 2]) {
    let web_a = reg.push_image("shop/web", Some("1.0"), "web a");
    let web_b = reg.push_image("shop/web", Some("1.0-b"), "web b");
    let tool_a = reg.push_image("shop/tool", Some("2.1"), "tool a");
    let tool_b = reg.push_image("shop/tool", Some("2.1-b"), "tool b");
    let manifest = |name: &str, web: &str, tool: &str| {
        let p = dir.join(name);
        std::fs::write(
            &p,
            format!(
                "{h}/shop/web:1.0@{web}\n{h}/shop/tool:2.1@{tool}\n",
                h = reg.host
            ),
        )
        .unwrap();
        p
    };
    (
        manifest("a.txt", &web_a.digest, &tool_a.digest),
        manifest("b.txt", &web_b.digest, &tool_b.digest),
        [web_a.digest, tool_a.digest],
        [web_b.digest, tool_b.digest],
    )
}

#[test]
fn a_release_waits_for_the_one_holding_the_chart_and_plans_from_its_result() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let chart = chart_for(&reg.host, dir.path());
    let (a, b, set_a, set_b) = two_manifests(&reg, dir.path());
    // A helm that says when it starts and then takes its time: run A holds
    // the chart's lock while its rendered lint waits on it.
    let slow = dir.path().join("slow-bin");
    std::fs::create_dir(&slow).unwrap();
    let started = dir.path().join("helm-started");
    std::fs::write(
        slow.join("helm"),
        format!(
            "#!/bin/sh\ntouch '{}'\nsleep 2\nexec '{}' \"$@\"\n",
            started.display(),
            crate::support::helm::helm().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(slow.join("helm"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = std::env::join_paths(std::iter::once(slow.clone()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let c = chart.to_str().unwrap();
    let first = in_home(
        &["release", c, "--digests", a.to_str().unwrap(), "--render"],
        dir.path(),
    )
    .env("PATH", &path)
    .env(chartpin::lock::TIMEOUT_ENV, "120")
    .command()
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !started.exists() {
        assert!(
            Instant::now() < deadline,
            "the first release never ran helm"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = in_home(
        &[
            "release",
            c,
            "--digests",
            b.to_str().unwrap(),
            "--format",
            "human",
        ],
        dir.path(),
    )
    .env(chartpin::lock::TIMEOUT_ENV, "120")
    .run();
    let first = Run::from_output(first.wait_with_output().unwrap());
    assert_eq!(first.code, 0, "first: {}", first.all());
    assert_eq!(second.code, 0, "second: {}", second.all());
    assert!(
        second
            .stderr
            .contains("another chartpin run holds this chart's lock"),
        "{}",
        second.all()
    );
    // The second planned from what the first wrote: its old references are A's.
    for d in &set_a {
        assert!(second.stdout.contains(d.as_str()), "{d}: {}", second.all());
    }
    let values = std::fs::read_to_string(chart.join("values.yaml")).unwrap();
    let meta = std::fs::read_to_string(chart.join("Chart.yaml")).unwrap();
    let mut seen = digests_in(&values);
    seen.extend(digests_in(&meta));
    assert_eq!(seen.len(), 4, "{values}\n{meta}");
    assert!(seen.iter().all(|d| set_b.contains(d)), "{values}\n{meta}");
}

#[test]
fn pin_keeps_owner_and_mode_and_refuses_hard_links() {
    let (tmp, chart, digests) = temp_chart("image: nginx:1.27\n", "");
    std::fs::write(&digests, format!("nginx:1.27@{}\n", digest('4'))).unwrap();
    let values = chart.join("values.yaml");
    std::os::unix::fs::chown(&values, Some(NOBODY), Some(NOBODY)).unwrap();
    std::fs::set_permissions(&values, std::fs::Permissions::from_mode(0o640)).unwrap();
    let args = [
        "pin",
        chart.to_str().unwrap(),
        "--digests",
        digests.to_str().unwrap(),
    ];
    let out = run_in(&args, tmp.path());
    assert_eq!(out.code, 0, "{}", out.all());
    let meta = std::fs::metadata(&values).unwrap();
    assert!(
        std::fs::read_to_string(&values)
            .unwrap()
            .contains(&digest('4'))
    );
    assert_eq!((meta.uid(), meta.gid()), (NOBODY, NOBODY), "owner lost");
    assert_eq!(meta.mode() & 0o7777, 0o640, "mode lost");

    // A second name for values.yaml: refused, both names untouched.
    std::fs::write(&digests, format!("nginx:1.27@{}\n", digest('5'))).unwrap();
    let other = tmp.path().join("values-link.yaml");
    std::fs::hard_link(&values, &other).unwrap();
    let before = std::fs::read_to_string(&values).unwrap();
    let out = run_in(&args, tmp.path());
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("hard links"), "{}", out.all());
    assert_eq!(std::fs::read_to_string(&values).unwrap(), before);
    assert_eq!(std::fs::read_to_string(&other).unwrap(), before);
    assert_eq!(std::fs::metadata(&values).unwrap().nlink(), 2);
}

/// Run `prepared` (its arguments and environment) as nobody:nogroup, from a
/// copy of the binary in `dir`: the build directory need not be open to nobody.
fn run_as_nobody(prepared: std::process::Command, dir: &Path) -> Run {
    let bin = dir.join("chartpin");
    std::fs::copy(prepared.get_program(), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = std::process::Command::new(&bin);
    cmd.args(prepared.get_args())
        .stdin(Stdio::null())
        .uid(NOBODY)
        .gid(NOBODY);
    for (key, value) in prepared.get_envs() {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    Run::from_output(cmd.output().unwrap())
}

#[test]
fn a_read_only_values_file_is_refused_unless_the_process_may_write_it() {
    let (tmp, chart, digests) = temp_chart("image: nginx:1.27\n", "");
    std::fs::write(&digests, format!("nginx:1.27@{}\n", digest('6'))).unwrap();
    let values = chart.join("values.yaml");
    // Everything belongs to nobody, who runs chartpin; values.yaml is 0444.
    for p in [tmp.path(), &chart] {
        std::os::unix::fs::chown(p, Some(NOBODY), Some(NOBODY)).unwrap();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for p in [&values, &chart.join("Chart.yaml"), &digests] {
        std::os::unix::fs::chown(p, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    std::fs::set_permissions(&values, std::fs::Permissions::from_mode(0o444)).unwrap();
    let args = [
        "pin",
        chart.to_str().unwrap(),
        "--digests",
        digests.to_str().unwrap(),
    ];
    let out = run_as_nobody(in_home(&args, tmp.path()).command(), tmp.path());
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("is read-only"), "{}", out.all());
    assert_eq!(
        std::fs::read_to_string(&values).unwrap(),
        "image: nginx:1.27\n"
    );
    // Root may write any file: it replaces it, keeps it 0444, and says so.
    let out = run_in(&args, tmp.path());
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stderr.contains("was read-only"), "{}", out.all());
    assert!(
        std::fs::read_to_string(&values)
            .unwrap()
            .contains(&digest('6'))
    );
    let meta = std::fs::metadata(&values).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o444);
    assert_eq!((meta.uid(), meta.gid()), (NOBODY, NOBODY));
}

#[test]
fn a_stdout_closed_early_keeps_the_findings_exit_code() {
    let tmp = tempfile::tempdir().unwrap();
    let chart = tmp.path().join("chart");
    std::fs::create_dir(&chart).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: many\nversion: 0.1.0\n",
    )
    .unwrap();
    // Far more output than a pipe buffers, so chartpin meets the closed pipe.
    let values: String = (0..3000)
        .map(|i| format!("c{i}:\n  image: nginx:1.{i}\n"))
        .collect();
    std::fs::write(chart.join("values.yaml"), values).unwrap();
    for format in ["human", "json"] {
        let mut child = in_home(
            &["lint", chart.to_str().unwrap(), "--format", format],
            tmp.path(),
        )
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.is_empty());
        // The reader is gone (as `| head -1` leaves it); wait, bounded.
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "chartpin did not finish");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.code(), Some(1), "{format}: {status:?}");
    }
}
