//! The real `helm`, found on PATH first, then at `<repo>/.tools/bin/helm`
//! (where scripts/install-deps puts it). A test that needs helm and cannot
//! find it fails, naming the install script; it never skips.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The helm binary tests use.
pub fn helm() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("helm"))
            .find(|p| p.is_file())
    });
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/bin/helm");
    match on_path {
        Some(p) => p,
        None if local.is_file() => local,
        None => panic!(
            "helm is not on PATH nor at {}: run scripts/install-deps to install it",
            local.display()
        ),
    }
}

/// A PATH value that puts helm's directory first.
pub fn path_with_helm() -> std::ffi::OsString {
    let dir = helm().parent().unwrap().to_path_buf();
    let mut dirs = vec![dir];
    if let Some(p) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&p));
    }
    std::env::join_paths(dirs).unwrap()
}

/// `helm package CHART -d DEST`: the path of the `.tgz` it wrote.
pub fn package(chart: &Path, dest: &Path) -> PathBuf {
    let out = Command::new(helm())
        .arg("package")
        .arg(chart)
        .arg("-d")
        .arg(dest)
        .output()
        .expect("run helm package");
    assert!(
        out.status.success(),
        "helm package failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut tgz: Vec<PathBuf> = std::fs::read_dir(dest)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tgz"))
        .collect();
    assert_eq!(tgz.len(), 1, "expected one package in {}", dest.display());
    tgz.pop().unwrap()
}

/// `helm template NAME CHART`: the rendered stream.
pub fn template(name: &str, chart: &Path) -> String {
    let out = Command::new(helm())
        .args(["template", name])
        .arg(chart)
        .output()
        .expect("run helm template");
    assert!(
        out.status.success(),
        "helm template failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A temporary helm home: every helm directory (data, config, cache,
/// plugins, HOME) inside one temporary directory, for the plugin tests.
pub struct HelmHome {
    dir: tempfile::TempDir,
}

impl HelmHome {
    pub fn new() -> HelmHome {
        HelmHome {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn plugins(&self) -> PathBuf {
        self.dir.path().join("data/plugins")
    }

    /// `helm ARGS` with every helm directory in this home, plain output, CI
    /// set and no GitHub Actions variables; callers add what they need.
    pub fn command(&self, args: &[&str]) -> Command {
        let d = self.dir.path();
        let mut cmd = Command::new(helm());
        cmd.args(args)
            .env("HELM_DATA_HOME", d.join("data"))
            .env("HELM_CONFIG_HOME", d.join("config"))
            .env("HELM_CACHE_HOME", d.join("cache"))
            .env("HELM_PLUGINS", self.plugins())
            .env("HOME", d)
            .env("NO_COLOR", "1")
            .env("CI", "1")
            .env_remove("GITHUB_ACTIONS");
        cmd
    }
}
