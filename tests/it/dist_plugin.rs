//! The Helm plugin for Helm 3 and Helm 4, with the real helm v4 in
//! temporary helm homes: Helm 4 loads it natively (apiVersion v1, not
//! `legacy`) after the install hook swapped the manifest, without touching
//! the source's plugin.yaml; the hook fetches the release binary with a
//! checksum check, refuses a bad one, and keeps Helm 3 on the legacy
//! manifest; exit codes pass through.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::dist_action::{Server, release_assets_for};
use crate::support::cli::text;
use crate::support::helm::HelmHome;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

impl HelmHome {
    /// `helm ARGS` (the real helm v4) in this home with `env` added; PATH
    /// without a chartpin.
    fn helm_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = self.command(args);
        cmd.env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env_remove("CHARTPIN_BIN")
            .env_remove("HELM_BIN");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run helm")
    }

    /// The `helm plugin list` row of chartpin, split on whitespace.
    fn listed(&self) -> Vec<String> {
        let list = self.helm_env(&["plugin", "list"], &[]);
        let out = text(&list.stdout);
        assert!(out.starts_with("NAME"), "{out}");
        let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(
            &header[..4],
            ["NAME", "VERSION", "TYPE", "APIVERSION"],
            "{out}"
        );
        out.lines()
            .find(|l| l.starts_with("chartpin"))
            .unwrap_or_else(|| panic!("chartpin not listed:\n{out}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }
}

fn cargo_version() -> String {
    let toml = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    toml.lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .unwrap()
        .trim_end_matches('"')
        .to_string()
}

#[test]
fn helm_4_loads_the_plugin_as_v1_not_legacy_and_exit_codes_pass_through() {
    let before = std::fs::read(repo().join("plugin.yaml")).unwrap();
    let home = HelmHome::new();
    let bin = env!("CARGO_BIN_EXE_chartpin");
    let install = home.helm_env(
        &["plugin", "install", repo().to_str().unwrap()],
        &[("CHARTPIN_BIN", bin)],
    );
    assert!(install.status.success(), "{}", text(&install.stderr));
    assert!(
        text(&install.stderr).contains("Helm 4: installed the v1 manifest"),
        "{}",
        text(&install.stderr)
    );
    let row = home.listed();
    assert_eq!(row[1], cargo_version());
    assert_eq!(row[2], "cli/v1");
    assert_eq!(
        row[3], "v1",
        "Helm 4 must not load chartpin as legacy: {row:?}"
    );
    assert_eq!(
        std::fs::read(repo().join("plugin.yaml")).unwrap(),
        before,
        "the source's plugin.yaml stays the legacy one Helm 3 needs"
    );

    // Exit codes pass through: 0 clean, 1 findings, 2 input error. Helm adds
    // one line of its own after any non-zero exit (documented in README).
    let clean = home.helm_env(
        &[
            "chartpin",
            "lint",
            repo().join("testdata/release/chart").to_str().unwrap(),
        ],
        &[],
    );
    let findings = home.helm_env(
        &[
            "chartpin",
            "lint",
            repo().join("testdata/lint/osm-tagwins").to_str().unwrap(),
        ],
        &[],
    );
    let missing = home.helm_env(&["chartpin", "lint", "/nonexistent/chart"], &[]);
    assert_eq!(
        findings.status.code(),
        Some(1),
        "{}",
        text(&findings.stderr)
    );
    assert!(text(&findings.stdout).contains("error[digest-field-ignored]"));
    assert_eq!(
        text(&findings.stderr).trim_end().lines().last(),
        Some("Error: plugin \"chartpin\" exited with error")
    );
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing.stderr));
    let clean_code = clean.status.code();
    let direct = Command::new(bin)
        .args([
            "lint",
            repo().join("testdata/release/chart").to_str().unwrap(),
        ])
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    assert_eq!(
        clean_code,
        direct.status.code(),
        "helm passes chartpin's status as it is"
    );

    let uninstall = home.helm_env(&["plugin", "uninstall", "chartpin"], &[]);
    assert!(uninstall.status.success(), "{}", text(&uninstall.stderr));
    assert!(
        repo().join("scripts/helm-chartpin").is_file(),
        "uninstall left the source alone"
    );
}

/// The plugin's own files (manifests and scripts) in a fresh directory: a
/// source without a build, as a user's checkout or release would be.
fn plugin_source(dir: &Path) -> PathBuf {
    let src = dir.join("chartpin-plugin");
    std::fs::create_dir_all(src.join("scripts")).unwrap();
    for f in ["plugin.yaml", "plugin-v1.yaml"] {
        std::fs::copy(repo().join(f), src.join(f)).unwrap();
    }
    for f in ["helm-chartpin", "helm-plugin-install", "fetch-release"] {
        std::fs::copy(repo().join("scripts").join(f), src.join("scripts").join(f)).unwrap();
    }
    src
}

fn host_target() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "aarch64-unknown-linux-musl",
        _ => "x86_64-unknown-linux-musl",
    }
}

#[test]
fn the_install_hook_fetches_the_release_binary_and_refuses_a_bad_sum() {
    let tmp = tempfile::tempdir().unwrap();
    let version = cargo_version();
    release_assets_for(tmp.path(), &version, "fetched-chartpin", host_target());
    let server = Server::start(&tmp.path().join("releases"));
    let src = plugin_source(tmp.path());
    let env = [
        ("CHARTPIN_RELEASES_URL", server.url.as_str()),
        ("CHARTPIN_DOWNLOAD_RETRIES", "0"),
    ];

    let home = HelmHome::new();
    let install = home.helm_env(&["plugin", "install", src.to_str().unwrap()], &env);
    let err = text(&install.stderr);
    assert!(install.status.success(), "{err}");
    assert!(err.contains("matches the published sum"), "{err}");
    assert_eq!(home.listed()[3], "v1");
    let run = home.helm_env(&["chartpin", "lint", "--flag"], &[]);
    assert_eq!(text(&run.stdout).trim(), "fetched-chartpin lint --flag");

    // Another archive under the published sum: the install fails, no binary.
    let other = tempfile::tempdir().unwrap();
    release_assets_for(other.path(), &version, "tampered", host_target());
    let name = format!("chartpin-{version}-{}.tar.gz", host_target());
    std::fs::copy(
        other.path().join(format!("releases/v{version}/{name}")),
        tmp.path().join(format!("releases/v{version}/{name}")),
    )
    .unwrap();
    let src2 = plugin_source(&tmp.path().join("second"));
    let home = HelmHome::new();
    let install = home.helm_env(&["plugin", "install", src2.to_str().unwrap()], &env);
    let err = text(&install.stderr);
    assert!(!install.status.success(), "{err}");
    assert!(err.contains("checksum mismatch"), "{err}");
    assert!(!src2.join("bin/chartpin").exists());
}

#[test]
fn under_helm_3_the_hook_keeps_the_legacy_manifest() {
    // Helm 3 is not installed here: its hook environment is HELM_BIN (a
    // helm answering v3) and HELM_PLUGIN_DIR, which the hook is given.
    let tmp = tempfile::tempdir().unwrap();
    let src = plugin_source(tmp.path());
    let fake_helm = tmp.path().join("helm3");
    std::fs::write(&fake_helm, "#!/bin/sh\necho v3.17.3\n").unwrap();
    crate::dist_action::make_executable(&fake_helm);
    let before = std::fs::read(src.join("plugin.yaml")).unwrap();
    let out = Command::new(src.join("scripts/helm-plugin-install"))
        .env("HELM_PLUGIN_DIR", &src)
        .env("HELM_BIN", &fake_helm)
        .env("CHARTPIN_BIN", env!("CARGO_BIN_EXE_chartpin"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("Helm 3: keeping the legacy plugin.yaml"));
    assert_eq!(std::fs::read(src.join("plugin.yaml")).unwrap(), before);
    let legacy = text(&before);
    assert!(
        !legacy.lines().any(|l| l.starts_with("apiVersion")),
        "Helm 3 rejects apiVersion"
    );
}

#[test]
fn both_manifests_carry_the_crate_version() {
    let version = cargo_version();
    let legacy = std::fs::read_to_string(repo().join("plugin.yaml")).unwrap();
    let v1 = std::fs::read_to_string(repo().join("plugin-v1.yaml")).unwrap();
    assert!(
        legacy.contains(&format!("\nversion: \"{version}\"\n")),
        "{legacy}"
    );
    assert!(v1.contains(&format!("\nversion: {version}\n")), "{v1}");
    let v1_doc: serde_json::Value = serde_saphyr::from_str(&v1).unwrap();
    assert_eq!(v1_doc["apiVersion"], "v1");
    assert_eq!(v1_doc["type"], "cli/v1");
    assert_eq!(v1_doc["runtime"], "subprocess");
    let oses: Vec<&str> = v1_doc["runtimeConfig"]["platformCommand"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["os"].as_str().unwrap())
        .collect();
    assert_eq!(oses, ["linux", "darwin", "windows"]);
}
