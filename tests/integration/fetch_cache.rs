//! `lunforge fetch` and its content-addressed cache, against the test
//! repository: what enters the cache, what never does, and several
//! processes sharing one cache.
//!
//! Oracles: the SHA-256 of every cache file is recomputed by the test
//! (each must hash to its name), the `.deb` files `dpkg-deb` wrote are
//! the expected contents, and the HTTP server's request log shows what
//! was downloaded. Tampering happens on the server after indexing, so
//! the signed index and the served bytes disagree.

use std::collections::BTreeSet;

use crate::support::testrepo::{Pkg, TestRepo};
use crate::support::{
    assert_in_order, cache_contents, lunforge_cmd, Run, Site,
};

/// Eight packages of 64 KiB of incompressible payload each; the one
/// that tests tamper with sorts last (`zz-victim`), so a one-job fetch
/// has fetched every other package before it.
fn site() -> Site {
    let repo = TestRepo::new("fetchtest").essentials(7, 64 * 1024);
    let repo = repo.package(
        Pkg::new("zz-victim", "2.0-1")
            .essential()
            .payload(64 * 1024),
    );
    Site::new(repo.build())
}

fn all_debs(site: &Site) -> BTreeSet<String> {
    site.repo.debs.iter().map(|d| d.sha256.clone()).collect()
}

/// The cache holds every package but `zz-victim`, no file with `bad`
/// as content, nothing partial (checked by [`cache_contents`]).
#[track_caller]
fn only_good_files_cached(site: &Site, bad: &[u8]) {
    let cached = cache_contents(&site.cache());
    let victim = &site.repo.deb("zz-victim").sha256;
    assert!(
        !cached.contains_key(victim),
        "the tampered package is cached"
    );
    assert!(
        cached.values().all(|c| c != bad),
        "the tampered content is in the cache"
    );
    for d in &site.repo.debs {
        if d.name != "zz-victim" {
            assert!(cached.contains_key(&d.sha256), "{} not cached", d.name);
        }
    }
}

#[test]
fn fetch_fills_the_cache_once() {
    let site = site();
    let out = site.run("fetch", &site.recipe(), &[]).ok();
    let cache = site.cache();
    assert!(
        out.stdout.starts_with(&format!(
            "8 packages in {}: 8 downloaded (",
            cache.display()
        )) && out.stdout.ends_with("), 0 already cached\n"),
        "{}",
        out.stdout
    );
    let cached = cache_contents(&cache);
    let keys: BTreeSet<String> = cached.keys().cloned().collect();
    let debs = all_debs(&site);
    assert!(debs.is_subset(&keys));
    let indexes = site.repo.index_sha256s();
    assert!(keys.difference(&debs).all(|h| indexes.contains(h)));
    for d in &site.repo.debs {
        assert_eq!(
            cached[&d.sha256],
            std::fs::read(site.repo.file(&d.path)).unwrap(),
            "{} cached with the served bytes",
            d.name
        );
    }
    site.server.clear_log();
    let out = site.run("fetch", &site.recipe(), &[]).ok();
    assert!(out.stdout.contains(": 0 downloaded ("), "{}", out.stdout);
    assert!(
        out.stdout.ends_with(", 8 already cached\n"),
        "{}",
        out.stdout
    );
    let pool: Vec<String> = site
        .server
        .requests()
        .into_iter()
        .filter(|p| p.starts_with("pool/"))
        .collect();
    assert!(
        pool.is_empty(),
        "cached packages downloaded again: {pool:?}"
    );
}

/// Replace `zz-victim`'s pool file by `bad`, fetch with one job, and
/// return the error.
fn fetch_tampered(site: &Site, bad: &[u8]) -> String {
    let victim = site.repo.deb("zz-victim");
    std::fs::write(site.repo.file(&victim.path), bad).unwrap();
    site.run("fetch", &site.recipe(), &["--jobs", "1"]).fails()
}

#[test]
fn tampered_deb_of_the_same_size_is_refused() {
    let site = site();
    let victim = site.repo.deb("zz-victim").clone();
    let mut bad = std::fs::read(site.repo.file(&victim.path)).unwrap();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x20;
    let err = fetch_tampered(&site, &bad);
    assert_in_order(
        &err,
        &["zz-victim 2.0-1", &victim.path, "SHA-256", &victim.sha256],
    );
    only_good_files_cached(&site, &bad);
}

#[test]
fn tampered_deb_shorter_than_indexed_is_refused() {
    let site = site();
    let victim = site.repo.deb("zz-victim").clone();
    let mut bad = std::fs::read(site.repo.file(&victim.path)).unwrap();
    bad.truncate(bad.len() - 100);
    let err = fetch_tampered(&site, &bad);
    assert_in_order(
        &err,
        &[
            "zz-victim 2.0-1",
            &victim.path,
            &bad.len().to_string(),
            &victim.size.to_string(),
        ],
    );
    only_good_files_cached(&site, &bad);
}

/// A file longer than the index says is cut off at the expected size:
/// a deterministic failure, reported as a size mismatch and not retried
/// like a network error.
#[test]
fn tampered_deb_longer_than_indexed_is_refused_at_once() {
    let site = site();
    let victim = site.repo.deb("zz-victim").clone();
    let mut bad = std::fs::read(site.repo.file(&victim.path)).unwrap();
    bad.extend_from_slice(b"trailing garbage");
    let err = fetch_tampered(&site, &bad);
    assert_in_order(
        &err,
        &["zz-victim 2.0-1", &victim.path, &victim.size.to_string()],
    );
    only_good_files_cached(&site, &bad);
    assert_eq!(
        site.server.count(&victim.path),
        1,
        "an oversized file was downloaded more than once (retried as if \
         the network had failed); error was: {err}"
    );
}

#[test]
fn truncated_cache_file_is_fetched_again() {
    let site = site();
    site.run("fetch", &site.recipe(), &[]).ok();
    let d = site.repo.deb("pkg-3").clone();
    let p = site
        .cache()
        .join("sha256")
        .join(&d.sha256[..2])
        .join(&d.sha256);
    let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    f.set_len(d.size / 2).unwrap();
    drop(f);
    site.server.clear_log();
    let out = site.run("fetch", &site.recipe(), &[]).ok();
    assert!(out.stdout.contains(": 1 downloaded ("), "{}", out.stdout);
    assert_eq!(site.server.count(&d.path), 1);
    assert_eq!(
        std::fs::read(&p).unwrap(),
        std::fs::read(site.repo.file(&d.path)).unwrap()
    );
    cache_contents(&site.cache());
}

#[test]
fn concurrent_fetches_share_one_cache() {
    let site = site();
    let recipe = site.recipe().write(site.work.path());
    let children: Vec<_> = (0..4)
        .map(|_| {
            let (mut cmd, args) = lunforge_cmd(site.args(
                "fetch",
                &recipe,
                &site.cache(),
                &["--jobs", "2"],
            ));
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            (args, cmd.spawn().expect("spawn lunforge"))
        })
        .collect();
    let mut downloaded = 0;
    for (args, child) in children {
        let run: Run =
            crate::support::finish(args, child.wait_with_output()).ok();
        let n: usize = run
            .stdout
            .split(": ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no download count: {}", run.stdout));
        downloaded += n;
    }
    assert!(downloaded >= 8, "every file was downloaded by someone");
    let cached = cache_contents(&site.cache());
    let keys: BTreeSet<String> = cached.keys().cloned().collect();
    let debs = all_debs(&site);
    assert!(debs.is_subset(&keys), "every package is cached");
    let indexes = site.repo.index_sha256s();
    assert!(keys.difference(&debs).all(|h| indexes.contains(h)));
    for d in &site.repo.debs {
        assert_eq!(
            cached[&d.sha256],
            std::fs::read(site.repo.file(&d.path)).unwrap()
        );
    }
}

/// `http_proxy` is honoured: with a mirror whose host does not resolve
/// (`mirror.invalid`), everything reaches the local server acting as the
/// proxy, which sees absolute URLs (the proxy form of a request).
#[test]
fn http_proxy_is_honoured() {
    let site = site();
    let recipe = crate::support::RecipeFile::new(
        "http://mirror.invalid",
        &site.repo.suite,
    );
    let path = recipe.write(site.work.path());
    let (mut cmd, args) =
        lunforge_cmd(site.args("fetch", &path, &site.cache(), &[]));
    cmd.env("http_proxy", site.server.url());
    cmd.env_remove("HTTP_PROXY");
    let run = crate::support::finish(args, cmd.output()).ok();
    assert_in_order(&run.stdout, &["8 packages", "8 downloaded"]);
    let log = site.server.requests();
    assert!(!log.is_empty());
    assert!(
        log.iter().all(|r| r.starts_with("proxy:")),
        "requests that bypassed the proxy: {log:?}"
    );
    assert!(
        log.contains(&"proxy:dists/fetchtest/InRelease".to_string()),
        "{log:?}"
    );
    assert_eq!(
        cache_contents(&site.cache()).len(),
        all_debs(&site).len() + 1
    );
}
