//! An iSCSI initiator (RFC 7143) over TCP: discovery, login with CHAP,
//! and the SCSI block commands that write and read a LUN.

/// Errors of the initiator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Placeholder until the initiator lands.
    #[error("iSCSI is not available in this build")]
    Unavailable,
}
