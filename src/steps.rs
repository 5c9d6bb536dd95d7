//! Wall time of a run's steps, logged at `-vv` as each step ends
//! (`DEBUG chartpin::steps: step="probe baseline render" ms=402.1`): where
//! release's own time goes between helm calls (issue 9, `scripts/bench-render`),
//! without a profiler. A step is a guard; it costs one clock read when the
//! log level is lower. Steps that overlap run on scoped threads, joined
//! with [`joined`].

use std::time::Instant;

/// A running step; its drop logs its name and how long it took.
#[must_use]
pub struct Step {
    name: &'static str,
    start: Instant,
}

/// Start timing `name`.
pub fn step(name: &'static str) -> Step {
    Step {
        name,
        start: Instant::now(),
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        let ms = self.start.elapsed().as_secs_f64() * 1e3;
        tracing::debug!(step = self.name, ms = format_args!("{ms:.1}"), "step");
    }
}

/// What a scoped thread returned; its panic goes on in this one.
pub fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
