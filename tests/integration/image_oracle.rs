//! The whole disk image of `pipeline::write_image`, read back by the
//! real tools: `sfdisk --json` (table, starts, sizes, types), `blkid -p`
//! (each partition's type, UUID and label), `e2fsck` and `debugfs` on
//! each ext partition copied out with `dd` (the data partition holds
//! what was below its mount point, the root partition an empty
//! directory there), `st_blocks` (sparse), `lunforge inspect`, two
//! writes compared byte for byte, and trees that cannot be written
//! leaving no output behind.

use std::path::{Path, PathBuf};
use std::process::Command;

use lunforge::disk::DiskLayout;
use lunforge::ids::partition_fs_uuid;
use lunforge::pipeline::write_image;
use lunforge::recipe::{Recipe, Source};
use lunforge::tree::{GuestPath, Kind, Meta, Tree};

use crate::support::ext::{assert_fsck_clean, sizes, tool, Rng, TIME};
use crate::support::{lunforge, run};

const MIB: u64 = 1 << 20;

/// The guest's name, from which its file system UUIDs derive.
const NAME: &str = "oracle01";

/// The partitions of every image here, in recipe order: blkid's type,
/// label, and the MBR and GPT type the table gives them.
const PARTS: [(&str, &str, &str, &str); 3] = [
    ("swap", "swap", "82", "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"),
    ("ext4", "root", "83", "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"),
    ("ext3", "srv", "83", "0FC63DAF-8483-4772-8E79-3D69D8477DE4"),
];

/// The recipe: a 160 MiB disk with a `table` partition table, 16 MiB
/// of swap, a 64 MiB ext4 root of `root_size` and ext3 on `/srv` for
/// the rest.
pub(crate) fn recipe(dir: &Path, table: &str, root_size: &str) -> Recipe {
    let text = format!(
        "[image]\nname = \"{NAME}\"\nsize = \"160MiB\"\ntable = \"{table}\"\n\
         \n[[partitions]]\nuse = \"swap\"\nsize = \"16MiB\"\nlabel = \"swap\"\n\
         \n[[partitions]]\nuse = \"root\"\nfs = \"ext4\"\n\
         size = \"{root_size}\"\nlabel = \"root\"\n\
         \n[[partitions]]\nuse = \"data\"\nfs = \"ext3\"\nsize = \"rest\"\n\
         mount = \"/srv\"\nlabel = \"srv\"\n\
         \n[system]\nsuite = \"trixie\"\narchitecture = \"amd64\"\n\
         mirror = \"http://127.0.0.1:9/\"\n"
    );
    let path = dir.join(format!("{table}.toml"));
    std::fs::write(&path, &text).expect("write recipe");
    Recipe::load(&Source::Path(path), &[], Path::new("/nonexistent"))
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn gp(p: &str) -> GuestPath {
    GuestPath::new(p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// What the test tree holds below `/srv`: (path, bytes), and the hard
/// link pair (both paths hold the second file's bytes).
pub(crate) struct Srv {
    files: Vec<(&'static str, Vec<u8>)>,
    links: (&'static str, &'static str),
}

/// A small guest tree: directories, files, a symlink, device nodes,
/// and below `/srv` files in subdirectories with a hard link pair.
pub(crate) fn tree() -> (Tree, Srv) {
    let mut t = Tree::new(TIME).expect("tree");
    let dir = Meta::root(0o755, TIME);
    let file = Meta::root(0o644, TIME);
    for d in ["/etc", "/usr", "/usr/bin", "/dev", "/srv", "/srv/www"] {
        t.insert(&gp(d), dir.clone(), Kind::Dir).expect("dir");
    }
    t.insert(&gp("/srv/data"), Meta::root(0o750, TIME), Kind::Dir)
        .expect("dir");
    t.write_file(&gp("/etc/hostname"), file.clone(), b"oracle01\n")
        .expect("file");
    t.write_file(&gp("/usr/bin/busybox"), Meta::root(0o755, TIME), b"\x7fELF")
        .expect("file");
    t.insert(
        &gp("/bin"),
        Meta::root(0o777, TIME),
        Kind::Symlink("usr/bin".into()),
    )
    .expect("symlink");
    let null = Kind::CharDev { major: 1, minor: 3 };
    t.insert(&gp("/dev/null"), Meta::root(0o666, TIME), null)
        .expect("chardev");
    let sda = Kind::BlockDev { major: 8, minor: 0 };
    t.insert(&gp("/dev/sda"), Meta::root(0o660, TIME), sda)
        .expect("blockdev");
    let mut rng = Rng::new(0x1a6e);
    let srv = Srv {
        files: vec![
            ("/srv/www/index.html", b"<p>hello</p>\n".to_vec()),
            ("/srv/data/a", rng.bytes(300_000)),
            ("/srv/top", rng.bytes(5000)),
        ],
        links: ("/srv/data/a", "/srv/www/a-link"),
    };
    for (p, bytes) in &srv.files {
        t.write_file(&gp(p), file.clone(), bytes).expect("srv file");
    }
    t.link(&gp(srv.links.1), &gp(srv.links.0)).expect("link");
    (t, srv)
}

/// Run an oracle tool that must succeed; its stdout.
#[track_caller]
fn oracle(program: &str, package: &str, args: &[&str]) -> String {
    let out = run(Command::new(program).args(args), package);
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// `debugfs -R CMD IMG`: exit code and output.
fn debugfs(img: &Path, cmd: &str) -> String {
    let p = img.to_str().expect("utf-8");
    let (code, text) = tool("debugfs", "e2fsprogs", &["-R", cmd, p]);
    assert_eq!(code, 0, "debugfs -R {cmd:?} {p}: {text}");
    text
}

/// The names `debugfs ls -p` lists in a directory, sorted.
fn names(img: &Path, dir: &str) -> Vec<String> {
    let text = debugfs(img, &format!("ls -p {dir}"));
    // `/INODE/MODE/UID/GID/NAME/SIZE/`, one entry a line.
    let mut out: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix('/'))
        .filter_map(|l| l.split('/').nth(4))
        .map(str::to_string)
        .collect();
    out.sort();
    out
}

/// A `stat` field of debugfs's output, after `key:` and up to the next
/// blanks.
fn field<'a>(stat: &'a str, key: &str) -> &'a str {
    let at = stat
        .find(&format!("{key}: "))
        .unwrap_or_else(|| panic!("no {key} in:\n{stat}"));
    stat[at + key.len() + 2..]
        .split_whitespace()
        .next()
        .unwrap_or("")
}

/// Partition `index` of `img` copied out with `dd conv=sparse`, next to
/// the image.
fn copy_out(img: &Path, layout: &DiskLayout, index: usize) -> PathBuf {
    let p = &layout.partitions[index];
    let out = img.with_extension(format!("p{}", index + 1));
    run(
        Command::new("dd").args([
            format!("if={}", img.display()),
            format!("of={}", out.display()),
            "bs=512".into(),
            format!("skip={}", p.first.0),
            format!("count={}", p.sectors.0),
            "conv=sparse".into(),
            "status=none".into(),
        ]),
        "coreutils",
    );
    let (len, _) = sizes(&out);
    assert_eq!(len, p.sectors.0 * 512, "{}", out.display());
    out
}

/// The files of `dir` (names only).
fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into())
        .collect();
    v.sort();
    v
}

/// Both tables: the image is what the tools expect, and two writes of
/// the same tree give the same bytes.
#[test]
fn image_of_a_tree_passes_the_real_tools() {
    for table in ["msdos", "gpt"] {
        let dir = tempfile::tempdir().expect("temp dir");
        let r = recipe(dir.path(), table, "64MiB");
        let img = dir.path().join(format!("{NAME}.img"));
        let (t, srv) = tree();
        let layout = write_image(&r, t, TIME, &img)
            .unwrap_or_else(|e| panic!("{table}: {e}"));
        check_table(&img, &layout, table);
        check_blkid(&img, &layout, table);
        check_contents(&img, &layout, &srv, table);
        let (apparent, allocated) = sizes(&img);
        assert_eq!(apparent, 160 * MIB, "{table}");
        assert!(
            allocated < 4 * MIB,
            "{table}: {allocated} of {apparent} bytes allocated"
        );
        check_inspect(&img, table);
        // Again, elsewhere: the same bytes.
        let again = dir.path().join("again.img");
        let (t, _) = tree();
        write_image(&r, t, TIME, &again).expect("second write");
        let a = std::fs::read(&img).expect("read image");
        let b = std::fs::read(&again).expect("read image");
        assert!(a == b, "{table}: two writes of one tree differ");
    }
}

/// `sfdisk --json`: three partitions, 1 MiB aligned, in order and
/// back to back, of the recipe's sizes, the last one filling the disk
/// (up to the backup GPT), with the table's types.
fn check_table(img: &Path, layout: &DiskLayout, table: &str) {
    let p = img.to_str().expect("utf-8");
    let json = oracle("sfdisk", "fdisk", &["--json", p]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    let t = &v["partitiontable"];
    let label = if table == "msdos" { "dos" } else { "gpt" };
    assert_eq!(t["label"], label, "{json}");
    let got = t["partitions"].as_array().expect("partitions");
    assert_eq!(got.len(), 3, "{json}");
    let num = |g: &serde_json::Value, k: &str| {
        g[k].as_u64().unwrap_or_else(|| panic!("{k} in {json}"))
    };
    let mib = MIB / 512;
    let sizes = [16 * mib, 64 * mib];
    let mut next = 0;
    for (i, g) in got.iter().enumerate() {
        let (start, size) = (num(g, "start"), num(g, "size"));
        let p = &layout.partitions[i];
        assert_eq!((start, size), (p.first.0, p.sectors.0), "{json}");
        assert_eq!(start % mib, 0, "{table} p{}: {json}", i + 1);
        assert!(start >= next.max(mib), "{table} p{}: {json}", i + 1);
        match sizes.get(i) {
            Some(s) => assert_eq!(size, *s, "{json}"),
            None => {
                // The rest: up to the end of the disk, or of GPT's
                // usable area (the backup array and header: 33 sectors).
                let end = if table == "msdos" {
                    160 * mib
                } else {
                    num(t, "lastlba") + 1
                };
                assert!(start + size <= end, "{json}");
                assert!(end - (start + size) < mib, "{json}");
            }
        }
        next = start + size;
        let (_, _, mbr, guid) = PARTS[i];
        let want = if table == "msdos" { mbr } else { guid };
        assert_eq!(g["type"], want, "{table} p{}: {json}", i + 1);
    }
    if table == "gpt" {
        assert_eq!(num(t, "lastlba"), 160 * mib - 34, "{json}");
    }
}

/// `blkid -p` at each partition's offset: type, derived UUID, label.
fn check_blkid(img: &Path, layout: &DiskLayout, table: &str) {
    let p = img.to_str().expect("utf-8");
    for (i, (kind, label, _, _)) in PARTS.iter().enumerate() {
        let part = &layout.partitions[i];
        let (offset, size) = (part.offset().to_string(), part.size());
        let size = size.to_string();
        let out = oracle(
            "blkid",
            "util-linux",
            &["-p", "-o", "export", "-O", &offset, "-S", &size, p],
        );
        let uuid = partition_fs_uuid(NAME, i);
        let ctx = format!("{table} p{}:\n{out}", i + 1);
        assert!(out.contains(&format!("\nTYPE={kind}\n")), "{ctx}");
        assert!(out.contains(&format!("\nUUID={uuid}\n")), "{ctx}");
        assert!(out.contains(&format!("\nLABEL={label}\n")), "{ctx}");
    }
}

/// Each ext partition copied out: e2fsck finds it clean; debugfs finds
/// the tree without `/srv`'s contents on the root partition (only the
/// empty directory to mount on) and those contents at the root of the
/// data partition, the hard link pair one inode with two links.
fn check_contents(img: &Path, layout: &DiskLayout, srv: &Srv, table: &str) {
    let root = copy_out(img, layout, 1);
    let data = copy_out(img, layout, 2);
    assert_fsck_clean(&root, "root", &format!("{table} root"));
    assert_fsck_clean(&data, "srv", &format!("{table} srv"));

    let top = names(&root, "/");
    for n in ["bin", "dev", "etc", "srv", "usr"] {
        assert!(top.contains(&n.to_string()), "{table}: / has {top:?}");
    }
    assert_eq!(names(&root, "/srv"), [".", ".."], "{table}: root /srv");
    let stat = debugfs(&root, "stat /srv");
    assert_eq!(field(&stat, "Type"), "directory", "{stat}");
    assert_eq!(field(&stat, "Links"), "2", "{stat}");
    let stat = debugfs(&root, "stat /dev/null");
    assert!(stat.contains("Type: character special"), "{stat}");
    assert!(stat.contains("Device major/minor number: 01:03"), "{stat}");
    let stat = debugfs(&root, "stat /dev/sda");
    assert!(stat.contains("Type: block special"), "{stat}");
    assert!(stat.contains("Device major/minor number: 08:00"), "{stat}");
    let stat = debugfs(&root, "stat /bin");
    assert!(stat.contains("Type: symlink"), "{stat}");
    assert!(stat.contains("Fast link dest: \"usr/bin\""), "{stat}");
    let host = dir_of(img).join("hostname");
    dump(&root, "/etc/hostname", &host);
    assert_eq!(std::fs::read(&host).expect("read"), b"oracle01\n");

    let top = names(&data, "/");
    for n in ["data", "top", "www"] {
        assert!(top.contains(&n.to_string()), "{table}: srv / has {top:?}");
    }
    assert!(!top.contains(&"srv".to_string()), "{table}: {top:?}");
    let out = dir_of(img).join("out");
    for (path, bytes) in &srv.files {
        let inner = path.strip_prefix("/srv").expect("below /srv");
        dump(&data, inner, &out);
        let got = std::fs::read(&out).expect("read dumped file");
        assert!(got == *bytes, "{table}: {inner} differs");
        assert!(
            debugfs(&root, &format!("stat {path}")).contains("not found"),
            "{table}: {path} is on the root partition"
        );
    }
    let (a, b) = srv.links;
    let (a, b) = (&a["/srv".len()..], &b["/srv".len()..]);
    let sa = debugfs(&data, &format!("stat {a}"));
    let sb = debugfs(&data, &format!("stat {b}"));
    assert_eq!(field(&sa, "Links"), "2", "{sa}");
    let inode = |s: &str| field(s, "Inode").to_string();
    assert_eq!(inode(&sa), inode(&sb), "{table}: {a} and {b}");
    let _ = std::fs::remove_file(root);
    let _ = std::fs::remove_file(data);
}

fn dir_of(img: &Path) -> PathBuf {
    img.parent().expect("parent").to_path_buf()
}

/// `debugfs dump` of `inner` into `out`.
fn dump(img: &Path, inner: &str, out: &Path) {
    let _ = std::fs::remove_file(out);
    let cmd = format!("dump {inner} {}", out.display());
    debugfs(img, &cmd);
    assert!(out.exists(), "debugfs {cmd} wrote nothing");
}

/// `lunforge inspect`: three partitions with the derived UUIDs and the
/// labels.
fn check_inspect(img: &Path, table: &str) {
    let out = lunforge(["inspect", img.to_str().expect("utf-8")])
        .ok()
        .stdout;
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| {
            l.trim_start()
                .split_once("  ")
                .is_some_and(|(n, _)| n.parse::<usize>().is_ok())
        })
        .collect();
    assert_eq!(lines.len(), 3, "{table}:\n{out}");
    assert!(out.contains(&format!("{table} table")), "{out}");
    for (i, (kind, label, _, _)) in PARTS.iter().enumerate() {
        let l = lines[i];
        let uuid = partition_fs_uuid(NAME, i);
        assert!(l.trim_start().starts_with(&format!("{}  ", i + 1)), "{l}");
        assert!(l.contains(&format!("{kind} UUID {uuid}")), "{out}");
        assert!(l.contains(&format!("label \"{label}\"")), "{out}");
    }
}

/// For both tables: the test tree changed by `change` fails to be
/// written with a root of `root_size`, the message names each of
/// `named`, and the directory holds nothing new: no image, no
/// `.NAME.*.part`.
#[track_caller]
fn fails_leaving_nothing(
    root_size: &str,
    change: impl Fn(&mut Tree),
    named: &[&str],
) {
    for table in ["msdos", "gpt"] {
        let dir = tempfile::tempdir().expect("temp dir");
        let r = recipe(dir.path(), table, root_size);
        let img = dir.path().join(format!("{NAME}.img"));
        let (mut t, _) = tree();
        change(&mut t);
        let e = write_image(&r, t, TIME, &img)
            .expect_err("a tree that cannot be written");
        let msg = e.to_string();
        for n in named {
            assert!(msg.contains(n), "{table}: no {n} in: {msg}");
        }
        assert!(!img.exists(), "{table}: {msg}");
        let left = dir_names(dir.path());
        assert_eq!(left, [format!("{table}.toml")], "{table}: {msg}");
    }
}

/// A root file system too small for the tree (a 3 MiB file in 2 MiB)
/// fails before any output exists, naming the partition.
#[test]
fn image_too_small_for_the_tree_leaves_nothing() {
    let big = Rng::new(7).bytes(3 << 20);
    let add_big = |t: &mut Tree| {
        t.write_file(&gp("/usr/bin/big"), Meta::root(0o644, TIME), &big)
            .map(drop)
            .expect("big file");
    };
    fails_leaving_nothing("2MiB", add_big, &["partitions[1]"]);
}

/// A hard link between `/srv` (its own file system) and `/etc` cannot
/// be written: the error names both paths, and nothing is left.
#[test]
fn image_hard_link_across_a_mount_leaves_nothing() {
    let link = |t: &mut Tree| {
        t.link(&gp("/etc/shared"), &gp("/srv/top"))
            .map(drop)
            .expect("link");
    };
    fails_leaving_nothing("64MiB", link, &["/srv/top", "/etc/shared"]);
}
