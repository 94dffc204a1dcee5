//! `lunforge mkfs` and `lunforge inspect` from the command line, checked
//! by e2fsprogs and blkid: a device table gives root-owned device nodes
//! without root on the host side of the tree, the same directory gives
//! the same bytes in two output paths, and bad input leaves nothing.

use std::path::Path;
use std::process::Command;

use crate::support::{lunforge, require};

/// A small source directory: files, a symlink, a sparse file, a
/// subdirectory.
fn source(dir: &Path) {
    std::fs::create_dir_all(dir.join("etc")).expect("mkdir");
    std::fs::write(dir.join("etc/hostname"), "virtual01\n").expect("write");
    std::fs::write(dir.join("etc/shadow"), "root:*:1::::::\n").expect("write");
    std::os::unix::fs::symlink("hostname", dir.join("etc/name")).expect("ln");
    let f = std::fs::File::create(dir.join("sparse")).expect("create");
    f.set_len(64 << 20).expect("set_len");
    std::os::unix::fs::FileExt::write_all_at(&f, b"end", (64 << 20) - 3)
        .expect("write");
}

const DEVICES: &str = "\
# name type mode uid gid major minor start inc count
/dev d 755 0 0 - - - - -
/dev/console c 600 0 5 5 1 - - -
/dev/xvda b 660 0 6 202 1 1 1 2
/etc/shadow f 640 0 42 - - - - -
";

fn debugfs(image: &Path, request: &str) -> String {
    require("debugfs", "e2fsprogs");
    let out = Command::new("debugfs")
        .args(["-R", request])
        .arg(image)
        .output()
        .expect("debugfs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn mkfs_with_a_device_table_is_clean_deterministic_and_sparse() {
    let w = tempfile::tempdir().expect("tempdir");
    let src = w.path().join("src");
    source(&src);
    let table = w.path().join("devices.txt");
    std::fs::write(&table, DEVICES).expect("write");
    let mut sums = Vec::new();
    for (i, kind) in [(0, "ext3"), (1, "ext3"), (2, "ext4")] {
        if i == 1 {
            // What mke2fs -d would copy and we must not: a later clock,
            // new atimes and ctimes in the source.
            std::thread::sleep(std::time::Duration::from_millis(1100));
            let status = Command::new("sh")
                .arg("-c")
                .arg(
                    "find \"$0\" -exec touch -a {} + && chmod -R g+w \"$0\" \
                      && chmod -R g-w \"$0\"",
                )
                .arg(&src)
                .status()
                .expect("sh");
            assert!(status.success());
        }
        let img = w.path().join(format!("out{i}/root.{kind}"));
        std::fs::create_dir_all(img.parent().unwrap()).expect("mkdir");
        let run = lunforge([
            "mkfs",
            kind,
            "--from",
            src.to_str().unwrap(),
            "--devices",
            table.to_str().unwrap(),
            "-L",
            "root",
            img.to_str().unwrap(),
        ])
        .ok();
        assert!(
            run.stdout.contains(&format!(": {kind} of ")),
            "{}",
            run.stdout
        );
        crate::support::ext::assert_fsck_clean(&img, "root", kind);
        let stat = debugfs(&img, "stat /dev/xvda2");
        assert!(stat.contains("Type: block special"), "{stat}");
        assert!(stat.contains("Device major/minor number: 202:02"), "{stat}");
        let shadow = debugfs(&img, "stat /etc/shadow");
        assert!(shadow.contains("Group:    42"), "{shadow}");
        assert!(shadow.contains("Mode:  0640"), "{shadow}");
        let md = std::fs::metadata(&img).expect("stat");
        use std::os::unix::fs::MetadataExt;
        assert!(
            md.blocks() * 512 < 16 << 20,
            "{kind}: {} bytes allocated for a 64 MiB sparse file",
            md.blocks() * 512
        );
        let blkid = Command::new("blkid")
            .args(["-p", "-o", "export"])
            .arg(&img)
            .output()
            .expect("blkid");
        let blkid = String::from_utf8_lossy(&blkid.stdout).into_owned();
        assert!(blkid.contains(&format!("TYPE={kind}")), "{blkid}");
        assert!(blkid.contains("LABEL=root"), "{blkid}");
        let inspect = lunforge(["inspect", img.to_str().unwrap()]).ok();
        let uuid = blkid
            .lines()
            .find_map(|l| l.strip_prefix("UUID="))
            .expect("UUID");
        assert!(
            inspect
                .stdout
                .contains(&format!("{kind} UUID {uuid} label \"root\"")),
            "{}",
            inspect.stdout
        );
        sums.push(crate::support::sha256_hex(&std::fs::read(&img).unwrap()));
    }
    assert_eq!(sums[0], sums[1], "two paths, two different images");
    assert_ne!(sums[0], sums[2]);
}

#[test]
fn mkfs_bad_input_leaves_nothing() {
    let w = tempfile::tempdir().expect("tempdir");
    let src = w.path().join("src");
    source(&src);
    std::fs::write(src.join("big"), vec![1u8; 3 << 20]).expect("write");
    let out = w.path().join("out");
    std::fs::create_dir_all(&out).expect("mkdir");
    let img = out.join("small.img");
    let err = lunforge([
        "mkfs",
        "ext2",
        "--from",
        src.to_str().unwrap(),
        "--size",
        "2MiB",
        img.to_str().unwrap(),
    ])
    .fails();
    assert!(err.contains("blocks") && err.contains("free"), "{err}");
    let table = w.path().join("bad.txt");
    std::fs::write(&table, "/dev/x q 600 0 0 - - - - -\n").expect("write");
    let err = lunforge([
        "mkfs",
        "ext4",
        "--from",
        src.to_str().unwrap(),
        "--devices",
        table.to_str().unwrap(),
        img.to_str().unwrap(),
    ])
    .fails();
    assert!(
        err.contains("bad.txt:1: type \"q\" is not one of f d c b p"),
        "{err}"
    );
    let err = lunforge([
        "mkfs",
        "ext3",
        "--from",
        w.path().join("missing").to_str().unwrap(),
        img.to_str().unwrap(),
    ])
    .fails();
    assert!(err.contains("missing"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&out)
        .expect("read_dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "output left behind: {left:?}");
}
