//! The installed guest as a Debian operator expects it after
//! debootstrap or mmdebstrap, built as a tarball from the local test
//! repository (`--configure firstboot`: nothing runs at build time) and
//! read by apt itself:
//!
//! - **apt sources**: `apt-get indextargets` with `Dir=` the unpacked
//!   tree lists the suite and its `-updates` from the mirror and the
//!   security suite from the recipe's `system.security` (or, for a
//!   suite signed by the Debian archive keyring, with `Signed-By`,
//!   beside the mirror);
//! - **automatic marks**: once `dpkg --root` has configured the
//!   unpacked packages (they have no maintainer scripts), `apt-mark
//!   showauto` lists exactly the packages `lunforge resolve --json` and
//!   the lock call automatic, `apt-get -s autoremove` removes nothing,
//!   and removing an included package with `--auto-remove` takes the
//!   dependency only it needed and keeps the one another package needs;
//! - **time zone and locale**: `/etc/localtime` names a zone file of the
//!   guest's tzdata, `/etc/locale.gen` enables the locale as a line of
//!   the guest's `SUPPORTED`, both packages brought in by the keys and
//!   marked manual; a zone or locale the guest lacks fails the build
//!   naming the key and what exists, and leaves no tarball.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::testrepo::{Pkg, TestRepo};
use crate::support::{run, Site};

/// Suite `lfguest`: an essential package with a dependency, two
/// packages the recipe includes that share one dependency and each
/// have one of their own, and stand-ins for tzdata and locales with
/// the files lunforge reads.
fn site() -> Site {
    let supported = "C.UTF-8 UTF-8\nen_GB ISO-8859-1\nen_GB.UTF-8 UTF-8\n\
                     en_US.UTF-8 UTF-8\n";
    Site::new(
        TestRepo::new("lfguest")
            .package(Pkg::new("base", "1").essential().depends("libbase"))
            .package(Pkg::new("libbase", "1"))
            .package(Pkg::new("tool", "1").depends("libtool, libshared"))
            .package(Pkg::new("other", "1").depends("libshared"))
            .package(Pkg::new("libtool", "1"))
            .package(Pkg::new("libshared", "1").arch("all"))
            .package(
                Pkg::new("tzdata", "2026a-1")
                    .arch("all")
                    .file("/usr/share/zoneinfo/Etc/UTC", b"TZif2")
                    .file("/usr/share/zoneinfo/Europe/London", b"TZif2")
                    .file("/usr/share/zoneinfo/Europe/Paris", b"TZif2"),
            )
            .package(
                Pkg::new("locales", "2.41-1")
                    .arch("all")
                    .file("/usr/share/i18n/SUPPORTED", supported.as_bytes()),
            )
            .build(),
    )
}

/// The site's recipe with `include = ["tool", "other"]`, `exclude` and
/// `extra` lines in `[system]`, written to `WORK/guest.toml`.
fn recipe(site: &Site, exclude: &[&str], extra: &str) -> PathBuf {
    let text = site
        .recipe()
        .include(&["tool", "other"])
        .exclude(exclude)
        .text();
    let path = site.work.path().join("guest.toml");
    std::fs::write(&path, format!("{text}{extra}")).expect("recipe");
    path
}

/// `lunforge build RECIPE --format tar --configure firstboot -o OUT`.
fn build(site: &Site, recipe: &Path, out: &Path) -> crate::support::Run {
    let o = out.to_str().expect("utf-8 path");
    let extra = ["-o", o, "--configure", "firstboot", "--format", "tar"];
    crate::support::lunforge(site.args("build", recipe, &site.cache(), &extra))
}

/// `apt-get`/`apt-mark` ARGS on the tree at `root`, its output.
fn apt(program: &str, root: &Path, args: &[&str]) -> String {
    let out = run(
        Command::new(program)
            .arg("-o")
            .arg(format!("Dir={}", root.display()))
            .args(args),
        "apt",
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `REPO_URI SUITE COMPONENT` of each amd64 `Packages` index apt would
/// fetch for the sources of the tree at `root`.
fn package_indexes(root: &Path) -> String {
    apt(
        "apt-get",
        root,
        &[
            "indextargets",
            "--no-release-info",
            "--format",
            "$(REPO_URI) $(RELEASE) $(COMPONENT)",
            "Identifier: Packages",
            "Architecture: amd64",
        ],
    )
}

fn lines(text: &str) -> BTreeSet<String> {
    text.lines().map(str::to_string).collect()
}

/// The packages a `Remv` line of `apt-get -s` names.
fn removed(sim: &str) -> BTreeSet<String> {
    sim.lines()
        .filter_map(|l| l.strip_prefix("Remv "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn guest_has_sources_automatic_marks_time_zone_and_locale() {
    let site = site();
    let security = format!("{}/debian-security", site.server.url());
    let path = recipe(
        &site,
        &[],
        &format!(
            "security = {security:?}\ntimezone = \"Europe/London\"\n\
             locale = \"en_GB.UTF-8\"\n"
        ),
    );
    let out = site.work.path().join("out");
    build(&site, &path, &out).ok();
    let root = site.work.path().join("root");
    std::fs::create_dir(&root).expect("root dir");
    run(
        Command::new("tar")
            .arg("-xf")
            .arg(out.join("testguest.tar"))
            .arg("-C")
            .arg(&root),
        "tar",
    );

    // The sources, as apt reads them.
    let targets = package_indexes(&root);
    let mirror = site.server.url();
    let mirror = mirror.trim_end_matches('/');
    assert_eq!(
        lines(&targets),
        lines(&format!(
            "{mirror}/ lfguest main\n{mirror}/ lfguest-updates main\n\
             {security}/ lfguest-security main\n"
        )),
        "{targets}"
    );

    // The automatic marks: what the resolver says, apt reads.
    let json = site
        .run(
            "resolve",
            &site.recipe().include(&["tool", "other"]),
            &[
                "--json",
                "--set",
                "system.timezone=Europe/London",
                "--set",
                "system.locale=en_GB.UTF-8",
            ],
        )
        .ok();
    let v: serde_json::Value =
        serde_json::from_str(&json.stdout).expect("--json prints JSON");
    let claimed: BTreeSet<String> = v["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|p| p["auto"].as_bool() == Some(true))
        .map(|p| p["name"].as_str().unwrap_or_default().to_string())
        .collect();
    let why = |name: &str| {
        v["packages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == name)
            .map(|p| p["why"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    assert_eq!(why("tzdata"), "system.timezone");
    assert_eq!(why("locales"), "system.locale");
    assert_eq!(why("libtool"), "tool Depends: libtool");
    run(
        Command::new("dpkg")
            .arg(format!("--root={}", root.display()))
            .args(["--force-not-root", "--configure", "-a"]),
        "dpkg",
    );
    let auto = lines(&apt("apt-mark", &root, &["showauto"]));
    assert_eq!(auto, claimed);
    assert_eq!(auto, lines("libshared\nlibtool\n"));
    let manual = lines(&apt("apt-mark", &root, &["showmanual"]));
    assert_eq!(
        manual,
        lines("base\nlibbase\nlocales\nother\ntool\ntzdata\n"),
        "the essential stage, the includes and what the keys need"
    );
    let fresh = apt("apt-get", &root, &["-s", "autoremove"]);
    assert_eq!(removed(&fresh), BTreeSet::new(), "{fresh}");
    let sim = apt("apt-get", &root, &["-s", "remove", "--auto-remove", "tool"]);
    assert_eq!(removed(&sim), lines("libtool\ntool\n"), "{sim}");

    // Time zone and locale.
    let link = std::fs::read_link(root.join("etc/localtime")).expect("link");
    assert_eq!(link, Path::new("/usr/share/zoneinfo/Europe/London"));
    assert!(root.join(link.strip_prefix("/").expect("abs")).is_file());
    let read = |p: &str| std::fs::read_to_string(root.join(p)).expect(p);
    assert_eq!(read("etc/timezone"), "Europe/London\n");
    assert!(read("etc/default/locale").ends_with("\nLANG=en_GB.UTF-8\n"));
    let supported = read("usr/share/i18n/SUPPORTED");
    let enabled: Vec<String> = read("etc/locale.gen")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(str::to_string)
        .collect();
    assert_eq!(enabled, ["en_GB.UTF-8 UTF-8"]);
    assert!(supported.lines().any(|l| l == enabled[0]));
}

/// A suite verified with the Debian archive keyring: each paragraph
/// names it, and apt takes the file (it refuses a `Signed-By` it cannot
/// use); the security archive is the one beside a `/debian` mirror.
#[test]
fn sources_signed_by_the_debian_keyring_are_read_by_apt() {
    use lunforge::configure::apt::{sources, DEBIAN_KEYRING};
    use lunforge::recipe::{Recipe, Source};
    let work = tempfile::tempdir().expect("work dir");
    let path = work.path().join("r.toml");
    let mirror = "http://127.0.0.1:9/debian";
    std::fs::write(
        &path,
        format!(
            "[image]\nname = \"g\"\nsize = \"1GiB\"\n[system]\n\
             suite = \"trixie\"\nmirror = \"{mirror}\"\n\
             components = [\"main\", \"non-free-firmware\"]\n"
        ),
    )
    .expect("recipe");
    let r = Recipe::load(&Source::Path(path), &[], Path::new("/"))
        .expect("recipe loads");
    let root = work.path().join("root");
    let parts = root.join("etc/apt/sources.list.d");
    std::fs::create_dir_all(&parts).expect("dirs");
    std::fs::create_dir_all(root.join("var/lib/dpkg")).expect("dirs");
    std::fs::write(root.join("var/lib/dpkg/status"), "").expect("status");
    let text = sources(&r, Some(DEBIAN_KEYRING));
    assert_eq!(text.matches("\nSigned-By: ").count(), 2, "{text}");
    std::fs::write(parts.join("debian.sources"), &text).expect("sources");
    let targets = package_indexes(&root);
    let want: BTreeSet<String> = ["trixie", "trixie-updates"]
        .iter()
        .map(|s| (mirror, *s))
        .chain([("http://127.0.0.1:9/debian-security", "trixie-security")])
        .flat_map(|(uri, suite)| {
            ["main", "non-free-firmware"].map(|c| format!("{uri}/ {suite} {c}"))
        })
        .collect();
    assert_eq!(lines(&targets), want, "{text}");
}

#[test]
fn zones_and_locales_the_guest_lacks_fail_the_build() {
    let site = site();
    let out = site.work.path().join("out");
    for (exclude, extra, want) in [
        (
            &[][..],
            "timezone = \"Europe/Londn\"\n",
            "system.timezone = \"Europe/Londn\": no zone \
             /usr/share/zoneinfo/Europe/Londn in the guest's tzdata; \
             Europe/ has London, Paris",
        ),
        (
            &[],
            "locale = \"en_UK.UTF-8\"\n",
            "system.locale = \"en_UK.UTF-8\": not in the guest's \
             /usr/share/i18n/SUPPORTED; for \"en\" it has en_GB, \
             en_GB.UTF-8, en_US.UTF-8",
        ),
        (
            &["locales"],
            "locale = \"en_GB.UTF-8\"\n",
            "system.locale = \"en_GB.UTF-8\": the guest has no \
             /usr/share/i18n/SUPPORTED (the locales package is not \
             installed: is it in system.exclude?)",
        ),
    ] {
        let path = recipe(&site, exclude, extra);
        let err = build(&site, &path, &out).fails();
        assert!(err.contains(want), "{err}\n--- wanted: {want}");
        assert!(!out.join("testguest.tar").exists(), "a tarball was left");
    }
}
