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
    /// An output cannot be written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The command runs the stages that exist and stops before a missing
    /// one, rather than pretending to have produced its output.
    #[error(
        "`lunforge {command}` stops after the {done} stage: the {next} \
         stage is not implemented yet, so no image was written"
    )]
    Unfinished {
        /// The command.
        command: &'static str,
        /// The last stage that ran.
        done: &'static str,
        /// The first missing stage.
        next: &'static str,
    },
    /// The command exists but is not implemented yet.
    #[error("`lunforge {0}` is not implemented yet")]
    NotImplemented(&'static str),
}

/// Result of lunforge operations.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        assert_eq!(
            Error::NotImplemented("write").to_string(),
            "`lunforge write` is not implemented yet"
        );
        let e = Error::Io {
            path: "out/x".into(),
            source: std::io::Error::other("disk full"),
        };
        assert_eq!(e.to_string(), "out/x: disk full");
        let e = Error::Unfinished {
            command: "build",
            done: "fetch",
            next: "unpack",
        };
        assert_eq!(
            e.to_string(),
            "`lunforge build` stops after the fetch stage: the unpack stage \
             is not implemented yet, so no image was written"
        );
    }
}
