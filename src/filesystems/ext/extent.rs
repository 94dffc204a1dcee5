//! ext4 extent trees: the header, leaf and index records, and a pure
//! builder that turns a file's block runs into the 60-byte `i_block`
//! root and the tree blocks below it.
//!
//! Spec: the kernel's ext4 on-disk format documentation, "Extent Tree"
//! (<https://www.kernel.org/doc/html/latest/filesystems/ext4/ifork.html>,
//! `Documentation/filesystems/ext4/ifork.rst`). A node is a 12-byte
//! header (`eh_magic` 0xF30A, `eh_entries`, `eh_max`, `eh_depth`,
//! `eh_generation`) and `eh_max` 12-byte entries: leaves (depth 0)
//! hold extents, index nodes hold pointers to the next level. The root
//! lives in `i_block` (4 entries); a tree block holds `(block size −
//! 12) / 12` entries and then the 4-byte `ext4_extent_tail` that
//! `metadata_csum` fills ([`super::csum::set_extent_block`]).
//!
//! # The builder's shape
//!
//! [`build`] packs extents into leaves in logical order, each leaf
//! full but the last, and index levels the same way, adding a level
//! until the nodes fit the root's 4 slots. A tree built in one go
//! needs no slack: the kernel splits full nodes when it later appends.
//!
//! Tree blocks are asked of the caller's closure top down, one level at
//! a time (the root's children first, the leaves last), each level in
//! logical order, exactly [`tree_blocks`] times. So a closure handing
//! out increasing numbers puts every index block before the blocks it
//! points to and the leaves in file order. The builder assumes nothing
//! about where they lie relative to the data: a caller that wants them
//! just before the file's data counts them with [`tree_blocks`] first,
//! reserves them, then allocates the data (as the kernel's ext2
//! indirect blocks precede their data).
//!
//! Written by hand because no crate writes extent trees: `ext4-view`
//! only reads them, `ext4-rs` writes them into a file system it must
//! own.

use super::bytes::{put_u16le, put_u32le, read_u16le, read_u32le};
use super::layout::BlockSize;

/// `eh_magic`.
pub const EXT4_EXT_MAGIC: u16 = 0xF30A;
/// `i_flags` bit of an inode whose `i_block` is an extent tree.
pub const EXT4_EXTENTS_FL: u32 = 0x0008_0000;
/// Longest initialized extent (`ee_len` above it marks an
/// uninitialized extent of `ee_len − 32768` blocks).
pub const EXT_INIT_MAX_LEN: u32 = 32_768;
/// Bytes of the header and of each entry.
pub const ENTRY_SIZE: usize = 12;
/// Bytes of `i_block`.
pub const I_BLOCK_SIZE: usize = 60;
/// Entries in the root in `i_block`.
pub const ROOT_MAX: u16 = 4;
/// Deepest tree the kernel accepts (`EXT4_MAX_EXTENT_DEPTH`).
pub const MAX_DEPTH: u16 = 5;

/// Errors of the extent records and builder.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A node buffer shorter than its header says.
    #[error("extent node of {len} bytes is too short for {need}")]
    Short {
        /// The buffer's length.
        len: usize,
        /// Bytes the header needs.
        need: usize,
    },
    /// `eh_magic` is not 0xF30A.
    #[error("extent header magic is {magic:#06x}, not 0xf30a")]
    Magic {
        /// What was found.
        magic: u16,
    },
    /// More entries than `eh_max`.
    #[error("extent node has {entries} entries but room for {max}")]
    Entries {
        /// `eh_entries`.
        entries: u16,
        /// `eh_max`.
        max: u16,
    },
    /// A run of length 0, or out of logical order, or overlapping the
    /// one before.
    #[error(
        "run at logical block {logical} ({len} blocks) is empty, out of \
         order or overlaps the previous one"
    )]
    Run {
        /// The run's first logical block.
        logical: u32,
        /// Its length.
        len: u32,
    },
    /// A run past the 2^32 logical blocks a file has.
    #[error("run at logical block {logical} ({len} blocks) ends past 2^32")]
    RunEnd {
        /// The run's first logical block.
        logical: u32,
        /// Its length.
        len: u32,
    },
    /// Deeper than the kernel reads.
    #[error("{extents} extents need a tree deeper than 5 levels")]
    TooDeep {
        /// Extents asked for.
        extents: usize,
    },
    /// The caller's allocator failed or gave too few blocks.
    #[error("no block for extent tree node {index}")]
    NoBlock {
        /// Which tree block (counting from 0 in allocation order).
        index: usize,
    },
}

/// Result of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// `struct ext4_extent_header`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtentHeader {
    /// `eh_entries`: valid entries.
    pub entries: u16,
    /// `eh_max`: room for entries.
    pub max: u16,
    /// `eh_depth`: 0 for a leaf.
    pub depth: u16,
    /// `eh_generation` (unused by Linux; 0).
    pub generation: u32,
}

impl ExtentHeader {
    /// The 12 bytes of the header.
    pub fn encode(&self) -> [u8; ENTRY_SIZE] {
        let mut b = [0u8; ENTRY_SIZE];
        put_u16le(&mut b, 0x0, EXT4_EXT_MAGIC); // eh_magic
        put_u16le(&mut b, 0x2, self.entries); // eh_entries
        put_u16le(&mut b, 0x4, self.max); // eh_max
        put_u16le(&mut b, 0x6, self.depth); // eh_depth
        put_u32le(&mut b, 0x8, self.generation); // eh_generation
        b
    }

    /// The header at the start of `b`.
    pub fn decode(b: &[u8]) -> Result<ExtentHeader> {
        let short = || Error::Short {
            len: b.len(),
            need: ENTRY_SIZE,
        };
        let f16 = |off| read_u16le(b, off).ok_or_else(short);
        let magic = f16(0x0)?;
        if magic != EXT4_EXT_MAGIC {
            return Err(Error::Magic { magic });
        }
        Ok(ExtentHeader {
            entries: f16(0x2)?,
            max: f16(0x4)?,
            depth: f16(0x6)?,
            generation: read_u32le(b, 0x8).ok_or_else(short)?,
        })
    }
}

/// `struct ext4_extent`: a leaf entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// `ee_block`: first logical block.
    pub block: u32,
    /// `ee_len`: blocks (above 32768: uninitialized, `len − 32768`).
    pub len: u16,
    /// `ee_start_hi`:`ee_start_lo`: first physical block (48 bits).
    pub start: u64,
}

impl Extent {
    /// The 12 bytes of the entry.
    pub fn encode(&self) -> [u8; ENTRY_SIZE] {
        let mut b = [0u8; ENTRY_SIZE];
        put_u32le(&mut b, 0x0, self.block); // ee_block
        put_u16le(&mut b, 0x4, self.len); // ee_len
        put_u16le(&mut b, 0x6, hi16(self.start)); // ee_start_hi
        put_u32le(&mut b, 0x8, lo32(self.start)); // ee_start_lo
        b
    }

    /// The entry at the start of `b`.
    pub fn decode(b: &[u8]) -> Result<Extent> {
        let short = || Error::Short {
            len: b.len(),
            need: ENTRY_SIZE,
        };
        let hi = read_u16le(b, 0x6).ok_or_else(short)?;
        let lo = read_u32le(b, 0x8).ok_or_else(short)?;
        Ok(Extent {
            block: read_u32le(b, 0x0).ok_or_else(short)?,
            len: read_u16le(b, 0x4).ok_or_else(short)?,
            start: (u64::from(hi) << 32) | u64::from(lo),
        })
    }
}

/// `struct ext4_extent_idx`: an index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtentIdx {
    /// `ei_block`: first logical block the child covers.
    pub block: u32,
    /// `ei_leaf_hi`:`ei_leaf_lo`: the child's physical block.
    pub leaf: u64,
}

impl ExtentIdx {
    /// The 12 bytes of the entry (`ei_unused` 0).
    pub fn encode(&self) -> [u8; ENTRY_SIZE] {
        let mut b = [0u8; ENTRY_SIZE];
        put_u32le(&mut b, 0x0, self.block); // ei_block
        put_u32le(&mut b, 0x4, lo32(self.leaf)); // ei_leaf_lo
        put_u16le(&mut b, 0x8, hi16(self.leaf)); // ei_leaf_hi
        b
    }

    /// The entry at the start of `b`.
    pub fn decode(b: &[u8]) -> Result<ExtentIdx> {
        let short = || Error::Short {
            len: b.len(),
            need: ENTRY_SIZE,
        };
        let lo = read_u32le(b, 0x4).ok_or_else(short)?;
        let hi = read_u16le(b, 0x8).ok_or_else(short)?;
        Ok(ExtentIdx {
            block: read_u32le(b, 0x0).ok_or_else(short)?,
            leaf: (u64::from(hi) << 32) | u64::from(lo),
        })
    }
}

/// A node's entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entries {
    /// A leaf's extents (depth 0).
    Leaf(Vec<Extent>),
    /// An index node's pointers (depth > 0).
    Index(Vec<ExtentIdx>),
}

/// A whole node: the root in `i_block` or a tree block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtentNode {
    /// `eh_max`.
    pub max: u16,
    /// `eh_depth`.
    pub depth: u16,
    /// `eh_generation`.
    pub generation: u32,
    /// The entries; their count is `eh_entries`.
    pub entries: Entries,
}

impl ExtentNode {
    fn count(&self) -> usize {
        match &self.entries {
            Entries::Leaf(v) => v.len(),
            Entries::Index(v) => v.len(),
        }
    }

    /// Write the node over `buf` (the 60 bytes of `i_block`, or a whole
    /// block). Bytes after the last entry are zeroed, including the
    /// extent tail, which [`super::csum::set_extent_block`] fills.
    pub fn encode_into(&self, buf: &mut [u8]) -> Result<()> {
        let n = self.count();
        let entries = u16::try_from(n).map_err(|_| Error::Entries {
            entries: u16::MAX,
            max: self.max,
        })?;
        if entries > self.max {
            return Err(Error::Entries {
                entries,
                max: self.max,
            });
        }
        let need = node_bytes(self.max);
        if buf.len() < need {
            return Err(Error::Short {
                len: buf.len(),
                need,
            });
        }
        buf.fill(0);
        let h = ExtentHeader {
            entries,
            max: self.max,
            depth: self.depth,
            generation: self.generation,
        };
        buf[..ENTRY_SIZE].copy_from_slice(&h.encode());
        let slots = buf[ENTRY_SIZE..].chunks_exact_mut(ENTRY_SIZE);
        match &self.entries {
            Entries::Leaf(v) => {
                for (s, e) in slots.zip(v) {
                    s.copy_from_slice(&e.encode());
                }
            }
            Entries::Index(v) => {
                for (s, e) in slots.zip(v) {
                    s.copy_from_slice(&e.encode());
                }
            }
        }
        Ok(())
    }

    /// The node in `buf` (entries past `eh_entries` are ignored).
    pub fn decode(buf: &[u8]) -> Result<ExtentNode> {
        let h = ExtentHeader::decode(buf)?;
        if h.entries > h.max {
            return Err(Error::Entries {
                entries: h.entries,
                max: h.max,
            });
        }
        let need = node_bytes(h.max);
        if buf.len() < need {
            return Err(Error::Short {
                len: buf.len(),
                need,
            });
        }
        let slots = buf[ENTRY_SIZE..]
            .chunks_exact(ENTRY_SIZE)
            .take(usize::from(h.entries));
        let entries = if h.depth == 0 {
            Entries::Leaf(slots.map(Extent::decode).collect::<Result<_>>()?)
        } else {
            Entries::Index(slots.map(ExtentIdx::decode).collect::<Result<_>>()?)
        };
        Ok(ExtentNode {
            max: h.max,
            depth: h.depth,
            generation: h.generation,
            entries,
        })
    }
}

/// Bytes a node with room for `max` entries occupies (header included,
/// tail not).
fn node_bytes(max: u16) -> usize {
    usize::from(max)
        .saturating_add(1)
        .saturating_mul(ENTRY_SIZE)
}

/// `eh_max` of a tree block: `(block size − 12) / 12`.
pub fn block_max(bs: BlockSize) -> u16 {
    let per = bs.usize().saturating_sub(ENTRY_SIZE) / ENTRY_SIZE;
    u16::try_from(per).unwrap_or(u16::MAX)
}

/// A file's extent tree, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtentTree {
    /// The inode's `i_block`.
    pub i_block: [u8; I_BLOCK_SIZE],
    /// Tree blocks in allocation order: block number and content (one
    /// block, tail zero until checksummed).
    pub blocks: Vec<(u32, Vec<u8>)>,
    /// The root's `eh_depth`.
    pub depth: u16,
}

/// The extents of `runs` (logical block, physical block, length),
/// merging runs that continue each other both logically and physically
/// and cutting at 32768 blocks. Runs must be in increasing logical
/// order and not overlap; gaps between them are holes.
pub fn extents(runs: &[(u32, u32, u32)]) -> Result<Vec<Extent>> {
    let mut merged: Vec<(u32, u32, u64)> = Vec::new();
    let mut next_free: u64 = 0;
    for &(logical, physical, len) in runs {
        let end = u64::from(logical).saturating_add(u64::from(len));
        if len == 0 || u64::from(logical) < next_free {
            return Err(Error::Run { logical, len });
        }
        if end > 1 << 32 {
            return Err(Error::RunEnd { logical, len });
        }
        next_free = end;
        if let Some(last) = merged.last_mut() {
            let l_end = u64::from(last.0).saturating_add(last.2);
            let p_end = u64::from(last.1).saturating_add(last.2);
            if l_end == u64::from(logical) && p_end == u64::from(physical) {
                last.2 = last.2.saturating_add(u64::from(len));
                continue;
            }
        }
        merged.push((logical, physical, u64::from(len)));
    }
    let max = u64::from(EXT_INIT_MAX_LEN);
    let mut out = Vec::new();
    for (mut logical, mut physical, mut len) in merged {
        while len > 0 {
            let n = len.min(max);
            // n ≤ 32768 fits u16 and u32; logical + n ≤ 2^32 was
            // checked, physical likewise for blocks of a u32 space.
            out.push(Extent {
                block: logical,
                len: u16::try_from(n).unwrap_or(u16::MAX),
                start: u64::from(physical),
            });
            let step = u32::try_from(n).unwrap_or(EXT_INIT_MAX_LEN);
            logical = logical.wrapping_add(step);
            physical = physical.wrapping_add(step);
            len = len.saturating_sub(n);
        }
    }
    Ok(out)
}

/// Nodes per level, leaves first, for `n` extents: empty when they fit
/// the root.
fn levels(n: usize, bs: BlockSize) -> Result<Vec<usize>> {
    let per = usize::from(block_max(bs)).max(1);
    let root = usize::from(ROOT_MAX);
    let mut out = Vec::new();
    let mut count = n;
    while count > root {
        count = count.div_ceil(per);
        out.push(count);
        if out.len() >= usize::from(MAX_DEPTH) && count > root {
            return Err(Error::TooDeep { extents: n });
        }
    }
    Ok(out)
}

/// Tree blocks an extent tree of `extents` extents needs with blocks of
/// `bs` (0 up to 4 extents, which fit `i_block`). Count the extents
/// with [`extents`].
pub fn tree_blocks(extents: usize, bs: BlockSize) -> Result<usize> {
    Ok(levels(extents, bs)?.iter().sum())
}

/// Build the extent tree of `runs` (see [`extents`]), taking tree
/// blocks from `alloc` in the order the module documentation gives.
pub fn build<F>(
    runs: &[(u32, u32, u32)],
    bs: BlockSize,
    mut alloc: F,
) -> Result<ExtentTree>
where
    F: FnMut() -> Option<u32>,
{
    let exts = extents(runs)?;
    let lv = levels(exts.len(), bs)?;
    let depth = u16::try_from(lv.len()).map_err(|_| Error::TooDeep {
        extents: exts.len(),
    })?;
    // Allocate top down: the last level (the root's children) first.
    let mut numbers: Vec<Vec<u32>> = vec![Vec::new(); lv.len()];
    let mut index = 0usize;
    for (l, &count) in lv.iter().enumerate().rev() {
        for _ in 0..count {
            let b = alloc().ok_or(Error::NoBlock { index })?;
            index = index.saturating_add(1);
            if let Some(v) = numbers.get_mut(l) {
                v.push(b);
            }
        }
    }
    let per = usize::from(block_max(bs)).max(1);
    let bsz = bs.usize();
    let mut blocks_by_level: Vec<Vec<(u32, Vec<u8>)>> = Vec::new();
    // Level by level from the leaves: the entries of the level above.
    let mut above: Entries = Entries::Leaf(exts);
    for (l, nums) in numbers.iter().enumerate() {
        let node_depth = u16::try_from(l).unwrap_or(u16::MAX);
        let mut level_blocks = Vec::new();
        let mut next = Vec::new();
        let chunks: Vec<(u32, Entries)> = match &above {
            Entries::Leaf(v) => v
                .chunks(per)
                .map(|c| (first_block(c), Entries::Leaf(c.to_vec())))
                .collect(),
            Entries::Index(v) => v
                .chunks(per)
                .map(|c| {
                    let first = c.first().map_or(0, |e| e.block);
                    (first, Entries::Index(c.to_vec()))
                })
                .collect(),
        };
        for ((first, entries), &b) in chunks.into_iter().zip(nums) {
            let node = ExtentNode {
                max: block_max(bs),
                depth: node_depth,
                generation: 0,
                entries,
            };
            let mut buf = vec![0u8; bsz];
            node.encode_into(&mut buf)?;
            level_blocks.push((b, buf));
            next.push(ExtentIdx {
                block: first,
                leaf: u64::from(b),
            });
        }
        blocks_by_level.push(level_blocks);
        above = Entries::Index(next);
    }
    let root = ExtentNode {
        max: ROOT_MAX,
        depth,
        generation: 0,
        entries: above,
    };
    let mut i_block = [0u8; I_BLOCK_SIZE];
    root.encode_into(&mut i_block)?;
    let blocks = blocks_by_level.into_iter().rev().flatten().collect();
    Ok(ExtentTree {
        i_block,
        blocks,
        depth,
    })
}

fn first_block(c: &[Extent]) -> u32 {
    c.first().map_or(0, |e| e.block)
}

fn hi16(v: u64) -> u16 {
    u16::try_from((v >> 32) & 0xFFFF).unwrap_or(0)
}

fn lo32(v: u64) -> u32 {
    u32::try_from(v & 0xFFFF_FFFF).unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::as_conversions)]
mod tests {
    use super::super::bytes::{get_u16le, get_u32le};
    use super::*;

    #[test]
    fn records_land_at_their_offsets_and_round_trip() {
        let h = ExtentHeader {
            entries: 3,
            max: 4,
            depth: 1,
            generation: 0xDEAD_BEEF,
        };
        let b = h.encode();
        assert_eq!(get_u16le(&b, 0), 0xF30A);
        assert_eq!(get_u16le(&b, 2), 3);
        assert_eq!(get_u16le(&b, 4), 4);
        assert_eq!(get_u16le(&b, 6), 1);
        assert_eq!(get_u32le(&b, 8), 0xDEAD_BEEF);
        assert_eq!(ExtentHeader::decode(&b), Ok(h));

        let e = Extent {
            block: 7,
            len: 32768,
            start: 0x1234_5678_9ABC,
        };
        let b = e.encode();
        assert_eq!(get_u32le(&b, 0), 7);
        assert_eq!(get_u16le(&b, 4), 32768);
        assert_eq!(get_u16le(&b, 6), 0x1234);
        assert_eq!(get_u32le(&b, 8), 0x5678_9ABC);
        assert_eq!(Extent::decode(&b), Ok(e));

        let i = ExtentIdx {
            block: 9,
            leaf: 0xABCD_0000_0001,
        };
        let b = i.encode();
        assert_eq!(get_u32le(&b, 0), 9);
        assert_eq!(get_u32le(&b, 4), 1);
        assert_eq!(get_u16le(&b, 8), 0xABCD);
        assert_eq!(get_u16le(&b, 10), 0);
        assert_eq!(ExtentIdx::decode(&b), Ok(i));
    }

    #[test]
    fn decoding_rejects_bad_nodes() {
        let mut b = [0u8; 60];
        assert_eq!(ExtentNode::decode(&b), Err(Error::Magic { magic: 0 }));
        b[..12].copy_from_slice(
            &ExtentHeader {
                entries: 5,
                max: 4,
                depth: 0,
                generation: 0,
            }
            .encode(),
        );
        assert_eq!(
            ExtentNode::decode(&b),
            Err(Error::Entries { entries: 5, max: 4 })
        );
        b[..12].copy_from_slice(
            &ExtentHeader {
                entries: 1,
                max: 84,
                depth: 0,
                generation: 0,
            }
            .encode(),
        );
        assert_eq!(
            ExtentNode::decode(&b),
            Err(Error::Short {
                len: 60,
                need: 1020
            })
        );
        assert_eq!(
            ExtentHeader::decode(&[0x0A, 0xF3]),
            Err(Error::Short { len: 2, need: 12 })
        );
    }

    #[test]
    fn runs_merge_split_and_validate() {
        let e = extents(&[(0, 100, 2), (2, 102, 3), (10, 200, 70_000)])
            .expect("valid");
        assert_eq!(
            e,
            vec![
                Extent {
                    block: 0,
                    len: 5,
                    start: 100
                },
                Extent {
                    block: 10,
                    len: 32768,
                    start: 200
                },
                Extent {
                    block: 32778,
                    len: 32768,
                    start: 32968
                },
                Extent {
                    block: 65546,
                    len: 4464,
                    start: 65736
                },
            ]
        );
        // Logically adjacent but physically apart: two extents.
        assert_eq!(extents(&[(0, 10, 1), (1, 20, 1)]).expect("ok").len(), 2);
        assert_eq!(
            extents(&[(5, 1, 2), (6, 9, 1)]),
            Err(Error::Run { logical: 6, len: 1 })
        );
        assert_eq!(
            extents(&[(0, 1, 0)]),
            Err(Error::Run { logical: 0, len: 0 })
        );
        assert_eq!(
            extents(&[(u32::MAX, 1, 2)]),
            Err(Error::RunEnd {
                logical: u32::MAX,
                len: 2
            })
        );
    }

    #[test]
    fn tree_block_counts() {
        use BlockSize::*;
        // (extents, block size, blocks): per block 84 (1 KiB), 169
        // (2 KiB), 340 (4 KiB); the root holds 4.
        let table = [
            (0usize, B1024, 0usize),
            (4, B1024, 0),
            (5, B1024, 1),
            (84, B1024, 1),
            (85, B1024, 2),
            (336, B1024, 4),
            (337, B1024, 5 + 1),
            (84 * 84 * 4, B1024, 336 + 4),
            (84 * 84 * 4 + 1, B1024, 337 + 5 + 1),
            (1360, B4096, 4),
            (1361, B4096, 5 + 1),
            (676, B2048, 4),
        ];
        for (n, bs, want) in table {
            assert_eq!(tree_blocks(n, bs), Ok(want), "{n} extents {bs:?}");
        }
    }

    /// Walk a built tree back to its extents, checking headers.
    fn walk(t: &ExtentTree, bs: BlockSize) -> Vec<Extent> {
        fn node(buf: &[u8], t: &ExtentTree, depth: u16, out: &mut Vec<Extent>) {
            let n = ExtentNode::decode(buf).expect("decodes");
            assert_eq!(n.depth, depth);
            // Re-encoding gives the same bytes.
            let mut again = vec![0u8; buf.len()];
            n.encode_into(&mut again).expect("encodes");
            assert_eq!(again, buf);
            match n.entries {
                Entries::Leaf(v) => out.extend(v),
                Entries::Index(v) => {
                    for i in v {
                        let b = u32::try_from(i.leaf).expect("u32");
                        let (_, child) = t
                            .blocks
                            .iter()
                            .find(|(n, _)| *n == b)
                            .expect("child block");
                        let first = ExtentNode::decode(child).expect("child");
                        let first_block = match first.entries {
                            Entries::Leaf(v) => v[0].block,
                            Entries::Index(v) => v[0].block,
                        };
                        assert_eq!(first_block, i.block);
                        node(child, t, depth - 1, out);
                    }
                }
            }
        }
        let mut out = Vec::new();
        node(&t.i_block, t, t.depth, &mut out);
        for (_, b) in &t.blocks {
            assert_eq!(b.len(), bs.usize());
            assert_eq!(get_u16le(b, 4), block_max(bs));
        }
        out
    }

    #[test]
    fn built_trees_hold_every_extent_in_order() {
        for (n, bs) in [
            (0u32, BlockSize::B1024),
            (1, BlockSize::B1024),
            (4, BlockSize::B1024),
            (5, BlockSize::B1024),
            (84, BlockSize::B1024),
            (85, BlockSize::B1024),
            (400, BlockSize::B1024),
            (84 * 84 * 4 + 1, BlockSize::B1024),
            (1000, BlockSize::B2048),
            (2000, BlockSize::B4096),
        ] {
            // Every other block mapped: each run its own extent.
            let runs: Vec<(u32, u32, u32)> =
                (0..n).map(|i| (i * 2, 100_000 + i * 2, 1)).collect();
            let mut next = 10u32;
            let t = build(&runs, bs, || {
                next += 1;
                Some(next - 1)
            })
            .expect("builds");
            let want = extents(&runs).expect("valid");
            assert_eq!(walk(&t, bs), want, "{n} extents");
            let count = tree_blocks(want.len(), bs).expect("count");
            assert_eq!(t.blocks.len(), count);
            // Handed out in order: index blocks before what they point
            // to, leaves in logical order.
            let nums: Vec<u32> = t.blocks.iter().map(|(b, _)| *b).collect();
            assert_eq!(nums, (10..10 + count as u32).collect::<Vec<_>>());
            if count > 0 {
                let (_, last) = t.blocks.last().expect("leaf");
                assert_eq!(get_u16le(last, 6), 0, "last block is a leaf");
            }
        }
    }

    #[test]
    fn allocator_failure_is_typed() {
        let runs: Vec<(u32, u32, u32)> =
            (0..10).map(|i| (i * 2, 500 + i * 2, 1)).collect();
        assert_eq!(
            build(&runs, BlockSize::B1024, || None),
            Err(Error::NoBlock { index: 0 })
        );
    }

    #[test]
    fn empty_file_root() {
        let t = build(&[], BlockSize::B4096, || None).expect("no blocks");
        assert_eq!(get_u16le(&t.i_block, 0), 0xF30A);
        assert_eq!(get_u16le(&t.i_block, 2), 0);
        assert_eq!(get_u16le(&t.i_block, 4), 4);
        assert!(t.i_block[12..].iter().all(|&b| b == 0));
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            Error::Magic { magic: 0x1234 }.to_string(),
            "extent header magic is 0x1234, not 0xf30a"
        );
        assert_eq!(
            Error::NoBlock { index: 3 }.to_string(),
            "no block for extent tree node 3"
        );
        assert_eq!(
            Error::TooDeep { extents: 9 }.to_string(),
            "9 extents need a tree deeper than 5 levels"
        );
    }
}
