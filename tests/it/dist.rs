//! What ships beside the binary and the habits of a command-line tool:
//! shell completions, man pages, `--color` with NO_COLOR / CLICOLOR /
//! CLICOLOR_FORCE (tests/it/dist.rs belongs to the distribution work:
//! release archives carry the completions and man pages tested here).

use std::path::Path;

use crate::support::cli::{Run, chartpin, temp_chart};

/// The escape sequence that starts `error[mutable-tag]` in bold red.
const BOLD_RED_ERROR: &str = "\x1b[1m\x1b[31merror[mutable-tag]";

/// `chartpin lint` on a chart with one mutable tag, with the colour
/// environment given (NO_COLOR removed first), stdout a pipe.
fn lint_with(extra: &[&str], env: &[(&str, &str)]) -> Run {
    let (_tmp, dir, _log) = temp_chart("image: nginx:1.25\n", "");
    let mut args = vec!["lint", dir.to_str().unwrap()];
    args.extend(extra);
    let run = chartpin(&args).env_remove("NO_COLOR").envs(env).run();
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stdout.contains("error[mutable-tag]"), "{}", run.all());
    run
}

#[test]
fn colour_follows_color_flag_no_color_and_clicolor_force() {
    let coloured = |r: &Run| r.stdout.contains(BOLD_RED_ERROR);
    let plain = |r: &Run| !r.stdout.contains('\x1b');

    assert!(
        plain(&lint_with(&[], &[])),
        "a pipe gets no colour by default"
    );
    assert!(coloured(&lint_with(&[], &[("CLICOLOR_FORCE", "1")])));
    assert!(plain(&lint_with(&[], &[("CLICOLOR_FORCE", "")])));
    assert!(
        plain(&lint_with(
            &[],
            &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]
        )),
        "NO_COLOR wins over CLICOLOR_FORCE"
    );
    assert!(coloured(&lint_with(
        &["--color", "always"],
        &[("NO_COLOR", "1")]
    )));
    assert!(plain(&lint_with(
        &["--color", "never"],
        &[("CLICOLOR_FORCE", "1")]
    )));
    assert!(plain(&lint_with(&["--color=auto"], &[])));
}

/// Run `command` under a pseudo-terminal (util-linux `script`), so stdout is
/// a terminal; returns what the terminal showed.
fn on_a_terminal(command: &str, env: &[(&str, &str)]) -> String {
    let mut cmd = std::process::Command::new(crate::support::tool("script"));
    cmd.args(["-qec", command, "/dev/null"])
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("GITHUB_ACTIONS")
        .env("TERM", "xterm-256color")
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run script");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_terminal_gets_colour_unless_clicolor_0_or_no_color() {
    let (_tmp, dir, _log) = temp_chart("image: nginx:1.25\n", "");
    let command = format!(
        "{} lint {}",
        env!("CARGO_BIN_EXE_chartpin"),
        dir.to_str().unwrap()
    );
    let shown = on_a_terminal(&command, &[]);
    assert!(shown.contains("error[mutable-tag]"), "{shown:?}");
    assert!(shown.contains(BOLD_RED_ERROR), "{shown:?}");
    let off = on_a_terminal(&command, &[("CLICOLOR", "0")]);
    assert!(
        off.contains("error[mutable-tag]") && !off.contains('\x1b'),
        "{off:?}"
    );
    let off = on_a_terminal(&command, &[("NO_COLOR", "1")]);
    assert!(
        off.contains("error[mutable-tag]") && !off.contains('\x1b'),
        "{off:?}"
    );
    let off = on_a_terminal(&format!("{command} --color never"), &[]);
    assert!(
        off.contains("error[mutable-tag]") && !off.contains('\x1b'),
        "{off:?}"
    );
}

#[test]
fn every_command_takes_color() {
    for sub in [
        "pin",
        "lint",
        "verify",
        "resolve",
        "release",
        "completions",
        "man",
    ] {
        let run = chartpin(&[sub, "--color", "never", "--help"]).run();
        assert_eq!(run.code, 0, "{sub}: {}", run.all());
        assert!(
            run.stdout.contains("--color <WHEN>"),
            "{sub}: {}",
            run.stdout
        );
    }
    let bad = chartpin(&["lint", "--color", "sometimes"]).run();
    assert_eq!(bad.code, 2, "{}", bad.all());
}

#[test]
fn completions_for_every_shell_name_the_subcommands_and_flags() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let run = chartpin(&["completions", shell]).run();
        assert_eq!(run.code, 0, "{shell}: {}", run.all());
        // fish spells flags `-l digests`; the others `--digests`.
        for word in ["lint", "release", "digests", "format", "color", "platform"] {
            assert!(run.stdout.contains(word), "{shell} completion lacks {word}");
        }
    }
    let bad = chartpin(&["completions", "tcsh"]).run();
    assert_eq!(bad.code, 2, "{}", bad.all());
}

#[test]
fn bash_completion_completes_subcommands_and_flags() {
    let script = chartpin(&["completions", "bash"]).run();
    assert_eq!(script.code, 0, "{}", script.all());
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("chartpin.bash");
    std::fs::write(&file, &script.stdout).unwrap();
    // Source it, then ask the completion function as bash would on <TAB>.
    let complete = |words: &str| {
        let probe = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; \
             _chartpin chartpin \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            file.display()
        );
        let out = std::process::Command::new(crate::support::tool("bash"))
            .args(["--norc", "--noprofile", "-c", &probe])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let subs = complete("chartpin li");
    assert_eq!(subs.trim(), "lint", "{subs}");
    let flags = complete("chartpin release --dig");
    assert!(flags.lines().any(|l| l == "--digests"), "{flags}");
    assert!(flags.lines().any(|l| l == "--digests-format"), "{flags}");
}

#[test]
fn man_prints_the_page_and_writes_one_per_subcommand() {
    let page = chartpin(&["man"]).run();
    assert_eq!(page.code, 0, "{}", page.all());
    assert!(
        page.stdout.starts_with(".ie \\n(.g .ds Aq"),
        "{}",
        &page.stdout[..80]
    );
    assert!(page.stdout.contains(".TH chartpin 1"), "{}", page.stdout);
    for sub in ["pin", "lint", "verify", "resolve", "release"] {
        assert!(
            page.stdout.contains(&format!("chartpin\\-{sub}(1)")),
            "no {sub}"
        );
    }

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("man/man1");
    let run = chartpin(&["man", "--dir", dir.to_str().unwrap()]).run();
    assert_eq!(run.code, 0, "{}", run.all());
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    assert_eq!(
        pages,
        [
            "chartpin-completions.1",
            "chartpin-lint.1",
            "chartpin-man.1",
            "chartpin-pin.1",
            "chartpin-release.1",
            "chartpin-resolve.1",
            "chartpin-verify.1",
            "chartpin.1",
        ]
    );
    // The page renders: groff reads it without a warning and shows the flags.
    let lint_page = dir.join("chartpin-lint.1");
    let rendered = render_man(&lint_page);
    assert!(rendered.contains("--rendered"), "{rendered}");
}

/// `groff -k -man -Tutf8 -ww PAGE` (as man(1) runs it), failing on any warning.
fn render_man(page: &Path) -> String {
    let out = std::process::Command::new(crate::support::tool("groff"))
        .args(["-k", "-man", "-Tutf8", "-ww", "-P-c", "-P-b", "-P-u"])
        .arg(page)
        .output()
        .expect("run groff");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.trim().is_empty(),
        "groff: {err}"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn dist_size_fails_at_20_mb_and_the_dist_profile_strips() {
    // scripts/dist-size on a built binary checks only the size (building the
    // dist profile takes minutes; the release workflow runs it on each target).
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/dist-size");
    let tmp = tempfile::tempdir().unwrap();
    let check = |bytes: u64| {
        let bin = tmp.path().join(format!("chartpin-{bytes}"));
        std::fs::File::create(&bin).unwrap().set_len(bytes).unwrap();
        let out = std::process::Command::new(&script)
            .arg(&bin)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, msg) = check(10_376_928);
    assert_eq!(code, Some(0), "{msg}");
    assert!(
        msg.contains("10.4 MB") && msg.contains("under the 20 MB limit"),
        "{msg}"
    );
    let (code, msg) = check(20_000_000);
    assert_eq!(code, Some(1), "{msg}");
    assert!(msg.contains("over the 20 MB limit"), "{msg}");

    // The profile the archives are built with.
    let toml =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let profile: Vec<&str> = toml
        .lines()
        .skip_while(|l| *l != "[profile.dist]")
        .skip(1)
        .take_while(|l| !l.starts_with('['))
        .filter(|l| !l.trim().is_empty())
        .collect();
    for want in [
        "debug = false",
        "strip = true",
        "lto = \"fat\"",
        "codegen-units = 1",
    ] {
        assert!(
            profile.contains(&want),
            "[profile.dist] lacks `{want}`: {profile:?}"
        );
    }
}

#[test]
fn the_release_workflow_builds_every_target_and_attests_the_archives() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(".github/workflows/release.yml")).unwrap();
    let wf: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(wf["on"]["push"]["tags"][0], "v[0-9]+.[0-9]+.[0-9]+*");
    let targets: Vec<&str> = wf["jobs"]["build"]["strategy"]["matrix"]["include"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        targets,
        [
            "x86_64-unknown-linux-musl",
            "aarch64-unknown-linux-musl",
            "x86_64-apple-darwin",
            "aarch64-apple-darwin",
            "x86_64-pc-windows-msvc",
        ]
    );
    let build = text.split("\n  publish:").next().unwrap();
    assert!(build.contains("--profile dist") && build.contains("scripts/dist-size"));
    let publish = &wf["jobs"]["publish"];
    assert_eq!(publish["permissions"]["id-token"], "write");
    assert_eq!(publish["permissions"]["attestations"], "write");
    let steps = publish["steps"].as_array().unwrap();
    let uses: Vec<&str> = steps.iter().filter_map(|s| s["uses"].as_str()).collect();
    assert!(
        uses.iter()
            .any(|u| u.starts_with("actions/attest-build-provenance@")),
        "{uses:?}"
    );
    let runs: String = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    assert!(runs.contains("scripts/package-release") && runs.contains("sha256sum -c SHA256SUMS"));
}

#[test]
fn binstall_metadata_names_the_release_archives() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let toml = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let value = |key: &str, section: &str| -> String {
        toml.lines()
            .skip_while(|l| *l != section)
            .skip(1)
            .take_while(|l| !l.starts_with('['))
            .find_map(|l| l.strip_prefix(&format!("{key} = \"")))
            .unwrap_or_else(|| panic!("{section} lacks {key}"))
            .trim_end_matches('"')
            .to_string()
    };
    let expand = |t: &str, target: &str, ext: &str| {
        t.replace("{ repo }", "https://github.com/chartpin/chartpin")
            .replace("{ name }", "chartpin")
            .replace("{ version }", "1.2.3")
            .replace("{ target }", target)
            .replace("{ bin }", "chartpin")
            .replace("{ binary-ext }", ext)
    };
    let main = "[package.metadata.binstall]";
    let windows = "[package.metadata.binstall.overrides.x86_64-pc-windows-msvc]";
    assert!(toml.contains("repository = \"https://github.com/chartpin/chartpin\""));
    assert_eq!(
        expand(&value("pkg-url", main), "aarch64-apple-darwin", ""),
        "https://github.com/chartpin/chartpin/releases/download/v1.2.3/chartpin-1.2.3-aarch64-apple-darwin.tar.gz"
    );
    assert_eq!(
        expand(&value("pkg-url", windows), "x86_64-pc-windows-msvc", ".exe"),
        "https://github.com/chartpin/chartpin/releases/download/v1.2.3/chartpin-1.2.3-x86_64-pc-windows-msvc.zip"
    );
    assert_eq!(value("pkg-fmt", windows), "zip");
    // The binary sits where scripts/package-release puts it.
    assert_eq!(
        expand(&value("bin-dir", main), "x86_64-unknown-linux-musl", ""),
        "chartpin-1.2.3-x86_64-unknown-linux-musl/chartpin"
    );
    let script = std::fs::read_to_string(root.join("scripts/package-release")).unwrap();
    assert!(script.contains(r#"name="chartpin-$version-$target""#));
    assert!(script.contains(r#"cp "$dir/$exe" "$stage/$exe""#));
}
