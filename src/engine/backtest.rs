//! The engine loop: market event → log → simulated matching → strategy → executor →
//! backend → log. Backtests, and later paper and live sessions, differ only in the
//! backend and the market source plugged in.
//!
//! Per market event, in this order (so nothing decides on what it has not seen):
//! 1. the event is appended, and the backend matches resting orders against it;
//!    its reports (acceptances, fills, funding) are appended right after it;
//! 2. if it closes a bar of the strategy's timeframe, the strategy sees the bar and the
//!    position as the log now has it, and returns intents;
//! 3. each intent is appended, then the executor's plan or skip; a plan's entry order
//!    is appended as `order_submitted` *before* it is sent; its stop and target wait
//!    until the entry fills (a reduce-only order with no position would be refused).
//!    An intent is planned against the position as the log has it, less what earlier
//!    exits and trims still working will take off: a reversal's entry, after its
//!    exit, is planned as flat even when the exit fills only later (latency,
//!    `NextOpen`, a live venue's report still on its way), and a second exit while
//!    the first is working finds nothing to reduce. An entry or add while an earlier
//!    one is still working is skipped (`position_conflict`): a live venue reports a
//!    fill after the next bar may already have been seen, and the position the log
//!    has then is not yet the one the working order will leave.
//!
//! [`Engine::close_at_end`] (`ledger run --close-at-end`) sends, after the last event,
//! an exit intent per open position through the same path.
//!
//! Time is the event time of the market data: nothing here reads a clock.

use std::collections::BTreeMap;

use crate::backend::{ExecutionBackend, OrderRequest, SimExchange};
use crate::event::{
    Candle, ClientOrderId, Decimal, Event, Intent, IntentAction, Mode, OrderRole, OrderType,
    Payload, PositionKey, SessionStarted, SessionStopped, Side, Size, SkipReason, Timeframe,
    Timestamp,
};
use crate::executor::{Decision, Executor, MarketContext};
use crate::ingest::BarAggregator;
use crate::log::{LogError, Writer};
use crate::reduce::{Position, Projection};
use crate::strategy::{PositionState, Strategy};

/// Events appended between durable commits: bounds a transaction's memory while keeping
/// fsyncs rare (a year of 1-minute bars is ~600 k events: a few commits).
const COMMIT_EVERY_EVENTS: u64 = 32 * 1024;

/// Positions marked for an equity recompute before duplicates are dropped: a bar
/// reads equity (and empties the list) every few events, so this is reached only by
/// streams without bars; it bounds the list by the number of positions.
const DIRTY_KEYS_MAX: usize = 256;

/// Snapshots a reconcile takes while reports keep arriving under it, before it
/// gives up for this turn.
const RECONCILE_LOOKS: usize = 3;

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The log refused or failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The strategy failed on a bar.
    #[error("strategy: {0}")]
    Strategy(#[from] crate::strategy::StrategyError),
    /// The backend failed a request.
    #[error("backend: {0}")]
    Backend(#[from] crate::backend::BackendError),
    /// An event the engine produced does not apply: a bug, reported with its seq.
    #[error("event refused by the ledger: {0}")]
    Refused(String),
    /// Trades could not be aggregated into bars.
    #[error("bar aggregation: {0}")]
    Aggregate(#[from] crate::ingest::AggregateError),
    /// The market data cannot drive this strategy (it would run without a bar).
    #[error("market data: {0}")]
    Data(String),
}

/// Counts of one run, for the summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunStats {
    /// Market events appended.
    pub market_events: u64,
    /// Closed bars the strategy saw.
    pub bars: u64,
    /// Intents.
    pub intents: u64,
    /// Plans.
    pub plans: u64,
    /// Skips by reason.
    pub skips: BTreeMap<SkipReason, u64>,
    /// Orders submitted.
    pub orders: u64,
    /// Fills.
    pub fills: u64,
    /// Funding rates seen (each a settlement, from a funding file or a source ledger).
    pub funding_rates: u64,
    /// Funding payments the simulated exchange settled (on open positions).
    pub fundings: u64,
    /// Candles skipped because their timeframe is not the instrument's base timeframe
    /// (e.g. bars a previous run derived, in a `--from-log` source).
    pub ignored_candles: u64,
    /// Events appended in all.
    pub events: u64,
}

/// Settings of the loop that are not the strategy's, executor's or backend's.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How the session is recorded.
    pub mode: Mode,
    /// blake3 of the run's configuration, hex.
    pub config_hash: String,
    /// Human-readable parameters for the session-started event.
    pub params: Vec<(String, String)>,
    /// Equity before any trading, in the quote currency.
    pub initial_equity: Decimal,
    /// The strategy's bar length: finer candles and trades are aggregated up to it.
    pub timeframe: Timeframe,
}

/// One run of a strategy over a market stream into a ledger.
pub struct Engine<'w, S, B> {
    writer: &'w mut Writer,
    strategy: S,
    executor: Executor,
    backend: B,
    options: EngineOptions,
    /// Bars built from trades, per instrument, at the strategy's timeframe.
    aggregators: BTreeMap<PositionKey, BarAggregator>,
    /// Stops and targets waiting for their entry order to fill.
    brackets: BTreeMap<ClientOrderId, (PositionKey, Vec<OrderRequest>)>,
    /// The entry, add, exit and trim orders sent per position and not yet seen to end
    /// (pruned as they end), for planning against what they will leave. Protective
    /// orders are not here: a resting stop or target must not block an exit.
    working: BTreeMap<PositionKey, Vec<(ClientOrderId, IntentAction)>>,
    /// What each instrument's market events said, in one map so an event costs one
    /// lookup.
    markets: BTreeMap<PositionKey, MarketState>,
    pending: Vec<Event>,
    equity: EquityParts,
    stats: RunStats,
    started: bool,
    since_commit: u64,
    last_ts: Timestamp,
    /// Brackets were restored from a crashed session's log: release those whose
    /// entry already filled at the first market event.
    restored: bool,
}

impl<'w, S: Strategy, B: ExecutionBackend + MarketDriven> Engine<'w, S, B> {
    /// An engine appending to `writer`.
    pub fn new(
        writer: &'w mut Writer,
        strategy: S,
        executor: Executor,
        backend: B,
        options: EngineOptions,
    ) -> Self {
        Engine {
            writer,
            strategy,
            executor,
            backend,
            options,
            aggregators: BTreeMap::new(),
            brackets: BTreeMap::new(),
            working: BTreeMap::new(),
            markets: BTreeMap::new(),
            pending: Vec::new(),
            equity: EquityParts::default(),
            stats: RunStats::default(),
            started: false,
            since_commit: 0,
            last_ts: Timestamp::default(),
            restored: false,
        }
    }

    /// Take over what a session that never stopped left outstanding (see
    /// [`super::resume`]): its brackets are held again, and those whose entry already
    /// filled are submitted at the first market event, sized to the fill.
    pub fn resume(&mut self, outstanding: super::resume::Outstanding) {
        for (key, id, action) in outstanding.working {
            self.working.entry(key).or_default().push((id, action));
        }
        for (entry, key, requests) in outstanding.brackets {
            self.brackets.insert(entry, (key, requests));
        }
        self.restored = !self.brackets.is_empty();
    }

    /// Build the strategy's bars from the trades of `key` (for trade-only sources).
    pub fn aggregate_trades(&mut self, key: PositionKey) {
        self.aggregators
            .insert(key, BarAggregator::new(self.options.timeframe));
    }

    /// The counts so far.
    pub fn stats(&self) -> &RunStats {
        &self.stats
    }

    /// The projection as of the last appended event.
    pub fn projection(&self) -> &Projection {
        self.writer.projection()
    }

    /// Process one market event.
    pub async fn on_market(&mut self, event: Event) -> Result<(), RunError> {
        self.check_timeframe(&event)?;
        if !self.started {
            self.start(event.ts)?;
        }
        if !self.note_market(&event) {
            self.stats.ignored_candles += 1;
            return Ok(());
        }
        self.last_ts = event.ts;
        if std::mem::take(&mut self.restored) {
            self.release_brackets().await?;
        }
        let derived = self.derived_bar(&event)?;
        self.backend.on_market(&event);
        self.pending.push(event.clone());
        self.stats.market_events += 1;
        if matches!(event.payload, Payload::FundingRate(_)) {
            self.stats.funding_rates += 1;
        }
        self.drain_reports().await?;
        self.flush()?;
        let bar = match (&event.payload, derived) {
            (_, Some(bar)) => Some(bar),
            (Payload::Candle(c), None) if c.closed && c.timeframe == self.options.timeframe => {
                Some(c.clone())
            }
            _ => None,
        };
        if let Some(bar) = bar {
            self.on_bar(event.ts, &bar).await?;
        }
        Ok(())
    }

    /// Append an event that is not market data and decides nothing: the session's
    /// bookkeeping (connections, resubscriptions, dropped ticks, clock offsets). The
    /// session starts at the first event of either kind.
    pub fn record(&mut self, event: Event) -> Result<(), RunError> {
        if !self.started {
            self.start(event.ts)?;
        }
        self.pending.push(event);
        self.flush()
    }

    /// Append the reports the backend has produced since it was last asked (a live
    /// venue answers between market events), and release the brackets they finish.
    pub async fn poll_reports(&mut self) -> Result<(), RunError> {
        self.drain_reports().await?;
        self.flush()
    }

    /// Make everything appended so far durable (a session commits as it goes, so
    /// readers see it and a crash loses nothing acknowledged).
    pub fn commit(&mut self) -> Result<(), RunError> {
        self.flush()?;
        self.writer.commit()?;
        self.since_commit = 0;
        Ok(())
    }

    /// The orders whose venue answer is still due: a market order not yet ended (it
    /// fills or is refused at once), or any order with a cancel or amend pending. A
    /// resting limit or stop order is not: it may rest for days.
    pub fn in_flight(&self) -> Vec<ClientOrderId> {
        self.writer
            .projection()
            .orders()
            .filter(|o| {
                !o.state.is_terminal()
                    && (o.prior_state.is_some()
                        || (o.order_type == OrderType::Market && o.trigger_px.is_none()))
            })
            .map(|o| o.client_order_id.clone())
            .collect()
    }

    /// The backend, for what the session loop asks of it directly (its readiness).
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The backend, mutably (its bookkeeping and periodic work).
    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    /// Reconcile with the venue now (seed 004 §3.2): its positions and open orders as an
    /// `exchange_snapshot`, then a drift and a correction per difference (see
    /// `crate::reconcile`), stamped `ts`. Nothing is appended when the two agree.
    ///
    /// A venue's snapshot can be ahead of its report stream (a fill the REST answer
    /// counts and the stream has not pushed yet). Corrected as drift, that fill would
    /// count twice once its report came. So a difference is believed only when the
    /// backend's catch-up and a drain after the snapshot brought nothing new; when they
    /// did, the snapshot is taken again. A venue that keeps moving under every look is
    /// a retryable error: the session asks again at a later turn.
    pub async fn reconcile(
        &mut self,
        venue: &crate::event::Venue,
        ts: Timestamp,
    ) -> Result<Vec<crate::reconcile::Difference>, RunError> {
        self.drain_reports().await?;
        for _ in 0..RECONCILE_LOOKS {
            let snapshot = crate::event::ExchangeSnapshot {
                venue: venue.clone(),
                positions: self.backend.positions().await?,
                open_orders: self.backend.open_orders().await?,
                balances: self.backend.balances().await?,
            };
            if !self.started {
                self.start(ts)?;
            }
            let first = self.next_seq()?;
            let (events, differences) =
                crate::reconcile::reconcile(self.writer.projection(), &snapshot, ts, first);
            if !differences.is_empty() {
                self.backend.catch_up("reconcile found differences").await?;
                self.drain_reports().await?;
                if self.next_seq()? != first {
                    continue; // reports came: they may be the difference
                }
            }
            self.pending.extend(events);
            self.flush()?;
            return Ok(differences);
        }
        Err(RunError::Backend(crate::backend::BackendError::retryable(
            venue,
            format!("reports kept arriving over {RECONCILE_LOOKS} snapshots; reconcile deferred"),
        )))
    }

    /// Seq the next appended event will get (reconciliation numbers its events).
    pub fn next_seq(&mut self) -> Result<crate::event::Seq, RunError> {
        self.flush()?;
        Ok(self.writer.next_seq())
    }

    /// The session's profit or loss so far: equity less the starting equity.
    pub fn pnl(&mut self) -> Decimal {
        let equity = self.equity();
        equity
            .checked_sub(self.options.initial_equity)
            .unwrap_or_default()
    }

    /// The kill switch's first half: ask the backend to cancel every open order of the
    /// ledger, each `order_cancel_requested` appended (and committed outside a backtest)
    /// before the request goes out. Returns how many were asked.
    pub async fn cancel_all(&mut self) -> Result<usize, RunError> {
        let now = self.last_ts;
        let open: Vec<ClientOrderId> = self
            .writer
            .projection()
            .orders()
            .filter(|o| !o.state.is_terminal() && o.prior_state.is_none())
            .map(|o| o.client_order_id.clone())
            .collect();
        // Stops and targets not yet sent must not be sent after the kill.
        self.brackets.clear();
        for id in &open {
            let request = Event::new(
                now,
                Payload::OrderCancelRequested(crate::event::OrderRef {
                    client_order_id: id.clone(),
                }),
            );
            if self.writer.projection().check_transition(&request).is_err() {
                continue;
            }
            self.pending.push(request);
            self.flush()?;
            if self.options.mode != Mode::Backtest {
                self.writer.commit()?;
                self.since_commit = 0;
            }
            self.backend.cancel(now, id).await?;
        }
        self.drain_reports().await?;
        self.flush()?;
        Ok(open.len())
    }

    /// Refuse an instrument whose candles are coarser than the strategy's bars: bars
    /// cannot be built down, so the run would see none (checked at the instrument's
    /// first candle, which sets its base timeframe).
    fn check_timeframe(&self, event: &Event) -> Result<(), RunError> {
        let Payload::Candle(c) = &event.payload else {
            return Ok(());
        };
        let target = self.options.timeframe;
        if c.timeframe <= target {
            return Ok(());
        }
        let key = event.payload.position_key();
        let first = key
            .as_ref()
            .and_then(|k| self.markets.get(k))
            .is_none_or(|m| m.base_timeframe.is_none());
        if let (true, Some(key)) = (first, key) {
            return Err(RunError::Data(format!(
                "{key}: candles are {}, coarser than the strategy's {target} bars (bars cannot be built down): give {target} or finer candles, or set the play's timeframe to {}",
                c.timeframe, c.timeframe
            )));
        }
        Ok(())
    }

    /// End the session: record why, checkpoint, and commit.
    pub fn finish(mut self, reason: &str) -> Result<RunStats, RunError> {
        if self.started {
            let stop = SessionStopped {
                reason: reason.to_string(),
            };
            self.pending
                .push(Event::new(self.last_ts, Payload::SessionStopped(stop)));
            self.flush()?;
        }
        self.writer.checkpoint_now()?;
        self.writer.commit()?;
        Ok(self.stats)
    }

    fn start(&mut self, ts: Timestamp) -> Result<(), RunError> {
        let started = SessionStarted {
            mode: self.options.mode,
            config_hash: self.options.config_hash.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            params: self.options.params.clone(),
        };
        self.pending
            .push(Event::new(ts, Payload::SessionStarted(started)));
        self.started = true;
        Ok(())
    }

    /// Remember what a market event says of its instrument (last price, funding
    /// rate, base timeframe). False for a candle of another timeframe than its
    /// instrument's base (that of its first candle): it is ignored, and noted nowhere.
    fn note_market(&mut self, event: &Event) -> bool {
        let Some(key) = event.payload.position_key() else {
            return true;
        };
        let market = self.markets.entry(key).or_default();
        match &event.payload {
            Payload::Candle(c) => {
                if *market.base_timeframe.get_or_insert(c.timeframe) != c.timeframe {
                    return false;
                }
                if c.closed {
                    market.last_px = Some(c.close);
                }
            }
            Payload::Trade(t) => market.last_px = Some(t.px),
            Payload::FundingRate(f) => market.funding_rate = Some(f.rate),
            _ => {}
        }
        true
    }

    /// A bar of the strategy's timeframe closed by this trade or finer candle. The bar
    /// is appended as its own event, so the log shows exactly what the strategy saw.
    fn derived_bar(&mut self, event: &Event) -> Result<Option<Candle>, RunError> {
        let target = self.options.timeframe;
        let bar = match &event.payload {
            Payload::Trade(t) => {
                let key = PositionKey {
                    venue: t.venue.clone(),
                    book: t.book.clone(),
                    instrument: t.instrument.clone(),
                };
                match self.aggregators.get_mut(&key) {
                    Some(aggregator) => aggregator.push_trade(event.ts, t)?,
                    None => None,
                }
            }
            Payload::Candle(c) if c.closed && c.timeframe < target => {
                let key = PositionKey {
                    venue: c.venue.clone(),
                    book: c.book.clone(),
                    instrument: c.instrument.clone(),
                };
                let aggregator = self
                    .aggregators
                    .entry(key)
                    .or_insert_with(|| BarAggregator::new(target));
                aggregator.push_candle(c)?
            }
            _ => None,
        };
        let Some(bar) = bar else {
            return Ok(None);
        };
        let close_ts = bar.open_time.plus_nanos(bar.timeframe.nanos());
        self.pending
            .push(Event::new(close_ts, Payload::Candle(bar.clone())));
        Ok(Some(bar))
    }

    async fn on_bar(&mut self, now: Timestamp, bar: &Candle) -> Result<(), RunError> {
        let key = PositionKey {
            venue: bar.venue.clone(),
            book: bar.book.clone(),
            instrument: bar.instrument.clone(),
        };
        let equity = self.equity();
        let state = match self.writer.projection().position(&key) {
            Some(p) if !p.qty.is_zero() => PositionState {
                qty: p.qty,
                cost_basis: p.cost_basis,
                equity,
            },
            _ => PositionState::flat(equity),
        };
        self.stats.bars += 1;
        let intents = self.strategy.on_bar(bar, &state)?;
        for intent in intents {
            self.carry_out(now, &key, intent, equity).await?;
        }
        Ok(())
    }

    /// Close every open position at the end of the data (`ledger run --close-at-end`):
    /// per position, in key order, an exit intent of the strategy for the whole of it
    /// (reason `close at end`, a market order), through the executor and the backend
    /// like any other, so it fills at the last price (the last bar's close under
    /// `BarClose` with no latency). Call it before [`Engine::finish`].
    pub async fn close_at_end(&mut self) -> Result<(), RunError> {
        if !self.started {
            return Ok(());
        }
        let now = self.last_ts;
        let open: Vec<(PositionKey, Decimal)> = self
            .writer
            .projection()
            .positions()
            .filter(|p| !p.qty.is_zero())
            .map(|p| (p.key.clone(), p.qty))
            .collect();
        let equity = self.equity();
        for (key, qty) in open {
            let side = match qty.is_positive() {
                true => Side::Sell,
                false => Side::Buy,
            };
            let strategy = self.strategy.id().clone();
            let intent = Intent {
                intent_id: format!("{strategy}-{key}-{}-close-at-end", now.as_nanos()),
                strategy_id: strategy,
                venue: key.venue.clone(),
                book: key.book.clone(),
                instrument: key.instrument.clone(),
                action: IntentAction::Exit,
                side,
                size: Size::PositionFraction(Decimal::ONE),
                order_type: OrderType::Market,
                limit_px: None,
                stop_loss: None,
                take_profit: None,
                reason: "close at end".to_string(),
            };
            self.carry_out(now, &key, intent, equity).await?;
        }
        Ok(())
    }

    /// Append `intent`, then the executor's plan or skip, and send the plan's orders.
    /// It is planned against what the orders still working for `key` will leave (see
    /// the module doc).
    async fn carry_out(
        &mut self,
        now: Timestamp,
        key: &PositionKey,
        intent: Intent,
        equity: Decimal,
    ) -> Result<(), RunError> {
        self.stats.intents += 1;
        self.pending
            .push(Event::new(now, Payload::Intent(intent.clone())));
        self.flush()?;
        let seen = self.markets.get(key);
        let market = MarketContext {
            now,
            last_px: seen.and_then(|m| m.last_px),
            funding_rate: seen.and_then(|m| m.funding_rate),
            equity,
        };
        let working = self.still_working(key);
        let increasing = |a: &IntentAction| matches!(a, IntentAction::Entry | IntentAction::Add);
        let busy = match increasing(&intent.action) {
            true => working.iter().find(|(_, a)| increasing(a)),
            false => None,
        };
        let reducing: Vec<ClientOrderId> = working
            .iter()
            .filter(|(_, a)| !increasing(a))
            .map(|(id, _)| id.clone())
            .collect();
        let held = self
            .writer
            .projection()
            .position(key)
            .filter(|p| !p.qty.is_zero());
        let left = match reducing.is_empty() {
            true => None,
            false => self.left_after(held, &reducing),
        };
        let position = match &left {
            Some(left) => left.as_ref(),
            None => held,
        };
        let decision = match busy {
            Some((id, action)) => Decision::Skip(crate::event::Skip {
                intent_id: intent.intent_id.clone(),
                venue: key.venue.clone(),
                book: key.book.clone(),
                instrument: key.instrument.clone(),
                reason: SkipReason::PositionConflict,
                detail: format!("{} order {id} is still working", action_name(action)),
            }),
            None => self.executor.prepare(&intent, position, &market),
        };
        match decision {
            Decision::Skip(skip) => {
                *self.stats.skips.entry(skip.reason).or_default() += 1;
                self.pending.push(Event::new(now, Payload::Skip(skip)));
            }
            Decision::Plan(plan) => {
                self.stats.plans += 1;
                let sent = plan
                    .orders
                    .iter()
                    .filter(|o| !matches!(o.role, OrderRole::StopLoss | OrderRole::TakeProfit))
                    .map(|o| (o.client_order_id.clone(), intent.action));
                self.working.entry(key.clone()).or_default().extend(sent);
                self.pending
                    .push(Event::new(now, Payload::Plan(plan.clone())));
                self.send_plan(now, key, plan.orders).await?;
            }
        }
        self.drain_reports().await?;
        self.flush()?;
        Ok(())
    }

    /// The orders of `key` still working, once those that ended are forgotten.
    fn still_working(&mut self, key: &PositionKey) -> Vec<(ClientOrderId, IntentAction)> {
        let Some(orders) = self.working.get_mut(key) else {
            return Vec::new();
        };
        let projection = self.writer.projection();
        orders.retain(|(id, _)| projection.order(id).is_some_and(|o| !o.state.is_terminal()));
        if orders.is_empty() {
            self.working.remove(key);
            return Vec::new();
        }
        orders.clone()
    }

    /// The position `held` less what the still-working orders of `reducing` will take
    /// off it (`Some(None)`: flat), or `None` when none is working (then `held` is what
    /// they left). Under `BarClose` with no latency an exit has filled before the next
    /// intent is planned; under latency or `NextOpen` it has not, and a reversal's entry
    /// is planned against the flat position the exit will leave.
    fn left_after(
        &self,
        held: Option<&Position>,
        reducing: &[ClientOrderId],
    ) -> Option<Option<Position>> {
        let projection = self.writer.projection();
        let mut qty = held.map(|p| p.qty).unwrap_or_default();
        let mut working = false;
        for id in reducing {
            let Some(order) = projection.order(id).filter(|o| !o.state.is_terminal()) else {
                continue;
            };
            let open = order.qty.checked_sub(order.filled_qty).unwrap_or_default();
            qty = qty.checked_add(order.side.sign().checked_mul(open)?)?;
            working = true;
        }
        if !working {
            return None;
        }
        match (qty.is_zero(), held) {
            (true, _) | (false, None) => Some(None),
            (false, Some(p)) => Some(Some(Position { qty, ..p.clone() })),
        }
    }

    /// Send the entry (and exit) orders of a plan now; hold its stop and target.
    async fn send_plan(
        &mut self,
        now: Timestamp,
        key: &PositionKey,
        orders: Vec<crate::event::PlannedOrder>,
    ) -> Result<(), RunError> {
        let (protective, direct): (Vec<_>, Vec<_>) = orders
            .into_iter()
            .partition(|o| matches!(o.role, OrderRole::StopLoss | OrderRole::TakeProfit));
        let entry_id = direct.first().map(|o| o.client_order_id.clone());
        for order in direct {
            self.submit(
                now,
                OrderRequest {
                    key: key.clone(),
                    order,
                },
            )
            .await?;
        }
        if let (Some(id), false) = (entry_id, protective.is_empty()) {
            let requests = protective
                .into_iter()
                .map(|order| OrderRequest {
                    key: key.clone(),
                    order,
                })
                .collect();
            self.brackets.insert(id, (key.clone(), requests));
        }
        Ok(())
    }

    async fn submit(&mut self, now: Timestamp, request: OrderRequest) -> Result<(), RunError> {
        self.pending.push(Event::new(
            now,
            Payload::OrderSubmitted(request.submitted()),
        ));
        // `order_submitted` is in the log before the request leaves; outside a
        // backtest it is also durable (the outbox): a crash after the send leaves
        // the order in the log, to be asked about by its client id, never sent twice.
        // A backtest may batch (its sim is in-process and the run replayable).
        self.flush()?;
        if self.options.mode != Mode::Backtest {
            self.writer.commit()?;
            self.since_commit = 0;
        }
        self.stats.orders += 1;
        self.backend.submit(now, request).await?;
        Ok(())
    }

    /// Append the backend's reports, then release the brackets of entries that ended.
    async fn drain_reports(&mut self) -> Result<(), RunError> {
        loop {
            let reports = self.backend.reports().await?;
            if reports.is_empty() {
                return Ok(());
            }
            self.pending.extend(reports);
            self.flush()?;
            self.release_brackets().await?;
        }
    }

    /// Submit the stop and target of every entry that is done filling, sized to what
    /// filled; drop them for entries that ended unfilled.
    async fn release_brackets(&mut self) -> Result<(), RunError> {
        let done: Vec<ClientOrderId> = self
            .brackets
            .keys()
            .filter(|id| {
                self.writer
                    .projection()
                    .order(id)
                    .is_none_or(|o| o.state.is_terminal())
            })
            .cloned()
            .collect();
        for id in done {
            let Some((_, requests)) = self.brackets.remove(&id) else {
                continue;
            };
            let filled = self
                .writer
                .projection()
                .order(&id)
                .map(|o| o.filled_qty)
                .unwrap_or_default();
            if !filled.is_positive() {
                continue;
            }
            for mut request in requests {
                request.order.qty = filled;
                self.submit(self.last_ts, request).await?;
            }
        }
        Ok(())
    }

    /// Equity: the starting equity plus every position's `net + unrealized`, summed
    /// in key order. Each position's part is cached and recomputed only when events
    /// touched it; the sum is redone from the parts whenever one of them changed, never
    /// carried forward by adding differences, so no rounding accumulates (some PnL
    /// figures use all 28 digits). Reusing the last sum when no part changed (a flat
    /// position's part does not move with its mark) gives the identical number.
    fn equity(&mut self) -> Decimal {
        let projection = self.writer.projection();
        for key in self.equity.dirty.drain(..) {
            let part = projection
                .position(&key)
                .and_then(|p| p.net().checked_add(p.unrealized()))
                .unwrap_or_default();
            match self.equity.parts.get_mut(&key) {
                Some(old) if old.is_identical(part) => {}
                Some(old) => {
                    *old = part;
                    self.equity.total = None;
                }
                None => {
                    self.equity.parts.insert(key, part);
                    self.equity.total = None;
                }
            }
        }
        if let Some(total) = self.equity.total {
            return total;
        }
        let total = self
            .equity
            .parts
            .values()
            .fold(self.options.initial_equity, |acc, part| {
                acc.checked_add(*part).unwrap_or(acc)
            });
        self.equity.total = Some(total);
        total
    }

    /// Append what is pending; commit durably every `COMMIT_EVERY_EVENTS`.
    fn flush(&mut self) -> Result<(), RunError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let events = std::mem::take(&mut self.pending);
        for event in &events {
            if moves_equity(&event.payload) {
                if let Some(key) = event.payload.position_key() {
                    // Consecutive events mostly touch the same position; a repeat
                    // further back only recomputes a part twice.
                    if self.equity.dirty.last() != Some(&key) {
                        self.equity.dirty.push(key);
                    }
                    // Without bars (so without `equity` reads) it would grow with
                    // the run: keep it to one entry per position.
                    if self.equity.dirty.len() > DIRTY_KEYS_MAX {
                        self.equity.dirty.sort_unstable();
                        self.equity.dirty.dedup();
                    }
                }
            }
        }
        let count =
            |kind: fn(&Payload) -> bool| events.iter().filter(|e| kind(&e.payload)).count() as u64;
        let fills = count(|p| matches!(p, Payload::Fill(_)));
        let fundings = count(|p| matches!(p, Payload::Funding(_)));
        let outcome = self.writer.append(events)?;
        if let Some((_, err)) = outcome.rejected.first() {
            return Err(RunError::Refused(err.to_string()));
        }
        // The engine's own executions are new by construction (ids unique per ledger,
        // see `SimConfig::exec_id_prefix`) and never overfill: either would be a bug
        // that leaves the ledger and the run disagreeing, so the run stops on it.
        if outcome.duplicates > 0 {
            return Err(RunError::Refused(format!(
                "{} execution(s) the run produced were already in the ledger: execution ids must be unique per ledger",
                outcome.duplicates
            )));
        }
        if let Some(seq) = outcome.overfills.first() {
            return Err(RunError::Refused(format!(
                "seq {seq}: a fill took its order above its quantity"
            )));
        }
        // Counted from what the ledger took, so the summary says what the log holds.
        self.stats.fills += fills;
        self.stats.fundings += fundings;
        self.stats.events += outcome.appended;
        self.since_commit += outcome.appended;
        if self.since_commit >= COMMIT_EVERY_EVENTS {
            self.writer.commit()?;
            self.since_commit = 0;
        }
        Ok(())
    }
}

/// Each position's last `net + unrealized`, the positions events have touched since
/// (whose parts must be recomputed before the next read), and the sum of the parts
/// (`None` once one of them changed).
#[derive(Default)]
struct EquityParts {
    parts: BTreeMap<PositionKey, Decimal>,
    /// In the order events touched them; recomputing a part is idempotent, so a key
    /// may appear twice (a `Vec` reused without allocating beats a set here).
    dirty: Vec<PositionKey>,
    total: Option<Decimal>,
}

/// True for the events that can change a position's `net + unrealized`: marks (trades,
/// candles) and executions, funding and position corrections. Decisions and order
/// events name a position but move neither.
fn moves_equity(payload: &Payload) -> bool {
    matches!(
        payload,
        Payload::Trade(_)
            | Payload::Candle(_)
            | Payload::Fill(_)
            | Payload::Funding(_)
            | Payload::Liquidation(_)
            | Payload::Adl(_)
            | Payload::CorrectionApplied(_)
    )
}

/// What the engine has seen of one instrument's market.
#[derive(Debug, Default)]
struct MarketState {
    /// The timeframe of its first candle: candles of any other are ignored.
    base_timeframe: Option<Timeframe>,
    /// Last trade price or closed candle's close.
    last_px: Option<Decimal>,
    /// Last funding rate.
    funding_rate: Option<Decimal>,
}

/// A backend that is driven by market events (the simulated exchange). Live venues
/// match on their own and ignore this.
pub trait MarketDriven {
    /// See one market event, in log order.
    fn on_market(&mut self, event: &Event);
}

impl MarketDriven for SimExchange {
    fn on_market(&mut self, event: &Event) {
        SimExchange::on_market(self, event);
    }
}

/// An intent action as the log spells it, for skip details.
fn action_name(action: &IntentAction) -> &'static str {
    match action {
        IntentAction::Entry => "entry",
        IntentAction::Add => "add",
        IntentAction::Trim => "trim",
        IntentAction::Exit => "exit",
    }
}
