//! Tests of the initrd plan and writer on a small synthetic kernel tree
//! (fake modules: ELF headers with a `.modinfo`, some compressed).

use std::io::{Read, Write};

use super::modinfo::tests::elf_with_modinfo;
use super::*;
use crate::tree::Meta;

const VER: &str = "6.0.0-test";

fn xz(b: &[u8]) -> Vec<u8> {
    let mut w = liblzma::write::XzEncoder::new(Vec::new(), 6);
    w.write_all(b).unwrap();
    w.finish().unwrap()
}

fn module(name: &str, depends: &str) -> Vec<u8> {
    elf_with_modinfo(format!("depends={depends}\0name={name}\0").as_bytes())
}

/// A merged-/usr tree with one kernel: ext4 (needs jbd2, which needs
/// crc16), virtio_blk (needs virtio), xen-blkfront; `unix` built in.
/// With `dep`, a modules.dep as depmod writes it.
fn kernel_tree(dep: bool) -> Tree {
    let mut t = Tree::new(0).unwrap();
    let d = Meta::root(0o755, 0);
    let f = Meta::root(0o644, 0);
    let p = |s: &str| GuestPath::new(s).unwrap();
    let base = format!("/usr/lib/modules/{VER}");
    t.create_dirs(&p(&format!("{base}/kernel/fs/ext4")), &d)
        .unwrap();
    t.create_dirs(&p(&format!("{base}/kernel/fs/jbd2")), &d)
        .unwrap();
    t.create_dirs(&p(&format!("{base}/kernel/lib")), &d)
        .unwrap();
    t.create_dirs(&p(&format!("{base}/kernel/drivers/block")), &d)
        .unwrap();
    t.create_dirs(&p(&format!("{base}/kernel/drivers/virtio")), &d)
        .unwrap();
    t.insert(
        &p("/lib"),
        Meta::root(0o777, 0),
        Kind::Symlink("usr/lib".into()),
    )
    .unwrap();
    let files = [
        ("kernel/fs/ext4/ext4.ko.xz", module("ext4", "jbd2,crc16")),
        ("kernel/fs/jbd2/jbd2.ko.xz", module("jbd2", "crc16")),
        ("kernel/lib/crc16.ko.xz", module("crc16", "")),
        ("kernel/drivers/virtio/virtio.ko.xz", module("virtio", "")),
        (
            "kernel/drivers/block/virtio_blk.ko.xz",
            module("virtio_blk", "virtio"),
        ),
        (
            "kernel/drivers/block/xen-blkfront.ko.xz",
            module("xen_blkfront", ""),
        ),
    ];
    for (rel, plain) in files {
        t.write_file(&p(&format!("{base}/{rel}")), f.clone(), &xz(&plain))
            .unwrap();
    }
    t.write_file(
        &p(&format!("{base}/modules.builtin")),
        f.clone(),
        b"kernel/net/unix/unix.ko\n",
    )
    .unwrap();
    t.write_file(&p(&format!("{base}/modules.order")), f.clone(), b"")
        .unwrap();
    if dep {
        let text = "kernel/fs/ext4/ext4.ko.xz: kernel/fs/jbd2/jbd2.ko.xz \
                    kernel/lib/crc16.ko.xz\n\
                    kernel/fs/jbd2/jbd2.ko.xz: kernel/lib/crc16.ko.xz\n\
                    kernel/lib/crc16.ko.xz:\n\
                    kernel/drivers/virtio/virtio.ko.xz:\n\
                    kernel/drivers/block/virtio_blk.ko.xz: \
                    kernel/drivers/virtio/virtio.ko.xz\n\
                    kernel/drivers/block/xen-blkfront.ko.xz:\n";
        t.write_file(&p(&format!("{base}/modules.dep")), f, text.as_bytes())
            .unwrap();
    }
    t
}

fn params(modules: &[&str]) -> InitrdParams {
    InitrdParams {
        modules: modules.iter().map(|s| s.to_string()).collect(),
        ..InitrdParams::new(Arch::Amd64, VER, 1_700_000_000)
    }
}

fn usr_lib_modules() -> GuestPath {
    GuestPath::new("/usr/lib/modules").unwrap()
}

const BUSYBOX: &[u8] = b"\x7fELF static busybox";

#[test]
fn plan_holds_init_busybox_devices_and_the_closure() {
    let t = kernel_tree(true);
    let want = params(&["xen-blkfront", "virtio_blk", "ext4", "unix"]);
    let plan = plan(&t, &usr_lib_modules(), BUSYBOX, &want).unwrap();
    assert_eq!(
        plan.load_order,
        [
            "kernel/drivers/block/xen-blkfront.ko",
            "kernel/drivers/virtio/virtio.ko",
            "kernel/drivers/block/virtio_blk.ko",
            "kernel/lib/crc16.ko",
            "kernel/fs/jbd2/jbd2.ko",
            "kernel/fs/ext4/ext4.ko",
        ]
    );
    let m = format!("lib/modules/{VER}/kernel/fs/ext4/ext4.ko");
    assert_eq!(
        plan.entries[&m],
        PlanEntry::File {
            perm: 0o644,
            data: module("ext4", "jbd2,crc16")
        }
    );
    assert_eq!(
        plan.entries["dev/console"],
        PlanEntry::CharDev {
            perm: 0o600,
            major: 5,
            minor: 1
        }
    );
    assert_eq!(
        plan.entries["bin/busybox"],
        PlanEntry::File {
            perm: 0o755,
            data: BUSYBOX.to_vec()
        }
    );
    assert_eq!(
        plan.entries["bin/switch_root"],
        PlanEntry::Symlink("busybox".into())
    );
    let PlanEntry::File {
        data: init,
        perm: 0o755,
    } = &plan.entries["init"]
    else {
        panic!("no executable /init");
    };
    let init = String::from_utf8(init.clone()).unwrap();
    assert!(init.contains("\nkernel/lib/crc16.ko\nkernel/fs/jbd2/jbd2.ko\n"));
    // Every parent directory is there, before its children.
    let names: Vec<&String> = plan.entries.keys().collect();
    for (i, n) in names.iter().enumerate() {
        if let Some((parent, _)) = n.rsplit_once('/') {
            let at = names.iter().position(|x| *x == parent);
            assert!(at.is_some_and(|a| a < i), "{parent} missing before {n}");
        }
    }
}

#[test]
fn without_modules_dep_the_modinfo_graph_gives_the_same_order() {
    let want = params(&["xen-blkfront", "virtio_blk", "ext4", "unix"]);
    let with =
        plan(&kernel_tree(true), &usr_lib_modules(), BUSYBOX, &want).unwrap();
    let without =
        plan(&kernel_tree(false), &usr_lib_modules(), BUSYBOX, &want).unwrap();
    assert_eq!(with, without);
}

#[test]
fn a_symlinked_modules_dir_is_followed() {
    for dep in [true, false] {
        let t = kernel_tree(dep);
        let want = params(&["ext4"]);
        let lib = GuestPath::new("/lib/modules").unwrap();
        let a = plan(&t, &lib, BUSYBOX, &want).unwrap();
        let b = plan(&t, &usr_lib_modules(), BUSYBOX, &want).unwrap();
        assert_eq!(a.entries, b.entries);
        assert_eq!(a.load_order.len(), 3);
    }
}

#[test]
fn unknown_modules_and_bad_times_are_errors() {
    let t = kernel_tree(true);
    let e =
        plan(&t, &usr_lib_modules(), BUSYBOX, &params(&["nope"])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "kernel module nope is neither in modules.dep nor built into \
         kernel 6.0.0-test"
    );
    let e = plan(
        &kernel_tree(false),
        &usr_lib_modules(),
        BUSYBOX,
        &params(&["nope"]),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Modules(modules::Error::Unknown { .. })));
    let mut p = params(&["ext4"]);
    p.mtime = -1;
    assert!(matches!(
        plan(&t, &usr_lib_modules(), BUSYBOX, &p),
        Err(Error::Mtime(-1))
    ));
}

#[test]
fn versions_are_found_and_chosen() {
    let mut t = kernel_tree(true);
    let dir = usr_lib_modules();
    assert_eq!(kernel_versions(&t, &dir).unwrap(), [VER]);
    assert_eq!(pick_version(&t, &dir, None).unwrap(), VER);
    let other = GuestPath::new("/usr/lib/modules/5.0-old").unwrap();
    t.create_dirs(&other, &Meta::root(0o755, 0)).unwrap();
    let order = other.join("modules.order").unwrap();
    t.write_file(&order, Meta::root(0o644, 0), b"").unwrap();
    // A directory with only a kernel/ subdirectory is no kernel either.
    t.create_dirs(
        &GuestPath::new("/usr/lib/modules/stray/kernel").unwrap(),
        &Meta::root(0o755, 0),
    )
    .unwrap();
    // A directory without modules is no kernel.
    t.create_dirs(
        &GuestPath::new("/usr/lib/modules/empty").unwrap(),
        &Meta::root(0o755, 0),
    )
    .unwrap();
    assert_eq!(kernel_versions(&t, &dir).unwrap(), ["5.0-old", VER]);
    assert_eq!(
        pick_version(&t, &dir, None).unwrap_err().to_string(),
        "/usr/lib/modules holds modules of several kernels (5.0-old, \
         6.0.0-test); name one"
    );
    assert_eq!(pick_version(&t, &dir, Some(VER)).unwrap(), VER);
    assert_eq!(
        pick_version(&t, &dir, Some("7")).unwrap_err().to_string(),
        "/usr/lib/modules has no modules of kernel 7 (found: 5.0-old, \
         6.0.0-test)"
    );
    let empty = Tree::new(0).unwrap();
    assert_eq!(
        pick_version(&empty, &GuestPath::root(), None)
            .unwrap_err()
            .to_string(),
        "/ holds no kernel's modules"
    );
}

#[test]
fn build_is_deterministic_and_reads_back() {
    let t = kernel_tree(true);
    let p = params(&["ext4"]);
    let a = build(&t, &usr_lib_modules(), BUSYBOX, &p).unwrap();
    let b = build(&kernel_tree(true), &usr_lib_modules(), BUSYBOX, &p).unwrap();
    assert_eq!(a, b);
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&a[..])
        .read_to_end(&mut raw)
        .unwrap();
    let entries = cpio::decode(&raw).unwrap();
    assert_eq!(entries[0].name, ".");
    assert!(entries.iter().all(|e| e.header.mtime == 1_700_000_000));
    let plan = plan(&t, &usr_lib_modules(), BUSYBOX, &p).unwrap();
    assert_eq!(raw, archive(&plan).unwrap());

    let z = build(
        &t,
        &usr_lib_modules(),
        BUSYBOX,
        &InitrdParams {
            compression: Compression::Zstd,
            ..p
        },
    )
    .unwrap();
    assert_eq!(zstd::decode_all(&z[..]).unwrap(), raw);
}

/// The start of a little-endian 64-bit ELF file for `machine`.
fn elf(machine: u16) -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2; // ELFCLASS64
    h[5] = 1; // ELFDATA2LSB
    h[6] = 1; // EV_CURRENT
    h[16] = 2; // ET_EXEC
    h[18..20].copy_from_slice(&machine.to_le_bytes());
    h
}

#[test]
fn busybox_comes_from_the_package() {
    use crate::unpack::{Entry, EntryKind, Unpacked};
    let spool = Spool::new().unwrap();
    let x86 = elf(62);
    let content = spool.store(&mut &x86[..], x86.len() as u64).unwrap();
    let mut u = Unpacked {
        name: "busybox-static".into(),
        label: "busybox-static 1:1.37.0-6".into(),
        control: String::new(),
        control_files: Default::default(),
        entries: vec![Entry {
            path: GuestPath::new("/usr/bin/busybox").unwrap(),
            meta: Meta::root(0o755, 0),
            kind: EntryKind::File(content),
        }],
    };
    assert_eq!(busybox_from_unpacked(&u, &spool, Arch::Amd64).unwrap(), x86);
    // An x86-64 busybox in an arm64 guest's initrd would only fail at
    // its first boot.
    assert_eq!(
        busybox_from_unpacked(&u, &spool, Arch::Arm64)
            .unwrap_err()
            .to_string(),
        "busybox-static 1:1.37.0-6: /usr/bin/busybox is an ELF file for \
         machine 62, not for arm64 (183): the busybox-static package is of \
         another architecture"
    );
    let arm = elf(183);
    u.entries[0].kind =
        EntryKind::File(spool.store(&mut &arm[..], arm.len() as u64).unwrap());
    assert_eq!(busybox_from_unpacked(&u, &spool, Arch::Arm64).unwrap(), arm);
    let text = spool.store(&mut &b"#!/bin/sh\n"[..], 10).unwrap();
    u.entries[0].kind = EntryKind::File(text);
    assert_eq!(
        busybox_from_unpacked(&u, &spool, Arch::Amd64)
            .unwrap_err()
            .to_string(),
        "busybox-static 1:1.37.0-6: /usr/bin/busybox is not an ELF executable"
    );
    u.entries.clear();
    assert_eq!(
        busybox_from_unpacked(&u, &spool, Arch::Amd64)
            .unwrap_err()
            .to_string(),
        "busybox-static 1:1.37.0-6 ships no /bin/busybox or /usr/bin/busybox"
    );
}

#[test]
fn error_messages() {
    assert_eq!(
        Error::UnsafeWord("a b".into()).to_string(),
        "\"a b\" cannot be written into /init (allowed: letters, digits and \
         . _ - + /)"
    );
    assert_eq!(
        Error::Mtime(-5).to_string(),
        "mtime -5 does not fit cpio's 32-bit unsigned time field"
    );
    assert_eq!(
        Error::Modinfo {
            path: GuestPath::new("/m/a.ko").unwrap(),
            source: modinfo::Error::NoModinfo
        }
        .to_string(),
        "/m/a.ko: no .modinfo section"
    );
    assert_eq!(
        Error::NotAFile {
            path: GuestPath::new("/m/a.ko").unwrap()
        }
        .to_string(),
        "/m/a.ko is not a regular file"
    );
}
