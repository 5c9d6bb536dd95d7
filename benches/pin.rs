//! `cargo bench --bench pin`: pin a generated values file of 50,000 lines
//! holding 2,000 images, then one ten times that size, and print time, peak
//! heap and the scaling ratio. Targets (issue 2): under 100 ms and 50 MB for
//! the first; 10× the input at most 12× the time.
//!
//! Peak memory is the heap high-water mark seen by a counting global
//! allocator around parse + scan + match + splice (the input text included),
//! taken in a run of its own: the timed runs leave counting off, so they time
//! pin and not the bookkeeping (chartpin itself uses the plain system allocator).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use chartpin::manifest::{DigestManifest, EntryName, ManifestEntry, Origin};
use chartpin::pin::{PinOptions, pin};
use chartpin::reference::{Digest, ImageRef};
use chartpin::values::ValuesFile;

struct Counting;

// Signed: a block allocated before counting began may be freed during it.
static CURRENT: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);
/// Whether the allocator counts; on only for the run that measures the peak.
static COUNTING: AtomicBool = AtomicBool::new(false);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() && COUNTING.load(Ordering::Relaxed) {
            let size = layout.size() as isize;
            let now = CURRENT.fetch_add(size, Ordering::Relaxed) + size;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        if COUNTING.load(Ordering::Relaxed) {
            CURRENT.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// A values file of `images` image blocks, 25 lines each, in four conventions.
fn generate(images: usize) -> (String, DigestManifest) {
    let mut text = String::with_capacity(images * 700);
    let mut entries = Vec::with_capacity(images);
    for i in 0..images {
        let repo = format!("team{}/service-{i}", i % 37);
        text.push_str(&format!(
            "# -- Service {i}: configuration modelled on a typical chart section\n\
             service{i}:\n\
             \x20 enabled: true\n\
             \x20 replicaCount: {}\n\
             \x20 # -- image to run\n",
            i % 5 + 1
        ));
        match i % 4 {
            0 => text.push_str(&format!(
                "  image:\n    registry: registry.example.com\n    repository: {repo}\n    tag: \"v1.{i}.0\"\n    digest: \"\"\n    pullPolicy: IfNotPresent\n"
            )),
            1 => text.push_str(&format!(
                "  image:\n    registry: registry.example.com\n    repository: {repo}\n    tag: v1.{i}.0\n    sha: \"\"\n    pullPolicy: IfNotPresent\n"
            )),
            2 => text.push_str(&format!(
                "  image:\n    repository: registry.example.com/{repo}\n    tag: 'v1.{i}.0'\n    # no digest field: tag@digest is written\n    pullPolicy: IfNotPresent\n    extra: x\n"
            )),
            _ => text.push_str(&format!(
                "  image: registry.example.com/{repo}:v1.{i}.0\n  sidecar:\n    enabled: false\n    port: 8080\n    # -- comment é ✓\n    name: side\n"
            )),
        }
        text.push_str(&format!(
            "  resources:\n    limits:\n      cpu: 100m\n      memory: 128Mi\n    requests:\n      cpu: 50m\n      memory: 64Mi\n  nodeSelector: {{}}\n  tolerations: []\n  podAnnotations: {{}}\n  annotations:\n    example.com/owner: \"team-{}\"\n  podLabels: {{app: service-{i}}}\n\n",
            i % 37
        ));
        let hex = format!("{:064x}", i as u128 * 0x9e37_79b9_7f4a_7c15 + 1);
        entries.push(ManifestEntry {
            name: EntryName::Full(
                ImageRef::parse(&format!("registry.example.com/{repo}")).unwrap(),
            ),
            tag: Some(format!("v1.{i}.0")),
            digest: Digest::parse(&format!("sha256:{hex}")).unwrap(),
            origin: Origin::file("bench"),
        });
    }
    (
        text,
        DigestManifest {
            entries,
            ..DigestManifest::default()
        },
    )
}

/// Parse, scan, match and splice once; returns the pinned text's length.
fn run(text: &str, manifest: &DigestManifest) -> usize {
    let vf = ValuesFile::parse("values.yaml", text).expect("generated YAML parses");
    let out = pin(&[vf], manifest, &PinOptions::default()).expect("pins");
    assert!(out.unmatched_entries.is_empty());
    out.files[0].new_text.len()
}

/// Best of `n` runs, and the heap peak of one run above the baseline.
fn measure(text: &str, manifest: &DigestManifest, n: usize) -> (Duration, usize) {
    // Everything this run allocates is freed by its end, so counting from
    // zero sees exactly its own heap (what was allocated before is not counted).
    CURRENT.store(0, Ordering::Relaxed);
    PEAK.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    black_box(run(text, manifest));
    COUNTING.store(false, Ordering::Relaxed);
    let peak = PEAK.load(Ordering::Relaxed).max(0) as usize + text.len();
    let mut best = Duration::MAX;
    for _ in 0..n {
        let t = Instant::now();
        black_box(run(black_box(text), manifest));
        best = best.min(t.elapsed());
    }
    (best, peak)
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: keep it quick then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (text, manifest) = generate(2_000);
    let lines = text.lines().count();
    let runs = if quick { 1 } else { 10 };
    let (t1, m1) = measure(&text, &manifest, runs);
    println!(
        "pin: {lines} lines, {} images: {:.1} ms (best of {runs}), peak heap {:.1} MB",
        manifest.entries.len(),
        t1.as_secs_f64() * 1e3,
        m1 as f64 / 1e6
    );
    if quick {
        return;
    }
    let (text10, manifest10) = generate(20_000);
    let lines10 = text10.lines().count();
    let (t10, m10) = measure(&text10, &manifest10, 3);
    println!(
        "pin: {lines10} lines, {} images: {:.1} ms (best of 3), peak heap {:.1} MB",
        manifest10.entries.len(),
        t10.as_secs_f64() * 1e3,
        m10 as f64 / 1e6
    );
    println!(
        "scaling: 10x input took {:.2}x the time (target <= 12x)",
        t10.as_secs_f64() / t1.as_secs_f64()
    );
}
