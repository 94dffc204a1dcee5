//! Boot a guest under `qemu-system-x86_64` the way Xen's `kernel=`,
//! `ramdisk=` and `extra=` boot it: a direct kernel boot (`-kernel`,
//! `-initrd`, `-append`) with raw disks, the serial console written to a
//! log file, and the test waiting for a marker in that log.
//!
//! Every boot is bounded: the emulator runs in its own process group,
//! which is killed when the timeout passes. When a boot fails (timeout,
//! emulator exit before the marker, bad arguments), the serial log is
//! kept as `target/test-artifacts/<test>.log` and its tail goes into the
//! panic message.
//!
//! Fixed choices, and why:
//!
//! - `-accel tcg`: the machine's `/dev/kvm` is not usable for tests, and
//!   a test must behave the same on every machine.
//! - Always exactly one explicit `-nic`: QEMU adds a user-mode NIC that
//!   reaches the outside world when none is given. [`Nic`] offers only
//!   `-nic none` and a user-mode NIC with `restrict=on` (the guest
//!   reaches nothing beyond the emulator), and [`Boot::arg`] refuses
//!   networking arguments, so the command line never has a plain
//!   `-nic user`.
//! - `-snapshot` unless turned off: a boot does not change the image
//!   under test. A second boot that must see the first one's changes
//!   turns it off ([`Boot::snapshot`]).
//! - `-no-reboot`: a guest that reboots or panics (with `panic=-1` on
//!   its command line) ends the emulator instead of looping until the
//!   timeout.
//! - `-display none -serial file:LOG -monitor none`: the console goes to
//!   the log only, and nothing reads the terminal.
//!
//! # Markers
//!
//! The kernel echoes its command line on the console ("Command line:
//! …", "Kernel command line: …"), so a marker that appears literally in
//! [`Boot::append`] would be found before the guest did anything. Let the
//! guest build it from parts (`echo "LF-$((1+1))-READY"`, or
//! `printf '%s%s\n' LF- BOOT-OK`) and wait for the joined text. The
//! harness refuses a marker that occurs in the command line.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The emulator binary of x86 guests.
pub(crate) const QEMU: &str = "qemu-system-x86_64";

/// Debian package of [`QEMU`] (installed by `tests/support/install-qemu.sh`).
pub(crate) const QEMU_PACKAGE: &str = "qemu-system-x86";

/// The machine a [`Boot`] emulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Machine {
    /// QEMU's default PC (i440FX) with its default CPU: [`QEMU`].
    Pc,
    /// `qemu-system-aarch64 -M virt -cpu cortex-a57`: an arm64 machine
    /// without firmware (QEMU starts the kernel Image itself), its
    /// console a PL011 (`ttyAMA0`), `if=virtio` disks and the virtio NIC
    /// on its PCIe bus.
    ArmVirt,
}

impl Machine {
    /// The emulator and its Debian package (both from
    /// `tests/support/install-qemu.sh`).
    pub(crate) fn emulator(self) -> (&'static str, &'static str) {
        match self {
            Machine::Pc => (QEMU, QEMU_PACKAGE),
            Machine::ArmVirt => ("qemu-system-aarch64", "qemu-system-arm"),
        }
    }

    /// The guest's serial console, for `console=`.
    pub(crate) fn console(self) -> &'static str {
        match self {
            Machine::Pc => "ttyS0",
            Machine::ArmVirt => "ttyAMA0",
        }
    }

    /// The arguments that pick the machine.
    fn args(self) -> &'static [&'static str] {
        match self {
            Machine::Pc => &[],
            Machine::ArmVirt => &["-M", "virt", "-cpu", "cortex-a57"],
        }
    }
}

/// How often the serial log is read while waiting.
const POLL: Duration = Duration::from_millis(100);

/// Lines of the serial log quoted in a failure message.
const TAIL_LINES: usize = 40;

/// The guest's network card. There is no variant for an unrestricted
/// user-mode NIC on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Nic {
    /// `-nic none`: no network device at all.
    None,
    /// `-nic user,model=virtio-net-pci,restrict=on[,mac=MAC]`: a NIC the
    /// guest can configure, isolated from everything outside the
    /// emulator.
    Restricted {
        /// The MAC address, e.g. the recipe's `00:16:3e:…`.
        mac: Option<String>,
    },
}

impl Nic {
    /// The value of the `-nic` option.
    fn option(&self) -> String {
        match self {
            Nic::None => "none".into(),
            Nic::Restricted { mac } => {
                let mut s =
                    String::from("user,model=virtio-net-pci,restrict=on");
                if let Some(mac) = mac {
                    assert!(
                        mac.bytes().all(|b| b.is_ascii_hexdigit() || b == b':'),
                        "not a MAC address: {mac:?}"
                    );
                    s.push_str(",mac=");
                    s.push_str(mac);
                }
                s
            }
        }
    }
}

/// The bus a disk is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DriveIf {
    /// `if=virtio` (virtio_blk, `/dev/vdX`).
    Virtio,
    /// `if=ide` (ata_piix, `/dev/sdX`).
    Ide,
}

impl DriveIf {
    pub(crate) fn name(self) -> &'static str {
        match self {
            DriveIf::Virtio => "virtio",
            DriveIf::Ide => "ide",
        }
    }
}

/// A raw disk image given to the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Drive {
    /// The image file.
    pub(crate) path: PathBuf,
    /// Its bus.
    pub(crate) interface: DriveIf,
}

/// One boot to set up and run; see the module doc.
#[derive(Debug, Clone)]
pub(crate) struct Boot {
    machine: Machine,
    kernel: PathBuf,
    initrd: Option<PathBuf>,
    append: String,
    drives: Vec<Drive>,
    memory_mib: u32,
    nic: Nic,
    snapshot: bool,
    timeout: Duration,
    extra: Vec<OsString>,
}

/// What a successful boot left behind.
#[derive(Debug, Clone)]
pub(crate) struct BootLog {
    /// The serial console output (lossy UTF-8).
    pub(crate) log: String,
    /// From starting the emulator to seeing the marker.
    pub(crate) marker_after: Duration,
    /// From starting the emulator to its exit ([`Boot::run_to_exit`]) or
    /// to the marker ([`Boot::run_until`]).
    pub(crate) elapsed: Duration,
    /// The emulator's exit status, when it exited on its own.
    pub(crate) status: Option<ExitStatus>,
}

/// When [`Boot`] stops waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// At the marker; the emulator is killed then.
    Marker,
    /// When the emulator exits, which it must do after the marker.
    Exit,
}

impl Boot {
    /// A direct boot of `kernel`, with the defaults: no initrd, empty
    /// command line, no disk, 512 MiB, [`Nic::None`], `-snapshot`, and a
    /// timeout of 300 s (TCG on a busy machine is slow; a passing boot
    /// never waits that long).
    pub(crate) fn new(kernel: &Path) -> Boot {
        Boot {
            machine: Machine::Pc,
            kernel: kernel.to_path_buf(),
            initrd: None,
            append: String::new(),
            drives: Vec::new(),
            memory_mib: 512,
            nic: Nic::None,
            snapshot: true,
            timeout: Duration::from_secs(300),
            extra: Vec::new(),
        }
    }

    /// The machine (default [`Machine::Pc`]).
    pub(crate) fn machine(mut self, machine: Machine) -> Boot {
        self.machine = machine;
        self
    }

    /// `-initrd PATH`.
    pub(crate) fn initrd(mut self, path: &Path) -> Boot {
        self.initrd = Some(path.to_path_buf());
        self
    }

    /// `-append LINE`: the kernel command line (add `console=ttyS0` to
    /// see the guest in the log, and `panic=-1` to end a panicking boot
    /// at once).
    pub(crate) fn append(mut self, line: &str) -> Boot {
        self.append = line.to_string();
        self
    }

    /// Add a raw disk on `if=virtio`.
    pub(crate) fn drive(self, path: &Path) -> Boot {
        self.drive_on(path, DriveIf::Virtio)
    }

    /// Add a raw disk on the given bus.
    pub(crate) fn drive_on(mut self, path: &Path, interface: DriveIf) -> Boot {
        self.drives.push(Drive {
            path: path.to_path_buf(),
            interface,
        });
        self
    }

    /// `-m MIB`.
    pub(crate) fn memory_mib(mut self, mib: u32) -> Boot {
        self.memory_mib = mib;
        self
    }

    /// The network card (default [`Nic::None`]).
    pub(crate) fn nic(mut self, nic: Nic) -> Boot {
        self.nic = nic;
        self
    }

    /// Whether the disks are opened with `-snapshot` (default on).
    pub(crate) fn snapshot(mut self, on: bool) -> Boot {
        self.snapshot = on;
        self
    }

    /// The longest the boot may take.
    pub(crate) fn timeout(mut self, t: Duration) -> Boot {
        self.timeout = t;
        self
    }

    /// Any other emulator argument (e.g. `-smp 2`).
    ///
    /// # Panics
    ///
    /// On an argument that could add networking (see [`refused`]): the
    /// NIC is set only by [`Boot::nic`], so that it is always explicit
    /// and restricted.
    pub(crate) fn arg(mut self, arg: &str) -> Boot {
        let prev = self.extra.last().and_then(|a| a.to_str());
        if let Some(why) = refused(prev, arg) {
            panic!("{arg} is not allowed: {why}; set the network card with Boot::nic");
        }
        self.extra.push(arg.into());
        self
    }

    /// The emulator's arguments, with the serial console going to
    /// `serial_log`.
    pub(crate) fn args(&self, serial_log: &Path) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        let mut push = |parts: &[&str]| a.extend(parts.iter().map(Into::into));
        push(self.machine.args());
        push(&["-accel", "tcg", "-m", &self.memory_mib.to_string()]);
        push(&["-display", "none", "-monitor", "none", "-parallel", "none"]);
        push(&["-serial", &format!("file:{}", opt_path(serial_log))]);
        push(&["-no-reboot", "-nic", &self.nic.option()]);
        push(&["-kernel", &opt_path(&self.kernel)]);
        if let Some(initrd) = &self.initrd {
            push(&["-initrd", &opt_path(initrd)]);
        }
        push(&["-append", &self.append]);
        for d in &self.drives {
            let spec = format!(
                "file={},if={},format=raw",
                opt_path(&d.path),
                d.interface.name()
            );
            push(&["-drive", &spec]);
        }
        if self.snapshot {
            push(&["-snapshot"]);
        }
        a.extend(self.extra.iter().cloned());
        a
    }

    /// Boot, wait for `marker` in the serial log, then kill the
    /// emulator: for guests that do not power off (a login prompt).
    /// `test` names the artifact kept on failure.
    #[track_caller]
    pub(crate) fn run_until(&self, test: &str, marker: &str) -> BootLog {
        self.run(test, marker, Stop::Marker)
    }

    /// Boot and wait until the emulator exits on its own (the guest
    /// powered off, or rebooted under `-no-reboot`); the log must contain
    /// `marker`. Use it when the output after the marker matters. The
    /// exit status is returned, not judged: a guest that panics after
    /// the marker also ends the emulator.
    #[track_caller]
    pub(crate) fn run_to_exit(&self, test: &str, marker: &str) -> BootLog {
        self.run(test, marker, Stop::Exit)
    }

    #[track_caller]
    fn run(&self, test: &str, marker: &str, stop: Stop) -> BootLog {
        assert!(!marker.is_empty(), "an empty marker proves nothing");
        assert!(
            !self.append.contains(marker),
            "the marker {marker:?} is in the kernel command line, which the \
             kernel echoes on the console: build it from parts in the guest"
        );
        let (binary, package) = self.machine.emulator();
        let qemu = super::require(binary, package);
        let dir = tempfile::Builder::new()
            .prefix("lf-qemu-")
            .tempdir()
            .expect("temporary directory");
        let log_path = dir.path().join("serial.log");
        let err_path = dir.path().join("qemu.stderr");
        let args = self.args(&log_path);
        let give_up = |why: &str| -> ! {
            fail(test, why, &args, &log_path, &err_path);
        };
        let stderr = std::fs::File::create(&err_path).expect("stderr file");
        // Waiting for the other guest does not count against this one.
        let _one = one_boot();
        let start = Instant::now();
        let mut child = spawn(&qemu, &args, stderr);
        let mut guard = Group(Some(child.id()));
        let mut marker_after = None;
        loop {
            let status = child.try_wait().expect("wait for qemu");
            if marker_after.is_none() && contains(&log_path, marker) {
                marker_after = Some(start.elapsed());
                if stop == Stop::Marker {
                    guard.kill(&mut child);
                    break;
                }
            }
            if let Some(status) = status {
                guard.0 = None;
                // Read once more: the last lines may have come with
                // the exit.
                if marker_after.is_none() && contains(&log_path, marker) {
                    marker_after = Some(start.elapsed());
                }
                if marker_after.is_none() {
                    give_up(&format!(
                        "qemu exited ({status}) before {marker:?} appeared \
                         on the serial console"
                    ));
                }
                let log = read_lossy(&log_path);
                return BootLog {
                    log,
                    marker_after: marker_after.unwrap_or_default(),
                    elapsed: start.elapsed(),
                    status: Some(status),
                };
            }
            if start.elapsed() > self.timeout {
                guard.kill(&mut child);
                let seen = match marker_after {
                    Some(t) => format!("the marker came after {t:.1?}, but "),
                    None => format!("no {marker:?} on the console, and "),
                };
                give_up(&format!(
                    "timeout: {seen}qemu still ran after {:.0?}",
                    self.timeout
                ));
            }
            std::thread::sleep(POLL);
        }
        let elapsed = start.elapsed();
        BootLog {
            log: read_lossy(&log_path),
            marker_after: marker_after.unwrap_or(elapsed),
            elapsed,
            status: None,
        }
    }
}

/// Why `arg` (following `prev`) must not be passed through
/// [`Boot::arg`], if it must not: a network option, a configuration file
/// that could hold one, or a network card device.
pub(crate) fn refused(prev: Option<&str>, arg: &str) -> Option<&'static str> {
    const NIC_MODELS: [&str; 9] = [
        "e1000", "rtl8139", "ne2k", "pcnet", "i825", "igb", "tulip", "vmxnet",
        "usb-net",
    ];
    let opt = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-'));
    match opt {
        Some("nic" | "net" | "netdev") => Some("a network option"),
        Some("readconfig") => Some("a configuration file may add a network"),
        _ => {
            let device = matches!(prev, Some("-device" | "--device"));
            let driver = arg.split(',').next().unwrap_or_default();
            let nic = driver.contains("net")
                || NIC_MODELS.iter().any(|m| driver.starts_with(m));
            (device && nic).then_some("a network card")
        }
    }
}

/// A path as an option value: QEMU splits options at `,`, and `,,`
/// stands for a literal comma.
pub(crate) fn opt_path(p: &Path) -> String {
    let s = p
        .to_str()
        .unwrap_or_else(|| panic!("path {p:?} is not UTF-8"));
    s.replace(',', ",,")
}

/// Whether the file holds `needle` (a missing file holds nothing).
fn contains(path: &Path, needle: &str) -> bool {
    std::fs::read(path).is_ok_and(|data| {
        memchr::memmem::find(&data, needle.as_bytes()).is_some()
    })
}

/// The file as text (lossy UTF-8; a missing file is empty).
pub(crate) fn read_lossy(path: &Path) -> String {
    let data = std::fs::read(path).unwrap_or_default();
    String::from_utf8_lossy(&data).into_owned()
}

/// The running emulator's process group: killed when the boot ends
/// early, and on a panic of the test thread too.
struct Group(Option<u32>);

impl Group {
    fn kill(&mut self, child: &mut Child) {
        if let Some(pid) = self.0.take() {
            kill_group(pid);
            // Reap it; its status does not matter any more.
            let _ = child.wait();
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            kill_group(pid);
        }
    }
}

/// Start the emulator `qemu` with `args` in a process group of its own
/// (so [`kill_group`] ends it and everything it started), nothing on
/// its stdin and stdout, its stderr to `stderr`.
pub(crate) fn spawn(
    qemu: &Path,
    args: &[OsString],
    stderr: std::fs::File,
) -> Child {
    use std::os::unix::process::CommandExt as _;
    Command::new(qemu)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", qemu.display()))
}

/// SIGKILL to the process group `pid` (which may be gone already).
pub(crate) fn kill_group(pid: u32) {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .unwrap_or_else(|| panic!("process id {pid} out of range"));
    // The group may be gone already; nothing else to do then.
    let _ =
        rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
}

/// One TCG guest at a time, across every test and every test process
/// (the test runner gives each test a process of its own): two guests
/// on two cores only make each other time out. An exclusive `flock` on
/// `target/test-artifacts/qemu.lock`, released when dropped (or when the
/// process dies).
pub(crate) struct OneBoot(#[allow(dead_code)] std::fs::File);

/// Wait for the boot lock.
pub(crate) fn one_boot() -> OneBoot {
    let dir = artifacts_dir();
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("qemu.lock"))
        .expect("boot lock file");
    rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive)
        .expect("flock the boot lock");
    OneBoot(f)
}

/// The directory kept for failed boots: `target/test-artifacts`.
pub(crate) fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target")
        });
    target.join("test-artifacts")
}

/// The download cache the tests that use the host's mirror share
/// across runs, `target/test-cache`: content-addressed and verified, so
/// a kernel is downloaded once.
pub(crate) fn test_cache() -> PathBuf {
    artifacts_dir()
        .parent()
        .map(|t| t.join("test-cache"))
        .expect("target directory")
}

/// `test` as a file name: ASCII letters, digits and `-`, anything else
/// replaced by `_`.
pub(crate) fn artifact_name(test: &str) -> String {
    test.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The last `n` lines of `text`.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Keep the serial log as `target/test-artifacts/<test>.log` and panic
/// with the reason, the command line, the emulator's stderr and the
/// tail of the log.
fn fail(
    test: &str,
    why: &str,
    args: &[OsString],
    log: &Path,
    stderr: &Path,
) -> ! {
    let dir = artifacts_dir();
    let kept = dir.join(format!("{}.log", artifact_name(test)));
    let saved = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::copy(log, &kept).map(|_| ()));
    let tail = tail(&read_lossy(log), TAIL_LINES);
    let mut msg = format!("{test}: {why}\n");
    let shown: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let _ = writeln!(msg, "command: {QEMU} {}", shown.join(" "));
    match saved {
        Ok(()) => {
            let _ = writeln!(msg, "serial log kept as {}", kept.display());
        }
        Err(e) => {
            let _ = writeln!(msg, "serial log not kept ({e})");
        }
    }
    let err = read_lossy(stderr);
    if !err.trim().is_empty() {
        let _ = writeln!(msg, "qemu stderr:\n{}", err.trim_end());
    }
    let _ = write!(msg, "last {TAIL_LINES} lines of the serial log:\n{tail}");
    panic!("{msg}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(b: &Boot) -> Vec<String> {
        b.args(Path::new("/tmp/s.log"))
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    /// Each `-nic` value of an argument list.
    fn nics(args: &[String]) -> Vec<&str> {
        args.windows(2)
            .filter(|w| w[0] == "-nic")
            .map(|w| w[1].as_str())
            .collect()
    }

    #[test]
    fn always_one_explicit_restricted_nic() {
        let base = Boot::new(Path::new("/k"));
        let cases = [
            (base.clone(), "none"),
            (base.clone().nic(Nic::None), "none"),
            (
                base.clone().nic(Nic::Restricted { mac: None }),
                "user,model=virtio-net-pci,restrict=on",
            ),
            (
                base.nic(Nic::Restricted {
                    mac: Some("00:16:3e:01:02:03".into()),
                }),
                "user,model=virtio-net-pci,restrict=on,mac=00:16:3e:01:02:03",
            ),
        ];
        for (boot, want) in cases {
            let args = strings(&boot);
            assert_eq!(nics(&args), [want], "{args:?}");
            assert!(
                !args.iter().any(|a| a == "-net" || a == "-netdev"),
                "{args:?}"
            );
        }
    }

    #[test]
    fn refuses_network_arguments() {
        for (prev, arg) in [
            (None, "-nic"),
            (None, "-net"),
            (None, "--netdev"),
            (None, "-readconfig"),
            (Some("-device"), "virtio-net-pci"),
            (Some("-device"), "e1000,netdev=n"),
            (Some("--device"), "rtl8139"),
        ] {
            assert!(refused(prev, arg).is_some(), "{prev:?} {arg} accepted");
        }
        for (prev, arg) in [
            (None, "-smp"),
            (Some("-smp"), "2"),
            (Some("-device"), "virtio-rng-pci"),
            (Some("-append"), "ip=dhcp net.ifnames=0"),
        ] {
            assert_eq!(refused(prev, arg), None, "{prev:?} {arg}");
        }
        let ok = Boot::new(Path::new("/k")).arg("-smp").arg("2");
        assert_eq!(strings(&ok).last().map(String::as_str), Some("2"));
    }

    #[test]
    #[should_panic(expected = "set the network card with Boot::nic")]
    fn arg_panics_on_a_network_option() {
        let _ = Boot::new(Path::new("/k")).arg("-netdev").arg("user,id=n");
    }

    #[test]
    fn direct_boot_line() {
        let b = Boot::new(Path::new("/b/vmlinuz"))
            .initrd(Path::new("/b/initrd.img"))
            .append("console=ttyS0 panic=-1")
            .drive(Path::new("/i/a,b.img"))
            .drive_on(Path::new("/i/c.img"), DriveIf::Ide)
            .memory_mib(256);
        let want = "-accel tcg -m 256 -display none -monitor none \
                    -parallel none -serial file:/tmp/s.log -no-reboot \
                    -nic none -kernel /b/vmlinuz -initrd /b/initrd.img \
                    -append console=ttyS0_panic=-1 \
                    -drive file=/i/a,,b.img,if=virtio,format=raw \
                    -drive file=/i/c.img,if=ide,format=raw -snapshot";
        let got: Vec<String> =
            strings(&b).iter().map(|a| a.replace(' ', "_")).collect();
        assert_eq!(got.join(" "), want);
        let off = strings(&b.snapshot(false));
        assert!(!off.iter().any(|a| a == "-snapshot"), "{off:?}");
    }

    #[test]
    #[should_panic(expected = "is in the kernel command line")]
    fn refuses_a_marker_in_the_command_line() {
        Boot::new(Path::new("/k"))
            .append("init=/bin/sh -c 'echo LF-DONE'")
            .run_until("refused", "LF-DONE");
    }
}
