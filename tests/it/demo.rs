//! The README's demo (`scripts/demo`) runs green: a real registry, real
//! pushes with umoci and skopeo, `chartpin release` on the demo chart, then
//! lint and verify passing on the result, then a failed release that leaves
//! the chart untouched. The demo's `cargo build` is a stand-in on PATH that
//! links the chartpin this test binary was built with into an empty
//! CARGO_TARGET_DIR, so the demo tells its first-build story without
//! compiling anything.

use std::path::Path;
use std::process::Command;

#[test]
fn the_demo_runs_green_and_tells_its_story() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for tool in ["docker-registry", "skopeo", "umoci", "curl", "python3"] {
        crate::support::tool(tool);
    }
    let tmp = tempfile::tempdir().unwrap();
    let shims = tmp.path().join("shims");
    std::fs::create_dir_all(&shims).unwrap();
    let real_cargo = crate::support::tool("cargo");
    let cargo = shims.join("cargo");
    std::fs::write(
        &cargo,
        format!(
            "#!/bin/sh\nif [ \"$1\" = build ]; then mkdir -p \"$CARGO_TARGET_DIR/debug\" && \
             ln -sf {bin} \"$CARGO_TARGET_DIR/debug/chartpin\"; exit 0; fi\nexec {real} \"$@\"\n",
            bin = env!("CARGO_BIN_EXE_chartpin"),
            real = real_cargo.display()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!("{}:{}", shims.display(), std::env::var("PATH").unwrap());
    let out = Command::new(root.join("scripts/demo"))
        .current_dir(tmp.path())
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", tmp.path().join("target"))
        .env_remove("CHARTPIN_BIN")
        .env("TMPDIR", tmp.path())
        .env("NO_COLOR", "1")
        .env("HOME", tmp.path())
        .env("DOCKER_CONFIG", tmp.path().join("no-docker"))
        .env("CI", "1")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .expect("run scripts/demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "scripts/demo failed ({}); if a tool is missing, run scripts/install-deps\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    // Each part of the story, in order.
    let expected = [
        "==> 1. Installing the tools",
        "Building chartpin for the first time",
        "roughly 3 to 5",
        "built in ",
        "==> 2. Starting a local registry",
        "pushed 127.0.0.1:",
        "osm-controller: sha256:",
        "error[empty-digest]",
        "(lint exited 1 as expected",
        "$ chartpin release chart --digests osm_docker-digests.log --render",
        "IMAGE",
        "released: pinned 3 images in 2 files; 3 of 3 digests verified in their registries; lint clean",
        "+      image: 127.0.0.1:",
        "+    tag: \"\"",
        "+      osmController: \"sha256:",
        "| image | old reference | new digest | verified | site |",
        "$ chartpin lint chart --render",
        "no findings",
        "$ chartpin verify chart",
        "verified 5 of 5 distinct pinned references",
        "==> 7. A release that fails changes nothing",
        "$ chartpin release chart.failed --digests bad-digests.log",
        "error[digest-not-found]",
        "$ diff -r chart.before chart.failed",
        "(release exited 1 and diff found no difference",
        "==> 8. Done",
    ];
    let mut from = 0;
    for line in expected {
        let at = stdout[from..].find(line).unwrap_or_else(|| {
            panic!("`{line}` missing (or out of order) in the demo output:\n{stdout}")
        });
        from += at + line.len();
    }
    // Each verified row of the successful release's table says yes.
    let released = stdout.split("==> 7.").next().unwrap();
    let rows = released
        .lines()
        .filter(|l| l.starts_with("127.0.0.1:") && l.contains(" sha256:"))
        .collect::<Vec<_>>();
    assert_eq!(rows.len(), 3, "{stdout}");
    assert!(rows.iter().all(|r| r.contains("  yes  ")), "{stdout}");
    // The demo cleans up after itself: its work directory is gone.
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().starts_with("chartpin-demo."))
        .collect();
    assert!(left.is_empty(), "demo left {left:?}");
}
