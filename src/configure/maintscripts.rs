//! Maintainer scripts: who runs them, in which order, and where.
//!
//! "Unpacked" means what dpkg means by it: the package's files are in
//! place and its `preinst install` has run. lunforge unpacks natively,
//! so the preinsts are still owed. Both strategies pay them first, in
//! [`preinst_order`], then run `dpkg --configure -a`:
//!
//! - **chroot** (root) and **unshare** (a normal user with subordinate
//!   ids), both on the guest's architecture: the scripts run in a
//!   `chroot` inside new namespaces ([`super::sandbox`]), the latter in
//!   a user namespace too ([`super::idmap`]). Same outcome as
//!   debootstrap's second stage, and the same bytes either way.
//! - **firstboot** (no privilege): the image carries
//!   [`FIRSTBOOT_SCRIPT`], which the guest's initrd (or the
//!   [`FIRSTBOOT_UNIT`] when the guest boots without lunforge's initrd)
//!   runs once before init: the same preinsts, the same
//!   `dpkg --configure -a`, then it removes its own marker.
//!
//! All keep initramfs-tools from making an initrd while dpkg
//! configures ([`hold_initramfs`]): lunforge makes the guest's initrd
//! itself and puts it into `/boot`, so the guest's `mkinitramfs`, run
//! twice by `dpkg --configure -a` (the kernel's postinst hook, then the
//! `update-initramfs` trigger), is most of the configure time and all
//! of it wasted. The guest's own `update-initramfs` is back in place
//! before the build (or the first boot) ends, so its next kernel update
//! makes a Debian initrd as on any Debian system.
//!
//! Measured on bookworm minbase: `dpkg --configure -a` over natively
//! unpacked packages fails only in base-files' postinst (`chown: invalid
//! user root:root`) when base-passwd's preinst has not made
//! `/etc/passwd`; with the preinsts run first (base-passwd first) trixie
//! and bookworm `important` configure cleanly.

use std::collections::{BTreeMap, BTreeSet};

use super::idmap::{self, IdMap};
use super::{Error, Result};
use crate::recipe::ConfigureStrategy;

/// Where the first-boot step lives in the guest.
pub const FIRSTBOOT_SCRIPT: &str = "/usr/lib/lunforge/firstboot";
/// Present while the first boot is still owed.
pub const FIRSTBOOT_MARKER: &str = "/var/lib/lunforge/firstboot-pending";
/// The systemd unit that runs the first-boot step when the guest boots
/// without lunforge's initrd.
pub const FIRSTBOOT_UNIT: &str =
    "/usr/lib/systemd/system/lunforge-firstboot.service";
/// The preinsts still owed, one `package[:arch] package arch` per line.
pub const PREINST_LIST: &str = "/var/lib/lunforge/preinst-order";

/// A strategy decided for this build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Configure at build time in the sandbox, as root.
    Chroot,
    /// Configure at build time in the sandbox, in a user namespace.
    Unshare(IdMap),
    /// Configure on the guest's first boot.
    Firstboot,
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Strategy::Chroot => "chroot",
            Strategy::Unshare(_) => "unshare",
            Strategy::Firstboot => "firstboot",
        })
    }
}

/// Decide the strategy: `auto` picks `chroot` when running as root on the
/// guest's architecture, `unshare` when a normal user there may make a
/// user namespace with subordinate ids, else `firstboot`. Returns the
/// reason, for the user.
pub fn choose(
    requested: ConfigureStrategy,
    guest_arch: &str,
) -> Result<(Strategy, String)> {
    let root = rustix::process::geteuid().is_root();
    let host_arch = crate::recipe::resolve::host_architecture();
    let foreign = || Error::ForeignArchitecture {
        guest: guest_arch.into(),
        host: host_arch.clone(),
    };
    let same_arch = host_arch == guest_arch;
    match requested {
        ConfigureStrategy::Firstboot => {
            Ok((Strategy::Firstboot, "configure = \"firstboot\"".into()))
        }
        ConfigureStrategy::Chroot if !root => Err(Error::ChrootNeedsRoot),
        ConfigureStrategy::Chroot | ConfigureStrategy::Unshare
            if !same_arch =>
        {
            Err(foreign())
        }
        ConfigureStrategy::Chroot => {
            Ok((Strategy::Chroot, "configure = \"chroot\"".into()))
        }
        ConfigureStrategy::Unshare => {
            let map = idmap::find().map_err(Error::Unshare)?;
            Ok((Strategy::Unshare(map), unshare_reason("configure = \"unshare\"", &map)))
        }
        ConfigureStrategy::Auto if root && same_arch => Ok((
            Strategy::Chroot,
            "configure = \"auto\": running as root on the guest's architecture"
                .into(),
        )),
        ConfigureStrategy::Auto if !same_arch => Ok((
            Strategy::Firstboot,
            format!("configure = \"auto\": guest architecture {guest_arch} is not the host's {host_arch}"),
        )),
        ConfigureStrategy::Auto => match idmap::find() {
            Ok(map) => Ok((
                Strategy::Unshare(map),
                unshare_reason("configure = \"auto\": not root, but", &map),
            )),
            Err(why) => Ok((
                Strategy::Firstboot,
                format!(
                    "configure = \"auto\": not root, and no user namespace: {why}"
                ),
            )),
        },
    }
}

/// Why `unshare` was picked, with the ids it maps.
fn unshare_reason(lead: &str, map: &IdMap) -> String {
    format!(
        "{lead} a user namespace maps uid {} and gid {} to root and \
         subordinate uids {}+ and gids {}+ to 1-{}",
        map.uid,
        map.gid,
        map.sub_uid,
        map.sub_gid,
        idmap::SUBORDINATE
    )
}

/// A package as the ordering sees it.
#[derive(Debug, Clone)]
pub struct Package {
    /// Name.
    pub name: String,
    /// Its dpkg database key (`name` or `name:arch`).
    pub key: String,
    /// Architecture (`all` or the guest's).
    pub arch: String,
    /// Names it pre-depends or depends on (first alternative suffices:
    /// this only orders, the resolver already proved satisfiability).
    pub needs: BTreeSet<String>,
    /// Has a preinst.
    pub has_preinst: bool,
}

/// The order in which preinsts run: base-passwd first (every other
/// script may need `/etc/passwd`), then each package after what it
/// (pre-)depends on, ties and cycles broken by name.
pub fn preinst_order(packages: &[Package]) -> Vec<&Package> {
    let by_name: BTreeMap<&str, &Package> =
        packages.iter().map(|p| (p.name.as_str(), p)).collect();
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::new();
    // base-passwd goes first, ahead even of what it depends on: all
    // files are unpacked already, and every other script may need
    // /etc/passwd.
    if let Some((k, p)) = by_name.get_key_value("base-passwd") {
        done.insert(k);
        out.push(*p);
    }
    for name in by_name.keys().copied() {
        visit(name, &by_name, &mut done, &mut BTreeSet::new(), &mut out);
    }
    out.into_iter().filter(|p| p.has_preinst).collect()
}

fn visit<'a>(
    name: &'a str,
    by_name: &BTreeMap<&'a str, &'a Package>,
    done: &mut BTreeSet<&'a str>,
    active: &mut BTreeSet<&'a str>,
    out: &mut Vec<&'a Package>,
) {
    let Some(p) = by_name.get(name) else { return };
    if done.contains(name) || !active.insert(name) {
        return;
    }
    for dep in &p.needs {
        if let Some((k, _)) = by_name.get_key_value(dep.as_str()) {
            visit(k, by_name, done, active, out);
        }
    }
    active.remove(name);
    if done.insert(name) {
        out.push(p);
    }
}

/// initramfs-tools' command, from the guest's root: its kernel hook
/// (`/etc/kernel/postinst.d/initramfs-tools`: `update-initramfs -c`) and
/// its postinst and trigger (`update-initramfs -u`) call it.
const UPDATE_INITRAMFS: &str = "usr/sbin/update-initramfs";

/// Shell text that holds initramfs-tools back until
/// [`release_initramfs`]: the real `update-initramfs` moved aside, as
/// debootstrap moves `start-stop-daemon`, and a stand-in that does
/// nothing. Only the command: the kernel hook and the postinst still
/// run, the trigger is still processed, and no conffile, diversion or
/// dpkg state changes, so releasing it leaves exactly the files Debian
/// ships. Moving the command rather than setting
/// `update_initramfs=no` in `update-initramfs.conf`: that setting only
/// stops `-u`, and the kernel hook's `-c` would still build an initrd.
/// Idempotent, so a first boot that failed and runs again holds it
/// once; nothing at all where initramfs-tools is not installed.
///
/// `root` is the guest's root as a prefix of its absolute paths: `""`
/// in the guest, `"."` from the sandbox's staging directory.
pub fn hold_initramfs(root: &str) -> String {
    hold_initramfs_at(&format!("{root}/{UPDATE_INITRAMFS}"))
}

/// Shell text that puts back what [`hold_initramfs`] moved aside, so
/// that the guest's later kernel updates make their initrd with
/// mkinitramfs; nothing where nothing is held. `root` as for
/// [`hold_initramfs`].
pub fn release_initramfs(root: &str) -> String {
    release_initramfs_at(&format!("{root}/{UPDATE_INITRAMFS}"))
}

fn hold_initramfs_at(cmd: &str) -> String {
    format!(
        "if [ ! -e {cmd}.lunforge-held ] && [ -e {cmd} ]; then\n\
         \tmv {cmd} {cmd}.lunforge-held\n\
         \tprintf '%s\\n' '#!/bin/sh' \\\n\
         \t\t'echo \"update-initramfs: held by lunforge, which makes the initrd\" >&2' \\\n\
         \t\t'exit 0' > {cmd}\n\
         \tchmod 755 {cmd}\n\
         fi\n"
    )
}

fn release_initramfs_at(cmd: &str) -> String {
    format!(
        "if [ -e {cmd}.lunforge-held ]; then\n\
         \tmv -f {cmd}.lunforge-held {cmd}\n\
         fi\n"
    )
}

/// The first-boot script: the preinsts still owed, then
/// `dpkg --configure -a` with initramfs-tools held back (the guest
/// already boots lunforge's initrd from `/boot`; under emulation its
/// mkinitramfs would take minutes of the first boot), once. The hold is
/// released on every way out, so a failed first boot leaves the
/// guest's own `update-initramfs` in place too.
pub fn firstboot_script(order: &[&Package], after: &str) -> String {
    let mut s = String::from(
        "#!/bin/sh\n\
         # lunforge first boot: finish what a rootless build could not.\n\
         # Runs once, before init, with the root file system writable.\n\
         set -e\n\
         [ -e /var/lib/lunforge/firstboot-pending ] || exit 0\n\
         export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n\
         export LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true\n\
         mountpoint -q /proc 2>/dev/null || mount -t proc proc /proc\n\
         release_initramfs() {\n",
    );
    s.push_str(&release_initramfs(""));
    s.push_str("}\n");
    s.push_str(&hold_initramfs(""));
    s.push_str(
        "trap release_initramfs EXIT\n\
         if [ -s /var/lib/lunforge/preinst-order ]; then\n\
         \twhile read -r key pkg arch; do\n\
         \t\tDPKG_MAINTSCRIPT_PACKAGE=$pkg DPKG_MAINTSCRIPT_NAME=preinst \\\n\
         \t\tDPKG_MAINTSCRIPT_ARCH=$arch DPKG_ROOT= \\\n\
         \t\t\t\"/var/lib/dpkg/info/$key.preinst\" install\n\
         \tdone < /var/lib/lunforge/preinst-order\n\
         \t: > /var/lib/lunforge/preinst-order\n\
         fi\n\
         dpkg --configure -a\n",
    );
    s.push_str(after);
    s.push_str("release_initramfs\n");
    s.push_str("rm -f /var/lib/lunforge/firstboot-pending\n");
    s.push_str(&format!(
        "# {} preinsts were owed at build time.\n",
        order.len()
    ));
    s
}

/// The preinst list the first-boot script reads.
pub fn preinst_list(order: &[&Package]) -> String {
    order
        .iter()
        .map(|p| format!("{} {} {}\n", p.key, p.name, p.arch))
        .collect()
}

/// A oneshot unit that runs the first-boot step early, for guests booted
/// without lunforge's initrd.
pub fn firstboot_unit() -> String {
    format!(
        "[Unit]\n\
         Description=lunforge first boot: configure the unpacked packages\n\
         DefaultDependencies=no\n\
         ConditionPathExists={FIRSTBOOT_MARKER}\n\
         After=local-fs.target\n\
         Before=sysinit.target\n\n\
         [Service]\n\
         Type=oneshot\n\
         ExecStart={FIRSTBOOT_SCRIPT}\n\
         StandardOutput=journal+console\n\
         TimeoutSec=0\n\n\
         [Install]\n\
         WantedBy=sysinit.target\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn pkg(name: &str, needs: &[&str], preinst: bool) -> Package {
        Package {
            name: name.into(),
            key: name.into(),
            arch: "amd64".into(),
            needs: needs.iter().map(|s| s.to_string()).collect(),
            has_preinst: preinst,
        }
    }

    #[test]
    fn base_passwd_first_then_dependencies_first() {
        let pkgs = [
            pkg("a-tool", &["libc6", "z-lib"], true),
            pkg("base-passwd", &["libc6"], true),
            pkg("libc6", &[], true),
            pkg("z-lib", &["libc6"], true),
            pkg("cyc1", &["cyc2"], true),
            pkg("cyc2", &["cyc1"], false),
            pkg("quiet", &[], false),
        ];
        let order: Vec<&str> = preinst_order(&pkgs)
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(order, ["base-passwd", "libc6", "z-lib", "a-tool", "cyc1"]);
    }

    /// Runs `script` with `sh -e`; its exit status.
    fn sh(script: &str) -> std::process::ExitStatus {
        Command::new("sh")
            .args(["-ec", script])
            .status()
            .expect("run sh")
    }

    #[test]
    fn held_initramfs_is_a_no_op_and_released_as_shipped() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().expect("temporary directory");
        let cmd = dir.path().join("update-initramfs");
        let real = b"#!/bin/sh\necho real >&2\nexit 3\n";
        std::fs::write(&cmd, real).expect("write");
        std::fs::set_permissions(&cmd, std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let shipped = std::fs::metadata(&cmd).expect("stat");
        let path = cmd.to_str().expect("UTF-8 path");
        let (hold, release) =
            (hold_initramfs_at(path), release_initramfs_at(path));
        // Twice, as a first boot that failed and runs again does: the
        // second hold must not move the stand-in over the real one.
        assert!(sh(&hold).success());
        assert!(sh(&hold).success());
        let out = Command::new(&cmd)
            .args(["-c", "-k", "6.12.0-1-amd64"])
            .output()
            .expect("run the stand-in");
        assert!(out.status.success(), "{out:?}");
        assert!(out.stdout.is_empty(), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("held"));
        assert!(sh(&release).success());
        assert!(sh(&release).success());
        assert_eq!(std::fs::read(&cmd).expect("read"), real);
        let back = std::fs::metadata(&cmd).expect("stat");
        assert_eq!(
            (back.ino(), back.mode(), back.mtime(), back.mtime_nsec()),
            (
                shipped.ino(),
                shipped.mode(),
                shipped.mtime(),
                shipped.mtime_nsec()
            )
        );
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(left, ["update-initramfs"]);
        // A guest without initramfs-tools: nothing to hold, nothing made.
        std::fs::remove_file(&cmd).expect("remove");
        assert!(sh(&hold).success() && sh(&release).success());
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }

    #[test]
    fn firstboot_script_holds_initramfs_while_dpkg_configures() {
        let p = pkg("base-passwd", &[], true);
        let script = firstboot_script(&[&p], "");
        let at = |what: &str| {
            script
                .find(what)
                .unwrap_or_else(|| panic!("no {what:?} in:\n{script}"))
        };
        let hold = at(&hold_initramfs(""));
        let configure = at("dpkg --configure -a\n");
        let release = at("release_initramfs\nrm -f ");
        assert!(hold < configure && configure < release, "{script}");
        assert!(script.contains("trap release_initramfs EXIT\n"));
        let check = Command::new("sh")
            .args(["-n", "-c", &script])
            .status()
            .expect("sh -n");
        assert!(check.success(), "{script}");
    }

    #[test]
    fn firstboot_files_name_the_marker() {
        let p = pkg("base-passwd", &[], true);
        assert_eq!(preinst_list(&[&p]), "base-passwd base-passwd amd64\n");
        let script = firstboot_script(&[&p], "usermod -p 'x' root\n");
        assert!(script.contains("dpkg --configure -a\nusermod -p 'x' root\n"));
        assert!(firstboot_unit().contains(FIRSTBOOT_MARKER));
    }
}
