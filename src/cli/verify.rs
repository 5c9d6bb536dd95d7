//! `chartpin verify` and `chartpin resolve`: wiring from flags to [`crate::verify`].

use std::path::PathBuf;

use clap::Args;

use super::{ChartArgs, FormatArgs, RegistryArgs};
use crate::diag::Exit;

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub charts: ChartArgs,
    /// Verify the entries of these digest manifests instead of the charts' references. Repeatable.
    #[arg(long = "digests", value_name = "FILE")]
    pub digests: Vec<PathBuf>,
    /// Fetch each manifest and check that its bytes hash to the pinned digest.
    #[arg(long)]
    pub content: bool,
    /// Check that each tag pinned beside a digest still points to that digest.
    #[arg(long = "check-tags")]
    pub check_tags: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub format: FormatArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ResolveArgs {
    /// Chart directories or image references (default: the current directory).
    #[arg(value_name = "PATH|IMAGE")]
    pub targets: Vec<String>,
    /// A chart directory; the same as giving it as a positional PATH. Repeatable.
    #[arg(long = "chart", value_name = "DIR")]
    pub charts: Vec<PathBuf>,
    /// Write the digest manifest to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

pub fn run(_args: VerifyArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("`chartpin verify` is not implemented yet")
}

pub fn run_resolve(_args: ResolveArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("`chartpin resolve` is not implemented yet")
}
