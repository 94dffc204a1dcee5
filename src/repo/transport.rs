//! How repository files are read: the [`Transport`] seam.
//!
//! A transport reads a path relative to the mirror's base URL. Two
//! backends exist: HTTP(S) through `reqwest` (which honours `http_proxy`,
//! `https_proxy` and `no_proxy` like apt and curl do) and `file://` for
//! local mirrors. Nothing downstream reads bytes whose digest was not
//! checked: [`get_verified`] (and [`find_verified`]) is the only way the
//! client reads an index, and package files go through
//! [`crate::fetch::cache`], which verifies before a file becomes visible.
//! Both stream through one verifier, [`Checked`], which also stops a body
//! at the size the signed index gives; the only files read before
//! anything signed vouches for their size (`InRelease`, `Release`,
//! `Release.gpg`) are capped at [`MAX_RELEASE_SIZE`]. Every path is
//! checked by [`check_relative_path`] before it is requested.
//! [`Traced`] wraps either backend to report each request (`-vv`).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use sha2::{Digest, Sha256};

mod traced;

pub use self::traced::Traced;

/// Errors of reading from a mirror; each names the URL.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The mirror URL has an unsupported scheme, or no host or path.
    #[error(
        "unsupported mirror URL {0}: expected http://HOST…, https://HOST…, \
         file:///PATH or file:/PATH"
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
    /// The mirror sent nothing for the stall timeout: no connection, no
    /// answer to the request, or no more of the body. Transient: retried,
    /// then the last attempt's.
    #[error(
        "{url}: no answer from the mirror for {} s (the stall timeout; \
         LUNFORGE_STALL_TIMEOUT sets it)",
        after.as_secs_f64()
    )]
    Stalled {
        /// The full URL.
        url: String,
        /// How long lunforge waited.
        after: Duration,
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
    /// The file is larger than it may be: than its signed size, or than
    /// the cap on files read before anything vouches for their size
    /// ([`MAX_RELEASE_SIZE`]). Reading stopped there.
    #[error("{url}: larger than the {limit} bytes it may have")]
    TooLarge {
        /// The full URL.
        url: String,
        /// The most it may have.
        limit: u64,
    },
    /// A signal stopped the download ([`crate::cancel`]).
    #[error(transparent)]
    Interrupted(#[from] crate::cancel::Interrupted),
    /// A path from an index or a lock that is not a plain path below the
    /// mirror base ([`check_relative_path`]); nothing was requested.
    #[error("refused path {path} (relative to the mirror): {reason}")]
    BadPath {
        /// The path, with control characters escaped.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// [`STALL_TIMEOUT_VAR`] is set to something other than a positive
    /// number of seconds.
    #[error(
        "environment variable LUNFORGE_STALL_TIMEOUT={value}: expected a \
         positive number of seconds"
    )]
    BadStallTimeout {
        /// The value, with control characters escaped.
        value: String,
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
    /// not have it. More than `max` bytes is [`Error::TooLarge`]: this
    /// reads files whose size nothing signed yet, so it must not let a
    /// mirror fill the memory.
    fn get(&self, path: &str, max: u64) -> Result<Option<Vec<u8>>> {
        Ok(read_checked(self, path, max, 64 * 1024)?.map(|(data, ..)| data))
    }
}

/// The most an `InRelease`, `Release` or `Release.gpg` may have: 16 MiB.
/// They are read before anything vouches for their size, so a hostile
/// mirror could otherwise send an endless body into memory. apt caps them
/// at 10 MB (`Acquire::MaxReleaseFileSize`); trixie's `InRelease` is
/// about 150 KiB, so neither cap is near a real file.
pub const MAX_RELEASE_SIZE: u64 = 16 << 20;

/// A file read into memory: its bytes, SHA-256 and length.
type Received = (Vec<u8>, [u8; 32], u64);

/// Read `path` into memory through a [`Checked`] writer of `limit` bytes,
/// with retries: the bytes, their SHA-256 and their length, or `None`
/// when the mirror does not have the file. `capacity` is the buffer to
/// start with.
fn read_checked<T: Transport + ?Sized>(
    t: &T,
    path: &str,
    limit: u64,
    capacity: usize,
) -> Result<Option<Received>> {
    require_relative_path(path)?;
    let mut out = None;
    let found = with_retries(|| {
        let mut w = Checked::new(Vec::with_capacity(capacity), limit);
        let found = t
            .get_into(path, &mut w)
            .map_err(|e| w.limit_error(|| t.url(path)).unwrap_or(e))?;
        // OK: flushing a Vec cannot fail.
        out = found.then(|| w.finish()).transpose().map_err(|source| {
            Error::Io {
                path: t.url(path).into(),
                source,
            }
        })?;
        Ok(found)
    })?;
    Ok(if found { out } else { None })
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
            Error::Http { .. } | Error::Body { .. } | Error::Stalled { .. } => {
                true
            }
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
                crate::cancel::sleep(delay)?;
                delay = delay.saturating_mul(2);
                n += 1;
            }
            other => return other,
        }
    }
}

/// Refuse a path that is not a plain path below the mirror base, before
/// it reaches a URL or a file name: empty; absolute; with an empty, `.`
/// or `..` segment; or with `\\`, `%`, `?`, `#` or a control character.
/// A path from a signed index or a lock is joined to the mirror URL (or
/// directory) as it is, so each of these could make the request leave
/// the pool: `..` directly, `%2e%2e` once a server decodes it, `\\` on
/// servers that treat it as `/`, `?` and `#` by cutting the path short.
/// Debian's pool and `dists/` paths never contain any of them.
pub fn check_relative_path(
    path: &str,
) -> std::result::Result<(), &'static str> {
    if path.is_empty() {
        return Err("it is empty");
    }
    if path.starts_with('/') {
        return Err("it starts with '/'");
    }
    if path.contains(['\\', '%', '?', '#']) {
        return Err("it contains '\\', '%', '?' or '#'");
    }
    if path.chars().any(char::is_control) {
        return Err("it contains a control character");
    }
    for segment in path.split('/') {
        match segment {
            "" => return Err("it has an empty segment"),
            "." | ".." => return Err("it has a '.' or '..' segment"),
            _ => {}
        }
    }
    Ok(())
}

/// [`check_relative_path`] as a transport error.
pub fn require_relative_path(path: &str) -> Result<()> {
    check_relative_path(path).map_err(|reason| Error::BadPath {
        path: path.escape_debug().to_string(),
        reason,
    })
}

/// Read `path` and check it against `want`; a missing file is an error.
pub fn get_verified(
    t: &dyn Transport,
    path: &str,
    want: &Expected,
) -> Result<Vec<u8>> {
    find_verified(t, path, want)?
        .ok_or_else(|| Error::NotFound { url: t.url(path) })
}

/// Read `path` and check it against `want`, or `None` when the mirror
/// does not have it. The body streams through a [`Checked`] writer
/// limited to `want.size`, so an oversized file is refused as soon as it
/// passes that size, not after it was read whole.
pub fn find_verified(
    t: &dyn Transport,
    path: &str,
    want: &Expected,
) -> Result<Option<Vec<u8>>> {
    // Start with the whole signed size, up to 256 MiB.
    let capacity = usize::try_from(want.size.min(256 << 20)).unwrap_or(0);
    let Some((data, sha256, len)) = read_checked(t, path, want.size, capacity)?
    else {
        return Ok(None);
    };
    check_digest(&t.url(path), want, &sha256, len)?;
    Ok(Some(data))
}

/// Compare what was received (its SHA-256 and length, as a [`Checked`]
/// writer counted them) with `want`: the one digest check of the crate.
pub fn check_digest(
    url: &str,
    want: &Expected,
    sha256: &[u8; 32],
    len: u64,
) -> Result<()> {
    if len != want.size {
        return Err(Error::SizeMismatch {
            url: url.into(),
            expected: want.size,
            actual: len,
        });
    }
    if *sha256 != want.sha256 {
        return Err(Error::HashMismatch {
            url: url.into(),
            expected: hex::encode(want.sha256),
            actual: hex::encode(sha256),
        });
    }
    Ok(())
}

/// A writer that hashes and counts what passes through it, and refuses
/// to grow past `limit` bytes (a hostile or broken server cannot fill the
/// disk or the memory). Every download goes through one: indexes and
/// Release files into memory ([`find_verified`], [`Transport::get`]),
/// packages into the cache ([`crate::fetch::cache`]), and decompressed
/// indexes.
#[derive(Debug)]
pub struct Checked<W: Write> {
    inner: W,
    hasher: Sha256,
    len: u64,
    limit: u64,
    exceeded: bool,
}

impl<W: Write> Checked<W> {
    /// Wrap `inner`, accepting at most `limit` bytes.
    pub fn new(inner: W, limit: u64) -> Self {
        Checked {
            inner,
            hasher: Sha256::new(),
            len: 0,
            limit,
            exceeded: false,
        }
    }

    /// [`Error::TooLarge`] for `url` if a write was refused for passing
    /// the limit: the real cause behind the I/O error that the writer's
    /// user saw.
    pub fn limit_error(&self, url: impl FnOnce() -> String) -> Option<Error> {
        self.exceeded.then(|| Error::TooLarge {
            url: url(),
            limit: self.limit,
        })
    }

    /// Whether a write was refused for passing the limit.
    pub fn exceeded(&self) -> bool {
        self.exceeded
    }

    /// The limit.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Flush, and return the inner writer, the SHA-256 and the length of
    /// everything written.
    pub fn finish(mut self) -> std::io::Result<(W, [u8; 32], u64)> {
        self.inner.flush()?;
        Ok((self.inner, self.hasher.finalize().into(), self.len))
    }
}

impl<W: Write> Write for Checked<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // `len <= limit` always holds: nothing past it is written.
        let room = self.limit.saturating_sub(self.len);
        if u64::try_from(buf.len()).map_or(true, |n| n > room) {
            self.exceeded = true;
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("more than the {} bytes expected", self.limit),
            ));
        }
        let n = self.inner.write(buf)?;
        let written = buf.get(..n).unwrap_or(buf);
        self.hasher.update(written);
        // Cannot overflow: n <= room = limit - len.
        self.len = self.len.saturating_add(u64::try_from(n).unwrap_or(0));
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Check a mirror base URL and normalise it, as the one place that
/// knows which mirrors lunforge can read: `http://HOST…` and
/// `https://HOST…` as they are, and a local directory as
/// `file:///PATH`, also written `file:/PATH` (apt's form) or
/// `file://localhost/PATH`. Trailing slashes are removed. Anything else
/// is refused, including apt's `mirror+http://`, `tor+http://` and
/// `cdrom:` methods.
pub fn parse_mirror(url: &str) -> Result<String> {
    let bad = || Error::BadUrl(url.into());
    let base = url.trim_end_matches('/');
    for scheme in ["http://", "https://"] {
        if let Some(rest) = base.strip_prefix(scheme) {
            if rest.is_empty() || rest.starts_with('/') {
                return Err(bad());
            }
            return Ok(base.into());
        }
    }
    let rest = base.strip_prefix("file:").ok_or_else(bad)?;
    let path = match rest.strip_prefix("//") {
        Some(after) => after.strip_prefix("localhost").unwrap_or(after),
        None => rest,
    };
    if !path.starts_with('/') || path.starts_with("//") {
        return Err(bad());
    }
    Ok(format!("file://{path}"))
}

/// The transport for a mirror base URL (see [`parse_mirror`]).
pub fn for_mirror(base: &str) -> Result<Box<dyn Transport>> {
    let base = parse_mirror(base)?;
    if let Some(path) = base.strip_prefix("file://") {
        Ok(Box::new(LocalDir {
            base: PathBuf::from(path),
        }))
    } else {
        Ok(Box::new(Http::new(&base)?))
    }
}

/// How long a mirror may keep lunforge waiting: for the response to a
/// request, and then for each next piece of its body. reqwest's blocking
/// client applies its `timeout` to `send` and to every `read` of the
/// body, not to a whole download, so a slow but moving download of any
/// size goes on while a mirror that accepts a connection and then says
/// nothing is an error (retried, then naming the URL) within a minute,
/// not a silent wait. apt's `Acquire::http::Timeout` is of this kind.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The connect phase's own bound.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The environment variable that replaces [`STALL_TIMEOUT`]: a number of
/// seconds (`0.5` is allowed). The tests of a stalling mirror set it so
/// that each attempt gives up within a second; an operator on a slow
/// link may raise it.
pub const STALL_TIMEOUT_VAR: &str = "LUNFORGE_STALL_TIMEOUT";

/// The stall timeout: [`STALL_TIMEOUT_VAR`] when set, else
/// [`STALL_TIMEOUT`]. A value that is not a positive number of seconds
/// is an error naming the variable, not a silent default.
pub fn stall_timeout() -> Result<Duration> {
    let Some(value) = std::env::var_os(STALL_TIMEOUT_VAR) else {
        return Ok(STALL_TIMEOUT);
    };
    parse_stall_timeout(&value.to_string_lossy())
}

/// A [`STALL_TIMEOUT_VAR`] value as a duration.
fn parse_stall_timeout(value: &str) -> Result<Duration> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| Error::BadStallTimeout {
            value: value.escape_debug().to_string(),
        })
}

/// HTTP(S) through a shared `reqwest` client.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::blocking::Client,
    base: String,
    /// The stall timeout, for messages.
    stall: Duration,
    /// The connect timeout, for messages.
    connect: Duration,
}

impl Http {
    /// A client for `base`, with the [`stall_timeout`].
    pub fn new(base: &str) -> Result<Http> {
        Http::with_stall_timeout(base, stall_timeout()?)
    }

    /// A client for `base` that gives up on a mirror silent for `stall`.
    pub fn with_stall_timeout(base: &str, stall: Duration) -> Result<Http> {
        let connect = CONNECT_TIMEOUT.min(stall);
        let client = reqwest::blocking::Client::builder()
            .user_agent(concat!("lunforge/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(connect)
            .timeout(stall)
            .build()
            .map_err(|source| Error::Http {
                url: base.into(),
                source,
            })?;
        Ok(Http {
            client,
            base: base.trim_end_matches('/').into(),
            stall,
            connect,
        })
    }

    /// [`Error::Stalled`] when `e` is a timeout of the client, with the
    /// timeout that ran out.
    fn stalled(&self, url: &str, e: &reqwest::Error) -> Option<Error> {
        e.is_timeout().then(|| Error::Stalled {
            url: url.into(),
            after: if e.is_connect() {
                self.connect
            } else {
                self.stall
            },
        })
    }
}

impl Transport for Http {
    /// The request and the body's reads run on a thread of their own
    /// that hands the body over in pieces: a blocking read cannot be
    /// interrupted, and a mirror that goes quiet would otherwise hold a
    /// SIGINT or SIGTERM for up to [`STALL_TIMEOUT`]. On a signal this
    /// returns at once; the thread ends at its next piece (or stall
    /// timeout), and it owns nothing to clean up.
    fn get_into(&self, path: &str, out: &mut dyn Write) -> Result<bool> {
        let url = self.url(path);
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        let http = self.clone();
        let from = url.clone();
        std::thread::spawn(move || http.download(&from, &tx));
        // Write errors are ours (a full disk, a body larger than the
        // index promised) and final.
        loop {
            match crate::cancel::recv(&rx)? {
                Some(Ok(Piece::Data(data))) => {
                    out.write_all(&data).map_err(|source| Error::Io {
                        path: url.clone().into(),
                        source,
                    })?;
                }
                Some(Ok(Piece::End)) => return Ok(true),
                Some(Ok(Piece::NotFound)) => return Ok(false),
                Some(Err(e)) => return Err(e),
                // The thread always ends with a piece or an error.
                None => {
                    return Err(Error::Body {
                        url,
                        source: std::io::Error::other("download ended early"),
                    })
                }
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }
}

/// What the download thread of [`Http`] hands over.
enum Piece {
    /// The mirror does not have the file (404 or 410).
    NotFound,
    /// The next bytes of the body.
    Data(Vec<u8>),
    /// The body is complete.
    End,
}

impl Http {
    /// One attempt at `url`, its body sent through `tx` piece by piece.
    /// Read errors are the network's (worth a retry); a timeout of the
    /// client is [`Error::Stalled`]. Stops when the receiver is gone
    /// (the download was interrupted).
    fn download(
        &self,
        url: &str,
        tx: &std::sync::mpsc::SyncSender<Result<Piece>>,
    ) {
        let http = |source| {
            self.stalled(url, &source).unwrap_or(Error::Http {
                url: url.into(),
                source,
            })
        };
        let mut resp = match self.client.get(url).send() {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.send(Err(http(e)));
                return;
            }
        };
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND
            || status == reqwest::StatusCode::GONE
        {
            let _ = tx.send(Ok(Piece::NotFound));
            return;
        }
        if !status.is_success() {
            let _ = tx.send(Err(Error::Status {
                url: url.into(),
                status: status.as_u16(),
            }));
            return;
        }
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let piece = match resp.read(&mut buf) {
                Ok(0) => Ok(Piece::End),
                Ok(n) => Ok(Piece::Data(buf[..n].to_vec())),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                    continue
                }
                Err(source) => Err(self.body_error(url, source)),
            };
            let last = !matches!(piece, Ok(Piece::Data(_)));
            if tx.send(piece).is_err() || last {
                return;
            }
        }
    }

    /// A read error of the body: [`Error::Stalled`] when the client's
    /// own timeout (which travels inside the I/O error) ran out.
    fn body_error(&self, url: &str, source: std::io::Error) -> Error {
        let timeout = source
            .get_ref()
            .and_then(|e| e.downcast_ref::<reqwest::Error>())
            .and_then(|e| self.stalled(url, e));
        timeout.unwrap_or(Error::Body {
            url: url.into(),
            source,
        })
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

    /// A mirror on 127.0.0.1 that accepts every connection, reads the
    /// request, writes `reply` and then holds the connection open
    /// without a word more; its URL and a count of connections.
    fn stalling_mirror(
        reply: &'static [u8],
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicU32>) {
        use std::io::Read as _;
        use std::sync::atomic::{AtomicU32, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/debian", listener.local_addr().unwrap());
        let count = std::sync::Arc::new(AtomicU32::new(0));
        let seen = count.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                seen.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                let _ = conn.write_all(reply);
                held.push(conn);
            }
        });
        (url, count)
    }

    /// A mirror that accepts and never answers is an error naming the
    /// URL after every attempt, not a silent wait.
    #[test]
    fn a_silent_mirror_times_out_and_is_named() {
        let (url, count) = stalling_mirror(b"");
        let http =
            Http::with_stall_timeout(&url, Duration::from_millis(300)).unwrap();
        let begin = std::time::Instant::now();
        let err = with_retries(|| {
            http.get_into("dists/trixie/InRelease", &mut Vec::new())
        })
        .unwrap_err();
        assert!(
            matches!(err, Error::Stalled { after, .. }
                if after == Duration::from_millis(300)),
            "{err:?}"
        );
        let msg = err.to_string();
        assert_eq!(
            msg,
            format!(
                "{url}/dists/trixie/InRelease: no answer from the mirror \
                 for 0.3 s (the stall timeout; LUNFORGE_STALL_TIMEOUT sets it)"
            )
        );
        let attempts = count.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(attempts, ATTEMPTS, "{msg}");
        assert!(begin.elapsed() < Duration::from_secs(20), "{msg}");
    }

    /// A body that stops coming is a read error naming the URL; what
    /// came before it is only the attempt's.
    #[test]
    fn a_body_that_stalls_times_out() {
        let (url, _) = stalling_mirror(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf a body",
        );
        let http =
            Http::with_stall_timeout(&url, Duration::from_millis(300)).unwrap();
        let mut out = Vec::new();
        let err = http.get_into("pool/main/a.deb", &mut out).unwrap_err();
        assert!(matches!(err, Error::Stalled { .. }), "{err:?}");
        assert!(err.is_transient());
        assert!(
            err.to_string()
                .starts_with(&format!("{url}/pool/main/a.deb: no answer")),
            "{err}"
        );
        assert_eq!(out, b"half a body");
    }

    #[test]
    fn stall_timeouts() {
        for (value, want) in [
            ("1", Duration::from_secs(1)),
            ("0.5", Duration::from_millis(500)),
            (" 90 ", Duration::from_secs(90)),
        ] {
            assert_eq!(parse_stall_timeout(value).unwrap(), want, "{value}");
        }
        for bad in ["", "0", "-1", "abc", "1s", "inf", "NaN", "1e300"] {
            assert!(
                matches!(
                    parse_stall_timeout(bad),
                    Err(Error::BadStallTimeout { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn local_dir_reads_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), b"hello").unwrap();
        let t =
            for_mirror(&format!("file://{}", dir.path().display())).unwrap();
        assert_eq!(t.get("a", 5).unwrap().as_deref(), Some(&b"hello"[..]));
        assert_eq!(t.get("missing", 5).unwrap(), None);
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
    fn reads_stop_at_their_limit() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), b"hello").unwrap();
        // A 1 GiB file (sparse): refused after the first chunk, not read.
        let huge = std::fs::File::create(dir.path().join("huge")).unwrap();
        huge.set_len(1 << 30).unwrap();
        let t =
            for_mirror(&format!("file://{}", dir.path().display())).unwrap();
        let too_large = |r: Result<Option<Vec<u8>>>, want: u64| match r {
            Err(Error::TooLarge { url, limit }) => {
                assert_eq!(limit, want);
                url
            }
            other => panic!("{other:?}"),
        };
        let url = too_large(t.get("a", 4), 4);
        assert_eq!(url, format!("file://{}/a", dir.path().display()));
        too_large(t.get("huge", MAX_RELEASE_SIZE), MAX_RELEASE_SIZE);
        let want = Expected {
            size: 4,
            sha256: Sha256::digest(b"hell").into(),
        };
        too_large(find_verified(&*t, "a", &want), 4);
        let started = std::time::Instant::now();
        too_large(find_verified(&*t, "huge", &want), 4);
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn checked_counts_hashes_and_limits() {
        let mut w = Checked::new(Vec::new(), 8);
        w.write_all(b"hello").unwrap();
        assert!(!w.exceeded());
        let e = w.write_all(b"world").unwrap_err();
        assert_eq!(e.to_string(), "more than the 8 bytes expected");
        assert!(w.exceeded());
        assert_eq!(w.limit(), 8);
        let (data, sha256, len) = w.finish().unwrap();
        assert_eq!((&data[..], len), (&b"hello"[..], 5));
        let want = Expected {
            size: 5,
            sha256: Sha256::digest(b"hello").into(),
        };
        assert!(check_digest("u", &want, &sha256, len).is_ok());
        let e = check_digest("u", &want, &[0; 32], 5).unwrap_err();
        assert!(matches!(e, Error::HashMismatch { .. }), "{e}");
    }

    #[test]
    fn mirror_urls() {
        for (url, normal) in [
            (
                "http://mirror.invalid/debian/",
                "http://mirror.invalid/debian",
            ),
            ("https://m.invalid", "https://m.invalid"),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
            ("file:///srv/mirror/", "file:///srv/mirror"),
            ("file:/srv/mirror", "file:///srv/mirror"),
            ("file://localhost/srv/m", "file:///srv/m"),
        ] {
            assert_eq!(parse_mirror(url).unwrap(), normal, "{url}");
        }
        for bad in [
            "ftp://x",
            "mirror+http://mirror.invalid/debian",
            "tor+http://x.onion/debian",
            "cdrom:[Debian 13]/",
            "http://",
            "http:///debian",
            "file://srv/mirror",
            "file:relative",
            "file:",
            "file:////srv",
            "/srv/mirror",
            "",
        ] {
            assert!(
                matches!(parse_mirror(bad), Err(Error::BadUrl(u)) if u == bad),
                "{bad}"
            );
        }
        let t = for_mirror("file:/srv/m/").unwrap();
        assert_eq!(t.url("dists/x"), "file:///srv/m/dists/x");
    }

    #[test]
    fn relative_paths() {
        for ok in [
            "pool/main/d/dash/dash_0.5.12-12_amd64.deb",
            "pool/main/g/gcc+x/a~b_1:2.deb",
            "dists/trixie/main/binary-amd64/by-hash/SHA256/ab",
            "a",
            "..a/b..",
        ] {
            assert_eq!(check_relative_path(ok), Ok(()), "{ok}");
        }
        for (bad, reason) in [
            ("", "it is empty"),
            ("/etc/passwd", "it starts with '/'"),
            ("pool/%2e%2e/x", "it contains '\\', '%', '?' or '#'"),
            ("pool\\..\\x", "it contains '\\', '%', '?' or '#'"),
            ("pool/a?b", "it contains '\\', '%', '?' or '#'"),
            ("pool/a#b", "it contains '\\', '%', '?' or '#'"),
            ("pool/a\nb", "it contains a control character"),
            ("pool/a\u{7f}b", "it contains a control character"),
            ("pool//a", "it has an empty segment"),
            ("pool/a/", "it has an empty segment"),
            ("pool/../x", "it has a '.' or '..' segment"),
            ("./pool", "it has a '.' or '..' segment"),
            ("..", "it has a '.' or '..' segment"),
        ] {
            assert_eq!(check_relative_path(bad), Err(reason), "{bad:?}");
        }
    }

    #[test]
    fn bad_paths_are_never_requested() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("mirror");
        std::fs::create_dir(&inner).unwrap();
        std::fs::write(dir.path().join("secret"), b"x").unwrap();
        let t = for_mirror(&format!("file://{}", inner.display())).unwrap();
        let e = t.get("../secret", 1).unwrap_err();
        assert!(matches!(e, Error::BadPath { .. }), "{e}");
        let want = Expected {
            size: 1,
            sha256: Sha256::digest(b"x").into(),
        };
        let e = get_verified(&*t, "a/../../secret", &want).unwrap_err();
        assert!(matches!(e, Error::BadPath { .. }), "{e}");
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            Error::BadUrl("ftp://x".into()).to_string(),
            "unsupported mirror URL ftp://x: expected http://HOST…, \
             https://HOST…, file:///PATH or file:/PATH"
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
        assert_eq!(
            Error::TooLarge {
                url: "u".into(),
                limit: 16
            }
            .to_string(),
            "u: larger than the 16 bytes it may have"
        );
        let e = require_relative_path("pool/\n/../x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "refused path pool/\\n/../x (relative to the mirror): it \
             contains a control character"
        );
        assert_eq!(
            parse_stall_timeout("x").unwrap_err().to_string(),
            "environment variable LUNFORGE_STALL_TIMEOUT=x: expected a \
             positive number of seconds"
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
