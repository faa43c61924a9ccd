//! Bybit's `orderStatus` values and their mapping to the ledger's order states
//! (venues.md §B2), with the two refinements the ledger wants: a crossing PostOnly ends
//! `Cancelled` but is a reject, and a `Cancelled` IOC/FOK remainder is an expiry.
//!
//! This file knows nothing of events; `private.rs` turns a state into reports.

use crate::event::Decimal;

/// The wire `orderStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    /// Resting (open).
    New,
    /// Partly executed, still open.
    PartiallyFilled,
    /// A conditional order waiting for its trigger (open).
    Untriggered,
    /// Refused (closed).
    Rejected,
    /// Spot only: cancelled after a partial fill (closed).
    PartiallyFilledCanceled,
    /// Fully executed (closed).
    Filled,
    /// Cancelled, possibly after fills on derivatives (closed).
    Cancelled,
    /// A conditional order whose trigger fired (transient).
    Triggered,
    /// A conditional order cancelled before it triggered (closed).
    Deactivated,
}

impl OrderStatus {
    /// The wire value, or `None` when Bybit sends one this table does not know.
    pub fn parse(text: &str) -> Option<OrderStatus> {
        Some(match text {
            "New" => OrderStatus::New,
            "PartiallyFilled" => OrderStatus::PartiallyFilled,
            "Untriggered" => OrderStatus::Untriggered,
            "Rejected" => OrderStatus::Rejected,
            "PartiallyFilledCanceled" => OrderStatus::PartiallyFilledCanceled,
            "Filled" => OrderStatus::Filled,
            "Cancelled" => OrderStatus::Cancelled,
            "Triggered" => OrderStatus::Triggered,
            "Deactivated" => OrderStatus::Deactivated,
            _ => return None,
        })
    }
}

/// The ledger-side state an order message means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderState {
    /// Accepted and working (or waiting for its trigger).
    New,
    /// Working with some quantity executed.
    PartiallyFilled,
    /// Fully executed.
    Filled,
    /// Left the book without (further) fills at the venue's or our request.
    Cancelled,
    /// Its time in force ran out: an IOC/FOK remainder.
    Expired,
    /// Refused, including a PostOnly that would have taken liquidity.
    Rejected,
}

/// `rejectReason` of a PostOnly order that would have crossed.
pub const POST_ONLY_WOULD_TAKE: &str = "EC_PostOnlyWillTakeLiquidity";

/// What besides the status decides a closed order's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closing<'a> {
    /// The wire `timeInForce` (`GTC`, `IOC`, `FOK`, `PostOnly`, `RPI`).
    pub tif: &'a str,
    /// The wire `leavesQty`.
    pub leaves_qty: Decimal,
    /// The wire `rejectReason`.
    pub reject_reason: &'a str,
}

/// The mapping table of venues.md §B2. `Cancelled` is refined: a PostOnly reject reason
/// makes it `Rejected`; an IOC or FOK with quantity left makes it `Expired`, because for
/// those the venue, not a request, removed the remainder, which is what the ledger calls
/// an expiry. Market orders are IOC on Bybit, so their unfilled remainder expires too.
pub fn order_state(status: OrderStatus, closing: Closing<'_>) -> OrderState {
    match status {
        OrderStatus::New | OrderStatus::Untriggered | OrderStatus::Triggered => OrderState::New,
        OrderStatus::PartiallyFilled => OrderState::PartiallyFilled,
        OrderStatus::Filled => OrderState::Filled,
        OrderStatus::Rejected => OrderState::Rejected,
        OrderStatus::PartiallyFilledCanceled | OrderStatus::Deactivated => OrderState::Cancelled,
        OrderStatus::Cancelled => cancelled_state(closing),
    }
}

fn cancelled_state(closing: Closing<'_>) -> OrderState {
    if closing.reject_reason == POST_ONLY_WOULD_TAKE {
        return OrderState::Rejected;
    }
    let immediate = matches!(closing.tif, "IOC" | "FOK");
    if immediate && closing.leaves_qty.is_positive() {
        return OrderState::Expired;
    }
    OrderState::Cancelled
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: &str, tif: &str, leaves: &str, reason: &str, want: OrderState) {
        let status = OrderStatus::parse(status).unwrap();
        let closing = Closing {
            tif,
            leaves_qty: leaves.parse().unwrap(),
            reject_reason: reason,
        };
        assert_eq!(
            order_state(status, closing),
            want,
            "{status:?} {tif} {leaves} {reason}"
        );
    }

    #[test]
    fn open_statuses() {
        check("New", "GTC", "1", "EC_NoError", OrderState::New);
        check("Untriggered", "GTC", "1", "EC_NoError", OrderState::New);
        check("Triggered", "GTC", "1", "EC_NoError", OrderState::New);
        check(
            "PartiallyFilled",
            "GTC",
            "0.4",
            "EC_NoError",
            OrderState::PartiallyFilled,
        );
    }

    #[test]
    fn closed_statuses() {
        check("Filled", "GTC", "0", "EC_NoError", OrderState::Filled);
        check(
            "Rejected",
            "GTC",
            "1",
            "EC_NoEnoughQtyToFill",
            OrderState::Rejected,
        );
        check(
            "PartiallyFilledCanceled",
            "GTC",
            "0.5",
            "",
            OrderState::Cancelled,
        );
        check(
            "Deactivated",
            "GTC",
            "1",
            "EC_NoError",
            OrderState::Cancelled,
        );
        check("Cancelled", "GTC", "1", "EC_NoError", OrderState::Cancelled);
    }

    #[test]
    fn cancelled_refinements() {
        check(
            "Cancelled",
            "PostOnly",
            "1",
            POST_ONLY_WOULD_TAKE,
            OrderState::Rejected,
        );
        check(
            "Cancelled",
            "IOC",
            "0.3",
            "EC_NoImmediateQtyToFill",
            OrderState::Expired,
        );
        check(
            "Cancelled",
            "FOK",
            "1",
            "EC_NoEnoughQtyToFill",
            OrderState::Expired,
        );
        // Nothing left: a plain cancel, whatever the time in force.
        check("Cancelled", "IOC", "0", "EC_NoError", OrderState::Cancelled);
    }

    #[test]
    fn unknown_status_is_none() {
        assert_eq!(OrderStatus::parse("Active"), None);
    }
}
