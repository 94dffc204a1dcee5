//! The ext2 superblock: 1024 bytes at byte 1024 of the file system, with
//! backup copies at the start of groups 1 and powers of 3, 5 and 7
//! (`sparse_super`).
//!
//! Spec: the kernel's ext4 on-disk format documentation, "Super Block"
//! (<https://www.kernel.org/doc/html/latest/filesystems/ext4/super.html>,
//! `Documentation/filesystems/ext4/super.rst`). Fields are written in
//! that table's order at its offsets.
//!
//! Written by hand because no crate makes a file system: `ext4-rs`
//! expects one made by `mkfs.ext4`, writes no journal and handles only
//! extents and 4 KiB blocks, so it cannot make ext2 or ext3.

use super::bytes::{put, put_u16le, put_u32le, read_u16le, read_u32le};

/// `s_magic`.
pub const EXT2_SUPER_MAGIC: u16 = 0xEF53;
/// `s_state`: cleanly unmounted.
pub const EXT2_VALID_FS: u16 = 1;
/// `s_errors`: continue on errors.
pub const EXT2_ERRORS_CONTINUE: u16 = 1;
/// `s_rev_level`: dynamic inode sizes, feature words.
pub const EXT2_DYNAMIC_REV: u32 = 1;
/// `s_creator_os`: Linux.
pub const EXT2_OS_LINUX: u32 = 0;
/// `s_def_hash_version`: half MD4, mke2fs's default.
pub const EXT2_HASH_HALF_MD4: u8 = 1;
/// `s_flags`: directory hashes use signed chars (what mke2fs writes on
/// x86; fixed here so the bytes do not depend on the build host).
pub const EXT2_FLAGS_SIGNED_HASH: u32 = 0x0001;
/// `s_default_mount_opts`: `user_xattr` (0x4) and `acl` (0x8), what
/// mke2fs writes by default (the ext4 driver assumes them anyway).
pub const DEFAULT_MOUNT_OPTS: u32 = 0x0004 | 0x0008;

/// `s_jnl_backup_type`: `s_jnl_blocks` holds a copy of the journal
/// inode's `i_block`, `i_size_high` and `i_size`.
pub const EXT3_JNL_BACKUP_BLOCKS: u8 = 1;
/// `s_checksum_type`: crc32c.
pub const EXT4_CRC32C_CHKSUM: u8 = 1;

/// `s_feature_compat` bits we set.
pub mod compat {
    /// `EXT3_FEATURE_COMPAT_HAS_JOURNAL`: a journal in inode 8.
    pub const HAS_JOURNAL: u32 = 0x0004;
    /// `EXT2_FEATURE_COMPAT_EXT_ATTR`: extended attributes.
    pub const EXT_ATTR: u32 = 0x0008;
    /// `EXT2_FEATURE_COMPAT_DIR_INDEX`: directories may be hashed
    /// b-trees. Ours are linear, which the feature allows; the kernel
    /// indexes a directory when it grows past one block.
    pub const DIR_INDEX: u32 = 0x0020;
}

/// `s_feature_incompat` bits.
pub mod incompat {
    /// `EXT2_FEATURE_INCOMPAT_FILETYPE`: directory entries carry the
    /// file type.
    pub const FILETYPE: u32 = 0x0002;
    /// `EXT4_FEATURE_INCOMPAT_EXTENTS`: inodes may map with extents.
    pub const EXTENTS: u32 = 0x0040;
    /// `EXT4_FEATURE_INCOMPAT_FLEX_BG`: group metadata may lie outside
    /// its group.
    pub const FLEX_BG: u32 = 0x0200;
}

/// `s_feature_ro_compat` bits.
pub mod ro_compat {
    /// `EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER`: backups only in groups 0,
    /// 1 and powers of 3, 5, 7.
    pub const SPARSE_SUPER: u32 = 0x0001;
    /// `EXT2_FEATURE_RO_COMPAT_LARGE_FILE`: files of 2 GiB and more.
    pub const LARGE_FILE: u32 = 0x0002;
    /// `EXT4_FEATURE_RO_COMPAT_HUGE_FILE`: `i_blocks` has 48 bits.
    pub const HUGE_FILE: u32 = 0x0008;
    /// `EXT4_FEATURE_RO_COMPAT_DIR_NLINK`: a directory of more than
    /// 65000 subdirectories has a link count of 1.
    pub const DIR_NLINK: u32 = 0x0020;
    /// `EXT4_FEATURE_RO_COMPAT_EXTRA_ISIZE`: inodes keep
    /// `s_min_extra_isize` bytes of large fields.
    pub const EXTRA_ISIZE: u32 = 0x0040;
    /// `EXT4_FEATURE_RO_COMPAT_METADATA_CSUM`: crc32c checksums on all
    /// metadata.
    pub const METADATA_CSUM: u32 = 0x0400;
}

/// The fields of the superblock that lunforge sets; everything else is
/// zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superblock {
    /// `s_inodes_count`.
    pub inodes_count: u32,
    /// `s_blocks_count_lo`.
    pub blocks_count: u32,
    /// `s_r_blocks_count_lo`: reserved for root.
    pub r_blocks_count: u32,
    /// `s_free_blocks_count_lo`.
    pub free_blocks_count: u32,
    /// `s_free_inodes_count`.
    pub free_inodes_count: u32,
    /// `s_first_data_block`: 1 for 1 KiB blocks, else 0.
    pub first_data_block: u32,
    /// `s_log_block_size`: block size is `1024 << this`.
    pub log_block_size: u32,
    /// `s_blocks_per_group`.
    pub blocks_per_group: u32,
    /// `s_inodes_per_group`.
    pub inodes_per_group: u32,
    /// `s_wtime`, `s_lastcheck`, `s_mkfs_time`: the build's time (low
    /// 32 bits). `s_mtime`, the last mount, stays 0 as mke2fs leaves it:
    /// the file system has never been mounted.
    pub time: u32,
    /// `s_first_ino`: first non-reserved inode.
    pub first_ino: u32,
    /// `s_inode_size`.
    pub inode_size: u16,
    /// `s_block_group_nr`: the group holding this copy.
    pub block_group_nr: u16,
    /// `s_state`: [`EXT2_VALID_FS`] in the primary copy, 0 in the
    /// backups (e2fsprogs' `ext2fs_flush` clears the flag while writing
    /// them, so a backup is checked when it is used).
    pub state: u16,
    /// `s_feature_compat`.
    pub feature_compat: u32,
    /// `s_feature_incompat`.
    pub feature_incompat: u32,
    /// `s_feature_ro_compat`.
    pub feature_ro_compat: u32,
    /// `s_uuid`.
    pub uuid: [u8; 16],
    /// `s_volume_name`, NUL-padded.
    pub volume_name: [u8; 16],
    /// `s_hash_seed`.
    pub hash_seed: [u8; 16],
    /// `s_min_extra_isize` and `s_want_extra_isize`.
    pub extra_isize: u16,
    /// `s_overhead_clusters`: blocks that are never data (the metadata
    /// of every group, and block 0 below a 1 KiB first data block), as
    /// mke2fs 1.47 records it.
    pub overhead_clusters: u32,
    /// `s_journal_inum`: 8 with a journal, else 0.
    pub journal_inum: u32,
    /// `s_jnl_blocks` (the journal inode's `i_block`, then `i_size_high`
    /// and `i_size`) and `s_jnl_backup_type`; zero without a journal.
    pub jnl_blocks: [u32; 17],
    /// `s_log_groups_per_flex` (with `flex_bg`), else 0.
    pub log_groups_per_flex: u8,
}

impl Superblock {
    /// The record's size on disk.
    pub const SIZE: usize = 1024;
    /// Its byte offset from the start of the file system.
    pub const OFFSET: u64 = 1024;

    /// The 1024 bytes of the superblock.
    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        put_u32le(&mut b, 0x00, self.inodes_count); // s_inodes_count
        put_u32le(&mut b, 0x04, self.blocks_count); // s_blocks_count_lo
        put_u32le(&mut b, 0x08, self.r_blocks_count); // s_r_blocks_count_lo
        let free = self.free_blocks_count;
        put_u32le(&mut b, 0x0C, free); // s_free_blocks_count_lo
        put_u32le(&mut b, 0x10, self.free_inodes_count); // s_free_inodes_count
        put_u32le(&mut b, 0x14, self.first_data_block); // s_first_data_block
        put_u32le(&mut b, 0x18, self.log_block_size); // s_log_block_size
        put_u32le(&mut b, 0x1C, self.log_block_size); // s_log_cluster_size
        put_u32le(&mut b, 0x20, self.blocks_per_group); // s_blocks_per_group
        put_u32le(&mut b, 0x24, self.blocks_per_group); // s_clusters_per_group
        put_u32le(&mut b, 0x28, self.inodes_per_group); // s_inodes_per_group
        put_u32le(&mut b, 0x2C, 0); // s_mtime: never mounted
        put_u32le(&mut b, 0x30, self.time); // s_wtime
        put_u16le(&mut b, 0x34, 0); // s_mnt_count
        put_u16le(&mut b, 0x36, 0xFFFF); // s_max_mnt_count: -1, unchecked
        put_u16le(&mut b, 0x38, EXT2_SUPER_MAGIC); // s_magic
        put_u16le(&mut b, 0x3A, self.state); // s_state
        put_u16le(&mut b, 0x3C, EXT2_ERRORS_CONTINUE); // s_errors
        put_u16le(&mut b, 0x3E, 0); // s_minor_rev_level
        put_u32le(&mut b, 0x40, self.time); // s_lastcheck
        put_u32le(&mut b, 0x44, 0); // s_checkinterval
        put_u32le(&mut b, 0x48, EXT2_OS_LINUX); // s_creator_os
        put_u32le(&mut b, 0x4C, EXT2_DYNAMIC_REV); // s_rev_level
        put_u16le(&mut b, 0x50, 0); // s_def_resuid
        put_u16le(&mut b, 0x52, 0); // s_def_resgid
        put_u32le(&mut b, 0x54, self.first_ino); // s_first_ino
        put_u16le(&mut b, 0x58, self.inode_size); // s_inode_size
        put_u16le(&mut b, 0x5A, self.block_group_nr); // s_block_group_nr
        put_u32le(&mut b, 0x5C, self.feature_compat); // s_feature_compat
        put_u32le(&mut b, 0x60, self.feature_incompat); // s_feature_incompat
        put_u32le(&mut b, 0x64, self.feature_ro_compat); // s_feature_ro_compat
        put(&mut b, 0x68, &self.uuid); // s_uuid
        put(&mut b, 0x78, &self.volume_name); // s_volume_name

        // 0x88 s_last_mounted, 0xC8 s_algorithm_usage_bitmap, 0xCC
        // s_prealloc_blocks, 0xCD s_prealloc_dir_blocks, 0xCE
        // s_reserved_gdt_blocks (no resize_inode), 0xD0..0xEC the journal
        // fields and s_last_orphan: all zero.
        // 0xD0 s_journal_uuid, 0xE4 s_journal_dev, 0xE8 s_last_orphan:
        // zero (the journal is internal).
        put_u32le(&mut b, 0xE0, self.journal_inum); // s_journal_inum
        put(&mut b, 0xEC, &self.hash_seed); // s_hash_seed[4], as given
        b[0xFC] = EXT2_HASH_HALF_MD4; // s_def_hash_version
        if self.journal_inum != 0 {
            b[0xFD] = EXT3_JNL_BACKUP_BLOCKS; // s_jnl_backup_type
        }

        // 0xFE s_desc_size (0: 32-byte descriptors): zero.
        put_u32le(&mut b, 0x100, DEFAULT_MOUNT_OPTS); // s_default_mount_opts
        put_u32le(&mut b, 0x104, 0); // s_first_meta_bg
        put_u32le(&mut b, 0x108, self.time); // s_mkfs_time
        for (i, w) in self.jnl_blocks.iter().enumerate() {
            let off = i.saturating_mul(4).saturating_add(0x10C);
            put_u32le(&mut b, off, *w); // s_jnl_blocks[17]
        }

        // 0x150 s_*_hi: zero.
        put_u16le(&mut b, 0x15C, self.extra_isize); // s_min_extra_isize
        put_u16le(&mut b, 0x15E, self.extra_isize); // s_want_extra_isize
        put_u32le(&mut b, 0x160, EXT2_FLAGS_SIGNED_HASH); // s_flags

        // 0x164 .. 0x174: RAID and MMP fields: zero.
        b[0x174] = self.log_groups_per_flex; // s_log_groups_per_flex
        if self.feature_ro_compat & ro_compat::METADATA_CSUM != 0 {
            b[0x175] = EXT4_CRC32C_CHKSUM; // s_checksum_type
        }

        // 0x176 .. 0x248: snapshot, error, quota and encryption
        // fields: zero.
        put_u32le(&mut b, 0x248, self.overhead_clusters); // s_overhead_clusters

        // 0x3FC s_checksum: the writer seals the copy it writes (with
        // `metadata_csum`), since the backups differ in
        // `s_block_group_nr` and `s_state`.
        b
    }

    /// Read a superblock back (`lunforge inspect`, tests); `None` when
    /// the magic is not there. Fields lunforge does not set are not
    /// read.
    pub fn decode(b: &[u8; Self::SIZE]) -> Option<Superblock> {
        let u32_at = |off| read_u32le(b, off);
        let u16_at = |off| read_u16le(b, off);
        if u16_at(0x38)? != EXT2_SUPER_MAGIC {
            return None;
        }
        let bytes16 = |off: usize| -> Option<[u8; 16]> {
            b.get(off..off.checked_add(16)?)?.try_into().ok()
        };
        let mut jnl_blocks = [0u32; 17];
        for (i, w) in jnl_blocks.iter_mut().enumerate() {
            *w = u32_at(i.checked_mul(4)?.checked_add(0x10C)?)?;
        }
        Some(Superblock {
            inodes_count: u32_at(0x00)?,
            blocks_count: u32_at(0x04)?,
            r_blocks_count: u32_at(0x08)?,
            free_blocks_count: u32_at(0x0C)?,
            free_inodes_count: u32_at(0x10)?,
            first_data_block: u32_at(0x14)?,
            log_block_size: u32_at(0x18)?,
            blocks_per_group: u32_at(0x20)?,
            inodes_per_group: u32_at(0x28)?,
            time: u32_at(0x30)?,
            first_ino: u32_at(0x54)?,
            inode_size: u16_at(0x58)?,
            block_group_nr: u16_at(0x5A)?,
            state: u16_at(0x3A)?,
            feature_compat: u32_at(0x5C)?,
            feature_incompat: u32_at(0x60)?,
            feature_ro_compat: u32_at(0x64)?,
            uuid: bytes16(0x68)?,
            volume_name: bytes16(0x78)?,
            hash_seed: bytes16(0xEC)?,
            extra_isize: u16_at(0x15C)?,
            overhead_clusters: u32_at(0x248)?,
            journal_inum: u32_at(0xE0)?,
            jnl_blocks,
            log_groups_per_flex: *b.get(0x174)?,
        })
    }

    /// `ext4` with extents, else `ext3` with a journal, else `ext2`: the
    /// name `blkid` gives such a file system.
    pub fn kind_name(&self) -> &'static str {
        if self.feature_incompat & incompat::EXTENTS != 0 {
            "ext4"
        } else if self.feature_compat & compat::HAS_JOURNAL != 0 {
            "ext3"
        } else {
            "ext2"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::bytes::{get_u16le, get_u32le};
    use super::*;

    #[test]
    fn fields_land_at_their_offsets() {
        let sb = Superblock {
            inodes_count: 0x1111,
            blocks_count: 0x2222,
            r_blocks_count: 0x33,
            free_blocks_count: 0x44,
            free_inodes_count: 0x55,
            first_data_block: 1,
            log_block_size: 2,
            blocks_per_group: 8192,
            inodes_per_group: 2048,
            time: 1_700_000_000,
            first_ino: 11,
            inode_size: 256,
            block_group_nr: 3,
            state: EXT2_VALID_FS,
            feature_compat: 0,
            feature_incompat: incompat::FILETYPE,
            feature_ro_compat: ro_compat::SPARSE_SUPER | ro_compat::LARGE_FILE,
            uuid: [0xAB; 16],
            volume_name: *b"root\0\0\0\0\0\0\0\0\0\0\0\0",
            hash_seed: *b"0123456789abcdef",
            extra_isize: 32,
            overhead_clusters: 517,
            journal_inum: 8,
            jnl_blocks: [3; 17],
            log_groups_per_flex: 4,
        };
        let b = sb.encode();
        assert_eq!(get_u32le(&b, 0x00), 0x1111);
        assert_eq!(get_u32le(&b, 0x04), 0x2222);
        assert_eq!(get_u32le(&b, 0x18), 2);
        assert_eq!(get_u32le(&b, 0x1C), 2);
        assert_eq!(get_u16le(&b, 0x38), 0xEF53);
        assert_eq!(get_u16le(&b, 0x3A), 1);
        assert_eq!(get_u32le(&b, 0x4C), 1);
        assert_eq!(get_u16le(&b, 0x58), 256);
        assert_eq!(get_u16le(&b, 0x5A), 3);
        assert_eq!(get_u32le(&b, 0x60), 2);
        assert_eq!(get_u32le(&b, 0x64), 3);
        assert_eq!(&b[0x68..0x78], &[0xAB; 16]);
        assert_eq!(&b[0x78..0x7C], b"root");
        assert_eq!(&b[0xEC..0xFC], b"0123456789abcdef");
        assert_eq!(b[0xFC], 1);
        assert_eq!(get_u32le(&b, 0x108), 1_700_000_000);
        assert_eq!(get_u16le(&b, 0x15E), 32);
        assert_eq!(get_u32le(&b, 0x100), 0xC);
        assert_eq!(get_u32le(&b, 0x248), 517);
        assert_eq!(get_u32le(&b, 0x2C), 0);
        assert_eq!(get_u32le(&b, 0xE0), 8);
        assert_eq!(b[0xFD], 1);
        assert_eq!(get_u32le(&b, 0x10C), 3);
        assert_eq!(get_u32le(&b, 0x14C), 3);
        assert_eq!(get_u32le(&b, 0x150), 0);
        assert_eq!(b[0x174], 4);
        assert_eq!(b[0x175], 0);
        assert_eq!(get_u32le(&b, 0x3FC), 0);
        assert_eq!(Superblock::decode(&b), Some(sb.clone()));
        assert_eq!(sb.kind_name(), "ext2");
        let with = |compat, incompat| Superblock {
            feature_compat: compat,
            feature_incompat: incompat,
            ..sb.clone()
        };
        assert_eq!(with(compat::HAS_JOURNAL, 0).kind_name(), "ext3");
        let ext4 = with(compat::HAS_JOURNAL, incompat::EXTENTS);
        assert_eq!(ext4.kind_name(), "ext4");
        let mut bad = b;
        bad[0x38] ^= 1;
        assert_eq!(Superblock::decode(&bad), None);
    }
}
