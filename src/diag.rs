//! Findings, input errors and exit codes: the vocabulary every command reports in.
//!
//! Findings are data (a rule fired on some place); failures are errors (input
//! that cannot be read, a registry that does not answer). Every finding has a
//! stable kebab-case [`Code`]; the same code is the SARIF `ruleId`, the GitHub
//! annotation title and the JSON `code`, so wording stays identical across
//! `pin`, `lint`, `verify` and `release`. The exit code is derived here, once.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;

use crate::source::{Location, ReadError, SourceFile, Span};

/// How serious a finding is. Errors fail the run; warnings are reported only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Note,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

macro_rules! codes {
    ($( $variant:ident = $code:literal, $sev:ident, $desc:literal; )*) => {
        /// A stable identifier for a kind of finding.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code { $( $variant, )* }

        impl Code {
            /// Every code, in documentation order.
            pub const ALL: &'static [Code] = &[ $( Code::$variant, )* ];

            /// The kebab-case identifier (`mutable-tag`).
            pub fn as_str(self) -> &'static str {
                match self { $( Code::$variant => $code, )* }
            }

            /// One line saying what the rule means.
            pub fn description(self) -> &'static str {
                match self { $( Code::$variant => $desc, )* }
            }

            /// The severity a finding of this code has unless configured otherwise.
            pub fn default_severity(self) -> Severity {
                match self { $( Code::$variant => Severity::$sev, )* }
            }

            pub fn from_name(s: &str) -> Option<Code> {
                match s { $( $code => Some(Code::$variant), )* _ => None }
            }
        }
    };
}

codes! {
    MutableTag = "mutable-tag", Error, "image is referenced by tag without a digest; the tag can be moved";
    ImplicitLatest = "implicit-latest", Error, "image has neither tag nor digest, so it means whatever `latest` points to";
    EmptyDigest = "empty-digest", Error, "a digest field is present but empty while the tag is mutable";
    InvalidReference = "invalid-reference", Error, "the image reference does not follow the distribution grammar";
    InvalidDigest = "invalid-digest", Error, "the digest is malformed (sha256 needs 64 lowercase hex characters)";
    DigestFieldIgnored = "digest-field-ignored", Error, "a digest is set where the chart's template will not render it";
    UnresolvableImage = "unresolvable-image", Warning, "the image's name cannot be worked out from values and templates";
    UnmatchedImage = "unmatched-image", Warning, "an image in the chart has no entry in the digest manifest";
    UnpinnableImage = "unpinnable-image", Warning, "a rendered image cannot be pinned where its templates read it (one value renders several images, or its parts hold no digest)";
    UnmatchedEntry = "unmatched-entry", Warning, "a digest manifest entry matches no image in the chart";
    UnusedSuppression = "unused-suppression", Warning, "a suppression comment or ignore rule matches no finding";
    SkippedDocument = "skipped-document", Warning, "a rendered document is not a Kubernetes object and was skipped";
    DigestNotFound = "digest-not-found", Error, "the registry does not have a manifest with this digest";
    TagDrift = "tag-drift", Error, "the tag now points to a different digest than the one pinned";
    PlatformMissing = "platform-missing", Error, "the pinned image does not provide an expected platform";
    NotAnImage = "not-an-image", Error, "the pinned digest names an attestation, signature, SBOM or other artifact, not an image a kubelet can run";
    PlatformManifest = "platform-manifest", Warning, "one platform's manifest is pinned where its tag points to a multi-platform index";
    SignatureMissing = "signature-missing", Error, "--signature: no signature of the pinned digest was found (cosign's sha256-<hex>.sig tag, OCI referrers)";
    SignatureInvalid = "signature-invalid", Error, "--signature: a signature was found but does not prove this digest (bad signature, payload for another digest or repository, broken certificate or log entry)";
    SignatureUntrusted = "signature-untrusted", Error, "--signature: the signature is valid but made by a key or identity the policy does not allow";
    ContentMismatch = "content-mismatch", Error, "the manifest bytes the registry served do not hash to the pinned digest";
    AuthFailed = "auth-failed", Error, "the registry refused the credentials (or anonymous access) for this image";
    RegistryUnreachable = "registry-unreachable", Error, "the registry gave no usable answer (network, TLS, timeouts or retries exhausted)";
    DigestNotRendered = "digest-not-rendered", Error, "rendering the pinned chart does not give this image the digest the manifest holds for it";
    RenderChanged = "render-changed", Error, "pinning changed something in the render other than image references";
    UnstablePin = "unstable-pin", Error, "pinning the pinned values again would change them: the pin is not settled";
}

impl Code {
    /// Codes whose findings mean the registry could not answer, not that the release is bad.
    pub fn is_unanswered(self) -> bool {
        matches!(self, Code::AuthFailed | Code::RegistryUnreachable)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// `digest-not-rendered`: the pinned chart renders `rendered` at `what`
/// (`Deployment/web container \`app\``) without `expected`.
pub fn digest_not_rendered(
    what: &str,
    rendered: &str,
    expected: &str,
    values_path: Option<&str>,
) -> Finding {
    let from = values_path.map_or_else(String::new, |p| format!(" (pinned at `{p}`)"));
    let f = Finding::new(
        Code::DigestNotRendered,
        format!(
            "{what} renders `{rendered}` after the pin, not the digest {expected}{from}; the pin does not reach what the chart renders"
        ),
    )
    .with_image(rendered);
    match values_path {
        Some(p) => f.with_path(p),
        None => f,
    }
}

/// `render-changed`: rendering the pinned chart changed `field` of `object`
/// from `before` to `after` (either `None` when the field or object renders
/// on one side only).
pub fn render_changed(
    object: &str,
    field: Option<&str>,
    before: Option<&str>,
    after: Option<&str>,
) -> Finding {
    let short = |s: &str| {
        let s = s.trim();
        match s.char_indices().nth(80) {
            Some((i, _)) => format!("`{}…`", &s[..i]),
            None => format!("`{s}`"),
        }
    };
    let what = match field {
        Some(f) => format!("{object} field `{f}`"),
        None => object.to_string(),
    };
    let change = match (before, after) {
        (Some(b), Some(a)) => format!("changed from {} to {}", short(b), short(a)),
        (Some(_), None) => "no longer renders".to_string(),
        (None, Some(_)) => "renders only after the pin".to_string(),
        (None, None) => "changed".to_string(),
    };
    let digest = after.is_some_and(|a| {
        a.matches("sha256:").count() > before.map_or(0, |b| b.matches("sha256:").count())
    });
    let why = if digest {
        "the pin reached a field that is not an image (a label or annotation cannot hold a digest); this chart would break"
    } else {
        "only image references may change when a chart is pinned"
    };
    Finding::new(
        Code::RenderChanged,
        format!("{what} {change} when pinned: {why}"),
    )
}

/// One rule firing at one place.
///
/// The place is a [`Location`]: the file and a byte position in its text.
/// Line and column are not stored; the renderers work them out from the
/// text ([`crate::source::Sources`]), so a finding moved, merged or
/// suppressed never carries a stale line number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    /// Where the finding is: the file (relative to the working directory
    /// when possible) and, when known, the position in it.
    pub location: Option<Location>,
    /// The YAML path of the site (`controller.image.tag`), when it has one.
    pub path: Option<String>,
    /// The image reference concerned, as written.
    pub image: Option<String>,
}

impl Finding {
    /// A finding with the code's default severity and no location yet.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Finding {
            code,
            severity: code.default_severity(),
            message: message.into(),
            location: None,
            path: None,
            image: None,
        }
    }

    /// Place the finding at `span` of `source`.
    pub fn at(self, source: &SourceFile, span: Span) -> Self {
        self.located(Location::at(source, span))
    }

    /// Place the finding in `file` without a position.
    pub fn in_file(self, file: impl AsRef<Path>) -> Self {
        self.located(Location::file(file))
    }

    /// Place the finding at `location`.
    pub fn located(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    pub fn with_image(mut self, image: impl Into<String>) -> Self {
        self.image = Some(image.into());
        self
    }

    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// The file the finding is in, when it has one.
    pub fn file(&self) -> Option<&Path> {
        self.location.as_ref().map(|l| &*l.file)
    }

    /// The exact byte span in [`Finding::file`], when one is known.
    pub fn span(&self) -> Option<Span> {
        self.location.as_ref().and_then(Location::span)
    }
}

/// Input that cannot be used: a file that does not parse, a digest that is not
/// one, an entry that contradicts another. Renders as `file:line:col: message`
/// with the offending line and a caret under the column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The offending source line, when known.
    pub source_line: Option<String>,
}

impl InputError {
    /// An error about the whole of `file`, without a position.
    pub fn file(file: impl AsRef<Path>, message: impl Into<String>) -> Self {
        InputError {
            file: file.as_ref().to_path_buf(),
            line: 0,
            column: 0,
            message: message.into(),
            source_line: None,
        }
    }

    /// An error at byte `offset` of `source`.
    pub fn at(source: &SourceFile, offset: usize, message: impl Into<String>) -> Self {
        let lc = source.line_col(offset);
        Self::at_line_col(source, lc.line, lc.column, message)
    }

    /// An error at a known 1-based line and column of `source`.
    pub fn at_line_col(
        source: &SourceFile,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        InputError {
            file: source.path.to_path_buf(),
            line,
            column,
            message: message.into(),
            source_line: Some(source.line_text(line).to_string()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.file
    }

    /// Why `shown` could not be read, as the one message every command prints:
    /// `file:line:col: file is not valid UTF-8` at the first invalid byte,
    /// `file: is a directory`, or `file: cannot read: <os error>`.
    pub fn unreadable(shown: impl Into<PathBuf>, err: ReadError) -> Self {
        let shown = shown.into();
        match err {
            ReadError::Io(e) => InputError::file(shown, format!("cannot read: {e}")),
            ReadError::Directory => InputError::file(shown, "is a directory"),
            ReadError::NotRegular(what) => InputError::file(
                shown,
                format!("not a regular file ({what}); refusing to read it"),
            ),
            ReadError::TooLarge { limit } => InputError::file(
                shown,
                format!("too large: {}", crate::limits::exceeded(limit)),
            ),
            ReadError::NotUtf8 { at, line_text } => InputError {
                file: shown,
                line: at.line,
                column: at.column,
                message: "file is not valid UTF-8".to_string(),
                source_line: Some(line_text),
            },
        }
    }
}

/// Read the file at `path` as source text (see [`SourceFile::read`]), or the input error saying why not.
pub fn read_source(path: &Path) -> Result<SourceFile, InputError> {
    read_source_as(path, path)
}

/// [`read_source`] of a file that must be a regular file: a FIFO or a device
/// is refused without being opened for a blocking read ([`SourceFile::read_regular`]).
pub fn read_regular_source(path: &Path) -> Result<SourceFile, InputError> {
    SourceFile::read_regular(path, path).map_err(|e| InputError::unreadable(path, e))
}

/// [`read_source`] of `path`, named `shown` in the text and any error (the
/// path as given, when `path` is its canonical form).
pub fn read_source_as(path: &Path, shown: &Path) -> Result<SourceFile, InputError> {
    SourceFile::read(path, shown).map_err(|e| InputError::unreadable(shown, e))
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}: {}", self.file.display(), self.message);
        }
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )?;
        if let Some(src) = &self.source_line {
            let gutter = self.line.to_string().len();
            let pad: String = src
                .chars()
                .take(self.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(
                f,
                "\n{:gutter$} |\n{} | {}\n{:gutter$} | {}^",
                "", self.line, src, "", pad
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for InputError {}

/// An error meaning a registry could not give an answer (network, TLS,
/// authentication, retries exhausted). Anywhere in an error's chain, it makes
/// the exit status [`Exit::Unanswered`] instead of [`Exit::Usage`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unanswered(pub String);

impl fmt::Display for Unanswered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unanswered {}

/// The documented exit statuses, the same for every subcommand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Nothing to report.
    Clean = 0,
    /// Findings of error severity (or, with `--check`, changes pending).
    Findings = 1,
    /// Usage or input error: bad flags, unreadable or invalid files.
    Usage = 2,
    /// A registry could not give an answer: auth, network, retries exhausted.
    Unanswered = 3,
}

impl Exit {
    /// The exit status for a set of findings: registry trouble outranks plain
    /// findings, because "could not check" must not read as "checked and bad".
    pub fn from_findings(findings: &[Finding]) -> Exit {
        let errors = findings.iter().filter(|f| f.severity == Severity::Error);
        let mut exit = Exit::Clean;
        for f in errors {
            let e = if f.code.is_unanswered() {
                Exit::Unanswered
            } else {
                Exit::Findings
            };
            exit = exit.max(e);
        }
        exit
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_kebab_case_and_round_trip() {
        for c in Code::ALL {
            let s = c.as_str();
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{s}"
            );
            assert_eq!(Code::from_name(s), Some(*c));
            assert!(!c.description().is_empty());
        }
    }

    #[test]
    fn exit_code_prefers_unanswered_over_findings() {
        let f = |c| Finding::new(c, "m");
        assert_eq!(Exit::from_findings(&[]), Exit::Clean);
        assert_eq!(Exit::from_findings(&[f(Code::UnmatchedImage)]), Exit::Clean);
        assert_eq!(Exit::from_findings(&[f(Code::MutableTag)]), Exit::Findings);
        assert_eq!(
            Exit::from_findings(&[f(Code::DigestNotFound), f(Code::RegistryUnreachable)]),
            Exit::Unanswered
        );
    }

    #[test]
    fn input_error_shows_the_line_and_a_caret() {
        let src = SourceFile::new("values.yaml", "a: 1\nimage: 'x\n");
        let e = InputError::at(&src, 12, "unterminated quote");
        assert_eq!(
            e.to_string(),
            "values.yaml:2:8: unterminated quote\n  |\n2 | image: 'x\n  |        ^"
        );
    }
}
