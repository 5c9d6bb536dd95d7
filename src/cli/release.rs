//! `chartpin release`: wiring from flags to [`crate::release`].

use std::path::PathBuf;

use clap::Args;

use super::{ChartArgs, FormatArgs, RegistryArgs};
use crate::diag::Exit;

#[derive(Debug, Clone, Args)]
pub struct ReleaseArgs {
    #[command(flatten)]
    pub charts: ChartArgs,
    /// Digest manifest produced by the release build. Repeatable; entries merge.
    #[arg(long = "digests", value_name = "FILE")]
    pub digests: Vec<PathBuf>,
    /// Read the manifests as this format instead of detecting it.
    #[arg(long = "digests-format", value_name = "FORMAT")]
    pub digests_format: Option<String>,
    /// Also render the pinned chart with `helm template` and lint the result.
    #[arg(long)]
    pub render: bool,
    /// Configuration file (default: .chartpin.yaml beside Chart.yaml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Write the Markdown summary here (default: $GITHUB_STEP_SUMMARY when set).
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    /// Fetch each manifest and check that its bytes hash to the digest.
    #[arg(long)]
    pub content: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub format: FormatArgs,
}

pub fn run(_args: ReleaseArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("`chartpin release` is not implemented yet")
}
