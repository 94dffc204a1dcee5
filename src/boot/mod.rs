//! Boot stage: what the Xen hosts, the iSCSI target and the guest's own
//! boot loader need besides the disk image.
//!
//! The seed procedure hand-edits a GRUB `menu.lst` on each host into a Xen
//! stanza, writes `/etc/xen/virtual01` on both hosts, a udev rule and an
//! `iscsid.conf` on the initiators and an `ietd.conf` on the target. Here
//! each of those is one module that turns the resolved [`Recipe`] and the
//! facts of the built image ([`BootFacts`]) into bytes, with no I/O:
//!
//! | module | artifact (under `OUT/<name>/`) |
//! | --- | --- |
//! | [`xl`] | `xen/<name>.cfg`: the xl guest config, the same on every host |
//! | [`grub_legacy`] | `xen/menu.lst`: the hosts' GRUB legacy Xen stanza |
//! | [`grub2`] | `xen/grub.d/41_lunforge_xen`: the hosts' GRUB 2 entry |
//! | [`hostside`] | `initiator/…` (udev rule, iscsiadm login) and `target/…` (ietd, tgt) |
//! | [`guest_grub`] | `/boot/grub/grub.cfg` and `menu.lst` inside the guest |
//! | [`sums`] | `SHA256SUMS` over everything in `OUT/<name>/` |
//!
//! The host GRUB entries are made only when `xen.dom0_root` is set (a
//! host's root device is nothing lunforge can guess); the iSCSI snippets
//! only when there is an `[iscsi]` section. [`staging`] writes the
//! artifacts, plus any the caller adds (kernel, initrd, the build's
//! manifest and SBOM, [`crate::output`]), beside `OUT/<name>/` and puts
//! them in place whole, with the image.

pub mod efi;
pub mod grub2;
pub mod grub_legacy;
pub mod guest_grub;
pub mod hostside;
pub mod initrd;
pub mod kernel;
pub mod staging;
pub mod sums;
pub mod xl;

use std::path::{Path, PathBuf};

use crate::ids::{self, Uuid};
use crate::recipe::{PartitionUse, Recipe};

/// Errors of the boot stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The CHAP secret cannot be had from where the recipe says.
    #[error("iscsi.chap_secret: {source_name}: {detail}")]
    Secret {
        /// `env:VAR` or `file:PATH`.
        source_name: String,
        /// What is wrong (never the secret).
        detail: String,
    },
    /// A kernel version that cannot stand in a file name or GRUB line.
    #[error("kernel version {0:?} has characters other than letters, digits and \".+_~-\"")]
    KernelVersion(String),
    /// The recipe has no root partition to boot.
    #[error("the recipe has no root partition to boot from")]
    NoRoot,
    /// An artifact name that is not a plain relative path.
    #[error("artifact name {0:?} is not a plain relative path")]
    BadName(String),
    /// Two artifacts with one name.
    #[error("artifact {0} is given twice")]
    Duplicate(String),
    /// Writing into the guest tree failed.
    #[error("guest boot files: {0}")]
    Tree(#[from] crate::tree::Error),
    /// A host's modules directory cannot be read.
    #[error("--kernel-modules: {0}")]
    ModulesDir(#[from] crate::tree::host::Error),
    /// The initrd cannot be made.
    #[error("initrd: {0}")]
    Initrd(#[from] initrd::Error),
    /// The kernel's modules are there but its image is not.
    #[error("{path}: the guest kernel image is missing or not a file")]
    NoKernelImage {
        /// Where it should be.
        path: crate::tree::GuestPath,
    },
    /// The kernel image is not one Xen and QEMU start directly.
    #[error("{path}: {why}")]
    KernelFormat {
        /// The image.
        path: crate::tree::GuestPath,
        /// What is wrong with it.
        why: String,
    },
    /// The package set has a kernel but the lock no busybox-static.
    #[error(
        "the guest has a kernel but the package set has no {package} for \
         its initrd: run `lunforge lock` again"
    )]
    NoBusybox {
        /// The tool package.
        package: &'static str,
    },
    /// A GRUB file the EFI boot loader needs is not in the suite's GRUB
    /// packages.
    #[error("boot.loader: the suite's GRUB EFI packages have no {what}")]
    NoGrubFile {
        /// The file.
        what: String,
    },
    /// A GRUB EFI package cannot be read.
    #[error("boot.loader: reading the suite's GRUB EFI packages: {source}")]
    GrubPackage {
        /// The unpacker's error (boxed: it is large).
        source: Box<crate::unpack::Error>,
    },
    /// The lock has no package of a build tool the recipe needs.
    #[error(
        "{needs} needs the build tool {package}, which the package set \
         lacks: run `lunforge lock` again"
    )]
    NoTool {
        /// The tool package.
        package: String,
        /// The recipe key that needs it.
        needs: &'static str,
    },
    /// `boot.hypervisor = "xen"` but the system has no hypervisor.
    #[error(
        "boot.hypervisor: \"xen\" but the system has no /boot/xen-*.gz: \
         include xen-system-amd64 (or the suite's xen-hypervisor package)"
    )]
    NoHypervisor,
    /// A recipe key needs a package that is not in the package set.
    #[error("{needs} needs the package {package}: add it to system.include")]
    NeedsPackage {
        /// The key.
        needs: String,
        /// The package.
        package: &'static str,
    },
    /// A host's guest recipe has no kernel to boot.
    #[error("host.guests: {guest} has no kernel (include linux-image-…)")]
    GuestWithoutKernel {
        /// The guest recipe.
        guest: String,
    },
    /// `boot.loader` is set but the disk has no EFI system partition.
    #[error("boot.loader: the disk has no partition with use = \"esp\"")]
    NoEsp,
    /// The boot directory cannot be staged or put in place.
    #[error("{path}: {what}: {source}")]
    Out {
        /// The boot directory or file (its final name).
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Something other than a directory is where the boot files go.
    #[error("{path} is not a directory: the boot files go there")]
    NotADir {
        /// `OUT/<name>`.
        path: PathBuf,
    },
    /// Writing the output directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl From<crate::tree::path::Error> for Error {
    fn from(e: crate::tree::path::Error) -> Self {
        Error::Tree(e.into())
    }
}

/// Result of the boot stage.
pub type Result<T> = std::result::Result<T, Error>;

/// What the boot files need to know about the built image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootFacts {
    /// The guest kernel's version (`6.12.48+deb13-amd64`), from its
    /// linux-image package in the tree.
    pub kernel_version: String,
    /// The root file system's UUID.
    pub root_uuid: Uuid,
    /// The swap area's UUID, when the recipe has one.
    pub swap_uuid: Option<Uuid>,
    /// The CHAP secret, when the recipe's `[iscsi]` names one.
    pub chap_secret: Option<hostside::Secret>,
}

impl BootFacts {
    /// The facts of `recipe`'s image with the guest kernel `kernel_version`:
    /// the UUIDs the file system writers give (see [`ids`]) and the CHAP
    /// secret read from where the recipe says.
    pub fn new(recipe: &Recipe, kernel_version: &str) -> Result<BootFacts> {
        let uuid_of = |usage: PartitionUse| {
            recipe
                .partitions
                .iter()
                .position(|p| p.usage == usage)
                .map(|i| ids::partition_fs_uuid(&recipe.image.name, i))
        };
        let chap_secret = recipe
            .iscsi
            .as_ref()
            .and_then(|i| i.chap_secret.as_ref())
            .map(hostside::Secret::read)
            .transpose()?;
        Ok(BootFacts {
            kernel_version: kernel_version.into(),
            root_uuid: uuid_of(PartitionUse::Root).ok_or(Error::NoRoot)?,
            swap_uuid: uuid_of(PartitionUse::Swap),
            chap_secret,
        })
    }
}

/// One output file.
#[derive(Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Path relative to `OUT/<name>/`, `/`-separated.
    pub name: String,
    /// Contents.
    pub bytes: Vec<u8>,
    /// Permission bits.
    pub mode: u32,
}

impl std::fmt::Debug for Artifact {
    // Bytes may hold a CHAP secret: show only their length.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Artifact")
            .field("name", &self.name)
            .field("len", &self.bytes.len())
            .field("mode", &format_args!("{:o}", self.mode))
            .finish()
    }
}

/// The guest kernel command line: root by UUID, the Xen console, the
/// classic interface names the recipe's `eth0` relies on, then the
/// recipe's `boot.cmdline`. The xl config's `extra` and the guest's GRUB
/// entries both use it.
pub fn guest_cmdline(recipe: &Recipe, facts: &BootFacts) -> String {
    more_cmdline(
        format!(
            "root=UUID={} ro console=hvc0 net.ifnames=0",
            facts.root_uuid
        ),
        &recipe.boot.cmdline,
    )
}

/// A kernel command line `head` followed by the recipe's `more` of it.
pub(crate) fn more_cmdline(head: String, more: &str) -> String {
    if more.is_empty() {
        head
    } else {
        format!("{head} {more}")
    }
}

/// Check that a kernel version is safe in file names and GRUB lines.
fn check_version(v: &str) -> Result<()> {
    let ok = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".+_~-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::KernelVersion(v.into()))
    }
}

/// The boot configuration artifacts of `recipe` (not the kernel and
/// initrd, which the caller adds, nor `SHA256SUMS`, which
/// [`staging::Staged::seal`] makes), in name order.
pub fn artifacts(recipe: &Recipe, facts: &BootFacts) -> Result<Vec<Artifact>> {
    check_version(&facts.kernel_version)?;
    let dom0_version = recipe
        .xen
        .dom0_kernel_version
        .as_deref()
        .unwrap_or(&facts.kernel_version);
    check_version(dom0_version)?;
    let name = &recipe.image.name;
    let mut out = vec![Artifact {
        name: format!("xen/{name}.cfg"),
        bytes: xl::config(recipe, facts).into_bytes(),
        mode: 0o644,
    }];
    // GRUB's Xen entries are multiboot2 (and menu.lst, GRUB legacy):
    // x86 only. The build says so for another architecture
    // (`pipeline::build`).
    let host_grub = recipe.system.arch().grub_boots_xen();
    if let Some(root) = recipe.xen.dom0_root.as_ref().filter(|_| host_grub) {
        let host = grub_legacy::HostBoot::new(&recipe.xen, dom0_version, root);
        out.push(Artifact {
            name: "xen/menu.lst".into(),
            bytes: grub_legacy::stanza(&host).into_bytes(),
            mode: 0o644,
        });
        out.push(Artifact {
            name: format!("xen/grub.d/{}", grub2::SCRIPT_NAME),
            bytes: grub2::script(&host).into_bytes(),
            mode: 0o755,
        });
    }
    if let Some(iscsi) = &recipe.iscsi {
        out.extend(hostside::artifacts(
            name,
            &recipe.xen.hosts,
            iscsi,
            facts.chap_secret.as_ref(),
        ));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Create `path` with `mode` from the start (a secret is never readable
/// by others, not even for a moment) and sync it.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    f.write_all(bytes)?;
    // The umask may have taken bits away from `mode`.
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    f.sync_all()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The embedded recipe, resolved against a made-up host mirror.
    pub(crate) fn recipe() -> Recipe {
        recipe_with(&[])
    }

    /// The embedded recipe with `overrides` (`key=value`).
    pub(crate) fn recipe_with(overrides: &[String]) -> Recipe {
        let file =
            crate::recipe::parse("t", crate::recipe::EMBEDDED, overrides)
                .unwrap();
        let mut file = file;
        file.system.mirror = Some("http://mirror.invalid/debian".into());
        crate::recipe::resolve::resolve("t", None, file, Path::new("/"))
            .unwrap()
    }

    /// An artifact of `bytes`, mode 0600.
    pub(crate) fn artifact(name: &str, bytes: &[u8]) -> Artifact {
        Artifact {
            name: name.into(),
            bytes: bytes.to_vec(),
            mode: 0o600,
        }
    }

    pub(crate) fn facts() -> BootFacts {
        BootFacts::new(&recipe(), "6.12.48+deb13-amd64").unwrap()
    }

    #[test]
    fn facts_follow_the_partition_uuids() {
        let r = recipe();
        let f = facts();
        assert_eq!(f.root_uuid, ids::partition_fs_uuid("virtual01", 1));
        assert_eq!(f.swap_uuid, Some(ids::partition_fs_uuid("virtual01", 0)));
        assert_eq!(f.chap_secret, None);
        let mut no_root = r.clone();
        no_root.partitions.retain(|p| p.usage != PartitionUse::Root);
        assert!(matches!(
            BootFacts::new(&no_root, "1").unwrap_err(),
            Error::NoRoot
        ));
    }

    #[test]
    fn an_arm64_guest_has_no_x86_host_entries() {
        let r = recipe_with(&["system.architecture=arm64".into()]);
        let f = BootFacts::new(&r, "6.12.48+deb13-arm64").unwrap();
        let names: Vec<String> = artifacts(&r, &f)
            .unwrap()
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert!(
            names.contains(&"xen/virtual01.cfg".to_string()),
            "{names:?}"
        );
        assert!(
            !names
                .iter()
                .any(|n| n.contains("menu.lst") || n.contains("grub.d")),
            "{names:?}"
        );
    }

    #[test]
    fn artifact_set_follows_the_recipe() {
        let r = recipe();
        let names: Vec<String> = artifacts(&r, &facts())
            .unwrap()
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(
            names,
            [
                "initiator/61-lunforge-virtual01.rules",
                "initiator/iscsi-login-virtual01.sh",
                "target/ietd-virtual01.conf",
                "xen/grub.d/41_lunforge_xen",
                "xen/menu.lst",
                "xen/virtual01.cfg",
            ]
        );
        let mut bare = r.clone();
        bare.xen.dom0_root = None;
        bare.iscsi = None;
        let names: Vec<String> = artifacts(&bare, &facts())
            .unwrap()
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(names, ["xen/virtual01.cfg"]);
        let mut f = facts();
        f.kernel_version = "6.1 x".into();
        assert!(matches!(
            artifacts(&r, &f).unwrap_err(),
            Error::KernelVersion(_)
        ));
    }

    #[test]
    fn error_messages() {
        let e = Error::Secret {
            source_name: "env:X".into(),
            detail: "is not set".into(),
        };
        assert_eq!(e.to_string(), "iscsi.chap_secret: env:X: is not set");
        assert_eq!(
            Error::KernelVersion("a b".into()).to_string(),
            "kernel version \"a b\" has characters other than letters, \
             digits and \".+_~-\""
        );
        assert_eq!(
            Error::BadName("/x".into()).to_string(),
            "artifact name \"/x\" is not a plain relative path"
        );
        let e = Error::Out {
            path: "out/g/xen/g.cfg".into(),
            what: "writing a boot file",
            source: std::io::Error::from_raw_os_error(28),
        };
        assert_eq!(
            e.to_string(),
            "out/g/xen/g.cfg: writing a boot file: No space left on device \
             (os error 28)"
        );
        assert_eq!(
            Error::NotADir {
                path: "out/g".into()
            }
            .to_string(),
            "out/g is not a directory: the boot files go there"
        );
    }
}
