//! The guest architectures lunforge builds for, and everything that
//! differs between them, in one table.
//!
//! A guest of another architecture than the build machine's is built
//! the same way as a native one: the package set is resolved and
//! unpacked for the guest's architecture, and its maintainer scripts
//! run on the guest's first boot (`configure = "firstboot"`, which
//! `auto` picks for a foreign architecture), so no emulator runs at
//! build time. What cannot be shared is listed here: the ELF machine of
//! the binaries that go into the initrd, the kernel's image format, the
//! modules that reach a root disk, the partition table an operator of
//! that architecture expects, and what Xen calls a guest there.
//!
//! Only architectures with a tested boot path are known: amd64 (PV and
//! PVH guests, the seed's machines) and arm64 (Xen on Arm's one guest
//! type, and QEMU's `virt` machine).

use crate::recipe::TableKind;

/// `e_machine` of x86-64 (elf.h).
const EM_X86_64: u16 = 62;
/// `e_machine` of AArch64 (elf.h).
const EM_AARCH64: u16 = 183;

/// A guest architecture, by its Debian name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// `amd64`: x86-64.
    Amd64,
    /// `arm64`: AArch64.
    Arm64,
}

/// Debian's architecture names as package-name suffixes
/// (`linux-image-amd64`, `xen-system-arm64`, `grub-efi-amd64`), the ones
/// [`map_package`] rewrites between.
const SUFFIXED: [(Arch, &str); 2] =
    [(Arch::Amd64, "-amd64"), (Arch::Arm64, "-arm64")];

/// The package families whose names end in the architecture they are
/// for, one package per architecture: the kernel and its headers (the
/// metapackages and each ABI's), Xen's system and hypervisor, GRUB's
/// EFI loader. Other names that end in an architecture are packages of
/// their own, the same on every architecture (`crossbuild-essential-arm64`
/// is an amd64 machine's cross compiler for arm64; `libc6-amd64` is
/// i386's 64-bit C library), and are never renamed.
const PER_ARCH_FAMILIES: [&str; 5] = [
    "linux-image-",
    "linux-headers-",
    "xen-system-",
    "xen-hypervisor-",
    "grub-efi-",
];

impl Arch {
    /// Every known architecture.
    pub const ALL: [Arch; 2] = [Arch::Amd64, Arch::Arm64];

    /// The architecture of Debian name `name`, if lunforge builds for it.
    pub fn from_debian(name: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.debian() == name)
    }

    /// The known names, for error messages: `amd64, arm64`.
    pub fn known() -> String {
        Arch::ALL.map(Arch::debian).join(", ")
    }

    /// Debian's name.
    pub fn debian(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }

    /// The ELF `e_machine` of its binaries: what the initrd's busybox
    /// must be, since nothing at build time would notice a binary of the
    /// wrong machine.
    pub fn elf_machine(self) -> u16 {
        match self {
            Arch::Amd64 => EM_X86_64,
            Arch::Arm64 => EM_AARCH64,
        }
    }

    /// The partition table of a recipe that names none. amd64 keeps the
    /// seed's MBR (`fdisk`, and what every x86 firmware and `pygrub`
    /// read); arm64 machines boot from UEFI, whose disks are GPT, and the
    /// GPT root type lets systemd find the root partition by itself.
    /// Either table works on either architecture when a recipe says so:
    /// the guest's kernel is started directly and mounts its root by
    /// UUID.
    pub fn default_table(self) -> TableKind {
        match self {
            Arch::Amd64 => TableKind::Msdos,
            Arch::Arm64 => TableKind::Gpt,
        }
    }

    /// The kernel modules that reach a root file system, loaded by the
    /// initrd in this order (their dependencies come from the kernel's
    /// own dependency graph).
    ///
    /// Both: Xen's PV block front end, virtio over PCI and the virtio
    /// disk, and ext4, which also mounts ext2 and ext3 (Debian leaves
    /// `EXT3_FS` unset). `crc32c_generic` is loaded explicitly: ext4
    /// and jbd2 ask for `crc32c` through the crypto API when a file
    /// system has metadata checksums, a soft dependency that
    /// `modules.dep` does not list. amd64 adds the PIIX IDE/SATA disk
    /// of QEMU's PC machine; arm64 adds virtio over MMIO, the transport
    /// of QEMU's `virt` machine's `virtio-*-device`s.
    pub fn initrd_modules(self) -> &'static [&'static str] {
        match self {
            Arch::Amd64 => &[
                "xen-blkfront",
                "virtio_pci",
                "virtio_blk",
                "ata_piix",
                "sd_mod",
                "crc32c_generic",
                "ext4",
            ],
            Arch::Arm64 => &[
                "xen-blkfront",
                "virtio_mmio",
                "virtio_pci",
                "virtio_blk",
                "crc32c_generic",
                "ext4",
            ],
        }
    }

    /// Whether Xen has a PV guest type here. Xen on Arm has one guest
    /// type, which xl.cfg(5) calls `pvh`: hardware virtualisation with
    /// PV drivers and no emulated devices. x86 has `pv`, `pvh` and
    /// `hvm`.
    pub fn xen_has_pv(self) -> bool {
        self == Arch::Amd64
    }

    /// Whether GRUB boots Xen here the way lunforge writes it: with
    /// `multiboot2` and `module2`, which is x86 only (GRUB on Arm has
    /// `xen_hypervisor` and `xen_module` instead), and with the seed's
    /// GRUB legacy `menu.lst`, which only exists on x86.
    pub fn grub_boots_xen(self) -> bool {
        self == Arch::Amd64
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.debian())
    }
}

/// The package a recipe meant by `name` for a guest of `to`: a package
/// of a per-architecture family ([`PER_ARCH_FAMILIES`]) named for
/// another known architecture (`linux-image-amd64` in the built-in
/// recipe) is the same package of `to` by Debian's naming
/// (`linux-image-arm64`); any other name is kept. `None` when the name
/// stays.
pub fn map_package(name: &str, to: Arch) -> Option<String> {
    if !PER_ARCH_FAMILIES.iter().any(|f| name.starts_with(f)) {
        return None;
    }
    let (_, suffix) = SUFFIXED
        .iter()
        .find(|(a, s)| *a != to && name.len() > s.len() && name.ends_with(s))?;
    let stem = &name[..name.len() - suffix.len()];
    Some(format!("{stem}-{}", to.debian()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Arch::ALL {
            assert_eq!(Arch::from_debian(a.debian()), Some(a));
            assert_eq!(a.to_string(), a.debian());
        }
        assert_eq!(Arch::from_debian("i386"), None);
        assert_eq!(Arch::from_debian("AMD64"), None);
        assert_eq!(Arch::known(), "amd64, arm64");
    }

    #[test]
    fn packages_follow_the_architecture() {
        let arm = |n: &str| map_package(n, Arch::Arm64);
        assert_eq!(
            arm("linux-image-amd64").as_deref(),
            Some("linux-image-arm64")
        );
        assert_eq!(
            arm("xen-system-amd64").as_deref(),
            Some("xen-system-arm64")
        );
        assert_eq!(
            arm("linux-image-6.12.48+deb13-amd64").as_deref(),
            Some("linux-image-6.12.48+deb13-arm64")
        );
        assert_eq!(arm("grub-efi-amd64").as_deref(), Some("grub-efi-arm64"));
        assert_eq!(
            arm("xen-hypervisor-4.20-amd64").as_deref(),
            Some("xen-hypervisor-4.20-arm64")
        );
        // Packages of their own that end in an architecture stay, on
        // either side: a cross compiler, a multilib C library.
        assert_eq!(
            map_package("crossbuild-essential-arm64", Arch::Amd64),
            None
        );
        assert_eq!(arm("crossbuild-essential-amd64"), None);
        assert_eq!(arm("libc6-amd64"), None);
        // Names without a suffix, and of the target itself, stay.
        for n in [
            "openssh-server",
            "linux-image-arm64",
            "amd64-microcode",
            "-amd64",
        ] {
            assert_eq!(arm(n), None, "{n}");
        }
        assert_eq!(
            map_package("linux-image-arm64", Arch::Amd64).as_deref(),
            Some("linux-image-amd64")
        );
        assert_eq!(map_package("linux-image-amd64", Arch::Amd64), None);
    }

    #[test]
    fn each_architecture_reaches_a_virtio_and_a_xen_disk() {
        for a in Arch::ALL {
            let m = a.initrd_modules();
            for needed in ["xen-blkfront", "virtio_blk", "ext4"] {
                assert!(m.contains(&needed), "{a}: {needed}");
            }
        }
        assert!(Arch::Arm64.initrd_modules().contains(&"virtio_mmio"));
        assert!(!Arch::Arm64.initrd_modules().contains(&"ata_piix"));
        assert_ne!(Arch::Amd64.elf_machine(), Arch::Arm64.elf_machine());
    }
}
