//! A [`Transport`] that reports each request it makes, for `-vv`.
//!
//! A decorator rather than a line in each backend: every request of any
//! backend goes through [`Transport::get_into`] (retries included, one
//! call per attempt), so wrapping that one method reports them all, and
//! the backends stay free of any notion of progress.

use std::io::Write;
use std::time::Instant;

use super::{Result, Transport};
use crate::progress::{Level, Progress};

/// Reports each request of `inner` to a [`Progress`] at
/// [`Level::Trace`]: the URL, then the bytes and time, "not found", or
/// the error.
pub struct Traced<'a> {
    inner: Box<dyn Transport>,
    progress: &'a dyn Progress,
}

impl<'a> Traced<'a> {
    /// Report the requests of `inner` to `progress`.
    pub fn new(inner: Box<dyn Transport>, progress: &'a dyn Progress) -> Self {
        Traced { inner, progress }
    }
}

impl Transport for Traced<'_> {
    fn get_into(&self, path: &str, out: &mut dyn Write) -> Result<bool> {
        let start = Instant::now();
        let mut counted = Counted {
            inner: out,
            bytes: 0,
        };
        let got = self.inner.get_into(path, &mut counted);
        let secs = start.elapsed().as_secs_f64();
        let url = self.inner.url(path);
        let p = self.progress;
        match &got {
            Ok(true) => p.detail(
                Level::Trace,
                format_args!(
                    "GET {url}: {} bytes in {secs:.3} s",
                    counted.bytes
                ),
            ),
            Ok(false) => p.detail(
                Level::Trace,
                format_args!("GET {url}: not found ({secs:.3} s)"),
            ),
            Err(e) => p.detail(
                Level::Trace,
                format_args!("GET {url}: failed after {secs:.3} s: {e}"),
            ),
        }
        got
    }

    fn url(&self, path: &str) -> String {
        self.inner.url(path)
    }
}

/// A writer that counts what passes through it.
struct Counted<'w> {
    inner: &'w mut dyn Write,
    bytes: u64,
}

impl Write for Counted<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes = self.bytes.saturating_add(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Recorder;

    #[test]
    fn each_request_is_reported_with_its_outcome() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("InRelease"), b"12345").expect("w");
        let base = format!("file://{}", dir.path().display());
        let lines = Recorder::default();
        let t = Traced::new(
            super::super::for_mirror(&base).expect("mirror"),
            &lines,
        );
        let mut out = Vec::new();
        assert!(t.get_into("InRelease", &mut out).expect("get"));
        assert_eq!(out, b"12345");
        assert!(!t.get_into("Release", &mut Vec::new()).expect("get"));
        let got = lines.lines();
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.iter().all(|(l, _)| *l == Level::Trace));
        let found = format!("GET {}: 5 bytes in ", t.url("InRelease"));
        assert!(got[0].1.starts_with(&found), "{got:?}");
        let missing = format!("GET {}: not found (", t.url("Release"));
        assert!(got[1].1.starts_with(&missing), "{got:?}");
    }
}
