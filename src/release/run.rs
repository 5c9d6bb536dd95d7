//! The release transaction end to end, under the charts' locks
//! ([`crate::lock`]) from planning to commit: plan, verify, lint the staged
//! result, and write only when every check passed.

use std::path::Path;

use crate::diag::{Exit, Finding, InputError};
use crate::lint::{LintError, LintOptions};
use crate::lock::{self, LockError};
use crate::manifest::DigestManifest;
use crate::registry::RegistryClient;
use crate::registry::runtime::block_on;
use crate::source::SourceFile;
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

    // 1. Plan everything in memory.
    let mut plan = super::plan(req, manifest)?;
    // 2. Prove every digest about to be written exists.
    let verified = block_on(super::verify_plan(client, &mut plan, &opts.verify))
        .map_err(ReleaseError::Runtime)?;
    // 3. Lint the chart as it would be written.
    let lint = super::lint_plan(&plan, &opts.lint)?;
    plan.sources.extend(lint.config_sources.iter().cloned());

    let mut findings = plan.findings.clone();
    findings.extend(verified.findings.iter().cloned());
    findings.extend(lint.findings);
    let exit = Exit::from_findings(&findings);

    // 4. Write only when everything passed.
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
        let lock = super::imagelock::build(&plan, &verified);
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
    })
}
