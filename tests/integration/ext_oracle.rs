//! The ext writer checked by tools nobody here wrote: the Linux kernel
//! mounts our images read-only through a loop device (as root) and its
//! view of every file must equal the tree; `dumpe2fs -h` shows each
//! kind's features; `blkid -p` names type, UUID and label; two writes
//! of one tree are byte-identical; and bad input is refused with typed
//! errors that name the evidence.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use lunforge::disk;
use lunforge::filesystems::ext;
use lunforge::filesystems::swap::write_swap;
use lunforge::tree::{path, Content, GuestPath, Kind, Meta, Tree};

use crate::support::ext::{
    assert_fsck_clean, assert_fsck_clean_at, assert_sparse, debugfs_walk,
    disk_recipe, dumpe2fs_h, ext_params, kernel_walk, need_root, plan_fitting,
    random_tree, size_for, test_params, tool, write_image, At, Mounted, Rng,
    TreeShape, KINDS, TEST_UUID_STR, TIME,
};

/// The trees of the kernel test: random ones of fixed seeds (one with
/// a directory of thousands of entries, one with files of MiBs).
fn kernel_trees() -> Vec<(u64, Tree, u64)> {
    let shapes = [
        (11, 60, 0, 40_000),
        (12, 30, 3000, 2000),
        (13, 40, 0, 3 << 20),
    ];
    shapes
        .into_iter()
        .map(|(seed, entries, big_dir, max_file)| {
            let mut rng = Rng::new(seed);
            let shape = TreeShape {
                entries,
                big_dir,
                max_file,
            };
            let t = random_tree(&mut rng, shape);
            (seed, t.tree, t.data_bytes)
        })
        .collect()
}

#[test]
fn ext_kernel_mounts_and_agrees_with_the_tree() {
    if let Some(why) = need_root() {
        eprintln!("ext_kernel_mounts_and_agrees_with_the_tree: skipped, {why}");
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    for kind in KINDS {
        for (seed, tree, data) in kernel_trees() {
            let ctx = format!("{kind}, tree of seed {seed}");
            let (params, layout) =
                plan_fitting(&tree, kind, size_for(&tree, data));
            let img = work.path().join(format!("{kind}-{seed}.img"));
            write_image(&tree, &params, &layout, &img);
            assert_fsck_clean(&img, "lunroot", &ctx);
            let m = Mounted::new(&img, None, kind);
            m.walk(&tree, &ctx);
        }
    }
}

/// A small tree of every kind of node: a random one of a fixed seed,
/// plus `/fixed` with one node of each kind and attributes in the
/// inode and in a block.
fn sample_tree() -> Tree {
    let mut rng = Rng::new(99);
    let shape = TreeShape {
        entries: 40,
        big_dir: 0,
        max_file: 20_000,
    };
    let mut t = random_tree(&mut rng, shape).tree;
    let p = |s: &str| GuestPath::new(s).expect("path");
    let node = |mode, uid| Meta {
        uid,
        gid: uid + 1,
        ..Meta::root(mode, TIME - 60)
    };
    t.insert(&p("/fixed"), node(0o755, 0), Kind::Dir)
        .expect("dir");
    let mut m = node(0o4755, 70_000);
    // `setcap cap_net_raw+ep`: VFS_CAP_REVISION_2.
    let cap = [
        0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    m.xattrs.insert("security.capability".into(), cap.to_vec());
    m.xattrs.insert("user.big".into(), vec![b'v'; 400]);
    t.write_file(&p("/fixed/file"), m, &[0x5a; 5000])
        .expect("file");
    t.link(&p("/fixed/hard"), &p("/fixed/file")).expect("link");
    let nodes = [
        ("fast", Kind::Symlink("file".into())),
        ("slow", Kind::Symlink("x/".repeat(100))),
        (
            "cdev",
            Kind::CharDev {
                major: 300,
                minor: 70_000,
            },
        ),
        ("bdev", Kind::BlockDev { major: 8, minor: 1 }),
        ("fifo", Kind::Fifo),
        ("sock", Kind::Socket),
    ];
    for (name, kind) in nodes {
        let mode = if matches!(kind, Kind::Symlink(_)) {
            0o777
        } else {
            0o640
        };
        t.insert(&p(&format!("/fixed/{name}")), node(mode, 6), kind)
            .expect("node");
    }
    t
}

/// The seed's disk, partitioned: swap in p1, an ext file system in p2
/// written at its offset; blkid, e2fsck and the kernel (through a loop
/// device on the partition's byte range) read it, and the image stays
/// sparse.
#[test]
fn ext_in_a_partition_of_a_disk_image() {
    let tree = sample_tree();
    let work = tempfile::tempdir().expect("tempdir");
    for kind in KINDS {
        for table in ["msdos", "gpt"] {
            let ctx = format!("{kind} in p2 of {table}");
            let r = disk_recipe(
                64 << 20,
                table,
                &[("swap", Some(8 << 20), Some("swap")), ("root", None, None)],
            );
            let layout = disk::plan(&r).expect("disk plan");
            let img = work.path().join(format!("{kind}-{table}.img"));
            let mut f = File::create(&img).expect("create");
            f.set_len(64 << 20).expect("size");
            disk::write_table(&mut f, &layout).expect("table");
            let (sw, root) = (&layout.partitions[0], &layout.partitions[1]);
            let mut part = At::new(&mut f, sw.offset());
            write_swap(&mut part, sw.size(), sw.fs_uuid, Some("swap"))
                .expect("swap");
            let params = test_params(kind, root.size());
            let ext_layout = ext::plan(&tree, &params).expect("plan");
            let mut part = At::new(&mut f, root.offset());
            ext::write(&tree, &ext_layout, &mut part).expect("write");
            f.sync_all().expect("sync");
            drop(f);

            let (apparent, allocated) = crate::support::ext::sizes(&img);
            assert_eq!(apparent, 64 << 20, "{ctx}");
            assert!(allocated < apparent / 4, "{ctx}: {allocated} allocated");

            let p = img.to_str().expect("utf-8");
            let slice = |o: u64, s: u64| {
                let (code, text) = tool(
                    "blkid",
                    "util-linux",
                    &[
                        "-p",
                        "-o",
                        "export",
                        "-O",
                        &o.to_string(),
                        "-S",
                        &s.to_string(),
                        p,
                    ],
                );
                assert_eq!(code, 0, "{ctx}: {text}");
                text
            };
            let t = slice(sw.offset(), sw.size());
            assert!(t.contains("TYPE=swap\n"), "{ctx}: {t}");
            assert!(
                t.contains(&format!("UUID={}\n", sw.fs_uuid)),
                "{ctx}: {t}"
            );
            assert!(t.contains("LABEL=swap\n"), "{ctx}: {t}");
            let t = slice(root.offset(), root.size());
            assert!(t.contains(&format!("TYPE={kind}\n")), "{ctx}: {t}");
            assert!(
                t.contains(&format!("UUID={TEST_UUID_STR}\n")),
                "{ctx}: {t}"
            );
            assert!(t.contains("LABEL=lunroot\n"), "{ctx}: {t}");

            // e2fsck and debugfs on the partition's bytes alone.
            let part_img = work.path().join(format!("{kind}-{table}-p2.img"));
            let (code, text) = tool(
                "dd",
                "coreutils",
                &[
                    &format!("if={p}"),
                    &format!("of={}", part_img.display()),
                    "bs=1M",
                    &format!("skip={}", root.offset() >> 20),
                    &format!("count={}", root.size() >> 20),
                    "conv=sparse",
                    "status=none",
                ],
            );
            assert_eq!(code, 0, "{text}");
            assert_fsck_clean(&part_img, "lunroot", &ctx);
            debugfs_walk(&tree, &part_img, TIME, &ctx);

            if let Some(why) = need_root() {
                eprintln!("{ctx}: kernel mount skipped, {why}");
                continue;
            }
            let m =
                Mounted::new(&img, Some((root.offset(), root.size())), kind);
            m.walk(&tree, &ctx);
        }
    }
}

/// The features `dumpe2fs -h` must list for each kind, and those it
/// must not.
fn features(kind: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match kind {
        "ext2" => (
            &["ext_attr", "filetype", "sparse_super", "large_file"],
            &["has_journal", "extent", "metadata_csum", "flex_bg"],
        ),
        "ext3" => (
            &[
                "has_journal",
                "ext_attr",
                "filetype",
                "sparse_super",
                "large_file",
            ],
            &["extent", "metadata_csum", "flex_bg"],
        ),
        "ext4" => (
            &[
                "has_journal",
                "ext_attr",
                "filetype",
                "extent",
                "flex_bg",
                "sparse_super",
                "large_file",
                "huge_file",
                "dir_nlink",
                "extra_isize",
                "metadata_csum",
            ],
            &[],
        ),
        other => panic!("no feature list for {other}"),
    }
}

/// Tiny, mid-sized and multi-GiB (sparse) images: features, identity,
/// block size, sparseness, and a clean e2fsck.
#[test]
fn ext_dumpe2fs_features_and_blkid() {
    let tree = sample_tree();
    let work = tempfile::tempdir().expect("tempdir");
    for kind in KINDS {
        for size in [24u64 << 20, 600 << 20, 5 << 30] {
            let ctx = format!("{kind}, {size} bytes");
            let params = test_params(kind, size);
            let layout = ext::plan(&tree, &params).expect("plan");
            let img = work.path().join(format!("{kind}-{size}.img"));
            write_image(&tree, &params, &layout, &img);
            assert_fsck_clean(&img, "lunroot", &ctx);
            let h = dumpe2fs_h(&img);
            let listed: BTreeSet<&str> =
                h["Filesystem features"].split_whitespace().collect();
            let (must, must_not) = features(kind);
            for f in must {
                assert!(listed.contains(f), "{ctx}: no {f} in {listed:?}");
            }
            for f in must_not {
                assert!(!listed.contains(f), "{ctx}: {f} in {listed:?}");
            }
            assert_eq!(h["Filesystem UUID"], TEST_UUID_STR, "{ctx}");
            assert_eq!(h["Filesystem volume name"], "lunroot", "{ctx}");
            assert_eq!(h["Filesystem state"], "clean", "{ctx}");
            assert_eq!(h["Inode size"], "256", "{ctx}");
            let bs = if size < 512 << 20 { "1024" } else { "4096" };
            assert_eq!(h["Block size"], bs, "{ctx}");
            assert_sparse(&img, &ctx);
            let (code, t) = tool(
                "blkid",
                "util-linux",
                &["-p", "-o", "export", img.to_str().expect("utf-8")],
            );
            assert_eq!(code, 0, "{ctx}: {t}");
            assert!(t.contains(&format!("\nTYPE={kind}\n")), "{ctx}: {t}");
            assert!(
                t.contains(&format!("\nUUID={TEST_UUID_STR}\n")),
                "{ctx}: {t}"
            );
            assert!(t.contains("\nLABEL=lunroot\n"), "{ctx}: {t}");
        }
    }
}

/// Write `tree` with `params` into a new file under `dir`.
fn image_at(tree: &Tree, params: &ext::ExtParams, path: PathBuf) -> Vec<u8> {
    let layout = ext::plan(tree, params).expect("plan");
    write_image(tree, params, &layout, &path);
    std::fs::read(&path).expect("read image")
}

#[test]
fn ext_same_tree_same_bytes_in_two_places() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    for kind in KINDS {
        // Two trees built alike from one seed, written into two
        // directories (different paths, different spools).
        let params = test_params(kind, 24 << 20);
        let one = image_at(&sample_tree(), &params, a.path().join("x.img"));
        let two = image_at(&sample_tree(), &params, b.path().join("y.img"));
        assert!(one == two, "{kind}: two writes differ");
        let (code, text) = tool(
            "cmp",
            "diffutils",
            &[
                a.path().join("x.img").to_str().expect("utf-8"),
                b.path().join("y.img").to_str().expect("utf-8"),
            ],
        );
        assert_eq!(code, 0, "{kind}: {text}");
    }
}

fn meta() -> Meta {
    Meta::root(0o644, TIME)
}

#[test]
fn ext_bad_input_is_a_typed_error() {
    for kind in KINDS {
        // A tree that does not fit.
        let mut t = Tree::new(TIME).expect("tree");
        let big = vec![7u8; 3 << 20];
        t.write_file(&GuestPath::new("/big").expect("path"), meta(), &big)
            .expect("file");
        let e = ext::plan(&t, &test_params(kind, 2 << 20)).unwrap_err();
        assert!(matches!(e, ext::Error::NoSpace { .. }), "{kind}: {e:?}");
        assert!(e.to_string().starts_with("the tree needs "), "{e}");

        // Too many inodes.
        let mut t = Tree::new(TIME).expect("tree");
        for i in 0..3000 {
            let p = GuestPath::new(&format!("/f{i}")).expect("path");
            t.insert(&p, meta(), Kind::Fifo).expect("fifo");
        }
        let e = ext::plan(&t, &test_params(kind, 8 << 20)).unwrap_err();
        assert!(matches!(e, ext::Error::NoInodes { .. }), "{kind}: {e:?}");

        // Sizes: nothing, too small, too large for 32-bit block numbers.
        let empty = Tree::new(TIME).expect("tree");
        for size in [0u64, 2 << 10] {
            let e = ext::plan(&empty, &test_params(kind, size)).unwrap_err();
            assert!(
                matches!(e, ext::Error::TooSmall { size: s, .. } if s == size),
                "{kind}, {size}: {e:?}"
            );
            assert!(e.to_string().starts_with(&format!("{size} bytes")), "{e}");
        }
        let e = ext::plan(&empty, &test_params(kind, 1 << 45)).unwrap_err();
        assert!(matches!(e, ext::Error::TooLarge { .. }), "{kind}: {e:?}");

        // Per-path refusals name the path.
        let mut t = Tree::new(TIME).expect("tree");
        let link = GuestPath::new("/dir/long-link").expect("path");
        t.insert(&GuestPath::new("/dir").expect("path"), meta(), Kind::Dir)
            .expect("dir");
        t.insert(&link, meta(), Kind::Symlink("x".repeat(5000)))
            .expect("symlink");
        let e = ext::plan(&t, &test_params(kind, 8 << 20)).unwrap_err();
        assert!(
            matches!(&e, ext::Error::SymlinkTooLong { path, .. } if *path == link),
            "{kind}: {e:?}"
        );
        assert!(e.to_string().starts_with("/dir/long-link: "), "{e}");

        let mut t = Tree::new(TIME).expect("tree");
        let f = GuestPath::new("/attrs").expect("path");
        let mut m = meta();
        m.xattrs.insert("user.big".into(), vec![1; 70_000]);
        t.write_file(&f, m, b"").expect("file");
        let e = ext::plan(&t, &test_params(kind, 8 << 20)).unwrap_err();
        assert!(
            matches!(&e, ext::Error::XattrsTooLarge { path, .. } if *path == f),
            "{kind}: {e:?}"
        );
        assert!(e.to_string().starts_with("/attrs: "), "{e}");
    }
    // A name over 255 bytes never reaches a file system: the tree's
    // paths refuse it, naming the path (ext's own NameTooLong guards
    // trees made otherwise).
    let long = format!("/etc/{}", "n".repeat(256));
    let e = GuestPath::new(&long).unwrap_err();
    assert_eq!(e, path::Error::TooLong(long.clone()));
    assert!(e.to_string().contains(&long), "{e}");
    assert!(GuestPath::new(&format!("/etc/{}", "n".repeat(255))).is_ok());
}

/// A tree of one node of each kind that matters to the mutations.
fn small_tree() -> Tree {
    let mut t = Tree::new(TIME).expect("tree");
    let p = |s: &str| GuestPath::new(s).expect("path");
    let mut m = meta();
    m.xattrs.insert("user.a".into(), b"one".to_vec());
    t.write_file(&p("/f"), m, b"hello").expect("file");
    t.insert(&p("/d"), Meta::root(0o755, TIME - 5), Kind::Dir)
        .expect("dir");
    t.insert(
        &p("/d/c"),
        meta(),
        Kind::CharDev {
            major: 300,
            minor: 70000,
        },
    )
    .expect("dev");
    t.insert(
        &p("/d/l"),
        Meta::root(0o777, TIME),
        Kind::Symlink("../f".into()),
    )
    .expect("symlink");
    t.link(&p("/d/f2"), &p("/f")).expect("link");
    t
}

/// Each way the image can disagree with a tree, made by changing the
/// tree after writing its image.
fn mutations() -> Vec<(&'static str, Tree)> {
    let p = |s: &str| GuestPath::new(s).expect("path");
    let base = small_tree;
    let change = |what: &'static str, f: &dyn Fn(&mut Tree)| {
        let mut t = base();
        f(&mut t);
        (what, t)
    };
    let id = |t: &Tree, s: &str| t.id(&p(s)).expect("id");
    vec![
        change("mode", &|t| {
            let i = id(t, "/f");
            t.inode_mut(i).meta.mode = 0o600;
        }),
        change("owner", &|t| {
            let i = id(t, "/d");
            t.inode_mut(i).meta.uid = 7;
        }),
        change("mtime", &|t| {
            let i = id(t, "/d");
            t.inode_mut(i).meta.mtime = TIME - 6;
        }),
        change("bytes", &|t| {
            t.write_file(&p("/f"), meta(), b"hellO").expect("file");
            t.link(&p("/d/f2"), &p("/f")).expect("link");
            let i = id(t, "/f");
            t.inode_mut(i)
                .meta
                .xattrs
                .insert("user.a".into(), b"one".to_vec());
        }),
        change("attribute value", &|t| {
            let i = id(t, "/f");
            t.inode_mut(i)
                .meta
                .xattrs
                .insert("user.a".into(), b"two".to_vec());
        }),
        change("attribute name", &|t| {
            let i = id(t, "/f");
            t.inode_mut(i)
                .meta
                .xattrs
                .insert("user.b".into(), Vec::new());
        }),
        change("device", &|t| {
            let i = id(t, "/d/c");
            t.inode_mut(i).kind = Kind::CharDev {
                major: 300,
                minor: 70001,
            };
        }),
        change("link target", &|t| {
            let i = id(t, "/d/l");
            t.inode_mut(i).kind = Kind::Symlink("../g".into());
        }),
        change("extra entry", &|t| {
            t.insert(&p("/d/new"), meta(), Kind::Fifo).expect("fifo");
        }),
        change("missing entry", &|t| {
            t.remove(&p("/d/l")).expect("remove");
        }),
        change("hard link", &|t| {
            t.remove(&p("/d/f2")).expect("remove");
            let m = t.inode(id(t, "/f")).meta.clone();
            t.write_file(&p("/d/f2"), m, b"hello").expect("file");
        }),
    ]
}

/// The walks fail on every mutation: they compare, not just run.
#[test]
fn ext_walks_catch_every_mutation() {
    let tree = small_tree();
    let work = tempfile::tempdir().expect("tempdir");
    let img = work.path().join("small.img");
    let params = test_params(KINDS[0], 8 << 20);
    let layout = ext::plan(&tree, &params).expect("plan");
    write_image(&tree, &params, &layout, &img);
    debugfs_walk(&tree, &img, TIME, "unchanged");
    let mounted = need_root()
        .is_none()
        .then(|| Mounted::new(&img, None, KINDS[0]));
    if let Some(m) = &mounted {
        m.walk(&tree, "unchanged");
    }
    for (what, t) in mutations() {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            debugfs_walk(&t, &img, TIME, what)
        }));
        assert!(r.is_err(), "debugfs walk missed a changed {what}");
        if let Some(m) = &mounted {
            let r =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    kernel_walk(&t, m.root(), what)
                }));
            assert!(r.is_err(), "kernel walk missed a changed {what}");
        }
    }
}

/// Times on both sides of 1970 and 2038, under a build time past 2038:
/// the kernel reads each back whole (the low 32 bits and the epoch
/// bits of the large inode), later ones clamped to the build's.
#[test]
fn ext_times_before_1970_and_after_2038() {
    let build = 4_000_000_000i64;
    let times = [
        -(1 << 31),
        -1,
        0,
        (1 << 31) - 1,
        1 << 31,
        3_000_000_000,
        build,
        build + 1,
    ];
    let mut tree = Tree::new(build).expect("tree");
    for (i, t) in times.iter().enumerate() {
        let mut m = meta();
        m.mtime = *t;
        let p = GuestPath::new(&format!("/t{i}")).expect("path");
        tree.write_file(&p, m, b"t").expect("file");
    }
    let work = tempfile::tempdir().expect("tempdir");
    for kind in KINDS {
        let params =
            ext_params(kind, 8 << 20, [7; 16], "times", [9; 16], build);
        let layout = ext::plan(&tree, &params).expect("plan");
        let img = work.path().join(format!("{kind}.img"));
        write_image(&tree, &params, &layout, &img);
        assert_fsck_clean_at(&img, "times", kind, Some(build));
        debugfs_walk(&tree, &img, build, kind);
        if let Some(why) = need_root() {
            eprintln!("{kind}: kernel mount skipped, {why}");
            continue;
        }
        let m = Mounted::new(&img, None, kind);
        for (i, t) in times.iter().enumerate() {
            let md = std::fs::metadata(m.root().join(format!("t{i}")))
                .expect("stat");
            assert_eq!(
                std::os::unix::fs::MetadataExt::mtime(&md),
                (*t).min(build),
                "{kind}: /t{i}"
            );
        }
    }
}

/// Labels of every length `s_volume_name` holds, as blkid and dumpe2fs
/// read them.
#[test]
fn ext_labels_as_blkid_reads_them() {
    let tree = sample_tree();
    let work = tempfile::tempdir().expect("tempdir");
    for kind in KINDS {
        for label in ["", "r", "0123456789abcdef", "étiquette"] {
            let params =
                ext_params(kind, 16 << 20, [0x42; 16], label, [1; 16], TIME);
            let layout = ext::plan(&tree, &params).expect("plan");
            let img = work.path().join(format!("{kind}-{}.img", label.len()));
            write_image(&tree, &params, &layout, &img);
            let h = dumpe2fs_h(&img);
            let shown = if label.is_empty() { "<none>" } else { label };
            assert_eq!(h["Filesystem volume name"], shown, "{kind} {label:?}");
            let (code, t) = tool(
                "blkid",
                "util-linux",
                &[
                    "-p",
                    "-o",
                    "value",
                    "-s",
                    "LABEL",
                    img.to_str().expect("utf-8"),
                ],
            );
            assert_eq!(code, 0, "{t}");
            assert_eq!(t.trim_end_matches('\n'), label, "{kind}: blkid {t:?}");
        }
    }
}

/// The first difference of two byte streams, or `None` when they are
/// equal (length included). Reads 1 MiB at a time.
fn stream_diff(mut a: impl Read, mut b: impl Read) -> Option<String> {
    let fill = |r: &mut dyn Read, buf: &mut [u8]| -> usize {
        let mut n = 0;
        while n < buf.len() {
            match r.read(&mut buf[n..]).expect("read") {
                0 => break,
                k => n += k,
            }
        }
        n
    };
    let (mut x, mut y) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    let mut at = 0u64;
    loop {
        let (n, m) = (fill(&mut a, &mut x), fill(&mut b, &mut y));
        if x[..n] != y[..m] {
            let i = x[..n].iter().zip(&y[..m]).position(|(p, q)| p != q);
            return Some(format!(
                "differ at byte {} (chunk lengths {n} and {m})",
                at + i.unwrap_or(n.min(m)) as u64
            ));
        }
        if n == 0 {
            return None;
        }
        at += n as u64;
    }
}

/// A file over 4 GiB (`i_size_high`, `large_file`), mostly zeros, from
/// a sparse host file: e2fsck, debugfs and the kernel agree on its
/// size and bytes. Both readers stream it.
#[test]
fn ext_file_over_4gib() {
    let len = (4u64 << 30) + 4097;
    let work = tempfile::tempdir().expect("tempdir");
    let host = work.path().join("big.src");
    let mut f = File::create(&host).expect("create");
    f.set_len(len).expect("size");
    f.write_all(b"head").expect("write");
    f.seek(SeekFrom::Start(len - 4)).expect("seek");
    f.write_all(b"tail").expect("write");
    drop(f);
    let mut tree = Tree::new(TIME).expect("tree");
    let content = Content::Host {
        path: host.clone(),
        len,
    };
    let big = GuestPath::new("/big").expect("path");
    tree.insert(&big, meta(), Kind::File(content))
        .expect("file");
    for kind in KINDS {
        let params = test_params(kind, 5 << 30);
        let layout = ext::plan(&tree, &params).expect("plan");
        let img = work.path().join(format!("{kind}.img"));
        write_image(&tree, &params, &layout, &img);
        assert_fsck_clean(&img, "lunroot", kind);
        let h = dumpe2fs_h(&img);
        assert!(h["Filesystem features"].contains("large_file"), "{h:?}");
        let mut child = Command::new("debugfs")
            .args(["-R", "cat /big"])
            .arg(&img)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("debugfs");
        let out = child.stdout.take().expect("stdout");
        let host_file = File::open(&host).expect("open");
        let diff = stream_diff(out, host_file);
        assert!(child.wait().expect("wait").success());
        assert_eq!(diff, None, "{kind}: debugfs cat /big");
        let (code, s) = tool(
            "debugfs",
            "e2fsprogs",
            &["-R", "stat /big", img.to_str().expect("utf-8")],
        );
        assert_eq!(code, 0, "{s}");
        assert!(s.contains(&format!("Size: {len}\n")), "{kind}: {s}");
        if let Some(why) = need_root() {
            eprintln!("{kind}: kernel mount skipped, {why}");
            continue;
        }
        let m = Mounted::new(&img, None, kind);
        let path = m.root().join("big");
        assert_eq!(std::fs::metadata(&path).expect("stat").len(), len);
        let diff = stream_diff(
            File::open(&path).expect("open"),
            File::open(&host).expect("open"),
        );
        assert_eq!(diff, None, "{kind}: kernel read of /big");
        drop(m);
        std::fs::remove_file(&img).expect("remove image");
    }
}

/// A big directory is written hashed: the root has `EXT2_INDEX_FL`, and
/// `debugfs -R 'htree'` walks an index whose leaves hold every name
/// once, each under the hash debugfs computes itself, which is the hash
/// our writer gives (so the kernel and e2fsck find each name where we
/// put it). At 1 KiB blocks 4000 names need interior nodes; at 4 KiB
/// the root points at the leaves.
#[test]
fn ext_big_directories_are_hashed_as_debugfs_hashes() {
    let work = tempfile::tempdir().expect("tempdir");
    for kind in KINDS {
        for (bs, files, levels) in [(1024u32, 4000usize, 1), (4096, 1500, 0)] {
            let ctx = format!("{kind}, {bs}-byte blocks, {files} names");
            let mut t = Tree::new(TIME).expect("tree");
            let dir = GuestPath::new("/many").expect("path");
            t.insert(&dir, Meta::root(0o755, TIME), Kind::Dir)
                .expect("dir");
            let mut names = BTreeSet::new();
            for i in 0..files {
                // Bytes over 0x7F too, where signed and unsigned differ.
                let name = format!(
                    "name-{i:05}-of-some-length-{}",
                    ["a", "é", "zz", "ü-x"][i % 4]
                );
                let p = GuestPath::new(&format!("/many/{name}")).expect("p");
                t.insert(&p, meta(), Kind::Fifo).expect("fifo");
                names.insert(name);
            }
            let mut params = test_params(kind, 64 << 20);
            params.block_size = bs;
            let layout = ext::plan(&t, &params).expect("plan");
            let img = work.path().join(format!("{kind}-{bs}.img"));
            write_image(&t, &params, &layout, &img);
            assert_fsck_clean(&img, "lunroot", &ctx);

            let img_s = img.to_str().expect("utf-8 path");
            let (_, stat) =
                tool("debugfs", "e2fsprogs", &["-R", "stat /many", img_s]);
            let flags = stat
                .split_whitespace()
                .skip_while(|w| *w != "Flags:")
                .nth(1)
                .and_then(|f| {
                    u32::from_str_radix(f.trim_start_matches("0x"), 16).ok()
                })
                .unwrap_or_else(|| panic!("{ctx}: no flags in {stat}"));
            assert_ne!(flags & 0x1000, 0, "{ctx}: EXT2_INDEX_FL: {stat}");

            let (code, out) =
                tool("debugfs", "e2fsprogs", &["-R", "htree /many", img_s]);
            assert_eq!(code, 0, "{ctx}: {out}");
            assert!(
                out.contains(&format!("Indirect levels: {levels}")),
                "{ctx}: {out}"
            );
            let seed = ext::htree::seed_words(&params.hash_seed);
            let mut seen = BTreeSet::new();
            // Leaf entries read `INO 0xHASH-MINOR (REC_LEN) NAME`.
            let words: Vec<&str> = out.split_whitespace().collect();
            for w in words.windows(4) {
                let [ino, hash, rec, name] = [w[0], w[1], w[2], w[3]];
                if ino.parse::<u32>().is_err()
                    || !hash.starts_with("0x")
                    || !rec.starts_with('(')
                {
                    continue;
                }
                let (major, minor) = hash
                    .trim_start_matches("0x")
                    .split_once('-')
                    .unwrap_or_else(|| panic!("{ctx}: hash {hash}"));
                let major = u32::from_str_radix(major, 16).expect("hash");
                let minor = u32::from_str_radix(minor, 16).expect("minor");
                let ours = ext::htree::half_md4(name.as_bytes(), seed, false);
                assert_eq!(ours, (major, minor), "{ctx}: hash of {name:?}");
                assert!(seen.insert(name.to_string()), "{ctx}: {name} twice");
            }
            assert_eq!(seen, names, "{ctx}: the leaves hold every name");
        }
    }
}
