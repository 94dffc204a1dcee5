//! Test support: `.deb` files built in memory, hostile ones included.
//! Tar headers are written field by field so that names the `tar`
//! crate's builder would refuse (`..`, absolute) can be made.

#![allow(clippy::arithmetic_side_effects, clippy::as_conversions)]

use std::io::Write;

use tar::{EntryType, Header};

use super::ar::{ArHeader, MAGIC};
use super::decompress::Compression;

/// The mtime of every test entry.
pub(crate) const MTIME: u64 = 1_700_000_000;

/// A control file with the required fields.
pub(crate) const CONTROL: &str = "Package: hello\nVersion: 1.0-1\n\
Architecture: amd64\nMaintainer: Test <test@example.invalid>\n\
Description: a test package\n";

/// `data` compressed with `c`.
pub(crate) fn compress(c: Compression, data: &[u8]) -> Vec<u8> {
    match c {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::default(),
            );
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Xz => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Zstd => {
            let mut e = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
            e.include_checksum(true).unwrap();
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
    }
}

/// The suffix of a member compressed with `c`.
pub(crate) fn suffix(c: Compression) -> &'static str {
    match c {
        Compression::None => "",
        Compression::Gzip => ".gz",
        Compression::Xz => ".xz",
        Compression::Zstd => ".zst",
    }
}

/// Every compression.
pub(crate) const ALL: [Compression; 4] = [
    Compression::None,
    Compression::Gzip,
    Compression::Xz,
    Compression::Zstd,
];

/// An ar archive of `members`, as dpkg-deb writes it.
pub(crate) fn ar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut v = MAGIC.to_vec();
    for (name, data) in members {
        let h = ArHeader {
            name: name.to_string(),
            date: MTIME,
            uid: 0,
            gid: 0,
            mode: 0o100644,
            size: data.len() as u64,
        };
        v.extend_from_slice(&h.encode());
        v.extend_from_slice(data);
        if data.len() % 2 == 1 {
            v.push(b'\n');
        }
    }
    v
}

/// A `.deb` of the two tar archives, both compressed with `c`.
pub(crate) fn deb(
    control_tar: &[u8],
    data_tar: &[u8],
    c: Compression,
) -> Vec<u8> {
    let control_name = format!("control.tar{}", suffix(c));
    let data_name = format!("data.tar{}", suffix(c));
    ar(&[
        ("debian-binary", b"2.0\n"),
        (&control_name, &compress(c, control_tar)),
        (&data_name, &compress(c, data_tar)),
    ])
}

/// A tar archive written entry by entry.
pub(crate) struct Tar(tar::Builder<Vec<u8>>);

impl Tar {
    pub(crate) fn new() -> Tar {
        Tar(tar::Builder::new(Vec::new()))
    }

    /// An entry with a raw `typeflag` and raw `name` and `link` bytes.
    pub(crate) fn raw(
        &mut self,
        name: &[u8],
        type_flag: u8,
        mode: u32,
        data: &[u8],
        link: &[u8],
    ) -> &mut Tar {
        let mut h = Header::new_gnu();
        {
            let g = h.as_gnu_mut().unwrap();
            g.name[..name.len()].copy_from_slice(name);
            g.linkname[..link.len()].copy_from_slice(link);
        }
        h.as_old_mut().linkflag = [type_flag];
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(MTIME);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }

    pub(crate) fn dir(&mut self, name: &str, mode: u32) -> &mut Tar {
        self.raw(
            name.as_bytes(),
            EntryType::Directory.as_byte(),
            mode,
            b"",
            b"",
        )
    }

    pub(crate) fn file(
        &mut self,
        name: &str,
        mode: u32,
        data: &[u8],
    ) -> &mut Tar {
        self.raw(
            name.as_bytes(),
            EntryType::Regular.as_byte(),
            mode,
            data,
            b"",
        )
    }

    pub(crate) fn symlink(&mut self, name: &str, target: &str) -> &mut Tar {
        self.raw(
            name.as_bytes(),
            EntryType::Symlink.as_byte(),
            0o777,
            b"",
            target.as_bytes(),
        )
    }

    pub(crate) fn hardlink(&mut self, name: &str, target: &str) -> &mut Tar {
        self.raw(
            name.as_bytes(),
            EntryType::Link.as_byte(),
            0o644,
            b"",
            target.as_bytes(),
        )
    }

    /// A file preceded by a pax header with `records`.
    pub(crate) fn pax_file(
        &mut self,
        name: &str,
        data: &[u8],
        records: &[(&str, &[u8])],
    ) -> &mut Tar {
        self.0
            .append_pax_extensions(records.iter().map(|(k, v)| (*k, *v)))
            .unwrap();
        self.file(name, 0o644, data)
    }

    /// A GNU sparse file of `real_size` bytes, all a hole but the last
    /// byte: the `tar` crate would read it as that many zeros.
    pub(crate) fn sparse(&mut self, name: &str, real_size: u64) -> &mut Tar {
        let mut h = Header::new_gnu();
        {
            let g = h.as_gnu_mut().unwrap();
            g.name[..name.len()].copy_from_slice(name.as_bytes());
            g.set_real_size(real_size);
            g.sparse[0].set_offset(real_size - 1);
            g.sparse[0].set_length(1);
        }
        h.set_entry_type(EntryType::GNUSparse);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(MTIME);
        h.set_size(1);
        h.set_cksum();
        self.0.append(&h, &b"!"[..]).unwrap();
        self
    }

    /// A file whose name is long enough for a GNU long-name entry.
    pub(crate) fn long_file(&mut self, name: &str, data: &[u8]) -> &mut Tar {
        let mut h = Header::new_gnu();
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(MTIME);
        h.set_size(data.len() as u64);
        h.set_entry_type(EntryType::Regular);
        self.0.append_data(&mut h, name, data).unwrap();
        self
    }

    pub(crate) fn finish(&mut self) -> Vec<u8> {
        let b = std::mem::replace(&mut self.0, tar::Builder::new(Vec::new()));
        b.into_inner().unwrap()
    }
}

/// A control archive with `control` and the usual other members.
pub(crate) fn control_tar(control: &str) -> Vec<u8> {
    Tar::new()
        .dir("./", 0o755)
        .file("./control", 0o644, control.as_bytes())
        .file(
            "./md5sums",
            0o644,
            b"d41d8cd98f00b204e9800998ecf8427e  usr/bin/hello\n",
        )
        .file("./postinst", 0o755, b"#!/bin/sh\nset -e\n")
        .finish()
}

/// A data archive with one entry of each supported kind.
pub(crate) fn sample_data() -> Vec<u8> {
    let big: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
    Tar::new()
        .dir("./", 0o755)
        .dir("./usr/", 0o755)
        .dir("./usr/bin/", 0o755)
        .file("./usr/bin/hello", 0o755, b"#!/bin/sh\necho hello\n")
        .file("./usr/bin/su", 0o4755, b"setuid")
        .symlink("./usr/bin/hi", "hello")
        .hardlink("./usr/bin/hello2", "./usr/bin/hello")
        .raw(b"./usr/fifo", EntryType::Fifo.as_byte(), 0o600, b"", b"")
        .file("./usr/big", 0o644, &big)
        .pax_file(
            "./usr/bin/ping",
            b"ping",
            &[("SCHILY.xattr.security.capability", b"\x01\x00\x00\x02")],
        )
        .finish()
}

/// A fixed-seed generator (splitmix64), so mutation runs reproduce.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One random mutation of `input`: bit flips, inserted, deleted and
/// duplicated bytes, truncation.
pub(crate) fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(3) {
        let at = rng.below(v.len() + 1);
        match rng.below(6) {
            0 | 1 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] ^= 1 << rng.below(8);
            }
            2 => v.truncate(at),
            3 if at < v.len() => {
                let end = (at + 1 + rng.below(16)).min(v.len());
                v.drain(at..end);
            }
            4 => {
                let end = (at + rng.below(64)).min(v.len());
                let chunk = v[at..end].to_vec();
                let to = rng.below(v.len() + 1);
                v.splice(to..to, chunk);
            }
            _ => v.insert(at, rng.next() as u8),
        }
    }
    v
}
