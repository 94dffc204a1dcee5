//! The resolver against the real Debian archive of the host's apt
//! sources (lunforge finds the mirror itself: `mirror = "host"`; this
//! file never names a mirror host), for trixie and bookworm with the
//! variants `minbase` and `important`.
//!
//! Two checks per suite and variant:
//!
//! - **Sanity invariants**, computed from the suite's `Packages` index
//!   (read with the library): every `Essential: yes` package and every
//!   package of the variant's priorities is in the set, and the set is
//!   closed under `Pre-Depends` and `Depends` (each has an alternative
//!   satisfied inside the set, by name or by `Provides`, with its version
//!   constraint).
//! - **Oracle**: the set `mmdebstrap --variant=V` installs from the same
//!   mirror, read from the `var/lib/dpkg/status` of its tarball. The sets
//!   must be equal except for the one documented difference (bookworm:
//!   lunforge takes `usr-is-merged` where apt takes `usrmerge`): lunforge
//!   − mmdebstrap ⊆ {usr-is-merged}, and mmdebstrap − lunforge is
//!   `usrmerge` and what only `usrmerge` pulls in, computed from the
//!   status file's dependency graph. Both must have used the same
//!   `InRelease`, or the mirror moved during the test. apt's automatic
//!   marks (`var/lib/apt/extended_states`) must equal the `auto` of
//!   lunforge's packages on the packages both install.
//!
//! Then the installed root file system itself: see [`crate::rootfs`].
//!
//! Each case takes 30–90 s (mmdebstrap and lunforge both install a real
//! system); the four run in parallel as separate tests.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

use lunforge::repo::packages::{BinaryPackage, Priority};
use lunforge::repo::version::Version;
use lunforge::resolve::relation::{parse_dependencies, parse_provides};

use crate::support::oracle::{self, Installed};
use crate::support::{lunforge, sha256_hex};

/// The host's Debian mirror, as lunforge resolves `mirror = "host"`.
pub(crate) fn host_mirror() -> String {
    let show = lunforge(["recipe", "show"]).ok();
    show.stdout
        .lines()
        .find_map(|l| l.strip_prefix("mirror = "))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| {
            panic!("no `mirror =` in `lunforge recipe show`:\n{}", show.stdout)
        })
}

/// Read `suite` (main, amd64) from the mirror at `uri`, verified with
/// the host's Debian archive keyring; the indices go through `cache`.
/// Returns the transport too, for fetching the suite's packages.
pub(crate) fn open_suite(
    uri: &str,
    suite: &str,
    cache: &lunforge::fetch::Cache,
) -> (
    Box<dyn lunforge::repo::transport::Transport>,
    lunforge::repo::Suite,
) {
    let t = lunforge::repo::transport::for_mirror(uri).expect("transport");
    let keyring = lunforge::repo::inrelease::Keyring::host_default()
        .expect("host keyring");
    let opts = lunforge::repo::Options {
        suite: suite.into(),
        architecture: "amd64".into(),
        components: vec!["main".into()],
        trust: lunforge::repo::Trust::Keyring(keyring),
        ignore_valid_until: false,
        now: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
    };
    let s = lunforge::repo::open(
        &*t,
        &opts,
        Some(cache),
        &lunforge::progress::Silent,
    )
    .expect("read the suite");
    (t, s)
}

fn check(suite: &str, variant: &str) {
    let work = tempfile::Builder::new()
        .prefix(&format!("lf-host-{suite}-{variant}-"))
        .tempdir()
        .expect("work dir");
    let uri = host_mirror();
    // The oracle first: it is the slow part, and lunforge reading the
    // suite afterwards makes a mirror update in between visible.
    let mm = oracle::mmdebstrap(suite, variant, &uri, work.path());
    let cache = work.path().join("cache");
    let run = lunforge([
        "resolve".as_ref(),
        "--json".as_ref(),
        "--set".as_ref(),
        format!("system.suite={suite}").as_ref(),
        "--set".as_ref(),
        format!("system.variant={variant}").as_ref(),
        "--set".as_ref(),
        "system.include=[]".as_ref(),
        "--cache".as_ref(),
        cache.as_os_str(),
    ])
    .ok();
    let v: serde_json::Value =
        serde_json::from_str(&run.stdout).expect("--json prints JSON");
    let release_sha = v["release"]["sha256"].as_str().unwrap_or_default();
    assert_eq!(
        release_sha,
        sha256_hex(&mm.inrelease),
        "mmdebstrap and lunforge read different InRelease files of \
         {suite}: the mirror was updated during the test; run it again"
    );
    let lf: BTreeMap<String, String> = v["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap_or_default().to_string();
            (s("name"), s("version"))
        })
        .collect();
    assert!(lf.len() > 50, "implausibly small set: {lf:?}");
    invariants(suite, variant, &uri, &cache, &lf, release_sha);
    let mm_installed = oracle::parse_status(&mm.status);
    compare_with_mmdebstrap(&lf, &mm_installed);
    compare_auto_marks(&v, &mm.tar, &mm_installed);
    crate::rootfs::compare_root_with_mmdebstrap(
        suite,
        variant,
        &cache,
        &mm.tar,
        work.path(),
    );
}

/// apt's automatic marks: the `auto` of lunforge's resolution against
/// the `Auto-Installed: 1` stanzas of mmdebstrap's
/// `var/lib/apt/extended_states`, on the packages both install (the one
/// documented difference aside).
fn compare_auto_marks(
    lf: &serde_json::Value,
    mm_tar: &Path,
    mm: &BTreeMap<String, Installed>,
) {
    let text = crate::support::run(
        std::process::Command::new("tar")
            .arg("-xOf")
            .arg(mm_tar)
            .arg("./var/lib/apt/extended_states"),
        "tar",
    )
    .stdout;
    let text = String::from_utf8_lossy(&text);
    let theirs: BTreeSet<&str> = text
        .split("\n\n")
        .filter(|p| p.lines().any(|l| l == "Auto-Installed: 1"))
        .filter_map(|p| p.lines().find_map(|l| l.strip_prefix("Package: ")))
        .collect();
    let packages = lf["packages"].as_array().expect("packages");
    let both = |n: &&str| {
        mm.contains_key(*n) && packages.iter().any(|p| p["name"] == *n)
    };
    let ours: BTreeSet<&str> = packages
        .iter()
        .filter(|p| p["auto"].as_bool() == Some(true))
        .filter_map(|p| p["name"].as_str())
        .filter(both)
        .collect();
    let theirs: BTreeSet<&str> = theirs.into_iter().filter(both).collect();
    assert!(!ours.is_empty(), "no automatic package at all");
    assert_eq!(ours, theirs, "lunforge's automatic marks, mmdebstrap's");
}

/// Essential and priority seeds present, closure under dependencies.
fn invariants(
    suite: &str,
    variant: &str,
    uri: &str,
    cache: &Path,
    lf: &BTreeMap<String, String>,
    release_sha: &str,
) {
    let cache = lunforge::fetch::Cache::open(cache).expect("cache");
    let (_, s) = open_suite(uri, suite, &cache);
    assert_eq!(hex::encode(s.origin.sha256), release_sha, "mirror moved");
    let amd64 = |p: &&BinaryPackage| {
        &*p.architecture == "amd64" || &*p.architecture == "all"
    };
    let selected: Vec<&BinaryPackage> = s
        .packages
        .iter()
        .filter(amd64)
        .filter(|p| lf.get(&*p.name) == Some(&p.version.to_string()))
        .collect();
    assert_eq!(
        selected.len(),
        lf.len(),
        "every resolved package is in the index with its version"
    );
    let max = match variant {
        "minbase" => Priority::Required,
        "important" => Priority::Important,
        v => panic!("no priority seed for {v}"),
    };
    let missing: BTreeSet<&str> = s
        .packages
        .iter()
        .filter(amd64)
        .filter(|p| p.essential || p.priority <= max)
        .map(|p| &*p.name)
        .filter(|n| !lf.contains_key(*n))
        .collect();
    assert!(
        missing.is_empty(),
        "{suite} {variant}: Essential or priority seeds missing: {missing:?}"
    );
    // name → versions present, for real and provided names (an
    // unversioned Provides is `None`: it satisfies no versioned
    // constraint, Policy §7.5).
    let mut have: BTreeMap<String, Vec<Option<Version>>> = BTreeMap::new();
    for p in &selected {
        have.entry(p.name.to_string())
            .or_default()
            .push(Some(p.version.clone()));
        for pr in parse_provides(&p.provides).expect("Provides parse") {
            have.entry(pr.name.to_string())
                .or_default()
                .push(pr.version.clone());
        }
    }
    let mut open_deps = Vec::new();
    for p in &selected {
        for field in [&p.pre_depends, &p.depends] {
            for dep in parse_dependencies(field, "amd64").expect("parse") {
                let ok = dep.alternatives.iter().any(|r| {
                    have.get(&*r.name).is_some_and(|vs| {
                        vs.iter().any(|v| match (&r.constraint, v) {
                            (None, _) => true,
                            (Some((op, want)), Some(v)) => op.matches(v, want),
                            (Some(_), None) => false,
                        })
                    })
                });
                if !ok {
                    open_deps.push(format!("{} {}: {dep}", p.name, p.version));
                }
            }
        }
    }
    assert!(
        open_deps.is_empty(),
        "{suite} {variant}: dependencies not satisfied inside the set:\n{}",
        open_deps.join("\n")
    );
}

/// lunforge's set against mmdebstrap's, up to the documented
/// `usr-is-merged`/`usrmerge` difference.
fn compare_with_mmdebstrap(
    lf: &BTreeMap<String, String>,
    mm: &BTreeMap<String, Installed>,
) {
    let extra: BTreeSet<&str> = lf
        .keys()
        .map(String::as_str)
        .filter(|n| !mm.contains_key(*n))
        .collect();
    let lacking: BTreeSet<&str> = mm
        .keys()
        .map(String::as_str)
        .filter(|n| !lf.contains_key(*n))
        .collect();
    let versions: Vec<String> = lf
        .iter()
        .filter_map(|(n, v)| {
            let m = mm.get(n)?;
            (m.version != *v)
                .then(|| format!("{n}: lunforge {v}, mmdebstrap {}", m.version))
        })
        .collect();
    assert!(
        versions.is_empty(),
        "versions differ:\n{}",
        versions.join("\n")
    );
    assert!(
        extra.iter().all(|n| *n == "usr-is-merged"),
        "lunforge selects packages mmdebstrap does not install: {extra:?}"
    );
    if lacking.is_empty() {
        assert!(extra.is_empty(), "usr-is-merged without usrmerge");
        return;
    }
    assert!(
        lacking.contains("usrmerge") && extra.contains("usr-is-merged"),
        "mmdebstrap installs packages lunforge does not select: {lacking:?}"
    );
    // Everything lacking is pulled in by usrmerge…
    let reach = reachable(mm, "usrmerge");
    let stray: Vec<&&str> =
        lacking.iter().filter(|n| !reach.contains(**n)).collect();
    assert!(
        stray.is_empty(),
        "mmdebstrap installs {stray:?}, which lunforge lacks and usrmerge \
         does not pull in"
    );
    // …and only by usrmerge: no other installed package needs one of
    // them, except through the `usrmerge | usr-is-merged` choice.
    let mut needed = Vec::new();
    for (name, p) in mm {
        if lacking.contains(name.as_str()) {
            continue;
        }
        for group in oracle::or_groups(&p.depends) {
            let sats: BTreeSet<String> =
                group.iter().flat_map(|n| satisfiers(mm, n)).collect();
            let only_lacking = !sats.is_empty()
                && sats.iter().all(|s| lacking.contains(s.as_str()));
            if only_lacking && !group.iter().any(|n| n == "usr-is-merged") {
                needed.push(format!("{name} needs {}", group.join(" | ")));
            }
        }
    }
    assert!(
        needed.is_empty(),
        "packages lunforge lacks are needed by more than usrmerge:\n{}",
        needed.join("\n")
    );
}

/// Installed packages called `name` or providing it.
fn satisfiers(mm: &BTreeMap<String, Installed>, name: &str) -> Vec<String> {
    mm.iter()
        .filter(|(n, p)| {
            *n == name
                || oracle::or_groups(&p.provides)
                    .iter()
                    .flatten()
                    .any(|v| v == name)
        })
        .map(|(n, _)| n.clone())
        .collect()
}

/// Installed packages reachable from `root` over `Pre-Depends`/`Depends`.
fn reachable(mm: &BTreeMap<String, Installed>, root: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::from([root.to_string()]);
    let mut queue = VecDeque::from([root.to_string()]);
    while let Some(n) = queue.pop_front() {
        let Some(p) = mm.get(&n) else { continue };
        for group in oracle::or_groups(&p.depends) {
            for alt in &group {
                for s in satisfiers(mm, alt) {
                    if seen.insert(s.clone()) {
                        queue.push_back(s);
                    }
                }
            }
        }
    }
    seen
}

#[test]
fn trixie_minbase_matches_mmdebstrap() {
    check("trixie", "minbase");
}

#[test]
fn trixie_important_matches_mmdebstrap() {
    check("trixie", "important");
}

#[test]
fn bookworm_minbase_matches_mmdebstrap() {
    check("bookworm", "minbase");
}

#[test]
fn bookworm_important_matches_mmdebstrap() {
    check("bookworm", "important");
}

/// The comparison above accepts the documented difference and nothing
/// else (a synthetic status file, so that this runs in milliseconds).
#[test]
fn comparison_accepts_only_the_documented_difference() {
    let status = |a_depends: &str| {
        let para = |name: &str, depends: &str| {
            format!(
                "Package: {name}\nStatus: install ok installed\n\
                 Version: 1.0\nDepends: {depends}\n\n"
            )
        };
        let mut s = String::new();
        s += &para("aa", a_depends);
        s += &para("bb", "libc6");
        s += &para("libc6", "");
        s += &para("init-system-helpers", "usrmerge | usr-is-merged");
        s += &para("usrmerge", "perl:any");
        s += "Package: perl\nStatus: install ok installed\nVersion: 1.0\n\
              Provides: perl-api\n\n\
              Package: gone\nStatus: deinstall ok config-files\n\
              Version: 1.0\n";
        oracle::parse_status(&s)
    };
    let set = |names: &[&str]| -> BTreeMap<String, String> {
        names
            .iter()
            .map(|n| (n.to_string(), "1.0".into()))
            .collect()
    };
    let good =
        set(&["aa", "bb", "init-system-helpers", "libc6", "usr-is-merged"]);
    let mm = status("bb");
    assert_eq!(mm.len(), 6, "config-files only is not installed");
    compare_with_mmdebstrap(&good, &mm);
    compare_with_mmdebstrap(
        &set(&[
            "aa",
            "bb",
            "init-system-helpers",
            "libc6",
            "perl",
            "usrmerge",
        ]),
        &mm,
    );
    let fails = |lf: &BTreeMap<String, String>,
                 mm: &BTreeMap<String, Installed>| {
        std::panic::catch_unwind(|| compare_with_mmdebstrap(lf, mm)).is_err()
    };
    let mut no_bb = good.clone();
    no_bb.remove("bb");
    assert!(fails(&no_bb, &mm), "a lacking package not due to usrmerge");
    assert!(
        fails(&good, &status("bb, perl-api")),
        "perl needed by another package than usrmerge"
    );
    let mut extra = good.clone();
    extra.insert("zz".into(), "1.0".into());
    assert!(fails(&extra, &mm), "an extra package");
    let mut newer = good.clone();
    newer.insert("bb".into(), "2.0".into());
    assert!(fails(&newer, &mm), "another version");
    let mut no_merged = good;
    no_merged.remove("usr-is-merged");
    assert!(
        fails(&no_merged, &mm),
        "usrmerge lacking without usr-is-merged"
    );
}
