//! [`SimExchange`]: the simulated venue's state, matching against market events, and
//! report emission; requests and acceptance are in `requests.rs`. The rules are listed in the `sim`
//! module doc; prices come from `matching.rs`, bookkeeping from `book.rs` and
//! `account.rs`.
//!
//! Invariant: every report it emits is a legal next event for the order in
//! `crate::reduce` (the tests fold them through `Projection::apply`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::event::{
    ClientOrderId, Decimal, Event, Fill, Funding, Liquidity, OrderCancelled, OrderRef, OrderType,
    Payload, PositionKey, Side, TimeInForce, Timestamp, Venue,
};

use super::account::Account;
use super::book::{Book, Ended, SimOrder};
use super::config::{LiquidityModel, MarketFill, SimConfig};
use super::matching::{
    Bar, crosses, fee, fillable, stop_px, stop_touched, taker_px, traded_through,
};
use super::requests::Queued;

/// The deterministic simulated exchange. Time comes only from the `now` of requests and
/// the events fed to [`SimExchange::on_market`]; there is no clock and no randomness.
#[derive(Debug, Clone)]
pub struct SimExchange {
    pub(super) config: SimConfig,
    pub(super) venue: Venue,
    /// Latest time acted on: reports are never stamped before it.
    pub(super) clock: Timestamp,
    pub(super) queue: VecDeque<Queued>,
    /// Effective time of the last queued request: requests never overtake each other.
    pub(super) queued_until: Timestamp,
    /// Submitted, not yet accepted or rejected.
    pub(super) pending: BTreeSet<ClientOrderId>,
    pub(super) book: Book,
    pub(super) markets: BTreeMap<PositionKey, Market>,
    pub(super) account: Account,
    pub(super) reports: Vec<Event>,
    pub(super) execs: u64,
    pub(super) orders: u64,
}

/// What the venue knows of one instrument's market.
#[derive(Debug, Clone, Default)]
pub(super) struct Market {
    /// Close of the last bar or price of the last trade.
    pub(super) last_px: Option<Decimal>,
    /// Quantity our orders may still take from the last market event
    /// (`LiquidityModel::VolumeShare` only).
    pub(super) budget: Decimal,
}

/// The quantity an order on `side` can take off a position of signed `qty` without
/// increasing it: `|qty|` when it reduces, else zero.
pub(super) fn reducible(side: Side, qty: Decimal) -> Decimal {
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
        self.book.forget_ended(self.clock);
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

    /// Reports produced since the last call, in order.
    pub(super) fn take_reports(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.reports)
    }

    /// The last market price of `key`.
    pub(super) fn last_px(&self, key: &PositionKey) -> Option<Decimal> {
        self.markets.get(key).and_then(|m| m.last_px)
    }

    pub(super) fn emit(&mut self, ts: Timestamp, payload: Payload) {
        self.reports.push(Event::new(ts, payload));
    }

    /// A resting limit that crosses the last price takes liquidity at once.
    pub(super) fn take_if_crossing(&mut self, at: Timestamp, id: &ClientOrderId) {
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
    pub(super) fn end_of_chance(&mut self, ts: Timestamp, id: &ClientOrderId) {
        let reason = match self.book.get(id).map(|o| o.tif) {
            None | Some(TimeInForce::Gtc) => return,
            Some(TimeInForce::Ioc) => "ioc: unfilled remainder cancelled",
            Some(TimeInForce::Fok) => "fok: could not fill in full",
        };
        self.cancel_order(ts, id, reason);
    }

    pub(super) fn cancel_order(&mut self, ts: Timestamp, id: &ClientOrderId, reason: &str) {
        if self.book.close(id, Ended::Cancelled, ts).is_some() {
            let cancelled = OrderCancelled {
                client_order_id: id.clone(),
                reason: Some(reason.to_string()),
            };
            self.emit(ts, Payload::OrderCancelled(cancelled));
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
        // The key last: it is the dearest test, and most orders fail a cheaper one.
        let live = |o: &SimOrder| o.accepted_at < bar.ts && &o.key == key;
        // Market orders were waiting at the open: they take liquidity first.
        for id in self.book.ids(|o| o.is_market_like() && live(o)) {
            let reference = match self.config.market_fill {
                MarketFill::BarClose => bar.close,
                MarketFill::NextOpen => bar.open,
            };
            self.take(ts, &id, reference, None);
            self.end_of_chance(ts, &id);
        }
        // Stops before limits: inside one bar the adverse move is assumed first.
        for id in self.book.ids(|o| o.is_waiting_stop() && live(o)) {
            self.check_stop(ts, &id, bar);
        }
        for id in self
            .book
            .ids(|o| o.is_resting_limit_before(bar.ts) && live(o))
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
    pub(super) fn take(
        &mut self,
        ts: Timestamp,
        id: &ClientOrderId,
        reference: Decimal,
        limit: Option<Decimal>,
    ) {
        let bps = self.config.slippage_bps;
        let px = self.book.get(id).and_then(|o| {
            let tick = self.config.tick_for(&o.key);
            taker_px(o.side, reference, limit, bps, tick)
        });
        match px {
            Some(px) => self.execute(ts, id, px, Liquidity::Taker),
            None => self.cancel_order(ts, id, "arithmetic overflow pricing the fill"),
        }
    }

    /// Fill as much of `id` as liquidity and reduce-only allow, at `px`.
    pub(super) fn execute(
        &mut self,
        ts: Timestamp,
        id: &ClientOrderId,
        px: Decimal,
        liquidity: Liquidity,
    ) {
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
            order_id: Some(id.as_str().into()),
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
            self.book.close(id, Ended::Filled, ts);
        }
        self.sweep_reduce_only(ts, &key);
    }

    /// Cancel the reduce-only orders of `key` that can no longer reduce its position:
    /// when it goes flat, its stop and target cancel each other (OCO for free).
    fn sweep_reduce_only(&mut self, ts: Timestamp, key: &PositionKey) {
        let qty = self.account.qty(key);
        let stale =
            |o: &SimOrder| o.reduce_only && reducible(o.side, qty).is_zero() && &o.key == key;
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
