//! UTC time as text: parsing and printing `i64` nanoseconds since the Unix epoch, with no date
//! crate.
//!
//! Two parsers, kept apart on purpose:
//!
//! - [`parse_timestamp`] is for files written by others (history imports): it takes RFC 3339
//!   (`2021-12-31T23:01:00Z`, `2021-12-31T23:01:00.5+02:00`), the naive space-separated form
//!   (`2021-12-31 23:01:00.000000`, read as UTC), a bare date (`2021-12-31`, midnight UTC), or an
//!   integer epoch whose unit it guesses from the magnitude (see [`parse_timestamp`]).
//! - [`parse_epoch_ns`] is for the HTTP API, where an integer always means nanoseconds.
//!
//! Every date is checked (no February 30th, no month 13), and a time that does not fit in `i64`
//! nanoseconds (before 1677-09-21 or after 2262-04-11) is an error, never a wrap.
//!
//! Calendar arithmetic is the proleptic Gregorian calendar of [`days_from_civil`] and
//! [`civil_from_days`] (Howard Hinnant's algorithms).

use std::fmt::Write as _;

use thiserror::Error;

use crate::clock::NANOS_PER_SEC;

/// Seconds in a day.
pub const SECONDS_PER_DAY: i64 = 86_400;
/// Nanoseconds in a day.
pub const NANOS_PER_DAY: i64 = SECONDS_PER_DAY * NANOS_PER_SEC;

/// Integers below this magnitude are seconds in [`parse_timestamp`] (1e11 s is the year 5138).
pub const EPOCH_SECONDS_BELOW: i64 = 100_000_000_000;
/// Integers below this magnitude (and not seconds) are milliseconds.
pub const EPOCH_MILLIS_BELOW: i64 = 100_000_000_000_000;
/// Integers below this magnitude (and not milliseconds) are microseconds; larger ones are ns.
pub const EPOCH_MICROS_BELOW: i64 = 100_000_000_000_000_000;

/// Why a time text was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TimeError {
    /// Nothing to parse.
    #[error("empty timestamp")]
    Empty,
    /// Text that is not one of the accepted forms, or names a date or time that does not exist.
    #[error("bad timestamp {text:?}: {reason}")]
    Invalid {
        /// The text as given (truncated to 64 characters).
        text: String,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// A valid time that does not fit in `i64` nanoseconds since the epoch.
    #[error("timestamp {text:?} is out of range: i64 nanoseconds hold 1677-09-21 to 2262-04-11")]
    OutOfRange {
        /// The text as given (truncated to 64 characters).
        text: String,
    },
}

fn shown(text: &str) -> String {
    text.chars().take(64).collect()
}

fn invalid(text: &str, reason: &'static str) -> TimeError {
    TimeError::Invalid {
        text: shown(text),
        reason,
    }
}

fn out_of_range(text: &str) -> TimeError {
    TimeError::OutOfRange { text: shown(text) }
}

/// Whether `year` is a leap year in the proleptic Gregorian calendar.
pub const fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Days in `month` (1–12) of `year`; 0 for a month outside 1–12.
pub const fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days from 1970-01-01 to `year-month-day` (negative before it). The date is not checked:
/// callers validate `month` (1–12) and `day` (1–[`days_in_month`]) first.
pub const fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The date `(year, month, day)` that is `days` after 1970-01-01; the inverse of
/// [`days_from_civil`].
pub const fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

/// The start (00:00 UTC) of the day holding `ns`. Saturates at `i64::MIN` for the partial day
/// at the very bottom of the range.
pub const fn day_start(ns: i64) -> i64 {
    ns.saturating_sub(ns.rem_euclid(NANOS_PER_DAY))
}

/// Parses a timestamp from a history file into ns since the epoch (UTC).
///
/// Accepted forms:
/// - RFC 3339: `2021-12-31T23:01:00Z`, with up to 9 fraction digits, and `Z` or an offset
///   `+HH:MM`/`-HH:MM`. `t`/`z` in lower case are accepted too.
/// - The naive form with a space (or `T`) and no offset, read as UTC:
///   `2021-12-31 23:01:00.000000`.
/// - A bare date, read as midnight UTC: `2021-12-31`.
/// - An integer epoch (optionally signed), its unit chosen by magnitude: below 1e11 seconds,
///   below 1e14 milliseconds, below 1e17 microseconds, else nanoseconds. So milliseconds before
///   1973-03-03 and microseconds before 1973-03-03 read as the coarser unit; for integers that
///   are always nanoseconds use [`parse_epoch_ns`].
///
/// Leap seconds (`:60`) are refused.
pub fn parse_timestamp(text: &str) -> Result<i64, TimeError> {
    if text.is_empty() {
        return Err(TimeError::Empty);
    }
    if is_integer(text) {
        let value: i64 = text.parse().map_err(|_| out_of_range(text))?;
        let magnitude = value.unsigned_abs();
        let per_unit = if magnitude < EPOCH_SECONDS_BELOW as u64 {
            NANOS_PER_SEC
        } else if magnitude < EPOCH_MILLIS_BELOW as u64 {
            1_000_000
        } else if magnitude < EPOCH_MICROS_BELOW as u64 {
            1_000
        } else {
            1
        };
        return value
            .checked_mul(per_unit)
            .ok_or_else(|| out_of_range(text));
    }
    parse_date_time(text)
}

/// Parses an integer count of nanoseconds since the epoch (the HTTP API's integer times).
/// No unit guessing: `1700000000` is 1.7 s after the epoch, not 2023.
pub fn parse_epoch_ns(text: &str) -> Result<i64, TimeError> {
    if text.is_empty() {
        return Err(TimeError::Empty);
    }
    if !is_integer(text) {
        return Err(invalid(text, "expected an integer count of nanoseconds"));
    }
    text.parse().map_err(|_| out_of_range(text))
}

fn is_integer(text: &str) -> bool {
    let digits = text
        .strip_prefix('-')
        .or_else(|| text.strip_prefix('+'))
        .unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A cursor over ASCII bytes for the date-time grammar.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn done(&self) -> bool {
        self.at == self.bytes.len()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// Exactly `n` digits as a number.
    fn digits(&mut self, n: usize) -> Option<i64> {
        let run = self.bytes.get(self.at..self.at + n)?;
        if !run.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.at += n;
        Some(run.iter().fold(0, |acc, &b| acc * 10 + i64::from(b - b'0')))
    }
}

fn parse_date_time(text: &str) -> Result<i64, TimeError> {
    let mut c = Cursor {
        bytes: text.as_bytes(),
        at: 0,
    };
    let expected = "expected YYYY-MM-DD, optionally followed by THH:MM:SS[.fraction][Z|+HH:MM]";
    let bad = |reason| invalid(text, reason);

    let year = c.digits(4).ok_or_else(|| bad(expected))?;
    let month = c
        .eat(b'-')
        .then(|| c.digits(2))
        .flatten()
        .ok_or_else(|| bad(expected))?;
    let day = c
        .eat(b'-')
        .then(|| c.digits(2))
        .flatten()
        .ok_or_else(|| bad(expected))?;
    if !(1..=12).contains(&month) {
        return Err(bad("month out of 01-12"));
    }
    if day < 1 || day > i64::from(days_in_month(year, month as u32)) {
        return Err(bad("no such day in that month"));
    }
    let days = days_from_civil(year, month as u32, day as u32);

    let (mut seconds, mut nanos) = (0i64, 0i64);
    if !c.done() {
        if !(c.eat(b'T') || c.eat(b't') || c.eat(b' ')) {
            return Err(bad(expected));
        }
        let hour = c.digits(2).ok_or_else(|| bad(expected))?;
        let minute = c
            .eat(b':')
            .then(|| c.digits(2))
            .flatten()
            .ok_or_else(|| bad(expected))?;
        let second = c
            .eat(b':')
            .then(|| c.digits(2))
            .flatten()
            .ok_or_else(|| bad(expected))?;
        if hour > 23 || minute > 59 || second > 59 {
            return Err(bad("time of day out of range (00:00:00-23:59:59)"));
        }
        seconds = hour * 3_600 + minute * 60 + second;
        if c.eat(b'.') {
            let start = c.at;
            while c.peek().is_some_and(|b| b.is_ascii_digit()) {
                c.at += 1;
            }
            let fraction = &c.bytes[start..c.at];
            if fraction.is_empty() || fraction.len() > 9 {
                return Err(bad("fraction of a second must have 1 to 9 digits"));
            }
            let value = fraction
                .iter()
                .fold(0i64, |acc, &b| acc * 10 + i64::from(b - b'0'));
            nanos = value * 10i64.pow(9 - fraction.len() as u32);
        }
        let zulu = c.eat(b'Z') || c.eat(b'z');
        if !zulu && let Some(sign) = c.peek().filter(|&b| b == b'+' || b == b'-') {
            c.at += 1;
            let oh = c
                .digits(2)
                .ok_or_else(|| bad("offset must be +HH:MM or -HH:MM"))?;
            let om = c
                .eat(b':')
                .then(|| c.digits(2))
                .flatten()
                .ok_or_else(|| bad("offset must be +HH:MM or -HH:MM"))?;
            if oh > 23 || om > 59 {
                return Err(bad("offset out of range"));
            }
            let offset = oh * 3_600 + om * 60;
            // Local time = UTC + offset, so UTC = local - offset.
            seconds -= if sign == b'+' { offset } else { -offset };
        }
    }
    if !c.done() {
        return Err(bad(expected));
    }
    let total = i128::from(days) * i128::from(NANOS_PER_DAY)
        + i128::from(seconds) * i128::from(NANOS_PER_SEC)
        + i128::from(nanos);
    i64::try_from(total).map_err(|_| out_of_range(text))
}

/// `ns` as RFC 3339 in UTC: `2021-12-31T23:01:00Z`, with the fraction of a second
/// (`.5`, `.000000001`) only when it is not zero, trailing zeros trimmed.
pub fn format_rfc3339(ns: i64) -> String {
    let mut out = String::with_capacity(30);
    let seconds = ns.div_euclid(NANOS_PER_SEC);
    let mut fraction = ns.rem_euclid(NANOS_PER_SEC);
    let (year, month, day) = civil_from_days(seconds.div_euclid(SECONDS_PER_DAY));
    let of_day = seconds.rem_euclid(SECONDS_PER_DAY);
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        of_day / 3_600,
        of_day / 60 % 60,
        of_day % 60
    );
    if fraction != 0 {
        let mut width = 9;
        while fraction % 10 == 0 {
            fraction /= 10;
            width -= 1;
        }
        let _ = write!(out, ".{fraction:0width$}");
    }
    out.push('Z');
    out
}

/// The UTC date holding `ns`, as `YYYY-MM-DD`.
pub fn format_date(ns: i64) -> String {
    let (year, month, day) = civil_from_days(ns.div_euclid(NANOS_PER_DAY));
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    const S: i64 = NANOS_PER_SEC;

    #[rstest]
    #[case("1970-01-01T00:00:00Z", 0)]
    #[case("2021-12-31T23:01:00Z", 1_640_991_660 * S)]
    #[case("2021-12-31 23:01:00.000000", 1_640_991_660 * S)]
    #[case("2021-12-31T23:01:00", 1_640_991_660 * S)]
    #[case("2021-12-31t23:01:00z", 1_640_991_660 * S)]
    #[case("2021-12-31", 1_640_908_800 * S)]
    #[case("2021-12-31T23:01:00.5Z", 1_640_991_660 * S + 500_000_000)]
    #[case("2021-12-31T23:01:00.123456789Z", 1_640_991_660 * S + 123_456_789)]
    #[case("2022-01-01T01:01:00+02:00", 1_640_991_660 * S)]
    #[case("2021-12-31T20:31:00-02:30", 1_640_991_660 * S)]
    #[case("2000-02-29T00:00:00Z", 951_782_400 * S)]
    #[case("1969-12-31T23:59:59.999999999Z", -1)]
    #[case("1900-01-01", -2_208_988_800 * S)]
    #[case("1677-09-21T00:12:43.145224192Z", i64::MIN)]
    #[case("2262-04-11T23:47:16.854775807Z", i64::MAX)]
    // Integer epochs by magnitude.
    #[case("1640991660", 1_640_991_660 * S)]
    #[case("1640991660000", 1_640_991_660 * S)]
    #[case("1640991660000000", 1_640_991_660 * S)]
    #[case("1640991660000000000", 1_640_991_660 * S)]
    #[case("0", 0)]
    #[case("-86400", -86_400 * S)]
    #[case("100000000000", 100_000_000_000_000_000)]
    #[case("9223372036", 9_223_372_036 * S)]
    fn parses_accepted_forms(#[case] text: &str, #[case] ns: i64) {
        assert_eq!(parse_timestamp(text), Ok(ns), "{text}");
    }

    #[rstest]
    #[case("")]
    #[case("2021-13-01")]
    #[case("2021-00-10")]
    #[case("2021-02-29")]
    #[case("2021-02-30")]
    #[case("1900-02-29")]
    #[case("2021-04-31")]
    #[case("2021-12-00")]
    #[case("2021-12-31T24:00:00Z")]
    #[case("2021-12-31T23:60:00Z")]
    #[case("2021-12-31T23:59:60Z")]
    #[case("2021-12-31T23:01Z")]
    #[case("2021-12-31T23:01:00.Z")]
    #[case("2021-12-31T23:01:00.1234567891Z")]
    #[case("2021-12-31T23:01:00+0200")]
    #[case("2021-12-31T23:01:00+24:00")]
    #[case("2021-12-31T23:01:00Z ")]
    #[case(" 2021-12-31")]
    #[case("21-12-31")]
    #[case("2021/12/31")]
    #[case("2021-12-31X23:01:00")]
    #[case("1.5")]
    #[case("-")]
    #[case("abc")]
    #[case("1677-09-21")]
    #[case("2262-04-12")]
    #[case("9999999999999999999")]
    #[case("9300000000000000000")]
    #[case("99999999999999999999")]
    #[case("9223372037")] // seconds past 2262
    #[case("99999999999")]
    fn refuses_bad_or_out_of_range_text(#[case] text: &str) {
        assert!(parse_timestamp(text).is_err(), "{text}");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(parse_timestamp(""), Err(TimeError::Empty));
        assert_eq!(
            parse_timestamp("2021-02-30").unwrap_err().to_string(),
            "bad timestamp \"2021-02-30\": no such day in that month"
        );
        assert!(matches!(
            parse_timestamp("2262-04-12"),
            Err(TimeError::OutOfRange { .. })
        ));
        assert!(matches!(
            parse_timestamp("99999999999999999999"),
            Err(TimeError::OutOfRange { .. })
        ));
    }

    #[rstest]
    #[case("1640991660", 1_640_991_660)]
    #[case("-5", -5)]
    #[case("9223372036854775807", i64::MAX)]
    fn epoch_ns_takes_integers_as_nanoseconds(#[case] text: &str, #[case] ns: i64) {
        assert_eq!(parse_epoch_ns(text), Ok(ns));
    }

    #[rstest]
    #[case("")]
    #[case("2021-12-31")]
    #[case("1.5")]
    #[case("9223372036854775808")]
    fn epoch_ns_refuses_anything_else(#[case] text: &str) {
        assert!(parse_epoch_ns(text).is_err(), "{text}");
    }

    #[rstest]
    #[case(0, "1970-01-01T00:00:00Z", "1970-01-01")]
    #[case(1_640_991_660 * S, "2021-12-31T23:01:00Z", "2021-12-31")]
    #[case(1_640_991_660 * S + 500_000_000, "2021-12-31T23:01:00.5Z", "2021-12-31")]
    #[case(1_640_991_660 * S + 10, "2021-12-31T23:01:00.00000001Z", "2021-12-31")]
    #[case(-1, "1969-12-31T23:59:59.999999999Z", "1969-12-31")]
    #[case(951_782_400 * S, "2000-02-29T00:00:00Z", "2000-02-29")]
    #[case(i64::MIN, "1677-09-21T00:12:43.145224192Z", "1677-09-21")]
    #[case(i64::MAX, "2262-04-11T23:47:16.854775807Z", "2262-04-11")]
    fn formats_utc(#[case] ns: i64, #[case] rfc3339: &str, #[case] date: &str) {
        assert_eq!(format_rfc3339(ns), rfc3339);
        assert_eq!(format_date(ns), date);
    }

    #[test]
    fn civil_day_numbers_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(1600, 1, 1), -135_140);
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(-135_140), (1600, 1, 1));
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(1900, 2), 28);
        assert_eq!(days_in_month(2024, 13), 0);
    }

    #[test]
    fn day_start_floors_to_midnight_utc() {
        let ns = 1_640_991_660 * S;
        assert_eq!(day_start(ns), 1_640_908_800 * S);
        assert_eq!(day_start(1_640_908_800 * S), 1_640_908_800 * S);
        assert_eq!(day_start(-1), -NANOS_PER_DAY);
        assert_eq!(day_start(i64::MIN), i64::MIN);
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(ns in any::<i64>()) {
            prop_assert_eq!(parse_timestamp(&format_rfc3339(ns)), Ok(ns));
        }

        #[test]
        fn dates_round_trip_through_day_numbers(days in -200_000i64..200_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert!((1..=12).contains(&m));
            prop_assert!(d >= 1 && d <= days_in_month(y, m));
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }

        #[test]
        fn date_text_parses_to_day_start(ns in -9_200_000_000_000_000_000i64..9_200_000_000_000_000_000) {
            prop_assert_eq!(parse_timestamp(&format_date(ns)), Ok(day_start(ns)));
        }

        #[test]
        fn offsets_shift_by_their_amount(ns in -4_000_000_000_000_000_000i64..4_000_000_000_000_000_000, minutes in -1439i64..1439) {
            // Write ns as local time at the offset, then parse: the offset must cancel.
            let local = ns + minutes * 60 * S;
            let naive = format_rfc3339(local);
            let sign = if minutes < 0 { '-' } else { '+' };
            let text = format!("{}{sign}{:02}:{:02}", &naive[..naive.len() - 1], minutes.abs() / 60, minutes.abs() % 60);
            prop_assert_eq!(parse_timestamp(&text), Ok(ns));
        }

        #[test]
        fn arbitrary_text_never_panics(text in "[-+0-9:. TZz]{0,40}") {
            let _ = parse_timestamp(&text);
            let _ = parse_epoch_ns(&text);
        }
    }
}
