//! The block-device sink on real loop devices: each test attaches a
//! sparse file of its own with `losetup --find --show`, puts on it what
//! `BlockDevice::open` must refuse (a mounted ext4 made by `mkfs.ext4`,
//! a mounted partition added by `partx`, an msdos table written by
//! `sfdisk`, an exclusive opener, too few bytes, a symlink to a regular
//! file), and checks the refusal; then writes through the `Device`
//! trait and checks the bytes in the backing file, which the kernel's
//! loop driver wrote, and its allocation (`st_blocks`) after zeroing.
//!
//! Needs root (loop devices, mounts), as CI runs; without it each test
//! says so and returns. Loop devices are detached and mounts unmounted
//! by guards, whether a test passes or panics. No other device is
//! touched.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use lunforge::sink::blockdev::signature::{ExtKind, Signature};
use lunforge::sink::blockdev::{BlockDevice, BlockOptions, Error, Reread};
use lunforge::sink::{Device, Zeroing};

use crate::support::oracle::is_root;
use crate::support::run;

const MIB: u64 = 1 << 20;

/// `true` when the test can run; says why not otherwise.
pub(crate) fn root(test: &str) -> bool {
    let ok = is_root();
    if !ok {
        eprintln!(
            "{test}: SKIPPED: loop devices and mounts need root (CI runs \
             the tests as root)"
        );
    }
    ok
}

/// A loop device over a sparse file; detached when dropped.
pub(crate) struct Loop {
    pub(crate) dev: PathBuf,
    pub(crate) backing: PathBuf,
    _dir: tempfile::TempDir,
}

impl Loop {
    /// A sparse file of `size` bytes attached to a free loop device, with partition
    /// scanning when `partscan`.
    pub(crate) fn new(size: u64, partscan: bool) -> Loop {
        let dir = tempfile::tempdir().expect("tempdir");
        let backing = dir.path().join("backing.img");
        File::create(&backing)
            .and_then(|f| f.set_len(size))
            .expect("sparse file");
        let mut cmd = Command::new("losetup");
        cmd.args(["--find", "--show"]);
        if partscan {
            cmd.arg("--partscan");
        }
        let out = run(cmd.arg(&backing), "mount");
        let dev = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        // The guard first, so that even a failed check detaches it.
        let lo = Loop {
            dev,
            backing,
            _dir: dir,
        };
        assert!(
            lo.dev.to_string_lossy().starts_with("/dev/loop"),
            "losetup said {:?}",
            lo.dev
        );
        lo
    }

    fn open(&self, image: u64, force: bool) -> Result<BlockDevice, Error> {
        BlockDevice::open(&self.dev, image, &BlockOptions { force })
    }

    /// Allocated bytes of the backing file.
    pub(crate) fn allocated(&self) -> u64 {
        std::fs::metadata(&self.backing).expect("stat").blocks() * 512
    }

    fn backing_bytes(&self, offset: u64, len: usize) -> Vec<u8> {
        let mut buf = vec![0; len];
        File::open(&self.backing)
            .and_then(|f| f.read_exact_at(&mut buf, offset))
            .expect("read backing file");
        buf
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        for _ in 0..20 {
            let ok = Command::new("losetup")
                .arg("-d")
                .arg(&self.dev)
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        eprintln!("could not detach {}", self.dev.display());
    }
}

/// A mount on a temporary directory; unmounted when dropped.
pub(crate) struct Mount {
    dir: tempfile::TempDir,
}

impl Mount {
    pub(crate) fn new(dev: &Path) -> Mount {
        let dir = tempfile::tempdir().expect("tempdir");
        run(Command::new("mount").arg(dev).arg(dir.path()), "mount");
        Mount { dir }
    }

    fn point(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        for _ in 0..20 {
            let ok = Command::new("umount")
                .arg(self.dir.path())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        eprintln!("could not unmount {}", self.dir.path().display());
    }
}

pub(crate) fn mkfs_ext4(dev: &Path) {
    run(
        Command::new("mkfs.ext4").args(["-q", "-F"]).arg(dev),
        "e2fsprogs",
    );
}

/// Write the partition table of the `sfdisk` `script` on `dev`,
/// without asking the kernel to re-read it.
fn sfdisk(dev: &Path, script: &str) {
    use std::io::Write;
    use std::process::Stdio;
    crate::support::require("sfdisk", "fdisk");
    let mut child = Command::new("sfdisk")
        .args(["-q", "--no-reread", "--no-tell-kernel"])
        .arg(dev)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sfdisk");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write the script");
    let out = child.wait_with_output().expect("sfdisk");
    assert!(out.status.success(), "sfdisk failed: {out:?}");
}

/// Bytes that differ from block to block and from run to run of `seed`.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ ((i / 512) as u8).wrapping_mul(seed))
        .collect()
}

#[test]
fn blank_loop_device_is_written_and_read_back() {
    if !root("blank_loop_device_is_written_and_read_back") {
        return;
    }
    let lo = Loop::new(16 * MIB, false);
    let bd = lo.open(8 * MIB, false).expect("a blank device is accepted");
    assert!(bd.overwritten().is_empty());
    let mut dev: Box<dyn Device> = Box::new(bd);
    assert_eq!(dev.capacity(), 16 * MIB);
    assert_eq!(dev.block_size(), 512);
    assert_eq!(dev.name(), lo.dev.to_string_lossy());

    let writes = [
        (0, 4096, 3u8),
        (MIB, 3 * 512, 5),
        (16 * MIB - 8192, 8192, 7),
    ];
    for &(off, len, seed) in &writes {
        dev.write(off, &pattern(len, seed)).expect("write");
    }
    for &(off, len, seed) in &writes {
        let mut back = vec![0; len];
        dev.read(off, &mut back).expect("read");
        assert_eq!(back, pattern(len, seed), "before sync at {off}");
    }
    dev.sync().expect("sync");
    // After sync the page cache is dropped: this read comes from the
    // device, and the backing file shows what the loop driver wrote.
    for &(off, len, seed) in &writes {
        let mut back = vec![0; len];
        dev.read(off, &mut back).expect("read");
        assert_eq!(back, pattern(len, seed), "after sync at {off}");
        assert_eq!(lo.backing_bytes(off, len), pattern(len, seed));
    }
    let e = dev.write(16 * MIB - 512, &[0; 1024]).unwrap_err();
    assert!(e.to_string().contains("past the end"), "{e}");
    dev.close().expect("close");
}

#[test]
fn zero_unmaps_a_loop_device_range_and_it_reads_zeros() {
    if !root("zero_unmaps_a_loop_device_range_and_it_reads_zeros") {
        return;
    }
    let lo = Loop::new(32 * MIB, false);
    let mut dev = lo.open(32 * MIB, false).expect("open");
    assert_eq!(
        dev.zeroing(),
        Zeroing::Unmap,
        "a loop device over a file advertises discard and write zeroes"
    );
    dev.write(MIB, &pattern(16 * MIB as usize, 9))
        .expect("write");
    dev.sync().expect("sync");
    let before = lo.allocated();
    assert!(before >= 16 * MIB, "allocated {before}");

    // Zero the middle 8 MiB, leaving 4 MiB of data either side.
    dev.zero(5 * MIB, 8 * MIB).expect("zero");
    dev.sync().expect("sync");
    let after = lo.allocated();
    assert!(
        after <= before - 8 * MIB,
        "the backing file stays allocated: {before} -> {after} bytes"
    );
    assert!(lo
        .backing_bytes(5 * MIB, 8 * MIB as usize)
        .iter()
        .all(|b| *b == 0));
    let mut back = vec![1; 8 * MIB as usize];
    dev.read(5 * MIB, &mut back).expect("read");
    assert!(back.iter().all(|b| *b == 0), "the device reads non-zero");
    let data = pattern(16 * MIB as usize, 9);
    assert_eq!(lo.backing_bytes(MIB, 4 * MIB as usize), data[..4 << 20]);
    assert_eq!(
        lo.backing_bytes(13 * MIB, 4 * MIB as usize),
        data[12 << 20..]
    );
    assert_eq!(dev.finish().expect("finish"), Reread::Unsupported);
}

#[test]
fn zero_in_place_keeps_the_range_allocated_and_reads_zeros() {
    if !root("zero_in_place_keeps_the_range_allocated_and_reads_zeros") {
        return;
    }
    let lo = Loop::new(16 * MIB, false);
    let mut dev = lo.open(16 * MIB, false).expect("open");
    dev.keep_allocated();
    assert_eq!(dev.zeroing(), Zeroing::Offload);
    dev.write(0, &pattern(8 * MIB as usize, 11)).expect("write");
    dev.sync().expect("sync");
    let before = lo.allocated();
    // BLKZEROOUT (no unmap): the loop driver zeroes the file's range
    // in place (FALLOC_FL_ZERO_RANGE on this kernel), without punching.
    dev.zero(2 * MIB, 4 * MIB).expect("zero");
    dev.sync().expect("sync");
    assert!(
        lo.allocated() >= before,
        "{before} -> {} bytes",
        lo.allocated()
    );
    assert!(lo
        .backing_bytes(2 * MIB, 4 * MIB as usize)
        .iter()
        .all(|b| *b == 0));
    let mut back = vec![1; 8 * MIB as usize];
    dev.read(0, &mut back).expect("read");
    let mut want = pattern(8 * MIB as usize, 11);
    want[2 << 20..6 << 20].fill(0);
    assert!(back == want, "the device reads other bytes");
}

#[test]
fn mounted_device_is_refused_even_with_force() {
    if !root("mounted_device_is_refused_even_with_force") {
        return;
    }
    let lo = Loop::new(32 * MIB, false);
    mkfs_ext4(&lo.dev);
    {
        let m = Mount::new(&lo.dev);
        for force in [false, true] {
            let e = lo.open(MIB, force).unwrap_err();
            assert!(matches!(e, Error::Mounted { .. }), "{e}");
            let msg = e.to_string();
            assert!(msg.contains(&*m.point().to_string_lossy()), "{msg}");
            assert!(msg.contains("is mounted"), "{msg}");
        }
    }
    // Unmounted: the file system is still there.
    let e = lo.open(MIB, false).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{} holds an ext4 file system; pass --force to overwrite",
            lo.dev.display()
        )
    );
    let dev = lo.open(MIB, true).expect("forced");
    assert_eq!(dev.overwritten(), [Signature::Ext(ExtKind::Ext4)]);
}

#[test]
fn device_with_a_mounted_partition_is_refused() {
    if !root("device_with_a_mounted_partition_is_refused") {
        return;
    }
    let lo = Loop::new(32 * MIB, true);
    sfdisk(&lo.dev, "label: dos\nstart=2048, size=16384, type=83\n");
    // Added by BLKPG, which needs no partition parser in the kernel.
    run(Command::new("partx").arg("-a").arg(&lo.dev), "util-linux");
    let name = lo.dev.file_name().unwrap().to_string_lossy().into_owned();
    let part = PathBuf::from(format!("/dev/{name}p1"));
    assert!(part.exists(), "partx made no {}", part.display());
    mkfs_ext4(&part);
    {
        let _m = Mount::new(&part);
        let e = lo.open(MIB, true).unwrap_err();
        assert!(matches!(e, Error::Mounted { .. }), "{e}");
        assert!(e.to_string().contains(&format!("{name}p1 on ")), "{e}");
    }
    let dev = lo.open(MIB, true).expect("forced once unmounted");
    assert_eq!(dev.overwritten(), [Signature::Msdos]);
    assert_eq!(dev.finish().expect("finish"), Reread::Done);
}

#[test]
fn too_small_device_is_refused() {
    if !root("too_small_device_is_refused") {
        return;
    }
    let lo = Loop::new(4 * MIB, false);
    let e = lo.open(4 * MIB + 512, true).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{} holds 4194304 bytes, too small for the 4194816-byte image",
            lo.dev.display()
        )
    );
    lo.open(4 * MIB, false).expect("exactly the image's size");
}

#[test]
fn partition_table_needs_force() {
    if !root("partition_table_needs_force") {
        return;
    }
    let lo = Loop::new(16 * MIB, false);
    sfdisk(&lo.dev, "label: dos\nstart=2048, type=83\n");
    let e = lo.open(MIB, false).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{} holds an msdos partition table; pass --force to overwrite",
            lo.dev.display()
        )
    );
    let dev = lo.open(MIB, true).expect("forced");
    assert_eq!(dev.overwritten(), [Signature::Msdos]);
}

#[test]
fn symlinks_lead_to_block_devices_only() {
    if !root("symlinks_lead_to_block_devices_only") {
        return;
    }
    let lo = Loop::new(8 * MIB, false);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("not-a-lun.img");
    std::fs::write(&file, vec![0u8; 8 * MIB as usize]).unwrap();
    let to_file = dir.path().join("ip-192.0.2.1:3260-iscsi-x-lun-0");
    std::os::unix::fs::symlink(&file, &to_file).unwrap();
    let e = BlockDevice::open(&to_file, MIB, &BlockOptions { force: true })
        .unwrap_err();
    assert!(matches!(e, Error::NotABlockDevice { .. }), "{e}");
    assert!(e
        .to_string()
        .contains("is a regular file, not a block device"));
    assert!(std::fs::read(&file).unwrap().iter().all(|b| *b == 0));

    let to_dev = dir.path().join("ip-192.0.2.1:3260-iscsi-y-lun-0");
    std::os::unix::fs::symlink(&lo.dev, &to_dev).unwrap();
    let mut dev =
        BlockDevice::open(&to_dev, MIB, &BlockOptions::default()).expect("ok");
    assert_eq!(dev.name(), to_dev.to_string_lossy());
    assert_eq!(dev.device().resolved, lo.dev);
    dev.write(0, &pattern(512, 1)).expect("write");
    dev.sync().expect("sync");
    assert_eq!(lo.backing_bytes(0, 512), pattern(512, 1));
}

#[test]
fn exclusively_held_device_is_busy() {
    if !root("exclusively_held_device_is_busy") {
        return;
    }
    let lo = Loop::new(8 * MIB, false);
    let excl = rustix::fs::OFlags::EXCL.bits() as i32;
    let holder = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(excl)
        .open(&lo.dev)
        .expect("exclusive open");
    let e = lo.open(MIB, true).unwrap_err();
    assert!(matches!(e, Error::Busy { .. }), "{e}");
    assert!(e.to_string().contains(" is busy: "), "{e}");
    drop(holder);

    // And lunforge's own claim keeps out a second writer and a mount.
    mkfs_ext4(&lo.dev);
    let dev = lo.open(MIB, true).expect("open");
    let e = lo.open(MIB, true).unwrap_err();
    assert!(matches!(e, Error::Busy { .. }), "{e}");
    let dir = tempfile::tempdir().expect("tempdir");
    let mount = Command::new("mount")
        .arg(&lo.dev)
        .arg(dir.path())
        .output()
        .expect("mount");
    if mount.status.success() {
        let _ = Command::new("umount").arg(dir.path()).status();
        panic!("mounted a device lunforge holds");
    }
    drop(dev);
}
