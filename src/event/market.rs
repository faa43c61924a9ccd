//! Market observations: trades, quotes, candles, funding rates, and gaps in the data.
//!
//! These carry no decisions; they are what strategies and marks are computed from.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Book, Decimal, Side, Symbol, Timestamp, TradeId, Venue};

/// One print on the tape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Trade {
    /// Venue namespace.
    pub venue: Venue,
    /// Asset class.
    pub book: Book,
    /// Instrument symbol.
    pub instrument: Symbol,
    /// Price.
    pub px: Decimal,
    /// Quantity in base units (or contracts, as the venue counts them).
    pub qty: Decimal,
    /// Aggressor side, when the venue says.
    #[serde(default)]
    pub side: Option<Side>,
    /// Venue's trade id, when it has one.
    #[serde(default)]
    pub trade_id: Option<TradeId>,
}

/// Best bid and offer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Quote {
    /// Venue namespace.
    pub venue: Venue,
    /// Asset class.
    pub book: Book,
    /// Instrument symbol.
    pub instrument: Symbol,
    /// Best bid price.
    pub bid_px: Decimal,
    /// Size at the best bid.
    pub bid_qty: Decimal,
    /// Best ask price.
    pub ask_px: Decimal,
    /// Size at the best ask.
    pub ask_qty: Decimal,
}

/// A bar length, whole seconds (`1m`, `15m`, `4h`, `1d`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timeframe {
    seconds: u32,
}

impl Timeframe {
    /// A timeframe of `seconds` (> 0).
    pub const fn from_seconds(seconds: u32) -> Option<Timeframe> {
        if seconds == 0 {
            None
        } else {
            Some(Timeframe { seconds })
        }
    }

    /// Length in seconds.
    pub const fn seconds(self) -> u32 {
        self.seconds
    }

    /// Length in nanoseconds.
    pub const fn nanos(self) -> i64 {
        self.seconds as i64 * 1_000_000_000
    }
}

impl std::str::FromStr for Timeframe {
    type Err = String;

    /// `<n><unit>` with unit `s`, `m`, `h`, `d` or `w`.
    fn from_str(s: &str) -> Result<Timeframe, String> {
        let bad = || format!("invalid timeframe `{s}`: expected e.g. 1m, 15m, 4h, 1d");
        let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (n, unit) = s.split_at(split);
        let n: u32 = n.parse().map_err(|_| bad())?;
        let mult = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            "w" => 604_800,
            _ => return Err(bad()),
        };
        n.checked_mul(mult)
            .and_then(Timeframe::from_seconds)
            .ok_or_else(bad)
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.seconds;
        for (unit, len) in [("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)] {
            if s % len == 0 {
                return write!(f, "{}{unit}", s / len);
            }
        }
        write!(f, "{s}s")
    }
}

impl fmt::Debug for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl Serialize for Timeframe {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_u32(self.seconds)
        }
    }
}

impl<'de> Deserialize<'de> for Timeframe {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Timeframe, D::Error> {
        struct TfVisitor;
        impl Visitor<'_> for TfVisitor {
            type Value = Timeframe;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a timeframe string such as \"1m\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timeframe, E> {
                v.parse().map_err(E::custom)
            }
        }
        if deserializer.is_human_readable() {
            deserializer.deserialize_str(TfVisitor)
        } else {
            let seconds = u32::deserialize(deserializer)?;
            Timeframe::from_seconds(seconds).ok_or_else(|| de::Error::custom("zero timeframe"))
        }
    }
}

impl schemars::JsonSchema for Timeframe {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timeframe".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]+[smhdw]$",
            "description": "A bar length such as 1m, 15m, 4h, 1d."
        })
    }
}

/// An OHLCV bar. The envelope's `ts` is when it was observed; `open_time` is where it
/// starts. A bar with `closed: false` is a live, still-changing bar: strategies that
/// must not look ahead only act on closed bars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Candle {
    /// Venue namespace.
    pub venue: Venue,
    /// Asset class.
    pub book: Book,
    /// Instrument symbol.
    pub instrument: Symbol,
    /// Bar length.
    pub timeframe: Timeframe,
    /// Start of the bar.
    pub open_time: Timestamp,
    /// Open price.
    pub open: Decimal,
    /// High price.
    pub high: Decimal,
    /// Low price.
    pub low: Decimal,
    /// Close (or last, while open) price.
    pub close: Decimal,
    /// Traded volume in base units.
    pub volume: Decimal,
    /// True once the bar is final.
    pub closed: bool,
}

/// A funding rate published by a perpetuals venue (not a payment: see `Funding`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FundingRate {
    /// Venue namespace.
    pub venue: Venue,
    /// Asset class.
    pub book: Book,
    /// Instrument symbol.
    pub instrument: Symbol,
    /// Rate per funding interval (0.0001 = 0.01%).
    pub rate: Decimal,
    /// When the next funding happens, when known.
    #[serde(default)]
    pub next_funding_time: Option<Timestamp>,
}

/// What kind of hole a gap is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GapKind {
    /// Bars missing inside a period the venue trades.
    MissingBars,
    /// The venue was closed (overnight, weekend, holiday).
    SessionClosed,
    /// Our feed was down (disconnect).
    FeedOutage,
    /// A venue sequence number jumped.
    SequenceJump,
}

/// A hole in market data, flagged rather than silently filled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Gap {
    /// Venue namespace.
    pub venue: Venue,
    /// Asset class.
    pub book: Book,
    /// Instrument symbol.
    pub instrument: Symbol,
    /// Kind of gap.
    pub kind: GapKind,
    /// Last data before the gap.
    pub from: Timestamp,
    /// First data after the gap.
    pub to: Timestamp,
    /// Bars (or messages) missing, when countable.
    pub missing: u64,
}
