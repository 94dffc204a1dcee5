//! The data archive (`data.tar*`): the package's files, read entry by
//! entry into [`Entry`] values (deb(5); the entry types are POSIX ustar's
//! `typeflag`, with GNU long names and pax extended headers handled by
//! the `tar` crate).
//!
//! Names are normalised by [`GuestPath::from_member`] (no `..`, nothing
//! absolute). Regular files go to the spool as they are read. Hard links
//! must name an earlier non-directory entry. Device nodes are refused
//! (packages must not ship them; lunforge makes `/dev` itself), and so
//! are GNU sparse files and other exotic types, which dpkg cannot unpack
//! either. Owners are the numeric ids (pax `uid`/`gid` when present);
//! user and group names are ignored. Extended attributes come from pax
//! `SCHILY.xattr.*` records (GNU tar's and bsdtar's format).

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};

use tar::EntryType;

use crate::tree::content::INLINE_MAX;
use crate::tree::node::PERMISSION_BITS;
use crate::tree::{Content, GuestPath, Meta, Spool};

use super::limits::{drain, Counted};
use super::{Cx, Entry, EntryKind, Error, Result};

/// Files up to this size are decompressed into memory before they are
/// spooled, so that the spool's lock is held for a copy, not for the
/// decompression, and threads unpacking other packages do not wait.
const BUFFER_MAX: u64 = 8 << 20;

/// Offset of `typeflag` in a tar header.
const TYPEFLAG: usize = 0x9c;

/// The pax record prefix of extended attributes.
const PAX_XATTR: &str = "SCHILY.xattr.";

/// Read the data archive `member` from its decompressed bytes `raw`,
/// spooling file contents into `spool`.
pub(super) fn read(
    cx: &Cx<'_>,
    member: &str,
    raw: impl Read,
    spool: &Spool,
) -> Result<Vec<Entry>> {
    let mut archive = tar::Archive::new(Counted::new(raw, &cx.budget));
    let mut out = Vec::new();
    // Paths seen so far, and whether each is (now) a directory.
    let mut seen: HashMap<GuestPath, bool> = HashMap::new();
    let mut scratch = Vec::new();
    let mut entries = archive.entries().map_err(|e| cx.stream(member, e))?;
    while let Some(entry) = cx.budget.headers(|| entries.next()) {
        crate::cancel::check()?;
        let mut entry = entry.map_err(|e| cx.stream(member, e))?;
        cx.budget.entry().map_err(|l| cx.limit(l))?;
        let type_flag = entry.header().entry_type();
        if type_flag.is_pax_global_extensions() {
            drain(&mut entry).map_err(|e| cx.stream(member, e))?;
            continue;
        }
        let raw_name = entry.path_bytes().into_owned();
        let name = std::str::from_utf8(&raw_name)
            .map_err(|_| cx.not_utf8("member name", &raw_name))?;
        let path = GuestPath::from_member(name).map_err(|e| cx.bad_path(e))?;
        let at = format!("{member}: {name}");
        let meta = meta(&mut entry).map_err(|e| cx.stream(&at, e))?;
        let kind = match type_flag {
            // Old (pre-POSIX) archives mark directories by a trailing
            // slash on a regular entry.
            EntryType::Regular
                if entry.header().as_bytes()[TYPEFLAG] == b'\0'
                    && name.ends_with('/') =>
            {
                EntryKind::Dir
            }
            EntryType::Regular | EntryType::Continuous => {
                let size = entry.size();
                cx.budget.fits(size).map_err(|l| cx.limit(l))?;
                let content = store(&mut entry, size, spool, &mut scratch)
                    .map_err(|e| match e {
                        Failure::Read(e) => cx.stream(&at, e),
                        Failure::Write(source) => Error::Spool {
                            package: cx.package.into(),
                            source,
                        },
                    })?;
                EntryKind::File(content)
            }
            EntryType::Directory => EntryKind::Dir,
            EntryType::Symlink => {
                let target = link_name(cx, &entry, "symlink target")?;
                if target.is_empty() {
                    return Err(Error::EmptyLinkTarget {
                        package: cx.package.into(),
                        path,
                    });
                }
                EntryKind::Symlink(target)
            }
            EntryType::Link => {
                let target = link_name(cx, &entry, "hard link target")?;
                let target = GuestPath::from_member(&target)
                    .map_err(|e| cx.bad_path(e))?;
                if seen.get(&target) != Some(&false) {
                    return Err(Error::HardLinkTarget {
                        package: cx.package.into(),
                        path,
                        target,
                    });
                }
                EntryKind::HardLink(target)
            }
            EntryType::Fifo => EntryKind::Fifo,
            EntryType::Char | EntryType::Block => {
                return Err(Error::DeviceNode {
                    package: cx.package.into(),
                    path,
                    kind: if type_flag == EntryType::Char {
                        "character device"
                    } else {
                        "block device"
                    },
                })
            }
            other => {
                return Err(Error::UnsupportedEntry {
                    package: cx.package.into(),
                    path: name.into(),
                    type_flag: [other.as_byte()].escape_ascii().to_string(),
                })
            }
        };
        drain(&mut entry).map_err(|e| cx.stream(&at, e))?;
        seen.insert(path.clone(), kind == EntryKind::Dir);
        out.push(Entry { path, meta, kind });
    }
    // Read to the end of the compressed stream, so that its checksum is
    // verified too (and trailing garbage counts against the limit).
    io::copy(&mut archive.into_inner(), &mut io::sink())
        .map_err(|e| cx.stream(member, e))?;
    Ok(out)
}

/// Mode, owner, mtime and xattrs of `entry`.
fn meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Meta> {
    let h = entry.header();
    let id = |n: u64| {
        u32::try_from(n).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidData, "uid or gid over 2^32")
        })
    };
    let mut meta = Meta {
        mode: h.mode()? & PERMISSION_BITS,
        uid: id(h.uid()?)?,
        gid: id(h.gid()?)?,
        mtime: i64::try_from(h.mtime()?).unwrap_or(i64::MAX),
        xattrs: BTreeMap::new(),
    };
    if let Some(pax) = entry.pax_extensions()? {
        for ext in pax {
            let ext = ext?;
            let Ok(key) = ext.key() else { continue };
            if let Some(name) = key.strip_prefix(PAX_XATTR) {
                if !name.is_empty() {
                    meta.xattrs.insert(name.into(), ext.value_bytes().into());
                }
            } else if key == "mtime" {
                meta.mtime = pax_time(ext.value_bytes()).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, "bad pax mtime")
                })?;
            }
        }
    }
    Ok(meta)
}

/// A pax time (`1700000000`, `1700000000.5`, `-1.25`): whole seconds,
/// rounded towards negative infinity as the fraction is dropped.
fn pax_time(value: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(value).ok()?;
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = whole.parse().ok()?;
    let negative_fraction =
        whole.starts_with('-') && frac.bytes().any(|b| b != b'0');
    if negative_fraction {
        secs.checked_sub(1)
    } else {
        Some(secs)
    }
}

/// The link name of `entry` (GNU long link or pax `linkpath` included).
fn link_name<R: Read>(
    cx: &Cx<'_>,
    entry: &tar::Entry<'_, R>,
    what: &'static str,
) -> Result<String> {
    let raw = entry.link_name_bytes().unwrap_or_default();
    match std::str::from_utf8(&raw) {
        Ok(s) => Ok(s.to_owned()),
        Err(_) => Err(cx.not_utf8(what, &raw)),
    }
}

/// Why storing a file failed: reading it (the package's fault) or
/// writing the spool (the host's).
enum Failure {
    Read(io::Error),
    Write(io::Error),
}

/// Store the `size` bytes of `r` in the spool.
fn store(
    r: &mut dyn Read,
    size: u64,
    spool: &Spool,
    scratch: &mut Vec<u8>,
) -> std::result::Result<Content, Failure> {
    // INLINE_MAX fits a u64 on every platform.
    let inline_max = u64::try_from(INLINE_MAX).unwrap_or(u64::MAX);
    if size > inline_max && size <= BUFFER_MAX {
        scratch.clear();
        r.take(size).read_to_end(scratch).map_err(Failure::Read)?;
        if u64::try_from(scratch.len()).ok() != Some(size) {
            return Err(Failure::Read(io::ErrorKind::UnexpectedEof.into()));
        }
        return spool
            .store(&mut scratch.as_slice(), size)
            .map_err(Failure::Write);
    }
    let mut probe = Probe {
        inner: r,
        failed: false,
    };
    spool.store(&mut probe, size).map_err(|e| {
        // A short read shows as UnexpectedEof from the spool.
        if probe.failed || e.kind() == io::ErrorKind::UnexpectedEof {
            Failure::Read(e)
        } else {
            Failure::Write(e)
        }
    })
}

/// Remembers whether a read failed.
struct Probe<'a> {
    inner: &'a mut dyn Read,
    failed: bool,
}

impl Read for Probe<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|_| self.failed = true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times() {
        assert_eq!(pax_time(b"1700000000"), Some(1_700_000_000));
        assert_eq!(pax_time(b"1700000000.999"), Some(1_700_000_000));
        assert_eq!(pax_time(b"-1.25"), Some(-2));
        assert_eq!(pax_time(b"-1.00"), Some(-1));
        assert_eq!(pax_time(b"1.2.3"), None);
        assert_eq!(pax_time(b"x"), None);
        assert_eq!(pax_time(b""), None);
    }
}
