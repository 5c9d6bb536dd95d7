//! A token issuer for the registry's `auth.token` mode: checks Basic
//! credentials and answers `{"token": <ES256 JWT>}` whose `access` claim grants
//! the scopes asked for. The signing key is a P-256 key made with `openssl`;
//! its self-signed certificate is the registry's `rootcertbundle` and travels
//! in the JWT's `x5c` header, which is how distribution 2.8 finds the key.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::run_tool;

/// The `service` the registry and issuer agree on.
pub const SERVICE: &str = "chartpin-test-registry";
/// The `iss` claim the registry trusts.
pub const ISSUER: &str = "chartpin-test-issuer";

/// A running token issuer; stops on drop.
pub struct TokenIssuer {
    runtime: Option<tokio::runtime::Runtime>,
    /// Where the registry sends clients for tokens (`http://127.0.0.1:PORT/token`).
    pub realm: String,
    /// PEM certificate of the signing key: the registry's `rootcertbundle`.
    pub cert_bundle: PathBuf,
    signer: Arc<Signer>,
    /// Token requests answered so far (granted or refused).
    pub requests: Arc<AtomicUsize>,
    /// Every token issued to a client, so tests can check none is printed.
    pub issued: Arc<Mutex<Vec<String>>>,
}

struct Signer {
    key: EcdsaKeyPair,
    x5c: String,
    user: String,
    password: String,
}

impl TokenIssuer {
    /// Make a key and certificate under `dir` and serve tokens for `user`/`password`.
    pub fn start(dir: &Path, user: &str, password: &str) -> TokenIssuer {
        let key_pem = dir.join("token-key.pem");
        let key_der = dir.join("token-key.der");
        let cert = dir.join("token-cert.pem");
        let s = |p: &Path| p.to_str().expect("utf-8 temp path").to_string();
        run_tool(
            "openssl",
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                &s(&key_pem),
            ],
        );
        run_tool(
            "openssl",
            &[
                "pkcs8",
                "-topk8",
                "-nocrypt",
                "-in",
                &s(&key_pem),
                "-outform",
                "DER",
                "-out",
                &s(&key_der),
            ],
        );
        run_tool(
            "openssl",
            &[
                "req",
                "-new",
                "-x509",
                "-key",
                &s(&key_pem),
                "-out",
                &s(&cert),
                "-days",
                "2",
                "-subj",
                "/CN=chartpin-test-token-issuer",
            ],
        );
        let cert_der = run_tool("openssl", &["x509", "-in", &s(&cert), "-outform", "DER"]);
        let pkcs8 = std::fs::read(&key_der).expect("read token key");
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &pkcs8,
            &ring::rand::SystemRandom::new(),
        )
        .expect("load P-256 key");
        let signer = Arc::new(Signer {
            key,
            x5c: STANDARD.encode(&cert_der),
            user: user.to_string(),
            password: password.to_string(),
        });

        let runtime = super::runtime();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind token issuer");
        let addr = listener.local_addr().expect("token issuer addr");
        let requests = Arc::new(AtomicUsize::new(0));
        let issued = Arc::new(Mutex::new(Vec::new()));
        let (sig, count, given) = (signer.clone(), requests.clone(), issued.clone());
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (sig, count, given) = (sig.clone(), count.clone(), given.clone());
                tokio::spawn(async move {
                    let work = serve(stream, &sig, &count, &given);
                    let _ = tokio::time::timeout(Duration::from_secs(10), work).await;
                });
            }
        });
        TokenIssuer {
            runtime: Some(runtime),
            realm: format!("http://{addr}/token"),
            cert_bundle: cert,
            signer,
            requests,
            issued,
        }
    }

    /// A token granting `actions` on repository `name`, minted directly (for pushes).
    pub fn token_for(&self, name: &str, actions: &[&str]) -> String {
        self.signer.jwt(
            &self.signer.user,
            &[(
                name.to_string(),
                actions.iter().map(|a| a.to_string()).collect(),
            )],
        )
    }
}

impl Drop for TokenIssuer {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Signer {
    fn jwt(&self, subject: &str, access: &[(String, Vec<String>)]) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "x5c": [self.x5c]});
        let access: Vec<_> = access
            .iter()
            .map(|(name, actions)| serde_json::json!({"type": "repository", "name": name, "actions": actions}))
            .collect();
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": subject, "aud": SERVICE,
            "exp": now + 600, "nbf": now - 30, "iat": now,
            "jti": format!("{now}-{}", fastrand::u64(..)),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self
            .key
            .sign(&ring::rand::SystemRandom::new(), signing_input.as_bytes())
            .expect("sign JWT");
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }
}

/// Answer one request: 200 with a token for good Basic credentials, else 401.
async fn serve(
    mut stream: tokio::net::TcpStream,
    signer: &Signer,
    count: &AtomicUsize,
    issued: &Mutex<Vec<String>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 64 * 1024 {
            return;
        }
    }
    count.fetch_add(1, Ordering::SeqCst);
    let head = String::from_utf8_lossy(&buf).to_string();
    let target = head.split_whitespace().nth(1).unwrap_or("/");
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let mut scopes = Vec::new();
    for pair in query.split('&') {
        if let Some(("scope", v)) = pair.split_once('=') {
            scopes.push(percent_decode(v));
        }
    }
    let authorized = head.lines().any(|l| {
        let Some((k, v)) = l.split_once(':') else {
            return false;
        };
        if !k.eq_ignore_ascii_case("authorization") {
            return false;
        }
        let Some(b64) = v.trim().strip_prefix("Basic ") else {
            return false;
        };
        STANDARD
            .decode(b64.trim())
            .ok()
            .is_some_and(|d| d == format!("{}:{}", signer.user, signer.password).as_bytes())
    });
    let response = if authorized {
        let access: Vec<(String, Vec<String>)> = scopes
            .iter()
            .filter_map(|s| {
                let mut parts = s.splitn(3, ':');
                let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                (kind == "repository").then(|| {
                    (
                        name.to_string(),
                        actions.split(',').map(str::to_string).collect(),
                    )
                })
            })
            .collect();
        let token = signer.jwt(&signer.user, &access);
        issued.lock().unwrap().push(token.clone());
        let body = serde_json::json!({"token": token, "expires_in": 600}).to_string();
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    } else {
        let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#;
        format!(
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Decode `%XX` escapes and `+` in a query value.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(v) => {
                    out.push(v);
                    i += 3;
                    continue;
                }
                Err(_) => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
