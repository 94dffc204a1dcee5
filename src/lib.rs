//! lunforge builds ready-to-boot Debian guest disks for Xen hosts that
//! share iSCSI storage: from a declarative recipe to a partitioned image,
//! without root, mounts, loop devices or chroots.
//!
//! # Pipeline
//!
//! ```text
//! recipe ──► repo ──► resolve ──► fetch ──► unpack ──► configure
//!  (TOML)   (InRelease,  (variant,   (cache)  (.deb→tree) (dpkg db,
//!            Packages)    deps)                           guest files)
//!        ──► filesystems ──► disk ──► sink
//!            (ext2/3/4,     (MBR/    (file, block
//!             FAT, swap)     GPT)     device, iSCSI)
//! ```
//!
//! [`pipeline::build`] runs the stages in order, the whole build as one
//! call, and returns a [`pipeline::BuildReport`]; each stage is a module
//! with a typed input and output and its own error type, wrapped by
//! [`Error`]. The sink writes to a file, a block device or an iSCSI LUN
//! ([`sink::target::Target`]), the last through lunforge's own initiator
//! ([`iscsi`]).
//!
//! # Determinism and reproducibility
//!
//! The same recipe and lockfile give the same bytes. Every input that
//! could vary is pinned: the package set by the lockfile (name, version,
//! path, size, SHA-256, and the signed Release it came from), file
//! timestamps by `SOURCE_DATE_EPOCH`, UUIDs, hash seeds and MAC addresses
//! by the recipe or a hash of it. Iteration over packages and paths is
//! sorted, and the lockfile itself is written sorted and without
//! timestamps of its own, as are what a build says of itself in
//! `OUT/<name>/`: its manifest and its SBOM ([`output`]).
//!
//! # Trust
//!
//! No byte from a mirror is used before it is verified: the Release by
//! its OpenPGP signature, each index and package by the SHA-256 the
//! signed Release (or the lockfile) promises. Only `--insecure-unsigned`
//! skips the signature, and nothing skips the digests.
//!
//! # Stopping
//!
//! A build stopped by SIGINT or SIGTERM leaves nothing behind: no
//! staging directory, mount, child process, temporary file or partial
//! output, and a cache holding only verified files. The stages check
//! [`cancel::check`] at their loop points and return
//! [`cancel::Interrupted`] through their errors, so the error path's
//! destructors clean up. Only the binary installs the signal handlers
//! ([`cancel::install`]); a library user decides for itself.

#![deny(unsafe_code)]

pub mod arch;
pub mod boot;
pub mod cancel;
pub mod cli;
pub mod configure;
pub mod context;
pub mod disk;
pub mod error;
pub mod fetch;
pub mod filesystems;
pub mod ids;
pub mod inspect;
pub mod iscsi;
pub mod mkfs;
pub mod output;
pub mod parallel;
pub mod pipeline;
pub mod progress;
pub mod recipe;
pub mod repo;
pub mod resolve;
pub mod sink;
pub mod tree;
pub mod units;
pub mod unpack;

pub use context::Context;
pub use error::{Error, Result};
pub use recipe::Recipe;
