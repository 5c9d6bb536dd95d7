//! Small hostile HTTP servers on 127.0.0.1 that record what they receive.
//!
//! A real registry never redirects to a stranger, names a token realm on
//! another host, answers HEAD with 405 or never answers at all; these do,
//! so the tests can check what chartpin sends where. Each server answers
//! every request with a [`Reply`] chosen by the test's handler (plain
//! HTTP/1.1, keep-alive, `Content-Length` bodies) and keeps every request
//! it saw: method, target and headers, `Authorization` included, which is
//! the point. A TLS ClientHello (chartpin's HTTPS probe of loopback hosts)
//! is closed unanswered and not recorded. [`Hostile::silent`] accepts
//! connections and never answers. Servers stop on drop; every read is
//! bounded in time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::proxy::read_request;

/// One request a hostile server received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Header names in lowercase, values as sent.
    pub headers: Vec<(String, String)>,
}

impl Seen {
    /// The value of header `name` (lowercase), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `Authorization` header, if sent.
    pub fn authorization(&self) -> Option<&str> {
        self.header("authorization")
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// What a hostile server answers.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// `status` with no body.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// 200 with `body`.
    pub fn ok(body: &[u8]) -> Reply {
        Reply {
            body: body.to_vec(),
            ..Reply::status(200)
        }
    }

    /// A redirect (`status` 301/302/303/307/308) to `location`.
    pub fn redirect(status: u16, location: &str) -> Reply {
        Reply::status(status).with("Location", location)
    }

    /// 401 with this `WWW-Authenticate` challenge.
    pub fn challenge(www_authenticate: &str) -> Reply {
        Reply::status(401).with("WWW-Authenticate", www_authenticate)
    }

    /// Add a header.
    pub fn with(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

/// A running hostile server.
pub struct Hostile {
    runtime: Option<tokio::runtime::Runtime>,
    /// `127.0.0.1:PORT`
    pub host: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<Mutex<usize>>,
}

const IO_LIMIT: Duration = Duration::from_secs(60);

impl Hostile {
    /// A server answering every request with `handler`'s reply.
    pub fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Hostile {
        Self::spawn(Some(Arc::new(handler)))
    }

    /// A server that accepts connections, reads, and never answers.
    pub fn silent() -> Hostile {
        Self::spawn(None)
    }

    fn spawn(handler: Option<Arc<Handler>>) -> Hostile {
        let runtime = super::runtime();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind hostile server");
        let host = listener.local_addr().expect("hostile addr").to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(0));
        let (log, count) = (seen.clone(), connections.clone());
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                *count.lock().unwrap() += 1;
                let (log, handler) = (log.clone(), handler.clone());
                tokio::spawn(async move {
                    match handler {
                        Some(h) => serve(stream, &*h, &log).await,
                        // Hold the connection open, unanswered, until the server stops.
                        None => {
                            let _keep = stream;
                            std::future::pending::<()>().await;
                        }
                    }
                });
            }
        });
        Hostile {
            runtime: Some(runtime),
            host,
            seen,
            connections,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.host)
    }

    /// Every request received so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Connections accepted so far (TLS probes included).
    pub fn connections(&self) -> usize {
        *self.connections.lock().unwrap()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

async fn serve(mut stream: TcpStream, handler: &Handler, log: &Mutex<Vec<Seen>>) {
    let mut buf = Vec::new();
    loop {
        let Ok(Some(req)) =
            tokio::time::timeout(IO_LIMIT, read_request(&mut stream, &mut buf)).await
        else {
            return;
        };
        let headers = req
            .head
            .split("\r\n")
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let seen = Seen {
            method: req.method.clone(),
            target: req.path.clone(),
            headers,
        };
        log.lock().unwrap().push(seen.clone());
        let reply = handler(&seen);
        let mut out = format!(
            "HTTP/1.1 {} Hostile\r\nContent-Length: {}\r\n",
            reply.status,
            reply.body.len()
        );
        for (k, v) in &reply.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if req.method != "HEAD" {
            bytes.extend_from_slice(&reply.body);
        }
        if stream.write_all(&bytes).await.is_err() {
            return;
        }
    }
}
