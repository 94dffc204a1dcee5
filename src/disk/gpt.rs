//! The GUID partition table (UEFI 2.10 §5.3): a protective MBR in LBA 0,
//! the primary header in LBA 1 and its 128-entry array from LBA 2, and
//! the backup array and header in the last 33 sectors of the disk.
//!
//! GUIDs are written in the mixed-endian form of the UEFI spec (the
//! first three fields little-endian, the last two as bytes), CRC32s
//! cover the entry array and the header. Partition types follow the
//! Discoverable Partitions Specification
//! (<https://uapi-group.org/specifications/specs/discoverable_partitions_specification/>),
//! so systemd-gpt-auto-generator and `sfdisk` name them.
//!
//! Hand-written rather than with the `gpt` crate: that crate reads and
//! updates a table through its own device model and makes its GUIDs
//! itself, while here every number (GUIDs included, for reproducible
//! bytes) already comes from [`super::layout::plan`], and the two
//! record types are a few fixed fields each.

#![deny(clippy::arithmetic_side_effects, clippy::as_conversions)]

use std::io::{Read, Seek, SeekFrom, Write};

use super::layout::{use_name, DiskLayout, Lba, Sectors, SECTOR_SIZE};
use super::mbr::Mbr;
use super::{write_at, Error, Result};
use crate::ids::Uuid;
use crate::recipe::PartitionUse;

/// `Signature`: "EFI PART".
pub const SIGNATURE: [u8; 8] = *b"EFI PART";
/// `Revision` 1.0.
pub const REVISION_1_0: u32 = 0x0001_0000;
/// `HeaderSize`.
pub const HEADER_SIZE: u32 = 92;
/// `NumberOfPartitionEntries`.
pub const ENTRIES: u32 = 128;
/// `SizeOfPartitionEntry`.
pub const ENTRY_SIZE: u32 = 128;
/// Sectors of the entry array (128 × 128 bytes).
pub const ENTRY_ARRAY_SECTORS: u64 = 32;
/// Code units of `PartitionName`.
pub const NAME_UNITS: usize = 36;

/// Parse a GUID written the usual way, at compile time (an index out
/// of range or a bad digit is a compile error, not a run-time one).
#[allow(clippy::arithmetic_side_effects)]
const fn guid(s: &str) -> Uuid {
    let b = s.as_bytes();
    let mut out = [0u8; 16];
    let mut i = 0;
    let mut o = 0;
    while o < 16 {
        if b[i] == b'-' {
            i += 1;
            continue;
        }
        out[o] = (hex(b[i]) << 4) | hex(b[i + 1]);
        i += 2;
        o += 1;
    }
    Uuid(out)
}

#[allow(clippy::arithmetic_side_effects)]
const fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("not a lowercase hex digit"),
    }
}

/// Root partition, x86-64 (`SD_GPT_ROOT_X86_64`).
pub const ROOT_X86_64: Uuid = guid("4f68bce3-e8cd-4db1-96e7-fbcaf984b709");
/// Root partition, x86 (`SD_GPT_ROOT_X86`).
pub const ROOT_X86: Uuid = guid("44479540-f297-41b2-9af7-d131d5f0458a");
/// Root partition, 64-bit ARM (`SD_GPT_ROOT_ARM64`).
pub const ROOT_ARM64: Uuid = guid("b921b045-1df0-41c3-af44-4c6f280d3fae");
/// Swap (`SD_GPT_SWAP`).
pub const SWAP: Uuid = guid("0657fd6d-a4ab-43c4-84e5-0933c84b4f4f");
/// EFI system partition (`SD_GPT_ESP`).
pub const ESP: Uuid = guid("c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
/// Generic Linux data (`SD_GPT_LINUX_GENERIC`).
pub const LINUX_DATA: Uuid = guid("0fc63daf-8483-4772-8e79-3d69d8477de4");

/// The partition type GUID of `usage` for a guest of Debian
/// `architecture`. A root partition of an architecture without a type
/// here is generic Linux data: it still mounts by `root=UUID=`, it is
/// only not discovered automatically.
pub fn type_guid(usage: PartitionUse, architecture: &str) -> Uuid {
    match usage {
        PartitionUse::Swap => SWAP,
        PartitionUse::Esp => ESP,
        PartitionUse::Data => LINUX_DATA,
        PartitionUse::Root => match architecture {
            "amd64" => ROOT_X86_64,
            "i386" => ROOT_X86,
            "arm64" => ROOT_ARM64,
            _ => LINUX_DATA,
        },
    }
}

/// A GUID in the on-disk mixed-endian order.
pub fn guid_bytes(u: Uuid) -> [u8; 16] {
    let b = u.0;
    [
        b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10],
        b[11], b[12], b[13], b[14], b[15],
    ]
}

/// A GUID read from its on-disk order (the mapping is its own inverse).
pub fn guid_from_bytes(b: [u8; 16]) -> Uuid {
    Uuid(guid_bytes(Uuid(b)))
}

/// One entry of the partition entry array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptEntry {
    /// `PartitionTypeGUID` (0x00).
    pub partition_type_guid: Uuid,
    /// `UniquePartitionGUID` (0x10).
    pub unique_partition_guid: Uuid,
    /// `StartingLBA` (0x20).
    pub starting_lba: Lba,
    /// `EndingLBA` (0x28), inclusive.
    pub ending_lba: Lba,
    /// `Attributes` (0x30).
    pub attributes: u64,
    /// `PartitionName` (0x38): UTF-16LE code units, zero-padded.
    pub partition_name: [u16; NAME_UNITS],
}

impl GptEntry {
    /// Read an entry back.
    pub fn decode(b: &[u8; 128]) -> GptEntry {
        let mut partition_name = [0u16; NAME_UNITS];
        for (u, c) in
            partition_name.iter_mut().zip(b[0x38..0x80].chunks_exact(2))
        {
            *u = u16::from_le_bytes([c[0], c[1]]);
        }
        GptEntry {
            partition_type_guid: guid_from_bytes(take16(b, 0x00)),
            unique_partition_guid: guid_from_bytes(take16(b, 0x10)),
            starting_lba: Lba(u64_at(b, 0x20)),
            ending_lba: Lba(u64_at(b, 0x28)),
            attributes: u64_at(b, 0x30),
            partition_name,
        }
    }

    /// The 128 bytes of the entry.
    pub fn encode(&self) -> [u8; 128] {
        let mut b = [0u8; 128];
        b[0x00..0x10].copy_from_slice(&guid_bytes(self.partition_type_guid));
        b[0x10..0x20].copy_from_slice(&guid_bytes(self.unique_partition_guid));
        b[0x20..0x28].copy_from_slice(&self.starting_lba.0.to_le_bytes());
        b[0x28..0x30].copy_from_slice(&self.ending_lba.0.to_le_bytes());
        b[0x30..0x38].copy_from_slice(&self.attributes.to_le_bytes());
        for (d, u) in b[0x38..0x80].chunks_exact_mut(2).zip(self.partition_name)
        {
            d.copy_from_slice(&u.to_le_bytes());
        }
        b
    }
}

/// `name` as a `PartitionName`, or `None` when longer than 36 units.
pub fn partition_name(name: &str) -> Option<[u16; NAME_UNITS]> {
    let mut out = [0u16; NAME_UNITS];
    let mut n = 0usize;
    for u in name.encode_utf16() {
        *out.get_mut(n)? = u;
        n = n.checked_add(1)?;
    }
    Some(out)
}

/// A GPT header (primary or backup).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptHeader {
    /// `MyLBA` (0x18).
    pub my_lba: Lba,
    /// `AlternateLBA` (0x20).
    pub alternate_lba: Lba,
    /// `FirstUsableLBA` (0x28).
    pub first_usable_lba: Lba,
    /// `LastUsableLBA` (0x30).
    pub last_usable_lba: Lba,
    /// `DiskGUID` (0x38).
    pub disk_guid: Uuid,
    /// `PartitionEntryLBA` (0x48).
    pub partition_entry_lba: Lba,
    /// `PartitionEntryArrayCRC32` (0x58).
    pub partition_entry_array_crc32: u32,
}

/// The 16 bytes at `o` of `b`.
///
/// # Panics
///
/// When `b` is shorter than `o + 16`: callers pass fixed offsets into
/// fixed-size records.
#[track_caller]
fn take16(b: &[u8], o: usize) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&b[o..o.saturating_add(16)]);
    out
}

/// The little-endian u64 at `o` of `b` (panics like [`take16`]).
#[track_caller]
fn u64_at(b: &[u8], o: usize) -> u64 {
    let mut out = [0u8; 8];
    out.copy_from_slice(&b[o..o.saturating_add(8)]);
    u64::from_le_bytes(out)
}

/// The little-endian u32 at `o` of `b` (panics like [`take16`]).
#[track_caller]
fn u32_at(b: &[u8], o: usize) -> u32 {
    let mut out = [0u8; 4];
    out.copy_from_slice(&b[o..o.saturating_add(4)]);
    u32::from_le_bytes(out)
}

impl GptHeader {
    /// Read back the header in sector `lba`: the signature, revision,
    /// sizes and `HeaderCRC32` must be those lunforge writes.
    pub fn decode(s: &[u8; 512], lba: Lba) -> Result<GptHeader> {
        if s[0x00..0x08] != SIGNATURE {
            return Err(Error::GptSignature { lba: lba.0 });
        }
        let fixed = [
            ("Revision", 0x08, REVISION_1_0),
            ("HeaderSize", 0x0C, HEADER_SIZE),
            ("NumberOfPartitionEntries", 0x50, ENTRIES),
            ("SizeOfPartitionEntry", 0x54, ENTRY_SIZE),
        ];
        for (field, o, want) in fixed {
            let value = u32_at(s, o);
            if value != want {
                return Err(Error::GptField {
                    lba: lba.0,
                    field,
                    value,
                });
            }
        }
        let stored = u32_at(s, 0x10);
        let mut zeroed = *s;
        zeroed[0x10..0x14].fill(0);
        let computed = crc32fast::hash(&zeroed[..0x5C]);
        if stored != computed {
            return Err(Error::GptHeaderCrc {
                lba: lba.0,
                stored,
                computed,
            });
        }
        Ok(GptHeader {
            my_lba: Lba(u64_at(s, 0x18)),
            alternate_lba: Lba(u64_at(s, 0x20)),
            first_usable_lba: Lba(u64_at(s, 0x28)),
            last_usable_lba: Lba(u64_at(s, 0x30)),
            disk_guid: guid_from_bytes(take16(s, 0x38)),
            partition_entry_lba: Lba(u64_at(s, 0x48)),
            partition_entry_array_crc32: u32_at(s, 0x58),
        })
    }

    /// The header's sector: `Signature`, `Revision`, `HeaderSize`, the
    /// fields, and `HeaderCRC32` (0x10) computed over the 92 bytes with
    /// itself zero; the rest of the sector is zero.
    pub fn encode(&self) -> [u8; 512] {
        let mut s = [0u8; 512];
        s[0x00..0x08].copy_from_slice(&SIGNATURE);
        s[0x08..0x0C].copy_from_slice(&REVISION_1_0.to_le_bytes());
        s[0x0C..0x10].copy_from_slice(&HEADER_SIZE.to_le_bytes());
        // 0x10 HeaderCRC32 below; 0x14 Reserved stays zero.
        s[0x18..0x20].copy_from_slice(&self.my_lba.0.to_le_bytes());
        s[0x20..0x28].copy_from_slice(&self.alternate_lba.0.to_le_bytes());
        s[0x28..0x30].copy_from_slice(&self.first_usable_lba.0.to_le_bytes());
        s[0x30..0x38].copy_from_slice(&self.last_usable_lba.0.to_le_bytes());
        s[0x38..0x48].copy_from_slice(&guid_bytes(self.disk_guid));
        s[0x48..0x50]
            .copy_from_slice(&self.partition_entry_lba.0.to_le_bytes());
        s[0x50..0x54].copy_from_slice(&ENTRIES.to_le_bytes());
        s[0x54..0x58].copy_from_slice(&ENTRY_SIZE.to_le_bytes());
        s[0x58..0x5C]
            .copy_from_slice(&self.partition_entry_array_crc32.to_le_bytes());
        let crc = crc32fast::hash(&s[..0x5C]);
        s[0x10..0x14].copy_from_slice(&crc.to_le_bytes());
        s
    }
}

/// The whole GPT of a disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpt {
    /// The disk's size.
    pub disk_sectors: Sectors,
    /// `DiskGUID`.
    pub disk_guid: Uuid,
    /// The used entries, in partition order (the rest are zero).
    pub entries: Vec<GptEntry>,
}

impl Gpt {
    /// The GPT of `layout`: types from the partition use and the guest
    /// architecture, names from the label or else the use.
    pub fn plan(layout: &DiskLayout) -> Result<Gpt> {
        let count = layout.partitions.len();
        if count > 128 {
            return Err(Error::TooManyForGpt { count });
        }
        let entries = layout
            .partitions
            .iter()
            .map(|p| {
                let name = p.label.as_deref().unwrap_or(use_name(p.usage));
                Ok(GptEntry {
                    partition_type_guid: type_guid(
                        p.usage,
                        &layout.architecture,
                    ),
                    unique_partition_guid: p.unique_guid,
                    starting_lba: p.first,
                    ending_lba: p.last(),
                    attributes: 0,
                    partition_name: partition_name(name).ok_or_else(|| {
                        Error::GptNameTooLong {
                            index: p.index,
                            name: name.into(),
                        }
                    })?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Gpt {
            disk_sectors: layout.disk_sectors,
            disk_guid: layout.disk_guid,
            entries,
        })
    }

    /// The 16 KiB entry array.
    pub fn encode_entries(&self) -> Vec<u8> {
        let mut a = vec![0u8; 128 * 128];
        for (chunk, e) in a.chunks_exact_mut(128).zip(&self.entries) {
            chunk.copy_from_slice(&e.encode());
        }
        a
    }

    /// The primary and backup headers for an entry array with `crc`.
    pub fn headers(&self, crc: u32) -> (GptHeader, GptHeader) {
        let last = Lba(self.disk_sectors.0.saturating_sub(1));
        let backup_entries = Lba(last.0.saturating_sub(ENTRY_ARRAY_SECTORS));
        let primary = GptHeader {
            my_lba: Lba(1),
            alternate_lba: last,
            first_usable_lba: Lba(2u64.saturating_add(ENTRY_ARRAY_SECTORS)),
            last_usable_lba: Lba(backup_entries.0.saturating_sub(1)),
            disk_guid: self.disk_guid,
            partition_entry_lba: Lba(2),
            partition_entry_array_crc32: crc,
        };
        let backup = GptHeader {
            my_lba: last,
            alternate_lba: Lba(1),
            partition_entry_lba: backup_entries,
            ..primary.clone()
        };
        (primary, backup)
    }

    /// Read back the GPT of a disk of `disk_sectors` (the sink's read-back
    /// check and the tests): both headers and both entry arrays must be
    /// intact and agree, the primary must put its backup in the last
    /// sector, the usable LBAs must lie between the two tables, and each
    /// used entry (one with a type GUID) within them, first before last.
    pub fn read(
        input: &mut (impl Read + Seek),
        disk_sectors: Sectors,
    ) -> Result<Gpt> {
        let mut read_at = |lba: Lba, buf: &mut [u8], what| {
            let offset = lba.0.saturating_mul(SECTOR_SIZE);
            let io = |source| Error::Io {
                what,
                offset,
                source,
            };
            input.seek(SeekFrom::Start(offset)).map_err(io)?;
            input.read_exact(buf).map_err(io)
        };
        let last = Lba(disk_sectors.0.saturating_sub(1));
        let mut tables = Vec::with_capacity(2);
        for (lba, what) in [(Lba(1), "primary GPT"), (last, "backup GPT")] {
            let mut sector = [0u8; 512];
            read_at(lba, &mut sector, what)?;
            let header = GptHeader::decode(&sector, lba)?;
            // Checked before the backup is read, so that a truncated
            // image says so rather than "no GPT header" at its end.
            if lba == Lba(1) && header.alternate_lba != last {
                return Err(Error::GptAlternate {
                    alternate: header.alternate_lba.0,
                    last: last.0,
                });
            }
            let mut entries = vec![0u8; 128 * 128];
            read_at(header.partition_entry_lba, &mut entries, what)?;
            let computed = crc32fast::hash(&entries);
            if computed != header.partition_entry_array_crc32 {
                return Err(Error::GptEntriesCrc {
                    lba: header.partition_entry_lba.0,
                    stored: header.partition_entry_array_crc32,
                    computed,
                });
            }
            tables.push((header, entries));
        }
        let (primary, entries) = &tables[0];
        let (backup, backup_entries) = &tables[1];
        if entries != backup_entries
            || primary.disk_guid != backup.disk_guid
            || primary.alternate_lba != last
            || backup.alternate_lba != Lba(1)
            || primary.first_usable_lba != backup.first_usable_lba
            || primary.last_usable_lba != backup.last_usable_lba
        {
            return Err(Error::GptBackupMismatch { lba: last.0 });
        }
        let (first_usable, last_usable) =
            (primary.first_usable_lba.0, primary.last_usable_lba.0);
        let primary_end = primary
            .partition_entry_lba
            .0
            .saturating_add(ENTRY_ARRAY_SECTORS);
        if first_usable < primary_end
            || first_usable > last_usable
            || last_usable >= backup.partition_entry_lba.0
            || last_usable >= last.0
        {
            return Err(Error::GptUsableRange {
                lba: 1,
                first: first_usable,
                last: last_usable,
                disk_sectors: disk_sectors.0,
            });
        }
        let mut used = Vec::new();
        for (i, c) in entries.chunks_exact(128).enumerate() {
            let mut b = [0u8; 128];
            b.copy_from_slice(c);
            let e = GptEntry::decode(&b);
            if e.partition_type_guid == Uuid([0; 16]) {
                continue;
            }
            let number = i.saturating_add(1);
            let (first, end) = (e.starting_lba.0, e.ending_lba.0);
            if first > end {
                return Err(Error::GptEntryReversed {
                    number,
                    first,
                    last: end,
                });
            }
            if first < first_usable || end > last_usable {
                return Err(Error::GptEntryOutside {
                    number,
                    first,
                    last: end,
                    first_usable,
                    last_usable,
                });
            }
            used.push(e);
        }
        Ok(Gpt {
            disk_sectors,
            disk_guid: primary.disk_guid,
            entries: used,
        })
    }

    /// Write the protective MBR, the primary header and array, and the
    /// backup array and header.
    pub fn write(&self, out: &mut (impl Write + Seek)) -> Result<()> {
        let entries = self.encode_entries();
        let (primary, backup) = self.headers(crc32fast::hash(&entries));
        let at = |lba: Lba| lba.0.saturating_mul(SECTOR_SIZE);
        Mbr::protective(self.disk_sectors).write(out)?;
        write_at(out, at(Lba(1)), &primary.encode(), "primary GPT header")?;
        write_at(out, at(Lba(2)), &entries, "primary GPT entries")?;
        write_at(
            out,
            at(backup.partition_entry_lba),
            &entries,
            "backup GPT entries",
        )?;
        write_at(
            out,
            at(backup.my_lba),
            &backup.encode(),
            "backup GPT header",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::layout::plan;
    use crate::disk::layout::tests::{recipe, Parts};
    use crate::recipe::{PartitionUse::*, TableKind};

    const MIB: u64 = 1 << 20;

    #[test]
    fn guids_print_and_encode() {
        assert_eq!(
            ROOT_X86_64.to_string(),
            "4f68bce3-e8cd-4db1-96e7-fbcaf984b709"
        );
        assert_eq!(SWAP.to_string(), "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f");
        assert_eq!(ESP.to_string(), "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
        assert_eq!(
            LINUX_DATA.to_string(),
            "0fc63daf-8483-4772-8e79-3d69d8477de4"
        );
        // UEFI's own example: the ESP type on disk.
        assert_eq!(
            guid_bytes(ESP),
            [
                0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11, 0xBA, 0x4B,
                0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B
            ]
        );
        assert_eq!(guid_from_bytes(guid_bytes(SWAP)), SWAP);
        assert_eq!(
            partition_name("root").unwrap()[..5],
            [0x72, 0x6F, 0x6F, 0x74, 0]
        );
        assert!(partition_name(&"x".repeat(36)).is_some());
        assert!(partition_name(&"x".repeat(37)).is_none());
    }

    #[test]
    fn headers_place_the_backup_at_the_end() {
        let l = plan(&recipe(
            8 << 30,
            TableKind::Gpt,
            &[(Swap, Some(512 * MIB)), (Root, None)],
        ))
        .unwrap();
        let g = Gpt::plan(&l).unwrap();
        let (p, b) = g.headers(0);
        let n = (8u64 << 30) / 512;
        assert_eq!((p.my_lba, p.alternate_lba), (Lba(1), Lba(n - 1)));
        assert_eq!((b.my_lba, b.alternate_lba), (Lba(n - 1), Lba(1)));
        assert_eq!(b.partition_entry_lba, Lba(n - 33));
        assert_eq!(
            (p.first_usable_lba, p.last_usable_lba),
            (Lba(34), Lba(n - 34))
        );
        let s = p.encode();
        assert_eq!(&s[..8], b"EFI PART");
        let mut zeroed = s;
        zeroed[0x10..0x14].fill(0);
        assert_eq!(crc32fast::hash(&zeroed[..92]).to_le_bytes(), s[0x10..0x14]);
        let mut l2 = l.clone();
        l2.partitions[0].label = Some("ä".repeat(37));
        assert!(matches!(
            Gpt::plan(&l2),
            Err(Error::GptNameTooLong { index: 0, .. })
        ));
    }

    #[test]
    fn reads_back_and_catches_mutations() {
        let parts: &Parts =
            &[(Esp, Some(MIB)), (Swap, Some(MIB)), (Root, None)];
        let layout = plan(&recipe(16 * MIB, TableKind::Gpt, parts)).unwrap();
        let g = Gpt::plan(&layout).unwrap();
        let mut c = std::io::Cursor::new(Vec::new());
        g.write(&mut c).unwrap();
        let good = c.into_inner();
        let read = |bytes: &[u8]| {
            Gpt::read(&mut std::io::Cursor::new(bytes), layout.disk_sectors)
        };
        assert_eq!(read(&good).unwrap(), g);
        let last = 16 * MIB / 512 - 1;
        let flip = |at: u64| {
            let mut b = good.clone();
            b[usize::try_from(at).unwrap()] ^= 0x01;
            b
        };
        // Each header field, the entries, and the backup copy.
        assert!(matches!(
            read(&flip(512)),
            Err(Error::GptSignature { lba: 1 })
        ));
        assert!(matches!(
            read(&flip(512 + 0x0C)),
            Err(Error::GptField {
                lba: 1,
                field: "HeaderSize",
                value: 93
            })
        ));
        assert!(matches!(
            read(&flip(512 + 0x38)),
            Err(Error::GptHeaderCrc { lba: 1, .. })
        ));
        assert!(matches!(
            read(&flip(1024 + 0x38)),
            Err(Error::GptEntriesCrc { lba: 2, .. })
        ));
        assert!(matches!(
            read(&flip(last * 512 + 0x58)),
            Err(Error::GptHeaderCrc { lba, .. }) if lba == last
        ));
        assert!(matches!(
            read(&flip((last - 32) * 512 + 0x20)),
            Err(Error::GptEntriesCrc { lba, .. }) if lba == last - 32
        ));
        assert!(matches!(
            read(&good[..good.len() - 512]),
            Err(Error::Io {
                what: "backup GPT",
                ..
            })
        ));
        // A consistent backup that disagrees with the primary.
        let mut other = layout.clone();
        other.disk_guid = Uuid([7; 16]);
        let mut c = std::io::Cursor::new(good.clone());
        Gpt::plan(&other).unwrap().write(&mut c).unwrap();
        let mut mixed = good.clone();
        let tail = usize::try_from(last * 512).unwrap();
        mixed[tail..].copy_from_slice(&c.get_ref()[tail..]);
        assert!(matches!(
            read(&mixed),
            Err(Error::GptBackupMismatch { lba }) if lba == last
        ));
    }
    /// A table whose CRCs are all right but whose numbers are not: each
    /// mutation is written back with both headers and arrays resealed.
    #[test]
    fn rejects_entries_and_usable_lbas_off_the_disk() {
        let parts: &Parts = &[(Swap, Some(MIB)), (Root, None)];
        let layout = plan(&recipe(16 * MIB, TableKind::Gpt, parts)).unwrap();
        let g = Gpt::plan(&layout).unwrap();
        let n = layout.disk_sectors.0;
        let write = |g: &Gpt| {
            let mut c = std::io::Cursor::new(Vec::new());
            g.write(&mut c).unwrap();
            c.into_inner()
        };
        let read = |bytes: &[u8]| {
            let sectors = Sectors(u64::try_from(bytes.len()).unwrap() / 512);
            Gpt::read(&mut std::io::Cursor::new(bytes), sectors)
        };
        let entry = |i: usize, first: u64, last: u64| {
            let mut m = g.clone();
            m.entries[i].starting_lba = Lba(first);
            m.entries[i].ending_lba = Lba(last);
            read(&write(&m))
        };
        assert_eq!(read(&write(&g)).unwrap(), g);
        let (first_usable, last_usable) = (34, n - 34);
        let end = g.entries[1].ending_lba.0;
        assert!(matches!(
            entry(1, 4096, u64::MAX),
            Err(Error::GptEntryOutside { number: 2, first: 4096, last, .. })
                if last == u64::MAX
        ));
        assert!(matches!(
            entry(1, 1 << 55, (1 << 55) + 10),
            Err(Error::GptEntryOutside { number: 2, first, .. })
                if first == 1 << 55
        ));
        assert!(matches!(
            entry(1, 4096, last_usable + 1),
            Err(Error::GptEntryOutside { number: 2, last, last_usable: l, .. })
                if last == last_usable + 1 && l == last_usable
        ));
        assert!(matches!(
            entry(0, first_usable - 1, 2047),
            Err(Error::GptEntryOutside {
                number: 1,
                first: 33,
                first_usable: 34,
                ..
            })
        ));
        assert!(matches!(
            entry(1, end, 4096),
            Err(Error::GptEntryReversed { number: 2, last: 4096, first })
                if first == end
        ));
        // The edges themselves are usable.
        assert!(entry(0, first_usable, 2047).is_ok());
        assert!(entry(1, 4096, last_usable).is_ok());
        // Usable LBAs in a table, or past the disk, in both headers.
        let entries = g.encode_entries();
        let headers = |first: u64, last: u64| {
            let mut b = write(&g);
            let (mut p, mut k) = g.headers(crc32fast::hash(&entries));
            p.first_usable_lba = Lba(first);
            p.last_usable_lba = Lba(last);
            k.first_usable_lba = Lba(first);
            k.last_usable_lba = Lba(last);
            b[512..1024].copy_from_slice(&p.encode());
            let at = usize::try_from(k.my_lba.0 * 512).unwrap();
            b[at..at + 512].copy_from_slice(&k.encode());
            read(&b)
        };
        assert!(headers(first_usable, last_usable).is_ok());
        for (first, last) in [
            (33, last_usable),
            (first_usable, n - 33),
            (first_usable, u64::MAX),
            (u64::MAX, u64::MAX),
            (4096, 4095),
        ] {
            let r = headers(first, last);
            assert!(
                matches!(
                    r,
                    Err(Error::GptUsableRange { lba: 1, first: f, last: l, disk_sectors })
                        if (f, l, disk_sectors) == (first, last, n)
                ),
                "{first}..{last}: {r:?}"
            );
        }
        // A truncated image: the header says where the backup was.
        let good = write(&g);
        let half = &good[..good.len() / 2];
        assert!(matches!(
            read(half),
            Err(Error::GptAlternate { alternate, last })
                if alternate == n - 1 && last == n / 2 - 1
        ));
    }
}
