//! The FAT writer: executes a [`FatLayout`] with fatfs on a sparse
//! image in memory, checks that fatfs made what the plan says, repairs
//! what fatfs 0.3.6 gets wrong ([`super::dir_fix`]) and copies the image
//! into the partition.

use std::collections::BTreeMap;
use std::io::{self, Seek, SeekFrom, Write};

use fatfs::{Dir, FileSystem, FormatVolumeOptions, FsOptions};

use super::layout::{FatLayout, FATS, ROOT_ENTRIES};
use super::store::SparseImage;
use super::{dir_fix, time, Error, Result};
use crate::tree::{GuestPath, Kind, Tree};

fn volume(what: &'static str) -> impl Fn(io::Error) -> Error {
    move |source| Error::Volume { what, source }
}

fn at<'a>(
    path: &'a GuestPath,
    what: &'static str,
) -> impl Fn(io::Error) -> Error + 'a {
    move |source| Error::Write {
        path: path.clone(),
        what,
        source,
    }
}

/// Write the file system `layout` plans for `tree` into `out`, which
/// must read as zeros (a sparse file, a zeroed device): only the blocks
/// that hold something are written.
pub fn write<W: Write + Seek>(
    tree: &Tree,
    layout: &FatLayout,
    out: &mut W,
) -> Result<()> {
    let g = &layout.geometry;
    let mut img = SparseImage::new(g.bytes());
    let mut opts = FormatVolumeOptions::new()
        .bytes_per_sector(512)
        .total_sectors(g.total_sectors)
        .bytes_per_cluster(g.cluster_size)
        .fat_type(g.kind.fatfs())
        .fats(FATS)
        .max_root_dir_entries(ROOT_ENTRIES)
        .volume_id(layout.volume_id.0);
    if let Some(label) = layout.label {
        opts = opts.volume_label(label);
    }
    fatfs::format_volume(&mut img, opts).map_err(volume("formatting"))?;
    img.seek(SeekFrom::Start(0)).map_err(volume("formatting"))?;
    let options = FsOptions::new().time_provider(time::provider(layout.time));
    let fs = FileSystem::new(&mut img, options).map_err(volume("mounting"))?;
    check(layout, &fs)?;
    fill(tree, layout, &fs)?;
    let stats = fs.stats().map_err(volume("counting free clusters"))?;
    let used = stats.total_clusters().saturating_sub(stats.free_clusters());
    same("clusters in use", layout.used_clusters, used.into())?;
    // stats() recorded the free count for the FSInfo sector, which
    // unmount writes.
    fs.unmount().map_err(volume("unmounting"))?;
    dir_fix::repair(&mut img, g, &time::dos_date_time(layout.time))?;
    img.copy_to(out).map_err(volume("writing the partition"))
}

fn same(what: &'static str, planned: u64, found: u64) -> Result<()> {
    if planned == found {
        Ok(())
    } else {
        Err(Error::Mismatch {
            what,
            planned,
            found,
        })
    }
}

/// fatfs formatted the geometry of the plan.
fn check<T: fatfs::ReadWriteSeek>(
    layout: &FatLayout,
    fs: &FileSystem<T>,
) -> Result<()> {
    let g = &layout.geometry;
    let bits = match fs.fat_type() {
        fatfs::FatType::Fat12 => 12,
        fatfs::FatType::Fat16 => 16,
        fatfs::FatType::Fat32 => 32,
    };
    same("bits per FAT entry", g.kind.entry_bits().into(), bits)?;
    same(
        "bytes per cluster",
        g.cluster_size.into(),
        fs.cluster_size().into(),
    )?;
    let stats = fs.stats().map_err(volume("counting clusters"))?;
    same(
        "data clusters",
        g.clusters.into(),
        stats.total_clusters().into(),
    )
}

/// Create every entry of the plan, in its order, with its contents;
/// then check that each directory holds as many entries as the tree
/// (fatfs opens an existing entry where it is asked to create one, so a
/// name that met another's short name would show here).
fn fill<T: fatfs::ReadWriteSeek>(
    tree: &Tree,
    layout: &FatLayout,
    fs: &FileSystem<T>,
) -> Result<()> {
    let mut dirs: BTreeMap<GuestPath, Dir<'_, T>> = BTreeMap::new();
    dirs.insert(GuestPath::root(), fs.root_dir());
    for e in &layout.entries {
        let p = &e.path;
        let (Some(parent), Some(name)) = (p.parent(), p.file_name()) else {
            continue;
        };
        let dir = dirs.get(&parent).ok_or_else(|| Error::Write {
            path: p.clone(),
            what: "creating it",
            source: io::Error::new(
                io::ErrorKind::NotFound,
                "the plan creates no parent directory before it",
            ),
        })?;
        match e.file_len {
            None => {
                let d = dir.create_dir(name).map_err(at(p, "creating it"))?;
                dirs.insert(p.clone(), d);
            }
            Some(len) => {
                let mut f =
                    dir.create_file(name).map_err(at(p, "creating it"))?;
                let content = match tree.get(p).map(|i| &i.kind) {
                    Some(Kind::File(c)) if c.len() == len => c,
                    _ => {
                        return Err(Error::Write {
                            path: p.clone(),
                            what: "reading it",
                            source: io::Error::new(
                                io::ErrorKind::NotFound,
                                "the tree no longer holds the planned file",
                            ),
                        })
                    }
                };
                let mut r =
                    tree.spool().open(content).map_err(at(p, "reading it"))?;
                let n =
                    io::copy(&mut r, &mut f).map_err(at(p, "writing it"))?;
                same("bytes of a file", len, n)?;
                f.flush().map_err(at(p, "writing it"))?;
            }
        }
    }
    for (path, d) in &dirs {
        let mut n = 0u64;
        for e in d.iter() {
            let e = e.map_err(at(path, "listing it"))?;
            let name = e.short_file_name_as_bytes();
            if name != b"." && name != b".." {
                n = n.saturating_add(1);
            }
        }
        let planned = layout.dir_entries.get(path).copied().unwrap_or(0);
        same("entries in a directory", planned, n)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::arithmetic_side_effects, clippy::as_conversions)]

    use std::io::{Cursor, Read};

    use super::*;
    use crate::filesystems::fat::{plan, FatKind, FatParams, Geometry};
    use crate::ids::VolumeId;
    use crate::tree::Meta;

    const MIB: u64 = 1 << 20;

    fn gp(s: &str) -> GuestPath {
        GuestPath::new(s).unwrap()
    }

    /// An ESP's tree: nested directories, a long name, a name that is
    /// its own short name, an empty file, a file of several clusters.
    fn esp_tree() -> Tree {
        let mut t = Tree::new(0).unwrap();
        let d = Meta::root(0o755, 0);
        for p in ["/EFI", "/EFI/BOOT", "/EFI/debian", "/EFI/debian/fonts"] {
            t.create_dirs(&gp(p), &d).unwrap();
        }
        let f = Meta::root(0o644, 0);
        let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7) as u8).collect();
        let files: [(&str, &[u8]); 5] = [
            ("/EFI/BOOT/BOOTX64.EFI", b"MZ boot"),
            ("/EFI/debian/grubx64.efi", &big),
            ("/EFI/debian/grub.cfg", b"search.fs_uuid\n"),
            ("/EFI/debian/fonts/a long file name, unicode ü.pf2", b"font"),
            ("/EFI/debian/empty", b""),
        ];
        for (p, b) in files {
            t.write_file(&gp(p), f.clone(), b).unwrap();
        }
        t
    }

    fn params(size: u64, time: i64) -> FatParams {
        FatParams {
            size,
            volume_id: VolumeId(0x1A2B_3C4D),
            label: Some("ESP".into()),
            time,
        }
    }

    fn image(t: &Tree, p: &FatParams) -> Vec<u8> {
        let l = plan(t, p).unwrap();
        let mut out = Cursor::new(vec![0u8; p.size as usize]);
        write(t, &l, &mut out).unwrap();
        out.into_inner()
    }

    /// What fatfs reads back: every path with its bytes (`None` for a
    /// directory), its names as written, and one file's modified time.
    fn read_back(img: Vec<u8>) -> BTreeMap<String, Option<Vec<u8>>> {
        let fs = FileSystem::new(Cursor::new(img), FsOptions::new()).unwrap();
        let mut out = BTreeMap::new();
        let mut todo = vec![(String::new(), fs.root_dir())];
        while let Some((at, d)) = todo.pop() {
            for e in d.iter() {
                let e = e.unwrap();
                let name = e.file_name();
                if name == "." || name == ".." {
                    continue;
                }
                let path = format!("{at}/{name}");
                if e.is_dir() {
                    out.insert(path.clone(), None);
                    todo.push((path, e.to_dir()));
                } else {
                    let mut b = Vec::new();
                    e.to_file().read_to_end(&mut b).unwrap();
                    out.insert(path, Some(b));
                }
            }
        }
        out
    }

    #[test]
    fn fatfs_reads_back_the_tree() {
        let t = esp_tree();
        for (mib, kind) in [
            (2, FatKind::Fat12),
            (8, FatKind::Fat16),
            (40, FatKind::Fat32),
        ] {
            let p = params(mib * MIB, 1_700_000_000);
            assert_eq!(plan(&t, &p).unwrap().geometry.kind, kind);
            let got = read_back(image(&t, &p));
            let want: BTreeMap<String, Option<Vec<u8>>> = t
                .iter()
                .filter(|(p, _, _)| !p.is_root())
                .map(|(p, _, i)| {
                    let b = match &i.kind {
                        Kind::File(c) => Some(t.spool().read(c).unwrap()),
                        _ => None,
                    };
                    (p.as_str().to_string(), b)
                })
                .collect();
            assert_eq!(got, want, "{mib} MiB");
        }
    }

    #[test]
    fn two_writes_are_byte_identical_and_times_are_the_builds() {
        let t = esp_tree();
        let p = params(40 * MIB, 1_700_000_000);
        let a = image(&t, &p);
        assert_eq!(a, image(&t, &p));
        let b = image(&t, &params(40 * MIB, 1_700_000_002));
        assert_ne!(a, b, "the time is written");
        let fs = FileSystem::new(Cursor::new(a), FsOptions::new()).unwrap();
        let e = fs
            .root_dir()
            .open_dir("EFI/debian")
            .unwrap()
            .iter()
            .map(|e| e.unwrap())
            .find(|e| e.file_name() == "grub.cfg")
            .unwrap();
        let want = time::dos_date_time(1_700_000_000);
        assert_eq!(e.modified(), want);
        assert_eq!(e.created(), want);
        assert_eq!(e.accessed(), want.date);
        assert_eq!(fs.volume_id(), 0x1A2B_3C4D);
        assert_eq!(fs.volume_label(), "ESP");
        assert_eq!(
            fs.read_volume_label_from_root_dir().unwrap().unwrap(),
            "ESP"
        );
    }

    /// Only blocks with data reach the output: a 256 MiB FAT32 with a
    /// small tree writes its boot sectors, FATs' first sectors and
    /// directories, not its size.
    #[test]
    fn output_stays_sparse() {
        struct Counting(u64, u64);
        impl Write for Counting {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0 += b.len() as u64;
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        impl Seek for Counting {
            fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
                if let SeekFrom::Start(n) = to {
                    self.1 = self.1.max(n);
                }
                Ok(0)
            }
        }
        let t = esp_tree();
        let p = params(256 * MIB, 0);
        let l = plan(&t, &p).unwrap();
        let mut c = Counting(0, 0);
        write(&t, &l, &mut c).unwrap();
        assert!(c.0 < 512 << 10, "{} bytes written", c.0);
        assert!(c.1 < 256 * MIB);
    }

    /// The plan's cluster count is fatfs's for directories that end
    /// exactly at a cluster's end and one entry past it.
    #[test]
    fn planned_clusters_match_at_cluster_boundaries() {
        for files in [5, 6, 7, 13, 14, 15, 60, 61, 62] {
            let mut t = Tree::new(0).unwrap();
            t.create_dirs(&gp("/d"), &Meta::root(0o755, 0)).unwrap();
            for i in 0..files {
                let name = format!("/d/f{i:03}");
                t.write_file(&gp(&name), Meta::root(0o644, 0), b"x")
                    .unwrap();
            }
            for mib in [40, 8] {
                // write() fails on a mismatch.
                image(&t, &params(mib * MIB, 0));
            }
        }
    }

    /// Geometry::for_size is what fatfs formats, over many sizes.
    #[test]
    fn geometry_is_fatfs_geometry() {
        let sizes = (1..=80u64).chain([
            127, 128, 129, 255, 256, 257, 260, 261, 511, 512, 513, 1024,
        ]);
        for mib in sizes {
            let g = Geometry::for_size(mib * MIB).unwrap();
            let l =
                plan(&Tree::new(0).unwrap(), &params(mib * MIB, 0)).unwrap();
            assert_eq!(l.geometry, g);
            // write() checks fatfs's geometry against the plan.
            write(&Tree::new(0).unwrap(), &l, &mut Cursor::new(Vec::new()))
                .unwrap_or_else(|e| panic!("{mib} MiB: {e}"));
        }
    }

    #[test]
    fn a_name_meeting_a_short_name_is_caught() {
        // `foobar~1.txt` is its own short name and goes first, so
        // `foo bar.txt` gets FOOBAR~2 and both are written.
        let mut t = Tree::new(0).unwrap();
        for n in ["/foo bar.txt", "/foobar~1.txt"] {
            t.write_file(&gp(n), Meta::root(0o644, 0), n.as_bytes())
                .unwrap();
        }
        let got = read_back(image(&t, &params(8 * MIB, 0)));
        assert_eq!(got["/foo bar.txt"].as_deref(), Some(&b"/foo bar.txt"[..]));
        assert_eq!(
            got["/foobar~1.txt"].as_deref(),
            Some(&b"/foobar~1.txt"[..])
        );
    }
}
