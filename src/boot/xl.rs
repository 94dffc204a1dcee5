//! The `xl` guest config (xl.cfg(5)), the seed's `/etc/xen/virtual01`:
//! one file, byte for byte the same on every host of `[xen].hosts`, so
//! `xl migrate` can move the guest between them.
//!
//! Nothing in it depends on the host: the kernel and initrd live under
//! `xen.guest_boot_dir` on every host, the disk is named by udev's
//! by-path link of the shared LUN (or the seed's `/dev/iscsi_N`, which
//! [`super::hostside`]'s rule makes), and the vif MAC is derived from
//! the guest's name ([`crate::ids::vif_mac`]), so the guest keeps its
//! address wherever it runs.
//!
//! Quoting: xl strings are written in double quotes, and every value put
//! in them was held by the recipe checks to characters that need no
//! escape in xl's parser (no quotes, no backslashes, no line breaks).
//! The disk spec puts `target=` last, as xl-disk-configuration(5) asks
//! for a target that may hold `,` or `:`.

use super::{guest_cmdline, BootFacts};
use crate::ids;
use crate::recipe::{DiskPaths, Iscsi, Recipe, XenBoot};

/// The host-independent path of the guest's whole LUN.
pub fn disk_target(recipe: &Recipe) -> String {
    match &recipe.iscsi {
        Some(i) => match recipe.xen.disk_paths {
            DiskPaths::ByPath => by_path(i),
            DiskPaths::Udev => {
                format!("/dev/{}", super::hostside::udev_name(i))
            }
        },
        // No shared LUN: the image file, copied beside the kernel.
        None => {
            format!("{}/{}.img", recipe.xen.guest_boot_dir, recipe.image.name)
        }
    }
}

/// udev's by-path link of an iSCSI LUN (systemd's `path_id`:
/// `ip-ADDRESS:PORT-iscsi-TARGET-lun-N`). The address is the one the
/// initiator connected to, so the recipe's portal must be what the
/// hosts log in to.
pub fn by_path(i: &Iscsi) -> String {
    format!(
        "/dev/disk/by-path/ip-{}-iscsi-{}-lun-{}",
        i.portal, i.target, i.lun
    )
}

/// How Xen finds the guest's kernel: the host's copy with the guest's
/// command line, or pygrub reading the guest's own GRUB configuration
/// from its disk (which carries the same command line).
fn boot_lines(recipe: &Recipe, facts: &BootFacts) -> String {
    let dir = &recipe.xen.guest_boot_dir;
    let v = &facts.kernel_version;
    match recipe.xen.bootloader {
        XenBoot::Kernel => format!(
            "kernel = \"{dir}/vmlinuz-{v}\"\n\
             ramdisk = \"{dir}/initrd.img-{v}\"\n\
             extra = \"{}\"\n",
            guest_cmdline(recipe, facts)
        ),
        XenBoot::Pygrub => "bootloader = \"pygrub\"\n".into(),
    }
}

/// The config file's text.
pub fn config(recipe: &Recipe, facts: &BootFacts) -> String {
    let x = &recipe.xen;
    let dir = &x.guest_boot_dir;
    let hosts = if x.hosts.is_empty() {
        "each Xen host".to_string()
    } else {
        x.hosts.join(", ")
    };
    format!(
        "# xl config of the guest {name} (xl.cfg(5)), written by lunforge.\n\
         # The same file on every host ({hosts}): /etc/xen/{name}.cfg.\n\
         # {boots}\n\
         {arm}\
         name = \"{name}\"\n\
         type = \"{kind}\"\n\
         {boot}\
         memory = {memory}\n\
         vcpus = {vcpus}\n\
         vif = [ \"mac={mac},bridge={bridge}\" ]\n\
         disk = [ \"format=raw,vdev=xvda,access=rw,target={disk}\" ]\n\
         on_poweroff = \"{poweroff}\"\n\
         on_reboot = \"{reboot}\"\n\
         on_crash = \"{crash}\"\n",
        name = recipe.image.name,
        boot = boot_lines(recipe, facts),
        arm = match (recipe.system.arch().xen_has_pv(), x.bootloader) {
            (true, _) => "",
            (false, XenBoot::Kernel) => {
                "# Xen on Arm: \"pvh\" is its one guest type, and the kernel \
                 an arm64 Image.\n"
            }
            (false, XenBoot::Pygrub) => {
                "# Xen on Arm: \"pvh\" is its one guest type.\n"
            }
        },
        boots = match x.bootloader {
            XenBoot::Kernel =>
                format!("Kernel and initrd go to {dir}/ on each host."),
            XenBoot::Pygrub => {
                "pygrub boots what the guest's /boot/grub/grub.cfg names."
                    .into()
            }
        },
        kind = x.kind.name(),
        memory = x.memory.bytes() >> 20,
        vcpus = x.vcpus,
        mac = ids::vif_mac(&recipe.image.name, 0),
        bridge = x.bridge,
        disk = disk_target(recipe),
        poweroff = x.on_poweroff.name(),
        reboot = x.on_reboot.name(),
        crash = x.on_crash.name(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::tests::{facts, recipe};
    use crate::recipe::XlAction;

    /// The `key = value` lines, comments left out.
    fn settings(text: &str) -> Vec<(String, String)> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let (k, v) = l.split_once(" = ").unwrap();
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    #[test]
    fn an_arm_guest() {
        let r = crate::boot::tests::recipe_with(&[
            "system.architecture=arm64".into()
        ]);
        let f = BootFacts::new(&r, "6.12.48+deb13-arm64").unwrap();
        let text = config(&r, &f);
        assert!(text.contains("\ntype = \"pvh\"\n"), "{text}");
        assert!(text.contains("# Xen on Arm: \"pvh\" is its one guest type"));
        assert!(text.contains(
            "kernel = \"/var/lib/lunforge/virtual01/vmlinuz-6.12.48+deb13-arm64\""
        ));
        // Only the comment tells the architectures apart.
        let amd = config(&crate::boot::tests::recipe(), &facts());
        assert!(!amd.contains("Arm"), "{amd}");
    }

    #[test]
    fn the_seed_guest() {
        let f = facts();
        let text = config(&recipe(), &f);
        let s = settings(&text);
        let get = |k: &str| {
            s.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
        };
        assert_eq!(get("name"), Some("\"virtual01\""));
        assert_eq!(get("type"), Some("\"pvh\""));
        assert_eq!(
            get("kernel"),
            Some("\"/var/lib/lunforge/virtual01/vmlinuz-6.12.48+deb13-amd64\"")
        );
        assert_eq!(
            get("ramdisk"),
            Some("\"/var/lib/lunforge/virtual01/initrd.img-6.12.48+deb13-amd64\"")
        );
        let extra = format!(
            "\"root=UUID={} ro console=hvc0 net.ifnames=0\"",
            f.root_uuid
        );
        assert_eq!(get("extra"), Some(extra.as_str()));
        assert_eq!(get("memory"), Some("512"));
        assert_eq!(get("vcpus"), Some("1"));
        let vif = get("vif").unwrap();
        assert!(vif.starts_with("[ \"mac=00:16:3e:"), "{vif}");
        assert!(vif.ends_with(",bridge=xenbr0\" ]"), "{vif}");
        assert_eq!(
            get("disk"),
            Some(
                "[ \"format=raw,vdev=xvda,access=rw,target=/dev/disk/by-path/\
                 ip-192.0.2.10:3260-iscsi-iqn.2006-05.com.performancemagic:\
                 penfold.disk1-lun-0\" ]"
            )
        );
        assert_eq!(get("on_poweroff"), Some("\"destroy\""));
        assert_eq!(get("on_reboot"), Some("\"restart\""));
        assert_eq!(get("on_crash"), Some("\"destroy\""));
        assert!(text.contains("(dangermouse, buggles)"), "{text}");
    }

    #[test]
    fn udev_names_and_no_iscsi() {
        let mut r = recipe();
        r.xen.disk_paths = DiskPaths::Udev;
        r.xen.on_crash = XlAction::CoredumpRestart;
        let text = config(&r, &facts());
        assert!(text.contains("target=/dev/iscsi_0\" ]\n"), "{text}");
        assert!(text.contains("on_crash = \"coredump-restart\"\n"), "{text}");
        r.xen.kind = crate::recipe::XenType::Pv;
        assert!(config(&r, &facts()).contains("\ntype = \"pv\"\n"));
        r.iscsi = None;
        assert_eq!(
            disk_target(&r),
            "/var/lib/lunforge/virtual01/virtual01.img"
        );
    }

    #[test]
    fn the_recipe_s_cmdline_follows_the_guest_s_own() {
        let mut r = recipe();
        r.boot.cmdline = "quiet systemd.default_device_timeout_sec=300".into();
        let f = facts();
        let text = config(&r, &f);
        let extra = format!(
            "extra = \"root=UUID={} ro console=hvc0 net.ifnames=0 quiet \
             systemd.default_device_timeout_sec=300\"\n",
            f.root_uuid
        );
        assert!(text.contains(&extra), "{text}");
    }

    #[test]
    fn pygrub_reads_the_guest_s_own_config() {
        let mut r = recipe();
        r.xen.bootloader = XenBoot::Pygrub;
        let text = config(&r, &facts());
        let s = settings(&text);
        let keys: Vec<&str> = s.iter().map(|(k, _)| k.as_str()).collect();
        assert!(keys.contains(&"bootloader"), "{text}");
        for k in ["kernel", "ramdisk", "extra"] {
            assert!(!keys.contains(&k), "{k} in {text}");
        }
        assert!(text.contains("bootloader = \"pygrub\"\n"));
        assert!(text.contains("/boot/grub/grub.cfg"));
    }
}
