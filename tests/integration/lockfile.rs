//! The lockfile round trip through the binary: `lunforge lock` writes
//! `<recipe>.lock` byte-stably, and `lunforge fetch --locked` downloads
//! exactly the files it names, without reading the suite again.
//!
//! Oracles: the sizes and SHA-256 of the `.deb` files `dpkg-deb` wrote,
//! and the request log of the test's HTTP server (what was really
//! downloaded).

use std::collections::BTreeSet;

use crate::support::testrepo::{Pkg, TestRepo};
use crate::support::{assert_in_order, cache_contents, lunforge, Site};

fn site() -> Site {
    Site::new(
        TestRepo::new("locktest")
            .package(
                Pkg::new("lock-base", "1.0").essential().depends("lock-lib"),
            )
            .package(Pkg::new("lock-lib", "1:2.0~beta1-3").payload(4096))
            .package(Pkg::new("lock-tool", "0.9").depends("lock-lib"))
            .package(Pkg::new("lock-data", "1.0").arch("all"))
            .package(Pkg::new("lock-unused", "1.0"))
            .build(),
    )
}

const LOCKED: [&str; 4] = ["lock-base", "lock-data", "lock-lib", "lock-tool"];

fn recipe(site: &Site) -> crate::support::RecipeFile {
    site.recipe().include(&["lock-tool", "lock-data"])
}

#[test]
fn lock_is_written_next_to_the_recipe_and_is_byte_stable() {
    let site = site();
    let out = site.run("lock", &recipe(&site), &[]).ok();
    let path = site.lock_path();
    assert_eq!(
        out.stdout,
        format!(
            "wrote {}: 4 packages from locktest (dists/locktest/InRelease)\n",
            path.display()
        )
    );
    let first = std::fs::read(&path).expect("guest.lock next to guest.toml");
    site.run("lock", &recipe(&site), &[]).ok();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        first,
        "a second lock of the same suite is byte-identical"
    );
    let lock: toml::Value =
        toml::from_str(std::str::from_utf8(&first).unwrap()).expect("TOML");
    let pkgs = lock["package"].as_array().expect("[[package]]");
    let names: Vec<&str> =
        pkgs.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, LOCKED, "sorted by name");
    for p in pkgs {
        let deb = site.repo.deb(p["name"].as_str().unwrap());
        assert_eq!(p["version"].as_str(), Some(&*deb.version));
        assert_eq!(p["architecture"].as_str(), Some(&*deb.arch));
        assert_eq!(p["path"].as_str(), Some(&*deb.path));
        assert_eq!(p["size"].as_integer(), Some(deb.size as i64));
        assert_eq!(p["sha256"].as_str(), Some(&*deb.sha256));
    }
    let inputs = &lock["inputs"];
    assert_eq!(inputs["variant"].as_str(), Some("essential"));
    assert_eq!(inputs["architecture"].as_str(), Some("amd64"));
    let include: Vec<&str> = inputs["include"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(include, ["lock-tool", "lock-data"]);
}

#[test]
fn locked_fetch_downloads_exactly_the_locked_files() {
    let site = site();
    site.run("lock", &recipe(&site), &[]).ok();
    let indexes = site.repo.index_sha256s();
    // The suite is not read again: without its dists/ the fetch works.
    std::fs::remove_dir_all(site.repo.mirror().join("dists")).unwrap();
    site.server.clear_log();
    let out = site.run("fetch", &recipe(&site), &["--locked"]).ok();
    assert!(
        out.stdout.starts_with("4 packages in ")
            && out.stdout.contains(": 4 downloaded (")
            && out.stdout.ends_with(", 0 already cached\n"),
        "{}",
        out.stdout
    );
    let log = site.server.requests();
    let want: BTreeSet<String> = LOCKED
        .iter()
        .map(|n| site.repo.deb(n).path.clone())
        .collect();
    assert_eq!(log.len(), want.len(), "each file once: {log:?}");
    assert_eq!(log.iter().cloned().collect::<BTreeSet<_>>(), want);
    let cached: BTreeSet<String> =
        cache_contents(&site.cache()).into_keys().collect();
    let debs: BTreeSet<String> = LOCKED
        .iter()
        .map(|n| site.repo.deb(n).sha256.clone())
        .collect();
    assert!(debs.is_subset(&cached), "every locked file is cached");
    let others: BTreeSet<&String> = cached.difference(&debs).collect();
    assert!(
        others.iter().all(|h| indexes.contains(*h)),
        "the cache holds only the locked files and the index `lock` read: \
         {others:?}"
    );
    // Again: everything is cached, nothing is requested.
    site.server.clear_log();
    let out = site.run("fetch", &recipe(&site), &["--locked"]).ok();
    assert!(out.stdout.contains(": 0 downloaded ("), "{}", out.stdout);
    assert!(
        out.stdout.ends_with(", 4 already cached\n"),
        "{}",
        out.stdout
    );
    assert_eq!(site.server.requests(), Vec::<String>::new());
}

#[test]
fn locked_file_gone_from_the_mirror_is_named() {
    let site = site();
    site.run("lock", &recipe(&site), &[]).ok();
    let lib = site.repo.deb("lock-lib");
    std::fs::remove_file(site.repo.file(&lib.path)).unwrap();
    let recipe_path = recipe(&site).write(site.work.path());
    let fresh = site.work.path().join("fresh-cache");
    let err = lunforge(site.args("fetch", &recipe_path, &fresh, &["--locked"]))
        .fails();
    assert_in_order(&err, &["lock-lib", &lib.path, "not found on the mirror"]);
    assert!(
        !cache_contents(&fresh).contains_key(&lib.sha256),
        "the missing file is not in the cache"
    );
}

#[test]
fn stale_or_missing_lock_is_refused() {
    let site = site();
    let err = site.run("fetch", &recipe(&site), &["--locked"]).fails();
    assert!(err.contains(&*site.lock_path().to_string_lossy()), "{err}");
    site.run("lock", &recipe(&site), &[]).ok();
    let changed = site.recipe().include(&["lock-tool"]);
    let err = site.run("fetch", &changed, &["--locked"]).fails();
    assert_in_order(&err, &["stale", "system.include"]);
    let changed = recipe(&site).variant("required");
    let err = site.run("fetch", &changed, &["--locked"]).fails();
    assert_in_order(&err, &["stale", "system.variant"]);
    let changed = recipe(&site).exclude(&["lock-unused"]);
    let err = site.run("resolve", &changed, &["--locked"]).fails();
    assert_in_order(&err, &["stale", "system.exclude"]);
    // Another suite of the same mirror: the lock is not for it.
    let changed = recipe(&site).suite("othersuite");
    let err = site.run("fetch", &changed, &["--locked"]).fails();
    assert_in_order(&err, &["stale", "system.suite", "locktest", "othersuite"]);
    // A lock of amd64 is not one of arm64.
    let arm = ["--locked", "--set", "system.architecture=arm64"];
    let err = site.run("fetch", &recipe(&site), &arm).fails();
    assert_in_order(
        &err,
        &["stale", "system.architecture", "\"amd64\"", "\"arm64\""],
    );
    assert!(
        cache_contents(&site.cache())
            .keys()
            .all(|h| !LOCKED.iter().any(|n| site.repo.deb(n).sha256 == *h)),
        "a refused lock downloads no package"
    );
}

#[test]
fn lock_output_and_lockfile_options() {
    let site = site();
    let elsewhere = site.work.path().join("pinned.lock");
    site.run(
        "lock",
        &recipe(&site),
        &["--output", &elsewhere.to_string_lossy()],
    )
    .ok();
    assert!(elsewhere.is_file());
    assert!(!site.lock_path().exists(), "--output replaces the default");
    let out = site
        .run(
            "resolve",
            &recipe(&site),
            &["--locked", "--lockfile", &elsewhere.to_string_lossy()],
        )
        .ok();
    let names: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.split(' ').count() == 3)
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(names, LOCKED);
}

#[test]
fn tampered_lock_is_refused() {
    let site = site();
    site.run("lock", &recipe(&site), &[]).ok();
    let text = std::fs::read_to_string(site.lock_path()).unwrap();
    // The digest of lock-tool replaced by lock-data's: well-formed, but
    // not what the mirror serves at that path.
    let (tool, data) = (site.repo.deb("lock-tool"), site.repo.deb("lock-data"));
    let swapped = text.replacen(
        &format!("sha256 = \"{}\"", tool.sha256),
        &format!("sha256 = \"{}\"", data.sha256),
        1,
    );
    assert_ne!(swapped, text);
    std::fs::write(site.lock_path(), swapped).unwrap();
    let err = site.run("fetch", &recipe(&site), &["--locked"]).fails();
    assert_in_order(&err, &["lock-tool", &tool.path]);
    let cached = cache_contents(&site.cache());
    assert!(!cached.contains_key(&tool.sha256));
    let content = std::fs::read(site.repo.file(&tool.path)).unwrap();
    assert!(cached.values().all(|c| *c != content));
    // A path that leaves the mirror is not even read.
    let escaping = text.replacen(&tool.path, "pool/../../etc/passwd", 1);
    std::fs::write(site.lock_path(), escaping).unwrap();
    let err = site.run("fetch", &recipe(&site), &["--locked"]).fails();
    assert_in_order(&err, &["lockfile", "lock-tool", "path"]);
}
