//! A sink onto a device of fixed capacity addressed in logical blocks:
//! an attached block device ([`super::blockdev`]) or an iSCSI LUN
//! ([`crate::iscsi::Lun`]). [`Device`] is what such a target can do;
//! [`DeviceSink`] turns the image writers' byte-positioned writes into
//! block-aligned, coalesced device writes, and at [`Sink::finish`]
//! makes every byte the image did not write read as zero (unless the
//! operator vouches that it already does), syncs, and reads the data
//! back to verify it.

use std::collections::BTreeMap;

use super::{Error, Finished, Result, Sink};
use crate::progress::Progress;

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
    /// (re-read the partition table) or leave the session (logout). What
    /// the operator should know of it (the kernel still shows the old
    /// partitions, say), one note a line.
    fn close(self: Box<Self>) -> Result<Vec<String>>;
}

impl std::fmt::Display for Zeroing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Zeroing::Unmap => "unmapped",
            Zeroing::Offload => "zeroed by the device",
            Zeroing::Write => "written as zeros",
        })
    }
}

/// A device read as a `Read + Seek` stream (for `inspect`): reads are
/// widened to whole blocks and the last block read is kept.
pub struct DeviceReader<'d> {
    dev: Box<dyn Device + 'd>,
    pos: u64,
    /// Offset and bytes of the blocks last read.
    cache: (u64, Vec<u8>),
}

/// Bytes a [`DeviceReader`] reads at least at a time.
const READ_AHEAD: u64 = 64 << 10;

impl<'d> DeviceReader<'d> {
    /// A reader at the start of `dev`.
    pub fn new(dev: Box<dyn Device + 'd>) -> Self {
        DeviceReader {
            dev,
            pos: 0,
            cache: (0, Vec::new()),
        }
    }
}

impl std::io::Read for DeviceReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let cap = self.dev.capacity();
        if buf.is_empty() || self.pos >= cap {
            return Ok(0);
        }
        let (start, data) = &self.cache;
        let cached = self.pos >= *start && self.pos < start + data.len() as u64;
        if !cached {
            let block = u64::from(self.dev.block_size().max(1));
            let first = self.pos - self.pos % block;
            let want = (buf.len() as u64).max(READ_AHEAD);
            let end = (first + want).div_ceil(block) * block;
            let end = end.min(cap - cap % block).max(first + block);
            let mut data = vec![0u8; (end - first) as usize];
            self.dev
                .read(first, &mut data)
                .map_err(std::io::Error::other)?;
            self.cache = (first, data);
        }
        let (start, data) = &self.cache;
        let from = (self.pos - start) as usize;
        let n = buf.len().min(data.len() - from);
        buf[..n].copy_from_slice(&data[from..from + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for DeviceReader<'_> {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let new = match to {
            std::io::SeekFrom::Start(n) => Some(n),
            std::io::SeekFrom::End(d) => {
                self.dev.capacity().checked_add_signed(d)
            }
            std::io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = new.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "seek out of range",
            )
        })?;
        Ok(self.pos)
    }
}

/// What the operator chose for a device target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// The device already reads zeros wherever the image has none of its
    /// data (a new thin LUN, a discarded disk): skip the holes.
    pub assume_zeroed: bool,
    /// Read every written byte back after the sync and compare.
    pub verify: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            assume_zeroed: false,
            verify: true,
        }
    }
}

/// Zero runs shorter than this inside a data write are written rather
/// than split out: a device takes one large write better than many
/// small ones around short gaps.
const ZERO_UNIT: u64 = 64 << 10;

/// Bytes read at a time when verifying.
const VERIFY_CHUNK: u64 = 4 << 20;

/// Start and end of a byte range.
type Range = (u64, u64);

/// A set of disjoint, merged byte ranges.
#[derive(Debug, Default, Clone)]
pub(crate) struct Extents(BTreeMap<u64, u64>);

impl Extents {
    /// Add `start..end`, merging with what it touches.
    pub(crate) fn insert(&mut self, mut start: u64, mut end: u64) {
        if start >= end {
            return;
        }
        let touching: Vec<Range> = self
            .0
            .range(..=end)
            .rev()
            .take_while(|(_, e)| **e >= start)
            .map(|(s, e)| (*s, *e))
            .collect();
        for (s, e) in touching {
            self.0.remove(&s);
            start = start.min(s);
            end = end.max(e);
        }
        self.0.insert(start, end);
    }

    /// Whether any byte of `start..end` is in the set.
    pub(crate) fn overlaps(&self, start: u64, end: u64) -> bool {
        self.0
            .range(..end)
            .next_back()
            .is_some_and(|(_, e)| *e > start)
    }

    /// The ranges of `0..len` not in the set, in order.
    pub(crate) fn gaps(&self, len: u64) -> Vec<Range> {
        let mut out = Vec::new();
        let mut at = 0;
        for (s, e) in &self.0 {
            if *s >= len {
                break;
            }
            if *s > at {
                out.push((at, *s));
            }
            at = at.max(*e);
        }
        if at < len {
            out.push((at, len));
        }
        out
    }
}

/// What a finished device write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeviceStats {
    /// Bytes of image data written.
    pub data: u64,
    /// Bytes of holes made to read as zeros, and how.
    pub zeroed: u64,
    /// How the holes were zeroed (`None`: skipped, `--assume-zeroed`).
    pub zeroing: Option<Zeroing>,
    /// Bytes read back and found equal.
    pub verified: u64,
    /// Bytes written and then partly overwritten by a later write,
    /// whose first write's checksum therefore could not be checked.
    pub unverified: u64,
}

/// The image sink over a [`Device`]: aligned, coalesced writes; holes
/// zeroed at the end; synced; read back.
pub struct DeviceSink<'p> {
    dev: Box<dyn Device + 'p>,
    len: u64,
    block: u64,
    opts: Options,
    progress: &'p dyn Progress,
    /// A write being gathered: its offset and bytes.
    pending: (u64, Vec<u8>),
    /// Blocks written only in part so far, by block offset; written
    /// whole at the end.
    partial: BTreeMap<u64, Vec<u8>>,
    /// The block-aligned ranges written to the device.
    written: Extents,
    /// Every device write: offset → (length, CRC32C), for read-back.
    checks: BTreeMap<u64, (u64, u32)>,
    stats: DeviceStats,
}

impl<'p> DeviceSink<'p> {
    /// A sink of `len` bytes on `dev`; refuses a device smaller than
    /// the image.
    pub fn new(
        dev: Box<dyn Device + 'p>,
        len: u64,
        opts: Options,
        progress: &'p dyn Progress,
    ) -> Result<Self> {
        if dev.capacity() < len {
            return Err(Error::TooSmall {
                target: dev.name().to_string(),
                capacity: dev.capacity(),
                size: len,
            });
        }
        let block = u64::from(dev.block_size().max(1));
        progress.begin(&format!("write {}", dev.name()), 0, len);
        Ok(DeviceSink {
            dev,
            len,
            block,
            opts,
            progress,
            pending: (0, Vec::new()),
            partial: BTreeMap::new(),
            written: Extents::default(),
            checks: BTreeMap::new(),
            stats: DeviceStats::default(),
        })
    }

    fn down(&self, x: u64) -> u64 {
        x - x % self.block
    }

    fn up(&self, x: u64) -> u64 {
        self.down(x + self.block - 1)
    }

    /// Send the gathered write.
    fn flush_pending(&mut self) -> Result<()> {
        let (start, buf) = std::mem::take(&mut self.pending);
        if buf.is_empty() {
            return Ok(());
        }
        let end = start + buf.len() as u64;
        let (a, b) = (self.up(start), self.down(end));
        if a >= b {
            // Within one block, or across one block boundary.
            return self.merge_partial(start, &buf);
        }
        self.merge_partial(start, &buf[..(a - start) as usize])?;
        self.merge_partial(b, &buf[(b - start) as usize..])?;
        let whole = &buf[(a - start) as usize..(b - start) as usize];
        self.write_aligned(a, whole)
    }

    /// Put `bytes` at `offset` into the partial blocks they touch.
    fn merge_partial(&mut self, offset: u64, bytes: &[u8]) -> Result<()> {
        let mut at = offset;
        let mut rest = bytes;
        while !rest.is_empty() {
            let blk = self.down(at);
            let within = (at - blk) as usize;
            let n = rest.len().min(self.block as usize - within);
            if !self.partial.contains_key(&blk) {
                let mut b = vec![0u8; self.block as usize];
                if self.written.overlaps(blk, blk + self.block) {
                    self.dev.read(blk, &mut b)?;
                }
                self.partial.insert(blk, b);
            }
            if let Some(b) = self.partial.get_mut(&blk) {
                b[within..within + n].copy_from_slice(&rest[..n]);
            }
            at += n as u64;
            rest = &rest[n..];
        }
        Ok(())
    }

    /// Write the block-aligned `data` at `offset`, leaving out runs of
    /// zeros (whole [`ZERO_UNIT`]s) that the hole pass covers, unless
    /// they overwrite something written before.
    fn write_aligned(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let end = offset + data.len() as u64;
        // Whole blocks written now replace any partial copy of them.
        let stale: Vec<u64> =
            self.partial.range(offset..end).map(|(k, _)| *k).collect();
        for k in stale {
            self.partial.remove(&k);
        }
        let keep_zeros = self.written.overlaps(offset, end);
        let mut run: Option<u64> = None;
        let mut at = offset;
        while at < end {
            let unit_end = (self.down_unit(at) + ZERO_UNIT).min(end);
            let slice =
                &data[(at - offset) as usize..(unit_end - offset) as usize];
            let zero = !keep_zeros
                && unit_end - at == ZERO_UNIT
                && super::file::is_zero(slice);
            match (zero, run) {
                (true, Some(s)) => {
                    self.issue(
                        s,
                        &data[(s - offset) as usize..(at - offset) as usize],
                    )?;
                    run = None;
                }
                (false, None) => run = Some(at),
                _ => {}
            }
            at = unit_end;
        }
        if let Some(s) = run {
            self.issue(s, &data[(s - offset) as usize..])?;
        }
        Ok(())
    }

    /// The largest device write: `max_write`, in whole blocks.
    fn chunk(&self) -> u64 {
        (self.dev.max_write() as u64 / self.block).max(1) * self.block
    }

    fn down_unit(&self, x: u64) -> u64 {
        x - x % ZERO_UNIT
    }

    /// One or more device writes of at most `max_write` bytes.
    fn issue(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let max = self.chunk();
        for (i, chunk) in data.chunks(max as usize).enumerate() {
            let at = offset + i as u64 * max;
            let len = chunk.len() as u64;
            self.dev.write(at, chunk).map_err(|e| self.failed(at, e))?;
            self.forget_checks(at, at + len);
            self.checks.insert(at, (len, crc32c::crc32c(chunk)));
            self.written.insert(at, at + len);
            self.stats.data += len;
            self.progress.advance("", len);
        }
        Ok(())
    }

    /// Checks of earlier writes that a new one overwrites no longer
    /// hold: drop them (the new write's check covers its range).
    fn forget_checks(&mut self, start: u64, end: u64) {
        let over: Vec<u64> = self
            .checks
            .range(..end)
            .rev()
            .take_while(|(s, (l, _))| **s + *l > start)
            .map(|(s, _)| *s)
            .collect();
        for s in over {
            if let Some((len, _)) = self.checks.remove(&s) {
                // What of it the new write does not cover goes unchecked.
                let covered = (s + len).min(end).saturating_sub(s.max(start));
                self.stats.unverified += len - covered;
            }
        }
    }

    /// A device error with how far the write got.
    fn failed(&self, offset: u64, source: Error) -> Error {
        Error::Device {
            target: self.dev.name().to_string(),
            offset,
            done: self.stats.data,
            source: Box::new(source),
        }
    }

    /// Make every byte of the image not written read as zeros.
    fn fill_holes(&mut self) -> Result<()> {
        if self.opts.assume_zeroed {
            return Ok(());
        }
        let how = self.dev.zeroing();
        self.stats.zeroing = Some(how);
        let end = self.up(self.len);
        let max = self.chunk();
        let zeros = match how {
            Zeroing::Write => vec![0u8; max as usize],
            _ => Vec::new(),
        };
        for (s, e) in self.written.gaps(end) {
            let mut at = s;
            while at < e {
                crate::cancel::check()?;
                let n = (e - at).min(match how {
                    Zeroing::Write => max,
                    _ => 1 << 30,
                });
                let r = match how {
                    Zeroing::Write => self.dev.write(at, &zeros[..n as usize]),
                    _ => self.dev.zero(at, n),
                };
                r.map_err(|e| self.failed(at, e))?;
                self.stats.zeroed += n;
                self.progress.advance("", n);
                at += n;
            }
        }
        Ok(())
    }

    /// Read back every write and compare its checksum.
    fn verify(&mut self) -> Result<()> {
        let total: u64 = self.checks.values().map(|(l, _)| l).sum();
        self.progress
            .begin(&format!("verify {}", self.dev.name()), 0, total);
        let mut buf = Vec::new();
        let checks: Vec<(u64, u64, u32)> =
            self.checks.iter().map(|(s, (l, c))| (*s, *l, *c)).collect();
        for (start, len, crc) in checks {
            let mut got = 0u32;
            let mut at = start;
            while at < start + len {
                crate::cancel::check()?;
                let n = (start + len - at).min(VERIFY_CHUNK);
                buf.resize(n as usize, 0);
                self.dev.read(at, &mut buf)?;
                got = crc32c::crc32c_append(got, &buf);
                at += n;
            }
            if got != crc {
                return Err(Error::Verify {
                    target: self.dev.name().to_string(),
                    offset: start,
                    len,
                });
            }
            self.stats.verified += len;
            self.progress.advance("", len);
        }
        Ok(())
    }
}

impl Sink for DeviceSink<'_> {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> Result<()> {
        let n = bytes.len() as u64;
        if offset.checked_add(n).map_or(true, |end| end > self.len) {
            return Err(Error::PastEnd {
                offset,
                len: n,
                size: self.len,
            });
        }
        let (start, buf) = &self.pending;
        let contiguous = !buf.is_empty() && start + buf.len() as u64 == offset;
        if !contiguous || buf.len() + bytes.len() > self.dev.max_write() {
            self.flush_pending()?;
            self.pending.0 = offset;
        }
        self.pending.1.extend_from_slice(bytes);
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn finish(mut self: Box<Self>) -> Result<Finished> {
        self.flush_pending()?;
        for (blk, data) in std::mem::take(&mut self.partial) {
            self.issue(blk, &data)?;
        }
        self.fill_holes()?;
        self.dev.sync().map_err(|e| self.failed(self.len, e))?;
        self.progress.end(&format!(
            "{} of data written to {}",
            crate::units::human(self.stats.data),
            self.dev.name()
        ));
        if self.opts.verify {
            self.verify()?;
            self.progress.end(&format!(
                "{} read back and verified",
                crate::units::human(self.stats.verified)
            ));
        }
        let target = self.dev.name().to_string();
        let stats = self.stats;
        let len = self.len;
        // The image is durable and verified: a failure to log out or to
        // re-read the partition table is something to tell, not a
        // failed write.
        let notes = match self.dev.close() {
            Ok(notes) => notes,
            Err(e) => vec![format!("{target}: after the write: {e}")],
        };
        Ok(Finished {
            target,
            size: len,
            device: Some(stats),
            notes,
        })
    }
}

/// A device in memory, for tests: records its writes and zeroings.
#[cfg(test)]
pub(crate) struct MemDevice {
    pub(crate) data: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    pub(crate) block: u32,
    pub(crate) how: Zeroing,
    pub(crate) log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Fail the write that starts at this offset.
    pub(crate) fail_at: Option<u64>,
}

#[cfg(test)]
impl MemDevice {
    pub(crate) fn new(size: usize, block: u32, how: Zeroing) -> Self {
        MemDevice {
            data: std::sync::Arc::new(std::sync::Mutex::new(vec![0xAA; size])),
            block,
            how,
            log: std::sync::Arc::default(),
            fail_at: None,
        }
    }

    fn check(&self, offset: u64, len: u64) {
        let b = u64::from(self.block);
        assert_eq!(offset % b, 0, "unaligned offset {offset}");
        assert_eq!(len % b, 0, "unaligned length {len}");
    }
}

#[cfg(test)]
impl Device for MemDevice {
    fn name(&self) -> &str {
        "mem"
    }
    fn capacity(&self) -> u64 {
        self.data.lock().unwrap().len() as u64
    }
    fn block_size(&self) -> u32 {
        self.block
    }
    fn max_write(&self) -> usize {
        1 << 20
    }
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        self.check(offset, data.len() as u64);
        if self.fail_at == Some(offset) {
            return Err(Error::PastEnd {
                offset,
                len: 0,
                size: 0,
            });
        }
        let o = offset as usize;
        self.data.lock().unwrap()[o..o + data.len()].copy_from_slice(data);
        self.log
            .lock()
            .unwrap()
            .push(format!("w {offset} {}", data.len()));
        Ok(())
    }
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.check(offset, buf.len() as u64);
        let o = offset as usize;
        buf.copy_from_slice(&self.data.lock().unwrap()[o..o + buf.len()]);
        Ok(())
    }
    fn zeroing(&self) -> Zeroing {
        self.how
    }
    fn zero(&mut self, offset: u64, len: u64) -> Result<()> {
        self.check(offset, len);
        let o = offset as usize;
        self.data.lock().unwrap()[o..o + len as usize].fill(0);
        self.log.lock().unwrap().push(format!("z {offset} {len}"));
        Ok(())
    }
    fn sync(&mut self) -> Result<()> {
        self.log.lock().unwrap().push("sync".into());
        Ok(())
    }
    fn close(self: Box<Self>) -> Result<Vec<String>> {
        self.log.lock().unwrap().push("close".into());
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;

    const MIB: usize = 1 << 20;

    /// The image of a sequence of writes, as a file would hold it.
    fn expected(size: usize, writes: &[(u64, Vec<u8>)]) -> Vec<u8> {
        let mut v = vec![0u8; size];
        for (o, b) in writes {
            v[*o as usize..*o as usize + b.len()].copy_from_slice(b);
        }
        v
    }

    fn run(
        dev: MemDevice,
        size: u64,
        opts: Options,
        writes: &[(u64, Vec<u8>)],
    ) -> Result<Finished> {
        let mut sink =
            Box::new(DeviceSink::new(Box::new(dev), size, opts, &Silent)?);
        for (o, b) in writes {
            sink.write_at(*o, b)?;
        }
        sink.finish()
    }

    fn writes() -> Vec<(u64, Vec<u8>)> {
        vec![
            (0, vec![1u8; 512]),                     // an MBR
            (1024, vec![2u8; 1024]),                 // a superblock
            (4096, vec![3u8; 3 * MIB]),              // a long run
            (4096 + 3 * MIB as u64, vec![0u8; MIB]), // zeros
            (5 * MIB as u64 + 100, b"odd".to_vec()), // unaligned
            (5 * MIB as u64 + 512, vec![4u8; 7]),    // same block again
        ]
    }

    #[test]
    fn every_block_size_and_zeroing_gives_the_image() {
        let w = writes();
        let size = 8 * MIB;
        let want = expected(size, &w);
        for block in [512, 4096] {
            for how in [Zeroing::Unmap, Zeroing::Offload, Zeroing::Write] {
                let dev = MemDevice::new(size + 8192, block, how);
                let data = dev.data.clone();
                let log = dev.log.clone();
                let f = run(dev, size as u64, Options::default(), &w).unwrap();
                let got = data.lock().unwrap();
                assert!(got[..size] == want[..], "{block} {how:?}");
                assert!(got[size..].iter().all(|b| *b == 0xAA), "past end");
                let st = f.device.unwrap();
                assert_eq!(st.data + st.zeroed, size as u64, "{block}");
                assert_eq!(st.verified, st.data);
                let log = log.lock().unwrap();
                assert_eq!(&log[log.len() - 2..], ["sync", "close"]);
                let zeros = log.iter().filter(|l| l.starts_with("z ")).count();
                assert_eq!(zeros > 0, how != Zeroing::Write, "{log:?}");
            }
        }
    }

    #[test]
    fn assume_zeroed_writes_only_data() {
        let w = writes();
        let size = 8 * MIB;
        let dev = MemDevice::new(size, 512, Zeroing::Write);
        let data = dev.data.clone();
        let opts = Options {
            assume_zeroed: true,
            verify: true,
        };
        let f = run(dev, size as u64, opts, &w).unwrap();
        let st = f.device.unwrap();
        assert_eq!(st.zeroed, 0);
        assert!(st.data < 4 * MIB as u64, "{st:?}");
        // Holes keep what the device had.
        assert_eq!(data.lock().unwrap()[7 * MIB], 0xAA);
    }

    #[test]
    fn rewriting_data_with_zeros_is_kept() {
        let size = 2 * MIB;
        let w = vec![(0, vec![9u8; MIB]), (0, vec![0u8; MIB])];
        let dev = MemDevice::new(size, 4096, Zeroing::Unmap);
        let data = dev.data.clone();
        let opts = Options {
            assume_zeroed: true,
            verify: true,
        };
        run(dev, size as u64, opts, &w).unwrap();
        assert!(data.lock().unwrap()[..MIB].iter().all(|b| *b == 0));
    }

    #[test]
    fn refusals_and_failures_name_the_target() {
        let dev = MemDevice::new(MIB, 512, Zeroing::Write);
        let e = DeviceSink::new(
            Box::new(dev),
            2 * MIB as u64,
            Options::default(),
            &Silent,
        )
        .err()
        .unwrap();
        assert_eq!(
            e.to_string(),
            "mem: holds 1048576 bytes, too small for the 2097152-byte image"
        );
        let mut dev = MemDevice::new(4 * MIB, 512, Zeroing::Write);
        dev.fail_at = Some(0);
        let log = dev.log.clone();
        let e = run(dev, 4 * MIB as u64, Options::default(), &writes())
            .unwrap_err();
        assert!(
            e.to_string().starts_with(
                "mem: write at byte 0 failed after 0 bytes of data were sent"
            ),
            "{e}"
        );
        assert!(!log.lock().unwrap().iter().any(|l| l == "sync"));
    }

    #[test]
    fn verification_catches_a_device_that_lies() {
        struct Liar(MemDevice);
        impl Device for Liar {
            fn name(&self) -> &str {
                "liar"
            }
            fn capacity(&self) -> u64 {
                self.0.capacity()
            }
            fn block_size(&self) -> u32 {
                512
            }
            fn write(&mut self, o: u64, d: &[u8]) -> Result<()> {
                let mut d = d.to_vec();
                d[0] ^= 1;
                self.0.write(o, &d)
            }
            fn read(&mut self, o: u64, b: &mut [u8]) -> Result<()> {
                self.0.read(o, b)
            }
            fn zeroing(&self) -> Zeroing {
                Zeroing::Write
            }
            fn zero(&mut self, o: u64, l: u64) -> Result<()> {
                self.0.zero(o, l)
            }
            fn sync(&mut self) -> Result<()> {
                Ok(())
            }
            fn close(self: Box<Self>) -> Result<Vec<String>> {
                Ok(Vec::new())
            }
        }
        let dev = Liar(MemDevice::new(MIB, 512, Zeroing::Write));
        let mut sink = Box::new(
            DeviceSink::new(
                Box::new(dev),
                MIB as u64,
                Options::default(),
                &Silent,
            )
            .unwrap(),
        );
        sink.write_at(4096, &[5u8; 4096]).unwrap();
        let e = sink.finish().unwrap_err();
        assert_eq!(
            e.to_string(),
            "liar: verification failed: the 4096 bytes written at byte 4096 \
             read back different"
        );
    }

    #[test]
    fn extents_merge_and_gaps() {
        let mut x = Extents::default();
        x.insert(10, 20);
        x.insert(30, 40);
        x.insert(20, 30);
        x.insert(50, 60);
        assert_eq!(x.gaps(70), vec![(0, 10), (40, 50), (60, 70)]);
        assert!(x.overlaps(39, 45));
        assert!(!x.overlaps(40, 50));
        assert!(x.overlaps(0, 11));
    }
}
