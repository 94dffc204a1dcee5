//! The FAT boot sector, read back: the BPB fields that say what the
//! volume is (fatgen103 §3.1-3.3), for `lunforge inspect` and the tests.
//! fatfs writes the sector; this only decodes it, checking every
//! number it divides or multiplies by, since an image is untrusted.

/// What a FAT boot sector says of its volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootSector {
    /// The kind, from the cluster count (the spec's rule).
    pub kind: super::FatKind,
    /// `BPB_BytsPerSec`.
    pub bytes_per_sector: u16,
    /// Bytes per cluster.
    pub cluster_size: u32,
    /// Sectors of the volume (`BPB_TotSec16` or `BPB_TotSec32`).
    pub total_sectors: u32,
    /// Data clusters.
    pub clusters: u32,
    /// `BS_VolID`.
    pub volume_id: u32,
    /// `BS_VolLab`, trailing spaces removed; empty for `NO NAME`, the
    /// placeholder of a volume without a label (as `blkid` reads it).
    pub label: String,
}

fn u16_at(s: &[u8; 512], at: usize) -> u16 {
    // OK: every offset used here is below 0x1FF.
    u16::from_le_bytes([s[at], s[at.saturating_add(1)]])
}

fn u32_at(s: &[u8; 512], at: usize) -> u32 {
    let b = |i: usize| s[at.saturating_add(i)];
    u32::from_le_bytes([b(0), b(1), b(2), b(3)])
}

impl BootSector {
    /// The volume sector 0 describes, or `None` when it is not a FAT
    /// boot sector with an extended boot signature.
    pub fn decode(s: &[u8; 512]) -> Option<BootSector> {
        if s[0x1FE..] != [0x55, 0xAA] || !matches!(s[0], 0xEB | 0xE9) {
            return None;
        }
        let bytes_per_sector = u16_at(s, 0x0B); // BPB_BytsPerSec
        let spc = u32::from(s[0x0D]); // BPB_SecPerClus
        let reserved = u32::from(u16_at(s, 0x0E)); // BPB_RsvdSecCnt
        let fats = u32::from(s[0x10]); // BPB_NumFATs
        let root_entries = u32::from(u16_at(s, 0x11)); // BPB_RootEntCnt
        let total16 = u32::from(u16_at(s, 0x13)); // BPB_TotSec16
        let fat16 = u32::from(u16_at(s, 0x16)); // BPB_FATSz16
        let total32 = u32_at(s, 0x20); // BPB_TotSec32
        let fat32 = u32_at(s, 0x24); // BPB_FATSz32
        if ![512, 1024, 2048, 4096].contains(&bytes_per_sector)
            || !spc.is_power_of_two()
            || reserved == 0
            || fats == 0
        {
            return None;
        }
        let bps = u32::from(bytes_per_sector);
        let total = if total16 != 0 { total16 } else { total32 };
        let fat_size = if fat16 != 0 { fat16 } else { fat32 };
        let root_sectors = root_entries
            .checked_mul(32)?
            .checked_add(bps.checked_sub(1)?)?
            .checked_div(bps)?;
        let meta = reserved
            .checked_add(fats.checked_mul(fat_size)?)?
            .checked_add(root_sectors)?;
        let clusters = total.checked_sub(meta)?.checked_div(spc)?;
        let kind = super::FatKind::from_clusters(clusters);
        // The extended BPB: after BPB_FATSz32 … on FAT32, right after
        // the common BPB on FAT12/16.
        let ext: usize = if kind == super::FatKind::Fat32 {
            0x40
        } else {
            0x24
        };
        if s[ext.saturating_add(2)] != 0x29 {
            // BS_BootSig: no volume id or label follow.
            return None;
        }
        let volume_id = u32_at(s, ext.saturating_add(3)); // BS_VolID
        let lab_at = ext.saturating_add(7); // BS_VolLab
        let lab = s.get(lab_at..lab_at.saturating_add(11))?;
        let label = match String::from_utf8_lossy(lab).trim_end() {
            "NO NAME" => String::new(),
            l => l.to_string(),
        };
        Some(BootSector {
            kind,
            bytes_per_sector,
            cluster_size: spc.checked_mul(bps)?,
            total_sectors: total,
            clusters,
            volume_id,
            label,
        })
    }

    /// The volume's size in bytes.
    pub fn size(&self) -> u64 {
        u64::from(self.total_sectors)
            .saturating_mul(u64::from(self.bytes_per_sector))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::arithmetic_side_effects, clippy::as_conversions)]

    use super::*;
    use crate::filesystems::fat::{store::SparseImage, FatKind};

    /// The boot sector fatfs formats for `mib` MiB with a label.
    fn formatted(mib: u64) -> [u8; 512] {
        let mut img = SparseImage::new(mib << 20);
        let opts = fatfs::FormatVolumeOptions::new()
            .volume_id(0x1A2B_3C4D)
            .volume_label(*b"ESP        ");
        fatfs::format_volume(&mut img, opts).unwrap();
        let mut s = [0u8; 512];
        img.read_at(0, &mut s).unwrap();
        s
    }

    #[test]
    fn reads_what_fatfs_formats() {
        for (mib, kind) in [(1, FatKind::Fat12), (16, FatKind::Fat16)] {
            let b = BootSector::decode(&formatted(mib)).unwrap();
            assert_eq!(b.kind, kind, "{mib} MiB");
            assert_eq!(b.volume_id, 0x1A2B_3C4D);
            assert_eq!(b.label, "ESP");
            assert_eq!(b.size(), mib << 20);
        }
        let b = BootSector::decode(&formatted(600)).unwrap();
        assert_eq!((b.kind, b.cluster_size), (FatKind::Fat32, 4096));
    }

    /// Mutations: no signature, a zero or odd field, a missing extended
    /// signature, and sizes that would wrap give `None`, not a panic.
    #[test]
    fn mutations_are_refused() {
        let good = formatted(16);
        let mutate = |at: usize, v: u8| {
            let mut s = good;
            s[at] = v;
            BootSector::decode(&s)
        };
        assert!(mutate(0x1FF, 0).is_none());
        assert!(mutate(0, 0).is_none());
        assert!(mutate(0x0D, 3).is_none());
        assert!(mutate(0x0E, 0).is_none());
        assert!(mutate(0x10, 0).is_none());
        assert!(mutate(0x0C, 0x03).is_none());
        assert!(mutate(0x26, 0).is_none());
        assert!(mutate(0x17, 0xFF).is_none());
        let mut s = good;
        s[0x11..0x13].copy_from_slice(&[0xFF, 0xFF]);
        s[0x13..0x15].copy_from_slice(&[0, 0]);
        assert!(BootSector::decode(&s).is_none());
    }
}
