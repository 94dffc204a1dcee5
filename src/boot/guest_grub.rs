//! The guest's own boot loader configuration, `/boot/grub/grub.cfg`
//! (GRUB 2 syntax, read by pygrub and by pvgrub2) and `/boot/grub/menu.lst`
//! (GRUB legacy syntax, read by pygrub and by the old pvgrub), so a host
//! may boot the guest from its own disk (`bootloader = "pygrub"` in xl)
//! instead of `kernel =`/`ramdisk =`.
//!
//! Both boot `/boot/vmlinuz-VERSION` and `/boot/initrd.img-VERSION` of the
//! root file system with [`super::guest_cmdline`]. pygrub ignores
//! `insmod` and `search`; pvgrub2 needs them to find the root file system.
//!
//! Reference: GRUB manual ("Shell-like scripting", `linux`, `initrd`,
//! `search`); GRUB legacy manual; pygrub's `GrubConf.py` for what it
//! understands.

use super::{guest_cmdline, BootFacts, Result};
use crate::recipe::{PartitionUse, Recipe};
use crate::tree::{GuestPath, Meta, Tree};

/// The two files, as bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestGrub {
    /// `/boot/grub/grub.cfg`.
    pub grub_cfg: Vec<u8>,
    /// `/boot/grub/menu.lst`.
    pub menu_lst: Vec<u8>,
}

/// The guest's boot loader files for `recipe`'s image.
pub fn files(recipe: &Recipe, facts: &BootFacts) -> GuestGrub {
    let v = &facts.kernel_version;
    let cmdline = guest_cmdline(recipe, facts);
    let title = format!("Debian GNU/Linux, with Linux {v}");
    let grub_cfg = format!(
        "# Written by lunforge for pygrub and pvgrub2.\n\
         set default=0\n\
         set timeout=1\n\
         menuentry '{title}' --class debian --class gnu-linux --class os {{\n\
         \tinsmod part_msdos\n\
         \tinsmod part_gpt\n\
         \tinsmod ext2\n\
         \tsearch --no-floppy --fs-uuid --set=root {uuid}\n\
         \tlinux\t/boot/vmlinuz-{v} {cmdline}\n\
         \tinitrd\t/boot/initrd.img-{v}\n\
         }}\n",
        uuid = facts.root_uuid,
    );
    // GRUB legacy counts partitions from 0; the table's order is the
    // recipe's.
    let root_index = recipe
        .partitions
        .iter()
        .position(|p| p.usage == PartitionUse::Root)
        .unwrap_or(0);
    let menu_lst = format!(
        "# Written by lunforge for pygrub and pvgrub.\n\
         default 0\n\
         timeout 1\n\
         \n\
         title {title}\n\
         root (hd0,{root_index})\n\
         kernel /boot/vmlinuz-{v} {cmdline}\n\
         initrd /boot/initrd.img-{v}\n"
    );
    GuestGrub {
        grub_cfg: grub_cfg.into_bytes(),
        menu_lst: menu_lst.into_bytes(),
    }
}

/// Put `files` into the guest tree as `/boot/grub/grub.cfg` and
/// `/boot/grub/menu.lst` (0644 root:root, directories 0755), with
/// modification time `mtime`.
pub fn install(tree: &mut Tree, files: &GuestGrub, mtime: i64) -> Result<()> {
    let path = |p: &str| GuestPath::new(p).map_err(crate::tree::Error::from);
    let dir = path("/boot/grub")?;
    tree.create_dirs(&dir, &Meta::root(0o755, mtime))?;
    for (name, bytes) in
        [("grub.cfg", &files.grub_cfg), ("menu.lst", &files.menu_lst)]
    {
        let file = dir.join(name).map_err(crate::tree::Error::from)?;
        tree.write_file(&file, Meta::root(0o644, mtime), bytes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::tests::{facts, recipe};

    #[test]
    fn both_files_boot_the_root_by_uuid() {
        let f = facts();
        let g = files(&recipe(), &f);
        let cfg = String::from_utf8(g.grub_cfg).unwrap();
        let want = format!(
            "\tlinux\t/boot/vmlinuz-6.12.48+deb13-amd64 root=UUID={} ro \
             console=hvc0 net.ifnames=0\n\
             \tinitrd\t/boot/initrd.img-6.12.48+deb13-amd64\n",
            f.root_uuid
        );
        assert!(cfg.contains(&want), "{cfg}");
        let lst = String::from_utf8(g.menu_lst).unwrap();
        // The embedded recipe's root is its second partition.
        assert!(lst.contains("\nroot (hd0,1)\n"), "{lst}");
        assert!(
            lst.contains(&format!(
                "\nkernel /boot/vmlinuz-6.12.48+deb13-amd64 root=UUID={} ro \
             console=hvc0 net.ifnames=0\n",
                f.root_uuid
            )),
            "{lst}"
        );
    }

    #[test]
    fn both_files_carry_the_recipe_s_cmdline() {
        let mut r = recipe();
        r.boot.cmdline = "quiet".into();
        let g = files(&r, &facts());
        for text in [g.grub_cfg, g.menu_lst] {
            let text = String::from_utf8(text).unwrap();
            assert!(text.contains(" net.ifnames=0 quiet\n"), "{text}");
        }
    }

    #[test]
    fn install_puts_them_under_boot_grub() {
        let mut tree = Tree::new(7).unwrap();
        let g = files(&recipe(), &facts());
        install(&mut tree, &g, 7).unwrap();
        for name in ["/boot/grub/grub.cfg", "/boot/grub/menu.lst"] {
            let node = tree.get(&GuestPath::new(name).unwrap()).unwrap();
            assert_eq!(node.meta.mode, 0o644, "{name}");
            assert_eq!(node.meta.mtime, 7, "{name}");
        }
        let boot = tree.get(&GuestPath::new("/boot").unwrap()).unwrap();
        assert_eq!(boot.meta.mode, 0o755);
    }
}
