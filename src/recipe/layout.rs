//! The recipe's disk checked against the plan the build will make.
//!
//! The disk layout ([`crate::disk::plan`]) and the file systems'
//! parameters ([`crate::filesystems::check`]) are planned here, with no
//! tree and no I/O beyond an empty spool, when the recipe is loaded: so
//! `recipe check` refuses what `build` would refuse, before any
//! download, and the message names the recipe key to change rather than
//! the stage that would have failed.

use super::{Recipe, TableKind};
use crate::disk::{self, gpt::Gpt};
use crate::filesystems;
use crate::units::ByteSize;

/// A recipe key and what is wrong with it.
pub type KeyError = (String, String);

/// Plan the recipe's disk and its partitions' file systems.
pub fn check(recipe: &Recipe) -> Result<(), KeyError> {
    let layout = disk::plan(recipe).map_err(disk_error)?;
    if recipe.image.table == TableKind::Gpt {
        Gpt::plan(&layout).map_err(disk_error)?;
    }
    filesystems::check(&layout).map_err(|e| match e {
        filesystems::Error::Ext { index, fs, source }
            if size_error(&source) =>
        {
            too_small_for_ext(&layout, index, fs, &source)
        }
        e => fs_error(e),
    })
}

/// Whether an ext error says the partition is too small.
fn size_error(e: &filesystems::ext::Error) -> bool {
    use filesystems::ext::Error as E;
    matches!(
        e,
        E::Journal { .. } | E::TooSmall { .. } | E::NoSpace { .. }
    )
}

/// A partition too small for its ext file system, with the least size
/// that holds one (the writer's own words when no size up to a few
/// hundred MiB does: then the settings are at fault too).
fn too_small_for_ext(
    layout: &disk::DiskLayout,
    index: usize,
    fs: &'static str,
    source: &filesystems::ext::Error,
) -> KeyError {
    let key = format!("partitions[{index}].size");
    let least = layout
        .partitions
        .iter()
        .find(|p| p.index == index)
        .and_then(|p| {
            Some((p, filesystems::least_ext_size(&layout.image, p, p.fs?)?))
        });
    match least {
        Some((p, least)) => (
            key,
            format!(
                "{} is too small for {fs} (the file system's metadata and \
                 journal need at least {}, and the packages more)",
                ByteSize(p.size()),
                ByteSize(least)
            ),
        ),
        None => (key, format!("as {fs}: {source}")),
    }
}

/// The key of a layout error: the disk's size or table, or the
/// partition whose size or label it is about.
fn disk_error(e: disk::Error) -> KeyError {
    use disk::Error as E;
    let key = match &e {
        E::UnalignedDisk { .. }
        | E::DiskTooSmall { .. }
        | E::DoesNotFit { .. }
        | E::NoRoomForRest { .. } => "image.size".to_string(),
        E::TooManyForMsdos { .. } | E::BeyondMsdos { .. } => {
            "image.table".to_string()
        }
        E::TooSmallForContents { index, .. }
        | E::TwoRest { second: index, .. } => {
            format!("partitions[{index}].size")
        }
        E::GptNameTooLong { index, .. } => format!("partitions[{index}].label"),
        _ => "partitions".to_string(),
    };
    (key, e.to_string())
}

/// The key of a file system's error: the partition's size, or the
/// setting the file system refused, and the file system's own message.
fn fs_error(e: filesystems::Error) -> KeyError {
    use filesystems::Error as E;
    use filesystems::{ext, fat, swap};
    let key = |index: usize, k: &str| format!("partitions[{index}].{k}");
    match e {
        E::SwapArea { index, source } => {
            let k = match source {
                swap::Error::LabelTooLong { .. } => "label",
                _ => "size",
            };
            (key(index, k), format!("as swap: {source}"))
        }
        E::Ext { index, fs, source } => {
            let k = match &source {
                ext::Error::Label { .. } => "label",
                ext::Error::BlockSize { .. } => "block_size",
                ext::Error::Param { what, .. } => what,
                _ => "size",
            };
            (key(index, k), format!("as {fs}: {source}"))
        }
        E::Fat { index, source } => {
            let k = match source {
                fat::Error::Label { .. } => "label",
                _ => "size",
            };
            (key(index, k), format!("as vfat: {source}"))
        }
        e => ("partitions".to_string(), e.to_string()),
    }
}
