//! The one chart reader: every use case (`pin`, `lint`, `verify`,
//! `release`) sees a chart through a [`Chart`] read here, never by walking
//! the directory itself.
//!
//! A chart is a directory, a directory holding several charts (each found by
//! its `Chart.yaml`), or a packaged `.tgz` read in memory (`archive.rs`).
//! Subcharts under `charts/` (directories and `.tgz`) load with their
//! parent, each with the alias and `condition:` the parent's `Chart.yaml`
//! gives it. A chart keeps `Chart.yaml`, `values.yaml`, `.chartpin.yaml`
//! and every file under `templates/`, whatever its extension, because helm
//! renders every one of them except `_*` partials and `NOTES.txt`.
//!
//! The reader is where hostile input stops (a chart may come from anyone's
//! pull request): every file must be a regular file (a FIFO is refused
//! without being opened for a blocking read), no larger than the input size
//! limit ([`crate::limits`]), and must lie inside the chart that was named,
//! symlinks included; a walk that would go past its limit is an input error,
//! never a silent skip. All of these exit 2 and name the file.
//!
//! Release lints the chart it is about to write without copying it: it
//! replaces the planned files in memory ([`Chart::replace_file`]). Only
//! rendering needs a disk copy ([`stage`]).
//!
//! Rendering as the source of truth (probing which values paths compose
//! each rendered image) builds on the same two pieces: a [`Chart`] holds
//! every values file that feeds a render (its own `values.yaml` and each
//! subchart's, reached from the parent's values under
//! [`Chart::values_key`], skipped when [`Chart::condition`] is false), and
//! a probe is a clone with those files replaced by marked copies, staged
//! once per render; rendered images map back to the files and spans kept
//! here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::diag::InputError;
use crate::source::{ReadError, SourceFile};

mod archive;
pub mod stage;

/// How deep a directory walk looks for `Chart.yaml` files.
const MAX_WALK_DEPTH: usize = 8;
/// Most directories read under one chart's `templates/`; past it, an input error.
pub const MAX_TEMPLATE_DIRS: usize = 10_000;

/// Where a chart came from, for running `helm template` on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChartOrigin {
    Dir(PathBuf),
    /// A packaged chart on disk.
    Archive(PathBuf),
    /// A chart inside another chart's archive (not renderable on its own).
    Nested,
}

/// One entry of `Chart.yaml`'s `dependencies`, as far as reading needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dependency {
    pub name: String,
    pub alias: Option<String>,
    /// `condition:`: comma-separated values paths; the first that holds a boolean decides.
    pub condition: Option<String>,
}

/// What `Chart.yaml` says that the reader uses. A malformed `Chart.yaml`
/// reads as empty here; lint reports it where it parses the file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChartMeta {
    pub name: Option<String>,
    pub version: Option<String>,
    pub app_version: Option<String>,
    pub dependencies: Vec<Dependency>,
}

impl ChartMeta {
    fn parse(src: &SourceFile) -> ChartMeta {
        // The one YAML tree (duplicate keys refused, as serde-saphyr did here).
        let Ok(yaml) = crate::yaml::parse(src, crate::yaml::Options::default()) else {
            return ChartMeta::default();
        };
        let Some(doc) = yaml.roots().next() else {
            return ChartMeta::default();
        };
        // A string or number as written; booleans and nulls are not text.
        let text = |v: &crate::yaml::Node<'_>, key: &str| -> Option<String> {
            let s = v.get(key)?.as_scalar()?;
            let plain = s.style == crate::yaml::QuoteStyle::Plain;
            let keyword = matches!(
                s.value.to_ascii_lowercase().as_str(),
                "true" | "false" | "null" | "~" | ""
            );
            (!(s.is_null || plain && keyword)).then(|| s.value.to_string())
        };
        let dependencies = match doc.get("dependencies") {
            Some(crate::yaml::Node::Seq(items)) => items
                .items
                .iter()
                .filter_map(|d| {
                    Some(Dependency {
                        name: text(d, "name")?,
                        alias: text(d, "alias"),
                        condition: text(d, "condition"),
                    })
                })
                .collect(),
            _ => Vec::new(),
        };
        ChartMeta {
            name: text(doc, "name"),
            version: text(doc, "version"),
            app_version: text(doc, "appVersion"),
            dependencies,
        }
    }
}

/// A chart's files in memory, keyed by path relative to the chart root (`/`-separated).
#[derive(Clone, Debug)]
pub struct Chart {
    /// The chart root as shown in findings: a directory, or `pkg.tgz/<name>` inside an archive.
    pub root: PathBuf,
    /// `name` from `Chart.yaml`, else the directory name.
    pub name: String,
    pub origin: ChartOrigin,
    pub meta: ChartMeta,
    pub files: BTreeMap<String, SourceFile>,
    /// The alias the parent's `Chart.yaml` gives this subchart, if any.
    pub alias: Option<String>,
    /// The parent's `condition:` for this subchart, if any.
    pub condition: Option<String>,
    /// Subcharts under `charts/`, in path order.
    pub subcharts: Vec<Chart>,
    /// The canonical directory of the chart that was named (for a directory
    /// chart): nothing outside it is read or staged.
    boundary: Option<PathBuf>,
    /// Files replaced in memory ([`Chart::replace_file`]), relative paths.
    replaced: BTreeSet<String>,
}

/// A values file of a directory chart, ready to parse and write.
#[derive(Clone, Debug)]
pub struct ValuesSource {
    /// The path as the user named it (`chart/values.yaml`).
    pub shown: PathBuf,
    /// The canonical path, the one a pin writes.
    pub real: PathBuf,
    pub source: SourceFile,
}

/// Whether helm renders the template at `rel` (`templates/…`): every file
/// except `_*` partials and `NOTES.txt`, whatever its extension.
pub fn helm_renders(rel: &str) -> bool {
    let base = rel.rsplit('/').next().unwrap_or(rel);
    !base.starts_with('_') && base != "NOTES.txt"
}

impl Chart {
    /// A chart made in memory (tests, rendered-stream helpers).
    pub fn in_memory(
        root: impl Into<PathBuf>,
        name: &str,
        files: BTreeMap<String, SourceFile>,
    ) -> Chart {
        Chart {
            root: root.into(),
            name: name.to_string(),
            origin: ChartOrigin::Nested,
            meta: ChartMeta::default(),
            files,
            alias: None,
            condition: None,
            subcharts: Vec::new(),
            boundary: None,
            replaced: BTreeSet::new(),
        }
    }

    pub fn file(&self, rel: &str) -> Option<&SourceFile> {
        self.files.get(rel)
    }

    /// Every file under `templates/` (partials and `NOTES.txt` included), in path order.
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

    /// Every file of this chart and its subcharts, to change in memory.
    pub fn all_files_mut(&mut self) -> Vec<&mut SourceFile> {
        let mut v: Vec<&mut SourceFile> = self.files.values_mut().collect();
        for s in &mut self.subcharts {
            v.extend(s.all_files_mut());
        }
        v
    }

    /// The key a parent's values use for this subchart: its alias, else its name.
    pub fn values_key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }

    /// The subchart a path under `charts/<dir>/` is in, and the rest of the
    /// path: by its directory's name, else by its chart name (helm's
    /// `# Source:` lines name a subchart by its name).
    fn subchart_at(&self, rel: &str) -> Option<(usize, String)> {
        let (dir, inner) = rel.strip_prefix("charts/")?.split_once('/')?;
        let by_dir = self.subcharts.iter().position(|s| {
            s.root
                .file_name()
                .is_some_and(|n| n.to_string_lossy() == dir)
        });
        let i = by_dir.or_else(|| self.subcharts.iter().position(|s| s.name == dir))?;
        Some((i, inner.to_string()))
    }

    /// The chart holding the file at `rel` (relative to this chart's root)
    /// and the file's path inside it: this chart, or the subchart
    /// `charts/x/templates/y.yaml` lies in (at any depth).
    pub fn holding(&self, rel: &str) -> Option<(&Chart, String)> {
        if self.files.contains_key(rel) {
            return Some((self, rel.to_string()));
        }
        let (i, inner) = self.subchart_at(rel)?;
        self.subcharts[i].holding(&inner)
    }

    /// The file at `rel` in this chart or, under `charts/`, in a subchart.
    pub fn file_deep(&self, rel: &str) -> Option<&SourceFile> {
        let (c, inner) = self.holding(rel)?;
        c.file(&inner)
    }

    /// Put `text` in place of the file at `rel` (relative to the root), in
    /// memory only: what release lints before it writes anything. A file of
    /// a subchart (`charts/x/templates/y.yaml`) is replaced in the subchart.
    pub fn replace_file(&mut self, rel: &str, text: impl Into<crate::source::SharedText>) {
        if !self.files.contains_key(rel)
            && let Some((i, inner)) = self.subchart_at(rel)
            && self.subcharts[i].holding(&inner).is_some()
        {
            self.subcharts[i].replace_file(&inner, text);
            self.replaced.insert(rel.to_string());
            return;
        }
        let path = self.root.join(rel);
        self.files
            .insert(rel.to_string(), SourceFile::new(path, text));
        self.replaced.insert(rel.to_string());
    }

    /// The values files `names` (default `values.yaml`) of this directory
    /// chart, each checked to lie inside it: a path or symlink that leads
    /// outside the chart, or anything but a regular file, is an input error.
    pub fn values_files(&self, names: &[PathBuf]) -> Result<Vec<ValuesSource>, InputError> {
        let (ChartOrigin::Dir(dir), Some(real_dir)) = (&self.origin, &self.boundary) else {
            return Err(InputError::file(
                &self.root,
                "is a packaged chart; values are pinned in chart directories",
            ));
        };
        let names = if names.is_empty() {
            vec![PathBuf::from("values.yaml")]
        } else {
            names.to_vec()
        };
        let mut out = Vec::new();
        for name in names {
            let shown = if name.is_absolute() {
                name.clone()
            } else {
                dir.join(&name)
            };
            let real = shown
                .canonicalize()
                .map_err(|e| InputError::file(&shown, format!("cannot read values file: {e}")))?;
            if !real.starts_with(real_dir) {
                return Err(InputError::file(
                    &shown,
                    format!(
                        "values file resolves to {}, outside the chart {}; refusing to read or write it",
                        real.display(),
                        real_dir.display()
                    ),
                ));
            }
            let source = match self.files.get("values.yaml") {
                Some(src) if *src.path == *shown => src.clone(),
                _ => SourceFile::read_regular(&real, &shown)
                    .map_err(|e| InputError::unreadable(&shown, e))?,
            };
            out.push(ValuesSource {
                shown,
                real,
                source,
            });
        }
        Ok(out)
    }
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
pub fn discover(path: &Path) -> Result<Vec<Chart>, InputError> {
    let meta = std::fs::metadata(path).map_err(|e| io(path, e))?;
    if meta.is_file() && is_archive(path) {
        return Ok(vec![archive::load_file(path)?]);
    }
    if !meta.is_dir() {
        return Err(InputError::file(
            path,
            "not a chart: expected a chart directory or a packaged chart (.tgz)",
        ));
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
        return Err(InputError::file(path, msg));
    }
    for (p, why) in &skipped {
        tracing::info!("lint: not searched for charts: {} ({why})", p.display());
    }
    found.iter().map(|d| load_dir(d)).collect()
}

fn io(path: &Path, e: std::io::Error) -> InputError {
    InputError::file(path, e.to_string())
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
) -> Result<(), InputError> {
    if depth > MAX_WALK_DEPTH {
        skipped.push((dir.to_path_buf(), TOO_DEEP));
        return Ok(());
    }
    if present(&dir.join("Chart.yaml")) {
        found.push(dir.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
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

/// `p` (shown as `shown`) canonicalised, refused when it leads outside `boundary`.
fn inside(p: &Path, shown: &Path, boundary: &Path) -> Result<PathBuf, InputError> {
    let real = p.canonicalize().map_err(|e| io(shown, e))?;
    if !real.starts_with(boundary) {
        return Err(InputError::file(
            shown,
            format!(
                "resolves to {}, outside the chart {}; refusing to read it",
                real.display(),
                boundary.display()
            ),
        ));
    }
    Ok(real)
}

/// The chart file at `p`, if anything is there: a regular file inside
/// `boundary`, read within the size limit, or the input error saying why not
/// (a directory named `values.yaml` would otherwise be skipped and lint
/// would pass; reading a FIFO would block).
fn read_chart_file(p: &Path, boundary: &Path) -> Result<Option<SourceFile>, InputError> {
    if !present(p) {
        return Ok(None);
    }
    let real = inside(p, p, boundary)?;
    match SourceFile::read_regular(&real, p) {
        Ok(src) => Ok(Some(src)),
        Err(ReadError::Directory) => Err(InputError::file(
            p,
            "expected a chart file, found a directory",
        )),
        Err(e) => Err(InputError::unreadable(p, e)),
    }
}

/// Load a chart directory and its subcharts.
pub fn load_dir(dir: &Path) -> Result<Chart, InputError> {
    let boundary = dir.canonicalize().map_err(|e| io(dir, e))?;
    load_dir_within(dir, &boundary)
}

fn load_dir_within(dir: &Path, boundary: &Path) -> Result<Chart, InputError> {
    let mut files = BTreeMap::new();
    for rel in [
        "Chart.yaml",
        "values.yaml",
        "values.schema.json",
        ".chartpin.yaml",
    ] {
        if let Some(src) = read_chart_file(&dir.join(rel), boundary)? {
            files.insert(rel.to_string(), src);
        }
    }
    read_templates(dir, boundary, &mut files)?;
    let mut subcharts = Vec::new();
    let charts = dir.join("charts");
    if charts.is_dir() {
        inside(&charts, &charts, boundary)?;
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&charts)
            .map_err(|e| io(&charts, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() && present(&p.join("Chart.yaml")) {
                inside(&p, &p, boundary)?;
                subcharts.push(load_dir_within(&p, boundary)?);
            } else if is_archive(&p) && present(&p) {
                inside(&p, &p, boundary)?;
                subcharts.push(archive::load_file_nested(&p)?);
            }
        }
    }
    let meta = files
        .get("Chart.yaml")
        .map(ChartMeta::parse)
        .unwrap_or_default();
    let name = meta.name.clone().unwrap_or_else(|| {
        dir.canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| dir.display().to_string())
    });
    assign_dependencies(&meta, &mut subcharts);
    Ok(Chart {
        root: dir.to_path_buf(),
        name,
        origin: ChartOrigin::Dir(dir.to_path_buf()),
        meta,
        files,
        alias: None,
        condition: None,
        subcharts,
        boundary: Some(boundary.to_path_buf()),
        replaced: BTreeSet::new(),
    })
}

/// Every file under `dir/templates`, at most [`MAX_TEMPLATE_DIRS`] directories.
fn read_templates(
    dir: &Path,
    boundary: &Path,
    files: &mut BTreeMap<String, SourceFile>,
) -> Result<(), InputError> {
    let templates = dir.join("templates");
    if !templates.is_dir() {
        return Ok(());
    }
    // (directory as shown, its real path); a directory reached again through
    // a symlink (a cycle, or two links to one place) is read once.
    let mut stack = vec![(templates.clone(), inside(&templates, &templates, boundary)?)];
    let mut visited: BTreeSet<PathBuf> = BTreeSet::new();
    while let Some((shown, real)) = stack.pop() {
        if !visited.insert(real.clone()) {
            continue;
        }
        if visited.len() > MAX_TEMPLATE_DIRS {
            return Err(InputError::file(
                &templates,
                format!(
                    "more than {MAX_TEMPLATE_DIRS} directories; chartpin reads at most {MAX_TEMPLATE_DIRS} under one chart's templates/ and refuses the chart rather than lint part of it"
                ),
            ));
        }
        let mut entries: Vec<_> = std::fs::read_dir(&real)
            .map_err(|e| io(&shown, e))?
            .collect::<Result<_, _>>()
            .map_err(|e| io(&shown, e))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = shown.join(e.file_name());
            // Symlinks are followed (helm follows them), within the chart only.
            if std::fs::metadata(real.join(e.file_name())).is_ok_and(|m| m.is_dir()) {
                let r = inside(&real.join(e.file_name()), &p, boundary)?;
                stack.push((p, r));
                continue;
            }
            if let Some(src) = read_chart_file(&p, boundary)? {
                files.insert(rel_string(dir, &p), src);
            }
        }
    }
    Ok(())
}

fn rel_string(base: &Path, p: &Path) -> String {
    p.strip_prefix(base)
        .unwrap_or(p)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Set each subchart's alias and condition from the parent's `dependencies` (matched by name).
fn assign_dependencies(meta: &ChartMeta, subcharts: &mut [Chart]) {
    for sub in subcharts.iter_mut() {
        let dep = meta.dependencies.iter().find(|d| d.name == sub.name);
        sub.alias = dep.and_then(|d| d.alias.clone());
        sub.condition = dep.and_then(|d| d.condition.clone());
    }
}

#[cfg(test)]
mod tests;
