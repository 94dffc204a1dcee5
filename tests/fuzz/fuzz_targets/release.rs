//! A `Release` file (the repository format's Release: one deb822
//! paragraph with dates and a SHA256 list) as `repo::release` reads it
//! once its signature is checked, and the lookups made on the result.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lunforge::repo::release::{parse_date, Release};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for line in text.lines().take(64) {
        let _ = parse_date(line);
    }
    let Ok(release) = Release::parse(text) else {
        return;
    };
    let _ = release.name();
    let _ = release.check_valid_until(0);
    let _ = release.check_valid_until(i64::MAX);
    let _ = release.entry("main/binary-amd64/Packages.xz");
    for path in release.files.keys().take(64) {
        assert!(release.entry(path).is_ok(), "listed entry {path:?} found");
    }
});
