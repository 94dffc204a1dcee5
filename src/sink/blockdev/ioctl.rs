//! The block-device ioctls that rustix has no safe wrapper for, one
//! small function each, with the opcode built from the kernel's
//! `include/uapi/linux/fs.h` definition and the argument type it
//! copies. rustix's own safe wrappers cover the block sizes
//! (`ioctl_blksszget`) and `fallocate`.
//!
//! Not here: `BLKDISCARD`. A discard promises nothing about what the
//! range reads afterwards (`BLKDISCARDZEROES` has answered 0 since
//! Linux 4.12), so lunforge never discards; it zeroes, by
//! `fallocate(PUNCH_HOLE)` (unmap allowed, zeros promised) or
//! [`blkzeroout`] (see [`super`]).

use std::os::fd::AsFd;

use rustix::io;
use rustix::ioctl::{self, opcode, NoArg, Opcode, Setter};

/// The ioctl group of block devices (`0x12`).
const BLK: u8 = 0x12;
/// `BLKRRPART = _IO(0x12, 95)`.
const BLKRRPART: Opcode = opcode::none(BLK, 95);
/// `BLKFLSBUF = _IO(0x12, 97)`.
const BLKFLSBUF: Opcode = opcode::none(BLK, 97);
/// `BLKGETSIZE64 = _IOR(0x12, 114, size_t)`; the kernel writes a u64
/// whatever size the opcode encodes.
const BLKGETSIZE64: Opcode = opcode::read::<usize>(BLK, 114);
/// `BLKZEROOUT = _IO(0x12, 127)`, argument `uint64_t range[2]`.
const BLKZEROOUT: Opcode = opcode::none(BLK, 127);

/// The device's size in bytes.
#[allow(unsafe_code)]
pub(super) fn blkgetsize64(fd: impl AsFd) -> io::Result<u64> {
    // SAFETY: BLKGETSIZE64 stores one u64 through its argument
    // (`put_u64` in the kernel's `blkdev_common_ioctl`) and reads
    // nothing; `Getter<_, u64>` passes a pointer to its own u64 and
    // reads it back only after the call succeeded. It has no other
    // effect.
    unsafe { ioctl::ioctl(fd, ioctl::Getter::<BLKGETSIZE64, u64>::new()) }
}

/// Zero `len` bytes at `start` on the device, without unmapping
/// (the kernel passes `BLKDEV_ZERO_NOUNMAP`); the kernel drops the
/// page cache over the range first. Both must be multiples of 512.
#[allow(unsafe_code)]
pub(super) fn blkzeroout(
    fd: impl AsFd,
    start: u64,
    len: u64,
) -> io::Result<()> {
    // SAFETY: BLKZEROOUT copies two u64s (start, length) from its
    // argument and writes nothing back; `Setter` passes a pointer to
    // the array it owns, alive for the call. The effect, zeroing that
    // range of the device, is the one asked for; the kernel checks the
    // range against the device's size and alignment and fails with
    // EINVAL otherwise.
    unsafe {
        ioctl::ioctl(fd, Setter::<BLKZEROOUT, [u64; 2]>::new([start, len]))
    }
}

/// Ask the kernel to re-read the device's partition table.
#[allow(unsafe_code)]
pub(super) fn blkrrpart(fd: impl AsFd) -> io::Result<()> {
    // SAFETY: BLKRRPART takes no argument (`NoArg` passes a null
    // pointer, which the kernel ignores). Its effect is a rescan of the
    // partitions of the device, which is what is asked for; the kernel
    // refuses (EBUSY) while a partition is open.
    unsafe { ioctl::ioctl(fd, NoArg::<BLKRRPART>::new()) }
}

/// Write back the device's dirty pages and drop its page cache, so
/// that the next read comes from the device.
#[allow(unsafe_code)]
pub(super) fn blkflsbuf(fd: impl AsFd) -> io::Result<()> {
    // SAFETY: BLKFLSBUF takes no argument (null pointer, ignored). It
    // syncs the device's buffers and invalidates its clean page cache;
    // no memory of this process is touched. It needs CAP_SYS_ADMIN
    // (EACCES otherwise).
    unsafe { ioctl::ioctl(fd, NoArg::<BLKFLSBUF>::new()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The opcodes as `<linux/fs.h>` defines them on x86-64 and the
    /// other architectures with the generic ioctl encoding.
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    #[test]
    fn opcodes_match_the_kernel_header() {
        assert_eq!(BLKRRPART, 0x125F);
        assert_eq!(BLKFLSBUF, 0x1261);
        assert_eq!(BLKGETSIZE64, 0x8008_1272);
        assert_eq!(BLKZEROOUT, 0x127F);
    }

    #[test]
    fn not_a_block_device() {
        let f = tempfile::tempfile().unwrap();
        assert_eq!(blkgetsize64(&f).unwrap_err(), io::Errno::NOTTY);
        assert_eq!(blkzeroout(&f, 0, 512).unwrap_err(), io::Errno::NOTTY);
    }
}
