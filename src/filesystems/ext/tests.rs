//! Tests of the ext2 writer: the plan's geometry against mke2fs's
//! numbers, the typed errors, and oracles: what we write must pass
//! `e2fsck -fn` and read back through `debugfs` (e2fsprogs).

#![allow(clippy::arithmetic_side_effects, clippy::as_conversions)]

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;
use std::process::Command;

use super::layout::{
    has_super, indirect_blocks, inode_ratio, BlockNo, BlockSize, Geometry,
    InodeCount, InodeNo,
};
use super::*;
use crate::tree::{GuestPath, Kind, Meta};

const TIME: i64 = 1_700_000_000;

/// `setcap cap_net_raw+ep`: a VFS_CAP_REVISION_2 value.
const CAP: [u8; 20] = [
    0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

fn p(s: &str) -> GuestPath {
    GuestPath::new(s).unwrap()
}

fn params(size: u64, block_size: u32) -> ExtParams {
    let mut p = ExtParams::new(
        ExtKind::Ext2,
        size,
        *b"\x01\x23\x45\x67\x89\xab\x4d\xef\x81\x23\x45\x67\x89\xab\xcd\xef",
        "lunroot",
        *b"\x10\x32\x54\x76\x98\xba\x4c\xfe\x80\x11\x22\x33\x44\x55\x66\x77",
        TIME,
    );
    p.block_size = block_size;
    p
}

fn meta(mode: u32, uid: u32, gid: u32, mtime: i64) -> Meta {
    Meta {
        mode,
        uid,
        gid,
        mtime,
        xattrs: BTreeMap::new(),
    }
}

/// Bytes that differ from block to block so misplaced blocks show.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u8).wrapping_mul(31).wrapping_add(seed) ^ ((i >> 10) as u8)
        })
        .collect()
}

/// The oracle tree: every kind of node and every block-map depth.
fn sample() -> (Tree, Vec<(&'static str, Vec<u8>)>) {
    let mut t = Tree::new(TIME - 100).unwrap();
    let files: Vec<(&'static str, Vec<u8>)> = vec![
        ("/etc/empty", Vec::new()),
        ("/etc/one", b"x".to_vec()),
        ("/etc/k1023", pattern(1023, 1)),
        ("/etc/k1024", pattern(1024, 2)),
        ("/usr/bin/single", pattern(12 * 1024 + 1, 3)),
        ("/usr/bin/double", pattern(300 * 1024, 4)),
        ("/usr/lib/big", pattern(5 * 1024 * 1024 + 17, 5)),
    ];
    for d in [
        "/etc", "/usr", "/usr/bin", "/usr/lib", "/dev", "/many", "/home",
    ] {
        t.insert(&p(d), meta(0o755, 0, 0, TIME - 50), Kind::Dir)
            .unwrap();
    }
    t.insert(
        &p("/home/user"),
        meta(0o2750, 70000, 70001, TIME + 999),
        Kind::Dir,
    )
    .unwrap();
    for (path, body) in &files {
        t.write_file(&p(path), meta(0o644, 0, 0, TIME - 10), body)
            .unwrap();
    }
    let mut capm = meta(0o755, 0, 0, TIME);
    capm.xattrs
        .insert("security.capability".into(), CAP.to_vec());
    capm.xattrs.insert("user.note".into(), b"hi".to_vec());
    t.write_file(&p("/usr/bin/ping"), capm, b"\x7fELF").unwrap();
    let mut bigm = meta(0o644, 0, 0, TIME);
    bigm.xattrs.insert("user.comment".into(), vec![b'c'; 200]);
    bigm.xattrs.insert(
        "security.selinux".into(),
        b"system_u:object_r:bin_t:s0\0".to_vec(),
    );
    bigm.xattrs.insert("trusted.x".into(), b"t".to_vec());
    t.write_file(&p("/usr/bin/attrs"), bigm, b"attrs").unwrap();
    t.write_file(
        &p("/home/user/owned"),
        meta(0o4755, 70000, 70001, TIME - 1),
        b"mine",
    )
    .unwrap();
    t.link(&p("/usr/bin/single-link"), &p("/usr/bin/single"))
        .unwrap();
    t.link(&p("/home/user/also-one"), &p("/etc/one")).unwrap();
    t.insert(
        &p("/usr/bin/fast"),
        meta(0o777, 0, 0, TIME),
        Kind::Symlink("single".into()),
    )
    .unwrap();
    let slow = format!("/usr/lib/{}", "long-name-".repeat(12));
    t.insert(
        &p("/usr/bin/slow"),
        meta(0o777, 0, 0, TIME),
        Kind::Symlink(slow),
    )
    .unwrap();
    t.insert(
        &p("/dev/null"),
        meta(0o666, 0, 0, TIME),
        Kind::CharDev { major: 1, minor: 3 },
    )
    .unwrap();
    t.insert(
        &p("/dev/bigc"),
        meta(0o600, 0, 6, TIME),
        Kind::CharDev {
            major: 300,
            minor: 70000,
        },
    )
    .unwrap();
    t.insert(
        &p("/dev/bigb"),
        meta(0o660, 0, 6, TIME),
        Kind::BlockDev {
            major: 259,
            minor: 1000,
        },
    )
    .unwrap();
    t.insert(&p("/dev/fifo"), meta(0o600, 0, 0, TIME), Kind::Fifo)
        .unwrap();
    t.insert(&p("/dev/sock"), meta(0o600, 0, 0, TIME), Kind::Socket)
        .unwrap();
    for i in 0..500 {
        t.write_file(
            &p(&format!("/many/entry-with-a-longish-name-{i:04}")),
            meta(0o600, 1000, 1000, TIME),
            format!("{i}").as_bytes(),
        )
        .unwrap();
    }
    (t, files)
}

fn image(tree: &Tree, prm: &ExtParams) -> Vec<u8> {
    let layout = plan(tree, prm).unwrap();
    let mut out = Cursor::new(Vec::new());
    write(tree, &layout, &mut out).unwrap();
    let mut v = out.into_inner();
    assert!(v.len() as u64 <= prm.size, "wrote past the end");
    v.resize(prm.size as usize, 0);
    v
}

fn tool(name: &str, args: &[&str], img: &Path) -> (i32, String) {
    let out = Command::new(name)
        .args(args)
        .arg(img)
        .output()
        .unwrap_or_else(|e| {
            panic!("{name}: {e} (install the e2fsprogs package)")
        });
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

fn debugfs(img: &Path, cmd: &str) -> Vec<u8> {
    let out = Command::new("debugfs")
        .args(["-R", cmd])
        .arg(img)
        .output()
        .expect("debugfs (install the e2fsprogs package)");
    assert!(out.status.success(), "debugfs -R {cmd:?} failed");
    out.stdout
}

fn stat(img: &Path, path: &str) -> String {
    String::from_utf8_lossy(&debugfs(img, &format!("stat {path}"))).into_owned()
}

/// e2fsck and debugfs agree with the tree.
fn check_with_e2fsprogs(block_size: u32, size: u64) {
    let (tree, files) = sample();
    let prm = params(size, block_size);
    let bytes = image(&tree, &prm);
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("fs.img");
    std::fs::write(&img, &bytes).unwrap();

    let (code, text) = tool("e2fsck", &["-fn"], &img);
    assert_eq!(code, 0, "e2fsck -fn:\n{text}");
    for line in text.lines() {
        let quiet = ["Pass ", "lunroot: ", "e2fsck "];
        assert!(
            quiet.iter().any(|q| line.starts_with(q)),
            "e2fsck said: {line}\n{text}"
        );
    }

    let (code, text) = tool("dumpe2fs", &["-h"], &img);
    assert_eq!(code, 0, "{text}");
    // ext_attr because /usr/bin/ping has attributes; the empty tree's
    // features are pinned by the comparison with mke2fs.
    let features = "Filesystem features:      ext_attr filetype sparse_super \
                    large_file\n";
    assert!(text.contains(features), "{text}");
    assert!(text.contains("Filesystem volume name:   lunroot"), "{text}");
    assert!(
        text.contains(
            "Filesystem UUID:          01234567-89ab-4def-8123-456789abcdef"
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!("Block size:               {block_size}")),
        "{text}"
    );
    assert!(text.contains("Inode size:\t          256"), "{text}");

    for (path, body) in &files {
        assert_eq!(&debugfs(&img, &format!("cat {path}")), body, "{path}");
    }
    assert_eq!(debugfs(&img, "cat /usr/bin/single-link"), files[4].1);
    assert_eq!(
        debugfs(&img, "cat /many/entry-with-a-longish-name-0499"),
        b"499"
    );

    let ea = String::from_utf8_lossy(&debugfs(&img, "ea_list /usr/bin/ping"))
        .into_owned();
    assert!(
        ea.contains(
            "security.capability (20) = 00 00 00 02 00 20 00 00 00 00 00 00 \
             00 00 00 00 00 00 00 00 \n"
        ),
        "{ea}"
    );
    assert!(ea.contains("user.note (2) = \"hi\""), "{ea}");
    let ea = String::from_utf8_lossy(&debugfs(&img, "ea_list /usr/bin/attrs"))
        .into_owned();
    assert!(ea.contains("user.comment (200)\n"), "{ea}");
    let out = dir.path().join("comment");
    debugfs(
        &img,
        &format!("ea_get -f {} /usr/bin/attrs user.comment", out.display()),
    );
    assert_eq!(std::fs::read(&out).unwrap(), vec![b'c'; 200]);
    assert!(ea.contains("trusted.x (1) = \"t\""), "{ea}");
    assert!(
        ea.contains(
            "security.selinux (27) = \"system_u:object_r:bin_t:s0\\000\""
        ),
        "{ea}"
    );
    let s = stat(&img, "/usr/bin/attrs");
    assert!(
        s.contains("File ACL: ") && !s.contains("File ACL: 0"),
        "{s}"
    );
    let s = stat(&img, "/home/user/owned");
    assert!(s.contains("Mode:  04755"), "{s}");
    assert!(s.contains("User: 70000   Group: 70001"), "{s}");
    let s = stat(&img, "/home/user");
    assert!(s.contains("Type: directory    Mode:  02750"), "{s}");
    // Clamped to the build's time.
    assert!(s.contains(&format!("mtime: 0x{:08x}", TIME)), "{s}");
    let s = stat(&img, "/etc/one");
    assert!(s.contains("Links: 2"), "{s}");
    assert!(s.contains(&format!("mtime: 0x{:08x}", TIME - 10)), "{s}");
    let s = stat(&img, "/usr/bin");
    assert!(s.contains("Links: 2"), "{s}");
    let s = stat(&img, "/usr");
    assert!(s.contains("Links: 4"), "{s}");
    let s = stat(&img, "/usr/bin/fast");
    assert!(
        s.contains("Type: symlink") && s.contains("Fast link dest: \"single\""),
        "{s}"
    );
    assert_eq!(
        debugfs(&img, "cat /usr/bin/slow"),
        format!("/usr/lib/{}", "long-name-".repeat(12)).as_bytes()
    );
    let s = stat(&img, "/usr/bin/slow");
    assert!(
        s.contains("Type: symlink") && s.contains("Mode:  0777"),
        "{s}"
    );
    let s = stat(&img, "/dev/null");
    assert!(
        s.contains("Type: character special")
            && s.contains("Device major/minor number: 01:03"),
        "{s}"
    );
    let s = stat(&img, "/dev/bigc");
    assert!(s.contains("Type: character special"), "{s}");
    assert!(s.contains("Device major/minor number: 300:70000"), "{s}");
    let s = stat(&img, "/dev/bigb");
    assert!(s.contains("Type: block special"), "{s}");
    assert!(s.contains("Device major/minor number: 259:1000"), "{s}");
    assert!(s.contains("Group:     6"), "{s}");
    assert!(stat(&img, "/dev/fifo").contains("Type: FIFO"));
    assert!(stat(&img, "/dev/sock").contains("Type: socket"));
    let s = stat(&img, "/lost+found");
    assert!(s.contains("Type: directory    Mode:  0700"), "{s}");
    assert!(
        s.contains("Size: 12288") || s.contains("Size: 16384"),
        "{s}"
    );
    let ls =
        String::from_utf8_lossy(&debugfs(&img, "ls -l /many")).into_owned();
    assert_eq!(
        ls.matches("entry-with-a-longish-name-").count(),
        500,
        "{ls}"
    );
}

#[test]
fn e2fsck_and_debugfs_accept_1k_blocks() {
    // 3 groups at 1 KiB: backups in groups 1 (and not 2).
    check_with_e2fsprogs(1024, 24 << 20);
}

#[test]
fn e2fsck_and_debugfs_accept_4k_blocks() {
    check_with_e2fsprogs(4096, 64 << 20);
}

#[test]
fn e2fsck_accepts_many_groups_and_a_dropped_runt() {
    // 1 KiB blocks, 8 MiB groups: 9 groups' worth, the last one a runt
    // of 19 blocks that is dropped; backups in 1, 3, 5 and 7.
    let (tree, _) = sample();
    let prm = params(65556 << 10, 1024);
    let bytes = image(&tree, &prm);
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("fs.img");
    std::fs::write(&img, &bytes).unwrap();
    let (code, text) = tool("e2fsck", &["-fn"], &img);
    assert_eq!(code, 0, "{text}");
    let (_, text) = tool("dumpe2fs", &[], &img);
    assert!(text.contains("Group 7: (Blocks 57345-65536)"), "{text}");
    assert!(text.contains("Backup superblock at 57345"), "{text}");
    assert!(!text.contains("Group 8:"), "{text}");
}

#[test]
fn same_tree_same_bytes() {
    let (tree, _) = sample();
    let prm = params(24 << 20, 1024);
    assert!(image(&tree, &prm) == image(&tree, &prm));
    let (tree2, _) = sample();
    assert!(image(&tree, &prm) == image(&tree2, &prm));
}

#[test]
fn geometry_follows_mke2fs() {
    // (size, block size) -> (blocks, groups, inodes per group, inode
    // table blocks, free blocks of an empty tree), as `mke2fs -t ext2
    // -b B -I 256 -O ^resize_inode,^dir_index,^ext_attr` of e2fsprogs
    // 1.47 makes them (its empty file system also holds `/` and a
    // pre-sized `lost+found`).
    let cases: &[(u64, u32, u32, u32, u32, u32, u32)] = &[
        (2 << 20, 1024, 2048, 1, 256, 64, 1966),
        (3 << 20, 1024, 3072, 1, 768, 192, 2862),
        (8 << 20, 1024, 8192, 1, 2048, 512, 7662),
        (24 << 20, 1024, 24576, 3, 2048, 512, 23016),
        (65556 << 10, 1024, 65537, 8, 2048, 512, 61401),
        (600 << 20, 1024, 614400, 75, 512, 128, 604600),
        (64 << 20, 4096, 16384, 1, 16384, 1024, 15351),
        (1 << 30, 4096, 262144, 8, 8192, 512, 258017),
    ];
    for &(size, bs, blocks, groups, ipg, itb, free) in cases {
        let g = Geometry::new(
            size,
            BlockSize::from_bytes(bs).unwrap(),
            InodeCount::Ratio(inode_ratio(size)),
            0,
        )
        .unwrap();
        assert_eq!(
            (
                g.blocks_count,
                g.group_count,
                g.inodes_per_group,
                g.inode_table_blocks
            ),
            (blocks, groups, ipg, itb),
            "{size} bytes, {bs}-byte blocks"
        );
        let l = plan(&Tree::new(TIME).unwrap(), &params(size, bs)).unwrap();
        assert_eq!(
            l.superblock.free_blocks_count, free,
            "{size} bytes, {bs}-byte blocks"
        );
        assert_eq!(l.superblock.r_blocks_count, blocks / 20, "{size} bytes");
    }
}

#[test]
fn sparse_super_groups() {
    let backups: Vec<u32> = (0..100).filter(|&g| has_super(g)).collect();
    assert_eq!(backups, [0, 1, 3, 5, 7, 9, 25, 27, 49, 81]);
}

#[test]
fn inode_ratio_by_size_type() {
    let cases = [
        (1 << 20, 8192),
        (100 << 20, 4096),
        (8 << 30, 16384),
        (5 << 40, 32768),
        (20 << 40, 65536),
    ];
    for (size, ratio) in cases {
        assert_eq!(inode_ratio(size), ratio, "{size}");
    }
}

#[test]
fn indirect_block_counts() {
    let b1 = BlockSize::B1024;
    let cases: &[(u64, Option<u64>)] = &[
        (0, Some(0)),
        (12, Some(0)),
        (13, Some(1)),
        (12 + 256, Some(1)),
        (12 + 256 + 1, Some(3)),
        (12 + 256 + 256 * 256, Some(2 + 256)),
        (12 + 256 + 256 * 256 + 1, Some(1 + 1 + 256 + 1 + 1 + 1)),
        (
            12 + 256 + 256 * 256 + 256 * 256 * 256,
            Some(1 + 1 + 256 + 1 + 256 + 256 * 256),
        ),
        (12 + 256 + 256 * 256 + 256 * 256 * 256 + 1, None),
    ];
    for &(n, want) in cases {
        assert_eq!(indirect_blocks(n, b1), want, "{n}");
    }
}

#[test]
fn plan_places_metadata_and_counts() {
    let (tree, _) = sample();
    let l = plan(&tree, &params(24 << 20, 1024)).unwrap();
    let g0 = l.groups[0].meta;
    // Block 1: superblock; 2: descriptors; 3, 4: bitmaps; 5..517 table.
    assert_eq!(
        (g0.start, g0.gdt, g0.block_bitmap, g0.inode_bitmap),
        (BlockNo(1), BlockNo(2), BlockNo(3), BlockNo(4))
    );
    assert_eq!((g0.inode_table, g0.data_start), (BlockNo(5), BlockNo(517)));
    let g2 = l.groups[2].meta;
    assert!(!g2.has_super);
    assert_eq!(g2.block_bitmap, BlockNo(16385));
    let free: u32 = l
        .groups
        .iter()
        .map(|g| u32::from(g.desc.free_blocks_count))
        .sum();
    assert_eq!(free, l.superblock.free_blocks_count);
    let used_inodes =
        l.superblock.inodes_count - l.superblock.free_inodes_count;
    // 11 reserved + the tree's inodes (hard links once, root counted
    // among the reserved).
    let distinct: std::collections::BTreeSet<_> =
        tree.iter().map(|(_, id, _)| id).collect();
    assert_eq!(used_inodes as usize, 11 + distinct.len() - 1);
    assert_eq!(l.superblock.r_blocks_count, 24575 * 5 / 100);
}

#[test]
fn typed_errors_name_the_evidence() {
    let (tree, _) = sample();
    let e = plan(&tree, &params(2 << 20, 1024)).unwrap_err();
    assert!(
        matches!(e, Error::NoSpace { .. } | Error::NoInodes { .. }),
        "{e}"
    );
    let e = plan(&tree, &params(24 << 20, 512)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "block size 512 is not supported: use 1024, 2048 or 4096"
    );
    let mut prm = params(24 << 20, 1024);
    prm.label = "x".repeat(17);
    assert!(matches!(plan(&tree, &prm), Err(Error::Label { .. })));

    let mut t = Tree::new(0).unwrap();
    let mut m = meta(0o755, 0, 0, 0);
    m.xattrs.insert("user.big".into(), vec![1; 2000]);
    t.write_file(&p("/ping"), m, b"").unwrap();
    assert_eq!(
        plan(&t, &params(8 << 20, 1024)).unwrap_err().to_string(),
        "/ping: extended attributes need 2056 bytes, more than a 1024-byte \
         attribute block holds"
    );
    let mut t = Tree::new(0).unwrap();
    let mut m = meta(0o755, 0, 0, 0);
    m.xattrs
        .insert("system.posix_acl_access".into(), vec![2; 8]);
    t.write_file(&p("/acl"), m, b"").unwrap();
    assert_eq!(
        plan(&t, &params(8 << 20, 1024)).unwrap_err().to_string(),
        "/acl: POSIX ACL system.posix_acl_access is not supported by the \
         ext2 writer yet"
    );

    let mut t = Tree::new(0).unwrap();
    t.write_file(&p("/lost+found"), meta(0o644, 0, 0, 0), b"")
        .unwrap();
    assert_eq!(
        plan(&t, &params(8 << 20, 1024)).unwrap_err().to_string(),
        "/lost+found is not a directory, but e2fsck needs one there"
    );

    let mut t = Tree::new(0).unwrap();
    t.insert(
        &p("/l"),
        meta(0o777, 0, 0, 0),
        Kind::Symlink("x".repeat(1024)),
    )
    .unwrap();
    assert_eq!(
        plan(&t, &params(8 << 20, 1024)).unwrap_err().to_string(),
        "/l: symlink target of 1024 bytes is empty or longer than 1023"
    );

    let mut t = Tree::new(0).unwrap();
    t.insert(
        &p("/d"),
        meta(0o600, 0, 0, 0),
        Kind::CharDev {
            major: 4096,
            minor: 0,
        },
    )
    .unwrap();
    assert_eq!(
        plan(&t, &params(8 << 20, 1024)).unwrap_err().to_string(),
        "/d: device 4096:0 does not fit a Linux dev_t"
    );

    let mut t = Tree::new(0).unwrap();
    t.write_file(&p("/f"), meta(0o600, 0, 0, i64::MIN), b"")
        .unwrap();
    assert_eq!(
        plan(&t, &params(8 << 20, 1024)).unwrap_err().to_string(),
        format!("/f: time {} is outside what an ext2 inode holds", i64::MIN)
    );

    let mut t = Tree::new(0).unwrap();
    for i in 0..3000 {
        t.write_file(&p(&format!("/f{i}")), meta(0o600, 0, 0, 0), b"")
            .unwrap();
    }
    assert_eq!(
        plan(&t, &params(8 << 20, 1024)).unwrap_err().to_string(),
        "the tree needs 3011 inodes but the file system has 2048"
    );
}

#[test]
fn error_messages() {
    let cases: Vec<(Error, &str)> = vec![
        (
            Error::NoSpace {
                needed: 10,
                available: 5,
                block_size: 1024,
            },
            "the tree needs 10 blocks of 1024 bytes but the file system has 5 free",
        ),
        (
            Error::NameTooLong {
                path: p("/a"),
                len: 256,
            },
            "/a: name of 256 bytes is longer than 255",
        ),
        (
            Error::TooSmall {
                size: 1024,
                blocks: 1,
            },
            "1024 bytes (1 blocks) are too small for an ext2 file system",
        ),
        (
            Error::ContentLength {
                path: p("/f"),
                expected: 5,
                got: 3,
            },
            "/f: content has 3 bytes, the tree says 5",
        ),
        (
            Error::Write {
                block: 7,
                source: std::io::Error::other("disk full"),
            },
            "writing block 7: disk full",
        ),
        (
            Error::TooManyLinks {
                path: p("/d"),
                links: 70000,
            },
            "/d: 70000 links, more than 65000",
        ),
    ];
    let more: Vec<(Error, &str)> = vec![
        (
            Error::NotPlanned { path: p("/f") },
            "/f: not a regular file in this tree, unlike in the plan",
        ),
        (
            Error::XattrName {
                path: p("/f"),
                name: "os2.x".into(),
            },
            "/f: extended attribute \"os2.x\" has no prefix ext2 stores \
             (user., trusted., security., system.)",
        ),
        (
            Error::NoInodes {
                needed: 3011,
                available: 2048,
            },
            "the tree needs 3011 inodes but the file system has 2048",
        ),
        (
            Error::DeviceNumber {
                path: p("/dev/x"),
                major: 4096,
                minor: 1,
            },
            "/dev/x: device 4096:1 does not fit a Linux dev_t",
        ),
        (
            Error::Overflow {
                what: "inode count",
            },
            "inode count overflows its on-disk field",
        ),
    ];
    for (e, want) in cases.into_iter().chain(more) {
        assert_eq!(e.to_string(), want);
    }
}

/// Run mke2fs with our parameters on an empty `size`-byte image.
fn mke2fs(size: u64, block_size: u32, img: &Path) {
    let f = std::fs::File::create(img).unwrap();
    f.set_len(size).unwrap();
    let bs = block_size.to_string();
    let out = Command::new("mke2fs")
        .env("E2FSPROGS_FAKE_TIME", TIME.to_string())
        .env("MKE2FS_CONFIG", "/dev/null")
        .args(["-q", "-F", "-t", "ext2", "-b", &bs, "-I", "256"])
        .args(["-i", &inode_ratio(size).to_string()])
        .args(["-O", "none,sparse_super,filetype,large_file"])
        .args([
            "-U",
            "01234567-89ab-4def-8123-456789abcdef",
            "-L",
            "lunroot",
        ])
        .args([
            "-E",
            "hash_seed=10325476-98ba-4cfe-8011-223344556677,root_owner=0:0",
        ])
        .arg(img)
        .output()
        .expect("mke2fs (install the e2fsprogs package)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Differing byte ranges of `a` and `b`, as (offset, length).
fn diffs(a: &[u8], b: &[u8]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for i in 0..a.len().max(b.len()) {
        if a.get(i) != b.get(i) {
            match out.last_mut() {
                Some((o, l)) if *o + *l == i => *l += 1,
                _ => out.push((i, 1)),
            }
        }
    }
    out
}

#[test]
fn empty_tree_is_byte_identical_to_mke2fs() {
    // One group, several groups with backups, a dropped runt, each
    // block size: every byte of the image equals mke2fs's, given the
    // same UUID, hash seed, label and (faked) time.
    let cases = [
        (8u64 << 20, 1024u32),
        (24 << 20, 1024),
        (65556 << 10, 1024),
        (40 << 20, 2048),
        (64 << 20, 4096),
    ];
    for (size, bs) in cases {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("m.img");
        mke2fs(size, bs, &img);
        let theirs = std::fs::read(&img).unwrap();
        let ours = image(&Tree::new(TIME).unwrap(), &params(size, bs));
        let d = diffs(&ours, &theirs);
        assert!(
            d.is_empty(),
            "{size} bytes, {bs}-byte blocks: differ at (offset, len) {:x?}",
            &d[..d.len().min(20)]
        );
    }
}

#[test]
fn triple_indirect_big_directory_and_own_lost_found() {
    // At 1 KiB blocks a file past 12 + 256 + 65536 blocks needs the
    // triple indirect block; 3000 entries need a directory past its 12
    // direct blocks; a tree's own /lost+found becomes inode 11.
    let mut t = Tree::new(TIME).unwrap();
    let len = (12 + 256 + 65536 + 300) * 1024 + 5;
    let big = pattern(len, 9);
    t.write_file(&p("/huge"), meta(0o600, 0, 0, TIME), &big)
        .unwrap();
    t.insert(&p("/d"), meta(0o755, 0, 0, TIME), Kind::Dir)
        .unwrap();
    for i in 0..3000 {
        t.insert(
            &p(&format!("/d/fifo-{i:05}")),
            meta(0o600, 0, 0, TIME),
            Kind::Fifo,
        )
        .unwrap();
    }
    t.insert(&p("/lost+found"), meta(0o700, 0, 0, TIME), Kind::Dir)
        .unwrap();
    t.write_file(&p("/lost+found/#12"), meta(0o600, 0, 0, TIME), b"found")
        .unwrap();
    let prm = params(96 << 20, 1024);
    let l = plan(&t, &prm).unwrap();
    let (ino, lf) = &l.inodes[2];
    assert_eq!(*ino, InodeNo(11));
    assert_eq!(lf.mode, 0o040700);
    let bytes = image(&t, &prm);
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("fs.img");
    std::fs::write(&img, &bytes).unwrap();
    let (code, text) = tool("e2fsck", &["-fn"], &img);
    assert_eq!(code, 0, "{text}");
    assert!(debugfs(&img, "cat /huge") == big);
    assert_eq!(debugfs(&img, "cat /lost+found/#12"), b"found");
    let s = stat(&img, "/huge");
    assert!(s.contains("TIND"), "{s}");
    let s = stat(&img, "/d");
    assert!(s.contains("(IND)"), "{s}");
    let ls = String::from_utf8_lossy(&debugfs(&img, "ls /d")).into_owned();
    assert_eq!(ls.matches("fifo-").count(), 3000);
    diff_walk(&t, &img);
}

/// Read every path of `tree` back from the image with one `debugfs`
/// run and compare type, permissions, owner, link count, size, device
/// numbers, link targets and contents.
fn diff_walk(tree: &Tree, img: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmds = String::new();
    let entries: Vec<_> = tree.iter().collect();
    for (i, (path, _, node)) in entries.iter().enumerate() {
        cmds.push_str(&format!("stat \"{path}\"\n"));
        if matches!(node.kind, Kind::File(_) | Kind::Symlink(_)) {
            let to = dir.path().join(i.to_string());
            cmds.push_str(&format!("dump \"{path}\" {}\n", to.display()));
        }
    }
    let script = dir.path().join("cmds");
    std::fs::write(&script, cmds).unwrap();
    let out = Command::new("debugfs")
        .arg("-f")
        .arg(&script)
        .arg(img)
        .output()
        .expect("debugfs (install the e2fsprogs package)");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut sections: BTreeMap<String, String> = BTreeMap::new();
    let mut cur = String::new();
    for line in text.lines() {
        if let Some(cmd) = line.strip_prefix("debugfs: ") {
            cur = cmd.to_string();
            sections.insert(cur.clone(), String::new());
        } else if let Some(s) = sections.get_mut(&cur) {
            s.push_str(line);
            s.push('\n');
        }
    }
    let counts = tree.link_counts();
    let has_lf = tree.get(&p("/lost+found")).is_some();
    for (i, (path, id, node)) in entries.iter().enumerate() {
        let s = &sections[&format!("stat \"{path}\"")];
        let field = |name: &str| -> String {
            s.split_whitespace()
                .skip_while(|w| *w != name)
                .nth(1)
                .unwrap_or_else(|| panic!("{path}: no {name} in {s}"))
                .to_string()
        };
        let ty = match &node.kind {
            Kind::File(_) => "regular",
            Kind::Dir => "directory",
            Kind::Symlink(_) => "symlink",
            Kind::CharDev { .. } => "character",
            Kind::BlockDev { .. } => "block",
            Kind::Fifo => "FIFO",
            Kind::Socket => "socket",
        };
        assert_eq!(field("Type:"), ty, "{path}");
        assert_eq!(
            field("Mode:"),
            format!("0{:03o}", node.meta.mode),
            "{path}"
        );
        assert_eq!(field("User:"), node.meta.uid.to_string(), "{path}");
        assert_eq!(field("Group:"), node.meta.gid.to_string(), "{path}");
        let mut links = counts[id];
        if path.is_root() && !has_lf {
            links += 1;
        }
        assert_eq!(field("Links:"), links.to_string(), "{path}");
        let dumped = || std::fs::read(dir.path().join(i.to_string())).unwrap();
        match &node.kind {
            Kind::File(c) => {
                assert_eq!(field("Size:"), c.len().to_string(), "{path}");
                assert!(dumped() == tree.spool().read(c).unwrap(), "{path}");
            }
            Kind::Symlink(target) if target.len() < 60 => {
                assert!(
                    s.contains(&format!("Fast link dest: \"{target}\"")),
                    "{path}: {s}"
                );
            }
            Kind::Symlink(target) => {
                assert_eq!(dumped(), target.as_bytes(), "{path}")
            }
            Kind::CharDev { major, minor }
            | Kind::BlockDev { major, minor } => {
                let want = format!(
                    "Device major/minor number: {major:02}:{minor:02} "
                );
                assert!(s.contains(&want), "{path}: {s}");
            }
            _ => {}
        }
    }
}

#[test]
fn differential_walk_finds_the_tree() {
    let (tree, _) = sample();
    for (size, bs) in [(24u64 << 20, 1024u32), (64 << 20, 4096)] {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("fs.img");
        std::fs::write(&img, image(&tree, &params(size, bs))).unwrap();
        diff_walk(&tree, &img);
    }
}

#[test]
fn short_content_is_a_typed_error() {
    // A host file that shrank after the tree recorded its size.
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("shrunk");
    std::fs::write(&host, b"abc").unwrap();
    let mut t = Tree::new(TIME).unwrap();
    let content = crate::tree::Content::Host {
        path: host,
        len: 5000,
    };
    t.insert(&p("/f"), meta(0o644, 0, 0, TIME), Kind::File(content))
        .unwrap();
    let l = plan(&t, &params(8 << 20, 1024)).unwrap();
    let e = write(&t, &l, &mut Cursor::new(Vec::new())).unwrap_err();
    assert_eq!(e.to_string(), "/f: content has 3 bytes, the tree says 5000");
}
