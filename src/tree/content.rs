//! File contents: small ones inline, large ones spooled to disk, host
//! files by path, so that a whole suite's contents never sit in memory
//! at once.
//!
//! The spool is one anonymous temporary file per tree. A store reserves
//! its range under a lock and writes it with positioned writes
//! (`pwrite`) outside it; reads are positioned too (`pread`). So
//! packages decompressing in parallel never wait on each other, readers
//! need no lock, and the file disappears with the process.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Contents at most this large are kept in memory.
pub const INLINE_MAX: usize = 16 * 1024;

/// Where a regular file's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Held in memory.
    Inline(Arc<[u8]>),
    /// A range of the tree's spool file.
    Spool {
        /// Start in the spool.
        offset: u64,
        /// Length in bytes.
        len: u64,
    },
    /// A file on the host, read when needed (its size at the time it was
    /// recorded).
    Host {
        /// Host path.
        path: PathBuf,
        /// Size in bytes.
        len: u64,
    },
}

impl Content {
    /// Contents held in memory.
    pub fn inline(bytes: impl Into<Arc<[u8]>>) -> Content {
        Content::Inline(bytes.into())
    }

    /// The size in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Content::Inline(b) => b.len() as u64,
            Content::Spool { len, .. } | Content::Host { len, .. } => *len,
        }
    }

    /// `true` for an empty file.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The spool file of a tree (shared by clones of the tree).
#[derive(Debug, Clone)]
pub struct Spool {
    /// Where the next store goes.
    end: Arc<Mutex<u64>>,
    /// The file, written and read with positioned I/O.
    file: Arc<File>,
    /// The directory it is in, for messages: the file has no name.
    dir: Arc<PathBuf>,
}

/// A write to the spool failed: most often its directory (`TMPDIR`) is
/// full. It travels inside the [`io::Error`] that [`Spool::store`]
/// returns (of the same kind), so that the message names the directory
/// the operator must make room in or point `TMPDIR` elsewhere from,
/// and not only the package member being stored.
#[derive(Debug, thiserror::Error)]
#[error("spool file in {dir} (TMPDIR): {source}")]
pub struct SpoolWriteError {
    /// The spool's directory.
    pub dir: PathBuf,
    /// The write's error.
    pub source: io::Error,
}

impl Spool {
    /// A new, empty spool in the system's temporary directory.
    pub fn new() -> io::Result<Spool> {
        let dir = std::env::temp_dir();
        let file = tempfile::tempfile_in(&dir)?;
        Ok(Spool {
            end: Arc::new(Mutex::new(0)),
            file: Arc::new(file),
            dir: Arc::new(dir),
        })
    }

    /// Store the bytes of `r` (which yields exactly `len` bytes, else an
    /// error): inline when small, spooled otherwise.
    pub fn store(&self, r: &mut dyn Read, len: u64) -> io::Result<Content> {
        if len <= INLINE_MAX as u64 {
            let mut buf = Vec::with_capacity(len as usize);
            r.take(len).read_to_end(&mut buf)?;
            if buf.len() as u64 != len {
                return Err(short(len, buf.len() as u64));
            }
            return Ok(Content::inline(buf));
        }
        // Reserve the range under the lock, write it without: packages
        // decompressing in parallel then share the spool without waiting
        // on each other. A failed write leaves an unused hole.
        let offset = {
            let mut end = self.end.lock().unwrap_or_else(|e| e.into_inner());
            let offset = *end;
            *end = offset.checked_add(len).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "spool full")
            })?;
            offset
        };
        let mut w = AtWriter {
            file: &self.file,
            pos: offset,
            dir: &self.dir,
        };
        let n = io::copy(&mut r.take(len), &mut w)?;
        if n != len {
            return Err(short(len, n));
        }
        Ok(Content::Spool { offset, len })
    }

    /// A reader over `content`.
    pub fn open<'a>(
        &'a self,
        content: &'a Content,
    ) -> io::Result<Box<dyn Read + 'a>> {
        Ok(match content {
            Content::Inline(b) => Box::new(&b[..]),
            Content::Spool { offset, len } => Box::new(AtReader {
                file: &self.file,
                pos: *offset,
                end: offset + len,
            }),
            Content::Host { path, len } => {
                Box::new(File::open(path)?.take(*len))
            }
        })
    }

    /// The whole of `content`.
    pub fn read(&self, content: &Content) -> io::Result<Vec<u8>> {
        let mut v = Vec::with_capacity(content.len() as usize);
        self.open(content)?.read_to_end(&mut v)?;
        Ok(v)
    }
}

fn short(want: u64, got: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("expected {want} bytes, got {got}"),
    )
}

struct AtWriter<'a> {
    file: &'a File,
    pos: u64,
    dir: &'a Path,
}

impl Write for AtWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write_at(buf, self.pos).map_err(|source| {
            let kind = source.kind();
            let dir = self.dir.to_path_buf();
            io::Error::new(kind, SpoolWriteError { dir, source })
        })?;
        self.pos += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct AtReader<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for AtReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end - self.pos;
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(short(self.end - self.pos, 0));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_inline_large_spooled() {
        let s = Spool::new().unwrap();
        let small = s.store(&mut &b"hello"[..], 5).unwrap();
        assert!(matches!(small, Content::Inline(_)));
        let big: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let c1 = s.store(&mut &big[..], big.len() as u64).unwrap();
        let c2 = s.store(&mut &big[..50_000], 50_000).unwrap();
        assert_eq!(
            c1,
            Content::Spool {
                offset: 0,
                len: 100_000
            }
        );
        assert_eq!(
            c2,
            Content::Spool {
                offset: 100_000,
                len: 50_000
            }
        );
        assert_eq!(s.read(&c1).unwrap(), big);
        assert_eq!(s.read(&c2).unwrap(), &big[..50_000]);
        assert_eq!(s.read(&small).unwrap(), b"hello");
    }

    #[test]
    fn write_errors_name_the_spool_directory() {
        let source = io::Error::from_raw_os_error(28);
        let kind = source.kind();
        let e = io::Error::new(
            kind,
            SpoolWriteError {
                dir: "/tmp".into(),
                source,
            },
        );
        assert_eq!(e.kind(), kind);
        assert_eq!(
            e.to_string(),
            "spool file in /tmp (TMPDIR): No space left on device (os \
             error 28)"
        );
    }

    #[test]
    fn short_input_is_an_error() {
        let s = Spool::new().unwrap();
        assert!(s.store(&mut &b"abc"[..], 4).is_err());
        let big = vec![1u8; 20_000];
        assert!(s.store(&mut &big[..], 30_000).is_err());
    }
}
