//! The initrd's `/init` run for real, without a virtual machine: the
//! archive is unpacked by `cpio` into a tmpfs inside new mount and PID
//! namespaces (`unshare`, so nothing it mounts is seen outside), where
//! `/init` runs as PID 1, as the kernel would run it, and finds, checks
//! and mounts a small ext4 root on a loop device by its UUID, runs the
//! first-boot step there, and `switch_root`s to the root's init, which
//! reports what it sees. Four boots: by UUID read-only with the step
//! owed (it runs, once), by device path read-write and quiet (nothing
//! owed, nothing runs), a root whose step fails (said; the marker stays
//! for the guest's systemd unit; the boot goes on), and a root that never
//! appears (the timeout message, then the rescue shell).
//!
//! Two lines of the extracted `/init` are changed first, and only these:
//! the command line is read from `/cmdline` rather than the host's
//! `/proc/cmdline`, and the rescue shell becomes `exit 99` (in the
//! namespace, `/dev/console` is the host's console). The initrd holds no
//! modules: loading this kernel's modules into the host is not the point
//! (the module side is [`crate::initrd`]'s).
//!
//! Needs root (mounts, loop devices), as CI runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lunforge::arch::Arch;
use lunforge::boot::initrd::{self, InitrdParams};
use lunforge::tree::{GuestPath, Tree};

use crate::support::oracle::is_root;
use crate::support::{require, run};

const UUID: &str = "4c0d7e1a-55f2-4a44-9a1e-2b1e0c6f00d1";

const GUEST_INIT: &str = "#!/bin/sh
echo \"GUEST-INIT pid=$$ args=$*\"
grep ' / ' /proc/mounts | while read -r dev mnt type opts rest; do
\techo \"GUEST-ROOT $type ${opts%%,*}\"
done
[ -e /var/lib/lunforge/firstboot-pending ] && echo GUEST-MARKER-LEFT
[ -c /dev/null ] && echo GUEST-DEV-OK
exit 0
";

/// The stand-in first-boot step: what the real one checks first, a log
/// line of what it found mounted, and the marker removed.
const FIRSTBOOT: &str = "#!/bin/sh
[ -e /var/lib/lunforge/firstboot-pending ] || exit 0
echo \"ran proc=$(cat /proc/sys/kernel/ostype) \
run=$(grep -c ' /run tmpfs ' /proc/mounts) \
dev=$([ -c /dev/null ] && echo ok)\" >> /var/lib/lunforge/firstboot-log
rm -f /var/lib/lunforge/firstboot-pending
";

/// Detaches the loop device when the test ends, however it ends.
struct Loop(String);

impl Drop for Loop {
    fn drop(&mut self) {
        for _ in 0..20 {
            let ok = Command::new("losetup")
                .args(["-d", &self.0])
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

/// A guest root with busybox as its shell, [`GUEST_INIT`] as
/// `/sbin/init` and the first-boot step `firstboot` owed, as the ext4
/// image `w/NAME.img`.
fn guest_image(
    w: &Path,
    name: &str,
    busybox: &[u8],
    firstboot: &str,
) -> PathBuf {
    let g = w.join(name);
    for d in [
        "bin",
        "sbin",
        "usr/lib/lunforge",
        "var/lib/lunforge",
        "proc",
        "sys",
        "dev",
        "run",
    ] {
        std::fs::create_dir_all(g.join(d)).expect("mkdir");
    }
    let exe = |p: &Path, data: &[u8]| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(p, data).expect("write");
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
    };
    exe(&g.join("bin/busybox"), busybox);
    for a in ["sh", "cat", "grep", "rm"] {
        std::os::unix::fs::symlink("busybox", g.join("bin").join(a))
            .expect("symlink");
    }
    exe(&g.join("sbin/init"), GUEST_INIT.as_bytes());
    exe(&g.join("usr/lib/lunforge/firstboot"), firstboot.as_bytes());
    std::fs::write(g.join("var/lib/lunforge/firstboot-pending"), b"")
        .expect("marker");
    let img = w.join(format!("{name}.img"));
    run(
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-U", UUID, "-L", name, "-d"])
            .arg(&g)
            .arg(&img)
            .arg("32M"),
        "e2fsprogs",
    );
    img
}

/// Boot `initrd` with `cmdline` in fresh namespaces; its output and
/// exit status.
fn boot(w: &Path, initrd: &Path, cmdline: &str) -> Output {
    let root = w.join("initramfs");
    std::fs::create_dir_all(&root).expect("mkdir");
    let script = r#"
set -e
mount -t tmpfs -o mode=0755 tmpfs "$R"
cd "$R"
gzip -dc "$IMG" | cpio -i -d --quiet --no-absolute-filenames
sed -i -e 's|$(cat /proc/cmdline)|$(cat /cmdline)|' \
	-e 's|sh </dev/console >/dev/console 2>&1|exit 99|' init
grep -q 'cat /cmdline' init && grep -q 'exit 99' init || exit 98
printf '%s\n' "$CMDLINE" > cmdline
exec chroot "$R" /init
"#;
    let out = Command::new("timeout")
        .args(["120", "unshare", "--mount", "--pid", "--fork"])
        .args(["--propagation", "private", "sh", "-c", script])
        .env("R", &root)
        .env("IMG", initrd)
        .env("CMDLINE", cmdline)
        .output()
        .expect("run unshare");
    assert_ne!(
        out.status.code(),
        Some(98),
        "the /init lines to change moved"
    );
    out
}

/// Attach `img` to a free loop device.
fn attach(img: &Path) -> (String, Loop) {
    let dev = run(
        Command::new("losetup").args(["-f", "--show"]).arg(img),
        "mount",
    );
    let dev = String::from_utf8_lossy(&dev.stdout).trim().to_string();
    (dev.clone(), Loop(dev))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[track_caller]
fn contains_all(t: &str, wanted: &[&str]) {
    for want in wanted {
        assert!(t.contains(want), "no {want:?} in:\n{t}");
    }
}

/// The first-boot log on the image, read with `debugfs`.
fn firstboot_log(img: &Path) -> String {
    let o = run(
        Command::new("debugfs")
            .arg("-R")
            .arg("cat /var/lib/lunforge/firstboot-log")
            .arg(img),
        "e2fsprogs",
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn init_mounts_the_root_runs_the_first_boot_once_and_switches() {
    assert!(
        is_root(),
        "running /init in namespaces needs root: run the tests as root \
         (CI does)"
    );
    for (tool, pkg) in [
        ("unshare", "util-linux"),
        ("losetup", "mount"),
        ("mkfs.ext4", "e2fsprogs"),
        ("debugfs", "e2fsprogs"),
        ("cpio", "cpio"),
        ("gzip", "gzip"),
        ("timeout", "coreutils"),
    ] {
        require(tool, pkg);
    }
    let (_, busybox_deb, _) = crate::initrd::fetch_packages("trixie");
    let busybox =
        initrd::busybox_from_deb(&busybox_deb, Arch::Amd64).expect("busybox");
    let work = tempfile::Builder::new()
        .prefix("lf-initrd-init-")
        .tempdir()
        .expect("work dir");
    let w = work.path();
    let img = guest_image(w, "guest", &busybox, FIRSTBOOT);
    let (dev, _detach) = attach(&img);

    let params = InitrdParams {
        modules: Vec::new(),
        ..InitrdParams::new(Arch::Amd64, "0.0-none", 1_700_000_000)
    };
    let empty = Tree::new(0).expect("tree");
    let bytes = initrd::build(&empty, &GuestPath::root(), &busybox, &params)
        .expect("initrd");
    let initrd = w.join("initrd.img");
    std::fs::write(&initrd, bytes).expect("write initrd");

    // First boot: by UUID, read-only; the step runs, the root goes back
    // to read-only, the guest's init is PID 1.
    let o = boot(w, &initrd, &format!("root=UUID={UUID} ro rootdelay=10"));
    let t = text(&o);
    contains_all(
        &t,
        &[
            "GUEST-INIT pid=1 args=",
            "GUEST-ROOT ext4 ro",
            "GUEST-DEV-OK",
        ],
    );
    assert!(!t.contains("GUEST-MARKER-LEFT"), "marker left:\n{t}");
    assert_eq!(firstboot_log(&img), "ran proc=Linux run=1 dev=ok\n");

    // Second boot: by device path and type, read-write, quiet; nothing
    // owed.
    let o = boot(
        w,
        &initrd,
        &format!("root={dev} rootfstype=ext4 rw quiet init=/sbin/init"),
    );
    let t = text(&o);
    assert!(t.contains("GUEST-ROOT ext4 rw"), "not rw:\n{t}");
    assert!(!t.contains("initrd: mounted"), "quiet is not quiet:\n{t}");
    assert_eq!(firstboot_log(&img), "ran proc=Linux run=1 dev=ok\n");

    // By label, with a failing first-boot step: said, the marker stays for the
    // guest's systemd unit, the root is read-only again, the boot goes on.
    let failing =
        "#!/bin/sh\necho half >> /var/lib/lunforge/firstboot-log\nexit 3\n";
    let img2 = guest_image(w, "failing", &busybox, failing);
    let (_, _detach2) = attach(&img2);
    let o = boot(w, &initrd, "root=LABEL=failing ro");
    let t = text(&o);
    contains_all(
        &t,
        &[
            "initrd: the first-boot step failed (exit 3); its marker stays",
            "GUEST-ROOT ext4 ro",
            "GUEST-MARKER-LEFT",
        ],
    );
    assert_eq!(firstboot_log(&img2), "half\n");

    // A root that never comes: the message, then the rescue shell.
    let o = boot(
        w,
        &initrd,
        "root=UUID=00000000-0000-4000-8000-000000000000 rootdelay=2",
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(99), "no rescue shell:\n{t}");
    assert!(
        t.contains(
            "initrd: the root device \
             UUID=00000000-0000-4000-8000-000000000000 did not appear \
             within 2 seconds"
        ),
        "no timeout message:\n{t}"
    );
}
