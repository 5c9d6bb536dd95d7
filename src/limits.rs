//! How much chartpin reads of any one input, and the one message a refusal
//! prints.
//!
//! Charts, values files and rendered manifests arrive in pull requests, so
//! every read is bounded: a file (or an entry of a packaged chart) larger
//! than the limit, or an archive whose entries expand to more than it in
//! total, is an input error (exit 2) that names the file, the limit and the
//! flag that raises it, instead of a read that runs the machine out of
//! memory (`--rendered /dev/zero`, a gzip bomb). The limit is process-wide:
//! the CLI sets it once from `--max-input-size` before any command reads
//! anything; the library reads it where it opens files.

use std::sync::atomic::{AtomicU64, Ordering};

/// The default limit: 64 MiB, several times the largest values file or
/// packaged chart seen in the wild (kube-prometheus-stack's `.tgz`
/// expands to under 10 MiB).
pub const DEFAULT_MAX_INPUT_SIZE: u64 = 64 << 20;

/// The flag that raises the limit, for messages.
pub const FLAG: &str = "--max-input-size";

static MAX_INPUT_SIZE: AtomicU64 = AtomicU64::new(DEFAULT_MAX_INPUT_SIZE);

/// The largest file, archive entry or archive expansion chartpin reads, in bytes.
pub fn max_input_size() -> u64 {
    MAX_INPUT_SIZE.load(Ordering::Relaxed)
}

/// Have the allocator give freed memory back to the system as it goes
/// (glibc; elsewhere nothing to do). Issue 10 bounds peak memory by the
/// input: a command on a large values file frees a text or a tree between
/// phases (a 20 MB text, a tree of 46 MB), and glibc's default keeps what
/// it freed: once a large block is freed it raises its mmap threshold to
/// that block's size and its trim threshold to twice that, so the next
/// phase's buffers come from a heap that is never trimmed, and the
/// process's peak is the sum of its phases rather than the largest (some
/// 20 MB of release's on a 20 MB file, 5 MB of lint's). Fixing both at
/// glibc's initial 128 KiB keeps large blocks mapped, and unmapped when
/// freed, and the heap's free top returned. Called once, first thing.
pub fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const GLIBC_INITIAL: libc::c_int = 128 * 1024;
        // SAFETY: mallopt only sets allocator parameters; called before any
        // other thread exists.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, GLIBC_INITIAL);
            libc::mallopt(libc::M_TRIM_THRESHOLD, GLIBC_INITIAL);
        }
    }
}

/// Set the limit for the rest of the process (the CLI does, from its flag).
pub fn set_max_input_size(bytes: u64) {
    MAX_INPUT_SIZE.store(bytes, Ordering::Relaxed);
}

/// A size as `--max-input-size` takes it: bytes, or a number with a binary
/// suffix `K`, `M`, `G` (also `KiB`, `MiB`, `GiB`, any case).
pub fn parse_size(s: &str) -> Result<u64, InvalidSize> {
    parse_size_text(s).map_err(InvalidSize)
}

/// A `--max-input-size` value that is not a size; the message says why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSize(String);

fn parse_size_text(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (examples: 1048576, 512K, 64M, 2G)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("`{s}`: unknown size unit (use K, M or G)")),
    };
    let bytes = n
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("`{s}` is too large"))?;
    if bytes == 0 {
        return Err("the input size limit must be at least 1 byte".into());
    }
    Ok(bytes)
}

/// `64 MiB`, `512 KiB`, `1000 bytes`: the limit as messages show it.
pub fn describe(bytes: u64) -> String {
    for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{} {unit}", bytes >> shift);
        }
    }
    format!("{bytes} bytes")
}

/// The end of every size refusal: which limit, and how to raise it.
pub fn exceeded(limit: u64) -> String {
    format!(
        "the input size limit is {} (raise it with {FLAG} SIZE, e.g. {FLAG} 256M)",
        describe(limit)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("2gib"), Ok(2 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("99999999999999G").is_err());
        assert_eq!(describe(64 << 20), "64 MiB");
        assert_eq!(describe(1000), "1000 bytes");
    }
}
