//! The `ar` container of a `.deb` (deb(5), the common variant of
//! ar(5)) read by `unpack::ar::ArReader`: every member header, and
//! every member's data read to its end (or the archive's).

#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use lunforge::unpack::ar::ArReader;

fuzz_target!(|data: &[u8]| {
    let Ok(mut ar) = ArReader::new(data) else {
        return;
    };
    let mut buf = [0u8; 4096];
    // Every member header takes 60 bytes, so the loop ends.
    while let Ok(Some(header)) = ar.next_member() {
        assert!(!header.name.is_empty(), "an empty member name");
        let mut left = header.size;
        let mut member = ar.member();
        loop {
            match member.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let n = u64::try_from(n).expect("a read fits a u64");
                    left = left
                        .checked_sub(n)
                        .expect("a member reads no more than its size");
                }
            }
        }
    }
});
