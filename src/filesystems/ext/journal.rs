//! The JBD2 journal superblock: the first block of the journal inode
//! (inode 8) of ext3 and ext4. All its fields are big-endian, unlike
//! the rest of the file system.
//!
//! Spec: the kernel's ext4 on-disk format documentation, "Journal
//! (jbd2)", "Super Block"
//! (<https://www.kernel.org/doc/html/latest/filesystems/ext4/journal.html>,
//! `Documentation/filesystems/ext4/journal.rst`). The values are those
//! e2fsprogs 1.47 writes for a new internal journal
//! (`ext2fs_create_journal_superblock2`): a version 2 superblock, one
//! user, the log starting at block 1, sequence 1, `s_start` 0 (the
//! journal is empty, so nothing is replayed), no journal features (the
//! kernel turns checksums on at mount when it wants them), and the file
//! system's UUID. Every other journal block is zero: the image starts
//! as holes, so the writer writes only this block.
//!
//! Written by hand because no crate makes a file system: `ext4-rs`
//! expects one made by `mkfs.ext4` and writes no journal.

/// `h_magic`.
pub const JBD2_MAGIC_NUMBER: u32 = 0xC03B_3998;
/// `h_blocktype` of a version 2 superblock.
pub const JBD2_SUPERBLOCK_V2: u32 = 4;
/// The smallest journal JBD2 accepts (`JBD2_MIN_JOURNAL_BLOCKS`).
pub const MIN_BLOCKS: u32 = 1024;
/// The largest mke2fs makes (`mke2fs -J size=` is refused above it).
pub const MAX_BLOCKS: u32 = 10_240_000;

/// The journal size `ext2fs_default_journal_size` (e2fsprogs 1.47)
/// picks for a file system of `blocks` blocks, or `None` below 2048
/// blocks, where mke2fs makes no journal.
pub fn default_blocks(blocks: u64) -> Option<u32> {
    const K: u64 = 1024;
    Some(match blocks {
        b if b < 2048 => return None,
        b if b < 32 * K => 1024,
        b if b < 256 * K => 4096,
        b if b < 512 * K => 8192,
        b if b < 4096 * K => 16384,
        b if b < 8192 * K => 32768,
        b if b < 16384 * K => 65536,
        b if b < 32768 * K => 131_072,
        _ => 262_144,
    })
}

/// The journal superblock lunforge writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalSuperblock {
    /// `s_blocksize`: the file system's block size.
    pub block_size: u32,
    /// `s_maxlen`: blocks in the journal, this one included.
    pub max_len: u32,
    /// `s_uuid`: the file system's UUID.
    pub uuid: [u8; 16],
}

impl JournalSuperblock {
    /// The bytes the record occupies (the rest of its block is zero).
    pub const SIZE: usize = 1024;

    /// The superblock's bytes.
    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        let mut be = |off: usize, v: u32| put(&mut b, off, &v.to_be_bytes());
        be(0x00, JBD2_MAGIC_NUMBER); // h_magic
        be(0x04, JBD2_SUPERBLOCK_V2); // h_blocktype
        be(0x08, 0); // h_sequence
        be(0x0C, self.block_size); // s_blocksize
        be(0x10, self.max_len); // s_maxlen
        be(0x14, 1); // s_first: the log follows this block
        be(0x18, 1); // s_sequence: first expected commit ID
        be(0x1C, 0); // s_start: 0, the journal is clean
        be(0x20, 0); // s_errno
        be(0x24, 0); // s_feature_compat
        be(0x28, 0); // s_feature_incompat
        be(0x2C, 0); // s_feature_ro_compat
        put(&mut b, 0x30, &self.uuid); // s_uuid
        let mut be = |off: usize, v: u32| put(&mut b, off, &v.to_be_bytes());
        be(0x40, 1); // s_nr_users: the file system itself
        be(0x44, 0); // s_dynsuper
        be(0x48, 0); // s_max_transaction
        be(0x4C, 0); // s_max_trans_data

        // 0x50 s_checksum_type, 0x54 s_num_fc_blks (no fast commit),
        // 0x58 s_head, 0xFC s_checksum (no csum feature), 0x100
        // s_users (unused for an internal journal): zero.
        b
    }

    /// Read the fields back (tests).
    #[cfg(test)]
    pub fn decode(b: &[u8]) -> Option<JournalSuperblock> {
        let be = |off: usize| -> Option<u32> {
            Some(u32::from_be_bytes(
                b.get(off..off.checked_add(4)?)?.try_into().ok()?,
            ))
        };
        if be(0x00)? != JBD2_MAGIC_NUMBER || be(0x04)? != JBD2_SUPERBLOCK_V2 {
            return None;
        }
        Some(JournalSuperblock {
            block_size: be(0x0C)?,
            max_len: be(0x10)?,
            uuid: b.get(0x30..0x40)?.try_into().ok()?,
        })
    }
}

fn put(b: &mut [u8], off: usize, v: &[u8]) {
    super::bytes::put(b, off, v);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_size_by_fs_size() {
        // (blocks, journal blocks): the boundaries of the table.
        let cases = [
            (2047u64, None),
            (2048, Some(1024)),
            (32767, Some(1024)),
            (32768, Some(4096)),
            (262_144, Some(8192)),
            (524_288, Some(16384)),
            (4_194_304, Some(32768)),
            (8_388_608, Some(65536)),
            (16_777_216, Some(131_072)),
            (33_554_432, Some(262_144)),
            (u64::MAX, Some(262_144)),
        ];
        for (blocks, want) in cases {
            assert_eq!(default_blocks(blocks), want, "{blocks}");
        }
    }

    #[test]
    fn fields_are_big_endian_at_their_offsets() {
        let sb = JournalSuperblock {
            block_size: 4096,
            max_len: 16384,
            uuid: [7; 16],
        };
        let b = sb.encode();
        assert_eq!(&b[0..4], &[0xC0, 0x3B, 0x39, 0x98]);
        assert_eq!(&b[4..8], &[0, 0, 0, 4]);
        assert_eq!(&b[0x0C..0x10], &[0, 0, 0x10, 0]);
        assert_eq!(&b[0x10..0x14], &[0, 0, 0x40, 0]);
        assert_eq!(&b[0x14..0x1C], &[0, 0, 0, 1, 0, 0, 0, 1]);
        assert_eq!(&b[0x30..0x40], &[7; 16]);
        assert_eq!(&b[0x40..0x44], &[0, 0, 0, 1]);
        assert_eq!(JournalSuperblock::decode(&b), Some(sb));
    }

    #[test]
    fn a_flipped_magic_bit_is_not_a_journal() {
        let mut b = JournalSuperblock {
            block_size: 1024,
            max_len: 1024,
            uuid: [0; 16],
        }
        .encode();
        b[3] ^= 1;
        assert_eq!(JournalSuperblock::decode(&b), None);
    }
}
