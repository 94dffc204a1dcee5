//! A release's update suites, as the Debian archive names them, and
//! where a guest's apt takes them from.
//!
//! Beside a release's own suite (`trixie`), Debian publishes two suites
//! that a system needs to stay current:
//!
//! - `<suite>-updates` (stable-updates), in the same archive as the
//!   suite and so on every mirror that carries it;
//! - the security suite, in a separate archive (`debian-security`):
//!   `<suite>-security` since bullseye, `<suite>/updates` before.
//!
//! Unstable and experimental have neither. Suites are matched by name as
//! the recipe gives it (codename or `stable`-style alias); the aliases
//! of old releases name bullseye or later today, so only the codenames
//! before bullseye take the old security name.
//!
//! [`from_host`] maps the host's own entries for its release's update
//! suites onto the guest's release, by suffix: the host may run another
//! release than the guest (a bookworm host building trixie guests), and
//! what carries over is the URI the host's administrator chose for each
//! kind of suite, not the host's codename.

use super::host_sources::SourceEntry;
use super::transport::parse_mirror;

/// Suites that have no `-updates` or security suite.
const DEVELOPMENT: &[&str] = &["unstable", "sid", "experimental", "rc-buggy"];

/// Releases before bullseye, whose security suite is `<suite>/updates`.
const OLD_SECURITY_NAME: &[&str] = &[
    "buster", "stretch", "jessie", "wheezy", "squeeze", "lenny", "etch",
    "sarge", "woody",
];

/// The `-updates` suite of `suite`; `None` for unstable and
/// experimental, which have none.
pub fn updates_suite(suite: &str) -> Option<String> {
    (!DEVELOPMENT.contains(&suite)).then(|| format!("{suite}-updates"))
}

/// The security suite of `suite` (`trixie-security`, `buster/updates`);
/// `None` for unstable and experimental, which have none.
pub fn security_suite(suite: &str) -> Option<String> {
    if DEVELOPMENT.contains(&suite) {
        None
    } else if OLD_SECURITY_NAME.contains(&suite) {
        Some(format!("{suite}/updates"))
    } else {
        Some(format!("{suite}-security"))
    }
}

/// The security archive beside a mirror of the Debian archive: the
/// mirror's path ending in `/debian` becomes `/debian-security`, the
/// layout of the archive's own service and of the mirrors that carry
/// both; `None` for any other path (a local repository, a proxy path).
pub fn security_beside(mirror: &str) -> Option<String> {
    mirror
        .trim_end_matches('/')
        .strip_suffix("/debian")
        .map(|base| format!("{base}/debian-security"))
}

/// One of the host's entries for an update suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPocket {
    /// The URI the guest uses for its own suite of this kind.
    pub uri: String,
    /// The host's suite (`bookworm-security`), for messages.
    pub suite: String,
    /// `FILE:LINE` of the entry.
    pub origin: String,
}

/// The host's entries for its release's update suites, if it has them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostPockets {
    /// The host's release as its archive entry names it (`bookworm`),
    /// for messages; empty when the entry names none.
    pub release: String,
    /// Its `<release>-updates` entry.
    pub updates: Option<HostPocket>,
    /// Its `<release>-security` (or `<release>/updates`) entry.
    pub security: Option<HostPocket>,
}

/// The update suites of the release that `archive` (the host's Debian
/// archive entry, [`super::host_sources::debian_archive`]) names,
/// looked up in all the host's `entries` in apt's order.
///
/// The host's release is a suite of the archive entry without a suffix
/// (`bookworm`, `stable`). An update entry is a `deb` entry with
/// component `main` that lists `<release>-updates` (or
/// `<release>-security`, `<release>/updates`) and a URI lunforge can
/// read; the first one wins, and its first such URI.
pub fn from_host(
    entries: &[SourceEntry],
    archive: &SourceEntry,
) -> HostPockets {
    let releases: Vec<&str> = archive
        .suites
        .iter()
        .map(String::as_str)
        .filter(|s| !s.contains(['-', '/']))
        .collect();
    let find = |suffixes: &[&str]| {
        entries.iter().find_map(|e| {
            let usable = e.types.iter().any(|t| t == "deb")
                && e.components.iter().any(|c| c == "main");
            if !usable {
                return None;
            }
            let suite = e.suites.iter().find(|s| {
                releases
                    .iter()
                    .any(|r| suffixes.iter().any(|x| **s == format!("{r}{x}")))
            })?;
            let uri = e.uris.iter().find_map(|u| parse_mirror(u).ok())?;
            Some(HostPocket {
                uri,
                suite: suite.clone(),
                origin: format!("{}:{}", e.file.display(), e.line),
            })
        })
    };
    HostPockets {
        release: releases.first().map_or(String::new(), |r| r.to_string()),
        updates: find(&["-updates"]),
        security: find(&["-security", "/updates"]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::repo::host_sources::{self, tests::root};

    fn entries(text: &str) -> Vec<SourceEntry> {
        let dir = root(&[("etc/apt/sources.list.d/debian.sources", text)]);
        host_sources::read(dir.path()).unwrap()
    }

    fn host(text: &str) -> HostPockets {
        let e = entries(text);
        let (archive, _) = host_sources::debian_archive(&e).unwrap();
        from_host(&e, archive)
    }

    #[test]
    fn suite_names() {
        assert_eq!(updates_suite("trixie").unwrap(), "trixie-updates");
        assert_eq!(updates_suite("stable").unwrap(), "stable-updates");
        assert_eq!(security_suite("trixie").unwrap(), "trixie-security");
        assert_eq!(security_suite("bullseye").unwrap(), "bullseye-security");
        assert_eq!(security_suite("buster").unwrap(), "buster/updates");
        for dev in ["sid", "unstable", "experimental"] {
            assert_eq!(updates_suite(dev), None);
            assert_eq!(security_suite(dev), None);
        }
    }

    #[test]
    fn security_archive_beside_a_mirror() {
        assert_eq!(
            security_beside("http://mirror.example/debian").unwrap(),
            "http://mirror.example/debian-security"
        );
        assert_eq!(
            security_beside("file:///srv/mirror/debian/").unwrap(),
            "file:///srv/mirror/debian-security"
        );
        assert_eq!(security_beside("http://127.0.0.1:8080"), None);
        assert_eq!(security_beside("http://m.example/debian-ports"), None);
    }

    /// A bookworm host's deb822 sources (as Debian 12's installer
    /// writes them) give a trixie guest their URIs.
    #[test]
    fn deb822_host_of_another_release() {
        let p = host(
            "Types: deb\nURIs: http://mirror.invalid/debian\n\
             Suites: bookworm bookworm-updates\nComponents: main\n\n\
             Types: deb\nURIs: http://security.invalid/debian-security\n\
             Suites: bookworm-security\nComponents: main\n",
        );
        assert_eq!(p.release, "bookworm");
        let u = p.updates.unwrap();
        assert_eq!(u.uri, "http://mirror.invalid/debian");
        assert_eq!(u.suite, "bookworm-updates");
        assert!(u.origin.ends_with("debian.sources:1"), "{}", u.origin);
        let s = p.security.unwrap();
        assert_eq!(s.uri, "http://security.invalid/debian-security");
        assert!(s.origin.ends_with("debian.sources:6"), "{}", s.origin);
    }

    /// One-line sources, the old security name, another release's and a
    /// vendor's entries that must not be taken, and a host without them.
    #[test]
    fn one_line_host_and_what_is_not_taken() {
        let dir = root(&[(
            "etc/apt/sources.list",
            "deb http://mirror.invalid/debian buster main\n\
             deb http://vendor.invalid/debian stretch-updates main\n\
             deb-src http://src.invalid/debian buster-updates main\n\
             deb http://contrib.invalid/debian buster-updates contrib\n\
             deb http://up.invalid/debian/ buster-updates main\n\
             deb http://security.invalid/ buster/updates main\n",
        )]);
        let e = host_sources::read(dir.path()).unwrap();
        let (archive, _) = host_sources::debian_archive(&e).unwrap();
        let p = from_host(&e, archive);
        assert_eq!(p.updates.unwrap().uri, "http://up.invalid/debian");
        let s = p.security.unwrap();
        assert_eq!(s.uri, "http://security.invalid");
        assert_eq!(s.suite, "buster/updates");
        let bare = host(
            "Types: deb\nURIs: http://mirror.invalid/debian\n\
             Suites: trixie\nComponents: main\n",
        );
        assert_eq!(bare.release, "trixie");
        assert_eq!(bare.updates, None);
        assert_eq!(bare.security, None);
        assert_eq!(
            from_host(
                &[],
                &entries(
                    "Types: deb\nURIs: http://m.invalid/debian\n\
                 Suites: stable-backports\nComponents: main\n"
                )[0]
            )
            .release,
            ""
        );
    }
}
