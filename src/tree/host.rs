//! The tree and a host directory: written out (`materialise`) for the
//! chroot strategy, and read back (`read_dir`) afterwards, or from the
//! directory `lunforge mkfs --from DIR` is given.
//!
//! Writing out needs root for owners and device nodes, which is why only
//! the chroot strategy, which is privileged anyway, does it. Reading back
//! needs no privilege. Both go through `rustix` for the calls std lacks
//! (`mknod`, `lchown`, extended attributes, timestamps of symlinks),
//! so no `unsafe` is needed here.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, Timespec, Timestamps};

use super::{GuestPath, Kind, Meta, Tree};

/// Errors of crossing between tree and host; each names the host path.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A host file system operation failed.
    #[error("{path}: {op}: {source}")]
    Io {
        /// The host path.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The error.
        source: io::Error,
    },
    /// The tree refused an entry read back.
    #[error(transparent)]
    Tree(#[from] super::Error),
    /// A host file name that is no valid guest path component.
    #[error(transparent)]
    Path(#[from] super::path::Error),
    /// A host file name that is not UTF-8.
    #[error("{0}: file name is not UTF-8")]
    NotUtf8(PathBuf),
    /// A signal stopped the copy ([`crate::cancel`]).
    #[error(transparent)]
    Interrupted(#[from] crate::cancel::Interrupted),
}

/// Result of host operations.
pub type Result<T> = std::result::Result<T, Error>;

fn io_err(path: &Path, op: &'static str) -> impl FnOnce(io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io { path, op, source }
}

fn errno(
    path: &Path,
    op: &'static str,
) -> impl FnOnce(rustix::io::Errno) -> Error {
    let path = path.to_path_buf();
    move |e| Error::Io {
        path,
        op,
        source: e.into(),
    }
}

/// Write `tree` out below the existing, empty directory `dir`, with
/// owners, modes, device nodes, hard links, xattrs and times.
pub fn materialise(tree: &Tree, dir: &Path) -> Result<()> {
    let mut first_link: HashMap<super::InodeId, PathBuf> = HashMap::new();
    let mut dirs = Vec::new();
    for (path, id, inode) in tree.iter() {
        crate::cancel::check()?;
        let host = dir.join(path.relative());
        if let Some(first) = first_link.get(&id) {
            fs::hard_link(first, &host).map_err(io_err(&host, "link"))?;
            continue;
        }
        match &inode.kind {
            Kind::Dir => {
                if !path.is_root() {
                    fs::create_dir(&host).map_err(io_err(&host, "mkdir"))?;
                }
                dirs.push((host.clone(), inode.meta.clone()));
                continue;
            }
            Kind::File(c) => {
                let mut out =
                    fs::File::create(&host).map_err(io_err(&host, "create"))?;
                let mut r = tree
                    .spool()
                    .open(c)
                    .map_err(io_err(&host, "read spool"))?;
                io::copy(&mut r, &mut out).map_err(io_err(&host, "write"))?;
            }
            Kind::Symlink(t) => std::os::unix::fs::symlink(t, &host)
                .map_err(io_err(&host, "symlink"))?,
            Kind::CharDev { major, minor } => {
                mknod(&host, FileType::CharacterDevice, *major, *minor)?
            }
            Kind::BlockDev { major, minor } => {
                mknod(&host, FileType::BlockDevice, *major, *minor)?
            }
            Kind::Fifo => mknod(&host, FileType::Fifo, 0, 0)?,
            Kind::Socket => continue,
        }
        apply_meta(&host, &inode.meta, matches!(inode.kind, Kind::Symlink(_)))?;
        first_link.insert(id, host);
    }
    // Directories last, deepest first, so that writing into them does
    // not change their times and a read-only mode does not stop us.
    for (host, meta) in dirs.iter().rev() {
        apply_meta(host, meta, false)?;
    }
    Ok(())
}

fn mknod(path: &Path, ft: FileType, major: u32, minor: u32) -> Result<()> {
    rfs::mknodat(
        rfs::CWD,
        path,
        ft,
        Mode::from_raw_mode(0o600),
        rfs::makedev(major, minor),
    )
    .map_err(errno(path, "mknod"))
}

/// Owner, then mode (chown clears setuid), xattrs, then times.
fn apply_meta(path: &Path, meta: &Meta, symlink: bool) -> Result<()> {
    rfs::chownat(
        rfs::CWD,
        path,
        Some(rfs::Uid::from_raw(meta.uid)),
        Some(rfs::Gid::from_raw(meta.gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(errno(path, "lchown"))?;
    if !symlink {
        fs::set_permissions(path, fs::Permissions::from_mode(meta.mode))
            .map_err(io_err(path, "chmod"))?;
    }
    for (name, value) in &meta.xattrs {
        rfs::lsetxattr(path, name.as_str(), value, rfs::XattrFlags::empty())
            .map_err(errno(path, "setxattr"))?;
    }
    let t = Timespec {
        tv_sec: meta.mtime,
        tv_nsec: 0,
    };
    rfs::utimensat(
        rfs::CWD,
        path,
        &Timestamps {
            last_access: t,
            last_modification: t,
        },
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(errno(path, "utimensat"))
}

/// Read the directory `dir` into a new tree: every entry with its owner,
/// mode, xattrs and mtime; contents copied into the tree's spool (so the
/// directory may go away afterwards); hard links kept as shared inodes.
/// Sockets are kept as sockets; anything under a path in `skip` (given
/// relative to `dir`, e.g. `/proc`) is left out but the directory itself
/// is kept.
pub fn read_dir(dir: &Path, skip: &[GuestPath]) -> Result<Tree> {
    read_dir_with(dir, skip, Contents::Copy)
}

/// [`read_dir`], but regular files are referenced by host path
/// ([`super::Content::Host`]) rather than copied: for a directory that
/// outlives the tree, such as `lunforge mkfs --from DIR`, whose contents
/// are then read once, straight into the image.
pub fn read_dir_referenced(dir: &Path, skip: &[GuestPath]) -> Result<Tree> {
    read_dir_with(dir, skip, Contents::Reference)
}

/// How [`walk`] records file contents.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Contents {
    /// Into the tree's spool.
    Copy,
    /// By host path.
    Reference,
}

fn read_dir_with(
    dir: &Path,
    skip: &[GuestPath],
    how: Contents,
) -> Result<Tree> {
    // `--from LINK` means the directory the link leads to, not the
    // link's own mode (0777) and owner.
    let dir = &fs::canonicalize(dir).map_err(io_err(dir, "stat"))?;
    let root_meta = fs::symlink_metadata(dir).map_err(io_err(dir, "stat"))?;
    let mut tree = Tree::new(root_meta.mtime())?;
    let root = GuestPath::root();
    let id = tree
        .id(&root)
        .ok_or(super::Error::NotFound { path: root.clone() })?;
    tree.inode_mut(id).meta = meta_of(dir, &root_meta, false)?;
    let mut seen: HashMap<(u64, u64), GuestPath> = HashMap::new();
    walk(&mut tree, dir, &root, skip, how, &mut seen)?;
    Ok(tree)
}

fn walk(
    tree: &mut Tree,
    host_dir: &Path,
    guest_dir: &GuestPath,
    skip: &[GuestPath],
    how: Contents,
    seen: &mut HashMap<(u64, u64), GuestPath>,
) -> Result<()> {
    let mut names: Vec<_> = fs::read_dir(host_dir)
        .map_err(io_err(host_dir, "readdir"))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()
        .map_err(io_err(host_dir, "readdir"))?;
    names.sort();
    for name in names {
        crate::cancel::check()?;
        let host = host_dir.join(&name);
        let name = name.to_str().ok_or_else(|| Error::NotUtf8(host.clone()))?;
        let guest = guest_dir.join(name)?;
        let md = fs::symlink_metadata(&host).map_err(io_err(&host, "lstat"))?;
        let ft = md.file_type();
        if !ft.is_dir() && md.nlink() > 1 {
            if let Some(first) = seen.get(&(md.dev(), md.ino())) {
                tree.link(&guest, &first.clone())?;
                continue;
            }
            seen.insert((md.dev(), md.ino()), guest.clone());
        }
        let meta = meta_of(&host, &md, ft.is_symlink())?;
        let kind = kind_of(&host, &md)?;
        match kind {
            Some(Kind::File(_)) if how == Contents::Reference => {
                let content = super::Content::Host {
                    path: host.clone(),
                    len: md.len(),
                };
                tree.insert(&guest, meta, Kind::File(content))?;
            }
            Some(Kind::File(_)) => {
                let mut f =
                    fs::File::open(&host).map_err(io_err(&host, "open"))?;
                tree.insert_file(&guest, meta, &mut f, md.len())?;
            }
            Some(k) => {
                let is_dir = matches!(k, Kind::Dir);
                tree.insert(&guest, meta, k)?;
                if is_dir && !skip.contains(&guest) {
                    walk(tree, &host, &guest, skip, how, seen)?;
                }
            }
            None => {}
        }
    }
    Ok(())
}

/// The tree kind of a host entry (`File` with placeholder content; the
/// caller streams it).
fn kind_of(path: &Path, md: &fs::Metadata) -> Result<Option<Kind>> {
    use std::os::unix::fs::FileTypeExt;
    let ft = md.file_type();
    let dev = || {
        let rdev = md.rdev();
        (rfs::major(rdev), rfs::minor(rdev))
    };
    Ok(Some(if ft.is_file() {
        Kind::File(super::Content::inline(Vec::new()))
    } else if ft.is_dir() {
        Kind::Dir
    } else if ft.is_symlink() {
        let t = fs::read_link(path).map_err(io_err(path, "readlink"))?;
        Kind::Symlink(
            t.to_str()
                .ok_or_else(|| Error::NotUtf8(path.to_path_buf()))?
                .to_string(),
        )
    } else if ft.is_char_device() {
        let (major, minor) = dev();
        Kind::CharDev { major, minor }
    } else if ft.is_block_device() {
        let (major, minor) = dev();
        Kind::BlockDev { major, minor }
    } else if ft.is_fifo() {
        Kind::Fifo
    } else if ft.is_socket() {
        Kind::Socket
    } else {
        return Ok(None);
    }))
}

fn meta_of(path: &Path, md: &fs::Metadata, symlink: bool) -> Result<Meta> {
    let mut xattrs = std::collections::BTreeMap::new();
    if !symlink {
        let mut names = vec![0u8; 4096];
        let n = match rfs::llistxattr(path, &mut names) {
            Ok(n) => n,
            Err(rustix::io::Errno::NOTSUP) => 0,
            Err(e) => return Err(errno(path, "listxattr")(e)),
        };
        for name in names[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
            let name = String::from_utf8_lossy(name).into_owned();
            let mut value = vec![0u8; 65536];
            let len = rfs::lgetxattr(path, name.as_str(), &mut value)
                .map_err(errno(path, "getxattr"))?;
            value.truncate(len);
            xattrs.insert(name, value);
        }
    }
    Ok(Meta {
        mode: md.mode() & super::node::PERMISSION_BITS,
        uid: md.uid(),
        gid: md.gid(),
        mtime: md.mtime(),
        xattrs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree of every kind the current user can create (device nodes
    /// only as root), owned by the current user.
    fn sample() -> Tree {
        let uid = rustix::process::geteuid().as_raw();
        let gid = rustix::process::getegid().as_raw();
        let root = uid == 0;
        let meta = |mode| Meta {
            mode,
            uid,
            gid,
            mtime: 1_700_000_000,
            xattrs: Default::default(),
        };
        let mut t = Tree::new(1_700_000_000).unwrap();
        let p = |s| GuestPath::new(s).unwrap();
        t.insert(&p("/etc"), meta(0o755), Kind::Dir).unwrap();
        let big = vec![42u8; 70_000];
        t.insert_file(
            &p("/etc/big"),
            meta(0o640),
            &mut &big[..],
            big.len() as u64,
        )
        .unwrap();
        t.insert_file(&p("/etc/small"), meta(0o4755), &mut &b"hi"[..], 2)
            .unwrap();
        t.link(&p("/etc/hard"), &p("/etc/small")).unwrap();
        t.insert(&p("/etc/link"), meta(0o777), Kind::Symlink("small".into()))
            .unwrap();
        t.insert(&p("/etc/fifo"), meta(0o600), Kind::Fifo).unwrap();
        if root {
            t.insert(
                &p("/etc/null"),
                meta(0o666),
                Kind::CharDev { major: 1, minor: 3 },
            )
            .unwrap();
        }
        t.insert(&p("/ro"), meta(0o555), Kind::Dir).unwrap();
        t
    }

    fn listing(t: &Tree) -> Vec<String> {
        t.iter()
            .skip(1)
            .map(|(p, id, n)| {
                let content = match &n.kind {
                    Kind::File(c) => {
                        t.spool().read(c).unwrap().len().to_string()
                    }
                    k => format!("{k:?}"),
                };
                format!(
                    "{p} {:o} {}:{} {} {content} links={}",
                    n.meta.mode,
                    n.meta.uid,
                    n.meta.gid,
                    n.meta.mtime,
                    t.links(id).len()
                )
            })
            .collect()
    }

    #[test]
    fn materialise_then_read_back_is_the_same_tree() {
        let tree = sample();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("root");
        fs::create_dir(&out).unwrap();
        materialise(&tree, &out).unwrap();
        let back = read_dir(&out, &[]).unwrap();
        assert_eq!(listing(&back), listing(&tree));
        assert!(fs::symlink_metadata(out.join("ro"))
            .unwrap()
            .permissions()
            .readonly());
    }

    #[test]
    fn a_symlink_to_the_directory_reads_as_the_directory() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        fs::create_dir(&real).unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o750)).unwrap();
        fs::write(real.join("f"), b"x").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("real", &link).unwrap();
        for t in [
            read_dir(&link, &[]).unwrap(),
            read_dir_referenced(&link, &[]).unwrap(),
        ] {
            let root = t.get(&GuestPath::root()).unwrap();
            assert_eq!(root.meta.mode, 0o750);
            assert!(t.get(&GuestPath::new("/f").unwrap()).is_some());
        }
    }

    #[test]
    fn skipped_directories_are_kept_empty() {
        let tree = sample();
        let dir = tempfile::tempdir().unwrap();
        materialise(&tree, dir.path()).unwrap();
        let back =
            read_dir(dir.path(), &[GuestPath::new("/etc").unwrap()]).unwrap();
        let paths: Vec<&str> =
            back.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(paths, ["/", "/etc", "/ro"]);
    }
}
