//! Sizing: an intent's [`Size`] → a quantity on the lot grid that meets the venue's
//! minimums, then cut to fit the leverage and position caps (rules 5–8 in `plan.rs`).
//!
//! Every change to the asked size is recorded in the plan's `adjustments`, with the
//! numbers, so an audit shows why an order is smaller than the strategy wanted.

use crate::event::{Decimal, Size, SkipReason};

use super::plan::{Draft, Refusal};

/// A notional ceiling on the position after the order: the leverage cap × equity, or the
/// position cap.
pub(super) struct Ceiling {
    /// Skip reason when nothing fits.
    pub reason: SkipReason,
    /// Largest (|position| + qty) × px.
    pub notional_max: Decimal,
    /// Where the ceiling comes from, for people.
    pub why: String,
}

impl Draft<'_> {
    /// The asked size as a quantity: capped at the position for exits and trims, rounded
    /// down to the lot size, and checked against the minimums.
    pub(super) fn qty(&mut self, px: Decimal) -> Result<Decimal, Refusal> {
        let overflow = || Refusal::new(SkipReason::MaxLeverage, "the asked size overflows");
        let held = self.held.abs();
        let equity = self.market.equity;
        let wanted = match self.intent.size {
            Size::Qty(qty) => Some(qty),
            Size::Notional(notional) => notional.checked_div(px),
            Size::EquityFraction(_) if !equity.is_positive() => {
                let detail = format!("equity {equity} is not positive");
                return Err(self.refuse(SkipReason::InsufficientEquity, detail));
            }
            Size::EquityFraction(f) => equity.checked_mul(f).and_then(|n| n.checked_div(px)),
            Size::PositionFraction(f) => held.checked_mul(f),
        };
        let mut qty = wanted.ok_or_else(overflow)?;
        if self.reducing() && qty > held {
            self.adjustments.push(format!(
                "qty {qty} → {held}: an exit or trim reduces at most the open position"
            ));
            qty = held;
        }
        let lot = self.rules.lot_size;
        let on_lot = qty.floor_to_step(lot).ok_or_else(overflow)?;
        if on_lot != qty {
            self.adjustments
                .push(format!("qty {qty} → {on_lot} (lot {lot}, rounded down)"));
        }
        match self.below_minimums(on_lot, px) {
            Some((reason, detail)) => Err(self.refuse(reason, detail)),
            None => Ok(on_lot),
        }
    }

    /// Why `qty` at `px` is too small for the venue, if it is.
    fn below_minimums(&self, qty: Decimal, px: Decimal) -> Option<(SkipReason, String)> {
        let rules = self.rules;
        if !qty.is_positive() || qty < rules.min_qty {
            let detail = format!(
                "qty {qty} below min qty {} (lot {})",
                rules.min_qty, rules.lot_size
            );
            return Some((SkipReason::BelowMinQty, detail));
        }
        // An overflowing notional is not below any minimum.
        let notional = qty.checked_mul(px)?;
        if notional < rules.min_notional {
            let detail = format!(
                "notional {notional} (qty {qty} × px {px}) below min notional {}",
                rules.min_notional
            );
            return Some((SkipReason::BelowMinNotional, detail));
        }
        None
    }

    /// `qty` cut to fit the leverage cap (`leverage_max`, and why) and the position cap.
    pub(super) fn fit_caps(
        &mut self,
        qty: Decimal,
        px: Decimal,
        leverage_max: (Decimal, String),
    ) -> Result<Decimal, Refusal> {
        let (leverage, why) = leverage_max;
        let equity = self.market.equity;
        let notional_max = leverage
            .checked_mul(equity)
            .ok_or_else(|| self.refuse(SkipReason::MaxLeverage, "leverage × equity overflows"))?;
        let ceiling = Ceiling {
            reason: SkipReason::MaxLeverage,
            notional_max,
            why: format!("{why} × equity {equity}"),
        };
        let qty = self.fit(qty, px, &ceiling)?;
        match self.rules.max_position_notional {
            None => Ok(qty),
            Some(max) => {
                let ceiling = Ceiling {
                    reason: SkipReason::PositionCap,
                    notional_max: max,
                    why: format!("position cap {max}"),
                };
                self.fit(qty, px, &ceiling)
            }
        }
    }

    /// `qty`, or the largest lot multiple under `ceiling`; a Skip when that is too small.
    fn fit(&mut self, qty: Decimal, px: Decimal, ceiling: &Ceiling) -> Result<Decimal, Refusal> {
        let held = self.held.abs();
        let overflow = || self.refuse(ceiling.reason, "position notional overflows");
        let notional = held
            .checked_add(qty)
            .and_then(|total| total.checked_mul(px))
            .ok_or_else(overflow)?;
        let max = ceiling.notional_max;
        if notional <= max {
            return Ok(qty);
        }
        let over = format!(
            "(|position| {held} + qty {qty}) × px {px} = {notional} above {max} ({})",
            ceiling.why
        );
        let room = held
            .checked_mul(px)
            .and_then(|used| max.checked_sub(used))
            .and_then(|room| room.checked_div(px))
            .and_then(|room| room.floor_to_step(self.rules.lot_size))
            .ok_or_else(overflow)?;
        if let Some((_, small)) = self.below_minimums(room, px) {
            let detail = format!("{over}; what fits is too small: {small}");
            return Err(self.refuse(ceiling.reason, detail));
        }
        self.adjustments.push(format!("qty {qty} → {room}: {over}"));
        Ok(room)
    }
}
