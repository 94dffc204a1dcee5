//! Linux swap areas: the version-1 header that `mkswap` writes into the
//! first page of a swap partition.
//!
//! The format is `union swap_header` of the kernel's
//! `include/linux/swap.h`: the first 1024 bytes are left for a boot
//! loader ("bootbits"), the `info` record follows at 0x400, and the
//! last ten bytes of the page hold the magic `SWAPSPACE2`. Nothing else
//! of the area is written: the kernel needs no zeroed pages, so the rest
//! of the partition stays a hole in a sparse image.
//!
//! Hand-written rather than taken from a crate because it is one page of
//! five fields, and no crate writes it without running `mkswap`.
//! `blkid`, `swaplabel` and `mkswap` itself are the oracles (see
//! `tests/integration/swap_oracle.rs`).

#![deny(clippy::arithmetic_side_effects, clippy::as_conversions)]

use std::io::{Seek, Write};

use crate::ids::Uuid;

/// The page size the header is written for. x86-64 guests use 4 KiB
/// pages, and the kernel refuses a swap area whose magic is not at the
/// end of a page of its own size.
pub const PAGE_SIZE: usize = 4096;
/// `PAGE_SIZE` as a byte count.
pub const PAGE_BYTES: u64 = 4096;
/// `mkswap`'s minimum: ten pages (util-linux `MIN_GOODPAGES`), 40 KiB.
pub const MIN_PAGES: u64 = 10;
/// `SWAP_HEADER_VERSION`: the only version current kernels accept.
pub const SWAP_VERSION_1: u32 = 1;
/// The magic at the end of the first page.
pub const SWAPSPACE2: &[u8; 10] = b"SWAPSPACE2";
/// The length of `sws_volume`, the label field.
pub const LABEL_LEN: usize = 16;
/// The longest label: `mkswap` keeps a terminating NUL in `sws_volume`
/// (it truncates a 16-byte label to 15 with a warning), so we refuse
/// what it would truncate.
pub const LABEL_MAX: usize = 15;

/// Errors of the swap header.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The area is smaller than `mkswap` accepts.
    #[error(
        "swap area of {size} bytes is too small: mkswap needs at least \
         {minimum} bytes (10 pages of 4096)"
    )]
    TooSmall {
        /// The size asked for.
        size: u64,
        /// The minimum.
        minimum: u64,
    },
    /// `last_page` does not fit the header's 32 bits.
    #[error(
        "swap area of {size} bytes is too large: its last page number \
         does not fit in 32 bits"
    )]
    TooLarge {
        /// The size asked for.
        size: u64,
    },
    /// The label does not fit `sws_volume`.
    #[error("swap label {label:?} is {len} bytes long, the limit is 15")]
    LabelTooLong {
        /// The label.
        label: String,
        /// Its length in bytes.
        len: usize,
    },
    /// Writing the header failed.
    #[error("cannot write the swap header: {0}")]
    Io(#[from] std::io::Error),
}

/// Result of the swap writer.
pub type Result<T> = std::result::Result<T, Error>;

/// `union swap_header.info`, with the magic that ends the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwapHeader {
    /// `version` (0x400): [`SWAP_VERSION_1`].
    pub version: u32,
    /// `last_page` (0x404): the number of the last usable page.
    pub last_page: u32,
    /// `nr_badpages` (0x408): always 0 here (no bad-block list).
    pub nr_badpages: u32,
    /// `sws_uuid` (0x40C): the UUID in its string byte order.
    pub uuid: [u8; 16],
    /// `sws_volume` (0x41C): the label, NUL-padded and NUL-terminated
    /// (at most [`LABEL_MAX`] bytes, as `mkswap` writes it).
    pub label: [u8; LABEL_LEN],
}

impl SwapHeader {
    /// The header of a swap area of `size` bytes (a partial last page
    /// is not used) with `uuid` and `label`.
    pub fn plan(size: u64, uuid: Uuid, label: Option<&str>) -> Result<Self> {
        let pages = size / PAGE_BYTES;
        if pages < MIN_PAGES {
            return Err(Error::TooSmall {
                size,
                minimum: MIN_PAGES.saturating_mul(PAGE_BYTES),
            });
        }
        let last_page = pages
            .checked_sub(1)
            .and_then(|p| u32::try_from(p).ok())
            .ok_or(Error::TooLarge { size })?;
        let mut label_bytes = [0u8; LABEL_LEN];
        if let Some(l) = label {
            let dst = label_bytes
                .get_mut(..l.len())
                .filter(|_| l.len() <= LABEL_MAX)
                .ok_or_else(|| Error::LabelTooLong {
                    label: l.into(),
                    len: l.len(),
                })?;
            dst.copy_from_slice(l.as_bytes());
        }
        Ok(SwapHeader {
            version: SWAP_VERSION_1,
            last_page,
            nr_badpages: 0,
            uuid: uuid.0,
            label: label_bytes,
        })
    }

    /// The first page of the swap area: zero bootbits, `info` at 0x400,
    /// `SWAPSPACE2` at `PAGE_SIZE - 10`.
    pub fn encode(&self) -> [u8; PAGE_SIZE] {
        let mut page = [0u8; PAGE_SIZE];
        page[0x400..0x404].copy_from_slice(&self.version.to_le_bytes());
        page[0x404..0x408].copy_from_slice(&self.last_page.to_le_bytes());
        page[0x408..0x40C].copy_from_slice(&self.nr_badpages.to_le_bytes());
        page[0x40C..0x41C].copy_from_slice(&self.uuid);
        page[0x41C..0x42C].copy_from_slice(&self.label);
        page[0xFF6..0x1000].copy_from_slice(SWAPSPACE2);
        page
    }

    /// Read a header back (tests and `lunforge` self-checks); `None`
    /// when the magic is missing.
    pub fn decode(page: &[u8; PAGE_SIZE]) -> Option<Self> {
        if &page[0xFF6..0x1000] != SWAPSPACE2 {
            return None;
        }
        let u32_at = |o: usize| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&page[o..o.wrapping_add(4)]);
            u32::from_le_bytes(b)
        };
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&page[0x40C..0x41C]);
        let mut label = [0u8; LABEL_LEN];
        label.copy_from_slice(&page[0x41C..0x42C]);
        Some(SwapHeader {
            version: u32_at(0x400),
            last_page: u32_at(0x404),
            nr_badpages: u32_at(0x408),
            uuid,
            label,
        })
    }
}

/// Write the header of a swap area of `size` bytes at the current
/// position of `out` (the start of the swap partition); only the first
/// page is written, and the position is left after it.
pub fn write_swap(
    out: &mut (impl Write + Seek),
    size: u64,
    uuid: Uuid,
    label: Option<&str>,
) -> Result<()> {
    let header = SwapHeader::plan(size, uuid, label)?;
    out.write_all(&header.encode())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn encodes_the_fields_at_their_offsets() {
        let uuid = Uuid([0x11; 16]);
        let h = SwapHeader::plan(512 << 20, uuid, Some("swap0")).unwrap();
        assert_eq!(h.last_page, 131_071);
        let page = h.encode();
        assert_eq!(&page[..0x400], &[0u8; 0x400][..]);
        assert_eq!(page[0x400..0x408], [1, 0, 0, 0, 0xff, 0xff, 1, 0]);
        assert_eq!(&page[0x40C..0x41C], &[0x11; 16]);
        assert_eq!(&page[0x41C..0x422], b"swap0\0");
        assert_eq!(&page[4086..], b"SWAPSPACE2");
        assert_eq!(SwapHeader::decode(&page), Some(h));
        let mut bad = page;
        bad[4095] ^= 1;
        assert_eq!(SwapHeader::decode(&bad), None);
        let mut c = Cursor::new(Vec::new());
        write_swap(&mut c, 40960, uuid, None).unwrap();
        assert_eq!(c.get_ref().len(), PAGE_SIZE);
    }

    #[test]
    fn limits() {
        let u = Uuid([0; 16]);
        assert!(SwapHeader::plan(40960, u, None).is_ok());
        assert!(matches!(
            SwapHeader::plan(40959, u, None),
            Err(Error::TooSmall {
                size: 40959,
                minimum: 40960
            })
        ));
        assert!(SwapHeader::plan(1 << 44, u, None).is_ok());
        assert!(matches!(
            SwapHeader::plan((1 << 44) + 4096, u, None),
            Err(Error::TooLarge { .. })
        ));
        assert!(SwapHeader::plan(40960, u, Some("0123456789abcde")).is_ok());
        assert!(matches!(
            SwapHeader::plan(40960, u, Some("0123456789abcdef")),
            Err(Error::LabelTooLong { len: 16, .. })
        ));
    }

    #[test]
    fn error_messages() {
        let cases: [(Error, &str); 4] = [
            (
                Error::TooSmall {
                    size: 4096,
                    minimum: 40960,
                },
                "swap area of 4096 bytes is too small: mkswap needs at \
                 least 40960 bytes (10 pages of 4096)",
            ),
            (
                Error::TooLarge { size: 1 << 50 },
                "swap area of 1125899906842624 bytes is too large: its last \
                 page number does not fit in 32 bits",
            ),
            (
                Error::LabelTooLong {
                    label: "x".repeat(17),
                    len: 17,
                },
                "swap label \"xxxxxxxxxxxxxxxxx\" is 17 bytes long, the \
                 limit is 15",
            ),
            (
                Error::Io(std::io::Error::other("disk full")),
                "cannot write the swap header: disk full",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want);
        }
    }
}
