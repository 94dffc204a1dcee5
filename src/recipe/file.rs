//! `RecipeFile`: the recipe TOML exactly as the user wrote it.
//!
//! These serde structs mirror the TOML one to one and reject unknown keys,
//! so a misspelt key is an error rather than a silently ignored setting.
//! Only what can be checked from one value alone is checked here (types,
//! sizes, enumerations); defaults, the host mirror and cross-field rules
//! are filled in by [`super::resolve`], which turns this into a
//! [`super::Recipe`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::units::ByteSize;

/// The whole recipe file.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RecipeFile {
    /// `[image]`: the disk image as a whole.
    pub image: ImageFile,
    /// `[[partitions]]`: in table order.
    #[serde(default)]
    pub partitions: Vec<PartitionFile>,
    /// `[system]`: what Debian to install.
    pub system: SystemFile,
    /// `[network]`: the guest's network configuration.
    #[serde(default)]
    pub network: Option<NetworkFile>,
    /// `[xen]`: the Xen hosts that run the guest.
    #[serde(default)]
    pub xen: Option<XenFile>,
    /// `[iscsi]`: the shared LUN that holds the image.
    #[serde(default)]
    pub iscsi: Option<IscsiFile>,
    /// `[access]`: how the operator logs in.
    #[serde(default)]
    pub access: Option<AccessFile>,
    /// `[boot]`: how the disk boots by itself, if it does.
    #[serde(default)]
    pub boot: Option<BootFile>,
    /// `[host]`: what a Xen host serves: its guests and its iSCSI
    /// initiator name.
    #[serde(default)]
    pub host: Option<HostFile>,
}

/// `[boot]`: a disk that boots by itself, from firmware, rather than
/// by a Xen host's `kernel =` or pygrub.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BootFile {
    /// The boot loader written to the disk.
    #[serde(default)]
    pub loader: Option<Loader>,
    /// What the boot entry starts: Linux, or Xen with Linux as domain 0.
    #[serde(default)]
    pub hypervisor: Option<Hypervisor>,
    /// More of the kernel's command line, after `root=UUID=… ro`.
    #[serde(default)]
    pub cmdline: Option<String>,
    /// Seconds the boot menu waits.
    #[serde(default)]
    pub timeout: Option<u32>,
}

/// The boot loader of a disk that boots by itself.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Loader {
    /// None: the disk is booted from outside (Xen's `kernel =`, pygrub).
    None,
    /// The suite's GRUB EFI image on the EFI system partition, at the
    /// firmware's removable-media path.
    GrubEfi,
}

/// What the boot entry starts.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Hypervisor {
    /// Linux alone.
    None,
    /// The suite's Xen (`/boot/xen-*.gz`), with the system's Linux as
    /// domain 0 (`multiboot2`/`module2`).
    Xen,
}

/// `[host]`: a Xen host's guests and its iSCSI initiator.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HostFile {
    /// Guest recipes (relative to this recipe) whose host files go into
    /// this system: the xl config in `/etc/xen/`, the kernel and initrd
    /// in their `xen.guest_boot_dir`, the udev rule, the iSCSI node
    /// record that logs in to the guest's LUN at boot.
    #[serde(default)]
    pub guests: Vec<String>,
    /// The initiator name (`/etc/iscsi/initiatorname.iscsi`).
    #[serde(default)]
    pub iscsi_initiator: Option<String>,
}

/// `[access]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AccessFile {
    /// root's password as a crypt(3) hash (`mkpasswd -m yescrypt`),
    /// never in clear.
    #[serde(default)]
    pub root_password_hash: Option<String>,
    /// Lines of root's `~/.ssh/authorized_keys`.
    #[serde(default)]
    pub root_authorized_keys: Vec<String>,
    /// A file of public keys for root (one per line, as
    /// `authorized_keys`), supplied by the operator; relative to the
    /// recipe. Read when the recipe is loaded, its keys join
    /// `root_authorized_keys`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_authorized_keys_file: Option<String>,
}

/// `[image]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ImageFile {
    /// Guest name: the image file name, the Xen domain name.
    pub name: String,
    /// Total disk size.
    pub size: ByteSize,
    /// Partition table kind.
    #[serde(default)]
    pub table: Option<TableKind>,
}

/// Partition table kinds.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    /// MBR, as `fdisk` writes it and as the seed uses.
    Msdos,
    /// GUID partition table.
    Gpt,
}

/// `[[partitions]]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PartitionFile {
    /// What the partition is for.
    #[serde(rename = "use")]
    pub usage: PartitionUse,
    /// Size, or `"rest"` for the remaining space.
    pub size: PartSize,
    /// File system (root and data partitions).
    #[serde(default)]
    pub fs: Option<FsKind>,
    /// File system or swap label.
    #[serde(default)]
    pub label: Option<String>,
    /// Mount point for `data` partitions.
    #[serde(default)]
    pub mount: Option<String>,
    /// ext block size in bytes (`mke2fs -b`): 1024, 2048 or 4096.
    #[serde(default)]
    pub block_size: Option<u32>,
    /// ext bytes per inode (`mke2fs -i`).
    #[serde(default)]
    pub inode_ratio: Option<u64>,
    /// ext inode count (`mke2fs -N`), instead of the ratio.
    #[serde(default)]
    pub inodes: Option<u32>,
    /// ext percent of blocks reserved for root (`mke2fs -m`).
    #[serde(default)]
    pub reserved_percent: Option<u8>,
}

/// The role of a partition.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PartitionUse {
    /// Swap space (`mkswap`).
    Swap,
    /// The root file system.
    Root,
    /// Another file system, mounted at `mount`.
    Data,
    /// An EFI system partition.
    Esp,
}

/// A partition size: bytes or the rest of the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartSize {
    /// Exactly this many bytes.
    Fixed(ByteSize),
    /// Whatever the other partitions leave.
    Rest,
}

impl<'de> Deserialize<'de> for PartSize {
    fn deserialize<D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "rest" {
            Ok(PartSize::Rest)
        } else {
            s.parse()
                .map(PartSize::Fixed)
                .map_err(serde::de::Error::custom)
        }
    }
}

impl Serialize for PartSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PartSize::Fixed(b) => b.serialize(s),
            PartSize::Rest => s.serialize_str("rest"),
        }
    }
}

/// File system kinds.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FsKind {
    /// ext2: no journal.
    Ext2,
    /// ext3: ext2 plus a journal, the seed's `mke2fs -j`.
    Ext3,
    /// ext4: extents, flex_bg, metadata checksums.
    Ext4,
    /// FAT32, for an EFI system partition.
    Vfat,
}

/// `[system]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SystemFile {
    /// Debian suite or codename (`trixie`, `stable`, `bookworm`).
    pub suite: String,
    /// Debian architecture.
    #[serde(default)]
    pub architecture: Option<String>,
    /// Package selection variant, as mmdebstrap names them.
    #[serde(default)]
    pub variant: Option<Variant>,
    /// `"host"` or a mirror URL.
    #[serde(default)]
    pub mirror: Option<String>,
    /// Archive components.
    #[serde(default)]
    pub components: Option<Vec<String>>,
    /// Extra packages.
    #[serde(default)]
    pub include: Vec<String>,
    /// Packages the variant would pick that must not be installed.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// OpenPGP keyring files that sign the suite.
    #[serde(default)]
    pub keyring: Option<Vec<String>>,
    /// How maintainer scripts run.
    #[serde(default)]
    pub configure: Option<ConfigureStrategy>,
    /// The suite's `-updates` in the guest's apt sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updates: Option<AptSource>,
    /// The suite's security updates in the guest's apt sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<AptSource>,
    /// The guest's time zone, a name under `/usr/share/zoneinfo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The guest's locale (`LANG`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

/// `system.updates` and `system.security`: `true` (where lunforge
/// finds the suite: the host's apt sources or beside the mirror),
/// `false` (none), or the URL of the archive that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AptSource {
    /// `true`: the default place.
    Default,
    /// `false`: not in the guest's sources.
    Off,
    /// An archive URL.
    Url(String),
}

impl<'de> Deserialize<'de> for AptSource {
    fn deserialize<D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = AptSource;
            fn expecting(
                &self,
                f: &mut std::fmt::Formatter<'_>,
            ) -> std::fmt::Result {
                f.write_str("true, false or an archive URL")
            }
            fn visit_bool<E: serde::de::Error>(
                self,
                v: bool,
            ) -> Result<AptSource, E> {
                Ok(if v {
                    AptSource::Default
                } else {
                    AptSource::Off
                })
            }
            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> Result<AptSource, E> {
                Ok(AptSource::Url(v.into()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl Serialize for AptSource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            AptSource::Default => s.serialize_bool(true),
            AptSource::Off => s.serialize_bool(false),
            AptSource::Url(u) => s.serialize_str(u),
        }
    }
}

/// Package selection variants (mmdebstrap's names and meanings).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// `Essential: yes` packages and their dependencies.
    Essential,
    /// `essential` plus apt.
    Apt,
    /// `apt` plus every `Priority: required` package.
    Required,
    /// Alias of `required` (debootstrap's name).
    Minbase,
    /// `required` plus `Priority: important`: debootstrap's default.
    Important,
    /// `important` plus `Priority: standard`.
    Standard,
}

impl Variant {
    /// The variant's name as the recipe writes it (mmdebstrap's names):
    /// the one mapping from a variant to text, used by the lockfile's
    /// inputs and the command line's messages.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Essential => "essential",
            Variant::Apt => "apt",
            Variant::Required => "required",
            Variant::Minbase => "minbase",
            Variant::Important => "important",
            Variant::Standard => "standard",
        }
    }
}

/// Maintainer-script strategies.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ConfigureStrategy {
    /// `chroot` when privileged on the guest's architecture, `unshare`
    /// when a normal user may make a user namespace there, else
    /// `firstboot`.
    Auto,
    /// Run `dpkg --configure -a` at build time in a chroot inside new
    /// namespaces, as root.
    Chroot,
    /// The same in a user namespace with subordinate ids, without root.
    Unshare,
    /// Configure on the guest's first boot.
    Firstboot,
}

/// `[network]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NetworkFile {
    /// `/etc/hostname`.
    pub hostname: String,
    /// Domain for `/etc/hosts`.
    #[serde(default)]
    pub domain: Option<String>,
    /// Interface name in `/etc/network/interfaces`.
    #[serde(default)]
    pub interface: Option<String>,
    /// Static address in CIDR form.
    #[serde(default)]
    pub address: Option<String>,
    /// Default gateway.
    #[serde(default)]
    pub gateway: Option<String>,
    /// Use DHCP instead of a static address.
    #[serde(default)]
    pub dhcp: Option<bool>,
    /// DNS servers for `/etc/resolv.conf`.
    #[serde(default)]
    pub dns: Vec<String>,
    /// A bridge (ifupdown `bridge_ports`) that takes `interface` as its
    /// port and carries the address, as a Xen host's `xenbr0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    /// More interfaces, outside the bridge: a storage network to the
    /// iSCSI portal, a management network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_interfaces: Vec<InterfaceFile>,
    /// Other machines by name in `/etc/hosts` (name = address): the
    /// peer a Xen host migrates to (`xl migrate virtual01 buggles`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hosts: BTreeMap<String, String>,
}

/// `[[network.extra_interfaces]]`: one more interface, static or DHCP,
/// without a gateway (the default route is `network.gateway`'s).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InterfaceFile {
    /// Its name (`eth1`).
    pub interface: String,
    /// Static address in CIDR form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// DHCP instead of a static address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhcp: Option<bool>,
}

/// `[xen]`: the Xen hosts, the guest's domain and the hosts' own boot
/// entries. Defaults are filled in by [`super::resolve`].
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct XenFile {
    /// The hosts that run (and migrate) the guest.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Guest memory.
    #[serde(default)]
    pub memory: Option<ByteSize>,
    /// Virtual CPUs.
    #[serde(default)]
    pub vcpus: Option<u32>,
    /// Bridge of the guest's vif.
    #[serde(default)]
    pub bridge: Option<String>,
    /// Directory on the hosts that holds the guest's kernel and initrd.
    #[serde(default)]
    pub guest_boot_dir: Option<String>,
    /// How the guest's disk is named on the hosts.
    #[serde(default)]
    pub disk_paths: Option<DiskPaths>,
    /// `on_poweroff` of the xl config.
    #[serde(default)]
    pub on_poweroff: Option<XlAction>,
    /// `on_reboot` of the xl config.
    #[serde(default)]
    pub on_reboot: Option<XlAction>,
    /// `on_crash` of the xl config.
    #[serde(default)]
    pub on_crash: Option<XlAction>,
    /// Memory of the hosts' domain 0 (`dom0_mem=`).
    #[serde(default)]
    pub dom0_memory: Option<ByteSize>,
    /// Xen's own command line, after `dom0_mem=`.
    #[serde(default)]
    pub xen_cmdline: Option<String>,
    /// The hypervisor's path as GRUB sees it on the hosts.
    #[serde(default)]
    pub xen_path: Option<String>,
    /// Kernel version of the hosts' domain 0.
    #[serde(default)]
    pub dom0_kernel_version: Option<String>,
    /// `root=` of the hosts' domain 0.
    #[serde(default)]
    pub dom0_root: Option<String>,
    /// More of domain 0's kernel command line.
    #[serde(default)]
    pub dom0_cmdline: Option<String>,
    /// GRUB's root device on the hosts, GRUB 2 numbering (`hd0,1`).
    #[serde(default)]
    pub host_boot_partition: Option<String>,
    /// How Xen finds the guest's kernel: `kernel` (the default: the
    /// host's copy, `kernel =`/`ramdisk =`/`extra =`) or `pygrub` (the
    /// guest's own `/boot/grub/grub.cfg`, read from its disk).
    #[serde(default)]
    pub bootloader: Option<XenBoot>,
    /// The guest's kind (xl.cfg `type`): `pv` or `pvh`.
    #[serde(default, rename = "type")]
    pub kind: Option<XenType>,
}

/// The kind of Xen guest (xl.cfg(5) `type`).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum XenType {
    /// Paravirtualised: runs on any x86 host. Xen moves it live only
    /// when built with shadow paging, which Debian 13's Xen is not.
    Pv,
    /// PVH: the same kernel and drivers in a hardware-assisted
    /// container; needs EPT or NPT on the host, and migrates live with
    /// them.
    Pvh,
}

impl XenType {
    /// The name xl.cfg(5) gives it.
    pub fn name(self) -> &'static str {
        match self {
            XenType::Pv => "pv",
            XenType::Pvh => "pvh",
        }
    }
}

/// How Xen finds a guest's kernel.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum XenBoot {
    /// The host's copy of the kernel and initrd.
    Kernel,
    /// pygrub reads the guest's own boot loader configuration.
    Pygrub,
}

/// How the xl config names the guest's LUN on the hosts.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum DiskPaths {
    /// `/dev/disk/by-path/ip-PORTAL-iscsi-IQN-lun-N`, made by udev's
    /// own rules on every host.
    ByPath,
    /// `/dev/iscsi_N`, made by the seed's udev rule (lunforge emits it).
    Udev,
}

/// What xl does when the guest powers off, reboots or crashes
/// (xl.cfg(5), `on_poweroff`).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum XlAction {
    /// Destroy the domain.
    Destroy,
    /// Destroy and start it again with the same config.
    Restart,
    /// Rename the old domain and start a new one.
    RenameRestart,
    /// Keep the domain as it is, for inspection.
    Preserve,
    /// Dump its core, then destroy it.
    CoredumpDestroy,
    /// Dump its core, then restart it.
    CoredumpRestart,
    /// Reset it without tearing it down.
    SoftReset,
}

impl XlAction {
    /// The action as xl.cfg(5) spells it.
    pub fn name(self) -> &'static str {
        match self {
            XlAction::Destroy => "destroy",
            XlAction::Restart => "restart",
            XlAction::RenameRestart => "rename-restart",
            XlAction::Preserve => "preserve",
            XlAction::CoredumpDestroy => "coredump-destroy",
            XlAction::CoredumpRestart => "coredump-restart",
            XlAction::SoftReset => "soft-reset",
        }
    }
}

/// `[iscsi]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IscsiFile {
    /// Target IQN.
    pub target: String,
    /// Logical unit number.
    #[serde(default)]
    pub lun: u32,
    /// The target's portal, `ADDRESS[:PORT]`.
    #[serde(default)]
    pub portal: Option<String>,
    /// CHAP user name the initiators log in with.
    #[serde(default)]
    pub chap_user: Option<String>,
    /// Where the CHAP secret is read at build time: `env:VAR` or
    /// `file:PATH`; never the secret itself.
    #[serde(default)]
    pub chap_secret: Option<String>,
    /// The file or block device behind the LUN on the target host.
    #[serde(default)]
    pub backing_store: Option<String>,
}
