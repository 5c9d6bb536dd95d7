//! Charts built to hurt: FIFOs where files belong, inputs larger than any
//! chart, gzip bombs, archives with a second top-level directory, templates
//! lint used to skip, symlinks out of the chart, and the staging copy helm
//! renders (dead ones removed, none left on SIGTERM). Every input is made at
//! run time; every run is bounded in time, so a hang fails the test instead
//! of stalling the suite.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::cli::{Run, peak_rss_kib};
use crate::support::helm::{helm, path_with_helm};
use crate::support::registry::Registry;

const META: &str = "apiVersion: v2\nname: app\nversion: 0.1.0\n";
const HEX: &str = "0000000000000000000000000000000000000000000000000000000000000001";

/// The shared runner's chartpin with HOME at `home`, helm on PATH, temp files
/// under `home`, as a process these tests spawn themselves (to bound its time).
fn command(args: &[&str], home: &Path) -> Command {
    crate::support::cli::chartpin(args)
        .home(home)
        .env("PATH", path_with_helm())
        .env("TMPDIR", home)
        .command()
}

/// Run `cmd` (stdin from `input`, else nothing) and fail if it has not
/// finished within `secs`: a hang is a failure, not a stall.
fn bounded(cmd: &mut Command, input: Option<Stdio>, secs: u64) -> Run {
    let mut child = cmd
        .stdin(input.unwrap_or_else(Stdio::null))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run chartpin");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chartpin {:?} did not finish within {secs}s (it hangs)",
                cmd.get_args()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run::from_output(std::process::Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    })
}

fn chartpin(args: &[&str], home: &Path) -> Run {
    bounded(&mut command(args, home), None, 60)
}

/// A chart at `dir/app` with `files` (relative path, text).
fn chart(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
    let root = dir.join("app");
    for (rel, text) in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    root
}

fn mkfifo(p: &Path) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    let made = Command::new("mkfifo").arg(p).status().expect("run mkfifo");
    assert!(made.success());
}

/// A manifest with one entry no chart here uses.
fn unrelated_digests(dir: &Path) -> PathBuf {
    let p = dir.join("digests.txt");
    std::fs::write(&p, format!("example.com/other/thing:1@sha256:{HEX}\n")).unwrap();
    p
}

/// A gzip'd tar of `entries` (path, body).
fn tgz(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (p, body) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_path(p).unwrap();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, body.as_slice()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_fifo_values_file_is_refused_quickly_by_pin_and_release() {
    let dir = tempfile::tempdir().unwrap();
    let app = chart(dir.path(), &[("Chart.yaml", META)]);
    mkfifo(&app.join("values.yaml"));
    let digests = unrelated_digests(dir.path());
    for cmd in ["pin", "release", "lint", "verify"] {
        let run = bounded(
            &mut command(
                &[cmd, s(&app), "--digests", s(&digests)][..if cmd == "lint" { 2 } else { 4 }],
                dir.path(),
            ),
            None,
            20,
        );
        assert_eq!(run.code, 2, "{cmd}: {}", run.all());
        assert!(
            run.stderr.contains("values.yaml")
                && run.stderr.contains("not a regular file (a FIFO)"),
            "{cmd}: {}",
            run.all()
        );
    }
}

#[test]
fn a_fifo_or_a_device_given_as_values_file_is_refused_before_helm_runs() {
    let dir = tempfile::tempdir().unwrap();
    let app = chart(
        dir.path(),
        &[("Chart.yaml", META), ("values.yaml", "image: nginx:1.25\n")],
    );
    let fifo = dir.path().join("ci-values.yaml");
    mkfifo(&fifo);
    let digests = unrelated_digests(dir.path());
    for values in [s(&fifo), "/dev/zero"] {
        for cmd in ["pin", "release", "lint"] {
            let mut args = vec![cmd, s(&app), "--render", "--values-file", values];
            if cmd != "lint" {
                args.extend(["--digests", s(&digests), "--dry-run"]);
            }
            let run = bounded(&mut command(&args, dir.path()), None, 20);
            assert_eq!(run.code, 2, "{cmd} {values}: {}", run.all());
            assert!(
                run.stderr.contains(values) && run.stderr.contains("not a regular file ("),
                "{cmd} {values}: {}",
                run.all()
            );
        }
    }
}

#[test]
fn a_fifo_anywhere_in_the_chart_does_not_hang_release() {
    let dir = tempfile::tempdir().unwrap();
    let app = chart(
        dir.path(),
        &[("Chart.yaml", META), ("values.yaml", "image: nginx:1.25\n")],
    );
    mkfifo(&app.join("files/pipe"));
    let digests = unrelated_digests(dir.path());
    // By convention, linted in memory: the FIFO is never opened.
    let run = chartpin(
        &["release", s(&app), "--digests", s(&digests), "--no-render"],
        dir.path(),
    );
    assert_ne!(run.code, 2, "{}", run.all());
    assert!(run.stdout.contains("matches no image"), "{}", run.all());
    // Rendering stages a copy for helm, which refuses the FIFO by name.
    let run = chartpin(
        &["release", s(&app), "--digests", s(&digests), "--render"],
        dir.path(),
    );
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains("files/pipe") && run.stderr.contains("not a regular file (a FIFO)"),
        "{}",
        run.all()
    );
    assert_eq!(
        std::fs::read_to_string(app.join("values.yaml")).unwrap(),
        "image: nginx:1.25\n"
    );
}

#[test]
fn rendered_input_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let run = bounded(
        &mut command(&["lint", "--rendered", "/dev/zero"], dir.path()),
        None,
        30,
    );
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains("/dev/zero")
            && run.stderr.contains("64 MiB")
            && run.stderr.contains("--max-input-size"),
        "{}",
        run.all()
    );
    assert!(started.elapsed() < Duration::from_secs(30));

    // Standard input: 2 MiB of manifests against a 1 MiB limit.
    let big = dir.path().join("big.yaml");
    let doc = "---\nkind: Pod\nspec:\n  containers:\n  - image: nginx:1.25\n";
    std::fs::write(&big, doc.repeat((2 << 20) / doc.len())).unwrap();
    let run = bounded(
        &mut command(
            &["lint", "--rendered", "-", "--max-input-size", "1M"],
            dir.path(),
        ),
        Some(std::fs::File::open(&big).unwrap().into()),
        30,
    );
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains("<stdin>") && run.stderr.contains("1 MiB"),
        "{}",
        run.all()
    );
}

#[test]
fn an_oversized_file_names_itself_the_limit_and_the_flag_on_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let values = format!(
        "image: nginx:1.25@sha256:{HEX}\npad: \"{}\"\n",
        "x".repeat(600 << 10)
    );
    let app = chart(
        dir.path(),
        &[("Chart.yaml", META), ("values.yaml", &values)],
    );
    let digests = unrelated_digests(dir.path());
    for cmd in ["lint", "pin", "verify", "release"] {
        let mut args = vec![cmd, s(&app), "--max-input-size", "512K"];
        if cmd == "pin" || cmd == "release" {
            args.extend(["--digests", s(&digests)]);
        }
        let run = chartpin(&args, dir.path());
        assert_eq!(run.code, 2, "{cmd}: {}", run.all());
        assert!(
            run.stderr.contains("values.yaml")
                && run.stderr.contains("512 KiB")
                && run.stderr.contains("--max-input-size"),
            "{cmd}: {}",
            run.all()
        );
    }
    // Raised, the same chart reads.
    let run = chartpin(&["lint", s(&app), "--max-input-size", "1M"], dir.path());
    assert_eq!(run.code, 0, "{}", run.all());
}

#[test]
fn archive_entries_and_their_total_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = vec![("app/Chart.yaml", META.as_bytes().to_vec())];
    let names: Vec<String> = (0..30)
        .map(|i| format!("app/templates/z{i:02}.yaml"))
        .collect();
    for n in &names {
        entries.push((n.as_str(), vec![b' '; 3 << 20]));
    }
    let bomb = dir.path().join("bomb.tgz");
    std::fs::write(&bomb, tgz(&entries)).unwrap();
    assert!(std::fs::metadata(&bomb).unwrap().len() < 2 << 20);
    let run = chartpin(&["lint", s(&bomb), "--max-input-size", "8M"], dir.path());
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains("bomb.tgz")
            && run
                .stderr
                .contains("archive expands to more than the limit")
            && run.stderr.contains("app/templates/z02.yaml")
            && run.stderr.contains("8 MiB"),
        "{}",
        run.all()
    );
    let big = dir.path().join("big.tgz");
    std::fs::write(
        &big,
        tgz(&[
            ("app/Chart.yaml", META.as_bytes().to_vec()),
            ("app/values.yaml", vec![b' '; 2 << 20]),
        ]),
    )
    .unwrap();
    let run = chartpin(&["lint", s(&big), "--max-input-size", "1M"], dir.path());
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr
            .contains("archive entry `app/values.yaml` is too large")
            && run.stderr.contains("--max-input-size"),
        "{}",
        run.all()
    );
}

#[test]
fn an_archive_with_a_second_top_level_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let two = dir.path().join("two.tgz");
    std::fs::write(
        &two,
        tgz(&[
            ("app/Chart.yaml", META.as_bytes().to_vec()),
            ("app/values.yaml", b"image: nginx:1.25@sha256:0000000000000000000000000000000000000000000000000000000000000001\n".to_vec()),
            ("zzz/values.yaml", b"image: nginx:latest\n".to_vec()),
        ]),
    )
    .unwrap();
    for cmd in ["lint", "verify"] {
        let run = chartpin(&[cmd, s(&two)], dir.path());
        assert_eq!(run.code, 2, "{cmd}: {}", run.all());
        assert!(
            run.stderr.contains("two.tgz")
                && run.stderr.contains("`app`, `zzz`")
                && run.stderr.contains("exactly one top-level directory"),
            "{cmd}: {}",
            run.all()
        );
    }
}

#[test]
fn every_template_helm_renders_is_linted_whatever_its_extension() {
    let dir = tempfile::tempdir().unwrap();
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: c\n      image: nginx:latest\n";
    let app = chart(
        dir.path(),
        &[
            ("Chart.yaml", META),
            ("templates/pod.YAML", pod),
            ("templates/pod", pod),
            ("templates/more/pod.txt", pod),
            ("templates/NOTES.txt", pod),
            ("templates/_partial.txt", pod),
        ],
    );
    // helm renders exactly the first three.
    let rendered = crate::support::helm::template("r", &app);
    assert_eq!(
        rendered.matches("image: nginx:latest").count(),
        3,
        "{rendered}"
    );
    let run = chartpin(&["lint", s(&app), "--format", "json"], dir.path());
    assert_eq!(run.code, 1, "{}", run.all());
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let mut files: Vec<String> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap().to_string())
        .collect();
    files.sort();
    let want: Vec<String> = [
        "templates/more/pod.txt",
        "templates/pod",
        "templates/pod.YAML",
    ]
    .iter()
    .map(|r| app.join(r).display().to_string())
    .collect();
    assert_eq!(files, want, "{}", run.stdout);
}

#[test]
fn templates_past_the_directory_limit_are_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let app = chart(dir.path(), &[("Chart.yaml", META)]);
    std::fs::create_dir_all(app.join("templates")).unwrap();
    for i in 0..10_001 {
        std::fs::create_dir(app.join(format!("templates/d{i}"))).unwrap();
    }
    let run = chartpin(&["lint", s(&app)], dir.path());
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains("templates") && run.stderr.contains("more than 10000 directories"),
        "{}",
        run.all()
    );
}

#[test]
fn lint_refuses_a_values_symlink_out_of_the_chart() {
    let dir = tempfile::tempdir().unwrap();
    let app = chart(dir.path(), &[("Chart.yaml", META)]);
    let outside = dir.path().join("secret.yaml");
    std::fs::write(&outside, "image: nginx:latest\n").unwrap();
    std::os::unix::fs::symlink(&outside, app.join("values.yaml")).unwrap();
    for cmd in ["lint", "verify"] {
        let run = chartpin(&[cmd, s(&app)], dir.path());
        assert_eq!(run.code, 2, "{cmd}: {}", run.all());
        assert!(
            run.stderr.contains("values.yaml") && run.stderr.contains("outside the chart"),
            "{cmd}: {}",
            run.all()
        );
        assert!(!run.all().contains("nginx:latest"), "{cmd}: {}", run.all());
    }
}

#[test]
fn a_digest_without_a_name_is_an_invalid_reference() {
    let dir = tempfile::tempdir().unwrap();
    let values = format!("image: \"@sha256:{HEX}\"\n");
    let app = chart(
        dir.path(),
        &[("Chart.yaml", META), ("values.yaml", &values)],
    );
    let run = chartpin(&["lint", s(&app), "--format", "json"], dir.path());
    assert_eq!(run.code, 1, "{}", run.all());
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let f = &doc["findings"][0];
    assert_eq!(f["code"], "invalid-reference", "{}", run.stdout);
    assert!(
        f["message"].as_str().unwrap().contains("no image name"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_subchart_disabled_by_its_condition_is_not_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let parent = format!(
        "{META}dependencies:\n  - name: sub\n    version: 0.1.0\n    condition: sub.enabled,global.sub\n"
    );
    let sub_pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: s\nspec:\n  containers:\n    - name: c\n      image: {{ .Values.image }}\n";
    let files = |enabled: &str| -> Vec<(String, String)> {
        vec![
            ("Chart.yaml".into(), parent.clone()),
            (
                "values.yaml".into(),
                format!("sub:\n  enabled: {enabled}\n"),
            ),
            (
                "charts/sub/Chart.yaml".into(),
                "apiVersion: v2\nname: sub\nversion: 0.1.0\n".into(),
            ),
            (
                "charts/sub/values.yaml".into(),
                "image: nginx:latest\n".into(),
            ),
            ("charts/sub/templates/pod.yaml".into(), sub_pod.into()),
        ]
    };
    for (enabled, code, renders) in [("false", 0, false), ("true", 1, true), ("\"yes\"", 1, true)] {
        let case = tempfile::tempdir_in(dir.path()).unwrap();
        let owned = files(enabled);
        let refs: Vec<(&str, &str)> = owned
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let app = chart(case.path(), &refs);
        let rendered = crate::support::helm::template("r", &app);
        assert_eq!(
            rendered.contains("nginx:latest"),
            renders,
            "{enabled}: {rendered}"
        );
        let run = chartpin(&["lint", s(&app)], dir.path());
        assert_eq!(run.code, code, "enabled: {enabled}: {}", run.all());
    }
}

#[test]
fn values_documents_merge_as_helm_v4_renders_them() {
    let dir = tempfile::tempdir().unwrap();
    let pinned = format!("nginx:1.25@sha256:{HEX}");
    let values =
        format!("image: nginx:latest\nworker:\n  image: busybox:1.36\n---\nimage: {pinned}\n");
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: c\n      image: {{ .Values.image }}\n";
    let app = chart(
        dir.path(),
        &[
            ("Chart.yaml", META),
            ("values.yaml", &values),
            ("templates/pod.yaml", pod),
        ],
    );
    // helm 4 reads every document, a later one's keys over an earlier one's.
    let rendered = crate::support::helm::template("r", &app);
    assert!(rendered.contains(&format!("image: {pinned}")), "{rendered}");
    let run = chartpin(&["lint", s(&app), "--format", "json"], dir.path());
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let images: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["image"].as_str().unwrap_or_default())
        .collect();
    // The overridden `nginx:latest` is not reported; the first document's other keys still count.
    assert_eq!(images, ["busybox:1.36"], "{}", run.all());
}

/// The release fixture's chart pointing at `reg`, its digests pushed: (chart, digests).
fn release_chart(reg: &Registry, dir: &Path) -> (PathBuf, PathBuf) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/release/chart");
    let app = dir.join("chart");
    crate::support::cli::copy_dir(&fixture, &app);
    for f in ["values.yaml", "Chart.yaml"] {
        let p = app.join(f);
        let text = std::fs::read_to_string(&p)
            .unwrap()
            .replace("REGISTRY", &reg.host);
        std::fs::write(&p, text).unwrap();
    }
    let web = reg.push_image("shop/web", Some("1.0"), "web 1.0");
    let tool = reg.push_image("shop/tool", Some("2.1"), "tool 2.1");
    let digests = dir.join("digests.txt");
    std::fs::write(
        &digests,
        format!(
            "{h}/shop/web:1.0@{}\n{h}/shop/tool:2.1@{}\n",
            web.digest,
            tool.digest,
            h = reg.host
        ),
    )
    .unwrap();
    (app, digests)
}

fn staging_dirs(tmp: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(tmp)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("chartpin-"))
        .collect();
    v.sort();
    v
}

#[test]
fn release_render_removes_dead_staging_directories_and_leaves_none() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let (app, digests) = release_chart(&reg, dir.path());
    let tmp = dir.path().join("tmp");
    for dead in [
        "chartpin-stage-999999999-0badf00d",
        "chartpin-release-999999998-1-0",
    ] {
        std::fs::create_dir_all(tmp.join(dead).join("chart/templates")).unwrap();
    }
    let mut cmd = command(
        &["release", s(&app), "--digests", s(&digests), "--render"],
        dir.path(),
    );
    cmd.env("TMPDIR", &tmp);
    let run = bounded(&mut cmd, None, 120);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("released: pinned 2 images"),
        "{}",
        run.all()
    );
    assert_eq!(staging_dirs(&tmp), Vec::<String>::new());
}

#[test]
fn release_render_removes_its_staging_directory_on_sigterm() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let (app, digests) = release_chart(&reg, dir.path());
    let before = std::fs::read_to_string(app.join("values.yaml")).unwrap();
    // helm, held back until the test has seen the staging directory: the
    // real binary behind a wrapper that first records its pid and waits.
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let mark = dir.path().join("helm.pid");
    let wrapper = bin.join("helm");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho $$ > '{}'\nsleep 20\nexec '{}' \"$@\"\n",
            mark.display(),
            helm().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut cmd = command(
        &["release", s(&app), "--digests", s(&digests), "--render"],
        dir.path(),
    );
    cmd.env("TMPDIR", &tmp)
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(mark.exists() && staging_dirs(&tmp).len() == 1) {
        assert!(Instant::now() < deadline, "helm never started");
        assert!(child.try_wait().unwrap().is_none(), "chartpin ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    let staged = staging_dirs(&tmp);
    assert!(
        staged[0].starts_with(&format!("chartpin-stage-{}-", child.id())),
        "{staged:?}"
    );
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "chartpin ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    let helm_pid = std::fs::read_to_string(&mark).unwrap();
    let _ = Command::new("kill").arg(helm_pid.trim()).status();
    assert_eq!(status.signal(), Some(15), "{status:?}");
    assert_eq!(staging_dirs(&tmp), Vec::<String>::new());
    assert_eq!(
        std::fs::read_to_string(app.join("values.yaml")).unwrap(),
        before
    );
}

#[test]
fn a_packaged_chart_is_held_in_memory_once() {
    let dir = tempfile::tempdir().unwrap();
    // 48 MiB of templates, as a directory and as a .tgz of the same files.
    let line = format!("# {}\n", "x".repeat(78));
    let body = line.repeat((4 << 20) / line.len());
    let mut files = vec![("Chart.yaml".to_string(), META.to_string())];
    for i in 0..12 {
        files.push((format!("templates/t{i}.yaml"), body.clone()));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let app = chart(dir.path(), &refs);
    let entries: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(rel, text)| (format!("app/{rel}"), text.clone().into_bytes()))
        .collect();
    let entries: Vec<(&str, Vec<u8>)> = entries
        .iter()
        .map(|(p, b)| (p.as_str(), b.clone()))
        .collect();
    let packaged = dir.path().join("app.tgz");
    std::fs::write(&packaged, tgz(&entries)).unwrap();
    let (dir_code, dir_rss) = peak_rss_kib(&mut command(&["lint", s(&app)], dir.path()));
    let (tgz_code, tgz_rss) = peak_rss_kib(&mut command(&["lint", s(&packaged)], dir.path()));
    assert_eq!((dir_code, tgz_code), (0, 0));
    // Read from an archive, the files cost what they cost read from disk
    // (a second copy would add the whole 48 MiB).
    assert!(
        tgz_rss < dir_rss + (16 << 10),
        "packaged: {tgz_rss} KiB, directory: {dir_rss} KiB"
    );
}
