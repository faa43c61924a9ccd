//! The equity curve: one point per tick of a clock, folded into streaming metrics and
//! a bounded chart as it goes. No point is stored beyond the chart's buckets.
//!
//! A clock tick has a time; several events at the same time make one point, taken
//! just before the first event of the next tick is applied, so it includes everything
//! that happened at (and right after) its time. Times never go backwards: an earlier
//! tick is counted at the current time.

use super::downsample::{ChartPoint, Downsampler};
use super::metrics::{DailyReturns, Drawdown};
use crate::event::{Decimal, Timestamp};

/// What one point of the curve stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// The close time of each closed candle (any instrument, any timeframe).
    Candles,
    /// Each event that moves a mark or PnL: trades, fills, liquidations, ADLs, funding
    /// and position corrections. Used when the log has no closed candle.
    Events,
}

impl Clock {
    /// The public name (`candles`, `events`).
    pub fn as_str(self) -> &'static str {
        match self {
            Clock::Candles => "candles",
            Clock::Events => "events",
        }
    }
}

/// Streaming state of one curve.
#[derive(Debug, Clone)]
pub struct Curve {
    /// Time of the tick whose point is not taken yet.
    pending: Option<Timestamp>,
    /// Time of the first and of the last point taken.
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    points: u64,
    drawdown: Drawdown,
    returns: DailyReturns,
    chart: Downsampler,
}

/// What a finished curve says.
#[derive(Debug, Clone)]
pub struct CurveSummary {
    /// Points on the curve (before downsampling).
    pub points: u64,
    /// Deepest drawdown and its ratio to the peak.
    pub drawdown: Drawdown,
    /// Number of daily returns.
    pub periods: u64,
    /// Annualized Sharpe (see `metrics::DailyReturns::sharpe`).
    pub sharpe: Option<f64>,
    /// Annualized Sortino.
    pub sortino: Option<f64>,
    /// The downsampled curve for the chart.
    pub chart: Vec<ChartPoint>,
}

impl Curve {
    /// A curve whose first point is `equity` at `ts` (the starting capital).
    pub fn starting_at(ts: Timestamp, equity: Decimal) -> Curve {
        let mut curve = Curve {
            pending: None,
            first: None,
            last: None,
            points: 0,
            drawdown: Drawdown::default(),
            returns: DailyReturns::default(),
            chart: Downsampler::default(),
        };
        curve.take(ts, equity);
        curve
    }

    /// A tick at `ts` is about to be applied: when it starts a new time, the pending
    /// tick's point is due, and `true` is returned — take it with [`Curve::take_due`]
    /// before applying the event.
    pub fn tick(&mut self, ts: Timestamp) -> bool {
        match self.pending {
            Some(pending) if ts <= pending => false,
            Some(_) => true,
            None => {
                self.pending = Some(ts);
                false
            }
        }
    }

    /// Take the due point at `equity` and make `ts` the pending tick.
    pub fn take_due(&mut self, ts: Timestamp, equity: Decimal) {
        if let Some(pending) = self.pending.replace(ts) {
            self.take(pending, equity);
        }
    }

    /// Restate every point taken so far at `equity`. Only for a curve whose points so
    /// far all had one equity (the report's curve before the initial equity is known:
    /// nothing has moved PnL yet, so every point is the starting capital, whatever it
    /// turns out to be). The result is the curve as if it had been built at `equity`.
    pub fn rebase(&mut self, equity: Decimal) {
        self.drawdown = Drawdown::default();
        self.returns = DailyReturns::default();
        if let (Some(first), Some(last)) = (self.first, self.last) {
            self.drawdown.push(equity);
            // Flat points: one at each end gives the same daily returns (all zero).
            self.returns.push(first, equity);
            self.returns.push(last, equity);
        }
        self.chart.rebase(equity);
    }

    /// Take the pending point (if any) at the final `equity` and sum up.
    pub fn finish(mut self, equity: Decimal) -> CurveSummary {
        if let Some(pending) = self.pending.take() {
            self.take(pending, equity);
        }
        self.returns.finish();
        CurveSummary {
            points: self.points,
            periods: self.returns.periods(),
            sharpe: self.returns.sharpe(),
            sortino: self.returns.sortino(),
            drawdown: self.drawdown,
            chart: self.chart.points(),
        }
    }

    fn take(&mut self, ts: Timestamp, equity: Decimal) {
        let ts = self.last.map_or(ts, |last| last.max(ts));
        self.last = Some(ts);
        self.first.get_or_insert(ts);
        self.points += 1;
        let drawdown = self.drawdown.push(equity);
        self.returns.push(ts, equity);
        self.chart.push(ChartPoint {
            ts,
            equity,
            drawdown,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_nanos(s * 1_000_000_000)
    }

    #[test]
    fn events_at_one_time_make_one_point_taken_before_the_next_time() {
        let d = Decimal::from_int;
        let mut c = Curve::starting_at(ts(0), d(100));
        // Two events at t=1: one pending tick.
        assert!(!c.tick(ts(1)));
        assert!(!c.tick(ts(1)));
        // t=2 arrives: the t=1 point is due at the equity before t=2 applies.
        assert!(c.tick(ts(2)));
        c.take_due(ts(2), d(90));
        // An earlier time does not start a new point.
        assert!(!c.tick(ts(1)));
        let s = c.finish(d(120));
        assert_eq!(s.points, 3);
        let eq: Vec<_> = s.chart.iter().map(|p| (p.ts, p.equity)).collect();
        assert_eq!(eq, [(ts(0), d(100)), (ts(1), d(90)), (ts(2), d(120))]);
        assert_eq!(s.drawdown.max_abs, d(10));
    }

    #[test]
    fn a_rebased_flat_curve_is_the_curve_built_at_the_new_equity() {
        let d = Decimal::from_int;
        let build = |start: i64, rebase: Option<i64>| {
            let mut c = Curve::starting_at(ts(0), d(start));
            // Three flat days of points, then the real equity moves.
            for s in 1..(3 * 86_400 / 600) {
                if c.tick(ts(s * 600)) {
                    c.take_due(ts(s * 600), d(start));
                }
            }
            if let Some(equity) = rebase {
                c.rebase(d(equity));
            }
            for (i, e) in [(0, 0), (1, -30), (2, 20)] {
                let t = ts(3 * 86_400 + i * 86_400);
                if c.tick(t) {
                    c.take_due(t, d(rebase.unwrap_or(start) + e));
                }
            }
            c.finish(d(rebase.unwrap_or(start) + 10))
        };
        let (a, b) = (build(500, Some(1000)), build(1000, None));
        assert_eq!(a.points, b.points);
        assert_eq!(a.chart, b.chart);
        assert_eq!(a.drawdown, b.drawdown);
        assert_eq!(
            (a.periods, a.sharpe, a.sortino),
            (b.periods, b.sharpe, b.sortino)
        );
        assert!(a.chart.iter().take(10).all(|p| p.equity == d(1000)));
    }
}
