//! Maintainer scripts: who runs them, in which order, and where.
//!
//! "Unpacked" means what dpkg means by it: the package's files are in
//! place and its `preinst install` has run. lunforge unpacks natively,
//! so the preinsts are still owed. Both strategies pay them first, in
//! [`preinst_order`], then run `dpkg --configure -a`:
//!
//! - **chroot** (root, guest architecture = host architecture): the tree
//!   is written to a staging directory, `/proc` is mounted, daemons are
//!   kept from starting (a `policy-rc.d` that answers 101, and a
//!   `start-stop-daemon` that does nothing, as debootstrap does), the
//!   scripts run in a `chroot`, and the result is read back into a new
//!   tree. Same outcome as debootstrap's second stage.
//! - **firstboot** (no privilege): the image carries
//!   [`FIRSTBOOT_SCRIPT`], which the guest's initrd (or the
//!   [`FIRSTBOOT_UNIT`] when the guest boots without lunforge's initrd)
//!   runs once before init: the same preinsts, the same
//!   `dpkg --configure -a`, then it removes its own marker.
//!
//! Measured on bookworm minbase: `dpkg --configure -a` over natively
//! unpacked packages fails only in base-files' postinst (`chown: invalid
//! user root:root`) when base-passwd's preinst has not made
//! `/etc/passwd`; with the preinsts run first (base-passwd first) trixie
//! and bookworm `important` configure cleanly.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{Error, Result};
use crate::recipe::ConfigureStrategy;
use crate::tree::{host, GuestPath, Tree};

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
    /// Configure at build time in a chroot.
    Chroot,
    /// Configure on the guest's first boot.
    Firstboot,
}

/// Decide the strategy: `auto` picks `chroot` when running as root on the
/// guest's architecture, else `firstboot`. Returns the reason, for the
/// user.
pub fn choose(
    requested: ConfigureStrategy,
    guest_arch: &str,
) -> Result<(Strategy, String)> {
    let root = rustix::process::geteuid().is_root();
    let host_arch = crate::recipe::resolve::host_architecture();
    let same_arch = host_arch == guest_arch;
    match requested {
        ConfigureStrategy::Firstboot => {
            Ok((Strategy::Firstboot, "configure = \"firstboot\"".into()))
        }
        ConfigureStrategy::Chroot if !root => Err(Error::ChrootNeedsRoot),
        ConfigureStrategy::Chroot if !same_arch => {
            Err(Error::ForeignArchitecture {
                guest: guest_arch.into(),
                host: host_arch,
            })
        }
        ConfigureStrategy::Chroot => {
            Ok((Strategy::Chroot, "configure = \"chroot\"".into()))
        }
        ConfigureStrategy::Auto if root && same_arch => Ok((
            Strategy::Chroot,
            "configure = \"auto\": running as root on the guest's architecture"
                .into(),
        )),
        ConfigureStrategy::Auto => Ok((
            Strategy::Firstboot,
            if root {
                format!("configure = \"auto\": guest architecture {guest_arch} is not the host's {host_arch}")
            } else {
                "configure = \"auto\": not running as root".into()
            },
        )),
    }
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

/// The environment maintainer scripts run with: fixed, so the host's
/// leaks into nothing, with the build's `SOURCE_DATE_EPOCH` (shadow and
/// others honour it for the dates they write).
fn script_env(cmd: &mut Command, sde: i64) {
    cmd.env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("LC_ALL", "C.UTF-8")
        .env("HOME", "/root")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env("DEBCONF_NONINTERACTIVE_SEEN", "true")
        .env("SOURCE_DATE_EPOCH", sde.to_string());
}

/// Run `cmd`, returning its combined output; a failure is an error
/// naming `what` with the output's tail. On SIGINT or SIGTERM the
/// command's process group is killed and reaped before this returns
/// ([`crate::cancel::output`]), so the staging root and its `/proc`
/// mount are no longer in use when the error path removes them.
fn run(cmd: &mut Command, what: &str) -> Result<String> {
    use crate::cancel::WaitError;
    let out =
        crate::cancel::output(cmd.stdin(Stdio::null())).map_err(
            |e| match e {
                WaitError::Interrupted(i) => Error::Interrupted(i),
                WaitError::Io(source) => Error::Spawn {
                    what: what.into(),
                    source,
                },
            },
        )?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        Ok(text)
    } else {
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        Err(Error::Script {
            what: what.into(),
            status: out.status.to_string(),
            output: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        })
    }
}

/// Keeps `/proc` mounted in the staging root while alive.
struct ProcMount {
    path: PathBuf,
    mounted: bool,
}

impl ProcMount {
    fn mount(root: &Path) -> Result<ProcMount> {
        let path = root.join("proc");
        std::fs::create_dir_all(&path).map_err(|source| Error::Staging {
            path: path.clone(),
            source,
        })?;
        // The guard exists before the mount does: a mount interrupted
        // half way is undone by its drop as well.
        let guard = ProcMount {
            path,
            mounted: true,
        };
        run(
            Command::new("mount")
                .args(["-t", "proc", "proc"])
                .arg(&guard.path),
            "mount /proc",
        )?;
        Ok(guard)
    }

    /// Unmount, reporting failure; a failed (or interrupted) unmount is
    /// still undone lazily by the drop.
    fn unmount(mut self) -> Result<()> {
        run(Command::new("umount").arg(&self.path), "umount /proc")?;
        self.mounted = false;
        Ok(())
    }
}

impl Drop for ProcMount {
    fn drop(&mut self) {
        // Only on an error path, where the first error is the one to
        // report: a lazy unmount so nothing stays mounted.
        if self.mounted {
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

const POLICY_RC_D: &str = "usr/sbin/policy-rc.d";
const SSD: &str = "usr/sbin/start-stop-daemon";

/// Configure `tree` in a chroot; the configured tree is returned.
pub fn chroot(
    tree: &Tree,
    order: &[&Package],
    sde: i64,
    staging: &Path,
) -> Result<Tree> {
    let dir = tempfile::Builder::new()
        .prefix("lunforge-root-")
        .tempdir_in(staging)
        .map_err(|source| Error::Staging {
            path: staging.into(),
            source,
        })?;
    let root = dir.path().join("root");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Staging { path, source }
    };
    std::fs::create_dir(&root).map_err(io(&root))?;
    host::materialise(tree, &root)?;
    guard_daemons(&root)?;
    let proc_mount = ProcMount::mount(&root)?;
    for p in order {
        let script = format!("/var/lib/dpkg/info/{}.preinst", p.key);
        let mut cmd = Command::new("chroot");
        cmd.arg(&root).arg(&script).arg("install");
        script_env(&mut cmd, sde);
        cmd.env("DPKG_MAINTSCRIPT_PACKAGE", &p.name)
            .env("DPKG_MAINTSCRIPT_NAME", "preinst")
            .env("DPKG_MAINTSCRIPT_ARCH", &p.arch)
            .env("DPKG_MAINTSCRIPT_PACKAGE_REFCOUNT", "1")
            .env("DPKG_ADMINDIR", "/var/lib/dpkg")
            .env("DPKG_ROOT", "");
        run(&mut cmd, &format!("{} preinst install", p.name))?;
    }
    let mut cmd = Command::new("chroot");
    cmd.arg(&root).args(["dpkg", "--configure", "-a"]);
    script_env(&mut cmd, sde);
    run(&mut cmd, "dpkg --configure -a")?;
    proc_mount.unmount()?;
    release_daemons(&root)?;
    let skip = [GuestPath::new("/proc")?];
    Ok(host::read_dir(&root, &skip)?)
}

/// A `policy-rc.d` that forbids starting services, and a
/// `start-stop-daemon` that starts nothing (the real one moved aside).
fn guard_daemons(root: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let write = |rel: &str, text: &str| -> Result<()> {
        let p = root.join(rel);
        std::fs::write(&p, text).map_err(|source| Error::Staging {
            path: p.clone(),
            source,
        })?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
            .map_err(|source| Error::Staging { path: p, source })
    };
    let ssd = root.join(SSD);
    if ssd.exists() {
        let real = root.join(format!("{SSD}.REAL"));
        std::fs::rename(&ssd, &real).map_err(|source| Error::Staging {
            path: ssd.clone(),
            source,
        })?;
        write(SSD, "#!/bin/sh\necho \"Warning: Fake start-stop-daemon called, doing nothing\" >&2\nexit 0\n")?;
    }
    write(POLICY_RC_D, "#!/bin/sh\nexit 101\n")
}

/// Undo [`guard_daemons`].
fn release_daemons(root: &Path) -> Result<()> {
    let policy = root.join(POLICY_RC_D);
    std::fs::remove_file(&policy).map_err(|source| Error::Staging {
        path: policy,
        source,
    })?;
    let real = root.join(format!("{SSD}.REAL"));
    if real.exists() {
        let ssd = root.join(SSD);
        std::fs::rename(&real, &ssd)
            .map_err(|source| Error::Staging { path: ssd, source })?;
    }
    Ok(())
}

/// The first-boot script: the preinsts still owed, then
/// `dpkg --configure -a`, once.
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

    #[test]
    fn firstboot_files_name_the_marker() {
        let p = pkg("base-passwd", &[], true);
        assert_eq!(preinst_list(&[&p]), "base-passwd base-passwd amd64\n");
        let script = firstboot_script(&[&p], "usermod -p 'x' root\n");
        assert!(script.contains("dpkg --configure -a\nusermod -p 'x' root\n"));
        assert!(firstboot_unit().contains(FIRSTBOOT_MARKER));
    }
}
