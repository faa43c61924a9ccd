//! Configuration of the simulated exchange: fees, request latency, where market orders
//! fill, slippage, the liquidity model and the starting equity.
//!
//! Plain data with defaults; the rules that use it are in the module doc of `sim`.

use std::collections::BTreeMap;

use crate::event::{Decimal, PositionKey, Timeframe};

/// Maker and taker fee rates as fractions of notional (`0.0002` = 2 bps). Positive is a
/// cost, negative a rebate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeRates {
    /// Rate charged when a resting order is hit.
    pub maker: Decimal,
    /// Rate charged when an order takes liquidity.
    pub taker: Decimal,
}

/// Where a market order fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarketFill {
    /// At the close of the last bar (or price of the last trade) seen, immediately on
    /// acceptance: what NautilusTrader does with bar data.
    BarClose,
    /// At the open of the next bar (or the price of the next trade) after acceptance.
    NextOpen,
}

/// How much of the market's traded volume our orders may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiquidityModel {
    /// Every order fills in full when its price is reached.
    Unlimited,
    /// At most this share of each bar's volume (or of each trade print's quantity) per
    /// instrument, shared among orders in time priority (`0.1` = 10%).
    VolumeShare(Decimal),
}

/// Everything that shapes the simulation. Deterministic: no field reads a clock.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Fee rates for instruments not in `fees_by_key`.
    pub fees: FeeRates,
    /// Fee rates per instrument, overriding `fees`.
    pub fees_by_key: BTreeMap<PositionKey, FeeRates>,
    /// Time from a request (submit, cancel, amend) to the venue acting on it; negative
    /// values count as zero.
    pub submit_latency_ns: i64,
    /// Where market orders fill.
    pub market_fill: MarketFill,
    /// Slippage against the taker on market and stop-market fills, in basis points.
    pub slippage_bps: Decimal,
    /// Price grid of instruments not in `ticks_by_key`: a taker fill price is moved onto
    /// it against the taker (a venue never fills off its grid).
    pub tick: Decimal,
    /// Price grid per instrument (the venue's tick size), overriding `tick`.
    pub ticks_by_key: BTreeMap<PositionKey, Decimal>,
    /// Share of market volume our orders may take.
    pub liquidity: LiquidityModel,
    /// Only closed candles of this timeframe are matched (so 1m and 1h bars of the
    /// same instrument are not both traded against); `None` matches every closed candle.
    pub bar_timeframe: Option<Timeframe>,
    /// Starting cash, in the quote currency.
    pub initial_equity: Decimal,
    /// Prefix of execution ids (`{prefix}{n}`) and venue order ids (`{prefix}o{n}`).
    /// `run` makes it unique per ledger (`sim-{seq of the session_started}-`): a run
    /// appended to a ledger must not reuse an earlier run's ids, or its fills would be
    /// taken for duplicates.
    pub exec_id_prefix: String,
}

impl SimConfig {
    /// The fee rates of `key`.
    pub fn fees_for(&self, key: &PositionKey) -> FeeRates {
        self.fees_by_key.get(key).copied().unwrap_or(self.fees)
    }

    /// The price grid of `key`.
    pub fn tick_for(&self, key: &PositionKey) -> Decimal {
        self.ticks_by_key.get(key).copied().unwrap_or(self.tick)
    }
}

impl Default for SimConfig {
    /// Bybit linear base-tier fees (2 bps maker, 5.5 bps taker), no latency, bar-close
    /// market fills without slippage, unlimited liquidity, 10 000 quote of equity, a
    /// 1e-8 price grid. `run` replaces fees and grids with each instrument's venue rules.
    fn default() -> SimConfig {
        SimConfig {
            fees: FeeRates {
                maker: Decimal::from_parts(2, 4).unwrap_or_default(),
                taker: Decimal::from_parts(55, 5).unwrap_or_default(),
            },
            fees_by_key: BTreeMap::new(),
            submit_latency_ns: 0,
            market_fill: MarketFill::BarClose,
            slippage_bps: Decimal::ZERO,
            tick: Decimal::from_parts_const(1, 8),
            ticks_by_key: BTreeMap::new(),
            liquidity: LiquidityModel::Unlimited,
            bar_timeframe: None,
            initial_equity: Decimal::from_int(10_000),
            exec_id_prefix: "sim-".to_string(),
        }
    }
}
