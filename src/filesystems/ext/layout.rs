//! The pure plan of an ext2 file system: geometry (block groups, where
//! each group's superblock copy, descriptor table, bitmaps and inode
//! table lie), inode numbers, every block's owner, and every metadata
//! record, computed from the tree without I/O. The writer in
//! [`super::write()`] only executes it.
//!
//! Spec: the kernel's ext4 on-disk format documentation, "Layout" and
//! "Flexible Block Groups"/"Meta Block Groups" (neither used here)
//! (<https://www.kernel.org/doc/html/latest/filesystems/ext4/overview.html>,
//! `Documentation/filesystems/ext4/blockgroup.rst`), and the block map
//! in "Direct/Indirect Block Addressing" (`inodes.rst`).
//!
//! The choices follow `mke2fs` 1.47 with `/etc/mke2fs.conf`'s defaults
//! so that the result looks like what an administrator would have made:
//!
//! - `blocks_per_group` = 8 × block size (one bitmap block);
//! - the inode ratio by size type: `floppy` (< 3 MiB) 8192, `small`
//!   (< 512 MiB) 4096, `default` 16384, `big` (≥ 4 TiB) 32768, `huge`
//!   (≥ 16 TiB) 65536 bytes per inode; inodes per group rounded up to
//!   whole inode-table blocks and a multiple of 8;
//! - a last group too small to hold its metadata and 50 data blocks is
//!   dropped, as mke2fs drops it;
//! - 5 % of the blocks reserved for root (`s_r_blocks_count`);
//! - `lost+found` (inode 11) pre-sized to 16 KiB, at most 12 blocks;
//! - the features `sparse_super`, `filetype`, `large_file`, and
//!   `ext_attr` only when some inode has extended attributes (stored in
//!   the inode, [`super::xattr`]); no `resize_inode` (no reserved GDT
//!   blocks), no `dir_index`.
//!
//! With these choices and an empty tree the image is byte for byte what
//! `mke2fs -t ext2 -I 256 -O none,sparse_super,filetype,large_file`
//! makes with the same UUID, hash seed, label and time (a test runs
//! it).
//!
//! Blocks are handed out in increasing order from the first data block
//! of group 0; a file's blocks come in the order the kernel's ext2 would
//! write them (each indirect block before the data it maps), so files
//! are contiguous apart from their indirect blocks. Inodes are numbered
//! in tree order from 12 (2 is `/`, 11 `lost+found`), hard links
//! sharing one number. File contents are not read, so holes are
//! allocated like data.
//!
//! Written by hand because no crate makes a file system: `ext4-rs`
//! expects one made by `mkfs.ext4`, writes no journal and handles only
//! extents and 4 KiB blocks, so it cannot make ext2 or ext3.

use std::collections::BTreeMap;

use super::bitmap::Bitmap;
use super::dir::{self, DirBlock, DirEntry, FileType, NAME_MAX};
use super::group_desc::GroupDesc;
use super::inode::{
    IBlock, Inode, Timestamp, DIND_BLOCK, EXTRA_ISIZE, FAST_SYMLINK_MAX,
    IND_BLOCK, INODE_SIZE, NDIR_BLOCKS, N_BLOCKS, TIND_BLOCK, XATTR_AREA,
};
use super::superblock::{compat, incompat, ro_compat, Superblock};
use super::xattr::{self, Refusal};
use super::{Error, ExtParams, Result};
use crate::tree::{GuestPath, InodeId, Kind, Tree};

/// The bad blocks inode.
pub const BAD_INO: u32 = 1;
/// The root directory's inode.
pub const ROOT_INO: u32 = 2;
/// `lost+found`'s inode, mke2fs's choice: the first non-reserved one.
pub const LOST_FOUND_INO: u32 = 11;
/// `s_first_ino`.
pub const FIRST_INO: u32 = 11;
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
    /// The first block for data.
    pub data_start: BlockNo,
}

/// The file system's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    pub fn new(size: u64, block_size: BlockSize) -> Result<Geometry> {
        let bs = u64::from(block_size.bytes());
        let all = ck(size.checked_div(bs), "block count")?;
        let mut blocks = u32::try_from(all).map_err(|_| Error::TooLarge {
            size,
            reason: "more than 2^32 - 1 blocks",
        })?;
        let first_data_block = u32::from(block_size == BlockSize::B1024);
        let bpg = ck(block_size.bytes().checked_mul(8), "blocks per group")?;
        let per_itb = ck(
            u64::from(block_size.bytes()).checked_div(u64::from(INODE_SIZE)),
            "inodes per block",
        )?;
        let ratio = inode_ratio(size);
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
            let want = ck(
                u64::from(blocks)
                    .checked_mul(bs)
                    .and_then(|b| b.checked_div(ratio)),
                "inode count",
            )?;
            let mut ipg = div_ceil(want, groups, "inodes per group")?.max(16);
            let step = per_itb.max(8);
            ipg = ck(
                div_ceil(ipg, step, "inodes per group")?.checked_mul(step),
                "inodes per group",
            )?;
            ipg = ipg.min(u64::from(bpg));
            let itb = ck(
                ipg.checked_mul(u64::from(INODE_SIZE))
                    .and_then(|b| b.checked_div(bs)),
                "inode table blocks",
            )?;
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
    /// data, as mke2fs places them without `flex_bg`.
    pub fn group_meta(&self, g: u32) -> Result<GroupMeta> {
        let start = self.group_start(g)?;
        let end = self.group_end(g)?;
        let has_super = has_super(g);
        let gdt = ck(start.checked_add(1), "group layout")?;
        let block_bitmap = if has_super {
            ck(gdt.checked_add(self.gdt_blocks), "group layout")?
        } else {
            start
        };
        let inode_bitmap = ck(block_bitmap.checked_add(1), "group layout")?;
        let inode_table = ck(inode_bitmap.checked_add(1), "group layout")?;
        let data_start = ck(
            inode_table.checked_add(self.inode_table_blocks),
            "group layout",
        )?;
        Ok(GroupMeta {
            start: BlockNo(start),
            end: BlockNo(end),
            has_super,
            gdt: BlockNo(gdt),
            block_bitmap: BlockNo(block_bitmap),
            inode_bitmap: BlockNo(inode_bitmap),
            inode_table: BlockNo(inode_table),
            data_start: BlockNo(data_start),
        })
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

/// A regular file's data and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileData {
    /// Its first path (for error messages).
    pub path: GuestPath,
    /// Its inode in the tree (for its content).
    pub id: InodeId,
    /// Its size in bytes.
    pub size: u64,
    /// Its data blocks in file order.
    pub runs: Vec<Run>,
}

/// A directory's blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirData {
    /// Block numbers in order.
    pub blocks: Vec<BlockNo>,
    /// Their contents.
    pub contents: Vec<DirBlock>,
}

/// The whole plan: every byte the writer will write follows from it and
/// the tree's file contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtLayout {
    /// The shape.
    pub geometry: Geometry,
    /// The superblock (group 0's copy; backups differ only in
    /// `s_block_group_nr`).
    pub superblock: Superblock,
    /// Per group.
    pub groups: Vec<GroupPlan>,
    /// Inodes by number, in increasing order.
    pub inodes: Vec<(InodeNo, Inode)>,
    /// Directory blocks.
    pub dirs: Vec<DirData>,
    /// Indirect blocks: block number and the block numbers it holds.
    pub indirect: Vec<(BlockNo, Vec<u32>)>,
    /// Regular files.
    pub files: Vec<FileData>,
    /// Slow symlinks: the block and the target.
    pub symlinks: Vec<(BlockNo, Vec<u8>)>,
    /// Extended attribute blocks and their contents.
    pub xattr_blocks: Vec<(BlockNo, Vec<u8>)>,
}

/// Hands out data blocks in increasing order, skipping metadata.
struct Allocator {
    ranges: Vec<(u32, u32)>,
    idx: usize,
    next: u32,
    used: Vec<Bitmap>,
    starts: Vec<u32>,
    bpg: u32,
    first: u32,
}

impl Allocator {
    fn one(&mut self) -> Result<u32> {
        while let Some(&(start, end)) = self.ranges.get(self.idx) {
            let b = self.next.max(start);
            if b < end {
                self.next = ck(b.checked_add(1), "block allocation")?;
                let g = ck(
                    b.checked_sub(self.first)
                        .and_then(|o| o.checked_div(self.bpg)),
                    "block allocation",
                )?;
                let gi = usize_of(g);
                let base = *ck(self.starts.get(gi), "block allocation")?;
                let bit =
                    usize_of(ck(b.checked_sub(base), "block allocation")?);
                ck(self.used.get_mut(gi), "block allocation")?.set(bit);
                return Ok(b);
            }
            self.idx = ck(self.idx.checked_add(1), "block allocation")?;
        }
        // The plan counts the blocks it needs before allocating.
        Err(Error::Overflow {
            what: "block allocation",
        })
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

/// A block map of `n` data blocks: `i_block`, the indirect blocks and
/// the data blocks in file order.
struct BlockMap {
    iblock: [u32; N_BLOCKS],
    indirect: Vec<(u32, Vec<u32>)>,
    data: Vec<u32>,
}

fn block_map(n: u64, bs: BlockSize, alloc: &mut Allocator) -> Result<BlockMap> {
    let mut m = BlockMap {
        iblock: [0; N_BLOCKS],
        indirect: Vec::new(),
        data: Vec::new(),
    };
    let mut left = n;
    for slot in m.iblock.iter_mut().take(NDIR_BLOCKS) {
        if left == 0 {
            break;
        }
        *slot = alloc.one()?;
        m.data.push(*slot);
        left = left.saturating_sub(1);
    }
    for (slot, level) in [(IND_BLOCK, 1u8), (DIND_BLOCK, 2), (TIND_BLOCK, 3)] {
        if left == 0 {
            break;
        }
        m.iblock[slot] = tree_block(level, &mut left, bs, alloc, &mut m)?;
    }
    Ok(m)
}

/// One indirect block of `level` and everything below it.
fn tree_block(
    level: u8,
    left: &mut u64,
    bs: BlockSize,
    alloc: &mut Allocator,
    m: &mut BlockMap,
) -> Result<u32> {
    let me = alloc.one()?;
    let idx = m.indirect.len();
    m.indirect.push((me, Vec::new()));
    let mut entries = Vec::new();
    for _ in 0..bs.per_block() {
        if *left == 0 {
            break;
        }
        let child = if level == 1 {
            let d = alloc.one()?;
            m.data.push(d);
            *left = left.saturating_sub(1);
            d
        } else {
            tree_block(level.saturating_sub(1), left, bs, alloc, m)?
        };
        entries.push(child);
    }
    ck(m.indirect.get_mut(idx), "block map")?.1 = entries;
    Ok(me)
}

fn runs(blocks: &[u32]) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    for &b in blocks {
        if let Some(last) = out.last_mut() {
            if last.start.0.checked_add(last.len) == Some(b) {
                last.len = last.len.saturating_add(1);
                continue;
            }
        }
        out.push(Run {
            start: BlockNo(b),
            len: 1,
        });
    }
    out
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
    File { size: u64, blocks: u64 },
    Dir { contents: Vec<DirBlock> },
    FastSymlink(Vec<u8>),
    SlowSymlink(Vec<u8>),
    Device { major: u32, minor: u32 },
    Empty,
}

/// Plan the ext2 file system holding `tree`.
pub fn plan(tree: &Tree, p: &ExtParams) -> Result<ExtLayout> {
    let bs = BlockSize::from_bytes(p.block_size).ok_or(Error::BlockSize {
        block_size: p.block_size,
    })?;
    let bsz = bs.usize();
    if p.label.len() > 16 {
        return Err(Error::Label {
            label: p.label.clone(),
        });
    }
    let fs_time =
        u32::try_from(p.time).map_err(|_| Error::BuildTime { time: p.time })?;
    let geo = Geometry::new(p.size, bs)?;

    // Inode numbers: root 2, lost+found 11, the rest from 12 in tree
    // order; hard links share.
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
            time: ck(Timestamp::new(p.time), "build time")?,
            links: 2,
            xattrs: Xattrs::default(),
            body: Body::Dir {
                contents: dir_blocks(
                    LOST_FOUND_INO,
                    ROOT_INO,
                    Vec::new(),
                    bsz,
                    lf_blocks,
                ),
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
        let links = u16::try_from(links)
            .ok()
            .filter(|l| u32::from(*l) <= LINK_MAX)
            .ok_or_else(|| Error::TooManyLinks {
                path: path.clone(),
                links,
            })?;
        let perm = node.meta.mode & 0o7777;
        let mode = u16::try_from(node.kind.type_bits() | perm)
            .map_err(|_| Error::Overflow { what: "inode mode" })?;
        let body = match &node.kind {
            Kind::File(c) => {
                let size = c.len();
                let blocks =
                    div_ceil(size, u64::from(bs.bytes()), "file blocks")?;
                Body::File { size, blocks }
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
                    contents: dir_blocks(*ino, parent, kids, bsz, min),
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
    pending.sort_by_key(|x| x.ino);
    let has_xattrs =
        |x: &Pending| !x.xattrs.in_inode.is_empty() || x.xattrs.block.is_some();
    let feature_compat = if pending.iter().any(has_xattrs) {
        compat::EXT_ATTR
    } else {
        0
    };

    // Count the blocks before handing any out.
    let mut needed: u64 = 0;
    for x in &pending {
        let data = match &x.body {
            Body::File { blocks, .. } => *blocks,
            Body::Dir { contents } => {
                u64::try_from(contents.len()).unwrap_or(u64::MAX)
            }
            Body::SlowSymlink(_) => 1,
            _ => 0,
        };
        let attr_block = u64::from(x.xattrs.block.is_some());
        let ind =
            indirect_blocks(data, bs).ok_or_else(|| Error::FileTooLarge {
                path: x.path.clone(),
                size: data.saturating_mul(u64::from(bs.bytes())),
            })?;
        let sectors = data
            .checked_add(ind)
            .and_then(|b| b.checked_add(attr_block))
            .and_then(|b| b.checked_mul(u64::from(bs.bytes() / 512)))
            .filter(|s| *s <= u64::from(u32::MAX));
        if sectors.is_none() {
            return Err(Error::FileTooLarge {
                path: x.path.clone(),
                size: data.saturating_mul(u64::from(bs.bytes())),
            });
        }
        needed = ck(
            needed
                .checked_add(data)
                .and_then(|n| n.checked_add(ind))
                .and_then(|n| n.checked_add(attr_block)),
            "block count",
        )?;
    }

    // Groups: metadata marked, data ranges for the allocator.
    let mut metas = Vec::new();
    let mut block_maps = Vec::new();
    let mut ranges = Vec::new();
    let mut starts = Vec::new();
    let mut available: u64 = 0;
    for g in 0..geo.group_count {
        let m = geo.group_meta(g)?;
        let len = usize_of(ck(m.end.0.checked_sub(m.start.0), "group size")?);
        let mut bm = Bitmap::new(len, bsz);
        bm.set_range(
            0,
            usize_of(ck(m.data_start.0.checked_sub(m.start.0), "group size")?),
        );
        available = ck(
            available
                .checked_add(u64::from(m.end.0.saturating_sub(m.data_start.0))),
            "block count",
        )?;
        ranges.push((m.data_start.0, m.end.0));
        starts.push(m.start.0);
        block_maps.push(bm);
        metas.push(m);
    }
    if needed > available {
        return Err(Error::NoSpace {
            needed,
            available,
            block_size: bs.bytes(),
        });
    }
    let mut alloc = Allocator {
        ranges,
        idx: 0,
        next: 0,
        used: block_maps,
        starts,
        bpg: geo.blocks_per_group,
        first: geo.first_data_block,
    };

    let mut inodes = Vec::new();
    let mut dirs = Vec::new();
    let mut indirect = Vec::new();
    let mut files = Vec::new();
    let mut symlinks = Vec::new();
    let mut xattr_blocks = Vec::new();
    let mut dir_inos = Vec::new();
    for x in pending {
        let (size, nblocks) = match &x.body {
            Body::File { size, blocks } => (*size, *blocks),
            Body::Dir { contents } => {
                let n = u64::try_from(contents.len()).unwrap_or(u64::MAX);
                (
                    ck(n.checked_mul(u64::from(bs.bytes())), "directory size")?,
                    n,
                )
            }
            Body::SlowSymlink(t) | Body::FastSymlink(t) => {
                (u64::try_from(t.len()).unwrap_or(u64::MAX), 0)
            }
            _ => (0, 0),
        };
        let nblocks = if matches!(x.body, Body::SlowSymlink(_)) {
            1
        } else {
            nblocks
        };
        let file_acl = match x.xattrs.block {
            Some(content) => {
                let b = alloc.one()?;
                xattr_blocks.push((BlockNo(b), content));
                b
            }
            None => 0,
        };
        let map = block_map(nblocks, bs, &mut alloc)?;
        let held = u64::try_from(
            map.data
                .len()
                .saturating_add(map.indirect.len())
                .saturating_add(usize::from(file_acl != 0)),
        )
        .unwrap_or(u64::MAX);
        let blocks_512 = u32_of(
            ck(held.checked_mul(u64::from(bs.bytes() / 512)), "i_blocks")?,
            "i_blocks",
        )?;
        let block = match &x.body {
            Body::FastSymlink(t) => IBlock::Inline(t.clone()),
            Body::Device { major, minor } => IBlock::Device {
                major: *major,
                minor: *minor,
            },
            _ => IBlock::Map(map.iblock),
        };
        match x.body {
            Body::File { .. } => {
                if let Some(id) = x.id {
                    files.push(FileData {
                        path: x.path.clone(),
                        id,
                        size,
                        runs: runs(&map.data),
                    });
                }
            }
            Body::Dir { contents } => {
                dir_inos.push(x.ino);
                dirs.push(DirData {
                    blocks: map.data.iter().copied().map(BlockNo).collect(),
                    contents,
                });
            }
            Body::SlowSymlink(t) => {
                let b = *ck(map.data.first(), "symlink block")?;
                symlinks.push((BlockNo(b), t));
            }
            _ => {}
        }
        indirect.extend(map.indirect.into_iter().map(|(b, e)| (BlockNo(b), e)));
        inodes.push((
            InodeNo(x.ino),
            Inode {
                mode: x.mode,
                uid: x.uid,
                size,
                time: x.time,
                gid: x.gid,
                links_count: x.links,
                blocks_512,
                block,
                large: true,
                xattrs: x.xattrs.in_inode,
                file_acl,
            },
        ));
    }

    // The bad blocks inode: empty, with the times mke2fs gives it.
    inodes.insert(
        0,
        (
            InodeNo(BAD_INO),
            Inode {
                mode: 0,
                uid: 0,
                size: 0,
                time: ck(Timestamp::new(p.time), "build time")?,
                gid: 0,
                links_count: 0,
                blocks_512: 0,
                block: IBlock::Map([0; N_BLOCKS]),
                large: false,
                xattrs: Vec::new(),
                file_acl: 0,
            },
        ),
    );

    // Inode bitmaps and per-group counts.
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
    let used = (1..=FIRST_INO).chain(inodes.iter().map(|(n, _)| n.0));
    for ino in used {
        let (g, i) = place(ino)?;
        ck(inode_maps.get_mut(g), "inode numbers")?.set(i);
    }
    for ino in &dir_inos {
        let (g, _) = place(*ino)?;
        let d = ck(dirs_per.get_mut(g), "inode numbers")?;
        *d = d.saturating_add(1);
    }
    let mut groups = Vec::new();
    let mut free_blocks_total: u64 = 0;
    let mut free_inodes_total: u64 = 0;
    let per_group = alloc.used.into_iter().zip(inode_maps).zip(dirs_per);
    for (m, ((bb, ib), dirs_here)) in metas.into_iter().zip(per_group) {
        let len = usize_of(m.end.0.saturating_sub(m.start.0));
        let free_b = len.saturating_sub(bb.count());
        let free_i = usize_of(ipg).saturating_sub(ib.count());
        free_blocks_total = free_blocks_total
            .saturating_add(u64::try_from(free_b).unwrap_or(0));
        free_inodes_total = free_inodes_total
            .saturating_add(u64::try_from(free_i).unwrap_or(0));
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
            },
            block_bitmap: bb,
            inode_bitmap: ib,
        });
    }

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
                u64::from(geo.blocks_count).checked_mul(5),
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
        feature_incompat: incompat::FILETYPE,
        feature_ro_compat: ro_compat::SPARSE_SUPER | ro_compat::LARGE_FILE,
        uuid: p.uuid,
        volume_name,
        hash_seed: p.hash_seed,
        extra_isize: EXTRA_ISIZE,
        overhead_clusters: u32_of(
            ck(
                u64::from(geo.blocks_count).checked_sub(available),
                "overhead",
            )?,
            "overhead",
        )?,
    };
    Ok(ExtLayout {
        geometry: geo,
        superblock,
        groups,
        inodes,
        dirs,
        indirect,
        files,
        symlinks,
        xattr_blocks,
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

/// A directory's blocks: `.`, `..`, then the children, padded with
/// empty blocks to `min_blocks`.
fn dir_blocks(
    ino: u32,
    parent: u32,
    kids: Vec<DirEntry>,
    block_size: usize,
    min_blocks: usize,
) -> Vec<DirBlock> {
    let mut entries = vec![
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
    entries.extend(kids);
    let mut blocks = dir::pack(entries, block_size);
    while blocks.len() < min_blocks {
        blocks.push(DirBlock::default());
    }
    blocks
}
