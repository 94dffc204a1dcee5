//! The installed root file system (`lunforge build --format tar`),
//! checked by dpkg and against mmdebstrap:
//!
//! - **chroot strategy** (trixie and bookworm, minbase and important, run
//!   from [`crate::host_mirror`] with the tarball mmdebstrap made there):
//!   unpacked, `dpkg --root=DIR --audit` is silent and `dpkg -l` shows
//!   every package `ii`; every path with its type, mode, owner and
//!   symlink target equals mmdebstrap's, except the differences
//!   [`explained`] lists, each with its reason.
//! - **firstboot strategy**: every package unpacked, `--audit` reports
//!   exactly the unpacked packages, and the first-boot script, run in a
//!   chroot as the guest's initrd runs it, configures them all once.
//! - **reproducibility**: two builds from one lockfile with one
//!   `SOURCE_DATE_EPOCH` give byte-identical tarballs.
//!
//! The chroot strategy and the first-boot check need root, as they would
//! for any user; CI runs as root.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::oracle::is_root;
use crate::support::{lunforge, run};

/// Type letter, mode, uid, gid and link target of a tarball member.
type Member = (char, u32, u64, u64, String);

/// The members of a tarball by path (`etc/passwd`, no `./`, no slash).
fn members(tar: &Path) -> BTreeMap<String, Member> {
    let f = std::fs::File::open(tar).expect("open tarball");
    let mut a = tar::Archive::new(f);
    let mut out = BTreeMap::new();
    for e in a.entries().expect("tar entries") {
        let e = e.expect("tar entry");
        let h = e.header();
        let path = e.path().expect("path").to_string_lossy().into_owned();
        let path = path.trim_start_matches("./").trim_end_matches('/');
        let kind = match h.entry_type() {
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Char => 'c',
            tar::EntryType::Block => 'b',
            tar::EntryType::Fifo => 'p',
            _ => '-',
        };
        let target = match h.entry_type() {
            tar::EntryType::Symlink => e
                .link_name()
                .ok()
                .flatten()
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default(),
            _ => String::new(),
        };
        out.insert(
            path.to_string(),
            (
                kind,
                h.mode().unwrap_or(0) & 0o7777,
                h.uid().unwrap_or(0),
                h.gid().unwrap_or(0),
                target,
            ),
        );
    }
    out
}

/// Why a member may differ between the two trees when both have it
/// (beyond the rules of [`explained`]), or `None` when it may not.
fn explained_change(
    path: &str,
    ours: &Member,
    theirs: &Member,
) -> Option<&'static str> {
    let dynamic = |id: u64| (100..1000).contains(&id);
    let same_id = |a: u64, b: u64| a == b || (dynamic(a) && dynamic(b));
    let (k, m, u, g, t) = ours;
    let (k2, m2, u2, g2, t2) = theirs;
    if k == k2 && m == m2 && t == t2 && same_id(*u, *u2) && same_id(*g, *g2) {
        return Some(
            "a system user or group made by a maintainer script: ids are \
             handed out in the order dpkg configures packages",
        );
    }
    if k == k2 && *k == 'l' && t.strip_prefix("/usr") == Some(t2.as_str()) {
        return Some("the same unit file, reached through merged /usr");
    }
    if path == "etc/machine-id" {
        return Some(
            "emptied as mmdebstrap does, keeping the mode systemd gave it",
        );
    }
    if ["etc/passwd-", "etc/group-", "etc/shadow-", "etc/gshadow-"]
        .contains(&path)
    {
        return Some(
            "backups the shadow tools make keep the mode of the moment, \
             which depends on the order of the scripts",
        );
    }
    None
}

/// Why a path may differ between lunforge's tree and mmdebstrap's, or
/// `None` when it may not.
fn explained(
    path: &str,
    only_mm_packages: &BTreeSet<String>,
) -> Option<&'static str> {
    const RULES: &[(&str, &str)] = &[
        ("dev/tty", "lunforge adds the guest's consoles tty1-tty6"),
        ("dev/hvc0", "lunforge adds the Xen console"),
        ("dev/xvda", "lunforge adds the guest's disk as Xen names it"),
        ("etc/hosts", "a guest file of the recipe"),
        (
            "etc/hostname",
            "mmdebstrap copies the host's (mode 0755 here)",
        ),
        (
            "etc/resolv.conf",
            "mmdebstrap copies the host's; lunforge writes the recipe's",
        ),
        ("etc/network", "the recipe's /etc/network/interfaces"),
        (
            "etc/apt/sources.list",
            "mmdebstrap writes one-line sources.list; lunforge writes \
             sources.list.d/debian.sources with -updates and security",
        ),
        ("etc/timezone", "the recipe's system.timezone"),
        ("etc/default/locale", "the recipe's system.locale"),
        (
            "etc/locale.conf",
            "the recipe's system.locale: Debian 13's systemd postinst moves \
             /etc/default/locale here (and links it back)",
        ),
        ("etc/systemd/system/getty.target.wants", "a getty on hvc0"),
        (
            "var/cache/apt/archives/",
            "apt ran in mmdebstrap's build: locks, partial/ owned by _apt",
        ),
        (
            "var/lib/apt/lists",
            "apt's lists and locks (kept by the oracle's --skip)",
        ),
        (
            "var/lib/apt/extended_states",
            "apt ran in mmdebstrap's build",
        ),
    ];
    if let Some((_, why)) = RULES.iter().find(|(p, _)| path.starts_with(p)) {
        return Some(why);
    }
    only_mm_packages
        .contains(path)
        .then_some("shipped by a package only one of the two installs (usrmerge | usr-is-merged)")
}

/// Paths (no leading slash) listed by `info/*.list` of packages that are
/// in mmdebstrap's tree but not in lunforge's, plus their info files.
fn paths_of_missing_packages(
    mm_tar: &Path,
    ours: &BTreeSet<String>,
) -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    let listing = run(Command::new("tar").arg("-tf").arg(mm_tar), "tar");
    for member in String::from_utf8_lossy(&listing.stdout).lines() {
        let Some(name) = member
            .strip_prefix("./var/lib/dpkg/info/")
            .and_then(|n| n.strip_suffix(".list"))
        else {
            continue;
        };
        let pkg = name.split(':').next().unwrap_or(name);
        if ours.contains(pkg) {
            continue;
        }
        let list = run(
            Command::new("tar").arg("-xOf").arg(mm_tar).arg(member),
            "tar",
        );
        for p in String::from_utf8_lossy(&list.stdout).lines() {
            paths.insert(p.trim_start_matches('/').to_string());
        }
        let prefix = format!("var/lib/dpkg/info/{name}.");
        for m in String::from_utf8_lossy(&listing.stdout).lines() {
            if let Some(rest) = m.strip_prefix("./") {
                if rest.starts_with(&prefix) {
                    paths.insert(rest.to_string());
                }
            }
        }
    }
    paths
}

/// Unpack `tar` into a new directory under `work` and return it.
fn untar(tar: &Path, work: &Path, name: &str) -> PathBuf {
    let dir = work.join(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    run(
        Command::new("tar")
            .args(["--numeric-owner", "--xattrs", "--xattrs-include=*", "-xpf"])
            .arg(tar)
            .arg("-C")
            .arg(&dir),
        "tar",
    );
    dir
}

/// `dpkg --root=DIR ARGS`.
fn dpkg(dir: &Path, args: &[&str]) -> String {
    let out = run(
        Command::new("dpkg")
            .arg(format!("--root={}", dir.display()))
            .args(args),
        "dpkg",
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `lunforge build --format tar` for `suite`/`variant` with `extra`
/// arguments; the tarball's path.
fn build(
    suite: &str,
    variant: &str,
    cache: &Path,
    out: &Path,
    extra: &[&str],
) -> PathBuf {
    let mut args: Vec<String> = vec![
        "build".into(),
        "-q".into(),
        "--format".into(),
        "tar".into(),
        "-o".into(),
        out.display().to_string(),
        "--cache".into(),
        cache.display().to_string(),
        "--set".into(),
        format!("system.suite={suite}"),
        "--set".into(),
        format!("system.variant={variant}"),
        "--set".into(),
        "system.include=[]".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    lunforge(&args).ok();
    out.join("virtual01.tar")
}

/// Packages marked `ii` by `dpkg -l`, and every other line.
fn states(dir: &Path) -> (BTreeSet<String>, Vec<String>) {
    let mut ii = BTreeSet::new();
    let mut other = Vec::new();
    // Skip the header: "Desired=…", "| Status=…", "|/ Err?=…", "||/ Name…",
    // "+++-…".
    for l in dpkg(dir, &["-l"]).lines().filter(|l| {
        !(l.is_empty()
            || l.starts_with('|')
            || l.starts_with('+')
            || l.starts_with("Desired"))
    }) {
        let mut w = l.split_whitespace();
        let state = w.next().unwrap_or_default();
        let name = w.next().unwrap_or_default();
        let name = name.split(':').next().unwrap_or(name).to_string();
        if state == "ii" {
            ii.insert(name);
        } else {
            other.push(l.to_string());
        }
    }
    (ii, other)
}

/// The chroot strategy's tree against mmdebstrap's tarball.
pub(crate) fn compare_root_with_mmdebstrap(
    suite: &str,
    variant: &str,
    cache: &Path,
    mm_tar: &Path,
    work: &Path,
) {
    assert!(
        is_root(),
        "the chroot strategy needs root: run the tests as root (CI does)"
    );
    let tar = build(
        suite,
        variant,
        cache,
        &work.join("out"),
        &["--configure", "chroot"],
    );
    let dir = untar(&tar, work, "root");
    assert_eq!(
        dpkg(&dir, &["--audit"]),
        "",
        "dpkg --audit of {suite} {variant}"
    );
    let (ii, other) = states(&dir);
    assert!(other.is_empty(), "packages not ii: {other:#?}");
    assert!(ii.len() > 50, "{ii:?}");
    let ours = members(&tar);
    let theirs = members(mm_tar);
    let mut missing = paths_of_missing_packages(mm_tar, &ii);
    let mm_ii: BTreeSet<String> =
        crate::support::oracle::parse_status(&String::from_utf8_lossy(
            &run(
                Command::new("tar")
                    .arg("-xOf")
                    .arg(mm_tar)
                    .arg("./var/lib/dpkg/status"),
                "tar",
            )
            .stdout,
        ))
        .into_keys()
        .collect();
    missing.extend(paths_of_missing_packages(&tar, &mm_ii));
    let mut unexplained = Vec::new();
    for (path, m) in &ours {
        match theirs.get(path) {
            Some(t) if t == m => {}
            Some(t)
                if explained(path, &missing).is_none()
                    && explained_change(path, m, t).is_none() =>
            {
                unexplained
                    .push(format!("~ {path}: lunforge {m:?}, mmdebstrap {t:?}"))
            }
            None if explained(path, &missing).is_none() => {
                unexplained.push(format!("+ {path}: only lunforge {m:?}"))
            }
            _ => {}
        }
    }
    for (path, t) in &theirs {
        if !ours.contains_key(path) && explained(path, &missing).is_none() {
            unexplained.push(format!("- {path}: only mmdebstrap {t:?}"));
        }
    }
    assert!(
        unexplained.is_empty(),
        "{suite} {variant}: {} unexplained differences from mmdebstrap:\n{}",
        unexplained.len(),
        unexplained
            .iter()
            .take(60)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn work(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(name)
        .tempdir()
        .expect("work dir")
}

/// A hash in yescrypt form and an SSH key, for `[access]` (set as given,
/// never checked against a password).
const HASH: &str =
    "$y$j9T$N7iZEmMmDSOUQKPUJa2Mv.$JkBjzHmt7AEoo8pdGl9gaRt2aOUl5OQ1QOKPC4Vgqe5";
const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB2Ojk4T0aSzaT3dd7N9mRZKeiXDQn2UXxzSyrMg5Fx6 operator@lunforge.invalid";

/// firstboot: all unpacked; the first-boot step configures, once.
#[test]
fn firstboot_tree_is_configured_by_its_first_boot_step() {
    let w = work("lf-firstboot-");
    let cache = w.path().join("cache");
    let tar = build(
        "trixie",
        "minbase",
        &cache,
        &w.path().join("out"),
        &[
            "--configure",
            "firstboot",
            "--set",
            &format!("access.root_password_hash={HASH}"),
            "--set",
            &format!("access.root_authorized_keys=[\"{KEY}\"]"),
        ],
    );
    let dir = untar(&tar, w.path(), "root");
    let audit = dpkg(&dir, &["--audit"]);
    assert!(
        audit.starts_with(
            "The following packages have been unpacked but not yet configured."
        ),
        "{audit}"
    );
    let (ii, other) = states(&dir);
    assert!(ii.is_empty(), "configured at build time: {ii:?}");
    assert!(other.iter().all(|l| l.starts_with("iU ")), "{other:#?}");
    let unpacked = other.len();
    assert!(unpacked > 50);
    assert!(dir.join("var/lib/lunforge/firstboot-pending").exists());
    // Before its first boot the root is already usable: what the
    // essential scripts would have set up is there.
    let passwd =
        std::fs::read_to_string(dir.join("etc/passwd")).expect("passwd");
    assert!(passwd.starts_with("root:"), "{passwd}");
    for f in [
        "etc/group",
        "etc/nsswitch.conf",
        "etc/shells",
        "root/.profile",
    ] {
        assert!(dir.join(f).exists(), "{f} missing before first boot");
    }
    assert_eq!(
        std::fs::read_link(dir.join("usr/bin/awk")).expect("awk link"),
        Path::new("/etc/alternatives/awk")
    );
    assert!(is_root(), "running the first-boot step in a chroot needs root: run the tests as root (CI does)");
    let proc_dir = dir.join("proc");
    let step = |dir: &Path| {
        run(
            Command::new("mount")
                .args(["-t", "proc", "proc"])
                .arg(&proc_dir),
            "mount",
        );
        let out = Command::new("chroot")
            .arg(dir)
            .arg("/usr/lib/lunforge/firstboot")
            .output();
        run(Command::new("umount").arg(&proc_dir), "mount");
        let out = out.expect("run chroot");
        assert!(
            out.status.success(),
            "first boot failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = step(&dir);
    assert!(first.contains("Setting up base-files"), "{first}");
    assert_eq!(dpkg(&dir, &["--audit"]), "");
    let (ii, other) = states(&dir);
    assert_eq!((ii.len(), other.len()), (unpacked, 0), "{other:#?}");
    assert!(!dir.join("var/lib/lunforge/firstboot-pending").exists());
    let shadow =
        std::fs::read_to_string(dir.join("etc/shadow")).expect("shadow");
    assert!(
        shadow.starts_with(&format!("root:{HASH}:")),
        "root's hash not set by the first boot:\n{shadow}"
    );
    let keys = std::fs::read_to_string(dir.join("root/.ssh/authorized_keys"))
        .expect("authorized_keys");
    assert_eq!(keys, format!("{KEY}\n"));
    let second = step(&dir);
    assert_eq!(second, "", "the second boot configured again");
}

/// One lock and one SOURCE_DATE_EPOCH give the same bytes twice: the
/// tarball of the firstboot strategy, and the disk image with its boot
/// files (kernel, initrd, xl config, SHA256SUMS) of the chroot strategy,
/// whose maintainer scripts run at build time.
#[test]
fn builds_are_reproducible() {
    let w = work("lf-repro-");
    let cache = w.path().join("cache");
    let recipe = w.path().join("guest.toml");
    std::fs::write(
        &recipe,
        lunforge::recipe::EMBEDDED.replace(
            "variant = \"minbase\"",
            "variant = \"minbase\"\nconfigure = \"auto\"",
        ),
    )
    .expect("recipe");
    let common = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vec![
            recipe.display().to_string(),
            "--cache".into(),
            cache.display().to_string(),
            "--set".into(),
            "system.include=[\"linux-image-amd64\"]".into(),
            "--set".into(),
            "image.size=\"2GiB\"".into(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let mut lock = vec!["lock".to_string()];
    lock.extend(common(&[]));
    lunforge(&lock).ok();
    for strategy in ["firstboot", "chroot"] {
        if strategy == "chroot" {
            assert!(is_root(), "the chroot strategy needs root: run the tests as root (CI does)");
        }
        let mut sums = Vec::new();
        for i in 0..2 {
            let out = w.path().join(format!("{strategy}-{i}"));
            let mut args = vec![
                "build".to_string(),
                "-q".into(),
                "--locked".into(),
                "-o".into(),
                out.display().to_string(),
                "--configure".into(),
                strategy.into(),
            ];
            let tar = strategy == "firstboot";
            if tar {
                args.extend(["--format".to_string(), "tar".into()]);
            }
            args.extend(common(&[]));
            let (mut cmd, shown) = crate::support::lunforge_cmd(&args);
            cmd.env("SOURCE_DATE_EPOCH", "1700000000");
            crate::support::finish(shown, cmd.output()).ok();
            let file = if tar {
                "virtual01.tar"
            } else {
                "virtual01.img"
            };
            let mut sum = sha256_file(&out.join(file));
            if !tar {
                let sums = out.join("virtual01/SHA256SUMS");
                let text = std::fs::read_to_string(&sums).expect("SHA256SUMS");
                assert!(text.contains("  initrd.img-"), "{text}");
                sum.push_str(&text);
            }
            sums.push(sum);
        }
        assert_eq!(sums[0], sums[1], "{strategy}: two builds differ");
        if strategy == "chroot" {
            let (sum, image) =
                build_unprivileged(&recipe, &cache, &common(&[]));
            // The manifest and the SBOM name the strategy and the
            // recipe's path, which differ between the two by design.
            assert_eq!(
                without_records(&sum),
                without_records(&sums[0]),
                "the unprivileged build (configure = \"unshare\") differs \
                 from the chroot build of the same lock"
            );
            assert_all_installed(&image);
        }
    }
}

/// `SHA256SUMS` text without the lines of `manifest.json` and
/// `sbom.spdx.json`.
fn without_records(sums: &str) -> String {
    sums.lines()
        .filter(|l| {
            !l.ends_with("  manifest.json") && !l.ends_with("  sbom.spdx.json")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The same build by a normal user made for the test, with a range of
/// subordinate ids and nothing else: `configure = "auto"` must pick the
/// user namespace and configure every package. Returns what the chroot
/// builds are compared by (the image's SHA-256, then SHA256SUMS), and the
/// image, kept with the user's directory until the test ends.
fn build_unprivileged(
    recipe: &Path,
    cache: &Path,
    common: &[String],
) -> (String, tempfile::TempPath) {
    use std::os::unix::fs::PermissionsExt;
    let user = crate::support::user::TestUser::create("ns");
    // A directory the user can reach (the test's own is root's, 0700),
    // with copies of the program, recipe, lock and download cache.
    let home = work("lf-unpriv-");
    std::fs::set_permissions(
        home.path(),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    let h = home.path();
    let exe = h.join("lunforge");
    std::fs::copy(env!("CARGO_BIN_EXE_lunforge"), &exe).expect("copy lunforge");
    let own_recipe = h.join("guest.toml");
    std::fs::copy(recipe, &own_recipe).expect("copy the recipe");
    std::fs::copy(recipe.with_extension("lock"), h.join("guest.lock"))
        .expect("copy the lock");
    run(
        Command::new("cp").arg("-a").arg(cache).arg(h.join("cache")),
        "coreutils",
    );
    user.own(h);
    let out = h.join("out");
    let mut args: Vec<String> = vec![
        "build".into(),
        "--locked".into(),
        "-o".into(),
        out.display().to_string(),
        own_recipe.display().to_string(),
    ];
    // The common arguments name the root's recipe and cache: take the
    // user's copies instead.
    let mut rest = common.iter().skip(1);
    while let Some(a) = rest.next() {
        if a == "--cache" {
            rest.next();
            args.extend([
                "--cache".into(),
                h.join("cache").display().to_string(),
            ]);
        } else {
            args.push(a.clone());
        }
    }
    let mut cmd = user.command(&exe, h);
    cmd.args(&args)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .current_dir(h);
    let shown = args.clone();
    let r = crate::support::finish(shown, cmd.output()).ok();
    assert!(
        r.stderr.contains("configure: unshare (configure = \"auto\": not root, but a user namespace"),
        "auto did not pick the user namespace:\n{}",
        r.stderr
    );
    let image = out.join("virtual01.img");
    let mut sum = sha256_file(&image);
    sum.push_str(
        &std::fs::read_to_string(out.join("virtual01/SHA256SUMS"))
            .expect("SHA256SUMS"),
    );
    // Keep the image past the user's directory: move it to a root-owned
    // temporary path.
    let kept = tempfile::NamedTempFile::new()
        .expect("temp file")
        .into_temp_path();
    std::fs::rename(&image, &kept).expect("keep the image");
    drop(home);
    drop(user);
    (sum, kept)
}

/// Every package of the image's dpkg database is installed, read with
/// debugfs from the root partition (the last of `sfdisk --json`).
fn assert_all_installed(image: &Path) {
    let json =
        run(Command::new("sfdisk").arg("--json").arg(image), "fdisk").stdout;
    let json: serde_json::Value =
        serde_json::from_slice(&json).expect("sfdisk --json");
    let table = &json["partitiontable"];
    let start = table["partitions"]
        .as_array()
        .and_then(|p| p.last())
        .and_then(|p| p["start"].as_u64())
        .expect("a partition");
    let sector = table["sectorsize"].as_u64().unwrap_or(512);
    let spec = format!("{}?offset={}", image.display(), start * sector);
    let status = run(
        Command::new("debugfs").args(["-R", "cat /var/lib/dpkg/status", &spec]),
        "e2fsprogs",
    )
    .stdout;
    let status = String::from_utf8_lossy(&status);
    let packages = status
        .lines()
        .filter(|l| l.starts_with("Package: "))
        .count();
    let installed = crate::support::oracle::parse_status(&status).len();
    assert!(packages > 50, "{packages} packages in /var/lib/dpkg/status");
    assert_eq!(installed, packages, "packages not installed:\n{status}");
}

/// Hex SHA-256 of a (possibly multi-GiB, sparse) file, streamed.
fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    let mut f = std::fs::File::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut f, &mut h).expect("read");
    hex::encode(h.finalize())
}
