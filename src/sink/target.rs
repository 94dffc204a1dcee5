//! Where a disk goes, as the operator names it: a file path, a block
//! device (or a symlink to one, such as `/dev/disk/by-path/…`), or an
//! iSCSI LUN as libiscsi and QEMU write it,
//! `iscsi://[user[%secret]@]host[:port]/IQN/LUN`. [`Target::open`]
//! gives the sink for each; [`Target::preflight`] checks, before a build
//! spends minutes, that the target exists and takes the image.

use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;

use super::blockdev::signature::detect;
use super::blockdev::{BlockDevice, BlockOptions};
use super::device::{self, DeviceSink};
use super::{Error, FileSink, Result, Sink};
use crate::iscsi::{Credentials, IscsiUrl, Lun, Secret};
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

/// An `iscsi://` target; its `Display` never shows a secret.
pub type IscsiTarget = IscsiUrl;

/// How a target is written.
#[derive(Debug, Clone, Default)]
pub struct TargetOptions {
    /// Holes, sync and verification on a device or LUN.
    pub device: device::Options,
    /// Write over a device that holds a partition table or a file
    /// system.
    pub force: bool,
    /// The CHAP secret of an iSCSI target, when not in its URL.
    pub chap_secret: Option<SecretSource>,
    /// The CHAP user of an iSCSI target, when not in its URL (the
    /// recipe's `iscsi.chap_user`).
    pub chap_user: Option<String>,
    /// The initiator's settings (name, digests, timeouts, queue depth).
    pub iscsi: crate::iscsi::Options,
}

impl Target {
    /// The target named `s`: `iscsi://…`, else a path, which is a
    /// device target when it is (or links to) a block device.
    pub fn parse(s: &str) -> Result<Target> {
        if s.starts_with("iscsi://") {
            let url = IscsiUrl::parse(s).map_err(crate::iscsi::Error::from)?;
            return Ok(Target::Iscsi(url));
        }
        let path = PathBuf::from(s);
        let meta = std::fs::metadata(&path);
        if meta.as_ref().is_ok_and(|m| m.file_type().is_block_device()) {
            return Ok(Target::Device(path));
        }
        // A device path that names nothing is a typo, not a new image
        // file to put in /dev.
        if meta.is_err() && path.starts_with("/dev") {
            return Err(Error::NoDevice { path });
        }
        Ok(Target::File(path))
    }

    /// Whether the target is an `iscsi://` URL that carries its CHAP
    /// secret (which then shows in the process list).
    pub fn has_secret_in_url(&self) -> bool {
        match self {
            Target::Iscsi(url) => url.has_secret_in_url(),
            _ => false,
        }
    }

    /// The device or LUN behind this target, opened only to read it.
    pub fn open_for_reading(
        &self,
        opts: &TargetOptions,
    ) -> Result<Box<dyn device::Device>> {
        match self {
            Target::Iscsi(url) => {
                let creds = credentials(url, opts)?;
                Ok(Box::new(Lun::open_for_reading(url, &creds, &opts.iscsi)?))
            }
            _ => self.device(0, opts),
        }
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

    /// The device behind a device or iSCSI target, opened for writing
    /// `size` bytes: checked, and of 512-byte logical blocks.
    fn device(
        &self,
        size: u64,
        opts: &TargetOptions,
    ) -> Result<Box<dyn device::Device>> {
        let dev = self.open_device(size, opts)?;
        sectors_fit(&*dev, size)?;
        Ok(dev)
    }

    fn open_device(
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
            Target::Iscsi(url) => {
                use device::Device as _;
                let lun = open_lun(url, opts)?;
                if lun.capacity() < size {
                    let capacity = lun.capacity();
                    let _ = Box::new(lun).close();
                    return Err(Error::TooSmall {
                        target: url.to_string(),
                        capacity,
                        size,
                    });
                }
                if size > 0 && !opts.force {
                    refuse_data(lun, url)
                } else {
                    Ok(Box::new(lun))
                }
            }
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::File(p) | Target::Device(p) => write!(f, "{}", p.display()),
            Target::Iscsi(url) => write!(f, "{url}"),
        }
    }
}

/// The disk is laid out in 512-byte sectors (the MBR's and GPT's LBAs,
/// the GPT header at byte 512): on a device of 4096-byte logical blocks
/// the kernel and the guest would look elsewhere and find no partitions.
/// Refuse that, and an image that is not a whole number of sectors.
fn sectors_fit(dev: &dyn device::Device, size: u64) -> Result<()> {
    let sector = crate::disk::layout::SECTOR_SIZE;
    if u64::from(dev.block_size()) != sector {
        return Err(Error::BlockSize {
            target: dev.name().to_string(),
            block: dev.block_size(),
        });
    }
    if size % sector != 0 {
        return Err(Error::PartialSector {
            target: dev.name().to_string(),
            size,
        });
    }
    Ok(())
}

/// Log in to the LUN of `url` with the options' credentials.
fn open_lun(url: &IscsiUrl, opts: &TargetOptions) -> Result<Lun> {
    let creds = credentials(url, opts)?;
    Ok(Lun::open(url, &creds, &opts.iscsi)?)
}

/// The CHAP credentials for `url`: its own, the secret from the options
/// (env:, file:) and the recipe's user where the URL names none. A
/// secret without a user is a mistake to name, not a reason to log in
/// without authentication.
fn credentials(url: &IscsiUrl, opts: &TargetOptions) -> Result<Credentials> {
    let secret = opts.chap_secret.as_ref().map(read_secret).transpose()?;
    let mut creds = Credentials::from_url(url, secret, None);
    if creds.user.is_none() && creds.secret.is_some() {
        creds.user.clone_from(&opts.chap_user);
    }
    if creds.user.is_none() && creds.secret.is_some() {
        return Err(Error::NoChapUser {
            target: url.to_string(),
        });
    }
    Ok(creds)
}

/// Bytes at the start of a LUN where partition tables and file systems
/// show (as a block device's first MiB is checked).
const PROBE: usize = 1 << 20;

/// The LUN, unless its first MiB shows a partition table or a file
/// system: a LUN, like an attached disk, is overwritten only when the
/// operator says so (`--force`).
fn refuse_data(
    mut lun: Lun,
    url: &IscsiUrl,
) -> Result<Box<dyn device::Device>> {
    use device::Device as _;
    let cap = usize::try_from(lun.capacity()).unwrap_or(usize::MAX);
    let mut head = vec![0u8; PROBE.min(cap)];
    lun.read(0, &mut head)?;
    let found = detect(&head);
    if found.is_empty() {
        return Ok(Box::new(lun));
    }
    let _ = Box::new(lun).close();
    Err(Error::NotEmpty {
        target: url.to_string(),
        found: found.iter().map(ToString::to_string).collect(),
    })
}

/// Read a CHAP secret from `env:VAR` or `file:PATH` (its first line).
pub fn read_secret(source: &SecretSource) -> Result<Secret> {
    let fail = |detail: String| Error::Secret {
        source_name: source.to_string(),
        detail,
    };
    let text = source.read().map_err(fail)?;
    if text.is_empty() {
        return Err(fail("is empty".into()));
    }
    Ok(Secret::from(text.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::device::MemDevice;
    use crate::sink::Zeroing;

    #[test]
    fn parse_names_each_kind() {
        assert!(matches!(
            Target::parse("out/x.img").unwrap(),
            Target::File(_)
        ));
        let url =
            "iscsi://jim%secret@127.0.0.1:3261/iqn.2001-04.com.example:d/1";
        let t = Target::parse(url).unwrap();
        assert!(t.has_secret_in_url());
        assert!(!t.to_string().contains("secret"), "{t}");
        let e = Target::parse("/dev/lunforge-no-such-disk").unwrap_err();
        assert_eq!(e.to_string(), "/dev/lunforge-no-such-disk: no such device");
    }

    #[test]
    fn only_512_byte_sectors_and_whole_sectors() {
        let dev = MemDevice::new(1 << 20, 4096, Zeroing::Write);
        let e = sectors_fit(&dev, 1 << 20).unwrap_err();
        assert!(
            e.to_string().starts_with("mem: logical blocks of 4096"),
            "{e}"
        );
        let dev = MemDevice::new(1 << 20, 512, Zeroing::Write);
        sectors_fit(&dev, 1 << 20).unwrap();
        let e = sectors_fit(&dev, 1000).unwrap_err();
        assert!(e.to_string().contains("whole number"), "{e}");
    }

    #[test]
    fn a_secret_needs_a_user() {
        let url =
            IscsiUrl::parse("iscsi://127.0.0.1/iqn.2001-04.com.example:d/1")
                .unwrap();
        std::env::set_var("LF_UNIT_SECRET", "twelve-chars");
        let mut opts = TargetOptions {
            chap_secret: Some(SecretSource::Env("LF_UNIT_SECRET".into())),
            ..TargetOptions::default()
        };
        let e = credentials(&url, &opts).unwrap_err();
        assert!(e.to_string().contains("no CHAP user"), "{e}");
        opts.chap_user = Some("jim".into());
        let c = credentials(&url, &opts).unwrap();
        assert_eq!(c.user.as_deref(), Some("jim"));
        opts.chap_secret = Some(SecretSource::Env("LF_UNIT_UNSET".into()));
        let e = credentials(&url, &opts).unwrap_err();
        assert_eq!(e.to_string(), "CHAP secret env:LF_UNIT_UNSET: is not set");
    }
}
