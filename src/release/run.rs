//! The release transaction end to end, under the charts' locks
//! ([`crate::lock`]) from planning to commit: plan, verify, lint the staged
//! result, and write only when every check passed.

use std::path::Path;

use crate::diag::{Exit, Finding, InputError};
use crate::helm::{Helm, HelmError, RenderMode, RenderSpec};
use crate::lint::{self, LintError, LintOptions};
use crate::lock::{self, LockError};
use crate::manifest::DigestManifest;
use crate::prove::Side;
use crate::registry::RegistryClient;
use crate::registry::runtime::block_on;
use crate::source::{SharedText, SourceFile};
use crate::steps::joined;
use crate::verify::VerifyOptions;
use crate::write::{self, WriteError, WriteNote};

use super::{Plan, ReleaseRequest};

/// How to release besides what ([`ReleaseRequest`]).
#[derive(Clone, Debug, Default)]
pub struct ReleaseOptions {
    pub verify: VerifyOptions,
    pub lint: LintOptions,
    /// Do every check, write nothing.
    pub dry_run: bool,
    /// `--lock FILE`: write [`super::imagelock`] there when the release succeeds.
    pub lock: Option<std::path::PathBuf>,
    /// Whether to prove the pin by rendering (default: when helm is found).
    pub render: RenderMode,
    /// helm and the values it renders with.
    pub helm: RenderSpec,
}

/// Whether the pin was proven by rendering ([`crate::prove`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rendering {
    /// Each chart was rendered as it is and as pinned; `images` rendered
    /// images carry the digests applied (unless the findings say otherwise).
    Rendered { charts: usize, images: usize },
    /// `--no-render`.
    Off,
    /// Not rendered, and why (helm not found; a chart without `Chart.yaml`).
    Skipped(String),
}

impl Rendering {
    /// Whether the render proved the pin: rendered, and no finding of the proof.
    pub fn proven(&self, findings: &[Finding]) -> bool {
        matches!(self, Rendering::Rendered { .. })
            && !findings.iter().any(|f| {
                matches!(
                    f.code,
                    crate::diag::Code::DigestNotRendered | crate::diag::Code::RenderChanged
                )
            })
    }
}

/// A finished release, ready to render.
#[derive(Debug)]
pub struct ReleaseRun {
    pub plan: Plan,
    /// Planning's, verification's and lint's findings, in that order.
    pub findings: Vec<Finding>,
    /// The files lint read (as the chart will be), for renderers.
    pub sources: Vec<SourceFile>,
    pub exit: Exit,
    pub written: bool,
    /// Distinct references asked of a registry, and how many it proved.
    pub checked: usize,
    pub verified: usize,
    /// What the writer wants the user told.
    pub write_notes: Vec<WriteNote>,
    /// Whether the pin was proven by rendering.
    pub rendering: Rendering,
}

/// Why a release could not run (nothing was written).
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Lint(#[from] LintError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Helm(#[from] HelmError),
    #[error("writing the pinned files: {0}")]
    Write(#[from] WriteError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// Release `req` with `manifest`; `waiting` is called when another run
/// holds a chart's lock.
pub fn run(
    req: &ReleaseRequest,
    manifest: &DigestManifest,
    client: &RegistryClient,
    opts: &ReleaseOptions,
    waiting: &mut dyn FnMut(&Path),
) -> Result<ReleaseRun, ReleaseError> {
    let _locks = lock::lock_named(&req.charts, waiting)?;
    // The probe's staged copy of a chart serves the planned render too.
    let reuse = crate::chart::stage::reuse();

    // 1. Plan everything in memory.
    let mut plan = {
        let _step = crate::steps::step("plan");
        super::plan(req, manifest)?
    };
    // 2. Prove every digest about to be written exists.
    let mut verify_opts = opts.verify.clone();
    let mut signature_from = None;
    for config in plan.charts.iter().filter_map(|c| c.config.as_ref()) {
        verify_opts.require_signature_from(config, &mut signature_from)?;
    }
    // 3. Prove the pin by rendering the chart as it is and as planned; lint
    //    reads the planned render rather than rendering again. helm renders
    //    on its own thread while the registry answers: neither needs the
    //    other, and nothing is written before both are done. Once both are
    //    done, lint (4., its result kept for its turn below) runs here while
    //    that thread proves the pin, and the staged copies are removed
    //    meanwhile. Lint stays on this thread after verification, as it
    //    always ran, so its memory and verification's are not held at once
    //    (issue 10). The proving thread is given what it renders and proves,
    //    so that once it has rendered it holds no file as read, and lint can
    //    run with those texts set aside ([`super::park`]).
    let mut lint_opts = opts.lint.clone();
    lint_opts.render = false;
    let targets = super::plan_targets(&plan);
    let jobs = render_jobs(&mut plan);
    let expected = super::expected_digests(&plan);
    let (rendered_tx, rendered_rx) = std::sync::mpsc::channel();
    let (verified, proved, linted) = std::thread::scope(|scope| {
        let proving = scope.spawn(|| {
            let renders = render_planned(jobs, opts);
            std::thread::scope(|inner| {
                inner.spawn(move || {
                    let _step = crate::steps::step("release cleanup");
                    drop(reuse);
                });
                let renders = renders?;
                // A failed render sends nothing: lint does not run.
                let _ = rendered_tx.send(renders.after.clone());
                drop(rendered_tx);
                prove(&renders, &expected)
            })
        });
        let verified = {
            let _step = crate::steps::step("verify");
            block_on(super::verify_more(client, &plan, &targets, &verify_opts))
        };
        let linted = rendered_rx.recv().ok().map(|after| {
            let _step = crate::steps::step("lint");
            lint_opts.prerendered = after;
            let parked = super::park::park(&mut plan);
            let linted = super::lint_plan(&plan, &lint_opts);
            super::park::restore(&mut plan, parked);
            linted
        });
        (verified, joined(proving), linted)
    });
    let mut verified = verified.map_err(ReleaseError::Runtime)?;
    super::mark_verified(&mut plan, &verified);
    let (rendering, proof) = proved?;
    // 3b. A lock lists every image the pinned chart renders, with what the
    //     registry shows of it: the rendered images this release did not pin
    //     (pinned before, a subchart's) are verified too, and their findings
    //     count as any other's (a lock must not record an unchecked image).
    let rendered = match &opts.lock {
        Some(_) => super::imagelock::rendered(&plan, &lint_opts.prerendered)?,
        None => Vec::new(),
    };
    let more = super::imagelock::unverified_targets(&rendered, &verified);
    if !more.is_empty() {
        let extra = block_on(super::verify_more(client, &plan, &more, &verify_opts))
            .map_err(ReleaseError::Runtime)?;
        verified.absorb(extra);
    }
    // 4. Lint the chart as it would be written (done above, beside the proof).
    let lint = linted.expect("linted once rendered")?;
    plan.sources.extend(lint.config_sources.iter().cloned());

    // Lint's findings (one a site on a file dense in images) are not moved
    // to a second vector: the others go in front of them.
    let mut findings = lint.findings;
    let before_lint = plan
        .findings
        .iter()
        .chain(&verified.findings)
        .cloned()
        .chain(proof);
    findings.splice(0..0, before_lint.collect::<Vec<_>>());
    let exit = Exit::from_findings(&findings);

    // 5. Write only when everything passed.
    let changes = plan.changes();
    let written = exit == Exit::Clean && !opts.dry_run && !changes.is_empty();
    let mut write_notes = if written {
        write::commit(&changes)?
    } else {
        Vec::new()
    };
    if let Some(path) = &opts.lock
        && exit == Exit::Clean
        && !opts.dry_run
    {
        let lock = super::imagelock::build(&plan, &rendered, &verified);
        let mut text = serde_json::to_string_pretty(&lock).expect("a lock serialises");
        text.push('\n');
        write_notes.extend(write::write_output(path, &text)?);
    }
    Ok(ReleaseRun {
        plan,
        findings,
        sources: lint.sources,
        exit,
        written,
        checked: verified.checked,
        verified: verified.verified,
        write_notes,
        rendering,
    })
}

/// What [`render_planned`] rendered.
struct Renders {
    /// Not rendered at all, and why (`--no-render`, helm missing).
    off: Option<Rendering>,
    /// Each chart rendered: its directory, and the renders before and after
    /// the pin, read; the last chart's after is read by [`prove`], beside
    /// lint (the others are read at once, so that a render that cannot be
    /// read stops the release before the next chart renders, as it did).
    sides: Vec<(std::path::PathBuf, Side, Option<Side>)>,
    /// Each chart's root and its render as planned, for lint to read (the
    /// text shared with it, not copied).
    after: Vec<(std::path::PathBuf, SharedText)>,
    /// Charts without `Chart.yaml`, passed over.
    unrenderable: Vec<String>,
}

/// One chart of the plan, as [`render_planned`] renders it: its own copies
/// (sharing the texts) of the chart as read and as planned, dropped once it
/// is rendered.
struct RenderJob {
    dir: std::path::PathBuf,
    chart: crate::chart::Chart,
    planned: crate::chart::Chart,
    /// The probe's render of the chart as it is, taken from the plan.
    rendered: Option<String>,
}

/// What [`render_planned`] renders of each chart of `plan`.
fn render_jobs(plan: &mut Plan) -> Vec<RenderJob> {
    plan.charts
        .iter_mut()
        .map(|c| RenderJob {
            dir: c.dir.clone(),
            chart: c.chart.clone(),
            planned: super::planned_chart(c),
            rendered: c.rendered.take(),
        })
        .collect()
}

/// Render each chart of `jobs` as planned, reading its render as it is
/// meanwhile.
fn render_planned(jobs: Vec<RenderJob>, opts: &ReleaseOptions) -> Result<Renders, ReleaseError> {
    let mut out = Renders {
        off: None,
        sides: Vec::new(),
        after: Vec::new(),
        unrenderable: Vec::new(),
    };
    let Some(helm) = Helm::for_mode(opts.render, &opts.helm)? else {
        out.off = Some(match opts.render {
            RenderMode::Off => Rendering::Off,
            _ => Rendering::Skipped("helm is not on PATH".to_string()),
        });
        return Ok(out);
    };
    let count = jobs.len();
    for (i, c) in jobs.into_iter().enumerate() {
        // helm renders only a chart with `Chart.yaml`; a values-only
        // directory is released by convention unless `--render` insists
        // (then helm's own refusal says why).
        if opts.render == RenderMode::Auto && c.chart.file("Chart.yaml").is_none() {
            out.unrenderable.push(c.dir.display().to_string());
            continue;
        }
        // The probe rendered the chart as it is with the same values.
        let before = match c.rendered {
            Some(text) => text,
            None => match lint::render_chart(&helm, &c.chart, &opts.helm)? {
                Some(text) => text,
                None => continue,
            },
        };
        let planned = c.planned;
        // helm works in its own process: the render before is read meanwhile.
        let (old, after) = std::thread::scope(|scope| {
            let reading = scope.spawn(|| Side::read(&before));
            let _step = crate::steps::step("proof render");
            let after = lint::render_chart(&helm, &planned, &opts.helm);
            (joined(reading), after)
        });
        let Some(after) = after? else {
            continue;
        };
        let old = old?;
        let last = i + 1 == count;
        let new = if last {
            None
        } else {
            Some(Side::read(&after)?)
        };
        out.sides.push((c.dir, old, new));
        out.after.push((c.chart.root.clone(), after.into()));
    }
    Ok(out)
}

/// Prove the pin of each chart `renders` rendered, against the digests
/// the plan applies ([`super::expected_digests`]).
fn prove(
    renders: &Renders,
    expected: &[crate::prove::Expected],
) -> Result<(Rendering, Vec<Finding>), ReleaseError> {
    let _step = crate::steps::step("prove");
    if let Some(off) = &renders.off {
        return Ok((off.clone(), Vec::new()));
    }
    let mut findings = Vec::new();
    let (mut charts, mut images) = (0, 0);
    for ((dir, old, new), (_, after)) in renders.sides.iter().zip(&renders.after) {
        let read;
        let new = match new {
            Some(new) => new,
            None => {
                read = Side::read(after)?;
                &read
            }
        };
        let proof = crate::prove::prove_sides(old, new, expected);
        findings.extend(proof.findings.into_iter().map(|f| match f.location {
            Some(_) => f,
            None => f.in_file(dir),
        }));
        images += proof.proven;
        charts += 1;
    }
    let rendering = if charts == 0 && !renders.unrenderable.is_empty() {
        Rendering::Skipped(format!(
            "no Chart.yaml in {}, so helm cannot render it",
            renders.unrenderable.join(", ")
        ))
    } else {
        Rendering::Rendered { charts, images }
    };
    Ok((rendering, findings))
}
