//! Orders in flight (issue 10): a live venue reports a fill after the next bar may
//! already have been seen. A strategy that sees the position the log has then (not yet
//! the one its working order will leave) asks again; the engine must not send a second
//! entry (double the exposure) or a second exit (a reduce-only order the venue refuses,
//! or a flip where reduce-only is not enforced). A backend that holds every report back
//! for a few market events stands in for the slow venue.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use ledger::backend::{BackendError, ExecutionBackend, OrderRequest, SimConfig, SimExchange};
use ledger::engine::{
    Engine, EngineOptions, MarketDriven, MergedSource, SessionBackend, SessionCounts, SessionEnd,
    SessionLimits, SourceSpec, run_session,
};
use ledger::event::{
    ClientOrderId, Decimal, Event, IntentAction, Mode, Payload, PositionKey, Side, SkipReason,
    SnapshotOrder, SnapshotPosition, Timestamp,
};
use ledger::executor::{Executor, parse_rules};
use ledger::log::{Ledger, Writer, WriterOptions};
use ledger::strategy::{Play, PlayStrategy};

use crate::support::{Fixture, root};

/// Flat → long on a cross up, long → flat on a cross down, market orders: it asks on
/// every bar its condition holds, so a lagging fill makes it ask twice.
const PLAY: &str = r#"
id: flip
instruments: [bybit:linear:BTCUSDT]
timeframe: 1m
features:
  fast: { ema: 2 }
  slow: { ema: 5 }
warmup: auto
cases:
  - when: ["position == 0", "fast > slow"]
    then:
      action: entry
      side: buy
      size: { equity_fraction: "0.1" }
      order: market
      reason: up
  - when: ["position > 0", "fast < slow"]
    then:
      action: exit
      side: sell
      size: { position_fraction: "1" }
      order: market
      reason: down
"#;

/// The simulated exchange, whose reports reach the engine `lag` market events late,
/// and no sooner than `hold` after they were made.
struct Lagging {
    inner: SimExchange,
    lag: u64,
    hold: Duration,
    seen: u64,
    held: VecDeque<(u64, Instant, Event)>,
}

impl SessionBackend for Lagging {}

impl MarketDriven for Lagging {
    fn on_market(&mut self, event: &Event) {
        self.seen += 1;
        self.inner.on_market(event);
    }
}

impl ExecutionBackend for Lagging {
    async fn submit(&mut self, now: Timestamp, request: OrderRequest) -> Result<(), BackendError> {
        self.inner.submit(now, request).await
    }

    async fn cancel(&mut self, now: Timestamp, id: &ClientOrderId) -> Result<(), BackendError> {
        self.inner.cancel(now, id).await
    }

    async fn amend(
        &mut self,
        now: Timestamp,
        id: &ClientOrderId,
        qty: Option<Decimal>,
        px: Option<Decimal>,
        trigger_px: Option<Decimal>,
    ) -> Result<(), BackendError> {
        self.inner.amend(now, id, qty, px, trigger_px).await
    }

    async fn open_orders(&self) -> Result<Vec<SnapshotOrder>, BackendError> {
        self.inner.open_orders().await
    }

    async fn positions(&self) -> Result<Vec<SnapshotPosition>, BackendError> {
        self.inner.positions().await
    }

    async fn equity(&self) -> Result<Decimal, BackendError> {
        self.inner.equity().await
    }

    /// What a REST catch-up does: everything the venue made is told now.
    async fn catch_up(&mut self, _why: &str) -> Result<(), BackendError> {
        for report in self.inner.reports().await? {
            self.held.push_back((0, Instant::now(), report));
        }
        for (due, at, _) in &mut self.held {
            *due = 0;
            *at = Instant::now();
        }
        Ok(())
    }

    async fn reports(&mut self) -> Result<Vec<Event>, BackendError> {
        let due = self.seen + self.lag;
        let at = Instant::now() + self.hold;
        for report in self.inner.reports().await? {
            self.held.push_back((due, at, report));
        }
        let mut out = Vec::new();
        let now = Instant::now();
        while self
            .held
            .front()
            .is_some_and(|(due, at, _)| *due <= self.seen && *at <= now)
        {
            if let Some((_, _, report)) = self.held.pop_front() {
                out.push(report);
            }
        }
        Ok(out)
    }
}

/// The flip play on the simulated exchange behind `Lagging`, appending to `writer`.
fn flip_engine(writer: &mut Writer, lag: u64, hold: Duration) -> Engine<'_, PlayStrategy, Lagging> {
    let rules_text = std::fs::read_to_string(root().join("replay/venues/bybit.yaml")).unwrap();
    let rules = parse_rules(&rules_text, "bybit.yaml").unwrap();
    let play = Play::parse(PLAY, "flip.yaml").unwrap();
    let timeframe = play.timeframe;
    let backend = Lagging {
        inner: SimExchange::new(SimConfig {
            exec_id_prefix: "sim-1-".into(),
            ..SimConfig::default()
        }),
        lag,
        hold,
        seen: 0,
        held: VecDeque::new(),
    };
    let options = EngineOptions {
        mode: Mode::Paper,
        config_hash: "test".into(),
        params: Vec::new(),
        initial_equity: Decimal::from_int(10_000),
        timeframe,
    };
    Engine::new(
        writer,
        PlayStrategy::new(play).unwrap(),
        Executor::new(vec![rules]),
        backend,
        options,
    )
}

/// Every event of `ledger`, in seq order.
fn logged(ledger: &Ledger) -> Vec<Event> {
    let reader = ledger.reader().unwrap();
    let head = reader.head().unwrap().seq;
    let mut events = Vec::new();
    reader
        .for_each_event(1, head, |envelope| {
            events.push(envelope.event.clone());
            Ok(std::ops::ControlFlow::Continue(()))
        })
        .unwrap();
    events
}

/// Run the flip play over the bundled bars with reports `lag` events late; the log.
fn session(lag: u64) -> Vec<Event> {
    run(lag, Duration::ZERO, false)
}

/// The flip play over the bundled bars, reports held back `lag` events and `hold`;
/// through a session's loop (the bars as a feed) when `as_session`.
fn run(lag: u64, hold: Duration, as_session: bool) -> Vec<Event> {
    let f = Fixture::empty();
    let key = PositionKey::new("bybit", "linear", "BTCUSDT");
    let ledger = Ledger::open_for_session(&f.db).unwrap();
    let mut writer = Writer::new(&ledger, WriterOptions::default()).unwrap();
    let mut engine = flip_engine(&mut writer, lag, hold);
    let sources = [SourceSpec::Candles {
        key,
        path: root().join("replay/btcusdt-1m.csv"),
    }];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let events = MergedSource::open(&sources).unwrap().map(Result::unwrap);
        if !as_session {
            for event in events {
                engine.on_market(event).await.unwrap();
            }
            return;
        }
        let events: Vec<Event> = events.collect();
        let (tx, mut feed) = tokio::sync::mpsc::channel(events.len());
        for event in events {
            tx.try_send(event).unwrap();
        }
        drop(tx);
        let end = run_session(
            &mut engine,
            &mut feed,
            std::future::pending(),
            &SessionLimits::default(),
            &mut SessionCounts::default(),
            &mut |_| {},
        )
        .await
        .unwrap();
        assert_eq!(end, SessionEnd::FeedEnded);
        assert!(engine.in_flight().is_empty(), "{:?}", engine.in_flight());
    });
    engine.finish("end of data").unwrap();
    logged(&ledger)
}

/// Per order sent: what its intent did, in log order.
fn actions(events: &[Event]) -> BTreeMap<ClientOrderId, IntentAction> {
    let mut by_intent = BTreeMap::new();
    let mut out = BTreeMap::new();
    for e in events {
        match &e.payload {
            Payload::Intent(i) => {
                by_intent.insert(i.intent_id.clone(), i.action);
            }
            Payload::Plan(p) => {
                for o in &p.orders {
                    out.insert(o.client_order_id.clone(), by_intent[&p.intent_id]);
                }
            }
            _ => {}
        }
    }
    out
}

#[test]
fn a_fill_reported_late_never_doubles_an_entry_or_an_exit() {
    let events = session(3);
    let actions = actions(&events);
    let entries = actions
        .values()
        .filter(|a| **a == IntentAction::Entry)
        .count();
    assert!(entries > 10, "the play trades: {entries} entries");
    let mut position = Decimal::ZERO;
    let mut entry_qty = BTreeMap::new();
    let mut working_entries = 0usize;
    let mut working_exits = 0usize;
    let mut ended = std::collections::BTreeSet::new();
    let mut sizes = BTreeMap::new();
    let mut filled = BTreeMap::new();
    let mut end = |id: &ClientOrderId, working_entries: &mut usize, working_exits: &mut usize| {
        if ended.insert(id.clone()) {
            match actions[id] {
                IntentAction::Entry => *working_entries -= 1,
                _ => *working_exits -= 1,
            }
        }
    };
    for e in &events {
        match &e.payload {
            Payload::OrderSubmitted(s) => {
                sizes.insert(s.client_order_id.clone(), s.qty);
                match actions[&s.client_order_id] {
                    IntentAction::Entry => {
                        working_entries += 1;
                        entry_qty.insert(s.client_order_id.clone(), s.qty);
                    }
                    _ => working_exits += 1,
                }
                assert!(
                    working_entries <= 1 && working_exits <= 1,
                    "order {}: two entries or two exits working at once",
                    s.client_order_id
                );
            }
            Payload::Fill(fill) => {
                position = match fill.side {
                    Side::Buy => position.checked_add(fill.qty).unwrap(),
                    Side::Sell => position.checked_sub(fill.qty).unwrap(),
                };
                assert!(
                    !position.is_negative(),
                    "an exit sold more than was held: {position} after {}",
                    fill.exec_id
                );
                let largest = entry_qty.values().max().copied().unwrap_or_default();
                assert!(
                    position <= largest,
                    "more than one entry's worth held: {position} > {largest}"
                );
                let Some(order) = &fill.order_id else {
                    continue;
                };
                let id = ClientOrderId::from(std::borrow::Borrow::<str>::borrow(order));
                let done = filled.entry(id.clone()).or_insert(Decimal::ZERO);
                *done = done.checked_add(fill.qty).unwrap();
                if Some(&*done) >= sizes.get(&id) {
                    end(&id, &mut working_entries, &mut working_exits);
                }
            }
            Payload::OrderRejected(r) => {
                end(&r.client_order_id, &mut working_entries, &mut working_exits)
            }
            Payload::OrderCancelled(c) => {
                end(&c.client_order_id, &mut working_entries, &mut working_exits)
            }
            _ => {}
        }
    }
    // The lag made the play ask again while its order was working: skipped, with why.
    let conflicts: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::Skip(s) if s.reason == SkipReason::PositionConflict => Some(s.detail.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        conflicts.iter().any(|d| d.contains("still working")),
        "{conflicts:?}"
    );
}

#[test]
fn without_a_lag_the_session_is_unchanged() {
    // Reports in time: nothing is ever working at the next bar, so nothing is skipped
    // for it, and the trades are those of a lag of zero.
    let events = session(0);
    assert!(!events.iter().any(|e| matches!(
        &e.payload,
        Payload::Skip(s) if s.detail.contains("still working")
    )));
}

#[test]
fn a_stopping_session_waits_for_its_last_market_order_to_be_answered() {
    // Every report arrives 300 ms late, while the feed's last bars come in far less:
    // the feed ends with an order still in flight (the play's next asks are skipped as
    // conflicts). The session waits for its answer before it returns.
    let events = run(0, Duration::from_millis(300), true);
    let last_candle = events
        .iter()
        .rposition(|e| matches!(e.payload, Payload::Candle(_)))
        .unwrap();
    let fills: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e.payload, Payload::Fill(_)))
        .map(|(i, _)| i)
        .collect();
    let last_fill = fills.last().copied().unwrap_or_default();
    assert!(
        last_fill > last_candle,
        "the last fill came after the feed ended"
    );
}

#[test]
fn a_reconcile_while_a_fill_is_on_its_way_counts_it_once_not_as_drift() {
    // The venue's snapshot already holds the fill its report stream has not told yet.
    let f = Fixture::empty();
    let key = PositionKey::new("bybit", "linear", "BTCUSDT");
    let ledger = Ledger::open_for_session(&f.db).unwrap();
    let mut writer = Writer::new(&ledger, WriterOptions::default()).unwrap();
    let mut engine = flip_engine(&mut writer, 3, Duration::ZERO);
    let sources = [SourceSpec::Candles {
        key: key.clone(),
        path: root().join("replay/btcusdt-1m.csv"),
    }];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let venue = ledger::event::Venue::from("bybit");
    let reconciles = runtime.block_on(async {
        let mut reconciles = 0;
        for event in MergedSource::open(&sources).unwrap() {
            let event = event.unwrap();
            let ts = event.ts;
            engine.on_market(event).await.unwrap();
            let ours = engine
                .projection()
                .position(&key)
                .map(|p| p.qty)
                .unwrap_or_default();
            let theirs = engine
                .backend()
                .inner
                .positions()
                .await
                .unwrap()
                .first()
                .map(|p| p.qty)
                .unwrap_or_default();
            if ours != theirs {
                let differences = engine.reconcile(&venue, ts).await.unwrap();
                assert!(differences.is_empty(), "{differences:?}");
                reconciles += 1;
            }
        }
        reconciles
    });
    assert!(
        reconciles > 5,
        "the lag put the ledger behind the venue: {reconciles}"
    );
    // Nothing counted twice: the ledger holds what the venue holds.
    let theirs = runtime
        .block_on(engine.backend().inner.positions())
        .unwrap()
        .first()
        .map(|p| p.qty)
        .unwrap_or_default();
    let ours = engine
        .projection()
        .position(&key)
        .map(|p| p.qty)
        .unwrap_or_default();
    assert_eq!(ours, theirs);
    engine.finish("end of data").unwrap();
    let drift = logged(&ledger)
        .iter()
        .filter(|e| matches!(e.payload, Payload::DriftDetected(_)))
        .count();
    assert_eq!(drift, 0);
}
