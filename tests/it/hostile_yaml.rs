//! Memory under large YAML (issue 10, item 3, the YAML part): `lint` and
//! `pin` on a large values file and on one long flow sequence stay within
//! 4× the input plus 64 MB of peak RSS, measured from the child's rusage,
//! of the release binary ([`release_binary`](crate::support::cli::release_binary)).
//!
//! A bound on RSS is a benchmark-like test: the bound is generous, the
//! inputs are generated at run time (never committed) and kept modest for
//! the shared machine. The values file is made of the shared corpus's real
//! values files, each under a section key of its own, so its density of
//! keys, comments and image sites is what charts really have.

use std::path::Path;

use crate::support::cli::{peak_rss_kib, release_chartpin};

/// The values input's size: real chart sections up to about 40 MB.
const VALUES_BYTES: usize = 40_000_000;
/// The flow sequence's size: one line of about 20 MB.
const FLOW_BYTES: usize = 20_000_000;

/// Peak RSS allowed for an input of `bytes`: 4× plus 64 MB, in kilobytes.
fn bound_kb(bytes: usize) -> u64 {
    (4 * bytes as u64 + 64 * 1024 * 1024) / 1024
}

/// A chart whose `values.yaml` is `values`, with a one-entry digest file.
fn chart(dir: &Path, values: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: big\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(dir.join("values.yaml"), values).unwrap();
    std::fs::write(
        dir.join("digests.txt"),
        format!("docker.io/library/nginx:1.25@sha256:{}\n", "a".repeat(64)),
    )
    .unwrap();
}

/// `lint` and `pin --check` on the chart at `dir`, each within the bound for
/// `bytes` of input, and each ending as a normal run (0, 1 or 2: findings or
/// none, never a crash).
fn assert_within_bound(dir: &Path, bytes: usize) {
    let home = tempfile::tempdir().unwrap();
    let d = dir.to_str().unwrap();
    let digests = dir.join("digests.txt");
    let runs: [Vec<&str>; 2] = [
        vec!["lint", d],
        vec!["pin", d, "--digests", digests.to_str().unwrap(), "--check"],
    ];
    for args in runs {
        let (code, kb) = peak_rss_kib(&mut release_chartpin(&args).home(home.path()).command());
        let kb = kb as u64;
        assert!(
            (0..=1).contains(&code),
            "chartpin {args:?} exited {code} on a valid chart"
        );
        let bound = bound_kb(bytes);
        assert!(
            kb <= bound,
            "chartpin {args:?}: peak RSS {kb} KB for {bytes} bytes of input, over 4x + 64 MB ({bound} KB)"
        );
        eprintln!("chartpin {args:?}: peak RSS {kb} KB for {bytes} bytes (bound {bound} KB)");
    }
}

/// Every values file of the shared corpus, each indented under its own
/// section key, repeated until the text reaches `bytes`.
fn corpus_values(bytes: usize) -> String {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    let mut files = Vec::new();
    for group in ["charts", "full"] {
        let dir = corpus.join(group);
        let rd = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e} (the shared corpus is missing)", dir.display()));
        for chart in rd {
            let values = chart.unwrap().path().join("values.yaml");
            if let Ok(text) = std::fs::read_to_string(&values) {
                files.push(text);
            }
        }
    }
    files.sort();
    assert!(
        files.len() >= 10,
        "corpus incomplete: {} values files",
        files.len()
    );
    let mut out = String::with_capacity(bytes + 1_000_000);
    let mut section = 0;
    while out.len() < bytes {
        for text in &files {
            out.push_str(&format!("section{section}:\n"));
            for line in text.lines() {
                if !line.trim().is_empty() {
                    out.push_str("  ");
                }
                out.push_str(line);
                out.push('\n');
            }
            section += 1;
        }
    }
    out
}

#[test]
fn a_large_values_file_stays_within_four_times_its_size() {
    let tmp = tempfile::tempdir().unwrap();
    let values = corpus_values(VALUES_BYTES);
    let dir = tmp.path().join("big");
    chart(&dir, &values);
    assert_within_bound(&dir, values.len());
}

#[test]
fn a_long_flow_sequence_stays_within_four_times_its_size() {
    let tmp = tempfile::tempdir().unwrap();
    let mut values = String::with_capacity(FLOW_BYTES + 64);
    values.push_str("list: [");
    let mut i = 0u64;
    while values.len() < FLOW_BYTES {
        values.push_str(&format!("item-{i:07}, "));
        i += 1;
    }
    values.push_str("last]\n");
    let dir = tmp.path().join("flow");
    chart(&dir, &values);
    assert_within_bound(&dir, values.len());
}
