//! A deterministic token bucket for the order rate, refilled by event time.
//!
//! Tokens are kept in integer nano-tokens (one token = 10^9), so a refill of
//! `elapsed_ns × rate` nano-tokens is exact: the same event times always give the same
//! answers, in backtest and live alike. It never reads the clock.

use crate::event::Timestamp;

/// Nano-tokens per token: a rate of `r` tokens per second adds `r` nano-tokens per ns.
const NANOS_PER_TOKEN: i128 = 1_000_000_000;

/// Orders a plan may hold (entry, stop, target). The bucket holds at least this many
/// tokens, so a full plan always fits an idle bucket whatever the configured rate.
pub const PLAN_ORDERS_MAX: u32 = 3;

/// A token bucket: starts full, holds at most `capacity` tokens, refills at
/// `rate_per_second` tokens per second of event time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBucket {
    rate_per_second: u32,
    capacity_nano: i128,
    available_nano: i128,
    /// Latest event time seen; time that goes backwards refills nothing.
    last: Option<Timestamp>,
}

impl TokenBucket {
    /// A full bucket of `max(rate_per_second, PLAN_ORDERS_MAX)` tokens.
    pub fn new(rate_per_second: u32) -> TokenBucket {
        let capacity_nano = i128::from(rate_per_second.max(PLAN_ORDERS_MAX)) * NANOS_PER_TOKEN;
        TokenBucket {
            rate_per_second,
            capacity_nano,
            available_nano: capacity_nano,
            last: None,
        }
    }

    /// Refill up to `now`, then take `cost` tokens if they are there. Returns whether
    /// they were taken; on `false` nothing is taken.
    pub fn try_take(&mut self, now: Timestamp, cost: u32) -> bool {
        self.refill(now);
        let cost_nano = i128::from(cost) * NANOS_PER_TOKEN;
        if cost_nano > self.available_nano {
            return false;
        }
        self.available_nano -= cost_nano;
        true
    }

    /// Whole tokens available at `now` (after refilling).
    pub fn available(&mut self, now: Timestamp) -> u64 {
        self.refill(now);
        // Invariant: 0 <= available_nano <= capacity_nano, and capacity fits u32 tokens.
        (self.available_nano / NANOS_PER_TOKEN) as u64
    }

    fn refill(&mut self, now: Timestamp) {
        let elapsed_ns = match self.last {
            Some(last) if now > last => now.as_nanos().abs_diff(last.as_nanos()),
            Some(_) => return,
            None => 0,
        };
        self.last = Some(now);
        let added = i128::from(elapsed_ns).saturating_mul(i128::from(self.rate_per_second));
        self.available_nano = self
            .available_nano
            .saturating_add(added)
            .min(self.capacity_nano);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_nanos(ms * MS)
    }

    #[test]
    fn refills_with_event_time() {
        let mut b = TokenBucket::new(10);
        for _ in 0..10 {
            assert!(b.try_take(at(0), 1));
        }
        assert!(!b.try_take(at(0), 1), "empty after a burst of 10");
        assert!(!b.try_take(at(99), 1), "0.99 tokens after 99 ms");
        assert!(b.try_take(at(100), 1), "one token after 100 ms");
        assert!(!b.try_take(at(100), 1));
        assert_eq!(b.available(at(100_000)), 10, "never above capacity");
    }

    #[test]
    fn a_refused_take_takes_nothing() {
        let mut b = TokenBucket::new(10);
        assert!(b.try_take(at(0), 8));
        assert!(!b.try_take(at(0), 3));
        assert!(b.try_take(at(0), 2));
    }

    #[test]
    fn time_going_backwards_refills_nothing() {
        let mut b = TokenBucket::new(10);
        assert!(b.try_take(at(1_000), 10));
        assert!(!b.try_take(at(0), 1));
        assert!(!b.try_take(at(1_050), 1), "measured from 1000, not from 0");
        assert!(b.try_take(at(1_100), 1));
    }

    #[test]
    fn is_deterministic() {
        let run = || {
            let mut b = TokenBucket::new(5);
            (0..200)
                .map(|i| b.try_take(at(i * 37), 1 + (i % 3) as u32))
                .collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        assert!(first.contains(&true) && first.contains(&false));
    }

    #[test]
    fn a_slow_rate_still_fits_a_full_plan() {
        let mut b = TokenBucket::new(1);
        assert!(b.try_take(at(0), PLAN_ORDERS_MAX));
        assert!(!b.try_take(at(999), 1));
        assert!(b.try_take(at(1_000), 1));
    }
}
