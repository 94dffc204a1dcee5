//! The filesystems stage: from the guest tree to the contents of each
//! partition. Each format is a module of its own; this one holds the
//! stage's error, which wraps each format's typed error.
//!
//! Formats: [`ext`] (ext2/3/4) and [`swap`] (the `mkswap` v1 header).

pub mod ext;
pub mod swap;

/// Errors of the filesystems stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A swap area cannot be made.
    #[error(transparent)]
    Swap(#[from] swap::Error),
}

/// Result of the filesystems stage.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages() {
        let e = Error::from(swap::Error::TooSmall {
            size: 0,
            minimum: 40960,
        });
        assert_eq!(
            e.to_string(),
            "swap area of 0 bytes is too small: mkswap needs at least \
             40960 bytes (10 pages of 4096)"
        );
    }
}
