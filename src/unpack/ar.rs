//! The `ar` container of a `.deb`: the global magic, one 60-byte header
//! per member, member data padded to an even offset.
//!
//! Spec: deb(5) ("The file is an ar archive with a magic value of
//! `!<arch>`") and the common ar format of ar(5) (FreeBSD's page
//! describes all three variants). dpkg-deb writes the *common* variant
//! only: names of at most 16 bytes, optionally ended by a GNU-style `/`,
//! decimal sizes, no symbol table and no long-name table.
//!
//! Hand-written rather than taken from the `ar` crate. That crate reads
//! all three variants by streaming, and would handle `debian-binary`,
//! `control.tar.*` and `data.tar.*`, but everything it adds over the
//! common variant (GNU `//` long-name tables, BSD `#1/` names, symbol
//! tables) is input a `.deb` must not contain, so it would only widen
//! what an attacker can feed us; it reports malformed headers as
//! untyped `io::Error` strings, where we want the offset and the field;
//! and the whole format is one record, which takes fewer lines to
//! decode (and to attack in tests) than to adapt. Anything that is not
//! a common-variant name simply fails dpkg's member order check upstream.

use std::io::{self, Read};

/// The global header of every ar archive.
pub(crate) const MAGIC: &[u8; 8] = b"!<arch>\n";

/// Size of a member header.
pub const HEADER_LEN: usize = 60;

/// The two bytes ending every member header (`ar_fmag`).
const FMAG: &[u8; 2] = b"`\n";

/// Why an archive is not a usable ar archive.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file does not start with `!<arch>\n`.
    #[error("no ar magic \"!<arch>\" at the start")]
    BadMagic,
    /// A header field does not parse.
    #[error("ar member header at offset {offset:#x}: bad {field} field")]
    BadHeader {
        /// Offset of the header in the archive.
        offset: u64,
        /// The field (`ar_size`, `ar_fmag`, …).
        field: &'static str,
    },
    /// The archive ends inside its magic or a member header.
    #[error("ar archive ends inside the header at offset {offset:#x}")]
    Truncated {
        /// Offset where the header starts.
        offset: u64,
    },
    /// Reading the archive failed.
    #[error("reading the ar archive at offset {offset:#x}: {source}")]
    Io {
        /// Offset of the failed read.
        offset: u64,
        /// The I/O error.
        source: io::Error,
    },
}

/// One member header (`struct ar_hdr` of `<ar.h>`), fields in spec order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArHeader {
    /// `ar_name` (0x00, 16 bytes): the name, trailing spaces and a GNU
    /// `/` terminator removed.
    pub name: String,
    /// `ar_date` (0x10, 12 bytes): decimal seconds since the epoch.
    pub date: u64,
    /// `ar_uid` (0x1c, 6 bytes): decimal.
    pub uid: u32,
    /// `ar_gid` (0x22, 6 bytes): decimal.
    pub gid: u32,
    /// `ar_mode` (0x28, 8 bytes): octal.
    pub mode: u32,
    /// `ar_size` (0x30, 10 bytes): decimal size of the member data.
    pub size: u64,
    // `ar_fmag` (0x3a, 2 bytes): "`\n".
}

impl ArHeader {
    /// Decode the header found at `offset` (for error messages).
    pub fn decode(
        buf: &[u8; HEADER_LEN],
        offset: u64,
    ) -> Result<ArHeader, Error> {
        let bad = |field| Error::BadHeader { offset, field };
        if &buf[0x3a..0x3c] != FMAG {
            return Err(bad("ar_fmag"));
        }
        let name = std::str::from_utf8(&buf[0x00..0x10])
            .map_err(|_| bad("ar_name"))?
            .trim_end_matches(' ');
        let name = name.strip_suffix('/').unwrap_or(name);
        if name.is_empty() {
            return Err(bad("ar_name"));
        }
        Ok(ArHeader {
            name: name.to_owned(),
            date: number(&buf[0x10..0x1c], 10).ok_or_else(|| bad("ar_date"))?,
            uid: number(&buf[0x1c..0x22], 10)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| bad("ar_uid"))?,
            gid: number(&buf[0x22..0x28], 10)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| bad("ar_gid"))?,
            mode: number(&buf[0x28..0x30], 8)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| bad("ar_mode"))?,
            size: number(&buf[0x30..0x3a], 10).ok_or_else(|| bad("ar_size"))?,
        })
    }

    /// Encode the header (for tests: text longer than its field is cut).
    #[cfg(test)]
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        fn put(buf: &mut [u8], at: usize, len: usize, text: &str) {
            let bytes = text.as_bytes();
            let n = bytes.len().min(len);
            buf[at..][..n].copy_from_slice(&bytes[..n]);
        }
        let mut b = [b' '; HEADER_LEN];
        put(&mut b, 0x00, 16, &self.name);
        put(&mut b, 0x10, 12, &self.date.to_string());
        put(&mut b, 0x1c, 6, &self.uid.to_string());
        put(&mut b, 0x22, 6, &self.gid.to_string());
        put(&mut b, 0x28, 8, &format!("{:o}", self.mode));
        put(&mut b, 0x30, 10, &self.size.to_string());
        b[0x3a..0x3c].copy_from_slice(FMAG);
        b
    }
}

/// A space-padded number in `radix`; all spaces is 0.
fn number(field: &[u8], radix: u32) -> Option<u64> {
    let text = std::str::from_utf8(field).ok()?.trim_end_matches(' ');
    if text.is_empty() {
        return Some(0);
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    u64::from_str_radix(text, radix).ok()
}

/// Reads the members of an ar archive one after the other, streaming:
/// only one header is held at a time, and member data is read through
/// [`ArReader::member`].
#[derive(Debug)]
pub struct ArReader<R> {
    inner: R,
    /// Offset of the next byte `inner` yields.
    offset: u64,
    /// Data bytes of the current member not read yet.
    left: u64,
    /// Whether the current member is followed by a padding byte.
    pad: bool,
}

impl<R: Read> ArReader<R> {
    /// Check the global magic.
    pub fn new(mut inner: R) -> Result<ArReader<R>, Error> {
        let mut magic = [0u8; 8];
        match read_full(&mut inner, &mut magic) {
            Ok(n) if n == magic.len() && &magic == MAGIC => {}
            Ok(_) => return Err(Error::BadMagic),
            Err(source) => return Err(Error::Io { offset: 0, source }),
        }
        Ok(ArReader {
            inner,
            offset: 8,
            left: 0,
            pad: false,
        })
    }

    /// Skip what is left of the current member and read the next header;
    /// `None` at the end of the archive.
    pub fn next_member(&mut self) -> Result<Option<ArHeader>, Error> {
        self.skip_rest()?;
        let start = self.offset;
        let mut buf = [0u8; HEADER_LEN];
        let n = read_full(&mut self.inner, &mut buf).map_err(|source| {
            Error::Io {
                offset: start,
                source,
            }
        })?;
        self.advance(n);
        if n == 0 {
            return Ok(None);
        }
        if n < HEADER_LEN {
            return Err(Error::Truncated { offset: start });
        }
        let header = ArHeader::decode(&buf, start)?;
        self.left = header.size;
        self.pad = header.size % 2 == 1;
        Ok(Some(header))
    }

    /// A reader over the current member's data; it fails with
    /// `UnexpectedEof` if the archive ends before the member does.
    pub fn member(&mut self) -> Member<'_, R> {
        Member { ar: self }
    }

    /// Offset of the next unread byte of the archive.
    #[cfg(test)]
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    fn advance(&mut self, n: usize) {
        // A usize always fits a u64 on the platforms we build for, and
        // an archive of 2^64 bytes cannot be read.
        self.offset = self
            .offset
            .saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
    }

    fn skip_rest(&mut self) -> Result<(), Error> {
        let start = self.offset;
        let io_err = |source| Error::Io {
            offset: start,
            source,
        };
        io::copy(&mut self.member(), &mut io::sink()).map_err(io_err)?;
        if self.pad {
            self.pad = false;
            let mut b = [0u8; 1];
            // A missing final padding byte is tolerated, as by dpkg.
            let n = read_full(&mut self.inner, &mut b).map_err(io_err)?;
            self.advance(n);
        }
        Ok(())
    }
}

/// The data of one member, see [`ArReader::member`].
#[derive(Debug)]
pub struct Member<'a, R> {
    ar: &'a mut ArReader<R>,
}

impl<R: Read> Read for Member<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = usize::try_from(self.ar.left)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        if want == 0 {
            return Ok(0);
        }
        let n = self.ar.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "ar archive ends at offset {:#x}, {} bytes before the \
                     end of the member",
                    self.ar.offset, self.ar.left
                ),
            ));
        }
        self.ar.advance(n);
        self.ar.left = self
            .ar
            .left
            .saturating_sub(u64::try_from(n).unwrap_or(u64::MAX));
        Ok(n)
    }
}

/// Read until `buf` is full or the input ends; the number of bytes read.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match r.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done = done.saturating_add(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::as_conversions)]
mod tests {
    use super::*;

    fn header(name: &str, size: u64) -> ArHeader {
        ArHeader {
            name: name.into(),
            date: 1_700_000_000,
            uid: 0,
            gid: 0,
            mode: 0o100644,
            size,
        }
    }

    /// An archive of `members` as dpkg-deb writes it.
    fn archive(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut v = MAGIC.to_vec();
        for (name, data) in members {
            v.extend_from_slice(&header(name, data.len() as u64).encode());
            v.extend_from_slice(data);
            if data.len() % 2 == 1 {
                v.push(b'\n');
            }
        }
        v
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, Error> {
        let mut ar = ArReader::new(bytes)?;
        let mut out = Vec::new();
        while let Some(h) = ar.next_member()? {
            let mut data = Vec::new();
            ar.member()
                .read_to_end(&mut data)
                .map_err(|source| Error::Io { offset: 0, source })?;
            out.push((h.name, data));
        }
        Ok(out)
    }

    #[test]
    fn header_round_trips_with_spec_offsets() {
        let h = header("control.tar.xz", 1234);
        let b = h.encode();
        assert_eq!(&b[0x00..0x10], b"control.tar.xz  ");
        assert_eq!(&b[0x30..0x3a], b"1234      ");
        assert_eq!(&b[0x28..0x30], b"100644  ");
        assert_eq!(&b[0x3a..0x3c], b"`\n");
        assert_eq!(ArHeader::decode(&b, 8).unwrap(), h);
    }

    #[test]
    fn gnu_name_terminator_and_blank_numbers() {
        let mut b = header("x", 0).encode();
        b[0x00..0x10].copy_from_slice(b"debian-binary/  ");
        b[0x10..0x1c].copy_from_slice(b"            ");
        let h = ArHeader::decode(&b, 8).unwrap();
        assert_eq!(h.name, "debian-binary");
        assert_eq!(h.date, 0);
    }

    #[test]
    fn reads_members_with_odd_sizes() {
        let bytes = archive(&[("a", b"abc"), ("b", b""), ("c", b"xy")]);
        let got = read_all(&bytes).unwrap();
        assert_eq!(
            got,
            [
                ("a".to_string(), b"abc".to_vec()),
                ("b".to_string(), vec![]),
                ("c".to_string(), b"xy".to_vec())
            ]
        );
        // Skipping unread members works too.
        let mut ar = ArReader::new(&bytes[..]).unwrap();
        assert_eq!(ar.next_member().unwrap().unwrap().name, "a");
        assert_eq!(ar.next_member().unwrap().unwrap().name, "b");
        assert_eq!(ar.next_member().unwrap().unwrap().name, "c");
        assert!(ar.next_member().unwrap().is_none());
        assert_eq!(ar.offset(), bytes.len() as u64);
    }

    #[test]
    fn missing_final_padding_is_tolerated() {
        let mut bytes = archive(&[("a", b"abc")]);
        bytes.pop();
        assert_eq!(read_all(&bytes).unwrap().len(), 1);
    }

    #[test]
    fn refuses_bad_magic_headers_and_truncation() {
        assert!(matches!(read_all(b"!<arch>"), Err(Error::BadMagic)));
        assert!(matches!(read_all(b"PK\x03\x04...."), Err(Error::BadMagic)));
        let bytes = archive(&[("a", b"abcd")]);
        // Inside the header.
        assert!(matches!(
            read_all(&bytes[..30]),
            Err(Error::Truncated { offset: 8 })
        ));
        // Inside the data.
        let e = read_all(&bytes[..70]).unwrap_err();
        let Error::Io { source, .. } = e else {
            panic!("{e}")
        };
        assert_eq!(source.kind(), io::ErrorKind::UnexpectedEof);
        // Each numeric field and the trailer.
        for (at, field) in [
            (0x10, "ar_date"),
            (0x1c, "ar_uid"),
            (0x22, "ar_gid"),
            (0x28, "ar_mode"),
            (0x30, "ar_size"),
            (0x3a, "ar_fmag"),
        ] {
            let mut b = bytes.clone();
            b[8 + at] = b'x';
            let e = read_all(&b).unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::BadHeader { offset: 8, field: f }
                        if f == field
                ),
                "{field}: {e}"
            );
        }
        let mut b = bytes.clone();
        b[8 + 0x28] = b'9'; // not octal
        assert!(read_all(&b).is_err());
        let mut b = bytes;
        b[8..8 + 16].copy_from_slice(&[b' '; 16]);
        assert!(matches!(
            read_all(&b),
            Err(Error::BadHeader {
                field: "ar_name",
                ..
            })
        ));
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            Error::BadMagic.to_string(),
            "no ar magic \"!<arch>\" at the start"
        );
        assert_eq!(
            Error::BadHeader {
                offset: 0x44,
                field: "ar_size"
            }
            .to_string(),
            "ar member header at offset 0x44: bad ar_size field"
        );
        assert_eq!(
            Error::Truncated { offset: 8 }.to_string(),
            "ar archive ends inside the header at offset 0x8"
        );
        assert_eq!(
            Error::Io {
                offset: 8,
                source: io::Error::other("boom")
            }
            .to_string(),
            "reading the ar archive at offset 0x8: boom"
        );
    }
}
