//! Reproducible builds, proven on the local signed repository: one
//! recipe built three times, twice from an empty download cache and
//! once from the first build's warm cache, each into another output
//! path, from another working directory, with another `TMPDIR` and
//! `SOURCE_DATE_EPOCH` unset (the signed Release's date decides it).
//! Every file the builds write (the disk image, and whatever `OUT/`
//! holds besides: the manifest, the SBOM) has the same name and the
//! same SHA-256 in all three; so has the root file system's tarball.
//! `make repro` does the same with the built-in recipe and the host's
//! mirror, kernel, initrd and host files included.
//!
//! Oracle: SHA-256 of the files as written, by `sha256sum`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::support::testrepo::{Pkg, TestRepo};
use crate::support::{finish, lunforge_cmd, Site};

fn site() -> Site {
    Site::new(
        TestRepo::new("repro")
            .package(
                Pkg::new("repro-base", "1.0")
                    .essential()
                    .depends("repro-lib"),
            )
            .package(Pkg::new("repro-lib", "2.0-1").payload(300_000))
            .package(Pkg::new("repro-tool", "0.9").essential().payload(40_000))
            .build(),
    )
}

/// Every file under `dir` by its path relative to `dir`, with its
/// SHA-256 as `sha256sum` prints it.
fn sums(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                todo.push(p);
                continue;
            }
            let run = Command::new("sha256sum")
                .arg(&p)
                .output()
                .expect("sha256sum");
            assert!(run.status.success(), "sha256sum {}", p.display());
            let text = String::from_utf8_lossy(&run.stdout);
            let sum =
                text.split_whitespace().next().expect("a sum").to_string();
            let rel = p.strip_prefix(dir).expect("below dir");
            out.insert(rel.display().to_string(), sum);
        }
    }
    out
}

#[test]
fn three_builds_in_three_places_are_the_same_bytes() {
    let site = site();
    let recipe = site.recipe().small_disk_text("ext4");
    let path = site.work.path().join("repro.toml");
    std::fs::write(&path, &recipe).expect("recipe");
    // (cache, whether it is the first build's, format)
    let runs = [
        ("cache-a", "image"),
        ("cache-b", "image"),
        ("cache-a", "image"),
        ("cache-c", "tar"),
        ("cache-c", "tar"),
    ];
    let mut seen: BTreeMap<&str, Vec<BTreeMap<String, String>>> =
        BTreeMap::new();
    for (i, (cache, format)) in runs.iter().enumerate() {
        let place = site.work.path().join(format!("place-{i}"));
        let tmp = place.join("tmp");
        let out = place.join("deep").join("out");
        std::fs::create_dir_all(&tmp).expect("tmp");
        let cache = site.work.path().join(cache);
        let extra = [
            "-q",
            "-o",
            out.to_str().expect("utf-8"),
            "--configure",
            "firstboot",
            "--format",
            format,
        ];
        let args = site.args("build", &path, &cache, &extra);
        let (mut cmd, shown) = lunforge_cmd(args);
        cmd.current_dir(&place)
            .env("TMPDIR", &tmp)
            .env_remove("SOURCE_DATE_EPOCH");
        finish(shown, cmd.output()).ok();
        let files = sums(&out);
        assert!(!files.is_empty(), "build {i} wrote nothing");
        seen.entry(format).or_default().push(files);
    }
    for (format, builds) in &seen {
        for (i, b) in builds.iter().enumerate().skip(1) {
            assert_eq!(
                &builds[0], b,
                "{format}: build {i} differs from the first (names and \
                 SHA-256 of every file)"
            );
        }
    }
    // What each build wrote: the disk or the tarball, and beside it the
    // record of the build (no kernel in this suite: no boot files).
    for (format, main) in [("image", "testguest.img"), ("tar", "testguest.tar")]
    {
        let names: Vec<&str> =
            seen[format][0].keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                main,
                "testguest/SHA256SUMS",
                "testguest/manifest.json",
                "testguest/sbom.spdx.json",
            ],
            "{format}"
        );
    }
}
