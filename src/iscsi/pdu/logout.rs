//! Logout Request and Logout Response (RFC 7143 §11.14, §11.15).

use super::{Bhs, Opcode, PduError};

/// A Logout Request closing the whole session (reason code 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    /// Initiator Task Tag.
    pub itt: u32,
    /// CmdSN.
    pub cmd_sn: u32,
    /// ExpStatSN.
    pub exp_stat_sn: u32,
}

impl LogoutRequest {
    /// The header (Immediate, Final, reason "close the session").
    pub fn encode(&self) -> Bhs {
        let mut b = Bhs::new(Opcode::LogoutRequest, true);
        b.0[0x01] = 0x80;
        b.put_u32(0x10, self.itt);
        b.put_u32(0x18, self.cmd_sn);
        b.put_u32(0x1c, self.exp_stat_sn);
        b
    }
}

/// A Logout Response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutResponse {
    /// 0 closed successfully, 1 CID not found, 2 recovery not
    /// supported, 3 cleanup failed.
    pub response: u8,
    /// Initiator Task Tag.
    pub itt: u32,
    /// StatSN.
    pub stat_sn: u32,
}

impl LogoutResponse {
    /// Decode the header.
    pub fn decode(b: &Bhs) -> Result<Self, PduError> {
        b.expect(Opcode::LogoutResponse)?;
        Ok(LogoutResponse {
            response: b.0[0x02],
            itt: b.itt(),
            stat_sn: b.u32(0x18),
        })
    }
}
