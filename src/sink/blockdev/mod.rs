//! An attached block device (`/dev/sdX`, an iSCSI LUN logged in by the
//! host under `/dev/disk/by-path/…`, a loop device) as a [`Device`]:
//! the one place where lunforge overwrites something that may hold
//! somebody's data, so [`BlockDevice::open`] refuses first and asks
//! later.
//!
//! # What is refused, and why
//!
//! 1. **Anything but a block device.** The path is resolved (udev's
//!    `/dev/disk/by-*` names are symlinks) and the *final* target must
//!    be a block device; a symlink to a regular file, a directory or a
//!    character device is refused, never written. A disk image in a
//!    file is [`super::FileSink`]'s job, with its own atomic rename.
//!    The device is then opened by its resolved name with `O_NOFOLLOW`,
//!    and the opened descriptor must still be a block device with the
//!    same number, so that a name swapped in between is not written.
//! 2. **A mounted device, or one with mounted partitions**, from
//!    `/proc/self/mountinfo` by `major:minor`: writing under a mounted
//!    file system corrupts it and the guest image alike.
//! 3. **An active swap area** on it or a partition, from `/proc/swaps`.
//! 4. **A device something is stacked on**: a name under sysfs
//!    `holders/` of the device or a partition (device-mapper, LVM,
//!    md, multipath, dm-crypt). Those own the device's contents.
//! 5. **A device that is busy.** It is opened `O_RDWR | O_EXCL |
//!    O_CLOEXEC`. On a block device Linux gives `O_EXCL` (without
//!    `O_CREAT`) a meaning of its own: the open *claims* the device
//!    exclusively for the open file, and fails with `EBUSY` when
//!    someone else holds a claim: a mounted file system (in any mount
//!    namespace), swap, md or device-mapper, another `O_EXCL` opener
//!    (another lunforge, `mkfs`), and, for a whole disk, a claim on any
//!    of its partitions. Checks 2-4 come first only because they can
//!    name the user; this one also covers what no table here shows.
//!    The claim lasts until the descriptor is closed, so nothing can
//!    mount the device while the image is written. It does not stop a
//!    program that opens the device without `O_EXCL`.
//! 6. **A device smaller than the image** (`BLKGETSIZE64`).
//! 7. **A device that holds something**, unless the operator says
//!    `--force`: the first MiB is read and [`signature::detect`] looks
//!    for partition tables, file systems, swap, LUKS, LVM2 and mdraid
//!    labels. The refusal lists what it found. A LUN freshly carved
//!    from the storage reads as zeros and passes.
//!
//! # Writes, the page cache, and why not `O_DIRECT`
//!
//! Writes are plain `pwrite`s through the page cache (all of each
//! buffer, retried on `EINTR` and short writes), reads are `pread`s.
//! `O_DIRECT` would need every buffer aligned in memory to the logical
//! block size, which the image writers' slices are not, so it would
//! mean a bounce copy of every byte; the page cache instead lets the
//! kernel merge and write back while the next partition is generated.
//! Durability comes from [`Device::sync`]: `fdatasync` (on a block
//! device: write back every dirty page and flush the device's volatile
//! cache), then `BLKFLSBUF` to drop the now clean cache, so that the
//! read-back verification that follows reads the device, not the
//! memory it was written from. (Without `CAP_SYS_ADMIN`, which
//! `BLKFLSBUF` needs, `POSIX_FADV_DONTNEED` drops the clean pages
//! instead.)
//!
//! # Zeroing
//!
//! [`Device::zeroing`] comes from the device's queue limits in sysfs
//! ([`checks::zeroing`]):
//!
//! - `Unmap` when `discard_max_bytes` and `write_zeroes_max_bytes` are
//!   both non-zero. [`Device::zero`] then calls
//!   `fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)` on the
//!   device: the block layer turns it into a zero-out that *may unmap*
//!   and must not fall back to writing zero pages (`BLKDEV_ZERO_NOFALLBACK`),
//!   and it guarantees the range reads as zeros afterwards (a SCSI disk
//!   with LBPRZ gets WRITE SAME with UNMAP; a loop device punches a
//!   hole in its backing file). If the device refuses
//!   (`EOPNOTSUPP`), `BLKZEROOUT` is used from then on.
//! - `Offload` when only `write_zeroes_max_bytes` is non-zero:
//!   [`Device::zero`] issues `BLKZEROOUT`, which the device executes
//!   as WRITE ZEROES / WRITE SAME, keeping the blocks allocated.
//! - `Write` otherwise: the device has no zeroing command of its own.
//!
//! Why not `BLKZEROOUT` for `Unmap` too: the kernel passes it
//! `BLKDEV_ZERO_NOUNMAP`, so it never deallocates; on Linux 6.18 a
//! loop device turns it into `FALLOC_FL_ZERO_RANGE` on the backing
//! file, whose blocks stay allocated. And why never `BLKDISCARD`: a
//! discard promises nothing about what the range reads afterwards
//! (`discard_zeroes_data` reads 0 on every device since Linux 4.12).
//! Both calls drop the page cache over the range before zeroing.
//!
//! # Closing
//!
//! [`BlockDevice::finish`] asks the kernel to re-read the partition
//! table (`BLKRRPART`) so that the new partitions appear at once, then
//! closes the device (which also makes udev re-probe it). A device
//! without partition support (a loop device attached without
//! partition scanning, a partition itself) answers `EINVAL`; a device
//! whose old partitions are still open answers `EBUSY`. Neither undoes
//! a written, synced and verified image: they are [`Reread`] outcomes,
//! not errors.

#![deny(clippy::arithmetic_side_effects, clippy::as_conversions)]

pub mod checks;
mod ioctl;
pub mod signature;

use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::{Advice, FallocateFlags, Mode, OFlags};
use rustix::io::Errno;

use self::checks::{DevId, Topology};
use self::signature::{and_list, Signature, SCAN_LEN};
use super::{Device, Zeroing};

/// Where the kernel lists this process's mounts.
const MOUNTINFO: &str = "/proc/self/mountinfo";
/// Where the kernel lists active swap areas.
const SWAPS: &str = "/proc/swaps";
/// sysfs.
const SYS: &str = "/sys";
/// The largest range given to one zeroing call: each is one
/// uninterruptible-ish kernel operation, so a stop request waits at
/// most this long.
const ZERO_CHUNK: u64 = 1 << 30;

/// A device, as the operator named it and as it resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceName {
    /// The path given (maybe a `/dev/disk/by-path/…` symlink).
    pub given: PathBuf,
    /// The path after resolving every symlink.
    pub resolved: PathBuf,
}

impl fmt::Display for DeviceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.given.display())?;
        if self.given != self.resolved {
            write!(f, " (-> {})", self.resolved.display())?;
        }
        Ok(())
    }
}

/// A user of the device found in the mount or swap tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    /// The kernel name of the device or partition in use.
    pub name: String,
    /// The mount point, or the swap area's path.
    pub at: PathBuf,
}

impl fmt::Display for Use {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {}", self.name, self.at.display())
    }
}

/// Errors of the block-device sink.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The path does not lead anywhere.
    #[error("{path}: cannot resolve the device path: {source}", path = path.display())]
    Resolve {
        /// The path given.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The path (after symlinks) is not a block device.
    #[error("{device} is {kind}, not a block device; refusing to write to it")]
    NotABlockDevice {
        /// The device.
        device: DeviceName,
        /// What it is: "a regular file", "a directory", …
        kind: &'static str,
    },
    /// The kernel's tables about the device cannot be read.
    #[error("{device}: cannot check whether it is in use: reading {table}: {source}", table = table.display())]
    Unchecked {
        /// The device.
        device: DeviceName,
        /// The table (`/proc/self/mountinfo`, a sysfs directory).
        table: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The device or one of its partitions is mounted.
    #[error("{device} is mounted: {}; unmount it first", and_list(mounts))]
    Mounted {
        /// The device.
        device: DeviceName,
        /// What is mounted where.
        mounts: Vec<Use>,
    },
    /// The device or one of its partitions is active swap.
    #[error(
        "{device} is in use as swap: {}; swapoff it first",
        and_list(swaps)
    )]
    Swap {
        /// The device.
        device: DeviceName,
        /// The swap areas.
        swaps: Vec<Use>,
    },
    /// Other block devices are stacked on it.
    #[error(
        "{device} is held by {} (device-mapper, LVM, md or another stacked \
         device); release it first",
        and_list(holders)
    )]
    Held {
        /// The device.
        device: DeviceName,
        /// The holders' kernel names.
        holders: Vec<String>,
    },
    /// The exclusive open failed with `EBUSY`.
    #[error(
        "{device} is busy: the kernel or another process holds it \
         exclusively (mounted in another mount namespace, swap, RAID or \
         device-mapper member, or a program such as mkfs)"
    )]
    Busy {
        /// The device.
        device: DeviceName,
    },
    /// The device cannot be opened for writing.
    #[error("{device}: cannot open for writing: {source}")]
    Open {
        /// The device.
        device: DeviceName,
        /// The error.
        source: io::Error,
    },
    /// What was opened is not what was checked.
    #[error("{device} changed while it was being opened; not writing to it")]
    Changed {
        /// The device.
        device: DeviceName,
    },
    /// The device is smaller than the image.
    #[error(
        "{device} holds {capacity} bytes, too small for the {needed}-byte \
         image"
    )]
    TooSmall {
        /// The device.
        device: DeviceName,
        /// Its size.
        capacity: u64,
        /// The image's size.
        needed: u64,
    },
    /// The device holds a partition table or a file system.
    #[error("{device} holds {}; pass --force to overwrite", and_list(found))]
    NotEmpty {
        /// The device.
        device: DeviceName,
        /// What was found.
        found: Vec<Signature>,
    },
    /// An operation on the open device failed.
    #[error("{device}: {op}: {source}")]
    Io {
        /// The device.
        device: DeviceName,
        /// What was being done.
        op: Op,
        /// The error.
        source: io::Error,
    },
}

/// An operation on an open device, for [`Error::Io`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Asking the size or block size.
    Probe,
    /// Writing.
    Write {
        /// Where.
        offset: u64,
        /// How much.
        len: u64,
    },
    /// Reading.
    Read {
        /// Where.
        offset: u64,
        /// How much.
        len: u64,
    },
    /// Zeroing.
    Zero {
        /// Where.
        offset: u64,
        /// How much.
        len: u64,
    },
    /// `fdatasync` and dropping the cache.
    Sync,
    /// `BLKRRPART`.
    Reread,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Probe => f.write_str("reading its size"),
            Op::Write { offset, len } => {
                write!(f, "writing {len} bytes at {offset}")
            }
            Op::Read { offset, len } => {
                write!(f, "reading {len} bytes at {offset}")
            }
            Op::Zero { offset, len } => {
                write!(f, "zeroing {len} bytes at {offset}")
            }
            Op::Sync => f.write_str("syncing"),
            Op::Reread => f.write_str("re-reading the partition table"),
        }
    }
}

/// Result of the block-device sink.
pub type Result<T> = std::result::Result<T, Error>;

/// How [`BlockDevice::open`] may proceed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockOptions {
    /// Overwrite a device that holds a partition table or a file
    /// system (`--force`). Mounted, busy or small devices are refused
    /// all the same.
    pub force: bool,
}

/// What became of the partition-table re-read at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reread {
    /// The kernel read the new table.
    Done,
    /// The device has no partitions of its own (`EINVAL`: a partition,
    /// a loop device without partition scanning); nothing to do.
    Unsupported,
    /// A partition of the old table is still open (`EBUSY`): the kernel
    /// still shows the old partitions until the device is re-read
    /// (`partprobe`, or detaching and attaching it).
    Busy,
    /// Not permitted (`EACCES`: it needs `CAP_SYS_ADMIN`); udev re-reads
    /// it when the device is closed.
    NotPermitted,
}

/// An open, checked, exclusively claimed block device.
#[derive(Debug)]
pub struct BlockDevice {
    file: File,
    device: DeviceName,
    name: String,
    capacity: u64,
    block_size: u32,
    zeroing: Zeroing,
    overwritten: Vec<Signature>,
}

impl BlockDevice {
    /// Open `path` to receive an image of `image_size` bytes, after
    /// every check of the module documentation.
    pub fn open(
        path: &Path,
        image_size: u64,
        opts: &BlockOptions,
    ) -> Result<BlockDevice> {
        let resolved =
            std::fs::canonicalize(path).map_err(|source| Error::Resolve {
                path: path.to_path_buf(),
                source,
            })?;
        let device = DeviceName {
            given: path.to_path_buf(),
            resolved: resolved.clone(),
        };
        let meta = std::fs::symlink_metadata(&resolved).map_err(|source| {
            Error::Resolve {
                path: path.to_path_buf(),
                source,
            }
        })?;
        if !meta.file_type().is_block_device() {
            return Err(Error::NotABlockDevice {
                device,
                kind: kind(&meta.file_type()),
            });
        }
        let dev = DevId::from_rdev(meta.rdev());
        let topology = check_users(&device, dev, Path::new(SYS))?;

        let fd = rustix::fs::open(
            &resolved,
            OFlags::RDWR | OFlags::EXCL | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::BUSY => Error::Busy {
                device: device.clone(),
            },
            e => Error::Open {
                device: device.clone(),
                source: e.into(),
            },
        })?;
        let file = File::from(fd);
        let probe = |source: io::Error| Error::Io {
            device: device.clone(),
            op: Op::Probe,
            source,
        };
        let opened = file.metadata().map_err(probe)?;
        if !opened.file_type().is_block_device() || opened.rdev() != meta.rdev()
        {
            return Err(Error::Changed { device });
        }
        let capacity =
            ioctl::blkgetsize64(&file).map_err(|e| probe(e.into()))?;
        let block_size =
            rustix::fs::ioctl_blksszget(&file).map_err(|e| probe(e.into()))?;
        if capacity < image_size {
            return Err(Error::TooSmall {
                device,
                capacity,
                needed: image_size,
            });
        }
        let scan =
            usize::try_from(capacity).map_or(SCAN_LEN, |c| c.min(SCAN_LEN));
        let mut head = vec![0u8; scan];
        file.read_exact_at(&mut head, 0)
            .map_err(|source| Error::Io {
                device: device.clone(),
                op: Op::Read {
                    offset: 0,
                    len: u64::try_from(scan).unwrap_or(u64::MAX),
                },
                source,
            })?;
        let found = signature::detect(&head);
        if !found.is_empty() && !opts.force {
            return Err(Error::NotEmpty { device, found });
        }
        Ok(BlockDevice {
            file,
            name: path.display().to_string(),
            device,
            capacity,
            block_size,
            zeroing: topology.zeroing(),
            overwritten: found,
        })
    }

    /// The device's names, given and resolved.
    pub fn device(&self) -> &DeviceName {
        &self.device
    }

    /// What `--force` let this write destroy (empty without `--force`,
    /// or on a blank device), for the operator's record.
    pub fn overwritten(&self) -> &[Signature] {
        &self.overwritten
    }

    /// Never deallocate: zero with `BLKZEROOUT` even where the device
    /// could unmap ([`Zeroing::Unmap`] becomes [`Zeroing::Offload`]),
    /// for a thin-provisioned LUN the operator wants fully allocated.
    pub fn keep_allocated(&mut self) {
        if self.zeroing == Zeroing::Unmap {
            self.zeroing = Zeroing::Offload;
        }
    }

    /// Re-read the partition table and close the device; the outcome of
    /// the re-read, which is not a failure of the write.
    pub fn finish(self) -> Result<Reread> {
        let outcome = match ioctl::blkrrpart(&self.file) {
            Ok(()) => Reread::Done,
            Err(Errno::INVAL) => Reread::Unsupported,
            Err(Errno::BUSY) => Reread::Busy,
            Err(Errno::ACCESS | Errno::PERM) => Reread::NotPermitted,
            Err(e) => {
                return Err(Error::Io {
                    device: self.device.clone(),
                    op: Op::Reread,
                    source: e.into(),
                })
            }
        };
        drop(self.file);
        Ok(outcome)
    }

    fn io(&self, op: Op) -> impl FnOnce(io::Error) -> super::Error + '_ {
        move |source| {
            Error::Io {
                device: self.device.clone(),
                op,
                source,
            }
            .into()
        }
    }

    /// Fail unless `offset..offset + len` lies on the device.
    fn within(&self, offset: u64, len: u64) -> super::Result<()> {
        match offset.checked_add(len) {
            Some(end) if end <= self.capacity => Ok(()),
            _ => Err(super::Error::PastEnd {
                offset,
                len,
                size: self.capacity,
            }),
        }
    }
}

/// Checks 2-4: mounted, swap, holders. Returns what sysfs says of the
/// device.
fn check_users(
    device: &DeviceName,
    dev: DevId,
    sys: &Path,
) -> Result<Topology> {
    let unchecked = |table: &Path| {
        let table = table.to_path_buf();
        move |source| Error::Unchecked {
            device: device.clone(),
            table,
            source,
        }
    };
    let sys_dir = sys.join("dev/block").join(dev.to_string());
    let topology = Topology::read(sys, dev).map_err(unchecked(&sys_dir))?;
    let ours = topology.all_devs(dev);
    let name_of =
        |d: DevId| ours.iter().find(|(_, id)| *id == d).map(|(n, _)| n.clone());

    let text = std::fs::read_to_string(MOUNTINFO)
        .map_err(unchecked(Path::new(MOUNTINFO)))?;
    let mounts: Vec<Use> = checks::parse_mountinfo(&text)
        .into_iter()
        .filter_map(|m| {
            Some(Use {
                name: name_of(m.dev)?,
                at: m.mount_point,
            })
        })
        .collect();
    if !mounts.is_empty() {
        return Err(Error::Mounted {
            device: device.clone(),
            mounts,
        });
    }

    let text =
        std::fs::read_to_string(SWAPS).map_err(unchecked(Path::new(SWAPS)))?;
    let swaps: Vec<Use> = checks::parse_swaps(&text)
        .into_iter()
        .filter_map(|p| {
            let m = std::fs::metadata(&p).ok()?;
            if !m.file_type().is_block_device() {
                return None;
            }
            Some(Use {
                name: name_of(DevId::from_rdev(m.rdev()))?,
                at: p,
            })
        })
        .collect();
    if !swaps.is_empty() {
        return Err(Error::Swap {
            device: device.clone(),
            swaps,
        });
    }

    if !topology.holders.is_empty() {
        return Err(Error::Held {
            device: device.clone(),
            holders: topology.holders.clone(),
        });
    }
    Ok(topology)
}

/// What a file that is not a block device is, for messages.
fn kind(t: &std::fs::FileType) -> &'static str {
    if t.is_file() {
        "a regular file"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a block device"
    }
}

impl Device for BlockDevice {
    fn name(&self) -> &str {
        &self.name
    }

    fn capacity(&self) -> u64 {
        self.capacity
    }

    fn block_size(&self) -> u32 {
        self.block_size
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> super::Result<()> {
        let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
        self.within(offset, len)?;
        self.file
            .write_all_at(data, offset)
            .map_err(self.io(Op::Write { offset, len }))
    }

    fn read(&mut self, offset: u64, buf: &mut [u8]) -> super::Result<()> {
        let len = u64::try_from(buf.len()).unwrap_or(u64::MAX);
        self.within(offset, len)?;
        self.file
            .read_exact_at(buf, offset)
            .map_err(self.io(Op::Read { offset, len }))
    }

    fn zeroing(&self) -> Zeroing {
        self.zeroing
    }

    fn zero(&mut self, offset: u64, len: u64) -> super::Result<()> {
        self.within(offset, len)?;
        let mut at = offset;
        let mut left = len;
        while left > 0 {
            let n = left.min(ZERO_CHUNK);
            let punched = if self.zeroing == Zeroing::Unmap {
                rustix::fs::fallocate(
                    &self.file,
                    FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
                    at,
                    n,
                )
            } else {
                Err(Errno::OPNOTSUPP)
            };
            match punched {
                Ok(()) => {}
                Err(Errno::OPNOTSUPP) => {
                    if self.zeroing == Zeroing::Unmap {
                        // The limits promised more than the device
                        // does: zero in place from now on.
                        self.zeroing = Zeroing::Offload;
                    }
                    ioctl::blkzeroout(&self.file, at, n).map_err(|e| {
                        self.io(Op::Zero { offset: at, len: n })(e.into())
                    })?;
                }
                Err(e) => {
                    return Err(self.io(Op::Zero { offset: at, len: n })(
                        e.into(),
                    ))
                }
            }
            // Cannot overflow: at + left <= capacity, n <= left.
            at = at.saturating_add(n);
            left = left.saturating_sub(n);
        }
        Ok(())
    }

    fn sync(&mut self) -> super::Result<()> {
        self.file.sync_data().map_err(self.io(Op::Sync))?;
        match ioctl::blkflsbuf(&self.file) {
            Ok(()) => Ok(()),
            Err(Errno::ACCESS | Errno::PERM) => {
                rustix::fs::fadvise(&self.file, 0, None, Advice::DontNeed)
                    .map_err(|e| self.io(Op::Sync)(e.into()))
            }
            Err(e) => Err(self.io(Op::Sync)(e.into())),
        }
    }

    /// [`BlockDevice::finish`], its [`Reread`] outcome a note when the
    /// kernel could not take the new table.
    fn close(self: Box<Self>) -> super::Result<Vec<String>> {
        let name = self.name().to_string();
        Ok(match self.finish()? {
            Reread::Done | Reread::Unsupported => Vec::new(),
            Reread::Busy => vec![format!(
                "{name}: the kernel still shows the old partitions (a \
                 partition is open); run partprobe or re-attach the device"
            )],
            Reread::NotPermitted => vec![format!(
                "{name}: not permitted to re-read the partition table; \
                 udev re-reads it when the device is closed"
            )],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(given: &str, resolved: &str) -> DeviceName {
        DeviceName {
            given: given.into(),
            resolved: resolved.into(),
        }
    }

    #[test]
    fn error_messages() {
        let loop3 = dev("/dev/loop3", "/dev/loop3");
        let cases: Vec<(Error, &str)> = vec![
            (
                Error::NotEmpty {
                    device: loop3.clone(),
                    found: vec![
                        Signature::Msdos,
                        Signature::Ext(signature::ExtKind::Ext3),
                    ],
                },
                "/dev/loop3 holds an msdos partition table and an ext3 file \
                 system; pass --force to overwrite",
            ),
            (
                Error::NotABlockDevice {
                    device: dev("/dev/disk/by-path/x", "/srv/img"),
                    kind: "a regular file",
                },
                "/dev/disk/by-path/x (-> /srv/img) is a regular file, not a \
                 block device; refusing to write to it",
            ),
            (
                Error::Mounted {
                    device: dev("/dev/sdb", "/dev/sdb"),
                    mounts: vec![
                        Use {
                            name: "sdb1".into(),
                            at: "/boot".into(),
                        },
                        Use {
                            name: "sdb2".into(),
                            at: "/srv".into(),
                        },
                    ],
                },
                "/dev/sdb is mounted: sdb1 on /boot and sdb2 on /srv; \
                 unmount it first",
            ),
            (
                Error::Swap {
                    device: loop3.clone(),
                    swaps: vec![Use {
                        name: "loop3".into(),
                        at: "/dev/loop3".into(),
                    }],
                },
                "/dev/loop3 is in use as swap: loop3 on /dev/loop3; swapoff \
                 it first",
            ),
            (
                Error::Held {
                    device: loop3.clone(),
                    holders: vec!["dm-0".into()],
                },
                "/dev/loop3 is held by dm-0 (device-mapper, LVM, md or \
                 another stacked device); release it first",
            ),
            (
                Error::Busy {
                    device: loop3.clone(),
                },
                "/dev/loop3 is busy: the kernel or another process holds it \
                 exclusively (mounted in another mount namespace, swap, RAID \
                 or device-mapper member, or a program such as mkfs)",
            ),
            (
                Error::TooSmall {
                    device: loop3.clone(),
                    capacity: 1024,
                    needed: 4096,
                },
                "/dev/loop3 holds 1024 bytes, too small for the 4096-byte \
                 image",
            ),
            (
                Error::Changed {
                    device: loop3.clone(),
                },
                "/dev/loop3 changed while it was being opened; not writing to \
                 it",
            ),
            (
                Error::Io {
                    device: loop3.clone(),
                    op: Op::Zero {
                        offset: 512,
                        len: 1024,
                    },
                    source: io::Error::from_raw_os_error(5),
                },
                "/dev/loop3: zeroing 1024 bytes at 512: Input/output error \
                 (os error 5)",
            ),
            (
                Error::Unchecked {
                    device: loop3.clone(),
                    table: MOUNTINFO.into(),
                    source: io::Error::from_raw_os_error(2),
                },
                "/dev/loop3: cannot check whether it is in use: reading \
                 /proc/self/mountinfo: No such file or directory (os error 2)",
            ),
            (
                Error::Resolve {
                    path: "/dev/nope".into(),
                    source: io::Error::from_raw_os_error(2),
                },
                "/dev/nope: cannot resolve the device path: No such file or \
                 directory (os error 2)",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want);
            // Through the sink's error unchanged.
            assert_eq!(super::super::Error::from(e).to_string(), want);
        }
    }

    #[test]
    fn refuses_what_is_not_a_block_device() {
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("image");
        std::fs::write(&file, [0u8; 4096]).unwrap();
        let link = t.path().join("by-path-lun");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let opts = BlockOptions::default();
        for (p, kind) in [
            (&file, "a regular file"),
            (&link, "a regular file"),
            (&t.path().to_path_buf(), "a directory"),
            (&PathBuf::from("/dev/null"), "a character device"),
        ] {
            match BlockDevice::open(p, 512, &opts).unwrap_err() {
                Error::NotABlockDevice { kind: k, device } => {
                    assert_eq!(k, kind);
                    assert_eq!(device.given, *p);
                }
                e => panic!("{}: {e}", p.display()),
            }
        }
        assert_eq!(std::fs::read(&file).unwrap(), [0u8; 4096]);
        let e = BlockDevice::open(&t.path().join("gone"), 512, &opts);
        assert!(matches!(e, Err(Error::Resolve { .. })));
        let dangling = t.path().join("dangling");
        std::os::unix::fs::symlink(t.path().join("gone"), &dangling).unwrap();
        let e = BlockDevice::open(&dangling, 512, &opts);
        assert!(matches!(e, Err(Error::Resolve { .. })));
    }
}
