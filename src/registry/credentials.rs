//! Registry credentials, found where users already keep them.
//!
//! Order for a registry host: Docker `credHelpers[host]`, then `credsStore`,
//! then Docker `auths`, then podman's `auth.json`; nothing found means
//! anonymous. Docker config is `$DOCKER_CONFIG/config.json` or
//! `~/.docker/config.json`; podman's is `$REGISTRY_AUTH_FILE`, else
//! `$XDG_RUNTIME_DIR/containers/auth.json` or `~/.config/containers/auth.json`.
//! Helper keys are matched exactly, with Docker Hub spelled
//! `https://index.docker.io/v1/` as the Docker CLI does (FIELD-NOTES §4).
//!
//! Files are read once, up front, so a malformed config is a usage error
//! before any request; helpers run lazily (once per registry, by the client).
//! A [`Credential`] never prints its secret, not even in `Debug`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::reference::DOCKER_HUB;

/// The key Docker uses for Docker Hub in `auths` and `credHelpers`.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";
/// Longest a credential helper may run.
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(20);

/// A username and secret for one registry. `Debug` and `Display` hide the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    secret: String,
}

impl Credential {
    pub fn new(username: impl Into<String>, secret: impl Into<String>) -> Self {
        Credential {
            username: username.into(),
            secret: secret.into(),
        }
    }

    /// The password or token; only for building an `Authorization` header.
    pub fn secret(&self) -> &str {
        &self.secret
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credential({}, <redacted>)", self.username)
    }
}

/// Where credentials come from, read once from the files users keep.
#[derive(Clone, Debug, Default)]
pub struct CredentialStore {
    docker: DockerConfig,
    podman: Vec<AuthFile>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
}

#[derive(Clone, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

impl fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthEntry(<redacted>)")
    }
}

/// Why credentials could not be read. Messages never hold secrets.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// A config file exists but cannot be used (exit 2).
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    /// A credential helper failed or returned nonsense.
    #[error("credential helper `docker-credential-{helper}` failed: {message}")]
    Helper { helper: String, message: String },
}

impl CredentialStore {
    /// An empty store: anonymous everywhere.
    pub fn anonymous() -> Self {
        CredentialStore::default()
    }

    /// Read the Docker and podman files named by the environment (missing files are fine).
    pub fn from_env() -> Result<Self, CredentialError> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let docker_path = match std::env::var_os("DOCKER_CONFIG") {
            Some(dir) => Some(PathBuf::from(dir).join("config.json")),
            None => home.as_ref().map(|h| h.join(".docker/config.json")),
        };
        let mut podman_paths = Vec::new();
        if let Some(f) = std::env::var_os("REGISTRY_AUTH_FILE") {
            podman_paths.push(PathBuf::from(f));
        } else {
            if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR") {
                podman_paths.push(PathBuf::from(run).join("containers/auth.json"));
            }
            if let Some(h) = &home {
                podman_paths.push(h.join(".config/containers/auth.json"));
            }
        }
        Self::from_files(docker_path.as_deref(), &podman_paths)
    }

    /// Read a Docker `config.json` and podman `auth.json` files, skipping missing ones.
    pub fn from_files(
        docker_config: Option<&Path>,
        podman_files: &[PathBuf],
    ) -> Result<Self, CredentialError> {
        let docker = match docker_config {
            Some(p) => read_json::<DockerConfig>(p)?.unwrap_or_default(),
            None => DockerConfig::default(),
        };
        let mut podman = Vec::new();
        for p in podman_files {
            if let Some(f) = read_json::<AuthFile>(p)? {
                podman.push(f);
            }
        }
        Ok(CredentialStore { docker, podman })
    }

    /// The credential for `registry` (a host as written in references,
    /// `docker.io` for Docker Hub), or `None` for anonymous access.
    pub async fn lookup(&self, registry: &str) -> Result<Option<Credential>, CredentialError> {
        let key = helper_key(registry);
        if let Some(helper) = self.docker.cred_helpers.get(key) {
            return run_helper(helper, key).await;
        }
        if let Some(store) = &self.docker.creds_store
            && let Some(c) = run_helper(store, key).await?
        {
            return Ok(Some(c));
        }
        if let Some(c) = find_in_auths(&self.docker.auths, registry) {
            return Ok(Some(c));
        }
        Ok(self
            .podman
            .iter()
            .find_map(|f| find_in_auths(&f.auths, registry)))
    }
}

/// The key a registry has in `credHelpers` and what a helper is asked for.
fn helper_key(registry: &str) -> &str {
    if registry == DOCKER_HUB {
        DOCKER_HUB_AUTH_KEY
    } else {
        registry
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, CredentialError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(CredentialError::File {
                path: path.to_path_buf(),
                message: e.to_string(),
            });
        }
    };
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| CredentialError::File {
            path: path.to_path_buf(),
            // serde_json errors name the position, never the value.
            message: format!("not a valid credentials file: {e}"),
        })
}

/// The host part of an `auths` key: `https://host/v1/` → `host`.
fn auth_key_host(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

fn find_in_auths(auths: &HashMap<String, AuthEntry>, registry: &str) -> Option<Credential> {
    let hub = registry == DOCKER_HUB;
    let matches = |key: &str| {
        let host = auth_key_host(key);
        if hub {
            matches!(
                host,
                "index.docker.io" | "docker.io" | "registry-1.docker.io"
            )
        } else {
            host == registry
        }
    };
    // An exact key first, then any spelling of the same host.
    let entry = auths.get(helper_key(registry)).or_else(|| {
        let mut keys: Vec<&String> = auths.keys().filter(|k| matches(k)).collect();
        keys.sort();
        keys.first().and_then(|k| auths.get(*k))
    })?;
    entry_credential(entry)
}

fn entry_credential(entry: &AuthEntry) -> Option<Credential> {
    if let Some(b64) = entry.auth.as_deref().filter(|s| !s.is_empty()) {
        let decoded = STANDARD.decode(b64.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, secret) = text.split_once(':')?;
        return Some(Credential::new(user, secret));
    }
    match (&entry.username, &entry.password) {
        (Some(u), Some(p)) if !u.is_empty() => Some(Credential::new(u, p)),
        _ => None,
    }
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// Run `docker-credential-<helper> get` with the server key on stdin.
async fn run_helper(helper: &str, key: &str) -> Result<Option<Credential>, CredentialError> {
    use tokio::io::AsyncWriteExt;
    let fail = |message: String| CredentialError::Helper {
        helper: helper.to_string(),
        message,
    };
    let program = format!("docker-credential-{helper}");
    let mut child = tokio::process::Command::new(&program)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| fail(format!("cannot run `{program}`: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(key.as_bytes())
            .await
            .map_err(|e| fail(format!("cannot write to it: {e}")))?;
    }
    let out = tokio::time::timeout(HELPER_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| fail(format!("no answer within {}s", HELPER_TIMEOUT.as_secs())))?
        .map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        // The helper protocol reports a miss as this text on stdout.
        let said = String::from_utf8_lossy(&out.stdout);
        if said.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        return Err(fail(format!("exited with {}", out.status)));
    }
    let answer: HelperAnswer = serde_json::from_slice(&out.stdout)
        .map_err(|_| fail("answered something that is not credentials JSON".into()))?;
    if answer.username.is_empty() && answer.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credential::new(answer.username, answer.secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(json: &str) -> CredentialStore {
        CredentialStore {
            docker: serde_json::from_str(json).unwrap(),
            podman: Vec::new(),
        }
    }

    #[test]
    fn auths_match_by_host_and_docker_hub_spellings() {
        let b64 = STANDARD.encode("u:p@ss:word");
        let s = store(&format!(
            r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{b64}"}},
                "http://127.0.0.1:5000": {{"username": "x", "password": "y"}}}}}}"#
        ));
        let hub = find_in_auths(&s.docker.auths, "docker.io").unwrap();
        assert_eq!((hub.username.as_str(), hub.secret()), ("u", "p@ss:word"));
        let local = find_in_auths(&s.docker.auths, "127.0.0.1:5000").unwrap();
        assert_eq!(local.username, "x");
        assert!(find_in_auths(&s.docker.auths, "127.0.0.1:5001").is_none());
        assert!(find_in_auths(&s.docker.auths, "ghcr.io").is_none());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let c = Credential::new("alice", "hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
        let s = store(&format!(
            r#"{{"auths": {{"r.io": {{"auth": "{}"}}}}}}"#,
            STANDARD.encode("alice:hunter2")
        ));
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("hunter2") && !dbg.contains(&STANDARD.encode("alice:hunter2")));
    }

    #[test]
    fn helper_keys_are_exact() {
        assert_eq!(helper_key("docker.io"), DOCKER_HUB_AUTH_KEY);
        assert_eq!(helper_key("us-docker.pkg.dev"), "us-docker.pkg.dev");
    }
}
