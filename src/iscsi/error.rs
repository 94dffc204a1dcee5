//! The initiator's error type: every variant names the portal, target,
//! LUN, LBA or sense data that explains it.

use std::io;

use super::chap::ChapError;
use super::pdu::{Opcode, PduError};
use super::sense::Sense;
use super::text::TextError;
use super::url::UrlError;

/// Errors of the iSCSI initiator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL is malformed.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The URL names no LUN or target where one is needed.
    #[error("{url}: {what}")]
    Incomplete {
        /// The URL, without secrets.
        url: String,
        /// What is missing.
        what: &'static str,
    },
    /// The host name does not resolve.
    #[error("iSCSI portal {portal}: cannot resolve the host: {source}")]
    Resolve {
        /// host:port.
        portal: String,
        /// The error.
        source: io::Error,
    },
    /// No TCP connection to the portal.
    #[error("iSCSI portal {portal}: cannot connect: {source}")]
    Connect {
        /// host:port.
        portal: String,
        /// The error.
        source: io::Error,
    },
    /// A socket option could not be set.
    #[error("iSCSI portal {portal}: cannot set up the socket: {source}")]
    Socket {
        /// host:port.
        portal: String,
        /// The error.
        source: io::Error,
    },
    /// A PDU could not be read or sent, or was malformed, before any
    /// data was written.
    #[error("iSCSI portal {portal}: {source}")]
    Pdu {
        /// host:port.
        portal: String,
        /// What went wrong.
        source: PduError,
    },
    /// The connection failed or the target broke the protocol in
    /// full feature phase: the session is over.
    #[error(
        "iSCSI {target} at {portal}: {source}; session ended with \
         {in_flight} command(s) in flight and {acked} bytes of writes \
         acknowledged"
    )]
    Lost {
        /// host:port.
        portal: String,
        /// The target IQN and LUN.
        target: String,
        /// Bytes of completed writes.
        acked: u64,
        /// Commands that were never answered.
        in_flight: usize,
        /// What went wrong.
        source: PduError,
    },
    /// The text of a Login or Text response is malformed.
    #[error("iSCSI portal {portal}: {source}")]
    Text {
        /// host:port.
        portal: String,
        /// What is wrong.
        source: TextError,
    },
    /// CHAP failed on this side.
    #[error("iSCSI login to {target} at {portal}: {source}")]
    Chap {
        /// host:port.
        portal: String,
        /// The target IQN (or "discovery").
        target: String,
        /// What went wrong.
        source: ChapError,
    },
    /// The target refused the login.
    #[error(
        "iSCSI login to {target} at {portal} refused: {reason} (status \
         {class:#04x}{detail:02x})"
    )]
    Login {
        /// host:port.
        portal: String,
        /// The target IQN (or "discovery").
        target: String,
        /// Status-Class.
        class: u8,
        /// Status-Detail.
        detail: u8,
        /// The status in words.
        reason: String,
    },
    /// The login exchange broke the rules of RFC 7143 §6.
    #[error("iSCSI login to {target} at {portal}: {what}")]
    LoginProtocol {
        /// host:port.
        portal: String,
        /// The target IQN (or "discovery").
        target: String,
        /// What went wrong.
        what: String,
    },
    /// The target answered a key with a value this side cannot use.
    #[error(
        "iSCSI login to {target} at {portal}: the target answered \
         {key}={value}, which {why}"
    )]
    Negotiation {
        /// host:port.
        portal: String,
        /// The target IQN (or "discovery").
        target: String,
        /// The key.
        key: String,
        /// The target's value.
        value: String,
        /// Why it cannot be used.
        why: &'static str,
    },
    /// The target rejected a PDU.
    #[error(
        "iSCSI {target} at {portal}: the target rejected a {opcode} PDU: \
         {reason}"
    )]
    Rejected {
        /// host:port.
        portal: String,
        /// The target IQN and LUN.
        target: String,
        /// The rejected PDU's opcode.
        opcode: Opcode,
        /// The reason in words.
        reason: &'static str,
    },
    /// A PDU that does not fit the exchange.
    #[error("iSCSI {target} at {portal}: unexpected {what}")]
    Protocol {
        /// host:port.
        portal: String,
        /// The target IQN and LUN.
        target: String,
        /// What arrived.
        what: String,
    },
    /// The target announced it is going away.
    #[error(
        "iSCSI {target} at {portal}: the target {what} (async event {event})"
    )]
    TargetEvent {
        /// host:port.
        portal: String,
        /// The target IQN and LUN.
        target: String,
        /// AsyncEvent.
        event: u8,
        /// The event in words.
        what: &'static str,
    },
    /// A command ended in CHECK CONDITION.
    #[error("iSCSI {target}: {op}{}: {sense}", lba.map(|l| format!(" at LBA {l}")).unwrap_or_default())]
    Scsi {
        /// The target IQN and LUN.
        target: String,
        /// The command.
        op: &'static str,
        /// The first LBA of the command.
        lba: Option<u64>,
        /// The decoded sense data.
        sense: Sense,
    },
    /// A command ended in another bad status.
    #[error("iSCSI {target}: {op} failed with SCSI status {status:#04x} ({})", super::sense::status_text(*status))]
    ScsiStatus {
        /// The target IQN and LUN.
        target: String,
        /// The command.
        op: &'static str,
        /// The SCSI status.
        status: u8,
    },
    /// The target could not complete a command.
    #[error(
        "iSCSI {target}: {op}: target failure (iSCSI response {response:#04x})"
    )]
    TargetFailure {
        /// The target IQN and LUN.
        target: String,
        /// The command.
        op: &'static str,
        /// The iSCSI response code.
        response: u8,
    },
    /// The reply of a command is too short or malformed.
    #[error("iSCSI {target}: malformed {op} reply: {what}")]
    BadReply {
        /// The target IQN and LUN.
        target: String,
        /// The command.
        op: &'static str,
        /// What is wrong.
        what: String,
    },
    /// The LUN is not there.
    #[error(
        "iSCSI target {target} has no LUN {lun} (it reports LUNs: {})",
        list(available)
    )]
    NoLun {
        /// The target IQN.
        target: String,
        /// The LUN asked for.
        lun: u16,
        /// The LUNs REPORT LUNS listed.
        available: Vec<u16>,
    },
    /// The LUN is not a disk.
    #[error("iSCSI {target}: peripheral device type {device_type:#04x} is not a direct-access block device")]
    NotDisk {
        /// The target IQN and LUN.
        target: String,
        /// The device type.
        device_type: u8,
    },
    /// A request not aligned to blocks or outside the LUN.
    #[error("iSCSI {target}: {len} bytes at offset {offset} are not whole {block_size}-byte blocks within the {capacity}-byte LUN")]
    Range {
        /// The target IQN and LUN.
        target: String,
        /// Byte offset.
        offset: u64,
        /// Byte length.
        len: u64,
        /// Logical block size.
        block_size: u32,
        /// Capacity in bytes.
        capacity: u64,
    },
    /// The logout was refused.
    #[error("iSCSI {target} at {portal}: logout failed (response {response})")]
    Logout {
        /// host:port.
        portal: String,
        /// The target IQN.
        target: String,
        /// The Logout Response code.
        response: u8,
    },
}

fn list(l: &[u16]) -> String {
    if l.is_empty() {
        return "none".into();
    }
    l.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
}

/// Result of the initiator.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        let e = Error::Login {
            portal: "127.0.0.1:3260".into(),
            target: "iqn.2024-01.example:t".into(),
            class: 2,
            detail: 3,
            reason: "target not found".into(),
        };
        assert_eq!(
            e.to_string(),
            "iSCSI login to iqn.2024-01.example:t at 127.0.0.1:3260 \
             refused: target not found (status 0x0203)"
        );
        let e = Error::NoLun {
            target: "iqn.x".into(),
            lun: 3,
            available: vec![0, 1],
        };
        assert_eq!(
            e.to_string(),
            "iSCSI target iqn.x has no LUN 3 (it reports LUNs: 0, 1)"
        );
        let e = Error::ScsiStatus {
            target: "iqn.x/1".into(),
            op: "WRITE(16)",
            status: 0x18,
        };
        assert_eq!(
            e.to_string(),
            "iSCSI iqn.x/1: WRITE(16) failed with SCSI status 0x18 \
             (RESERVATION CONFLICT)"
        );
        let e = Error::Lost {
            portal: "p:1".into(),
            target: "iqn.x/1".into(),
            acked: 4096,
            in_flight: 2,
            source: PduError::Closed {
                what: "PDU header",
                got: 0,
                want: 48,
            },
        };
        assert_eq!(
            e.to_string(),
            "iSCSI iqn.x/1 at p:1: the target closed the connection after 0 \
             of 48 bytes of the PDU header; session ended with 2 command(s) \
             in flight and 4096 bytes of writes acknowledged"
        );
    }
}
