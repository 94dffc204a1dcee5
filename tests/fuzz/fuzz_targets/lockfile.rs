//! A lockfile (`resolve::lockfile::Lock::parse`: TOML, checked for its
//! format version and relative pool paths), and what `lunforge lock`
//! writes back from it: a parsed lock written out parses again to the
//! same lock.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use lunforge::resolve::lockfile::Lock;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.lock");
    let Ok(lock) = Lock::parse(path, text) else {
        return;
    };
    let again = lock.to_text();
    let reread = Lock::parse(path, &again).expect("a written lock parses");
    assert_eq!(reread.to_text(), again, "the lock text is stable");
});
