//! A disk that boots by itself under UEFI firmware (`boot.loader =
//! "grub-efi"`), as a Xen host's disk does.
//!
//! What `grub-install --removable` would leave, made without running it:
//!
//! - the suite's own prebuilt GRUB EFI image (Debian's "monolithic"
//!   `grubx64.efi`, from `grub-efi-amd64-unsigned`, or from
//!   `grub-efi-amd64-bin` in suites before that split) at the firmware's
//!   removable-media path `EFI/BOOT/BOOTX64.EFI` of the EFI system
//!   partition, so no boot variable in NVRAM is needed;
//! - beside it a three-line `grub.cfg` that finds the root file system by
//!   UUID, sets `prefix` there and reads `/boot/grub/grub.cfg` (the
//!   image's built-in prefix is `/EFI/debian`, which does not exist on
//!   this partition, and its early config then reads `grub.cfg` from the
//!   directory it was loaded from);
//! - the GRUB modules of the same GRUB version in `/boot/grub/x86_64-efi/`
//!   (from `grub-efi-amd64-bin`), which the image loads on demand:
//!   `multiboot2` is not built into it;
//! - `/boot/grub/grub.cfg` with the boot entries: Xen with the system's
//!   Linux as domain 0 (lunforge's entry, [`super::grub2::menuentry`])
//!   when `boot.hypervisor = "xen"`, and Linux alone.
//!
//! The GRUB packages are build tools (locked and verified like every
//! package, never installed): the system's GRUB is not managed by its
//! own package manager, so a later kernel upgrade inside the system does
//! not change these entries; the operator installs `grub-efi-amd64` to
//! hand the boot over to Debian's own `update-grub`.
//!
//! Reference: UEFI 2.10 §3.5.1.1 (removable media boot path); GRUB
//! manual, "search", "configfile", "multiboot2", "module2", "serial".

use std::collections::BTreeMap;
use std::path::Path;

use super::grub_legacy::HostBoot;
use super::{Error, Result};
use crate::ids::Uuid;
use crate::recipe::{Hypervisor, PartitionUse, Recipe};
use crate::tree::{GuestPath, Kind, Meta, Tree};
use crate::unpack::{self, EntryKind, Limits};

/// The EFI names of one Debian architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EfiArch {
    /// GRUB's platform directory (`x86_64-efi`).
    pub grub_platform: &'static str,
    /// The removable-media file name (`BOOTX64.EFI`).
    pub removable: &'static str,
    /// The monolithic image's name in Debian's packages (`grubx64.efi`).
    pub image: &'static str,
    /// The package of GRUB's modules.
    pub modules_package: &'static str,
    /// The package of the prebuilt images (empty where the modules
    /// package holds them too).
    pub image_package: &'static str,
    /// The architecture, which says whether GRUB boots Xen there
    /// ([`crate::arch::Arch::grub_boots_xen`]), and so needs
    /// [`XEN_MODULE`].
    pub arch: crate::arch::Arch,
}

/// GRUB's module that boots Xen (multiboot2), where GRUB boots it.
const XEN_MODULE: &str = "multiboot2.mod";

/// The EFI names of Debian architecture `arch`, where lunforge knows
/// them.
pub fn arch(arch: &str) -> Option<EfiArch> {
    use crate::arch::Arch;
    let known = Arch::from_debian(arch)?;
    let (grub_platform, removable, image, modules, images) = match known {
        Arch::Amd64 => (
            "x86_64-efi",
            "BOOTX64.EFI",
            "grubx64.efi",
            "grub-efi-amd64-bin",
            "grub-efi-amd64-unsigned",
        ),
        Arch::Arm64 => (
            "arm64-efi",
            "BOOTAA64.EFI",
            "grubaa64.efi",
            "grub-efi-arm64-bin",
            "grub-efi-arm64-unsigned",
        ),
    };
    Some(EfiArch {
        grub_platform,
        removable,
        image,
        modules_package: modules,
        image_package: images,
        arch: known,
    })
}

/// GRUB's EFI image and its modules, read from the suite's packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrubEfi {
    /// The monolithic EFI image.
    pub image: Vec<u8>,
    /// Module directory entries (`*.mod`, `*.lst`) by file name.
    pub modules: BTreeMap<String, Vec<u8>>,
}

/// Read the image and the modules of `efi` from the GRUB tool packages
/// at `debs` (the modules package, and the images package where the
/// suite has one).
pub fn read_grub(debs: &[&Path], efi: &EfiArch) -> Result<GrubEfi> {
    let spool = crate::tree::Spool::new().map_err(|source| Error::Io {
        path: std::env::temp_dir(),
        source,
    })?;
    let dir = format!("/usr/lib/grub/{}/", efi.grub_platform);
    let image_path = format!("{dir}monolithic/{}", efi.image);
    let mut image = None;
    let mut modules = BTreeMap::new();
    for deb in debs {
        let label = deb
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let u = unpack::read_deb(deb, &label, &spool, &Limits::default())
            .map_err(|e| Error::GrubPackage {
                source: Box::new(e),
            })?;
        for e in &u.entries {
            let EntryKind::File(c) = &e.kind else {
                continue;
            };
            let path = e.path.as_str();
            let read = || {
                spool.read(c).map_err(|source| Error::Io {
                    path: path.into(),
                    source,
                })
            };
            if path == image_path {
                image = Some(read()?);
            } else if let Some(name) = path.strip_prefix(&dir) {
                let wanted = name.ends_with(".mod") || name.ends_with(".lst");
                if wanted && !name.contains('/') {
                    modules.insert(name.to_string(), read()?);
                }
            }
        }
    }
    let image = image.ok_or_else(|| Error::NoGrubFile {
        what: image_path.clone(),
    })?;
    if efi.arch.grub_boots_xen() && !modules.contains_key(XEN_MODULE) {
        return Err(Error::NoGrubFile {
            what: format!("{dir}{XEN_MODULE}"),
        });
    }
    Ok(GrubEfi { image, modules })
}

/// The `grub.cfg` beside the EFI image: find the root, read its config.
pub fn esp_config(root: Uuid) -> String {
    format!(
        "# Written by lunforge: GRUB's own configuration is on the root\n\
         # file system, found by its UUID.\n\
         search --no-floppy --fs-uuid --set=root {root}\n\
         set prefix=($root)/boot/grub\n\
         configfile $prefix/grub.cfg\n"
    )
}

/// What the boot entries start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entries {
    /// The kernel version.
    pub version: String,
    /// The root file system's UUID.
    pub root: Uuid,
    /// The hypervisor's path in the system, with Xen.
    pub xen_path: Option<String>,
}

/// `/boot/grub/grub.cfg`: menu on the screen and the first serial port,
/// then the entries (Xen first, when there is one).
pub fn grub_cfg(recipe: &Recipe, e: &Entries) -> String {
    let join = super::more_cmdline;
    let v = &e.version;
    let mut s = format!(
        "# /boot/grub/grub.cfg of {name}, written by lunforge.\n\
         set default=0\n\
         set timeout={timeout}\n\
         serial --unit=0 --speed=115200\n\
         terminal_input console serial\n\
         terminal_output console serial\n\
         insmod part_gpt\n\
         insmod part_msdos\n\
         insmod ext2\n\
         search --no-floppy --fs-uuid --set=root {root}\n",
        name = recipe.image.name,
        timeout = recipe.boot.timeout,
        root = e.root,
    );
    if let Some(xen_path) = &e.xen_path {
        let mut host =
            HostBoot::new(&recipe.xen, v, &format!("UUID={}", e.root));
        host.title =
            format!("Debian GNU/Linux, with Xen hypervisor and Linux {v}");
        host.root = None;
        host.xen_path = xen_path.clone();
        host.kernel = format!("/boot/vmlinuz-{v}");
        host.initrd = format!("/boot/initrd.img-{v}");
        host.kernel_cmdline = join(host.kernel_cmdline, &recipe.boot.cmdline);
        s.push_str(&super::grub2::menuentry(&host));
    }
    s.push_str(&format!(
        "menuentry 'Debian GNU/Linux, with Linux {v}' --class debian \
         --class gnu-linux --class gnu --class os {{\n\
         \techo\t'Loading Linux {v} ...'\n\
         \tlinux\t/boot/vmlinuz-{v} {cmdline}\n\
         \techo\t'Loading initial ramdisk ...'\n\
         \tinitrd\t/boot/initrd.img-{v}\n\
         }}\n",
        cmdline =
            join(format!("root=UUID={} ro", e.root), &recipe.boot.cmdline),
    ));
    s
}

/// The hypervisor of the system in `tree`: Debian's
/// `/boot/xen-VERSION-ARCH.gz`, the newest by name when several are
/// there.
pub fn find_xen(tree: &Tree) -> Result<String> {
    let boot = GuestPath::new("/boot").map_err(crate::tree::Error::from)?;
    tree.iter()
        .filter(|(p, _, n)| {
            p.parent().as_ref() == Some(&boot)
                && matches!(n.kind, Kind::File(_) | Kind::Symlink(_))
        })
        .map(|(p, _, _)| p.as_str().to_string())
        .filter(|p| p.starts_with("/boot/xen-") && p.ends_with(".gz"))
        .max()
        .ok_or(Error::NoHypervisor)
}

/// Put the loader into `tree`: the EFI image and its `grub.cfg` below
/// the EFI system partition's mount point, the modules and `grub_cfg`
/// below `/boot/grub`.
pub fn install(
    tree: &mut Tree,
    recipe: &Recipe,
    efi: &EfiArch,
    grub: &GrubEfi,
    grub_cfg: &str,
    root: Uuid,
    time: i64,
) -> Result<()> {
    let path = |p: &str| GuestPath::new(p).map_err(crate::tree::Error::from);
    let dir_meta = Meta::root(0o755, time);
    let esp = recipe
        .partitions
        .iter()
        .find(|p| p.usage == PartitionUse::Esp)
        .map(|p| p.mount.clone().unwrap_or_else(|| "/boot/efi".into()))
        .ok_or(Error::NoEsp)?;
    let boot_dir = path(&format!("{esp}/EFI/BOOT"))?;
    tree.create_dirs(&boot_dir, &dir_meta)?;
    let file = |name: &str| boot_dir.join(name).map_err(Error::from);
    tree.write_file(
        &file(efi.removable)?,
        Meta::root(0o644, time),
        &grub.image,
    )?;
    tree.write_file(
        &file("grub.cfg")?,
        Meta::root(0o644, time),
        esp_config(root).as_bytes(),
    )?;
    let modules = path(&format!("/boot/grub/{}", efi.grub_platform))?;
    tree.create_dirs(&modules, &dir_meta)?;
    for (name, bytes) in &grub.modules {
        let p = modules.join(name).map_err(Error::from)?;
        tree.write_file(&p, Meta::root(0o644, time), bytes)?;
    }
    let cfg = path("/boot/grub/grub.cfg")?;
    tree.write_file(&cfg, Meta::root(0o644, time), grub_cfg.as_bytes())?;
    Ok(())
}

/// The entries of `recipe`'s system in `tree`, kernel `version`.
pub fn entries(
    recipe: &Recipe,
    tree: &Tree,
    version: &str,
    root: Uuid,
) -> Result<Entries> {
    let xen_path = match recipe.boot.hypervisor {
        Hypervisor::Xen => Some(find_xen(tree)?),
        Hypervisor::None => None,
    };
    Ok(Entries {
        version: version.into(),
        root,
        xen_path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::tests::recipe;
    use crate::recipe::Loader;

    fn host() -> Recipe {
        let mut r = recipe();
        r.image.name = "dangermouse".into();
        r.boot.loader = Loader::GrubEfi;
        r.boot.hypervisor = Hypervisor::Xen;
        r.boot.cmdline = "net.ifnames=0".into();
        r.xen.dom0_cmdline = "console=hvc0".into();
        r.xen.xen_cmdline = "console=com1".into();
        r
    }

    #[test]
    fn xen_entry_first_then_linux_alone() {
        let r = host();
        let root = Uuid([7; 16]);
        let e = Entries {
            version: "6.12.1-amd64".into(),
            root,
            xen_path: Some("/boot/xen-4.20-amd64.gz".into()),
        };
        let cfg = grub_cfg(&r, &e);
        let lines: Vec<&str> = cfg.lines().map(str::trim).collect();
        let xen = lines
            .iter()
            .position(|l| {
                *l == "multiboot2\t/boot/xen-4.20-amd64.gz placeholder \
                       dom0_mem=1024M,max:1024M console=com1"
            })
            .unwrap_or_else(|| panic!("{cfg}"));
        let want = format!(
            "module2\t/boot/vmlinuz-6.12.1-amd64 placeholder root=UUID={root} \
             ro console=hvc0 net.ifnames=0"
        );
        assert!(lines.contains(&want.as_str()), "{cfg}");
        let linux = lines
            .iter()
            .position(|l| l.starts_with("linux\t/boot/vmlinuz-6.12.1-amd64"))
            .unwrap();
        assert!(xen < linux, "{cfg}");
        assert!(cfg.contains(&format!("--fs-uuid --set=root {root}\n")));
        assert!(cfg.contains("set timeout=5\n"));
        assert!(cfg.contains("terminal_output console serial\n"));
    }

    #[test]
    fn esp_config_finds_the_root_by_uuid() {
        let c = esp_config(Uuid([1; 16]));
        assert!(c.contains("search --no-floppy --fs-uuid --set=root 01010101-"));
        assert!(c.ends_with("configfile $prefix/grub.cfg\n"));
    }

    #[test]
    fn install_writes_the_removable_path_and_modules() {
        let mut r = host();
        r.partitions.insert(
            0,
            crate::recipe::Partition {
                usage: PartitionUse::Esp,
                size: crate::recipe::PartSize::Fixed(crate::units::ByteSize(
                    64 << 20,
                )),
                fs: Some(crate::recipe::FsKind::Vfat),
                label: None,
                mount: None,
                ext: Default::default(),
            },
        );
        let mut tree = Tree::new(3).unwrap();
        let efi = arch("amd64").unwrap();
        let grub = GrubEfi {
            image: b"MZ".to_vec(),
            modules: [("multiboot2.mod".to_string(), vec![1])].into(),
        };
        install(&mut tree, &r, &efi, &grub, "cfg", Uuid([2; 16]), 3).unwrap();
        for p in [
            "/boot/efi/EFI/BOOT/BOOTX64.EFI",
            "/boot/efi/EFI/BOOT/grub.cfg",
            "/boot/grub/x86_64-efi/multiboot2.mod",
            "/boot/grub/grub.cfg",
        ] {
            assert!(tree.get(&GuestPath::new(p).unwrap()).is_some(), "{p}");
        }
    }

    #[test]
    fn no_xen_in_boot_is_an_error() {
        let tree = Tree::new(0).unwrap();
        assert!(matches!(find_xen(&tree), Err(Error::NoHypervisor)));
        assert!(arch("s390x").is_none());
    }
}
