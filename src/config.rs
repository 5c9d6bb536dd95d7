//! `.chartpin.yaml`: what a chart tells chartpin when its values cannot be
//! read by convention alone. It sits beside `Chart.yaml` (or is named with
//! `--config`) and says:
//!
//! - `images`: which manifest entry goes to which YAML path, how to write it,
//!   and which other keys to clear (OSM 0.11–1.0 digest keys follow no rule;
//!   OSM needs `tag: ""` before its digests take effect);
//! - `shaFormat`: whether `sha` fields hold bare hex or `sha256:<hex>`, when
//!   the chart's templates are not at hand to tell;
//! - `ignore`: lint suppressions by file glob, image pattern and finding code.
//!
//! Read with serde-saphyr, which rejects duplicate keys and reports positions.
//! See docs/config.md for examples.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::diag::{Code, InputError};
use crate::source::{Location, SourceFile};
use crate::values::YamlPath;

/// The name chartpin looks for beside `Chart.yaml`.
pub const FILE_NAME: &str = ".chartpin.yaml";

/// A parsed `.chartpin.yaml`.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Where the file was read from.
    pub path: PathBuf,
    /// Explicit manifest entry → values path mappings.
    pub images: Vec<ImageMapping>,
    /// How `sha` fields are written, overriding what the templates suggest.
    pub sha_format: Option<ShaFormat>,
    /// Lint suppressions.
    pub ignore: Vec<IgnoreRule>,
    /// `requirePlatforms:` platforms every pinned image of the chart must
    /// provide (verify and release add them to `--platform`).
    pub require_platforms: Vec<crate::reference::Platform>,
    /// `requireIndex: true`: as `--require-index`.
    pub require_index: bool,
    /// `signature:`: the chart's images must be signed, as `--signature`
    /// with these policy flags says.
    pub signature: Option<SignatureConfig>,
    /// The file's text, which the rules' locations point into (`None` for
    /// an empty file).
    pub source: Option<SourceFile>,
}

/// `signature:` of a `.chartpin.yaml`: the `--signature` policy flags, as
/// data (verify builds the policy; files are relative to the config's directory).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureConfig {
    pub key: Option<PathBuf>,
    pub certificate_identity: Option<String>,
    pub certificate_identity_regexp: Option<String>,
    pub certificate_oidc_issuer: Option<String>,
    pub trusted_root: Option<PathBuf>,
    pub recursive: bool,
    /// Where `signature:` is written, for errors about it.
    pub location: Location,
}

impl SignatureConfig {
    /// Whether `other` asks for the same policy (wherever it is written).
    pub fn same_policy(&self, other: &SignatureConfig) -> bool {
        (
            &self.key,
            &self.certificate_identity,
            &self.certificate_identity_regexp,
            &self.certificate_oidc_issuer,
            &self.trusted_root,
            self.recursive,
        ) == (
            &other.key,
            &other.certificate_identity,
            &other.certificate_identity_regexp,
            &other.certificate_oidc_issuer,
            &other.trusted_root,
            other.recursive,
        )
    }
}

/// How a chart's `sha` field holds a digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShaFormat {
    /// `sha: <hex>`; the template writes `@sha256:{{ .sha }}` (kube-prometheus-stack, grafana).
    Bare,
    /// `sha: sha256:<hex>`; the template writes `@{{ .sha }}` (kube-state-metrics).
    Prefixed,
}

/// How a mapped scalar is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteForm {
    /// `sha256:<hex>`.
    Digest,
    /// `<hex>` alone.
    Hex,
    /// `<tag>@sha256:<hex>`, keeping the tag already there (or the manifest's).
    Tag,
    /// `repo:tag@sha256:<hex>`, the whole reference.
    Reference,
}

/// One `images:` entry: put the digest of manifest entry `entry` at `path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageMapping {
    /// The manifest entry's name: a short name (`init`) or a full name (`ghcr.io/org/app`).
    pub entry: String,
    /// The image site or scalar to write (`osm.image.digest.osmSidecarInit`).
    pub path: YamlPath,
    /// How to write a scalar that is not a recognised site (default: `digest`).
    pub form: Option<WriteForm>,
    /// Scalars to set to `""` when this entry is pinned (`osm.image.tag`).
    pub clear: Vec<YamlPath>,
    /// Where the mapping is written in the config ([`Config::source`]), for messages.
    pub location: Location,
}

/// One `ignore:` rule. Every given condition must hold; an absent one matches anything.
#[derive(Clone, Debug)]
pub struct IgnoreRule {
    /// Glob on the file path (`charts/*/values.yaml`, `**/ci/*.yaml`).
    pub path: Option<String>,
    /// Image pattern where `*` matches any run of characters (`docker.io/library/*`).
    pub image: Option<String>,
    /// Finding code (`mutable-tag`).
    pub code: Option<Code>,
    /// Where the rule is written in the config, for `unused-suppression`
    /// findings; `None` for a rule not read from a file.
    pub location: Option<Location>,
    glob: Option<globset::GlobMatcher>,
}

/// An `ignore:` rule's `path` that is not a glob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidGlob {
    pub glob: String,
    pub reason: String,
}

impl std::fmt::Display for InvalidGlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid glob `{}`: {}", self.glob, self.reason)
    }
}

impl std::error::Error for InvalidGlob {}

impl IgnoreRule {
    /// A rule from its parts; `path` must be a valid glob.
    pub fn new(
        path: Option<&str>,
        image: Option<&str>,
        code: Option<Code>,
    ) -> Result<Self, InvalidGlob> {
        let glob = match path {
            Some(p) => Some(
                globset::GlobBuilder::new(p)
                    .literal_separator(false)
                    .build()
                    .map_err(|e| InvalidGlob {
                        glob: p.to_string(),
                        reason: e.to_string(),
                    })?
                    .compile_matcher(),
            ),
            None => None,
        };
        Ok(IgnoreRule {
            path: path.map(str::to_string),
            image: image.map(str::to_string),
            code,
            location: None,
            glob,
        })
    }

    /// Whether this rule suppresses a finding of `code` on `image` in `file`.
    pub fn matches(&self, file: Option<&Path>, image: Option<&str>, code: Code) -> bool {
        if self.code.is_some_and(|c| c != code) {
            return false;
        }
        if let Some(g) = &self.glob {
            let Some(f) = file else { return false };
            let f = f.strip_prefix("./").unwrap_or(f);
            if !g.is_match(f) && !f.file_name().is_some_and(|n| g.is_match(n)) {
                return false;
            }
        }
        if let Some(pat) = &self.image {
            let Some(img) = image else { return false };
            if !wildcard_match(pat, img) {
                return false;
            }
        }
        true
    }
}

/// `*` matches any run of characters (including `/`); everything else is literal.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawConfig {
    #[serde(default)]
    images: Vec<Spanned<RawMapping>>,
    #[serde(default)]
    sha_format: Option<ShaFormat>,
    #[serde(default)]
    ignore: Vec<Spanned<RawIgnore>>,
    #[serde(default)]
    require_platforms: Vec<Spanned<String>>,
    #[serde(default)]
    require_index: bool,
    #[serde(default)]
    signature: Option<Spanned<RawSignature>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSignature {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    certificate_identity: Option<String>,
    #[serde(default)]
    certificate_identity_regexp: Option<String>,
    #[serde(default)]
    certificate_oidc_issuer: Option<String>,
    #[serde(default)]
    trusted_root: Option<String>,
    #[serde(default)]
    recursive: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    entry: String,
    path: String,
    #[serde(default)]
    form: Option<WriteForm>,
    #[serde(default)]
    clear: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIgnore {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

impl Config {
    /// The 1-based line `location` is on in this config's text; 0 when unknown.
    pub fn line_of(&self, location: &Location) -> usize {
        let text = self.source.as_ref();
        text.and_then(|s| location.line_col_in(s))
            .map_or(0, |lc| lc.line)
    }

    /// Parse config text read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Config, InputError> {
        let source = SourceFile::new(path, text);
        if text.trim().is_empty() {
            return Ok(Config {
                path: path.to_path_buf(),
                ..Config::default()
            });
        }
        let raw: RawConfig = serde_saphyr::from_str(text).map_err(|e| {
            let msg = bare_message(&e.to_string());
            match e.location() {
                Some(l) if l.line() > 0 => InputError::at_line_col(
                    &source,
                    l.line() as usize,
                    (l.column() as usize).max(1),
                    format!("invalid config: {msg}"),
                ),
                _ => InputError::file(path, format!("invalid config: {msg}")),
            }
        })?;
        let at = |l: &serde_saphyr::Location, msg: String| {
            InputError::at_line_col(
                &source,
                l.line() as usize,
                (l.column() as usize).max(1),
                msg,
            )
        };
        // serde-saphyr's line and column, as a place in the text (line 0: unknown).
        let located = |l: &serde_saphyr::Location| {
            if l.line() > 0 {
                let offset = source.offset_of(l.line() as usize, l.column() as usize);
                Location::starting(&source, offset)
            } else {
                Location::file(path)
            }
        };
        let mut images = Vec::new();
        for m in raw.images {
            let loc = m.referenced;
            let parse_path = |p: &str| {
                YamlPath::parse(p).ok_or_else(|| at(&loc, format!("invalid YAML path `{p}`")))
            };
            images.push(ImageMapping {
                path: parse_path(&m.value.path)?,
                clear: m
                    .value
                    .clear
                    .iter()
                    .map(|p| parse_path(p))
                    .collect::<Result<_, _>>()?,
                entry: m.value.entry,
                form: m.value.form,
                location: located(&loc),
            });
        }
        let mut ignore = Vec::new();
        for r in raw.ignore {
            let loc = r.referenced;
            let code = match &r.value.code {
                Some(c) => Some(
                    Code::from_name(c)
                        .ok_or_else(|| at(&loc, format!("unknown finding code `{c}`")))?,
                ),
                None => None,
            };
            let mut rule = IgnoreRule::new(r.value.path.as_deref(), r.value.image.as_deref(), code)
                .map_err(|m| at(&loc, m.to_string()))?;
            rule.location = Some(located(&loc));
            ignore.push(rule);
        }
        let mut require_platforms = Vec::new();
        for p in raw.require_platforms {
            let platform = crate::reference::Platform::parse(&p.value)
                .map_err(|e| at(&p.referenced, e.to_string()))?;
            if !require_platforms.contains(&platform) {
                require_platforms.push(platform);
            }
        }
        let signature = match raw.signature {
            None => None,
            Some(sig) => {
                let loc = sig.referenced;
                let v = sig.value;
                let dir = path.parent().unwrap_or(Path::new("."));
                // `trustedRoot` goes with either: a key's Rekor bundles are
                // checked under it.
                let keyless = v.certificate_identity.is_some()
                    || v.certificate_identity_regexp.is_some()
                    || v.certificate_oidc_issuer.is_some();
                let complete_keyless = (v.certificate_identity.is_some()
                    ^ v.certificate_identity_regexp.is_some())
                    && v.certificate_oidc_issuer.is_some()
                    && v.trusted_root.is_some();
                let complete = match v.key {
                    Some(_) => !keyless,
                    None => complete_keyless,
                };
                if !complete {
                    return Err(at(
                        &loc,
                        "`signature` needs either `key` (and optionally `trustedRoot`), or `certificateIdentity` (or `certificateIdentityRegexp`) with `certificateOidcIssuer` and `trustedRoot`".to_string(),
                    ));
                }
                Some(SignatureConfig {
                    key: v.key.map(|k| dir.join(k)),
                    certificate_identity: v.certificate_identity,
                    certificate_identity_regexp: v.certificate_identity_regexp,
                    certificate_oidc_issuer: v.certificate_oidc_issuer,
                    trusted_root: v.trusted_root.map(|r| dir.join(r)),
                    recursive: v.recursive,
                    location: located(&loc),
                })
            }
        };
        Ok(Config {
            path: path.to_path_buf(),
            images,
            sha_format: raw.sha_format,
            ignore,
            require_platforms,
            require_index: raw.require_index,
            signature,
            source: Some(source),
        })
    }

    /// Read `explicit` if given, else `.chartpin.yaml` in `chart_dir` if it exists.
    /// `explicit` (`--config FILE`), else `chart`'s own `.chartpin.yaml`, as
    /// the chart reader read it.
    pub fn of_chart(
        chart: &crate::chart::Chart,
        explicit: Option<&Path>,
    ) -> Result<Option<Config>, InputError> {
        match (explicit, chart.file(FILE_NAME)) {
            (Some(p), _) => Config::load(Path::new("."), Some(p)),
            (None, Some(src)) => Config::parse(&src.path, &src.text).map(Some),
            (None, None) => Ok(None),
        }
    }

    pub fn load(chart_dir: &Path, explicit: Option<&Path>) -> Result<Option<Config>, InputError> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => {
                let p = chart_dir.join(FILE_NAME);
                if !p.exists() {
                    return Ok(None);
                }
                p
            }
        };
        let source = crate::diag::read_source(&path)?;
        Config::parse(&path, &source.text).map(Some)
    }
}

/// serde-saphyr's message alone: its first line without the `error: ` and
/// `line L column C: ` it starts with, since chartpin prints `error:` and the
/// position (`file:line:col`) itself; otherwise they read twice
/// (`invalid config: error: line 3 column 5: unknown field …`).
fn bare_message(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    let line = line.strip_prefix("error: ").unwrap_or(line);
    let positioned = line.strip_prefix("line ").and_then(|rest| {
        let (pos, msg) = rest.split_once(": ")?;
        let (l, c) = pos.split_once(" column ")?;
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        (digits(l) && digits(c)).then_some(msg)
    });
    positioned.unwrap_or(line).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_say_error_and_the_position_once() {
        let e = Config::parse(
            Path::new("c/.chartpin.yaml"),
            "images:\n  - entry: x\n    bogus: 1\n",
        )
        .unwrap_err();
        let shown = e.to_string();
        assert!(
            shown.starts_with("c/.chartpin.yaml:3:5: invalid config: unknown field `bogus`"),
            "{shown}"
        );
        assert!(
            !shown.contains("error:") && !shown.contains("line 3 column 5"),
            "{shown}"
        );
        assert_eq!(bare_message("error: line 1 column 12: bad"), "bad");
        assert_eq!(bare_message("no position: here"), "no position: here");
        assert_eq!(bare_message("line one: two"), "line one: two");
    }

    #[test]
    fn reads_required_platforms_and_index() {
        let text =
            "requirePlatforms: [linux/amd64, linux/arm64/v8, linux/amd64]\nrequireIndex: true\n";
        let c = Config::parse(Path::new(".chartpin.yaml"), text).unwrap();
        let shown: Vec<String> = c.require_platforms.iter().map(|p| p.to_string()).collect();
        assert_eq!(shown, ["linux/amd64", "linux/arm64/v8"]);
        assert!(c.require_index);
        let e = Config::parse(
            Path::new("c/.chartpin.yaml"),
            "requirePlatforms:\n  - linux/amd64\n  - amd64\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("c/.chartpin.yaml:3:5: invalid platform `amd64`"),
            "{e}"
        );
    }

    #[test]
    fn reads_mappings_sha_format_and_ignores() {
        let text = "shaFormat: prefixed\nimages:\n  - entry: init\n    path: osm.image.digest.osmSidecarInit\n    clear: [osm.image.tag]\nignore:\n  - path: \"ci/*.yaml\"\n    image: \"docker.io/library/*\"\n    code: mutable-tag\n  - code: implicit-latest\n";
        let c = Config::parse(Path::new(".chartpin.yaml"), text).unwrap();
        assert_eq!(c.sha_format, Some(ShaFormat::Prefixed));
        assert_eq!(c.images[0].entry, "init");
        assert_eq!(
            c.images[0].path.to_string(),
            "osm.image.digest.osmSidecarInit"
        );
        assert_eq!(c.images[0].clear[0].to_string(), "osm.image.tag");
        assert_eq!(c.ignore.len(), 2);
        let r = &c.ignore[0];
        let at = r.location.as_ref().unwrap();
        let source = SourceFile::new(".chartpin.yaml", text);
        assert_eq!(at.line_col_in(&source).unwrap().line, 7);
        assert!(r.matches(
            Some(Path::new("ci/a.yaml")),
            Some("docker.io/library/nginx:1"),
            Code::MutableTag
        ));
        assert!(!r.matches(
            Some(Path::new("values.yaml")),
            Some("docker.io/library/nginx:1"),
            Code::MutableTag
        ));
        assert!(!r.matches(
            Some(Path::new("ci/a.yaml")),
            Some("ghcr.io/x:1"),
            Code::MutableTag
        ));
        assert!(!r.matches(
            Some(Path::new("ci/a.yaml")),
            Some("docker.io/library/nginx:1"),
            Code::ImplicitLatest
        ));
        assert!(c.ignore[1].matches(None, None, Code::ImplicitLatest));
    }

    #[test]
    fn bad_config_names_line_and_column() {
        let dup =
            Config::parse(Path::new("c.yaml"), "shaFormat: bare\nshaFormat: bare\n").unwrap_err();
        assert_eq!(dup.line, 2, "{dup}");
        let code =
            Config::parse(Path::new("c.yaml"), "ignore:\n  - code: no-such-code\n").unwrap_err();
        assert!(code.to_string().starts_with("c.yaml:2:"), "{code}");
        assert!(code.message.contains("no-such-code"));
        let unknown = Config::parse(Path::new("c.yaml"), "imgs: []\n").unwrap_err();
        assert_eq!(unknown.line, 1, "{unknown}");
        let path = Config::parse(
            Path::new("c.yaml"),
            "images:\n  - entry: x\n    path: a..b\n",
        )
        .unwrap_err();
        assert!(path.message.contains("a..b"), "{path}");
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", "x"));
        assert!(wildcard_match("a*c", "abbbc"));
        assert!(!wildcard_match("a*c", "ab"));
        assert!(wildcard_match("*/nginx*", "docker.io/library/nginx:1"));
        assert!(!wildcard_match("abc", "abcd"));
    }
}
