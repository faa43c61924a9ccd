//! Deterministic sample candles for demos and tests: a seeded random walk with trending
//! regimes, written out as CSV the candle reader reads back.
//!
//! The generator is a splitmix64 PRNG written here (no `rand`), and all arithmetic is in
//! integer ticks of 0.1 and parts per million, never `f64`, so the same seed gives the
//! same bars on every platform. It does not model any real market; it only produces
//! plausible, internally consistent bars (low ≤ open, close ≤ high, positive volume).

use std::io::{self, Write};

use crate::event::{Candle, Decimal, PositionKey, Timeframe, Timestamp};

/// The market stamped on generated bars: `sample:spot:BTCUSDT`.
pub fn sample_market() -> PositionKey {
    PositionKey::new("sample", "spot", "BTCUSDT")
}

/// Parts per million: the unit of returns and volatility below.
const PPM: i128 = 1_000_000;
/// A regime's drift per bar is drawn from ±this (300 ppm = 0.03% per bar).
const TREND_PPM_MAX: i64 = 300;
/// A regime's volatility per bar is drawn from this range (0.05%..0.3% per bar).
const VOL_PPM_RANGE: (u64, u64) = (500, 3_000);
/// A regime lasts this many bars (inclusive range).
const REGIME_BARS_RANGE: (u64, u64) = (20, 200);

/// splitmix64 (Steele, Lea, Flood 2014): tiny, fast and well-distributed enough for
/// sample data. Not for anything that needs unpredictability.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` (modulo bias is irrelevant at these ranges).
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// Uniform in `-max..=max`.
    fn signed(&mut self, max: i64) -> i64 {
        self.between(0, 2 * max.unsigned_abs()) as i64 - max
    }
}

/// The current trend and volatility, and how long they last.
struct Regime {
    trend_ppm: i64,
    vol_ppm: i64,
    bars_left: u64,
}

impl Regime {
    fn draw(rng: &mut SplitMix64) -> Regime {
        Regime {
            trend_ppm: rng.signed(TREND_PPM_MAX),
            vol_ppm: rng.between(VOL_PPM_RANGE.0, VOL_PPM_RANGE.1) as i64,
            bars_left: rng.between(REGIME_BARS_RANGE.0, REGIME_BARS_RANGE.1),
        }
    }
}

/// `count` consecutive closed bars of `timeframe` from `start`, opening at `start_px`
/// (rounded to 0.1; at least 0.1), for [`sample_market`]. The same arguments always
/// give the same bars.
pub fn generate_candles(
    seed: u64,
    start: Timestamp,
    count: usize,
    timeframe: Timeframe,
    start_px: Decimal,
) -> Vec<Candle> {
    let mut rng = SplitMix64(seed);
    let mut regime = Regime::draw(&mut rng);
    let mut open = price_to_ticks(start_px);
    let market = sample_market();
    let mut bars = Vec::with_capacity(count);
    for i in 0..count {
        if regime.bars_left == 0 {
            regime = Regime::draw(&mut rng);
        }
        regime.bars_left -= 1;
        let (high, low, close, volume) = next_bar(&mut rng, &regime, open);
        let offset = timeframe.nanos().saturating_mul(i as i64);
        bars.push(Candle {
            venue: market.venue.clone(),
            book: market.book.clone(),
            instrument: market.instrument.clone(),
            timeframe,
            open_time: start.plus_nanos(offset),
            open: ticks_to_price(open),
            high: ticks_to_price(high),
            low: ticks_to_price(low),
            close: ticks_to_price(close),
            volume,
            closed: true,
        });
        open = close;
    }
    bars
}

/// High, low and close ticks and the volume of one bar opening at `open` ticks.
fn next_bar(rng: &mut SplitMix64, regime: &Regime, open: i64) -> (i64, i64, i64, Decimal) {
    let vol = regime.vol_ppm;
    // The sum of four uniforms is close enough to normal for sample data.
    let noise: i64 = (0..4).map(|_| rng.signed(vol)).sum::<i64>() / 2;
    let ret_ppm = regime.trend_ppm + noise;
    let move_ticks = |ppm: i64| (i128::from(open) * i128::from(ppm) / PPM) as i64;
    let close = (open + move_ticks(ret_ppm)).max(1);
    let wick = |rng: &mut SplitMix64| move_ticks(rng.between(0, vol.unsigned_abs() / 2) as i64);
    let high = open.max(close) + wick(rng);
    let low = (open.min(close) - wick(rng)).max(1);
    // Busier bars move more: a base plus a share proportional to the move, in 0.001s.
    let volume_milli = rng.between(20_000, 120_000) as i64 + ret_ppm.abs() * 40;
    let volume = Decimal::from_parts(volume_milli, 3).unwrap_or(Decimal::ONE);
    (high, low, close, volume)
}

/// Price → ticks of 0.1, at least one tick.
fn price_to_ticks(px: Decimal) -> i64 {
    let ticks = px
        .checked_mul(Decimal::from_int(10))
        .map(|t| t.round_dp(0).to_canonical_parts())
        .and_then(|(mantissa, scale)| {
            let whole = mantissa.checked_mul(10_i128.checked_pow(u32::from(scale))?)?;
            i64::try_from(whole).ok()
        });
    ticks.unwrap_or(1).max(1)
}

fn ticks_to_price(ticks: i64) -> Decimal {
    Decimal::from_parts(ticks, 1).unwrap_or(Decimal::ZERO)
}

/// Write `candles` as CSV with header `time,open,high,low,close,volume`, times as RFC
/// 3339 open times: the layout [`super::CandleReader`] reads back.
pub fn write_candles_csv(candles: &[Candle], mut out: impl Write) -> io::Result<()> {
    writeln!(out, "time,open,high,low,close,volume")?;
    for c in candles {
        writeln!(
            out,
            "{},{},{},{},{},{}",
            c.open_time, c.open, c.high, c.low, c.close, c.volume
        )?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, Payload};
    use crate::ingest::{CandleOptions, CandleReader};

    fn generate(seed: u64, count: usize) -> Vec<Candle> {
        let start = Timestamp::parse_rfc3339("2024-01-01T00:00:00Z").unwrap();
        let px = "42000.04".parse().unwrap();
        generate_candles(seed, start, count, "1m".parse().unwrap(), px)
    }

    #[test]
    fn same_seed_same_bars_other_seed_other_bars() {
        assert_eq!(generate(7, 500), generate(7, 500));
        assert_ne!(generate(7, 500), generate(8, 500));
        // A prefix does not depend on how many bars follow.
        assert_eq!(generate(7, 500)[..100], generate(7, 100)[..]);
        let first = &generate(7, 1)[0];
        assert_eq!(first.open, "42000".parse().unwrap());
    }

    #[test]
    fn bars_are_consistent_contiguous_and_on_the_tick() {
        let bars = generate(42, 5_000);
        let tick: Decimal = "0.1".parse().unwrap();
        for (i, pair) in bars.windows(2).enumerate() {
            assert_eq!(
                pair[1].open, pair[0].close,
                "bar {i}: opens at the last close"
            );
            let step = pair[1].open_time.as_nanos() - pair[0].open_time.as_nanos();
            assert_eq!(step, 60_000_000_000);
        }
        for c in &bars {
            assert!(c.low <= c.open && c.low <= c.close, "{c:?}");
            assert!(c.open <= c.high && c.close <= c.high, "{c:?}");
            assert!(c.low.is_positive() && c.volume.is_positive(), "{c:?}");
            for px in [c.open, c.high, c.low, c.close] {
                assert_eq!(
                    px.round_to_step(tick),
                    Some(px),
                    "{px} is not on the 0.1 grid"
                );
            }
            Payload::Candle(c.clone()).validate().unwrap();
        }
        let highest = bars.iter().map(|c| c.high).max().unwrap();
        let lowest = bars.iter().map(|c| c.low).min().unwrap();
        assert!(highest > lowest, "the walk moves");
        assert!(bars.iter().any(|c| c.close > c.open) && bars.iter().any(|c| c.close < c.open));
    }

    #[test]
    fn written_csv_reads_back_as_the_same_bars() {
        let bars = generate(3, 300);
        let mut csv = Vec::new();
        write_candles_csv(&bars, &mut csv).unwrap();
        let text = String::from_utf8(csv).unwrap();
        assert!(text.starts_with("time,open,high,low,close,volume\n2024-01-01T00:00:00Z,"));
        let options = CandleOptions {
            market: sample_market(),
            timeframe: None,
        };
        let reader = CandleReader::new(text.as_bytes(), "sample.csv", options).unwrap();
        assert_eq!(reader.timeframe().to_string(), "1m");
        let read: Vec<Candle> = reader
            .map(|e| match e.unwrap() {
                Event {
                    payload: Payload::Candle(c),
                    ..
                } => c,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(read, bars);
    }

    #[test]
    fn a_non_positive_start_price_starts_at_one_tick() {
        let start = Timestamp::from_nanos(0);
        let bars = generate_candles(1, start, 3, "1h".parse().unwrap(), Decimal::ZERO);
        assert_eq!(bars[0].open, "0.1".parse().unwrap());
        assert!(bars.iter().all(|c| c.low.is_positive()));
    }
}
