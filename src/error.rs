//! The crate's error: one variant per stage, each wrapping that stage's
//! typed error, so a caller can tell which stage failed and the message
//! still carries the stage's evidence (file, line, package, URL).

use std::path::PathBuf;

/// Any lunforge failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Loading the recipe failed.
    #[error(transparent)]
    Recipe(#[from] crate::recipe::Error),
    /// Reading the repository failed.
    #[error(transparent)]
    Repo(#[from] crate::repo::Error),
    /// The keyring cannot be used.
    #[error("keyring: {0}")]
    Keyring(#[from] crate::repo::inrelease::Error),
    /// Resolving dependencies failed.
    #[error(transparent)]
    Resolve(#[from] crate::resolve::Error),
    /// A download failed.
    #[error(transparent)]
    Fetch(#[from] crate::fetch::Error),
    /// The download cache failed.
    #[error(transparent)]
    Cache(#[from] crate::fetch::cache::Error),
    /// Unpacking a package failed.
    #[error(transparent)]
    Unpack(#[from] crate::unpack::Error),
    /// Making the installed system failed.
    #[error(transparent)]
    Configure(#[from] crate::configure::Error),
    /// Making the boot artifacts failed.
    #[error(transparent)]
    Boot(#[from] crate::boot::Error),
    /// Writing an output failed.
    #[error(transparent)]
    Output(#[from] crate::output::tar::Error),
    /// Reading the guest for its SBOM failed.
    #[error(transparent)]
    Sbom(#[from] crate::output::spdx::Error),
    /// The disk layout or partition table failed.
    #[error(transparent)]
    Disk(#[from] crate::disk::Error),
    /// A partition's file system or swap area failed.
    #[error(transparent)]
    Filesystems(#[from] crate::filesystems::Error),
    /// `lunforge inspect` failed.
    #[error(transparent)]
    Inspect(#[from] crate::inspect::Error),
    /// `lunforge mkfs` failed.
    #[error(transparent)]
    Mkfs(#[from] crate::mkfs::Error),
    /// The output image failed.
    #[error(transparent)]
    Sink(#[from] crate::sink::Error),
    /// The lockfile failed.
    #[error(transparent)]
    Lock(#[from] crate::resolve::lockfile::Error),
    /// A signal stopped the build ([`crate::cancel`]).
    #[error(transparent)]
    Interrupted(#[from] crate::cancel::Interrupted),
    /// Writing a device or LUN in place failed part way.
    #[error("{target} now holds an incomplete image: {source}")]
    Incomplete {
        /// The target.
        target: String,
        /// What failed.
        source: Box<Error>,
    },
    /// The image could not be put in place, and the new boot directory,
    /// already in place, could not be swapped back for the old one.
    #[error(
        "{source}; and the new boot files stay beside the old image: {undo}"
    )]
    Uncommitted {
        /// Why the image could not be put in place.
        source: Box<Error>,
        /// Why the old boot files could not be put back.
        undo: Box<crate::boot::Error>,
    },
    /// The output directory (or, while it does not exist, the directory
    /// it would be made in) cannot be written: found before anything is
    /// downloaded.
    #[error("output directory {path}: {source}")]
    OutputDir {
        /// The directory.
        path: PathBuf,
        /// Why it cannot be written.
        source: std::io::Error,
    },
    /// An output cannot be written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A mirror URL or download error is the repository stage's.
impl From<crate::repo::transport::Error> for Error {
    fn from(e: crate::repo::transport::Error) -> Self {
        Error::Repo(e.into())
    }
}

/// The initrd is made in the boot stage.
impl From<crate::boot::initrd::Error> for Error {
    fn from(e: crate::boot::initrd::Error) -> Self {
        Error::Boot(e.into())
    }
}

/// Reading a host's modules directory is part of the boot stage.
impl From<crate::tree::host::Error> for Error {
    fn from(e: crate::tree::host::Error) -> Self {
        Error::Boot(e.into())
    }
}

/// An initiator error outside a sink (discovery, listing).
impl From<crate::iscsi::Error> for Error {
    fn from(e: crate::iscsi::Error) -> Self {
        Error::Sink(e.into())
    }
}

impl Error {
    /// Whether the message already says that a device holds a partial
    /// image (a failed device write does).
    pub fn says_incomplete(&self) -> bool {
        matches!(
            self,
            Error::Incomplete { .. }
                | Error::Sink(crate::sink::Error::Device { .. })
        )
    }
}

/// Result of lunforge operations.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        let e = Error::Io {
            path: "out/x".into(),
            source: std::io::Error::other("disk full"),
        };
        assert_eq!(e.to_string(), "out/x: disk full");
        let ro = Error::OutputDir {
            path: "out".into(),
            source: std::io::Error::from_raw_os_error(30),
        };
        assert_eq!(
            ro.to_string(),
            "output directory out: Read-only file system (os error 30)"
        );
        assert!(!e.says_incomplete());
        let e = Error::Incomplete {
            target: "/dev/sdb".into(),
            source: Box::new(e),
        };
        assert_eq!(
            e.to_string(),
            "/dev/sdb now holds an incomplete image: out/x: disk full"
        );
        assert!(e.says_incomplete());
    }
}
