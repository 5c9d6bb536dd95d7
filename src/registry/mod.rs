//! The OCI distribution client: transport, auth, retries and per-registry limits.
//!
//! It knows [`ImageRef`] and nothing above it. Every request goes through one
//! place, `RegistryClient::send`, which classifies answers the same way
//! (STYLE habit 8): 401 → authenticate and retry once; 403 → auth failure;
//! 404 → final; 408/429/5xx and connection errors → back off exponentially
//! with jitter, honouring `Retry-After` (seconds or HTTP date), bounded in
//! attempts and in total time ([`RetryPolicy`]).
//!
//! What oci-client is used for, and what not. The `oci-client` crate
//! supplies the OCI data model: the manifest media-type constants (this
//! module's [`MANIFEST_TYPES`], sent in every manifest request's `Accept`)
//! and the typed index, manifest and platform models that [`crate::verify`]
//! reads answers with. Its transport, `oci_client::Client`, is not used, and
//! the requests are built here on reqwest (the same 0.13 oci-client depends
//! on, so no extra crates), because verification must tell "absent" from
//! "could not ask" exactly and oci-client 0.18's client cannot: it has no
//! retries and hides status codes and `Retry-After` behind its error enum, so
//! a 429 cannot be told from a 404 or honoured; its `fetch_manifest_digest`
//! silently falls back to GET and never reports what the HEAD said; its token
//! fetch swallows the reason a token was refused; and it keeps the first
//! credentials stored per registry.
//!
//! Transport: HTTPS with certificate verification by default. Loopback hosts
//! and `--insecure-registry` hosts are probed once: HTTPS first, plain HTTP if
//! the server does not speak TLS. A loopback host whose certificate fails
//! verification is an error (add `--ca-file`), never a silent downgrade; only
//! insecure hosts skip verification. `docker.io` is served by
//! `registry-1.docker.io`; mirrors map a registry name to another host while
//! references keep their names.
//!
//! Credentials ([`credentials`]) are looked up once per host on first need.
//! No message or log event this module produces contains a secret: URLs
//! never carry userinfo (a realm's is stripped), `Authorization` values and
//! tokens are never logged, and token-service answers are summarised by
//! status, not echoed.
//!
//! Auth state is keyed by the host that issued the challenge. Redirects are
//! followed here, not by reqwest, so that each hop is a request to its own
//! host with that host's own state: a registry that redirects to another
//! host never lends that host its credentials or tokens, and a 401 from the
//! redirect target is answered with the target's own credentials (usually
//! none: anonymous). A token realm receives credentials only when it is
//! named by the challenge of the host those credentials are filed under,
//! and only over HTTPS, except plain HTTP when both the challenging host and
//! the realm are loopback (the whole exchange stays on this machine: local
//! registries with a token service beside them) or the realm's host is an
//! `--insecure-registry` (or the same host name as the insecure registry
//! that names it). Redirects obey the transport rule of registries: to HTTPS,
//! or to plain HTTP only on loopback or insecure hosts; at most
//! [`MAX_REDIRECTS`] hops and never a loop.
//!
//! Time is bounded twice: each request (its attempts, back-off waits, the
//! scheme probe and token fetches) within [`RetryPolicy::max_total`], each
//! attempt within `--timeout` and what remains of that budget; and all
//! registry work of a client within [`ClientConfig::deadline`], counted from
//! its first request. Answers that cannot change on retry are final: a TLS
//! certificate not trusted, a realm with a scheme other than http(s), a
//! redirect loop, a request reqwest cannot build, and every 4xx but 408 and
//! 429. A HEAD answered 405 is asked again as GET (some registries and
//! proxies allow only GET); the digest is then the `Docker-Content-Digest`
//! of the GET, or the hash of its body.

pub mod credentials;
pub mod runtime;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use base64::Engine;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use sha2::Digest as _;

use crate::reference::{Algorithm, Digest, ImageRef, api_host};
use credentials::{Credential, CredentialError, CredentialStore};

pub use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE as DOCKER_MANIFEST_LIST,
    IMAGE_MANIFEST_MEDIA_TYPE as DOCKER_MANIFEST, OCI_IMAGE_INDEX_MEDIA_TYPE as OCI_INDEX,
    OCI_IMAGE_MEDIA_TYPE as OCI_MANIFEST,
};
/// The four manifest types, all in every manifest request's `Accept`
/// (distribution 2.8 answers 404 to a request without the OCI ones).
pub const MANIFEST_TYPES: [&str; 4] = [
    OCI_INDEX,
    OCI_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST,
];
/// [`MANIFEST_TYPES`] as one `Accept` value.
pub static MANIFEST_ACCEPT: LazyLock<String> = LazyLock::new(|| MANIFEST_TYPES.join(", "));
/// Largest manifest or config body read (the distribution limit is 4 MiB).
pub const MAX_BODY: usize = 16 * 1024 * 1024;
/// Most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 5;
/// The default [`ClientConfig::deadline`] (`--deadline`).
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(300);

/// How hard to retry answers that may change: bounded in attempts and total time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// First back-off delay; doubled each retry, with jitter.
    pub base_delay: Duration,
    /// Longest single back-off (a longer `Retry-After` is still honoured if the budget allows).
    pub max_delay: Duration,
    /// Longest a request may take over all its attempts and waits.
    pub max_total: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_total: Duration::from_secs(120),
        }
    }
}

/// `--registry-mirror FROM=TO`: images of registry FROM are looked up at host TO.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mirror {
    pub from: String,
    pub to: String,
}

/// A `--registry-mirror` value that is not `FROM=TO`; the message names it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidMirror(String);

impl Mirror {
    /// Parse `FROM=TO` (`docker.io=mirror.local:5000`).
    pub fn parse(s: &str) -> Result<Mirror, InvalidMirror> {
        match s.split_once('=') {
            Some((from, to)) if !from.is_empty() && !to.is_empty() && !to.contains('/') => {
                Ok(Mirror {
                    from: crate::reference::normalize_registry(from).to_string(),
                    to: to.to_string(),
                })
            }
            _ => Err(InvalidMirror(format!(
                "invalid --registry-mirror `{s}`: expected FROM=TO, two registry hosts"
            ))),
        }
    }
}

/// Everything the client needs to know, from flags and environment.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Most requests in flight to one registry host.
    pub concurrency: usize,
    /// Longest wait for one answer (connect, headers and body) before it counts as failed.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Hosts that may be talked to over plain HTTP or unverified HTTPS.
    pub insecure_registries: Vec<String>,
    /// A PEM CA to trust besides the system roots.
    pub ca_file: Option<PathBuf>,
    pub mirrors: Vec<Mirror>,
    pub retry: RetryPolicy,
    pub credentials: CredentialStore,
    /// Longest all registry work of this client may take, from its first request.
    pub deadline: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            concurrency: 8,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            insecure_registries: Vec::new(),
            ca_file: None,
            mirrors: Vec::new(),
            retry: RetryPolicy::default(),
            credentials: CredentialStore::anonymous(),
            deadline: DEFAULT_DEADLINE,
        }
    }
}

/// Why a registry gave no usable answer. Never holds a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The registry or its token service refused us (`auth-failed`).
    #[error("{host}: {reason}")]
    Auth { host: String, reason: String },
    /// Network, TLS, timeouts, retries exhausted, or an answer we cannot use (`registry-unreachable`).
    #[error("{host}: {reason}")]
    Unreachable { host: String, reason: String },
    /// The client cannot be set up (bad CA file, bad credentials file): a usage error.
    #[error("{0}")]
    Setup(String),
}

impl RegistryError {
    pub fn is_auth(&self) -> bool {
        matches!(self, RegistryError::Auth { .. })
    }
}

/// What a manifest HEAD said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestHead {
    /// `Docker-Content-Digest`, exactly as sent (it may not be a valid digest).
    /// When the HEAD was answered 405 and asked again as GET, the GET's
    /// header, or without one the digest of the bytes it served.
    pub digest_header: Option<String>,
    pub media_type: Option<String>,
}

/// A manifest's exact bytes, as served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestBody {
    pub bytes: Vec<u8>,
    pub media_type: Option<String>,
    /// `Docker-Content-Digest`, exactly as sent.
    pub digest_header: Option<String>,
}

/// A registry client shared by every check of a run. Cheap to clone.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

struct Inner {
    verified: reqwest::Client,
    unverified: reqwest::Client,
    config: ClientConfig,
    hosts: Mutex<HashMap<String, Arc<HostState>>>,
    /// When the first request began: the start of [`ClientConfig::deadline`].
    started: OnceLock<Instant>,
}

/// Per-host state: its limit, scheme, credential and tokens.
struct HostState {
    host: String,
    insecure: bool,
    loopback: bool,
    limit: tokio::sync::Semaphore,
    base_url: tokio::sync::OnceCell<String>,
    credential: tokio::sync::OnceCell<Option<Credential>>,
    /// Bearer tokens by scope (`repository:app:pull`).
    tokens: Mutex<HashMap<String, String>>,
    /// The host asked for Basic auth.
    basic: AtomicBool,
}

/// One complete answer.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// The one classification of an attempt's outcome.
enum Class {
    /// Use this answer (2xx, 404 and other final statuses).
    Final,
    /// 301/302/303/307/308 with a `Location`: ask there (this is its value).
    Redirect(String),
    /// 401: authenticate, then try once more.
    Unauthorized,
    /// 403: refused for good.
    Forbidden,
    /// Try again after the back-off, or after this `Retry-After`.
    Retry(Option<Duration>),
}

impl RegistryClient {
    /// Build the HTTP clients (verified, and unverified for insecure hosts).
    pub fn new(config: ClientConfig) -> Result<Self, RegistryError> {
        let builder = || {
            reqwest::Client::builder()
                .connect_timeout(config.connect_timeout)
                .read_timeout(config.timeout)
                .timeout(config.timeout)
                .pool_max_idle_per_host(config.concurrency.max(1) * 2)
                .tcp_nodelay(true)
                // Redirects are followed by `send`, hop by hop, each with its host's own auth.
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("chartpin/", env!("CARGO_PKG_VERSION")))
        };
        let mut verified = builder();
        if let Some(ca) = &config.ca_file {
            let pem = std::fs::read(ca).map_err(|e| {
                RegistryError::Setup(format!("cannot read --ca-file {}: {e}", ca.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                RegistryError::Setup(format!(
                    "--ca-file {}: not PEM certificates: {e}",
                    ca.display()
                ))
            })?;
            if certs.is_empty() {
                return Err(RegistryError::Setup(format!(
                    "--ca-file {}: no certificate found",
                    ca.display()
                )));
            }
            verified = verified.tls_certs_merge(certs);
        }
        let setup = |e: reqwest::Error| RegistryError::Setup(format!("cannot set up HTTPS: {e}"));
        let verified = verified.build().map_err(setup)?;
        let unverified = builder()
            .tls_danger_accept_invalid_certs(true)
            .build()
            .map_err(setup)?;
        Ok(RegistryClient {
            inner: Arc::new(Inner {
                verified,
                unverified,
                config,
                hosts: Mutex::new(HashMap::new()),
                started: OnceLock::new(),
            }),
        })
    }

    /// The host this image's requests go to: mirror, else the registry's API host.
    pub fn endpoint(&self, image: &ImageRef) -> String {
        let registry = image.registry();
        self.inner
            .config
            .mirrors
            .iter()
            .find(|m| m.from == registry)
            .map_or_else(|| api_host(registry).to_string(), |m| m.to.clone())
    }

    /// HEAD a manifest (by digest or tag) with all four manifest types accepted.
    /// `Ok(None)` means the registry answered 404.
    pub async fn head_manifest(
        &self,
        image: &ImageRef,
        reference: &str,
    ) -> Result<Option<ManifestHead>, RegistryError> {
        let path = format!("/v2/{}/manifests/{reference}", image.repository());
        let answer = self
            .within_deadline(image, async {
                let head = self
                    .send(image, Method::HEAD, &path, Some(&MANIFEST_ACCEPT))
                    .await?;
                if head.status != StatusCode::METHOD_NOT_ALLOWED {
                    return Ok((head, false));
                }
                tracing::info!(
                    "{}: HEAD {path} answered HTTP 405; asking again with GET",
                    self.endpoint(image)
                );
                let get = self
                    .send(image, Method::GET, &path, Some(&MANIFEST_ACCEPT))
                    .await?;
                Ok((get, true))
            })
            .await?;
        let (answer, by_get) = answer;
        let what = if by_get {
            "GET manifest (HEAD answered 405)"
        } else {
            "HEAD manifest"
        };
        let Some(answer) = self.expect_found(image, answer, what)? else {
            return Ok(None);
        };
        let mut digest_header = header(&answer.headers, "docker-content-digest");
        if by_get && digest_header.is_none() {
            let algorithm = Digest::parse(reference)
                .map(|d| d.algorithm())
                .unwrap_or(Algorithm::Sha256);
            digest_header = Some(digest_of(algorithm, &answer.body));
        }
        Ok(Some(ManifestHead {
            digest_header,
            media_type: header(&answer.headers, "content-type"),
        }))
    }

    /// GET a manifest's exact bytes. `Ok(None)` means 404.
    pub async fn get_manifest(
        &self,
        image: &ImageRef,
        reference: &str,
    ) -> Result<Option<ManifestBody>, RegistryError> {
        let path = format!("/v2/{}/manifests/{reference}", image.repository());
        let answer = self
            .within_deadline(
                image,
                self.send(image, Method::GET, &path, Some(&MANIFEST_ACCEPT)),
            )
            .await?;
        let Some(answer) = self.expect_found(image, answer, "GET manifest")? else {
            return Ok(None);
        };
        Ok(Some(ManifestBody {
            digest_header: header(&answer.headers, "docker-content-digest"),
            media_type: header(&answer.headers, "content-type"),
            bytes: answer.body,
        }))
    }

    /// GET a blob (an image config) by digest. `Ok(None)` means 404.
    pub async fn get_blob(
        &self,
        image: &ImageRef,
        digest: &Digest,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        let path = format!("/v2/{}/blobs/{digest}", image.repository());
        let answer = self
            .within_deadline(image, self.send(image, Method::GET, &path, None))
            .await?;
        Ok(self
            .expect_found(image, answer, "GET blob")?
            .map(|a| a.body))
    }

    /// GET the OCI 1.1 referrers of `digest` (`/v2/<name>/referrers/<digest>`):
    /// the index bytes as served. `Ok(None)` means 404, which is also what a
    /// registry without the referrers API answers.
    pub async fn get_referrers(
        &self,
        image: &ImageRef,
        digest: &Digest,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        let path = format!("/v2/{}/referrers/{digest}", image.repository());
        let answer = self
            .within_deadline(
                image,
                self.send(
                    image,
                    Method::GET,
                    &path,
                    Some("application/vnd.oci.image.index.v1+json"),
                ),
            )
            .await?;
        Ok(self
            .expect_found(image, answer, "GET referrers")?
            .map(|a| a.body))
    }

    /// An answer that is no use: the registry named `host` answered, but
    /// with something chartpin cannot read (`registry-unreachable`).
    pub fn garbage(&self, image: &ImageRef, why: impl Into<String>) -> RegistryError {
        RegistryError::Unreachable {
            host: self.endpoint(image),
            reason: why.into(),
        }
    }

    /// Run `work` unless the client's deadline passes first.
    async fn within_deadline<T>(
        &self,
        image: &ImageRef,
        work: impl std::future::Future<Output = Result<T, RegistryError>>,
    ) -> Result<T, RegistryError> {
        let deadline = self.deadline();
        match tokio::time::timeout_at(deadline, work).await {
            Ok(result) => result,
            Err(_) => {
                tracing::info!("{}: the deadline passed", self.endpoint(image));
                Err(self.deadline_passed(&self.endpoint(image)))
            }
        }
    }

    /// When all registry work must be over: [`ClientConfig::deadline`] after the first request.
    fn deadline(&self) -> Instant {
        *self.inner.started.get_or_init(Instant::now) + self.inner.config.deadline
    }

    fn deadline_passed(&self, host: &str) -> RegistryError {
        RegistryError::Unreachable {
            host: host.to_string(),
            reason: format!(
                "no answer before the deadline for registry work ({}s, --deadline) passed",
                self.inner.config.deadline.as_secs()
            ),
        }
    }

    /// 2xx → the answer; 404 → `None`; anything else → unreachable.
    fn expect_found(
        &self,
        image: &ImageRef,
        answer: Answer,
        what: &str,
    ) -> Result<Option<Answer>, RegistryError> {
        if answer.status.is_success() {
            Ok(Some(answer))
        } else if answer.status == StatusCode::NOT_FOUND {
            Ok(None)
        } else {
            Err(RegistryError::Unreachable {
                host: self.endpoint(image),
                reason: format!("{what} answered HTTP {}", answer.status),
            })
        }
    }

    fn host_state(&self, host: &str) -> Arc<HostState> {
        let mut hosts = self.inner.hosts.lock().expect("host table");
        hosts
            .entry(host.to_string())
            .or_insert_with(|| {
                Arc::new(HostState {
                    host: host.to_string(),
                    insecure: self.is_insecure(host),
                    loopback: is_loopback(host),
                    limit: tokio::sync::Semaphore::new(self.inner.config.concurrency.max(1)),
                    base_url: tokio::sync::OnceCell::new(),
                    credential: tokio::sync::OnceCell::new(),
                    tokens: Mutex::new(HashMap::new()),
                    basic: AtomicBool::new(false),
                })
            })
            .clone()
    }

    /// Whether `--insecure-registry` names `host` (`HOST[:PORT]`), with its port or without.
    fn is_insecure(&self, host: &str) -> bool {
        self.inner
            .config
            .insecure_registries
            .iter()
            .any(|h| h == host || h == host_without_port(host))
    }

    fn http_for(&self, host: &HostState) -> &reqwest::Client {
        self.http_for_insecure(host.insecure)
    }

    fn http_for_insecure(&self, insecure: bool) -> &reqwest::Client {
        if insecure {
            &self.inner.unverified
        } else {
            &self.inner.verified
        }
    }

    /// `https://host`, or `http://host` for loopback/insecure hosts that do not speak TLS.
    async fn base_url(
        &self,
        host: &HostState,
        budget: &mut Budget,
    ) -> Result<String, RegistryError> {
        host.base_url
            .get_or_try_init(|| async {
                let https = format!("https://{}", host.host);
                if !host.insecure && !host.loopback {
                    return Ok(https);
                }
                let began = Instant::now();
                let probe = self
                    .http_for(host)
                    .get(format!("{https}/v2/"))
                    .timeout(self.inner.config.timeout.min(budget.left()))
                    .send()
                    .await;
                budget.spent += began.elapsed();
                match probe {
                    Ok(_) => {
                        tracing::debug!("{}: speaks HTTPS", host.host);
                        Ok(https)
                    }
                    Err(e) if !host.insecure && is_certificate_error(&e) => {
                        Err(RegistryError::Unreachable {
                            host: host.host.clone(),
                            reason: format!(
                                "TLS certificate not trusted ({}); pass --ca-file with the CA that signed it",
                                error_text(&e)
                            ),
                        })
                    }
                    Err(e) => {
                        tracing::debug!(
                            "{}: no HTTPS ({}); using plain HTTP",
                            host.host,
                            error_text(&e)
                        );
                        Ok(format!("http://{}", host.host))
                    }
                }
            })
            .await
            .cloned()
    }

    async fn credential(&self, host: &HostState) -> Result<Option<Credential>, RegistryError> {
        host.credential
            .get_or_try_init(|| async {
                self.inner
                    .config
                    .credentials
                    .lookup(&credential_key(&host.host))
                    .await
                    .map_err(|e| match e {
                        CredentialError::File { .. } => RegistryError::Setup(e.to_string()),
                        CredentialError::Helper { .. } => RegistryError::Auth {
                            host: host.host.clone(),
                            reason: e.to_string(),
                        },
                    })
            })
            .await
            .cloned()
    }

    /// The one request path: auth, redirects, limits, retries, classification.
    async fn send(
        &self,
        image: &ImageRef,
        method: Method,
        path: &str,
        accept: Option<&str>,
    ) -> Result<Answer, RegistryError> {
        let registry = self.host_state(&self.endpoint(image));
        let scope = format!("repository:{}:pull", image.repository());
        let mut budget = Budget::new(self.inner.config.retry.max_total);
        let base = self.base_url(&registry, &mut budget).await?;
        let mut url = reqwest::Url::parse(&format!("{base}{path}")).map_err(|_| {
            RegistryError::Unreachable {
                host: registry.host.clone(),
                reason: format!("cannot make a URL of {path}"),
            }
        })?;
        let mut visited = vec![url.clone()];
        // Hosts whose 401 this request has answered: each is answered once.
        let mut challenged = HashSet::new();
        loop {
            let host = match authority(&url) {
                a if a == registry.host => registry.clone(),
                a => self.host_state(&a),
            };
            let auth = self.authorization(&host, &scope).await?;
            let make = || {
                let mut req = self.http_for(&host).request(method.clone(), url.clone());
                if let Some(a) = accept {
                    req = req.header(ACCEPT, a);
                }
                if let Some(a) = &auth {
                    req = req.header(AUTHORIZATION, a);
                }
                req
            };
            let (class, answer) = self
                .with_retry(&host.host, Some(&host.limit), &mut budget, make)
                .await?;
            match class {
                Class::Redirect(location) => {
                    url = self.redirect_target(&host, &url, &location, &mut visited)?;
                }
                Class::Unauthorized if challenged.insert(host.host.clone()) => {
                    self.authenticate(&host, &scope, &answer.headers, &mut budget)
                        .await?;
                }
                Class::Unauthorized => {
                    return Err(RegistryError::Auth {
                        host: host.host.clone(),
                        reason: if auth.is_some() {
                            "the registry rejected the credentials (HTTP 401)".into()
                        } else {
                            "the registry requires authentication (HTTP 401)".into()
                        },
                    });
                }
                Class::Forbidden => {
                    return Err(RegistryError::Auth {
                        host: host.host.clone(),
                        reason: format!("access to {} denied (HTTP 403)", image.repository()),
                    });
                }
                Class::Final | Class::Retry(_) => return Ok(answer),
            }
        }
    }

    /// Where a redirect from `current` to `location` leads, if it may be followed:
    /// a URL without userinfo, by the transport rule of registries, not seen before.
    fn redirect_target(
        &self,
        from: &HostState,
        current: &reqwest::Url,
        location: &str,
        visited: &mut Vec<reqwest::Url>,
    ) -> Result<reqwest::Url, RegistryError> {
        let refuse = |reason: String| RegistryError::Unreachable {
            host: from.host.clone(),
            reason,
        };
        let mut next = current
            .join(location)
            .map_err(|_| refuse("redirected to something that is not a URL".into()))?;
        let _ = next.set_username("");
        let _ = next.set_password(None);
        let target = authority(&next);
        match next.scheme() {
            "https" => {}
            "http" if is_loopback(&target) || self.is_insecure(&target) => {}
            "http" => {
                return Err(refuse(format!(
                    "redirected to plain HTTP at {target}, which is not followed (only loopback and --insecure-registry hosts may be plain HTTP)"
                )));
            }
            other => {
                return Err(refuse(format!(
                    "redirected to a `{other}` URL, which is not followed"
                )));
            }
        }
        if visited.contains(&next) {
            return Err(refuse(format!(
                "redirect loop: {} was asked already",
                shown_url(&next)
            )));
        }
        if visited.len() > MAX_REDIRECTS {
            return Err(refuse(format!(
                "more than {MAX_REDIRECTS} redirects for one request"
            )));
        }
        tracing::info!(
            "{}: redirected to {}; that host gets its own credentials, never these",
            from.host,
            shown_url(&next)
        );
        visited.push(next.clone());
        Ok(next)
    }

    /// The `Authorization` value to send for `scope`, if any is known yet.
    async fn authorization(
        &self,
        host: &HostState,
        scope: &str,
    ) -> Result<Option<String>, RegistryError> {
        if let Some(token) = host.tokens.lock().expect("tokens").get(scope) {
            return Ok(Some(format!("Bearer {token}")));
        }
        if host.basic.load(Ordering::SeqCst)
            && let Some(c) = self.credential(host).await?
        {
            return Ok(Some(basic(&c)));
        }
        Ok(None)
    }

    /// Answer `host`'s 401 challenge with `host`'s own credentials:
    /// remember Basic, or fetch a scoped Bearer token.
    async fn authenticate(
        &self,
        host: &HostState,
        scope: &str,
        headers: &HeaderMap,
        budget: &mut Budget,
    ) -> Result<(), RegistryError> {
        let auth_err = |reason: String| RegistryError::Auth {
            host: host.host.clone(),
            reason,
        };
        let challenge = headers
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(Challenge::parse)
            .ok_or_else(|| auth_err("HTTP 401 without a WWW-Authenticate challenge".into()))?;
        match challenge {
            Challenge::Basic => {
                if self.credential(host).await?.is_none() {
                    return Err(auth_err(format!(
                        "the registry requires credentials and none are configured for {} (docker login, or a credential helper)",
                        credential_key(&host.host)
                    )));
                }
                tracing::info!("{}: Basic auth with its configured credentials", host.host);
                host.basic.store(true, Ordering::SeqCst);
                Ok(())
            }
            Challenge::Bearer { realm, service } => {
                let token = self
                    .fetch_token(host, &realm, service.as_deref(), scope, budget)
                    .await?;
                host.tokens
                    .lock()
                    .expect("tokens")
                    .insert(scope.to_string(), token);
                Ok(())
            }
            Challenge::Other(scheme) => Err(auth_err(format!(
                "unsupported authentication scheme `{scheme}`"
            ))),
        }
    }

    /// GET a pull token from the realm `host` named, with `host`'s Basic
    /// credentials when it has some and the realm may receive them.
    async fn fetch_token(
        &self,
        host: &HostState,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        budget: &mut Budget,
    ) -> Result<String, RegistryError> {
        let auth_err = |reason: String| RegistryError::Auth {
            host: host.host.clone(),
            reason,
        };
        let mut url = reqwest::Url::parse(realm)
            .map_err(|_| auth_err("the token realm is not a URL".into()))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(auth_err(format!(
                "the token realm's scheme `{}` is not allowed (https; http only on loopback and --insecure-registry hosts)",
                url.scheme()
            )));
        }
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let realm_host = authority(&url);
        let realm_insecure = self.is_insecure(&realm_host)
            || (host.insecure && host_without_port(&realm_host) == host_without_port(&host.host));
        let credential = self.credential(host).await?;
        let plain_http_ok = realm_insecure || (host.loopback && is_loopback(&realm_host));
        if url.scheme() == "http" && credential.is_some() && !plain_http_ok {
            return Err(auth_err(format!(
                "refusing to send credentials to a plain-HTTP token service ({realm_host}); only a loopback registry's loopback token service, or an --insecure-registry host, may be plain HTTP"
            )));
        }
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            q.append_pair("scope", scope);
        }
        tracing::info!(
            "{}: Bearer token for {scope} from {}, {}",
            host.host,
            shown_url(&url),
            if credential.is_some() {
                "with this registry's credentials"
            } else {
                "anonymously"
            }
        );
        let client = self.http_for_insecure(realm_insecure);
        let make = || {
            let req = client.get(url.clone());
            match &credential {
                Some(c) => req.header(AUTHORIZATION, basic(c)),
                None => req,
            }
        };
        let (class, answer) = self.with_retry(&realm_host, None, budget, make).await?;
        if matches!(class, Class::Unauthorized | Class::Forbidden) {
            return Err(auth_err(format!(
                "the token service refused {} (HTTP {})",
                if credential.is_some() {
                    "the credentials"
                } else {
                    "anonymous access"
                },
                answer.status.as_u16()
            )));
        }
        if !answer.status.is_success() {
            let redirect = if matches!(class, Class::Redirect(_)) {
                "; redirects from token services are not followed"
            } else {
                ""
            };
            return Err(RegistryError::Unreachable {
                host: host.host.clone(),
                reason: format!(
                    "the token service answered HTTP {}{redirect}",
                    answer.status
                ),
            });
        }
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
        }
        let parsed: TokenAnswer = serde_json::from_slice(&answer.body).map_err(|_| {
            auth_err("the token service answered something that is not a token".into())
        })?;
        parsed
            .token
            .or(parsed.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| auth_err("the token service answered without a token".into()))
    }

    /// Run `make()` until an answer is final, under the host's limit, within
    /// the request's `budget` and the client's deadline.
    async fn with_retry(
        &self,
        host: &str,
        limit: Option<&tokio::sync::Semaphore>,
        budget: &mut Budget,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<(Class, Answer), RegistryError> {
        let policy = &self.inner.config.retry;
        let give_up = |why: String| RegistryError::Unreachable {
            host: host.to_string(),
            reason: why,
        };
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let per_attempt = self.inner.config.timeout.min(budget.left());
            let (client, request) = make().timeout(per_attempt).build_split();
            let request =
                request.map_err(|e| give_up(format!("cannot send: {}", error_text(&e))))?;
            let shown = format!("{} {}", request.method(), shown_url(request.url()));
            let outcome = {
                let _permit = match limit {
                    Some(l) => Some(l.acquire().await.expect("semaphore never closed")),
                    None => None,
                };
                let began = Instant::now();
                let outcome = attempt_once(&client, request).await;
                let took = began.elapsed();
                budget.spent += took;
                match &outcome {
                    Ok(a) => tracing::debug!(
                        "{shown}: HTTP {} in {} ms",
                        a.status.as_u16(),
                        took.as_millis()
                    ),
                    Err(e) => {
                        tracing::debug!("{shown}: {} after {} ms", error_text(e), took.as_millis())
                    }
                }
                outcome
            };
            let (retry_after, reason) = match outcome {
                Ok(answer) => match classify(&answer) {
                    Class::Retry(after) => (after, format!("HTTP {}", answer.status)),
                    class => return Ok((class, answer)),
                },
                Err(e) if is_certificate_error(&e) => {
                    return Err(give_up(format!("TLS: {}", error_text(&e))));
                }
                // A request that cannot be built or sent as asked fails the same way every time.
                Err(e) if e.is_builder() || e.is_redirect() => {
                    return Err(give_up(error_text(&e)));
                }
                Err(e) => (None, error_text(&e)),
            };
            let backoff = backoff_delay(policy, attempt);
            let delay = retry_after.unwrap_or(backoff);
            if attempt >= policy.max_attempts {
                return Err(give_up(format!(
                    "no usable answer after {attempt} attempts (last: {reason})"
                )));
            }
            if budget.spent + delay >= policy.max_total {
                return Err(give_up(match retry_after {
                    Some(after) => format!(
                        "{reason} with Retry-After {}s, beyond the retry budget of {}s",
                        after.as_secs(),
                        policy.max_total.as_secs()
                    ),
                    None => format!(
                        "no usable answer within {}s (last: {reason})",
                        policy.max_total.as_secs()
                    ),
                }));
            }
            if Instant::now() + delay >= self.deadline() {
                return Err(give_up(format!(
                    "{reason}; the next attempt would start after the deadline for registry work ({}s, --deadline)",
                    self.inner.config.deadline.as_secs()
                )));
            }
            tracing::info!(
                "{host}: {reason}; retrying in {} ms (attempt {} of {})",
                delay.as_millis(),
                attempt + 1,
                policy.max_attempts
            );
            tokio::time::sleep(delay).await;
            budget.spent += delay;
        }
    }
}

/// What one request has spent of [`RetryPolicy::max_total`]: its attempts,
/// back-off waits and scheme probe, not the time queued for a host's limit.
struct Budget {
    spent: Duration,
    max: Duration,
}

impl Budget {
    fn new(max: Duration) -> Self {
        Budget {
            spent: Duration::ZERO,
            max,
        }
    }

    /// What is left, at least a millisecond (an attempt needs some time to fail in).
    fn left(&self) -> Duration {
        self.max
            .saturating_sub(self.spent)
            .max(Duration::from_millis(1))
    }
}

/// Send one request and read its whole body (a body cut short is a failed attempt).
async fn attempt_once(
    client: &reqwest::Client,
    req: reqwest::Request,
) -> Result<Answer, reqwest::Error> {
    let mut res = client.execute(req).await?;
    let status = res.status();
    let headers = res.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_BODY {
            break;
        }
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// The single classification of an HTTP answer.
fn classify(answer: &Answer) -> Class {
    match answer.status.as_u16() {
        401 => Class::Unauthorized,
        403 => Class::Forbidden,
        301 | 302 | 303 | 307 | 308 => match header(&answer.headers, LOCATION.as_str()) {
            Some(location) => Class::Redirect(location),
            None => Class::Final,
        },
        408 | 429 | 500 | 502..=504 | 507..=599 => {
            Class::Retry(retry_after(&answer.headers, SystemTime::now()))
        }
        _ => Class::Final,
    }
}

/// `host[:port]` of a URL, the port only when it is not the scheme's default
/// (the spelling of registry hosts in references).
fn authority(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// A URL for messages and logs: scheme, host and path, no query (signed
/// redirect URLs carry their signature there).
fn shown_url(url: &reqwest::Url) -> String {
    format!("{}://{}{}", url.scheme(), authority(url), url.path())
}

/// `algorithm:hex` of `bytes`.
pub fn digest_of(algorithm: Algorithm, bytes: &[u8]) -> String {
    match algorithm {
        Algorithm::Sha256 => format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes))),
        Algorithm::Sha512 => format!("sha512:{}", hex::encode(sha2::Sha512::digest(bytes))),
    }
}

/// `Retry-After` as a wait from `now`: delta-seconds or an HTTP date.
pub fn retry_after_value(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry_after_value(v, now))
}

/// Exponential back-off with jitter: between half and all of `base·2^(n-1)`, capped.
pub fn backoff_delay(policy: &RetryPolicy, attempt: u32) -> Duration {
    let exp = policy
        .base_delay
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let cap = exp.min(policy.max_delay);
    let half = cap / 2;
    half + cap.mul_f64(fastrand::f64() * 0.5)
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, PartialEq, Eq)]
enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
    Other(String),
}

impl Challenge {
    fn parse(value: &str) -> Challenge {
        let value = value.trim();
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Challenge::Basic;
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Challenge::Other(scheme.to_string());
        }
        let params = parse_params(rest);
        match params.get("realm") {
            Some(realm) => Challenge::Bearer {
                realm: realm.clone(),
                service: params.get("service").cloned(),
            },
            None => Challenge::Other("Bearer without realm".into()),
        }
    }
}

/// `k="v",k2=v2` parameters (quoted values may hold commas).
fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (q[..end].to_string(), &q[end + 1..]),
                None => (q.to_string(), ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].trim().to_string(), &after[end..]),
                None => (after.trim().to_string(), ""),
            }
        };
        out.insert(key, value);
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

fn basic(c: &Credential) -> String {
    let raw = format!("{}:{}", c.username, c.secret());
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
}

/// The registry name credentials are filed under for an API host.
fn credential_key(host: &str) -> String {
    crate::reference::normalize_registry(host).to_string()
}

fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map_or(host, |(h, _)| &h[1..]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// `localhost`, `127.0.0.0/8` and `::1`, with or without a port.
pub fn is_loopback(host: &str) -> bool {
    let h = host_without_port(host);
    h == "localhost"
        || h == "::1"
        || h.parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// An error's text with its causes (reqwest's top level says little).
fn error_text(e: &reqwest::Error) -> String {
    let mut out = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Whether the failure is a certificate the client does not trust (retrying cannot help).
fn is_certificate_error(e: &reqwest::Error) -> bool {
    let text = error_text(e).to_ascii_lowercase();
    text.contains("certificate") || text.contains("unknownissuer")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_lists_the_four_manifest_types_from_oci_client() {
        assert_eq!(
            MANIFEST_ACCEPT.as_str(),
            "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
             application/vnd.docker.distribution.manifest.list.v2+json, \
             application/vnd.docker.distribution.manifest.v2+json"
        );
    }

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(retry_after_value("7", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(3));
        assert_eq!(retry_after_value(&later, now), Some(Duration::from_secs(3)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(3));
        assert_eq!(retry_after_value(&past, now), Some(Duration::ZERO));
        assert_eq!(retry_after_value("soon", now), None);
    }

    #[test]
    fn classification_table() {
        let a = |code: u16, retry: Option<&str>| {
            let mut headers = HeaderMap::new();
            if let Some(r) = retry {
                headers.insert("retry-after", r.parse().unwrap());
            }
            classify(&Answer {
                status: StatusCode::from_u16(code).unwrap(),
                headers,
                body: Vec::new(),
            })
        };
        assert!(matches!(a(200, None), Class::Final));
        assert!(matches!(a(404, None), Class::Final));
        assert!(matches!(a(401, None), Class::Unauthorized));
        assert!(matches!(a(403, None), Class::Forbidden));
        assert!(matches!(a(400, None), Class::Final));
        assert!(matches!(a(501, None), Class::Final));
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(matches!(a(code, None), Class::Retry(None)), "{code}");
        }
        assert!(matches!(a(429, Some("2")), Class::Retry(Some(d)) if d == Duration::from_secs(2)));
        for code in [301, 302, 303, 307, 308] {
            let mut headers = HeaderMap::new();
            headers.insert("location", "/v2/x".parse().unwrap());
            let answer = Answer {
                status: StatusCode::from_u16(code).unwrap(),
                headers,
                body: Vec::new(),
            };
            assert!(
                matches!(classify(&answer), Class::Redirect(l) if l == "/v2/x"),
                "{code}"
            );
            // Without a Location there is nowhere to go: final.
            assert!(matches!(a(code, None), Class::Final), "{code}");
        }
    }

    #[test]
    fn authorities_spell_hosts_as_references_do_and_shown_urls_drop_queries() {
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        assert_eq!(authority(&url("https://ghcr.io:443/v2/")), "ghcr.io");
        assert_eq!(
            authority(&url("http://127.0.0.1:5000/v2/")),
            "127.0.0.1:5000"
        );
        assert_eq!(authority(&url("http://[::1]:5000/v2/")), "[::1]:5000");
        assert_eq!(authority(&url("https://ghcr.io:8443/")), "ghcr.io:8443");
        assert_eq!(
            shown_url(&url("https://cdn.example/blob?X-Signature=abc&u=1")),
            "https://cdn.example/blob"
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            ..RetryPolicy::default()
        };
        for _ in 0..50 {
            let d1 = backoff_delay(&p, 1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d5 = backoff_delay(&p, 5);
            assert!(d5 >= Duration::from_millis(175) && d5 <= Duration::from_millis(350));
        }
    }

    #[test]
    fn challenges_parse() {
        assert_eq!(
            Challenge::parse(
                r#"Bearer realm="https://auth.example/token",service="reg,x",scope="repository:a:pull""#
            ),
            Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("reg,x".into())
            }
        );
        assert_eq!(Challenge::parse(r#"Basic realm="r""#), Challenge::Basic);
        assert!(matches!(Challenge::parse("Negotiate"), Challenge::Other(_)));
    }

    #[test]
    fn loopback_and_mirrors() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("10.0.0.1:5000"));
        assert!(!is_loopback("ghcr.io"));
        let m = Mirror::parse("index.docker.io=127.0.0.1:5000").unwrap();
        assert_eq!(m.from, "docker.io");
        assert!(Mirror::parse("docker.io").is_err());
        let client = RegistryClient::new(ClientConfig {
            mirrors: vec![m],
            ..ClientConfig::default()
        })
        .unwrap();
        assert_eq!(
            client.endpoint(&ImageRef::parse("nginx:1").unwrap()),
            "127.0.0.1:5000"
        );
        assert_eq!(
            client.endpoint(&ImageRef::parse("ghcr.io/a/b").unwrap()),
            "ghcr.io"
        );
        let plain = RegistryClient::new(ClientConfig::default()).unwrap();
        assert_eq!(
            plain.endpoint(&ImageRef::parse("nginx").unwrap()),
            "registry-1.docker.io"
        );
    }
}
