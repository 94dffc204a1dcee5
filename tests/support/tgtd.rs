//! Debian's userspace iSCSI target, `tgtd` (package tgt), as a test
//! peer: one daemon per test, on 127.0.0.1 with its own portal port and
//! its own control port (`-C`), configured with `tgtadm`.
//!
//! tgt keeps LUN 0 of every target for its controller, so backing files
//! become LUN 1 and up. tgtd ignores SIGTERM: [`Drop`] deletes the
//! targets and then the system through `tgtadm`, and kills the daemon
//! only if it is still there after that.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{require, run};

/// The Debian package of `tgtd` and `tgtadm`.
pub(crate) const PACKAGE: &str = "tgt";

/// A running `tgtd`.
pub(crate) struct Tgtd {
    child: Child,
    /// The control port given to `-C`.
    pub(crate) ctl: u16,
    /// The iSCSI portal port on 127.0.0.1.
    pub(crate) port: u16,
    /// A directory for backing files and the daemon's log.
    pub(crate) dir: tempfile::TempDir,
    tids: Vec<u32>,
}

/// A TCP port nobody listens on right now.
pub(crate) fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A control port for `-C` (tgtd accepts 0 to 32767; it names the
/// management socket `/var/run/tgtd/socket.N`): distinct per daemon in
/// this process, and spread by process id across processes.
fn control_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let spread = std::process::id().wrapping_mul(97).wrapping_add(n) % 30_000;
    u16::try_from(1_000 + spread).unwrap()
}

impl Tgtd {
    /// Start `tgtd` in the foreground and wait until it answers
    /// `tgtadm` and listens on its portal.
    pub(crate) fn start() -> Tgtd {
        let tgtd = require("tgtd", PACKAGE);
        require("tgtadm", PACKAGE);
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let ctl = control_port();
        let log = std::fs::File::create(dir.path().join("tgtd.log")).unwrap();
        let child = Command::new(tgtd)
            .args(["-f", "-C", &ctl.to_string(), "--iscsi"])
            .arg(format!("portal=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start tgtd: {e}"));
        let mut t = Tgtd {
            child,
            ctl,
            port,
            dir,
            tids: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let shown = t.try_tgtadm(&["--op", "show", "--mode", "target"]);
            let listening = TcpStream::connect(("127.0.0.1", port)).is_ok();
            if shown.is_some_and(|o| o.status.success()) && listening {
                break;
            }
            if let Ok(Some(status)) = t.child.try_wait() {
                panic!(
                    "tgtd exited ({status}) before it was ready:\n{}",
                    t.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "tgtd did not become ready in 10 s:\n{}",
                t.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        t
    }

    /// The daemon's output so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tgtd.log"))
            .unwrap_or_default()
    }

    fn try_tgtadm(&self, args: &[&str]) -> Option<Output> {
        Command::new("tgtadm")
            .args(["-C", &self.ctl.to_string(), "--lld", "iscsi"])
            .args(args)
            .output()
            .ok()
    }

    /// Run `tgtadm` against this daemon; panic unless it succeeds.
    #[track_caller]
    pub(crate) fn tgtadm(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("tgtadm");
        cmd.args(["-C", &self.ctl.to_string(), "--lld", "iscsi"]);
        cmd.args(args);
        run(&mut cmd, PACKAGE)
    }

    /// Create target `tid` named `iqn`, open to every initiator.
    pub(crate) fn add_target(&mut self, tid: u32, iqn: &str) {
        let t = tid.to_string();
        self.tgtadm(&[
            "--op", "new", "--mode", "target", "--tid", &t, "-T", iqn,
        ]);
        self.tgtadm(&[
            "--op", "bind", "--mode", "target", "--tid", &t, "-I", "ALL",
        ]);
        self.tids.push(tid);
    }

    /// Set an iSCSI session parameter of target `tid` (what it accepts
    /// in negotiation: e.g. `HeaderDigest` `CRC32C,None`).
    pub(crate) fn param(&self, tid: u32, name: &str, value: &str) {
        self.tgtadm(&[
            "--op",
            "update",
            "--mode",
            "target",
            "--tid",
            &tid.to_string(),
            "--name",
            name,
            "--value",
            value,
        ]);
    }

    /// A sparse backing file of `size` bytes in the test directory.
    pub(crate) fn backing_file(&self, name: &str, size: u64) -> PathBuf {
        let p = self.dir.path().join(name);
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(size).unwrap();
        p
    }

    /// Add `lun` (1 or more) of target `tid` backed by `path`.
    pub(crate) fn add_lun(&self, tid: u32, lun: u32, path: &Path) {
        self.tgtadm(&[
            "--op",
            "new",
            "--mode",
            "logicalunit",
            "--tid",
            &tid.to_string(),
            "--lun",
            &lun.to_string(),
            "-b",
            path.to_str().unwrap(),
        ]);
    }

    /// Report the LUN thin-provisioned (LBPME, UNMAP supported; tgt
    /// punches holes into the backing file).
    pub(crate) fn thin(&self, tid: u32, lun: u32) {
        self.tgtadm(&[
            "--op",
            "update",
            "--mode",
            "logicalunit",
            "--tid",
            &tid.to_string(),
            "--lun",
            &lun.to_string(),
            "--params",
            "thin_provisioning=1",
        ]);
    }

    /// A CHAP account bound to `tid`; `outgoing` makes it the account
    /// the target answers mutual CHAP with.
    pub(crate) fn chap(
        &self,
        tid: u32,
        user: &str,
        password: &str,
        outgoing: bool,
    ) {
        self.tgtadm(&[
            "--op",
            "new",
            "--mode",
            "account",
            "--user",
            user,
            "--password",
            password,
        ]);
        let t = tid.to_string();
        let mut args = vec![
            "--op", "bind", "--mode", "account", "--tid", &t, "--user", user,
        ];
        if outgoing {
            args.push("--outgoing");
        }
        self.tgtadm(&args);
    }

    /// `iscsi://127.0.0.1:PORT/IQN/LUN`.
    pub(crate) fn url(&self, iqn: &str, lun: u32) -> String {
        format!("iscsi://127.0.0.1:{}/{iqn}/{lun}", self.port)
    }

    /// Kill the daemon at once (SIGKILL), as a crash would.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.tids.clear();
    }
}

impl Drop for Tgtd {
    fn drop(&mut self) {
        self.stop();
        // tgtd leaves its management socket and lock file behind.
        for suffix in ["", ".lock"] {
            let _ = std::fs::remove_file(format!(
                "/var/run/tgtd/socket.{}{suffix}",
                self.ctl
            ));
        }
    }
}

impl Tgtd {
    /// Delete the targets and the system, then kill if still alive.
    fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            for tid in &self.tids {
                let _ = self.try_tgtadm(&[
                    "--op",
                    "delete",
                    "--mode",
                    "target",
                    "--tid",
                    &tid.to_string(),
                    "--force",
                ]);
            }
            let _ = self.try_tgtadm(&["--op", "delete", "--mode", "system"]);
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
