//! Which blocks of each regular file hold data: a block whose bytes are
//! all zero is a hole, left unallocated (what `mke2fs -d` does, so a
//! sparse file stays sparse and a file of zeros costs no space).
//!
//! The scan reads the tree's contents once before the plan; the plan
//! needs its result to allocate blocks, and [`super::layout::plan`]
//! runs it first. It is a separate pass, rather than hidden in the
//! plan, so that the plan proper ([`super::layout::plan_with`]) stays a
//! pure function of the tree's shape and this map (its table-driven
//! tests hand in maps of their own), and so that the one place that
//! reads file contents before the writer is plain to see. The cost is a
//! second read of the data, which is hot in the page cache after the
//! tree was built; host files are asked for their holes
//! (`SEEK_DATA`/`SEEK_HOLE`) so that a sparse multi-GiB file is not read
//! through.

use rustix::fs::SeekFrom;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;

use super::{Error, Result};
use crate::tree::{Content, GuestPath, InodeId, Kind, Tree};

/// A run of file blocks: logical block `start` and the `len` after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First logical block.
    pub start: u64,
    /// Number of blocks.
    pub len: u64,
}

/// The data blocks of the tree's files that have holes; a file not in
/// the map is data throughout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataMap {
    sparse: BTreeMap<InodeId, Vec<Span>>,
}

impl DataMap {
    /// A map of no holes.
    pub fn dense() -> DataMap {
        DataMap::default()
    }

    /// Record that file `id` has data in `spans` only (sorted,
    /// disjoint).
    pub fn insert(&mut self, id: InodeId, spans: Vec<Span>) {
        self.sparse.insert(id, spans);
    }

    /// The data spans of file `id` of `blocks` blocks.
    pub fn spans(&self, id: InodeId, blocks: u64) -> Vec<Span> {
        match self.sparse.get(&id) {
            Some(v) => v.clone(),
            None if blocks == 0 => Vec::new(),
            None => vec![Span {
                start: 0,
                len: blocks,
            }],
        }
    }

    /// Number of files with holes.
    pub fn sparse_files(&self) -> usize {
        self.sparse.len()
    }
}

/// Bytes read at a time.
const CHUNK: usize = 1 << 20;

/// Scan every regular file of `tree` for all-zero blocks of
/// `block_size` bytes.
pub fn scan(tree: &Tree, block_size: u32) -> Result<DataMap> {
    let bs = u64::from(block_size);
    let mut map = DataMap::default();
    let mut seen = std::collections::BTreeSet::new();
    let mut buf = vec![0u8; CHUNK];
    for (path, id, node) in tree.iter() {
        let Kind::File(content) = &node.kind else {
            continue;
        };
        if content.is_empty() || !seen.insert(id) {
            continue;
        }
        let blocks = content.len().div_ceil(bs);
        let mut spans = Spans::default();
        let err = |source| Error::Content {
            path: path.clone(),
            source,
        };
        match content {
            Content::Host { path: host, len } => {
                let f = File::open(host).map_err(err)?;
                scan_host(&f, *len, bs, &mut buf, &mut spans, path)?;
            }
            _ => {
                let mut r = tree.spool().open(content).map_err(err)?;
                scan_stream(&mut r, content.len(), bs, &mut buf, &mut spans)
                    .map_err(err)?;
            }
        }
        let spans = spans.0;
        let dense = spans.len() == 1
            && spans.first()
                == Some(&Span {
                    start: 0,
                    len: blocks,
                });
        if !dense {
            map.insert(id, spans);
        }
    }
    Ok(map)
}

/// Spans being built, merging adjacent blocks.
#[derive(Default)]
struct Spans(Vec<Span>);

impl Spans {
    fn push(&mut self, block: u64) {
        if let Some(last) = self.0.last_mut() {
            if last.start.checked_add(last.len) == Some(block) {
                last.len = last.len.saturating_add(1);
                return;
            }
        }
        self.0.push(Span {
            start: block,
            len: 1,
        });
    }
}

/// Mark the non-zero blocks of `data`, which starts at byte `at`.
fn mark(data: &[u8], at: u64, bs: u64, spans: &mut Spans) {
    let step = usize::try_from(bs).unwrap_or(usize::MAX);
    for (i, b) in data.chunks(step).enumerate() {
        if b.iter().any(|&x| x != 0) {
            let i = u64::try_from(i).unwrap_or(u64::MAX);
            let block = at
                .checked_div(bs)
                .and_then(|first| first.checked_add(i))
                .unwrap_or(u64::MAX);
            spans.push(block);
        }
    }
}

/// Read `len` bytes of `r` through, marking data blocks.
fn scan_stream(
    r: &mut dyn Read,
    len: u64,
    bs: u64,
    buf: &mut [u8],
    spans: &mut Spans,
) -> std::io::Result<()> {
    let mut at = 0u64;
    while at < len {
        let want = usize::try_from(len.saturating_sub(at))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let Some(chunk) = buf.get_mut(..want) else {
            break;
        };
        r.read_exact(chunk)?;
        mark(chunk, at, bs, spans);
        at = at.saturating_add(u64::try_from(want).unwrap_or(0));
    }
    Ok(())
}

/// Mark the data blocks of a host file, reading only what the host
/// file system reports as data.
fn scan_host(
    f: &File,
    len: u64,
    bs: u64,
    buf: &mut [u8],
    spans: &mut Spans,
    path: &GuestPath,
) -> Result<()> {
    let err = |source| Error::Content {
        path: path.clone(),
        source,
    };
    let mut pos = 0u64;
    while pos < len {
        // The next data region, block-aligned; a host without
        // SEEK_DATA support reads it all as data.
        let data = match rustix::fs::seek(f, SeekFrom::Data(pos)) {
            Ok(d) => d,
            Err(rustix::io::Errno::NXIO) => break,
            Err(_) => pos,
        };
        let hole = rustix::fs::seek(f, SeekFrom::Hole(data))
            .unwrap_or(len)
            .min(len);
        let mut at = data.checked_div(bs).unwrap_or(0).saturating_mul(bs);
        while at < hole {
            let want = usize::try_from(hole.saturating_sub(at))
                .unwrap_or(usize::MAX)
                .min(buf.len());
            let Some(chunk) = buf.get_mut(..want) else {
                break;
            };
            let n = read_at_full(f, chunk, at).map_err(err)?;
            if n < want {
                return Err(Error::ContentLength {
                    path: path.clone(),
                    expected: len,
                    got: at.saturating_add(u64::try_from(n).unwrap_or(0)),
                });
            }
            mark(chunk, at, bs, spans);
            at = at.saturating_add(u64::try_from(want).unwrap_or(0));
        }
        pos = hole.max(at);
    }
    Ok(())
}

/// `read_at` until `buf` is full or the file ends; the bytes read.
pub(super) fn read_at_full(
    f: &File,
    buf: &mut [u8],
    at: u64,
) -> std::io::Result<usize> {
    read_full(&mut At { f, pos: at }, buf)
}

/// A file read from a position on.
struct At<'a> {
    f: &'a File,
    pos: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.f.read_at(buf, self.pos)?;
        self.pos = self.pos.saturating_add(u64::try_from(n).unwrap_or(0));
        Ok(n)
    }
}

/// Read until `buf` is full or the reader ends; the bytes read.
pub(super) fn read_full(
    r: &mut dyn Read,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    let mut n = 0usize;
    while let Some(rest) = buf.get_mut(n..).filter(|b| !b.is_empty()) {
        match r.read(rest) {
            Ok(0) => break,
            Ok(k) => n = n.saturating_add(k),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Meta;

    fn meta() -> Meta {
        Meta {
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
            xattrs: BTreeMap::new(),
        }
    }

    #[test]
    fn zero_blocks_are_holes() {
        let mut t = Tree::new(0).unwrap();
        // Blocks of 1 KiB: data, zero, zero, data, then a partial zero
        // block; a dense file; a file of zeros.
        let mut body = vec![0u8; 4 * 1024 + 100];
        body[5] = 1;
        body[3 * 1024 + 1023] = 2;
        let sparse = GuestPath::new("/s").unwrap();
        t.write_file(&sparse, meta(), &body).unwrap();
        let dense = GuestPath::new("/d").unwrap();
        t.write_file(&dense, meta(), &[1u8; 3000]).unwrap();
        let zeros = GuestPath::new("/z").unwrap();
        t.write_file(&zeros, meta(), &[0u8; 100_000]).unwrap();
        let m = scan(&t, 1024).unwrap();
        let s = t.id(&sparse).unwrap();
        assert_eq!(
            m.spans(s, 5),
            vec![Span { start: 0, len: 1 }, Span { start: 3, len: 1 }]
        );
        let d = t.id(&dense).unwrap();
        assert_eq!(m.spans(d, 3), vec![Span { start: 0, len: 3 }]);
        assert_eq!(m.spans(t.id(&zeros).unwrap(), 98), Vec::new());
        assert_eq!(m.sparse_files(), 2);
    }

    #[test]
    fn sparse_host_files_are_not_read_through() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("sparse");
        let f = File::create(&host).unwrap();
        let len = 3u64 << 30;
        f.set_len(len).unwrap();
        f.write_at(b"x", 1 << 30).unwrap();
        drop(f);
        let mut t = Tree::new(0).unwrap();
        let p = GuestPath::new("/big").unwrap();
        let c = Content::Host { path: host, len };
        t.insert(&p, meta(), Kind::File(c)).unwrap();
        let m = scan(&t, 4096).unwrap();
        let want = vec![Span {
            start: (1 << 30) / 4096,
            len: 1,
        }];
        assert_eq!(m.spans(t.id(&p).unwrap(), len / 4096), want);
    }
}
