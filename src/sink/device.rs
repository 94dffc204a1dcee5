//! A sink onto a device of fixed capacity addressed in logical blocks:
//! an attached block device ([`super::blockdev`]) or an iSCSI LUN
//! ([`crate::iscsi::Lun`]). [`Device`] is what such a target can do;
//! [`DeviceSink`] turns the image writers' byte-positioned writes into
//! block-aligned, coalesced device writes, and at [`Sink::finish`]
//! makes every byte the image did not write read as zero (unless the
//! operator vouches that it already does), syncs, and reads the data
//! back to verify it.

use super::Result;

/// How a device can make a range read as zeros without the initiator
/// sending the zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zeroing {
    /// Deallocate the range (discard, UNMAP, WRITE SAME with UNMAP); the
    /// device promises the range reads as zeros afterwards (LBPRZ,
    /// `discard_zeroes_data` / `BLKZEROOUT` with unmap allowed).
    Unmap,
    /// The device zeroes the range itself (`BLKZEROOUT`, WRITE SAME
    /// without UNMAP): no zero buffers on the wire, but the blocks stay
    /// allocated.
    Offload,
    /// Only by writing zeros.
    Write,
}

/// A random-access target of `capacity()` bytes in logical blocks of
/// `block_size()` bytes. Every offset and length passed to it is a
/// multiple of the block size and lies within the capacity.
pub trait Device {
    /// The target as the operator named it, for messages (a device
    /// path, or an `iscsi://` URL without its secret).
    fn name(&self) -> &str;

    /// The capacity in bytes.
    fn capacity(&self) -> u64;

    /// The logical block size in bytes (a power of two, at least 512).
    fn block_size(&self) -> u32;

    /// The largest write worth issuing at once (for coalescing).
    fn max_write(&self) -> usize {
        4 << 20
    }

    /// Write `data` at `offset`. The write may still be in flight when
    /// this returns (queued on the connection); a later write or read
    /// that overlaps it must not overtake it, and [`Device::sync`]
    /// waits for it.
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<()>;

    /// Read `buf.len()` bytes at `offset` (after every earlier write
    /// that overlaps them completed).
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<()>;

    /// The cheapest way this device has to make a range read as zeros.
    fn zeroing(&self) -> Zeroing;

    /// Make `offset..offset + len` read as zeros by the device's own
    /// means ([`Device::zeroing`] is `Unmap` or `Offload`).
    fn zero(&mut self, offset: u64, len: u64) -> Result<()>;

    /// Wait for every write in flight and make them durable (`fsync`,
    /// SYNCHRONIZE CACHE). Until this returns, nothing may be reported
    /// as written.
    fn sync(&mut self) -> Result<()>;

    /// After the image is synced and verified: tell the system about it
    /// (re-read the partition table) or leave the session (logout).
    fn close(self: Box<Self>) -> Result<()>;
}
