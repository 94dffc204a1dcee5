//! The whole guest boots: `lunforge build` of the built-in recipe (and
//! of a bookworm variant), then the image under `qemu-system-x86_64` the
//! way Xen boots it: the kernel and initrd that the build wrote next to
//! the image, the command line from the `extra =` of the emitted xl
//! config (with `console=ttyS0` added, since QEMU's console is a serial
//! port, not Xen's `hvc0`), the image as a virtio disk, the recipe's MAC
//! on a NIC that reaches nothing beyond the emulator.
//!
//! Two boots per image:
//!
//! 1. to `login:` on the serial console;
//! 2. a check boot: `systemd.run=` runs a script from a second, tiny
//!    disk (so no quoting fights the kernel's and systemd's command-line
//!    parsers) that starts `multi-user.target` (which `systemd.run=`
//!    replaces as the boot's goal) and prints `findmnt /`,
//!    `swapon --show`, `hostname`,
//!    `ip -br addr` and `dpkg --audit`; the test asserts the root is
//!    the recipe's ext3 by UUID, swap is on, the hostname and address
//!    are the recipe's, dpkg is clean.
//!
//! The first-boot strategy boots without `-snapshot` (on a copy): the
//! initrd configures the packages once, and a second boot of the same
//! image does not configure again.
//!
//! And from a LUN of a real `tgtd`, written by `lunforge write` and by
//! `build --target iscsi://…`, booted by QEMU's own iSCSI driver.
//!
//! And the built-in recipe for arm64, built by a normal user on this
//! amd64 machine and booted under `qemu-system-aarch64 -M virt` (its
//! console `ttyAMA0`): the first boot configures, the second does not.
//!
//! Builds use the host's Debian mirror (`mirror = "host"`, found by
//! lunforge in the host's apt sources) and a download cache shared by
//! test runs (`target/test-cache`). Boots run one at a time
//! ([`crate::support::qemu::one_boot`]): two TCG guests on two cores
//! would only make each other time out.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::lunforge;
use crate::support::qemu::{
    artifacts_dir, test_cache, Boot, BootLog, Machine, Nic,
};

/// The recipe's values the guest must show.
const ADDRESS: &str = "192.0.2.50/24";
pub(crate) const HOSTNAME: &str = "virtual01";

/// A built guest: the image and what the build wrote for the Xen hosts.
pub(crate) struct Built {
    _dir: tempfile::TempDir,
    /// The machine it boots on.
    pub(crate) machine: Machine,
    pub(crate) image: PathBuf,
    pub(crate) kernel: PathBuf,
    pub(crate) initrd: PathBuf,
    /// `extra =` of the xl config.
    pub(crate) extra: String,
    /// The vif's MAC of the xl config.
    pub(crate) mac: String,
    /// Root UUID, from `root=UUID=` in `extra`.
    pub(crate) root_uuid: String,
}

/// `lunforge build` with `args` (after `build -o OUT`) into a fresh
/// directory. [`crate::vm_ssh`] builds its guest here too.
pub(crate) fn build(args: &[&str]) -> Built {
    let dir = tempfile::tempdir().expect("temporary directory");
    let out = dir.path().join("out");
    let cache = test_cache();
    let mut all = vec![
        "-q".to_string(),
        "build".into(),
        "-o".into(),
        out.display().to_string(),
        "--cache".into(),
        cache.display().to_string(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    lunforge(&all).ok();
    Built::read(dir, &out, Machine::Pc)
}

impl Built {
    /// The guest a build wrote into `out` (in `dir`, kept while this lives),
    /// for `machine`.
    pub(crate) fn read(
        dir: tempfile::TempDir,
        out: &Path,
        machine: Machine,
    ) -> Built {
        let boot = out.join(HOSTNAME);
        let find = |prefix: &str| -> PathBuf {
            let mut found: Vec<PathBuf> = std::fs::read_dir(&boot)
                .unwrap_or_else(|e| panic!("{}: {e}", boot.display()))
                .map(|e| e.expect("read_dir").path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(prefix))
                })
                .collect();
            assert_eq!(
                found.len(),
                1,
                "{prefix}* in {}: {found:?}",
                boot.display()
            );
            found.remove(0)
        };
        let cfg_path = boot.join("xen").join(format!("{HOSTNAME}.cfg"));
        let cfg = std::fs::read_to_string(&cfg_path)
            .unwrap_or_else(|e| panic!("{}: {e}", cfg_path.display()));
        let value = |key: &str| -> String {
            cfg.lines()
                .find_map(|l| l.strip_prefix(&format!("{key} = ")))
                .unwrap_or_else(|| panic!("no {key} in the xl config:\n{cfg}"))
                .to_string()
        };
        let extra = value("extra").trim_matches('"').to_string();
        let mac = value("vif")
            .split("mac=")
            .nth(1)
            .and_then(|r| r.get(..17))
            .expect("mac= in vif")
            .to_string();
        let root_uuid = extra
            .split_whitespace()
            .find_map(|w| w.strip_prefix("root=UUID="))
            .expect("root=UUID= in extra")
            .to_string();
        Built {
            machine,
            image: out.join(format!("{HOSTNAME}.img")),
            kernel: find("vmlinuz-"),
            initrd: find("initrd.img-"),
            extra,
            mac,
            root_uuid,
            _dir: dir,
        }
    }

    /// A boot of `image` (this build's, or a copy) as Xen would.
    fn boot(&self, image: &Path, more: &str) -> Boot {
        Boot::new(&self.kernel)
            .machine(self.machine)
            .initrd(&self.initrd)
            .append(&format!(
                "{} console={} {more}",
                self.extra,
                self.machine.console()
            ))
            .drive(image)
            .memory_mib(1024)
            .nic(Nic::Restricted {
                mac: Some(self.mac.clone()),
            })
            // A first boot that configures every package under TCG
            // takes minutes (about 6 on a busy 2-core machine).
            .timeout(Duration::from_secs(1500))
    }

    /// Boot to the login prompt.
    fn login(&self, test: &str, image: &Path, snapshot: bool) -> BootLog {
        let log = self
            .boot(image, "")
            .snapshot(snapshot)
            .run_until(test, &format!("{HOSTNAME} login:"));
        eprintln!("{test}: login prompt after {:?}", log.marker_after);
        log
    }

    /// The check boot: the report of [`CHECK_SCRIPT`], one `key: value`
    /// per line, and the whole serial log.
    fn check(
        &self,
        test: &str,
        image: &Path,
        snapshot: bool,
    ) -> (Report, String) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let script = dir.path().join("check.img");
        let mut bytes = CHECK_SCRIPT.as_bytes().to_vec();
        bytes.resize(bytes.len().div_ceil(512) * 512, 0);
        std::fs::write(&script, bytes).expect("write the check disk");
        let log = self
            .boot(
                image,
                "systemd.run=\"/bin/sh /dev/vdb\" \
                 systemd.run_success_action=poweroff \
                 systemd.run_failure_action=poweroff",
            )
            .drive(&script)
            .snapshot(snapshot)
            .run_to_exit(test, "LFCHK-END");
        eprintln!("{test}: check done after {:?}", log.marker_after);
        (Report::parse(test, &log.log), log.log)
    }

    /// The checks every configured guest passes. The serial log is kept
    /// as `target/test-artifacts/<test>.log` while they run, and removed
    /// when they pass.
    fn assert_configured(&self, test: &str, r: &Report, log: &str) {
        let kept = artifacts_dir().join(format!("{test}.log"));
        std::fs::create_dir_all(artifacts_dir()).expect("artifacts dir");
        std::fs::write(&kept, log).expect("keep the serial log");
        self.assert_report(test, r);
        std::fs::remove_file(&kept).expect("remove the kept log");
    }

    fn assert_report(&self, test: &str, r: &Report) {
        let root = r.get("root");
        assert!(
            root.contains(&format!("UUID={}", self.root_uuid))
                || root.contains(&self.root_uuid),
            "{test}: root is not the recipe's by UUID: {r:?}"
        );
        assert_eq!(r.get("root-fstype"), "ext3", "{test}: {r:?}");
        assert!(r.get("root-options").starts_with("rw"), "{test}: {r:?}");
        assert!(
            r.get("swap").contains("partition"),
            "{test}: no swap partition active: {r:?}"
        );
        let machine = match self.machine {
            Machine::Pc => "x86_64 amd64",
            Machine::ArmVirt => "aarch64 arm64",
        };
        assert_eq!(r.get("machine"), machine, "{test}: {r:?}");
        assert_eq!(r.get("hostname"), HOSTNAME, "{test}");
        let addr = r.get("addr");
        assert!(
            addr.starts_with("eth0")
                && addr.contains("UP")
                && addr.contains(ADDRESS),
            "{test}: eth0 is not up with {ADDRESS}: {r:?}"
        );
        assert_eq!(r.get("audit"), "0 []", "{test}: dpkg --audit: {r:?}");
        assert_eq!(r.get("firstboot-marker"), "absent", "{test}");
    }
}

/// Run by `systemd.run` from the second disk (`/dev/vdb`); everything
/// goes to the serial console, each result on a line tagged `@@ ` (the
/// serial getty's prompt may share the console line). Markers are
/// printed in two parts, so the kernel's echo of its command line can
/// never be taken for them.
const CHECK_SCRIPT: &str = r#"#!/bin/sh
exec >/dev/console 2>&1
m=LFCHK
echo "$m-BEGIN"
# systemd.run= makes this unit the boot's goal; bring up what a normal
# boot reaches (networking.service, the swap) and wait for it. Not
# blocking: the getty on Xen's console (hvc0) waits for a device that
# QEMU has not got.
systemctl start --no-block multi-user.target
i=0
while [ $i -lt 90 ]; do
	ip -br -4 addr show eth0 2>/dev/null | grep -q 'UP.*192\.0\.2\.50/' \
		&& swapon --show --noheadings | grep -q . && break
	sleep 1; i=$((i + 1))
done
echo "@@ root: $(findmnt -n -o SOURCE,UUID /)"
echo "@@ root-fstype: $(findmnt -n -o FSTYPE /)"
echo "@@ root-options: $(findmnt -n -o OPTIONS /)"
echo "@@ swap: $(swapon --show=NAME,TYPE --noheadings | tr -s ' ')"
echo "@@ machine: $(uname -m) $(dpkg --print-architecture)"
echo "@@ hostname: $(hostname)"
echo "@@ addr: $(ip -br -4 addr show eth0 | tr -s ' ')"
a=$(dpkg --audit 2>&1); echo "@@ audit: $? [$a]"
[ -e /var/lib/lunforge/firstboot-pending ] && f=present || f=absent
echo "@@ firstboot-marker: $f"
echo "$m-END"
exit 0
"#;

/// The `key: value` lines between the check markers.
#[derive(Debug)]
struct Report(Vec<(String, String)>);

impl Report {
    fn parse(test: &str, log: &str) -> Report {
        let clean = log.replace('\r', "");
        let body = clean
            .split("LFCHK-BEGIN")
            .nth(1)
            .and_then(|b| b.split("LFCHK-END").next())
            .unwrap_or_else(|| panic!("{test}: no check report in:\n{log}"));
        Report(
            body.lines()
                .filter_map(|l| l.split_once("@@ ").map(|(_, r)| r))
                .filter_map(|l| l.split_once(": "))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect(),
        )
    }

    fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// A sparse copy of `image` that a boot may change.
fn copy(image: &Path, dir: &Path) -> PathBuf {
    let to = dir.join("copy.img");
    let status = std::process::Command::new("cp")
        .arg("--sparse=always")
        .arg(image)
        .arg(&to)
        .status()
        .expect("cp");
    assert!(status.success(), "cp --sparse=always failed");
    to
}

/// Maintainer scripts ran at build time (as root, the `auto` strategy's
/// choice here): the default guest reaches login and passes the checks.
#[test]
fn default_recipe_boots_configured() {
    let b = build(&["--configure", "chroot"]);
    b.login("boot-trixie-login", &b.image, true);
    let (r, log) = b.check("boot-trixie-check", &b.image, true);
    b.assert_configured("boot-trixie-check", &r, &log);
}

/// The same guest on bookworm, the previous stable.
#[test]
fn bookworm_boots_configured() {
    let b = build(&["--configure", "chroot", "--set", "system.suite=bookworm"]);
    b.login("boot-bookworm-login", &b.image, true);
    let (r, log) = b.check("boot-bookworm-check", &b.image, true);
    b.assert_configured("boot-bookworm-check", &r, &log);
}

/// Rootless-style image: packages only unpacked; the initrd configures
/// them on the first boot, once.
#[test]
fn firstboot_configures_once() {
    let b = build(&["--configure", "firstboot"]);
    let dir = tempfile::tempdir().expect("temporary directory");
    let image = copy(&b.image, dir.path());
    let configuring = "first boot: configuring the installed packages";
    let (first, log) = b.check("boot-firstboot-1", &image, false);
    assert!(
        log.contains(configuring),
        "the first boot did not configure:\n{log}"
    );
    b.assert_configured("boot-firstboot-1", &first, &log);
    let second = b.login("boot-firstboot-2", &image, false);
    assert!(
        !second.log.contains(configuring),
        "the second boot configured again:\n{}",
        second.log
    );
    let (third, log) = b.check("boot-firstboot-3", &image, false);
    assert!(
        !log.contains(configuring),
        "the third boot configured again"
    );
    b.assert_configured("boot-firstboot-3", &third, &log);
}

/// The seed's way: the guest's disk is a LUN of the target, and the
/// host boots it from there. One lock, two ways onto two LUNs of a real
/// `tgtd` with CHAP: `build` then `lunforge write` onto LUN 1, and
/// `build --target iscsi://…` streamed onto LUN 2 with no image file.
/// Both LUNs hold the image byte for byte, the boot files are the same,
/// and QEMU's own iSCSI driver (libiscsi) boots the guest straight from
/// LUN 2 to the same checks as the image boots.
#[test]
fn default_recipe_boots_from_an_iscsi_lun() {
    use crate::support::tgtd::Tgtd;
    const IQN: &str = "iqn.2006-05.com.performancemagic:penfold.disk1";
    const SECRET: &str = "penfold-chap-secret";
    let mut t = Tgtd::start();
    t.add_target(1, IQN);
    let backing: Vec<PathBuf> = (1..=2)
        .map(|lun| {
            let f = t.backing_file(&format!("lun{lun}.img"), 8 << 30);
            t.add_lun(1, lun, &f);
            f
        })
        .collect();
    t.chap(1, "dangermouse", SECRET, false);
    let url = |lun: u32| {
        format!("iscsi://dangermouse@127.0.0.1:{}/{IQN}/{lun}", t.port)
    };

    let dir = tempfile::tempdir().expect("temporary directory");
    let lock = dir.path().join("virtual01.lock");
    let cache = test_cache();
    let cache = cache.display().to_string();
    lunforge([
        "-q",
        "lock",
        "--cache",
        &cache,
        "-o",
        lock.to_str().unwrap(),
    ])
    .ok();
    let locked = ["--locked", "--lockfile", lock.to_str().unwrap()];
    let b = build(&[&["--configure", "chroot"][..], &locked].concat());

    let secret = ["--chap-secret", "env:LF_TEST_SECRET"];
    let run = |args: &[&str]| {
        let (mut cmd, shown) = crate::support::lunforge_cmd(args);
        cmd.env("LF_TEST_SECRET", SECRET);
        crate::support::finish(shown, cmd.output()).ok()
    };
    let image = b.image.to_str().unwrap();
    run(&[&["-q", "write", image, &url(1)][..], &secret].concat());
    let out2 = dir.path().join("out2");
    let streamed = run(&[
        &["build", "-o", out2.to_str().unwrap(), "--cache", &cache][..],
        &["--configure", "chroot", "--target", &url(2)],
        &locked,
        &secret,
    ]
    .concat());
    assert!(streamed.stdout.contains("verified"), "{}", streamed.stdout);
    assert!(
        !out2.join(format!("{HOSTNAME}.img")).exists(),
        "an image file was written for a LUN target"
    );
    for (lun, f) in backing.iter().enumerate() {
        let same = std::process::Command::new("cmp")
            .arg(&b.image)
            .arg(f)
            .status()
            .expect("cmp");
        assert!(same.success(), "LUN {} differs from the image", lun + 1);
    }
    // The same boot files and SBOM; the manifests differ in where the
    // disk was written (a file, the LUN).
    let sums = |dir: &Path| {
        let text =
            std::fs::read_to_string(dir.join(HOSTNAME).join("SHA256SUMS"))
                .expect("SHA256SUMS");
        text.lines()
            .filter(|l| !l.ends_with("  manifest.json"))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    };
    let out1 = b.image.parent().expect("out dir");
    assert_eq!(sums(out1), sums(&out2), "boot files differ");
    let manifest =
        std::fs::read_to_string(out2.join(HOSTNAME).join("manifest.json"))
            .expect("manifest.json");
    assert!(manifest.contains(&url(2)), "{manifest}");

    // QEMU reads the LUN itself, as a Xen host's initiator would.
    let lun2 =
        format!("iscsi://dangermouse%{SECRET}@127.0.0.1:{}/{IQN}/2", t.port);
    let test = "boot-iscsi-check";
    let (r, log) = b.check(test, Path::new(&lun2), true);
    b.assert_configured(test, &r, &log);
    drop(t);
}

/// The built-in recipe for arm64, built on this amd64 machine by a
/// normal user with no emulator: `auto` picks the first-boot strategy
/// (nothing of the guest's can run here), `linux-image-amd64` becomes
/// `linux-image-arm64`, the disk is GPT. The image then boots under
/// `qemu-system-aarch64 -M virt -cpu cortex-a57` (TCG, no firmware:
/// QEMU starts the kernel Image the build wrote), configures every
/// package on its first boot and passes the same checks as the amd64
/// guest; a second boot does not configure again.
#[test]
fn arm64_guest_built_unprivileged_configures_on_its_first_boot() {
    use std::os::unix::fs::PermissionsExt;
    let set = ["--set", "system.architecture=arm64"];
    // The packages come into the shared cache once, as root; the user
    // builds from a copy of it.
    let cache = test_cache();
    let cache_arg = cache.display().to_string();
    lunforge([&["-q", "fetch", "--cache", &cache_arg][..], &set].concat()).ok();
    // A package only x86 has is named with the architecture it lacks.
    let x86_only = ["--set", "system.include=[\"grub-pc\"]"];
    let err = lunforge(
        [
            &["-q", "resolve", "--cache", &cache_arg][..],
            &set,
            &x86_only,
        ]
        .concat(),
    )
    .fails();
    assert!(
        err.contains(
            "system.include: no package grub-pc for arm64 in the suite"
        ),
        "{err}"
    );

    let user = crate::support::user::TestUser::create("arm");
    let home = tempfile::Builder::new()
        .prefix("lf-arm64-")
        .tempdir()
        .expect("temporary directory");
    let h = home.path();
    std::fs::set_permissions(h, std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let exe = h.join("lunforge");
    std::fs::copy(env!("CARGO_BIN_EXE_lunforge"), &exe).expect("copy lunforge");
    crate::support::run(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(&cache)
            .arg(h.join("cache")),
        "coreutils",
    );
    user.own(h);
    let out = h.join("out");
    let args: Vec<String> = [
        &["build", "-o", out.to_str().unwrap()][..],
        &["--cache", h.join("cache").to_str().unwrap()],
        &set,
    ]
    .concat()
    .iter()
    .map(|a| a.to_string())
    .collect();
    let mut cmd = user.command(&exe, h);
    cmd.args(&args).current_dir(h);
    let r = crate::support::finish(args, cmd.output()).ok();
    assert!(
        r.stderr.contains(
            "configure: firstboot (configure = \"auto\": guest architecture \
             arm64 is not the host's amd64)"
        ),
        "auto did not pick the first boot:\n{}",
        r.stderr
    );
    assert!(r.stdout.contains("arm64, "), "{}", r.stdout);

    // What the build says of the guest.
    let image = out.join(format!("{HOSTNAME}.img"));
    let shown = lunforge(["inspect", image.to_str().unwrap()]).ok().stdout;
    assert!(shown.contains(", gpt"), "{shown}");
    assert!(
        shown.contains("architecture: arm64 (the root partition's GPT type)"),
        "{shown}"
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join(HOSTNAME).join("manifest.json"))
            .expect("manifest.json"),
    )
    .expect("manifest JSON");
    assert_eq!(manifest["architecture"], "arm64");
    let packages = manifest["packages"].as_array().expect("packages");
    assert!(packages
        .iter()
        .any(|p| p["name"] == "linux-image-arm64"
            && p["architecture"] == "arm64"));
    assert!(
        packages
            .iter()
            .all(|p| p["architecture"] == "arm64" || p["architecture"] == "all"),
        "a package of another architecture: {packages:?}"
    );
    let cfg = std::fs::read_to_string(
        out.join(HOSTNAME)
            .join("xen")
            .join(format!("{HOSTNAME}.cfg")),
    )
    .expect("xl config");
    assert!(cfg.contains("\ntype = \"pvh\"\n"), "{cfg}");
    assert!(!out.join(HOSTNAME).join("xen/menu.lst").exists());

    let b = Built::read(home, &out, Machine::ArmVirt);
    let kernel = std::fs::read(&b.kernel).expect("kernel");
    assert_eq!(
        kernel.get(56..60),
        Some(&b"ARM\x64"[..]),
        "not an arm64 Image"
    );
    // The initrd reaches a root disk on QEMU's virt machine (virtio over
    // PCI is built into Debian's arm64 kernel, over MMIO a module) and on
    // Xen on Arm; cpio lists it.
    crate::support::require("cpio", "cpio");
    let listed = crate::support::run(
        std::process::Command::new("sh").arg("-c").arg(format!(
            "gzip -dc '{}' | cpio -t --quiet",
            b.initrd.display()
        )),
        "dash",
    );
    let listed = String::from_utf8_lossy(&listed.stdout);
    for m in [
        "virtio_mmio.ko",
        "virtio_blk.ko",
        "xen-blkfront.ko",
        "ext4.ko",
    ] {
        assert!(listed.contains(m), "no {m} in the arm64 initrd:\n{listed}");
    }
    let configuring = "first boot: configuring the installed packages";
    let (first, log) = b.check("boot-arm64-1", &b.image, false);
    assert!(
        log.contains(configuring),
        "the first boot did not configure:\n{log}"
    );
    b.assert_configured("boot-arm64-1", &first, &log);
    let (second, log) = b.check("boot-arm64-2", &b.image, false);
    assert!(
        !log.contains(configuring),
        "the second boot configured again"
    );
    b.assert_configured("boot-arm64-2", &second, &log);
    drop(b);
    drop(user);
}
