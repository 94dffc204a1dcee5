//! `lunforge inspect`: what an image holds, read back from its bytes.
//!
//! The partition table (MBR or GPT), each partition's contents (ext2/3/4
//! from its superblock, swap from its header) with type, UUID, label,
//! size and usage, the image's apparent and allocated size, and the
//! partition map as a bar drawn to scale. An image without a table is
//! probed as one file system.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::disk::gpt::{self, Gpt};
use crate::disk::layout::SECTOR_SIZE;
use crate::disk::mbr::{self, Mbr};
use crate::disk::{Lba, Sectors};
use crate::filesystems::ext::superblock::Superblock;
use crate::filesystems::swap::{SwapHeader, PAGE_SIZE};
use crate::ids::Uuid;
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
const BAR_WIDTH: u64 = 64;

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
    let (table, parts) = partitions(&mut f, len).map_err(|e| match e {
        Probe::Io(source) => Error::Read {
            path: path.to_path_buf(),
            source,
        },
        Probe::Table(source) => Error::Table {
            path: path.to_path_buf(),
            source,
        },
    })?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {}, {table}; {} allocated",
        path.display(),
        human(len),
        human(md.blocks().saturating_mul(512))
    );
    if !parts.is_empty() {
        let _ = writeln!(out, "{}", bar(&parts, len, color));
    }
    for p in &parts {
        let _ = writeln!(out, "{}", line(p));
    }
    Ok(out)
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

/// The table's description and the partitions found.
fn partitions(
    f: &mut File,
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
    // (number, first sector, sectors, type) of each used entry.
    let (table, entries): (String, Vec<(usize, u64, u64, String)>) =
        if protective {
            let g = Gpt::read(f, Sectors(len / SECTOR_SIZE))
                .map_err(Probe::Table)?;
            let entries = g.entries.iter().enumerate().map(|(i, e)| {
                let first = e.starting_lba.0;
                let sectors = e.ending_lba.0.saturating_sub(first) + 1;
                (i + 1, first, sectors, gpt_type(e.partition_type_guid))
            });
            (
                format!("gpt table, disk GUID {}", g.disk_guid),
                entries.collect(),
            )
        } else if let Some(m) =
            mbr.filter(|m| m.records.iter().any(|r| r.type_ != 0))
        {
            let entries =
                m.records.iter().enumerate().filter(|(_, r)| r.type_ != 0);
            let entries = entries.map(|(i, r)| {
                let first = Lba(u64::from(r.lba_first)).0;
                (i + 1, first, u64::from(r.sectors), mbr_type(r.type_))
            });
            (
                format!(
                    "msdos table, disk identifier 0x{:08x}",
                    m.disk_signature
                ),
                entries.collect(),
            )
        } else {
            let what = describe(&probe(f, 0, len)?);
            return Ok((format!("no partition table: {what}"), Vec::new()));
        };
    let mut parts = Vec::new();
    for (number, first, sectors, table_type) in entries {
        let offset = first.saturating_mul(SECTOR_SIZE);
        let size = sectors.saturating_mul(SECTOR_SIZE);
        parts.push(Found {
            number,
            offset,
            size,
            table_type,
            contents: probe(f, offset, size)?,
        });
    }
    Ok((table, parts))
}

fn read_at(f: &mut File, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
    f.seek(SeekFrom::Start(offset))?;
    f.read_exact(buf)
}

/// What the `size` bytes at `offset` hold.
fn probe(
    f: &mut File,
    offset: u64,
    size: u64,
) -> std::result::Result<Contents, Probe> {
    if size >= 2048 {
        let mut sb = [0u8; Superblock::SIZE];
        read_at(f, offset + Superblock::OFFSET, &mut sb)?;
        if let Some(s) = Superblock::decode(&sb) {
            let bs = 1024u64 << s.log_block_size.min(6);
            let blocks = u64::from(s.blocks_count);
            let free = u64::from(s.free_blocks_count);
            return Ok(Contents::Ext {
                kind: s.kind_name(),
                uuid: Uuid(s.uuid),
                label: label(&s.volume_name),
                size: blocks * bs,
                used: blocks.saturating_sub(free) * bs,
            });
        }
    }
    if size >= PAGE_SIZE as u64 {
        let mut page = [0u8; PAGE_SIZE];
        read_at(f, offset, &mut page)?;
        if let Some(h) = SwapHeader::decode(&page) {
            return Ok(Contents::Swap {
                uuid: Uuid(h.uuid),
                label: label(&h.label),
                size: u64::from(h.last_page) * PAGE_SIZE as u64,
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
        (gpt::ROOT_X86_64, "Linux root (x86-64)"),
        (gpt::ROOT_X86, "Linux root (x86)"),
        (gpt::ROOT_ARM64, "Linux root (ARM-64)"),
    ];
    known
        .iter()
        .find(|(k, _)| *k == g)
        .map_or_else(|| g.to_string(), |(_, n)| (*n).to_string())
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
            let label = if label.is_empty() {
                String::new()
            } else {
                format!(" label {label:?}")
            };
            format!(
                "{kind} UUID {uuid}{label}, {} used of {} ({pct}%)",
                human(*used),
                human(*size)
            )
        }
        Contents::Swap { uuid, label, size } => {
            let label = if label.is_empty() {
                String::new()
            } else {
                format!(" label {label:?}")
            };
            format!("swap UUID {uuid}{label}, {}", human(*size))
        }
        Contents::Unknown => "no file system recognised".into(),
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
    let col = |byte: u64| {
        (u128::from(byte) * u128::from(BAR_WIDTH) / u128::from(len.max(1)))
            as u64
    };
    let mut cells = vec![None; BAR_WIDTH as usize];
    // Partitions in disk order; each starts after the previous one's
    // cells, so a tiny one keeps its column.
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by_key(|i| parts[*i].offset);
    let mut next = 0;
    for i in order {
        let p = &parts[i];
        let a = col(p.offset).max(next).min(BAR_WIDTH - 1);
        let b = col(p.offset.saturating_add(p.size)).clamp(a + 1, BAR_WIDTH);
        next = b;
        for c in &mut cells[a as usize..b as usize] {
            *c = Some(i);
        }
    }
    const COLORS: [&str; 6] = ["44", "42", "45", "43", "46", "41"];
    let mut out = String::from("[");
    for c in cells {
        match c {
            Some(i) => {
                let n = parts[i].number % 10;
                if color {
                    let _ = write!(
                        out,
                        "\x1b[{};97m{n}\x1b[0m",
                        COLORS[i % COLORS.len()]
                    );
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

    #[test]
    fn error_messages() {
        let e = Error::Read {
            path: "x.img".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert_eq!(e.to_string(), "x.img: entity not found");
    }
}
