//! How repository files are read: the [`Transport`] seam.
//!
//! A transport reads a path relative to the mirror's base URL. Two
//! backends exist: HTTP(S) through `reqwest` (which honours `http_proxy`,
//! `https_proxy` and `no_proxy` like apt and curl do) and `file://` for
//! local mirrors. Nothing downstream reads bytes whose digest was not
//! checked: [`get_verified`] is the only way the client reads an index,
//! and package files go through [`crate::fetch::cache`], which verifies
//! before a file becomes visible.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// Errors of reading from a mirror; each names the URL.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The mirror URL has an unsupported scheme.
    #[error(
        "unsupported mirror URL {0:?}: expected http://, https:// or file://"
    )]
    BadUrl(String),
    /// A network error after all retries.
    #[error("{url}: {source}")]
    Http {
        /// The full URL.
        url: String,
        /// The client's error.
        source: reqwest::Error,
    },
    /// The connection broke while the body was being read.
    #[error("{url}: reading the response: {source}")]
    Body {
        /// The full URL.
        url: String,
        /// The read error.
        source: std::io::Error,
    },
    /// An HTTP status other than success or 404, after all retries.
    #[error("{url}: HTTP status {status}")]
    Status {
        /// The full URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// A local read or write failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file exists but is not the size the signed index says.
    #[error("{url}: size {actual} does not match the expected {expected}")]
    SizeMismatch {
        /// The full URL.
        url: String,
        /// Size from the signed index.
        expected: u64,
        /// Size received.
        actual: u64,
    },
    /// The file's SHA-256 differs from the signed index.
    #[error("{url}: SHA-256 {actual} does not match the expected {expected}")]
    HashMismatch {
        /// The full URL.
        url: String,
        /// Hex digest from the signed index.
        expected: String,
        /// Hex digest received.
        actual: String,
    },
    /// The file is not on the mirror.
    #[error("{url}: not found on the mirror")]
    NotFound {
        /// The full URL.
        url: String,
    },
}

/// Result of transport operations.
pub type Result<T> = std::result::Result<T, Error>;

/// What a signed index says a file must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Expected {
    /// Exact size in bytes.
    pub size: u64,
    /// SHA-256 digest.
    pub sha256: [u8; 32],
}

/// Reads files of one mirror.
pub trait Transport: Send + Sync {
    /// One attempt at streaming `path` (relative to the mirror base) into
    /// `out`; `Ok(false)` when the mirror does not have it. Callers retry
    /// through [`with_retries`], restarting their output.
    fn get_into(&self, path: &str, out: &mut dyn Write) -> Result<bool>;

    /// The full URL of `path`, for messages.
    fn url(&self, path: &str) -> String;

    /// The whole of `path` (with retries), or `None` when the mirror does
    /// not have it.
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let mut buf = Vec::new();
        let found = with_retries(|| {
            buf.clear();
            self.get_into(path, &mut buf)
        })?;
        Ok(found.then_some(buf))
    }
}

/// Attempts made for one file before giving up.
pub const ATTEMPTS: u32 = 4;
/// Delay before the first retry; it doubles after each one.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);

impl Error {
    /// A failure that may pass when tried again: network errors, server
    /// errors (5xx) and rate limiting.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Http { .. } | Error::Body { .. } => true,
            Error::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// Run `attempt` until it succeeds, fails for good, or [`ATTEMPTS`] are
/// used up, sleeping with exponential backoff in between.
pub fn with_retries<T>(mut attempt: impl FnMut() -> Result<T>) -> Result<T> {
    let mut delay = FIRST_BACKOFF;
    let mut n = 1;
    loop {
        match attempt() {
            Err(e) if e.is_transient() && n < ATTEMPTS => {
                std::thread::sleep(delay);
                delay = delay.saturating_mul(2);
                n += 1;
            }
            other => return other,
        }
    }
}

/// Read `path` and check it against `want`; a missing file is an error.
pub fn get_verified(
    t: &dyn Transport,
    path: &str,
    want: &Expected,
) -> Result<Vec<u8>> {
    let data = t
        .get(path)?
        .ok_or_else(|| Error::NotFound { url: t.url(path) })?;
    check(&t.url(path), &data, want)?;
    Ok(data)
}

/// Check `data` against `want`.
pub fn check(url: &str, data: &[u8], want: &Expected) -> Result<()> {
    let actual = data.len() as u64;
    if actual != want.size {
        return Err(Error::SizeMismatch {
            url: url.into(),
            expected: want.size,
            actual,
        });
    }
    let digest: [u8; 32] = Sha256::digest(data).into();
    if digest != want.sha256 {
        return Err(Error::HashMismatch {
            url: url.into(),
            expected: hex::encode(want.sha256),
            actual: hex::encode(digest),
        });
    }
    Ok(())
}

/// The transport for a mirror base URL.
pub fn for_mirror(base: &str) -> Result<Box<dyn Transport>> {
    let base = base.trim_end_matches('/');
    if let Some(path) = base.strip_prefix("file://") {
        Ok(Box::new(LocalDir {
            base: PathBuf::from(path),
        }))
    } else if base.starts_with("http://") || base.starts_with("https://") {
        Ok(Box::new(Http::new(base)?))
    } else {
        Err(Error::BadUrl(base.into()))
    }
}

/// HTTP(S) through a shared `reqwest` client.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::blocking::Client,
    base: String,
}

impl Http {
    /// A client for `base`.
    pub fn new(base: &str) -> Result<Http> {
        let client = reqwest::blocking::Client::builder()
            .user_agent(concat!("lunforge/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .timeout(None)
            .build()
            .map_err(|source| Error::Http {
                url: base.into(),
                source,
            })?;
        Ok(Http {
            client,
            base: base.trim_end_matches('/').into(),
        })
    }
}

impl Transport for Http {
    fn get_into(&self, path: &str, out: &mut dyn Write) -> Result<bool> {
        let url = self.url(path);
        let http = |source| Error::Http {
            url: url.clone(),
            source,
        };
        let mut resp = self.client.get(&url).send().map_err(http)?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND
            || status == reqwest::StatusCode::GONE
        {
            return Ok(false);
        }
        if !status.is_success() {
            return Err(Error::Status {
                url,
                status: status.as_u16(),
            });
        }
        // Read errors are the network's (worth a retry); write errors
        // are ours (a full disk, a body larger than the index promised)
        // and final.
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match resp.read(&mut buf) {
                Ok(0) => return Ok(true),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                    continue
                }
                Err(source) => {
                    return Err(Error::Body {
                        url: url.clone(),
                        source,
                    })
                }
            };
            out.write_all(&buf[..n]).map_err(|source| Error::Io {
                path: url.clone().into(),
                source,
            })?;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }
}

/// A mirror in a local directory (`file://`).
#[derive(Debug, Clone)]
pub struct LocalDir {
    base: PathBuf,
}

impl Transport for LocalDir {
    fn get_into(&self, path: &str, out: &mut dyn Write) -> Result<bool> {
        let full = self.base.join(path.trim_start_matches('/'));
        let mut f = match std::fs::File::open(&full) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(false)
            }
            Err(source) => return Err(Error::Io { path: full, source }),
        };
        std::io::copy(&mut f, out)
            .map_err(|source| Error::Io { path: full, source })?;
        Ok(true)
    }

    fn url(&self, path: &str) -> String {
        format!(
            "file://{}/{}",
            self.base.display(),
            path.trim_start_matches('/')
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_dir_reads_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), b"hello").unwrap();
        let t =
            for_mirror(&format!("file://{}", dir.path().display())).unwrap();
        assert_eq!(t.get("a").unwrap().as_deref(), Some(&b"hello"[..]));
        assert_eq!(t.get("missing").unwrap(), None);
        let good = Expected {
            size: 5,
            sha256: Sha256::digest(b"hello").into(),
        };
        assert_eq!(get_verified(&*t, "a", &good).unwrap(), b"hello");
        let bad = Expected {
            size: 5,
            sha256: [0; 32],
        };
        assert!(matches!(
            get_verified(&*t, "a", &bad),
            Err(Error::HashMismatch { .. })
        ));
        let short = Expected { size: 6, ..good };
        assert!(matches!(
            get_verified(&*t, "a", &short),
            Err(Error::SizeMismatch {
                expected: 6,
                actual: 5,
                ..
            })
        ));
        assert!(matches!(
            get_verified(&*t, "missing", &good),
            Err(Error::NotFound { .. })
        ));
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            Error::BadUrl("ftp://x".into()).to_string(),
            "unsupported mirror URL \"ftp://x\": expected http://, \
             https:// or file://"
        );
        assert_eq!(
            Error::Status {
                url: "http://m/x".into(),
                status: 503
            }
            .to_string(),
            "http://m/x: HTTP status 503"
        );
        assert_eq!(
            Error::SizeMismatch {
                url: "u".into(),
                expected: 2,
                actual: 1
            }
            .to_string(),
            "u: size 1 does not match the expected 2"
        );
        assert_eq!(
            Error::NotFound { url: "u".into() }.to_string(),
            "u: not found on the mirror"
        );
        let e = Error::Body {
            url: "u".into(),
            source: std::io::Error::other("reset"),
        };
        assert_eq!(e.to_string(), "u: reading the response: reset");
        assert!(e.is_transient());
        assert!(!Error::NotFound { url: "u".into() }.is_transient());
    }
}
