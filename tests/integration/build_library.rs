//! The whole build as one library call, `lunforge::pipeline::build`,
//! against a local signed repository: the report says what was made and
//! where (the image's path and size, the package and path counts, the
//! files of `OUT/<name>/`) and
//! times each stage of the procedure in its order; the image it names
//! is the one on disk (`sfdisk` reads its table); a second build of the
//! same lock to another file target gives the same bytes; and a target
//! that cannot take the image fails before anything is downloaded.

use std::path::Path;

use lunforge::pipeline::{self, Made, Request};
use lunforge::recipe::{Recipe, Source};
use lunforge::sink::target::Target;
use lunforge::Context;

use crate::support::testrepo::{Pkg, TestRepo};
use crate::support::{run, Site};

fn site() -> Site {
    Site::new(
        TestRepo::new("libbuild")
            .package(Pkg::new("lib-base", "1.0").essential().depends("lib-dep"))
            .package(Pkg::new("lib-dep", "2.0").payload(70_000))
            .build(),
    )
}

/// The site's recipe with a 64 MiB disk: swap and an ext3 root.
fn recipe(site: &Site) -> Recipe {
    let text = site.recipe().small_disk_text("ext3");
    let path = site.work.path().join("lib.toml");
    std::fs::write(&path, &text).expect("recipe");
    // First boot configures: no root needed, nothing run at build time.
    let sets = ["system.configure=firstboot".to_string()];
    Recipe::load(&Source::Path(path), &sets, Path::new("/"))
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn context(site: &Site) -> Context {
    let mut ctx = Context::new();
    ctx.cache_dir = site.cache();
    ctx.keyring = vec![site.keyring.clone()];
    ctx
}

#[test]
fn build_reports_what_it_made_stage_by_stage() {
    let site = site();
    let r = recipe(&site);
    let ctx = context(&site);
    let out = site.work.path().join("out");
    let report =
        pipeline::build(&r, &ctx, &Request::image(&out)).expect("build");
    assert_eq!(report.packages, 2);
    assert!(report.paths > 10, "{}", report.paths);
    let stages: Vec<&str> = report.stages.iter().map(|s| s.stage).collect();
    assert_eq!(
        stages,
        [
            "resolve",
            "fetch",
            "unpack",
            "configure",
            "boot files",
            // Read from the tree before the disk's writer takes it.
            "SBOM",
            // Staged before the disk, put in place with it.
            "write boot files",
            "partition, format and write",
            // Written last, once the disk's digest is known.
            "manifest",
        ]
    );
    let image = out.join("testguest.img");
    let Made::Disk(f) = &report.made else {
        panic!("no disk: {report:?}")
    };
    assert_eq!(f.target, image.display().to_string());
    assert_eq!(f.size, 64 << 20);
    assert_eq!(std::fs::metadata(&image).expect("image").len(), 64 << 20);
    // No kernel in this suite: no boot files, and none left behind;
    // what the build says of itself, and the sums of that.
    assert_eq!(report.boot_files, 0);
    let names: Vec<&str> =
        report.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["SHA256SUMS", "manifest.json", "sbom.spdx.json"]);
    let listed: Vec<String> = std::fs::read_dir(out.join("testguest"))
        .expect("OUT/testguest")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert_eq!(report.output.name, "testguest.img");
    assert_eq!(report.output.size, 64 << 20);
    let table = run(
        std::process::Command::new("sfdisk")
            .arg("--json")
            .arg(&image),
        "fdisk",
    );
    let text = String::from_utf8_lossy(&table.stdout);
    assert_eq!(text.matches("\"node\"").count(), 2, "{text}");

    // The same lock, another file target: the same bytes.
    let lock = site.work.path().join("lib.lock");
    pipeline::resolve(&r, &ctx)
        .expect("resolve")
        .write(&lock)
        .expect("lock");
    let other = site.work.path().join("elsewhere.img");
    let mut req = Request::image(&out);
    req.lockfile = Some(lock);
    req.target = Some(Target::File(other.clone()));
    let again = pipeline::build(&r, &ctx, &req).expect("second build");
    let Made::Disk(f) = &again.made else {
        panic!("no disk")
    };
    assert_eq!(f.target, other.display().to_string());
    assert!(
        std::fs::read(&other).expect("read")
            == std::fs::read(&image).expect("read"),
        "one lock, two images"
    );
}

#[test]
fn a_target_that_cannot_take_the_image_fails_before_downloading() {
    let site = site();
    let r = recipe(&site);
    let ctx = context(&site);
    let out = site.work.path().join("out");
    let dir = site.work.path().join("a-directory");
    std::fs::create_dir(&dir).expect("dir");
    let mut req = Request::image(&out);
    req.target = Some(Target::File(dir.clone()));
    let e = pipeline::build(&r, &ctx, &req).unwrap_err().to_string();
    assert!(e.contains("not a regular file"), "{e}");
    assert!(!site.cache().exists(), "downloaded before failing");
}
