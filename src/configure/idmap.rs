//! The ids of the unprivileged configure sandbox: which outer ids its
//! user namespace maps, and whether this machine lets the caller make
//! one.
//!
//! The map is the one `newuidmap(1)` and `newgidmap(1)` allow a normal
//! user: the caller's own uid and gid become root (0), and a range the
//! administrator delegated in `/etc/subuid` and `/etc/subgid` becomes
//! ids 1–65535, so that every id of a Debian system (system users,
//! `nobody` at 65534) has an owner of its own. mmdebstrap's `unshare`
//! mode uses the same delegation. The maps are written by util-linux's
//! `unshare --map-user/--map-users`, which calls those set-uid helpers.

use std::path::Path;
use std::process::{Command, Stdio};

/// Ids of the namespace beyond root: 1…65535.
pub const SUBORDINATE: u32 = 65535;

/// The tools the unprivileged sandbox needs, and the Debian package of
/// each.
const TOOLS: &[(&str, &str)] = &[
    ("unshare", "util-linux"),
    ("newuidmap", "uidmap"),
    ("newgidmap", "uidmap"),
];

/// One user namespace's maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMap {
    /// The caller's uid: root inside.
    pub uid: u32,
    /// The caller's gid: group root inside.
    pub gid: u32,
    /// First subordinate uid: uid 1 inside.
    pub sub_uid: u32,
    /// First subordinate gid: gid 1 inside.
    pub sub_gid: u32,
}

impl IdMap {
    /// `unshare(1)`'s options for these maps (they imply `--user`).
    pub fn unshare_args(&self) -> Vec<String> {
        vec![
            "--map-user=0".into(),
            "--map-group=0".into(),
            format!("--map-users={},1,{SUBORDINATE}", self.sub_uid),
            format!("--map-groups={},1,{SUBORDINATE}", self.sub_gid),
        ]
    }
}

/// Why the unprivileged sandbox cannot run here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    /// A tool is missing.
    #[error("{tool} is not installed (Debian package {package})")]
    MissingTool {
        /// The program.
        tool: &'static str,
        /// Its Debian package.
        package: &'static str,
    },
    /// The caller's uid has no name.
    #[error("uid {uid} has no entry in /etc/passwd")]
    NoUser {
        /// The uid.
        uid: u32,
    },
    /// No delegated range is large enough.
    #[error(
        "{file} delegates no range of {SUBORDINATE} ids to {user} \
         (an administrator adds one: usermod --add-subuids FIRST-LAST \
         --add-subgids FIRST-LAST {user})"
    )]
    NoRange {
        /// `/etc/subuid` or `/etc/subgid`.
        file: &'static str,
        /// The user.
        user: String,
    },
    /// The kernel (or a security module) refused the namespace.
    #[error("this machine refused an unprivileged user namespace: {output}")]
    Refused {
        /// What `unshare` said.
        output: String,
    },
}

/// The maps for the calling user, after checking that such a namespace
/// can be made here (one short `unshare` run).
pub fn find() -> Result<IdMap, Unavailable> {
    for (tool, package) in TOOLS {
        if !on_path(tool) {
            return Err(Unavailable::MissingTool { tool, package });
        }
    }
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let user = user_name(&passwd, uid).ok_or(Unavailable::NoUser { uid })?;
    let delegated = |file: &'static str, id: u32| {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        range(&text, &user, id).ok_or_else(|| Unavailable::NoRange {
            file,
            user: user.clone(),
        })
    };
    let map = IdMap {
        uid,
        gid,
        sub_uid: delegated("/etc/subuid", uid)?,
        sub_gid: delegated("/etc/subgid", uid)?,
    };
    probe(&map)?;
    Ok(map)
}

/// Whether `tool` is an executable file in one of `PATH`'s directories
/// (or the usual ones when `PATH` is unset).
fn on_path(tool: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var("PATH")
        .unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    path.split(':').filter(|d| !d.is_empty()).any(|dir| {
        std::fs::metadata(Path::new(dir).join(tool))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// The name of `uid` in the text of `/etc/passwd`.
fn user_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: u32 = fields.nth(1)?.parse().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_string())
    })
}

/// The first id of the first range of at least [`SUBORDINATE`] ids that
/// the text of `/etc/subuid` (or `/etc/subgid`) delegates to `user`,
/// named or by number (subuid(5)).
fn range(text: &str, user: &str, id: u32) -> Option<u32> {
    text.lines().find_map(|line| {
        let mut fields = line.trim().split(':');
        let owner = fields.next()?;
        let first: u32 = fields.next()?.parse().ok()?;
        let count: u32 = fields.next()?.parse().ok()?;
        let mine = owner == user || owner.parse::<u32>().ok() == Some(id);
        let fits = first.checked_add(SUBORDINATE).is_some();
        (mine && count >= SUBORDINATE && fits).then_some(first)
    })
}

/// Make the namespaces the sandbox makes, with `/proc` mounted, and run
/// `true`: what a kernel setting or a security module refuses shows
/// here, before the build starts.
fn probe(map: &IdMap) -> Result<(), Unavailable> {
    let out = Command::new("unshare")
        .args(map.unshare_args())
        .args(super::sandbox::NAMESPACES)
        .args(["--mount-proc", "true"])
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(Unavailable::Refused {
            output: String::from_utf8_lossy(&o.stderr).trim().to_string(),
        }),
        Err(e) => Err(Unavailable::Refused {
            output: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_passwd() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                      builder:x:1000:1000::/home/builder:/bin/sh\n";
        assert_eq!(user_name(passwd, 1000).as_deref(), Some("builder"));
        assert_eq!(user_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(user_name(passwd, 7), None);
    }

    #[test]
    fn a_range_is_found_by_name_or_uid_and_must_be_large_enough() {
        let text = "other:100000:65536\n\
                    builder:165536:1000\n\
                    builder:200000:65536\n\
                    1001:300000:65536\n";
        assert_eq!(range(text, "builder", 1000), Some(200000));
        assert_eq!(range(text, "numeric", 1001), Some(300000));
        assert_eq!(range(text, "nobody-here", 5), None);
        assert_eq!(range("x:4294967000:65536\n", "x", 1), None);
    }

    #[test]
    fn maps_name_own_ids_as_root_and_the_range_after() {
        let m = IdMap {
            uid: 1000,
            gid: 1000,
            sub_uid: 100000,
            sub_gid: 200000,
        };
        assert_eq!(
            m.unshare_args(),
            [
                "--map-user=0",
                "--map-group=0",
                "--map-users=100000,1,65535",
                "--map-groups=200000,1,65535"
            ]
        );
    }

    #[test]
    fn reasons_say_what_to_do() {
        let e = Unavailable::NoRange {
            file: "/etc/subuid",
            user: "builder".into(),
        };
        assert_eq!(
            e.to_string(),
            "/etc/subuid delegates no range of 65535 ids to builder (an \
             administrator adds one: usermod --add-subuids FIRST-LAST \
             --add-subgids FIRST-LAST builder)"
        );
        let e = Unavailable::MissingTool {
            tool: "newuidmap",
            package: "uidmap",
        };
        assert_eq!(
            e.to_string(),
            "newuidmap is not installed (Debian package uidmap)"
        );
    }
}
