//! A throwaway normal user with a range of subordinate ids, for the
//! builds that must need no privilege: created by the test (which runs
//! as root), removed when dropped, with its `/etc/subuid` and
//! `/etc/subgid` lines.

use std::path::Path;
use std::process::Command;

use super::run;

/// How many subordinate ids the user gets (newuidmap needs 65535 for
/// the sandbox, 65536 is Debian's default).
const RANGE: u64 = 65536;

/// A user that exists while this value lives.
pub(crate) struct TestUser {
    /// Its name.
    pub(crate) name: String,
    /// Its uid.
    pub(crate) uid: u32,
    /// Its primary gid.
    pub(crate) gid: u32,
}

impl TestUser {
    /// A new user `lf<tag><pid>`, with no home and no login shell, and a
    /// subordinate range of its own after every range already delegated.
    pub(crate) fn create(tag: &str) -> TestUser {
        let name = format!("lf{tag}{}", std::process::id());
        let _ = Command::new("userdel").arg(&name).output();
        run(
            Command::new("useradd")
                .args(["--no-create-home", "--user-group"])
                .args(["--shell", "/usr/sbin/nologin"])
                .arg(&name),
            "passwd",
        );
        let user = TestUser {
            uid: id(&name, "-u"),
            gid: id(&name, "-g"),
            name,
        };
        if !delegated(Path::new("/etc/subuid"), &user.name)
            || !delegated(Path::new("/etc/subgid"), &user.name)
        {
            let first = next_free();
            let range = format!("{first}-{}", first + RANGE - 1);
            run(
                Command::new("usermod")
                    .args(["--add-subuids", &range, "--add-subgids", &range])
                    .arg(&user.name),
                "passwd",
            );
        }
        user
    }

    /// `program` run as this user (`setpriv`), with an empty environment
    /// but `PATH` and `HOME`.
    pub(crate) fn command(&self, program: &Path, home: &Path) -> Command {
        let mut cmd = Command::new("setpriv");
        cmd.arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--init-groups")
            .arg(program)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HOME", home);
        cmd
    }

    /// Give `path` (recursively) to this user.
    pub(crate) fn own(&self, path: &Path) {
        run(
            Command::new("chown")
                .arg("-R")
                .arg(format!("{}:{}", self.uid, self.gid))
                .arg(path),
            "coreutils",
        );
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).output();
    }
}

fn id(name: &str, flag: &str) -> u32 {
    let out = run(Command::new("id").arg(flag).arg(name), "coreutils");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("id {flag} {name}: {e}"))
}

/// Whether `file` delegates a range to `name`.
fn delegated(file: &Path, name: &str) -> bool {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(':').next() == Some(name))
}

/// The first id after every range of `/etc/subuid` and `/etc/subgid`
/// (and at least 100000, login.defs' default start).
fn next_free() -> u64 {
    let mut end = 100_000u64;
    for file in ["/etc/subuid", "/etc/subgid"] {
        for line in std::fs::read_to_string(file).unwrap_or_default().lines() {
            let f: Vec<&str> = line.split(':').collect();
            if let (Some(Ok(a)), Some(Ok(n))) = (
                f.get(1).map(|s| s.parse::<u64>()),
                f.get(2).map(|s| s.parse::<u64>()),
            ) {
                end = end.max(a + n);
            }
        }
    }
    end
}
