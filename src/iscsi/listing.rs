//! `lunforge iscsi discover PORTAL`: every target a portal reports
//! (SendTargets), each with its portals and its LUNs (REPORT LUNS, then
//! INQUIRY and READ CAPACITY(16) of each), as text, the way an operator
//! compares it with `iscsi-ls -s`.

use std::fmt::Write as _;

use super::{discover, list_luns, Credentials, IscsiUrl, Options};
use crate::recipe::SecretSource;
use crate::sink::target::read_secret;

/// The listing of the portal `portal` (`host[:port]` or
/// `iscsi://[user[%secret]@]host[:port]`), logging in with the CHAP
/// secret from `secret` (else the URL's, else none).
pub fn discover_listing(
    portal: &str,
    secret: Option<&SecretSource>,
) -> crate::Result<String> {
    let text = if portal.starts_with("iscsi://") {
        portal.to_string()
    } else {
        format!("iscsi://{portal}")
    };
    let url = IscsiUrl::parse_partial(&text).map_err(super::Error::from)?;
    let secret = secret
        .map(read_secret)
        .transpose()
        .map_err(crate::Error::from)?;
    let creds = Credentials::from_url(&url, secret, None);
    let opts = Options::default();
    let targets = discover(&url, &creds, &opts)?;
    let mut out = String::new();
    for t in &targets {
        let portals: Vec<String> = t
            .portals
            .iter()
            .map(|p| {
                let host = if p.host.contains(':') {
                    format!("[{}]", p.host)
                } else {
                    p.host.clone()
                };
                match p.tpgt {
                    Some(t) => format!("{host}:{},{t}", p.port),
                    None => format!("{host}:{}", p.port),
                }
            })
            .collect();
        let _ = writeln!(out, "{} ({})", t.name, portals.join(", "));
        for lun in list_luns(&t.url_via(&url), &creds, &opts)? {
            let _ = writeln!(out, "  {lun}");
        }
    }
    if targets.is_empty() {
        let _ = writeln!(out, "{}: no targets", url);
    }
    Ok(out)
}
