//! A fault-injecting HTTP/1.1 proxy in front of a real registry.
//!
//! Each request from the client is forwarded on a fresh upstream connection
//! (`Connection: close`, read to EOF), so the proxy sees whole answers and can
//! change them; the client side keeps its connection alive. Faults are
//! programmed per request: a rule matches a method and a path fragment and
//! fires a bounded number of times (or always). Added latency applies to every
//! request, as a remote registry's round trip would. Everything is bounded in
//! time; the proxy's runtime stops on drop.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the proxy does to a matching request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer 429 with `Retry-After: <seconds>`.
    RetryAfterSeconds(u64),
    /// Answer 429 with `Retry-After: <HTTP date this far in the future>`.
    RetryAfterDate(Duration),
    /// Answer this status (500, 502, 503, 408 …) with a small JSON body.
    Status(u16),
    /// Reset the client connection without answering.
    Reset,
    /// Hold the request this long, then forward it.
    Slow(Duration),
    /// Forward, but answer a `Docker-Content-Digest` that is not the content's.
    WrongDigestHeader,
    /// Forward, but change one byte of the body (its hash no longer matches).
    CorruptBody,
    /// Answer 200 with this content type and body instead of forwarding
    /// (a referrers API the registry behind does not have, or garbage).
    Answer { content_type: String, body: Vec<u8> },
}

/// A digest that no test content has: what [`Fault::WrongDigestHeader`] answers.
pub const WRONG_DIGEST: &str =
    "sha256:0000000000000000000000000000000000000000000000000000000000000bad";

struct Rule {
    method: Option<String>,
    path_contains: String,
    fault: Fault,
    /// `None`: fires on every match.
    remaining: Option<usize>,
}

#[derive(Default)]
struct State {
    rules: Mutex<Vec<Rule>>,
    latency: Mutex<Duration>,
    requests: AtomicUsize,
    faults_fired: AtomicUsize,
    log: Mutex<Vec<String>>,
}

/// A running proxy; `host` goes where the registry's host would.
pub struct Proxy {
    runtime: Option<tokio::runtime::Runtime>,
    /// `127.0.0.1:PORT` of the proxy.
    pub host: String,
    state: Arc<State>,
}

impl Proxy {
    /// Proxy to `upstream` (`127.0.0.1:PORT`, plain HTTP) from a free loopback port.
    pub fn start(upstream: &str) -> Proxy {
        Self::start_on("127.0.0.1:0", upstream)
    }

    /// Proxy to `upstream` from `listen` (`127.0.0.1:0` for any free port).
    pub fn start_on(listen: &str, upstream: &str) -> Proxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("proxy runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(listen))
            .expect("bind proxy");
        let host = listener.local_addr().expect("proxy addr").to_string();
        let state = Arc::new(State::default());
        let (st, up) = (state.clone(), upstream.to_string());
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_connection(stream, up.clone(), st.clone()));
            }
        });
        Proxy {
            runtime: Some(runtime),
            host,
            state,
        }
    }

    /// Apply `fault` to the next `times` manifest requests (any method).
    pub fn inject(&self, fault: Fault, times: usize) {
        self.inject_where(None, "/manifests/", fault, Some(times));
    }

    /// Apply `fault` to every manifest request from now on.
    pub fn inject_always(&self, fault: Fault) {
        self.inject_where(None, "/manifests/", fault, None);
    }

    /// Apply `fault` to requests of `method` (any when `None`) whose path contains
    /// `path_contains`, `times` times (always when `None`). Rules fire in the order added.
    pub fn inject_where(
        &self,
        method: Option<&str>,
        path_contains: &str,
        fault: Fault,
        times: Option<usize>,
    ) {
        self.state.rules.lock().unwrap().push(Rule {
            method: method.map(str::to_string),
            path_contains: path_contains.to_string(),
            fault,
            remaining: times,
        });
    }

    /// Remove every rule.
    pub fn clear(&self) {
        self.state.rules.lock().unwrap().clear();
    }

    /// Delay every request by `latency` before it is forwarded.
    pub fn set_latency(&self, latency: Duration) {
        *self.state.latency.lock().unwrap() = latency;
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Faults applied so far.
    pub fn faults_fired(&self) -> usize {
        self.state.faults_fired.load(Ordering::SeqCst)
    }

    /// `METHOD /path` of every request so far, in arrival order.
    pub fn request_log(&self) -> Vec<String> {
        self.state.log.lock().unwrap().clone()
    }

    /// Block the current thread until dropped or killed (for the bench binary).
    pub fn run_forever(self) -> ! {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// One parsed request: head text and body (also read by [`super::hostile`]).
pub struct Request {
    pub method: String,
    /// The request target: path and query.
    pub path: String,
    /// The request line and header lines.
    pub head: String,
    pub body: Vec<u8>,
}

const IO_LIMIT: Duration = Duration::from_secs(60);

async fn serve_connection(mut client: TcpStream, upstream: String, state: Arc<State>) {
    let mut buf = Vec::new();
    loop {
        let req = match tokio::time::timeout(IO_LIMIT, read_request(&mut client, &mut buf)).await {
            Ok(Some(r)) => r,
            _ => return,
        };
        state.requests.fetch_add(1, Ordering::SeqCst);
        state
            .log
            .lock()
            .unwrap()
            .push(format!("{} {}", req.method, req.path));
        let fault = take_fault(&state, &req);
        if fault.is_some() {
            state.faults_fired.fetch_add(1, Ordering::SeqCst);
        }
        let latency = *state.latency.lock().unwrap();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let answer = match fault {
            Some(Fault::Reset) => {
                let _ = client.set_zero_linger();
                return;
            }
            Some(Fault::RetryAfterSeconds(s)) => {
                canned(429, &[("Retry-After", s.to_string())], "TOOMANYREQUESTS")
            }
            Some(Fault::RetryAfterDate(d)) => canned(
                429,
                &[(
                    "Retry-After",
                    httpdate::fmt_http_date(SystemTime::now() + d),
                )],
                "TOOMANYREQUESTS",
            ),
            Some(Fault::Status(code)) => canned(code, &[], "UNAVAILABLE"),
            Some(Fault::Answer { content_type, body }) => {
                let mut out = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                out.extend_from_slice(&body);
                Some(out)
            }
            Some(Fault::Slow(d)) => {
                tokio::time::sleep(d).await;
                forward(&req, &upstream, None).await
            }
            other => forward(&req, &upstream, other.as_ref()).await,
        };
        let Some(answer) = answer else { return };
        if client.write_all(&answer).await.is_err() {
            return;
        }
    }
}

fn take_fault(state: &State, req: &Request) -> Option<Fault> {
    let mut rules = state.rules.lock().unwrap();
    for rule in rules.iter_mut() {
        let method_ok = rule.method.as_deref().is_none_or(|m| m == req.method);
        if !method_ok || !req.path.contains(&rule.path_contains) {
            continue;
        }
        match &mut rule.remaining {
            Some(0) => continue,
            Some(n) => *n -= 1,
            None => {}
        }
        return Some(rule.fault.clone());
    }
    None
}

/// A small complete answer of our own.
fn canned(status: u16, headers: &[(&str, String)], code: &str) -> Option<Vec<u8>> {
    let body = format!(r#"{{"errors":[{{"code":"{code}","message":"injected by test proxy"}}]}}"#);
    let mut out = format!(
        "HTTP/1.1 {status} Injected\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&body);
    Some(out.into_bytes())
}

/// Send `req` upstream on a fresh connection and return the (possibly altered) answer.
async fn forward(req: &Request, upstream: &str, fault: Option<&Fault>) -> Option<Vec<u8>> {
    let work = async {
        let mut up = TcpStream::connect(upstream).await.ok()?;
        let _ = up.set_nodelay(true);
        let mut head = String::new();
        for (i, line) in req.head.split("\r\n").enumerate() {
            if line.is_empty() {
                continue;
            }
            if i > 0 && line.to_ascii_lowercase().starts_with("connection:") {
                continue;
            }
            head.push_str(line);
            head.push_str("\r\n");
        }
        head.push_str("Connection: close\r\n\r\n");
        up.write_all(head.as_bytes()).await.ok()?;
        up.write_all(&req.body).await.ok()?;
        let mut raw = Vec::new();
        up.read_to_end(&mut raw).await.ok()?;
        Some(raw)
    };
    let raw = tokio::time::timeout(IO_LIMIT, work).await.ok()??;
    let split = find(&raw, b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut body = raw[split + 4..].to_vec();
    let mut lines: Vec<String> = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(str::to_string)
        .collect();
    let has_length = lines.iter().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("content-length:") || l.starts_with("transfer-encoding:")
    });
    if !has_length && req.method != "HEAD" {
        lines.push(format!("Content-Length: {}", body.len()));
    }
    match fault {
        Some(Fault::WrongDigestHeader) => {
            lines.retain(|l| !l.to_ascii_lowercase().starts_with("docker-content-digest:"));
            lines.push(format!("Docker-Content-Digest: {WRONG_DIGEST}"));
        }
        Some(Fault::CorruptBody) if !body.is_empty() => {
            let mid = body.len() / 2;
            body[mid] ^= 0x01;
        }
        _ => {}
    }
    let mut out = lines.join("\r\n").into_bytes();
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(&body);
    Some(out)
}

/// Read one request (head and `Content-Length` body) from `stream`, keeping leftovers in `buf`.
/// `None` at EOF, on a TLS ClientHello (plain HTTP only) or on a head over 256 KiB.
pub async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Request> {
    let mut chunk = [0u8; 8192];
    let split = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i;
        }
        // A TLS ClientHello (a client probing for HTTPS): plain HTTP only here.
        if buf.first() == Some(&0x16) {
            return None;
        }
        if buf.len() > 256 * 1024 {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let length: usize = head
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    buf.drain(..split + 4);
    while buf.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body: Vec<u8> = buf.drain(..length).collect();
    let mut first = head.split("\r\n").next()?.split_whitespace();
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    Some(Request {
        method,
        path,
        head,
        body,
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
