//! The disk stage: the partition table and the placement of each
//! partition's contents in the image.
//!
//! [`layout::plan`] decides, without I/O, where every partition goes
//! (1 MiB alignment, `rest`, the limits of each table kind); the table
//! writers only execute that plan: [`mbr`] (the msdos table the seed
//! made with `fdisk`) and [`gpt`] (protective MBR, primary and backup
//! GUID partition tables). [`write_table`] picks one.
//!
//! `sfdisk --json`/`--dump`, `sgdisk -v` and `blkid` are the oracles
//! (`tests/integration/disk_oracle.rs`).

use std::io::{Seek, Write};

pub mod gpt;
pub mod layout;
pub mod mbr;

pub use layout::{plan, DiskLayout, Lba, PlannedPartition, Sectors};

use crate::recipe::TableKind;
use crate::units::ByteSize;

/// Errors of the disk stage; each names the partition (as its recipe
/// key `partitions[N]`) and the sizes involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The disk size is not a whole number of 512-byte sectors.
    #[error("{size} bytes is not a whole number of 512-byte sectors")]
    UnalignedDisk {
        /// The size.
        size: u64,
    },
    /// More partitions than an msdos table has primary slots.
    #[error(
        "an msdos partition table holds at most 4 partitions and the \
         recipe has {count}: lunforge writes no extended or logical \
         partitions; use table = \"gpt\""
    )]
    TooManyForMsdos {
        /// The number of partitions.
        count: usize,
    },
    /// Two partitions ask for the rest of the disk.
    #[error(
        "partitions[{second}]: only one partition may be \"rest\" \
         (partitions[{first}] is too)"
    )]
    TwoRest {
        /// The first `rest` partition.
        first: usize,
        /// The second.
        second: usize,
    },
    /// A partition smaller than its contents' minimum.
    #[error(
        "partitions[{index}] ({usage}) of {size} is smaller than the \
         {minimum} its contents need"
    )]
    TooSmallForContents {
        /// Recipe index.
        index: usize,
        /// Its use.
        usage: &'static str,
        /// The size asked for.
        size: ByteSize,
        /// The minimum.
        minimum: ByteSize,
    },
    /// The disk is smaller than the partition table and the partitions
    /// with their least sizes.
    #[error("the {disk} disk cannot hold {holds}: {needs}")]
    DiskTooSmall {
        /// The disk's size.
        disk: ByteSize,
        /// What it must hold, in the recipe's terms.
        holds: String,
        /// The size it needs.
        needs: String,
    },
    /// A partition does not fit before the end of the usable space.
    #[error(
        "partitions[{index}] ({usage}) of {size} at {start} does not fit: \
         partitions must end by {limit} of this disk"
    )]
    DoesNotFit {
        /// Recipe index.
        index: usize,
        /// Its use.
        usage: &'static str,
        /// Its size, rounded up to a MiB.
        size: ByteSize,
        /// Where it would start.
        start: ByteSize,
        /// The end of the usable space.
        limit: ByteSize,
    },
    /// Nothing (or less than a MiB) is left for the `rest` partition.
    #[error(
        "partitions[{index}] ({usage}) is \"rest\" but no whole MiB is \
         left for it: it would start at {start} and partitions must end \
         by {limit} of this disk"
    )]
    NoRoomForRest {
        /// Recipe index.
        index: usize,
        /// Its use.
        usage: &'static str,
        /// Where it would start.
        start: ByteSize,
        /// The end of the usable space.
        limit: ByteSize,
    },
    /// A partition beyond the 32-bit sector numbers of an MBR.
    #[error(
        "partitions[{index}] ({usage}) ends at {end}, beyond the 2TiB an \
         msdos table can address; use table = \"gpt\""
    )]
    BeyondMsdos {
        /// Recipe index.
        index: usize,
        /// Its use.
        usage: &'static str,
        /// Its end.
        end: ByteSize,
    },
    /// A GPT partition name longer than the entry's 36 UTF-16 units.
    #[error(
        "partitions[{index}]: GPT partition name {name:?} is longer than \
         36 UTF-16 code units"
    )]
    GptNameTooLong {
        /// Recipe index.
        index: usize,
        /// The name.
        name: String,
    },
    /// A GPT with more partitions than its 128 entries.
    #[error("a GPT holds at most 128 partitions and the recipe has {count}")]
    TooManyForGpt {
        /// The number of partitions.
        count: usize,
    },
    /// No GPT header where one must be.
    #[error("LBA {lba}: no GPT header signature \"EFI PART\"")]
    GptSignature {
        /// The sector.
        lba: u64,
    },
    /// A GPT header field that lunforge never writes.
    #[error("LBA {lba}: unexpected GPT {field} {value}")]
    GptField {
        /// The sector.
        lba: u64,
        /// The spec's field name.
        field: &'static str,
        /// Its value.
        value: u32,
    },
    /// A GPT header whose CRC32 does not match its bytes.
    #[error(
        "LBA {lba}: GPT header CRC32 is {stored:#010x}, its bytes give \
         {computed:#010x}"
    )]
    GptHeaderCrc {
        /// The sector.
        lba: u64,
        /// `HeaderCRC32`.
        stored: u32,
        /// The CRC32 of the header as read.
        computed: u32,
    },
    /// A GPT entry array whose CRC32 does not match the header's.
    #[error(
        "LBA {lba}: GPT entry array CRC32 is {computed:#010x}, the header \
         says {stored:#010x}"
    )]
    GptEntriesCrc {
        /// The array's first sector.
        lba: u64,
        /// `PartitionEntryArrayCRC32`.
        stored: u32,
        /// The CRC32 of the array as read.
        computed: u32,
    },
    /// The primary GPT header does not put its backup in the disk's last
    /// sector: the image is truncated, or was grown after partitioning.
    #[error(
        "LBA 1: the GPT header puts its backup at LBA {alternate}, the \
         disk's last sector is LBA {last}"
    )]
    GptAlternate {
        /// `AlternateLBA`.
        alternate: u64,
        /// The disk's last sector.
        last: u64,
    },
    /// The usable LBAs of a GPT header overlap a table or leave the disk.
    #[error(
        "LBA {lba}: GPT usable LBAs {first} to {last} do not lie between \
         the two tables of this {disk_sectors}-sector disk"
    )]
    GptUsableRange {
        /// The header's sector.
        lba: u64,
        /// `FirstUsableLBA`.
        first: u64,
        /// `LastUsableLBA`.
        last: u64,
        /// The disk's size.
        disk_sectors: u64,
    },
    /// A GPT entry that ends before it starts.
    #[error("GPT entry {number}: ends at LBA {last}, before its start at LBA {first}")]
    GptEntryReversed {
        /// The entry's number, from 1.
        number: usize,
        /// `StartingLBA`.
        first: u64,
        /// `EndingLBA`.
        last: u64,
    },
    /// A GPT entry outside the header's usable LBAs.
    #[error(
        "GPT entry {number}: LBAs {first} to {last} are outside the \
         usable LBAs {first_usable} to {last_usable}"
    )]
    GptEntryOutside {
        /// The entry's number, from 1.
        number: usize,
        /// `StartingLBA`.
        first: u64,
        /// `EndingLBA`.
        last: u64,
        /// The header's `FirstUsableLBA`.
        first_usable: u64,
        /// The header's `LastUsableLBA`.
        last_usable: u64,
    },
    /// An MBR partition record that runs past the end of the disk.
    #[error(
        "msdos partition {number}: {sectors} sectors from LBA {first} pass \
         the end of this {disk_sectors}-sector disk"
    )]
    MbrBeyondDisk {
        /// The record's number, from 1.
        number: usize,
        /// `StartingLBA`.
        first: u32,
        /// `SizeInLBA`.
        sectors: u32,
        /// The disk's size.
        disk_sectors: u64,
    },
    /// The backup GPT is intact but differs from the primary.
    #[error("LBA {lba}: the backup GPT does not match the primary")]
    GptBackupMismatch {
        /// The backup header's sector.
        lba: u64,
    },
    /// Writing (or reading back) the table failed.
    #[error("cannot access the {what} at byte {offset}: {source}")]
    Io {
        /// Which structure.
        what: &'static str,
        /// Where.
        offset: u64,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Result of the disk stage.
pub type Result<T> = std::result::Result<T, Error>;

/// Write `bytes` at byte `offset` of `out`, naming `what` on failure.
fn write_at(
    out: &mut (impl Write + Seek),
    offset: u64,
    bytes: &[u8],
    what: &'static str,
) -> Result<()> {
    let io = |source| Error::Io {
        what,
        offset,
        source,
    };
    out.seek(std::io::SeekFrom::Start(offset)).map_err(io)?;
    out.write_all(bytes).map_err(io)
}

/// Write the partition table of `layout` into `out`, a disk image of
/// the layout's size: the MBR, or the protective MBR with the primary
/// and backup GPT. Only the table's sectors are written; the caller
/// writes each partition's contents at [`PlannedPartition::offset`].
pub fn write_table(
    out: &mut (impl Write + Seek),
    layout: &DiskLayout,
) -> Result<()> {
    match layout.table {
        TableKind::Msdos => mbr::Mbr::plan(layout).write(out),
        TableKind::Gpt => gpt::Gpt::plan(layout)?.write(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::layout::tests::recipe;
    use crate::recipe::PartitionUse::{Root, Swap};
    use std::io::Cursor;

    const MIB: u64 = 1 << 20;

    /// The same layout gives the same bytes, and a GPT ends exactly at
    /// the end of the disk.
    #[test]
    fn tables_are_reproducible() {
        for table in [TableKind::Msdos, TableKind::Gpt] {
            let parts = [(Swap, Some(4 * MIB)), (Root, None)];
            let layout = plan(&recipe(16 * MIB, table, &parts)).unwrap();
            let write = || {
                let mut c = Cursor::new(Vec::new());
                write_table(&mut c, &layout).unwrap();
                c.into_inner()
            };
            let a = write();
            assert_eq!(a, write());
            match table {
                TableKind::Msdos => assert_eq!(a.len(), 512),
                TableKind::Gpt => assert_eq!(a.len(), 16 << 20),
            }
        }
    }

    #[test]
    fn error_messages() {
        let b = ByteSize;
        let cases: Vec<(Error, &str)> =
            vec![
            (
                Error::UnalignedDisk { size: 1025 },
                "1025 bytes is not a whole number of 512-byte sectors",
            ),
            (
                Error::DiskTooSmall {
                    disk: b(1024),
                    holds: "1MiB for the partition table".into(),
                    needs: "image.size must be at least 1MiB".into(),
                },
                "the 1KiB disk cannot hold 1MiB for the partition table: \
                 image.size must be at least 1MiB",
            ),
            (
                Error::TooManyForMsdos { count: 5 },
                "an msdos partition table holds at most 4 partitions and \
                 the recipe has 5: lunforge writes no extended or logical \
                 partitions; use table = \"gpt\"",
            ),
            (
                Error::TwoRest { first: 0, second: 2 },
                "partitions[2]: only one partition may be \"rest\" \
                 (partitions[0] is too)",
            ),
            (
                Error::TooSmallForContents {
                    index: 0,
                    usage: "swap",
                    size: b(32768),
                    minimum: b(40960),
                },
                "partitions[0] (swap) of 32KiB is smaller than the 40KiB \
                 its contents need",
            ),
            (
                Error::DoesNotFit {
                    index: 1,
                    usage: "root",
                    size: b(8 << 30),
                    start: b(1 << 20),
                    limit: b(8 << 30),
                },
                "partitions[1] (root) of 8GiB at 1MiB does not fit: \
                 partitions must end by 8GiB of this disk",
            ),
            (
                Error::NoRoomForRest {
                    index: 1,
                    usage: "root",
                    start: b(7 << 20),
                    limit: b(7 << 20),
                },
                "partitions[1] (root) is \"rest\" but no whole MiB is left \
                 for it: it would start at 7MiB and partitions must end by \
                 7MiB of this disk",
            ),
            (
                Error::BeyondMsdos {
                    index: 0,
                    usage: "root",
                    end: b(3 << 40),
                },
                "partitions[0] (root) ends at 3TiB, beyond the 2TiB an msdos \
                 table can address; use table = \"gpt\"",
            ),
            (
                Error::GptNameTooLong {
                    index: 3,
                    name: "n".into(),
                },
                "partitions[3]: GPT partition name \"n\" is longer than 36 \
                 UTF-16 code units",
            ),
            (
                Error::TooManyForGpt { count: 129 },
                "a GPT holds at most 128 partitions and the recipe has 129",
            ),
            (
                Error::Io {
                    what: "backup GPT header",
                    offset: 512,
                    source: std::io::Error::other("disk full"),
                },
                "cannot access the backup GPT header at byte 512: disk full",
            ),
            (
                Error::GptSignature { lba: 1 },
                "LBA 1: no GPT header signature \"EFI PART\"",
            ),
            (
                Error::GptField {
                    lba: 1,
                    field: "HeaderSize",
                    value: 93,
                },
                "LBA 1: unexpected GPT HeaderSize 93",
            ),
            (
                Error::GptHeaderCrc {
                    lba: 1,
                    stored: 0xdead,
                    computed: 0xbeef,
                },
                "LBA 1: GPT header CRC32 is 0x0000dead, its bytes give \
                 0x0000beef",
            ),
            (
                Error::GptEntriesCrc {
                    lba: 2,
                    stored: 1,
                    computed: 2,
                },
                "LBA 2: GPT entry array CRC32 is 0x00000002, the header \
                 says 0x00000001",
            ),
            (
                Error::GptBackupMismatch { lba: 9 },
                "LBA 9: the backup GPT does not match the primary",
            ),
            (
                Error::GptAlternate {
                    alternate: 131071,
                    last: 65535,
                },
                "LBA 1: the GPT header puts its backup at LBA 131071, the \
                 disk's last sector is LBA 65535",
            ),
            (
                Error::GptUsableRange {
                    lba: 1,
                    first: 34,
                    last: 70000,
                    disk_sectors: 65536,
                },
                "LBA 1: GPT usable LBAs 34 to 70000 do not lie between the \
                 two tables of this 65536-sector disk",
            ),
            (
                Error::GptEntryReversed {
                    number: 2,
                    first: 4096,
                    last: 2048,
                },
                "GPT entry 2: ends at LBA 2048, before its start at LBA 4096",
            ),
            (
                Error::GptEntryOutside {
                    number: 3,
                    first: 2048,
                    last: 99999,
                    first_usable: 34,
                    last_usable: 65502,
                },
                "GPT entry 3: LBAs 2048 to 99999 are outside the usable LBAs \
                 34 to 65502",
            ),
            (
                Error::MbrBeyondDisk {
                    number: 2,
                    first: 2048,
                    sectors: 131072,
                    disk_sectors: 65536,
                },
                "msdos partition 2: 131072 sectors from LBA 2048 pass the end \
                 of this 65536-sector disk",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want);
        }
    }
}
