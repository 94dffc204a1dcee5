//! deb822 paragraphs as a package's `control` file or dpkg's `status`
//! hold them (Debian Policy §5.1): every field, its words, the
//! `Version` (dpkg's algorithm) and the relation fields
//! (Policy §7.1) parsed as the resolver parses them.
//!
//! Checks as well that version comparison is a total order on what
//! parses: `a.cmp(b)` is the reverse of `b.cmp(a)`, and a version
//! equals itself and its own printed form.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lunforge::repo::deb822::{self, Paragraphs};
use lunforge::repo::version::Version;
use lunforge::resolve::relation;

/// Fields read with `parse_dependencies`.
const RELATIONS: [&str; 8] = [
    "Depends",
    "Pre-Depends",
    "Recommends",
    "Suggests",
    "Conflicts",
    "Breaks",
    "Replaces",
    "Enhances",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut versions: Vec<Version> = Vec::new();
    for para in Paragraphs::new(text) {
        let Ok(para) = para else { break };
        for field in para.fields() {
            let _ = deb822::words(field.value).count();
        }
        if let Some(Ok(v)) = para.get("Version").map(Version::parse) {
            let again = Version::parse(&v.to_string())
                .expect("a printed version parses");
            assert_eq!(again, v, "a version equals its printed form");
            versions.push(v);
        }
        for name in RELATIONS {
            if let Some(value) = para.get(name) {
                let _ = relation::parse_dependencies(value, "amd64");
            }
        }
        if let Some(value) = para.get("Provides") {
            let _ = relation::parse_provides(value);
        }
    }
    for a in &versions {
        for b in &versions {
            assert_eq!(a.cmp(b), b.cmp(a).reverse(), "{a} against {b}");
        }
    }
});
