//! The boot harness ([`crate::support::qemu`]) against the real
//! emulator: Debian's trixie kernel (`linux-image-amd64`, the suite of
//! the default recipe) and a tiny initrd around `busybox-static`, both
//! from the host's Debian mirror, boot under `qemu-system-x86_64` with
//! TCG; the guest prints a marker and powers off.
//!
//! The initrd is made by `cpio -o -H newc`, not by lunforge, so this test
//! checks the harness and the emulator alone. The guest also lists its
//! PCI devices, and the test finds there the virtio NIC and disk it was
//! given: the explicit `-nic` and `-drive` reach the guest. The boot time
//! is printed (`cargo test … -- --nocapture` shows it).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::host_mirror::{host_mirror, open_suite};
use crate::support::qemu::{Boot, Nic};

/// The tests' shared download cache, opened.
fn shared_cache() -> lunforge::fetch::Cache {
    let dir = crate::support::qemu::test_cache();
    std::fs::create_dir_all(&dir).expect("create the test cache");
    lunforge::fetch::Cache::open(&dir).expect("open the test cache")
}

/// Fetch the newest amd64 `.deb` of each named package of `suite` from
/// the host's mirror; a name that only depends on a versioned package
/// (`linux-image-amd64`) is followed to the package it depends on.
pub(crate) fn host_debs(suite: &str, names: &[&str]) -> Vec<PathBuf> {
    let cache = shared_cache();
    let (t, s) = open_suite(&host_mirror(), suite, &cache);
    let newest = |name: &str| {
        s.packages
            .iter()
            .filter(|p| &*p.name == name && &*p.architecture != "source")
            .max_by(|a, b| a.version.cmp(&b.version))
            .unwrap_or_else(|| panic!("no package {name} in {suite}"))
    };
    let items: Vec<lunforge::fetch::Item> = names
        .iter()
        .map(|name| {
            let mut p = newest(name);
            if *name == "linux-image-amd64" {
                let deps = lunforge::resolve::relation::parse_dependencies(
                    &p.depends, "amd64",
                )
                .expect("Depends of linux-image-amd64");
                let target = deps
                    .iter()
                    .flat_map(|d| &d.alternatives)
                    .find(|r| r.name.starts_with("linux-image-"))
                    .unwrap_or_else(|| {
                        panic!("{name} depends on no linux-image: {p:?}")
                    });
                p = newest(&target.name);
            }
            lunforge::fetch::Item {
                package: p.name.to_string(),
                path: p.filename.to_string(),
                expected: p.file,
            }
        })
        .collect();
    lunforge::fetch::fetch_all(
        &*t,
        &cache,
        &items,
        lunforge::fetch::DEFAULT_JOBS,
        &lunforge::progress::Silent,
    )
    .expect("fetch from the host mirror")
    .paths
}

/// Extract from `deb` the one regular file whose path in the data
/// archive (`./`-less) satisfies `pick`, into `dir`; return its path.
/// `dpkg-deb --fsys-tarfile` reads the package, so the kernel's modules
/// are never written out.
fn extract_one(deb: &Path, dir: &Path, pick: &dyn Fn(&str) -> bool) -> PathBuf {
    crate::support::require("dpkg-deb", "dpkg");
    let mut child = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(Stdio::piped())
        .spawn()
        .expect("run dpkg-deb");
    let mut archive = tar::Archive::new(child.stdout.take().expect("stdout"));
    let mut found = Vec::new();
    for entry in archive.entries().expect("data archive") {
        let mut entry = entry.expect("data archive entry");
        let path = entry.path().expect("entry path").into_owned();
        let rel = path.to_string_lossy();
        let rel = rel.trim_start_matches("./");
        if entry.header().entry_type().is_file() && pick(rel) {
            let out = dir.join(rel);
            std::fs::create_dir_all(out.parent().expect("a parent"))
                .expect("create dirs");
            entry.unpack(&out).expect("unpack");
            found.push(out);
        }
    }
    let status = child.wait().expect("wait for dpkg-deb");
    assert!(
        status.success(),
        "dpkg-deb --fsys-tarfile {deb:?}: {status}"
    );
    match &found[..] {
        [one] => one.clone(),
        _ => panic!("expected one match in {}: {found:?}", deb.display()),
    }
}

/// The `/init` of the initrd. The marker is printed in two halves so
/// that nothing on the kernel command line can contain it.
const INIT: &str = r#"#!/bin/busybox sh
b=/bin/busybox
$b mkdir -p /proc /sys
$b mount -t proc proc /proc
$b mount -t sysfs sysfs /sys
for d in /sys/bus/pci/devices/*; do
    echo "pci $($b cat $d/vendor):$($b cat $d/device) $($b cat $d/class)"
done
echo "uptime $($b cut -d' ' -f1 /proc/uptime)"
half=SMOKE
echo "LF-$half-BOOTED"
$b poweroff -f
"#;

/// The marker the guest prints.
const MARKER: &str = "LF-SMOKE-BOOTED";

/// Write `root` as a gzip-compressed newc cpio archive with `cpio`.
fn make_initrd(root: &Path, out: &Path) {
    crate::support::require("cpio", "cpio");
    let names = "init\nbin\nbin/busybox\n";
    let mut child = Command::new("cpio")
        .args(["-o", "-H", "newc", "--quiet"])
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run cpio");
    child
        .stdin
        .take()
        .expect("cpio stdin")
        .write_all(names.as_bytes())
        .expect("names to cpio");
    let out_cpio = child.wait_with_output().expect("cpio output");
    assert!(
        out_cpio.status.success(),
        "cpio failed: {}",
        String::from_utf8_lossy(&out_cpio.stderr)
    );
    let f = std::fs::File::create(out).expect("create initrd");
    let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    gz.write_all(&out_cpio.stdout).expect("write initrd");
    gz.finish().expect("finish initrd");
}

/// The trixie kernel and a busybox initrd running [`INIT`], made in `w`.
fn kernel_and_initrd(w: &Path) -> (PathBuf, PathBuf) {
    let debs = host_debs("trixie", &["linux-image-amd64", "busybox-static"]);
    let vmlinuz = extract_one(&debs[0], w, &|p| p.starts_with("boot/vmlinuz-"));
    let busybox =
        extract_one(&debs[1], &w.join("bb"), &|p| p.ends_with("bin/busybox"));

    let root = w.join("initrd");
    std::fs::create_dir_all(root.join("bin")).expect("initrd dirs");
    std::fs::copy(&busybox, root.join("bin/busybox")).expect("busybox");
    std::fs::write(root.join("init"), INIT).expect("init");
    {
        use std::os::unix::fs::PermissionsExt as _;
        let exec = std::fs::Permissions::from_mode(0o755);
        std::fs::set_permissions(root.join("init"), exec).expect("chmod");
    }
    let initrd = w.join("initrd.img");
    make_initrd(&root, &initrd);
    (vmlinuz, initrd)
}

#[test]
fn boots_trixie_kernel_with_busybox_initrd() {
    let work = tempfile::Builder::new()
        .prefix("lf-qemu-smoke-")
        .tempdir()
        .expect("work dir");
    let w = work.path();
    let prepare = std::time::Instant::now();
    let (vmlinuz, initrd) = kernel_and_initrd(w);
    println!(
        "qemu smoke boot: kernel and initrd ready after {:.2?}",
        prepare.elapsed()
    );
    let disk = w.join("disk.img");
    std::fs::write(&disk, vec![0u8; 1 << 20]).expect("disk image");

    let boot = Boot::new(&vmlinuz)
        .initrd(&initrd)
        .append("console=ttyS0 panic=-1 quiet")
        .drive(&disk)
        .nic(Nic::Restricted {
            mac: Some("00:16:3e:00:00:01".into()),
        });
    let b = boot.run_to_exit("qemu_smoke", MARKER);
    println!(
        "qemu smoke boot: marker after {:.2?}, qemu exited after {:.2?}",
        b.marker_after, b.elapsed
    );
    let guest = b.log.lines().find(|l| l.starts_with("uptime "));
    println!("qemu smoke boot: guest {guest:?}");
    assert!(
        b.status.is_some_and(|s| s.success()),
        "qemu did not exit cleanly after poweroff: {:?}",
        b.status
    );
    // virtio-net (1af4:1000) from the -nic, virtio-blk (1af4:1001) from
    // the -drive: transitional device IDs on the default PC machine.
    assert_eq!(
        pci(&b.log, NET_CLASS),
        ["0x1af4:0x1000"],
        "the network cards on the guest's PCI bus:\n{}",
        b.log
    );
    assert_eq!(
        pci(&b.log, "0x0100"),
        ["0x1af4:0x1001"],
        "the SCSI-class (virtio-blk) disks on the guest's PCI bus:\n{}",
        b.log
    );
    // With Nic::None the guest has no network card at all (without any
    // -nic, QEMU would have added one).
    let none = Boot::new(&vmlinuz)
        .initrd(&initrd)
        .append("console=ttyS0 panic=-1 quiet")
        .run_to_exit("qemu_smoke_no_nic", MARKER);
    println!(
        "qemu smoke boot without NIC: marker after {:.2?}",
        none.marker_after
    );
    assert_eq!(
        pci(&none.log, NET_CLASS),
        Vec::<String>::new(),
        "network cards with -nic none:\n{}",
        none.log
    );
}

/// PCI class and subclass of Ethernet controllers.
const NET_CLASS: &str = "0x0200";

/// `vendor:device` of each PCI device the guest listed whose class
/// starts with `class`.
fn pci(log: &str, class: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.trim_end().strip_prefix("pci "))
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, c)| c.starts_with(class))
        .map(|(id, _)| id.to_string())
        .collect()
}

/// A failed boot panics with the reason, keeps the serial log in
/// `target/test-artifacts/`, and leaves no emulator running: once for a
/// guest that hangs (a kernel panic without `panic=-1`: the timeout
/// kills it) and once for a guest that ends without the marker (a kernel
/// panic with `panic=-1` under `-no-reboot`).
#[test]
fn failed_boots_are_reported_and_killed() {
    let work = tempfile::Builder::new()
        .prefix("lf-qemu-fail-")
        .tempdir()
        .expect("work dir");
    let (vmlinuz, _) = kernel_and_initrd(work.path());
    let cases = [
        ("qemu_smoke_hang", "console=ttyS0", 10, "timeout: no"),
        (
            "qemu_smoke_exit",
            "console=ttyS0 panic=-1",
            300,
            "qemu exited",
        ),
    ];
    for (name, append, secs, why) in cases {
        let artifact =
            crate::support::qemu::artifacts_dir().join(format!("{name}.log"));
        let _ = std::fs::remove_file(&artifact);
        // No initrd and no root= : the kernel panics at the root mount.
        let boot = Boot::new(&vmlinuz)
            .append(append)
            .timeout(std::time::Duration::from_secs(secs));
        let r = std::panic::catch_unwind(|| boot.run_to_exit(name, MARKER));
        let msg = match r {
            Ok(b) => panic!("{name}: the boot passed:\n{}", b.log),
            Err(e) => e
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| panic!("{name}: not a message panic")),
        };
        assert!(msg.contains(why), "{name}: {msg}");
        let kept = std::fs::read_to_string(&artifact)
            .unwrap_or_else(|e| panic!("{name}: no {artifact:?}: {e}"));
        assert!(kept.contains("Linux version"), "{name}: kept {kept:?}");
        let last = kept.lines().last().unwrap_or_default();
        assert!(msg.contains(last), "{name}: no log tail: {msg}");
        // The serial log's directory names the emulator's command line;
        // no process may still have it.
        let serial = msg
            .split_whitespace()
            .find_map(|w| w.strip_prefix("file:"))
            .unwrap_or_else(|| panic!("{name}: no -serial in {msg}"));
        assert_eq!(processes_with(serial), Vec::<String>::new(), "{name}");
        // This failure was wanted: keep no artifact of it for CI.
        std::fs::remove_file(&artifact).expect("remove the artifact");
    }
}

/// The processes whose command line contains `needle`.
fn processes_with(needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            out.push(format!("{}: {cmdline}", e.file_name().to_string_lossy()));
        }
    }
    out
}
