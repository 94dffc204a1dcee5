//! Limits against decompression bombs, counted while streaming.
//!
//! Every decompressed byte of a package's `control.tar` and `data.tar`
//! passes through a `Counted` reader that charges it to the package's
//! `Budget`; the read that goes over the limit fails, so a bomb stops
//! after at most `max_bytes` of output, never after decompressing all of
//! it. A file's declared size is checked against the budget before any
//! of its bytes are read, which stops the common bomb (one huge file of
//! zeros) before decompression starts.
//!
//! The tar crate reads a GNU long name or link (`L`, `K`) and a pax
//! extended header (`x`) into memory whole while it looks for the next
//! entry, so those reads are counted separately as well: at most
//! [`MAX_HEADER_BYTES`] between two entries, whatever `max_bytes` is.

use std::cell::Cell;
use std::fmt;
use std::io::{self, Read};

/// How much one package may unpack to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Decompressed bytes of `control.tar` and `data.tar` together.
    pub max_bytes: u64,
    /// Tar entries of `control.tar` and `data.tar` together.
    pub max_entries: u64,
}

impl Default for Limits {
    /// 4 GiB and 1,000,000 entries per package: several times the
    /// largest Debian package (the debug symbols of a browser, firmware
    /// bundles).
    fn default() -> Limits {
        Limits {
            max_bytes: 4 << 30,
            max_entries: 1_000_000,
        }
    }
}

/// Total size of a package's control members, which are held in memory
/// (the largest in Debian, translated debconf `templates` and the
/// `md5sums` of kernel images, are a few MiB).
pub(crate) const MAX_CONTROL_BYTES: u64 = 64 << 20;

/// The tar headers read on the way to one entry: its header blocks,
/// the padding of the entry before, and the GNU long name, long link
/// and pax records that the tar crate holds in memory (a name is at
/// most `PATH_MAX`, 4 KiB; pax records carry a few extended
/// attributes, each value at most 64 KiB in Linux).
pub(crate) const MAX_HEADER_BYTES: u64 = 1 << 20;

/// Which limit was exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// [`Limits::max_bytes`].
    Bytes,
    /// [`Limits::max_entries`].
    Entries,
    /// The fixed cap on the control members' total size.
    ControlBytes,
    /// The fixed cap on the tar headers and extensions of one entry.
    HeaderBytes,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::Bytes => "unpacked bytes",
            Limit::Entries => "archive entries",
            Limit::ControlBytes => "bytes of control files",
            Limit::HeaderBytes => "bytes of tar headers before one entry",
        })
    }
}

/// What one package has used so far; single-threaded (each package is
/// read by one thread).
#[derive(Debug)]
pub(crate) struct Budget {
    limits: Limits,
    bytes: Cell<u64>,
    entries: Cell<u64>,
    /// Set when a read was refused for going over `max_bytes`.
    exceeded: Cell<bool>,
    /// Bytes read since [`Budget::headers`] started, while it runs.
    header_bytes: Cell<Option<u64>>,
    /// Set when a read was refused for going over [`MAX_HEADER_BYTES`].
    header_exceeded: Cell<bool>,
}

impl Budget {
    pub(crate) fn new(limits: Limits) -> Budget {
        Budget {
            limits,
            bytes: Cell::new(0),
            entries: Cell::new(0),
            exceeded: Cell::new(false),
            header_bytes: Cell::new(None),
            header_exceeded: Cell::new(false),
        }
    }

    /// The limits in force.
    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    /// The limit a read was refused for, once one was.
    pub(crate) fn exceeded(&self) -> Option<Limit> {
        if self.header_exceeded.get() {
            Some(Limit::HeaderBytes)
        } else if self.exceeded.get() {
            Some(Limit::Bytes)
        } else {
            None
        }
    }

    /// Run `f`, a tar reader's step to its next entry, with what it
    /// reads counted against [`MAX_HEADER_BYTES`] too. The caller reads
    /// each entry's data to its end before the next step, so the step
    /// reads headers and extensions only.
    pub(crate) fn headers<T>(&self, f: impl FnOnce() -> T) -> T {
        self.header_bytes.set(Some(0));
        let out = f();
        self.header_bytes.set(None);
        out
    }

    /// Charge one archive entry; `Err` with the limit when over it.
    pub(crate) fn entry(&self) -> Result<(), Limit> {
        let n = self.entries.get().saturating_add(1);
        self.entries.set(n);
        if n > self.limits.max_entries {
            return Err(Limit::Entries);
        }
        Ok(())
    }

    /// Whether `len` more bytes fit (a declared size, checked before
    /// reading); `Err` with the limit when they do not.
    pub(crate) fn fits(&self, len: u64) -> Result<(), Limit> {
        if self.bytes.get().saturating_add(len) > self.limits.max_bytes {
            self.exceeded.set(true);
            return Err(Limit::Bytes);
        }
        Ok(())
    }

    fn charge(&self, n: usize) -> bool {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        let total = self.bytes.get().saturating_add(n);
        self.bytes.set(total);
        if total > self.limits.max_bytes {
            self.exceeded.set(true);
            return false;
        }
        if let Some(headers) = self.header_bytes.get() {
            let headers = headers.saturating_add(n);
            self.header_bytes.set(Some(headers));
            if headers > MAX_HEADER_BYTES {
                self.header_exceeded.set(true);
                return false;
            }
        }
        true
    }
}

/// A reader that charges what it yields to a [`Budget`] and fails once
/// the budget is spent.
pub(crate) struct Counted<'a, R> {
    inner: R,
    budget: &'a Budget,
}

impl<'a, R: Read> Counted<'a, R> {
    pub(crate) fn new(inner: R, budget: &'a Budget) -> Counted<'a, R> {
        Counted { inner, budget }
    }
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.budget.exceeded().is_some() {
            return Err(over_limit());
        }
        let n = self.inner.read(buf)?;
        if !self.budget.charge(n) {
            return Err(over_limit());
        }
        Ok(n)
    }
}

/// Read the rest of an entry's data (none for a well-formed directory
/// or link), so that the step to the next entry reads headers only
/// ([`Budget::headers`]).
pub(crate) fn drain(entry: &mut impl Read) -> io::Result<()> {
    io::copy(entry, &mut io::sink()).map(drop)
}

fn over_limit() -> io::Error {
    io::Error::other("unpacked size limit exceeded")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_stops() {
        let budget = Budget::new(Limits {
            max_bytes: 10,
            max_entries: 2,
        });
        let data = [0u8; 64];
        let mut r = Counted::new(&data[..], &budget);
        let mut buf = [0u8; 6];
        assert_eq!(r.read(&mut buf).unwrap(), 6);
        assert!(budget.fits(4).is_ok());
        assert_eq!(budget.fits(5), Err(Limit::Bytes));
        budget.exceeded.set(false);
        assert!(r.read(&mut buf).is_err());
        assert_eq!(budget.exceeded(), Some(Limit::Bytes));
        // Sticky: no more reads once over.
        assert!(r.read(&mut buf).is_err());
        assert!(budget.entry().is_ok());
        assert!(budget.entry().is_ok());
        assert_eq!(budget.entry(), Err(Limit::Entries));
    }

    #[test]
    fn defaults_and_names() {
        let l = Limits::default();
        assert_eq!(l.max_bytes, 4 * 1024 * 1024 * 1024);
        assert_eq!(l.max_entries, 1_000_000);
        assert_eq!(Limit::Bytes.to_string(), "unpacked bytes");
        assert_eq!(Limit::Entries.to_string(), "archive entries");
        assert_eq!(Limit::ControlBytes.to_string(), "bytes of control files");
        assert_eq!(
            Limit::HeaderBytes.to_string(),
            "bytes of tar headers before one entry"
        );
    }

    #[test]
    fn counts_headers_only_while_asked() {
        let budget = Budget::new(Limits::default());
        let data = vec![0u8; 4 << 20];
        let mut r = Counted::new(&data[..], &budget);
        let mut buf = vec![0u8; 2 << 20];
        // Entry data: only the overall budget.
        r.read_exact(&mut buf).unwrap();
        assert_eq!(budget.exceeded(), None);
        // A step to the next entry that reads 2 MiB: refused.
        let step = budget.headers(|| r.read_exact(&mut buf));
        assert!(step.is_err());
        assert_eq!(budget.exceeded(), Some(Limit::HeaderBytes));
    }
}
