//! Image references and digests, by the distribution grammar (FIELD-NOTES §3).
//!
//! Two rules shape this module. It is strict where others are loose: a digest
//! is `sha256` with 64 lowercase hex or `sha512` with 128, nothing else. And it
//! keeps what was written: a reference with no tag has no tag (a runtime reads
//! `latest`, but a linter must see the absence), and the written domain and
//! path are kept beside their normalised forms (`docker.io/library/…`), so an
//! edit can re-render a reference in the form its author used.
//!
//! No I/O and no hashing here; the registry layer hashes bytes.

use std::fmt;
use std::str::FromStr;

/// The registry that references without a domain name.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that serves the registry API for [`DOCKER_HUB`].
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
/// Longest accepted name (domain and path together), per the distribution grammar.
pub const NAME_TOTAL_MAX: usize = 255;

/// A digest algorithm this tool accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// Length of the hex encoding this algorithm produces.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A content digest such as `sha256:2c26…`: algorithm and lowercase hex.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

/// Why a string is not a digest this tool accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DigestError {
    Empty,
    MissingAlgorithm,
    UnsupportedAlgorithm(String),
    WrongLength {
        algorithm: Algorithm,
        expected: usize,
        found: usize,
    },
    Uppercase,
    NotHex,
}

impl fmt::Display for DigestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DigestError::Empty => write!(f, "digest is empty"),
            DigestError::MissingAlgorithm => {
                write!(f, "digest has no algorithm (expected `sha256:<64 hex>`)")
            }
            DigestError::UnsupportedAlgorithm(a) => {
                write!(
                    f,
                    "unsupported digest algorithm `{a}` (expected sha256 or sha512)"
                )
            }
            DigestError::WrongLength {
                algorithm,
                expected,
                found,
            } => write!(
                f,
                "{} digest must have {expected} hex characters, found {found}",
                algorithm.as_str()
            ),
            DigestError::Uppercase => write!(
                f,
                "digest hex must be lowercase (the OCI image spec forbids uppercase)"
            ),
            DigestError::NotHex => write!(f, "digest contains characters that are not hex"),
        }
    }
}

impl std::error::Error for DigestError {}

impl Digest {
    /// Parse `algorithm:hex` strictly.
    pub fn parse(s: &str) -> Result<Digest, DigestError> {
        if s.is_empty() {
            return Err(DigestError::Empty);
        }
        let Some((alg, hex)) = s.split_once(':') else {
            return Err(DigestError::MissingAlgorithm);
        };
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            "" => return Err(DigestError::MissingAlgorithm),
            other => return Err(DigestError::UnsupportedAlgorithm(other.to_string())),
        };
        Self::from_hex(algorithm, hex)
    }

    /// Build a digest from bare hex of a known algorithm (`sha: <hex>` fields, goreleaser lines).
    pub fn from_hex(algorithm: Algorithm, hex: &str) -> Result<Digest, DigestError> {
        if hex.bytes().any(|b| !b.is_ascii_hexdigit()) {
            return Err(DigestError::NotHex);
        }
        if hex.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(DigestError::Uppercase);
        }
        if hex.len() != algorithm.hex_len() {
            return Err(DigestError::WrongLength {
                algorithm,
                expected: algorithm.hex_len(),
                found: hex.len(),
            });
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_string(),
        })
    }

    /// Parse either `sha256:<hex>` or bare hex (64 → sha256, 128 → sha512).
    pub fn parse_prefixed_or_bare(s: &str) -> Result<Digest, DigestError> {
        if s.contains(':') {
            return Self::parse(s);
        }
        let algorithm = if s.len() == 128 {
            Algorithm::Sha512
        } else {
            Algorithm::Sha256
        };
        Self::from_hex(algorithm, s)
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The encoded part, without `algorithm:`.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The short form people recognise in logs: `sha256:0123456789ab`.
    pub fn short(&self) -> String {
        format!("{}:{}", self.algorithm.as_str(), &self.hex[..12])
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

/// Why a string is not an image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefError {
    Empty,
    /// A digest with nothing before it (`@sha256:…`): a runtime cannot pull it.
    NoName,
    Whitespace,
    NameTooLong(usize),
    /// The written name fits, but its normalised form (`docker.io/library/…`)
    /// does not: Docker applies the limit to the normalised name.
    NormalizedNameTooLong(usize),
    InvalidDomain(String),
    InvalidPathComponent(String),
    UppercasePath(String),
    InvalidTag(String),
    InvalidDigest(DigestError),
}

impl fmt::Display for RefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefError::Empty => write!(f, "image reference is empty"),
            RefError::NoName => write!(f, "no image name before the digest"),
            RefError::Whitespace => write!(f, "image reference contains whitespace"),
            RefError::NameTooLong(n) => write!(
                f,
                "image name is {n} characters long; at most {NAME_TOTAL_MAX} are allowed"
            ),
            RefError::NormalizedNameTooLong(n) => write!(
                f,
                "image name is {n} characters long once normalised (`docker.io/library/…`); at most {NAME_TOTAL_MAX} are allowed"
            ),
            RefError::InvalidDomain(d) => write!(f, "invalid registry host `{d}`"),
            RefError::InvalidPathComponent(c) => write!(
                f,
                "invalid repository path component `{c}` (lowercase letters and digits, joined by `.`, `_`, `__` or `-`)"
            ),
            RefError::UppercasePath(c) => {
                write!(f, "repository path `{c}` must be lowercase")
            }
            RefError::InvalidTag(t) => write!(
                f,
                "invalid tag `{t}` (letters, digits, `_`, `.`, `-`; at most 128; not starting with `.` or `-`)"
            ),
            RefError::InvalidDigest(e) => write!(f, "invalid digest: {e}"),
        }
    }
}

impl std::error::Error for RefError {}

impl From<DigestError> for RefError {
    fn from(e: DigestError) -> Self {
        RefError::InvalidDigest(e)
    }
}

/// A parsed image reference that remembers how it was written.
///
/// The parts are ranges of the text as written, not strings of their own:
/// a values file dense in image sites holds one of these per site, and each
/// copy of a part was an allocation (issue 10: peak memory within 4× the
/// input).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageRef {
    raw: Box<str>,
    /// Where the path starts in `raw`: 0 without a domain, else after the
    /// domain's `/` (the domain is `raw[..path_start - 1]`).
    path_start: u32,
    path_end: u32,
    /// The tag's range in `raw`, after its `:`.
    tag: Option<(u32, u32)>,
    digest: Option<Digest>,
}

/// Where `part`, a slice of `whole`, starts in it.
fn offset_in(whole: &str, part: &str) -> u32 {
    let at = part.as_ptr() as usize - whole.as_ptr() as usize;
    u32::try_from(at).expect("a reference's name and tag are shorter than 4 GiB")
}

impl ImageRef {
    /// Parse `[domain/]path[:tag][@digest]` strictly; no `latest` is invented.
    pub fn parse(s: &str) -> Result<ImageRef, RefError> {
        if s.is_empty() {
            return Err(RefError::Empty);
        }
        if s.chars().any(char::is_whitespace) {
            return Err(RefError::Whitespace);
        }
        let (rest, digest) = match s.split_once('@') {
            Some((rest, d)) => (rest, Some(Digest::parse(d)?)),
            None => (s, None),
        };
        let (name, tag) = split_tag(rest);
        if name.is_empty() && tag.is_none() && digest.is_some() {
            return Err(RefError::NoName);
        }
        if name.is_empty() {
            return Err(RefError::Empty);
        }
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(RefError::InvalidTag(tag.to_string()));
        }
        if name.len() > NAME_TOTAL_MAX {
            return Err(RefError::NameTooLong(name.len()));
        }
        let (domain, path) = split_domain(name);
        if let Some(d) = domain
            && !valid_domain(d)
        {
            return Err(RefError::InvalidDomain(d.to_string()));
        }
        validate_path(path)?;
        let path_start = offset_in(s, path);
        let parsed = ImageRef {
            raw: s.into(),
            path_start,
            path_end: path_start + path.len() as u32,
            tag: tag.map(|t| (offset_in(s, t), offset_in(s, t) + t.len() as u32)),
            digest,
        };
        // Docker checks the normalised name (`ParseNormalizedNamed` parses
        // `docker.io/library/<name>`), so a long one-segment Docker Hub name
        // that fits as written can still be too long.
        let normalised = parsed.name().len();
        if normalised > NAME_TOTAL_MAX {
            return Err(RefError::NormalizedNameTooLong(normalised));
        }
        Ok(parsed)
    }

    /// The reference exactly as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The domain as written, if any.
    pub fn written_domain(&self) -> Option<&str> {
        (self.path_start > 0).then(|| &self.raw[..self.path_start as usize - 1])
    }

    /// The repository path as written (no domain, no tag).
    pub fn written_path(&self) -> &str {
        &self.raw[self.path_start as usize..self.path_end as usize]
    }

    /// `domain/path` as written, without tag or digest.
    pub fn written_name(&self) -> String {
        self.raw[..self.path_end as usize].to_string()
    }

    /// The registry this reference lives in: `docker.io` when none is written,
    /// and `index.docker.io` folded into `docker.io`.
    pub fn registry(&self) -> &str {
        match self.written_domain() {
            None | Some("index.docker.io") => DOCKER_HUB,
            Some(d) => d,
        }
    }

    /// The repository path within its registry, with `library/` for one-segment Docker Hub names.
    pub fn repository(&self) -> String {
        let path = self.written_path();
        if self.registry() == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        }
    }

    /// The fully normalised name: `docker.io/library/nginx`, `ghcr.io/org/app`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry(), self.repository())
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.map(|(s, e)| &self.raw[s as usize..e as usize])
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// Pinned means immutable: a digest is present (a tag beside it is allowed).
    pub fn is_pinned(&self) -> bool {
        self.digest.is_some()
    }

    /// The host that serves this reference's registry API.
    pub fn api_host(&self) -> &str {
        api_host(self.registry())
    }

    /// This reference written the same way, with its digest set to `digest`
    /// (an existing digest is replaced, the tag kept).
    pub fn with_digest(&self, digest: &Digest) -> ImageRef {
        // Name and tag as written, then the digest: the parts keep their ranges.
        let kept = self.tag.map_or(self.path_end, |(_, e)| e) as usize;
        let mut raw = self.raw[..kept].to_string();
        raw.push('@');
        raw.push_str(&digest.to_string());
        ImageRef {
            raw: raw.into(),
            path_start: self.path_start,
            path_end: self.path_end,
            tag: self.tag,
            digest: Some(digest.clone()),
        }
    }

    /// The normalised name with tag and digest, for messages and dedup keys.
    pub fn canonical(&self) -> String {
        let mut s = self.name();
        if let Some(t) = self.tag() {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        s
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl FromStr for ImageRef {
    type Err = RefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageRef::parse(s)
    }
}

/// The API host for a normalised registry name.
pub fn api_host(registry: &str) -> &str {
    if registry == DOCKER_HUB || registry == "index.docker.io" {
        DOCKER_HUB_API_HOST
    } else {
        registry
    }
}

/// Normalise a written registry host (`index.docker.io` → `docker.io`).
pub fn normalize_registry(host: &str) -> &str {
    match host {
        "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB,
        h => h,
    }
}

/// Split `name[:tag]`: the tag is after the last `:` that follows the last `/`.
fn split_tag(s: &str) -> (&str, Option<&str>) {
    let last_slash = s.rfind('/').map_or(0, |i| i + 1);
    match s[last_slash..].rfind(':') {
        Some(i) => (&s[..last_slash + i], Some(&s[last_slash + i + 1..])),
        None => (s, None),
    }
}

/// The first segment is a domain when it is `localhost`, or contains `.` or `:`, or uppercase.
fn split_domain(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first == "localhost"
                || first.contains(['.', ':'])
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

/// Whether `s` is a registry host as the grammar allows: labels joined by `.`
/// with an optional `:port`, or a bracketed IPv6 address with an optional port.
pub fn valid_domain(s: &str) -> bool {
    if let Some(rest) = s.strip_prefix('[') {
        let Some((addr, after)) = rest.split_once(']') else {
            return false;
        };
        let addr_ok = !addr.is_empty() && addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
        return addr_ok && (after.is_empty() || valid_port(after));
    }
    let (host, port) = match s.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    if let Some(p) = port
        && !valid_port(&format!(":{p}"))
    {
        return false;
    }
    !host.is_empty() && host.split('.').all(valid_label)
}

fn valid_port(s: &str) -> bool {
    s.strip_prefix(':')
        .is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

fn valid_label(l: &str) -> bool {
    let b = l.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

fn validate_path(path: &str) -> Result<(), RefError> {
    for comp in path.split('/') {
        if comp.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(RefError::UppercasePath(path.to_string()));
        }
        if !valid_path_component(comp) {
            return Err(RefError::InvalidPathComponent(comp.to_string()));
        }
    }
    Ok(())
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or any run of `-`.
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let sep_start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[sep_start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Text that is not `os/arch[/variant]`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform `{0}` (expected os/arch or os/arch/variant, e.g. linux/arm64)")]
pub struct InvalidPlatform(pub String);

/// A platform an image must provide: `os/arch[/variant]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// Parse `linux/amd64` or `linux/arm/v7`.
    pub fn parse(s: &str) -> Result<Platform, InvalidPlatform> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &&str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        };
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: None,
            }),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: Some(variant.to_string()),
            }),
            _ => Err(InvalidPlatform(s.to_string())),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "eb19d3e7e4b4bbd69ee36d4e0ea4d9f0f1cda3a1bd2ed0ab1aa4e3d3e9dc9bee";

    #[test]
    fn references_parse_by_the_grammar() {
        // (input, registry, repository, tag, has digest)
        let ok: &[(&str, &str, &str, Option<&str>, bool)] = &[
            ("nginx", "docker.io", "library/nginx", None, false),
            (
                "nginx:1.25",
                "docker.io",
                "library/nginx",
                Some("1.25"),
                false,
            ),
            (
                "prom/prometheus:v2.34.0",
                "docker.io",
                "prom/prometheus",
                Some("v2.34.0"),
                false,
            ),
            (
                "index.docker.io/library/nginx:1",
                "docker.io",
                "library/nginx",
                Some("1"),
                false,
            ),
            ("docker.io/nginx", "docker.io", "library/nginx", None, false),
            (
                "ghcr.io/org/app:v1.2.3",
                "ghcr.io",
                "org/app",
                Some("v1.2.3"),
                false,
            ),
            ("localhost/app", "localhost", "app", None, false),
            (
                "localhost:5000/a/b:t",
                "localhost:5000",
                "a/b",
                Some("t"),
                false,
            ),
            (
                "127.0.0.1:5000/app@sha256:H",
                "127.0.0.1:5000",
                "app",
                None,
                true,
            ),
            ("[::1]:5000/app:x", "[::1]:5000", "app", Some("x"), false),
            ("Registry/app", "Registry", "app", None, false),
            (
                "quay.io/jetstack/cert-manager-controller",
                "quay.io",
                "jetstack/cert-manager-controller",
                None,
                false,
            ),
            (
                "a/b__c/d---e.f_g:_t",
                "docker.io",
                "a/b__c/d---e.f_g",
                Some("_t"),
                false,
            ),
            (
                "osm-controller:v1.2.0@sha256:H",
                "docker.io",
                "library/osm-controller",
                Some("v1.2.0"),
                true,
            ),
        ];
        for (input, registry, repo, tag, pinned) in ok {
            let input = input.replace('H', H);
            let r = ImageRef::parse(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.registry(), *registry, "{input}");
            assert_eq!(r.repository(), *repo, "{input}");
            assert_eq!(r.tag(), *tag, "{input}");
            assert_eq!(r.is_pinned(), *pinned, "{input}");
            assert_eq!(r.as_str(), input, "written form is kept");
        }
    }

    #[test]
    fn bad_references_are_rejected() {
        let long = format!("a/{}", "b".repeat(300));
        let hub250 = "b".repeat(250);
        // `ns/` + 243 = 246 written; `docker.io/` makes it 256.
        let hub_ns = format!("ns/{}", "b".repeat(243));
        type Check = fn(&RefError) -> bool;
        let bad: &[(&str, Check)] = &[
            ("", |e| *e == RefError::Empty),
            (":tag", |e| *e == RefError::Empty),
            (
                "@sha256:0000000000000000000000000000000000000000000000000000000000000000",
                |e| *e == RefError::NoName,
            ),
            ("nginx:", |e| matches!(e, RefError::InvalidTag(_))),
            ("nginx:.x", |e| matches!(e, RefError::InvalidTag(_))),
            ("nginx:a/b", |e| matches!(e, RefError::InvalidDomain(_))),
            ("ngiNX", |e| matches!(e, RefError::UppercasePath(_))),
            ("a//b", |e| matches!(e, RefError::InvalidPathComponent(_))),
            ("a/-b", |e| matches!(e, RefError::InvalidPathComponent(_))),
            ("a/b.", |e| matches!(e, RefError::InvalidPathComponent(_))),
            ("a/b___c", |e| {
                matches!(e, RefError::InvalidPathComponent(_))
            }),
            ("-bad.io/x", |e| matches!(e, RefError::InvalidDomain(_))),
            ("bad.io:port/x", |e| matches!(e, RefError::InvalidDomain(_))),
            ("nginx @sha256:x", |e| *e == RefError::Whitespace),
            ("nginx@sha256:abc", |e| {
                matches!(e, RefError::InvalidDigest(DigestError::WrongLength { .. }))
            }),
            ("nginx@md5:abc", |e| {
                matches!(
                    e,
                    RefError::InvalidDigest(DigestError::UnsupportedAlgorithm(_))
                )
            }),
            (&long, |e| matches!(e, RefError::NameTooLong(_))),
            // 250 characters as written; 268 as `docker.io/library/…`.
            (&hub250, |e| *e == RefError::NormalizedNameTooLong(268)),
            (&hub_ns, |e| *e == RefError::NormalizedNameTooLong(256)),
        ];
        for (input, check) in bad {
            let e = ImageRef::parse(input).expect_err(input);
            assert!(check(&e), "{input}: unexpected error {e:?}");
        }
        let tag129 = format!("nginx:{}", "a".repeat(129));
        assert!(matches!(
            ImageRef::parse(&tag129),
            Err(RefError::InvalidTag(_))
        ));
        let tag128 = format!("nginx:{}", "a".repeat(128));
        assert!(ImageRef::parse(&tag128).is_ok());
        // Exactly at the limit once normalised: `docker.io/library/` is 18 characters.
        let fits = "b".repeat(NAME_TOTAL_MAX - 18);
        let r = ImageRef::parse(&fits).unwrap();
        assert_eq!(r.name().len(), NAME_TOTAL_MAX);
        assert!(ImageRef::parse(&r.canonical()).is_ok());
        assert!(matches!(
            ImageRef::parse(&"b".repeat(NAME_TOTAL_MAX - 17)),
            Err(RefError::NormalizedNameTooLong(256))
        ));
    }

    #[test]
    fn digests_are_strict() {
        assert!(Digest::parse(&format!("sha256:{H}")).is_ok());
        assert!(Digest::parse(&format!("sha512:{H}{H}")).is_ok());
        let cases: &[(String, DigestError)] = &[
            (String::new(), DigestError::Empty),
            (H.to_string(), DigestError::MissingAlgorithm),
            (format!(":{H}"), DigestError::MissingAlgorithm),
            (
                format!("sha256:{}", H.to_uppercase()),
                DigestError::Uppercase,
            ),
            (
                format!("sha256:{}", &H[1..]),
                DigestError::WrongLength {
                    algorithm: Algorithm::Sha256,
                    expected: 64,
                    found: 63,
                },
            ),
            (
                format!("sha512:{H}"),
                DigestError::WrongLength {
                    algorithm: Algorithm::Sha512,
                    expected: 128,
                    found: 64,
                },
            ),
            (format!("sha256:{}g", &H[1..]), DigestError::NotHex),
            (
                format!("SHA256:{H}"),
                DigestError::UnsupportedAlgorithm("SHA256".into()),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(Digest::parse(input).unwrap_err(), *want, "{input}");
        }
        assert_eq!(
            Digest::parse_prefixed_or_bare(H).unwrap().to_string(),
            format!("sha256:{H}")
        );
    }

    #[test]
    fn with_digest_keeps_the_written_form() {
        let d = Digest::parse(&format!("sha256:{H}")).unwrap();
        let r = ImageRef::parse("prom/prometheus:v2")
            .unwrap()
            .with_digest(&d);
        assert_eq!(r.as_str(), format!("prom/prometheus:v2@sha256:{H}"));
        assert_eq!(
            r.canonical(),
            format!("docker.io/prom/prometheus:v2@sha256:{H}")
        );
        let other = Digest::parse(&format!("sha256:{}", "0".repeat(64))).unwrap();
        let again = ImageRef::parse(r.as_str()).unwrap().with_digest(&other);
        assert_eq!(again.as_str(), format!("prom/prometheus:v2@{other}"));
        assert_eq!(
            ImageRef::parse("nginx").unwrap().api_host(),
            DOCKER_HUB_API_HOST
        );
    }
}
