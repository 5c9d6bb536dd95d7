//! `pin`'s report: the diffs, one line per pinned or skipped site, the
//! findings, and the sentence `pinned N images in M files`; or its JSON
//! document (docs/json.md).

use std::io::{self, Write};
use std::path::Path;

use crate::pin::FilePlan;
use crate::pin::run::PinRun;
use crate::source::SourceFile;
use crate::terminal::EscapingWriter;
use crate::values::DigestState;

use super::{Counts, Format, RenderOptions, Sources};

/// A unified diff of one file's change. The headers show the path as given:
/// `a/chart/values.yaml` and `b/…` for a relative path (as `git diff` does),
/// the path itself for an absolute one (`a/tmp/…` would name another file).
pub fn unified_diff(path: &Path, old: &str, new: &str) -> String {
    let (from, to) = diff_headers(path);
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&from, &to)
        .to_string()
}

/// The `---` and `+++` names of `path` ([`unified_diff`]).
fn diff_headers(path: &Path) -> (String, String) {
    let shown = path.display().to_string();
    if path.is_absolute() {
        (shown.clone(), shown)
    } else {
        (format!("a/{shown}"), format!("b/{shown}"))
    }
}

/// Where each line of `text` starts, split as similar splits lines (after
/// `\n`, `\r\n` or a lone `\r`), with the text's length last; in 32 bits
/// (half the memory on a large file), so `text` is below 4 GiB.
fn line_starts(text: &str) -> Vec<u32> {
    let b = text.as_bytes();
    let at = |i: usize| u32::try_from(i).expect("a text below 4 GiB");
    let mut starts = Vec::with_capacity(1 + b.iter().filter(|&&c| c == b'\n').count() + 1);
    starts.push(0);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\r' if b.get(i + 1) == Some(&b'\n') => {
                i += 2;
                starts.push(at(i));
            }
            b'\r' | b'\n' => {
                i += 1;
                starts.push(at(i));
            }
            _ => i += 1,
        }
    }
    if starts.last() != Some(&at(b.len())) {
        starts.push(at(b.len()));
    }
    starts
}

/// [`unified_diff`] of `old` and `old` with `edits` applied, built from the
/// edits: only the lines they touch (and one on each side) are diffed, by
/// similar as the whole texts would be, and the rest is known equal, so a
/// pin of a large file neither splits both texts into lines nor runs Myers
/// over them (issue 10: peak memory within 4× the input). Where the lines
/// around an edit are distinct from the lines it writes (a pin writes a
/// digest), the output is byte for byte [`unified_diff`]'s (the proptest
/// below); where a text repeats the very lines an edit writes, the whole-text
/// diff may pair equal lines differently, and this one is another diff of
/// the same change, as short.
pub fn edits_diff(path: &Path, old: &str, edits: &[crate::yaml::Edit]) -> String {
    use similar::{ChangeTag, DiffOp};
    if u32::try_from(old.len()).is_err() {
        let new = crate::yaml::apply_edits(old, edits).unwrap_or_default();
        return unified_diff(path, old, &new);
    }
    let line_starts = line_starts(old);
    let starts = |i: usize| line_starts[i] as usize;
    let lines = line_starts.len() - 1;
    // The line holding byte `at`; an insertion at the end of an unterminated
    // last line changes that line.
    let line_of = |at: usize| -> usize {
        let i = line_starts
            .partition_point(|&s| s as usize <= at)
            .saturating_sub(1);
        if i == lines && i > 0 && !old.ends_with(['\n', '\r']) {
            i - 1
        } else {
            i.min(lines)
        }
    };
    let mut sorted: Vec<&crate::yaml::Edit> = edits.iter().collect();
    sorted.sort();
    sorted.dedup();
    // Regions of whole lines the edits touch, lines that touch merged (as
    // one run of changed lines is one block in a line diff).
    let mut regions: Vec<(usize, usize, Vec<&crate::yaml::Edit>)> = Vec::new();
    for e in sorted {
        // The line holding the end too (an edit that removes a line break
        // joins the next line to this one), and one untouched line on each
        // side, so a region's edges split into lines as in the whole text
        // (a `\r` ending the line before and a `\n` starting the region are
        // one line break).
        let first = line_of(e.span.start).saturating_sub(1);
        let end = (line_of(e.span.end) + 2).min(lines).max(first);
        match regions.last_mut() {
            Some((_, r_end, r_edits)) if first <= *r_end => {
                *r_end = (*r_end).max(end);
                r_edits.push(e);
            }
            _ => regions.push((first, end, vec![e])),
        }
    }
    // Each region diffed alone; its new lines kept for the `+` lines.
    let mut ops: Vec<DiffOp> = Vec::new();
    let mut news: Vec<(usize, Vec<String>)> = Vec::new();
    let (mut old_at, mut new_at) = (0usize, 0usize);
    for (first, end, r_edits) in &regions {
        if *first > old_at {
            push_op(
                &mut ops,
                DiffOp::Equal {
                    old_index: old_at,
                    new_index: new_at,
                    len: first - old_at,
                },
            );
            new_at += first - old_at;
        }
        let base = starts(*first);
        let region_old = &old[base..starts(*end)];
        let shifted: Vec<crate::yaml::Edit> = r_edits
            .iter()
            .map(|e| crate::yaml::Edit {
                span: crate::source::Span::new(e.span.start - base, e.span.end - base),
                replacement: e.replacement.clone(),
            })
            .collect();
        let region_new = crate::yaml::apply_edits(region_old, &shifted).unwrap_or_default();
        let diff = similar::TextDiff::from_lines(region_old, region_new.as_str());
        for op in diff.ops() {
            push_op(&mut ops, shift_op(*op, *first, new_at));
        }
        let new_lines: Vec<String> = diff.new_slices().iter().map(|l| l.to_string()).collect();
        let added = new_lines.len();
        news.push((new_at, new_lines));
        old_at = *end;
        new_at += added;
    }
    if lines > old_at {
        push_op(
            &mut ops,
            DiffOp::Equal {
                old_index: old_at,
                new_index: new_at,
                len: lines - old_at,
            },
        );
    }
    let new_line = |i: usize| -> &str {
        let r = news.partition_point(|(at, _)| *at <= i) - 1;
        &news[r].1[i - news[r].0]
    };
    let old_line = |i: usize| &old[starts(i)..starts(i + 1)];
    let mut out = String::new();
    for group in similar::group_diff_ops(ops, 3) {
        if group.is_empty() {
            continue;
        }
        if out.is_empty() {
            let (from, to) = diff_headers(path);
            out.push_str(&format!("--- {from}\n+++ {to}\n"));
        }
        out.push_str(&format!(
            "{}\n",
            similar::udiff::UnifiedHunkHeader::new(&group)
        ));
        for op in &group {
            let (_, o, n) = op.as_tag_tuple();
            let mut line = |tag: ChangeTag, value: &str| {
                out.push_str(match tag {
                    ChangeTag::Equal => " ",
                    ChangeTag::Delete => "-",
                    ChangeTag::Insert => "+",
                });
                out.push_str(value);
                if !value.ends_with(['\r', '\n']) {
                    out.push_str("\n\\ No newline at end of file\n");
                }
            };
            match op {
                DiffOp::Equal { .. } => o.clone().for_each(|i| line(ChangeTag::Equal, old_line(i))),
                _ => {
                    o.clone().for_each(|i| line(ChangeTag::Delete, old_line(i)));
                    n.clone().for_each(|i| line(ChangeTag::Insert, new_line(i)));
                }
            }
        }
    }
    out
}

/// Push `op`, joined to the last when both are equal runs (as one diff of
/// the whole texts has them: a region whose edits change nothing, or equal
/// lines at a region's edge, continue the run around it).
fn push_op(ops: &mut Vec<similar::DiffOp>, op: similar::DiffOp) {
    use similar::DiffOp;
    if let (Some(DiffOp::Equal { len, .. }), DiffOp::Equal { len: more, .. }) = (ops.last_mut(), op)
    {
        *len += more;
        return;
    }
    ops.push(op);
}

/// `op` of a region diff, moved to where the region starts in both texts.
fn shift_op(op: similar::DiffOp, old_base: usize, new_base: usize) -> similar::DiffOp {
    use similar::DiffOp;
    match op {
        DiffOp::Equal {
            old_index,
            new_index,
            len,
        } => DiffOp::Equal {
            old_index: old_index + old_base,
            new_index: new_index + new_base,
            len,
        },
        DiffOp::Delete {
            old_index,
            old_len,
            new_index,
        } => DiffOp::Delete {
            old_index: old_index + old_base,
            old_len,
            new_index: new_index + new_base,
        },
        DiffOp::Insert {
            old_index,
            new_index,
            new_len,
        } => DiffOp::Insert {
            old_index: old_index + old_base,
            new_index: new_index + new_base,
            new_len,
        },
        DiffOp::Replace {
            old_index,
            old_len,
            new_index,
            new_len,
        } => DiffOp::Replace {
            old_index: old_index + old_base,
            old_len,
            new_index: new_index + new_base,
            new_len,
        },
    }
}

/// Render a finished pin in `format`; `show_diff` with `--dry-run`/`--diff`.
pub fn render(
    format: Format,
    run: &PinRun,
    show_diff: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    if show_diff && matches!(format, Format::Human | Format::Github) {
        for c in &run.changes {
            let (file, edits) = run.change(c);
            let diff = edits_diff(file.shown, file.old, edits);
            write!(EscapingWriter::new(&mut *out), "{diff}")?;
        }
    }
    // The values files as read (the renderer's source lines must match the
    // findings' positions even after the files were rewritten) and the
    // manifests (`unmatched-entry` findings point there), borrowed.
    let mut sources = Sources::new();
    for m in run.manifest_sources.iter() {
        sources.insert_ref(m);
    }
    for values in &run.charts {
        for (_, _, vf) in &values.files {
            sources.insert_ref(vf.source());
        }
    }
    let render_opts = RenderOptions {
        color: format == Format::Human && super::color_for_stdout(),
        sources: Some(&sources),
        ..RenderOptions::default()
    };
    let sentence = sentence(run);
    match format {
        Format::Json => {
            let counts = Counts {
                pinned: run.pinned,
                changed_files: run.changed_files,
                written: run.written,
                ..Counts::default()
            };
            let data = json::data(run, show_diff);
            // The values files read; the human sentence does not count them.
            let json_opts = RenderOptions {
                files_checked: Some(run.charts.iter().map(|c| c.files.len()).sum()),
                ..render_opts.clone()
            };
            super::render_json_document("pin", &run.findings, &counts, &data, &json_opts, out)?;
        }
        Format::Sarif => super::render(Format::Sarif, &run.findings, &render_opts, out)?,
        Format::Github => {
            site_lines(&mut EscapingWriter::new(&mut *out), run)?;
            super::render(Format::Github, &run.findings, &render_opts, out)?;
            writeln!(out, "chartpin pin: {sentence}")?;
        }
        Format::Human => {
            site_lines(&mut EscapingWriter::new(&mut *out), run)?;
            // Unmatched images and entries read as lint's findings do.
            if !run.findings.is_empty() {
                super::render(Format::Human, &run.findings, &render_opts, out)?;
            }
            writeln!(out, "{sentence}")?;
        }
    }
    Ok(())
}

/// `pinned 3 images in 1 file` (`would pin` when nothing is written).
fn sentence(run: &PinRun) -> String {
    let verb = if run.written { "pinned" } else { "would pin" };
    format!(
        "{verb} {} image{} in {} file{}",
        run.pinned,
        if run.pinned == 1 { "" } else { "s" },
        run.changed_files,
        if run.changed_files == 1 { "" } else { "s" }
    )
}

/// Per-site lines: pinned, already pinned, not pinned (and why). Unmatched
/// images and entries are findings, rendered by [`super`].
fn site_lines(out: &mut dyn Write, run: &PinRun) -> std::io::Result<()> {
    for (values, outcome) in run.charts.iter().zip(&run.outcomes) {
        for ((shown, _, vf), plan) in values.files.iter().zip(&outcome.files) {
            report_file(out, shown, vf.source(), plan)?;
        }
        for t in &outcome.templates {
            for p in &t.pins {
                let name = p.image.split('@').next().unwrap_or(&p.image);
                let verb = if p.changed {
                    "pinned"
                } else {
                    "already pinned"
                };
                writeln!(
                    out,
                    "{}: template pin: {verb} {name}: {} ({}, found by rendering)",
                    values.chart.root.join(&t.rel).display(),
                    p.digest,
                    p.object
                )?;
            }
        }
    }
    Ok(())
}

fn report_file(
    out: &mut dyn Write,
    shown: &Path,
    source: &SourceFile,
    plan: &FilePlan,
) -> std::io::Result<()> {
    for p in &plan.pinned {
        let lc = source.line_col(p.span.start);
        // The image by name (its old digest is shown as the "before"), then old → new.
        let name = p.image.split('@').next().unwrap_or(&p.image);
        let change = if p.changed {
            let before = match &p.previous {
                DigestState::Filled(d) => d.short(),
                DigestState::Empty => "empty digest".to_string(),
                DigestState::Absent => "no digest".to_string(),
                DigestState::Invalid(t) => format!("invalid digest `{t}`"),
            };
            format!("pinned {name}: {before} → {}", p.digest)
        } else {
            format!("already pinned {name}: {}", p.digest)
        };
        let found = match p.found {
            crate::pin::Found::Render => ", found by rendering",
            crate::pin::Found::Conventions => "",
        };
        writeln!(
            out,
            "{}:{lc}: {change} (at {}{found})",
            shown.display(),
            p.path
        )?;
    }
    for s in &plan.skipped {
        let lc = source.line_col(s.site.span.start);
        writeln!(
            out,
            "{}:{lc}: not pinned {}: {}",
            shown.display(),
            s.site.path,
            s.reason
        )?;
    }
    Ok(())
}

/// pin's own JSON fields, as serde structs (see docs/json.md).
mod json {
    use serde::Serialize;

    use super::PinRun;
    use crate::diag::Code;
    use crate::pin;

    #[derive(Serialize)]
    pub struct Data {
        files: Vec<File>,
        template_pins: Vec<TemplatePin>,
        unmatched_entries: Vec<Entry>,
    }

    #[derive(Serialize)]
    struct File {
        file: String,
        changed: bool,
        diff: Option<String>,
        written: bool,
        pinned: Vec<Pinned>,
        skipped: Vec<Skipped>,
        unmatched_images: Vec<UnmatchedImage>,
    }

    #[derive(Serialize)]
    struct Pinned {
        path: String,
        line: usize,
        column: usize,
        image: String,
        digest: String,
        changed: bool,
        found: pin::Found,
    }

    #[derive(Serialize)]
    struct TemplatePin {
        file: String,
        image: String,
        digest: String,
        changed: bool,
        object: String,
    }

    #[derive(Serialize)]
    struct Skipped {
        path: String,
        line: usize,
        column: usize,
        reason: String,
    }

    #[derive(Serialize)]
    struct UnmatchedImage {
        code: Code,
        path: String,
        line: usize,
        column: usize,
        image: String,
        pinned: bool,
    }

    #[derive(Serialize)]
    struct Entry {
        code: Code,
        image: String,
        digest: String,
        origin: String,
    }

    pub fn data(run: &PinRun, show_diff: bool) -> Data {
        let mut files = Vec::new();
        for (values, outcome) in run.charts.iter().zip(&run.outcomes) {
            for ((shown, _, vf), plan) in values.files.iter().zip(&outcome.files) {
                let at = |span: crate::source::Span| {
                    let lc = vf.source().line_col(span.start);
                    (lc.line, lc.column)
                };
                files.push(File {
                    file: shown.display().to_string(),
                    changed: plan.changed(),
                    diff: (show_diff && plan.changed())
                        .then(|| super::edits_diff(shown, vf.text(), &plan.edits)),
                    written: run.written && plan.changed(),
                    pinned: plan
                        .pinned
                        .iter()
                        .map(|p| {
                            let (line, column) = at(p.span);
                            Pinned {
                                path: p.path.to_string(),
                                line,
                                column,
                                image: p.image.clone(),
                                digest: p.digest.to_string(),
                                changed: p.changed,
                                found: p.found,
                            }
                        })
                        .collect(),
                    skipped: plan
                        .skipped
                        .iter()
                        .map(|s| {
                            let (line, column) = at(s.site.span);
                            Skipped {
                                path: s.site.path.to_string(),
                                line,
                                column,
                                reason: s.reason.clone(),
                            }
                        })
                        .collect(),
                    unmatched_images: plan
                        .unmatched_images
                        .iter()
                        .map(|s| {
                            let (line, column) = at(s.span);
                            UnmatchedImage {
                                code: Code::UnmatchedImage,
                                path: s.path.clone(),
                                line,
                                column,
                                image: s.image.clone(),
                                pinned: s.pinned,
                            }
                        })
                        .collect(),
                });
            }
        }
        let template_pins = run
            .charts
            .iter()
            .zip(&run.outcomes)
            .flat_map(|(values, outcome)| {
                outcome.templates.iter().flat_map(move |t| {
                    t.pins.iter().map(move |p| TemplatePin {
                        file: values.chart.root.join(&t.rel).display().to_string(),
                        image: p.image.clone(),
                        digest: p.digest.to_string(),
                        changed: p.changed,
                        object: p.object.clone(),
                    })
                })
            })
            .collect();
        Data {
            files,
            template_pins,
            unmatched_entries: run
                .unmatched_entries
                .iter()
                .map(|e| Entry {
                    code: Code::UnmatchedEntry,
                    image: pin::entry_display(e),
                    digest: e.digest.to_string(),
                    origin: run.manifest_origin(&e.origin),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_headers_show_the_path_as_given() {
        let rel = unified_diff(Path::new("chart/values.yaml"), "a: 1\n", "a: 2\n");
        assert!(
            rel.starts_with("--- a/chart/values.yaml\n+++ b/chart/values.yaml\n"),
            "{rel}"
        );
        let abs = unified_diff(Path::new("/tmp/x/values.yaml"), "a: 1\n", "a: 2\n");
        assert!(
            abs.starts_with("--- /tmp/x/values.yaml\n+++ /tmp/x/values.yaml\n"),
            "{abs}"
        );
        assert!(abs.contains("-a: 1\n+a: 2\n"), "{abs}");
    }

    /// A text of distinct lines (as a values file's lines around a pin are:
    /// a digest written is a line no other line equals) ending in `\n`,
    /// CRLF or a lone CR, the last one maybe unterminated, and edits of it
    /// that do not overlap.
    fn text_and_edits()
    -> impl proptest::strategy::Strategy<Value = (String, Vec<crate::yaml::Edit>)> {
        use proptest::prelude::*;
        let ending = prop::sample::select(vec!["\n", "\n", "\n", "\r\n", "\r"]);
        (prop::collection::vec(ending, 0..40), any::<bool>())
            .prop_flat_map(|(endings, cut)| {
                let mut text: String = endings
                    .iter()
                    .enumerate()
                    .map(|(i, end)| format!("k{i}: v{i}{end}"))
                    .collect();
                if cut && text.ends_with('\n') {
                    text.pop();
                }
                let len = text.len();
                let edit = (
                    0..=len,
                    0..4usize,
                    prop::sample::select(vec![
                        "",
                        "X",
                        "\n",
                        "\n  digest: sha256:0\n",
                        "@sha256:1",
                        "\r\n",
                        "\n  d: 2",
                    ]),
                );
                (Just(text), prop::collection::vec(edit, 0..6))
            })
            .prop_map(|(text, raw)| {
                let mut edits: Vec<crate::yaml::Edit> = Vec::new();
                let mut taken = 0usize;
                let mut raw = raw;
                raw.sort_by_key(|(at, _, _)| *at);
                for (at, len, with) in raw {
                    let end = (at + len).min(text.len());
                    if at < taken || (at == taken && !edits.is_empty()) {
                        continue;
                    }
                    edits.push(crate::yaml::Edit {
                        span: crate::source::Span::new(at, end),
                        replacement: with.to_string(),
                    });
                    taken = end;
                }
                (text, edits)
            })
    }

    proptest::proptest! {
        /// The diff built from the edits is the diff of the two texts, byte for byte.
        #[test]
        fn a_diff_built_from_edits_is_the_diff_of_the_texts((text, edits) in text_and_edits()) {
            let new = crate::yaml::apply_edits(&text, &edits).unwrap();
            let path = Path::new("chart/values.yaml");
            proptest::prop_assert_eq!(edits_diff(path, &text, &edits), unified_diff(path, &text, &new));
        }
    }

    #[test]
    fn a_diff_built_from_edits_matches_on_a_pin() {
        let text = "a:\n  image:\n    repository: x\n    tag: v1\nb: 1\nc: 2\nd: 3\ne: 4\nf: 5\ng: 6\nh: 7\ni:\n  image: y:v2\n";
        let at = text.find("v1").unwrap();
        let at2 = text.find("y:v2").unwrap() + 4;
        let edits = vec![
            crate::yaml::Edit {
                span: crate::source::Span::new(at + 2, at + 2),
                replacement: "\n    digest: sha256:0".into(),
            },
            crate::yaml::Edit {
                span: crate::source::Span::new(at2, at2),
                replacement: "@sha256:0".into(),
            },
        ];
        let new = crate::yaml::apply_edits(text, &edits).unwrap();
        let path = Path::new("/abs/values.yaml");
        assert_eq!(
            edits_diff(path, text, &edits),
            unified_diff(path, text, &new)
        );
        assert_eq!(edits_diff(path, text, &[]), "");
    }
}
