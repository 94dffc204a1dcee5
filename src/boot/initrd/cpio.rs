//! The cpio "newc" archive format (`070701`), as the kernel unpacks an
//! initramfs.
//!
//! Spec: the kernel's "initramfs buffer format"
//! (<https://www.kernel.org/doc/html/latest/driver-api/early-userspace/buffer-format.html>)
//! and cpio(5). Each entry is a 110-byte ASCII header (the magic and 13
//! fields of 8 hex digits), the NUL-terminated name, padding to a 4-byte
//! boundary, the data, padding to a 4-byte boundary. The archive ends
//! with an entry named `TRAILER!!!`.
//!
//! Hand-written rather than taken from a crate: the writer is 100 lines,
//! and it must be deterministic by construction (inode numbers assigned
//! in order, device numbers of the archive zero, owner and time from the
//! caller), which a general archiver does not promise. The decoder is
//! for tests.

#![deny(clippy::arithmetic_side_effects, clippy::as_conversions)]

use std::io::{self, Write};

/// The magic of a newc header (no checksum).
pub const NEWC_MAGIC: &[u8; 6] = b"070701";
/// The size of a newc header.
pub const HEADER_LEN: usize = 110;
/// The name of the last entry.
pub const TRAILER: &str = "TRAILER!!!";

/// A newc header: the fields in the order of the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NewcHeader {
    /// `c_ino`.
    pub ino: u32,
    /// `c_mode`: file type and permission bits.
    pub mode: u32,
    /// `c_uid`.
    pub uid: u32,
    /// `c_gid`.
    pub gid: u32,
    /// `c_nlink`.
    pub nlink: u32,
    /// `c_mtime`, seconds since the epoch.
    pub mtime: u32,
    /// `c_filesize`: bytes of data after the name.
    pub filesize: u32,
    /// `c_devmajor`: the device holding the file (zero here).
    pub devmajor: u32,
    /// `c_devminor`.
    pub devminor: u32,
    /// `c_rdevmajor`: a device node's major number.
    pub rdevmajor: u32,
    /// `c_rdevminor`.
    pub rdevminor: u32,
    /// `c_namesize`: the name's length including its NUL.
    pub namesize: u32,
    /// `c_check`: zero for `070701`.
    pub check: u32,
}

impl NewcHeader {
    /// The 110 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0x00..0x06].copy_from_slice(NEWC_MAGIC);
        let fields = self.fields();
        for (i, v) in fields.iter().enumerate() {
            // 13 fields of 8 bytes after the 6-byte magic: at most 110.
            let off = 6usize.saturating_add(i.saturating_mul(8));
            let hex = format!("{v:08X}");
            b[off..off.saturating_add(8)].copy_from_slice(hex.as_bytes());
        }
        b
    }

    /// Parse 110 header bytes.
    pub fn decode(b: &[u8]) -> Result<NewcHeader> {
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated { offset: 0 });
        }
        if &b[0x00..0x06] != NEWC_MAGIC {
            return Err(Error::BadMagic {
                found: b[0..6].escape_ascii().to_string(),
            });
        }
        let mut f = [0u32; 13];
        for (i, slot) in f.iter_mut().enumerate() {
            let off = 6usize.saturating_add(i.saturating_mul(8));
            let text = &b[off..off.saturating_add(8)];
            let s = std::str::from_utf8(text).ok();
            *slot = s
                .filter(|s| s.bytes().all(|c| c.is_ascii_hexdigit()))
                .and_then(|s| u32::from_str_radix(s, 16).ok())
                .ok_or_else(|| Error::BadField {
                    field: i,
                    found: text.escape_ascii().to_string(),
                })?;
        }
        Ok(NewcHeader {
            ino: f[0],
            mode: f[1],
            uid: f[2],
            gid: f[3],
            nlink: f[4],
            mtime: f[5],
            filesize: f[6],
            devmajor: f[7],
            devminor: f[8],
            rdevmajor: f[9],
            rdevminor: f[10],
            namesize: f[11],
            check: f[12],
        })
    }

    fn fields(&self) -> [u32; 13] {
        [
            self.ino,
            self.mode,
            self.uid,
            self.gid,
            self.nlink,
            self.mtime,
            self.filesize,
            self.devmajor,
            self.devminor,
            self.rdevmajor,
            self.rdevminor,
            self.namesize,
            self.check,
        ]
    }
}

/// Errors of the cpio writer and reader.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing the archive failed.
    #[error("writing the cpio archive: {0}")]
    Io(#[from] io::Error),
    /// A file too large for the 32-bit size field.
    #[error("{name}: {size} bytes do not fit a cpio newc entry (max 4 GiB)")]
    TooLarge {
        /// The entry.
        name: String,
        /// Its size.
        size: u64,
    },
    /// A name that is empty, absolute or holds a NUL.
    #[error("cpio entry name {0:?} is empty, absolute or contains a NUL")]
    BadName(String),
    /// The archive ends inside an entry.
    #[error("cpio archive truncated at offset {offset:#x}")]
    Truncated {
        /// Where the missing bytes start.
        offset: usize,
    },
    /// A header without the newc magic.
    #[error("cpio header magic is \"{found}\", expected \"070701\"")]
    BadMagic {
        /// What was there.
        found: String,
    },
    /// A header field that is not 8 hex digits.
    #[error("cpio header field {field} is \"{found}\", not 8 hex digits")]
    BadField {
        /// Index of the field after the magic (0 = `c_ino`).
        field: usize,
        /// What was there.
        found: String,
    },
    /// The archive has no trailer.
    #[error("cpio archive has no TRAILER!!! entry")]
    NoTrailer,
}

/// Result of cpio handling.
pub type Result<T> = std::result::Result<T, Error>;

/// What an entry is, with what the header needs of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryData<'a> {
    /// A directory.
    Dir,
    /// A regular file with its bytes.
    File(&'a [u8]),
    /// A symbolic link with its target.
    Symlink(&'a str),
    /// A character device.
    CharDev {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
}

/// Writes a newc archive: entries in the order given, inode numbers from
/// 1 upwards, then [`Writer::finish`] writes the trailer.
#[derive(Debug)]
pub struct Writer<W: Write> {
    out: W,
    next_ino: u32,
    written: u64,
}

impl<W: Write> Writer<W> {
    /// A writer into `out`.
    pub fn new(out: W) -> Writer<W> {
        Writer {
            out,
            next_ino: 1,
            written: 0,
        }
    }

    /// Add one entry: `name` relative (`bin/sh`, or `.` for the root),
    /// `perm` the permission bits, owned by root, at `mtime`.
    pub fn add(
        &mut self,
        name: &str,
        perm: u32,
        mtime: u32,
        data: &EntryData<'_>,
    ) -> Result<()> {
        if name.is_empty() || name.starts_with('/') || name.contains('\0') {
            return Err(Error::BadName(name.into()));
        }
        let (type_bits, body, rdev, nlink): (u32, &[u8], (u32, u32), u32) =
            match data {
                EntryData::Dir => (0o040000, &[], (0, 0), 2),
                EntryData::File(b) => (0o100000, b, (0, 0), 1),
                EntryData::Symlink(t) => (0o120000, t.as_bytes(), (0, 0), 1),
                EntryData::CharDev { major, minor } => {
                    (0o020000, &[], (*major, *minor), 1)
                }
            };
        let too_large = |size: usize| Error::TooLarge {
            name: name.into(),
            size: u64::try_from(size).unwrap_or(u64::MAX),
        };
        let filesize =
            u32::try_from(body.len()).map_err(|_| too_large(body.len()))?;
        let namesize = name
            .len()
            .checked_add(1)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| Error::BadName(name.into()))?;
        let h = NewcHeader {
            ino: self.next_ino,
            mode: type_bits | (perm & 0o7777),
            nlink,
            mtime,
            filesize,
            rdevmajor: rdev.0,
            rdevminor: rdev.1,
            namesize,
            ..NewcHeader::default()
        };
        self.next_ino = self.next_ino.saturating_add(1);
        self.emit(&h, name, body)
    }

    fn emit(&mut self, h: &NewcHeader, name: &str, body: &[u8]) -> Result<()> {
        self.put(&h.encode())?;
        self.put(name.as_bytes())?;
        self.put(&[0])?;
        self.pad()?;
        self.put(body)?;
        self.pad()
    }

    fn put(&mut self, b: &[u8]) -> Result<()> {
        self.out.write_all(b)?;
        let n = u64::try_from(b.len()).unwrap_or(u64::MAX);
        self.written = self.written.saturating_add(n);
        Ok(())
    }

    fn pad(&mut self) -> Result<()> {
        let rem = usize::try_from(self.written % 4).unwrap_or(0);
        let zeros = [0u8; 4];
        self.put(&zeros[..4usize.saturating_sub(rem) % 4])
    }

    /// Write the trailer and return the output.
    pub fn finish(mut self) -> Result<W> {
        let h = NewcHeader {
            nlink: 1,
            namesize: 11,
            ..NewcHeader::default()
        };
        self.emit(&h, TRAILER, &[])?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// One entry read back by [`decode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedEntry {
    /// The header.
    pub header: NewcHeader,
    /// The name.
    pub name: String,
    /// The data (a symlink's target for symlinks).
    pub data: Vec<u8>,
}

/// Read every entry of a newc archive up to its trailer (not included).
pub fn decode(archive: &[u8]) -> Result<Vec<DecodedEntry>> {
    let mut pos = 0usize;
    let mut out = Vec::new();
    let align = |p: usize| p.checked_add(3).map(|p| p & !3);
    loop {
        let end = pos.checked_add(HEADER_LEN);
        let hb = end
            .and_then(|e| archive.get(pos..e))
            .ok_or(Error::Truncated { offset: pos })?;
        let header = NewcHeader::decode(hb)?;
        let name_start = pos.saturating_add(HEADER_LEN);
        let name_len = usize::try_from(header.namesize)
            .map_err(|_| Error::Truncated { offset: name_start })?;
        let name_bytes = name_start
            .checked_add(name_len)
            .and_then(|e| archive.get(name_start..e))
            .ok_or(Error::Truncated { offset: name_start })?;
        let name = match name_bytes.split_last() {
            Some((0, n)) => String::from_utf8_lossy(n).into_owned(),
            _ => {
                return Err(Error::BadName(
                    String::from_utf8_lossy(name_bytes).into_owned(),
                ))
            }
        };
        let data_start = name_start
            .checked_add(name_len)
            .and_then(align)
            .ok_or(Error::Truncated { offset: name_start })?;
        let size = usize::try_from(header.filesize)
            .map_err(|_| Error::Truncated { offset: data_start })?;
        let data_end = data_start
            .checked_add(size)
            .filter(|e| *e <= archive.len())
            .ok_or(Error::Truncated { offset: data_start })?;
        if name == TRAILER {
            return Ok(out);
        }
        out.push(DecodedEntry {
            header,
            name,
            data: archive[data_start..data_end].to_vec(),
        });
        pos = align(data_end).ok_or(Error::NoTrailer)?;
        if pos >= archive.len() {
            return Err(Error::NoTrailer);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = Writer::new(Vec::new());
        w.add(".", 0o755, 7, &EntryData::Dir).unwrap();
        w.add("bin", 0o755, 7, &EntryData::Dir).unwrap();
        w.add("bin/busybox", 0o755, 7, &EntryData::File(b"ELF!x"))
            .unwrap();
        w.add("bin/sh", 0o777, 7, &EntryData::Symlink("busybox"))
            .unwrap();
        w.add(
            "dev/console",
            0o600,
            7,
            &EntryData::CharDev { major: 5, minor: 1 },
        )
        .unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn header_layout_follows_the_format() {
        let h = NewcHeader {
            ino: 1,
            mode: 0o100644,
            nlink: 1,
            mtime: 0x5F5E_1000,
            filesize: 3,
            rdevmajor: 5,
            namesize: 5,
            ..NewcHeader::default()
        };
        let b = h.encode();
        // Offsets from the kernel's buffer-format document.
        assert_eq!(&b[0x00..0x06], b"070701");
        assert_eq!(&b[0x06..0x0E], b"00000001");
        assert_eq!(&b[0x0E..0x16], b"000081A4");
        assert_eq!(&b[0x2E..0x36], b"5F5E1000");
        assert_eq!(&b[0x36..0x3E], b"00000003");
        assert_eq!(&b[0x4E..0x56], b"00000005");
        assert_eq!(&b[0x5E..0x66], b"00000005");
        assert_eq!(NewcHeader::decode(&b).unwrap(), h);
    }

    #[test]
    fn entries_are_aligned_and_read_back() {
        let a = sample();
        assert_eq!(a.len() % 4, 0);
        let e = decode(&a).unwrap();
        let names: Vec<&str> = e.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, [".", "bin", "bin/busybox", "bin/sh", "dev/console"]);
        let inos: Vec<u32> = e.iter().map(|e| e.header.ino).collect();
        assert_eq!(inos, [1, 2, 3, 4, 5]);
        assert_eq!(e[2].data, b"ELF!x");
        assert_eq!(e[3].data, b"busybox");
        assert_eq!(e[3].header.mode, 0o120777);
        assert_eq!(e[4].header.mode, 0o020600);
        assert_eq!((e[4].header.rdevmajor, e[4].header.rdevminor), (5, 1));
        // "bin/busybox" + NUL = 12 bytes: 110 + 12 = 122, padded to 124.
        let at = a.windows(11).position(|w| w == b"bin/busybox").unwrap();
        assert_eq!(&a[at + 11..at + 14], &[0, 0, 0]);
        assert_eq!(&a[at + 14..at + 19], b"ELF!x");
        assert!(a.ends_with(b"TRAILER!!!\0\0\0\0"));
    }

    #[test]
    fn same_input_same_bytes() {
        assert_eq!(sample(), sample());
    }

    #[test]
    fn bad_names_are_refused() {
        let mut w = Writer::new(Vec::new());
        for n in ["", "/init", "a\0b"] {
            assert!(matches!(
                w.add(n, 0o644, 0, &EntryData::Dir),
                Err(Error::BadName(_))
            ));
        }
    }

    #[test]
    fn truncated_and_mutated_archives_are_errors() {
        let a = sample();
        for cut in [0, 50, 110, 200, a.len() - 20] {
            assert!(decode(&a[..cut]).is_err(), "cut at {cut}");
        }
        let mut m = a.clone();
        m[0] = b'1';
        assert!(matches!(decode(&m), Err(Error::BadMagic { .. })));
        let mut m = a.clone();
        m[0x0A] = b'G';
        assert!(matches!(decode(&m), Err(Error::BadField { field: 0, .. })));
        // A huge filesize must not be trusted.
        let mut m = a;
        m[0x36..0x3E].copy_from_slice(b"FFFFFFFF");
        assert!(matches!(decode(&m), Err(Error::Truncated { .. })));
    }

    /// `count` random mutations of `base`: bit flips, bytes changed to
    /// hex digits or NUL, cuts (a fixed-seed LCG, so runs repeat).
    #[allow(clippy::arithmetic_side_effects, clippy::as_conversions)]
    pub(crate) fn mutations(base: &[u8], count: usize) -> Vec<Vec<u8>> {
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut next = |n: usize| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize % n
        };
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let mut m = base.to_vec();
            for _ in 0..=next(4) {
                if m.is_empty() {
                    break;
                }
                let at = next(m.len());
                match next(3) {
                    0 => m[at] ^= 1 << next(8),
                    1 => m[at] = b"0123456789ABCDEF\0"[next(17)],
                    _ => m.truncate(at),
                }
            }
            out.push(m);
        }
        out
    }

    /// The decoder returns an error or entries, never panics, and never
    /// returns more data than the archive holds.
    #[test]
    fn random_mutations_never_panic() {
        for m in mutations(&sample(), 5000) {
            if let Ok(entries) = decode(&m) {
                let total: usize = entries.iter().map(|e| e.data.len()).sum();
                assert!(total <= m.len());
            }
        }
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            Error::TooLarge {
                name: "big".into(),
                size: 5 << 30
            }
            .to_string(),
            "big: 5368709120 bytes do not fit a cpio newc entry (max 4 GiB)"
        );
        assert_eq!(
            Error::BadField {
                field: 3,
                found: "zz".into()
            }
            .to_string(),
            "cpio header field 3 is \"zz\", not 8 hex digits"
        );
        assert_eq!(
            Error::Truncated { offset: 0x10 }.to_string(),
            "cpio archive truncated at offset 0x10"
        );
    }
}
