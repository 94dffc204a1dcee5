//! What a [`super::Vm`] is made of, and the emulator's command line for
//! it: the firmware or kernel, disks, NICs and serial ports. Pure: the
//! line is computed from the spec and the host ports of one start, so
//! the unit tests below pin it without running anything.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::super::qemu::{artifact_name, opt_path, refused, DriveIf};
use super::{SshKey, OVMF_CODE};

/// How the machine boots.
#[derive(Debug, Clone)]
pub(super) enum Firmware {
    /// UEFI: [`OVMF_CODE`] read-only and a private copy of
    /// [`super::OVMF_VARS`], then whatever the disks hold.
    Ovmf,
    /// A direct kernel boot (`-kernel`, `-initrd`, `-append`).
    Kernel {
        kernel: PathBuf,
        initrd: Option<PathBuf>,
        append: String,
    },
}

/// A raw disk image.
#[derive(Debug, Clone)]
struct Disk {
    path: PathBuf,
    interface: DriveIf,
    /// Writes go to a temporary overlay, not to the image.
    snapshot: bool,
}

/// The emulated network card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NicModel {
    /// `virtio-net-pci` (the default).
    VirtioNet,
    /// `e1000`, for firmware or kernels without virtio drivers.
    E1000,
}

impl NicModel {
    fn name(self) -> &'static str {
        match self {
            NicModel::VirtioNet => "virtio-net-pci",
            NicModel::E1000 => "e1000",
        }
    }
}

/// The network of a restricted user-mode NIC: QEMU's built-in NAT
/// (slirp) with `restrict=on`, so the guest reaches only the forwards
/// given here.
#[derive(Debug, Clone, Default)]
pub(crate) struct UserNet {
    net: Option<(Ipv4Addr, u8)>,
    host: Option<Ipv4Addr>,
    guestfwd: Vec<(SocketAddrV4, u16)>,
    hostfwd: Vec<SocketAddrV4>,
}

impl UserNet {
    /// QEMU's defaults: 10.0.2.0/24, the host side at 10.0.2.2.
    pub(crate) fn new() -> UserNet {
        UserNet::default()
    }

    /// `net=ADDR/PREFIX`: the guest's network, e.g. 192.0.2.0/24.
    pub(crate) fn net(mut self, addr: Ipv4Addr, prefix: u8) -> UserNet {
        assert!(prefix <= 32, "prefix /{prefix} of {addr}");
        self.net = Some((addr, prefix));
        self
    }

    /// `host=ADDR`: the emulator's own address on that network (the
    /// guest's gateway), e.g. 192.0.2.1.
    pub(crate) fn host(mut self, addr: Ipv4Addr) -> UserNet {
        self.host = Some(addr);
        self
    }

    /// `guestfwd=tcp:GUEST-tcp:127.0.0.1:PORT`: the guest's connections
    /// to `guest` (an address on the guest's network that no machine
    /// has) reach `127.0.0.1:host_port` on the build host, e.g. a test
    /// mirror.
    pub(crate) fn guestfwd(
        mut self,
        guest: SocketAddrV4,
        host_port: u16,
    ) -> UserNet {
        self.guestfwd.push((guest, host_port));
        self
    }

    /// `hostfwd=tcp:127.0.0.1:PORT-GUEST`: a port on 127.0.0.1, picked
    /// at start ([`Vm::host_port`]), reaches `guest`. Give the guest's
    /// address: without it QEMU forwards to the address its DHCP server
    /// would hand out, which a statically configured guest does not
    /// have.
    pub(crate) fn hostfwd(mut self, guest: SocketAddrV4) -> UserNet {
        self.hostfwd.push(guest);
        self
    }
}

/// What a [`Nic`] is plugged into.
#[derive(Debug, Clone)]
enum Link {
    User(UserNet),
    /// `socket,listen=127.0.0.1:PORT`, the port picked at start.
    Listen,
    /// `socket,connect=127.0.0.1:PORT`.
    Connect(u16),
}

/// A network card and what it is plugged into. There is no way to
/// make an unrestricted user-mode NIC, a tap or a bridge.
#[derive(Debug, Clone)]
pub(crate) struct Nic {
    link: Link,
    model: NicModel,
    mac: Option<String>,
}

impl Nic {
    /// A NIC on a restricted user-mode network.
    pub(crate) fn user(net: UserNet) -> Nic {
        Nic::on(Link::User(net))
    }

    /// One end of a private link between two VMs: this VM listens on a
    /// port of 127.0.0.1 ([`Vm::link_port`]), and the other VM's
    /// [`Nic::connect`] to it. Start the listening VM first.
    pub(crate) fn listen() -> Nic {
        Nic::on(Link::Listen)
    }

    /// The other end of a link: connects to `127.0.0.1:port`, the
    /// [`Vm::link_port`] of a running VM.
    pub(crate) fn connect(port: u16) -> Nic {
        Nic::on(Link::Connect(port))
    }

    fn on(link: Link) -> Nic {
        Nic {
            link,
            model: NicModel::VirtioNet,
            mac: None,
        }
    }

    /// The MAC address, e.g. the recipe's `00:16:3e:…`. Without one, a
    /// locally administered address is derived from the VM's name and
    /// the NIC's place, so two linked VMs never share QEMU's default.
    pub(crate) fn mac(mut self, mac: &str) -> Nic {
        let ok = mac.len() == 17
            && mac.split(':').count() == 6
            && mac.split(':').all(|b| {
                b.len() == 2 && b.bytes().all(|c| c.is_ascii_hexdigit())
            });
        assert!(ok, "not a MAC address: {mac:?}");
        self.mac = Some(mac.to_string());
        self
    }

    /// The emulated card (default [`NicModel::VirtioNet`]).
    pub(crate) fn model(mut self, model: NicModel) -> Nic {
        self.model = model;
        self
    }
}

/// A MAC address for NIC `index` of VM `name`: `52:54:00` (QEMU's
/// prefix) and three bytes of a hash.
fn derived_mac(name: &str, index: usize) -> String {
    let h = Sha256::digest(format!("{name}#{index}"));
    format!("52:54:00:{:02x}:{:02x}:{:02x}", h[0], h[1], h[2])
}

/// The host ports of one start, in the order of the spec's NICs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Assigned {
    /// Each `hostfwd`: the guest's end and the port on 127.0.0.1.
    pub(super) forwards: Vec<(SocketAddrV4, u16)>,
    /// The port of each listening socket NIC.
    pub(super) listens: Vec<u16>,
}

/// The files of one VM, in its temporary directory.
#[derive(Debug, Clone)]
pub(super) struct Files {
    /// One log per serial port.
    pub(super) serial: Vec<PathBuf>,
    /// The emulator's stderr.
    pub(super) stderr: PathBuf,
    /// The QMP socket.
    pub(super) qmp: PathBuf,
    /// The private copy of the firmware's variable store.
    pub(super) vars: PathBuf,
}

impl Files {
    pub(super) fn new(dir: &Path, serial_ports: usize) -> Files {
        Files {
            serial: (0..serial_ports)
                .map(|i| dir.join(format!("serial{i}.log")))
                .collect(),
            stderr: dir.join("qemu.stderr"),
            qmp: dir.join("qmp.sock"),
            vars: dir.join("OVMF_VARS_4M.fd"),
        }
    }
}

/// A machine to start; see the module doc.
#[derive(Debug, Clone)]
pub(crate) struct VmSpec {
    pub(super) name: String,
    pub(super) firmware: Firmware,
    memory_mib: u32,
    cpu: String,
    smp: u32,
    machine: Option<String>,
    disks: Vec<Disk>,
    nics: Vec<Nic>,
    pub(super) serial_ports: usize,
    no_reboot: bool,
    pub(super) key: Option<SshKey>,
    extra: Vec<OsString>,
}

impl VmSpec {
    /// A machine that boots under UEFI firmware (OVMF) from its disks.
    /// `name` (letters, digits, `-`) names the VM in messages and its
    /// kept logs.
    pub(crate) fn uefi(name: &str) -> VmSpec {
        VmSpec::with(name, Firmware::Ovmf)
    }

    /// A machine that boots `kernel` directly, with `initrd` and the
    /// command line `append` (add `console=ttyS0` to see the guest in
    /// the serial log).
    pub(crate) fn kernel(
        name: &str,
        kernel: &Path,
        initrd: Option<&Path>,
        append: &str,
    ) -> VmSpec {
        VmSpec::with(
            name,
            Firmware::Kernel {
                kernel: kernel.to_path_buf(),
                initrd: initrd.map(Path::to_path_buf),
                append: append.to_string(),
            },
        )
    }

    /// The defaults: 1024 MiB, `-cpu qemu64`, one CPU, QEMU's default
    /// machine, no disk, no NIC, one serial port, `-no-reboot`.
    fn with(name: &str, firmware: Firmware) -> VmSpec {
        assert!(
            !name.is_empty() && artifact_name(name) == name,
            "VM name {name:?}: use letters, digits and `-`"
        );
        VmSpec {
            name: name.to_string(),
            firmware,
            memory_mib: 1024,
            cpu: "qemu64".into(),
            smp: 1,
            machine: None,
            disks: Vec::new(),
            nics: Vec::new(),
            serial_ports: 1,
            no_reboot: true,
            key: None,
            extra: Vec::new(),
        }
    }

    /// `-m MIB`.
    pub(crate) fn memory_mib(mut self, mib: u32) -> VmSpec {
        self.memory_mib = mib;
        self
    }

    /// `-cpu MODEL` (default `qemu64`).
    pub(crate) fn cpu(mut self, model: &str) -> VmSpec {
        self.cpu = model.to_string();
        self
    }

    /// `-smp N`.
    pub(crate) fn smp(mut self, cpus: u32) -> VmSpec {
        self.smp = cpus;
        self
    }

    /// `-machine TYPE`, e.g. `q35` (default: QEMU's, `pc`).
    pub(crate) fn machine(mut self, kind: &str) -> VmSpec {
        self.machine = Some(kind.to_string());
        self
    }

    /// A raw disk whose writes are discarded when the VM ends
    /// (`snapshot=on`).
    pub(crate) fn drive(self, path: &Path, interface: DriveIf) -> VmSpec {
        self.disk(path, interface, true)
    }

    /// A raw disk that the VM writes to.
    pub(crate) fn drive_writable(
        self,
        path: &Path,
        interface: DriveIf,
    ) -> VmSpec {
        self.disk(path, interface, false)
    }

    fn disk(
        mut self,
        path: &Path,
        interface: DriveIf,
        snapshot: bool,
    ) -> VmSpec {
        self.disks.push(Disk {
            path: path.to_path_buf(),
            interface,
            snapshot,
        });
        self
    }

    /// Add a network card.
    pub(crate) fn nic(mut self, nic: Nic) -> VmSpec {
        self.nics.push(nic);
        self
    }

    /// A second serial port (ttyS1, `COM2`), logged to a file of its
    /// own ([`Vm::serial_log`] 1).
    pub(crate) fn second_serial(mut self) -> VmSpec {
        self.serial_ports = 2;
        self
    }

    /// Let the guest reboot: without it (the default), a reboot or a
    /// panic with `panic=-1` ends the emulator.
    pub(crate) fn allow_reboot(mut self) -> VmSpec {
        self.no_reboot = false;
        self
    }

    /// The key [`Vm::ssh`] logs in with, as root.
    pub(crate) fn ssh_key(mut self, key: &SshKey) -> VmSpec {
        self.key = Some(key.clone());
        self
    }

    /// Any other emulator argument (e.g. `-device virtio-rng-pci`).
    ///
    /// # Panics
    ///
    /// On an argument that could add networking: NICs come from
    /// [`VmSpec::nic`] only.
    pub(crate) fn arg(mut self, arg: &str) -> VmSpec {
        let prev = self.extra.last().and_then(|a| a.to_str());
        if let Some(why) = refused(prev, arg) {
            panic!("{arg} is not allowed: {why}; add NICs with VmSpec::nic");
        }
        self.extra.push(arg.into());
        self
    }

    /// How many host ports a start needs.
    pub(super) fn ports_needed(&self) -> usize {
        self.nics
            .iter()
            .map(|n| match &n.link {
                Link::User(u) => u.hostfwd.len(),
                Link::Listen => 1,
                Link::Connect(_) => 0,
            })
            .sum()
    }

    /// Hand out `ports` ([`VmSpec::ports_needed`] of them) to the NICs.
    pub(super) fn assign(&self, ports: &[u16]) -> Assigned {
        assert_eq!(ports.len(), self.ports_needed(), "ports for {self:?}");
        let mut ports = ports.iter().copied();
        let mut a = Assigned::default();
        for nic in &self.nics {
            match &nic.link {
                Link::User(u) => {
                    for guest in &u.hostfwd {
                        // OK to unwrap: as many ports as needed.
                        a.forwards.push((*guest, ports.next().unwrap()));
                    }
                }
                Link::Listen => a.listens.push(ports.next().unwrap()),
                Link::Connect(_) => {}
            }
        }
        a
    }

    /// The `-nic` values, with the ports of `assigned`.
    fn nic_options(&self, assigned: &Assigned) -> Vec<String> {
        let mut forwards = assigned.forwards.iter();
        let mut listens = assigned.listens.iter();
        let mut out = Vec::new();
        for (i, nic) in self.nics.iter().enumerate() {
            let mut s = String::new();
            match &nic.link {
                Link::User(u) => {
                    let _ = write!(
                        s,
                        "user,model={},restrict=on",
                        nic.model.name()
                    );
                    if let Some((addr, prefix)) = u.net {
                        let _ = write!(s, ",net={addr}/{prefix}");
                    }
                    if let Some(host) = u.host {
                        let _ = write!(s, ",host={host}");
                    }
                    for _ in &u.hostfwd {
                        // OK to unwrap: assign() made one per hostfwd.
                        let (guest, port) = forwards.next().unwrap();
                        let _ =
                            write!(s, ",hostfwd=tcp:127.0.0.1:{port}-{guest}");
                    }
                    for (guest, port) in &u.guestfwd {
                        let _ = write!(
                            s,
                            ",guestfwd=tcp:{guest}-tcp:127.0.0.1:{port}"
                        );
                    }
                }
                Link::Listen => {
                    // OK to unwrap: assign() made one per listening NIC.
                    let port = listens.next().unwrap();
                    let _ = write!(
                        s,
                        "socket,model={},listen=127.0.0.1:{port}",
                        nic.model.name()
                    );
                }
                Link::Connect(port) => {
                    let _ = write!(
                        s,
                        "socket,model={},connect=127.0.0.1:{port}",
                        nic.model.name()
                    );
                }
            }
            let mac = nic
                .mac
                .clone()
                .unwrap_or_else(|| derived_mac(&self.name, i));
            let _ = write!(s, ",mac={mac}");
            out.push(s);
        }
        if out.is_empty() {
            out.push("none".into());
        }
        out
    }

    /// The emulator's arguments for one start.
    pub(super) fn args(
        &self,
        files: &Files,
        assigned: &Assigned,
    ) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        let mut push = |parts: &[&str]| a.extend(parts.iter().map(Into::into));
        push(&["-name", &self.name, "-accel", "tcg"]);
        if let Some(m) = &self.machine {
            push(&["-machine", m]);
        }
        push(&["-cpu", &self.cpu, "-smp", &self.smp.to_string()]);
        push(&["-m", &self.memory_mib.to_string()]);
        push(&["-display", "none", "-monitor", "none", "-parallel", "none"]);
        for log in &files.serial {
            push(&["-serial", &format!("file:{}", opt_path(log))]);
        }
        let qmp = format!("unix:{},server=on,wait=off", opt_path(&files.qmp));
        push(&["-qmp", &qmp]);
        if self.no_reboot {
            push(&["-no-reboot"]);
        }
        match &self.firmware {
            Firmware::Ovmf => {
                let code = format!(
                    "if=pflash,format=raw,unit=0,readonly=on,file={}",
                    opt_path(Path::new(OVMF_CODE))
                );
                let vars = format!(
                    "if=pflash,format=raw,unit=1,file={}",
                    opt_path(&files.vars)
                );
                push(&["-drive", &code, "-drive", &vars]);
            }
            Firmware::Kernel {
                kernel,
                initrd,
                append,
            } => {
                push(&["-kernel", &opt_path(kernel)]);
                if let Some(initrd) = initrd {
                    push(&["-initrd", &opt_path(initrd)]);
                }
                push(&["-append", append]);
            }
        }
        for d in &self.disks {
            let mut spec = format!(
                "file={},if={},format=raw",
                opt_path(&d.path),
                d.interface.name()
            );
            if d.snapshot {
                spec.push_str(",snapshot=on");
            }
            push(&["-drive", &spec]);
        }
        for nic in self.nic_options(assigned) {
            push(&["-nic", &nic]);
        }
        a.extend(self.extra.iter().cloned());
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Files {
        Files::new(Path::new("/t"), 1)
    }

    fn strings(spec: &VmSpec, ports: &[u16]) -> Vec<String> {
        spec.args(&files(), &spec.assign(ports))
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn guest(port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 50), port)
    }

    /// The restricted user network of the default guest, with SSH and
    /// a mirror forwarded.
    fn user_net() -> UserNet {
        UserNet::new()
            .net(Ipv4Addr::new(192, 0, 2, 0), 24)
            .host(Ipv4Addr::new(192, 0, 2, 1))
            .hostfwd(guest(22))
            .hostfwd(guest(80))
            .guestfwd(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 80), 8080)
    }

    #[test]
    fn direct_boot_line() {
        let spec = VmSpec::kernel(
            "g",
            Path::new("/b/vmlinuz"),
            Some(Path::new("/b/initrd,x")),
            "console=ttyS0 net.ifnames=0",
        )
        .memory_mib(768)
        .drive(Path::new("/i/a.img"), DriveIf::Virtio)
        .drive_writable(Path::new("/i/b.img"), DriveIf::Ide)
        .nic(Nic::user(user_net()).mac("00:16:3e:01:02:03"));
        let want = "-name g -accel tcg -cpu qemu64 -smp 1 -m 768 \
            -display none -monitor none -parallel none \
            -serial file:/t/serial0.log \
            -qmp unix:/t/qmp.sock,server=on,wait=off -no-reboot \
            -kernel /b/vmlinuz -initrd /b/initrd,,x \
            -append console=ttyS0_net.ifnames=0 \
            -drive file=/i/a.img,if=virtio,format=raw,snapshot=on \
            -drive file=/i/b.img,if=ide,format=raw \
            -nic user,model=virtio-net-pci,restrict=on,net=192.0.2.0/24,\
            host=192.0.2.1,hostfwd=tcp:127.0.0.1:4022-192.0.2.50:22,\
            hostfwd=tcp:127.0.0.1:4080-192.0.2.50:80,\
            guestfwd=tcp:192.0.2.2:80-tcp:127.0.0.1:8080,\
            mac=00:16:3e:01:02:03";
        let got: Vec<String> = strings(&spec, &[4022, 4080])
            .iter()
            .map(|a| a.replace(' ', "_"))
            .collect();
        assert_eq!(got.join(" "), want);
    }

    #[test]
    fn uefi_boot_line() {
        let spec = VmSpec::uefi("host-a")
            .machine("q35")
            .cpu("Nehalem")
            .smp(2)
            .second_serial()
            .allow_reboot()
            .drive_writable(Path::new("/i/dom0.img"), DriveIf::Ide);
        let f = Files::new(Path::new("/t"), 2);
        let got: Vec<String> = spec
            .args(&f, &spec.assign(&[]))
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let want = "-name host-a -accel tcg -machine q35 -cpu Nehalem \
            -smp 2 -m 1024 -display none -monitor none -parallel none \
            -serial file:/t/serial0.log -serial file:/t/serial1.log \
            -qmp unix:/t/qmp.sock,server=on,wait=off \
            -drive if=pflash,format=raw,unit=0,readonly=on,\
            file=/usr/share/OVMF/OVMF_CODE_4M.fd \
            -drive if=pflash,format=raw,unit=1,file=/t/OVMF_VARS_4M.fd \
            -drive file=/i/dom0.img,if=ide,format=raw -nic none";
        assert_eq!(got.join(" "), want);
    }

    #[test]
    fn socket_link_between_two_vms() {
        let a = VmSpec::uefi("a")
            .nic(Nic::user(UserNet::new().hostfwd(guest(22))))
            .nic(Nic::listen().model(NicModel::E1000));
        assert_eq!(a.ports_needed(), 2);
        let assigned = a.assign(&[5000, 5001]);
        assert_eq!(assigned.forwards, [(guest(22), 5000)]);
        assert_eq!(assigned.listens, [5001]);
        let nics = a.nic_options(&assigned);
        let mac1 = derived_mac("a", 1);
        assert_eq!(
            nics[1],
            format!("socket,model=e1000,listen=127.0.0.1:5001,mac={mac1}")
        );
        let b = VmSpec::uefi("b").nic(Nic::connect(5001));
        assert_eq!(b.ports_needed(), 0);
        let mac0 = derived_mac("b", 0);
        assert_eq!(
            b.nic_options(&b.assign(&[])),
            [format!(
                "socket,model=virtio-net-pci,connect=127.0.0.1:5001,\
                 mac={mac0}"
            )]
        );
    }

    #[test]
    fn derived_macs_differ_and_are_well_formed() {
        let macs = [
            derived_mac("a", 0),
            derived_mac("a", 1),
            derived_mac("b", 0),
        ];
        for m in &macs {
            assert!(m.starts_with("52:54:00:") && m.len() == 17, "{m}");
            let _ = Nic::listen().mac(m);
        }
        assert_ne!(macs[0], macs[1]);
        assert_ne!(macs[0], macs[2]);
    }

    #[test]
    fn every_user_nic_is_restricted_and_forwards_to_loopback() {
        let spec = VmSpec::uefi("r")
            .nic(Nic::user(UserNet::new()))
            .nic(Nic::user(user_net()));
        for nic in spec.nic_options(&spec.assign(&[1, 2])) {
            let opts: Vec<&str> = nic.split(',').collect();
            assert!(opts.contains(&"restrict=on"), "{nic}");
            for o in &opts {
                if let Some(f) = o.strip_prefix("hostfwd=") {
                    assert!(f.starts_with("tcp:127.0.0.1:"), "{nic}");
                }
                if let Some(f) = o.strip_prefix("guestfwd=") {
                    assert!(f.contains("-tcp:127.0.0.1:"), "{nic}");
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "add NICs with VmSpec::nic")]
    fn arg_refuses_a_network_option() {
        let _ = VmSpec::uefi("n").arg("-netdev").arg("user,id=n");
    }

    #[test]
    #[should_panic(expected = "not a MAC address")]
    fn mac_is_checked() {
        let _ = Nic::listen().mac("00:16:3e:01:02");
    }

    #[test]
    #[should_panic(expected = "use letters, digits and `-`")]
    fn name_is_a_file_name() {
        let _ = VmSpec::uefi("../x");
    }
}
