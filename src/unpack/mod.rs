//! Unpack: `.deb` files into control data and tree entries.
//!
//! Spec: deb(5) and dpkg-deb(1). A binary package is an [`ar`] archive
//! whose members are, in this order, `debian-binary` (the format version,
//! `2.0\n`), `control.tar[.gz|.xz|.zst]` and `data.tar[.gz|.xz|.zst]`
//! (gzip, xz, zstd or none); members whose name starts with `_` may come
//! between them and are skipped, as dpkg-deb does. Anything else is refused,
//! including a member after `data.tar*` (which dpkg-deb would ignore).
//!
//! Unpacking has two phases so that packages can be decompressed in
//! parallel and still land in the tree in a fixed order:
//!
//! 1. [`read_deb`] (or [`read_all`] for many, on several threads) streams
//!    one package: its control members into memory ([`ControlFile`]),
//!    its data entries into [`Entry`] values whose file contents go
//!    straight into the tree's [`Spool`]. Nothing is held in memory whole
//!    except the control members, and every decompressed byte is counted
//!    against the package's [`Limits`], so a bomb is stopped early.
//! 2. [`apply`] inserts the entries into the [`Tree`] in archive order,
//!    where the tree's own rules (no `..`, no resolution leaving the root,
//!    directory symlinks followed like dpkg does) apply.
//!
//! Nothing is written to the host file system except the spool.
//!
//! The ar reader is ours ([`ar`] says why); tar is read with the `tar`
//! crate (entry by entry, long names and pax extensions handled), the
//! codecs come from `flate2`, `liblzma` and `zstd`.

#![warn(clippy::arithmetic_side_effects, clippy::as_conversions)]

pub mod ar;
mod control;
mod data;
mod decompress;
mod entry;
mod limits;
#[cfg(test)]
mod testdeb;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::repo::deb822;
use crate::tree::{self, GuestPath, Kind, Spool, Tree};

use decompress::Compression;
use limits::Budget;

pub use entry::{Entry, EntryKind};
pub use limits::{Limit, Limits};

/// A problem with the `./control` file of a package.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The control file is not UTF-8.
    #[error("control file is not UTF-8")]
    NotUtf8,
    /// The control file does not parse as deb822.
    #[error("control file: {0}")]
    Syntax(#[from] deb822::Error),
    /// The control file holds no paragraph or more than one.
    #[error("control file holds {0} paragraphs, expected 1")]
    Paragraphs(usize),
}

/// Errors of unpacking; each names the package (its label, such as
/// `dash 0.5.12-12`) and the member or path at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `.deb` file cannot be opened.
    #[error("{package}: cannot open {path}: {source}")]
    Open {
        /// The package.
        package: String,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file is not an ar archive, or an ar header is malformed.
    #[error("{package}: not a .deb: {source}")]
    NotADeb {
        /// The package.
        package: String,
        /// What is wrong with the ar container.
        source: ar::Error,
    },
    /// `debian-binary` does not hold a format version 2.x.
    #[error(
        "{package}: debian-binary holds \"{found}\", expected format \
         version 2.x"
    )]
    BadVersion {
        /// The package.
        package: String,
        /// What it holds, escaped and cut to 64 bytes.
        found: String,
    },
    /// A member out of dpkg-deb's order (debian-binary, control.tar*,
    /// data.tar*), or an unknown one.
    #[error("{package}: ar member {member} where {expected} was expected")]
    MemberOrder {
        /// The package.
        package: String,
        /// The member found.
        member: String,
        /// What should have come.
        expected: &'static str,
    },
    /// The archive ends before a required member.
    #[error("{package}: the archive ends before {expected}")]
    MissingMember {
        /// The package.
        package: String,
        /// The missing member.
        expected: &'static str,
    },
    /// A `control.tar.*` or `data.tar.*` member with an unknown suffix.
    #[error("{package}: ar member {member}: unknown compression")]
    UnknownCompression {
        /// The package.
        package: String,
        /// The member.
        member: String,
    },
    /// A member (or a file in it) ends early.
    #[error("{package}: {member} is truncated: {source}")]
    Truncated {
        /// The package.
        package: String,
        /// The member, and the archive entry when inside one.
        member: String,
        /// The I/O error.
        source: io::Error,
    },
    /// A member does not decompress or is not a valid tar archive.
    #[error("{package}: {member} is corrupt: {source}")]
    Corrupt {
        /// The package.
        package: String,
        /// The member, and the archive entry when inside one.
        member: String,
        /// The I/O error.
        source: io::Error,
    },
    /// Writing to the content spool failed (a host problem, such as a
    /// full temporary directory, not the package's fault).
    #[error("{package}: content spool: {source}")]
    Spool {
        /// The package.
        package: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The package unpacks to more than a limit allows.
    #[error("{package}: more than {max} {limit}")]
    LimitExceeded {
        /// The package.
        package: String,
        /// The limit.
        limit: Limit,
        /// Its value.
        max: u64,
    },
    /// A member name that is absolute, has `..`, a NUL or an overlong
    /// component.
    #[error("{package}: {source}")]
    BadPath {
        /// The package.
        package: String,
        /// Why the path is refused.
        source: tree::path::Error,
    },
    /// A member name or link target that is not UTF-8.
    #[error("{package}: {what} is not UTF-8: {name}")]
    NotUtf8 {
        /// The package.
        package: String,
        /// "member name", "symlink target", …
        what: &'static str,
        /// The name, lossily decoded.
        name: String,
    },
    /// A character or block device in the data archive.
    #[error(
        "{package}: {path} is a {kind}; packages must not ship device \
         nodes"
    )]
    DeviceNode {
        /// The package.
        package: String,
        /// The entry.
        path: GuestPath,
        /// "character device" or "block device".
        kind: &'static str,
    },
    /// A tar entry type that has no place in a package (GNU sparse
    /// files, sockets, vendor types).
    #[error(
        "{package}: {path} has the unsupported tar entry type '{type_flag}'"
    )]
    UnsupportedEntry {
        /// The package.
        package: String,
        /// The entry.
        path: String,
        /// The `typeflag` byte, escaped.
        type_flag: String,
    },
    /// A hard link whose target is not an earlier non-directory entry.
    #[error(
        "{package}: hard link {path} -> {target}: the target is not an \
         earlier non-directory entry of the archive"
    )]
    HardLinkTarget {
        /// The package.
        package: String,
        /// The link.
        path: GuestPath,
        /// Its target.
        target: GuestPath,
    },
    /// A symbolic link with an empty target.
    #[error("{package}: symlink {path} has an empty target")]
    EmptyLinkTarget {
        /// The package.
        package: String,
        /// The link.
        path: GuestPath,
    },
    /// A control archive member that is not a plain file directly under
    /// `./`, or appears twice.
    #[error("{package}: control member {member}: {reason}")]
    BadControlMember {
        /// The package.
        package: String,
        /// The member name.
        member: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The control archive has no `./control`.
    #[error("{package}: the control archive has no ./control file")]
    MissingControl {
        /// The package.
        package: String,
    },
    /// `./control` is unusable.
    #[error("{package}: {source}")]
    BadControl {
        /// The package.
        package: String,
        /// What is wrong.
        source: ControlError,
    },
    /// `./control` lacks a required field.
    #[error("{package}: the control file has no {field} field")]
    MissingControlField {
        /// The package.
        package: String,
        /// The field.
        field: &'static str,
    },
    /// The tree refused an entry.
    #[error("{package}: {source}")]
    Tree {
        /// The package.
        package: String,
        /// The entry as the package names it.
        path: GuestPath,
        /// Why.
        source: tree::Error,
    },
    /// A signal stopped the stage ([`crate::cancel`]).
    #[error(transparent)]
    Interrupted(#[from] crate::cancel::Interrupted),
}

/// Result of unpacking.
pub type Result<T> = std::result::Result<T, Error>;

/// A control archive member other than `control`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlFile {
    /// Its contents.
    pub data: Vec<u8>,
    /// Its permission bits (maintainer scripts are executable).
    pub mode: u32,
}

/// A package read by [`read_deb`], ready for [`apply`].
#[derive(Debug, Clone)]
pub struct Unpacked {
    /// The `Package` field of the control file.
    pub name: String,
    /// The label the caller gave (`dash 0.5.12-12`), for messages.
    pub label: String,
    /// The text of the control file.
    pub control: String,
    /// Every other control member by name (`md5sums`, `conffiles`,
    /// `postinst`, `triggers`, `shlibs`, …).
    pub control_files: BTreeMap<String, ControlFile>,
    /// The data archive's entries in archive order.
    pub entries: Vec<Entry>,
}

/// Read the package at `deb`, spooling file contents into `spool` (which
/// must be the spool of the tree the result is applied to). `label`
/// names the package in errors. Safe to call from several threads at
/// once with one spool.
pub fn read_deb(
    deb: &Path,
    label: &str,
    spool: &Spool,
    limits: &Limits,
) -> Result<Unpacked> {
    let file = File::open(deb).map_err(|source| Error::Open {
        package: label.into(),
        path: deb.into(),
        source,
    })?;
    read_deb_from(
        BufReader::with_capacity(64 * 1024, file),
        label,
        spool,
        limits,
    )
}

/// [`read_deb`] from any reader (the bytes of a `.deb`).
pub fn read_deb_from(
    r: impl Read,
    label: &str,
    spool: &Spool,
    limits: &Limits,
) -> Result<Unpacked> {
    let cx = Cx {
        package: label,
        budget: Budget::new(*limits),
    };
    let mut ar = ar::ArReader::new(r).map_err(|e| cx.ar(e))?;

    let Some(first) = ar.next_member().map_err(|e| cx.ar(e))? else {
        return Err(cx.missing("debian-binary"));
    };
    if first.name != "debian-binary" {
        return Err(cx.order(first.name, "debian-binary"));
    }
    check_version(&cx, &mut ar.member())?;

    let member = next_significant(&cx, &mut ar, "control.tar")?;
    let compression = Compression::for_member(&member, "control.tar")
        .ok_or_else(|| cx.unknown(&member))?;
    let control = {
        let raw = compression
            .decoder(ar.member())
            .map_err(|e| cx.stream(&member, e))?;
        control::read(&cx, &member, raw)?
    };

    let member = next_significant(&cx, &mut ar, "data.tar")?;
    let compression = Compression::for_member(&member, "data.tar")
        .ok_or_else(|| cx.unknown(&member))?;
    let entries = {
        let raw = compression
            .decoder(ar.member())
            .map_err(|e| cx.stream(&member, e))?;
        data::read(&cx, &member, raw, spool)?
    };

    while let Some(h) = ar.next_member().map_err(|e| cx.ar(e))? {
        if !h.name.starts_with('_') {
            return Err(cx.order(h.name, "the end of the archive"));
        }
    }
    Ok(Unpacked {
        name: control.name,
        label: label.into(),
        control: control.text,
        control_files: control.files,
        entries,
    })
}

/// The entries of a plain (uncompressed) tar stream, read with the same
/// rules and limits as a package's data archive; `label` names the
/// stream in errors. The configure sandbox hands its configured tree
/// back this way.
pub fn read_tar(
    raw: impl Read,
    label: &str,
    spool: &Spool,
    limits: &Limits,
) -> Result<Vec<Entry>> {
    let cx = Cx {
        package: label,
        budget: Budget::new(*limits),
    };
    data::read(&cx, "the archive", raw, spool)
}

/// The number of threads [`read_all`] uses by default: one per CPU.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// [`read_deb`] for every `(path, label)` on `jobs` threads; the result
/// is in input order.
///
/// The largest files are started first, so that one big package (a
/// kernel image takes most of the time of a base system) does not start
/// last and leave the other threads idle. On a failure no further
/// package is started, and the error returned is that of the first
/// failing package in that fixed processing order: packages are started
/// in order and the ones under way are finished, so the answer does not
/// depend on timing.
pub fn read_all(
    debs: &[(PathBuf, String)],
    spool: &Spool,
    limits: &Limits,
    jobs: usize,
) -> Result<Vec<Unpacked>> {
    // A file that cannot be examined sorts last and fails in read_deb.
    let mut order: Vec<(u64, usize)> = debs
        .iter()
        .enumerate()
        .map(|(i, (path, _))| {
            (std::fs::metadata(path).map_or(0, |m| m.len()), i)
        })
        .collect();
    order.sort_by_key(|&(size, i)| (std::cmp::Reverse(size), i));
    let order: Vec<usize> = order.into_iter().map(|(_, i)| i).collect();
    crate::parallel::run(debs.len(), &order, jobs.clamp(1, 64), |i| {
        crate::cancel::check()?;
        let (path, label) = &debs[i];
        read_deb(path, label, spool, limits)
    })
}

/// Insert the entries of `u` into `tree` in archive order and return
/// their paths as the package names them (`/bin/ls` even when `/bin` is
/// a symlink to `usr/bin`), each once, for the package's dpkg `.list`
/// file. An entry may replace what another package installed; tracking
/// that is the caller's business. On error the tree keeps the entries
/// inserted before the failing one.
pub fn apply(tree: &mut Tree, u: &Unpacked) -> Result<Vec<GuestPath>> {
    let mut paths = Vec::with_capacity(u.entries.len());
    let mut seen = HashSet::with_capacity(u.entries.len());
    for e in &u.entries {
        let done = insert_entry(tree, e);
        done.map_err(|source| Error::Tree {
            package: u.label.clone(),
            path: e.path.clone(),
            source,
        })?;
        if seen.insert(&e.path) {
            paths.push(e.path.clone());
        }
    }
    Ok(paths)
}

/// Insert one archive entry into `tree` (a hard link names an entry
/// already there); where it went.
pub fn insert_entry(tree: &mut Tree, e: &Entry) -> tree::Result<GuestPath> {
    let meta = e.meta.clone();
    match &e.kind {
        EntryKind::File(c) => tree.insert(&e.path, meta, Kind::File(c.clone())),
        EntryKind::Dir => tree.insert(&e.path, meta, Kind::Dir),
        EntryKind::Symlink(t) => {
            tree.insert(&e.path, meta, Kind::Symlink(t.clone()))
        }
        EntryKind::HardLink(target) => tree.link(&e.path, target),
        EntryKind::Fifo => tree.insert(&e.path, meta, Kind::Fifo),
    }
}

/// The format version `debian-binary` may hold at most (dpkg reads a
/// short line).
const VERSION_MAX: u64 = 64;

/// `debian-binary` must start with a line `2.<minor>`; dpkg ignores
/// whatever follows that line.
fn check_version(cx: &Cx<'_>, r: &mut dyn Read) -> Result<()> {
    let mut buf = Vec::new();
    r.take(VERSION_MAX.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| cx.stream("debian-binary", e))?;
    let line = buf.split(|b| *b == b'\n').next().unwrap_or_default();
    let ok = u64::try_from(buf.len()).is_ok_and(|n| n <= VERSION_MAX)
        && buf.len() > line.len()
        && line
            .strip_prefix(b"2.")
            .is_some_and(|m| !m.is_empty() && m.iter().all(u8::is_ascii_digit));
    if ok {
        return Ok(());
    }
    let shown: Vec<u8> = buf.iter().copied().take(64).collect();
    Err(Error::BadVersion {
        package: cx.package.into(),
        found: shown.escape_ascii().to_string(),
    })
}

/// The next member not starting with `_`, which must be `base[.*]`.
fn next_significant<R: Read>(
    cx: &Cx<'_>,
    ar: &mut ar::ArReader<R>,
    base: &'static str,
) -> Result<String> {
    let expected = match base {
        "control.tar" => "a control.tar member",
        _ => "a data.tar member",
    };
    loop {
        let Some(h) = ar.next_member().map_err(|e| cx.ar(e))? else {
            return Err(cx.missing(expected));
        };
        if h.name.starts_with('_') {
            continue;
        }
        if !h.name.starts_with(base) {
            return Err(cx.order(h.name, expected));
        }
        return Ok(h.name);
    }
}

/// What errors of one package need: its label and its budget.
struct Cx<'a> {
    package: &'a str,
    budget: Budget,
}

impl Cx<'_> {
    fn ar(&self, e: ar::Error) -> Error {
        match e {
            ar::Error::Io { offset, source } => {
                let member = format!("the ar archive at offset {offset:#x}");
                self.stream(&member, source)
            }
            ar::Error::Truncated { offset } => Error::Truncated {
                package: self.package.into(),
                member: format!("the ar header at offset {offset:#x}"),
                source: io::ErrorKind::UnexpectedEof.into(),
            },
            source => Error::NotADeb {
                package: self.package.into(),
                source,
            },
        }
    }

    fn order(&self, member: String, expected: &'static str) -> Error {
        Error::MemberOrder {
            package: self.package.into(),
            member,
            expected,
        }
    }

    fn missing(&self, expected: &'static str) -> Error {
        Error::MissingMember {
            package: self.package.into(),
            expected,
        }
    }

    fn unknown(&self, member: &str) -> Error {
        Error::UnknownCompression {
            package: self.package.into(),
            member: member.into(),
        }
    }

    fn limit(&self, limit: Limit) -> Error {
        let max = match limit {
            Limit::Bytes => self.budget.limits().max_bytes,
            Limit::Entries => self.budget.limits().max_entries,
            Limit::ControlBytes => limits::MAX_CONTROL_BYTES,
            Limit::HeaderBytes => limits::MAX_HEADER_BYTES,
        };
        Error::LimitExceeded {
            package: self.package.into(),
            limit,
            max,
        }
    }

    /// An error reading the decompressed stream of `member`: a limit,
    /// a truncation or corruption.
    fn stream(&self, member: &str, source: io::Error) -> Error {
        if let Some(limit) = self.budget.exceeded() {
            return self.limit(limit);
        }
        if source.kind() == io::ErrorKind::UnexpectedEof {
            Error::Truncated {
                package: self.package.into(),
                member: member.into(),
                source,
            }
        } else {
            Error::Corrupt {
                package: self.package.into(),
                member: member.into(),
                source,
            }
        }
    }

    fn bad_path(&self, source: tree::path::Error) -> Error {
        Error::BadPath {
            package: self.package.into(),
            source,
        }
    }

    fn not_utf8(&self, what: &'static str, name: &[u8]) -> Error {
        Error::NotUtf8 {
            package: self.package.into(),
            what,
            name: String::from_utf8_lossy(name).into_owned(),
        }
    }
}
