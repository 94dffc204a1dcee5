//! Text keys (RFC 7143 §6.1, §6.2): a data segment of `key=value`
//! pairs, each ended by a NUL byte, in Login and Text PDUs.
//!
//! Limits: a key name has at most 63 bytes (§6.1), a value at most
//! 8192 (the longest standard value, a CHAP challenge in hex, is about
//! 2 KiB); a list holds at most [`MAX_PAIRS`] pairs and [`MAX_TEXT`]
//! bytes, so a target cannot make a login grow without bound.

/// The most pairs accepted in one exchange.
pub const MAX_PAIRS: usize = 512;
/// The most text bytes accepted in one exchange (over continued PDUs).
pub const MAX_TEXT: usize = 256 * 1024;
/// Longest key name.
pub const MAX_KEY: usize = 63;
/// Longest value.
pub const MAX_VALUE: usize = 8192;

/// What is wrong with a text segment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// A pair without `=`.
    #[error("text key {0:?} has no '='")]
    NoEquals(String),
    /// An empty or too long key, or one with bytes outside the set of
    /// §6.1.
    #[error("bad text key {0:?}")]
    BadKey(String),
    /// A value longer than [`MAX_VALUE`] or not UTF-8.
    #[error("value of text key {0} is too long or not UTF-8")]
    BadValue(String),
    /// More than [`MAX_PAIRS`] pairs or [`MAX_TEXT`] bytes.
    #[error("text exchange exceeds {MAX_PAIRS} keys or {MAX_TEXT} bytes")]
    TooMuch,
}

/// An ordered list of text pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextList {
    /// The pairs in the order received or to be sent.
    pub pairs: Vec<(String, String)>,
}

impl TextList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append `key=value`.
    pub fn push(&mut self, key: &str, value: impl Into<String>) {
        self.pairs.push((key.to_string(), value.into()));
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key` in order (SendTargets repeats keys).
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The data segment: every pair followed by NUL.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, v) in &self.pairs {
            out.extend_from_slice(k.as_bytes());
            out.push(b'=');
            out.extend_from_slice(v.as_bytes());
            out.push(0);
        }
        out
    }

    /// Parse a complete text (the data segments of a continued exchange
    /// joined). Empty strings between NULs are skipped.
    pub fn decode(text: &[u8]) -> Result<Self, TextError> {
        if text.len() > MAX_TEXT {
            return Err(TextError::TooMuch);
        }
        let mut pairs = Vec::new();
        for item in text.split(|b| *b == 0).filter(|s| !s.is_empty()) {
            if pairs.len() >= MAX_PAIRS {
                return Err(TextError::TooMuch);
            }
            let lossy = || String::from_utf8_lossy(item).into_owned();
            let eq = item
                .iter()
                .position(|b| *b == b'=')
                .ok_or_else(|| TextError::NoEquals(lossy()))?;
            let (k, v) = item.split_at(eq);
            let v = v.get(1..).unwrap_or_default();
            let key_ok = !k.is_empty()
                && k.len() <= MAX_KEY
                && k.iter()
                    .all(|b| b.is_ascii_alphanumeric() || b".-+@_".contains(b));
            if !key_ok {
                return Err(TextError::BadKey(lossy()));
            }
            let key = String::from_utf8_lossy(k).into_owned();
            if v.len() > MAX_VALUE {
                return Err(TextError::BadValue(key));
            }
            let value = std::str::from_utf8(v)
                .map_err(|_| TextError::BadValue(key.clone()))?;
            pairs.push((key, value.to_string()));
        }
        Ok(TextList { pairs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut t = TextList::new();
        t.push("InitiatorName", "iqn.2024-01.example:host");
        t.push("HeaderDigest", "CRC32C,None");
        let b = t.encode();
        assert_eq!(b.last(), Some(&0));
        assert_eq!(TextList::decode(&b).unwrap(), t);
        assert_eq!(t.get("HeaderDigest"), Some("CRC32C,None"));
        assert_eq!(t.get("DataDigest"), None);
    }

    #[test]
    fn repeated_keys_and_padding() {
        let t = TextList::decode(
            b"TargetName=iqn.a\0TargetAddress=1.2.3.4:3260,1\0\
              TargetName=iqn.b\0\0\0",
        )
        .unwrap();
        assert_eq!(t.all("TargetName").collect::<Vec<_>>(), ["iqn.a", "iqn.b"]);
        assert_eq!(t.get("TargetAddress"), Some("1.2.3.4:3260,1"));
        let t = TextList::decode(b"X-com.example.Key=\0").unwrap();
        assert_eq!(t.get("X-com.example.Key"), Some(""));
    }

    #[test]
    fn rejects() {
        assert_eq!(
            TextList::decode(b"novalue\0").unwrap_err().to_string(),
            "text key \"novalue\" has no '='"
        );
        assert!(matches!(
            TextList::decode(b"=x\0"),
            Err(TextError::BadKey(_))
        ));
        assert!(matches!(
            TextList::decode(b"a b=x\0"),
            Err(TextError::BadKey(_))
        ));
        let long = format!("{}=1\0", "K".repeat(64));
        assert!(TextList::decode(long.as_bytes()).is_err());
        let v = format!("K={}\0", "v".repeat(MAX_VALUE + 1));
        assert!(matches!(
            TextList::decode(v.as_bytes()),
            Err(TextError::BadValue(_))
        ));
        assert!(matches!(
            TextList::decode(b"K=\xff\0"),
            Err(TextError::BadValue(_))
        ));
        let many = "a=b\0".repeat(MAX_PAIRS + 1);
        assert_eq!(TextList::decode(many.as_bytes()), Err(TextError::TooMuch));
    }
}
