//! Bar aggregation: trades or lower-timeframe candles → bars of a higher timeframe.
//!
//! Buckets are aligned to epoch multiples of the target timeframe (a 5m bar opens at
//! :00, :05, …; a 1d bar at 00:00 UTC). A bucket's bar is emitted, `closed: true`, when
//! the first input of a later bucket arrives: O(1) work and memory per input, exact
//! decimal sums. Empty buckets produce no bar (gaps are `gap`'s job, never filled here).
//!
//! End of data: [`BarAggregator::finish`] returns the last bucket's bar with
//! `closed: true` only when the inputs cover it to its end (the last input candle
//! closes at the bucket's end); otherwise it is returned with `closed: false`, a
//! partial bar, so a caller can show it but a lookahead-free replay must not act on
//! it. Trades never prove a bucket complete on their own (a later trade could still
//! come); [`BarAggregator::finish_at`] takes the time the data is known to run to.

use super::AggregateError;
use crate::event::{Candle, Decimal, PositionKey, Timeframe, Timestamp, Trade};

/// The bucket being built.
#[derive(Debug, Clone)]
struct Bucket {
    open_time: Timestamp,
    open: Decimal,
    high: Decimal,
    low: Decimal,
    close: Decimal,
    volume: Decimal,
    /// How far the inputs so far prove the data runs (a trade's time, a candle's close).
    covered_until: Timestamp,
}

/// Builds `target`-timeframe bars from trades or from candles whose timeframe divides
/// `target`. One aggregator serves one market (set by its first input).
#[derive(Debug, Clone)]
pub struct BarAggregator {
    target: Timeframe,
    market: Option<PositionKey>,
    current: Option<Bucket>,
    /// Time of the last input (a trade's ts, a candle's open time), for the order check.
    last_input: Option<Timestamp>,
}

/// One input, reduced to what a bucket needs.
struct Input {
    market: PositionKey,
    /// Trade time, or candle open time.
    ts: Timestamp,
    /// Candles must be strictly increasing; trades may share a time.
    strictly_after_last: bool,
    prices: [Decimal; 4],
    volume: Decimal,
    covered_until: Timestamp,
}

impl BarAggregator {
    /// An aggregator producing `target` bars.
    pub fn new(target: Timeframe) -> BarAggregator {
        BarAggregator {
            target,
            market: None,
            current: None,
            last_input: None,
        }
    }

    /// The target timeframe.
    pub fn target(&self) -> Timeframe {
        self.target
    }

    /// Add a trade printed at `ts`; returns the previous bucket's bar when this trade
    /// starts a new bucket.
    pub fn push_trade(
        &mut self,
        ts: Timestamp,
        trade: &Trade,
    ) -> Result<Option<Candle>, AggregateError> {
        self.push(Input {
            market: PositionKey {
                venue: trade.venue.clone(),
                book: trade.book.clone(),
                instrument: trade.instrument.clone(),
            },
            ts,
            strictly_after_last: false,
            prices: [trade.px; 4],
            volume: trade.qty,
            covered_until: ts,
        })
    }

    /// Add a closed candle (open candles, `closed: false`, are ignored: they may still
    /// change); returns the previous bucket's bar when this one starts a new bucket.
    pub fn push_candle(&mut self, candle: &Candle) -> Result<Option<Candle>, AggregateError> {
        if self.target.seconds() % candle.timeframe.seconds() != 0 {
            return Err(AggregateError::Timeframe {
                input: candle.timeframe,
                target: self.target,
            });
        }
        if !candle.closed {
            return Ok(None);
        }
        self.push(Input {
            market: PositionKey {
                venue: candle.venue.clone(),
                book: candle.book.clone(),
                instrument: candle.instrument.clone(),
            },
            ts: candle.open_time,
            strictly_after_last: true,
            prices: [candle.open, candle.high, candle.low, candle.close],
            volume: candle.volume,
            covered_until: candle.open_time.plus_nanos(candle.timeframe.nanos()),
        })
    }

    fn push(&mut self, input: Input) -> Result<Option<Candle>, AggregateError> {
        self.check_market(&input.market)?;
        if let Some(last) = self.last_input {
            let in_order = match input.strictly_after_last {
                true => input.ts > last,
                false => input.ts >= last,
            };
            if !in_order {
                return Err(AggregateError::OutOfOrder {
                    ts: input.ts,
                    bucket_start: self.current.as_ref().map_or(last, |b| b.open_time),
                });
            }
        }
        let bucket_start = self.bucket_start(input.ts);
        let [open, high, low, close] = input.prices;
        let emitted = match self.current.as_mut() {
            Some(bucket) if bucket.open_time == bucket_start => {
                bucket.volume = bucket
                    .volume
                    .checked_add(input.volume)
                    .ok_or(AggregateError::Overflow { ts: input.ts })?;
                bucket.high = bucket.high.max(high);
                bucket.low = bucket.low.min(low);
                bucket.close = close;
                bucket.covered_until = input.covered_until;
                None
            }
            _ => {
                let previous = self.current.replace(Bucket {
                    open_time: bucket_start,
                    open,
                    high,
                    low,
                    close,
                    volume: input.volume,
                    covered_until: input.covered_until,
                });
                previous.map(|b| self.candle(b, true))
            }
        };
        self.last_input = Some(input.ts);
        if emitted.is_some() {
            return Ok(emitted);
        }
        // Candles say how far they cover: a bucket whose last sub-bar has closed is
        // final now, so it is emitted at once rather than when the next bucket starts
        // (which would hand it to a strategy one input late).
        let bucket_end = bucket_start.plus_nanos(self.target.nanos());
        match self.current.take() {
            Some(bucket) if bucket.covered_until >= bucket_end => {
                Ok(Some(self.candle(bucket, true)))
            }
            other => {
                self.current = other;
                Ok(None)
            }
        }
    }

    /// The last bucket's bar, `closed` only when the inputs reach its end (see the
    /// module doc); `None` when nothing was pushed.
    pub fn finish(mut self) -> Option<Candle> {
        let bucket = self.current.take()?;
        let complete = bucket.covered_until >= self.bucket_end(&bucket);
        Some(self.candle(bucket, complete))
    }

    /// Like [`finish`](Self::finish), for data known to run until `data_end` (e.g. the
    /// end of the trade file's day): the bar is `closed` when `data_end` reaches the
    /// bucket's end.
    pub fn finish_at(mut self, data_end: Timestamp) -> Option<Candle> {
        let bucket = self.current.take()?;
        let complete = data_end.max(bucket.covered_until) >= self.bucket_end(&bucket);
        Some(self.candle(bucket, complete))
    }

    fn check_market(&mut self, market: &PositionKey) -> Result<(), AggregateError> {
        match &self.market {
            None => {
                self.market = Some(market.clone());
                Ok(())
            }
            Some(expected) if expected == market => Ok(()),
            Some(expected) => Err(AggregateError::Instrument {
                expected: expected.to_string(),
                got: market.to_string(),
            }),
        }
    }

    fn bucket_start(&self, ts: Timestamp) -> Timestamp {
        let tf = self.target.nanos();
        Timestamp::from_nanos(ts.as_nanos().div_euclid(tf) * tf)
    }

    fn bucket_end(&self, bucket: &Bucket) -> Timestamp {
        bucket.open_time.plus_nanos(self.target.nanos())
    }

    fn candle(&self, bucket: Bucket, closed: bool) -> Candle {
        // Invariant: a bucket exists only after `check_market` stored the market.
        let market = self
            .market
            .clone()
            .unwrap_or_else(|| PositionKey::new("", "", ""));
        Candle {
            venue: market.venue,
            book: market.book,
            instrument: market.instrument,
            timeframe: self.target,
            open_time: bucket.open_time,
            open: bucket.open,
            high: bucket.high,
            low: bucket.low,
            close: bucket.close,
            volume: bucket.volume,
            closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Side;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    fn minute_bar(minute: i64, ohlcv: [&str; 5]) -> Candle {
        let key = PositionKey::new("v", "spot", "BTCUSDT");
        Candle {
            venue: key.venue,
            book: key.book,
            instrument: key.instrument,
            timeframe: "1m".parse().unwrap(),
            open_time: Timestamp::from_nanos(minute * 60_000_000_000),
            open: d(ohlcv[0]),
            high: d(ohlcv[1]),
            low: d(ohlcv[2]),
            close: d(ohlcv[3]),
            volume: d(ohlcv[4]),
            closed: true,
        }
    }

    fn trade(px: &str, qty: &str) -> Trade {
        let key = PositionKey::new("v", "spot", "BTCUSDT");
        Trade {
            venue: key.venue,
            book: key.book,
            instrument: key.instrument,
            px: d(px),
            qty: d(qty),
            side: Some(Side::Buy),
            trade_id: None,
        }
    }

    /// `open_time o h l c v closed`.
    fn show(c: &Candle) -> String {
        let (o, h, l, cl, v) = (c.open, c.high, c.low, c.close, c.volume);
        format!(
            "{} {} {o} {h} {l} {cl} {v} {}",
            c.timeframe, c.open_time, c.closed
        )
    }

    #[test]
    fn one_minute_to_five_minutes_hand_checked() {
        let bars = [
            ["100", "101", "99.5", "100.5", "1.25"],
            ["100.5", "103", "100", "102", "2"],
            ["102", "102.5", "98", "99", "0.00002853"],
            ["99", "100", "98.5", "99.5", "3"],
            ["99.5", "101", "99", "100.75", "1"],
            ["100.75", "104", "100.5", "103", "5"],
            ["103", "103.5", "102", "102.5", "0.5"],
        ];
        let mut agg = BarAggregator::new("5m".parse().unwrap());
        let mut out = Vec::new();
        for (minute, ohlcv) in bars.into_iter().enumerate() {
            if let Some(bar) = agg.push_candle(&minute_bar(minute as i64, ohlcv)).unwrap() {
                out.push(show(&bar));
            }
        }
        out.push(show(&agg.finish().unwrap()));
        assert_eq!(
            out,
            [
                "5m 1970-01-01T00:00:00Z 100 103 98 100.75 7.25002853 true",
                "5m 1970-01-01T00:05:00Z 100.75 104 100.5 102.5 5.5 false",
            ]
        );
    }

    #[test]
    fn a_bucket_the_candles_complete_is_emitted_on_its_last_candle() {
        let mut agg = BarAggregator::new("5m".parse().unwrap());
        let flat = ["1", "1", "1", "1", "1"];
        let mut emitted_at = Vec::new();
        for minute in 0..10 {
            if let Some(bar) = agg.push_candle(&minute_bar(minute, flat)).unwrap() {
                emitted_at.push((minute, show(&bar)));
            }
        }
        // Minute 4 closes 00:00–00:05 and minute 9 closes 00:05–00:10: no waiting for
        // the next bucket's first candle.
        assert_eq!(
            emitted_at,
            vec![
                (4, "5m 1970-01-01T00:00:00Z 1 1 1 1 5 true".to_string()),
                (9, "5m 1970-01-01T00:05:00Z 1 1 1 1 5 true".to_string()),
            ]
        );
        assert!(agg.finish().is_none(), "nothing is left open");
    }

    #[test]
    fn trades_to_one_minute_hand_checked() {
        let mut agg = BarAggregator::new("1m".parse().unwrap());
        let tape = [
            ("2024-01-01T00:00:10Z", "100", "1"),
            ("2024-01-01T00:00:30Z", "102", "0.5"),
            ("2024-01-01T00:00:30Z", "98.5", "0.25"),
            ("2024-01-01T00:00:59.999Z", "99", "2"),
            ("2024-01-01T00:01:00Z", "101", "1"),
            ("2024-01-01T00:03:05Z", "105", "1"),
        ];
        let mut out = Vec::new();
        for (ts, px, qty) in tape {
            if let Some(bar) = agg.push_trade(at(ts), &trade(px, qty)).unwrap() {
                out.push(show(&bar));
            }
        }
        let at_end = agg.clone();
        out.push(show(&agg.finish().unwrap()));
        assert_eq!(
            out,
            [
                "1m 2024-01-01T00:00:00Z 100 102 98.5 99 3.75 true",
                "1m 2024-01-01T00:01:00Z 101 101 101 101 1 true",
                "1m 2024-01-01T00:03:00Z 105 105 105 105 1 false",
            ]
        );
        let closed = at_end.finish_at(at("2024-01-01T00:04:00Z")).unwrap();
        assert!(closed.closed);
    }

    #[test]
    fn buckets_align_to_epoch_multiples_even_before_1970() {
        let mut agg = BarAggregator::new("1h".parse().unwrap());
        agg.push_trade(at("1969-12-31T23:59:00Z"), &trade("1", "1"))
            .unwrap();
        let bar = agg.finish().unwrap();
        assert_eq!(bar.open_time, at("1969-12-31T23:00:00Z"));
    }

    #[test]
    fn refuses_misordered_mismatched_and_indivisible_inputs() {
        let flat = ["1", "1", "1", "1", "1"];
        let mut agg = BarAggregator::new("5m".parse().unwrap());
        agg.push_candle(&minute_bar(3, flat)).unwrap();
        assert_eq!(
            agg.push_candle(&minute_bar(3, flat))
                .unwrap_err()
                .to_string(),
            "input at 1970-01-01T00:03:00Z is before the current bucket starting 1970-01-01T00:00:00Z"
        );
        let mut other = minute_bar(4, flat);
        other.instrument = "ETHUSDT".into();
        assert_eq!(
            agg.push_candle(&other).unwrap_err().to_string(),
            "input for v:spot:ETHUSDT but this aggregator builds bars for v:spot:BTCUSDT"
        );
        let mut agg = BarAggregator::new("90s".parse().unwrap());
        assert_eq!(
            agg.push_candle(&minute_bar(0, flat))
                .unwrap_err()
                .to_string(),
            "cannot build 90s bars from 1m bars: 1m does not divide 90s"
        );
        let mut agg = BarAggregator::new("1m".parse().unwrap());
        agg.push_trade(at("2024-01-01T00:00:10Z"), &trade("1", "1"))
            .unwrap();
        assert!(
            agg.push_trade(at("2024-01-01T00:00:09Z"), &trade("1", "1"))
                .is_err()
        );
        assert!(
            agg.push_trade(at("2024-01-01T00:00:10Z"), &trade("1", "1"))
                .is_ok()
        );
    }
}
