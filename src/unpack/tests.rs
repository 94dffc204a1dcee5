//! Tests of the whole unpack stage: synthetic packages of every kind and
//! compression, hostile ones (each must give its typed error), mutation
//! runs, packages built by the real `dpkg-deb`, and a real archive
//! package when the download cache holds one.

#![allow(clippy::arithmetic_side_effects, clippy::as_conversions)]

use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tar::EntryType;

use super::testdeb::{self, control_tar, deb, sample_data, Tar, ALL, CONTROL};
use super::*;

fn spool() -> Spool {
    Spool::new().unwrap()
}

fn read(bytes: &[u8]) -> Result<Unpacked> {
    read_deb_from(bytes, "hello 1.0-1", &spool(), &Limits::default())
}

fn read_limited(
    bytes: &[u8],
    max_bytes: u64,
    max_entries: u64,
) -> Result<Unpacked> {
    let limits = Limits {
        max_bytes,
        max_entries,
    };
    read_deb_from(bytes, "hello 1.0-1", &spool(), &limits)
}

/// A package whose data archive is `data` (uncompressed members).
fn with_data(data: &[u8]) -> Vec<u8> {
    deb(&control_tar(CONTROL), data, Compression::None)
}

fn p(s: &str) -> GuestPath {
    GuestPath::new(s).unwrap()
}

fn paths(u: &Unpacked) -> Vec<&str> {
    u.entries.iter().map(|e| e.path.as_str()).collect()
}

#[test]
fn reads_every_kind_in_every_compression() {
    for c in ALL {
        let spool = spool();
        let bytes = deb(&control_tar(CONTROL), &sample_data(), c);
        let u = read_deb_from(
            &bytes[..],
            "hello 1.0-1",
            &spool,
            &Limits::default(),
        )
        .unwrap_or_else(|e| panic!("{c:?}: {e}"));
        assert_eq!(u.name, "hello");
        assert_eq!(u.label, "hello 1.0-1");
        assert_eq!(u.control, CONTROL);
        let names: Vec<&str> =
            u.control_files.keys().map(String::as_str).collect();
        assert_eq!(names, ["md5sums", "postinst"]);
        assert_eq!(u.control_files["postinst"].mode, 0o755);
        assert_eq!(u.control_files["md5sums"].mode, 0o644);
        assert_eq!(u.control_files["postinst"].data, b"#!/bin/sh\nset -e\n");
        assert_eq!(
            paths(&u),
            [
                "/",
                "/usr",
                "/usr/bin",
                "/usr/bin/hello",
                "/usr/bin/su",
                "/usr/bin/hi",
                "/usr/bin/hello2",
                "/usr/fifo",
                "/usr/big",
                "/usr/bin/ping"
            ]
        );
        let kinds: String = u.entries.iter().map(|e| e.kind.letter()).collect();
        assert_eq!(kinds, "ddd--lhp--");
        let e = |i: usize| &u.entries[i];
        assert_eq!(e(4).meta.mode, 0o4755, "setuid kept");
        assert_eq!(e(3).meta.mode, 0o755);
        assert_eq!(e(7).meta.mode, 0o600);
        assert!(e(0).meta.uid == 0 && e(0).meta.gid == 0);
        assert!(u
            .entries
            .iter()
            .all(|e| e.meta.mtime == testdeb::MTIME as i64));
        assert_eq!(e(5).kind, EntryKind::Symlink("hello".into()));
        assert_eq!(e(6).kind, EntryKind::HardLink(p("/usr/bin/hello")));
        let EntryKind::File(c) = &e(3).kind else {
            panic!()
        };
        assert_eq!(spool.read(c).unwrap(), b"#!/bin/sh\necho hello\n");
        let EntryKind::File(c) = &e(8).kind else {
            panic!()
        };
        let big: Vec<u8> =
            (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
        assert_eq!(spool.read(c).unwrap(), big);
        assert!(
            matches!(c, Content::Spool { .. }),
            "large files are spooled"
        );
        assert_eq!(
            e(9).meta
                .xattrs
                .get("security.capability")
                .map(Vec::as_slice),
            Some(&b"\x01\x00\x00\x02"[..])
        );
    }
}

use crate::tree::Content;

#[test]
fn apply_inserts_in_order_and_reports_member_paths() {
    let mut tree = Tree::new(0).unwrap();
    let bytes = deb(&control_tar(CONTROL), &sample_data(), Compression::Xz);
    let u = read_deb_from(
        &bytes[..],
        "hello 1.0-1",
        tree.spool(),
        &Limits::default(),
    )
    .unwrap();
    let listed = apply(&mut tree, &u).unwrap();
    assert_eq!(listed.len(), u.entries.len());
    assert_eq!(listed[3].as_str(), "/usr/bin/hello");
    let a = tree.id(&p("/usr/bin/hello")).unwrap();
    assert_eq!(tree.id(&p("/usr/bin/hello2")), Some(a), "hard link");
    let Kind::File(c) = &tree.inode(a).kind else {
        panic!()
    };
    assert_eq!(tree.spool().read(c).unwrap(), b"#!/bin/sh\necho hello\n");
    assert_eq!(tree.get(&p("/usr/bin/su")).unwrap().meta.mode, 0o4755);
    assert_eq!(tree.get(&p("/usr/fifo")).unwrap().kind, Kind::Fifo);
    assert_eq!(
        tree.get(&p("/usr/bin/hi")).unwrap().kind,
        Kind::Symlink("hello".into())
    );
}

#[test]
fn apply_follows_merged_usr_links_but_lists_member_names() {
    let mut tree = Tree::new(0).unwrap();
    let m = crate::tree::Meta::root(0o755, 0);
    tree.insert(&p("/usr"), m.clone(), Kind::Dir).unwrap();
    tree.insert(&p("/usr/bin"), m.clone(), Kind::Dir).unwrap();
    tree.insert(&p("/bin"), m, Kind::Symlink("usr/bin".into()))
        .unwrap();
    let data = Tar::new()
        .dir("./", 0o755)
        .dir("./bin/", 0o755)
        .file("./bin/ls", 0o755, b"ls")
        .dir("./usr/", 0o755)
        .dir("./usr/bin/", 0o755)
        .file("./usr/bin/ls", 0o755, b"ls again")
        .finish();
    let u = read_deb_from(
        &with_data(&data)[..],
        "ls 1",
        tree.spool(),
        &Limits::default(),
    )
    .unwrap();
    let listed = apply(&mut tree, &u).unwrap();
    let listed: Vec<&str> = listed.iter().map(GuestPath::as_str).collect();
    assert_eq!(
        listed,
        ["/", "/bin", "/bin/ls", "/usr", "/usr/bin", "/usr/bin/ls"]
    );
    assert!(matches!(
        tree.get(&p("/bin")).unwrap().kind,
        Kind::Symlink(_)
    ));
    assert!(tree.get(&p("/bin/ls")).is_none());
    let Kind::File(c) = &tree.get(&p("/usr/bin/ls")).unwrap().kind else {
        panic!()
    };
    assert_eq!(tree.spool().read(c).unwrap(), b"ls again");
}

#[test]
fn long_names_and_old_style_directories() {
    let long = format!("./usr/share/{}/file", "d".repeat(150));
    let data = Tar::new()
        .dir("./", 0o755)
        .raw(b"./usr/", 0, 0o755, b"", b"")
        .long_file(&long, b"x")
        .finish();
    let u = read(&with_data(&data)).unwrap();
    assert_eq!(u.entries[1].kind, EntryKind::Dir);
    assert_eq!(u.entries[2].path.as_str(), &long[1..]);
}

#[test]
fn short_reads_give_the_same_result() {
    /// Yields 1 to 7 bytes per read.
    struct Dribble<'a>(&'a [u8], testdeb::Rng);
    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = (1 + self.1.below(7)).min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    for c in ALL {
        let bytes = deb(&control_tar(CONTROL), &sample_data(), c);
        let whole = read(&bytes).unwrap();
        let s = spool();
        let dribbled = read_deb_from(
            Dribble(&bytes, testdeb::Rng(7)),
            "hello 1.0-1",
            &s,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(paths(&whole), paths(&dribbled), "{c:?}");
        assert_eq!(whole.control_files, dribbled.control_files);
        let EntryKind::File(big) = &dribbled.entries[8].kind else {
            panic!()
        };
        assert_eq!(s.read(big).unwrap().len(), 100_000);
    }
}

#[test]
fn skips_underscore_members_like_dpkg() {
    let bytes = testdeb::ar(&[
        ("debian-binary", b"2.0\n"),
        ("_gpgorigin", b"signature"),
        ("control.tar", &control_tar(CONTROL)),
        ("_extra", b"x"),
        ("data.tar", &sample_data()),
        ("_trailer", b"yz"),
    ]);
    assert_eq!(read(&bytes).unwrap().entries.len(), 10);
}

// ---------------------------------------------------------------- hostile

fn err(bytes: &[u8]) -> Error {
    match read(bytes) {
        Ok(_) => panic!("accepted a hostile package"),
        Err(e) => e,
    }
}

#[test]
fn refuses_path_traversal_and_absolute_names() {
    for name in ["./../etc/passwd", "./usr/../../x", "../x", "usr/.."] {
        let data = Tar::new()
            .dir("./", 0o755)
            .file(name, 0o644, b"evil")
            .finish();
        let e = err(&with_data(&data));
        assert!(
            matches!(
                &e,
                Error::BadPath { source: tree::path::Error::DotDot(n), .. }
                    if n == name
            ),
            "{name}: {e}"
        );
    }
    let data = Tar::new().file("/etc/passwd", 0o644, b"evil").finish();
    assert!(matches!(
        err(&with_data(&data)),
        Error::BadPath {
            source: tree::path::Error::Absolute(_),
            ..
        }
    ));
    // A hard link may not point out either.
    let data = Tar::new()
        .dir("./", 0o755)
        .hardlink("./x", "../etc/shadow")
        .finish();
    assert!(matches!(err(&with_data(&data)), Error::BadPath { .. }));
}

#[test]
fn a_symlink_out_of_the_root_cannot_be_written_through() {
    let data = Tar::new()
        .dir("./", 0o755)
        .symlink("./x", "../../..")
        .file("./x/evil", 0o644, b"evil")
        .finish();
    let mut tree = Tree::new(0).unwrap();
    let u = read_deb_from(
        &with_data(&data)[..],
        "evil 1",
        tree.spool(),
        &Limits::default(),
    )
    .unwrap();
    let e = apply(&mut tree, &u).unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Tree {
                path,
                source: tree::Error::Escapes { .. },
                ..
            } if path.as_str() == "/x/evil"
        ),
        "{e}"
    );
    assert!(tree.get(&p("/evil")).is_none());
    assert!(tree.get(&p("/x/evil")).is_none());
}

#[test]
fn refuses_device_nodes() {
    for (kind, name) in [
        (EntryType::Char, "character device"),
        (EntryType::Block, "block device"),
    ] {
        let data = Tar::new()
            .dir("./", 0o755)
            .raw(b"./dev/sda", kind.as_byte(), 0o660, b"", b"")
            .finish();
        let e = err(&with_data(&data));
        assert!(
            matches!(&e, Error::DeviceNode { path, kind: k, .. }
                if path.as_str() == "/dev/sda" && *k == name),
            "{e}"
        );
    }
}

#[test]
fn refuses_hard_links_to_later_missing_or_directory_entries() {
    let forward = Tar::new()
        .dir("./", 0o755)
        .hardlink("./a", "./b")
        .file("./b", 0o644, b"b")
        .finish();
    let missing = Tar::new()
        .dir("./", 0o755)
        .hardlink("./a", "./nope")
        .finish();
    let to_dir = Tar::new()
        .dir("./", 0o755)
        .dir("./d/", 0o755)
        .hardlink("./a", "./d")
        .finish();
    for data in [forward, missing, to_dir] {
        let e = err(&with_data(&data));
        assert!(matches!(e, Error::HardLinkTarget { .. }), "{e}");
    }
}

#[test]
fn refuses_unsupported_entries_empty_links_and_bad_names() {
    // A sparse file of 1 TiB of holes: refused before it is read.
    let sparse = Tar::new().dir("./", 0o755).sparse("./s", 1 << 40).finish();
    let e = err(&with_data(&sparse));
    assert!(
        matches!(
            &e,
            Error::UnsupportedEntry { type_flag, .. }
                if type_flag == "S"
        ),
        "{e}"
    );
    let volume = Tar::new().raw(b"./v", b'V', 0o644, b"", b"").finish();
    let e = err(&with_data(&volume));
    assert!(
        matches!(
            &e,
            Error::UnsupportedEntry { type_flag, .. }
                if type_flag == "V"
        ),
        "{e}"
    );
    let empty = Tar::new()
        .raw(b"./l", EntryType::Symlink.as_byte(), 0o777, b"", b"")
        .finish();
    assert!(matches!(
        err(&with_data(&empty)),
        Error::EmptyLinkTarget { .. }
    ));
    let latin1 = Tar::new().file("./caf\u{e9}", 0o644, b"").finish();
    assert!(read(&with_data(&latin1)).is_ok());
    let not_utf8 = Tar::new()
        .raw(b"./caf\xe9", EntryType::Regular.as_byte(), 0o644, b"", b"")
        .finish();
    assert!(matches!(
        err(&with_data(&not_utf8)),
        Error::NotUtf8 {
            what: "member name",
            ..
        }
    ));
}

#[test]
fn refuses_truncation_everywhere() {
    for c in ALL {
        let bytes = deb(&control_tar(CONTROL), &sample_data(), c);
        // Every cut of the ar archive fails with a typed error.
        for cut in (0..bytes.len()).step_by(97) {
            match read(&bytes[..cut]) {
                Err(
                    Error::Truncated { .. }
                    | Error::Corrupt { .. }
                    | Error::NotADeb { .. }
                    | Error::MissingMember { .. }
                    | Error::BadVersion { .. },
                ) => {}
                Ok(_) => panic!("{c:?}: cut at {cut} accepted"),
                Err(e) => panic!("{c:?}: cut at {cut}: unexpected {e}"),
            }
        }
    }
    // A tar archive cut inside a file, in a consistent ar member.
    let data = sample_data();
    let cut = &data[..data.len() / 2];
    let e = err(&with_data(cut));
    assert!(
        matches!(
            &e,
            Error::Truncated { member, .. }
                if member.starts_with("data.tar: ./usr/big")
        ),
        "{e}"
    );
    // A cut right after the global magic or inside a header.
    let bytes = with_data(&sample_data());
    assert!(matches!(
        err(&bytes[..8]),
        Error::MissingMember {
            expected: "debian-binary",
            ..
        }
    ));
    assert!(matches!(err(&bytes[..40]), Error::Truncated { .. }));
}

#[test]
fn refuses_corrupt_compressed_members() {
    for c in [Compression::Gzip, Compression::Xz, Compression::Zstd] {
        let bytes = deb(&control_tar(CONTROL), &sample_data(), c);
        // Flip a byte in the middle of the data member's stream.
        let data_name = format!("data.tar{}", testdeb::suffix(c));
        let at = bytes
            .windows(data_name.len())
            .position(|w| w == data_name.as_bytes())
            .unwrap()
            + 60
            + 40;
        let mut bad = bytes.clone();
        bad[at] ^= 0xff;
        let e = err(&bad);
        assert!(
            matches!(
                &e,
                Error::Corrupt { member, .. } | Error::Truncated { member, .. }
                    if member.starts_with(&data_name)
            ),
            "{c:?}: {e}"
        );
        // Not compressed at all.
        let plain = testdeb::ar(&[
            ("debian-binary", b"2.0\n"),
            (
                &format!("control.tar{}", testdeb::suffix(c)),
                b"plain text, not compressed",
            ),
        ]);
        assert!(matches!(err(&plain), Error::Corrupt { .. }), "{c:?}");
    }
}

#[test]
fn refuses_wrong_debian_binary() {
    for v in [
        &b"3.0\n"[..],
        b"2.0",
        b"1.0\n",
        b"2.\n",
        b"2.x\n",
        b"",
        b"\x002.0\n",
    ] {
        let bytes = testdeb::ar(&[
            ("debian-binary", v),
            ("control.tar", &control_tar(CONTROL)),
            ("data.tar", &sample_data()),
        ]);
        assert!(matches!(err(&bytes), Error::BadVersion { .. }), "{v:?}");
    }
    let long = [b'2', b'.', b'0', b'\n'].repeat(20);
    let bytes = testdeb::ar(&[("debian-binary", &long)]);
    assert!(matches!(err(&bytes), Error::BadVersion { .. }));
    // A later minor version and extra lines are accepted, as by dpkg.
    let bytes = testdeb::ar(&[
        ("debian-binary", b"2.1\nextra\n"),
        ("control.tar", &control_tar(CONTROL)),
        ("data.tar", &sample_data()),
    ]);
    assert!(read(&bytes).is_ok());
    assert!(matches!(err(b"PK\x03\x04"), Error::NotADeb { .. }));
}

#[test]
fn refuses_members_out_of_order() {
    let control = control_tar(CONTROL);
    let data = sample_data();
    type Members<'a> = Vec<(&'a str, &'a [u8])>;
    let cases: Vec<(Members<'_>, &str, &str)> = vec![
        (
            vec![("control.tar", &control), ("debian-binary", b"2.0\n")],
            "control.tar",
            "debian-binary",
        ),
        (
            vec![
                ("debian-binary", b"2.0\n"),
                ("data.tar", &data),
                ("control.tar", &control),
            ],
            "data.tar",
            "a control.tar member",
        ),
        (
            vec![
                ("debian-binary", b"2.0\n"),
                ("control.tar", &control),
                ("control.tar", &control),
            ],
            "control.tar",
            "a data.tar member",
        ),
        (
            vec![
                ("debian-binary", b"2.0\n"),
                ("control.tar", &control),
                ("data.tar", &data),
                ("data.tar", &data),
            ],
            "data.tar",
            "the end of the archive",
        ),
        (
            vec![
                ("debian-binary", b"2.0\n"),
                ("README", b"hi"),
                ("control.tar", &control),
            ],
            "README",
            "a control.tar member",
        ),
    ];
    for (members, member, expected) in cases {
        let e = err(&testdeb::ar(&members));
        assert!(
            matches!(
                &e,
                Error::MemberOrder { member: m, expected: x, .. }
                    if m == member && *x == expected
            ),
            "{e}"
        );
    }
    let e = err(&testdeb::ar(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar", &control),
    ]));
    assert!(matches!(
        e,
        Error::MissingMember {
            expected: "a data.tar member",
            ..
        }
    ));
    let e = err(&testdeb::ar(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar.bz2", b"BZh"),
    ]));
    assert!(matches!(
        &e,
        Error::UnknownCompression { member, .. }
            if member == "control.tar.bz2"
    ));
    let e = err(&testdeb::ar(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar", &control),
        ("data.tar.lzma", b""),
    ]));
    assert!(matches!(e, Error::UnknownCompression { .. }));
}

#[test]
fn refuses_bad_control_archives() {
    let bad = |tar: Vec<u8>| err(&deb(&tar, &sample_data(), Compression::Gzip));
    let no_control = Tar::new()
        .dir("./", 0o755)
        .file("./postinst", 0o755, b"")
        .finish();
    assert!(matches!(bad(no_control), Error::MissingControl { .. }));
    for (field, text) in [
        ("Package", "Version: 1\nArchitecture: all\n"),
        ("Version", "Package: a\nArchitecture: all\n"),
        ("Architecture", "Package: a\nVersion: 1\nArchitecture:\n"),
    ] {
        let e = bad(control_tar(text));
        assert!(
            matches!(
                &e,
                Error::MissingControlField { field: f, .. }
                    if *f == field
            ),
            "{e}"
        );
    }
    let two = format!("{CONTROL}\n{CONTROL}");
    assert!(matches!(
        bad(control_tar(&two)),
        Error::BadControl {
            source: ControlError::Paragraphs(2),
            ..
        }
    ));
    assert!(matches!(
        bad(control_tar("")),
        Error::BadControl {
            source: ControlError::Paragraphs(0),
            ..
        }
    ));
    assert!(matches!(
        bad(control_tar(" orphan\n")),
        Error::BadControl {
            source: ControlError::Syntax(_),
            ..
        }
    ));
    let latin1 = Tar::new()
        .file("./control", 0o644, b"Package: caf\xe9\n")
        .finish();
    assert!(matches!(
        bad(latin1),
        Error::BadControl {
            source: ControlError::NotUtf8,
            ..
        }
    ));
    let nested = Tar::new()
        .file("./control", 0o644, CONTROL.as_bytes())
        .file("./sub/postinst", 0o755, b"")
        .finish();
    let e = bad(nested);
    assert!(
        matches!(
            &e,
            Error::BadControlMember {
                reason: "not directly under ./",
                ..
            }
        ),
        "{e}"
    );
    let link = Tar::new()
        .file("./control", 0o644, CONTROL.as_bytes())
        .symlink("./postinst", "/etc/shadow")
        .finish();
    assert!(matches!(
        bad(link),
        Error::BadControlMember {
            reason: "not a regular file",
            ..
        }
    ));
    let dup = Tar::new()
        .file("./control", 0o644, CONTROL.as_bytes())
        .file("./control", 0o644, CONTROL.as_bytes())
        .finish();
    assert!(matches!(
        bad(dup),
        Error::BadControlMember {
            reason: "appears twice",
            ..
        }
    ));
    let escape = Tar::new()
        .file("./../control", 0o644, CONTROL.as_bytes())
        .finish();
    assert!(matches!(bad(escape), Error::BadPath { .. }));
}

#[test]
fn stops_a_decompression_bomb_early() {
    const MIB: u64 = 1 << 20;
    // One file of 64 MiB of zeros: refused by its declared size before
    // any of it is decompressed.
    let zeros = vec![0u8; 64 << 20];
    let data = Tar::new()
        .dir("./", 0o755)
        .file("./zeros", 0o644, &zeros)
        .finish();
    let bomb = deb(&control_tar(CONTROL), &data, Compression::Xz);
    drop(data);
    assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
    let start = Instant::now();
    let e = read_limited(&bomb, 16 * MIB, 1000).unwrap_err();
    assert!(
        matches!(
            e,
            Error::LimitExceeded { limit: Limit::Bytes, max, .. }
                if max == 16 * MIB
        ),
        "{e}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );

    // A 64 MiB pax header, which the tar crate reads into memory before
    // the entry: stopped by the streaming count of header bytes (1 MiB),
    // before the package's 16 MiB.
    let huge = vec![b'a'; 64 << 20];
    let data = Tar::new()
        .dir("./", 0o755)
        .pax_file("./x", b"x", &[("comment", &huge)])
        .finish();
    let bomb = deb(&control_tar(CONTROL), &data, Compression::Zstd);
    drop(data);
    let start = Instant::now();
    let e = read_limited(&bomb, 16 * MIB, 1000).unwrap_err();
    assert!(
        matches!(
            e,
            Error::LimitExceeded {
                limit: Limit::HeaderBytes,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );

    // 64 MiB of zeros after the end of the tar archive.
    let mut data = Tar::new().dir("./", 0o755).finish();
    data.extend_from_slice(&zeros);
    let bomb = deb(&control_tar(CONTROL), &data, Compression::Gzip);
    let e = read_limited(&bomb, 16 * MIB, 1000).unwrap_err();
    assert!(
        matches!(
            e,
            Error::LimitExceeded {
                limit: Limit::Bytes,
                ..
            }
        ),
        "{e}"
    );

    // The same packages pass with the default limits.
    assert!(read(&bomb).is_ok());
}

#[test]
fn bounds_the_tar_headers_held_in_memory() {
    // The tar crate reads a pax header or a GNU long name whole into
    // memory before it yields the entry: 2 MiB of either is refused by
    // the header cap, not held up to `max_bytes` (4 GiB by default).
    const MIB: u64 = 1 << 20;
    let huge = vec![b'a'; 2 << 20];
    let pax = Tar::new()
        .dir("./", 0o755)
        .pax_file("./x", b"x", &[("comment", &huge)])
        .finish();
    let name = format!("./{}", "d/".repeat(1 << 20));
    let long = Tar::new().dir("./", 0o755).long_file(&name, b"x").finish();
    for data in [pax, long] {
        let bomb = deb(&control_tar(CONTROL), &data, Compression::Zstd);
        let e = read_limited(&bomb, 1 << 30, 1000).unwrap_err();
        assert!(
            matches!(
                e,
                Error::LimitExceeded {
                    limit: Limit::HeaderBytes,
                    max,
                    ..
                } if max == MIB
            ),
            "{e}"
        );
    }
    // A directory entry that carries data (dpkg-deb never writes one)
    // is read past as data, not counted as headers.
    let data = Tar::new()
        .dir("./", 0o755)
        .raw(b"./d/", b'5', 0o755, &huge, b"")
        .finish();
    let bytes = with_data(&data);
    assert!(read_limited(&bytes, 1 << 30, 1000).is_ok());
}

#[test]
fn refuses_too_many_entries() {
    let mut t = Tar::new();
    t.dir("./", 0o755);
    for i in 0..20 {
        t.file(&format!("./f{i}"), 0o644, b"");
    }
    let bytes = with_data(&t.finish());
    // Four of them are the control archive's.
    assert!(read_limited(&bytes, 1 << 30, 25).is_ok());
    let e = read_limited(&bytes, 1 << 30, 24).unwrap_err();
    assert!(
        matches!(
            e,
            Error::LimitExceeded {
                limit: Limit::Entries,
                max: 24,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn mutated_packages_never_panic() {
    let limits = Limits {
        max_bytes: 4 << 20,
        max_entries: 1000,
    };
    let s = spool();
    for (c, rounds) in [
        (Compression::None, 2000),
        (Compression::Gzip, 2000),
        (Compression::Xz, 500),
        (Compression::Zstd, 500),
    ] {
        let seed = deb(&control_tar(CONTROL), &sample_data(), c);
        let mut rng = testdeb::Rng(0x6c75_6e66_6f72_6765 ^ c as u64);
        let (mut ok, mut refused) = (0, 0);
        for _ in 0..rounds {
            let bytes = testdeb::mutate(&mut rng, &seed);
            match read_deb_from(&bytes[..], "fuzz 1", &s, &limits) {
                Ok(u) => {
                    ok += 1;
                    let mut tree = Tree::new(0).unwrap();
                    // Either outcome is fine; it must not panic.
                    let _ = apply(&mut tree, &u);
                }
                Err(e) => {
                    refused += 1;
                    assert!(!e.to_string().is_empty());
                }
            }
        }
        eprintln!("{c:?}: {ok} accepted, {refused} refused");
        assert!(refused > rounds / 2, "{c:?}: mutations mostly refused");
    }
}

// -------------------------------------------------------------- read_all

#[test]
fn read_all_keeps_input_order_and_reports_the_earliest_failure() {
    let dir = tempfile::tempdir().unwrap();
    let mut debs = Vec::new();
    for i in 0..7 {
        let control =
            CONTROL.replace("Package: hello", &format!("Package: p{i}"));
        let bytes = deb(&control_tar(&control), &sample_data(), ALL[i % 4]);
        let path = dir.path().join(format!("p{i}.deb"));
        fs::write(&path, bytes).unwrap();
        debs.push((path, format!("p{i} 1")));
    }
    let s = spool();
    let all = read_all(&debs, &s, &Limits::default(), 3).unwrap();
    let names: Vec<&str> = all.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["p0", "p1", "p2", "p3", "p4", "p5", "p6"]);
    assert_eq!(read_all(&[], &s, &Limits::default(), 3).unwrap().len(), 0);

    // Of two broken packages the larger is started first and reported,
    // however many threads run.
    fs::write(&debs[2].0, b"garbage").unwrap();
    fs::write(&debs[5].0, b"more garbage").unwrap();
    for jobs in [1, 2, 8] {
        let e = read_all(&debs, &s, &Limits::default(), jobs).unwrap_err();
        assert!(
            matches!(&e, Error::NotADeb { package, .. } if package == "p5 1"),
            "{e}"
        );
    }
    fs::write(&debs[5].0, b"garbage").unwrap();
    for jobs in [1, 2, 8] {
        let e = read_all(&debs, &s, &Limits::default(), jobs).unwrap_err();
        assert!(
            matches!(&e, Error::NotADeb { package, .. } if package == "p2 1"),
            "equal sizes go in input order: {e}"
        );
    }
    debs[2].0 = dir.path().join("missing.deb");
    debs[5].0 = debs[0].0.clone();
    let e = read_all(&debs, &s, &Limits::default(), 2).unwrap_err();
    assert!(matches!(e, Error::Open { .. }), "{e}");
}

// ------------------------------------------------------ real dpkg-deb

fn dpkg_deb() -> Command {
    let c = Command::new("dpkg-deb");
    assert!(
        Command::new("dpkg-deb").arg("--version").output().is_ok(),
        "dpkg-deb not found: install the Debian package dpkg"
    );
    c
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A staging directory for `dpkg-deb --build` with every kind of entry.
fn staging(root: &Path) {
    let w = |rel: &str, data: &[u8], mode: u32| {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, data).unwrap();
        set_mode(&path, mode);
    };
    fs::create_dir_all(root.join("DEBIAN")).unwrap();
    set_mode(&root.join("DEBIAN"), 0o755);
    w("DEBIAN/control", CONTROL.as_bytes(), 0o644);
    w("DEBIAN/postinst", b"#!/bin/sh\nset -e\n", 0o755);
    w("DEBIAN/conffiles", b"/etc/hello.conf\n", 0o644);
    w("etc/hello.conf", b"greeting=hi\n", 0o644);
    w("usr/bin/hello", b"#!/bin/sh\necho hello\n", 0o755);
    w("usr/bin/su", b"setuid root", 0o4755);
    w("usr/bin/wall", b"setgid", 0o2755);
    std::os::unix::fs::symlink("hello", root.join("usr/bin/hi")).unwrap();
    std::os::unix::fs::symlink("/etc/hello.conf", root.join("usr/bin/abs"))
        .unwrap();
    fs::hard_link(root.join("usr/bin/hello"), root.join("usr/bin/hello2"))
        .unwrap();
    let medium: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    w("usr/share/hello/medium", &medium, 0o644);
    // Over the in-memory buffer: spooled while streaming.
    let large: Vec<u8> = (0..9_500_000u32)
        .map(|i| (i % 253) as u8 ^ (i >> 20) as u8)
        .collect();
    w("usr/share/hello/large", &large, 0o644);
    w("usr/share/hello/empty", b"", 0o600);
    fs::create_dir_all(root.join("var/lib/hello")).unwrap();
    set_mode(&root.join("var/lib/hello"), 0o1777);
    let fifo = root.join("var/lib/hello/fifo");
    let st = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(st.success());
    set_mode(&fifo, 0o640);
    for d in [
        "etc",
        "usr",
        "usr/bin",
        "usr/share",
        "usr/share/hello",
        "var",
        "var/lib",
    ] {
        set_mode(&root.join(d), 0o755);
    }
    set_mode(root, 0o755);
}

/// Compare what was read with the staging directory it was built from.
fn compare_with_staging(root: &Path, u: &Unpacked, spool: &Spool) {
    let mut expected = Vec::new();
    walk(root, root, &mut expected);
    expected.sort();
    let mut got: Vec<String> =
        u.entries.iter().map(|e| e.path.to_string()).collect();
    got.sort();
    assert_eq!(got, expected);
    let mut links = 0;
    for e in &u.entries {
        let host = root.join(e.path.relative());
        let md = fs::symlink_metadata(&host).unwrap();
        assert_eq!((e.meta.uid, e.meta.gid), (0, 0), "{}", e.path);
        assert_eq!(e.meta.mtime, 1_700_000_000, "{}", e.path);
        match &e.kind {
            EntryKind::File(c) => {
                assert!(md.is_file());
                assert_eq!(
                    spool.read(c).unwrap(),
                    fs::read(&host).unwrap(),
                    "{}",
                    e.path
                );
            }
            EntryKind::Dir => assert!(md.is_dir()),
            EntryKind::Symlink(t) => {
                assert_eq!(Path::new(t), fs::read_link(&host).unwrap());
            }
            EntryKind::HardLink(t) => {
                links += 1;
                let other =
                    fs::symlink_metadata(root.join(t.relative())).unwrap();
                assert_eq!(other.ino(), md.ino(), "{} -> {t}", e.path);
            }
            EntryKind::Fifo => {
                use std::os::unix::fs::FileTypeExt;
                assert!(md.file_type().is_fifo());
            }
        }
        if !matches!(e.kind, EntryKind::Symlink(_) | EntryKind::HardLink(_)) {
            assert_eq!(e.meta.mode, md.mode() & 0o7777, "{}", e.path);
        }
    }
    assert_eq!(links, 1);
    assert_eq!(u.control, CONTROL);
    assert_eq!(u.control_files["postinst"].mode, 0o755);
    assert_eq!(u.control_files["conffiles"].data, b"/etc/hello.conf\n");
    assert!(
        u.control_files.contains_key("md5sums"),
        "dpkg-deb adds md5sums"
    );
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let rel = dir.strip_prefix(root).unwrap();
    out.push(
        format!("/{}", rel.display())
            .replace("//", "/")
            .trim_end_matches('/')
            .to_string(),
    );
    if out.last().is_some_and(String::is_empty) {
        *out.last_mut().unwrap() = "/".into();
    }
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if dir == root && entry.file_name() == "DEBIAN" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            walk(root, &path, out);
        } else {
            out.push(format!(
                "/{}",
                path.strip_prefix(root).unwrap().display()
            ));
        }
    }
}

#[test]
fn reads_packages_built_by_dpkg_deb() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    staging(&root);
    // md5sums as dpkg-deb expects it to have been made by dh_md5sums.
    let sums = Command::new("sh")
        .arg("-c")
        .arg("find etc usr -type f | sort | xargs md5sum > DEBIAN/md5sums")
        .current_dir(&root)
        .status()
        .unwrap();
    assert!(sums.success());
    for (flag, member) in [
        ("xz", "data.tar.xz"),
        ("zstd", "data.tar.zst"),
        ("gzip", "data.tar.gz"),
        ("none", "data.tar"),
    ] {
        let out = dir.path().join(format!("hello-{flag}.deb"));
        let built = dpkg_deb()
            .args(["--root-owner-group", &format!("-Z{flag}"), "--build"])
            .arg(&root)
            .arg(&out)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .unwrap();
        assert!(
            built.status.success(),
            "{}",
            String::from_utf8_lossy(&built.stderr)
        );
        let bytes = fs::read(&out).unwrap();
        let mut ar = ar::ArReader::new(&bytes[..]).unwrap();
        let mut members = Vec::new();
        while let Some(h) = ar.next_member().unwrap() {
            members.push(h.name);
        }
        assert_eq!(members[2], member, "{members:?}");
        let s = spool();
        let u = read_deb(&out, "hello 1.0-1", &s, &Limits::default())
            .unwrap_or_else(|e| panic!("{flag}: {e}"));
        compare_with_staging(&root, &u, &s);
        let mut tree = Tree::new(0).unwrap();
        let u = read_deb(&out, "hello 1.0-1", tree.spool(), &Limits::default())
            .unwrap();
        apply(&mut tree, &u).unwrap();
        let a = tree.id(&p("/usr/bin/hello")).unwrap();
        assert_eq!(tree.id(&p("/usr/bin/hello2")), Some(a));
    }
}

// ------------------------------------------------ a real archive package

/// The packages read by the real-package test.
const REAL: [&str; 2] = ["dash", "base-files"];

/// Real `dash` and `base-files` packages from the benchmark mirror or,
/// failing that, from lunforge's download cache (content-addressed
/// files, recognised by `dpkg-deb -f FILE Package`), as many as this
/// machine has.
fn real_packages() -> Vec<PathBuf> {
    let pool = Path::new("/root/.cache/lunforge-bench/mirror/pool/main");
    let mut found = Vec::new();
    for name in REAL {
        let dir = pool.join(&name[..1]).join(name);
        let mut debs: Vec<PathBuf> = fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "deb"))
            .collect();
        debs.sort();
        found.extend(debs.pop());
    }
    if !found.is_empty() {
        return found;
    }
    let mut files = Vec::new();
    let cache = fs::read_dir("/tmp/lfcache/sha256").into_iter().flatten();
    for sub in cache.flatten() {
        for f in fs::read_dir(sub.path()).into_iter().flatten().flatten() {
            files.push(f.path());
        }
    }
    files.sort();
    let mut wanted: Vec<&str> = REAL.to_vec();
    for f in files {
        if wanted.is_empty() {
            break;
        }
        let Ok(out) = Command::new("dpkg-deb")
            .arg("-f")
            .arg(&f)
            .arg("Package")
            .output()
        else {
            break;
        };
        let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && wanted.contains(&name.as_str()) {
            wanted.retain(|w| *w != name);
            found.push(f);
        }
    }
    found
}

#[test]
fn reads_real_archive_packages_like_dpkg_deb() {
    let debs = real_packages();
    if debs.is_empty() {
        println!(
            "NOTE: skipped: no dash or base-files .deb under \
             /root/.cache/lunforge-bench/mirror/pool or /tmp/lfcache"
        );
    }
    for deb in debs {
        eprintln!("reading {}", deb.display());
        real_package_matches_dpkg_deb(&deb);
    }
}

fn real_package_matches_dpkg_deb(deb: &Path) {
    let mut tree = Tree::new(0).unwrap();
    let u = read_deb(deb, "real", tree.spool(), &Limits::default()).unwrap();
    let field = |f: &str| {
        let o = Command::new("dpkg-deb")
            .arg("-f")
            .arg(deb)
            .arg(f)
            .output()
            .unwrap();
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    };
    assert_eq!(u.name, field("Package"));
    let info = Command::new("dpkg-deb")
        .arg("-I")
        .arg(deb)
        .output()
        .unwrap();
    let info = String::from_utf8(info.stdout).unwrap();
    for name in u.control_files.keys() {
        assert!(info.contains(name.as_str()), "{name} not in dpkg-deb -I");
    }
    // `dpkg-deb -c` with numeric owners lists every entry with its mode,
    // owner, size and link.
    let listing = Command::new("sh")
        .arg("-c")
        .arg("dpkg-deb --fsys-tarfile \"$1\" | tar -tv --numeric-owner -f -")
        .arg("sh")
        .arg(deb)
        .output()
        .unwrap();
    assert!(listing.status.success());
    let listing = String::from_utf8(listing.stdout).unwrap();
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), u.entries.len());
    for (line, e) in lines.iter().zip(&u.entries) {
        // `hrwxr-xr-x 0/0 0 2025-03-04 03:37 ./a link to ./b`
        let mut cols = line.split_whitespace();
        let perms = cols.next().unwrap();
        assert_eq!(perms, mode_string(e.kind.letter(), e.meta.mode), "{line}");
        let owner = format!("{}/{}", e.meta.uid, e.meta.gid);
        assert_eq!(cols.next(), Some(owner.as_str()), "{line}");
        let name = match e.kind {
            EntryKind::Dir if !e.path.is_root() => format!(" .{}/", e.path),
            _ => format!(" .{}", e.path),
        };
        assert!(line.contains(&name), "{line} vs {}", e.path);
        match &e.kind {
            EntryKind::Symlink(t) => {
                assert!(line.ends_with(&format!(" -> {t}")), "{line}")
            }
            EntryKind::HardLink(t) => {
                assert!(line.ends_with(&format!(" link to .{t}")), "{line}")
            }
            _ => {}
        }
    }
    // Every file byte-identical to what dpkg-deb extracts.
    let dir = tempfile::tempdir().unwrap();
    let st = Command::new("dpkg-deb")
        .arg("-x")
        .arg(deb)
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(st.success());
    let mut files = 0;
    for e in &u.entries {
        if let EntryKind::File(c) = &e.kind {
            let host = dir.path().join(e.path.relative());
            assert_eq!(
                tree.spool().read(c).unwrap(),
                fs::read(&host).unwrap(),
                "{}",
                e.path
            );
            files += 1;
        }
    }
    assert!(files > 0);
    let listed = apply(&mut tree, &u).unwrap();
    assert_eq!(listed.len(), u.entries.len());
}

/// `-rwsr-xr-x`: the type letter, then the permissions with the setuid,
/// setgid and sticky letters, as `tar -tv` prints them.
fn mode_string(letter: char, mode: u32) -> String {
    let mut s = String::from(letter);
    for (shift, special, ch) in
        [(6, 0o4000, 's'), (3, 0o2000, 's'), (0, 0o1000, 't')]
    {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        let x = bits & 1 != 0;
        s.push(match (mode & special != 0, x) {
            (true, true) => ch,
            (true, false) => ch.to_ascii_uppercase(),
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

// --------------------------------------------------------------- errors

#[test]
fn error_messages() {
    const PKG: &str = "dash 0.5.12-12";
    let pkg = || PKG.to_string();
    let check = |e: Error, want: &str| {
        assert_eq!(e.to_string(), format!("{PKG}: {want}"));
    };
    let io = std::io::Error::other;
    check(
        Error::Open {
            package: pkg(),
            path: "/x.deb".into(),
            source: std::io::ErrorKind::NotFound.into(),
        },
        "cannot open /x.deb: entity not found",
    );
    check(
        Error::NotADeb {
            package: pkg(),
            source: ar::Error::BadMagic,
        },
        "not a .deb: no ar magic \"!<arch>\" at the start",
    );
    check(
        Error::BadVersion {
            package: pkg(),
            found: "3.0\\n".into(),
        },
        "debian-binary holds \"3.0\\n\", expected format version 2.x",
    );
    check(
        Error::MemberOrder {
            package: pkg(),
            member: "data.tar.xz".into(),
            expected: "a control.tar member",
        },
        "ar member data.tar.xz where a control.tar member was expected",
    );
    check(
        Error::MissingMember {
            package: pkg(),
            expected: "a data.tar member",
        },
        "the archive ends before a data.tar member",
    );
    check(
        Error::UnknownCompression {
            package: pkg(),
            member: "data.tar.bz2".into(),
        },
        "ar member data.tar.bz2: unknown compression",
    );
    check(
        Error::Truncated {
            package: pkg(),
            member: "data.tar.xz: ./usr/bin/dash".into(),
            source: std::io::ErrorKind::UnexpectedEof.into(),
        },
        "data.tar.xz: ./usr/bin/dash is truncated: unexpected end of file",
    );
    check(
        Error::Corrupt {
            package: pkg(),
            member: "data.tar.xz".into(),
            source: io("bad header"),
        },
        "data.tar.xz is corrupt: bad header",
    );
    check(
        Error::Spool {
            package: pkg(),
            source: io("no space"),
        },
        "content spool: no space",
    );
    check(
        Error::LimitExceeded {
            package: pkg(),
            limit: Limit::Bytes,
            max: 16,
        },
        "more than 16 unpacked bytes",
    );
    check(
        Error::BadPath {
            package: pkg(),
            source: tree::path::Error::Absolute("/etc/passwd".into()),
        },
        "archive member \"/etc/passwd\" is absolute",
    );
    check(
        Error::NotUtf8 {
            package: pkg(),
            what: "member name",
            name: "./caf\u{fffd}".into(),
        },
        "member name is not UTF-8: ./caf\u{fffd}",
    );
    check(
        Error::DeviceNode {
            package: pkg(),
            path: p("/dev/sda"),
            kind: "block device",
        },
        "/dev/sda is a block device; packages must not ship device nodes",
    );
    check(
        Error::UnsupportedEntry {
            package: pkg(),
            path: "./s".into(),
            type_flag: "S".into(),
        },
        "./s has the unsupported tar entry type 'S'",
    );
    check(
        Error::HardLinkTarget {
            package: pkg(),
            path: p("/a"),
            target: p("/b"),
        },
        "hard link /a -> /b: the target is not an earlier non-directory \
         entry of the archive",
    );
    check(
        Error::EmptyLinkTarget {
            package: pkg(),
            path: p("/l"),
        },
        "symlink /l has an empty target",
    );
    check(
        Error::BadControlMember {
            package: pkg(),
            member: "./sub/x".into(),
            reason: "not directly under ./",
        },
        "control member ./sub/x: not directly under ./",
    );
    check(
        Error::MissingControl { package: pkg() },
        "the control archive has no ./control file",
    );
    check(
        Error::BadControl {
            package: pkg(),
            source: ControlError::Paragraphs(2),
        },
        "control file holds 2 paragraphs, expected 1",
    );
    check(
        Error::BadControl {
            package: pkg(),
            source: ControlError::NotUtf8,
        },
        "control file is not UTF-8",
    );
    check(
        Error::BadControl {
            package: pkg(),
            source: ControlError::Syntax(deb822::Error::OrphanContinuation {
                line: 1,
            }),
        },
        "control file: line 1: continuation line without a field",
    );
    check(
        Error::MissingControlField {
            package: pkg(),
            field: "Version",
        },
        "the control file has no Version field",
    );
    check(
        Error::Tree {
            package: pkg(),
            path: p("/x/evil"),
            source: tree::Error::NotFound { path: p("/x") },
        },
        "/x: no such file or directory",
    );
}
