//! Text Request and Text Response (RFC 7143 §11.10, §11.11).

use super::{Bhs, Opcode, PduError};

/// A Text Request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextRequest {
    /// Final: the request text is complete.
    pub fin: bool,
    /// Initiator Task Tag.
    pub itt: u32,
    /// Target Transfer Tag (echoed to fetch the next part of a long
    /// reply, else [`super::NO_TAG`]).
    pub ttt: u32,
    /// CmdSN.
    pub cmd_sn: u32,
    /// ExpStatSN.
    pub exp_stat_sn: u32,
}

impl TextRequest {
    /// The header (sent Immediate).
    pub fn encode(&self) -> Bhs {
        let mut b = Bhs::new(Opcode::TextRequest, true);
        b.0[0x01] = if self.fin { 0x80 } else { 0 };
        b.put_u32(0x10, self.itt);
        b.put_u32(0x14, self.ttt);
        b.put_u32(0x18, self.cmd_sn);
        b.put_u32(0x1c, self.exp_stat_sn);
        b
    }
}

/// A Text Response header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextResponse {
    /// Final: the reply is complete.
    pub fin: bool,
    /// Continue: the text goes on in the next reply.
    pub cont: bool,
    /// Initiator Task Tag.
    pub itt: u32,
    /// Target Transfer Tag.
    pub ttt: u32,
    /// StatSN.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
}

impl TextResponse {
    /// Decode the header.
    pub fn decode(b: &Bhs) -> Result<Self, PduError> {
        b.expect(Opcode::TextResponse)?;
        let f = b.flags();
        let r = TextResponse {
            fin: f & 0x80 != 0,
            cont: f & 0x40 != 0,
            itt: b.itt(),
            ttt: b.u32(0x14),
            stat_sn: b.u32(0x18),
            exp_cmd_sn: b.u32(0x1c),
            max_cmd_sn: b.u32(0x20),
        };
        if r.fin && r.cont {
            return Err(PduError::Inconsistent {
                opcode: Opcode::TextResponse,
                what: "both Final and Continue bits set".into(),
            });
        }
        Ok(r)
    }

    /// Encode (for test targets).
    pub fn encode(&self) -> Bhs {
        let mut b = Bhs::new(Opcode::TextResponse, false);
        b.0[0x01] =
            if self.fin { 0x80 } else { 0 } | if self.cont { 0x40 } else { 0 };
        b.put_u32(0x10, self.itt);
        b.put_u32(0x14, self.ttt);
        b.put_u32(0x18, self.stat_sn);
        b.put_u32(0x1c, self.exp_cmd_sn);
        b.put_u32(0x20, self.max_cmd_sn);
        b
    }
}
