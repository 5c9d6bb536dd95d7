//! Digest manifest readers: every format forced, and detection, on any input.
//! No reader may panic; what one accepts must hold only valid digests and
//! consistent origins.
#![no_main]

use std::path::Path;

use chartpin::manifest::{ManifestFormat, parse_manifest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the format (or detection) and a file name hint.
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let formats = ManifestFormat::ALL;
    let format = formats.get(selector as usize % (formats.len() + 1)).copied();
    let name = match selector / 16 % 3 {
        0 => "digests.txt",
        1 => "osm_image_digest_v1.0.0.txt",
        _ => "manifest.json",
    };
    if let Ok(m) = parse_manifest(Path::new(name), text, format) {
        let lines = text.lines().count().max(1);
        for e in &m.entries {
            assert!(e.origin.line >= 1 && e.origin.line <= lines + 1, "{:?}", e.origin);
            assert_eq!(e.digest.to_string().parse::<chartpin::reference::Digest>().as_ref(), Ok(&e.digest));
        }
        if let Ok(out) = m.to_ref_lines() {
            let again = parse_manifest(Path::new("refs.txt"), &out, Some(ManifestFormat::RefLines))
                .expect("written ref lines read back");
            assert_eq!(again.entries.len(), m.entries.len());
        }
    }
});
