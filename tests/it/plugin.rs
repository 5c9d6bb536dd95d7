//! The Helm plugin (plugin.yaml at the repository root, command
//! scripts/helm-chartpin) installed with the real `helm` into temporary
//! helm homes, then run as `helm chartpin …`: findings, exit codes and
//! flags pass through helm unchanged.
//!
//! Quirk (helm v4.1.4): `helm plugin install <dir>` linked the plugin into
//! `$HELM_DATA_HOME/plugins` even with HELM_PLUGINS set elsewhere, while
//! loading honoured HELM_PLUGINS; so both point at the same directory here.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::cli::text;
use crate::support::helm::HelmHome;

impl HelmHome {
    /// `helm ARGS` in this home, with CHARTPIN_BIN set for the plugin's
    /// wrapper script.
    fn helm(&self, args: &[&str]) -> Output {
        self.command(args)
            .env("CHARTPIN_BIN", env!("CARGO_BIN_EXE_chartpin"))
            .output()
            .expect("run helm")
    }
}

#[test]
fn helm_chartpin_lint_runs_through_the_installed_plugin() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let home = HelmHome::new();
    let install = home.helm(&["plugin", "install", repo.to_str().unwrap()]);
    assert!(
        install.status.success(),
        "helm plugin install failed: {}",
        text(&install.stderr)
    );
    assert!(
        std::fs::read_dir(home.plugins()).unwrap().count() == 1,
        "the plugin was not installed into {}",
        home.plugins().display()
    );
    let list = home.helm(&["plugin", "list"]);
    assert!(
        text(&list.stdout).contains("chartpin"),
        "{}",
        text(&list.stdout)
    );

    // A chart whose digest is ignored (OSM: the tag wins) and one left empty.
    let chart = repo.join("testdata/lint/osm-tagwins");
    let lint = home.helm(&[
        "chartpin",
        "lint",
        chart.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(lint.status.code(), Some(1), "{}", text(&lint.stderr));
    let doc: serde_json::Value =
        serde_json::from_slice(&lint.stdout).expect("JSON from the plugin");
    let found: Vec<(String, u64, u64)> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("digest-field-ignored".to_string(), 10, 22),
            ("empty-digest".to_string(), 11, 20)
        ]
    );

    // Human output and the other exit codes pass through helm too.
    let human = home.helm(&[
        "chartpin",
        "lint",
        chart.to_str().unwrap(),
        "--format",
        "human",
    ]);
    assert!(
        text(&human.stdout).contains("values.yaml:10:22: error[digest-field-ignored]"),
        "{}",
        text(&human.stdout)
    );
    let missing = home.helm(&["chartpin", "lint", "/nonexistent/chart"]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing.stderr));
    let version = home.helm(&["chartpin", "--version"]);
    assert!(version.status.success());
    assert!(
        text(&version.stdout).starts_with("chartpin "),
        "{}",
        text(&version.stdout)
    );
}

#[test]
fn the_wrapper_names_the_fix_when_no_binary_is_found() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let empty = tempfile::tempdir().unwrap();
    // A plugin directory without a build, no CHARTPIN_BIN, no chartpin on PATH.
    let out = Command::new(repo.join("scripts/helm-chartpin"))
        .arg("lint")
        .env("HELM_PLUGIN_DIR", empty.path())
        .env("PATH", "/usr/bin:/bin")
        .env_remove("CHARTPIN_BIN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cargo install --locked --path"),
        "{}",
        text(&out.stderr)
    );
}
