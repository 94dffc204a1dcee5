//! Helpers of the ext, swap and disk oracle tests: the parameters of
//! every file system the tests make (one function, one list of kinds),
//! a seeded generator of random trees, image files written sparse, and
//! the checks that read an image back with e2fsprogs (`e2fsck`,
//! `debugfs`, `dumpe2fs`) and compare it with the tree.
//!
//! `debugfs -f` reads its commands one per line and splits them on
//! blanks outside double quotes (a `""` inside quotes is one `"`), so
//! every path is written quoted that way; names with a line break
//! cannot be addressed in a `-f` script and the generator makes none.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use lunforge::filesystems::ext::{self, ExtLayout, ExtParams};
use lunforge::recipe::Recipe;
use lunforge::tree::{GuestPath, InodeId, Kind, Meta, Tree};

use super::oracle::is_root;
use super::{require, run};

/// The ext kinds the writer makes, each tested the same way.
pub(crate) const KINDS: &[&str] = &["ext2", "ext3", "ext4"];

/// The build time (`SOURCE_DATE_EPOCH`) of every test image.
pub(crate) const TIME: i64 = 1_700_000_000;

/// The parameters of a `kind` file system of `size` bytes: the one
/// place the tests build [`ExtParams`]. Block size as mke2fs picks it
/// (1024 below 512 MiB, 4096 from there).
pub(crate) fn ext_params(
    kind: &str,
    size: u64,
    uuid: [u8; 16],
    label: &str,
    hash_seed: [u8; 16],
    time: i64,
) -> ExtParams {
    let kind = kind
        .parse()
        .unwrap_or_else(|e| panic!("{kind}: not a kind of ext: {e}"));
    ExtParams::new(kind, size, uuid, label, hash_seed, time)
}

/// `ext_params` with the tests' fixed UUID, label `lunroot`, hash seed
/// and [`TIME`].
pub(crate) fn test_params(kind: &str, size: u64) -> ExtParams {
    ext_params(kind, size, TEST_UUID, "lunroot", TEST_SEED, TIME)
}

/// The UUID of [`test_params`].
pub(crate) const TEST_UUID: [u8; 16] = [
    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0x4d, 0xef, 0x81, 0x23, 0x45, 0x67,
    0x89, 0xab, 0xcd, 0xef,
];
/// [`TEST_UUID`] as blkid and dumpe2fs print it.
pub(crate) const TEST_UUID_STR: &str = "01234567-89ab-4def-8123-456789abcdef";
/// The hash seed of [`test_params`].
const TEST_SEED: [u8; 16] = [
    0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0x4c, 0xfe, 0x80, 0x11, 0x22, 0x33,
    0x44, 0x55, 0x66, 0x77,
];

/// SplitMix64: a tiny, seedable PRNG (enough for test data).
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`.
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// `true` with probability `percent`/100.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One element of `items`.
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// `len` random bytes.
    pub(crate) fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(len + 8);
        while v.len() < len {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(len);
        v
    }
}

/// Characters of the odd names: blanks, quotes, shell and debugfs
/// specials, control bytes, and multi-byte UTF-8.
const ODD_CHARS: &[char] = &[
    ' ', '"', '\'', '\\', '\t', '*', '?', '$', ':', '#', '-', '=', '(', '[',
    '\u{1}', '\u{7f}', 'é', 'ß', 'Ж', '日', '本', '🦀', '\u{200b}',
];
const PLAIN_CHARS: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+";

/// What a random tree may contain.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TreeShape {
    /// Entries besides the big directories.
    pub(crate) entries: u64,
    /// Entries of the one big directory (0: none).
    pub(crate) big_dir: u64,
    /// Largest file, in bytes.
    pub(crate) max_file: u64,
}

impl TreeShape {
    /// The shape of the `n`-th tree of a run: mostly small; two in 40
    /// have a directory of thousands of entries, every 15th a file of a
    /// few MiB.
    pub(crate) fn nth(rng: &mut Rng, n: u64) -> TreeShape {
        TreeShape {
            entries: rng.range(1, 90),
            big_dir: if n % 40 == 7 || n % 40 == 21 {
                rng.range(1500, 3500)
            } else {
                0
            },
            max_file: if n % 15 == 3 { 5 << 20 } else { 40_000 },
        }
    }
}

/// A random tree and what was put in it.
pub(crate) struct RandomTree {
    /// The tree.
    pub(crate) tree: Tree,
    /// Bytes of file data (each inode once).
    pub(crate) data_bytes: u64,
}

/// Build a random tree: names, depths, every kind of node, hard links,
/// devices of both encodings, xattrs, owners and times, from `rng`.
pub(crate) fn random_tree(rng: &mut Rng, shape: TreeShape) -> RandomTree {
    let mut tree = Tree::new(random_mtime(rng)).expect("tree");
    let mut g = Gen {
        rng,
        dirs: vec![GuestPath::root()],
        linkable: Vec::new(),
        data_bytes: 0,
        last_xattrs: BTreeMap::new(),
    };
    // The root's own owner, mode and attributes.
    let root = tree.id(&GuestPath::root()).expect("root");
    let mut m = g.meta(false);
    g.xattrs(&mut m);
    tree.inode_mut(root).meta = m;
    // Sometimes the tree brings its own lost+found, with entries.
    if g.rng.chance(5) {
        let lf = GuestPath::new("/lost+found").expect("path");
        let m = g.meta(false);
        tree.insert(&lf, m, Kind::Dir).expect("lost+found");
        g.dirs.push(lf);
    }
    for _ in 0..shape.entries {
        g.entry(&mut tree, None, shape.max_file);
    }
    // Trees allowed big files get one for sure, past the single
    // indirect block's reach.
    if shape.max_file > 1 << 20 {
        let len = g.rng.range(shape.max_file / 2, shape.max_file) as usize;
        let mut body = g.rng.bytes(len);
        let hole = g.rng.range(0, len as u64 / 2) as usize;
        body[hole..hole + len / 3].fill(0);
        let dir = g.rng.pick(&g.dirs).clone();
        let path = g.fresh(&tree, &dir);
        let m = g.meta(false);
        g.data_bytes += len as u64;
        tree.write_file(&path, m, &body).expect("big file");
    }
    if shape.big_dir > 0 {
        let parent = g.rng.pick(&g.dirs).clone();
        let dir = g.fresh(&tree, &parent);
        tree.insert(&dir, g.meta(false), Kind::Dir)
            .expect("big dir");
        let stem =
            format!("{}-", "shared-prefix".repeat(g.rng.range(1, 12) as usize));
        for i in 0..shape.big_dir {
            let name = format!("{stem}{i:05}");
            let path = dir.join(&name).expect("name");
            g.entry(&mut tree, Some(path), 2000);
        }
        g.dirs.push(dir);
    }
    RandomTree {
        data_bytes: g.data_bytes,
        tree,
    }
}

struct Gen<'a> {
    rng: &'a mut Rng,
    dirs: Vec<GuestPath>,
    linkable: Vec<GuestPath>,
    data_bytes: u64,
    /// The last non-empty attribute set, which later nodes may share
    /// (as many files share one SELinux label).
    last_xattrs: BTreeMap<String, Vec<u8>>,
}

/// A modification time: mostly before the build, some after (the
/// writer clamps those), a few before 1970.
fn random_mtime(rng: &mut Rng) -> i64 {
    match rng.below(10) {
        0 => TIME + rng.range(1, 400_000_000) as i64,
        1 => -(rng.range(1, 2_000_000_000) as i64),
        2 => 0,
        _ => TIME - rng.below(1_500_000_000) as i64,
    }
}

impl Gen<'_> {
    /// A random name, unique in `dir` of `tree`.
    fn fresh(&mut self, tree: &Tree, dir: &GuestPath) -> GuestPath {
        loop {
            let name = self.name(tree, dir);
            if name == "." || name == ".." {
                continue;
            }
            if dir.is_root() && name == "lost+found" {
                continue;
            }
            let Ok(p) = dir.join(&name) else { continue };
            if tree.get(&p).is_none() {
                return p;
            }
        }
    }

    fn name(&mut self, tree: &Tree, dir: &GuestPath) -> String {
        let max = match self.rng.below(20) {
            0 => 255,
            1..=2 => self.rng.range(100, 255) as usize,
            _ => self.rng.range(1, 24) as usize,
        };
        let mut s = String::new();
        // Some names extend a sibling's (shared prefixes in one block).
        if self.rng.chance(20) {
            let sibling = tree
                .iter()
                .filter(|(p, _, _)| p.parent().as_ref() == Some(dir))
                .map(|(p, _, _)| p.file_name().unwrap_or("").to_string())
                .last();
            if let Some(sib) = sibling.filter(|s| s.len() < max) {
                s = sib;
            }
        }
        let odd = self.rng.chance(25);
        while s.len() < max {
            let c = if odd && self.rng.chance(30) {
                *self.rng.pick(ODD_CHARS)
            } else {
                char::from(*self.rng.pick(PLAIN_CHARS))
            };
            if s.len() + c.len_utf8() > max {
                break;
            }
            s.push(c);
        }
        if s.is_empty() {
            s.push('x');
        }
        s
    }

    fn meta(&mut self, symlink: bool) -> Meta {
        let id = |rng: &mut Rng| match rng.below(4) {
            0 => 0,
            1 => 1000,
            2 => rng.range(65_536, 4_000_000_000) as u32,
            _ => rng.below(65_536) as u32,
        };
        let uid = id(self.rng);
        let gid = id(self.rng);
        Meta {
            mode: if symlink {
                0o777
            } else {
                self.rng.below(0o10000) as u32
            },
            uid,
            gid,
            mtime: random_mtime(self.rng),
            xattrs: BTreeMap::new(),
        }
    }

    /// Attributes: `security.capability`, and `user.*` values, some too
    /// big for the inode, all fitting one 1 KiB attribute block.
    fn xattrs(&mut self, m: &mut Meta) {
        if !self.rng.chance(20) {
            return;
        }
        if !self.last_xattrs.is_empty() && self.rng.chance(30) {
            m.xattrs = self.last_xattrs.clone();
            return;
        }
        let mut budget = 700usize;
        if self.rng.chance(50) {
            // VFS_CAP_REVISION_2: magic_etc, then permitted/inheritable
            // pairs for the low and high 32 capabilities.
            let mut cap = vec![0, 0, 0, 2];
            cap.extend(self.rng.bytes(16));
            m.xattrs.insert("security.capability".into(), cap);
            budget -= 60;
        }
        for _ in 0..self.rng.below(4) {
            let name = format!("user.{}", self.rng.range(0, 99_999));
            let len = match self.rng.below(6) {
                0 => 0,
                1 => self.rng.range(150, 500) as usize,
                _ => self.rng.below(40) as usize,
            };
            let need = 16 + name.len() + len + 8;
            if need > budget {
                break;
            }
            budget -= need;
            let v = self.rng.bytes(len);
            m.xattrs.insert(name, v);
        }
        if !m.xattrs.is_empty() {
            self.last_xattrs = m.xattrs.clone();
        }
    }

    /// File contents: sizes at block boundaries, random sizes, and some
    /// long zero runs (holes once the writer keeps them sparse).
    fn contents(&mut self, max: u64) -> Vec<u8> {
        let sizes = [0u64, 1, 1023, 1024, 1025, 4095, 4096, 4097];
        let len = match self.rng.below(10) {
            0..=2 => *self.rng.pick(&sizes),
            3 => {
                // Around the end of the direct blocks (12 blocks).
                let bs = *self.rng.pick(&[1024u64, 4096]);
                12 * bs + self.rng.range(0, 2) - 1
            }
            4 => self.rng.range(0, max),
            _ => self.rng.range(0, max.min(20_000)),
        } as usize;
        let mut v = self.rng.bytes(len);
        if len > 0 && self.rng.chance(30) {
            // A zero run somewhere, or the whole file.
            let start = self.rng.below(len as u64) as usize;
            let end = if self.rng.chance(20) {
                len
            } else {
                self.rng.range(start as u64, len as u64) as usize
            };
            let start = if self.rng.chance(10) { 0 } else { start };
            v[start..end].fill(0);
        }
        v
    }

    /// Add one random entry at `at` (a fresh name when `None`).
    fn entry(&mut self, tree: &mut Tree, at: Option<GuestPath>, max: u64) {
        // Parents: mostly the newest directories, so trees get deep.
        let parent = if self.rng.chance(60) {
            self.dirs.last().cloned().unwrap_or_else(GuestPath::root)
        } else {
            self.rng.pick(&self.dirs).clone()
        };
        let path = at.unwrap_or_else(|| self.fresh(tree, &parent));
        let roll = self.rng.below(100);
        if roll < 8 && !self.linkable.is_empty() {
            let target = self.rng.pick(&self.linkable).clone();
            tree.link(&path, &target).expect("hard link");
            return;
        }
        let symlink = (8..20).contains(&roll);
        let mut m = self.meta(symlink);
        let kind = match roll {
            8..=19 => {
                // Fast below 60 bytes (in i_block), slow from 60; the
                // ends of both ranges often.
                let len = match self.rng.below(10) {
                    0 => *self.rng.pick(&[1, 59, 60, 61, 1023]),
                    1..=5 => self.rng.range(1, 59),
                    _ => self.rng.range(60, 1023),
                };
                let mut t = String::new();
                while (t.len() as u64) < len {
                    let c = if self.rng.chance(10) {
                        '/'
                    } else {
                        char::from(*self.rng.pick(PLAIN_CHARS))
                    };
                    t.push(c);
                }
                Kind::Symlink(t)
            }
            20..=34 => {
                self.xattrs(&mut m);
                tree.insert(&path, m, Kind::Dir).expect("dir");
                self.dirs.push(path);
                return;
            }
            35..=40 => Kind::CharDev {
                major: self.major(),
                minor: self.minor(),
            },
            41..=45 => Kind::BlockDev {
                major: self.major(),
                minor: self.minor(),
            },
            46..=49 => Kind::Fifo,
            50..=52 => Kind::Socket,
            _ => {
                self.xattrs(&mut m);
                let body = self.contents(max);
                self.data_bytes += body.len() as u64;
                tree.write_file(&path, m, &body).expect("file");
                self.linkable.push(path);
                return;
            }
        };
        // Attributes on the other kinds: security.* and trusted.* only
        // (Linux refuses user.* there), some too big for the inode.
        if self.rng.chance(10) {
            let label = b"system_u:object_r:device_t:s0\0".to_vec();
            m.xattrs.insert("security.selinux".into(), label);
            if self.rng.chance(40) {
                let len = self.rng.range(100, 600) as usize;
                m.xattrs.insert("trusted.big".into(), self.rng.bytes(len));
            }
        }
        tree.insert(&path, m, kind).expect("node");
        self.linkable.push(path);
    }

    /// Old encoding (< 256) or new (up to 12 bits).
    fn major(&mut self) -> u32 {
        if self.rng.chance(50) {
            self.rng.below(256) as u32
        } else {
            self.rng.range(256, 4095) as u32
        }
    }

    /// Old encoding (< 256) or new (up to 20 bits).
    fn minor(&mut self) -> u32 {
        if self.rng.chance(50) {
            self.rng.below(256) as u32
        } else {
            self.rng.range(256, (1 << 20) - 1) as u32
        }
    }
}

/// The features of a tree a property run must have met, each a
/// name: hard links, symlinks fast and slow, devices of both
/// encodings, fifos, sockets, attributes (in a block too), large ids,
/// times past the build and before 1970, 255-byte names, big files and
/// big directories.
pub(crate) fn coverage(tree: &Tree) -> BTreeSet<&'static str> {
    let mut seen = BTreeSet::new();
    let mut ids = BTreeSet::new();
    let mut per_dir: BTreeMap<GuestPath, u64> = BTreeMap::new();
    for (path, id, node) in tree.iter() {
        if !ids.insert(id) {
            seen.insert("hard link");
        }
        if let Some(p) = path.parent() {
            *per_dir.entry(p).or_default() += 1;
        }
        if path.file_name().is_some_and(|n| n.len() == 255) {
            seen.insert("255-byte name");
        }
        let m = &node.meta;
        if m.uid > 65535 || m.gid > 65535 {
            seen.insert("id > 65535");
        }
        if m.mtime > TIME {
            seen.insert("mtime after the build");
        }
        if m.mtime < 0 {
            seen.insert("mtime before 1970");
        }
        if m.xattrs.contains_key("security.capability") {
            seen.insert("security.capability");
        }
        if m.xattrs.values().any(|v| v.len() >= 150) {
            seen.insert("attribute too big for the inode");
        }
        if !m.xattrs.is_empty() && matches!(node.kind, Kind::Symlink(_)) {
            seen.insert("attributes on a symlink");
        }
        match &node.kind {
            Kind::Symlink(t) if t.len() < 60 => seen.insert("fast symlink"),
            Kind::Symlink(_) => seen.insert("slow symlink"),
            Kind::CharDev { major, minor }
            | Kind::BlockDev { major, minor } => {
                if *major > 255 || *minor > 255 {
                    seen.insert("new device encoding")
                } else {
                    seen.insert("old device encoding")
                }
            }
            Kind::Fifo => seen.insert("fifo"),
            Kind::Socket => seen.insert("socket"),
            Kind::File(c) if c.len() >= 1 << 20 => seen.insert("file of MiBs"),
            _ => false,
        };
    }
    if per_dir.values().any(|&n| n >= 1000) {
        seen.insert("directory of thousands");
    }
    seen
}

/// Every name [`coverage`] can return.
pub(crate) const COVERAGE: &[&str] = &[
    "hard link",
    "255-byte name",
    "id > 65535",
    "mtime after the build",
    "mtime before 1970",
    "security.capability",
    "attribute too big for the inode",
    "attributes on a symlink",
    "fast symlink",
    "slow symlink",
    "new device encoding",
    "old device encoding",
    "fifo",
    "socket",
    "file of MiBs",
    "directory of thousands",
];

/// A size that holds `data_bytes` of file data and the tree's inodes
/// and directories, with room to spare.
pub(crate) fn size_for(tree: &Tree, data_bytes: u64) -> u64 {
    let entries = tree.len() as u64;
    let by_data = data_bytes * 5 / 4 + entries * 1200 + (4 << 20);
    // mke2fs gives an inode per 8 KiB at these sizes.
    let by_inodes = (entries + 64) * 8192 * 2;
    by_data.max(by_inodes).div_ceil(1 << 20) << 20
}

/// Plan `tree` as a `kind` file system of at least `size` bytes
/// ([`test_params`]), growing the size by half until the tree fits
/// (`NoSpace`/`NoInodes` only; any other error fails the test).
pub(crate) fn plan_fitting(
    tree: &Tree,
    kind: &str,
    mut size: u64,
) -> (ExtParams, ExtLayout) {
    for _ in 0..8 {
        let params = test_params(kind, size);
        match ext::plan(tree, &params) {
            Ok(l) => return (params, l),
            Err(ext::Error::NoSpace { .. } | ext::Error::NoInodes { .. }) => {
                size = (size * 3 / 2).div_ceil(1 << 20) << 20;
            }
            Err(e) => panic!("plan: {e}"),
        }
    }
    panic!("the tree does not fit even {size} bytes")
}

/// A size close to the smallest that holds `tree` (binary search in
/// KiB below `fits`, a size that does): the file system is then
/// nearly full, and its free counts and last blocks are at the edge.
pub(crate) fn tight_size(tree: &Tree, kind: &str, fits: u64) -> u64 {
    let ok = |kib: u64| ext::plan(tree, &test_params(kind, kib << 10)).is_ok();
    let (mut lo, mut hi) = (1u64, fits >> 10);
    assert!(ok(hi), "{fits} bytes do not fit");
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if ok(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi << 10
}

/// A new image file of `params.size` bytes, a hole until written, with
/// the file system planned by `layout` written into it.
pub(crate) fn write_image(
    tree: &Tree,
    params: &ExtParams,
    layout: &ExtLayout,
    path: &Path,
) {
    let mut f = File::create(path).expect("create image");
    f.set_len(params.size).expect("size image");
    ext::write(tree, layout, &mut f).expect("write image");
    f.sync_all().expect("sync image");
    let len = f.metadata().expect("stat image").len();
    assert_eq!(len, params.size, "the writer grew the image");
}

/// A writer whose position 0 is byte `base` of `inner`: a partition of
/// a disk image.
pub(crate) struct At<'a> {
    inner: &'a mut File,
    base: u64,
}

impl<'a> At<'a> {
    /// The partition at byte `base` of `inner`, positioned at its start.
    pub(crate) fn new(inner: &'a mut File, base: u64) -> At<'a> {
        inner
            .seek(SeekFrom::Start(base))
            .expect("seek to partition");
        At { inner, base }
    }
}

impl Write for At<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl Seek for At<'_> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        let abs = match pos {
            SeekFrom::Start(n) => {
                self.inner.seek(SeekFrom::Start(self.base + n))?
            }
            other => self.inner.seek(other)?,
        };
        abs.checked_sub(self.base).ok_or_else(|| {
            std::io::Error::other("seek before the start of the partition")
        })
    }
}

/// Run `program` (of Debian package `package`) and return exit code
/// and stdout + stderr.
pub(crate) fn tool(
    program: &str,
    package: &str,
    args: &[&str],
) -> (i32, String) {
    require(program, package);
    let out = Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// `e2fsck -fn` exits 0 and says nothing but its passes and summary;
/// `e2fsck -fy` on a (sparse) copy exits 0 too. `ctx` goes in messages.
#[track_caller]
pub(crate) fn assert_fsck_clean(img: &Path, label: &str, ctx: &str) {
    assert_fsck_clean_at(img, label, ctx, None)
}

/// [`assert_fsck_clean`] with e2fsck's clock set to `now`
/// (`E2FSCK_TIME`), for images built in the future.
#[track_caller]
pub(crate) fn assert_fsck_clean_at(
    img: &Path,
    label: &str,
    ctx: &str,
    now: Option<i64>,
) {
    require("e2fsck", "e2fsprogs");
    let e2fsck = |args: &[&Path]| {
        let mut cmd = Command::new("e2fsck");
        cmd.args(args).env("LC_ALL", "C");
        if let Some(t) = now {
            cmd.env("E2FSCK_TIME", t.to_string());
        }
        let out = cmd.output().expect("run e2fsck");
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), text)
    };
    let (code, text) = e2fsck(&[Path::new("-fn"), img]);
    assert_eq!(code, 0, "{ctx}: e2fsck -fn exit {code}:\n{text}");
    // Its version, the five passes and the summary
    // `LABEL: USED/ALL files (…)`: nothing else.
    let summary = |l: &str| {
        l.strip_prefix(&format!("{label}: "))
            .and_then(|r| r.split_once(" files "))
            .and_then(|(n, _)| n.split_once('/'))
            .is_some_and(|(a, b)| {
                a.parse::<u64>().is_ok() && b.parse::<u64>().is_ok()
            })
    };
    for line in text.lines() {
        assert!(
            line.starts_with("Pass ")
                || line.starts_with("e2fsck ")
                || summary(line),
            "{ctx}: e2fsck -fn said {line:?}:\n{text}"
        );
    }
    let copy = img.with_extension("fsck-copy");
    let p = img.to_str().expect("utf-8 path");
    let c = copy.to_str().expect("utf-8 path");
    let (code, text) = tool("cp", "coreutils", &["--sparse=always", p, c]);
    assert_eq!(code, 0, "{text}");
    let (code, text) = e2fsck(&[Path::new("-fy"), &copy]);
    assert_eq!(code, 0, "{ctx}: e2fsck -fy exit {code}:\n{text}");
    // e2fsck -fy changed nothing but the primary superblock's record
    // of the check itself.
    let changed = changed_ranges(img, &copy);
    let check_record = |&(at, len): &(u64, u64)| {
        E2FSCK_RECORDS
            .iter()
            .any(|&(o, l)| 1024 + o <= at && at + len <= 1024 + o + l)
    };
    let other: Vec<_> = changed.iter().filter(|r| !check_record(r)).collect();
    assert!(
        other.is_empty(),
        "{ctx}: e2fsck -fy changed (offset, length) {other:?}:\n{text}"
    );
    std::fs::remove_file(&copy).expect("remove copy");
}

/// Superblock fields (offset, length) in which `e2fsck -fy` records
/// its run: `s_wtime`, `s_mnt_count`, `s_lastcheck`,
/// `s_kbytes_written` and `s_checksum`.
const E2FSCK_RECORDS: &[(u64, u64)] =
    &[(0x30, 4), (0x34, 2), (0x40, 4), (0x178, 8), (0x3FC, 4)];

/// The byte ranges (offset, length) in which two files differ.
fn changed_ranges(a: &Path, b: &Path) -> Vec<(u64, u64)> {
    let mut fa = File::open(a).expect("open");
    let mut fb = File::open(b).expect("open");
    let (mut x, mut y) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    let mut out: Vec<(u64, u64)> = Vec::new();
    let mut at = 0u64;
    loop {
        let n = std::io::Read::read(&mut fa, &mut x).expect("read");
        let m = std::io::Read::read_exact(&mut fb, &mut y[..n]);
        m.expect("same length");
        if n == 0 {
            break;
        }
        if x[..n] != y[..n] {
            for i in 0..n {
                if x[i] != y[i] {
                    let o = at + i as u64;
                    match out.last_mut() {
                        Some((s, l)) if *s + *l == o => *l += 1,
                        _ => out.push((o, 1)),
                    }
                }
            }
        }
        at += n as u64;
    }
    out
}

/// Apparent size and allocated bytes (`st_blocks` × 512) of a file.
pub(crate) fn sizes(path: &Path) -> (u64, u64) {
    let m = std::fs::metadata(path).expect("stat");
    (m.len(), m.blocks() * 512)
}

/// The header fields of `dumpe2fs -h`, by name.
pub(crate) fn dumpe2fs_h(img: &Path) -> BTreeMap<String, String> {
    let p = img.to_str().expect("utf-8 path");
    let (code, text) = tool("dumpe2fs", "e2fsprogs", &["-h", p]);
    assert_eq!(code, 0, "{text}");
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The image is sparse: allocated bytes no more than the blocks
/// `dumpe2fs` counts as used (each rounded up to the host's 4 KiB),
/// and less than the apparent size when most blocks are free.
#[track_caller]
pub(crate) fn assert_sparse(img: &Path, ctx: &str) {
    let h = dumpe2fs_h(img);
    let num = |k: &str| -> u64 {
        h[k].parse().unwrap_or_else(|_| panic!("{k}: {}", h[k]))
    };
    let bs = num("Block size");
    let used = num("Block count") - num("Free blocks");
    let (apparent, allocated) = sizes(img);
    // The file system ends within the file (a partial last block or a
    // dropped runt group leaves a tail).
    assert!(
        num("Block count") * bs <= apparent,
        "{ctx}: {} blocks of {bs} in {apparent} bytes",
        num("Block count")
    );
    assert!(
        allocated <= used * bs.max(4096) + (64 << 10),
        "{ctx}: {allocated} bytes allocated for {used} used blocks of {bs}"
    );
    if used * 4 < num("Block count") {
        assert!(
            allocated < apparent / 2,
            "{ctx}: {allocated} of {apparent} bytes allocated"
        );
    }
}

/// A path quoted for a `debugfs` command line.
fn q(s: &str) -> String {
    assert!(
        !s.contains(['\n', '\r']),
        "{s:?}: not addressable by debugfs -f"
    );
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The ext type name `debugfs stat` prints (first word).
fn debugfs_type(kind: &Kind) -> &'static str {
    match kind {
        Kind::File(_) => "regular",
        Kind::Dir => "directory",
        Kind::Symlink(_) => "symlink",
        Kind::CharDev { .. } => "character",
        Kind::BlockDev { .. } => "block",
        Kind::Fifo => "FIFO",
        Kind::Socket => "socket",
    }
}

/// The word after `name` in `text`.
fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.split_whitespace().skip_while(|w| *w != name).nth(1)
}

/// Mtime as the file system stores it: clamped to the build time.
pub(crate) fn clamped(mtime: i64, time: i64) -> i64 {
    mtime.min(time)
}

/// Read every path of `tree` back from `img` with `debugfs` (one `-f`
/// script: `stat` of each path, `ea_get` of each attribute, and `rdump
/// /` of the whole tree) and compare: names, type, permissions, owner,
/// link count, hard-link identity, size, bytes, link targets, device
/// numbers, attributes and times (clamped to `time`).
#[track_caller]
pub(crate) fn debugfs_walk(tree: &Tree, img: &Path, time: i64, ctx: &str) {
    let work = tempfile::Builder::new()
        .prefix("lf-walk-")
        .tempdir()
        .expect("tempdir");
    let dump = work.path().join("root");
    std::fs::create_dir(&dump).expect("mkdir");
    let entries: Vec<(&GuestPath, InodeId, &lunforge::tree::Inode)> =
        tree.iter().collect();
    let mut script = String::new();
    // (entry index, attribute name, file) of each ea_get.
    let mut gets: Vec<(usize, &str, PathBuf)> = Vec::new();
    for (i, (path, _, node)) in entries.iter().enumerate() {
        script.push_str(&format!("stat {}\n", q(path.as_str())));
        for (k, name) in node.meta.xattrs.keys().enumerate() {
            let to = work.path().join(format!("ea-{i}-{k}"));
            script.push_str(&format!(
                "ea_get -f {} {} {}\n",
                to.display(),
                q(path.as_str()),
                q(name)
            ));
            gets.push((i, name, to));
        }
    }
    script.push_str(&format!("rdump / {}\n", dump.display()));
    let script_path = work.path().join("script");
    std::fs::write(&script_path, &script).expect("write script");
    require("debugfs", "e2fsprogs");
    let out = Command::new("debugfs")
        .arg("-f")
        .arg(&script_path)
        .arg(img)
        .env("LC_ALL", "C")
        .output()
        .expect("run debugfs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{ctx}: debugfs failed: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // One section per command, in order: each starts with the echoed
    // command line.
    let mut sections: Vec<String> = Vec::new();
    for line in stdout.lines() {
        if line.starts_with("debugfs: ") {
            sections.push(String::new());
        } else if let Some(s) = sections.last_mut() {
            s.push_str(line);
            s.push('\n');
        }
    }
    let n_cmds = script.lines().count();
    assert_eq!(sections.len(), n_cmds, "{ctx}: debugfs output:\n{stdout}");
    let mut stats = Vec::new();
    let mut k = 0;
    for (_, _, node) in &entries {
        stats.push(&sections[k]);
        k += 1 + node.meta.xattrs.len();
    }

    let counts = tree.link_counts();
    let has_lf = tree.get(&GuestPath::new("/lost+found").expect("path"));
    let mut ino_of: BTreeMap<InodeId, String> = BTreeMap::new();
    let mut id_of: BTreeMap<String, InodeId> = BTreeMap::new();
    for ((path, id, node), s) in entries.iter().zip(&stats) {
        let ctx = format!("{ctx}: {path:?}");
        let get = |name: &str| -> &str {
            field(s, name).unwrap_or_else(|| {
                panic!("{ctx}: no {name} in debugfs stat:\n{s}{stderr}")
            })
        };
        let ino = get("Inode:").to_string();
        // Hard links share the inode; different inodes differ.
        assert_eq!(
            ino_of.entry(*id).or_insert_with(|| ino.clone()),
            &ino,
            "{ctx}: hard links on different inodes"
        );
        assert_eq!(
            id_of.entry(ino.clone()).or_insert(*id),
            id,
            "{ctx}: inode {ino} shared by different tree inodes"
        );
        assert_eq!(get("Type:"), debugfs_type(&node.kind), "{ctx}:\n{s}");
        let m = &node.meta;
        assert_eq!(get("Mode:"), format!("0{:03o}", m.mode), "{ctx}:\n{s}");
        // debugfs prints ids as signed 32-bit numbers.
        let num_id =
            |name: &str| get(name).parse::<i64>().map(|v| v as u32).ok();
        assert_eq!(num_id("User:"), Some(m.uid), "{ctx}:\n{s}");
        assert_eq!(num_id("Group:"), Some(m.gid), "{ctx}:\n{s}");
        let mut links = counts[id];
        if path.is_root() && has_lf.is_none() {
            links += 1;
        }
        assert_eq!(get("Links:"), links.to_string(), "{ctx}:\n{s}");
        let mtime = get("mtime:");
        let want = clamped(m.mtime, time) as u32;
        assert!(
            mtime.starts_with(&format!("0x{want:08x}")),
            "{ctx}: mtime {mtime}, want {} clamped to {time}:\n{s}",
            m.mtime
        );
        match &node.kind {
            Kind::File(c) => {
                assert_eq!(get("Size:"), c.len().to_string(), "{ctx}:\n{s}")
            }
            Kind::CharDev { major, minor }
            | Kind::BlockDev { major, minor } => {
                let want = format!(
                    "Device major/minor number: {major:02}:{minor:02} "
                );
                assert!(s.contains(&want), "{ctx}: want {want:?}:\n{s}");
            }
            _ => {}
        }
        // The attribute names debugfs lists, against the tree's.
        let listed: BTreeSet<String> = s
            .split_once("Extended attributes:\n")
            .map(|(_, rest)| {
                rest.lines()
                    .take_while(|l| l.starts_with("  "))
                    .filter_map(|l| l.trim_start().split(" (").next())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let want: BTreeSet<String> = m.xattrs.keys().cloned().collect();
        assert_eq!(listed, want, "{ctx}: attribute names:\n{s}");
    }
    for (i, name, file) in gets {
        let (path, _, node) = &entries[i];
        let got = std::fs::read(&file).unwrap_or_default();
        assert!(
            got == node.meta.xattrs[name],
            "{ctx}: {path:?} attribute {name}: {got:x?}, want {:x?}",
            node.meta.xattrs[name]
        );
    }

    // Names, bytes and link targets from rdump.
    let mut found: BTreeMap<String, Dumped> = BTreeMap::new();
    walk_dump(&dump, &dump, &mut found);
    let mut want: BTreeMap<String, Dumped> = BTreeMap::new();
    for (path, _, node) in &entries {
        if path.is_root() {
            continue;
        }
        let d = match &node.kind {
            Kind::File(c) => Dumped::File(c.len()),
            Kind::Dir => Dumped::Dir,
            Kind::Symlink(t) => Dumped::Symlink(t.clone()),
            _ => continue,
        };
        want.insert(path.as_str().to_string(), d);
    }
    if has_lf.is_none() {
        want.insert("/lost+found".into(), Dumped::Dir);
    }
    let missing: Vec<_> =
        want.keys().filter(|k| !found.contains_key(*k)).collect();
    let extra: Vec<_> =
        found.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{ctx}: rdump names differ: missing {missing:?}, extra {extra:?}\n{stderr}"
    );
    for (p, d) in &want {
        assert_eq!(&found[p], d, "{ctx}: {p:?}");
        if let Dumped::File(_) = d {
            let path = GuestPath::new(p).expect("path");
            let Some(Kind::File(c)) = tree.get(&path).map(|n| &n.kind) else {
                unreachable!()
            };
            let host = dump.join(path.relative());
            let got = std::fs::read(&host).expect("read dumped file");
            let wanted = tree.spool().read(c).expect("read spool");
            if got != wanted {
                let at = got.iter().zip(&wanted).position(|(a, b)| a != b);
                panic!(
                    "{ctx}: {p:?}: bytes differ (first at {at:?}, lengths \
                     {} and {})",
                    got.len(),
                    wanted.len()
                );
            }
        }
    }
}

/// What `rdump` left at a path.
#[derive(Debug, PartialEq, Eq)]
enum Dumped {
    File(u64),
    Dir,
    Symlink(String),
}

/// The names, kinds and sizes `rdump` left under `dir`. Without root,
/// rdump's copies keep the image's permission bits, which may deny
/// their owner: they are opened up first (the bits themselves are
/// compared through `stat`).
fn walk_dump(base: &Path, dir: &Path, out: &mut BTreeMap<String, Dumped>) {
    let open_up = |p: &Path, mode: u32| {
        if !is_root() {
            let perm = std::os::unix::fs::PermissionsExt::from_mode(mode);
            std::fs::set_permissions(p, perm).expect("chmod");
        }
    };
    open_up(dir, 0o700);
    for e in std::fs::read_dir(dir).expect("read dump dir") {
        let e = e.expect("dir entry");
        let p = e.path();
        let rel = p.strip_prefix(base).expect("under base");
        let key = format!("/{}", rel.to_str().expect("names are UTF-8"));
        let m = std::fs::symlink_metadata(&p).expect("lstat");
        let d = if m.is_dir() {
            walk_dump(base, &p, out);
            Dumped::Dir
        } else if m.file_type().is_symlink() {
            let t = std::fs::read_link(&p).expect("readlink");
            Dumped::Symlink(t.to_str().expect("utf-8 target").to_string())
        } else {
            open_up(&p, 0o600);
            Dumped::File(m.len())
        };
        out.insert(key, d);
    }
}

/// A loop device attached to an image (or a slice of one) and mounted
/// read-only; unmounted and detached when dropped, even when the test
/// fails.
pub(crate) struct Mounted {
    dev: String,
    dir: tempfile::TempDir,
    mounted: bool,
    /// The kernel log's last line before the mount.
    log_mark: Option<String>,
}

impl Mounted {
    /// `losetup -r --find --show [-o OFFSET --sizelimit SIZE] IMG`, then
    /// `mount -t KIND -o ro`.
    pub(crate) fn new(
        img: &Path,
        slice: Option<(u64, u64)>,
        kind: &str,
    ) -> Mounted {
        let mut cmd = Command::new("losetup");
        cmd.args(["-r", "--find", "--show"]);
        if let Some((offset, size)) = slice {
            cmd.args(["-o", &offset.to_string()]);
            cmd.args(["--sizelimit", &size.to_string()]);
        }
        let out = run(cmd.arg(img), "mount");
        let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let dir = tempfile::Builder::new()
            .prefix("lf-mnt-")
            .tempdir()
            .expect("mount point");
        let mut m = Mounted {
            dev,
            dir,
            mounted: false,
            log_mark: kernel_log().last().cloned(),
        };
        run(
            Command::new("mount")
                .args(["-t", kind, "-o", "ro", &m.dev])
                .arg(m.dir.path()),
            "mount",
        );
        m.mounted = true;
        m
    }

    /// Where it is mounted.
    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    /// [`kernel_walk`], then: the kernel logged no error or warning
    /// about this device since the mount.
    #[track_caller]
    pub(crate) fn walk(&self, tree: &Tree, ctx: &str) {
        kernel_walk(tree, self.root(), ctx);
        let log = kernel_log();
        let start = self
            .log_mark
            .as_ref()
            .and_then(|m| log.iter().rposition(|l| l == m))
            .map_or(0, |i| i + 1);
        let name = self.dev.trim_start_matches("/dev/");
        let tag = format!("({name})");
        let bad: Vec<&String> = log[start..]
            .iter()
            .filter(|l| l.contains(&tag))
            .filter(|l| {
                let l = l.to_lowercase();
                l.contains("error") || l.contains("warning")
            })
            .collect();
        assert!(bad.is_empty(), "{ctx}: the kernel says {bad:#?}");
    }
}

/// The kernel's log (`dmesg`), one entry a line.
fn kernel_log() -> Vec<String> {
    let (code, text) = tool("dmesg", "util-linux", &[]);
    assert_eq!(code, 0, "dmesg: {text}");
    text.lines().map(str::to_string).collect()
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if self.mounted {
            let ok = Command::new("umount")
                .arg(self.dir.path())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                let _ = Command::new("umount")
                    .arg("-l")
                    .arg(self.dir.path())
                    .status();
            }
        }
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

/// `None` as root; else the reason the kernel tests are skipped.
pub(crate) fn need_root() -> Option<&'static str> {
    (!is_root()).then_some("not root: loop devices and mount need root")
}

/// The kernel's view of the mounted tree at `root` equals `tree`:
/// names of every directory, type, permissions, owner, time (clamped),
/// link count, hard-link identity, bytes, link targets, device numbers
/// and attributes.
pub(crate) fn kernel_walk(tree: &Tree, root: &Path, ctx: &str) {
    let counts = tree.link_counts();
    let lf = GuestPath::new("/lost+found").expect("path");
    let has_lf = tree.get(&lf).is_some();
    let mut children: BTreeMap<GuestPath, BTreeSet<String>> = BTreeMap::new();
    let mut ino_of: BTreeMap<InodeId, u64> = BTreeMap::new();
    let mut id_of: BTreeMap<u64, InodeId> = BTreeMap::new();
    for (path, id, node) in tree.iter() {
        let ctx = format!("{ctx}: {path:?}");
        if let Some(parent) = path.parent() {
            let name = path.file_name().expect("name").to_string();
            children.entry(parent).or_default().insert(name);
        }
        let host = root.join(path.relative());
        let m = std::fs::symlink_metadata(&host)
            .unwrap_or_else(|e| panic!("{ctx}: lstat: {e}"));
        let ft = m.file_type();
        let type_ok = match &node.kind {
            Kind::File(_) => ft.is_file(),
            Kind::Dir => ft.is_dir(),
            Kind::Symlink(_) => ft.is_symlink(),
            Kind::CharDev { .. } => ft.is_char_device(),
            Kind::BlockDev { .. } => ft.is_block_device(),
            Kind::Fifo => ft.is_fifo(),
            Kind::Socket => ft.is_socket(),
        };
        assert!(type_ok, "{ctx}: {ft:?} for {:?}", node.kind.letter());
        let meta = &node.meta;
        assert_eq!(m.mode() & 0o7777, meta.mode, "{ctx}: mode");
        assert_eq!((m.uid(), m.gid()), (meta.uid, meta.gid), "{ctx}: owner");
        assert_eq!(m.mtime(), clamped(meta.mtime, TIME), "{ctx}: mtime");
        let mut links = u64::from(counts[&id]);
        if path.is_root() && !has_lf {
            links += 1;
        }
        assert_eq!(m.nlink(), links, "{ctx}: links");
        assert_eq!(*ino_of.entry(id).or_insert(m.ino()), m.ino(), "{ctx}");
        assert_eq!(*id_of.entry(m.ino()).or_insert(id), id, "{ctx}");
        match &node.kind {
            Kind::File(c) => {
                assert_eq!(m.len(), c.len(), "{ctx}: size");
                let got = std::fs::read(&host).expect("read");
                assert!(got == tree.spool().read(c).expect("spool"), "{ctx}");
            }
            Kind::Symlink(t) => {
                let got = std::fs::read_link(&host).expect("readlink");
                assert_eq!(got.to_str(), Some(t.as_str()), "{ctx}");
            }
            Kind::CharDev { major, minor }
            | Kind::BlockDev { major, minor } => {
                let rdev = m.rdev();
                assert_eq!(
                    (rustix::fs::major(rdev), rustix::fs::minor(rdev)),
                    (*major, *minor),
                    "{ctx}: device numbers"
                );
            }
            _ => {}
        }
        assert_eq!(xattrs(&host), meta.xattrs, "{ctx}: attributes");
    }
    children.entry(GuestPath::root()).or_default();
    if !has_lf {
        children
            .entry(GuestPath::root())
            .or_default()
            .insert("lost+found".into());
        children.insert(lf, BTreeSet::new());
    }
    for (dir, want) in children {
        let host = root.join(dir.relative());
        let got: BTreeSet<String> = std::fs::read_dir(&host)
            .unwrap_or_else(|e| panic!("{ctx}: {dir:?}: {e}"))
            .map(|e| {
                let name = e.expect("entry").file_name();
                name.to_str().expect("UTF-8 name").to_string()
            })
            .collect();
        assert_eq!(got, want, "{ctx}: names in {dir:?}");
    }
}

/// Every extended attribute of `path` (not following a symlink), as
/// the kernel returns them.
fn xattrs(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut list = vec![0u8; 65536];
    let n = rustix::fs::llistxattr(path, &mut list[..])
        .unwrap_or_else(|e| panic!("{path:?}: listxattr: {e}"));
    let mut out = BTreeMap::new();
    for name in list[..n].split(|&b| b == 0).filter(|s| !s.is_empty()) {
        let name = std::str::from_utf8(name).expect("UTF-8 name");
        let mut v = vec![0u8; 65536];
        let len = rustix::fs::lgetxattr(path, name, &mut v[..])
            .unwrap_or_else(|e| panic!("{path:?}: getxattr {name}: {e}"));
        v.truncate(len);
        out.insert(name.to_string(), v);
    }
    out
}

/// The seed of a property run: `LUNFORGE_PROP_SEED` (decimal or 0x
/// hex) or a fresh one from the clock.
pub(crate) fn prop_seed() -> u64 {
    match std::env::var("LUNFORGE_PROP_SEED") {
        Ok(s) => {
            let s = s.trim();
            let parsed = match s.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16),
                None => s.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("LUNFORGE_PROP_SEED={s:?}"))
        }
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5eed),
    }
}

/// A resolved recipe with the given disk and partitions (`use`, size or
/// `None` for `rest`, label), read from TOML as a user writes it.
pub(crate) fn disk_recipe(
    size: u64,
    table: &str,
    parts: &[(&str, Option<u64>, Option<&str>)],
) -> Recipe {
    let mut text = format!(
        "[image]\nname = \"virtual01\"\nsize = \"{size}\"\ntable = \"{table}\"\n"
    );
    for (i, (usage, size, label)) in parts.iter().enumerate() {
        text.push_str(&format!("\n[[partitions]]\nuse = \"{usage}\"\n"));
        match size {
            Some(s) => text.push_str(&format!("size = \"{s}\"\n")),
            None => text.push_str("size = \"rest\"\n"),
        }
        match *usage {
            "root" | "data" => text.push_str("fs = \"ext2\"\n"),
            "esp" => text.push_str("fs = \"vfat\"\n"),
            _ => {}
        }
        if *usage == "data" {
            // Each data partition its own mount point.
            text.push_str(&format!("mount = \"/srv/{i}\"\n"));
        }
        if let Some(l) = label {
            text.push_str(&format!("label = \"{l}\"\n"));
        }
    }
    text.push_str(
        "\n[system]\nsuite = \"trixie\"\narchitecture = \"amd64\"\n\
         mirror = \"http://mirror.invalid/debian\"\n",
    );
    let file = lunforge::recipe::parse("test.toml", &text, &[])
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    lunforge::recipe::resolve::resolve(
        "test.toml",
        None,
        file,
        Path::new("/nonexistent"),
    )
    .unwrap_or_else(|e| panic!("{e}\n{text}"))
}
