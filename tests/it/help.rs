//! Every `--help`, snapshotted (STYLE habit 6): a change to the interface
//! shows up in review as a snapshot diff. Besides the snapshots, the shared
//! promises of the interface (src/cli/mod.rs) are asserted directly: every
//! subcommand shows the exit codes, takes charts as PATH and `--chart DIR`,
//! and every one that reports findings takes the same `--format` values.

use crate::support::cli::chartpin;

/// Every subcommand that works on charts, in the order `chartpin --help` lists them.
const SUBCOMMANDS: &[&str] = &["pin", "lint", "verify", "resolve", "release"];

/// The subcommands listed after them, which generate files about chartpin itself.
const TOOL_SUBCOMMANDS: &[&str] = &["completions", "man"];

/// `chartpin ARGS --help` at a fixed width (clap wraps at `COLUMNS` when it
/// has no terminal), with no colour.
fn help(args: &[&str]) -> String {
    let mut args = args.to_vec();
    args.push("--help");
    let out = chartpin(&args)
        .env("COLUMNS", "100")
        .env("LINES", "50")
        .run();
    assert!(
        out.code == 0,
        "chartpin {args:?} exited {}: {}",
        out.code,
        out.stderr
    );
    assert!(!out.stdout.contains('\u{FFFD}'), "help is not UTF-8");
    out.stdout
}

#[test]
fn top_level_help() {
    let text = help(&[]);
    insta::assert_snapshot!("chartpin", text);
    let listed: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert_eq!(
        listed,
        [SUBCOMMANDS, TOOL_SUBCOMMANDS].concat(),
        "a new subcommand needs its --help snapshot here"
    );
}

#[test]
fn every_subcommand_help() {
    for sub in SUBCOMMANDS.iter().chain(TOOL_SUBCOMMANDS) {
        let text = help(&[sub]);
        insta::assert_snapshot!(format!("chartpin-{sub}"), text);
    }
}

#[test]
fn every_help_shows_the_exit_codes_and_takes_charts_one_way() {
    for sub in SUBCOMMANDS {
        let text = help(&[sub]);
        for line in [
            "Exit status:",
            "  0  clean: nothing to report",
            "  2  usage or input error",
            "  3  a registry could not give an answer",
        ] {
            assert!(
                text.contains(line),
                "`{sub} --help` lacks {line:?}:\n{text}"
            );
        }
        assert!(
            text.contains(&format!("Usage: chartpin {sub} [OPTIONS] [PATH")),
            "`{sub}` takes charts as positional PATHs:\n{text}"
        );
        assert!(
            text.contains("--chart <DIR>"),
            "`{sub}` takes --chart DIR:\n{text}"
        );
    }
    assert!(help(&[]).contains("Exit status:"));
}

#[test]
fn every_findings_subcommand_takes_the_same_format_values() {
    for sub in SUBCOMMANDS {
        let text = help(&[sub]);
        if *sub == "resolve" {
            // Its output is a digest manifest; json wraps it in the envelope (said in its help).
            let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(words.contains("JSON envelope"), "{text}");
        }
        assert!(text.contains("--format <FORMAT>"), "`{sub}`:\n{text}");
        for value in ["- human:", "- json:", "- sarif:", "- github:"] {
            assert!(text.contains(value), "`{sub} --format` lacks {value}");
        }
    }
}

#[test]
fn shared_flags_read_the_same_everywhere() {
    // (flag, the subcommands that take it); the description after the flag
    // line must be identical wherever it appears.
    let shared: &[(&str, &[&str])] = &[
        ("--config <FILE>", &["pin", "lint", "release"]),
        ("--values <FILE>", &["pin", "release"]),
        ("--digests-format <FORMAT>", &["pin", "verify", "release"]),
        ("--content", &["verify", "release"]),
        ("--diff", &["pin", "release"]),
        // How charts are rendered: the same five flags wherever helm renders.
        ("--render", &["pin", "lint", "verify", "release"]),
        ("--no-render", &["pin", "lint", "verify", "release"]),
        ("--helm <PATH>", &["pin", "lint", "verify", "release"]),
        (
            "--values-file <FILE>",
            &["pin", "lint", "verify", "release"],
        ),
        ("--set <KEY=VALUE>", &["pin", "lint", "verify", "release"]),
        (
            "--concurrency <N>",
            &["pin", "verify", "resolve", "release"],
        ),
        ("--timeout <S>", &["pin", "verify", "resolve", "release"]),
        (
            "--insecure-registry <HOST>",
            &["pin", "verify", "resolve", "release"],
        ),
        ("--ca-file <FILE>", &["pin", "verify", "resolve", "release"]),
        (
            "--registry-mirror <FROM=TO>",
            &["pin", "verify", "resolve", "release"],
        ),
    ];
    for (flag, subs) in shared {
        let mut seen: Option<(String, &str)> = None;
        for sub in *subs {
            let text = help(&[sub]);
            let desc = description(&text, flag)
                .unwrap_or_else(|| panic!("`{sub} --help` lacks {flag}:\n{text}"));
            match &seen {
                Some((first, first_sub)) => assert_eq!(
                    &desc, first,
                    "{flag} reads differently in `{sub}` and `{first_sub}`"
                ),
                None => seen = Some((desc, sub)),
            }
        }
    }
}

/// The description lines under `flag`'s line in long help, up to the blank line.
fn description(help: &str, flag: &str) -> Option<String> {
    let mut lines = help.lines();
    lines.find(|l| l.trim_start().starts_with(flag) && l.trim_end().ends_with(flag))?;
    Some(
        lines
            .take_while(|l| !l.trim().is_empty())
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" "),
    )
}
