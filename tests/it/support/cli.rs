//! Running the chartpin binary from tests: a clean environment (no
//! credentials, no GitHub variables from the machine), its output captured
//! as text, and the small readers of its JSON the test modules share.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// One finished run of chartpin: exit code and output as text.
pub struct Run {
    /// The exit code, or -1 when a signal ended the process.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from_output(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: text(&out.stdout),
            stderr: text(&out.stderr),
        }
    }

    /// Both streams, labelled, for assertion messages.
    pub fn all(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }
}

/// chartpin with `args`, its HOME at `home` and no registry credentials
/// from the machine (DOCKER_CONFIG and REGISTRY_AUTH_FILE point into
/// `home`), `CI=1`, and no `GITHUB_ACTIONS`.
pub fn clean_command(args: &[&str], home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chartpin"));
    cmd.args(args)
        .env("HOME", home)
        .env("DOCKER_CONFIG", home.join("no-docker"))
        .env("REGISTRY_AUTH_FILE", home.join("no-auth.json"))
        .env("CI", "1")
        .env_remove("GITHUB_ACTIONS");
    cmd
}

/// Run `cmd` to completion and capture it.
pub fn run(cmd: &mut Command) -> Run {
    Run::from_output(cmd.output().expect("run chartpin"))
}

/// Bytes as text (lossy), for output and messages.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The string `field` of every finding in a `--format json` document.
pub fn finding_fields<'a>(doc: &'a serde_json::Value, field: &str) -> Vec<&'a str> {
    doc["findings"]
        .as_array()
        .expect("a findings array")
        .iter()
        .map(|f| f[field].as_str().unwrap())
        .collect()
}

/// Copy the directory tree `from` to `to` (created).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// Panics unless every object key in `doc` is snake_case (lowercase ASCII,
/// digits and `_`): every JSON document chartpin prints keeps one casing.
/// The keys of `summary.by_code` are data (finding codes, kebab-case).
pub fn assert_snake_case_keys(doc: &serde_json::Value) {
    fn walk(v: &serde_json::Value, at: &str, bad: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, child) in map {
                    let ok = at.ends_with(".by_code")
                        || !k.is_empty()
                            && k.chars()
                                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                    if !ok {
                        bad.push(format!("{at}.{k}"));
                    }
                    walk(child, &format!("{at}.{k}"), bad);
                }
            }
            serde_json::Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, &format!("{at}[{i}]"), bad);
                }
            }
            _ => {}
        }
    }
    let mut bad = Vec::new();
    walk(doc, "$", &mut bad);
    assert!(bad.is_empty(), "keys not in snake_case: {bad:?}\n{doc:#}");
}

/// A minimal chart `chart/` (Chart.yaml + `values`) in a fresh temp dir, with
/// `digests` written beside it as `digests.txt`: (temp dir, chart, digests).
pub fn temp_chart(values: &str, digests: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("chart");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: t\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(dir.join("values.yaml"), values).unwrap();
    let log = tmp.path().join("digests.txt");
    std::fs::write(&log, digests).unwrap();
    (tmp, dir, log)
}
