//! Suppression: inline `# chartpin:ignore` / `# chartpin:ignore=CODE[,CODE]`
//! comments on a finding's line, and `ignore:` rules from `.chartpin.yaml`
//! (path glob, image pattern, code; every given field must match). A
//! suppression that matches nothing is itself reported (`unused-suppression`),
//! so stale ignores do not pile up.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobMatcher};

use crate::diag::{Code, Finding, InputError};
use crate::reference::ImageRef;
use crate::source::{SourceFile, Span};

const MARK: &str = "chartpin:ignore";

/// One inline directive.
#[derive(Debug, Clone)]
struct Directive {
    file: PathBuf,
    line: usize,
    column: usize,
    span: Span,
    /// `None`: every code.
    codes: Option<Vec<Code>>,
    unknown: Vec<String>,
    used: bool,
}

/// Directives in `src`: the mark must sit in a comment (`#` or `{{/*` earlier on the line).
fn directives(src: &SourceFile) -> Vec<Directive> {
    let mut out = Vec::new();
    let mut start = 0usize;
    for (i, line) in src.text.split_inclusive('\n').enumerate() {
        let here = start;
        start += line.len();
        let Some(at) = line.find(MARK) else {
            continue;
        };
        let before = &line[..at];
        if !(before.contains('#') || before.contains("{{/*") || before.contains("{{- /*")) {
            continue;
        }
        let after = &line[at + MARK.len()..];
        let (codes, unknown, len) = match after.strip_prefix('=') {
            Some(list) => {
                let list: String = list
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == ',')
                    .collect();
                let mut codes = Vec::new();
                let mut unknown = Vec::new();
                for name in list.split(',').filter(|s| !s.is_empty()) {
                    match Code::from_name(name) {
                        Some(c) => codes.push(c),
                        None => unknown.push(name.to_string()),
                    }
                }
                (Some(codes), unknown, MARK.len() + 1 + list.len())
            }
            None => (None, Vec::new(), MARK.len()),
        };
        let span = Span::new(here + at, here + at + len);
        let lc = src.line_col(span.start);
        out.push(Directive {
            file: src.path.clone(),
            line: i + 1,
            column: lc.column,
            span,
            codes,
            unknown,
            used: false,
        });
    }
    out
}

/// One `ignore:` rule from a configuration file, with where it was written.
#[derive(Debug, Clone)]
pub struct IgnoreRule {
    pub path: Option<String>,
    pub image: Option<String>,
    pub code: Option<String>,
    /// The configuration file, and the rule's line there (0 when unknown).
    pub origin: PathBuf,
    pub line: usize,
}

/// The `ignore:` rules of a configuration file, each with its line.
pub fn read_ignore_rules(path: &Path) -> Result<Vec<IgnoreRule>, super::LintError> {
    use super::yaml::{self, Node};
    let text = std::fs::read_to_string(path).map_err(|e| super::LintError::io(path, e))?;
    let src = SourceFile::new(path, text);
    let Some(root) = yaml::parse_one(&src)? else {
        return Ok(Vec::new());
    };
    let items = match root.get("ignore") {
        None => return Ok(Vec::new()),
        Some(Node::Seq { items, .. }) => items,
        Some(other) => {
            return Err(InputError::at(
                &src,
                other.span().start,
                "`ignore` must be a list of rules",
            )
            .into());
        }
    };
    let mut rules = Vec::new();
    for item in items {
        let Node::Map { entries, span } = item else {
            return Err(InputError::at(
                &src,
                item.span().start,
                "an ignore rule is a mapping with `path`, `image` and/or `code`",
            )
            .into());
        };
        let mut rule = IgnoreRule {
            path: None,
            image: None,
            code: None,
            origin: path.to_path_buf(),
            line: src.line_col(span.start).line,
        };
        for (k, v) in entries {
            let value = v.as_str().map(str::to_string);
            match k.as_str() {
                "path" => rule.path = value,
                "image" => rule.image = value,
                "code" => {
                    if let Some(c) = &value
                        && Code::from_name(c).is_none()
                    {
                        return Err(InputError::at(
                            &src,
                            v.span().start,
                            format!("unknown code `{c}`"),
                        )
                        .into());
                    }
                    rule.code = value
                }
                "reason" | "comment" => {}
                other => {
                    return Err(InputError::at(
                        &src,
                        v.span().start,
                        format!("unknown ignore rule field `{other}` (expected path, image, code, reason)"),
                    )
                    .into());
                }
            }
        }
        if rule.path.is_none() && rule.image.is_none() && rule.code.is_none() {
            return Err(InputError::at(
                &src,
                span.start,
                "an ignore rule needs at least one of path, image, code",
            )
            .into());
        }
        rules.push(rule);
    }
    Ok(rules)
}

struct CompiledRule {
    rule: IgnoreRule,
    path: Option<GlobMatcher>,
    image: Option<GlobMatcher>,
    code: Option<Code>,
    used: bool,
}

fn glob(origin: &Path, what: &str, pattern: &str) -> Result<GlobMatcher, InputError> {
    Glob::new(pattern)
        .map(|g| g.compile_matcher())
        .map_err(|e| InputError::file(origin, format!("ignore rule {what} `{pattern}`: {e}")))
}

impl CompiledRule {
    fn new(rule: IgnoreRule) -> Result<CompiledRule, InputError> {
        let path = rule
            .path
            .as_deref()
            .map(|p| glob(&rule.origin, "path", p))
            .transpose()?;
        let image = rule
            .image
            .as_deref()
            .map(|p| glob(&rule.origin, "image", p))
            .transpose()?;
        let code = match rule.code.as_deref() {
            Some(c) => Some(Code::from_name(c).ok_or_else(|| {
                InputError::file(
                    &rule.origin,
                    format!("ignore rule names unknown code `{c}`"),
                )
            })?),
            None => None,
        };
        Ok(CompiledRule {
            rule,
            path,
            image,
            code,
            used: false,
        })
    }

    fn matches(&self, f: &Finding) -> bool {
        if self.code.is_some_and(|c| c != f.code) {
            return false;
        }
        if let Some(g) = &self.path {
            let Some(file) = &f.file else {
                return false;
            };
            // Match the whole path or any tail of it, so `values.yaml` and
            // `charts/*/values.yaml` work whatever directory lint ran from.
            let comps: Vec<_> = file.components().collect();
            let hit = (0..comps.len()).any(|i| {
                let tail: PathBuf = comps[i..].iter().collect();
                g.is_match(&tail)
            });
            if !hit {
                return false;
            }
        }
        if let Some(g) = &self.image {
            let Some(image) = &f.image else {
                return false;
            };
            let mut forms = vec![image.clone()];
            if let Ok(r) = ImageRef::parse(image) {
                forms.push(r.written_name());
                forms.push(r.name());
                forms.push(r.canonical());
            }
            if !forms.iter().any(|s| g.is_match(s)) {
                return false;
            }
        }
        true
    }
}

/// Drop suppressed findings; add `unused-suppression` for directives and
/// rules that matched nothing. `files` are every file lint read.
pub fn apply(
    findings: Vec<Finding>,
    files: &[&SourceFile],
    rules: Vec<IgnoreRule>,
) -> Result<Vec<Finding>, InputError> {
    let mut dirs: Vec<Directive> = files.iter().flat_map(|f| directives(f)).collect();
    let mut rules: Vec<CompiledRule> = rules
        .into_iter()
        .map(CompiledRule::new)
        .collect::<Result<_, _>>()?;
    let mut kept = Vec::new();
    for f in findings {
        let inline = f.file.as_ref().filter(|_| f.line > 0).and_then(|file| {
            dirs.iter_mut().find(|d| {
                d.line == f.line
                    && &d.file == file
                    && d.codes.as_ref().is_none_or(|c| c.contains(&f.code))
            })
        });
        if let Some(d) = inline {
            d.used = true;
            continue;
        }
        if let Some(r) = rules.iter_mut().find(|r| r.matches(&f)) {
            r.used = true;
            continue;
        }
        kept.push(f);
    }
    for d in dirs.iter().filter(|d| !d.used || !d.unknown.is_empty()) {
        let msg = if !d.unknown.is_empty() {
            format!("`{MARK}` names unknown code(s) {}", d.unknown.join(", "))
        } else {
            "this `chartpin:ignore` comment suppresses nothing on its line".to_string()
        };
        let mut f = Finding::new(Code::UnusedSuppression, msg).in_file(&d.file);
        f.line = d.line;
        f.column = d.column;
        f.span = Some(d.span);
        kept.push(f);
    }
    for r in rules.iter().filter(|r| !r.used) {
        let mut parts = Vec::new();
        if let Some(p) = &r.rule.path {
            parts.push(format!("path: {p}"));
        }
        if let Some(i) = &r.rule.image {
            parts.push(format!("image: {i}"));
        }
        if let Some(c) = &r.rule.code {
            parts.push(format!("code: {c}"));
        }
        let mut f = Finding::new(
            Code::UnusedSuppression,
            format!("ignore rule ({}) matches no finding", parts.join(", ")),
        )
        .in_file(&r.rule.origin);
        f.line = r.rule.line;
        f.column = usize::from(r.rule.line > 0);
        kept.push(f);
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(code: Code, file: &str, line: usize, image: &str) -> Finding {
        let mut f = Finding::new(code, "m").in_file(file).with_image(image);
        f.line = line;
        f.column = 1;
        f
    }

    #[test]
    fn inline_comments_suppress_their_line_and_listed_codes_only() {
        let src = SourceFile::new(
            "v.yaml",
            "a: x:1 # chartpin:ignore\nb: y:1 # chartpin:ignore=implicit-latest\nc: z # chartpin:ignore=implicit-latest,mutable-tag\nd: w:1 # chartpin:ignore\n",
        );
        let fs = vec![
            finding(Code::MutableTag, "v.yaml", 1, "x:1"),
            finding(Code::MutableTag, "v.yaml", 2, "y:1"),
            finding(Code::ImplicitLatest, "v.yaml", 3, "z"),
        ];
        let out = apply(fs, &[&src], vec![]).unwrap();
        let got: Vec<(Code, usize)> = out.iter().map(|f| (f.code, f.line)).collect();
        assert_eq!(
            got,
            [
                (Code::MutableTag, 2),
                (Code::UnusedSuppression, 2),
                (Code::UnusedSuppression, 4)
            ]
        );
    }

    #[test]
    fn the_mark_outside_a_comment_is_not_a_directive() {
        let src = SourceFile::new("v.yaml", "a: \"chartpin:ignore\"\n");
        let out = apply(
            vec![finding(Code::MutableTag, "v.yaml", 1, "a:1")],
            &[&src],
            vec![],
        )
        .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].code, Code::MutableTag);
    }

    #[test]
    fn unknown_codes_in_a_directive_are_reported() {
        let src = SourceFile::new("v.yaml", "a: x:1 # chartpin:ignore=mutable-tag,no-such\n");
        let out = apply(
            vec![finding(Code::MutableTag, "v.yaml", 1, "x:1")],
            &[&src],
            vec![],
        )
        .unwrap();
        assert_eq!(out.len(), 1);
        assert!(out[0].message.contains("no-such"));
    }

    #[test]
    fn config_rules_match_path_image_and_code_together() {
        let rule = |path: Option<&str>, image: Option<&str>, code: Option<&str>| IgnoreRule {
            path: path.map(Into::into),
            image: image.map(Into::into),
            code: code.map(Into::into),
            origin: ".chartpin.yaml".into(),
            line: 3,
        };
        let fs = vec![
            finding(
                Code::MutableTag,
                "/w/chart/values.yaml",
                1,
                "bitnami/nginx:1.25",
            ),
            finding(
                Code::MutableTag,
                "/w/chart/charts/sub/values.yaml",
                1,
                "busybox:1",
            ),
            finding(
                Code::ImplicitLatest,
                "/w/chart/templates/a.yaml",
                1,
                "quay.io/x/y",
            ),
        ];
        let out = apply(
            fs,
            &[],
            vec![
                rule(Some("charts/*/values.yaml"), None, None),
                rule(None, Some("quay.io/x/*"), Some("implicit-latest")),
                rule(None, Some("docker.io/bitnami/*"), Some("implicit-latest")),
            ],
        )
        .unwrap();
        let got: Vec<(Code, usize)> = out.iter().map(|f| (f.code, f.line)).collect();
        assert_eq!(got, [(Code::MutableTag, 1), (Code::UnusedSuppression, 3)]);
        assert!(out[1].message.contains("docker.io/bitnami/*"));
    }

    #[test]
    fn bad_rules_are_input_errors() {
        let r = IgnoreRule {
            path: None,
            image: None,
            code: Some("nope".into()),
            origin: ".chartpin.yaml".into(),
            line: 0,
        };
        assert!(apply(vec![], &[], vec![r]).is_err());
    }
}
