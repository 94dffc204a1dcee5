//! The FAT writer, for EFI system partitions (and any `fs = "vfat"`
//! data partition): from the tree to a FAT12, FAT16 or FAT32 file
//! system with long file names, as the kernel's `vfat` driver, `fsck.fat`,
//! mtools and UEFI firmware read it.
//!
//! Spec: Microsoft's *FAT32 File System Specification* (`fatgen103`,
//! version 1.03: the boot sector and BPB, the FAT, directory entries
//! and long names), which the UEFI specification (§13.3, *File System
//! Format*) takes as the format of the EFI system partition.
//!
//! # Why the `fatfs` crate
//!
//! Unlike ext ([`super::ext`], written here by hand because no crate
//! makes one from a tree), FAT has a maintained pure-Rust crate that
//! both formats a volume and fills it: `fatfs` 0.3.6, the current
//! crates.io release, with no C, no `unsafe` of ours, and a formatter
//! whose geometry is a pure function of the size. `hadris-fat` (3.0
//! release candidates) needs a newer Rust than this crate's
//! `rust-version`. A FAT writer is small, but its long-name and
//! short-name rules are where hand-written ones go wrong, and `fatfs`
//! has them.
//!
//! What 0.3.6 gets wrong, and this module repairs ([`dir_fix`]): its
//! `create_dir` writes a long-name entry before each of a new
//! directory's `.` and `..` entries, so they are not the first two
//! entries the format requires, and on FAT32 the `..` of a directory in
//! the root names the root's cluster instead of 0. `fsck.fat` reports
//! both (rust-fatfs issue 117); both are fixed on rust-fatfs's main
//! branch (pull request 99) but in no release. Once a directory is written, [`dir_fix::repair`] drops
//! the two long-name entries, moving the rest up, and sets `..` to 0.
//! It also gives the volume label's root entry the build's time (0.3.6
//! writes zeros, an invalid DOS date). The integration tests run
//! `fsck.fat -n` on every image, so a release that fixes these will
//! show, and the repair then finds nothing to change.
//!
//! # What is written
//!
//! [`plan`] (pure, no output I/O) picks the geometry, checks every name
//! and counts the clusters; [`write()`] formats, fills and repairs:
//!
//! - **FAT type**: FAT32 wherever the size allows it (from about 33 MiB
//!   with fatfs's 512-byte clusters), because the UEFI specification
//!   names FAT32 as the system partition's format (FAT12/16 for
//!   removable media) and some firmware reads nothing else; below that
//!   fatfs's own choice for the size, FAT16 or FAT12, which OVMF and
//!   the kernel read. [`layout::Geometry::for_size`] mirrors fatfs's
//!   formatter (cluster size by size as in Microsoft's table, 2 FATs,
//!   512 root entries on FAT12/16, 8 reserved sectors on FAT32), and
//!   [`write()`] checks that fatfs made that geometry.
//! - **Contents**: regular files and directories, nothing else; FAT has
//!   no owners, modes, symlinks, device nodes or extended attributes, so
//!   anything else is refused with its guest path, and owners, modes and
//!   xattrs are dropped (the guest's fstab mounts the ESP with
//!   `umask=0077`). A hard-linked file is written once per path, as
//!   copying it onto a vfat mount would.
//! - **Names**: every name gets long-name entries (as fatfs always
//!   writes them) and a short name fatfs generates. Refused: names that
//!   fatfs cannot store (characters outside its long-name set, over
//!   255 bytes), names ending in `.` or a space (Linux strips or
//!   refuses them), names that equal another in the same directory
//!   when case is ignored (FAT ignores it), and names such as `.ab` to
//!   which fatfs 0.3.6 gives a blank, invalid short name. Within a
//!   directory, names that are their own short name (`EFI`,
//!   `grubx64.efi`) are created first, so that no generated short name
//!   (`FOOBAR~1.TXT`) can take one of them.
//! - **Identity**: the volume id and label from [`FatParams`]: the id
//!   derived from the partition's planned UUID
//!   ([`crate::ids::VolumeId::from_fs_uuid`], the `UUID=` of the
//!   guest's fstab) and the recipe's label, also written as the root's
//!   volume-label entry, which `blkid` prefers.
//!
//! # Determinism
//!
//! The bytes are a function of the tree and [`FatParams`]. `fatfs` is
//! built without its `chrono` feature, so it never reads the clock, and
//! is given a time provider that answers the build's time
//! (`SOURCE_DATE_EPOCH`, as a UTC DOS date, clamped to FAT's
//! 1980..2107 and rounded to its 2 seconds) for every creation,
//! modification and access time. Entries are created in a fixed order
//! (see *Names*), and fatfs allocates clusters in the order it is asked,
//! so cluster numbers and short names follow. The tests write twice and
//! compare.
//!
//! # Memory and output
//!
//! fatfs formats and fills a sparse in-memory image ([`store`]): 4 KiB
//! blocks, created only when something other than zeros is written to
//! them, so the zeroing of a large FAT costs nothing. Memory holds the
//! metadata and the files' data (an ESP's few MiB), never the whole
//! partition. [`write()`] then copies only the blocks that hold
//! something into the partition, so, as with ext, everything else must
//! read as zeros: a sparse file or a zeroed device.

#![deny(clippy::arithmetic_side_effects, clippy::as_conversions)]

pub mod boot_sector;
pub mod dir_fix;
pub mod layout;
pub mod store;
pub mod time;
mod writer;

use std::io;

use crate::ids::VolumeId;
use crate::tree::GuestPath;

pub use layout::{plan, FatLayout, Geometry};
pub use writer::write;

/// The member of the family, by the width of a FAT entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FatKind {
    /// 12-bit entries: fewer than 4085 clusters.
    Fat12,
    /// 16-bit entries: fewer than 65525 clusters.
    Fat16,
    /// 28 of 32 bits: 65525 clusters or more.
    Fat32,
}

impl FatKind {
    /// The kind a volume of `clusters` data clusters is, by the spec's
    /// rule (the count alone decides, not any label).
    pub fn from_clusters(clusters: u32) -> FatKind {
        if clusters < 4085 {
            FatKind::Fat12
        } else if clusters < 65525 {
            FatKind::Fat16
        } else {
            FatKind::Fat32
        }
    }

    /// `FAT12`, `FAT16` or `FAT32`, as `blkid` reports `VERSION`.
    pub fn name(self) -> &'static str {
        match self {
            FatKind::Fat12 => "FAT12",
            FatKind::Fat16 => "FAT16",
            FatKind::Fat32 => "FAT32",
        }
    }

    /// Bits of a FAT entry.
    pub fn entry_bits(self) -> u32 {
        match self {
            FatKind::Fat12 => 12,
            FatKind::Fat16 => 16,
            FatKind::Fat32 => 32,
        }
    }

    fn fatfs(self) -> fatfs::FatType {
        match self {
            FatKind::Fat12 => fatfs::FatType::Fat12,
            FatKind::Fat16 => fatfs::FatType::Fat16,
            FatKind::Fat32 => fatfs::FatType::Fat32,
        }
    }
}

impl std::fmt::Display for FatKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the file system is made with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FatParams {
    /// Size of the file system in bytes (rounded down to whole
    /// 512-byte sectors).
    pub size: u64,
    /// `BS_VolID`.
    pub volume_id: VolumeId,
    /// The volume label (`BS_VolLab` and the root's label entry), at
    /// most 11 bytes; `None` writes `NO NAME` and no label entry, as
    /// `mkfs.fat` does.
    pub label: Option<String>,
    /// The build's time (`SOURCE_DATE_EPOCH`): every entry's times.
    pub time: i64,
}

/// Errors of the FAT writer; each names its evidence.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Too small for any FAT geometry.
    #[error("{size} bytes are too small for a FAT file system")]
    TooSmall {
        /// Bytes asked for.
        size: u64,
    },
    /// More sectors than a 32-bit sector count holds.
    #[error(
        "{size} bytes are more than a FAT file system of 512-byte \
         sectors holds (2 TiB)"
    )]
    TooLarge {
        /// Bytes asked for.
        size: u64,
    },
    /// A label FAT cannot store.
    #[error("label {label:?} {why}")]
    Label {
        /// The label.
        label: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// Something other than a regular file or a directory.
    #[error(
        "{path}: a {kind} cannot be stored on FAT, which holds only \
         regular files and directories"
    )]
    Kind {
        /// The guest path.
        path: GuestPath,
        /// What it is.
        kind: &'static str,
    },
    /// A name FAT (or fatfs) cannot store.
    #[error("{path}: the name cannot be stored on FAT: {why}")]
    Name {
        /// The guest path.
        path: GuestPath,
        /// Why.
        why: &'static str,
    },
    /// Two names of one directory that differ only in case.
    #[error("{path} and {other} are one name on FAT, which ignores case")]
    Clash {
        /// The later path.
        path: GuestPath,
        /// The earlier one.
        other: GuestPath,
    },
    /// A file larger than a FAT directory entry's 32-bit size.
    #[error(
        "{path}: {size} bytes are more than a FAT file holds (4 GiB less \
         one byte)"
    )]
    FileTooLarge {
        /// The file.
        path: GuestPath,
        /// Its size.
        size: u64,
    },
    /// More entries than the fixed root directory of FAT12/16.
    #[error(
        "the root directory needs {slots} entries; a FAT12/16 root \
         directory holds {max}"
    )]
    RootFull {
        /// Directory entries needed (long-name entries included).
        slots: u64,
        /// The root's size in entries.
        max: u64,
    },
    /// More entries than a FAT directory may have.
    #[error(
        "{path}: {slots} directory entries are more than a FAT directory \
         holds ({max})"
    )]
    DirTooLarge {
        /// The directory.
        path: GuestPath,
        /// Directory entries needed (long-name entries included).
        slots: u64,
        /// The most a directory holds.
        max: u64,
    },
    /// The tree does not fit.
    #[error(
        "the tree needs {needed} clusters of {cluster_size} bytes but the \
         file system has {available}"
    )]
    NoSpace {
        /// Clusters needed (files, directories, the FAT32 root).
        needed: u64,
        /// Data clusters of the file system.
        available: u64,
        /// Bytes per cluster.
        cluster_size: u32,
    },
    /// fatfs failed on one path, or its contents could not be read.
    #[error("{path}: {what}: {source}")]
    Write {
        /// The guest path.
        path: GuestPath,
        /// What was being done.
        what: &'static str,
        /// The error.
        source: io::Error,
    },
    /// fatfs failed on the volume as a whole.
    #[error("{what}: {source}")]
    Volume {
        /// What was being done.
        what: &'static str,
        /// The error.
        source: io::Error,
    },
    /// fatfs made something other than the plan.
    #[error("fatfs made {found} {what} where the plan has {planned}")]
    Mismatch {
        /// Which number.
        what: &'static str,
        /// The plan's.
        planned: u64,
        /// fatfs's.
        found: u64,
    },
    /// A directory the repair pass cannot make sense of.
    #[error("directory at cluster {cluster}: {why}")]
    Repair {
        /// Its first cluster.
        cluster: u32,
        /// What is wrong.
        why: &'static str,
    },
}

/// Result of the FAT writer.
pub type Result<T> = std::result::Result<T, Error>;

/// Check what can be checked of `p` before there is a tree: the size
/// has a geometry and the label can be written.
pub fn check_params(p: &FatParams) -> Result<()> {
    Geometry::for_size(p.size)?;
    layout::label_bytes(p.label.as_deref())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::arithmetic_side_effects, clippy::as_conversions)]

    use super::*;

    fn gp(s: &str) -> GuestPath {
        GuestPath::new(s).unwrap()
    }

    #[test]
    fn kinds_by_cluster_count() {
        assert_eq!(FatKind::from_clusters(4084), FatKind::Fat12);
        assert_eq!(FatKind::from_clusters(4085), FatKind::Fat16);
        assert_eq!(FatKind::from_clusters(65524), FatKind::Fat16);
        assert_eq!(FatKind::from_clusters(65525), FatKind::Fat32);
        assert_eq!(FatKind::Fat32.to_string(), "FAT32");
    }

    #[test]
    fn error_messages() {
        let cases: Vec<(Error, &str)> = vec![
            (
                Error::TooSmall { size: 4096 },
                "4096 bytes are too small for a FAT file system",
            ),
            (
                Error::Label {
                    label: "a*b".into(),
                    why: "has a character a FAT label cannot hold",
                },
                "label \"a*b\" has a character a FAT label cannot hold",
            ),
            (
                Error::Kind {
                    path: gp("/EFI/link"),
                    kind: "symlink",
                },
                "/EFI/link: a symlink cannot be stored on FAT, which holds \
                 only regular files and directories",
            ),
            (
                Error::Name {
                    path: gp("/a:b"),
                    why: "it has a character FAT long names cannot hold",
                },
                "/a:b: the name cannot be stored on FAT: it has a \
                 character FAT long names cannot hold",
            ),
            (
                Error::Clash {
                    path: gp("/efi"),
                    other: gp("/EFI"),
                },
                "/efi and /EFI are one name on FAT, which ignores case",
            ),
            (
                Error::NoSpace {
                    needed: 10,
                    available: 8,
                    cluster_size: 512,
                },
                "the tree needs 10 clusters of 512 bytes but the file \
                 system has 8",
            ),
            (
                Error::Mismatch {
                    what: "data clusters",
                    planned: 3,
                    found: 4,
                },
                "fatfs made 4 data clusters where the plan has 3",
            ),
            (
                Error::Repair {
                    cluster: 5,
                    why: "its first entries are not . and ..",
                },
                "directory at cluster 5: its first entries are not . and ..",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want);
        }
    }
}
