//! A Xen host's own part of the build (`[host]`): the files of every
//! guest it runs, made by the guest's own recipe, and its iSCSI
//! initiator name. What the seed did by hand on dangermouse and buggles
//! (copy the guest's kernel and initrd, write `/etc/xen/virtual01.cfg`,
//! the udev rule, log in to the LUN) is in the host's image from the
//! start.
//!
//! A guest's files come from the same functions as the guest's own
//! build, from the guest's package set (its lock with `--locked`, else
//! resolved afresh from the host's mirror), so every host built from
//! the same guest holds the same bytes: the xl config, the kernel, the
//! initrd. Only the packages' files are needed for that (the kernel and
//! its modules), so the guest is unpacked, not configured.

use std::path::Path;

use super::packages::{fetch, locked, resolve};
use crate::boot::{self, hostside};
use crate::context::Context;
use crate::error::Result;
use crate::recipe::Recipe;
use crate::resolve::lockfile::{self, Lock};
use crate::tree::{GuestPath, Meta, Tree};

/// Install the files of `recipe`'s `[host]` into `tree`. `locked`: the
/// guests' package sets come from their lockfiles.
pub fn install(
    recipe: &Recipe,
    ctx: &Context,
    lock: &Lock,
    locked_guests: bool,
    tree: &mut Tree,
    time: i64,
) -> Result<()> {
    check_packages(recipe, lock)?;
    let Some(host) = &recipe.host else {
        return Ok(());
    };
    if let Some(iqn) = &host.iscsi_initiator {
        put(
            tree,
            "/etc/iscsi/initiatorname.iscsi",
            0o600,
            hostside::initiator_name(iqn).as_bytes(),
            time,
        )?;
    }
    for path in &host.guests {
        let guest = guest_recipe(recipe, path)?;
        if guest.iscsi.is_some() && !has(lock, "open-iscsi") {
            return Err(boot::Error::NeedsPackage {
                needs: format!("host.guests ({} is on iSCSI)", path.display()),
                package: "open-iscsi",
            }
            .into());
        }
        let files = guest_files(&guest, ctx, path, locked_guests)?;
        install_guest(tree, &guest, &files, time)?;
    }
    Ok(())
}

/// The guest recipe at `path`, from the host's mirror (the two are built
/// from one archive).
fn guest_recipe(host: &Recipe, path: &Path) -> Result<Recipe> {
    Ok(Recipe::guest(path, &host.system.mirror, Path::new("/"))?)
}

/// The guest's host-side files, as its own build makes them.
fn guest_files(
    guest: &Recipe,
    ctx: &Context,
    path: &Path,
    locked_guest: bool,
) -> Result<Vec<boot::Artifact>> {
    let lock = if locked_guest {
        locked(guest, &lockfile::path_for(Some(path)))?
    } else {
        resolve(guest, ctx)?
    };
    let fetched = fetch(guest, ctx, &lock)?;
    let (packages, spool) = super::system::unpack(&lock, &fetched)?;
    let sde = super::source_date_epoch(&lock);
    let arch = &guest.system.architecture;
    let mut tree =
        crate::configure::unpacked_tree(&packages, spool, arch, sde)?;
    let artifacts = super::boot(guest, &mut tree, &lock, &fetched)?;
    Ok(artifacts.ok_or(boot::Error::GuestWithoutKernel {
        guest: path.display().to_string(),
    })?)
}

/// Where a host keeps the guest's files: the xl config in `/etc/xen/`,
/// kernel and initrd in `xen.guest_boot_dir`, the udev rule in
/// `/etc/udev/rules.d/`, and the node record that logs in to its LUN.
fn install_guest(
    tree: &mut Tree,
    guest: &Recipe,
    files: &[boot::Artifact],
    time: i64,
) -> Result<()> {
    let name = &guest.image.name;
    let dir = &guest.xen.guest_boot_dir;
    for a in files {
        let to = if a.name == format!("xen/{name}.cfg") {
            format!("/etc/xen/{name}.cfg")
        } else if a.name.starts_with("vmlinuz-")
            || a.name.starts_with("initrd.img-")
        {
            format!("{dir}/{}", a.name)
        } else if let Some(rule) = a.name.strip_prefix("initiator/") {
            if !rule.ends_with(".rules") {
                continue;
            }
            format!("/etc/udev/rules.d/{rule}")
        } else {
            continue;
        };
        put(tree, &to, 0o644, &a.bytes, time)?;
    }
    if let Some(i) = &guest.iscsi {
        let secret = i
            .chap_secret
            .as_ref()
            .map(hostside::Secret::read)
            .transpose()?;
        let var_lib = GuestPath::new("/var/lib/iscsi")
            .ok()
            .and_then(|p| tree.get(&p))
            .is_some_and(|n| matches!(n.kind, crate::tree::Kind::Dir));
        let db = hostside::node_db(var_lib);
        let (path, text) = hostside::node_record(db, i, secret.as_ref());
        put(tree, &path, 0o600, text.as_bytes(), time)?;
    }
    Ok(())
}

/// Write `bytes` at `path` in `tree`, parents made as needed.
fn put(
    tree: &mut Tree,
    path: &str,
    mode: u32,
    bytes: &[u8],
    time: i64,
) -> Result<()> {
    let p = GuestPath::new(path).map_err(boot::Error::from)?;
    if let Some(parent) = p.parent() {
        tree.create_dirs(&parent, &Meta::root(0o755, time))
            .map_err(boot::Error::from)?;
    }
    tree.write_file(&p, Meta::root(mode, time), bytes)
        .map_err(boot::Error::from)?;
    Ok(())
}

/// The package each key of the recipe in use needs is in the package
/// set.
fn check_packages(recipe: &Recipe, lock: &Lock) -> Result<()> {
    let bridge = recipe.network.as_ref().is_some_and(|n| n.bridge.is_some());
    let initiator = recipe
        .host
        .as_ref()
        .is_some_and(|h| h.iscsi_initiator.is_some());
    for (used, key, package) in [
        (bridge, "network.bridge", "bridge-utils"),
        (initiator, "host.iscsi_initiator", "open-iscsi"),
    ] {
        if used && !has(lock, package) {
            return Err(boot::Error::NeedsPackage {
                needs: key.into(),
                package,
            }
            .into());
        }
    }
    Ok(())
}

fn has(lock: &Lock, package: &str) -> bool {
    lock.packages.iter().any(|p| p.name == package)
}
