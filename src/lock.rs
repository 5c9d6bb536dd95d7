//! An advisory lock per chart, held by `pin` and `release` from the moment
//! they read a chart until their writes are done.
//!
//! Why: two runs on one chart each plan from what they read and then write
//! several files. Interleaved, one run's `values.yaml` could land beside
//! the other's `Chart.yaml` annotation, and one run's staging copy could see
//! the other's temporary file vanish under it. With the lock the second run
//! waits until the first has committed, then plans from the files as they
//! now are.
//!
//! The lock is `flock(2)` (through `std::fs::File::try_lock`) on the chart
//! directory itself: no lock file is left in the chart (it would show up in
//! `git status` and in packaged charts), the directory's inode does not
//! change when chartpin renames files inside it, and the kernel drops the
//! lock when the process dies, however it dies, so there is nothing stale
//! to clean up. Where a directory cannot be opened as a file (Windows), a
//! `.chartpin.lock` file inside the chart is locked instead.
//!
//! A run waits for the lock at most [`wait_limit`] (10 s unless
//! `CHARTPIN_LOCK_TIMEOUT` says otherwise, in seconds; 0 means do not
//! wait), then gives up with [`LockError::Held`] (exit 2, nothing read or
//! written). Other programs do not take this lock: it orders chartpin runs,
//! not editors.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The environment variable that bounds the wait, in seconds.
pub const TIMEOUT_ENV: &str = "CHARTPIN_LOCK_TIMEOUT";

/// How long a run waits by default for another run's lock.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// Locks on charts, released on drop.
#[derive(Debug)]
pub struct ChartLocks {
    _held: Vec<File>,
}

/// Why a chart could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "{}: another chartpin run is pinning or releasing this chart (it holds the chart's lock); gave up after {}s, nothing was read or written (retry when it has finished, or raise {TIMEOUT_ENV})",
        chart.display(), waited.as_secs()
    )]
    Held { chart: PathBuf, waited: Duration },
    #[error("{}: cannot lock the chart: {source}", chart.display())]
    Io {
        chart: PathBuf,
        source: std::io::Error,
    },
    #[error("{TIMEOUT_ENV}={value:?} is not a number of seconds")]
    BadTimeout { value: String },
    #[error("{}: chart directory cannot be read: {source}", chart.display())]
    Unreadable {
        chart: PathBuf,
        source: std::io::Error,
    },
}

/// The wait bound: `CHARTPIN_LOCK_TIMEOUT` seconds, else [`DEFAULT_WAIT`].
pub fn wait_limit() -> Result<Duration, LockError> {
    match std::env::var(TIMEOUT_ENV) {
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| LockError::BadTimeout { value: v }),
        Err(_) => Ok(DEFAULT_WAIT),
    }
}

/// Open what is locked for the chart `dir` (canonical).
fn lock_target(dir: &Path) -> std::io::Result<File> {
    #[cfg(unix)]
    {
        File::open(dir)
    }
    #[cfg(not(unix))]
    {
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(".chartpin.lock"))
    }
}

/// Lock the charts named `charts` (as the user gave them), waiting at most
/// [`wait_limit`]: see [`lock_charts`].
pub fn lock_named(
    charts: &[PathBuf],
    waiting: &mut dyn FnMut(&Path),
) -> Result<ChartLocks, LockError> {
    let mut dirs = Vec::new();
    for chart in charts {
        let real = chart
            .canonicalize()
            .map_err(|source| LockError::Unreadable {
                chart: chart.clone(),
                source,
            })?;
        dirs.push((chart.clone(), real));
    }
    lock_charts(&dirs, wait_limit()?, waiting)
}

/// Lock every chart directory of `charts` (canonical paths; `shown` names
/// them in messages), in path order so two runs over the same charts never
/// wait on each other crosswise. Waits at most `limit` in all; `waiting` is
/// called once, with the chart, when a lock is held by another run.
pub fn lock_charts(
    charts: &[(PathBuf, PathBuf)],
    limit: Duration,
    waiting: &mut dyn FnMut(&Path),
) -> Result<ChartLocks, LockError> {
    let mut order: Vec<&(PathBuf, PathBuf)> = charts.iter().collect();
    order.sort_by(|a, b| a.1.cmp(&b.1));
    order.dedup_by(|a, b| a.1 == b.1);
    let start = Instant::now();
    let mut held = Vec::new();
    let mut told = false;
    for (shown, real) in order {
        let file = lock_target(real).map_err(|source| LockError::Io {
            chart: shown.clone(),
            source,
        })?;
        // Bounded: the loop ends when `limit` has passed.
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    if start.elapsed() >= limit {
                        return Err(LockError::Held {
                            chart: shown.clone(),
                            waited: limit,
                        });
                    }
                    if !told {
                        waiting(shown);
                        told = true;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(TryLockError::Error(source)) => {
                    return Err(LockError::Io {
                        chart: shown.clone(),
                        source,
                    });
                }
            }
        }
        held.push(file);
    }
    Ok(ChartLocks { _held: held })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_a_chart_waits_then_gives_up() {
        let dir = tempfile::tempdir().unwrap();
        let chart = (PathBuf::from("chart"), dir.path().canonicalize().unwrap());
        let first = lock_charts(std::slice::from_ref(&chart), Duration::ZERO, &mut |_| {}).unwrap();
        let mut told = Vec::new();
        let err = lock_charts(
            std::slice::from_ref(&chart),
            Duration::from_millis(120),
            &mut |c| told.push(c.to_path_buf()),
        )
        .unwrap_err();
        assert!(matches!(err, LockError::Held { .. }), "{err}");
        assert!(err.to_string().contains("another chartpin run"), "{err}");
        assert_eq!(told, [PathBuf::from("chart")]);
        drop(first);
        lock_charts(&[chart], Duration::ZERO, &mut |_| {}).unwrap();
        // No lock file is left in the chart.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
