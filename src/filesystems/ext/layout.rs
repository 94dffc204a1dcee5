//! The plan of an ext2/ext3/ext4 file system: geometry (block groups,
//! where each group's superblock copy, descriptor table, bitmaps and
//! inode table lie), inode numbers, every block's owner, and every
//! metadata record. [`plan_with`] computes it from the tree and its
//! [`DataMap`] without I/O; [`plan`] first reads the contents for holes
//! ([`holes::scan`]). The writer in [`super::write()`] only executes
//! it.
//!
//! Spec: the kernel's ext4 on-disk format documentation, "Layout" and
//! "Flexible Block Groups" ("Meta Block Groups" not used)
//! (<https://www.kernel.org/doc/html/latest/filesystems/ext4/overview.html>,
//! `Documentation/filesystems/ext4/blockgroup.rst`), the block map in
//! "Direct/Indirect Block Addressing" (`inodes.rst`) and the extent
//! tree (`ifork.rst`).
//!
//! The choices follow `mke2fs` 1.47 with `/etc/mke2fs.conf`'s defaults
//! so that the result looks like what an administrator would have made;
//! [`super::ExtParams`] may override the starred ones:
//!
//! - `blocks_per_group` = 8 × block size (one bitmap block);
//! - the block size* and inode ratio* by size type: `floppy` (< 3 MiB)
//!   1 KiB and 8192, `small` (< 512 MiB) 1 KiB and 4096, `default` 4
//!   KiB and 16384, `big` (≥ 4 TiB) 32768, `huge` (≥ 16 TiB) 65536
//!   bytes per inode (or an inode count*); inodes per group filling
//!   whole inode-table blocks, then down to a multiple of 8, as
//!   `ext2fs_initialize` rounds them;
//! - a last group too small to hold its metadata and 50 data blocks is
//!   dropped, as mke2fs drops it;
//! - 5 %* of the blocks reserved for root (`s_r_blocks_count`);
//! - `lost+found` (inode 11) pre-sized to 16 KiB, at most 12 blocks;
//! - the journal* (ext3, ext4) of `ext2fs_default_journal_size` blocks;
//! - the features of [`super`]'s list for each kind.
//!
//! With these choices and an empty tree an ext2 or ext3 image is byte
//! for byte what `mke2fs -t ext2|ext3 -I 256 -O none,…` makes with the
//! same UUID, hash seed, label and time (a test runs it).
//!
//! Blocks are handed out in increasing order from the first free block
//! of group 0, in mke2fs's order: the root directory, `lost+found`, the
//! journal, then the tree's inodes in tree order. A block-mapped
//! file's blocks come in the order the kernel's ext2 would write them
//! (each indirect block before the data it maps), an extent-mapped
//! file's tree blocks after its data, so files are contiguous apart
//! from their map blocks. Holes get no block, nor do the indirect
//! blocks that would map only holes. The ext4 journal alone is placed
//! out of order: from the start of the group `get_midpoint_journal_block`
//! picks. Inodes are numbered in tree order from 12 (2 is `/`, 8 the
//! journal, 11 `lost+found`), hard links sharing one number.

use std::collections::BTreeMap;

use super::bitmap::Bitmap;
use super::dir::{self, DirBlock, DirEntry, FileType, NAME_MAX};
use super::extent;
use super::flex::{self, FlexParams, GroupTables};
use super::group_desc::{
    GroupDesc, EXT4_BG_BLOCK_UNINIT, EXT4_BG_INODE_UNINIT, EXT4_BG_INODE_ZEROED,
};
use super::holes::{self, DataMap, Span};
use super::htree::{self, DxBlock, DxRootInfo, EXT2_INDEX_FL};
use super::inode::{
    IBlock, Inode, Timestamp, DIND_BLOCK, EXT4_EXTENTS_FL, EXTRA_ISIZE,
    FAST_SYMLINK_MAX, IND_BLOCK, INODE_SIZE, NDIR_BLOCKS, N_BLOCKS, TIND_BLOCK,
    XATTR_AREA,
};
use super::journal::{self, JournalSuperblock};
use super::superblock::{compat, incompat, ro_compat, Superblock};
use super::xattr::{self, Refusal};
use super::{Error, ExtKind, ExtParams, Result};
use crate::tree::{GuestPath, InodeId, Kind, Tree};

/// The bad blocks inode.
pub const BAD_INO: u32 = 1;
/// The root directory's inode.
pub const ROOT_INO: u32 = 2;
/// `lost+found`'s inode, mke2fs's choice: the first non-reserved one.
pub const LOST_FOUND_INO: u32 = 11;
/// `s_first_ino`.
pub const FIRST_INO: u32 = 11;
/// The journal's inode (`s_journal_inum`).
pub const JOURNAL_INO: u32 = 8;
/// `s_log_groups_per_flex` of ext4: mke2fs.conf's default
/// `flex_bg_size` of 16.
pub const FLEX_LOG: u32 = 4;
/// Bytes of the checksum tail that ends each directory block with
/// `metadata_csum`.
pub const DIR_TAIL: usize = 12;
/// Largest `i_links_count` (the ext4 driver's `EXT4_LINK_MAX`, which
/// also mounts ext2).
pub const LINK_MAX: u32 = 65_000;
/// Bytes `lost+found` is pre-sized to (mke2fs: 16 KiB, at most the 12
/// direct blocks).
const LOST_FOUND_BYTES: u32 = 16 * 1024;
/// A last group with fewer spare blocks than this is dropped (mke2fs).
const MIN_LAST_GROUP_DATA: u32 = 50;

/// The block sizes lunforge writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockSize {
    /// 1 KiB: mke2fs's choice for `small` file systems (< 512 MiB).
    B1024,
    /// 2 KiB.
    B2048,
    /// 4 KiB: mke2fs's default.
    B4096,
}

impl BlockSize {
    /// The size from its byte count.
    pub fn from_bytes(n: u32) -> Option<BlockSize> {
        match n {
            1024 => Some(BlockSize::B1024),
            2048 => Some(BlockSize::B2048),
            4096 => Some(BlockSize::B4096),
            _ => None,
        }
    }

    /// Bytes per block.
    pub fn bytes(self) -> u32 {
        match self {
            BlockSize::B1024 => 1024,
            BlockSize::B2048 => 2048,
            BlockSize::B4096 => 4096,
        }
    }

    /// Bytes per block, as an index type.
    pub fn usize(self) -> usize {
        match self {
            BlockSize::B1024 => 1024,
            BlockSize::B2048 => 2048,
            BlockSize::B4096 => 4096,
        }
    }

    /// `s_log_block_size`.
    pub fn log(self) -> u32 {
        match self {
            BlockSize::B1024 => 0,
            BlockSize::B2048 => 1,
            BlockSize::B4096 => 2,
        }
    }

    /// Block numbers per indirect block.
    fn per_block(self) -> u64 {
        u64::from(self.bytes() / 4)
    }
}

/// mke2fs.conf's bytes per inode for a file system of `size` bytes.
pub fn inode_ratio(size: u64) -> u64 {
    const MIB: u64 = 1 << 20;
    const TIB: u64 = 1 << 40;
    match size {
        s if s < 3 * MIB => 8192,
        s if s < 512 * MIB => 4096,
        s if s < 4 * TIB => 16384,
        s if s < 16 * TIB => 32768,
        _ => 65536,
    }
}

/// mke2fs.conf's block size for a file system of `size` bytes: 1024 for
/// the `floppy` and `small` size types (below 512 MiB), else 4096.
pub fn default_block_size(size: u64) -> u32 {
    if size < 512 << 20 {
        1024
    } else {
        4096
    }
}

/// How many inodes to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InodeCount {
    /// One per this many bytes of file system (`mke2fs -i`).
    Ratio(u64),
    /// About this many in all (`mke2fs -N`), rounded up per group.
    Total(u32),
}

fn ck<T>(v: Option<T>, what: &'static str) -> Result<T> {
    v.ok_or(Error::Overflow { what })
}

fn div_ceil(a: u64, b: u64, what: &'static str) -> Result<u64> {
    let q = ck(a.checked_div(b), what)?;
    let r = ck(a.checked_rem(b), what)?;
    Ok(if r == 0 {
        q
    } else {
        ck(q.checked_add(1), what)?
    })
}

fn u32_of(v: u64, what: &'static str) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::Overflow { what })
}

fn usize_of(v: u32) -> usize {
    // u32 fits usize on every target this crate builds for (64-bit
    // Linux); saturate rather than cast.
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// A block number: blocks count from 0 at the start of the file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockNo(pub u32);

/// An inode number: inodes count from 1 (2 is `/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InodeNo(pub u32);

/// Where a group's metadata lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupMeta {
    /// The group's first block.
    pub start: BlockNo,
    /// One past its last block.
    pub end: BlockNo,
    /// Whether it holds a superblock and descriptor table copy.
    pub has_super: bool,
    /// First block of the descriptor table copy (when `has_super`).
    pub gdt: BlockNo,
    /// The block bitmap.
    pub block_bitmap: BlockNo,
    /// The inode bitmap.
    pub inode_bitmap: BlockNo,
    /// The first inode-table block.
    pub inode_table: BlockNo,
    /// The first block after the group's superblock and descriptor
    /// copies; without `flex_bg` also after its bitmaps and inode table
    /// (with it, those may lie in another group, or further on in this
    /// one).
    pub data_start: BlockNo,
}

/// The file system's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geometry {
    /// Block size.
    pub block_size: BlockSize,
    /// `s_blocks_count`.
    pub blocks_count: u32,
    /// `s_first_data_block`.
    pub first_data_block: u32,
    /// `s_blocks_per_group`.
    pub blocks_per_group: u32,
    /// `s_inodes_per_group`.
    pub inodes_per_group: u32,
    /// Number of groups.
    pub group_count: u32,
    /// Blocks of one descriptor table copy.
    pub gdt_blocks: u32,
    /// Inode-table blocks per group.
    pub inode_table_blocks: u32,
    /// `s_log_groups_per_flex`, or 0 without `flex_bg`: with it, the
    /// bitmaps and inode tables of each run of `1 << flex_log` groups
    /// are packed at the start of the run's first group, as mke2fs
    /// packs them.
    pub flex_log: u32,
    /// With `flex_bg`, each group's tables as [`flex::place`] puts
    /// them; empty without.
    pub flex_tables: Vec<GroupTables>,
}

/// `sparse_super`: groups 0, 1 and powers of 3, 5 and 7 hold copies.
pub fn has_super(group: u32) -> bool {
    if group <= 1 {
        return true;
    }
    [3u32, 5, 7].iter().any(|&base| {
        let mut p = base;
        while p < group {
            match p.checked_mul(base) {
                Some(n) => p = n,
                None => return false,
            }
        }
        p == group
    })
}

impl Geometry {
    /// The geometry of a `size`-byte file system of `block_size` blocks.
    pub fn new(
        size: u64,
        block_size: BlockSize,
        inodes: InodeCount,
        flex_log: u32,
    ) -> Result<Geometry> {
        let bs = u64::from(block_size.bytes());
        let all = ck(size.checked_div(bs), "block count")?;
        let mut blocks = u32::try_from(all).map_err(|_| Error::TooLarge {
            size,
            reason: "more than 2^32 - 1 blocks",
        })?;
        let first_data_block = u32::from(block_size == BlockSize::B1024);
        let bpg = ck(block_size.bytes().checked_mul(8), "blocks per group")?;
        loop {
            let too_small = Error::TooSmall {
                size,
                blocks: u64::from(blocks),
            };
            if blocks <= first_data_block {
                return Err(too_small);
            }
            let span = u64::from(blocks.saturating_sub(first_data_block));
            let groups = div_ceil(span, u64::from(bpg), "group count")?;
            let want = match inodes {
                InodeCount::Ratio(ratio) => ck(
                    u64::from(blocks)
                        .checked_mul(bs)
                        .and_then(|b| b.checked_div(ratio)),
                    "inode count",
                )?,
                InodeCount::Total(n) => u64::from(n),
            };
            // e2fsprogs' ext2fs_initialize: inodes per group to fill
            // whole table blocks, then down to a multiple of 8, and at
            // least s_first_ino + 1 inodes in all.
            let isz = u64::from(INODE_SIZE);
            let mut ipg =
                div_ceil(want, groups, "inodes per group")?.min(u64::from(bpg));
            let (ipg, itb) = loop {
                let itb = div_ceil(
                    ck(ipg.checked_mul(isz), "inode table blocks")?,
                    bs,
                    "inode table blocks",
                )?;
                let filled = ck(
                    itb.checked_mul(bs).and_then(|b| b.checked_div(isz)),
                    "inodes per group",
                )?;
                let n = filled.max(8) & !7;
                if ck(n.checked_mul(groups), "inode count")?
                    < u64::from(FIRST_INO).saturating_add(1)
                {
                    ipg = ck(ipg.checked_add(8), "inodes per group")?;
                    continue;
                }
                let itb = div_ceil(
                    ck(n.checked_mul(isz), "inode table blocks")?,
                    bs,
                    "inode table blocks",
                )?;
                break (n, itb);
            };
            let gdt = div_ceil(
                ck(groups.checked_mul(32), "descriptor table")?,
                bs,
                "descriptor table",
            )?;
            let g = Geometry {
                block_size,
                blocks_count: blocks,
                first_data_block,
                blocks_per_group: bpg,
                inodes_per_group: u32_of(ipg, "inodes per group")?,
                group_count: u32_of(groups, "group count")?,
                gdt_blocks: u32_of(gdt, "descriptor table")?,
                inode_table_blocks: u32_of(itb, "inode table blocks")?,
                flex_log,
                flex_tables: Vec::new(),
            };
            ck(
                u64::from(g.inodes_per_group).checked_mul(groups),
                "inode count",
            )
            .and_then(|n| u32_of(n, "inode count"))?;
            let last = ck(g.group_count.checked_sub(1), "group count")?;
            let len = ck(
                g.group_end(last)?.checked_sub(g.group_start(last)?),
                "group size",
            )?;
            let overhead = g.overhead(last)?;
            if g.overhead(0)?
                >= g.group_end(0)?.saturating_sub(g.group_start(0)?)
            {
                if g.group_count == 1 {
                    return Err(too_small);
                }
                return Err(Error::TooLarge {
                    size,
                    reason: "the descriptor table does not fit in a group",
                });
            }
            if len < overhead.saturating_add(MIN_LAST_GROUP_DATA) && last > 0 {
                // Drop the runt, as mke2fs does.
                blocks = ck(
                    last.checked_mul(bpg)
                        .and_then(|b| b.checked_add(first_data_block)),
                    "block count",
                )?;
                continue;
            }
            let mut g = g;
            if flex_log > 0 {
                let fp = FlexParams {
                    blocks_count: g.blocks_count,
                    first_data_block: g.first_data_block,
                    blocks_per_group: g.blocks_per_group,
                    group_count: g.group_count,
                    inode_table_blocks: g.inode_table_blocks,
                    gdt_blocks: g.gdt_blocks,
                    log_groups_per_flex: flex_log,
                };
                g.flex_tables = flex::place(&fp, has_super)
                    .map_err(|source| Error::Flex { source })?;
            }
            return Ok(g);
        }
    }

    /// `s_inodes_count`.
    pub fn inodes_count(&self) -> u32 {
        // Checked in `new`.
        self.inodes_per_group.saturating_mul(self.group_count)
    }

    /// The first block of group `g`.
    pub fn group_start(&self, g: u32) -> Result<u32> {
        ck(
            g.checked_mul(self.blocks_per_group)
                .and_then(|b| b.checked_add(self.first_data_block)),
            "group start",
        )
    }

    /// One past the last block of group `g`.
    pub fn group_end(&self, g: u32) -> Result<u32> {
        let start = self.group_start(g)?;
        Ok(start
            .saturating_add(self.blocks_per_group)
            .min(self.blocks_count))
    }

    /// Metadata blocks of group `g`.
    fn overhead(&self, g: u32) -> Result<u32> {
        let sb = if has_super(g) {
            ck(self.gdt_blocks.checked_add(1), "group overhead")?
        } else {
            0
        };
        ck(
            sb.checked_add(2)
                .and_then(|n| n.checked_add(self.inode_table_blocks)),
            "group overhead",
        )
    }

    /// Where group `g`'s metadata lies: superblock and descriptor table
    /// copies (if any), block bitmap, inode bitmap, inode table, then
    /// data, as mke2fs places them without `flex_bg`; with it, the
    /// tables lie where [`flex::place`] packed them.
    pub fn group_meta(&self, g: u32) -> Result<GroupMeta> {
        let start = self.group_start(g)?;
        let end = self.group_end(g)?;
        let sup = has_super(g);
        let gdt = ck(start.checked_add(1), "group layout")?;
        let after_gdt = |grp: u32| -> Result<u32> {
            let s = self.group_start(grp)?;
            if has_super(grp) {
                ck(
                    s.checked_add(1)
                        .and_then(|n| n.checked_add(self.gdt_blocks)),
                    "group layout",
                )
            } else {
                Ok(s)
            }
        };
        let (block_bitmap, inode_bitmap, inode_table) = if self.flex_log == 0 {
            let bb = after_gdt(g)?;
            let ib = ck(bb.checked_add(1), "group layout")?;
            (bb, ib, ck(ib.checked_add(1), "group layout")?)
        } else {
            let t = ck(self.flex_tables.get(usize_of(g)), "group layout")?;
            (t.block_bitmap.0, t.inode_bitmap.0, t.inode_table.0)
        };
        let data_start = if self.flex_log == 0 {
            ck(
                inode_table.checked_add(self.inode_table_blocks),
                "group layout",
            )?
        } else {
            after_gdt(g)?
        };
        Ok(GroupMeta {
            start: BlockNo(start),
            end: BlockNo(end),
            has_super: sup,
            gdt: BlockNo(gdt),
            block_bitmap: BlockNo(block_bitmap),
            inode_bitmap: BlockNo(inode_bitmap),
            inode_table: BlockNo(inode_table),
            data_start: BlockNo(data_start),
        })
    }

    /// Every metadata extent (superblock and descriptor copies, bitmaps,
    /// inode tables) as (first block, length), sorted; an error if two
    /// overlap or one leaves the file system (a bug in the placement).
    pub fn metadata_extents(&self) -> Result<Vec<(u32, u32)>> {
        let mut v = Vec::new();
        for g in 0..self.group_count {
            let m = self.group_meta(g)?;
            if m.has_super {
                let n = ck(self.gdt_blocks.checked_add(1), "group layout")?;
                v.push((m.start.0, n));
            }
            v.push((m.block_bitmap.0, 1));
            v.push((m.inode_bitmap.0, 1));
            v.push((m.inode_table.0, self.inode_table_blocks));
        }
        v.sort_unstable();
        let mut end = self.first_data_block;
        for &(s, n) in &v {
            let e = ck(s.checked_add(n), "group layout")?;
            if s < end || e > self.blocks_count {
                return Err(Error::Overflow {
                    what: "group metadata placement",
                });
            }
            end = e;
        }
        Ok(v)
    }

    /// Byte offset of block `b`.
    pub fn offset(&self, b: BlockNo) -> u64 {
        u64::from(b.0).saturating_mul(u64::from(self.block_size.bytes()))
    }

    /// Byte offset of inode `ino` (counting from 1).
    pub fn inode_offset(&self, ino: InodeNo) -> Result<u64> {
        let idx = ck(ino.0.checked_sub(1), "inode offset")?;
        let g = ck(idx.checked_div(self.inodes_per_group), "inode offset")?;
        let i = ck(idx.checked_rem(self.inodes_per_group), "inode offset")?;
        let table = self.group_meta(g)?.inode_table;
        ck(
            u64::from(i)
                .checked_mul(u64::from(INODE_SIZE))
                .and_then(|o| o.checked_add(self.offset(table))),
            "inode offset",
        )
    }
}

/// A run of consecutive blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// First block.
    pub start: BlockNo,
    /// Number of blocks.
    pub len: u32,
}

/// A group's records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPlan {
    /// Where its metadata lies.
    pub meta: GroupMeta,
    /// Its descriptor.
    pub desc: GroupDesc,
    /// Its block bitmap.
    pub block_bitmap: Bitmap,
    /// Its inode bitmap.
    pub inode_bitmap: Bitmap,
}

/// A piece of a regular file: `len` blocks from logical block `logical`
/// stored from block `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileExtent {
    /// First logical block (block `n` holds bytes `n × block size` on).
    pub logical: u64,
    /// First block on disk.
    pub start: BlockNo,
    /// Number of blocks.
    pub len: u32,
}

/// A regular file's data and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileData {
    /// Its first path (for error messages).
    pub path: GuestPath,
    /// Its inode in the tree (for its content).
    pub id: InodeId,
    /// Its size in bytes.
    pub size: u64,
    /// Its data blocks in logical order; the blocks between them are
    /// holes (all zero in the tree, not allocated).
    pub extents: Vec<FileExtent>,
}

/// A directory's blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirData {
    /// The directory's inode (leaf checksums cover it).
    pub ino: InodeNo,
    /// Block numbers in order.
    pub blocks: Vec<BlockNo>,
    /// Their contents.
    pub contents: Vec<DirContent>,
}

/// One block of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirContent {
    /// Entries: a linear directory's block or an indexed one's leaf.
    Entries(DirBlock),
    /// An indexed directory's root (its block 0) or interior node.
    Index(DxBlock),
}

impl DirContent {
    /// Bytes of entries in the block (0 for an index block).
    pub fn used(&self) -> usize {
        match self {
            DirContent::Entries(b) => b.used(),
            DirContent::Index(_) => 0,
        }
    }
}

/// The journal of ext3 and ext4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalData {
    /// Where its first block, the journal superblock, lies.
    pub superblock_block: BlockNo,
    /// The journal superblock.
    pub superblock: JournalSuperblock,
}

/// A block of an inode's extent tree (tail checksum not yet set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeBlock {
    /// Where it lies.
    pub block: BlockNo,
    /// The inode it maps (its checksum covers it).
    pub ino: InodeNo,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// The whole plan: every byte the writer will write follows from it and
/// the tree's file contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtLayout {
    /// ext2, ext3 or ext4.
    pub kind: ExtKind,
    /// The shape.
    pub geometry: Geometry,
    /// The superblock (group 0's copy; backups differ only in
    /// `s_block_group_nr` and `s_state`).
    pub superblock: Superblock,
    /// Per group.
    pub groups: Vec<GroupPlan>,
    /// Inodes by number, in increasing order.
    pub inodes: Vec<(InodeNo, Inode)>,
    /// Directory blocks.
    pub dirs: Vec<DirData>,
    /// Indirect blocks: block number and the block numbers it holds.
    pub indirect: Vec<(BlockNo, Vec<u32>)>,
    /// Extent tree blocks (ext4).
    pub extent_blocks: Vec<TreeBlock>,
    /// Regular files.
    pub files: Vec<FileData>,
    /// Slow symlinks: the block and the target.
    pub symlinks: Vec<(BlockNo, Vec<u8>)>,
    /// Extended attribute blocks and their contents.
    pub xattr_blocks: Vec<(BlockNo, Vec<u8>)>,
    /// The journal (ext3, ext4).
    pub journal: Option<JournalData>,
}

impl ExtLayout {
    /// Whether the metadata carries crc32c checksums.
    pub fn metadata_csum(&self) -> bool {
        self.superblock.feature_ro_compat & ro_compat::METADATA_CSUM != 0
    }
}

/// Hands out free blocks in increasing order, and runs from a goal.
struct Allocator {
    /// Free ranges `[start, end)`, sorted; the ones before `idx` are
    /// used up.
    free: Vec<(u32, u32)>,
    idx: usize,
    used: Vec<Bitmap>,
    starts: Vec<u32>,
    bpg: u32,
    first: u32,
    handed: u64,
    available: u64,
    block_size: u32,
}

impl Allocator {
    fn mark(&mut self, start: u32, len: u32) -> Result<()> {
        for b in start..start.saturating_add(len) {
            let g = ck(
                b.checked_sub(self.first)
                    .and_then(|o| o.checked_div(self.bpg)),
                "block allocation",
            )?;
            let gi = usize_of(g);
            let base = *ck(self.starts.get(gi), "block allocation")?;
            let bit = usize_of(ck(b.checked_sub(base), "block allocation")?);
            ck(self.used.get_mut(gi), "block allocation")?.set(bit);
        }
        self.handed = self.handed.saturating_add(u64::from(len));
        Ok(())
    }

    fn no_space(&self, more: u64) -> Error {
        Error::NoSpace {
            needed: self.handed.saturating_add(more),
            available: self.available,
            block_size: self.block_size,
        }
    }

    fn one(&mut self) -> Result<u32> {
        ck(self.take(1)?.first().map(|r| r.start.0), "block allocation")
    }

    /// `n` blocks from the cursor, in as few runs as the free space
    /// allows.
    fn take(&mut self, n: u64) -> Result<Vec<Run>> {
        let mut out = Vec::new();
        let mut left = n;
        while left > 0 {
            let Some(r) = self.free.get_mut(self.idx) else {
                return Err(self.no_space(left));
            };
            let k = u32::try_from(left)
                .unwrap_or(u32::MAX)
                .min(r.1.saturating_sub(r.0));
            if k == 0 {
                self.idx = self.idx.saturating_add(1);
                continue;
            }
            let start = r.0;
            r.0 = r.0.saturating_add(k);
            self.mark(start, k)?;
            out.push(Run {
                start: BlockNo(start),
                len: k,
            });
            left = left.saturating_sub(u64::from(k));
        }
        Ok(out)
    }

    /// `n` blocks from the first free one at or after `goal` (wrapping
    /// to the cursor), leaving the cursor where it is.
    fn take_from(&mut self, goal: u32, n: u64) -> Result<Vec<Run>> {
        let mut out = Vec::new();
        let mut left = n;
        let mut i = self.idx;
        let mut wrapped = false;
        while left > 0 {
            let Some(&(s, e)) = self.free.get(i) else {
                if wrapped {
                    return Err(self.no_space(left));
                }
                wrapped = true;
                i = self.idx;
                continue;
            };
            let from = if wrapped { s } else { s.max(goal) };
            if from >= e {
                i = i.saturating_add(1);
                continue;
            }
            let k = u32::try_from(left)
                .unwrap_or(u32::MAX)
                .min(e.saturating_sub(from));
            let to = from.saturating_add(k);
            // Cut [from, to) out of the range.
            let mut pieces = Vec::new();
            if s < from {
                pieces.push((s, from));
            }
            if to < e {
                pieces.push((to, e));
            }
            let kept = pieces.len();
            self.free.splice(i..=i, pieces);
            i = i.saturating_add(kept);
            self.mark(from, k)?;
            out.push(Run {
                start: BlockNo(from),
                len: k,
            });
            left = left.saturating_sub(u64::from(k));
        }
        out.sort_by_key(|r| r.start);
        Ok(out)
    }

    /// Free blocks of group `g`.
    fn free_in(&self, g: usize, len: usize) -> usize {
        self.used
            .get(g)
            .map_or(0, |m| len.saturating_sub(m.count()))
    }
}

/// Indirect blocks a block map of `n` data blocks needs, or `None`
/// past the triple indirect block's reach.
pub fn indirect_blocks(n: u64, bs: BlockSize) -> Option<u64> {
    let p = bs.per_block();
    let ndir = u64::try_from(NDIR_BLOCKS).ok()?;
    let Some(r) = n.checked_sub(ndir).filter(|r| *r > 0) else {
        return Some(0);
    };
    if r <= p {
        return Some(1);
    }
    let r = r.checked_sub(p)?;
    let p2 = p.checked_mul(p)?;
    if r <= p2 {
        return 2u64.checked_add(r.div_ceil(p));
    }
    let r = r.checked_sub(p2)?;
    let p3 = p2.checked_mul(p)?;
    if r <= p3 {
        // The full single and double trees, then the triple one.
        let full = p.checked_add(3)?;
        return full.checked_add(r.div_ceil(p2))?.checked_add(r.div_ceil(p));
    }
    None
}

/// Where logical block `l` (12 or more) sits in a block map: the
/// `i_block` slot of its tree, the tree's depth, and its index in it.
fn locate(l: u64, p: u64) -> Option<(usize, u32, u64)> {
    let r = l.checked_sub(u64::try_from(NDIR_BLOCKS).ok()?)?;
    if r < p {
        return Some((IND_BLOCK, 1, r));
    }
    let r = r.checked_sub(p)?;
    let p2 = p.checked_mul(p)?;
    if r < p2 {
        return Some((DIND_BLOCK, 2, r));
    }
    let r = r.checked_sub(p2)?;
    if r < p2.checked_mul(p)? {
        return Some((TIND_BLOCK, 3, r));
    }
    None
}

/// Indirect blocks a block map of the data `spans` needs, or `None`
/// past the triple indirect block's reach.
fn map_nodes(spans: &[Span], bs: BlockSize) -> Option<u64> {
    let p = bs.per_block();
    let mut last: [[Option<u64>; 3]; 3] = [[None; 3]; 3];
    let mut n = 0u64;
    for s in spans {
        let end = s.start.checked_add(s.len)?;
        let mut l = s.start.max(u64::try_from(NDIR_BLOCKS).ok()?);
        while l < end {
            let (slot, levels, r) = locate(l, p)?;
            // Count each node of the path not seen yet; then jump to
            // the next leaf node.
            for depth in 0..levels {
                let key =
                    r.checked_div(p.checked_pow(levels.checked_sub(depth)?)?)?;
                let seen = last
                    .get_mut(slot.checked_sub(IND_BLOCK)?)?
                    .get_mut(usize::try_from(depth).ok()?)?;
                if *seen != Some(key) {
                    *seen = Some(key);
                    n = n.checked_add(1)?;
                }
            }
            let next_leaf = r.checked_div(p)?.checked_add(1)?.checked_mul(p)?;
            l = l.checked_add(next_leaf.checked_sub(r)?)?;
        }
    }
    Some(n)
}

/// The error of a file whose `spans` reach past what its map holds.
fn too_large(path: &GuestPath, spans: &[Span], bs: BlockSize) -> Error {
    Error::FileTooLarge {
        path: path.clone(),
        size: spans
            .last()
            .map_or(0, |s| s.start.saturating_add(s.len))
            .saturating_mul(u64::from(bs.bytes())),
    }
}

/// A block map: `i_block`, the indirect blocks, and the data extents.
struct BlockMap {
    iblock: [u32; N_BLOCKS],
    indirect: Vec<(u32, Vec<u32>)>,
    data: Vec<FileExtent>,
}

/// Allocate a block map of the data `spans`, each indirect block before
/// the data it maps (the order of the kernel's ext2, and of mke2fs for
/// the ext3 journal); holes get neither data nor indirect blocks.
fn block_map(
    spans: &[Span],
    bs: BlockSize,
    alloc: &mut Allocator,
    path: &GuestPath,
) -> Result<BlockMap> {
    let p = bs.per_block();
    let per = usize::try_from(p).unwrap_or(usize::MAX);
    let too_large = || too_large(path, spans, bs);
    let mut m = BlockMap {
        iblock: [0; N_BLOCKS],
        indirect: Vec::new(),
        data: Vec::new(),
    };
    // The open node at each (tree, depth): its key and index.
    let mut open: [[Option<(u64, usize)>; 3]; 3] = [[None; 3]; 3];
    for s in spans {
        let end = s.start.checked_add(s.len).ok_or_else(too_large)?;
        for l in s.start..end {
            let b = if let Some(slot) =
                usize::try_from(l).ok().filter(|&l| l < NDIR_BLOCKS)
            {
                let b = alloc.one()?;
                m.iblock[slot] = b;
                b
            } else {
                let (slot, levels, r) = locate(l, p).ok_or_else(too_large)?;
                let tree = ck(slot.checked_sub(IND_BLOCK), "block map")?;
                let mut parent: Option<(usize, usize)> = None;
                for depth in 0..levels {
                    let pow = |e: u32| p.checked_pow(e);
                    let key = ck(
                        pow(levels.saturating_sub(depth))
                            .and_then(|d| r.checked_div(d)),
                        "block map",
                    )?;
                    let entry = ck(
                        pow(levels.saturating_sub(depth).saturating_sub(1))
                            .and_then(|d| r.checked_div(d))
                            .and_then(|q| q.checked_rem(p))
                            .and_then(|e| usize::try_from(e).ok()),
                        "block map",
                    )?;
                    let cell = ck(
                        open.get_mut(tree)
                            .and_then(|t| t.get_mut(usize_of(depth))),
                        "block map",
                    )?;
                    let idx = match *cell {
                        Some((k, i)) if k == key => i,
                        _ => {
                            let nb = alloc.one()?;
                            m.indirect.push((nb, vec![0; per]));
                            let i = m.indirect.len().saturating_sub(1);
                            *cell = Some((key, i));
                            match parent {
                                None => m.iblock[slot] = nb,
                                Some((pi, pe)) => {
                                    *ck(
                                        m.indirect
                                            .get_mut(pi)
                                            .and_then(|n| n.1.get_mut(pe)),
                                        "block map",
                                    )? = nb;
                                }
                            }
                            i
                        }
                    };
                    parent = Some((idx, entry));
                }
                let b = alloc.one()?;
                let (pi, pe) = ck(parent, "block map")?;
                *ck(
                    m.indirect.get_mut(pi).and_then(|n| n.1.get_mut(pe)),
                    "block map",
                )? = b;
                b
            };
            push_extent(&mut m.data, l, b);
        }
    }
    Ok(m)
}

/// Append block `b` at logical `l`, extending the last extent when it
/// continues it.
fn push_extent(v: &mut Vec<FileExtent>, l: u64, b: u32) {
    if let Some(last) = v.last_mut() {
        let next_l = last.logical.checked_add(u64::from(last.len));
        let next_b = last.start.0.checked_add(last.len);
        if next_l == Some(l) && next_b == Some(b) && last.len < u32::MAX {
            last.len = last.len.saturating_add(1);
            return;
        }
    }
    v.push(FileExtent {
        logical: l,
        start: BlockNo(b),
        len: 1,
    });
}

/// How an inode's data blocks were placed.
struct Mapped {
    block: IBlock,
    flags: u32,
    data: Vec<FileExtent>,
    /// Indirect or extent-tree blocks.
    meta: u64,
}

/// Allocate and map the data `spans` of inode `ino`: a block map, or
/// with `extents` an extent tree whose blocks follow the data.
#[allow(clippy::too_many_arguments)]
fn map_inode(
    ino: u32,
    spans: &[Span],
    extents: bool,
    bs: BlockSize,
    alloc: &mut Allocator,
    indirect: &mut Vec<(BlockNo, Vec<u32>)>,
    tree_blocks: &mut Vec<TreeBlock>,
    path: &GuestPath,
) -> Result<Mapped> {
    if !extents {
        let m = block_map(spans, bs, alloc, path)?;
        let meta = u64::try_from(m.indirect.len()).unwrap_or(u64::MAX);
        indirect.extend(m.indirect.into_iter().map(|(b, e)| (BlockNo(b), e)));
        return Ok(Mapped {
            block: IBlock::Map(m.iblock),
            flags: 0,
            data: m.data,
            meta,
        });
    }
    let too_large = || too_large(path, spans, bs);
    let mut data = Vec::new();
    for s in spans {
        let mut l = s.start;
        for r in alloc.take(s.len)? {
            data.push(FileExtent {
                logical: l,
                start: r.start,
                len: r.len,
            });
            l = l.checked_add(u64::from(r.len)).ok_or_else(too_large)?;
        }
    }
    extent_map(ino, data, bs, alloc, tree_blocks, path)
}

/// The extent tree of inode `ino`'s placed `data`, its blocks taken
/// from `alloc` after the data.
fn extent_map(
    ino: u32,
    data: Vec<FileExtent>,
    bs: BlockSize,
    alloc: &mut Allocator,
    tree_blocks: &mut Vec<TreeBlock>,
    path: &GuestPath,
) -> Result<Mapped> {
    let too_large = || Error::FileTooLarge {
        path: path.clone(),
        size: data
            .last()
            .map_or(0, |e| e.logical.saturating_add(u64::from(e.len)))
            .saturating_mul(u64::from(bs.bytes())),
    };
    let mut runs = Vec::new();
    for e in &data {
        let logical = u32::try_from(e.logical).map_err(|_| too_large())?;
        runs.push((logical, e.start.0, e.len));
    }
    let ext_err = |source| Error::Extent {
        path: path.clone(),
        source,
    };
    let count = extent::extents(&runs).map_err(ext_err)?.len();
    let n = extent::tree_blocks(count, bs).map_err(ext_err)?;
    let mut blocks: Vec<u32> = Vec::new();
    for r in alloc.take(u64::try_from(n).unwrap_or(u64::MAX))? {
        blocks.extend(r.start.0..r.start.0.saturating_add(r.len));
    }
    let mut next = blocks.iter().copied();
    let tree = extent::build(&runs, bs, || next.next()).map_err(ext_err)?;
    tree_blocks.extend(tree.blocks.into_iter().map(|(b, bytes)| TreeBlock {
        block: BlockNo(b),
        ino: InodeNo(ino),
        bytes,
    }));
    Ok(Mapped {
        block: IBlock::Extents(tree.i_block),
        flags: EXT4_EXTENTS_FL,
        data,
        meta: u64::try_from(n).unwrap_or(u64::MAX),
    })
}

fn file_type(kind: &Kind) -> FileType {
    match kind {
        Kind::File(_) => FileType::Regular,
        Kind::Dir => FileType::Dir,
        Kind::Symlink(_) => FileType::Symlink,
        Kind::CharDev { .. } => FileType::CharDev,
        Kind::BlockDev { .. } => FileType::BlockDev,
        Kind::Fifo => FileType::Fifo,
        Kind::Socket => FileType::Socket,
    }
}

/// What one inode needs, before blocks are allocated.
struct Pending {
    ino: u32,
    path: GuestPath,
    id: Option<InodeId>,
    mode: u16,
    uid: u32,
    gid: u32,
    time: Timestamp,
    links: u16,
    xattrs: Xattrs,
    body: Body,
}

/// Where an inode's extended attributes go.
#[derive(Default)]
struct Xattrs {
    /// The in-inode area, or empty.
    in_inode: Vec<u8>,
    /// An attribute block, when they do not fit the inode.
    block: Option<Vec<u8>>,
}

enum Body {
    File { size: u64, spans: Vec<Span> },
    Dir { contents: Vec<DirContent> },
    FastSymlink(Vec<u8>),
    SlowSymlink(Vec<u8>),
    Device { major: u32, minor: u32 },
    Journal { blocks: u32 },
    Empty,
}

impl Body {
    /// Data blocks (holes excluded).
    fn data_blocks(&self) -> u64 {
        match self {
            Body::File { spans, .. } => {
                spans.iter().fold(0u64, |n, s| n.saturating_add(s.len))
            }
            Body::Dir { contents } => {
                u64::try_from(contents.len()).unwrap_or(u64::MAX)
            }
            Body::SlowSymlink(_) => 1,
            Body::Journal { blocks } => u64::from(*blocks),
            _ => 0,
        }
    }

    /// The data spans.
    fn spans(&self) -> Vec<Span> {
        match self {
            Body::File { spans, .. } => spans.clone(),
            _ => match self.data_blocks() {
                0 => Vec::new(),
                n => vec![Span { start: 0, len: n }],
            },
        }
    }
}

/// Where mke2fs puts the journal with extents
/// (`get_midpoint_journal_block`, e2fsprogs 1.47): the group holding
/// the middle block, rounded down to its flex group when past the
/// first, then whichever of it and its neighbour (or of its two
/// neighbours, without `flex_bg`) has the most free blocks; the
/// journal starts at the first free block from there.
fn journal_goal(geo: &Geometry, alloc: &Allocator) -> Result<u32> {
    let mid = geo.blocks_count.saturating_sub(geo.first_data_block) / 2;
    let mut group = mid.checked_div(geo.blocks_per_group).unwrap_or(0);
    let flex = 1u32.checked_shl(geo.flex_log).unwrap_or(1);
    let count = geo.group_count;
    let start = if geo.flex_log > 0 && group > flex {
        group &= !flex.saturating_sub(1);
        while group < count && free_of(geo, alloc, group)? == 0 {
            group = group.saturating_add(1);
        }
        if group == count {
            group = 0;
        }
        group
    } else {
        group.saturating_sub(1)
    };
    let end = if group.saturating_add(1) < count {
        group.saturating_add(1)
    } else {
        group
    };
    let mut best = start;
    for g in start.saturating_add(1)..=end {
        if free_of(geo, alloc, g)? > free_of(geo, alloc, best)? {
            best = g;
        }
    }
    geo.group_start(best)
}

fn free_of(geo: &Geometry, alloc: &Allocator, g: u32) -> Result<usize> {
    let len = geo.group_end(g)?.saturating_sub(geo.group_start(g)?);
    Ok(alloc.free_in(usize_of(g), usize_of(len)))
}

/// The feature words of `kind`: mke2fs.conf's `base_features` and the
/// kind's own, less `resize_inode` and `64bit`.
fn features(kind: ExtKind) -> (u32, u32, u32) {
    let base_compat = compat::EXT_ATTR | compat::DIR_INDEX;
    let base_ro = ro_compat::SPARSE_SUPER | ro_compat::LARGE_FILE;
    match kind {
        ExtKind::Ext2 => (base_compat, incompat::FILETYPE, base_ro),
        ExtKind::Ext3 => (
            base_compat | compat::HAS_JOURNAL,
            incompat::FILETYPE,
            base_ro,
        ),
        ExtKind::Ext4 => (
            base_compat | compat::HAS_JOURNAL,
            incompat::FILETYPE | incompat::EXTENTS | incompat::FLEX_BG,
            base_ro
                | ro_compat::HUGE_FILE
                | ro_compat::DIR_NLINK
                | ro_compat::EXTRA_ISIZE
                | ro_compat::METADATA_CSUM,
        ),
    }
}

/// The journal's size for `p` on `geo`, checked against what mke2fs
/// accepts.
fn journal_size(
    p: &ExtParams,
    geo: &Geometry,
    free: u64,
) -> Result<Option<u32>> {
    if !p.kind.has_journal() {
        return match p.journal_blocks {
            Some(b) => Err(Error::Param {
                what: "journal_blocks",
                value: u64::from(b),
                range: "a journal is for ext3 and ext4 only",
            }),
            None => Ok(None),
        };
    }
    // As mke2fs: a size asked for may take at most half the free
    // blocks ("total journal size too big for filesystem"); the default
    // size only has to fit, which the count of all blocks checks.
    let max = u64::from(journal::MAX_BLOCKS).min(match p.journal_blocks {
        Some(_) => free / 2,
        None => free,
    });
    let blocks = match p.journal_blocks {
        Some(b) => b,
        None => match journal::default_blocks(u64::from(geo.blocks_count)) {
            Some(b) => b,
            None => {
                return Err(Error::Journal {
                    blocks: 0,
                    min: u64::from(journal::MIN_BLOCKS),
                    max,
                })
            }
        },
    };
    if blocks < journal::MIN_BLOCKS || u64::from(blocks) > max {
        return Err(Error::Journal {
            blocks: u64::from(blocks),
            min: u64::from(journal::MIN_BLOCKS),
            max,
        });
    }
    Ok(Some(blocks))
}

impl Allocator {
    /// The allocator of `geo`: every metadata block marked in the
    /// bitmap of the group holding it (with `flex_bg`, not always its
    /// owner's), the rest free.
    fn new(geo: &Geometry) -> Result<Allocator> {
        let mut block_maps = Vec::new();
        let mut starts = Vec::new();
        for g in 0..geo.group_count {
            let len =
                usize_of(geo.group_end(g)?.saturating_sub(geo.group_start(g)?));
            block_maps.push(Bitmap::new(len, geo.block_size.usize()));
            starts.push(geo.group_start(g)?);
        }
        let meta_extents = geo.metadata_extents()?;
        let mut free = Vec::new();
        let mut at = geo.first_data_block;
        let mut meta_blocks = 0u64;
        for &(s, n) in &meta_extents {
            if at < s {
                free.push((at, s));
            }
            at = s.saturating_add(n);
            meta_blocks = meta_blocks.saturating_add(u64::from(n));
        }
        if at < geo.blocks_count {
            free.push((at, geo.blocks_count));
        }
        let available = u64::from(geo.blocks_count)
            .saturating_sub(u64::from(geo.first_data_block))
            .saturating_sub(meta_blocks);
        let mut alloc = Allocator {
            free,
            idx: 0,
            used: block_maps,
            starts,
            bpg: geo.blocks_per_group,
            first: geo.first_data_block,
            handed: 0,
            available,
            block_size: geo.block_size.bytes(),
        };
        for &(s, n) in &meta_extents {
            alloc.mark(s, n)?;
        }
        alloc.handed = 0;
        Ok(alloc)
    }
}

/// Each group's descriptor and bitmaps from the blocks `used` and the
/// inodes placed, with the free totals of blocks and inodes.
fn group_plans(
    geo: &Geometry,
    used: Vec<Bitmap>,
    inodes: &[(InodeNo, Inode)],
    dir_inos: &[u32],
    csum: bool,
) -> Result<(Vec<GroupPlan>, u64, u64)> {
    let bsz = geo.block_size.usize();
    let ipg = geo.inodes_per_group;
    let mut inode_maps: Vec<Bitmap> = (0..geo.group_count)
        .map(|_| Bitmap::new(usize_of(ipg), bsz))
        .collect();
    let mut dirs_per: Vec<u16> = vec![0; inode_maps.len()];
    let place = |ino: u32| -> Result<(usize, usize)> {
        let idx = ck(ino.checked_sub(1), "inode numbers")?;
        let g = ck(idx.checked_div(ipg), "inode numbers")?;
        let i = ck(idx.checked_rem(ipg), "inode numbers")?;
        Ok((usize_of(g), usize_of(i)))
    };
    let in_use = (1..=FIRST_INO).chain(inodes.iter().map(|(n, _)| n.0));
    for ino in in_use {
        let (g, i) = place(ino)?;
        ck(inode_maps.get_mut(g), "inode numbers")?.set(i);
    }
    for ino in dir_inos {
        let (g, _) = place(*ino)?;
        let d = ck(dirs_per.get_mut(g), "inode numbers")?;
        *d = d.saturating_add(1);
    }
    let mut groups = Vec::new();
    let mut free_blocks_total: u64 = 0;
    let mut free_inodes_total: u64 = 0;
    let per_group = used.into_iter().zip(inode_maps).zip(dirs_per);
    for (g, ((bb, ib), dirs_here)) in (0..geo.group_count).zip(per_group) {
        let m = geo.group_meta(g)?;
        let len = usize_of(m.end.0.saturating_sub(m.start.0));
        let free_b = len.saturating_sub(bb.count());
        let free_i = usize_of(ipg).saturating_sub(ib.count());
        free_blocks_total = free_blocks_total
            .saturating_add(u64::try_from(free_b).unwrap_or(0));
        free_inodes_total = free_inodes_total
            .saturating_add(u64::try_from(free_i).unwrap_or(0));
        // With checksums the flags are those e2fsprogs'
        // `ext2fs_set_gdt_csum` recomputes whenever it flushes the
        // descriptors (so that `e2fsck -fy` finds nothing to change):
        // BLOCK_UNINIT on every group but the last with all its blocks
        // free, INODE_UNINIT (and the whole table unused) on a group of
        // no inodes, else the inodes past the last used one "unused"
        // (never initialised).
        let (flags, itable_unused) = if csum {
            let last_used = (0..usize_of(ipg)).rev().find(|&i| ib.is_set(i));
            let unused = usize_of(ipg)
                .saturating_sub(last_used.map_or(0, |i| i.saturating_add(1)));
            let mut flags = EXT4_BG_INODE_ZEROED;
            if last_used.is_none() {
                flags |= EXT4_BG_INODE_UNINIT;
            }
            let last_group = g.saturating_add(1) == geo.group_count;
            if free_b == usize_of(geo.blocks_per_group) && !last_group {
                flags |= EXT4_BG_BLOCK_UNINIT;
            }
            (
                flags,
                u16::try_from(unused).map_err(|_| Error::Overflow {
                    what: "unused inodes in a group",
                })?,
            )
        } else {
            (EXT4_BG_INODE_ZEROED, 0)
        };
        groups.push(GroupPlan {
            meta: m,
            desc: GroupDesc {
                block_bitmap: m.block_bitmap.0,
                inode_bitmap: m.inode_bitmap.0,
                inode_table: m.inode_table.0,
                free_blocks_count: u16::try_from(free_b).map_err(|_| {
                    Error::Overflow {
                        what: "free blocks in a group",
                    }
                })?,
                free_inodes_count: u16::try_from(free_i).map_err(|_| {
                    Error::Overflow {
                        what: "free inodes in a group",
                    }
                })?,
                used_dirs_count: dirs_here,
                flags,
                itable_unused,
            },
            block_bitmap: bb,
            inode_bitmap: ib,
        });
    }
    Ok((groups, free_blocks_total, free_inodes_total))
}

/// Inode numbers and directory entries of the tree.
struct Numbering {
    lf_path: GuestPath,
    /// The tree's inodes' numbers.
    ino_of: BTreeMap<InodeId, u32>,
    /// Each inode once, by its first path, in tree order.
    order: Vec<(u32, GuestPath, InodeId)>,
    /// One past the highest number given.
    next: u32,
    /// Each directory's entries, by its number.
    children: BTreeMap<u32, Vec<DirEntry>>,
}

/// Number the tree's inodes, root 2, lost+found 11, the rest from 12 in
/// tree order, hard links sharing, and list each directory's entries.
fn number(tree: &Tree) -> Result<Numbering> {
    let lf_path =
        GuestPath::new("/lost+found").map_err(|_| Error::Overflow {
            what: "lost+found path",
        })?;
    let mut ino_of: BTreeMap<InodeId, u32> = BTreeMap::new();
    let mut order: Vec<(u32, GuestPath, InodeId)> = Vec::new();
    let mut next = FIRST_INO.saturating_add(1);
    let mut children: BTreeMap<u32, Vec<DirEntry>> = BTreeMap::new();
    for (path, id, node) in tree.iter() {
        let ino = match ino_of.get(&id) {
            Some(&ino) => ino,
            None => {
                let ino = if path.is_root() {
                    ROOT_INO
                } else if *path == lf_path {
                    if !matches!(node.kind, Kind::Dir) {
                        return Err(Error::LostFound { path: path.clone() });
                    }
                    LOST_FOUND_INO
                } else {
                    let n = next;
                    next = ck(next.checked_add(1), "inode numbers")?;
                    n
                };
                ino_of.insert(id, ino);
                order.push((ino, path.clone(), id));
                ino
            }
        };
        let Some(name) = path.file_name() else {
            continue;
        };
        if name.len() > NAME_MAX {
            return Err(Error::NameTooLong {
                path: path.clone(),
                len: name.len(),
            });
        }
        let parent = path.parent().unwrap_or_else(GuestPath::root);
        let pino = tree
            .id(&parent)
            .and_then(|pid| ino_of.get(&pid))
            .copied()
            .ok_or_else(|| Error::Orphan { path: path.clone() })?;
        children.entry(pino).or_default().push(DirEntry {
            inode: ino,
            name: name.as_bytes().to_vec(),
            file_type: file_type(&node.kind),
        });
    }
    Ok(Numbering {
        lf_path,
        ino_of,
        order,
        next,
        children,
    })
}

/// What the placement of the inodes makes, besides the bitmaps.
#[derive(Default)]
struct Placed {
    /// Whether inodes map with extents (ext4) or block maps.
    extents: bool,
    inodes: Vec<(InodeNo, Inode)>,
    dirs: Vec<DirData>,
    indirect: Vec<(BlockNo, Vec<u32>)>,
    extent_blocks: Vec<TreeBlock>,
    files: Vec<FileData>,
    symlinks: Vec<(BlockNo, Vec<u8>)>,
    xattr_blocks: Vec<(BlockNo, Vec<u8>)>,
    dir_inos: Vec<u32>,
    journal: Option<JournalData>,
    jnl_blocks: [u32; 17],
}

impl Placed {
    /// Give inode `x` its blocks (attribute block first, then data
    /// and map blocks) and its record.
    fn place(
        &mut self,
        x: Pending,
        geo: &Geometry,
        alloc: &mut Allocator,
        uuid: [u8; 16],
    ) -> Result<()> {
        let bs = geo.block_size;
        let ext4 = self.extents;
        let size = match &x.body {
            Body::File { size, .. } => *size,
            Body::Dir { contents } => {
                let n = u64::try_from(contents.len()).unwrap_or(u64::MAX);
                ck(n.checked_mul(u64::from(bs.bytes())), "directory size")?
            }
            Body::SlowSymlink(t) | Body::FastSymlink(t) => {
                u64::try_from(t.len()).unwrap_or(u64::MAX)
            }
            Body::Journal { blocks } => ck(
                u64::from(*blocks).checked_mul(u64::from(bs.bytes())),
                "journal size",
            )?,
            _ => 0,
        };
        let file_acl = match x.xattrs.block {
            Some(content) => {
                let b = alloc.one()?;
                self.xattr_blocks.push((BlockNo(b), content));
                b
            }
            None => 0,
        };
        let spans = x.body.spans();
        let mapped = if ext4 && matches!(x.body, Body::Journal { .. }) {
            // The journal goes mid-disk, contiguous where it can.
            let goal = journal_goal(geo, alloc)?;
            let mut data = Vec::new();
            let mut l = 0u64;
            for r in alloc.take_from(goal, x.body.data_blocks())? {
                data.push(FileExtent {
                    logical: l,
                    start: r.start,
                    len: r.len,
                });
                l = l.saturating_add(u64::from(r.len));
            }
            extent_map(
                x.ino,
                data,
                bs,
                alloc,
                &mut self.extent_blocks,
                &x.path,
            )?
        } else {
            map_inode(
                x.ino,
                &spans,
                ext4,
                bs,
                alloc,
                &mut self.indirect,
                &mut self.extent_blocks,
                &x.path,
            )?
        };
        let held = x
            .body
            .data_blocks()
            .saturating_add(mapped.meta)
            .saturating_add(u64::from(file_acl != 0));
        let blocks_512 =
            ck(held.checked_mul(u64::from(bs.bytes() / 512)), "i_blocks")?;
        let limit = if ext4 {
            (1u64 << 48) - 1
        } else {
            u64::from(u32::MAX)
        };
        if blocks_512 > limit {
            return Err(Error::FileTooLarge {
                path: x.path.clone(),
                size,
            });
        }
        let (block, flags) = match &x.body {
            Body::FastSymlink(t) => (IBlock::Inline(t.clone()), 0),
            Body::Device { major, minor } => (
                IBlock::Device {
                    major: *major,
                    minor: *minor,
                },
                0,
            ),
            Body::Empty => (IBlock::Map([0; N_BLOCKS]), 0),
            Body::Dir { contents }
                if matches!(contents.first(), Some(DirContent::Index(_))) =>
            {
                (mapped.block, mapped.flags | EXT2_INDEX_FL)
            }
            _ => (mapped.block, mapped.flags),
        };
        let first_block = |d: &[FileExtent]| d.first().map(|e| e.start);
        match x.body {
            Body::File { .. } => {
                if let Some(id) = x.id {
                    self.files.push(FileData {
                        path: x.path.clone(),
                        id,
                        size,
                        extents: mapped.data,
                    });
                }
            }
            Body::Dir { contents } => {
                self.dir_inos.push(x.ino);
                let mut blocks = Vec::new();
                for e in &mapped.data {
                    blocks.extend(
                        (e.start.0..e.start.0.saturating_add(e.len))
                            .map(BlockNo),
                    );
                }
                self.dirs.push(DirData {
                    ino: InodeNo(x.ino),
                    blocks,
                    contents,
                });
            }
            Body::SlowSymlink(t) => {
                let b = ck(first_block(&mapped.data), "symlink block")?;
                self.symlinks.push((b, t));
            }
            Body::Journal { blocks } => {
                let b = ck(first_block(&mapped.data), "journal block")?;
                self.journal = Some(JournalData {
                    superblock_block: b,
                    superblock: JournalSuperblock {
                        block_size: bs.bytes(),
                        max_len: blocks,
                        uuid,
                    },
                });
                let words = block.encode();
                for (i, w) in words.chunks_exact(4).enumerate() {
                    if let Some(slot) = self.jnl_blocks.get_mut(i) {
                        let mut a = [0u8; 4];
                        a.copy_from_slice(w);
                        *slot = u32::from_le_bytes(a);
                    }
                }
                self.jnl_blocks[15] = u32::try_from(size >> 32).unwrap_or(0);
                self.jnl_blocks[16] =
                    u32::try_from(size & 0xffff_ffff).unwrap_or(0);
            }
            _ => {}
        }
        self.inodes.push((
            InodeNo(x.ino),
            Inode {
                mode: x.mode,
                uid: x.uid,
                size,
                time: x.time,
                gid: x.gid,
                links_count: x.links,
                blocks_512,
                flags,
                block,
                large: true,
                xattrs: x.xattrs.in_inode,
                file_acl,
            },
        ));
        Ok(())
    }
}

/// Plan the file system holding `tree`: scan the contents for holes
/// ([`holes::scan`]), then [`plan_with`].
pub fn plan(tree: &Tree, p: &ExtParams) -> Result<ExtLayout> {
    let bs = BlockSize::from_bytes(p.block_size).ok_or(Error::BlockSize {
        block_size: p.block_size,
    })?;
    let map = holes::scan(tree, bs.bytes())?;
    plan_with(tree, p, &map)
}

/// Plan the file system holding `tree`, whose files have data only
/// where `data` says: pure, no I/O.
pub fn plan_with(
    tree: &Tree,
    p: &ExtParams,
    data: &DataMap,
) -> Result<ExtLayout> {
    let bs = BlockSize::from_bytes(p.block_size).ok_or(Error::BlockSize {
        block_size: p.block_size,
    })?;
    let bsz = bs.usize();
    if p.label.len() > 16 {
        return Err(Error::Label {
            label: p.label.clone(),
        });
    }
    if p.reserved_percent > 50 {
        return Err(Error::Param {
            what: "reserved_percent",
            value: u64::from(p.reserved_percent),
            range: "0 to 50",
        });
    }
    let inodes = match p.inodes {
        Some(n) => InodeCount::Total(n),
        None if (1024..=67_108_864).contains(&p.inode_ratio) => {
            InodeCount::Ratio(p.inode_ratio)
        }
        None => {
            return Err(Error::Param {
                what: "inode_ratio",
                value: p.inode_ratio,
                range: "1024 to 67108864 bytes per inode",
            })
        }
    };
    let ext4 = p.kind == ExtKind::Ext4;
    let csum = ext4;
    let fs_time =
        u32::try_from(p.time).map_err(|_| Error::BuildTime { time: p.time })?;
    let flex_log = if ext4 { FLEX_LOG } else { 0 };
    let geo = Geometry::new(p.size, bs, inodes, flex_log)?;
    let geo = &geo;
    // With checksums a directory block ends in a 12-byte tail.
    let dir_room = if csum {
        bsz.saturating_sub(DIR_TAIL)
    } else {
        bsz
    };
    let shape = DirShape {
        room: dir_room,
        block_size: bsz,
        tail: csum,
        hash_seed: htree::seed_words(&p.hash_seed),
    };

    let Numbering {
        lf_path,
        ino_of,
        order,
        next,
        mut children,
    } = number(tree)?;
    let have_lf = ino_of.values().any(|&i| i == LOST_FOUND_INO);
    let needed_inodes = u64::from(next.saturating_sub(1));
    if needed_inodes > u64::from(geo.inodes_count()) {
        return Err(Error::NoInodes {
            needed: needed_inodes,
            available: u64::from(geo.inodes_count()),
        });
    }

    let mut counts = tree.link_counts();
    let lf_blocks = usize_of(
        LOST_FOUND_BYTES
            .checked_div(bs.bytes())
            .unwrap_or(0)
            .clamp(2, u32::try_from(NDIR_BLOCKS).unwrap_or(12)),
    );
    let build_time = ck(Timestamp::new(p.time), "build time")?;
    let mut pending: Vec<Pending> = Vec::new();
    if !have_lf {
        children.entry(ROOT_INO).or_default().insert(
            0,
            DirEntry {
                inode: LOST_FOUND_INO,
                name: b"lost+found".to_vec(),
                file_type: FileType::Dir,
            },
        );
        if let Some(root) = tree.id(&GuestPath::root()) {
            let c = counts.entry(root).or_default();
            *c = c.saturating_add(1);
        }
        pending.push(Pending {
            ino: LOST_FOUND_INO,
            path: lf_path.clone(),
            id: None,
            mode: 0o040700,
            uid: 0,
            gid: 0,
            time: build_time,
            links: 2,
            xattrs: Xattrs::default(),
            body: Body::Dir {
                contents: dir_blocks(
                    LOST_FOUND_INO,
                    ROOT_INO,
                    Vec::new(),
                    &shape,
                    lf_blocks,
                )?,
            },
        });
    }
    for (ino, path, id) in &order {
        let node = tree.inode(*id);
        let t = node.meta.mtime.min(p.time);
        let time = Timestamp::new(t).ok_or_else(|| Error::Time {
            path: path.clone(),
            time: t,
        })?;
        let links = counts.get(id).copied().unwrap_or(1);
        let links = match u16::try_from(links)
            .ok()
            .filter(|l| u32::from(*l) <= LINK_MAX)
        {
            Some(l) => l,
            // dir_nlink: a directory past the limit counts 1.
            None if ext4 && matches!(node.kind, Kind::Dir) => 1,
            None => {
                return Err(Error::TooManyLinks {
                    path: path.clone(),
                    links,
                })
            }
        };
        let perm = node.meta.mode & 0o7777;
        let mode = u16::try_from(node.kind.type_bits() | perm)
            .map_err(|_| Error::Overflow { what: "inode mode" })?;
        let body = match &node.kind {
            Kind::File(c) => {
                let size = c.len();
                let blocks =
                    div_ceil(size, u64::from(bs.bytes()), "file blocks")?;
                Body::File {
                    size,
                    spans: data.spans(*id, blocks),
                }
            }
            Kind::Dir => {
                let parent = match path.parent() {
                    Some(pp) => tree
                        .id(&pp)
                        .and_then(|pid| ino_of.get(&pid))
                        .copied()
                        .ok_or_else(|| Error::Orphan { path: path.clone() })?,
                    None => ROOT_INO,
                };
                let kids = children.remove(ino).unwrap_or_default();
                let min = if *ino == LOST_FOUND_INO { lf_blocks } else { 1 };
                Body::Dir {
                    contents: dir_blocks(*ino, parent, kids, &shape, min)
                        .map_err(|e| match e {
                            Error::DirTooLarge { entries, .. } => {
                                Error::DirTooLarge {
                                    path: path.clone(),
                                    entries,
                                }
                            }
                            e => e,
                        })?,
                }
            }
            Kind::Symlink(target) => {
                let t = target.as_bytes().to_vec();
                let max = bsz.saturating_sub(1);
                if t.is_empty() || t.len() > max {
                    return Err(Error::SymlinkTooLong {
                        path: path.clone(),
                        len: t.len(),
                        max,
                    });
                }
                if t.len() <= FAST_SYMLINK_MAX {
                    Body::FastSymlink(t)
                } else {
                    Body::SlowSymlink(t)
                }
            }
            Kind::CharDev { major, minor }
            | Kind::BlockDev { major, minor } => {
                // new_encode_dev holds 12 bits of major, 20 of minor.
                if *major > 0xfff || *minor > 0xf_ffff {
                    return Err(Error::DeviceNumber {
                        path: path.clone(),
                        major: *major,
                        minor: *minor,
                    });
                }
                Body::Device {
                    major: *major,
                    minor: *minor,
                }
            }
            Kind::Fifo | Kind::Socket => Body::Empty,
        };
        pending.push(Pending {
            ino: *ino,
            path: path.clone(),
            id: Some(*id),
            mode,
            uid: node.meta.uid,
            gid: node.meta.gid,
            time,
            links,
            xattrs: inode_xattrs(path, &node.meta.xattrs, bsz)?,
            body,
        });
    }
    let (feature_compat, feature_incompat, feature_ro_compat) =
        features(p.kind);

    let mut alloc = Allocator::new(geo)?;
    let available = alloc.available;

    let journal_blocks = journal_size(p, geo, available)?;
    if let Some(blocks) = journal_blocks {
        pending.push(Pending {
            ino: JOURNAL_INO,
            path: GuestPath::root(),
            id: None,
            mode: 0o100600,
            uid: 0,
            gid: 0,
            time: build_time,
            links: 1,
            xattrs: Xattrs::default(),
            body: Body::Journal { blocks },
        });
    }
    // mke2fs's order: the root, lost+found, the journal, then the tree.
    pending.sort_by_key(|x| match x.ino {
        JOURNAL_INO => (LOST_FOUND_INO, 1),
        n => (n, 0),
    });

    // Count the blocks before handing any out.
    let mut needed: u64 = 0;
    for x in &pending {
        let data_blocks = x.body.data_blocks();
        let meta = if ext4 {
            0
        } else {
            map_nodes(&x.body.spans(), bs).ok_or_else(|| {
                Error::FileTooLarge {
                    path: x.path.clone(),
                    size: data_blocks.saturating_mul(u64::from(bs.bytes())),
                }
            })?
        };
        let attr_block = u64::from(x.xattrs.block.is_some());
        needed = ck(
            needed
                .checked_add(data_blocks)
                .and_then(|n| n.checked_add(meta))
                .and_then(|n| n.checked_add(attr_block)),
            "block count",
        )?;
    }
    if needed > available {
        return Err(Error::NoSpace {
            needed,
            available,
            block_size: bs.bytes(),
        });
    }

    let mut placed = Placed {
        extents: ext4,
        ..Placed::default()
    };
    for x in pending {
        placed.place(x, geo, &mut alloc, p.uuid)?;
    }

    // The bad blocks inode: empty, with the times mke2fs gives it.
    placed.inodes.push((
        InodeNo(BAD_INO),
        Inode {
            mode: 0,
            uid: 0,
            size: 0,
            time: build_time,
            gid: 0,
            links_count: 0,
            blocks_512: 0,
            flags: 0,
            block: IBlock::Map([0; N_BLOCKS]),
            large: false,
            xattrs: Vec::new(),
            file_acl: 0,
        },
    ));
    placed.inodes.sort_by_key(|(n, _)| *n);

    let (groups, free_blocks_total, free_inodes_total) =
        group_plans(geo, alloc.used, &placed.inodes, &placed.dir_inos, csum)?;

    let mut volume_name = [0u8; 16];
    volume_name
        .get_mut(..p.label.len())
        .ok_or(Error::Overflow { what: "label" })?
        .copy_from_slice(p.label.as_bytes());
    let superblock = Superblock {
        inodes_count: geo.inodes_count(),
        blocks_count: geo.blocks_count,
        r_blocks_count: u32_of(
            ck(
                u64::from(geo.blocks_count)
                    .checked_mul(u64::from(p.reserved_percent)),
                "reserved blocks",
            )? / 100,
            "reserved blocks",
        )?,
        free_blocks_count: u32_of(free_blocks_total, "free blocks")?,
        free_inodes_count: u32_of(free_inodes_total, "free inodes")?,
        first_data_block: geo.first_data_block,
        log_block_size: bs.log(),
        blocks_per_group: geo.blocks_per_group,
        inodes_per_group: geo.inodes_per_group,
        time: fs_time,
        first_ino: FIRST_INO,
        inode_size: INODE_SIZE,
        block_group_nr: 0,
        state: super::superblock::EXT2_VALID_FS,
        feature_compat,
        feature_incompat,
        feature_ro_compat,
        uuid: p.uuid,
        volume_name,
        hash_seed: p.hash_seed,
        extra_isize: EXTRA_ISIZE,
        // mke2fs 1.47 counts the journal's blocks (not its indirect
        // blocks) as overhead too.
        overhead_clusters: u32_of(
            ck(
                u64::from(geo.blocks_count).checked_sub(available).and_then(
                    |n| n.checked_add(u64::from(journal_blocks.unwrap_or(0))),
                ),
                "overhead",
            )?,
            "overhead",
        )?,
        journal_inum: if placed.journal.is_some() {
            JOURNAL_INO
        } else {
            0
        },
        jnl_blocks: placed.jnl_blocks,
        log_groups_per_flex: u8::try_from(flex_log).unwrap_or(0),
    };
    Ok(ExtLayout {
        kind: p.kind,
        geometry: geo.clone(),
        superblock,
        groups,
        inodes: placed.inodes,
        dirs: placed.dirs,
        indirect: placed.indirect,
        extent_blocks: placed.extent_blocks,
        files: placed.files,
        symlinks: placed.symlinks,
        xattr_blocks: placed.xattr_blocks,
        journal: placed.journal,
    })
}

/// Where the attributes of the inode at `path` go: in the inode if
/// they fit, else in a block of their own.
fn inode_xattrs(
    path: &GuestPath,
    attrs: &BTreeMap<String, Vec<u8>>,
    block_size: usize,
) -> Result<Xattrs> {
    if attrs.is_empty() {
        return Ok(Xattrs::default());
    }
    let list: Vec<(&str, &[u8])> = attrs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_slice()))
        .collect();
    let refused = |r: Refusal| match r {
        Refusal::Name(name) => Error::XattrName {
            path: path.clone(),
            name,
        },
        Refusal::Acl(name) => Error::XattrAcl {
            path: path.clone(),
            name,
        },
        Refusal::TooLarge(needed) => Error::XattrsTooLarge {
            path: path.clone(),
            needed,
            available: block_size,
        },
    };
    match xattr::encode_in_inode(&list, XATTR_AREA) {
        Ok(in_inode) => Ok(Xattrs {
            in_inode,
            block: None,
        }),
        Err(Refusal::TooLarge(_)) => Ok(Xattrs {
            in_inode: Vec::new(),
            block: Some(
                xattr::encode_block(&list, block_size).map_err(refused)?,
            ),
        }),
        Err(r) => Err(refused(r)),
    }
}

/// How directory blocks are shaped.
struct DirShape {
    /// Bytes for entries in a block (less the checksum tail).
    room: usize,
    block_size: usize,
    /// `metadata_csum`: index blocks end in a `dx_tail`.
    tail: bool,
    /// `s_hash_seed` as hash words.
    hash_seed: [u32; 4],
}

/// A directory's blocks: `.`, `..`, then the children, padded with
/// empty blocks to `min_blocks`; or, when they take more than one block
/// (and it is not `lost+found`, which e2fsck keeps linear), an index
/// ([`htree`]): the root, interior nodes if the root cannot point at
/// every leaf, then the leaves in hash order.
fn dir_blocks(
    ino: u32,
    parent: u32,
    kids: Vec<DirEntry>,
    shape: &DirShape,
    min_blocks: usize,
) -> Result<Vec<DirContent>> {
    let dots = [
        DirEntry {
            inode: ino,
            name: b".".to_vec(),
            file_type: FileType::Dir,
        },
        DirEntry {
            inode: parent,
            name: b"..".to_vec(),
            file_type: FileType::Dir,
        },
    ];
    let linear_len = dots
        .iter()
        .chain(kids.iter())
        .fold(0usize, |n, e| n.saturating_add(e.min_rec_len()));
    if ino == LOST_FOUND_INO || linear_len <= shape.room {
        let mut entries = dots.to_vec();
        entries.extend(kids);
        let mut blocks: Vec<DirContent> = dir::pack(entries, shape.room)
            .into_iter()
            .map(DirContent::Entries)
            .collect();
        while blocks.len() < min_blocks {
            blocks.push(DirContent::Entries(DirBlock::default()));
        }
        return Ok(blocks);
    }
    let entries = kids.len();
    let too_large = || Error::DirTooLarge {
        path: GuestPath::root(),
        entries,
    };
    let leaves = htree::leaves(kids, shape.room, shape.hash_seed);
    let root_limit =
        htree::limit(shape.block_size, htree::ROOT_COUNT_OFFSET, shape.tail);
    let node_limit =
        htree::limit(shape.block_size, htree::NODE_COUNT_OFFSET, shape.tail);
    let block_no = |n: usize| u32::try_from(n).map_err(|_| too_large());
    let root_info = |levels| DxRootInfo {
        ino,
        parent,
        indirect_levels: levels,
    };
    let mut out = Vec::new();
    if leaves.len() <= root_limit {
        let mut entries = Vec::new();
        for (k, (hash, _)) in leaves.iter().enumerate() {
            entries.push((*hash, block_no(k.saturating_add(1))?));
        }
        out.push(DirContent::Index(DxBlock {
            root: Some(root_info(0)),
            entries,
        }));
    } else {
        // One level of nodes (the most without `largedir`).
        let nodes: Vec<&[(u32, Vec<DirEntry>)]> =
            leaves.chunks(node_limit.max(1)).collect();
        if nodes.len() > root_limit {
            return Err(too_large());
        }
        let first_leaf = nodes.len().saturating_add(1);
        let mut root = Vec::new();
        let mut node_blocks = Vec::new();
        let mut next_leaf = first_leaf;
        for (j, chunk) in nodes.iter().enumerate() {
            let first_hash = chunk.first().map_or(0, |(h, _)| *h);
            root.push((first_hash, block_no(j.saturating_add(1))?));
            let mut entries = Vec::new();
            for (hash, _) in chunk.iter() {
                entries.push((*hash, block_no(next_leaf)?));
                next_leaf = next_leaf.saturating_add(1);
            }
            node_blocks.push(DirContent::Index(DxBlock {
                root: None,
                entries,
            }));
        }
        out.push(DirContent::Index(DxBlock {
            root: Some(root_info(1)),
            entries: root,
        }));
        out.extend(node_blocks);
    }
    out.extend(
        leaves
            .into_iter()
            .map(|(_, entries)| DirContent::Entries(DirBlock { entries })),
    );
    Ok(out)
}
