//! The ext2 writer: from the tree to the bytes of an ext2 file system,
//! revision 1, with the features `sparse_super`, `filetype` and
//! `large_file` (and `ext_attr` when the tree has extended attributes,
//! which go in the inode or an attribute block), 256-byte inodes and
//! the classic block map. ext3 (a journal inode) and ext4 (extents and
//! more) will build on it.
//!
//! Spec: the kernel's ext4 on-disk format documentation
//! (<https://www.kernel.org/doc/html/latest/filesystems/ext4/>,
//! `Documentation/filesystems/ext4/` in the kernel tree), which also
//! describes ext2. One file per record: [`superblock`], [`group_desc`],
//! [`inode`], [`dir`], [`bitmap`], [`xattr`]; [`layout::plan`] is the
//! pure plan and [`write()`] executes it.
//!
//! Written by hand because no crate makes such a file system: `ext4-rs`
//! expects one already made by `mkfs.ext4`, writes no journal and
//! handles only extents and 4 KiB blocks, so it cannot make ext2 or
//! ext3. `ext4-mkfs` and `ext4-lwext4` do make ext2/3/4, but by
//! compiling the C library lwext4 behind FFI, and only an empty file
//! system that lwext4's file API must then fill: block and inode
//! placement would be lwext4's, not a plan we can test. Running
//! `mke2fs -d` would need the tree materialised on the host (owners and
//! device nodes need root) and a host tool of the right version.
//!
//! # Determinism
//!
//! The bytes are a function of the tree and [`ExtParams`] alone: the
//! UUID, hash seed and time come in as parameters, inode numbers and
//! blocks follow tree order, and every inode time is the file's mtime
//! clamped to the build's time. A test writes twice and compares.
//!
//! # The output
//!
//! [`write()`] writes only what the plan allocates (superblock and
//! descriptor copies, bitmaps, the used part of each inode table,
//! directories, indirect and attribute blocks, file data). Everything
//! else must read as zeros: the caller hands in a file of the full size
//! made with `set_len` (unwritten ranges are holes) or a zeroed device.
//!
//! For an empty tree the image is byte for byte the one `mke2fs` makes
//! with the same choices; a tree's image passes `e2fsck -fn` and reads
//! back through `debugfs` (the tests run both).

#![deny(clippy::arithmetic_side_effects, clippy::as_conversions)]

pub mod bitmap;
mod bytes;
pub mod csum;
pub mod dir;
pub mod extent;
pub mod flex;
pub mod group_desc;
pub mod inode;
pub mod layout;
pub mod superblock;
pub mod xattr;

use std::io::{Read, Seek, SeekFrom, Write};

use crate::tree::{GuestPath, Kind, Tree};

pub use layout::{plan, ExtLayout};

/// What the ext2 file system is made with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtParams {
    /// Size of the file system in bytes (rounded down to whole blocks).
    pub size: u64,
    /// Block size: 1024, 2048 or 4096 (mke2fs uses 1024 below 512 MiB,
    /// 4096 above).
    pub block_size: u32,
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

/// Errors of the ext2 writer; each names its evidence.
#[derive(Debug, thiserror::Error)]
pub enum Error {
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
        "{path}: POSIX ACL {name} is not supported by the ext2 writer yet"
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
}

/// Result of the ext2 writer.
pub type Result<T> = std::result::Result<T, Error>;

/// Write `bytes` at byte `offset`.
fn put_at<W: Write + Seek>(
    out: &mut W,
    block_size: u32,
    offset: u64,
    bytes: &[u8],
) -> Result<()> {
    let block = offset.checked_div(u64::from(block_size)).unwrap_or(0);
    out.seek(SeekFrom::Start(offset))
        .and_then(|_| out.write_all(bytes))
        .map_err(|source| Error::Write { block, source })
}

/// Write the file system planned by `layout` from `tree`'s contents.
/// Only allocated blocks are written; see the module documentation.
pub fn write<W: Write + Seek>(
    tree: &Tree,
    layout: &ExtLayout,
    out: &mut W,
) -> Result<()> {
    let geo = &layout.geometry;
    let bs = geo.block_size.bytes();
    let bsz = geo.block_size.usize();
    let overflow = |what| Error::Overflow { what };

    // The descriptor table, the same in every copy.
    let gdt_len = usize::try_from(geo.gdt_blocks)
        .ok()
        .and_then(|n| n.checked_mul(bsz))
        .ok_or(overflow("descriptor table"))?;
    let mut gdt = vec![0u8; gdt_len];
    for (i, g) in layout.groups.iter().enumerate() {
        let off = i
            .checked_mul(group_desc::GroupDesc::SIZE)
            .ok_or(overflow("descriptor table"))?;
        bytes::put(&mut gdt, off, &g.desc.encode());
    }
    for (i, g) in layout.groups.iter().enumerate() {
        if g.meta.has_super {
            let mut sb = layout.superblock.clone();
            // e2fsprogs stores the group number's low 16 bits.
            sb.block_group_nr = u16::try_from(i & 0xffff).unwrap_or(0);
            if i > 0 {
                sb.state = 0;
            }
            let at = if i == 0 {
                superblock::Superblock::OFFSET
            } else {
                geo.offset(g.meta.start)
            };
            put_at(out, bs, at, &sb.encode())?;
            put_at(out, bs, geo.offset(g.meta.gdt), &gdt)?;
        }
        put_at(
            out,
            bs,
            geo.offset(g.meta.block_bitmap),
            &g.block_bitmap.encode(),
        )?;
        put_at(
            out,
            bs,
            geo.offset(g.meta.inode_bitmap),
            &g.inode_bitmap.encode(),
        )?;
    }

    // Inode tables: from each group's first inode through its last used
    // one, in one write per group.
    let ipg = geo.inodes_per_group;
    let mut i = 0usize;
    while let Some((first_ino, _)) = layout.inodes.get(i) {
        let group = first_ino
            .0
            .saturating_sub(1)
            .checked_div(ipg)
            .ok_or(overflow("inode group"))?;
        let base = group
            .checked_mul(ipg)
            .and_then(|n| n.checked_add(1))
            .ok_or(overflow("inode group"))?;
        let mut buf: Vec<u8> = Vec::new();
        while let Some((ino, inode)) = layout.inodes.get(i) {
            if ino.0.saturating_sub(1).checked_div(ipg) != Some(group) {
                break;
            }
            let idx = usize::try_from(ino.0.saturating_sub(base))
                .map_err(|_| overflow("inode index"))?;
            let off = idx.checked_mul(256).ok_or(overflow("inode index"))?;
            let end = off.checked_add(256).ok_or(overflow("inode index"))?;
            if buf.len() < end {
                buf.resize(end, 0);
            }
            bytes::put(&mut buf, off, &inode.encode());
            i = i.saturating_add(1);
        }
        put_at(out, bs, geo.inode_offset(layout::InodeNo(base))?, &buf)?;
    }

    for d in &layout.dirs {
        for (b, content) in d.blocks.iter().zip(&d.contents) {
            put_at(out, bs, geo.offset(*b), &content.encode(bsz))?;
        }
    }
    for (b, entries) in &layout.indirect {
        let mut buf = vec![0u8; bsz];
        for (k, e) in entries.iter().enumerate() {
            let off = k.checked_mul(4).ok_or(overflow("indirect block"))?;
            bytes::put_u32le(&mut buf, off, *e);
        }
        put_at(out, bs, geo.offset(*b), &buf)?;
    }
    for (b, target) in &layout.symlinks {
        let mut buf = vec![0u8; bsz];
        bytes::put(&mut buf, 0, target);
        put_at(out, bs, geo.offset(*b), &buf)?;
    }
    for (b, content) in &layout.xattr_blocks {
        put_at(out, bs, geo.offset(*b), content)?;
    }
    for f in &layout.files {
        write_file(tree, f, geo, out)?;
    }
    out.flush()
        .map_err(|source| Error::Write { block: 0, source })
}

/// Copy one file's content into its runs, the last block zero-padded.
fn write_file<W: Write + Seek>(
    tree: &Tree,
    f: &layout::FileData,
    geo: &layout::Geometry,
    out: &mut W,
) -> Result<()> {
    const CHUNK_BLOCKS: u32 = 256;
    let bs = geo.block_size.bytes();
    let bsz = geo.block_size.usize();
    let Kind::File(content) = &tree.inode(f.id).kind else {
        return Err(Error::NotPlanned {
            path: f.path.clone(),
        });
    };
    let content_err = |source| Error::Content {
        path: f.path.clone(),
        source,
    };
    let mut r = tree.spool().open(content).map_err(content_err)?;
    let mut left = f.size;
    let mut buf = Vec::new();
    for run in &f.runs {
        let mut done = 0u32;
        while done < run.len {
            let n = run.len.saturating_sub(done).min(CHUNK_BLOCKS);
            let len = usize::try_from(n)
                .ok()
                .and_then(|n| n.checked_mul(bsz))
                .ok_or(Error::Overflow { what: "file chunk" })?;
            buf.clear();
            buf.resize(len, 0);
            let want = usize::try_from(
                left.min(u64::try_from(len).unwrap_or(u64::MAX)),
            )
            .unwrap_or(len);
            let got =
                read_full(&mut r, &mut buf[..want]).map_err(content_err)?;
            if got < want {
                let got = f
                    .size
                    .saturating_sub(left)
                    .saturating_add(u64::try_from(got).unwrap_or(0));
                return Err(Error::ContentLength {
                    path: f.path.clone(),
                    expected: f.size,
                    got,
                });
            }
            left = left.saturating_sub(u64::try_from(want).unwrap_or(0));
            let start = layout::BlockNo(run.start.0.saturating_add(done));
            put_at(out, bs, geo.offset(start), &buf)?;
            done = done.saturating_add(n);
        }
    }
    Ok(())
}

/// Read until `buf` is full or the reader ends; the bytes read.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0usize;
    while let Some(rest) = buf.get_mut(n..).filter(|b| !b.is_empty()) {
        match r.read(rest) {
            Ok(0) => break,
            Ok(k) => n = n.saturating_add(k),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests;
