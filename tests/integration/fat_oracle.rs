//! The FAT writer (`lunforge::filesystems::fat`) checked by tools
//! nobody here wrote: `fsck.fat -n` (dosfstools) finds nothing to fix
//! and counts the files and clusters the plan counts, mtools (`mdir`,
//! `mcopy`) lists every path and reads every file back byte for byte
//! (nested directories, long names, names with spaces and non-ASCII
//! characters, a name next to one that looks like its short name, an
//! empty file, files of many clusters), and `blkid -p` (util-linux)
//! reads the type, FAT version, volume id and label. FAT12, FAT16 and
//! FAT32 are each written; two writes give the same bytes, and the
//! image stays sparse.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use lunforge::filesystems::fat::{self, FatKind, FatParams};
use lunforge::ids::VolumeId;
use lunforge::tree::{GuestPath, Kind, Meta, Tree};

use crate::support::ext::{sizes, Rng, TIME};
use crate::support::run;

const MIB: u64 = 1 << 20;

fn gp(p: &str) -> GuestPath {
    GuestPath::new(p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// An ESP's tree and more: nested directories, a directory of many
/// entries (several clusters of directory), long and non-ASCII names.
fn esp_tree() -> Tree {
    let mut t = Tree::new(TIME).expect("tree");
    let dir = Meta::root(0o755, TIME);
    for d in [
        "/EFI/BOOT",
        "/EFI/debian/fonts",
        "/loader/entries",
        "/many files",
    ] {
        t.create_dirs(&gp(d), &dir).expect("dir");
    }
    let mut rng = Rng::new(0xfa7);
    let f = Meta::root(0o644, TIME);
    let files: Vec<(String, Vec<u8>)> = vec![
        ("/EFI/BOOT/BOOTX64.EFI".into(), rng.bytes(300_000)),
        ("/EFI/debian/grubx64.efi".into(), rng.bytes(1_500_001)),
        (
            "/EFI/debian/grub.cfg".into(),
            b"search.fs_uuid 1A2B\n".to_vec(),
        ),
        ("/EFI/debian/BOOTX64.CSV".into(), b"shimx64.efi\n".to_vec()),
        (
            "/EFI/debian/fonts/a long file name, with spaces.pf2".into(),
            rng.bytes(4096),
        ),
        (
            "/loader/entries/naïve ünïcode 名前.conf".into(),
            b"x".to_vec(),
        ),
        ("/loader/loader.conf".into(), Vec::new()),
        ("/foo bar.txt".into(), b"the long one".to_vec()),
        ("/foobar~1.txt".into(), b"the short one".to_vec()),
        ("/.hidden-file".into(), b"dot".to_vec()),
    ]
    .into_iter()
    .chain((0..70).map(|i| {
        (
            format!("/many files/entry number {i:03}.bin"),
            rng.bytes(i * 37),
        )
    }))
    .collect();
    for (p, b) in &files {
        t.write_file(&gp(p), f.clone(), b).expect("file");
    }
    t
}

fn params(size: u64) -> FatParams {
    FatParams {
        size,
        volume_id: VolumeId(0x1A2B_3C4D),
        label: Some("ESP".into()),
        time: TIME,
    }
}

/// `tree` written by the FAT writer into a sparse file of `p.size`.
fn write(tree: &Tree, p: &FatParams, path: &Path) -> fat::FatLayout {
    let l = fat::plan(tree, p).expect("plan");
    let mut f = std::fs::File::create(path).expect("image");
    f.set_len(p.size).expect("size");
    fat::write(tree, &l, &mut f).expect("write");
    f.sync_all().expect("sync");
    l
}

/// `PROGRAM ARGS` with mtools' settings: no geometry check, UTF-8
/// names.
fn mtool(program: &str, args: &[&str]) -> Vec<u8> {
    let out = run(
        Command::new(program)
            .env("MTOOLS_SKIP_CHECK", "1")
            .env("LC_ALL", "C.UTF-8")
            .args(args),
        "mtools",
    );
    out.stdout
}

/// `fsck.fat -n` exits 0 and prints only its banner and summary, whose
/// file and cluster counts are the plan's (`files` counts the volume
/// label's entry, as fsck.fat does).
#[track_caller]
pub(crate) fn assert_fsck_fat_clean(
    img: &Path,
    files: usize,
    used: u64,
    clusters: u64,
) {
    let p = img.to_str().expect("utf-8");
    crate::support::require("fsck.fat", "dosfstools");
    let out = Command::new("fsck.fat")
        .args(["-n", p])
        .env("LC_ALL", "C")
        .output()
        .expect("run fsck.fat");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "fsck.fat -n {p}:\n{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "fsck.fat -n {p} says more:\n{text}");
    assert!(lines[0].starts_with("fsck.fat "), "{text}");
    assert_eq!(
        lines[1],
        format!("{p}: {files} files, {used}/{clusters} clusters"),
        "{text}"
    );
}

/// `blkid -p -o export` of `img` (at `offset`), as key → value.
pub(crate) fn blkid(img: &Path, offset: Option<u64>) -> Vec<(String, String)> {
    let p = img.to_str().expect("utf-8");
    let mut args = vec!["-p", "-o", "export"];
    let off = offset.map(|o| o.to_string());
    if let Some(o) = &off {
        args.extend(["-O", o]);
    }
    args.push(p);
    let out = run(Command::new("blkid").args(&args), "util-linux");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// mtools lists exactly the tree's paths and reads back every file's
/// bytes. `at` is `IMG` or `IMG@@OFFSET`.
pub(crate) fn assert_mtools_read_back(at: &str, tree: &Tree, ctx: &str) {
    let work = tempfile::tempdir().expect("temp dir");
    // `mdir -/ -b`: every path, recursively, one a line.
    let listing = mtool("mdir", &["-i", at, "-/", "-b", "::/"]);
    let listed: BTreeSet<String> = String::from_utf8(listing)
        .expect("UTF-8 names")
        .lines()
        .map(|l| l.trim_start_matches("::").trim_end_matches('/').to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let want: BTreeSet<String> = tree
        .iter()
        .filter(|(p, _, _)| !p.is_root())
        .map(|(p, _, _)| p.as_str().to_string())
        .collect();
    assert_eq!(listed, want, "{ctx}: mdir -/ -b");
    for (path, _, inode) in tree.iter() {
        let Kind::File(c) = &inode.kind else { continue };
        let host = work.path().join("f");
        let src = format!("::{}", path.as_str());
        mtool(
            "mcopy",
            &["-n", "-i", at, &src, host.to_str().expect("utf-8")],
        );
        let got = std::fs::read(&host).expect("copied file");
        let want = tree.spool().read(c).expect("content");
        assert!(
            got == want,
            "{ctx}: {path}: mcopy read {} bytes, the tree has {}",
            got.len(),
            want.len()
        );
        std::fs::remove_file(&host).expect("rm");
    }
}

#[test]
fn fat_images_pass_fsck_mtools_and_blkid() {
    let t = esp_tree();
    let paths = t.len() - 1;
    for (mib, kind) in [
        (4, FatKind::Fat12),
        (16, FatKind::Fat16),
        (64, FatKind::Fat32),
    ] {
        let ctx = format!("{mib} MiB");
        let dir = tempfile::tempdir().expect("temp dir");
        let img = dir.path().join("esp.img");
        let p = params(mib * MIB);
        let l = write(&t, &p, &img);
        assert_eq!(l.geometry.kind, kind, "{ctx}");
        assert_fsck_fat_clean(
            &img,
            paths + 1,
            l.used_clusters,
            l.geometry.clusters.into(),
        );
        assert_mtools_read_back(img.to_str().expect("utf-8"), &t, &ctx);
        let b = blkid(&img, None);
        for (k, v) in [
            ("TYPE", "vfat"),
            ("UUID", "1A2B-3C4D"),
            ("LABEL", "ESP"),
            ("VERSION", kind.name()),
        ] {
            assert!(
                b.contains(&(k.to_string(), v.to_string())),
                "{ctx}: blkid has no {k}={v}: {b:?}"
            );
        }
        // Two writes, the same bytes; holes where nothing was written.
        let again = dir.path().join("again.img");
        write(&t, &p, &again);
        assert!(
            std::fs::read(&img).expect("read")
                == std::fs::read(&again).expect("read"),
            "{ctx}: two writes differ"
        );
        let (apparent, allocated) = sizes(&img);
        assert_eq!(apparent, mib * MIB);
        if kind == FatKind::Fat32 {
            assert!(allocated < 8 * MIB, "{ctx}: {allocated} bytes allocated");
        }
    }
}

/// mtools shows the build's time on every entry, and no label becomes
/// `NO NAME` with no label entry, as mkfs.fat writes it.
#[test]
fn fat_times_are_the_builds_and_no_label_is_no_name() {
    let t = esp_tree();
    let dir = tempfile::tempdir().expect("temp dir");
    let img = dir.path().join("esp.img");
    let mut p = params(40 * MIB);
    p.label = None;
    p.time = 1_709_164_801; // 2024-02-29 00:00:01 UTC
    let l = write(&t, &p, &img);
    let at = img.to_str().expect("utf-8");
    let text = String::from_utf8(mtool("mdir", &["-i", at, "::/EFI/debian"]))
        .expect("utf-8");
    let lines: Vec<&str> =
        text.lines().filter(|l| l.contains("grub")).collect();
    assert_eq!(lines.len(), 2, "{text}");
    for l in lines {
        assert!(l.contains("2024-02-29   0:00"), "{l}");
    }
    let b = blkid(&img, None);
    assert!(!b.iter().any(|(k, _)| k == "LABEL"), "{b:?}");
    assert!(text.contains("Volume in drive : has no label"), "{text}");
    assert_fsck_fat_clean(
        &img,
        t.len() - 1,
        l.used_clusters,
        l.geometry.clusters.into(),
    );
}
