//! The nodes of the tree: inodes with their metadata and kind.

use std::collections::BTreeMap;

use super::content::Content;

/// File type bits and `st_mode` values as in `<sys/stat.h>`; the tree
/// keeps the type in [`Kind`] and only the permission bits in
/// [`Meta::mode`].
pub const PERMISSION_BITS: u32 = 0o7777;

/// Ownership, permissions, time and extended attributes of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Permission bits including setuid/setgid/sticky (`0o7777` mask).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Extended attributes by full name (`security.capability`, …).
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

impl Meta {
    /// `mode` owned by root:root at time `mtime`, no xattrs.
    pub fn root(mode: u32, mtime: i64) -> Meta {
        Meta {
            mode: mode & PERMISSION_BITS,
            uid: 0,
            gid: 0,
            mtime,
            xattrs: BTreeMap::new(),
        }
    }
}

/// What a node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File(Content),
    /// A directory.
    Dir,
    /// A symbolic link with its target as written.
    Symlink(String),
    /// A character device.
    CharDev {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    BlockDev {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
}

impl Kind {
    /// The `S_IF*` type bits of this kind.
    pub fn type_bits(&self) -> u32 {
        match self {
            Kind::File(_) => 0o100000,
            Kind::Dir => 0o040000,
            Kind::Symlink(_) => 0o120000,
            Kind::CharDev { .. } => 0o020000,
            Kind::BlockDev { .. } => 0o060000,
            Kind::Fifo => 0o010000,
            Kind::Socket => 0o140000,
        }
    }

    /// The kind's name in messages ("directory", "symlink", …).
    pub fn name(&self) -> &'static str {
        match self {
            Kind::File(_) => "file",
            Kind::Dir => "directory",
            Kind::Symlink(_) => "symlink",
            Kind::CharDev { .. } => "character device",
            Kind::BlockDev { .. } => "block device",
            Kind::Fifo => "fifo",
            Kind::Socket => "socket",
        }
    }

    /// A one-letter name as `ls -l` and `tar -tv` show it.
    pub fn letter(&self) -> char {
        match self {
            Kind::File(_) => '-',
            Kind::Dir => 'd',
            Kind::Symlink(_) => 'l',
            Kind::CharDev { .. } => 'c',
            Kind::BlockDev { .. } => 'b',
            Kind::Fifo => 'p',
            Kind::Socket => 's',
        }
    }
}

/// One inode: shared by every hard link to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inode {
    /// Metadata.
    pub meta: Meta,
    /// Kind and content.
    pub kind: Kind,
}

/// The index of an inode in its tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InodeId(pub u32);
