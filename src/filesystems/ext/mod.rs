//! The ext2/ext3/ext4 writer: from the tree to the bytes of a file
//! system of revision 1 with 256-byte inodes, as `mke2fs -d` with the
//! stock `/etc/mke2fs.conf` would make it, minus what is left out below.
//!
//! - **ext2**: mke2fs.conf's `base_features` but `resize_inode`:
//!   `sparse_super`, `large_file`, `filetype`, `ext_attr` (attributes
//!   in the inode or an attribute block) and `dir_index`; the classic
//!   block map. A directory of one block is linear; a bigger one is
//!   hashed ([`htree`]: half-MD4 seeded by `s_hash_seed`, a root over
//!   the leaves, one level of nodes between when needed), as the kernel
//!   indexes a directory past one block and as `e2fsck -fy` would
//!   otherwise re-index every linear one of three blocks or more
//!   (`lost+found` stays linear, as e2fsck keeps it). The hash flag in
//!   `s_flags` is fixed to signed, mke2fs's choice on x86.
//! - **ext3**: ext2 with `has_journal`: a JBD2 journal in inode 8
//!   ([`journal`]), sized as e2fsprogs' default for the file system's
//!   size, block-mapped right after `lost+found` where mke2fs puts it,
//!   its `i_block` and size backed up in `s_jnl_blocks`.
//! - **ext4**: ext3 with `extent` ([`extent`]: depth 0 up to four
//!   extents, a tree below, at most 32768 blocks an extent),
//!   `flex_bg` (16 groups, tables packed as mke2fs packs them:
//!   [`flex`]), `huge_file`, `dir_nlink`, `extra_isize` (32) and
//!   `metadata_csum` (crc32c over the superblock, descriptors, bitmaps,
//!   inodes, directory leaf tails, extent tails and attribute blocks:
//!   [`csum`], with the `dx_tail` of index blocks); the group flags
//!   are those e2fsprogs' `ext2fs_set_gdt_csum` recomputes on every
//!   flush: groups without inodes are `INODE_UNINIT`, every group but
//!   the last with all its blocks free `BLOCK_UNINIT` (their bitmaps,
//!   like mke2fs's, unwritten and with zero checksums), and
//!   `bg_itable_unused` counts the never-used inodes of each. The
//!   journal goes mid-disk, where mke2fs's `get_midpoint_journal_block`
//!   puts an extent-mapped one; mke2fs sets no journal checksum feature
//!   on a new journal, and neither does this writer.
//!
//! Left out: `resize_inode` (no reserved descriptor blocks, so an image
//! cannot be grown online past its descriptor table's last block;
//! offline `resize2fs` still works), `64bit` (32-byte descriptors: up to
//! 2^32 blocks, 16 TiB at 4 KiB), `largedir` (so an index has at most
//! one level of nodes: about 500 × 500 leaves at 4 KiB, 120 × 120 at
//! 1 KiB; a bigger directory is refused), `BLOCK_UNINIT` on groups that
//! hold only a superblock backup (mke2fs sets it there too, e2fsck
//! does not ask for it), `orphan_file` and the lifetime-writes
//! counter.
//!
//! All-zero blocks of a file are holes, as with `mke2fs -d`: [`holes`]
//! finds them in one read of the contents before the plan.
//!
//! Spec: the kernel's ext4 on-disk format documentation
//! (<https://www.kernel.org/doc/html/latest/filesystems/ext4/>,
//! `Documentation/filesystems/ext4/` in the kernel tree), which also
//! describes ext2 and ext3. One file per record: [`superblock`],
//! [`group_desc`], [`inode`], [`dir`], [`htree`], [`bitmap`], [`xattr`],
//! [`journal`], [`extent`], plus [`csum`] for the checksums and
//! [`flex`] for table placement; [`layout::plan`] is the plan (no
//! output I/O) and [`write()`] executes it.
//!
//! Written by hand because no crate makes such a file system from a
//! tree: `ext4-rs` (`ext4_rs` 1.3) opens an image already made by
//! `mkfs.ext4`, writes no journal and handles only extents and 4 KiB
//! blocks, so it can make neither ext2 nor ext3, and it serves no part
//! of this writer. `ext4-mkfs` and `ext4-lwext4` do make ext2/3/4, but
//! by compiling the C library lwext4 behind FFI, and only an empty file
//! system that lwext4's file API must then fill; `rsext4` likewise
//! formats a fixed-block-size ext4 to fill through its own file API.
//! Block and inode placement would be theirs, not a plan we can test.
//! Running `mke2fs -d` would need the tree materialised on the host
//! (owners and device nodes need root) and a host tool of the right
//! version.
//!
//! # Determinism
//!
//! The bytes are a function of the tree and [`ExtParams`] alone: the
//! UUID, hash seed and time come in as parameters, inode numbers and
//! blocks follow tree order, every inode time is the file's mtime
//! clamped to the build's time, and the journal, checksums and group
//! flags follow from those. The tests write twice, to two paths, and
//! compare.
//!
//! # The output
//!
//! [`write()`] writes only what the plan allocates (superblock and
//! descriptor copies, bitmaps, the used part of each inode table,
//! directories, indirect, extent and attribute blocks, the journal
//! superblock, file data), in increasing block order, gathering
//! contiguous blocks into writes of up to 4 MiB. Everything else,
//! including the rest of the journal, must read as zeros: the caller
//! hands in a file of the full size made with `set_len` (unwritten
//! ranges are holes) or a zeroed device. Memory holds the plan (one
//! bitmap pair per group, the used inodes, directory entries) but never
//! file data beyond one 4 MiB gathering buffer.
//!
//! For an empty tree an ext2 or ext3 image is byte for byte the one
//! `mke2fs` makes with the same choices; every image passes `e2fsck
//! -fn`, mounts, and reads back through `debugfs` (the integration
//! tests, `tests/integration/ext_features.rs`, run them all).

#![deny(clippy::arithmetic_side_effects, clippy::as_conversions)]

pub mod bitmap;
mod bytes;
pub mod csum;
pub mod dir;
pub mod extent;
pub mod flex;
pub mod group_desc;
pub mod holes;
pub mod htree;
pub mod inode;
pub mod journal;
pub mod layout;
pub mod superblock;
mod writer;
pub mod xattr;

use crate::tree::GuestPath;

pub use layout::{plan, plan_with, ExtLayout};
pub use writer::write;

/// Which member of the family to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExtKind {
    /// ext2: no journal, block maps.
    Ext2,
    /// ext3: ext2 and a JBD2 journal (inode 8).
    Ext3,
    /// ext4: ext3, extents, `flex_bg`, checksums and the rest of
    /// mke2fs.conf's `ext4` feature list but `64bit`.
    Ext4,
}

impl ExtKind {
    /// Whether the kind has a journal.
    pub fn has_journal(self) -> bool {
        self != ExtKind::Ext2
    }

    /// Its name, as `mke2fs -t` spells it.
    pub fn name(self) -> &'static str {
        match self {
            ExtKind::Ext2 => "ext2",
            ExtKind::Ext3 => "ext3",
            ExtKind::Ext4 => "ext4",
        }
    }
}

impl std::fmt::Display for ExtKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ExtKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<ExtKind> {
        match s {
            "ext2" => Ok(ExtKind::Ext2),
            "ext3" => Ok(ExtKind::Ext3),
            "ext4" => Ok(ExtKind::Ext4),
            _ => Err(Error::Kind { name: s.into() }),
        }
    }
}

/// What the file system is made with. [`ExtParams::new`] fills in the
/// defaults of mke2fs.conf for the size; an operator may then override
/// the public fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtParams {
    /// ext2, ext3 or ext4.
    pub kind: ExtKind,
    /// Size of the file system in bytes (rounded down to whole blocks).
    pub size: u64,
    /// Block size: 1024, 2048 or 4096 (mke2fs.conf: 1024 for its
    /// `floppy` and `small` size types, below 512 MiB, else 4096).
    pub block_size: u32,
    /// Bytes of file system per inode (`mke2fs -i`; mke2fs.conf's
    /// `inode_ratio` for the size type, see [`layout::inode_ratio`]).
    pub inode_ratio: u64,
    /// The inode count asked for (`mke2fs -N`), instead of the ratio;
    /// rounded up to fill whole inode-table blocks in every group.
    pub inodes: Option<u32>,
    /// Percent of the blocks reserved for root (`mke2fs -m`; 5).
    pub reserved_percent: u8,
    /// Journal blocks (`mke2fs -J size=`) instead of the size
    /// e2fsprogs' `ext2fs_default_journal_size` picks; ext3 and ext4.
    pub journal_blocks: Option<u32>,
    /// `s_uuid`.
    pub uuid: [u8; 16],
    /// `s_volume_name`: at most 16 bytes.
    pub label: String,
    /// `s_hash_seed`.
    pub hash_seed: [u8; 16],
    /// The build's time (`SOURCE_DATE_EPOCH`): superblock times, and the
    /// upper bound of every inode time.
    pub time: i64,
}

impl ExtParams {
    /// The parameters mke2fs 1.47 with its stock `/etc/mke2fs.conf`
    /// would choose for a `size`-byte file system of `kind`: block size
    /// and inode ratio by size type, 5 % reserved, the default journal.
    pub fn new(
        kind: ExtKind,
        size: u64,
        uuid: [u8; 16],
        label: &str,
        hash_seed: [u8; 16],
        time: i64,
    ) -> ExtParams {
        ExtParams {
            kind,
            size,
            block_size: layout::default_block_size(size),
            inode_ratio: layout::inode_ratio(size),
            inodes: None,
            reserved_percent: 5,
            journal_blocks: None,
            uuid,
            label: label.into(),
            hash_seed,
            time,
        }
    }
}

/// Errors of the ext2 writer; each names its evidence.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A directory with more entries than a two-level index holds.
    #[error(
        "{path}: {entries} entries are more than an indexed directory \
         holds here"
    )]
    DirTooLarge {
        /// The directory.
        path: GuestPath,
        /// Its entries.
        entries: usize,
    },
    /// A name that is not one of the family.
    #[error("unknown file system type {name:?}: use ext2, ext3 or ext4")]
    Kind {
        /// The name given.
        name: String,
    },
    /// A parameter outside what mke2fs accepts.
    #[error("{what} = {value} is out of range: {range}")]
    Param {
        /// Which parameter.
        what: &'static str,
        /// Its value.
        value: u64,
        /// What is accepted.
        range: &'static str,
    },
    /// A journal that does not fit or is too small.
    #[error(
        "a journal of {blocks} blocks does not fit: it needs {min} to \
         {max} blocks and a contiguous run in the free space"
    )]
    Journal {
        /// Blocks asked for.
        blocks: u64,
        /// JBD2's minimum.
        min: u64,
        /// The most this file system takes.
        max: u64,
    },
    /// The block size is not one ext2 is written with here.
    #[error(
        "block size {block_size} is not supported: use 1024, 2048 or 4096"
    )]
    BlockSize {
        /// The size asked for.
        block_size: u32,
    },
    /// Too small to hold the metadata.
    #[error(
        "{size} bytes ({blocks} blocks) are too small for an ext2 file system"
    )]
    TooSmall {
        /// Bytes asked for.
        size: u64,
        /// Blocks that gives.
        blocks: u64,
    },
    /// Too large for ext2 without `64bit`/`meta_bg`.
    #[error("{size} bytes are too large for ext2: {reason}")]
    TooLarge {
        /// Bytes asked for.
        size: u64,
        /// Which limit.
        reason: &'static str,
    },
    /// The label does not fit `s_volume_name`.
    #[error("label {label:?} is longer than 16 bytes")]
    Label {
        /// The label.
        label: String,
    },
    /// The build time does not fit the superblock's 32-bit times.
    #[error(
        "build time {time} is outside 1970..2106, which the superblock \
         can hold"
    )]
    BuildTime {
        /// The time.
        time: i64,
    },
    /// The tree's data does not fit.
    #[error(
        "the tree needs {needed} blocks of {block_size} bytes but the file \
         system has {available} free"
    )]
    NoSpace {
        /// Data and indirect blocks needed.
        needed: u64,
        /// Blocks outside the metadata.
        available: u64,
        /// Block size.
        block_size: u32,
    },
    /// The tree has more inodes than the file system.
    #[error(
        "the tree needs {needed} inodes but the file system has {available}"
    )]
    NoInodes {
        /// Highest inode number needed.
        needed: u64,
        /// `s_inodes_count`.
        available: u64,
    },
    /// A name longer than a directory entry holds.
    #[error("{path}: name of {len} bytes is longer than 255")]
    NameTooLong {
        /// The path.
        path: GuestPath,
        /// Its name's length.
        len: usize,
    },
    /// Extended attributes that do not fit one attribute block.
    #[error(
        "{path}: extended attributes need {needed} bytes, more than a \
         {available}-byte attribute block holds"
    )]
    XattrsTooLarge {
        /// The path.
        path: GuestPath,
        /// Bytes the set needs.
        needed: usize,
        /// Bytes the inode has.
        available: usize,
    },
    /// An attribute name with no prefix ext2 stores.
    #[error(
        "{path}: extended attribute {name:?} has no prefix ext2 stores \
         (user., trusted., security., system.)"
    )]
    XattrName {
        /// The path.
        path: GuestPath,
        /// The name.
        name: String,
    },
    /// A POSIX ACL, which ext2 stores in a format of its own.
    #[error(
        "{path}: {name} is not a well-formed POSIX ACL (version 2, entries \
         of tag, permissions and id)"
    )]
    XattrAcl {
        /// The path.
        path: GuestPath,
        /// The attribute's name.
        name: String,
    },
    /// A symlink target that is empty or does not fit one block.
    #[error(
        "{path}: symlink target of {len} bytes is empty or longer than {max}"
    )]
    SymlinkTooLong {
        /// The symlink.
        path: GuestPath,
        /// Target length.
        len: usize,
        /// Longest allowed.
        max: usize,
    },
    /// A file beyond the block map's reach or 2^32 sectors.
    #[error("{path}: {size} bytes are more than an ext2 block map holds")]
    FileTooLarge {
        /// The file.
        path: GuestPath,
        /// Its size, in whole blocks.
        size: u64,
    },
    /// More links than `i_links_count` holds.
    #[error("{path}: {links} links, more than 65000")]
    TooManyLinks {
        /// The inode's first path.
        path: GuestPath,
        /// Its link count.
        links: u32,
    },
    /// A time outside the inode's range (1901..2446).
    #[error("{path}: time {time} is outside what an ext2 inode holds")]
    Time {
        /// The path.
        path: GuestPath,
        /// Seconds since the epoch.
        time: i64,
    },
    /// A device number beyond 12 bits of major, 20 of minor.
    #[error("{path}: device {major}:{minor} does not fit a Linux dev_t")]
    DeviceNumber {
        /// The device node.
        path: GuestPath,
        /// Major.
        major: u32,
        /// Minor.
        minor: u32,
    },
    /// `/lost+found` in the tree is not a directory.
    #[error("{path} is not a directory, but e2fsck needs one there")]
    LostFound {
        /// The path.
        path: GuestPath,
    },
    /// An entry whose parent directory is not in the tree.
    #[error("{path}: parent directory is missing from the tree")]
    Orphan {
        /// The path.
        path: GuestPath,
    },
    /// The tree given to [`write()`] is not the one planned.
    #[error("{path}: not a regular file in this tree, unlike in the plan")]
    NotPlanned {
        /// The path.
        path: GuestPath,
    },
    /// `flex_bg` tables that do not fit.
    #[error("placing the group tables: {source}")]
    Flex {
        /// What went wrong.
        source: flex::Error,
    },
    /// An extent tree that cannot be built.
    #[error("{path}: {source}")]
    Extent {
        /// The file.
        path: GuestPath,
        /// What went wrong.
        source: extent::Error,
    },
    /// A checksum over a record of the wrong shape (a bug in the plan).
    #[error("checksum of block {block}: {source}")]
    Csum {
        /// The block.
        block: u64,
        /// What went wrong.
        source: csum::Error,
    },
    /// A computation outside its field's range.
    #[error("{what} overflows its on-disk field")]
    Overflow {
        /// What was computed.
        what: &'static str,
    },
    /// A file's content cannot be read.
    #[error("{path}: reading its content: {source}")]
    Content {
        /// The file.
        path: GuestPath,
        /// The error.
        source: std::io::Error,
    },
    /// A file's content is shorter than the tree says.
    #[error("{path}: content has {got} bytes, the tree says {expected}")]
    ContentLength {
        /// The file.
        path: GuestPath,
        /// Its recorded size.
        expected: u64,
        /// Bytes read.
        got: u64,
    },
    /// The output cannot be written.
    #[error("writing block {block}: {source}")]
    Write {
        /// The block (of the file system's size) written to.
        block: u64,
        /// The error.
        source: std::io::Error,
    },
    /// A signal stopped the stage ([`crate::cancel`]).
    #[error(transparent)]
    Interrupted(#[from] crate::cancel::Interrupted),
}

/// Result of the ext2 writer.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests;
