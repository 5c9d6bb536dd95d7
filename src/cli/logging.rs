//! `-q/--quiet` and `-v/--verbose`: how much chartpin says on standard error.
//!
//! Standard output is never affected: it carries what was asked for
//! (findings, reports, manifests, diffs) at every verbosity. Standard error
//! carries, at each level:
//!
//! | flag | standard error |
//! |---|---|
//! | `-q` | errors only: the final `error:` line and per-reference `error:` lines (`resolve`) |
//! | none | errors, warnings, notes (`note:` lines), the progress bar on a terminal |
//! | `-v` | and `info` logs: the auth scheme chosen per registry and token realm, retries and why, redirects, HEAD answered 405 and asked again as GET, the deadline passing |
//! | `-vv` | and `debug` logs: every HTTP request with its status and timing, where credentials came from (which file or helper, never what), each step's wall time ([`crate::steps`]) |
//! | `-vvv` | and `trace` logs of chartpin itself |
//!
//! Logs are `tracing` events of chartpin's own modules only, written by
//! `tracing-subscriber`'s plain formatter, without colour. Other crates'
//! events (hyper, rustls, reqwest) are not shown at any level: they are not
//! written to keep secrets out, and chartpin's own events never hold a
//! credential, an `Authorization` value or a token (tested at `-vvv`).
//! `RUST_LOG` is not read, for the same reason.

use std::sync::atomic::{AtomicBool, Ordering};

use clap::{ArgAction, Args};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The global `-q`/`-v` flags, accepted before or after the subcommand.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Output verbosity")]
pub struct Verbosity {
    /// Print nothing on stderr but errors: no progress bar, notes or logs.
    /// Standard output is unchanged.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log to stderr what chartpin does: -v auth and retries, -vv every
    /// registry request with timings, -vvv everything. Never credentials or tokens.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
}

static QUIET: AtomicBool = AtomicBool::new(false);

/// Whether `-q` was given: progress bars and notes stay silent.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Where `note:` lines go: stderr, or nowhere under `-q`.
pub fn notes() -> Box<dyn std::io::Write> {
    if quiet() {
        Box::new(std::io::sink())
    } else {
        Box::new(crate::terminal::EscapingWriter::new(std::io::stderr()))
    }
}

impl Verbosity {
    /// The most verbose level shown.
    fn level(&self) -> LevelFilter {
        match (self.quiet, self.verbose) {
            (true, _) => LevelFilter::OFF,
            (false, 0) => LevelFilter::WARN,
            (false, 1) => LevelFilter::INFO,
            (false, 2) => LevelFilter::DEBUG,
            (false, _) => LevelFilter::TRACE,
        }
    }

    /// Install the stderr logger (once per process) and remember `-q`.
    pub fn init(&self) {
        QUIET.store(self.quiet, Ordering::Relaxed);
        let filter = Targets::new().with_target("chartpin", self.level());
        let fmt = tracing_subscriber::fmt::layer()
            // tracing's own escaping leaves a bare CR, bidi overrides and
            // C1 controls raw; log lines quote paths and registry answers.
            .with_writer(|| crate::terminal::EscapingWriter::new(std::io::stderr()))
            .with_ansi(false)
            .with_target(self.verbose >= 2)
            .without_time();
        // A second init (library use, tests) keeps the first logger.
        let _ = tracing_subscriber::registry()
            .with(fmt.with_filter(filter))
            .try_init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_flags() {
        let v = |quiet, verbose| Verbosity { quiet, verbose }.level();
        assert_eq!(v(true, 0), LevelFilter::OFF);
        assert_eq!(v(false, 0), LevelFilter::WARN);
        assert_eq!(v(false, 1), LevelFilter::INFO);
        assert_eq!(v(false, 2), LevelFilter::DEBUG);
        assert_eq!(v(false, 7), LevelFilter::TRACE);
    }
}
