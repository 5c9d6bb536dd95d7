//! The one way chartpin writes a chart's files: every new text to a synced
//! temporary beside its target, then a rename over the target, for one file
//! (`pin`) or several as one transaction (`release`, `pin` over many files).
//!
//! Why one writer: a rename is the only write that leaves a file either
//! exactly old or exactly new when the process is killed, and what a rename
//! would silently lose has to be decided once, not per command:
//!
//! - **mode**: the temporary gets the target's permission bits;
//! - **ownership**: the temporary gets the target's owner and group (root
//!   may chown; any other user only keeps a group it belongs to). When the
//!   owner cannot be kept the write is refused: replacing a file must not
//!   hand it to whoever ran chartpin;
//! - **read-only files**: a file is replaced only if this process could
//!   open it for writing in place, so a rename never bypasses a permission
//!   that a plain write would meet. A 0444 file is refused for its owner and
//!   anyone else; root, which may write any file, replaces it, keeps it
//!   0444, and is told so ([`WriteNote::ReadOnlyReplaced`]);
//! - **non-regular files** (FIFOs, devices) are refused;
//! - **hard links** (a link count above 1) are refused: a rename would give
//!   this path a new inode and leave the other names on the old text, and
//!   writing in place is not atomic.
//!
//! Every target is checked before the first temporary is created, so a
//! refusal writes nothing. A failure while staging removes the temporaries;
//! a failed rename puts back the files already renamed (best effort). A
//! process killed mid-way leaves at worst orphaned temporaries named
//! `.<file>.chartpin-<pid>-<n>.tmp`, which the next commit in that directory
//! removes. Several files are not renamed as one atomic step: a kill between
//! two renames leaves the first new and the second old, which a re-run
//! completes.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A file to write: where it is shown, where it really is, old and new text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileChange {
    /// The path as the user named it (`chart/values.yaml`).
    pub shown: PathBuf,
    /// The canonical path written.
    pub real: PathBuf,
    /// Shared with the source it was read as and the chart planned from it.
    pub old: crate::source::SharedText,
    pub new: crate::source::SharedText,
}

/// A [`FileChange`] whose texts are held elsewhere (pin's values files as
/// read and as planned): a change is written without a copy of either text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangeRef<'a> {
    pub shown: &'a Path,
    pub real: &'a Path,
    pub old: &'a str,
    pub new: &'a str,
}

impl FileChange {
    /// This change, borrowed.
    pub fn as_ref(&self) -> ChangeRef<'_> {
        ChangeRef {
            shown: &self.shown,
            real: &self.real,
            old: &self.old,
            new: &self.new,
        }
    }
}

/// Why a write was refused or failed. Every variant names the file as shown.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(
        "{}: is read-only for this user (mode {mode:04o}: {source}); chartpin replaces a file only where it could write it in place, so nothing was written (make it writable, e.g. `chmod u+w`, to pin it)",
        path.display()
    )]
    ReadOnly {
        path: PathBuf,
        mode: u32,
        source: std::io::Error,
    },
    #[error("{}: is not a regular file; nothing was written", path.display())]
    NotRegular { path: PathBuf },
    #[error(
        "{}: has {links} hard links; replacing it would break them and writing in place is not atomic, so nothing was written (give it its own copy, e.g. `cp --remove-destination`, to pin it)",
        path.display()
    )]
    HardLinked { path: PathBuf, links: u64 },
    #[error(
        "{}: cannot keep its owner {uid}:{gid} on the new file ({source}); nothing was written (run as that user or as root)",
        path.display()
    )]
    Owner {
        path: PathBuf,
        uid: u32,
        gid: u32,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl WriteError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        WriteError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Something a commit did that the user should hear about.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WriteNote {
    #[error(
        "{}: was read-only (mode {mode:04o}); replaced it because this process may write it (root), and kept it read-only",
        path.display()
    )]
    ReadOnlyReplaced { path: PathBuf, mode: u32 },
}

/// What of a target the new file must keep, read before anything is written.
struct Kept {
    perms: std::fs::Permissions,
    #[cfg(unix)]
    owner: (u32, u32),
}

/// Check that `change.real` may be replaced, and what to keep of it.
fn preflight(change: &ChangeRef<'_>, notes: &mut Vec<WriteNote>) -> Result<Kept, WriteError> {
    let meta = std::fs::metadata(change.real).map_err(|e| WriteError::io(change.shown, e))?;
    if !meta.is_file() {
        return Err(WriteError::NotRegular {
            path: change.shown.to_path_buf(),
        });
    }
    let perms = meta.permissions();
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        perms.mode() & 0o7777
    };
    #[cfg(not(unix))]
    let mode = if perms.readonly() { 0o444 } else { 0o644 };
    // Could this process write it in place? (Opening without truncating
    // changes nothing; a regular file does not block.)
    if let Err(source) = std::fs::OpenOptions::new().write(true).open(change.real) {
        return Err(if source.kind() == std::io::ErrorKind::PermissionDenied {
            WriteError::ReadOnly {
                path: change.shown.to_path_buf(),
                mode,
                source,
            }
        } else {
            WriteError::io(change.shown, source)
        });
    }
    if perms.readonly() {
        notes.push(WriteNote::ReadOnlyReplaced {
            path: change.shown.to_path_buf(),
            mode,
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.nlink() > 1 {
            return Err(WriteError::HardLinked {
                path: change.shown.to_path_buf(),
                links: meta.nlink(),
            });
        }
        Ok(Kept {
            perms,
            owner: (meta.uid(), meta.gid()),
        })
    }
    #[cfg(not(unix))]
    Ok(Kept { perms })
}

/// The temporary name for `target` (`.values.yaml.chartpin-<pid>-<n>.tmp`).
fn temp_name(target: &Path, n: u32) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.chartpin-{}-{n}.tmp", std::process::id()))
}

/// Whether `file` is a temporary left by a commit to `target` from a
/// process that is no longer running.
fn is_orphaned_temp(file: &str, target: &str) -> bool {
    let Some(rest) = file
        .strip_prefix(&format!(".{target}.chartpin-"))
        .and_then(|r| r.strip_suffix(".tmp"))
    else {
        return false;
    };
    let Some((pid, n)) = rest.split_once('-') else {
        return false;
    };
    if pid.is_empty()
        || n.is_empty()
        || !pid.bytes().all(|b| b.is_ascii_digit())
        || !n.bytes().all(|b| b.is_ascii_digit())
    {
        return false;
    }
    let alive = Path::new("/proc").is_dir() && Path::new("/proc").join(pid).exists();
    pid != std::process::id().to_string() && !alive
}

/// Remove temporaries that a killed commit left beside `targets`.
pub fn remove_orphaned_temps(targets: &[&Path]) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for target in targets {
        let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
            continue;
        };
        let name = name.to_string_lossy();
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            if is_orphaned_temp(&file, &name) && std::fs::remove_file(e.path()).is_ok() {
                removed.push(e.path());
            }
        }
    }
    removed
}

/// Create the temporary for `change` holding its new text, synced, with
/// the target's owner and mode.
fn stage(change: &ChangeRef<'_>, kept: &Kept, temps: &mut Vec<PathBuf>) -> Result<(), WriteError> {
    let at = |e| WriteError::io(change.shown, e);
    let mut n = 0;
    let (tmp, mut file) = loop {
        let tmp = temp_name(change.real, n);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => n += 1,
            Err(e) => return Err(at(e)),
        }
    };
    temps.push(tmp.clone());
    file.write_all(change.new.as_bytes()).map_err(at)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let (uid, gid) = kept.owner;
        let now = file.metadata().map_err(at)?;
        if (now.uid(), now.gid()) != (uid, gid) {
            std::os::unix::fs::fchown(&file, Some(uid), Some(gid)).map_err(|source| {
                WriteError::Owner {
                    path: change.shown.to_path_buf(),
                    uid,
                    gid,
                    source,
                }
            })?;
        }
    }
    // After the chown, which may clear set-id bits.
    file.set_permissions(kept.perms.clone()).map_err(at)?;
    file.sync_all().map_err(at)?;
    Ok(())
}

/// Write every change: all targets checked first, then all new texts to
/// synced temporaries beside their targets, then each renamed over its
/// target. On an error before the renames nothing has changed; on a failed
/// rename the files already renamed get their old text back (best effort).
/// Returns what the user should be told.
pub fn commit(changes: &[&FileChange]) -> Result<Vec<WriteNote>, WriteError> {
    commit_refs(&changes.iter().map(|c| c.as_ref()).collect::<Vec<_>>())
}

/// [`commit`] of changes whose texts are borrowed.
pub fn commit_refs(changes: &[ChangeRef<'_>]) -> Result<Vec<WriteNote>, WriteError> {
    let mut notes = Vec::new();
    let kept = changes
        .iter()
        .map(|c| preflight(c, &mut notes))
        .collect::<Result<Vec<_>, _>>()?;
    let targets: Vec<&Path> = changes.iter().map(|c| c.real).collect();
    remove_orphaned_temps(&targets);
    let mut temps: Vec<PathBuf> = Vec::new();
    let staged = changes
        .iter()
        .zip(&kept)
        .try_for_each(|(c, k)| stage(c, k, &mut temps));
    if let Err(e) = staged {
        for t in &temps {
            let _ = std::fs::remove_file(t);
        }
        return Err(e);
    }
    for (i, (c, tmp)) in changes.iter().zip(&temps).enumerate() {
        if let Err(e) = std::fs::rename(tmp, c.real) {
            for t in &temps[i..] {
                let _ = std::fs::remove_file(t);
            }
            for done in &changes[..i] {
                let _ = std::fs::write(done.real, done.old);
            }
            return Err(WriteError::io(c.shown, e));
        }
    }
    let mut dirs: Vec<&Path> = changes.iter().filter_map(|c| c.real.parent()).collect();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(notes)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn change(p: &Path, old: &str, new: &str) -> FileChange {
        FileChange {
            shown: p.to_path_buf(),
            real: p.to_path_buf(),
            old: old.into(),
            new: new.into(),
        }
    }

    #[test]
    fn orphaned_temporaries_are_recognised_by_exact_name() {
        assert!(is_orphaned_temp(
            ".values.yaml.chartpin-999999999-0.tmp",
            "values.yaml"
        ));
        assert!(!is_orphaned_temp(
            &format!(".values.yaml.chartpin-{}-0.tmp", std::process::id()),
            "values.yaml"
        ));
        for other in [
            ".values.yaml.chartpin-12-.tmp",
            ".values.yaml.chartpin-x-1.tmp",
            ".Chart.yaml.chartpin-999999999-0.tmp",
            "values.yaml",
            ".values.yaml.chartpin-999999999-0.tmp.bak",
        ] {
            assert!(!is_orphaned_temp(other, "values.yaml"), "{other}");
        }
    }

    #[test]
    fn commit_writes_all_files_keeps_modes_and_leaves_no_temporaries() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("values.yaml");
        let b = dir.path().join("Chart.yaml");
        std::fs::write(&a, "a: 1\n").unwrap();
        std::fs::write(&b, "b: 1\n").unwrap();
        std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o640)).unwrap();
        let orphan = dir.path().join(".values.yaml.chartpin-999999999-0.tmp");
        std::fs::write(&orphan, "partial").unwrap();
        let (ca, cb) = (
            change(&a, "a: 1\n", "a: 2\n"),
            change(&b, "b: 1\n", "b: 2\n"),
        );
        commit(&[&ca, &cb]).unwrap();
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "a: 2\n");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "b: 2\n");
        let mode = std::fs::metadata(&a).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["Chart.yaml", "values.yaml"]);
    }

    #[test]
    fn a_failed_staging_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("values.yaml");
        std::fs::write(&a, "a: 1\n").unwrap();
        let missing = dir.path().join("gone/Chart.yaml");
        let (ca, cb) = (change(&a, "a: 1\n", "a: 2\n"), change(&missing, "", "x"));
        assert!(commit(&[&ca, &cb]).is_err());
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "a: 1\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn hard_linked_targets_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("values.yaml");
        let linked = dir.path().join("linked.yaml");
        for p in [&a, &linked] {
            std::fs::write(p, "x: 1\n").unwrap();
        }
        std::fs::hard_link(&linked, dir.path().join("other-name.yaml")).unwrap();
        let ca = change(&a, "x: 1\n", "x: 2\n");
        let err = commit(&[&ca, &change(&linked, "x: 1\n", "x: 2\n")]).unwrap_err();
        assert!(
            matches!(err, WriteError::HardLinked { links: 2, .. }),
            "{err}"
        );
        for p in [&a, &linked] {
            assert_eq!(std::fs::read_to_string(p).unwrap(), "x: 1\n");
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    }
}

/// Write `text` to `path`, a file chartpin produces (a lock file, a
/// summary): an existing file is replaced as [`commit`] replaces a chart's
/// file (its mode kept, a hard link or a non-regular file refused); a new
/// one is written to a synced temporary in the same directory and renamed
/// into place with mode 0644.
pub fn write_output(path: &Path, text: &str) -> Result<Vec<WriteNote>, WriteError> {
    if let Ok(old) = std::fs::symlink_metadata(path) {
        let real = if old.file_type().is_symlink() {
            std::fs::canonicalize(path).map_err(|e| WriteError::io(path, e))?
        } else {
            path.to_path_buf()
        };
        let change = FileChange {
            shown: path.to_path_buf(),
            real,
            old: "".into(),
            new: text.into(),
        };
        return commit(&[&change]);
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".chartpin-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| WriteError::io(path, e))?;
    use std::io::Write as _;
    tmp.write_all(text.as_bytes())
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| WriteError::io(path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // tempfile creates 0600; an output file is meant to be read.
        let mode = 0o644;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))
            .map_err(|e| WriteError::io(path, e))?;
    }
    tmp.persist(path)
        .map_err(|e| WriteError::io(path, e.error))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(Vec::new())
}
