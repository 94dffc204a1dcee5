//! What the first MiB of a device says it holds: partition tables,
//! file systems, swap areas and volume-manager or RAID labels, found by
//! their magic numbers at the offsets their formats fix.
//!
//! This is a refusal test, not an identification tool: a false
//! positive costs the operator a `--force`, a false negative may cost
//! their data. So any one magic number in its place is enough (no
//! checksum is verified), and where a format is cheap to tell apart from
//! its relatives (ext2/ext3/ext4, FAT next to a partition table) it is,
//! only to make the refusal message say what is there.
//!
//! The buffer is whatever the device returned: every read is bounds
//! checked, and a short buffer (a device smaller than 1 MiB) simply
//! finds less. Formats whose label sits only at the end of the device
//! (mdraid 0.90 and 1.0, the backup GPT header) are out of reach of a
//! first-MiB scan; the exclusive open and the holder check in
//! [`super::checks`] catch such a device while it is assembled.
//!
//! Offsets (all in the first MiB):
//! - msdos: the boot signature 0x55 0xAA at 0x1FE, and a partition entry
//!   (0x1BE + 16·n) with a non-zero type byte (0x04) and boot flag 0x00
//!   or 0x80;
//! - GPT (UEFI 2.10 §5.3.2): "EFI PART" at the start of LBA 1, for
//!   logical blocks of 512 (0x200) and 4096 (0x1000) bytes;
//! - ext2/3/4 (kernel `Documentation/filesystems/ext4/super.rst`):
//!   `s_magic` 0xEF53 at 0x438 (superblock at 0x400, field 0x38);
//!   `s_feature_compat` 0x5C, `s_feature_incompat` 0x60,
//!   `s_feature_ro_compat` 0x64 tell the three apart;
//! - swap: "SWAPSPACE2" (v1) or "SWAP-SPACE" (v0) in the last 10 bytes
//!   of the first page (0xFF6 for 4 KiB pages; 8, 16 and 64 KiB pages
//!   are tried too);
//! - XFS: `sb_magicnum` "XFSB" at 0;
//! - btrfs: the superblock at 0x10000, its magic "_BHRfS_M" at +0x40;
//! - LUKS1 and LUKS2: "LUKS" 0xBA 0xBE at 0;
//! - LVM2: the label "LABELONE" at the start of one of sectors 0-3;
//! - FAT: boot signature at 0x1FE and `BS_FilSysType` "FAT" at 0x36
//!   (FAT12/16) or 0x52 (FAT32);
//! - NTFS: the OEM ID "NTFS    " at 0x03;
//! - iso9660 (ECMA-119 §8.4): the volume descriptor identifier "CD001"
//!   at 0x8001 (descriptor at sector 16 of 2048 bytes, byte 1);
//! - mdraid 1.1 and 1.2: the superblock magic 0xA92B4EFC
//!   (little-endian) at 0 or 0x1000.

use std::fmt;

/// The first bytes of a device that [`detect`] looks at.
pub const SCAN_LEN: usize = 1 << 20;

/// A kind of ext file system, as far as its feature words tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtKind {
    /// No journal, no ext4 features.
    Ext2,
    /// A journal, no ext4 features.
    Ext3,
    /// Extents, 64-bit, flex_bg or ext4's read-only-compatible features.
    Ext4,
}

/// Something found on a device that writing an image would destroy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    /// An msdos (MBR) partition table with at least one entry.
    Msdos,
    /// A protective MBR (type 0xEE) without a GPT header behind it.
    ProtectiveMbr,
    /// A GPT header at LBA 1 for this logical block size.
    Gpt {
        /// 512 or 4096.
        block_size: u32,
    },
    /// An ext2, ext3 or ext4 superblock.
    Ext(ExtKind),
    /// A swap area signature.
    Swap,
    /// An XFS superblock.
    Xfs,
    /// A btrfs superblock.
    Btrfs,
    /// A LUKS header.
    Luks,
    /// An LVM2 physical volume label.
    Lvm2,
    /// A FAT boot sector.
    Fat,
    /// An NTFS boot sector.
    Ntfs,
    /// An iso9660 volume descriptor.
    Iso9660,
    /// An mdraid 1.1 or 1.2 superblock.
    MdRaid,
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signature::Msdos => f.write_str("an msdos partition table"),
            Signature::ProtectiveMbr => {
                f.write_str("a protective MBR (a damaged gpt partition table)")
            }
            Signature::Gpt { block_size } => write!(
                f,
                "a gpt partition table (for {block_size}-byte sectors)"
            ),
            Signature::Ext(ExtKind::Ext2) => f.write_str("an ext2 file system"),
            Signature::Ext(ExtKind::Ext3) => f.write_str("an ext3 file system"),
            Signature::Ext(ExtKind::Ext4) => f.write_str("an ext4 file system"),
            Signature::Swap => f.write_str("a swap area"),
            Signature::Xfs => f.write_str("an XFS file system"),
            Signature::Btrfs => f.write_str("a btrfs file system"),
            Signature::Luks => f.write_str("a LUKS encrypted volume"),
            Signature::Lvm2 => f.write_str("an LVM2 physical volume"),
            Signature::Fat => f.write_str("a FAT file system"),
            Signature::Ntfs => f.write_str("an NTFS file system"),
            Signature::Iso9660 => f.write_str("an iso9660 file system"),
            Signature::MdRaid => f.write_str("an mdraid member"),
        }
    }
}

/// `buf[off..off + want.len()] == want`, false when out of range.
fn has(buf: &[u8], off: usize, want: &[u8]) -> bool {
    off.checked_add(want.len())
        .and_then(|end| buf.get(off..end))
        .is_some_and(|b| b == want)
}

fn u16le(buf: &[u8], off: usize) -> Option<u16> {
    let b = buf.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes(b.try_into().ok()?))
}

fn u32le(buf: &[u8], off: usize) -> Option<u32> {
    let b = buf.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

/// MBR: the boot signature.
const MBR_SIGNATURE_OFF: usize = 0x1FE;
/// MBR: the first of four 16-byte partition entries.
const MBR_ENTRIES_OFF: usize = 0x1BE;
/// MBR entry: boot indicator.
const MBR_ENTRY_BOOT: usize = 0x00;
/// MBR entry: partition type.
const MBR_ENTRY_TYPE: usize = 0x04;
/// MBR entry type of the GPT protective partition.
const MBR_TYPE_GPT_PROTECTIVE: u8 = 0xEE;
/// GPT header signature.
const GPT_SIGNATURE: &[u8] = b"EFI PART";
/// The ext superblock's place on the device.
const EXT_SUPERBLOCK_OFF: usize = 0x400;
/// `s_magic`.
const EXT2_SUPER_MAGIC: u16 = 0xEF53;
/// `COMPAT_HAS_JOURNAL`.
const EXT_COMPAT_HAS_JOURNAL: u32 = 0x4;
/// `INCOMPAT_EXTENTS | INCOMPAT_64BIT | INCOMPAT_FLEX_BG`.
const EXT4_INCOMPAT: u32 = 0x40 | 0x80 | 0x200;
/// `RO_COMPAT_HUGE_FILE | GDT_CSUM | DIR_NLINK | EXTRA_ISIZE |
/// METADATA_CSUM`.
const EXT4_RO_COMPAT: u32 = 0x8 | 0x10 | 0x20 | 0x40 | 0x400;
/// Page sizes whose swap signature lies in the first MiB.
const SWAP_PAGE_SIZES: [usize; 4] = [0x1000, 0x2000, 0x4000, 0x10000];
/// btrfs: primary superblock at 64 KiB, `magic` at +0x40.
const BTRFS_MAGIC_OFF: usize = 0x10040;
/// LUKS1/LUKS2 `magic`.
const LUKS_MAGIC: &[u8] = b"LUKS\xba\xbe";
/// iso9660: standard identifier of the first volume descriptor.
const ISO9660_ID_OFF: usize = 0x8001;
/// mdraid superblock magic, little-endian on disk.
const MD_SB_MAGIC: u32 = 0xA92B_4EFC;

/// What the first bytes of a device, `buf` (up to [`SCAN_LEN`]), show.
/// Empty when nothing known is there (a blank or zeroed device).
pub fn detect(buf: &[u8]) -> Vec<Signature> {
    let mut found = Vec::new();
    let fat = is_fat(buf);
    let mut gpt = false;
    for block_size in [0x200u32, 0x1000] {
        if usize::try_from(block_size)
            .is_ok_and(|off| has(buf, off, GPT_SIGNATURE))
        {
            found.push(Signature::Gpt { block_size });
            gpt = true;
        }
    }
    if !fat && !gpt {
        match mbr(buf) {
            Some(Mbr::Table) => found.push(Signature::Msdos),
            Some(Mbr::Protective) => found.push(Signature::ProtectiveMbr),
            None => {}
        }
    }
    if fat {
        found.push(Signature::Fat);
    }
    if has(buf, 0x03, b"NTFS    ") {
        found.push(Signature::Ntfs);
    }
    if let Some(kind) = ext(buf) {
        found.push(Signature::Ext(kind));
    }
    let swap = SWAP_PAGE_SIZES.iter().any(|page| {
        page.checked_sub(10).is_some_and(|off| {
            has(buf, off, b"SWAPSPACE2") || has(buf, off, b"SWAP-SPACE")
        })
    });
    if swap {
        found.push(Signature::Swap);
    }
    if has(buf, 0, b"XFSB") {
        found.push(Signature::Xfs);
    }
    if has(buf, BTRFS_MAGIC_OFF, b"_BHRfS_M") {
        found.push(Signature::Btrfs);
    }
    if has(buf, 0, LUKS_MAGIC) {
        found.push(Signature::Luks);
    }
    if (0..4usize).any(|s| {
        s.checked_mul(0x200)
            .is_some_and(|o| has(buf, o, b"LABELONE"))
    }) {
        found.push(Signature::Lvm2);
    }
    if has(buf, ISO9660_ID_OFF, b"CD001") {
        found.push(Signature::Iso9660);
    }
    if [0, 0x1000]
        .iter()
        .any(|&o| u32le(buf, o) == Some(MD_SB_MAGIC))
    {
        found.push(Signature::MdRaid);
    }
    found
}

enum Mbr {
    Table,
    Protective,
}

/// An MBR with at least one plausible entry: type set, boot flag 0x00
/// or 0x80 (boot code in a sector without a table rarely has both in
/// all four places).
fn mbr(buf: &[u8]) -> Option<Mbr> {
    if !has(buf, MBR_SIGNATURE_OFF, &[0x55, 0xAA]) {
        return None;
    }
    let mut types = Vec::new();
    for n in 0..4usize {
        let entry = n.checked_mul(16)?.checked_add(MBR_ENTRIES_OFF)?;
        let boot = *buf.get(entry.checked_add(MBR_ENTRY_BOOT)?)?;
        let kind = *buf.get(entry.checked_add(MBR_ENTRY_TYPE)?)?;
        if boot != 0x00 && boot != 0x80 {
            return None;
        }
        if kind != 0 {
            types.push(kind);
        }
    }
    match types.as_slice() {
        [] => None,
        [MBR_TYPE_GPT_PROTECTIVE] => Some(Mbr::Protective),
        _ => Some(Mbr::Table),
    }
}

/// A FAT boot sector: a jump instruction, the boot signature and a file
/// system type string where FAT12/16 or FAT32 keep it.
fn is_fat(buf: &[u8]) -> bool {
    let jump = matches!(buf.first(), Some(0xEB | 0xE9));
    jump && has(buf, MBR_SIGNATURE_OFF, &[0x55, 0xAA])
        && (has(buf, 0x36, b"FAT") || has(buf, 0x52, b"FAT3"))
}

fn ext(buf: &[u8]) -> Option<ExtKind> {
    let sb = buf.get(EXT_SUPERBLOCK_OFF..)?;
    if u16le(sb, 0x38)? != EXT2_SUPER_MAGIC {
        return None;
    }
    let compat = u32le(sb, 0x5C).unwrap_or(0);
    let incompat = u32le(sb, 0x60).unwrap_or(0);
    let ro_compat = u32le(sb, 0x64).unwrap_or(0);
    Some(
        if incompat & EXT4_INCOMPAT != 0 || ro_compat & EXT4_RO_COMPAT != 0 {
            ExtKind::Ext4
        } else if compat & EXT_COMPAT_HAS_JOURNAL != 0 {
            ExtKind::Ext3
        } else {
            ExtKind::Ext2
        },
    )
}

/// "a, b and c" for messages.
pub(crate) fn and_list<T: fmt::Display>(items: &[T]) -> String {
    let mut out = String::new();
    let last = items.len().saturating_sub(1);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(if i == last { " and " } else { ", " });
        }
        out.push_str(&item.to_string());
    }
    out
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    fn blank() -> Vec<u8> {
        vec![0; SCAN_LEN]
    }

    fn put(buf: &mut [u8], off: usize, bytes: &[u8]) {
        buf[off..off + bytes.len()].copy_from_slice(bytes);
    }

    /// An msdos table with one Linux partition at 1 MiB.
    fn msdos(buf: &mut [u8]) {
        put(buf, 0x1BE, &[0x00, 0, 0, 0, 0x83, 0, 0, 0]);
        put(buf, 0x1BE + 8, &2048u32.to_le_bytes());
        put(buf, 0x1BE + 12, &4096u32.to_le_bytes());
        put(buf, 0x1FE, &[0x55, 0xAA]);
    }

    fn ext_sb(buf: &mut [u8], compat: u32, incompat: u32, ro: u32) {
        put(buf, 0x438, &0xEF53u16.to_le_bytes());
        put(buf, 0x45C, &compat.to_le_bytes());
        put(buf, 0x460, &incompat.to_le_bytes());
        put(buf, 0x464, &ro.to_le_bytes());
    }

    #[test]
    fn blank_device_holds_nothing() {
        assert!(detect(&blank()).is_empty());
        assert!(detect(&[]).is_empty());
        assert!(detect(&[0xFF; 4096]).is_empty());
    }

    #[test]
    fn each_signature_alone() {
        type Make = fn(&mut [u8]);
        let cases: &[(Make, Signature)] = &[
            (msdos, Signature::Msdos),
            (
                |b| put(b, 0x200, b"EFI PART"),
                Signature::Gpt { block_size: 512 },
            ),
            (
                |b| put(b, 0x1000, b"EFI PART"),
                Signature::Gpt { block_size: 4096 },
            ),
            (|b| ext_sb(b, 0, 0, 0), Signature::Ext(ExtKind::Ext2)),
            (|b| ext_sb(b, 0x4, 0x2, 0), Signature::Ext(ExtKind::Ext3)),
            (|b| ext_sb(b, 0x4, 0x2c2, 0), Signature::Ext(ExtKind::Ext4)),
            (|b| ext_sb(b, 0, 0, 0x400), Signature::Ext(ExtKind::Ext4)),
            (|b| put(b, 4086, b"SWAPSPACE2"), Signature::Swap),
            (|b| put(b, 4086, b"SWAP-SPACE"), Signature::Swap),
            (|b| put(b, 0xFFF6, b"SWAPSPACE2"), Signature::Swap),
            (|b| put(b, 0, b"XFSB"), Signature::Xfs),
            (|b| put(b, 0x10040, b"_BHRfS_M"), Signature::Btrfs),
            (|b| put(b, 0, b"LUKS\xba\xbe\x00\x02"), Signature::Luks),
            (|b| put(b, 0x200, b"LABELONE"), Signature::Lvm2),
            (|b| put(b, 0x600, b"LABELONE"), Signature::Lvm2),
            (|b| put(b, 0x8001, b"CD001"), Signature::Iso9660),
            (
                |b| put(b, 0x1000, &0xA92B4EFCu32.to_le_bytes()),
                Signature::MdRaid,
            ),
            (|b| put(b, 0x03, b"NTFS    "), Signature::Ntfs),
        ];
        for (make, want) in cases {
            let mut b = blank();
            make(&mut b);
            assert_eq!(detect(&b), vec![*want], "{want}");
        }
    }

    #[test]
    fn fat_boot_sectors_are_fat_not_msdos() {
        for (off, ty) in [(0x36, &b"FAT16   "[..]), (0x52, b"FAT32   ")] {
            let mut b = blank();
            put(&mut b, 0, &[0xEB, 0x3C, 0x90]);
            put(&mut b, off, ty);
            // Boot code where a table would be: looks like entries.
            put(&mut b, 0x1BE, &[0x00, 1, 2, 3, 0x0E]);
            put(&mut b, 0x1FE, &[0x55, 0xAA]);
            assert_eq!(detect(&b), vec![Signature::Fat]);
        }
    }

    #[test]
    fn boot_signature_without_entries_is_not_a_table() {
        let mut b = blank();
        put(&mut b, 0x1FE, &[0x55, 0xAA]);
        assert!(detect(&b).is_empty());
        // A boot flag that no table has: boot code, not a table.
        msdos(&mut b);
        b[0x1BE + 16] = 0x33;
        assert!(detect(&b).is_empty());
    }

    #[test]
    fn gpt_disk_reports_the_table_not_its_protective_mbr() {
        let mut b = blank();
        put(&mut b, 0x1BE, &[0x00, 0, 2, 0, 0xEE]);
        put(&mut b, 0x1FE, &[0x55, 0xAA]);
        assert_eq!(detect(&b), vec![Signature::ProtectiveMbr]);
        put(&mut b, 0x200, b"EFI PART");
        assert_eq!(detect(&b), vec![Signature::Gpt { block_size: 512 }]);
    }

    #[test]
    fn several_at_once_in_order() {
        let mut b = blank();
        msdos(&mut b);
        ext_sb(&mut b, 0x4, 0, 0);
        put(&mut b, 0x200, b"LABELONE");
        assert_eq!(
            detect(&b),
            vec![
                Signature::Msdos,
                Signature::Ext(ExtKind::Ext3),
                Signature::Lvm2
            ]
        );
        assert_eq!(
            and_list(&detect(&b)),
            "an msdos partition table, an ext3 file system and an LVM2 \
             physical volume"
        );
    }

    #[test]
    fn every_truncation_is_safe_and_finds_less() {
        let mut b = blank();
        msdos(&mut b);
        ext_sb(&mut b, 0x4, 0x40, 0);
        put(&mut b, 4086, b"SWAPSPACE2");
        put(&mut b, 0x10040, b"_BHRfS_M");
        put(&mut b, 0x8001, b"CD001");
        let all = detect(&b);
        assert_eq!(all.len(), 5);
        let mut last = 0;
        for len in (0..=0x10050).rev() {
            let n = detect(&b[..len]).len();
            assert!(n <= all.len());
            if len < 0x10048 {
                assert!(!detect(&b[..len]).contains(&Signature::Btrfs));
            }
            last = n;
        }
        assert_eq!(last, 0);
        // The ext superblock's magic cut in half.
        assert!(detect(&b[..0x439])
            .iter()
            .all(|s| !matches!(s, Signature::Ext(_))));
    }

    #[test]
    fn a_flipped_magic_byte_hides_it() {
        let mut b = blank();
        put(&mut b, 0x10040, b"_BHRfS_M");
        b[0x10047] ^= 1;
        assert!(detect(&b).is_empty());
        let mut b = blank();
        ext_sb(&mut b, 0, 0, 0);
        b[0x438] ^= 0x80;
        assert!(detect(&b).is_empty());
    }

    #[test]
    fn list_wording() {
        let none: [&str; 0] = [];
        assert_eq!(and_list(&none), "");
        assert_eq!(and_list(&["a"]), "a");
        assert_eq!(and_list(&["a", "b"]), "a and b");
        assert_eq!(and_list(&["a", "b", "c"]), "a, b and c");
    }
}
