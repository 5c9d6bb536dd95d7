//! `chartpin lint`: wiring from flags to [`crate::lint`].

use std::path::PathBuf;

use clap::Args;

use super::{ChartArgs, FormatArgs};
use crate::diag::Exit;

#[derive(Debug, Clone, Args)]
pub struct LintArgs {
    #[command(flatten)]
    pub charts: ChartArgs,
    /// Also lint `helm template` output from FILE (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    pub rendered: Option<PathBuf>,
    /// Run `helm template` on each chart and lint what it renders (needs helm on PATH).
    #[arg(long)]
    pub render: bool,
    /// Configuration file (default: .chartpin.yaml beside Chart.yaml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub format: FormatArgs,
}

pub fn run(_args: LintArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("`chartpin lint` is not implemented yet")
}
