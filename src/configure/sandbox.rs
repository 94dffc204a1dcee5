//! The sandbox in which maintainer scripts run at build time.
//!
//! util-linux's `unshare` makes new mount, PID, IPC, UTS and network
//! namespaces, and, for a normal user, a user namespace too (ids from
//! [`super::idmap`]). Inside, as root of those namespaces, one shell
//! script ([`script`]):
//!
//! 1. mounts a tmpfs on the staging directory and unpacks the tree into
//!    it from a tar stream on standard input;
//! 2. binds the host's `null`, `zero`, `full`, `random`, `urandom` and
//!    `tty` onto empty files in its `/dev` (a user namespace may not
//!    make device nodes, so the tree's own are not sent), mounts
//!    `/proc` of the new PID namespace, sets the recipe's host name in
//!    the new UTS namespace, and keeps daemons from starting (a
//!    `policy-rc.d` answering 101 and a `start-stop-daemon` that starts
//!    nothing, as debootstrap does), and initramfs-tools from making an
//!    initrd that lunforge makes itself
//!    ([`super::maintscripts::hold_initramfs`]);
//! 3. runs the owed preinsts and `dpkg --configure -a` in a `chroot`;
//! 4. kills whatever the scripts left running, undoes step 2 and writes
//!    the configured tree to standard output as a tar stream, which is
//!    read back into a new [`Tree`]; the tree's device nodes are put
//!    back from the original. Only the staging tmpfs is packed
//!    (`--one-file-system`): what a script mounted stays out.
//!
//! So every mount lives in a mount namespace that dies with the script:
//! nothing is ever mounted on the build host, and nothing stays behind
//! even when the build is killed (the staging directory is then only
//! the empty mount point, which the build removes). The scripts see
//! only a loopback network that is down, and no daemon they start
//! outlives the PID namespace.
//!
//! Why `unshare(1)` rather than `unshare(2)` from here: a process must be
//! single-threaded to enter a new user namespace, and its id maps must be
//! written from outside by the set-uid `newuidmap`/`newgidmap`, after
//! the namespace exists and before anything runs in it. The build is
//! multi-threaded; `unshare` is the small, well-kept program that does
//! exactly this dance (mmdebstrap drives the same helpers from Perl).
//! Why tar across the boundary rather than the staging directory: inside
//! a user namespace the files belong to ids the build's own user cannot
//! read or remove from outside, so the tree goes in and comes out
//! through a pipe, and the files stay on a tmpfs that vanishes with the
//! namespace.

use std::io::{BufRead, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::idmap::IdMap;
use super::maintscripts::{self, Package};
use super::{Error, Result};
use crate::output::tar::{write_tar, TarOptions};
use crate::progress::{Level, Progress};
use crate::tree::{GuestPath, Kind, Spool, Tree};
use crate::unpack::{self, Limits};

/// The namespaces of the sandbox, as `unshare(1)` options: `--fork` so
/// that the script is PID 1 of the new PID namespace, `--kill-child` so
/// that the namespace dies with `unshare` itself.
pub const NAMESPACES: &[&str] = &[
    "--mount",
    "--pid",
    "--ipc",
    "--uts",
    "--net",
    "--fork",
    "--kill-child",
];

/// The host's device nodes bound into the sandbox's `/dev`.
const HOST_DEVICES: &[&str] =
    &["full", "null", "random", "tty", "urandom", "zero"];

/// What the script prints (to standard error) before each step, so a
/// failure names the step.
const STEP: &str = "lunforge-sandbox: ";

/// Who runs the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    /// The build runs as root: no user namespace.
    Root,
    /// A normal user: a user namespace with these maps.
    User(IdMap),
}

/// What the sandbox needs besides the tree.
#[derive(Debug, Clone, Copy)]
pub struct Sandbox<'a> {
    /// Root, or the user namespace's maps.
    pub privilege: Privilege,
    /// The host name the scripts see.
    pub hostname: &'a str,
    /// `SOURCE_DATE_EPOCH` of the scripts.
    pub source_date_epoch: i64,
    /// Where the (empty) mount point of the staging tmpfs is made.
    pub staging: &'a Path,
}

/// Where the sandbox's time went, as seen from outside: until its tar
/// reader had the whole tree, until the configured tree started to come
/// back (the scripts), and until it was read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Times {
    /// The tree sent in and unpacked.
    pub tree_in: Duration,
    /// The maintainer scripts.
    pub scripts: Duration,
    /// The configured tree read back.
    pub tree_out: Duration,
}

impl std::fmt::Display for Times {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "tree in {:.1} s, scripts {:.1} s, tree out {:.1} s",
            self.tree_in.as_secs_f64(),
            self.scripts.as_secs_f64(),
            self.tree_out.as_secs_f64()
        )
    }
}

/// Configure `tree`: the preinsts of `order`, then `dpkg --configure -a`,
/// in the sandbox; the configured tree is returned, with where the time
/// went. What the sandbox prints (each step, each script's output,
/// dpkg's `Setting up …`) goes to `progress` line by line as it comes,
/// shown at `-vv`.
pub fn configure(
    tree: &Tree,
    order: &[&Package],
    sandbox: &Sandbox<'_>,
    progress: &dyn Progress,
) -> Result<(Tree, Times)> {
    let mount_point = tempfile::Builder::new()
        .prefix("lunforge-root-")
        .tempdir_in(sandbox.staging)
        .map_err(|source| Error::Staging {
            path: sandbox.staging.into(),
            source,
        })?;
    let script = script(order, sandbox.hostname)?;
    let mut cmd = Command::new("unshare");
    if let Privilege::User(map) = &sandbox.privilege {
        cmd.args(map.unshare_args());
    }
    cmd.args(NAMESPACES)
        .args(["--", "sh", "-c", &script, "lunforge-sandbox"])
        .arg(mount_point.path());
    environment(&mut cmd, sandbox.source_date_epoch);
    let (mut configured, times) = run(cmd, &without_devices(tree)?, progress)?;
    restore_devices(tree, &mut configured)?;
    Ok((configured, times))
}

/// The environment of the sandbox and so of every maintainer script:
/// fixed, so the host's leaks into nothing, with the build's
/// `SOURCE_DATE_EPOCH` (shadow and others honour it for the dates they
/// write).
fn environment(cmd: &mut Command, sde: i64) {
    cmd.env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("LC_ALL", "C.UTF-8")
        .env("HOME", "/root")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env("DEBCONF_NONINTERACTIVE_SEEN", "true")
        .env("SOURCE_DATE_EPOCH", sde.to_string());
}

/// The tree without its device nodes, which the sandbox cannot make.
fn without_devices(tree: &Tree) -> Result<Tree> {
    let mut out = tree.clone();
    for path in device_paths(tree) {
        out.remove(&path)?;
    }
    Ok(out)
}

fn device_paths(tree: &Tree) -> Vec<GuestPath> {
    tree.iter()
        .filter(|(_, _, n)| {
            matches!(n.kind, Kind::CharDev { .. } | Kind::BlockDev { .. })
        })
        .map(|(p, _, _)| p.clone())
        .collect()
}

/// Put the device nodes of `original` into `configured`.
fn restore_devices(original: &Tree, configured: &mut Tree) -> Result<()> {
    for path in device_paths(original) {
        if let Some(node) = original.get(&path) {
            configured.insert(&path, node.meta.clone(), node.kind.clone())?;
        }
    }
    Ok(())
}

/// Run the sandbox: `input` as a tar stream to its standard input, the
/// configured tree read back from its standard output, its standard
/// error passed on to `progress` and kept for the error message.
fn run(
    mut cmd: Command,
    input: &Tree,
    progress: &dyn Progress,
) -> Result<(Tree, Times)> {
    let start = Instant::now();
    // In a process group of its own, which a signal kills whole
    // ([`crate::cancel::wait`]): `kill -TERM` reaches lunforge alone.
    let mut child = crate::cancel::spawn(
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .map_err(|source| Error::Spawn {
        what: "unshare (util-linux)".into(),
        source,
    })?;
    let (stdin, stdout, stderr) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let (sent, read, log, status) = std::thread::scope(|s| {
        let sent = s.spawn(move || {
            let mut stdin = stdin?;
            write_tar(input, &mut stdin, &TarOptions::default()).ok()?;
            drop(stdin);
            Some(start.elapsed())
        });
        let log = s.spawn(move || {
            let mut text = Vec::new();
            if let Some(e) = stderr {
                let _ = log_lines(e, &mut text, progress);
            }
            String::from_utf8_lossy(&text).into_owned()
        });
        let read = s.spawn(move || {
            stdout.map(|out| {
                let mut out = FirstByte::new(out, start);
                let tree = read_back(&mut out);
                (tree, out.at)
            })
        });
        let status = crate::cancel::wait(&mut child);
        (
            sent.join().ok().flatten(),
            read.join().ok().flatten(),
            log.join().unwrap_or_default(),
            status,
        )
    });
    let status = status.map_err(|e| match e {
        crate::cancel::WaitError::Interrupted(i) => Error::Interrupted(i),
        crate::cancel::WaitError::Io(source) => Error::Spawn {
            what: "unshare (util-linux)".into(),
            source,
        },
    })?;
    let Some(tree_in) = sent.filter(|_| status.success()) else {
        return Err(failure(&log, &status.to_string()));
    };
    match read {
        Some((Ok(tree), first)) => {
            let first = first.unwrap_or(tree_in).max(tree_in);
            let end = start.elapsed();
            Ok((
                tree,
                Times {
                    tree_in,
                    scripts: first.saturating_sub(tree_in),
                    tree_out: end.saturating_sub(first),
                },
            ))
        }
        Some((Err(e), _)) => Err(e),
        None => Err(failure(&log, "no output")),
    }
}

/// Read the sandbox's standard error to its end into `text`, telling
/// `progress` each line as it comes: a step as `configure: STEP`, and
/// anything else (scripts, dpkg) indented beneath.
fn log_lines(
    stderr: impl Read,
    text: &mut Vec<u8>,
    progress: &dyn Progress,
) -> std::io::Result<()> {
    let mut reader = std::io::BufReader::new(stderr);
    loop {
        let start = text.len();
        if reader.read_until(b'\n', text)? == 0 {
            return Ok(());
        }
        let line = String::from_utf8_lossy(&text[start..]);
        let line = line.trim_end();
        match line.strip_prefix(STEP) {
            Some(step) => {
                progress.detail(Level::Trace, format_args!("configure: {step}"))
            }
            None => progress
                .detail(Level::Trace, format_args!("configure:   {line}")),
        }
    }
}

/// A reader that notes when its first byte came, measured from `since`.
struct FirstByte<R> {
    inner: R,
    made: Instant,
    at: Option<Duration>,
}

impl<R> FirstByte<R> {
    fn new(inner: R, since: Instant) -> FirstByte<R> {
        FirstByte {
            inner,
            made: since,
            at: None,
        }
    }
}

impl<R: Read> Read for FirstByte<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 && self.at.is_none() {
            self.at = Some(self.made.elapsed());
        }
        Ok(n)
    }
}

/// The error of a failed sandbox: the step it was at and the end of
/// what it said.
fn failure(log: &str, status: &str) -> Error {
    let what = log
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(STEP))
        .map_or("the configure sandbox (unshare)".to_string(), |s| {
            s.to_string()
        });
    let tail: Vec<&str> = log.lines().rev().take(15).collect();
    Error::Script {
        what,
        status: status.into(),
        output: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
    }
}

/// Read the configured tree from the sandbox's tar stream.
fn read_back(stdout: &mut impl Read) -> Result<Tree> {
    let spool = Spool::new().map_err(|source| Error::Staging {
        path: std::env::temp_dir(),
        source,
    })?;
    // The sandbox's own output: bounded only so that a runaway script
    // cannot fill the disk through the spool unnoticed.
    let limits = Limits {
        max_bytes: 64 << 30,
        max_entries: 10_000_000,
    };
    let entries =
        unpack::read_tar(stdout, "the configured tree", &spool, &limits)?;
    let mut tree = Tree::with_spool(0, spool);
    for e in &entries {
        unpack::insert_entry(&mut tree, e)?;
    }
    Ok(tree)
}

/// A word of the script: package names, keys and architectures are
/// Debian's (`[a-z0-9+.-]`, `:` in keys), host names RFC 1123's; anything
/// else is refused rather than quoted.
fn word(s: &str) -> Result<&str> {
    let ok = !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'+' | b'.' | b'-' | b':' | b'_')
        });
    if ok {
        Ok(s)
    } else {
        Err(Error::UnsafeName { name: s.into() })
    }
}

/// The script run inside the namespaces; `$1` is the mount point.
fn script(order: &[&Package], hostname: &str) -> Result<String> {
    let mut s = String::from(
        "set -eu\n\
         # fd 3: the tar stream back; everything else goes to stderr.\n\
         exec 3>&1 1>&2\n\
         step() { printf 'lunforge-sandbox: %s\\n' \"$*\"; }\n\
         step 'unpack the tree'\n\
         mount -t tmpfs -o mode=0755 lunforge-staging \"$1\"\n\
         cd \"$1\"\n\
         tar -x -p --numeric-owner --xattrs --xattrs-include='*' -f -\n\
         exec </dev/null\n\
         step 'prepare /dev, /proc and the host name'\n",
    );
    for dev in HOST_DEVICES {
        s.push_str(&format!(
            ": > dev/{dev}\nmount --bind /dev/{dev} dev/{dev}\n"
        ));
    }
    s.push_str(&format!(
        "mount -t proc proc proc\n\
         hostname {}\n\
         if [ -e usr/sbin/start-stop-daemon ]; then\n\
         \tmv usr/sbin/start-stop-daemon usr/sbin/start-stop-daemon.REAL\n\
         \tprintf '#!/bin/sh\\necho \"Warning: Fake start-stop-daemon called, doing nothing\" >&2\\nexit 0\\n' > usr/sbin/start-stop-daemon\n\
         \tchmod 755 usr/sbin/start-stop-daemon\n\
         fi\n\
         printf '#!/bin/sh\\nexit 101\\n' > usr/sbin/policy-rc.d\n\
         chmod 755 usr/sbin/policy-rc.d\n",
        word(hostname)?
    ));
    s.push_str(&maintscripts::hold_initramfs("."));
    for p in order {
        let (name, key, arch) = (word(&p.name)?, word(&p.key)?, word(&p.arch)?);
        s.push_str(&format!(
            "step '{name} preinst install'\n\
             DPKG_MAINTSCRIPT_PACKAGE={name} DPKG_MAINTSCRIPT_NAME=preinst \
             DPKG_MAINTSCRIPT_ARCH={arch} DPKG_MAINTSCRIPT_PACKAGE_REFCOUNT=1 \
             DPKG_ADMINDIR=/var/lib/dpkg DPKG_ROOT= \
             chroot . /var/lib/dpkg/info/{key}.preinst install 3>&-\n"
        ));
    }
    s.push_str(
        "step 'dpkg --configure -a'\n\
         chroot . dpkg --configure -a 3>&-\n\
         step 'pack the configured tree'\n\
         kill -KILL -1 2>/dev/null || true\n\
         rm -f usr/sbin/policy-rc.d\n\
         if [ -e usr/sbin/start-stop-daemon.REAL ]; then\n\
         \tmv -f usr/sbin/start-stop-daemon.REAL usr/sbin/start-stop-daemon\n\
         fi\n",
    );
    s.push_str(&maintscripts::release_initramfs("."));
    s.push_str("umount proc\n");
    for dev in HOST_DEVICES {
        s.push_str(&format!("umount dev/{dev}\nrm -f dev/{dev}\n"));
    }
    s.push_str(
        "tar -c --one-file-system --format=posix --numeric-owner \
         --xattrs --xattrs-include='*' \
         --pax-option=delete=atime,delete=ctime -f - . >&3\n",
    );
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn pkg(name: &str, key: &str) -> Package {
        Package {
            name: name.into(),
            key: key.into(),
            arch: "amd64".into(),
            needs: BTreeSet::new(),
            has_preinst: true,
        }
    }

    #[test]
    fn the_script_runs_each_preinst_then_dpkg_and_hands_fd_3_to_no_script() {
        let a = pkg("base-passwd", "base-passwd");
        let b = pkg("libc6", "libc6:amd64");
        let s = script(&[&a, &b], "virtual01").unwrap();
        let first = s.find("info/base-passwd.preinst install").unwrap();
        let second = s.find("info/libc6:amd64.preinst install").unwrap();
        let dpkg = s.find("chroot . dpkg --configure -a").unwrap();
        assert!(first < second && second < dpkg);
        let hold = s.find(&maintscripts::hold_initramfs(".")).unwrap();
        let release = s.find(&maintscripts::release_initramfs(".")).unwrap();
        let pack = s.find("tar -c ").unwrap();
        assert!(hold < first && dpkg < release && release < pack, "{s}");
        assert!(s.contains("hostname virtual01\n"));
        for line in s.lines().filter(|l| l.contains("chroot .")) {
            assert!(line.ends_with("3>&-"), "{line}");
        }
        assert!(s.trim_end().ends_with(">&3"));
    }

    #[test]
    fn names_that_are_not_debian_words_are_refused() {
        let evil = pkg("x$(reboot)", "x");
        assert!(matches!(
            script(&[&evil], "h"),
            Err(Error::UnsafeName { name }) if name == "x$(reboot)"
        ));
        assert!(script(&[], "a b").is_err());
    }

    #[test]
    fn a_failure_names_the_last_step() {
        let log = "lunforge-sandbox: unpack the tree\n\
                   lunforge-sandbox: libc6 preinst install\n\
                   oops\n";
        let e = failure(log, "exit status: 1");
        assert_eq!(
            e.to_string(),
            "libc6 preinst install failed (exit status: 1):\n\
             lunforge-sandbox: unpack the tree\n\
             lunforge-sandbox: libc6 preinst install\noops"
        );
        let e =
            failure("unshare: unshare failed: Operation not permitted\n", "x");
        assert!(e
            .to_string()
            .starts_with("the configure sandbox (unshare) failed"));
    }
}
