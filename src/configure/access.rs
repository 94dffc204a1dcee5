//! How the operator gets in: root's password hash and SSH keys from the
//! recipe's `[access]`.
//!
//! Keys go straight into the tree. The password goes into `/etc/shadow`,
//! which exists only once the `passwd` package is configured: the chroot
//! strategy edits it afterwards, the first-boot step sets it with
//! `usermod -p` right after `dpkg --configure -a`.

use super::{Error, Result};
use crate::recipe::file::AccessFile;
use crate::tree::{GuestPath, Kind, Meta, Tree};

/// root's `authorized_keys`, with `/root/.ssh` 0700 and the file 0600.
pub fn authorized_keys(
    tree: &mut Tree,
    access: &AccessFile,
    sde: i64,
) -> Result<()> {
    if access.root_authorized_keys.is_empty() {
        return Ok(());
    }
    let ssh = GuestPath::new("/root/.ssh")?;
    tree.create_dirs(&GuestPath::new("/root")?, &Meta::root(0o700, sde))?;
    tree.insert(&ssh, Meta::root(0o700, sde), Kind::Dir)?;
    let mut text = access.root_authorized_keys.join("\n");
    text.push('\n');
    tree.write_file(
        &ssh.join("authorized_keys")?,
        Meta::root(0o600, sde),
        text.as_bytes(),
    )?;
    Ok(())
}

/// Set root's password hash in the configured tree's `/etc/shadow`.
pub fn set_root_password(tree: &mut Tree, hash: &str) -> Result<()> {
    let path = GuestPath::new("/etc/shadow")?;
    let inode = tree.get(&path).ok_or_else(|| Error::Access {
        what: "/etc/shadow is missing (is the passwd package installed?)"
            .into(),
    })?;
    let Kind::File(c) = &inode.kind else {
        return Err(Error::Access {
            what: "/etc/shadow is not a file".into(),
        });
    };
    let meta = inode.meta.clone();
    let text = tree.spool().read(c).map_err(|e| Error::Access {
        what: format!("/etc/shadow: {e}"),
    })?;
    let text = String::from_utf8_lossy(&text);
    let mut found = false;
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            let mut f: Vec<&str> = l.split(':').collect();
            if f.first() == Some(&"root") && f.len() > 1 {
                found = true;
                f[1] = hash;
                f.join(":")
            } else {
                l.to_string()
            }
        })
        .collect();
    if !found {
        return Err(Error::Access {
            what: "/etc/shadow has no root entry".into(),
        });
    }
    let mut out = lines.join("\n");
    out.push('\n');
    tree.write_file(&path, meta, out.as_bytes())?;
    Ok(())
}

/// The shell line the first-boot step runs after configuring.
pub fn firstboot_password_line(hash: &str) -> String {
    // The hash was checked to hold no quote, colon or white space.
    format!("usermod -p '{hash}' root\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_only_roots_hash() {
        let mut t = Tree::new(0).unwrap();
        let etc = GuestPath::new("/etc").unwrap();
        t.insert(&etc, Meta::root(0o755, 0), Kind::Dir).unwrap();
        let mut m = Meta::root(0o640, 0);
        m.gid = 42;
        t.write_file(
            &etc.join("shadow").unwrap(),
            m,
            b"root:*:20000:0:99999:7:::\ndaemon:*:20000:0:99999:7:::\n",
        )
        .unwrap();
        set_root_password(&mut t, "$y$j9T$abc$def").unwrap();
        let n = t.get(&etc.join("shadow").unwrap()).unwrap();
        let Kind::File(c) = &n.kind else { panic!() };
        assert_eq!(
            t.spool().read(c).unwrap(),
            b"root:$y$j9T$abc$def:20000:0:99999:7:::\ndaemon:*:20000:0:99999:7:::\n"
        );
        assert_eq!((n.meta.mode, n.meta.gid), (0o640, 42));
        let mut empty = Tree::new(0).unwrap();
        assert!(set_root_password(&mut empty, "$1$x").is_err());
    }

    #[test]
    fn keys_are_private() {
        let mut t = Tree::new(0).unwrap();
        let a = AccessFile {
            root_password_hash: None,
            root_authorized_keys: vec!["ssh-ed25519 AAAA op@host".into()],
            ..Default::default()
        };
        authorized_keys(&mut t, &a, 0).unwrap();
        let f = t
            .get(&GuestPath::new("/root/.ssh/authorized_keys").unwrap())
            .unwrap();
        assert_eq!(f.meta.mode, 0o600);
        assert_eq!(
            t.get(&GuestPath::new("/root/.ssh").unwrap())
                .unwrap()
                .meta
                .mode,
            0o700
        );
    }
}
