//! The configure sandbox is sealed: a hostile "dpkg" run inside it (the
//! host's own `bash`, `mount` and `sleep` with their libraries, copied
//! into a small tree) mounts a file system, tries the network and leaves
//! a daemon behind. Afterwards the build host shows none of it: its mount
//! table is what it was, a listener on 127.0.0.1 saw no connection, no
//! such daemon runs, and the staging directory is gone. The tree that
//! comes back holds what the script wrote (its findings, with the host
//! name the sandbox gave it) but nothing of the file system it mounted.
//! What the sandbox prints reaches the build's progress as it comes
//! (shown at `-vv`): each step, and each line a script writes.
//!
//! It runs the library's sandbox as root with no user namespace, as the
//! `chroot` strategy does; the unprivileged one (the same namespaces in a
//! user namespace) builds a whole image in
//! [`crate::rootfs::builds_are_reproducible`].

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use lunforge::configure::sandbox::{self, Privilege, Sandbox};
use lunforge::progress::{Level, Recorder};
use lunforge::tree::{GuestPath, Kind, Meta, Tree};

use crate::support::run;

/// The daemon's argument, to find it among the host's processes.
const DAEMON_SECONDS: &str = "4242.424242";

/// The hostile `dpkg --configure -a`.
fn hostile_dpkg(port: u16) -> String {
    format!(
        "#!/bin/bash\n\
         echo 'Setting up hostile (1.0) ...' >&2\n\
         {{\n\
         echo \"args: $*\"\n\
         read -r h < /proc/sys/kernel/hostname; echo \"hostname: $h\"\n\
         if mount -t tmpfs lunforge-hostile /mnt && : > /mnt/inside; then\n\
         \techo 'mount: made'\n\
         fi\n\
         if (exec 5<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null; then\n\
         \techo 'network: reached'\n\
         else\n\
         \techo 'network: unreachable'\n\
         fi\n\
         sleep {DAEMON_SECONDS} </dev/null >/dev/null 2>&1 &\n\
         disown\n\
         echo 'daemon: started'\n\
         }} > /var/log/sealed 2>&1\n"
    )
}

/// The host file at `path` and every library `ldd` lists for it.
fn with_libraries(path: &str) -> Vec<PathBuf> {
    let out = run(Command::new("ldd").arg(path), "libc-bin");
    let mut all = vec![PathBuf::from(path)];
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let lib = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(lib) = lib.filter(|l| l.starts_with('/')) {
            all.push(PathBuf::from(lib));
        }
    }
    all
}

/// A tree with merged /usr, the host's `bash`, `mount` and `sleep`, and
/// the hostile dpkg.
fn hostile_tree(port: u16) -> Tree {
    let meta = |mode| Meta::root(mode, 1_700_000_000);
    let mut t = Tree::new(1_700_000_000).expect("tree");
    let p = |s: &str| GuestPath::new(s).expect("path");
    for dir in [
        "/usr/bin",
        "/usr/sbin",
        "/usr/lib",
        "/usr/lib64",
        "/dev",
        "/proc",
        "/mnt",
        "/var/log",
        "/etc",
    ] {
        t.create_dirs(&p(dir), &meta(0o755)).expect("dir");
    }
    for (link, to) in [
        ("/bin", "usr/bin"),
        ("/sbin", "usr/sbin"),
        ("/lib", "usr/lib"),
        ("/lib64", "usr/lib64"),
    ] {
        t.insert(&p(link), meta(0o777), Kind::Symlink(to.into()))
            .expect("symlink");
    }
    let mut files = BTreeSet::new();
    for program in ["/usr/bin/bash", "/usr/bin/mount", "/usr/bin/sleep"] {
        files.extend(with_libraries(program));
    }
    for file in files {
        let bytes = std::fs::read(&file)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let at = p(file.to_str().expect("UTF-8 path"));
        if let Some(parent) = at.parent() {
            t.create_dirs(&parent, &meta(0o755)).expect("dir");
        }
        t.write_file(&at, meta(0o755), &bytes).expect("file");
    }
    t.insert(
        &p("/dev/null"),
        meta(0o666),
        Kind::CharDev { major: 1, minor: 3 },
    )
    .expect("device node");
    t.write_file(
        &p("/usr/bin/dpkg"),
        meta(0o755),
        hostile_dpkg(port).as_bytes(),
    )
    .expect("dpkg");
    t
}

fn mounts() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo")
}

/// Processes whose command line names the daemon's argument.
fn daemons() -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let cmdline = entry.path().join("cmdline");
        if let Ok(raw) = std::fs::read(&cmdline) {
            let text = String::from_utf8_lossy(&raw).replace('\0', " ");
            if text.contains(DAEMON_SECONDS) {
                found.push(format!("{}: {text}", entry.path().display()));
            }
        }
    }
    found
}

#[test]
fn scripts_leave_no_mount_no_daemon_and_reach_no_network() {
    assert!(
        rustix::process::geteuid().is_root(),
        "the chroot sandbox needs root: run the tests as root (CI does)"
    );
    crate::support::require("unshare", "util-linux");
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("address").port();
    let staging = tempfile::tempdir().expect("staging");
    let before = mounts();

    let tree = hostile_tree(port);
    let trace = Recorder::default();
    let (configured, _) = sandbox::configure(
        &tree,
        &[],
        &Sandbox {
            privilege: Privilege::Root,
            hostname: "sealed-test",
            source_date_epoch: 1_700_000_000,
            staging: staging.path(),
        },
        &trace,
    )
    .expect("the sandbox runs the hostile dpkg");
    let lines = trace.lines();
    assert!(lines.iter().all(|(l, _)| *l == Level::Trace), "{lines:?}");
    let said: Vec<String> = lines.into_iter().map(|(_, s)| s).collect();
    let said = said.join("\n");
    crate::support::assert_in_order(
        &said,
        &[
            "configure: unpack the tree",
            "configure: dpkg --configure -a",
            "configure:   Setting up hostile (1.0) ...",
            "configure: pack the configured tree",
        ],
    );

    let log = GuestPath::new("/var/log/sealed").expect("path");
    let node = configured.get(&log).expect("the script's findings");
    let Kind::File(content) = &node.kind else {
        panic!("{log} is not a file")
    };
    let findings = String::from_utf8_lossy(
        &configured.spool().read(content).expect("read"),
    )
    .into_owned();
    for line in [
        "args: --configure -a",
        "hostname: sealed-test",
        "mount: made",
        "network: unreachable",
        "daemon: started",
    ] {
        assert!(findings.contains(line), "no {line:?} in:\n{findings}");
    }
    let inside: Vec<_> = configured
        .iter()
        .map(|(p, _, _)| p.as_str().to_string())
        .filter(|p| p.starts_with("/mnt/") || p.starts_with("/proc/"))
        .collect();
    assert!(
        inside.is_empty(),
        "mounted file systems came back in the tree: {inside:?}"
    );
    assert!(
        configured
            .get(&GuestPath::new("/usr/sbin/policy-rc.d").expect("path"))
            .is_none(),
        "policy-rc.d was left in the tree"
    );

    assert_eq!(mounts(), before, "the host's mount table changed");
    assert!(
        listener.accept().is_err(),
        "a script reached 127.0.0.1:{port} from the sandbox"
    );
    assert_eq!(
        daemons(),
        Vec::<String>::new(),
        "a script's daemon outlived the sandbox"
    );
    let left: Vec<PathBuf> = std::fs::read_dir(staging.path())
        .expect("staging")
        .map(|e| e.expect("entry").path())
        .collect();
    assert!(left.is_empty(), "left in the staging directory: {left:?}");
    let in_dev: Vec<(String, Kind)> = configured
        .iter()
        .filter(|(p, _, _)| p.as_str().starts_with("/dev/"))
        .map(|(p, _, n)| (p.as_str().to_string(), n.kind.clone()))
        .collect();
    assert_eq!(
        in_dev,
        [(
            "/dev/null".to_string(),
            Kind::CharDev { major: 1, minor: 3 }
        )],
        "the tree's own device node, and nothing the sandbox bound"
    );
}
