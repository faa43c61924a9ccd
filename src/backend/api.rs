//! The execution backend contract: how the engine talks to a venue, simulated or live.
//!
//! Requests go in (`submit`, `cancel`, `amend`); every outcome comes back as report
//! events through [`ExecutionBackend::reports`], never as a return value, so a live
//! venue's asynchronous acknowledgements and the simulator's immediate ones take the
//! same path into the log. The methods are async even though the simulator never waits
//! (seed 004 §3.1): Bybit and Hyperliquid adapters plug into the same engine loop.
//!
//! This file holds no venue logic and no wire types.

use std::future::Future;

use crate::event::{
    ClientOrderId, Decimal, Event, OrderSubmitted, PlannedOrder, PositionKey, SnapshotBalance,
    SnapshotOrder, SnapshotPosition, Timestamp, Venue,
};

/// One order for a venue: the instrument and what to send.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRequest {
    /// The instrument (and venue) the order trades.
    pub key: PositionKey,
    /// The order, as the executor planned it.
    pub order: PlannedOrder,
}

impl OrderRequest {
    /// The `order_submitted` payload the engine appends before sending this request.
    pub fn submitted(&self) -> OrderSubmitted {
        let o = &self.order;
        OrderSubmitted {
            venue: self.key.venue.clone(),
            book: self.key.book.clone(),
            instrument: self.key.instrument.clone(),
            client_order_id: o.client_order_id.clone(),
            side: o.side,
            order_type: o.order_type,
            qty: o.qty,
            px: o.px,
            trigger_px: o.trigger_px,
            tif: o.tif,
            reduce_only: o.reduce_only,
            post_only: o.post_only,
        }
    }
}

/// A request the backend could not take. Refusals of an order by the venue's rules are
/// not errors: they are reports (`order_rejected`, `order_cancel_rejected`, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{venue}: {what}")]
pub struct BackendError {
    /// The venue that refused or failed.
    pub venue: Venue,
    /// What went wrong, lowercase.
    pub what: String,
    /// True when sending the same request again may succeed (timeouts, rate limits,
    /// a full queue); false when it never will (unknown order, bad request).
    pub retryable: bool,
}

impl BackendError {
    /// An error a retry cannot fix.
    pub fn permanent(venue: &Venue, what: impl Into<String>) -> BackendError {
        BackendError {
            venue: venue.clone(),
            what: what.into(),
            retryable: false,
        }
    }

    /// An error a later retry may get past.
    pub fn retryable(venue: &Venue, what: impl Into<String>) -> BackendError {
        BackendError {
            venue: venue.clone(),
            what: what.into(),
            retryable: true,
        }
    }
}

/// What the engine needs from a venue. The engine is generic over `B: ExecutionBackend`.
///
/// The engine's side of the contract: append `order_submitted` before `submit`, and
/// `order_cancel_requested` / `order_amend_requested` before `cancel` / `amend`, asking
/// only when the projection allows the request (`Projection::check_transition`). Then
/// every report the backend returns is a legal next event for the projection.
///
/// Futures are `Send` so an engine can run on a multi-threaded runtime; the simulator's
/// futures are already complete when returned.
pub trait ExecutionBackend {
    /// Send an order. The engine has already appended `order_submitted` for it. The
    /// backend answers with reports (accepted/rejected/fills…) through `reports()`, never
    /// by return value. Submitting a client id the backend already knows is a retry and
    /// does nothing.
    fn submit(
        &mut self,
        now: Timestamp,
        request: OrderRequest,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Ask to cancel an order; answered by `order_cancelled` or `order_cancel_rejected`.
    fn cancel(
        &mut self,
        now: Timestamp,
        id: &ClientOrderId,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Ask to change an open order's total quantity and/or prices; answered by
    /// `order_amended` or `order_amend_rejected`.
    fn amend(
        &mut self,
        now: Timestamp,
        id: &ClientOrderId,
        qty: Option<Decimal>,
        px: Option<Decimal>,
        trigger_px: Option<Decimal>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// The orders the venue holds open, for reconciliation.
    fn open_orders(&self) -> impl Future<Output = Result<Vec<SnapshotOrder>, BackendError>> + Send;

    /// The venue's non-flat positions, for reconciliation.
    fn positions(&self)
    -> impl Future<Output = Result<Vec<SnapshotPosition>, BackendError>> + Send;

    /// The venue's account balances, for reconciliation. A backend that reports no
    /// balances (the simulated exchange keeps equity, not a wallet) has none to
    /// compare, so nothing is said about them.
    fn balances(&self) -> impl Future<Output = Result<Vec<SnapshotBalance>, BackendError>> + Send {
        std::future::ready(Ok(Vec::new()))
    }

    /// Account equity in the quote currency, unrealized PnL included.
    fn equity(&self) -> impl Future<Output = Result<Decimal, BackendError>> + Send;

    /// Execution reports produced since the last call, in order, as events
    /// (order_accepted, order_rejected, order_amended, order_amend_rejected,
    /// order_cancelled, order_cancel_rejected, order_expired, order_triggered, fill,
    /// funding).
    fn reports(&mut self) -> impl Future<Output = Result<Vec<Event>, BackendError>> + Send;

    /// Fetch, by request, the reports a push stream may not have delivered yet (a
    /// venue's REST answer can be ahead of its stream): reconciliation asks before it
    /// calls a difference drift, so a fill on its way is applied as a fill, once, not
    /// corrected and then applied again. They come out of the next `reports()`. A
    /// backend whose reports are never behind its snapshots has nothing to fetch.
    fn catch_up(&mut self, why: &str) -> impl Future<Output = Result<(), BackendError>> + Send {
        let _ = why;
        std::future::ready(Ok(()))
    }
}
