//! `iscsi://` URLs as libiscsi (`iscsi_parse_full_url`) and QEMU write
//! them:
//!
//! ```text
//! iscsi://[<user>[%<secret>]@]<host>[:<port>]/<target-iqn>/<lun>
//!        [?target_user=<user>&target_password=<secret>]
//! ```
//!
//! The host may be an IPv6 literal in brackets (`[::1]`); the port
//! defaults to 3260 (RFC 7143 §13.3, the well-known iSCSI port). The
//! first `%` separates user and secret, so the user cannot contain one;
//! the secret and the query values are percent-decoded. The query carries the target's
//! credentials for mutual CHAP. A parsed URL displays without its
//! secrets, so it can name the target in every message.

use std::fmt;

/// The well-known iSCSI port (RFC 7143 §13.3 names it for discovery;
/// targets listen there by default).
pub const DEFAULT_PORT: u16 = 3260;

/// What is wrong with an `iscsi://` URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not `iscsi://`.
    #[error("{url}: not an iscsi:// URL")]
    Scheme {
        /// The URL, without secrets.
        url: String,
    },
    /// No host after `iscsi://`.
    #[error("{url}: no host")]
    NoHost {
        /// The URL, without secrets.
        url: String,
    },
    /// The port is not a number from 1 to 65535.
    #[error("{url}: bad port {port:?}")]
    BadPort {
        /// The URL, without secrets.
        url: String,
        /// What stood after the colon.
        port: String,
    },
    /// An IPv6 literal without its closing bracket.
    #[error("{url}: unclosed '[' in the host")]
    BadHost {
        /// The URL, without secrets.
        url: String,
    },
    /// No target name after the host.
    #[error("{url}: no target IQN (expected iscsi://host/IQN/LUN)")]
    NoTarget {
        /// The URL, without secrets.
        url: String,
    },
    /// No LUN after the target name.
    #[error("{url}: no LUN after the target IQN (expected .../IQN/LUN)")]
    NoLun {
        /// The URL, without secrets.
        url: String,
    },
    /// The LUN is not a number below 16384.
    #[error("{url}: bad LUN {lun:?} (a number from 0 to 16383)")]
    BadLun {
        /// The URL, without secrets.
        url: String,
        /// What stood in the LUN's place.
        lun: String,
    },
    /// A `%` escape that is not two hex digits, or not UTF-8.
    #[error("{url}: bad percent-encoding in the {part}")]
    BadEscape {
        /// The URL, without secrets.
        url: String,
        /// Which part (user, secret, query).
        part: &'static str,
    },
    /// A query parameter other than `target_user`/`target_password`
    /// (not shown: it may be the tail of a secret with an unescaped
    /// `&`).
    #[error(
        "{url}: unknown query parameter (only target_user and \
         target_password are known; escape & in a secret as %26)"
    )]
    UnknownQuery {
        /// The URL, without secrets.
        url: String,
    },
}

/// A parsed `iscsi://` URL.
#[derive(Clone, PartialEq, Eq)]
pub struct IscsiUrl {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Target IQN (or EUI/NAA name); `None` for a portal-only URL.
    pub target: Option<String>,
    /// Logical unit number; `None` when not given.
    pub lun: Option<u16>,
    /// CHAP user name of the initiator.
    pub user: Option<String>,
    /// CHAP secret of the initiator, when written in the URL.
    pub secret: Option<String>,
    /// User name the target must answer mutual CHAP with.
    pub target_user: Option<String>,
    /// Secret the target must answer mutual CHAP with.
    pub target_secret: Option<String>,
}

impl fmt::Debug for IscsiUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IscsiUrl({self})")
    }
}

impl IscsiUrl {
    /// Parse a URL that names a LUN: host, target and LUN are required.
    pub fn parse(s: &str) -> Result<Self, UrlError> {
        let u = Self::parse_partial(s)?;
        if u.target.is_none() {
            return Err(UrlError::NoTarget { url: u.to_string() });
        }
        if u.lun.is_none() {
            return Err(UrlError::NoLun { url: u.to_string() });
        }
        Ok(u)
    }

    /// Parse a URL that may stop after the portal (`iscsi://host/`) or
    /// the target (`iscsi://host/IQN`), for discovery and LUN listing.
    pub fn parse_partial(s: &str) -> Result<Self, UrlError> {
        let shown = redact(s);
        let rest = s
            .strip_prefix("iscsi://")
            .ok_or_else(|| UrlError::Scheme { url: shown.clone() })?;
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (auth, rest) = match rest.rsplit_once('@') {
            Some((a, r)) => (Some(a), r),
            None => (None, rest),
        };
        let (hostport, path) = match rest.split_once('/') {
            Some((h, p)) => (h, p),
            None => (rest, ""),
        };
        let (host, port) = split_host_port(hostport, &shown)?;
        if host.is_empty() {
            return Err(UrlError::NoHost { url: shown });
        }
        let mut u = IscsiUrl {
            host: host.to_string(),
            port,
            target: None,
            lun: None,
            user: None,
            secret: None,
            target_user: None,
            target_secret: None,
        };
        if let Some(auth) = auth {
            let (user, secret) = match auth.split_once('%') {
                Some((u, s)) => (u, Some(s)),
                None => (auth, None),
            };
            u.user = Some(decode(user, &shown, "user")?);
            u.secret =
                secret.map(|s| decode(s, &shown, "secret")).transpose()?;
        }
        let path = path.trim_end_matches('/');
        if !path.is_empty() {
            let (target, lun) = match path.split_once('/') {
                Some((t, l)) => (t, Some(l)),
                None => (path, None),
            };
            if target.is_empty() {
                return Err(UrlError::NoTarget { url: shown });
            }
            u.target = Some(target.to_string());
            if let Some(l) = lun {
                let bad = || UrlError::BadLun {
                    url: shown.clone(),
                    lun: l.to_string(),
                };
                if l.is_empty() || !l.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                let n: u16 = l.parse().map_err(|_| bad())?;
                if n > 0x3fff {
                    return Err(bad());
                }
                u.lun = Some(n);
            }
        }
        if let Some(q) = query {
            for kv in q.split('&').filter(|kv| !kv.is_empty()) {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                let v = decode(v, &shown, "query")?;
                match k {
                    "target_user" => u.target_user = Some(v),
                    "target_password" => u.target_secret = Some(v),
                    _ => return Err(UrlError::UnknownQuery { url: shown }),
                }
            }
        }
        Ok(u)
    }

    /// Whether a secret is written in the URL itself (where process
    /// listings and shell history can see it).
    pub fn has_secret_in_url(&self) -> bool {
        self.secret.is_some() || self.target_secret.is_some()
    }

    /// `host:port`, with brackets around an IPv6 address.
    pub fn portal(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for IscsiUrl {
    /// The URL with every secret left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("iscsi://")?;
        if let Some(user) = &self.user {
            write!(f, "{}@", encode(user))?;
        }
        f.write_str(&self.portal())?;
        if let Some(t) = &self.target {
            write!(f, "/{t}")?;
            if let Some(l) = self.lun {
                write!(f, "/{l}")?;
            }
        }
        if let Some(tu) = &self.target_user {
            write!(f, "?target_user={}", encode(tu))?;
        }
        Ok(())
    }
}

/// Split `host[:port]` or `[v6][:port]`.
fn split_host_port<'a>(
    s: &'a str,
    shown: &str,
) -> Result<(&'a str, u16), UrlError> {
    let (host, port) = if let Some(v6) = s.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| UrlError::BadHost { url: shown.into() })?;
        match after.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if after.is_empty() => (h, None),
            None => {
                return Err(UrlError::BadPort {
                    url: shown.into(),
                    port: after.into(),
                })
            }
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|n| *n != 0 && p.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| UrlError::BadPort {
                url: shown.into(),
                port: p.into(),
            })?,
    };
    Ok((host, port))
}

/// The raw URL with the secret and `target_password` cut out, for
/// errors raised before it is parsed.
fn redact(s: &str) -> String {
    // The user information ends at the last `@`: taking the last one
    // errs towards hiding (a `?`, `/` or `@` typed into a secret must not
    // turn the rest of it into a shown host or query).
    let (scheme, rest) = match s.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, s),
    };
    let (user, rest) = match rest.rsplit_once('@') {
        Some((auth, rest)) => {
            let user = auth.split(['%', '?', '/']).next().unwrap_or("");
            (Some(user), rest)
        }
        None => (None, rest),
    };
    let (main, query) = match rest.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (rest, None),
    };
    let mut out = String::new();
    if let Some(scheme) = scheme {
        out.push_str(scheme);
        out.push_str("://");
    }
    if let Some(user) = user {
        out.push_str(user);
        out.push('@');
    }
    out.push_str(main.split('%').next().unwrap_or(""));
    if let Some(q) = query {
        let kept: Vec<&str> = q
            .split('&')
            .filter(|kv| known_key(kv.split('=').next().unwrap_or("")))
            .filter(|kv| !kv.starts_with("target_password"))
            .collect();
        if !kept.is_empty() {
            out.push('?');
            out.push_str(&kept.join("&"));
        }
    }
    out
}

/// Whether `key` is a query parameter this URL form knows (anything else
/// may be the tail of a secret with an unescaped `&`).
fn known_key(key: &str) -> bool {
    matches!(key, "target_user" | "target_password")
}

/// Percent-decode `s`.
fn decode(
    s: &str,
    shown: &str,
    part: &'static str,
) -> Result<String, UrlError> {
    let bad = || UrlError::BadEscape {
        url: shown.into(),
        part,
    };
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0usize;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = b.get(i.saturating_add(1)..i.saturating_add(3));
            let hex = hex.and_then(|h| std::str::from_utf8(h).ok());
            let v = hex
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(bad)?;
            out.push(v);
            i = i.saturating_add(3);
        } else {
            out.push(c);
            i = i.saturating_add(1);
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// Percent-encode the characters that would end a URL part.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const IQN: &str = "iqn.2001-04.com.example:storage.disk1";

    #[test]
    fn full_url() {
        let u = IscsiUrl::parse(&format!(
            "iscsi://jim%s3cr%25t@10.1.2.3:3261/{IQN}/7"
        ))
        .unwrap();
        assert_eq!(u.host, "10.1.2.3");
        assert_eq!(u.port, 3261);
        assert_eq!(u.target.as_deref(), Some(IQN));
        assert_eq!(u.lun, Some(7));
        assert_eq!(u.user.as_deref(), Some("jim"));
        assert_eq!(u.secret.as_deref(), Some("s3cr%t"));
        assert!(u.has_secret_in_url());
        assert_eq!(u.to_string(), format!("iscsi://jim@10.1.2.3:3261/{IQN}/7"));
        assert!(!format!("{u:?}").contains("s3cr"));
    }

    #[test]
    fn defaults_ipv6_and_query() {
        let u = IscsiUrl::parse(&format!("iscsi://[::1]/{IQN}/0")).unwrap();
        assert_eq!(u.host, "::1");
        assert_eq!(u.port, DEFAULT_PORT);
        assert_eq!(u.portal(), "[::1]:3260");
        assert!(!u.has_secret_in_url());
        let u = IscsiUrl::parse(&format!(
            "iscsi://a.b@[fe80::2]:3262/{IQN}/1?target_user=tgt&\
             target_password=p%20w"
        ))
        .unwrap();
        assert_eq!(u.user.as_deref(), Some("a.b"));
        assert_eq!(u.secret, None);
        assert_eq!(u.target_user.as_deref(), Some("tgt"));
        assert_eq!(u.target_secret.as_deref(), Some("p w"));
        assert!(u.has_secret_in_url());
        let shown = u.to_string();
        assert!(
            !shown.contains("p w") && !shown.contains("p%20w"),
            "{shown}"
        );
        assert_eq!(
            shown,
            format!("iscsi://a.b@[fe80::2]:3262/{IQN}/1?target_user=tgt")
        );
    }

    #[test]
    fn partial() {
        let u = IscsiUrl::parse_partial("iscsi://host.example").unwrap();
        assert_eq!((u.target, u.lun), (None, None));
        let u = IscsiUrl::parse_partial(&format!("iscsi://h/{IQN}/")).unwrap();
        assert_eq!(u.target.as_deref(), Some(IQN));
        assert_eq!(u.lun, None);
    }

    #[test]
    fn rejects() {
        let e = |s: &str| IscsiUrl::parse(s).unwrap_err().to_string();
        assert_eq!(
            e("http://h/iqn.x/1"),
            "http://h/iqn.x/1: not an iscsi:// URL"
        );
        assert!(e("iscsi://h").contains("no target IQN"));
        assert!(e("iscsi://h/").contains("no target IQN"));
        assert!(e(&format!("iscsi://h/{IQN}")).contains("no LUN"));
        assert!(e(&format!("iscsi://h/{IQN}/x")).contains("bad LUN \"x\""));
        assert!(e(&format!("iscsi://h/{IQN}/-1")).contains("bad LUN"));
        assert!(e(&format!("iscsi://h/{IQN}/16384")).contains("bad LUN"));
        assert!(e(&format!("iscsi://h:0/{IQN}/1")).contains("bad port \"0\""));
        assert!(e(&format!("iscsi://h:99999/{IQN}/1")).contains("bad port"));
        assert!(e(&format!("iscsi://h:/{IQN}/1")).contains("bad port"));
        assert!(e(&format!("iscsi://[::1/{IQN}/1")).contains("unclosed"));
        assert!(e(&format!("iscsi://:3260/{IQN}/1")).contains("no host"));
        assert!(e(&format!("iscsi://h/{IQN}/1?x=1")).contains("unknown query"));
        let msg = e(&format!("iscsi://u%qq%zz@h/{IQN}/1"));
        assert!(msg.contains("bad percent-encoding in the secret"), "{msg}");
        assert!(!msg.contains("qq"), "{msg}");
        let msg = e(&format!("iscsi://u%topsecret@h:x/{IQN}/1"));
        assert!(!msg.contains("topsecret"), "{msg}");
    }
}
