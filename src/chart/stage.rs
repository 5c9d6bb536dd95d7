//! The one disk copy of a chart chartpin makes: a staging directory for
//! `helm template` to render a chart whose files were replaced in memory
//! (release's planned pins), before anything is written to the chart itself.
//!
//! The copy is built for hostile charts: only directories and regular files
//! are copied, each file within the input size limit; a symlink is followed
//! only when it resolves inside the chart (helm follows symlinks too), and
//! one that leads outside, a FIFO, a socket or a device is an input error
//! naming it, so a chart cannot make chartpin copy `/etc` or block on a FIFO.
//!
//! Staging directories are named `chartpin-stage-<pid>-<random>` in the
//! system temp directory (private, mode 0700) and removed when the
//! [`Staged`] is dropped, or by the handler of SIGINT, SIGTERM and SIGHUP
//! ([`signal_hook`]: its handler thread may do file-system work, and it can
//! re-raise the signal afterwards, so the process still dies of that signal
//! and the shell sees 130/143). A process killed with SIGKILL cannot clean
//! up: the next staging removes every staging directory (and every
//! `chartpin-release-<pid>-…` directory older versions left) whose pid is no
//! longer running and which the current user owns.
//!
//! One run renders a chart several times (release: the probe's renders, then
//! the planned chart), and copying a large chart costs more than chartpin's
//! other work on it (a new inode per file). While a [`Reuse`] guard lives, a
//! dropped [`Staged`] is kept, and the next staging of the same chart takes
//! it back: the files its last user replaced or removed are restored from
//! the chart, then the new replacements written. The guard's drop removes
//! the kept copies.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{Chart, ChartOrigin};
use crate::diag::InputError;
use crate::source::{ReadError, open_regular};

const PREFIX: &str = "chartpin-stage-";
/// What chartpin releases before this one named their staging copies.
const OLD_PREFIX: &str = "chartpin-release-";
/// Most directories copied for one chart (symlink cycles stop here).
const MAX_DIRS: usize = 10_000;

/// Staging directories alive in this process, for the signal handler.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Copies kept for reuse, and how many [`Reuse`] guards live.
static KEPT: Mutex<(usize, Vec<Staged>)> = Mutex::new((0, Vec::new()));

/// While one lives, staged copies are kept for the next staging of the
/// same chart (see the module docs); its drop removes them.
#[must_use]
pub struct Reuse(());

/// Keep staged copies for reuse until the returned guard drops.
pub fn reuse() -> Reuse {
    if let Ok(mut kept) = KEPT.lock() {
        kept.0 += 1;
    }
    Reuse(())
}

impl Drop for Reuse {
    fn drop(&mut self) {
        let gone = match KEPT.lock() {
            Ok(mut kept) => {
                kept.0 -= 1;
                if kept.0 == 0 {
                    std::mem::take(&mut kept.1)
                } else {
                    Vec::new()
                }
            }
            Err(_) => Vec::new(),
        };
        for mut s in gone {
            s.remove();
        }
    }
}

/// A staged copy of a chart, removed on drop (or kept, under [`Reuse`]).
#[derive(Debug)]
pub struct Staged {
    base: PathBuf,
    chart: PathBuf,
    /// The chart directory and boundary the copy was made of.
    from: (PathBuf, PathBuf),
    /// Each copied file (relative to `chart`) and the file it was read from.
    origins: HashMap<PathBuf, PathBuf>,
    /// Files (relative to `chart`) no longer as copied: replaced or removed.
    dirty: Mutex<Vec<PathBuf>>,
    removed: bool,
}

impl Staged {
    /// The chart directory inside the staging directory (its name is the chart's).
    pub fn chart_dir(&self) -> &Path {
        &self.chart
    }

    /// The staging directory itself.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// Remove the file `rel` (relative to the chart directory) from the copy.
    pub fn remove_file(&self, rel: &Path) {
        if std::fs::remove_file(self.chart.join(rel)).is_ok() {
            self.mark(rel);
        }
    }

    fn mark(&self, rel: &Path) {
        if let Ok(mut dirty) = self.dirty.lock() {
            dirty.push(rel.to_path_buf());
        }
    }

    /// Put back every file as copied; false when one cannot be.
    fn restore(&mut self) -> bool {
        let dirty = std::mem::take(self.dirty.get_mut().unwrap_or_else(|e| e.into_inner()));
        dirty.iter().all(|rel| {
            let dst = self.chart.join(rel);
            match self.origins.get(rel) {
                Some(real) => copy_file(real, rel, &dst).is_ok(),
                None => match std::fs::remove_file(&dst) {
                    Ok(()) => true,
                    Err(e) => e.kind() == std::io::ErrorKind::NotFound,
                },
            }
        })
    }

    fn remove(&mut self) {
        if std::mem::replace(&mut self.removed, true) {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.base);
        if let Ok(mut live) = LIVE.lock() {
            live.retain(|p| p != &self.base);
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        if let Ok(mut kept) = KEPT.lock()
            && kept.0 > 0
        {
            let moved = Staged {
                base: std::mem::take(&mut self.base),
                chart: std::mem::take(&mut self.chart),
                from: std::mem::take(&mut self.from),
                origins: std::mem::take(&mut self.origins),
                dirty: Mutex::new(std::mem::take(
                    self.dirty.get_mut().unwrap_or_else(|e| e.into_inner()),
                )),
                removed: false,
            };
            self.removed = true;
            kept.1.push(moved);
            return;
        }
        self.remove();
    }
}

/// A kept copy of `dir` (within `boundary`), restored as copied.
fn take_kept(dir: &Path, boundary: &Path) -> Option<Staged> {
    let mut s = {
        let mut kept = KEPT.lock().ok()?;
        let i = kept
            .1
            .iter()
            .position(|s| s.from.0 == dir && s.from.1 == boundary)?;
        kept.1.swap_remove(i)
    };
    if s.restore() {
        Some(s)
    } else {
        s.remove();
        None
    }
}

/// Copy `chart` (a directory chart) with its replaced files in place.
pub fn stage(chart: &Chart) -> Result<Staged, InputError> {
    let (ChartOrigin::Dir(dir), Some(boundary)) = (&chart.origin, &chart.boundary) else {
        return Err(InputError::file(
            &chart.root,
            "only a chart directory can be staged for rendering",
        ));
    };
    let staged = match take_kept(dir, boundary) {
        Some(s) => s,
        None => {
            let base = create_in(&std::env::temp_dir())?;
            let name = boundary
                .file_name()
                .map(|n| n.to_os_string())
                .unwrap_or_else(|| "chart".into());
            let mut staged = Staged {
                chart: base.join(name),
                base,
                from: (dir.clone(), boundary.clone()),
                origins: HashMap::new(),
                dirty: Mutex::new(Vec::new()),
                removed: false,
            };
            let mut dirs = 0;
            let mut copied = Copied {
                files: Vec::new(),
                dirs: &mut dirs,
                boundary,
            };
            let walked = copy_tree(boundary, dir, &staged.chart, Path::new(""), &mut copied);
            // The walk stops at its first refusal; a file before it that
            // cannot be copied was met first.
            copy_files(&copied.files)?;
            walked?;
            staged.origins = copied
                .files
                .into_iter()
                .map(|f| (f.inner, f.real))
                .collect();
            staged
        }
    };
    let to = staged.chart.clone();
    for rel in &chart.replaced {
        let Some(src) = chart.file_deep(rel) else {
            continue;
        };
        // A subchart replaced by its chart name lies in its own directory.
        let dest = match chart.holding(rel) {
            Some((c, inner)) if !std::ptr::eq(c, chart) => match c.root.strip_prefix(&chart.root) {
                Ok(sub) => to.join(sub).join(inner),
                Err(_) => to.join(rel),
            },
            _ => to.join(rel),
        };
        if let Ok(inner) = dest.strip_prefix(&to) {
            staged.mark(inner);
        }
        std::fs::write(&dest, src.text.as_bytes()).map_err(|e| io(&dest, e))?;
    }
    Ok(staged)
}

fn io(path: &Path, e: std::io::Error) -> InputError {
    InputError::file(path, format!("cannot stage the chart for rendering: {e}"))
}

/// A new private staging directory under `tmp`, after removing dead ones,
/// registered for the signal handler.
fn create_in(tmp: &Path) -> Result<PathBuf, InputError> {
    remove_dead(tmp);
    install_signal_cleanup();
    for _ in 0..100 {
        let base = tmp.join(format!(
            "{PREFIX}{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        match builder.create(&base) {
            Ok(()) => {
                if let Ok(mut live) = LIVE.lock() {
                    live.push(base.clone());
                }
                return Ok(base);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io(tmp, e)),
        }
    }
    Err(io(
        tmp,
        std::io::Error::other("no free staging directory name"),
    ))
}

/// The pid in a staging directory's name, when it is one of ours.
fn staging_pid(name: &str) -> Option<u32> {
    let rest = name
        .strip_prefix(PREFIX)
        .or_else(|| name.strip_prefix(OLD_PREFIX))?;
    let (pid, tail) = rest.split_once('-')?;
    if pid.is_empty() || tail.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

#[cfg(unix)]
fn alive(pid: u32) -> bool {
    // Signal 0 checks existence; EPERM means it exists under another user.
    // SAFETY: kill with signal 0 sends nothing.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Without a portable liveness check, every process counts as running:
/// nothing is removed that might be in use.
#[cfg(not(unix))]
fn alive(_: u32) -> bool {
    true
}

/// Whether the current user owns the file `meta` describes.
#[cfg(unix)]
fn owned_by_me(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions.
    meta.uid() == unsafe { libc::geteuid() }
}

#[cfg(not(unix))]
fn owned_by_me(_: &std::fs::Metadata) -> bool {
    true
}

/// Remove staging directories under `tmp` left by processes no longer
/// running, owned by this user and not symlinks. Returns what was removed.
pub fn remove_dead(tmp: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return removed;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = staging_pid(&name) else {
            continue;
        };
        if pid == std::process::id() || alive(pid) {
            continue;
        }
        let p = e.path();
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() && owned_by_me(&meta) && std::fs::remove_dir_all(&p).is_ok() {
            removed.push(p);
        }
    }
    removed
}

/// On SIGINT, SIGTERM or SIGHUP: remove the live staging directories, then
/// die of the same signal (its default action).
#[cfg(not(unix))]
fn install_signal_cleanup() {}

#[cfg(unix)]
fn install_signal_cleanup() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
            return;
        };
        std::thread::spawn(move || {
            if let Some(sig) = signals.forever().next() {
                if let Ok(live) = LIVE.lock() {
                    for p in live.iter() {
                        let _ = std::fs::remove_dir_all(p);
                    }
                }
                let _ = signal_hook::low_level::emulate_default_handler(sig);
                std::process::exit(128 + sig);
            }
        });
    });
}

/// What a copy records as it goes.
struct Copied<'a> {
    /// Each file to copy, in the walk's order.
    files: Vec<FileCopy>,
    /// Directories copied so far.
    dirs: &'a mut usize,
    boundary: &'a Path,
}

/// One file of the copy.
struct FileCopy {
    /// The file read (a symlink's target), as shown, and the copy's path.
    real: PathBuf,
    seen: PathBuf,
    dst: PathBuf,
    /// Relative to the copy's chart directory.
    inner: PathBuf,
}

/// Copy `files`, several at a time: a copy waits on the file system more
/// than on a core (a large chart is hundreds of files). The error is the
/// first in `files`' order, as copying one after another would meet it.
fn copy_files(files: &[FileCopy]) -> Result<(), InputError> {
    const THREADS: usize = 4;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let first_error = Mutex::new(None::<(usize, InputError)>);
    let work = || {
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(f) = files.get(i) else { return };
            if let Err(e) = copy_file(&f.real, &f.seen, &f.dst) {
                let mut first = first_error.lock().unwrap_or_else(|e| e.into_inner());
                if first.as_ref().is_none_or(|(at, _)| i < *at) {
                    *first = Some((i, e));
                }
            }
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..THREADS.min(files.len().div_ceil(32)) {
            scope.spawn(work);
        }
        work();
    });
    match first_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

/// Walk the directory `from` (shown as `shown`) for a copy at `to` (at
/// `rel` in the copy), making its directories and listing its files:
/// directories and regular files only, symlinks followed inside the
/// boundary only.
fn copy_tree(
    from: &Path,
    shown: &Path,
    to: &Path,
    rel: &Path,
    copied: &mut Copied<'_>,
) -> Result<(), InputError> {
    *copied.dirs += 1;
    if *copied.dirs > MAX_DIRS {
        return Err(InputError::file(
            shown,
            format!("more than {MAX_DIRS} directories; refusing to stage the chart for rendering"),
        ));
    }
    std::fs::create_dir_all(to).map_err(|e| io(to, e))?;
    let mut entries: Vec<_> = std::fs::read_dir(from)
        .map_err(|e| io(shown, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| io(shown, e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let src = from.join(&name);
        let seen = shown.join(&name);
        let dst = to.join(&name);
        let inner = rel.join(&name);
        let meta = std::fs::symlink_metadata(&src).map_err(|e| io(&seen, e))?;
        let mut real = src.clone();
        if meta.file_type().is_symlink() {
            real = super::inside(&src, &seen, copied.boundary)?;
            if std::fs::metadata(&real).map_err(|e| io(&seen, e))?.is_dir() {
                copy_tree(&real, &seen, &dst, &inner, copied)?;
                continue;
            }
        } else if meta.is_dir() {
            copy_tree(&real, &seen, &dst, &inner, copied)?;
            continue;
        }
        copied.files.push(FileCopy {
            real,
            seen,
            dst,
            inner,
        });
    }
    Ok(())
}

/// Copy the file `real` (shown as `seen`) to `dst`: a regular file within
/// the input size limit only.
fn copy_file(real: &Path, seen: &Path, dst: &Path) -> Result<(), InputError> {
    let mut file = open_regular(real).map_err(|e| match e {
        ReadError::NotRegular(what) => InputError::file(
            seen,
            format!("not a regular file ({what}); refusing to stage it for rendering"),
        ),
        other => InputError::unreadable(seen, other),
    })?;
    let limit = crate::limits::max_input_size();
    let len = file.metadata().map_err(|e| io(seen, e))?.len();
    if len > limit {
        return Err(InputError::file(
            seen,
            format!("too large: {}", crate::limits::exceeded(limit)),
        ));
    }
    let mut out = std::fs::File::create(dst).map_err(|e| io(dst, e))?;
    std::io::copy(&mut file, &mut out).map_err(|e| io(seen, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names_carry_the_pid() {
        assert_eq!(staging_pid("chartpin-stage-123-0abc"), Some(123));
        assert_eq!(staging_pid("chartpin-release-77-5-0"), Some(77));
        for other in [
            "chartpin-stage-",
            "chartpin-stage-x-1",
            "chartpin-stage-12",
            "other-1-2",
        ] {
            assert_eq!(staging_pid(other), None, "{other}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn dead_staging_directories_are_removed_live_ones_kept() {
        let tmp = tempfile_dir();
        let dead = tmp.join("chartpin-stage-999999999-00000000");
        let old = tmp.join("chartpin-release-999999998-1-0");
        let mine = tmp.join(format!("chartpin-stage-{}-1", std::process::id()));
        let other = tmp.join("chartpin-stage-notapid-1");
        for d in [&dead, &old, &mine, &other] {
            std::fs::create_dir_all(d.join("sub")).unwrap();
        }
        let mut removed = remove_dead(&tmp);
        removed.sort();
        let mut want = vec![dead.clone(), old.clone()];
        want.sort();
        assert_eq!(removed, want);
        assert!(mine.is_dir() && other.is_dir());
        let _ = std::fs::remove_dir_all(&tmp);
    }

    #[cfg(unix)]
    #[test]
    fn the_copy_has_the_replaced_files_and_follows_symlinks_inside_the_chart_only() {
        let tmp = tempfile_dir();
        let dir = app_with_files(&tmp);
        std::fs::write(dir.join("values.yaml"), "image: a:1\n").unwrap();
        std::fs::write(dir.join("files/data"), "inside").unwrap();
        std::os::unix::fs::symlink("data", dir.join("files/alias")).unwrap();
        let mut chart = super::super::load_dir(&dir).unwrap();
        chart.replace_file("values.yaml", "image: a:1@sha256:x\n");
        let staged = stage(&chart).unwrap();
        let root = staged.chart_dir().to_path_buf();
        let read = |rel: &str| std::fs::read_to_string(root.join(rel)).unwrap();
        assert_eq!(read("values.yaml"), "image: a:1@sha256:x\n");
        assert_eq!(read("files/alias"), "inside");
        assert!(
            !std::fs::symlink_metadata(root.join("files/alias"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("values.yaml")).unwrap(),
            "image: a:1\n"
        );
        let base = staged.base().to_path_buf();
        drop(staged);
        assert!(!base.exists());

        let outside = tmp.join("secret");
        std::fs::write(&outside, "no").unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("files/leak")).unwrap();
        let err = stage(&chart).unwrap_err().to_string();
        assert!(
            err.contains("files/leak") && err.contains("outside the chart"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&tmp);
    }

    #[cfg(unix)]
    #[test]
    fn files_copied_at_once_report_the_first_refusal_in_walk_order() {
        let tmp = tempfile_dir();
        let dir = app_with_files(&tmp);
        for i in 0..100 {
            std::fs::write(dir.join(format!("files/f{i:03}")), "x").unwrap();
        }
        // Two FIFOs among them, and after them a symlink out of the chart.
        for fifo in ["files/f050-pipe", "files/f090-pipe"] {
            let c = std::ffi::CString::new(dir.join(fifo).to_str().unwrap()).unwrap();
            // SAFETY: a valid path; mkfifo only creates the node.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        }
        std::os::unix::fs::symlink("/etc/hostname", dir.join("z-out")).unwrap();
        let chart = super::super::load_dir(&dir).unwrap();
        for _ in 0..5 {
            let e = stage(&chart).unwrap_err().to_string();
            assert!(e.contains("f050-pipe") && e.contains("FIFO"), "{e}");
        }
        let _ = std::fs::remove_dir_all(&tmp);
    }

    #[test]
    fn a_kept_copy_is_restored_before_its_next_use_and_removed_with_the_guard() {
        let tmp = tempfile_dir();
        let dir = tmp.join("app");
        std::fs::create_dir_all(dir.join("templates")).unwrap();
        std::fs::write(dir.join("Chart.yaml"), "name: app\n").unwrap();
        std::fs::write(dir.join("values.yaml"), "image: a:1\n").unwrap();
        std::fs::write(dir.join("templates/NOTES.txt"), "notes").unwrap();
        let mut chart = super::super::load_dir(&dir).unwrap();
        let guard = reuse();
        chart.replace_file("values.yaml", "image: a:1@sha256:x\n");
        chart.replace_file("extra.yaml", "new: file\n");
        let first = stage(&chart).unwrap();
        let base = first.base().to_path_buf();
        let root = first.chart_dir().to_path_buf();
        first.remove_file(Path::new("templates/NOTES.txt"));
        assert!(root.join("extra.yaml").is_file());
        drop(first);
        assert!(base.exists(), "kept while the guard lives");

        let plain = super::super::load_dir(&dir).unwrap();
        let second = stage(&plain).unwrap();
        assert_eq!(second.base(), base, "the kept copy is reused");
        let read = |rel: &str| std::fs::read_to_string(root.join(rel)).unwrap();
        assert_eq!(read("values.yaml"), "image: a:1\n");
        assert_eq!(read("templates/NOTES.txt"), "notes");
        assert!(!root.join("extra.yaml").exists());
        drop(second);
        drop(guard);
        assert!(!base.exists());
        let _ = std::fs::remove_dir_all(&tmp);
    }

    /// `tmp/app`: a `Chart.yaml` and an empty `files/`.
    fn app_with_files(tmp: &Path) -> PathBuf {
        let dir = tmp.join("app");
        std::fs::create_dir_all(dir.join("files")).unwrap();
        std::fs::write(dir.join("Chart.yaml"), "name: app\n").unwrap();
        dir
    }

    fn tempfile_dir() -> PathBuf {
        let p = std::env::temp_dir().join(format!(
            "chartpin-unit-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&p).unwrap();
        p
    }
}
