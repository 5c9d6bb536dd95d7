//! Memory on large inputs dense in images (issue 10, item 3), peak RSS
//! measured from the child's rusage (`wait4`): `lint --rendered` of a 20 MB
//! `helm template` stream, and `lint`, `pin` (a dry run and a real write,
//! the manifest covering some of the images) and `release --dry-run
//! --no-render` on a 20 MB `values.yaml` with an image every ~420 bytes.
//!
//! Each is held to the bound, 4× the input plus 64 MB:
//! - the rendered stream: each document's tree is given back before the
//!   next is read;
//! - `lint` of the dense values file: each site is judged as the walk finds
//!   it, and given back;
//! - `pin`: only the sites an entry matches are kept whole, and the tree is
//!   given back before the planned text is made;
//! - `release`: the same, and while it lints the planned chart the file as
//!   read is set aside (`release::park`); its diff is made from its edits.
//!
//! Measured on the release binary, the one users run
//! ([`release_binary`](crate::support::cli::release_binary)): the debug
//! binary's own code keeps some 13 MB more resident, a fifth of the 64 MB.
//! Benchmark-like, so the inputs are generated at run time (never
//! committed); `scripts/bench-dense` prints the same figures against the
//! issue's bound.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::support::cli::{finding_fields, peak_rss_kib, release_chartpin};
use crate::support::registry::Registry;

/// The values file's size: as issue 10's figures were taken.
const VALUES_BYTES: usize = 20_000_000;

/// The bound for `bytes` of input, in KiB: 4× plus 64 MB.
fn bound_kib(bytes: usize) -> u64 {
    (4 * bytes as u64 + 64 * 1024 * 1024) / 1024
}

/// A values text of about `bytes`, dense in image sites: `image:
/// {repository, tag}` blocks under `host/team/app<n>` and string images
/// `host/library/nginx:1.<n>` alternating, with the keys, flow collections
/// and comments real values files have between them (scripts/bench-dense's
/// shape).
fn dense_values(host: &str, bytes: usize) -> String {
    let pad = format!("  # {}\n", "padding ".repeat(18));
    let mut out = String::with_capacity(bytes + 1024);
    let mut i = 0usize;
    while out.len() < bytes {
        if i.is_multiple_of(2) {
            write!(
                out,
                "svc{i:07}:\n  enabled: true\n  replicas: 1\n  image:\n    repository: {host}/team/app{}\n    tag: \"1.{}.0\"\n    pullPolicy: IfNotPresent\n  resources:\n    limits: {{cpu: 100m, memory: 128Mi}}\n  podAnnotations: {{}}\n  nodeSelector: {{}}\n  tolerations: []\n  service:\n    type: ClusterIP\n    port: 80\n{pad}",
                i % 50,
                i % 30
            )
            .unwrap();
        } else {
            write!(
                out,
                "job{i:07}:\n  image: {host}/library/nginx:1.{}\n  command: [\"/bin/sh\", \"-c\", \"echo hello\"]\n  env:\n    - name: FOO\n      value: bar\n  labels:\n    app.kubernetes.io/name: job{i}\n  securityContext: {{runAsNonRoot: true, runAsUser: 1000}}\n{pad}",
                i % 25
            )
            .unwrap();
        }
        i += 1;
    }
    out
}

/// A dense chart under `dir` whose images live at `host`, and a manifest
/// giving `app4:1.4.0` and `nginx:1.3` their digests (a few hundred of the
/// ~48,000 sites). Returns the chart, the manifest and the values size.
fn dense_chart(dir: &Path, host: &str, app: &str, nginx: &str) -> (PathBuf, PathBuf, usize) {
    let chart = dir.join("dense");
    std::fs::create_dir_all(&chart).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: dense\nversion: 0.1.0\n",
    )
    .unwrap();
    let values = dense_values(host, VALUES_BYTES);
    std::fs::write(chart.join("values.yaml"), &values).unwrap();
    let digests = dir.join("digests.txt");
    std::fs::write(
        &digests,
        format!("{host}/team/app4:1.4.0@{app}\n{host}/library/nginx:1.3@{nginx}\n"),
    )
    .unwrap();
    (chart, digests, values.len())
}

/// Run chartpin with `args` in `home` (also its working directory) and
/// return its exit code, asserting its peak RSS is within 4× the input plus
/// 64 MB.
fn within(args: &[&str], home: &Path, bytes: usize) -> i32 {
    let mut cmd = release_chartpin(args)
        .home(home)
        .current_dir(home)
        .command();
    let (code, kib) = peak_rss_kib(&mut cmd);
    let kib = kib as u64;
    let bound = bound_kib(bytes);
    eprintln!(
        "chartpin {}: peak RSS {kib} KiB for {bytes} bytes (bound {bound} KiB)",
        args[0]
    );
    assert!(
        kib <= bound,
        "chartpin {args:?}: peak RSS {kib} KiB for {bytes} bytes of input, over 4x + 64 MB ({bound} KiB)"
    );
    code
}

/// `lint` of `chart` reports the dense file's first block and not
/// `svc0000002`'s, whose tag what is laid over pins (`why`).
fn assert_only_the_laid_over_block_is_pinned(chart: &Path, home: &Path, why: &str) {
    let run = release_chartpin(&["lint", chart.to_str().unwrap(), "--format", "json"])
        .home(home)
        .run();
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let paths = finding_fields(&doc, "path");
    assert!(
        paths.contains(&"svc0000000.image"),
        "the first block is mutable"
    );
    assert!(!paths.contains(&"svc0000002.image"), "{why}");
}

/// A `helm template` stream of about `bytes`: one Deployment per ~420
/// bytes, each with its `# Source:` comment and one container image.
fn rendered_stream(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 1024);
    let mut i = 0usize;
    while out.len() < bytes {
        write!(
            out,
            "---\n# Source: dense/templates/d{i}.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d{i}\n  labels:\n    app: d{i}\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n        - name: app\n          image: registry.example.com/team/app{}:1.{}.0\n          ports:\n            - containerPort: 80\n",
            i % 50,
            i % 30
        )
        .unwrap();
        i += 1;
    }
    out
}

const FAKE_DIGEST: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

#[test]
fn lint_of_a_long_rendered_stream_stays_within_four_times_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let stream = rendered_stream(VALUES_BYTES);
    let file = dir.path().join("rendered.yaml");
    std::fs::write(&file, &stream).unwrap();
    // Run in an empty directory: no chart beside the stream is linted.
    let code = within(
        &["lint", "--rendered", file.to_str().unwrap()],
        dir.path(),
        stream.len(),
    );
    assert_eq!(code, 1, "mutable tags are findings");
}

#[test]
fn lint_of_a_dense_values_file_stays_within_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let (chart, _, bytes) =
        dense_chart(dir.path(), "registry.example.com", FAKE_DIGEST, FAKE_DIGEST);
    let code = within(&["lint", chart.to_str().unwrap()], dir.path(), bytes);
    assert_eq!(code, 1, "mutable tags are findings");
}

#[test]
fn lint_of_a_dense_values_file_of_two_documents_stays_within_its_bound() {
    // Helm merges the documents; lint judges the sites the second touches
    // with the merge (here one block's tag, now pinned) and the others as
    // they are written, without a merged copy of the first.
    let dir = tempfile::tempdir().unwrap();
    let (chart, _, _) = dense_chart(dir.path(), "registry.example.com", FAKE_DIGEST, FAKE_DIGEST);
    let values = chart.join("values.yaml");
    let mut text = std::fs::read_to_string(&values).unwrap();
    assert!(text.contains("svc0000002:\n  enabled: true\n  replicas: 1\n  image:\n    repository: registry.example.com/team/app2\n    tag: \"1.2.0\"\n"));
    write!(
        text,
        "---\nsvc0000002:\n  image:\n    tag: \"1.2.0@{FAKE_DIGEST}\"\nextra: 1\n"
    )
    .unwrap();
    std::fs::write(&values, &text).unwrap();
    let code = within(&["lint", chart.to_str().unwrap()], dir.path(), text.len());
    assert_eq!(code, 1, "mutable tags are findings");
    assert_only_the_laid_over_block_is_pinned(
        &chart,
        dir.path(),
        "the second document pins svc0000002's tag",
    );
}

#[test]
fn lint_of_a_dense_subchart_with_the_parents_values_stays_within_its_bound() {
    // The parent's section for the subchart is laid over its values: the
    // sites it touches are judged with it (here one block's tag, pinned),
    // the others as written (with the parent's globals), without a merged
    // copy of the subchart's values.
    let dir = tempfile::tempdir().unwrap();
    let (dense, _, bytes) =
        dense_chart(dir.path(), "registry.example.com", FAKE_DIGEST, FAKE_DIGEST);
    let parent = dir.path().join("parent");
    std::fs::create_dir_all(parent.join("charts")).unwrap();
    std::fs::rename(&dense, parent.join("charts/dense")).unwrap();
    std::fs::write(
        parent.join("Chart.yaml"),
        "apiVersion: v2\nname: parent\nversion: 0.1.0\ndependencies:\n  - name: dense\n    version: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        parent.join("values.yaml"),
        // The parent's `global.imageRegistry` is what every site reads.
        format!(
            "global:\n  imageRegistry: mirror.example.com\ndense:\n  svc0000002:\n    image:\n      tag: \"1.2.0@{FAKE_DIGEST}\"\n"
        ),
    )
    .unwrap();
    let code = within(&["lint", parent.to_str().unwrap()], dir.path(), bytes);
    assert_eq!(code, 1, "mutable tags are findings");
    assert_only_the_laid_over_block_is_pinned(
        &parent,
        dir.path(),
        "the parent pins svc0000002's tag",
    );
}

#[test]
fn pin_dry_run_of_a_dense_values_file_stays_within_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let (chart, digests, bytes) =
        dense_chart(dir.path(), "registry.example.com", FAKE_DIGEST, FAKE_DIGEST);
    let (c, d) = (chart.to_str().unwrap(), digests.to_str().unwrap());
    let before = std::fs::read(chart.join("values.yaml")).unwrap();
    let args = ["pin", c, "--digests", d, "--dry-run", "--no-render"];
    assert_eq!(within(&args, dir.path(), bytes), 0);
    assert_eq!(std::fs::read(chart.join("values.yaml")).unwrap(), before);
}

#[test]
fn pin_of_a_dense_values_file_writes_within_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let (chart, digests, bytes) =
        dense_chart(dir.path(), "registry.example.com", FAKE_DIGEST, FAKE_DIGEST);
    let (c, d) = (chart.to_str().unwrap(), digests.to_str().unwrap());
    let before = std::fs::read_to_string(chart.join("values.yaml")).unwrap();
    let args = ["pin", c, "--digests", d, "--no-render"];
    assert_eq!(within(&args, dir.path(), bytes), 0);
    let after = std::fs::read_to_string(chart.join("values.yaml")).unwrap();
    // Every nginx:1.3 string site (odd i, i % 25 == 3) and every app4
    // 1.4.0 block (i % 150 == 4) gains its digest, once.
    let sites = before.matches("/library/nginx:1.3\n").count()
        + before.matches("/app4\n    tag: \"1.4.0\"").count();
    assert!(sites > 400, "{sites} sites to pin");
    assert_eq!(after.matches(FAKE_DIGEST).count(), sites);
    assert!(after.contains(&format!("/library/nginx:1.3@{FAKE_DIGEST}\n")));
    assert!(
        !after.contains("/library/nginx:1.3\n"),
        "every nginx:1.3 site is pinned"
    );
}

#[test]
fn release_of_a_dense_values_file_stays_within_its_bound() {
    let reg = Registry::start();
    let app = reg.push_image("team/app4", Some("1.4.0"), "app4 1.4.0");
    let nginx = reg.push_image("library/nginx", Some("1.3"), "nginx 1.3");
    let dir = tempfile::tempdir().unwrap();
    let (chart, digests, bytes) = dense_chart(dir.path(), &reg.host, &app.digest, &nginx.digest);
    let (c, d) = (chart.to_str().unwrap(), digests.to_str().unwrap());
    let code = within(
        &["release", c, "--digests", d, "--dry-run", "--no-render"],
        dir.path(),
        bytes,
    );
    // The other images stay mutable, so the release stops on its lint
    // findings; it must not stop for want of an answer from the registry.
    assert_eq!(code, 1);
}
