//! CHAP with MD5 (RFC 1994 §4.1, RFC 7143 §12.1.3): the response to a
//! challenge is `MD5(identifier || secret || challenge)`.
//!
//! Binary values travel as `0x` hex or `0b` base64 (RFC 7143 §6.1).
//! With mutual CHAP the initiator sends its own identifier and
//! challenge with its response and checks the target's answer. It
//! refuses a target whose challenge equals the one it sent (a
//! reflection attack: the target would use the initiator to compute
//! the answer to its own challenge) and a target that answers with the
//! wrong name or response.

use base64::Engine as _;
use md5::{Digest, Md5};

/// `CHAP_A=5`: MD5, the only algorithm offered.
pub const ALGORITHM_MD5: &str = "5";
/// Bytes in a challenge this side sends.
pub const CHALLENGE_LEN: usize = 16;
/// Longest challenge accepted from a target (RFC 7143 §12.1.3 caps the
/// binary value at 1024 bytes).
pub const MAX_CHALLENGE: usize = 1024;

/// What went wrong in a CHAP exchange.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChapError {
    /// The target asked for CHAP but no user and secret were given.
    #[error("the target requires CHAP authentication, but no CHAP user and secret were given")]
    NoCredentials,
    /// The target did not choose MD5.
    #[error(
        "the target chose CHAP algorithm {0:?}; only 5 (MD5) is supported"
    )]
    Algorithm(String),
    /// A key the exchange needs is missing.
    #[error("the target's CHAP reply lacks {0}")]
    Missing(&'static str),
    /// A key's value is malformed.
    #[error("the target's {key} value {value:?} is malformed")]
    Malformed {
        /// The key.
        key: &'static str,
        /// The value as received (never a secret).
        value: String,
    },
    /// The target's challenge is the one this side sent.
    #[error("the target sent back our own CHAP challenge (reflection); refusing to answer")]
    Reflected,
    /// Mutual CHAP with one secret for both directions, which would let
    /// a target replay the initiator's answer as its own.
    #[error(
        "mutual CHAP: the target secret equals the initiator's secret; \
         RFC 7143 forbids one secret for both directions"
    )]
    SameSecret,
    /// Mutual CHAP: wrong name.
    #[error(
        "mutual CHAP: the target answered as {got:?}, expected {expected:?}"
    )]
    WrongTargetName {
        /// CHAP_N sent by the target.
        got: String,
        /// The target user configured.
        expected: String,
    },
    /// Mutual CHAP: wrong response.
    #[error("mutual CHAP: the target's response is wrong (it does not know the target secret)")]
    WrongTargetResponse,
    /// Mutual CHAP requested but the target did not answer.
    #[error("mutual CHAP: the target did not authenticate itself")]
    NoTargetResponse,
    /// No randomness for the challenge.
    #[error("cannot read /dev/urandom for a CHAP challenge: {0}")]
    Random(String),
}

/// `MD5(id || secret || challenge)`.
pub fn response(id: u8, secret: &[u8], challenge: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update([id]);
    h.update(secret);
    h.update(challenge);
    h.finalize().into()
}

/// Decode a binary value: `0x` hex (an odd digit count gets a leading
/// zero) or `0b` base64.
pub fn decode_binary(v: &str, key: &'static str) -> Result<Vec<u8>, ChapError> {
    let bad = || ChapError::Malformed {
        key,
        value: v.chars().take(80).collect(),
    };
    let out = if let Some(h) = v.strip_prefix("0x").or(v.strip_prefix("0X")) {
        if h.len() % 2 == 1 {
            hex::decode(format!("0{h}")).map_err(|_| bad())?
        } else {
            hex::decode(h).map_err(|_| bad())?
        }
    } else if let Some(b) = v.strip_prefix("0b").or(v.strip_prefix("0B")) {
        base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(|_| bad())?
    } else {
        return Err(bad());
    };
    if out.is_empty() || out.len() > MAX_CHALLENGE {
        return Err(bad());
    }
    Ok(out)
}

/// Encode a binary value as `0x` hex.
pub fn encode_binary(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

/// A challenge and identifier of this side's own, for mutual CHAP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnChallenge {
    /// CHAP_I.
    pub id: u8,
    /// CHAP_C.
    pub challenge: [u8; CHALLENGE_LEN],
}

impl OwnChallenge {
    /// Random identifier and challenge from `/dev/urandom`.
    pub fn random() -> Result<Self, ChapError> {
        use std::io::Read as _;
        let mut b = [0u8; CHALLENGE_LEN + 1];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut b))
            .map_err(|e| ChapError::Random(e.to_string()))?;
        let mut challenge = [0u8; CHALLENGE_LEN];
        challenge.copy_from_slice(&b[1..]);
        remember(&challenge);
        Ok(OwnChallenge {
            id: b[0],
            challenge,
        })
    }
}

/// Challenges this process has sent, newest last: a target (or a man in
/// the middle) that hands one of them back in another session wants the
/// answer to replay it (RFC 1994 §5's reflection; RFC 7143 §12.1.3).
static SENT: std::sync::Mutex<Vec<[u8; CHALLENGE_LEN]>> =
    std::sync::Mutex::new(Vec::new());

/// How many of our challenges are remembered.
const REMEMBERED: usize = 256;

fn remember(c: &[u8; CHALLENGE_LEN]) {
    let mut sent = SENT.lock().unwrap_or_else(|e| e.into_inner());
    if sent.len() >= REMEMBERED {
        sent.remove(0);
    }
    sent.push(*c);
}

/// Whether `c` is a challenge this process sent.
fn ours(c: &[u8]) -> bool {
    let sent = SENT.lock().unwrap_or_else(|e| e.into_inner());
    sent.iter().any(|s| s.as_slice() == c)
}

/// The initiator's answer to a target's challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// CHAP_N.
    pub name: String,
    /// CHAP_R, encoded.
    pub response: String,
}

/// Answer the target's `CHAP_A`, `CHAP_I`, `CHAP_C`.
pub fn answer(
    algorithm: Option<&str>,
    id: Option<&str>,
    challenge: Option<&str>,
    user: &str,
    secret: &[u8],
    own: Option<&OwnChallenge>,
) -> Result<Answer, ChapError> {
    let a = algorithm.ok_or(ChapError::Missing("CHAP_A"))?;
    if a != ALGORITHM_MD5 {
        return Err(ChapError::Algorithm(a.to_string()));
    }
    let id_s = id.ok_or(ChapError::Missing("CHAP_I"))?;
    let id: u8 = id_s.parse().map_err(|_| ChapError::Malformed {
        key: "CHAP_I",
        value: id_s.to_string(),
    })?;
    let c = decode_binary(
        challenge.ok_or(ChapError::Missing("CHAP_C"))?,
        "CHAP_C",
    )?;
    if own.is_some_and(|o| c == o.challenge) || ours(&c) {
        return Err(ChapError::Reflected);
    }
    Ok(Answer {
        name: user.to_string(),
        response: encode_binary(&response(id, secret, &c)),
    })
}

/// Check the target's mutual CHAP answer to `own`.
pub fn verify_target(
    name: Option<&str>,
    resp: Option<&str>,
    own: &OwnChallenge,
    target_user: &str,
    target_secret: &[u8],
) -> Result<(), ChapError> {
    let (name, resp) = match (name, resp) {
        (Some(n), Some(r)) => (n, r),
        _ => return Err(ChapError::NoTargetResponse),
    };
    if name != target_user {
        return Err(ChapError::WrongTargetName {
            got: name.to_string(),
            expected: target_user.to_string(),
        });
    }
    let got = decode_binary(resp, "CHAP_R")?;
    let want = response(own.id, target_secret, &own.challenge);
    if got != want {
        return Err(ChapError::WrongTargetResponse);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known answers, computed independently (Python's hashlib).
    #[test]
    fn md5_known_answers() {
        let c = hex::decode("00112233445566778899aabbccddeeff").unwrap();
        assert_eq!(
            hex::encode(response(0x2a, b"jimsecret123", &c)),
            "8b578b4af9af9ac1f7ed0885cb1c73a9"
        );
        let c: Vec<u8> = (0..16).collect();
        assert_eq!(
            hex::encode(response(7, b"tgtsecret456", &c)),
            "9b10365739d03524cbfbb1aaefc25c06"
        );
    }

    #[test]
    fn binary_encodings() {
        let c: Vec<u8> = (0..16).collect();
        assert_eq!(
            decode_binary("0x000102030405060708090a0b0c0d0e0f", "C"),
            Ok(c.clone())
        );
        assert_eq!(
            decode_binary("0bAAECAwQFBgcICQoLDA0ODw==", "C"),
            Ok(c.clone())
        );
        assert_eq!(decode_binary("0xabc", "C"), Ok(vec![0x0a, 0xbc]));
        assert!(decode_binary("abc", "C").is_err());
        assert!(decode_binary("0x", "C").is_err());
        assert!(decode_binary("0xzz", "C").is_err());
        let huge = format!("0x{}", "00".repeat(MAX_CHALLENGE + 1));
        assert!(decode_binary(&huge, "C").is_err());
        assert_eq!(encode_binary(&[0xde, 0xad]), "0xdead");
    }

    #[test]
    fn one_way_and_mutual() {
        let a = answer(
            Some("5"),
            Some("42"),
            Some("0x00112233445566778899aabbccddeeff"),
            "jim",
            b"jimsecret123",
            None,
        )
        .unwrap();
        assert_eq!(a.name, "jim");
        assert_eq!(a.response, "0x8b578b4af9af9ac1f7ed0885cb1c73a9");

        let own = OwnChallenge {
            id: 7,
            challenge: core::array::from_fn(|i| u8::try_from(i).unwrap()),
        };
        let good = "0x9b10365739d03524cbfbb1aaefc25c06";
        verify_target(Some("tgt"), Some(good), &own, "tgt", b"tgtsecret456")
            .unwrap();
        assert_eq!(
            verify_target(Some("tgt"), Some(good), &own, "tgt", b"other"),
            Err(ChapError::WrongTargetResponse)
        );
        assert!(matches!(
            verify_target(Some("evil"), Some(good), &own, "tgt", b"x"),
            Err(ChapError::WrongTargetName { .. })
        ));
        assert_eq!(
            verify_target(None, None, &own, "tgt", b"x"),
            Err(ChapError::NoTargetResponse)
        );
        // Reflection: the target's challenge is ours.
        let reflected = encode_binary(&own.challenge);
        assert_eq!(
            answer(
                Some("5"),
                Some("1"),
                Some(&reflected),
                "jim",
                b"s",
                Some(&own)
            ),
            Err(ChapError::Reflected)
        );
    }

    #[test]
    fn refuses_bad_offers() {
        let e = answer(Some("7"), Some("1"), Some("0x00"), "u", b"s", None);
        assert_eq!(
            e.unwrap_err().to_string(),
            "the target chose CHAP algorithm \"7\"; only 5 (MD5) is supported"
        );
        let e = answer(Some("5"), Some("256"), Some("0x00"), "u", b"s", None);
        assert!(matches!(e, Err(ChapError::Malformed { key: "CHAP_I", .. })));
        let e = answer(Some("5"), Some("1"), None, "u", b"s", None);
        assert_eq!(e, Err(ChapError::Missing("CHAP_C")));
    }

    #[test]
    fn challenges_differ() {
        let a = OwnChallenge::random().unwrap();
        let b = OwnChallenge::random().unwrap();
        assert_ne!(a.challenge, b.challenge);
    }
}
