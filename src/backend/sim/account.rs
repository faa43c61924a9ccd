//! The simulated account: a netting position per instrument with average-cost entry,
//! and the cash that fills, fees and funding move.
//!
//! Equity is computed from exact cash flows (`initial + Σ −side × qty × px − fees +
//! funding + Σ qty × mark`), so it never depends on average-price rounding. The average
//! price follows the same arithmetic as `reduce::Position` (cost basis reduced in
//! proportion on partial closes), so the two agree to the last digit. This file knows
//! nothing of orders or reports.

use std::collections::BTreeMap;

use crate::event::{Decimal, PositionKey, Side, SnapshotPosition};

/// Arithmetic overflowed; the caller drops the action that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Overflow;

fn ok(value: Option<Decimal>) -> Result<Decimal, Overflow> {
    value.ok_or(Overflow)
}

/// One instrument's position and cash flows.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SimPosition {
    /// Signed size: long > 0.
    pub qty: Decimal,
    /// Entry cost of the open size (≥ 0).
    pub cost_basis: Decimal,
    /// `Σ −side × qty × px` over all fills.
    pub cash: Decimal,
    /// Fees paid (negative: rebates).
    pub fees: Decimal,
    /// Funding received (negative: paid).
    pub funding: Decimal,
}

impl SimPosition {
    /// Average entry price of the open size; zero when flat.
    pub fn avg_px(&self) -> Result<Decimal, Overflow> {
        match self.qty.is_zero() {
            true => Ok(Decimal::ZERO),
            false => ok(self.cost_basis.checked_div(self.qty.abs())),
        }
    }

    /// This position after a fill; computed on a copy so an overflow changes nothing.
    pub fn filled(
        &self,
        side: Side,
        qty: Decimal,
        px: Decimal,
        fee: Decimal,
    ) -> Result<SimPosition, Overflow> {
        let mut next = self.clone();
        let notional = ok(px.checked_mul(qty))?;
        next.cash = ok(next
            .cash
            .checked_sub(ok(notional.checked_mul(side.sign()))?))?;
        next.fees = ok(next.fees.checked_add(fee))?;
        let against = !self.qty.is_zero() && self.qty.is_negative() != (side == Side::Sell);
        let mut opening = qty;
        if against {
            let size = self.qty.abs();
            let closed = qty.min(size);
            next.cost_basis = match closed == size {
                true => Decimal::ZERO,
                false => {
                    let removed = ok(self.cost_basis.checked_mul(closed))?;
                    ok(self.cost_basis.checked_sub(ok(removed.checked_div(size))?))?
                }
            };
            opening = ok(qty.checked_sub(closed))?;
        }
        if opening.is_positive() {
            next.cost_basis = ok(next.cost_basis.checked_add(ok(px.checked_mul(opening))?))?;
        }
        next.qty = ok(self.qty.checked_add(ok(qty.checked_mul(side.sign()))?))?;
        Ok(next)
    }

    /// Account value of this instrument at `mark`: cash − fees + funding + qty × mark.
    fn value(&self, mark: Decimal) -> Result<Decimal, Overflow> {
        let held = ok(self.qty.checked_mul(mark))?;
        let net = ok(ok(self.cash.checked_sub(self.fees))?.checked_add(self.funding))?;
        ok(net.checked_add(held))
    }
}

/// Positions by instrument.
#[derive(Debug, Clone, Default)]
pub(crate) struct Account {
    positions: BTreeMap<PositionKey, SimPosition>,
}

impl Account {
    /// Signed size of `key` (zero when never traded).
    pub fn qty(&self, key: &PositionKey) -> Decimal {
        self.positions.get(key).map_or(Decimal::ZERO, |p| p.qty)
    }

    /// The position of `key`, or a flat one.
    pub fn position(&self, key: &PositionKey) -> SimPosition {
        self.positions.get(key).cloned().unwrap_or_default()
    }

    /// Replace the position of `key`.
    pub fn set(&mut self, key: &PositionKey, position: SimPosition) {
        self.positions.insert(key.clone(), position);
    }

    /// Add a funding payment (received > 0) to `key`.
    pub fn fund(&mut self, key: &PositionKey, amount: Decimal) -> Result<(), Overflow> {
        let mut next = self.position(key);
        next.funding = ok(next.funding.checked_add(amount))?;
        self.set(key, next);
        Ok(())
    }

    /// Non-flat positions as a venue snapshot reports them, ordered by key.
    pub fn snapshot(&self) -> Result<Vec<SnapshotPosition>, Overflow> {
        let mut out = Vec::new();
        for (key, p) in self.positions.iter().filter(|(_, p)| !p.qty.is_zero()) {
            out.push(SnapshotPosition {
                book: key.book.clone(),
                instrument: key.instrument.clone(),
                qty: p.qty,
                avg_px: p.avg_px()?,
            });
        }
        Ok(out)
    }

    /// `initial` plus every instrument's value at its mark (`None`: no market price
    /// yet, valued at its average entry price).
    pub fn equity(
        &self,
        initial: Decimal,
        mark: impl Fn(&PositionKey) -> Option<Decimal>,
    ) -> Result<Decimal, Overflow> {
        let mut equity = initial;
        for (key, p) in &self.positions {
            let px = match mark(key) {
                Some(px) => px,
                None => p.avg_px()?,
            };
            equity = ok(equity.checked_add(p.value(px)?))?;
        }
        Ok(equity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn average_cost_and_exact_cash() {
        let p = SimPosition::default();
        let p = p.filled(Side::Buy, d("1"), d("100"), d("0.1")).unwrap();
        let p = p.filled(Side::Buy, d("2"), d("103"), d("0.2")).unwrap();
        assert_eq!(p.avg_px().unwrap(), d("102"));
        let p = p
            .filled(Side::Sell, d("1"), d("110"), Decimal::ZERO)
            .unwrap();
        assert_eq!((p.qty, p.cost_basis), (d("2"), d("204")));
        // Flip: closes 2, opens 1 short at 90.
        let p = p
            .filled(Side::Sell, d("3"), d("90"), Decimal::ZERO)
            .unwrap();
        assert_eq!((p.qty, p.avg_px().unwrap()), (d("-1"), d("90")));
        // −100 − 206 + 110 + 270.
        assert_eq!(p.cash, d("74"));
        // 74 − 0.3 fees − 1 × 80.
        assert_eq!(p.value(d("80")).unwrap(), d("-6.3"));
    }
}
