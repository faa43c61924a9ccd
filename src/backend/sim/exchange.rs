//! [`SimExchange`]: the simulated venue's request queue, acceptance checks, matching
//! against market events, and report emission. The rules are listed in the `sim`
//! module doc; prices come from `matching.rs`, bookkeeping from `book.rs` and
//! `account.rs`.
//!
//! Invariant: every report it emits is a legal next event for the order in
//! `crate::reduce` (the tests fold them through `Projection::apply`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::event::{
    ClientOrderId, Decimal, Event, Fill, Funding, Liquidity, OrderAccepted, OrderAmend,
    OrderCancelled, OrderRef, OrderRejected, OrderRequestRejected, OrderType, Payload, PositionKey,
    Side, TimeInForce, Timestamp, Venue, VenueOrderId,
};

use super::account::Account;
use super::book::{Book, Ended, SimOrder};
use super::config::{LiquidityModel, MarketFill, SimConfig};
use super::matching::{
    Bar, crosses, fee, fillable, stop_px, stop_touched, taker_px, traded_through,
};
use crate::backend::{BackendError, OrderRequest};

/// Requests in flight (sent, not yet acted on). A strategy with this many unanswered
/// requests is broken; the bound keeps memory bounded and is answered with a
/// retryable error, as a venue's rate limit would be.
const QUEUED_MAX: usize = 65_536;

/// The deterministic simulated exchange. Time comes only from the `now` of requests and
/// the events fed to [`SimExchange::on_market`]; there is no clock and no randomness.
#[derive(Debug, Clone)]
pub struct SimExchange {
    pub(super) config: SimConfig,
    pub(super) venue: Venue,
    /// Latest time acted on: reports are never stamped before it.
    clock: Timestamp,
    queue: VecDeque<Queued>,
    /// Effective time of the last queued request: requests never overtake each other.
    queued_until: Timestamp,
    /// Submitted, not yet accepted or rejected.
    pending: BTreeSet<ClientOrderId>,
    pub(super) book: Book,
    markets: BTreeMap<PositionKey, Market>,
    pub(super) account: Account,
    reports: Vec<Event>,
    execs: u64,
    orders: u64,
}

#[derive(Debug, Clone)]
struct Queued {
    at: Timestamp,
    request: Request,
}

#[derive(Debug, Clone)]
enum Request {
    Submit(OrderRequest),
    Cancel(ClientOrderId),
    Amend(OrderAmend),
}

/// What the venue knows of one instrument's market.
#[derive(Debug, Clone, Default)]
struct Market {
    /// Close of the last bar or price of the last trade.
    last_px: Option<Decimal>,
    /// Quantity our orders may still take from the last market event
    /// (`LiquidityModel::VolumeShare` only).
    budget: Decimal,
}

/// The quantity an order on `side` can take off a position of signed `qty` without
/// increasing it: `|qty|` when it reduces, else zero.
fn reducible(side: Side, qty: Decimal) -> Decimal {
    match qty.is_zero() || side.sign() == qty.signum() {
        true => Decimal::ZERO,
        false => qty.abs(),
    }
}

impl SimExchange {
    /// An exchange with no orders, no positions and `config.initial_equity` in cash.
    pub fn new(config: SimConfig) -> Self {
        SimExchange {
            config,
            venue: Venue::from("sim"),
            clock: Timestamp::default(),
            queue: VecDeque::new(),
            queued_until: Timestamp::default(),
            pending: BTreeSet::new(),
            book: Book::default(),
            markets: BTreeMap::new(),
            account: Account::default(),
            reports: Vec::new(),
            execs: 0,
            orders: 0,
        }
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Feed one market event (a closed candle, a trade, a funding rate), in log order.
    /// First acts on every request whose latency has elapsed by the event's time, then
    /// matches resting orders against it and queues reports stamped with event time.
    /// Other payloads (and candles still open) are ignored.
    pub fn on_market(&mut self, event: &Event) {
        let ts = event.ts;
        self.advance(ts);
        self.clock = self.clock.max(ts);
        match &event.payload {
            Payload::Candle(c)
                if c.closed && self.config.bar_timeframe.is_none_or(|tf| tf == c.timeframe) =>
            {
                let key = PositionKey {
                    venue: c.venue.clone(),
                    book: c.book.clone(),
                    instrument: c.instrument.clone(),
                };
                self.on_bar(&key, &Bar::from_candle(ts, c));
            }
            Payload::Trade(t) => {
                let key = PositionKey {
                    venue: t.venue.clone(),
                    book: t.book.clone(),
                    instrument: t.instrument.clone(),
                };
                self.on_bar(&key, &Bar::from_trade(ts, t));
            }
            Payload::FundingRate(f) => {
                let key = PositionKey {
                    venue: f.venue.clone(),
                    book: f.book.clone(),
                    instrument: f.instrument.clone(),
                };
                self.on_funding(&key, f.rate);
            }
            _ => {}
        }
    }

    /// True when the venue has seen `id` (pending, open or ended).
    pub(super) fn knows(&self, id: &ClientOrderId) -> bool {
        self.pending.contains(id) || self.book.knows(id)
    }

    /// Queue a submit; a known id is a retry and does nothing.
    pub(super) fn request_submit(
        &mut self,
        now: Timestamp,
        request: OrderRequest,
    ) -> Result<(), BackendError> {
        let id = request.order.client_order_id.clone();
        if self.knows(&id) {
            return Ok(());
        }
        self.check_queue()?;
        self.pending.insert(id);
        self.enqueue(now, Request::Submit(request));
        Ok(())
    }

    /// Queue a cancel of a known order.
    pub(super) fn request_cancel(
        &mut self,
        now: Timestamp,
        id: &ClientOrderId,
    ) -> Result<(), BackendError> {
        self.check_known(id)?;
        self.check_queue()?;
        self.enqueue(now, Request::Cancel(id.clone()));
        Ok(())
    }

    /// Queue an amend of a known order.
    pub(super) fn request_amend(
        &mut self,
        now: Timestamp,
        amend: OrderAmend,
    ) -> Result<(), BackendError> {
        self.check_known(&amend.client_order_id)?;
        self.check_queue()?;
        self.enqueue(now, Request::Amend(amend));
        Ok(())
    }

    /// Reports produced since the last call, in order.
    pub(super) fn take_reports(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.reports)
    }

    /// The last market price of `key`.
    pub(super) fn last_px(&self, key: &PositionKey) -> Option<Decimal> {
        self.markets.get(key).and_then(|m| m.last_px)
    }

    /// Cancel and amend need an order the venue has seen and not rejected.
    fn check_known(&self, id: &ClientOrderId) -> Result<(), BackendError> {
        let what = match (self.knows(id), self.book.ended(id)) {
            (false, _) => format!("unknown order {id}"),
            (true, Some(Ended::Rejected)) => format!("order {id} was rejected"),
            (true, _) => return Ok(()),
        };
        Err(BackendError::permanent(&self.venue, what))
    }

    fn check_queue(&self) -> Result<(), BackendError> {
        match self.queue.len() < QUEUED_MAX {
            true => Ok(()),
            false => Err(BackendError::retryable(
                &self.venue,
                format!("{QUEUED_MAX} requests already in flight"),
            )),
        }
    }

    fn enqueue(&mut self, now: Timestamp, request: Request) {
        let latency = self.config.submit_latency_ns.max(0);
        let at = now.plus_nanos(latency).max(self.queued_until);
        self.queued_until = at;
        self.queue.push_back(Queued { at, request });
        self.advance(now);
    }

    /// Act on every queued request due by `now`, in the order they were made.
    fn advance(&mut self, now: Timestamp) {
        while self.queue.front().is_some_and(|q| q.at <= now) {
            let Some(queued) = self.queue.pop_front() else {
                break;
            };
            let at = queued.at.max(self.clock);
            self.clock = at;
            match queued.request {
                Request::Submit(request) => self.accept(at, &request),
                // The rejection already ended the order; the reducer has no move for a
                // refused request on a rejected order, so none is reported.
                Request::Cancel(id)
                | Request::Amend(OrderAmend {
                    client_order_id: id,
                    ..
                }) if self.book.ended(&id) == Some(Ended::Rejected) => {}
                Request::Cancel(id) => self.cancel_requested(at, &id),
                Request::Amend(amend) => self.amend_requested(at, &amend),
            }
        }
    }

    fn emit(&mut self, ts: Timestamp, payload: Payload) {
        self.reports.push(Event::new(ts, payload));
    }

    /// Why the venue refuses `request`, if it does.
    fn admission(&self, request: &OrderRequest) -> Result<(), String> {
        Payload::OrderSubmitted(request.submitted()).validate()?;
        let o = &request.order;
        if o.post_only && o.order_type != OrderType::Limit {
            return Err("post-only requires a limit order".into());
        }
        if o.reduce_only {
            let qty = self.account.qty(&request.key);
            if qty.is_zero() {
                return Err("reduce-only: no position to reduce".into());
            }
            if reducible(o.side, qty).is_zero() {
                return Err("reduce-only: would increase the position".into());
            }
        }
        let last = self.last_px(&request.key);
        if let (true, Some(px), Some(last)) = (o.post_only, o.px, last) {
            if crosses(o.side, px, last) {
                return Err(format!("post-only: would cross the last price {last}"));
            }
        }
        let at_close = self.config.market_fill == MarketFill::BarClose;
        if o.order_type == OrderType::Market && at_close && last.is_none() {
            return Err("no market price yet to fill a market order".into());
        }
        Ok(())
    }

    fn accept(&mut self, at: Timestamp, request: &OrderRequest) {
        let id = request.order.client_order_id.clone();
        self.pending.remove(&id);
        if let Err(reason) = self.admission(request) {
            self.book.end_unopened(id.clone(), Ended::Rejected);
            let rejected = OrderRejected {
                client_order_id: id,
                reason,
            };
            self.emit(at, Payload::OrderRejected(rejected));
            return;
        }
        self.orders = self.orders.saturating_add(1);
        let venue_order_id =
            VenueOrderId(format!("{}o{}", self.config.exec_id_prefix, self.orders));
        let accepted = OrderAccepted {
            client_order_id: id.clone(),
            venue_order_id: Some(venue_order_id.clone()),
        };
        self.emit(at, Payload::OrderAccepted(accepted));
        let order = SimOrder::accepted(request, venue_order_id, at);
        let (order_type, key) = (order.order_type, order.key.clone());
        self.book.push(order);
        match order_type {
            OrderType::Market if self.config.market_fill == MarketFill::BarClose => {
                if let Some(last) = self.last_px(&key) {
                    self.take(at, &id, last, None);
                }
                self.end_of_chance(at, &id);
            }
            OrderType::Limit => {
                self.take_if_crossing(at, &id);
                self.end_of_chance(at, &id);
            }
            // Next-open market orders wait for the next bar; stops for their trigger.
            _ => {}
        }
    }

    /// A resting limit that crosses the last price takes liquidity at once.
    fn take_if_crossing(&mut self, at: Timestamp, id: &ClientOrderId) {
        let Some(o) = self.book.get(id) else {
            return;
        };
        let limit_like = match o.order_type {
            OrderType::Limit => true,
            OrderType::StopLimit => o.triggered_at.is_some(),
            _ => false,
        };
        if let (true, Some(px), Some(last)) = (limit_like, o.px, self.last_px(&o.key)) {
            if crosses(o.side, px, last) {
                self.take(at, id, last, Some(px));
            }
        }
    }

    /// Immediate-or-cancel and fill-or-kill orders get one chance: after it, what is
    /// left is cancelled.
    fn end_of_chance(&mut self, ts: Timestamp, id: &ClientOrderId) {
        let reason = match self.book.get(id).map(|o| o.tif) {
            None | Some(TimeInForce::Gtc) => return,
            Some(TimeInForce::Ioc) => "ioc: unfilled remainder cancelled",
            Some(TimeInForce::Fok) => "fok: could not fill in full",
        };
        self.cancel_order(ts, id, reason);
    }

    fn cancel_order(&mut self, ts: Timestamp, id: &ClientOrderId, reason: &str) {
        if self.book.close(id, Ended::Cancelled).is_some() {
            let cancelled = OrderCancelled {
                client_order_id: id.clone(),
                reason: Some(reason.to_string()),
            };
            self.emit(ts, Payload::OrderCancelled(cancelled));
        }
    }

    fn not_open(&self, id: &ClientOrderId) -> String {
        match self.book.ended(id) {
            Some(how) => format!("order is {}", how.as_str()),
            None => "order is not open".to_string(),
        }
    }

    fn cancel_requested(&mut self, at: Timestamp, id: &ClientOrderId) {
        if self.book.get(id).is_some() {
            self.cancel_order(at, id, "cancelled on request");
            return;
        }
        let refused = OrderRequestRejected {
            client_order_id: id.clone(),
            reason: self.not_open(id),
        };
        self.emit(at, Payload::OrderCancelRejected(refused));
    }

    /// Why the venue refuses `amend`, if it does.
    fn amend_refusal(&self, amend: &OrderAmend) -> Option<String> {
        let id = &amend.client_order_id;
        let Some(o) = self.book.get(id) else {
            return Some(self.not_open(id));
        };
        let not_positive = [amend.qty, amend.px, amend.trigger_px]
            .iter()
            .any(|v| v.is_some_and(|v| !v.is_positive()));
        if not_positive {
            return Some("amended values must be positive".into());
        }
        if let Some(qty) = amend.qty.filter(|qty| *qty < o.filled) {
            return Some(format!("qty {qty} is below the filled {}", o.filled));
        }
        let has_limit = matches!(o.order_type, OrderType::Limit | OrderType::StopLimit);
        if amend.px.is_some() && !has_limit {
            return Some("the order has no limit price".into());
        }
        if amend.trigger_px.is_some() && !o.is_waiting_stop() {
            return Some("the order has no pending trigger".into());
        }
        match (o.post_only, amend.px, self.last_px(&o.key)) {
            (true, Some(px), Some(last)) if crosses(o.side, px, last) => {
                Some(format!("post-only: would cross the last price {last}"))
            }
            _ => None,
        }
    }

    fn amend_requested(&mut self, at: Timestamp, amend: &OrderAmend) {
        let id = &amend.client_order_id;
        if let Some(reason) = self.amend_refusal(amend) {
            let refused = OrderRequestRejected {
                client_order_id: id.clone(),
                reason,
            };
            self.emit(at, Payload::OrderAmendRejected(refused));
            return;
        }
        let mut complete = false;
        if let Some(o) = self.book.get_mut(id) {
            o.qty = amend.qty.unwrap_or(o.qty);
            o.px = amend.px.or(o.px);
            o.trigger_px = amend.trigger_px.or(o.trigger_px);
            complete = o.remaining().is_zero();
        }
        self.emit(at, Payload::OrderAmended(amend.clone()));
        match complete {
            // Amended down to what already filled: the order is done (the reducer
            // moves it to `filled` on the same event).
            true => {
                self.book.close(id, Ended::Filled);
            }
            false => self.take_if_crossing(at, id),
        }
    }

    fn on_bar(&mut self, key: &PositionKey, bar: &Bar) {
        let budget = match self.config.liquidity {
            LiquidityModel::VolumeShare(share) => share.checked_mul(bar.volume),
            LiquidityModel::Unlimited => None,
        };
        let market = self.markets.entry(key.clone()).or_default();
        market.last_px = Some(bar.close);
        market.budget = budget.unwrap_or(Decimal::ZERO);
        let ts = self.clock;
        let live = |o: &SimOrder| &o.key == key && o.accepted_at < bar.ts;
        // Market orders were waiting at the open: they take liquidity first.
        for id in self.book.ids(|o| live(o) && o.is_market_like()) {
            let reference = match self.config.market_fill {
                MarketFill::BarClose => bar.close,
                MarketFill::NextOpen => bar.open,
            };
            self.take(ts, &id, reference, None);
            self.end_of_chance(ts, &id);
        }
        // Stops before limits: inside one bar the adverse move is assumed first.
        for id in self.book.ids(|o| live(o) && o.is_waiting_stop()) {
            self.check_stop(ts, &id, bar);
        }
        for id in self
            .book
            .ids(|o| live(o) && o.is_resting_limit_before(bar.ts))
        {
            let Some((side, Some(px))) = self.book.get(&id).map(|o| (o.side, o.px)) else {
                continue;
            };
            if traded_through(side, px, bar) {
                self.execute(ts, &id, px, Liquidity::Maker);
            }
        }
    }

    fn check_stop(&mut self, ts: Timestamp, id: &ClientOrderId, bar: &Bar) {
        let Some(o) = self.book.get_mut(id) else {
            return;
        };
        let Some(trigger) = o.trigger_px.filter(|t| stop_touched(o.side, *t, bar)) else {
            return;
        };
        o.triggered_at = Some(bar.ts);
        let (side, order_type, limit) = (o.side, o.order_type, o.px);
        let triggered = OrderRef {
            client_order_id: id.clone(),
        };
        self.emit(ts, Payload::OrderTriggered(triggered));
        let reference = stop_px(side, trigger, bar);
        match (order_type, limit) {
            // Gapped past its limit: rests as a limit from the next bar on.
            (OrderType::StopLimit, Some(px)) if !crosses(side, px, reference) => {}
            (OrderType::StopLimit, _) => self.take(ts, id, reference, limit),
            _ => self.take(ts, id, reference, None),
        }
        self.end_of_chance(ts, id);
    }

    /// A taker fill from `reference`, slipped and capped by `limit`.
    fn take(
        &mut self,
        ts: Timestamp,
        id: &ClientOrderId,
        reference: Decimal,
        limit: Option<Decimal>,
    ) {
        let (bps, dp) = (self.config.slippage_bps, self.config.px_dp);
        let px = self
            .book
            .get(id)
            .and_then(|o| taker_px(o.side, reference, limit, bps, dp));
        match px {
            Some(px) => self.execute(ts, id, px, Liquidity::Taker),
            None => self.cancel_order(ts, id, "arithmetic overflow pricing the fill"),
        }
    }

    /// Fill as much of `id` as liquidity and reduce-only allow, at `px`.
    fn execute(&mut self, ts: Timestamp, id: &ClientOrderId, px: Decimal, liquidity: Liquidity) {
        let Some(o) = self.book.get(id) else {
            return;
        };
        let (key, side) = (o.key.clone(), o.side);
        let position = self.account.position(&key);
        let cap = o.reduce_only.then(|| reducible(side, position.qty));
        let budget = match self.config.liquidity {
            LiquidityModel::Unlimited => None,
            LiquidityModel::VolumeShare(_) => {
                Some(self.markets.get(&key).map_or(Decimal::ZERO, |m| m.budget))
            }
        };
        let qty = fillable(o.remaining(), budget, cap, o.tif);
        if !qty.is_positive() {
            return;
        }
        let rates = self.config.fees_for(&key);
        let rate = match liquidity {
            Liquidity::Maker => rates.maker,
            Liquidity::Taker => rates.taker,
        };
        let next = fee(px, qty, rate)
            .and_then(|fee| Some((fee, position.filled(side, qty, px, fee).ok()?)));
        let Some((fee, next)) = next else {
            self.cancel_order(ts, id, "arithmetic overflow in the fill");
            return;
        };
        self.account.set(&key, next);
        if let (Some(market), Some(_)) = (self.markets.get_mut(&key), budget) {
            market.budget = market.budget.checked_sub(qty).unwrap_or(Decimal::ZERO);
        }
        let mut complete = false;
        if let Some(o) = self.book.get_mut(id) {
            // Cannot overflow: filled + qty <= qty.
            o.filled = o.filled.checked_add(qty).unwrap_or(o.qty);
            complete = o.remaining().is_zero();
        }
        self.execs = self.execs.saturating_add(1);
        let fill = Fill {
            venue: key.venue.clone(),
            book: key.book.clone(),
            instrument: key.instrument.clone(),
            order_id: Some(id.as_str().to_string()),
            exec_id: format!("{}{}", self.config.exec_id_prefix, self.execs)
                .as_str()
                .into(),
            side,
            px,
            qty,
            fee,
            fee_asset: None,
            liquidity,
        };
        self.emit(ts, Payload::Fill(fill));
        if complete {
            self.book.close(id, Ended::Filled);
        }
        self.sweep_reduce_only(ts, &key);
    }

    /// Cancel the reduce-only orders of `key` that can no longer reduce its position:
    /// when it goes flat, its stop and target cancel each other (OCO for free).
    fn sweep_reduce_only(&mut self, ts: Timestamp, key: &PositionKey) {
        let qty = self.account.qty(key);
        let stale =
            |o: &SimOrder| &o.key == key && o.reduce_only && reducible(o.side, qty).is_zero();
        let reason = match qty.is_zero() {
            true => "reduce-only: position closed",
            false => "reduce-only: position reversed",
        };
        for id in self.book.ids(stale) {
            self.cancel_order(ts, &id, reason);
        }
    }

    /// Settle funding on an open position: `amount = −qty × mark × rate` (longs pay a
    /// positive rate). No position or no mark yet: nothing to settle.
    fn on_funding(&mut self, key: &PositionKey, rate: Decimal) {
        let qty = self.account.qty(key);
        let Some(mark) = self.last_px(key).filter(|_| !qty.is_zero()) else {
            return;
        };
        let amount = qty.checked_mul(mark).and_then(|n| n.checked_mul(rate));
        let Some(amount) = amount.map(std::ops::Neg::neg) else {
            return;
        };
        if self.account.fund(key, amount).is_err() {
            return;
        }
        let funding = Funding {
            venue: key.venue.clone(),
            book: key.book.clone(),
            instrument: key.instrument.clone(),
            amount,
            rate: Some(rate),
        };
        self.emit(self.clock, Payload::Funding(funding));
    }
}
