//! The live Bybit backend against the loopback fake (127.0.0.1, no internet): orders
//! that rest and fill, rejects, cancel and amend, rate limits, clock skew, a create
//! answered after the client's timeout, reconnects and dropped fill frames, key files,
//! and a canary secret that must never show. Every report sequence is folded through a
//! `Projection`: what the backend says must be legal for the ledger.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ledger::backend::bybit::{BybitConfig, Keys, KeysError, Note, RetryPolicy};
use ledger::backend::{BybitBackend, ExecutionBackend, OrderRequest};
use ledger::event::{
    ClientOrderId, Decimal, Event, OrderRole, OrderType, Payload, PlannedOrder, PositionKey, Side,
    TimeInForce, Timestamp,
};
use ledger::fake::bybit::{Account, AccountConfig, Bar, Config, Control, FakeBybit, Instrument};
use ledger::reduce::{OrderState, Projection};

const KEY: &str = "k-backend";
const CANARY: &str = "CANARY-9c1d-never-print-me";

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn rd(s: &str) -> rust_decimal::Decimal {
    s.parse().unwrap()
}

/// Bars whose lows all reach 41750 (a resting buy there fills on every step).
fn bars() -> Vec<Bar> {
    bars_of(&[
        ("42000", "42050", "41950", "42010"),
        ("42010", "42100", "41700", "41800"),
        ("41800", "41900", "41700", "41850"),
        ("41850", "41900", "41700", "41800"),
        ("41800", "41900", "41700", "41800"),
    ])
}

async fn fake(max_fill_per_bar: &str) -> FakeBybit {
    fake_with(max_fill_per_bar, bars()).await
}

/// Bars from `(open, high, low, close)`, one minute apart.
fn bars_of(prices: &[(&str, &str, &str, &str)]) -> Vec<Bar> {
    prices
        .iter()
        .enumerate()
        .map(|(i, (o, h, l, c))| Bar {
            start_ms: 1_767_225_600_000 + i as i64 * 60_000,
            len_ms: 60_000,
            open: rd(o),
            high: rd(h),
            low: rd(l),
            close: rd(c),
            volume: rd("12.5"),
        })
        .collect()
}

async fn fake_with(max_fill_per_bar: &str, bars: Vec<Bar>) -> FakeBybit {
    ledger::install_crypto();
    let config = Config {
        account: Account {
            key: KEY.into(),
            secret: CANARY.into(),
        },
        instruments: vec![Instrument {
            symbol: "BTCUSDT".into(),
            tick: rd("0.1"),
            lot: rd("0.001"),
            min_qty: rd("0.001"),
            min_notional: rd("5"),
            max_leverage: rd("100"),
        }],
        bars: BTreeMap::from([("BTCUSDT".to_string(), bars)]),
        account_config: AccountConfig {
            max_fill_per_bar: rd(max_fill_per_bar),
            ..AccountConfig::default()
        },
        pace: None,
    };
    FakeBybit::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn config(fake: &FakeBybit) -> BybitConfig {
    let mut config = BybitConfig::new(
        fake.rest_url(),
        format!("{}/v5/private", fake.ws_url()),
        Keys::new(KEY, CANARY),
    );
    config.request_timeout = Duration::from_millis(800);
    config.connect_timeout = Duration::from_secs(3);
    config.retry = RetryPolicy {
        max_retries: 5,
        min_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(400),
    };
    config.reconnect = RetryPolicy {
        max_retries: 0,
        min_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(500),
    };
    config.unknown_window = Duration::from_millis(300);
    config.resolve_every = Duration::from_millis(100);
    config
}

/// Reports and the projection they build, with the `order_submitted` events the
/// engine would append first.
struct Session {
    backend: BybitBackend,
    projection: Projection,
    seq: u64,
    reports: Vec<Event>,
}

impl Session {
    async fn start(fake: &FakeBybit) -> Session {
        Session::with(config(fake)).await
    }

    async fn with(config: BybitConfig) -> Session {
        let backend = BybitBackend::connect(config).await.unwrap();
        Session {
            backend,
            projection: Projection::new(),
            seq: 0,
            reports: Vec::new(),
        }
    }

    fn apply(&mut self, event: &Event) {
        self.seq += 1;
        if let Err(e) = self.projection.apply_event(self.seq, event) {
            panic!("illegal report {event:?}: {e}");
        }
    }

    async fn submit(&mut self, order: PlannedOrder) {
        let request = OrderRequest {
            key: PositionKey {
                venue: "bybit".into(),
                book: "linear".into(),
                instrument: "BTCUSDT".into(),
            },
            order,
        };
        let submitted = Event::new(
            Timestamp::from_nanos(1),
            Payload::OrderSubmitted(request.submitted()),
        );
        self.apply(&submitted);
        self.backend
            .submit(Timestamp::from_nanos(1), request)
            .await
            .unwrap();
    }

    async fn cancel(&mut self, id: &str) {
        let id = ClientOrderId::from(id);
        let event = Event::new(
            Timestamp::from_nanos(1),
            Payload::OrderCancelRequested(ledger::event::OrderRef {
                client_order_id: id.clone(),
            }),
        );
        self.apply(&event);
        self.backend
            .cancel(Timestamp::from_nanos(1), &id)
            .await
            .unwrap();
    }

    async fn amend(&mut self, id: &str, px: &str) {
        let id = ClientOrderId::from(id);
        let event = Event::new(
            Timestamp::from_nanos(1),
            Payload::OrderAmendRequested(ledger::event::OrderAmend {
                client_order_id: id.clone(),
                qty: None,
                px: Some(d(px)),
                trigger_px: None,
            }),
        );
        self.apply(&event);
        self.backend
            .amend(Timestamp::from_nanos(1), &id, None, Some(d(px)), None)
            .await
            .unwrap();
    }

    /// Collect reports (waking on `reports_ready`) until `done` holds, or 5 s.
    async fn until(&mut self, what: &str, done: impl Fn(&Session) -> bool) {
        let ready = self.backend.reports_ready();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let batch = self.backend.reports().await.unwrap();
            for event in &batch {
                self.apply(event);
            }
            self.reports.extend(batch);
            if done(self) {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "{what}: not within 5 s; reports {:#?}\nnotes {:#?}",
                    self.kinds(),
                    self.backend.take_notes()
                );
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), ready.notified()).await;
        }
    }

    fn kinds(&self) -> Vec<String> {
        self.reports
            .iter()
            .map(|e| match &e.payload {
                Payload::OrderAccepted(p) => format!("accepted {}", p.client_order_id),
                Payload::OrderRejected(p) => {
                    format!("rejected {} {}", p.client_order_id, p.reason)
                }
                Payload::OrderCancelled(p) => format!("cancelled {}", p.client_order_id),
                Payload::OrderAmended(p) => format!("amended {}", p.client_order_id),
                Payload::OrderCancelRejected(p) => {
                    format!("cancel_rejected {} {}", p.client_order_id, p.reason)
                }
                Payload::Fill(f) => format!(
                    "fill {} {} {}",
                    f.order_id.as_ref().map(|o| o.as_str()).unwrap_or("-"),
                    f.qty,
                    f.exec_id
                ),
                Payload::Balance(_) => "balance".to_string(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    fn has(&self, prefix: &str) -> bool {
        self.kinds().iter().any(|k| k.starts_with(prefix))
    }

    fn state(&self, id: &str) -> Option<OrderState> {
        self.projection
            .order(&ClientOrderId::from(id))
            .map(|o| o.state)
    }

    fn fills(&self) -> Vec<(String, Decimal)> {
        self.reports
            .iter()
            .filter_map(|e| match &e.payload {
                Payload::Fill(f) => Some((f.exec_id.to_string(), f.qty)),
                _ => None,
            })
            .collect()
    }
}

fn limit(id: &str, side: Side, qty: &str, px: &str) -> PlannedOrder {
    PlannedOrder {
        client_order_id: id.into(),
        role: OrderRole::Entry,
        side,
        order_type: OrderType::Limit,
        qty: d(qty),
        px: Some(d(px)),
        trigger_px: None,
        tif: TimeInForce::Gtc,
        reduce_only: false,
        post_only: false,
    }
}

fn market(id: &str, side: Side, qty: &str) -> PlannedOrder {
    PlannedOrder {
        order_type: OrderType::Market,
        px: None,
        tif: TimeInForce::Ioc,
        ..limit(id, side, qty, "1")
    }
}

/// A protective stop: reduce-only, a market order once `trigger` trades.
fn stop_market(id: &str, side: Side, qty: &str, trigger: &str) -> PlannedOrder {
    PlannedOrder {
        role: OrderRole::StopLoss,
        order_type: OrderType::StopMarket,
        px: None,
        trigger_px: Some(d(trigger)),
        tif: TimeInForce::Gtc,
        reduce_only: true,
        ..limit(id, side, qty, "1")
    }
}

fn fill_px(s: &Session, id: &str) -> Vec<Decimal> {
    s.reports
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::Fill(f) if f.order_id.as_ref().is_some_and(|o| o.as_str() == id) => Some(f.px),
            _ => None,
        })
        .collect()
}

/// A stop bracket must rest while the price stays on the safe side (venues.md §B2:
/// `triggerDirection` 2 for a sell stop under a long, 1 for a buy stop above a
/// short), then trigger and fill once a bar reaches it.
async fn a_stop_rests_then_triggers(entry: Side, trigger: &str, bars: Vec<Bar>) {
    let fake = fake_with("0", bars).await;
    let control = fake.control();
    let mut s = Session::start(&fake).await;
    let exit = match entry {
        Side::Buy => Side::Sell,
        Side::Sell => Side::Buy,
    };
    s.submit(market("in-1", entry, "0.010")).await;
    s.until("entry filled", |s| {
        s.state("in-1") == Some(OrderState::Filled)
    })
    .await;
    s.submit(stop_market("sl-1", exit, "0.010", trigger)).await;
    s.until("stop accepted", |s| s.has("accepted sl-1")).await;
    for _ in 0..2 {
        assert!(control.step(), "a bar on the safe side");
        tokio::time::sleep(Duration::from_millis(150)).await;
        s.until("quiet", |_| true).await;
        assert_eq!(
            s.state("sl-1"),
            Some(OrderState::Accepted),
            "the stop rests: {:?}",
            s.kinds()
        );
    }
    assert_eq!(s.backend.open_orders().await.unwrap().len(), 1);
    assert!(control.step(), "the bar that reaches the trigger");
    s.until("stop filled", |s| {
        s.state("sl-1") == Some(OrderState::Filled)
    })
    .await;
    assert!(
        s.reports
            .iter()
            .any(|e| matches!(&e.payload, Payload::OrderTriggered(r) if r.client_order_id.as_str() == "sl-1")),
        "{:?}",
        s.kinds()
    );
    assert_eq!(fill_px(&s, "sl-1"), [d(trigger)], "filled at the trigger");
    assert!(s.backend.positions().await.unwrap().is_empty(), "flat");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_under_a_long_rests_until_the_price_falls_to_it_then_fills() {
    let bars = bars_of(&[
        ("42000", "42050", "41950", "42000"),
        ("42000", "42500", "41500", "42100"),
        ("42100", "42400", "41001", "41200"),
        ("41200", "41300", "40800", "40900"),
    ]);
    a_stop_rests_then_triggers(Side::Buy, "41000", bars).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_above_a_short_rests_until_the_price_rises_to_it_then_fills() {
    let bars = bars_of(&[
        ("42000", "42050", "41950", "42000"),
        ("42000", "42500", "41500", "41900"),
        ("41900", "42999", "41800", "42800"),
        ("42800", "43300", "42700", "43200"),
    ]);
    a_stop_rests_then_triggers(Side::Sell, "43000", bars).await;
}

fn retries(notes: &[Note]) -> Vec<&Note> {
    notes
        .iter()
        .filter(|n| matches!(n, Note::Retry { .. }))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resting_limit_is_accepted_then_filled_in_two_parts() {
    let fake = fake("0.005").await;
    let control = fake.control();
    let mut s = Session::start(&fake).await;
    s.submit(limit("rest-1", Side::Buy, "0.010", "41750")).await;
    s.until("accepted", |s| s.has("accepted rest-1")).await;
    assert_eq!(s.state("rest-1"), Some(OrderState::Accepted));
    assert!(control.step());
    s.until("first fill", |s| s.fills().len() == 1).await;
    assert_eq!(s.state("rest-1"), Some(OrderState::PartiallyFilled));
    assert!(control.step());
    s.until("second fill", |s| s.fills().len() == 2).await;
    assert_eq!(s.state("rest-1"), Some(OrderState::Filled));
    let fills = s.fills();
    assert_ne!(fills[0].0, fills[1].0, "each fill has its exec id");
    assert!(fills.iter().all(|(_, q)| *q == d("0.005")), "{fills:?}");
    assert!(s.backend.open_orders().await.unwrap().is_empty());
    let positions = s.backend.positions().await.unwrap();
    assert_eq!(positions.len(), 1);
    assert_eq!(positions[0].qty, d("0.010"));
    let equity = s.backend.equity().await.unwrap();
    assert!(equity > d("99000"), "{equity}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_carry_the_venue_code_and_are_not_retried() {
    let fake = fake("0").await;
    let mut s = Session::start(&fake).await;
    // 30 BTC at 42010 on 10x needs 126k of margin; the account has 100k.
    s.submit(market("big-1", Side::Buy, "30")).await;
    s.until("rejected", |s| s.has("rejected big-1")).await;
    assert!(s.has("rejected big-1 retCode 110007"), "{:?}", s.kinds());
    assert_eq!(s.state("big-1"), Some(OrderState::Rejected));
    // A crossing PostOnly is taken, then cancelled by the venue: a reject for the ledger.
    let mut post = limit("post-1", Side::Buy, "0.010", "42100");
    post.post_only = true;
    s.submit(post).await;
    s.until("post-only rejected", |s| s.has("rejected post-1"))
        .await;
    assert!(
        s.has("rejected post-1 EC_PostOnlyWillTakeLiquidity"),
        "{:?}",
        s.kinds()
    );
    let notes = s.backend.take_notes();
    assert!(retries(&notes).is_empty(), "{notes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amend_and_cancel_go_by_client_id() {
    let fake = fake("0").await;
    let mut s = Session::start(&fake).await;
    s.submit(limit("am-1", Side::Buy, "0.010", "41000")).await;
    s.until("accepted", |s| s.has("accepted am-1")).await;
    s.amend("am-1", "41010").await;
    s.until("amended", |s| s.has("amended am-1")).await;
    let open = s.backend.open_orders().await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].px, Some(d("41010")));
    assert_eq!(open[0].client_order_id, Some("am-1".into()));
    s.cancel("am-1").await;
    s.until("cancelled", |s| s.has("cancelled am-1")).await;
    assert_eq!(s.state("am-1"), Some(OrderState::Cancelled));
    assert!(s.backend.open_orders().await.unwrap().is_empty());
    // An id the backend never sent is an error, not a request.
    let err = s
        .backend
        .cancel(Timestamp::from_nanos(1), &"never-sent".into())
        .await
        .unwrap_err();
    assert!(!err.retryable, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_the_venue_refuses_is_a_cancel_rejected_report() {
    let fake = fake("0").await;
    let mut s = Session::start(&fake).await;
    s.submit(market("mk-1", Side::Buy, "0.010")).await;
    s.until("filled", |s| s.state("mk-1") == Some(OrderState::Filled))
        .await;
    // The engine would not ask (the order ended); the backend still answers a
    // refusal with a report, never silence.
    s.backend
        .cancel(Timestamp::from_nanos(1), &"mk-1".into())
        .await
        .unwrap();
    let batch = s.backend.reports().await.unwrap();
    let refused = batch.iter().any(|e| match &e.payload {
        Payload::OrderCancelRejected(r) => r.reason.contains("110001"),
        _ => false,
    });
    assert!(refused, "{batch:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_calls_back_off_and_succeed_with_every_retry_noted() {
    let fake = fake("0").await;
    let mut s = Session::start(&fake).await;
    fake.control().rate_limit_next(3);
    s.submit(limit("rl-1", Side::Buy, "0.010", "41000")).await;
    s.until("accepted", |s| s.has("accepted rl-1")).await;
    let notes = s.backend.take_notes();
    let retries = retries(&notes);
    assert_eq!(retries.len(), 3, "{notes:#?}");
    let pauses: Vec<Duration> = retries
        .iter()
        .filter_map(|n| match n {
            Note::Retry { after, reason, .. } => {
                assert!(reason.contains("10006"), "{reason}");
                Some(*after)
            }
            _ => None,
        })
        .collect();
    assert!(
        pauses.iter().all(|p| *p >= Duration::from_millis(50)),
        "{pauses:?}"
    );
    assert!(!s.has("rejected"), "{:?}", s.kinds());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skewed_venue_clock_is_measured_and_requests_re_signed() {
    let fake = fake("0").await;
    // Ahead by 4 s at start: measured, so requests and the WS auth expiry fit.
    fake.control().set_skew_ms(4_000);
    let s = Session::start(&fake).await;
    let offset = s.backend.clock_offset().offset_ns / 1_000_000;
    assert!((offset - 4_000).abs() < 500, "{offset}");
    // Now the venue falls 4 s behind: the first call gets 10002, the clock is
    // measured again and the call re-signed, once.
    fake.control().set_skew_ms(-4_000);
    assert!(s.backend.open_orders().await.unwrap().is_empty());
    let notes = s.backend.take_notes();
    let resynced = notes.iter().any(|n| match n {
        Note::ClockMeasured { why, .. } => why.contains("10002"),
        _ => false,
    });
    assert!(resynced, "{notes:#?}");
    assert!(retries(&notes).is_empty(), "no blind retry: {notes:#?}");
    let offset = s.backend.clock_offset().offset_ns / 1_000_000;
    assert!((offset + 4_000).abs() < 500, "{offset}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_answered_after_the_timeout_is_resolved_by_client_id_once() {
    let fake = fake("0").await;
    let mut s = Session::start(&fake).await;
    fake.control()
        .delay_create(Some(Duration::from_millis(1_500)));
    s.submit(limit("late-1", Side::Buy, "0.010", "41000")).await;
    assert_eq!(
        s.backend.unknown_orders(),
        vec![ClientOrderId::from("late-1")]
    );
    let notes = s.backend.take_notes();
    assert!(
        notes
            .iter()
            .any(|n| matches!(n, Note::OutcomeUnknown { .. })),
        "{notes:#?}"
    );
    assert!(
        retries(&notes).is_empty(),
        "a create is never re-sent: {notes:#?}"
    );
    fake.control().delay_create(None);
    s.until("accepted", |s| {
        s.has("accepted late-1") && s.backend.unknown_orders().is_empty()
    })
    .await;
    assert!(!s.has("rejected"), "{:?}", s.kinds());
    // Some time past the window: still accepted, once, and one venue order.
    tokio::time::sleep(Duration::from_millis(400)).await;
    s.until("quiet", |_| true).await;
    let accepts = s
        .kinds()
        .iter()
        .filter(|k| k.starts_with("accepted"))
        .count();
    assert_eq!(accepts, 1, "{:?}", s.kinds());
    let open = s.backend.open_orders().await.unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].client_order_id, Some("late-1".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submitted_order_the_venue_never_saw_is_rejected_after_the_window() {
    let fake = fake("0").await;
    let mut s = Session::start(&fake).await;
    // The ledger appended order_submitted, then the process died before sending.
    let ghost = OrderRequest {
        key: PositionKey {
            venue: "bybit".into(),
            book: "linear".into(),
            instrument: "BTCUSDT".into(),
        },
        order: limit("ghost-1", Side::Buy, "0.010", "41000"),
    };
    s.apply(&Event::new(
        Timestamp::from_nanos(1),
        Payload::OrderSubmitted(ghost.submitted()),
    ));
    let projection = s.projection.clone();
    s.backend.restore(&projection);
    assert_eq!(s.backend.unknown_orders().len(), 1);
    s.until("rejected", |s| s.has("rejected ghost-1")).await;
    assert!(
        s.has("rejected ghost-1 not found at venue"),
        "{:?}",
        s.kinds()
    );
    assert_eq!(s.state("ghost-1"), Some(OrderState::Rejected));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_and_dropped_fill_frames_lose_no_fill_and_repeat_none() {
    let fake = fake("0.005").await;
    let control: Control = fake.control();
    let mut s = Session::start(&fake).await;
    s.submit(limit("rc-1", Side::Buy, "0.010", "41750")).await;
    s.until("accepted", |s| s.has("accepted rc-1")).await;
    // Maintenance closes the stream (code 1000) while the order fills.
    control.disconnect_all();
    assert!(control.step());
    assert!(
        s.backend.wait_sessions(2, Duration::from_secs(5)).await,
        "reconnected and re-authenticated: {:#?}",
        s.backend.take_notes()
    );
    s.until("first fill", |s| s.fills().len() == 1).await;
    // A fill frame lost on a healthy stream is recovered from REST.
    control.drop_executions(1);
    assert!(control.step());
    s.until("second fill", |s| s.fills().len() == 2).await;
    assert_eq!(s.state("rc-1"), Some(OrderState::Filled));
    let notes = s.backend.take_notes();
    assert!(
        notes
            .iter()
            .any(|n| matches!(n, Note::CatchUp { why, executions, .. }
            if why.contains("rc-1 missing") && *executions >= 1)),
        "the lost frame's fill came from REST: {notes:#?}"
    );
    // Another round of reconnect and catch-up adds nothing.
    control.disconnect_all();
    assert!(s.backend.wait_sessions(3, Duration::from_secs(5)).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.until("quiet", |_| true).await;
    let ids: BTreeSet<String> = s.fills().into_iter().map(|(id, _)| id).collect();
    assert_eq!(s.fills().len(), 2, "{:?}", s.kinds());
    assert_eq!(ids.len(), 2);
    let notes = s.backend.take_notes();
    for want in ["reconnected", "catch-up (reconnect)"] {
        assert!(
            notes.iter().any(|n| n.to_string().contains(want)),
            "{want}: {notes:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_never_shows_in_debug_errors_notes_or_reports() {
    let fake = fake("0").await;
    let config = config(&fake);
    let mut s = Session::with(config.clone()).await;
    s.submit(market("c-1", Side::Buy, "30")).await;
    fake.control().rate_limit_next(1);
    s.submit(limit("c-2", Side::Buy, "0.010", "41000")).await;
    s.until("answers", |s| {
        s.has("rejected c-1") && s.has("accepted c-2")
    })
    .await;
    let err = s
        .backend
        .cancel(Timestamp::from_nanos(1), &"nope".into())
        .await
        .unwrap_err();
    let notes = s.backend.take_notes();
    let shown = format!(
        "{config:?} {:?} {err} {err:?} {notes:?} {} {:?}",
        s.backend,
        notes
            .iter()
            .map(Note::to_string)
            .collect::<Vec<_>>()
            .join(" "),
        s.reports
    );
    assert!(shown.contains(KEY), "the key is not secret");
    assert!(!shown.contains(CANARY), "{shown}");
    // A wrong secret: the refusal names the venue's answer, not the secret.
    let mut wrong = config;
    wrong.keys = Keys::new(KEY, "CANARY-wrong-secret");
    match BybitBackend::connect(wrong).await {
        Ok(backend) => {
            let err = backend.open_orders().await.unwrap_err();
            assert!(!format!("{err} {err:?}").contains("CANARY"), "{err}");
        }
        Err(err) => assert!(!format!("{err} {err:?}").contains("CANARY"), "{err}"),
    }
}

#[test]
fn key_files_must_be_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bybit.keys");
    std::fs::write(&path, format!("key={KEY}\nsecret={CANARY}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let keys = Keys::from_file(&path).unwrap();
    assert_eq!(keys.api_key(), KEY);
    assert!(!format!("{keys:?} {keys}").contains(CANARY));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Keys::from_file(&path).unwrap_err();
    assert!(
        matches!(err, KeysError::Permissive { mode: 0o644, .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("bybit.keys") && text.contains("0644"),
        "{text}"
    );
    assert!(!text.contains(CANARY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_signed_after_the_limiter_wait_not_before() {
    let fake = fake("0").await;
    let mut config = config(&fake);
    // One order per second per symbol and a 1 s receive window: the third order waits
    // about 2 s in the limiter, so a signature taken before the wait would be refused.
    config.limits.order_per_symbol_per_second = 1;
    config.recv_window_ms = 1_000;
    let mut s = Session::with(config).await;
    for i in 0..3 {
        s.submit(limit(&format!("q-{i}"), Side::Buy, "0.010", "41000"))
            .await;
    }
    s.until("three accepts", |s| {
        (0..3).all(|i| s.has(&format!("accepted q-{i}")))
    })
    .await;
    let notes = s.backend.take_notes();
    let waited: Duration = notes
        .iter()
        .filter_map(|n| match n {
            Note::RateLimitWait {
                class: "order",
                waited,
                ..
            } => Some(*waited),
            _ => None,
        })
        .sum();
    assert!(waited >= Duration::from_millis(1_500), "{notes:#?}");
    assert!(
        !notes
            .iter()
            .any(|n| matches!(n, Note::ClockMeasured { why, .. } if why.contains("10002"))),
        "no 10002 after a queue delay: {notes:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_never_answers_fails_the_connect_in_time() {
    let fake = fake("0").await;
    // A TCP peer that accepts and then says nothing (a blackholed path).
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let mut config = config(&fake);
    config.ws_url = format!("ws://{addr}/v5/private");
    config.connect_timeout = Duration::from_millis(500);
    let started = std::time::Instant::now();
    let err = BybitBackend::connect(config).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.retryable && err.what.contains("did not come up"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackholed_stream_is_detected_by_silence_and_reconnected() {
    let fake = fake("0").await;
    let control = fake.control();
    let mut config = config(&fake);
    config.ping_interval = Duration::from_millis(150);
    config.idle_timeout = Duration::from_millis(400);
    let mut s = Session::with(config).await;
    s.submit(limit("bh-1", Side::Buy, "0.010", "41750")).await;
    s.until("accepted", |s| s.has("accepted bh-1")).await;
    // No FIN, no close, no pong: only the silence tells.
    control.blackhole_all();
    assert!(control.step(), "fills while the path is dead");
    assert!(
        s.backend.wait_sessions(2, Duration::from_secs(5)).await,
        "{:#?}",
        s.backend.take_notes()
    );
    s.until("the fill, once", |s| s.fills().len() == 1).await;
    let notes = s.backend.take_notes();
    assert!(
        notes
            .iter()
            .any(|n| n.to_string().contains("nothing heard")),
        "{notes:#?}"
    );
    assert_eq!(s.state("bh-1"), Some(OrderState::Filled));
}
