//! The long-running VM harness ([`crate::support::vm`]) against the
//! default guest, driven the way the Xen host tests will drive their
//! machines: over SSH, for as long as the test needs.
//!
//! One build of the built-in recipe ([`crate::boot::build`], chroot
//! configuration, the host's mirror, the shared download cache) with a
//! key made for this test in root's `authorized_keys` (`--set
//! access.root_authorized_keys=[…]`), and one boot of it: a direct kernel
//! boot as Xen's `kernel=`/`extra=` would do, on a restricted user-mode
//! network that is the recipe's own (192.0.2.0/24, gateway 192.0.2.1),
//! the recipe's MAC, and a port of 127.0.0.1 forwarded to the guest's
//! SSH server. The test then logs in, copies a file in and reads it
//! back, goes through the guest as a jump host, and updates the guest's
//! kernel: it reinstalls the kernel package from the build's cache, as
//! a kernel update does, so that the guest's own initramfs-tools (held
//! back while lunforge configured, see
//! `lunforge::configure::maintscripts::hold_initramfs`) replaces
//! lunforge's initrd in `/boot` with a Debian one. It powers the guest
//! off and boots the image again with that initrd, to SSH.
//!
//! The two boots are two copies of one image (each starts from the
//! build's bytes): the image holds no SSH host key, machine id or random
//! seed (read with `debugfs`), and the two machines show different host
//! keys and machine ids.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::boot::{build, Built, HOSTNAME};
use crate::support::qemu::{one_boot, test_cache, DriveIf};
use crate::support::root_offset;
use crate::support::vm::{
    Nic, NicModel, SshAgent, SshKey, UserNet, Vm, VmSpec,
};

/// The recipe's address of the guest.
const GUEST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 50);

/// The text copied in: several lines, quotes and a non-ASCII letter.
const PAYLOAD: &str = "lunforge vm harness\n'quoted' \"twice\" $HOME\n\
                       \u{e9}t\u{e9}\n";

#[test]
fn default_guest_over_ssh() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let key = SshKey::generate(dir.path());
    let keys = format!("access.root_authorized_keys=[{:?}]", key.public);
    let b = build(&["--configure", "chroot", "--set", &keys]);

    let net = UserNet::new()
        .net(Ipv4Addr::new(192, 0, 2, 0), 24)
        .host(Ipv4Addr::new(192, 0, 2, 1))
        .hostfwd(SocketAddrV4::new(GUEST, 22));
    // The guest as Xen boots it, with `initrd`; the image is opened
    // read-only (`snapshot=on`), so every boot starts from the build.
    let spec = |name: &str, initrd: &Path| {
        VmSpec::kernel(
            name,
            &b.kernel,
            Some(initrd),
            &format!("{} console=ttyS0", b.extra),
        )
        .drive(&b.image, DriveIf::Virtio)
        .nic(Nic::user(net.clone()).mac(&b.mac))
        .ssh_key(&key)
    };
    assert_no_instance_secrets(&b.image);
    let lock = one_boot();
    let mut vm = Vm::start(spec("vm-ssh", &b.initrd), &lock);
    assert_eq!(vm.monitor("query-status")["status"], "running");
    vm.wait_for_ssh(Duration::from_secs(600));
    // Every command here is short: a hang fails the test early.
    vm.set_command_timeout(Duration::from_secs(120));

    assert_eq!(vm.ssh_ok("hostname").trim(), HOSTNAME);
    let first = vm.ssh_ok(INSTANCE);
    let boot_id = vm.ssh_ok("cat /proc/sys/kernel/random/boot_id");
    let boot_id = boot_id.trim();
    assert!(
        boot_id.len() == 36 && boot_id.matches('-').count() == 4,
        "not a boot id: {boot_id:?}"
    );

    let local = dir.path().join("payload");
    std::fs::write(&local, PAYLOAD).expect("write the payload");
    vm.scp_to(&local, "/root/payload");
    assert_eq!(vm.ssh_ok("cat /root/payload"), PAYLOAD);

    // The jump path: the guest as the hop, to itself at its own address
    // (the same key has to pass both logins).
    vm.wait_for_ssh_via(GUEST, Duration::from_secs(60));
    let via = vm.ssh_via_ok(GUEST, "cat /proc/sys/kernel/random/boot_id");
    assert_eq!(via.trim(), boot_id, "the hop reached another machine");

    // A forwarded agent of the test's: the guest's own ssh logs in
    // with its key (here to the guest itself) and no private key is
    // ever copied in.
    let agent = SshAgent::start(dir.path(), &key);
    vm.forward_agent(&agent);
    let listed = vm.ssh_ok("echo \"$SSH_AUTH_SOCK\"; ssh-add -L");
    assert!(listed.contains(&key.public), "{listed}");
    let own = vm.ssh_ok(&format!(
        "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new \
         root@{GUEST} hostname"
    ));
    assert_eq!(own.trim(), HOSTNAME);

    vm.wait_for_log(&format!("{HOSTNAME} login:"), Duration::from_secs(120));
    let log = vm.serial_log(0);
    assert!(log.contains("Linux version"), "{}: {log}", vm.name());

    let debian_initrd = update_kernel(&mut vm, &b, dir.path());
    vm.shutdown(Duration::from_secs(120));

    // The guest's own initrd boots it: initramfs-tools' init (which says
    // "Loading, please wait..." without `quiet`), not lunforge's (whose
    // messages start with "initrd: "), mounts the root and the guest
    // comes up to SSH.
    let vm = Vm::start(spec("vm-ssh-debian-initrd", &debian_initrd), &lock);
    vm.wait_for_ssh(Duration::from_secs(600));
    assert_eq!(vm.ssh_ok("hostname").trim(), HOSTNAME);
    // A second copy of the same image (`snapshot=on`: the build's bytes
    // again) made its own identity on its first boot.
    let second = vm.ssh_ok(INSTANCE);
    assert_instances_differ(&first, &second);
    let log = vm.serial_log(0);
    assert!(
        log.contains("Loading, please wait...")
            && !log.contains("initrd: mounted"),
        "{}: not booted by initramfs-tools' init:\n{log}",
        vm.name()
    );
    vm.shutdown(Duration::from_secs(120));
}

/// What makes a machine itself, as the guest reads it: its SSH host
/// keys' fingerprints, its machine id, and whether its random seed
/// exists (each line prefixed with what it is).
const INSTANCE: &str = "for k in /etc/ssh/ssh_host_*_key.pub; do \
     echo \"key $(ssh-keygen -lf \"$k\")\"; done; \
     echo \"machine-id $(cat /etc/machine-id)\"; \
     test -s /var/lib/systemd/random-seed && echo random-seed";

/// Two boots of one image are two machines: every host key and the
/// machine id differ, and each has its own of them all.
fn assert_instances_differ(first: &str, second: &str) {
    let lines = |s: &str, what: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.starts_with(what))
            .map(str::to_string)
            .collect()
    };
    for text in [first, second] {
        // ed25519, ecdsa and rsa: what Debian's openssh-server makes.
        assert_eq!(lines(text, "key ").len(), 3, "{text}");
        assert_eq!(lines(text, "machine-id ")[0].len(), 11 + 32, "{text}");
    }
    for what in ["key ", "machine-id "] {
        let (a, b) = (lines(first, what), lines(second, what));
        for line in &a {
            assert!(
                !b.contains(line),
                "two copies of one image share {line:?}:\n{first}\n{second}"
            );
        }
    }
}

/// The image as built holds no identity of a machine: no SSH host key,
/// an empty `/etc/machine-id` (machine-id(5): made on the first boot),
/// no random seed. Read from the root file system with `debugfs`.
fn assert_no_instance_secrets(image: &Path) {
    let root = root_offset(image);
    let debugfs = |request: &str| {
        let out = Command::new("debugfs")
            .args(["-R", request])
            .arg(format!("{}?offset={root}", image.display()))
            .output()
            .expect("debugfs (e2fsprogs)");
        assert!(out.status.success(), "debugfs -R {request:?}: {out:?}");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ssh, _) = debugfs("ls /etc/ssh");
    assert!(ssh.contains("sshd_config"), "{ssh}");
    assert!(!ssh.contains("ssh_host_"), "host keys in the image: {ssh}");
    let (id, err) = debugfs("cat /etc/machine-id");
    assert!(id.is_empty() && !err.contains("not found"), "{id}{err}");
    let (_, err) = debugfs("stat /var/lib/systemd/random-seed");
    assert!(err.contains("File not found"), "a random seed: {err}");
}

/// A kernel update in the guest: the guest's kernel package (its `.deb`
/// from the build's download cache) installed again with `dpkg -i`, as
/// an update of the same version is. Before it, `/boot` holds lunforge's
/// initrd and initramfs-tools is as Debian ships it; after it, the
/// kernel's postinst hook has made a Debian initrd in its place. Returns
/// that initrd, copied out of the guest.
fn update_kernel(vm: &mut Vm<'_>, b: &Built, dir: &Path) -> PathBuf {
    let version = b
        .kernel
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("vmlinuz-"))
        .expect("the kernel is vmlinuz-VERSION");
    let initrd = format!("/boot/initrd.img-{version}");
    let guest_sum = |vm: &Vm<'_>| {
        let out = vm.ssh_ok(&format!("sha256sum {initrd}"));
        out.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        guest_sum(vm),
        sha256_file(&b.initrd),
        "{initrd} is not the initrd lunforge built"
    );
    // Nothing of the hold is left: no stand-in, no file changed.
    let verify = vm.ssh_ok(
        "dpkg --verify initramfs-tools initramfs-tools-core; \
         ls /usr/sbin | grep update-initramfs",
    );
    assert_eq!(verify, "update-initramfs\n");

    // Unpacking a kernel and making an initrd under TCG take minutes.
    vm.set_command_timeout(Duration::from_secs(900));
    let start = std::time::Instant::now();
    let deb = cached_deb(&format!("linux-image-{version}"));
    vm.scp_to(&deb, "/root/kernel.deb");
    let out = vm.ssh_ok("dpkg -i /root/kernel.deb 2>&1");
    assert!(
        out.contains(&format!("update-initramfs: Generating {initrd}")),
        "the kernel update made no initrd:\n{out}"
    );
    let made = guest_sum(vm);
    assert_ne!(made, sha256_file(&b.initrd), "{initrd} is still lunforge's");
    let listing = vm.ssh_ok(&format!("lsinitramfs {initrd}"));
    assert!(
        listing
            .lines()
            .any(|l| l.trim_start_matches("./") == "conf/initramfs.conf"),
        "{initrd} is not made by mkinitramfs:\n{listing}"
    );
    let local = dir.join(format!("initrd.img-{version}"));
    vm.scp_from(&initrd, &local);
    assert_eq!(sha256_file(&local), made, "{initrd} copied out differs");
    eprintln!("kernel update in the guest: {:.1?}", start.elapsed());
    vm.set_command_timeout(Duration::from_secs(120));
    local
}

/// The `.deb` of `package` in the test download cache (a build that
/// installed it has fetched it there).
fn cached_deb(package: &str) -> PathBuf {
    let root = test_cache().join("sha256");
    let files = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(|d| std::fs::read_dir(d.ok()?.path()).ok())
        .flatten()
        .filter_map(|f| Some(f.ok()?.path()));
    for f in files {
        let out = Command::new("dpkg-deb")
            .args(["--field"])
            .arg(&f)
            .arg("Package")
            .output()
            .expect("run dpkg-deb");
        if out.status.success()
            && String::from_utf8_lossy(&out.stdout).trim() == package
        {
            return f;
        }
    }
    panic!("no {package} .deb in {}", root.display())
}

/// Hex SHA-256 of a file.
fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    hex::encode(sha2::Sha256::digest(bytes))
}

/// By hand (`cargo test --release --test integration -- --ignored
/// uefi_firmware`): two machines under OVMF with empty disks reach the
/// firmware's boot manager, the second (virtio-net) linked to the first
/// (e1000) by a socket NIC on 127.0.0.1. Not run by `make test`: it checks the harness's
/// firmware and link options, which no test uses yet, for a minute of
/// CI time.
#[test]
#[ignore = "by hand: the harness's UEFI and socket-link options"]
fn uefi_firmware_and_a_socket_link() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let disk = dir.path().join("empty.img");
    std::fs::File::create(&disk)
        .and_then(|f| f.set_len(64 << 20))
        .expect("empty disk");
    let lock = one_boot();
    let a = Vm::start(
        VmSpec::uefi("vm-uefi-a")
            .memory_mib(256)
            .second_serial()
            .drive(&disk, DriveIf::Ide)
            .nic(Nic::listen().model(NicModel::E1000)),
        &lock,
    );
    let b = Vm::start(
        VmSpec::uefi("vm-uefi-b")
            .memory_mib(256)
            .drive(&disk, DriveIf::Virtio)
            .nic(Nic::connect(a.link_port())),
        &lock,
    );
    for vm in [&a, &b] {
        let mark = vm.log_len();
        vm.wait_for_log_since(mark, "BdsDxe", Duration::from_secs(300));
    }
    assert_eq!(b.monitor("query-status")["status"], "running");
    // No system to power off: the drops end both emulators.
    drop(b);
    drop(a);
}
