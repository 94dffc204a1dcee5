//! SendTargets discovery (RFC 7143 §6.5, §13.3, Appendix C): a
//! discovery session sends `SendTargets=All` and reads back
//! `TargetName=` keys, each followed by its `TargetAddress=` portals
//! (`host[:port],tpgt`, an IPv6 host in brackets).

use super::login::{Credentials, Options, SessionKind};
use super::session::Session;
use super::text::TextList;
use super::url::{IscsiUrl, DEFAULT_PORT};
use super::Result;

/// A portal of a discovered target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetPortal {
    /// Host or address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Target portal group tag, when given.
    pub tpgt: Option<u16>,
}

/// A target a discovery session reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredTarget {
    /// TargetName.
    pub name: String,
    /// Its portals; the portal asked when the target named none.
    pub portals: Vec<TargetPortal>,
}

impl DiscoveredTarget {
    /// The URL of this target through the portal that was asked (`base`,
    /// whose credentials it keeps), for [`super::list_luns`]: targets
    /// often report addresses (127.0.0.1, a private network) that only
    /// mean something on their side.
    pub fn url_via(&self, base: &IscsiUrl) -> IscsiUrl {
        IscsiUrl {
            target: Some(self.name.clone()),
            lun: None,
            ..base.clone()
        }
    }
}

/// Parse a `TargetAddress` value; `None` when malformed.
pub fn parse_target_address(v: &str) -> Option<TargetPortal> {
    let (addr, tpgt) = match v.rsplit_once(',') {
        Some((a, t)) => (a, Some(t.parse::<u16>().ok()?)),
        None => (v, None),
    };
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        match after.strip_prefix(':') {
            Some(p) => (h, p.parse().ok()?),
            None if after.is_empty() => (h, DEFAULT_PORT),
            None => return None,
        }
    } else {
        match addr.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().ok()?),
            None => (addr, DEFAULT_PORT),
        }
    };
    if host.is_empty() || port == 0 {
        return None;
    }
    Some(TargetPortal {
        host: host.to_string(),
        port,
        tpgt,
    })
}

/// Group the keys of a SendTargets reply by target.
pub fn parse_send_targets(
    t: &TextList,
    asked: &TargetPortal,
) -> Vec<DiscoveredTarget> {
    let mut out: Vec<DiscoveredTarget> = Vec::new();
    for (k, v) in &t.pairs {
        match k.as_str() {
            "TargetName" => out.push(DiscoveredTarget {
                name: v.clone(),
                portals: Vec::new(),
            }),
            "TargetAddress" => {
                if let (Some(last), Some(p)) =
                    (out.last_mut(), parse_target_address(v))
                {
                    last.portals.push(p);
                }
            }
            _ => {}
        }
    }
    for t in &mut out {
        if t.portals.is_empty() {
            t.portals.push(asked.clone());
        }
    }
    out
}

/// Ask the portal of `url` for every target it offers.
pub fn discover(
    url: &IscsiUrl,
    creds: &Credentials,
    opts: &Options,
) -> Result<Vec<DiscoveredTarget>> {
    let mut s = Session::connect(
        &url.host,
        url.port,
        SessionKind::Discovery,
        "discovery",
        creds,
        opts,
    )?;
    let mut keys = TextList::new();
    keys.push("SendTargets", "All");
    let reply = s.text(&keys)?;
    s.logout()?;
    let asked = TargetPortal {
        host: url.host.clone(),
        port: url.port,
        tpgt: None,
    };
    Ok(parse_send_targets(&reply, &asked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let p = parse_target_address("192.0.2.1:3261,1").unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.tpgt),
            ("192.0.2.1", 3261, Some(1))
        );
        let p = parse_target_address("[2001:db8::1]:3260,2").unwrap();
        assert_eq!((p.host.as_str(), p.tpgt), ("2001:db8::1", Some(2)));
        let p = parse_target_address("[::1]").unwrap();
        assert_eq!(p.port, 3260);
        let p = parse_target_address("host.example").unwrap();
        assert_eq!((p.port, p.tpgt), (3260, None));
        assert!(parse_target_address("h:x,1").is_none());
        assert!(parse_target_address("h:1,x").is_none());
        assert!(parse_target_address(":3260,1").is_none());
        assert!(parse_target_address("[::1:3260").is_none());
    }

    #[test]
    fn grouping() {
        let t = TextList::decode(
            b"TargetName=iqn.a\0TargetAddress=10.0.0.1:3260,1\0\
              TargetAddress=[::1]:3260,1\0TargetName=iqn.b\0",
        )
        .unwrap();
        let asked = TargetPortal {
            host: "h".into(),
            port: 3260,
            tpgt: None,
        };
        let d = parse_send_targets(&t, &asked);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].portals.len(), 2);
        assert_eq!(d[1].portals, vec![asked]);
        let base = IscsiUrl::parse_partial("iscsi://jim@h:3261").unwrap();
        assert_eq!(d[0].url_via(&base).to_string(), "iscsi://jim@h:3261/iqn.a");
    }
}
