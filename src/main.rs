//! The `chartpin` binary: parse arguments, run, map the outcome to an exit status.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    chartpin::limits::return_freed_memory();
    match chartpin::cli::run() {
        Ok(exit) => exit.into(),
        Err(err) => {
            if chartpin::cli::is_broken_pipe(&err) {
                return ExitCode::from(chartpin::cli::BROKEN_PIPE_EXIT);
            }
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "error: {}", chartpin::cli::render_error(&err));
            chartpin::cli::exit_for_error(&err).into()
        }
    }
}
