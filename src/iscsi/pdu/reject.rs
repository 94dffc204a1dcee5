//! Reject (RFC 7143 §11.17): the target refuses a PDU; the rejected
//! header comes back as the data segment.

use super::{Bhs, Opcode, PduError};

/// A Reject header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Reason code (§11.17.1).
    pub reason: u8,
    /// StatSN.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
}

impl Reject {
    /// Decode the header.
    pub fn decode(b: &Bhs) -> Result<Self, PduError> {
        b.expect(Opcode::Reject)?;
        Ok(Reject {
            reason: b.0[0x02],
            stat_sn: b.u32(0x18),
            exp_cmd_sn: b.u32(0x1c),
            max_cmd_sn: b.u32(0x20),
        })
    }
}

/// The text of a Reject reason code (RFC 7143 §11.17.1).
pub fn reason_text(reason: u8) -> &'static str {
    match reason {
        0x02 => "data (payload) digest error",
        0x03 => "SNACK reject",
        0x04 => "protocol error",
        0x05 => "command not supported",
        0x06 => "immediate command reject (too many immediate commands)",
        0x07 => "task in progress",
        0x08 => "invalid data ack",
        0x09 => "invalid PDU field",
        0x0a => "long operation reject (out of resources)",
        0x0b => "negotiation reset",
        0x0c => "waiting for logout",
        _ => "reserved reason",
    }
}
