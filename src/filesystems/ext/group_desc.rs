//! The ext2 block group descriptor: 32 bytes per group, in a table that
//! follows each copy of the superblock.
//!
//! Spec: the kernel's ext4 on-disk format documentation, "Block Group
//! Descriptors"
//! (<https://www.kernel.org/doc/html/latest/filesystems/ext4/group_descr.html>,
//! `Documentation/filesystems/ext4/group_descr.rst`). Without the
//! `64bit` feature the descriptor is the 32-byte `ext2_group_desc`.
//!
//! Written by hand because no crate makes a file system: `ext4-rs`
//! expects one made by `mkfs.ext4`, writes no journal and handles only
//! extents and 4 KiB blocks, so it cannot make ext2 or ext3.

use super::bytes::{put_u16le, put_u32le};

/// `bg_flags`: the inode table is zeroed. True of what we write (the
/// target reads as zeros where nothing is written), and what mke2fs
/// sets.
pub const EXT4_BG_INODE_ZEROED: u16 = 0x0004;
/// `bg_flags`: no inode of the group is in use; its inode table and
/// bitmap are not read (with `metadata_csum` or `uninit_bg`).
pub const EXT4_BG_INODE_UNINIT: u16 = 0x0001;
/// `bg_flags`: no block of the group is in use; its block bitmap is not
/// read but computed from the group's metadata (with `metadata_csum`
/// or `uninit_bg`).
pub const EXT4_BG_BLOCK_UNINIT: u16 = 0x0002;

/// One group's descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupDesc {
    /// `bg_block_bitmap_lo`.
    pub block_bitmap: u32,
    /// `bg_inode_bitmap_lo`.
    pub inode_bitmap: u32,
    /// `bg_inode_table_lo`.
    pub inode_table: u32,
    /// `bg_free_blocks_count_lo`.
    pub free_blocks_count: u16,
    /// `bg_free_inodes_count_lo`.
    pub free_inodes_count: u16,
    /// `bg_used_dirs_count_lo`.
    pub used_dirs_count: u16,
    /// `bg_flags`.
    pub flags: u16,
    /// `bg_itable_unused_lo`: inodes at the table's end never used
    /// (with `metadata_csum`; else 0).
    pub itable_unused: u16,
}

impl GroupDesc {
    /// The record's size (no `64bit` feature).
    pub const SIZE: usize = 32;

    /// The 32 bytes of the descriptor.
    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        put_u32le(&mut b, 0x00, self.block_bitmap); // bg_block_bitmap_lo
        put_u32le(&mut b, 0x04, self.inode_bitmap); // bg_inode_bitmap_lo
        put_u32le(&mut b, 0x08, self.inode_table); // bg_inode_table_lo
        put_u16le(&mut b, 0x0C, self.free_blocks_count); // bg_free_blocks_count
        put_u16le(&mut b, 0x0E, self.free_inodes_count); // bg_free_inodes_count
        put_u16le(&mut b, 0x10, self.used_dirs_count); // bg_used_dirs_count_lo
        put_u16le(&mut b, 0x12, self.flags); // bg_flags

        // 0x14 bg_exclude_bitmap_lo: zero (no snapshots).
        // 0x18 bg_block_bitmap_csum_lo, 0x1A bg_inode_bitmap_csum_lo:
        // the writer fills them with `metadata_csum`.
        put_u16le(&mut b, 0x1C, self.itable_unused); // bg_itable_unused_lo

        // 0x1E bg_checksum: the writer seals the descriptor with
        // `metadata_csum`.
        b
    }
}

#[cfg(test)]
mod tests {
    use super::super::bytes::{get_u16le, get_u32le};
    use super::*;

    #[test]
    fn fields_land_at_their_offsets() {
        let b = GroupDesc {
            block_bitmap: 3,
            inode_bitmap: 4,
            inode_table: 5,
            free_blocks_count: 0x1234,
            free_inodes_count: 0x5678,
            used_dirs_count: 9,
            flags: EXT4_BG_INODE_ZEROED,
            itable_unused: 0x77,
        }
        .encode();
        assert_eq!(get_u32le(&b, 0x00), 3);
        assert_eq!(get_u32le(&b, 0x04), 4);
        assert_eq!(get_u32le(&b, 0x08), 5);
        assert_eq!(get_u16le(&b, 0x0C), 0x1234);
        assert_eq!(get_u16le(&b, 0x0E), 0x5678);
        assert_eq!(get_u16le(&b, 0x10), 9);
        assert_eq!(get_u16le(&b, 0x12), 4);
        assert_eq!(&b[0x14..0x1C], &[0u8; 8]);
        assert_eq!(get_u16le(&b, 0x1C), 0x77);
        assert_eq!(&b[0x1E..], &[0u8; 2]);
    }
}
