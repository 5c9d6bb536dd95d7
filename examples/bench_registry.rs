//! Benchmark environment for `scripts/bench-verify`: a real registry holding
//! COUNT distinct images and a fault proxy in front of it adding LATENCY_MS to
//! every request. Writes `refs-direct.txt` and `refs-proxy.txt` (one pinned
//! reference a line) into OUT_DIR, prints `ready <registry> <proxy>`, and
//! serves until OUT_DIR/stop appears (at most two hours), then stops the
//! registry. With a fourth argument `sign` (for `scripts/bench-signature`),
//! every image is also signed by the tests' independent cosign signer
//! (P-256, tag scheme) and the public key written to OUT_DIR/cosign.pub.
//! Reuses the integration-test harness.

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::io::Write;
use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let out = std::path::PathBuf::from(
        args.next()
            .expect("usage: bench_registry COUNT OUT_DIR [LATENCY_MS]"),
    );
    let latency: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let reg = support::registry::Registry::start();
    let images = reg.push_many("bench/app", count, 8);
    if args.next().as_deref() == Some("sign") {
        let signer = support::cosign::KeySigner::new(&out.join("key"), "p256");
        let jobs: Vec<_> = images
            .iter()
            .map(|i| support::cosign::Job::new(&reg.reference("bench/app"), &i.digest))
            .collect();
        for (img, signed) in images.iter().zip(signer.sign(&jobs)) {
            support::cosign::push_tag_scheme(&reg, "bench/app", &img.digest, &[signed]);
        }
        std::fs::copy(signer.public_key(), out.join("cosign.pub")).expect("cosign.pub");
    }
    let proxy = support::proxy::Proxy::start(&reg.host);
    proxy.set_latency(Duration::from_millis(latency));
    for (file, host) in [
        ("refs-direct.txt", &reg.host),
        ("refs-proxy.txt", &proxy.host),
    ] {
        let mut f = std::fs::File::create(out.join(file)).expect("refs file");
        for img in &images {
            writeln!(f, "{host}/bench/app@{}", img.digest).unwrap();
        }
    }
    println!("ready {} {}", reg.host, proxy.host);
    std::io::stdout().flush().unwrap();
    // Serve until the script asks us to stop; dropping `reg` kills the registry.
    let stop = out.join("stop");
    let deadline = std::time::Instant::now() + Duration::from_secs(7200);
    while !stop.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(proxy);
    drop(reg);
}
