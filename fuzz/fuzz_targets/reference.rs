//! Image references and digests: never panic, and what parses re-parses to
//! the same value from its written and canonical forms.
#![no_main]

use chartpin::reference::{Digest, ImageRef, NAME_TOTAL_MAX};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = ImageRef::parse(s) {
        assert_eq!(r.as_str(), s, "the written form is kept");
        // The 255-character limit holds for the normalised name too, so the
        // canonical form always re-parses.
        assert!(r.name().len() <= NAME_TOTAL_MAX, "normalised name within the limit");
        let again = ImageRef::parse(&r.canonical()).expect("canonical form re-parses");
        assert_eq!(again.name(), r.name());
        assert_eq!(again.tag(), r.tag());
        assert_eq!(again.digest(), r.digest());
        let _ = (r.registry(), r.repository(), r.api_host(), r.written_name());
        if let Some(d) = r.digest() {
            assert_eq!(r.with_digest(d).as_str(), r.as_str());
        }
    }
    if let Ok(d) = Digest::parse(s) {
        assert_eq!(d.to_string(), s, "a strict digest prints as written");
        let _ = d.short();
    }
    if let Ok(d) = Digest::parse_prefixed_or_bare(s) {
        assert!(d.to_string().ends_with(d.hex()));
    }
});
