//! A sparse image in memory, for fatfs to format and fill: the volume
//! is a map of 4 KiB blocks, a block comes into being only when
//! something other than zeros is written to it, and a block that was
//! never written reads as zeros. So formatting a large volume, which
//! zeroes whole FATs, costs no memory, and [`SparseImage::copy_to`]
//! hands the partition only the blocks that hold something.

use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// Bytes of a block of the image.
pub const BLOCK: usize = 4096;

/// The image: a fixed length, a position, and the blocks written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparseImage {
    len: u64,
    pos: u64,
    blocks: BTreeMap<u64, Box<[u8; BLOCK]>>,
}

/// The block size as a `u64`.
const BLOCK_U64: u64 = 4096;

impl SparseImage {
    /// An image of `len` bytes, all zero.
    pub fn new(len: u64) -> SparseImage {
        SparseImage {
            len,
            pos: 0,
            blocks: BTreeMap::new(),
        }
    }

    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// `true` for an image of no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held in memory.
    pub fn held(&self) -> u64 {
        u64::try_from(self.blocks.len())
            .unwrap_or(u64::MAX)
            .saturating_mul(BLOCK_U64)
    }

    /// `buf.len()` bytes at `offset` (zeros where nothing was written).
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = end_of(offset, buf.len())?;
        if end > self.len {
            return Err(past_end(offset, buf.len(), self.len));
        }
        let mut done = 0usize;
        for (block, at, n) in pieces(offset, buf.len()) {
            let out = slice_mut(buf, done, n)?;
            match self.blocks.get(&block) {
                Some(b) => out.copy_from_slice(slice(&b[..], at, n)?),
                None => out.fill(0),
            }
            done = done.saturating_add(n);
        }
        Ok(())
    }

    /// Write `buf` at `offset`; zeros into a block never written leave
    /// it unwritten.
    pub fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        let end = end_of(offset, buf.len())?;
        if end > self.len {
            return Err(past_end(offset, buf.len(), self.len));
        }
        let mut done = 0usize;
        for (block, at, n) in pieces(offset, buf.len()) {
            let src = slice(buf, done, n)?;
            done = done.saturating_add(n);
            let b = match self.blocks.get_mut(&block) {
                Some(b) => b,
                None if src.iter().all(|b| *b == 0) => continue,
                None => self
                    .blocks
                    .entry(block)
                    .or_insert_with(|| Box::new([0; BLOCK])),
            };
            slice_mut(&mut b[..], at, n)?.copy_from_slice(src);
        }
        Ok(())
    }

    /// Write every block that holds a byte other than zero into `out`
    /// (at the same offset), runs of adjacent blocks in one write; the
    /// rest of `out` is left as it is, so it must read as zeros.
    pub fn copy_to<W: Write + Seek>(&self, out: &mut W) -> io::Result<()> {
        /// The most one write gathers.
        const RUN: usize = 1 << 20;
        let mut run: Vec<u8> = Vec::new();
        let mut run_start = 0u64;
        for (block, data) in &self.blocks {
            if data.iter().all(|b| *b == 0) {
                continue;
            }
            let at = block.saturating_mul(BLOCK_U64);
            let run_end = run_start
                .saturating_add(u64::try_from(run.len()).unwrap_or(u64::MAX));
            if !run.is_empty() && (at != run_end || run.len() >= RUN) {
                self.flush_run(out, run_start, &mut run)?;
            }
            if run.is_empty() {
                run_start = at;
            }
            run.extend_from_slice(&data[..]);
        }
        self.flush_run(out, run_start, &mut run)
    }

    /// Write `run` at `start`, cut at the image's end.
    fn flush_run<W: Write + Seek>(
        &self,
        out: &mut W,
        start: u64,
        run: &mut Vec<u8>,
    ) -> io::Result<()> {
        if run.is_empty() {
            return Ok(());
        }
        let room = self.len.saturating_sub(start);
        let n = usize::try_from(room).unwrap_or(usize::MAX).min(run.len());
        out.seek(SeekFrom::Start(start))?;
        out.write_all(slice(run, 0, n)?)?;
        run.clear();
        Ok(())
    }
}

/// The block, offset in it and length of each piece of `len` bytes at
/// `offset`.
fn pieces(
    offset: u64,
    len: usize,
) -> impl Iterator<Item = (u64, usize, usize)> {
    let mut pos = offset;
    let mut left = len;
    std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let block = pos.checked_div(BLOCK_U64)?;
        let at = usize::try_from(pos.checked_rem(BLOCK_U64)?).ok()?;
        let n = BLOCK.checked_sub(at)?.min(left);
        pos = pos.checked_add(u64::try_from(n).ok()?)?;
        left = left.checked_sub(n)?;
        Some((block, at, n))
    })
}

fn end_of(offset: u64, len: usize) -> io::Result<u64> {
    u64::try_from(len)
        .ok()
        .and_then(|l| offset.checked_add(l))
        .ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "offset overflows")
        })
}

fn past_end(offset: u64, len: usize, size: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("{len} bytes at {offset} pass the end of a {size}-byte volume"),
    )
}

fn slice(b: &[u8], at: usize, n: usize) -> io::Result<&[u8]> {
    at.checked_add(n)
        .and_then(|end| b.get(at..end))
        .ok_or_else(|| io::Error::other("piece outside its block"))
}

fn slice_mut(b: &mut [u8], at: usize, n: usize) -> io::Result<&mut [u8]> {
    at.checked_add(n)
        .and_then(|end| b.get_mut(at..end))
        .ok_or_else(|| io::Error::other("piece outside its block"))
}

impl Read for SparseImage {
    /// Reads stop at the image's end, as a file's do.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        let out = slice_mut(buf, 0, n)?;
        self.read_at(self.pos, out)?;
        self.pos = self.pos.saturating_add(u64::try_from(n).unwrap_or(0));
        Ok(n)
    }
}

impl Write for SparseImage {
    /// A write past the end fails: the volume has a fixed size.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_at(self.pos, buf)?;
        self.pos = end_of(self.pos, buf.len())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for SparseImage {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = new.ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "seek out of range")
        })?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::arithmetic_side_effects, clippy::as_conversions)]

    use super::*;
    use std::io::Cursor;

    #[test]
    fn reads_zeros_and_keeps_zero_writes_out_of_memory() {
        let mut s = SparseImage::new(1 << 30);
        s.write_all(&vec![0u8; 1 << 20]).unwrap();
        assert_eq!(s.held(), 0);
        s.seek(SeekFrom::Start(4094)).unwrap();
        s.write_all(b"abcd").unwrap();
        assert_eq!(s.held(), 2 * 4096);
        // Zeros into a block that exists are written.
        s.write_at(4095, &[0]).unwrap();
        let mut b = [9u8; 8];
        s.read_at(4092, &mut b).unwrap();
        assert_eq!(&b, b"\0\0a\0cd\0\0");
        s.seek(SeekFrom::End(-2)).unwrap();
        let mut b = [9u8; 4];
        assert_eq!(s.read(&mut b).unwrap(), 2);
        assert_eq!(b, [0, 0, 9, 9]);
        assert_eq!(s.read(&mut b).unwrap(), 0);
    }

    #[test]
    fn writes_past_the_end_fail() {
        let mut s = SparseImage::new(10);
        s.seek(SeekFrom::Start(8)).unwrap();
        let e = s.write(b"abc").unwrap_err();
        assert!(e.to_string().contains("pass the end of a 10-byte"), "{e}");
        assert!(s.read_at(9, &mut [0; 2]).is_err());
        assert!(s.seek(SeekFrom::Current(-20)).is_err());
    }

    #[test]
    fn copies_only_what_holds_data() {
        let len = 40 * 4096 + 100;
        let mut s = SparseImage::new(len);
        s.write_at(0, b"boot").unwrap();
        s.write_at(4096 * 2 - 1, b"xy").unwrap();
        s.write_at(4096 * 10, &[7; 4096]).unwrap();
        s.write_at(4096 * 10, &[0; 4096]).unwrap();
        s.write_at(len - 3, b"end").unwrap();
        let mut out = Cursor::new(vec![0xEEu8; len as usize]);
        s.copy_to(&mut out).unwrap();
        let out = out.into_inner();
        let mut want = vec![0xEEu8; len as usize];
        let mut put = |at: usize, b: &[u8]| {
            want[at..at + b.len()].copy_from_slice(b);
        };
        put(0, &[0; 3 * 4096]);
        put(0, b"boot");
        put(4096 * 2 - 1, b"xy");
        // The block zeroed again is not copied; the last block is cut at
        // the end.
        put(40 * 4096, &[0; 100]);
        put(len as usize - 3, b"end");
        assert_eq!(out, want);
    }
}
