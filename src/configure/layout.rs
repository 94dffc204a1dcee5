//! The merged-/usr layout, laid before any package is unpacked.
//!
//! Since bookworm, Debian expects `/bin`, `/sbin`, `/lib` (and the
//! architecture's extra library directories) to be symlinks into `/usr`.
//! Packages still ship files under `./bin/…`; dpkg then writes them
//! through the symlinks. debootstrap and mmdebstrap therefore create the
//! links before unpacking, and lunforge does the same: from the links the
//! suite's own `base-files` ships when it ships them (trixie and later),
//! else from the list debootstrap uses for the architecture.

use super::Result;
use crate::tree::{GuestPath, Kind, Meta, Tree};
use crate::unpack::{EntryKind, Unpacked};

/// `(link, target)` pairs of the merged-/usr layout for `arch` when the
/// suite's base-files does not ship them.
pub fn default_links(arch: &str) -> Vec<(&'static str, &'static str)> {
    let mut v =
        vec![("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib")];
    if matches!(arch, "amd64" | "ppc64el" | "s390x" | "loong64") {
        v.push(("lib64", "usr/lib64"));
    }
    v
}

/// The top-level symlinks into `usr/` that `base-files` ships, if any.
fn shipped_links(packages: &[Unpacked]) -> Vec<(String, String)> {
    let Some(base) = packages.iter().find(|u| u.name == "base-files") else {
        return Vec::new();
    };
    base.entries
        .iter()
        .filter_map(|e| match &e.kind {
            EntryKind::Symlink(t)
                if e.path.parent().is_some_and(|p| p.is_root())
                    && t.starts_with("usr/") =>
            {
                Some((e.path.relative().to_string(), t.clone()))
            }
            _ => None,
        })
        .collect()
}

/// Create `/usr` and the merged-/usr links in an empty tree.
pub fn merged_usr(
    tree: &mut Tree,
    packages: &[Unpacked],
    arch: &str,
    mtime: i64,
) -> Result<()> {
    let mut links = shipped_links(packages);
    if links.is_empty() {
        links = default_links(arch)
            .into_iter()
            .map(|(l, t)| (l.to_string(), t.to_string()))
            .collect();
    }
    let dir = Meta::root(0o755, mtime);
    for (link, target) in links {
        tree.create_dirs(&GuestPath::new(&format!("/{target}"))?, &dir)?;
        tree.insert(
            &GuestPath::root().join(&link)?,
            Meta::root(0o777, mtime),
            Kind::Symlink(target),
        )?;
    }
    Ok(())
}
