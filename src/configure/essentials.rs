//! What the essential packages' maintainer scripts set up, reproduced at
//! build time for the `firstboot` strategy, so that an image is a usable
//! Debian root even before its first boot configures it (a rescue
//! chroot, the first-boot step itself): users and groups, name service
//! switch, login shells, root's dotfiles, and the alternatives that
//! scripts call by their generic names (`awk`, `pager`, `rmt`, `which`).
//!
//! Each file is what the named script would write, taken from the file
//! the package ships for the purpose, and only where the script would
//! write it (the file is missing). The alternatives are written with
//! update-alternatives' own administrative files, so that the postinst
//! at first boot finds them consistent and changes nothing.

use super::Result;
use crate::tree::{GuestPath, Kind, Meta, Tree};

/// `(shipped file, installed as, mode, script that copies it)`.
const COPIES: &[(&str, &str, u32, &str)] = &[
    (
        "/usr/share/base-passwd/passwd.master",
        "/etc/passwd",
        0o644,
        "base-passwd preinst",
    ),
    (
        "/usr/share/base-passwd/group.master",
        "/etc/group",
        0o644,
        "base-passwd preinst",
    ),
    (
        "/usr/share/libc-bin/nsswitch.conf",
        "/etc/nsswitch.conf",
        0o644,
        "libc-bin postinst",
    ),
    (
        "/usr/share/debianutils/shells",
        "/etc/shells",
        0o644,
        "debianutils postinst",
    ),
    (
        "/usr/share/base-files/dot.profile",
        "/root/.profile",
        0o644,
        "base-files postinst",
    ),
    (
        "/usr/share/base-files/dot.bashrc",
        "/root/.bashrc",
        0o644,
        "base-files postinst",
    ),
    (
        "/usr/share/base-files/profile",
        "/etc/profile",
        0o644,
        "base-files postinst",
    ),
    (
        "/usr/share/base-files/motd",
        "/etc/motd",
        0o644,
        "base-files postinst",
    ),
];

/// One alternative as its package's postinst installs it.
struct Alternative {
    name: &'static str,
    link: &'static str,
    path: &'static str,
    priority: u32,
    /// `(name, link, path)`, in name order as update-alternatives keeps
    /// them.
    slaves: &'static [(&'static str, &'static str, &'static str)],
}

/// The alternatives of the essential set (mawk, util-linux, tar,
/// debianutils).
const ALTERNATIVES: &[Alternative] = &[
    Alternative {
        name: "awk",
        link: "/usr/bin/awk",
        path: "/usr/bin/mawk",
        priority: 5,
        slaves: &[
            (
                "awk.1.gz",
                "/usr/share/man/man1/awk.1.gz",
                "/usr/share/man/man1/mawk.1.gz",
            ),
            ("nawk", "/usr/bin/nawk", "/usr/bin/mawk"),
            (
                "nawk.1.gz",
                "/usr/share/man/man1/nawk.1.gz",
                "/usr/share/man/man1/mawk.1.gz",
            ),
        ],
    },
    Alternative {
        name: "pager",
        link: "/usr/bin/pager",
        path: "/bin/more",
        priority: 50,
        slaves: &[(
            "pager.1.gz",
            "/usr/share/man/man1/pager.1.gz",
            "/usr/share/man/man1/more.1.gz",
        )],
    },
    Alternative {
        name: "rmt",
        link: "/usr/sbin/rmt",
        path: "/usr/sbin/rmt-tar",
        priority: 50,
        slaves: &[(
            "rmt.8.gz",
            "/usr/share/man/man8/rmt.8.gz",
            "/usr/share/man/man8/rmt-tar.8.gz",
        )],
    },
    Alternative {
        name: "which",
        link: "/usr/bin/which",
        path: "/usr/bin/which.debianutils",
        priority: 0,
        slaves: &[(
            "which.1.gz",
            "/usr/share/man/man1/which.1.gz",
            "/usr/share/man/man1/which.debianutils.1.gz",
        )],
    },
];

/// Apply every reproduced effect whose source the tree holds.
pub fn apply(tree: &mut Tree, sde: i64) -> Result<()> {
    for &(from, to, mode, _script) in COPIES {
        copy_if_missing(tree, from, to, mode, sde)?;
    }
    for alt in ALTERNATIVES {
        alternative(tree, alt, sde)?;
    }
    Ok(())
}

/// The bytes of the regular file at `path` (symlinks followed).
fn read(tree: &Tree, path: &str) -> Result<Option<Vec<u8>>> {
    let p = tree.resolve(&GuestPath::new(path)?, true)?;
    match tree.get(&p).map(|n| &n.kind) {
        Some(Kind::File(c)) => Ok(Some(
            tree.spool().read(c).map_err(crate::tree::Error::Spool)?,
        )),
        _ => Ok(None),
    }
}

fn exists(tree: &Tree, path: &str) -> Result<bool> {
    let p = tree.resolve(&GuestPath::new(path)?, true)?;
    Ok(tree.get(&p).is_some())
}

fn copy_if_missing(
    tree: &mut Tree,
    from: &str,
    to: &str,
    mode: u32,
    sde: i64,
) -> Result<()> {
    if exists(tree, to)? {
        return Ok(());
    }
    let Some(bytes) = read(tree, from)? else {
        return Ok(());
    };
    let to = GuestPath::new(to)?;
    if let Some(parent) = to.parent() {
        let dir_mode = if parent.as_str() == "/root" {
            0o700
        } else {
            0o755
        };
        tree.create_dirs(&parent, &Meta::root(dir_mode, sde))?;
    }
    tree.write_file(&to, Meta::root(mode, sde), &bytes)?;
    Ok(())
}

fn symlink(tree: &mut Tree, at: &str, target: &str, sde: i64) -> Result<()> {
    tree.insert(
        &GuestPath::new(at)?,
        Meta::root(0o777, sde),
        Kind::Symlink(target.into()),
    )?;
    Ok(())
}

/// The links and the administrative file update-alternatives writes for
/// `--install LINK NAME PATH PRIORITY --slave …` on a fresh system.
fn alternative(tree: &mut Tree, a: &Alternative, sde: i64) -> Result<()> {
    let admin =
        GuestPath::new(&format!("/var/lib/dpkg/alternatives/{}", a.name))?;
    if !exists(tree, a.path)? || tree.get(&admin).is_some() {
        return Ok(());
    }
    let etc_alt = |n: &str| format!("/etc/alternatives/{n}");
    tree.create_dirs(
        &GuestPath::new("/etc/alternatives")?,
        &Meta::root(0o755, sde),
    )?;
    tree.create_dirs(
        &GuestPath::new("/var/lib/dpkg/alternatives")?,
        &Meta::root(0o755, sde),
    )?;
    symlink(tree, &etc_alt(a.name), a.path, sde)?;
    symlink(tree, a.link, &etc_alt(a.name), sde)?;
    let mut text = format!("auto\n{}\n", a.link);
    let mut choice = format!("{}\n{}\n", a.path, a.priority);
    for &(name, link, path) in a.slaves {
        text.push_str(&format!("{name}\n{link}\n"));
        if exists(tree, path)? {
            symlink(tree, &etc_alt(name), path, sde)?;
            symlink(tree, link, &etc_alt(name), sde)?;
            choice.push_str(path);
        }
        choice.push('\n');
    }
    text.push('\n');
    text.push_str(&choice);
    text.push('\n');
    tree.write_file(&admin, Meta::root(0o644, sde), text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> GuestPath {
        GuestPath::new(s).unwrap()
    }

    #[test]
    fn awk_alternative_as_update_alternatives_writes_it() {
        let mut t = Tree::new(0).unwrap();
        let dir = Meta::root(0o755, 0);
        for d in ["/usr/bin", "/usr/share/man/man1", "/var/lib/dpkg", "/etc"] {
            t.create_dirs(&p(d), &dir).unwrap();
        }
        t.write_file(&p("/usr/bin/mawk"), Meta::root(0o755, 0), b"elf")
            .unwrap();
        t.write_file(
            &p("/usr/share/man/man1/mawk.1.gz"),
            Meta::root(0o644, 0),
            b"man",
        )
        .unwrap();
        apply(&mut t, 0).unwrap();
        let Kind::File(c) =
            &t.get(&p("/var/lib/dpkg/alternatives/awk")).unwrap().kind
        else {
            panic!("no admin file")
        };
        // The administrative file of a real trixie root, byte for byte.
        assert_eq!(
            String::from_utf8(t.spool().read(c).unwrap()).unwrap(),
            "auto\n/usr/bin/awk\nawk.1.gz\n/usr/share/man/man1/awk.1.gz\nnawk\n\
             /usr/bin/nawk\nnawk.1.gz\n/usr/share/man/man1/nawk.1.gz\n\n\
             /usr/bin/mawk\n5\n/usr/share/man/man1/mawk.1.gz\n/usr/bin/mawk\n\
             /usr/share/man/man1/mawk.1.gz\n\n"
        );
        assert_eq!(
            t.resolve(&p("/usr/bin/awk"), true).unwrap(),
            p("/usr/bin/mawk")
        );
        assert!(t.get(&p("/var/lib/dpkg/alternatives/pager")).is_none());
    }

    #[test]
    fn copies_only_what_is_missing() {
        let mut t = Tree::new(0).unwrap();
        let dir = Meta::root(0o755, 0);
        t.create_dirs(&p("/usr/share/base-passwd"), &dir).unwrap();
        t.create_dirs(&p("/etc"), &dir).unwrap();
        t.write_file(
            &p("/usr/share/base-passwd/passwd.master"),
            Meta::root(0o644, 0),
            b"root:*:0:0\n",
        )
        .unwrap();
        t.write_file(
            &p("/usr/share/base-passwd/group.master"),
            Meta::root(0o644, 0),
            b"root:*:0:\n",
        )
        .unwrap();
        t.write_file(&p("/etc/group"), Meta::root(0o644, 0), b"mine\n")
            .unwrap();
        apply(&mut t, 0).unwrap();
        let text = |s| match &t.get(&p(s)).unwrap().kind {
            Kind::File(c) => t.spool().read(c).unwrap(),
            _ => panic!(),
        };
        assert_eq!(text("/etc/passwd"), b"root:*:0:0\n");
        assert_eq!(text("/etc/group"), b"mine\n");
        assert!(t.get(&p("/etc/nsswitch.conf")).is_none());
    }
}
