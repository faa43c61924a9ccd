//! Round trips (closed lives, flat → flat) of one position: their PnL after fees,
//! wins and losses, and the time the position was open.
//!
//! A life's PnL is its realized PnL minus its share of fees: every fee of an execution
//! inside the life, and for an execution that crosses zero the part of its fee in
//! proportion to the quantity that closed the life (the rest opens the next life).
//! Funding is left out: it pays for holding, not for the trade's outcome. A life that
//! ends at exactly zero is neither a win nor a loss but still a round trip.

use crate::event::{Decimal, Timestamp};
use crate::reduce::Position;

/// The few fields of a position the tracker compares before and after an event.
#[derive(Debug, Clone, Copy, Default)]
pub struct Before {
    /// Signed size.
    pub qty: Decimal,
    /// Lives closed so far.
    pub lives_closed: u32,
}

impl Before {
    /// The fields of `p` (a flat, fresh position when `None`).
    pub fn of(p: Option<&Position>) -> Before {
        p.map(|p| Before {
            qty: p.qty,
            lives_closed: p.lives_closed,
        })
        .unwrap_or_default()
    }
}

/// An execution's quantity and fee, for splitting the fee of a crossing fill.
#[derive(Debug, Clone, Copy)]
pub struct ExecutionFee {
    /// Quantity (> 0).
    pub qty: Decimal,
    /// Fee, positive is a cost.
    pub fee: Decimal,
}

/// Round-trip statistics of one position.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lives {
    /// `realized` when the current life opened.
    start_realized: Decimal,
    /// Fees charged to the current life so far.
    fees: Decimal,
    /// When the position last went from flat to open; `None` while flat.
    open_since: Option<Timestamp>,
    /// Closed lives.
    pub round_trips: u64,
    /// Closed lives with a positive PnL.
    pub wins: u64,
    /// Closed lives with a negative PnL.
    pub losses: u64,
    /// Sum of the winning lives' PnL.
    pub gross_wins: Decimal,
    /// Sum of the losing lives' PnL, as a positive number.
    pub gross_losses: Decimal,
    /// Nanoseconds spent open, up to the last time the position went flat.
    pub exposed_ns: i128,
}

impl Lives {
    /// Account for one event that changed `after` from `before` at `ts`. `None` on
    /// overflow.
    pub fn apply(
        &mut self,
        before: Before,
        after: &Position,
        exec: Option<ExecutionFee>,
        ts: Timestamp,
    ) -> Option<()> {
        let fee = exec.map_or(Decimal::ZERO, |e| e.fee);
        if after.lives_closed > before.lives_closed {
            let share = match exec {
                Some(e) if e.qty > before.qty.abs() => {
                    e.fee.checked_mul(before.qty.abs())?.checked_div(e.qty)?
                }
                _ => fee,
            };
            let pnl = after
                .realized
                .checked_sub(self.start_realized)?
                .checked_sub(self.fees)?
                .checked_sub(share)?;
            self.close(pnl, ts)?;
            self.start_realized = after.realized;
            self.fees = fee.checked_sub(share)?;
        } else {
            if before.qty.is_zero() && !after.is_flat() {
                self.start_realized = after.realized;
                self.fees = Decimal::ZERO;
            }
            self.fees = self.fees.checked_add(fee)?;
        }
        if !after.is_flat() && self.open_since.is_none() {
            self.open_since = Some(ts);
        }
        Some(())
    }

    fn close(&mut self, pnl: Decimal, ts: Timestamp) -> Option<()> {
        self.round_trips += 1;
        if pnl.is_positive() {
            self.wins += 1;
            self.gross_wins = self.gross_wins.checked_add(pnl)?;
        } else if pnl.is_negative() {
            self.losses += 1;
            self.gross_losses = self.gross_losses.checked_add(pnl.abs())?;
        }
        if let Some(since) = self.open_since.take() {
            self.exposed_ns += i128::from(ts.as_nanos()) - i128::from(since.as_nanos());
        }
        Some(())
    }

    /// Time open up to `end`, the still-open life included.
    pub fn exposed_ns_at(&self, end: Timestamp) -> i128 {
        let open = self.open_since.map_or(0, |since| {
            i128::from(end.as_nanos()) - i128::from(since.as_nanos())
        });
        self.exposed_ns + open.max(0)
    }
}
