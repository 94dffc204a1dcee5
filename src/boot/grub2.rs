//! The Xen hosts' GRUB 2 entry: an `/etc/grub.d/` script in the style of
//! Debian's `40_custom`, whose output (a here-document) is the menuentry
//! Debian's `20_linux_xen` would generate: `multiboot2 XEN placeholder
//! ARGS`, `module2 KERNEL placeholder ARGS`, `module2 --nounzip INITRD`.
//!
//! The `placeholder` word stands where the loaded image's own name would
//! be in its command line (Xen and Linux drop argv\[0\]), exactly as
//! `20_linux_xen` writes it. Every value in the entry was held to plain
//! characters by the recipe checks, and the here-document is quoted, so
//! neither the shell nor GRUB expands anything in it.
//!
//! Reference: GRUB manual, "Shell-like scripting", `menuentry`,
//! `multiboot2`, `module2`.

use super::grub_legacy::HostBoot;

/// File name under `/etc/grub.d/`: after Debian's own entries
/// (`10_linux`, `20_linux_xen`) and beside `40_custom`.
pub const SCRIPT_NAME: &str = "41_lunforge_xen";

/// The menuentry itself: GRUB script, checked by `grub-script-check`.
pub fn menuentry(b: &HostBoot) -> String {
    let mut s = format!(
        "menuentry '{}' --class debian --class gnu-linux --class gnu \
         --class os --class xen {{\n",
        b.title
    );
    if let Some(p) = b.root {
        s.push_str("\tinsmod part_msdos\n\tinsmod part_gpt\n\tinsmod ext2\n");
        s.push_str(&format!("\tset root='{p}'\n"));
    }
    s.push_str(&format!(
        "\techo\t'Loading Xen hypervisor ...'\n\
         \tmultiboot2\t{} placeholder {}\n\
         \techo\t'Loading Linux ...'\n\
         \tmodule2\t{} placeholder {}\n\
         \techo\t'Loading initial ramdisk ...'\n\
         \tmodule2\t--nounzip {}\n\
         }}\n",
        b.xen_path, b.xen_cmdline, b.kernel, b.kernel_cmdline, b.initrd
    ));
    s
}

/// The executable `/etc/grub.d/` script that prints [`menuentry`].
pub fn script(b: &HostBoot) -> String {
    format!(
        "#!/bin/sh\n\
         # Xen boot entry for the hosts of a lunforge guest. Install as\n\
         # /etc/grub.d/{SCRIPT_NAME} (mode 0755) and run update-grub.\n\
         set -e\n\
         cat <<'LUNFORGE_EOF'\n\
         {}\
         LUNFORGE_EOF\n",
        menuentry(b)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::tests::recipe;

    #[test]
    fn entry_in_the_form_of_20_linux_xen() {
        let r = recipe();
        let b = HostBoot::new(&r.xen, "6.1.0-30-amd64", "/dev/sda1");
        let m = menuentry(&b);
        let body: Vec<&str> = m.lines().map(str::trim).collect();
        assert!(body.contains(
            &"multiboot2\t/boot/xen.gz placeholder dom0_mem=1024M,max:1024M console=vga"
        ), "{m}");
        assert!(body.contains(
            &"module2\t/boot/vmlinuz-6.1.0-30-amd64 placeholder root=/dev/sda1 ro"
        ), "{m}");
        assert!(
            body.contains(
                &"module2\t--nounzip /boot/initrd.img-6.1.0-30-amd64"
            ),
            "{m}"
        );
        assert!(!m.contains("set root"), "{m}");
        assert_eq!(body.last(), Some(&"}"));
        let s = script(&b);
        assert!(s.starts_with("#!/bin/sh\n"));
        assert!(s.contains(&m));
    }

    #[test]
    fn root_partition_in_grub2_numbering() {
        let mut r = recipe();
        r.xen.host_boot_partition = Some("hd1,2".parse().unwrap());
        let m = menuentry(&HostBoot::new(&r.xen, "6", "/dev/sdb2"));
        assert!(m.contains("\tset root='hd1,2'\n"), "{m}");
    }
}
