//! What a build says of itself in `OUT/<name>/`, checked against tools
//! that read the real outputs:
//!
//! - `manifest.json`: the output's and every file's SHA-256 and size
//!   against `sha256sum` and `stat`, `sha256sum -c SHA256SUMS` (which
//!   lists the manifest and the SBOM), the recipe's digest against
//!   `lunforge recipe show`, the lock's against the lockfile's bytes,
//!   the package list against `dpkg-query --root` on the unpacked
//!   tarball and against the lock; for a tarball, a disk (msdos and
//!   GPT, whose backup table the writer writes before the partitions)
//!   and a `--target` file; and a loop device, as root;
//! - `sbom.spdx.json`: valid against the SPDX 2.3 JSON schema
//!   (`python3-jsonschema`, the schema a fixture), every license
//!   expression against the SPDX license list
//!   (`python3-license-expression`), every reference resolved; each
//!   package's purl, `.deb` digest, source package and the licenses its
//!   DEP-5 copyright file declares;
//! - two builds of one lock give the same manifest and SBOM bytes;
//! - `lunforge build --json`: one JSON document on stdout whose
//!   artifacts are the files on disk.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::testrepo::{Pkg, TestRepo};
use crate::support::{lunforge, lunforge_cmd, require, run, Site};

/// A machine-readable copyright file with a choice, a license on the
/// SPDX list under its DEP-5 name, and one that is not, with its text.
const BASE_COPYRIGHT: &str = "\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: rec

Files: *
Copyright: 2024 The rec authors
License: GPL-2+ or Artistic

Files: lib/*
Copyright: 2024 Another author
License: Expat

License: Artistic
 The \"Artistic License\" of the test package.
 .
 Its second paragraph.
";

/// An exception, and a license of the package's own, joined by `, and`.
const LIB_COPYRIGHT: &str = "\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2024 The lib authors
License: GPL-2 with Linux-syscall-note exception, and permissive

License: permissive
 Do as you like with this file.
";

fn site() -> Site {
    Site::new(
        TestRepo::new("librecord")
            .package(
                Pkg::new("rec-base", "1.0-1+b1")
                    .essential()
                    .source("rec-src (1.0-1)")
                    .depends("rec-dep, rec-lib++1")
                    .file(
                        "/usr/share/doc/rec-base/copyright",
                        BASE_COPYRIGHT.as_bytes(),
                    ),
            )
            .package(Pkg::new("rec-dep", "2.0").file(
                "/usr/share/doc/rec-dep/copyright",
                b"rec-dep is free software, under the GPL.\n",
            ))
            .package(Pkg::new("rec-lib++1", "1:3.0+dfsg-2").file(
                "/usr/share/doc/rec-lib++1/copyright",
                LIB_COPYRIGHT.as_bytes(),
            ))
            .build(),
    )
}

/// The site's recipe (a 64 MiB disk) at `WORK/rec.toml`, and the lock
/// `lunforge lock` writes for it.
fn recipe_and_lock(site: &Site) -> (PathBuf, PathBuf) {
    let path = site.work.path().join("rec.toml");
    std::fs::write(&path, site.recipe().small_disk_text("ext4")).unwrap();
    lunforge(site.args("lock", &path, &site.cache(), &[])).ok();
    (path.clone(), path.with_extension("lock"))
}

/// `lunforge build RECIPE --locked -o OUT EXTRA…` with the first-boot
/// strategy and a fixed `SOURCE_DATE_EPOCH`; stdout and stderr.
fn build(
    site: &Site,
    recipe: &Path,
    out: &Path,
    extra: &[&str],
) -> (String, String) {
    let mut args = site.args(
        "build",
        recipe,
        &site.cache(),
        &["--locked", "--configure", "firstboot"],
    );
    args.extend(["-o".into(), out.into()]);
    args.extend(extra.iter().map(Into::into));
    let (mut cmd, shown) = lunforge_cmd(&args);
    cmd.env("SOURCE_DATE_EPOCH", "1700000000");
    let r = crate::support::finish(shown, cmd.output()).ok();
    (r.stdout, r.stderr)
}

fn json(path: &Path) -> Value {
    let bytes = std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `sha256sum FILE`'s digest.
fn sha256sum(file: &Path) -> String {
    let out = run(Command::new("sha256sum").arg(file), "coreutils");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The manifest's output and files are what `sha256sum` and `stat` say
/// of the files, `SHA256SUMS` checks with `sha256sum -c`, and the
/// recipe's and the lock's digests are those of `lunforge recipe show`
/// (with the build's `--set`s) and of the lockfile.
fn check_digests(
    manifest: &Value,
    (output, dir): (&Path, &Path),
    (recipe, sets): (&Path, &[&str]),
    lock: &Path,
) {
    let out = &manifest["output"];
    assert_eq!(out["sha256"], sha256sum(output), "{}", output.display());
    assert_eq!(out["size"], std::fs::metadata(output).unwrap().len());
    let files = manifest["files"].as_array().unwrap();
    let names: Vec<&str> =
        files.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"sbom.spdx.json"), "{names:?}");
    for f in files {
        let path = dir.join(f["name"].as_str().unwrap());
        assert_eq!(f["sha256"], sha256sum(&path), "{}", path.display());
        assert_eq!(f["size"], std::fs::metadata(&path).unwrap().len());
    }
    // Everything in the directory: the files, the manifest, SHA256SUMS.
    let on_disk: BTreeSet<String> =
        crate::support::files_under(dir).into_keys().collect();
    let mut listed: BTreeSet<String> =
        names.iter().map(|n| n.to_string()).collect();
    listed.extend(["manifest.json".to_string(), "SHA256SUMS".into()]);
    assert_eq!(on_disk, listed);
    let check = run(
        Command::new("sha256sum")
            .args(["--check", "--strict", "SHA256SUMS"])
            .current_dir(dir),
        "coreutils",
    );
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(said.contains("manifest.json: OK"), "{said}");
    assert_eq!(said.lines().count(), listed.len() - 1, "{said}");
    // `--configure firstboot` is a `--set` of its own.
    let mut show = Command::new(env!("CARGO_BIN_EXE_lunforge"));
    show.args(["recipe", "show"]).arg(recipe);
    for s in sets.iter().chain(&["system.configure=firstboot"]) {
        show.args(["--set", s]);
    }
    let show = run(&mut show, "lunforge");
    assert_eq!(
        manifest["recipe"]["sha256"],
        crate::support::sha256_hex(&show.stdout)
    );
    assert_eq!(manifest["recipe"]["source"], recipe.display().to_string());
    assert_eq!(manifest["lock"]["sha256"], sha256sum(lock));
}

/// `NAME VERSION ARCH` of the manifest's packages, and of the lock's.
fn package_lines(manifest: &Value, lock: &Path) -> (Vec<String>, Vec<String>) {
    let line = |p: &Value| {
        format!(
            "{} {} {}",
            p["name"].as_str().unwrap(),
            p["version"].as_str().unwrap(),
            p["architecture"].as_str().unwrap()
        )
    };
    let listed: Vec<String> = manifest["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(line)
        .collect();
    let lock = lunforge::resolve::lockfile::Lock::read(lock).expect("lock");
    let mut locked: Vec<String> = lock
        .packages
        .iter()
        .map(|p| format!("{} {} {}", p.name, p.version, p.architecture))
        .collect();
    locked.sort();
    (listed, locked)
}

/// The SPDX oracle: the schema, the license list, the references.
const CHECK_SPDX: &str = r##"
import json, re, sys
import jsonschema
from license_expression import get_spdx_licensing

schema = json.load(open(sys.argv[1]))
doc = json.load(open(sys.argv[2]))
errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(doc)]
idstring = re.compile(r"^[A-Za-z0-9.\-]+$")
ids = {"SPDXRef-DOCUMENT"}
for p in doc["packages"]:
    i = p["SPDXID"]
    if not i.startswith("SPDXRef-") or not idstring.match(i[8:]) or i in ids:
        errors.append("bad or repeated SPDXID " + i)
    ids.add(i)
refs = set()
for e in doc.get("hasExtractedLicensingInfos", []):
    r = e["licenseId"]
    if not r.startswith("LicenseRef-") or not idstring.match(r[11:]):
        errors.append("bad LicenseRef " + r)
    refs.add(r)
licensing = get_spdx_licensing()
for p in doc["packages"]:
    for field in ("licenseDeclared", "licenseConcluded"):
        e = p.get(field)
        if e in (None, "NOASSERTION", "NONE"):
            continue
        for k in licensing.unknown_license_keys(e):
            if not k.startswith("LicenseRef-"):
                errors.append(p["name"] + ": not on the SPDX list: " + k)
            elif k not in refs:
                errors.append(p["name"] + ": undeclared " + k)
for r in doc["relationships"]:
    for k in ("spdxElementId", "relatedSpdxElement"):
        if r[k] not in ids:
            errors.append("relationship to nothing: " + r[k])
describes = [r for r in doc["relationships"]
             if r["relationshipType"] == "DESCRIBES" and r["spdxElementId"] == "SPDXRef-DOCUMENT"]
if len(describes) != 1:
    errors.append("the document describes %d elements" % len(describes))
ns = doc["documentNamespace"]
if "#" in ns or not re.match(r"^[a-z][a-z0-9+.\-]*:", ns):
    errors.append("bad namespace " + ns)
if not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", doc["creationInfo"]["created"]):
    errors.append("bad created")
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
"##;

/// Validate `sbom` with [`CHECK_SPDX`].
fn validate_spdx(sbom: &Path) {
    require("/usr/bin/python3", "python3");
    let schema = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/spdx/spdx-schema-2.3.json");
    let out = Command::new("/usr/bin/python3")
        .args(["-c", CHECK_SPDX])
        .arg(&schema)
        .arg(sbom)
        .output()
        .expect("python3");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("ModuleNotFoundError"),
        "install python3-jsonschema and python3-license-expression: {err}"
    );
    assert!(
        out.status.success(),
        "{} is not valid SPDX 2.3:\n{}{err}",
        sbom.display(),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The SBOM's packages by name (binary packages, not their sources).
fn spdx_package<'a>(sbom: &'a Value, name: &str) -> &'a Value {
    sbom["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name && p["primaryPackagePurpose"].is_null())
        .unwrap_or_else(|| panic!("no package {name} in the SBOM"))
}

/// What the SBOM says of each package: its `.deb` (the digest the test
/// repository's index has), purl, source and declared licenses.
fn check_packages(site: &Site, sbom: &Value) {
    for (name, purl) in [
        ("rec-base", "pkg:deb/debian/rec-base@1.0-1%2Bb1?arch=amd64"),
        ("rec-dep", "pkg:deb/debian/rec-dep@2.0?arch=amd64"),
        (
            "rec-lib++1",
            "pkg:deb/debian/rec-lib%2B%2B1@1:3.0%2Bdfsg-2?arch=amd64",
        ),
    ] {
        let p = spdx_package(sbom, name);
        let deb = site.repo.deb(name);
        assert_eq!(p["versionInfo"], deb.version);
        assert_eq!(p["checksums"][0]["algorithm"], "SHA256");
        assert_eq!(p["checksums"][0]["checksumValue"], deb.sha256);
        assert_eq!(p["externalRefs"][0]["referenceLocator"], purl);
        assert_eq!(
            p["downloadLocation"],
            format!("{}/{}", site.server.url().trim_end_matches('/'), deb.path)
        );
    }
    let declared =
        |name: &str| spdx_package(sbom, name)["licenseDeclared"].clone();
    // (GPL-2+ or Artistic) and Expat, Expat being SPDX's MIT and the
    // unversioned Artistic not on the list.
    assert_eq!(
        declared("rec-base"),
        "(GPL-2.0-or-later OR LicenseRef-Artistic) AND MIT"
    );
    assert_eq!(
        declared("rec-lib++1"),
        "GPL-2.0-only WITH Linux-syscall-note AND LicenseRef-permissive"
    );
    assert_eq!(declared("rec-dep"), "NOASSERTION");
    let texts: Vec<(&str, &str)> = sbom["hasExtractedLicensingInfos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["licenseId"].as_str().unwrap(),
                e["extractedText"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        texts,
        [
            (
                "LicenseRef-Artistic",
                "The \"Artistic License\" of the test package.\n\nIts second paragraph.\n"
            ),
            ("LicenseRef-permissive", "Do as you like with this file.\n"),
        ]
    );
    // rec-base was built from rec-src 1.0-1 (its `Source` field); the
    // others from sources of their own names.
    let id = |p: &Value| p["SPDXID"].as_str().unwrap().to_string();
    let base = id(spdx_package(sbom, "rec-base"));
    let from: Vec<String> = sbom["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["spdxElementId"] == base.as_str()
                && r["relationshipType"] == "GENERATED_FROM"
        })
        .map(|r| r["relatedSpdxElement"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(from.len(), 1);
    let src = sbom["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| id(p) == from[0])
        .unwrap();
    assert_eq!(
        (&src["name"], &src["versionInfo"]),
        (&"rec-src".into(), &"1.0-1".into())
    );
    assert_eq!(src["primaryPackagePurpose"], "SOURCE");
}

/// A tarball: the manifest against the files, `dpkg-query` and the
/// lock; the SBOM against the schema, the license list and the
/// packages; a second build, the same bytes.
#[test]
fn a_tarball_build_records_what_it_made_and_from_what() {
    let site = site();
    let (recipe, lock) = recipe_and_lock(&site);
    let out = site.work.path().join("out");
    build(&site, &recipe, &out, &["--format", "tar"]);
    let dir = out.join("testguest");
    let tar = out.join("testguest.tar");
    let manifest = json(&dir.join("manifest.json"));
    assert_eq!(manifest["format"], "tar");
    assert_eq!(manifest["output"]["name"], "testguest.tar");
    assert_eq!(manifest["configure"], "firstboot");
    assert_eq!(manifest["source_date_epoch"], 1_700_000_000);
    check_digests(&manifest, (&tar, &dir), (&recipe, &[]), &lock);

    // The packages: as dpkg's database in the tarball lists them, and
    // as the lock does.
    let root = site.work.path().join("root");
    std::fs::create_dir(&root).unwrap();
    run(
        Command::new("tar")
            .arg("-xf")
            .arg(&tar)
            .arg("-C")
            .arg(&root),
        "tar",
    );
    let q = run(
        Command::new("dpkg-query")
            .arg(format!("--root={}", root.display()))
            .args(["-W", "-f", "${Package} ${Version} ${Architecture}\\n"]),
        "dpkg",
    );
    let mut dpkg: Vec<String> = String::from_utf8_lossy(&q.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    dpkg.sort();
    let (listed, locked) = package_lines(&manifest, &lock);
    assert_eq!(listed, dpkg);
    assert_eq!(listed, locked);
    assert_eq!(listed.len(), 3);

    let sbom_path = dir.join("sbom.spdx.json");
    validate_spdx(&sbom_path);
    let sbom = json(&sbom_path);
    check_packages(&site, &sbom);
    let guest = &sbom["packages"][0];
    assert_eq!(guest["checksums"][0]["checksumValue"], sha256sum(&tar));
    assert_eq!(sbom["creationInfo"]["created"], "2023-11-14T22:13:20Z");

    // Another build of the same lock, elsewhere: the same bytes.
    let again = site.work.path().join("again");
    build(&site, &recipe, &again, &["--format", "tar"]);
    for f in ["manifest.json", "sbom.spdx.json", "SHA256SUMS"] {
        assert!(
            std::fs::read(dir.join(f)).unwrap()
                == std::fs::read(again.join("testguest").join(f)).unwrap(),
            "{f} differs between two builds of one lock"
        );
    }
}

/// Disks, msdos and GPT (whose backup table comes before the
/// partitions), to `OUT` and to a `--target` file, with `--json`: the
/// image's digest, hashed as it was written, is `sha256sum`'s; the JSON
/// report on stdout lists every file the build made, where it is.
#[test]
fn a_disk_build_records_its_image_and_reports_json() {
    let site = site();
    let (recipe, lock) = recipe_and_lock(&site);
    for (table, target) in [("msdos", None), ("gpt", Some("elsewhere.img"))] {
        let out = site.work.path().join(format!("out-{table}"));
        let set = format!("image.table={table}");
        let target = target.map(|t| site.work.path().join(t));
        let mut extra = vec!["--json", "--set", &set];
        let t;
        if let Some(path) = &target {
            t = path.display().to_string();
            extra.extend(["--target", &t]);
        }
        let (stdout, stderr) = build(&site, &recipe, &out, &extra);
        assert!(stderr.contains("wrote "), "{stderr}");
        let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!("stdout is not one JSON document: {e}\n{stdout}")
        });
        let dir = out.join("testguest");
        let image = target.clone().unwrap_or_else(|| out.join("testguest.img"));
        let manifest = json(&dir.join("manifest.json"));
        assert_eq!(manifest["format"], "image");
        let name = target
            .as_ref()
            .map_or("testguest.img".to_string(), |p| p.display().to_string());
        assert_eq!(manifest["output"]["name"], name);
        check_digests(&manifest, (&image, &dir), (&recipe, &[&set]), &lock);
        validate_spdx(&dir.join("sbom.spdx.json"));
        // The SBOM names the disk as OUT would, wherever it went.
        let sbom = json(&dir.join("sbom.spdx.json"));
        assert_eq!(sbom["packages"][0]["packageFileName"], "testguest.img");

        assert_eq!(report["format"], "image");
        assert_eq!(report["configure"], "firstboot");
        assert_eq!(report["packages"], 3);
        let artifacts = report["artifacts"].as_array().unwrap();
        assert_eq!(artifacts[0]["path"], image.display().to_string());
        // The image, and everything in the directory.
        assert_eq!(artifacts.len(), 1 + 3, "{stdout}");
        for a in artifacts {
            let path = Path::new(a["path"].as_str().unwrap());
            assert_eq!(a["sha256"], sha256sum(path), "{}", path.display());
            assert_eq!(a["size"], std::fs::metadata(path).unwrap().len());
        }
        let stages: Vec<&str> = report["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["stage"].as_str().unwrap())
            .collect();
        assert_eq!(stages.first(), Some(&"resolve"));
        assert_eq!(stages.last(), Some(&"manifest"));
    }
}

/// A loop device as the target (as root): the digest of the disk
/// written in place, hashed as it went to the device, is that of the
/// device's bytes.
#[test]
fn a_device_build_records_the_disk_written_in_place() {
    if !crate::blockdev_loop::root(
        "a_device_build_records_the_disk_written_in_place",
    ) {
        return;
    }
    let site = site();
    let (recipe, _) = recipe_and_lock(&site);
    let lo = crate::blockdev_loop::Loop::new(64 << 20, false);
    let out = site.work.path().join("out");
    let dev = lo.dev.display().to_string();
    build(&site, &recipe, &out, &["--target", &dev]);
    let manifest = json(&out.join("testguest/manifest.json"));
    assert_eq!(manifest["output"]["name"], dev);
    assert_eq!(manifest["output"]["size"], 64 << 20);
    assert_eq!(manifest["output"]["sha256"], sha256sum(&lo.dev));
}
