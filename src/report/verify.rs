//! `verify`'s report (findings, then `verified N of M distinct pinned
//! references`) and `resolve`'s JSON document (docs/json.md).

use std::io::{self, Write};
use std::path::Path;

use crate::diag::Exit;
use crate::verify::VerifyOutcome;
use crate::verify::run::{ResolveRun, VerifyRun};

use super::{Counts, Format, RenderOptions, Sources};

/// Findings through the shared renderers, then verify's counts: a line in
/// the human and GitHub formats, `summary.{checked,verified,unpinned}` in JSON.
/// SARIF carries the findings only.
pub fn render(format: Format, run: &VerifyRun, out: &mut dyn Write) -> io::Result<()> {
    let mut sources = Sources::new();
    for s in &run.sources {
        sources.insert(s.clone());
    }
    let opts = RenderOptions {
        color: format == Format::Human && super::color_for_stdout(),
        sources: Some(&sources),
        files_checked: Some(run.files_checked),
        ..RenderOptions::default()
    };
    let outcome = &run.outcome;
    let unpinned = outcome.unpinned + run.unresolved;
    match format {
        Format::Json => {
            let counts = Counts {
                checked: outcome.checked,
                verified: outcome.verified,
                unpinned,
                ..Counts::default()
            };
            super::render_json_document(
                "verify",
                &outcome.findings,
                &counts,
                &super::NoData {},
                &opts,
                out,
            )?;
        }
        Format::Sarif => super::render(format, &outcome.findings, &opts, out)?,
        Format::Human | Format::Github => {
            // The finding summary line counts findings only, as before.
            let opts = RenderOptions {
                files_checked: None,
                ..opts
            };
            super::render(format, &outcome.findings, &opts, out)?;
            let prefix = if format == Format::Github {
                "chartpin verify: "
            } else {
                ""
            };
            writeln!(out, "{prefix}{}", summary_line(outcome, unpinned))?;
        }
    }
    Ok(())
}

/// `verified 3 of 4 distinct pinned references; 2 unpinned not verified (…)`.
pub fn summary_line(outcome: &VerifyOutcome, unpinned: usize) -> String {
    let mut s = format!(
        "verified {} of {} distinct pinned reference{}",
        outcome.verified,
        outcome.checked,
        if outcome.checked == 1 { "" } else { "s" }
    );
    if unpinned > 0 {
        s.push_str(&format!(
            "; {unpinned} unpinned reference{} not verified (`chartpin lint` reports them)",
            if unpinned == 1 { "" } else { "s" }
        ));
    }
    s
}

/// `resolve --format json`: the envelope with the resolved entries and failures.
pub fn render_resolve_json(
    run: &ResolveRun,
    exit: Exit,
    output: Option<&Path>,
    opts: &RenderOptions<'_>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let counts = Counts {
        resolved: run.resolution.resolved.len(),
        ..Counts::default()
    };
    let data = json::Data::of(run, exit, output);
    super::render_json_document("resolve", &[], &counts, &data, opts, out)
}

/// resolve's own JSON fields, as serde structs (see docs/json.md).
mod json {
    use std::path::Path;

    use serde::Serialize;

    use crate::diag::Exit;
    use crate::verify::run::ResolveRun;

    #[derive(Serialize)]
    pub struct Data {
        /// One per distinct `name:tag` looked up, in order.
        entries: Vec<Entry>,
        /// Lookups that failed (the exit status says how).
        failures: Vec<Failure>,
        /// Where the manifest was written, when `--output` was given and it was.
        output: Option<String>,
    }

    #[derive(Serialize)]
    struct Entry {
        /// `name:tag@digest`, the manifest line.
        reference: String,
        name: String,
        tag: Option<String>,
        digest: String,
    }

    #[derive(Serialize)]
    struct Failure {
        image: String,
        error: String,
        unanswered: bool,
    }

    impl Data {
        pub fn of(run: &ResolveRun, exit: Exit, output: Option<&Path>) -> Data {
            Data {
                entries: run
                    .resolution
                    .resolved
                    .iter()
                    .map(|r| Entry {
                        reference: r.line(),
                        name: r.image.written_name(),
                        tag: r.image.tag().map(str::to_string),
                        digest: r.digest.to_string(),
                    })
                    .collect(),
                failures: run
                    .resolution
                    .failures
                    .iter()
                    .map(|(image, e)| Failure {
                        image: image.to_string(),
                        error: e.to_string(),
                        unanswered: matches!(e, crate::verify::ResolveError::Registry(_)),
                    })
                    .collect(),
                output: output
                    .filter(|_| exit == Exit::Clean)
                    .map(|p| p.display().to_string()),
            }
        }
    }
}
