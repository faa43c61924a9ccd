//! Why an event cannot be applied to a projection: a [`Violation`] of the order state
//! machine or of accounting, and the [`ReduceError`] that pins it to a seq.
//!
//! This file only describes failures; it does not decide them (see `order.rs`,
//! `position.rs`, `projection.rs`).

use crate::event::{ClientOrderId, Decimal, ExecId, Seq, Venue, VenueOrderId};

use super::order::OrderState;

/// An event that cannot be applied at its place in the log. The projection it was
/// applied to is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("seq {seq}: {violation}")]
pub struct ReduceError {
    /// The event's seq.
    pub seq: Seq,
    /// What is wrong with it.
    pub violation: Violation,
}

/// What makes an event illegal at the projection's current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// The order exists, but this event is not an allowed move from its state.
    #[error("order {order}: cannot apply {event} in state {state}")]
    IllegalTransition {
        /// The order.
        order: ClientOrderId,
        /// The event's kind (`order_accepted`, `fill`, `close_order`…).
        event: &'static str,
        /// The order's state when the event arrived.
        state: OrderState,
    },
    /// An order event names a client order id the projection never saw submitted.
    #[error("order {order}: {event} for an unknown order")]
    UnknownOrder {
        /// The id named by the event.
        order: ClientOrderId,
        /// The event's kind.
        event: &'static str,
    },
    /// `order_submitted` reuses a client order id that is already known.
    #[error("order {order}: submitted twice")]
    DuplicateOrder {
        /// The reused id.
        order: ClientOrderId,
    },
    /// `order_triggered` for an order that has no trigger (not a stop order).
    #[error("order {order}: triggered, but it is not a stop order")]
    NotAStopOrder {
        /// The order.
        order: ClientOrderId,
    },
    /// An amend (requested or confirmed) would set the quantity below what is filled.
    #[error("order {order}: amend to qty {qty} is below the filled qty {filled_qty}")]
    AmendBelowFilled {
        /// The order.
        order: ClientOrderId,
        /// The amended quantity.
        qty: Decimal,
        /// Quantity already filled.
        filled_qty: Decimal,
    },
    /// A fill matched an order but disagrees with it (instrument or side).
    #[error("order {order}: fill {field} does not match the order")]
    FillMismatch {
        /// The order.
        order: ClientOrderId,
        /// Which field differs: `position key` or `side`.
        field: &'static str,
    },
    /// A venue order id already belongs to another order on the same venue.
    #[error("order {order}: venue order id {venue_order_id} already belongs to order {owner}")]
    VenueOrderIdInUse {
        /// The order being accepted.
        order: ClientOrderId,
        /// The venue's id.
        venue_order_id: VenueOrderId,
        /// The order that already has it.
        owner: ClientOrderId,
    },
    /// Checked decimal arithmetic overflowed.
    #[error("arithmetic overflow in {what} of {subject}")]
    Overflow {
        /// The position key, order id or balance the number belongs to.
        subject: String,
        /// Which quantity overflowed (`cost_basis`, `realized`, `filled_qty`…).
        what: &'static str,
    },
    /// An execution whose `(venue, exec_id)` is already in the log with other
    /// content. An exact repeat is a duplicate (skipped and counted); one that
    /// disagrees is never taken for one: the log keeps what it has and refuses this.
    #[error(
        "execution {venue}/{exec_id} is already in the log at seq {stored_seq} with another {fields}: a conflicting duplicate"
    )]
    ExecutionConflict {
        /// The venue.
        venue: Venue,
        /// The venue's execution id.
        exec_id: ExecId,
        /// Where the stored execution is.
        stored_seq: Seq,
        /// The fields that differ, comma-separated (`px, qty`, `ts`, `type`…).
        fields: String,
    },
    /// Events must be applied in strictly increasing seq order.
    #[error("seq is not after the last applied seq {last_seq}")]
    OutOfOrder {
        /// The projection's last applied seq.
        last_seq: Seq,
    },
}

/// `value`, or an [`Violation::Overflow`] naming `subject` and `what`.
#[inline]
pub(crate) fn checked(
    value: Option<Decimal>,
    subject: &dyn std::fmt::Display,
    what: &'static str,
) -> Result<Decimal, Violation> {
    value.ok_or_else(|| Violation::Overflow {
        subject: subject.to_string(),
        what,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_seq_the_order_the_event_and_the_state() {
        let err = ReduceError {
            seq: 42,
            violation: Violation::IllegalTransition {
                order: ClientOrderId::from("c-1"),
                event: "order_accepted",
                state: OrderState::Filled,
            },
        };
        assert_eq!(
            err.to_string(),
            "seq 42: order c-1: cannot apply order_accepted in state filled"
        );
    }

    #[test]
    fn checked_turns_none_into_an_overflow_naming_the_subject() {
        let err = checked(None, &"bybit:linear:BTCUSDT", "realized").unwrap_err();
        assert_eq!(
            err.to_string(),
            "arithmetic overflow in realized of bybit:linear:BTCUSDT"
        );
        assert_eq!(
            checked(Some(Decimal::ONE), &"x", "y").unwrap(),
            Decimal::ONE
        );
    }
}
