//! SCSI Command (RFC 7143 §11.3).

use super::{Bhs, Opcode};

/// A SCSI Command PDU header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScsiCommand {
    /// Immediate delivery (never used for data commands here).
    pub immediate: bool,
    /// Final: no unsolicited Data-Out follows.
    pub fin: bool,
    /// Read: data flows to the initiator.
    pub read: bool,
    /// Write: data flows to the target.
    pub write: bool,
    /// The LUN field.
    pub lun: [u8; 8],
    /// Initiator Task Tag.
    pub itt: u32,
    /// Expected Data Transfer Length.
    pub expected_len: u32,
    /// CmdSN.
    pub cmd_sn: u32,
    /// ExpStatSN.
    pub exp_stat_sn: u32,
    /// The CDB (up to 16 bytes, zero-padded).
    pub cdb: [u8; 16],
}

impl ScsiCommand {
    /// The header; task attribute SIMPLE (1).
    pub fn encode(&self) -> Bhs {
        let mut b = Bhs::new(Opcode::ScsiCommand, self.immediate);
        b.0[0x01] = if self.fin { 0x80 } else { 0 }
            | if self.read { 0x40 } else { 0 }
            | if self.write { 0x20 } else { 0 }
            | 0x01;
        b.0[0x08..0x10].copy_from_slice(&self.lun);
        b.put_u32(0x10, self.itt);
        b.put_u32(0x14, self.expected_len);
        b.put_u32(0x18, self.cmd_sn);
        b.put_u32(0x1c, self.exp_stat_sn);
        b.0[0x20..0x30].copy_from_slice(&self.cdb);
        b
    }
}
