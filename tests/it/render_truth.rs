//! The rendered truth: for every complete chart in `../shared/corpus/full/`,
//! render it with the real helm, give `chartpin pin` a manifest holding a
//! made-up digest for every rendered image, render the pinned copy again,
//! and check per image that it carries exactly its digest or was reported
//! `unpinnable-image` with a reason; that nothing else in the render changed;
//! and that pinning again changes nothing. Prints a per-chart table.
//!
//! `CHARTPIN_TRUTH_FLAGS="--no-render"` runs the same check against the
//! conventions alone (what chartpin did before it probed the render).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use chartpin::lint::rendered::{RenderedImage, rendered_images};
use chartpin::reference::ImageRef;
use sha2::Digest as _;

use crate::support::cli::{chartpin, copy_dir};
use crate::support::helm;

fn full_corpus() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/full");
    assert!(
        p.join("SOURCES.md").is_file(),
        "the full-chart corpus is missing at {} (it is shared test input, see ../shared/corpus/full/SOURCES.md)",
        p.display()
    );
    p
}

/// The corpus and its charts, in name order.
fn full_charts() -> (PathBuf, Vec<PathBuf>) {
    let corpus = full_corpus();
    let mut charts: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Chart.yaml").is_file())
        .collect();
    charts.sort();
    (corpus, charts)
}

fn render(chart: &Path) -> String {
    let out = Command::new(helm::helm())
        .args(["template", "truth"])
        .arg(chart)
        .output()
        .expect("run helm template");
    assert!(
        out.status.success(),
        "helm template {} failed: {}",
        chart.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The made-up digest of an image: sha256 of its name and tag.
fn made_up(r: &ImageRef) -> String {
    let key = match r.tag() {
        Some(t) => format!("{}:{t}", r.name()),
        None => r.name(),
    };
    format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(key.as_bytes()))
    )
}

/// The render with every image reference replaced by `IMAGE`, checksum
/// annotations (they hash ConfigMaps that hold images) dropped, and lines
/// that differ between two renders of the same chart (generated secrets)
/// left out.
fn normalised(
    text: &str,
    images: &[RenderedImage],
    volatile: &BTreeSet<usize>,
    digests: &BTreeSet<String>,
) -> Vec<String> {
    let mut spans: Vec<_> = images.iter().map(|i| i.span).collect();
    spans.sort_by_key(|s| std::cmp::Reverse(s.start));
    spans.dedup();
    let mut t = text.to_string();
    let mut last = usize::MAX;
    for s in spans {
        if s.end > last {
            continue;
        }
        t.replace_range(s.start..s.end, "IMAGE");
        last = s.start;
    }
    t.lines()
        .enumerate()
        .filter(|(n, l)| !volatile.contains(n) && !l.trim_start().starts_with("checksum/"))
        // A field that holds only the image's digest (a custom resource's
        // `sha:`) is the image's pin, not a change to anything else.
        .filter(|(_, l)| {
            !l.split_once(": ").is_some_and(|(_, v)| {
                let v = v.trim().trim_matches('"');
                digests.contains(v) || digests.contains(&format!("sha256:{v}"))
            })
        })
        .map(|(_, l)| l.to_string())
        .collect()
}

/// Every file under `dir` with its bytes.
fn tree(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            tree(&e.path(), out);
        } else {
            out.insert(e.path(), std::fs::read(e.path()).unwrap());
        }
    }
}

#[derive(Default)]
struct Row {
    images: usize,
    pinned: usize,
    unpinnable: usize,
    wrong: Vec<String>,
    missed: Vec<String>,
    changed_lines: usize,
    idempotent: bool,
}

/// A digest manifest holding a made-up digest for every rendered image,
/// and the digest each rendered reference should end up with.
fn made_up_manifest(images: &[RenderedImage]) -> (String, BTreeMap<String, String>) {
    let mut manifest = String::new();
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    for img in images {
        let Ok(r) = ImageRef::parse(&img.reference) else {
            continue;
        };
        let d = made_up(&r);
        let name = match r.tag() {
            Some(t) => format!("{}:{t}", r.written_name()),
            None => r.written_name(),
        };
        if expected.insert(img.reference.clone(), d.clone()).is_none() {
            manifest.push_str(&format!("{name}@{d}\n"));
        }
    }
    (manifest, expected)
}

fn check_chart(src: &Path, flags: &[String]) -> Row {
    let tmp = tempfile::tempdir().unwrap();
    let chart = tmp.path().join(src.file_name().unwrap());
    copy_dir(src, &chart);
    let before = render(&chart);
    let again = render(&chart);
    let volatile: BTreeSet<usize> = before
        .lines()
        .zip(again.lines())
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(n, _)| n)
        .collect();
    let images_before = rendered_images(&before).unwrap();
    let (manifest, expected) = made_up_manifest(&images_before);
    let digests = tmp.path().join("digests.txt");
    std::fs::write(&digests, &manifest).unwrap();
    let chart_s = chart.to_str().unwrap();
    let digests_s = digests.to_str().unwrap();
    let mut args = vec!["pin", chart_s, "--digests", digests_s, "--format", "json"];
    args.extend(flags.iter().map(String::as_str));
    let run = chartpin(&args).env("PATH", helm::path_with_helm()).run();
    assert!(
        run.code == 0 || run.code == 1,
        "pin {} exited {}: {}",
        src.display(),
        run.code,
        run.all()
    );
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!("pin printed no JSON ({e}): {}", run.all());
    });
    let mut unpinnable: BTreeSet<String> = BTreeSet::new();
    for f in doc["findings"].as_array().unwrap() {
        if f["code"] == "unpinnable-image" {
            assert!(
                f["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("is not pinned: ")),
                "an unpinnable-image finding without a reason: {f}"
            );
            unpinnable.insert(f["image"].as_str().unwrap_or("").to_string());
        }
    }
    let after = render(&chart);
    let images_after = rendered_images(&after).unwrap();
    let mut row = Row {
        images: expected.len(),
        ..Row::default()
    };
    if images_after.len() != images_before.len() {
        row.wrong.push(format!(
            "{} images rendered before, {} after",
            images_before.len(),
            images_after.len()
        ));
    }
    let mut counted = BTreeSet::new();
    for (b, a) in images_before.iter().zip(&images_after) {
        let Some(want) = expected.get(&b.reference) else {
            continue;
        };
        let first = counted.insert(b.reference.clone());
        let got = ImageRef::parse(&a.reference);
        let ok = got.as_ref().is_ok_and(|g| {
            g.digest().is_some_and(|d| d.to_string() == *want)
                && ImageRef::parse(&b.reference).is_ok_and(|o| o.name() == g.name())
        });
        if ok {
            row.pinned += usize::from(first);
        } else if unpinnable.contains(&b.reference) {
            row.unpinnable += usize::from(first);
        } else if a.reference == b.reference {
            row.missed
                .push(format!("{} ({})", b.reference, b.describe()));
        } else {
            row.wrong.push(format!(
                "{} ({}) became {}",
                b.reference,
                b.describe(),
                a.reference
            ));
        }
    }
    let digests: BTreeSet<String> = expected.values().cloned().collect();
    let nb = normalised(&before, &images_before, &volatile, &digests);
    let na = normalised(&after, &images_after, &volatile, &digests);
    row.changed_lines = if nb.len() == na.len() {
        nb.iter().zip(&na).filter(|(x, y)| x != y).count()
    } else {
        nb.len().abs_diff(na.len()).max(1)
    };
    if row.changed_lines > 0 {
        let diff: Vec<String> = nb
            .iter()
            .zip(&na)
            .filter(|(x, y)| x != y)
            .take(3)
            .map(|(x, y)| format!("- {x}\n+ {y}"))
            .collect();
        eprintln!(
            "{}: render changed besides images:\n{}",
            src.display(),
            diff.join("\n")
        );
    }
    let mut files = BTreeMap::new();
    tree(&chart, &mut files);
    let second = chartpin(&args).env("PATH", helm::path_with_helm()).run();
    let mut files2 = BTreeMap::new();
    tree(&chart, &mut files2);
    row.idempotent = files == files2 && (second.code == 0 || second.code == 1);
    row
}

#[test]
fn every_rendered_image_of_the_full_corpus_is_pinned_or_reported() {
    let (corpus, charts) = full_charts();
    let flags: Vec<String> = std::env::var("CHARTPIN_TRUTH_FLAGS")
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    assert!(!charts.is_empty(), "no charts in {}", corpus.display());
    let mut table = String::from(
        "| chart | images | pinned | unpinnable | missed | wrong | render lines changed | pin twice no-op |\n|---|---|---|---|---|---|---|---|\n",
    );
    let mut total = Row {
        idempotent: true,
        ..Row::default()
    };
    let mut problems = Vec::new();
    for c in &charts {
        let row = check_chart(c, &flags);
        let name = c.file_name().unwrap().to_string_lossy().to_string();
        table.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} |\n",
            row.images,
            row.pinned,
            row.unpinnable,
            row.missed.len(),
            row.wrong.len(),
            row.changed_lines,
            if row.idempotent { "yes" } else { "no" }
        ));
        for m in &row.missed {
            problems.push(format!("{name}: missed {m}"));
        }
        for w in &row.wrong {
            problems.push(format!("{name}: WRONG {w}"));
        }
        if row.changed_lines > 0 {
            problems.push(format!(
                "{name}: {} render lines changed besides images",
                row.changed_lines
            ));
        }
        if !row.idempotent {
            problems.push(format!("{name}: a second pin changed files"));
        }
        total.images += row.images;
        total.pinned += row.pinned;
        total.unpinnable += row.unpinnable;
        total.missed.extend(row.missed);
        total.wrong.extend(row.wrong);
        total.changed_lines += row.changed_lines;
        total.idempotent &= row.idempotent;
    }
    table.push_str(&format!(
        "| **total** | {} | {} | {} | {} | {} | {} | {} |\n",
        total.images,
        total.pinned,
        total.unpinnable,
        total.missed.len(),
        total.wrong.len(),
        total.changed_lines,
        if total.idempotent { "yes" } else { "no" }
    ));
    eprintln!("{table}");
    assert!(problems.is_empty(), "{table}\n{}", problems.join("\n"));
}

/// The budget: the probe adds at most two renders to the one the
/// user's values make (`pin` renders nothing else). helm runs through a
/// wrapper (`--helm`) that counts its `template` runs; every chart of the
/// full corpus is pinned once, its helm runs and the refused ones listed.
#[test]
fn the_probe_adds_at_most_two_renders_to_every_full_corpus_chart() {
    let (corpus, charts) = full_charts();
    assert!(!charts.is_empty(), "no charts in {}", corpus.display());
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("helm.log");
    let wrapper = tmp.path().join("helm");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n\"{}\" \"$@\"\nrc=$?\necho \"$1 $rc\" >> \"{}\"\nexit $rc\n",
            helm::helm().display(),
            log.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut table = String::from("| chart | helm runs | refused |\n|---|---|---|\n");
    let mut over = Vec::new();
    for src in &charts {
        let name = src.file_name().unwrap().to_string_lossy().to_string();
        let chart = tmp.path().join(&name);
        copy_dir(src, &chart);
        let (manifest, _) = made_up_manifest(&rendered_images(&render(&chart)).unwrap());
        let digests = tmp.path().join(format!("{name}.digests"));
        std::fs::write(&digests, manifest).unwrap();
        std::fs::write(&log, "").unwrap();
        let run = chartpin(&[
            "pin",
            chart.to_str().unwrap(),
            "--digests",
            digests.to_str().unwrap(),
            "--dry-run",
            "--helm",
            wrapper.to_str().unwrap(),
        ])
        .run();
        assert!(run.code == 0 || run.code == 1, "pin {name}: {}", run.all());
        let runs: Vec<String> = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("template "))
            .map(String::from)
            .collect();
        let refused = runs.iter().filter(|l| !l.ends_with(" 0")).count();
        table.push_str(&format!("| {name} | {} | {refused} |\n", runs.len()));
        // The baseline render, then at most two probe renders.
        if runs.len() > 3 {
            over.push(format!(
                "{name}: {} helm runs ({refused} refused)",
                runs.len()
            ));
        }
    }
    eprintln!("{table}");
    assert!(over.is_empty(), "{table}\n{}", over.join("\n"));
}

/// Every string under an `image:` key of a rendered document, read with a
/// YAML reader of its own (not chartpin's): the core of what a cluster pulls.
fn image_keys(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match v {
                    serde_json::Value::String(s) if k == "image" && !s.is_empty() => {
                        out.push(s.clone())
                    }
                    _ => image_keys(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| image_keys(v, out)),
        _ => {}
    }
}

/// A reference by its normalised name and tag, as lint and helm may spell it apart.
fn image_key(s: &str) -> Option<(String, Option<String>)> {
    ImageRef::parse(s)
        .ok()
        .map(|r| (r.name(), r.tag().map(str::to_string)))
}

/// `lint --render` on each original chart of the full corpus reports every
/// mutable image the render holds (every `image:` field, read here with
/// another YAML reader, and every env value, arg and ConfigMap manifest
/// chartpin reads images from), and reports nothing that is not an image.
#[test]
fn lint_render_reports_every_mutable_rendered_image_of_the_full_corpus_and_nothing_else() {
    let (_, charts) = full_charts();
    let mut problems = Vec::new();
    let mut table = String::from(
        "| chart | mutable rendered | reported | missed | not rendered | not images |\n|---|---|---|---|---|---|\n",
    );
    for chart in &charts {
        let name = chart.file_name().unwrap().to_string_lossy().to_string();
        let text = render(chart);
        let mut truth: Vec<String> = Vec::new();
        for doc in text.split("\n---") {
            let doc = doc.trim_start_matches("---");
            if doc.trim().is_empty() {
                continue;
            }
            let v: serde_json::Value = serde_saphyr::from_str(doc)
                .unwrap_or_else(|e| panic!("{name}: a rendered document does not parse: {e}"));
            image_keys(&v, &mut truth);
        }
        let under_image_keys: BTreeSet<(String, Option<String>)> =
            truth.iter().filter_map(|s| image_key(s)).collect();
        let beyond: Vec<RenderedImage> = rendered_images(&text)
            .unwrap()
            .into_iter()
            .filter(|i| image_key(&i.reference).is_none_or(|k| !under_image_keys.contains(&k)))
            .collect();
        // What chartpin reads as images beyond `image:` fields (env values,
        // args, manifests in ConfigMaps) must look like images by the
        // issue's rule, judged here on its own: a registry domain or a tag,
        // and no URL, CIDR or other path of numbers.
        for i in &beyond {
            let r = &i.reference;
            let looks = ImageRef::parse(r).is_ok_and(|p| {
                let first = r.split('/').next().unwrap_or("");
                (p.tag().is_some() || p.digest().is_some() || first.contains('.'))
                    && !r.contains("://")
                    && !r
                        .split(['/', ':', '@'])
                        .skip(1)
                        .all(|c| c.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
            });
            if !looks {
                problems.push(format!("{name}: `{r}` ({}) read as an image", i.describe()));
            }
        }
        truth.extend(beyond.into_iter().map(|i| i.reference));
        let mutable: BTreeSet<(String, Option<String>)> = truth
            .iter()
            .filter(|s| ImageRef::parse(s).is_ok_and(|r| r.digest().is_none()))
            .filter_map(|s| image_key(s))
            .collect();
        let rendered: BTreeSet<&str> = truth.iter().map(String::as_str).collect();

        let run = chartpin(&[
            "lint",
            chart.to_str().unwrap(),
            "--render",
            "--format",
            "json",
        ])
        .env("PATH", helm::path_with_helm())
        .run();
        assert!(
            run.code == 0 || run.code == 1,
            "lint {name} exited {}: {}",
            run.code,
            run.all()
        );
        let doc: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("lint {name} printed no JSON ({e}): {}", run.all()));
        let mut reported = BTreeSet::new();
        let mut not_images = Vec::new();
        let mut not_rendered = Vec::new();
        let rendered_keys: BTreeSet<(String, Option<String>)> =
            truth.iter().filter_map(|s| image_key(s)).collect();
        for f in doc["findings"].as_array().unwrap() {
            let Some(image) = f["image"].as_str() else {
                continue;
            };
            match image_key(image) {
                // Only what renders: a values image the chart does not
                // render (a disabled component) is no finding of the render.
                Some(k) if !rendered_keys.contains(&k) => {
                    not_rendered.push(format!("{} `{image}`", f["code"]))
                }
                Some(k) => {
                    reported.insert(k);
                }
                // An invalid reference is a finding only where the chart
                // renders it as an image.
                None if rendered.contains(image) => {}
                None => not_images.push(format!("{} `{image}`", f["code"])),
            }
        }
        let missed: Vec<String> = mutable
            .iter()
            .filter(|k| !reported.contains(*k))
            .map(|(n, t)| format!("{n}:{}", t.as_deref().unwrap_or("")))
            .collect();
        table.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} |\n",
            mutable.len(),
            mutable.len() - missed.len(),
            missed.len(),
            not_rendered.len(),
            not_images.len()
        ));
        problems.extend(not_rendered.iter().map(|m| {
            format!("{name}: lint --render reported {m}, which the chart does not render")
        }));
        problems.extend(
            missed
                .iter()
                .map(|m| format!("{name}: lint --render missed {m}")),
        );
        problems.extend(
            not_images
                .iter()
                .map(|m| format!("{name}: lint --render reported {m}, not an image")),
        );
    }
    eprintln!("{table}");
    assert!(problems.is_empty(), "{table}\n{}", problems.join("\n"));
}
