//! `chartpin lint`: flags → [`crate::lint`] → a renderer → exit status.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

use super::{ChartArgs, FormatArgs, RenderArgs, Stdout};
use crate::diag::Exit;
use crate::helm::RenderMode;
use crate::lint::{self, LintOptions, RenderedInput};
use crate::report::{self, Format, RenderOptions};

#[derive(Debug, Clone, Args)]
#[command(
    after_help = super::EXIT_CODES_HELP,
    mut_arg("paths", |a| a.help(super::DISCOVERED_CHARTS_HELP)),
)]
pub struct LintArgs {
    #[command(flatten)]
    pub charts: ChartArgs,
    /// Also lint `helm template` output from FILE (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    pub rendered: Option<PathBuf>,
    #[command(flatten)]
    pub render: RenderArgs,
    /// Configuration file (default: .chartpin.yaml beside Chart.yaml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub format: FormatArgs,
}

pub fn run(args: LintArgs) -> anyhow::Result<Exit> {
    let format = args.format.resolve();
    let named = !args.charts.paths.is_empty() || !args.charts.charts.is_empty();
    let mut paths = args.charts.all();
    let rendered = match &args.rendered {
        Some(p) if p == Path::new("-") => {
            // Bounded like every input: `--rendered -` fed without end stops at the limit.
            let name = PathBuf::from("<stdin>");
            let text = crate::source::read_bounded(
                std::io::stdin().lock(),
                crate::limits::max_input_size(),
            )
            .and_then(|bytes| crate::source::SourceFile::from_bytes(&name, bytes))
            .map_err(|e| crate::diag::InputError::unreadable(&name, e))?
            .text;
            Some(RenderedInput::Text { name, text })
        }
        Some(p) => Some(RenderedInput::File(p.clone())),
        None => None,
    };
    // `--rendered` alone outside a chart lints just the stream.
    if !named && rendered.is_some() && crate::chart::discover(Path::new(".")).is_err() {
        paths.clear();
    }
    let opts = LintOptions {
        rendered,
        // Static lint unless asked: lint is the fast gate on every push.
        render: args.render.mode(RenderMode::Off) != RenderMode::Off,
        helm: args.render.spec(RenderMode::Off)?,
        config: args.config.clone(),
        prerendered: Vec::new(),
    };
    let outcome = lint::lint(&paths, &opts)?;
    let files_checked = outcome.sources.len();
    let sources = outcome.all_sources();
    let render_opts = RenderOptions {
        color: format == Format::Human && report::color_for_stdout(),
        sources: Some(&sources),
        files_checked: Some(files_checked),
        ..RenderOptions::default()
    };
    let mut out = Stdout::lock();
    report::render(format, &outcome.findings, &render_opts, &mut out)?;
    out.flush()?;
    Ok(Exit::from_findings(&outcome.findings))
}
