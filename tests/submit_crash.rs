//! A crash at each step of the submit path, then a restart (issue 10): before the
//! outbox commit, after it but before the send, after the send but before the answer,
//! and after the answer but before its report is appended. Each time the restarted
//! session (the real binary) must leave exactly one venue order per order the ledger
//! holds, no order the ledger does not know, and a ledger that agrees with the venue:
//! no drift, a later `reconcile` in sync, `verify` clean.
//!
//! The first session runs in-process with a backend (or strategy) wrapper that panics
//! at the chosen point. The panic unwinds through the engine without a commit (a
//! dropped redb write transaction is aborted), so what survives on disk is exactly
//! what a killed process leaves: the last durable commit.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger::backend::bybit::{BybitBackend, BybitConfig, Keys, RetryPolicy};
use ledger::backend::{BackendError, ExecutionBackend, OrderRequest};
use ledger::engine::{
    Engine, EngineOptions, MarketDriven, SessionBackend, SessionCounts, SessionLimits, config_hash,
    run_session,
};
use ledger::event::{
    Candle, ClientOrderId, Decimal, Event, Intent, Mode, SnapshotOrder, SnapshotPosition,
    StrategyId, Timestamp,
};
use ledger::executor::{Executor, parse_rules};
use ledger::fake::bybit::FakeBybit;
use ledger::feed::{Feed, FeedConfig};
use ledger::log::{Ledger, Writer, WriterOptions};
use ledger::strategy::{Play, PlayStrategy, PositionState, Strategy, StrategyError};
use tokio::sync::Notify;

use crate::support::{Fixture, bundled_bars, fake_bybit, root};

const KEY: &str = "crash-test-key";
const SECRET: &str = "crash-test-secret";

/// Enters long when a 2-bar EMA is above a 5-bar one, exits when it is below: an
/// order within a few bars of the start, and often after.
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

/// Where the first session dies.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Point {
    /// The intent is decided; nothing of its bar is committed yet.
    BeforeCommit,
    /// `order_submitted` is durable; nothing was sent.
    AfterCommitBeforeSend,
    /// The venue holds the order; its answer never arrived.
    AfterSendBeforeAnswer,
    /// The venue answered; its report (accept, fill) is not in the log.
    AfterAnswerBeforeReport,
}

fn d(s: &str) -> rust_decimal::Decimal {
    s.parse().unwrap()
}

async fn fake() -> FakeBybit {
    fake_bybit(KEY, SECRET, bundled_bars(2_000)).await
}

/// The strategy, dying once it has decided its first intent (before commit).
struct DyingStrategy {
    inner: PlayStrategy,
    armed: bool,
}

impl Strategy for DyingStrategy {
    fn id(&self) -> &StrategyId {
        self.inner.id()
    }

    fn on_bar(
        &mut self,
        bar: &Candle,
        position: &PositionState,
    ) -> Result<Vec<Intent>, StrategyError> {
        let intents = self.inner.on_bar(bar, position)?;
        if self.armed && !intents.is_empty() {
            panic!("injected crash: intent decided, nothing committed");
        }
        Ok(intents)
    }
}

/// The venue backend, dying at `point` of its first submit.
struct DyingBackend {
    inner: BybitBackend,
    point: Point,
}

impl MarketDriven for DyingBackend {
    fn on_market(&mut self, event: &Event) {
        self.inner.on_market(event);
    }
}

impl ExecutionBackend for DyingBackend {
    async fn submit(&mut self, now: Timestamp, request: OrderRequest) -> Result<(), BackendError> {
        match self.point {
            Point::BeforeCommit => self.inner.submit(now, request).await,
            Point::AfterCommitBeforeSend => panic!("injected crash: committed, not sent"),
            Point::AfterSendBeforeAnswer => {
                // The fake holds create answers for seconds: the request is at the
                // venue, its answer still on the way when the process dies.
                let answered = tokio::time::timeout(
                    Duration::from_millis(500),
                    self.inner.submit(now, request),
                )
                .await;
                assert!(answered.is_err(), "the answer came before the crash");
                panic!("injected crash: sent, no answer yet");
            }
            Point::AfterAnswerBeforeReport => {
                self.inner.submit(now, request).await?;
                panic!("injected crash: answered, report not appended");
            }
        }
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

impl SessionBackend for DyingBackend {
    fn reports_ready(&self) -> Option<Arc<Notify>> {
        SessionBackend::reports_ready(&self.inner)
    }

    fn take_bookkeeping(&mut self) -> (Vec<Event>, Vec<String>) {
        self.inner.take_bookkeeping()
    }

    fn housekeeping(&mut self) -> impl Future<Output = ()> + Send {
        self.inner.housekeeping()
    }
}

fn backend_config(venue: &FakeBybit) -> BybitConfig {
    let mut config = BybitConfig::new(
        venue.rest_url(),
        format!("{}/v5/private", venue.ws_url()),
        Keys::new(KEY, SECRET),
    );
    config.request_timeout = Duration::from_secs(10);
    config.retry = RetryPolicy {
        max_retries: 2,
        min_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(200),
    };
    config
}

/// The first session, in its own thread and runtime, until it dies at `point`.
/// Returns the panic's message.
fn dying_session(venue: &FakeBybit, db: &Path, play_path: &Path, point: Point) -> String {
    let config = backend_config(venue);
    let ws = format!("{}/v5/public/linear", venue.ws_url());
    let db = db.to_path_buf();
    let play_text = std::fs::read_to_string(play_path).unwrap();
    let session = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let play = Play::parse(&play_text, "flip.yaml").unwrap();
            let rules = parse_rules(
                &std::fs::read_to_string(root().join("replay/venues/bybit.yaml")).unwrap(),
                "bybit.yaml",
            )
            .unwrap();
            let ledger = Ledger::open_for_session(&db).unwrap();
            let mut writer = Writer::new(&ledger, WriterOptions::default()).unwrap();
            let params = vec![("test".to_string(), format!("{point:?}"))];
            let options = EngineOptions {
                mode: Mode::Live,
                config_hash: config_hash(&params),
                params,
                initial_equity: "10000".parse().unwrap(),
                timeframe: play.timeframe,
            };
            let timeframe = play.timeframe;
            let symbols = play
                .instruments
                .iter()
                .map(|k| k.instrument.clone())
                .collect();
            let strategy = DyingStrategy {
                inner: PlayStrategy::new(play).unwrap(),
                armed: point == Point::BeforeCommit,
            };
            let backend = DyingBackend {
                inner: BybitBackend::connect(config).await.unwrap(),
                point,
            };
            let mut engine = Engine::new(
                &mut writer,
                strategy,
                Executor::new(vec![rules]),
                backend,
                options,
            );
            let mut feed = Feed::spawn(FeedConfig {
                trades: false,
                kline: Some(timeframe),
                ..FeedConfig::new(ws, symbols)
            })
            .unwrap();
            let mut counts = SessionCounts::default();
            let _ = run_session(
                &mut engine,
                &mut feed,
                std::future::pending(),
                &SessionLimits::default(),
                &mut counts,
                &mut |_| {},
            )
            .await;
        })
    });
    let control = venue.control();
    let deadline = Instant::now() + Duration::from_secs(60);
    std::thread::sleep(Duration::from_millis(500));
    while !session.is_finished() && Instant::now() < deadline {
        assert!(
            control.step(),
            "the data ran out before {point:?} was reached"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let died = session.join().expect_err("the session was to die");
    died.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| died.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

fn ledger_cmd() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ledger"));
    cmd.env("LEDGER_BYBIT_KEY", KEY)
        .env("LEDGER_BYBIT_SECRET", SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// The restart: the real binary, a live session of `bars` bars on the same ledger.
fn restarted_session(venue: &FakeBybit, db: &Path, play: &Path, bars: u32) -> String {
    let mut child = ledger_cmd()
        .args([
            "run",
            "--mode",
            "live",
            "--confirm-live",
            "--venue",
            "bybit",
        ])
        .args([
            "--max-bars",
            &bars.to_string(),
            "--json",
            "--unknown-after",
            "2",
        ])
        .arg("--strategy")
        .arg(play)
        .arg("--ws-url")
        .arg(venue.ws_url())
        .arg("--rest-url")
        .arg(venue.rest_url())
        .arg("--db")
        .arg(db)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let control = venue.control();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        assert!(control.step(), "the data ran out during the restart");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    stderr
}

fn reconcile(venue: &FakeBybit, db: &Path) -> serde_json::Value {
    let out = ledger_cmd()
        .args(["reconcile", "--venue", "bybit", "--json"])
        .arg("--rest-url")
        .arg(venue.rest_url())
        .arg("--ws-url")
        .arg(venue.ws_url())
        .arg("--db")
        .arg(db)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap()
}

/// The ledger's events as JSON values.
fn events(f: &Fixture, db: &Path) -> Vec<serde_json::Value> {
    f.run(&["export", "--db", db.to_str().unwrap()])
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn of_type<'a>(events: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

fn crash_then_restart(point: Point) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let venue = runtime.block_on(fake());
    let f = Fixture::empty();
    let db = f.dir.path().join("live.redb");
    let play: PathBuf = f.dir.path().join("flip.yaml");
    std::fs::write(&play, PLAY).unwrap();
    if point == Point::AfterSendBeforeAnswer {
        venue.control().delay_create(Some(Duration::from_secs(3)));
    }
    let died = dying_session(&venue, &db, &play, point);
    assert!(died.starts_with("injected crash"), "{point:?}: {died}");
    venue.control().delay_create(None);

    let before = events(&f, &db);
    let submitted_before: Vec<String> = of_type(&before, "order_submitted")
        .iter()
        .map(|e| e["client_order_id"].as_str().unwrap().to_string())
        .collect();
    let at_venue_before = venue.control().all_orders();
    match point {
        Point::BeforeCommit => {
            assert!(submitted_before.is_empty(), "{submitted_before:?}");
            assert!(at_venue_before.is_empty(), "{at_venue_before:?}");
        }
        Point::AfterCommitBeforeSend => {
            assert_eq!(submitted_before.len(), 1, "{submitted_before:?}");
            assert!(at_venue_before.is_empty(), "{at_venue_before:?}");
        }
        Point::AfterSendBeforeAnswer | Point::AfterAnswerBeforeReport => {
            assert_eq!(submitted_before.len(), 1, "{submitted_before:?}");
            assert_eq!(at_venue_before.len(), 1, "{at_venue_before:?}");
        }
    }

    let stderr = restarted_session(&venue, &db, &play, 150);

    let after = events(&f, &db);
    assert!(
        of_type(&after, "drift_detected").is_empty(),
        "{point:?}: the restart found the ledger and the venue apart:\n{stderr}\n{:#?}",
        of_type(&after, "drift_detected")
    );
    // Every order the venue holds is one the ledger submitted, once.
    let link = |id: &str| ledger::venue::bybit::wire::link_id(&ClientOrderId::from(id)).to_string();
    let submitted: Vec<String> = of_type(&after, "order_submitted")
        .iter()
        .map(|e| e["client_order_id"].as_str().unwrap().to_string())
        .collect();
    let mut links: Vec<String> = submitted.iter().map(|id| link(id)).collect();
    links.sort();
    let before_len = links.len();
    links.dedup();
    assert_eq!(links.len(), before_len, "a client id submitted twice");
    let at_venue = venue.control().all_orders();
    let mut venue_links: Vec<String> = at_venue
        .iter()
        .map(|o| o["orderLinkId"].as_str().unwrap_or_default().to_string())
        .collect();
    venue_links.sort();
    for l in &venue_links {
        assert!(
            links.contains(l),
            "{point:?}: a venue order the ledger does not know: {l}"
        );
    }
    let rejected_unseen: Vec<String> = of_type(&after, "order_rejected")
        .iter()
        .filter(|e| {
            e["reason"]
                .as_str()
                .unwrap_or_default()
                .contains("not found")
        })
        .map(|e| link(e["client_order_id"].as_str().unwrap()))
        .collect();
    // Orders the venue refused at create time (a retCode) are not held there either; a
    // reduce-only refusal would be a second exit sent while the first was working.
    let refused: Vec<String> = of_type(&after, "order_rejected")
        .iter()
        .filter(|e| {
            let reason = e["reason"].as_str().unwrap_or_default();
            assert!(!reason.contains("110017"), "{point:?}: {e}\n{stderr}");
            reason.starts_with("retCode")
        })
        .map(|e| link(e["client_order_id"].as_str().unwrap()))
        .collect();
    let mut expected: Vec<String> = links
        .iter()
        .filter(|l| !rejected_unseen.contains(l) && !refused.contains(l))
        .cloned()
        .collect();
    expected.sort();
    let missing: Vec<&serde_json::Value> = after
        .iter()
        .filter(|e| {
            e["client_order_id"]
                .as_str()
                .or(e["order_id"].as_str())
                .is_some_and(|id| {
                    let l = link(id);
                    expected.contains(&l) != venue_links.contains(&l)
                })
        })
        .collect();
    assert_eq!(
        venue_links, expected,
        "{point:?}: one venue order per order the ledger sent; the events of the odd ones:\n{missing:#?}\n{stderr}"
    );
    match point {
        Point::AfterCommitBeforeSend => {
            // Never sent: asked about by its link id, not found, rejected as such.
            let ghost = link(&submitted_before[0]);
            assert!(rejected_unseen.contains(&ghost), "{point:?}\n{stderr}");
        }
        Point::AfterSendBeforeAnswer | Point::AfterAnswerBeforeReport => {
            // At the venue: the restart learned its outcome, and its fills once each.
            let id = &submitted_before[0];
            let theirs = at_venue
                .iter()
                .find(|o| o["orderLinkId"] == link(id).as_str())
                .expect("the venue holds it");
            let fills = of_type(&after, "fill");
            let ours: Vec<_> = fills
                .iter()
                .filter(|e| e["order_id"] == id.as_str())
                .collect();
            let mut exec_ids: Vec<&str> = ours
                .iter()
                .map(|e| e["exec_id"].as_str().unwrap())
                .collect();
            exec_ids.sort();
            exec_ids.dedup();
            assert_eq!(exec_ids.len(), ours.len(), "{point:?}: a fill twice");
            let filled: rust_decimal::Decimal =
                ours.iter().map(|e| d(e["qty"].as_str().unwrap())).sum();
            assert!(
                !filled.is_zero(),
                "{point:?}: the market order's fill is missing\n{stderr}"
            );
            assert_eq!(
                filled,
                d(theirs["cumExecQty"].as_str().unwrap()),
                "{point:?}: {id}\n{stderr}"
            );
        }
        Point::BeforeCommit => {}
    }
    assert!(
        submitted.len() > submitted_before.len(),
        "{point:?}: the restarted session traded on"
    );

    let check = reconcile(&venue, &db);
    assert_eq!(check["in_sync"], true, "{point:?}: {check}");
    assert_eq!(check["reports_caught_up"], 0, "{point:?}: {check}");
    f.run(&["verify", "--db", db.to_str().unwrap()]).ok();
}

#[test]
fn a_crash_before_the_outbox_commit_leaves_no_order_anywhere() {
    crash_then_restart(Point::BeforeCommit);
}

#[test]
fn a_crash_after_the_commit_before_the_send_is_settled_as_never_sent() {
    crash_then_restart(Point::AfterCommitBeforeSend);
}

#[test]
fn a_crash_after_the_send_before_the_answer_finds_the_order_by_its_link_id() {
    crash_then_restart(Point::AfterSendBeforeAnswer);
}

#[test]
fn a_crash_after_the_answer_before_its_report_catches_the_report_up_once() {
    crash_then_restart(Point::AfterAnswerBeforeReport);
}

/// Enters long with a stop far below (it never triggers) and never exits.
const PLAY_WITH_STOP: &str = r#"
id: guarded
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
      stop_loss: "slow * 0.5"
      reason: up
"#;

/// A stop is sent once its entry has filled. The venue filled the entry, the process
/// died before it heard so, so the stop was never sent, and it lived only in the
/// engine's memory. The restarted session must read it back from the plan in the log
/// and send it, sized to the fill, exactly once.
#[test]
fn a_stop_whose_entry_filled_as_the_session_died_is_sent_after_the_restart() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let venue = runtime.block_on(fake());
    let f = Fixture::empty();
    let db = f.dir.path().join("live.redb");
    let play: PathBuf = f.dir.path().join("guarded.yaml");
    std::fs::write(&play, PLAY_WITH_STOP).unwrap();
    let died = dying_session(&venue, &db, &play, Point::AfterAnswerBeforeReport);
    assert!(died.starts_with("injected crash"), "{died}");

    let before = events(&f, &db);
    let plans = of_type(&before, "plan");
    assert_eq!(plans.len(), 1, "{plans:#?}");
    let role_of = |role: &str| -> String {
        plans[0]["orders"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["role"] == role)
            .unwrap_or_else(|| panic!("no {role} in {}", plans[0]))["client_order_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (entry, stop) = (role_of("entry"), role_of("stop_loss"));
    let submitted = |events: &[serde_json::Value]| -> Vec<String> {
        of_type(events, "order_submitted")
            .iter()
            .map(|e| e["client_order_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        submitted(&before),
        std::slice::from_ref(&entry),
        "the stop waits for the fill"
    );

    let stderr = restarted_session(&venue, &db, &play, 5);

    let after = events(&f, &db);
    let sent = submitted(&after);
    assert_eq!(
        sent.iter().filter(|id| **id == stop).count(),
        1,
        "the stop, once:\n{sent:?}\n{stderr}"
    );
    let filled: rust_decimal::Decimal = of_type(&after, "fill")
        .iter()
        .filter(|e| e["order_id"] == entry.as_str())
        .map(|e| d(e["qty"].as_str().unwrap()))
        .sum();
    assert!(!filled.is_zero(), "{stderr}");
    let stop_submitted = of_type(&after, "order_submitted")
        .into_iter()
        .find(|e| e["client_order_id"] == stop.as_str())
        .unwrap();
    assert_eq!(d(stop_submitted["qty"].as_str().unwrap()), filled);
    let started = of_type(&after, "session_started");
    assert!(
        started
            .last()
            .unwrap()
            .to_string()
            .contains(&format!("{stop} after {entry}")),
        "the restart says what it took over: {}",
        started.last().unwrap()
    );
    let link = ledger::venue::bybit::wire::link_id(&ClientOrderId::from(stop.as_str())).to_string();
    let at_venue: Vec<_> = venue
        .control()
        .all_orders()
        .into_iter()
        .filter(|o| o["orderLinkId"] == link.as_str())
        .collect();
    assert_eq!(
        at_venue.len(),
        1,
        "the venue holds the stop once: {at_venue:?}"
    );
    let check = reconcile(&venue, &db);
    assert_eq!(check["in_sync"], true, "{check}");
    f.run(&["verify", "--db", db.to_str().unwrap()]).ok();
}
