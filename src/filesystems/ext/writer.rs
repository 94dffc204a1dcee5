//! The writer: executes an [`ExtLayout`], encoding each record from the
//! plan as its turn comes and copying file data from the tree.
//!
//! Every block written is listed first (a block number and what goes
//! there: a few bytes per entry), sorted, then rendered one at a time
//! into a gathering buffer that becomes one write per run of
//! contiguous blocks (up to 4 MiB). So the writes are large and in
//! increasing order, holes are never written, and memory holds the
//! plan, the list and one buffer, never the image. Checksums
//! (`metadata_csum`) are sealed as each record is rendered.

use std::io::{Read, Seek, SeekFrom, Write};

use super::group_desc::{EXT4_BG_BLOCK_UNINIT, EXT4_BG_INODE_UNINIT};
use super::layout::{self, DirContent, ExtLayout, FileData, FileExtent};
use super::{bytes, csum, group_desc, holes, htree, Error, Result};
use crate::tree::{Content, Kind, Tree};

/// Bytes gathered before one write: big, ordered writes are what a
/// block device, a sparse file and an iSCSI target all take best.
const WRITE_CHUNK: usize = 4 << 20;

/// File data read at a time.
const READ_CHUNK: u64 = 1 << 20;

/// Gathers writes that continue each other into one, in increasing
/// offset order; a gap (a hole) starts a new write after a seek.
struct Out<'w, W: Write + Seek> {
    w: &'w mut W,
    buf: Vec<u8>,
    /// Byte offset of `buf[0]`.
    start: u64,
    block_size: u32,
}

impl<W: Write + Seek> Out<'_, W> {
    fn put(&mut self, offset: u64, bytes: &[u8]) -> Result<()> {
        let end = self
            .start
            .saturating_add(u64::try_from(self.buf.len()).unwrap_or(u64::MAX));
        if offset != end
            || self.buf.len().saturating_add(bytes.len()) > WRITE_CHUNK
        {
            self.flush()?;
            self.start = offset;
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let block = self
            .start
            .checked_div(u64::from(self.block_size))
            .unwrap_or(0);
        self.w
            .seek(SeekFrom::Start(self.start))
            .and_then(|_| self.w.write_all(&self.buf))
            .map_err(|source| Error::Write { block, source })?;
        self.start = self
            .start
            .saturating_add(u64::try_from(self.buf.len()).unwrap_or(u64::MAX));
        self.buf.clear();
        Ok(())
    }
}

/// What goes at a block: an index into the plan, rendered when written.
#[derive(Debug, Clone, Copy)]
enum Job {
    /// Group `0`'s superblock copy (group 0's at byte 1024).
    Super(usize),
    /// A descriptor table copy.
    Gdt,
    /// Group `0`'s block bitmap.
    BlockBitmap(usize),
    /// Group `0`'s inode bitmap.
    InodeBitmap(usize),
    /// Inodes `from..to` of the plan, in one table from inode `base`.
    Inodes { from: usize, to: usize, base: u32 },
    /// Block `1` of directory `0`.
    Dir(usize, usize),
    /// Indirect block `0`.
    Indirect(usize),
    /// Extent tree block `0`.
    Tree(usize),
    /// Slow symlink `0`.
    Symlink(usize),
    /// Attribute block `0`.
    Xattr(usize),
    /// The journal superblock.
    Journal,
    /// Extent `1` of file `0`.
    File(usize, usize),
}

/// Write the file system planned by `layout` from `tree`'s contents.
/// Only allocated blocks are written, in increasing order, gathered
/// into large writes; the rest of the target must read as zeros (see
/// the module documentation of [`super`]).
pub fn write<W: Write + Seek>(
    tree: &Tree,
    layout: &ExtLayout,
    out: &mut W,
) -> Result<()> {
    let r = Render::new(layout)?;
    let jobs = jobs(layout)?;
    let bs = layout.geometry.block_size.bytes();
    let mut o = Out {
        w: out,
        buf: Vec::with_capacity(WRITE_CHUNK),
        start: 0,
        block_size: bs,
    };
    let mut src: Option<(usize, Source<'_>)> = None;
    let mut scratch = Vec::new();
    for (b, job) in jobs {
        crate::cancel::check()?;
        let at = b.saturating_mul(u64::from(bs));
        if let Job::File(fi, ei) = job {
            let f = layout.files.get(fi).ok_or(overflow("file index"))?;
            let e = f.extents.get(ei).ok_or(overflow("file extent"))?;
            if src.as_ref().map(|(k, _)| *k) != Some(fi) {
                src = Some((fi, Source::open(tree, f)?));
            }
            let (_, s) = src.as_mut().ok_or(overflow("file source"))?;
            copy_extent(s, f, e, bs, &mut scratch, &mut o, at)?;
        } else {
            scratch.clear();
            r.render(job, &mut scratch)?;
            o.put(at, &scratch)?;
        }
    }
    o.flush()?;
    o.w.flush()
        .map_err(|source| Error::Write { block: 0, source })
}

fn overflow(what: &'static str) -> Error {
    Error::Overflow { what }
}

fn usize_of(v: u32) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// Every block to write and what goes there, in block order.
fn jobs(layout: &ExtLayout) -> Result<Vec<(u64, Job)>> {
    let geo = &layout.geometry;
    let mut jobs: Vec<(u64, Job)> = Vec::new();
    let b = |n: layout::BlockNo| u64::from(n.0);
    for (i, g) in layout.groups.iter().enumerate() {
        if g.meta.has_super {
            // Group 0's superblock is at byte 1024: block 1 of 1 KiB
            // blocks, inside block 0 of larger ones.
            let at = if i == 0 && geo.block_size.bytes() > 1024 {
                0
            } else {
                b(g.meta.start)
            };
            jobs.push((at, Job::Super(i)));
            jobs.push((b(g.meta.gdt), Job::Gdt));
        }
        // An uninitialised group's bitmap is computed, not read: like
        // mke2fs, leave its block unwritten (zeros).
        if g.desc.flags & EXT4_BG_BLOCK_UNINIT == 0 {
            jobs.push((b(g.meta.block_bitmap), Job::BlockBitmap(i)));
        }
        if g.desc.flags & EXT4_BG_INODE_UNINIT == 0 {
            jobs.push((b(g.meta.inode_bitmap), Job::InodeBitmap(i)));
        }
    }
    // Inode tables: from each group's first inode through its last used
    // one, in one piece per group.
    let ipg = geo.inodes_per_group;
    let group_of = |ino: u32| ino.saturating_sub(1).checked_div(ipg);
    let mut i = 0usize;
    while let Some((first, _)) = layout.inodes.get(i) {
        let group = group_of(first.0).ok_or(overflow("inode group"))?;
        let base = group
            .checked_mul(ipg)
            .and_then(|n| n.checked_add(1))
            .ok_or(overflow("inode group"))?;
        let from = i;
        while layout
            .inodes
            .get(i)
            .is_some_and(|(n, _)| group_of(n.0) == Some(group))
        {
            i = i.saturating_add(1);
        }
        let table = geo.group_meta(group)?.inode_table;
        jobs.push((b(table), Job::Inodes { from, to: i, base }));
    }
    for (d, dir) in layout.dirs.iter().enumerate() {
        for (k, blk) in dir.blocks.iter().enumerate() {
            jobs.push((b(*blk), Job::Dir(d, k)));
        }
    }
    for (k, (blk, _)) in layout.indirect.iter().enumerate() {
        jobs.push((b(*blk), Job::Indirect(k)));
    }
    for (k, t) in layout.extent_blocks.iter().enumerate() {
        jobs.push((b(t.block), Job::Tree(k)));
    }
    for (k, (blk, _)) in layout.symlinks.iter().enumerate() {
        jobs.push((b(*blk), Job::Symlink(k)));
    }
    for (k, (blk, _)) in layout.xattr_blocks.iter().enumerate() {
        jobs.push((b(*blk), Job::Xattr(k)));
    }
    if let Some(j) = &layout.journal {
        jobs.push((b(j.superblock_block), Job::Journal));
    }
    for (fi, f) in layout.files.iter().enumerate() {
        for (ei, e) in f.extents.iter().enumerate() {
            jobs.push((b(e.start), Job::File(fi, ei)));
        }
    }
    jobs.sort_by_key(|(blk, _)| *blk);
    Ok(jobs)
}

/// Renders the plan's records, sealed with checksums when the file
/// system has them.
struct Render<'a> {
    layout: &'a ExtLayout,
    bsz: usize,
    seed: Option<csum::Seed>,
    /// The descriptor table, the same in every copy.
    gdt: Vec<u8>,
}

impl<'a> Render<'a> {
    fn new(layout: &'a ExtLayout) -> Result<Render<'a>> {
        let geo = &layout.geometry;
        let bsz = geo.block_size.usize();
        let seed = layout
            .metadata_csum()
            .then(|| csum::Seed::from_uuid(&layout.superblock.uuid));
        let len = usize::try_from(geo.gdt_blocks)
            .ok()
            .and_then(|n| n.checked_mul(bsz))
            .ok_or(overflow("descriptor table"))?;
        let mut gdt = vec![0u8; len];
        let bpg = usize_of(geo.blocks_per_group / 8);
        let ipg = usize_of(geo.inodes_per_group / 8);
        for (i, g) in layout.groups.iter().enumerate() {
            let mut d = g.desc.encode();
            if let Some(seed) = seed {
                let bb = g.block_bitmap.encode();
                let ib = g.inode_bitmap.encode();
                // An uninitialised group's bitmap checksum stays 0, as
                // e2fsprogs leaves it (it skips such bitmaps).
                let flag = |f: u16| g.desc.flags & f != 0;
                let bsum = if flag(EXT4_BG_BLOCK_UNINIT) {
                    0
                } else {
                    csum::bitmap(seed, bb.get(..bpg).unwrap_or(&bb))
                };
                let isum = if flag(EXT4_BG_INODE_UNINIT) {
                    0
                } else {
                    csum::bitmap(seed, ib.get(..ipg).unwrap_or(&ib))
                };
                csum::set_bitmap_csums(&mut d, bsum, isum);
                let gi =
                    u32::try_from(i).map_err(|_| overflow("group number"))?;
                csum::set_group_desc(seed, gi, &mut d);
            }
            let off = i
                .checked_mul(group_desc::GroupDesc::SIZE)
                .ok_or(overflow("descriptor table"))?;
            bytes::put(&mut gdt, off, &d);
        }
        Ok(Render {
            layout,
            bsz,
            seed,
            gdt,
        })
    }

    /// Append `job`'s bytes (whole blocks) to `buf`.
    fn render(&self, job: Job, buf: &mut Vec<u8>) -> Result<()> {
        let l = self.layout;
        let bsz = self.bsz;
        let csum_err = |block: u64| move |source| Error::Csum { block, source };
        let block_of = |n: layout::BlockNo| u64::from(n.0);
        match job {
            Job::Super(i) => {
                let mut sb = l.superblock.clone();
                // e2fsprogs stores the group number's low 16 bits, and
                // clears the valid flag in the backups.
                sb.block_group_nr = u16::try_from(i & 0xffff).unwrap_or(0);
                if i > 0 {
                    sb.state = 0;
                }
                let mut b = sb.encode();
                if self.seed.is_some() {
                    csum::set_superblock(&mut b);
                }
                let at = if i == 0 && bsz > 1024 { 1024 } else { 0 };
                buf.resize(bsz, 0);
                bytes::put(buf, at, &b);
            }
            Job::Gdt => buf.extend_from_slice(&self.gdt),
            Job::BlockBitmap(g) => {
                let g = l.groups.get(g).ok_or(overflow("group"))?;
                buf.extend_from_slice(&g.block_bitmap.encode());
            }
            Job::InodeBitmap(g) => {
                let g = l.groups.get(g).ok_or(overflow("group"))?;
                buf.extend_from_slice(&g.inode_bitmap.encode());
            }
            Job::Inodes { from, to, base } => {
                let list = l.inodes.get(from..to).ok_or(overflow("inodes"))?;
                for (ino, inode) in list {
                    let idx = usize_of(ino.0.saturating_sub(base));
                    let off =
                        idx.checked_mul(256).ok_or(overflow("inode index"))?;
                    let end = off.checked_add(256).ok_or(overflow("inode"))?;
                    if buf.len() < end {
                        buf.resize(end, 0);
                    }
                    let mut b = inode.encode();
                    if let Some(seed) = self.seed {
                        csum::set_inode(seed, ino.0, &mut b)
                            .map_err(csum_err(u64::from(ino.0)))?;
                    }
                    bytes::put(buf, off, &b);
                }
                // Whole blocks, so that gathering stays block-aligned.
                buf.resize(buf.len().div_ceil(bsz).saturating_mul(bsz), 0);
            }
            Job::Dir(d, k) => {
                let dir = l.dirs.get(d).ok_or(overflow("directory"))?;
                let content =
                    dir.contents.get(k).ok_or(overflow("directory"))?;
                let blk = dir.blocks.get(k).copied().map_or(0, block_of);
                match (content, self.seed) {
                    (DirContent::Entries(e), Some(seed)) => {
                        let room = bsz.saturating_sub(layout::DIR_TAIL);
                        let mut b = e.encode(room);
                        b.resize(bsz, 0);
                        csum::set_dir_tail(seed, dir.ino.0, 0, &mut b)
                            .map_err(csum_err(blk))?;
                        buf.extend_from_slice(&b);
                    }
                    (DirContent::Entries(e), None) => {
                        buf.extend_from_slice(&e.encode(bsz));
                    }
                    (DirContent::Index(x), seed) => {
                        let mut b = x.encode(bsz, seed.is_some());
                        if let Some(seed) = seed {
                            let at = if x.root.is_some() {
                                htree::ROOT_COUNT_OFFSET
                            } else {
                                htree::NODE_COUNT_OFFSET
                            };
                            csum::set_dx_tail(seed, dir.ino.0, 0, at, &mut b)
                                .map_err(csum_err(blk))?;
                        }
                        buf.extend_from_slice(&b);
                    }
                }
            }
            Job::Indirect(k) => {
                let (_, entries) =
                    l.indirect.get(k).ok_or(overflow("indirect block"))?;
                buf.resize(bsz, 0);
                for (n, e) in entries.iter().enumerate() {
                    let off =
                        n.checked_mul(4).ok_or(overflow("indirect block"))?;
                    bytes::put_u32le(buf, off, *e);
                }
            }
            Job::Tree(k) => {
                let t = l.extent_blocks.get(k).ok_or(overflow("tree"))?;
                let start = buf.len();
                buf.extend_from_slice(&t.bytes);
                if let Some(seed) = self.seed {
                    let b = buf.get_mut(start..).unwrap_or_default();
                    csum::set_extent_block(seed, t.ino.0, 0, b)
                        .map_err(csum_err(block_of(t.block)))?;
                }
            }
            Job::Symlink(k) => {
                let (_, target) =
                    l.symlinks.get(k).ok_or(overflow("symlink"))?;
                buf.resize(bsz, 0);
                bytes::put(buf, 0, target);
            }
            Job::Xattr(k) => {
                let (blk, content) =
                    l.xattr_blocks.get(k).ok_or(overflow("xattr block"))?;
                let start = buf.len();
                buf.extend_from_slice(content);
                if let Some(seed) = self.seed {
                    let b = buf.get_mut(start..).unwrap_or_default();
                    csum::set_xattr_block(seed, block_of(*blk), b)
                        .map_err(csum_err(block_of(*blk)))?;
                }
            }
            Job::Journal => {
                let j = l.journal.as_ref().ok_or(overflow("journal"))?;
                buf.resize(bsz, 0);
                bytes::put(buf, 0, &j.superblock.encode());
            }
            Job::File(..) => return Err(overflow("file job")),
        }
        Ok(())
    }
}

/// A regular file's content, read at increasing offsets.
enum Source<'a> {
    /// A host file, read at any offset.
    Host(std::fs::File),
    /// Inline or spooled content, read through.
    Stream(Box<dyn Read + 'a>, u64),
}

impl<'a> Source<'a> {
    fn open(tree: &'a Tree, f: &FileData) -> Result<Source<'a>> {
        let Kind::File(content) = &tree.inode(f.id).kind else {
            return Err(Error::NotPlanned {
                path: f.path.clone(),
            });
        };
        let err = |source| Error::Content {
            path: f.path.clone(),
            source,
        };
        Ok(match content {
            Content::Host { path, .. } => {
                Source::Host(std::fs::File::open(path).map_err(err)?)
            }
            c => Source::Stream(tree.spool().open(c).map_err(err)?, 0),
        })
    }

    /// Fill `buf` from byte `at` on, as far as the content goes.
    fn read_at(&mut self, at: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Source::Host(file) => holes::read_at_full(file, buf, at),
            Source::Stream(r, pos) => {
                if at < *pos {
                    return Err(std::io::Error::other(
                        "extents out of logical order",
                    ));
                }
                let skip = at.saturating_sub(*pos);
                let skipped =
                    std::io::copy(&mut r.take(skip), &mut std::io::sink())?;
                *pos = pos.saturating_add(skipped);
                let n = holes::read_full(r, buf)?;
                *pos = pos.saturating_add(u64::try_from(n).unwrap_or(0));
                Ok(n)
            }
        }
    }
}

/// Copy extent `e` of file `f` to byte `at`, the last block zero-padded.
fn copy_extent<W: Write + Seek>(
    s: &mut Source<'_>,
    f: &FileData,
    e: &FileExtent,
    bs: u32,
    chunk: &mut Vec<u8>,
    o: &mut Out<'_, W>,
    at: u64,
) -> Result<()> {
    let bs = u64::from(bs);
    let content_err = |source| Error::Content {
        path: f.path.clone(),
        source,
    };
    let mut from = e.logical.saturating_mul(bs);
    let end = e
        .logical
        .saturating_add(u64::from(e.len))
        .saturating_mul(bs);
    let mut to = at;
    while from < end {
        let n = end.saturating_sub(from).min(READ_CHUNK);
        let len = usize::try_from(n).map_err(|_| overflow("file chunk"))?;
        chunk.clear();
        chunk.resize(len, 0);
        let want =
            usize::try_from(f.size.saturating_sub(from).min(n)).unwrap_or(len);
        let got = s
            .read_at(from, chunk.get_mut(..want).unwrap_or_default())
            .map_err(content_err)?;
        if got < want {
            return Err(Error::ContentLength {
                path: f.path.clone(),
                expected: f.size,
                got: from.saturating_add(u64::try_from(got).unwrap_or(0)),
            });
        }
        o.put(to, chunk)?;
        from = from.saturating_add(n);
        to = to.saturating_add(n);
    }
    Ok(())
}
