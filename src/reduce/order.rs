//! The order state machine: an [`Order`] as its lifecycle events leave it, and the one
//! table of legal moves.
//!
//! Every move is computed on a copy (`Order` → `Result<Order, _>`). This file does not
//! find orders (by client or venue id), nor touch positions: `projection.rs` does.
//!
//! # Transition table
//!
//! Rows are the order's state, columns the event (`close_order` is the reconciliation
//! correction). `·` is illegal ([`Violation::IllegalTransition`]), `=` keeps the state,
//! `prior` returns to the state remembered when the pending request was made. An
//! `order_submitted` for a known client id is [`Violation::DuplicateOrder`]; any other
//! order event for an unknown id is [`Violation::UnknownOrder`].
//!
//! | state | order_accepted | order_rejected | order_amend_requested | order_amended | order_amend_rejected | order_cancel_requested | order_cancel_rejected | order_cancelled | order_expired | order_triggered | fill | close_order |
//! |---|---|---|---|---|---|---|---|---|---|---|---|---|
//! | submitted | accepted | rejected | · | · | · | · | · | cancelled | expired | · | partially_filled¹ | cancelled |
//! | accepted | · | · | pending_amend | · | · | pending_cancel | · | cancelled | expired | triggered² | partially_filled¹ | cancelled |
//! | triggered | · | · | pending_amend | · | · | pending_cancel | · | cancelled | expired | · | partially_filled¹ | cancelled |
//! | partially_filled | · | · | pending_amend | · | · | pending_cancel | · | cancelled | expired | · | partially_filled¹ | cancelled |
//! | pending_cancel | · | · | · | · | · | · | prior | cancelled | expired | =³ | =⁴ | cancelled |
//! | pending_amend | · | · | · | prior⁵ | prior | · | · | cancelled | expired | =³ | =⁴ | cancelled |
//! | filled | · | · | · | · | =⁶ | · | =⁶ | · | · | · | =⁷ | · |
//! | cancelled | · | · | · | · | =⁶ | · | =⁶ | · | · | · | =⁷ | · |
//! | expired | · | · | · | · | =⁶ | · | =⁶ | · | · | · | =⁷ | · |
//! | rejected | · | · | · | · | · | · | · | · | · | · | · | · |
//!
//! 1. `filled` once `filled_qty` reaches `qty`. A fill may precede the venue's ack.
//! 2. Stop orders only; otherwise [`Violation::NotAStopOrder`].
//! 3. Only when the remembered state is `accepted`: it becomes `triggered` (the stop
//!    fired while the request was in flight).
//! 4. The remembered state becomes `partially_filled`; a fill that completes the order
//!    moves it to `filled` (the request lost the race).
//! 5. With the new qty / px / trigger_px; `filled` when the new qty equals `filled_qty`.
//!    An amend (requested or confirmed) below `filled_qty` is
//!    [`Violation::AmendBelowFilled`].
//! 6. The request lost a race with the order's end: recorded, nothing changes.
//! 7. The fill is real: it moves the position and `filled_qty`, the state stays;
//!    `overfilled` is set once `filled_qty` exceeds `qty` (not an error).
//!
//! Unilateral venue actions (`order_cancelled`, `order_expired`) are legal from every
//! open state. Requests (`*_requested`) are ours, one at a time, on an order the venue
//! has acknowledged.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::event::{
    ClientOrderId, Decimal, OrderAmend, OrderSubmitted, OrderType, PositionKey, Seq, Side,
    TimeInForce, Timestamp, VenueOrderId,
};

use super::error::{Violation, checked};

/// Where an order is in its lifecycle. See the module doc for the moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// Sent, not yet acknowledged.
    Submitted,
    /// Resting (or, for a stop, waiting for its trigger).
    Accepted,
    /// Some quantity filled, the rest still working.
    PartiallyFilled,
    /// All quantity filled.
    Filled,
    /// We asked to cancel; the venue has not answered.
    PendingCancel,
    /// We asked to amend; the venue has not answered.
    PendingAmend,
    /// Left the book without filling completely.
    Cancelled,
    /// Refused by the venue.
    Rejected,
    /// Its time in force ran out.
    Expired,
    /// A stop whose trigger traded: now working as a market or limit order.
    Triggered,
}

impl OrderState {
    /// Every state, in declaration order.
    pub const ALL: [OrderState; 10] = [
        OrderState::Submitted,
        OrderState::Accepted,
        OrderState::PartiallyFilled,
        OrderState::Filled,
        OrderState::PendingCancel,
        OrderState::PendingAmend,
        OrderState::Cancelled,
        OrderState::Rejected,
        OrderState::Expired,
        OrderState::Triggered,
    ];

    /// The snake_case name used in the table, JSON and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Submitted => "submitted",
            OrderState::Accepted => "accepted",
            OrderState::PartiallyFilled => "partially_filled",
            OrderState::Filled => "filled",
            OrderState::PendingCancel => "pending_cancel",
            OrderState::PendingAmend => "pending_amend",
            OrderState::Cancelled => "cancelled",
            OrderState::Rejected => "rejected",
            OrderState::Expired => "expired",
            OrderState::Triggered => "triggered",
        }
    }

    /// True while the order can still fill or be acted on by the venue.
    pub fn is_open(self) -> bool {
        !self.is_terminal()
    }

    /// True once the order has ended (filled, cancelled, rejected, expired).
    pub fn is_terminal(self) -> bool {
        use OrderState::*;
        matches!(self, Filled | Cancelled | Rejected | Expired)
    }

    /// True while a request of ours is in flight.
    pub fn is_pending(self) -> bool {
        matches!(self, OrderState::PendingCancel | OrderState::PendingAmend)
    }
}

impl fmt::Display for OrderState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An order as its events left it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Our id.
    pub client_order_id: ClientOrderId,
    /// The venue's id, once it acknowledged the order.
    pub venue_order_id: Option<VenueOrderId>,
    /// The position it trades.
    pub key: PositionKey,
    /// Side.
    pub side: Side,
    /// Order type.
    pub order_type: OrderType,
    /// Total quantity (as last amended).
    pub qty: Decimal,
    /// Limit price (as last amended).
    pub px: Option<Decimal>,
    /// Trigger price (as last amended).
    pub trigger_px: Option<Decimal>,
    /// Time in force.
    pub tif: TimeInForce,
    /// May only reduce the position.
    pub reduce_only: bool,
    /// Must rest on the book.
    pub post_only: bool,
    /// Current state.
    pub state: OrderState,
    /// The state to return to when a pending request is refused; `Some` exactly while
    /// `state` is pending.
    pub prior_state: Option<OrderState>,
    /// Quantity filled so far (can exceed `qty`: see `overfilled`).
    pub filled_qty: Decimal,
    /// `Σ px × qty` over its fills, for the average fill price.
    pub filled_notional: Decimal,
    /// Fills applied.
    pub fills: u64,
    /// Set once `filled_qty` exceeded `qty`; a venue anomaly worth reconciling.
    pub overfilled: bool,
    /// The venue's last reason (rejection or cancellation), when it gave one.
    pub reason: Option<String>,
    /// Seq of `order_submitted`.
    pub submitted_seq: Seq,
    /// Last seq that changed this order.
    pub last_seq: Seq,
    /// Event time of the event that ended it (`None` while open). The projection
    /// forgets the order `ORDER_RETENTION_NANOS` after it.
    pub ended_ts: Option<Timestamp>,
}

/// An order lifecycle event with the data the state machine needs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum OrderEvent<'a> {
    Accepted(Option<&'a VenueOrderId>),
    Rejected(&'a str),
    AmendRequested(&'a OrderAmend),
    Amended(&'a OrderAmend),
    AmendRejected,
    CancelRequested,
    CancelRejected,
    Cancelled(Option<&'a str>),
    Expired,
    Triggered,
    Fill { qty: Decimal, px: Decimal },
    CloseOrder,
}

impl OrderEvent<'_> {
    /// The column name in the table (the payload kind, or `close_order`).
    pub(crate) fn name(&self) -> &'static str {
        match self {
            OrderEvent::Accepted(_) => "order_accepted",
            OrderEvent::Rejected(_) => "order_rejected",
            OrderEvent::AmendRequested(_) => "order_amend_requested",
            OrderEvent::Amended(_) => "order_amended",
            OrderEvent::AmendRejected => "order_amend_rejected",
            OrderEvent::CancelRequested => "order_cancel_requested",
            OrderEvent::CancelRejected => "order_cancel_rejected",
            OrderEvent::Cancelled(_) => "order_cancelled",
            OrderEvent::Expired => "order_expired",
            OrderEvent::Triggered => "order_triggered",
            OrderEvent::Fill { .. } => "fill",
            OrderEvent::CloseOrder => "close_order",
        }
    }
}

/// What the table says about one (state, event) cell.
enum Step {
    Illegal,
    To(OrderState),
    Pend(OrderState),
    Prior,
    Stay,
    Trigger,
    Fill,
}

/// The transition table of the module doc, in code.
fn step(state: OrderState, event: &OrderEvent<'_>) -> Step {
    use OrderEvent as E;
    use OrderState::*;
    let working = matches!(state, Accepted | Triggered | PartiallyFilled);
    let ended = matches!(state, Filled | Cancelled | Expired);
    match event {
        E::Accepted(_) if state == Submitted => Step::To(Accepted),
        E::Rejected(_) if state == Submitted => Step::To(Rejected),
        E::AmendRequested(_) if working => Step::Pend(PendingAmend),
        E::CancelRequested if working => Step::Pend(PendingCancel),
        E::Amended(_) | E::AmendRejected if state == PendingAmend => Step::Prior,
        E::CancelRejected if state == PendingCancel => Step::Prior,
        E::AmendRejected | E::CancelRejected if ended => Step::Stay,
        E::Cancelled(_) | E::CloseOrder if state.is_open() => Step::To(Cancelled),
        E::Expired if state.is_open() => Step::To(Expired),
        E::Triggered if state == Accepted || state.is_pending() => Step::Trigger,
        E::Fill { .. } if state != Rejected => Step::Fill,
        _ => Step::Illegal,
    }
}

impl Order {
    /// A new order from its `order_submitted` at `seq`.
    pub(crate) fn submitted(sub: &OrderSubmitted, seq: Seq) -> Order {
        Order {
            client_order_id: sub.client_order_id.clone(),
            venue_order_id: None,
            key: PositionKey {
                venue: sub.venue.clone(),
                book: sub.book.clone(),
                instrument: sub.instrument.clone(),
            },
            side: sub.side,
            order_type: sub.order_type,
            qty: sub.qty,
            px: sub.px,
            trigger_px: sub.trigger_px,
            tif: sub.tif,
            reduce_only: sub.reduce_only,
            post_only: sub.post_only,
            state: OrderState::Submitted,
            prior_state: None,
            filled_qty: Decimal::ZERO,
            filled_notional: Decimal::ZERO,
            fills: 0,
            overfilled: false,
            reason: None,
            submitted_seq: seq,
            last_seq: seq,
            ended_ts: None,
        }
    }

    /// Average fill price, when anything filled.
    pub fn avg_fill_px(&self) -> Option<Decimal> {
        match self.filled_qty.is_positive() {
            true => self.filled_notional.checked_div(self.filled_qty),
            false => None,
        }
    }

    /// Quantity still to fill (zero when filled or overfilled).
    pub fn remaining_qty(&self) -> Decimal {
        // Both are bounded decimals of the same sign; subtraction cannot overflow.
        self.qty
            .checked_sub(self.filled_qty)
            .unwrap_or(Decimal::ZERO)
            .max(Decimal::ZERO)
    }

    fn illegal(&self, event: &OrderEvent<'_>) -> Violation {
        Violation::IllegalTransition {
            order: self.client_order_id.clone(),
            event: event.name(),
            state: self.state,
        }
    }

    /// This order after `event` at `seq`, or the violation that forbids it.
    pub(crate) fn after(&self, event: &OrderEvent<'_>, seq: Seq) -> Result<Order, Violation> {
        let mut next = self.clone();
        next.last_seq = seq;
        match step(self.state, event) {
            Step::Illegal => return Err(self.illegal(event)),
            Step::To(state) => {
                next.state = state;
                next.prior_state = None;
            }
            Step::Pend(state) => {
                next.state = state;
                next.prior_state = Some(self.state);
            }
            Step::Prior => {
                next.state = self.prior_state.ok_or_else(|| self.illegal(event))?;
                next.prior_state = None;
            }
            Step::Stay => {}
            Step::Trigger => next.trigger(event)?,
            Step::Fill => {
                if let OrderEvent::Fill { qty, px } = event {
                    next.fill(*qty, *px)?;
                }
            }
        }
        match event {
            OrderEvent::Accepted(Some(id)) => next.venue_order_id = Some((*id).clone()),
            OrderEvent::Rejected(reason) => next.reason = Some((*reason).to_string()),
            OrderEvent::Cancelled(Some(reason)) => next.reason = Some((*reason).to_string()),
            OrderEvent::AmendRequested(amend) => next.check_amend(amend.qty)?,
            OrderEvent::Amended(amend) => next.amend(amend)?,
            _ => {}
        }
        Ok(next)
    }

    fn trigger(&mut self, event: &OrderEvent<'_>) -> Result<(), Violation> {
        if !matches!(
            self.order_type,
            OrderType::StopMarket | OrderType::StopLimit
        ) {
            return Err(Violation::NotAStopOrder {
                order: self.client_order_id.clone(),
            });
        }
        match (self.state, self.prior_state) {
            (OrderState::Accepted, _) => self.state = OrderState::Triggered,
            (_, Some(OrderState::Accepted)) => self.prior_state = Some(OrderState::Triggered),
            _ => return Err(self.illegal(event)),
        }
        Ok(())
    }

    fn fill(&mut self, qty: Decimal, px: Decimal) -> Result<(), Violation> {
        let id = &self.client_order_id;
        self.filled_qty = checked(self.filled_qty.checked_add(qty), id, "filled_qty")?;
        let notional = px.checked_mul(qty);
        let total = notional.and_then(|n| self.filled_notional.checked_add(n));
        self.filled_notional = checked(total, id, "filled_notional")?;
        self.fills = self.fills.saturating_add(1);
        self.overfilled = self.overfilled || self.filled_qty > self.qty;
        let complete = self.filled_qty >= self.qty;
        match self.state {
            state if state.is_terminal() => {}
            state if state.is_pending() && !complete => {
                self.prior_state = Some(OrderState::PartiallyFilled);
            }
            _ if complete => {
                self.state = OrderState::Filled;
                self.prior_state = None;
            }
            _ => self.state = OrderState::PartiallyFilled,
        }
        Ok(())
    }

    fn check_amend(&self, qty: Option<Decimal>) -> Result<(), Violation> {
        match qty {
            Some(qty) if qty < self.filled_qty => Err(Violation::AmendBelowFilled {
                order: self.client_order_id.clone(),
                qty,
                filled_qty: self.filled_qty,
            }),
            _ => Ok(()),
        }
    }

    fn amend(&mut self, amend: &OrderAmend) -> Result<(), Violation> {
        self.check_amend(amend.qty)?;
        self.qty = amend.qty.unwrap_or(self.qty);
        self.px = amend.px.or(self.px);
        self.trigger_px = amend.trigger_px.or(self.trigger_px);
        if self.filled_qty.is_positive() && self.filled_qty == self.qty {
            self.state = OrderState::Filled;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "order_tests.rs"]
mod tests;
