//! `chartpin lint` end to end: the corpus charts as shipped, fixture charts
//! rendered by the real helm, packaged charts, suppression, bad input and
//! exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;

use chartpin::diag::{Code, Exit, Finding};
use chartpin::lint::{self, ImageOrigin, LintOptions, RenderedInput};
use chartpin::report;

use crate::support::cli::{chartpin, finding_fields};
use crate::support::helm;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn corpus() -> PathBuf {
    root().join("../shared/corpus/charts")
}

fn fixture(name: &str) -> PathBuf {
    root().join("testdata/lint").join(name)
}

/// Findings as one line each, paths relative to `base`, for snapshots.
fn lines(findings: &[Placed], base: &Path) -> String {
    let mut out = String::new();
    for f in findings {
        let file = f
            .file()
            .map(|p| {
                report::relative_path(p, Some(base))
                    .to_string_lossy()
                    .into_owned()
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "{file}:{}:{} {}[{}] {} {}\n    {}\n",
            f.line,
            f.column,
            f.severity.as_str(),
            f.code,
            f.path.as_deref().unwrap_or("-"),
            f.image.as_deref().unwrap_or("-"),
            f.message
        ));
    }
    out
}

/// A finding with the line and column the reports show for it (worked out
/// from the texts lint read).
struct Placed {
    finding: Finding,
    line: usize,
    column: usize,
}

impl std::ops::Deref for Placed {
    type Target = Finding;
    fn deref(&self) -> &Finding {
        &self.finding
    }
}

impl std::fmt::Debug for Placed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{} {:?}", self.line, self.column, self.finding)
    }
}

fn lint_dirs(paths: &[PathBuf], opts: &LintOptions) -> Vec<Placed> {
    let outcome = lint::lint(paths, opts).expect("lint runs");
    let sources = outcome.all_sources();
    outcome
        .findings
        .iter()
        .cloned()
        .map(|finding| {
            let at = finding.location.as_ref().and_then(|l| l.line_col(&sources));
            let (line, column) = at.map_or((0, 0), |lc| (lc.line, lc.column));
            Placed {
                finding,
                line,
                column,
            }
        })
        .collect()
}

fn codes(findings: &[Placed]) -> Vec<Code> {
    findings.iter().map(|f| f.code).collect()
}

// ------------------------------------------------------------------ corpus

/// Each corpus chart linted as shipped (values.yaml, plus Chart.yaml where
/// the corpus has it). The snapshots were reviewed by hand; the description
/// of each says what the chart's conventions are and what lint must and
/// must not report.
#[test]
fn corpus_charts_as_shipped() {
    let conventions: &[(&str, &str)] = &[
        (
            "bitnami-nginx",
            "Bitnami blocks {registry, repository, tag, digest: \"\"} with global.imageRegistry. \
             Three images (nginx, git, nginx-exporter), all with an empty digest: three empty-digest, \
             nothing else. Chart.yaml's `images` annotation is Bitnami's own key, not artifacthub.io/images, \
             and is not linted.",
        ),
        (
            "cert-manager-1.16",
            "cert-manager <= 1.19: image.repository holds the full quay.io name, tag and digest are \
             commented out (the template fills appVersion in). Five images, each implicit-latest as \
             written in values; no others exist in the file.",
        ),
        (
            "cert-manager-head",
            "cert-manager >= 1.20: imageRegistry + imageNamespace + image.name per component. The same \
             five components, composed as quay.io/jetstack/<name>; implicit-latest each.",
        ),
        (
            "grafana",
            "grafana {registry, repository, tag, sha} where sha is bare hex: every sha is empty, so \
             empty-digest for grafana, curl, busybox, k8s-sidecar and image-renderer; the bats test image \
             has no sha field and is a plain mutable-tag. extraContainers (a `|` block of manifest text) \
             holds no image by default.",
        ),
        (
            "ingress-nginx",
            "ingress-nginx {image, tag, digest, digestChroot} with global.image.registry. The controller \
             and kube-webhook-certgen ship pinned (digest set): no findings. defaultBackend has a tag and \
             no digest field: one mutable-tag. Commented-out examples and ci/*.yaml overrides are not \
             linted.",
        ),
        (
            "kube-prometheus-stack",
            "kube-prometheus-stack {registry, repository, tag, sha: \"\"}: every sha empty, so empty-digest \
             at each sha field (ten images, including the CRD upgrade job's busybox and kubectl).",
        ),
        (
            "osm-1.0",
            "OSM 0.11-1.0: control-plane digests keyed without a name map, all filled (pinned: no \
             findings). sidecarImage/sidecarWindowsImage are tag-less pinned strings (no findings). \
             Single-string images (curl, prometheus, grafana, renderer, jaeger) and the contour \
             subchart section are mutable. fluentBit has registry+tag but its image name lives in the \
             template: unresolvable-image (a warning) from values alone.",
        ),
        (
            "osm-1.2",
            "OSM >= 1.2: osm.image {registry, tag: \"\", name map, digest map}; tag is empty and every \
             digest filled, so the control plane is pinned (no findings, and no digest-field-ignored). \
             The same mutable single strings, contour section and fluentBit warning as osm-1.0.",
        ),
        (
            "traefik",
            "traefik {registry, repository, tag, digest} all null (the template defaults to \
             docker.io/traefik:<appVersion>): empty-digest at image.digest. The azure and oci_meta \
             image strings are `:latest`: mutable-tag each.",
        ),
    ];
    let base = corpus();
    let mut seen = 0;
    for (name, conv) in conventions {
        let dir = base.join(name);
        assert!(dir.is_dir(), "corpus chart {name} missing");
        let findings = lint_dirs(&[dir], &LintOptions::default());
        let mut settings = insta::Settings::clone_current();
        settings.set_description(*conv);
        settings.set_snapshot_suffix(*name);
        settings.bind(|| insta::assert_snapshot!("corpus", lines(&findings, &base)));
        seen += 1;
    }
    let on_disk = std::fs::read_dir(&base).unwrap().count();
    assert_eq!(
        seen, on_disk,
        "every corpus chart needs its conventions written here"
    );
}

// ------------------------------------------------------------------ fixtures + helm

/// The fixture charts rendered by the real helm: the hard-coded tag in a
/// template, the aliased subchart's mutable sidecar (and its parent-pinned
/// main image, which must not be reported), the fluent-bit sidecar built from
/// values in a `with` block, a flag carrying an image, the annotation, and
/// OSM's tag-wins helper.
#[test]
fn fixtures_rendered_with_real_helm() {
    let opts = LintOptions {
        render: true,
        helm: chartpin::helm::RenderSpec {
            helm: Some(helm::helm()),
            ..Default::default()
        },
        ..LintOptions::default()
    };
    let findings = lint_dirs(&[fixture("hidden"), fixture("osm-tagwins")], &opts);
    insta::assert_snapshot!(lines(&findings, root()));
    let got: Vec<(Code, String, usize)> = findings
        .iter()
        .map(|f| {
            (
                f.code,
                report::relative_path(f.file().unwrap(), Some(root()))
                    .to_string_lossy()
                    .into_owned(),
                f.line,
            )
        })
        .collect();
    let want = [
        (Code::MutableTag, "testdata/lint/hidden/Chart.yaml", 11),
        (
            Code::MutableTag,
            "testdata/lint/hidden/charts/cache/values.yaml",
            6,
        ),
        (
            Code::MutableTag,
            "testdata/lint/hidden/templates/deployment.yaml",
            15,
        ),
        (
            Code::MutableTag,
            "testdata/lint/hidden/templates/deployment.yaml",
            20,
        ),
        (
            Code::MutableTag,
            "testdata/lint/hidden/templates/deployment.yaml",
            23,
        ),
        (
            Code::DigestFieldIgnored,
            "testdata/lint/osm-tagwins/values.yaml",
            10,
        ),
        (
            Code::EmptyDigest,
            "testdata/lint/osm-tagwins/values.yaml",
            11,
        ),
    ];
    let want: Vec<(Code, String, usize)> = want
        .iter()
        .map(|(c, f, l)| (*c, f.to_string(), *l))
        .collect();
    assert_eq!(got, want);
    // Nothing about the redis image the parent pins through the alias key.
    assert!(
        !findings
            .iter()
            .any(|f| f.image.as_deref().is_some_and(|i| i.contains("redis:")))
    );
}

/// The rendered stream alone (`--rendered -`), mapped back to the templates
/// by `# Source:` comments, including the subchart's aliased directory.
#[test]
fn rendered_stdin_maps_to_template_sources() {
    let stream = helm::template("t", &fixture("hidden"));
    let out = chartpin(&[
        "lint",
        "testdata/lint/hidden",
        "--rendered",
        "-",
        "--format",
        "json",
    ])
    .current_dir(root())
    .stdin(&stream)
    .run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let files = finding_fields(&v, "file");
    assert!(
        files.contains(&"testdata/lint/hidden/templates/deployment.yaml"),
        "{files:?}"
    );
    assert!(!files.iter().any(|f| f.contains("stdin")), "{files:?}");
}

/// Rendered input only (no chart dirs known for mapping): images point into the stream.
#[test]
fn rendered_stream_without_sources_points_into_the_stream() {
    let stream = "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  ephemeralContainers:\n    - name: dbg\n      image: busybox\n---\njust: a config map body\n---\n";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("values.yaml"), "replicas: 1\n").unwrap();
    let findings = lint_dirs(
        &[dir.path().to_path_buf()],
        &LintOptions {
            rendered: Some(RenderedInput::Text {
                name: "<stdin>".into(),
                text: stream.into(),
            }),
            ..LintOptions::default()
        },
    );
    assert_eq!(
        codes(&findings),
        [Code::ImplicitLatest, Code::SkippedDocument]
    );
    assert_eq!(findings[0].file(), Some(Path::new("<stdin>")));
    assert_eq!(findings[0].line, 8);
    assert_eq!(
        findings[0].path.as_deref(),
        Some("spec.ephemeralContainers[0].image")
    );
    assert_eq!(findings[1].line, 10);
}

/// A packaged chart made by `helm package` lints like its directory, in memory,
/// and `--render` renders the .tgz itself.
#[test]
fn packaged_chart_from_helm_package() {
    let dir = tempfile::tempdir().unwrap();
    let tgz = helm::package(&fixture("hidden"), dir.path());
    let from_dir = lint_dirs(&[fixture("hidden")], &LintOptions::default());
    let from_tgz = lint_dirs(std::slice::from_ref(&tgz), &LintOptions::default());
    assert_eq!(codes(&from_dir), codes(&from_tgz));
    let inside = tgz.join("hidden/templates/deployment.yaml");
    assert!(from_tgz.iter().any(|f| f.file() == Some(inside.as_path())));
    let rendered = lint_dirs(
        &[tgz],
        &LintOptions {
            render: true,
            helm: chartpin::helm::RenderSpec {
                helm: Some(helm::helm()),
                ..Default::default()
            },
            ..LintOptions::default()
        },
    );
    assert_eq!(codes(&rendered), codes(&from_dir));
}

#[test]
fn render_without_helm_is_a_clear_usage_error() {
    let out = chartpin(&["lint", "testdata/lint/hidden", "--render"])
        .current_dir(root())
        .envs(&[("PATH", std::ffi::OsStr::new("/nonexistent"))])
        .run();
    assert_eq!(out.code, Exit::Usage as i32);
    let err = out.stderr.clone();
    assert!(err.contains("helm") && err.contains("not on PATH"), "{err}");
}

#[test]
fn render_through_the_cli_finds_helm_on_path() {
    let out = chartpin(&[
        "lint",
        "testdata/lint/osm-tagwins",
        "--render",
        "--format",
        "github",
    ])
    .current_dir(root())
    .envs(&[("PATH", &helm::path_with_helm())])
    .run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    let stdout = out.stdout.clone();
    assert!(stdout.contains("title=digest-field-ignored"), "{stdout}");
}

// ------------------------------------------------------------------ discovery

#[test]
fn discover_images_lists_every_site_pinned_or_not() {
    let images = lint::discover_images(&[fixture("hidden")], &LintOptions::default()).unwrap();
    let by_origin = |o: ImageOrigin| -> Vec<String> {
        images
            .iter()
            .filter(|i| i.origin == o)
            .map(|i| i.reference.clone())
            .collect()
    };
    let pinned_app = "ghcr.io/example/app:2.0.1@sha256:1111111111111111111111111111111111111111111111111111111111111111";
    assert!(by_origin(ImageOrigin::Template).contains(&pinned_app.to_string()));
    assert!(by_origin(ImageOrigin::ChartAnnotation).contains(&pinned_app.to_string()));
    let values = by_origin(ImageOrigin::Values);
    assert!(values.contains(&"ghcr.io/example/app@sha256:1111111111111111111111111111111111111111111111111111111111111111".to_string()), "{values:?}");
    assert!(values.contains(&"docker.io/library/redis:7.2@sha256:2222222222222222222222222222222222222222222222222222222222222222".to_string()), "{values:?}");
    let app = images.iter().find(|i| i.reference == pinned_app).unwrap();
    assert!(app.is_pinned());
    assert!(app.location.position.is_some(), "{app:?}");

    // `discover` finds the same, and hands back every file an image is in.
    let found = lint::discover(&[fixture("hidden")], &LintOptions::default()).unwrap();
    let refs =
        |v: &[lint::FoundImage]| -> Vec<String> { v.iter().map(|i| i.reference.clone()).collect() };
    assert_eq!(refs(&found.images), refs(&images));
    for i in &found.images {
        assert!(
            found.sources.iter().any(|s| s.path() == i.file()),
            "{} not among the sources",
            i.file().display()
        );
    }
}

// ------------------------------------------------------------------ suppression + config

fn chart(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (p, body) in files {
        let path = dir.path().join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
    dir
}

#[test]
fn config_ignore_rules_and_unused_ones() {
    let dir = chart(&[
        ("Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n"),
        (
            "values.yaml",
            "a:\n  image: docker.io/library/nginx:1.25\nb:\n  image: quay.io/org/tool:1\nc:\n  image: busybox\n",
        ),
        (
            ".chartpin.yaml",
            "ignore:\n  - image: \"docker.io/library/*\"\n    code: mutable-tag\n  - path: values.yaml\n    code: implicit-latest\n  - image: \"gcr.io/*\"\n",
        ),
    ]);
    let out = chartpin(&["lint", ".", "--format", "json"])
        .current_dir(dir.path())
        .run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let got: Vec<(String, String)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["file"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "unused-suppression".to_string(),
                ".chartpin.yaml".to_string()
            ),
            ("mutable-tag".to_string(), "values.yaml".to_string()),
        ]
    );
    assert_eq!(v["findings"][0]["line"], 6);
    assert_eq!(v["findings"][1]["image"], "quay.io/org/tool:1");
}

#[test]
fn inline_suppression_in_values_and_templates() {
    let dir = chart(&[
        ("Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n"),
        (
            "values.yaml",
            "a:\n  image: nginx:1.25 # chartpin:ignore\nb:\n  image: busybox # chartpin:ignore=mutable-tag\n",
        ),
        (
            "templates/pod.yaml",
            "spec:\n  containers:\n    - image: alpine:3 # chartpin:ignore=mutable-tag,implicit-latest\n    - image: alpine # chartpin:ignore\n",
        ),
    ]);
    let findings = lint_dirs(&[dir.path().to_path_buf()], &LintOptions::default());
    let got: Vec<(Code, usize)> = findings.iter().map(|f| (f.code, f.line)).collect();
    // busybox is implicit-latest, which the mutable-tag-only comment does not cover.
    assert_eq!(
        got,
        [(Code::ImplicitLatest, 4), (Code::UnusedSuppression, 4)],
        "{}",
        lines(&findings, dir.path())
    );
}

// ------------------------------------------------------------------ bad input + exits

#[test]
fn clean_chart_exits_zero_and_says_so() {
    let dir = chart(&[
        ("Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n"),
        (
            "values.yaml",
            "image:\n  repository: nginx\n  tag: \"1.25\"\n  digest: sha256:0000000000000000000000000000000000000000000000000000000000000000\n",
        ),
    ]);
    let out = chartpin(&["lint"]).current_dir(dir.path()).run();
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.starts_with("no findings"), "{}", out.stdout);
}

/// Anchors, aliases and block scalars at image sites are valid Helm: lint
/// reads them as the chart renders them (an alias at the alias), while pin
/// still refuses to edit them.
#[test]
fn anchors_aliases_and_block_scalars_are_linted_not_refused() {
    let meta = ("Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n");
    let anchored = "image: &img nginx:1.25\nother: *img\n";
    let dir = chart(&[meta, ("values.yaml", anchored)]);
    let out = chartpin(&["lint", "--format", "json", "."])
        .current_dir(dir.path())
        .run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let got: Vec<String> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{}:{}:{} {} {}",
                f["line"], f["column"], f["code"], f["path"], f["image"]
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            r#"1:13:"mutable-tag" "image" "nginx:1.25""#,
            r#"2:8:"mutable-tag" "other" "nginx:1.25""#,
        ]
    );

    // pin on the same chart still refuses it, with the same message as before.
    std::fs::write(
        dir.path().join("digests.txt"),
        format!("nginx:1.25@sha256:{}\n", "1".repeat(64)),
    )
    .unwrap();
    let out = chartpin(&["pin", "--digests", "digests.txt", "."])
        .current_dir(dir.path())
        .run();
    assert_eq!(out.code, 2);
    let err = out.stderr.clone();
    assert!(
        err.contains("values.yaml:1:13: an anchor at image site `image`: an edit would change its aliases too"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("values.yaml")).unwrap(),
        anchored
    );

    let pinned = format!(
        "image: &img nginx:1.25@sha256:{}\nother: *img\n",
        "1".repeat(64)
    );
    let dir = chart(&[meta, ("values.yaml", &pinned)]);
    let out = chartpin(&["lint", "."]).current_dir(dir.path()).run();
    assert_eq!(out.code, 0, "{}", out.stdout);

    let block =
        "image:\n  repository: nginx\n  tag: >-\n    1.25\nsidecarImage: |\n  busybox:1.36\n";
    let dir = chart(&[meta, ("values.yaml", block)]);
    let out = chartpin(&["lint", "--format", "json", "."])
        .current_dir(dir.path())
        .run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let got: Vec<String> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{}:{} {} {}", f["line"], f["column"], f["path"], f["image"]))
        .collect();
    assert_eq!(
        got,
        [
            r#"4:5 "image" "nginx:1.25""#,
            r#"6:3 "sidecarImage" "busybox:1.36""#,
        ]
    );
    std::fs::write(
        dir.path().join("digests.txt"),
        format!("nginx:1.25@sha256:{}\n", "1".repeat(64)),
    )
    .unwrap();
    let out = chartpin(&["pin", "--digests", "digests.txt", "."])
        .current_dir(dir.path())
        .run();
    assert_eq!(out.code, 2);
    let err = out.stderr.clone();
    assert!(err.contains("values.yaml:4:5: a block scalar"), "{err}");
}

#[test]
fn malformed_values_is_exit_2_with_position() {
    let dir = chart(&[("values.yaml", "image:\n  repository: [nginx\n  tag: 1\n")]);
    let out = chartpin(&["lint", "."]).current_dir(dir.path()).run();
    assert_eq!(out.code, 2);
    let err = out.stderr.clone();
    assert!(err.contains("values.yaml:"), "{err}");
}

#[test]
fn corrupt_and_escaping_archives_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("corrupt.tgz");
    std::fs::write(&corrupt, b"\x1f\x8b\x08\x00garbage").unwrap();
    let out = chartpin(&["lint", "corrupt.tgz"])
        .current_dir(dir.path())
        .run();
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("corrupt chart archive"),
        "{}",
        out.stderr
    );

    // An archive with a `../` entry, written with raw header bytes.
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (p, body) in [("c/Chart.yaml", "name: c\n"), ("c/../../evil", "x")] {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.as_old_mut().name[..p.len()].copy_from_slice(p.as_bytes());
        h.set_cksum();
        b.append(&h, body.as_bytes()).unwrap();
    }
    std::fs::write(
        dir.path().join("evil.tgz"),
        b.into_inner().unwrap().finish().unwrap(),
    )
    .unwrap();
    let out = chartpin(&["lint", "evil.tgz"])
        .current_dir(dir.path())
        .run();
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("escapes the archive root"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_directory_of_charts_is_walked_by_chart_yaml() {
    let dir = chart(&[
        ("a/Chart.yaml", "apiVersion: v2\nname: a\nversion: 0.1.0\n"),
        ("a/values.yaml", "image: nginx:1\n"),
        (
            "nested/b/Chart.yaml",
            "apiVersion: v2\nname: b\nversion: 0.1.0\n",
        ),
        ("nested/b/values.yaml", "image: busybox\n"),
        ("notachart/values.yaml", "image: alpine:3\n"),
    ]);
    let findings = lint_dirs(&[dir.path().to_path_buf()], &LintOptions::default());
    assert_eq!(codes(&findings), [Code::MutableTag, Code::ImplicitLatest]);
    let empty = tempfile::tempdir().unwrap();
    let out = chartpin(&["lint", "."]).current_dir(empty.path()).run();
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("no chart found"), "{}", out.stderr);
}

#[test]
fn github_format_is_the_default_inside_github_actions() {
    let out = chartpin(&["lint", "testdata/lint/osm-tagwins"])
        .current_dir(root())
        .envs(&[("GITHUB_ACTIONS", std::ffi::OsStr::new("true"))])
        .run();
    let stdout = out.stdout.clone();
    assert!(stdout.starts_with("::error file=testdata/lint/osm-tagwins/values.yaml,line=10,col=22,title=digest-field-ignored::"), "{stdout}");
}

#[test]
fn sarif_of_a_real_run_uses_relative_uris() {
    let out = chartpin(&["lint", "testdata/lint/hidden", "--format", "sarif"])
        .current_dir(root())
        .run();
    assert_eq!(out.code, 1);
    let log: report::sarif::Log = serde_json::from_str(&out.stdout).unwrap();
    for r in &log.runs[0].results {
        let uri = &r.locations[0].physical_location.artifact_location.uri;
        assert!(uri.starts_with("testdata/lint/hidden/"), "{uri}");
    }
}

// ------------------------------------------------------------------ pin → lint

/// The round trip: lint a corpus chart, pin every tagged image it reports
/// from a manifest of full references, lint again: no finding remains at a
/// pinned site, and only the sites the manifest could not cover (no tag to
/// match by) are still reported.
#[test]
fn pin_then_lint_leaves_no_findings_at_pinned_sites() {
    for name in [
        "bitnami-nginx",
        "grafana",
        "kube-prometheus-stack",
        "ingress-nginx",
        "osm-1.2",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let chart = dir.path().join(name);
        std::fs::create_dir(&chart).unwrap();
        for f in std::fs::read_dir(corpus().join(name)).unwrap() {
            let f = f.unwrap();
            if f.file_type().unwrap().is_file() {
                std::fs::copy(f.path(), chart.join(f.file_name())).unwrap();
            }
        }
        let before = lint_dirs(std::slice::from_ref(&chart), &LintOptions::default());
        let digest = format!("sha256:{}", "ab".repeat(32));
        let mut manifest = String::new();
        let mut covered = Vec::new();
        for f in &before {
            let Some(image) = &f.image else { continue };
            let Ok(r) = chartpin::reference::ImageRef::parse(image) else {
                continue;
            };
            if r.tag().is_some() && !r.is_pinned() && !covered.contains(image) {
                manifest.push_str(&format!("{image}@{digest}\n"));
                covered.push(image.clone());
            }
        }
        assert!(!covered.is_empty(), "{name}: nothing to pin");
        std::fs::write(dir.path().join("digests.txt"), &manifest).unwrap();
        let out = chartpin(&["pin", name, "--digests", "digests.txt"])
            .current_dir(dir.path())
            .run();
        assert_eq!(out.code, 0, "{name}: {}{}", out.stdout, out.stderr);
        let after = lint_dirs(std::slice::from_ref(&chart), &LintOptions::default());
        for f in &after {
            if let Some(image) = &f.image {
                assert!(
                    !covered.iter().any(|c| image == c),
                    "{name}: still reported after pin: {}",
                    lines(std::slice::from_ref(f), dir.path())
                );
            }
        }
        assert_eq!(
            after.len(),
            before.len()
                - before
                    .iter()
                    .filter(|f| f.image.as_ref().is_some_and(|i| covered.contains(i)))
                    .count(),
            "{name}: {}",
            lines(&after, dir.path())
        );
    }
}

/// One values file that fires every values rule once, with the site each points at.
#[test]
fn every_rule_at_values_sites() {
    let dir = chart(&[
        ("Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n"),
        (
            "values.yaml",
            concat!(
                "pinned:\n  image: nginx:1.25@sha256:0000000000000000000000000000000000000000000000000000000000000000\n",
                "mutable:\n  image: nginx:1.25\n",
                "latest:\n  image: nginx\n",
                "empty:\n  image:\n    repository: bitnami/nginx\n    tag: 1.25.0\n    digest: \"\"\n",
                "baddigest:\n  image:\n    repository: bitnami/nginx\n    tag: 1.25.0\n    digest: sha256:ABC\n",
                "badsha:\n  image:\n    repository: grafana/grafana\n    tag: 10.0.0\n    sha: \"xyz\"\n",
                "badref:\n  image: \"Nginx:1.25\"\n",
                "osm:\n  image:\n    registry: openservicemesh\n    tag: v1.2.0\n    name: {osmController: osm-controller}\n    digest: {osmController: \"sha256:1111111111111111111111111111111111111111111111111111111111111111\"}\n",
            ),
        ),
    ]);
    let findings = lint_dirs(&[dir.path().to_path_buf()], &LintOptions::default());
    insta::assert_snapshot!(lines(&findings, dir.path()));
    let mut got = codes(&findings);
    got.sort();
    let mut want = vec![
        Code::MutableTag,
        Code::ImplicitLatest,
        Code::EmptyDigest,
        Code::InvalidDigest,
        Code::InvalidDigest,
        Code::InvalidReference,
        Code::DigestFieldIgnored,
    ];
    want.sort();
    assert_eq!(got, want, "{}", lines(&findings, dir.path()));
}

#[test]
fn rendered_alone_outside_a_chart() {
    let dir = tempfile::tempdir().unwrap();
    let stream = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  template:\n    spec:\n      containers: [{name: j, image: \"alpine:3.19\"}]\n";
    std::fs::write(dir.path().join("out.yaml"), stream).unwrap();
    let out = chartpin(&["lint", "--rendered", "out.yaml", "--format", "github"])
        .current_dir(dir.path())
        .run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(
        out.stdout.lines().next().unwrap(),
        "::error file=out.yaml,line=7,col=37,title=mutable-tag::`alpine:3.19` is referenced by tag without a digest (Job/j container `j`) (at spec.template.spec.containers[0].image)"
    );
}

#[test]
fn chart_files_that_are_not_files_are_input_errors() {
    let meta = "apiVersion: v2\nname: c\nversion: 0.1.0\n";
    // (what to make a directory, the files around it, the path the error names)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 4] = [
        ("values.yaml", &[("Chart.yaml", meta)], "values.yaml"),
        (
            "Chart.yaml",
            &[("values.yaml", "image: nginx:1\n")],
            "Chart.yaml",
        ),
        ("Chart.yaml", &[], "Chart.yaml"),
        (
            "charts/sub/values.yaml",
            &[("Chart.yaml", meta), ("charts/sub/Chart.yaml", meta)],
            "charts/sub/values.yaml",
        ),
    ];
    for (as_dir, files, named) in cases {
        let dir = chart(files);
        std::fs::create_dir_all(dir.path().join(as_dir)).unwrap();
        for cmd in ["lint", "verify", "resolve"] {
            let out = chartpin(&[cmd, "."]).current_dir(dir.path()).run();
            let err = out.stderr.clone();
            assert_eq!(out.code, 2, "{cmd} with {as_dir}/: {err}");
            assert!(err.contains(named), "{cmd} with {as_dir}/: {err}");
        }
    }
    // A FIFO among the templates is refused, not read (reading it would block).
    let dir = chart(&[("Chart.yaml", meta), ("templates/a.yaml", "x: 1\n")]);
    let fifo = dir.path().join("templates/p.yaml");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success());
    let out = chartpin(&["lint", "."]).current_dir(dir.path()).run();
    let err = out.stderr.clone();
    assert_eq!(out.code, 2, "{err}");
    assert!(
        err.contains("templates/p.yaml") && err.contains("not a regular file"),
        "{err}"
    );
}

#[test]
fn annotation_images_sit_at_their_exact_bytes() {
    let at = |annotation: &str| -> Vec<(usize, usize, String)> {
        let dir = chart(&[(
            "Chart.yaml",
            &format!("apiVersion: v2\nname: c\nversion: 0.1.0\nannotations:\n{annotation}"),
        )]);
        let images =
            lint::discover_images(&[dir.path().to_path_buf()], &LintOptions::default()).unwrap();
        let path = dir.path().join("Chart.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        let chart_yaml = chartpin::source::SourceFile::new(&path, text);
        images
            .iter()
            .filter(|i| i.origin == ImageOrigin::ChartAnnotation)
            .map(|i| {
                let lc = i.location.line_col_in(&chart_yaml).unwrap();
                (lc.line, lc.column, i.reference.clone())
            })
            .collect()
    };
    let one = |l, c, r: &str| vec![(l, c, r.to_string())];
    // The image's text also appears earlier (as the name): the image is placed, not the name.
    assert_eq!(
        at("  artifacthub.io/images: |\n    - name: busybox:1.36\n      image: busybox:1.36\n"),
        one(7, 14, "busybox:1.36")
    );
    // A `>` block that folds nothing, and a one-line flow list.
    assert_eq!(
        at("  artifacthub.io/images: >\n    - name: busybox:1.36\n      image: busybox:1.36\n"),
        one(7, 14, "busybox:1.36")
    );
    assert_eq!(
        at("  artifacthub.io/images: '[{name: nginx:1, image: nginx:1}]'\n"),
        one(5, 51, "nginx:1")
    );
    // Quoted images keep their column (the first character inside the quotes).
    assert_eq!(
        at("  artifacthub.io/images: |\n    - image: \"nginx:1\"\n"),
        one(6, 15, "nginx:1")
    );
    // What chartmeta refuses (an entry that is not a map) is still searched, not an error.
    assert_eq!(
        at("  artifacthub.io/images: |\n    - stray\n    - image: nginx:1\n"),
        one(7, 14, "nginx:1")
    );
    // So is `helm.sh/images` beside it.
    assert_eq!(
        at(
            "  artifacthub.io/images: |\n    - stray\n    - image: nginx:1\n  helm.sh/images: |\n    - stray\n    - image: redis:7\n"
        ),
        vec![
            (7, 14, "nginx:1".to_string()),
            (10, 14, "redis:7".to_string())
        ]
    );
}

/// ingress-nginx's `digestChroot` is judged only when `chroot: true` renders
/// the `-chroot` image; then the plain image's `digest` is the unused one.
#[test]
fn ingress_nginx_chroot_digest_is_judged_only_when_chroot_is_on() {
    let d = format!("sha256:{}", "d".repeat(64));
    let values = |chroot: &str| {
        format!(
            "global:\n  image:\n    registry: registry.k8s.io\ncontroller:\n  image:\n    chroot: {chroot}\n    image: ingress-nginx/controller\n    tag: v1.12.0\n    digest: {d}\n    digestChroot: \"\"\n"
        )
    };
    let off = chart(&[
        ("Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n"),
        ("values.yaml", &values("false")),
    ]);
    let findings = lint_dirs(&[off.path().to_path_buf()], &LintOptions::default());
    assert!(findings.is_empty(), "{}", lines(&findings, off.path()));

    let on = chart(&[
        ("Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n"),
        ("values.yaml", &values("true")),
    ]);
    let findings = lint_dirs(&[on.path().to_path_buf()], &LintOptions::default());
    assert_eq!(codes(&findings), vec![Code::EmptyDigest]);
    let f = &findings[0];
    assert_eq!(
        (f.line, f.column),
        (10, 19),
        "{}",
        lines(&findings, on.path())
    );
    assert!(
        f.message
            .contains("registry.k8s.io/ingress-nginx/controller-chroot:v1.12.0"),
        "{}",
        f.message
    );
}

/// cilium's non-empty `override` is the reference the chart renders: lint
/// judges it, not the repository/tag/digest beside it.
#[test]
fn cilium_override_is_judged_instead_of_its_block() {
    let d = format!("sha256:{}", "d".repeat(64));
    let values = |o: &str| {
        format!(
            "image:\n  override: {o}\n  repository: quay.io/cilium/cilium\n  tag: v1.16.3\n  digest: {d}\n  useDigest: true\n"
        )
    };
    let lint_values = |v: String| {
        let dir = chart(&[
            ("Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n"),
            ("values.yaml", &v),
        ]);
        let f = lint_dirs(&[dir.path().to_path_buf()], &LintOptions::default());
        (dir, f)
    };
    let (_d, f) = lint_values(values("~"));
    assert!(f.is_empty(), "the pinned block renders");
    let (dir, f) = lint_values(values("quay.io/acme/cilium:dev"));
    assert_eq!(
        codes(&f),
        vec![Code::MutableTag],
        "{}",
        lines(&f, dir.path())
    );
    assert_eq!((f[0].line, f[0].column), (2, 13));
    assert_eq!(f[0].path.as_deref(), Some("image.override"));
    let (_d, f) = lint_values(values(&format!("quay.io/acme/cilium:dev@{d}")));
    assert!(f.is_empty());
}

/// Container images inside a `|` string of manifest text (grafana's
/// `extraContainers: |`) are reported at their exact line and column.
#[test]
fn images_in_block_strings_of_manifest_text_sit_at_their_bytes() {
    let d = format!("sha256:{}", "d".repeat(64));
    let values = format!(
        "image:\n  repository: grafana/grafana\n  tag: 11.0.0\n  sha: {}\nextraContainers: |\n  - name: proxy\n    image: quay.io/gambol99/keycloak-proxy:latest\n    args:\n      - -client-id={{{{ .Values.id }}}}\n  {{{{- if .Values.x }}}}\n  - name: pinned\n    image: \"busybox:1.36@{d}\"\n  {{{{- end }}}}\nextraInitContainers: |\n  - name: init\n    image: alpine\n",
        "a".repeat(64)
    );
    let dir = chart(&[
        ("Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n"),
        ("values.yaml", &values),
    ]);
    let findings = lint_dirs(&[dir.path().to_path_buf()], &LintOptions::default());
    let got: Vec<_> = findings
        .iter()
        .map(|f| (f.code, f.line, f.column, f.path.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                Code::MutableTag,
                7,
                12,
                "extraContainers[0].image".to_string()
            ),
            (
                Code::ImplicitLatest,
                16,
                12,
                "extraInitContainers[0].image".to_string()
            ),
        ],
        "{}",
        lines(&findings, dir.path())
    );
    // Pin leaves the strings alone: they are not image sites.
    let sites = chartpin::values::image_sites(Path::new("values.yaml"), &values).unwrap();
    assert_eq!(sites.len(), 1);
}

/// A chart that needs a value to render: helm's own refusal and the hint to
/// pass values (exit 2); with `--set` or `--values-file` it renders, and
/// the image those values name is linted; a `--helm` that is not there is
/// named.
#[test]
fn render_takes_the_values_helm_needs() {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("needs");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: needs\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(chart.join("values.yaml"), "replicas: 1\n").unwrap();
    std::fs::write(
        chart.join("templates/pod.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: app\n      image: {{ required \"set image\" .Values.image | quote }}\n",
    )
    .unwrap();
    let c = chart.to_str().unwrap();
    let helm = helm::helm();
    let helm = helm.to_str().unwrap();

    let refused = chartpin(&["lint", c, "--render", "--helm", helm]).run();
    assert_eq!(refused.code, Exit::Usage as i32, "{}", refused.all());
    assert!(refused.stderr.contains("set image"), "{}", refused.all());
    assert!(
        refused.stderr.contains("--values-file"),
        "{}",
        refused.all()
    );

    let set = chartpin(&[
        "lint",
        c,
        "--render",
        "--helm",
        helm,
        "--set",
        "image=nginx:1.25",
    ])
    .run();
    assert_eq!(set.code, Exit::Findings as i32, "{}", set.all());
    assert!(set.stdout.contains("nginx:1.25"), "{}", set.all());

    let file = dir.path().join("ci-values.yaml");
    std::fs::write(&file, "image: busybox:1.36\n").unwrap();
    let from_file = chartpin(&[
        "lint",
        c,
        "--render",
        "--helm",
        helm,
        "--values-file",
        file.to_str().unwrap(),
    ])
    .run();
    assert_eq!(from_file.code, Exit::Findings as i32, "{}", from_file.all());
    assert!(
        from_file.stdout.contains("busybox:1.36"),
        "{}",
        from_file.all()
    );

    let missing = chartpin(&["lint", c, "--render", "--helm", "/nonexistent/helm"]).run();
    assert_eq!(missing.code, Exit::Usage as i32, "{}", missing.all());
    assert!(
        missing.stderr.contains("/nonexistent/helm")
            && missing.stderr.contains("scripts/install-deps"),
        "{}",
        missing.all()
    );
}

/// cert-manager's acmesolver: a flag built inline from one values block's
/// keys is that block's image, reported once, at the block (where a pin
/// goes), not again at the template line.
#[test]
fn a_template_image_built_from_one_values_site_is_reported_at_the_site_only() {
    let dir = chart(&[
        (
            "Chart.yaml",
            "apiVersion: v2\nname: c\nversion: 0.1.0\nappVersion: v1.16.0\n",
        ),
        (
            "values.yaml",
            "acmesolver:\n  image:\n    repository: quay.io/jetstack/cert-manager-acmesolver\n",
        ),
        (
            "templates/deploy.yaml",
            "args:\n{{- with .Values.acmesolver.image }}\n  - --acme-http01-solver-image={{- if .registry -}}{{ .registry }}/{{- end -}}{{ .repository }}{{- if (.digest) -}} @{{ .digest }}{{- else -}}:{{ default $.Chart.AppVersion .tag }} {{- end -}}\n{{- end }}\n",
        ),
    ]);
    let findings = lint_dirs(&[dir.path().to_path_buf()], &LintOptions::default());
    assert_eq!(
        codes(&findings),
        vec![Code::ImplicitLatest],
        "{}",
        lines(&findings, dir.path())
    );
    assert!(
        findings[0].file().unwrap().ends_with("values.yaml"),
        "{}",
        lines(&findings, dir.path())
    );
}

/// grafana's `_pod.tpl`: inside a `define`, an image built from a variable
/// and one values block's keys cannot be finished statically, but the block
/// is a values site lint judges (and where a pin goes), so it is reported
/// there alone. An expression naming keys under no site still says it
/// cannot be worked out.
#[test]
fn an_unfinished_template_image_whose_keys_lie_under_one_values_site_is_left_to_it() {
    let dir = chart(&[
        ("Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n"),
        (
            "values.yaml",
            "global:\n  imageRegistry: \"\"\nsidecar:\n  image:\n    registry: quay.io\n    repository: kiwigrid/k8s-sidecar\n    tag: 2.5.0\n    sha: \"\"\nother:\n  name: x\ncontroller:\n  image:\n    registry: registry.k8s.io\n    image: ingress-nginx/controller\n    tag: v1.12.0\n",
        ),
        // ingress-nginx's controller: a helper given the whole block.
        (
            "templates/deploy.yaml",
            "{{- with .Values.controller.image }}\nimage: {{ .registry }}/{{ include \"c.image\" . }}:{{ .tag }}\n{{- end }}\n",
        ),
        (
            "templates/_pod.tpl",
            "{{- define \"c.pod\" -}}\ncontainers:\n  - name: sidecar\n    {{- $registry := .Values.global.imageRegistry | default .Values.sidecar.image.registry -}}\n    {{- if .Values.sidecar.image.sha }}\n    image: \"{{ $registry }}/{{ .Values.sidecar.image.repository }}:{{ .Values.sidecar.image.tag }}@sha256:{{ .Values.sidecar.image.sha }}\"\n    {{- else }}\n    image: \"{{ $registry }}/{{ .Values.sidecar.image.repository }}:{{ .Values.sidecar.image.tag }}\"\n    {{- end }}\n  - name: other\n    image: \"{{ $registry }}/{{ .Values.other.name }}\"\n{{- end }}\n",
        ),
    ]);
    let findings = lint_dirs(&[dir.path().to_path_buf()], &LintOptions::default());
    let shown = lines(&findings, dir.path());
    assert_eq!(
        codes(&findings),
        vec![Code::UnresolvableImage, Code::EmptyDigest, Code::MutableTag],
        "{shown}"
    );
    assert!(findings[0].file().unwrap().ends_with("_pod.tpl"), "{shown}");
    assert_eq!(
        findings[0].line, 11,
        "the `other` image keeps its warning: {shown}"
    );
    assert!(
        findings[1..]
            .iter()
            .all(|f| f.file().unwrap().ends_with("values.yaml")),
        "{shown}"
    );
}

#[test]
fn values_for_helm_given_to_a_run_that_does_not_render_are_noted_not_dropped_silently() {
    let dir = tempfile::tempdir().unwrap();
    let ci = dir.path().join("ci.yaml");
    std::fs::write(&ci, "x: 1\n").unwrap();
    let ci = ci.to_str().unwrap();
    let note = "--values-file and --set are what helm renders with; this run does not render";
    // lint is static unless asked, and pin with --no-render: the values go unused.
    for args in [
        vec!["lint", "testdata/lint/osm-tagwins", "--values-file", ci],
        vec!["lint", "testdata/lint/osm-tagwins", "--set", "x=2"],
    ] {
        let out = chartpin(&args).current_dir(root()).run();
        assert!(out.stderr.contains(note), "{args:?}: {}", out.all());
        // `-q` quiets notes.
        let mut quiet = args.clone();
        quiet.push("-q");
        let out = chartpin(&quiet).current_dir(root()).run();
        assert!(!out.stderr.contains(note), "{quiet:?}: {}", out.all());
    }
    // Rendered, they are used: no note.
    let out = chartpin(&[
        "lint",
        "testdata/lint/osm-tagwins",
        "--render",
        "--values-file",
        ci,
    ])
    .current_dir(root())
    .envs(&[("PATH", &helm::path_with_helm())])
    .run();
    assert!(!out.stderr.contains(note), "{}", out.all());
}
