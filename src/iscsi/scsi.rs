//! SCSI commands (SPC-4, SBC-3) as 16-byte CDB images, and the replies
//! this initiator reads: standard INQUIRY, the VPD pages Supported
//! Pages (0x00), Block Limits (0xB0, SBC-3 §6.6.4) and Logical Block
//! Provisioning (0xB2, SBC-3 §6.6.6), REPORT LUNS (SPC-4 §6.33) and READ
//! CAPACITY(16) (SBC-3 §5.16). Every reply is read with bounds checks:
//! a short reply leaves the later fields at their "not reported" value.

use super::pdu::decode_lun;

/// A CDB and what it moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cdb {
    /// The command's name for messages.
    pub name: &'static str,
    /// The bytes (zero-padded to 16).
    pub bytes: [u8; 16],
    /// First LBA, for messages.
    pub lba: Option<u64>,
}

fn cdb(name: &'static str, head: &[u8], lba: Option<u64>) -> Cdb {
    let mut bytes = [0u8; 16];
    bytes[..head.len()].copy_from_slice(head);
    Cdb { name, bytes, lba }
}

/// TEST UNIT READY (opcode 0x00).
pub fn test_unit_ready() -> Cdb {
    cdb("TEST UNIT READY", &[0x00, 0, 0, 0, 0, 0], None)
}

/// INQUIRY (0x12): standard data (`page` `None`) or a VPD page.
pub fn inquiry(page: Option<u8>, alloc: u16) -> Cdb {
    let [hi, lo] = alloc.to_be_bytes();
    match page {
        None => cdb("INQUIRY", &[0x12, 0, 0, hi, lo, 0], None),
        Some(p) => cdb("INQUIRY (VPD)", &[0x12, 0x01, p, hi, lo, 0], None),
    }
}

/// REPORT LUNS (0xA0), select report 0.
pub fn report_luns(alloc: u32) -> Cdb {
    let a = alloc.to_be_bytes();
    cdb(
        "REPORT LUNS",
        &[0xa0, 0, 0, 0, 0, 0, a[0], a[1], a[2], a[3], 0, 0],
        None,
    )
}

/// READ CAPACITY(16) (0x9E, service action 0x10), 32 bytes.
pub fn read_capacity16() -> Cdb {
    let mut c = cdb("READ CAPACITY(16)", &[0x9e, 0x10], None);
    c.bytes[0x0d] = 32;
    c
}

fn rw16(name: &'static str, op: u8, lba: u64, blocks: u32) -> Cdb {
    let mut c = cdb(name, &[op], Some(lba));
    c.bytes[0x02..0x0a].copy_from_slice(&lba.to_be_bytes());
    c.bytes[0x0a..0x0e].copy_from_slice(&blocks.to_be_bytes());
    c
}

/// READ(16) (0x88).
pub fn read16(lba: u64, blocks: u32) -> Cdb {
    rw16("READ(16)", 0x88, lba, blocks)
}

/// WRITE(16) (0x8A).
pub fn write16(lba: u64, blocks: u32) -> Cdb {
    rw16("WRITE(16)", 0x8a, lba, blocks)
}

/// WRITE SAME(16) (0x93) with the UNMAP bit; one block of zeros follows
/// as data.
pub fn write_same16_unmap(lba: u64, blocks: u32) -> Cdb {
    let mut c = rw16("WRITE SAME(16) UNMAP", 0x93, lba, blocks);
    c.bytes[0x01] = 0x08;
    c
}

/// UNMAP (0x42) with a parameter list of `param_len` bytes.
pub fn unmap(param_len: u16, lba: u64) -> Cdb {
    let [hi, lo] = param_len.to_be_bytes();
    cdb("UNMAP", &[0x42, 0, 0, 0, 0, 0, 0, hi, lo, 0], Some(lba))
}

/// The UNMAP parameter list (SBC-3 §5.28.2) for `(lba, blocks)` ranges.
pub fn unmap_params(ranges: &[(u64, u32)]) -> Vec<u8> {
    let descs = ranges.len().saturating_mul(16);
    let total = descs.saturating_add(8);
    let mut p = Vec::with_capacity(total);
    let n = |v: usize| u16::try_from(v).unwrap_or(u16::MAX).to_be_bytes();
    p.extend_from_slice(&n(total.saturating_sub(2)));
    p.extend_from_slice(&n(descs));
    p.extend_from_slice(&[0; 4]);
    for (lba, blocks) in ranges {
        p.extend_from_slice(&lba.to_be_bytes());
        p.extend_from_slice(&blocks.to_be_bytes());
        p.extend_from_slice(&[0; 4]);
    }
    p
}

/// SYNCHRONIZE CACHE(10) (0x35) of the whole medium (LBA 0, 0 blocks).
pub fn synchronize_cache10() -> Cdb {
    cdb(
        "SYNCHRONIZE CACHE(10)",
        &[0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        None,
    )
}

/// Standard INQUIRY data (SPC-4 §6.6.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inquiry {
    /// PERIPHERAL QUALIFIER (0 connected, 1 not connected, 3 no LUN).
    pub qualifier: u8,
    /// PERIPHERAL DEVICE TYPE (0 direct access block device).
    pub device_type: u8,
    /// T10 VENDOR IDENTIFICATION, trimmed.
    pub vendor: String,
    /// PRODUCT IDENTIFICATION, trimmed.
    pub product: String,
    /// PRODUCT REVISION LEVEL, trimmed.
    pub revision: String,
    /// PROTECT bit (protection information supported).
    pub protect: bool,
}

fn ascii(b: Option<&[u8]>) -> String {
    let s: String = b
        .unwrap_or_default()
        .iter()
        .map(|&c| {
            if (0x20..0x7f).contains(&c) {
                char::from(c)
            } else {
                '?'
            }
        })
        .collect();
    s.trim().to_string()
}

impl Inquiry {
    /// Decode; `None` when shorter than the 5 mandatory bytes.
    pub fn decode(b: &[u8]) -> Option<Inquiry> {
        let h = b.get(..5)?;
        Some(Inquiry {
            qualifier: h[0] >> 5,
            device_type: h[0] & 0x1f,
            vendor: ascii(b.get(8..16)),
            product: ascii(b.get(16..32)),
            revision: ascii(b.get(32..36)),
            protect: b.get(5).is_some_and(|v| v & 0x01 != 0),
        })
    }
}

/// The list of the Supported VPD Pages page (0x00).
pub fn supported_pages(b: &[u8]) -> Vec<u8> {
    let len = b.get(2..4).map_or(0, |l| u16::from_be_bytes([l[0], l[1]]));
    let end = usize::from(len).saturating_add(4).min(b.len());
    b.get(4..end).unwrap_or_default().to_vec()
}

fn be32(b: &[u8], at: usize) -> u32 {
    b.get(at..at.saturating_add(4))
        .map_or(0, |s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn be64(b: &[u8], at: usize) -> u64 {
    match b.get(at..at.saturating_add(8)) {
        Some(s) => {
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            u64::from_be_bytes(a)
        }
        None => 0,
    }
}

/// The Block Limits VPD page (0xB0); 0 means "not reported".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockLimits {
    /// MAXIMUM TRANSFER LENGTH in blocks.
    pub max_transfer: u32,
    /// OPTIMAL TRANSFER LENGTH in blocks.
    pub optimal_transfer: u32,
    /// MAXIMUM UNMAP LBA COUNT.
    pub max_unmap_lbas: u32,
    /// MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT.
    pub max_unmap_descriptors: u32,
    /// OPTIMAL UNMAP GRANULARITY in blocks.
    pub unmap_granularity: u32,
    /// MAXIMUM WRITE SAME LENGTH in blocks.
    pub max_write_same: u64,
}

impl BlockLimits {
    /// Decode (fields beyond a short page read as 0).
    pub fn decode(b: &[u8]) -> BlockLimits {
        BlockLimits {
            max_transfer: be32(b, 0x08),
            optimal_transfer: be32(b, 0x0c),
            max_unmap_lbas: be32(b, 0x14),
            max_unmap_descriptors: be32(b, 0x18),
            unmap_granularity: be32(b, 0x1c),
            max_write_same: be64(b, 0x24),
        }
    }
}

/// The Logical Block Provisioning VPD page (0xB2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Provisioning {
    /// LBPU: UNMAP is supported.
    pub lbpu: bool,
    /// LBPWS: WRITE SAME(16) with UNMAP is supported.
    pub lbpws: bool,
    /// LBPRZ (SBC-3 bit 2 of byte 5; SBC-4 widens it to bits 2-4):
    /// unmapped blocks read as zeros.
    pub lbprz: bool,
    /// PROVISIONING TYPE: 0 full, 1 resource, 2 thin.
    pub provisioning_type: u8,
}

impl Provisioning {
    /// Decode; `None` when shorter than 6 bytes.
    pub fn decode(b: &[u8]) -> Option<Provisioning> {
        let f = *b.get(5)?;
        Some(Provisioning {
            lbpu: f & 0x80 != 0,
            lbpws: f & 0x40 != 0,
            lbprz: f & 0x1c != 0,
            provisioning_type: b.get(6).map_or(0, |t| t & 0x07),
        })
    }
}

/// READ CAPACITY(16) data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// RETURNED LOGICAL BLOCK ADDRESS: the last LBA.
    pub last_lba: u64,
    /// LOGICAL BLOCK LENGTH IN BYTES.
    pub block_size: u32,
    /// LBPME: logical block provisioning management enabled.
    pub lbpme: bool,
    /// LBPRZ: unmapped blocks read as zeros.
    pub lbprz: bool,
    /// LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT.
    pub physical_exponent: u8,
}

impl Capacity {
    /// Decode; `None` when shorter than 14 bytes.
    pub fn decode(b: &[u8]) -> Option<Capacity> {
        let h = b.get(..15)?;
        Some(Capacity {
            last_lba: be64(h, 0),
            block_size: be32(h, 8),
            physical_exponent: h[13] & 0x0f,
            lbpme: h[14] & 0x80 != 0,
            lbprz: h[14] & 0x40 != 0,
        })
    }

    /// Number of blocks (`None` when it overflows).
    pub fn blocks(&self) -> Option<u64> {
        self.last_lba.checked_add(1)
    }

    /// Capacity in bytes (`None` when it overflows).
    pub fn bytes(&self) -> Option<u64> {
        self.blocks()?.checked_mul(u64::from(self.block_size))
    }
}

/// The LUNs of a REPORT LUNS reply (those in peripheral or flat
/// addressing), and the list length the target says it has (which may
/// be more than fitted in the allocation).
pub fn decode_report_luns(b: &[u8]) -> (Vec<u16>, u32) {
    let listed = be32(b, 0);
    let end = usize::try_from(listed)
        .unwrap_or(usize::MAX)
        .saturating_add(8)
        .min(b.len());
    let luns = b
        .get(8..end)
        .unwrap_or_default()
        .chunks_exact(8)
        .filter_map(|c| {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            decode_lun(a)
        })
        .collect();
    (luns, listed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdbs() {
        let c = write16(0x0102_0304_0506_0708, 0x10);
        assert_eq!(
            c.bytes,
            [0x8a, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0x10, 0, 0]
        );
        assert_eq!(read16(1, 2).bytes[0], 0x88);
        assert_eq!(write_same16_unmap(0, 8).bytes[..2], [0x93, 0x08]);
        assert_eq!(read_capacity16().bytes[..2], [0x9e, 0x10]);
        assert_eq!(read_capacity16().bytes[13], 32);
        assert_eq!(
            inquiry(Some(0xb0), 64).bytes[..6],
            [0x12, 1, 0xb0, 0, 64, 0]
        );
        assert_eq!(report_luns(4096).bytes[6..10], [0, 0, 0x10, 0]);
        assert_eq!(unmap(24, 0).bytes[7..9], [0, 24]);
        let p = unmap_params(&[(5, 7)]);
        assert_eq!(p.len(), 24);
        assert_eq!(&p[..4], &[0, 22, 0, 16]);
        assert_eq!(&p[8..16], &5u64.to_be_bytes());
        assert_eq!(&p[16..20], &7u32.to_be_bytes());
    }

    #[test]
    fn replies() {
        let mut inq = vec![0u8; 36];
        inq[8..16].copy_from_slice(b"IET     ");
        inq[16..32].copy_from_slice(b"VIRTUAL-DISK    ");
        inq[32..36].copy_from_slice(b"0001");
        let i = Inquiry::decode(&inq).unwrap();
        assert_eq!(
            (i.vendor.as_str(), i.product.as_str()),
            ("IET", "VIRTUAL-DISK")
        );
        assert_eq!(i.revision, "0001");
        assert_eq!(Inquiry::decode(&[0x7f]), None);
        assert_eq!(Inquiry::decode(&[0x7f, 0, 0, 0, 0]).unwrap().qualifier, 3);

        let mut cap = [0u8; 32];
        cap[..8].copy_from_slice(&2047u64.to_be_bytes());
        cap[8..12].copy_from_slice(&512u32.to_be_bytes());
        cap[14] = 0xc0;
        let c = Capacity::decode(&cap).unwrap();
        assert_eq!(c.bytes(), Some(1 << 20));
        assert!(c.lbpme && c.lbprz);
        cap[..8].copy_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(Capacity::decode(&cap).unwrap().bytes(), None);
        assert_eq!(Capacity::decode(&[0; 10]), None);

        let mut rl = vec![0, 0, 0, 24, 0, 0, 0, 0];
        rl.extend_from_slice(&[0; 8]);
        rl.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        rl.extend_from_slice(&[0x41, 0x2c, 0, 0, 0, 0, 0, 0]);
        assert_eq!(decode_report_luns(&rl), (vec![0, 1, 300], 24));
        assert_eq!(decode_report_luns(&rl[..20]).0, vec![0]);
        assert_eq!(decode_report_luns(&[]).0, Vec::<u16>::new());

        let mut bl = vec![0u8; 64];
        bl[0x14..0x18].copy_from_slice(&0x4000u32.to_be_bytes());
        bl[0x18..0x1c].copy_from_slice(&1u32.to_be_bytes());
        let l = BlockLimits::decode(&bl);
        assert_eq!((l.max_unmap_lbas, l.max_unmap_descriptors), (0x4000, 1));
        assert_eq!(BlockLimits::decode(&bl[..8]), BlockLimits::default());

        let p = Provisioning::decode(&[0, 0xb2, 0, 4, 0, 0xc4, 2]).unwrap();
        assert!(p.lbpu && p.lbpws && p.lbprz);
        assert_eq!(p.provisioning_type, 2);
        assert_eq!(
            supported_pages(&[0, 0, 0, 3, 0, 0xb0, 0xb2]),
            vec![0, 0xb0, 0xb2]
        );
        assert_eq!(supported_pages(&[0, 0, 0, 9, 0]), vec![0]);
    }
}
