//! Event time: nanoseconds since the Unix epoch, UTC.
//!
//! Time inside the ledger always comes from events. This type never reads the clock;
//! the one place that does is `crate::clock`, used only by live sessions for `recv_ts`.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, nanoseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Why a text could not be read as a timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp `{text}`: {reason}")]
pub struct TimestampParseError {
    /// The offending text (truncated to 40 characters).
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Timestamp {
    /// From nanoseconds since the epoch.
    pub const fn from_nanos(ns: i64) -> Timestamp {
        Timestamp(ns)
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    /// From milliseconds since the epoch; `None` when out of range.
    pub fn from_millis(ms: i64) -> Option<Timestamp> {
        ms.checked_mul(1_000_000).map(Timestamp)
    }

    /// Parse RFC 3339 (any offset; stored as UTC), up to nanosecond precision.
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, TimestampParseError> {
        let err = |reason: String| TimestampParseError {
            text: text.chars().take(40).collect(),
            reason,
        };
        let parsed = DateTime::parse_from_rfc3339(text).map_err(|e| err(e.to_string()))?;
        parsed
            .timestamp_nanos_opt()
            .map(Timestamp)
            .ok_or_else(|| err("outside the years 1677..2262".to_string()))
    }

    /// `self + ns`, saturating.
    pub fn plus_nanos(self, ns: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(ns))
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with `Z`, fractional seconds only when present.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dt: DateTime<Utc> = DateTime::from_timestamp_nanos(self.0);
        f.write_str(&dt.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_i64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_str(TimestampVisitor)
        } else {
            i64::deserialize(deserializer).map(Timestamp)
        }
    }
}

struct TimestampVisitor;

impl Visitor<'_> for TimestampVisitor {
    type Value = Timestamp;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 timestamp string such as \"2026-01-05T00:00:01Z\"")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
        Timestamp::parse_rfc3339(v).map_err(E::custom)
    }
}

impl schemars::JsonSchema for Timestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339 time, up to nanoseconds; written in UTC with Z."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip_keeps_nanoseconds() {
        for text in [
            "2026-01-05T00:00:01Z",
            "2026-01-05T00:00:01.123456789Z",
            "1970-01-01T00:00:00Z",
        ] {
            let ts = Timestamp::parse_rfc3339(text).unwrap();
            assert_eq!(ts.to_string(), text);
        }
        let offset = Timestamp::parse_rfc3339("2026-01-05T02:00:00+02:00").unwrap();
        assert_eq!(offset.to_string(), "2026-01-05T00:00:00Z");
        assert!(Timestamp::parse_rfc3339("2026-01-05 00:00:00").is_err());
    }
}
