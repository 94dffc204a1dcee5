//! The repair of what fatfs 0.3.6 writes wrong (see the module doc of
//! [`super`]), on the finished, unmounted image:
//!
//! - every subdirectory starts with `LFN(".")`, `.`, `LFN("..")`, `..`
//!   where the spec (fatgen103 §6.7) wants `.` and `..` as its first two
//!   entries: the two long-name entries are dropped and the rest of the
//!   directory moves up two entries (long-name runs stay whole and
//!   before their short entry, which is all they need), leaving two free
//!   entries at its end;
//! - on FAT32 the `..` of a directory in the root holds the root's
//!   cluster where the spec wants 0: set to 0;
//! - the volume-label entry of the root has zero times (an invalid DOS
//!   date): set to the build's time.
//!
//! It walks the directories from the root, following cluster chains in
//! the first FAT, and refuses a directory that looks like neither what
//! fatfs 0.3.6 writes nor what the spec wants, or a chain that leaves
//! the volume or loops. Nothing is allocated or freed, so the FATs and
//! the FSInfo sector stay as fatfs left them.

use super::layout::{Geometry, DIR_ENTRY, ROOT_CLUSTER, SECTOR};
use super::store::SparseImage;
use super::time::{encode_date, encode_time};
use super::{Error, FatKind, Result};

/// `DIR_Attr` of a long-name entry.
const ATTR_LONG_NAME: u8 = 0x0F;
/// `DIR_Attr` bit of the volume label.
const ATTR_VOLUME_ID: u8 = 0x08;
/// `DIR_Attr` bit of a directory.
const ATTR_DIRECTORY: u8 = 0x10;
/// `DIR_Name[0]` of a free entry.
const FREE: u8 = 0xE5;
/// Bytes of an entry, as an index step.
const ENTRY: usize = 32;

/// One directory entry's bytes.
type Record = [u8; ENTRY];

fn io(what: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |source| Error::Volume { what, source }
}

/// The volume being repaired.
struct Volume<'a> {
    img: &'a mut SparseImage,
    g: &'a Geometry,
}

impl Volume<'_> {
    fn bad(&self, cluster: u32, why: &'static str) -> Error {
        Error::Repair { cluster, why }
    }

    /// The FAT entry of cluster `n`, from the first FAT.
    fn next(&self, n: u32) -> Result<u32> {
        let n64 = u64::from(n);
        let (at, width) = match self.g.kind {
            FatKind::Fat12 => (n64.saturating_add(n64 / 2), 2),
            FatKind::Fat16 => (n64.saturating_mul(2), 2),
            FatKind::Fat32 => (n64.saturating_mul(4), 4),
        };
        let fat = u64::from(self.g.fat_sector()).saturating_mul(SECTOR.into());
        let mut b = [0u8; 4];
        let buf = b.get_mut(..width).unwrap_or_default();
        self.img
            .read_at(fat.saturating_add(at), buf)
            .map_err(io("reading the FAT"))?;
        let v = u32::from_le_bytes(b);
        Ok(match self.g.kind {
            FatKind::Fat12 if n % 2 == 1 => v >> 4,
            FatKind::Fat12 => v & 0xFFF,
            FatKind::Fat16 => v & 0xFFFF,
            FatKind::Fat32 => v & 0x0FFF_FFFF,
        })
    }

    /// The clusters of the chain starting at `first`.
    fn chain(&self, first: u32) -> Result<Vec<u32>> {
        let end = match self.g.kind {
            FatKind::Fat12 => 0xFF8,
            FatKind::Fat16 => 0xFFF8,
            FatKind::Fat32 => 0x0FFF_FFF8,
        };
        let last = self.g.clusters.saturating_add(1);
        let mut out = Vec::new();
        let mut n = first;
        loop {
            if !(2..=last).contains(&n) {
                return Err(self.bad(first, "its chain leaves the volume"));
            }
            if out.len() > usize::try_from(self.g.clusters).unwrap_or(0) {
                return Err(self.bad(first, "its chain loops"));
            }
            out.push(n);
            n = self.next(n)?;
            if n >= end {
                return Ok(out);
            }
        }
    }

    /// Byte ranges (offset, length) holding the directory starting at
    /// `cluster`; 0 is the fixed FAT12/16 root.
    fn extents(&self, cluster: u32) -> Result<Vec<(u64, usize)>> {
        let sector = |s: u32| u64::from(s).saturating_mul(SECTOR.into());
        if cluster == 0 {
            let len = self.g.root_dir_sectors.saturating_mul(SECTOR);
            let len = usize::try_from(len).unwrap_or(0);
            return Ok(vec![(sector(self.g.root_sector()), len)]);
        }
        let cs = usize::try_from(self.g.cluster_size).unwrap_or(0);
        let spc = self.g.sectors_per_cluster();
        self.chain(cluster)?
            .into_iter()
            .map(|n| {
                let s = n
                    .checked_sub(2)
                    .and_then(|k| k.checked_mul(spc))
                    .and_then(|k| k.checked_add(self.g.data_sector()))
                    .ok_or_else(|| {
                        self.bad(cluster, "a cluster past the end")
                    })?;
                Ok((sector(s), cs))
            })
            .collect()
    }

    fn read_dir(&self, ext: &[(u64, usize)]) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        for (at, len) in ext {
            let mut buf = vec![0u8; *len];
            self.img
                .read_at(*at, &mut buf)
                .map_err(io("reading a directory"))?;
            out.extend(buf.chunks_exact(ENTRY).map(|c| {
                let mut r = [0u8; ENTRY];
                r.copy_from_slice(c);
                r
            }));
        }
        Ok(out)
    }

    fn write_dir(
        &mut self,
        ext: &[(u64, usize)],
        recs: &[Record],
    ) -> Result<()> {
        let mut recs = recs.iter();
        for (at, len) in ext {
            let n = len.checked_div(ENTRY).unwrap_or(0);
            let buf: Vec<u8> =
                recs.by_ref().take(n).flatten().copied().collect();
            self.img
                .write_at(*at, &buf)
                .map_err(io("writing a directory"))?;
        }
        Ok(())
    }
}

/// `DIR_FstClusHI`/`DIR_FstClusLO` of an entry (`HI` on FAT32 only).
fn first_cluster(r: &Record, kind: FatKind) -> u32 {
    let lo = u32::from(u16::from_le_bytes([r[0x1A], r[0x1B]]));
    let hi = u32::from(u16::from_le_bytes([r[0x14], r[0x15]]));
    match kind {
        FatKind::Fat32 => (hi << 16) | lo,
        _ => lo,
    }
}

fn set_first_cluster(r: &mut Record, n: u32) {
    let [a, b, c, d] = n.to_le_bytes();
    r[0x1A] = a;
    r[0x1B] = b;
    r[0x14] = c;
    r[0x15] = d;
}

fn is_long(r: &Record) -> bool {
    r[0x0B] == ATTR_LONG_NAME
}

fn is_dot(r: &Record) -> bool {
    !is_long(r) && r[..11] == *b".          "
}

fn is_dotdot(r: &Record) -> bool {
    !is_long(r) && r[..11] == *b"..         "
}

/// Repair the image `img` of geometry `g` (see the module doc); the
/// label entry gets the DOS date and time `time`.
pub fn repair(
    img: &mut SparseImage,
    g: &Geometry,
    time: &fatfs::DateTime,
) -> Result<()> {
    let mut v = Volume { img, g };
    let root = match g.kind {
        FatKind::Fat32 => ROOT_CLUSTER,
        _ => 0,
    };
    // Directories to visit: (first cluster, its parent's for `..`,
    // 0 for the root).
    let mut todo: Vec<(u32, Option<u32>)> = vec![(root, None)];
    let mut seen = 0usize;
    while let Some((cluster, parent)) = todo.pop() {
        seen = seen.saturating_add(1);
        if seen > usize::try_from(g.clusters).unwrap_or(0).saturating_add(1) {
            return Err(v.bad(cluster, "directories loop"));
        }
        let ext = v.extents(cluster)?;
        let mut recs = v.read_dir(&ext)?;
        let start = match parent {
            None => 0,
            Some(parent) => {
                fix_dots(&v, cluster, parent, &mut recs)?;
                2
            }
        };
        for r in recs.iter_mut().skip(start) {
            if r[0] == 0 {
                break;
            }
            if r[0] == FREE || is_long(r) {
                continue;
            }
            if parent.is_none() && r[0x0B] & ATTR_VOLUME_ID != 0 {
                stamp(r, time);
            } else if r[0x0B] & ATTR_DIRECTORY != 0 {
                let child = first_cluster(r, g.kind);
                let me = if parent.is_none() { 0 } else { cluster };
                todo.push((child, Some(me)));
            }
        }
        v.write_dir(&ext, &recs)?;
    }
    Ok(())
}

/// Make `.` and `..` the first two entries of the directory at `cluster`
/// and point `..` at `parent` (0 for the root).
fn fix_dots(
    v: &Volume<'_>,
    cluster: u32,
    parent: u32,
    recs: &mut Vec<Record>,
) -> Result<()> {
    let at = |i: usize| recs.get(i);
    let fatfs_0_3 = at(0).is_some_and(is_long)
        && at(1).is_some_and(is_dot)
        && at(2).is_some_and(is_long)
        && at(3).is_some_and(is_dotdot);
    if fatfs_0_3 {
        let len = recs.len();
        recs.remove(2);
        recs.remove(0);
        recs.resize(len, [0u8; ENTRY]);
    } else if !(at(0).is_some_and(is_dot) && at(1).is_some_and(is_dotdot)) {
        return Err(v.bad(cluster, "its first entries are not . and .."));
    }
    if recs.first().map(|r| first_cluster(r, v.g.kind)) != Some(cluster) {
        return Err(v.bad(cluster, "its . entry names another cluster"));
    }
    if let Some(dotdot) = recs.get_mut(1) {
        set_first_cluster(dotdot, parent);
    }
    Ok(())
}

/// Set an entry's creation, access and modification times.
fn stamp(r: &mut Record, t: &fatfs::DateTime) {
    let [d0, d1] = encode_date(&t.date).to_le_bytes();
    let [t0, t1] = encode_time(&t.time).to_le_bytes();
    r[0x0D] = 0; // DIR_CrtTimeTenth: t is on an even second
    r[0x0E] = t0; // DIR_CrtTime
    r[0x0F] = t1;
    r[0x10] = d0; // DIR_CrtDate
    r[0x11] = d1;
    r[0x12] = d0; // DIR_LstAccDate
    r[0x13] = d1;
    r[0x16] = t0; // DIR_WrtTime
    r[0x17] = t1;
    r[0x18] = d0; // DIR_WrtDate
    r[0x19] = d1;
}

/// Bytes of a directory entry, checked against the layout's.
const _: () = assert!(DIR_ENTRY == 32 && ENTRY == 32);

#[cfg(test)]
mod tests {
    #![allow(clippy::arithmetic_side_effects, clippy::as_conversions)]

    use super::*;
    use crate::filesystems::fat::time::dos_date_time;

    /// A FAT16 volume fatfs made with one directory in the root and one
    /// in that.
    fn volume(fat32: bool) -> (SparseImage, Geometry) {
        let size = if fat32 { 40 << 20 } else { 8 << 20 };
        let g = Geometry::for_size(size).unwrap();
        let mut img = SparseImage::new(g.bytes());
        let opts = fatfs::FormatVolumeOptions::new()
            .bytes_per_cluster(g.cluster_size)
            .volume_label(*b"L          ");
        fatfs::format_volume(&mut img, opts).unwrap();
        {
            let fs = fatfs::FileSystem::new(&mut img, fatfs::FsOptions::new())
                .unwrap();
            {
                let d = fs.root_dir().create_dir("a").unwrap();
                d.create_dir("b").unwrap();
            }
            fs.unmount().unwrap();
        }
        (img, g)
    }

    fn dir_of(
        img: &mut SparseImage,
        g: &Geometry,
        path: &[&str],
    ) -> Vec<Record> {
        let v = Volume { img, g };
        let root = if g.kind == FatKind::Fat32 { 2 } else { 0 };
        let mut recs = v.read_dir(&v.extents(root).unwrap()).unwrap();
        for name in path {
            let pad = format!("{:<11}", name.to_uppercase());
            let r = recs
                .iter()
                .find(|r| !is_long(r) && r[..11] == *pad.as_bytes())
                .unwrap();
            let c = first_cluster(r, g.kind);
            recs = v.read_dir(&v.extents(c).unwrap()).unwrap();
        }
        recs
    }

    #[test]
    fn dots_first_and_dotdot_of_the_root_is_zero() {
        for fat32 in [false, true] {
            let (mut img, g) = volume(fat32);
            let before = dir_of(&mut img, &g, &["a"]);
            assert!(is_long(&before[0]) && is_dot(&before[1]), "{fat32}");
            let t = dos_date_time(1_700_000_000);
            repair(&mut img, &g, &t).unwrap();
            let a = dir_of(&mut img, &g, &["a"]);
            assert!(is_dot(&a[0]) && is_dotdot(&a[1]), "{fat32}");
            assert_eq!(first_cluster(&a[1], g.kind), 0, "{fat32}");
            // b's long name and short entry moved up two entries.
            assert_eq!(a[2..4], before[4..6]);
            assert_eq!(a[a.len() - 2..], [[0u8; 32]; 2]);
            let b = dir_of(&mut img, &g, &["a", "b"]);
            assert!(is_dot(&b[0]) && is_dotdot(&b[1]));
            assert_eq!(
                first_cluster(&b[1], g.kind),
                first_cluster(&a[0], g.kind)
            );
            // The label entry is stamped.
            let root = dir_of(&mut img, &g, &[]);
            assert_eq!(root[0][..11], *b"L          ");
            assert_eq!(
                u16::from_le_bytes([root[0][0x18], root[0][0x19]]),
                encode_date(&t.date)
            );
            // A second repair changes nothing.
            let once = img.clone();
            repair(&mut img, &g, &t).unwrap();
            assert_eq!(img, once);
        }
    }

    #[test]
    fn strange_directories_are_refused() {
        let (mut img, g) = volume(false);
        let t = dos_date_time(0);
        repair(&mut img, &g, &t).unwrap();
        // Break /a's `.` entry.
        let a = first_cluster(&dir_of(&mut img, &g, &["a"])[0], g.kind);
        let at = u64::from(g.data_sector() + (a - 2) * g.sectors_per_cluster())
            * 512;
        img.write_at(at, b"X").unwrap();
        let e = repair(&mut img, &g, &t).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "directory at cluster {a}: its first entries are not . and .."
            )
        );
        // A chain that loops.
        let (mut img, g) = volume(false);
        let fat = u64::from(g.fat_sector()) * 512;
        img.write_at(fat + 2 * u64::from(a), &(a as u16).to_le_bytes())
            .unwrap();
        let e = repair(&mut img, &g, &t).unwrap_err();
        assert!(e.to_string().contains("loops"), "{e}");
    }
}
