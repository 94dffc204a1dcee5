//! What the built guest says of each package the lock installed: its
//! source package, from dpkg's `status` (`Source: NAME` or
//! `Source: NAME (VERSION)`, absent when the source is named and
//! versioned like the binary; Debian Policy §5.6.1), and its licenses,
//! from `/usr/share/doc/PKG/copyright` ([`super::dep5`]).
//!
//! Read from the tree after it is configured, so what the SBOM states
//! is what the guest holds: a package whose copyright file is missing
//! (a `path-exclude`, a file some script removed) declares nothing.

use std::collections::BTreeMap;

use super::dep5::{self, Declared};
use super::{Error, Result};
use crate::repo::deb822::Paragraphs;
use crate::resolve::lockfile::{Lock, LockedPackage};
use crate::tree::{GuestPath, Kind, Tree};

/// dpkg's database of the installed packages.
const STATUS: &str = "/var/lib/dpkg/status";

/// A copyright file larger than this is not read (none in Debian comes
/// near it): a package cannot make the build hold an arbitrary file in
/// memory.
const MAX_COPYRIGHT: u64 = 16 << 20;

/// What the guest says of one installed package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// Its source package's name and version; `None` when dpkg's
    /// database does not list the package.
    pub source: Option<(String, String)>,
    /// What its copyright file declares.
    pub declared: Declared,
}

/// What the guest says of every package of `lock.packages`, in order.
pub fn read(tree: &Tree, lock: &Lock) -> Result<Vec<Installed>> {
    let status = read_file(tree, STATUS, u64::MAX)?
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let sources = sources(&status);
    lock.packages
        .iter()
        .map(|p| {
            let key = (p.name.as_str(), p.architecture.as_str());
            let source = sources.get(&key).map(|s| source_of(p, s));
            Ok(Installed {
                source,
                declared: declared(tree, &p.name)?,
            })
        })
        .collect()
}

/// `(Package, Architecture)` → the `Source` field (`""` when absent)
/// of every paragraph of `status`.
fn sources(status: &str) -> BTreeMap<(&str, &str), &str> {
    Paragraphs::new(status)
        .map_while(|p| p.ok())
        .filter_map(|p| {
            let name = p.get("Package")?;
            let arch = p.get("Architecture")?;
            Some(((name, arch), p.get("Source").unwrap_or("")))
        })
        .collect()
}

/// The source package of `p` from its `Source` field.
fn source_of(p: &LockedPackage, field: &str) -> (String, String) {
    let field = field.trim();
    match field.split_once('(') {
        Some((name, version)) => (
            name.trim().to_string(),
            version.trim_end_matches(')').trim().to_string(),
        ),
        None if field.is_empty() => (p.name.clone(), p.version.clone()),
        None => (field.to_string(), p.version.clone()),
    }
}

/// What `/usr/share/doc/NAME/copyright` declares.
fn declared(tree: &Tree, name: &str) -> Result<Declared> {
    let path = format!("/usr/share/doc/{name}/copyright");
    Ok(match read_file(tree, &path, MAX_COPYRIGHT)? {
        None => Declared::Unknown("missing".into()),
        Some(bytes) => match std::str::from_utf8(&bytes) {
            Ok(text) => dep5::declared(text),
            Err(_) => Declared::Unknown("not UTF-8".into()),
        },
    })
}

/// The bytes of the regular file at `path` (symlinks followed), `None`
/// when there is none or it is larger than `max`.
fn read_file(tree: &Tree, path: &str, max: u64) -> Result<Option<Vec<u8>>> {
    let Ok(path) = GuestPath::new(path) else {
        return Ok(None);
    };
    let Ok(real) = tree.resolve(&path, true) else {
        return Ok(None);
    };
    match tree.get(&real).map(|n| &n.kind) {
        Some(Kind::File(c)) if c.len() <= max => tree
            .spool()
            .read(c)
            .map(Some)
            .map_err(|source| Error::Read { path: real, source }),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Meta;

    fn package(name: &str, version: &str) -> LockedPackage {
        LockedPackage {
            name: name.into(),
            version: version.into(),
            architecture: "amd64".into(),
            path: format!("pool/main/{name}.deb"),
            size: 1,
            sha256: [0; 32],
            why: "system.include".into(),
            auto: false,
        }
    }

    #[test]
    fn source_fields_as_dpkg_writes_them() {
        let p = package("libfoo1", "1.0-1+b2");
        assert_eq!(source_of(&p, ""), ("libfoo1".into(), "1.0-1+b2".into()));
        assert_eq!(source_of(&p, "foo"), ("foo".into(), "1.0-1+b2".into()));
        assert_eq!(
            source_of(&p, "foo (1:1.0-1)"),
            ("foo".into(), "1:1.0-1".into())
        );
    }

    #[test]
    fn the_tree_is_read_through_symlinks_and_within_bounds() {
        let mut tree = Tree::new(0).unwrap();
        let meta = Meta::root(0o755, 0);
        let dir = GuestPath::new("/usr/share/doc/foo").unwrap();
        tree.create_dirs(&dir, &meta).unwrap();
        let status = "Package: foo\nArchitecture: amd64\nVersion: 2\n\n\
                      Package: bar\nArchitecture: amd64\nSource: foo (1)\n\
                      Version: 2\n";
        for (path, text) in [
            ("/var/lib/dpkg/status", status),
            (
                "/usr/share/doc/foo/copyright",
                "Format: x\n\nFiles: *\nLicense: GPL-2+\n",
            ),
        ] {
            let p = GuestPath::new(path).unwrap();
            tree.create_dirs(&p.parent().unwrap(), &meta).unwrap();
            tree.write_file(&p, Meta::root(0o644, 0), text.as_bytes())
                .unwrap();
        }
        // bar's documentation is foo's, as Policy §12.5 allows.
        tree.insert(
            &GuestPath::new("/usr/share/doc/bar").unwrap(),
            Meta::root(0o777, 0),
            Kind::Symlink("foo".into()),
        )
        .unwrap();
        let lock_packages = vec![
            package("bar", "2"),
            package("foo", "2"),
            package("gone", "3"),
        ];
        let mut lock = crate::resolve::lockfile::tests::sample();
        lock.packages = lock_packages;
        let got = read(&tree, &lock).unwrap();
        assert_eq!(got[0].source, Some(("foo".into(), "1".into())));
        assert_eq!(got[1].source, Some(("foo".into(), "2".into())));
        assert_eq!(got[0].declared, got[1].declared);
        assert!(matches!(got[0].declared, Declared::Licenses { .. }));
        assert_eq!(got[2].source, None);
        assert_eq!(got[2].declared, Declared::Unknown("missing".into()));
        let big = read_file(&tree, STATUS, 4).unwrap();
        assert_eq!(big, None);
    }
}
