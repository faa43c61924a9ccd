//! Rolling maximum or minimum over a fixed window: the rolling highest high and lowest
//! low indicators, kept in a monotonic deque so each update is amortized O(1) and memory
//! never exceeds the window.

use std::collections::VecDeque;

use crate::event::Decimal;

use super::indicator::IndicatorOverflow;

/// Which end a [`Rolling`] window tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extreme {
    /// The maximum.
    High,
    /// The minimum.
    Low,
}

/// Rolling maximum or minimum of the last `n` values, with a monotonic deque of
/// `(index, value)`: each value is pushed and popped at most once (amortized O(1)), and
/// the deque never holds more than `n` entries.
#[derive(Debug, Clone)]
pub struct Rolling {
    n: usize,
    extreme: Extreme,
    seen: u64,
    deque: VecDeque<(u64, Decimal)>,
}

impl Rolling {
    /// Window of `n` (≥ 1) values.
    pub fn new(n: usize, extreme: Extreme) -> Rolling {
        Rolling {
            n: n.max(1),
            extreme,
            seen: 0,
            deque: VecDeque::with_capacity(n.max(1)),
        }
    }

    /// Feed one value.
    pub fn update(&mut self, x: Decimal) -> Result<(), IndicatorOverflow> {
        // Drop values the new one dominates: they can never be the extreme again.
        while let Some(&(_, back)) = self.deque.back() {
            let dominated = match self.extreme {
                Extreme::High => back <= x,
                Extreme::Low => back >= x,
            };
            if !dominated {
                break;
            }
            self.deque.pop_back();
        }
        let index = self.seen;
        self.deque.push_back((index, x));
        self.seen += 1;
        // Drop the front once it has left the window [seen - n, seen).
        while let Some(&(i, _)) = self.deque.front() {
            if i + self.n as u64 > index {
                break;
            }
            self.deque.pop_front();
        }
        Ok(())
    }

    /// The extreme of the last `n` values, once `n` were seen.
    pub fn value(&self) -> Option<Decimal> {
        if self.seen < self.n as u64 {
            return None;
        }
        self.deque.front().map(|&(_, v)| v)
    }

    /// True once `n` values were seen.
    pub fn ready(&self) -> bool {
        self.seen >= self.n as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_deque_stays_bounded_on_monotonic_input() {
        // A falling series never dominates for a max: the deque must still drop the
        // values that left the window.
        let mut r = Rolling::new(4, Extreme::High);
        for i in (0..1_000).rev() {
            r.update(Decimal::from_int(i)).unwrap();
            assert!(r.deque.len() <= 4);
        }
        assert_eq!(r.value(), Some(Decimal::from_int(3)));
    }
}
