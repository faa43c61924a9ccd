//! A netting position per `venue:book:instrument` and its average-cost accounting:
//! size, cost basis, realized PnL, fees, funding, marks and the flat→flat lives.
//!
//! Every change here is computed on a copy (`Position` → `Result<Position, _>`), so a
//! failed event never leaves a half-updated position. This file knows nothing of
//! orders, balances or the log; `projection.rs` decides which events reach it.
//!
//! # Accounting rules
//!
//! * `qty` is signed (long > 0). A fill in the position's direction (or from flat) adds
//!   `px × qty` to `cost_basis`; `avg_px() = cost_basis / |qty|`, rounded by the decimal
//!   division, is for display only: computed when asked (and when stored), never kept,
//!   since a division per fill was the fold's largest single cost.
//! * A fill against the position closes `closed = min(fill qty, |qty|)` and realizes
//!   `proceeds − removed_cost` (sign by side), where `removed_cost = cost_basis × closed
//!   / |qty|`: the average price of what remains does not move.
//! * Partial closes can round (division past 28 digits), so each life also keeps its
//!   exact cash flow `life_cash` (`−Σ signed qty × px`). When the life closes, its
//!   running `life_realized` is replaced by `life_cash`: **a closed life's realized PnL
//!   is exact**, whatever rounding happened inside it.
//! * A fill that crosses zero closes the life and opens the next one at the fill price
//!   with the remainder.
//! * `fees` add each execution's fee (negative = rebate); `funding` adds payments
//!   received (negative = paid); `net = realized − fees + funding`.
//! * Marks come only from market data (trades, candle closes), never from our fills:
//!   with no mark yet, `unrealized()` is zero rather than a guess.
//! * Liquidations and ADL move the position exactly like fills; they are counted in
//!   `liquidations` / `adls` instead of `fills`.
//! * A correction (`set`) replaces size and average price, realizing nothing: the
//!   current life is re-based as if opened at the corrected price.

use crate::event::{Decimal, PositionKey, Seq, Side};

use super::error::{Violation, checked};

/// A netting position and its PnL. See the module doc for the accounting rules.
///
/// Stored (checkpoints, the projection hash) with `avg_px` after `qty`, as computed
/// when written: see `stored.rs`.
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    /// `venue:book:instrument`.
    pub key: PositionKey,
    /// Signed size: long > 0, short < 0.
    pub qty: Decimal,
    /// Exact entry cost of the open size (always ≥ 0); zero when flat.
    pub cost_basis: Decimal,
    /// Realized trading PnL over all lives, before fees and funding.
    pub realized: Decimal,
    /// Fees paid (negative: rebates received).
    pub fees: Decimal,
    /// Funding received (negative: paid).
    pub funding: Decimal,
    /// Last market price (trade or candle close) for this key.
    pub mark_px: Option<Decimal>,
    /// Ordinal of the current life (or of the last one, when flat), starting at 1.
    pub life: u32,
    /// Lives that went back to flat.
    pub lives_closed: u32,
    /// Realized PnL of the current life so far (included in `realized`).
    pub life_realized: Decimal,
    /// Exact cash flow of the current life: `−Σ signed qty × px`.
    pub life_cash: Decimal,
    /// Fills applied (external ones included).
    pub fills: u64,
    /// Liquidations applied.
    pub liquidations: u64,
    /// Auto-deleverages applied.
    pub adls: u64,
    /// Seq that opened the current life; `None` when flat.
    pub opened_seq: Option<Seq>,
    /// Seq that last closed a life.
    pub closed_seq: Option<Seq>,
    /// Last seq that changed this position.
    pub last_seq: Seq,
}

/// How an execution came about; decides which counter it adds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExecKind {
    /// Our order or an external one.
    Fill,
    /// The venue liquidated.
    Liquidation,
    /// The venue auto-deleveraged.
    Adl,
}

/// One execution against a position.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Execution {
    /// Which counter it adds to.
    pub kind: ExecKind,
    /// Side of the trade.
    pub side: Side,
    /// Quantity (> 0, checked by `Payload::validate` at the log's edge).
    pub qty: Decimal,
    /// Price.
    pub px: Decimal,
    /// Fee: positive is a cost.
    pub fee: Decimal,
}

impl Position {
    /// A flat position with no history.
    pub fn new(key: PositionKey) -> Position {
        Position {
            key,
            qty: Decimal::ZERO,
            cost_basis: Decimal::ZERO,
            realized: Decimal::ZERO,
            fees: Decimal::ZERO,
            funding: Decimal::ZERO,
            mark_px: None,
            life: 1,
            lives_closed: 0,
            life_realized: Decimal::ZERO,
            life_cash: Decimal::ZERO,
            fills: 0,
            liquidations: 0,
            adls: 0,
            opened_seq: None,
            closed_seq: None,
            last_seq: 0,
        }
    }

    /// Average entry price of the open size (`cost_basis / |qty|`); zero when flat.
    pub fn avg_px(&self) -> Decimal {
        // Invariant: every applied event checked that this division does not overflow
        // (`check_average`); the fallback is unreachable.
        self.average().unwrap_or(Decimal::ZERO)
    }

    /// True when there is no open size.
    pub fn is_flat(&self) -> bool {
        self.qty.is_zero()
    }

    /// `realized − fees + funding`.
    pub fn net(&self) -> Decimal {
        // Invariant: every applied event was checked by `check_derived`, so this cannot
        // overflow; the fallback is unreachable.
        self.try_net().unwrap_or(Decimal::ZERO)
    }

    /// Open PnL at the mark: `(mark − avg_px) × qty`, computed exactly as
    /// `mark × qty − signed cost_basis`. Zero when flat or when there is no mark yet.
    pub fn unrealized(&self) -> Decimal {
        // Invariant: as for `net`, checked on every applied event.
        self.try_unrealized().unwrap_or(Decimal::ZERO)
    }

    fn try_net(&self) -> Option<Decimal> {
        self.realized
            .checked_sub(self.fees)?
            .checked_add(self.funding)
    }

    fn try_unrealized(&self) -> Option<Decimal> {
        self.try_unrealized_at(self.mark_px)
    }

    fn try_unrealized_at(&self, mark_px: Option<Decimal>) -> Option<Decimal> {
        match mark_px {
            Some(mark) if !self.is_flat() => {
                let cost = match self.qty.is_negative() {
                    true => -self.cost_basis,
                    false => self.cost_basis,
                };
                mark.checked_mul(self.qty)?.checked_sub(cost)
            }
            _ => Some(Decimal::ZERO),
        }
    }

    /// Refuse a state whose derived numbers (`net`, `unrealized`) would overflow.
    pub(crate) fn check_derived(&self) -> Result<(), Violation> {
        // Checked on every execution: skipped when the magnitudes alone show that
        // neither can overflow (the decimal range is ~7.9e28; these sums stay below
        // ~4e19). Same answer as computing them, at a fraction of the cost.
        let net_fits = [self.realized, self.fees, self.funding]
            .iter()
            .all(|d| d.magnitude_below_pow2(64));
        if !net_fits {
            checked(self.try_net(), &self.key, "net")?;
        }
        if !self.unrealized_fits_at(self.mark_px) {
            checked(self.try_unrealized(), &self.key, "unrealized")?;
        }
        Ok(())
    }

    /// True when `unrealized` at `mark_px` provably cannot overflow: flat, no mark, or
    /// `|mark × qty| < 2^64` and `|cost_basis| < 2^64`.
    fn unrealized_fits_at(&self, mark_px: Option<Decimal>) -> bool {
        match mark_px {
            Some(mark) if !self.is_flat() => {
                mark.magnitude_below_pow2(32)
                    && self.qty.magnitude_below_pow2(32)
                    && self.cost_basis.magnitude_below_pow2(64)
            }
            _ => true,
        }
    }

    /// This position after `exec` at `seq`.
    pub(crate) fn executed(&self, exec: &Execution, seq: Seq) -> Result<Position, Violation> {
        let mut next = self.clone();
        next.fees = checked(next.fees.checked_add(exec.fee), &self.key, "fees")?;
        match exec.kind {
            ExecKind::Fill => next.fills = next.fills.saturating_add(1),
            ExecKind::Liquidation => next.liquidations = next.liquidations.saturating_add(1),
            ExecKind::Adl => next.adls = next.adls.saturating_add(1),
        }
        let against = !next.is_flat() && next.qty.is_negative() != (exec.side == Side::Sell);
        let opening = match against {
            true => next.close(exec, seq)?,
            false => exec.qty,
        };
        if opening.is_positive() {
            next.open(exec.side, opening, exec.px, seq)?;
        }
        next.check_average()?;
        next.last_seq = seq;
        next.check_derived()?;
        Ok(next)
    }

    /// Add `qty` in `side`'s direction at `px` (from flat or in the same direction).
    fn open(&mut self, side: Side, qty: Decimal, px: Decimal, seq: Seq) -> Result<(), Violation> {
        if self.is_flat() {
            if self.lives_closed >= self.life {
                self.life = self.life.saturating_add(1);
            }
            self.opened_seq = Some(seq);
        }
        let key = &self.key;
        let notional = checked(px.checked_mul(qty), key, "notional")?;
        self.cost_basis = checked(self.cost_basis.checked_add(notional), key, "cost_basis")?;
        self.qty = checked(self.qty.checked_add(signed(side, qty)), key, "qty")?;
        let cash = -signed(side, notional);
        self.life_cash = checked(self.life_cash.checked_add(cash), key, "cash")?;
        Ok(())
    }

    /// Close up to `exec.qty` of the open size; returns the quantity left to open.
    fn close(&mut self, exec: &Execution, seq: Seq) -> Result<Decimal, Violation> {
        let key = &self.key;
        let size = self.qty.abs();
        let closed = exec.qty.min(size);
        let proceeds = checked(exec.px.checked_mul(closed), key, "notional")?;
        // Cash of the closing part: a sell receives, a buy pays.
        let cash = -signed(exec.side, proceeds);
        let life_cash = checked(self.life_cash.checked_add(cash), key, "cash")?;
        if closed == size {
            // The life ends: its realized PnL is its exact cash flow.
            let before_life = self.realized.checked_sub(self.life_realized);
            let realized = before_life.and_then(|r| r.checked_add(life_cash));
            self.realized = checked(realized, key, "realized")?;
            self.qty = Decimal::ZERO;
            self.cost_basis = Decimal::ZERO;
            self.life_cash = Decimal::ZERO;
            self.life_realized = Decimal::ZERO;
            self.lives_closed = self.lives_closed.saturating_add(1);
            self.opened_seq = None;
            self.closed_seq = Some(seq);
            return checked(exec.qty.checked_sub(closed), key, "qty");
        }
        let removed = self
            .cost_basis
            .checked_mul(closed)
            .and_then(|c| c.checked_div(size));
        let removed = checked(removed, key, "cost_basis")?;
        let gain = checked(proceeds.checked_sub(removed), key, "realized")?;
        let step = match self.qty.is_negative() {
            true => -gain,
            false => gain,
        };
        self.realized = checked(self.realized.checked_add(step), key, "realized")?;
        self.life_realized = checked(self.life_realized.checked_add(step), key, "realized")?;
        self.cost_basis = checked(self.cost_basis.checked_sub(removed), key, "cost_basis")?;
        self.qty = checked(self.qty.checked_add(signed(exec.side, closed)), key, "qty")?;
        self.life_cash = life_cash;
        Ok(Decimal::ZERO)
    }

    /// Refuse a state whose `avg_px()` would overflow. Skipped when the magnitudes
    /// rule it out: `cost_basis < 2^64` over `|qty| ≥ 10^-9` stays below 2^94.
    fn check_average(&self) -> Result<(), Violation> {
        let safe = self.is_flat()
            || (self.cost_basis.magnitude_below_pow2(64) && self.qty.magnitude_at_least_pow10(-9));
        match safe {
            true => Ok(()),
            false => self.average().map(|_| ()),
        }
    }

    fn average(&self) -> Result<Decimal, Violation> {
        match self.is_flat() {
            true => Ok(Decimal::ZERO),
            false => checked(
                self.cost_basis.checked_div(self.qty.abs()),
                &self.key,
                "avg_px",
            ),
        }
    }

    /// This position after a funding payment of `amount` (received > 0).
    pub(crate) fn funded(&self, amount: Decimal, seq: Seq) -> Result<Position, Violation> {
        let mut next = self.clone();
        next.funding = checked(next.funding.checked_add(amount), &self.key, "funding")?;
        next.last_seq = seq;
        next.check_derived()?;
        Ok(next)
    }

    /// Refuse a mark at which `unrealized` would overflow. The projection sets
    /// `mark_px` in place afterwards: marks are the hot path, so no copy is made.
    pub(crate) fn check_mark(&self, px: Decimal) -> Result<(), Violation> {
        if self.unrealized_fits_at(Some(px)) {
            return Ok(());
        }
        checked(self.try_unrealized_at(Some(px)), &self.key, "unrealized").map(|_| ())
    }

    /// This position marked at `px`.
    #[cfg(test)]
    fn marked(&self, px: Decimal) -> Result<Position, Violation> {
        self.check_mark(px)?;
        let mut next = self.clone();
        next.mark_px = Some(px);
        Ok(next)
    }

    /// This position corrected to `qty` at `avg_px`, realizing nothing. Going flat
    /// closes the life (its realized PnL stays what it was); any open size re-bases the
    /// life as if it had been opened at `avg_px`.
    pub(crate) fn set(
        &self,
        qty: Decimal,
        avg_px: Decimal,
        seq: Seq,
    ) -> Result<Position, Violation> {
        let mut next = self.clone();
        let key = &self.key;
        if qty.is_zero() {
            if !self.is_flat() {
                next.lives_closed = next.lives_closed.saturating_add(1);
                next.closed_seq = Some(seq);
            }
            next.opened_seq = None;
        } else if self.is_flat() {
            if next.lives_closed >= next.life {
                next.life = next.life.saturating_add(1);
            }
            next.opened_seq = Some(seq);
        }
        next.qty = qty;
        next.cost_basis = checked(avg_px.abs().checked_mul(qty.abs()), key, "cost_basis")?;
        next.life_realized = Decimal::ZERO;
        let cash = avg_px.abs().checked_mul(qty).map(std::ops::Neg::neg);
        next.life_cash = checked(cash, key, "cash")?;
        next.check_average()?;
        next.last_seq = seq;
        next.check_derived()?;
        Ok(next)
    }
}

/// `qty` with `side`'s sign (buy +, sell −). The same number as `qty × side.sign()`
/// without a multiplication; callers pass only non-zero amounts.
fn signed(side: Side, qty: Decimal) -> Decimal {
    match side {
        Side::Buy => qty,
        Side::Sell => -qty,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn fill(side: Side, qty: &str, px: &str, fee: &str) -> Execution {
        Execution {
            kind: ExecKind::Fill,
            side,
            qty: d(qty),
            px: d(px),
            fee: d(fee),
        }
    }

    /// Apply `(side, qty, px, fee)` executions from flat, seqs from 1.
    fn run(execs: &[(Side, &str, &str, &str)]) -> Position {
        let mut pos = Position::new(PositionKey::new("v", "perps", "BTC"));
        for (i, (side, qty, px, fee)) in execs.iter().enumerate() {
            pos = pos
                .executed(&fill(*side, qty, px, fee), i as u64 + 1)
                .unwrap();
        }
        pos
    }

    use Side::{Buy, Sell};

    #[test]
    fn scaling_in_moves_the_average_to_the_size_weighted_price() {
        let pos = run(&[(Buy, "1", "100", "0"), (Buy, "3", "200", "0")]);
        assert_eq!(pos.qty, d("4"));
        assert_eq!(pos.cost_basis, d("700"));
        assert_eq!(pos.avg_px(), d("175"));
        assert_eq!(pos.realized, d("0"));
        assert_eq!((pos.life, pos.lives_closed, pos.fills), (1, 0, 2));
        assert_eq!(pos.opened_seq, Some(1));
    }

    #[test]
    fn partial_close_realizes_against_the_average_and_keeps_it() {
        let pos = run(&[
            (Buy, "2", "100", "0"),
            (Buy, "2", "200", "0"),
            (Sell, "1", "180", "0"),
        ]);
        assert_eq!(pos.qty, d("3"));
        assert_eq!(pos.realized, d("30"));
        assert_eq!(pos.life_realized, d("30"));
        assert_eq!(pos.avg_px(), d("150"));
        assert_eq!(pos.cost_basis, d("450"));
    }

    #[test]
    fn full_close_ends_the_life_with_its_exact_cash_flow() {
        let pos = run(&[
            (Buy, "3", "100", "0"),
            (Buy, "1", "101", "0"),
            (Sell, "1", "102", "0"),
            (Sell, "3", "99", "0"),
        ]);
        // Cash: −300 −101 +102 +297 = −2.
        assert_eq!(pos.realized, d("-2"));
        assert!(pos.is_flat());
        assert_eq!((pos.life, pos.lives_closed), (1, 1));
        assert_eq!(
            (pos.avg_px(), pos.cost_basis, pos.life_cash),
            (d("0"), d("0"), d("0"))
        );
        assert_eq!((pos.opened_seq, pos.closed_seq), (None, Some(4)));
        // A later open starts life 2.
        let pos = pos.executed(&fill(Buy, "1", "50", "0"), 5).unwrap();
        assert_eq!(
            (pos.life, pos.lives_closed, pos.opened_seq),
            (2, 1, Some(5))
        );
    }

    #[test]
    fn rounding_inside_a_life_does_not_survive_its_close() {
        let pos = run(&[
            (Buy, "1", "100", "0"),
            (Buy, "2", "100.01", "0"),
            (Sell, "1", "101", "0"),
        ]);
        // 300.02 / 3 has no finite decimal form: the partial close rounded.
        let third = d("300.02").checked_div(d("3")).unwrap();
        assert_eq!(pos.realized, d("101").checked_sub(third).unwrap());
        let pos = pos.executed(&fill(Sell, "1", "101", "0"), 4).unwrap();
        let pos = pos.executed(&fill(Sell, "1", "101", "0"), 5).unwrap();
        // Cash: −100 −200.02 +303 = 2.98, exactly.
        assert_eq!(pos.realized, d("2.98"));
    }

    #[test]
    fn crossing_zero_closes_the_life_and_opens_the_next_at_the_fill_price() {
        let pos = run(&[(Buy, "2", "100", "0"), (Sell, "5", "110", "0")]);
        assert_eq!(pos.realized, d("20"));
        assert_eq!(pos.qty, d("-3"));
        assert_eq!(pos.avg_px(), d("110"));
        assert_eq!(pos.cost_basis, d("330"));
        assert_eq!(pos.life_cash, d("330"));
        assert_eq!((pos.life, pos.lives_closed), (2, 1));
        assert_eq!((pos.opened_seq, pos.closed_seq), (Some(2), Some(2)));
    }

    #[test]
    fn short_positions_gain_when_the_price_falls() {
        let pos = run(&[
            (Sell, "2", "100", "0"),
            (Sell, "2", "120", "0"),
            (Buy, "1", "90", "0"),
        ]);
        assert_eq!(pos.qty, d("-3"));
        assert_eq!(pos.avg_px(), d("110"));
        assert_eq!(pos.realized, d("20"));
        let pos = pos.executed(&fill(Buy, "3", "115", "0"), 4).unwrap();
        // Life cash: +200 +240 −90 −345 = 5.
        assert_eq!(pos.realized, d("5"));
        assert!(pos.is_flat());
    }

    #[test]
    fn fees_cost_and_rebates_earn_and_net_includes_both() {
        let pos = run(&[(Buy, "1", "100", "0.5"), (Sell, "1", "101", "-0.2")]);
        assert_eq!(pos.fees, d("0.3"));
        assert_eq!(pos.realized, d("1"));
        assert_eq!(pos.net(), d("0.7"));
    }

    #[test]
    fn funding_received_and_paid_adds_to_net_not_realized() {
        let pos = run(&[(Buy, "1", "100", "1")]);
        let pos = pos
            .funded(d("2.5"), 2)
            .unwrap()
            .funded(d("-0.5"), 3)
            .unwrap();
        assert_eq!(pos.funding, d("2"));
        assert_eq!(pos.realized, d("0"));
        assert_eq!(pos.net(), d("1"));
        assert_eq!(pos.last_seq, 3);
    }

    #[test]
    fn unrealized_is_marked_and_zero_without_a_mark_or_when_flat() {
        let long = run(&[(Buy, "2", "100", "0")]);
        assert_eq!(long.unrealized(), d("0"));
        assert_eq!(long.marked(d("103")).unwrap().unrealized(), d("6"));
        let short = run(&[(Sell, "2", "100", "0")]);
        assert_eq!(short.marked(d("103")).unwrap().unrealized(), d("-6"));
        let flat = run(&[(Buy, "2", "100", "0"), (Sell, "2", "100", "0")]);
        assert_eq!(flat.marked(d("103")).unwrap().unrealized(), d("0"));
    }

    #[test]
    fn liquidations_and_adl_move_the_position_but_count_apart() {
        let pos = run(&[(Buy, "2", "100", "0")]);
        let mut liq = fill(Sell, "1", "80", "1");
        liq.kind = ExecKind::Liquidation;
        let pos = pos.executed(&liq, 2).unwrap();
        let mut adl = fill(Sell, "1", "90", "0");
        adl.kind = ExecKind::Adl;
        let pos = pos.executed(&adl, 3).unwrap();
        assert_eq!((pos.fills, pos.liquidations, pos.adls), (1, 1, 1));
        assert_eq!(pos.realized, d("-30"));
        assert_eq!(pos.fees, d("1"));
        assert!(pos.is_flat());
    }

    #[test]
    fn a_correction_sets_size_and_price_without_realizing() {
        let pos = run(&[(Buy, "2", "100", "0"), (Sell, "1", "110", "0")]);
        let pos = pos.set(d("-4"), d("105"), 3).unwrap();
        assert_eq!(
            (pos.qty, pos.avg_px(), pos.cost_basis),
            (d("-4"), d("105"), d("420"))
        );
        assert_eq!(pos.realized, d("10"));
        // The re-based life closes exactly against the corrected price.
        let pos = pos.executed(&fill(Buy, "4", "100", "0"), 4).unwrap();
        assert_eq!(pos.realized, d("30"));
        let flat = pos.set(d("0"), d("0"), 5).unwrap();
        assert_eq!(flat.lives_closed, pos.lives_closed);
    }

    #[test]
    fn overflow_is_an_error_naming_the_position() {
        let big = "79228162514264337593543950335";
        let pos = run(&[(Buy, "1", big, "0")]);
        let err = pos.executed(&fill(Buy, "1", big, "0"), 2).unwrap_err();
        assert!(
            matches!(
                err,
                Violation::Overflow {
                    what: "cost_basis",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("v:perps:BTC"));
    }
}
