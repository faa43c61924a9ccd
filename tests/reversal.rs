//! Issue 9, items 16 and 19 through `ledger run`: a play reverses a position on one bar
//! (an exit, then the entry, two fills at the same price), and `--close-at-end` leaves
//! every position flat at the last bar's close.

use serde_json::Value;

use crate::support::{Fixture, root};

/// 2026-01-01T00:00:00Z in seconds.
const START: i64 = 1_767_225_600;

/// Closes of five 1m bars (open = high = low = close): short on bar 0 (close 10), the
/// reversal on bar 2 (13 > 12), then long to the end (last close 12).
const CLOSES: [i64; 5] = [10, 11, 13, 14, 12];

const PLAY: &str = r#"id: flip
instruments: [bybit:linear:BTCUSDT]
timeframe: 1m
cases:
  - when: ["position == 0", "close < 11"]
    then: { action: entry, side: sell, size: { qty: "1" }, reason: down }
  - when: ["position < 0", "close > 12"]
    then: { action: entry, side: buy, size: { qty: "2" }, reason: up }
"#;

fn csv() -> String {
    let mut text = String::from("time,open,high,low,close,volume\n");
    for (i, c) in CLOSES.iter().enumerate() {
        text.push_str(&format!("{},{c},{c},{c},{c},100\n", START + 60 * i as i64));
    }
    text
}

/// Runs the play over the bars with `extra` options; the run's summary and every
/// exported event.
fn run(extra: &[&str]) -> (Value, Vec<Value>) {
    let f = Fixture::empty();
    let data = f.write("bars.csv", &csv());
    let strategy = f.write("play.yaml", PLAY);
    let rules = root().join("replay/venues/bybit.yaml");
    let mut args = vec![
        "--json",
        "run",
        "--strategy",
        strategy.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let summary: Value = serde_json::from_str(&f.run(&args).ok()).unwrap();
    let replay: Value = serde_json::from_str(&f.run(&["--json", "replay"]).ok()).unwrap();
    assert_eq!(replay["positions"], summary["positions"]);
    let events = f
        .run(&["export"])
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (summary, events)
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

/// (ts, side, px, qty) of every fill.
fn fills(events: &[Value]) -> Vec<(String, String, String, String)> {
    of_type(events, "fill")
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap().to_string();
            (s("ts"), s("side"), s("px"), s("qty"))
        })
        .collect()
}

fn fill(ts: &str, side: &str, px: &str, qty: &str) -> (String, String, String, String) {
    (ts.into(), side.into(), px.into(), qty.into())
}

fn position_qty(summary: &Value) -> &str {
    summary["positions"][0]["qty"].as_str().unwrap()
}

#[test]
fn a_reversal_is_an_exit_and_an_entry_on_the_same_bar_at_the_same_price() {
    let (summary, events) = run(&[]);
    // Bar 2 (00:02, closing at 00:03): the short closes and the long opens at its close.
    assert_eq!(
        fills(&events),
        [
            fill("2026-01-01T00:01:00Z", "sell", "10", "1"),
            fill("2026-01-01T00:03:00Z", "buy", "13", "1"),
            fill("2026-01-01T00:03:00Z", "buy", "13", "2"),
        ]
    );
    let intents = of_type(&events, "intent");
    let got: Vec<(&str, &str, &str)> = intents
        .iter()
        .map(|i| {
            (
                i["action"].as_str().unwrap(),
                i["side"].as_str().unwrap(),
                i["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("entry", "sell", "down"),
            ("exit", "buy", "reversal: up"),
            ("entry", "buy", "up"),
        ]
    );
    // The exit is reduce-only and takes the whole short; the entry opens the long.
    let orders = of_type(&events, "order_submitted");
    assert_eq!(orders[1]["reduce_only"], true);
    assert_eq!(orders[2]["reduce_only"], false);
    assert_eq!(summary["skips"], serde_json::json!({}));
    assert_eq!(position_qty(&summary), "2");
    assert_eq!(summary["positions"][0]["life"], 2);
    // Deterministic: the same inputs give the same events (the session's parameters
    // name the temporary files, so they differ from run to run here).
    let (_, again) = run(&[]);
    let trading = |events: &[Value]| -> Vec<Value> {
        events
            .iter()
            .filter(|e| e["type"] != "session_started")
            .cloned()
            .collect()
    };
    assert_eq!(trading(&again), trading(&events));
}

#[test]
fn a_reversal_under_next_open_fills_both_orders_at_the_next_open() {
    // The exit has not filled when the entry is planned: the entry is still planned
    // against the flat position the exit leaves, not refused as a position conflict.
    let (summary, events) = run(&["--fill-at", "next-open"]);
    assert_eq!(
        fills(&events),
        [
            fill("2026-01-01T00:02:00Z", "sell", "11", "1"),
            fill("2026-01-01T00:04:00Z", "buy", "14", "1"),
            fill("2026-01-01T00:04:00Z", "buy", "14", "2"),
        ]
    );
    assert_eq!(summary["skips"], serde_json::json!({}));
    assert_eq!(position_qty(&summary), "2");
}

#[test]
fn close_at_end_leaves_every_position_flat_at_the_last_close() {
    let (summary, events) = run(&["--close-at-end"]);
    assert_eq!(position_qty(&summary), "0");
    let all = fills(&events);
    assert_eq!(all.len(), 4);
    assert_eq!(all[3], fill("2026-01-01T00:05:00Z", "sell", "12", "2"));
    let last_intent = *of_type(&events, "intent").last().unwrap();
    assert_eq!(last_intent["reason"], "close at end");
    assert_eq!(last_intent["action"], "exit");
    // Recorded before the session stops, and named in its parameters.
    let n = events.len();
    assert_eq!(events[n - 1]["type"], "session_stopped");
    assert_eq!(events[n - 2]["type"], "fill");
    let session = of_type(&events, "session_started")[0];
    let param = |s: &Value| {
        s["params"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p[0] == "close_at_end")
            .map(|p| p[1].as_str().unwrap().to_string())
    };
    assert_eq!(param(session).as_deref(), Some("true"));

    // Without the flag the long stays open, and the parameter says false.
    let (summary, events) = run(&[]);
    assert_eq!(position_qty(&summary), "2");
    assert_eq!(fills(&events).len(), 3);
    let session = of_type(&events, "session_started")[0];
    assert_eq!(param(session).as_deref(), Some("false"));
}

#[test]
fn close_at_end_needs_fills_at_the_last_close() {
    let f = Fixture::empty();
    let data = f.write("bars.csv", &csv());
    let strategy = f.write("play.yaml", PLAY);
    for extra in [["--fill-at", "next-open"], ["--latency-ms", "5"]] {
        let mut args = vec![
            "run",
            "--strategy",
            strategy.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--close-at-end",
        ];
        args.extend_from_slice(&extra);
        let err = f.run(&args).fails();
        assert!(err.contains("--close-at-end"), "{err}");
    }
}
