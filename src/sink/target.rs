//! Where a disk goes, as the operator names it: a file path, a block
//! device (or a symlink to one, such as `/dev/disk/by-path/…`), or an
//! iSCSI LUN as libiscsi and QEMU write it,
//! `iscsi://[user[%secret]@]host[:port]/IQN/LUN`. [`Target::open`]
//! gives the sink for each; [`Target::preflight`] checks, before a build
//! spends minutes, that the target exists and takes the image.

use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;

use super::blockdev::{BlockDevice, BlockOptions};
use super::device::{self, DeviceSink};
use super::{FileSink, Result, Sink};
use crate::progress::Progress;
use crate::recipe::SecretSource;

/// A disk's destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A sparse image file, replaced atomically.
    File(PathBuf),
    /// An attached block device, written in place.
    Device(PathBuf),
    /// An iSCSI LUN, written over the network.
    Iscsi(IscsiTarget),
}

/// An `iscsi://` target with the secret kept apart from its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IscsiTarget(String);

/// How a target is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetOptions {
    /// Holes, sync and verification on a device or LUN.
    pub device: device::Options,
    /// Write over a device that holds a partition table or a file
    /// system.
    pub force: bool,
    /// The CHAP secret of an iSCSI target, when not in its URL.
    pub chap_secret: Option<SecretSource>,
}

impl Target {
    /// The target named `s`: `iscsi://…`, else a path, which is a
    /// device target when it is (or links to) a block device.
    pub fn parse(s: &str) -> Result<Target> {
        if s.starts_with("iscsi://") {
            return Ok(Target::Iscsi(IscsiTarget(s.to_string())));
        }
        let path = PathBuf::from(s);
        let block = std::fs::metadata(&path)
            .is_ok_and(|m| m.file_type().is_block_device());
        Ok(if block {
            Target::Device(path)
        } else {
            Target::File(path)
        })
    }

    /// Whether the target is an `iscsi://` URL that carries its CHAP
    /// secret (which then shows in the process list).
    pub fn has_secret_in_url(&self) -> bool {
        match self {
            Target::Iscsi(t) => {
                t.0.strip_prefix("iscsi://")
                    .and_then(|rest| rest.split('/').next())
                    .and_then(|auth| auth.rsplit_once('@'))
                    .is_some_and(|(user, _)| user.contains('%'))
            }
            _ => false,
        }
    }

    /// The device or LUN behind this target, opened only to read it.
    pub fn open_for_reading(
        &self,
        opts: &TargetOptions,
    ) -> Result<Box<dyn device::Device>> {
        self.device(0, opts)
    }

    /// Check that the target exists and can take `size` bytes, without
    /// writing anything.
    pub fn preflight(&self, size: u64, opts: &TargetOptions) -> Result<()> {
        match self {
            Target::File(path) => FileSink::check(path),
            // Opened with all its checks, then let go unwritten (no
            // partition table re-read for a disk that did not change).
            Target::Device(_) => self.device(size, opts).map(drop),
            Target::Iscsi(_) => self.device(size, opts)?.close().map(drop),
        }
    }

    /// The sink that writes `size` bytes to this target.
    pub fn open<'p>(
        &self,
        size: u64,
        opts: &TargetOptions,
        progress: &'p dyn Progress,
    ) -> Result<Box<dyn Sink + 'p>> {
        match self {
            Target::File(path) => Ok(Box::new(FileSink::create(path, size)?)),
            Target::Device(_) | Target::Iscsi(_) => {
                let dev = self.device(size, opts)?;
                Ok(Box::new(DeviceSink::new(dev, size, opts.device, progress)?))
            }
        }
    }

    /// The device behind a device or iSCSI target, opened for writing.
    fn device(
        &self,
        size: u64,
        opts: &TargetOptions,
    ) -> Result<Box<dyn device::Device>> {
        match self {
            Target::File(path) => {
                Err(super::Error::NotAFile { path: path.clone() })
            }
            Target::Device(path) => {
                let o = BlockOptions { force: opts.force };
                Ok(Box::new(BlockDevice::open(path, size, &o)?))
            }
            Target::Iscsi(_) => Err(crate::iscsi::Error::Unavailable.into()),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::File(p) | Target::Device(p) => write!(f, "{}", p.display()),
            Target::Iscsi(t) => f.write_str(&t.0),
        }
    }
}
