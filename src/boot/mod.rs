//! The boot stage: what a Xen host (or QEMU) needs besides the disk to
//! start the guest.

pub mod initrd;
