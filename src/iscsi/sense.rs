//! SCSI status and sense data (SAM-5 §5.3, SPC-4 §4.5): fixed format
//! (response codes 0x70/0x71) and descriptor format (0x72/0x73), decoded
//! into a [`Sense`] whose message says what the operator can do.

use std::fmt;

/// GOOD.
pub const STATUS_GOOD: u8 = 0x00;
/// CHECK CONDITION.
pub const STATUS_CHECK_CONDITION: u8 = 0x02;

/// The name of a SCSI status (SAM-5 Table 35).
pub fn status_text(status: u8) -> &'static str {
    match status {
        0x00 => "GOOD",
        0x02 => "CHECK CONDITION",
        0x04 => "CONDITION MET",
        0x08 => "BUSY",
        0x18 => "RESERVATION CONFLICT",
        0x28 => "TASK SET FULL",
        0x30 => "ACA ACTIVE",
        0x40 => "TASK ABORTED",
        _ => "reserved status",
    }
}

/// Sense keys (SPC-4 Table 54).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenseKey {
    /// 0x0.
    NoSense,
    /// 0x1.
    RecoveredError,
    /// 0x2.
    NotReady,
    /// 0x3.
    MediumError,
    /// 0x4.
    HardwareError,
    /// 0x5.
    IllegalRequest,
    /// 0x6.
    UnitAttention,
    /// 0x7.
    DataProtect,
    /// 0x8.
    BlankCheck,
    /// 0x9.
    VendorSpecific,
    /// 0xa.
    CopyAborted,
    /// 0xb.
    AbortedCommand,
    /// 0xd.
    VolumeOverflow,
    /// 0xe.
    Miscompare,
    /// 0xc, 0xf.
    Reserved(u8),
}

impl SenseKey {
    /// The key of a 4-bit code.
    pub fn from_code(c: u8) -> SenseKey {
        match c & 0x0f {
            0x0 => SenseKey::NoSense,
            0x1 => SenseKey::RecoveredError,
            0x2 => SenseKey::NotReady,
            0x3 => SenseKey::MediumError,
            0x4 => SenseKey::HardwareError,
            0x5 => SenseKey::IllegalRequest,
            0x6 => SenseKey::UnitAttention,
            0x7 => SenseKey::DataProtect,
            0x8 => SenseKey::BlankCheck,
            0x9 => SenseKey::VendorSpecific,
            0xa => SenseKey::CopyAborted,
            0xb => SenseKey::AbortedCommand,
            0xd => SenseKey::VolumeOverflow,
            0xe => SenseKey::Miscompare,
            c => SenseKey::Reserved(c),
        }
    }
}

impl fmt::Display for SenseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            SenseKey::NoSense => "NO SENSE",
            SenseKey::RecoveredError => "RECOVERED ERROR",
            SenseKey::NotReady => "NOT READY",
            SenseKey::MediumError => "MEDIUM ERROR",
            SenseKey::HardwareError => "HARDWARE ERROR",
            SenseKey::IllegalRequest => "ILLEGAL REQUEST",
            SenseKey::UnitAttention => "UNIT ATTENTION",
            SenseKey::DataProtect => "DATA PROTECT",
            SenseKey::BlankCheck => "BLANK CHECK",
            SenseKey::VendorSpecific => "VENDOR SPECIFIC",
            SenseKey::CopyAborted => "COPY ABORTED",
            SenseKey::AbortedCommand => "ABORTED COMMAND",
            SenseKey::VolumeOverflow => "VOLUME OVERFLOW",
            SenseKey::Miscompare => "MISCOMPARE",
            SenseKey::Reserved(c) => return write!(f, "reserved key {c:#x}"),
        };
        f.write_str(s)
    }
}

/// Decoded sense data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sense {
    /// The sense key.
    pub key: SenseKey,
    /// ADDITIONAL SENSE CODE.
    pub asc: u8,
    /// ADDITIONAL SENSE CODE QUALIFIER.
    pub ascq: u8,
    /// The INFORMATION field when marked valid (often the failing LBA).
    pub information: Option<u64>,
}

impl Sense {
    /// Decode fixed or descriptor format sense data; `None` when too
    /// short or of an unknown response code.
    pub fn decode(b: &[u8]) -> Option<Sense> {
        let code = b.first()? & 0x7f;
        match code {
            0x70 | 0x71 => {
                let key = SenseKey::from_code(*b.get(2)?);
                let valid = b[0] & 0x80 != 0;
                let info = b.get(3..7).map(|i| {
                    u64::from(u32::from_be_bytes([i[0], i[1], i[2], i[3]]))
                });
                Some(Sense {
                    key,
                    asc: b.get(12).copied().unwrap_or(0),
                    ascq: b.get(13).copied().unwrap_or(0),
                    information: info.filter(|_| valid),
                })
            }
            0x72 | 0x73 => {
                let key = SenseKey::from_code(*b.get(1)?);
                let asc = *b.get(2)?;
                let ascq = *b.get(3)?;
                let add = usize::from(*b.get(7).unwrap_or(&0));
                let end = add.saturating_add(8).min(b.len());
                let mut descs = b.get(8..end).unwrap_or_default();
                let mut information = None;
                while let [dtype, dlen, rest @ ..] = descs {
                    let dlen = usize::from(*dlen);
                    let Some(body) = rest.get(..dlen) else { break };
                    if *dtype == 0x00 && dlen >= 10 && body[0] & 0x80 != 0 {
                        let mut a = [0u8; 8];
                        a.copy_from_slice(&body[2..10]);
                        information = Some(u64::from_be_bytes(a));
                    }
                    descs = rest.get(dlen..).unwrap_or_default();
                }
                Some(Sense {
                    key,
                    asc,
                    ascq,
                    information,
                })
            }
            _ => None,
        }
    }

    /// Whether this is a UNIT ATTENTION (worth retrying once).
    pub fn is_unit_attention(&self) -> bool {
        self.key == SenseKey::UnitAttention
    }

    /// What the ASC/ASCQ pair means, for the common ones.
    pub fn meaning(&self) -> Option<&'static str> {
        Some(match (self.key, self.asc, self.ascq) {
            (SenseKey::DataProtect, 0x27, _) => "LUN is write-protected",
            (_, 0x21, 0x00) => "LBA out of range",
            (_, 0x20, 0x00) => "invalid command operation code",
            (_, 0x24, 0x00) => "invalid field in CDB",
            (_, 0x26, 0x00) => "invalid field in parameter list",
            (_, 0x25, 0x00) => "logical unit not supported",
            (_, 0x04, 0x01) => "logical unit is becoming ready",
            (_, 0x04, _) => "logical unit not ready",
            (_, 0x3a, _) => "medium not present",
            (_, 0x29, _) => "power on, reset, or bus device reset occurred",
            (_, 0x2a, 0x09) => "capacity data has changed",
            (_, 0x2a, _) => "parameters changed",
            (_, 0x3f, 0x0e) => "reported LUNs data has changed",
            (_, 0x0c, _) => "write error",
            (_, 0x11, _) => "unrecovered read error",
            (_, 0x27, 0x07) => "space allocation failed (thin pool full)",
            (_, 0x27, _) => "write protected",
            _ => return None,
        })
    }
}

impl fmt::Display for Sense {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.meaning() {
            Some(m) => write!(f, "{m} ({}", self.key)?,
            None => write!(f, "{}", self.key)?,
        }
        write!(f, ", ASC/ASCQ {:#04x}/{:#04x}", self.asc, self.ascq)?;
        if let Some(i) = self.information {
            write!(f, ", information {i}")?;
        }
        if self.meaning().is_some() {
            f.write_str(")")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(key: u8, asc: u8, ascq: u8) -> Vec<u8> {
        let mut b = vec![0u8; 18];
        b[0] = 0x70;
        b[2] = key;
        b[7] = 10;
        b[12] = asc;
        b[13] = ascq;
        b
    }

    #[test]
    fn fixed_format() {
        let s = Sense::decode(&fixed(0x07, 0x27, 0x00)).unwrap();
        assert_eq!(s.key, SenseKey::DataProtect);
        assert_eq!(
            s.to_string(),
            "LUN is write-protected (DATA PROTECT, ASC/ASCQ 0x27/0x00)"
        );
        let mut b = fixed(0x05, 0x21, 0x00);
        b[0] |= 0x80;
        b[3..7].copy_from_slice(&1234u32.to_be_bytes());
        let s = Sense::decode(&b).unwrap();
        assert_eq!(
            s.to_string(),
            "LBA out of range (ILLEGAL REQUEST, ASC/ASCQ 0x21/0x00, \
             information 1234)"
        );
        let s = Sense::decode(&fixed(0x06, 0x29, 0x00)).unwrap();
        assert!(s.is_unit_attention());
        let s = Sense::decode(&fixed(0x05, 0x55, 0x01)).unwrap();
        assert_eq!(s.to_string(), "ILLEGAL REQUEST, ASC/ASCQ 0x55/0x01");
    }

    #[test]
    fn descriptor_format() {
        let mut b = vec![0x72, 0x02, 0x04, 0x01, 0, 0, 0, 12];
        b.extend_from_slice(&[0x00, 0x0a, 0x80, 0]);
        b.extend_from_slice(&77u64.to_be_bytes());
        let s = Sense::decode(&b).unwrap();
        assert_eq!(s.key, SenseKey::NotReady);
        assert_eq!(s.information, Some(77));
        assert_eq!(
            s.to_string(),
            "logical unit is becoming ready (NOT READY, ASC/ASCQ \
             0x04/0x01, information 77)"
        );
    }

    #[test]
    fn short_and_odd() {
        assert_eq!(Sense::decode(&[]), None);
        assert_eq!(Sense::decode(&[0x70, 0]), None);
        assert_eq!(Sense::decode(&[0x7f, 0, 0, 0]), None);
        let s = Sense::decode(&[0x70, 0, 0x03]).unwrap();
        assert_eq!((s.key, s.asc), (SenseKey::MediumError, 0));
        // Descriptor lengths that point past the end.
        let s = Sense::decode(&[0x72, 5, 0x24, 0, 0, 0, 0, 200, 0, 250, 1]);
        assert_eq!(s.unwrap().information, None);
        assert_eq!(status_text(0x08), "BUSY");
    }
}
