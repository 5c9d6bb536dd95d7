//! Running the real `helm template`: the one place chartpin starts helm.
//!
//! What a chart renders is the truth about which images a cluster pulls, and
//! only helm renders a chart the way helm does. This module finds the binary
//! (`--helm PATH`, else the first `helm` on `PATH`), runs `helm template` on a
//! chart directory or packaged `.tgz` with the user's values files and
//! `--set` strings plus any values chartpin itself lays on top (a probe's
//! markers, say), and returns what helm printed, or helm's own message.
//!
//! It knows nothing of images: `probe`, `lint` and `release` read the output.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What `pin` and `release` say once on standard error when they render by
/// default and cannot (`why`: helm is not on PATH, no chart has `Chart.yaml`).
pub fn render_skipped_notice(why: &str) -> String {
    format!(
        "chartpin: rendering skipped: {why}; images are found and pinned by the values conventions alone (install helm with scripts/install-deps or name it with --helm PATH; --no-render says this is meant)"
    )
}

/// Where to find helm and what to give it besides the chart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RenderSpec {
    /// `--helm PATH`; `None` looks on `PATH`.
    pub helm: Option<PathBuf>,
    /// `--values-file FILE` (repeatable): passed to helm as `-f FILE`, in order.
    pub values_files: Vec<PathBuf>,
    /// `--set KEY=VALUE` (repeatable): passed to helm as `--set`, in order.
    pub sets: Vec<String>,
}

/// Whether a command renders the chart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RenderMode {
    /// Render when helm is found; say once on standard error when it is not.
    #[default]
    Auto,
    /// `--render`: render, and refuse (exit 2) when helm cannot be found.
    Required,
    /// `--no-render` (or a command that renders only when asked): never render.
    Off,
}

/// Why helm could not render. Every one exits 2.
#[derive(Debug, thiserror::Error)]
pub enum HelmError {
    /// No helm where asked, or none on `PATH`.
    #[error(
        "rendering needs `helm`, and {} (install Helm, or run scripts/install-deps, which puts it in .tools/bin)",
        match .0 { Some(p) => format!("{} is not an executable file", p.display()), None => "it is not on PATH".to_string() }
    )]
    Missing(Option<PathBuf>),
    /// helm could not be started.
    #[error("could not run {}: {source}", helm.display())]
    Spawn {
        helm: PathBuf,
        source: std::io::Error,
    },
    /// helm ran and refused the chart; its own message, and a hint.
    #[error(
        "`helm template {release} {}` failed ({status}): {message}\nhint: a chart that needs values to render takes them with --values-file FILE or --set KEY=VALUE",
        chart.display()
    )]
    Failed {
        release: String,
        chart: PathBuf,
        status: std::process::ExitStatus,
        message: String,
    },
    /// helm printed something that is not UTF-8.
    #[error("`helm template` on {} printed invalid UTF-8", chart.display())]
    NotUtf8 { chart: PathBuf },
    /// A values file chartpin writes for helm could not be written.
    #[error("could not write values for helm in {}: {source}", dir.display())]
    Scratch {
        dir: PathBuf,
        source: std::io::Error,
    },
}

impl HelmError {
    /// The same error with every mention of `from` (a staged copy's path)
    /// shown as `to` (the chart the user named).
    pub fn shown_as(self, from: &Path, to: &Path) -> HelmError {
        match self {
            HelmError::Failed {
                release,
                chart,
                status,
                message,
            } => {
                let from = from.display().to_string();
                let to_s = to.display().to_string();
                HelmError::Failed {
                    release,
                    chart: if chart.starts_with(&from) {
                        PathBuf::from(chart.display().to_string().replace(&from, &to_s))
                    } else {
                        chart
                    },
                    status,
                    message: message.replace(&from, &to_s),
                }
            }
            HelmError::NotUtf8 { .. } => HelmError::NotUtf8 {
                chart: to.to_path_buf(),
            },
            e => e,
        }
    }
}

/// A helm binary that was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Helm {
    path: PathBuf,
}

impl Helm {
    /// helm at `explicit`, else the first `helm` on `PATH`.
    pub fn find(explicit: Option<&Path>) -> Result<Helm, HelmError> {
        if let Some(p) = explicit {
            return if p.is_file() {
                Ok(Helm {
                    path: p.to_path_buf(),
                })
            } else {
                Err(HelmError::Missing(Some(p.to_path_buf())))
            };
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|d| d.join("helm"))
            .find(|p| p.is_file())
            .map(|path| Helm { path })
            .ok_or(HelmError::Missing(None))
    }

    /// helm for `mode`: `Ok(None)` when rendering is off, or automatic and
    /// helm is not found; an error only when `--render` asked for it.
    pub fn for_mode(mode: RenderMode, spec: &RenderSpec) -> Result<Option<Helm>, HelmError> {
        match mode {
            RenderMode::Off => Ok(None),
            RenderMode::Required => Helm::find(spec.helm.as_deref()).map(Some),
            RenderMode::Auto => match Helm::find(spec.helm.as_deref()) {
                Ok(h) => Ok(Some(h)),
                // An explicit `--helm` that is wrong is a mistake, not a skip.
                Err(e @ HelmError::Missing(Some(_))) => Err(e),
                Err(_) => Ok(None),
            },
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `helm template <release> <chart>` with the spec's values files and
    /// `--set` strings, then each of `extra` (YAML texts chartpin lays over
    /// them, last wins) as a further `-f`. Returns what helm printed.
    pub fn template(
        &self,
        release: &str,
        chart: &Path,
        spec: &RenderSpec,
        extra: &[String],
    ) -> Result<String, HelmError> {
        let _step = crate::steps::step("helm template");
        let release = if release.is_empty() {
            "release"
        } else {
            release
        };
        let scratch = if extra.is_empty() {
            None
        } else {
            Some(
                tempfile::Builder::new()
                    .prefix("chartpin-helm-")
                    .tempdir()
                    .map_err(|source| HelmError::Scratch {
                        dir: std::env::temp_dir(),
                        source,
                    })?,
            )
        };
        let mut cmd = Command::new(&self.path);
        cmd.arg("template").arg(release).arg(chart);
        for f in &spec.values_files {
            cmd.arg("-f").arg(f);
        }
        for s in &spec.sets {
            cmd.arg("--set").arg(s);
        }
        if let Some(dir) = &scratch {
            for (i, text) in extra.iter().enumerate() {
                let p = dir.path().join(format!("chartpin-{i}.yaml"));
                std::fs::write(&p, text).map_err(|source| HelmError::Scratch {
                    dir: dir.path().to_path_buf(),
                    source,
                })?;
                cmd.arg("-f").arg(p);
            }
        }
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|source| HelmError::Spawn {
                helm: self.path.clone(),
                source,
            })?;
        if !out.status.success() {
            return Err(HelmError::Failed {
                release: release.to_string(),
                chart: chart.to_path_buf(),
                status: out.status,
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        String::from_utf8(out.stdout).map_err(|_| HelmError::NotUtf8 {
            chart: chart.to_path_buf(),
        })
    }
}
