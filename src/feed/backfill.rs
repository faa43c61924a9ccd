//! Closed candles a feed missed while its socket was down: after a reconnect they are
//! fetched over REST (`/v5/market/kline`), so a recorded candle series has no hole;
//! what cannot be fetched becomes a `gap` event (with a stderr line saying why), never
//! a silent hole.
//!
//! [`Series`] remembers the last closed candle of each (symbol, timeframe) across the
//! socket's connections and drops closed candles at or before it, so a candle both
//! backfilled and re-sent by the venue after the reconnect is recorded once.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::event::{Event, Gap, GapKind, Payload, Symbol, Timeframe, Timestamp};
use crate::venue::bybit::rest::parse_klines;
use crate::venue::bybit::wire::Namespace;

/// Bars asked for (Bybit's cap for one page): an outage longer than that (16 h of
/// minute bars) keeps its older part as a recorded gap.
const PAGE: i64 = 1000;
/// Time allowed for one REST page.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The last closed candle seen per series (open time), across connections.
#[derive(Debug, Default)]
pub struct Series {
    last: BTreeMap<(Symbol, Timeframe), Timestamp>,
}

impl Series {
    /// Whether `event` should be recorded: anything but a closed candle is; a closed
    /// candle only when it is later than the last one of its series (which it becomes).
    pub fn admit(&mut self, event: &Event) -> bool {
        let Payload::Candle(c) = &event.payload else {
            return true;
        };
        if !c.closed {
            return true;
        }
        let key = (c.instrument.clone(), c.timeframe);
        match self.last.get(&key) {
            Some(last) if c.open_time <= *last => false,
            _ => {
                self.last.insert(key, c.open_time);
                true
            }
        }
    }

    /// Every series with a candle seen, and that candle's open time.
    pub fn tracked(&self) -> Vec<(Symbol, Timeframe, Timestamp)> {
        self.last
            .iter()
            .map(|((s, tf), last)| (s.clone(), *tf, *last))
            .collect()
    }
}

/// Where to fetch from.
#[derive(Debug, Clone)]
pub struct Rest {
    /// The HTTP client (with [`REQUEST_TIMEOUT`]).
    pub http: reqwest::Client,
    /// The REST base URL.
    pub base: String,
}

/// The closed candles of `symbol` after the one opened at `last`, up to `now`, oldest
/// first, as events stamped at their close (as the stream's are); then a `gap` event
/// for each hole the venue's answer still leaves. An error says why nothing could be
/// fetched.
pub async fn fetch(
    rest: &Rest,
    ns: &Namespace,
    symbol: &Symbol,
    tf: Timeframe,
    last: Timestamp,
    now: Timestamp,
) -> Result<Vec<Event>, String> {
    let interval =
        super::bybit::interval(tf).ok_or_else(|| format!("no Bybit interval for {tf}"))?;
    let step = tf.nanos();
    let start_ms = last.as_nanos().saturating_add(step) / 1_000_000;
    // No `end`: the venue's own now bounds the list (its forming candle comes first),
    // not ours, which may lag its clock.
    let url = format!(
        "{}/v5/market/kline?category=linear&symbol={symbol}&interval={interval}&start={start_ms}&limit={PAGE}",
        rest.base.trim_end_matches('/')
    );
    let body = rest
        .http
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("GET /v5/market/kline: {e}"))?
        .text()
        .await
        .map_err(|e| format!("GET /v5/market/kline: {e}"))?;
    let mut out = parse_klines(&body, ns, tf).map_err(|e| format!("/v5/market/kline: {e}"))?;
    // The venue lists the forming candle first (newest): a bar is closed when a later
    // one is listed, or when its close is past.
    if out
        .last()
        .is_some_and(|c| c.open_time.as_nanos().saturating_add(step) > now.as_nanos())
    {
        out.pop();
    }
    out.retain(|c| c.open_time > last);
    let mut events = Vec::with_capacity(out.len());
    let mut prev = last;
    for c in out {
        let missing = (c.open_time.as_nanos() - prev.as_nanos()) / step - 1;
        if missing > 0 {
            events.push(gap(ns, symbol, prev, c.open_time, step, missing));
        }
        prev = c.open_time;
        let ts = c.open_time.plus_nanos(step);
        events.push(Event::new(ts, Payload::Candle(c)));
    }
    Ok(events)
}

/// A `gap` of `missing` bars between the candles opened at `after` and `before`.
pub fn gap(
    ns: &Namespace,
    symbol: &Symbol,
    after: Timestamp,
    before: Timestamp,
    step: i64,
    missing: i64,
) -> Event {
    Event::new(
        before,
        Payload::Gap(Gap {
            venue: ns.venue.clone(),
            book: ns.book.clone(),
            instrument: symbol.clone(),
            kind: GapKind::FeedOutage,
            from: after.plus_nanos(step),
            to: before,
            missing: u64::try_from(missing).unwrap_or(0),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Candle, Decimal};

    fn candle(open_min: i64, closed: bool) -> Event {
        let tf: Timeframe = "1m".parse().unwrap();
        let open_time = Timestamp::from_nanos(open_min * 60_000_000_000);
        Event::new(
            open_time.plus_nanos(tf.nanos()),
            Payload::Candle(Candle {
                venue: "bybit".into(),
                book: "linear".into(),
                instrument: "BTCUSDT".into(),
                timeframe: tf,
                open_time,
                open: Decimal::ONE,
                high: Decimal::ONE,
                low: Decimal::ONE,
                close: Decimal::ONE,
                volume: Decimal::ONE,
                closed,
            }),
        )
    }

    #[test]
    fn a_closed_candle_is_admitted_once_and_never_behind_its_series() {
        let mut s = Series::default();
        assert!(s.admit(&candle(1, true)));
        assert!(s.admit(&candle(2, false)), "forming candles pass");
        assert!(s.admit(&candle(2, true)));
        assert!(!s.admit(&candle(2, true)), "a re-send after a backfill");
        assert!(!s.admit(&candle(1, true)), "older than the last");
        assert_eq!(s.tracked().len(), 1);
        assert_eq!(s.tracked()[0].2, Timestamp::from_nanos(2 * 60_000_000_000));
    }
}
