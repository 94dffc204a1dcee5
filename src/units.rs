//! Units as types: byte sizes written the way operators write them
//! (`8GiB`, `512MiB`, `1.5G`), parsed once and carried as exact byte counts.
//!
//! Binary prefixes (`KiB`, `MiB`, `GiB`, `TiB`, and the shorthand `K`,
//! `M`, `G`, `T` that `fdisk`, `lvcreate` and `qemu-img` read as binary)
//! and decimal ones (`kB`, `MB`, `GB`, `TB`) are both accepted; a bare
//! number is bytes. Arithmetic is checked: a size never wraps.

use std::fmt;
use std::str::FromStr;

/// Errors of size parsing; each carries the text that failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// Not a number followed by a known unit.
    #[error(
        "bad size {0:?}: expected a number and a unit such as 512MiB, \
         8GiB, 1.5G or 4096"
    )]
    Syntax(String),
    /// The size does not fit in 64 bits of bytes.
    #[error("size {0:?} is too large")]
    Overflow(String),
    /// A fractional size that is not a whole number of bytes.
    #[error("size {0:?} is not a whole number of bytes")]
    Fraction(String),
}

/// An exact number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

const UNITS: &[(&str, u64)] = &[
    ("", 1),
    ("b", 1),
    ("k", 1 << 10),
    ("kib", 1 << 10),
    ("m", 1 << 20),
    ("mib", 1 << 20),
    ("g", 1 << 30),
    ("gib", 1 << 30),
    ("t", 1 << 40),
    ("tib", 1 << 40),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
    ("tb", 1_000_000_000_000),
];

impl ByteSize {
    /// One mebibyte.
    pub const MIB: ByteSize = ByteSize(1 << 20);

    /// The number of bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: ByteSize) -> Option<ByteSize> {
        self.0.checked_add(other.0).map(ByteSize)
    }
}

impl FromStr for ByteSize {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let s = text.trim();
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let unit = unit.trim().to_ascii_lowercase();
        let mult = UNITS
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, m)| *m)
            .ok_or_else(|| Error::Syntax(text.into()))?;
        let (int, frac) = match num.split_once('.') {
            Some((i, f)) => (i, f),
            None => (num, ""),
        };
        if int.is_empty() || frac.contains('.') || (num.ends_with('.')) {
            return Err(Error::Syntax(text.into()));
        }
        let overflow = || Error::Overflow(text.into());
        let whole: u64 = int.parse().map_err(|_| overflow())?;
        let mut bytes = whole.checked_mul(mult).ok_or_else(overflow)?;
        if !frac.is_empty() {
            // Exact decimal fraction: frac / 10^len * mult must be whole.
            let den = 10u64
                .checked_pow(u32::try_from(frac.len()).map_err(|_| overflow())?)
                .ok_or_else(overflow)?;
            let f: u64 = frac.parse().map_err(|_| overflow())?;
            let scaled = u128::from(f) * u128::from(mult);
            if scaled % u128::from(den) != 0 {
                return Err(Error::Fraction(text.into()));
            }
            let part = u64::try_from(scaled / u128::from(den))
                .map_err(|_| overflow())?;
            bytes = bytes.checked_add(part).ok_or_else(overflow)?;
        }
        Ok(ByteSize(bytes))
    }
}

impl fmt::Display for ByteSize {
    /// The largest binary unit that represents the size exactly.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(&str, u64); 4] = [
            ("TiB", 1 << 40),
            ("GiB", 1 << 30),
            ("MiB", 1 << 20),
            ("KiB", 1 << 10),
        ];
        for (name, m) in NAMES {
            if self.0 >= m && self.0 % m == 0 {
                return write!(f, "{}{}", self.0 / m, name);
            }
        }
        write!(f, "{}", self.0)
    }
}

/// A human-readable approximation for progress and summaries
/// (`12.3 MiB`), unlike [`ByteSize`]'s exact `Display`.
pub fn human(bytes: u64) -> String {
    const NAMES: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < NAMES.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", NAMES[i])
    }
}

impl<'de> serde::Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for ByteSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_spellings() {
        let cases: &[(&str, u64)] = &[
            ("8GiB", 8 << 30),
            ("512MiB", 512 << 20),
            ("512M", 512 << 20),
            ("1.5G", 3 << 29),
            ("4096", 4096),
            ("4096B", 4096),
            ("1kB", 1000),
            ("2 TB", 2_000_000_000_000),
            (" 1k ", 1024),
        ];
        for (s, want) in cases {
            assert_eq!(s.parse::<ByteSize>(), Ok(ByteSize(*want)), "{s}");
        }
    }

    #[test]
    fn rejects_bad_sizes() {
        for s in ["", "GiB", "8 GiBs", "1.2.3G", "-1G", "1.G", "x"] {
            assert!(
                matches!(s.parse::<ByteSize>(), Err(Error::Syntax(_))),
                "{s}"
            );
        }
        assert_eq!(
            "1.3B".parse::<ByteSize>(),
            Err(Error::Fraction("1.3B".into()))
        );
        assert_eq!(
            "99999999999T".parse::<ByteSize>(),
            Err(Error::Overflow("99999999999T".into()))
        );
    }

    #[test]
    fn displays_exactly() {
        assert_eq!(ByteSize(8 << 30).to_string(), "8GiB");
        assert_eq!(ByteSize(3 << 29).to_string(), "1536MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(12), "12 B");
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            Error::Syntax("x".into()).to_string(),
            "bad size \"x\": expected a number and a unit such as 512MiB, \
             8GiB, 1.5G or 4096"
        );
        assert_eq!(
            Error::Overflow("9T".into()).to_string(),
            "size \"9T\" is too large"
        );
        assert_eq!(
            Error::Fraction("1.3".into()).to_string(),
            "size \"1.3\" is not a whole number of bytes"
        );
    }
}
