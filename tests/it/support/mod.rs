//! Shared test support: real servers started by the tests themselves.
//!
//! - [`registry`]: Debian's `docker-registry` (CNCF distribution 2.8) on a free
//!   loopback port, open or with htpasswd / token auth, plain or TLS; image pushes.
//! - [`token`]: a small token issuer (ES256 JWTs with an `access` claim) for
//!   the registry's `auth.token` mode.
//! - [`proxy`]: a fault-injecting HTTP proxy in front of a registry.
//! - [`hostile`]: small scripted HTTP servers that redirect, challenge, hang
//!   and record every request they receive (headers included).
//! - [`helm`]: the real `helm` binary, found on PATH or in `.tools/bin`.
//! - [`cli`]: [`cli::chartpin`], the one way every test module runs the
//!   chartpin binary (clean HOME, no credentials or GitHub variables from the
//!   machine, plain output), its output captured; readers of its JSON.
//!
//! Every server is bounded in time and dies on `Drop`. A missing tool fails
//! the test with a message naming `scripts/install-deps`; nothing is skipped.

#![allow(dead_code)]

// Only the test binary has the chartpin binary to run (the bench example shares this module).
#[cfg(test)]
pub mod cli;
pub mod cosign;
pub mod helm;
pub mod hostile;
pub mod proxy;
pub mod registry;
pub mod token;

use std::path::PathBuf;

/// The absolute path of a tool the tests need, or a panic naming the install script.
pub fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain([PathBuf::from("/usr/bin")]) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "`{name}` is not installed; run scripts/install-deps (it installs every tool the tests need)"
    )
}

/// Run a tool to completion, panicking with its stderr when it fails.
pub fn run_tool(name: &str, args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new(tool(name))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
    assert!(
        out.status.success(),
        "{name} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("local addr")
        .port()
}

/// A small multi-threaded runtime for servers and pushes run from sync tests.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}
