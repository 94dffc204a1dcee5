//! The reference package sets: what `mmdebstrap` (package `mmdebstrap`)
//! installs for a suite and variant, read from the `var/lib/dpkg/status`
//! of the tarball it makes.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use super::{require, run};

/// One installed package of a dpkg `status` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Installed {
    /// `Version`.
    pub(crate) version: String,
    /// `Pre-Depends`, then `Depends`, joined by `, `.
    pub(crate) depends: String,
    /// `Provides`.
    pub(crate) provides: String,
}

/// Whether this process runs as (effective) root.
pub(crate) fn is_root() -> bool {
    let status =
        std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .is_some_and(|euid| euid == "0")
}

/// What `mmdebstrap` installed.
#[derive(Debug)]
pub(crate) struct Bootstrap {
    /// The chroot's `var/lib/dpkg/status`.
    pub(crate) status: String,
    /// The `InRelease` apt used (kept with `--skip=cleanup/apt/lists`).
    pub(crate) inrelease: Vec<u8>,
    /// The tarball itself, in the caller's work directory.
    pub(crate) tar: std::path::PathBuf,
}

/// Run `mmdebstrap --variant=VARIANT SUITE` from `uri` (as root with
/// `--mode=root`, else `--mode=unshare`) into a tarball in `work`, and
/// read back its dpkg status and the `InRelease` it was made from.
pub(crate) fn mmdebstrap(
    suite: &str,
    variant: &str,
    uri: &str,
    work: &Path,
) -> Bootstrap {
    require("mmdebstrap", "mmdebstrap");
    require("tar", "tar");
    let tar = work.join(format!("{suite}-{variant}.tar"));
    let mode = if is_root() { "root" } else { "unshare" };
    let mut cmd = Command::new("mmdebstrap");
    cmd.arg(format!("--variant={variant}"))
        .arg(format!("--mode={mode}"))
        .arg("--quiet")
        .arg("--skip=cleanup/apt/lists")
        .arg(suite)
        .arg(&tar)
        .arg(format!("deb {uri} {suite} main"))
        .env("TMPDIR", work);
    run(&mut cmd, "mmdebstrap");
    let extract = |member: &str| {
        run(
            Command::new("tar")
                .args(["--wildcards", "-xOf"])
                .arg(&tar)
                .arg(member),
            "tar",
        )
        .stdout
    };
    let status = extract("./var/lib/dpkg/status");
    let inrelease =
        extract(&format!("./var/lib/apt/lists/*_dists_{suite}_InRelease"));
    Bootstrap {
        status: String::from_utf8(status).expect("status is UTF-8"),
        inrelease,
        tar,
    }
}

/// The packages of a dpkg `status` file whose state is `installed`.
pub(crate) fn parse_status(text: &str) -> BTreeMap<String, Installed> {
    let mut out = BTreeMap::new();
    for para in text.split("\n\n") {
        let mut fields: BTreeMap<String, String> = BTreeMap::new();
        let mut last: Option<String> = None;
        for line in para.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some(k) = &last {
                    let v = fields.entry(k.clone()).or_default();
                    v.push('\n');
                    v.push_str(line.trim());
                }
            } else if let Some((k, v)) = line.split_once(':') {
                fields.insert(k.to_string(), v.trim().to_string());
                last = Some(k.to_string());
            }
        }
        let Some(name) = fields.get("Package") else {
            continue;
        };
        let installed = fields
            .get("Status")
            .is_some_and(|s| s.ends_with(" installed"));
        if !installed {
            continue;
        }
        let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
        let depends = [get("Pre-Depends"), get("Depends")]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", ");
        out.insert(
            name.clone(),
            Installed {
                version: get("Version"),
                depends,
                provides: get("Provides"),
            },
        );
    }
    out
}

/// A private apt configuration (`-o Dir=…`, an empty dpkg status) that
/// reads one suite of a test mirror: apt's own resolver as the oracle of
/// what a package request installs. Needs no root and touches nothing of
/// the host's apt state.
pub(crate) struct Apt {
    dir: tempfile::TempDir,
}

impl Apt {
    /// Configure apt for `suite` of `url`, trusting `keyring`, and run
    /// `apt-get update`.
    pub(crate) fn new(url: &str, suite: &str, keyring: &Path) -> Apt {
        require("apt-get", "apt");
        let dir = tempfile::Builder::new()
            .prefix("lf-apt-")
            .tempdir()
            .expect("apt dir");
        let d = dir.path();
        for sub in [
            "etc/apt/apt.conf.d",
            "etc/apt/preferences.d",
            "etc/apt/trusted.gpg.d",
            "etc/apt/sources.list.d",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
            "var/lib/dpkg",
            "var/log/apt",
        ] {
            std::fs::create_dir_all(d.join(sub)).expect("apt tree");
        }
        std::fs::write(d.join("var/lib/dpkg/status"), "").expect("status");
        std::fs::write(
            d.join("etc/apt/sources.list"),
            format!(
                "deb [signed-by={}] {url} {suite} main\n",
                keyring.display()
            ),
        )
        .expect("sources.list");
        let apt = Apt { dir };
        run(apt.cmd().arg("update"), "apt");
        apt
    }

    fn cmd(&self) -> Command {
        let d = self.dir.path().display();
        let mut c = Command::new("apt-get");
        c.env("LC_ALL", "C")
            .env("APT_CONFIG", "/dev/null")
            .args(["-q", "-o", &format!("Dir={d}")])
            .args([
                "-o",
                &format!("Dir::State::status={d}/var/lib/dpkg/status"),
            ])
            .args(["-o", "APT::Architecture=amd64"])
            .args(["-o", "APT::Architectures=amd64"])
            .args(["-o", "APT::Install-Recommends=false"])
            .args(["-o", "Debug::NoLocking=true"])
            .args(["-o", "APT::Sandbox::User=root"])
            .args(["-o", "Acquire::http::Proxy::127.0.0.1=DIRECT"]);
        for v in ["http_proxy", "HTTP_PROXY"] {
            c.env_remove(v);
        }
        c
    }

    /// `apt-get --simulate install PACKAGES…`: the `name version` of every
    /// package apt would install, sorted, or apt's error output.
    pub(crate) fn simulate(
        &self,
        packages: &[&str],
    ) -> Result<Vec<String>, String> {
        let out = self
            .cmd()
            .args(["--simulate", "install"])
            .args(packages)
            .output()
            .expect("run apt-get");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            return Err(format!(
                "{text}{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let mut v: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("Inst "))
            .map(|l| {
                let name = l.split(' ').next().unwrap_or_default();
                let version = l
                    .split_once(" (")
                    .and_then(|(_, r)| r.split(' ').next())
                    .unwrap_or_default();
                format!("{name} {version}")
            })
            .collect();
        v.sort();
        Ok(v)
    }
}

/// The or-groups of a relationship field as package names only
/// (versions, architecture qualifiers and restrictions dropped): enough
/// to walk the graph of an installed, consistent set.
pub(crate) fn or_groups(field: &str) -> Vec<Vec<String>> {
    field
        .split(',')
        .map(|item| {
            item.split('|')
                .filter_map(|alt| {
                    let name = alt
                        .trim()
                        .split([' ', '(', ':', '[', '<', '\n'])
                        .next()
                        .unwrap_or("");
                    (!name.is_empty()).then(|| name.to_string())
                })
                .collect::<Vec<_>>()
        })
        .filter(|g| !g.is_empty())
        .collect()
}
