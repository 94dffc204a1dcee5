//! `lunforge write IMAGE iscsi://…`, `iscsi discover` and `inspect`
//! from the command line against a real `tgtd` on 127.0.0.1
//! ([`crate::support::tgtd`]): the LUN's backing file then equals the
//! image byte for byte (with CHAP, mutual CHAP, and on a thin LUN whose
//! holes stay holes); a second write is refused without `--force`; a
//! wrong secret, an unknown IQN, a missing LUN and a LUN smaller than
//! the image each fail with an error naming what was wrong and nothing
//! claimed; a secret in the URL draws a warning and is never printed;
//! and `tgtd` killed in the middle of a write is an error, not a
//! success. The image is [`crate::image_oracle`]'s 160 MiB msdos disk.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::tgtd::Tgtd;
use crate::support::{lunforge, lunforge_cmd, Run};

const IQN: &str = "iqn.2006-05.com.performancemagic:penfold.disk1";
const USER: &str = "dangermouse";
const SECRET: &str = "s3cret-chap-pass";
const MIB: u64 = 1 << 20;

/// The test image in `dir`, and its bytes.
fn image(dir: &Path) -> (PathBuf, Vec<u8>) {
    let r = crate::image_oracle::recipe(dir, "msdos", "64MiB");
    let img = dir.join("guest.img");
    let (t, _) = crate::image_oracle::tree();
    lunforge::pipeline::write_image(&r, t, crate::support::ext::TIME, &img)
        .expect("image");
    let bytes = std::fs::read(&img).expect("read image");
    (img, bytes)
}

/// A target with LUN 1 of `size` bytes; CHAP for `USER` when `chap`.
fn target(size: u64, chap: bool) -> (Tgtd, PathBuf) {
    let mut t = Tgtd::start();
    t.add_target(1, IQN);
    let backing = t.backing_file("lun1.img", size);
    t.add_lun(1, 1, &backing);
    if chap {
        t.chap(1, USER, SECRET, false);
    }
    (t, backing)
}

/// `lunforge ARGS` with the CHAP secret in `LF_TEST_SECRET`.
fn with_secret(args: &[&str], secret: &str) -> Run {
    let (mut cmd, shown) = lunforge_cmd(args);
    cmd.env("LF_TEST_SECRET", secret);
    crate::support::finish(shown, cmd.output())
}

/// The first `len` bytes of `path`.
fn head(path: &Path, len: usize) -> Vec<u8> {
    let mut b = std::fs::read(path).expect("read");
    b.truncate(len);
    b
}

#[test]
fn chap_write_equals_the_image_then_refuses_to_overwrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (img, bytes) = image(dir.path());
    let img = img.to_str().unwrap().to_string();
    let (t, backing) = target(192 * MIB, true);
    let url = format!("iscsi://{USER}@127.0.0.1:{}/{IQN}/1", t.port);
    let args = ["write", &img, &url, "--chap-secret", "env:LF_TEST_SECRET"];
    let out = with_secret(&args, SECRET).ok();
    assert!(out.stdout.contains("verified"), "{}", out.stdout);
    assert!(
        head(&backing, bytes.len()) == bytes,
        "the LUN does not hold the image\n{}",
        t.log()
    );

    // The LUN now holds a table: not again unless forced.
    let e = with_secret(&args, SECRET).fails();
    assert!(
        e.contains(IQN) && e.contains("msdos partition table"),
        "{e}"
    );
    assert!(e.contains("--force"), "{e}");
    let mut forced = args.to_vec();
    forced.push("--force");
    with_secret(&forced, SECRET).ok();

    // inspect reads the LUN as it reads the image.
    let lun = with_secret(
        &["inspect", &url, "--chap-secret", "env:LF_TEST_SECRET"],
        SECRET,
    )
    .ok()
    .stdout;
    let file = lunforge(["inspect", &img]).ok().stdout;
    // The partition lines (the header and the bar show the LUN's own
    // size, 192 MiB, against the image's 160 MiB).
    let body = |s: &str| s.lines().skip(2).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&lun), body(&file), "{lun}\n{file}");
    assert!(lun.starts_with(&url), "{lun}");

    // Wrong secret: refused by the target, nothing claimed.
    let bad = with_secret(&forced, "not-the-secret");
    assert!(!bad.stdout.contains("wrote"), "{}", bad.stdout);
    let e = bad.fails();
    assert!(e.contains("authentication failure"), "{e}");
    assert!(!e.contains("not-the-secret"), "the secret was printed: {e}");
}

#[test]
fn unknown_target_missing_lun_and_small_lun_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (img, _) = image(dir.path());
    let img = img.to_str().unwrap().to_string();
    let (t, small) = target(100 * MIB, false);

    let other = "iqn.2006-05.com.performancemagic:penfold.nothere";
    let e = lunforge(["write", &img, &t.url(other, 1)]).fails();
    assert!(e.contains(other), "{e}");

    let e = lunforge(["write", &img, &t.url(IQN, 7)]).fails();
    assert!(e.contains("LUN 7"), "{e}");

    let e = lunforge(["write", &img, &t.url(IQN, 1)]).fails();
    assert!(e.contains("too small") && e.contains(IQN), "{e}");
    assert_eq!(
        std::fs::metadata(&small).expect("stat").blocks(),
        0,
        "the small LUN was written"
    );

    let e = lunforge(["write", &img, "iscsi://127.0.0.1/no-lun"]).fails();
    assert!(e.contains("no-lun") && e.contains("no LUN"), "{e}");
}

#[test]
fn thin_lun_and_mutual_chap_keep_holes_and_hide_the_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (img, bytes) = image(dir.path());
    let img = img.to_str().unwrap().to_string();
    let (t, backing) = target(160 * MIB, true);
    t.thin(1, 1);
    t.chap(1, "penfold", "target-secret-1", true);
    // Something the unmapping must clear.
    std::fs::write(&backing, vec![0xA5; 160 * MIB as usize]).expect("fill");
    let url = format!(
        "iscsi://{USER}%{SECRET}@127.0.0.1:{}/{IQN}/1\
         ?target_user=penfold&target_password=target-secret-1",
        t.port
    );
    let run = lunforge(["write", &img, &url, "--force"]).ok();
    assert!(run.stderr.contains("warning"), "{}", run.stderr);
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains(SECRET), "secret printed: {text}");
        assert!(!text.contains("target-secret-1"), "secret printed: {text}");
    }
    assert!(run.stdout.contains("unmapped"), "{}", run.stdout);
    assert!(std::fs::read(&backing).expect("read") == bytes);
    let allocated = std::fs::metadata(&backing).expect("stat").blocks() * 512;
    assert!(
        allocated < 16 * MIB,
        "the thin LUN's holes were written: {allocated} bytes allocated"
    );
}

#[test]
fn discover_lists_what_iscsi_ls_lists() {
    let (t, _) = target(64 * MIB, false);
    let backing = t.backing_file("lun2.img", 40 * MIB);
    t.add_lun(1, 2, &backing);
    let portal = format!("127.0.0.1:{}", t.port);
    let ours = lunforge(["iscsi", "discover", &portal]).ok().stdout;
    crate::support::require("iscsi-ls", "libiscsi-bin");
    let ls = Command::new("iscsi-ls")
        .args(["-s", &format!("iscsi://{portal}")])
        .output()
        .expect("iscsi-ls");
    let ls = String::from_utf8_lossy(&ls.stdout).into_owned();
    // iscsi-ls: "Target:IQN Portal:HOST:PORT,TPGT", then
    // "Lun:N    Type:DIRECT_ACCESS (Size:SM)" with S the last LBA's
    // offset in whole MiB.
    let (name, portal_tag) = ls
        .lines()
        .find_map(|l| l.strip_prefix("Target:"))
        .and_then(|l| l.split_once(" Portal:"))
        .unwrap_or_else(|| panic!("no target in iscsi-ls:\n{ls}"));
    assert!(
        ours.starts_with(&format!("{name} ({portal_tag})")),
        "{ours}\n{ls}"
    );
    let disks: Vec<(u32, u64)> = ls
        .lines()
        .filter(|l| l.contains("Type:DIRECT_ACCESS"))
        .map(|l| {
            let n = l["Lun:".len()..].split_whitespace().next().unwrap();
            let size = l.split("(Size:").nth(1).unwrap().trim_end_matches("M)");
            (n.parse().unwrap(), size.parse().unwrap())
        })
        .collect();
    assert_eq!(disks.len(), 2, "{ls}");
    for (lun, mib) in disks {
        let line = ours
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("LUN {lun}: ")))
            .unwrap_or_else(|| panic!("LUN {lun} missing:\n{ours}\n{ls}"));
        // "(131072 blocks of 512 bytes)"
        let inner = line.split('(').nth(1).unwrap();
        let mut words = inner.split_whitespace();
        let blocks: u64 = words.next().unwrap().parse().unwrap();
        let size: u64 = words.nth(2).unwrap().parse().unwrap();
        assert_eq!((blocks - 1) * size / MIB, mib, "{line}\n{ls}");
    }
}

#[test]
fn target_killed_mid_write_is_an_error_not_a_success() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 512 MiB of data: long enough to be cut off.
    let img = dir.path().join("big.img");
    let mut data = vec![0u8; 512 * MIB as usize];
    let mut x = 0x9e37_79b9_u32;
    for chunk in data.chunks_mut(4) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(&img, &data).expect("image");
    drop(data);
    let (mut t, _) = target(512 * MIB, false);
    let (mut cmd, shown) =
        lunforge_cmd(["write", img.to_str().unwrap(), &t.url(IQN, 1)]);
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("lunforge");
    std::thread::sleep(Duration::from_millis(300));
    t.kill();
    let run = crate::support::finish(shown, child.wait_with_output());
    assert!(!run.stdout.contains("wrote"), "{}", run.stdout);
    let e = run.fails();
    assert!(e.contains(IQN), "{e}");
    assert!(e.contains("bytes"), "no word of how far it got: {e}");
}
