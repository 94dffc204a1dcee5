//! ext4's `metadata_csum`: the CRC32C checksums of the superblock,
//! group descriptors, bitmaps, inodes, directory leaf blocks, extent
//! tree blocks and extended attribute blocks.
//!
//! Spec: the kernel's ext4 on-disk format documentation, "Checksums"
//! (<https://www.kernel.org/doc/html/latest/filesystems/ext4/checksums.html>,
//! `Documentation/filesystems/ext4/checksums.rst`), and the record
//! pages for where each checksum is stored; the order in which the
//! pieces are fed to the CRC is the one e2fsprogs' `lib/ext2fs/csum.c`
//! uses (the tests check it against images `mke2fs` makes).
//!
//! # The CRC
//!
//! ext4 uses the Castagnoli CRC32C *without* the usual final inversion
//! and with the initial value given by the caller: [`crc32c()`]`(crc,
//! data)` is the kernel's `ext4_chksum(crc, data)` (e2fsprogs'
//! `ext2fs_crc32c_le`). Every per-object checksum starts from the
//! file system's [`Seed`], `crc32c(!0, s_uuid)` (no `csum_seed`
//! feature here), and chains the object's identity (inode number and
//! generation, group or block number) before its bytes.
//!
//! The CRC comes from the `crc32c` crate rather than `crc`: `crc32c`
//! does one thing, CRC32C, with the SSE4.2/ARMv8 instruction when the
//! CPU has it, and its `crc32c_append(crc, data)` chains finished CRCs
//! the standard way, so ext4's raw register form is one inversion on
//! each side (`!crc32c_append(!crc, data)`). `crc` 3 is table-driven
//! only, and its custom-initial-value digest reflects and finalises in
//! ways one must read the source to trust; the raw-register identity
//! is easy to check against the standard test vector and real images.
//!
//! # Order of operations
//!
//! A checksum covers bytes that must be final: compute an inode's
//! checksum after every other field (including `i_blocks`, `i_size`,
//! the extent root and the in-inode attributes), a group descriptor's
//! after its bitmap checksums and free counts, the superblock's last of
//! all (and per copy, since `s_block_group_nr` differs). Directory and
//! extent blocks need the owner's inode number and `i_generation`.
//!
//! Written by hand because the checksum rules are ext4's own; only the
//! CRC itself comes from a crate.

use super::bytes::{put, put_u16le, put_u32le, read_u16le, read_u32le};

/// The CRC32C of `data` continuing from `crc`, in ext4's raw form: no
/// inversion on input or output (the kernel's `ext4_chksum`).
pub fn crc32c(crc: u32, data: &[u8]) -> u32 {
    !crc32c::crc32c_append(!crc, data)
}

/// The seed of every checksum but the superblock's:
/// `crc32c(!0, s_uuid)` (`s_checksum_seed` is not used: no `csum_seed`
/// feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seed(pub u32);

impl Seed {
    /// The seed of a file system with UUID `uuid`.
    pub fn from_uuid(uuid: &[u8; 16]) -> Seed {
        Seed(crc32c(!0, uuid))
    }

    /// The seed chained with a little-endian inode number and
    /// generation: where inode, directory and extent checksums start.
    fn inode(self, ino: u32, generation: u32) -> u32 {
        let crc = crc32c(self.0, &ino.to_le_bytes());
        crc32c(crc, &generation.to_le_bytes())
    }
}

/// `s_checksum`'s offset in the superblock; the checksum covers the
/// bytes before it.
pub const SB_CHECKSUM: usize = 0x3FC;
/// `bg_block_bitmap_csum_lo` in a group descriptor.
pub const BG_BLOCK_BITMAP_CSUM_LO: usize = 0x18;
/// `bg_inode_bitmap_csum_lo` in a group descriptor.
pub const BG_INODE_BITMAP_CSUM_LO: usize = 0x1A;
/// `bg_checksum` in a group descriptor.
pub const BG_CHECKSUM: usize = 0x1E;
/// `i_generation` in an inode.
pub const I_GENERATION: usize = 0x64;
/// `l_i_checksum_lo` in an inode.
pub const I_CHECKSUM_LO: usize = 0x7C;
/// `i_extra_isize` in an inode.
pub const I_EXTRA_ISIZE: usize = 0x80;
/// `i_checksum_hi` in an inode.
pub const I_CHECKSUM_HI: usize = 0x82;
/// `i_extra_isize` from which `i_checksum_hi` exists
/// (`EXT4_INODE_CSUM_HI_EXTRA_END`).
pub const CSUM_HI_EXTRA_END: u16 = 4;
/// `h_checksum` in an extended attribute block header.
pub const H_CHECKSUM: usize = 0x10;
/// Bytes of the fake directory entry that ends a checksummed leaf block
/// (`struct ext4_dir_entry_tail`).
pub const DIR_TAIL_LEN: usize = 12;
/// `det_reserved_name_len`: name length 0 and file type 0xDE, read as
/// one little-endian `u16`.
pub const DIR_TAIL_NAME_LEN: u16 = 0xDE00;

/// Errors: a record too short for the checksum it should carry.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The buffer is shorter than the record.
    #[error("{what}: {len} bytes, need at least {need}")]
    Short {
        /// Which record.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The length needed.
        need: usize,
    },
    /// An extent block whose header does not fit the block.
    #[error(
        "extent block: eh_max {max} puts the tail past a {len}-byte block"
    )]
    ExtentMax {
        /// `eh_max`.
        max: u16,
        /// The block's length.
        len: usize,
    },
}

/// Result of this module.
pub type Result<T> = std::result::Result<T, Error>;

fn need(what: &'static str, buf: &[u8], need: usize) -> Result<()> {
    if buf.len() < need {
        return Err(Error::Short {
            what,
            len: buf.len(),
            need,
        });
    }
    Ok(())
}

/// The superblock's `s_checksum`: `crc32c(!0, sb[..0x3FC])`.
pub fn superblock(sb: &[u8; 1024]) -> u32 {
    crc32c(!0, &sb[..SB_CHECKSUM])
}

/// Store [`superblock`]'s checksum in `sb`.
pub fn set_superblock(sb: &mut [u8; 1024]) {
    let c = superblock(sb);
    put_u32le(sb, SB_CHECKSUM, c);
}

/// A 32-byte group descriptor's `bg_checksum`: the low 16 bits of
/// `crc32c(seed, le32 group, descriptor with bg_checksum zeroed)`.
pub fn group_desc(seed: Seed, group: u32, desc: &[u8; 32]) -> u16 {
    let mut d = *desc;
    put_u16le(&mut d, BG_CHECKSUM, 0);
    let crc = crc32c(seed.0, &group.to_le_bytes());
    low16(crc32c(crc, &d))
}

/// Store [`group_desc`]'s checksum in `desc`.
pub fn set_group_desc(seed: Seed, group: u32, desc: &mut [u8; 32]) {
    let c = group_desc(seed, group, desc);
    put_u16le(desc, BG_CHECKSUM, c);
}

/// A bitmap's checksum, `crc32c(seed, bitmap)`. Pass the bytes that
/// count: a block bitmap's first `blocks_per_group / 8`, an inode
/// bitmap's first `inodes_per_group / 8` (not the whole block).
pub fn bitmap(seed: Seed, bitmap: &[u8]) -> u32 {
    crc32c(seed.0, bitmap)
}

/// Store the low 16 bits of the block and inode bitmap checksums (from
/// [`bitmap`]) in a 32-byte descriptor (`bg_block_bitmap_csum_lo`,
/// `bg_inode_bitmap_csum_lo`; the high halves exist only in 64-byte
/// descriptors). Then call [`set_group_desc`].
pub fn set_bitmap_csums(desc: &mut [u8; 32], block: u32, inode: u32) {
    put_u16le(desc, BG_BLOCK_BITMAP_CSUM_LO, low16(block));
    put_u16le(desc, BG_INODE_BITMAP_CSUM_LO, low16(inode));
}

/// Whether the inode record has `i_checksum_hi`: larger than 128 bytes
/// and `i_extra_isize` reaches it.
fn inode_has_hi(inode: &[u8]) -> bool {
    inode.len() > 128
        && read_u16le(inode, I_EXTRA_ISIZE)
            .is_some_and(|x| x >= CSUM_HI_EXTRA_END)
}

/// An inode's checksum: `crc32c(seed, le32 ino, le32 i_generation, the
/// whole on-disk inode with l_i_checksum_lo (and i_checksum_hi when
/// present) zeroed)`. The generation is read from the record. Only the
/// low 16 bits are stored when the inode has no `i_checksum_hi`.
pub fn inode(seed: Seed, ino: u32, inode: &[u8]) -> Result<u32> {
    need("inode", inode, 128)?;
    let mut d = inode.to_vec();
    put_u16le(&mut d, I_CHECKSUM_LO, 0);
    let has_hi = inode_has_hi(inode);
    if has_hi {
        put_u16le(&mut d, I_CHECKSUM_HI, 0);
    }
    let generation = read_u32le(inode, I_GENERATION).unwrap_or(0);
    let crc = crc32c(seed.inode(ino, generation), &d);
    Ok(if has_hi { crc } else { crc & 0xFFFF })
}

/// Store [`inode`]'s checksum: low half at `l_i_checksum_lo`, high half
/// at `i_checksum_hi` when the record has it.
pub fn set_inode(seed: Seed, ino: u32, inode_bytes: &mut [u8]) -> Result<()> {
    let c = inode(seed, ino, inode_bytes)?;
    put_u16le(inode_bytes, I_CHECKSUM_LO, low16(c));
    if inode_has_hi(inode_bytes) {
        put_u16le(inode_bytes, I_CHECKSUM_HI, high16(c));
    }
    Ok(())
}

/// A directory leaf block's checksum: `crc32c(seed, le32 ino, le32
/// generation, block[..len - 12])`, the directory's inode number and
/// generation, over everything before the 12-byte tail.
pub fn dir_block(
    seed: Seed,
    ino: u32,
    generation: u32,
    block: &[u8],
) -> Result<u32> {
    need("directory block", block, DIR_TAIL_LEN)?;
    let end = block.len().saturating_sub(DIR_TAIL_LEN);
    Ok(crc32c(seed.inode(ino, generation), &block[..end]))
}

/// Write the tail of a checksummed directory leaf block: the fake entry
/// `inode 0, rec_len 12, name_len 0, file_type 0xDE` in the last 12
/// bytes, then its checksum. The block's real entries must end where
/// the tail starts (the last one's `rec_len` reaches `len - 12`).
pub fn set_dir_tail(
    seed: Seed,
    ino: u32,
    generation: u32,
    block: &mut [u8],
) -> Result<()> {
    need("directory block", block, DIR_TAIL_LEN)?;
    let at = block.len().saturating_sub(DIR_TAIL_LEN);
    put(block, at, &[0; DIR_TAIL_LEN]);
    put_u32le(block, at, 0); // det_reserved_zero1 (inode)
    put_u16le(block, at.saturating_add(4), 12); // det_rec_len
    put_u16le(block, at.saturating_add(6), DIR_TAIL_NAME_LEN);
    let c = dir_block(seed, ino, generation, block)?;
    put_u32le(block, at.saturating_add(8), c); // det_checksum
    Ok(())
}

/// Seal an index block of a hashed directory (its root or a node, from
/// [`super::htree::DxBlock::encode`] with room for the tail): the
/// checksum of the block up to the last used entry, the tail's
/// reserved word and a zero word, chained from the inode's seed, goes
/// in the `dx_tail` that follows `limit` entries after `count_offset`.
pub fn set_dx_tail(
    seed: Seed,
    ino: u32,
    generation: u32,
    count_offset: usize,
    block: &mut [u8],
) -> Result<()> {
    let short = |need| Error::Short {
        what: "directory index block",
        len: block.len(),
        need,
    };
    let at4 = count_offset.saturating_add(4);
    let limit = read_u16le(block, count_offset).ok_or(short(at4))?;
    let count =
        read_u16le(block, count_offset.saturating_add(2)).ok_or(short(at4))?;
    let entries_end = |n: u16| {
        usize::from(n)
            .checked_mul(8)
            .and_then(|b| b.checked_add(count_offset))
    };
    let tail = entries_end(limit).ok_or(short(usize::MAX))?;
    let tail_end = tail.checked_add(8).ok_or(short(usize::MAX))?;
    let size = entries_end(count).ok_or(short(usize::MAX))?;
    need("directory index block", block, tail_end.max(size))?;
    let mut c = crc32c(seed.inode(ino, generation), &block[..size]);
    c = crc32c(c, &block[tail..tail.saturating_add(4)]); // dt_reserved
    c = crc32c(c, &[0; 4]); // dt_checksum, as zero
    put_u32le(block, tail.saturating_add(4), c); // dt_checksum
    Ok(())
}

/// Where an extent block's `ext4_extent_tail` lies: after the header
/// and `eh_max` entries, `12 + 12 × eh_max` (the block's last 4 bytes
/// for 1 and 4 KiB blocks, 8 bytes from the end for 2 KiB).
fn extent_tail(block: &[u8]) -> Result<usize> {
    let max = read_u16le(block, 4).ok_or(Error::Short {
        what: "extent block",
        len: block.len(),
        need: 12,
    })?;
    let at = usize::from(max)
        .checked_mul(12)
        .and_then(|n| n.checked_add(12))
        .filter(|&at| at.checked_add(4).is_some_and(|e| e <= block.len()))
        .ok_or(Error::ExtentMax {
            max,
            len: block.len(),
        })?;
    Ok(at)
}

/// An extent tree block's checksum: `crc32c(seed, le32 ino, le32
/// generation, block[..tail])`, with the tail where `eh_max` puts it.
pub fn extent_block(
    seed: Seed,
    ino: u32,
    generation: u32,
    block: &[u8],
) -> Result<u32> {
    let at = extent_tail(block)?;
    Ok(crc32c(seed.inode(ino, generation), &block[..at]))
}

/// Store [`extent_block`]'s checksum in the block's tail.
pub fn set_extent_block(
    seed: Seed,
    ino: u32,
    generation: u32,
    block: &mut [u8],
) -> Result<()> {
    let c = extent_block(seed, ino, generation, block)?;
    let at = extent_tail(block)?;
    put_u32le(block, at, c); // et_checksum
    Ok(())
}

/// An extended attribute block's `h_checksum`: `crc32c(seed, le64
/// block number, the whole block with h_checksum zeroed)`. The kernel
/// docs' table names only the UUID and the block; the kernel and
/// e2fsprogs also chain the block's number first (the oracle test
/// confirms it on a block `debugfs` wrote).
pub fn xattr_block(seed: Seed, block_no: u64, block: &[u8]) -> Result<u32> {
    need("attribute block", block, 32)?;
    let mut d = block.to_vec();
    put_u32le(&mut d, H_CHECKSUM, 0);
    Ok(crc32c(crc32c(seed.0, &block_no.to_le_bytes()), &d))
}

/// Store [`xattr_block`]'s checksum.
pub fn set_xattr_block(
    seed: Seed,
    block_no: u64,
    block: &mut [u8],
) -> Result<()> {
    let c = xattr_block(seed, block_no, block)?;
    put_u32le(block, H_CHECKSUM, c);
    Ok(())
}

fn low16(v: u32) -> u16 {
    u16::try_from(v & 0xFFFF).unwrap_or(0)
}

fn high16(v: u32) -> u16 {
    u16::try_from(v >> 16).unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::as_conversions)]
mod tests {
    use super::super::bytes::{get_u16le, get_u32le};
    use super::*;

    #[test]
    fn raw_crc_matches_the_standard_check_value() {
        // CRC-32C's catalogued check value over "123456789" (RFC 3720
        // B.4 family): the standard form is the raw one, inverted, from
        // an inverted start.
        assert_eq!(!crc32c(!0, b"123456789"), 0xE306_9283);
        // Chaining: one call or two give the same register.
        let one = crc32c(0x1234_5678, b"abcdef");
        let two = crc32c(crc32c(0x1234_5678, b"abc"), b"def");
        assert_eq!(one, two);
    }

    #[test]
    fn superblock_checksum_lands_and_covers_only_its_prefix() {
        let mut sb = [0u8; 1024];
        sb[0x38] = 0x53;
        sb[0x39] = 0xEF;
        set_superblock(&mut sb);
        let c = get_u32le(&sb, SB_CHECKSUM);
        assert_eq!(c, superblock(&sb));
        // Storing the checksum does not change it.
        assert_eq!(superblock(&sb), c);
        sb[0x3FB] ^= 1;
        assert_ne!(superblock(&sb), c);
    }

    #[test]
    fn group_desc_ignores_its_own_field_and_names_the_group() {
        let seed = Seed::from_uuid(&[7; 16]);
        let mut d = [0u8; 32];
        d[0] = 9;
        set_group_desc(seed, 3, &mut d);
        let c = get_u16le(&d, BG_CHECKSUM);
        assert_eq!(group_desc(seed, 3, &d), c);
        assert_ne!(group_desc(seed, 4, &d), c);
        d[1] = 1;
        assert_ne!(group_desc(seed, 3, &d), c);
        let other = Seed::from_uuid(&[8; 16]);
        d[1] = 0;
        assert_ne!(group_desc(other, 3, &d), c);
    }

    #[test]
    fn bitmap_csums_store_low_halves() {
        let mut d = [0u8; 32];
        set_bitmap_csums(&mut d, 0xAAAA_1234, 0xBBBB_5678);
        assert_eq!(get_u16le(&d, BG_BLOCK_BITMAP_CSUM_LO), 0x1234);
        assert_eq!(get_u16le(&d, BG_INODE_BITMAP_CSUM_LO), 0x5678);
    }

    #[test]
    fn inode_checksum_split_and_generation() {
        let seed = Seed::from_uuid(&[1; 16]);
        let mut ino = vec![0u8; 256];
        put_u16le(&mut ino, I_EXTRA_ISIZE, 32);
        put_u32le(&mut ino, I_GENERATION, 5);
        set_inode(seed, 12, &mut ino).expect("256 bytes");
        let c = inode(seed, 12, &ino).expect("256 bytes");
        assert_eq!(get_u16le(&ino, I_CHECKSUM_LO), low16(c));
        assert_eq!(get_u16le(&ino, I_CHECKSUM_HI), high16(c));
        assert_ne!(inode(seed, 13, &ino).expect("256"), c);
        put_u32le(&mut ino, I_GENERATION, 6);
        assert_ne!(inode(seed, 12, &ino).expect("256"), c);
        // Without room for the high half only 16 bits count, and the
        // bytes at 0x82 are data.
        put_u16le(&mut ino, I_EXTRA_ISIZE, 2);
        let lo = inode(seed, 12, &ino).expect("256");
        assert!(lo <= 0xFFFF);
        put_u16le(&mut ino, I_CHECKSUM_HI, 0x4242);
        assert_ne!(inode(seed, 12, &ino).expect("256"), lo);
        assert_eq!(
            inode(seed, 12, &ino[..100]),
            Err(Error::Short {
                what: "inode",
                len: 100,
                need: 128
            })
        );
    }

    #[test]
    fn dir_tail_is_the_fake_entry() {
        let seed = Seed::from_uuid(&[2; 16]);
        let mut b = vec![0xFFu8; 1024];
        set_dir_tail(seed, 2, 0, &mut b).expect("1 KiB");
        let t = &b[1012..];
        assert_eq!(get_u32le(t, 0), 0);
        assert_eq!(get_u16le(t, 4), 12);
        assert_eq!(t[6], 0);
        assert_eq!(t[7], 0xDE);
        assert_eq!(get_u32le(t, 8), dir_block(seed, 2, 0, &b).expect("1"));
        let before = get_u32le(t, 8);
        b[0] = 0;
        assert_ne!(dir_block(seed, 2, 0, &b).expect("1 KiB"), before);
    }

    #[test]
    fn extent_tail_follows_eh_max() {
        let seed = Seed::from_uuid(&[3; 16]);
        for (bs, tail) in [(1024usize, 1020usize), (2048, 2040), (4096, 4092)] {
            let mut b = vec![0u8; bs];
            let max = u16::try_from((bs - 12) / 12).expect("small");
            put_u16le(&mut b, 0, 0xF30A);
            put_u16le(&mut b, 4, max);
            set_extent_block(seed, 12, 0, &mut b).expect("fits");
            let c = get_u32le(&b, tail);
            assert_ne!(c, 0);
            assert_eq!(extent_block(seed, 12, 0, &b).expect("fits"), c);
            assert!(b[tail + 4..].iter().all(|&x| x == 0));
        }
        let mut b = vec![0u8; 1024];
        put_u16le(&mut b, 4, 200);
        assert_eq!(
            extent_block(seed, 12, 0, &b),
            Err(Error::ExtentMax {
                max: 200,
                len: 1024
            })
        );
    }

    #[test]
    fn xattr_block_names_its_block() {
        let seed = Seed::from_uuid(&[4; 16]);
        let mut b = vec![0u8; 1024];
        b[0] = 0x20;
        set_xattr_block(seed, 700, &mut b).expect("1 KiB");
        let c = get_u32le(&b, H_CHECKSUM);
        assert_eq!(xattr_block(seed, 700, &b).expect("1 KiB"), c);
        assert_ne!(xattr_block(seed, 701, &b).expect("1 KiB"), c);
    }

    #[test]
    fn error_messages() {
        let e = Error::Short {
            what: "inode",
            len: 3,
            need: 128,
        };
        assert_eq!(e.to_string(), "inode: 3 bytes, need at least 128");
        let e = Error::ExtentMax { max: 9, len: 10 };
        assert_eq!(
            e.to_string(),
            "extent block: eh_max 9 puts the tail past a 10-byte block"
        );
    }
}
