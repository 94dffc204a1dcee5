//! SCSI Response (RFC 7143 §11.4): the status of a command, and the
//! sense data in its data segment (§11.4.7).

use super::{Bhs, Opcode, PduError};

/// A SCSI Response PDU header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScsiResponse {
    /// Bidirectional read residual overflow (o).
    pub bidi_overflow: bool,
    /// Bidirectional read residual underflow (u).
    pub bidi_underflow: bool,
    /// Residual overflow (O).
    pub overflow: bool,
    /// Residual underflow (U).
    pub underflow: bool,
    /// iSCSI Response: 0x00 completed at target, 0x01 target failure.
    pub response: u8,
    /// SCSI status (valid when `response` is 0).
    pub status: u8,
    /// Initiator Task Tag.
    pub itt: u32,
    /// StatSN.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
    /// ExpDataSN.
    pub exp_data_sn: u32,
    /// Residual Count.
    pub residual: u32,
}

impl ScsiResponse {
    /// Decode the header.
    pub fn decode(b: &Bhs) -> Result<Self, PduError> {
        b.expect(Opcode::ScsiResponse)?;
        let f = b.flags();
        let r = ScsiResponse {
            bidi_overflow: f & 0x10 != 0,
            bidi_underflow: f & 0x08 != 0,
            overflow: f & 0x04 != 0,
            underflow: f & 0x02 != 0,
            response: b.0[0x02],
            status: b.0[0x03],
            itt: b.itt(),
            stat_sn: b.u32(0x18),
            exp_cmd_sn: b.u32(0x1c),
            max_cmd_sn: b.u32(0x20),
            exp_data_sn: b.u32(0x24),
            residual: b.u32(0x2c),
        };
        if f & 0x80 == 0 || (r.overflow && r.underflow) {
            return Err(PduError::Inconsistent {
                opcode: Opcode::ScsiResponse,
                what: format!("invalid flags {f:#04x}"),
            });
        }
        Ok(r)
    }

    /// Encode (for test targets).
    pub fn encode(&self) -> Bhs {
        let mut b = Bhs::new(Opcode::ScsiResponse, false);
        b.0[0x01] = 0x80
            | if self.bidi_overflow { 0x10 } else { 0 }
            | if self.bidi_underflow { 0x08 } else { 0 }
            | if self.overflow { 0x04 } else { 0 }
            | if self.underflow { 0x02 } else { 0 };
        b.0[0x02] = self.response;
        b.0[0x03] = self.status;
        b.put_u32(0x10, self.itt);
        b.put_u32(0x18, self.stat_sn);
        b.put_u32(0x1c, self.exp_cmd_sn);
        b.put_u32(0x20, self.max_cmd_sn);
        b.put_u32(0x24, self.exp_data_sn);
        b.put_u32(0x2c, self.residual);
        b
    }
}

/// The sense bytes of a response data segment: a 2-byte SenseLength,
/// then the sense data; `None` when empty or too short for its length.
pub fn sense_of(data: &[u8]) -> Option<&[u8]> {
    let len = data.get(0..2)?;
    let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
    data.get(2..)?.get(..len).filter(|s| !s.is_empty())
}
