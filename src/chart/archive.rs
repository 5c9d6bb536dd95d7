//! Packaged charts (`.tgz`) read in memory, streamed from disk.
//!
//! An archive is one input: each entry, and all entries together (nested
//! `charts/*.tgz` and their own entries included), must stay within the
//! input size limit ([`crate::limits`]), counted from the tar headers before
//! anything is read, so a small gzip bomb is refused after its first large
//! entries instead of expanding into memory. Only the entries the reader
//! keeps are read, each once: its bytes move into the chart's
//! [`SourceFile`] without a copy.
//!
//! Helm strips the first path component of every entry and loads the rest as
//! the chart, so a second top-level directory (`zzz/values.yaml`) is merged
//! into what it renders. chartpin refuses such an archive: a packaged chart
//! has exactly one top-level directory, holding `Chart.yaml`. Entries that
//! escape the archive root (`..`, absolute paths) are refused too.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use super::{Chart, ChartMeta, ChartOrigin, assign_dependencies, is_archive};
use crate::diag::InputError;
use crate::source::{ReadError, SourceFile, read_bounded_expecting};

/// Deepest nesting of packaged subcharts inside packaged charts.
const MAX_ARCHIVE_NESTING: usize = 4;

/// What an archive and everything nested in it may still expand to.
struct Budget {
    limit: u64,
    used: u64,
}

/// A packaged chart named on the command line.
pub(super) fn load_file(path: &Path) -> Result<Chart, InputError> {
    load_from_disk(path, ChartOrigin::Archive(path.to_path_buf()))
}

/// A packaged subchart under a directory chart's `charts/`.
pub(super) fn load_file_nested(path: &Path) -> Result<Chart, InputError> {
    load_from_disk(path, ChartOrigin::Nested)
}

fn load_from_disk(path: &Path, origin: ChartOrigin) -> Result<Chart, InputError> {
    let file = crate::source::open_regular(path).map_err(|e| InputError::unreadable(path, e))?;
    let mut budget = Budget {
        limit: crate::limits::max_input_size(),
        used: 0,
    };
    load(
        path,
        std::io::BufReader::new(file),
        path.to_path_buf(),
        origin,
        0,
        &mut budget,
    )
}

/// Read a packaged chart in memory (tests and nested archives).
#[cfg(test)]
pub(super) fn load_bytes(path: &Path, bytes: &[u8]) -> Result<Chart, InputError> {
    let mut budget = Budget {
        limit: crate::limits::max_input_size(),
        used: 0,
    };
    load(
        path,
        bytes,
        path.to_path_buf(),
        ChartOrigin::Archive(path.to_path_buf()),
        0,
        &mut budget,
    )
}

/// Whether the reader keeps the entry at `rel` (relative to the top-level
/// directory): a chart file, or anything a subchart under `charts/` keeps.
fn keep(rel: &str) -> bool {
    let mut r = rel;
    loop {
        if matches!(
            r,
            "Chart.yaml" | "values.yaml" | "values.schema.json" | ".chartpin.yaml"
        ) || r.starts_with("templates/")
        {
            return true;
        }
        let Some(rest) = r.strip_prefix("charts/") else {
            return false;
        };
        match rest.split_once('/') {
            Some((_, inner)) => r = inner,
            None => return is_archive(Path::new(rest)),
        }
    }
}

/// `path` is the archive on disk (for messages), `shown` where findings put it.
fn load(
    path: &Path,
    reader: impl Read,
    shown: PathBuf,
    origin: ChartOrigin,
    nesting: usize,
    budget: &mut Budget,
) -> Result<Chart, InputError> {
    if nesting > MAX_ARCHIVE_NESTING {
        return Err(InputError::file(
            &shown,
            "packaged subcharts nested too deeply",
        ));
    }
    let corrupt =
        |e: std::io::Error| InputError::file(&shown, format!("corrupt chart archive: {e}"));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(reader));
    let mut entries: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut tops: BTreeSet<String> = BTreeSet::new();
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        let raw = entry.path().map_err(corrupt)?.into_owned();
        let mut parts = Vec::new();
        for c in raw.components() {
            match c {
                Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
                Component::CurDir => {}
                Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                    return Err(InputError::file(
                        &shown,
                        format!(
                            "archive entry `{}` escapes the archive root; refusing the archive",
                            raw.display()
                        ),
                    ));
                }
            }
        }
        let Some(top) = parts.first() else { continue };
        tops.insert(top.clone());
        if !kind.is_file() {
            continue;
        }
        let rel = parts.join("/");
        let size = entry.size();
        if size > budget.limit {
            return Err(InputError::file(
                &shown,
                format!(
                    "archive entry `{rel}` is too large ({size} bytes): {}",
                    crate::limits::exceeded(budget.limit)
                ),
            ));
        }
        budget.used = budget.used.saturating_add(size);
        if budget.used > budget.limit {
            return Err(InputError::file(
                &shown,
                format!(
                    "archive expands to more than the limit (at entry `{rel}`): {}",
                    crate::limits::exceeded(budget.limit)
                ),
            ));
        }
        if parts.len() < 2 || !keep(&parts[1..].join("/")) {
            continue;
        }
        let bytes = read_bounded_expecting(&mut entry, size, size).map_err(|e| match e {
            ReadError::Io(e) => corrupt(e),
            _ => InputError::file(
                &shown,
                format!("archive entry `{rel}` is larger than its header says"),
            ),
        })?;
        entries.insert(rel, bytes);
    }
    let top = match tops.len() {
        1 => tops.into_iter().next().expect("one top-level name"),
        0 => {
            return Err(InputError::file(
                &shown,
                "archive holds no chart (no <name>/Chart.yaml)",
            ));
        }
        _ => {
            let names: Vec<String> = tops.iter().map(|t| format!("`{t}`")).collect();
            return Err(InputError::file(
                &shown,
                format!(
                    "archive has {} top-level entries ({}); a packaged chart has exactly one top-level directory, and helm would merge the others into it",
                    names.len(),
                    names.join(", ")
                ),
            ));
        }
    };
    if !entries.contains_key(&format!("{top}/Chart.yaml")) {
        return Err(InputError::file(
            &shown,
            "archive holds no chart (no <name>/Chart.yaml)",
        ));
    }
    from_entries(path, &shown, &mut entries, &top, origin, nesting, budget)
}

/// The chart under `prefix` of `entries`, taking its files out of the map.
fn from_entries(
    archive: &Path,
    shown: &Path,
    entries: &mut BTreeMap<String, Vec<u8>>,
    prefix: &str,
    origin: ChartOrigin,
    nesting: usize,
    budget: &mut Budget,
) -> Result<Chart, InputError> {
    let root = shown.join(prefix);
    let lead = format!("{prefix}/");
    let mine: Vec<String> = entries
        .range(lead.clone()..)
        .take_while(|(k, _)| k.starts_with(&lead))
        .map(|(k, _)| k.clone())
        .collect();
    let mut files = BTreeMap::new();
    let mut sub_dirs: BTreeSet<String> = BTreeSet::new();
    let mut sub_archives = Vec::new();
    for key in mine {
        let rel = &key[lead.len()..];
        if let Some(rest) = rel.strip_prefix("charts/") {
            match rest.split_once('/') {
                Some((sub, "Chart.yaml")) => {
                    sub_dirs.insert(sub.to_string());
                }
                None if is_archive(Path::new(rest)) => {
                    let bytes = entries.remove(&key).unwrap_or_default();
                    sub_archives.push((rest.to_string(), bytes));
                }
                _ => {}
            }
            continue;
        }
        let bytes = entries.remove(&key).unwrap_or_default();
        let path = root.join(rel);
        let src =
            SourceFile::from_bytes(&path, bytes).map_err(|e| InputError::unreadable(&path, e))?;
        files.insert(rel.to_string(), src);
    }
    let mut subcharts = Vec::new();
    for sub in &sub_dirs {
        subcharts.push(from_entries(
            archive,
            shown,
            entries,
            &format!("{prefix}/charts/{sub}"),
            ChartOrigin::Nested,
            nesting,
            budget,
        )?);
    }
    for (name, bytes) in sub_archives {
        let inner_shown = root.join("charts").join(&name);
        subcharts.push(load(
            archive,
            bytes.as_slice(),
            inner_shown,
            ChartOrigin::Nested,
            nesting + 1,
            budget,
        )?);
    }
    let meta = files
        .get("Chart.yaml")
        .map(ChartMeta::parse)
        .unwrap_or_default();
    let name = meta
        .name
        .clone()
        .unwrap_or_else(|| prefix.rsplit('/').next().unwrap_or(prefix).to_string());
    assign_dependencies(&meta, &mut subcharts);
    let mut chart = Chart::in_memory(root, &name, files);
    chart.origin = origin;
    chart.meta = meta;
    chart.subcharts = subcharts;
    Ok(chart)
}
