//! The repository client's trust chain, through the `lunforge` binary,
//! against a repository whose `Release` was written by `apt-ftparchive`
//! and signed by `gpg` (`--clearsign` for `InRelease`, `--detach-sign`
//! for `Release.gpg`), then tampered with after signing.
//!
//! Oracle: gpg made the signatures and apt-ftparchive the digests, so a
//! change of one byte anywhere must be refused, by the file's name and
//! the reason; and nothing from a refused suite may reach the lockfile
//! or the download cache.

use std::path::Path;

use crate::support::gpg::keys;
use crate::support::testrepo::{Pkg, Signing, TestRepo};
use crate::support::{
    assert_in_order, files_under, lunforge, sha256_hex, Run, Site,
};

fn repo(signing: Signing, by_hash: bool) -> Site {
    let mut r = TestRepo::new("trust")
        .signing(signing)
        .package(Pkg::new("core-pkg", "1.0").essential().depends("lib-pkg"))
        .package(Pkg::new("lib-pkg", "2.0-1"));
    if by_hash {
        r = r.by_hash();
    }
    Site::new(r.build())
}

const WANT: [&str; 2] = ["core-pkg 1.0 amd64", "lib-pkg 2.0-1 amd64"];

#[track_caller]
fn package_lines(run: Run) -> Vec<String> {
    let out = run.ok();
    let mut lines: Vec<String> =
        out.stdout.lines().map(str::to_string).collect();
    lines.pop();
    lines
}

/// The suite was refused: no lock was written and the cache holds no
/// file at all (no index, no package), whatever command ran.
#[track_caller]
fn nothing_was_kept(site: &Site) {
    for cmd in ["lock", "fetch"] {
        site.run(cmd, &site.recipe(), &[]).fails();
    }
    assert!(!site.lock_path().exists(), "a lock was written");
    let kept = files_under(&site.cache());
    assert!(kept.is_empty(), "cache entries kept: {:?}", kept.keys());
}

/// Flip one byte of `text` inside the first occurrence of `needle`.
fn alter(path: &Path, needle: &str, replacement: &str) {
    let text = std::fs::read_to_string(path).expect("read");
    assert_eq!(needle.len(), replacement.len(), "same size");
    assert!(
        text.contains(needle),
        "{needle:?} not in {}",
        path.display()
    );
    std::fs::write(path, text.replacen(needle, replacement, 1)).expect("write");
}

#[test]
fn inrelease_is_verified_and_indexes_are_read_by_hash() {
    let site = repo(Signing::Both, true);
    assert_eq!(
        package_lines(site.run("resolve", &site.recipe(), &[])),
        WANT
    );
    let log = site.server.requests();
    let dists = "dists/trust";
    let xz =
        std::fs::read(site.repo.dists().join("main/binary-amd64/Packages.xz"))
            .expect("read");
    assert_eq!(
        log,
        [
            format!("{dists}/InRelease"),
            format!(
                "{dists}/main/binary-amd64/by-hash/SHA256/{}",
                sha256_hex(&xz)
            ),
        ],
        "InRelease, then Packages.xz by hash; nothing else"
    );
    // A second run finds the index in the cache: only InRelease again.
    site.server.clear_log();
    site.run("resolve", &site.recipe(), &[]).ok();
    assert_eq!(site.server.requests(), [format!("{dists}/InRelease")]);
}

#[test]
fn missing_by_hash_copy_falls_back_to_the_index_name() {
    let site = repo(Signing::Both, true);
    let dir = site.repo.dists().join("main/binary-amd64/by-hash");
    std::fs::remove_dir_all(dir).expect("remove by-hash");
    assert_eq!(
        package_lines(site.run("resolve", &site.recipe(), &[])),
        WANT
    );
    assert_eq!(
        site.server
            .count("dists/trust/main/binary-amd64/Packages.xz"),
        1
    );
}

#[test]
fn lock_records_the_signed_release() {
    let site = repo(Signing::Both, false);
    site.run("lock", &site.recipe(), &[]).ok();
    let lock: toml::Value =
        toml::from_str(&std::fs::read_to_string(site.lock_path()).unwrap())
            .expect("lock is TOML");
    let inrelease = std::fs::read(site.repo.dists().join("InRelease")).unwrap();
    let rel = &lock["release"];
    assert_eq!(rel["path"].as_str(), Some("dists/trust/InRelease"));
    assert_eq!(rel["sha256"].as_str(), Some(&*sha256_hex(&inrelease)));
    assert_eq!(rel["signer"].as_str(), Some(&*keys().signing_fpr));
    assert_eq!(rel["codename"].as_str(), Some("trust"));
}

#[test]
fn detached_signature_is_used_without_inrelease() {
    let site = repo(Signing::Detached, false);
    assert_eq!(
        package_lines(site.run("resolve", &site.recipe(), &[])),
        WANT
    );
    assert_in_order(
        &site.server.requests().join("\n"),
        &[
            "dists/trust/InRelease",
            "dists/trust/Release",
            "dists/trust/Release.gpg",
        ],
    );
    site.run("lock", &site.recipe(), &[]).ok();
    let lock = std::fs::read_to_string(site.lock_path()).unwrap();
    assert!(lock.contains("path = \"dists/trust/Release\""), "{lock}");
    assert!(lock.contains(&keys().signing_fpr), "{lock}");
}

#[test]
fn altered_inrelease_is_a_bad_signature() {
    let site = repo(Signing::Both, false);
    // One byte of the signed text: "lunforge-tests" → "lunforge-tesus".
    alter(
        &site.repo.dists().join("InRelease"),
        "Origin: lunforge-tests",
        "Origin: lunforge-tesus",
    );
    let err = site.run("resolve", &site.recipe(), &[]).fails();
    assert_in_order(&err, &["dists/trust/InRelease", "bad signature"]);
    nothing_was_kept(&site);
}

#[test]
fn altered_release_with_detached_signature_is_a_bad_signature() {
    let site = repo(Signing::Both, false);
    std::fs::remove_file(site.repo.dists().join("InRelease")).unwrap();
    alter(
        &site.repo.dists().join("Release"),
        "Suite: trust",
        "Suite: trusT",
    );
    let err = site.run("resolve", &site.recipe(), &[]).fails();
    assert_in_order(&err, &["dists/trust/Release.gpg", "bad signature"]);
    nothing_was_kept(&site);
}

#[test]
fn text_outside_the_clearsigned_message_is_refused() {
    let site = repo(Signing::Both, false);
    let p = site.repo.dists().join("InRelease");
    let mut text = std::fs::read_to_string(&p).unwrap();
    text.push_str("Origin: evil\n");
    std::fs::write(&p, text).unwrap();
    let err = site.run("resolve", &site.recipe(), &[]).fails();
    assert!(err.contains("dists/trust/InRelease"), "{err}");
    nothing_was_kept(&site);
}

#[test]
fn key_not_in_the_keyring_is_named() {
    let site = repo(Signing::Both, false);
    let recipe = site.recipe().write(site.work.path());
    let other = site.repo.other_keyring();
    let run = lunforge([
        "resolve".as_ref(),
        recipe.as_os_str(),
        "--keyring".as_ref(),
        other.as_os_str(),
        "--cache".as_ref(),
        site.cache().as_os_str(),
    ]);
    let err = run.fails();
    let fpr = &keys().signing_fpr;
    let long_id = &fpr[fpr.len() - 16..];
    assert_in_order(
        &err,
        &["dists/trust/InRelease", long_id, "not in the keyring"],
    );
    assert!(files_under(&site.cache()).is_empty());
}

#[test]
fn unsigned_suite_needs_insecure_unsigned() {
    let site = repo(Signing::Unsigned, false);
    let err = site.run("resolve", &site.recipe(), &[]).fails();
    assert_in_order(
        &err,
        &["dists/trust/Release", "not signed", "--insecure-unsigned"],
    );
    nothing_was_kept(&site);
    let run = site.run("resolve", &site.recipe(), &["--insecure-unsigned"]);
    assert_eq!(package_lines(run), WANT);
    site.run("lock", &site.recipe(), &["--insecure-unsigned"])
        .ok();
    let lock = std::fs::read_to_string(site.lock_path()).unwrap();
    assert!(lock.contains("path = \"dists/trust/Release\""), "{lock}");
    assert!(!lock.contains("signer"), "an unsigned lock has no signer");
}

#[test]
fn packages_index_that_does_not_match_release_is_refused() {
    let site = repo(Signing::Both, false);
    let xz = site.repo.dists().join("main/binary-amd64/Packages.xz");
    let good = std::fs::read(&xz).unwrap();
    // Same size, one byte changed: the SHA-256 check catches it.
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x01;
    std::fs::write(&xz, &bad).unwrap();
    let err = site.run("resolve", &site.recipe(), &[]).fails();
    assert_in_order(
        &err,
        &["dists/trust/main/binary-amd64/Packages.xz", "SHA-256"],
    );
    assert!(err.contains(&sha256_hex(&good)), "{err}");
    nothing_was_kept(&site);
    // One byte more: the size check catches it.
    let mut long = good.clone();
    long.push(0);
    std::fs::write(&xz, &long).unwrap();
    let err = site.run("resolve", &site.recipe(), &[]).fails();
    assert_in_order(
        &err,
        &[
            "dists/trust/main/binary-amd64/Packages.xz",
            &good.len().to_string(),
        ],
    );
    nothing_was_kept(&site);
}

#[test]
fn tampered_by_hash_copy_is_refused() {
    let site = repo(Signing::Both, true);
    let dir = site.repo.dists().join("main/binary-amd64");
    let xz = std::fs::read(dir.join("Packages.xz")).unwrap();
    let copy = dir.join("by-hash/SHA256").join(sha256_hex(&xz));
    let mut bad = xz.clone();
    bad[10] ^= 0x80;
    std::fs::write(&copy, bad).unwrap();
    let err = site.run("resolve", &site.recipe(), &[]).fails();
    assert_in_order(&err, &["by-hash/SHA256/", "SHA-256"]);
    nothing_was_kept(&site);
}

#[test]
fn unknown_suite_says_what_is_missing() {
    let site = repo(Signing::Both, false);
    let recipe = crate::support::RecipeFile::new(&site.server.url(), "nosuite");
    let err = site.run("resolve", &recipe, &[]).fails();
    assert_in_order(&err, &["nosuite", "dists/nosuite"]);
}

#[test]
fn release_for_another_suite_is_refused() {
    // The Release says `Suite: stable`, `Codename: trust`; the mirror
    // serves it under both names and under `oldstable`, which is neither
    // (what a mirror replaying an old suite's signed Release looks like).
    let site = Site::new(
        TestRepo::new("trust")
            .release_suite("stable")
            .package(Pkg::new("core-pkg", "1.0").essential().depends("lib-pkg"))
            .package(Pkg::new("lib-pkg", "2.0-1"))
            .build(),
    );
    let dists = site.repo.mirror().join("dists");
    for alias in ["stable", "oldstable"] {
        std::os::unix::fs::symlink("trust", dists.join(alias)).unwrap();
    }
    let err = site
        .run("lock", &site.recipe().suite("oldstable"), &[])
        .fails();
    assert_in_order(
        &err,
        &[
            "dists/oldstable/InRelease",
            "conflicting distribution",
            "oldstable",
            "Suite stable",
            "Codename trust",
        ],
    );
    assert!(!site.lock_path().exists(), "a lock was written");
    assert!(files_under(&site.cache()).is_empty(), "the cache was used");
    for name in ["trust", "stable"] {
        let run = site.run("resolve", &site.recipe().suite(name), &[]);
        assert_eq!(package_lines(run), WANT, "served as {name}");
    }
}

#[test]
fn keyrings_are_repeatable_and_may_be_armored() {
    let site = repo(Signing::Both, false);
    let recipe = site.recipe().write(site.work.path());
    let armored = site.work.path().join("archive.asc");
    std::fs::write(&armored, &keys().signing_pub_armored).unwrap();
    let other = site.repo.other_keyring();
    for rings in [vec![&other, &site.keyring], vec![&armored]] {
        let mut args = vec!["resolve".into(), recipe.clone().into_os_string()];
        for k in rings {
            args.push("--keyring".into());
            args.push(k.clone().into_os_string());
        }
        args.push("--cache".into());
        args.push(site.cache().into_os_string());
        assert_eq!(package_lines(lunforge(args)), WANT);
    }
}

#[test]
fn expired_release_needs_ignore_valid_until() {
    let build = |secs| {
        Site::new(
            TestRepo::new("trust")
                .valid_for(secs)
                .package(
                    Pkg::new("core-pkg", "1.0").essential().depends("lib-pkg"),
                )
                .package(Pkg::new("lib-pkg", "2.0-1"))
                .build(),
        )
    };
    let fresh = build(86_400);
    assert_eq!(
        package_lines(fresh.run("resolve", &fresh.recipe(), &[])),
        WANT
    );
    let site = build(1);
    let release =
        std::fs::read_to_string(site.repo.dists().join("Release")).unwrap();
    let until = release
        .lines()
        .find_map(|l| l.strip_prefix("Valid-Until: "))
        .expect("apt-ftparchive wrote Valid-Until")
        .to_string();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let err = site.run("resolve", &site.recipe(), &[]).fails();
    assert_in_order(&err, &[&until, "Valid-Until", "--ignore-valid-until"]);
    nothing_was_kept(&site);
    let run = site.run("resolve", &site.recipe(), &["--ignore-valid-until"]);
    assert_eq!(package_lines(run), WANT);
}
