//! The Xen hosts' GRUB legacy (0.97) `menu.lst` stanza, as the seed
//! hand-edits it: `kernel` loads the hypervisor with its command line,
//! and two `module` lines load domain 0's kernel and initrd.
//!
//! Reference: the GRUB legacy manual, "Commands" (`title`, `root`,
//! `kernel`, `module`); Xen's command line: docs/misc/xen-command-line
//! (`dom0_mem=`). Written here because it is five lines of text.

use crate::recipe::{GrubPartition, Xen};

/// What a host's Xen boot entry loads: shared by this module and
/// [`super::grub2`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostBoot {
    /// Menu title.
    pub title: String,
    /// GRUB's root device, when the recipe names it.
    pub root: Option<GrubPartition>,
    /// The hypervisor's path (`/boot/xen.gz`).
    pub xen_path: String,
    /// Xen's command line, `dom0_mem=` first.
    pub xen_cmdline: String,
    /// Domain 0's kernel path.
    pub kernel: String,
    /// Domain 0's command line, `root=… ro` first.
    pub kernel_cmdline: String,
    /// Domain 0's initrd path.
    pub initrd: String,
}

impl HostBoot {
    /// The entry for hosts booting domain 0's kernel `version` with
    /// `root`. Domain 0's kernel and initrd are looked for in the
    /// directory of `xen.xen_path`, under Debian's names.
    pub fn new(xen: &Xen, version: &str, root: &str) -> HostBoot {
        let dir = match xen.xen_path.rsplit_once('/') {
            Some((dir, _)) => dir,
            None => "",
        };
        // `dom0_mem=X,max:X`: Xen's advice for a fixed domain 0 size, so
        // ballooning does not eat into it.
        let mib = xen.dom0_memory.bytes() >> 20;
        let join = |head: String, tail: &str| {
            if tail.is_empty() {
                head
            } else {
                format!("{head} {tail}")
            }
        };
        HostBoot {
            title: format!(
                "Debian GNU/Linux, with Xen hypervisor and Linux {version}"
            ),
            root: xen.host_boot_partition,
            xen_path: xen.xen_path.clone(),
            xen_cmdline: join(
                format!("dom0_mem={mib}M,max:{mib}M"),
                &xen.xen_cmdline,
            ),
            kernel: format!("{dir}/vmlinuz-{version}"),
            kernel_cmdline: join(format!("root={root} ro"), &xen.dom0_cmdline),
            initrd: format!("{dir}/initrd.img-{version}"),
        }
    }
}

/// The `menu.lst` stanza, to paste into the hosts' `/boot/grub/menu.lst`.
pub fn stanza(b: &HostBoot) -> String {
    let mut s = format!(
        "# Xen boot entry for the hosts of a lunforge guest: add it to\n\
         # /boot/grub/menu.lst on each of them.\n\
         title {}\n",
        b.title
    );
    if let Some(p) = b.root {
        // GRUB legacy counts partitions from 0.
        s.push_str(&format!(
            "root (hd{},{})\n",
            p.disk,
            p.partition.saturating_sub(1)
        ));
    }
    s.push_str(&format!(
        "kernel {} {}\nmodule {} {}\nmodule {}\n",
        b.xen_path, b.xen_cmdline, b.kernel, b.kernel_cmdline, b.initrd
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::tests::recipe;

    #[test]
    fn the_seed_stanza_in_todays_form() {
        let mut r = recipe();
        r.xen.host_boot_partition = Some("hd0,1".parse().unwrap());
        r.xen.dom0_cmdline = "quiet".into();
        let b = HostBoot::new(&r.xen, "6.1.0-30-amd64", "/dev/sda1");
        let s = stanza(&b);
        let lines: Vec<&str> =
            s.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "title Debian GNU/Linux, with Xen hypervisor and Linux 6.1.0-30-amd64",
                "root (hd0,0)",
                "kernel /boot/xen.gz dom0_mem=1024M,max:1024M console=vga",
                "module /boot/vmlinuz-6.1.0-30-amd64 root=/dev/sda1 ro quiet",
                "module /boot/initrd.img-6.1.0-30-amd64",
            ]
        );
    }

    #[test]
    fn optional_parts_are_left_out() {
        let mut r = recipe();
        r.xen.xen_cmdline.clear();
        r.xen.xen_path = "/xen-4.17-amd64.gz".into();
        r.xen.dom0_memory = crate::units::ByteSize(2 << 30);
        let s = stanza(&HostBoot::new(&r.xen, "6", "LABEL=host"));
        assert!(!s.contains("\nroot "), "{s}");
        assert!(
            s.contains(
                "kernel /xen-4.17-amd64.gz dom0_mem=2048M,max:2048M\n\
             module /vmlinuz-6 root=LABEL=host ro\nmodule /initrd.img-6\n"
            ),
            "{s}"
        );
    }
}
