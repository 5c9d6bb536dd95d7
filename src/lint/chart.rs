//! Finding and loading charts: a chart directory, a directory holding several
//! charts (each found by its `Chart.yaml`), or a packaged `.tgz` read in
//! memory. Subcharts under `charts/` (directories and `.tgz`) load with their
//! parent. Only the files lint reads are kept: `Chart.yaml`, `values.yaml`,
//! `.chartpin.yaml` and `templates/**`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use super::LintError;
use crate::diag::InputError;
use crate::source::SourceFile;

/// How deep a directory walk looks for `Chart.yaml` files.
const MAX_WALK_DEPTH: usize = 8;
/// Largest archive entry read into memory; a chart file is far smaller.
const MAX_ENTRY_BYTES: u64 = 64 << 20;
/// Deepest nesting of packaged subcharts inside packaged charts.
const MAX_ARCHIVE_NESTING: usize = 4;

/// Where a chart came from, for running `helm template` on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChartOrigin {
    Dir(PathBuf),
    /// A packaged chart on disk.
    Archive(PathBuf),
    /// A chart inside another chart's archive (not renderable on its own).
    Nested,
}

/// A chart's files in memory, keyed by path relative to the chart root (`/`-separated).
#[derive(Clone, Debug)]
pub struct Chart {
    /// The chart root as shown in findings: a directory, or `pkg.tgz/<name>` inside an archive.
    pub root: PathBuf,
    /// `name` from `Chart.yaml`, else the directory name.
    pub name: String,
    pub origin: ChartOrigin,
    pub files: BTreeMap<String, SourceFile>,
    /// The alias the parent's `Chart.yaml` gives this subchart, if any.
    pub alias: Option<String>,
    /// Subcharts under `charts/`, in path order.
    pub subcharts: Vec<Chart>,
}

impl Chart {
    pub fn file(&self, rel: &str) -> Option<&SourceFile> {
        self.files.get(rel)
    }

    /// Template files (`templates/**`), in path order.
    pub fn templates(&self) -> impl Iterator<Item = (&String, &SourceFile)> {
        self.files
            .iter()
            .filter(|(k, _)| k.starts_with("templates/"))
    }

    /// Every file of this chart and its subcharts.
    pub fn all_files(&self) -> Vec<&SourceFile> {
        let mut v: Vec<&SourceFile> = self.files.values().collect();
        for s in &self.subcharts {
            v.extend(s.all_files());
        }
        v
    }
}

/// Whether lint keeps a file at `rel` (relative to a chart root).
fn wanted(rel: &str) -> bool {
    matches!(rel, "Chart.yaml" | "values.yaml" | ".chartpin.yaml")
        || (rel.starts_with("templates/")
            && [".yaml", ".yml", ".tpl", ".json"]
                .iter()
                .any(|e| rel.ends_with(e)))
}

fn is_archive(p: &Path) -> bool {
    let s = p.to_string_lossy();
    s.ends_with(".tgz") || s.ends_with(".tar.gz")
}

/// Every chart named by `path`: the chart itself, each chart found below a
/// plain directory, or the chart packaged in a `.tgz`. A directory with a
/// `values.yaml` but no `Chart.yaml` counts as a chart when named directly.
/// The walk below a plain directory does not enter hidden directories,
/// `target` or `node_modules`, nor go deeper than `MAX_WALK_DEPTH` (8): when
/// it finds no chart, the error lists what it did not search and why; when
/// it finds some, `-v` logs them.
pub fn discover(path: &Path) -> Result<Vec<Chart>, LintError> {
    let meta = std::fs::metadata(path).map_err(|e| LintError::io(path, e))?;
    if meta.is_file() {
        if is_archive(path) {
            let bytes = std::fs::read(path).map_err(|e| LintError::io(path, e))?;
            return load_archive(path, &bytes, path.to_path_buf(), 0);
        }
        return Err(InputError::file(
            path,
            "not a chart: expected a chart directory or a packaged chart (.tgz)",
        )
        .into());
    }
    if present(&path.join("Chart.yaml")) || present(&path.join("values.yaml")) {
        return Ok(vec![load_dir(path)?]);
    }
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    walk(path, 0, &mut found, &mut skipped)?;
    if found.is_empty() {
        let mut msg = "no chart found (no Chart.yaml below this directory)".to_string();
        if !skipped.is_empty() {
            let list: Vec<String> = skipped
                .iter()
                .map(|(p, why)| format!("{} ({why})", p.display()))
                .collect();
            msg.push_str(&format!("; not searched: {}", list.join(", ")));
        }
        return Err(InputError::file(path, msg).into());
    }
    for (p, why) in &skipped {
        tracing::info!("lint: not searched for charts: {} ({why})", p.display());
    }
    found
        .iter()
        .map(|d| load_dir(d))
        .collect::<Result<Vec<_>, _>>()
}

/// Why the walk did not look below a directory at `MAX_WALK_DEPTH`.
const TOO_DEEP: &str = "deeper than the walk for charts goes";

/// Why the walk for charts does not enter the directory `name`, if it does not.
fn skip_reason(name: &str) -> Option<&'static str> {
    if name.starts_with('.') {
        Some("hidden directory")
    } else if name == "target" {
        Some("build output")
    } else if name == "node_modules" {
        Some("npm packages")
    } else {
        None
    }
}

/// Collect the chart directories below `dir` into `found`, and the
/// directories not entered, with the reason, into `skipped`.
fn walk(
    dir: &Path,
    depth: usize,
    found: &mut Vec<PathBuf>,
    skipped: &mut Vec<(PathBuf, &'static str)>,
) -> Result<(), LintError> {
    if depth > MAX_WALK_DEPTH {
        skipped.push((dir.to_path_buf(), TOO_DEEP));
        return Ok(());
    }
    if present(&dir.join("Chart.yaml")) {
        found.push(dir.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| LintError::io(dir, e))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    entries.sort();
    for e in entries {
        let name = e.file_name().unwrap_or_default().to_string_lossy();
        match skip_reason(&name) {
            Some(why) => skipped.push((e, why)),
            None => walk(&e, depth + 1, found, skipped)?,
        }
    }
    Ok(())
}

/// Whether anything (file, directory, broken link) sits at `p`.
fn present(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

/// Whether a chart file lint reads is at `p`: `false` when nothing is
/// there; an input error when something is but it is not a regular file (a
/// directory named `values.yaml` would otherwise be skipped and lint would
/// pass, and reading a FIFO would block).
fn regular_file(p: &Path) -> Result<bool, LintError> {
    if !present(p) {
        return Ok(false);
    }
    let meta = std::fs::metadata(p).map_err(|e| LintError::io(p, e))?;
    if meta.is_file() {
        return Ok(true);
    }
    let what = if meta.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    };
    Err(InputError::file(p, format!("expected a chart file, found {what}")).into())
}

fn read_text(path: &Path, bytes: Vec<u8>) -> Result<SourceFile, LintError> {
    SourceFile::from_bytes(path, bytes).map_err(|e| InputError::unreadable(path, e).into())
}

/// Load a chart directory and its subcharts.
pub fn load_dir(dir: &Path) -> Result<Chart, LintError> {
    let mut files = BTreeMap::new();
    for rel in ["Chart.yaml", "values.yaml", ".chartpin.yaml"] {
        let p = dir.join(rel);
        if regular_file(&p)? {
            let bytes = std::fs::read(&p).map_err(|e| LintError::io(&p, e))?;
            files.insert(rel.to_string(), read_text(&p, bytes)?);
        }
    }
    let templates = dir.join("templates");
    if templates.is_dir() {
        let mut stack = vec![templates];
        let mut seen = 0usize;
        while let Some(d) = stack.pop() {
            seen += 1;
            if seen > 10_000 {
                break;
            }
            for e in std::fs::read_dir(&d).map_err(|e| LintError::io(&d, e))? {
                let e = e.map_err(|e| LintError::io(&d, e))?;
                let p = e.path();
                let ft = e.file_type().map_err(|err| LintError::io(&p, err))?;
                if ft.is_dir() {
                    stack.push(p);
                    continue;
                }
                let rel = rel_string(dir, &p);
                if wanted(&rel) && regular_file(&p)? {
                    let bytes = std::fs::read(&p).map_err(|e| LintError::io(&p, e))?;
                    files.insert(rel, read_text(&p, bytes)?);
                }
            }
        }
    }
    let mut subcharts = Vec::new();
    let charts = dir.join("charts");
    if charts.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&charts)
            .map_err(|e| LintError::io(&charts, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() && present(&p.join("Chart.yaml")) {
                subcharts.push(load_dir(&p)?);
            } else if p.is_file() && is_archive(&p) {
                let bytes = std::fs::read(&p).map_err(|e| LintError::io(&p, e))?;
                subcharts.extend(load_archive(&p, &bytes, p.clone(), 1)?);
            }
        }
    }
    let name = chart_name(&files).unwrap_or_else(|| {
        dir.canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| dir.display().to_string())
    });
    assign_aliases(&files, &mut subcharts);
    Ok(Chart {
        root: dir.to_path_buf(),
        name,
        origin: ChartOrigin::Dir(dir.to_path_buf()),
        files,
        alias: None,
        subcharts,
    })
}

fn rel_string(base: &Path, p: &Path) -> String {
    p.strip_prefix(base)
        .unwrap_or(p)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// `name:` from Chart.yaml, read without a full YAML parse failure mattering here
/// (a malformed Chart.yaml is reported where it is linted).
fn chart_name(files: &BTreeMap<String, SourceFile>) -> Option<String> {
    let chart = files.get("Chart.yaml")?;
    let root = super::yaml::parse_one(chart).ok()??;
    root.get("name")?.as_str().map(str::to_string)
}

/// Set each subchart's alias from the parent's `dependencies` (matched by name).
fn assign_aliases(files: &BTreeMap<String, SourceFile>, subcharts: &mut [Chart]) {
    use super::yaml::Node;
    let Some(Ok(Some(root))) = files.get("Chart.yaml").map(super::yaml::parse_one) else {
        return;
    };
    let Some(Node::Seq { items, .. }) = root.get("dependencies") else {
        return;
    };
    for sub in subcharts.iter_mut() {
        sub.alias = items
            .iter()
            .find(|d| d.get("name").and_then(Node::as_str) == Some(sub.name.as_str()))
            .and_then(|d| d.get("alias").and_then(Node::as_str))
            .map(str::to_string);
    }
}

/// Read a packaged chart in memory. `shown` is the path findings use for
/// the archive; entries escaping the archive root are refused.
pub fn load_archive(
    path: &Path,
    bytes: &[u8],
    shown: PathBuf,
    nesting: usize,
) -> Result<Vec<Chart>, LintError> {
    if nesting > MAX_ARCHIVE_NESTING {
        return Err(InputError::file(path, "packaged subcharts nested too deeply").into());
    }
    let corrupt = |e: std::io::Error| -> LintError {
        InputError::file(path, format!("corrupt chart archive: {e}")).into()
    };
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut entries: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let kind = entry.header().entry_type();
        let raw = entry.path().map_err(corrupt)?.into_owned();
        let mut parts = Vec::new();
        for c in raw.components() {
            match c {
                Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
                Component::CurDir => {}
                Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                    return Err(InputError::file(
                        path,
                        format!(
                            "archive entry `{}` escapes the archive root; refusing the archive",
                            raw.display()
                        ),
                    )
                    .into());
                }
            }
        }
        if !kind.is_file() || parts.is_empty() {
            continue;
        }
        let rel = parts.join("/");
        let keep = parts.len() >= 2 && {
            let inner = parts[1..].join("/");
            wanted(&inner)
                || inner.contains("/charts/")
                || inner.starts_with("charts/")
                || inner.ends_with("/Chart.yaml")
                || inner.ends_with("/values.yaml")
                || inner.contains("/templates/")
        };
        if !keep {
            continue;
        }
        if entry.size() > MAX_ENTRY_BYTES {
            return Err(
                InputError::file(path, format!("archive entry `{rel}` is too large")).into(),
            );
        }
        let mut buf = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut buf).map_err(corrupt)?;
        entries.insert(rel, buf);
    }
    let mut tops: Vec<String> = entries
        .keys()
        .filter_map(|k| {
            let (top, rest) = k.split_once('/')?;
            (rest == "Chart.yaml").then(|| top.to_string())
        })
        .collect();
    tops.dedup();
    if tops.is_empty() {
        return Err(InputError::file(path, "archive holds no chart (no <name>/Chart.yaml)").into());
    }
    let origin = if nesting == 0 {
        ChartOrigin::Archive(path.to_path_buf())
    } else {
        ChartOrigin::Nested
    };
    tops.iter()
        .map(|t| chart_from_entries(path, &shown, &entries, t, origin.clone(), nesting))
        .collect()
}

fn chart_from_entries(
    archive: &Path,
    shown: &Path,
    entries: &BTreeMap<String, Vec<u8>>,
    prefix: &str,
    origin: ChartOrigin,
    nesting: usize,
) -> Result<Chart, LintError> {
    let root = shown.join(prefix);
    let mut files = BTreeMap::new();
    let mut sub_dirs: BTreeMap<String, ()> = BTreeMap::new();
    let mut sub_archives = Vec::new();
    let lead = format!("{prefix}/");
    for (k, v) in entries.range(lead.clone()..) {
        let Some(rel) = k.strip_prefix(&lead) else {
            break;
        };
        if let Some(rest) = rel.strip_prefix("charts/") {
            match rest.split_once('/') {
                Some((sub, "Chart.yaml")) => {
                    sub_dirs.insert(sub.to_string(), ());
                }
                None if is_archive(Path::new(rest)) => sub_archives.push((rest.to_string(), v)),
                _ => {}
            }
            continue;
        }
        if wanted(rel) {
            files.insert(rel.to_string(), read_text(&root.join(rel), v.clone())?);
        }
    }
    let mut subcharts = Vec::new();
    for sub in sub_dirs.keys() {
        subcharts.push(chart_from_entries(
            archive,
            shown,
            entries,
            &format!("{prefix}/charts/{sub}"),
            ChartOrigin::Nested,
            nesting,
        )?);
    }
    for (name, bytes) in sub_archives {
        let inner_shown = root.join("charts").join(&name);
        subcharts.extend(load_archive(archive, bytes, inner_shown, nesting + 1)?);
    }
    let name = chart_name(&files)
        .unwrap_or_else(|| prefix.rsplit('/').next().unwrap_or(prefix).to_string());
    assign_aliases(&files, &mut subcharts);
    Ok(Chart {
        root,
        name,
        origin,
        files,
        alias: None,
        subcharts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tgz(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (p, body) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            // set_path refuses `..`; write the name bytes directly to build hostile archives.
            let name = h.as_old_mut().name.as_mut();
            name[..p.len()].copy_from_slice(p.as_bytes());
            h.set_cksum();
            b.append(&h, body.as_bytes()).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn archive_charts_load_in_memory_with_subcharts() {
        let bytes = tgz(&[
            ("app/Chart.yaml", "name: app\nversion: 1.0.0\n"),
            ("app/values.yaml", "image: nginx:1.25\n"),
            ("app/templates/d.yaml", "image: busybox\n"),
            ("app/charts/sub/Chart.yaml", "name: sub\n"),
            ("app/charts/sub/values.yaml", "image: x\n"),
            ("app/README.md", "ignored"),
        ]);
        let charts = load_archive(Path::new("app.tgz"), &bytes, "app.tgz".into(), 0).unwrap();
        assert_eq!(charts.len(), 1);
        let c = &charts[0];
        assert_eq!(c.name, "app");
        assert_eq!(c.root, PathBuf::from("app.tgz/app"));
        assert!(c.file("templates/d.yaml").is_some());
        assert!(c.file("README.md").is_none());
        assert_eq!(c.subcharts.len(), 1);
        assert_eq!(
            c.subcharts[0].file("values.yaml").unwrap().path,
            PathBuf::from("app.tgz/app/charts/sub/values.yaml")
        );
    }

    #[test]
    fn entries_escaping_the_root_are_refused() {
        for bad in ["../evil/Chart.yaml", "/etc/Chart.yaml", "app/../../x"] {
            let bytes = tgz(&[("app/Chart.yaml", "name: app\n"), (bad, "x")]);
            let err = load_archive(Path::new("a.tgz"), &bytes, "a.tgz".into(), 0).unwrap_err();
            assert!(
                err.to_string().contains("escapes the archive root"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn corrupt_archives_are_input_errors() {
        let err =
            load_archive(Path::new("c.tgz"), b"not gzip at all", "c.tgz".into(), 0).unwrap_err();
        assert!(matches!(err, LintError::Input(_)), "{err}");
        let mut good = tgz(&[("app/Chart.yaml", "name: app\n")]);
        good.truncate(good.len() / 2);
        assert!(load_archive(Path::new("c.tgz"), &good, "c.tgz".into(), 0).is_err());
    }
}
