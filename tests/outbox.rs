//! The outbox (issue 10): outside a backtest, an order's `order_submitted` is durably
//! committed before the backend sends it, so a crash after the send can never lose the
//! order or send it twice. A probe backend looks at the ledger through a fresh read
//! transaction (which sees only committed data) at each send.

use std::sync::{Arc, Mutex};

use ledger::backend::{BackendError, ExecutionBackend, OrderRequest, SimConfig, SimExchange};
use ledger::engine::{Engine, EngineOptions, MarketDriven, MergedSource, SourceSpec};
use ledger::event::{
    ClientOrderId, Decimal, Event, Mode, Payload, PositionKey, SnapshotOrder, SnapshotPosition,
    Timestamp,
};
use ledger::executor::{Executor, parse_rules};
use ledger::log::{Ledger, Writer, WriterOptions};
use ledger::strategy::{Play, PlayStrategy};

use crate::support::{Fixture, root};

/// The simulated exchange, plus a check at every send: is the order's
/// `order_submitted` already committed?
struct Probe {
    inner: SimExchange,
    ledger: Ledger,
    /// Per send: the client id and whether it was committed then.
    seen: Arc<Mutex<Vec<(ClientOrderId, bool)>>>,
}

impl Probe {
    fn committed(&self, id: &ClientOrderId) -> bool {
        let reader = self.ledger.reader().expect("a read transaction");
        let head = reader.head().expect("head").seq;
        let mut found = false;
        reader
            .for_each_event(head.saturating_sub(64).max(1), head, |envelope| {
                if let Payload::OrderSubmitted(s) = &envelope.event.payload {
                    found |= &s.client_order_id == id;
                }
                Ok(std::ops::ControlFlow::Continue(()))
            })
            .expect("read the committed tail");
        found
    }
}

impl MarketDriven for Probe {
    fn on_market(&mut self, event: &Event) {
        self.inner.on_market(event);
    }
}

impl ExecutionBackend for Probe {
    async fn submit(&mut self, now: Timestamp, request: OrderRequest) -> Result<(), BackendError> {
        let id = request.order.client_order_id.clone();
        let committed = self.committed(&id);
        self.seen.lock().unwrap().push((id, committed));
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

    async fn reports(&mut self) -> Result<Vec<Event>, BackendError> {
        self.inner.reports().await
    }
}

/// Run the bundled play over the bundled bars in `mode`; what the probe saw.
fn sends(mode: Mode) -> Vec<(ClientOrderId, bool)> {
    let f = Fixture::empty();
    let key = PositionKey::new("bybit", "linear", "BTCUSDT");
    let rules_text = std::fs::read_to_string(root().join("replay/venues/bybit.yaml")).unwrap();
    let rules = parse_rules(&rules_text, "bybit.yaml").unwrap();
    let play_path = root().join("replay/strategies/ema_trend.yaml");
    let play = Play::parse(
        &std::fs::read_to_string(&play_path).unwrap(),
        "ema_trend.yaml",
    )
    .unwrap();
    let timeframe = play.timeframe;
    let ledger = Ledger::open_for_session(&f.db).unwrap();
    let mut writer = Writer::new(&ledger, WriterOptions::default()).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let probe = Probe {
        inner: SimExchange::new(SimConfig {
            exec_id_prefix: "sim-1-".into(),
            ..SimConfig::default()
        }),
        ledger: ledger.clone(),
        seen: seen.clone(),
    };
    let options = EngineOptions {
        mode,
        config_hash: "test".into(),
        params: Vec::new(),
        initial_equity: Decimal::from_int(10_000),
        timeframe,
    };
    let mut engine = Engine::new(
        &mut writer,
        PlayStrategy::new(play).unwrap(),
        Executor::new(vec![rules]),
        probe,
        options,
    );
    let sources = [SourceSpec::Candles {
        key,
        path: root().join("replay/btcusdt-1m.csv"),
    }];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        for event in MergedSource::open(&sources).unwrap() {
            engine.on_market(event.unwrap()).await.unwrap();
        }
    });
    engine.finish("end of data").unwrap();
    // The engine (and its probe) is gone: this is the only handle left.
    Arc::try_unwrap(seen).unwrap().into_inner().unwrap()
}

#[test]
fn outside_a_backtest_every_order_is_durable_before_it_is_sent() {
    let paper = sends(Mode::Paper);
    assert!(paper.len() > 100, "the play trades: {} sends", paper.len());
    let late: Vec<&ClientOrderId> = paper.iter().filter(|(_, c)| !c).map(|(id, _)| id).collect();
    assert!(late.is_empty(), "sent before their commit: {late:?}");
    // A backtest batches its commits: the probe can tell the difference.
    let backtest = sends(Mode::Backtest);
    assert_eq!(backtest.len(), paper.len(), "the same decisions either way");
    assert!(
        backtest.iter().any(|(_, c)| !c),
        "a backtest commits in batches"
    );
}
