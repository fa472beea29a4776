//! Timestamps: microseconds since the Unix epoch, UTC, and their W3C date-time text form
//! (the `date` attribute type of Windows record attributes, W3C NOTE-datetime).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time: whole microseconds since 1970-01-01T00:00:00Z (negative before).
///
/// Record times (creation, modification, expiration) and `date` attributes use it. The
/// text form is W3C NOTE-datetime, as Windows record attributes use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

/// The earliest year the text form accepts and produces.
const MIN_YEAR: i64 = 1;
/// The latest year the text form accepts and produces.
const MAX_YEAR: i64 = 9999;

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Self = Self(0);
    /// The latest time: used for "never expires".
    pub const MAX: Self = Self(i64::MAX);

    /// From microseconds since the Unix epoch.
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// The current time of the system clock.
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    /// From a `SystemTime` (saturating outside ±292,000 years).
    pub fn from_system_time(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Self(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
            Err(e) => Self(i64::try_from(e.duration().as_micros()).map(|m| -m).unwrap_or(i64::MIN)),
        }
    }

    /// As a `SystemTime`.
    pub fn to_system_time(self) -> SystemTime {
        if self.0 >= 0 {
            UNIX_EPOCH + Duration::from_micros(self.0.unsigned_abs())
        } else {
            UNIX_EPOCH - Duration::from_micros(self.0.unsigned_abs())
        }
    }

    /// This time plus a duration (saturating).
    pub fn saturating_add(self, d: Duration) -> Self {
        Self(self.0.saturating_add(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)))
    }

    /// Parses W3C NOTE-datetime: `YYYY`, `YYYY-MM`, `YYYY-MM-DD`, `YYYY-MM-DDThh:mmTZD`,
    /// `YYYY-MM-DDThh:mm:ssTZD`, `YYYY-MM-DDThh:mm:ss.sTZD` where TZD is `Z` or `±hh:mm`.
    /// Fractions beyond microseconds are cut. Returns `None` for anything else.
    pub fn parse_w3c(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        let num = |range: std::ops::Range<usize>| -> Option<i64> {
            let part = b.get(range)?;
            if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
                return None;
            }
            part.iter().try_fold(0i64, |acc, d| acc.checked_mul(10)?.checked_add(i64::from(d - b'0')))
        };
        let year = num(0..4)?;
        let (mut month, mut day) = (1, 1);
        let (mut hour, mut minute, mut second, mut micros) = (0, 0, 0, 0i64);
        let mut offset_minutes = 0i64;
        let mut i = 4;
        if i < b.len() {
            if b[i] != b'-' {
                return None;
            }
            month = num(5..7)?;
            i = 7;
        }
        if i < b.len() {
            if b[i] != b'-' {
                return None;
            }
            day = num(8..10)?;
            i = 10;
        }
        if i < b.len() {
            if b[i] != b'T' || b.get(13) != Some(&b':') {
                return None;
            }
            hour = num(11..13)?;
            minute = num(14..16)?;
            i = 16;
            if b.get(i) == Some(&b':') {
                second = num(17..19)?;
                i = 19;
                if b.get(i) == Some(&b'.') {
                    let start = i + 1;
                    let mut end = start;
                    while end < b.len() && b[end].is_ascii_digit() {
                        end += 1;
                    }
                    if end == start {
                        return None;
                    }
                    for (k, d) in b[start..end].iter().take(6).enumerate() {
                        micros += i64::from(d - b'0') * 10i64.pow(5 - k as u32);
                    }
                    i = end;
                }
            }
            // A time needs a zone designator.
            match b.get(i) {
                Some(b'Z') => i += 1,
                Some(sign @ (b'+' | b'-')) => {
                    if b.get(i + 3) != Some(&b':') {
                        return None;
                    }
                    let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
                    if h > 23 || m > 59 {
                        return None;
                    }
                    offset_minutes = (h * 60 + m) * if *sign == b'+' { 1 } else { -1 };
                    i += 6;
                }
                _ => return None,
            }
        }
        if i != b.len() {
            return None;
        }
        if !(MIN_YEAR..=MAX_YEAR).contains(&year)
            || !(1..=12).contains(&month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return None;
        }
        let days = days_from_civil(year, month, day)?;
        let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
        Some(Self(secs * 1_000_000 + micros))
    }

    /// The W3C form in UTC: `YYYY-MM-DDThh:mm:ssZ`, with `.ffffff` when there are
    /// microseconds. `None` outside years 1 to 9999.
    pub fn to_w3c(self) -> Option<String> {
        let secs = self.0.div_euclid(1_000_000);
        let micros = self.0.rem_euclid(1_000_000);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days)?;
        if !(MIN_YEAR..=MAX_YEAR).contains(&y) {
            return None;
        }
        let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
        Some(if micros == 0 {
            format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
        } else {
            format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{micros:06}Z")
        })
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_w3c() {
            Some(s) => f.write_str(&s),
            None => write!(f, "{}µs since 1970", self.0),
        }
    }
}

/// The Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

/// Days since 1970-01-01 of a proleptic Gregorian date; `None` for a date that does not exist
/// (the `time` crate keeps the calendar: month lengths, leap years).
fn days_from_civil(y: i64, m: i64, d: i64) -> Option<i64> {
    let month = ::time::Month::try_from(u8::try_from(m).ok()?).ok()?;
    let date = ::time::Date::from_calendar_date(i32::try_from(y).ok()?, month, u8::try_from(d).ok()?).ok()?;
    Some(i64::from(date.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY)
}

/// The proleptic Gregorian date `days` days after 1970-01-01, for years the `time` crate holds
/// (±9999; `None` beyond).
fn civil_from_days(days: i64) -> Option<(i64, i64, i64)> {
    let julian = i32::try_from(days.checked_add(UNIX_EPOCH_JULIAN_DAY)?).ok()?;
    let date = ::time::Date::from_julian_day(julian).ok()?;
    Some((date.year().into(), u8::from(date.month()).into(), date.day().into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w3c_forms_parse() {
        let t = |s| Timestamp::parse_w3c(s).map(|t| t.as_micros());
        assert_eq!(t("1970"), Some(0));
        assert_eq!(t("1970-01-01T00:00Z"), Some(0));
        assert_eq!(t("1970-01-01T00:00:01Z"), Some(1_000_000));
        assert_eq!(t("1970-01-01T00:00:01.5Z"), Some(1_500_000));
        assert_eq!(t("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(t("1969-12-31T23:00:00-01:00"), Some(0));
        assert_eq!(t("2000-02-29"), t("2000-02-29T00:00:00Z"));
        for bad in ["", "197", "1970-1", "1970-13", "2001-02-29", "1970-01-01T00:00", "1970-01-01T24:00Z", "1970x"] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }

    #[test]
    fn w3c_round_trips() {
        for micros in [0, 1, 999_999, 1_700_000_000_123_456, -1, -86_400_000_000, 253_402_300_799_000_000] {
            let ts = Timestamp::from_micros(micros);
            let text = ts.to_w3c().unwrap();
            assert_eq!(Timestamp::parse_w3c(&text), Some(ts), "{text}");
        }
        assert_eq!(Timestamp::MAX.to_w3c(), None);
    }

    #[test]
    fn system_time_round_trips() {
        let now = Timestamp::now();
        assert_eq!(Timestamp::from_system_time(now.to_system_time()), now);
        let before = Timestamp::from_micros(-5);
        assert_eq!(Timestamp::from_system_time(before.to_system_time()), before);
    }
}
