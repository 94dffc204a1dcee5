//! The sink stage: where the finished disk goes. A [`Sink`] takes
//! positioned writes and is finished explicitly; formats never see it
//! directly but write through a [`Window`], a `Write + Seek` view of one
//! byte range (the whole disk, or one partition), so that a file system
//! writer cannot stray outside its partition.
//!
//! Backends: [`file::FileSink`], a sparse image written under a
//! temporary name and renamed into place by [`Sink::finish`]. A sink
//! dropped without `finish` leaves nothing behind.

use std::io::{self, Seek, SeekFrom, Write};
use std::path::PathBuf;

pub mod blockdev;
pub mod copy;
pub mod device;
pub mod digest;
pub mod file;
pub mod target;

pub use device::{Device, Zeroing};
pub use file::FileSink;

/// Errors of the sink stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The output cannot be created, written or renamed.
    #[error("{path}: {what}: {source}")]
    Io {
        /// The output (its final name).
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The error.
        source: io::Error,
    },
    /// A write reaches past the end of the sink.
    #[error(
        "write of {len} bytes at {offset} goes past the end of the \
         {size}-byte output"
    )]
    PastEnd {
        /// Where the write starts.
        offset: u64,
        /// Its length.
        len: u64,
        /// The sink's size.
        size: u64,
    },
    /// The block device cannot be used or failed.
    #[error(transparent)]
    Block(#[from] blockdev::Error),
    /// The iSCSI target cannot be used or failed.
    #[error(transparent)]
    Iscsi(#[from] crate::iscsi::Error),
    /// The target is smaller than the image.
    #[error(
        "{target}: holds {capacity} bytes, too small for the {size}-byte \
         image"
    )]
    TooSmall {
        /// The target.
        target: String,
        /// Its capacity in bytes.
        capacity: u64,
        /// The image's size in bytes.
        size: u64,
    },
    /// A write to a device failed; nothing is claimed written.
    #[error(
        "{target}: write at byte {offset} failed after {done} bytes of \
         data were sent; the image on it is incomplete: {source}"
    )]
    Device {
        /// The target.
        target: String,
        /// Where the failed write started.
        offset: u64,
        /// Bytes of image data sent before it.
        done: u64,
        /// What failed.
        source: Box<Error>,
    },
    /// Reading back the written data found other bytes.
    #[error(
        "{target}: verification failed: the {len} bytes written at byte \
         {offset} read back different"
    )]
    Verify {
        /// The target.
        target: String,
        /// Where the mismatching write started.
        offset: u64,
        /// Its length.
        len: u64,
    },
    /// The target holds a partition table or a file system.
    #[error("{target} holds {}; pass --force to overwrite", found.join(" and "))]
    NotEmpty {
        /// The target.
        target: String,
        /// What was found there.
        found: Vec<String>,
    },
    /// A CHAP secret was given for a target without a CHAP user.
    #[error(
        "{target}: a CHAP secret was given but no CHAP user: name it in \
         the URL (iscsi://USER@host/...) or the recipe's iscsi.chap_user"
    )]
    NoChapUser {
        /// The target.
        target: String,
    },
    /// A path under `/dev` that names no device.
    #[error("{path}: no such device")]
    NoDevice {
        /// The path.
        path: PathBuf,
    },
    /// The device's logical blocks are not the disk's 512-byte sectors.
    #[error(
        "{target}: logical blocks of {block} bytes; lunforge's disks are \
         laid out in 512-byte sectors, which such a device would not read \
         as partitions"
    )]
    BlockSize {
        /// The target.
        target: String,
        /// Its logical block size.
        block: u32,
    },
    /// The image is not a whole number of 512-byte sectors.
    #[error(
        "{target}: the image's {size} bytes are not a whole number of \
         512-byte sectors"
    )]
    PartialSector {
        /// The target.
        target: String,
        /// The image's size.
        size: u64,
    },
    /// The CHAP secret cannot be had from where it was said to be.
    #[error("CHAP secret {source_name}: {detail}")]
    Secret {
        /// `env:VAR` or `file:PATH`.
        source_name: String,
        /// What is wrong (never the secret).
        detail: String,
    },
    /// `lunforge write` asked to write an image onto itself.
    #[error("{path}: the image and the target are the same file")]
    SameFile {
        /// The image.
        path: PathBuf,
    },
    /// The output path names something that is not a plain file.
    #[error("{path}: exists and is not a regular file; not overwriting it")]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// A signal stopped the stage ([`crate::cancel`]).
    #[error(transparent)]
    Interrupted(#[from] crate::cancel::Interrupted),
}

/// Result of the sink stage.
pub type Result<T> = std::result::Result<T, Error>;

/// A destination for a disk image of a fixed size.
pub trait Sink {
    /// Write `bytes` at `offset`; the range must lie within [`len`].
    ///
    /// [`len`]: Sink::len
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> Result<()>;

    /// The size of the output in bytes.
    fn len(&self) -> u64;

    /// `true` for an output of no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Make the output durable and visible under its final name (a
    /// file), or synced and verified (a device). Until this returns, a
    /// failure leaves no output behind and nothing may be reported as
    /// written.
    fn finish(self: Box<Self>) -> Result<Finished>;
}

/// A boxed sink is a sink, so that a wrapper such as
/// [`digest::Digesting`] takes a sink of a type known or not.
impl<S: Sink + ?Sized> Sink for Box<S> {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> Result<()> {
        (**self).write_at(offset, bytes)
    }

    fn len(&self) -> u64 {
        (**self).len()
    }

    fn finish(self: Box<Self>) -> Result<Finished> {
        S::finish(*self)
    }
}

/// What a finished sink wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// Where: the file's path, the device, the `iscsi://` URL (never
    /// with a secret).
    pub target: String,
    /// The image's size in bytes.
    pub size: u64,
    /// For a device or LUN: data, holes, verification.
    pub device: Option<device::DeviceStats>,
    /// What the operator should know (a partition table the kernel has
    /// not re-read, say).
    pub notes: Vec<String>,
}

/// The range `start..start + len` of a sink as a `Write + Seek` stream
/// whose position 0 is `start`: what the table and file system writers
/// write into. A write past the window's end fails.
pub struct Window<'a> {
    sink: &'a mut dyn Sink,
    start: u64,
    len: u64,
    pos: u64,
}

impl<'a> Window<'a> {
    /// The window `start..start + len` of `sink`; `None` when it does not
    /// lie within the sink.
    pub fn new(sink: &'a mut dyn Sink, start: u64, len: u64) -> Option<Self> {
        let end = start.checked_add(len)?;
        (end <= sink.len()).then_some(Window {
            sink,
            start,
            len,
            pos: 0,
        })
    }

    /// The whole sink.
    pub fn whole(sink: &'a mut dyn Sink) -> Self {
        let len = sink.len();
        Window {
            sink,
            start: 0,
            len,
            pos: 0,
        }
    }
}

impl Write for Window<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len() as u64;
        let end = self.pos.checked_add(n).filter(|e| *e <= self.len);
        if end.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!(
                    "write of {n} bytes at {} passes the end of a {}-byte \
                     partition",
                    self.pos, self.len
                ),
            ));
        }
        self.sink
            .write_at(self.start + self.pos, buf)
            .map_err(io::Error::other)?;
        self.pos += n;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for Window<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let new = new.ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "seek out of range")
        })?;
        self.pos = new;
        Ok(new)
    }
}

/// A sink in memory, for tests.
#[cfg(test)]
pub(crate) struct MemSink(pub Vec<u8>);

#[cfg(test)]
impl Sink for MemSink {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> Result<()> {
        let size = self.0.len() as u64;
        let end = offset
            .checked_add(bytes.len() as u64)
            .filter(|e| *e <= size)
            .ok_or(Error::PastEnd {
                offset,
                len: bytes.len() as u64,
                size,
            })?;
        self.0[offset as usize..end as usize].copy_from_slice(bytes);
        Ok(())
    }

    fn len(&self) -> u64 {
        self.0.len() as u64
    }

    fn finish(self: Box<Self>) -> Result<Finished> {
        Ok(Finished {
            target: "memory".into(),
            size: self.0.len() as u64,
            device: None,
            notes: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_offsets_and_bounds() {
        let mut sink = MemSink(vec![0; 16]);
        {
            let mut w = Window::new(&mut sink, 4, 8).unwrap();
            w.seek(SeekFrom::Start(2)).unwrap();
            w.write_all(b"abc").unwrap();
            w.seek(SeekFrom::End(-1)).unwrap();
            w.write_all(b"z").unwrap();
            let e = w.write_all(b"!").unwrap_err();
            assert!(e.to_string().contains("passes the end"), "{e}");
        }
        assert_eq!(&sink.0[4..12], b"\0\0abc\0\0z");
        assert!(Window::new(&mut sink, 10, 7).is_none());
    }

    #[test]
    fn error_messages() {
        let e = Error::PastEnd {
            offset: 10,
            len: 4,
            size: 12,
        };
        assert_eq!(
            e.to_string(),
            "write of 4 bytes at 10 goes past the end of the 12-byte output"
        );
        let e = Error::NotAFile {
            path: "/dev/null".into(),
        };
        assert_eq!(
            e.to_string(),
            "/dev/null: exists and is not a regular file; not overwriting it"
        );
    }
}
