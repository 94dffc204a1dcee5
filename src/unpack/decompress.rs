//! The compression of a `.deb`'s `control.tar*` and `data.tar*`
//! members, chosen by the member name's suffix as dpkg-deb does (deb(5):
//! `control.tar`, `.gz`, `.xz`, `.zst`; `data.tar` likewise).
//!
//! Each codec comes from its usual crate (`flate2`, `liblzma`, `zstd`);
//! this module only maps names to decoders and sets their limits. The
//! legacy `data.tar.bz2` and `data.tar.lzma` (unused in Debian since
//! squeeze) are not supported and are reported as unknown compression.
//! zstd frames keep the library's default window limit (128 MiB, what
//! `zstd -d` accepts without `--long`), so a frame asking for more is
//! corrupt to us rather than a large allocation.

use std::io::{self, Read};

/// Memory the xz decoder may use (`xz -9` needs 65 MiB; Debian uses
/// `-6`, 9 MiB): a header that asks for more is refused rather than
/// allocated.
const XZ_MEMLIMIT: u64 = 256 * 1024 * 1024;

/// How a tar member is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    /// `*.tar`.
    None,
    /// `*.tar.gz` (RFC 1952).
    Gzip,
    /// `*.tar.xz` (the .xz file format).
    Xz,
    /// `*.tar.zst` (RFC 8878).
    Zstd,
}

impl Compression {
    /// The compression of member `name` whose base is `base`
    /// (`control.tar` or `data.tar`); `None` for an unknown suffix.
    pub(crate) fn for_member(name: &str, base: &str) -> Option<Compression> {
        match name.strip_prefix(base)? {
            "" => Some(Compression::None),
            ".gz" => Some(Compression::Gzip),
            ".xz" => Some(Compression::Xz),
            ".zst" => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// A reader of the decompressed bytes of `r`.
    pub(crate) fn decoder<'a>(
        self,
        r: impl Read + 'a,
    ) -> io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Compression::None => Box::new(r),
            // Concatenated gzip members are one stream to dpkg (zlib's
            // gzread), so to us too.
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
            Compression::Xz => {
                let stream = liblzma::stream::Stream::new_stream_decoder(
                    XZ_MEMLIMIT,
                    liblzma::stream::CONCATENATED,
                )
                .map_err(io::Error::other)?;
                Box::new(liblzma::read::XzDecoder::new_stream(r, stream))
            }
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(r)?),
        })
    }
}

#[cfg(test)]
#[allow(clippy::as_conversions)]
mod tests {
    use super::*;
    use crate::unpack::testdeb::compress;

    fn decode(c: Compression, bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        c.decoder(bytes)?.read_to_end(&mut v)?;
        Ok(v)
    }

    const ALL: [Compression; 4] = [
        Compression::None,
        Compression::Gzip,
        Compression::Xz,
        Compression::Zstd,
    ];

    #[test]
    fn names() {
        let c = |n| Compression::for_member(n, "data.tar");
        assert_eq!(c("data.tar"), Some(Compression::None));
        assert_eq!(c("data.tar.gz"), Some(Compression::Gzip));
        assert_eq!(c("data.tar.xz"), Some(Compression::Xz));
        assert_eq!(c("data.tar.zst"), Some(Compression::Zstd));
        assert_eq!(c("data.tar.bz2"), None);
        assert_eq!(c("data.tar.lzma"), None);
        assert_eq!(c("data.tarx"), None);
        assert_eq!(c("control.tar.gz"), None);
    }

    #[test]
    fn round_trips() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        for c in ALL {
            assert_eq!(decode(c, &compress(c, &data)).unwrap(), data, "{c:?}");
        }
    }

    #[test]
    fn concatenated_streams_are_one() {
        for c in [Compression::Gzip, Compression::Xz, Compression::Zstd] {
            let mut two = compress(c, b"hello ");
            two.extend(compress(c, b"world"));
            assert_eq!(decode(c, &two).unwrap(), b"hello world", "{c:?}");
        }
    }

    #[test]
    fn corrupt_and_truncated_streams_fail() {
        let data = vec![42u8; 100_000];
        for c in [Compression::Gzip, Compression::Xz, Compression::Zstd] {
            let good = compress(c, &data);
            let cut = &good[..good.len() / 2];
            assert!(decode(c, cut).is_err(), "{c:?} truncated");
            let mut flipped = good.clone();
            let at = good.len() - 6;
            flipped[at] ^= 0x55;
            assert!(decode(c, &flipped).is_err(), "{c:?} flipped");
            assert!(decode(c, b"not compressed at all").is_err(), "{c:?}");
        }
    }
}
