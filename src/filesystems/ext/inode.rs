//! The ext2 inode: 256 bytes in the inode table (128 classic bytes, then
//! `i_extra_isize` = 32 bytes of the large-inode fields: the timestamp
//! epoch bits and the creation time).
//!
//! Spec: the kernel's ext4 on-disk format documentation, "Index Nodes"
//! (<https://www.kernel.org/doc/html/latest/filesystems/ext4/inodes.html>,
//! `Documentation/filesystems/ext4/inodes.rst`), including "Inode Size",
//! "Inode Timestamps" and the `i_block` uses: the classic block map
//! (12 direct, then single, double and triple indirect), a fast
//! symlink's target, and a device number.
//!
//! 256-byte inodes are `/etc/mke2fs.conf`'s default `inode_size` and
//! the only size that carries timestamps past 2038 (`*_extra` epoch
//! bits), so the ext3/ext4 writers to come keep the same records.
//!
//! Written by hand because no crate makes a file system: `ext4-rs`
//! expects one made by `mkfs.ext4`, writes no journal and handles only
//! extents and 4 KiB blocks, so it cannot make ext2 or ext3.

use super::bytes::{put, put_u16le, put_u32le};

/// On-disk inode size lunforge writes (`s_inode_size`).
pub const INODE_SIZE: u16 = 256;
/// `i_extra_isize`: the large-inode fields through `i_projid`, as
/// mke2fs sets it (sizeof `ext2_inode_large` − 128).
pub const EXTRA_ISIZE: u16 = 32;
/// Where the in-inode extended attributes start (128 + `EXTRA_ISIZE`).
pub const XATTR_OFFSET: usize = 0xA0;
/// Bytes for in-inode extended attributes.
pub const XATTR_AREA: usize = 256 - XATTR_OFFSET;
/// Number of `i_block` slots.
pub const N_BLOCKS: usize = 15;
/// Direct slots of the block map.
pub const NDIR_BLOCKS: usize = 12;
/// `i_block` index of the single indirect block.
pub const IND_BLOCK: usize = 12;
/// `i_block` index of the double indirect block.
pub const DIND_BLOCK: usize = 13;
/// `i_block` index of the triple indirect block.
pub const TIND_BLOCK: usize = 14;
/// A symlink target shorter than this lives in `i_block` ("fast").
pub const FAST_SYMLINK_MAX: usize = 59;
/// `i_flags`: `i_block` holds an extent tree (`EXT4_EXTENTS_FL`).
pub const EXT4_EXTENTS_FL: u32 = 0x0008_0000;

/// A timestamp as the large inode stores it: low 32 bits in the classic
/// field, two epoch bits in the `*_extra` field (nanoseconds zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timestamp {
    /// The classic field (`i_mtime`, …): seconds, wrapped to 32 bits.
    pub seconds: u32,
    /// The `*_extra` field: epoch bits 0–1, nanoseconds above.
    pub extra: u32,
}

impl Timestamp {
    /// Earliest representable time (1901-12-13).
    pub const MIN: i64 = -(1 << 31);
    /// Latest representable time plus one (2446-05-10).
    pub const END: i64 = (1 << 34) + (1 << 31);

    /// `secs` since the epoch, or `None` outside [`Self::MIN`,
    /// [`Self::END`]).
    pub fn new(secs: i64) -> Option<Timestamp> {
        if !(Self::MIN..Self::END).contains(&secs) {
            return None;
        }
        // The kernel's encoding: the low 32 bits are read back signed,
        // and the epoch counts the 2^32 steps past that.
        let low = i64::from(u32::try_from(secs.rem_euclid(1 << 32)).ok()?);
        let signed = if low >= 1 << 31 {
            low.checked_sub(1 << 32)?
        } else {
            low
        };
        let epoch = secs.checked_sub(signed)?.checked_div(1 << 32)?;
        Some(Timestamp {
            seconds: u32::try_from(low).ok()?,
            extra: u32::try_from(epoch).ok()? & 3,
        })
    }
}

/// What `i_block` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IBlock {
    /// The block map: 12 direct, single, double, triple indirect.
    Map([u32; N_BLOCKS]),
    /// A fast symlink's target (at most [`FAST_SYMLINK_MAX`] bytes).
    Inline(Vec<u8>),
    /// The root of an extent tree (header and up to four entries),
    /// encoded by [`super::extent`].
    Extents([u8; 60]),
    /// A device number, old (`i_block[0]`) or new (`i_block[1]`)
    /// encoding.
    Device {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
}

impl IBlock {
    /// The 60 bytes of `i_block`.
    pub fn encode(&self) -> [u8; 60] {
        let mut b = [0u8; 60];
        match self {
            IBlock::Map(map) => {
                for (i, blk) in map.iter().enumerate() {
                    put_u32le(&mut b, i.checked_mul(4).unwrap_or(0), *blk);
                }
            }
            IBlock::Inline(target) => put(&mut b, 0, target),
            IBlock::Extents(root) => b = *root,
            IBlock::Device { major, minor } => {
                let (slot, word) = device_word(*major, *minor);
                put_u32le(&mut b, slot, word);
            }
        }
        b
    }
}

/// Where and how the kernel stores a device number (fs/ext4/inode.c,
/// `ext4_write_inode`): major and minor below 256 as `major << 8 | minor`
/// in `i_block[0]`; otherwise `new_encode_dev` in `i_block[1]`.
fn device_word(major: u32, minor: u32) -> (usize, u32) {
    if major < 256 && minor < 256 {
        (0, (major << 8) | minor)
    } else {
        let word =
            (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12);
        (4, word)
    }
}

/// One inode record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inode {
    /// `i_mode`: type and permission bits.
    pub mode: u16,
    /// Owner (low 16 bits in `i_uid`, high in `l_i_uid_high`).
    pub uid: u32,
    /// `i_size_lo` and `i_size_high`.
    pub size: u64,
    /// `i_atime`, `i_ctime`, `i_mtime`, `i_crtime` and their `*_extra`
    /// fields: one time for all four, as a freshly made file has.
    pub time: Timestamp,
    /// Group (low 16 bits in `i_gid`, high in `l_i_gid_high`).
    pub gid: u32,
    /// `i_links_count`.
    pub links_count: u16,
    /// `i_blocks_lo` and, with `huge_file`, `l_i_blocks_high`: 512-byte
    /// sectors held (data, indirect or extent-tree and attribute
    /// blocks); the plan keeps it within 32 bits without `huge_file`.
    pub blocks_512: u64,
    /// `i_flags`: [`EXT4_EXTENTS_FL`] or 0.
    pub flags: u32,
    /// `i_block`.
    pub block: IBlock,
    /// `i_file_acl_lo`: the extended attribute block, or 0.
    pub file_acl: u32,
    /// The in-inode extended attribute area (header, entries, values)
    /// written after the large-inode fields, or empty; see
    /// [`super::xattr`].
    pub xattrs: Vec<u8>,
    /// Whether the large-inode fields are used (`i_extra_isize` =
    /// [`EXTRA_ISIZE`]); mke2fs leaves them out of the bad blocks inode
    /// only.
    pub large: bool,
}

impl Inode {
    /// The inode's bytes (`INODE_SIZE`).
    pub fn encode(&self) -> [u8; 256] {
        let mut b = [0u8; 256];
        let t = self.time;
        put_u16le(&mut b, 0x00, self.mode); // i_mode
        put_u16le(&mut b, 0x02, low16(self.uid)); // i_uid
        put_u32le(&mut b, 0x04, low32(self.size)); // i_size_lo
        put_u32le(&mut b, 0x08, t.seconds); // i_atime
        put_u32le(&mut b, 0x0C, t.seconds); // i_ctime
        put_u32le(&mut b, 0x10, t.seconds); // i_mtime
        put_u32le(&mut b, 0x14, 0); // i_dtime
        put_u16le(&mut b, 0x18, low16(self.gid)); // i_gid
        put_u16le(&mut b, 0x1A, self.links_count); // i_links_count
        put_u32le(&mut b, 0x1C, low32(self.blocks_512)); // i_blocks_lo
        put_u32le(&mut b, 0x20, self.flags); // i_flags
        put_u32le(&mut b, 0x24, 0); // l_i_version
        put(&mut b, 0x28, &self.block.encode()); // i_block[15]
        put_u32le(&mut b, 0x64, 0); // i_generation
        put_u32le(&mut b, 0x68, self.file_acl); // i_file_acl_lo
        put_u32le(&mut b, 0x6C, high32(self.size)); // i_size_high
        put_u32le(&mut b, 0x70, 0); // i_obso_faddr
        let blocks_high = u16::try_from(self.blocks_512 >> 32).unwrap_or(0);
        put_u16le(&mut b, 0x74, blocks_high); // l_i_blocks_high
        put_u16le(&mut b, 0x76, 0); // l_i_file_acl_high
        put_u16le(&mut b, 0x78, high16(self.uid)); // l_i_uid_high
        put_u16le(&mut b, 0x7A, high16(self.gid)); // l_i_gid_high
        put_u16le(&mut b, 0x7C, 0); // l_i_checksum_lo
        if !self.large {
            return b;
        }
        put_u16le(&mut b, 0x80, EXTRA_ISIZE); // i_extra_isize
        put_u16le(&mut b, 0x82, 0); // i_checksum_hi
        put_u32le(&mut b, 0x84, t.extra); // i_ctime_extra
        put_u32le(&mut b, 0x88, t.extra); // i_mtime_extra
        put_u32le(&mut b, 0x8C, t.extra); // i_atime_extra
        put_u32le(&mut b, 0x90, t.seconds); // i_crtime
        put_u32le(&mut b, 0x94, t.extra); // i_crtime_extra

        // 0x98 i_version_hi, 0x9C i_projid: zero.

        // 0xA0: the in-inode extended attributes.
        put(&mut b, XATTR_OFFSET, &self.xattrs);
        b
    }
}

fn low16(v: u32) -> u16 {
    u16::try_from(v & 0xffff).unwrap_or(0)
}

fn high16(v: u32) -> u16 {
    u16::try_from(v >> 16).unwrap_or(0)
}

fn low32(v: u64) -> u32 {
    u32::try_from(v & 0xffff_ffff).unwrap_or(0)
}

fn high32(v: u64) -> u32 {
    u32::try_from(v >> 32).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::super::bytes::{get_u16le, get_u32le};
    use super::*;

    #[test]
    fn timestamps_carry_epoch_bits() {
        let cases: &[(i64, u32, u32)] = &[
            (0, 0, 0),
            (1_700_000_000, 1_700_000_000, 0),
            (-1, 0xffff_ffff, 0),
            (1 << 31, 0x8000_0000, 1),
            ((1 << 32) + 5, 5, 1),
            (Timestamp::MIN, 0x8000_0000, 0),
        ];
        for &(secs, seconds, extra) in cases {
            assert_eq!(
                Timestamp::new(secs),
                Some(Timestamp { seconds, extra }),
                "{secs}"
            );
        }
        assert_eq!(Timestamp::new(Timestamp::END), None);
        assert_eq!(Timestamp::new(Timestamp::MIN - 1), None);
    }

    #[test]
    fn devices_use_old_or_new_encoding() {
        assert_eq!(device_word(4, 1), (0, 0x0401));
        assert_eq!(device_word(259, 0), (4, 0x10300));
        // new_encode_dev(MKDEV(300, 70000)) = 0x70 | 300 << 8 | 0x11100 << 12
        assert_eq!(
            device_word(300, 70000),
            (4, 0x70 | (300 << 8) | (0x11100 << 12))
        );
    }

    #[test]
    fn fields_land_at_their_offsets() {
        let b = Inode {
            mode: 0o100644,
            uid: 70000,
            size: (5 << 32) | 7,
            time: Timestamp::new(100).unwrap(),
            gid: 70001,
            links_count: 2,
            blocks_512: (3 << 32) | 16,
            flags: EXT4_EXTENTS_FL,
            block: IBlock::Map([9; 15]),
            large: true,
            xattrs: Vec::new(),
            file_acl: 0,
        }
        .encode();
        assert_eq!(get_u16le(&b, 0x00), 0o100644);
        assert_eq!(get_u16le(&b, 0x02), 4464); // 70000 - 65536
        assert_eq!(get_u16le(&b, 0x78), 1);
        assert_eq!(get_u16le(&b, 0x7A), 1);
        assert_eq!(get_u32le(&b, 0x04), 7);
        assert_eq!(get_u32le(&b, 0x6C), 5);
        assert_eq!(get_u32le(&b, 0x10), 100);
        assert_eq!(get_u32le(&b, 0x28), 9);
        assert_eq!(get_u32le(&b, 0x60), 9);
        assert_eq!(get_u16le(&b, 0x80), 32);
        assert_eq!(get_u32le(&b, 0x1C), 16);
        assert_eq!(get_u16le(&b, 0x74), 3);
        assert_eq!(get_u32le(&b, 0x20), 0x80000);
    }
}
