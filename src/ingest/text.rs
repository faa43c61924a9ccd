//! Reading one value's text: exact decimals (scientific notation included) and times in
//! the forms market-data files use.
//!
//! Numbers are converted from their text, digit by digit, never through `f64`, so
//! `0.00002853` and `1e-05` are read exactly as written. This module knows nothing of
//! rows, columns or files: errors are a reason string the caller attributes to a place.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

use crate::event::{Decimal, Timestamp};

/// Largest exponent magnitude accepted in scientific notation. `Decimal` holds at most
/// 28 fractional digits and 29 integer digits, so anything further out cannot be exact.
const EXPONENT_ABS_MAX: i32 = 40;

/// Epoch integers below this are seconds. 1e11 s is the year 5138, while 1e11 ms is only
/// 1973-03-03, so real seconds never reach it and real milliseconds always do.
pub const EPOCH_SECONDS_BELOW: i64 = 100_000_000_000;
/// Epoch integers below this (and not seconds) are milliseconds: 1e14 ms is the year 5138.
pub const EPOCH_MILLIS_BELOW: i64 = 100_000_000_000_000;
/// Epoch integers below this (and not milliseconds) are microseconds; above, nanoseconds.
pub const EPOCH_MICROS_BELOW: i64 = 100_000_000_000_000_000;

/// Parse a number's text exactly: plain (`-12.50`, `.5`, `5.`, `+3`) or scientific
/// (`1e-05`, `2.5E+3`). Surrounding whitespace is ignored.
pub fn parse_decimal(text: &str) -> Result<Decimal, String> {
    let t = text.trim();
    let bad = || format!("`{}` is not a number", clip(t));
    let (negative, unsigned) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => {
            let exp: i32 = unsigned[i + 1..].parse().map_err(|_| bad())?;
            (&unsigned[..i], exp)
        }
        None => (unsigned, 0),
    };
    if !(-EXPONENT_ABS_MAX..=EXPONENT_ABS_MAX).contains(&exponent) {
        return Err(format!("`{}` has an exponent out of range", clip(t)));
    }
    let (int_digits, frac_digits) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int_digits.len() + frac_digits.len() == 0
        || !all_digits(int_digits)
        || !all_digits(frac_digits)
    {
        return Err(bad());
    }
    let plain = plain_notation(negative, int_digits, frac_digits, exponent);
    plain
        .parse::<Decimal>()
        .map_err(|e| format!("`{}`: {}", clip(t), e.reason))
}

/// `int.frac × 10^exponent` written out without an exponent.
fn plain_notation(negative: bool, int_digits: &str, frac_digits: &str, exponent: i32) -> String {
    let digits: String = [int_digits, frac_digits].concat();
    // Position of the decimal point within `digits`, after shifting by the exponent.
    let point = int_digits.len() as i64 + i64::from(exponent);
    let mut out = String::with_capacity(digits.len() + EXPONENT_ABS_MAX as usize + 3);
    if negative {
        out.push('-');
    }
    if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
        out.push_str(&digits);
    } else if point as usize >= digits.len() {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', point as usize - digits.len()));
    } else {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
    }
    out
}

/// Parse a time: an epoch integer (unit by magnitude, see [`EPOCH_SECONDS_BELOW`] and the
/// two constants after it) with an optional fraction, RFC 3339, or a UTC wall time
/// `YYYY-MM-DD[ T]HH:MM:SS[.f]` / `YYYY-MM-DD` with no offset.
///
/// Times before 1970 are refused: the log's clock is nanoseconds since the Unix epoch, and
/// the engine, the simulated exchange and the executor treat time zero as "no time yet"
/// (an order stamped before it would never be accepted).
pub fn parse_time(text: &str) -> Result<Timestamp, String> {
    let t = text.trim();
    let ts = if t.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && t.len() > 4
        && t.as_bytes()[4] == b'-'
    {
        parse_date_time(t)?
    } else {
        parse_epoch(t)?
    };
    if ts.as_nanos() < 0 {
        return Err(format!(
            "`{}` is before 1970-01-01: times must be within the years 1970..2262",
            clip(t)
        ));
    }
    Ok(ts)
}

fn parse_epoch(t: &str) -> Result<Timestamp, String> {
    let bad = || format!("`{}` is neither an epoch number nor a date-time", clip(t));
    let (int_text, frac_text) = t.split_once('.').unwrap_or((t, ""));
    if int_text.is_empty()
        || !int_text.bytes().all(|b| b.is_ascii_digit())
        || !frac_text.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let n: i64 = int_text.parse().map_err(|_| bad())?;
    let (nanos_per_unit, frac_digits_max) = match n {
        _ if n < EPOCH_SECONDS_BELOW => (1_000_000_000, 9),
        _ if n < EPOCH_MILLIS_BELOW => (1_000_000, 6),
        _ if n < EPOCH_MICROS_BELOW => (1_000, 3),
        _ => (1, 0),
    };
    if frac_text.len() > frac_digits_max {
        return Err(format!("`{}` is more precise than a nanosecond", clip(t)));
    }
    // The fraction's digits, scaled to nanoseconds: "5" at millisecond unit is 500_000.
    let frac_nanos = match frac_text {
        "" => 0,
        f => {
            let scale = 10_i64.pow((frac_digits_max - f.len()) as u32);
            f.parse::<i64>().map_err(|_| bad())? * scale
        }
    };
    n.checked_mul(nanos_per_unit)
        .and_then(|ns| ns.checked_add(frac_nanos))
        .map(Timestamp::from_nanos)
        .ok_or_else(|| format!("`{}` is past the year 2262", clip(t)))
}

fn parse_date_time(t: &str) -> Result<Timestamp, String> {
    if let Ok(ts) = Timestamp::parse_rfc3339(t) {
        return Ok(ts);
    }
    let outside = || format!("`{}` is outside the years 1970..2262", clip(t));
    if DateTime::parse_from_rfc3339(t).is_ok() {
        // Well-formed, but a nanosecond count cannot hold it.
        return Err(outside());
    }
    let with_offset = DateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f%:z").ok();
    let naive = with_offset.map(|dt| dt.naive_utc()).or_else(|| {
        ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
            .or_else(|| {
                NaiveDate::parse_from_str(t, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
            })
    });
    let naive = naive.ok_or_else(|| {
        format!(
            "`{}` is not RFC 3339 nor `YYYY-MM-DD HH:MM:SS[.f]` (UTC)",
            clip(t)
        )
    })?;
    naive
        .and_utc()
        .timestamp_nanos_opt()
        .map(Timestamp::from_nanos)
        .ok_or_else(outside)
}

/// The first 40 characters, for quoting input in messages.
pub(super) fn clip(text: &str) -> String {
    text.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_decimal(text: &str, expect: &str) {
        let got = parse_decimal(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(got, expect.parse::<Decimal>().unwrap(), "{text}");
        assert_eq!(got.to_string(), expect, "{text}");
    }

    #[test]
    fn decimals_are_exact_including_scientific_notation() {
        check_decimal("0.00002853", "0.00002853");
        check_decimal("36304.20000000", "36304.2");
        check_decimal("1e-05", "0.00001");
        check_decimal("1.5E-5", "0.000015");
        check_decimal("-2.5e+3", "-2500");
        check_decimal("12.345e1", "123.45");
        check_decimal("12.345e2", "1234.5");
        check_decimal("12.345e3", "12345");
        check_decimal("+3", "3");
        check_decimal(".5", "0.5");
        check_decimal("5.", "5");
        check_decimal(" 523374743.8000000119 ", "523374743.8000000119");
    }

    #[test]
    fn refuses_non_numbers_and_unrepresentable_ones() {
        for bad in [
            "", "-", ".", "abc", "1e", "1e5x", "NaN", "inf", "1.2.3", "1e-99", "--1",
        ] {
            assert!(parse_decimal(bad).is_err(), "{bad:?} should be refused");
        }
        let e = parse_decimal("1e-30").unwrap_err();
        assert!(e.contains("1e-30"), "{e}");
    }

    fn check_time(text: &str, expect: &str) {
        let got = parse_time(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(got.to_string(), expect, "{text}");
    }

    #[test]
    fn epoch_unit_is_chosen_by_magnitude() {
        check_time("1637971200", "2021-11-27T00:00:00Z");
        check_time("1637971200.5", "2021-11-27T00:00:00.500Z");
        check_time("1637971200000", "2021-11-27T00:00:00Z");
        check_time("1637193600017", "2021-11-18T00:00:00.017Z");
        check_time("1583020803145000", "2020-03-01T00:00:03.145Z");
        check_time("1583020803145000123", "2020-03-01T00:00:03.145000123Z");
        check_time("9000000000", "2255-03-14T16:00:00Z");
        let e = parse_time("99999999999").unwrap_err();
        assert!(e.contains("past the year 2262"), "{e}");
        assert!(parse_time("1637971200000.1234567").is_err());
        assert!(parse_time("-5").is_err());
        assert!(parse_time("12x").is_err());
    }

    #[test]
    fn date_times_without_offset_are_utc() {
        check_time("2021-12-31 23:01:00.000000", "2021-12-31T23:01:00Z");
        check_time("2021-12-31T23:01:00", "2021-12-31T23:01:00Z");
        check_time("2021-12-31T23:01:00.25", "2021-12-31T23:01:00.250Z");
        check_time("2021-12-31T23:01:00+01:00", "2021-12-31T22:01:00Z");
        check_time("2021-12-31 23:01:00+00:00", "2021-12-31T23:01:00Z");
        check_time("2021-12-31", "2021-12-31T00:00:00Z");
        let e = parse_time("2021-13-31 00:00:00").unwrap_err();
        assert!(e.contains("2021-13-31"), "{e}");
    }
}
