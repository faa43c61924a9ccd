//! Live sessions against the loopback fake Bybit: real REST and WebSocket formats,
//! signatures checked; then `ledger reconcile` repairing a change made behind the
//! ledger's back.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ledger::fake::bybit::{Account, AccountConfig, Bar, Config, FakeBybit, Instrument};
use rust_decimal::Decimal;

use crate::support::{Fixture, root};

/// A secret no output, error or database byte may ever contain.
const CANARY: &str = "canary-secret-7f3a9c1e55d0";
const KEY: &str = "live-test-key";

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn bars(n: usize) -> Vec<Bar> {
    let text = std::fs::read_to_string(root().join("replay/btcusdt-1m.csv")).unwrap();
    text.lines()
        .skip(1)
        .take(n)
        .enumerate()
        .map(|(i, line)| {
            let f: Vec<&str> = line.split(',').collect();
            Bar {
                start_ms: 1_767_225_600_000 + i as i64 * 60_000,
                len_ms: 60_000,
                open: d(f[1]),
                high: d(f[2]),
                low: d(f[3]),
                close: d(f[4]),
                volume: d(f[5]),
            }
        })
        .collect()
}

async fn fake() -> FakeBybit {
    ledger::install_crypto();
    let config = Config {
        account: Account {
            key: KEY.into(),
            secret: CANARY.into(),
        },
        instruments: vec![Instrument {
            symbol: "BTCUSDT".into(),
            tick: d("0.1"),
            lot: d("0.001"),
            min_qty: d("0.001"),
            min_notional: d("5"),
            max_leverage: d("100"),
        }],
        bars: BTreeMap::from([("BTCUSDT".to_string(), bars(4_000))]),
        account_config: AccountConfig::default(),
        pace: None,
    };
    FakeBybit::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

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

    f.run(&["verify", "--db", db.to_str().unwrap()]).ok();
    let bytes = std::fs::read(&db).unwrap();
    assert!(
        !bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()),
        "the secret reached the database"
    );
}
