//! The build's time as FAT writes times: a DOS date and time (no time
//! zone: UTC here, as `SOURCE_DATE_EPOCH` is), 1980-01-01 to
//! 2107-12-31, in 2-second steps, and the fatfs time provider that
//! answers it for every entry fatfs creates.
//!
//! fatfs 0.3.6 takes its time provider as a `&'static dyn TimeProvider`,
//! so a provider per build time is made once and kept for the life of
//! the process ([`provider`]): a few bytes for each distinct time, and
//! no clock and no global "current time" to set before a write.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use fatfs::{Date, DateTime, Time, TimeProvider};

/// The earliest time FAT holds: 1980-01-01 00:00:00.
pub const FAT_EPOCH: i64 = 315_532_800;
/// The latest: 2107-12-31 23:59:58.
pub const FAT_END: i64 = 4_354_819_198;

/// `t` (seconds since 1970, UTC) as a DOS date and time, clamped to
/// FAT's range and rounded down to an even second.
pub fn dos_date_time(t: i64) -> DateTime {
    let t = t.clamp(FAT_EPOCH, FAT_END);
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    // In range: the clamp keeps the year in 1980..=2107, and the rest
    // are below 60.
    let small = |v: i64| u16::try_from(v).unwrap_or(0);
    DateTime {
        date: Date {
            year: small(y),
            month: small(m),
            day: small(d),
        },
        time: Time {
            hour: small(secs.div_euclid(3600)),
            min: small(secs.rem_euclid(3600).div_euclid(60)),
            sec: small(secs.rem_euclid(60).div_euclid(2).saturating_mul(2)),
            millis: 0,
        },
    }
}

/// The spec's date word: bits 15-9 years since 1980, 8-5 month, 4-0
/// day.
pub fn encode_date(d: &Date) -> u16 {
    let y = d.year.saturating_sub(1980) & 0x7F;
    (y << 9) | ((d.month & 0xF) << 5) | (d.day & 0x1F)
}

/// The spec's time word: bits 15-11 hours, 10-5 minutes, 4-0 seconds
/// divided by 2.
pub fn encode_time(t: &Time) -> u16 {
    ((t.hour & 0x1F) << 11) | ((t.min & 0x3F) << 5) | ((t.sec / 2) & 0x1F)
}

/// Year, month and day of the day `z` days after 1970-01-01 (proleptic
/// Gregorian; H. Hinnant's `civil_from_days`); exact for the days of
/// FAT's range and of an SBOM's `created` (years 0 to 9999).
pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = doe
        .saturating_sub(doe / 1460)
        .saturating_add(doe / 36_524)
        .saturating_sub(doe / 146_096)
        / 365;
    let y = yoe.saturating_add(era.saturating_mul(400));
    let doy = doe.saturating_sub(
        yoe.saturating_mul(365)
            .saturating_add(yoe / 4)
            .saturating_sub(yoe / 100),
    );
    let mp = doy.saturating_mul(5).saturating_add(2) / 153;
    let d = doy
        .saturating_sub(mp.saturating_mul(153).saturating_add(2) / 5)
        .saturating_add(1);
    let m = if mp < 10 {
        mp.saturating_add(3)
    } else {
        mp.saturating_sub(9)
    };
    (if m <= 2 { y.saturating_add(1) } else { y }, m, d)
}

/// A fatfs time provider that always answers one time.
#[derive(Debug)]
pub struct BuildTime(DateTime);

impl TimeProvider for BuildTime {
    fn get_current_date(&self) -> Date {
        self.0.date
    }

    fn get_current_date_time(&self) -> DateTime {
        self.0
    }
}

/// The provider of the time `t` (see [`dos_date_time`]), made the first
/// time it is asked for and kept.
pub fn provider(t: i64) -> &'static BuildTime {
    static MADE: OnceLock<Mutex<BTreeMap<i64, &'static BuildTime>>> =
        OnceLock::new();
    let t = t.clamp(FAT_EPOCH, FAT_END);
    let mut made = MADE
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    made.entry(t)
        .or_insert_with(|| Box::leak(Box::new(BuildTime(dos_date_time(t)))))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::arithmetic_side_effects, clippy::as_conversions)]

    use super::*;

    fn ymdhms(t: i64) -> (u16, u16, u16, u16, u16, u16) {
        let d = dos_date_time(t);
        (
            d.date.year,
            d.date.month,
            d.date.day,
            d.time.hour,
            d.time.min,
            d.time.sec,
        )
    }

    #[test]
    fn dates_as_date_u_prints_them() {
        // `date -u -d @1700000000`: 2023-11-14 22:13:20.
        assert_eq!(ymdhms(1_700_000_000), (2023, 11, 14, 22, 13, 20));
        // Odd seconds round down; 2024-02-29 exists.
        assert_eq!(ymdhms(1_709_164_799), (2024, 2, 28, 23, 59, 58));
        assert_eq!(ymdhms(1_709_164_800), (2024, 2, 29, 0, 0, 0));
        // Clamped to FAT's range.
        assert_eq!(ymdhms(0), (1980, 1, 1, 0, 0, 0));
        assert_eq!(ymdhms(-5), (1980, 1, 1, 0, 0, 0));
        assert_eq!(ymdhms(i64::MAX), (2107, 12, 31, 23, 59, 58));
    }

    #[test]
    fn words_as_the_spec_packs_them() {
        let d = dos_date_time(1_700_000_000);
        assert_eq!(encode_date(&d.date), (43 << 9) | (11 << 5) | 14);
        assert_eq!(encode_time(&d.time), (22 << 11) | (13 << 5) | 10);
        let d = dos_date_time(FAT_EPOCH);
        assert_eq!((encode_date(&d.date), encode_time(&d.time)), (0x21, 0));
    }

    #[test]
    fn one_provider_per_time() {
        let a = provider(1_700_000_000);
        assert!(std::ptr::eq(a, provider(1_700_000_000)));
        assert!(std::ptr::eq(provider(0), provider(-1)));
        assert_eq!(a.get_current_date_time(), dos_date_time(1_700_000_000));
    }
}
