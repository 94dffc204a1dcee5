//! Outputs that are written straight from the [`Tree`](crate::tree::Tree)
//! rather than through a file system image: the tarball of
//! `lunforge build --format tar`; and what every build says of itself
//! in `OUT/<name>/`, its [`manifest`] and its SBOM ([`spdx`]).
//!
//! Each output is one module with its own error type. It streams the
//! tree in [`Tree::iter`](crate::tree::Tree::iter) order and keeps only
//! a file's bytes in flight, never the whole tree. An output that goes to
//! a path is written atomically: to a temporary file in the same
//! directory, which is synced and then renamed into place, so that a
//! failed build leaves neither a partial output nor the temporary file.

pub mod manifest;
pub mod spdx;
pub mod tar;

pub use self::tar::{
    stage_tar_file, write_tar, write_tar_file, StagedTar, TarOptions, TarStats,
};
