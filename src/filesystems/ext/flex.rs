//! `flex_bg` placement: where each group's block bitmap, inode bitmap
//! and inode table go when groups are gathered into flexible groups,
//! exactly as `mke2fs` 1.47 places them.
//!
//! Spec: the kernel's ext4 on-disk format documentation, "Flexible
//! Block Groups"
//! (<https://www.kernel.org/doc/html/latest/filesystems/ext4/blockgroup.html>,
//! `Documentation/filesystems/ext4/blockgroup.rst`), which allows any
//! placement; the one here is e2fsprogs' (`ext2fs_allocate_group_table`
//! and `flexbg_offset` in `lib/ext2fs/alloc_tables.c`, unchanged since
//! 1.47.0), so that images look like `mke2fs -t ext4` made them (the
//! tests compare with `dumpe2fs`).
//!
//! # The rule
//!
//! Before any table is placed, only each backup group's superblock and
//! descriptor table are in use (group 0's after block 0 of a 1 KiB file
//! system; no reserved GDT blocks, no `meta_bg`). Groups come in flex
//! groups of `2^log_groups_per_flex`. For the first group of a flex
//! group the search starts at that flex group's first block; for the
//! others just after the previous group's table of the same kind. From
//! there mke2fs takes the first free run, looking no further than
//! `min(remaining groups × size, blocks_per_group / 4)` blocks for the
//! quick path (which skips a small obstacle such as a backup
//! descriptor table), and otherwise searching the whole flex group,
//! then the file system. So in a full flex group the 16 block bitmaps
//! come first, then (16 blocks after the first block bitmap) the 16
//! inode bitmaps, then (16 blocks after the first inode bitmap) the
//! inode tables. In the last, partial flex group of `k` groups the
//! kinds are `k` blocks apart, so they stay contiguous, except when
//! `k` is 1: then the gap stays 16 (mke2fs computes `k` as the last
//! group's index within its flex group plus one, and 0 means "full").
//! When the packed
//! tables do not fit in the flex group's first group they simply run on
//! into the next groups, stepping over any backup superblock and
//! descriptor table they meet.
//!
//! With `flex_bg`, a group's free block count must count the tables
//! that *lie* in it (whoever they belong to), not its own.
//!
//! Written by hand because it reproduces one program's allocator.

use std::collections::BTreeMap;

use super::layout::BlockNo;

/// mke2fs.conf's `flex_bg_size` 16, as `s_log_groups_per_flex`.
pub const LOG_GROUPS_PER_FLEX: u32 = 4;

/// What the placement depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlexParams {
    /// `s_blocks_count`.
    pub blocks_count: u32,
    /// `s_first_data_block`: 1 for 1 KiB blocks, else 0.
    pub first_data_block: u32,
    /// `s_blocks_per_group`.
    pub blocks_per_group: u32,
    /// Number of groups.
    pub group_count: u32,
    /// Inode-table blocks per group.
    pub inode_table_blocks: u32,
    /// Blocks of each descriptor table copy (reserved GDT blocks
    /// included: none here).
    pub gdt_blocks: u32,
    /// `s_log_groups_per_flex` ([`LOG_GROUPS_PER_FLEX`]).
    pub log_groups_per_flex: u32,
}

/// Where one group's tables lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupTables {
    /// `bg_block_bitmap`.
    pub block_bitmap: BlockNo,
    /// `bg_inode_bitmap`.
    pub inode_bitmap: BlockNo,
    /// `bg_inode_table`: the first of `inode_table_blocks`.
    pub inode_table: BlockNo,
}

/// Errors of the placement.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// Parameters that describe no file system.
    #[error(
        "{group_count} groups of {blocks_per_group} blocks do not fit \
         {blocks_count} blocks (flex size 2^{log_groups_per_flex})"
    )]
    Params {
        /// `s_blocks_count`.
        blocks_count: u32,
        /// Groups.
        group_count: u32,
        /// `s_blocks_per_group`.
        blocks_per_group: u32,
        /// `s_log_groups_per_flex`.
        log_groups_per_flex: u32,
    },
    /// No room for a table, as mke2fs would fail.
    #[error("no room for group {group}'s {what} ({len} blocks)")]
    NoRoom {
        /// The group.
        group: u32,
        /// Which table.
        what: &'static str,
        /// Its length in blocks.
        len: u32,
    },
}

/// Result of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// Blocks in use, as disjoint half-open ranges keyed by start.
struct Used {
    ranges: BTreeMap<u64, u64>,
    blocks_count: u64,
    first_data_block: u64,
}

impl Used {
    fn mark(&mut self, start: u64, len: u64) {
        let end = start.saturating_add(len).min(self.blocks_count);
        if start < end {
            self.ranges.insert(start, end);
        }
    }

    /// The end of the lowest used range meeting `[b, b + n)`, if any.
    fn obstacle(&self, b: u64, n: u64) -> Option<u64> {
        let end = b.saturating_add(n);
        if let Some((_, &e)) = self.ranges.range(..=b).next_back() {
            if e > b {
                return Some(e);
            }
        }
        self.ranges.range(b..end).next().map(|(_, &e)| e)
    }

    /// e2fsprogs' `ext2fs_get_free_blocks2`: the first `b` from `start`
    /// with `[b, b + n)` free, stopping before `finish`; wrapping to the
    /// first data block only when `finish ≤ start`. Jumps over used
    /// ranges instead of stepping one block at a time: the same answer.
    fn free(&self, start: u64, finish: u64, n: u64) -> Option<u64> {
        let n = n.max(1);
        let finish = if finish == 0 { start } else { finish };
        let mut b = if start == 0 {
            self.first_data_block
        } else {
            start
        };
        let mut wrapped = false;
        loop {
            if b.saturating_add(n).saturating_sub(1) >= self.blocks_count {
                if finish > start || wrapped {
                    return None;
                }
                wrapped = true;
                b = self.first_data_block;
            }
            let next = match self.obstacle(b, n) {
                None => return Some(b),
                Some(e) => e.max(b.saturating_add(1)),
            };
            // The C loop stops when b reaches `finish`.
            if b < finish && finish <= next {
                return None;
            }
            b = next;
        }
    }
}

struct Fs<'a> {
    p: &'a FlexParams,
    used: Used,
    flex: u64,
}

impl Fs<'_> {
    fn group_first(&self, g: u64) -> u64 {
        g.saturating_mul(u64::from(self.p.blocks_per_group))
            .saturating_add(u64::from(self.p.first_data_block))
    }

    fn group_last(&self, g: u64) -> u64 {
        if g.saturating_add(1) >= u64::from(self.p.group_count) {
            u64::from(self.p.blocks_count).saturating_sub(1)
        } else {
            self.group_first(g)
                .saturating_add(u64::from(self.p.blocks_per_group))
                .saturating_sub(1)
        }
    }

    /// The flex group's last group for `g`.
    fn last_group(&self, g: u64) -> u64 {
        (g | self.flex.saturating_sub(1))
            .min(u64::from(self.p.group_count).saturating_sub(1))
    }

    /// e2fsprogs' `flexbg_offset`.
    fn offset(&self, g: u64, start: u64, rem: u64, elem: u64) -> u64 {
        let quarter = u64::from(self.p.blocks_per_group) / 4;
        let size = rem.saturating_mul(elem).min(quarter);
        if start != 0 && start < self.used.blocks_count {
            if let Some(b) =
                self.used.free(start, start.saturating_add(size), elem)
            {
                return b;
            }
        }
        let flex_start = g.checked_div(self.flex).unwrap_or(0);
        let first = self.group_first(flex_start.saturating_mul(self.flex));
        let last = self.group_last(self.last_group(g));
        self.used
            .free(first, last, size)
            .or_else(|| self.used.free(first, last, elem))
            .or_else(|| self.used.free(0, last, elem))
            .unwrap_or(0)
    }
}

impl Fs<'_> {
    /// Place one bitmap of group `g`, searching from `start` as
    /// mke2fs does: the flex group's quick path, then anywhere from the
    /// group's first block up to the flex group's end.
    fn bitmap(
        &mut self,
        g: u64,
        start: u64,
        rem: u64,
        group_blk: u64,
        last_blk: u64,
    ) -> Option<u64> {
        let start = self.offset(g, start, rem, 1);
        let b = self
            .used
            .free(start, last_blk, 1)
            .or_else(|| self.used.free(group_blk, last_blk, 1))?;
        self.used.mark(b, 1);
        Some(b)
    }
}

/// Place every group's tables as mke2fs does with `flex_bg`;
/// `has_super(g)` says whether group `g` holds a superblock and
/// descriptor table copy ([`super::layout::has_super`] for
/// `sparse_super`).
pub fn place(
    p: &FlexParams,
    has_super: impl Fn(u32) -> bool,
) -> Result<Vec<GroupTables>> {
    let bad = Error::Params {
        blocks_count: p.blocks_count,
        group_count: p.group_count,
        blocks_per_group: p.blocks_per_group,
        log_groups_per_flex: p.log_groups_per_flex,
    };
    let span = u64::from(p.blocks_count)
        .checked_sub(u64::from(p.first_data_block))
        .filter(|&s| s > 0)
        .ok_or_else(|| bad.clone())?;
    let groups = span.div_ceil(u64::from(p.blocks_per_group.max(1)));
    if p.blocks_per_group == 0
        || groups != u64::from(p.group_count)
        || p.log_groups_per_flex > 31
    {
        return Err(bad);
    }
    let mut fs = Fs {
        p,
        used: Used {
            ranges: BTreeMap::new(),
            blocks_count: u64::from(p.blocks_count),
            first_data_block: u64::from(p.first_data_block),
        },
        flex: 1u64 << p.log_groups_per_flex,
    };
    for g in 0..p.group_count {
        if has_super(g) {
            let start = fs.group_first(u64::from(g));
            fs.used
                .mark(start, u64::from(p.gdt_blocks).saturating_add(1));
        }
    }
    let itb = u64::from(p.inode_table_blocks);
    let mut out: Vec<GroupTables> = Vec::new();
    for g in 0..p.group_count {
        let g64 = u64::from(g);
        let flex = fs.flex;
        let last_grp = fs.last_group(g64);
        let rem = last_grp.saturating_sub(g64).saturating_add(1);
        let group_blk = fs.group_first(g64);
        let last_blk = fs.group_last(last_grp);
        let first_of_flex = g64.checked_rem(flex) == Some(0);
        let prev = out.last().copied();
        let mut table_offset = flex;
        if first_of_flex
            && last_grp == u64::from(p.group_count).saturating_sub(1)
        {
            table_offset = last_grp & flex.saturating_sub(1);
            table_offset = if table_offset == 0 {
                flex
            } else {
                table_offset.saturating_add(1)
            };
        }
        let no_room = |what, len| Error::NoRoom {
            group: g,
            what,
            len,
        };
        let at = |b: BlockNo| u64::from(b.0);

        let start = match prev.filter(|_| !first_of_flex) {
            Some(t) => at(t.block_bitmap).saturating_add(1),
            None => 0,
        };
        let bb = fs
            .bitmap(g64, start, rem, group_blk, last_blk)
            .ok_or(no_room("block bitmap", 1))?;

        let start = match prev.filter(|_| !first_of_flex) {
            Some(t) => at(t.inode_bitmap).saturating_add(1),
            None => bb.saturating_add(table_offset),
        };
        let ib = fs
            .bitmap(g64, start, rem, group_blk, last_blk)
            .ok_or(no_room("inode bitmap", 1))?;

        let start = match prev.filter(|_| !first_of_flex) {
            Some(t) => at(t.inode_table).saturating_add(itb),
            None => ib.saturating_add(table_offset),
        };
        let start = fs.offset(g64, start, rem, itb);
        let it = fs
            .used
            .free(start, last_blk, itb)
            .ok_or(no_room("inode table", p.inode_table_blocks))?;
        fs.used.mark(it, itb);

        let blk = |b: u64, what, len| {
            u32::try_from(b)
                .map(BlockNo)
                .map_err(|_| no_room(what, len))
        };
        out.push(GroupTables {
            block_bitmap: blk(bb, "block bitmap", 1)?,
            inode_bitmap: blk(ib, "inode bitmap", 1)?,
            inode_table: blk(it, "inode table", p.inode_table_blocks)?,
        });
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::as_conversions)]
mod tests {
    use super::super::layout::has_super;
    use super::*;

    fn params(
        blocks_count: u32,
        bs: u32,
        itb: u32,
        gdt_blocks: u32,
    ) -> FlexParams {
        let first_data_block = u32::from(bs == 1024);
        let bpg = bs * 8;
        FlexParams {
            blocks_count,
            first_data_block,
            blocks_per_group: bpg,
            group_count: (blocks_count - first_data_block).div_ceil(bpg),
            inode_table_blocks: itb,
            gdt_blocks,
            log_groups_per_flex: LOG_GROUPS_PER_FLEX,
        }
    }

    fn t(bb: u32, ib: u32, it: u32) -> GroupTables {
        GroupTables {
            block_bitmap: BlockNo(bb),
            inode_bitmap: BlockNo(ib),
            inode_table: BlockNo(it),
        }
    }

    #[test]
    fn full_flex_group_packs_by_kind() {
        // 32 groups of 32768 4 KiB blocks: group 0 holds the superblock
        // and one GDT block, then 16 block bitmaps, 16 inode bitmaps,
        // 16 tables of 8 blocks, all in group 0.
        let p = params(32 * 32768, 4096, 8, 1);
        let v = place(&p, has_super).expect("fits");
        for g in 0..16u32 {
            assert_eq!(v[g as usize], t(2 + g, 18 + g, 34 + 8 * g));
        }
        // The second flex group starts at group 16 (no backup there).
        let base = 16 * 32768;
        for g in 16..32u32 {
            let k = g - 16;
            assert_eq!(
                v[g as usize],
                t(base + k, base + 16 + k, base + 32 + 8 * k)
            );
        }
    }

    #[test]
    fn partial_last_flex_group_packs_by_its_size() {
        // 3 groups: the flex group has k = 3 members, so the kinds are
        // 3 blocks apart.
        let p = params(3 * 32768, 4096, 8, 1);
        let v = place(&p, has_super).expect("fits");
        assert_eq!(v, vec![t(2, 5, 8), t(3, 6, 16), t(4, 7, 24)]);
        // 17 groups: the last flex group has one member, and mke2fs
        // leaves 16 blocks between its kinds.
        let p = params(17 * 32768, 4096, 8, 1);
        let v = place(&p, has_super).expect("fits");
        let base = 16 * 32768;
        assert_eq!(v[16], t(base, base + 16, base + 32));
    }

    #[test]
    fn tables_spill_past_a_backup() {
        // 1 KiB blocks, 8192 per group, 512-block tables: 16 tables do
        // not fit group 0 and step over group 1's backup (block 8193 and
        // its descriptor block 8194).
        let p = params(20 * 8192 + 1, 1024, 512, 1);
        let v = place(&p, has_super).expect("fits");
        assert_eq!(v.len(), 20);
        let mut prev_end = 0;
        for (g, x) in v.iter().enumerate() {
            let it = x.inode_table.0;
            for b in it..it + 512 {
                assert!(
                    !(8193..8195).contains(&b),
                    "group {g}'s table covers the backup"
                );
            }
            if g > 0 && g < 16 {
                assert!(it >= prev_end);
            }
            prev_end = it + 512;
        }
    }

    #[test]
    fn placements_never_overlap_and_stay_inside() {
        for (blocks, bs, itb, gdt) in [
            (8192u32, 1024u32, 256u32, 1u32),
            (300 * 1024, 1024, 512, 2),
            (524_288, 4096, 512, 1),
            (2_359_296, 4096, 512, 5),
            (100_000, 2048, 128, 1),
        ] {
            let p = params(blocks, bs, itb, gdt);
            let v = place(&p, has_super).expect("fits");
            let mut all: Vec<(u32, u32)> = Vec::new();
            for g in 0..p.group_count {
                if has_super(g) {
                    let s = p.first_data_block + g * p.blocks_per_group;
                    all.push((s, gdt + 1));
                }
            }
            for x in &v {
                all.push((x.block_bitmap.0, 1));
                all.push((x.inode_bitmap.0, 1));
                all.push((x.inode_table.0, itb));
            }
            all.sort();
            for w in all.windows(2) {
                assert!(w[0].0 + w[0].1 <= w[1].0, "{blocks}: {w:?}");
            }
            let (s, l) = all.last().copied().expect("some");
            assert!(s + l <= blocks);
        }
    }

    #[test]
    fn bad_params_are_typed() {
        let mut p = params(3 * 32768, 4096, 8, 1);
        p.group_count = 5;
        assert!(matches!(place(&p, has_super), Err(Error::Params { .. })));
        // Tables bigger than the file system.
        let p = params(100, 1024, 512, 1);
        assert_eq!(
            place(&p, has_super),
            Err(Error::NoRoom {
                group: 0,
                what: "inode table",
                len: 512
            })
        );
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            Error::NoRoom {
                group: 3,
                what: "inode table",
                len: 8
            }
            .to_string(),
            "no room for group 3's inode table (8 blocks)"
        );
        assert_eq!(
            Error::Params {
                blocks_count: 10,
                group_count: 2,
                blocks_per_group: 8192,
                log_groups_per_flex: 4
            }
            .to_string(),
            "2 groups of 8192 blocks do not fit 10 blocks (flex size 2^4)"
        );
    }
}
