//! Streaming statistics over an equity curve: drawdown (running peak) and daily
//! returns (Sharpe, Sortino), each in O(1) memory whatever the curve's length.
//!
//! Money stays exact (`Decimal`): equity, peaks and drawdowns. Only the return ratios
//! are `f64`, because a square root is not exact anyway; they never flow back into money.

use crate::event::{Decimal, Timestamp};

/// Nanoseconds in a day: the return period.
pub const DAY_NS: i64 = 86_400 * 1_000_000_000;

/// Periods per year used to annualize Sharpe and Sortino: crypto trades every day of
/// the year, so 365 daily periods (not 252 trading days).
pub const PERIODS_PER_YEAR: f64 = 365.0;

/// Digits kept for ratios (drawdown %, win rate, profit factor, exposure): enough
/// for a report, few enough that the numbers are stable across platforms.
pub const RATIO_DP: u32 = 6;

/// Running peak and the deepest fall from it, absolute and relative to the peak.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Drawdown {
    peak: Option<Decimal>,
    /// Deepest `peak − equity` seen.
    pub max_abs: Decimal,
    /// Deepest `(peak − equity) / peak` seen (peaks ≤ 0 have no relative drawdown).
    pub max_ratio: Decimal,
}

impl Drawdown {
    /// Take the next equity value; returns the current drawdown (`peak − equity`).
    pub fn push(&mut self, equity: Decimal) -> Decimal {
        let peak = match self.peak {
            Some(peak) if peak >= equity => peak,
            _ => {
                self.peak = Some(equity);
                return Decimal::ZERO;
            }
        };
        // Invariant: peak ≥ equity and both are sums the projection checked, so the
        // difference fits; the fallback is unreachable.
        let fall = peak.checked_sub(equity).unwrap_or(Decimal::ZERO);
        self.max_abs = self.max_abs.max(fall);
        if peak.is_positive() {
            let ratio = fall.checked_div(peak).unwrap_or(Decimal::ZERO);
            self.max_ratio = self.max_ratio.max(ratio.round_dp(RATIO_DP));
        }
        fall
    }

    /// The running peak, `None` before the first value.
    pub fn peak(&self) -> Option<Decimal> {
        self.peak
    }
}

/// Per-day returns of an equity curve, accumulated as running sums (Welford).
///
/// A day's return is its last equity over the previous day's last equity, minus one;
/// the first day is measured from the curve's first value. Days without a point
/// (no candle, no trade) between the first and the last return 0: the account held
/// its value. A period whose opening equity is not positive has no return and is skipped.
#[derive(Debug, Clone, Default)]
pub struct DailyReturns {
    /// Day index (`ts / DAY_NS`) of the open period and its last equity.
    current: Option<(i64, Decimal)>,
    /// Equity the open period is measured from.
    base: Option<Decimal>,
    n: u64,
    mean: f64,
    m2: f64,
    downside_sq: f64,
}

impl DailyReturns {
    /// Take the next point. Times must not go backwards (the curve clamps them).
    pub fn push(&mut self, ts: Timestamp, equity: Decimal) {
        let day = ts.as_nanos().div_euclid(DAY_NS);
        match self.current {
            None => {
                self.base = Some(equity);
                self.current = Some((day, equity));
            }
            Some((open, _)) if day <= open => self.current = Some((open, equity)),
            Some((open, close)) => {
                self.close_period(close);
                // Empty days in between: zero returns, added in O(1).
                self.add_zeros((day - open - 1) as u64);
                self.current = Some((day, equity));
            }
        }
    }

    /// Close the open period (call once, after the last point).
    pub fn finish(&mut self) {
        if let Some((_, close)) = self.current.take() {
            self.close_period(close);
        }
    }

    fn close_period(&mut self, close: Decimal) {
        let Some(base) = self.base.replace(close) else {
            return;
        };
        if !base.is_positive() {
            return;
        }
        let ratio = close.checked_div(base).unwrap_or(Decimal::ONE);
        self.add(ratio.to_f64_lossy() - 1.0);
    }

    fn add(&mut self, r: f64) {
        self.n += 1;
        let delta = r - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (r - self.mean);
        if r < 0.0 {
            self.downside_sq += r * r;
        }
    }

    /// `k` zero returns at once: Welford's merge of a block with mean 0 and variance 0.
    fn add_zeros(&mut self, k: u64) {
        if k == 0 {
            return;
        }
        let (n_a, n_b) = (self.n as f64, k as f64);
        let n = n_a + n_b;
        let delta = -self.mean;
        self.m2 += delta * delta * n_a * n_b / n;
        self.mean *= n_a / n;
        self.n += k;
    }

    /// Number of daily returns.
    pub fn periods(&self) -> u64 {
        self.n
    }

    /// Annualized Sharpe ratio: mean / sample standard deviation × √365, with a zero
    /// risk-free rate. `None` with fewer than two periods or no variation.
    pub fn sharpe(&self) -> Option<f64> {
        if self.n < 2 {
            return None;
        }
        let sd = (self.m2 / (self.n - 1) as f64).sqrt();
        (sd > 0.0).then(|| self.mean / sd * PERIODS_PER_YEAR.sqrt())
    }

    /// Annualized Sortino ratio: mean / downside deviation × √365, where the downside
    /// deviation is `sqrt(Σ min(r, 0)² / n)` (target 0). `None` with fewer than two
    /// periods or no losing period.
    pub fn sortino(&self) -> Option<f64> {
        if self.n < 2 {
            return None;
        }
        let dd = (self.downside_sq / self.n as f64).sqrt();
        (dd > 0.0).then(|| self.mean / dd * PERIODS_PER_YEAR.sqrt())
    }
}

/// `part / whole` rounded to [`RATIO_DP`]; `None` when `whole` is zero.
pub fn ratio(part: Decimal, whole: Decimal) -> Option<Decimal> {
    if whole.is_zero() {
        return None;
    }
    part.checked_div(whole).map(|r| r.round_dp(RATIO_DP))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn day(n: i64) -> Timestamp {
        Timestamp::from_nanos(n * DAY_NS + 3_600_000_000_000)
    }

    /// Drawdown after feeding `series`: (max abs, max ratio).
    fn check_drawdown(series: &[&str], abs: &str, pct: &str) {
        let mut dd = Drawdown::default();
        for v in series {
            dd.push(d(v));
        }
        assert_eq!((dd.max_abs, dd.max_ratio), (d(abs), d(pct)), "{series:?}");
    }

    #[test]
    fn drawdown_is_the_deepest_fall_from_a_running_peak() {
        // Peak 120 → 90 is 30 (25%); the later 130 → 117 is only 13 (10%).
        check_drawdown(&["100", "120", "90", "130", "117"], "30", "0.25");
        // Monotone up: no drawdown.
        check_drawdown(&["100", "101", "102"], "0", "0");
        // The deepest absolute and the deepest relative fall can differ: 10 → 5 is 50%,
        // 1000 → 900 is 100 but only 10%.
        check_drawdown(&["10", "5", "1000", "900"], "100", "0.5");
        // A first value below later ones is never a drawdown.
        check_drawdown(&["50", "40"], "10", "0.2");
    }

    fn returns(points: &[(i64, &str)]) -> DailyReturns {
        let mut r = DailyReturns::default();
        for (n, v) in points {
            r.push(day(*n), d(v));
        }
        r.finish();
        r
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn sharpe_and_sortino_of_a_hand_computed_series() {
        // Start 100 on day 0; closes 110, 99, 108.9 on days 0..=2 (several points a day:
        // only the last counts). Returns +10%, −10%, +10%.
        let r = returns(&[(0, "100"), (0, "105"), (0, "110"), (1, "99"), (2, "108.9")]);
        assert_eq!(r.periods(), 3);
        // mean 1/30; sample variance (2·(1/15)² + (2/15)²)/2 = 1/75; sd = 0.11547005.
        let sharpe = (1.0 / 30.0) / (1.0f64 / 75.0).sqrt() * 365f64.sqrt();
        assert!(close(r.sharpe().unwrap(), sharpe), "{:?}", r.sharpe());
        assert!((sharpe - 5.515131).abs() < 1e-6, "{sharpe}");
        // Downside deviation sqrt(0.01 / 3).
        let sortino = (1.0 / 30.0) / (0.01f64 / 3.0).sqrt() * 365f64.sqrt();
        assert!(close(r.sortino().unwrap(), sortino), "{:?}", r.sortino());
        assert!((sortino - 11.030261).abs() < 1e-6, "{sortino}");
    }

    #[test]
    fn empty_days_count_as_zero_returns() {
        // +10% on day 0, nothing on days 1..=3, −10% on day 4: returns 0.1, 0, 0, 0, −0.1.
        let gaps = returns(&[(0, "100"), (0, "110"), (4, "99")]);
        let dense = {
            let mut r = DailyReturns::default();
            for x in [0.1, 0.0, 0.0, 0.0, -0.1] {
                r.add(x);
            }
            r
        };
        assert_eq!(gaps.periods(), 5);
        assert!(close(gaps.mean, dense.mean));
        assert!(close(gaps.m2, dense.m2));
        assert!(close(gaps.sharpe().unwrap(), 0.0));
        assert!(gaps.sortino().unwrap().abs() < 1e-12);
    }

    #[test]
    fn ratios_need_two_periods_and_some_risk() {
        assert_eq!(returns(&[(0, "100"), (0, "110")]).sharpe(), None);
        // Only gains: a Sharpe (they vary) but no downside, so no Sortino.
        let up = returns(&[(0, "100"), (1, "110"), (2, "132")]);
        assert!(up.sharpe().is_some());
        assert_eq!(up.sortino(), None);
        // Flat: no variation at all.
        assert_eq!(
            returns(&[(0, "100"), (1, "100"), (2, "100")]).sharpe(),
            None
        );
    }

    #[test]
    fn ratio_rounds_and_refuses_zero() {
        assert_eq!(ratio(d("1"), d("3")), Some(d("0.333333")));
        assert_eq!(ratio(d("1"), d("0")), None);
    }
}
