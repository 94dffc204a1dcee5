//! The framing of a clearsigned `InRelease` (RFC 9580 §7: the armor
//! header lines, dash-escaping, the signature block), as
//! `repo::inrelease` checks it before gpgv sees the file and as
//! `--insecure-unsigned` reads it, then the Release paragraph inside.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lunforge::repo::inrelease::strip_clearsign;
use lunforge::repo::release::Release;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = strip_clearsign(data) else {
        return;
    };
    let _ = Release::parse(&text);
});
