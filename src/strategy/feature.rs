//! Multi-timeframe features: named indicators, each on the base timeframe or on a higher
//! one, fed with closed base bars.
//!
//! Higher-timeframe bars are aggregated from base bars into buckets aligned to epoch
//! multiples of their length (a 1h bucket starts at a whole hour UTC). A higher-timeframe
//! indicator is updated only when its bucket closes, that is when the base bar that ends
//! the bucket arrives; in between its value is forward-filled (unchanged).
//!
//! Invariant (no lookahead): after `push` of base bar i, every value depends only on bars
//! 0..=i. A bucket whose last base bars are missing (a gap) is closed, with what it has,
//! when the first bar of a later bucket arrives, never earlier.
//!
//! This module does not know about positions, expressions or intents.

use crate::event::{Decimal, Timeframe, Timestamp};

use super::indicator::{Indicator, IndicatorOverflow, IndicatorSpec, Ohlcv};

/// One named feature: an indicator computed on bars of one timeframe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureSpec {
    /// Name used in expressions.
    pub name: String,
    /// Which indicator, with its period.
    pub indicator: IndicatorSpec,
    /// The bars it is computed on: the base timeframe or a multiple of it.
    pub timeframe: Timeframe,
}

/// Why a feature set cannot be built or fed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeatureError {
    /// A feature's timeframe is not a whole multiple of the base timeframe.
    #[error(
        "feature `{name}`: timeframe {timeframe} is not a multiple of the base timeframe {base}"
    )]
    NotMultiple {
        /// The feature.
        name: String,
        /// Its timeframe.
        timeframe: Timeframe,
        /// The base timeframe.
        base: Timeframe,
    },
    /// A bar does not start on a multiple of the base timeframe.
    #[error("bar at {open_time} is not aligned to the base timeframe {base}")]
    Misaligned {
        /// The bar's start.
        open_time: Timestamp,
        /// The base timeframe.
        base: Timeframe,
    },
    /// A bar does not start after the previous one (duplicate or out of order).
    #[error("bar at {open_time} does not come after the previous bar at {previous}")]
    OutOfOrder {
        /// The bar's start.
        open_time: Timestamp,
        /// The previous bar's start.
        previous: Timestamp,
    },
    /// Decimal overflow while aggregating or updating an indicator.
    #[error("decimal overflow in features at bar {open_time}")]
    Overflow {
        /// The bar being processed.
        open_time: Timestamp,
    },
}

/// The bars of one timeframe and the features computed on them.
#[derive(Debug, Clone)]
struct Lane {
    timeframe: Timeframe,
    /// Indexes into `FeatureSet::indicators`.
    features: Vec<usize>,
    /// The bucket being aggregated: its start (ns) and its bar so far.
    partial: Option<(i64, Ohlcv)>,
}

/// The features of one instrument under one strategy. Memory is bounded by the feature
/// windows (plus one partial bar per timeframe), never by the number of bars pushed.
#[derive(Debug, Clone)]
pub struct FeatureSet {
    base: Timeframe,
    names: Vec<String>,
    indicators: Vec<Indicator>,
    /// Sorted by timeframe; the base timeframe, when used, comes first.
    lanes: Vec<Lane>,
    last_open: Option<Timestamp>,
    bars_seen: u64,
}

impl FeatureSet {
    /// A set in its warm-up state. Feature indexes follow the order of `specs`.
    pub fn new(base: Timeframe, specs: &[FeatureSpec]) -> Result<FeatureSet, FeatureError> {
        let mut lanes: Vec<Lane> = Vec::new();
        for (index, spec) in specs.iter().enumerate() {
            let tf = spec.timeframe;
            if tf.seconds() % base.seconds() != 0 {
                return Err(FeatureError::NotMultiple {
                    name: spec.name.clone(),
                    timeframe: tf,
                    base,
                });
            }
            match lanes.iter_mut().find(|lane| lane.timeframe == tf) {
                Some(lane) => lane.features.push(index),
                None => lanes.push(Lane {
                    timeframe: tf,
                    features: vec![index],
                    partial: None,
                }),
            }
        }
        lanes.sort_by_key(|lane| lane.timeframe);
        Ok(FeatureSet {
            base,
            names: specs.iter().map(|s| s.name.clone()).collect(),
            indicators: specs.iter().map(|s| s.indicator.build()).collect(),
            lanes,
            last_open: None,
            bars_seen: 0,
        })
    }

    /// Feed the next closed base bar, which starts at `open_time`. After an error the
    /// set is in an unspecified (but memory-safe) state and should be rebuilt.
    pub fn push(&mut self, open_time: Timestamp, bar: &Ohlcv) -> Result<(), FeatureError> {
        let t = open_time.as_nanos();
        if t.rem_euclid(self.base.nanos()) != 0 {
            return Err(FeatureError::Misaligned {
                open_time,
                base: self.base,
            });
        }
        if let Some(previous) = self.last_open {
            if open_time <= previous {
                return Err(FeatureError::OutOfOrder {
                    open_time,
                    previous,
                });
            }
        }
        self.last_open = Some(open_time);
        self.bars_seen += 1;
        let overflow = |_: IndicatorOverflow| FeatureError::Overflow { open_time };
        let base_nanos = self.base.nanos();
        for lane in &mut self.lanes {
            let tf = lane.timeframe.nanos();
            let bucket = t.div_euclid(tf) * tf;
            // A bucket left incomplete by a gap closes when a later bucket starts.
            if let Some((start, done)) = lane.partial {
                if start < bucket {
                    lane.partial = None;
                    update_all(&mut self.indicators, &lane.features, &done).map_err(overflow)?;
                }
            }
            let merged = match lane.partial {
                None => *bar,
                Some((_, so_far)) => {
                    merge(&so_far, bar).ok_or(FeatureError::Overflow { open_time })?
                }
            };
            if t + base_nanos == bucket + tf {
                lane.partial = None;
                update_all(&mut self.indicators, &lane.features, &merged).map_err(overflow)?;
            } else {
                lane.partial = Some((bucket, merged));
            }
        }
        Ok(())
    }

    /// Value of feature `index` (the order of the specs), `None` while it warms up.
    pub fn value(&self, index: usize) -> Option<Decimal> {
        self.indicators.get(index).and_then(Indicator::value)
    }

    /// Index of the feature called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// True once every feature has a value.
    pub fn ready(&self) -> bool {
        self.indicators.iter().all(Indicator::ready)
    }

    /// How many base bars were pushed.
    pub fn bars_seen(&self) -> u64 {
        self.bars_seen
    }
}

fn update_all(
    indicators: &mut [Indicator],
    features: &[usize],
    bar: &Ohlcv,
) -> Result<(), IndicatorOverflow> {
    for &i in features {
        if let Some(ind) = indicators.get_mut(i) {
            ind.update(bar)?;
        }
    }
    Ok(())
}

/// `so_far` extended by the later bar `next`.
fn merge(so_far: &Ohlcv, next: &Ohlcv) -> Option<Ohlcv> {
    Some(Ohlcv {
        open: so_far.open,
        high: so_far.high.max(next.high),
        low: so_far.low.min(next.low),
        close: next.close,
        volume: so_far.volume.checked_add(next.volume)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::{Ema, IndicatorKind};

    const MINUTE: i64 = 60_000_000_000;

    fn tf(s: &str) -> Timeframe {
        s.parse().unwrap()
    }

    fn spec(name: &str, kind: IndicatorKind, n: u32, timeframe: &str) -> FeatureSpec {
        FeatureSpec {
            name: name.into(),
            indicator: IndicatorSpec::new(kind, n).unwrap(),
            timeframe: tf(timeframe),
        }
    }

    fn flat_bar(close: i64) -> Ohlcv {
        let c = Decimal::from_int(close);
        Ohlcv {
            open: c,
            high: c,
            low: c,
            close: c,
            volume: Decimal::ONE,
        }
    }

    fn close_at(i: i64) -> i64 {
        1_000 + (i * 7) % 13 + i / 5
    }

    #[test]
    fn higher_timeframe_ema_changes_only_at_hour_close() {
        let specs = [
            spec("fast", IndicatorKind::Ema, 3, "1m"),
            spec("trend", IndicatorKind::Ema, 2, "1h"),
        ];
        let mut set = FeatureSet::new(tf("1m"), &specs).unwrap();
        let trend = set.index_of("trend").unwrap();
        let mut hourly = Ema::new(2);
        let mut previous = None;
        let mut changes = 0;
        for i in 0..(4 * 60) {
            set.push(Timestamp::from_nanos(i * MINUTE), &flat_bar(close_at(i)))
                .unwrap();
            let hour_closed = (i + 1) % 60 == 0;
            if hour_closed {
                hourly.update(Decimal::from_int(close_at(i))).unwrap();
            }
            let now = set.value(trend);
            assert_eq!(now, hourly.value(), "minute {i}");
            if !hour_closed {
                assert_eq!(
                    now, previous,
                    "1h value moved inside the hour at minute {i}"
                );
            }
            changes += usize::from(now != previous);
            previous = now;
        }
        // Ready at the second hourly close, then moved at the third and fourth.
        assert!(set.ready());
        assert_eq!(changes, 3);
    }

    #[test]
    fn aggregated_bar_has_bucket_ohlcv() {
        let specs = [
            spec("hi", IndicatorKind::Highest, 1, "5m"),
            spec("lo", IndicatorKind::Lowest, 1, "5m"),
        ];
        let mut set = FeatureSet::new(tf("1m"), &specs).unwrap();
        let lows = [50, 40, 45, 60, 55];
        for (i, low) in lows.iter().enumerate() {
            let bar = Ohlcv {
                low: Decimal::from_int(*low),
                high: Decimal::from_int(low + 10),
                ..flat_bar(*low)
            };
            set.push(Timestamp::from_nanos(i as i64 * MINUTE), &bar)
                .unwrap();
            assert_eq!(set.ready(), i == 4);
        }
        assert_eq!(set.value(0), Some(Decimal::from_int(70)));
        assert_eq!(set.value(1), Some(Decimal::from_int(40)));
    }

    #[test]
    fn gap_closes_bucket_when_next_bucket_starts() {
        let specs = [spec("c", IndicatorKind::Sma, 1, "5m")];
        let mut set = FeatureSet::new(tf("1m"), &specs).unwrap();
        // Minutes 0..=2 of the first bucket, then a gap to minute 6.
        for i in 0..3 {
            set.push(Timestamp::from_nanos(i * MINUTE), &flat_bar(10 + i))
                .unwrap();
        }
        assert_eq!(set.value(0), None);
        set.push(Timestamp::from_nanos(6 * MINUTE), &flat_bar(99))
            .unwrap();
        // The first bucket closed with its last seen close; minute 6 is not in it.
        assert_eq!(set.value(0), Some(Decimal::from_int(12)));
    }

    #[test]
    fn rejects_bad_timeframes_and_bad_bar_order() {
        let err = FeatureSet::new(tf("1m"), &[spec("x", IndicatorKind::Ema, 2, "90s")]);
        assert!(matches!(err, Err(FeatureError::NotMultiple { .. })));
        let err = FeatureSet::new(tf("5m"), &[spec("x", IndicatorKind::Ema, 2, "1m")]);
        assert!(matches!(err, Err(FeatureError::NotMultiple { .. })));

        let mut set = FeatureSet::new(tf("1m"), &[]).unwrap();
        assert!(set.ready(), "no features: nothing to warm up");
        let at = |m| Timestamp::from_nanos(m * MINUTE);
        set.push(at(5), &flat_bar(1)).unwrap();
        assert!(matches!(
            set.push(at(5), &flat_bar(1)),
            Err(FeatureError::OutOfOrder { .. })
        ));
        assert!(matches!(
            set.push(Timestamp::from_nanos(6 * MINUTE + 1), &flat_bar(1)),
            Err(FeatureError::Misaligned { .. })
        ));
        assert_eq!(set.bars_seen(), 1);
    }
}
