//! Past values for lagged expressions (`fast[1]`, `close[3]`, and the previous values a
//! cross reads): one small ring per variable the play lags, as deep as its largest lag,
//! sized once from the compiled play. Recording and reading are O(1) per bar, and memory
//! is bounded by the lags the play uses (at most `LAG_MAX + 1` values per variable),
//! never by the number of bars seen.
//!
//! This module knows nothing about bars or features beyond [`Var`]: it is handed the
//! current value of each variable once per base bar.

use std::collections::VecDeque;

use crate::event::Decimal;

use super::expr::Var;

/// Number of bar fields with a history (`open high low close volume`), which take the
/// first slots; feature `i` takes slot `BAR_FIELDS + i`.
const BAR_FIELDS: usize = 5;

fn slot_of(var: Var) -> Option<usize> {
    Some(match var {
        Var::Open => 0,
        Var::High => 1,
        Var::Low => 2,
        Var::Close => 3,
        Var::Volume => 4,
        Var::Feature(i) => BAR_FIELDS + i,
        Var::Position | Var::EntryPx | Var::Equity => return None,
    })
}

/// One variable's recent values, newest last; holds `depth + 1` values (now and `depth`
/// bars back). `None` entries are bars where the variable was undefined (warming up).
#[derive(Debug, Clone)]
struct Ring {
    var: Var,
    depth: usize,
    values: VecDeque<Option<Decimal>>,
}

/// The lag history of one instrument under one play.
#[derive(Debug, Clone)]
pub struct History {
    rings: Vec<Ring>,
    /// Slot (see [`slot_of`]) to index in `rings`: O(1) lookup with no hashing.
    index: Vec<Option<usize>>,
}

impl History {
    /// Empty history for `lags`, the deepest lag per variable (as [`super::Play::lags`]);
    /// variables without history and zero lags are ignored.
    pub fn new(lags: &[(Var, usize)]) -> History {
        let mut rings: Vec<Ring> = Vec::new();
        let mut index: Vec<Option<usize>> = Vec::new();
        for &(var, depth) in lags {
            let Some(slot) = slot_of(var) else { continue };
            if depth == 0 {
                continue;
            }
            if index.len() <= slot {
                index.resize(slot + 1, None);
            }
            match index[slot] {
                Some(i) => {
                    if let Some(ring) = rings.get_mut(i) {
                        ring.depth = ring.depth.max(depth);
                    }
                }
                None => {
                    index[slot] = Some(rings.len());
                    rings.push(Ring {
                        var,
                        depth,
                        values: VecDeque::new(),
                    });
                }
            }
        }
        for ring in &mut rings {
            ring.values.reserve_exact(ring.depth + 1);
        }
        History { rings, index }
    }

    /// Record this base bar's values; `now` gives the current value of a variable.
    pub fn record(&mut self, now: &dyn Fn(Var) -> Option<Decimal>) {
        for ring in &mut self.rings {
            if ring.values.len() > ring.depth {
                ring.values.pop_front();
            }
            ring.values.push_back(now(ring.var));
        }
    }

    /// The value of `var` `lag` bars before the last recorded bar (`0` = that bar);
    /// `None` when not tracked that deep, not yet seen, or undefined then.
    pub fn get(&self, var: Var, lag: usize) -> Option<Decimal> {
        let i = (*self.index.get(slot_of(var)?)?)?;
        let ring = self.rings.get(i)?;
        if lag > ring.depth {
            return None;
        }
        let at = ring.values.len().checked_sub(lag + 1)?;
        ring.values.get(at).copied().flatten()
    }

    /// True once every tracked variable has a value at its deepest lag. Values never
    /// become undefined again once defined (features stay ready), so then every
    /// shallower lag is defined too.
    pub fn ready(&self) -> bool {
        self.rings
            .iter()
            .all(|r| self.get(r.var, r.depth).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: i64) -> Option<Decimal> {
        Some(Decimal::from_int(n))
    }

    #[test]
    fn lags_read_the_right_past_bar_and_stay_bounded() {
        // close lagged 2, feature 0 lagged 1 (and also 0, ignored), position ignored.
        let mut h = History::new(&[
            (Var::Close, 2),
            (Var::Feature(0), 1),
            (Var::Feature(0), 0),
            (Var::Position, 3),
        ]);
        assert_eq!(h.rings.len(), 2);
        let closes = [10, 11, 12, 13];
        // The feature is undefined on bar 0 (warming up), then 100 + bar.
        for (bar, &c) in closes.iter().enumerate() {
            h.record(&|v| match v {
                Var::Close => d(c),
                Var::Feature(0) if bar > 0 => d(100 + bar as i64),
                _ => None,
            });
            let want_ready = bar >= 2; // close[2] needs 3 bars; fast[1] defined from bar 2
            assert_eq!(h.ready(), want_ready, "bar {bar}");
            assert!(h.rings.iter().all(|r| r.values.len() <= r.depth + 1));
        }
        assert_eq!(h.get(Var::Close, 0), d(13));
        assert_eq!(h.get(Var::Close, 1), d(12));
        assert_eq!(h.get(Var::Close, 2), d(11));
        assert_eq!(h.get(Var::Close, 3), None, "deeper than tracked");
        assert_eq!(h.get(Var::Feature(0), 1), d(102));
        assert_eq!(h.get(Var::Open, 1), None, "not tracked");
        assert_eq!(h.get(Var::Position, 1), None);
    }

    #[test]
    fn a_feature_undefined_at_the_lag_is_not_ready() {
        let mut h = History::new(&[(Var::Feature(3), 2)]);
        h.record(&|_| None);
        h.record(&|_| d(1));
        h.record(&|_| d(2));
        // Two bars back the feature was still warming up.
        assert!(!h.ready());
        assert_eq!(h.get(Var::Feature(3), 2), None);
        h.record(&|_| d(3));
        assert!(h.ready());
        assert_eq!(h.get(Var::Feature(3), 2), d(1));
    }
}
