//! Gap detection over a candle stream: a `Gap` event wherever consecutive bars of one
//! market and timeframe are more than one timeframe apart.
//!
//! Holes are flagged, never filled: no synthetic bars are made. A [`SessionCalendar`]
//! tells a closed session (overnight, weekend: kind `SessionClosed`) from missing data
//! (kind `MissingBars`); the default, [`AlwaysOpen`], suits 24/7 crypto venues. This
//! module does not check ordering (the readers do) and ignores non-candle events.

use std::collections::BTreeMap;

use crate::event::{Candle, Event, Gap, GapKind, Payload, Timeframe, Timestamp};

/// Most missing bars probed against the calendar per gap. Gaps up to this many bars are
/// probed bar by bar; longer ones at evenly spaced bars, so one long outage costs a
/// bounded amount of work.
pub const CALENDAR_PROBES_MAX: u64 = 1_024;

/// When a venue trades. Used only to classify gaps.
pub trait SessionCalendar {
    /// True when a bar opening at `ts` falls inside a trading session.
    fn is_open(&self, ts: Timestamp) -> bool;
}

/// A venue that never closes (crypto): every gap is `MissingBars`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlwaysOpen;

impl SessionCalendar for AlwaysOpen {
    fn is_open(&self, _ts: Timestamp) -> bool {
        true
    }
}

/// `(venue, book, instrument, timeframe)`: one bar series.
type SeriesKey = (
    compact_str::CompactString,
    compact_str::CompactString,
    compact_str::CompactString,
    Timeframe,
);

/// Remembers the last bar of each series and reports holes between bars.
#[derive(Debug, Clone, Default)]
pub struct GapDetector<C = AlwaysOpen> {
    calendar: C,
    /// Close time (`open_time + timeframe`) of each series' last bar.
    last_close: BTreeMap<SeriesKey, Timestamp>,
}

impl<C: SessionCalendar> GapDetector<C> {
    /// A detector classifying gaps with `calendar`.
    pub fn new(calendar: C) -> GapDetector<C> {
        GapDetector {
            calendar,
            last_close: BTreeMap::new(),
        }
    }

    /// Note `candle`; when it starts later than its series' previous bar closed, the
    /// gap: `from` is that close (the end of the last data), `to` is this bar's open
    /// (the start of the next data), and `missing` is how many whole bars fit between.
    pub fn observe(&mut self, candle: &Candle) -> Option<Gap> {
        let key = (
            candle.venue.0.clone(),
            candle.book.0.clone(),
            candle.instrument.0.clone(),
            candle.timeframe,
        );
        let close = candle.open_time.plus_nanos(candle.timeframe.nanos());
        let from = self.last_close.insert(key, close)?;
        let to = candle.open_time;
        if to <= from {
            return None;
        }
        let tf_nanos = candle.timeframe.nanos();
        let missing = u64::try_from((to.as_nanos() - from.as_nanos()) / tf_nanos).unwrap_or(0);
        Some(Gap {
            venue: candle.venue.clone(),
            book: candle.book.clone(),
            instrument: candle.instrument.clone(),
            kind: self.classify(from, missing, tf_nanos),
            from,
            to,
            missing,
        })
    }

    /// `SessionClosed` when every probed missing bar is outside a session.
    fn classify(&self, from: Timestamp, missing: u64, tf_nanos: i64) -> GapKind {
        let stride = missing.div_ceil(CALENDAR_PROBES_MAX).max(1);
        let probes = missing.div_ceil(stride);
        let any_open = (0..probes).any(|i| {
            let bar = i64::try_from(i * stride).unwrap_or(i64::MAX);
            self.calendar
                .is_open(from.plus_nanos(bar.saturating_mul(tf_nanos)))
        });
        match (missing, any_open) {
            (0, _) | (_, true) => GapKind::MissingBars,
            _ => GapKind::SessionClosed,
        }
    }
}

/// An event stream with a `Gap` event inserted before each candle that follows a hole.
/// The gap is stamped with that candle's `ts`: it is only known once the bar after it
/// has closed.
pub struct WithGaps<I, C> {
    inner: I,
    detector: GapDetector<C>,
    queued: Option<Event>,
}

/// Insert gap events into `events` (errors pass through untouched).
pub fn with_gaps<I, E, C>(events: I, calendar: C) -> WithGaps<I::IntoIter, C>
where
    I: IntoIterator<Item = Result<Event, E>>,
    C: SessionCalendar,
{
    WithGaps {
        inner: events.into_iter(),
        detector: GapDetector::new(calendar),
        queued: None,
    }
}

impl<I, E, C> Iterator for WithGaps<I, C>
where
    I: Iterator<Item = Result<Event, E>>,
    C: SessionCalendar,
{
    type Item = Result<Event, E>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(event) = self.queued.take() {
            return Some(Ok(event));
        }
        let event = match self.inner.next()? {
            Ok(event) => event,
            Err(e) => return Some(Err(e)),
        };
        let gap = match &event.payload {
            Payload::Candle(candle) => self.detector.observe(candle),
            _ => None,
        };
        match gap {
            Some(gap) => {
                let ts = event.ts;
                self.queued = Some(event);
                Some(Ok(Event::new(ts, Payload::Gap(gap))))
            }
            None => Some(Ok(event)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Decimal, PositionKey};
    use crate::ingest::candle_event;

    fn bar(minute: i64, instrument: &str) -> Result<Event, String> {
        let key = PositionKey::new("v", "spot", instrument);
        let one = Decimal::ONE;
        Ok(candle_event(Payload::Candle(Candle {
            venue: key.venue,
            book: key.book,
            instrument: key.instrument,
            timeframe: "1m".parse().unwrap(),
            open_time: Timestamp::from_nanos(minute * 60_000_000_000),
            open: one,
            high: one,
            low: one,
            close: one,
            volume: one,
            closed: true,
        })))
    }

    /// Render each event as `ts candle <instrument>` or `ts gap <kind> <from>..<to> <missing>`.
    fn check(events: Vec<Result<Event, String>>, calendar: impl SessionCalendar, expect: &[&str]) {
        let got: Vec<String> = with_gaps(events, calendar)
            .map(|e| match e {
                Ok(Event {
                    ts,
                    payload: Payload::Gap(g),
                    ..
                }) => format!("{ts} gap {:?} {}..{} {}", g.kind, g.from, g.to, g.missing),
                Ok(Event {
                    ts,
                    payload: Payload::Candle(c),
                    ..
                }) => format!("{ts} candle {}", c.instrument),
                Ok(other) => panic!("unexpected {other:?}"),
                Err(e) => format!("error {e}"),
            })
            .collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn emits_a_gap_before_the_bar_after_a_hole() {
        check(
            vec![
                bar(0, "A"),
                bar(1, "A"),
                bar(4, "A"),
                bar(5, "A"),
                bar(7, "A"),
            ],
            AlwaysOpen,
            &[
                "1970-01-01T00:01:00Z candle A",
                "1970-01-01T00:02:00Z candle A",
                "1970-01-01T00:05:00Z gap MissingBars 1970-01-01T00:02:00Z..1970-01-01T00:04:00Z 2",
                "1970-01-01T00:05:00Z candle A",
                "1970-01-01T00:06:00Z candle A",
                "1970-01-01T00:08:00Z gap MissingBars 1970-01-01T00:06:00Z..1970-01-01T00:07:00Z 1",
                "1970-01-01T00:08:00Z candle A",
            ],
        );
    }

    #[test]
    fn series_are_tracked_separately_and_errors_pass_through() {
        check(
            vec![
                bar(0, "A"),
                bar(0, "B"),
                bar(1, "A"),
                Err("boom".into()),
                bar(3, "B"),
            ],
            AlwaysOpen,
            &[
                "1970-01-01T00:01:00Z candle A",
                "1970-01-01T00:01:00Z candle B",
                "1970-01-01T00:02:00Z candle A",
                "error boom",
                "1970-01-01T00:04:00Z gap MissingBars 1970-01-01T00:01:00Z..1970-01-01T00:03:00Z 2",
                "1970-01-01T00:04:00Z candle B",
            ],
        );
    }

    /// Closed from minute 10 to minute 20.
    struct Break;
    impl SessionCalendar for Break {
        fn is_open(&self, ts: Timestamp) -> bool {
            !(600_000_000_000..1_200_000_000_000).contains(&ts.as_nanos())
        }
    }

    #[test]
    fn closed_sessions_are_classified_by_the_calendar() {
        check(
            vec![bar(9, "A"), bar(20, "A"), bar(22, "A")],
            Break,
            &[
                "1970-01-01T00:10:00Z candle A",
                "1970-01-01T00:21:00Z gap SessionClosed 1970-01-01T00:10:00Z..1970-01-01T00:20:00Z 10",
                "1970-01-01T00:21:00Z candle A",
                "1970-01-01T00:23:00Z gap MissingBars 1970-01-01T00:21:00Z..1970-01-01T00:22:00Z 1",
                "1970-01-01T00:23:00Z candle A",
            ],
        );
        // A hole that starts in a closed session but runs into an open one is missing data.
        check(
            vec![bar(9, "A"), bar(25, "A")],
            Break,
            &[
                "1970-01-01T00:10:00Z candle A",
                "1970-01-01T00:26:00Z gap MissingBars 1970-01-01T00:10:00Z..1970-01-01T00:25:00Z 15",
                "1970-01-01T00:26:00Z candle A",
            ],
        );
    }

    #[test]
    fn long_gaps_probe_a_bounded_number_of_bars() {
        struct Counting(std::cell::Cell<u64>);
        impl SessionCalendar for Counting {
            fn is_open(&self, _ts: Timestamp) -> bool {
                self.0.set(self.0.get() + 1);
                false
            }
        }
        let mut detector = GapDetector::new(Counting(std::cell::Cell::new(0)));
        let Ok(Event {
            payload: Payload::Candle(a),
            ..
        }) = bar(0, "A")
        else {
            unreachable!()
        };
        let Ok(Event {
            payload: Payload::Candle(b),
            ..
        }) = bar(1_000_001, "A")
        else {
            unreachable!()
        };
        assert!(detector.observe(&a).is_none());
        let gap = detector.observe(&b).unwrap();
        assert_eq!((gap.kind, gap.missing), (GapKind::SessionClosed, 1_000_000));
        assert!(detector.calendar.0.get() <= CALENDAR_PROBES_MAX);
    }
}
