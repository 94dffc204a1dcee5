//! The boot files: the guest kernel and an initrd made for it, the
//! guest's own GRUB files, and the files for the Xen hosts and the iSCSI
//! target; and `lunforge initrd`, the same initrd for a host's kernel.

use std::path::Path;

use super::packages::{fetch_tool, tool_deb, BUSYBOX};
use super::source_date_epoch;
use crate::arch::Arch;
use crate::boot::{self, initrd};
use crate::context::Context;
use crate::error::Result;
use crate::fetch;
use crate::progress::{Level, Progress};
use crate::recipe::{Loader, Recipe};
use crate::resolve::lockfile::Lock;
use crate::tree::{self, GuestPath, Meta, Tree};

/// Where the guest's kernel modules are (merged /usr).
const MODULES_DIR: &str = "/usr/lib/modules";

/// The boot stage: the guest kernel and an initrd made for it, the
/// guest's own GRUB files (put into `tree`, so pygrub and pvgrub find
/// them), and the files for the Xen hosts and the iSCSI target. `None`
/// for a guest without a kernel (nothing to boot; the build says so).
/// The initrd also goes into the guest's `/boot`, where pvgrub and the
/// guest's GRUB entries look for it: initramfs-tools is held back while
/// dpkg configures, by either strategy
/// ([`crate::configure::maintscripts::hold_initramfs`]), so the guest
/// has none of its own. Its next kernel update replaces it with a
/// Debian one (initramfs-tools keeps no record of the initrds it made:
/// `update-initramfs -c` and `-u` rewrite whatever is there).
pub fn boot(
    recipe: &Recipe,
    tree: &mut Tree,
    lock: &Lock,
    fetched: &fetch::Report,
) -> Result<Option<Vec<boot::Artifact>>> {
    let arch = recipe.system.arch();
    let Some((version, image)) = initrd_in_guest(tree, arch, lock, fetched)?
    else {
        return Ok(None);
    };
    let time = source_date_epoch(lock);
    let kernel = kernel_image(tree, arch, &version)?;
    let facts = boot::BootFacts::new(recipe, &version)?;
    if recipe.boot.loader == Loader::GrubEfi {
        let cfg = efi_loader(recipe, tree, lock, fetched, &facts, time)?;
        // The disk boots by itself: what a host needs of a guest (xl
        // config, kernel and initrd to copy) makes no sense for it.
        return Ok(Some(vec![boot::Artifact {
            name: "grub.cfg".into(),
            bytes: cfg.into_bytes(),
            mode: 0o644,
        }]));
    }
    let grub = boot::guest_grub::files(recipe, &facts);
    boot::guest_grub::install(tree, &grub, time)?;
    let mut artifacts = boot::artifacts(recipe, &facts)?;
    for (name, bytes) in [("vmlinuz", kernel), ("initrd.img", image)] {
        artifacts.push(boot::Artifact {
            name: format!("{name}-{version}"),
            bytes,
            mode: 0o644,
        });
    }
    artifacts.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Some(artifacts))
}

/// The guest's initrd, made for its kernel and put into its `/boot` (see
/// [`boot`]), with the kernel's version; `None` for a guest without a
/// kernel. A root file system written as a tarball gets it too, so that
/// `/boot` holds an initrd for its kernel whatever the output.
pub fn initrd_in_guest(
    tree: &mut Tree,
    arch: Arch,
    lock: &Lock,
    fetched: &fetch::Report,
) -> Result<Option<(String, Vec<u8>)>> {
    let modules = GuestPath::new(MODULES_DIR).map_err(boot::Error::from)?;
    let version = match initrd::pick_version(tree, &modules, None) {
        Err(initrd::Error::NoKernel { .. }) => return Ok(None),
        v => v?,
    };
    let deb = tool_deb(lock, fetched, BUSYBOX)
        .ok_or(boot::Error::NoBusybox { package: BUSYBOX })?;
    let time = source_date_epoch(lock);
    let image = guest_initrd(tree, &modules, deb, arch, &version, time)?;
    Ok(Some((version, image)))
}

/// The GRUB EFI loader of a disk that boots by itself, into `tree`
/// ([`boot::efi`]); the entries' `grub.cfg`.
fn efi_loader(
    recipe: &Recipe,
    tree: &mut Tree,
    lock: &Lock,
    fetched: &fetch::Report,
    facts: &boot::BootFacts,
    time: i64,
) -> Result<String> {
    let arch = &recipe.system.architecture;
    let efi = boot::efi::arch(arch).ok_or_else(|| boot::Error::NoGrubFile {
        what: format!("EFI image for architecture {arch}"),
    })?;
    let tool = |name: &str| {
        tool_deb(lock, fetched, name).ok_or_else(|| boot::Error::NoTool {
            package: name.into(),
            needs: "boot.loader = \"grub-efi\"",
        })
    };
    let mut debs = vec![tool(efi.modules_package)?];
    debs.extend(tool_deb(lock, fetched, efi.image_package));
    let grub = boot::efi::read_grub(&debs, &efi)?;
    let entries = boot::efi::entries(
        recipe,
        tree,
        &facts.kernel_version,
        facts.root_uuid,
    )?;
    let cfg = boot::efi::grub_cfg(recipe, &entries);
    boot::efi::install(tree, recipe, &efi, &grub, &cfg, facts.root_uuid, time)?;
    Ok(cfg)
}

/// The guest's initrd, also put into its `/boot` unless the guest made
/// one itself (a guest whose initrd tool lunforge does not hold back).
fn guest_initrd(
    tree: &mut Tree,
    modules: &GuestPath,
    busybox_deb: &Path,
    arch: Arch,
    version: &str,
    time: i64,
) -> boot::Result<Vec<u8>> {
    let busybox = initrd::busybox_from_deb(busybox_deb, arch)?;
    let params = initrd::InitrdParams::new(arch, version, time);
    let image = initrd::build(tree, modules, &busybox, &params)?;
    let in_guest = GuestPath::new(&format!("/boot/initrd.img-{version}"))?;
    if tree.get(&in_guest).is_none() {
        tree.write_file(&in_guest, Meta::root(0o644, time), &image)?;
    }
    Ok(image)
}

/// Stage the boot files for `OUT/<name>/` ([`boot::staging`]); the
/// build adds its SBOM and manifest once the disk is written, then
/// `SHA256SUMS`. Nothing is visible until [`super::commit`]. A guest
/// without a kernel has no boot files: its directory holds those three
/// alone, and an earlier build's boot files go (they would not match
/// the new image). Each file is told to `progress` (shown at `-vv`).
pub fn stage_files(
    recipe: &Recipe,
    out_dir: &Path,
    artifacts: &[boot::Artifact],
    progress: &dyn Progress,
) -> Result<boot::staging::Staged> {
    let staged = boot::staging::stage(out_dir, &recipe.image.name, artifacts)?;
    for a in artifacts {
        progress.detail(
            Level::Trace,
            format_args!(
                "boot files: {}/{}/{} ({})",
                out_dir.display(),
                recipe.image.name,
                a.name,
                crate::units::human(a.bytes.len() as u64)
            ),
        );
    }
    Ok(staged)
}

/// `lunforge initrd`: an initrd for the kernel whose modules are in the
/// host directory `modules` (a `/lib/modules`, or one version's
/// directory in it), with busybox-static resolved and fetched from the
/// recipe's suite (verified like any package) and `extra` modules.
pub fn host_initrd(
    recipe: &Recipe,
    ctx: &Context,
    lock: Option<&Lock>,
    modules: &Path,
    version: Option<&str>,
    extra: &[String],
    compression: initrd::Compression,
) -> Result<(String, Vec<u8>)> {
    // One kernel's directory names its version; read its parent then.
    let own = ["modules.dep", "modules.order", "modules.builtin"]
        .iter()
        .any(|f| modules.join(f).exists());
    let (dir, version) = match (own, modules.file_name()) {
        (true, Some(name)) => (
            match modules.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                // `--kernel-modules 6.1.0-x`: its parent is ".".
                Some(_) => Path::new("."),
                None => Path::new("/"),
            },
            Some(version.unwrap_or(&name.to_string_lossy()).to_string()),
        ),
        _ => (modules, version.map(str::to_string)),
    };
    let tree = tree::host::read_dir_referenced(dir, &[])?;
    let root = GuestPath::root();
    let version = initrd::pick_version(&tree, &root, version.as_deref())?;
    let deb = fetch_tool(recipe, ctx, lock, BUSYBOX)?;
    let arch = recipe.system.arch();
    let busybox = initrd::busybox_from_deb(&deb, arch)?;
    let mut params =
        initrd::InitrdParams::new(arch, &version, initrd_time(&tree, &version));
    params.modules.extend(extra.iter().cloned());
    params.compression = compression;
    let image = initrd::build(&tree, &root, &busybox, &params)?;
    Ok((version, image))
}

/// `SOURCE_DATE_EPOCH`, else the newest mtime below the kernel's own
/// modules directory (other kernels beside it do not change its initrd).
fn initrd_time(tree: &Tree, version: &str) -> i64 {
    crate::context::source_date_epoch().unwrap_or_else(|| {
        let dir = GuestPath::root().join(version).ok();
        tree.iter()
            .filter(|(p, _, _)| dir.as_ref().is_some_and(|d| p.starts_with(d)))
            .map(|(_, _, n)| n.meta.mtime)
            .max()
            .unwrap_or(0)
    })
}

/// The bytes of `/boot/vmlinuz-VERSION` in the guest tree, as Xen and
/// QEMU start it directly on `arch` ([`boot::kernel::for_direct_boot`]).
fn kernel_image(
    tree: &Tree,
    arch: Arch,
    version: &str,
) -> boot::Result<Vec<u8>> {
    let path = GuestPath::new(&format!("/boot/vmlinuz-{version}"))?;
    let missing = || boot::Error::NoKernelImage { path: path.clone() };
    let real = tree.resolve(&path, true).map_err(|_| missing())?;
    let bytes = match tree.get(&real).map(|n| &n.kind) {
        Some(tree::Kind::File(c)) => {
            tree.spool().read(c).map_err(tree::Error::from)?
        }
        _ => return Err(missing()),
    };
    boot::kernel::for_direct_boot(arch, bytes)
        .map_err(|why| boot::Error::KernelFormat { path, why })
}
