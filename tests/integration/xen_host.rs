//! The seed's chain up to `xm create`, on real Xen: the Xen hosts
//! dangermouse and buggles built by lunforge from their recipes, and
//! dangermouse booting from its disk alone under UEFI (OVMF, TCG, `-cpu
//! qemu64`): GRUB from the EFI system partition, lunforge's Xen entry,
//! Xen, domain 0. Domain 0 logs in to the guest's LUN on the build
//! machine's `tgtd` (penfold) with its node record, and `xl create
//! /etc/xen/virtual01.cfg` runs the guest from it; then the same with
//! `bootloader = "pygrub"`.
//!
//! The network is the recipes' own 192.0.2.0/24 on a restricted
//! user-mode NIC: penfold's portal 192.0.2.10:3260 is a `guestfwd` to
//! the test's `tgtd` on 127.0.0.1, and dangermouse's ssh port a
//! `hostfwd` from 127.0.0.1. The guest's vif sits on dangermouse's
//! `xenbr0`, beside domain 0's `eth0`; the test reaches the guest with
//! domain 0 as its ssh jump host, with a key made for this test (the
//! operator's `authorized_keys` of the host recipes, and the guest's
//! `root_authorized_keys`).
//!
//! The guest is the built-in recipe with two changes, made the way an
//! operator would, by a recipe extending it: LUN 1 (tgt keeps LUN 0 for
//! its controller) and the test's key. Both hosts are built from that
//! guest recipe; their `/etc/xen/virtual01.cfg`, guest kernel and guest
//! initrd must be the same bytes.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::boot::{build, HOSTNAME};
use crate::support::lunforge;
use crate::support::qemu::{one_boot, test_cache, DriveIf};
use crate::support::tgtd::Tgtd;
use crate::support::vm::{Nic, SshKey, UserNet, Vm, VmSpec};

/// penfold's target, as in the guest recipe.
const IQN: &str = "iqn.2006-05.com.performancemagic:penfold.disk1";
/// The guest's LUN on the test's tgtd.
const LUN: u32 = 1;
/// penfold's portal address.
const PENFOLD: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
/// dangermouse's address (its recipe's).
const DANGERMOUSE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);
/// The guest's address (its recipe's).
const GUEST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 50);

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
/// and keys; the image's path.
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
        ],
    );
    out.join(format!("{name}.img"))
}

/// The byte offset of the root (last) partition of `image`.
fn root_offset(image: &Path) -> u64 {
    let out = Command::new("sfdisk")
        .args(["-J"])
        .arg(image)
        .output()
        .expect("sfdisk");
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("sfdisk -J");
    let parts = v["partitiontable"]["partitions"]
        .as_array()
        .expect("partitions");
    let start = parts.last().expect("a partition")["start"]
        .as_u64()
        .expect("start");
    start * 512
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

#[test]
fn dangermouse_runs_virtual01_from_the_lun() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temporary directory");
    let key = SshKey::generate(dir.path());
    let keys = dir.path().join("authorized_keys");
    std::fs::write(&keys, format!("{}\n", key.public)).expect("keys");
    let base = recipes().join("virtual01.toml");
    let guest = dir.path().join("virtual01.toml");
    std::fs::write(
        &guest,
        format!(
            "# The built-in guest on LUN {LUN} of the test's target.\n\
             extends = {:?}\n\n[iscsi]\nlun = {LUN}\n\n\
             [access]\nroot_authorized_keys = [{:?}]\n",
            base.display().to_string(),
            key.public
        ),
    )
    .expect("guest recipe");

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
    let (dm, bg) = std::thread::scope(|s| {
        let a = s.spawn(|| build_host("dangermouse", &outs[0], &guest, &keys));
        let b = s.spawn(|| build_host("buggles", &outs[1], &guest, &keys));
        (a.join().expect("dangermouse"), b.join().expect("buggles"))
    });
    timing("build guest and hosts", started.elapsed());

    // The two hosts hold the same guest files, and they are the guest
    // build's own.
    let cfg = read_root_file(&dm, "/etc/xen/virtual01.cfg");
    assert_eq!(cfg, read_root_file(&bg, "/etc/xen/virtual01.cfg"));
    let own = g
        .image
        .parent()
        .unwrap()
        .join(HOSTNAME)
        .join("xen/virtual01.cfg");
    assert_eq!(cfg, std::fs::read(&own).expect("the guest's xl config"));
    let boot_dir = format!("/var/lib/lunforge/{HOSTNAME}");
    let names = list_root_dir(&dm, &boot_dir);
    assert_eq!(names, list_root_dir(&bg, &boot_dir));
    for (built, name) in [(&g.kernel, "vmlinuz-"), (&g.initrd, "initrd.img-")] {
        let file = built.file_name().unwrap().to_str().unwrap();
        assert!(file.starts_with(name) && names.iter().any(|n| n == file));
        let path = format!("{boot_dir}/{file}");
        let on_dm = read_root_file(&dm, &path);
        assert_eq!(on_dm, read_root_file(&bg, &path), "{path}");
        assert_eq!(on_dm, std::fs::read(built).unwrap(), "{path}");
    }
    let cfg = String::from_utf8(cfg).expect("xl config");
    let by_path =
        format!("/dev/disk/by-path/ip-{PENFOLD}:3260-iscsi-{IQN}-lun-{LUN}");
    assert!(cfg.contains(&by_path), "{cfg}");

    // dangermouse boots from its disk alone.
    let net = UserNet::new()
        .net(Ipv4Addr::new(192, 0, 2, 0), 24)
        .host(Ipv4Addr::new(192, 0, 2, 1))
        .guestfwd(SocketAddrV4::new(PENFOLD, 3260), t.port)
        .hostfwd(SocketAddrV4::new(DANGERMOUSE, 22));
    let spec = VmSpec::uefi("xen-dangermouse")
        .memory_mib(2048)
        .drive(&dm, DriveIf::Virtio)
        .nic(Nic::user(net))
        .ssh_key(&key);
    let lock = one_boot();
    let mut vm = Vm::start(spec, &lock);
    let to_ssh = vm.wait_for_ssh(Duration::from_secs(900));
    timing("dangermouse: emulator start to ssh", to_ssh);
    vm.set_command_timeout(Duration::from_secs(300));
    let log = vm.serial_log(0);
    for seen in [
        "Debian GNU/Linux, with Xen hypervisor and Linux",
        "Xen version",
    ] {
        assert!(log.contains(seen), "no {seen:?} on the console:\n{log}");
    }

    // Domain 0, its bridge, its LUN.
    assert_eq!(vm.ssh_ok("hostname").trim(), "dangermouse");
    let info = vm.ssh_ok("xl info");
    assert!(info.contains("xen_version"), "{info}");
    timing("dangermouse: emulator start to xl info", vm.uptime());
    let bridge =
        vm.ssh_ok("ip -br link show xenbr0; ls /sys/class/net/xenbr0/brif");
    assert!(bridge.contains("UP"), "{bridge}");
    assert!(bridge.lines().any(|l| l.trim() == "eth0"), "{bridge}");
    let addr = vm.ssh_ok("ip -br addr show xenbr0");
    assert!(addr.contains(&format!("{DANGERMOUSE}/24")), "{addr}");
    let initiator = vm.ssh_ok("cat /etc/iscsi/initiatorname.iscsi");
    assert!(
        initiator.contains(
            "InitiatorName=iqn.2006-05.com.performancemagic:dangermouse.01"
        ),
        "{initiator}"
    );
    let sessions = vm.ssh_ok(&format!(
        "for i in $(seq 60); do [ -e {by_path} ] && break; sleep 1; done; \
         udevadm settle; iscsiadm -m session; ls -l {by_path} /dev/iscsi_{LUN} \
         /dev/iscsi_{LUN}1 /dev/iscsi_{LUN}2"
    ));
    assert!(sessions.contains(IQN), "{sessions}");

    // The guest, as the xl config says, then with pygrub.
    let facts = "findmnt -no FSTYPE /; cat /proc/cmdline; \
                 blkid -s UUID -o value $(findmnt -no SOURCE /); \
                 swapon --show=NAME --noheadings; hostname; \
                 ip -br addr show eth0; systemctl is-active multi-user.target; \
                 dpkg --audit; echo audit-done";
    let check = |vm: &mut Vm, how: &str, created: Instant| {
        vm.wait_for_ssh_via(GUEST, Duration::from_secs(600));
        timing(
            &format!("virtual01 ({how}): xl create to ssh"),
            created.elapsed(),
        );
        let out = vm.ssh_via_ok(GUEST, facts);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.first(), Some(&"ext3"), "{how}: {out}");
        assert!(
            lines[1].contains(&format!("root=UUID={}", g.root_uuid)),
            "{how}: {out}"
        );
        assert_eq!(lines[2], g.root_uuid, "{how}: {out}");
        assert!(lines[3].starts_with("/dev/"), "{how}: swap off: {out}");
        assert_eq!(lines[4], HOSTNAME, "{how}: {out}");
        assert!(lines[5].contains(&format!("{GUEST}/24")), "{how}: {out}");
        assert_eq!(lines[6], "active", "{how}: {out}");
        assert_eq!(lines[7], "audit-done", "{how}: dpkg --audit: {out}");
        vm.ssh_ok("xl shutdown -w virtual01");
    };
    let t0 = Instant::now();
    vm.ssh_ok("xl create /etc/xen/virtual01.cfg");
    check(&mut vm, "kernel =", t0);
    timing(
        "virtual01 (kernel =): xl create to xl shutdown",
        t0.elapsed(),
    );

    // The pygrub config, as lunforge writes it for the same guest.
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
    vm.scp_to(&cfg, "/etc/xen/virtual01-pygrub.cfg");
    let t0 = Instant::now();
    vm.ssh_ok("xl create /etc/xen/virtual01-pygrub.cfg");
    check(&mut vm, "pygrub", t0);
    timing("virtual01 (pygrub): xl create to xl shutdown", t0.elapsed());

    vm.shutdown(Duration::from_secs(180));
    drop(t);
    timing("whole test", started.elapsed());
}
