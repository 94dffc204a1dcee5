//! The SHA-256 of a disk from the writes that make it, holes read as
//! zeros: what `sha256sum` of the image file prints, without reading
//! the image back.
//!
//! A hash runs from the first byte to the last, but a disk is written
//! by offset, not in one stream. Every writer of the disk writes in
//! increasing order (the partitions one after the other, each file
//! system by increasing block, [`crate::filesystems`]), with one
//! exception: a GPT's backup header and entries at the disk's end come
//! with the table, before the partitions. So [`Digesting`] holds each
//! write aside, by offset, until more than [`HELD`] bytes are held,
//! then hashes the lowest (the zeros before it, then its bytes); the
//! backup table stays held until the end. A write below what has been
//! hashed, or over a held one, breaks the stream: the digest is then
//! unknown ([`Digesting::into_parts`] says `None`) and the caller reads
//! the disk back ([`read_back`]).
//!
//! Cost: one pass of SHA-256 over the whole disk, zeros included (no
//! shortcut exists for a run of zeros), and one copy of its data.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::{Finished, Result, Sink};

/// Bytes held aside before the lowest write is hashed: several of the
/// writers' largest writes (4 MiB), far more than a GPT's backup.
const HELD: usize = 32 << 20;

/// Zeros hashed at a time.
static ZEROS: [u8; 1 << 16] = [0; 1 << 16];

/// A sink that passes every write on to `S` and hashes the disk.
pub struct Digesting<S> {
    inner: S,
    stream: Stream,
}

/// The hash of a disk of `size` bytes, written out of order.
struct Stream {
    hasher: Sha256,
    size: u64,
    /// Bytes `0..pos` are hashed.
    pos: u64,
    /// Writes not yet hashed, by offset.
    held: BTreeMap<u64, Vec<u8>>,
    held_bytes: usize,
    /// A write came below `pos`, or over a held one.
    broken: bool,
}

impl<S: Sink> Digesting<S> {
    /// Hash what is written to `inner`.
    pub fn new(inner: S) -> Digesting<S> {
        let size = inner.len();
        Digesting {
            inner,
            stream: Stream {
                hasher: Sha256::new(),
                size,
                pos: 0,
                held: BTreeMap::new(),
                held_bytes: 0,
                broken: false,
            },
        }
    }

    /// The sink, and the SHA-256 of the disk (`None` when the writes
    /// came in an order this could not follow).
    pub fn into_parts(self) -> (S, Option<[u8; 32]>) {
        (self.inner, self.stream.finish())
    }
}

impl<S: Sink> Sink for Digesting<S> {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> Result<()> {
        self.inner.write_at(offset, bytes)?;
        self.stream.add(offset, bytes);
        Ok(())
    }

    fn len(&self) -> u64 {
        self.inner.len()
    }

    /// Finishes the inner sink; the digest is lost (use
    /// [`Digesting::into_parts`]).
    fn finish(self: Box<Self>) -> Result<Finished> {
        Box::new(self.inner).finish()
    }
}

impl Stream {
    fn add(&mut self, offset: u64, bytes: &[u8]) {
        if self.broken || bytes.is_empty() {
            return;
        }
        // In range: the inner sink took the write.
        let end = offset.saturating_add(bytes.len() as u64);
        let over_held =
            self.held.range(..end).next_back().is_some_and(|(at, b)| {
                at.saturating_add(b.len() as u64) > offset
            });
        if offset < self.pos || over_held {
            self.broken = true;
            self.held.clear();
            return;
        }
        self.held.insert(offset, bytes.to_vec());
        self.held_bytes = self.held_bytes.saturating_add(bytes.len());
        while self.held_bytes > HELD {
            self.hash_lowest();
        }
    }

    /// Hash the zeros up to the lowest held write, then the write.
    fn hash_lowest(&mut self) {
        let Some((at, bytes)) = self.held.pop_first() else {
            return;
        };
        self.zeros_to(at);
        self.hasher.update(&bytes);
        self.pos = at.saturating_add(bytes.len() as u64);
        self.held_bytes = self.held_bytes.saturating_sub(bytes.len());
    }

    fn zeros_to(&mut self, to: u64) {
        while self.pos < to {
            let n = usize::try_from(to - self.pos)
                .map_or(ZEROS.len(), |n| n.min(ZEROS.len()));
            self.hasher.update(&ZEROS[..n]);
            self.pos += n as u64;
        }
    }

    fn finish(mut self) -> Option<[u8; 32]> {
        if self.broken {
            return None;
        }
        while !self.held.is_empty() {
            self.hash_lowest();
        }
        self.zeros_to(self.size);
        Some(self.hasher.finalize().into())
    }
}

/// The SHA-256 of `size` bytes that `read(offset, buf)` reads: a disk
/// read back, when its writes could not be followed.
pub fn read_back(
    size: u64,
    mut read: impl FnMut(u64, &mut [u8]) -> Result<()>,
) -> Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 4 << 20];
    let mut at = 0u64;
    while at < size {
        crate::cancel::check()?;
        let n =
            usize::try_from(size - at).map_or(buf.len(), |n| n.min(buf.len()));
        read(at, &mut buf[..n])?;
        hasher.update(&buf[..n]);
        at += n as u64;
    }
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::MemSink;

    /// The digest of `writes` on a disk of `size` bytes, and the SHA-256
    /// of the bytes they leave.
    fn both(
        size: usize,
        writes: &[(u64, &[u8])],
    ) -> (Option<[u8; 32]>, [u8; 32]) {
        let mut d = Digesting::new(MemSink(vec![0; size]));
        for (at, bytes) in writes {
            d.write_at(*at, bytes).unwrap();
        }
        let (sink, digest) = d.into_parts();
        (digest, Sha256::digest(&sink.0).into())
    }

    #[test]
    fn in_order_writes_and_a_table_at_the_end_hash_as_the_disk() {
        let big = vec![7u8; HELD];
        let writes: Vec<(u64, &[u8])> = vec![
            (0, b"mbr"),
            (512, b"primary"),
            // The backup table, early.
            ((3 * HELD - 512) as u64, b"backup"),
            (4096, &big[..]),
            ((HELD + 8192) as u64, &big[..HELD / 2]),
            ((2 * HELD) as u64, b"last"),
        ];
        let (digest, want) = both(3 * HELD, &writes);
        assert_eq!(digest, Some(want));
        // Nothing written: a disk of zeros.
        assert_eq!(
            both(100_000, &[]),
            (
                Some(Sha256::digest([0u8; 100_000]).into()),
                Sha256::digest([0u8; 100_000]).into()
            )
        );
    }

    #[test]
    fn writes_out_of_order_leave_the_digest_unknown() {
        let big = vec![1u8; HELD + 1];
        // Below what was hashed (the big write forced the hash past 0).
        let (digest, _) = both(2 * HELD + 4096, &[(4096, &big), (0, b"late")]);
        assert_eq!(digest, None);
        // Over a held write.
        let (digest, _) = both(4096, &[(100, b"abcdef"), (102, b"zz")]);
        assert_eq!(digest, None);
        // Before a held write, not over it: fine.
        let (digest, want) = both(4096, &[(100, b"abc"), (10, b"zz")]);
        assert_eq!(digest, Some(want));
    }

    #[test]
    fn read_back_reads_every_byte() {
        let disk: Vec<u8> =
            (0..10_000_000u32).map(|i| (i % 251) as u8).collect();
        let got = read_back(disk.len() as u64, |at, buf| {
            let at = at as usize;
            buf.copy_from_slice(&disk[at..at + buf.len()]);
            Ok(())
        })
        .unwrap();
        assert_eq!(got, <[u8; 32]>::from(Sha256::digest(&disk)));
    }
}
