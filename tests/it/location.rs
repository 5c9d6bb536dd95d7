//! The location model: a position is kept as a byte offset into the text it
//! was taken in, and line and column are worked out from that text when a
//! report is rendered. `release` is where this matters: its rows and
//! targets point into a values file as read while lint's findings point
//! into the same file as it will be written, and an earlier pin on a line
//! moves every later offset.

use std::path::Path;

use chartpin::diag::Code;
use chartpin::lint::LintOptions;
use chartpin::manifest::parse_manifest;
use chartpin::release::{self, ReleaseRequest};
use chartpin::source::Sources;

const VALUES: &str = "a:\n  image:\n    repository: ghcr.io/org/a\n    tag: v1\nb:\n  image:\n    repository: ghcr.io/org/b\n    tag: v2\nc:\n  image:\n    repository: ghcr.io/org/c\n    tag: v3\n";

#[test]
fn release_positions_resolve_in_the_text_they_were_taken_in() {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("chart");
    std::fs::create_dir(&chart).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: c\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(chart.join("values.yaml"), VALUES).unwrap();
    let hex = |c: char| c.to_string().repeat(64);
    let digests = format!(
        "ghcr.io/org/a:v1@sha256:{}\nghcr.io/org/b:v2@sha256:{}\n",
        hex('1'),
        hex('2')
    );
    let manifest = parse_manifest(Path::new("digests.txt"), &digests, None).unwrap();
    let request = ReleaseRequest {
        charts: vec![chart.clone()],
        values: vec![],
        config: None,
        probe: None,
    };
    let plan = release::plan(&request, &manifest).unwrap();
    let lint = release::lint_plan(&plan, &LintOptions::default()).unwrap();

    // As the release report holds them: the plan's texts, then lint's, the
    // written text last for the path.
    let mut sources = Sources::new();
    for s in plan.sources.iter().chain(&lint.sources) {
        sources.insert_ref(s);
    }
    let written = &plan.charts[0].values[0].new;
    assert_eq!(
        sources.get(&plan.rows[0].location.file).map(|s| &*s.text),
        Some(&**written),
        "the shown line comes from the file as it will be written"
    );

    // Rows sit where the digest goes in the file as read: `tag:` of a and b.
    let sites: Vec<String> = plan.rows.iter().map(|r| r.site(&sources)).collect();
    let file = plan.rows[0].location.file.display().to_string();
    assert_eq!(
        sites,
        [
            format!("{file}:4:10 a.image"),
            format!("{file}:8:10 b.image")
        ]
    );
    // The same offset read in the written text would be elsewhere: a's
    // pinned tag is 72 bytes longer, so b's offset lands past its line.
    let b = plan.rows[1].location.position.unwrap().start();
    let shifted = sources
        .get(&plan.rows[1].location.file)
        .unwrap()
        .line_col(b);
    assert_ne!((shifted.line, shifted.column), (8, 10));

    // Lint's finding on the unpinned image points into the written text.
    let c = lint
        .findings
        .iter()
        .find(|f| f.code == Code::MutableTag)
        .unwrap_or_else(|| panic!("{:?}", lint.findings));
    let at = c.location.as_ref().unwrap().line_col(&sources).unwrap();
    assert_eq!((at.line, at.column), (12, 10), "{c:?}");
}
