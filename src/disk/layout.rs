//! The disk layout: where each partition of the recipe starts and how
//! long it is, decided once, without I/O, before anything is written.
//!
//! Rules (the ones `fdisk`/`sfdisk` follow by default, so the result looks
//! like the seed's hand-partitioned disk):
//!
//! * sectors are 512 bytes ([`SECTOR_SIZE`]), addressed by [`Lba`];
//! * the first partition starts at 1 MiB (LBA 2048), and every start and
//!   every size is a whole number of MiB;
//! * a fixed size that is not a whole number of MiB is rounded **up** to
//!   the next MiB (a partition never gets less than asked for); the
//!   size as written is first checked against the file system's minimum
//!   (a swap area needs 10 pages, 40 KiB, as `mkswap` demands);
//! * partitions follow each other in recipe order without gaps;
//! * the `rest` partition takes everything up to the last MiB boundary
//!   that leaves room for the table's end: nothing for msdos, the backup
//!   GPT (33 sectors) for gpt, which for a whole-MiB disk leaves the
//!   last MiB free; partitions after `rest` follow it;
//! * msdos tables hold at most 4 partitions: lunforge writes no extended
//!   or logical partitions, so a fifth partition needs `table = "gpt"`;
//!   and every start and size must fit the MBR's 32-bit LBA fields
//!   (2 TiB).
//!
//! Identifiers are derived here too, so the table writers only execute
//! the plan: the MBR disk signature, the GPT disk GUID and each entry's
//! unique GUID come from [`Uuid::derive`] over the image name, and each
//! partition's file-system UUID is [`partition_fs_uuid`] (what the
//! guest's `/etc/fstab` names).

#![deny(clippy::arithmetic_side_effects, clippy::as_conversions)]

use super::{Error, Result};
use crate::ids::{partition_fs_uuid, Uuid};
use crate::recipe::{FsKind, PartSize, PartitionUse, Recipe, TableKind};
use crate::units::ByteSize;

/// The logical sector size of the images lunforge writes.
pub const SECTOR_SIZE: u64 = 512;
/// Partition alignment: 1 MiB.
pub const ALIGN: u64 = 1 << 20;
/// Sectors in one MiB.
pub const ALIGN_SECTORS: u64 = ALIGN / SECTOR_SIZE;
/// Sectors at the end of a GPT disk for the backup entries (32 sectors
/// of 128 entries × 128 bytes) and the backup header.
pub const GPT_BACKUP_SECTORS: u64 = 33;
/// The most partitions of an msdos table (primary partitions only).
pub const MSDOS_MAX_PARTITIONS: usize = 4;

/// A logical block address: the number of a 512-byte sector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lba(pub u64);

/// A number of 512-byte sectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sectors(pub u64);

impl Lba {
    /// The byte offset of the sector, or `None` on overflow.
    pub fn byte_offset(self) -> Option<u64> {
        self.0.checked_mul(SECTOR_SIZE)
    }
}

impl Sectors {
    /// The length in bytes, or `None` on overflow.
    pub fn bytes(self) -> Option<u64> {
        self.0.checked_mul(SECTOR_SIZE)
    }
}

/// The whole disk, planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskLayout {
    /// The guest's name (`image.name`).
    pub image: String,
    /// The partition table.
    pub table: TableKind,
    /// The disk's size in sectors.
    pub disk_sectors: Sectors,
    /// The MBR disk signature (msdos; 0 in a GPT's protective MBR).
    pub mbr_signature: u32,
    /// The GPT disk GUID.
    pub disk_guid: Uuid,
    /// The guest architecture (Debian name), which picks the GPT root
    /// partition type.
    pub architecture: String,
    /// The partitions in table order.
    pub partitions: Vec<PlannedPartition>,
}

/// One partition, placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPartition {
    /// Index in the recipe, from 0 (partition number `index + 1`).
    pub index: usize,
    /// Role.
    pub usage: PartitionUse,
    /// File system.
    pub fs: Option<FsKind>,
    /// Label (file system or swap label, and the GPT partition name).
    pub label: Option<String>,
    /// Where a data partition or an EFI system partition is mounted in
    /// the guest.
    pub mount: Option<String>,
    /// The recipe's ext settings.
    pub ext: crate::recipe::ExtOptions,
    /// First sector.
    pub first: Lba,
    /// Length.
    pub sectors: Sectors,
    /// UUID of the file system or swap area inside.
    pub fs_uuid: Uuid,
    /// The GPT entry's unique partition GUID.
    pub unique_guid: Uuid,
}

impl PlannedPartition {
    /// The last sector (inclusive), as GPT entries and sfdisk count.
    pub fn last(&self) -> Lba {
        // The plan never makes an empty partition.
        Lba(self
            .first
            .0
            .saturating_add(self.sectors.0)
            .saturating_sub(1))
    }

    /// Byte offset of the partition in the disk.
    pub fn offset(&self) -> u64 {
        // OK: plan() checked that the disk's byte size is a u64.
        self.first.byte_offset().unwrap_or(u64::MAX)
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        // OK: plan() checked that the disk's byte size is a u64.
        self.sectors.bytes().unwrap_or(u64::MAX)
    }
}

/// The recipe's name for a partition use.
pub fn use_name(usage: PartitionUse) -> &'static str {
    match usage {
        PartitionUse::Swap => "swap",
        PartitionUse::Root => "root",
        PartitionUse::Data => "data",
        PartitionUse::Esp => "esp",
    }
}

/// The smallest size a partition of this use can hold its contents in,
/// as the contents' own tool demands.
fn minimum(usage: PartitionUse) -> u64 {
    match usage {
        // mkswap: "swap area needs to be at least 40 KiB".
        PartitionUse::Swap => {
            use crate::filesystems::swap::{MIN_PAGES, PAGE_BYTES};
            MIN_PAGES.saturating_mul(PAGE_BYTES)
        }
        _ => 1,
    }
}

/// The least `rest` partition of this use: a MiB, or its contents'
/// minimum rounded up to MiB.
fn least_rest(usage: PartitionUse) -> Option<u64> {
    align_up(ALIGN.max(minimum(usage)))
}

/// The smallest disk that holds the partitions whose fixed sizes
/// (rounded up, `None` for `rest`) are `sizes`: the first MiB, each
/// partition, the least `rest` partition, and the `reserved_end` bytes
/// the table keeps at the end. `None` when no `u64` holds it.
fn minimum_disk(
    parts: &[crate::recipe::Partition],
    sizes: &[Option<u64>],
    reserved_end: u64,
) -> Option<u64> {
    parts.iter().zip(sizes).try_fold(
        ALIGN.checked_add(reserved_end)?,
        |total, (p, size)| {
            total.checked_add(match size {
                Some(s) => *s,
                None => least_rest(p.usage)?,
            })
        },
    )
}

/// What the disk must hold, in the recipe's terms, for
/// [`Error::DiskTooSmall`]: `1MiB for the partition table + 512MiB
/// (partitions[0], swap) + at least 1MiB (partitions[1], root, "rest")`.
fn holds(
    parts: &[crate::recipe::Partition],
    sizes: &[Option<u64>],
    table: TableKind,
) -> String {
    let mut out = vec![format!("{} for the partition table", ByteSize(ALIGN))];
    for (i, (p, size)) in parts.iter().zip(sizes).enumerate() {
        let usage = use_name(p.usage);
        out.push(match size {
            Some(s) => format!("{} (partitions[{i}], {usage})", ByteSize(*s)),
            None => format!(
                "at least {} (partitions[{i}], {usage}, \"rest\")",
                ByteSize(least_rest(p.usage).unwrap_or(ALIGN))
            ),
        });
    }
    if table == TableKind::Gpt {
        out.push(format!("{GPT_BACKUP_SECTORS} sectors for the backup GPT"));
    }
    out.join(" + ")
}

/// `n` rounded up to a multiple of [`ALIGN`].
fn align_up(n: u64) -> Option<u64> {
    n.checked_add(ALIGN.checked_sub(1)?)?
        .checked_div(ALIGN)?
        .checked_mul(ALIGN)
}

/// `n` rounded down to a multiple of [`ALIGN`].
fn align_down(n: u64) -> u64 {
    n.saturating_sub(n.checked_rem(ALIGN).unwrap_or(0))
}

/// Place the recipe's partitions on its disk (see the module doc).
pub fn plan(recipe: &Recipe) -> Result<DiskLayout> {
    let image = recipe.image.name.as_str();
    let table = recipe.image.table;
    let disk = recipe.image.size.bytes();
    if disk.checked_rem(SECTOR_SIZE) != Some(0) {
        return Err(Error::UnalignedDisk { size: disk });
    }
    let parts = &recipe.partitions;
    if table == TableKind::Msdos && parts.len() > MSDOS_MAX_PARTITIONS {
        return Err(Error::TooManyForMsdos { count: parts.len() });
    }
    let mut rest = None;
    for (i, p) in parts.iter().enumerate() {
        if p.size == PartSize::Rest {
            if let Some(first) = rest {
                return Err(Error::TwoRest { first, second: i });
            }
            rest = Some(i);
        }
    }
    // The last byte partitions may use (exclusive), on a MiB boundary.
    let reserved_end = match table {
        TableKind::Msdos => 0,
        TableKind::Gpt => GPT_BACKUP_SECTORS.saturating_mul(SECTOR_SIZE),
    };
    let limit = align_down(disk.saturating_sub(reserved_end));
    // Sizes first (rounded up), checked against the contents' minimum.
    let mut sizes = Vec::with_capacity(parts.len());
    for (index, p) in parts.iter().enumerate() {
        let size = match p.size {
            PartSize::Fixed(b) => {
                let min = minimum(p.usage);
                if b.bytes() < min {
                    return Err(Error::TooSmallForContents {
                        index,
                        usage: use_name(p.usage),
                        size: b,
                        minimum: ByteSize(min),
                    });
                }
                Some(align_up(b.bytes()).ok_or(Error::DoesNotFit {
                    index,
                    usage: use_name(p.usage),
                    size: b,
                    start: ByteSize(ALIGN),
                    limit: ByteSize(limit),
                })?)
            }
            PartSize::Rest => None,
        };
        sizes.push(size);
    }
    let fixed_total = sizes
        .iter()
        .flatten()
        .try_fold(0u64, |a, &s| a.checked_add(s));
    let needed = minimum_disk(parts, &sizes, reserved_end);
    if !needed.is_some_and(|n| disk >= n) {
        return Err(Error::DiskTooSmall {
            disk: ByteSize(disk),
            holds: holds(parts, &sizes, table),
            needs: match needed.and_then(align_up) {
                Some(n) => {
                    format!("image.size must be at least {}", ByteSize(n))
                }
                None => "no disk is that large".into(),
            },
        });
    }
    let mut start = ALIGN;
    let mut partitions = Vec::with_capacity(parts.len());
    for (index, (p, size)) in parts.iter().zip(&sizes).enumerate() {
        let usage = use_name(p.usage);
        let size = match size {
            Some(s) => *s,
            None => {
                // Everything the fixed partitions leave.
                let room = fixed_total
                    .and_then(|f| limit.checked_sub(f)?.checked_sub(ALIGN))
                    .unwrap_or(0);
                if room < ALIGN.max(minimum(p.usage)) {
                    return Err(Error::NoRoomForRest {
                        index,
                        usage,
                        start: ByteSize(start),
                        limit: ByteSize(limit),
                    });
                }
                room
            }
        };
        let end = start.checked_add(size).filter(|&e| e <= limit).ok_or(
            Error::DoesNotFit {
                index,
                usage,
                size: ByteSize(size),
                start: ByteSize(start),
                limit: ByteSize(limit),
            },
        )?;
        let first = Lba(start / SECTOR_SIZE);
        let sectors = Sectors(size / SECTOR_SIZE);
        if table == TableKind::Msdos
            && (u32::try_from(first.0).is_err()
                || u32::try_from(sectors.0).is_err())
        {
            return Err(Error::BeyondMsdos {
                index,
                usage,
                end: ByteSize(end),
            });
        }
        let n = index.to_string();
        partitions.push(PlannedPartition {
            index,
            usage: p.usage,
            fs: p.fs,
            label: p.label.clone(),
            mount: p.mount.clone(),
            ext: p.ext.clone(),
            first,
            sectors,
            fs_uuid: partition_fs_uuid(image, index),
            unique_guid: Uuid::derive(&[image, "partition", &n, "gpt-entry"]),
        });
        start = end;
    }
    let sig = Uuid::derive(&[image, "mbr-signature"]).0;
    Ok(DiskLayout {
        image: image.into(),
        table,
        disk_sectors: Sectors(disk / SECTOR_SIZE),
        mbr_signature: match table {
            TableKind::Msdos => {
                u32::from_le_bytes([sig[0], sig[1], sig[2], sig[3]])
            }
            TableKind::Gpt => 0,
        },
        disk_guid: Uuid::derive(&[image, "gpt-disk"]),
        architecture: recipe.system.architecture.clone(),
        partitions,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::recipe::{Image, Partition, System};

    /// Partitions of a test recipe: use and size (`None` = rest).
    pub(crate) type Parts = [(PartitionUse, Option<u64>)];

    /// A recipe with the given disk and partitions.
    pub(crate) fn recipe(size: u64, table: TableKind, parts: &Parts) -> Recipe {
        let system = System {
            suite: "trixie".into(),
            architecture: "amd64".into(),
            variant: crate::recipe::Variant::Required,
            mirror: "file:///nowhere".into(),
            mirror_origin: "test".into(),
            components: vec!["main".into()],
            include: vec![],
            include_mapped: vec![],
            exclude: vec![],
            keyring: vec![],
            configure: crate::recipe::ConfigureStrategy::Auto,
            updates: None,
            updates_origin: "test".into(),
            security: None,
            security_origin: "test".into(),
            timezone: crate::recipe::DEFAULT_TIMEZONE.into(),
            locale: crate::recipe::DEFAULT_LOCALE.into(),
        };
        Recipe {
            source: None,
            image: Image {
                name: "virtual01".into(),
                size: ByteSize(size),
                table,
            },
            partitions: parts
                .iter()
                .map(|&(usage, size)| Partition {
                    usage,
                    size: size.map_or(PartSize::Rest, |s| {
                        PartSize::Fixed(ByteSize(s))
                    }),
                    fs: match usage {
                        PartitionUse::Swap => None,
                        PartitionUse::Esp => Some(FsKind::Vfat),
                        _ => Some(FsKind::Ext3),
                    },
                    label: None,
                    mount: None,
                    ext: Default::default(),
                })
                .collect(),
            system,
            network: None,
            xen: crate::recipe::resolve::default_xen(
                "virtual01",
                crate::arch::Arch::Amd64,
            ),
            access: None,
            iscsi: None,
            boot: crate::recipe::Boot::external(),
            host: None,
        }
    }

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    use PartitionUse::{Data, Esp, Root, Swap};

    /// `(first LBA, sectors)` of each partition.
    fn placed(r: &Recipe) -> Vec<(u64, u64)> {
        plan(r)
            .unwrap()
            .partitions
            .iter()
            .map(|p| (p.first.0, p.sectors.0))
            .collect()
    }

    #[test]
    fn places_partitions() {
        let g8 = 8 * GIB / 512;
        // Disk size, table, partitions, wanted (first LBA, sectors).
        type Case<'a> = (u64, TableKind, &'a Parts, &'a [(u64, u64)]);
        let cases: &[Case] = &[
            // The seed: swap 512 MiB, root the rest.
            (
                8 * GIB,
                TableKind::Msdos,
                &[(Swap, Some(512 * MIB)), (Root, None)],
                &[(2048, 1_048_576), (1_050_624, g8 - 1_050_624)],
            ),
            // GPT leaves the last MiB for the backup table.
            (
                8 * GIB,
                TableKind::Gpt,
                &[(Swap, Some(512 * MIB)), (Root, None)],
                &[(2048, 1_048_576), (1_050_624, g8 - 1_050_624 - 2048)],
            ),
            // Rest in the middle; odd sizes rounded up to a MiB.
            (
                100 * MIB,
                TableKind::Msdos,
                &[(Esp, Some(MIB + 1)), (Root, None), (Swap, Some(40960))],
                &[(2048, 4096), (6144, 196_608), (202_752, 2048)],
            ),
            // A disk that is not a whole MiB: rest ends on a MiB boundary.
            (
                10 * MIB + 4096,
                TableKind::Msdos,
                &[(Root, None)],
                &[(2048, 18_432)],
            ),
            (
                10 * MIB + 512 * 33,
                TableKind::Gpt,
                &[(Root, None)],
                &[(2048, 18_432)],
            ),
            // Exactly full.
            (
                4 * MIB,
                TableKind::Msdos,
                &[(Root, Some(2 * MIB)), (Data, Some(MIB))],
                &[(2048, 4096), (6144, 2048)],
            ),
        ];
        for (size, table, parts, want) in cases {
            let r = recipe(*size, *table, parts);
            assert_eq!(&placed(&r), want, "{size} {table:?} {parts:?}");
        }
    }

    #[test]
    fn derives_identifiers() {
        let r = recipe(
            8 * GIB,
            TableKind::Msdos,
            &[(Swap, Some(MIB)), (Root, None)],
        );
        let l = plan(&r).unwrap();
        assert_eq!(l.partitions[0].fs_uuid, partition_fs_uuid("virtual01", 0));
        assert_eq!(l.partitions[1].fs_uuid, partition_fs_uuid("virtual01", 1));
        assert_ne!(l.partitions[0].unique_guid, l.partitions[1].unique_guid);
        assert_ne!(l.mbr_signature, 0);
        assert_eq!(l, plan(&r).unwrap());
        assert_eq!(l.partitions[1].last(), Lba(8 * GIB / 512 - 1));
        assert_eq!(l.partitions[1].offset(), 2 * MIB);
    }

    #[test]
    fn refuses_what_does_not_fit() {
        let r = recipe(8 * MIB, TableKind::Msdos, &[(Root, Some(8 * MIB))]);
        assert_eq!(
            plan(&r).unwrap_err().to_string(),
            "the 8MiB disk cannot hold 1MiB for the partition table + 8MiB \
             (partitions[0], root): image.size must be at least 9MiB"
        );
        let r = recipe(
            8 * MIB,
            TableKind::Gpt,
            &[(Swap, Some(6 * MIB)), (Root, None)],
        );
        assert_eq!(
            plan(&r).unwrap_err().to_string(),
            "the 8MiB disk cannot hold 1MiB for the partition table + 6MiB \
             (partitions[0], swap) + at least 1MiB (partitions[1], root, \
             \"rest\") + 33 sectors for the backup GPT: image.size must be \
             at least 9MiB"
        );
        // Exactly the minimum fits, a sector less does not.
        let parts = [(Swap, Some(6 * MIB)), (Root, None)];
        let r = recipe(8 * MIB + 33 * 512, TableKind::Gpt, &parts);
        assert_eq!(placed(&r), [(2048, 12288), (14336, 2048)]);
        let r = recipe(8 * MIB + 32 * 512, TableKind::Gpt, &parts);
        assert!(matches!(plan(&r), Err(Error::DiskTooSmall { .. })));
        let r = recipe(1024, TableKind::Msdos, &parts);
        assert!(matches!(plan(&r), Err(Error::DiskTooSmall { .. })));
        let r = recipe(GIB, TableKind::Msdos, &[(Root, None), (Data, None)]);
        assert!(matches!(
            plan(&r),
            Err(Error::TwoRest {
                first: 0,
                second: 1
            })
        ));
        let five = [(Data, Some(MIB)); 5];
        let r = recipe(GIB, TableKind::Msdos, &five);
        assert!(matches!(plan(&r), Err(Error::TooManyForMsdos { count: 5 })));
        let r = recipe(GIB, TableKind::Gpt, &five);
        assert_eq!(plan(&r).unwrap().partitions.len(), 5);
        let r =
            recipe(GIB, TableKind::Msdos, &[(Swap, Some(32768)), (Root, None)]);
        assert!(matches!(
            plan(&r),
            Err(Error::TooSmallForContents {
                index: 0,
                usage: "swap",
                ..
            })
        ));
        let r = recipe(3 << 40, TableKind::Msdos, &[(Root, None)]);
        assert!(matches!(plan(&r), Err(Error::BeyondMsdos { index: 0, .. })));
        let r = recipe(3 << 40, TableKind::Gpt, &[(Root, None)]);
        assert!(plan(&r).is_ok());
        let r = recipe(GIB + 1, TableKind::Gpt, &[(Root, None)]);
        assert!(matches!(plan(&r), Err(Error::UnalignedDisk { .. })));
        let r = recipe(
            u64::MAX - 511,
            TableKind::Gpt,
            &[(Root, Some(u64::MAX - 5))],
        );
        assert!(matches!(plan(&r), Err(Error::DoesNotFit { .. })));
    }
}
