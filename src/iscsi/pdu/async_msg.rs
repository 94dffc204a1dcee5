//! Asynchronous Message (RFC 7143 §11.9): events the target announces.

use super::{Bhs, Opcode, PduError};

/// An Asynchronous Message header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsyncMessage {
    /// StatSN.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
    /// AsyncEvent (§11.9.1).
    pub event: u8,
    /// AsyncVCode.
    pub vcode: u8,
    /// Parameter1..3.
    pub params: [u16; 3],
}

impl AsyncMessage {
    /// Decode the header.
    pub fn decode(b: &Bhs) -> Result<Self, PduError> {
        b.expect(Opcode::AsyncMessage)?;
        Ok(AsyncMessage {
            stat_sn: b.u32(0x18),
            exp_cmd_sn: b.u32(0x1c),
            max_cmd_sn: b.u32(0x20),
            event: b.0[0x24],
            vcode: b.0[0x25],
            params: [b.u16(0x26), b.u16(0x28), b.u16(0x2a)],
        })
    }
}
