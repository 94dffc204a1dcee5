//! Device and ownership tables, the format of genext2fs and Buildroot's
//! `device_table.txt`: how a user without root makes root-owned files
//! and device nodes in an image.
//!
//! One entry per line, whitespace-separated, `#` starts a comment:
//!
//! ```text
//! # name        type mode uid gid major minor start inc count
//! /dev          d    755  0   0   -     -     -     -   -
//! /dev/console  c    600  0   0   5     1     -     -   -
//! /dev/xvda     b    660  0   6   202   1     1     1   4
//! /etc/shadow   f    640  0   42  -     -     -     -   -
//! ```
//!
//! Types: `f` (a regular file that must exist; its metadata changes),
//! `d` (a directory, created with its parents if missing), `c`/`b`
//! (character and block devices), `p` (a fifo). With a `count`, the
//! entry makes `count` nodes named `NAME<start>`, `NAME<start+1>`, …
//! whose minor numbers grow by `inc`: the line above makes `/dev/xvda1`
//! to `/dev/xvda4` with minors 1 to 4. Modes are octal.
//!
//! Hand-written: the format is ten columns, and no crate reads it.

use std::path::{Path, PathBuf};

use super::{GuestPath, Kind, Meta, Tree};

/// Errors of a device table; each names the file and line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The table cannot be read.
    #[error("{path}: {source}")]
    Read {
        /// The table.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A line that is not an entry.
    #[error("{path}:{line}: {message}")]
    Syntax {
        /// The table.
        path: PathBuf,
        /// Line number, from 1.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// An entry the tree refuses (a missing file, a bad path).
    #[error("{path}:{line}: {source}")]
    Apply {
        /// The table.
        path: PathBuf,
        /// Line number, from 1.
        line: usize,
        /// The tree's error.
        source: super::Error,
    },
}

/// Result of device tables.
pub type Result<T> = std::result::Result<T, Error>;

/// What an entry makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryType {
    /// `f`: an existing regular file.
    File,
    /// `d`: a directory.
    Dir,
    /// `c`: a character device.
    CharDev,
    /// `b`: a block device.
    BlockDev,
    /// `p`: a fifo.
    Fifo,
}

/// One line of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Line number, from 1.
    pub line: usize,
    /// The path (or the name prefix of a series).
    pub name: String,
    /// What it is.
    pub kind: EntryType,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Major and minor numbers of a device.
    pub device: Option<(u32, u32)>,
    /// A series: first suffix, minor increment, count.
    pub series: Option<(u32, u32, u32)>,
}

/// Parse the table at `path`.
pub fn read(path: &Path) -> Result<Vec<Entry>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map_err(|(line, message)| Error::Syntax {
        path: path.to_path_buf(),
        line,
        message,
    })
}

/// Parse a table's text; an error gives the line and what is wrong.
pub fn parse(text: &str) -> std::result::Result<Vec<Entry>, (usize, String)> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let body = raw.split('#').next().unwrap_or("").trim();
        if body.is_empty() {
            continue;
        }
        out.push(parse_line(body).map_err(|m| (line, m))?.at(line));
    }
    Ok(out)
}

impl Entry {
    fn at(mut self, line: usize) -> Entry {
        self.line = line;
        self
    }
}

fn parse_line(body: &str) -> std::result::Result<Entry, String> {
    let f: Vec<&str> = body.split_whitespace().collect();
    let [name, ty, mode, uid, gid, major, minor, start, inc, count] = f[..]
    else {
        return Err(format!(
            "expected 10 columns (name type mode uid gid major minor start \
             inc count), found {}",
            f.len()
        ));
    };
    let kind = match ty {
        "f" => EntryType::File,
        "d" => EntryType::Dir,
        "c" => EntryType::CharDev,
        "b" => EntryType::BlockDev,
        "p" => EntryType::Fifo,
        _ => return Err(format!("type {ty:?} is not one of f d c b p")),
    };
    let mode = u32::from_str_radix(mode, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("mode {mode:?} is not an octal mode"))?;
    let num =
        |what: &str, v: &str| -> std::result::Result<Option<u32>, String> {
            if v == "-" {
                return Ok(None);
            }
            v.parse()
                .map(Some)
                .map_err(|_| format!("{what} {v:?} is not a number or -"))
        };
    let uid = num("uid", uid)?.unwrap_or(0);
    let gid = num("gid", gid)?.unwrap_or(0);
    let is_dev = matches!(kind, EntryType::CharDev | EntryType::BlockDev);
    let device = match (num("major", major)?, num("minor", minor)?) {
        (Some(a), Some(b)) if is_dev => Some((a, b)),
        (None, None) if !is_dev => None,
        _ if is_dev => return Err("a device needs major and minor".into()),
        _ => return Err("only c and b entries take major and minor".into()),
    };
    let series =
        match (num("start", start)?, num("inc", inc)?, num("count", count)?) {
            (_, _, None | Some(0)) => None,
            (s, i, Some(c)) if is_dev => {
                Some((s.unwrap_or(0), i.unwrap_or(1), c))
            }
            _ => return Err("only device entries take a count".into()),
        };
    if !name.starts_with('/') {
        return Err(format!("name {name:?} is not an absolute path"));
    }
    Ok(Entry {
        line: 0,
        name: name.into(),
        kind,
        mode,
        uid,
        gid,
        device,
        series,
    })
}

/// Apply `entries` (read from `path`) to `tree`, with `mtime` for the
/// nodes they create.
pub fn apply(
    tree: &mut Tree,
    entries: &[Entry],
    path: &Path,
    mtime: i64,
) -> Result<()> {
    for e in entries {
        apply_one(tree, e, mtime).map_err(|source| Error::Apply {
            path: path.to_path_buf(),
            line: e.line,
            source,
        })?;
    }
    Ok(())
}

fn apply_one(tree: &mut Tree, e: &Entry, mtime: i64) -> super::Result<()> {
    let meta = Meta {
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        mtime,
        xattrs: Default::default(),
    };
    let base = GuestPath::new(&e.name)?;
    match e.kind {
        EntryType::File => {
            let id = tree
                .id(&base)
                .filter(|id| matches!(tree.inode(*id).kind, Kind::File(_)))
                .ok_or_else(|| super::Error::NotFound { path: base.clone() })?;
            set_owner(&mut tree.inode_mut(id).meta, &meta);
        }
        EntryType::Dir => {
            let parent_meta = Meta::root(0o755, mtime);
            tree.create_dirs(&base, &parent_meta)?;
            let id = tree
                .id(&tree.resolve(&base, true)?)
                .ok_or_else(|| super::Error::NotFound { path: base.clone() })?;
            set_owner(&mut tree.inode_mut(id).meta, &meta);
        }
        EntryType::CharDev | EntryType::BlockDev | EntryType::Fifo => {
            for (p, kind) in nodes(e, &base)? {
                if let Some(parent) = p.parent() {
                    tree.create_dirs(&parent, &Meta::root(0o755, mtime))?;
                }
                tree.insert(&p, meta.clone(), kind)?;
            }
        }
    }
    Ok(())
}

/// Change mode and owner, keeping time and xattrs.
fn set_owner(m: &mut Meta, new: &Meta) {
    m.mode = new.mode;
    m.uid = new.uid;
    m.gid = new.gid;
}

/// The nodes a device or fifo entry makes.
fn nodes(e: &Entry, base: &GuestPath) -> super::Result<Vec<(GuestPath, Kind)>> {
    let kind = |minor_add: u32| {
        let (major, minor) = e.device.unwrap_or((0, 0));
        let minor = minor.saturating_add(minor_add);
        match e.kind {
            EntryType::BlockDev => Kind::BlockDev { major, minor },
            EntryType::CharDev => Kind::CharDev { major, minor },
            _ => Kind::Fifo,
        }
    };
    let Some((start, inc, count)) = e.series else {
        return Ok(vec![(base.clone(), kind(0))]);
    };
    (0..count)
        .map(|i| {
            let name = format!("{}{}", e.name, start.saturating_add(i));
            Ok((GuestPath::new(&name)?, kind(inc.saturating_mul(i))))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
# name type mode uid gid major minor start inc count
/dev d 755 0 0 - - - - -
/dev/console c 600 0 5 5 1 - - -
/dev/xvda b 660 0 6 202 1 1 1 4   # partitions
/run/initctl p 600 0 0 - - - - -
/etc/shadow f 640 0 42 - - - - -
";

    fn p(s: &str) -> GuestPath {
        GuestPath::new(s).unwrap()
    }

    #[test]
    fn parses_and_applies_a_table() {
        let entries = parse(TABLE).unwrap();
        assert_eq!(entries.len(), 5);
        assert_eq!(entries[2].line, 4);
        assert_eq!(entries[2].series, Some((1, 1, 4)));
        let mut t = Tree::new(0).unwrap();
        t.create_dirs(&p("/etc"), &Meta::root(0o755, 0)).unwrap();
        t.write_file(&p("/etc/shadow"), Meta::root(0o600, 7), b"x")
            .unwrap();
        apply(&mut t, &entries, Path::new("devices.txt"), 100).unwrap();
        let n = t.get(&p("/dev/xvda3")).unwrap();
        assert_eq!(
            n.kind,
            Kind::BlockDev {
                major: 202,
                minor: 3
            }
        );
        assert_eq!((n.meta.mode, n.meta.gid), (0o660, 6));
        assert!(t.get(&p("/dev/xvda5")).is_none());
        assert_eq!(
            t.get(&p("/dev/console")).unwrap().kind,
            Kind::CharDev { major: 5, minor: 1 }
        );
        assert_eq!(t.get(&p("/run/initctl")).unwrap().kind, Kind::Fifo);
        let s = &t.get(&p("/etc/shadow")).unwrap().meta;
        assert_eq!((s.mode, s.gid, s.mtime), (0o640, 42, 7));
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            (
                "/a c 600 0 0 - - - - -\n",
                1,
                "a device needs major and minor",
            ),
            (
                "\n/a x 600 0 0 - - - - -",
                2,
                "type \"x\" is not one of f d c b p",
            ),
            (
                "/a d 999 0 0 - - - - -",
                1,
                "mode \"999\" is not an octal mode",
            ),
            ("/a d 755 0 0", 1, "expected 10 columns"),
            (
                "a d 755 0 0 - - - - -",
                1,
                "name \"a\" is not an absolute path",
            ),
            (
                "/a d 755 0 0 - - - - 3",
                1,
                "only device entries take a count",
            ),
            (
                "/a d 755 x 0 - - - - -",
                1,
                "uid \"x\" is not a number or -",
            ),
        ];
        for (text, line, msg) in cases {
            let (l, m) = parse(text).unwrap_err();
            assert_eq!(l, line, "{text:?}");
            assert!(m.starts_with(msg), "{text:?}: {m}");
        }
        let entries = parse("/etc/missing f 644 0 0 - - - - -").unwrap();
        let mut t = Tree::new(0).unwrap();
        let e = apply(&mut t, &entries, Path::new("t.txt"), 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.txt:1: /etc/missing: no such file or directory"
        );
    }
}
