//! Terminal safety (issue 10, item 10): control characters in YAML keys and
//! values, in file names and in error messages reach the terminal escaped
//! (`\x1b`), never raw, in the human and GitHub formats alike; JSON keeps
//! the exact text, escaped by serde. The Markdown job summary, which GitHub
//! reads as Markdown and HTML, shows hostile keys as text.

use std::path::Path;

use crate::support::cli::{Run, chartpin};

/// An OSC that retitles the terminal and a CSI that clears it, as written
/// in double-quoted YAML (`\e`, `\a`) and as they arrive.
const OSC_YAML: &str = r"\e]0;pwned\a";
const CSI_YAML: &str = r"\e[2J";
const HEX: &str = "1111111111111111111111111111111111111111111111111111111111111111";

/// The first character of `s` a terminal would act on: a C0 control other
/// than tab and newline (a CR only before a newline), DEL, a C1 control or
/// a bidi embedding, override or isolate.
fn raw_control(s: &str) -> Option<(usize, char)> {
    let b = s.as_bytes();
    s.char_indices().find(|&(i, c)| match c {
        '\t' | '\n' => false,
        '\r' => b.get(i + 1) != Some(&b'\n'),
        c => c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'),
    })
}

fn assert_no_raw_control(what: &str, run: &Run) {
    for (name, s) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        if let Some((i, c)) = raw_control(s) {
            panic!(
                "{what}: raw {c:?} at byte {i} of {name}:\n{}",
                s.escape_debug()
            );
        }
    }
}

/// A chart at `dir` with `values` as its values.yaml.
fn chart_at(dir: &Path, values: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: app\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(dir.join("values.yaml"), values).unwrap();
}

/// A chart at `dir` whose values hide escape sequences in keys and values.
fn hostile_chart(dir: &Path) {
    let values = format!(
        "\"web{OSC_YAML}\":\n  image:\n    repository: nginx\n    tag: \"1.25{CSI_YAML}\"\n\
         \"k{CSI_YAML}\":\n  image: nginx:latest\n\
         \"evil{OSC_YAML}\":\n  image: \"nginx{OSC_YAML}:1.25\"\n\
         plain:\n  image: docker.io/library/redis:7 # \u{202e}gnp.exe\n"
    );
    chart_at(dir, &values);
}

#[test]
fn yaml_keys_and_values_reach_the_terminal_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let chart = tmp.path().join("chart");
    hostile_chart(&chart);
    let digests = tmp.path().join("digests.txt");
    std::fs::write(
        &digests,
        format!("docker.io/library/redis:7@sha256:{HEX}\n"),
    )
    .unwrap();
    let c = chart.to_str().unwrap();
    let d = digests.to_str().unwrap();
    for format in ["human", "github"] {
        let lint = chartpin(&["lint", c, "--format", format]).run();
        assert_eq!(lint.code, 1, "lint --format {format}: {}", lint.all());
        assert_no_raw_control(&format!("lint --format {format}"), &lint);
        // The sequences are shown, not dropped.
        assert!(
            lint.stdout.contains(r"\x1b]0;pwned\x07") && lint.stdout.contains(r"\x1b[2J"),
            "lint --format {format}: {}",
            lint.all()
        );
        let pin = chartpin(&["pin", c, "--digests", d, "--dry-run", "--format", format]).run();
        assert!(pin.code <= 1, "pin --format {format}: {}", pin.all());
        assert_no_raw_control(&format!("pin --dry-run --format {format}"), &pin);
        assert!(
            pin.stdout.contains(r"\u{202e}gnp.exe"),
            "the diff shows the bidi override escaped: {}",
            pin.all()
        );
    }
    // JSON keeps the exact text, with serde's escapes.
    let json = chartpin(&["lint", c, "--format", "json"]).run();
    assert!(!json.stdout.contains('\x1b'), "{}", json.all());
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let paths: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    assert!(
        paths.iter().any(|p| p.contains("\x1b[2J")),
        "JSON holds the key as written: {paths:?}"
    );
}

#[test]
fn file_names_and_error_chains_reach_the_terminal_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    // A chart directory whose name clears the screen.
    let chart = tmp.path().join("chart\x1b[2J\x1b]0;pwned\x07");
    chart_at(&chart, "image: nginx:latest\n");
    let c = chart.to_str().unwrap();
    for format in ["human", "github"] {
        let run = chartpin(&["lint", c, "--format", format])
            .current_dir(tmp.path())
            .run();
        assert_eq!(run.code, 1, "{}", run.all());
        assert_no_raw_control(&format!("lint of an ESC-named chart, {format}"), &run);
        assert!(run.stdout.contains(r"chart\x1b[2J"), "{}", run.all());
    }
    // An error naming a path that holds escapes, with its causes.
    let missing = tmp.path().join("gone\x1b]0;pwned\x07/values.yaml");
    let run = chartpin(&["lint", missing.to_str().unwrap()]).run();
    assert_eq!(run.code, 2, "{}", run.all());
    assert_no_raw_control("the error for a missing ESC-named path", &run);
    assert!(
        run.stderr.contains(r"gone\x1b]0;pwned\x07"),
        "{}",
        run.all()
    );
    // A values file with raw control bytes: YAML refuses it, and the error's
    // source line shows them escaped.
    let raw = tmp.path().join("raw");
    chart_at(
        &raw,
        "image: \"nginx\x1b]0;pwned\x07\x1b[2J:1.25\"\n\u{9b}2J: x\n",
    );
    for format in ["human", "github"] {
        let run = chartpin(&["lint", raw.to_str().unwrap(), "--format", format]).run();
        assert!(run.code == 1 || run.code == 2, "{}", run.all());
        assert_no_raw_control(&format!("lint of raw control bytes, {format}"), &run);
    }
}

/// The characters of `md` that Markdown reads as syntax: those not after an
/// escaping backslash, outside code spans.
fn markdown_syntax(md: &str) -> String {
    let mut out = String::new();
    let mut chars = md.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            chars.next();
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn the_job_summary_shows_hostile_keys_as_text() {
    // GitHub reads the job summary as Markdown with inline HTML: a key is
    // not to become an image, a link, emphasis or another table cell.
    let reg = crate::support::registry::Registry::start();
    let web = reg.push_image("shop/web", Some("1.0"), "web 1.0");
    let tmp = tempfile::tempdir().unwrap();
    let chart = tmp.path().join("chart");
    let key = "web<img src=x onerror=alert(1)>|[pwn](http://evil)**b**";
    chart_at(
        &chart,
        &format!(
            "\"{key}\":\n  image:\n    repository: {h}/shop/web\n    tag: \"1.0\"\n\
             \"side`car`|x\":\n  image: {h}/shop/side:latest\n",
            h = reg.host
        ),
    );
    let digests = tmp.path().join("digests.txt");
    std::fs::write(
        &digests,
        format!("{}/shop/web:1.0@{}\n", reg.host, web.digest),
    )
    .unwrap();
    let summary = tmp.path().join("summary.md");
    let run = chartpin(&[
        "release",
        chart.to_str().unwrap(),
        "--digests",
        digests.to_str().unwrap(),
        "--no-render",
        "--dry-run",
        "--summary",
        summary.to_str().unwrap(),
    ])
    .home(tmp.path())
    .run();
    assert_eq!(
        run.code,
        1,
        "the mutable side image is a finding: {}",
        run.all()
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    // The key is shown, escaped, in the site cell.
    assert!(
        md.contains(r"web\<img src=x onerror=alert(1)\>\|\[pwn\](http://evil)\*\*b\*\*"),
        "{md}"
    );
    // No row holds an element, a link or emphasis, and each has its header's
    // five cells.
    for row in md.lines().filter(|l| l.starts_with('|')) {
        let syntax = markdown_syntax(row);
        for bad in ["<", "](", "**"] {
            assert!(!syntax.contains(bad), "{bad:?} read as Markdown in {row:?}");
        }
        let cells = syntax.matches('|').count() - 1;
        assert_eq!(cells, 5, "cells in {row:?} of\n{md}");
    }
}

#[test]
fn verbose_log_lines_reach_the_terminal_escaped() {
    // A hidden directory is named in `-v`'s "not searched" line; tracing's
    // own escaping shows ESC but leaves a bare CR, a bidi override and a C1
    // control raw.
    let tmp = tempfile::tempdir().unwrap();
    chart_at(&tmp.path().join("chart"), "image: nginx:latest\n");
    std::fs::create_dir(tmp.path().join(".a\u{202e}b\rc\u{9b}2J\x1b[2J")).unwrap();
    let run = chartpin(&["lint", "-v", "."]).current_dir(tmp.path()).run();
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("not searched for charts"),
        "{}",
        run.all()
    );
    assert_no_raw_control("lint -v naming a hostile directory", &run);
}
