//! The filesystems stage: from the guest tree to the contents of each
//! partition. Each format is a module of its own; this one plans the
//! contents of every partition of a disk layout ([`plan`]) and writes
//! them ([`write`]), and holds the stage's error, which wraps each
//! format's typed error.
//!
//! Formats: [`ext`] (ext2/3/4) and [`swap`] (the `mkswap` v1 header).
//!
//! The root partition holds the tree, except what lies below the mount
//! point of a data partition: that subtree moves to the data partition's
//! file system ([`Tree::split_off`]), deepest mount first, leaving an
//! empty directory to mount on.
//!
//! Everything is planned before anything is written, so a tree that
//! does not fit, a bad name or a bad size fails before the output
//! exists.

pub mod ext;
pub mod swap;

use std::io::Write;

use crate::disk::{DiskLayout, PlannedPartition};
use crate::ids::Uuid;
use crate::recipe::{FsKind, PartitionUse};
use crate::sink::{Sink, Window};
use crate::tree::{self, GuestPath, Meta, Tree};

/// Errors of the filesystems stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A swap area cannot be made.
    #[error(transparent)]
    Swap(#[from] swap::Error),
    /// An ext file system cannot be made.
    #[error("partitions[{index}] ({fs}): {source}")]
    Ext {
        /// Recipe index of the partition.
        index: usize,
        /// Its file system.
        fs: &'static str,
        /// The writer's error.
        source: ext::Error,
    },
    /// The tree cannot be divided between the partitions.
    #[error("partitions[{index}]: mount point {mount}: {source}")]
    Split {
        /// Recipe index of the data partition.
        index: usize,
        /// Its mount point.
        mount: String,
        /// The tree's error.
        source: tree::Error,
    },
    /// A file system this version does not write.
    #[error(
        "partitions[{index}]: a {fs} file system is not written by \
         lunforge yet; use ext2, ext3 or ext4"
    )]
    Unsupported {
        /// Recipe index of the partition.
        index: usize,
        /// The file system.
        fs: &'static str,
    },
    /// Writing a partition's contents failed.
    #[error("partitions[{index}]: writing its contents: {source}")]
    Write {
        /// Recipe index of the partition.
        index: usize,
        /// The error.
        source: std::io::Error,
    },
}

/// Result of the filesystems stage.
pub type Result<T> = std::result::Result<T, Error>;

/// What goes into one partition, planned.
#[derive(Debug)]
pub enum Contents {
    /// A swap area's header.
    Swap(swap::SwapHeader),
    /// An ext file system holding `tree`.
    Ext {
        /// The file system's tree (the root's or a data partition's).
        tree: Tree,
        /// The plan.
        layout: Box<ext::ExtLayout>,
    },
}

/// The recipe name of a file system.
pub fn fs_name(fs: FsKind) -> &'static str {
    match fs {
        FsKind::Ext2 => "ext2",
        FsKind::Ext3 => "ext3",
        FsKind::Ext4 => "ext4",
        FsKind::Vfat => "vfat",
    }
}

/// The parameters of the ext file system of partition `p` of the disk
/// of guest `image`: size, UUID (the one the guest's fstab names) and
/// label from the plan, the hash seed derived from the recipe, every
/// time `time`.
pub fn ext_params(
    image: &str,
    p: &PlannedPartition,
    fs: FsKind,
    time: i64,
) -> Result<ext::ExtParams> {
    let kind = match fs {
        FsKind::Ext2 => ext::ExtKind::Ext2,
        FsKind::Ext3 => ext::ExtKind::Ext3,
        FsKind::Ext4 => ext::ExtKind::Ext4,
        FsKind::Vfat => {
            return Err(Error::Unsupported {
                index: p.index,
                fs: fs_name(fs),
            })
        }
    };
    let seed =
        Uuid::derive(&[image, "partition", &p.index.to_string(), "hash-seed"]);
    let mut params = ext::ExtParams::new(
        kind,
        p.size(),
        p.fs_uuid.0,
        p.label.as_deref().unwrap_or(""),
        seed.0,
        time,
    );
    let o = &p.ext;
    params.block_size = o.block_size.unwrap_or(params.block_size);
    params.inode_ratio = o.inode_ratio.unwrap_or(params.inode_ratio);
    params.inodes = o.inodes.or(params.inodes);
    params.reserved_percent =
        o.reserved_percent.unwrap_or(params.reserved_percent);
    Ok(params)
}

/// Plan the contents of every partition of `layout` from the guest's
/// `tree`, in table order.
pub fn plan(
    layout: &DiskLayout,
    mut tree: Tree,
    time: i64,
) -> Result<Vec<Contents>> {
    // Data partitions take their subtrees, deepest mount point first.
    let mut mounts: Vec<(&PlannedPartition, &str)> = layout
        .partitions
        .iter()
        .filter(|p| p.usage == PartitionUse::Data)
        .filter_map(|p| p.mount.as_deref().map(|m| (p, m)))
        .collect();
    mounts.sort_by(|a, b| b.1.cmp(a.1));
    let spool = tree.spool().clone();
    let mut subtrees = std::collections::BTreeMap::new();
    for (p, m) in mounts {
        let split = |source| Error::Split {
            index: p.index,
            mount: m.to_string(),
            source,
        };
        let at = GuestPath::new(m).map_err(|e| split(e.into()))?;
        tree.create_dirs(&at, &Meta::root(0o755, time))
            .map_err(split)?;
        subtrees.insert(p.index, tree.split_off(&at).map_err(split)?);
    }
    let mut root = Some(tree);
    let mut out = Vec::new();
    for p in &layout.partitions {
        let contents = match (p.usage, p.fs) {
            (PartitionUse::Swap, _) => Contents::Swap(swap::SwapHeader::plan(
                p.size(),
                p.fs_uuid,
                p.label.as_deref(),
            )?),
            (usage, Some(fs)) => {
                let t = match usage {
                    PartitionUse::Root => root.take(),
                    _ => subtrees.remove(&p.index),
                };
                // Only a data partition whose subtree another
                // partition's took (or an empty one) has no tree here.
                let t = match t {
                    Some(t) => t,
                    None => Tree::with_spool(time, spool.clone()),
                };
                let params = ext_params(&layout.image, p, fs, time)?;
                let ext_err = |source| Error::Ext {
                    index: p.index,
                    fs: fs_name(fs),
                    source,
                };
                let planned = ext::plan(&t, &params).map_err(ext_err)?;
                Contents::Ext {
                    tree: t,
                    layout: Box::new(planned),
                }
            }
            (_, None) => continue,
        };
        out.push(contents);
    }
    Ok(out)
}

/// Write `contents` (one per partition of `layout` with contents, from
/// [`plan`]) into their partitions of `sink`.
pub fn write(
    layout: &DiskLayout,
    contents: &[Contents],
    sink: &mut dyn Sink,
) -> Result<()> {
    let parts = layout
        .partitions
        .iter()
        .filter(|p| p.usage == PartitionUse::Swap || p.fs.is_some());
    for (p, c) in parts.zip(contents) {
        let io = |source| Error::Write {
            index: p.index,
            source,
        };
        let mut out =
            Window::new(sink, p.offset(), p.size()).ok_or_else(|| {
                io(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "partition lies outside the output",
                ))
            })?;
        match c {
            Contents::Swap(h) => out.write_all(&h.encode()).map_err(io)?,
            Contents::Ext { tree, layout: l } => ext::write(tree, l, &mut out)
                .map_err(|source| Error::Ext {
                    index: p.index,
                    fs: p.fs.map_or("ext", fs_name),
                    source,
                })?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages() {
        let e = Error::from(swap::Error::TooSmall {
            size: 0,
            minimum: 40960,
        });
        assert_eq!(
            e.to_string(),
            "swap area of 0 bytes is too small: mkswap needs at least \
             40960 bytes (10 pages of 4096)"
        );
    }
}
