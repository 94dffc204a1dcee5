//! The tar members of a `.deb` (`control.tar` and `data.tar`, POSIX
//! ustar with GNU and pax extensions, deb(5)) as `unpack` reads them:
//! the input is one member, wrapped in a valid uncompressed `.deb`
//! whose other member is fixed. The first byte picks which member the
//! rest is.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lunforge::tree::Spool;
use lunforge::unpack::{read_deb_from, Limits};

/// One `ar` member: header (ar(5), common variant) and padded data.
fn member(out: &mut Vec<u8>, name: &str, data: &[u8]) {
    let header = format!(
        "{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
        0,
        0,
        0,
        "100644",
        data.len()
    );
    assert_eq!(header.len(), 60);
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(b'\n');
    }
}

/// A ustar archive of one file `./name` holding `data`.
fn tar_of(name: &str, data: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    let put = |h: &mut [u8; 512], at: usize, text: &[u8]| {
        h[at..at + text.len()].copy_from_slice(text);
    };
    put(&mut header, 0x000, name.as_bytes());
    put(&mut header, 0x064, b"0000644\0");
    put(&mut header, 0x06c, b"0000000\0");
    put(&mut header, 0x074, b"0000000\0");
    put(
        &mut header,
        0x07c,
        format!("{:011o}\0", data.len()).as_bytes(),
    );
    put(&mut header, 0x088, b"00000000000\0");
    put(&mut header, 0x094, b"        ");
    put(&mut header, 0x09c, b"0");
    put(&mut header, 0x101, b"ustar\x0000");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    put(&mut header, 0x094, format!("{sum:06o}\0 ").as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, tar)) = data.split_first() else {
        return;
    };
    let control = tar_of(
        "./control",
        b"Package: fuzz\nVersion: 1.0\nArchitecture: all\n",
    );
    let empty_data = vec![0u8; 1024];
    let (control, data_tar) = if which & 1 == 0 {
        (control.as_slice(), tar)
    } else {
        (tar, empty_data.as_slice())
    };
    let mut deb = b"!<arch>\n".to_vec();
    member(&mut deb, "debian-binary", b"2.0\n");
    member(&mut deb, "control.tar", control);
    member(&mut deb, "data.tar", data_tar);
    let Ok(spool) = Spool::new() else { return };
    let limits = Limits {
        max_bytes: 64 << 20,
        max_entries: 10_000,
    };
    let _ = read_deb_from(deb.as_slice(), "fuzz 1.0", &spool, &limits);
});
