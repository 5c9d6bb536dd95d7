//! The GitHub Action (action.yml) and the example workflows stay consistent
//! with the command line: the action parses, declares the inputs the docs
//! promise, and every flag it or an example passes to chartpin exists on the
//! subcommand it is passed to.

use std::path::Path;

use serde_json::Value;

use crate::support::cli::chartpin;

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn help(command: &str) -> String {
    let out = chartpin(&[command, "--help"]).run();
    assert_eq!(
        out.code, 0,
        "chartpin {command} --help failed: {}",
        out.stderr
    );
    out.stdout
}

/// Each `--flag` in `args` appears in `chartpin <command> --help`.
fn assert_flags_exist(command: &str, args: &str, whence: &str) {
    let help = help(command);
    for flag in args.split_whitespace().filter(|a| a.starts_with("--")) {
        let flag = flag.split('=').next().unwrap();
        assert!(
            help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
            "{whence}: `{flag}` is not a flag of `chartpin {command}`"
        );
    }
}

#[test]
fn the_action_and_the_examples_use_real_flags() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let action = yaml(&root.join("action.yml"));
    assert_eq!(action["runs"]["using"], "composite");
    let inputs = action["inputs"].as_object().expect("inputs");
    for name in [
        "version",
        "command",
        "chart",
        "digests",
        "format",
        "fail-on-findings",
        "args",
        "output",
    ] {
        assert!(inputs.contains_key(name), "action.yml lacks input `{name}`");
    }
    // The run step passes --chart, --digests and --format to lint and release.
    let run = action["runs"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "run")
        .expect("a step with id run")["run"]
        .as_str()
        .unwrap()
        .to_string();
    // The step runs a script of the action's own: read what it runs.
    let run = match run.split("$GITHUB_ACTION_PATH/").nth(1) {
        Some(rest) => {
            let script = rest.trim_end_matches(['"', '\'', '\n']);
            std::fs::read_to_string(root.join(script))
                .unwrap_or_else(|e| panic!("action.yml runs {script}: {e}"))
        }
        None => run,
    };
    for command in ["lint", "release"] {
        for flag in ["--chart", "--digests", "--format"] {
            if command == "lint" && flag == "--digests" {
                continue;
            }
            assert!(run.contains(flag), "action.yml no longer passes {flag}");
            assert_flags_exist(command, flag, "action.yml");
        }
    }
    // A format the action defaults to is one chartpin accepts; an empty
    // default leaves chartpin's own, which is github under Actions.
    let default_format = inputs["format"]["default"].as_str().unwrap();
    if default_format.is_empty() {
        let (_tmp, dir, _log) = crate::support::cli::temp_chart("image: nginx:1.25\n", "");
        let under_actions = chartpin(&["lint", dir.to_str().unwrap()])
            .env("GITHUB_ACTIONS", "true")
            .run();
        assert!(
            under_actions.stdout.contains("::error ") && under_actions.code == 1,
            "{}",
            under_actions.all()
        );
    } else {
        assert!(help("lint").contains(&format!("- {default_format}:")));
    }

    let mut uses = 0;
    for example in std::fs::read_dir(root.join("examples")).unwrap().flatten() {
        let path = example.path();
        if path.extension().is_none_or(|e| e != "yml") {
            continue;
        }
        let wf = yaml(&path);
        for job in wf["jobs"].as_object().unwrap().values() {
            for step in job["steps"].as_array().unwrap() {
                if step["uses"].as_str().is_some_and(|u| u.starts_with("./")) {
                    uses += 1;
                    let with = &step["with"];
                    let command = with["command"].as_str().unwrap_or("lint");
                    assert!(
                        ["lint", "release"].contains(&command),
                        "{}: command {command}",
                        path.display()
                    );
                    let args = with["args"].as_str().unwrap_or("");
                    assert_flags_exist(command, args, &path.display().to_string());
                    for key in with.as_object().unwrap().keys() {
                        assert!(
                            inputs.contains_key(key),
                            "{}: `{key}` is not an input of action.yml",
                            path.display()
                        );
                    }
                }
            }
        }
    }
    assert!(
        uses >= 2,
        "the examples should use the action (found {uses})"
    );
}
