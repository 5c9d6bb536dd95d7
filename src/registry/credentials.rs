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
//!
//! The files are read by hand from a `serde_json::Value`, not with serde
//! derive: serde's type errors quote the offending value
//! (`invalid type: string "dXNlcjpw…", expected struct AuthEntry`), and in
//! these files the offending value is usually the secret. Every refusal here
//! names the file, the key path (`auths."reg:5000".password`) and the type
//! expected, and says only the JSON type of what was found. Keys the Docker
//! CLI and podman write but chartpin does not use (`identitytoken`, `email`,
//! `HttpHeaders`, `proxies` …) are ignored whatever their shape.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Map, Value};

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

/// What chartpin uses of a Docker `config.json`.
#[derive(Clone, Debug, Default)]
struct DockerConfig {
    /// The file read (for logs).
    path: Option<PathBuf>,
    auths: HashMap<String, AuthEntry>,
    cred_helpers: HashMap<String, String>,
    creds_store: Option<String>,
}

/// What chartpin uses of a podman `auth.json`.
#[derive(Clone, Debug, Default)]
struct AuthFile {
    path: Option<PathBuf>,
    auths: HashMap<String, AuthEntry>,
}

#[derive(Clone, Default)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
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
            Some(p) => match read_json(p)? {
                Some(v) => DockerConfig {
                    path: Some(p.to_path_buf()),
                    ..DockerConfig::from_json(&v).map_err(|e| e.in_file(p))?
                },
                None => DockerConfig::default(),
            },
            None => DockerConfig::default(),
        };
        let mut podman = Vec::new();
        for p in podman_files {
            if let Some(v) = read_json(p)? {
                podman.push(AuthFile {
                    path: Some(p.clone()),
                    ..AuthFile::from_json(&v).map_err(|e| e.in_file(p))?
                });
            }
        }
        Ok(CredentialStore { docker, podman })
    }

    /// The credential for `registry` (a host as written in references,
    /// `docker.io` for Docker Hub), or `None` for anonymous access.
    pub async fn lookup(&self, registry: &str) -> Result<Option<Credential>, CredentialError> {
        let key = helper_key(registry);
        let found = |from: &str| tracing::debug!("credentials for {registry}: from {from}");
        if let Some(helper) = self.docker.cred_helpers.get(key) {
            let c = run_helper(helper, key).await?;
            found(&format!(
                "credHelpers: `docker-credential-{helper}` {}",
                if c.is_some() { "answered" } else { "has none" }
            ));
            return Ok(c);
        }
        if let Some(store) = &self.docker.creds_store
            && let Some(c) = run_helper(store, key).await?
        {
            found(&format!("credsStore: `docker-credential-{store}`"));
            return Ok(Some(c));
        }
        let files = std::iter::once((&self.docker.path, &self.docker.auths))
            .chain(self.podman.iter().map(|f| (&f.path, &f.auths)));
        for (path, auths) in files {
            if let Some(c) = find_in_auths(auths, registry) {
                let file = path
                    .as_deref()
                    .map_or("?".into(), |p| p.display().to_string());
                found(&format!("auths in {file}"));
                return Ok(Some(c));
            }
        }
        tracing::debug!("credentials for {registry}: none configured; anonymous");
        Ok(None)
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

/// A file's JSON, or `None` when it is missing or empty. A syntax error
/// says where, never what: serde_json's syntax messages carry no input, but
/// only its line and column are used, so that stays true whatever it prints.
fn read_json(path: &Path) -> Result<Option<Value>, CredentialError> {
    let file_err = |message: String| CredentialError::File {
        path: path.to_path_buf(),
        message,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            return Err(file_err(
                "not a valid credentials file: not UTF-8 text".into(),
            ));
        }
        Err(e) => return Err(file_err(e.to_string())),
    };
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(&text).map(Some).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Eof => "JSON that ends too early",
            _ => "invalid JSON",
        };
        file_err(format!(
            "not a valid credentials file: {what} at line {}, column {} (the text there is not shown)",
            e.line(),
            e.column()
        ))
    })
}

/// A credentials file with a value of the wrong type at `key_path`.
#[derive(Debug)]
struct Misshapen {
    key_path: String,
    expected: &'static str,
    found: &'static str,
}

impl Misshapen {
    fn in_file(self, path: &Path) -> CredentialError {
        CredentialError::File {
            path: path.to_path_buf(),
            message: format!(
                "not a valid credentials file: `{}` must be {}, found {} (its value is not shown)",
                self.key_path, self.expected, self.found
            ),
        }
    }
}

/// The JSON type of `v`, as messages name it (never its content).
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `parent."key"`: a registry key quoted as JSON writes it (escapes included).
fn key_path(parent: &str, key: &str) -> String {
    let quoted = serde_json::to_string(key).expect("a string serialises");
    if parent.is_empty() {
        quoted
    } else {
        format!("{parent}.{quoted}")
    }
}

fn expect_object<'a>(
    v: &'a Value,
    at: &str,
    expected: &'static str,
) -> Result<&'a Map<String, Value>, Misshapen> {
    v.as_object().ok_or_else(|| Misshapen {
        key_path: at.to_string(),
        expected,
        found: json_kind(v),
    })
}

/// `obj[key]` as a string; absent or `null` is `None`.
fn optional_string(
    obj: &Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<Option<String>, Misshapen> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Misshapen {
            key_path: if parent.is_empty() {
                key.to_string()
            } else {
                format!("{parent}.{key}")
            },
            expected: "a string",
            found: json_kind(other),
        }),
    }
}

/// The object under `obj[key]`; absent or `null` is empty.
fn optional_object<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    expected: &'static str,
) -> Result<Option<&'a Map<String, Value>>, Misshapen> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => expect_object(v, key, expected).map(Some),
    }
}

const TOP_LEVEL: &str = "an object at the top level";

/// `auths`: registry key → `{auth}` or `{username, password}`.
fn read_auths(top: &Map<String, Value>) -> Result<HashMap<String, AuthEntry>, Misshapen> {
    let mut out = HashMap::new();
    let Some(auths) = optional_object(top, "auths", "an object of registry entries")? else {
        return Ok(out);
    };
    for (registry, entry) in auths {
        let at = key_path("auths", registry);
        let fields = expect_object(
            entry,
            &at,
            "an object with \"auth\" (base64 of user:password) or \"username\" and \"password\"",
        )?;
        out.insert(
            registry.clone(),
            AuthEntry {
                auth: optional_string(fields, &at, "auth")?,
                username: optional_string(fields, &at, "username")?,
                password: optional_string(fields, &at, "password")?,
            },
        );
    }
    Ok(out)
}

impl DockerConfig {
    fn from_json(v: &Value) -> Result<Self, Misshapen> {
        let top = expect_object(v, "(top level)", TOP_LEVEL)?;
        let mut cred_helpers = HashMap::new();
        if let Some(helpers) = optional_object(
            top,
            "credHelpers",
            "an object mapping registries to helper names",
        )? {
            for (registry, helper) in helpers {
                match helper {
                    Value::String(h) => {
                        cred_helpers.insert(registry.clone(), h.clone());
                    }
                    other => {
                        return Err(Misshapen {
                            key_path: key_path("credHelpers", registry),
                            expected: "a string (a helper name, `docker-credential-<name>`)",
                            found: json_kind(other),
                        });
                    }
                }
            }
        }
        let creds_store = optional_string(top, "", "credsStore")
            .map_err(|e| Misshapen {
                expected: "a string (a helper name, `docker-credential-<name>`)",
                ..e
            })?
            .filter(|s| !s.is_empty());
        Ok(DockerConfig {
            path: None,
            auths: read_auths(top)?,
            cred_helpers,
            creds_store,
        })
    }
}

impl AuthFile {
    fn from_json(v: &Value) -> Result<Self, Misshapen> {
        let top = expect_object(v, "(top level)", TOP_LEVEL)?;
        Ok(AuthFile {
            path: None,
            auths: read_auths(top)?,
        })
    }
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
    entry_credential(entry, registry)
}

fn entry_credential(entry: &AuthEntry, registry: &str) -> Option<Credential> {
    if let Some(b64) = entry.auth.as_deref().filter(|s| !s.is_empty()) {
        let pair = STANDARD
            .decode(b64.trim())
            .ok()
            .and_then(|d| String::from_utf8(d).ok());
        let Some((user, secret)) = pair.as_deref().and_then(|t| t.split_once(':')) else {
            tracing::warn!(
                "credentials for {registry}: the `auth` value is not base64 of user:password; ignored (anonymous)"
            );
            return None;
        };
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
            docker: DockerConfig::from_json(&serde_json::from_str(json).unwrap()).unwrap(),
            podman: Vec::new(),
        }
    }

    /// The message for a Docker config `json`, or "ok".
    fn refusal(json: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, json).unwrap();
        match CredentialStore::from_files(Some(&path), &[]) {
            Ok(_) => "ok".into(),
            Err(e) => e.to_string().replace(&path.display().to_string(), "FILE"),
        }
    }

    #[test]
    fn misshapen_files_name_the_key_path_and_type_never_the_value() {
        let secret = "dXNlcjpwYXNz";
        let cases = [
            (
                format!(r#"{{"auths":{{"reg:5000":"{secret}"}}}}"#),
                r#"`auths."reg:5000"` must be an object with "auth""#,
            ),
            (
                r#"{"auths":{"reg:5000":{"username":"u","password":12345678}}}"#.into(),
                r#"`auths."reg:5000".password` must be a string, found a number"#,
            ),
            (
                format!(r#"{{"auths":{{"r":{{"auth":["{secret}"]}}}}}}"#),
                r#"`auths."r".auth` must be a string, found an array"#,
            ),
            (
                format!(r#"{{"auths":["{secret}"]}}"#),
                "`auths` must be an object of registry entries, found an array",
            ),
            (
                format!(r#""{secret}""#),
                "`(top level)` must be an object at the top level, found a string",
            ),
            (
                format!(r#"{{"credHelpers":{{"r":{{"x":"{secret}"}}}}}}"#),
                r#"`credHelpers."r"` must be a string (a helper name"#,
            ),
            (
                r#"{"credsStore":12345678}"#.into(),
                "`credsStore` must be a string (a helper name",
            ),
            (
                format!(r#"{{"auths":{{"r":{{"auth":"{secret}" x}}}}}}"#),
                "invalid JSON at line 1, column 38",
            ),
            (
                format!(r#"{{"auths":{{"r":{{"auth":"{secret}"#),
                "JSON that ends too early",
            ),
        ];
        for (json, expected) in cases {
            let msg = refusal(&json);
            assert!(msg.starts_with("FILE: "), "{msg}");
            assert!(msg.contains(expected), "{json}\n{msg}");
            assert!(!msg.contains(secret) && !msg.contains("12345678"), "{msg}");
        }
    }

    #[test]
    fn shapes_docker_and_podman_write_are_read() {
        let b64 = STANDARD.encode("u:p");
        for json in [
            format!(r#"{{"auths":{{"r":{{"auth":"{b64}","email":null,"identitytoken":"t"}}}}}}"#),
            r#"{"auths":{"r":{"username":"u","password":"p"}},"HttpHeaders":{"X":"y"}}"#.into(),
            r#"{"auths":{"r":{}},"credsStore":"","credHelpers":{"gcr.io":"gcloud"}}"#.into(),
            r#"{"auths":null,"credHelpers":null,"credsStore":null,"proxies":[1]}"#.into(),
            "{}".into(),
        ] {
            assert_eq!(refusal(&json), "ok", "{json}");
        }
        let s = store(r#"{"credsStore":""}"#);
        assert!(s.docker.creds_store.is_none());
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
