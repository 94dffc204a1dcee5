//! The boot configuration artifacts, each checked by the tool that will
//! read it on a real host:
//!
//! - the hosts' GRUB 2 entry (the output of the `/etc/grub.d/` script,
//!   run by `sh`) and the guest's `grub.cfg`: `grub-script-check`
//!   (package grub-common);
//! - the manifest: `sha256sum -c` (coreutils), also after tampering;
//! - the xl config: `xl -N create` needs a running hypervisor (it opens
//!   the privileged command interface before it dry-runs; on this kind of
//!   machine it fails with "cannot init xl context"), so the config is
//!   read instead by Xen's own parser, `libxlutil` (package libxen-dev),
//!   through Python's ctypes: `xlu_cfg_readfile` for the file and
//!   `xlu_disk_parse` (the code `xl create` runs) for the disk spec;
//! - the udev rule: `udevadm verify` appeared in systemd 254 and this
//!   machine's udev (252) lacks it, so `udevadm test` (package udev)
//!   runs the rule against a real block device, in a private mount
//!   namespace with `/etc/udev/rules.d`, `/dev` and `/run/udev` of its
//!   own, after a fixture rule that gives the device the `ID_PATH` of an
//!   iSCSI LUN;
//! - the guest's `grub.cfg` and `menu.lst`: pygrub's own parser
//!   (`GrubConf.py` of package xen-utils-4.x), which must read the entry
//!   with no "Unknown directive" warning;
//! - the login script and GRUB script: `sh -n`.

use std::path::{Path, PathBuf};
use std::process::Command;

use lunforge::boot::{self, guest_grub, Artifact, BootFacts};
use lunforge::recipe::{Recipe, Source};

use crate::support::{oracle::is_root, require, run};

const KERNEL: &str = "6.12.48+deb13-amd64";

/// The embedded recipe with CHAP, a tgt-servable LUN and a host boot
/// partition, plus its facts and the directory holding the secret.
fn setup(extra: &[&str]) -> (Recipe, BootFacts, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("chap");
    std::fs::write(&secret, "othersecret12\n").unwrap();
    let mut sets: Vec<String> = [
        "system.mirror=http://mirror.invalid/debian",
        "xen.host_boot_partition=hd0,1",
        "xen.dom0_cmdline=quiet",
        "iscsi.lun=1",
        "iscsi.chap_user=jim",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    sets.push(format!("iscsi.chap_secret=file:{}", secret.display()));
    sets.extend(extra.iter().map(|s| s.to_string()));
    let recipe =
        Recipe::load(&Source::Embedded, &sets, Path::new("/")).unwrap();
    let facts = BootFacts::new(&recipe, KERNEL).unwrap();
    (recipe, facts, dir)
}

/// All artifacts written to `dir/virtual01/`, with a stand-in kernel and
/// initrd as the pipeline will add them.
fn write(dir: &Path, recipe: &Recipe, facts: &BootFacts) -> PathBuf {
    let mut all = boot::artifacts(recipe, facts).unwrap();
    for (name, bytes) in [
        (format!("vmlinuz-{KERNEL}"), b"kernel".to_vec()),
        (format!("initrd.img-{KERNEL}"), b"initrd".to_vec()),
    ] {
        all.push(Artifact {
            name,
            bytes,
            mode: 0o644,
        });
    }
    let staged = boot::staging::stage(dir, &recipe.image.name, &all);
    staged.unwrap().seal(&[]).unwrap().commit().unwrap()
}

fn grub_script_check(file: &Path) -> std::process::Output {
    require("grub-script-check", "grub-common");
    Command::new("grub-script-check")
        .arg(file)
        .output()
        .unwrap()
}

#[test]
fn grub_entries_pass_grub_script_check() {
    let (recipe, facts, dir) = setup(&[]);
    let out = write(dir.path(), &recipe, &facts);
    let script = out.join("xen/grub.d/41_lunforge_xen");
    let printed = run(Command::new("sh").arg(&script), "dash").stdout;
    let text = String::from_utf8(printed.clone()).unwrap();
    assert!(
        text.contains("\tmultiboot2\t/boot/xen.gz placeholder "),
        "{text}"
    );
    assert!(text.contains("\tset root='hd0,1'\n"), "{text}");
    let entry = dir.path().join("entry.cfg");
    std::fs::write(&entry, &printed).unwrap();
    let check = grub_script_check(&entry);
    assert!(check.status.success(), "{check:?}\n{text}");

    let guest = guest_grub::files(&recipe, &facts);
    let cfg = dir.path().join("grub.cfg");
    std::fs::write(&cfg, &guest.grub_cfg).unwrap();
    let check = grub_script_check(&cfg);
    assert!(check.status.success(), "{check:?}");

    // The oracle can say no: the same entry without its closing brace.
    let cut = &printed[..printed.len() - 2];
    std::fs::write(&entry, cut).unwrap();
    assert!(!grub_script_check(&entry).status.success());

    for sh in [script, out.join("initiator/iscsi-login-virtual01.sh")] {
        run(Command::new("sh").arg("-n").arg(&sh), "dash");
    }
}

#[test]
fn manifest_verifies_with_sha256sum() {
    let (recipe, facts, dir) = setup(&[]);
    let out = write(dir.path(), &recipe, &facts);
    let check = |dir: &Path| {
        Command::new("sha256sum")
            .args(["--strict", "-c", "SHA256SUMS"])
            .current_dir(dir)
            .output()
            .unwrap()
    };
    require("sha256sum", "coreutils");
    let ok = check(&out);
    assert!(ok.status.success(), "{ok:?}");
    let listed = String::from_utf8(ok.stdout).unwrap();
    // Every file but the manifest is listed, and nothing else.
    let mut files = Vec::new();
    walk(&out, &out, &mut files);
    files.retain(|f| f != "SHA256SUMS");
    let mut said: Vec<String> = listed
        .lines()
        .map(|l| l.strip_suffix(": OK").unwrap().to_string())
        .collect();
    said.sort();
    files.sort();
    assert_eq!(said, files);
    for secret_file in [
        "target/ietd-virtual01.conf",
        "target/tgt-virtual01.conf",
        "initiator/iscsi-login-virtual01.sh",
    ] {
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(out.join(secret_file)).unwrap();
        assert_eq!(m.permissions().mode() & 0o077, 0, "{secret_file}");
    }
    // A changed byte is caught.
    std::fs::write(out.join(format!("vmlinuz-{KERNEL}")), b"kernes").unwrap();
    assert!(!check(&out).status.success());
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            let rel = p.strip_prefix(root).unwrap();
            out.push(rel.to_str().unwrap().to_string());
        }
    }
}

/// Xen's config parser and disk-spec parser, through ctypes: prints
/// `key=value` lines for what it read, and fails on a parse error.
const XLU_CHECK: &str = r#"
import ctypes, ctypes.util, sys
lib = ctypes.CDLL(ctypes.util.find_library("xlutil"))
xl = ctypes.CDLL(ctypes.util.find_library("xenlight"))
libc = ctypes.CDLL(None)
lib.xlu_cfg_init.restype = ctypes.c_void_p
lib.xlu_cfg_init.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
lib.xlu_cfg_readfile.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
lib.xlu_cfg_get_string.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
    ctypes.POINTER(ctypes.c_char_p), ctypes.c_int]
lib.xlu_cfg_get_long.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
    ctypes.POINTER(ctypes.c_long), ctypes.c_int]
lib.xlu_cfg_get_list.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
    ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_int),
    ctypes.c_int]
lib.xlu_cfg_get_listitem.restype = ctypes.c_char_p
lib.xlu_cfg_get_listitem.argtypes = [ctypes.c_void_p, ctypes.c_int]
lib.xlu_disk_parse.argtypes = [ctypes.c_void_p, ctypes.c_int,
    ctypes.POINTER(ctypes.c_char_p), ctypes.c_void_p]
xl.libxl_device_disk_init.argtypes = [ctypes.c_void_p]
stderr = ctypes.c_void_p.in_dll(libc, "stderr")
path = sys.argv[1].encode()
cfg = lib.xlu_cfg_init(stderr, path)
if lib.xlu_cfg_readfile(cfg, path) != 0:
    sys.exit("xlu_cfg_readfile failed")
for key in ["name", "type", "kernel", "ramdisk", "extra", "on_poweroff",
            "on_reboot", "on_crash"]:
    v = ctypes.c_char_p()
    if lib.xlu_cfg_get_string(cfg, key.encode(), ctypes.byref(v), 0) != 0:
        sys.exit("no string " + key)
    print(key + "=" + v.value.decode())
for key in ["memory", "vcpus"]:
    v = ctypes.c_long()
    if lib.xlu_cfg_get_long(cfg, key.encode(), ctypes.byref(v), 0) != 0:
        sys.exit("no number " + key)
    print(key + "=" + str(v.value))
for key in ["vif", "disk"]:
    lst, n = ctypes.c_void_p(), ctypes.c_int()
    if lib.xlu_cfg_get_list(cfg, key.encode(), ctypes.byref(lst),
                            ctypes.byref(n), 0) != 0:
        sys.exit("no list " + key)
    for i in range(n.value):
        item = lib.xlu_cfg_get_listitem(lst, i)
        print(key + "=" + item.decode())
        if key == "disk":
            # libxl_device_disk (_libxl_types.h): domid, backend_domname,
            # pdev_path @16, vdev @24, backend @32, format @36,
            # script @40, removable @48, readwrite @52.
            disk = ctypes.create_string_buffer(1024)
            xl.libxl_device_disk_init(disk)
            specs = (ctypes.c_char_p * 1)(item)
            if lib.xlu_disk_parse(cfg, 1, specs, disk) != 0:
                sys.exit("xlu_disk_parse failed: " + item.decode())
            ptr = lambda off: ctypes.c_char_p.from_buffer(disk, off).value
            i32 = lambda off: ctypes.c_int.from_buffer(disk, off).value
            print("disk.target=" + ptr(16).decode())
            print("disk.vdev=" + ptr(24).decode())
            print("disk.format=" + str(i32(36)))
            print("disk.readwrite=" + str(i32(52)))
"#;

fn xlu_check(cfg: &Path) -> std::process::Output {
    require("/usr/bin/python3", "python3");
    let lib = Path::new("/usr/lib/x86_64-linux-gnu");
    assert!(
        std::fs::read_dir(lib).is_ok_and(|mut d| d.any(|e| e.is_ok_and(|e| e
            .file_name()
            .to_string_lossy()
            .starts_with("libxlutil.so")))),
        "Xen's libxlutil is not installed: install the Debian package \
         libxen-dev (or run `make test` as root)"
    );
    Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(XLU_CHECK)
        .arg(cfg)
        .output()
        .unwrap()
}

#[test]
fn xl_config_parses_with_xens_parser() {
    for style in ["by-path", "udev"] {
        let (recipe, facts, dir) = setup(&[&format!("xen.disk_paths={style}")]);
        let out = write(dir.path(), &recipe, &facts);
        let parsed = xlu_check(&out.join("xen/virtual01.cfg"));
        let stderr = String::from_utf8_lossy(&parsed.stderr);
        assert!(parsed.status.success(), "{stderr}");
        let text = String::from_utf8(parsed.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let root = format!(
            "extra=root=UUID={} ro console=hvc0 net.ifnames=0",
            lunforge::ids::partition_fs_uuid("virtual01", 1)
        );
        let target = if style == "udev" {
            "disk.target=/dev/iscsi_1".to_string()
        } else {
            "disk.target=/dev/disk/by-path/ip-192.0.2.10:3260-iscsi-\
             iqn.2006-05.com.performancemagic:penfold.disk1-lun-1"
                .to_string()
        };
        for want in [
            "name=virtual01",
            "type=pvh",
            "kernel=/var/lib/lunforge/virtual01/vmlinuz-6.12.48+deb13-amd64",
            "ramdisk=/var/lib/lunforge/virtual01/initrd.img-6.12.48+deb13-amd64",
            root.as_str(),
            "memory=512",
            "vcpus=1",
            "on_crash=destroy",
            target.as_str(),
            "disk.vdev=xvda",
            // LIBXL_DISK_FORMAT_RAW
            "disk.format=4",
            "disk.readwrite=1",
        ] {
            assert!(lines.contains(&want), "{want} not in\n{text}");
        }
        let vif = lines.iter().find(|l| l.starts_with("vif=")).unwrap();
        let mac = vif
            .strip_prefix("vif=mac=")
            .and_then(|v| v.strip_suffix(",bridge=xenbr0"))
            .unwrap_or_else(|| panic!("{vif}"));
        assert!(mac.starts_with("00:16:3e:"), "{mac}");
    }
    // The oracle can say no: an unterminated string.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.cfg");
    std::fs::write(&bad, "name = \"virtual01\nmemory = 5\n").unwrap();
    assert!(!xlu_check(&bad).status.success());
}

/// Run the rule file `rule` (plus a fixture rule giving the device
/// `id_path`) through `udevadm test` on a real block disk, in a mount
/// namespace of its own; the udev links it would make.
fn udev_links(rule: &Path, id_path: &str) -> Vec<String> {
    assert!(
        is_root(),
        "udevadm test in a mount namespace, on a loop device, needs root"
    );
    require("udevadm", "udev");
    require("unshare", "util-linux");
    // A disk of the test's own: the host's disks are no business of
    // this test, and a machine may have none.
    let backing = tempfile::NamedTempFile::new().unwrap();
    backing.as_file().set_len(1 << 20).unwrap();
    let out = crate::support::run(
        Command::new("losetup")
            .args(["--find", "--show", "--read-only"])
            .arg(backing.path()),
        "mount",
    );
    let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
    struct Detach(String);
    impl Drop for Detach {
        fn drop(&mut self) {
            let _ = Command::new("losetup").args(["-d", &self.0]).status();
        }
    }
    let _detach = Detach(dev.clone());
    let disk = dev.trim_start_matches("/dev/").to_string();
    let rules = tempfile::tempdir().unwrap();
    std::fs::copy(rule, rules.path().join(rule.file_name().unwrap())).unwrap();
    // Sorts before 61-lunforge-…, after 60-persistent-storage.rules.
    std::fs::write(
        rules.path().join("61-0-fixture.rules"),
        format!("KERNEL==\"{disk}\", ENV{{ID_PATH}}=\"{id_path}\"\n"),
    )
    .unwrap();
    // Every directory udev reads or writes is made here, on tmpfs in
    // the namespace: a machine where no udev daemon ever ran has no
    // `/run/udev`, and the host's own rules must not take part.
    let script = format!(
        "mount --make-rprivate / && \
         mount -t tmpfs none /run && mkdir /run/udev && \
         mount -t tmpfs none /etc/udev && mkdir /etc/udev/rules.d && \
         mount --bind {} /etc/udev/rules.d && \
         mount -t tmpfs none /dev && \
         udevadm test /sys/class/block/{disk}",
        rules.path().display()
    );
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stdout).into_owned()
        + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(!log.contains("Invalid"), "the rule does not parse:\n{log}");
    log.lines()
        .find_map(|l| l.strip_prefix("DEVLINKS="))
        .map(|l| l.split(' ').map(str::to_string).collect())
        .unwrap_or_default()
}

#[test]
fn udev_rule_names_the_lun() {
    let (recipe, facts, dir) = setup(&[]);
    let out = write(dir.path(), &recipe, &facts);
    let rule = out.join("initiator/61-lunforge-virtual01.rules");
    let iqn = "iqn.2006-05.com.performancemagic:penfold.disk1";
    let links =
        udev_links(&rule, &format!("ip-192.0.2.10:3260-iscsi-{iqn}-lun-1"));
    assert!(links.contains(&"/dev/iscsi_1".to_string()), "{links:?}");
    // Another LUN of the target is not named.
    let links =
        udev_links(&rule, &format!("ip-192.0.2.10:3260-iscsi-{iqn}-lun-2"));
    assert!(!links.iter().any(|l| l.contains("iscsi_")), "{links:?}");
}

/// pygrub's parser on `file` (`grub2` or `grub` syntax): one line per
/// entry, `title|kernel|args|initrd`, then `default|timeout`; and
/// whatever it warned about.
fn pygrub_parse(kind: &str, file: &Path) -> (String, String) {
    require("/usr/bin/python3", "python3");
    let lib = std::fs::read_dir("/usr/lib")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("lib/python"))
        .find(|p| p.join("grub/GrubConf.py").is_file())
        .expect(
            "pygrub's GrubConf.py is not installed: install the Debian \
             package xen-utils-4.x of this release (or run `make test` as \
             root)",
        );
    let code = "import sys, grub.GrubConf as G\n\
        c = (G.Grub2ConfigFile if sys.argv[1] == 'grub2' \
        else G.GrubConfigFile)(sys.argv[2])\n\
        for i in c.images: print('|'.join([i.title, i.kernel[1], i.args, \
        i.initrd[1]]))\n\
        print(c.default, c.timeout, sep='|')\n";
    let out = Command::new("/usr/bin/python3")
        .args(["-c", code, kind])
        .arg(file)
        .env("PYTHONPATH", lib)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (String::from_utf8(out.stdout).unwrap(), stderr)
}

#[test]
fn pygrub_reads_the_guest_boot_config() {
    let (recipe, facts, dir) = setup(&[]);
    let guest = guest_grub::files(&recipe, &facts);
    let want = format!(
        "Debian GNU/Linux, with Linux {KERNEL}|/boot/vmlinuz-{KERNEL}|\
         root=UUID={} ro console=hvc0 net.ifnames=0|\
         /boot/initrd.img-{KERNEL}\n0|1\n",
        lunforge::ids::partition_fs_uuid("virtual01", 1)
    );
    for (kind, name, bytes) in [
        ("grub2", "grub.cfg", &guest.grub_cfg),
        ("grub", "menu.lst", &guest.menu_lst),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, bytes).unwrap();
        let (read, warned) = pygrub_parse(kind, &file);
        assert_eq!(read, want, "{name}");
        assert!(!warned.contains("Unknown"), "{name}: {warned}");
    }
    // The oracle can say no: a directive pygrub does not know.
    let file = dir.path().join("odd.lst");
    let mut odd = guest.menu_lst.clone();
    odd.extend_from_slice(b"frobnicate now\n");
    std::fs::write(&file, odd).unwrap();
    let (_, warned) = pygrub_parse("grub", &file);
    assert!(warned.contains("Unknown"), "{warned}");
}
