//! Long-running guests driven over SSH: machines that boot from their
//! own disk under UEFI firmware (as a Xen host does), or from a kernel
//! given on the command line, and that a test then works on for minutes
//! through `ssh` and `scp`.
//!
//! [`super::qemu`] boots a guest to a marker and is done with it; a
//! [`Vm`] runs in the background from [`Vm::start`] until
//! [`Vm::shutdown`] or its drop. It shares that harness's rules:
//!
//! - `-accel tcg` and, by default, `-cpu qemu64`: the same machine on
//!   every host, and no `/dev/kvm`.
//! - Networking only through [`Nic`]: a user-mode NIC is always
//!   `restrict=on` (the guest reaches nothing beyond the emulator) and
//!   its forwards connect 127.0.0.1 only; a socket NIC links two VMs
//!   over 127.0.0.1. A VM without NICs gets `-nic none`, since QEMU adds
//!   an unrestricted user-mode NIC when none is given, and
//!   [`VmSpec::arg`] refuses networking arguments.
//! - The emulator runs in a process group of its own, killed when the
//!   `Vm` is dropped. When the test thread is panicking then (the test
//!   failed), every serial log and the emulator's stderr are kept as
//!   `target/test-artifacts/<name>*.log` first.
//! - One TCG guest at a time ([`super::qemu::one_boot`]): [`Vm::start`]
//!   borrows the caller's [`OneBoot`], so the lock is held for as long
//!   as the VM lives. VMs that must run together (two hosts on one
//!   link) share one lock.
//!
//! # Ports
//!
//! Host ports for `hostfwd=` and for a listening socket NIC are picked
//! by the kernel: one listener bound to `127.0.0.1:0` per port, all held
//! until every port is chosen (so they differ), then closed for QEMU to
//! bind. Another process may take a port in that gap; QEMU then fails to
//! start ("Address already in use"), and [`Vm::start`] picks new ports
//! and starts it again. The emulator counts as started when it answers
//! `query-status` on its QMP socket: QEMU answers only from its main
//! loop, after every NIC and forward is set up.
//!
//! # SSH
//!
//! The system's `ssh` and `scp` (openssh-client) with the key of
//! [`SshKey::generate`], as root, with `-F /dev/null` (no user or system
//! configuration), none of the user's agents, no known-hosts files and
//! no prompts. A test's own [`SshAgent`] may be forwarded to the VM
//! ([`Vm::forward_agent`]) for the VM's own ssh to a peer. A
//! guest behind the VM (a Xen domU on the host's network) is reached
//! through the VM with `-o ProxyCommand=ssh … -W %h:%p`, not `-J`: ssh
//! does not give `-J`'s hop the `-i` and `-o` options.

mod spec;

use std::cell::RefCell;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _, Seek as _, Write as _};
use std::marker::PhantomData;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use super::qemu::{
    artifacts_dir, kill_group, read_lossy, tail, OneBoot, QEMU, QEMU_PACKAGE,
};
use super::{require, run};
use spec::{Assigned, Files, Firmware};
pub(crate) use spec::{Nic, NicModel, UserNet, VmSpec};

/// The UEFI firmware's code (Debian package [`OVMF_PACKAGE`], its
/// build for a 4 MiB flash), mapped read-only.
pub(crate) const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";

/// The firmware's variable store template; each VM writes to a copy of
/// its own.
pub(crate) const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

/// Debian package of [`OVMF_CODE`] and [`OVMF_VARS`] (installed by
/// `tests/support/install-qemu.sh` with the emulator, from its suite
/// when that suite has it).
pub(crate) const OVMF_PACKAGE: &str = "ovmf";

/// Debian package of `ssh`, `scp` and `ssh-keygen`.
const SSH_PACKAGE: &str = "openssh-client";

/// How often a log or a process is looked at while waiting.
const POLL: Duration = Duration::from_millis(100);

/// Lines of the serial log quoted in a failure message.
const TAIL_LINES: usize = 60;

/// Starts of the emulator before a port clash is a failure.
const START_ATTEMPTS: u32 = 4;

/// How long a started emulator may take to answer on its QMP socket.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// ssh's `ConnectTimeout`, in seconds: TCP connect, banner and key
/// exchange. Under TCG a busy guest takes seconds for the exchange.
const CONNECT_TIMEOUT_S: u32 = 20;

/// How many times a command is sent when its connection keeps failing
/// before the command could start.
const CONNECT_TRIES: u32 = 3;

/// Whether ssh failed while connecting, before the remote command ran:
/// exit status 255 and one of the messages ssh gives only then. A
/// command that ran and failed is never sent again.
fn never_started(out: &Output) -> bool {
    const BEFORE: [&str; 4] = [
        "during banner exchange",
        "kex_exchange_identification",
        "Connection refused",
        "Connection timed out",
    ];
    let stderr = String::from_utf8_lossy(&out.stderr);
    out.status.code() == Some(255) && BEFORE.iter().any(|m| stderr.contains(m))
}

/// The longest one probe of [`Vm::wait_for_ssh`] may run.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// The longest a command of [`Vm::ssh`] may run, unless
/// [`Vm::set_command_timeout`] says otherwise.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(600);

/// The guest's SSH port.
const SSH_PORT: u16 = 22;

/// An SSH key pair made for one test, in that test's directory.
#[derive(Debug, Clone)]
pub(crate) struct SshKey {
    /// The private key file (mode 0600, as `ssh-keygen` writes it).
    pub(crate) private: PathBuf,
    /// The public key: one `authorized_keys` line.
    pub(crate) public: String,
}

impl SshKey {
    /// `ssh-keygen -t ed25519 -N ''` into `dir/id_ed25519`.
    pub(crate) fn generate(dir: &Path) -> SshKey {
        let private = dir.join("id_ed25519");
        let mut cmd = Command::new("ssh-keygen");
        cmd.args(["-q", "-t", "ed25519", "-N", "", "-C", "lunforge-test"])
            .arg("-f")
            .arg(&private)
            .stdin(Stdio::null());
        run(&mut cmd, SSH_PACKAGE);
        let pub_path = dir.join("id_ed25519.pub");
        let public = std::fs::read_to_string(&pub_path)
            .unwrap_or_else(|e| panic!("{}: {e}", pub_path.display()))
            .trim()
            .to_string();
        assert!(
            !private.to_string_lossy().contains(['%', '\n']),
            "ssh would expand or break the key path {}",
            private.display()
        );
        SshKey { private, public }
    }
}

/// An `ssh-agent` of the test's own, holding one [`SshKey`], killed on
/// drop. [`Vm::forward_agent`] lends it to a VM's sessions: what an
/// operator does to let one host log in to another without leaving a
/// private key on either.
pub(crate) struct SshAgent {
    socket: PathBuf,
    child: Child,
}

impl SshAgent {
    /// `ssh-agent -D -a DIR/agent.sock`, then `ssh-add` of `key`.
    ///
    /// # Panics
    ///
    /// When the agent does not start or refuses the key.
    pub(crate) fn start(dir: &Path, key: &SshKey) -> SshAgent {
        let socket = dir.join("agent.sock");
        let child = Command::new(require("ssh-agent", SSH_PACKAGE))
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("ssh-agent");
        let mut agent = SshAgent { socket, child };
        let begin = Instant::now();
        while !agent.socket.exists() {
            if let Some(status) = agent.child.try_wait().expect("wait") {
                panic!("ssh-agent exited at start: {status}");
            }
            assert!(
                begin.elapsed() < Duration::from_secs(10),
                "ssh-agent made no socket in 10 s"
            );
            std::thread::sleep(POLL);
        }
        let mut add = Command::new("ssh-add");
        add.arg("-q")
            .arg(&key.private)
            .env("SSH_AUTH_SOCK", &agent.socket)
            .stdin(Stdio::null());
        run(&mut add, SSH_PACKAGE);
        agent
    }
}

impl Drop for SshAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `n` distinct TCP ports of 127.0.0.1 that nobody listened on a
/// moment ago; see the module doc.
/// `path` on the guest, as `scp` names it.
fn on_guest(path: &str) -> OsString {
    format!("root@127.0.0.1:{path}").into()
}

fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("listener address").port())
        .collect()
}

/// Whether QEMU's stderr says a host port was taken.
fn port_clash(stderr: &str) -> bool {
    stderr.contains("Address already in use")
        || stderr.contains("Could not set up host forwarding rule")
}

/// `s` as one word of a POSIX shell.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The emulator process, and its group while it may still run.
struct Proc {
    child: Child,
    group: Option<u32>,
}

/// A running machine; see the module doc. The lifetime is the boot
/// lock's.
pub(crate) struct Vm<'lock> {
    name: String,
    append: Option<String>,
    key: Option<SshKey>,
    agent: Option<PathBuf>,
    dir: tempfile::TempDir,
    files: Files,
    args: Vec<OsString>,
    assigned: Assigned,
    proc: RefCell<Proc>,
    started: Instant,
    command_timeout: Duration,
    _lock: PhantomData<&'lock OneBoot>,
}

/// How a start of the emulator ended.
enum Start {
    /// It answers on its QMP socket.
    Up,
    /// It exited first.
    Exited(ExitStatus),
    /// It neither answered nor exited.
    Silent,
}

impl<'lock> Vm<'lock> {
    /// Start the emulator in the background and wait until it runs (not
    /// until the guest is up: see [`Vm::wait_for_log`] and
    /// [`Vm::wait_for_ssh`]). `lock` is the caller's boot lock, held
    /// while the VM lives.
    ///
    /// # Panics
    ///
    /// When the emulator does not start, with its stderr.
    #[track_caller]
    pub(crate) fn start(spec: VmSpec, lock: &'lock OneBoot) -> Vm<'lock> {
        let _ = lock;
        let mut attempt = 1;
        loop {
            let vm = Vm::spawn(&spec);
            match vm.wait_started() {
                Start::Up => {
                    vm.note(&format!(
                        "started in {:.1?}{}",
                        vm.started.elapsed(),
                        vm.ports_note()
                    ));
                    return vm;
                }
                Start::Exited(status) => {
                    let err = read_lossy(&vm.files.stderr);
                    if attempt < START_ATTEMPTS && port_clash(&err) {
                        vm.note(&format!(
                            "a host port was taken, new ports: {}",
                            err.trim()
                        ));
                        attempt += 1;
                        continue;
                    }
                    vm.fail(&format!(
                        "the emulator exited at start ({status})"
                    ));
                }
                Start::Silent => vm.fail(&format!(
                    "the emulator did not answer on its QMP socket in \
                     {START_TIMEOUT:.0?}"
                )),
            }
        }
    }

    /// One start of the emulator, in a new temporary directory, with
    /// new ports.
    fn spawn(spec: &VmSpec) -> Vm<'lock> {
        let qemu = require(QEMU, QEMU_PACKAGE);
        let dir = tempfile::Builder::new()
            .prefix(&format!("lf-vm-{}-", spec.name))
            .tempdir()
            .expect("temporary directory");
        let files = Files::new(dir.path(), spec.serial_ports);
        // sun_path holds 108 bytes.
        assert!(
            files.qmp.as_os_str().len() < 100,
            "QMP socket path too long: {}",
            files.qmp.display()
        );
        let append = match &spec.firmware {
            Firmware::Kernel { append, .. } => Some(append.clone()),
            Firmware::Ovmf => {
                for f in [OVMF_CODE, OVMF_VARS] {
                    assert!(
                        Path::new(f).is_file(),
                        "{f} is missing: install the Debian package \
                         {OVMF_PACKAGE} (tests/support/install-qemu.sh, \
                         or `make test` as root)"
                    );
                }
                std::fs::copy(OVMF_VARS, &files.vars)
                    .unwrap_or_else(|e| panic!("copy {OVMF_VARS}: {e}"));
                None
            }
        };
        let assigned = spec.assign(&free_ports(spec.ports_needed()));
        let args = spec.args(&files, &assigned);
        let stderr = std::fs::File::create(&files.stderr).expect("stderr file");
        let started = Instant::now();
        let child = super::qemu::spawn(&qemu, &args, stderr);
        let group = Some(child.id());
        Vm {
            name: spec.name.clone(),
            append,
            key: spec.key.clone(),
            agent: None,
            dir,
            files,
            args,
            assigned,
            proc: RefCell::new(Proc { child, group }),
            started,
            command_timeout: COMMAND_TIMEOUT,
            _lock: PhantomData,
        }
    }

    /// Wait until the emulator answers `query-status` or exits.
    fn wait_started(&self) -> Start {
        let begin = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                return Start::Exited(status);
            }
            if qmp(&self.files.qmp, "query-status", Duration::from_secs(10))
                .is_ok()
            {
                return Start::Up;
            }
            if begin.elapsed() > START_TIMEOUT {
                return Start::Silent;
            }
            std::thread::sleep(POLL);
        }
    }

    /// The VM's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Time since the emulator started.
    pub(crate) fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// The port of 127.0.0.1 forwarded to the guest's `guest_port`
    /// (the first such [`UserNet::hostfwd`]).
    #[track_caller]
    pub(crate) fn host_port(&self, guest_port: u16) -> u16 {
        self.assigned
            .forwards
            .iter()
            .find(|(guest, _)| guest.port() == guest_port)
            .map(|&(_, port)| port)
            .unwrap_or_else(|| {
                panic!(
                    "vm {}: no hostfwd to the guest's port {guest_port}",
                    self.name
                )
            })
    }

    /// The port of 127.0.0.1 that the first [`Nic::listen`] of this VM
    /// listens on, for the other VM's [`Nic::connect`].
    #[track_caller]
    pub(crate) fn link_port(&self) -> u16 {
        *self.assigned.listens.first().unwrap_or_else(|| {
            panic!("vm {}: no listening socket NIC", self.name)
        })
    }

    /// The text of serial port `port` so far (0 is ttyS0, where Xen
    /// and a direct-booted kernel with `console=ttyS0` write).
    pub(crate) fn serial_log(&self, port: usize) -> String {
        read_lossy(&self.files.serial[port])
    }

    /// The length of serial log 0 so far: an offset for
    /// [`Vm::wait_for_log_since`].
    pub(crate) fn log_len(&self) -> u64 {
        std::fs::metadata(&self.files.serial[0]).map_or(0, |m| m.len())
    }

    /// Wait for `marker` in serial log 0; returns the time since the
    /// emulator started. A marker that is in the kernel command line is
    /// refused: the kernel echoes that line (see [`super::qemu`]).
    ///
    /// # Panics
    ///
    /// When the marker does not come within `timeout`, or the emulator
    /// exits first.
    #[track_caller]
    pub(crate) fn wait_for_log(
        &self,
        marker: &str,
        timeout: Duration,
    ) -> Duration {
        self.wait_for_log_since(0, marker, timeout)
    }

    /// [`Vm::wait_for_log`] for a marker after byte `offset` of the log
    /// (a [`Vm::log_len`]), e.g. the login prompt of a second boot.
    #[track_caller]
    pub(crate) fn wait_for_log_since(
        &self,
        offset: u64,
        marker: &str,
        timeout: Duration,
    ) -> Duration {
        assert!(!marker.is_empty(), "an empty marker proves nothing");
        if let Some(append) = &self.append {
            assert!(
                !append.contains(marker),
                "the marker {marker:?} is in the kernel command line, which \
                 the kernel echoes on the console"
            );
        }
        let begin = Instant::now();
        let found = || {
            log_from(&self.files.serial[0], offset).is_some_and(|data| {
                memchr::memmem::find(&data, marker.as_bytes()).is_some()
            })
        };
        loop {
            if found() {
                let up = self.uptime();
                self.note(&format!(
                    "{marker:?} after {:.1?} (up {up:.1?})",
                    begin.elapsed()
                ));
                return up;
            }
            if let Some(status) = self.exited() {
                // The last lines may have come with the exit.
                if found() {
                    continue;
                }
                self.fail(&format!(
                    "the emulator exited ({status}) before {marker:?} \
                     appeared on the serial console"
                ));
            }
            if begin.elapsed() > timeout {
                self.fail(&format!(
                    "no {marker:?} on the serial console in {timeout:.0?}"
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Wait until the guest lets the key in over SSH (port 22 through
    /// the NIC's hostfwd), and say on stderr how long the boot took to
    /// get there; returns the time since the emulator started.
    ///
    /// # Panics
    ///
    /// When SSH does not answer within `timeout`, or the emulator exits.
    #[track_caller]
    pub(crate) fn wait_for_ssh(&self, timeout: Duration) -> Duration {
        self.wait_for_route(None, timeout)
    }

    /// [`Vm::wait_for_ssh`] for a guest at `target` behind this VM,
    /// reached through it.
    #[track_caller]
    pub(crate) fn wait_for_ssh_via(
        &self,
        target: Ipv4Addr,
        timeout: Duration,
    ) -> Duration {
        self.wait_for_route(Some(target), timeout)
    }

    #[track_caller]
    fn wait_for_route(
        &self,
        via: Option<Ipv4Addr>,
        timeout: Duration,
    ) -> Duration {
        let begin = Instant::now();
        let whom = via.map_or(String::new(), |t| format!(" to {t}"));
        let mut tries = 0;
        loop {
            if let Some(status) = self.exited() {
                self.fail(&format!(
                    "the emulator exited ({status}) while waiting for ssh"
                ));
            }
            let out = self.bounded(self.ssh_cmd(via, "true"), PROBE_TIMEOUT);
            tries += 1;
            if out.status.success() {
                let up = self.uptime();
                self.note(&format!(
                    "ssh{whom} answered probe {tries} after {:.1?}, \
                     {up:.1?} after the emulator started",
                    begin.elapsed()
                ));
                return up;
            }
            if begin.elapsed() > timeout {
                self.fail(&format!(
                    "no ssh{whom} in {timeout:.0?} ({tries} probes); the \
                     last one: {}\n{}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim_end()
                ));
            }
            std::thread::sleep(Duration::from_secs(2));
        }
    }

    /// Run `cmd` (a shell command line) as root on the guest; a command
    /// still running after the command timeout (600 s unless
    /// [`Vm::set_command_timeout`]) is killed, and its stderr says so.
    pub(crate) fn ssh(&self, cmd: &str) -> Output {
        self.connected(None, cmd)
    }

    /// `cmd` over ssh (through this VM to `via`, if given), tried again
    /// while the connection itself fails before the command could start
    /// (see [`never_started`]): a guest busy under TCG can miss ssh's
    /// connect timeout once, and the command must not fail for it.
    fn connected(&self, via: Option<Ipv4Addr>, cmd: &str) -> Output {
        let mut tries = 1;
        loop {
            let out =
                self.bounded(self.ssh_cmd(via, cmd), self.command_timeout);
            if tries == CONNECT_TRIES || !never_started(&out) {
                return out;
            }
            eprintln!(
                "vm {}: ssh{} connection failed, try {tries}: {}",
                self.name,
                via.map(|v| format!(" to {v}")).unwrap_or_default(),
                String::from_utf8_lossy(&out.stderr).trim_end()
            );
            tries += 1;
        }
    }

    /// [`Vm::ssh`], which must succeed; returns its stdout.
    ///
    /// # Panics
    ///
    /// When the command fails, with its output and the serial log's
    /// tail.
    #[track_caller]
    pub(crate) fn ssh_ok(&self, cmd: &str) -> String {
        self.checked(cmd, None, self.ssh(cmd))
    }

    /// [`Vm::ssh`] on a guest at `target` behind this VM, reached
    /// through it (ProxyJump with this VM as the hop).
    pub(crate) fn ssh_via(&self, target: Ipv4Addr, cmd: &str) -> Output {
        self.connected(Some(target), cmd)
    }

    /// [`Vm::ssh_via`], which must succeed; returns its stdout.
    #[track_caller]
    pub(crate) fn ssh_via_ok(&self, target: Ipv4Addr, cmd: &str) -> String {
        self.checked(cmd, Some(target), self.ssh_via(target, cmd))
    }

    /// Copy the local file `local` to `remote` on the guest.
    ///
    /// # Panics
    ///
    /// When `scp` fails.
    #[track_caller]
    pub(crate) fn scp_to(&self, local: &Path, remote: &str) {
        self.scp(local.as_os_str(), &on_guest(remote));
    }

    /// Copy the guest's file `remote` to the local path `local`.
    ///
    /// # Panics
    ///
    /// When `scp` fails.
    #[track_caller]
    pub(crate) fn scp_from(&self, remote: &str, local: &Path) {
        self.scp(&on_guest(remote), local.as_os_str());
    }

    /// `scp FROM TO` through the hostfwd.
    #[track_caller]
    fn scp(&self, from: &std::ffi::OsStr, to: &std::ffi::OsStr) {
        let mut cmd = Command::new(require("scp", SSH_PACKAGE));
        cmd.arg("-q").args(self.ssh_options());
        cmd.arg("-P").arg(self.host_port(SSH_PORT).to_string());
        cmd.arg(from).arg(to);
        let out = self.bounded(cmd, self.command_timeout);
        if !out.status.success() {
            self.fail(&format!(
                "scp {} {} failed ({}):\n{}",
                from.to_string_lossy(),
                to.to_string_lossy(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim_end()
            ));
        }
    }

    /// Forward `agent` on every later `ssh` to this VM, so that the
    /// VM's own `ssh` (`xl migrate` to its peer) logs in with the key
    /// that the agent holds while the private key stays on this side.
    pub(crate) fn forward_agent(&mut self, agent: &SshAgent) {
        self.agent = Some(agent.socket.clone());
    }

    /// The longest a command of [`Vm::ssh`] may run.
    pub(crate) fn set_command_timeout(&mut self, timeout: Duration) {
        self.command_timeout = timeout;
    }

    /// Run a QMP command without arguments (`query-status`,
    /// `system_powerdown`, `system_reset`) and return its `return`
    /// value.
    ///
    /// # Panics
    ///
    /// When the monitor does not answer or reports an error.
    #[track_caller]
    pub(crate) fn monitor(&self, command: &str) -> serde_json::Value {
        qmp(&self.files.qmp, command, Duration::from_secs(30))
            .unwrap_or_else(|e| self.fail(&format!("QMP {command}: {e}")))
    }

    /// Ask the guest to power off (`poweroff` over SSH when the VM has
    /// a key and a forward to port 22; the ACPI power button when it
    /// has not, or when that `ssh` fails), and wait for the emulator to
    /// exit; returns how long that took.
    ///
    /// # Panics
    ///
    /// When the emulator still runs after `timeout` (it is killed then)
    /// or exits with an error.
    #[track_caller]
    pub(crate) fn shutdown(self, timeout: Duration) -> Duration {
        let begin = Instant::now();
        let has_ssh = self.key.is_some()
            && self
                .assigned
                .forwards
                .iter()
                .any(|(g, _)| g.port() == SSH_PORT);
        let by_ssh = has_ssh
            && self
                .bounded(self.ssh_cmd(None, "poweroff"), PROBE_TIMEOUT)
                .status
                .success();
        if !by_ssh {
            // The emulator may be gone already; the wait below says.
            let _ = qmp(&self.files.qmp, "system_powerdown", POLL * 50);
        }
        loop {
            if let Some(status) = self.exited() {
                if !status.success() {
                    self.fail(&format!(
                        "the emulator exited with {status} at power-off"
                    ));
                }
                self.note(&format!(
                    "powered off {:.1?} after {}",
                    begin.elapsed(),
                    if by_ssh {
                        "ssh poweroff"
                    } else {
                        "the power button"
                    }
                ));
                return begin.elapsed();
            }
            if begin.elapsed() > timeout {
                self.kill();
                self.fail(&format!(
                    "the guest did not power off in {timeout:.0?}; killed"
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// The options of every `ssh` and `scp`, the hop's included.
    #[track_caller]
    fn ssh_options(&self) -> Vec<String> {
        let key = self.key.as_ref().unwrap_or_else(|| {
            panic!("vm {}: no SSH key (VmSpec::ssh_key)", self.name)
        });
        // ssh forwards only an agent it uses itself (OpenSSH 9.2 skips
        // `ForwardAgent=PATH` with `IdentityAgent=none`): the test's own
        // agent, which holds the same key, or none.
        let agent = match &self.agent {
            Some(sock) => format!("IdentityAgent={}", sock.display()),
            None => "IdentityAgent=none".into(),
        };
        let forward = format!("ForwardAgent={}", self.agent.is_some());
        let mut v: Vec<String> = vec!["-F".into(), "/dev/null".into()];
        for o in [
            "StrictHostKeyChecking=no",
            "UserKnownHostsFile=/dev/null",
            "GlobalKnownHostsFile=/dev/null",
            "BatchMode=yes",
            &format!("ConnectTimeout={CONNECT_TIMEOUT_S}"),
            "IdentitiesOnly=yes",
            &agent,
            &forward,
            "ServerAliveInterval=15",
            "ServerAliveCountMax=4",
            "LogLevel=ERROR",
        ] {
            v.push("-o".into());
            v.push(o.into());
        }
        v.push("-i".into());
        v.push(key.private.to_string_lossy().into_owned());
        v
    }

    /// `ssh … root@127.0.0.1 -- cmd` through the hostfwd, or with this
    /// VM as the hop to `root@via`.
    #[track_caller]
    fn ssh_cmd(&self, via: Option<Ipv4Addr>, cmd: &str) -> Command {
        let mut c = Command::new(require("ssh", SSH_PACKAGE));
        let port = self.host_port(SSH_PORT).to_string();
        c.args(self.ssh_options());
        match via {
            None => {
                c.args(["-p", &port, "root@127.0.0.1"]);
            }
            Some(target) => {
                let mut hop: Vec<String> = vec!["ssh".into()];
                hop.extend(self.ssh_options());
                hop.extend(["-p".into(), port, "-W".into(), "%h:%p".into()]);
                hop.push("root@127.0.0.1".into());
                let line: Vec<String> = hop
                    .iter()
                    .map(|w| if w == "%h:%p" { w.clone() } else { sh_quote(w) })
                    .collect();
                c.arg("-o").arg(format!("ProxyCommand={}", line.join(" ")));
                c.arg(format!("root@{target}"));
            }
        }
        c.arg("--").arg(cmd);
        c
    }

    /// Run `cmd` in a process group of its own, killed after `timeout`.
    fn bounded(&self, mut cmd: Command, timeout: Duration) -> Output {
        let mut out = tempfile::tempfile_in(self.dir.path()).expect("file");
        let mut err = tempfile::tempfile_in(self.dir.path()).expect("file");
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(err.try_clone().expect("dup"))
            .process_group(0);
        let program = cmd.get_program().to_string_lossy().into_owned();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        let begin = Instant::now();
        let mut killed = false;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if begin.elapsed() > timeout {
                kill_group(child.id());
                killed = true;
                break child.wait().expect("wait");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let read = |f: &mut std::fs::File| {
            let mut v = Vec::new();
            f.rewind().expect("rewind");
            f.read_to_end(&mut v).expect("read");
            v
        };
        let stdout = read(&mut out);
        let mut stderr = read(&mut err);
        if killed {
            let note = format!("[killed: still running after {timeout:.0?}]\n");
            stderr.extend_from_slice(note.as_bytes());
        }
        Output {
            status,
            stdout,
            stderr,
        }
    }

    /// `out`'s stdout when it succeeded; else fail with all of it.
    #[track_caller]
    fn checked(&self, cmd: &str, via: Option<Ipv4Addr>, out: Output) -> String {
        if !out.status.success() {
            self.fail(&format!(
                "ssh{} {cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
                via.map_or(String::new(), |t| format!(" (to {t} via the VM)")),
                out.status,
                String::from_utf8_lossy(&out.stdout).trim_end(),
                String::from_utf8_lossy(&out.stderr).trim_end()
            ));
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The emulator's exit status, once it has exited.
    fn exited(&self) -> Option<ExitStatus> {
        let mut p = self.proc.borrow_mut();
        let status = p.child.try_wait().expect("wait for qemu");
        if status.is_some() {
            // Reaped: the group id may be reused from now on.
            p.group = None;
        }
        status
    }

    /// Kill the emulator's process group and reap it.
    fn kill(&self) {
        let mut p = self.proc.borrow_mut();
        if let Some(pid) = p.group.take() {
            kill_group(pid);
            let _ = p.child.wait();
        }
    }

    /// A line on stderr about this VM.
    fn note(&self, what: &str) {
        eprintln!("vm {}: {what}", self.name);
    }

    /// The forwarded ports, for [`Vm::note`].
    fn ports_note(&self) -> String {
        let mut s = String::new();
        for (guest, port) in &self.assigned.forwards {
            let _ = write!(s, ", 127.0.0.1:{port} -> {guest}");
        }
        for port in &self.assigned.listens {
            let _ = write!(s, ", link on 127.0.0.1:{port}");
        }
        s
    }

    /// Panic with `why`, the command line, the emulator's stderr and
    /// the tail of each serial log. The logs are kept by [`Drop`].
    #[track_caller]
    fn fail(&self, why: &str) -> ! {
        let mut msg = format!("vm {}: {why}\n", self.name);
        let shown: Vec<String> = self
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let _ = writeln!(msg, "command: {QEMU} {}", shown.join(" "));
        let _ = writeln!(
            msg,
            "logs kept as {}*.log",
            artifacts_dir().join(&self.name).display()
        );
        let err = read_lossy(&self.files.stderr);
        if !err.trim().is_empty() {
            let _ = writeln!(msg, "qemu stderr:\n{}", err.trim_end());
        }
        for (i, log) in self.files.serial.iter().enumerate() {
            let text = tail(&read_lossy(log), TAIL_LINES);
            let _ = write!(
                msg,
                "last {TAIL_LINES} lines of serial log {i}:\n{text}\n"
            );
        }
        panic!("{msg}");
    }

    /// Copy the serial logs and the emulator's stderr to
    /// `target/test-artifacts/<name>[-serialN|-qemu].log`.
    fn keep_logs(&self) {
        let dir = artifacts_dir();
        let mut kept = Vec::new();
        let mut copies: Vec<(&Path, String)> = Vec::new();
        for (i, log) in self.files.serial.iter().enumerate() {
            let name = match i {
                0 => format!("{}.log", self.name),
                _ => format!("{}-serial{i}.log", self.name),
            };
            copies.push((log, name));
        }
        if !read_lossy(&self.files.stderr).is_empty() {
            copies
                .push((&self.files.stderr, format!("{}-qemu.log", self.name)));
        }
        for (from, name) in copies {
            let to = dir.join(name);
            let copied = std::fs::create_dir_all(&dir)
                .and_then(|()| std::fs::copy(from, &to));
            match copied {
                Ok(_) => kept.push(to.display().to_string()),
                Err(e) => self.note(&format!("{} not kept: {e}", to.display())),
            }
        }
        self.note(&format!("logs kept: {}", kept.join(", ")));
    }
}

impl Drop for Vm<'_> {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            self.keep_logs();
        }
    }
}

/// The bytes of `path` from `offset` on (`None` when it cannot be
/// read).
fn log_from(path: &Path, offset: u64) -> Option<Vec<u8>> {
    let mut f = std::fs::File::open(path).ok()?;
    f.seek(std::io::SeekFrom::Start(offset)).ok()?;
    let mut v = Vec::new();
    f.read_to_end(&mut v).ok()?;
    Some(v)
}

/// One QMP session on `socket`: the greeting, `qmp_capabilities`, then
/// `command`; its `return` value, or why there is none.
fn qmp(
    socket: &Path,
    command: &str,
    timeout: Duration,
) -> Result<serde_json::Value, String> {
    let s = UnixStream::connect(socket).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let mut r = BufReader::new(s.try_clone().map_err(|e| e.to_string())?);
    let mut w = s;
    let mut line = String::new();
    r.read_line(&mut line).map_err(|e| e.to_string())?;
    if !line.contains("\"QMP\"") {
        return Err(format!("no QMP greeting: {line:?}"));
    }
    let mut exec = |command: &str| -> Result<serde_json::Value, String> {
        let req = serde_json::json!({ "execute": command });
        writeln!(w, "{req}").map_err(|e| e.to_string())?;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                return Err("the monitor closed the connection".into());
            }
            let v: serde_json::Value = serde_json::from_str(&line)
                .map_err(|e| format!("{e}: {line:?}"))?;
            if let Some(ret) = v.get("return") {
                return Ok(ret.clone());
            }
            if let Some(err) = v.get("error") {
                return Err(err.to_string());
            }
            // An event ({"event": …}): not the answer.
        }
    };
    exec("qmp_capabilities")?;
    exec(command)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct() {
        let mut p = free_ports(8);
        p.sort_unstable();
        p.dedup();
        assert_eq!(p.len(), 8);
        assert!(!p.contains(&0));
    }

    #[test]
    fn port_clash_messages() {
        // QEMU 10's messages for a taken hostfwd port and a taken
        // listening port.
        assert!(port_clash(
            "qemu-system-x86_64: -nic user,restrict=on,hostfwd=tcp:\
             127.0.0.1:37627-192.0.2.50:22: Could not set up host \
             forwarding rule 'tcp:127.0.0.1:37627-192.0.2.50:22'"
        ));
        assert!(port_clash(
            "qemu-system-x86_64: -nic socket,listen=127.0.0.1:37627: \
             can't bind ip=127.0.0.1 to socket: Address already in use"
        ));
        assert!(!port_clash(
            "qemu-system-x86_64: -drive file=x: No such file"
        ));
    }

    #[test]
    fn only_connections_that_never_started_are_retried() {
        use std::os::unix::process::ExitStatusExt;
        let out = |code: i32, stderr: &str| Output {
            status: ExitStatus::from_raw(code << 8),
            stdout: Vec::new(),
            stderr: stderr.as_bytes().to_vec(),
        };
        assert!(never_started(&out(
            255,
            "Connection timed out during banner exchange"
        )));
        assert!(never_started(&out(
            255,
            "kex_exchange_identification: Connection closed by remote host"
        )));
        // The command ran: its own exit status, or ssh's 255 after it
        // started (a lost connection).
        assert!(!never_started(&out(1, "Connection timed out")));
        assert!(!never_started(&out(
            255,
            "Timeout, server 127.0.0.1 not responding."
        )));
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(sh_quote("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }
}
