//! `chartpin pin` end to end: golden before/after pairs for every chart
//! convention (run through the real binary), the three pin properties on
//! every values file of the shared corpus and on generated YAML, and bad
//! input that must exit 2 without touching any file.
//!
//! Set `CHARTPIN_BLESS=1` to rewrite the golden files after a reviewed change.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chartpin::manifest::{DigestManifest, EntryName, ManifestEntry, Origin};
use chartpin::pin::{PinOptions, pin};
use chartpin::reference::{Digest, ImageRef};
use chartpin::values::{DigestState, ImageSite, Node, SiteKind, ValuesFile};
use proptest::prelude::*;
use sha2::Digest as _;

use crate::support::cli::{
    NO_HELM_PATH, Run, assert_render_skipped_once, assert_snake_case_keys, chartpin, copy_dir,
    finding_fields,
};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn corpus() -> PathBuf {
    root().join("../shared/corpus")
}

/// The corpus-based cases: (case, corpus values file, corpus digests file).
const CORPUS_CASES: &[(&str, &str, &str)] = &[
    (
        "osm-1.2",
        "charts/osm-1.2/values.yaml",
        "digests/osm_docker-digests-osm_log.txt",
    ),
    (
        "osm-1.0",
        "charts/osm-1.0/values.yaml",
        "digests/osm_image_digest_v0.4.0.txt",
    ),
];

/// Run one golden case in a scratch copy; returns (before, after) texts.
fn run_golden(case: &str) -> (String, String, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let chart = tmp.path().join(case);
    copy_dir(&root().join("testdata/pin").join(case), &chart);
    let digests = match CORPUS_CASES.iter().find(|(c, _, _)| *c == case) {
        Some((_, values, digests)) => {
            std::fs::copy(corpus().join(values), chart.join("values.yaml")).unwrap();
            corpus().join(digests)
        }
        None => chart.join("digests.txt"),
    };
    let values = chart.join("values.yaml");
    let before = std::fs::read_to_string(&values).unwrap();
    let (c, d) = (chart.to_str().unwrap(), digests.to_str().unwrap());

    // --check: exit 1, nothing written.
    let check = chartpin(&["pin", c, "--digests", d, "--check"]).run();
    assert_eq!(check.code, 1, "{case}: --check\n{}", check.stderr);
    assert_eq!(
        std::fs::read_to_string(&values).unwrap(),
        before,
        "{case}: --check wrote"
    );

    let first = chartpin(&["pin", "--chart", c, "--digests", d]).run();
    assert_eq!(first.code, 0, "{case}\n{}", first.stderr);
    let after = std::fs::read_to_string(&values).unwrap();

    // Pinning again changes nothing, and --check agrees.
    let again = chartpin(&["pin", c, "--digests", d, "--check"]).run();
    assert_eq!(again.code, 0, "{case}: second --check\n{}", again.stdout);
    let second = chartpin(&["pin", c, "--digests", d]).run();
    assert_eq!(second.code, 0);
    assert_eq!(
        std::fs::read_to_string(&values).unwrap(),
        after,
        "{case}: not idempotent"
    );
    (before, after, tmp)
}

fn golden_diff(before: &str, after: &str) -> String {
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(2)
        .header("a/values.yaml", "b/values.yaml")
        .to_string()
}

fn check_golden(case: &str) {
    let (before, after, _tmp) = run_golden(case);
    let dir = root().join("testdata/pin").join(case);
    let is_corpus = CORPUS_CASES.iter().any(|(c, _, _)| *c == case);
    let (file, got) = if is_corpus {
        // The corpus file is not copied into the project: the golden is the diff.
        (dir.join("expected.diff"), golden_diff(&before, &after))
    } else {
        (dir.join("expected.yaml"), after.clone())
    };
    if std::env::var_os("CHARTPIN_BLESS").is_some() {
        std::fs::write(&file, &got).unwrap();
    }
    let want = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e} (run with CHARTPIN_BLESS=1)", file.display()));
    assert_eq!(got, want, "{case}: output differs from {}", file.display());
    assert_ne!(before, after, "{case}: the golden pins nothing");
    // The pinned file still parses and every site the manifest matched reads
    // back pinned (not just one of them).
    let digests = match CORPUS_CASES.iter().find(|(c, _, _)| *c == case) {
        Some((_, _, digests)) => corpus().join(digests),
        None => dir.join("digests.txt"),
    };
    let manifest = chartpin::manifest::read_manifests(&[digests], None).unwrap();
    let vf = ValuesFile::parse("values.yaml", before.as_str()).unwrap();
    let plan = pin(std::slice::from_ref(&vf), &manifest, &PinOptions::default()).unwrap();
    let matched: BTreeSet<String> = plan.files[0]
        .pinned
        .iter()
        .map(|p| p.path.to_string())
        .collect();
    assert!(!matched.is_empty(), "{case}: no site matched the manifest");
    let sites = chartpin::values::image_sites(Path::new("values.yaml"), &after).unwrap();
    for path in &matched {
        let site = sites
            .iter()
            .find(|s| s.path.to_string() == *path)
            .unwrap_or_else(|| panic!("{case}: matched site `{path}` is gone after pinning"));
        assert!(
            site.is_pinned(),
            "{case}: matched site `{path}` is not pinned after pinning: {site:?}"
        );
    }
}

macro_rules! golden {
    ($($name:ident => $case:literal,)*) => {
        $( #[test] fn $name() { check_golden($case); } )*

        #[test]
        fn every_golden_case_has_a_test() {
            let mut dirs: Vec<String> = std::fs::read_dir(root().join("testdata/pin"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| root().join("testdata/pin").join(n).is_dir())
                .collect();
            dirs.sort();
            let mut cases = vec![$($case.to_string()),*];
            cases.sort();
            assert_eq!(dirs, cases);
        }
    };
}

golden! {
    golden_bitnami => "bitnami",
    golden_cilium => "cilium",
    golden_cilium_override => "cilium-override",
    golden_ingress_nginx => "ingress-nginx",
    golden_ingress_nginx_chroot => "ingress-nginx-chroot",
    golden_cert_manager_1_16 => "cert-manager-1.16",
    golden_cert_manager_head => "cert-manager-head",
    golden_kube_prometheus_stack => "kube-prometheus-stack",
    golden_kube_state_metrics => "kube-state-metrics",
    golden_grafana => "grafana",
    golden_traefik => "traefik",
    golden_tag_only => "tag-only",
    golden_strings => "strings",
    golden_lists_subcharts => "lists-subcharts",
    golden_siblings => "siblings",
    golden_quoting => "quoting",
    golden_osm_1_2 => "osm-1.2",
    golden_osm_1_0 => "osm-1.0",
}

// ---------------------------------------------------------------------------
// The three properties: bytes outside edits identical, exactly the intended
// values change, pinning again changes nothing.

fn digest_for(name: &str) -> Digest {
    let hex = hex::encode(sha2::Sha256::digest(name.as_bytes()));
    Digest::parse(&format!("sha256:{hex}")).unwrap()
}

fn entry(name: EntryName, tag: Option<String>, digest: Digest) -> ManifestEntry {
    ManifestEntry {
        name,
        tag,
        digest,
        origin: Origin::file("generated"),
    }
}

/// A manifest with one entry per image the sites name (full names where the
/// reference can be composed, short names otherwise), digests derived from names.
fn manifest_covering(sites: &[ImageSite]) -> DigestManifest {
    let mut seen = BTreeSet::new();
    let mut entries = Vec::new();
    for s in sites {
        let (key, name, tag) = match (&s.reference, &s.kind) {
            (Ok(r), _) => {
                let bare = ImageRef::parse(&r.written_name()).unwrap();
                let tag = r.tag().map(|t| t.split('@').next().unwrap().to_string());
                (r.name(), EntryName::Full(bare), tag)
            }
            (Err(_), SiteKind::DigestKeyed { .. }) | (Err(_), SiteKind::NameKeyed { .. }) => {
                let Some(short) = s.short_name() else {
                    continue;
                };
                (short.clone(), EntryName::Short(short), None)
            }
            (Err(_), _) => continue,
        };
        if seen.insert(key.clone()) {
            entries.push(entry(name, tag, digest_for(&key)));
        }
    }
    DigestManifest {
        entries,
        ..DigestManifest::default()
    }
}

/// Every scalar of every document by path (`0:a.b[1]`), values as read.
fn scalars(vf: &ValuesFile) -> BTreeMap<String, String> {
    fn walk(node: &Node, path: String, out: &mut BTreeMap<String, String>) {
        match node {
            Node::Scalar(s) => {
                out.insert(path, s.text().to_string());
            }
            Node::Map(m) => {
                for (k, v) in &m.entries {
                    let key = k
                        .as_scalar()
                        .map_or("?".to_string(), |s| s.value.to_string());
                    walk(v, format!("{path}.{key}"), out);
                }
            }
            Node::Seq(s) => {
                for (i, item) in s.items.iter().enumerate() {
                    walk(item, format!("{path}[{i}]"), out);
                }
            }
            Node::Alias(_) => {
                out.insert(path, "*alias".into());
            }
        }
    }
    let mut out = BTreeMap::new();
    for (i, d) in vf.documents().iter().enumerate() {
        walk(d, format!("{i}:"), &mut out);
    }
    out
}

fn scalar_key(doc: usize, path: &chartpin::values::YamlPath) -> String {
    let mut s = format!("{doc}:");
    for seg in &path.0 {
        match seg {
            chartpin::values::PathSeg::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            chartpin::values::PathSeg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Check the three properties for `text` pinned from `manifest`; returns how many sites changed.
fn check_properties(name: &str, text: &str, manifest: &DigestManifest) -> usize {
    let vf = ValuesFile::parse(name, text).unwrap();
    let sites = vf.image_sites().unwrap();
    let out = pin(std::slice::from_ref(&vf), manifest, &PinOptions::default()).unwrap();
    let plan = &out.files[0];
    let new = &plan.new_text;

    // 1. Bytes outside the edited spans are identical, walked independently of apply_edits.
    let mut edits = plan.edits.clone();
    edits.sort();
    let (mut old_pos, mut new_pos) = (0, 0);
    for e in &edits {
        assert!(e.span.start >= old_pos, "{name}: overlapping edits");
        let keep = e.span.start - old_pos;
        assert_eq!(
            &text[old_pos..e.span.start],
            &new[new_pos..new_pos + keep],
            "{name}: bytes before {} changed",
            e.span.start
        );
        new_pos += keep;
        assert!(new[new_pos..].starts_with(&e.replacement));
        new_pos += e.replacement.len();
        old_pos = e.span.end;
        // An edit replaces one scalar on one line, or inserts a line.
        assert!(
            !text[e.span.range()].contains('\n'),
            "{name}: edit spans lines"
        );
    }
    assert_eq!(&text[old_pos..], &new[new_pos..], "{name}: tail changed");

    // 2. Re-parsing shows exactly the intended values changed.
    let after = ValuesFile::parse(name, new.as_str()).unwrap();
    let (before_scalars, after_scalars) = (scalars(&vf), scalars(&after));
    let mut allowed = BTreeSet::new();
    let mut expect: Vec<(&ImageSite, Digest)> = Vec::new();
    for p in &plan.pinned {
        let site = sites.iter().find(|s| s.path == p.path).unwrap();
        let f = &site.fields;
        for field in [&f.digest, &f.sha, &f.tag, &f.string, &f.use_digest]
            .into_iter()
            .flatten()
        {
            allowed.insert(scalar_key(site.document, &field.path));
        }
        allowed.insert(scalar_key(site.document, &site.path.key("digest")));
        expect.push((site, p.digest.clone()));
    }
    let keys: BTreeSet<&String> = before_scalars.keys().chain(after_scalars.keys()).collect();
    for k in keys {
        if before_scalars.get(k) != after_scalars.get(k) {
            assert!(
                allowed.contains(k),
                "{name}: {k} changed from {:?} to {:?} but is no pinned field",
                before_scalars.get(k),
                after_scalars.get(k)
            );
        }
    }
    let after_sites = after.image_sites().unwrap();
    for (site, digest) in &expect {
        let now = after_sites
            .iter()
            .find(|s| s.path == site.path && s.document == site.document)
            .unwrap_or_else(|| panic!("{name}: site {} vanished", site.path));
        assert!(
            now.is_pinned(),
            "{name}: {} not pinned after pin",
            site.path
        );
        let shows = now.digest_state == DigestState::Filled(digest.clone())
            || now
                .reference
                .as_ref()
                .is_ok_and(|r| r.digest() == Some(digest));
        assert!(shows, "{name}: {} does not show {digest}", site.path);
        if let Ok(before_ref) = &site.reference
            && let Ok(now_ref) = &now.reference
        {
            assert_eq!(
                before_ref.name(),
                now_ref.name(),
                "{name}: image name changed"
            );
        }
    }

    // 3. Pinning again changes nothing.
    let again = pin(
        std::slice::from_ref(&after),
        manifest,
        &PinOptions::default(),
    )
    .unwrap();
    assert!(
        again.files[0].edits.is_empty(),
        "{name}: second pin edits {:?}",
        again.files[0].edits
    );
    assert_eq!(&again.files[0].new_text, new);
    plan.pinned.iter().filter(|p| p.changed).count()
}

#[test]
fn every_corpus_values_file_pins_cleanly() {
    let mut files = Vec::new();
    let charts = corpus().join("charts");
    for chart in std::fs::read_dir(&charts).expect("../shared/corpus is missing") {
        let chart = chart.unwrap().path();
        files.push(chart.join("values.yaml"));
        if let Ok(ci) = std::fs::read_dir(chart.join("ci")) {
            files.extend(ci.map(|e| e.unwrap().path()));
        }
    }
    files.sort();
    assert!(files.len() >= 11, "corpus incomplete: {files:?}");
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let sites = chartpin::values::image_sites(f, &text).unwrap();
        let manifest = manifest_covering(&sites);
        let changed = check_properties(&f.display().to_string(), &text, &manifest);
        assert!(changed > 0, "{}: nothing pinned", f.display());
        // Every site with a composable reference was matched.
        let vf = ValuesFile::parse(f, text.as_str()).unwrap();
        let out = pin(&[vf], &manifest, &PinOptions::default()).unwrap();
        let unmatched: Vec<String> = out.files[0]
            .unmatched_images
            .iter()
            .filter(|s| {
                sites
                    .iter()
                    .any(|x| x.span == s.span && x.reference.is_ok())
            })
            .map(|s| s.path.clone())
            .collect();
        assert!(
            unmatched.is_empty(),
            "{}: unmatched {unmatched:?}",
            f.display()
        );
        assert!(
            out.files[0].skipped.is_empty(),
            "{}: {:?}",
            f.display(),
            out.files[0].skipped
        );
        assert!(out.unmatched_entries.is_empty());
    }
}

// ---------------------------------------------------------------------------
// Generated YAML.

#[derive(Clone, Debug)]
enum Gen {
    Digest { q: usize },
    Sha { q: usize },
    TagOnly { q: usize },
    Bare,
    Str { q: usize },
    Osm { n: usize, q: usize },
    Sibling { q: usize },
    Other { v: String },
}

fn quote(q: usize, s: &str) -> String {
    match q % 3 {
        0 if !s.is_empty() => s.to_string(),
        1 => format!("'{s}'"),
        _ => format!("\"{s}\""),
    }
}

fn render(items: &[(Gen, bool)], indent: usize, crlf: bool, comments: bool) -> String {
    let i1 = " ".repeat(indent);
    let i2 = " ".repeat(indent * 2);
    let mut out = String::new();
    for (n, (g, pinned)) in items.iter().enumerate() {
        let pre = if *pinned {
            format!("@sha256:{}", "0".repeat(64))
        } else {
            String::new()
        };
        if comments {
            out.push_str(&format!("# item {n} — é ✓\n\n"));
        }
        let repo = format!("reg{n}.example.com/team/app{n}");
        match g {
            Gen::Digest { q } => out.push_str(&format!(
                "svc{n}:\n{i1}image:\n{i2}registry: reg{n}.example.com  # c\n{i2}repository: team/app{n}\n{i2}tag: {}\n{i2}digest: {}\n",
                quote(*q, "v1.0"),
                quote(*q + 1, pre.trim_start_matches('@'))
            )),
            Gen::Sha { q } => out.push_str(&format!(
                "svc{n}:\n{i1}image:\n{i2}registry: reg{n}.example.com\n{i2}repository: team/app{n}\n{i2}tag: v2\n{i2}sha: {}\n",
                quote(*q, "")
            )),
            Gen::TagOnly { q } => out.push_str(&format!(
                "svc{n}:\n{i1}image:\n{i2}repository: {repo}\n{i2}tag: {}   # tag\n",
                quote(*q, &format!("v3{pre}"))
            )),
            Gen::Bare => out.push_str(&format!(
                "svc{n}:\n{i1}image:\n{i2}repository: {repo}\n{i2}# tag: v1\n{i2}pullPolicy: Always\n"
            )),
            Gen::Str { q } => out.push_str(&format!(
                "svc{n}:\n{i1}image: {}\n",
                quote(*q, &format!("{repo}:v4{pre}"))
            )),
            Gen::Osm { n: count, q } => {
                out.push_str(&format!(
                    "svc{n}:\n{i1}image:\n{i2}registry: reg{n}.example.com/ns\n{i2}tag: {}\n{i2}name:\n",
                    quote(*q, "v5")
                ));
                for k in 0..*count {
                    out.push_str(&format!("{i2}{i1}comp{k}: comp-{k}-of-{n}\n"));
                }
                out.push_str(&format!("{i2}digest:\n"));
                for k in 0..*count {
                    out.push_str(&format!("{i2}{i1}comp{k}: {}\n", quote(*q + k, "")));
                }
            }
            Gen::Sibling { q } => out.push_str(&format!(
                "svc{n}:\n{i1}image: {repo}\n{i1}imageTag: {}\n",
                quote(*q, "v6")
            )),
            Gen::Other { v } => out.push_str(&format!("svc{n}:\n{i1}note: {}\n{i1}list: [a, 'b', \"c\"]\n", quote(1, v))),
        }
    }
    if crlf {
        out = out.replace('\n', "\r\n");
    }
    out
}

fn gen_strategy() -> impl Strategy<Value = Gen> {
    prop_oneof![
        (0..3usize).prop_map(|q| Gen::Digest { q }),
        (0..3usize).prop_map(|q| Gen::Sha { q }),
        (0..3usize).prop_map(|q| Gen::TagOnly { q }),
        Just(Gen::Bare),
        (0..3usize).prop_map(|q| Gen::Str { q }),
        (1..4usize, 0..3usize).prop_map(|(n, q)| Gen::Osm { n, q }),
        (0..3usize).prop_map(|q| Gen::Sibling { q }),
        "[a-z é✓:#'\"-]{0,12}".prop_map(|v| Gen::Other {
            v: v.replace(['\'', '"', '#', ':'], "")
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn generated_values_keep_their_bytes(
        items in prop::collection::vec((gen_strategy(), any::<bool>()), 1..12),
        indent in 2..5usize,
        crlf in any::<bool>(),
        comments in any::<bool>(),
        cover in prop::collection::vec(any::<bool>(), 64),
    ) {
        let text = render(&items, indent, crlf, comments);
        let sites = chartpin::values::image_sites(Path::new("gen.yaml"), &text).unwrap();
        let full = manifest_covering(&sites);
        let manifest = DigestManifest {
            entries: full.entries.into_iter().enumerate().filter(|(i, _)| cover[i % 64]).map(|(_, e)| e).collect(),
            ..DigestManifest::default()
        };
        check_properties("gen.yaml", &text, &manifest);
    }
}

// ---------------------------------------------------------------------------
// The command's behaviour and bad input.

struct Chart {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Chart {
    fn new(values: &str, digests: &str) -> Chart {
        let (tmp, dir, _) = crate::support::cli::temp_chart(values, digests);
        Chart { _tmp: tmp, dir }
    }

    fn values(&self) -> String {
        std::fs::read_to_string(self.dir.join("values.yaml")).unwrap()
    }

    fn digests(&self) -> String {
        self.dir
            .parent()
            .unwrap()
            .join("digests.txt")
            .display()
            .to_string()
    }

    fn pin(&self, extra: &[&str]) -> Run {
        let mut args = vec!["pin", self.dir.to_str().unwrap()];
        let d = self.digests();
        args.extend(["--digests", d.as_str()]);
        args.extend(extra);
        chartpin(&args).run()
    }
}

const NGINX: &str = "docker.io/library/nginx:1.27@sha256:1111111111111111111111111111111111111111111111111111111111111111\n";

fn assert_bad(chart: &Chart, extra: &[&str], expect_location: &str, expect_text: &str) {
    let before = chart.values();
    let o = chart.pin(extra);
    let err = o.stderr;
    assert_eq!(o.code, 2, "stdout: {}\nstderr: {err}", o.stdout);
    assert!(
        err.contains(expect_location),
        "missing `{expect_location}` in: {err}"
    );
    assert!(
        err.contains(expect_text),
        "missing `{expect_text}` in: {err}"
    );
    assert_eq!(chart.values(), before, "file touched");
}

#[test]
fn bad_values_exit_2_with_position_and_touch_nothing() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "image:\n  repository: [nginx\n",
            "values.yaml:2:",
            "malformed YAML",
        ),
        ("image:\n\trepository: nginx\n", "values.yaml:2:", "tabs"),
        (
            "image:\n  repository: nginx\n  repository: redis\n",
            "values.yaml:3:3",
            "duplicate key `repository`",
        ),
        (
            "image: &img nginx:1.27\nother: *img\n",
            "values.yaml:1:13",
            "anchor at image site `image`",
        ),
        (
            "v: &v '1.27'\nimage:\n  repository: nginx\n  tag: *v\n",
            "values.yaml:4:8",
            "alias at image field `image.tag`",
        ),
        (
            "image:\n  repository: nginx\n  tag: |\n    1.27\n",
            "values.yaml:4:5",
            "block scalar",
        ),
        (
            "image:\n  repository: nginx\n  tag: >-\n    1.27\n",
            "values.yaml:4:5",
            "block scalar",
        ),
    ];
    for (values, loc, text) in cases {
        let chart = Chart::new(values, NGINX);
        assert_bad(&chart, &[], loc, text);
    }
}

#[test]
fn bad_manifests_exit_2_and_touch_nothing() {
    let values = "image:\n  repository: nginx\n  tag: '1.27'\n";
    let upper = format!("nginx:1.27@sha256:{}\n", "A".repeat(64));
    assert_bad(&Chart::new(values, &upper), &[], "digests.txt:1:", "");
    let short = "nginx:1.27@sha256:abc\n";
    assert_bad(&Chart::new(values, short), &[], "digests.txt:1:", "");
    let conflict = format!(
        "nginx:1.27@sha256:{}\nnginx:1.27@sha256:{}\n",
        "1".repeat(64),
        "2".repeat(64)
    );
    assert_bad(&Chart::new(values, &conflict), &[], "digests.txt:", "");
    let config_digest = format!(
        "{{\"containerimage.config.digest\": \"sha256:{}\", \"image.name\": \"docker.io/library/nginx:1.27\"}}\n",
        "3".repeat(64)
    );
    assert_bad(
        &Chart::new(values, &config_digest),
        &[],
        "digests.txt",
        "config.digest",
    );
}

#[test]
fn values_outside_the_chart_are_refused() {
    let chart = Chart::new("image: nginx:1.27\n", NGINX);
    let outside = chart.dir.parent().unwrap().join("outside.yaml");
    std::fs::write(&outside, "image: nginx:1.27\n").unwrap();
    assert_bad(
        &chart,
        &["--values", "../outside.yaml"],
        "outside.yaml",
        "outside the chart",
    );
    assert_eq!(
        std::fs::read_to_string(&outside).unwrap(),
        "image: nginx:1.27\n"
    );

    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&outside, chart.dir.join("linked.yaml")).unwrap();
        assert_bad(
            &chart,
            &["--values", "linked.yaml"],
            "linked.yaml",
            "outside the chart",
        );
        assert_eq!(
            std::fs::read_to_string(&outside).unwrap(),
            "image: nginx:1.27\n"
        );
    }
}

#[test]
fn dry_run_prints_a_diff_and_writes_nothing() {
    let chart = Chart::new("# keep\nimage: nginx:1.27  # tail\n", NGINX);
    let o = chart.pin(&["--dry-run"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let out = o.stdout;
    assert!(out.contains("-image: nginx:1.27  # tail\n"), "{out}");
    assert!(
        out.contains(&format!(
            "+image: nginx:1.27@sha256:{}  # tail\n",
            "1".repeat(64)
        )),
        "{out}"
    );
    assert!(out.contains("would pin 1 image in 1 file"), "{out}");
    // The chart was named by its absolute path: the headers keep it whole.
    let shown = chart.dir.join("values.yaml").display().to_string();
    assert!(
        out.contains(&format!("--- {shown}\n+++ {shown}\n")),
        "{out}"
    );
    assert_eq!(chart.values(), "# keep\nimage: nginx:1.27  # tail\n");
}

#[test]
fn writes_keep_the_mode_and_unchanged_files_are_not_rewritten() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let chart = Chart::new("image: nginx:1.27\n", NGINX);
    let path = chart.dir.join("values.yaml");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let o = chart.pin(&["--diff"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("+image: nginx:1.27@sha256:"));
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(&chart.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    // A second run has nothing to do: the file (inode) is not replaced.
    let ino = meta.ino();
    let o = chart.pin(&[]);
    assert_eq!(o.code, 0);
    assert!(
        o.stdout.contains("pinned 0 images in 0 files"),
        "{}",
        o.stdout
    );
    assert_eq!(std::fs::metadata(&path).unwrap().ino(), ino);
}

#[test]
fn unmatched_images_and_entries_are_reported_and_strict_fails() {
    let digests = format!("{NGINX}ghcr.io/org/unused:1@sha256:{}\n", "2".repeat(64));
    let chart = Chart::new("image: nginx:1.27\nsidecarImage: busybox:1.36\n", &digests);
    let o = chart.pin(&["--dry-run"]);
    assert_eq!(o.code, 0);
    let out = o.stdout;
    // Worded and rendered as lint's findings: the image in the message, the YAML path below.
    assert!(
        out.contains(
            "values.yaml:2:15: warning[unmatched-image]: `busybox:1.36` has no manifest entry\n"
        ),
        "{out}"
    );
    assert!(
        out.contains("  = at sidecarImage, image busybox:1.36\n"),
        "{out}"
    );
    assert!(
        out.contains(
            "digests.txt:2:1: warning[unmatched-entry]: manifest entry ghcr.io/org/unused:1"
        ),
        "{out}"
    );
    let strict = chart.pin(&["--dry-run", "--strict"]);
    assert_eq!(strict.code, 1);

    let json = chart.pin(&["--dry-run", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["files"][0]["pinned"][0]["path"], "image");
    assert_eq!(
        doc["files"][0]["unmatched_images"][0]["code"],
        "unmatched-image"
    );
    assert_eq!(doc["unmatched_entries"][0]["image"], "ghcr.io/org/unused:1");
    assert!(
        doc["files"][0]["diff"]
            .as_str()
            .unwrap()
            .contains("+image: nginx:1.27@sha256:")
    );
}

#[test]
fn unmatched_findings_render_as_sarif_github_and_json() {
    let digests = format!("{NGINX}ghcr.io/org/unused:1@sha256:{}\n", "2".repeat(64));
    let chart = Chart::new("image: nginx:1.27\nsidecarImage: busybox:1.36\n", &digests);

    let sarif = chart.pin(&["--dry-run", "--format", "sarif"]);
    assert_eq!(sarif.code, 0, "{}", sarif.stderr);
    let log: serde_json::Value = serde_json::from_str(&sarif.stdout).unwrap();
    let results = log["runs"][0]["results"].as_array().unwrap();
    let by_rule = |rule: &str| {
        results
            .iter()
            .find(|r| r["ruleId"] == rule)
            .unwrap_or_else(|| panic!("no {rule} in {log}"))
    };
    let image = by_rule("unmatched-image");
    assert_eq!(image["level"], "warning");
    let loc = &image["locations"][0]["physicalLocation"];
    assert!(
        loc["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("chart/values.yaml"),
        "{loc}"
    );
    assert_eq!(loc["region"]["startLine"], 2);
    assert_eq!(loc["region"]["startColumn"], 15);
    let entry = by_rule("unmatched-entry");
    let loc = &entry["locations"][0]["physicalLocation"];
    assert!(
        loc["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("digests.txt"),
        "{loc}"
    );
    assert_eq!(loc["region"]["startLine"], 2);
    // SARIF is one JSON document: no diff or summary text around it.
    assert_eq!(results.len(), 2);

    let github = chart.pin(&["--dry-run", "--format", "github"]).stdout;
    assert!(
        github.lines().any(|l| l.starts_with("::warning file=")
            && l.contains("values.yaml,line=2,col=15,title=unmatched-image::`busybox:1.36` has no manifest entry")),
        "{github}"
    );
    assert!(
        github.lines().any(|l| l.starts_with("::warning file=")
            && l.contains("digests.txt,line=2,col=1,title=unmatched-entry::manifest entry ghcr.io/org/unused:1")),
        "{github}"
    );
    assert!(
        github.contains("chartpin pin: would pin 1 image in 1 file"),
        "{github}"
    );
    let strict = chart
        .pin(&["--dry-run", "--strict", "--format", "github"])
        .stdout;
    assert!(strict.contains("::error file="), "{strict}");

    // JSON keeps its files/unmatched_entries shape and adds findings and a summary.
    let json = chart.pin(&["--dry-run", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_snake_case_keys(&doc);
    let codes = finding_fields(&doc, "code");
    assert_eq!(codes, ["unmatched-image", "unmatched-entry"]);
    assert_eq!(doc["findings"][0]["line"], 2);
    assert_eq!(doc["findings"][0]["path"], "sidecarImage");
    assert_eq!(
        doc["findings"][0]["message"],
        "`busybox:1.36` has no manifest entry"
    );
    assert_eq!(doc["summary"]["warnings"], 2);
    assert_eq!(doc["summary"]["pinned"], 1);
    assert_eq!(doc["summary"]["changed_files"], 1);
    assert_eq!(doc["summary"]["written"], false);
    assert_eq!(doc["unmatched_entries"][0]["image"], "ghcr.io/org/unused:1");
    assert_eq!(
        chart.values(),
        "image: nginx:1.27\nsidecarImage: busybox:1.36\n"
    );
}

#[test]
fn a_bad_digests_format_is_a_usage_error_listing_the_formats() {
    let chart = Chart::new("image: nginx:1.27\n", NGINX);
    let o = chart.pin(&["--digests-format", "yaml-ish"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    let err = o.stderr;
    for name in [
        "docker-images",
        "name-digest",
        "ref-lines",
        "goreleaser",
        "buildx",
        "kbld",
        "imgpkg",
        "map",
    ] {
        assert!(err.contains(name), "{name} missing from: {err}");
    }
    assert!(err.contains("--digests-format"), "{err}");
    let ok = chart.pin(&["--digests-format", "ref-lines", "--check"]);
    assert_eq!(ok.code, 1, "{}", ok.stderr);
}

/// Without helm, pin works by the values conventions and says once, for
/// every chart of the run, that rendering was skipped; `--render` then
/// refuses, naming the install script.
#[test]
fn without_helm_pin_says_once_that_rendering_was_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let mut charts = Vec::new();
    for name in ["one", "two"] {
        let c = dir.path().join(name);
        std::fs::create_dir_all(&c).unwrap();
        std::fs::write(
            c.join("Chart.yaml"),
            format!("apiVersion: v2\nname: {name}\nversion: 0.1.0\n"),
        )
        .unwrap();
        std::fs::write(c.join("values.yaml"), "image: nginx:1.25\n").unwrap();
        charts.push(c);
    }
    let digest = format!("sha256:{}", "c".repeat(64));
    let digests = dir.path().join("digests.txt");
    std::fs::write(&digests, format!("nginx:1.25@{digest}\n")).unwrap();
    let (one, two, d) = (
        charts[0].to_str().unwrap(),
        charts[1].to_str().unwrap(),
        digests.to_str().unwrap(),
    );
    let run = chartpin(&["pin", one, "--chart", two, "--digests", d])
        .env("PATH", NO_HELM_PATH)
        .run();
    assert_eq!(run.code, 0, "{}", run.all());
    assert_render_skipped_once(&run);
    for c in &charts {
        let text = std::fs::read_to_string(c.join("values.yaml")).unwrap();
        assert_eq!(text, format!("image: nginx:1.25@{digest}\n"));
    }
    let run = chartpin(&["pin", one, "--digests", d, "--render"])
        .env("PATH", NO_HELM_PATH)
        .run();
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(run.stderr.contains("scripts/install-deps"), "{}", run.all());
}
