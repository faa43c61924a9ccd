//! Streaming technical indicators over exact decimals: EMA, SMA, ATR (Wilder), RSI
//! (Wilder), rolling highest high and lowest low.
//!
//! Each update is O(1) (amortized O(1) for the rolling extremes, which keep a monotonic
//! deque) and memory is bounded by the window length, never by how many bars were seen.
//! Every indicator reports `None` until it has seen enough bars (`ready()`).
//!
//! Rounding: values are `rust_decimal` numbers (a 96-bit mantissa: 28 to 29 significant
//! digits). Divisions (`2 / (n + 1)`, `sum / n`, the RSI ratio) round in the last digit
//! the mantissa holds, so results are deterministic across runs and machines, though not
//! infinitely precise.
//! An arithmetic overflow is reported as [`IndicatorOverflow`], never a panic.
//!
//! This module knows nothing about timeframes or strategies: it is fed bars, in order.

use std::collections::VecDeque;

use crate::event::Decimal;

use super::rolling::{Extreme, Rolling};

/// The parts of a bar an indicator can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ohlcv {
    /// Open price.
    pub open: Decimal,
    /// High price.
    pub high: Decimal,
    /// Low price.
    pub low: Decimal,
    /// Close price.
    pub close: Decimal,
    /// Traded volume.
    pub volume: Decimal,
}

/// Decimal arithmetic overflowed inside an indicator (28 significant digits exceeded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("decimal overflow in indicator arithmetic")]
pub struct IndicatorOverflow;

/// Which indicator, with its window length (always ≥ 1; see [`IndicatorSpec::new`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndicatorKind {
    /// Exponential moving average of the close; seeded with the SMA of the first `n` by
    /// default, or with the first close (see [`EmaSeed`]).
    Ema,
    /// Simple moving average of the close.
    Sma,
    /// Wilder's average true range.
    Atr,
    /// Wilder's relative strength index of the close, 0..=100.
    Rsi,
    /// Highest high of the last `n` bars.
    Highest,
    /// Lowest low of the last `n` bars.
    Lowest,
}

/// How an EMA gets its first value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmaSeed {
    /// The mean of the first `n` closes, so the EMA is ready after `n` bars, like the
    /// SMA (the default: the common charting convention, and what plays always had).
    #[default]
    Sma,
    /// The first close itself, ready after one bar (`pandas` `ewm(adjust=False)`); the
    /// early values lean on that one close, so give the play a bar-count warm-up.
    First,
}

impl EmaSeed {
    /// The spelling in a play's feature spec.
    pub const CHOICES: &'static str = "sma (the default) or first";

    /// The seed called `name` in a play.
    pub fn from_name(name: &str) -> Option<EmaSeed> {
        match name {
            "sma" => Some(EmaSeed::Sma),
            "first" => Some(EmaSeed::First),
            _ => None,
        }
    }
}

/// An indicator kind and a validated window length (and, for the EMA, its seed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndicatorSpec {
    kind: IndicatorKind,
    period: u32,
    seed: EmaSeed,
}

/// Longest window accepted: bounds the memory of one indicator (a few hundred KB of
/// decimals) while covering a year of daily bars or a week of minutes many times over.
pub const PERIOD_MAX: u32 = 10_000;

impl IndicatorSpec {
    /// `None` unless `1 <= period <= PERIOD_MAX`.
    pub fn new(kind: IndicatorKind, period: u32) -> Option<IndicatorSpec> {
        (1..=PERIOD_MAX).contains(&period).then_some(IndicatorSpec {
            kind,
            period,
            seed: EmaSeed::default(),
        })
    }

    /// The same spec with the EMA seeded by `seed` (other kinds ignore it; the play
    /// refuses `seed` on them).
    pub fn with_seed(self, seed: EmaSeed) -> IndicatorSpec {
        IndicatorSpec { seed, ..self }
    }

    /// The EMA seed.
    pub fn seed(self) -> EmaSeed {
        self.seed
    }

    /// The kind.
    pub fn kind(self) -> IndicatorKind {
        self.kind
    }

    /// The window length.
    pub fn period(self) -> u32 {
        self.period
    }

    /// A fresh indicator in its warm-up state.
    pub fn build(self) -> Indicator {
        let n = self.period as usize;
        match self.kind {
            IndicatorKind::Ema => Indicator::Ema(Ema::with_seed(n, self.seed)),
            IndicatorKind::Sma => Indicator::Sma(Sma::new(n)),
            IndicatorKind::Atr => Indicator::Atr(Atr::new(n)),
            IndicatorKind::Rsi => Indicator::Rsi(Rsi::new(n)),
            IndicatorKind::Highest => Indicator::Highest(Rolling::new(n, Extreme::High)),
            IndicatorKind::Lowest => Indicator::Lowest(Rolling::new(n, Extreme::Low)),
        }
    }
}

/// Any indicator, dispatched by kind (a closed set, so an enum rather than a trait object).
#[derive(Debug, Clone)]
pub enum Indicator {
    /// See [`Ema`].
    Ema(Ema),
    /// See [`Sma`].
    Sma(Sma),
    /// See [`Atr`].
    Atr(Atr),
    /// See [`Rsi`].
    Rsi(Rsi),
    /// Rolling highest high.
    Highest(Rolling),
    /// Rolling lowest low.
    Lowest(Rolling),
}

impl Indicator {
    /// Feed one closed bar.
    pub fn update(&mut self, bar: &Ohlcv) -> Result<(), IndicatorOverflow> {
        match self {
            Indicator::Ema(i) => i.update(bar.close),
            Indicator::Sma(i) => i.update(bar.close),
            Indicator::Atr(i) => i.update(bar),
            Indicator::Rsi(i) => i.update(bar.close),
            Indicator::Highest(i) => i.update(bar.high),
            Indicator::Lowest(i) => i.update(bar.low),
        }
    }

    /// The current value, `None` during warm-up.
    pub fn value(&self) -> Option<Decimal> {
        match self {
            Indicator::Ema(i) => i.value(),
            Indicator::Sma(i) => i.value(),
            Indicator::Atr(i) => i.value(),
            Indicator::Rsi(i) => i.value(),
            Indicator::Highest(i) | Indicator::Lowest(i) => i.value(),
        }
    }

    /// True once warm-up is over.
    pub fn ready(&self) -> bool {
        self.value().is_some()
    }
}

fn add(a: Decimal, b: Decimal) -> Result<Decimal, IndicatorOverflow> {
    a.checked_add(b).ok_or(IndicatorOverflow)
}

fn sub(a: Decimal, b: Decimal) -> Result<Decimal, IndicatorOverflow> {
    a.checked_sub(b).ok_or(IndicatorOverflow)
}

fn mul(a: Decimal, b: Decimal) -> Result<Decimal, IndicatorOverflow> {
    a.checked_mul(b).ok_or(IndicatorOverflow)
}

fn div(a: Decimal, b: Decimal) -> Result<Decimal, IndicatorOverflow> {
    a.checked_div(b).ok_or(IndicatorOverflow)
}

fn dec(n: usize) -> Decimal {
    // Invariant: n <= PERIOD_MAX + 1, far inside i64.
    Decimal::from_int(n as i64)
}

/// Wilder smoothing step: `(prev * (n - 1) + x) / n`.
fn wilder(prev: Decimal, x: Decimal, n: usize) -> Result<Decimal, IndicatorOverflow> {
    div(add(mul(prev, dec(n - 1))?, x)?, dec(n))
}

/// Simple moving average: a running sum over a ring buffer of the last `n` values.
#[derive(Debug, Clone)]
pub struct Sma {
    n: usize,
    window: VecDeque<Decimal>,
    sum: Decimal,
}

impl Sma {
    /// Window of `n` (≥ 1) values.
    pub fn new(n: usize) -> Sma {
        Sma {
            n: n.max(1),
            window: VecDeque::with_capacity(n.max(1)),
            sum: Decimal::ZERO,
        }
    }

    /// Feed one value.
    pub fn update(&mut self, x: Decimal) -> Result<(), IndicatorOverflow> {
        let mut sum = add(self.sum, x)?;
        if self.window.len() == self.n {
            if let Some(old) = self.window.pop_front() {
                sum = sub(sum, old)?;
            }
        }
        self.window.push_back(x);
        self.sum = sum;
        Ok(())
    }

    /// Mean of the last `n` values, once `n` were seen.
    pub fn value(&self) -> Option<Decimal> {
        if self.window.len() < self.n {
            return None;
        }
        self.sum.checked_div(dec(self.n))
    }

    /// True once `n` values were seen.
    pub fn ready(&self) -> bool {
        self.window.len() == self.n
    }
}

/// Exponential moving average with `alpha = 2 / (n + 1)`, seeded with the SMA of the
/// first `n` values (so it is ready after `n` values, like the SMA) or, with
/// [`EmaSeed::First`], with the first value (ready at once).
#[derive(Debug, Clone)]
pub struct Ema {
    alpha: Decimal,
    seed: Sma,
    value: Option<Decimal>,
}

impl Ema {
    /// Period `n` (≥ 1), seeded with the SMA of the first `n`.
    pub fn new(n: usize) -> Ema {
        Ema::with_seed(n, EmaSeed::Sma)
    }

    /// Period `n` (≥ 1) with the given seed. The first value is the seed SMA's, over `n`
    /// values or over one (the first value itself).
    pub fn with_seed(n: usize, seed: EmaSeed) -> Ema {
        let n = n.max(1);
        let seed_len = match seed {
            EmaSeed::Sma => n,
            EmaSeed::First => 1,
        };
        Ema {
            // 2 / (n + 1) with n >= 1 never divides by zero.
            alpha: Decimal::from_int(2)
                .checked_div(dec(n + 1))
                .unwrap_or(Decimal::ONE),
            seed: Sma::new(seed_len),
            value: None,
        }
    }

    /// Feed one value.
    pub fn update(&mut self, x: Decimal) -> Result<(), IndicatorOverflow> {
        self.value = match self.value {
            None => {
                self.seed.update(x)?;
                self.seed.value()
            }
            // prev + alpha * (x - prev)
            Some(prev) => Some(add(prev, mul(self.alpha, sub(x, prev)?)?)?),
        };
        Ok(())
    }

    /// Current value, once the seed is in (`n` values, or one with `First`).
    pub fn value(&self) -> Option<Decimal> {
        self.value
    }

    /// True once the seed is in.
    pub fn ready(&self) -> bool {
        self.value.is_some()
    }
}

/// Wilder's average true range: the first value is the mean of the first `n` true
/// ranges (the very first bar's true range is `high - low`), then Wilder smoothing.
#[derive(Debug, Clone)]
pub struct Atr {
    n: usize,
    prev_close: Option<Decimal>,
    seen: usize,
    seed_sum: Decimal,
    value: Option<Decimal>,
}

impl Atr {
    /// Period `n` (≥ 1).
    pub fn new(n: usize) -> Atr {
        Atr {
            n: n.max(1),
            prev_close: None,
            seen: 0,
            seed_sum: Decimal::ZERO,
            value: None,
        }
    }

    /// Feed one bar.
    pub fn update(&mut self, bar: &Ohlcv) -> Result<(), IndicatorOverflow> {
        let range = sub(bar.high, bar.low)?;
        let tr = match self.prev_close {
            None => range,
            Some(pc) => range
                .max(sub(bar.high, pc)?.abs())
                .max(sub(bar.low, pc)?.abs()),
        };
        self.prev_close = Some(bar.close);
        self.value = match self.value {
            Some(prev) => Some(wilder(prev, tr, self.n)?),
            None => {
                self.seed_sum = add(self.seed_sum, tr)?;
                self.seen += 1;
                match self.seen == self.n {
                    true => Some(div(self.seed_sum, dec(self.n))?),
                    false => None,
                }
            }
        };
        Ok(())
    }

    /// Current value, once `n` bars were seen.
    pub fn value(&self) -> Option<Decimal> {
        self.value
    }

    /// True once `n` bars were seen.
    pub fn ready(&self) -> bool {
        self.value.is_some()
    }
}

/// Wilder's RSI: average gain and loss seeded with the mean of the first `n` changes
/// (so `n + 1` closes are needed), then Wilder smoothing. `100` when there were no
/// losses, `50` when there were neither gains nor losses.
#[derive(Debug, Clone)]
pub struct Rsi {
    n: usize,
    prev_close: Option<Decimal>,
    changes: usize,
    gain: Decimal,
    loss: Decimal,
    value: Option<Decimal>,
}

impl Rsi {
    /// Period `n` (≥ 1).
    pub fn new(n: usize) -> Rsi {
        Rsi {
            n: n.max(1),
            prev_close: None,
            changes: 0,
            gain: Decimal::ZERO,
            loss: Decimal::ZERO,
            value: None,
        }
    }

    /// Feed one close.
    pub fn update(&mut self, close: Decimal) -> Result<(), IndicatorOverflow> {
        let Some(prev) = self.prev_close.replace(close) else {
            return Ok(());
        };
        let change = sub(close, prev)?;
        let (up, down) = match change.is_negative() {
            true => (Decimal::ZERO, change.abs()),
            false => (change, Decimal::ZERO),
        };
        if self.changes < self.n {
            // Seeding: accumulate sums, divide once the n-th change is in.
            self.changes += 1;
            self.gain = add(self.gain, up)?;
            self.loss = add(self.loss, down)?;
            if self.changes < self.n {
                return Ok(());
            }
            self.gain = div(self.gain, dec(self.n))?;
            self.loss = div(self.loss, dec(self.n))?;
        } else {
            self.gain = wilder(self.gain, up, self.n)?;
            self.loss = wilder(self.loss, down, self.n)?;
        }
        self.value = Some(rsi_from(self.gain, self.loss)?);
        Ok(())
    }

    /// Current value in 0..=100, once `n + 1` closes were seen.
    pub fn value(&self) -> Option<Decimal> {
        self.value
    }

    /// True once `n + 1` closes were seen.
    pub fn ready(&self) -> bool {
        self.value.is_some()
    }
}

fn rsi_from(gain: Decimal, loss: Decimal) -> Result<Decimal, IndicatorOverflow> {
    let hundred = Decimal::from_int(100);
    if loss.is_zero() {
        return Ok(match gain.is_zero() {
            true => Decimal::from_int(50),
            false => hundred,
        });
    }
    // 100 - 100 / (1 + gain / loss) == 100 * gain / (gain + loss), one division fewer.
    div(mul(hundred, gain)?, add(gain, loss)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn bar(h: &str, l: &str, c: &str) -> Ohlcv {
        Ohlcv {
            open: d(c),
            high: d(h),
            low: d(l),
            close: d(c),
            volume: Decimal::ZERO,
        }
    }

    /// Feeds `closes` to `spec` and returns the value after each update.
    fn run_closes(spec: IndicatorSpec, closes: &[&str]) -> Vec<Option<Decimal>> {
        let mut ind = spec.build();
        closes
            .iter()
            .map(|c| {
                ind.update(&bar(c, c, c)).unwrap();
                ind.value()
            })
            .collect()
    }

    fn spec(kind: IndicatorKind, n: u32) -> IndicatorSpec {
        IndicatorSpec::new(kind, n).unwrap()
    }

    /// A deterministic, wiggly price series (no randomness).
    fn series(len: usize) -> Vec<Decimal> {
        (0..len)
            .map(|i| {
                let wiggle = ((i * 37) % 23) as i64 - 11;
                Decimal::from_parts(100_000 + 25 * i as i64 + 40 * wiggle, 2).unwrap()
            })
            .collect()
    }

    #[test]
    fn spec_rejects_zero_and_huge_periods() {
        assert!(IndicatorSpec::new(IndicatorKind::Ema, 0).is_none());
        assert!(IndicatorSpec::new(IndicatorKind::Ema, PERIOD_MAX + 1).is_none());
        assert!(IndicatorSpec::new(IndicatorKind::Ema, PERIOD_MAX).is_some());
    }

    #[test]
    fn sma_hand_values() {
        let got = run_closes(spec(IndicatorKind::Sma, 3), &["1", "2", "3", "4", "10"]);
        assert_eq!(got[..4], [None, None, Some(d("2")), Some(d("3"))]);
        // 17/3 is not exact: it fills the 96-bit mantissa, last digit rounded.
        assert_eq!(got[4], Some(d("5.6666666666666666666666666667")));
    }

    #[test]
    fn ema_hand_values() {
        // n = 3: alpha = 0.5, seed = mean(2, 4, 6) = 4, then 4 + 0.5 * (10 - 4) = 7,
        // then 7 + 0.5 * (1 - 7) = 4.
        let got = run_closes(spec(IndicatorKind::Ema, 3), &["2", "4", "6", "10", "1"]);
        assert_eq!(
            got,
            vec![None, None, Some(d("4")), Some(d("7")), Some(d("4"))]
        );
    }

    #[test]
    fn ema_seeded_with_the_first_value() {
        // n = 3, alpha = 0.5, seed = 2 (the first close): 2, 2 + 0.5 * (4 - 2) = 3,
        // 3 + 0.5 * (6 - 3) = 4.5, 4.5 + 0.5 * (10 - 4.5) = 7.25, 7.25 + 0.5 * (1 - 7.25)
        // = 4.125. The SMA seed gives None, None, 4, 7, 4 on the same closes.
        let first = spec(IndicatorKind::Ema, 3).with_seed(EmaSeed::First);
        let got = run_closes(first, &["2", "4", "6", "10", "1"]);
        let some = |v: &[&str]| v.iter().map(|s| Some(d(s))).collect::<Vec<_>>();
        assert_eq!(got, some(&["2", "3", "4.5", "7.25", "4.125"]));
        assert_eq!(
            spec(IndicatorKind::Ema, 3).seed(),
            EmaSeed::Sma,
            "the default"
        );
        let sma = spec(IndicatorKind::Ema, 3).with_seed(EmaSeed::Sma);
        assert_eq!(
            run_closes(sma, &["2", "4", "6", "10", "1"]),
            vec![None, None, Some(d("4")), Some(d("7")), Some(d("4"))]
        );
        assert_eq!(EmaSeed::from_name("first"), Some(EmaSeed::First));
        assert_eq!(EmaSeed::from_name("sma"), Some(EmaSeed::Sma));
        assert_eq!(EmaSeed::from_name("SMA"), None);
    }

    #[test]
    fn atr_hand_values() {
        // n = 2. TR1 = 12 - 8 = 4; TR2 = max(11 - 9, |11 - 10|, |9 - 10|) = 2 → ATR 3;
        // TR3 = max(15 - 12, |15 - 10|, |12 - 10|) = 5 → (3 * 1 + 5) / 2 = 4.
        let mut atr = spec(IndicatorKind::Atr, 2).build();
        let bars = [
            bar("12", "8", "10"),
            bar("11", "9", "10"),
            bar("15", "12", "14"),
        ];
        let got: Vec<_> = bars
            .iter()
            .map(|b| {
                atr.update(b).unwrap();
                atr.value()
            })
            .collect();
        assert_eq!(got, vec![None, Some(d("3")), Some(d("4"))]);
    }

    #[test]
    fn rsi_hand_values() {
        // n = 2. Changes +2, -1 → avg gain 1, avg loss 0.5 → RSI 100 * 1 / 1.5 = 66.66…
        // Next change +3 → gain (1 + 3) / 2 = 2, loss (0.5 + 0) / 2 = 0.25 → 100*2/2.25.
        let got = run_closes(spec(IndicatorKind::Rsi, 2), &["10", "12", "11", "14"]);
        assert_eq!(got[..2], [None, None]);
        assert_eq!(got[2], d("100").checked_div(d("1.5")));
        assert_eq!(got[3], d("200").checked_div(d("2.25")));
        let flat = run_closes(spec(IndicatorKind::Rsi, 2), &["5", "5", "5"]);
        assert_eq!(flat[2], Some(d("50")));
        let up = run_closes(spec(IndicatorKind::Rsi, 2), &["5", "6", "7"]);
        assert_eq!(up[2], Some(d("100")));
    }

    #[test]
    fn rolling_extremes_hand_values() {
        let closes = ["3", "1", "4", "1", "5", "9", "2", "6"];
        let hi = run_closes(spec(IndicatorKind::Highest, 3), &closes);
        let lo = run_closes(spec(IndicatorKind::Lowest, 3), &closes);
        let some = |v: &[&str]| v.iter().map(|s| Some(d(s))).collect::<Vec<_>>();
        assert_eq!(hi[..2], [None, None]);
        assert_eq!(hi[2..], some(&["4", "4", "5", "9", "9", "9"])[..]);
        assert_eq!(lo[2..], some(&["1", "1", "1", "1", "2", "2"])[..]);
    }

    #[test]
    fn sma_and_extremes_match_naive_recomputation() {
        let xs = series(500);
        for n in [1usize, 5, 20, 77] {
            let mut sma = Sma::new(n);
            let mut hi = Rolling::new(n, Extreme::High);
            for (i, &x) in xs.iter().enumerate() {
                sma.update(x).unwrap();
                hi.update(x).unwrap();
                if i + 1 < n {
                    assert_eq!(sma.value(), None);
                    continue;
                }
                let win = &xs[i + 1 - n..=i];
                let sum = win
                    .iter()
                    .fold(Decimal::ZERO, |a, &b| a.checked_add(b).unwrap());
                assert_eq!(sma.value(), sum.checked_div(dec(n)), "sma n={n} i={i}");
                assert_eq!(hi.value(), win.iter().copied().max(), "max n={n} i={i}");
            }
        }
    }

    #[test]
    fn ema_matches_closed_form_recomputation() {
        // Closed form: EMA_t = (1-a)^(t-n+1) * seed + Σ a (1-a)^(t-k) x_k over k in
        // (n-1, t]; recomputed from scratch per bar, compared to 1e-18.
        let xs = series(300);
        let n = 10usize;
        let a = d("2").checked_div(dec(n + 1)).unwrap();
        let one_minus = Decimal::ONE.checked_sub(a).unwrap();
        let seed = xs[..n]
            .iter()
            .fold(Decimal::ZERO, |s, &x| s.checked_add(x).unwrap())
            .checked_div(dec(n))
            .unwrap();
        let mut ema = Ema::new(n);
        for (t, &x) in xs.iter().enumerate() {
            ema.update(x).unwrap();
            if t + 1 < n {
                assert!(!ema.ready());
                continue;
            }
            let mut acc = Decimal::ZERO;
            let mut w = Decimal::ONE;
            for k in (n..=t).rev() {
                let term = a.checked_mul(w).unwrap().checked_mul(xs[k]).unwrap();
                acc = acc.checked_add(term).unwrap();
                w = w.checked_mul(one_minus).unwrap();
            }
            let naive = acc.checked_add(w.checked_mul(seed).unwrap()).unwrap();
            let diff = naive.checked_sub(ema.value().unwrap()).unwrap().abs();
            assert!(diff < d("0.000000000000000001"), "t={t} diff={diff}");
        }
    }
}
