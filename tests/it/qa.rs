//! Cross-command checks from a first-time user's session: the same problem
//! reads the same in every command, and human output says what happened.

use std::path::{Path, PathBuf};

use crate::support::cli::chartpin;

/// A chart `chart/` in a temp dir with `values`, and a digest log beside it.
fn chart(values: &str, digests: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    crate::support::cli::temp_chart(values, digests)
}

/// lint, verify, pin and release on `dir` (pin and release with `log`): each
/// must exit 2; their first stderr lines, in that order.
fn first_error_lines(dir: &Path, log: &Path) -> Vec<String> {
    let runs = [
        chartpin(&["lint", s(dir)]).run(),
        chartpin(&["verify", s(dir)]).run(),
        chartpin(&["pin", s(dir), "--digests", s(log)]).run(),
        chartpin(&["release", s(dir), "--digests", s(log)]).run(),
    ];
    runs.iter()
        .map(|o| {
            assert_eq!(o.code, 2, "{o:?}");
            first_error(&o.stderr)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// stderr from its first `error:` line: pin and release say first whether
/// they found helm, which depends on the PATH the tests run with.
fn first_error(stderr: &str) -> &str {
    stderr.find("error:").map_or(stderr, |i| &stderr[i..])
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn malformed_values_read_the_same_in_every_command() {
    let digest = format!("nginx:1.27@sha256:{}\n", "1".repeat(64));
    let (_tmp, dir, log) = chart("image:\n  repository: nginx\n  tag: [1\n", &digest);
    let first_lines = first_error_lines(&dir, &log);
    assert!(
        first_lines[0].ends_with("values.yaml:3:8: malformed YAML: unclosed bracket '['"),
        "{first_lines:?}"
    );
    assert!(
        first_lines.iter().all(|l| l == &first_lines[0]),
        "{first_lines:#?}"
    );
}

#[test]
fn pin_says_which_image_changed_from_what_to_what_and_where() {
    let new = format!("sha256:{}", "1".repeat(64));
    let old = format!("sha256:{}", "2".repeat(64));
    let values = format!(
        "app:\n  repository: nginx\n  tag: \"1.27\"\n  digest: \"{old}\"\nside:\n  repository: redis\n  tag: \"7\"\n  digest: \"\"\n"
    );
    let log = format!("nginx:1.27@{new}\nredis:7@{new}\n");
    let (_tmp, dir, log) = chart(&values, &log);
    let o = chartpin(&["pin", s(&dir), "--digests", s(&log)]).run();
    assert_eq!(o.code, 0, "{o:?}");
    let out = &o.stdout;
    let shown = dir.join("values.yaml");
    let expect = [
        format!(
            "{}:4:11: pinned nginx:1.27: sha256:222222222222 → {new} (at app)",
            shown.display()
        ),
        format!(
            "{}:8:11: pinned redis:7: empty digest → {new} (at side)",
            shown.display()
        ),
        "pinned 2 images in 1 file".to_string(),
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), expect, "{out}");
    let again = chartpin(&["pin", s(&dir), "--digests", s(&log)]).run();
    let out = &again.stdout;
    assert!(
        out.contains(&format!("4:11: already pinned nginx:1.27: {new} (at app)")),
        "{out}"
    );
}

#[test]
fn invalid_utf8_reads_the_same_in_every_command_with_its_position() {
    let digest = format!("nginx:1.27@sha256:{}\n", "1".repeat(64));
    let (_tmp, dir, log) = chart("", &digest);
    // "name: café" is 10 characters; the invalid byte is the 11th.
    std::fs::write(
        dir.join("values.yaml"),
        b"image: nginx:1.27\nname: caf\xc3\xa9\xff\n",
    )
    .unwrap();
    let first_lines = first_error_lines(&dir, &log);
    let expected = format!(
        "error: {}:2:11: file is not valid UTF-8",
        dir.join("values.yaml").display()
    );
    assert!(
        first_lines.iter().all(|l| l == &expected),
        "{expected}\n{first_lines:#?}"
    );

    // A digest manifest and a config file say the same, at their own positions.
    std::fs::write(dir.join("values.yaml"), "image: nginx:1.27\n").unwrap();
    std::fs::write(&log, b"nginx:1.27@sha256:\xff\n").unwrap();
    let o = chartpin(&["pin", s(&dir), "--digests", s(&log)]).run();
    assert_eq!(o.code, 2, "{o:?}");
    let err = first_error(&o.stderr);
    assert!(
        err.starts_with(&format!(
            "error: {}:1:19: file is not valid UTF-8",
            log.display()
        )),
        "{err}"
    );
    std::fs::write(&log, &digest).unwrap();
    std::fs::write(dir.join(".chartpin.yaml"), b"ignore: []\n# \xfe\n").unwrap();
    let o = chartpin(&["pin", s(&dir), "--digests", s(&log)]).run();
    assert_eq!(o.code, 2, "{o:?}");
    let err = first_error(&o.stderr);
    assert!(
        err.starts_with(&format!(
            "error: {}:2:3: file is not valid UTF-8",
            dir.join(".chartpin.yaml").display()
        )),
        "{err}"
    );

    // Rendered manifests given to lint say it the same way.
    std::fs::remove_file(dir.join(".chartpin.yaml")).unwrap();
    let rendered = dir.parent().unwrap().join("rendered.yaml");
    std::fs::write(&rendered, b"kind: Pod\nimage: caf\xff\n").unwrap();
    let o = chartpin(&["lint", "--rendered", s(&rendered), s(&dir)]).run();
    assert_eq!(o.code, 2, "{o:?}");
    let err = first_error(&o.stderr);
    assert!(
        err.starts_with(&format!(
            "error: {}:2:11: file is not valid UTF-8",
            rendered.display()
        )),
        "{err}"
    );

    // A directory where a file belongs is an input error, not an I/O riddle.
    let o = chartpin(&["pin", s(&dir), "--digests", s(dir.parent().unwrap())]).run();
    assert_eq!(o.code, 2, "{o:?}");
    let err = &o.stderr;
    assert!(err.contains(": is a directory"), "{err}");
}

#[test]
fn pin_and_release_point_at_the_field_they_write() {
    let d = "1".repeat(64);
    let values = "app:\n  repository: nginx\n  tag: \"1.27\"\n  digest: \"\"\ntool:\n  image: busybox:1.36\nside:\n  repository: redis\n  tag: \"7\"\n  sha: \"\"\nplain:\n  repository: alpine\n  tag: \"3.20\"\n";
    let log = format!(
        "nginx:1.27@sha256:{d}\nbusybox:1.36@sha256:{d}\nredis:7@sha256:{d}\nalpine:3.20@sha256:{d}\n"
    );
    let (_tmp, dir, log) = chart(values, &log);
    let o = chartpin(&["pin", s(&dir), "--digests", s(&log), "--check"]).run();
    assert_eq!(o.code, 1, "{o:?}");
    let out = &o.stdout;
    let shown = dir.join("values.yaml").display().to_string();
    // The digest field, the string, the sha field, the tag: each where the pin lands.
    let pin_sites: Vec<String> = out
        .lines()
        .filter(|l| l.contains(": pinned "))
        .map(|l| {
            let (place, rest) = l.split_once(": pinned ").unwrap();
            let path = rest.rsplit_once("(at ").unwrap().1.trim_end_matches(')');
            format!("{place} {path}")
        })
        .collect();
    assert_eq!(
        pin_sites,
        [
            format!("{shown}:4:11 app"),
            format!("{shown}:6:10 tool.image"),
            format!("{shown}:10:8 side"),
            format!("{shown}:13:8 plain"),
        ],
        "{out}"
    );

    let manifest = chartpin::manifest::read_manifests(std::slice::from_ref(&log), None).unwrap();
    let request = chartpin::release::ReleaseRequest {
        charts: vec![dir.clone()],
        values: vec![],
        config: None,
        probe: None,
    };
    let plan = chartpin::release::plan(&request, &manifest).unwrap();
    let release_sites: Vec<String> = plan.rows.iter().map(|r| r.site(&plan.sources)).collect();
    assert_eq!(release_sites, pin_sites);
}
