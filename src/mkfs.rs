//! `lunforge mkfs`: an ext2/3/4 image from a host directory, like
//! `mke2fs -d` but without root and deterministic.
//!
//! Owners, modes, times, xattrs and device nodes come from the
//! directory; a device table (genext2fs's format, [`tree::devtable`])
//! adds or changes what a user without root cannot make on the host:
//! root-owned files and device nodes. File contents are read straight
//! from the host when the image is written.
//!
//! Determinism: the same directory and options give the same bytes, in
//! any output path. The time written is `SOURCE_DATE_EPOCH` when set,
//! else the directory's newest mtime (never the clock); the UUID, unless
//! given, and the directory hash seed are derived from the options and
//! the directory's listing (paths, kinds and metadata), never from the
//! output path.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::filesystems::ext::{self, ExtParams};
use crate::ids::Uuid;
use crate::sink::{FileSink, Sink, Window};
use crate::tree::{self, devtable, Tree};

/// Errors of `mkfs`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The source directory cannot be read.
    #[error("--from: {0}")]
    Source(#[from] tree::host::Error),
    /// The device table is wrong.
    #[error("--devices: {0}")]
    Devices(#[from] devtable::Error),
    /// The file system cannot be made.
    #[error("{0}")]
    Ext(#[from] ext::Error),
    /// The output cannot be written.
    #[error(transparent)]
    Sink(#[from] crate::sink::Error),
    /// No size was given and none up to the largest tried fits.
    #[error(
        "the tree does not fit {size} bytes, the largest size tried; give \
         --size"
    )]
    NoFit {
        /// The largest size tried.
        size: u64,
    },
}

/// Result of `mkfs`.
pub type Result<T> = std::result::Result<T, Error>;

/// What `lunforge mkfs` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// ext2, ext3 or ext4.
    pub kind: ext::ExtKind,
    /// The source directory.
    pub from: PathBuf,
    /// The image file to write.
    pub output: PathBuf,
    /// Size in bytes; when `None`, the smallest of a growing series
    /// that holds the tree.
    pub size: Option<u64>,
    /// Volume label.
    pub label: String,
    /// UUID; derived when `None`.
    pub uuid: Option<Uuid>,
    /// A genext2fs device table.
    pub devices: Option<PathBuf>,
    /// Bytes per inode (`mke2fs -i`).
    pub inode_ratio: Option<u64>,
    /// Inode count (`mke2fs -N`).
    pub inodes: Option<u32>,
    /// Reserved percentage (`mke2fs -m`).
    pub reserved_percent: Option<u8>,
    /// Block size (`mke2fs -b`).
    pub block_size: Option<u32>,
}

/// What `mkfs` made.
#[derive(Debug, Clone)]
pub struct Report {
    /// The parameters used (size, UUID, time, …).
    pub params: ExtParams,
    /// Paths in the tree.
    pub paths: usize,
}

/// Make the image `opts` asks for.
pub fn mkfs(opts: &Options) -> Result<Report> {
    let mut tree = tree::host::read_dir_referenced(&opts.from, &[])?;
    let time = build_time(&tree);
    if let Some(path) = &opts.devices {
        let entries = devtable::read(path)?;
        devtable::apply(&mut tree, &entries, path, time)?;
    }
    let (params, layout) = match opts.size {
        Some(size) => {
            let p = params(opts, &tree, size, time);
            let l = ext::plan(&tree, &p)?;
            (p, l)
        }
        None => smallest(opts, &tree, time)?,
    };
    let mut sink: Box<dyn Sink> =
        Box::new(FileSink::create(&opts.output, params.size)?);
    ext::write(&tree, &layout, &mut Window::whole(&mut *sink))?;
    sink.finish()?;
    Ok(Report {
        params,
        paths: tree.len(),
    })
}

/// `SOURCE_DATE_EPOCH`, else the tree's newest mtime, brought into the
/// superblock's range (1970..2106; inode times keep their own, wider
/// range).
fn build_time(tree: &Tree) -> i64 {
    crate::context::source_date_epoch().unwrap_or_else(|| {
        let newest =
            tree.iter().map(|(_, _, n)| n.meta.mtime).max().unwrap_or(0);
        newest.clamp(0, i64::from(u32::MAX))
    })
}

/// The parameters for a `size`-byte image of `tree`.
fn params(opts: &Options, tree: &Tree, size: u64, time: i64) -> ExtParams {
    let listing = listing_digest(tree);
    let kind = opts.kind.name();
    let size_s = size.to_string();
    let uuid = opts.uuid.unwrap_or_else(|| {
        Uuid::derive(&["mkfs", kind, &size_s, &opts.label, &listing])
    });
    let seed = Uuid::derive(&["mkfs", &uuid.to_string(), "hash-seed"]);
    let mut p =
        ExtParams::new(opts.kind, size, uuid.0, &opts.label, seed.0, time);
    if let Some(b) = opts.block_size {
        p.block_size = b;
    }
    if let Some(r) = opts.inode_ratio {
        p.inode_ratio = r;
    }
    p.inodes = opts.inodes.or(p.inodes);
    if let Some(m) = opts.reserved_percent {
        p.reserved_percent = m;
    }
    p
}

/// SHA-256 (hex) over the tree's paths, kinds and metadata.
fn listing_digest(tree: &Tree) -> String {
    let mut h = Sha256::new();
    for (path, id, node) in tree.iter() {
        let m = &node.meta;
        let size = match &node.kind {
            tree::Kind::File(c) => c.len(),
            _ => 0,
        };
        h.update(format!(
            "{path}\0{}\0{id:?}\0{:o}\0{}\0{}\0{}\0{size}\n",
            node.kind.letter(),
            m.mode,
            m.uid,
            m.gid,
            m.mtime
        ));
    }
    hex::encode(h.finalize())
}

/// Try sizes from an estimate upwards (×1.25 each time) until the tree
/// fits: the first size that plans.
fn smallest(
    opts: &Options,
    tree: &Tree,
    time: i64,
) -> Result<(ExtParams, ext::ExtLayout)> {
    const TRIES: usize = 24;
    let mut size = estimate(tree);
    for _ in 0..TRIES {
        let p = params(opts, tree, size, time);
        match ext::plan(tree, &p) {
            Ok(l) => return Ok((p, l)),
            Err(
                ext::Error::NoSpace { .. }
                | ext::Error::NoInodes { .. }
                | ext::Error::TooSmall { .. }
                | ext::Error::Journal { .. },
            ) => {
                // Whole MiB keep the sizes tidy.
                size = (size.saturating_add(size / 4) >> 20 << 20)
                    .max(size.saturating_add(1 << 20));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::NoFit { size })
}

/// A first guess at the size holding `tree`: its data in 4 KiB blocks,
/// a block per directory, an inode and a bit per path, plus a margin.
fn estimate(tree: &Tree) -> u64 {
    let mut bytes: u64 = 0;
    for (_, _, node) in tree.iter() {
        let data = match &node.kind {
            tree::Kind::File(c) => c.len().div_ceil(4096) * 4096,
            tree::Kind::Dir => 4096,
            _ => 0,
        };
        bytes = bytes.saturating_add(data).saturating_add(512);
    }
    let size = bytes.saturating_add(bytes / 8).saturating_add(2 << 20);
    size.div_ceil(1 << 20) << 20
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{GuestPath, Meta};

    #[test]
    fn estimate_grows_with_the_tree() {
        let mut t = Tree::new(0).unwrap();
        let small = estimate(&t);
        let p = GuestPath::new("/big").unwrap();
        t.write_file(&p, Meta::root(0o644, 0), &vec![1u8; 3 << 20])
            .unwrap();
        assert!(estimate(&t) >= small + (3 << 20));
        assert_eq!(estimate(&t) % (1 << 20), 0);
    }

    #[test]
    fn listing_digest_sees_metadata_not_the_path_of_the_output() {
        let mut t = Tree::new(0).unwrap();
        let p = GuestPath::new("/a").unwrap();
        t.write_file(&p, Meta::root(0o644, 0), b"x").unwrap();
        let d = listing_digest(&t);
        assert_eq!(d, listing_digest(&t.clone()));
        let id = t.id(&p).unwrap();
        t.inode_mut(id).meta.uid = 1;
        assert_ne!(d, listing_digest(&t));
    }

    #[test]
    fn build_time_fits_the_superblock() {
        if std::env::var_os("SOURCE_DATE_EPOCH").is_some() {
            return; // the environment decides, as it should
        }
        let mut t = Tree::new(7_258_118_400).unwrap(); // 2200
        assert_eq!(build_time(&t), i64::from(u32::MAX));
        let id = t.id(&GuestPath::root()).unwrap();
        t.inode_mut(id).meta.mtime = -86_400;
        assert_eq!(build_time(&t), 0);
    }

    #[test]
    fn error_messages() {
        let e = Error::NoFit { size: 1 << 30 };
        assert_eq!(
            e.to_string(),
            "the tree does not fit 1073741824 bytes, the largest size \
             tried; give --size"
        );
    }
}
