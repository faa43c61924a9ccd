//! Bounded, deterministic downsampling of the equity curve for the chart.
//!
//! Points are grouped into consecutive buckets of `width` points; each bucket keeps its
//! lowest and highest equity and its deepest drawdown, so spikes and troughs survive.
//! When the buckets are full, neighbours merge pairwise and `width` doubles: memory is
//! fixed whatever the curve's length, and the same input always gives the same output.
//! Metrics never read from here: they see every point (see `curve.rs`).

use crate::event::{Decimal, Timestamp};

/// Most points the chart gets. 2,000 is more than an SVG a few thousand pixels wide can
/// show, and keeps the file small enough to open anywhere.
pub const MAX_CHART_POINTS: usize = 2_000;

/// Each bucket yields up to three points (low, high, deepest drawdown).
const MAX_BUCKETS: usize = MAX_CHART_POINTS / 3;

/// One point of the chart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChartPoint {
    /// When.
    pub ts: Timestamp,
    /// Equity then.
    pub equity: Decimal,
    /// How far below its running peak the equity was then (≥ 0).
    pub drawdown: Decimal,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    count: u64,
    low: ChartPoint,
    high: ChartPoint,
    deep: ChartPoint,
}

impl Bucket {
    fn new(p: ChartPoint) -> Bucket {
        Bucket {
            count: 1,
            low: p,
            high: p,
            deep: p,
        }
    }

    /// Absorb `other`, which comes after `self`. Ties keep the earlier point.
    fn merge(&mut self, other: &Bucket) {
        self.count += other.count;
        if other.low.equity < self.low.equity {
            self.low = other.low;
        }
        if other.high.equity > self.high.equity {
            self.high = other.high;
        }
        if other.deep.drawdown > self.deep.drawdown {
            self.deep = other.deep;
        }
    }
}

/// The downsampler. See the module doc.
#[derive(Debug, Clone)]
pub struct Downsampler {
    buckets: Vec<Bucket>,
    width: u64,
}

impl Default for Downsampler {
    fn default() -> Downsampler {
        Downsampler {
            buckets: Vec::with_capacity(MAX_BUCKETS),
            width: 1,
        }
    }
}

impl Downsampler {
    /// Take the next point (times non-decreasing).
    pub fn push(&mut self, p: ChartPoint) {
        let bucket = Bucket::new(p);
        match self.buckets.last_mut() {
            Some(last) if last.count < self.width => last.merge(&bucket),
            _ => {
                if self.buckets.len() == MAX_BUCKETS {
                    self.compact();
                }
                self.buckets.push(bucket);
            }
        }
    }

    /// Merge neighbours pairwise and double the width.
    fn compact(&mut self) {
        let merged: Vec<Bucket> = self
            .buckets
            .chunks(2)
            .map(|pair| {
                let mut b = pair[0];
                if let Some(next) = pair.get(1) {
                    b.merge(next);
                }
                b
            })
            .collect();
        self.buckets = merged;
        self.width *= 2;
    }

    /// Move every point taken so far to `equity`, for a curve whose points so far are
    /// meant to be one value with no drawdown (see `Curve::rebase`): which point a
    /// bucket keeps does not matter then.
    pub fn rebase(&mut self, equity: Decimal) {
        for b in &mut self.buckets {
            for p in [&mut b.low, &mut b.high, &mut b.deep] {
                p.equity = equity;
                p.drawdown = Decimal::ZERO;
            }
        }
    }

    /// The kept points in time order (at most [`MAX_CHART_POINTS`]).
    pub fn points(&self) -> Vec<ChartPoint> {
        let mut out = Vec::with_capacity(self.buckets.len() * 3);
        for b in &self.buckets {
            let mut three = [b.low, b.high, b.deep];
            three.sort_by_key(|p| p.ts);
            for p in three {
                if out.last() != Some(&p) {
                    out.push(p);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(i: i64, equity: i64) -> ChartPoint {
        ChartPoint {
            ts: Timestamp::from_nanos(i),
            equity: Decimal::from_int(equity),
            drawdown: Decimal::ZERO,
        }
    }

    #[test]
    fn short_curves_are_kept_whole() {
        let mut s = Downsampler::default();
        for i in 0..10 {
            s.push(point(i, i * 10));
        }
        assert_eq!(s.points().len(), 10);
        assert_eq!(s.points()[9], point(9, 90));
    }

    #[test]
    fn long_curves_stay_bounded_and_keep_their_extremes() {
        let mut s = Downsampler::default();
        for i in 0..1_000_000i64 {
            // A sawtooth with one deep spike down and one up.
            let equity = match i {
                123_457 => -5_000,
                777_777 => 9_000,
                _ => i % 100,
            };
            s.push(point(i, equity));
        }
        let points = s.points();
        assert!(points.len() <= MAX_CHART_POINTS, "{}", points.len());
        assert!(points.windows(2).all(|w| w[0].ts <= w[1].ts));
        assert!(points.contains(&point(123_457, -5_000)));
        assert!(points.contains(&point(777_777, 9_000)));
    }
}
