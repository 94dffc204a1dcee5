//! NOP-Out and NOP-In (RFC 7143 §11.18, §11.19): pings either way.

use super::{Bhs, Opcode, PduError};

/// A NOP-Out header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NopOut {
    /// The LUN field (copied from a NOP-In being answered).
    pub lun: [u8; 8],
    /// Initiator Task Tag; [`super::NO_TAG`] when answering the target.
    pub itt: u32,
    /// Target Transfer Tag of the NOP-In answered, else
    /// [`super::NO_TAG`].
    pub ttt: u32,
    /// CmdSN (not advanced: always sent Immediate).
    pub cmd_sn: u32,
    /// ExpStatSN.
    pub exp_stat_sn: u32,
}

impl NopOut {
    /// The header (Immediate, Final).
    pub fn encode(&self) -> Bhs {
        let mut b = Bhs::new(Opcode::NopOut, true);
        b.0[0x01] = 0x80;
        b.0[0x08..0x10].copy_from_slice(&self.lun);
        b.put_u32(0x10, self.itt);
        b.put_u32(0x14, self.ttt);
        b.put_u32(0x18, self.cmd_sn);
        b.put_u32(0x1c, self.exp_stat_sn);
        b
    }
}

/// A NOP-In header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NopIn {
    /// The LUN field.
    pub lun: [u8; 8],
    /// Initiator Task Tag (ours when answering a NOP-Out).
    pub itt: u32,
    /// Target Transfer Tag: not [`super::NO_TAG`] when the target wants
    /// an answer.
    pub ttt: u32,
    /// StatSN.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
}

impl NopIn {
    /// Decode the header.
    pub fn decode(b: &Bhs) -> Result<Self, PduError> {
        b.expect(Opcode::NopIn)?;
        let mut lun = [0u8; 8];
        lun.copy_from_slice(&b.0[0x08..0x10]);
        Ok(NopIn {
            lun,
            itt: b.itt(),
            ttt: b.u32(0x14),
            stat_sn: b.u32(0x18),
            exp_cmd_sn: b.u32(0x1c),
            max_cmd_sn: b.u32(0x20),
        })
    }

    /// Encode (for test targets).
    pub fn encode(&self) -> Bhs {
        let mut b = Bhs::new(Opcode::NopIn, false);
        b.0[0x01] = 0x80;
        b.0[0x08..0x10].copy_from_slice(&self.lun);
        b.put_u32(0x10, self.itt);
        b.put_u32(0x14, self.ttt);
        b.put_u32(0x18, self.stat_sn);
        b.put_u32(0x1c, self.exp_cmd_sn);
        b.put_u32(0x20, self.max_cmd_sn);
        b
    }
}
