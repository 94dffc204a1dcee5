//! Linear ext2 directories: blocks of `ext2_dir_entry_2` records, each
//! `rec_len` a multiple of 4, the last one of a block reaching the
//! block's end.
//!
//! Spec: the kernel's ext4 on-disk format documentation, "Directory
//! Entries", "Linear (Classic) Directories"
//! (<https://www.kernel.org/doc/html/latest/filesystems/ext4/directory.html>,
//! `Documentation/filesystems/ext4/directory.rst`). With the `filetype`
//! feature the name length is one byte and the type the next.
//!
//! Written by hand because no crate makes a file system: `ext4-rs`
//! expects one made by `mkfs.ext4`, writes no journal and handles only
//! extents and 4 KiB blocks, so it cannot make ext2 or ext3.

use super::bytes::{put, put_u16le, put_u32le};

/// `file_type` of a directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FileType {
    /// `EXT2_FT_REG_FILE`.
    Regular = 1,
    /// `EXT2_FT_DIR`.
    Dir = 2,
    /// `EXT2_FT_CHRDEV`.
    CharDev = 3,
    /// `EXT2_FT_BLKDEV`.
    BlockDev = 4,
    /// `EXT2_FT_FIFO`.
    Fifo = 5,
    /// `EXT2_FT_SOCK`.
    Socket = 6,
    /// `EXT2_FT_SYMLINK`.
    Symlink = 7,
}

impl FileType {
    fn code(self) -> u8 {
        match self {
            FileType::Regular => 1,
            FileType::Dir => 2,
            FileType::CharDev => 3,
            FileType::BlockDev => 4,
            FileType::Fifo => 5,
            FileType::Socket => 6,
            FileType::Symlink => 7,
        }
    }
}

/// Longest name an entry holds (`name_len` is one byte).
pub const NAME_MAX: usize = 255;

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// `inode`.
    pub inode: u32,
    /// `name` (1 to [`NAME_MAX`] bytes, checked by the plan).
    pub name: Vec<u8>,
    /// `file_type`.
    pub file_type: FileType,
}

impl DirEntry {
    /// The 8-byte header and the name, rounded up to 4 bytes: the
    /// smallest `rec_len` of this entry.
    pub fn min_rec_len(&self) -> usize {
        // A name is at most 255 bytes, so this cannot overflow.
        let raw = self.name.len().saturating_add(8);
        raw.saturating_add(3) & !3
    }
}

/// The entries of one directory block; [`DirBlock::encode`] stretches
/// the last entry to the block's end, and an empty block is one unused
/// entry (`inode` 0) covering the whole block, as `mke2fs` leaves the
/// spare blocks of `lost+found`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirBlock {
    /// The entries in order.
    pub entries: Vec<DirEntry>,
}

impl DirBlock {
    /// Sum of the entries' minimal record lengths.
    pub fn used(&self) -> usize {
        self.entries
            .iter()
            .fold(0usize, |n, e| n.saturating_add(e.min_rec_len()))
    }

    /// The block's bytes.
    ///
    /// # Panics
    ///
    /// If the entries do not fit in `block_size` (the plan packs them
    /// so that they do).
    pub fn encode(&self, block_size: usize) -> Vec<u8> {
        let mut b = vec![0u8; block_size];
        if self.entries.is_empty() {
            put_u32le(&mut b, 0x0, 0); // inode: unused
            put_u16le(&mut b, 0x4, rec_len(block_size)); // rec_len
            return b;
        }
        let mut off = 0usize;
        let last = self.entries.len().saturating_sub(1);
        for (i, e) in self.entries.iter().enumerate() {
            let len = if i == last {
                block_size.checked_sub(off).expect("entries fit the block")
            } else {
                e.min_rec_len()
            };
            let name_len = u8::try_from(e.name.len()).expect("name <= 255");
            put_u32le(&mut b, off, e.inode); // inode
            put_u16le(&mut b, off.saturating_add(0x4), rec_len(len)); // rec_len
            b[off.saturating_add(0x6)] = name_len; // name_len
            b[off.saturating_add(0x7)] = e.file_type.code(); // file_type
            put(&mut b, off.saturating_add(0x8), &e.name); // name
            off = off.checked_add(len).expect("entries fit the block");
        }
        b
    }
}

/// `rec_len` as stored: blocks are at most 4 KiB here, so it fits.
fn rec_len(len: usize) -> u16 {
    u16::try_from(len).expect("rec_len <= block size <= 4096")
}

/// Pack `entries` into as few blocks of `block_size` as linear
/// directories allow (an entry never spans blocks).
pub fn pack(entries: Vec<DirEntry>, block_size: usize) -> Vec<DirBlock> {
    let mut blocks = Vec::new();
    let mut cur = DirBlock::default();
    let mut used = 0usize;
    for e in entries {
        let need = e.min_rec_len();
        if used.saturating_add(need) > block_size {
            blocks.push(std::mem::take(&mut cur));
            used = 0;
        }
        used = used.saturating_add(need);
        cur.entries.push(e);
    }
    if !cur.entries.is_empty() || blocks.is_empty() {
        blocks.push(cur);
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::super::bytes::{get_u16le, get_u32le};
    use super::*;

    fn entry(inode: u32, name: &str) -> DirEntry {
        DirEntry {
            inode,
            name: name.as_bytes().to_vec(),
            file_type: FileType::Regular,
        }
    }

    #[test]
    fn rec_len_rounds_to_four() {
        let cases = [(".", 12), ("..", 12), ("abcd", 12), ("abcde", 16)];
        for (name, want) in cases {
            assert_eq!(entry(1, name).min_rec_len(), want, "{name}");
        }
        assert_eq!(entry(1, &"x".repeat(255)).min_rec_len(), 264);
    }

    #[test]
    fn last_entry_reaches_the_block_end() {
        let b = DirBlock {
            entries: vec![entry(2, "."), entry(2, ".."), entry(12, "hello")],
        }
        .encode(1024);
        assert_eq!(get_u32le(&b, 0), 2);
        assert_eq!(get_u16le(&b, 4), 12);
        assert_eq!(&b[6..10], &[1, 1, b'.', 0]);
        assert_eq!(get_u16le(&b, 16), 12);
        assert_eq!(get_u32le(&b, 24), 12);
        assert_eq!(get_u16le(&b, 28), 1024 - 24);
        assert_eq!(&b[32..37], b"hello");
        let empty = DirBlock::default().encode(4096);
        assert_eq!(get_u32le(&empty, 0), 0);
        assert_eq!(get_u16le(&empty, 4), 4096);
    }

    #[test]
    fn packing_never_splits_an_entry() {
        // 100 entries of 20 bytes: 51 fit a 1 KiB block.
        let es: Vec<DirEntry> = (0..100)
            .map(|i| entry(i, &format!("entry-{i:05}")))
            .collect();
        let blocks = pack(es, 1024);
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].entries.len(), 51);
        assert!(blocks.iter().all(|b| b.used() <= 1024));
        assert_eq!(pack(Vec::new(), 1024).len(), 1);
    }
}
