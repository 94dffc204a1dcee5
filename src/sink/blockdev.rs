//! An attached block device as a sink.

/// Errors of the block-device sink.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Placeholder until the block device sink lands.
    #[error("block devices are not available in this build")]
    Unavailable,
}
