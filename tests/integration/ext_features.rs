//! The ext2/ext3/ext4 writer against e2fsprogs: every image it makes
//! passes `e2fsck -fn` without a word (and `e2fsck -fy` on a copy exits
//! 0), `dumpe2fs -h` shows the features and the same geometry and
//! journal size `mke2fs` chooses for that size, and `debugfs` reads
//! every file, link, device and attribute back. Empty ext2 and ext3
//! file systems are byte for byte what `mke2fs` makes with the same
//! choices. Multi-GiB images with a mostly-hole file stay sparse, and
//! the file's data lands where `debugfs bmap` says.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use lunforge::filesystems::ext::{plan, write, ExtKind, ExtParams};
use lunforge::tree::{Content, GuestPath, Kind, Meta, Tree};

const TIME: i64 = 1_700_000_000;
const UUID: &str = "01234567-89ab-4def-8123-456789abcdef";
const SEED: &str = "10325476-98ba-4cfe-8011-223344556677";

/// `setcap cap_net_raw+ep`: a VFS_CAP_REVISION_2 value.
const CAP: [u8; 20] = [
    0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

const KINDS: [ExtKind; 3] = [ExtKind::Ext2, ExtKind::Ext3, ExtKind::Ext4];

fn p(s: &str) -> GuestPath {
    GuestPath::new(s).unwrap()
}

fn hex16(s: &str) -> [u8; 16] {
    let h: String = s.chars().filter(|c| *c != '-').collect();
    let v = hex::decode(h).unwrap();
    v.try_into().unwrap()
}

fn params(kind: ExtKind, size: u64, block_size: u32) -> ExtParams {
    let mut prm =
        ExtParams::new(kind, size, hex16(UUID), "lunroot", hex16(SEED), TIME);
    prm.block_size = block_size;
    prm
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

/// The features `dumpe2fs` lists for each kind: mke2fs.conf's, without
/// `resize_inode` and `64bit`, which the writer does not make.
fn features(kind: ExtKind) -> &'static str {
    match kind {
        ExtKind::Ext2 => "ext_attr dir_index filetype sparse_super large_file",
        ExtKind::Ext3 => {
            "has_journal ext_attr dir_index filetype sparse_super large_file"
        }
        ExtKind::Ext4 => {
            "has_journal ext_attr dir_index filetype extent flex_bg \
             sparse_super large_file huge_file dir_nlink extra_isize \
             metadata_csum"
        }
    }
}

/// `tree` written as `prm` says into `fs.img` of a new temporary
/// directory (kept alive by the first value).
fn made(tree: &Tree, prm: &ExtParams) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("fs.img");
    write_image(tree, prm, &img);
    (dir, img)
}

/// Plan and write `tree` into a new sparse file at `img`.
fn write_image(tree: &Tree, prm: &ExtParams, img: &Path) {
    let layout = plan(tree, prm).unwrap();
    let mut f = File::create(img).unwrap();
    f.set_len(prm.size).unwrap();
    write(tree, &layout, &mut f).unwrap();
    assert_eq!(f.metadata().unwrap().len(), prm.size, "wrote past the end");
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

/// `e2fsck -fn` exits 0 and says nothing but its passes and summary;
/// `e2fsck -fy` on a sparse copy exits 0 (nothing to fix).
fn fsck_clean(img: &Path) {
    let (code, text) = tool("e2fsck", &["-fn"], img);
    assert_eq!(code, 0, "e2fsck -fn:\n{text}");
    for line in text.lines() {
        let quiet = ["Pass ", "lunroot: ", "e2fsck "];
        assert!(
            quiet.iter().any(|q| line.starts_with(q)),
            "e2fsck said: {line}\n{text}"
        );
    }
    let copy = img.with_extension("copy");
    let out = Command::new("cp")
        .arg("--sparse=always")
        .arg(img)
        .arg(&copy)
        .output()
        .expect("cp (coreutils)");
    assert!(out.status.success(), "cp failed");
    let (code, text) = tool("e2fsck", &["-fy"], &copy);
    assert_eq!(code, 0, "e2fsck -fy:\n{text}");
    std::fs::remove_file(&copy).unwrap();
}

/// The `dumpe2fs -h` lines that hold mke2fs's choices for the size.
fn choices(dump: &str) -> Vec<String> {
    let keys = [
        "Inode count:",
        "Block count:",
        "Reserved block count:",
        "Block size:",
        "Blocks per group:",
        "Inodes per group:",
        "Inode blocks per group:",
        "Flex block group size:",
        "Inode size:",
        "Required extra isize:",
        "Journal inode:",
        "Journal backup:",
        "Total journal blocks:",
        "Journal features:",
        "Default directory hash:",
        "Filesystem flags:",
        "Default mount options:",
        "Checksum type:",
    ];
    dump.lines()
        .filter(|l| keys.iter().any(|k| l.starts_with(k)))
        .map(str::to_string)
        .collect()
}

/// Compare the geometry, journal and defaults in `ours` (a `dumpe2fs
/// -h`) with those of what `mke2fs -t kind` makes at the same size and
/// block size, with the stock mke2fs.conf (no `resize_inode`, no
/// `64bit`, which the writer leaves out).
fn same_choices_as_mke2fs(kind: ExtKind, size: u64, bs: u32, ours: &str) {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("m.img");
    File::create(&img).unwrap().set_len(size).unwrap();
    let out = Command::new("mke2fs")
        .env("E2FSPROGS_FAKE_TIME", TIME.to_string())
        .args(["-q", "-F", "-t", &kind.to_string(), "-b", &bs.to_string()])
        .args(["-O", "^resize_inode,^64bit"])
        .args(["-E", "lazy_itable_init=1,lazy_journal_init=1"])
        .arg(&img)
        .output()
        .expect("mke2fs (install the e2fsprogs package)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, theirs) = tool("dumpe2fs", &["-h"], &img);
    assert_eq!(choices(ours), choices(&theirs), "{kind}, {size} bytes");
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

/// Bytes that differ from block to block so misplaced blocks show.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u8).wrapping_mul(31).wrapping_add(seed) ^ ((i >> 10) as u8)
        })
        .collect()
}

/// 400 KiB of zeros with seven 100-byte islands 64 KiB apart: holes
/// at every block size, seven extents (an extent tree block on ext4)
/// and a sparse block map past the direct blocks on ext2/ext3.
fn islands() -> Vec<u8> {
    let mut v = vec![0u8; 400 << 10];
    for i in 0..7usize {
        let at = i * (64 << 10) + 3;
        v[at..at + 100].copy_from_slice(&pattern(100, i as u8 + 1));
    }
    v
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
        ("/usr/lib/sparse", islands()),
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

/// e2fsck, dumpe2fs and debugfs agree with the sample tree written as
/// `kind` with `block_size`-byte blocks.
fn check_with_e2fsprogs(kind: ExtKind, block_size: u32, size: u64) {
    let (tree, files) = sample();
    let prm = params(kind, size, block_size);
    let (dir, img) = made(&tree, &prm);
    fsck_clean(&img);

    let (code, text) = tool("dumpe2fs", &["-h"], &img);
    assert_eq!(code, 0, "{text}");
    let features = format!("Filesystem features:      {}\n", features(kind));
    assert!(text.contains(&features), "{text}");
    same_choices_as_mke2fs(kind, size, block_size, &text);
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
    // The islands file: its holes map to no block, and on ext4 its
    // seven extents need a tree block below the inode.
    let hole = (64 << 10) / block_size + 1;
    let out = debugfs(&img, &format!("bmap /usr/lib/sparse {hole}"));
    assert_eq!(String::from_utf8_lossy(&out).trim(), "0");
    if kind == ExtKind::Ext4 {
        let ex = String::from_utf8_lossy(&debugfs(&img, "ex /usr/lib/sparse"))
            .into_owned();
        assert!(
            ex.contains(" 1/ 1 ") && ex.matches(" 1/ 1 ").count() == 7,
            "{ex}"
        );
    }
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

/// A file past the triple indirect block (ext2/3) or with a long
/// extent list, a directory of 3000 entries, and the tree's own
/// lost+found.
fn big_file_big_directory_and_own_lost_found(kind: ExtKind) {
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
    let prm = params(kind, 96 << 20, 1024);
    let (_dir, img) = made(&t, &prm);
    fsck_clean(&img);
    assert!(debugfs(&img, "cat /huge") == big);
    assert_eq!(debugfs(&img, "cat /lost+found/#12"), b"found");
    let s = stat(&img, "/huge");
    let s2 = stat(&img, "/d");
    if kind == ExtKind::Ext4 {
        assert!(s.contains("EXTENTS:"), "{s}");
    } else {
        assert!(s.contains("TIND"), "{s}");
        assert!(s2.contains("(IND)"), "{s2}");
    }
    let s = stat(&img, "/lost+found");
    assert!(s.contains("Inode: 11 "), "{s}");
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
    assert!(out.status.success(), "debugfs -f failed");
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
fn e2fsprogs_accept_1k_blocks() {
    // 3 groups at 1 KiB: backups in group 1 (and not 2).
    for kind in KINDS {
        check_with_e2fsprogs(kind, 1024, 24 << 20);
    }
}

#[test]
fn e2fsprogs_accept_2k_blocks() {
    // The block size between mke2fs's two defaults.
    for kind in KINDS {
        check_with_e2fsprogs(kind, 2048, 40 << 20);
    }
}

#[test]
fn e2fsprogs_accept_4k_blocks() {
    for kind in KINDS {
        check_with_e2fsprogs(kind, 4096, 600 << 20);
    }
}

#[test]
fn e2fsck_accepts_many_groups_and_a_dropped_runt() {
    // 1 KiB blocks, 8 MiB groups: 9 groups' worth, the last one a runt
    // of 19 blocks that is dropped; backups in 1, 3, 5 and 7.
    let (tree, _) = sample();
    for kind in KINDS {
        let prm = params(kind, 65556 << 10, 1024);
        let (_dir, img) = made(&tree, &prm);
        fsck_clean(&img);
        let (_, text) = tool("dumpe2fs", &[], &img);
        assert!(text.contains("Group 7: (Blocks 57345-65536)"), "{text}");
        assert!(text.contains("Backup superblock at 57345"), "{text}");
        assert!(!text.contains("Group 8:"), "{text}");
    }
}

#[test]
fn big_files_big_directories_and_own_lost_found() {
    for kind in KINDS {
        big_file_big_directory_and_own_lost_found(kind);
    }
}

#[test]
fn differential_walk_finds_the_tree() {
    let (tree, _) = sample();
    for kind in KINDS {
        for (size, bs) in [(24u64 << 20, 1024u32), (64 << 20, 4096)] {
            let (_dir, img) = made(&tree, &params(kind, size, bs));
            diff_walk(&tree, &img);
        }
    }
}

#[test]
fn same_tree_same_bytes_in_two_places() {
    let (tree, _) = sample();
    for kind in KINDS {
        let prm = params(kind, 24 << 20, 1024);
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.img");
        let b = dir.path().join("sub").join("b.img");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        write_image(&tree, &prm, &a);
        let (tree2, _) = sample();
        write_image(&tree2, &prm, &b);
        assert!(
            std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
            "{kind}"
        );
    }
}

/// Run mke2fs with our choices on an empty `size`-byte image.
fn mke2fs(kind: ExtKind, size: u64, block_size: u32, img: &Path) {
    let f = File::create(img).unwrap();
    f.set_len(size).unwrap();
    let bs = block_size.to_string();
    let ratio = if size < 512 << 20 { "4096" } else { "16384" };
    let ratio = if size < 3 << 20 { "8192" } else { ratio };
    let features = match kind {
        ExtKind::Ext2 => {
            "none,ext_attr,dir_index,sparse_super,filetype,\
                          large_file"
        }
        _ => {
            "none,has_journal,ext_attr,dir_index,sparse_super,filetype,\
              large_file"
        }
    };
    let out = Command::new("mke2fs")
        .env("E2FSPROGS_FAKE_TIME", TIME.to_string())
        .env("MKE2FS_CONFIG", "/dev/null")
        .args(["-q", "-F", "-t", &kind.to_string(), "-b", &bs, "-I", "256"])
        .args(["-i", ratio, "-O", features, "-U", UUID, "-L", "lunroot"])
        .args(["-E", &format!("hash_seed={SEED},root_owner=0:0")])
        .arg(img)
        .output()
        .expect("mke2fs (install the e2fsprogs package)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn empty_tree_is_byte_identical_to_mke2fs() {
    // One group, several groups with backups, a dropped runt, each
    // block size: every byte of the image equals mke2fs's, given the
    // same UUID, hash seed, label and (faked) time; ext3 with the
    // journal mke2fs sizes and places.
    let cases = [
        (8u64 << 20, 1024u32),
        (24 << 20, 1024),
        (65556 << 10, 1024),
        (40 << 20, 2048),
        (64 << 20, 4096),
        (600 << 20, 4096),
    ];
    for kind in [ExtKind::Ext2, ExtKind::Ext3] {
        for (size, bs) in cases {
            let dir = tempfile::tempdir().unwrap();
            let img = dir.path().join("m.img");
            mke2fs(kind, size, bs, &img);
            let theirs = std::fs::read(&img).unwrap();
            let ours_img = dir.path().join("o.img");
            write_image(
                &Tree::new(TIME).unwrap(),
                &params(kind, size, bs),
                &ours_img,
            );
            let ours = std::fs::read(&ours_img).unwrap();
            let d = diffs(&ours, &theirs);
            assert!(
                d.is_empty(),
                "{kind}, {size} bytes, {bs}-byte blocks: differ at (offset, \
                 len) {:x?}",
                &d[..d.len().min(20)]
            );
        }
    }
}

/// A sparse host file of `len` bytes with `islands` of data, as
/// (offset, bytes).
fn sparse_host_file(path: &Path, len: u64, islands: &[(u64, Vec<u8>)]) {
    let f = File::create(path).unwrap();
    f.set_len(len).unwrap();
    for (off, bytes) in islands {
        f.write_all_at(bytes, *off).unwrap();
    }
}

#[test]
fn multi_gib_sparse_files_stay_sparse() {
    // A 6 GiB file system holding a 5 GiB file of twelve data islands
    // (past 4 GiB too, and at the very end) in holes, and a file of
    // zeros: the image allocates about the data, e2fsck agrees with
    // the block counts, and each island lies where debugfs maps it.
    const GIB: u64 = 1 << 30;
    let dir = tempfile::tempdir().unwrap();
    let len = 5 * GIB;
    let mut islands: Vec<(u64, Vec<u8>)> = (0..11u64)
        .map(|i| {
            (
                i * 467 * (1 << 20) + i * 4099,
                pattern(9000 + 7 * i as usize, i as u8),
            )
        })
        .collect();
    islands.push((len - 100, pattern(100, 99)));
    let host = dir.path().join("big");
    sparse_host_file(&host, len, &islands);
    let mut t = Tree::new(TIME).unwrap();
    let c = Content::Host { path: host, len };
    t.insert(&p("/big"), meta(0o644, 0, 0, TIME), Kind::File(c))
        .unwrap();
    t.write_file(&p("/zeros"), meta(0o644, 0, 0, TIME), &vec![0u8; 1 << 20])
        .unwrap();
    t.write_file(&p("/small"), meta(0o644, 0, 0, TIME), b"small")
        .unwrap();
    for kind in KINDS {
        let prm = params(kind, 6 * GIB, 4096);
        let img = dir.path().join(format!("{kind}.img"));
        write_image(&t, &prm, &img);
        let allocated = std::fs::metadata(&img).unwrap().blocks() * 512;
        assert!(allocated < 8 << 20, "{kind}: {allocated} bytes allocated");
        fsck_clean(&img);
        let (_, dump) = tool("dumpe2fs", &["-h"], &img);
        let features =
            format!("Filesystem features:      {}\n", features(kind));
        assert!(dump.contains(&features), "{dump}");
        same_choices_as_mke2fs(kind, 6 * GIB, 4096, &dump);
        let s = stat(&img, "/big");
        assert!(s.contains(&format!("Size: {len}")), "{s}");
        let s = stat(&img, "/zeros");
        assert!(
            s.contains("Size: 1048576") && s.contains("Blockcount: 0"),
            "{s}"
        );
        assert_eq!(debugfs(&img, "cat /small"), b"small");
        let f = File::open(&img).unwrap();
        for (off, bytes) in &islands {
            let first = off / 4096;
            let last = (off + bytes.len() as u64 - 1) / 4096;
            for b in first..=last {
                let out = debugfs(&img, &format!("bmap /big {b}"));
                let phys: u64 =
                    String::from_utf8_lossy(&out).trim().parse().unwrap();
                assert_ne!(phys, 0, "{kind}: block {b} unmapped");
                let mut buf = vec![0u8; 4096];
                f.read_exact_at(&mut buf, phys * 4096).unwrap();
                let lo = (b * 4096).max(*off);
                let hi = ((b + 1) * 4096).min(off + bytes.len() as u64);
                assert_eq!(
                    &buf[(lo - b * 4096) as usize..(hi - b * 4096) as usize],
                    &bytes[(lo - off) as usize..(hi - off) as usize],
                    "{kind}: block {b}"
                );
            }
        }
        // A block between islands is a hole.
        let out = debugfs(&img, &format!("bmap /big {}", 3 * GIB / 4096));
        assert_eq!(String::from_utf8_lossy(&out).trim(), "0", "{kind}");
        if kind == ExtKind::Ext4 {
            // Twelve extents: a tree below the inode (depth 1).
            let ex =
                String::from_utf8_lossy(&debugfs(&img, "ex /big")).into_owned();
            assert!(ex.contains(" 1/ 1 "), "{ex}");
        }
    }
}

/// Run `cmd`, panicking with its output unless it succeeds.
fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_kernel_mounts_reads_and_writes_each_kind() {
    // As root, through a loop device: read-only, every file compares
    // equal; then read-write on the same image, a change that goes
    // through the journal, and e2fsck finds the result clean.
    let (tree, files) = sample();
    for kind in KINDS {
        let (dir, img) = made(&tree, &params(kind, 64 << 20, 4096));
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        ok(Command::new("mount")
            .args(["-t", &kind.to_string(), "-o", "ro,loop"])
            .arg(&img)
            .arg(&mnt));
        let read: Vec<_> = files
            .iter()
            .map(|(path, _)| {
                std::fs::read(mnt.join(path.trim_start_matches('/')))
            })
            .collect();
        let st = std::fs::symlink_metadata(mnt.join("home/user/owned"));
        ok(Command::new("umount").arg(&mnt));
        for ((path, body), got) in files.iter().zip(read) {
            assert!(got.unwrap() == *body, "{kind}: {path}");
        }
        let st = st.unwrap();
        assert_eq!((st.uid(), st.gid(), st.mode()), (70000, 70001, 0o104755));

        // A copy under another name, so that mount cannot reuse the
        // read-only loop device of the first mount before it is freed.
        let rw = dir.path().join("rw.img");
        std::fs::copy(&img, &rw).unwrap();
        ok(Command::new("mount")
            .args(["-t", &kind.to_string(), "-o", "rw,loop"])
            .arg(&rw)
            .arg(&mnt));
        std::fs::write(mnt.join("etc/new"), pattern(100_000, 3)).unwrap();
        std::fs::remove_dir_all(mnt.join("many")).unwrap();
        ok(Command::new("umount").arg(&mnt));
        let (code, text) = tool("e2fsck", &["-fn"], &rw);
        assert_eq!(code, 0, "{kind} after a read-write mount:\n{text}");
    }
}

#[test]
fn ext4_directories_past_65000_links_count_one() {
    // dir_nlink: 65001 subdirectories give /d more links than
    // i_links_count holds; ext4 stores 1, which e2fsck accepts, and
    // ext3 refuses the tree.
    let mut t = Tree::new(TIME).unwrap();
    t.insert(&p("/d"), meta(0o755, 0, 0, TIME), Kind::Dir)
        .unwrap();
    for i in 0..65_001 {
        t.insert(&p(&format!("/d/{i}")), meta(0o755, 0, 0, TIME), Kind::Dir)
            .unwrap();
    }
    let (_dir, img) = made(&t, &params(ExtKind::Ext4, 400 << 20, 1024));
    fsck_clean(&img);
    let s = stat(&img, "/d");
    assert!(s.contains("Links: 1 "), "{s}");
    let e = plan(&t, &params(ExtKind::Ext3, 400 << 20, 1024)).unwrap_err();
    assert_eq!(e.to_string(), "/d: 65003 links, more than 65000");
}
