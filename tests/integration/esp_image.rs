//! A whole guest with an EFI system partition, built by `lunforge
//! build` from a local signed repository whose package ships files
//! under `/boot/efi`: `sfdisk --json` gives the partition the EFI System
//! type, `blkid` reads a FAT32 file system whose volume id is the UUID
//! the guest's `/etc/fstab` (read from the root partition with
//! `debugfs`) mounts on `/boot/efi`, `fsck.fat` finds it clean, mtools
//! reads the package's files back from it, the root file system keeps
//! an empty `/boot/efi` to mount on, and `lunforge inspect` says the
//! same as blkid.

use std::path::{Path, PathBuf};
use std::process::Command;

use lunforge::tree::{GuestPath, Meta, Tree};

use crate::fat_oracle::{
    assert_fsck_fat_clean, assert_mtools_read_back, blkid,
};
use crate::support::ext::{tool, Rng};
use crate::support::testrepo::{Pkg, TestRepo};
use crate::support::{lunforge, run, Site};

/// The EFI System partition type GUID, as sfdisk prints it.
const ESP_TYPE: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";

/// Files the package installs below `/boot/efi`.
fn esp_files() -> Vec<(&'static str, Vec<u8>)> {
    let mut rng = Rng::new(0xe5b);
    vec![
        ("EFI/debian/grubx64.efi", rng.bytes(250_000)),
        (
            "EFI/debian/grub.cfg",
            b"search.fs_uuid XXXX root\n".to_vec(),
        ),
        ("EFI/BOOT/BOOTX64.EFI", rng.bytes(90_000)),
        ("EFI/debian/a long name with spaces.txt", b"long\n".to_vec()),
    ]
}

/// The recipe: 128 MiB, GPT, a 40 MiB ESP labelled `EFI` first, an ext4
/// root for the rest.
fn recipe(site: &Site) -> PathBuf {
    let text = format!(
        "[image]\nname = \"espguest\"\nsize = \"128MiB\"\ntable = \"gpt\"\n\
         \n[[partitions]]\nuse = \"esp\"\nsize = \"40MiB\"\nlabel = \"EFI\"\n\
         \n[[partitions]]\nuse = \"root\"\nfs = \"ext4\"\nsize = \"rest\"\n\
         \n[system]\nsuite = {:?}\narchitecture = \"amd64\"\n\
         variant = \"essential\"\nmirror = {:?}\n",
        site.repo.suite,
        site.server.url()
    );
    let path = site.work.path().join("esp.toml");
    std::fs::write(&path, text).expect("recipe");
    path
}

/// Partition `n` (from 1) of `img` copied out with `dd`.
fn copy_out(img: &Path, start: u64, sectors: u64, n: usize) -> PathBuf {
    let out = img.with_extension(format!("p{n}"));
    run(
        Command::new("dd").args([
            format!("if={}", img.display()),
            format!("of={}", out.display()),
            "bs=512".into(),
            format!("skip={start}"),
            format!("count={sectors}"),
            "conv=sparse".into(),
            "status=none".into(),
        ]),
        "coreutils",
    );
    out
}

#[test]
fn esp_image_matches_fstab_blkid_and_the_package() {
    let files = esp_files();
    let mut pkg = Pkg::new("efi-files", "1.0").essential();
    for (p, b) in &files {
        pkg = pkg.file(&format!("/boot/efi/{p}"), b);
    }
    let site = Site::new(TestRepo::new("esptest").package(pkg).build());
    let out = site.work.path().join("out");
    let args = site.args(
        "build",
        &recipe(&site),
        &site.cache(),
        &[
            "-o",
            out.to_str().expect("utf-8"),
            "--configure",
            "firstboot",
        ],
    );
    lunforge(args).ok();
    let img = out.join("espguest.img");
    let p = img.to_str().expect("utf-8");

    // The table: the ESP first, of the EFI System type.
    let json = run(Command::new("sfdisk").args(["--json", p]), "fdisk");
    let v: serde_json::Value =
        serde_json::from_slice(&json.stdout).expect("sfdisk JSON");
    let parts = v["partitiontable"]["partitions"]
        .as_array()
        .expect("partitions");
    assert_eq!(parts.len(), 2, "{v}");
    assert_eq!(parts[0]["type"], ESP_TYPE, "{v}");
    assert_eq!(parts[0]["size"], 40 * 2048, "{v}");
    let at = |i: usize, k: &str| parts[i][k].as_u64().expect("number");

    // blkid of the ESP in place: vfat, FAT32, a volume id, the label.
    let b = blkid(&img, Some(at(0, "start") * 512));
    let get = |k: &str| {
        b.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("blkid has no {k}: {b:?}"))
    };
    assert_eq!(get("TYPE"), "vfat");
    assert_eq!(get("VERSION"), "FAT32");
    assert_eq!(get("LABEL"), "EFI");
    let id = get("UUID");
    assert!(
        id.len() == 9 && id.as_bytes()[4] == b'-',
        "not a volume id: {id}"
    );

    // The guest's fstab mounts that id on /boot/efi.
    let root = copy_out(&img, at(1, "start"), at(1, "size"), 2);
    let r = root.to_str().expect("utf-8");
    let (code, fstab) =
        tool("debugfs", "e2fsprogs", &["-R", "cat /etc/fstab", r]);
    assert_eq!(code, 0, "{fstab}");
    let line = format!("UUID={id} /boot/efi vfat umask=0077 0 2");
    assert!(fstab.lines().any(|l| l == line), "no {line:?} in:\n{fstab}");
    // The root keeps only an empty directory there.
    let (code, ls) =
        tool("debugfs", "e2fsprogs", &["-R", "ls -p /boot/efi", r]);
    assert_eq!(code, 0, "{ls}");
    let names: Vec<&str> = ls
        .lines()
        .filter_map(|l| l.strip_prefix('/'))
        .filter_map(|l| l.split('/').nth(4))
        .collect();
    assert_eq!(names, [".", ".."], "{ls}");

    // The ESP: clean, and holding the package's files.
    let esp = copy_out(&img, at(0, "start"), at(0, "size"), 1);
    let mut want = Tree::new(0).expect("tree");
    for (path, bytes) in &files {
        let g = GuestPath::new(&format!("/{path}")).expect("path");
        let d = g.parent().expect("parent");
        want.create_dirs(&d, &Meta::root(0o755, 0)).expect("dirs");
        want.write_file(&g, Meta::root(0o644, 0), bytes)
            .expect("file");
    }
    assert_mtools_read_back(esp.to_str().expect("utf-8"), &want, "esp");
    let fsck = Command::new("fsck.fat")
        .args(["-n", esp.to_str().expect("utf-8")])
        .output()
        .expect("fsck.fat");
    let summary = String::from_utf8_lossy(&fsck.stdout);
    // Files: the tree's paths and the label; clusters as fsck counts.
    let counts = summary
        .lines()
        .last()
        .and_then(|l| l.split_once(": "))
        .map(|(_, c)| c.to_string())
        .unwrap_or_default();
    let (used, total) = counts
        .split_once(" files, ")
        .and_then(|(_, c)| c.strip_suffix(" clusters"))
        .and_then(|c| c.split_once('/'))
        .map(|(u, t)| (u.parse().expect("used"), t.parse().expect("total")))
        .unwrap_or_else(|| panic!("fsck.fat said:\n{summary}"));
    assert_fsck_fat_clean(&esp, want.len(), used, total);

    // inspect says what blkid says, of the disk and of the partition
    // alone (whose boot sector is no partition table).
    let said = format!("vfat (FAT32) UUID {id} label \"EFI\", 40.0 MiB");
    let report = lunforge(["inspect", p]).ok().stdout;
    assert!(report.contains(&said), "{report}");
    let report = lunforge([std::ffi::OsStr::new("inspect"), esp.as_os_str()])
        .ok()
        .stdout;
    assert!(
        report.contains(&format!("no partition table: {said}")),
        "{report}"
    );
}
