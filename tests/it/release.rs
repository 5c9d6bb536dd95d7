//! `chartpin release` end to end against a real registry: a release that
//! succeeds (and leaves a chart that `verify` and `lint` pass), one whose
//! manifest names a digest the registry lacks, one whose registry cannot
//! answer, and one killed at many moments while it runs. In every failure
//! the chart's files must be byte-identical to before.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::cli::{
    Chartpin, NO_HELM_PATH, Run, assert_render_skipped_once, assert_snake_case_keys, chartpin,
    copy_dir,
};
use crate::support::free_port;
use crate::support::helm::path_with_helm;
use crate::support::proxy::Proxy;
use crate::support::registry::{PushedImage, Registry};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/release/chart");
const NEVER_PUSHED: &str =
    "sha256:5555555555555555555555555555555555555555555555555555555555555555";

/// chartpin's clean environment with HOME and TMPDIR at `home`, helm on
/// PATH, and NO_COLOR unset (piped output must be plain without it).
fn in_home(args: &[&str], home: &Path) -> Chartpin {
    chartpin(args)
        .home(home)
        .env("PATH", path_with_helm())
        .env("TMPDIR", home)
        .env_remove("NO_COLOR")
}

/// `chartpin release CHART --digests DIGESTS EXTRA…` in `home`'s clean environment.
fn release(chart: &Path, digests: &Path, extra: &[&str], home: &Path) -> Run {
    let mut args = vec![
        "release",
        chart.to_str().unwrap(),
        "--digests",
        digests.to_str().unwrap(),
    ];
    args.extend(extra);
    in_home(&args, home).run()
}

/// The fixture chart copied into `dir/chart`, its images pointing at `host`.
pub(crate) fn chart_for(host: &str, dir: &Path) -> PathBuf {
    let chart = dir.join("chart");
    copy_dir(Path::new(FIXTURE), &chart);
    for f in ["values.yaml", "Chart.yaml"] {
        let p = chart.join(f);
        let text = std::fs::read_to_string(&p)
            .unwrap()
            .replace("REGISTRY", host);
        std::fs::write(&p, text).unwrap();
    }
    chart
}

/// Every file under `dir` (relative path → bytes).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.insert(
                    p.strip_prefix(base).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A digest manifest of full references, one a line.
fn refs_manifest(dir: &Path, host: &str, web: &str, tool: &str) -> PathBuf {
    let p = dir.join("digests.txt");
    std::fs::write(
        &p,
        format!("{host}/shop/web:1.0@{web}\n{host}/shop/tool:2.1@{tool}\n"),
    )
    .unwrap();
    p
}

/// values.yaml and Chart.yaml as a successful release must leave them.
fn expected_after(host: &str, web: &str, tool: &str) -> (String, String) {
    let values = std::fs::read_to_string(Path::new(FIXTURE).join("values.yaml"))
        .unwrap()
        .replace("REGISTRY", host)
        .replace("digest: \"\"", &format!("digest: \"{web}\""))
        .replace("shop/tool:2.1", &format!("shop/tool:2.1@{tool}"));
    let chart = std::fs::read_to_string(Path::new(FIXTURE).join("Chart.yaml"))
        .unwrap()
        .replace("REGISTRY", host)
        .replace("shop/web:1.0", &format!("shop/web:1.0@{web}"))
        .replace("shop/tool:2.1", &format!("shop/tool:2.1@{tool}"));
    (values, chart)
}

fn push_both(reg: &Registry) -> (PushedImage, PushedImage) {
    (
        reg.push_image("shop/web", Some("1.0"), "web 1.0"),
        reg.push_image("shop/tool", Some("2.1"), "tool 2.1"),
    )
}

#[test]
fn a_release_pins_verifies_lints_and_summarises() {
    let reg = Registry::start();
    let (web, tool) = push_both(&reg);
    let dir = tempfile::tempdir().unwrap();
    let chart = chart_for(&reg.host, dir.path());
    let digests = refs_manifest(dir.path(), &reg.host, &web.digest, &tool.digest);
    let summary = dir.path().join("summary.md");
    let (c, d, s) = (
        chart.to_str().unwrap(),
        digests.to_str().unwrap(),
        summary.to_str().unwrap(),
    );

    // A dry run does every check, shows the diff, and writes nothing.
    let before = snapshot(&chart);
    let dry = in_home(
        &[
            "release",
            c,
            "--digests",
            d,
            "--dry-run",
            "--format",
            "human",
        ],
        dir.path(),
    )
    .run();
    assert_eq!(dry.code, 0, "{}", dry.all());
    assert_eq!(snapshot(&chart), before);
    assert!(
        dry.stdout
            .contains("dry run: would pin 2 images in 2 files"),
        "{}",
        dry.all()
    );
    assert!(
        dry.stdout
            .contains(&format!("+    digest: \"{}\"", web.digest)),
        "{}",
        dry.all()
    );

    let run = in_home(
        &[
            "release",
            "--chart",
            c,
            "--digests",
            d,
            "--render",
            "--summary",
            s,
            "--format",
            "json",
        ],
        dir.path(),
    )
    .run();
    assert_eq!(run.code, 0, "{}", run.all());
    let (values, chart_yaml) = expected_after(&reg.host, &web.digest, &tool.digest);
    assert_eq!(
        std::fs::read_to_string(chart.join("values.yaml")).unwrap(),
        values
    );
    assert_eq!(
        std::fs::read_to_string(chart.join("Chart.yaml")).unwrap(),
        chart_yaml
    );

    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON report");
    assert_snake_case_keys(&doc);
    assert_eq!(doc["written"], true);
    assert_eq!(
        doc["findings"].as_array().unwrap().len(),
        0,
        "{}",
        run.stdout
    );
    let rows = doc["images"].as_array().unwrap();
    let row = |i: usize, k: &str| rows[i][k].as_str().unwrap_or_default().to_string();
    assert_eq!(rows.len(), 2, "{}", run.stdout);
    assert_eq!(row(0, "image"), format!("{}/shop/web", reg.host));
    assert_eq!(
        row(0, "old_reference"),
        format!("{}/shop/web:1.0", reg.host)
    );
    assert_eq!(row(0, "digest"), web.digest);
    assert_eq!(row(0, "verified"), "yes");
    assert_eq!(row(0, "path"), "web.image");
    assert_eq!(rows[0]["line"], 7);
    assert_eq!(row(1, "image"), format!("{}/shop/tool", reg.host));
    assert_eq!(
        row(1, "old_reference"),
        format!("{}/shop/tool:2.1", reg.host)
    );
    assert_eq!(
        row(1, "new_reference"),
        format!("{}/shop/tool:2.1@{}", reg.host, tool.digest)
    );
    assert_eq!(row(1, "digest"), tool.digest);
    assert_eq!(row(1, "verified"), "yes");
    assert_eq!(row(1, "path"), "migrate.image");
    assert_eq!(rows[1]["line"], 11);
    assert_eq!(doc["files"].as_array().unwrap().len(), 2);

    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("## chartpin release\n"), "{md}");
    assert!(md.contains("released: pinned 2 images in 2 files"), "{md}");
    assert!(
        md.contains("| image | old reference | new digest | verified | site |"),
        "{md}"
    );
    for (repo, tag, digest) in [("web", "1.0", &web.digest), ("tool", "2.1", &tool.digest)] {
        let line = format!(
            "| `{h}/shop/{repo}` | `{h}/shop/{repo}:{tag}` | `{digest}` | yes |",
            h = reg.host
        );
        assert!(md.contains(&line), "missing {line} in\n{md}");
    }

    // The result passes verify and lint (rendered too).
    let lint = in_home(&["lint", c, "--render", "--format", "human"], dir.path()).run();
    assert_eq!(lint.code, 0, "{}", lint.all());
    let verify = in_home(&["verify", c, "--content", "--format", "human"], dir.path()).run();
    assert_eq!(verify.code, 0, "{}", verify.all());
    assert!(verify.stdout.contains("verified"), "{}", verify.all());

    // Releasing again changes nothing and says so, in the human table too.
    let before = snapshot(&chart);
    let again = in_home(
        &["release", c, "--digests", d, "--format", "human"],
        dir.path(),
    )
    .run();
    assert_eq!(again.code, 0, "{}", again.all());
    assert_eq!(snapshot(&chart), before);
    assert!(
        again.stdout.contains("nothing to release"),
        "{}",
        again.all()
    );
    assert!(
        again.stdout.contains("IMAGE  ") && again.stdout.contains("VERIFIED"),
        "{}",
        again.all()
    );
    assert!(again.stdout.contains(&web.digest), "{}", again.all());
}

#[test]
fn a_digest_missing_from_the_registry_changes_nothing() {
    let reg = Registry::start();
    let (web, _tool) = push_both(&reg);
    let dir = tempfile::tempdir().unwrap();
    let chart = chart_for(&reg.host, dir.path());
    let digests = refs_manifest(dir.path(), &reg.host, &web.digest, NEVER_PUSHED);
    let summary = dir.path().join("summary.md");
    let before = snapshot(&chart);

    let run = release(
        &chart,
        &digests,
        &["--format", "json"],
        // The job summary goes to $GITHUB_STEP_SUMMARY when no --summary is given.
        dir.path(),
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(
        snapshot(&chart),
        before,
        "files changed on a failed release"
    );
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["written"], false);
    let findings = doc["findings"].as_array().unwrap();
    let missing: Vec<_> = findings
        .iter()
        .filter(|f| f["code"] == "digest-not-found")
        .collect();
    assert_eq!(missing.len(), 1, "{}", run.stdout);
    assert_eq!(missing[0]["path"], "migrate.image");
    assert_eq!(missing[0]["line"], 11);
    assert!(
        missing[0]["file"]
            .as_str()
            .unwrap()
            .ends_with("values.yaml")
    );
    let rows = doc["images"].as_array().unwrap();
    assert_eq!(rows[0]["verified"], "yes");
    assert_eq!(rows[1]["verified"], "no");

    // Through GITHUB_STEP_SUMMARY this time: the summary says why.
    let out = in_home(
        &[
            "release",
            chart.to_str().unwrap(),
            "--digests",
            digests.to_str().unwrap(),
        ],
        dir.path(),
    )
    .env("GITHUB_STEP_SUMMARY", &summary)
    .env("GITHUB_ACTIONS", "true")
    .run();
    assert_eq!(out.code, 1);
    let stdout = out.stdout;
    assert!(
        stdout.contains("::error") && stdout.contains("title=digest-not-found"),
        "{stdout}"
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("not released"), "{md}");
    assert!(md.contains("digest-not-found"), "{md}");
    assert_eq!(snapshot(&chart), before);
}

#[test]
fn a_registry_that_cannot_answer_exits_3_and_changes_nothing() {
    // Nothing listens on this port: every request is refused.
    let host = format!("127.0.0.1:{}", free_port());
    let dir = tempfile::tempdir().unwrap();
    let chart = chart_for(&host, dir.path());
    let digests = refs_manifest(dir.path(), &host, NEVER_PUSHED, NEVER_PUSHED);
    let before = snapshot(&chart);
    let run = release(
        &chart,
        &digests,
        &["--timeout", "2", "--format", "human"],
        dir.path(),
    );
    assert_eq!(run.code, 3, "{}", run.all());
    assert!(run.stdout.contains("registry-unreachable"), "{}", run.all());
    assert!(run.stdout.contains("not released"), "{}", run.all());
    assert!(run.stdout.contains("unanswered"), "{}", run.all());
    assert_eq!(snapshot(&chart), before);
}

#[test]
fn lint_failures_in_the_pinned_result_change_nothing() {
    // Only the web image is in the manifest: the tool stays tagged, so the
    // pinned chart would still fail lint, and nothing is written.
    let reg = Registry::start();
    let (web, _) = push_both(&reg);
    let dir = tempfile::tempdir().unwrap();
    let chart = chart_for(&reg.host, dir.path());
    let digests = dir.path().join("digests.txt");
    std::fs::write(
        &digests,
        format!("{}/shop/web:1.0@{}\n", reg.host, web.digest),
    )
    .unwrap();
    let before = snapshot(&chart);
    let run = release(&chart, &digests, &["--format", "human"], dir.path());
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(snapshot(&chart), before);
    // Findings point at the real chart, not at the staged copy.
    let at = format!("{}:11:", chart.join("values.yaml").display());
    assert!(run.stdout.contains(&at), "expected {at} in {}", run.all());
    assert!(run.stdout.contains("mutable-tag"), "{}", run.all());
    assert!(!run.stdout.contains("chartpin-release-"), "{}", run.all());
}

#[test]
fn bad_input_exits_2_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let chart = chart_for("127.0.0.1:1", dir.path());
    let before = snapshot(&chart);
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, "127.0.0.1:1/shop/web:1.0@sha256:NOTHEX\n").unwrap();
    let c = chart.to_str().unwrap();
    for args in [
        vec!["release", c],
        vec!["release", c, "--digests", bad.to_str().unwrap()],
        vec!["release", c, "--digests", "/nonexistent/digests.txt"],
        vec![
            "release",
            c,
            "--digests",
            bad.to_str().unwrap(),
            "--digests-format",
            "no-such-format",
        ],
    ] {
        let run = in_home(&args, dir.path()).run();
        assert_eq!(run.code, 2, "{args:?}: {}", run.all());
        assert!(run.stderr.contains("error:"), "{}", run.all());
    }
    assert_eq!(snapshot(&chart), before);
}

#[test]
fn a_values_only_directory_releases_as_lint_pin_and_verify_take_it() {
    let reg = Registry::start();
    let (web, _) = push_both(&reg);
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("values-only");
    std::fs::create_dir_all(&chart).unwrap();
    let values = format!("web:\n  image: {}/shop/web:1.0\n", reg.host);
    std::fs::write(chart.join("values.yaml"), &values).unwrap();
    let digests = dir.path().join("digests.txt");
    std::fs::write(
        &digests,
        format!("{}/shop/web:1.0@{}\n", reg.host, web.digest),
    )
    .unwrap();

    let run = release(&chart, &digests, &[], dir.path());
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        std::fs::read_to_string(chart.join("values.yaml")).unwrap(),
        values.replace("shop/web:1.0", &format!("shop/web:1.0@{}", web.digest))
    );
    // No annotation to sync, and no Chart.yaml appears.
    assert!(!chart.join("Chart.yaml").exists());
    assert!(
        run.stdout.contains("released: pinned 1 image in 1 file"),
        "{}",
        run.all()
    );

    // A directory that is neither a chart nor a values-only chart is refused.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(empty.join("sub")).unwrap();
    let run = release(&empty, &digests, &[], dir.path());
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr
            .contains("is not a chart directory (no Chart.yaml or values.yaml)"),
        "{}",
        run.all()
    );
}

/// Files the release may leave in the chart besides its own: temporaries of a
/// killed commit, `.<file>.chartpin-<pid>-<n>.tmp`.
fn is_commit_temp(name: &str) -> bool {
    ["values.yaml", "Chart.yaml"].iter().any(|f| {
        name.strip_prefix(&format!(".{f}.chartpin-"))
            .and_then(|r| r.strip_suffix(".tmp"))
            .is_some_and(|r| r.split('-').all(|p| p.parse::<u64>().is_ok()))
    })
}

#[test]
fn a_release_killed_at_any_moment_leaves_each_file_old_or_new() {
    let reg = Registry::start();
    let (web, tool) = push_both(&reg);
    // The chart names the proxy, which slows every registry answer, so the
    // run is long enough to be killed at many moments.
    let proxy = Proxy::start(&reg.host);
    proxy.set_latency(Duration::from_millis(150));
    let dir = tempfile::tempdir().unwrap();
    let chart = chart_for(&proxy.host, dir.path());
    let digests = refs_manifest(dir.path(), &proxy.host, &web.digest, &tool.digest);
    let old = snapshot(&chart);
    let (values, chart_yaml) = expected_after(&proxy.host, &web.digest, &tool.digest);
    let mut new = old.clone();
    new.insert("values.yaml".into(), values.into_bytes());
    new.insert("Chart.yaml".into(), chart_yaml.into_bytes());
    let args = [
        "release",
        chart.to_str().unwrap(),
        "--digests",
        digests.to_str().unwrap(),
        "--format",
        "human",
    ];
    let reset = || {
        for (rel, bytes) in &old {
            std::fs::write(chart.join(rel), bytes).unwrap();
        }
    };

    // One uninterrupted run, to spread the kills over its length.
    let started = Instant::now();
    let full = in_home(&args, dir.path()).run();
    let length = started.elapsed();
    assert_eq!(full.code, 0, "{}", full.all());
    assert_eq!(snapshot(&chart), new);

    let (mut saw_old, mut saw_new) = (0, 0);
    const KILLS: u32 = 12;
    for i in 0..KILLS {
        reset();
        let mut child = in_home(&args, dir.path())
            .command()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // From the very start to a little past the usual end.
        std::thread::sleep(length * i / (KILLS - 2));
        let _ = child.kill();
        let _ = child.wait();
        let mut files = snapshot(&chart);
        files.retain(|p, _| {
            let name = p.to_string_lossy();
            assert!(
                !p.starts_with("templates") || old.contains_key(p.as_path()),
                "unexpected file {name}"
            );
            !is_commit_temp(&name)
        });
        for (rel, bytes) in &files {
            let (o, n) = (&old[rel], &new[rel]);
            assert!(
                bytes == o || bytes == n,
                "kill {i}: {} is neither the old nor the new text:\n{}",
                rel.display(),
                String::from_utf8_lossy(bytes)
            );
        }
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            old.keys().collect::<Vec<_>>(),
            "kill {i}: only commit temporaries may appear"
        );
        if files == old {
            saw_old += 1;
        } else if files == new {
            saw_new += 1;
        }
    }
    eprintln!("timed kills: {saw_old} left the old files, {saw_new} the new ones");
    // The first kill lands before anything could be written.
    assert!(saw_old >= 1, "old {saw_old}, new {saw_new}");

    // Kills aimed at the commit itself: watch the chart directory and kill
    // the moment a temporary appears (between staging and the renames).
    for attempt in 0..3 {
        reset();
        let mut child = in_home(&args, dir.path())
            .command()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let temp_seen = std::fs::read_dir(&chart)
                .unwrap()
                .flatten()
                .any(|e| is_commit_temp(&e.file_name().to_string_lossy()));
            if temp_seen || child.try_wait().unwrap().is_some() {
                break;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        let mut files = snapshot(&chart);
        let temps = files.len();
        files.retain(|p, _| !is_commit_temp(&p.to_string_lossy()));
        eprintln!(
            "commit kill {attempt}: {} orphaned temporaries, values.yaml {}",
            temps - files.len(),
            if files[Path::new("values.yaml")] == old[Path::new("values.yaml")] {
                "old"
            } else {
                "new"
            }
        );
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            old.keys().collect::<Vec<_>>()
        );
        for (rel, bytes) in &files {
            assert!(
                *bytes == old[rel] || *bytes == new[rel],
                "commit kill {attempt}: {} is partial",
                rel.display()
            );
        }
    }

    // A temporary orphaned by a killed commit is removed by the next release,
    // which then completes.
    reset();
    let orphan = chart.join(".values.yaml.chartpin-4194399-0.tmp");
    std::fs::write(&orphan, "half a file").unwrap();
    let run = in_home(&args, dir.path()).run();
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(!orphan.exists(), "orphaned temporary left behind");
    assert_eq!(snapshot(&chart), new);
}

#[test]
fn check_tags_refuses_a_release_whose_tag_has_moved() {
    let reg = Registry::start();
    let (web, tool) = push_both(&reg);
    let dir = tempfile::tempdir().unwrap();
    let chart = chart_for(&reg.host, dir.path());
    let digests = refs_manifest(dir.path(), &reg.host, &web.digest, &tool.digest);
    // Someone pushes another build under the released tag after the digest log was written.
    let moved = reg.push_image("shop/web", Some("1.0"), "web 1.0, rebuilt");
    assert_ne!(moved.digest, web.digest);
    let before = snapshot(&chart);

    let run = release(
        &chart,
        &digests,
        &["--check-tags", "--format", "json"],
        dir.path(),
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(
        snapshot(&chart),
        before,
        "files changed on a failed release"
    );
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let drift: Vec<_> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "tag-drift")
        .collect();
    assert_eq!(drift.len(), 1, "{}", run.stdout);
    assert_eq!(drift[0]["path"], "web.image");
    assert!(
        drift[0]["image"]
            .as_str()
            .unwrap()
            .contains("shop/web:1.0@"),
        "{}",
        run.stdout
    );

    // Without --check-tags the digests exist, so the release goes through.
    let run = release(&chart, &digests, &[], dir.path());
    assert_eq!(run.code, 0, "{}", run.all());
    assert_ne!(snapshot(&chart), before);
}

/// `--hermetic`: the registry is asked for the manifests' digests and
/// nothing else (no tag, so no platform-manifest check), and it refuses
/// `--check-tags`; without it, a tagged pin also has its tag looked up.
#[test]
fn a_hermetic_release_never_asks_where_a_tag_points() {
    let reg = Registry::start();
    let (web, tool) = push_both(&reg);
    let proxy = Proxy::start(&reg.host);
    let dir = tempfile::tempdir().unwrap();
    let host = proxy.host.clone();
    let tag_asked = |log: &[String]| {
        log.iter()
            .filter(|l| l.contains("/manifests/") && !l.contains("/manifests/sha256:"))
            .cloned()
            .collect::<Vec<_>>()
    };

    let chart = chart_for(&host, &dir.path().join("plain"));
    let digests = refs_manifest(dir.path(), &host, &web.digest, &tool.digest);
    let run = release(&chart, &digests, &["--dry-run"], dir.path());
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        !tag_asked(&proxy.request_log()).is_empty(),
        "{:?}",
        proxy.request_log()
    );

    let before = proxy.request_log().len();
    let chart = chart_for(&host, &dir.path().join("hermetic"));
    let run = release(&chart, &digests, &["--hermetic"], dir.path());
    assert_eq!(run.code, 0, "{}", run.all());
    let log = proxy.request_log()[before..].to_vec();
    assert!(log.iter().any(|l| l.contains(&web.digest)), "{log:?}");
    assert!(log.iter().any(|l| l.contains(&tool.digest)), "{log:?}");
    assert!(tag_asked(&log).is_empty(), "{log:?}");
    assert!(
        std::fs::read_to_string(chart.join("values.yaml"))
            .unwrap()
            .contains(&web.digest)
    );

    let refused = release(
        &chart,
        &digests,
        &["--hermetic", "--check-tags"],
        dir.path(),
    );
    assert_eq!(refused.code, 2, "{}", refused.all());
}

/// The lock file at `path` (schema 2), whose entries came from `source`.
fn read_lock(path: &Path, source: &str) -> serde_json::Value {
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(doc["schema_version"], 2, "{doc:#}");
    assert_eq!(doc["source"], source, "{doc:#}");
    doc
}

/// A lock entry lists `index`'s platforms, each with its manifest's digest, in order.
fn assert_locks_platforms(
    entry: &serde_json::Value,
    index: &crate::support::registry::PushedIndex,
) {
    let platforms: Vec<(&str, &str)> = entry["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["platform"].as_str().unwrap(),
                p["digest"].as_str().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(&str, &str)> = index
        .manifests
        .iter()
        .map(|m| (m.platform.as_str(), m.digest.as_str()))
        .collect();
    assert_eq!(platforms, expected, "{entry:#}");
}

/// `--lock FILE`: every released image with its digest, kind and each
/// platform's digest, written only by a release that succeeded.
#[test]
fn a_release_writes_its_lock_only_when_it_succeeds() {
    let reg = Registry::start();
    let web = reg.push_index(
        "shop/web",
        Some("1.0"),
        "web 1.0",
        &["linux/amd64", "linux/arm64"],
    );
    let tool = reg.push_image("shop/tool", Some("2.1"), "tool 2.1");
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("images.lock.json");
    let lock_arg = lock.to_str().unwrap();

    let chart = chart_for(&reg.host, &dir.path().join("dry"));
    let digests = refs_manifest(dir.path(), &reg.host, &web.digest, &tool.digest);
    let dry = release(
        &chart,
        &digests,
        &["--dry-run", "--lock", lock_arg],
        dir.path(),
    );
    assert_eq!(dry.code, 0, "{}", dry.all());
    assert!(!lock.exists(), "a dry run wrote the lock");

    let bad = dir.path().join("bad.txt");
    std::fs::write(
        &bad,
        format!(
            "{}/shop/web:1.0@{NEVER_PUSHED}\n{}/shop/tool:2.1@{}\n",
            reg.host, reg.host, tool.digest
        ),
    )
    .unwrap();
    let failed = release(&chart, &bad, &["--lock", lock_arg], dir.path());
    assert_eq!(failed.code, 1, "{}", failed.all());
    assert!(!lock.exists(), "a failed release wrote the lock");

    let chart = chart_for(&reg.host, &dir.path().join("real"));
    let run = release(&chart, &digests, &["--lock", lock_arg], dir.path());
    assert_eq!(run.code, 0, "{}", run.all());
    // helm is on PATH: the lock lists what the pinned chart renders.
    let doc = read_lock(&lock, "render");
    let images = doc["images"].as_array().unwrap();
    assert_eq!(images.len(), 2, "{doc:#}");
    let by_name = |n: &str| {
        images
            .iter()
            .find(|i| i["image"].as_str().unwrap().ends_with(n))
            .unwrap_or_else(|| panic!("{n} not in {doc:#}"))
    };
    let w = by_name("shop/web");
    assert_eq!(w["digest"], web.digest.as_str());
    assert_eq!(w["kind"], "index");
    assert_eq!(w["path"], "web.image");
    assert_eq!(w["signature"], "not-checked");
    assert_locks_platforms(w, &web);
    let t = by_name("shop/tool");
    assert_eq!(t["kind"], "image");
    assert_eq!(t["platforms"][0]["platform"], "linux/amd64");
    assert_eq!(t["platforms"][0]["digest"], tool.digest.as_str());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&lock).unwrap().permissions().mode() & 0o777,
            0o644
        );
    }
}
/// A rendered lock lists every image the pinned chart renders: the sites
/// this release pinned (a values block, a values string, a template
/// literal), a subchart's image pinned before the release, and where each
/// renders; those the release did not pin are verified too, so one the
/// registry lacks fails a release with `--lock` (and only with it).
#[test]
fn a_rendered_lock_lists_every_image_the_chart_renders() {
    let reg = Registry::start();
    let (web, tool) = push_both(&reg);
    let probe = reg.push_image("shop/probe", Some("0.1"), "probe 0.1");
    let cache = reg.push_index(
        "shop/cache",
        Some("7"),
        "cache 7",
        &["linux/amd64", "linux/arm64"],
    );
    let dir = tempfile::tempdir().unwrap();
    let build = |at: &str, cache_digest: &str| {
        let chart = chart_for(&reg.host, &dir.path().join(at));
        std::fs::create_dir_all(chart.join("templates/tests")).unwrap();
        std::fs::write(chart.join("templates/tests/test.yaml"), test_pod(&reg.host)).unwrap();
        let sub = chart.join("charts/cache");
        std::fs::create_dir_all(sub.join("templates")).unwrap();
        std::fs::write(
            sub.join("Chart.yaml"),
            "apiVersion: v2\nname: cache\nversion: 0.1.0\n",
        )
        .unwrap();
        std::fs::write(
            sub.join("values.yaml"),
            format!("image: {}/shop/cache:7@{cache_digest}\n", reg.host),
        )
        .unwrap();
        std::fs::write(
            sub.join("templates/cache.yaml"),
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: {{ .Release.Name }}-cache\nspec:\n  template:\n    spec:\n      containers:\n        - name: cache\n          image: {{ .Values.image | quote }}\n",
        )
        .unwrap();
        chart
    };
    let digests = refs_manifest(dir.path(), &reg.host, &web.digest, &tool.digest);
    let mut lines = std::fs::read_to_string(&digests).unwrap();
    lines.push_str(&format!("{}/shop/probe:0.1@{}\n", reg.host, probe.digest));
    std::fs::write(&digests, &lines).unwrap();
    let lock = dir.path().join("images.lock.json");
    let lock_arg = lock.to_str().unwrap();

    // The subchart's pin names a digest the registry lacks: the release
    // alone does not ask for it, a release with a lock does and fails.
    let chart = build("missing", NEVER_PUSHED);
    let plain = release(&chart, &digests, &["--dry-run"], dir.path());
    assert_eq!(plain.code, 0, "{}", plain.all());
    let failed = release(
        &chart,
        &digests,
        &["--lock", lock_arg, "--format", "json"],
        dir.path(),
    );
    let missing = the_one_finding(&failed, "digest-not-found");
    assert!(
        missing["file"]
            .as_str()
            .unwrap()
            .ends_with("charts/cache/templates/cache.yaml"),
        "{missing}"
    );
    assert!(!lock.exists());

    let chart = build("good", &cache.digest);
    let run = release(&chart, &digests, &["--lock", lock_arg], dir.path());
    assert_eq!(run.code, 0, "{}", run.all());
    let doc = read_lock(&lock, "render");
    let images = doc["images"].as_array().unwrap();
    let names: Vec<&str> = images
        .iter()
        .map(|i| i["image"].as_str().unwrap())
        .collect();
    assert_eq!(images.len(), 4, "{doc:#}");
    let by_name = |n: &str| {
        let full = format!("{}/{n}", reg.host);
        images
            .iter()
            .find(|i| i["image"] == full.as_str())
            .unwrap_or_else(|| panic!("{n} not in {names:?}"))
    };
    for i in images {
        assert_eq!(i["source"], "render", "{doc:#}");
        assert_eq!(i["signature"], "not-checked", "{doc:#}");
    }
    let w = by_name("shop/web");
    assert_eq!(w["digest"], web.digest.as_str());
    assert_eq!(w["kind"], "image");
    assert_eq!(w["path"], "web.image");
    assert!(
        w["file"].as_str().unwrap().ends_with("values.yaml"),
        "{w:#}"
    );
    assert_eq!(w["rendered"][0]["object"], "Deployment/shop-web", "{w:#}");
    assert_eq!(w["rendered"][0]["container"], "web");
    assert_eq!(
        w["rendered"][0]["template"], "shop/templates/web.yaml",
        "{w:#}"
    );
    assert_eq!(by_name("shop/tool")["path"], "migrate.image");
    // The template literal this release pinned: its site is the template.
    let p = by_name("shop/probe");
    assert_eq!(p["digest"], probe.digest.as_str());
    assert!(
        p["file"]
            .as_str()
            .unwrap()
            .ends_with("templates/tests/test.yaml"),
        "{p:#}"
    );
    assert_eq!(p["path"], serde_json::Value::Null);
    assert_eq!(p["line"], 10);
    assert_eq!(p["rendered"][0]["object"], "Pod/shop-test");
    // The subchart's image, pinned before: no site of this release, but its
    // kind and both platforms' digests, and where it renders.
    let c = by_name("shop/cache");
    assert_eq!(c["digest"], cache.digest.as_str());
    assert_eq!(c["file"], serde_json::Value::Null);
    assert_eq!(c["kind"], "index");
    assert_locks_platforms(c, &cache);
    assert_eq!(
        c["rendered"][0]["template"], "shop/charts/cache/templates/cache.yaml",
        "{c:#}"
    );
    assert_eq!(c["rendered"][0]["object"], "StatefulSet/shop-cache");
}

/// The fixture chart in `dir`, its manifest and the two pushed images, with
/// `edit` applied to the chart first.
fn proving_setup(reg: &Registry, dir: &Path, edit: impl FnOnce(&Path)) -> (PathBuf, PathBuf) {
    let (web, tool) = push_both(reg);
    let chart = chart_for(&reg.host, dir);
    edit(&chart);
    let digests = refs_manifest(dir, &reg.host, &web.digest, &tool.digest);
    (chart, digests)
}

#[test]
fn a_release_is_proven_by_rendering_by_default_and_says_so() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let (chart, digests) = proving_setup(&reg, dir.path(), |_| {});
    let summary = dir.path().join("summary.md");
    let run = release(
        &chart,
        &digests,
        &["--dry-run", "--format", "json"],
        dir.path(),
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON report");
    assert_eq!(
        doc["rendering"],
        serde_json::json!({"rendered": true, "proven": true, "images": 2, "reason": null}),
        "{}",
        run.stdout
    );
    let run = release(
        &chart,
        &digests,
        &["--summary", summary.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let line = "proven by rendering: 2 rendered images render with the digests pinned and nothing else in the render changed (1 chart rendered before and after)";
    assert!(run.stdout.contains(line), "{}", run.all());
    assert!(
        std::fs::read_to_string(&summary).unwrap().contains(line),
        "{}",
        run.all()
    );
    assert!(!run.stderr.contains("rendering skipped"), "{}", run.all());

    // `--no-render` says the pin was not proven.
    let run = release(&chart, &digests, &["--no-render", "--dry-run"], dir.path());
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("not proven by rendering: --no-render"),
        "{}",
        run.all()
    );
}

/// The migrate image also rendered into a label, where a digest breaks the chart.
fn label_the_migrate_image(chart: &Path) {
    let p = chart.join("templates/migrate.yaml");
    let text = std::fs::read_to_string(&p).unwrap().replace(
        "  name: {{ .Release.Name }}-migrate\n",
        "  name: {{ .Release.Name }}-migrate\n  labels:\n    tool: {{ .Values.migrate.image | quote }}\n",
    );
    std::fs::write(p, text).unwrap();
}

/// A `.chartpin.yaml` mapping `entry` to `path`: the user's word, which the
/// probe leaves alone, so the proof by rendering is what judges it.
fn map_in_config(chart: &Path, entry: &str, path: &str) {
    std::fs::write(
        chart.join(".chartpin.yaml"),
        format!("images:\n  - entry: {entry}\n    path: {path}\n"),
    )
    .unwrap();
}

/// The one finding of `code` in a failed run's JSON report (exit 1).
fn the_one_finding(run: &Run, code: &str) -> serde_json::Value {
    assert_eq!(run.code, 1, "{}", run.all());
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON report");
    let found = findings_with(&doc, code);
    assert_eq!(found.len(), 1, "{}", run.stdout);
    found[0].clone()
}

/// A helm test pod whose template writes `host/shop/probe:0.1` literally (line 10).
fn test_pod(host: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{{{ .Release.Name }}}}-test\n  annotations:\n    helm.sh/hook: test\nspec:\n  containers:\n    - name: probe\n      image: {host}/shop/probe:0.1\n"
    )
}

fn findings_with<'d>(doc: &'d serde_json::Value, code: &str) -> Vec<&'d serde_json::Value> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == code)
        .collect()
}

#[test]
fn a_pin_that_reaches_a_label_is_refused_and_writes_nothing() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let (chart, digests) = proving_setup(&reg, dir.path(), label_the_migrate_image);
    let before = snapshot(&chart);

    // The probe sees `migrate.image` render in the label too, so it is
    // never written: `unpinnable-image` with that reason.
    let run = release(&chart, &digests, &["--format", "json"], dir.path());
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(snapshot(&chart), before);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON report");
    let refused = findings_with(&doc, "unpinnable-image");
    assert_eq!(refused.len(), 1, "{}", run.stdout);
    assert_eq!(refused[0]["path"], "migrate.image");
    assert!(
        refused[0]["message"].as_str().unwrap().contains(
            "(Job/shop-migrate container `migrate`) is not pinned: `migrate.image` also renders outside image fields (a label or annotation)"
        ),
        "{}",
        refused[0]
    );
    assert!(
        findings_with(&doc, "render-changed").is_empty(),
        "{}",
        run.stdout
    );
    assert_eq!(doc["written"], false);

    // A `.chartpin.yaml` mapping that says to write there anyway: the write
    // reaches the label, and the proof by rendering refuses it.
    map_in_config(&chart, "tool", "migrate.image");
    let before = snapshot(&chart);
    let run = release(&chart, &digests, &["--format", "json"], dir.path());
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(snapshot(&chart), before);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON report");
    let changed: Vec<&str> = findings_with(&doc, "render-changed")
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(changed.len(), 1, "{}", run.stdout);
    assert!(
        changed[0].starts_with("Job/shop-migrate field `metadata.labels.tool` changed from `")
            && changed[0].contains("cannot hold a digest"),
        "{}",
        changed[0]
    );
    assert_eq!(doc["rendering"]["proven"], false, "{}", run.stdout);
    assert_eq!(doc["written"], false);
}

/// A helper that renders the web image from registry, repository and tag,
/// never from the digest key.
fn ignore_the_digest_key(chart: &Path) {
    std::fs::write(
        chart.join("templates/_helpers.tpl"),
        "{{- define \"shop.webImage\" -}}\n{{- $img := .Values.web.image -}}\n{{- printf \"%s/%s:%s\" $img.registry $img.repository $img.tag -}}\n{{- end -}}\n",
    )
    .unwrap();
}

#[test]
fn a_digest_key_the_template_does_not_render_is_not_written_where_the_tag_is() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let (chart, digests) = proving_setup(&reg, dir.path(), ignore_the_digest_key);
    let web = std::fs::read_to_string(&digests)
        .unwrap()
        .lines()
        .next()
        .and_then(|l| l.split_once('@'))
        .map(|(_, d)| d.to_string())
        .unwrap();
    // The probe sees the tag render at the end of the reference and the
    // digest key render nowhere: the digest goes after the tag, and the
    // render proves it.
    let run = release(&chart, &digests, &["--format", "json"], dir.path());
    assert_eq!(run.code, 0, "{}", run.all());
    let values = std::fs::read_to_string(chart.join("values.yaml")).unwrap();
    assert!(
        values.contains(&format!("tag: \"1.0@{web}\"")) && values.contains("digest: \"\""),
        "{values}"
    );
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON report");
    assert_eq!(doc["rendering"]["proven"], true, "{}", run.stdout);
}

#[test]
fn a_digest_the_template_does_not_render_is_named_with_object_container_and_path() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let (chart, digests) = proving_setup(&reg, dir.path(), |chart| {
        ignore_the_digest_key(chart);
        // The user's mapping to the digest key, which the template ignores.
        map_in_config(chart, "web", "web.image.digest");
    });
    let before = snapshot(&chart);
    let run = release(&chart, &digests, &["--format", "json"], dir.path());
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(snapshot(&chart), before);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON report");
    let f = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "digest-not-rendered")
        .unwrap_or_else(|| panic!("{}", run.stdout));
    let m = f["message"].as_str().unwrap();
    assert!(
        m.starts_with(&format!(
            "Deployment/shop-web container `web` renders `{}/shop/web:1.0` after the pin, not the digest sha256:",
            reg.host
        )) && m.contains("(pinned at `web.image`)"),
        "{m}"
    );
    assert_eq!(f["path"], "web.image");
    assert!(f["file"].as_str().unwrap().ends_with("values.yaml"), "{f}");
}

#[test]
fn a_chart_that_does_not_render_exits_2_with_helms_message_and_values_pass_through() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let (chart, digests) = proving_setup(&reg, dir.path(), |chart| {
        std::fs::write(
            chart.join("templates/host.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: host\ndata:\n  host: {{ required \"set web.host to the public host name\" .Values.web.host | quote }}\n",
        )
        .unwrap();
    });
    let before = snapshot(&chart);
    let run = release(&chart, &digests, &[], dir.path());
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains("set web.host to the public host name")
            && run.stderr.contains("--values-file FILE or --set KEY=VALUE"),
        "{}",
        run.all()
    );
    assert_eq!(snapshot(&chart), before);

    let values = dir.path().join("ci.yaml");
    std::fs::write(&values, "web:\n  host: shop.example\n").unwrap();
    for extra in [
        &["--set", "web.host=shop.example", "--dry-run"][..],
        &["--values-file", values.to_str().unwrap(), "--dry-run"][..],
    ] {
        let run = release(&chart, &digests, extra, dir.path());
        assert_eq!(run.code, 0, "{extra:?}: {}", run.all());
        assert!(run.stdout.contains("proven by rendering"), "{}", run.all());
    }
}

#[test]
fn without_helm_release_says_once_that_rendering_was_skipped() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let (chart, digests) = proving_setup(&reg, dir.path(), |_| {});
    let second = dir.path().join("second");
    copy_dir(&chart, &second);
    let (c, c2, d) = (
        chart.to_str().unwrap(),
        second.to_str().unwrap(),
        digests.to_str().unwrap(),
    );
    let run = in_home(
        &["release", c, "--chart", c2, "--digests", d, "--dry-run"],
        dir.path(),
    )
    .env("PATH", NO_HELM_PATH)
    .run();
    assert_eq!(run.code, 0, "{}", run.all());
    assert_render_skipped_once(&run);
    assert!(
        run.stdout
            .contains("not proven by rendering: rendering skipped: helm is not on PATH"),
        "{}",
        run.all()
    );

    let before = snapshot(&chart);
    let run = in_home(&["release", c, "--digests", d, "--render"], dir.path())
        .env("PATH", NO_HELM_PATH)
        .run();
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(run.stderr.contains("scripts/install-deps"), "{}", run.all());
    assert_eq!(snapshot(&chart), before);
}

/// `release --signature --key K --lock FILE`: the release fails on an
/// unsigned image, and once both are signed its lock says so per image.
#[test]
fn a_signed_release_records_each_signature_in_its_lock() {
    use crate::support::cosign::{self, Job, KeySigner};
    let reg = Registry::start();
    let web = reg.push_index("shop/web", Some("1.0"), "web 1.0", &["linux/amd64"]);
    let tool = reg.push_image("shop/tool", Some("2.1"), "tool 2.1");
    let dir = tempfile::tempdir().unwrap();
    let signer = KeySigner::new(&dir.path().join("key"), "p256");
    let key = signer.public_key();
    let lock = dir.path().join("images.lock.json");
    // Each signature carries a Rekor bundle, checked under the test log's root.
    let log = dir.path().join("log");
    let root = log.join("trusted_root.json");
    let flags = [
        "--signature",
        "--key",
        key.to_str().unwrap(),
        "--lock",
        lock.to_str().unwrap(),
        "--no-render",
        "--trusted-root",
        root.to_str().unwrap(),
    ];
    let digests = refs_manifest(dir.path(), &reg.host, &web.digest, &tool.digest);
    let sign = |repo: &str, digest: &str| {
        let signed = signer.sign_logged(&log, &[Job::new(&reg.reference(repo), digest)]);
        cosign::push_tag_scheme(&reg, repo, digest, &signed);
    };
    sign("shop/web", &web.digest);
    let chart = chart_for(&reg.host, &dir.path().join("first"));
    let unsigned = release(&chart, &digests, &flags, dir.path());
    assert_eq!(unsigned.code, 1, "{}", unsigned.all());
    assert!(
        unsigned.all().contains("signature-missing"),
        "{}",
        unsigned.all()
    );
    assert!(!lock.exists());

    sign("shop/tool", &tool.digest);
    // --hermetic looks only digests up, the signatures' tags included.
    let chart = chart_for(&reg.host, &dir.path().join("hermetic"));
    let hermetic = release(
        &chart,
        &digests,
        &[&flags[..3], &["--hermetic", "--dry-run", "--no-render"]].concat(),
        dir.path(),
    );
    assert_eq!(hermetic.code, 0, "{}", hermetic.all());
    let chart = chart_for(&reg.host, &dir.path().join("second"));
    let run = release(&chart, &digests, &flags, dir.path());
    assert_eq!(run.code, 0, "{}", run.all());
    // Not rendered (--no-render): the released sites, and the lock says so.
    let doc = read_lock(&lock, "values");
    for image in doc["images"].as_array().unwrap() {
        assert_eq!(image["source"], "values", "{doc:#}");
        assert!(image["rendered"].as_array().unwrap().is_empty(), "{doc:#}");
        assert_eq!(image["signature"], "verified", "{doc:#}");
        let detail = image["signature_detail"].as_str().unwrap();
        assert!(
            detail.contains("cosign.pub") && detail.contains("log index 2000"),
            "{doc:#}"
        );
    }
}

/// A reference written literally in a template (a helm test pod): release
/// splices the digest in after it, with the values files, verifies it,
/// proves it by rendering, and writes it only when everything passed.
#[test]
fn a_template_literal_is_released_with_the_values_and_proven() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let probe = reg.push_image("shop/probe", Some("0.1"), "probe 0.1");
    let test_pod = test_pod(&reg.host);
    let (chart, digests) = proving_setup(&reg, dir.path(), |chart| {
        std::fs::create_dir_all(chart.join("templates/tests")).unwrap();
        std::fs::write(chart.join("templates/tests/test.yaml"), &test_pod).unwrap();
    });
    let mut lines = std::fs::read_to_string(&digests).unwrap();
    let good = dir.path().join("with-probe.txt");
    let bad = dir.path().join("probe-never-pushed.txt");
    std::fs::write(
        &bad,
        format!("{lines}{}/shop/probe:0.1@{NEVER_PUSHED}\n", reg.host),
    )
    .unwrap();
    lines.push_str(&format!("{}/shop/probe:0.1@{}\n", reg.host, probe.digest));
    std::fs::write(&good, &lines).unwrap();
    let template = chart.join("templates/tests/test.yaml");

    // A digest the registry lacks: nothing is written, the template neither.
    let before = snapshot(&chart);
    let run = release(&chart, &bad, &["--format", "json"], dir.path());
    assert_eq!(snapshot(&chart), before);
    let missing = the_one_finding(&run, "digest-not-found");
    assert!(
        missing["file"]
            .as_str()
            .unwrap()
            .ends_with("templates/tests/test.yaml"),
        "{missing}"
    );
    assert_eq!(missing["line"], 10, "{missing}");

    // The dry run shows the template's diff beside the values'.
    let dry = release(
        &chart,
        &good,
        &["--dry-run", "--format", "human"],
        dir.path(),
    );
    assert_eq!(dry.code, 0, "{}", dry.all());
    assert!(
        dry.stdout.contains(&format!(
            "+      image: {}/shop/probe:0.1@{}",
            reg.host, probe.digest
        )),
        "{}",
        dry.all()
    );
    assert_eq!(snapshot(&chart), before);

    let run = release(&chart, &good, &["--format", "json"], dir.path());
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        std::fs::read_to_string(&template).unwrap(),
        test_pod.replace(
            "shop/probe:0.1\n",
            &format!("shop/probe:0.1@{}\n", probe.digest)
        )
    );
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON report");
    let rows = doc["images"].as_array().unwrap();
    let row = rows
        .iter()
        .find(|r| r["image"] == format!("{}/shop/probe", reg.host))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert_eq!(row["verified"], "yes");
    assert_eq!(row["path"], "templates/tests/test.yaml");
    assert_eq!(row["line"], 10);
    assert_eq!(
        row["new_reference"],
        format!("{}/shop/probe:0.1@{}", reg.host, probe.digest)
    );
    // Three images render with their digests: web, tool and the test pod's.
    assert_eq!(doc["rendering"]["proven"], true, "{}", run.stdout);
    assert_eq!(doc["rendering"]["images"], 3, "{}", run.stdout);
    let files: Vec<&str> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert!(
        files
            .iter()
            .any(|f| f.ends_with("templates/tests/test.yaml")),
        "{files:?}"
    );

    // Releasing again changes nothing.
    let before = snapshot(&chart);
    let again = release(&chart, &good, &[], dir.path());
    assert_eq!(again.code, 0, "{}", again.all());
    assert_eq!(snapshot(&chart), before);
}

#[test]
fn an_image_a_values_file_sets_is_reported_not_pinned_under_it() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let (chart, digests) = proving_setup(&reg, dir.path(), |_| {});
    let ci = dir.path().join("ci-values.yaml");
    std::fs::write(
        &ci,
        format!("migrate:\n  image: {}/shop/tool:2.1\n", reg.host),
    )
    .unwrap();
    let before = snapshot(&chart);
    // A pin in the chart's `migrate.image` would be hidden by the file at
    // install time as at render time: reported, with the file named.
    let run = release(
        &chart,
        &digests,
        &["--values-file", ci.to_str().unwrap(), "--format", "json"],
        dir.path(),
    );
    let refused = the_one_finding(&run, "unpinnable-image");
    assert_eq!(refused["path"], "migrate.image", "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("`migrate.image` is set by --values-file ")
            && message.contains("ci-values.yaml"),
        "{message}"
    );
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(
        findings_with(&doc, "digest-not-rendered").is_empty(),
        "{}",
        run.stdout
    );
    assert_eq!(snapshot(&chart), before);
}
