//! `release`'s report: the findings, a summary table with one row per
//! pinned site, and a status sentence; its JSON document (docs/json.md); the
//! Markdown job summary.

use std::io::{self, Write};
use std::path::Path;

use crate::diag::{Exit, Finding};
use crate::release::run::{ReleaseRun, Rendering};
use crate::release::{self, Plan, SummaryRow};

use super::{Counts, Format, RenderOptions, Sources, markdown_code, markdown_text};
use crate::terminal::{EscapingWriter, escape};

/// The renderers' options for a release: its lint sources, colour for a terminal.
fn options<'a>(format: Format, sources: &'a Sources<'a>) -> RenderOptions<'a> {
    RenderOptions {
        color: format == Format::Human && super::color_for_stdout(),
        sources: Some(sources),
        ..RenderOptions::default()
    }
}

/// The plan's texts (values files as read, manifests), then lint's (the
/// files as they will be written), borrowed: positions are worked out in
/// the text each was taken in; source lines shown are lint's, the last for
/// a path.
fn sources_of(run: &ReleaseRun) -> Sources<'_> {
    let mut sources = Sources::new();
    for s in run.plan.sources.iter().chain(&run.sources) {
        sources.insert_ref(s);
    }
    sources
}

/// Render a finished release in `format`; `show_diff` with `--diff`/`--dry-run`.
pub fn render(
    format: Format,
    run: &ReleaseRun,
    show_diff: bool,
    dry_run: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    let (plan, findings, exit, written) = (&run.plan, &run.findings, run.exit, run.written);
    let changes = plan.edited_changes();
    let diff = |(c, edits): &(&release::FileChange, Option<&[crate::yaml::Edit]>)| match edits {
        Some(edits) => super::edits_diff(&c.shown, &c.old, edits),
        None => super::unified_diff(&c.shown, &c.old, &c.new),
    };
    let sources = sources_of(run);
    let render_opts = options(format, &sources);
    let status = status_line(plan, exit, written, dry_run);
    if show_diff && matches!(format, Format::Human | Format::Github) {
        for c in &changes {
            write!(EscapingWriter::new(&mut *out), "{}", diff(c))?;
        }
    }
    match format {
        Format::Json => {
            let base = render_opts.base.as_deref();
            let counts = Counts {
                pinned: plan.rows.iter().filter(|r| r.changed).count(),
                changed_files: changes.len(),
                written,
                checked: run.checked,
                verified: run.verified,
                ..Counts::default()
            };
            let data = json::Data {
                images: plan
                    .rows
                    .iter()
                    .map(|r| json::Row::of(r, base, &plan.sources))
                    .collect(),
                files: changes
                    .iter()
                    .map(|c| json::File {
                        file: shown(&c.0.shown, base),
                        written,
                        diff: show_diff.then(|| diff(c)),
                    })
                    .collect(),
                written,
                status: status.clone(),
                rendering: json::Rendering::of(run),
            };
            let json_opts = RenderOptions {
                files_checked: Some(run.sources.len()),
                ..render_opts.clone()
            };
            super::render_json_document("release", findings, &counts, &data, &json_opts, out)?;
        }
        Format::Sarif => super::render(format, findings, &render_opts, out)?,
        Format::Human | Format::Github => {
            super::render(format, findings, &render_opts, out)?;
            let mut out = EscapingWriter::new(&mut *out);
            writeln!(out)?;
            human_table(&mut out, plan, render_opts.base.as_deref())?;
            writeln!(out, "{status}")?;
            writeln!(out, "{}", rendering_line(run))?;
        }
    }

    Ok(())
}

/// The Markdown job summary of a finished release.
pub fn markdown_summary(run: &ReleaseRun, dry_run: bool, out: &mut dyn Write) -> io::Result<()> {
    let sources = sources_of(run);
    let opts = RenderOptions {
        sources: Some(&sources),
        ..RenderOptions::default()
    };
    let status = format!(
        "{}\n\n{}",
        status_line(&run.plan, run.exit, run.written, dry_run),
        rendering_line(run)
    );
    markdown(out, &run.plan, &run.findings, &status, &opts)
}

/// One sentence saying whether the pin was proven by rendering.
fn rendering_line(run: &ReleaseRun) -> String {
    match &run.rendering {
        Rendering::Rendered { charts, images } if run.rendering.proven(&run.findings) => format!(
            "proven by rendering: {} {} with the digests pinned and nothing else in the render changed ({} rendered before and after)",
            plural(*images, "rendered image"),
            if *images == 1 { "renders" } else { "render" },
            plural(*charts, "chart")
        ),
        Rendering::Rendered { .. } => "not proven by rendering: the pinned chart does not render what the pin promised (see the findings)".to_string(),
        Rendering::Off => "not proven by rendering: --no-render".to_string(),
        Rendering::Skipped(why) => format!("not proven by rendering: rendering skipped: {why}"),
    }
}

/// One sentence saying what happened.
fn status_line(plan: &Plan, exit: Exit, written: bool, dry_run: bool) -> String {
    let files = plan.changes().len();
    let pinned = plan.rows.iter().filter(|r| r.changed).count();
    let verified = plan
        .rows
        .iter()
        .filter(|r| r.verified == release::Verified::Yes)
        .count();
    let images = plural(pinned, "image");
    let files_s = plural(files, "file");
    match exit {
        Exit::Clean if written => format!(
            "released: pinned {images} in {files_s}; {verified} of {} digests verified in their registries; lint clean",
            plan.rows.len()
        ),
        Exit::Clean if dry_run => format!(
            "dry run: would pin {images} in {files_s}; {verified} of {} digests verified; lint clean; nothing written",
            plan.rows.len()
        ),
        Exit::Clean => format!(
            "nothing to release: every image is already pinned ({verified} of {} digests verified; lint clean)",
            plan.rows.len()
        ),
        _ if plan.nothing_matched => "not released: no entry of the digest manifest matched an image in the chart; nothing was written".to_string(),
        Exit::Unanswered => "not released: a registry could not answer, so the digests are unproven; nothing was written".to_string(),
        _ => "not released: the checks above failed; nothing was written".to_string(),
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn shown(p: &Path, base: Option<&Path>) -> String {
    super::relative_path(p, base).display().to_string()
}

/// `file:line:col path`, the file relative to `base`.
fn site(r: &SummaryRow, base: Option<&Path>, sources: &Sources) -> String {
    let at = r.location.line_col(sources);
    let (line, column) = at.map_or((0, 0), |lc| (lc.line, lc.column));
    format!(
        "{}:{line}:{column} {}",
        shown(&r.location.file, base),
        r.path
    )
}

const HEADERS: [&str; 5] = ["image", "old reference", "new digest", "verified", "site"];

fn cells(r: &SummaryRow, base: Option<&Path>, sources: &Sources) -> [String; 5] {
    [
        r.image.clone(),
        r.old_reference.clone(),
        r.digest.clone(),
        r.verified.as_str().to_string(),
        site(r, base, sources),
    ]
}

/// The summary as an aligned plain-text table.
fn human_table(out: &mut dyn Write, plan: &Plan, base: Option<&Path>) -> std::io::Result<()> {
    if plan.rows.is_empty() {
        return writeln!(out, "no image in the chart matched the digest manifest");
    }
    let body: Vec<[String; 5]> = plan
        .rows
        .iter()
        .map(|r| cells(r, base, &plan.sources).map(|c| escape(&c).into_owned()))
        .collect();
    let mut widths = HEADERS.map(str::len);
    for row in &body {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    writeln!(out, "{}", line(&HEADERS.map(|h| h.to_uppercase())))?;
    for row in &body {
        writeln!(out, "{}", line(row))?;
    }
    Ok(())
}

/// The job summary: a heading, the status, the table, and the findings.
fn markdown(
    out: &mut dyn Write,
    plan: &Plan,
    findings: &[Finding],
    status: &str,
    opts: &RenderOptions<'_>,
) -> std::io::Result<()> {
    writeln!(out, "## chartpin release\n")?;
    // The status is ours, but it quotes helm's and the registry's words.
    for line in status.lines() {
        writeln!(out, "{}", markdown_text(line))?;
    }
    writeln!(out)?;
    let base = opts.base.as_deref();
    let rows: Vec<Vec<String>> = plan
        .rows
        .iter()
        .map(|r| {
            let [image, old, digest, verified, site] = cells(r, base, &plan.sources);
            vec![
                markdown_code(&image),
                markdown_code(&old),
                markdown_code(&digest),
                markdown_text(&verified),
                markdown_text(&site),
            ]
        })
        .collect();
    super::render_markdown_table(&HEADERS, &rows, out)?;
    if !findings.is_empty() {
        writeln!(out)?;
        super::render_markdown(findings, opts, out)?;
    }
    writeln!(out)
}

/// release's own JSON fields, as serde structs (see docs/json.md).
mod json {
    use std::path::Path;

    use serde::Serialize;

    use crate::release::{SummaryRow, Verified};
    use crate::source::Sources;

    #[derive(Serialize)]
    pub struct Data {
        pub images: Vec<Row>,
        pub files: Vec<File>,
        pub written: bool,
        pub status: String,
        pub rendering: Rendering,
    }

    /// Whether the pin was proven by rendering.
    #[derive(Serialize)]
    pub struct Rendering {
        rendered: bool,
        proven: bool,
        images: usize,
        reason: Option<String>,
    }

    impl Rendering {
        pub fn of(run: &crate::release::run::ReleaseRun) -> Rendering {
            use crate::release::run::Rendering as R;
            let proven = run.rendering.proven(&run.findings);
            match &run.rendering {
                R::Rendered { images, .. } => Rendering {
                    rendered: true,
                    proven,
                    images: *images,
                    reason: None,
                },
                R::Off => Rendering {
                    rendered: false,
                    proven,
                    images: 0,
                    reason: Some("--no-render".to_string()),
                },
                R::Skipped(why) => Rendering {
                    rendered: false,
                    proven,
                    images: 0,
                    reason: Some(why.clone()),
                },
            }
        }
    }

    #[derive(Serialize)]
    pub struct Row {
        image: String,
        old_reference: String,
        new_reference: String,
        digest: String,
        verified: Verified,
        changed: bool,
        file: String,
        line: usize,
        column: usize,
        path: String,
    }

    impl Row {
        pub fn of(r: &SummaryRow, base: Option<&Path>, sources: &Sources) -> Row {
            let at = r.location.line_col(sources);
            let (line, column) = at.map_or((0, 0), |lc| (lc.line, lc.column));
            Row {
                image: r.image.clone(),
                old_reference: r.old_reference.clone(),
                new_reference: r.new_reference.clone(),
                digest: r.digest.clone(),
                verified: r.verified,
                changed: r.changed,
                file: super::shown(&r.location.file, base),
                line,
                column,
                path: r.path.clone(),
            }
        }
    }

    #[derive(Serialize)]
    pub struct File {
        pub file: String,
        pub written: bool,
        pub diff: Option<String>,
    }
}
