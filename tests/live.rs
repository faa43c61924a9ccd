//! Live sessions against the loopback fake Bybit: real REST and WebSocket formats,
//! signatures checked; then `ledger reconcile` repairing a change made behind the
//! ledger's back.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ledger::backend::BybitBackend;
use ledger::backend::bybit::{BybitConfig, Keys, RetryPolicy};
use ledger::engine::{
    Engine, EngineOptions, SessionCounts, SessionEnd, SessionLimits, run_session,
};
use ledger::event::{Event, Mode, Payload};
use ledger::executor::{Executor, parse_rules};
use ledger::fake::bybit::FakeBybit;
use ledger::log::{Ledger, Writer, WriterOptions};
use ledger::strategy::{Play, PlayStrategy};
use rust_decimal::Decimal;

use crate::support::{Fixture, bundled_bars, fake_bybit, root};

/// A secret no output, error or database byte may ever contain.
const CANARY: &str = "canary-secret-7f3a9c1e55d0";
const KEY: &str = "live-test-key";

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

async fn fake() -> FakeBybit {
    fake_bybit(KEY, CANARY, bundled_bars(4_000)).await
}

/// What a test waits to see in the session's log lines.
type Condition = Box<dyn Fn(&[String]) -> bool + Send>;

fn ledger_cmd(venue: &FakeBybit) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ledger"));
    cmd.env("LEDGER_BYBIT_KEY", KEY)
        .env("LEDGER_BYBIT_SECRET", CANARY)
        .env("LEDGER_TEST_WS", venue.ws_url())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn reconcile(venue: &FakeBybit, db: &std::path::Path) -> (serde_json::Value, String) {
    let out = ledger_cmd(venue)
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
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(!stdout.contains(CANARY) && !stderr.contains(CANARY));
    (serde_json::from_str(&stdout).unwrap(), stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_session_trades_on_the_venue_and_reconcile_repairs_an_outside_change() {
    let f = Fixture::empty();
    let db = f.dir.path().join("live.redb");
    let venue = fake().await;

    // Without the explicit flag, live is refused before anything is sent.
    let refused = ledger_cmd(&venue)
        .args(["run", "--mode", "live", "--venue", "bybit", "--strategy"])
        .arg(root().join("replay/strategies/ema_trend.yaml"))
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--confirm-live"));

    let mut child = ledger_cmd(&venue)
        .args([
            "run",
            "--mode",
            "live",
            "--confirm-live",
            "--venue",
            "bybit",
        ])
        .args(["--max-bars", "3600", "--json", "--strategy"])
        .arg(root().join("replay/strategies/ema_trend.yaml"))
        .arg("--ws-url")
        .arg(venue.ws_url())
        .arg("--rest-url")
        .arg(venue.rest_url())
        .arg("--db")
        .arg(&db)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let control = venue.control();
    let deadline = Instant::now() + Duration::from_secs(150);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        if !control.step() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["bars"], 3600, "{summary}");
    assert!(summary["orders"].as_u64().unwrap() > 0, "{summary}");
    assert!(!stdout.contains(CANARY) && !stderr.contains(CANARY));

    // Every order went out through the outbox and got the venue's answer; the
    // ledger's long client ids travel as valid `orderLinkId`s and come back as ours.
    assert!(summary["fills"].as_u64().unwrap() > 0, "{summary}");
    let events = f.run(&["export", "--db", db.to_str().unwrap()]).ok();
    assert!(events.contains("\"mode\":\"live\""));
    assert!(
        events.contains("\"clock_offset\""),
        "the clock offset is recorded"
    );
    assert!(events.contains("\"connected\""), "connections are recorded");
    assert!(!events.contains("retCode 10001"), "an id the venue refused");
    // Fills name our client ids, mapped back from the link ids they travelled as.
    assert!(events.contains("\"order_id\":\"ema_trend-bybit:linear:BTCUSDT-"));
    assert!(events.contains("\"fill\""));

    // Behind the ledger's back: a trade on the account.
    control.external_trade("BTCUSDT", true, d("0.25"));
    let (first, _) = reconcile(&venue, &db);
    let repaired = first["reports_caught_up"].as_u64().unwrap() > 0 || first["in_sync"] == false;
    assert!(
        repaired,
        "the outside trade was neither caught up nor corrected: {first}"
    );
    // A second reconcile finds nothing and appends nothing.
    let head = first["head_seq"].clone();
    let (second, _) = reconcile(&venue, &db);
    assert_eq!(second["in_sync"], true, "{second}");
    assert_eq!(second["reports_caught_up"], 0, "{second}");
    assert_eq!(second["head_seq"], head, "{second}");

    // Money moved with no `wallet` push: the balance the ledger holds is drift,
    // corrected to the venue's, and a reconcile after that is in sync again.
    let before = usdt_balance(&db);
    control.credit_silently(d("250"));
    let (third, _) = reconcile(&venue, &db);
    assert_eq!(third["in_sync"], false, "{third}");
    let balance = &third["differences"][0];
    assert_eq!(balance["scope"], "balance", "{third}");
    assert_eq!(balance["subject"], "USDT", "{third}");
    let figure = |v: &serde_json::Value| d(v.as_str().unwrap());
    assert_eq!(figure(&balance["ledger"]), before, "{third}");
    assert_eq!(figure(&balance["venue"]), before + d("250"), "{third}");
    assert_eq!(usdt_balance(&db), before + d("250"));
    let (fourth, _) = reconcile(&venue, &db);
    assert_eq!(fourth["in_sync"], true, "{fourth}");
    assert_eq!(fourth["head_seq"], third["head_seq"], "{fourth}");

    f.run(&["verify", "--db", db.to_str().unwrap()]).ok();
    let bytes = std::fs::read(&db).unwrap();
    assert!(
        !bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()),
        "the secret reached the database"
    );
}

/// The USDT balance the ledger's projection holds (the session learned it, the
/// `wallet` stream kept it).
fn usdt_balance(db: &std::path::Path) -> Decimal {
    let ledger = Ledger::open_to_read(db).unwrap();
    let reader = ledger.reader().unwrap();
    let head = reader.head().unwrap().seq;
    let mut total = None;
    reader
        .for_each_event(1, head, |e| {
            match &e.event.payload {
                Payload::Balance(b) if b.asset.as_str() == "USDT" => {
                    total = Some(d(&b.total.to_string()))
                }
                Payload::CorrectionApplied(c) => {
                    if let ledger::event::Correction::SetBalance { asset, total: t } = &c.correction
                        && asset.as_str() == "USDT"
                    {
                        total = Some(d(&t.to_string()));
                    }
                }
                _ => {}
            }
            Ok(std::ops::ControlFlow::Continue(()))
        })
        .unwrap();
    total.expect("the ledger holds a USDT balance")
}

/// The drift events committed so far: (subject, venue's value).
fn drifts(ledger: &Ledger) -> Vec<(String, String)> {
    let reader = ledger.reader().unwrap();
    let head = reader.head().unwrap().seq;
    let mut out = Vec::new();
    if head == 0 {
        return out;
    }
    reader
        .for_each_event(1, head, |e| {
            if let Payload::DriftDetected(d) = &e.event.payload {
                out.push((d.subject.clone(), d.theirs.clone()));
            }
            Ok(std::ops::ControlFlow::Continue(()))
        })
        .unwrap();
    out
}

fn count_kind(ledger: &Ledger, kind: &str) -> usize {
    let reader = ledger.reader().unwrap();
    let head = reader.head().unwrap().seq;
    let mut n = 0;
    reader
        .for_each_event(1, head, |e| {
            n += usize::from(e.event.payload.kind() == kind);
            Ok(std::ops::ControlFlow::Continue(()))
        })
        .unwrap();
    n
}

/// Issue 10: "reconcile on start, after every reconnect, periodically". A trade made
/// on the account while the private stream is dead (no FIN) is repaired by the
/// reconcile that follows the reconnect; one whose fill frame is lost on a healthy
/// stream by the periodic one; each as a drift and a correction, and a reconcile in
/// sync appends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_reconciles_after_a_reconnect_and_periodically() {
    let f = Fixture::empty();
    let venue = fake().await;
    let control = venue.control();
    let mut config = BybitConfig::new(
        venue.rest_url(),
        format!("{}/v5/private", venue.ws_url()),
        Keys::new(KEY, CANARY),
    );
    config.ping_interval = Duration::from_millis(150);
    config.idle_timeout = Duration::from_millis(400);
    config.reconnect = RetryPolicy {
        max_retries: 0,
        min_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(300),
    };
    let backend = BybitBackend::connect(config).await.unwrap();
    let play_path = root().join("replay/strategies/ema_trend.yaml");
    let play = Play::parse(
        &std::fs::read_to_string(&play_path).unwrap(),
        "ema_trend.yaml",
    )
    .unwrap();
    let rules_text = std::fs::read_to_string(root().join("replay/venues/bybit.yaml")).unwrap();
    let rules = parse_rules(&rules_text, "bybit.yaml").unwrap();
    let options = EngineOptions {
        mode: Mode::Live,
        config_hash: "test".into(),
        params: Vec::new(),
        initial_equity: ledger::event::Decimal::from_int(100_000),
        timeframe: play.timeframe,
    };
    let ledger = Ledger::open_for_session(&f.db).unwrap();
    let mut writer = Writer::new(&ledger, WriterOptions::default()).unwrap();
    let mut engine = Engine::new(
        &mut writer,
        PlayStrategy::new(play).unwrap(),
        Executor::new(vec![rules]),
        backend,
        options,
    );
    let name = engine.backend().clock_offset().venue;
    let now = engine.backend().venue_now();
    assert!(engine.reconcile(&name, now).await.unwrap().is_empty());
    engine.commit().unwrap();

    // No market data: the strategy stays out, so every position is the venue's doing.
    let (_quiet, mut feed) = tokio::sync::mpsc::channel::<Event>(1);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let limits = SessionLimits {
        reconcile_every: Some(Duration::from_secs(4)),
        ..SessionLimits::default()
    };
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let mut log = move |line: String| sink.lock().unwrap().push(line);
    let mut counts = SessionCounts::default();
    let wait_for = |what: &'static str, lines: Arc<Mutex<Vec<String>>>, done: Condition| async move {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !done(&lines.lock().unwrap()) {
            assert!(
                Instant::now() < deadline,
                "{what}: not within 15 s; log {:#?}",
                lines.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let driver = {
        let lines = lines.clone();
        let ledger = ledger.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            // The path dies without a FIN; the account trades while nobody listens.
            control.blackhole_all();
            tokio::time::sleep(Duration::from_millis(100)).await;
            control.external_trade("BTCUSDT", true, d("0.25"));
            wait_for(
                "the reconcile after the reconnect",
                lines.clone(),
                Box::new(|l| {
                    l.iter()
                        .any(|l| l.starts_with("reconcile (private stream reconnected)"))
                }),
            )
            .await;
            // The trade and its fee: the position and the wallet push were both
            // lost with the path.
            let first = drifts(&ledger);
            assert_eq!(first.len(), 2, "{first:?}");
            assert!(
                first[0].0.contains("BTCUSDT") && first[0].1.contains("0.25"),
                "{first:?}"
            );
            assert_eq!(first[1].0, "USDT", "{first:?}");
            // On a healthy stream, a fill frame is lost (REST keeps it).
            control.drop_executions(1);
            control.external_trade("BTCUSDT", false, d("0.1"));
            wait_for(
                "the periodic reconcile",
                lines.clone(),
                Box::new(|l| {
                    l.iter()
                        .any(|l| l.starts_with("reconcile (periodic)") && l.contains("(corrected)"))
                }),
            )
            .await;
            let repaired = ledger.reader().unwrap().head().unwrap().seq;
            wait_for(
                "a periodic reconcile in sync",
                lines.clone(),
                Box::new(|l| {
                    l.iter()
                        .skip_while(|l| !l.contains("(corrected)"))
                        .any(|l| l.starts_with("reconcile (periodic): in sync"))
                }),
            )
            .await;
            let _ = stop_tx.send(());
            repaired
        }
    };
    let stop = async {
        let _ = stop_rx.await;
    };
    let (end, repaired) = tokio::join!(
        run_session(&mut engine, &mut feed, stop, &limits, &mut counts, &mut log),
        driver
    );
    assert!(matches!(end.unwrap(), SessionEnd::Signal { .. }));
    engine.finish("test over").unwrap();
    drop(writer);
    let all = drifts(&ledger);
    // One position drift per outside trade; the second one's wallet push came.
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(
        all[2].0.contains("BTCUSDT") && all[2].1.contains("0.15"),
        "{all:?}"
    );
    assert_eq!(count_kind(&ledger, "correction_applied"), 3);
    assert_eq!(count_kind(&ledger, "drift_detected"), 3);
    let after: Vec<String> = {
        let reader = ledger.reader().unwrap();
        let mut kinds = Vec::new();
        reader
            .for_each_event(repaired + 1, reader.head().unwrap().seq, |e| {
                kinds.push(e.event.payload.kind().to_string());
                Ok(std::ops::ControlFlow::Continue(()))
            })
            .unwrap();
        kinds
    };
    assert!(
        after.iter().all(|k| !matches!(
            k.as_str(),
            "exchange_snapshot" | "drift_detected" | "correction_applied"
        )),
        "a reconcile in sync appends nothing: {after:?}"
    );
    assert!(counts.reconciles >= 3, "{counts:?}");
    let log = lines.lock().unwrap().join("\n");
    assert!(!log.contains(CANARY));
}
