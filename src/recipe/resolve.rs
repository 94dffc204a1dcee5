//! `RecipeFile` → [`Recipe`]: defaults, the host mirror, cross-key rules.
//!
//! Defaults (each set here and nowhere else): `table = "msdos"`,
//! `architecture` = the build host's Debian architecture, `variant =
//! "minbase"` (stored as its synonym `required`), `mirror = "host"`,
//! `components = ["main"]`, `configure = "auto"`, root partitions
//! formatted `ext3` (the seed's `mke2fs -j`).

use std::path::{Path, PathBuf};

use super::file::{PartitionFile, RecipeFile};
use super::{
    ConfigureStrategy, Error, FsKind, Image, PartSize, Partition, PartitionUse,
    Recipe, Result, System, TableKind, Variant,
};
use crate::repo::{host_sources, transport};
use crate::resolve::relation::is_valid_name;

/// `System::mirror_origin` of a mirror URL written in the recipe.
pub const FROM_RECIPE: &str = "recipe";

/// Fill in defaults and check the rules that span keys.
pub fn resolve(
    name: &str,
    path: Option<PathBuf>,
    file: RecipeFile,
    apt_root: &Path,
) -> Result<Recipe> {
    let invalid = |key: &str, message: String| Error::Invalid {
        file: name.into(),
        key: key.into(),
        message,
    };
    check_name(&file.image.name).map_err(|m| invalid("image.name", m))?;
    let partitions =
        partitions(&file.partitions).map_err(|(key, m)| invalid(&key, m))?;
    let sys = file.system;
    if sys.suite.trim().is_empty() {
        return Err(invalid("system.suite", "must not be empty".into()));
    }
    let architecture = sys.architecture.unwrap_or_else(host_architecture);
    let (mirror, mirror_origin) = match sys.mirror.as_deref() {
        None | Some("host") => host_mirror(name, apt_root)?,
        Some(url) => {
            let mirror = transport::parse_mirror(url).map_err(|e| {
                invalid("system.mirror", format!("{e}, or \"host\""))
            })?;
            (mirror, FROM_RECIPE.to_string())
        }
    };
    let variant = match sys.variant.unwrap_or(Variant::Minbase) {
        Variant::Minbase => Variant::Required,
        v => v,
    };
    for (key, list) in [
        ("system.include", &sys.include),
        ("system.exclude", &sys.exclude),
    ] {
        if let Some(bad) = list.iter().find(|p| !is_valid_name(p)) {
            return Err(invalid(key, format!("{bad:?} is not a package name")));
        }
    }
    if let Some(a) = &file.access {
        check_access(a).map_err(|(key, m)| invalid(key, m))?;
    }
    let components = sys.components.unwrap_or_else(|| vec!["main".into()]);
    if components.is_empty() {
        return Err(invalid("system.components", "must not be empty".into()));
    }
    let keyring = sys
        .keyring
        .unwrap_or_default()
        .into_iter()
        .map(|k| relative_to(path.as_deref(), &k))
        .collect();
    Ok(Recipe {
        source: path,
        image: Image {
            name: file.image.name,
            size: file.image.size,
            table: file.image.table.unwrap_or(TableKind::Msdos),
        },
        partitions,
        system: System {
            suite: sys.suite,
            architecture,
            variant,
            mirror,
            mirror_origin,
            components,
            include: sys.include,
            exclude: sys.exclude,
            keyring,
            configure: sys.configure.unwrap_or(ConfigureStrategy::Auto),
        },
        network: file.network,
        xen: file.xen,
        iscsi: file.iscsi,
        access: file.access,
    })
}

/// The guest name becomes a file name and a Xen domain name.
fn check_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'
        })
        && !name.starts_with(['-', '.']);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} must be 1-63 characters of letters, digits, '-', '_' \
             or '.', not starting with '-' or '.'"
        ))
    }
}

/// Per-partition defaults and the rules of the partition list.
fn partitions(
    list: &[PartitionFile],
) -> std::result::Result<Vec<Partition>, (String, String)> {
    let mut out = Vec::with_capacity(list.len());
    let mut rest = None;
    let mut root = None;
    for (i, p) in list.iter().enumerate() {
        let key = |k: &str| format!("partitions[{i}].{k}");
        if p.size == PartSize::Rest {
            if let Some(first) = rest {
                return Err((
                    key("size"),
                    format!("only one partition may be \"rest\" (partitions[{first}] is too)"),
                ));
            }
            rest = Some(i);
        }
        let fs = match (p.usage, p.fs) {
            (PartitionUse::Swap, Some(_)) => {
                return Err((
                    key("fs"),
                    "a swap partition has no file system".into(),
                ))
            }
            (PartitionUse::Swap, None) => None,
            (PartitionUse::Esp, None | Some(FsKind::Vfat)) => {
                Some(FsKind::Vfat)
            }
            (PartitionUse::Esp, Some(_)) => {
                return Err((
                    key("fs"),
                    "an EFI system partition is vfat".into(),
                ))
            }
            (PartitionUse::Root, Some(FsKind::Vfat)) => {
                return Err((
                    key("fs"),
                    "the root file system cannot be vfat".into(),
                ))
            }
            (_, Some(fs)) => Some(fs),
            (_, None) => Some(FsKind::Ext3),
        };
        if p.usage == PartitionUse::Root {
            if let Some(first) = root {
                return Err((
                    key("use"),
                    format!(
                        "only one root partition (partitions[{first}] is one)"
                    ),
                ));
            }
            root = Some(i);
        }
        if p.usage == PartitionUse::Data && p.mount.is_none() {
            return Err((
                key("mount"),
                "a data partition needs a mount point".into(),
            ));
        }
        if let Some(m) = &p.mount {
            if !m.starts_with('/') {
                return Err((
                    key("mount"),
                    format!("{m:?} is not an absolute path"),
                ));
            }
        }
        out.push(Partition {
            usage: p.usage,
            size: p.size,
            fs,
            label: p.label.clone(),
            mount: p.mount.clone(),
        });
    }
    if !list.is_empty() && root.is_none() {
        return Err((
            "partitions".into(),
            "no partition has use = \"root\"".into(),
        ));
    }
    Ok(out)
}

/// The Debian archive entry of the host's apt sources.
fn host_mirror(name: &str, apt_root: &Path) -> Result<(String, String)> {
    let none = |detail: String| Error::NoHostMirror {
        file: name.into(),
        detail,
    };
    let entries = host_sources::read(apt_root)
        .map_err(|e| none(format!("its apt sources cannot be read: {e}")))?;
    let (entry, uri) =
        host_sources::debian_archive(&entries).ok_or_else(|| {
            none(format!(
                "no Debian archive entry was found in {}",
                apt_root.join("etc/apt").display()
            ))
        })?;
    let where_ = format!("{}:{}", entry.file.display(), entry.line);
    // `debian_archive` only picks URIs that `parse_mirror` accepts.
    let mirror = transport::parse_mirror(uri)
        .map_err(|e| none(format!("{where_}: {e}")))?;
    Ok((mirror, where_))
}

/// A path in the recipe is relative to the recipe's directory.
fn relative_to(recipe: Option<&Path>, p: &str) -> PathBuf {
    let p = PathBuf::from(p);
    match recipe.and_then(Path::parent) {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p,
    }
}

/// The build host's Debian architecture name.
pub fn host_architecture() -> String {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "i386",
        "arm" => "armhf",
        "powerpc64" => "ppc64el",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
    .into()
}

/// A password hash in crypt(3) form and single-line keys: a clear-text
/// password or a line break would end up in `/etc/shadow` or
/// `authorized_keys` as something else.
fn check_access(
    a: &super::file::AccessFile,
) -> std::result::Result<(), (&'static str, String)> {
    if let Some(h) = &a.root_password_hash {
        let ok = h.starts_with('$')
            && h.len() > 3
            && !h
                .bytes()
                .any(|b| b == b':' || b == b'\'' || b.is_ascii_whitespace());
        if !ok {
            return Err((
                "access.root_password_hash",
                "expected a crypt(3) hash such as the output of `mkpasswd -m \
                 yescrypt` ($y$…), not a password"
                    .into(),
            ));
        }
    }
    for k in &a.root_authorized_keys {
        if k.trim().is_empty() || k.contains('\n') || k.contains('\r') {
            return Err((
                "access.root_authorized_keys",
                format!("{k:?} is not one authorized_keys line"),
            ));
        }
    }
    Ok(())
}
