//! The resolver, through `lunforge resolve`, against small repositories
//! built by `dpkg-deb` and `apt-ftparchive` and signed by `gpg`.
//!
//! Each scenario is a handful of packages whose relationship fields are
//! interpreted by apt in a known way (Debian Policy §7: alternatives,
//! versioned constraints with epochs and tildes, virtual packages and
//! versioned `Provides`, `Conflicts`/`Breaks`, priorities as the seeds
//! of the variants); the expected sets are written out by hand, and for
//! package requests (variant `essential` + `include` on a suite without
//! essential packages, i.e. `apt-get install INCLUDE…`) they are also
//! checked against apt itself: `apt-get --simulate install` with a
//! private configuration reading the same mirror ([`Apt`]). The `.deb`
//! sizes and digests come from the files `dpkg-deb` wrote, never from
//! lunforge.

use crate::support::oracle::Apt;
use crate::support::testrepo::{Pkg, TestRepo};
use crate::support::{assert_in_order, RecipeFile, Site};

/// `lunforge resolve` of `recipe`: the package lines, checked against the
/// total line (count and byte total from the `.deb` files).
#[track_caller]
fn resolve(site: &Site, recipe: &RecipeFile) -> Vec<String> {
    let out = site.run("resolve", recipe, &[]).ok();
    let mut lines: Vec<String> =
        out.stdout.lines().map(str::to_string).collect();
    let total = lines.pop().expect("a total line");
    let bytes: u64 = lines
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert_eq!(f.len(), 3, "not `name version arch`: {l:?}");
            let deb = site.repo.deb_at(f[0], f[1]);
            assert_eq!(deb.arch, f[2], "{l}");
            deb.size
        })
        .sum();
    assert!(
        total.starts_with(&format!("{} packages, ", lines.len()))
            && total.ends_with(&format!(" ({bytes} bytes)")),
        "total line {total:?} does not say {} packages and {bytes} bytes",
        lines.len()
    );
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted, "packages are printed sorted by name");
    lines
}

/// The names of `lunforge resolve`'s packages.
#[track_caller]
fn names(site: &Site, recipe: &RecipeFile) -> Vec<String> {
    resolve(site, recipe)
        .iter()
        .map(|l| l.split(' ').next().unwrap_or_default().to_string())
        .collect()
}

/// `lunforge resolve` must fail; its stderr.
#[track_caller]
fn resolve_error(site: &Site, recipe: &RecipeFile) -> String {
    site.run("resolve", recipe, &[]).fails()
}

/// `include` resolved by lunforge and by apt: both must be `want`
/// (names), with the same versions.
#[track_caller]
fn agree(site: &Site, apt: &Apt, include: &[&str], want: &[&str]) {
    if let Some(diff) = compare(site, apt, include, want) {
        panic!("{diff}");
    }
}

/// What differs between lunforge, apt and `want` for `include`: `None`
/// when they all agree. Panics when apt itself is not `want` (the
/// test's expectation is then wrong).
#[track_caller]
fn compare(
    site: &Site,
    apt: &Apt,
    include: &[&str],
    want: &[&str],
) -> Option<String> {
    let by_apt = apt.simulate(include).unwrap_or_else(|e| {
        panic!("apt cannot install {include:?}:\n{e}");
    });
    let apt_names: Vec<&str> = by_apt
        .iter()
        .map(|l| l.split(' ').next().unwrap_or(""))
        .collect();
    assert_eq!(
        apt_names, want,
        "the test's expectation for {include:?} is not what apt installs"
    );
    let recipe = site.recipe().include(include);
    let by_lunforge: Vec<String> = resolve(site, &recipe)
        .iter()
        .map(|l| l.rsplit_once(' ').map_or(&**l, |x| x.0).to_string())
        .collect();
    (by_lunforge != by_apt).then(|| {
        format!(
            "include = {include:?}: lunforge resolves {by_lunforge:?}, \
             but `apt-get install {}` installs {by_apt:?}",
            include.join(" ")
        )
    })
}

/// `include` cannot be installed: lunforge fails with `parts` in its
/// message, and apt refuses too.
#[track_caller]
fn agree_fails(site: &Site, apt: &Apt, include: &[&str], parts: &[&str]) {
    if let Ok(set) = apt.simulate(include) {
        panic!("apt installs {include:?} as {set:?}; the test expects not");
    }
    let err = resolve_error(site, &site.recipe().include(include));
    assert_in_order(&err, parts);
}

/// A miniature Debian: essential packages, priorities, a recommends.
fn mini_debian() -> Site {
    Site::new(
        TestRepo::new("lftest")
            .package(
                Pkg::new("base-files", "13.1")
                    .essential()
                    .priority("required")
                    .pre_depends("libc6 (>= 2.36)"),
            )
            .package(
                Pkg::new("dash", "0.5.12-2")
                    .essential()
                    .priority("required")
                    .depends("libc6 (>= 2.34), debianutils (>= 5.6-0.1)"),
            )
            .package(Pkg::new("debianutils", "5.7-0.4").priority("required"))
            .package(Pkg::new("libc6", "2.36-9"))
            .package(
                Pkg::new("apt", "2.6.1")
                    .priority("required")
                    .depends("libapt-pkg6.0 (>= 2.6.1)"),
            )
            .package(Pkg::new("libapt-pkg6.0", "2.6.1"))
            .package(
                Pkg::new("less", "590-2")
                    .priority("important")
                    .depends("libc6"),
            )
            .package(
                Pkg::new("hello", "2.10-3")
                    .depends("libc6 (>= 2.34), hello-data (= 2.10-3)")
                    .recommends("hello-extras"),
            )
            .package(Pkg::new("hello-data", "2.10-3").arch("all"))
            .package(Pkg::new("hello-extras", "1.0"))
            .package(Pkg::new("unrelated", "1.0").priority("extra"))
            .build(),
    )
}

#[test]
fn good_path_prints_the_set_sorted_with_its_total() {
    let site = mini_debian();
    let recipe = site.recipe().variant("required").include(&["hello"]);
    let lines = resolve(&site, &recipe);
    assert_eq!(
        lines,
        site.repo.lines(&[
            "apt",
            "base-files",
            "dash",
            "debianutils",
            "hello",
            "hello-data",
            "libapt-pkg6.0",
            "libc6",
        ]),
        "Recommends (hello-extras) are not installed, extra/important \
         packages are not seeds of `required`"
    );
    assert!(lines.contains(&"hello-data 2.10-3 all".to_string()));
}

#[test]
fn json_output_agrees_with_the_built_debs() {
    let site = mini_debian();
    let recipe = site.recipe().variant("required").include(&["hello"]);
    let text = resolve(&site, &recipe);
    let out = site.run("resolve", &recipe, &["--json"]).ok();
    let v: serde_json::Value =
        serde_json::from_str(&out.stdout).expect("--json prints JSON");
    let pkgs = v["packages"].as_array().expect("packages array");
    assert_eq!(pkgs.len(), text.len());
    let mut total = 0;
    for (p, line) in pkgs.iter().zip(&text) {
        let name = p["name"].as_str().expect("name");
        let deb = site.repo.deb(name);
        assert_eq!(
            line,
            &format!("{} {} {}", deb.name, deb.version, deb.arch),
            "JSON and text list the same packages in the same order"
        );
        assert_eq!(p["version"], deb.version.as_str());
        assert_eq!(p["architecture"], deb.arch.as_str());
        assert_eq!(p["path"], deb.path.as_str());
        assert_eq!(p["size"], deb.size);
        assert_eq!(p["sha256"], deb.sha256.as_str());
        total += deb.size;
    }
    assert_eq!(v["total"]["packages"], pkgs.len());
    assert_eq!(v["total"]["download_size"], total);
    assert_eq!(v["release"]["suite"], "lftest");
    assert_eq!(v["release"]["path"], "dists/lftest/InRelease");
    let inrelease =
        std::fs::read(site.repo.dists().join("InRelease")).expect("read");
    assert_eq!(
        v["release"]["sha256"],
        crate::support::sha256_hex(&inrelease)
    );
    assert_eq!(
        v["release"]["signer"],
        crate::support::gpg::keys().signing_fpr.as_str()
    );
}

#[test]
fn variants_seed_essential_then_priorities() {
    let site = mini_debian();
    let essential = ["base-files", "dash", "debianutils", "libc6"];
    assert_eq!(names(&site, &site.recipe().variant("essential")), essential);
    let mut apt = essential.to_vec();
    apt.extend(["apt", "libapt-pkg6.0"]);
    apt.sort();
    assert_eq!(names(&site, &site.recipe().variant("apt")), apt);
    assert_eq!(names(&site, &site.recipe().variant("required")), apt);
    assert_eq!(
        names(&site, &site.recipe().variant("minbase")),
        apt,
        "minbase is required"
    );
    let mut important = apt.clone();
    important.push("less");
    important.sort();
    assert_eq!(names(&site, &site.recipe().variant("important")), important);
}

#[test]
fn exclude_and_unknown_names() {
    let site = mini_debian();
    let recipe = site.recipe().variant("important").exclude(&["less"]);
    assert!(!names(&site, &recipe).contains(&"less".to_string()));
    let err = resolve_error(&site, &site.recipe().include(&["nosuch"]));
    assert_in_order(&err, &["system.include", "nosuch"]);
    let err = resolve_error(&site, &site.recipe().exclude(&["nosuch"]));
    assert_in_order(&err, &["system.exclude", "nosuch"]);
}

#[test]
fn alternatives_take_the_first_usable_one() {
    let site = Site::new(alternatives_repo());
    let apt = Apt::new(&site.server.url(), "alts", &site.keyring);
    agree(&site, &apt, &["pick-first"], &["alt-y", "pick-first"]);
    agree(&site, &apt, &["pick-version"], &["alt-z", "pick-version"]);
    // alt-c conflicts with the selected wants-y, so alt-z is taken.
    agree(
        &site,
        &apt,
        &["wants-y", "pick-noconf"],
        &["alt-y", "alt-z", "pick-noconf", "wants-y"],
    );
    let recipe = site.recipe().include(&["pick-first"]).exclude(&["alt-y"]);
    assert_eq!(names(&site, &recipe), ["alt-z", "pick-first"]);
}

#[test]
fn alternative_already_selected_adds_nothing() {
    let site = Site::new(alternatives_repo());
    let apt = Apt::new(&site.server.url(), "alts", &site.keyring);
    // alt-y is selected (by wants-y) before pick-late's `alt-z | alt-y`
    // is looked at: nothing more is added.
    agree(
        &site,
        &apt,
        &["wants-y", "pick-late"],
        &["alt-y", "pick-late", "wants-y"],
    );
    agree(
        &site,
        &apt,
        &["pick-first", "wants-y"],
        &["alt-y", "pick-first", "wants-y"],
    );
    agree(
        &site,
        &apt,
        &["top-y-first"],
        &["alt-y", "pick-late", "top-y-first", "wants-y"],
    );
}

/// apt (2.6, as mmdebstrap runs it) decides an or-group as soon as it
/// reaches it, depth first in request and `Depends` order, and keeps
/// alt-z when alt-y is pulled in afterwards. lunforge does not: see the
/// resolver's module doc.
#[test]
fn alternative_pulled_in_later_is_not_duplicated() {
    // apt is still the oracle: the test checks what apt installs, and
    // that lunforge's set is apt's without the redundant alternative.
    let site = Site::new(alternatives_repo());
    let apt = Apt::new(&site.server.url(), "alts", &site.keyring);
    let cases: [(&[&str], &[&str]); 3] = [
        (
            &["top-late-first"],
            &["alt-y", "alt-z", "pick-late", "top-late-first", "wants-y"],
        ),
        (
            &["pick-late", "wants-y"],
            &["alt-y", "alt-z", "pick-late", "wants-y"],
        ),
        (
            &["both-in-one"],
            &["alt-y", "alt-z", "both-in-one", "wants-y"],
        ),
    ];
    for (include, by_apt) in cases {
        let apt_set = apt.simulate(include).unwrap_or_else(|e| {
            panic!("apt cannot install {include:?}:\n{e}");
        });
        let apt_names: Vec<&str> = apt_set
            .iter()
            .map(|l| l.split(' ').next().unwrap_or(""))
            .collect();
        assert_eq!(apt_names, by_apt, "apt's choice for {include:?}");
        let want: Vec<&str> =
            by_apt.iter().copied().filter(|n| *n != "alt-z").collect();
        let recipe = site.recipe().include(include);
        let got: Vec<String> = resolve(&site, &recipe)
            .iter()
            .map(|l| l.split(' ').next().unwrap_or("").to_string())
            .collect();
        assert_eq!(got, want, "lunforge for {include:?}");
    }
}

fn alternatives_repo() -> crate::support::testrepo::Repo {
    TestRepo::new("alts")
        .package(
            Pkg::new("pick-first", "1.0")
                .depends("nonexistent | alt-y | alt-z"),
        )
        .package(Pkg::new("pick-late", "1.0").depends("alt-z | alt-y"))
        .package(Pkg::new("wants-y", "1.0").depends("alt-y"))
        .package(
            Pkg::new("both-in-one", "1.0").depends("alt-z | alt-y, wants-y"),
        )
        .package(
            Pkg::new("top-late-first", "1.0").depends("pick-late, wants-y"),
        )
        .package(Pkg::new("top-y-first", "1.0").depends("wants-y, pick-late"))
        .package(
            Pkg::new("pick-version", "1.0").depends("alt-y (>= 9) | alt-z"),
        )
        .package(Pkg::new("pick-noconf", "1.0").depends("alt-c | alt-z"))
        .package(Pkg::new("alt-c", "1.0").conflicts("wants-y"))
        .package(Pkg::new("alt-y", "1.0"))
        .package(Pkg::new("alt-z", "1.0"))
        .build()
}

#[test]
fn virtual_packages_resolve_to_a_provider() {
    let site = Site::new(
        TestRepo::new("virt")
            .package(
                Pkg::new("needs-mta", "1.0").depends("mail-transport-agent"),
            )
            .package(
                Pkg::new("tiny-mta", "1.0").provides("mail-transport-agent"),
            )
            .package(Pkg::new("needs-awk", "1.0").depends("awk-virtual"))
            .package(
                Pkg::new("aaa-awk", "1.0")
                    .provides("awk-virtual")
                    .priority("optional"),
            )
            .package(
                Pkg::new("zzz-awk", "1.0")
                    .provides("awk-virtual")
                    .priority("important"),
            )
            .package(Pkg::new("needs-abi2", "1.0").depends("libfoo-abi (>= 2)"))
            .package(
                Pkg::new("foo-one", "1.0")
                    .provides("libfoo-abi (= 1)")
                    .priority("required"),
            )
            .package(
                Pkg::new("foo-unversioned", "1.0")
                    .provides("libfoo-abi")
                    .priority("required"),
            )
            .package(Pkg::new("foo-two", "1.0").provides("libfoo-abi (= 2)"))
            .build(),
    );
    let apt = Apt::new(&site.server.url(), "virt", &site.keyring);
    agree(&site, &apt, &["needs-mta"], &["needs-mta", "tiny-mta"]);
    // Of two providers, the one of higher priority (not the first name).
    agree(&site, &apt, &["needs-awk"], &["needs-awk", "zzz-awk"]);
    // Only a versioned `Provides: libfoo-abi (= 2)` satisfies (>= 2).
    agree(&site, &apt, &["needs-abi2"], &["foo-two", "needs-abi2"]);
    // A virtual name in system.include is its only provider.
    agree(&site, &apt, &["mail-transport-agent"], &["tiny-mta"]);
    agree_fails(
        &site,
        &apt,
        &["awk-virtual"],
        &["awk-virtual", "aaa-awk", "zzz-awk"],
    );
}

#[test]
fn versioned_constraints_follow_dpkg_ordering() {
    let site = Site::new(
        TestRepo::new("vers")
            .package(Pkg::new("need-epoch", "1.0").depends("epkg (>= 1:0)"))
            .package(Pkg::new("epkg", "1:0.5~rc1"))
            .package(Pkg::new("need-tilde", "1.0").depends("tpkg (>= 1.0~)"))
            .package(Pkg::new("need-final", "1.0").depends("tpkg (>= 1.0)"))
            .package(Pkg::new("tpkg", "1.0~rc1"))
            .package(Pkg::new("need-lt", "1.0").depends("ltpkg (<< 2.0)"))
            .package(Pkg::new("need-lt-no", "1.0").depends("ltpkg (<< 1.9.9)"))
            .package(Pkg::new("ltpkg", "1.9.9"))
            .package(Pkg::new("need-eq", "1.0").depends("eqpkg (= 3.1-2)"))
            .package(Pkg::new("need-eq-no", "1.0").depends("eqpkg (= 3.1)"))
            .package(Pkg::new("eqpkg", "3.1-2"))
            .package(Pkg::new("need-gt", "1.0").depends("gtpkg (>> 1.0)"))
            .package(Pkg::new("gtpkg", "1.0+b1"))
            .package(Pkg::new("need-le", "1.0").depends("lepkg (<= 1:0)"))
            .package(Pkg::new("lepkg", "9.0"))
            .package(Pkg::new("need-multi", "1.0").depends("multi (>= 1.5)"))
            .package(Pkg::new("multi", "1.0"))
            .package(Pkg::new("multi", "2.0"))
            .build(),
    );
    let apt = Apt::new(&site.server.url(), "vers", &site.keyring);
    for (top, dep, version) in [
        ("need-epoch", "epkg", "1:0.5~rc1"),
        ("need-tilde", "tpkg", "1.0~rc1"),
        ("need-lt", "ltpkg", "1.9.9"),
        ("need-eq", "eqpkg", "3.1-2"),
        ("need-gt", "gtpkg", "1.0+b1"),
        ("need-le", "lepkg", "9.0"),
        ("need-multi", "multi", "2.0"),
    ] {
        let mut want = [dep, top];
        want.sort();
        agree(&site, &apt, &[top], &want);
        let lines = resolve(&site, &site.recipe().include(&[top]));
        assert!(
            lines.contains(&format!("{dep} {version} amd64")),
            "{lines:?}"
        );
    }
    for (top, rel, have) in [
        ("need-final", "tpkg (>= 1.0)", "1.0~rc1"),
        ("need-lt-no", "ltpkg (<< 1.9.9)", "1.9.9"),
        ("need-eq-no", "eqpkg (= 3.1)", "3.1-2"),
    ] {
        agree_fails(&site, &apt, &[top], &[rel, have, top, "system.include"]);
    }
}

#[test]
fn missing_dependency_shows_the_chain_to_the_request() {
    let site = Site::new(
        TestRepo::new("chain")
            .package(Pkg::new("chain-top", "1.0").depends("chain-mid"))
            .package(
                Pkg::new("chain-mid", "1.0").pre_depends("chain-low (>= 2)"),
            )
            .package(Pkg::new("chain-low", "1.0"))
            .build(),
    );
    let err = resolve_error(&site, &site.recipe().include(&["chain-top"]));
    assert_in_order(
        &err,
        &[
            "chain-low (>= 2)",
            "chain-low has version 1.0",
            "chain-mid 1.0",
            "Pre-Depends",
            "chain-top 1.0",
            "system.include",
        ],
    );
}

#[test]
fn conflicts_and_breaks_in_the_set_are_errors() {
    let site = Site::new(
        TestRepo::new("conf")
            .package(Pkg::new("con-a", "1.0").conflicts("con-b"))
            .package(Pkg::new("con-b", "1.0"))
            .package(Pkg::new("brk-a", "1.0").breaks("brk-b (<< 2)"))
            .package(Pkg::new("brk-old", "1.0").breaks("brk-b (<< 1.0)"))
            .package(Pkg::new("brk-b", "1.0"))
            .package(
                Pkg::new("self-con", "1.0")
                    .provides("x-virtual")
                    .conflicts("x-virtual"),
            )
            .build(),
    );
    let apt = Apt::new(&site.server.url(), "conf", &site.keyring);
    agree_fails(
        &site,
        &apt,
        &["con-a", "con-b"],
        &["con-a", "Conflicts", "con-b"],
    );
    agree_fails(
        &site,
        &apt,
        &["brk-b", "brk-a"],
        &["brk-a", "Breaks", "brk-b"],
    );
    agree(&site, &apt, &["brk-old", "brk-b"], &["brk-b", "brk-old"]);
    // `Provides: x` with `Conflicts: x` does not conflict with itself.
    agree(&site, &apt, &["self-con"], &["self-con"]);
}
