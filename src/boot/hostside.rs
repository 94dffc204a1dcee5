//! Host-side snippets for the shared LUN, the seed's hand-made files in
//! today's form:
//!
//! - `initiator/61-lunforge-<name>.rules`: the seed's udev rule giving
//!   the LUN the same name on every Xen host (`/dev/iscsi_N` for the
//!   disk, `/dev/iscsi_NP` for partition P, the seed's names). The seed
//!   matched `BUS==`/`SYSFS{}` and ran a script for the LUN; today the
//!   rule matches the `ID_PATH` that `60-persistent-storage.rules` sets
//!   (which names the target IQN and LUN, so only this LUN matches), and
//!   therefore sorts after it. The seed's names are global: two guests
//!   on LUN 0 of different targets would claim the same name, which is
//!   why the xl config uses udev's by-path links unless the recipe says
//!   `disk_paths = "udev"`.
//! - `initiator/iscsi-login-<name>.sh`: `iscsiadm` discovery, the CHAP
//!   settings of the node record, `node.startup = automatic`, and login
//!   (open-iscsi's iscsiadm(8)); the seed's `iscsid.conf` set the same
//!   keys for every node.
//! - `target/ietd-<name>.conf`: the seed's `ietd.conf` `Target` entry
//!   (IET / iSCSI Enterprise Target), `Type=blockio` for a block device,
//!   `fileio` for a file.
//! - `target/tgt-<name>.conf`: the same for tgt (`/etc/tgt/conf.d/`,
//!   tgt-admin's targets.conf syntax). tgt keeps LUN 0 for its
//!   controller, so it is emitted only for `lun` ≥ 1.
//!
//! The CHAP secret is read at build time from the environment variable or
//! file that `iscsi.chap_secret` names, never from the recipe, and lands
//! only in the snippets that must carry it (IET, tgt, the login script),
//! which are then mode 0600 or 0700.

use super::{Artifact, Error, Result};
use crate::recipe::{Iscsi, SecretSource};

/// A CHAP secret: 12 to 255 characters (RFC 7143 §12.1.3 asks for at
/// least 96 bits) of printable ASCII without spaces, quotes, `\`, `$`,
/// `` ` `` or `#`, so it stands unquoted in ietd.conf and tgt's config
/// and single-quoted in the shell. `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// Read the secret from `source`: the variable's value, or the
    /// file's first line.
    pub fn read(source: &SecretSource) -> Result<Secret> {
        let fail = |detail: String| Error::Secret {
            source_name: source.to_string(),
            detail,
        };
        let text = source.read().map_err(fail)?;
        Secret::new(text).map_err(fail)
    }

    /// Check `text` as a secret.
    pub fn new(text: String) -> std::result::Result<Secret, String> {
        if !(12..=255).contains(&text.len()) {
            return Err(format!(
                "the secret has {} characters; CHAP needs 12 to 255",
                text.len()
            ));
        }
        let plain = |c: char| c.is_ascii_graphic() && !"'\"\\$`#".contains(c);
        if !text.chars().all(plain) {
            return Err("the secret may only hold printable ASCII without \
                        spaces, quotes, '\\', '$', '`' or '#'"
                .into());
        }
        Ok(Secret(text))
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The seed's udev name of the LUN (`iscsi_0`), under `/dev`.
pub fn udev_name(i: &Iscsi) -> String {
    format!("iscsi_{}", i.lun)
}

/// The udev rule.
pub fn udev_rule(name: &str, i: &Iscsi) -> String {
    let end = format!("lunforge_{name}_end");
    let lun = udev_name(i);
    format!(
        "# Stable names for LUN {n} of {t} on every initiator, the same\n\
         # on every Xen host: /dev/{lun} and /dev/{lun}P for partition P.\n\
         # Install as /etc/udev/rules.d/61-lunforge-{name}.rules: after\n\
         # 60-persistent-storage.rules, which sets ID_PATH.\n\
         ACTION==\"remove\", GOTO=\"{end}\"\n\
         SUBSYSTEM!=\"block\", GOTO=\"{end}\"\n\
         ENV{{ID_PATH}}!=\"ip-*-iscsi-{t}-lun-{n}\", GOTO=\"{end}\"\n\
         ENV{{DEVTYPE}}==\"disk\", SYMLINK+=\"{lun}\"\n\
         ENV{{DEVTYPE}}==\"partition\", SYMLINK+=\"{lun}%n\"\n\
         LABEL=\"{end}\"\n",
        n = i.lun,
        t = i.target,
    )
}

/// The login script for the initiators (the Xen hosts).
pub fn login_script(
    name: &str,
    hosts: &[String],
    i: &Iscsi,
    secret: Option<&Secret>,
) -> String {
    let hosts = if hosts.is_empty() {
        "each Xen host".to_string()
    } else {
        hosts.join(", ")
    };
    let mut s = format!(
        "#!/bin/sh\n\
         # Log in to the LUN of the guest {name}; run as root on {hosts}\n\
         # (needs open-iscsi). The node record starts automatically at\n\
         # boot from then on.\n\
         set -eu\n\
         portal='{p}'\n\
         target='{t}'\n\
         iscsiadm -m discovery -t sendtargets -p \"$portal\"\n\
         node() {{ iscsiadm -m node -T \"$target\" -p \"$portal\" \"$@\"; }}\n\
         node -o update -n node.startup -v automatic\n",
        p = i.portal,
        t = i.target,
    );
    if let (Some(user), Some(secret)) = (&i.chap_user, secret) {
        s.push_str(&format!(
            "node -o update -n node.session.auth.authmethod -v CHAP\n\
             node -o update -n node.session.auth.username -v '{user}'\n\
             node -o update -n node.session.auth.password -v '{}'\n",
            secret.expose()
        ));
    }
    // 15: ISCSI_ERR_SESS_EXISTS, already logged in.
    s.push_str("node --login || [ $? -eq 15 ]\n");
    s
}

/// The `ietd.conf` entry for the target host.
pub fn ietd_conf(name: &str, i: &Iscsi, secret: Option<&Secret>) -> String {
    let mut s = format!(
        "# IET target of the guest {name}: add to /etc/iet/ietd.conf on the\n\
         # target host.\n\
         Target {}\n",
        i.target
    );
    if let (Some(user), Some(secret)) = (&i.chap_user, secret) {
        s.push_str(&format!("\tIncomingUser {user} {}\n", secret.expose()));
    }
    s.push_str(&format!(
        "\tLun {} Path={},Type={}\n\tAlias {name}\n",
        i.lun,
        i.backing_store,
        if i.backing_store.starts_with("/dev/") {
            "blockio"
        } else {
            "fileio"
        }
    ));
    s
}

/// The tgt entry for the target host, or `None` for LUN 0, which tgt
/// keeps for its controller.
pub fn tgt_conf(
    name: &str,
    i: &Iscsi,
    secret: Option<&Secret>,
) -> Option<String> {
    if i.lun == 0 {
        return None;
    }
    let mut s = format!(
        "# tgt target of the guest {name}: install as\n\
         # /etc/tgt/conf.d/{name}.conf on the target host.\n\
         <target {t}>\n\
         \t<backing-store {b}>\n\
         \t\tlun {n}\n\
         \t</backing-store>\n",
        t = i.target,
        b = i.backing_store,
        n = i.lun,
    );
    if let (Some(user), Some(secret)) = (&i.chap_user, secret) {
        s.push_str(&format!("\tincominguser {user} {}\n", secret.expose()));
    }
    s.push_str("</target>\n");
    Some(s)
}

/// open-iscsi's node database, where `iscsiadm` keeps its records:
/// `/var/lib/iscsi/nodes` from open-iscsi 2.1.9 on (Debian trixie),
/// `/etc/iscsi/nodes` before. [`node_db`] picks by what the package
/// ships.
pub const NODE_DBS: [&str; 2] = ["/var/lib/iscsi/nodes", "/etc/iscsi/nodes"];

/// The node database of a system whose open-iscsi ships `/var/lib/iscsi`
/// (`has_var_lib`) or not.
pub fn node_db(has_var_lib: bool) -> &'static str {
    if has_var_lib {
        NODE_DBS[0]
    } else {
        NODE_DBS[1]
    }
}

/// The target portal group tag in the node record: tgt and IET give
/// their portals group 1.
pub const TPGT: u32 = 1;

/// The node record `iscsiadm -m discovery` followed by the login
/// script's updates would leave for the guest's LUN, so that the host
/// logs in at boot (`node.startup = automatic`, which Debian's
/// `open-iscsi.service` logs in to with `iscsiadm -m node
/// --loginall=automatic`): its path below `/` and its text. Keys
/// `iscsiadm` does not find here take its defaults.
pub fn node_record(
    db: &str,
    i: &Iscsi,
    secret: Option<&Secret>,
) -> (String, String) {
    // `192.0.2.10:3260` or `[2001:db8::1]:3260`.
    let (addr, port) = i.portal.rsplit_once(':').unwrap_or((&i.portal, "3260"));
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    let path = format!("{db}/{t}/{addr},{port},{TPGT}/default", t = i.target);
    let mut text = format!(
        "# BEGIN RECORD (written by lunforge)\n\
         node.name = {t}\n\
         node.tpgt = {TPGT}\n\
         node.startup = automatic\n\
         node.leading_login = No\n\
         iface.iscsi_ifacename = default\n\
         iface.transport_name = tcp\n\
         node.discovery_address = {addr}\n\
         node.discovery_port = {port}\n\
         node.discovery_type = send_targets\n\
         node.conn[0].address = {addr}\n\
         node.conn[0].port = {port}\n\
         node.conn[0].startup = automatic\n",
        t = i.target
    );
    match (&i.chap_user, secret) {
        (Some(user), Some(secret)) => text.push_str(&format!(
            "node.session.auth.authmethod = CHAP\n\
             node.session.auth.username = {user}\n\
             node.session.auth.password = {}\n",
            secret.expose()
        )),
        _ => text.push_str("node.session.auth.authmethod = None\n"),
    }
    text.push_str("# END RECORD\n");
    (path, text)
}

/// `/etc/iscsi/initiatorname.iscsi` naming the host `iqn`. open-iscsi's
/// postinst makes a random name only where the file asks for one
/// (`GenerateName=yes`), so this one stays.
pub fn initiator_name(iqn: &str) -> String {
    format!(
        "## The iSCSI initiator name of this host, written by lunforge.\n\
         InitiatorName={iqn}\n"
    )
}

/// All host-side snippets for the guest `name`.
pub fn artifacts(
    name: &str,
    hosts: &[String],
    i: &Iscsi,
    secret: Option<&Secret>,
) -> Vec<Artifact> {
    // What carries a secret is readable by its owner only.
    let (conf, exe) = if secret.is_some() {
        (0o600, 0o700)
    } else {
        (0o644, 0o755)
    };
    let mut out = vec![
        Artifact {
            name: format!("initiator/61-lunforge-{name}.rules"),
            bytes: udev_rule(name, i).into_bytes(),
            mode: 0o644,
        },
        Artifact {
            name: format!("initiator/iscsi-login-{name}.sh"),
            bytes: login_script(name, hosts, i, secret).into_bytes(),
            mode: exe,
        },
        Artifact {
            name: format!("target/ietd-{name}.conf"),
            bytes: ietd_conf(name, i, secret).into_bytes(),
            mode: conf,
        },
    ];
    if let Some(t) = tgt_conf(name, i, secret) {
        out.push(Artifact {
            name: format!("target/tgt-{name}.conf"),
            bytes: t.into_bytes(),
            mode: conf,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lun(n: u32, chap: bool) -> Iscsi {
        Iscsi {
            target: "iqn.2006-05.com.performancemagic:penfold.disk1".into(),
            lun: n,
            portal: "192.0.2.10:3260".into(),
            chap_user: chap.then(|| "jim".to_string()),
            chap_secret: chap.then(|| SecretSource::Env("X".into())),
            backing_store: "/dev/sdb".into(),
        }
    }

    fn secret() -> Secret {
        Secret::new("othersecret12".into()).unwrap()
    }

    #[test]
    fn udev_rule_names_the_lun_like_the_seed() {
        let r = udev_rule("virtual01", &lun(0, false));
        let rules: Vec<&str> =
            r.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            rules,
            [
                "ACTION==\"remove\", GOTO=\"lunforge_virtual01_end\"",
                "SUBSYSTEM!=\"block\", GOTO=\"lunforge_virtual01_end\"",
                "ENV{ID_PATH}!=\"ip-*-iscsi-iqn.2006-05.com.performancemagic:\
                 penfold.disk1-lun-0\", GOTO=\"lunforge_virtual01_end\"",
                "ENV{DEVTYPE}==\"disk\", SYMLINK+=\"iscsi_0\"",
                "ENV{DEVTYPE}==\"partition\", SYMLINK+=\"iscsi_0%n\"",
                "LABEL=\"lunforge_virtual01_end\"",
            ]
        );
    }

    #[test]
    fn target_entries_carry_the_chap_user() {
        let s = secret();
        let i = ietd_conf("virtual01", &lun(0, true), Some(&s));
        assert!(
            i.contains(
                "Target iqn.2006-05.com.performancemagic:penfold.disk1\n\
             \tIncomingUser jim othersecret12\n\
             \tLun 0 Path=/dev/sdb,Type=blockio\n\
             \tAlias virtual01\n"
            ),
            "{i}"
        );
        assert_eq!(tgt_conf("v", &lun(0, true), Some(&s)), None);
        let t = tgt_conf("v", &lun(1, true), Some(&s)).unwrap();
        assert!(
            t.contains(
                "<target iqn.2006-05.com.performancemagic:penfold.disk1>\n\
             \t<backing-store /dev/sdb>\n\t\tlun 1\n\t</backing-store>\n\
             \tincominguser jim othersecret12\n</target>\n"
            ),
            "{t}"
        );
        let plain = ietd_conf("v", &lun(0, false), None);
        assert!(!plain.contains("IncomingUser"), "{plain}");
    }

    #[test]
    fn login_script_sets_chap_and_automatic_startup() {
        let s = secret();
        let hosts = ["a".to_string(), "b".to_string()];
        let t = login_script("v", &hosts, &lun(0, true), Some(&s));
        for want in [
            "portal='192.0.2.10:3260'\n",
            "node -o update -n node.startup -v automatic\n",
            "node -o update -n node.session.auth.username -v 'jim'\n",
            "node -o update -n node.session.auth.password -v 'othersecret12'\n",
            "node --login || [ $? -eq 15 ]\n",
        ] {
            assert!(t.contains(want), "{want} in {t}");
        }
        let modes: Vec<(String, u32)> =
            artifacts("v", &hosts, &lun(1, true), Some(&s))
                .into_iter()
                .map(|a| (a.name, a.mode))
                .collect();
        assert_eq!(
            modes,
            [
                ("initiator/61-lunforge-v.rules".into(), 0o644),
                ("initiator/iscsi-login-v.sh".into(), 0o700),
                ("target/ietd-v.conf".into(), 0o600),
                ("target/tgt-v.conf".into(), 0o600),
            ]
        );
    }

    #[test]
    fn secrets_are_checked_and_hidden() {
        assert!(Secret::new("short".into()).is_err());
        assert!(Secret::new("has a space in".into()).is_err());
        assert!(Secret::new("quote'dsecret".into()).is_err());
        assert_eq!(format!("{:?}", secret()), "Secret(..)");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("chap");
        std::fs::write(&p, "othersecret12\nignored\n").unwrap();
        let s = Secret::read(&SecretSource::File(p.clone())).unwrap();
        assert_eq!(s.expose(), "othersecret12");
        let e = Secret::read(&SecretSource::Env(
            "LUNFORGE_TEST_UNSET_VARIABLE".into(),
        ))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "iscsi.chap_secret: env:LUNFORGE_TEST_UNSET_VARIABLE: is not set"
        );
        std::fs::write(&p, "tiny\n").unwrap();
        let e = Secret::read(&SecretSource::File(p)).unwrap_err();
        assert!(e.to_string().contains("CHAP needs 12 to 255"), "{e}");
    }

    #[test]
    fn node_record_logs_in_at_boot() {
        let (path, text) = node_record(node_db(true), &lun(1, false), None);
        assert_eq!(
            path,
            "/var/lib/iscsi/nodes/iqn.2006-05.com.performancemagic:\
             penfold.disk1/192.0.2.10,3260,1/default"
        );
        for line in [
            "node.name = iqn.2006-05.com.performancemagic:penfold.disk1\n",
            "node.tpgt = 1\n",
            "node.startup = automatic\n",
            "node.conn[0].address = 192.0.2.10\n",
            "node.conn[0].port = 3260\n",
            "node.session.auth.authmethod = None\n",
        ] {
            assert!(text.contains(line), "{line}{text}");
        }
        let secret = Secret::new("othersecret123".into()).unwrap();
        let (old, chap) =
            node_record(node_db(false), &lun(0, true), Some(&secret));
        assert!(old.starts_with("/etc/iscsi/nodes/"), "{old}");
        assert!(chap.contains("node.session.auth.authmethod = CHAP\n"));
        assert!(chap.contains("node.session.auth.username = jim\n"));
        assert!(chap.contains("node.session.auth.password = othersecret123\n"));
        let mut v6 = lun(0, false);
        v6.portal = "[2001:db8::1]:3261".into();
        let (p6, _) = node_record(node_db(true), &v6, None);
        assert!(p6.ends_with("/2001:db8::1,3261,1/default"), "{p6}");
        assert_eq!(
            initiator_name("iqn.2006-05.com.performancemagic:dangermouse.01")
                .lines()
                .last(),
            Some(
                "InitiatorName=iqn.2006-05.com.performancemagic:dangermouse.01"
            )
        );
    }
}
