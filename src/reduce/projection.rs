//! The [`Projection`]: positions, orders, marks and balances as the log leaves them, and
//! `apply`, the one function that moves it by one event.
//!
//! `apply` is pure: no clock, no I/O, no randomness; every map is a `BTreeMap`, so the
//! stored form (and [`Projection::hash`]) depends only on the events applied. It is
//! also atomic: the event's whole effect is computed first (a [`Change`] of copies) and
//! written only when nothing failed. Which events move what:
//!
//! * `trade` / `candle`: the mark of their key (candles by `close`; quotes do not mark);
//! * order lifecycle events and `close_order` corrections: the order (`order.rs`);
//! * `fill`: its order (by client id, else by venue order id; neither is an external
//!   order, position only) and its position; `liquidation` / `adl`: the position;
//! * `funding`: the position; `balance`, `transfer`, `set_balance`: a balance
//!   (`account.rs`); `set_position`: the position, realizing nothing;
//! * everything else (decisions, snapshots, drift, sessions): only `last_seq`/`last_ts`.
//!
//! Ended orders are not kept forever: each event first forgets the orders that ended
//! at least [`ORDER_RETENTION_NANOS`] of event time before it (see there for why that
//! is safe, and what an event naming a forgotten order does). The log keeps every
//! event; only the projection's memory is bounded.

use std::collections::{BTreeMap, BTreeSet};

use crate::event::codec::{self, CodecError};
use crate::event::{
    ClientOrderId, Correction, CorrectionApplied, Decimal, Envelope, Event, Fill, ForcedClose,
    OrderSubmitted, Payload, PositionKey, PositionKeyRef, Seq, Timestamp, Venue, VenueOrderId,
};

use super::account::{self, BalanceKey};
use super::error::{ReduceError, Violation};
use super::order::{Order, OrderEvent};
use super::position::{ExecKind, Execution, Position};

/// How long (event time) an order stays in the projection after it ended (filled,
/// cancelled, rejected or expired): 24 hours.
///
/// Why keep it at all: a venue still reports about an ended order for a while — a late
/// fill (order table note ⁷), a cancel or amend refusal that lost the race (note ⁶), a
/// reconciliation snapshot — and those should find the order. Venues send them within
/// seconds, so a day is a wide margin.
///
/// Why forget it: the projection is checkpointed, hashed and held by every writer and
/// replay; keeping every order ever made grows it with the length of the run (a
/// backtest places thousands of orders a month). A day of ended orders is bounded by
/// the strategy's order rate, not by how long it runs.
///
/// Once an order is forgotten, a fill naming it applies to its position as an external
/// order's fill (as a fill naming an unknown order always has); any other event naming
/// it is [`Violation::UnknownOrder`]; an `order_submitted` reusing its client id opens a
/// new order. Forgetting is a pure function of the events: an event at time `t` first
/// removes, in `(ended ts, client id)` order, every order that ended at or before
/// `t − ORDER_RETENTION_NANOS`. The queue of ended orders is part of the projection (of
/// its hash and its checkpoints), so replay from genesis, replay from any checkpoint and
/// a writer's live projection agree.
pub const ORDER_RETENTION_NANOS: i64 = 24 * 3_600 * 1_000_000_000;

/// Everything the log says we hold, as a pure fold of its events.
///
/// Its stored (and hashed) form is written by `stored.rs`: the marks and the positions
/// are two maps there, one map of [`KeySlot`]s here.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Projection {
    pub(super) last_seq: Seq,
    pub(super) last_ts: Timestamp,
    /// Mark and position per key, so a trade finds both with one search.
    pub(super) slots: BTreeMap<PositionKey, KeySlot>,
    pub(super) orders: BTreeMap<ClientOrderId, Order>,
    pub(super) venue_order_ids: BTreeMap<(Venue, VenueOrderId), ClientOrderId>,
    pub(super) balances: BTreeMap<BalanceKey, Decimal>,
    /// The ended orders still held, by the event time they ended: the queue
    /// [`ORDER_RETENTION_NANOS`] is enforced from. Exactly the orders of `orders` that
    /// have an `ended_ts`.
    pub(super) ended_orders: BTreeSet<(Timestamp, ClientOrderId)>,
}

/// What the projection holds for one position key: the last mark (trade or candle
/// close) and the position, either of which may be absent. When both are present,
/// `position.mark_px == mark`.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct KeySlot {
    pub(super) mark: Option<Decimal>,
    pub(super) position: Option<Position>,
}

/// Orders that ended at or before this event time are forgotten by the event being
/// planned: lookups treat them as absent, and `commit` removes them.
#[derive(Debug, Clone, Copy)]
struct Cutoff(Timestamp);

impl Cutoff {
    /// The cutoff an event at `ts` applies.
    fn at(ts: Timestamp) -> Cutoff {
        Cutoff(ts.plus_nanos(-ORDER_RETENTION_NANOS))
    }

    /// True when `order` ended at or before the cutoff.
    fn forgets(self, order: &Order) -> bool {
        order.ended_ts.is_some_and(|ended| ended <= self.0)
    }
}

/// The whole effect of one event, computed before anything is written.
#[derive(Default)]
struct Change {
    position: Option<Position>,
    order: Option<Order>,
    venue_order_id: Option<((Venue, VenueOrderId), ClientOrderId)>,
    balance: Option<(BalanceKey, Decimal)>,
}

/// What applying one event did beyond changing the projection: facts a reader of the
/// fold reports (the projection keeps no history of them: an ended order is forgotten).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// A fill took its order's filled quantity above the order's quantity. A venue's
    /// report is the truth of what executed, so it is applied (the position moves) and
    /// the order is flagged `overfilled`; import reports it, replay and audit show it.
    pub overfill: bool,
}

impl Projection {
    /// An empty projection: the state before seq 1.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fold `envelopes` from an empty projection.
    pub fn fold<'a>(
        envelopes: impl IntoIterator<Item = &'a Envelope>,
    ) -> Result<Projection, ReduceError> {
        let mut projection = Projection::new();
        for envelope in envelopes {
            projection.apply(envelope)?;
        }
        Ok(projection)
    }

    /// Apply one event. Seqs must strictly increase (gaps are allowed, so a filtered
    /// log folds too). On `Err`, `self` is unchanged.
    pub fn apply(&mut self, env: &Envelope) -> Result<Applied, ReduceError> {
        self.apply_event(env.seq, &env.event)
    }

    /// [`Projection::apply`] of `event` at `seq`, for callers that hold the event
    /// apart from its seq (the writer: no envelope is built, no event moved).
    pub fn apply_event(&mut self, seq: Seq, event: &Event) -> Result<Applied, ReduceError> {
        let fail = |violation| ReduceError { seq, violation };
        if seq <= self.last_seq {
            return Err(fail(Violation::OutOfOrder {
                last_seq: self.last_seq,
            }));
        }
        let cutoff = Cutoff::at(event.ts);
        let mut applied = Applied::default();
        // Marks (trades, candle closes) are most of a log: applied in place, without
        // building a `Change`. Same checks, same result as `plan` + `commit`.
        match mark_of(&event.payload) {
            Some((key, px)) => {
                self.apply_mark(key, px).map_err(fail)?;
                self.forget(cutoff);
            }
            None => match self.apply_execution(&event.payload, seq, cutoff, event.ts) {
                Some(outcome) => applied = outcome.map_err(fail)?,
                None => {
                    let change = self.plan(&event.payload, seq, cutoff).map_err(fail)?;
                    // Forget first: the change may reuse a forgotten order's client id.
                    self.forget(cutoff);
                    self.commit(change, event.ts);
                }
            },
        }
        self.last_seq = seq;
        self.last_ts = event.ts;
        Ok(applied)
    }

    /// Fills, liquidations, ADL and funding (the rest of a log's bulk after marks),
    /// applied without building a [`Change`]: the position is recomputed on one copy
    /// and written back into its map slot only on success. Same checks, same result
    /// as `plan` + `commit` (which `check_transition` still uses). `None` for any
    /// other payload.
    fn apply_execution(
        &mut self,
        payload: &Payload,
        seq: Seq,
        cutoff: Cutoff,
        ts: Timestamp,
    ) -> Option<Result<Applied, Violation>> {
        let moved = match payload {
            Payload::Fill(fill) => return Some(self.apply_fill(fill, seq, cutoff, ts)),
            Payload::Liquidation(fc) => {
                let exec = forced_execution(fc, ExecKind::Liquidation);
                let key = PositionKeyRef::new(&fc.venue, &fc.book, &fc.instrument);
                self.move_position(key, |p| p.executed(&exec, seq))
            }
            Payload::Adl(fc) => {
                let exec = forced_execution(fc, ExecKind::Adl);
                let key = PositionKeyRef::new(&fc.venue, &fc.book, &fc.instrument);
                self.move_position(key, |p| p.executed(&exec, seq))
            }
            Payload::Funding(f) => {
                let key = PositionKeyRef::new(&f.venue, &f.book, &f.instrument);
                self.move_position(key, |p| p.funded(f.amount, seq))
            }
            _ => return None,
        };
        let moved = moved.map(|()| Applied::default());
        if moved.is_ok() && !matches!(payload, Payload::Fill(_)) {
            self.forget(cutoff);
        }
        Some(moved)
    }

    /// A fill: its order's next state is planned first (nothing written), then the
    /// position moves, then forgotten orders go, then the order is written.
    fn apply_fill(
        &mut self,
        fill: &Fill,
        seq: Seq,
        cutoff: Cutoff,
        ts: Timestamp,
    ) -> Result<Applied, Violation> {
        let key = PositionKeyRef::new(&fill.venue, &fill.book, &fill.instrument);
        let order = self.fill_order_after(fill, key, seq, cutoff)?;
        let exec = fill_execution(fill);
        self.move_position(key, |p| p.executed(&exec, seq))?;
        let overfill = order.as_ref().is_some_and(|o| o.filled_qty > o.qty);
        // Forget first: as in `apply_event`, the order is written after.
        self.forget(cutoff);
        if let Some(order) = order {
            self.commit_order(order, ts);
        }
        Ok(Applied { overfill })
    }

    /// Replace the position of `key` by `f` of it (of a new flat one carrying the
    /// mark when there is none); on `Err` nothing is written.
    fn move_position(
        &mut self,
        key: PositionKeyRef<'_>,
        f: impl FnOnce(&Position) -> Result<Position, Violation>,
    ) -> Result<(), Violation> {
        let slot = self.slots.get_mut(key.query());
        if let Some(position) = slot.and_then(|s| s.position.as_mut()) {
            let next = f(position)?;
            *position = next;
            return Ok(());
        }
        // A key's first position: rare, so a second search is fine.
        let key = key.to_key();
        let position = self.with_position(&key, f)?;
        self.slots.entry(key).or_default().position = Some(position);
        Ok(())
    }

    /// Mark `key` at `px`: refused (nothing changed) when the position's unrealized PnL
    /// at `px` would overflow.
    fn apply_mark(&mut self, key: PositionKeyRef<'_>, px: Decimal) -> Result<(), Violation> {
        match self.slots.get_mut(key.query()) {
            Some(slot) => {
                if let Some(position) = &mut slot.position {
                    position.check_mark(px)?;
                    position.mark_px = Some(px);
                }
                slot.mark = Some(px);
            }
            None => {
                self.slots.insert(
                    key.to_key(),
                    KeySlot {
                        mark: Some(px),
                        position: None,
                    },
                );
            }
        }
        Ok(())
    }

    /// Would `event` apply cleanly as the next event? Live paths ask before
    /// appending a venue report, and record a drift instead when it would not. (Its
    /// time matters: it decides which ended orders are already forgotten.)
    pub fn check_transition(&self, event: &Event) -> Result<(), Violation> {
        let seq = self.last_seq.saturating_add(1);
        self.plan(&event.payload, seq, Cutoff::at(event.ts))
            .map(|_| ())
    }

    /// blake3 of the canonical stored form (`codec::encode_value`): ordered maps and
    /// normalized decimals, so equal projections hash equal on every run.
    pub fn hash(&self) -> [u8; 32] {
        match self.try_hash() {
            Ok(hash) => hash,
            // Only a projection above `codec::MAX_CHECKPOINT_BYTES` cannot be encoded;
            // it cannot be checkpointed either. Its hash is the error's, under a
            // domain tag no encoded projection starts with the same way.
            Err(e) => *blake3::hash(format!("unencodable projection: {e}").as_bytes()).as_bytes(),
        }
    }

    /// [`Projection::hash`], or why the projection could not be encoded.
    pub fn try_hash(&self) -> Result<[u8; 32], CodecError> {
        codec::encode_value(self).map(|bytes| *blake3::hash(&bytes).as_bytes())
    }

    /// Seq of the last applied event (0 before any).
    pub fn last_seq(&self) -> Seq {
        self.last_seq
    }

    /// Event time of the last applied event.
    pub fn last_ts(&self) -> Timestamp {
        self.last_ts
    }

    /// Every position ever touched (flat ones included), ordered by key.
    pub fn positions(&self) -> impl Iterator<Item = &Position> {
        self.slots
            .values()
            .filter_map(|slot| slot.position.as_ref())
    }

    /// The position of `key`, if anything touched it.
    pub fn position(&self, key: &PositionKey) -> Option<&Position> {
        self.slots.get(key)?.position.as_ref()
    }

    /// Every open order, and every ended one not yet forgotten (see
    /// [`ORDER_RETENTION_NANOS`]), ordered by client id.
    pub fn orders(&self) -> impl Iterator<Item = &Order> {
        self.orders.values()
    }

    /// The order with client id `id`.
    pub fn order(&self, id: &ClientOrderId) -> Option<&Order> {
        self.orders.get(id)
    }

    /// The order a venue order id belongs to, on `venue`.
    pub fn order_by_venue_id(&self, venue: &Venue, id: &VenueOrderId) -> Option<&Order> {
        let client_id = self.venue_order_ids.get(&(venue.clone(), id.clone()))?;
        self.orders.get(client_id)
    }

    /// Last market price (trade or candle close) of `key`.
    pub fn mark(&self, key: &PositionKey) -> Option<Decimal> {
        self.slots.get(key)?.mark
    }

    /// Balances per `(venue, asset)`, ordered.
    pub fn balances(&self) -> impl Iterator<Item = (&(Venue, crate::event::Asset), &Decimal)> {
        self.balances.iter()
    }

    /// The order `id`, unless absent or forgotten at `cutoff`.
    fn live_order(&self, id: &ClientOrderId, cutoff: Cutoff) -> Option<&Order> {
        self.orders.get(id).filter(|o| !cutoff.forgets(o))
    }

    /// The order a venue order id on `venue` belongs to, unless forgotten at `cutoff`.
    fn live_order_by_venue_id(
        &self,
        venue: &Venue,
        id: &VenueOrderId,
        cutoff: Cutoff,
    ) -> Option<&Order> {
        let client_id = self.venue_order_ids.get(&(venue.clone(), id.clone()))?;
        self.live_order(client_id, cutoff)
    }

    fn plan(&self, payload: &Payload, seq: Seq, cutoff: Cutoff) -> Result<Change, Violation> {
        use OrderEvent as E;
        let plan_order =
            |id: &ClientOrderId, event: &OrderEvent<'_>| self.plan_order(id, event, seq, cutoff);
        match payload {
            Payload::Trade(t) => self.plan_mark(key(&t.venue, &t.book, &t.instrument), t.px),
            Payload::Candle(c) => self.plan_mark(key(&c.venue, &c.book, &c.instrument), c.close),
            Payload::OrderSubmitted(sub) => self.plan_submit(sub, seq, cutoff),
            Payload::OrderAccepted(p) => {
                let event = E::Accepted(p.venue_order_id.as_ref());
                plan_order(&p.client_order_id, &event)
            }
            Payload::OrderRejected(p) => plan_order(&p.client_order_id, &E::Rejected(&p.reason)),
            Payload::OrderAmendRequested(p) => {
                plan_order(&p.client_order_id, &E::AmendRequested(p))
            }
            Payload::OrderAmended(p) => plan_order(&p.client_order_id, &E::Amended(p)),
            Payload::OrderAmendRejected(p) => plan_order(&p.client_order_id, &E::AmendRejected),
            Payload::OrderCancelRequested(p) => plan_order(&p.client_order_id, &E::CancelRequested),
            Payload::OrderCancelRejected(p) => plan_order(&p.client_order_id, &E::CancelRejected),
            Payload::OrderCancelled(p) => {
                let event = E::Cancelled(p.reason.as_deref());
                plan_order(&p.client_order_id, &event)
            }
            Payload::OrderExpired(p) => plan_order(&p.client_order_id, &E::Expired),
            Payload::OrderTriggered(p) => plan_order(&p.client_order_id, &E::Triggered),
            Payload::Fill(fill) => self.plan_fill(fill, seq, cutoff),
            Payload::Liquidation(fc) => self.plan_forced(fc, ExecKind::Liquidation, seq),
            Payload::Adl(fc) => self.plan_forced(fc, ExecKind::Adl, seq),
            Payload::Funding(f) => {
                let key = key(&f.venue, &f.book, &f.instrument);
                let position = self.with_position(&key, |p| p.funded(f.amount, seq))?;
                Ok(Change::position(position))
            }
            Payload::Balance(b) => Ok(Change::balance((b.venue.clone(), b.asset.clone()), b.total)),
            Payload::Transfer(t) => {
                let key = (t.venue.clone(), t.asset.clone());
                let total = account::transferred(&key, self.balances.get(&key).copied(), t.amount)?;
                Ok(Change::balance(key, total))
            }
            Payload::CorrectionApplied(c) => self.plan_correction(c, seq, cutoff),
            Payload::Quote(_)
            | Payload::FundingRate(_)
            | Payload::Gap(_)
            | Payload::Intent(_)
            | Payload::Plan(_)
            | Payload::Skip(_)
            | Payload::ExchangeSnapshot(_)
            | Payload::DriftDetected(_)
            | Payload::SessionStarted(_)
            | Payload::SessionStopped(_)
            | Payload::Connected(_)
            | Payload::Disconnected(_)
            | Payload::Resubscribed(_)
            | Payload::ClockOffset(_)
            | Payload::TicksDropped(_) => Ok(Change::default()),
        }
    }

    /// `f` applied to the position of `key`, or to a new flat one carrying the mark.
    fn with_position(
        &self,
        key: &PositionKey,
        f: impl FnOnce(&Position) -> Result<Position, Violation>,
    ) -> Result<Position, Violation> {
        match self.position(key) {
            Some(position) => f(position),
            None => {
                let mut position = Position::new(key.clone());
                position.mark_px = self.mark(key);
                f(&position)
            }
        }
    }

    /// Only the check: `apply_event` writes marks itself (`apply_mark`), so a mark's
    /// planned change is empty.
    fn plan_mark(&self, key: PositionKey, px: Decimal) -> Result<Change, Violation> {
        if let Some(position) = self.position(&key) {
            position.check_mark(px)?;
        }
        Ok(Change::default())
    }

    fn plan_submit(
        &self,
        sub: &OrderSubmitted,
        seq: Seq,
        cutoff: Cutoff,
    ) -> Result<Change, Violation> {
        if self.live_order(&sub.client_order_id, cutoff).is_some() {
            return Err(Violation::DuplicateOrder {
                order: sub.client_order_id.clone(),
            });
        }
        Ok(Change::order(Order::submitted(sub, seq)))
    }

    fn plan_order(
        &self,
        id: &ClientOrderId,
        event: &OrderEvent<'_>,
        seq: Seq,
        cutoff: Cutoff,
    ) -> Result<Change, Violation> {
        let order = self
            .live_order(id, cutoff)
            .ok_or_else(|| Violation::UnknownOrder {
                order: id.clone(),
                event: event.name(),
            })?;
        let next = order.after(event, seq)?;
        let mut change = Change::default();
        if let OrderEvent::Accepted(Some(venue_id)) = event {
            let venue_key = (order.key.venue.clone(), (*venue_id).clone());
            let owner = self
                .venue_order_ids
                .get(&venue_key)
                .filter(|owner| self.live_order(owner, cutoff).is_some());
            match owner {
                Some(owner) if owner != id => {
                    return Err(Violation::VenueOrderIdInUse {
                        order: id.clone(),
                        venue_order_id: (*venue_id).clone(),
                        owner: owner.clone(),
                    });
                }
                _ => change.venue_order_id = Some((venue_key, id.clone())),
            }
        }
        change.order = Some(next);
        Ok(change)
    }

    /// The order a fill's `order_id` names: a client id first, then a venue order id
    /// on the fill's venue. `None` is an external order (or a forgotten one).
    fn fill_order(&self, fill: &Fill, cutoff: Cutoff) -> Option<&Order> {
        let id = fill.order_id.as_ref()?.as_str();
        match self.live_order(&ClientOrderId::from(id), cutoff) {
            Some(order) => Some(order),
            None => self.live_order_by_venue_id(&fill.venue, &VenueOrderId::from(id), cutoff),
        }
    }

    fn plan_fill(&self, fill: &Fill, seq: Seq, cutoff: Cutoff) -> Result<Change, Violation> {
        let key = PositionKeyRef::new(&fill.venue, &fill.book, &fill.instrument);
        let order = self.fill_order_after(fill, key, seq, cutoff)?;
        let exec = fill_execution(fill);
        let position = self.with_position(&key.to_key(), |p| p.executed(&exec, seq))?;
        Ok(Change {
            order,
            ..Change::position(position)
        })
    }

    /// The next state of the order a fill names (`None`: an external order), checked
    /// against the fill's position key and side.
    fn fill_order_after(
        &self,
        fill: &Fill,
        key: PositionKeyRef<'_>,
        seq: Seq,
        cutoff: Cutoff,
    ) -> Result<Option<Order>, Violation> {
        Ok(match self.fill_order(fill, cutoff) {
            None => None,
            Some(order) => {
                let mismatch = |field| Violation::FillMismatch {
                    order: order.client_order_id.clone(),
                    field,
                };
                if !key.is(&order.key) {
                    return Err(mismatch("position key"));
                }
                if order.side != fill.side {
                    return Err(mismatch("side"));
                }
                let event = OrderEvent::Fill {
                    qty: fill.qty,
                    px: fill.px,
                };
                Some(order.after(&event, seq)?)
            }
        })
    }

    fn plan_forced(&self, fc: &ForcedClose, kind: ExecKind, seq: Seq) -> Result<Change, Violation> {
        let key = key(&fc.venue, &fc.book, &fc.instrument);
        let exec = forced_execution(fc, kind);
        let position = self.with_position(&key, |p| p.executed(&exec, seq))?;
        Ok(Change::position(position))
    }

    fn plan_correction(
        &self,
        c: &CorrectionApplied,
        seq: Seq,
        cutoff: Cutoff,
    ) -> Result<Change, Violation> {
        match &c.correction {
            Correction::SetPosition {
                book,
                instrument,
                qty,
                avg_px,
            } => {
                let key = key(&c.venue, book, instrument);
                let position = self.with_position(&key, |p| p.set(*qty, *avg_px, seq))?;
                Ok(Change::position(position))
            }
            Correction::CloseOrder { client_order_id } => {
                self.plan_order(client_order_id, &OrderEvent::CloseOrder, seq, cutoff)
            }
            Correction::SetBalance { asset, total } => {
                Ok(Change::balance((c.venue.clone(), asset.clone()), *total))
            }
        }
    }

    /// Remove the orders that ended at or before `cutoff`, oldest first, with their
    /// venue order ids.
    fn forget(&mut self, cutoff: Cutoff) {
        while let Some(first) = self.ended_orders.first() {
            if first.0 > cutoff.0 {
                return;
            }
            let Some((_, id)) = self.ended_orders.pop_first() else {
                return;
            };
            let Some(order) = self.orders.remove(&id) else {
                continue;
            };
            if let Some(venue_id) = order.venue_order_id {
                let venue_key = (order.key.venue, venue_id);
                if self.venue_order_ids.get(&venue_key) == Some(&id) {
                    self.venue_order_ids.remove(&venue_key);
                }
            }
        }
    }

    /// Write a planned change of an event at `ts`. Cannot fail: everything was checked
    /// by `plan`. An order that has just ended is stamped with `ts` and queued to be
    /// forgotten.
    fn commit(&mut self, change: Change, ts: Timestamp) {
        if let Some(position) = change.position {
            let slot = self.slots.entry(position.key.clone()).or_default();
            slot.position = Some(position);
        }
        if let Some(order) = change.order {
            self.commit_order(order, ts);
        }
        if let Some((venue_key, id)) = change.venue_order_id {
            self.venue_order_ids.insert(venue_key, id);
        }
        if let Some((key, total)) = change.balance {
            self.balances.insert(key, total);
        }
    }

    /// Write an order's next state; one that has just ended is stamped with `ts` and
    /// queued to be forgotten.
    fn commit_order(&mut self, mut order: Order, ts: Timestamp) {
        if order.state.is_terminal() && order.ended_ts.is_none() {
            order.ended_ts = Some(ts);
            self.ended_orders
                .insert((ts, order.client_order_id.clone()));
        }
        self.orders.insert(order.client_order_id.clone(), order);
    }
}

fn fill_execution(fill: &Fill) -> Execution {
    Execution {
        kind: ExecKind::Fill,
        side: fill.side,
        qty: fill.qty,
        px: fill.px,
        fee: fill.fee,
    }
}

fn forced_execution(fc: &ForcedClose, kind: ExecKind) -> Execution {
    Execution {
        kind,
        side: fc.side,
        qty: fc.qty,
        px: fc.px,
        fee: fc.fee.unwrap_or(Decimal::ZERO),
    }
}

impl Change {
    fn position(position: Position) -> Change {
        Change {
            position: Some(position),
            ..Change::default()
        }
    }

    fn order(order: Order) -> Change {
        Change {
            order: Some(order),
            ..Change::default()
        }
    }

    fn balance(key: BalanceKey, total: Decimal) -> Change {
        Change {
            balance: Some((key, total)),
            ..Change::default()
        }
    }
}

/// The key and price a trade or candle marks (`apply_mark`'s input).
fn mark_of(payload: &Payload) -> Option<(PositionKeyRef<'_>, Decimal)> {
    match payload {
        Payload::Trade(t) => Some((PositionKeyRef::new(&t.venue, &t.book, &t.instrument), t.px)),
        Payload::Candle(c) => Some((
            PositionKeyRef::new(&c.venue, &c.book, &c.instrument),
            c.close,
        )),
        _ => None,
    }
}

fn key(
    venue: &crate::event::Venue,
    book: &crate::event::Book,
    instrument: &crate::event::Symbol,
) -> PositionKey {
    PositionKey {
        venue: venue.clone(),
        book: book.clone(),
        instrument: instrument.clone(),
    }
}

#[cfg(test)]
#[path = "projection_tests.rs"]
mod tests;
