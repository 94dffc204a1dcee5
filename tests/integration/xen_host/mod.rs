//! The seed from `xm create` to its finale, on real Xen: the Xen hosts
//! dangermouse and buggles built by lunforge from their recipes, both
//! booting from their own disks under UEFI (OVMF, TCG, `-cpu qemu64`):
//! GRUB from the EFI system partition, lunforge's Xen entry, Xen,
//! domain 0. Each domain 0 logs in to the guest's LUN on the build
//! machine's `tgtd` (penfold) with its node record. dangermouse runs
//! virtual01 with `xl create /etc/xen/virtual01.cfg`; `xl migrate`
//! moves it to buggles while it runs, and back ([`migrate`] says how
//! the test knows it never stopped); buggles then runs it with
//! `bootloader = "pygrub"`; and the LUN's root file system is clean
//! after it all.
//!
//! # The network
//!
//! - **The hosts' own network**, 192.0.2.0/24 as in the recipes: one
//!   QEMU socket link on 127.0.0.1 between the two VMs, each host's
//!   `eth0`, a port of its `xenbr0`. The guest's vif joins whichever
//!   bridge it runs on, so its address answers from both sides.
//! - **A storage network** per host, `eth1` (an
//!   `extra_interfaces` entry of the test's): a restricted user-mode
//!   NIC, 10.0.2.15/24, where penfold's portal 10.0.2.100:3260 is a
//!   `guestfwd` to the test's `tgtd`, and the host's ssh port a
//!   `hostfwd` from 127.0.0.1.
//!
//! The test reaches the guest with a domain 0 as its ssh jump host. Its
//! key, made for this test, is the operator's `authorized_keys` of the
//! host recipes and the guest's `root_authorized_keys`; an `ssh-agent`
//! of the test's holds it and is forwarded to the hosts, so that `xl
//! migrate` logs in from one host to the other with it while no private
//! key is ever on a host.
//!
//! The guest is the built-in recipe with five changes, made the way an
//! operator would, by a recipe extending it: LUN 1 (tgt keeps LUN 0 for
//! its controller), the storage network's portal, 256 MiB (half the
//! memory to copy under TCG), the test's key, and systemd's wait for
//! the swap device raised from 90 s to 10 minutes (`boot.cmdline`): a
//! PVH guest under Xen under TCG takes minutes to start udev, every
//! page fault of its many short processes a nested page walk in
//! software, and systemd would give up on the swap partition before
//! udev names it. Swap must still be on. Both hosts are built
//! from that guest recipe; their `/etc/xen/virtual01.cfg`, guest kernel
//! and guest initrd must be the same bytes.
//!
//! When it fails, the test keeps both hosts' serial logs, and from each
//! domain 0 the guest's console log, `xl list`, `xl dmesg` and xl's
//! logs, in `target/test-artifacts/`; no VM or `tgtd` outlives it.

mod migrate;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::boot::{build, Built, HOSTNAME};
use crate::support::qemu::{one_boot, test_cache, DriveIf};
use crate::support::tgtd::Tgtd;
use crate::support::vm::{Nic, SshAgent, SshKey, UserNet, Vm, VmSpec};
use crate::support::{lunforge, root_offset};
use migrate::{keep, migrate, COUNTER};

/// penfold's target, as in the guest recipe.
const IQN: &str = "iqn.2006-05.com.performancemagic:penfold.disk1";
/// The guest's LUN on the test's tgtd.
const LUN: u32 = 1;
/// penfold's portal on each host's storage network.
const PENFOLD: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 100);
/// Each host's address on its storage network (`eth1`).
const STORAGE: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
/// The guest's address (its recipe's).
const GUEST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 50);
/// The guest's memory in the test.
const GUEST_MEMORY: &str = "256MiB";

/// The guest recipe's `boot.cmdline` (see the module doc).
const DEVICE_TIMEOUT: &str = "systemd.default_device_timeout_sec=600";

/// One of the seed's Xen hosts.
struct Host {
    /// Its recipe's name, host name and image name.
    name: &'static str,
    /// Its address on the hosts' network (its recipe's).
    address: Ipv4Addr,
    /// Its iSCSI initiator name (its recipe's).
    initiator: &'static str,
}

const DANGERMOUSE: Host = Host {
    name: "dangermouse",
    address: Ipv4Addr::new(192, 0, 2, 11),
    initiator: "iqn.2006-05.com.performancemagic:dangermouse.01",
};

const BUGGLES: Host = Host {
    name: "buggles",
    address: Ipv4Addr::new(192, 0, 2, 12),
    initiator: "iqn.2006-05.com.performancemagic:buggles.01",
};

/// The repository's recipes directory.
fn recipes() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes")
}

/// `lunforge build RECIPE -o OUT` with the shared download cache and
/// `more` arguments.
fn build_recipe(recipe: &Path, out: &Path, more: &[&str]) {
    let cache = test_cache().display().to_string();
    let mut args = vec![
        "-q",
        "build",
        recipe.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--cache",
        &cache,
    ];
    args.extend_from_slice(more);
    lunforge(args).ok();
}

/// Build the host recipe `name` into `out` with the test's guest recipe
/// and keys, and the storage network on `eth1`; the image's path.
fn build_host(name: &str, out: &Path, guest: &Path, keys: &Path) -> PathBuf {
    let recipe = recipes().join(format!("{name}.toml"));
    let guests = format!("host.guests=[{:?}]", guest.display().to_string());
    let keys = format!("access.root_authorized_keys_file={}", keys.display());
    build_recipe(
        &recipe,
        out,
        &[
            "--configure",
            "chroot",
            "--set",
            &guests,
            "--set",
            &keys,
            "--set",
            "boot.timeout=1",
            "--set",
            &format!(
                "network.extra_interfaces=[{{ interface = \"eth1\", \
                 address = \"{STORAGE}/24\" }}]"
            ),
        ],
    );
    out.join(format!("{name}.img"))
}

/// A file of the root file system of `image`, by debugfs.
fn read_root_file(image: &Path, path: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let dest = dir.path().join("f");
    let fs = format!("{}?offset={}", image.display(), root_offset(image));
    let out = Command::new("debugfs")
        .arg("-R")
        .arg(format!("dump {path} {}", dest.display()))
        .arg(&fs)
        .output()
        .expect("debugfs");
    std::fs::read(&dest).unwrap_or_else(|e| {
        panic!(
            "{path} in {}: {e}\n{}",
            image.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// `ls` of a directory of the root file system of `image`.
fn list_root_dir(image: &Path, path: &str) -> Vec<String> {
    let fs = format!("{}?offset={}", image.display(), root_offset(image));
    let out = Command::new("debugfs")
        .arg("-R")
        .arg(format!("ls -p {path}"))
        .arg(&fs)
        .output()
        .expect("debugfs");
    // `/INODE/MODE/UID/GID/NAME/SIZE/`
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split('/').nth(5).map(str::to_string))
        .filter(|n| !n.is_empty() && n != "." && n != "..")
        .collect()
}

/// A time the benchmark reads (`make bench`, section 3h): one line
/// `timing: WHAT: SECONDS` on stderr.
fn timing(what: &str, d: Duration) {
    eprintln!("timing: {what}: {:.1}", d.as_secs_f64());
}

/// The test's guest recipe in `dir`: the built-in one on LUN 1 of the
/// storage network's portal, with less memory, a longer wait for its
/// devices and the test's key (see the module doc).
fn guest_recipe(dir: &Path, key: &SshKey) -> PathBuf {
    let base = recipes().join("virtual01.toml");
    let path = dir.join("virtual01.toml");
    std::fs::write(
        &path,
        format!(
            "# The built-in guest on LUN {LUN} of the test's target.\n\
             extends = {:?}\n\n\
             [iscsi]\nlun = {LUN}\nportal = \"{PENFOLD}:3260\"\n\n\
             [xen]\nmemory = \"{GUEST_MEMORY}\"\n\n\
             [boot]\ncmdline = \"{DEVICE_TIMEOUT}\"\n\n\
             [access]\nroot_authorized_keys = [{:?}]\n",
            base.display().to_string(),
            key.public
        ),
    )
    .expect("guest recipe");
    path
}

/// The two hosts hold the same guest files, and they are the guest
/// build's own; the xl config names the LUN by path.
fn check_guest_files(g: &Built, dm: &Path, bg: &Path) -> String {
    let cfg = read_root_file(dm, "/etc/xen/virtual01.cfg");
    assert_eq!(cfg, read_root_file(bg, "/etc/xen/virtual01.cfg"));
    let own = g
        .image
        .parent()
        .unwrap()
        .join(HOSTNAME)
        .join("xen/virtual01.cfg");
    assert_eq!(cfg, std::fs::read(&own).expect("the guest's xl config"));
    let boot_dir = format!("/var/lib/lunforge/{HOSTNAME}");
    let names = list_root_dir(dm, &boot_dir);
    assert_eq!(names, list_root_dir(bg, &boot_dir));
    for (built, name) in [(&g.kernel, "vmlinuz-"), (&g.initrd, "initrd.img-")] {
        let file = built.file_name().unwrap().to_str().unwrap();
        assert!(file.starts_with(name) && names.iter().any(|n| n == file));
        let path = format!("{boot_dir}/{file}");
        let on_dm = read_root_file(dm, &path);
        assert_eq!(on_dm, read_root_file(bg, &path), "{path}");
        assert_eq!(on_dm, std::fs::read(built).unwrap(), "{path}");
    }
    let cfg = String::from_utf8(cfg).expect("xl config");
    let by_path =
        format!("/dev/disk/by-path/ip-{PENFOLD}:3260-iscsi-{IQN}-lun-{LUN}");
    assert!(cfg.contains(&by_path), "{cfg}");
    by_path
}

/// A host's VM: its disk alone under UEFI, `link` as `eth0` and the
/// storage network as `eth1`.
fn host_spec(
    host: &Host,
    image: &Path,
    link: Nic,
    t: &Tgtd,
    key: &SshKey,
) -> VmSpec {
    let storage = UserNet::new()
        .guestfwd(SocketAddrV4::new(PENFOLD, 3260), t.port)
        .hostfwd(SocketAddrV4::new(STORAGE, 22));
    // NPT, which TCG emulates, is Xen's HAP: a PVH guest needs it. One
    // CPU each: with two, the hosts took twice as long to boot and a
    // migration's resumed guest lagged its own network by seconds.
    VmSpec::uefi(&format!("xen-{}", host.name))
        .cpu("qemu64,+svm,+npt")
        .memory_mib(2048)
        .drive(image, DriveIf::Virtio)
        .nic(link)
        .nic(Nic::user(storage))
        .ssh_key(key)
}

/// Domain 0 of `host`: Xen, its bridge, its initiator name, its LUN.
fn check_host(vm: &Vm, host: &Host, by_path: &str) {
    let log = vm.serial_log(0);
    for seen in [
        "Debian GNU/Linux, with Xen hypervisor and Linux",
        "Xen version",
    ] {
        assert!(
            log.contains(seen),
            "{}: no {seen:?} on the console",
            host.name
        );
    }
    assert_eq!(vm.ssh_ok("hostname").trim(), host.name);
    let info = vm.ssh_ok("xl info");
    assert!(info.contains("xen_version"), "{info}");
    assert!(
        info.lines()
            .any(|l| l.starts_with("virt_caps") && l.contains(" hap")),
        "{}: no HAP for the PVH guest:\n{info}",
        host.name
    );
    timing(
        &format!("{}: emulator start to xl info", host.name),
        vm.uptime(),
    );
    let bridge =
        vm.ssh_ok("ip -br link show xenbr0; ls /sys/class/net/xenbr0/brif");
    assert!(bridge.contains("UP"), "{bridge}");
    assert!(bridge.lines().any(|l| l.trim() == "eth0"), "{bridge}");
    let addr = vm.ssh_ok("ip -br addr show xenbr0; ip -br addr show eth1");
    assert!(addr.contains(&format!("{}/24", host.address)), "{addr}");
    assert!(addr.contains(&format!("{STORAGE}/24")), "{addr}");
    let initiator = vm.ssh_ok("cat /etc/iscsi/initiatorname.iscsi");
    assert!(
        initiator.contains(&format!("InitiatorName={}", host.initiator)),
        "{initiator}"
    );
    let sessions = vm.ssh_ok(&format!(
        "for i in $(seq 60); do [ -e {by_path} ] && break; sleep 1; done; \
         udevadm settle; iscsiadm -m session; ls -l {by_path} /dev/iscsi_{LUN} \
         /dev/iscsi_{LUN}1 /dev/iscsi_{LUN}2"
    ));
    assert!(sessions.contains(IQN), "{sessions}");
}

/// Trust on first use, as an operator does once: `vm`'s root logs in
/// to `peer` (by its `/etc/hosts` name, over the hosts' link) with the
/// forwarded agent and records its host key for `xl migrate`.
fn first_contact(vm: &Vm, peer: &str) {
    let name = vm.ssh_ok(&format!(
        "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new {peer} \
         hostname"
    ));
    assert_eq!(name.trim(), peer);
}

/// Log the guests' consoles to `/var/log/xen/console/` (xenconsoled
/// `--log=guest`; Debian's init script starts it without). Only
/// xenconsoled restarts, before any guest runs.
const CONSOLE_LOG: &str = "mkdir -p /var/log/xen/console; \
     echo 'XENCONSOLED_ARGS=\"--log=guest\"' >>/etc/default/xen; \
     start-stop-daemon --stop --quiet --retry=TERM/30/KILL/5 \
     --pidfile /run/xenconsoled.pid --name xenconsoled; \
     \"$(/usr/lib/xen-common/bin/xen-dir)/bin/xenconsoled\" --log=guest \
     --pid-file /run/xenconsoled.pid";

/// What a domain 0 knows when something failed.
const EVIDENCE: &str = "xl list; echo; xl dmesg | tail -n 80; echo; \
     ps -eo pid,stat,time,comm --sort=-time | head -n 25; \
     for f in /var/log/xen/console/guest-*.log /var/log/xen/xl-*.log; do \
     [ -e \"$f\" ] && echo && echo \"== $f\" && cat \"$f\"; done; true";

/// What the guest knows of its own boot, when a check of it failed.
const GUEST_EVIDENCE: &str = "systemd-analyze; systemd-analyze blame | \
     head -n 30; ps -eo pid,stat,time,comm --sort=-time | head -n 15; true";

/// On a failure, each domain 0's [`EVIDENCE`] goes to
/// `target/test-artifacts/xen-NAME-evidence.log`.
struct KeepEvidence<'a, 'l>(Vec<(&'a Vm<'l>, &'static str)>);

impl Drop for KeepEvidence<'_, '_> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for (vm, name) in &self.0 {
            let out = vm.ssh(EVIDENCE);
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            keep(&format!("xen-{name}-evidence.log"), &text);
        }
    }
}

/// The guest's facts, as the boot tests check them, reached through
/// `vm`.
fn check_guest(vm: &Vm, g: &Built, how: &str) {
    let facts = "findmnt -no FSTYPE /; cat /proc/cmdline; \
                 blkid -s UUID -o value $(findmnt -no SOURCE /); \
                 swapon --show=NAME --noheadings; hostname; \
                 ip -br addr show eth0; systemctl is-active multi-user.target; \
                 dpkg --audit; echo audit-done";
    let mut out = vm.ssh_via_ok(GUEST, facts);
    let lines: Vec<String> = out.lines().map(str::to_owned).collect();
    if lines.len() != 8 || !lines[3].starts_with("/dev/") {
        let why = vm.ssh_via(GUEST, GUEST_EVIDENCE);
        out.push_str("\n== the guest's boot\n");
        out.push_str(&String::from_utf8_lossy(&why.stdout));
    }
    assert_eq!(
        lines.first().map(String::as_str),
        Some("ext3"),
        "{how}: {out}"
    );
    assert!(
        lines[1].contains(&format!("root=UUID={}", g.root_uuid)),
        "{how}: {out}"
    );
    assert!(lines[1].ends_with(DEVICE_TIMEOUT), "{how}: {out}");
    assert_eq!(lines[2], g.root_uuid, "{how}: {out}");
    assert!(lines[3].starts_with("/dev/"), "{how}: swap off: {out}");
    assert_eq!(lines[4], HOSTNAME, "{how}: {out}");
    assert!(lines[5].contains(&format!("{GUEST}/24")), "{how}: {out}");
    assert_eq!(lines[6], "active", "{how}: {out}");
    assert_eq!(lines[7], "audit-done", "{how}: dpkg --audit: {out}");
}

/// `xl create CONFIG` on `vm`, wait for the guest's ssh, check it.
fn create(vm: &Vm, config: &str, g: &Built, how: &str) {
    let begin = Instant::now();
    vm.ssh_ok(&format!("xl create {config}"));
    vm.wait_for_ssh_via(GUEST, Duration::from_secs(600));
    timing(
        &format!("virtual01 ({how}): xl create to ssh"),
        begin.elapsed(),
    );
    let boot = vm.ssh_via(GUEST, "systemd-analyze | head -n 1");
    eprintln!(
        "virtual01 ({how}): {}",
        String::from_utf8_lossy(&boot.stdout).trim()
    );
    check_guest(vm, g, how);
}

/// `e2fsck -fn` of the root (last) partition of the guest's disk in
/// `backing`: exit 0, and nothing said but its passes and summary.
fn fsck_root(backing: &Path) {
    let fs = format!("{}?offset={}", backing.display(), root_offset(backing));
    let out = Command::new("e2fsck")
        .args(["-fn", &fs])
        .env("LC_ALL", "C")
        .output()
        .expect("e2fsck");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "e2fsck -fn on the LUN: {text}");
    for line in text.lines() {
        assert!(
            line.starts_with("Pass ")
                || line.starts_with("e2fsck ")
                || line.contains(" files (")
                || line.is_empty(),
            "e2fsck -fn on the LUN: {text}"
        );
    }
}

#[test]
fn virtual01_migrates_between_the_xen_hosts() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temporary directory");
    let key = SshKey::generate(dir.path());
    let keys = dir.path().join("authorized_keys");
    std::fs::write(&keys, format!("{}\n", key.public)).expect("keys");
    let guest = guest_recipe(dir.path(), &key);

    // penfold: the guest's image on LUN 1, written by lunforge.
    let g = build(&[guest.to_str().unwrap(), "--configure", "chroot"]);
    let mut t = Tgtd::start();
    t.add_target(1, IQN);
    let backing = t.backing_file("lun1.img", 8 << 30);
    t.add_lun(1, LUN, &backing);
    let url = format!("iscsi://127.0.0.1:{}/{IQN}/{LUN}", t.port);
    lunforge(["-q", "write", g.image.to_str().unwrap(), &url]).ok();

    // Both hosts, side by side (two cores, two chroots).
    let outs = [dir.path().join("dm"), dir.path().join("bg")];
    let (dm_img, bg_img) = std::thread::scope(|s| {
        let a =
            s.spawn(|| build_host(DANGERMOUSE.name, &outs[0], &guest, &keys));
        let b = s.spawn(|| build_host(BUGGLES.name, &outs[1], &guest, &keys));
        (a.join().expect("dangermouse"), b.join().expect("buggles"))
    });
    timing("build guest and hosts", started.elapsed());
    let by_path = check_guest_files(&g, &dm_img, &bg_img);

    // Both boot from their disks alone, joined by their link.
    let lock = one_boot();
    let spec = host_spec(&DANGERMOUSE, &dm_img, Nic::listen(), &t, &key);
    let mut dm = Vm::start(spec, &lock);
    let link = Nic::connect(dm.link_port());
    let mut bg = Vm::start(host_spec(&BUGGLES, &bg_img, link, &t, &key), &lock);
    let agent = SshAgent::start(dir.path(), &key);
    for (vm, host) in [(&mut dm, &DANGERMOUSE), (&mut bg, &BUGGLES)] {
        let up = vm.wait_for_ssh(Duration::from_secs(900));
        timing(&format!("{}: emulator start to ssh", host.name), up);
        vm.set_command_timeout(Duration::from_secs(300));
        vm.forward_agent(&agent);
    }
    {
        let _evidence =
            KeepEvidence(vec![(&dm, DANGERMOUSE.name), (&bg, BUGGLES.name)]);
        check_host(&dm, &DANGERMOUSE, &by_path);
        check_host(&bg, &BUGGLES, &by_path);
        first_contact(&dm, BUGGLES.name);
        first_contact(&bg, DANGERMOUSE.name);
        dm.ssh_ok(CONSOLE_LOG);
        bg.ssh_ok(CONSOLE_LOG);

        // virtual01 on dangermouse, as its xl config says.
        create(&dm, "/etc/xen/virtual01.cfg", &g, "kernel =");
        let first = dm.ssh_via_ok(GUEST, COUNTER);
        let count = first.split(' ').next().and_then(|n| n.parse().ok());
        assert!(count.is_some_and(|n: u64| (1..10).contains(&n)), "{first}");

        // The seed's finale, and back.
        let there =
            migrate(1, (&dm, DANGERMOUSE.name), (&bg, BUGGLES.name), GUEST);
        let back =
            migrate(2, (&bg, BUGGLES.name), (&dm, DANGERMOUSE.name), GUEST);
        for (moved, way) in [
            (there, "dangermouse to buggles"),
            (back, "buggles to dangermouse"),
        ] {
            timing(&format!("migrate {way}: xl migrate"), moved.took);
            let secs = Duration::from_secs_f64;
            timing(&format!("migrate {way}: guest pause"), secs(moved.pause));
            timing(
                &format!("migrate {way}: guest's user space frozen besides"),
                secs(moved.frozen.max(0.0)),
            );
            timing(
                &format!("migrate {way}: counter stood still"),
                secs(moved.stood_still.max(0.0)),
            );
        }
        check_guest(&dm, &g, "back on dangermouse");
        dm.ssh_ok("xl shutdown -w virtual01");

        // buggles runs it too, with pygrub: the config lunforge writes
        // for the same guest with `xen.bootloader = "pygrub"`.
        let pygrub = dir.path().join("virtual01-pygrub.toml");
        std::fs::write(
            &pygrub,
            format!(
                "extends = {:?}\n\n[xen]\nbootloader = \"pygrub\"\n",
                guest.display().to_string()
            ),
        )
        .expect("pygrub recipe");
        let out = dir.path().join("pygrub");
        build_recipe(&pygrub, &out, &["--configure", "firstboot"]);
        let cfg = out.join(HOSTNAME).join("xen/virtual01.cfg");
        assert!(std::fs::read_to_string(&cfg)
            .unwrap()
            .contains("bootloader = \"pygrub\""));
        bg.scp_to(&cfg, "/etc/xen/virtual01-pygrub.cfg");
        let begin = Instant::now();
        create(&bg, "/etc/xen/virtual01-pygrub.cfg", &g, "pygrub");
        bg.ssh_ok("xl shutdown -w virtual01");
        timing(
            "virtual01 (pygrub): xl create to xl shutdown",
            begin.elapsed(),
        );
    }

    // Both hosts off, then the LUN as the guest left it.
    std::thread::scope(|s| {
        s.spawn(|| dm.shutdown(Duration::from_secs(180)));
        s.spawn(|| bg.shutdown(Duration::from_secs(180)));
    });
    t.kill();
    fsck_root(&backing);
    drop(t);
    timing("whole test", started.elapsed());
}
