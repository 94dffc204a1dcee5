//! The `Release` file: what a suite is, when it expires, and the digest of
//! every index it signs.
//!
//! Spec: the Debian repository format
//! (<https://wiki.debian.org/DebianRepository/Format#A.22Release.22_files>).
//! Only SHA-256 entries are used; MD5Sum and SHA1 lines are ignored since
//! they do not protect against a forged index.

use std::collections::BTreeMap;

use super::deb822::{self, Paragraphs};
use super::transport::Expected;

/// Errors of `Release` parsing and checking.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The text is not one deb822 paragraph.
    #[error("Release: {0}")]
    Syntax(#[from] deb822::Error),
    /// The file holds no paragraph.
    #[error("Release is empty")]
    Empty,
    /// A line of the SHA256 list is not `digest size path`.
    #[error("Release: bad SHA256 entry {0:?}")]
    BadEntry(String),
    /// A date field is not an RFC 2822 date.
    #[error("Release: bad {field} date {value:?}")]
    BadDate {
        /// `Date` or `Valid-Until`.
        field: &'static str,
        /// The text.
        value: String,
    },
    /// `Valid-Until` is in the past: an attacker may be replaying an old,
    /// validly signed Release.
    #[error(
        "Release of {suite} expired at {valid_until} (Valid-Until); the \
         mirror is stale or replayed (--ignore-valid-until to accept it)"
    )]
    Expired {
        /// Suite name.
        suite: String,
        /// The Valid-Until text.
        valid_until: String,
    },
    /// The Release does not list a file the client needs.
    #[error("Release of {suite} lists no {path}")]
    Missing {
        /// Suite name.
        suite: String,
        /// The wanted path.
        path: String,
    },
}

/// Result of Release handling.
pub type Result<T> = std::result::Result<T, Error>;

/// A parsed `Release` (or the signed text of `InRelease`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// `Origin`.
    pub origin: Option<String>,
    /// `Suite` (e.g. `stable`).
    pub suite: Option<String>,
    /// `Codename` (e.g. `trixie`).
    pub codename: Option<String>,
    /// `Version`.
    pub version: Option<String>,
    /// `Date`, as written (checked to be a date).
    pub date: Option<String>,
    /// `Valid-Until`, as written.
    pub valid_until: Option<String>,
    /// `Valid-Until` in seconds since the epoch.
    pub valid_until_unix: Option<i64>,
    /// `Architectures`.
    pub architectures: Vec<String>,
    /// `Components`.
    pub components: Vec<String>,
    /// `Acquire-By-Hash: yes`.
    pub acquire_by_hash: bool,
    /// SHA-256 entries: path → expected size and digest.
    pub files: BTreeMap<String, Expected>,
}

impl Release {
    /// Parse the text of a Release file.
    pub fn parse(text: &str) -> Result<Release> {
        let para = Paragraphs::new(text).next().ok_or(Error::Empty)??;
        let get = |f: &str| para.get(f).map(str::to_string);
        let list = |f: &str| {
            para.get(f)
                .map(|v| deb822::words(v).map(String::from).collect())
                .unwrap_or_default()
        };
        let date_field = |field: &'static str| -> Result<_> {
            let Some(text) = get(field) else {
                return Ok((None, None));
            };
            let unix = parse_date(&text).ok_or_else(|| Error::BadDate {
                field,
                value: text.clone(),
            })?;
            Ok((Some(text), Some(unix)))
        };
        let (date, _) = date_field("Date")?;
        let (valid_until, valid_until_unix) = date_field("Valid-Until")?;
        let mut files = BTreeMap::new();
        for line in para.get("SHA256").unwrap_or("").lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let bad = || Error::BadEntry(line.to_string());
            let mut w = line.split_ascii_whitespace();
            let (Some(h), Some(s), Some(p), None) =
                (w.next(), w.next(), w.next(), w.next())
            else {
                return Err(bad());
            };
            let mut sha256 = [0u8; 32];
            hex::decode_to_slice(h, &mut sha256).map_err(|_| bad())?;
            let size = s.parse().map_err(|_| bad())?;
            files.insert(p.to_string(), Expected { size, sha256 });
        }
        Ok(Release {
            origin: get("Origin"),
            suite: get("Suite"),
            codename: get("Codename"),
            version: get("Version"),
            date,
            valid_until,
            valid_until_unix,
            architectures: list("Architectures"),
            components: list("Components"),
            acquire_by_hash: para
                .get("Acquire-By-Hash")
                .is_some_and(|v| v.eq_ignore_ascii_case("yes")),
            files,
        })
    }

    /// The name to show for this suite: codename, else suite.
    pub fn name(&self) -> &str {
        self.codename
            .as_deref()
            .or(self.suite.as_deref())
            .unwrap_or("(unnamed suite)")
    }

    /// Fail when `Valid-Until` lies before `now` (seconds since epoch).
    pub fn check_valid_until(&self, now: i64) -> Result<()> {
        match (&self.valid_until, self.valid_until_unix) {
            (Some(v), Some(t)) if t < now => Err(Error::Expired {
                suite: self.name().into(),
                valid_until: v.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// The expected size and digest of `path`.
    pub fn entry(&self, path: &str) -> Result<&Expected> {
        self.files.get(path).ok_or_else(|| Error::Missing {
            suite: self.name().into(),
            path: path.into(),
        })
    }
}

/// Parse an RFC 2822 date as Release files use it
/// (`Sat, 21 Nov 2026 09:15:44 UTC`; the weekday is optional, the zone is
/// `UTC`, `GMT`, `UT`, `Z` or a numeric offset `+hhmm`) into seconds since
/// the epoch. `None` for anything else, including a day the month does
/// not have and a year too large for the result.
pub fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    let s = match s.split_once(',') {
        Some((_, rest)) => rest.trim(),
        None => s,
    };
    let mut w = s.split_ascii_whitespace();
    let day = number(w.next()?)?;
    let month_name = w.next()?;
    let month = MONTHS.iter().position(|m| *m == month_name)?;
    let year = number(w.next()?)?;
    let mut hms = w.next()?.split(':');
    let h = number(hms.next()?)?;
    let m = number(hms.next()?)?;
    let sec = hms.next().map_or(Some(0), number)?;
    if hms.next().is_some() || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let offset = match w.next() {
        None | Some("UTC" | "GMT" | "Z" | "UT") => 0,
        Some(z) => {
            let (sign, hhmm) = match z.split_at_checked(1)? {
                ("+", v) => (1, v),
                ("-", v) => (-1, v),
                _ => return None,
            };
            if hhmm.len() != 4 {
                return None;
            }
            let v = number(hhmm)?;
            // At most 9999: no overflow below.
            let (oh, om) = (v / 100, v % 100);
            if om > 59 {
                return None;
            }
            sign * (oh * 3600 + om * 60)
        }
    };
    if w.next().is_some() {
        return None;
    }
    let month = i64::try_from(month).ok()? + 1;
    // h, m, sec are checked above: the time of day is below 86_401.
    let time = h * 3600 + m * 60 + sec;
    days_from_civil(year, month, day)?
        .checked_mul(86_400)?
        .checked_add(time)?
        .checked_sub(offset)
}

/// A field of ASCII digits (no sign), as `i64`.
fn number(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
    "Nov", "Dec",
];

/// Whether `y` is a leap year of the proleptic Gregorian calendar.
fn is_leap(y: i64) -> bool {
    y.rem_euclid(4) == 0 && (y.rem_euclid(100) != 0 || y.rem_euclid(400) == 0)
}

/// Days in month `m` (1-12) of year `y`.
fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`); `None` for a month outside 1-12, a day the month
/// does not have (31 Feb), or a year whose day count overflows.
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> Option<i64> {
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    let y = if m <= 2 { y.checked_sub(1)? } else { y };
    let era = y.div_euclid(400);
    // yoe < 400, mp < 12 and d <= 31: the day of the era is below
    // 146_097 and cannot overflow.
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era.checked_mul(146_097)?
        .checked_add(doe)?
        .checked_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "Origin: Debian\nLabel: Debian\nSuite: stable\n\
Version: 13.2\nCodename: trixie\nDate: Sat, 21 Nov 2026 09:15:44 UTC\n\
Acquire-By-Hash: yes\nArchitectures: all amd64 arm64\n\
Components: main contrib\nMD5Sum:\n 0123 12 main/x\nSHA256:\n \
6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d 1 \
main/binary-amd64/Packages.xz\n \
0000000000000000000000000000000000000000000000000000000000000000 0 \
main/binary-amd64/Packages\n";

    #[test]
    fn parses_fields_and_entries() {
        let r = Release::parse(TEXT).unwrap();
        assert_eq!(r.codename.as_deref(), Some("trixie"));
        assert_eq!(r.suite.as_deref(), Some("stable"));
        assert!(r.acquire_by_hash);
        assert_eq!(r.architectures, ["all", "amd64", "arm64"]);
        assert_eq!(r.files.len(), 2);
        let e = r.entry("main/binary-amd64/Packages.xz").unwrap();
        assert_eq!(e.size, 1);
        assert_eq!(e.sha256[0], 0x6e);
        assert_eq!(r.date.as_deref(), Some("Sat, 21 Nov 2026 09:15:44 UTC"));
        assert_eq!(r.valid_until_unix, None);
        assert!(matches!(r.entry("main/x"), Err(Error::Missing { .. })));
    }

    #[test]
    fn valid_until() {
        let t = format!("{TEXT}Valid-Until: Sat, 28 Nov 2026 09:15:44 UTC\n");
        let r = Release::parse(&t).unwrap();
        assert_eq!(r.valid_until_unix, Some(1_795_252_544 + 7 * 86400));
        assert!(r.check_valid_until(1_795_252_544).is_ok());
        let e = r.check_valid_until(1_795_252_544 + 8 * 86400).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Release of trixie expired at Sat, 28 Nov 2026 09:15:44 UTC \
             (Valid-Until); the mirror is stale or replayed \
             (--ignore-valid-until to accept it)"
        );
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("Thu, 01 Jan 1970 00:00:00 UTC"), Some(0));
        assert_eq!(parse_date("01 Jan 1970 01:00:00 +0100"), Some(0));
        assert_eq!(
            parse_date("Sat, 29 Feb 2020 00:00:00 UTC"),
            Some(1_582_934_400)
        );
        assert_eq!(parse_date("Sat, 21 Nov 2026"), None);
        assert_eq!(parse_date("Sat, 21 Foo 2026 00:00:00 UTC"), None);
        assert_eq!(parse_date("31 Dec 1969 23:59:59 +0000"), Some(-1));
        assert_eq!(parse_date("01 Jan 1970 00:00:00 -0130"), Some(5400));
        assert_eq!(
            parse_date("Fri, 31 Dec 9999 23:59:59 UTC"),
            Some(253_402_300_799)
        );
    }

    #[test]
    fn impossible_dates_are_refused() {
        for bad in [
            "31 Feb 2026 00:00:00 UTC",
            "30 Feb 2024 00:00:00 UTC",
            "29 Feb 2023 00:00:00 UTC",
            "29 Feb 1900 00:00:00 UTC",
            "31 Apr 2026 00:00:00 UTC",
            "00 Jan 2026 00:00:00 UTC",
            "01 Jan 2026 24:00:00 UTC",
            "01 Jan 2026 00:60:00 UTC",
            "01 Jan 2026 00:00:00:00 UTC",
            "01 Jan 2026 00:00:00 +0060",
            "01 Jan 2026 00:00:00 +01",
            "01 Jan 2026 00:00:00 +-100",
            "01 Jan 2026 00:00:00 UTC trailing",
            "+1 Jan 2026 00:00:00 UTC",
            "01 Jan -2026 00:00:00 UTC",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        assert!(parse_date("29 Feb 2000 00:00:00 UTC").is_some());
        assert!(parse_date("29 Feb 2024 00:00:00 UTC").is_some());
        assert!(parse_date("30 Apr 2026 00:00:00 UTC").is_some());
    }

    #[test]
    fn huge_years_do_not_overflow() {
        for year in [
            "999999999999999999",
            "9223372036854775807",
            "99999999999999999999999",
            "25252734927766555",
        ] {
            let d = format!("Sat, 21 Nov {year} 09:15:44 UTC");
            assert_eq!(parse_date(&d), None, "{d}");
        }
        // i64 seconds end on 4 Dec 292277026596, 15:30:07 UTC.
        assert_eq!(
            parse_date("04 Dec 292277026596 15:30:07 UTC"),
            Some(i64::MAX)
        );
        assert_eq!(parse_date("04 Dec 292277026596 15:30:08 UTC"), None);
        assert_eq!(parse_date("31 Dec 292277026596 00:00:00 UTC"), None);
        let t = format!(
            "{TEXT}Valid-Until: Sat, 21 Nov 999999999999999999 09:15:44 \
             UTC\n"
        );
        assert!(matches!(
            Release::parse(&t),
            Err(Error::BadDate {
                field: "Valid-Until",
                ..
            })
        ));
    }

    #[test]
    fn bad_entries_are_rejected() {
        let t = "Codename: x\nSHA256:\n zz 1 a\n";
        assert_eq!(Release::parse(t), Err(Error::BadEntry("zz 1 a".into())));
        assert_eq!(Release::parse(""), Err(Error::Empty));
        assert!(matches!(
            Release::parse("Date: yesterday\n"),
            Err(Error::BadDate { field: "Date", .. })
        ));
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            Error::BadEntry("x".into()).to_string(),
            "Release: bad SHA256 entry \"x\""
        );
        assert_eq!(
            Error::Missing {
                suite: "s".into(),
                path: "p".into()
            }
            .to_string(),
            "Release of s lists no p"
        );
        assert_eq!(Error::Empty.to_string(), "Release is empty");
    }
}
