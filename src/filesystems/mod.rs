//! The filesystems stage: from the guest tree to the contents of each
//! partition. Each format is a module of its own; this one plans the
//! contents of every partition of a disk layout ([`plan`]) and writes
//! them ([`write`]), and holds the stage's error, which wraps each
//! format's typed error.
//!
//! Formats: [`ext`] (ext2/3/4), [`fat`] (FAT12/16/32, for EFI system
//! partitions) and [`swap`] (the `mkswap` v1 header).
//!
//! The root partition holds the tree, except what lies below the mount
//! point of a data partition or an EFI system partition (by default
//! [`ESP_MOUNT`], `/boot/efi`): that subtree moves to that partition's
//! file system ([`Tree::split_off`]), deepest mount first, leaving an
//! empty directory to mount on.
//!
//! Everything is planned before anything is written, so a tree that
//! does not fit, a bad name or a bad size fails before the output
//! exists.

pub mod ext;
pub mod fat;
pub mod swap;

use std::io::Write;

use crate::disk::{DiskLayout, PlannedPartition};
use crate::ids::{Uuid, VolumeId};
use crate::recipe::{FsKind, PartitionUse, ESP_MOUNT};
use crate::sink::{Sink, Window};
use crate::tree::{self, GuestPath, Meta, Tree};

/// Errors of the filesystems stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A swap area cannot be made.
    #[error(transparent)]
    Swap(#[from] swap::Error),
    /// The swap area of a partition cannot be made.
    #[error("partitions[{index}] (swap): {source}")]
    SwapArea {
        /// Recipe index of the partition.
        index: usize,
        /// The swap writer's error.
        source: swap::Error,
    },
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
    /// A FAT file system cannot be made.
    #[error("partitions[{index}] (vfat): {source}")]
    Fat {
        /// Recipe index of the partition.
        index: usize,
        /// The writer's error.
        source: fat::Error,
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
    /// The empty tree a partition's file system is checked with
    /// cannot be made (its spool in `TMPDIR`).
    #[error("partitions[{index}]: checking its file system: {source}")]
    Check {
        /// Recipe index of the partition.
        index: usize,
        /// The tree's error.
        source: tree::Error,
    },
    /// Writing a partition's contents failed.
    #[error("partitions[{index}]: writing its contents: {source}")]
    Write {
        /// Recipe index of the partition.
        index: usize,
        /// The error.
        source: std::io::Error,
    },
    /// A signal stopped the stage ([`crate::cancel`]).
    #[error(transparent)]
    Interrupted(#[from] crate::cancel::Interrupted),
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
    /// A FAT file system holding `tree`.
    Fat {
        /// The file system's tree (the subtree below its mount point).
        tree: Tree,
        /// The plan.
        layout: Box<fat::FatLayout>,
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

/// The member of the ext family `fs` names; `None` for vfat.
pub fn ext_kind(fs: FsKind) -> Option<ext::ExtKind> {
    match fs {
        FsKind::Ext2 => Some(ext::ExtKind::Ext2),
        FsKind::Ext3 => Some(ext::ExtKind::Ext3),
        FsKind::Ext4 => Some(ext::ExtKind::Ext4),
        FsKind::Vfat => None,
    }
}

/// The parameters of the FAT file system of partition `p`: its size,
/// the volume id derived from its planned UUID (the `UUID=` the guest's
/// fstab names, [`VolumeId::from_fs_uuid`]), its label, every time
/// `time`.
pub fn fat_params(p: &PlannedPartition, time: i64) -> fat::FatParams {
    fat::FatParams {
        size: p.size(),
        volume_id: VolumeId::from_fs_uuid(p.fs_uuid),
        label: p.label.clone(),
        time,
    }
}

/// Where partition `p`'s file system is mounted in the guest: its mount
/// point, [`ESP_MOUNT`] for an EFI system partition that names none,
/// `None` for the root and swap.
pub fn mount_point(p: &PlannedPartition) -> Option<&str> {
    match p.usage {
        PartitionUse::Data => p.mount.as_deref(),
        PartitionUse::Esp => Some(p.mount.as_deref().unwrap_or(ESP_MOUNT)),
        PartitionUse::Root | PartitionUse::Swap => None,
    }
}

/// Check, before there is a tree, what can be checked of the contents
/// of `layout`'s partitions: each swap area's size and label, each ext
/// file system planned around an empty tree (its size holds the groups
/// and the journal, its block size, inode settings and label are
/// valid), each FAT file system's size and label. A recipe that passes
/// fails later only when its packages do not fit.
pub fn check(layout: &DiskLayout) -> Result<()> {
    for p in &layout.partitions {
        match (p.usage, p.fs) {
            (PartitionUse::Swap, _) => {
                swap::SwapHeader::plan(p.size(), p.fs_uuid, p.label.as_deref())
                    .map_err(|source| Error::SwapArea {
                        index: p.index,
                        source,
                    })?;
            }
            (_, Some(FsKind::Vfat)) => {
                fat::check_params(&fat_params(p, 0)).map_err(|source| {
                    Error::Fat {
                        index: p.index,
                        source,
                    }
                })?;
            }
            (_, Some(fs)) => check_ext(&layout.image, p, fs)?,
            (_, None) => {}
        }
    }
    Ok(())
}

/// The largest partition [`least_ext_size`] tries, in MiB: ext2/3/4
/// with the default settings fit in a few MiB, so a partition that still
/// fails at this size fails for another reason than its size.
const LEAST_EXT_MIB: u64 = 256;

/// The least whole-MiB size of partition `p` at which an empty ext file
/// system of its settings can be made, up to [`LEAST_EXT_MIB`]; what to
/// tell a recipe whose partition is too small.
pub fn least_ext_size(
    image: &str,
    p: &PlannedPartition,
    fs: FsKind,
) -> Option<u64> {
    (1..=LEAST_EXT_MIB).map(|mib| mib << 20).find(|&bytes| {
        let mut q = p.clone();
        q.sectors =
            crate::disk::Sectors(bytes / crate::disk::layout::SECTOR_SIZE);
        check_ext(image, &q, fs).is_ok()
    })
}

/// [`check`] of one ext partition: its plan around an empty tree.
fn check_ext(image: &str, p: &PlannedPartition, fs: FsKind) -> Result<()> {
    let Some(kind) = ext_kind(fs) else {
        return Ok(());
    };
    let ext_error = |source| Error::Ext {
        index: p.index,
        fs: fs_name(fs),
        source,
    };
    let empty = Tree::new(0).map_err(|source| Error::Check {
        index: p.index,
        source,
    })?;
    ext::layout::plan(&empty, &ext_params(image, p, kind, 0))
        .map_err(ext_error)?;
    Ok(())
}

/// The parameters of the ext file system of partition `p` of the disk
/// of guest `image`: size, UUID (the one the guest's fstab names) and
/// label from the plan, the hash seed derived from the recipe, every
/// time `time`.
pub fn ext_params(
    image: &str,
    p: &PlannedPartition,
    kind: ext::ExtKind,
    time: i64,
) -> ext::ExtParams {
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
    params
}

/// Plan the contents of every partition of `layout` from the guest's
/// `tree`, in table order.
pub fn plan(
    layout: &DiskLayout,
    mut tree: Tree,
    time: i64,
) -> Result<Vec<Contents>> {
    // Data partitions and ESPs take their subtrees, deepest mount point
    // first.
    let mut mounts: Vec<(&PlannedPartition, &str)> = layout
        .partitions
        .iter()
        .filter_map(|p| mount_point(p).map(|m| (p, m)))
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
                match ext_kind(fs) {
                    Some(kind) => {
                        let params = ext_params(&layout.image, p, kind, time);
                        let planned =
                            ext::plan(&t, &params).map_err(|source| {
                                Error::Ext {
                                    index: p.index,
                                    fs: fs_name(fs),
                                    source,
                                }
                            })?;
                        Contents::Ext {
                            tree: t,
                            layout: Box::new(planned),
                        }
                    }
                    None => {
                        let params = fat_params(p, time);
                        let planned =
                            fat::plan(&t, &params).map_err(|source| {
                                Error::Fat {
                                    index: p.index,
                                    source,
                                }
                            })?;
                        Contents::Fat {
                            tree: t,
                            layout: Box::new(planned),
                        }
                    }
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
        crate::cancel::check()?;
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
            Contents::Fat { tree, layout: l } => fat::write(tree, l, &mut out)
                .map_err(|source| Error::Fat {
                    index: p.index,
                    source,
                })?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::disk::layout::tests::recipe;
    use crate::recipe::{PartitionUse::*, TableKind};

    fn gp(s: &str) -> GuestPath {
        GuestPath::new(s).unwrap()
    }

    /// The ESP holds what lies below /boot/efi, the root an empty
    /// directory there; what FAT cannot hold there is an error that
    /// names the partition and the path.
    #[test]
    fn the_esp_takes_the_tree_below_boot_efi() {
        let r = recipe(
            256 << 20,
            TableKind::Gpt,
            &[(Esp, Some(64 << 20)), (Root, None)],
        );
        let layout = crate::disk::plan(&r).unwrap();
        let mut t = Tree::new(0).unwrap();
        let d = Meta::root(0o755, 0);
        t.create_dirs(&gp("/boot/efi/EFI/debian"), &d).unwrap();
        t.create_dirs(&gp("/etc"), &d).unwrap();
        let f = Meta::root(0o644, 0);
        t.write_file(&gp("/boot/efi/EFI/debian/grubx64.efi"), f.clone(), b"MZ")
            .unwrap();
        t.write_file(&gp("/etc/hostname"), f, b"x\n").unwrap();
        let c = plan(&layout, t.clone(), 0).unwrap();
        let Contents::Fat {
            tree: esp,
            layout: l,
        } = &c[0]
        else {
            panic!("{:?}", c[0])
        };
        let paths: Vec<&str> = esp.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            ["/", "/EFI", "/EFI/debian", "/EFI/debian/grubx64.efi"]
        );
        assert_eq!(l.geometry.kind, fat::FatKind::Fat32);
        assert_eq!(
            l.volume_id,
            VolumeId::from_fs_uuid(layout.partitions[0].fs_uuid)
        );
        let Contents::Ext { tree: root, .. } = &c[1] else {
            panic!("{:?}", c[1])
        };
        assert!(root.get(&gp("/boot/efi")).is_some());
        assert!(root.get(&gp("/boot/efi/EFI")).is_none());
        assert!(root.get(&gp("/etc/hostname")).is_some());

        t.insert(
            &gp("/boot/efi/EFI/link"),
            Meta::root(0o777, 0),
            tree::Kind::Symlink("debian".into()),
        )
        .unwrap();
        let e = plan(&layout, t, 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "partitions[0] (vfat): /EFI/link: a symlink cannot be stored on \
             FAT, which holds only regular files and directories"
        );
    }

    /// A bad FAT label or size is found before there is a tree.
    #[test]
    fn check_finds_what_fat_cannot_have() {
        let r = recipe(
            256 << 20,
            TableKind::Gpt,
            &[(Esp, Some(64 << 20)), (Root, None)],
        );
        let mut layout = crate::disk::plan(&r).unwrap();
        check(&layout).unwrap();
        layout.partitions[0].label = Some("a label too long".into());
        let e = check(&layout).unwrap_err();
        assert_eq!(
            e.to_string(),
            "partitions[0] (vfat): label \"a label too long\" is longer than \
             the 11 bytes a FAT label holds"
        );
    }

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
