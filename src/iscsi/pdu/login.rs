//! Login Request and Login Response (RFC 7143 §11.12, §11.13).

use super::{Bhs, Opcode, PduError};

/// Login stages (RFC 7143 §11.12.3, CSG and NSG).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// 0: SecurityNegotiation.
    Security,
    /// 1: LoginOperationalNegotiation.
    Operational,
    /// 3: FullFeaturePhase.
    FullFeature,
}

impl Stage {
    /// The 2-bit code.
    pub fn code(self) -> u8 {
        match self {
            Stage::Security => 0,
            Stage::Operational => 1,
            Stage::FullFeature => 3,
        }
    }

    /// The stage of a 2-bit code; 2 is reserved.
    pub fn from_code(c: u8) -> Option<Stage> {
        match c & 3 {
            0 => Some(Stage::Security),
            1 => Some(Stage::Operational),
            3 => Some(Stage::FullFeature),
            _ => None,
        }
    }
}

/// A Login Request (always Immediate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRequest {
    /// Transit bit: the initiator is ready to go to `nsg`.
    pub transit: bool,
    /// Continue bit: the text continues in the next PDU.
    pub cont: bool,
    /// Current stage.
    pub csg: Stage,
    /// Next stage (meaningful with `transit`).
    pub nsg: Stage,
    /// The initiator part of the session ID (6 bytes).
    pub isid: [u8; 6],
    /// Target-assigned session handle, 0 for a new session.
    pub tsih: u16,
    /// Initiator Task Tag.
    pub itt: u32,
    /// Connection ID.
    pub cid: u16,
    /// CmdSN.
    pub cmd_sn: u32,
    /// ExpStatSN.
    pub exp_stat_sn: u32,
}

impl LoginRequest {
    /// The header (DataSegmentLength is set when sent).
    pub fn encode(&self) -> Bhs {
        let mut b = Bhs::new(Opcode::LoginRequest, true);
        b.0[0x01] = if self.transit { 0x80 } else { 0 }
            | if self.cont { 0x40 } else { 0 }
            | (self.csg.code() << 2)
            | if self.transit { self.nsg.code() } else { 0 };
        b.0[0x02] = 0x00; // Version-max
        b.0[0x03] = 0x00; // Version-min
        b.0[0x08..0x0e].copy_from_slice(&self.isid);
        b.put_u16(0x0e, self.tsih);
        b.put_u32(0x10, self.itt);
        b.put_u16(0x14, self.cid);
        b.put_u32(0x18, self.cmd_sn);
        b.put_u32(0x1c, self.exp_stat_sn);
        b
    }
}

/// A Login Response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginResponse {
    /// Transit bit.
    pub transit: bool,
    /// Continue bit.
    pub cont: bool,
    /// Current stage.
    pub csg: Stage,
    /// Next stage (valid when `transit`).
    pub nsg: Option<Stage>,
    /// Version-active.
    pub version_active: u8,
    /// ISID echoed.
    pub isid: [u8; 6],
    /// Target-assigned session handle.
    pub tsih: u16,
    /// Initiator Task Tag echoed.
    pub itt: u32,
    /// StatSN.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
    /// Status-Class (byte 36).
    pub status_class: u8,
    /// Status-Detail (byte 37).
    pub status_detail: u8,
}

impl LoginResponse {
    /// Decode a Login Response header.
    pub fn decode(b: &Bhs) -> Result<Self, PduError> {
        b.expect(Opcode::LoginResponse)?;
        let f = b.flags();
        let transit = f & 0x80 != 0;
        let cont = f & 0x40 != 0;
        let bad = |what: &str| PduError::Inconsistent {
            opcode: Opcode::LoginResponse,
            what: what.to_string(),
        };
        if transit && cont {
            return Err(bad("both Transit and Continue bits set"));
        }
        let csg = Stage::from_code(f >> 2)
            .ok_or_else(|| bad("reserved current stage 2"))?;
        let nsg = if transit {
            Some(
                Stage::from_code(f)
                    .ok_or_else(|| bad("reserved next stage 2"))?,
            )
        } else {
            None
        };
        let mut isid = [0u8; 6];
        isid.copy_from_slice(&b.0[0x08..0x0e]);
        Ok(LoginResponse {
            transit,
            cont,
            csg,
            nsg,
            version_active: b.0[0x03],
            isid,
            tsih: b.u16(0x0e),
            itt: b.itt(),
            stat_sn: b.u32(0x18),
            exp_cmd_sn: b.u32(0x1c),
            max_cmd_sn: b.u32(0x20),
            status_class: b.0[0x24],
            status_detail: b.0[0x25],
        })
    }

    /// Encode (for test targets).
    pub fn encode(&self) -> Bhs {
        let mut b = Bhs::new(Opcode::LoginResponse, false);
        b.0[0x01] = if self.transit { 0x80 } else { 0 }
            | if self.cont { 0x40 } else { 0 }
            | (self.csg.code() << 2)
            | self.nsg.map_or(0, Stage::code);
        b.0[0x03] = self.version_active;
        b.0[0x08..0x0e].copy_from_slice(&self.isid);
        b.put_u16(0x0e, self.tsih);
        b.put_u32(0x10, self.itt);
        b.put_u32(0x18, self.stat_sn);
        b.put_u32(0x1c, self.exp_cmd_sn);
        b.put_u32(0x20, self.max_cmd_sn);
        b.0[0x24] = self.status_class;
        b.0[0x25] = self.status_detail;
        b
    }
}
