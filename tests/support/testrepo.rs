//! A local, signed Debian repository built by the tests themselves with
//! the real Debian tools, so that its format is what apt reads, not what
//! lunforge believes apt reads:
//!
//! - each package is a real `.deb` made by `dpkg-deb --build
//!   --root-owner-group` (package `dpkg`) from a tree with a
//!   `DEBIAN/control`, a payload file and any file the test adds
//!   ([`Pkg::file`]);
//! - `dists/SUITE/main/binary-amd64/Packages` is written by
//!   `apt-ftparchive packages` (package `apt-utils`), compressed with
//!   `xz` (`xz-utils`) and `gzip`;
//! - `Release` is written by `apt-ftparchive release` and signed by `gpg`
//!   with the test key of [`super::gpg`]: `gpg --clearsign` → `InRelease`,
//!   `gpg --detach-sign --armor` → `Release.gpg`;
//! - optionally, `by-hash/SHA256/<hex>` copies of the indexes with
//!   `Acquire-By-Hash: yes`, as the Debian archive has.
//!
//! ```ignore
//! let repo = TestRepo::new("lftest")
//!     .package(Pkg::new("aa", "1.0").depends("bb (>= 2) | cc").essential())
//!     .package(Pkg::new("bb", "2.0").provides("vv").priority("required"))
//!     .build();
//! let server = repo.serve(); // or Site::new(repo) for a whole test bed
//! ```

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use super::gpg::{self, Sig};
use super::http::Server;
use super::{require, run, sha256_hex};

/// `SOURCE_DATE_EPOCH` of the test `.deb`s, so they are reproducible.
const DEB_EPOCH: &str = "1700000000";

/// One binary package to build.
#[derive(Debug, Clone)]
pub(crate) struct Pkg {
    name: String,
    version: String,
    arch: String,
    fields: Vec<(String, String)>,
    priority: String,
    payload: usize,
    /// More files: path in the package (absolute), bytes.
    files: Vec<(String, Vec<u8>)>,
    /// Turns the `.deb` dpkg-deb built into the one the mirror serves
    /// (hostile packages); the index then lists the changed bytes.
    mangle: Option<fn(Vec<u8>) -> Vec<u8>>,
}

impl Pkg {
    /// Serve `f(deb)` instead of the `.deb` dpkg-deb builds: a package
    /// whose signed index entry is right but whose content is hostile.
    pub(crate) fn mangled(mut self, f: fn(Vec<u8>) -> Vec<u8>) -> Pkg {
        self.mangle = Some(f);
        self
    }

    /// `Architecture: amd64`, `Priority: optional`, a small payload.
    pub(crate) fn new(name: &str, version: &str) -> Pkg {
        Pkg {
            name: name.into(),
            version: version.into(),
            arch: "amd64".into(),
            fields: Vec::new(),
            priority: "optional".into(),
            payload: 64,
            files: Vec::new(),
            mangle: None,
        }
    }

    fn field(mut self, key: &str, value: &str) -> Pkg {
        self.fields.push((key.into(), value.into()));
        self
    }

    /// `Architecture`.
    pub(crate) fn arch(mut self, a: &str) -> Pkg {
        self.arch = a.into();
        self
    }

    /// `Depends`.
    pub(crate) fn depends(self, v: &str) -> Pkg {
        self.field("Depends", v)
    }

    /// `Pre-Depends`.
    pub(crate) fn pre_depends(self, v: &str) -> Pkg {
        self.field("Pre-Depends", v)
    }

    /// `Provides`.
    pub(crate) fn provides(self, v: &str) -> Pkg {
        self.field("Provides", v)
    }

    /// `Conflicts`.
    pub(crate) fn conflicts(self, v: &str) -> Pkg {
        self.field("Conflicts", v)
    }

    /// `Breaks`.
    pub(crate) fn breaks(self, v: &str) -> Pkg {
        self.field("Breaks", v)
    }

    /// `Recommends`.
    pub(crate) fn recommends(self, v: &str) -> Pkg {
        self.field("Recommends", v)
    }

    /// `Source` (`NAME` or `NAME (VERSION)`).
    pub(crate) fn source(self, v: &str) -> Pkg {
        self.field("Source", v)
    }

    /// `Essential: yes`.
    pub(crate) fn essential(self) -> Pkg {
        self.field("Essential", "yes")
    }

    /// `Priority`.
    pub(crate) fn priority(mut self, p: &str) -> Pkg {
        self.priority = p.into();
        self
    }

    /// Size of the (incompressible) payload file, in bytes.
    pub(crate) fn payload(mut self, bytes: usize) -> Pkg {
        self.payload = bytes;
        self
    }

    /// Ship `bytes` at `path` (absolute, as installed) too.
    pub(crate) fn file(mut self, path: &str, bytes: &[u8]) -> Pkg {
        self.files.push((path.into(), bytes.into()));
        self
    }

    /// Pool file name: `NAME_VERSION_ARCH.deb`, epoch dropped.
    fn file_name(&self) -> String {
        let v = self.version.split_once(':').map_or(&*self.version, |x| x.1);
        format!("{}_{}_{}.deb", self.name, v, self.arch)
    }

    fn control(&self) -> String {
        let mut c = format!(
            "Package: {}\nVersion: {}\nArchitecture: {}\n\
             Maintainer: lunforge tests <tests@lunforge.invalid>\n\
             Section: misc\nPriority: {}\n",
            self.name, self.version, self.arch, self.priority
        );
        for (k, v) in &self.fields {
            c.push_str(&format!("{k}: {v}\n"));
        }
        c.push_str(&format!(
            "Description: lunforge test package {}\n \
             Built by the lunforge integration tests.\n",
            self.name
        ));
        c
    }

    /// Deterministic, incompressible payload bytes.
    fn payload_bytes(&self) -> Vec<u8> {
        let mut x: u64 = self
            .name
            .bytes()
            .chain(self.version.bytes())
            .fold(0x9e37_79b9_7f4a_7c15, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            });
        let mut out = format!("{} {}\n", self.name, self.version).into_bytes();
        while out.len() < self.payload {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out.extend_from_slice(&x.to_le_bytes());
        }
        out.truncate(self.payload.max(1));
        out
    }
}

/// How the suite is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signing {
    /// `InRelease` and `Release` + `Release.gpg`, as Debian publishes.
    Both,
    /// Only `Release` + `Release.gpg`.
    Detached,
    /// `Release` alone.
    Unsigned,
}

/// A repository to build.
#[derive(Debug, Clone)]
pub(crate) struct TestRepo {
    suite: String,
    packages: Vec<Pkg>,
    signing: Signing,
    by_hash: bool,
    valid_for: Option<u64>,
    release_suite: Option<String>,
}

/// One built `.deb` as the index describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Deb {
    /// Package name.
    pub(crate) name: String,
    /// Version.
    pub(crate) version: String,
    /// Architecture.
    pub(crate) arch: String,
    /// Path relative to the mirror base (`pool/main/…`).
    pub(crate) path: String,
    /// Size in bytes.
    pub(crate) size: u64,
    /// SHA-256, hex.
    pub(crate) sha256: String,
}

/// A built repository in a temporary directory.
pub(crate) struct Repo {
    root: tempfile::TempDir,
    /// The suite name (`dists/SUITE`).
    pub(crate) suite: String,
    /// The packages, in the order given.
    pub(crate) debs: Vec<Deb>,
}

impl TestRepo {
    /// An empty repository for `suite`, signed both ways, without by-hash.
    pub(crate) fn new(suite: &str) -> TestRepo {
        TestRepo {
            suite: suite.into(),
            packages: Vec::new(),
            signing: Signing::Both,
            by_hash: false,
            valid_for: None,
            release_suite: None,
        }
    }

    /// Add a package.
    pub(crate) fn package(mut self, p: Pkg) -> TestRepo {
        self.packages.push(p);
        self
    }

    /// Add `count` essential packages `pkg-0`, `pkg-1`, … of version
    /// 1.0, each with `payload` bytes of incompressible payload.
    pub(crate) fn essentials(
        mut self,
        count: usize,
        payload: usize,
    ) -> TestRepo {
        for i in 0..count {
            self = self.package(
                Pkg::new(&format!("pkg-{i}"), "1.0")
                    .essential()
                    .payload(payload),
            );
        }
        self
    }

    /// How to sign.
    pub(crate) fn signing(mut self, s: Signing) -> TestRepo {
        self.signing = s;
        self
    }

    /// Publish `by-hash` copies and `Acquire-By-Hash: yes`.
    pub(crate) fn by_hash(mut self) -> TestRepo {
        self.by_hash = true;
        self
    }

    /// Give the Release a `Valid-Until` this many seconds after its
    /// `Date` (apt-ftparchive's `ValidTime`).
    pub(crate) fn valid_for(mut self, seconds: u64) -> TestRepo {
        self.valid_for = Some(seconds);
        self
    }

    /// Write `Suite: NAME` into the Release (the `Codename` stays the
    /// `dists/` name), as Debian's `stable` is a name for `trixie`.
    pub(crate) fn release_suite(mut self, name: &str) -> TestRepo {
        self.release_suite = Some(name.into());
        self
    }

    /// Build the `.deb`s, the indexes, the Release and its signatures.
    pub(crate) fn build(self) -> Repo {
        require("dpkg-deb", "dpkg");
        require("apt-ftparchive", "apt-utils");
        require("xz", "xz-utils");
        require("gzip", "gzip");
        let root = tempfile::Builder::new()
            .prefix("lf-repo-")
            .tempdir()
            .expect("repo dir");
        let mirror = root.path().join("mirror");
        let pool = mirror.join("pool/main");
        let build = root.path().join("build");
        std::fs::create_dir_all(&pool).expect("pool");
        std::fs::create_dir_all(root.path().join("keys")).expect("keys");
        let mut debs = Vec::new();
        for p in &self.packages {
            let tree = build.join(format!("{}_{}", p.name, p.file_name()));
            let doc = tree.join("usr/share/lunforge-test");
            std::fs::create_dir_all(tree.join("DEBIAN")).expect("tree");
            std::fs::create_dir_all(&doc).expect("tree");
            std::fs::write(tree.join("DEBIAN/control"), p.control())
                .expect("control");
            std::fs::write(doc.join(&p.name), p.payload_bytes())
                .expect("payload");
            for (path, bytes) in &p.files {
                let at = tree.join(path.trim_start_matches('/'));
                std::fs::create_dir_all(at.parent().expect("parent"))
                    .expect("tree");
                std::fs::write(&at, bytes).expect("file");
            }
            let rel = format!("pool/main/{}", p.file_name());
            run(
                Command::new("dpkg-deb")
                    .env("SOURCE_DATE_EPOCH", DEB_EPOCH)
                    .args(["-Zgzip", "--root-owner-group", "--build"])
                    .arg(&tree)
                    .arg(mirror.join(&rel)),
                "dpkg",
            );
            let mut data = std::fs::read(mirror.join(&rel)).expect("deb");
            if let Some(f) = p.mangle {
                data = f(data);
                std::fs::write(mirror.join(&rel), &data).expect("deb");
            }
            debs.push(Deb {
                name: p.name.clone(),
                version: p.version.clone(),
                arch: p.arch.clone(),
                path: rel,
                size: data.len() as u64,
                sha256: sha256_hex(&data),
            });
        }
        let repo = Repo {
            root,
            suite: self.suite.clone(),
            debs,
        };
        repo.write_indexes(self.by_hash);
        let suite_field = self.release_suite.as_deref().unwrap_or(&self.suite);
        repo.write_release(suite_field, self.by_hash, self.valid_for);
        repo.sign(self.signing);
        repo
    }
}

impl Repo {
    /// The directory served as the mirror base.
    pub(crate) fn mirror(&self) -> PathBuf {
        self.root.path().join("mirror")
    }

    /// `mirror/dists/SUITE`.
    pub(crate) fn dists(&self) -> PathBuf {
        self.mirror().join("dists").join(&self.suite)
    }

    /// A file of the mirror, by path relative to its base.
    pub(crate) fn file(&self, rel: &str) -> PathBuf {
        self.mirror().join(rel)
    }

    /// The built package called `name`.
    #[track_caller]
    pub(crate) fn deb(&self, name: &str) -> &Deb {
        self.debs
            .iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("no package {name} in the test repo"))
    }

    /// The built package `name` at `version`.
    #[track_caller]
    pub(crate) fn deb_at(&self, name: &str, version: &str) -> &Deb {
        self.debs
            .iter()
            .find(|d| d.name == name && d.version == version)
            .unwrap_or_else(|| {
                panic!("no package {name} {version} in the test repo")
            })
    }

    /// The keyring holding the signing key.
    pub(crate) fn keyring(&self) -> PathBuf {
        gpg::keyring(&self.root.path().join("keys"), false)
    }

    /// A keyring holding only an unrelated key.
    pub(crate) fn other_keyring(&self) -> PathBuf {
        gpg::keyring(&self.root.path().join("keys"), true)
    }

    /// Start serving the mirror on 127.0.0.1.
    pub(crate) fn serve(&self) -> Server {
        Server::start(&self.mirror())
    }

    /// SHA-256 of each form of the `Packages` index (plain, `.xz`,
    /// `.gz`): the only files of the suite lunforge may keep in its
    /// cache besides packages.
    pub(crate) fn index_sha256s(&self) -> BTreeSet<String> {
        ["Packages", "Packages.xz", "Packages.gz"]
            .iter()
            .map(|n| {
                let data = std::fs::read(self.index_dir().join(n));
                sha256_hex(&data.expect("read index"))
            })
            .collect()
    }

    fn index_dir(&self) -> PathBuf {
        self.dists().join("main/binary-amd64")
    }

    fn write_indexes(&self, by_hash: bool) {
        let dir = self.index_dir();
        std::fs::create_dir_all(&dir).expect("index dir");
        let out = run(
            Command::new("apt-ftparchive")
                .current_dir(self.mirror())
                .args(["packages", "pool"]),
            "apt-utils",
        );
        let packages = dir.join("Packages");
        std::fs::write(&packages, &out.stdout).expect("Packages");
        run(
            Command::new("xz").args(["-k", "-f"]).arg(&packages),
            "xz-utils",
        );
        run(
            Command::new("gzip").args(["-k", "-f", "-n"]).arg(&packages),
            "gzip",
        );
        if by_hash {
            let bh = dir.join("by-hash/SHA256");
            std::fs::create_dir_all(&bh).expect("by-hash");
            for name in ["Packages", "Packages.xz", "Packages.gz"] {
                let data = std::fs::read(dir.join(name)).expect("index");
                std::fs::write(bh.join(sha256_hex(&data)), data)
                    .expect("by-hash copy");
            }
        }
    }

    fn write_release(
        &self,
        suite_field: &str,
        by_hash: bool,
        valid_for: Option<u64>,
    ) {
        let mut cmd = Command::new("apt-ftparchive");
        cmd.current_dir(self.mirror());
        let set =
            |k: &str, v: &str| format!("APT::FTPArchive::Release::{k}={v}");
        for (k, v) in [
            ("Origin", "lunforge-tests"),
            ("Label", "lunforge-tests"),
            ("Suite", suite_field),
            ("Codename", self.suite.as_str()),
            ("Version", "1.0"),
            ("Architectures", "amd64"),
            ("Components", "main"),
            ("Description", "lunforge integration test repository"),
        ] {
            cmd.arg("-o").arg(set(k, v));
        }
        if by_hash {
            cmd.arg("-o").arg(set("Acquire-By-Hash", "yes"));
        }
        if let Some(secs) = valid_for {
            cmd.arg("-o").arg(set("ValidTime", &secs.to_string()));
        }
        cmd.arg("release").arg(format!("dists/{}", self.suite));
        let out = run(&mut cmd, "apt-utils");
        std::fs::write(self.dists().join("Release"), &out.stdout)
            .expect("Release");
    }

    /// (Re)write the signatures of `Release` as `how` says, removing
    /// those it does not ask for.
    pub(crate) fn sign(&self, how: Signing) {
        let d = self.dists();
        let (rel, inrel, gpg_sig) = (
            d.join("Release"),
            d.join("InRelease"),
            d.join("Release.gpg"),
        );
        let _ = std::fs::remove_file(&inrel);
        let _ = std::fs::remove_file(&gpg_sig);
        if how == Signing::Both {
            gpg::sign(&rel, &inrel, Sig::Clear);
        }
        if how != Signing::Unsigned {
            gpg::sign(&rel, &gpg_sig, Sig::Detached);
        }
    }

    /// The packages' `name version arch` lines, sorted by name, for the
    /// packages named, as `lunforge resolve` prints them.
    #[track_caller]
    pub(crate) fn lines(&self, names: &[&str]) -> Vec<String> {
        let mut v: Vec<&Deb> = names.iter().map(|n| self.deb(n)).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v.iter()
            .map(|d| format!("{} {} {}", d.name, d.version, d.arch))
            .collect()
    }
}
