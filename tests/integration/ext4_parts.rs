//! The ext4 building blocks (`ext::flex`, `ext::csum`, `ext::extent`)
//! against images `mke2fs -t ext4` makes:
//!
//! - **flex_bg placement**: for every group of every image, the bitmap
//!   and inode table positions `dumpe2fs` prints are the ones
//!   `flex::place` computes (one group; a partial flex group; tables
//!   spilling past a backup; 72 groups; 17 groups, whose last flex
//!   group has one member);
//! - **checksums**: `csum` recomputes the superblock's, every group
//!   descriptor's, the initialized bitmaps', the root and journal
//!   inodes', the root directory block's, every extent tree block's and
//!   an attribute block's;
//! - **extent trees**: the root's, the journal's and a sparse file's
//!   (a depth-2 tree) decode to the extents `debugfs` lists and
//!   re-encode to the same bytes; a tree `extent::build` makes from
//!   the same runs, put in place of the sparse file's with checksums
//!   from `csum`, passes `e2fsck -fn` and reads back through `debugfs`.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use lunforge::filesystems::ext::csum::{self, Seed};
use lunforge::filesystems::ext::extent::{self, Entries, Extent, ExtentNode};
use lunforge::filesystems::ext::flex::{self, FlexParams, GroupTables};
use lunforge::filesystems::ext::layout::{has_super, BlockNo, BlockSize};

use crate::support::run;

/// The ext4 options lunforge writes with: no `64bit` (32-byte
/// descriptors), no resize inode, checksums, 256-byte inodes. Lazy
/// init keeps big sparse images sparse; it changes no position.
fn mke2fs(img: &Path, size: &str, extra: &[&str], src: Option<&Path>) {
    let f = File::create(img).expect("create image");
    drop(f);
    let mut cmd = Command::new("mke2fs");
    cmd.args(["-q", "-F", "-t", "ext4", "-I", "256"])
        .args(["-O", "^64bit,^resize_inode,metadata_csum"])
        .args([
            "-E",
            "root_owner=0:0,lazy_itable_init=1,lazy_journal_init=1",
        ])
        .args(extra);
    if let Some(src) = src {
        cmd.arg("-d").arg(src);
    }
    cmd.arg(img).arg(size);
    run(&mut cmd, "e2fsprogs");
}

/// The superblock fields the checks need.
struct Sb {
    raw: [u8; 1024],
    blocks_count: u32,
    first_data_block: u32,
    bs: u32,
    bpg: u32,
    ipg: u32,
    groups: u32,
    gdt_blocks: u32,
    seed: Seed,
}

fn le16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn read_at(f: &File, off: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    f.read_exact_at(&mut buf, off).expect("read image");
    buf
}

impl Sb {
    fn read(f: &File) -> Sb {
        let mut raw = [0u8; 1024];
        f.read_exact_at(&mut raw, 1024).expect("read superblock");
        assert_eq!(le16(&raw, 0x38), 0xEF53, "not an ext file system");
        assert_eq!(le16(&raw, 0xCE), 0, "reserved GDT blocks");
        assert_eq!(le16(&raw, 0x58), 256, "inode size");
        let blocks_count = le32(&raw, 0x4);
        let first_data_block = le32(&raw, 0x14);
        let bs = 1024u32 << le32(&raw, 0x18);
        let bpg = le32(&raw, 0x20);
        let groups = (blocks_count - first_data_block).div_ceil(bpg);
        let uuid: [u8; 16] = raw[0x68..0x78].try_into().expect("16 bytes");
        Sb {
            raw,
            blocks_count,
            first_data_block,
            bs,
            bpg,
            ipg: le32(&raw, 0x28),
            groups,
            gdt_blocks: (groups * 32).div_ceil(bs),
            seed: Seed::from_uuid(&uuid),
        }
    }

    fn block(&self, f: &File, b: u64) -> Vec<u8> {
        read_at(f, b * u64::from(self.bs), self.bs as usize)
    }

    fn desc(&self, f: &File, g: u32) -> [u8; 32] {
        let gdt = u64::from(self.first_data_block + 1) * u64::from(self.bs);
        read_at(f, gdt + u64::from(g) * 32, 32)
            .try_into()
            .expect("32 bytes")
    }

    fn inode_offset(&self, f: &File, ino: u32) -> u64 {
        let g = (ino - 1) / self.ipg;
        let i = (ino - 1) % self.ipg;
        let table = le32(&self.desc(f, g), 0x08);
        u64::from(table) * u64::from(self.bs) + u64::from(i) * 256
    }

    fn inode(&self, f: &File, ino: u32) -> Vec<u8> {
        read_at(f, self.inode_offset(f, ino), 256)
    }

    fn block_size(&self) -> BlockSize {
        BlockSize::from_bytes(self.bs).expect("a block size we write")
    }
}

/// (block bitmap, inode bitmap, inode table) of every group, as
/// `dumpe2fs` prints them.
fn dumpe2fs_groups(img: &Path) -> Vec<(u32, u32, u32)> {
    let out = run(Command::new("dumpe2fs").arg(img), "e2fsprogs");
    let text = String::from_utf8_lossy(&out.stdout);
    let num = |line: &str, key: &str| -> u32 {
        let rest = &line[line.find(key).expect("key") + key.len()..];
        let n: String =
            rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        n.parse().expect("block number")
    };
    let mut groups = Vec::new();
    let mut cur = (0, 0, 0);
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with("Block bitmap at ") {
            cur.0 = num(l, "Block bitmap at ");
        } else if l.starts_with("Inode bitmap at ") {
            cur.1 = num(l, "Inode bitmap at ");
        } else if l.starts_with("Inode table at ") {
            cur.2 = num(l, "Inode table at ");
            groups.push(cur);
        }
    }
    groups
}

fn check_flex(img: &Path, f: &File, sb: &Sb) {
    let p = FlexParams {
        blocks_count: sb.blocks_count,
        first_data_block: sb.first_data_block,
        blocks_per_group: sb.bpg,
        group_count: sb.groups,
        inode_table_blocks: sb.ipg * 256 / sb.bs,
        gdt_blocks: sb.gdt_blocks,
        log_groups_per_flex: u32::from(sb.raw[0x174]),
    };
    assert_eq!(p.log_groups_per_flex, flex::LOG_GROUPS_PER_FLEX);
    let ours = flex::place(&p, has_super).expect("placement");
    let theirs = dumpe2fs_groups(img);
    assert_eq!(theirs.len(), sb.groups as usize, "{}", img.display());
    for (g, (t, o)) in theirs.iter().zip(&ours).enumerate() {
        let GroupTables {
            block_bitmap: BlockNo(bb),
            inode_bitmap: BlockNo(ib),
            inode_table: BlockNo(it),
        } = *o;
        assert_eq!(*t, (bb, ib, it), "{} group {g}", img.display());
        // And the descriptors on disk say the same.
        let d = sb.desc(f, g as u32);
        assert_eq!((le32(&d, 0), le32(&d, 4), le32(&d, 8)), *t);
    }
}

/// Superblock, descriptors and initialized bitmaps; the number of
/// bitmaps checked.
fn check_group_csums(f: &File, sb: &Sb) -> usize {
    assert_eq!(csum::superblock(&sb.raw), le32(&sb.raw, 0x3FC));
    let mut bitmaps = 0;
    for g in 0..sb.groups {
        let d = sb.desc(f, g);
        assert_eq!(csum::group_desc(sb.seed, g, &d), le16(&d, 0x1E), "{g}");
        let flags = le16(&d, 0x12);
        if flags & 0x2 == 0 {
            let bm = sb.block(f, u64::from(le32(&d, 0)));
            let c = csum::bitmap(sb.seed, &bm[..(sb.bpg / 8) as usize]);
            assert_eq!(c & 0xFFFF, u32::from(le16(&d, 0x18)), "group {g}");
            bitmaps += 1;
        }
        if flags & 0x1 == 0 {
            let bm = sb.block(f, u64::from(le32(&d, 4)));
            let c = csum::bitmap(sb.seed, &bm[..(sb.ipg / 8) as usize]);
            assert_eq!(c & 0xFFFF, u32::from(le16(&d, 0x1A)), "group {g}");
            bitmaps += 1;
        }
    }
    bitmaps
}

fn check_inode_csum(sb: &Sb, ino: u32, raw: &[u8]) {
    let c = csum::inode(sb.seed, ino, raw).expect("256 bytes");
    assert_eq!(c & 0xFFFF, u32::from(le16(raw, 0x7C)), "inode {ino}");
    assert_eq!(c >> 16, u32::from(le16(raw, 0x82)), "inode {ino}");
}

/// Decode the extent tree of inode `ino`, checking that every node
/// re-encodes to its bytes and every tree block's checksum; its leaf
/// extents and tree blocks.
fn walk_tree(f: &File, sb: &Sb, ino: u32) -> (Vec<Extent>, Vec<u32>) {
    let raw = sb.inode(f, ino);
    assert_ne!(le32(&raw, 0x20) & extent::EXT4_EXTENTS_FL, 0, "{ino}");
    let generation = le32(&raw, 0x64);
    let mut extents = Vec::new();
    let mut blocks = Vec::new();
    let mut stack = vec![(raw[0x28..0x28 + 60].to_vec(), None::<u16>)];
    while let Some((buf, want_depth)) = stack.pop() {
        let node = ExtentNode::decode(&buf).expect("extent node");
        if let Some(d) = want_depth {
            assert_eq!(node.depth, d);
        }
        let mut again = vec![0u8; buf.len()];
        node.encode_into(&mut again).expect("encode");
        if buf.len() == sb.bs as usize {
            let at = 12 + 12 * usize::from(node.max);
            let c = csum::extent_block(sb.seed, ino, generation, &buf)
                .expect("tail");
            assert_eq!(c, le32(&buf, at), "inode {ino} tree block");
        }
        // The header and the live entries re-encode identically; slots
        // past eh_entries may hold stale entries (libext2fs leaves
        // them after a split), which are no part of the node.
        let used = 12 * (usize::from(le16(&buf, 2)) + 1);
        assert_eq!(
            again[..used],
            buf[..used],
            "inode {ino}: node re-encodes identically"
        );
        match node.entries {
            Entries::Leaf(v) => extents.extend(v),
            Entries::Index(v) => {
                for i in v.iter().rev() {
                    let b = u32::try_from(i.leaf).expect("32-bit block");
                    blocks.push(b);
                    stack.push((sb.block(f, i.leaf), Some(node.depth - 1)));
                }
            }
        }
    }
    (extents, blocks)
}

/// What `debugfs -R cmd` prints.
fn debugfs(img: &Path, cmd: &str) -> String {
    let out = run(
        Command::new("debugfs").arg("-R").arg(cmd).arg(img),
        "e2fsprogs",
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The leaf extents `debugfs`'s `ex` lists: (logical, physical, len).
fn debugfs_extents(img: &Path, spec: &str) -> Vec<(u32, u64, u32)> {
    let text = debugfs(img, &format!("ex {spec}"));
    let mut v = Vec::new();
    for line in text.lines().skip(1) {
        let t: Vec<String> = line
            .replace('/', " / ")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if t.len() < 13 || t[0] != t[2] {
            continue; // an index line
        }
        v.push((
            t[6].parse().expect("logical"),
            t[9].parse().expect("physical"),
            t[12].parse().expect("length"),
        ));
    }
    v
}

fn as_triples(v: &[Extent]) -> Vec<(u32, u64, u32)> {
    v.iter()
        .map(|e| (e.block, e.start, u32::from(e.len)))
        .collect()
}

/// Root inode, root directory block, journal inode: checksums, and
/// trees against `debugfs`.
fn check_root_and_journal(img: &Path, f: &File, sb: &Sb) {
    for ino in [2u32, 8] {
        check_inode_csum(sb, ino, &sb.inode(f, ino));
        let (exts, _) = walk_tree(f, sb, ino);
        assert!(!exts.is_empty());
        assert_eq!(
            as_triples(&exts),
            debugfs_extents(img, &format!("<{ino}>"))
        );
    }
    let (exts, _) = walk_tree(f, sb, 2);
    let root = sb.block(f, exts[0].start);
    let bs = sb.bs as usize;
    let tail = &root[bs - 12..];
    assert_eq!(le32(tail, 0), 0);
    assert_eq!(le16(tail, 4), 12);
    assert_eq!(le16(tail, 6), csum::DIR_TAIL_NAME_LEN);
    let generation = le32(&sb.inode(f, 2), 0x64);
    let c = csum::dir_block(sb.seed, 2, generation, &root).expect("block");
    assert_eq!(c, le32(tail, 8), "root directory block checksum");
}

fn check_image(img: &Path) {
    let f = File::open(img).expect("open image");
    let sb = Sb::read(&f);
    check_flex(img, &f, &sb);
    assert!(check_group_csums(&f, &sb) > 0);
    check_root_and_journal(img, &f, &sb);
}

#[test]
fn flex_placement_and_checksums_match_mke2fs() {
    let dir = tempfile::tempdir().expect("tempdir");
    // (size, extra options): one 1 KiB group; 38 groups of 1 KiB
    // blocks, whose tables spill past group 1's backup; 16 groups of
    // 4 KiB; 72 groups; 256 groups of 1 KiB; 17 groups (a flex group
    // of one).
    let cases: [(&str, &[&str]); 6] = [
        ("8M", &["-b", "1024"]),
        ("300M", &[]),
        ("2G", &[]),
        ("9G", &[]),
        ("2G", &["-b", "1024"]),
        ("2112M", &["-b", "4096"]),
    ];
    for (i, (size, extra)) in cases.iter().enumerate() {
        let img = dir.path().join(format!("{i}.img"));
        mke2fs(&img, size, extra, None);
        check_image(&img);
        std::fs::remove_file(&img).expect("remove image");
    }
}

/// A source tree with a file mapped every other block (600 extents of
/// one block: a depth-2 tree with 1 KiB blocks) and a small file.
fn sparse_source(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    std::fs::create_dir(&src).expect("mkdir");
    let f = File::create(src.join("sparse")).expect("create");
    for i in 0..600u64 {
        let byte = u8::try_from(i % 251 + 1).expect("small");
        f.write_all_at(&[byte; 1024], i * 2048).expect("write");
    }
    std::fs::write(src.join("small"), b"attribute holder\n").expect("write");
    src
}

fn inode_of(img: &Path, path: &str) -> u32 {
    let text = debugfs(img, &format!("stat {path}"));
    let rest = text.strip_prefix("Inode: ").expect("stat output");
    rest.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("inode number")
}

#[test]
fn extent_trees_and_their_checksums_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = sparse_source(dir.path());
    let img = dir.path().join("x.img");
    mke2fs(&img, "8M", &["-b", "1024"], Some(&src));

    // An attribute too big for the inode goes to an attribute block.
    let value = dir.path().join("value");
    std::fs::write(&value, vec![b'v'; 600]).expect("write");
    let cmd = format!("ea_set -f {} /small user.big", value.display());
    run(
        Command::new("debugfs").args(["-w", "-R", &cmd]).arg(&img),
        "e2fsprogs",
    );

    check_image(&img);
    let f = File::open(&img).expect("open image");
    let sb = Sb::read(&f);

    let small = inode_of(&img, "/small");
    let raw = sb.inode(&f, small);
    check_inode_csum(&sb, small, &raw);
    let acl = le32(&raw, 0x68);
    assert_ne!(acl, 0, "the attribute went to a block");
    let block = sb.block(&f, u64::from(acl));
    assert_eq!(
        csum::xattr_block(sb.seed, u64::from(acl), &block).expect("block"),
        le32(&block, 0x10)
    );

    let ino = inode_of(&img, "/sparse");
    let raw = sb.inode(&f, ino);
    check_inode_csum(&sb, ino, &raw);
    assert_eq!(le16(&raw, 0x28 + 6), 2, "mke2fs made a depth-2 tree");
    let (exts, old_blocks) = walk_tree(&f, &sb, ino);
    assert_eq!(exts.len(), 600);
    assert_eq!(as_triples(&exts), debugfs_extents(&img, "/sparse"));

    // Our tree for the same runs, in the blocks mke2fs's tree used.
    let runs: Vec<(u32, u32, u32)> = exts
        .iter()
        .map(|e| {
            let start = u32::try_from(e.start).expect("32-bit");
            (e.block, start, u32::from(e.len))
        })
        .collect();
    let n = extent::extents(&runs).expect("runs").len();
    let count = extent::tree_blocks(n, sb.block_size()).expect("count");
    assert_eq!(count, old_blocks.len(), "same number of tree blocks");
    let mut free = old_blocks.clone();
    free.sort_unstable();
    let mut free = free.into_iter();
    let tree =
        extent::build(&runs, sb.block_size(), || free.next()).expect("tree");
    let generation = le32(&raw, 0x64);
    drop(f);
    let w = std::fs::OpenOptions::new()
        .write(true)
        .read(true)
        .open(&img)
        .expect("open for writing");
    for (b, content) in &tree.blocks {
        let mut content = content.clone();
        csum::set_extent_block(sb.seed, ino, generation, &mut content)
            .expect("tail");
        w.write_all_at(&content, u64::from(*b) * u64::from(sb.bs))
            .expect("write tree block");
    }
    let mut raw = raw;
    raw[0x28..0x28 + 60].copy_from_slice(&tree.i_block);
    csum::set_inode(sb.seed, ino, &mut raw).expect("inode");
    w.write_all_at(&raw, sb.inode_offset(&w, ino))
        .expect("write inode");
    w.sync_all().expect("sync");
    drop(w);

    let out = Command::new("e2fsck")
        .args(["-fn"])
        .arg(&img)
        .output()
        .expect("run e2fsck");
    assert!(
        out.status.success(),
        "e2fsck -fn after our tree:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let f = File::open(&img).expect("open image");
    let (again, _) = walk_tree(&f, &sb, ino);
    assert_eq!(again, exts);
    let out = run(
        Command::new("debugfs")
            .args(["-R", "cat /sparse"])
            .arg(&img),
        "e2fsprogs",
    );
    let want = std::fs::read(src.join("sparse")).expect("read source");
    assert_eq!(out.stdout, want, "the file reads back through our tree");
}
