//! A disk image in a regular file: sparse and atomic.
//!
//! The image is made under a temporary name in the destination's
//! directory (`.NAME.XXXXXX.part`), sized with `set_len` so that every
//! byte not written is a hole, and renamed over `NAME` only by
//! [`Sink::finish`], after `fsync`. Writes of all-zero buffers are
//! skipped: the new file already reads as zeros there, so the image
//! allocates roughly its data, not its size. Dropping an unfinished
//! sink removes the temporary file. [`FileSink::stage`] stops short of
//! the rename, for a build that puts its boot files in place with it.

use std::fs::{self, File};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{Error, Finished, Result, Sink};

/// The mode of a finished image (before the umask-free rename; images
/// are not secret, and the operator may copy them as any user).
const IMAGE_MODE: u32 = 0o644;

/// A sparse image file, atomically put in place.
pub struct FileSink {
    path: PathBuf,
    temp: tempfile::NamedTempFile,
    size: u64,
    /// What has been written: a write of zeros may be skipped only
    /// where nothing was.
    written: super::device::Extents,
}

impl FileSink {
    /// Start an image of `size` bytes that [`Sink::finish`] will put at
    /// `path`. An existing regular file there is replaced only then;
    /// anything else (a directory, a device) is refused: a device is
    /// written only through the device sink, when asked.
    pub fn create(path: &Path, size: u64) -> Result<FileSink> {
        let io = |what, source| Error::Io {
            path: path.to_path_buf(),
            what,
            source,
        };
        Self::check(path)?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".part")
            .tempfile_in(dir)
            .map_err(|e| io("creating a temporary file next to it", e))?;
        temp.as_file()
            .set_len(size)
            .map_err(|e| io("sizing the image", e))?;
        Ok(FileSink {
            path: path.to_path_buf(),
            temp,
            size,
            written: super::device::Extents::default(),
        })
    }

    /// Whether `path` may become an image: nothing there yet, or a
    /// regular file (not a symlink, a directory or a device).
    pub fn check(path: &Path) -> Result<()> {
        match fs::symlink_metadata(path) {
            Ok(m) if !m.file_type().is_file() => Err(Error::NotAFile {
                path: path.to_path_buf(),
            }),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::Io {
                path: path.to_path_buf(),
                what: "inspecting the output",
                source,
            }),
        }
    }

    /// The image file being written (for reading it back before
    /// `finish`).
    pub fn file(&self) -> &File {
        self.temp.as_file()
    }
}

impl Sink for FileSink {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> Result<()> {
        let len = bytes.len() as u64;
        if offset.checked_add(len).map_or(true, |end| end > self.size) {
            return Err(Error::PastEnd {
                offset,
                len,
                size: self.size,
            });
        }
        let end = offset + len;
        if is_zero(bytes) && !self.written.overlaps(offset, end) {
            return Ok(());
        }
        self.written.insert(offset, end);
        self.temp
            .as_file()
            .write_all_at(bytes, offset)
            .map_err(|source| Error::Io {
                path: self.path.clone(),
                what: "writing the image",
                source,
            })
    }

    fn len(&self) -> u64 {
        self.size
    }

    fn finish(self: Box<Self>) -> Result<Finished> {
        (*self).stage()?.commit()
    }
}

/// A finished image still under its temporary name: synced, not yet
/// visible. [`Staged::commit`] renames it into place; dropped, it
/// removes the temporary file. A build commits its image only once its
/// boot files are staged too, so that the two appear together.
#[derive(Debug)]
pub struct Staged {
    path: PathBuf,
    temp: tempfile::NamedTempFile,
    size: u64,
}

impl FileSink {
    /// Everything of [`Sink::finish`] but the rename: the image's mode,
    /// then its data synced.
    pub fn stage(self) -> Result<Staged> {
        let f = self.temp.as_file();
        let io = |what, source| Error::Io {
            path: self.path.clone(),
            what,
            source,
        };
        f.set_permissions(fs::Permissions::from_mode(IMAGE_MODE))
            .map_err(|e| io("setting the image's mode", e))?;
        f.sync_all().map_err(|e| io("syncing the image", e))?;
        Ok(Staged {
            path: self.path,
            temp: self.temp,
            size: self.size,
        })
    }
}

impl Staged {
    /// The image's SHA-256, read back from its temporary file: for when
    /// its writes could not be hashed as they went ([`super::digest`]).
    pub fn read_back(&self) -> Result<[u8; 32]> {
        let f = self.temp.as_file();
        super::digest::read_back(self.size, |at, buf| {
            f.read_exact_at(buf, at).map_err(|source| Error::Io {
                path: self.path.clone(),
                what: "reading the image back",
                source,
            })
        })
    }

    /// Rename the image over its final name, and make that durable.
    pub fn commit(self) -> Result<Finished> {
        let Staged { path, temp, size } = self;
        let io = |what, source| Error::Io {
            path: path.clone(),
            what,
            source,
        };
        temp.persist(&path)
            .map_err(|e| io("renaming the image into place", e.error))?;
        // The rename is durable once the directory is synced.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io("syncing the output directory", e))?;
        }
        Ok(Finished {
            target: path.display().to_string(),
            size,
            device: None,
            notes: Vec::new(),
        })
    }
}

/// `true` when every byte is zero (compared eight at a time).
pub(crate) fn is_zero(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    words.by_ref().all(|w| w == [0u8; 8])
        && words.remainder().iter().all(|b| *b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn sparse_atomic_and_finished_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk.img");
        let size = 64 << 20;
        let mut sink = Box::new(FileSink::create(&path, size).unwrap());
        sink.write_at(1 << 20, b"data").unwrap();
        // Zeros over data are written; zeros over nothing are a hole.
        sink.write_at(3 << 20, b"gone").unwrap();
        sink.write_at(3 << 20, &[0; 4]).unwrap();
        sink.write_at(2 << 20, &vec![0u8; 1 << 20]).unwrap();
        assert!(!path.exists(), "visible before finish");
        let e = sink.write_at(size - 2, b"xyz").unwrap_err();
        assert!(matches!(e, Error::PastEnd { .. }), "{e}");
        sink.finish().unwrap();
        let m = fs::metadata(&path).unwrap();
        assert_eq!(m.len(), size);
        assert!(m.blocks() * 512 < 1 << 20, "not sparse: {}", m.blocks());
        assert_eq!(m.mode() & 0o777, IMAGE_MODE);
        let data = fs::read(&path).unwrap();
        assert_eq!(&data[1 << 20..(1 << 20) + 4], b"data");
        assert_eq!(&data[3 << 20..(3 << 20) + 4], &[0; 4]);
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "temporary files left: {left:?}");
    }

    #[test]
    fn dropped_sink_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk.img");
        fs::write(&path, b"old").unwrap();
        {
            let mut sink = FileSink::create(&path, 4096).unwrap();
            sink.write_at(0, b"new").unwrap();
        }
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn refuses_what_is_not_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let e = FileSink::create(dir.path(), 4096).err().unwrap();
        assert!(matches!(e, Error::NotAFile { .. }), "{e}");
    }

    #[test]
    fn zero_test() {
        assert!(is_zero(&[]));
        assert!(is_zero(&[0; 13]));
        let mut v = vec![0u8; 13];
        v[12] = 1;
        assert!(!is_zero(&v));
        v[12] = 0;
        v[3] = 1;
        assert!(!is_zero(&v));
    }
}
