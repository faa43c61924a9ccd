//! [`BybitBackend`]: the engine's `ExecutionBackend` on Bybit v5.
//!
//! Requests go out over signed REST; outcomes come back on the private stream and are
//! translated (`venue::bybit::Translator`) when the engine calls `reports()`. What REST
//! answers itself (a reject, a refused cancel or amend) is queued as a report in the
//! same order. The cases that decide whether the ledger can be trusted:
//!
//! * **Unknown outcome.** A create sent but not answered (timeout, reset, a 5xx, an
//!   unreadable body) is never reported as rejected: the order is kept "unknown" and
//!   resolved by `GET /v5/order/realtime?orderLinkId=` (then `/v5/order/history`):
//!   found ⇒ its state's reports; not found for [`BybitConfig::unknown_window`] ⇒
//!   rejected "not found at venue". A failed status query ends nothing.
//! * **110072** (duplicate `orderLinkId`): the order exists; resolved the same way.
//! * **Missed frames.** After a reconnect (or an inbox overflow) the backend fetches
//!   executions and the open orders' states over REST; an order message whose
//!   `cumExecQty` is more than the fills seen fetches that symbol's executions. The
//!   translator drops execution ids it has seen, and the log drops `(venue, exec_id)`
//!   it holds, so a fill is never applied twice.
//! * **Restart = replay.** [`BybitBackend::restore`] re-tracks the projection's open
//!   orders; submitted-but-unanswered ones are resolved by client id.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::backend::{BackendError, ExecutionBackend, OrderRequest};
use crate::engine::MarketDriven;
use crate::event::{
    ClientOrderId, ClockOffset, Decimal, Event, OrderRejected, OrderRequestRejected,
    OrderSubmitted, Payload, SnapshotBalance, SnapshotOrder, SnapshotPosition, Symbol, Timestamp,
};
use crate::executor::InstrumentRules;
use crate::reduce::{OrderState, Projection};
use crate::venue::bybit::objects::Order;
use crate::venue::bybit::rest::{
    CreateOrder, ErrorClass, Request, amend_order, cancel_order, create_order, parse_executions,
    parse_instruments, parse_orders, parse_positions, parse_wallets,
};
use crate::venue::bybit::wire::link_id;
use crate::venue::bybit::{Namespace, PrivateFrame, Translator};

use super::BybitConfig;
use super::clock::{Clock, local_now_ns};
use super::limits::Limits;
use super::notes::{Note, Notes};
use super::private_stream::{Incoming, PrivateStream, StreamConfig};
use super::rest_client::{RestClient, RestError};

/// Ended orders whose books (symbol, fills) are kept, as the translator keeps its own.
pub const ENDED_ORDERS_MAX: usize = crate::venue::bybit::private::ENDED_ORDERS_MAX;

/// The reason of an order of unknown outcome the venue never heard of.
pub const NOT_FOUND_AT_VENUE: &str = "not found at venue";

/// An order whose create was not answered (or answered 110072).
#[derive(Debug, Clone)]
struct Unknown {
    symbol: Symbol,
    since: Instant,
    last_query: Option<Instant>,
}

/// The live Bybit backend. See the module doc.
#[derive(Debug)]
pub struct BybitBackend {
    ns: Namespace,
    settle_coin: String,
    unknown_window: Duration,
    resolve_every: Duration,
    rest: RestClient,
    stream: PrivateStream,
    translator: Translator,
    notes: Notes,
    /// Every order this backend knows, with its symbol (cancel and amend need it).
    symbols: BTreeMap<ClientOrderId, Symbol>,
    /// The `orderLinkId` each of those orders travels as (`venue::bybit::wire::link_id`)
    /// → our id: what comes back from the venue is mapped back before anything reads it.
    links: BTreeMap<ClientOrderId, ClientOrderId>,
    /// Orders not ended as far as the venue's messages go.
    open: BTreeSet<ClientOrderId>,
    /// Ended orders, oldest first, for the bound on the books above.
    ended: VecDeque<ClientOrderId>,
    /// Quantity filled per order, from the fills reported.
    filled: BTreeMap<ClientOrderId, Decimal>,
    /// Quantity filled per order, as the venue's last order message says.
    venue_filled: BTreeMap<ClientOrderId, Decimal>,
    unknown: BTreeMap<ClientOrderId, Unknown>,
    /// Reports waiting for `reports()`.
    out: Vec<Event>,
    catch_up_due: Option<String>,
    /// The private stream came back after a drop and no reconcile has followed yet.
    reconnected: bool,
    /// Why the account should be reconciled, once the catch-up it follows is done.
    reconcile_due: Option<String>,
    /// Orders the venue says filled more than the fills seen: their executions are due.
    short: Vec<(ClientOrderId, Symbol)>,
}

fn backend_error(ns: &Namespace, e: &RestError) -> BackendError {
    BackendError {
        venue: ns.venue.clone(),
        what: e.to_string(),
        retryable: e.retryable(true),
    }
}

impl BybitBackend {
    /// Measure the clock, start the private stream and wait (up to the connect
    /// timeout) until it is authenticated and subscribed.
    pub async fn connect(config: BybitConfig) -> Result<BybitBackend, BackendError> {
        crate::install_crypto();
        let ns = config.namespace.clone();
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|e| BackendError::permanent(&ns.venue, format!("http client: {e}")))?;
        let clock = Arc::new(Clock::new());
        let notes = Notes::default();
        let creds = config.keys.credentials().clone();
        let rest = RestClient::new(
            http,
            config.rest_url.clone(),
            creds.clone(),
            config.recv_window_ms,
            clock.clone(),
            Limits::new(&config.limits),
            config.retry.clone(),
            notes.clone(),
        );
        rest.resync("start")
            .await
            .map_err(|e| backend_error(&ns, &e))?;
        let stream = PrivateStream::spawn(
            StreamConfig {
                url: config.ws_url.clone(),
                ping_interval: config.ping_interval,
                idle_timeout: config.idle_timeout,
                connect_timeout: config.connect_timeout,
                max_message_bytes: config.max_message_bytes,
                reconnect_min: config.reconnect.min_delay,
                reconnect_max: config.reconnect.max_delay,
            },
            creds,
            clock,
            notes.clone(),
        );
        let backend = BybitBackend {
            translator: Translator::new(ns.clone()),
            ns,
            settle_coin: config.settle_coin.clone(),
            unknown_window: config.unknown_window,
            resolve_every: config.resolve_every,
            rest,
            stream,
            notes,
            symbols: BTreeMap::new(),
            links: BTreeMap::new(),
            open: BTreeSet::new(),
            ended: VecDeque::new(),
            filled: BTreeMap::new(),
            venue_filled: BTreeMap::new(),
            unknown: BTreeMap::new(),
            out: Vec::new(),
            catch_up_due: None,
            reconnected: false,
            reconcile_due: None,
            short: Vec::new(),
        };
        if !backend.wait_sessions(1, config.connect_timeout).await {
            let reasons: Vec<String> = backend
                .notes
                .take()
                .iter()
                .filter(|n| matches!(n, Note::Disconnected { .. }))
                .map(Note::to_string)
                .collect();
            return Err(BackendError::retryable(
                &backend.ns.venue,
                format!("private stream did not come up: {}", reasons.join("; ")),
            ));
        }
        Ok(backend)
    }

    /// Notified whenever reports may be waiting (a frame arrived, a REST answer was
    /// queued): an engine loop `select!`s on `reports_ready().notified()` and then
    /// calls `reports()`. A notification that finds nobody waiting is kept. Unknown
    /// outcomes and catch-ups are settled inside `reports()`, which nothing on the
    /// stream may prompt: while [`Self::unknown_orders`] is not empty, the engine should
    /// also call `reports()` on a timer (every `resolve_every`).
    pub fn reports_ready(&self) -> Arc<Notify> {
        self.stream.inbox().ready()
    }

    /// What the adapter did on its own since the last call (waits, retries, resyncs,
    /// reconnects, skipped frames, unknown outcomes), for the engine to log.
    pub fn take_notes(&self) -> Vec<Note> {
        self.notes.take()
    }

    /// The last measured clock offset, as the event the engine records.
    pub fn clock_offset(&self) -> ClockOffset {
        ClockOffset {
            venue: self.ns.venue.clone(),
            offset_ns: self.rest.clock().offset_ns(),
        }
    }

    /// Measure the clock offset again now.
    pub async fn resync_clock(&self) -> Result<ClockOffset, BackendError> {
        self.rest
            .resync("requested")
            .await
            .map_err(|e| backend_error(&self.ns, &e))?;
        Ok(self.clock_offset())
    }

    /// Why the account should be reconciled now (the private stream came back after a
    /// drop and its REST catch-up is done: what the stream missed beyond fills, such as
    /// a trade made elsewhere, only a snapshot shows), taken once.
    pub fn take_reconcile_due(&mut self) -> Option<String> {
        self.reconcile_due.take()
    }

    /// The venue-synced clock (ours plus the measured offset).
    pub fn venue_now(&self) -> Timestamp {
        self.rest.clock().venue_now()
    }

    /// How many times the private stream has come up so far.
    pub fn sessions(&self) -> u64 {
        *self.stream.inbox().sessions().borrow()
    }

    /// Wait until the private stream has come up `n` times in all; false on timeout.
    pub async fn wait_sessions(&self, n: u64, timeout: Duration) -> bool {
        let mut sessions = self.stream.inbox().sessions();
        tokio::time::timeout(timeout, sessions.wait_for(|s| *s >= n))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Orders whose outcome is still unknown.
    pub fn unknown_orders(&self) -> Vec<ClientOrderId> {
        self.unknown.keys().cloned().collect()
    }

    /// Re-track the projection's open orders of this venue after a restart: accepted
    /// ones without a second accept, submitted-but-unanswered ones as unknown outcomes
    /// (resolved by client id). A REST catch-up follows on the next `reports()`.
    pub fn restore(&mut self, projection: &Projection) {
        for order in projection.orders() {
            if order.key.venue != self.ns.venue {
                continue;
            }
            // Every order the ledger still holds, ended ones too: a catch-up lists
            // recent executions of ended orders, and they must come back under our
            // ids (the log refuses an execution it holds under another order id).
            let id = order.client_order_id.clone();
            self.links.insert(link_id(&id), id);
            if !order.state.is_open() {
                continue;
            }
            let submitted = OrderSubmitted {
                venue: order.key.venue.clone(),
                book: order.key.book.clone(),
                instrument: order.key.instrument.clone(),
                client_order_id: order.client_order_id.clone(),
                side: order.side,
                order_type: order.order_type,
                qty: order.qty,
                px: order.px,
                trigger_px: order.trigger_px,
                tif: order.tif,
                reduce_only: order.reduce_only,
                post_only: order.post_only,
            };
            let id = order.client_order_id.clone();
            if order.state == OrderState::Submitted {
                self.translator.track(&submitted);
                self.mark_unknown(&id, &order.key.instrument, "restored unanswered");
            } else {
                self.translator.track_accepted(&submitted);
            }
            self.symbols
                .insert(id.clone(), order.key.instrument.clone());
            self.links.insert(link_id(&id), id.clone());
            self.open.insert(id.clone());
            self.filled.insert(id, order.filled_qty);
        }
        self.catch_up_due = Some("restore".to_string());
    }

    /// Instrument rules (tick, lot, minimums, max leverage) of every linear symbol,
    /// or of `symbol`; fees are not in this endpoint and come from the caller.
    pub async fn load_instruments(
        &self,
        symbol: Option<&Symbol>,
        maker_fee: Decimal,
        taker_fee: Decimal,
    ) -> Result<Vec<(Symbol, InstrumentRules)>, BackendError> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        loop {
            let req = Request::get(
                "/v5/market/instruments-info",
                &[
                    ("category", "linear"),
                    ("symbol", symbol.map(Symbol::as_str).unwrap_or("")),
                    ("limit", "1000"),
                    ("cursor", &cursor),
                ],
            );
            let body = self.get(&req).await?;
            let page = parse_instruments(&body, maker_fee, taker_fee)
                .map_err(|e| self.parse_error(req.path, e))?;
            out.extend(page.items);
            match page.next_cursor {
                Some(next) if next != cursor => cursor = next,
                _ => return Ok(out),
            }
        }
    }

    /// Settle every unknown outcome whose last query is older than `resolve_every`.
    pub async fn resolve_unknown(&mut self) {
        let now = Instant::now();
        let due: Vec<(ClientOrderId, Unknown)> = self
            .unknown
            .iter()
            .filter(|(_, u)| {
                u.last_query
                    .is_none_or(|t| now.duration_since(t) >= self.resolve_every)
            })
            .map(|(id, u)| (id.clone(), u.clone()))
            .collect();
        for (id, unknown) in due {
            if let Some(u) = self.unknown.get_mut(&id) {
                u.last_query = Some(Instant::now());
            }
            let found = match self.find_order(&id).await {
                Ok(found) => found,
                Err(e) => {
                    // A failed query ends nothing (§C3): try again later.
                    self.notes.push(Note::Failed {
                        what: format!("status query of {id} failed: {e}"),
                    });
                    continue;
                }
            };
            match found {
                Some(order) => {
                    self.unknown.remove(&id);
                    self.notes.push(Note::Resolved {
                        client_order_id: id.clone(),
                        found: true,
                    });
                    // Fills first: a filled order's own message reports nothing.
                    if let Err(e) = self.fetch_executions(&unknown.symbol, Some(&id)).await {
                        self.notes.push(Note::Failed {
                            what: format!("executions of {id}: {e}"),
                        });
                    }
                    let recv = Timestamp::from_nanos(local_now_ns());
                    self.apply(recv, &PrivateFrame::Orders(vec![order]));
                }
                None if unknown.since.elapsed() >= self.unknown_window => {
                    self.unknown.remove(&id);
                    self.end(&id);
                    self.notes.push(Note::Resolved {
                        client_order_id: id.clone(),
                        found: false,
                    });
                    self.queue(Payload::OrderRejected(OrderRejected {
                        client_order_id: id,
                        reason: NOT_FOUND_AT_VENUE.to_string(),
                    }));
                }
                None => {}
            }
        }
    }

    async fn get(&self, req: &Request) -> Result<String, BackendError> {
        self.rest
            .send(req, None, true)
            .await
            .map_err(|e| backend_error(&self.ns, &e))
    }

    fn parse_error(
        &self,
        path: &'static str,
        e: crate::venue::bybit::rest::ResponseError,
    ) -> BackendError {
        backend_error(&self.ns, &RestError::from_response(path, e))
    }

    /// The order with our id, from `realtime` then `history`.
    async fn find_order(&self, id: &ClientOrderId) -> Result<Option<Order>, RestError> {
        let link = link_id(id);
        for path in ["/v5/order/realtime", "/v5/order/history"] {
            let req = Request::get(
                path,
                &[("category", "linear"), ("orderLinkId", link.as_str())],
            );
            let body = self.rest.send(&req, None, true).await?;
            let page = parse_orders(&body).map_err(|e| RestError::from_response(path, e))?;
            // The id filter is the venue's; checked again here all the same.
            let found = page
                .items
                .into_iter()
                .find(|o| o.order_link_id.as_ref() == Some(&link));
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// Executions of `symbol` (of one order, when given) through the translator,
    /// oldest first; returns how many were fetched.
    async fn fetch_executions(
        &mut self,
        symbol: &Symbol,
        order: Option<&ClientOrderId>,
    ) -> Result<usize, RestError> {
        let link = order.map(link_id);
        let req = Request::get(
            "/v5/execution/list",
            &[
                ("category", "linear"),
                ("symbol", symbol.as_str()),
                (
                    "orderLinkId",
                    link.as_ref().map(ClientOrderId::as_str).unwrap_or(""),
                ),
                ("limit", "100"),
            ],
        );
        let body = self.rest.send(&req, None, true).await?;
        let page = parse_executions(&body).map_err(|e| RestError::from_response(req.path, e))?;
        let mut execs: Vec<_> = page
            .items
            .into_iter()
            .filter(|e| link.is_none() || e.order_link_id == link)
            .collect();
        // The venue lists newest first.
        execs.reverse();
        let count = execs.len();
        let recv = Timestamp::from_nanos(local_now_ns());
        self.apply(recv, &PrivateFrame::Executions(execs));
        Ok(count)
    }

    /// Fetch what the stream may have missed: executions of every symbol with open
    /// orders, then the state of each open order.
    async fn catch_up(&mut self, why: &str) -> Result<(), RestError> {
        let symbols: BTreeSet<Symbol> = self
            .open
            .iter()
            .filter_map(|id| self.symbols.get(id).cloned())
            .collect();
        let mut executions = 0;
        for symbol in &symbols {
            executions += self.fetch_executions(symbol, None).await?;
        }
        let ids: Vec<ClientOrderId> = self.open.iter().cloned().collect();
        let mut orders = 0;
        for id in ids {
            if self.unknown.contains_key(&id) {
                continue; // resolve_unknown owns it
            }
            if let Some(order) = self.find_order(&id).await? {
                orders += 1;
                let recv = Timestamp::from_nanos(local_now_ns());
                self.apply(recv, &PrivateFrame::Orders(vec![order]));
            }
        }
        self.notes.push(Note::CatchUp {
            why: why.to_string(),
            executions,
            orders,
        });
        Ok(())
    }

    /// Translate a frame, queue its events, and keep the open and filled books.
    fn apply(&mut self, recv: Timestamp, frame: &PrivateFrame) {
        let frame = &self.relink(frame.clone());
        let translation = self.translator.translate(frame);
        for mut event in translation.events {
            if let Payload::Fill(fill) = &event.payload {
                if let Some(order_id) = &fill.order_id {
                    let id = ClientOrderId::from(order_id.as_str());
                    if self.symbols.contains_key(&id) {
                        let sum = self.filled.entry(id).or_default();
                        // An overflow means a broken venue number; saturate, never panic.
                        *sum = sum.checked_add(fill.qty).unwrap_or(*sum);
                    }
                }
            }
            event.recv_ts = Some(recv);
            self.out.push(event);
        }
        for external in translation.external {
            self.notes.push(Note::External {
                order_id: external.order.order_id.to_string(),
            });
        }
        if let PrivateFrame::Orders(orders) = frame {
            for order in orders {
                let Some(id) = &order.order_link_id else {
                    continue;
                };
                if !self.symbols.contains_key(id) {
                    continue;
                }
                // Heard of at the venue: not unknown any more.
                if self.unknown.remove(id).is_some() {
                    self.notes.push(Note::Resolved {
                        client_order_id: id.clone(),
                        found: true,
                    });
                }
                let state = order.state();
                use crate::venue::bybit::status::OrderState as Venue;
                self.venue_filled.insert(id.clone(), order.cum_exec_qty);
                if !matches!(state, Venue::New | Venue::PartiallyFilled) {
                    self.end(id);
                }
            }
        }
    }

    /// Know `id`'s link id (an order the ledger sent, maybe long forgotten by the
    /// projection): the venue's executions of it come back under our id.
    pub fn remember(&mut self, id: &ClientOrderId) {
        self.links.insert(link_id(id), id.clone());
    }

    /// Our id for a link id the venue sent (an id we never sent stays as the venue
    /// gave it: an external order).
    fn ours(&self, link: Option<ClientOrderId>) -> Option<ClientOrderId> {
        link.map(|l| self.links.get(&l).cloned().unwrap_or(l))
    }

    /// `frame` with the venue's link ids mapped back to our client order ids.
    fn relink(&self, mut frame: PrivateFrame) -> PrivateFrame {
        match &mut frame {
            PrivateFrame::Orders(orders) => {
                for o in orders {
                    o.order_link_id = self.ours(o.order_link_id.take());
                }
            }
            PrivateFrame::Executions(execs) => {
                for e in execs {
                    e.order_link_id = self.ours(e.order_link_id.take());
                }
            }
            _ => {}
        }
        frame
    }

    /// Translate everything the stream queued; orders whose fills fell short are kept
    /// for `reports()` to fetch.
    fn drain_inbox(&mut self) {
        let (items, overflowed) = self.stream.inbox().drain();
        if overflowed {
            self.catch_up_due = Some("inbox overflow".to_string());
        }
        let mut suspects: Vec<ClientOrderId> = Vec::new();
        for item in items {
            match item {
                Incoming::Frame { recv, frame } => {
                    self.apply(recv, &frame);
                    if let PrivateFrame::Orders(orders) = &frame {
                        suspects.extend(
                            orders
                                .iter()
                                .filter_map(|o| self.ours(o.order_link_id.clone())),
                        );
                    }
                }
                Incoming::Up { reconnect: true } => {
                    self.catch_up_due = Some("reconnect".to_string());
                    self.reconnected = true;
                }
                Incoming::Up { reconnect: false } => {}
            }
        }
        // Checked after the whole batch: an execution frame may follow its order's.
        let short = self.short_of_fills(suspects);
        self.short.extend(short);
    }

    /// The orders among `ids` the venue says filled more than the fills we saw.
    fn short_of_fills(&self, ids: Vec<ClientOrderId>) -> Vec<(ClientOrderId, Symbol)> {
        let ids: BTreeSet<ClientOrderId> = ids.into_iter().collect();
        ids.into_iter()
            .filter(|id| {
                let venue = self.venue_filled.get(id).copied().unwrap_or_default();
                venue > self.filled.get(id).copied().unwrap_or_default()
            })
            .filter_map(|id| self.symbols.get(&id).cloned().map(|s| (id, s)))
            .collect()
    }

    fn queue(&mut self, payload: Payload) {
        let now = self.rest.clock().venue_now();
        let mut event = Event::new(now, payload);
        event.recv_ts = Some(Timestamp::from_nanos(local_now_ns()));
        self.out.push(event);
        self.stream.inbox().ready().notify_one();
    }

    fn mark_unknown(&mut self, id: &ClientOrderId, symbol: &Symbol, reason: &str) {
        self.notes.push(Note::OutcomeUnknown {
            client_order_id: id.clone(),
            reason: reason.to_string(),
        });
        self.unknown.insert(
            id.clone(),
            Unknown {
                symbol: symbol.clone(),
                since: Instant::now(),
                last_query: None,
            },
        );
    }

    /// The order ended: no longer open; its books are dropped once
    /// [`ENDED_ORDERS_MAX`] later orders have ended (memory stays bounded, and a fill
    /// that late is still reported: only the missing-fill check forgets it).
    fn end(&mut self, id: &ClientOrderId) {
        if !self.open.remove(id) {
            return;
        }
        self.ended.push_back(id.clone());
        while self.ended.len() > ENDED_ORDERS_MAX {
            if let Some(old) = self.ended.pop_front() {
                self.symbols.remove(&old);
                self.links.remove(&link_id(&old));
                self.filled.remove(&old);
                self.venue_filled.remove(&old);
            }
        }
    }

    async fn do_submit(&mut self, request: OrderRequest) -> Result<(), BackendError> {
        let submitted = request.submitted();
        let id = submitted.client_order_id.clone();
        if self.symbols.contains_key(&id) {
            return Ok(()); // a retry of an order this backend already sent
        }
        let symbol = request.key.instrument.clone();
        self.translator.track(&submitted);
        self.symbols.insert(id.clone(), symbol.clone());
        self.links.insert(link_id(&id), id.clone());
        self.open.insert(id.clone());
        let o = &request.order;
        let req = create_order(&CreateOrder {
            symbol: symbol.clone(),
            client_order_id: id.clone(),
            side: o.side,
            order_type: o.order_type,
            qty: o.qty,
            px: o.px,
            trigger_px: o.trigger_px,
            tif: o.tif,
            post_only: o.post_only,
            reduce_only: o.reduce_only,
        });
        let failure = match self.rest.send(&req, Some(symbol.as_str()), false).await {
            Ok(_) => return Ok(()), // the accept (or the venue's cancel) comes on the stream
            Err(e) => e,
        };
        self.drain_inbox();
        match failure.venue().map(|e| &e.class) {
            Some(ErrorClass::DuplicateClientId) => {
                self.notes.push(Note::DuplicateClientId {
                    client_order_id: id.clone(),
                });
                self.mark_unknown(&id, &symbol, "110072: already at the venue");
            }
            _ if failure.outcome_unknown() || matches!(failure, RestError::BadResponse { .. }) => {
                self.mark_unknown(&id, &symbol, &failure.to_string());
            }
            _ => {
                // A definitive answer: the venue did not take it (a reject, or limits
                // and connect failures outlasting every retry).
                self.end(&id);
                let reason = match failure.venue() {
                    Some(e) => format!("retCode {}: {}", e.code, e.message),
                    None => failure.to_string(),
                };
                self.queue(Payload::OrderRejected(OrderRejected {
                    client_order_id: id,
                    reason,
                }));
            }
        }
        Ok(())
    }

    /// Send a cancel or amend; a definitive refusal becomes `refused(reason)`.
    async fn do_request(
        &mut self,
        id: &ClientOrderId,
        build: impl FnOnce(&Symbol) -> Request,
        refused: fn(OrderRequestRejected) -> Payload,
    ) -> Result<(), BackendError> {
        let Some(symbol) = self.symbols.get(id).cloned() else {
            return Err(BackendError::permanent(
                &self.ns.venue,
                format!("unknown order {id}"),
            ));
        };
        let req = build(&symbol);
        let failure = match self.rest.send(&req, Some(symbol.as_str()), false).await {
            Ok(_) => return Ok(()), // confirmed on the stream
            Err(e) => e,
        };
        self.drain_inbox();
        if failure.outcome_unknown() {
            // The stream tells what happened; a catch-up covers a missed message.
            self.notes.push(Note::Failed {
                what: format!("{} of {id}: outcome unknown: {failure}", req.path),
            });
            self.catch_up_due = Some(format!("{} unanswered", req.path));
            return Ok(());
        }
        let reason = match failure.venue() {
            Some(e) => format!("retCode {}: {}", e.code, e.message),
            None => failure.to_string(),
        };
        self.queue(refused(OrderRequestRejected {
            client_order_id: id.clone(),
            reason,
        }));
        Ok(())
    }

    async fn do_reports(&mut self) -> Result<Vec<Event>, BackendError> {
        self.drain_inbox();
        let short: BTreeMap<ClientOrderId, Symbol> =
            std::mem::take(&mut self.short).into_iter().collect();
        for (id, symbol) in short {
            // A fill frame lost on the stream is still on REST (§C3).
            match self.fetch_executions(&symbol, Some(&id)).await {
                Ok(executions) => self.notes.push(Note::CatchUp {
                    why: format!("fills of {id} missing"),
                    executions,
                    orders: 0,
                }),
                Err(e) => {
                    self.notes.push(Note::Failed {
                        what: format!("executions of {id}: {e}"),
                    });
                    self.catch_up_due = Some(format!("fills of {id} missing"));
                }
            }
        }
        if let Some(why) = self.catch_up_due.take() {
            if let Err(e) = self.catch_up(&why).await {
                self.notes.push(Note::Failed {
                    what: format!("catch-up ({why}) failed, will retry: {e}"),
                });
                self.catch_up_due = Some(why);
            }
        }
        if self.reconnected && self.catch_up_due.is_none() {
            // Only after the catch-up: fills it fetched are fills, not corrections.
            self.reconnected = false;
            self.reconcile_due = Some("private stream reconnected".to_string());
        }
        if !self.unknown.is_empty() {
            self.resolve_unknown().await;
        }
        Ok(std::mem::take(&mut self.out))
    }

    async fn do_open_orders(&self) -> Result<Vec<SnapshotOrder>, BackendError> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        loop {
            let req = Request::get(
                "/v5/order/realtime",
                &[
                    ("category", "linear"),
                    ("settleCoin", &self.settle_coin),
                    ("limit", "50"),
                    ("cursor", &cursor),
                ],
            );
            let body = self.get(&req).await?;
            let page = parse_orders(&body).map_err(|e| self.parse_error(req.path, e))?;
            out.extend(page.items.iter().map(|o| {
                let mut snapshot = o.to_snapshot(&self.ns);
                snapshot.client_order_id = self.ours(snapshot.client_order_id);
                snapshot
            }));
            match page.next_cursor {
                Some(next) if next != cursor => cursor = next,
                _ => return Ok(out),
            }
        }
    }

    async fn do_positions(&self) -> Result<Vec<SnapshotPosition>, BackendError> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        loop {
            let req = Request::get(
                "/v5/position/list",
                &[
                    ("category", "linear"),
                    ("settleCoin", &self.settle_coin),
                    ("limit", "200"),
                    ("cursor", &cursor),
                ],
            );
            let body = self.get(&req).await?;
            let page = parse_positions(&body).map_err(|e| self.parse_error(req.path, e))?;
            out.extend(
                page.items
                    .iter()
                    .filter(|p| !p.qty.is_zero())
                    .map(|p| p.to_snapshot(&self.ns)),
            );
            match page.next_cursor {
                Some(next) if next != cursor => cursor = next,
                _ => return Ok(out),
            }
        }
    }

    /// Every coin of the Unified account, as the `wallet` topic reports them (wallet
    /// balance, not equity), so a session whose stream kept up finds no difference.
    async fn do_balances(&self) -> Result<Vec<SnapshotBalance>, BackendError> {
        let req = Request::get("/v5/account/wallet-balance", &[("accountType", "UNIFIED")]);
        let body = self.get(&req).await?;
        let page = parse_wallets(&body).map_err(|e| self.parse_error(req.path, e))?;
        Ok(page.items.iter().flat_map(|w| w.to_snapshot()).collect())
    }

    async fn do_equity(&self) -> Result<Decimal, BackendError> {
        let req = Request::get(
            "/v5/account/wallet-balance",
            &[("accountType", "UNIFIED"), ("coin", &self.settle_coin)],
        );
        let body = self.get(&req).await?;
        let page = parse_wallets(&body).map_err(|e| self.parse_error(req.path, e))?;
        let wallet = page.items.first().ok_or_else(|| {
            BackendError::retryable(&self.ns.venue, "wallet-balance: no UNIFIED wallet")
        })?;
        // The settle coin's equity (unrealized PnL included) is in the quote currency;
        // the account total is in USD and is the fallback.
        let coin = wallet
            .coins
            .iter()
            .find(|c| c.asset.as_str() == self.settle_coin);
        Ok(coin.map(|c| c.equity).unwrap_or(wallet.total_equity))
    }
}

impl ExecutionBackend for BybitBackend {
    fn submit(
        &mut self,
        _now: Timestamp,
        request: OrderRequest,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        self.do_submit(request)
    }

    fn cancel(
        &mut self,
        _now: Timestamp,
        id: &ClientOrderId,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        let id = id.clone();
        async move {
            self.do_request(
                &id,
                |symbol| cancel_order(symbol, &id),
                Payload::OrderCancelRejected,
            )
            .await
        }
    }

    fn amend(
        &mut self,
        _now: Timestamp,
        id: &ClientOrderId,
        qty: Option<Decimal>,
        px: Option<Decimal>,
        trigger_px: Option<Decimal>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        let id = id.clone();
        async move {
            self.do_request(
                &id,
                |symbol| amend_order(symbol, &id, qty, px, trigger_px),
                Payload::OrderAmendRejected,
            )
            .await
        }
    }

    fn open_orders(&self) -> impl Future<Output = Result<Vec<SnapshotOrder>, BackendError>> + Send {
        self.do_open_orders()
    }

    fn positions(
        &self,
    ) -> impl Future<Output = Result<Vec<SnapshotPosition>, BackendError>> + Send {
        self.do_positions()
    }

    fn balances(&self) -> impl Future<Output = Result<Vec<SnapshotBalance>, BackendError>> + Send {
        self.do_balances()
    }

    fn equity(&self) -> impl Future<Output = Result<Decimal, BackendError>> + Send {
        self.do_equity()
    }

    fn reports(&mut self) -> impl Future<Output = Result<Vec<Event>, BackendError>> + Send {
        self.do_reports()
    }

    fn catch_up(&mut self, why: &str) -> impl Future<Output = Result<(), BackendError>> + Send {
        let why = why.to_string();
        async move {
            self.drain_inbox();
            BybitBackend::catch_up(self, &why)
                .await
                .map_err(|e| backend_error(&self.ns, &e))
        }
    }
}

/// The venue matches on its own: market events change nothing here.
impl MarketDriven for BybitBackend {
    fn on_market(&mut self, _event: &Event) {}
}
