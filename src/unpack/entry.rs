//! One entry of a package's data archive, decoded and validated but not
//! yet placed in a tree.

use crate::tree::{Content, GuestPath, Meta};

/// A `data.tar` entry: its path as the package names it, its metadata
/// and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The member name, normalised (`./usr/bin/ls` is `/usr/bin/ls`).
    pub path: GuestPath,
    /// Permission bits (setuid, setgid and sticky included), numeric
    /// owner and group, mtime and xattrs, from the tar header and its pax
    /// extensions.
    pub meta: Meta,
    /// What the entry is.
    pub kind: EntryKind,
}

/// What a `data.tar` entry is. Device nodes and sockets are not here:
/// packages must not ship them, and reading refuses them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file, its contents already in the spool.
    File(Content),
    /// A directory.
    Dir,
    /// A symbolic link, its target exactly as written in the archive.
    Symlink(String),
    /// A hard link to an earlier non-directory entry of the same archive
    /// (as that entry's member path). The link shares the target's inode,
    /// so the link entry's own [`Entry::meta`] is not used.
    HardLink(GuestPath),
    /// A named pipe.
    Fifo,
}

impl EntryKind {
    /// A one-letter name, as `tar -tv` shows it (`h` for a hard link).
    pub fn letter(&self) -> char {
        match self {
            EntryKind::File(_) => '-',
            EntryKind::Dir => 'd',
            EntryKind::Symlink(_) => 'l',
            EntryKind::HardLink(_) => 'h',
            EntryKind::Fifo => 'p',
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters() {
        let p = GuestPath::new("/a").unwrap();
        let kinds = [
            EntryKind::File(Content::inline(&b""[..])),
            EntryKind::Dir,
            EntryKind::Symlink("a".into()),
            EntryKind::HardLink(p),
            EntryKind::Fifo,
        ];
        let s: String = kinds.iter().map(EntryKind::letter).collect();
        assert_eq!(s, "-dlhp");
    }
}
