//! `chartpin completions SHELL` and `chartpin man`: shell completion scripts
//! and man pages generated from the clap definition the parser uses, so they
//! cannot drift from the flags. The release archives ship both
//! (`.github/workflows/release.yml` runs these commands on the built binary).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, CommandFactory};

use super::Cli;
use crate::diag::Exit;

/// `chartpin completions SHELL`.
#[derive(Debug, Args)]
#[command(after_help = super::EXIT_CODES_HELP)]
pub struct CompletionsArgs {
    /// The shell to write a completion script for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// `chartpin man`.
#[derive(Debug, Args)]
#[command(after_help = super::EXIT_CODES_HELP)]
pub struct ManArgs {
    /// Write chartpin.1 and one page per subcommand (chartpin-lint.1, …) into
    /// DIR (created) instead of printing chartpin.1 to standard output.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Print the completion script for `args.shell`.
pub fn completions(args: CompletionsArgs) -> anyhow::Result<Exit> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "chartpin", &mut out);
    std::io::stdout().lock().write_all(&out)?;
    Ok(Exit::Clean)
}

/// Print chartpin.1, or write every page into `args.dir`.
pub fn man(args: ManArgs) -> anyhow::Result<Exit> {
    let cmd = Cli::command();
    match args.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(cmd, &dir)
                .with_context(|| format!("cannot write man pages into {}", dir.display()))?;
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            std::io::stdout().lock().write_all(&out)?;
        }
    }
    Ok(Exit::Clean)
}
