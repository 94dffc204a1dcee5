//! The initrd generator on a real Debian kernel: `linux-image-amd64`'s
//! kernel package and `busybox-static`, fetched (verified) from the
//! host's configured mirror the way lunforge reads it (this file names
//! no mirror), for trixie (modules `.ko.xz`) and bookworm (plain `.ko`).
//!
//! Checked with tools lunforge did not write:
//!
//! - `gzip -t` accepts the archive, `cpio -t` lists it, and `cpio -i`
//!   extracts `/init` byte-identical and every module identical to
//!   `xz -dc` of the package's file (or the file itself);
//! - the load order respects `modules.dep` as `depmod -b` writes it for
//!   the extracted package, and the initrd built from the modules' own
//!   `depends=` (the package ships no `modules.dep`) is byte-identical
//!   to the one built after `depmod` ran;
//! - busybox from the package parses `/init` (`busybox sh -n`) and has
//!   every applet the initrd links;
//! - two builds give the same bytes; the zstd variant passes `zstd -t`.
//!
//! The initrd is not booted here.

use std::path::{Path, PathBuf};
use std::process::Command;

use lunforge::arch::Arch;
use lunforge::boot::initrd::{self, Compression, InitrdParams};
use lunforge::repo::packages::BinaryPackage;
use lunforge::resolve::relation::parse_dependencies;
use lunforge::tree::{host, GuestPath};

use crate::support::run;

/// Fixed time of every entry (2023-11-14).
const MTIME: i64 = 1_700_000_000;

/// The `.deb`s of the kernel `linux-image-amd64` points to and of
/// `busybox-static` in `suite`, fetched into a cache kept under the
/// target directory (content-addressed, so runs share it safely), and
/// the kernel package's name.
pub(crate) fn fetch_packages(suite: &str) -> (PathBuf, PathBuf, String) {
    let uri = crate::host_mirror::host_mirror();
    let cache_dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("initrd-deb-cache");
    let cache = lunforge::fetch::Cache::open(&cache_dir).expect("cache");
    let (t, s) = crate::host_mirror::open_suite(&uri, suite, &cache);
    let find = |name: &str| -> &BinaryPackage {
        s.packages
            .iter()
            .find(|p| &*p.name == name && &*p.architecture == "amd64")
            .unwrap_or_else(|| panic!("{suite} has no {name}"))
    };
    let meta = find("linux-image-amd64");
    let deps = parse_dependencies(&meta.depends, "amd64").expect("Depends");
    let image = deps
        .iter()
        .flat_map(|d| d.alternatives.iter())
        .map(|r| r.name.to_string())
        .find(|n| n.starts_with("linux-image-"))
        .expect("linux-image-amd64 depends on a kernel image");
    let fetch = |p: &BinaryPackage| {
        cache
            .fetch(&*t, &p.filename, &p.file)
            .unwrap_or_else(|e| panic!("fetch {}: {e}", p.name))
            .0
    };
    let kernel = fetch(find(&image));
    let busybox = fetch(find("busybox-static"));
    (kernel, busybox, image)
}

fn sh(cmd: &str, package: &str) -> std::process::Output {
    run(Command::new("sh").args(["-c", cmd]), package)
}

fn check(suite: &str) {
    for (tool, pkg) in [
        ("dpkg-deb", "dpkg"),
        ("depmod", "kmod"),
        ("cpio", "cpio"),
        ("gzip", "gzip"),
        ("zstd", "zstd"),
        ("xz", "xz-utils"),
    ] {
        crate::support::require(tool, pkg);
    }
    let (kernel_deb, busybox_deb, image) = fetch_packages(suite);
    let work = tempfile::Builder::new()
        .prefix(&format!("lf-initrd-{suite}-"))
        .tempdir()
        .expect("work dir");
    let w = work.path();
    let k = w.join("k");
    run(
        Command::new("dpkg-deb").arg("-x").arg(&kernel_deb).arg(&k),
        "dpkg",
    );
    let modroot = ["usr/lib/modules", "lib/modules"]
        .iter()
        .map(|d| k.join(d))
        .find(|d| d.is_dir())
        .expect("the kernel package ships modules");

    // The package ships no modules.dep: the graph comes from modinfo.
    let tree = host::read_dir(&modroot, &[]).expect("read modules");
    let root = GuestPath::root();
    let version = initrd::pick_version(&tree, &root, None).expect("version");
    assert_eq!(format!("linux-image-{version}"), image);
    let vdir = modroot.join(&version);
    assert!(
        !vdir.join("modules.dep").exists(),
        "{image} ships a modules.dep; the modinfo path is not exercised"
    );
    let busybox =
        initrd::busybox_from_deb(&busybox_deb, Arch::Amd64).expect("busybox");
    let params = InitrdParams::new(Arch::Amd64, &version, MTIME);
    let from_modinfo =
        initrd::build(&tree, &root, &busybox, &params).expect("build");
    let again = initrd::build(&tree, &root, &busybox, &params).expect("build");
    assert!(from_modinfo == again, "two builds differ");
    let modinfo_order = initrd::plan(&tree, &root, &busybox, &params)
        .expect("plan")
        .load_order;

    // depmod's graph: the same initrd, and an order it agrees with.
    let base = w.join("depmod-base");
    std::fs::create_dir_all(base.join("lib")).expect("mkdir");
    std::os::unix::fs::symlink(&modroot, base.join("lib/modules"))
        .expect("symlink");
    run(
        Command::new("depmod").arg("-b").arg(&base).arg(&version),
        "kmod",
    );
    let tree = host::read_dir(&modroot, &[]).expect("read modules");
    let plan = initrd::plan(&tree, &root, &busybox, &params).expect("plan");
    let from_depmod =
        initrd::build(&tree, &root, &busybox, &params).expect("build");
    assert_eq!(modinfo_order, plan.load_order, "modinfo vs depmod order");
    assert!(
        from_modinfo == from_depmod,
        "the initrd from the modules' depends= differs from the one made \
         with depmod's modules.dep"
    );
    // `lunforge initrd` on the same directory, with busybox-static
    // resolved from the suite by the command itself: the same bytes.
    let cli_out = w.join("cli-initrd.img");
    let cache_dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("initrd-deb-cache");
    let (mut cmd, shown) = crate::support::lunforge_cmd([
        "-q".as_ref(),
        "initrd".as_ref(),
        "--kernel-modules".as_ref(),
        modroot.as_os_str(),
        "-o".as_ref(),
        cli_out.as_os_str(),
        "--cache".as_ref(),
        cache_dir.as_os_str(),
        "--set".as_ref(),
        format!("system.suite={suite}").as_ref(),
    ]);
    cmd.env("SOURCE_DATE_EPOCH", MTIME.to_string());
    crate::support::finish(shown, cmd.output()).ok();
    assert!(
        std::fs::read(&cli_out).expect("cli initrd") == from_depmod,
        "lunforge initrd differs from the library's initrd"
    );
    let dep_text =
        std::fs::read_to_string(vdir.join("modules.dep")).expect("dep");
    let strip = |p: &str| {
        p.trim_end_matches(".xz")
            .trim_end_matches(".zst")
            .trim_end_matches(".gz")
            .to_string()
    };
    for (i, m) in plan.load_order.iter().enumerate() {
        let line = dep_text
            .lines()
            .find(|l| l.split(':').next().map(strip).as_deref() == Some(m))
            .unwrap_or_else(|| panic!("{m} is not in depmod's modules.dep"));
        for d in line.split(':').nth(1).unwrap_or("").split_whitespace() {
            let at = plan.load_order.iter().position(|x| *x == strip(d));
            assert!(
                at.is_some_and(|a| a < i),
                "{m} needs {d}, which does not load before it: {:?}",
                plan.load_order
            );
        }
    }
    let builtin =
        std::fs::read_to_string(vdir.join("modules.builtin")).expect("bi");
    for want in Arch::Amd64.initrd_modules() {
        let n = want.replace('-', "_");
        let named = |p: &str| {
            let f = p.rsplit('/').next().unwrap_or("");
            f.split(".ko").next().map(|s| s.replace('-', "_"))
                == Some(n.clone())
        };
        assert!(
            plan.load_order.iter().any(|p| named(p))
                || builtin.lines().any(named),
            "{want} neither loaded nor built in"
        );
    }

    // The real tools read the archive.
    let img = w.join("initrd.img");
    std::fs::write(&img, &from_modinfo).expect("write initrd");
    let q = |p: &Path| format!("'{}'", p.display());
    sh(&format!("gzip -t {}", q(&img)), "gzip");
    let list = sh(&format!("gzip -dc {} | cpio -t --quiet", q(&img)), "cpio");
    let list = String::from_utf8_lossy(&list.stdout).into_owned();
    for want in ["init", "bin/busybox", "bin/switch_root", "dev/console"] {
        assert!(list.lines().any(|l| l == want), "{want} not in:\n{list}");
    }
    let out = w.join("x");
    std::fs::create_dir(&out).expect("mkdir");
    sh(
        &format!(
            "cd {} && gzip -dc {} | cpio -i -d --quiet --no-absolute-filenames",
            q(&out),
            q(&img)
        ),
        "cpio",
    );
    let init_text = std::fs::read(out.join("init")).expect("init");
    let initrd::PlanEntry::File { data, .. } = &plan.entries["init"] else {
        panic!("init is not a file")
    };
    assert_eq!(&init_text, data);
    assert_eq!(std::fs::read(out.join("bin/busybox")).unwrap(), busybox);
    for m in &plan.load_order {
        let got = std::fs::read(out.join(format!("lib/modules/{version}/{m}")))
            .unwrap_or_else(|e| panic!("{m} not extracted: {e}"));
        let src = vdir.join(m);
        let want = if src.exists() {
            std::fs::read(&src).expect("read module")
        } else {
            let xz = vdir.join(format!("{m}.xz"));
            assert!(xz.exists(), "no source of {m}");
            sh(&format!("xz -dc {}", q(&xz)), "xz-utils").stdout
        };
        assert!(got == want, "{m} differs from the package's module");
    }

    // busybox itself: parses /init, has every applet.
    let bb = w.join("busybox");
    std::fs::write(&bb, &busybox).expect("write busybox");
    sh(
        &format!(
            "chmod 755 {0} && {0} sh -n {1}",
            q(&bb),
            q(&out.join("init"))
        ),
        "busybox-static",
    );
    let applets = sh(&format!("{} --list", q(&bb)), "busybox-static");
    let applets = String::from_utf8_lossy(&applets.stdout).into_owned();
    for a in initrd::init::APPLETS {
        assert!(applets.lines().any(|l| l == *a), "busybox lacks {a}");
    }

    // zstd.
    let z = initrd::build(
        &tree,
        &root,
        &busybox,
        &InitrdParams {
            compression: Compression::Zstd,
            ..params
        },
    )
    .expect("zstd build");
    let zimg = w.join("initrd.zst");
    std::fs::write(&zimg, &z).expect("write");
    sh(&format!("zstd -tq {}", q(&zimg)), "zstd");
    let zlist = sh(&format!("zstd -dc {} | cpio -t --quiet", q(&zimg)), "cpio");
    assert_eq!(String::from_utf8_lossy(&zlist.stdout), list);
    eprintln!(
        "{image}: {} modules ({}), initrd {} bytes (gzip), {} bytes (zstd)",
        plan.load_order.len(),
        plan.load_order.join(" "),
        from_modinfo.len(),
        z.len()
    );
}

#[test]
fn trixie_kernel_initrd() {
    check("trixie");
}

#[test]
fn bookworm_kernel_initrd() {
    check("bookworm");
}
