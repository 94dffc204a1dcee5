//! Helpers shared by the integration tests: the external tools they rely
//! on, running the `lunforge` binary, recipes pointing at a test mirror,
//! looking into a download cache, booting guests under QEMU ([`qemu`]),
//! and machines that run for minutes, driven over SSH ([`vm`]).
//!
//! A tool that is missing makes the test fail with the Debian package to
//! install; nothing is ever skipped silently.

pub(crate) mod ext;
pub(crate) mod faulty;
pub(crate) mod gpg;
pub(crate) mod http;
pub(crate) mod oracle;
pub(crate) mod qemu;
pub(crate) mod testrepo;
pub(crate) mod tgtd;
pub(crate) mod user;
pub(crate) mod vm;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

/// Fail unless `program` is in `PATH`; the message names the Debian
/// `package` that ships it.
#[track_caller]
pub(crate) fn require(program: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join(program);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "`{program}` is not installed (not found in PATH): install the \
         Debian package {package} (apt-get install {package}, or run \
         `make test` as root)"
    );
}

/// Run a command to completion; panic with its output unless it
/// succeeds. `package` names the Debian package of the program.
#[track_caller]
pub(crate) fn run(cmd: &mut Command, package: &str) -> Output {
    let program = cmd.get_program().to_string_lossy().into_owned();
    require(&program, package);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// What one run of `lunforge` did.
#[derive(Debug)]
pub(crate) struct Run {
    /// The arguments, for messages.
    pub(crate) args: Vec<String>,
    /// Exit code (-1 when killed by a signal).
    pub(crate) code: i32,
    /// Standard output.
    pub(crate) stdout: String,
    /// Standard error.
    pub(crate) stderr: String,
}

impl Run {
    /// Panic with the whole output unless the run succeeded.
    #[track_caller]
    pub(crate) fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "lunforge {:?} failed:\nstdout:\n{}\nstderr:\n{}",
            self.args, self.stdout, self.stderr
        );
        self
    }

    /// Panic unless the run failed; return its error message (stderr).
    #[track_caller]
    pub(crate) fn fails(self) -> String {
        assert_ne!(
            self.code, 0,
            "lunforge {:?} should have failed:\nstdout:\n{}\nstderr:\n{}",
            self.args, self.stdout, self.stderr
        );
        assert!(
            self.stderr.contains("lunforge: error: "),
            "no error line on stderr of lunforge {:?}:\n{}",
            self.args,
            self.stderr
        );
        self.stderr
    }
}

/// The `lunforge` command under test. A proxy from the environment is
/// kept (the host's mirror may need it) but never used for the test
/// mirror on 127.0.0.1.
pub(crate) fn lunforge_cmd<I, S>(args: I) -> (Command, Vec<String>)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lunforge"));
    let mut shown = Vec::new();
    for a in args {
        shown.push(a.as_ref().to_string_lossy().into_owned());
        cmd.arg(a);
    }
    for v in ["no_proxy", "NO_PROXY"] {
        let mut list = std::env::var(v).unwrap_or_default();
        if !list.is_empty() {
            list.push(',');
        }
        list.push_str("127.0.0.1,localhost");
        cmd.env(v, list);
    }
    cmd.env_remove("LUNFORGE_CACHE");
    (cmd, shown)
}

/// Run `lunforge` with `args` against a local mirror.
pub(crate) fn lunforge<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let (mut cmd, args) = lunforge_cmd(args);
    finish(args, cmd.output())
}

/// Turn a finished `lunforge` process into a [`Run`].
pub(crate) fn finish(args: Vec<String>, out: std::io::Result<Output>) -> Run {
    let out = out.unwrap_or_else(|e| panic!("cannot run lunforge: {e}"));
    Run {
        args,
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A test repository being served, with a working directory for
/// recipes, lockfiles and the download cache of one test.
pub(crate) struct Site {
    /// The repository.
    pub(crate) repo: testrepo::Repo,
    /// Its HTTP server.
    pub(crate) server: http::Server,
    /// The test's working directory.
    pub(crate) work: tempfile::TempDir,
    /// The keyring that holds the repository's signing key.
    pub(crate) keyring: PathBuf,
}

impl Site {
    /// Serve `repo` and make a working directory.
    pub(crate) fn new(repo: testrepo::Repo) -> Site {
        let server = repo.serve();
        let keyring = repo.keyring();
        let work = tempfile::Builder::new()
            .prefix("lf-work-")
            .tempdir()
            .expect("work dir");
        Site {
            repo,
            server,
            work,
            keyring,
        }
    }

    /// A recipe for this site's mirror and suite (variant `essential`).
    pub(crate) fn recipe(&self) -> RecipeFile {
        RecipeFile::new(&self.server.url(), &self.repo.suite)
    }

    /// The default download cache of the test: `WORK/cache`.
    pub(crate) fn cache(&self) -> PathBuf {
        self.work.path().join("cache")
    }

    /// `lunforge COMMAND RECIPE --keyring K --cache WORK/cache EXTRA…`,
    /// with `recipe` written to `WORK/guest.toml` first.
    pub(crate) fn run(
        &self,
        command: &str,
        recipe: &RecipeFile,
        extra: &[&str],
    ) -> Run {
        let path = recipe.write(self.work.path());
        lunforge(self.args(command, &path, &self.cache(), extra))
    }

    /// The argument list of [`Site::run`] for a given recipe path and
    /// cache.
    pub(crate) fn args(
        &self,
        command: &str,
        recipe: &Path,
        cache: &Path,
        extra: &[&str],
    ) -> Vec<OsString> {
        let mut v: Vec<OsString> = vec![command.into(), recipe.into()];
        v.push("--keyring".into());
        v.push(self.keyring.clone().into());
        v.push("--cache".into());
        v.push(cache.into());
        v.extend(extra.iter().map(OsString::from));
        v
    }

    /// `WORK/guest.lock`, where `lunforge lock` writes by default.
    pub(crate) fn lock_path(&self) -> PathBuf {
        self.work.path().join("guest.lock")
    }
}

/// Assert that `text` contains each of `parts`, in this order.
#[track_caller]
pub(crate) fn assert_in_order(text: &str, parts: &[&str]) {
    let mut rest = text;
    for p in parts {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => panic!(
                "expected {p:?} (after {:?}) in:\n{text}",
                parts.iter().take_while(|q| *q != p).collect::<Vec<_>>()
            ),
        }
    }
}

/// A recipe for a test mirror, written to a file.
#[derive(Debug, Clone)]
pub(crate) struct RecipeFile {
    mirror: String,
    suite: String,
    variant: String,
    include: Vec<String>,
    exclude: Vec<String>,
}

impl RecipeFile {
    /// Variant `essential`, nothing included or excluded.
    pub(crate) fn new(mirror: &str, suite: &str) -> RecipeFile {
        RecipeFile {
            mirror: mirror.into(),
            suite: suite.into(),
            variant: "essential".into(),
            include: Vec::new(),
            exclude: Vec::new(),
        }
    }

    /// Set `system.suite`.
    pub(crate) fn suite(mut self, s: &str) -> RecipeFile {
        self.suite = s.into();
        self
    }

    /// Set `system.variant`.
    pub(crate) fn variant(mut self, v: &str) -> RecipeFile {
        self.variant = v.into();
        self
    }

    /// Set `system.include`.
    pub(crate) fn include(mut self, names: &[&str]) -> RecipeFile {
        self.include = names.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Set `system.exclude`.
    pub(crate) fn exclude(mut self, names: &[&str]) -> RecipeFile {
        self.exclude = names.iter().map(|s| s.to_string()).collect();
        self
    }

    /// The TOML text.
    pub(crate) fn text(&self) -> String {
        let list = |v: &[String]| {
            let items: Vec<String> =
                v.iter().map(|s| format!("{s:?}")).collect();
            format!("[{}]", items.join(", "))
        };
        format!(
            "[image]\nname = \"testguest\"\nsize = \"1GiB\"\n\n\
             [system]\nsuite = {:?}\narchitecture = \"amd64\"\n\
             variant = {:?}\nmirror = {:?}\ninclude = {}\nexclude = {}\n",
            self.suite,
            self.variant,
            self.mirror,
            list(&self.include),
            list(&self.exclude)
        )
    }

    /// The TOML text with a 64 MiB disk instead of the default: 8 MiB
    /// of swap and a root file system `fs` for the rest (a cheap build).
    pub(crate) fn small_disk_text(&self, fs: &str) -> String {
        self.text().replace(
            "size = \"1GiB\"\n",
            &format!(
                "size = \"64MiB\"\n\n[[partitions]]\nuse = \"swap\"\n\
                 size = \"8MiB\"\n\n[[partitions]]\nuse = \"root\"\n\
                 fs = \"{fs}\"\nsize = \"rest\"\n"
            ),
        )
    }

    /// Write the recipe as `dir/guest.toml` and return its path.
    pub(crate) fn write(&self, dir: &Path) -> PathBuf {
        let p = dir.join("guest.toml");
        std::fs::write(&p, self.text()).expect("write recipe");
        p
    }
}

/// The byte offset of the root partition of a built image (the last
/// partition, in the recipes the tests build), as `sfdisk --json` reads
/// its table: where `debugfs` and `e2fsck` find the root with
/// `IMAGE?offset=`.
pub(crate) fn root_offset(image: &Path) -> u64 {
    let out = Command::new("sfdisk")
        .arg("--json")
        .arg(image)
        .output()
        .expect("sfdisk (fdisk)");
    assert!(out.status.success(), "sfdisk --json: {out:?}");
    let table: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("sfdisk's JSON");
    let parts = table["partitiontable"]["partitions"]
        .as_array()
        .expect("partitions");
    let start = parts.last().expect("a partition")["start"]
        .as_u64()
        .expect("start");
    start * 512
}

/// Hex SHA-256 of `data`.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Every regular file under `dir`, relative path → content.
pub(crate) fn files_under(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let ft = e.file_type().expect("file type");
            if ft.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).expect("under base");
                let data = std::fs::read(&p).expect("read cache file");
                out.insert(rel.to_string_lossy().into_owned(), data);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Check the layout of a download cache and return its content files
/// (`sha256/xx/<hex>` → content): every such file hashes to its name and
/// sits in the right fan-out directory, nothing else is stored, and
/// `tmp/` is empty.
#[track_caller]
pub(crate) fn cache_contents(cache: &Path) -> BTreeMap<String, Vec<u8>> {
    let files = files_under(cache);
    let mut out = BTreeMap::new();
    for (rel, data) in files {
        let parts: Vec<&str> = rel.split('/').collect();
        match parts[..] {
            ["sha256", fan, name] => {
                assert_eq!(
                    sha256_hex(&data),
                    name,
                    "cache file {rel} does not hash to its name"
                );
                assert_eq!(fan, &name[..2], "cache file {rel} misplaced");
                out.insert(name.to_string(), data);
            }
            ["tmp", ..] => {
                panic!("cache tmp/ is not empty: {rel} was left behind")
            }
            _ => panic!("unexpected file in the cache: {rel}"),
        }
    }
    out
}
