//! Unit tests of the ext writer: the plan's geometry, journal and
//! group flags against numbers mke2fs 1.47 chose (quoted from
//! `dumpe2fs`/`debugfs` of its images), holes, and the typed errors.
//! The tests that run e2fsprogs live in
//! `tests/integration/ext_features.rs`.

#![allow(clippy::arithmetic_side_effects, clippy::as_conversions)]

use std::collections::BTreeMap;
use std::io::Cursor;

use super::holes::{DataMap, Span};
use super::layout::{
    has_super, indirect_blocks, inode_ratio, BlockNo, BlockSize, Geometry,
    InodeCount, JOURNAL_INO,
};
use super::*;
use crate::tree::{GuestPath, Kind, Meta, Tree};

const TIME: i64 = 1_700_000_000;

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

/// A small tree: directories, a file of each block-map depth at 1 KiB
/// blocks, a hard link, a symlink, a device (the oracle tests in
/// `tests/integration/ext_features.rs` use a fuller one).
fn small_tree() -> Tree {
    let mut t = Tree::new(TIME - 100).unwrap();
    for d in ["/etc", "/usr", "/usr/bin"] {
        t.insert(&p(d), meta(0o755, 0, 0, TIME), Kind::Dir).unwrap();
    }
    for (path, len) in [("/etc/one", 1usize), ("/usr/bin/tool", 300 << 10)] {
        t.write_file(&p(path), meta(0o644, 0, 0, TIME), &vec![7u8; len])
            .unwrap();
    }
    t.link(&p("/etc/also-one"), &p("/etc/one")).unwrap();
    t.insert(
        &p("/usr/bin/sh"),
        meta(0o777, 0, 0, TIME),
        Kind::Symlink("tool".into()),
    )
    .unwrap();
    t.insert(
        &p("/null"),
        meta(0o666, 0, 0, TIME),
        Kind::CharDev { major: 1, minor: 3 },
    )
    .unwrap();
    t
}

fn image(tree: &Tree, prm: &ExtParams) -> Vec<u8> {
    let layout = plan(tree, prm).unwrap();
    let mut out = Cursor::new(Vec::new());
    write(tree, &layout, &mut out).unwrap();
    out.into_inner()
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
    let tree = small_tree();
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
    let tree = small_tree();
    let e = plan(&tree, &params(300 << 10, 1024)).unwrap_err();
    assert!(
        matches!(e, Error::NoSpace { .. } | Error::NoInodes { .. }),
        "{e}"
    );
    let e = plan(&tree, &params(24 << 20, 512)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "block size 512 is not supported: use 1024, 2048 or 4096"
    );
    // The block size is checked before the contents are scanned.
    let e = plan(&tree, &params(24 << 20, 0)).unwrap_err();
    assert!(matches!(e, Error::BlockSize { block_size: 0 }), "{e}");
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
        "/acl: system.posix_acl_access is not a well-formed POSIX ACL \
         (version 2, entries of tag, permissions and id)"
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
        (
            Error::DirTooLarge {
                path: p("/d"),
                entries: 9_000_000,
            },
            "/d: 9000000 entries are more than an indexed directory holds \
             here",
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
    let mut ext34: Vec<(Error, &str)> = vec![
        (
            Error::Kind { name: "xfs".into() },
            "unknown file system type \"xfs\": use ext2, ext3 or ext4",
        ),
        (
            Error::Param {
                what: "inode_ratio",
                value: 10,
                range: "1024 to 67108864 bytes per inode",
            },
            "inode_ratio = 10 is out of range: 1024 to 67108864 bytes per \
             inode",
        ),
        (
            Error::Journal {
                blocks: 10,
                min: 1024,
                max: 3000,
            },
            "a journal of 10 blocks does not fit: it needs 1024 to 3000 \
             blocks and a contiguous run in the free space",
        ),
        (
            Error::Extent {
                path: p("/f"),
                source: super::extent::Error::TooDeep { extents: 9 },
            },
            "/f: ",
        ),
        (
            Error::Flex {
                source: super::flex::Error::NoRoom {
                    group: 3,
                    what: "inode table",
                    len: 512,
                },
            },
            "placing the group tables: no room for group 3's inode table \
             (512 blocks)",
        ),
    ];
    ext34.push((
        Error::Csum {
            block: 7,
            source: super::csum::Error::Short {
                what: "directory block",
                len: 4,
                need: 12,
            },
        },
        "checksum of block 7: directory block: 4 bytes, need at least 12",
    ));
    for (e, want) in ext34 {
        assert!(e.to_string().starts_with(want), "{e}");
    }
    for (e, want) in cases.into_iter().chain(more) {
        assert_eq!(e.to_string(), want);
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

fn params_of(kind: ExtKind, size: u64, block_size: u32) -> ExtParams {
    let mut prm = params(size, block_size);
    prm.kind = kind;
    prm
}

#[test]
fn kinds_parse_and_print() {
    for (name, kind) in [
        ("ext2", ExtKind::Ext2),
        ("ext3", ExtKind::Ext3),
        ("ext4", ExtKind::Ext4),
    ] {
        assert_eq!(name.parse::<ExtKind>().unwrap(), kind);
        assert_eq!(kind.to_string(), name);
    }
    assert_eq!(
        "ext5".parse::<ExtKind>().unwrap_err().to_string(),
        "unknown file system type \"ext5\": use ext2, ext3 or ext4"
    );
}

#[test]
fn defaults_follow_mke2fs_conf() {
    // (size, block size, bytes per inode): mke2fs.conf's floppy, small,
    // default, big and huge types.
    let cases = [
        (2u64 << 20, 1024u32, 8192u64),
        (100 << 20, 1024, 4096),
        ((512 << 20) - 1, 1024, 4096),
        (512 << 20, 4096, 16384),
        (5 << 40, 4096, 32768),
        (20 << 40, 4096, 65536),
    ];
    for (size, bs, ratio) in cases {
        let p = ExtParams::new(ExtKind::Ext3, size, [0; 16], "", [0; 16], 0);
        assert_eq!((p.block_size, p.inode_ratio), (bs, ratio), "{size}");
        assert_eq!(p.reserved_percent, 5);
        assert_eq!((p.inodes, p.journal_blocks), (None, None));
    }
}

#[test]
fn journal_lies_where_mke2fs_puts_it() {
    // (kind, size, block size, journal blocks, its extents or first
    // block), from `debugfs -R 'stat <8>'` of `mke2fs -t KIND -b BS -O
    // ^resize_inode,^64bit` images of e2fsprogs 1.47.0.
    type Case = (ExtKind, u64, u32, u32, &'static [(u64, u32, u32)]);
    let cases: &[Case] = &[
        (ExtKind::Ext4, 300 << 20, 1024, 8192, &[(0, 139_265, 8192)]),
        (ExtKind::Ext4, 6 << 30, 4096, 16384, &[(0, 557_056, 16384)]),
        (ExtKind::Ext4, 2 << 30, 4096, 16384, &[(0, 262_144, 16384)]),
        (
            ExtKind::Ext4,
            8 << 20,
            1024,
            1024,
            &[(0, 17, 2), (2, 20, 15), (17, 547, 1007)],
        ),
        // Block-mapped: right after lost+found, indirect blocks among
        // the data (0-11 at 530-541, the IND block at 542).
        (
            ExtKind::Ext3,
            8 << 20,
            1024,
            1024,
            &[(0, 530, 12), (12, 543, 256)],
        ),
    ];
    let t = Tree::new(TIME).unwrap();
    for &(kind, size, bs, blocks, want) in cases {
        let l = plan(&t, &params_of(kind, size, bs)).unwrap();
        let j = l.journal.unwrap();
        assert_eq!(j.superblock.max_len, blocks, "{kind} {size}");
        let (_, inode) =
            l.inodes.iter().find(|(n, _)| n.0 == JOURNAL_INO).unwrap();
        assert_eq!(inode.size, u64::from(blocks) * u64::from(bs));
        assert_eq!(l.superblock.journal_inum, 8);
        assert_eq!(l.superblock.jnl_blocks[16], blocks * bs);
        let first = want[0].1;
        assert_eq!(j.superblock_block, BlockNo(first), "{kind} {size}");
        let words = inode.block.encode();
        assert_eq!(
            &l.superblock.jnl_blocks[0],
            &u32::from_le_bytes(words[..4].try_into().unwrap())
        );
        if kind == ExtKind::Ext4 {
            // The extents, through the tree the plan built.
            let tree = super::extent::ExtentNode::decode(&words).unwrap();
            let got: Vec<(u64, u32, u32)> = match tree.entries {
                super::extent::Entries::Leaf(v) => v
                    .iter()
                    .map(|e| {
                        (
                            u64::from(e.block),
                            u32::try_from(e.start).unwrap(),
                            u32::from(e.len),
                        )
                    })
                    .collect(),
                _ => panic!("{kind} {size}: index root"),
            };
            assert_eq!(got, want, "{kind} {size}");
        } else {
            let super::inode::IBlock::Map(map) = &inode.block else {
                panic!()
            };
            assert_eq!(map[0], 530);
            assert_eq!(map[11], 541);
            assert_eq!(map[12], 542);
        }
    }
}

#[test]
fn small_file_systems_refuse_a_journal() {
    let t = Tree::new(TIME).unwrap();
    // 2047 blocks: mke2fs makes no journal below 2048.
    let e = plan(&t, &params_of(ExtKind::Ext3, 2047 << 10, 1024)).unwrap_err();
    assert!(matches!(e, Error::Journal { blocks: 0, .. }), "{e}");
    let mut prm = params_of(ExtKind::Ext3, 8 << 20, 1024);
    prm.journal_blocks = Some(1000);
    let e = plan(&t, &prm).unwrap_err();
    assert!(
        e.to_string().starts_with(
            "a journal of 1000 blocks does not fit: it needs 1024 to "
        ),
        "{e}"
    );
    prm.journal_blocks = Some(2048);
    let l = plan(&t, &prm).unwrap();
    assert_eq!(l.journal.unwrap().superblock.max_len, 2048);
    let mut prm = params(8 << 20, 1024);
    prm.journal_blocks = Some(1024);
    assert_eq!(
        plan(&t, &prm).unwrap_err().to_string(),
        "journal_blocks = 1024 is out of range: a journal is for ext3 and \
         ext4 only"
    );
    prm.journal_blocks = None;
    prm.reserved_percent = 51;
    assert!(matches!(plan(&t, &prm), Err(Error::Param { .. })));
    prm.reserved_percent = 0;
    assert_eq!(plan(&t, &prm).unwrap().superblock.r_blocks_count, 0);
    // `mke2fs -N`: what mke2fs 1.47 makes of 100 and 3000 inodes on 24
    // MiB at 1 KiB (3 groups): 96 and 3000.
    for (asked, made) in [(100, 96), (3000, 3000)] {
        let mut prm = params(24 << 20, 1024);
        prm.inodes = Some(asked);
        assert_eq!(plan(&t, &prm).unwrap().superblock.inodes_count, made);
    }
}

#[test]
fn ext4_groups_are_flagged_as_mke2fs_flags_them() {
    // 300 MiB at 1 KiB: 38 groups, inodes in use only in group 0. The
    // flags and unused counts are those `dumpe2fs` shows for mke2fs's
    // image, but for BLOCK_UNINIT: the writer sets it where e2fsprogs'
    // `ext2fs_set_gdt_csum` would (all blocks free, not the last group),
    // mke2fs also on groups holding only a superblock backup.
    let l = plan(
        &Tree::new(TIME).unwrap(),
        &params_of(ExtKind::Ext4, 300 << 20, 1024),
    )
    .unwrap();
    assert_eq!(l.groups.len(), 38);
    let g0 = &l.groups[0].desc;
    assert_eq!(g0.flags, 0x4); // ITABLE_ZEROED
    assert_eq!(g0.itable_unused, 2024 - 11);
    let last = l.groups.len() - 1;
    for (i, g) in l.groups.iter().enumerate().skip(1) {
        let all_free = u32::from(g.desc.free_blocks_count) == 8192;
        let want = if all_free && i != last { 0x7 } else { 0x5 };
        assert_eq!(g.desc.flags, want, "group {i}: (BLOCK_UNINIT) | ..");
        assert_eq!(g.desc.itable_unused, 2024);
    }
    // Groups 2 and 4 (no backup, tables in group 0) are BLOCK_UNINIT;
    // 1 and 3 hold backups, and group 16 the flex tables.
    assert_eq!(l.groups[2].desc.flags, 0x7);
    assert_eq!(l.groups[4].desc.flags, 0x7);
    assert_eq!(l.groups[3].desc.flags, 0x5);
    assert_eq!(l.groups[16].desc.flags, 0x5);
    // flex_bg: group 17's tables lie in group 16.
    assert_eq!(l.groups[17].meta.block_bitmap, BlockNo(131_074));
    assert_eq!(l.groups[17].meta.inode_table, BlockNo(131_611));
    assert_eq!(l.superblock.log_groups_per_flex, 4);
    let dir = &l.dirs[0];
    // Directory blocks keep room for the checksum tail.
    assert!(dir.contents.iter().all(|b| b.used() <= 1024 - 12));
}

#[test]
fn holes_are_neither_data_nor_indirect_blocks() {
    let mut t = Tree::new(TIME).unwrap();
    let f = p("/sparse");
    t.write_file(&f, meta(0o644, 0, 0, TIME), &vec![1u8; 400 << 10])
        .unwrap();
    let id = t.id(&f).unwrap();
    // At 1 KiB blocks: data in blocks 0-1, 20 (in the IND range) and
    // 300-301 (in the DIND range); the rest holes.
    let mut map = DataMap::dense();
    let spans = vec![
        Span { start: 0, len: 2 },
        Span { start: 20, len: 1 },
        Span { start: 300, len: 2 },
    ];
    map.insert(id, spans);
    for kind in [ExtKind::Ext2, ExtKind::Ext4] {
        let l = plan_with(&t, &params_of(kind, 8 << 20, 1024), &map).unwrap();
        let fd = &l.files[0];
        let logical: Vec<(u64, u32)> =
            fd.extents.iter().map(|e| (e.logical, e.len)).collect();
        assert_eq!(logical, [(0, 2), (20, 1), (300, 2)], "{kind}");
        let ino = l.inodes.iter().find(|(n, _)| n.0 == 12).unwrap();
        // 5 data blocks, plus IND, DIND and one IND below it for the
        // block map; the extents fit the inode.
        let meta_blocks = if kind == ExtKind::Ext2 { 3 } else { 0 };
        assert_eq!(ino.1.blocks_512, (5 + meta_blocks) * 2, "{kind}");
        assert_eq!(ino.1.size, 400 << 10);
        assert_eq!(l.indirect.len() as u64, meta_blocks);
    }
}

#[test]
fn images_are_deterministic() {
    for kind in [ExtKind::Ext2, ExtKind::Ext3, ExtKind::Ext4] {
        let prm = params_of(kind, 24 << 20, 1024);
        let a = image(&small_tree(), &prm);
        assert!(a == image(&small_tree(), &prm), "{kind}");
    }
}

#[test]
fn big_directories_are_indexed_and_small_ones_linear() {
    use super::htree::{half_md4, seed_words, EXT2_INDEX_FL};
    use super::layout::DirContent;
    // At 1 KiB, 4000 names need more leaves than the root points at:
    // one level of nodes. 30 names fit one block: linear.
    let mut t = Tree::new(TIME).unwrap();
    for d in ["/big", "/small"] {
        t.insert(&p(d), meta(0o755, 0, 0, TIME), Kind::Dir).unwrap();
    }
    for i in 0..4000 {
        let f = p(&format!("/big/a-longer-file-name-{i}"));
        t.insert(&f, meta(0o644, 0, 0, TIME), Kind::Fifo).unwrap();
    }
    for i in 0..30 {
        let f = p(&format!("/small/f{i}"));
        t.insert(&f, meta(0o644, 0, 0, TIME), Kind::Fifo).unwrap();
    }
    for kind in [ExtKind::Ext2, ExtKind::Ext4] {
        let ps = params_of(kind, 64 << 20, 1024);
        let l = plan(&t, &ps).unwrap();
        let seed = seed_words(&ps.hash_seed);
        let flags_of = |ino: u32| {
            l.inodes.iter().find(|(n, _)| n.0 == ino).unwrap().1.flags
        };
        let mut indexed = 0;
        for d in &l.dirs {
            let Some(DirContent::Index(root)) = d.contents.first() else {
                assert_eq!(flags_of(d.ino.0) & EXT2_INDEX_FL, 0);
                if d.ino.0 != 11 {
                    assert_eq!(d.contents.len(), 1, "a linear directory");
                }
                continue;
            };
            indexed += 1;
            assert_ne!(flags_of(d.ino.0) & EXT2_INDEX_FL, 0);
            let info = root.root.unwrap();
            assert_eq!(info.indirect_levels, 1);
            // Leaves in hash order, each under its index entry.
            let leaves: Vec<_> = d
                .contents
                .iter()
                .filter_map(|c| match c {
                    DirContent::Entries(b) => Some(b),
                    DirContent::Index(_) => None,
                })
                .collect();
            let mut names = 0;
            let mut last = 0u32;
            for leaf in &leaves {
                for e in &leaf.entries {
                    let h = half_md4(&e.name, seed, false).0;
                    assert!(h >= last, "hash order");
                    last = h;
                    names += 1;
                }
            }
            assert_eq!(names, 4000);
            assert_eq!(d.contents.len(), 1 + root.entries.len() + leaves.len());
        }
        assert_eq!(indexed, 1, "{kind:?}");
    }
}
