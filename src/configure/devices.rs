//! `/dev`: the device nodes a Debian root carries before udev or devtmpfs
//! takes over, replacing the seed's `MAKEDEV console tty1 … tty6`.
//!
//! The base set is mmdebstrap's (so the trees compare equal); the Xen
//! additions are the guest's consoles (`tty1`–`tty6` and `hvc0`, the Xen
//! console on which a getty runs) and its disk, `xvda` with a node per
//! partition, where the seed had `hda1`/`hda2`. Numbers from the kernel's
//! `Documentation/admin-guide/devices.txt`.

use super::Result;
use crate::tree::{GuestPath, Kind, Meta, Tree};

/// GID of group `tty` in Debian's base-passwd.
const TTY_GID: u32 = 5;

/// A character device: name, major, minor, mode, gid.
type CharDev = (&'static str, u32, u32, u32, u32);

/// The character devices lunforge creates.
const CHAR_DEVICES: &[CharDev] = &[
    ("console", 5, 1, 0o666, 0),
    ("full", 1, 7, 0o666, 0),
    ("null", 1, 3, 0o666, 0),
    ("ptmx", 5, 2, 0o666, 0),
    ("random", 1, 8, 0o666, 0),
    ("tty", 5, 0, 0o666, 0),
    ("urandom", 1, 9, 0o666, 0),
    ("zero", 1, 5, 0o666, 0),
    ("tty1", 4, 1, 0o620, TTY_GID),
    ("tty2", 4, 2, 0o620, TTY_GID),
    ("tty3", 4, 3, 0o620, TTY_GID),
    ("tty4", 4, 4, 0o620, TTY_GID),
    ("tty5", 4, 5, 0o620, TTY_GID),
    ("tty6", 4, 6, 0o620, TTY_GID),
    ("hvc0", 229, 0, 0o620, TTY_GID),
];

/// Symlinks into `/proc`.
const LINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stderr", "/proc/self/fd/2"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
];

/// GID of group `disk` in Debian's base-passwd.
const DISK_GID: u32 = 6;

/// Major number of Xen's virtual block devices (`xvd*`).
const XVD_MAJOR: u32 = 202;

/// Create `/dev` with its nodes, `pts/` and `shm/`, and the guest's disk
/// as the Xen config names it: `xvda` and one `xvdaN` per partition
/// (`partitions` of them), block devices 202:N, root:disk 0660.
pub fn populate(tree: &mut Tree, partitions: usize, mtime: i64) -> Result<()> {
    let dev = GuestPath::new("/dev")?;
    tree.create_dirs(&dev, &Meta::root(0o755, mtime))?;
    for dir in ["pts", "shm"] {
        tree.insert(&dev.join(dir)?, Meta::root(0o755, mtime), Kind::Dir)?;
    }
    for &(name, major, minor, mode, gid) in CHAR_DEVICES {
        let mut meta = Meta::root(mode, mtime);
        meta.gid = gid;
        tree.insert(&dev.join(name)?, meta, Kind::CharDev { major, minor })?;
    }
    for n in 0..=partitions {
        let name = if n == 0 {
            "xvda".to_string()
        } else {
            format!("xvda{n}")
        };
        let mut meta = Meta::root(0o660, mtime);
        meta.gid = DISK_GID;
        let minor = u32::try_from(n).unwrap_or(u32::MAX);
        tree.insert(
            &dev.join(&name)?,
            meta,
            Kind::BlockDev {
                major: XVD_MAJOR,
                minor,
            },
        )?;
    }
    for &(name, target) in LINKS {
        tree.insert(
            &dev.join(name)?,
            Meta::root(0o777, mtime),
            Kind::Symlink(target.into()),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_the_consoles() {
        let mut t = Tree::new(0).unwrap();
        populate(&mut t, 2, 0).unwrap();
        let get = |p: &str| t.get(&GuestPath::new(p).unwrap()).unwrap().clone();
        assert_eq!(
            get("/dev/hvc0").kind,
            Kind::CharDev {
                major: 229,
                minor: 0
            }
        );
        assert_eq!(get("/dev/tty3").meta.gid, TTY_GID);
        assert_eq!(get("/dev/null").meta.mode, 0o666);
        assert_eq!(get("/dev/fd").kind, Kind::Symlink("/proc/self/fd".into()));
        assert_eq!(
            get("/dev/xvda2").kind,
            Kind::BlockDev {
                major: 202,
                minor: 2
            }
        );
        assert_eq!(get("/dev/xvda").meta.gid, DISK_GID);
        assert_eq!(t.len(), 1 + 1 + 2 + CHAR_DEVICES.len() + 3 + LINKS.len());
    }
}
