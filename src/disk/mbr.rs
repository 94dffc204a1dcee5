//! The msdos partition table: the Master Boot Record in sector 0, as
//! `fdisk` writes it (the seed partitions its LUN with `fdisk`).
//!
//! Layout (UEFI 2.10 §5.2.1 "Legacy MBR", and the IBM PC convention):
//! boot code at 0x000 (left zero: the guest boots through pygrub or a
//! Xen `kernel=` line, never from this sector), the 32-bit disk
//! signature at 0x1B8, two zero bytes at 0x1BC, four 16-byte partition
//! records at 0x1BE, and the boot signature 0x55 0xAA at 0x1FE. The
//! same records make a GPT's protective MBR (one record of type 0xEE).
//!
//! Hand-written: a sector of fixed fields, and the plan already holds
//! every number, so a crate would add nothing but a dependency.

#![deny(clippy::arithmetic_side_effects, clippy::as_conversions)]

use std::io::{Seek, Write};

use super::layout::{DiskLayout, Lba, PlannedPartition, Sectors};
use super::{write_at, Error, Result};
use crate::recipe::PartitionUse;

/// `OSType` of a Linux swap partition.
pub const TYPE_LINUX_SWAP: u8 = 0x82;
/// `OSType` of a Linux file system partition.
pub const TYPE_LINUX: u8 = 0x83;
/// `OSType` of an EFI system partition.
pub const TYPE_EFI_SYSTEM: u8 = 0xEF;
/// `OSType` of a GPT's protective partition.
pub const TYPE_GPT_PROTECTIVE: u8 = 0xEE;
/// The boot signature at 0x1FE.
pub const BOOT_SIGNATURE: [u8; 2] = [0x55, 0xAA];
/// Heads per cylinder of the geometry `fdisk` assumes for large disks.
pub const HEADS: u64 = 255;
/// Sectors per track of that geometry.
pub const SECTORS_PER_TRACK: u64 = 63;

/// One partition record (16 bytes at 0x1BE + 16 × n).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PartRecord {
    /// `BootIndicator` (+0x0): 0x80 for the active partition, else 0.
    pub boot: u8,
    /// `StartingCHS` (+0x1): head, sector | cylinder bits 8–9, cylinder.
    pub chs_first: [u8; 3],
    /// `OSType` (+0x4).
    pub type_: u8,
    /// `EndingCHS` (+0x5).
    pub chs_last: [u8; 3],
    /// `StartingLBA` (+0x8).
    pub lba_first: u32,
    /// `SizeInLBA` (+0xC).
    pub sectors: u32,
}

/// The CHS address of `lba` in the 255-head, 63-sector geometry, as
/// fdisk writes it: `FE FF FF` (cylinder 1023, head 254, sector 63)
/// beyond what CHS can address.
pub fn chs(lba: Lba) -> [u8; 3] {
    let per_cylinder = HEADS.saturating_mul(SECTORS_PER_TRACK);
    let cylinder = lba.0.checked_div(per_cylinder).unwrap_or(u64::MAX);
    if cylinder > 1023 {
        return [0xFE, 0xFF, 0xFF];
    }
    let track = lba.0.checked_div(SECTORS_PER_TRACK).unwrap_or(0);
    let head = track.checked_rem(HEADS).unwrap_or(0);
    let sector = lba
        .0
        .checked_rem(SECTORS_PER_TRACK)
        .unwrap_or(0)
        .saturating_add(1);
    // OK: head < 255, sector < 64, cylinder < 1024 by construction.
    let byte = |v: u64| u8::try_from(v & 0xFF).unwrap_or(0xFF);
    [
        byte(head),
        byte(sector | ((cylinder >> 2) & 0xC0)),
        byte(cylinder),
    ]
}

impl PartRecord {
    /// The record of a planned partition. [`super::layout::plan`]
    /// checked that its start and length fit in 32 bits.
    pub fn for_partition(p: &PlannedPartition) -> PartRecord {
        let type_ = match p.usage {
            PartitionUse::Swap => TYPE_LINUX_SWAP,
            PartitionUse::Root | PartitionUse::Data => TYPE_LINUX,
            PartitionUse::Esp => TYPE_EFI_SYSTEM,
        };
        PartRecord {
            boot: 0,
            chs_first: chs(p.first),
            type_,
            chs_last: chs(p.last()),
            lba_first: u32::try_from(p.first.0).unwrap_or(u32::MAX),
            sectors: u32::try_from(p.sectors.0).unwrap_or(u32::MAX),
        }
    }

    /// The protective record of a GPT disk of `disk` sectors: from LBA 1
    /// to the end of the disk, or 2^32 − 1 sectors when larger (UEFI
    /// 2.10 §5.2.3).
    pub fn protective(disk: Sectors) -> PartRecord {
        let sectors = disk.0.saturating_sub(1);
        PartRecord {
            boot: 0,
            chs_first: [0x00, 0x02, 0x00],
            type_: TYPE_GPT_PROTECTIVE,
            chs_last: chs(Lba(sectors)),
            lba_first: 1,
            sectors: u32::try_from(sectors).unwrap_or(u32::MAX),
        }
    }

    /// The 16 bytes of the record.
    pub fn encode(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0x0] = self.boot;
        b[0x1..0x4].copy_from_slice(&self.chs_first);
        b[0x4] = self.type_;
        b[0x5..0x8].copy_from_slice(&self.chs_last);
        b[0x8..0xC].copy_from_slice(&self.lba_first.to_le_bytes());
        b[0xC..0x10].copy_from_slice(&self.sectors.to_le_bytes());
        b
    }

    /// Whether record `number` (from 1) lies within a disk of `disk`
    /// sectors: its start plus its size may not pass the end.
    pub fn check(&self, number: usize, disk: Sectors) -> Result<()> {
        let end = u64::from(self.lba_first).checked_add(self.sectors.into());
        if end.is_some_and(|end| end <= disk.0) {
            return Ok(());
        }
        Err(Error::MbrBeyondDisk {
            number,
            first: self.lba_first,
            sectors: self.sectors,
            disk_sectors: disk.0,
        })
    }

    /// Read a record back.
    pub fn decode(b: &[u8; 16]) -> PartRecord {
        PartRecord {
            boot: b[0x0],
            chs_first: [b[0x1], b[0x2], b[0x3]],
            type_: b[0x4],
            chs_last: [b[0x5], b[0x6], b[0x7]],
            lba_first: u32::from_le_bytes([b[0x8], b[0x9], b[0xA], b[0xB]]),
            sectors: u32::from_le_bytes([b[0xC], b[0xD], b[0xE], b[0xF]]),
        }
    }
}

/// The Master Boot Record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mbr {
    /// `UniqueMBRDiskSignature` (0x1B8): what `fdisk` shows as the
    /// "Disk identifier" and Linux as the `PARTUUID` prefix.
    pub disk_signature: u32,
    /// `PartitionRecord[4]` (0x1BE); unused records are zero.
    pub records: [PartRecord; 4],
}

impl Mbr {
    /// The MBR of an msdos `layout` (at most four partitions, as
    /// [`super::layout::plan`] checked).
    pub fn plan(layout: &DiskLayout) -> Mbr {
        let mut records = [PartRecord::default(); 4];
        for (r, p) in records.iter_mut().zip(&layout.partitions) {
            *r = PartRecord::for_partition(p);
        }
        Mbr {
            disk_signature: layout.mbr_signature,
            records,
        }
    }

    /// The protective MBR of a GPT disk of `disk` sectors.
    pub fn protective(disk: Sectors) -> Mbr {
        let mut records = [PartRecord::default(); 4];
        records[0] = PartRecord::protective(disk);
        Mbr {
            disk_signature: 0,
            records,
        }
    }

    /// Sector 0.
    pub fn encode(&self) -> [u8; 512] {
        let mut s = [0u8; 512];
        s[0x1B8..0x1BC].copy_from_slice(&self.disk_signature.to_le_bytes());
        for (chunk, r) in
            s[0x1BE..0x1FE].chunks_exact_mut(16).zip(&self.records)
        {
            chunk.copy_from_slice(&r.encode());
        }
        s[0x1FE..0x200].copy_from_slice(&BOOT_SIGNATURE);
        s
    }

    /// Read sector 0 back; `None` without the boot signature.
    pub fn decode(s: &[u8; 512]) -> Option<Mbr> {
        if s[0x1FE..0x200] != BOOT_SIGNATURE {
            return None;
        }
        let mut records = [PartRecord::default(); 4];
        for (r, chunk) in
            records.iter_mut().zip(s[0x1BE..0x1FE].chunks_exact(16))
        {
            let mut b = [0u8; 16];
            b.copy_from_slice(chunk);
            *r = PartRecord::decode(&b);
        }
        Some(Mbr {
            disk_signature: u32::from_le_bytes([
                s[0x1B8], s[0x1B9], s[0x1BA], s[0x1BB],
            ]),
            records,
        })
    }

    /// Write sector 0 of `out`.
    pub fn write(&self, out: &mut (impl Write + Seek)) -> Result<()> {
        write_at(out, 0, &self.encode(), "MBR")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::layout::plan;
    use crate::disk::layout::tests::recipe;
    use crate::recipe::{PartitionUse::*, TableKind};

    const MIB: u64 = 1 << 20;

    #[test]
    fn chs_as_fdisk_writes_it() {
        assert_eq!(chs(Lba(0)), [0, 1, 0]);
        assert_eq!(chs(Lba(2048)), [0x20, 0x21, 0x00]);
        assert_eq!(chs(Lba(16064)), [0xFE, 0x3F, 0x00]);
        assert_eq!(chs(Lba(16065)), [0x00, 0x01, 0x01]);
        // Cylinder 1023 is the last one CHS holds.
        assert_eq!(chs(Lba(1023 * 16065)), [0x00, 0xC1, 0xFF]);
        assert_eq!(chs(Lba(1024 * 16065)), [0xFE, 0xFF, 0xFF]);
    }

    #[test]
    fn records_round_trip() {
        let r = PartRecord {
            boot: 0x80,
            chs_first: [1, 2, 3],
            type_: 0x83,
            chs_last: [4, 5, 6],
            lba_first: 0x0102_0304,
            sectors: 0xA0B0_C0D0,
        };
        let b = r.encode();
        assert_eq!(
            b,
            [
                0x80, 1, 2, 3, 0x83, 4, 5, 6, 4, 3, 2, 1, 0xD0, 0xC0, 0xB0,
                0xA0
            ]
        );
        assert_eq!(PartRecord::decode(&b), r);
        let l = plan(&recipe(
            8 << 30,
            TableKind::Msdos,
            &[(Swap, Some(512 * MIB)), (Root, None)],
        ))
        .unwrap();
        let m = Mbr::plan(&l);
        let s = m.encode();
        assert_eq!(&s[..0x1B8], &[0u8; 0x1B8][..]);
        assert_eq!(s[0x1FE..], [0x55, 0xAA]);
        assert_eq!(Mbr::decode(&s), Some(m));
        let mut bad = s;
        bad[0x1FF] = 0;
        assert_eq!(Mbr::decode(&bad), None);
    }

    #[test]
    fn records_past_the_end_of_the_disk() {
        let l = plan(&recipe(
            8 * MIB,
            TableKind::Msdos,
            &[(Swap, Some(MIB)), (Root, None)],
        ))
        .unwrap();
        let s = Mbr::plan(&l).encode();
        let disk = l.disk_sectors;
        let record = |s: &[u8; 512], i: usize| {
            let r = Mbr::decode(s).unwrap().records[i];
            (r, r.check(i + 1, disk))
        };
        for i in 0..2 {
            assert!(record(&s, i).1.is_ok());
        }
        // The root partition ends on the last sector; one more passes.
        let mut bad = s;
        let size = 0x1BE + 16 + 0xC;
        bad[size] = bad[size].wrapping_add(1);
        assert!(matches!(
            record(&bad, 1),
            (r, Err(Error::MbrBeyondDisk { number: 2, first, sectors, disk_sectors }))
                if (first, sectors) == (r.lba_first, r.sectors)
                    && disk_sectors == disk.0
        ));
        // Start and size at their largest: no overflow, an error.
        let mut bad = s;
        bad[0x1BE + 0x8..0x1BE + 0x10].fill(0xFF);
        assert!(matches!(
            record(&bad, 0),
            (
                _,
                Err(Error::MbrBeyondDisk {
                    number: 1,
                    first: u32::MAX,
                    sectors: u32::MAX,
                    ..
                })
            )
        ));
    }
}
