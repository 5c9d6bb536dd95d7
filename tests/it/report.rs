//! Snapshot and structure tests of every report format, on one fixed set of
//! findings that exercises the awkward cases: a path outside the base, a
//! finding without a file, a message needing workflow-command escaping.

use std::path::{Path, PathBuf};

use chartpin::diag::{Code, Finding, Severity};
use chartpin::report::{self, Format, RenderOptions, Sources, sarif};
use chartpin::source::{SourceFile, Span};

const VALUES: &str = "image:\n  repository: nginx\n  tag: \"1.25\"\nsidecar: busybox\n";

fn sources() -> Sources<'static> {
    let mut s = Sources::new();
    s.insert(SourceFile::new("/repo/chart/values.yaml", VALUES));
    s
}

fn findings() -> Vec<Finding> {
    let src = SourceFile::new("/repo/chart/values.yaml", VALUES);
    let tag = VALUES.find("\"1.25\"").unwrap();
    let side = VALUES.find("busybox").unwrap();
    vec![
        Finding::new(
            Code::MutableTag,
            "nginx:1.25 is referenced by tag without a digest",
        )
        .at(&src, Span::new(tag, tag + 6))
        .with_path("image.tag")
        .with_image("nginx:1.25"),
        Finding::new(Code::ImplicitLatest, "busybox has neither tag nor digest")
            .at(&src, Span::new(side, side + 7))
            .with_path("sidecar")
            .with_image("busybox"),
        Finding::new(
            Code::UnusedSuppression,
            "ignore rule 2 (code: mutable-tag, image: a,b) matched nothing\n100% unused",
        )
        .in_file("/repo/.chartpin.yaml"),
        Finding::new(Code::SkippedDocument, "document 3 has no apiVersion/kind")
            .with_severity(Severity::Note),
    ]
}

fn render(format: Format) -> String {
    let sources = sources();
    let opts = RenderOptions {
        base: Some(PathBuf::from("/repo")),
        color: false,
        sources: Some(&sources),
        files_checked: Some(3),
    };
    let mut out = Vec::new();
    report::render(format, &findings(), &opts, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// The tool version, replaced so a version bump does not churn snapshots.
fn without_version(s: &str) -> String {
    s.replace(
        &format!("\"{}\"", env!("CARGO_PKG_VERSION")),
        "\"[VERSION]\"",
    )
}

#[test]
fn human_snapshot() {
    insta::assert_snapshot!(render(Format::Human));
}

#[test]
fn human_colour_only_when_asked() {
    let sources = sources();
    let mut opts = RenderOptions {
        base: Some(PathBuf::from("/repo")),
        color: true,
        sources: Some(&sources),
        files_checked: None,
    };
    let mut out = Vec::new();
    report::render_human(&findings(), &opts, &mut out).unwrap();
    let bold_red = report::severity_style(chartpin::diag::Severity::Error);
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains(&format!("{bold_red}error[mutable-tag]{bold_red:#}")),
        "{text:?}"
    );
    assert!(
        text.contains("\x1b[1m\x1b[31merror[mutable-tag]"),
        "{text:?}"
    );
    opts.color = false;
    let mut out = Vec::new();
    report::render_human(&findings(), &opts, &mut out).unwrap();
    assert!(!String::from_utf8(out).unwrap().contains('\x1b'));
}

#[test]
fn json_snapshot_and_shape() {
    let text = render(Format::Json);
    insta::assert_snapshot!(text);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&str> = v["findings"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = vec![
        "code", "severity", "message", "file", "line", "column", "path", "image",
    ];
    want.sort();
    let mut got = keys.clone();
    got.sort();
    assert_eq!(got, want);
    assert_eq!(v["summary"]["errors"], 2);
    assert_eq!(v["summary"]["by_code"]["mutable-tag"], 1);
}

#[test]
fn sarif_snapshot() {
    insta::assert_snapshot!(without_version(&render(Format::Sarif)));
}

/// The SARIF document parses into the typed 2.1.0 model (unknown fields
/// refused) and meets the constraints GitHub code scanning checks.
#[test]
fn sarif_meets_the_2_1_0_structure() {
    let text = render(Format::Sarif);
    let log: sarif::Log = serde_json::from_str(&text).unwrap();
    assert_eq!(log.version, "2.1.0");
    assert!(log.schema.contains("sarif-2.1.0"));
    assert_eq!(log.runs.len(), 1);
    let run = &log.runs[0];
    let driver = &run.tool.driver;
    assert_eq!(driver.name, "chartpin");
    assert!(driver.information_uri.starts_with("https://"));
    for rule in &driver.rules {
        let code = Code::from_name(&rule.id).expect("rule id is a code");
        assert_eq!(rule.short_description.text, code.description());
        assert!(["error", "warning", "note"].contains(&rule.default_configuration.level.as_str()));
    }
    assert_eq!(run.results.len(), 4);
    for r in &run.results {
        assert_eq!(driver.rules[r.rule_index].id, r.rule_id);
        assert!(["none", "note", "warning", "error"].contains(&r.level.as_str()));
        assert!(!r.message.text.is_empty());
        for loc in &r.locations {
            let a = &loc.physical_location.artifact_location;
            assert!(
                !a.uri.starts_with('/') && !a.uri.contains("://"),
                "{}",
                a.uri
            );
            assert_eq!(a.uri_base_id.as_deref(), Some("%SRCROOT%"));
            if let Some(region) = &loc.physical_location.region {
                assert!(region.start_line >= 1 && region.start_column >= 1);
            }
        }
    }
    let first = &run.results[0].locations[0].physical_location;
    assert_eq!(first.artifact_location.uri, "chart/values.yaml");
    assert_eq!(first.region.as_ref().unwrap().start_line, 3);
    assert_eq!(first.region.as_ref().unwrap().start_column, 8);
    // A finding without a file has no location rather than an empty one.
    assert!(run.results[3].locations.is_empty());
}

#[test]
fn github_snapshot() {
    insta::assert_snapshot!(render(Format::Github));
}

#[test]
fn github_lines_one_by_one() {
    let text = render(Format::Github);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert_eq!(
        lines[0],
        "::error file=chart/values.yaml,line=3,col=8,title=mutable-tag::nginx:1.25 is referenced by tag without a digest (at image.tag)"
    );
    assert_eq!(
        lines[1],
        "::error file=chart/values.yaml,line=4,col=10,title=implicit-latest::busybox has neither tag nor digest (at sidecar)"
    );
    // Newline and % escaped in data; ':' and ',' left alone in data.
    assert_eq!(
        lines[2],
        "::warning file=.chartpin.yaml,title=unused-suppression::ignore rule 2 (code: mutable-tag, image: a,b) matched nothing%0A100%25 unused"
    );
    assert_eq!(
        lines[3],
        "::notice title=skipped-document::document 3 has no apiVersion/kind"
    );
    assert!(!lines[4].starts_with("::"));
}

#[test]
fn github_properties_escape_colon_and_comma() {
    let f = Finding::new(Code::MutableTag, "m").in_file("/repo/a,b:c.yaml");
    let opts = RenderOptions {
        base: Some(PathBuf::from("/repo")),
        ..RenderOptions::default()
    };
    let mut out = Vec::new();
    report::render_github(&[f], &opts, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text.lines().next().unwrap(),
        "::error file=a%2Cb%3Ac.yaml,title=mutable-tag::m"
    );
}

#[test]
fn markdown_snapshot() {
    let sources = sources();
    let opts = RenderOptions {
        base: Some(PathBuf::from("/repo")),
        color: false,
        sources: Some(&sources),
        files_checked: None,
    };
    let mut out = Vec::new();
    report::render_markdown(&findings(), &opts, &mut out).unwrap();
    insta::assert_snapshot!(String::from_utf8(out).unwrap());
}

#[test]
fn paths_outside_the_base_stay_absolute() {
    assert_eq!(
        report::relative_path(Path::new("/other/values.yaml"), Some(Path::new("/repo"))),
        PathBuf::from("/other/values.yaml")
    );
}
