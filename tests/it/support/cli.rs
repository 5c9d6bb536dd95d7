//! Running the chartpin binary from tests: a clean environment (no
//! credentials, no GitHub variables from the machine), its output captured
//! as text, and the small readers of its JSON the test modules share.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// One finished run of chartpin: exit code and output as text.
#[derive(Debug)]
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

/// HOME at `home`, and the registry credential files chartpin reads inside it.
fn isolate_home(cmd: &mut Command, home: &Path) {
    cmd.env("HOME", home)
        .env("DOCKER_CONFIG", home.join("no-docker"))
        .env("REGISTRY_AUTH_FILE", home.join("no-auth.json"));
}

/// A chartpin run being prepared: the one runner every test module uses.
///
/// It starts from a clean environment: HOME is a fresh temporary directory
/// (or the one given to [`Chartpin::home`]) and the registry credential files
/// point into it (DOCKER_CONFIG, REGISTRY_AUTH_FILE), so nothing from the
/// machine leaks in; `CI=1`; no `GITHUB_ACTIONS` or `GITHUB_STEP_SUMMARY`;
/// `NO_COLOR=1` and no `CLICOLOR`/`CLICOLOR_FORCE`, so output is plain text.
/// Stdin is empty unless [`Chartpin::stdin`] gives it text.
pub struct Chartpin {
    cmd: Command,
    stdin: Option<Vec<u8>>,
    /// The temporary HOME, removed when the run is dropped.
    _home: Option<tempfile::TempDir>,
}

/// chartpin with `args`, in a fresh clean environment (see [`Chartpin`]).
pub fn chartpin(args: &[&str]) -> Chartpin {
    chartpin_at(Path::new(env!("CARGO_BIN_EXE_chartpin")), args)
}

/// [`chartpin`], the release build ([`release_binary`]): for what is
/// measured of the binary users run.
pub fn release_chartpin(args: &[&str]) -> Chartpin {
    chartpin_at(release_binary(), args)
}

fn chartpin_at(binary: &Path, args: &[&str]) -> Chartpin {
    let home = tempfile::tempdir().expect("temporary HOME");
    let mut run = Chartpin::in_home(binary, args, home.path());
    run._home = Some(home);
    run
}

/// The release build of chartpin, the binary users run, built once per
/// test process (`cargo build --release --locked --bin chartpin`: nothing
/// to do when `scripts/test` built it before the suite, as it does). Peak
/// memory is measured on it: the debug binary's own code keeps some 13 MB
/// more resident (20 MB against 7.6 MB for `lint` of a one-line chart),
/// which is the test build's, not chartpin's.
pub fn release_binary() -> &'static Path {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(&cargo)
            .args(["build", "--release", "--locked", "--quiet", "--bin", "chartpin"])
            .current_dir(root)
            .status();
        assert!(
            status.as_ref().is_ok_and(|s| s.success()),
            "cannot build the release binary ({status:?}); scripts/test builds it (`cargo build --release --locked --bin chartpin`)"
        );
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let binary = target
            .join("release")
            .join(format!("chartpin{}", std::env::consts::EXE_SUFFIX));
        assert!(binary.is_file(), "no release binary at {}", binary.display());
        binary
    })
}

impl Chartpin {
    fn in_home(binary: &Path, args: &[&str], home: &Path) -> Chartpin {
        let mut cmd = Command::new(binary);
        isolate_home(&mut cmd, home);
        cmd.args(args)
            .env("CI", "1")
            .env("NO_COLOR", "1")
            .env_remove("CLICOLOR")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_STEP_SUMMARY")
            .stdin(Stdio::null());
        Chartpin {
            cmd,
            stdin: None,
            _home: None,
        }
    }

    /// HOME (and the credential files in it) at `home` instead of a fresh one.
    pub fn home(mut self, home: &Path) -> Chartpin {
        isolate_home(&mut self.cmd, home);
        self._home = None;
        self
    }

    /// Set one environment variable.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Chartpin {
        self.cmd.env(key, value);
        self
    }

    /// Set several environment variables.
    pub fn envs<K: AsRef<OsStr>, V: AsRef<OsStr>>(mut self, vars: &[(K, V)]) -> Chartpin {
        for (k, v) in vars {
            self.cmd.env(k, v);
        }
        self
    }

    /// Remove one variable from the environment.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Chartpin {
        self.cmd.env_remove(key);
        self
    }

    /// Run in `dir`.
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Chartpin {
        self.cmd.current_dir(dir);
        self
    }

    /// Feed `text` on stdin.
    pub fn stdin(mut self, text: &str) -> Chartpin {
        self.stdin = Some(text.as_bytes().to_vec());
        self
    }

    /// The prepared process, for a test that spawns and controls it itself
    /// (the HOME given to [`Chartpin::home`] must outlive it).
    pub fn command(self) -> Command {
        assert!(
            self._home.is_none() && self.stdin.is_none(),
            "a spawned chartpin needs a HOME that outlives it (`.home(dir)`) and no stdin text"
        );
        self.cmd
    }

    /// Run to completion and capture the output.
    pub fn run(mut self) -> Run {
        self.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        if self.stdin.is_some() {
            self.cmd.stdin(Stdio::piped());
        }
        let mut child = self.cmd.spawn().expect("run chartpin");
        if let Some(bytes) = self.stdin.take() {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("piped stdin")
                .write_all(&bytes)
                .expect("write chartpin's stdin");
        }
        Run::from_output(child.wait_with_output().expect("wait for chartpin"))
    }
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

/// Run `cmd` to its end and return its peak resident set size in KiB (`wait4`).
#[allow(clippy::zombie_processes)] // wait4 reaps it, with the rusage `Child::wait` drops
pub fn peak_rss_kib(cmd: &mut Command) -> (i32, i64) {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run chartpin");
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter; the pid is our child's.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t, "wait4 failed");
    (libc::WEXITSTATUS(status), usage.ru_maxrss)
}

/// A `PATH` with the system's tools and no helm (helm lives in `.tools/bin`).
pub const NO_HELM_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// `run` said once on stderr, however many charts it had, that it could
/// not render because helm is not on PATH.
pub fn assert_render_skipped_once(run: &Run) {
    assert_eq!(
        run.stderr
            .matches("rendering skipped: helm is not on PATH")
            .count(),
        1,
        "{}",
        run.all()
    );
}
