//! Price rules of the simulated exchange: when a bar reaches an order, at what price it
//! fills, slippage and its rounding, fees, and how much of a bar an order may take.
//!
//! Pure functions of decimals and one [`Bar`]; no order book, no reports. A trade print
//! is matched as a bar whose open, high, low and close are its price.

use crate::event::{Candle, Decimal, Side, TimeInForce, Timestamp, Trade};

/// A market event reduced to what matching needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bar {
    /// Event time: a candle's close time, a trade's print time.
    pub ts: Timestamp,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    /// Traded volume (a trade's quantity).
    pub volume: Decimal,
}

impl Bar {
    /// A closed candle as a bar.
    pub fn from_candle(ts: Timestamp, c: &Candle) -> Bar {
        Bar {
            ts,
            open: c.open,
            high: c.high,
            low: c.low,
            close: c.close,
            volume: c.volume,
        }
    }

    /// A trade print as a one-price bar.
    pub fn from_trade(ts: Timestamp, t: &Trade) -> Bar {
        Bar {
            ts,
            open: t.px,
            high: t.px,
            low: t.px,
            close: t.px,
            volume: t.qty,
        }
    }
}

/// A stop's trigger was touched: buy stops when `high >= trigger`, sell stops when
/// `low <= trigger`.
pub(crate) fn stop_touched(side: Side, trigger: Decimal, bar: &Bar) -> bool {
    match side {
        Side::Buy => bar.high >= trigger,
        Side::Sell => bar.low <= trigger,
    }
}

/// The price a triggered stop starts from: the trigger, or the open when the bar gapped
/// through it (buys: `max(trigger, open)`, sells: `min(trigger, open)`).
pub(crate) fn stop_px(side: Side, trigger: Decimal, bar: &Bar) -> Decimal {
    match side {
        Side::Buy => trigger.max(bar.open),
        Side::Sell => trigger.min(bar.open),
    }
}

/// A resting limit is filled only when the bar trades *through* it (buys: `low < px`,
/// sells: `high > px`): touching the price may mean the queue ahead was not cleared.
pub(crate) fn traded_through(side: Side, px: Decimal, bar: &Bar) -> bool {
    match side {
        Side::Buy => bar.low < px,
        Side::Sell => bar.high > px,
    }
}

/// A limit at `px` would cross a market at `reference` (buys: `px >= reference`).
pub(crate) fn crosses(side: Side, px: Decimal, reference: Decimal) -> bool {
    match side {
        Side::Buy => px >= reference,
        Side::Sell => px <= reference,
    }
}

/// `reference` moved `bps` against the taker (buys pay more, sells get less), then onto
/// the `tick` grid against the taker too (buys up, sells down): a bar close off the grid
/// (real files have them) fills at the next tick the taker would get. A reference on the
/// grid with zero slippage is returned as is. `None` on overflow or a tick that is not
/// positive.
pub(crate) fn slipped(
    side: Side,
    reference: Decimal,
    bps: Decimal,
    tick: Decimal,
) -> Option<Decimal> {
    let px = if bps.is_zero() {
        reference
    } else {
        let fraction = bps.checked_div(Decimal::from_int(10_000))?;
        let factor = Decimal::ONE.checked_add(side.sign().checked_mul(fraction)?)?;
        reference.checked_mul(factor)?
    };
    let step = tick;
    let down = px.floor_to_step(step)?;
    match side {
        Side::Sell => Some(down),
        Side::Buy if down < px => down.checked_add(step),
        Side::Buy => Some(down),
    }
}

/// A taker fill price from `reference`: slipped, then capped by the limit (a buy never
/// pays above `limit`, a sell never gets below it).
pub(crate) fn taker_px(
    side: Side,
    reference: Decimal,
    limit: Option<Decimal>,
    bps: Decimal,
    tick: Decimal,
) -> Option<Decimal> {
    let px = slipped(side, reference, bps, tick)?;
    Some(match (side, limit) {
        (_, None) => px,
        (Side::Buy, Some(limit)) => px.min(limit),
        (Side::Sell, Some(limit)) => px.max(limit),
    })
}

/// Fee of a fill: `px × qty × rate` (positive is a cost). `None` on overflow.
pub(crate) fn fee(px: Decimal, qty: Decimal, rate: Decimal) -> Option<Decimal> {
    px.checked_mul(qty)?.checked_mul(rate)
}

/// How much of `remaining` may fill now: the least of `remaining`, the bar's unused
/// `budget` (`None`: unlimited) and the reduce-only `cap`. Fill-or-kill is all or nothing.
pub(crate) fn fillable(
    remaining: Decimal,
    budget: Option<Decimal>,
    cap: Option<Decimal>,
    tif: TimeInForce,
) -> Decimal {
    let mut qty = remaining;
    if let Some(budget) = budget {
        qty = qty.min(budget);
    }
    if let Some(cap) = cap {
        qty = qty.min(cap);
    }
    match tif {
        TimeInForce::Fok if qty < remaining => Decimal::ZERO,
        _ => qty.max(Decimal::ZERO),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn bar(open: &str, high: &str, low: &str, close: &str) -> Bar {
        Bar {
            ts: Timestamp::from_nanos(0),
            open: d(open),
            high: d(high),
            low: d(low),
            close: d(close),
            volume: d("10"),
        }
    }

    #[test]
    fn slippage_moves_against_the_taker_and_rounds_against_it() {
        let bps = d("10");
        let cent = d("0.01");
        let fine = d("0.00000001");
        assert_eq!(
            slipped(Side::Buy, d("100.03"), bps, cent),
            Some(d("100.14"))
        );
        assert_eq!(
            slipped(Side::Sell, d("100.03"), bps, cent),
            Some(d("99.92"))
        );
        assert_eq!(slipped(Side::Buy, d("100"), bps, fine), Some(d("100.1")));
        assert_eq!(
            taker_px(Side::Buy, d("100"), Some(d("100.05")), bps, fine),
            Some(d("100.05"))
        );
        assert_eq!(
            taker_px(Side::Sell, d("100"), Some(d("99.95")), bps, fine),
            Some(d("99.95"))
        );
    }

    /// Issue 9 item 5: a close off the tick grid fills on the grid, against the taker.
    #[test]
    fn an_off_grid_reference_fills_on_the_grid_against_the_taker() {
        let (tick, zero) = (d("0.1"), Decimal::ZERO);
        assert_eq!(
            slipped(Side::Buy, d("100.037"), zero, tick),
            Some(d("100.1"))
        );
        assert_eq!(
            slipped(Side::Sell, d("100.037"), zero, tick),
            Some(d("100"))
        );
        // On the grid: untouched.
        assert_eq!(slipped(Side::Buy, d("100.3"), zero, tick), Some(d("100.3")));
        assert_eq!(
            slipped(Side::Sell, d("100.3"), zero, tick),
            Some(d("100.3"))
        );
        // A half tick (5 decimal places past it) still moves a whole tick.
        assert_eq!(
            slipped(Side::Buy, d("100.00001"), zero, tick),
            Some(d("100.1"))
        );
        // The limit still caps: a buy limit at 100.05 is never paid more.
        assert_eq!(
            taker_px(Side::Buy, d("100.037"), Some(d("100.05")), zero, tick),
            Some(d("100.05"))
        );
    }

    #[test]
    fn stops_trigger_on_touch_and_fill_from_the_gap() {
        let b = bar("97", "99", "94", "96");
        assert!(stop_touched(Side::Sell, d("95"), &b));
        assert!(stop_touched(Side::Sell, d("94"), &b));
        assert!(!stop_touched(Side::Sell, d("93.9"), &b));
        assert_eq!(stop_px(Side::Sell, d("95"), &b), d("95"));
        assert_eq!(stop_px(Side::Sell, d("98"), &b), d("97"));
        assert!(stop_touched(Side::Buy, d("99"), &b));
        assert_eq!(stop_px(Side::Buy, d("96"), &b), d("97"));
    }

    #[test]
    fn limits_need_the_bar_to_trade_through() {
        let b = bar("97", "99", "94", "96");
        assert!(!traded_through(Side::Buy, d("94"), &b));
        assert!(traded_through(Side::Buy, d("94.01"), &b));
        assert!(!traded_through(Side::Sell, d("99"), &b));
        assert!(traded_through(Side::Sell, d("98.99"), &b));
    }

    #[test]
    fn fill_or_kill_is_all_or_nothing() {
        let (rem, tif) = (d("3"), TimeInForce::Fok);
        assert_eq!(fillable(rem, Some(d("2")), None, tif), Decimal::ZERO);
        assert_eq!(fillable(rem, Some(d("3")), None, tif), d("3"));
        assert_eq!(fillable(rem, Some(d("2")), None, TimeInForce::Ioc), d("2"));
        assert_eq!(fillable(rem, None, Some(d("1")), TimeInForce::Gtc), d("1"));
        assert_eq!(fee(d("100"), d("2"), d("0.0005")), Some(d("0.1")));
    }
}
