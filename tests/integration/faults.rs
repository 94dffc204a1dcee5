//! Faults through the command line: a mirror that breaks while it
//! serves (a reset or a clean close mid-body, a body of the wrong length
//! or content, a body or an answer that stops coming), an output file
//! system that fills up (also under a previous build's image and boot
//! files, which must stay as they were), a read-only output directory,
//! and a `TMPDIR` too small for the spool. Each must end in a non-zero exit and a
//! message naming what failed (the package and URL, the output path, the
//! temporary directory), leave nothing half-written (no `.part` or
//! temporary file, no partial image, no unverified file in the cache),
//! and a rerun without the fault must succeed.
//!
//! Oracles: the faulty mirror ([`crate::support::faulty`]) counts the
//! attempts; the cache is checked file by file ([`cache_contents`]:
//! every file hashes to its name, `tmp/` is empty); what is left in a
//! directory is listed by `find`. The file system faults are real ones:
//! a small tmpfs or a read-only bind mount, made by `mount` (as root) in
//! a private mount namespace of `unshare`, so nothing of them is seen on
//! the host or outlives the test; the listing is taken inside that
//! namespace, after lunforge exits.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use lunforge::repo::transport::ATTEMPTS;

use crate::support::faulty::{Fault, FaultyMirror};
use crate::support::oracle::is_root;
use crate::support::testrepo::{Pkg, TestRepo};
use crate::support::{
    assert_in_order, cache_contents, finish, lunforge_cmd, require, RecipeFile,
    Run, Site,
};

/// `LUNFORGE_STALL_TIMEOUT` of every run: a stalled attempt gives up
/// after two seconds (a healthy answer from 127.0.0.1 comes much sooner,
/// even on a loaded machine; one that does not is retried).
const STALL: &str = "2";

/// A test repository served by a faulty mirror.
struct Bed {
    site: Site,
    mirror: FaultyMirror,
}

/// Three packages; the one the faults hit sorts last (`zz-victim`), so a
/// one-job fetch has the others before it fails.
fn bed() -> Bed {
    let repo = TestRepo::new("faults")
        .package(Pkg::new("base-a", "1.0").essential().payload(64 << 10))
        .package(Pkg::new("base-b", "1.0").essential().payload(64 << 10))
        .package(
            Pkg::new("zz-victim", "2.0-1")
                .essential()
                .payload(256 << 10),
        )
        .build();
    let site = Site::new(repo);
    let mirror = FaultyMirror::start(&site.repo.mirror());
    Bed { site, mirror }
}

impl Bed {
    /// The victim's pool path and full URL.
    fn victim(&self) -> (String, String) {
        let path = self.site.repo.deb("zz-victim").path.clone();
        let url = format!("{}/{path}", self.mirror.url());
        (path, url)
    }

    /// The `Packages.xz` index's path and full URL.
    fn index(&self) -> (String, String) {
        let path = format!(
            "dists/{}/main/binary-amd64/Packages.xz",
            self.site.repo.suite
        );
        let url = format!("{}/{path}", self.mirror.url());
        (path, url)
    }

    /// `lunforge COMMAND RECIPE …` against the faulty mirror, with the
    /// test's stall timeout.
    fn run(&self, command: &str, extra: &[&str]) -> Run {
        let recipe = RecipeFile::new(&self.mirror.url(), &self.site.repo.suite);
        let path = recipe.write(self.site.work.path());
        let args = self.site.args(command, &path, &self.site.cache(), extra);
        let (mut cmd, shown) = lunforge_cmd(args);
        cmd.env("LUNFORGE_STALL_TIMEOUT", STALL);
        finish(shown, cmd.output())
    }

    /// The cache holds only verified files, not the victim, and no
    /// `.part` file is left anywhere in the work directory.
    #[track_caller]
    fn nothing_unverified(&self) {
        let cached = cache_contents(&self.site.cache());
        let victim = &self.site.repo.deb("zz-victim").sha256;
        assert!(!cached.contains_key(victim), "the victim is cached");
        no_temporary_files(self.site.work.path());
    }

    /// Without the fault, `lunforge fetch` succeeds and caches every
    /// package as served.
    #[track_caller]
    fn rerun_fetches_everything(&self) {
        self.mirror.heal();
        self.run("fetch", &[]).ok();
        let cached = cache_contents(&self.site.cache());
        for d in &self.site.repo.debs {
            assert_eq!(
                cached.get(&d.sha256),
                Some(&std::fs::read(self.site.repo.file(&d.path)).unwrap()),
                "{} not cached after the rerun",
                d.name
            );
        }
        no_temporary_files(self.site.work.path());
    }
}

/// No file or directory under `dir` has a temporary name (`.part`,
/// `.tmp`, `.staging`, `.boot`).
#[track_caller]
fn no_temporary_files(dir: &Path) {
    let out = Command::new("find").arg(dir).output().expect("find");
    let listing = String::from_utf8_lossy(&out.stdout);
    let temp: Vec<&str> = listing
        .lines()
        .filter(|l| {
            [".part", ".tmp", ".staging", ".boot"]
                .iter()
                .any(|t| l.contains(t))
        })
        .collect();
    assert!(temp.is_empty(), "temporary files left: {temp:?}");
}

/// Fetch with the victim spoiled by `fault` on every attempt: the error,
/// after checking that it names the package and the URL and that
/// nothing unverified was kept; then the rerun without the fault.
fn fetch_fails(fault: Fault, attempts: usize, says: &str) {
    let bed = bed();
    let (path, url) = bed.victim();
    bed.mirror.inject(&path, fault);
    let err = bed.run("fetch", &["--jobs", "1"]).fails();
    assert_in_order(&err, &["package zz-victim 2.0-1", &url, says]);
    assert_eq!(bed.mirror.count(&path), attempts, "{fault:?}: {err}");
    bed.nothing_unverified();
    bed.rerun_fetches_everything();
}

/// A network fault is retried: every attempt is made before the error.
#[test]
fn a_reset_mid_body_fails_after_every_attempt_naming_the_url() {
    fetch_fails(Fault::Reset, ATTEMPTS as usize, ": reading the response: ");
}

#[test]
fn a_body_shorter_than_its_length_fails_naming_the_url() {
    fetch_fails(
        Fault::ShortBody,
        ATTEMPTS as usize,
        ": reading the response: ",
    );
}

/// A stall is a network fault too, given up on after the stall timeout
/// (`LUNFORGE_STALL_TIMEOUT`, which the message names).
#[test]
fn a_stalled_body_times_out_naming_the_url() {
    fetch_fails(Fault::StallBody, ATTEMPTS as usize, STALLED);
}

#[test]
fn a_silent_mirror_times_out_naming_the_url() {
    fetch_fails(Fault::Silent, ATTEMPTS as usize, STALLED);
}

/// The message of a stalled attempt with the test's stall timeout.
const STALLED: &str = ": no answer from the mirror for 2 s (the stall \
                       timeout; LUNFORGE_STALL_TIMEOUT sets it)";

/// A file of the wrong length or content is the mirror's, not the
/// network's: refused at the first attempt, not retried.
#[test]
fn a_body_of_the_wrong_length_is_refused_at_once() {
    let bed = bed();
    let size = bed.site.repo.deb("zz-victim").size;
    drop(bed);
    fetch_fails(
        Fault::WrongLength,
        1,
        &format!("larger than the {size} bytes it may have"),
    );
}

#[test]
fn a_body_of_the_wrong_content_is_refused_at_once() {
    let bed = bed();
    let sha256 = bed.site.repo.deb("zz-victim").sha256.clone();
    drop(bed);
    fetch_fails(
        Fault::WrongContent,
        1,
        &format!("does not match the expected {sha256}"),
    );
}

/// A network fault on the first attempt only is retried into success
/// (at least two requests: on a loaded machine a healthy attempt may
/// stall too, and be retried again); a checksum mismatch on the first
/// attempt only is still an error.
#[test]
fn a_transient_fault_is_retried_into_success() {
    for fault in [Fault::Reset, Fault::ShortBody, Fault::StallBody] {
        let bed = bed();
        let (path, _) = bed.victim();
        bed.mirror.inject_once(&path, fault);
        bed.run("fetch", &["--jobs", "1"]).ok();
        let requests = bed.mirror.count(&path);
        assert!(requests >= 2, "{fault:?}: {requests} requests");
        let cached = cache_contents(&bed.site.cache());
        assert!(
            cached.contains_key(&bed.site.repo.deb("zz-victim").sha256),
            "{fault:?}: the victim is not cached"
        );
        no_temporary_files(bed.site.work.path());
    }
    let bed = bed();
    let (path, url) = bed.victim();
    bed.mirror.inject_once(&path, Fault::WrongContent);
    let err = bed.run("fetch", &["--jobs", "1"]).fails();
    assert_in_order(&err, &[&url, "SHA-256"]);
    assert_eq!(bed.mirror.count(&path), 1, "{err}");
    bed.nothing_unverified();
}

/// The signed index broken on the way: `resolve` names its URL, keeps
/// nothing of it, and succeeds once the mirror is healed.
#[test]
fn a_broken_index_fails_resolve_naming_the_url() {
    let bed = bed();
    let (path, url) = bed.index();
    for (fault, attempts, says) in [
        (Fault::Reset, ATTEMPTS as usize, ": reading the response: "),
        (Fault::WrongContent, 1, "SHA-256"),
    ] {
        bed.mirror.clear_log();
        bed.mirror.inject(&path, fault);
        let err = bed.run("resolve", &[]).fails();
        assert_in_order(&err, &[&url, says]);
        assert_eq!(bed.mirror.count(&path), attempts, "{fault:?}: {err}");
        let cached = cache_contents(&bed.site.cache());
        assert!(cached.is_empty(), "{fault:?}: cached {:?}", cached.keys());
        no_temporary_files(bed.site.work.path());
    }
    bed.mirror.heal();
    let out = bed.run("resolve", &[]).ok();
    assert!(
        out.stdout.contains("zz-victim 2.0-1 amd64"),
        "{}",
        out.stdout
    );
}

/// A build whose download breaks writes no output at all.
#[test]
fn a_build_against_a_broken_mirror_writes_nothing() {
    let bed = bed();
    let (path, url) = bed.victim();
    bed.mirror.inject(&path, Fault::Reset);
    let out = bed.site.work.path().join("out");
    let o = out.to_str().expect("utf-8 path");
    let err = bed
        .run("build", &["-o", o, "--configure", "firstboot"])
        .fails();
    assert_in_order(&err, &["package zz-victim 2.0-1", &url]);
    assert_eq!(left_in(&out), Vec::<String>::new());
    bed.nothing_unverified();
    bed.mirror.heal();
    bed.run("build", &["-o", o, "--configure", "firstboot"])
        .ok();
    assert!(out.join("testguest.img").is_file());
    no_temporary_files(bed.site.work.path());
}

/// What is in `dir` (relative paths), sorted; nothing for a missing
/// directory.
fn left_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = walk(dir)
        .iter()
        .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
        .collect();
    v.sort();
    v
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        out.push(e.path());
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walk(&e.path()));
        }
    }
    out
}

// ---- the file system faults ------------------------------------------

/// A repository whose package carries 3 MiB of incompressible payload:
/// more than the 1 MiB file systems of these tests can take, whether as
/// an image, a tarball or the spool of the unpacked tree.
fn big_site() -> Site {
    Site::new(
        TestRepo::new("fullfs")
            .package(Pkg::new("big", "1.0").essential().payload(3 << 20))
            .package(Pkg::new("small", "1.0").essential())
            .build(),
    )
}

/// The recipe: a 64 MiB disk, swap and an ext4 root.
fn small_disk(site: &Site) -> PathBuf {
    let path = site.work.path().join("small.toml");
    std::fs::write(&path, site.recipe().small_disk_text("ext4"))
        .expect("recipe");
    path
}

/// `lunforge build RECIPE … -o OUT --configure firstboot --format
/// FORMAT`: the cheapest build, nothing run at build time.
fn build_args(
    site: &Site,
    recipe: &Path,
    out: &Path,
    format: &str,
) -> Vec<OsString> {
    let o = out.to_str().expect("utf-8 path");
    let extra = ["-o", o, "--configure", "firstboot", "--format", format];
    site.args("build", recipe, &site.cache(), &extra)
}

/// What one run in a private mount namespace did, and what it left in
/// the directory it watched.
struct Contained {
    run: Run,
    /// `find DIR -mindepth 1` inside the namespace after lunforge
    /// exited: a directory's relative path, a file's with its size
    /// (`img 1024`).
    left: Vec<String>,
}

/// Run lunforge with `args` in a private mount namespace, after the
/// shell commands `setup` (which see `$D`, the watched directory); then
/// list what is left in `$D`, still inside the namespace. `env`: more
/// variables for lunforge.
fn contained(
    setup: &str,
    watched: &Path,
    args: Vec<OsString>,
    env: &[(&str, &Path)],
) -> Contained {
    assert!(
        is_root(),
        "mounting a tmpfs or a read-only bind mount in a private mount \
         namespace needs root (make test runs as root)"
    );
    require("unshare", "util-linux");
    require("mount", "mount");
    let work = tempfile::tempdir().expect("temp dir");
    let ready = work.path().join("ready");
    let listing = work.path().join("left");
    let (lunforge, shown) = lunforge_cmd(args);
    let script = format!(
        "set -e\n{setup}\n: > \"$LF_READY\"\nset +e\n\"$@\"\nrc=$?\n\
         find \"$D\" -mindepth 1 \\( -type f -printf '%P %s\\n' \\) \
         -o -printf '%P\\n' > \"$LF_LEFT\" && \
         echo {END} >> \"$LF_LEFT\"\nexit $rc\n"
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .arg("sh")
        .arg(lunforge.get_program())
        .args(lunforge.get_args())
        .env("D", watched)
        .env("LF_READY", &ready)
        .env("LF_LEFT", &listing);
    for (k, v) in lunforge.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let run = finish(shown, cmd.output());
    assert!(
        ready.exists(),
        "the namespace's set-up failed:\n{setup}\n{}",
        run.stderr
    );
    let mut left: Vec<String> = std::fs::read_to_string(&listing)
        .expect("listing")
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(left.pop().as_deref(), Some(END), "find failed: {left:?}");
    left.sort();
    Contained { run, left }
}

/// The last line of a listing that `find` completed.
const END: &str = "--end-of-listing--";

/// A tmpfs of `size` on `$D`, checked to be full as soon as 2 MiB are
/// written to it (so the fault is real).
fn tmpfs(size: &str) -> String {
    format!(
        "mount -t tmpfs -o size={size} lunforge-test \"$D\"\n\
         ! head -c 2097152 /dev/zero > \"$D/probe\" 2>/dev/null\n\
         rm \"$D/probe\""
    )
}

/// The output directory on a 1 MiB tmpfs: the image, then the tarball,
/// fail naming their path and the file system's error; nothing is left
/// in the directory; the cache is what it was; the same build to a
/// directory with room succeeds from the cache.
#[test]
fn a_full_output_file_system_leaves_no_partial_output() {
    let site = big_site();
    let recipe = small_disk(&site);
    site.run("fetch", &site.recipe(), &[]).ok();
    let cache_before = cache_contents(&site.cache());
    let out = site.work.path().join("out");
    std::fs::create_dir(&out).unwrap();
    for (format, file) in [("image", "testguest.img"), ("tar", "testguest.tar")]
    {
        let args = build_args(&site, &recipe, &out, format);
        let c = contained(&tmpfs("1M"), &out, args, &[]);
        let err = c.run.fails();
        assert_in_order(
            &err,
            &[
                &out.join(file).display().to_string(),
                "No space left on device",
            ],
        );
        assert_eq!(c.left, Vec::<String>::new(), "{format}: {err}");
    }
    assert_eq!(cache_contents(&site.cache()), cache_before);
    let room = site.work.path().join("room");
    crate::support::lunforge(build_args(&site, &recipe, &room, "image")).ok();
    assert!(room.join("testguest.img").is_file());
    assert_eq!(cache_contents(&site.cache()), cache_before);
    no_temporary_files(site.work.path());
}

/// A read-only output directory (a read-only bind mount: root ignores
/// mode bits): refused naming the path, before anything is downloaded,
/// and nothing is written there.
#[test]
fn a_read_only_output_directory_is_refused_and_left_alone() {
    let site = big_site();
    let recipe = small_disk(&site);
    let out = site.work.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let setup = "mount --bind \"$D\" \"$D\"\n\
                 mount -o remount,bind,ro \"$D\"\n\
                 ! touch \"$D/probe\" 2>/dev/null";
    for format in ["image", "tar"] {
        let args = build_args(&site, &recipe, &out, format);
        let c = contained(setup, &out, args, &[]);
        let err = c.run.fails();
        assert_in_order(
            &err,
            &[&out.display().to_string(), "Read-only file system"],
        );
        assert_eq!(c.left, Vec::<String>::new(), "{format}: {err}");
    }
    assert!(
        cache_contents(&site.cache()).is_empty(),
        "downloaded for an output that cannot be written"
    );
    crate::support::lunforge(build_args(&site, &recipe, &out, "image")).ok();
    assert!(out.join("testguest.img").is_file());
    no_temporary_files(site.work.path());
}

/// `TMPDIR` on a 1 MiB tmpfs: the spool of the unpacked tree cannot
/// take the 3 MiB package. The error names the directory and the file
/// system's error; nothing is left there, nothing is written to the
/// output; the rerun with room succeeds.
#[test]
fn a_full_tmpdir_fails_naming_it_and_leaves_nothing() {
    let site = big_site();
    let recipe = small_disk(&site);
    let tmp = site.work.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = site.work.path().join("out");
    let args = build_args(&site, &recipe, &out, "image");
    let c = contained(&tmpfs("1M"), &tmp, args, &[("TMPDIR", &tmp)]);
    let err = c.run.fails();
    assert_in_order(
        &err,
        &[&tmp.display().to_string(), "No space left on device"],
    );
    assert_eq!(c.left, Vec::<String>::new(), "{err}");
    assert_eq!(left_in(&out), Vec::<String>::new(), "{err}");
    let cache_before = cache_contents(&site.cache());
    let (mut cmd, shown) =
        lunforge_cmd(build_args(&site, &recipe, &out, "image"));
    cmd.env("TMPDIR", &tmp);
    finish(shown, cmd.output()).ok();
    assert!(out.join("testguest.img").is_file());
    assert_eq!(cache_contents(&site.cache()), cache_before);
    assert_eq!(left_in(&tmp), Vec::<String>::new());
    no_temporary_files(site.work.path());
}

// ---- a build's outputs together ----------------------------------------

/// `lunforge build -o OUT` of the built-in guest from the host's mirror
/// (the test repository has no kernel, so no boot files): the cheapest
/// build that has them, a 1 GiB disk and nothing run at build time.
fn guest_args(out: &Path) -> Vec<OsString> {
    let cache = crate::support::qemu::test_cache();
    let args = [
        "-q".as_ref(),
        "build".as_ref(),
        "-o".as_ref(),
        out.as_os_str(),
        "--cache".as_ref(),
        cache.as_os_str(),
        "--configure".as_ref(),
        "firstboot".as_ref(),
        "--set".as_ref(),
        "image.size=1GiB".as_ref(),
    ];
    args.iter()
        .map(|a: &&std::ffi::OsStr| a.to_os_string())
        .collect()
}

/// A tmpfs on `$D` with the previous build's outputs (`keep`) or none,
/// sized to hold them and half the boot files, and with `keep = false`
/// the image as well: the new image then fits but not the boot files,
/// and with `keep`, not even the boot files do (a new image fits only
/// once the old one is gone). The sizes are taken on the tmpfs itself
/// from a copy of the previous build: the pages a rebuild of the same
/// bytes allocates.
fn full_but_for(keep: bool) -> String {
    let (clear, image) = if keep {
        ("", 0)
    } else {
        ("rm -r \"$D\"/*\n", 1)
    };
    format!(
        "mount -t tmpfs -o size=8G lunforge-test \"$D\"\n\
         cp -a \"$PREV\"/. \"$D\"/\n\
         img=$(($(stat -c '%b * %B' \"$D/{GUEST}.img\")))\n\
         boot=$(du -s -B1 \"$D/{GUEST}\" | cut -f1)\n\
         {clear}\
         used=$(df --output=used -B1 \"$D\" | tail -n1)\n\
         mount -o remount,size=$((used + {image} * img + boot / 2)) \"$D\""
    )
}

/// The built-in recipe's image name.
const GUEST: &str = "virtual01";

/// The boot files that do not fit: the build fails with the file
/// system's error, leaves no temporary file or directory, and no new
/// image, whether the image would fit (it is written after the boot
/// files are staged, and never renamed into place) or not; a previous
/// build's outputs stand as they were (marked here: an image one page
/// longer, a file of its own in the boot directory). A rebuild with
/// room replaces both.
#[test]
fn boot_files_that_do_not_fit_leave_the_previous_build_whole() {
    // Not `.tmp…`: [`no_temporary_files`] looks for that.
    let work = tempfile::Builder::new().prefix("commit-").tempdir();
    let work = work.expect("temp dir");
    let prev = work.path().join("prev");
    crate::support::lunforge(guest_args(&prev)).ok();
    let image = prev.join(format!("{GUEST}.img"));
    let len = std::fs::metadata(&image).expect("image").len();
    let old = std::fs::OpenOptions::new()
        .write(true)
        .open(&image)
        .unwrap();
    old.set_len(len + 4096).expect("marking the old image");
    std::fs::write(prev.join(GUEST).join("OLD"), b"old").unwrap();
    let before = left_in(&prev);
    assert!(
        before.contains(&format!("{GUEST}/SHA256SUMS")),
        "{before:?}"
    );
    let old_image = format!("{GUEST}.img {}", len + 4096);
    let out = work.path().join("out");
    std::fs::create_dir(&out).unwrap();
    for keep in [false, true] {
        let c = contained(
            &full_but_for(keep),
            &out,
            guest_args(&out),
            &[("PREV", &prev)],
        );
        let err = c.run.fails();
        let place = if keep {
            // Staged first, and named by its final path.
            format!("{}/", out.join(GUEST).display())
        } else {
            format!("{}.img", out.join(GUEST).display())
        };
        if !keep {
            assert_eq!(c.left, Vec::<String>::new(), "{err}");
        }
        assert_in_order(&err, &[&place, "No space left on device"]);
        if !keep {
            continue;
        }
        assert!(
            c.left.contains(&old_image)
                && c.left.contains(&format!("{GUEST}/OLD 3")),
            "the old outputs are not in place: {:?}\n{err}",
            c.left
        );
        let names: Vec<&str> = c
            .left
            .iter()
            .map(|l| l.split(' ').next().unwrap_or(l))
            .collect();
        assert_eq!(names, before, "{err}");
    }
    crate::support::lunforge(guest_args(&prev)).ok();
    let now = left_in(&prev);
    assert!(!now.contains(&format!("{GUEST}/OLD")), "{now:?}");
    assert_eq!(std::fs::metadata(&image).unwrap().len(), len);
    let mut expected = before.clone();
    expected.retain(|p| p != &format!("{GUEST}/OLD"));
    assert_eq!(now, expected);
    no_temporary_files(&prev);
}
