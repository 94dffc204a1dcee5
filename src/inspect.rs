//! `lunforge inspect`: what an image holds, read back from its bytes.
//!
//! The partition table (MBR or GPT), each partition's contents (ext2/3/4
//! from its superblock, swap from its header, FAT from its boot sector)
//! with type, UUID (a FAT volume id), label,
//! size and usage, the image's apparent and allocated size, and the
//! partition map as a bar drawn to scale. An image without a table is
//! probed as one file system.
//!
//! The guest's architecture is told where the bytes or the build say it:
//! the GPT root partition's type (the Discoverable Partitions
//! Specification gives each architecture its own), else, for an image
//! file, the `manifest.json` lunforge wrote beside it (`OUT/<name>/` next
//! to `OUT/<name>.img`) when that manifest describes an image of this
//! name and size. An MBR has nothing to say it, and inspect does not
//! read files out of the root file system.
//!
//! The image is untrusted input: the table's numbers are checked
//! ([`Gpt::read`], [`mbr::PartRecord::check`]) and all arithmetic on
//! them is checked, so that a crafted table gives an error or a line
//! saying what is wrong, never a panic or a wrapped offset.

#![deny(clippy::arithmetic_side_effects, clippy::as_conversions)]

use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::arch::Arch;
use crate::disk::gpt::{self, Gpt};
use crate::disk::layout::SECTOR_SIZE;
use crate::disk::mbr::{self, Mbr};
use crate::disk::Sectors;
use crate::filesystems::ext::superblock::Superblock;
use crate::filesystems::fat::boot_sector::BootSector;
use crate::filesystems::swap::{SwapHeader, PAGE_BYTES, PAGE_SIZE};
use crate::ids::{Uuid, VolumeId};
use crate::sink::device::DeviceReader;
use crate::sink::target::{Target, TargetOptions};
use crate::units::human;

/// Errors of `inspect`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The image cannot be read.
    #[error("{path}: {source}")]
    Read {
        /// The image.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The device or LUN cannot be opened.
    #[error(transparent)]
    Target(#[from] crate::sink::Error),
    /// The GPT is damaged.
    #[error("{path}: {source}")]
    Table {
        /// The image.
        path: PathBuf,
        /// The table's error.
        source: crate::disk::Error,
    },
}

/// Result of `inspect`.
pub type Result<T> = std::result::Result<T, Error>;

/// Columns of the partition bar.
const BAR_WIDTH: usize = 64;

/// One partition as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Partition number, from 1.
    pub number: usize,
    /// First byte.
    pub offset: u64,
    /// Length in bytes.
    pub size: u64,
    /// The table's type, as text.
    pub table_type: String,
    /// What is inside.
    pub contents: Contents,
}

/// What a partition (or a table-less image) holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contents {
    /// An ext file system.
    Ext {
        /// `ext2`, `ext3` or `ext4`, from the feature words.
        kind: &'static str,
        /// UUID.
        uuid: Uuid,
        /// Volume label.
        label: String,
        /// Size in bytes.
        size: u64,
        /// Bytes in use.
        used: u64,
    },
    /// A FAT file system.
    Fat {
        /// `FAT12`, `FAT16` or `FAT32`, from the cluster count.
        kind: &'static str,
        /// The volume id, which `blkid` calls its UUID.
        volume_id: VolumeId,
        /// The boot sector's volume label.
        label: String,
        /// Size in bytes.
        size: u64,
    },
    /// A swap area.
    Swap {
        /// UUID.
        uuid: Uuid,
        /// Label.
        label: String,
        /// Usable bytes.
        size: u64,
    },
    /// Nothing recognised.
    Unknown,
    /// The partition runs past the end of the image (a truncated
    /// image, or a table made for a larger disk); nothing is probed.
    BeyondEnd {
        /// The image's size in bytes.
        image: u64,
    },
}

/// The report for the image at `path`; `color` draws the bar in ANSI
/// colours.
pub fn inspect(path: &Path, color: bool) -> Result<String> {
    let read_err = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut f = File::open(path).map_err(read_err)?;
    let md = f.metadata().map_err(read_err)?;
    let len = if md.file_type().is_file() {
        md.len()
    } else {
        f.seek(SeekFrom::End(0)).map_err(read_err)?
    };
    let allocated = md
        .file_type()
        .is_file()
        .then(|| md.blocks().saturating_mul(512));
    let (mut out, from_table) = report_arch(
        &mut f,
        &path.display().to_string(),
        len,
        allocated,
        color,
    )?;
    if from_table.is_none() {
        if let Some((arch, manifest)) = manifest_architecture(path, len) {
            let _ = writeln!(
                out,
                "{ARCH_LINE}{arch} (from {})",
                manifest.display()
            );
        }
    }
    Ok(out)
}

/// The start of the architecture line.
const ARCH_LINE: &str = "architecture: ";

/// The largest manifest read (a build's lists a few hundred packages).
const MAX_MANIFEST: u64 = 16 << 20;

/// The architecture in the manifest of the build that wrote the image
/// file `image` (`DIR/NAME.img` → `DIR/NAME/manifest.json`), if there
/// is one whose output is a file of that name and `len` bytes; with the
/// manifest's path.
fn manifest_architecture(image: &Path, len: u64) -> Option<(Arch, PathBuf)> {
    let file_name = image.file_name()?.to_str()?;
    let stem = file_name.strip_suffix(".img")?;
    let manifest = image.with_file_name(stem).join("manifest.json");
    // A regular file only: a FIFO put there would block the read.
    let f = File::open(&manifest).ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    f.take(MAX_MANIFEST).read_to_string(&mut text).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let output = v.get("output")?;
    let same = output.get("name")?.as_str() == Some(file_name)
        && output.get("size")?.as_u64() == Some(len);
    // A known name only: the text goes to a terminal.
    let arch = Arch::from_debian(v.get("architecture")?.as_str()?)?;
    same.then_some((arch, manifest))
}

/// The architecture a GPT root partition's type names.
fn table_architecture(parts: &[Found]) -> Option<Arch> {
    parts.iter().find_map(|p| match p.table_type.as_str() {
        ROOT_X86_64 => Some(Arch::Amd64),
        ROOT_ARM64 => Some(Arch::Arm64),
        _ => None,
    })
}

/// [`gpt_type`]'s names of the root types [`table_architecture`] reads.
const ROOT_X86_64: &str = "Linux root (x86-64)";
/// See [`ROOT_X86_64`].
const ROOT_ARM64: &str = "Linux root (ARM-64)";

/// The report for a target as the operator names it: an image file, a
/// block device, or an `iscsi://` LUN (read over the network, with the
/// CHAP secret from `secret` when the URL has none).
pub fn inspect_target(
    name: &str,
    secret: Option<crate::recipe::SecretSource>,
    color: bool,
) -> Result<String> {
    let target = Target::parse(name)?;
    match &target {
        Target::File(p) | Target::Device(p) => inspect(p, color),
        Target::Iscsi(_) => {
            let opts = TargetOptions {
                chap_secret: secret,
                ..TargetOptions::default()
            };
            let dev = target.open_for_reading(&opts)?;
            let len = dev.capacity();
            let mut r = DeviceReader::new(dev);
            report(&mut r, &target.to_string(), len, None, color)
        }
    }
}

/// The report on `f`, `len` bytes long, named `name`; `allocated` for
/// an image file. [`inspect`] and [`inspect_target`] call it on a file,
/// a device or a LUN; it takes any reader, such as an image in memory.
pub fn report(
    f: &mut (impl Read + Seek),
    name: &str,
    len: u64,
    allocated: Option<u64>,
    color: bool,
) -> Result<String> {
    report_arch(f, name, len, allocated, color).map(|(text, _)| text)
}

/// [`report`], with the architecture the partition table names.
fn report_arch(
    f: &mut (impl Read + Seek),
    name: &str,
    len: u64,
    allocated: Option<u64>,
    color: bool,
) -> Result<(String, Option<Arch>)> {
    let (table, parts) = partitions(f, len).map_err(|e| match e {
        Probe::Io(source) => Error::Read {
            path: name.into(),
            source,
        },
        Probe::Table(source) => Error::Table {
            path: name.into(),
            source,
        },
    })?;
    let mut out = String::new();
    let alloc = allocated
        .map(|a| format!("; {} allocated", human(a)))
        .unwrap_or_default();
    let _ = writeln!(out, "{name}: {}, {table}{alloc}", human(len));
    if !parts.is_empty() {
        let _ = writeln!(out, "{}", bar(&parts, len, color));
    }
    for p in &parts {
        let _ = writeln!(out, "{}", line(p));
    }
    let arch = table_architecture(&parts);
    if let Some(arch) = arch {
        let _ =
            writeln!(out, "{ARCH_LINE}{arch} (the root partition's GPT type)");
    }
    Ok((out, arch))
}

enum Probe {
    Io(std::io::Error),
    Table(crate::disk::Error),
}

impl From<std::io::Error> for Probe {
    fn from(e: std::io::Error) -> Probe {
        Probe::Io(e)
    }
}

/// One used entry of the table.
struct Entry {
    /// Its number, from 1.
    number: usize,
    /// First sector.
    first: u64,
    /// Length in sectors.
    sectors: u64,
    /// The table's type, as text.
    table_type: String,
    /// Whether the table's own checks put it within the disk.
    fits: bool,
}

/// The table's description and the partitions found.
fn partitions(
    f: &mut (impl Read + Seek),
    len: u64,
) -> std::result::Result<(String, Vec<Found>), Probe> {
    let mut s0 = [0u8; 512];
    read_at(f, 0, &mut s0)?;
    let mbr = Mbr::decode(&s0);
    let protective = mbr.as_ref().is_some_and(|m| {
        m.records
            .iter()
            .any(|r| r.type_ == mbr::TYPE_GPT_PROTECTIVE)
    });
    let sectors = Sectors(len.checked_div(SECTOR_SIZE).unwrap_or(0));
    let (table, entries): (String, Vec<Entry>) = if protective {
        // Gpt::read has checked that every entry lies, first before
        // last, within the usable LBAs of this disk.
        let g = Gpt::read(f, sectors).map_err(Probe::Table)?;
        let entries = g.entries.iter().zip(1..).map(|(e, number)| {
            let first = e.starting_lba.0;
            let last = e.ending_lba.0;
            let count = last
                .checked_sub(first)
                .and_then(|d| d.checked_add(1))
                .unwrap_or(0);
            Entry {
                number,
                first,
                sectors: count,
                table_type: gpt_type(e.partition_type_guid),
                fits: true,
            }
        });
        (
            format!("gpt table, disk GUID {}", g.disk_guid),
            entries.collect(),
        )
    } else if let Some(m) =
        mbr.filter(|m| m.records.iter().any(|r| r.type_ != 0))
    {
        let entries = m.records.iter().zip(1..).filter(|(r, _)| r.type_ != 0);
        let entries = entries.map(|(r, number)| Entry {
            number,
            first: u64::from(r.lba_first),
            sectors: u64::from(r.sectors),
            table_type: mbr_type(r.type_),
            fits: r.check(number, sectors).is_ok(),
        });
        (
            format!("msdos table, disk identifier 0x{:08x}", m.disk_signature),
            entries.collect(),
        )
    } else {
        let what = describe(&probe(f, 0, len)?);
        return Ok((format!("no partition table: {what}"), Vec::new()));
    };
    let mut parts = Vec::new();
    for Entry {
        number,
        first,
        sectors,
        table_type,
        fits,
    } in entries
    {
        let offset = first.saturating_mul(SECTOR_SIZE);
        let size = sectors.saturating_mul(SECTOR_SIZE);
        // A partition the image does not hold whole is reported as such
        // (the rest of the report still stands), not read short.
        let inside = fits
            && first
                .checked_add(sectors)
                .and_then(|end| end.checked_mul(SECTOR_SIZE))
                .is_some_and(|end| end <= len);
        let contents = if inside {
            probe(f, offset, size)?
        } else {
            Contents::BeyondEnd { image: len }
        };
        parts.push(Found {
            number,
            offset,
            size,
            table_type,
            contents,
        });
    }
    Ok((table, parts))
}

fn read_at(
    f: &mut (impl Read + Seek),
    offset: u64,
    buf: &mut [u8],
) -> std::io::Result<()> {
    f.seek(SeekFrom::Start(offset))?;
    f.read_exact(buf)
}

/// What the `size` bytes at `offset` hold.
fn probe(
    f: &mut (impl Read + Seek),
    offset: u64,
    size: u64,
) -> std::result::Result<Contents, Probe> {
    let superblock =
        offset.checked_add(Superblock::OFFSET).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "partition at byte {offset} has no room for a superblock"
                ),
            )
        })?;
    if size >= 2048 {
        let mut sb = [0u8; Superblock::SIZE];
        read_at(f, superblock, &mut sb)?;
        if let Some(s) = Superblock::decode(&sb) {
            let bs =
                1024u64.checked_shl(s.log_block_size.min(6)).unwrap_or(1024);
            let blocks = u64::from(s.blocks_count);
            let free = u64::from(s.free_blocks_count);
            return Ok(Contents::Ext {
                kind: s.kind_name(),
                uuid: Uuid(s.uuid),
                label: label(&s.volume_name),
                size: blocks.saturating_mul(bs),
                used: blocks.saturating_sub(free).saturating_mul(bs),
            });
        }
    }
    if size >= 512 {
        let mut s0 = [0u8; 512];
        read_at(f, offset, &mut s0)?;
        if let Some(b) = BootSector::decode(&s0) {
            return Ok(Contents::Fat {
                kind: b.kind.name(),
                volume_id: VolumeId(b.volume_id),
                size: b.size(),
                label: b.label,
            });
        }
    }
    if size >= PAGE_BYTES {
        let mut page = [0u8; PAGE_SIZE];
        read_at(f, offset, &mut page)?;
        if let Some(h) = SwapHeader::decode(&page) {
            return Ok(Contents::Swap {
                uuid: Uuid(h.uuid),
                label: label(&h.label),
                size: u64::from(h.last_page).saturating_mul(PAGE_BYTES),
            });
        }
    }
    Ok(Contents::Unknown)
}

/// A NUL-padded label.
fn label(b: &[u8]) -> String {
    let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn mbr_type(t: u8) -> String {
    match t {
        mbr::TYPE_LINUX => "Linux (83)".into(),
        mbr::TYPE_LINUX_SWAP => "Linux swap (82)".into(),
        mbr::TYPE_EFI_SYSTEM => "EFI System (ef)".into(),
        t => format!("type {t:02x}"),
    }
}

fn gpt_type(g: Uuid) -> String {
    let known = [
        (gpt::SWAP, "Linux swap"),
        (gpt::ESP, "EFI System"),
        (gpt::LINUX_DATA, "Linux filesystem"),
        (gpt::ROOT_X86_64, ROOT_X86_64),
        (gpt::ROOT_X86, "Linux root (x86)"),
        (gpt::ROOT_ARM64, ROOT_ARM64),
    ];
    known
        .iter()
        .find(|(k, _)| *k == g)
        .map_or_else(|| g.to_string(), |(_, n)| (*n).to_string())
}

/// ` label "L"`, or nothing for an empty label.
fn label_part(label: &str) -> String {
    if label.is_empty() {
        String::new()
    } else {
        format!(" label {label:?}")
    }
}

fn describe(c: &Contents) -> String {
    match c {
        Contents::Ext {
            kind,
            uuid,
            label,
            size,
            used,
        } => {
            let pct = used.saturating_mul(100).checked_div(*size).unwrap_or(0);
            let label = label_part(label);
            format!(
                "{kind} UUID {uuid}{label}, {} used of {} ({pct}%)",
                human(*used),
                human(*size)
            )
        }
        Contents::Fat {
            kind,
            volume_id,
            label,
            size,
        } => {
            let label = label_part(label);
            format!("vfat ({kind}) UUID {volume_id}{label}, {}", human(*size))
        }
        Contents::Swap { uuid, label, size } => {
            let label = label_part(label);
            format!("swap UUID {uuid}{label}, {}", human(*size))
        }
        Contents::Unknown => "no file system recognised".into(),
        Contents::BeyondEnd { image } => {
            format!("beyond the end of the {} image", human(*image))
        }
    }
}

fn line(p: &Found) -> String {
    format!(
        "{:>3}  {} at {}, {:<20} {}",
        p.number,
        human(p.size),
        human(p.offset),
        p.table_type,
        describe(&p.contents)
    )
}

/// The disk as a bar of [`BAR_WIDTH`] columns: each partition its number
/// (in colour when asked), unpartitioned space `.`; every partition gets
/// at least one column.
fn bar(parts: &[Found], len: u64, color: bool) -> String {
    let width = u128::try_from(BAR_WIDTH).unwrap_or(64);
    // The column of `byte`, at most BAR_WIDTH.
    let col = |byte: u64| {
        let c = u128::from(byte)
            .saturating_mul(width)
            .checked_div(u128::from(len.max(1)))
            .unwrap_or(0);
        usize::try_from(c).unwrap_or(BAR_WIDTH).min(BAR_WIDTH)
    };
    let last = BAR_WIDTH.saturating_sub(1);
    let mut cells = vec![None; BAR_WIDTH];
    // Partitions in disk order; each starts after the previous one's
    // cells, so a tiny one keeps its column.
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by_key(|i| parts.get(*i).map(|p| p.offset));
    let mut next = 0;
    for (i, p) in order.into_iter().filter_map(|i| Some((i, parts.get(i)?))) {
        let a = col(p.offset).max(next).min(last);
        let b = col(p.offset.saturating_add(p.size))
            .clamp(a.saturating_add(1), BAR_WIDTH);
        next = b;
        for c in cells.get_mut(a..b).unwrap_or_default() {
            *c = Some(i);
        }
    }
    const COLORS: [&str; 6] = ["44", "42", "45", "43", "46", "41"];
    let mut out = String::from("[");
    for c in cells {
        match c.and_then(|i| Some((i, parts.get(i)?))) {
            Some((i, p)) => {
                let n = p.number.checked_rem(10).unwrap_or(0);
                if color {
                    let colour = i
                        .checked_rem(COLORS.len())
                        .and_then(|k| COLORS.get(k))
                        .unwrap_or(&"44");
                    let _ = write!(out, "\x1b[{colour};97m{n}\x1b[0m");
                } else {
                    let _ = write!(out, "{n}");
                }
            }
            None => out.push('.'),
        }
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(number: usize, offset: u64, size: u64) -> Found {
        Found {
            number,
            offset,
            size,
            table_type: String::new(),
            contents: Contents::Unknown,
        }
    }

    #[test]
    fn bar_is_to_scale() {
        let mib = 1 << 20;
        let parts = [found(1, mib, 512 * mib), found(2, 513 * mib, 7679 * mib)];
        let b = bar(&parts, 8192 * mib, false);
        assert_eq!(b.len(), 66);
        assert_eq!(b.matches('1').count(), 4, "{b}");
        assert_eq!(b.matches('2').count(), 60, "{b}");
        // A tiny partition still shows.
        let parts = [found(1, mib, 4096), found(2, 2 * mib, 8000 * mib)];
        let b = bar(&parts, 8192 * mib, false);
        assert_eq!(b.matches('1').count(), 1, "{b}");
        assert!(b.ends_with("..]"), "{b}");
    }

    const MIB: u64 = 1 << 20;

    #[test]
    fn the_architecture_from_the_table_or_the_manifest() {
        let mut root = found(2, MIB, MIB);
        root.table_type = gpt_type(gpt::ROOT_ARM64);
        assert_eq!(
            table_architecture(&[found(1, 0, 1), root]),
            Some(Arch::Arm64)
        );
        assert_eq!(table_architecture(&[found(1, 0, 1)]), None);

        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("g.img");
        std::fs::write(&img, [0u8; 1024]).unwrap();
        std::fs::create_dir(dir.path().join("g")).unwrap();
        let manifest = dir.path().join("g/manifest.json");
        let write = |name: &str, size: u64| {
            let v = serde_json::json!({
                "architecture": "arm64",
                "output": { "name": name, "size": size, "sha256": "00" },
            });
            std::fs::write(&manifest, v.to_string()).unwrap();
        };
        write("g.img", 1024);
        assert_eq!(
            manifest_architecture(&img, 1024),
            Some((Arch::Arm64, manifest.clone()))
        );
        let text = inspect(&img, false).unwrap();
        assert!(
            text.ends_with(&format!(
                "architecture: arm64 (from {})\n",
                manifest.display()
            )),
            "{text}"
        );
        // A name lunforge does not know is not printed.
        let v = serde_json::json!({
            "architecture": "arm64\u{1b}[2J",
            "output": { "name": "g.img", "size": 1024, "sha256": "00" },
        });
        std::fs::write(&manifest, v.to_string()).unwrap();
        assert_eq!(manifest_architecture(&img, 1024), None);
        // A manifest of another image says nothing of this one.
        write("g.img", 2048);
        assert_eq!(manifest_architecture(&img, 1024), None);
        write("iscsi://t/iqn.2006-05.x:y/0", 1024);
        assert_eq!(manifest_architecture(&img, 1024), None);
        assert!(!inspect(&img, false).unwrap().contains("architecture"));
    }

    /// An image of `len` bytes holding `bytes` at its start.
    fn image(bytes: &[u8], len: u64) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, bytes).unwrap();
        f.as_file().set_len(len).unwrap();
        f
    }

    fn gpt_layout() -> crate::disk::DiskLayout {
        use crate::disk::layout::tests::recipe;
        use crate::recipe::{PartitionUse::*, TableKind};
        let parts = [(Swap, Some(MIB)), (Root, None)];
        crate::disk::plan(&recipe(16 * MIB, TableKind::Gpt, &parts)).unwrap()
    }

    /// Entries whose CRCs are right but whose LBAs overflow an offset:
    /// a typed error naming the entry, no panic.
    #[test]
    fn crafted_gpt_entries_are_errors() {
        let layout = gpt_layout();
        for (first, last) in [(4096, u64::MAX), (1 << 55, (1 << 55) + 7)] {
            let mut g = Gpt::plan(&layout).unwrap();
            g.entries[1].starting_lba = crate::disk::Lba(first);
            g.entries[1].ending_lba = crate::disk::Lba(last);
            let mut c = std::io::Cursor::new(Vec::new());
            g.write(&mut c).unwrap();
            let img = image(c.get_ref(), 16 * MIB);
            let r = inspect(img.path(), false);
            assert!(
                matches!(
                    r,
                    Err(Error::Table {
                        source: crate::disk::Error::GptEntryOutside {
                            number: 2,
                            first: f,
                            last: l,
                            ..
                        },
                        ..
                    }) if (f, l) == (first, last)
                ),
                "{r:?}"
            );
        }
    }

    /// An msdos table on a truncated image, and one whose record is at
    /// the top of the 32-bit range: each partition gets its line.
    #[test]
    fn msdos_partitions_past_the_end_get_a_line() {
        use crate::disk::layout::tests::recipe;
        use crate::recipe::{PartitionUse::*, TableKind};
        let parts = [(Swap, Some(MIB)), (Root, None)];
        let layout =
            crate::disk::plan(&recipe(16 * MIB, TableKind::Msdos, &parts))
                .unwrap();
        let s0 = Mbr::plan(&layout).encode();
        let img = image(&s0, 8 * MIB);
        let out = inspect(img.path(), false).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");
        assert!(lines[2].starts_with("  1  1.0 MiB at 1.0 MiB"), "{out}");
        assert!(lines[2].ends_with("no file system recognised"), "{out}");
        assert!(lines[3].starts_with("  2  14.0 MiB at 2.0 MiB"), "{out}");
        assert!(
            lines[3].ends_with("beyond the end of the 8.0 MiB image"),
            "{out}"
        );
        let mut s0 = s0;
        s0[0x1BE + 16 + 0x8..0x1BE + 16 + 0x10].fill(0xFF);
        let img = image(&s0, 8 * MIB);
        let out = inspect(img.path(), false).unwrap();
        assert!(
            out.lines().nth(3).is_some_and(
                |l| l.ends_with("beyond the end of the 8.0 MiB image")
            ),
            "{out}"
        );
    }

    /// A FAT partition: its kind, volume id and label, as blkid gives
    /// them.
    #[test]
    fn reads_a_fat_partition() {
        use crate::filesystems::fat::{self, FatParams};
        let layout = {
            use crate::disk::layout::tests::recipe;
            use crate::recipe::{PartitionUse::*, TableKind};
            let parts = [(Esp, Some(40 * MIB)), (Root, None)];
            crate::disk::plan(&recipe(64 * MIB, TableKind::Gpt, &parts))
                .unwrap()
        };
        let mut c = std::io::Cursor::new(vec![0u8; 64 << 20]);
        crate::disk::write_table(&mut c, &layout).unwrap();
        let esp = &layout.partitions[0];
        let p = FatParams {
            size: esp.size(),
            volume_id: VolumeId(0x1A2B_3C4D),
            label: Some("ESP".into()),
            time: 0,
        };
        let tree = crate::tree::Tree::new(0).unwrap();
        let l = fat::plan(&tree, &p).unwrap();
        let mut part = std::io::Cursor::new(vec![0u8; 40 << 20]);
        fat::write(&tree, &l, &mut part).unwrap();
        let at = usize::try_from(esp.offset()).unwrap();
        c.get_mut()[at..at + (40 << 20)].copy_from_slice(part.get_ref());
        let img = image(c.get_ref(), 64 * MIB);
        let out = inspect(img.path(), false).unwrap();
        let line = out.lines().nth(2).unwrap();
        assert!(line.contains("EFI System"), "{out}");
        assert!(
            line.ends_with(
                "vfat (FAT32) UUID 1A2B-3C4D label \"ESP\", 40.0 MiB"
            ),
            "{out}"
        );
    }

    /// Offsets at the top of the range are an error, not a wrap.
    #[test]
    fn probe_and_bar_do_not_overflow() {
        let img = image(&[], 4096);
        let mut f = File::open(img.path()).unwrap();
        assert!(probe(&mut f, u64::MAX - 10, 4096).is_err());
        let b = bar(&[found(1, u64::MAX, u64::MAX)], 4096, false);
        assert_eq!(b, format!("[{}1]", ".".repeat(63)));
        let b = bar(&[found(1, 0, 0)], 0, true);
        assert!(b.contains("\x1b[44;97m1"), "{b}");
    }

    #[test]
    fn error_messages() {
        let e = Error::Read {
            path: "x.img".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert_eq!(e.to_string(), "x.img: entity not found");
    }
}
