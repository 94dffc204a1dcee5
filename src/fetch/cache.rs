//! The content-addressed download cache.
//!
//! Files are stored under their SHA-256: `ROOT/sha256/ab/abcd…`. A file
//! is downloaded into `ROOT/tmp/` under a unique temporary name, hashed
//! while it is written, and renamed into place only when its size and
//! digest match what the signed index promised. `rename(2)` is atomic, so
//! concurrent lunforge processes sharing one cache never see a partial
//! file, and two processes that fetch the same file just rename identical
//! bytes over each other. A file that fails its check is deleted with its
//! temporary name and never enters the cache; the temporary files of a
//! killed process are removed by the next [`Cache::open`] once they are a
//! day old.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::repo::transport::{self, Checked, Expected};

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
    /// Open (and create) the cache at `root`, removing the temporary
    /// files that killed processes left in `tmp/` more than a day ago
    /// ([`STALE_PART_AGE`]).
    pub fn open(root: &Path) -> Result<Cache> {
        let tmp = root.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(|source| Error::Io {
            path: tmp.clone(),
            source,
        })?;
        remove_stale_parts(&tmp, SystemTime::now())?;
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
        transport::require_relative_path(path)?;
        if let Some(p) = self.lookup(want) {
            return Ok((p, false));
        }
        let url = t.url(path);
        let mut tmp = self.temp_file()?;
        let tmp_path = tmp.path().to_path_buf();
        let found = transport::with_retries(|| {
            let f = tmp.as_file_mut();
            f.set_len(0)
                .and_then(|()| std::io::Seek::rewind(f))
                .map_err(|source| transport::Error::Io {
                    path: tmp_path.clone(),
                    source,
                })?;
            let mut w = Checked::new(BufWriter::new(&mut *f), want.size);
            let found = t
                .get_into(path, &mut w)
                .map_err(|e| w.limit_error(|| url.clone()).unwrap_or(e))?;
            let (_, hash, len) =
                w.finish().map_err(|source| transport::Error::Io {
                    path: tmp_path.clone(),
                    source,
                })?;
            if found {
                transport::check_digest(&url, want, &hash, len)?;
            }
            Ok(found)
        })?;
        if !found {
            return Err(transport::Error::NotFound { url }.into());
        }
        let dest = self.path_of(&want.sha256);
        commit(tmp, &dest)?;
        Ok((dest, true))
    }

    /// Keep `data`, which the caller has already checked against `want`
    /// (an index whose digest was computed as it was read or
    /// decompressed), so that the next run finds it. The digest is not
    /// computed again: only the length is compared, which costs nothing
    /// and catches a caller passing the wrong entry.
    pub fn store_verified(
        &self,
        want: &Expected,
        data: &[u8],
    ) -> Result<PathBuf> {
        let dest = self.path_of(&want.sha256);
        if self.lookup(want).is_some() {
            return Ok(dest);
        }
        let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
        if len != want.size {
            return Err(transport::Error::SizeMismatch {
                url: dest.display().to_string(),
                expected: want.size,
                actual: len,
            }
            .into());
        }
        let mut tmp = self.temp_file()?;
        tmp.write_all(data).map_err(|source| Error::Io {
            path: tmp.path().into(),
            source,
        })?;
        commit(tmp, &dest)?;
        Ok(dest)
    }

    /// A new temporary file in `tmp/`, removed when dropped uncommitted.
    fn temp_file(&self) -> Result<tempfile::NamedTempFile> {
        let dir = self.root.join("tmp");
        tempfile::Builder::new()
            .prefix(PART_PREFIX)
            .tempfile_in(&dir)
            .map_err(|source| Error::Io { path: dir, source })
    }
}

/// Make a complete temporary file the cache entry `dest`: flush it to
/// disk, then rename it into place, so that a crash leaves either no
/// entry or a whole one (a rename can reach the disk before the data it
/// names otherwise).
fn commit(tmp: tempfile::NamedTempFile, dest: &Path) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    tmp.as_file().sync_all().map_err(io(tmp.path()))?;
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    tmp.persist(dest).map_err(|e| Error::Io {
        path: dest.into(),
        source: e.error,
    })?;
    Ok(())
}

/// Prefix of the temporary files in `tmp/`.
const PART_PREFIX: &str = ".part-";

/// Age past which a temporary file in `tmp/` is a leftover of a killed
/// process: a running lunforge writes to its files continuously, so its
/// files are younger (a single download taking a day has failed anyway).
pub const STALE_PART_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// Remove the `.part-*` files of `tmp` last modified before
/// `now - STALE_PART_AGE`. A file that another process removes first is
/// not an error.
fn remove_stale_parts(tmp: &Path, now: SystemTime) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let Some(cutoff) = now.checked_sub(STALE_PART_AGE) else {
        return Ok(());
    };
    for entry in std::fs::read_dir(tmp).map_err(io(tmp))? {
        let entry = entry.map_err(io(tmp))?;
        let path = entry.path();
        let is_part = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(PART_PREFIX));
        if !is_part {
            continue;
        }
        let stale = match entry.metadata() {
            Ok(m) => m.is_file() && m.modified().is_ok_and(|t| t < cutoff),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(source) => return Err(Error::Io { path, source }),
        };
        if stale {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::Io { path, source: e })
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Files in the cache's `tmp/` that a killed process left behind.
pub fn leftovers(root: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(root.join("tmp"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

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
        assert!(
            matches!(
                e,
                Error::Transport(transport::Error::TooLarge { limit: 2, .. })
            ),
            "{e}"
        );
        assert!(leftovers(dir.path()).is_empty());

        let e = cache.fetch(&*t, "../good.deb", &want).unwrap_err();
        assert!(
            matches!(e, Error::Transport(transport::Error::BadPath { .. })),
            "{e}"
        );

        let e = cache.fetch(&*t, "gone.deb", &expected(b"x")).unwrap_err();
        assert!(e.to_string().ends_with("gone.deb: not found on the mirror"));
    }

    #[test]
    fn store_verified_keeps_what_it_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let e = cache.store_verified(&expected(b"a"), b"bb").unwrap_err();
        assert!(
            matches!(
                e,
                Error::Transport(transport::Error::SizeMismatch { .. })
            ),
            "{e}"
        );
        assert!(cache.lookup(&expected(b"a")).is_none());
        let p = cache.store_verified(&expected(b"a"), b"a").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"a");
        assert_eq!(cache.lookup(&expected(b"a")), Some(p));
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn open_removes_day_old_partial_files() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let day_ago = SystemTime::now() - STALE_PART_AGE;
        let minute = Duration::from_secs(60);
        let file = |name: &str, modified: SystemTime| {
            let f = std::fs::File::create(tmp.join(name)).unwrap();
            f.set_modified(modified).unwrap();
        };
        file(".part-killed", day_ago - minute);
        file(".part-running", day_ago + minute);
        file(".part-fresh", SystemTime::now());
        file("not-ours", day_ago - minute);
        std::fs::create_dir(tmp.join(".part-dir")).unwrap();
        Cache::open(dir.path()).unwrap();
        let mut left: Vec<String> = leftovers(dir.path())
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [".part-dir", ".part-fresh", ".part-running", "not-ours"]
        );
    }

    #[test]
    fn error_messages() {
        let e = Error::Io {
            path: "/c/tmp/.part-x".into(),
            source: std::io::Error::other("disk full"),
        };
        assert_eq!(e.to_string(), "cache /c/tmp/.part-x: disk full");
        let e = Error::from(transport::Error::NotFound { url: "u".into() });
        assert_eq!(e.to_string(), "u: not found on the mirror");
    }
}
