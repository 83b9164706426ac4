//! UTC instants for catalog queries (audit `since`/`until` windows).
//!
//! Parsed from RFC 3339 once, at the edge, so that only a validated instant reaches SQL: it is
//! bound as a DATETIME parameter in UTC, which compares correctly with the catalog's TIMESTAMP
//! columns because the pool's sessions run with `time_zone = '+00:00'`. No date library is
//! needed for this one format, so none is pulled in.

use std::fmt;
use std::str::FromStr;

use mysql_async::Value;

const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// An instant with microsecond precision (the catalog's `TIMESTAMP(6)`), in years 0000-9999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcTimestamp {
    /// Microseconds since 1970-01-01T00:00:00Z.
    micros: i64,
}

/// Why a text is not an RFC 3339 date-time (the message names the offending part).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} (expected an RFC 3339 date-time such as 2024-05-01T12:00:00Z)")]
pub struct TimestampError(&'static str);

impl UtcTimestamp {
    /// Microseconds since the Unix epoch.
    pub fn unix_micros(self) -> i64 {
        self.micros
    }

    /// `unix_micros` microseconds after the Unix epoch, if within years 0000-9999.
    pub fn from_unix_micros(unix_micros: i64) -> Option<Self> {
        let t = UtcTimestamp {
            micros: unix_micros,
        };
        (0..=9999).contains(&t.civil().0).then_some(t)
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)` (RFC 3339 section 5.6; `t`, `z`
    /// and a space separator accepted). A fraction finer than microseconds is rounded up, so that
    /// `at >= since` and `at < until` on microsecond columns mean exactly what the text says.
    pub fn parse_rfc3339(text: &str) -> Result<Self, TimestampError> {
        let b = text.as_bytes();
        if b.len() < 20 {
            return Err(TimestampError("too short"));
        }
        let year = digits(b, 0, 4)?;
        let month = digits(b, 5, 2)?;
        let day = digits(b, 8, 2)?;
        let hour = digits(b, 11, 2)?;
        let minute = digits(b, 14, 2)?;
        let second = digits(b, 17, 2)?;
        let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
        if separators.iter().any(|&(i, c)| b[i] != c) || !matches!(b[10], b'T' | b't' | b' ') {
            return Err(TimestampError("malformed date or time"));
        }
        if !(1..=12).contains(&month) {
            return Err(TimestampError("month out of range"));
        }
        if day < 1 || day > days_in_month(year, month) {
            return Err(TimestampError("day out of range for the month"));
        }
        // Second 60 is a leap second (RFC 3339 allows it); it counts as the next second.
        if hour > 23 || minute > 59 || second > 60 {
            return Err(TimestampError("time of day out of range"));
        }
        let (fraction_micros, rest) = fraction(&b[19..])?;
        let offset_seconds = offset(rest)?;
        let days = days_from_civil(year, month, day);
        let seconds = days * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second - offset_seconds;
        Self::from_unix_micros(seconds * MICROS_PER_SECOND + fraction_micros).ok_or(TimestampError(
            "outside years 0000-9999 once converted to UTC",
        ))
    }

    /// (year, month, day, hour, minute, second, microsecond) in UTC.
    fn civil(self) -> (i64, u8, u8, u8, u8, u8, u32) {
        let seconds = self.micros.div_euclid(MICROS_PER_SECOND);
        let micros = self.micros.rem_euclid(MICROS_PER_SECOND);
        let days = seconds.div_euclid(SECONDS_PER_DAY);
        let in_day = seconds.rem_euclid(SECONDS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        // The casts are exact: every value was just reduced to its range.
        (
            year,
            month as u8,
            day as u8,
            (in_day / 3600) as u8,
            (in_day % 3600 / 60) as u8,
            (in_day % 60) as u8,
            micros as u32,
        )
    }

    /// A DATETIME parameter in UTC.
    pub fn to_value(self) -> Value {
        let (year, month, day, hour, minute, second, micros) = self.civil();
        // Years are 0000-9999 by construction.
        let year = u16::try_from(year).unwrap_or(0);
        Value::Date(year, month, day, hour, minute, second, micros)
    }
}

impl fmt::Display for UtcTimestamp {
    /// RFC 3339 UTC with microseconds, the format the catalog's views use.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, mo, d, h, mi, s, us) = self.civil();
        write!(f, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{us:06}Z")
    }
}

impl FromStr for UtcTimestamp {
    type Err = TimestampError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_rfc3339(s)
    }
}

/// The `len` ASCII digits at `at`.
fn digits(b: &[u8], at: usize, len: usize) -> Result<i64, TimestampError> {
    let field = b
        .get(at..at + len)
        .ok_or(TimestampError("malformed date or time"))?;
    field.iter().try_fold(0i64, |n, &c| match c {
        b'0'..=b'9' => Ok(n * 10 + i64::from(c - b'0')),
        _ => Err(TimestampError("malformed date or time")),
    })
}

/// An optional `.digits` fraction: its value in microseconds (rounded up) and what follows.
fn fraction(b: &[u8]) -> Result<(i64, &[u8]), TimestampError> {
    let Some(rest) = b.strip_prefix(b".") else {
        return Ok((0, b));
    };
    let len = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    if len == 0 || len > 9 {
        return Err(TimestampError("a fraction of a second needs 1 to 9 digits"));
    }
    let mut nanos = 0i64;
    for i in 0..9 {
        let digit = rest.get(i).filter(|_| i < len).map_or(0, |c| c - b'0');
        nanos = nanos * 10 + i64::from(digit);
    }
    Ok(((nanos + 999) / 1000, &rest[len..]))
}

/// `Z`, `+HH:MM` or `-HH:MM` (and nothing after it), as seconds east of UTC.
fn offset(b: &[u8]) -> Result<i64, TimestampError> {
    match b {
        [b'Z' | b'z'] => Ok(0),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2], 0, 2)?;
            let minutes = digits(&[*m1, *m2], 0, 2)?;
            if hours > 23 || minutes > 59 {
                return Err(TimestampError("time zone offset out of range"));
            }
            let seconds = hours * 3600 + minutes * 60;
            Ok(if *sign == b'-' { -seconds } else { seconds })
        }
        _ => Err(TimestampError(
            "missing or malformed time zone (Z, +HH:MM or -HH:MM)",
        )),
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`]: (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> UtcTimestamp {
        UtcTimestamp::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn parses_and_normalises_to_utc() {
        assert_eq!(ts("1970-01-01T00:00:00Z").unix_micros(), 0);
        assert_eq!(ts("1970-01-01T00:00:01.5Z").unix_micros(), 1_500_000);
        assert_eq!(
            ts("2024-02-29T12:34:56.123456Z").to_string(),
            "2024-02-29T12:34:56.123456Z"
        );
        assert_eq!(
            ts("2024-03-01T01:30:00+02:00").to_string(),
            "2024-02-29T23:30:00.000000Z"
        );
        assert_eq!(
            ts("2023-12-31t22:00:00-03:00").to_string(),
            "2024-01-01T01:00:00.000000Z"
        );
        assert_eq!(ts("2024-05-01 12:00:00z"), ts("2024-05-01T12:00:00Z"));
        assert_eq!(ts("1969-12-31T23:59:59Z").unix_micros(), -1_000_000);
        assert_eq!(ts("2016-12-31T23:59:60Z"), ts("2017-01-01T00:00:00Z"));
        assert_eq!(
            ts("0000-01-01T00:00:00Z").to_string(),
            "0000-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            ts("9999-12-31T23:59:59.999999Z").to_string(),
            "9999-12-31T23:59:59.999999Z"
        );
        // Nanoseconds round up to the next microsecond; exact microseconds stay.
        assert_eq!(
            ts("2024-01-01T00:00:00.000000001Z").to_string(),
            "2024-01-01T00:00:00.000001Z"
        );
        assert_eq!(
            ts("2024-01-01T00:00:00.000002000Z").to_string(),
            "2024-01-01T00:00:00.000002Z"
        );
        assert!(ts("2024-01-01T00:00:00Z") < ts("2024-01-01T00:00:00.000001Z"));
    }

    #[test]
    fn round_trips_every_day_of_four_centuries() {
        let start = ts("1900-01-01T00:00:00Z").unix_micros() / MICROS_PER_SECOND / SECONDS_PER_DAY;
        for days in start..start + 146_097 {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
            assert!(d >= 1 && d <= days_in_month(y, m));
        }
    }

    #[test]
    fn rejects_what_is_not_rfc_3339() {
        for bad in [
            "",
            "2024-05-01",
            "2024-05-01T12:00:00",
            "2024-05-01T12:00Z",
            "2024-13-01T00:00:00Z",
            "2024-00-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-04-31T00:00:00Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T12:60:00Z",
            "2024-05-01T12:00:61Z",
            "2024-05-01T12:00:00.Z",
            "2024-05-01T12:00:00.1234567890Z",
            "2024-05-01T12:00:00+2:00",
            "2024-05-01T12:00:00+24:00",
            "2024-05-01T12:00:00Zjunk",
            "2024/05/01T12:00:00Z",
            "2024-05-01X12:00:00Z",
            "+024-05-01T12:00:00Z",
            "2024-05-01T12:00:00 02:00",
            "0000-01-01T00:00:00+00:01",
            "9999-12-31T23:59:59-00:01",
            "1970-01-01T00:00:00Z\u{e9}",
        ] {
            assert!(UtcTimestamp::parse_rfc3339(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn binds_as_utc_datetime() {
        assert_eq!(
            ts("2024-03-01T01:30:00.25+02:00").to_value(),
            Value::Date(2024, 2, 29, 23, 30, 0, 250_000)
        );
    }
}
