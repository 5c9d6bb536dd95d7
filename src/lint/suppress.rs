//! Suppression: inline `# chartpin:ignore` / `# chartpin:ignore=CODE[,CODE]`
//! comments on a finding's line, and `ignore:` rules from `.chartpin.yaml`
//! (path glob, image pattern, code; every given field must match). A
//! suppression that matches nothing is itself reported (`unused-suppression`),
//! so stale ignores do not pile up.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::config::IgnoreRule;
use crate::diag::{Code, Finding};
use crate::reference::ImageRef;
use crate::source::{Location, SourceFile, Span};

const MARK: &str = "chartpin:ignore";

/// One inline directive.
#[derive(Debug, Clone)]
struct Directive {
    /// The mark and its code list.
    at: Location,
    /// The 1-based line it suppresses findings on.
    line: usize,
    /// `None`: every code.
    codes: Option<Vec<Code>>,
    unknown: Vec<String>,
    used: bool,
}

/// Directives in `src`: the mark must sit in a comment (`#` or `{{/*` earlier on the line).
fn directives(src: &SourceFile) -> Vec<Directive> {
    let mut out = Vec::new();
    if !src.text.contains(MARK) {
        return out;
    }
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
        out.push(Directive {
            at: Location::at(src, span),
            line: i + 1,
            codes,
            unknown,
            used: false,
        });
    }
    out
}

/// An `ignore:` rule of a `.chartpin.yaml`, with the file it came from and
/// the chart it governs (`None`: every chart, as with `--config`).
#[derive(Debug, Clone)]
pub struct ScopedRule {
    pub rule: IgnoreRule,
    pub config: PathBuf,
    pub chart_root: Option<PathBuf>,
}

impl ScopedRule {
    /// Whether the rule suppresses `f`. The path glob is matched against the
    /// finding's file relative to its chart root (`values.yaml`,
    /// `charts/*/values.yaml`), so rules read the same wherever lint runs;
    /// the image pattern against the reference as written and normalised.
    fn matches(&self, f: &Finding, roots: &[PathBuf]) -> bool {
        let rel = f.file().map(|file| {
            let root = match &self.chart_root {
                Some(r) => Some(r.as_path()),
                None => roots
                    .iter()
                    .filter(|r| file.starts_with(r))
                    .max_by_key(|r| r.as_os_str().len())
                    .map(PathBuf::as_path),
            };
            root.and_then(|r| file.strip_prefix(r).ok())
                .unwrap_or(file)
                .to_path_buf()
        });
        if let (Some(root), Some(file)) = (&self.chart_root, f.file())
            && !file.starts_with(root)
        {
            return false;
        }
        let mut forms: Vec<Option<String>> = vec![f.image.clone()];
        if let Some(r) = f.image.as_deref().and_then(|i| ImageRef::parse(i).ok()) {
            forms.push(Some(r.written_name()));
            forms.push(Some(r.name()));
            forms.push(Some(r.canonical()));
        }
        forms
            .iter()
            .any(|img| self.rule.matches(rel.as_deref(), img.as_deref(), f.code))
    }
}

/// Drop suppressed findings; add `unused-suppression` for directives and
/// rules that matched nothing. `files` are every file lint read.
pub fn apply(
    findings: Vec<Finding>,
    files: &[&SourceFile],
    rules: &[ScopedRule],
    chart_roots: &[PathBuf],
) -> Vec<Finding> {
    let mut dirs: Vec<Directive> = files.iter().flat_map(|f| directives(f)).collect();
    let texts: HashMap<&Path, &SourceFile> = files.iter().map(|s| (s.path(), *s)).collect();
    // The finding's file and 1-based line, when lint read that file.
    fn line_of<'f>(
        f: &'f Finding,
        texts: &HashMap<&Path, &SourceFile>,
    ) -> Option<(&'f Path, usize)> {
        let loc = f.location.as_ref()?;
        let start = loc.position?.start();
        let line = texts.get(&*loc.file)?.line_col(start).line;
        Some((&*loc.file, line))
    }
    let mut used = vec![false; rules.len()];
    let mut kept = Vec::new();
    for f in findings {
        let inline = line_of(&f, &texts).and_then(|(file, line)| {
            dirs.iter_mut().find(|d| {
                d.line == line
                    && *d.at.file == *file
                    && d.codes.as_ref().is_none_or(|c| c.contains(&f.code))
            })
        });
        if let Some(d) = inline {
            d.used = true;
            continue;
        }
        if let Some(i) = rules.iter().position(|r| r.matches(&f, chart_roots)) {
            used[i] = true;
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
        kept.push(Finding::new(Code::UnusedSuppression, msg).located(d.at.clone()));
    }
    for (r, _) in rules.iter().zip(&used).filter(|(_, u)| !**u) {
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
        let at = (r.rule.location.clone()).unwrap_or_else(|| Location::file(&r.config));
        kept.push(
            Finding::new(
                Code::UnusedSuppression,
                format!("ignore rule ({}) matches no finding", parts.join(", ")),
            )
            .located(at),
        );
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::source::Sources;

    /// A finding at the start of 1-based `line` of `src`.
    fn finding(code: Code, src: &SourceFile, line: usize, image: &str) -> Finding {
        let at = Location::starting(src, src.offset_of(line, 1));
        Finding::new(code, "m").located(at).with_image(image)
    }

    /// The finding's 1-based line in `sources`, 0 without one.
    fn line_in(f: &Finding, sources: &Sources) -> usize {
        f.location
            .as_ref()
            .and_then(|l| l.line_col(sources))
            .map_or(0, |lc| lc.line)
    }

    #[test]
    fn inline_comments_suppress_their_line_and_listed_codes_only() {
        let src = SourceFile::new(
            "v.yaml",
            "a: x:1 # chartpin:ignore\nb: y:1 # chartpin:ignore=implicit-latest\nc: z # chartpin:ignore=implicit-latest,mutable-tag\nd: w:1 # chartpin:ignore\n",
        );
        let fs = vec![
            finding(Code::MutableTag, &src, 1, "x:1"),
            finding(Code::MutableTag, &src, 2, "y:1"),
            finding(Code::ImplicitLatest, &src, 3, "z"),
        ];
        let out = apply(fs, &[&src], &[], &[]);
        let sources: Sources = [src].into_iter().collect();
        let got: Vec<(Code, usize)> = out.iter().map(|f| (f.code, line_in(f, &sources))).collect();
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
            vec![finding(Code::MutableTag, &src, 1, "a:1")],
            &[&src],
            &[],
            &[],
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].code, Code::MutableTag);
    }

    #[test]
    fn unknown_codes_in_a_directive_are_reported() {
        let src = SourceFile::new("v.yaml", "a: x:1 # chartpin:ignore=mutable-tag,no-such\n");
        let out = apply(
            vec![finding(Code::MutableTag, &src, 1, "x:1")],
            &[&src],
            &[],
            &[],
        );
        assert_eq!(out.len(), 1);
        assert!(out[0].message.contains("no-such"));
    }

    #[test]
    fn config_rules_match_path_image_and_code_together() {
        let config = SourceFile::new(
            "/w/chart/.chartpin.yaml",
            "ignore:\n  - path: charts/*/values.yaml\n  - image: docker.io/bitnami/*\n",
        );
        let rule = |path: Option<&str>, image: Option<&str>, code: Option<Code>| {
            let mut r = IgnoreRule::new(path, image, code).unwrap();
            r.location = Some(Location::starting(&config, config.offset_of(3, 1)));
            ScopedRule {
                rule: r,
                config: "/w/chart/.chartpin.yaml".into(),
                chart_root: Some("/w/chart".into()),
            }
        };
        let fs = vec![
            finding(
                Code::MutableTag,
                &SourceFile::new("/w/chart/values.yaml", ""),
                1,
                "bitnami/nginx:1.25",
            ),
            finding(
                Code::MutableTag,
                &SourceFile::new("/w/chart/charts/sub/values.yaml", ""),
                1,
                "busybox:1",
            ),
            finding(
                Code::ImplicitLatest,
                &SourceFile::new("/w/chart/templates/a.yaml", ""),
                1,
                "quay.io/x/y",
            ),
            finding(
                Code::ImplicitLatest,
                &SourceFile::new("/w/other/templates/a.yaml", ""),
                1,
                "quay.io/x/y",
            ),
        ];
        let out = apply(
            fs,
            &[],
            &[
                rule(Some("charts/*/values.yaml"), None, None),
                rule(None, Some("quay.io/x/*"), Some(Code::ImplicitLatest)),
                rule(
                    None,
                    Some("docker.io/bitnami/*"),
                    Some(Code::ImplicitLatest),
                ),
            ],
            &[],
        );
        let got: Vec<(Code, &str)> = out
            .iter()
            .map(|f| (f.code, f.file().unwrap().to_str().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                (Code::MutableTag, "/w/chart/values.yaml"),
                (Code::ImplicitLatest, "/w/other/templates/a.yaml"),
                (Code::UnusedSuppression, "/w/chart/.chartpin.yaml")
            ]
        );
        assert!(out[2].message.contains("docker.io/bitnami/*"));
        let sources: Sources = [config].into_iter().collect();
        assert_eq!(line_in(&out[2], &sources), 3);
    }
}
