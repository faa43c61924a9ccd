//! The simulated venue's open orders, in time priority, and what it remembers about
//! orders that ended (for [`ENDED_RETENTION_NANOS`] of event time).
//!
//! Only bookkeeping: which orders exist, their remaining quantity and their priority.
//! Matching and reports are `exchange.rs`'s; prices are `matching.rs`'s.

use std::collections::{BTreeMap, VecDeque};

use crate::event::{
    ClientOrderId, Decimal, OrderType, PositionKey, Side, SnapshotOrder, TimeInForce, Timestamp,
    VenueOrderId,
};

use crate::backend::OrderRequest;

/// One open order on the simulated venue.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SimOrder {
    pub id: ClientOrderId,
    pub venue_order_id: VenueOrderId,
    pub key: PositionKey,
    pub side: Side,
    pub order_type: OrderType,
    /// Total quantity, as last amended.
    pub qty: Decimal,
    /// Limit price (limit and stop-limit).
    pub px: Option<Decimal>,
    /// Trigger price (stops).
    pub trigger_px: Option<Decimal>,
    pub tif: TimeInForce,
    pub reduce_only: bool,
    pub post_only: bool,
    pub filled: Decimal,
    /// When the venue accepted it: it matches only market events after this time.
    pub accepted_at: Timestamp,
    /// When its stop trigger traded, for stops.
    pub triggered_at: Option<Timestamp>,
}

impl SimOrder {
    /// A freshly accepted order.
    pub fn accepted(request: &OrderRequest, venue_order_id: VenueOrderId, at: Timestamp) -> Self {
        let o = &request.order;
        SimOrder {
            id: o.client_order_id.clone(),
            venue_order_id,
            key: request.key.clone(),
            side: o.side,
            order_type: o.order_type,
            qty: o.qty,
            px: o.px,
            trigger_px: o.trigger_px,
            tif: o.tif,
            reduce_only: o.reduce_only,
            post_only: o.post_only,
            filled: Decimal::ZERO,
            accepted_at: at,
            triggered_at: None,
        }
    }

    /// Quantity still to fill (never negative).
    pub fn remaining(&self) -> Decimal {
        self.qty
            .checked_sub(self.filled)
            .unwrap_or(Decimal::ZERO)
            .max(Decimal::ZERO)
    }

    /// A stop whose trigger has not traded yet.
    pub fn is_waiting_stop(&self) -> bool {
        matches!(
            self.order_type,
            OrderType::StopMarket | OrderType::StopLimit
        ) && self.triggered_at.is_none()
    }

    /// Works as a market order: a market order, or a stop-market that triggered.
    pub fn is_market_like(&self) -> bool {
        match self.order_type {
            OrderType::Market => true,
            OrderType::StopMarket => self.triggered_at.is_some(),
            _ => false,
        }
    }

    /// Rests as a limit at `px`: a limit, or a stop-limit that triggered before `ts`.
    pub fn is_resting_limit_before(&self, ts: Timestamp) -> bool {
        match self.order_type {
            OrderType::Limit => true,
            OrderType::StopLimit => self.triggered_at.is_some_and(|t| t < ts),
            _ => false,
        }
    }

    /// The order as a venue snapshot reports it.
    pub fn snapshot(&self) -> SnapshotOrder {
        SnapshotOrder {
            book: self.key.book.clone(),
            instrument: self.key.instrument.clone(),
            client_order_id: Some(self.id.clone()),
            venue_order_id: self.venue_order_id.clone(),
            side: self.side,
            qty: self.qty,
            filled_qty: self.filled,
            px: self.px,
        }
    }
}

/// How an order ended, for refusing later requests about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    Filled,
    Cancelled,
    Rejected,
}

impl Ended {
    /// Lowercase name for reasons.
    pub fn as_str(self) -> &'static str {
        match self {
            Ended::Filled => "filled",
            Ended::Cancelled => "cancelled",
            Ended::Rejected => "rejected",
        }
    }
}

/// How long (event time) the venue remembers how an order ended: 24 hours, the
/// ledger's own retention (`reduce::ORDER_RETENTION_NANOS`), so both forget an order
/// at the same time. Until then a cancel or amend of it is answered "order is filled"
/// (etc.) and a submit reusing its id is a retry; after, it is an unknown order, as on
/// a real venue, whose order history is not kept forever either. Without a bound the
/// map grows with the length of the run.
pub(crate) const ENDED_RETENTION_NANOS: i64 = 24 * 3_600 * 1_000_000_000;

/// Open orders in time priority (acceptance order), and the ended ones by id.
///
/// Invariant: an id is in at most one of `open` and `ended`; `ending` holds exactly the
/// ids of `ended`, in the order (and so the event time) they ended.
#[derive(Debug, Clone, Default)]
pub(crate) struct Book {
    open: Vec<SimOrder>,
    ended: BTreeMap<ClientOrderId, Ended>,
    ending: VecDeque<(Timestamp, ClientOrderId)>,
}

impl Book {
    /// The open order `id`.
    pub fn get(&self, id: &ClientOrderId) -> Option<&SimOrder> {
        self.open.iter().find(|o| &o.id == id)
    }

    /// The open order `id`, to change it.
    pub fn get_mut(&mut self, id: &ClientOrderId) -> Option<&mut SimOrder> {
        self.open.iter_mut().find(|o| &o.id == id)
    }

    /// How `id` ended, if it did.
    pub fn ended(&self, id: &ClientOrderId) -> Option<Ended> {
        self.ended.get(id).copied()
    }

    /// True when the venue has seen `id` (open or ended).
    pub fn knows(&self, id: &ClientOrderId) -> bool {
        self.get(id).is_some() || self.ended.contains_key(id)
    }

    /// Add an accepted order at the back of the queue.
    pub fn push(&mut self, order: SimOrder) {
        self.open.push(order);
    }

    /// Record an order that never opened (rejected) at `at`.
    pub fn end_unopened(&mut self, id: ClientOrderId, how: Ended, at: Timestamp) {
        self.remember(id, how, at);
    }

    /// Take `id` off the book at `at`, remembering how it ended.
    pub fn close(&mut self, id: &ClientOrderId, how: Ended, at: Timestamp) -> Option<SimOrder> {
        let index = self.open.iter().position(|o| &o.id == id)?;
        self.remember(id.clone(), how, at);
        Some(self.open.remove(index))
    }

    fn remember(&mut self, id: ClientOrderId, how: Ended, at: Timestamp) {
        if self.ended.insert(id.clone(), how).is_none() {
            self.ending.push_back((at, id));
        }
    }

    /// Forget the orders that ended at or before `now − ENDED_RETENTION_NANOS`. The
    /// venue's clock only moves forward, so `ending` is in time order.
    pub fn forget_ended(&mut self, now: Timestamp) {
        let cutoff = now.plus_nanos(-ENDED_RETENTION_NANOS);
        while self.ending.front().is_some_and(|(at, _)| *at <= cutoff) {
            if let Some((_, id)) = self.ending.pop_front() {
                self.ended.remove(&id);
            }
        }
    }

    /// Ids of open orders matching `filter`, in time priority.
    pub fn ids(&self, filter: impl Fn(&SimOrder) -> bool) -> Vec<ClientOrderId> {
        self.open
            .iter()
            .filter(|o| filter(o))
            .map(|o| o.id.clone())
            .collect()
    }

    /// Every open order, in time priority.
    pub fn open(&self) -> &[SimOrder] {
        &self.open
    }
}
