//! Login (RFC 7143 §6.3): SecurityNegotiation, then
//! LoginOperationalNegotiation, then FullFeaturePhase, moved between
//! with the Transit bit and the CSG/NSG stages of each Login Request.
//!
//! Security: `AuthMethod=CHAP,None` when a CHAP user and secret are
//! given (else `None`); with CHAP, `CHAP_A=5`, then the answer to the
//! target's challenge ([`super::chap`]), plus this side's own challenge
//! for mutual CHAP. Operational: the keys of §13 are offered and the
//! results computed by each key's rule (§13: minimum for lengths and
//! counts, maximum for DefaultTime2Wait, OR for InitialR2T and the
//! InOrder keys, AND for ImmediateData; the target declares its own
//! MaxRecvDataSegmentLength). The ISID uses the "random" format of
//! §11.12.5 (type 10b) with bytes derived from the initiator name,
//! target and LUN, so that a new login after a crash replaces the old
//! session (§6.3.5, session reinstatement) rather than piling up.

use std::fmt;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use super::chap::{self, OwnChallenge};
use super::conn::Conn;
use super::pdu::login::{LoginRequest, LoginResponse, Stage};
use super::pdu::{Digests, Opcode, MAX_DATA_SEGMENT};
use super::text::{TextList, MAX_TEXT};
use super::url::IscsiUrl;
use super::{Error, Result};

/// A CHAP secret: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.as_bytes().to_vec())
    }
}

/// CHAP credentials: the initiator's (one-way) and the target's (for
/// mutual CHAP).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// The initiator's CHAP user name.
    pub user: Option<String>,
    /// The initiator's CHAP secret.
    pub secret: Option<Secret>,
    /// The name the target must answer mutual CHAP with.
    pub target_user: Option<String>,
    /// The target's CHAP secret.
    pub target_secret: Option<Secret>,
}

impl Credentials {
    /// The credentials written in a URL; a secret given separately
    /// (from `env:` or `file:`) replaces the URL's.
    pub fn from_url(
        url: &IscsiUrl,
        secret: Option<Secret>,
        target_secret: Option<Secret>,
    ) -> Credentials {
        Credentials {
            user: url.user.clone(),
            secret: secret.or_else(|| url.secret.as_deref().map(Secret::from)),
            target_user: url.target_user.clone(),
            target_secret: target_secret
                .or_else(|| url.target_secret.as_deref().map(Secret::from)),
        }
    }

    fn one_way(&self) -> Option<(&str, &[u8])> {
        Some((self.user.as_deref()?, &self.secret.as_ref()?.0))
    }

    fn mutual(&self) -> Option<(&str, &[u8])> {
        Some((
            self.target_user.as_deref()?,
            &self.target_secret.as_ref()?.0,
        ))
    }
}

/// Which digests to offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestChoice {
    /// `CRC32C,None`: the target chooses.
    Prefer,
    /// `CRC32C` only.
    Require,
    /// `None` only.
    Off,
}

impl DigestChoice {
    fn offer(self) -> &'static str {
        match self {
            DigestChoice::Prefer => "CRC32C,None",
            DigestChoice::Require => "CRC32C",
            DigestChoice::Off => "None",
        }
    }
}

/// Settings of the initiator.
#[derive(Debug, Clone)]
pub struct Options {
    /// InitiatorName (an IQN).
    pub initiator_name: String,
    /// HeaderDigest offer.
    pub header_digest: DigestChoice,
    /// DataDigest offer.
    pub data_digest: DigestChoice,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Longest wait for any reply.
    pub io_timeout: Duration,
    /// MaxRecvDataSegmentLength declared.
    pub max_recv_data_segment_length: u32,
    /// MaxBurstLength offered.
    pub max_burst_length: u32,
    /// FirstBurstLength offered.
    pub first_burst_length: u32,
    /// ImmediateData offered.
    pub immediate_data: bool,
    /// InitialR2T offered.
    pub initial_r2t: bool,
    /// Most write bytes in flight at once.
    pub max_in_flight_bytes: usize,
    /// Most commands in flight at once.
    pub max_in_flight_commands: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            initiator_name: default_initiator_name(),
            header_digest: DigestChoice::Prefer,
            data_digest: DigestChoice::Prefer,
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(60),
            max_recv_data_segment_length: 256 * 1024,
            max_burst_length: 1024 * 1024,
            first_burst_length: 256 * 1024,
            immediate_data: true,
            initial_r2t: false,
            max_in_flight_bytes: 64 * 1024 * 1024,
            max_in_flight_commands: 64,
        }
    }
}

/// `iqn.2024-01.org.lunforge:<hostname>`.
pub fn default_initiator_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default();
    let host: String = host
        .trim()
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
        .collect();
    let host = if host.is_empty() {
        "localhost".into()
    } else {
        host
    };
    format!("iqn.2024-01.org.lunforge:{host}")
}

/// What a session logs in to.
#[derive(Debug, Clone, Copy)]
pub enum SessionKind<'a> {
    /// A normal session to the target of this IQN.
    Normal(&'a str),
    /// A discovery session.
    Discovery,
}

impl SessionKind<'_> {
    fn name(&self) -> String {
        match self {
            SessionKind::Normal(t) => (*t).to_string(),
            SessionKind::Discovery => "discovery session".into(),
        }
    }
}

/// The outcome of a login: negotiated values and sequence numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Digests in force.
    pub digests: Digests,
    /// The target's MaxRecvDataSegmentLength: no PDU sent to it may
    /// carry more data.
    pub target_max_recv: u32,
    /// MaxBurstLength.
    pub max_burst: u32,
    /// FirstBurstLength.
    pub first_burst: u32,
    /// ImmediateData.
    pub immediate_data: bool,
    /// InitialR2T.
    pub initial_r2t: bool,
    /// MaxOutstandingR2T.
    pub max_outstanding_r2t: u32,
    /// The target's session handle.
    pub tsih: u16,
    /// The next CmdSN to use.
    pub cmd_sn: u32,
    /// ExpStatSN to send.
    pub exp_stat_sn: u32,
    /// MaxCmdSN last announced.
    pub max_cmd_sn: u32,
    /// The ISID used.
    pub isid: [u8; 6],
}

/// An ISID in the random format (type 10b) from a hash of what names
/// the session.
pub fn isid_for(initiator: &str, what: &str) -> [u8; 6] {
    let h = Sha256::new()
        .chain_update(initiator.as_bytes())
        .chain_update([0])
        .chain_update(what.as_bytes())
        .finalize();
    [0x80, h[0], h[1], h[2], h[3], h[4]]
}

/// The meaning of a login Status-Class/Status-Detail (§11.13.5).
pub fn status_text(class: u8, detail: u8, target: &str) -> String {
    let s = match (class, detail) {
        (0x01, 0x01) => "target moved temporarily",
        (0x01, 0x02) => "target moved permanently",
        (0x01, _) => "redirection",
        (0x02, 0x00) => "initiator error",
        (0x02, 0x01) => "authentication failure (wrong CHAP user or secret?)",
        (0x02, 0x02) => "authorization failure (this initiator is not allowed)",
        (0x02, 0x03) => {
            return format!("target not found: no target named {target} here")
        }
        (0x02, 0x04) => "target removed",
        (0x02, 0x05) => "unsupported iSCSI version",
        (0x02, 0x06) => "too many connections",
        (0x02, 0x07) => "missing parameter",
        (0x02, 0x08) => "cannot include this connection in the session",
        (0x02, 0x09) => "session type not supported",
        (0x02, 0x0a) => "session does not exist",
        (0x02, 0x0b) => "invalid request during login",
        (0x02, _) => "initiator error",
        (0x03, 0x00) => "target error",
        (0x03, 0x01) => "service unavailable",
        (0x03, 0x02) => "target out of resources",
        (0x03, _) => "target error",
        _ => "unknown status",
    };
    s.to_string()
}

struct Login<'a> {
    conn: &'a mut Conn,
    target: String,
    isid: [u8; 6],
    tsih: u16,
    cmd_sn: u32,
    exp_stat_sn: u32,
    max_cmd_sn: u32,
}

impl Login<'_> {
    fn proto(&self, what: impl Into<String>) -> Error {
        Error::LoginProtocol {
            portal: self.conn.portal.clone(),
            target: self.target.clone(),
            what: what.into(),
        }
    }

    /// One request/response exchange (following Continue bits).
    fn exchange(
        &mut self,
        csg: Stage,
        nsg: Option<Stage>,
        keys: &TextList,
    ) -> Result<(LoginResponse, TextList)> {
        let mut data = keys.encode();
        let mut text = Vec::new();
        let mut rounds = 0u32;
        loop {
            rounds = rounds.saturating_add(1);
            if rounds > 64 {
                return Err(self.proto("the target's reply never ends"));
            }
            let req = LoginRequest {
                transit: nsg.is_some() && text.is_empty(),
                cont: false,
                csg,
                nsg: nsg.unwrap_or(Stage::Security),
                isid: self.isid,
                tsih: self.tsih,
                itt: 0,
                cid: 0,
                cmd_sn: self.cmd_sn,
                exp_stat_sn: self.exp_stat_sn,
            };
            self.conn
                .send(&req.encode(), &data)
                .map_err(|e| self.conn.err(e))?;
            data.clear();
            let pdu = self.conn.recv().map_err(|e| self.conn.err(e))?;
            if pdu.bhs.opcode() == Opcode::Reject {
                return Err(self.proto("the target rejected the Login Request"));
            }
            let rsp = LoginResponse::decode(&pdu.bhs)
                .map_err(|e| self.conn.err(e))?;
            if rsp.status_class != 0 {
                let mut reason = status_text(
                    rsp.status_class,
                    rsp.status_detail,
                    &self.target,
                );
                // A redirection names the new portal (§11.13.5).
                let moved = TextList::decode(&pdu.data)
                    .ok()
                    .and_then(|t| t.get("TargetAddress").map(str::to_string));
                if let (1, Some(addr)) = (rsp.status_class, moved) {
                    reason = format!("{reason} to {addr}");
                }
                return Err(Error::Login {
                    portal: self.conn.portal.clone(),
                    target: self.target.clone(),
                    class: rsp.status_class,
                    detail: rsp.status_detail,
                    reason,
                });
            }
            if rsp.isid != self.isid || rsp.itt != 0 {
                return Err(
                    self.proto("the Login Response is for another login")
                );
            }
            if rsp.csg != csg {
                return Err(self.proto(format!(
                    "the target answered in stage {:?} to a request in {:?}",
                    rsp.csg, csg
                )));
            }
            self.tsih = rsp.tsih;
            self.exp_stat_sn = rsp.stat_sn.wrapping_add(1);
            self.max_cmd_sn = rsp.max_cmd_sn;
            self.cmd_sn = rsp.exp_cmd_sn;
            if text.len().saturating_add(pdu.data.len()) > MAX_TEXT {
                return Err(self.proto("the login text is too long"));
            }
            text.extend_from_slice(&pdu.data);
            if !rsp.cont {
                let keys =
                    TextList::decode(&text).map_err(|source| Error::Text {
                        portal: self.conn.portal.clone(),
                        source,
                    })?;
                return Ok((rsp, keys));
            }
        }
    }
}

/// Log in on `conn`; on success the connection is in FullFeaturePhase
/// with the negotiated digests and receive limit in force.
pub(crate) fn login(
    conn: &mut Conn,
    kind: SessionKind<'_>,
    creds: &Credentials,
    opts: &Options,
    isid: [u8; 6],
) -> Result<Negotiated> {
    let mut l = Login {
        conn,
        target: kind.name(),
        isid,
        tsih: 0,
        cmd_sn: 1,
        exp_stat_sn: 0,
        max_cmd_sn: 1,
    };
    let mut keys = TextList::new();
    keys.push("InitiatorName", opts.initiator_name.clone());
    match kind {
        SessionKind::Normal(t) => {
            keys.push("SessionType", "Normal");
            keys.push("TargetName", t);
        }
        SessionKind::Discovery => keys.push("SessionType", "Discovery"),
    }
    let chap = creds.one_way();
    if let (Some((_, mine)), Some((_, theirs))) = (chap, creds.mutual()) {
        if mine == theirs {
            return Err(Error::Chap {
                portal: l.conn.portal.clone(),
                target: l.target.clone(),
                source: chap::ChapError::SameSecret,
            });
        }
    }
    keys.push(
        "AuthMethod",
        if chap.is_some() { "CHAP,None" } else { "None" },
    );
    let chap_err = |l: &Login<'_>, source| Error::Chap {
        portal: l.conn.portal.clone(),
        target: l.target.clone(),
        source,
    };

    // SecurityNegotiation.
    let (mut rsp, mut got) =
        l.exchange(Stage::Security, Some(Stage::Operational), &keys)?;
    let mut method = got.get("AuthMethod").map(str::to_string);
    let mut rounds = 0u32;
    loop {
        rounds = rounds.saturating_add(1);
        if rounds > 8 {
            return Err(l.proto("security negotiation does not end"));
        }
        if rsp.transit && rsp.csg == Stage::Security {
            // A target that leaves the security stage without having
            // proved itself is refused when the operator asked it to.
            if creds.mutual().is_some() && method.as_deref() != Some("done") {
                return Err(chap_err(&l, chap::ChapError::NoTargetResponse));
            }
            break;
        }
        match method.as_deref() {
            Some("CHAP") => {
                let (user, secret) = chap.ok_or_else(|| {
                    chap_err(&l, chap::ChapError::NoCredentials)
                })?;
                let mut k = TextList::new();
                k.push("CHAP_A", chap::ALGORITHM_MD5);
                let (r, g) = l.exchange(Stage::Security, None, &k)?;
                let own = match creds.mutual() {
                    Some(_) => Some(
                        OwnChallenge::random().map_err(|e| chap_err(&l, e))?,
                    ),
                    None => None,
                };
                let ans = chap::answer(
                    g.get("CHAP_A"),
                    g.get("CHAP_I"),
                    g.get("CHAP_C"),
                    user,
                    secret,
                    own.as_ref(),
                )
                .map_err(|e| chap_err(&l, e))?;
                let _ = r;
                let mut k = TextList::new();
                k.push("CHAP_N", ans.name);
                k.push("CHAP_R", ans.response);
                if let Some(own) = &own {
                    k.push("CHAP_I", own.id.to_string());
                    k.push("CHAP_C", chap::encode_binary(&own.challenge));
                }
                let (r, g) =
                    l.exchange(Stage::Security, Some(Stage::Operational), &k)?;
                if let (Some(own), Some((tu, ts))) = (&own, creds.mutual()) {
                    chap::verify_target(
                        g.get("CHAP_N"),
                        g.get("CHAP_R"),
                        own,
                        tu,
                        ts,
                    )
                    .map_err(|e| chap_err(&l, e))?;
                }
                rsp = r;
                got = g;
                method = Some("done".into());
            }
            Some("None") | Some("done") => {
                if creds.mutual().is_some() && method.as_deref() == Some("None")
                {
                    return Err(chap_err(
                        &l,
                        chap::ChapError::NoTargetResponse,
                    ));
                }
                if rsp.transit {
                    break;
                }
                let (r, g) = l.exchange(
                    Stage::Security,
                    Some(Stage::Operational),
                    &TextList::new(),
                )?;
                rsp = r;
                got = g;
            }
            Some(other) => {
                return Err(Error::Negotiation {
                    portal: l.conn.portal.clone(),
                    target: l.target.clone(),
                    key: "AuthMethod".into(),
                    value: other.into(),
                    why: "is not an authentication method offered",
                })
            }
            None => return Err(l.proto("the target did not answer AuthMethod")),
        }
    }
    let _ = got;

    // LoginOperationalNegotiation (unless the target went straight on).
    let mut offer = TextList::new();
    offer.push("HeaderDigest", opts.header_digest.offer());
    offer.push("DataDigest", opts.data_digest.offer());
    offer.push(
        "MaxRecvDataSegmentLength",
        opts.max_recv_data_segment_length
            .clamp(512, MAX_DATA_SEGMENT)
            .to_string(),
    );
    if let SessionKind::Normal(_) = kind {
        offer.push("MaxConnections", "1");
        offer.push("InitialR2T", yes_no(opts.initial_r2t));
        offer.push("ImmediateData", yes_no(opts.immediate_data));
        offer.push("MaxBurstLength", opts.max_burst_length.to_string());
        offer.push("FirstBurstLength", opts.first_burst_length.to_string());
        offer.push("DefaultTime2Wait", "2");
        offer.push("DefaultTime2Retain", "0");
        offer.push("MaxOutstandingR2T", "8");
        offer.push("DataPDUInOrder", "Yes");
        offer.push("DataSequenceInOrder", "Yes");
        offer.push("ErrorRecoveryLevel", "0");
    }
    let mut answers = TextList::new();
    if rsp.nsg == Some(Stage::Operational) {
        let (mut r, mut g) =
            l.exchange(Stage::Operational, Some(Stage::FullFeature), &offer)?;
        answers.pairs.append(&mut g.pairs);
        let mut rounds = 0u32;
        while !(r.transit && r.nsg == Some(Stage::FullFeature)) {
            rounds = rounds.saturating_add(1);
            if rounds > 8 {
                return Err(l.proto("operational negotiation does not end"));
            }
            let (r2, mut g2) = l.exchange(
                Stage::Operational,
                Some(Stage::FullFeature),
                &TextList::new(),
            )?;
            r = r2;
            answers.pairs.append(&mut g2.pairs);
        }
    } else if rsp.nsg != Some(Stage::FullFeature) {
        return Err(
            l.proto("the target left security negotiation for no stage")
        );
    }
    let n = negotiate(opts, &answers, kind).map_err(|(key, value, why)| {
        Error::Negotiation {
            portal: l.conn.portal.clone(),
            target: l.target.clone(),
            key,
            value,
            why,
        }
    })?;
    let out = Negotiated {
        tsih: l.tsih,
        cmd_sn: l.cmd_sn,
        exp_stat_sn: l.exp_stat_sn,
        max_cmd_sn: l.max_cmd_sn,
        isid,
        ..n
    };
    l.conn.digests = out.digests;
    l.conn.max_recv = opts
        .max_recv_data_segment_length
        .clamp(512, MAX_DATA_SEGMENT);
    Ok(out)
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "Yes"
    } else {
        "No"
    }
}

type Refusal = (String, String, &'static str);

/// The negotiated values from this side's offer and the target's
/// answers (RFC 7143 §13). A key the target did not answer (or called
/// Irrelevant/NotUnderstood) takes its default under the key's rule.
pub fn negotiate(
    opts: &Options,
    answers: &TextList,
    kind: SessionKind<'_>,
) -> std::result::Result<Negotiated, Refusal> {
    let get = |k: &str| {
        answers
            .get(k)
            .filter(|v| !matches!(*v, "Irrelevant" | "NotUnderstood"))
    };
    let refuse = |k: &str, v: &str, why| (k.to_string(), v.to_string(), why);
    let digest = |k: &str, offer: DigestChoice| match get(k) {
        None => match offer {
            DigestChoice::Require => Err(refuse(
                k,
                "(no answer)",
                "leaves digests off though CRC32C is required",
            )),
            _ => Ok(false),
        },
        Some("CRC32C") if offer != DigestChoice::Off => Ok(true),
        Some("None") if offer != DigestChoice::Require => Ok(false),
        Some(v) => Err(refuse(k, v, "is not among the values offered")),
    };
    let num =
        |k: &str, ours: u32, default: u32, min: bool, lo: u32, hi: u32| {
            let theirs = match get(k) {
                None => default,
                Some(v) => v
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (lo..=hi).contains(n))
                    .ok_or_else(|| refuse(k, v, "is not a number in range"))?,
            };
            Ok::<u32, Refusal>(if min {
                ours.min(theirs)
            } else {
                ours.max(theirs)
            })
        };
    let boolean = |k: &str, ours: bool, default: bool, or: bool| {
        let theirs = match get(k) {
            None => default,
            Some("Yes") => true,
            Some("No") => false,
            Some(v) => return Err(refuse(k, v, "is neither Yes nor No")),
        };
        Ok::<bool, Refusal>(if or { ours || theirs } else { ours && theirs })
    };
    let digests = Digests {
        header: digest("HeaderDigest", opts.header_digest)?,
        data: digest("DataDigest", opts.data_digest)?,
    };
    let target_max_recv = match get("MaxRecvDataSegmentLength") {
        None => super::conn::DEFAULT_MAX_RECV,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (512..=MAX_DATA_SEGMENT).contains(n))
            .ok_or_else(|| {
                refuse(
                    "MaxRecvDataSegmentLength",
                    v,
                    "is not from 512 to 2^24-1",
                )
            })?,
    };
    let normal = matches!(kind, SessionKind::Normal(_));
    let (mut max_burst, mut first_burst, immediate_data, initial_r2t, r2t) =
        if normal {
            let mb = num(
                "MaxBurstLength",
                opts.max_burst_length,
                262_144,
                true,
                512,
                MAX_DATA_SEGMENT,
            )?;
            let fb = num(
                "FirstBurstLength",
                opts.first_burst_length,
                65_536,
                true,
                512,
                MAX_DATA_SEGMENT,
            )?;
            let id =
                boolean("ImmediateData", opts.immediate_data, true, false)?;
            let ir = boolean("InitialR2T", opts.initial_r2t, true, true)?;
            let r2t = num("MaxOutstandingR2T", 8, 1, true, 1, 65_535)?;
            let erl = num("ErrorRecoveryLevel", 0, 0, true, 0, 2)?;
            if erl != 0 {
                return Err(refuse(
                    "ErrorRecoveryLevel",
                    &erl.to_string(),
                    "is not 0",
                ));
            }
            let _ = boolean("DataPDUInOrder", true, true, true)?;
            let _ = boolean("DataSequenceInOrder", true, true, true)?;
            (mb, fb, id, ir, r2t)
        } else {
            (262_144, 65_536, false, true, 1)
        };
    max_burst = max_burst.max(512);
    first_burst = first_burst.min(max_burst);
    Ok(Negotiated {
        digests,
        target_max_recv,
        max_burst,
        first_burst,
        immediate_data,
        initial_r2t,
        max_outstanding_r2t: r2t,
        tsih: 0,
        cmd_sn: 0,
        exp_stat_sn: 0,
        max_cmd_sn: 0,
        isid: [0; 6],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(pairs: &[(&str, &str)]) -> TextList {
        let mut t = TextList::new();
        for (k, v) in pairs {
            t.push(k, *v);
        }
        t
    }

    #[test]
    fn rules() {
        let o = Options::default();
        let n = negotiate(
            &o,
            &answers(&[
                ("HeaderDigest", "CRC32C"),
                ("DataDigest", "None"),
                ("MaxRecvDataSegmentLength", "8192"),
                ("MaxBurstLength", "262144"),
                ("FirstBurstLength", "65536"),
                ("ImmediateData", "Yes"),
                ("InitialR2T", "Yes"),
                ("MaxOutstandingR2T", "1"),
            ]),
            SessionKind::Normal("iqn.x"),
        )
        .unwrap();
        assert!(n.digests.header && !n.digests.data);
        assert_eq!(n.target_max_recv, 8192);
        assert_eq!((n.max_burst, n.first_burst), (262_144, 65_536));
        assert!(n.immediate_data && n.initial_r2t);
        assert_eq!(n.max_outstanding_r2t, 1);

        // A target that answers above our offer gets the minimum; OR and
        // AND rules hold even against a wrong answer.
        let mut o2 = o.clone();
        o2.immediate_data = false;
        let n = negotiate(
            &o2,
            &answers(&[
                ("MaxBurstLength", "99999999"),
                ("FirstBurstLength", "16777215"),
                ("ImmediateData", "Yes"),
                ("InitialR2T", "No"),
            ]),
            SessionKind::Normal("iqn.x"),
        )
        .unwrap_err();
        assert_eq!(n.0, "MaxBurstLength");
        let n = negotiate(
            &o2,
            &answers(&[("ImmediateData", "Yes"), ("InitialR2T", "No")]),
            SessionKind::Normal("iqn.x"),
        )
        .unwrap();
        assert!(!n.immediate_data && !n.initial_r2t);
        // Defaults when unanswered: InitialR2T=Yes wins by OR.
        let n =
            negotiate(&o, &TextList::new(), SessionKind::Normal("i")).unwrap();
        assert!(n.initial_r2t && n.immediate_data);
        assert_eq!(n.first_burst, 65_536);
        assert_eq!(n.target_max_recv, 8192);
    }

    #[test]
    fn refusals() {
        let o = Options {
            header_digest: DigestChoice::Require,
            ..Options::default()
        };
        let e = negotiate(
            &o,
            &answers(&[("HeaderDigest", "None")]),
            SessionKind::Discovery,
        )
        .unwrap_err();
        assert_eq!(e.0, "HeaderDigest");
        let e = negotiate(
            &Options::default(),
            &answers(&[("MaxRecvDataSegmentLength", "100")]),
            SessionKind::Discovery,
        )
        .unwrap_err();
        assert_eq!(e.0, "MaxRecvDataSegmentLength");
        let e = negotiate(
            &Options::default(),
            &answers(&[("ErrorRecoveryLevel", "2")]),
            SessionKind::Normal("i"),
        );
        assert!(e.is_ok(), "minimum of 0 and 2 is 0");
        let e = negotiate(
            &Options::default(),
            &answers(&[("ImmediateData", "Maybe")]),
            SessionKind::Normal("i"),
        )
        .unwrap_err();
        assert_eq!(e.2, "is neither Yes nor No");
    }

    #[test]
    fn status_and_isid() {
        assert_eq!(
            status_text(2, 3, "iqn.2024-01.x:nope"),
            "target not found: no target named iqn.2024-01.x:nope here"
        );
        assert!(status_text(2, 1, "t").starts_with("authentication failure"));
        let a = isid_for("iqn.i", "iqn.t/1");
        assert_eq!(a[0], 0x80);
        assert_eq!(a, isid_for("iqn.i", "iqn.t/1"));
        assert_ne!(a, isid_for("iqn.i", "iqn.t/2"));
        assert!(!format!("{:?}", Secret::from("pw")).contains("pw"));
    }
}
