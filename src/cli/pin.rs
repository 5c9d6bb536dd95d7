//! `chartpin pin`: wiring from flags to [`crate::pin`].

use std::path::PathBuf;

use clap::Args;

use super::{ChartArgs, FormatArgs};
use crate::diag::Exit;

#[derive(Debug, Clone, Args)]
pub struct PinArgs {
    #[command(flatten)]
    pub charts: ChartArgs,
    /// Digest manifest produced by the release build. Repeatable; entries merge.
    #[arg(long = "digests", value_name = "FILE")]
    pub digests: Vec<PathBuf>,
    /// Read the manifests as this format instead of detecting it.
    #[arg(long = "digests-format", value_name = "FORMAT")]
    pub digests_format: Option<String>,
    /// Values file to pin, relative to the chart (default: values.yaml). Repeatable.
    #[arg(long = "values", value_name = "FILE")]
    pub values: Vec<PathBuf>,
    /// Configuration file (default: .chartpin.yaml beside Chart.yaml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print a unified diff of what would change and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write nothing; exit 1 if any file would change.
    #[arg(long)]
    pub check: bool,
    /// Also print a unified diff of what was written.
    #[arg(long)]
    pub diff: bool,
    /// Exit 1 when an image has no manifest entry or an entry matches no image.
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub format: FormatArgs,
}

pub fn run(_args: PinArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("`chartpin pin` is not implemented yet")
}
