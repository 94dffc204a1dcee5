//! The tree: lunforge's single in-memory model of the guest's file
//! system, from which the tarball and the file system images are written.
//!
//! Paths map to inodes, so hard links are real (several paths, one
//! inode). Contents are spooled ([`content`]). Paths are resolved inside
//! the guest, never on the host: a directory symlink in the tree is
//! followed when it is an intermediate component, the way dpkg follows
//! `/bin -> usr/bin` on a merged-/usr system, while a resolution that
//! would leave the root, or loops, is refused. Iteration is in byte order
//! of the path, so every parent comes before its children and every
//! output is deterministic.

pub mod content;
pub mod devtable;
pub mod host;
pub mod node;
pub mod path;

use std::collections::BTreeMap;

pub use content::{Content, Spool};
pub use node::{Inode, InodeId, Kind, Meta};
pub use path::GuestPath;

/// Errors of tree operations; each names the path.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The path itself is invalid.
    #[error(transparent)]
    Path(#[from] path::Error),
    /// A parent directory does not exist.
    #[error("{path}: parent directory {parent} does not exist")]
    MissingParent {
        /// The path being created.
        path: GuestPath,
        /// The missing parent.
        parent: GuestPath,
    },
    /// An intermediate component is not a directory.
    #[error("{path}: {component} is not a directory")]
    NotADirectory {
        /// The path being resolved.
        path: GuestPath,
        /// The offending component.
        component: GuestPath,
    },
    /// A symlink resolution that leaves the guest's root.
    #[error("{path}: symlink {link} -> {target} points outside the root")]
    Escapes {
        /// The path being resolved.
        path: GuestPath,
        /// The symlink.
        link: GuestPath,
        /// Its target.
        target: String,
    },
    /// Too many symlinks (a loop).
    #[error("{path}: too many levels of symbolic links")]
    SymlinkLoop {
        /// The path being resolved.
        path: GuestPath,
    },
    /// A non-directory would replace a directory.
    #[error("{path}: cannot replace a directory with a {kind}")]
    ReplacesDirectory {
        /// The path.
        path: GuestPath,
        /// What would replace it.
        kind: &'static str,
    },
    /// The path does not exist.
    #[error("{path}: no such file or directory")]
    NotFound {
        /// The path.
        path: GuestPath,
    },
    /// A hard link to something that is not a regular file.
    #[error("{path}: cannot hard-link to {target}, which is a directory")]
    LinkToDirectory {
        /// The new link.
        path: GuestPath,
        /// The directory.
        target: GuestPath,
    },
    /// A hard link joins a path inside a subtree being split off (a
    /// separate file system) with one outside it.
    #[error(
        "{path} is a hard link to {other}, which is outside the separate \
         file system"
    )]
    LinkAcrossMount {
        /// The path inside the subtree.
        path: GuestPath,
        /// A link to the same inode outside it.
        other: GuestPath,
    },
    /// The spool failed.
    #[error("content spool: {0}")]
    Spool(#[from] std::io::Error),
}

/// Result of tree operations.
pub type Result<T> = std::result::Result<T, Error>;

/// Symlinks followed in one resolution before giving up (Linux's
/// `MAXSYMLINKS`).
const MAX_SYMLINKS: usize = 40;

/// The guest's file system.
#[derive(Debug, Clone)]
pub struct Tree {
    entries: BTreeMap<GuestPath, InodeId>,
    inodes: Vec<Inode>,
    spool: Spool,
}

impl Tree {
    /// A tree holding only the root directory (0755 root:root).
    pub fn new(mtime: i64) -> Result<Tree> {
        Ok(Tree::with_spool(mtime, Spool::new()?))
    }

    /// [`Tree::new`] with contents going to an existing spool (which
    /// already holds contents read before the tree existed, such as
    /// packages decompressed in parallel).
    pub fn with_spool(mtime: i64, spool: Spool) -> Tree {
        let mut t = Tree {
            entries: BTreeMap::new(),
            inodes: Vec::new(),
            spool,
        };
        let root = t.new_inode(Inode {
            meta: Meta::root(0o755, mtime),
            kind: Kind::Dir,
        });
        t.entries.insert(GuestPath::root(), root);
        t
    }

    fn new_inode(&mut self, inode: Inode) -> InodeId {
        // A tree with more than 2^32 inodes does not fit any file
        // system we write anyway.
        let id = InodeId(u32::try_from(self.inodes.len()).unwrap_or(u32::MAX));
        self.inodes.push(inode);
        id
    }

    /// The spool holding file contents.
    pub fn spool(&self) -> &Spool {
        &self.spool
    }

    /// The inode at `path`, without following a final symlink.
    pub fn get(&self, path: &GuestPath) -> Option<&Inode> {
        self.entries.get(path).map(|id| &self.inodes[id.0 as usize])
    }

    /// The inode id at `path`, without following a final symlink.
    pub fn id(&self, path: &GuestPath) -> Option<InodeId> {
        self.entries.get(path).copied()
    }

    /// The inode with this id.
    pub fn inode(&self, id: InodeId) -> &Inode {
        &self.inodes[id.0 as usize]
    }

    /// The inode with this id, for changes.
    pub fn inode_mut(&mut self, id: InodeId) -> &mut Inode {
        &mut self.inodes[id.0 as usize]
    }

    /// Every path with its inode, parents before children.
    pub fn iter(&self) -> impl Iterator<Item = (&GuestPath, InodeId, &Inode)> {
        self.entries
            .iter()
            .map(|(p, id)| (p, *id, &self.inodes[id.0 as usize]))
    }

    /// Number of paths (hard links count once each).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when the tree holds only the root.
    pub fn is_empty(&self) -> bool {
        self.entries.len() <= 1
    }

    /// Paths sharing inode `id` (hard links), in path order.
    pub fn links(&self, id: InodeId) -> Vec<&GuestPath> {
        self.entries
            .iter()
            .filter(|(_, i)| **i == id)
            .map(|(p, _)| p)
            .collect()
    }

    /// `path` with every symlink in it followed (the final component
    /// too, when `follow_last`), resolved inside the guest.
    pub fn resolve(
        &self,
        path: &GuestPath,
        follow_last: bool,
    ) -> Result<GuestPath> {
        let mut budget = MAX_SYMLINKS;
        self.resolve_in(path, path, follow_last, &mut budget)
    }

    fn resolve_in(
        &self,
        orig: &GuestPath,
        path: &GuestPath,
        follow_last: bool,
        budget: &mut usize,
    ) -> Result<GuestPath> {
        let comps: Vec<&str> = path.components().collect();
        let mut cur = GuestPath::root();
        for (i, c) in comps.iter().enumerate() {
            let next = cur.join(c)?;
            let last = i + 1 == comps.len();
            match self.get(&next).map(|n| &n.kind) {
                Some(Kind::Symlink(target)) if !last || follow_last => {
                    if *budget == 0 {
                        return Err(Error::SymlinkLoop { path: orig.clone() });
                    }
                    *budget -= 1;
                    let joined =
                        link_target(&cur, target).ok_or_else(|| {
                            Error::Escapes {
                                path: orig.clone(),
                                link: next.clone(),
                                target: target.clone(),
                            }
                        })?;
                    cur = self.resolve_in(orig, &joined, true, budget)?;
                }
                Some(Kind::Dir) | None => cur = next,
                Some(_) if last => cur = next,
                Some(_) => {
                    return Err(Error::NotADirectory {
                        path: orig.clone(),
                        component: next,
                    })
                }
            }
        }
        Ok(cur)
    }

    /// Where an entry for `path` goes: its parent resolved through
    /// symlinks (which must be an existing directory) joined with its
    /// name.
    pub fn placement(&self, path: &GuestPath) -> Result<GuestPath> {
        let Some(parent) = path.parent() else {
            return Ok(GuestPath::root());
        };
        let mut budget = MAX_SYMLINKS;
        let real_parent = self.resolve_in(path, &parent, true, &mut budget)?;
        match self.get(&real_parent).map(|n| &n.kind) {
            Some(Kind::Dir) => {}
            Some(_) => {
                return Err(Error::NotADirectory {
                    path: path.clone(),
                    component: real_parent,
                })
            }
            None => {
                return Err(Error::MissingParent {
                    path: path.clone(),
                    parent: real_parent,
                })
            }
        }
        // OK to unwrap: a path with a parent has a file name.
        let name = path.file_name().unwrap_or_default();
        Ok(real_parent.join(name)?)
    }

    /// Create or replace the entry at `path` (parents resolved through
    /// symlinks) with a new inode; returns where it went.
    ///
    /// dpkg's rules: a directory onto an existing directory only updates
    /// its metadata; a directory onto a symlink that leads to a directory
    /// keeps the symlink (merged /usr); anything else onto a directory is
    /// refused; a non-directory replaces a non-directory.
    pub fn insert(
        &mut self,
        path: &GuestPath,
        meta: Meta,
        kind: Kind,
    ) -> Result<GuestPath> {
        let at = self.placement(path)?;
        let existing = self.id(&at);
        if let Some(id) = existing {
            let old = &self.inodes[id.0 as usize].kind;
            match (old, &kind) {
                (Kind::Dir, Kind::Dir) => {
                    self.inodes[id.0 as usize].meta = meta;
                    return Ok(at);
                }
                (Kind::Symlink(_), Kind::Dir) => {
                    let real = self.resolve(&at, true)?;
                    if matches!(
                        self.get(&real).map(|n| &n.kind),
                        Some(Kind::Dir)
                    ) {
                        return Ok(at);
                    }
                }
                (Kind::Dir, other) => {
                    return Err(Error::ReplacesDirectory {
                        path: at,
                        kind: other.name(),
                    })
                }
                _ => {}
            }
        }
        let id = self.new_inode(Inode { meta, kind });
        self.entries.insert(at.clone(), id);
        Ok(at)
    }

    /// Create `path` and any missing parent as directories with `meta`
    /// (like `mkdir -p`); existing directories are left as they are.
    pub fn create_dirs(&mut self, path: &GuestPath, meta: &Meta) -> Result<()> {
        let mut cur = GuestPath::root();
        for c in path.components() {
            cur = cur.join(c)?;
            let real = self.resolve(&cur, true)?;
            match self.get(&real).map(|n| &n.kind) {
                Some(Kind::Dir) => {}
                Some(_) => {
                    return Err(Error::NotADirectory {
                        path: path.clone(),
                        component: cur,
                    })
                }
                None => {
                    self.insert(&cur, meta.clone(), Kind::Dir)?;
                }
            }
        }
        Ok(())
    }

    /// Store `bytes` as a regular file at `path`.
    pub fn write_file(
        &mut self,
        path: &GuestPath,
        meta: Meta,
        bytes: &[u8],
    ) -> Result<GuestPath> {
        let content = self.spool.store(&mut &bytes[..], bytes.len() as u64)?;
        self.insert(path, meta, Kind::File(content))
    }

    /// Store `len` bytes from `r` as a regular file at `path`.
    pub fn insert_file(
        &mut self,
        path: &GuestPath,
        meta: Meta,
        r: &mut dyn std::io::Read,
        len: u64,
    ) -> Result<GuestPath> {
        let content = self.spool.store(r, len)?;
        self.insert(path, meta, Kind::File(content))
    }

    /// Make `path` a hard link to the existing non-directory `target`.
    pub fn link(
        &mut self,
        path: &GuestPath,
        target: &GuestPath,
    ) -> Result<GuestPath> {
        let real = self.resolve(target, false)?;
        let id = self.id(&real).ok_or_else(|| Error::NotFound {
            path: target.clone(),
        })?;
        if matches!(self.inode(id).kind, Kind::Dir) {
            return Err(Error::LinkToDirectory {
                path: path.clone(),
                target: real,
            });
        }
        let at = self.placement(path)?;
        if let Some(old) = self.id(&at) {
            if matches!(self.inode(old).kind, Kind::Dir) {
                return Err(Error::ReplacesDirectory {
                    path: at,
                    kind: "hard link",
                });
            }
        }
        self.entries.insert(at.clone(), id);
        Ok(at)
    }

    /// Remove `path` (and, for a directory, everything below it).
    pub fn remove(&mut self, path: &GuestPath) -> Result<()> {
        if self.entries.remove(path).is_none() {
            return Err(Error::NotFound { path: path.clone() });
        }
        // Descendants share the string prefix, and strings with one
        // prefix are contiguous in byte order.
        let below: Vec<GuestPath> = self
            .entries
            .range(path.clone()..)
            .take_while(|(p, _)| p.as_str().starts_with(path.as_str()))
            .filter(|(p, _)| p.starts_with(path))
            .map(|(p, _)| p.clone())
            .collect();
        for p in below {
            self.entries.remove(&p);
        }
        Ok(())
    }

    /// Move everything below the directory `mount` into a tree of its
    /// own, rooted at `/` with `mount`'s metadata, and leave `mount` an
    /// empty directory here: the contents of a partition mounted there.
    /// Both trees share the spool. A hard link across the boundary is
    /// an error, since no file system can hold it.
    pub fn split_off(&mut self, mount: &GuestPath) -> Result<Tree> {
        let id = self
            .id(mount)
            .filter(|id| matches!(self.inode(*id).kind, Kind::Dir))
            .ok_or_else(|| Error::NotFound {
                path: mount.clone(),
            })?;
        let below: Vec<(GuestPath, InodeId)> = self
            .entries
            .range(mount.clone()..)
            .take_while(|(p, _)| p.as_str().starts_with(mount.as_str()))
            .filter(|(p, _)| p.starts_with(mount) && *p != mount)
            .map(|(p, id)| (p.clone(), *id))
            .collect();
        let moved: BTreeMap<InodeId, &GuestPath> =
            below.iter().map(|(p, id)| (*id, p)).collect();
        let outside = |o: &GuestPath| !o.starts_with(mount) || o == mount;
        if let Some((other, p)) = self.entries.iter().find_map(|(o, id)| {
            moved.get(id).filter(|_| outside(o)).map(|p| (o, *p))
        }) {
            return Err(Error::LinkAcrossMount {
                path: p.clone(),
                other: other.clone(),
            });
        }
        for (p, _) in &below {
            self.entries.remove(p);
        }
        let mut sub = Tree {
            entries: BTreeMap::new(),
            inodes: Vec::new(),
            spool: self.spool.clone(),
        };
        let root = sub.new_inode(self.inode(id).clone());
        sub.entries.insert(GuestPath::root(), root);
        let mut ids: BTreeMap<InodeId, InodeId> = BTreeMap::new();
        let prefix = mount.as_str().len();
        for (p, old) in below {
            let new = match ids.get(&old) {
                Some(n) => *n,
                None => {
                    let n = sub.new_inode(self.inode(old).clone());
                    ids.insert(old, n);
                    n
                }
            };
            let rel = if mount.is_root() {
                p.as_str().to_string()
            } else {
                p.as_str()[prefix..].to_string()
            };
            sub.entries.insert(GuestPath::new(&rel)?, new);
        }
        Ok(sub)
    }

    /// Number of links to each inode, as the file systems record it
    /// (directories: 2 + subdirectories).
    pub fn link_counts(&self) -> BTreeMap<InodeId, u32> {
        let mut counts: BTreeMap<InodeId, u32> = BTreeMap::new();
        for (path, id) in &self.entries {
            let inode = &self.inodes[id.0 as usize];
            if matches!(inode.kind, Kind::Dir) {
                *counts.entry(*id).or_default() += 2;
                if let Some(parent) = path.parent() {
                    if let Some(pid) = self.entries.get(&parent) {
                        *counts.entry(*pid).or_default() += 1;
                    }
                }
            } else {
                *counts.entry(*id).or_default() += 1;
            }
        }
        counts
    }
}

/// A symlink target resolved against the directory holding the link,
/// lexically; `None` when `..` would climb above the root.
fn link_target(dir: &GuestPath, target: &str) -> Option<GuestPath> {
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        dir.components().collect()
    };
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    GuestPath::new(&format!("/{}", parts.join("/"))).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> GuestPath {
        GuestPath::new(s).unwrap()
    }

    fn dir(t: &mut Tree, s: &str) {
        t.insert(&p(s), Meta::root(0o755, 0), Kind::Dir).unwrap();
    }

    fn file(t: &mut Tree, s: &str, body: &[u8]) -> Result<GuestPath> {
        t.insert_file(
            &p(s),
            Meta::root(0o644, 0),
            &mut &body[..],
            body.len() as u64,
        )
    }

    fn link(t: &mut Tree, s: &str, target: &str) {
        t.insert(&p(s), Meta::root(0o777, 0), Kind::Symlink(target.into()))
            .unwrap();
    }

    /// A merged-/usr skeleton: /usr/bin and /bin -> usr/bin.
    fn merged() -> Tree {
        let mut t = Tree::new(0).unwrap();
        dir(&mut t, "/usr");
        dir(&mut t, "/usr/bin");
        link(&mut t, "/bin", "usr/bin");
        t
    }

    #[test]
    fn split_off_moves_a_subtree_and_keeps_its_links() {
        let mut t = merged();
        dir(&mut t, "/srv");
        dir(&mut t, "/srv/www");
        dir(&mut t, "/srvx");
        file(&mut t, "/srv/www/a", b"a").unwrap();
        t.link(&p("/srv/b"), &p("/srv/www/a")).unwrap();
        file(&mut t, "/srvx/c", b"c").unwrap();
        let sub = t.split_off(&p("/srv")).unwrap();
        let paths: Vec<&str> = sub.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(paths, ["/", "/b", "/www", "/www/a"]);
        assert_eq!(sub.id(&p("/b")), sub.id(&p("/www/a")));
        assert!(t.get(&p("/srv")).is_some());
        assert!(t.get(&p("/srv/www")).is_none());
        assert!(t.get(&p("/srvx/c")).is_some());
        assert_eq!(sub.spool().read(&content(&sub, "/b")).unwrap(), b"a");

        file(&mut t, "/srvx/d", b"d").unwrap();
        t.link(&p("/usr/d"), &p("/srvx/d")).unwrap();
        let before = t.len();
        let e = t.split_off(&p("/srvx")).unwrap_err();
        assert_eq!(t.len(), before, "a refused split changed the tree");
        assert_eq!(
            e.to_string(),
            "/srvx/d is a hard link to /usr/d, which is outside the \
             separate file system"
        );
    }

    fn content(t: &Tree, s: &str) -> Content {
        match &t.get(&p(s)).unwrap().kind {
            Kind::File(c) => c.clone(),
            k => panic!("{s}: {k:?}"),
        }
    }

    #[test]
    fn writes_through_directory_symlinks_like_dpkg() {
        let mut t = merged();
        let at = file(&mut t, "/bin/sh", b"#!").unwrap();
        assert_eq!(at.as_str(), "/usr/bin/sh");
        // A package shipping ./bin/ as a directory keeps the symlink.
        dir(&mut t, "/bin");
        assert!(matches!(t.get(&p("/bin")).unwrap().kind, Kind::Symlink(_)));
        let paths: Vec<&str> = t.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(paths, ["/", "/bin", "/usr", "/usr/bin", "/usr/bin/sh"]);
    }

    #[test]
    fn refuses_escapes_loops_and_missing_parents() {
        let mut t = merged();
        link(&mut t, "/usr/out", "../../../etc");
        let e = file(&mut t, "/usr/out/passwd", b"x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/usr/out/passwd: symlink /usr/out -> ../../../etc points \
             outside the root"
        );
        link(&mut t, "/a", "b");
        link(&mut t, "/b", "a");
        assert!(matches!(
            file(&mut t, "/a/x", b""),
            Err(Error::SymlinkLoop { .. })
        ));
        assert!(matches!(
            file(&mut t, "/nope/x", b""),
            Err(Error::MissingParent { .. })
        ));
        file(&mut t, "/usr/f", b"").unwrap();
        assert!(matches!(
            file(&mut t, "/usr/f/x", b""),
            Err(Error::NotADirectory { .. })
        ));
        assert!(matches!(
            file(&mut t, "/usr", b""),
            Err(Error::ReplacesDirectory { .. })
        ));
        // Absolute targets stay inside the guest.
        link(&mut t, "/abs", "/usr/bin");
        assert_eq!(
            file(&mut t, "/abs/ls", b"").unwrap().as_str(),
            "/usr/bin/ls"
        );
    }

    #[test]
    fn hard_links_share_an_inode() {
        let mut t = merged();
        file(&mut t, "/usr/bin/a", b"data").unwrap();
        t.link(&p("/bin/b"), &p("/usr/bin/a")).unwrap();
        let a = t.id(&p("/usr/bin/a")).unwrap();
        assert_eq!(t.id(&p("/usr/bin/b")), Some(a));
        assert_eq!(t.links(a).len(), 2);
        assert_eq!(t.link_counts()[&a], 2);
        let usr = t.id(&p("/usr")).unwrap();
        assert_eq!(t.link_counts()[&usr], 3);
        assert!(t.link(&p("/x"), &p("/usr")).is_err());
    }

    #[test]
    fn remove_takes_the_subtree() {
        let mut t = merged();
        file(&mut t, "/usr/bin/a", b"").unwrap();
        dir(&mut t, "/usr-x");
        t.remove(&p("/usr")).unwrap();
        let paths: Vec<&str> = t.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(paths, ["/", "/bin", "/usr-x"]);
        assert!(t.remove(&p("/usr")).is_err());
    }

    #[test]
    fn contents_round_trip() {
        let mut t = merged();
        let big = vec![7u8; 100_000];
        file(&mut t, "/usr/big", &big).unwrap();
        let Kind::File(c) = &t.get(&p("/usr/big")).unwrap().kind else {
            panic!("not a file")
        };
        assert_eq!(t.spool().read(c).unwrap(), big);
    }
}
