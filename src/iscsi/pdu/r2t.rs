//! Ready To Transfer (RFC 7143 §11.8): the target asks for a range of
//! a write's data.

use super::{Bhs, Opcode, PduError};

/// An R2T PDU header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct R2t {
    /// Initiator Task Tag of the write.
    pub itt: u32,
    /// Target Transfer Tag to echo in the Data-Out PDUs.
    pub ttt: u32,
    /// StatSN (next expected, not advanced).
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
    /// R2TSN.
    pub r2t_sn: u32,
    /// Buffer Offset of the requested range.
    pub offset: u32,
    /// Desired Data Transfer Length.
    pub len: u32,
}

impl R2t {
    /// Decode the header.
    pub fn decode(b: &Bhs) -> Result<Self, PduError> {
        b.expect(Opcode::ReadyToTransfer)?;
        let r = R2t {
            itt: b.itt(),
            ttt: b.u32(0x14),
            stat_sn: b.u32(0x18),
            exp_cmd_sn: b.u32(0x1c),
            max_cmd_sn: b.u32(0x20),
            r2t_sn: b.u32(0x24),
            offset: b.u32(0x28),
            len: b.u32(0x2c),
        };
        if r.len == 0 || r.ttt == super::NO_TAG {
            return Err(PduError::Inconsistent {
                opcode: Opcode::ReadyToTransfer,
                what: format!(
                    "desired length {} with transfer tag {:#x}",
                    r.len, r.ttt
                ),
            });
        }
        Ok(r)
    }

    /// Encode (for test targets).
    pub fn encode(&self) -> Bhs {
        let mut b = Bhs::new(Opcode::ReadyToTransfer, false);
        b.0[0x01] = 0x80;
        b.put_u32(0x10, self.itt);
        b.put_u32(0x14, self.ttt);
        b.put_u32(0x18, self.stat_sn);
        b.put_u32(0x1c, self.exp_cmd_sn);
        b.put_u32(0x20, self.max_cmd_sn);
        b.put_u32(0x24, self.r2t_sn);
        b.put_u32(0x28, self.offset);
        b.put_u32(0x2c, self.len);
        b
    }
}
