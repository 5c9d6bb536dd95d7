//! Command-line interface: arguments shared by every subcommand, dispatch,
//! and the mapping of outcomes to exit statuses.
//!
//! Every subcommand takes charts the same way (positional paths, `--chart DIR`
//! as an equivalent) and the same exit codes ([`EXIT_CODES_HELP`], shown in
//! every `--help`); every subcommand that reports findings takes the same
//! `--format` values. A flag that several subcommands share has one name and
//! one description everywhere; where a subcommand reads a shared flag
//! differently (`--platform` for `resolve`), its help says how. The help of
//! every subcommand is snapshotted (tests/it/help.rs), so a change to this
//! interface shows up in review.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::diag::{Exit, Unanswered};
use crate::report::Format;

mod generate;
mod lint;
pub mod logging;
mod pin;
mod release;
mod verify;

pub const EXIT_CODES_HELP: &str = "\
Exit status:
  0  clean: nothing to report
  1  findings (pin --check: changes pending; resolve: a tag or platform not found)
  2  usage or input error (bad flags, unreadable or invalid files)
  3  a registry could not give an answer (auth, network, retries exhausted)";

/// Make Helm chart releases immutable: pin image digests, verify them, lint for mutable references.
#[derive(Debug, Parser)]
#[command(name = "chartpin", version, about, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// When to colour human output: auto (on a terminal, unless NO_COLOR is
    /// set or CLICOLOR=0; CLICOLOR_FORCE set non-empty forces it), always, never.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = clap::ColorChoice::Auto)]
    pub color: clap::ColorChoice,
    #[command(subcommand)]
    pub command: Command,
    /// Largest input read: any one file, archive entry, whole `.tgz` expanded, or
    /// --rendered stream (bytes, or with K, M, G). Larger inputs are refused (exit 2).
    #[arg(
        long = "max-input-size",
        global = true,
        value_name = "SIZE",
        default_value = "64M",
        value_parser = crate::limits::parse_size
    )]
    pub max_input_size: u64,
    #[command(flatten)]
    pub verbosity: logging::Verbosity,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a release's digests into a chart's values, changing nothing else.
    Pin(pin::PinArgs),
    /// Fail on any image reference that is still mutable.
    Lint(lint::LintArgs),
    /// Prove every pinned digest exists in its registry.
    Verify(verify::VerifyArgs),
    /// Look tags up in their registries and print a digest manifest.
    ///
    /// The manifest (one `name:tag@digest` line per image) goes to standard
    /// output or --output, ready for `chartpin pin --digests`; failures go to
    /// standard error. `--format json` prints the resolved entries in the
    /// JSON envelope every command shares (docs/json.md) instead.
    Resolve(verify::ResolveArgs),
    /// Verify, pin and lint in one safe step; write only if everything passes.
    Release(release::ReleaseArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(generate::CompletionsArgs),
    /// Print the man page, or write every page into a directory.
    Man(generate::ManArgs),
}

/// How charts are named: positional paths, or `--chart DIR`, equivalently.
///
/// The help says what `pin` and `release` accept (chart directories); a
/// subcommand that finds charts as `lint` does overrides it with
/// [`DISCOVERED_CHARTS_HELP`] (or [`CHARTS_OR_IMAGES_HELP`]).
#[derive(Debug, Clone, Default, Args)]
pub struct ChartArgs {
    /// Chart directories (default: the current directory).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// A chart; the same as giving it as a positional PATH. Repeatable.
    #[arg(long = "chart", value_name = "DIR")]
    pub charts: Vec<PathBuf>,
}

/// The positional help of subcommands that find charts as `lint` does.
pub const DISCOVERED_CHARTS_HELP: &str = "Chart directories, directories holding charts, or packaged .tgz charts (default: the current directory)";

/// The positional help of `verify` and `resolve`, which also take image references.
pub const CHARTS_OR_IMAGES_HELP: &str = "Chart directories, directories holding charts, packaged .tgz charts, or image references (default: the current directory)";

/// `--digests-format`: a clap usage error (exit 2) listing the valid names.
pub fn parse_manifest_format(
    s: &str,
) -> Result<crate::manifest::ManifestFormat, crate::manifest::UnknownFormat> {
    s.parse()
}

/// The digest manifests a run reads: shared by `pin`, `release` and
/// `verify` (whose help says what it does with them).
#[derive(Debug, Clone, Default, Args)]
pub struct DigestsArgs {
    /// Digest manifest produced by the release build. Repeatable; entries merge.
    #[arg(long = "digests", value_name = "FILE")]
    pub digests: Vec<PathBuf>,
    /// Read the manifests as this format instead of detecting it
    /// (docker-images, name-digest, ref-lines, goreleaser, buildx, kbld, imgpkg, map, skopeo).
    #[arg(long = "digests-format", value_name = "FORMAT", value_parser = parse_manifest_format)]
    pub digests_format: Option<crate::manifest::ManifestFormat>,
}

impl DigestsArgs {
    /// Whether no `--digests` was given.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Every `--digests` file, read and merged ([`crate::manifest::read_manifests`]).
    pub fn read(&self) -> Result<crate::manifest::DigestManifest, crate::diag::InputError> {
        crate::manifest::read_manifests(&self.digests, self.digests_format)
    }
}

impl ChartArgs {
    /// All charts named, positional first; `.` when none was.
    pub fn all(&self) -> Vec<PathBuf> {
        let mut all: Vec<PathBuf> = self.paths.iter().chain(&self.charts).cloned().collect();
        if all.is_empty() {
            all.push(PathBuf::from("."));
        }
        all
    }
}

/// What verify and release require of every pinned image's platforms: the
/// same flags on both.
#[derive(Debug, Clone, Default, Args)]
pub struct RequireArgs {
    /// Platforms every pinned image must provide, comma-separated (linux/amd64,linux/arm64). Repeatable; the same check as --platform, and a chart's .chartpin.yaml `requirePlatforms` adds to it.
    #[arg(
        long = "require-platform",
        value_name = "OS/ARCH[,…]",
        value_delimiter = ','
    )]
    pub require_platforms: Vec<String>,
    /// A single platform's manifest pinned where its tag points to a multi-platform index is an error (`platform-manifest`), not a warning.
    #[arg(long = "require-index")]
    pub require_index: bool,
}

impl RequireArgs {
    /// `--platform` and `--require-platform` together, parsed, each once.
    pub fn platforms(
        &self,
        registry: &RegistryArgs,
    ) -> anyhow::Result<Vec<crate::verify::Platform>> {
        parse_platforms(&[&registry.platforms[..], &self.require_platforms[..]].concat())
    }
}

/// `--signature` and its policy: the same flags on verify and release.
#[derive(Debug, Clone, Default, Args)]
pub struct SignatureArgs {
    /// Require a cosign signature on every pinned digest (the sha256-<hex>.sig tag or an OCI referrer), allowed by --key or by --certificate-identity[-regexp] with --certificate-oidc-issuer and --trusted-root.
    #[arg(long)]
    pub signature: bool,
    /// The signer's public key (PEM: ECDSA P-256 or Ed25519, as cosign.pub).
    #[arg(long, value_name = "FILE", requires = "signature", conflicts_with_all = ["certificate_identity", "certificate_identity_regexp", "certificate_oidc_issuer"])]
    pub key: Option<PathBuf>,
    /// Keyless: the identity (email or URI) the signing certificate must name.
    #[arg(
        long = "certificate-identity",
        value_name = "IDENTITY",
        requires = "signature",
        conflicts_with = "certificate_identity_regexp"
    )]
    pub certificate_identity: Option<String>,
    /// Keyless: a regular expression the whole identity must match.
    #[arg(
        long = "certificate-identity-regexp",
        value_name = "REGEXP",
        requires = "signature"
    )]
    pub certificate_identity_regexp: Option<String>,
    /// Keyless: the OIDC issuer the signing certificate must name (https://token.actions.githubusercontent.com).
    #[arg(
        long = "certificate-oidc-issuer",
        value_name = "URL",
        requires = "signature"
    )]
    pub certificate_oidc_issuer: Option<String>,
    /// The Sigstore trusted root (JSON, as `cosign trusted-root create` writes) whose Fulcio CAs and Rekor keys are trusted; verified offline. Keyless: required. With --key: each signature's Rekor bundle must verify under its log keys (without it, bundles are not checked).
    #[arg(long = "trusted-root", value_name = "FILE", requires = "signature")]
    pub trusted_root: Option<PathBuf>,
    /// Also require a signature on every platform image an index lists (cosign signs only the index unless asked).
    #[arg(long, requires = "signature")]
    pub recursive: bool,
}

impl SignatureArgs {
    /// The policy the flags describe; `None` without --signature.
    pub fn policy(
        &self,
    ) -> anyhow::Result<Option<std::sync::Arc<crate::verify::signature::SignaturePolicy>>> {
        use crate::verify::signature::{PolicyError, PolicySettings, SignaturePolicy};
        if !self.signature {
            return Ok(None);
        }
        let policy = SignaturePolicy::build(PolicySettings {
            key: self.key.as_deref(),
            certificate_identity: self.certificate_identity.as_deref(),
            certificate_identity_regexp: self.certificate_identity_regexp.as_deref(),
            certificate_oidc_issuer: self.certificate_oidc_issuer.as_deref(),
            trusted_root: self.trusted_root.as_deref(),
            recursive: self.recursive,
        })
        .map_err(|e| match e {
            PolicyError::Input(e) => anyhow::Error::from(e),
            PolicyError::BadRegexp(re, e) => anyhow::anyhow!(
                "--certificate-identity-regexp `{re}` is not a valid regular expression: {e}"
            ),
            PolicyError::NoIdentity => anyhow::anyhow!(
                "--signature needs a policy: --key FILE, or --certificate-identity (or --certificate-identity-regexp) with --certificate-oidc-issuer and --trusted-root"
            ),
            PolicyError::NoIssuer => anyhow::anyhow!(
                "keyless --signature needs --certificate-oidc-issuer (the OIDC issuer the certificate must name)"
            ),
            PolicyError::NoTrustedRoot => anyhow::anyhow!(
                "keyless --signature needs --trusted-root FILE (a Sigstore trusted root; verification is offline)"
            ),
        })?;
        if self.key.is_some() && self.trusted_root.is_none() {
            let _ = writeln!(
                logging::notes(),
                "note: --key without --trusted-root: Rekor bundles on the signatures are not checked (offline there is no log key to check them with); give --trusted-root FILE to require and check them"
            );
        }
        Ok(Some(std::sync::Arc::new(policy)))
    }
}

/// How a command renders charts with helm: the same flags on pin, lint, verify and release.
#[derive(Debug, Clone, Default, Args)]
pub struct RenderArgs {
    /// Render each chart with `helm template` and check against what it renders; exit 2 when helm cannot be found.
    #[arg(long, conflicts_with = "no_render")]
    pub render: bool,
    /// Never run helm: find images by the values conventions alone.
    #[arg(long = "no-render")]
    pub no_render: bool,
    /// The helm binary to render with (default: `helm` on PATH).
    #[arg(long, value_name = "PATH")]
    pub helm: Option<PathBuf>,
    /// A values file helm renders with (`helm template -f FILE`), such as the chart's ci/ values. Repeatable, in order.
    #[arg(long = "values-file", value_name = "FILE")]
    pub values_files: Vec<PathBuf>,
    /// A value helm renders with (`helm template --set KEY=VALUE`). Repeatable, in order.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
}

impl RenderArgs {
    /// What helm is given besides the chart, for a command that renders by
    /// `default` unless the flags say otherwise. Each `--values-file` is read
    /// first, and must be a regular file within the size limit, in UTF-8:
    /// helm is never handed a FIFO to block on or a device to read without
    /// end, and the probe reads each file again (issue 10). Values given to
    /// a run that does not render are not silently dropped: a note says so.
    pub fn spec(
        &self,
        default: crate::helm::RenderMode,
    ) -> Result<crate::helm::RenderSpec, crate::diag::InputError> {
        for f in &self.values_files {
            crate::diag::read_regular_source(f)?;
        }
        let given = !self.values_files.is_empty() || !self.sets.is_empty();
        if given && self.mode(default) == crate::helm::RenderMode::Off {
            let _ = writeln!(
                logging::notes(),
                "note: --values-file and --set are what helm renders with; this run does not render (add --render), so they are not used"
            );
        }
        Ok(crate::helm::RenderSpec {
            helm: self.helm.clone(),
            values_files: self.values_files.clone(),
            sets: self.sets.clone(),
        })
    }

    /// The mode the flags ask for; `default` when they ask for neither.
    pub fn mode(&self, default: crate::helm::RenderMode) -> crate::helm::RenderMode {
        use crate::helm::RenderMode;
        if self.render {
            RenderMode::Required
        } else if self.no_render {
            RenderMode::Off
        } else {
            default
        }
    }
}

/// The output format flag, shared by every subcommand.
#[derive(Debug, Clone, Default, Args)]
pub struct FormatArgs {
    /// Output format [default: github when GITHUB_ACTIONS=true, else human].
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,
}

impl FormatArgs {
    pub fn resolve(&self) -> Format {
        self.format.unwrap_or_else(Format::default_for_env)
    }
}

/// Parse the command line and run the subcommand.
pub fn run() -> anyhow::Result<Exit> {
    let cli = Cli::parse();
    crate::limits::set_max_input_size(cli.max_input_size);
    anstream::ColorChoice::write_global(match cli.color {
        clap::ColorChoice::Auto => anstream::ColorChoice::Auto,
        clap::ColorChoice::Always => anstream::ColorChoice::Always,
        clap::ColorChoice::Never => anstream::ColorChoice::Never,
    });
    cli.verbosity.init();
    let _step = crate::steps::step("command");
    match cli.command {
        Command::Pin(a) => pin::run(a),
        Command::Lint(a) => lint::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Resolve(a) => verify::run_resolve(a),
        Command::Release(a) => release::run(a),
        Command::Completions(a) => generate::completions(a),
        Command::Man(a) => generate::man(a),
    }
}

/// The exit status for an error: 3 when a registry could not answer, else 2.
pub fn exit_for_error(err: &anyhow::Error) -> Exit {
    if err.chain().any(|c| c.is::<Unanswered>()) {
        Exit::Unanswered
    } else {
        Exit::Usage
    }
}

/// An error with its causes, each once, for stderr: control characters
/// (from file names, YAML, registries, helm) shown escaped.
pub fn render_error(err: &anyhow::Error) -> String {
    let mut out = err.to_string();
    for cause in err.chain().skip(1) {
        let c = cause.to_string();
        if !out.contains(&c) {
            out.push_str("\n  caused by: ");
            out.push_str(&c);
        }
    }
    crate::terminal::escape(&out).into_owned()
}

/// Whether the error is a closed stdout (`chartpin resolve | head`). The
/// commands that report findings never end with one (see [`Stdout`]); a
/// command writing data that was cut short exits 141, as a shell reports a
/// process killed by SIGPIPE, so `set -o pipefail` notices.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The exit status after a broken pipe: 128 + SIGPIPE.
pub const BROKEN_PIPE_EXIT: u8 = 141;

/// Standard output for reports: once the reader has gone (`chartpin lint |
/// head -1`), the rest is discarded instead of failing, so the command
/// still ends with the exit status its findings give: never 0 when there
/// are errors to report.
pub struct Stdout {
    inner: std::io::StdoutLock<'static>,
    broken: bool,
}

impl Stdout {
    pub fn lock() -> Self {
        Stdout {
            inner: std::io::stdout().lock(),
            broken: false,
        }
    }

    fn absorb(&mut self, r: std::io::Result<()>) -> std::io::Result<()> {
        match r {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.broken = true;
                Ok(())
            }
            r => r,
        }
    }
}

impl std::io::Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.broken {
            return Ok(buf.len());
        }
        let r = self.inner.write_all(buf);
        self.absorb(r).map(|()| buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.broken {
            return Ok(());
        }
        let r = self.inner.flush();
        self.absorb(r)
    }
}

/// Told on stderr when another run holds a chart's lock (see [`crate::lock`]).
pub fn note_waiting(chart: &std::path::Path) {
    let _ = writeln!(
        logging::notes(),
        "note: {}: another chartpin run holds this chart's lock; waiting for it to finish",
        chart.display()
    );
}

/// The writer's notes (a read-only file replaced by root), on stderr unless `-q`.
pub fn print_write_notes(notes: &[crate::write::WriteNote]) {
    let mut out = logging::notes();
    for note in notes {
        let _ = writeln!(out, "note: {note}");
    }
}

/// Print `resolve`'s notes and failures to stderr (`note: …`, `error: IMAGE: …`)
/// and give the exit status they make.
pub fn report_resolution(run: &crate::verify::run::ResolveRun) -> std::io::Result<Exit> {
    use std::io::Write;
    let mut notes = logging::notes();
    for note in &run.notes {
        writeln!(notes, "note: {note}")?;
    }
    let mut stderr = crate::terminal::EscapingWriter::new(std::io::stderr().lock());
    for (image, e) in &run.resolution.failures {
        match e {
            crate::verify::ResolveError::Registry(e) => {
                writeln!(stderr, "error: {image}: {}", Unanswered(e.to_string()))?
            }
            e => writeln!(stderr, "error: {image}: {e}")?,
        }
    }
    Ok(run.resolution.exit())
}

/// `--platform` (and `--require-platform`) values, parsed, each once.
pub fn parse_platforms(raw: &[String]) -> anyhow::Result<Vec<crate::verify::Platform>> {
    let mut out: Vec<crate::verify::Platform> = Vec::new();
    for p in raw {
        let p = crate::verify::Platform::parse(p.trim()).map_err(anyhow::Error::msg)?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// The registry client the flags and environment describe.
pub fn build_client(args: &RegistryArgs) -> anyhow::Result<crate::registry::RegistryClient> {
    use crate::registry::{ClientConfig, Mirror, RegistryClient, credentials::CredentialStore};
    use std::time::Duration;
    if args.concurrency == 0 {
        anyhow::bail!("--concurrency must be at least 1");
    }
    if args.timeout == 0 {
        anyhow::bail!("--timeout must be at least 1 second");
    }
    if args.deadline == 0 {
        anyhow::bail!("--deadline must be at least 1 second");
    }
    let mirrors = args
        .registry_mirrors
        .iter()
        .map(|m| Mirror::parse(m).map_err(anyhow::Error::from))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let credentials = CredentialStore::from_env()?;
    let timeout = Duration::from_secs(args.timeout);
    let config = ClientConfig {
        concurrency: args.concurrency,
        timeout,
        connect_timeout: timeout.min(Duration::from_secs(10)),
        insecure_registries: args.insecure_registries.clone(),
        ca_file: args.ca_file.clone(),
        mirrors,
        credentials,
        deadline: Duration::from_secs(args.deadline),
        ..ClientConfig::default()
    };
    Ok(RegistryClient::new(config)?)
}

/// How to reach registries: shared by `verify`, `resolve`, `release` and `pin --resolve`.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Registry options")]
pub struct RegistryArgs {
    /// Most requests in flight to one registry at a time.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub concurrency: usize,
    /// Seconds to wait for one registry answer before retrying.
    #[arg(long, value_name = "S", default_value_t = 30)]
    pub timeout: u64,
    /// Seconds all registry work of the run may take, counted from its first
    /// request; what is unanswered by then is registry-unreachable (exit 3).
    #[arg(long, value_name = "S", default_value_t = 300)]
    pub deadline: u64,
    // The help is an attribute, not a doc comment: rustdoc would read
    // `HOST[:PORT]` as a link.
    #[arg(
        long = "insecure-registry",
        value_name = "HOST",
        help = "Talk plain HTTP (or unverified HTTPS) to HOST[:PORT]. Loopback hosts always may. Repeatable"
    )]
    pub insecure_registries: Vec<String>,
    /// Trust this PEM CA certificate in addition to the system roots.
    #[arg(long = "ca-file", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Look images of registry FROM up at TO instead; references keep their names. Repeatable.
    #[arg(long = "registry-mirror", value_name = "FROM=TO")]
    pub registry_mirrors: Vec<String>,
    /// Platform every image must provide (os/arch[/variant]). Repeatable.
    #[arg(long = "platform", value_name = "OS/ARCH[/VARIANT]")]
    pub platforms: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pin`, `release` and `verify` read `--digests`/`--digests-format` into one [`DigestsArgs`].
    #[test]
    fn digests_flags_parse_alike_in_every_subcommand() {
        for sub in ["pin", "release", "verify"] {
            let cli = Cli::try_parse_from([
                "chartpin",
                sub,
                "--digests",
                "a.txt",
                "--digests",
                "b.json",
                "--digests-format",
                "ref-lines",
            ])
            .unwrap_or_else(|e| panic!("{sub}: {e}"));
            let d = match cli.command {
                Command::Pin(a) => a.digests,
                Command::Release(a) => a.digests,
                Command::Verify(a) => a.digests,
                other => panic!("{other:?}"),
            };
            assert_eq!(d.digests, [PathBuf::from("a.txt"), PathBuf::from("b.json")]);
            assert_eq!(
                d.digests_format,
                Some("ref-lines".parse().unwrap()),
                "{sub}"
            );
        }
    }
}
