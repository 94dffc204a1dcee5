//! Hostile packages, served from a correctly signed repository whose
//! index lists their bytes, so that only the unpacking stands between
//! them and the build: each must stop `lunforge build` with an error
//! naming the package and what is wrong, and leave no tarball behind.
//! (The unit tests of `src/unpack` cover each case, bombs included, at
//! the reader; these prove the whole build refuses them.)

use std::io::Write;

use crate::support::testrepo::{Pkg, TestRepo};
use crate::support::Site;

/// An ar archive of `members` (name, bytes), as `.deb` uses it.
fn ar(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = b"!<arch>\n".to_vec();
    for (name, data) in members {
        let header = format!(
            "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
            name,
            0,
            0,
            0,
            "100644",
            data.len()
        );
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

/// The members of an ar archive.
fn ar_members(deb: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 8;
    while pos + 60 <= deb.len() {
        let h = &deb[pos..pos + 60];
        let name = String::from_utf8_lossy(&h[..16])
            .trim()
            .trim_end_matches('/')
            .to_string();
        let size: usize = String::from_utf8_lossy(&h[48..58])
            .trim()
            .parse()
            .expect("ar size");
        let start = pos + 60;
        out.push((name, deb[start..start + size].to_vec()));
        pos = start + size + size % 2;
    }
    out
}

/// A ustar member: name, type flag, link target, body.
fn tar_member(name: &str, kind: u8, link: &str, body: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    let octal = |h: &mut [u8; 512], at: usize, len: usize, v: u64| {
        let s = format!("{:0w$o}\0", v, w = len - 1);
        h[at..at + len].copy_from_slice(s.as_bytes());
    };
    octal(&mut h, 100, 8, if kind == b'5' { 0o755 } else { 0o644 });
    octal(&mut h, 108, 8, 0);
    octal(&mut h, 116, 8, 0);
    octal(&mut h, 124, 12, body.len() as u64);
    octal(&mut h, 136, 12, 1_700_000_000);
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    if kind == b'3' {
        octal(&mut h, 329, 8, 1);
        octal(&mut h, 337, 8, 3);
    }
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(body);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

/// The `.deb` with its data member replaced by a gzipped tar of
/// `members` (plus the end-of-archive blocks).
fn with_data(deb: Vec<u8>, members: &[Vec<u8>]) -> Vec<u8> {
    let mut tar: Vec<u8> = members.concat();
    tar.extend_from_slice(&[0u8; 1024]);
    let mut gz = flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    );
    gz.write_all(&tar).expect("gzip");
    let data = gz.finish().expect("gzip");
    let mut parts: Vec<(String, Vec<u8>)> = ar_members(&deb)
        .into_iter()
        .filter(|(n, _)| !n.starts_with("data.tar"))
        .collect();
    parts.push(("data.tar.gz".into(), data));
    let refs: Vec<(&str, Vec<u8>)> =
        parts.iter().map(|(n, d)| (n.as_str(), d.clone())).collect();
    ar(&refs)
}

fn dir(name: &str) -> Vec<u8> {
    tar_member(name, b'5', "", b"")
}

fn traversal(deb: Vec<u8>) -> Vec<u8> {
    with_data(
        deb,
        &[
            dir("./"),
            tar_member("./../../../tmp/lunforge-evil", b'0', "", b"x"),
        ],
    )
}

fn absolute(deb: Vec<u8>) -> Vec<u8> {
    with_data(
        deb,
        &[dir("./"), tar_member("/etc/lunforge-evil", b'0', "", b"x")],
    )
}

fn symlink_escape(deb: Vec<u8>) -> Vec<u8> {
    with_data(
        deb,
        &[
            dir("./"),
            tar_member("./up", b'2', "../../../../../tmp", b""),
            tar_member("./up/lunforge-evil", b'0', "", b"x"),
        ],
    )
}

fn device(deb: Vec<u8>) -> Vec<u8> {
    with_data(
        deb,
        &[
            dir("./"),
            dir("./dev/"),
            tar_member("./dev/lunforge-null", b'3', "", b""),
        ],
    )
}

/// The data member cut short (the ar archive around it stays valid, so
/// the repository's index still lists the package).
fn truncated(deb: Vec<u8>) -> Vec<u8> {
    let parts: Vec<(String, Vec<u8>)> = ar_members(&deb)
        .into_iter()
        .map(|(n, mut d)| {
            if n.starts_with("data.tar") {
                d.truncate(d.len() / 2);
            }
            (n, d)
        })
        .collect();
    let refs: Vec<(&str, Vec<u8>)> =
        parts.iter().map(|(n, d)| (n.as_str(), d.clone())).collect();
    ar(&refs)
}

fn corrupt(mut deb: Vec<u8>) -> Vec<u8> {
    let n = deb.len();
    for b in &mut deb[n - 40..n - 20] {
        *b ^= 0x5a;
    }
    deb
}

/// Build a one-hostile-package suite; return lunforge's error.
fn build_fails(mangle: fn(Vec<u8>) -> Vec<u8>) -> String {
    let site = Site::new(
        TestRepo::new("hostile")
            .package(Pkg::new("fine", "1.0").essential())
            .package(Pkg::new("evil", "1.0").essential().mangled(mangle))
            .build(),
    );
    let out = site.work.path().join("out");
    let err = site
        .run(
            "build",
            &site.recipe(),
            &[
                "-o",
                out.to_str().expect("utf-8 path"),
                "--configure",
                "firstboot",
            ],
        )
        .fails();
    let left: Vec<_> = std::fs::read_dir(&out)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "output left behind: {left:?}");
    assert!(
        !std::path::Path::new("/tmp/lunforge-evil").exists(),
        "a hostile package wrote on the host"
    );
    err
}

#[track_caller]
fn names(err: &str, parts: &[&str]) {
    for p in parts {
        assert!(err.contains(p), "{p:?} not in:\n{err}");
    }
}

#[test]
fn path_traversal_is_refused() {
    names(&build_fails(traversal), &["evil 1.0", "\"..\""]);
}

#[test]
fn absolute_member_is_refused() {
    names(
        &build_fails(absolute),
        &["evil 1.0", "/etc/lunforge-evil", "absolute"],
    );
}

#[test]
fn write_through_an_escaping_symlink_is_refused() {
    names(
        &build_fails(symlink_escape),
        &["evil 1.0", "/up", "outside the root"],
    );
}

#[test]
fn device_node_is_refused() {
    names(&build_fails(device), &["evil 1.0", "lunforge-null"]);
}

#[test]
fn truncated_deb_is_refused() {
    names(&build_fails(truncated), &["evil 1.0"]);
}

#[test]
fn corrupt_deb_is_refused() {
    names(&build_fails(corrupt), &["evil 1.0"]);
}
