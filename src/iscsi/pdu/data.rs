//! SCSI Data-Out and Data-In (RFC 7143 §11.7).

use super::{Bhs, Opcode, PduError};

/// A Data-Out PDU header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataOut {
    /// Final: the last PDU of this burst.
    pub fin: bool,
    /// The LUN field.
    pub lun: [u8; 8],
    /// Initiator Task Tag.
    pub itt: u32,
    /// Target Transfer Tag of the R2T, or [`super::NO_TAG`].
    pub ttt: u32,
    /// ExpStatSN.
    pub exp_stat_sn: u32,
    /// DataSN within this sequence.
    pub data_sn: u32,
    /// Buffer Offset.
    pub offset: u32,
}

impl DataOut {
    /// The header.
    pub fn encode(&self) -> Bhs {
        let mut b = Bhs::new(Opcode::DataOut, false);
        b.0[0x01] = if self.fin { 0x80 } else { 0 };
        b.0[0x08..0x10].copy_from_slice(&self.lun);
        b.put_u32(0x10, self.itt);
        b.put_u32(0x14, self.ttt);
        b.put_u32(0x1c, self.exp_stat_sn);
        b.put_u32(0x24, self.data_sn);
        b.put_u32(0x28, self.offset);
        b
    }
}

/// A Data-In PDU header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataIn {
    /// Final.
    pub fin: bool,
    /// Acknowledge requested (error recovery level > 0 only).
    pub ack: bool,
    /// Residual overflow.
    pub overflow: bool,
    /// Residual underflow.
    pub underflow: bool,
    /// The PDU carries the command's status.
    pub has_status: bool,
    /// SCSI status (when `has_status`).
    pub status: u8,
    /// Initiator Task Tag.
    pub itt: u32,
    /// Target Transfer Tag.
    pub ttt: u32,
    /// StatSN (when `has_status`).
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
    /// DataSN.
    pub data_sn: u32,
    /// Buffer Offset.
    pub offset: u32,
    /// Residual Count.
    pub residual: u32,
}

impl DataIn {
    /// Decode the header.
    pub fn decode(b: &Bhs) -> Result<Self, PduError> {
        b.expect(Opcode::DataIn)?;
        let f = b.flags();
        let d = DataIn {
            fin: f & 0x80 != 0,
            ack: f & 0x40 != 0,
            overflow: f & 0x04 != 0,
            underflow: f & 0x02 != 0,
            has_status: f & 0x01 != 0,
            status: b.0[0x03],
            itt: b.itt(),
            ttt: b.u32(0x14),
            stat_sn: b.u32(0x18),
            exp_cmd_sn: b.u32(0x1c),
            max_cmd_sn: b.u32(0x20),
            data_sn: b.u32(0x24),
            offset: b.u32(0x28),
            residual: b.u32(0x2c),
        };
        if d.has_status && !d.fin {
            return Err(PduError::Inconsistent {
                opcode: Opcode::DataIn,
                what: "status bit without the Final bit".into(),
            });
        }
        Ok(d)
    }

    /// Encode (for test targets).
    pub fn encode(&self) -> Bhs {
        let mut b = Bhs::new(Opcode::DataIn, false);
        b.0[0x01] = if self.fin { 0x80 } else { 0 }
            | if self.ack { 0x40 } else { 0 }
            | if self.overflow { 0x04 } else { 0 }
            | if self.underflow { 0x02 } else { 0 }
            | if self.has_status { 0x01 } else { 0 };
        b.0[0x03] = self.status;
        b.put_u32(0x10, self.itt);
        b.put_u32(0x14, self.ttt);
        b.put_u32(0x18, self.stat_sn);
        b.put_u32(0x1c, self.exp_cmd_sn);
        b.put_u32(0x20, self.max_cmd_sn);
        b.put_u32(0x24, self.data_sn);
        b.put_u32(0x28, self.offset);
        b.put_u32(0x2c, self.residual);
        b
    }
}
