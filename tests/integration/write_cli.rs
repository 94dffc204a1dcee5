//! `lunforge write IMAGE TARGET` from the command line, onto a loop
//! device standing in for the attached LUN and onto files: the device
//! then holds the image byte for byte, `blkid` on `losetup -o
//! --sizelimit` views of it finds every partition, and each refusal
//! (data already there without `--force`, too small, mounted, a symlink
//! to a regular file) is an error naming the device that leaves it as
//! it was.
//!
//! The image is [`crate::image_oracle`]'s: 160 MiB, msdos, swap, an
//! ext4 root and ext3 on `/srv`, made by the library without a mirror.
//! Needs root for the loop devices (CI runs as root); without it each
//! test says so and returns.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::blockdev_loop::{mkfs_ext4, root, Loop, Mount};
use crate::image_oracle::{recipe, tree};
use crate::support::ext::TIME;
use crate::support::{lunforge, run};

const MIB: u64 = 1 << 20;

/// The test image in `dir`, and its bytes.
fn image(dir: &Path) -> (PathBuf, Vec<u8>) {
    let r = recipe(dir, "msdos", "64MiB");
    let img = dir.join("guest.img");
    let (t, _) = tree();
    lunforge::pipeline::write_image(&r, t, TIME, &img).expect("image");
    let bytes = std::fs::read(&img).expect("read image");
    (img, bytes)
}

/// The first `len` bytes of `path`.
fn head(path: &Path, len: usize) -> Vec<u8> {
    let mut b = std::fs::read(path).expect("read");
    b.truncate(len);
    b
}

/// `blkid -p` of the `size` bytes at `offset` of `dev`, through a
/// read-only loop view: `TYPE` and `LABEL`.
fn blkid_view(dev: &Path, offset: u64, size: u64) -> (String, String) {
    let out = run(
        Command::new("losetup")
            .args([
                "--find",
                "--show",
                "--read-only",
                "-o",
                &offset.to_string(),
                "--sizelimit",
                &size.to_string(),
            ])
            .arg(dev),
        "mount",
    );
    let view = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let probe = Command::new("blkid")
        .args(["-p", "-o", "export", &view])
        .output()
        .expect("blkid");
    let _ = Command::new("losetup").args(["-d", &view]).status();
    let text = String::from_utf8_lossy(&probe.stdout).into_owned();
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or("")
            .to_string()
    };
    (field("TYPE"), field("LABEL"))
}

/// The (start, size) in bytes of each partition, from `sfdisk --json`.
fn partitions(img: &Path) -> Vec<(u64, u64)> {
    let out = run(Command::new("sfdisk").arg("--json").arg(img), "fdisk");
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("sfdisk json");
    v["partitiontable"]["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .map(|p| {
            let n = |k: &str| p[k].as_u64().expect("number") * 512;
            (n("start"), n("size"))
        })
        .collect()
}

#[test]
fn write_to_a_loop_device_then_refuse_to_overwrite() {
    if !root("write_to_a_loop_device_then_refuse_to_overwrite") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (img, bytes) = image(dir.path());
    let lo = Loop::new(192 * MIB, false);
    // Something the hole pass must clear: the image's holes are zeros.
    run(
        Command::new("dd")
            .args(["if=/dev/urandom", "bs=1M", "count=2", "seek=150"])
            .arg(format!("of={}", lo.dev.display()))
            .arg("conv=fsync"),
        "coreutils",
    );
    let dev = lo.dev.to_string_lossy().into_owned();
    let out = lunforge(["write", img.to_str().unwrap(), &dev, "--force"]).ok();
    assert!(out.stdout.contains("verified"), "{}", out.stdout);
    assert!(
        out.stdout.starts_with(&format!("wrote {dev}: ")),
        "{}",
        out.stdout
    );
    assert!(
        head(&lo.backing, bytes.len()) == bytes,
        "the device does not hold the image"
    );
    let want = [("swap", "swap"), ("ext4", "root"), ("ext3", "srv")];
    for ((start, size), (ty, label)) in partitions(&img).into_iter().zip(want) {
        assert_eq!(
            blkid_view(&lo.dev, start, size),
            (ty.to_string(), label.to_string()),
            "partition at {start}"
        );
    }

    // Now the device holds a table and file systems: not again unless
    // forced, and untouched by the refusal.
    let before = std::fs::read(&lo.backing).expect("backing");
    let e = lunforge(["write", img.to_str().unwrap(), &dev]).fails();
    assert!(e.contains(&dev), "{e}");
    assert!(e.contains("msdos partition table"), "{e}");
    assert!(e.contains("--force"), "{e}");
    assert!(std::fs::read(&lo.backing).expect("backing") == before);

    // A fresh device vouched for as zeroed: only the data, no read-back.
    let fresh = Loop::new(192 * MIB, false);
    let fdev = fresh.dev.to_string_lossy().into_owned();
    let out = lunforge([
        "write",
        img.to_str().unwrap(),
        &fdev,
        "--assume-zeroed",
        "--no-verify",
    ])
    .ok();
    assert!(out.stdout.contains("holes skipped"), "{}", out.stdout);
    assert!(out.stdout.contains("not verified"), "{}", out.stdout);
    assert!(head(&fresh.backing, bytes.len()) == bytes);
    assert!(fresh.allocated() < 16 * MIB, "{}", fresh.allocated());
}

#[test]
fn refusals_name_the_device_and_leave_it_alone() {
    if !root("refusals_name_the_device_and_leave_it_alone") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (img, _) = image(dir.path());
    let img = img.to_str().unwrap().to_string();

    let small = Loop::new(100 * MIB, false);
    let dev = small.dev.to_string_lossy().into_owned();
    let e = lunforge(["write", &img, &dev]).fails();
    assert!(e.contains(&dev) && e.contains("too small"), "{e}");
    assert_eq!(small.allocated(), 0, "the refused device was written");

    let mounted = Loop::new(192 * MIB, false);
    mkfs_ext4(&mounted.dev);
    let dev = mounted.dev.to_string_lossy().into_owned();
    {
        let _m = Mount::new(&mounted.dev);
        let e = lunforge(["write", &img, &dev, "--force"]).fails();
        assert!(e.contains(&dev) && e.contains("mounted"), "{e}");
    }

    // A symlink to a regular file is not a device: never written
    // through.
    let victim = dir.path().join("precious");
    std::fs::write(&victim, b"keep me").expect("write");
    let link = dir.path().join("by-path-lun");
    std::os::unix::fs::symlink(&victim, &link).expect("symlink");
    let e = lunforge(["write", &img, link.to_str().unwrap()]).fails();
    assert!(e.contains("not a regular file"), "{e}");
    assert_eq!(std::fs::read(&victim).expect("read"), b"keep me");
}

#[test]
fn write_to_a_file_is_sparse_and_identical() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (img, bytes) = image(dir.path());
    let out = dir.path().join("copy.img");
    lunforge(["write", img.to_str().unwrap(), out.to_str().unwrap()]).ok();
    assert!(std::fs::read(&out).expect("copy") == bytes);
    let (apparent, allocated) = crate::support::ext::sizes(&out);
    assert_eq!(apparent, 160 * MIB);
    assert!(allocated < 4 * MIB, "{allocated} bytes allocated");
    let e =
        lunforge(["write", "/nonexistent.img", out.to_str().unwrap()]).fails();
    assert!(e.contains("/nonexistent.img"), "{e}");
}
