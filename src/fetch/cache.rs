//! The content-addressed download cache.
//!
//! Files are stored under their SHA-256: `ROOT/sha256/ab/abcd…`. A file
//! is downloaded into `ROOT/tmp/` under a unique temporary name, hashed
//! while it is written, and renamed into place only when its size and
//! digest match what the signed index promised. `rename(2)` is atomic, so
//! concurrent lunforge processes sharing one cache never see a partial
//! file, and two processes that fetch the same file just rename identical
//! bytes over each other. A file that fails its check is deleted with its
//! temporary name and never enters the cache.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::repo::transport::{self, Expected};

/// Errors of the cache; each names the path.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file system operation on the cache failed.
    #[error("cache {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The download failed or did not match the index.
    #[error(transparent)]
    Transport(#[from] transport::Error),
}

/// Result of cache operations.
pub type Result<T> = std::result::Result<T, Error>;

/// A content-addressed cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// Open (and create) the cache at `root`.
    pub fn open(root: &Path) -> Result<Cache> {
        let tmp = root.join("tmp");
        std::fs::create_dir_all(&tmp)
            .map_err(|source| Error::Io { path: tmp, source })?;
        Ok(Cache {
            root: root.to_path_buf(),
        })
    }

    /// The default cache: `$XDG_CACHE_HOME/lunforge`, else
    /// `$HOME/.cache/lunforge`, else `./.lunforge-cache`.
    pub fn default_dir() -> PathBuf {
        let non_empty = |v: &str| std::env::var_os(v).filter(|s| !s.is_empty());
        if let Some(x) = non_empty("XDG_CACHE_HOME") {
            PathBuf::from(x).join("lunforge")
        } else if let Some(h) = non_empty("HOME") {
            PathBuf::from(h).join(".cache/lunforge")
        } else {
            PathBuf::from(".lunforge-cache")
        }
    }

    /// The cache directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the file with this digest lives (whether present or not).
    pub fn path_of(&self, sha256: &[u8; 32]) -> PathBuf {
        let hex = hex::encode(sha256);
        self.root.join("sha256").join(&hex[..2]).join(hex)
    }

    /// The cached file matching `want`, if present.
    ///
    /// Only verified files are ever renamed into place, so presence with
    /// the right size is proof enough; the size check catches a file
    /// truncated by something outside lunforge.
    pub fn lookup(&self, want: &Expected) -> Option<PathBuf> {
        let p = self.path_of(&want.sha256);
        match std::fs::metadata(&p) {
            Ok(m) if m.is_file() && m.len() == want.size => Some(p),
            _ => None,
        }
    }

    /// Return the cached file for `want`, downloading `path` from `t`
    /// (with retries) when it is not cached. `Ok((path, downloaded))`.
    pub fn fetch(
        &self,
        t: &dyn transport::Transport,
        path: &str,
        want: &Expected,
    ) -> Result<(PathBuf, bool)> {
        if let Some(p) = self.lookup(want) {
            return Ok((p, false));
        }
        let url = t.url(path);
        let tmp_dir = self.root.join("tmp");
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".part-")
            .tempfile_in(&tmp_dir)
            .map_err(io(&tmp_dir))?;
        let found = transport::with_retries(|| {
            let f = tmp.as_file_mut();
            f.set_len(0)
                .and_then(|()| std::io::Seek::rewind(f))
                .map_err(|source| transport::Error::Io {
                    path: tmp_dir.clone(),
                    source,
                })?;
            let mut w = Checked::new(BufWriter::new(&mut *f), want.size);
            let found = t.get_into(path, &mut w)?;
            let (hash, len) =
                w.finish().map_err(|source| transport::Error::Io {
                    path: tmp_dir.clone(),
                    source,
                })?;
            if found {
                verify(&url, want, hash, len)?;
            }
            Ok(found)
        })?;
        if !found {
            return Err(transport::Error::NotFound { url }.into());
        }
        let dest = self.path_of(&want.sha256);
        let parent = dest.parent().unwrap_or(&self.root).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(io(&parent))?;
        tmp.as_file().sync_all().map_err(io(&dest))?;
        tmp.persist(&dest).map_err(|e| Error::Io {
            path: dest.clone(),
            source: e.error,
        })?;
        Ok((dest, true))
    }

    /// Store bytes already verified against `want` (an index read by the
    /// client), so that the next run finds them.
    pub fn store(&self, want: &Expected, data: &[u8]) -> Result<PathBuf> {
        let dest = self.path_of(&want.sha256);
        if self.lookup(want).is_some() {
            return Ok(dest);
        }
        let tmp_dir = self.root.join("tmp");
        let mut tmp = tempfile::Builder::new()
            .prefix(".part-")
            .tempfile_in(&tmp_dir)
            .map_err(|source| Error::Io {
                path: tmp_dir.clone(),
                source,
            })?;
        let digest: [u8; 32] = Sha256::digest(data).into();
        verify("(index)", want, digest, data.len() as u64)?;
        tmp.write_all(data).map_err(|source| Error::Io {
            path: dest.clone(),
            source,
        })?;
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|source| Error::Io {
                path: parent.into(),
                source,
            })?;
        }
        tmp.persist(&dest).map_err(|e| Error::Io {
            path: dest.clone(),
            source: e.error,
        })?;
        Ok(dest)
    }
}

fn verify(
    url: &str,
    want: &Expected,
    hash: [u8; 32],
    len: u64,
) -> transport::Result<()> {
    if len != want.size {
        return Err(transport::Error::SizeMismatch {
            url: url.into(),
            expected: want.size,
            actual: len,
        });
    }
    if hash != want.sha256 {
        return Err(transport::Error::HashMismatch {
            url: url.into(),
            expected: hex::encode(want.sha256),
            actual: hex::encode(hash),
        });
    }
    Ok(())
}

/// A writer that hashes and counts, and refuses to grow past the expected
/// size (a hostile or broken server cannot fill the disk).
struct Checked<W: Write> {
    inner: W,
    hasher: Sha256,
    len: u64,
    limit: u64,
}

impl<W: Write> Checked<W> {
    fn new(inner: W, limit: u64) -> Self {
        Checked {
            inner,
            hasher: Sha256::new(),
            len: 0,
            limit,
        }
    }

    fn finish(mut self) -> std::io::Result<([u8; 32], u64)> {
        self.inner.flush()?;
        Ok((self.hasher.finalize().into(), self.len))
    }
}

impl<W: Write> Write for Checked<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.len += n as u64;
        if self.len > self.limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("more than the expected {} bytes", self.limit),
            ));
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Files in the cache's `tmp/` that a killed process left behind.
pub fn leftovers(root: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(root.join("tmp"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::transport::for_mirror;

    fn expected(data: &[u8]) -> Expected {
        Expected {
            size: data.len() as u64,
            sha256: Sha256::digest(data).into(),
        }
    }

    #[test]
    fn verified_files_enter_and_bad_ones_do_not() {
        let mirror = tempfile::tempdir().unwrap();
        std::fs::write(mirror.path().join("good.deb"), b"good").unwrap();
        std::fs::write(mirror.path().join("bad.deb"), b"evil").unwrap();
        let t =
            for_mirror(&format!("file://{}", mirror.path().display())).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let want = expected(b"good");
        let (p, downloaded) = cache.fetch(&*t, "good.deb", &want).unwrap();
        assert!(downloaded);
        assert_eq!(std::fs::read(&p).unwrap(), b"good");
        let (_, downloaded) = cache.fetch(&*t, "good.deb", &want).unwrap();
        assert!(!downloaded, "second fetch is served from the cache");

        let want_bad = expected(b"nice");
        let e = cache.fetch(&*t, "bad.deb", &want_bad).unwrap_err();
        assert!(matches!(
            e,
            Error::Transport(transport::Error::HashMismatch { .. })
        ));
        assert!(cache.lookup(&want_bad).is_none());
        assert!(!cache.path_of(&want_bad.sha256).exists());
        assert!(leftovers(dir.path()).is_empty(), "no partial file left");

        let long = Expected { size: 2, ..want };
        let e = cache.fetch(&*t, "good.deb", &long).unwrap_err();
        assert!(e.to_string().contains("expected"), "{e}");
        assert!(leftovers(dir.path()).is_empty());

        let e = cache.fetch(&*t, "gone.deb", &expected(b"x")).unwrap_err();
        assert!(e.to_string().ends_with("gone.deb: not found on the mirror"));
    }

    #[test]
    fn store_checks_before_keeping() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        assert!(cache.store(&expected(b"a"), b"b").is_err());
        assert!(cache.lookup(&expected(b"a")).is_none());
        let p = cache.store(&expected(b"a"), b"a").unwrap();
        assert_eq!(std::fs::read(p).unwrap(), b"a");
    }
}
