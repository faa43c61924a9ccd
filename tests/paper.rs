//! Paper sessions against the loopback fake Bybit: live public data (its kline
//! stream) through the simulated exchange, and a backtest over the recorded market
//! events deciding exactly the same.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ledger::fake::bybit::{Bar, FakeBybit};

use crate::support::{Fixture, bundled_bars, fake_bybit, root};

async fn fake(bars: Vec<Bar>) -> FakeBybit {
    fake_bybit("k", "s", bars).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paper_session_and_a_backtest_of_its_log_decide_the_same() {
    let f = Fixture::empty();
    let paper = f.dir.path().join("paper.redb");
    let bt = f.dir.path().join("bt.redb");
    let venue = fake(bundled_bars(4_000)).await;
    let strategy = root().join("replay/strategies/ema_trend.yaml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args([
            "run",
            "--mode",
            "paper",
            "--venue",
            "bybit",
            "--max-bars",
            "3600",
        ])
        .arg("--ws-url")
        .arg(venue.ws_url())
        .arg("--strategy")
        .arg(&strategy)
        .arg("--db")
        .arg(&paper)
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Give the session time to subscribe, then serve bars at a steady pace; bars sent
    // before it listened are simply not in its log.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let control = venue.control();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        if !control.step() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["bars"], 3600, "{summary}");
    assert!(
        summary["intents"].as_u64().unwrap() > 0,
        "no decision to compare: {summary}"
    );
    assert!(summary["fills"].as_u64().unwrap() > 0, "{summary}");

    let stats = f
        .run(&["stats", "--db", paper.to_str().unwrap(), "--json"])
        .ok();
    assert!(stats.contains("max bars reached"), "{stats}");

    f.run(&[
        "run",
        "--strategy",
        strategy.to_str().unwrap(),
        "--from-log",
        paper.to_str().unwrap(),
        "--db",
        bt.to_str().unwrap(),
    ])
    .ok();
    let same = f.run(&[
        "diff",
        "--decisions",
        paper.to_str().unwrap(),
        bt.to_str().unwrap(),
    ]);
    assert_eq!(same.code, 0, "{}\n{}", same.stdout, same.stderr);
    assert!(
        same.stdout.contains("decisions identical"),
        "{}",
        same.stdout
    );
    // The comparison is not vacuous: the full diff sees the logs differ (session
    // settings, connections), the decision diff does not.
    let full = f.run(&["diff", paper.to_str().unwrap(), bt.to_str().unwrap()]);
    assert_eq!(full.code, 1, "{}", full.stdout);
}

/// Start `ledger run --mode paper` on `db` against `venue` with `extra` options.
fn paper_session(venue: &FakeBybit, db: &std::path::Path, extra: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(["run", "--mode", "paper", "--venue", "bybit"])
        .args(extra)
        .arg("--ws-url")
        .arg(venue.ws_url())
        .arg("--strategy")
        .arg(root().join("replay/strategies/ema_trend.yaml"))
        .arg("--db")
        .arg(db)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Step the fake every 2 ms until `child` exits, the data ends, or `until` says stop.
async fn serve_until(
    venue: &FakeBybit,
    child: &mut std::process::Child,
    mut until: impl FnMut(usize) -> bool,
) -> usize {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let control = venue.control();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut steps = 0;
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline && !until(steps) {
        if !control.step() {
            break;
        }
        steps += 1;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    steps
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loss_limit_stops_the_session_and_says_why() {
    let f = Fixture::empty();
    let db = f.dir.path().join("paper.redb");
    let venue = fake(bundled_bars(4_000)).await;
    // Any entry pays a taker fee: a loss limit of a cent is hit by the first fill.
    let mut child = paper_session(&venue, &db, &["--loss-limit", "0.01"]);
    serve_until(&venue, &mut child, |_| false).await;
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("kill switch: loss limit 0.01 reached"),
        "{stderr}"
    );
    let events = f.run(&["export", "--db", db.to_str().unwrap()]).ok();
    let stop = events
        .lines()
        .find(|l| l.contains("\"session_stopped\""))
        .expect("the session recorded its stop");
    assert!(stop.contains("loss limit 0.01 reached"), "{stop}");
    assert!(
        events.contains("\"fill\""),
        "the limit was reached by a fill"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_session_restarts_from_its_log_and_says_it_resumed() {
    let f = Fixture::empty();
    let db = f.dir.path().join("paper.redb");
    let venue = fake(bundled_bars(4_000)).await;
    let mut first = paper_session(&venue, &db, &[]);
    serve_until(&venue, &mut first, |steps| steps >= 1_500).await;
    // SIGKILL: no session_stopped, whatever was committed stays.
    first.kill().unwrap();
    first.wait().unwrap();
    let before = f
        .run(&["stats", "--db", db.to_str().unwrap(), "--json"])
        .ok();
    let before: serde_json::Value = serde_json::from_str(&before).unwrap();
    assert_eq!(before["incomplete_sessions"], 1, "{before}");

    let mut second = paper_session(&venue, &db, &["--max-bars", "100"]);
    serve_until(&venue, &mut second, |_| false).await;
    let out = second.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = f.run(&["export", "--db", db.to_str().unwrap()]).ok();
    let starts: Vec<&str> = events
        .lines()
        .filter(|l| l.contains("\"session_started\""))
        .collect();
    assert_eq!(starts.len(), 2);
    assert!(!starts[0].contains("resumed_after"));
    assert!(starts[1].contains("resumed_after"), "{}", starts[1]);
    f.run(&["verify", "--db", db.to_str().unwrap()]).ok();
}
