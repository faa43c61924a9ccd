//! Venue rules: what a venue allows per instrument (tick, lot, minimums, leverage, caps,
//! fees), when it trades (its calendar), how fast we may send orders, and the funding-rate
//! gate for perpetuals.
//!
//! These are plain data, read from an instruments file by [`super::parse_rules`]; the
//! only logic here is the calendar's "is it open at this event time?". This file does not
//! know about intents, positions or the clock: time is always an argument.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc, Weekday};

use crate::event::{Book, Decimal, PositionKey, Symbol, Timestamp, Venue};

/// Minutes in a day: a session's close may be at most this (midnight at the end of the day).
pub const MINUTES_PER_DAY: u16 = 24 * 60;

/// One instrument's trading rules, as the venue publishes them.
#[derive(Debug, Clone, PartialEq)]
pub struct InstrumentRules {
    /// Price increment; every limit and trigger price is a multiple of it (> 0).
    pub tick_size: Decimal,
    /// Quantity increment (Bybit `qtyStep`); every quantity is a multiple of it (> 0).
    pub lot_size: Decimal,
    /// Smallest order quantity (≥ 0).
    pub min_qty: Decimal,
    /// Smallest order value, qty × px, in the quote currency (≥ 0).
    pub min_notional: Decimal,
    /// Largest leverage, (|position| + qty) × px ÷ equity, an entry may reach (> 0).
    pub max_leverage: Decimal,
    /// Largest position value, (|position| + qty) × px, when the venue or we cap it.
    pub max_position_notional: Option<Decimal>,
    /// Maker fee rate (negative: a rebate).
    pub maker_fee: Decimal,
    /// Taker fee rate.
    pub taker_fee: Decimal,
}

/// Funding-rate thresholds for perpetuals (seed 000, section 3B): a high rate caps
/// leverage, an extreme one stops new exposure. Exits are never gated.
#[derive(Debug, Clone, PartialEq)]
pub struct FundingGate {
    /// When |rate| is above this, leverage is capped at `capped_leverage`.
    pub cap_above: Decimal,
    /// The leverage cap while |rate| is above `cap_above` (> 0).
    pub capped_leverage: Decimal,
    /// When |rate| is above this, entries and adds are skipped (`FundingRateExtreme`).
    /// At least `cap_above`.
    pub skip_above: Decimal,
}

/// One weekly trading session, in UTC.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// Days the session runs (the UTC day of the open).
    pub days: Vec<Weekday>,
    /// Opening minute of the UTC day, inclusive.
    pub open_minute: u16,
    /// Closing minute of the UTC day, exclusive; above `open_minute`, at most
    /// [`MINUTES_PER_DAY`]. Sessions do not run over midnight: split them in two.
    pub close_minute: u16,
}

/// When a venue accepts orders.
#[derive(Debug, Clone, PartialEq)]
pub enum Calendar {
    /// Every minute of every day (crypto).
    AlwaysOpen,
    /// Weekly sessions in UTC, minus whole-day holidays (UTC dates).
    Sessions {
        /// Open when any session is open.
        sessions: Vec<Session>,
        /// UTC dates when the venue is closed all day.
        holidays: BTreeSet<NaiveDate>,
    },
}

impl Calendar {
    /// Whether the venue trades at event time `now`. A session is open on
    /// `[open_minute, close_minute)`: at the closing minute it is already closed.
    pub fn is_open(&self, now: Timestamp) -> bool {
        let (sessions, holidays) = match self {
            Calendar::AlwaysOpen => return true,
            Calendar::Sessions { sessions, holidays } => (sessions, holidays),
        };
        let at: DateTime<Utc> = DateTime::from_timestamp_nanos(now.as_nanos());
        if holidays.contains(&at.date_naive()) {
            return false;
        }
        // Invariant: hour < 24 and minute < 60, so this fits a u16.
        let minute = (at.hour() * 60 + at.minute()) as u16;
        let day = at.weekday();
        sessions
            .iter()
            .any(|s| s.days.contains(&day) && s.open_minute <= minute && minute < s.close_minute)
    }
}

/// Everything the executor knows about one venue.
#[derive(Debug, Clone, PartialEq)]
pub struct VenueRules {
    /// The venue namespace these rules are for.
    pub venue: Venue,
    /// When it trades.
    pub calendar: Calendar,
    /// Rules per `(book, instrument)`; a BTreeMap so any listing is in a stable order.
    pub instruments: BTreeMap<(Book, Symbol), InstrumentRules>,
    /// Order rate: a token bucket refilled at this many orders per second of event time.
    pub orders_per_second: u32,
    /// Funding-rate gate; `None` for venues without funding (spot, equities).
    pub funding: Option<FundingGate>,
}

impl VenueRules {
    /// The rules for `key`, when it is on this venue.
    pub fn instrument(&self, key: &PositionKey) -> Option<&InstrumentRules> {
        if key.venue != self.venue {
            return None;
        }
        self.instruments
            .get(&(key.book.clone(), key.instrument.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nasdaq() -> Calendar {
        use Weekday::*;
        Calendar::Sessions {
            sessions: vec![Session {
                days: vec![Mon, Tue, Wed, Thu, Fri],
                open_minute: 14 * 60 + 30,
                close_minute: 21 * 60,
            }],
            holidays: [NaiveDate::from_ymd_opt(2026, 1, 19).unwrap()]
                .into_iter()
                .collect(),
        }
    }

    fn check(at: &str, want: bool) {
        let now = Timestamp::parse_rfc3339(at).unwrap();
        assert_eq!(nasdaq().is_open(now), want, "{at}");
    }

    #[test]
    fn sessions_open_on_their_edges() {
        // 2026-01-06 is a Tuesday.
        check("2026-01-06T14:29:59.999999999Z", false);
        check("2026-01-06T14:30:00Z", true);
        check("2026-01-06T20:59:59Z", true);
        check("2026-01-06T21:00:00Z", false);
        check("2026-01-06T03:00:00Z", false);
    }

    #[test]
    fn weekends_and_holidays_are_closed() {
        check("2026-01-10T15:00:00Z", false); // Saturday
        check("2026-01-11T15:00:00Z", false); // Sunday
        check("2026-01-09T15:00:00Z", true); // Friday
        check("2026-01-19T15:00:00Z", false); // Monday, a holiday
        check("2026-01-20T15:00:00Z", true); // the Tuesday after
    }

    #[test]
    fn always_open_is_open() {
        assert!(Calendar::AlwaysOpen.is_open(Timestamp::from_nanos(0)));
        assert!(Calendar::AlwaysOpen.is_open(Timestamp::from_nanos(-5)));
    }

    #[test]
    fn instrument_lookup_checks_the_venue() {
        let rules = VenueRules {
            venue: Venue::from("bybit"),
            calendar: Calendar::AlwaysOpen,
            instruments: BTreeMap::new(),
            orders_per_second: 10,
            funding: None,
        };
        assert!(
            rules
                .instrument(&PositionKey::new("other", "linear", "BTCUSDT"))
                .is_none()
        );
    }
}
