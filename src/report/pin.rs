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
    let shown = path.display().to_string();
    let (from, to) = if path.is_absolute() {
        (shown.clone(), shown)
    } else {
        (format!("a/{shown}"), format!("b/{shown}"))
    };
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&from, &to)
        .to_string()
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
            let diff = unified_diff(&c.shown, &c.old, &c.new);
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

    use super::{PinRun, unified_diff};
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
                        .then(|| unified_diff(shown, vf.text(), &plan.new_text)),
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
                                path: s.path.to_string(),
                                line,
                                column,
                                image: pin::site_display(s),
                                pinned: s.is_pinned(),
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
}
