//! The disk: its layout planned and checked before anything is
//! downloaded, then the partition table and every partition's file
//! system or swap area streamed into the target's sink.

use std::path::Path;

use crate::context::Context;
use crate::error::Result;
use crate::recipe::Recipe;
use crate::sink::digest::{self, Digesting};
use crate::sink::target::{Target, TargetOptions};
use crate::sink::{FileSink, Finished, Sink, Window};
use crate::tree::Tree;
use crate::{disk, filesystems};

/// Check, before anything is downloaded, that the recipe's disk can be
/// written: the layout fits, and what can be known of each partition's
/// file system before there is a tree (a FAT size and label) is right.
/// The disk's size in bytes.
pub fn check_image(recipe: &Recipe) -> Result<u64> {
    let layout = disk::plan(recipe)?;
    filesystems::check(&layout)?;
    disk_size(recipe, &layout)
}

/// The size in bytes of the disk `layout` plans.
fn disk_size(recipe: &Recipe, layout: &disk::DiskLayout) -> Result<u64> {
    Ok(layout
        .disk_sectors
        .bytes()
        .ok_or(disk::Error::UnalignedDisk {
            size: recipe.image.size.bytes(),
        })?)
}

/// A disk written by [`write_disk`].
#[derive(Debug)]
pub enum Written {
    /// An image file, synced under its temporary name: the build
    /// renames it into place with the boot files.
    Staged(crate::sink::file::Staged),
    /// A device or LUN, written in place and finished.
    Finished(Finished),
}

impl Written {
    /// Put a staged image in place.
    pub fn commit(self) -> Result<Finished> {
        match self {
            Written::Staged(staged) => Ok(staged.commit()?),
            Written::Finished(f) => Ok(f),
        }
    }
}

/// Write the guest's disk to `target`: the layout and every partition's
/// contents are planned first (so a tree that does not fit fails before
/// the target is touched), then the table and the contents are streamed
/// into the target's sink, which `finish` makes durable (and verifies,
/// on a device). An image file is left staged, not yet renamed. With
/// the disk's size and SHA-256 (of every byte, holes as zeros), hashed
/// as it is written ([`crate::sink::digest`]).
pub fn write_disk(
    recipe: &Recipe,
    tree: Tree,
    time: i64,
    target: &Target,
    opts: &TargetOptions,
    ctx: &Context,
) -> Result<(Written, u64, [u8; 32])> {
    let (layout, contents, size) = plan(recipe, tree, time)?;
    if let Target::File(path) = target {
        let mut sink = Digesting::new(FileSink::create(path, size)?);
        write(&layout, &contents, &mut sink)?;
        let (sink, digest) = sink.into_parts();
        let staged = sink.stage()?;
        let digest = match digest {
            Some(d) => d,
            None => staged.read_back()?,
        };
        return Ok((Written::Staged(staged), size, digest));
    }
    let sink = target.open(size, opts, &*ctx.progress)?;
    let written = match (fill(&layout, &contents, sink), target) {
        // A device or LUN has been written in place, and the operator
        // must know.
        (Err(e), Target::Device(_) | Target::Iscsi(_))
            if !e.says_incomplete() =>
        {
            Err(crate::Error::Incomplete {
                target: target.to_string(),
                source: Box::new(e),
            })
        }
        (r, _) => r,
    };
    let (finished, digest) = written?;
    let digest = match digest {
        Some(d) => d,
        None => read_back(target, opts, size)?,
    };
    Ok((Written::Finished(finished), size, digest))
}

/// The SHA-256 of the first `size` bytes of a device or LUN, read back:
/// for a disk whose writes could not be hashed as they went.
fn read_back(
    target: &Target,
    opts: &TargetOptions,
    size: u64,
) -> Result<[u8; 32]> {
    use std::os::unix::fs::FileExt;
    let (Target::File(path) | Target::Device(path)) = target else {
        let mut dev = target.open_for_reading(opts)?;
        return Ok(digest::read_back(size, |at, buf| dev.read(at, buf))?);
    };
    let io = |source| crate::sink::Error::Io {
        path: path.clone(),
        what: "reading the disk back",
        source,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    Ok(digest::read_back(size, |at, buf| {
        f.read_exact_at(buf, at).map_err(io)
    })?)
}

/// Write the guest's partitioned disk image at `path`, atomically: a
/// sparse file renamed into place at the end.
pub fn write_image(
    recipe: &Recipe,
    tree: Tree,
    time: i64,
    path: &Path,
) -> Result<disk::DiskLayout> {
    let (layout, contents, size) = plan(recipe, tree, time)?;
    fill(&layout, &contents, Box::new(FileSink::create(path, size)?))?;
    Ok(layout)
}

/// The disk's layout, each partition's planned contents, and its size.
fn plan(
    recipe: &Recipe,
    tree: Tree,
    time: i64,
) -> Result<(disk::DiskLayout, Vec<filesystems::Contents>, u64)> {
    let layout = disk::plan(recipe)?;
    let contents = filesystems::plan(&layout, tree, time)?;
    let size = disk_size(recipe, &layout)?;
    Ok((layout, contents, size))
}

/// The partition table and the partitions, then `finish`; the disk's
/// SHA-256 when its writes could be hashed as they went.
fn fill(
    layout: &disk::DiskLayout,
    contents: &[filesystems::Contents],
    sink: Box<dyn Sink + '_>,
) -> Result<(Finished, Option<[u8; 32]>)> {
    let mut sink = Digesting::new(sink);
    write(layout, contents, &mut sink)?;
    // The last moment a signal can still keep the output from existing:
    // an unfinished sink removes its temporary file when dropped.
    crate::cancel::check()?;
    let (sink, digest) = sink.into_parts();
    Ok((sink.finish()?, digest))
}

/// The partition table and the partitions.
fn write(
    layout: &disk::DiskLayout,
    contents: &[filesystems::Contents],
    sink: &mut dyn Sink,
) -> Result<()> {
    disk::write_table(&mut Window::whole(sink), layout)?;
    filesystems::write(layout, contents, sink)?;
    Ok(())
}
