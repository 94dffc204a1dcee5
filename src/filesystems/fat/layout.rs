//! The plan of a FAT file system, without I/O: its geometry (the one
//! fatfs 0.3.6's `format_volume` makes for the size, chosen as the
//! module doc says), the order in which entries are created, every
//! name checked, and the clusters the tree takes, counted the way fatfs
//! allocates them, so that a tree that does not fit fails before
//! anything is written.

use std::collections::BTreeMap;

use super::{Error, FatKind, FatParams, Result};
use crate::ids::VolumeId;
use crate::tree::{GuestPath, Kind, Tree};

/// Bytes per sector: the disk's logical sector.
pub const SECTOR: u32 = 512;
/// FATs: two, mirrored (`BPB_NumFATs`), fatfs's and mkfs.fat's default.
pub const FATS: u8 = 2;
/// Entries of the fixed FAT12/16 root directory (`BPB_RootEntCnt`).
pub const ROOT_ENTRIES: u16 = 512;
/// Bytes of a directory entry.
pub const DIR_ENTRY: u64 = 32;
/// UTF-16 units of a name one long-name entry holds.
pub const LFN_UNITS: u64 = 13;
/// The most entries a FAT directory holds (the spec's 65,536: 2 MiB).
pub const MAX_DIR_SLOTS: u64 = 65536;
/// The largest file: a directory entry's size is 32 bits.
pub const MAX_FILE: u64 = 0xFFFF_FFFF;
/// The first cluster of the FAT32 root directory (`BPB_RootClus`).
pub const ROOT_CLUSTER: u32 = 2;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

/// Where everything of the volume is, in sectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// FAT12, FAT16 or FAT32.
    pub kind: FatKind,
    /// `BPB_TotSec16`/`BPB_TotSec32`.
    pub total_sectors: u32,
    /// Bytes per cluster (`BPB_SecPerClus` × 512).
    pub cluster_size: u32,
    /// `BPB_RsvdSecCnt`: 8 on FAT32 (fatfs: two boot sectors and the
    /// FSInfo sector), 1 on FAT12/16.
    pub reserved_sectors: u32,
    /// `BPB_FATSz16`/`BPB_FATSz32`.
    pub sectors_per_fat: u32,
    /// Sectors of the fixed root directory (0 on FAT32).
    pub root_dir_sectors: u32,
    /// Data clusters, numbered from 2.
    pub clusters: u32,
}

impl Geometry {
    /// The geometry of a `size`-byte FAT file system: FAT32 with
    /// fatfs's FAT32 cluster size when that gives a valid FAT32,
    /// otherwise what fatfs chooses for the size unasked.
    pub fn for_size(size: u64) -> Result<Geometry> {
        let sectors = size
            .checked_div(u64::from(SECTOR))
            .ok_or(Error::TooSmall { size })?;
        let total_sectors =
            u32::try_from(sectors).map_err(|_| Error::TooLarge { size })?;
        let bytes = u64::from(total_sectors).saturating_mul(SECTOR.into());
        let c32 = cluster_size(bytes, FatKind::Fat32);
        if let Some(g) = fatfs_geometry(total_sectors, c32) {
            if g.kind == FatKind::Fat32 {
                return Ok(g);
            }
        }
        let c = cluster_size(bytes, estimate_kind(bytes));
        fatfs_geometry(total_sectors, c).ok_or(Error::TooSmall { size })
    }

    /// The size of the file system in bytes.
    pub fn bytes(&self) -> u64 {
        u64::from(self.total_sectors).saturating_mul(SECTOR.into())
    }

    /// Sectors per cluster.
    pub fn sectors_per_cluster(&self) -> u32 {
        self.cluster_size.checked_div(SECTOR).unwrap_or(1)
    }

    /// The first sector of the FATs.
    pub fn fat_sector(&self) -> u32 {
        self.reserved_sectors
    }

    /// The first sector of the FAT12/16 root directory (on FAT32,
    /// where the data begin).
    pub fn root_sector(&self) -> u32 {
        // The checks of try_kind bound these by total_sectors.
        self.reserved_sectors
            .saturating_add(self.sectors_per_fat.saturating_mul(FATS.into()))
    }

    /// The first sector of cluster 2.
    pub fn data_sector(&self) -> u32 {
        self.root_sector().saturating_add(self.root_dir_sectors)
    }
}

/// fatfs's `estimate_fat_type`: the kind whose cluster-size table it
/// uses when none is asked for.
fn estimate_kind(bytes: u64) -> FatKind {
    if bytes < 4 * MIB {
        FatKind::Fat12
    } else if bytes < 512 * MIB {
        FatKind::Fat16
    } else {
        FatKind::Fat32
    }
}

/// fatfs's `determine_bytes_per_cluster` for 512-byte sectors (for FAT16
/// and FAT32 Microsoft's table): 512 bytes to 32 KiB by size.
fn cluster_size(bytes: u64, kind: FatKind) -> u32 {
    let pow2 = bytes.checked_next_power_of_two().unwrap_or(u64::MAX);
    let c = match kind {
        FatKind::Fat12 => (pow2 / MIB).saturating_mul(512),
        FatKind::Fat16 if bytes <= 16 * MIB => KIB,
        FatKind::Fat16 if bytes <= 128 * MIB => 2 * KIB,
        FatKind::Fat16 => (pow2 / (64 * MIB)).saturating_mul(KIB),
        FatKind::Fat32 if bytes <= 260 * MIB => 512,
        FatKind::Fat32 if bytes <= 8 * GIB => 4 * KIB,
        FatKind::Fat32 => (pow2 / (2 * GIB)).saturating_mul(KIB),
    };
    let c = c.clamp(SECTOR.into(), 32 * KIB);
    // OK: clamped to 32 KiB.
    u32::try_from(c).unwrap_or(32 * 1024)
}

/// fatfs's `determine_fs_geometry`: the first of FAT32, FAT16, FAT12
/// whose cluster count is its own with `cluster` bytes per cluster.
fn fatfs_geometry(total_sectors: u32, cluster: u32) -> Option<Geometry> {
    [FatKind::Fat32, FatKind::Fat16, FatKind::Fat12]
        .into_iter()
        .find_map(|k| try_kind(total_sectors, cluster, k))
}

/// fatfs's `try_fs_geometry`: the FAT size by its formula (which counts
/// the two reserved entries), and the kind the cluster count gives.
fn try_kind(total: u32, cluster: u32, kind: FatKind) -> Option<Geometry> {
    let spc = cluster.checked_div(SECTOR)?;
    let reserved: u32 = if kind == FatKind::Fat32 { 8 } else { 1 };
    let root_dir_sectors = match kind {
        FatKind::Fat32 => 0,
        _ => u32::from(ROOT_ENTRIES)
            .checked_mul(32)?
            .checked_add(SECTOR - 1)?
            .checked_div(SECTOR)?,
    };
    if total <= reserved.checked_add(root_dir_sectors)?.checked_add(8)? {
        return None;
    }
    let t0 = total.checked_sub(reserved)?.checked_sub(root_dir_sectors)?;
    let t1 = u64::from(t0).checked_add(u64::from(spc).checked_mul(2)?)?;
    let bits_per_cluster = spc.checked_mul(SECTOR)?.checked_mul(8)?;
    let t2 = u64::from(
        bits_per_cluster
            .checked_div(kind.entry_bits())?
            .checked_add(FATS.into())?,
    );
    let spf = t1.checked_add(t2)?.checked_sub(1)?.checked_div(t2)?;
    let spf = u32::try_from(spf).ok()?;
    let data = t0.checked_sub(spf.checked_mul(FATS.into())?)?;
    let clusters = data.checked_div(spc)?;
    let max = match kind {
        FatKind::Fat12 => 4084,
        FatKind::Fat16 => 65524,
        FatKind::Fat32 => 0x0FFF_FFF4,
    };
    (FatKind::from_clusters(clusters) == kind && clusters <= max).then_some(
        Geometry {
            kind,
            total_sectors: total,
            cluster_size: cluster,
            reserved_sectors: reserved,
            sectors_per_fat: spf,
            root_dir_sectors,
            clusters,
        },
    )
}

/// One entry to create, in creation order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its guest path (relative to the file system's root).
    pub path: GuestPath,
    /// A directory, or a regular file of this many bytes.
    pub file_len: Option<u64>,
}

/// The plan: geometry, identity, entries in creation order, and the
/// clusters they take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FatLayout {
    /// The geometry fatfs is asked for.
    pub geometry: Geometry,
    /// `BS_VolID`.
    pub volume_id: VolumeId,
    /// The label, padded with spaces to 11 bytes.
    pub label: Option<[u8; 11]>,
    /// The build's time.
    pub time: i64,
    /// Every entry but the root, each directory before its contents and,
    /// within a directory, names that are their own short name first.
    pub entries: Vec<Entry>,
    /// Entries of each directory, by its path (the root is `/`).
    pub dir_entries: BTreeMap<GuestPath, u64>,
    /// Data clusters in use once the tree is written (on FAT32 the
    /// root's too).
    pub used_clusters: u64,
}

/// Plan the FAT file system of `p` holding `tree`.
pub fn plan(tree: &Tree, p: &FatParams) -> Result<FatLayout> {
    let geometry = Geometry::for_size(p.size)?;
    let label = label_bytes(p.label.as_deref())?;
    let mut keys: Vec<((GuestPath, bool, String), Entry)> = Vec::new();
    // The first path of each case-folded name, by directory.
    let mut folded: BTreeMap<(GuestPath, String), GuestPath> = BTreeMap::new();
    // Directory entries of each directory: the label in the root, `.`
    // and `..` in every other, each with its long-name entry as fatfs
    // 0.3.6 writes them (the repair frees those two, not their space).
    let mut slots: BTreeMap<GuestPath, u64> = BTreeMap::new();
    slots.insert(GuestPath::root(), u64::from(label.is_some()));
    let mut dir_entries: BTreeMap<GuestPath, u64> = BTreeMap::new();
    dir_entries.insert(GuestPath::root(), 0);
    let cluster = u64::from(geometry.cluster_size);
    let mut used: u64 = 0;
    for (path, _, inode) in tree.iter() {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name())
        else {
            continue;
        };
        let file_len = match &inode.kind {
            Kind::Dir => None,
            Kind::File(c) => Some(c.len()),
            k => {
                return Err(Error::Kind {
                    path: path.clone(),
                    kind: k.name(),
                })
            }
        };
        let short = check_name(path, name)?;
        let fold: String = name.chars().flat_map(char::to_uppercase).collect();
        if let Some(other) = folded.insert((parent.clone(), fold), path.clone())
        {
            return Err(Error::Clash {
                path: path.clone(),
                other,
            });
        }
        let units = u64::try_from(name.encode_utf16().count()).unwrap_or(0);
        let entry_slots = units.div_ceil(LFN_UNITS).saturating_add(1);
        let s = slots.entry(parent.clone()).or_insert(0);
        *s = s.saturating_add(entry_slots);
        let n = dir_entries.entry(parent.clone()).or_insert(0);
        *n = n.saturating_add(1);
        match file_len {
            Some(len) if len > MAX_FILE => {
                return Err(Error::FileTooLarge {
                    path: path.clone(),
                    size: len,
                })
            }
            Some(len) => used = used.saturating_add(len.div_ceil(cluster)),
            None => {
                slots.insert(path.clone(), 4);
                dir_entries.insert(path.clone(), 0);
            }
        }
        let key = (parent, short != ShortName::Exact, name.to_string());
        keys.push((
            key,
            Entry {
                path: path.clone(),
                file_len,
            },
        ));
    }
    for (dir, n) in &slots {
        let bytes = n.saturating_mul(DIR_ENTRY);
        if dir.is_root() && geometry.kind != FatKind::Fat32 {
            if *n > u64::from(ROOT_ENTRIES) {
                return Err(Error::RootFull {
                    slots: *n,
                    max: ROOT_ENTRIES.into(),
                });
            }
            continue;
        }
        if *n > MAX_DIR_SLOTS {
            return Err(Error::DirTooLarge {
                path: dir.clone(),
                slots: *n,
                max: MAX_DIR_SLOTS,
            });
        }
        // The FAT32 root has its first cluster from the format.
        used = used.saturating_add(bytes.div_ceil(cluster).max(1));
    }
    if used > u64::from(geometry.clusters) {
        return Err(Error::NoSpace {
            needed: used,
            available: geometry.clusters.into(),
            cluster_size: geometry.cluster_size,
        });
    }
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(FatLayout {
        geometry,
        volume_id: p.volume_id,
        label,
        time: p.time,
        entries: keys.into_iter().map(|(_, e)| e).collect(),
        dir_entries,
        used_clusters: used,
    })
}

/// The label as `BS_VolLab` holds it: at most 11 bytes of the
/// characters a short name may hold, or a space, padded with spaces;
/// `None` (or empty) for no label.
pub fn label_bytes(label: Option<&str>) -> Result<Option<[u8; 11]>> {
    let Some(l) = label.filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    let bad = |why| Error::Label {
        label: l.to_string(),
        why,
    };
    if l.len() > 11 {
        return Err(bad("is longer than the 11 bytes a FAT label holds"));
    }
    if l.starts_with(' ') {
        return Err(bad("starts with a space"));
    }
    if !l.chars().all(|c| c == ' ' || sfn_char(c)) {
        return Err(bad(
            "has a character a FAT label cannot hold (letters, digits, \
             spaces and ! # $ % & ' ( ) - @ ^ _ ` { } ~ only)",
        ));
    }
    let mut out = [b' '; 11];
    for (o, b) in out.iter_mut().zip(l.bytes()) {
        *o = b;
    }
    Ok(Some(out))
}

/// A character a short name keeps as it is (upper-cased): fatfs's set,
/// the spec's less `+,;=[]` and the characters above 0x7F.
fn sfn_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '!' | '#'
                | '$'
                | '%'
                | '&'
                | '\''
                | '('
                | ')'
                | '-'
                | '@'
                | '^'
                | '_'
                | '`'
                | '{'
                | '}'
                | '~'
        )
}

/// A character fatfs 0.3.6 lets into a long name (`validate_long_name`):
/// letters, digits, space, `$%'-_@~`!(){}.+,;=[]^#&`, and every
/// character from U+0080 to U+FFFF.
fn lfn_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || ('\u{80}'..='\u{FFFF}').contains(&c)
        || " $%'-_@~`!(){}.+,;=[]^#&".contains(c)
}

/// What fatfs's short-name generator makes of a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShortName {
    /// The name is its own short name, upper-cased (`EFI`, `a.txt`).
    Exact,
    /// A `~N` name is generated.
    Generated,
}

/// The short-name class of `name`, as fatfs's `ShortNameGenerator::new`
/// decides it; `Err` for an exact short name with an empty base (`.ab`),
/// which fatfs writes as a blank, invalid short name.
fn short_name(name: &str) -> std::result::Result<ShortName, ()> {
    // fatfs's `copy_short_name_part`: characters kept, whether all fit
    // in `max`, whether any was dropped or replaced.
    fn part(s: &str, max: usize) -> (usize, bool, bool) {
        let mut n: usize = 0;
        let mut lossy = false;
        for c in s.chars() {
            if n == max {
                return (n, false, lossy);
            }
            match c {
                ' ' | '.' => lossy = true,
                c => {
                    lossy |= !sfn_char(c);
                    n = n.saturating_add(1);
                }
            }
        }
        (n, true, lossy)
    }
    let (base, fits, lossy) = match name.rsplit_once('.') {
        Some((b, e)) => {
            let (n, bf, bl) = part(b, 8);
            let (_, ef, el) = part(e, 3);
            (n, bf && ef, bl || el)
        }
        None => part(name, 8),
    };
    match (fits && !lossy, base) {
        (true, 0) => Err(()),
        (true, _) => Ok(ShortName::Exact),
        (false, _) => Ok(ShortName::Generated),
    }
}

/// Check that `name` (of `path`) can be written; its short-name class.
fn check_name(path: &GuestPath, name: &str) -> Result<ShortName> {
    let bad = |why| Error::Name {
        path: path.clone(),
        why,
    };
    if name.len() > 255 {
        return Err(bad("it is longer than 255 bytes"));
    }
    if !name.chars().all(lfn_char) {
        return Err(bad(
            "it has a character FAT long names cannot hold here (control \
             characters, \" * / : < > ? \\ | and characters beyond \
             U+FFFF)",
        ));
    }
    if name.ends_with('.') || name.ends_with(' ') {
        return Err(bad(
            "it ends with a dot or a space, which Linux's vfat drops or \
             refuses",
        ));
    }
    short_name(name).map_err(|()| {
        bad("a dot and at most three characters get a blank short name \
             from fatfs 0.3.6")
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::arithmetic_side_effects, clippy::as_conversions)]

    use super::*;
    use crate::tree::Meta;

    fn gp(s: &str) -> GuestPath {
        GuestPath::new(s).unwrap()
    }

    fn params(size: u64) -> FatParams {
        FatParams {
            size,
            volume_id: VolumeId(0x1234_5678),
            label: Some("ESP".into()),
            time: 1_700_000_000,
        }
    }

    fn tree(files: &[(&str, usize)]) -> Tree {
        let mut t = Tree::new(0).unwrap();
        for (p, len) in files {
            let p = gp(p);
            t.create_dirs(&p.parent().unwrap(), &Meta::root(0o755, 0))
                .unwrap();
            t.write_file(&p, Meta::root(0o644, 0), &vec![1u8; *len])
                .unwrap();
        }
        t
    }

    /// Sizes in MiB, and the geometry fatfs 0.3.6 makes for them (read
    /// back from its images by `fsck.fat -v`; the writer also checks
    /// each against fatfs at run time).
    #[test]
    fn geometry_by_size() {
        let cases = [
            // MiB, kind, cluster, FAT sectors, clusters
            (1, FatKind::Fat12, 512, 6, 2003),
            (3, FatKind::Fat12, 2048, 5, 1525),
            (8, FatKind::Fat16, 1024, 32, 8143),
            (32, FatKind::Fat16, 2048, 64, 16343),
            (33, FatKind::Fat32, 512, 520, 66536),
            (64, FatKind::Fat32, 512, 1009, 129046),
            (260, FatKind::Fat32, 512, 4096, 524280),
            (512, FatKind::Fat32, 4096, 1023, 130815),
        ];
        for (mib, kind, cluster, spf, clusters) in cases {
            let g = Geometry::for_size(mib * MIB).unwrap();
            assert_eq!(
                (g.kind, g.cluster_size, g.sectors_per_fat, g.clusters),
                (kind, cluster, spf, clusters),
                "{mib} MiB: {g:?}"
            );
        }
        let g = Geometry::for_size(64 * MIB).unwrap();
        assert_eq!(g.reserved_sectors, 8);
        assert_eq!(g.data_sector(), 8 + 2 * 1009);
        let g = Geometry::for_size(8 * MIB).unwrap();
        assert_eq!((g.reserved_sectors, g.root_dir_sectors), (1, 32));
        assert_eq!(g.data_sector(), 1 + 64 + 32);
        for size in [0, 511, 4096, 20 * 512] {
            assert!(
                matches!(Geometry::for_size(size), Err(Error::TooSmall { .. })),
                "{size}"
            );
        }
        assert!(matches!(
            Geometry::for_size(4 << 40),
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn short_names_as_fatfs_makes_them() {
        for n in ["EFI", "grubx64.efi", "a", "~1.txt", "x.y", "BOOTX64.CSV"] {
            assert_eq!(short_name(n), Ok(ShortName::Exact), "{n}");
        }
        for n in [
            "a long name.txt",
            "ninechars",
            "a.b.c",
            "x.four",
            "a+b",
            "é.txt",
            ".bashrc",
            " .ab",
        ] {
            assert_eq!(short_name(n), Ok(ShortName::Generated), "{n}");
        }
        for n in [".a", ".ab", ".abc"] {
            assert_eq!(short_name(n), Err(()), "{n}");
        }
    }

    #[test]
    fn names_refused_with_their_path() {
        // (A name over 255 bytes is no GuestPath.)
        let cases = [
            ("/a:b", "character FAT long names cannot hold"),
            ("/a*b", "character FAT long names cannot hold"),
            ("/tab\there", "character FAT long names cannot hold"),
            ("/smile\u{1F600}", "character FAT long names cannot hold"),
            ("/dot.", "ends with a dot or a space"),
            ("/space ", "ends with a dot or a space"),
            ("/.ab", "blank short name"),
        ];
        for (path, why) in cases {
            let t = tree(&[(path, 1)]);
            let e = plan(&t, &params(8 * MIB)).unwrap_err();
            let msg = e.to_string();
            assert!(matches!(e, Error::Name { .. }), "{path}: {e}");
            assert!(msg.starts_with(&format!("{path}: ")), "{msg}");
            assert!(msg.contains(why), "{path}: {msg}");
        }
        // Names FAT can hold: long, spaced, non-ASCII, leading dots.
        let ok = [
            "/EFI/debian/grubx64.efi",
            "/a name with spaces and, more; [x].txt",
            "/naïve-名前.txt",
            "/.bashrc",
            "/x.y.z",
        ];
        let t = tree(&ok.iter().map(|p| (*p, 3)).collect::<Vec<_>>());
        plan(&t, &params(8 * MIB)).unwrap();
    }

    #[test]
    fn case_clashes_and_other_kinds_are_refused() {
        let t = tree(&[("/EFI/BOOT/a", 1), ("/EFI/boot/b", 1)]);
        let e = plan(&t, &params(8 * MIB)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/EFI/boot and /EFI/BOOT are one name on FAT, which ignores case"
        );
        // Case folds beyond ASCII, as fatfs compares names.
        let t = tree(&[("/straße", 1), ("/STRASSE", 1)]);
        assert!(matches!(
            plan(&t, &params(8 * MIB)),
            Err(Error::Clash { .. })
        ));
        let mut t = tree(&[("/EFI/a", 1)]);
        t.insert(
            &gp("/EFI/link"),
            Meta::root(0o777, 0),
            Kind::Symlink("a".into()),
        )
        .unwrap();
        let e = plan(&t, &params(8 * MIB)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/EFI/link: a symlink cannot be stored on FAT, which holds only \
             regular files and directories"
        );
        let mut t = tree(&[]);
        let dev = Kind::CharDev { major: 1, minor: 3 };
        t.insert(&gp("/null"), Meta::root(0o666, 0), dev).unwrap();
        let e = plan(&t, &params(8 * MIB)).unwrap_err();
        assert!(e.to_string().contains("a character device"), "{e}");
    }

    #[test]
    fn labels() {
        assert_eq!(label_bytes(None).unwrap(), None);
        assert_eq!(label_bytes(Some("")).unwrap(), None);
        assert_eq!(
            label_bytes(Some("EFI System")).unwrap().unwrap(),
            *b"EFI System "
        );
        assert_eq!(label_bytes(Some("esp")).unwrap().unwrap(), *b"esp        ");
        for (l, why) in [
            ("ABCDEFGHIJKL", "longer than the 11 bytes"),
            (" ESP", "starts with a space"),
            ("E.S.P", "cannot hold"),
            ("ÉSP", "cannot hold"),
        ] {
            let e = label_bytes(Some(l)).unwrap_err().to_string();
            assert!(e.contains(why), "{l}: {e}");
            assert!(e.starts_with(&format!("label {l:?} ")), "{e}");
        }
    }

    /// Creation order: parents first; in a directory exact short names
    /// first, then the rest, each by name.
    #[test]
    fn entries_in_creation_order() {
        let t = tree(&[
            ("/foo bar.txt", 1),
            ("/foobar~1.txt", 1),
            ("/EFI/debian/grubx64.efi", 1),
            ("/EFI/BOOT/BOOTX64.EFI", 1),
            ("/a long name", 1),
        ]);
        let l = plan(&t, &params(64 * MIB)).unwrap();
        let order: Vec<&str> =
            l.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            order,
            [
                "/EFI",
                "/foobar~1.txt",
                "/a long name",
                "/foo bar.txt",
                "/EFI/BOOT",
                "/EFI/debian",
                "/EFI/BOOT/BOOTX64.EFI",
                "/EFI/debian/grubx64.efi",
            ]
        );
        assert_eq!(l.dir_entries[&gp("/")], 4);
        assert_eq!(l.dir_entries[&gp("/EFI")], 2);
    }

    /// Clusters: each file its own, each directory its entries (long
    /// names included) rounded up, the FAT32 root at least one.
    #[test]
    fn clusters_counted_as_fatfs_allocates() {
        // FAT16, 1 KiB clusters: 32 entries a cluster.
        let t = tree(&[("/a", 1024), ("/b", 1025), ("/d/e", 0)]);
        let l = plan(&t, &params(8 * MIB)).unwrap();
        // a: 1, b: 2, e: 0, d: (4 + 2) entries = 1; root fixed.
        assert_eq!(l.used_clusters, 4);
        // FAT32, 512-byte clusters: 16 entries a cluster. /d holds . and
        // .. (4 entries with their long names) and 12 names of 2
        // entries: 28 entries, 2 clusters.
        let files: Vec<(String, usize)> =
            (0..12).map(|i| (format!("/d/f{i:02}"), 0)).collect();
        let files: Vec<(&str, usize)> =
            files.iter().map(|(p, n)| (&p[..], *n)).collect();
        let l = plan(&tree(&files), &params(64 * MIB)).unwrap();
        // root: label + /d (2 entries) = 1 cluster; /d: 2.
        assert_eq!(l.used_clusters, 3);
        // A name of 14 UTF-16 units takes two long-name entries.
        let l = plan(&tree(&[("/d/abcdefghijklmn", 0)]), &params(64 * MIB))
            .unwrap();
        assert_eq!(l.used_clusters, 2);
    }

    #[test]
    fn what_does_not_fit_is_refused() {
        let t = tree(&[("/big", 2 * MIB as usize)]);
        let e = plan(&t, &params(MIB)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the tree needs 4096 clusters of 512 bytes but the file system \
             has 2003"
        );
        let files: Vec<String> = (0..300).map(|i| format!("/{i:03}")).collect();
        let files: Vec<(&str, usize)> =
            files.iter().map(|p| (&p[..], 0)).collect();
        let e = plan(&tree(&files), &params(8 * MIB)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the root directory needs 601 entries; a FAT12/16 root \
             directory holds 512"
        );
        // On FAT32 the root grows.
        plan(&tree(&files), &params(64 * MIB)).unwrap();
    }
}
