//! A whole `.deb` as `unpack::read_deb_from` reads it (deb(5)): the ar
//! container, dpkg-deb's member order, the gzip, xz and zstd decoders
//! and the two tar members, within the per-package limits against
//! decompression bombs (smaller here than the defaults, so that a bomb
//! shows as an error rather than as the fuzzer's memory limit).

#![no_main]

use libfuzzer_sys::fuzz_target;
use lunforge::tree::Spool;
use lunforge::unpack::{read_deb_from, Limits};

fuzz_target!(|data: &[u8]| {
    let Ok(spool) = Spool::new() else { return };
    let limits = Limits {
        max_bytes: 64 << 20,
        max_entries: 10_000,
    };
    let _ = read_deb_from(data, "fuzz 1.0", &spool, &limits);
});
