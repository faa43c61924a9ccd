//! `ledger run --mode backtest`: determinism, no lookahead, replay parity, re-runs over
//! another ledger's market events, and strategy-file errors.

use std::path::PathBuf;

use crate::support::{Fixture, Run, ledger, root};

fn path(rel: &str) -> String {
    root().join(rel).to_str().expect("utf-8 path").to_string()
}

fn rules() -> Vec<String> {
    ["replay/venues/bybit.yaml", "replay/venues/sample.yaml"]
        .iter()
        .flat_map(|r| ["--rules".to_string(), path(r)])
        .collect()
}

/// Run the binary on the ledger `db` in the fixture's dir.
fn on(f: &Fixture, db: &str, args: &[&str]) -> Run {
    ledger(f.dir.path(), &f.dir.path().join(db), args)
}

/// Run the EMA trend play over `data` into `db` (in the fixture's dir); returns stdout.
fn backtest(f: &Fixture, db: &str, data_args: &[String], json: bool) -> String {
    let mut args: Vec<String> = Vec::new();
    if json {
        args.push("--json".into());
    }
    args.extend(["run".into(), "--mode".into(), "backtest".into()]);
    args.extend([
        "--strategy".into(),
        path("replay/strategies/ema_trend.yaml"),
    ]);
    args.extend(data_args.iter().cloned());
    args.extend(rules());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    on(f, db, &refs).ok()
}

fn data(file: &str) -> Vec<String> {
    vec!["--data".into(), file.into()]
}

fn export(f: &Fixture, db: &str) -> Vec<String> {
    on(f, db, &["export"])
        .ok()
        .lines()
        .map(String::from)
        .collect()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("JSON output")
}

/// The bundled sample, cut to its first `rows` bars (plus header).
fn sample_rows(rows: usize) -> String {
    let text = std::fs::read_to_string(root().join("replay/btcusdt-1m.csv")).unwrap();
    text.lines()
        .take(rows + 1)
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn the_same_backtest_twice_is_byte_identical() {
    let f = Fixture::empty();
    let a = json(&backtest(
        &f,
        "a.redb",
        &data(&path("replay/btcusdt-1m.csv")),
        true,
    ));
    let b = json(&backtest(
        &f,
        "b.redb",
        &data(&path("replay/btcusdt-1m.csv")),
        true,
    ));
    assert_eq!(a["head_hash"], b["head_hash"]);
    assert!(
        a["fills"].as_u64().unwrap() > 100,
        "the strategy trades: {a}"
    );
    assert_eq!(export(&f, "a.redb"), export(&f, "b.redb"));
}

#[test]
fn changing_bars_after_t_leaves_every_event_up_to_t_identical() {
    let f = Fixture::empty();
    let original = sample_rows(10_000);
    let cut = 6_000; // bars before this row are untouched
    let t = original
        .lines()
        .nth(cut)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let changed: String = original
        .lines()
        .enumerate()
        .map(|(i, line)| {
            if i <= cut {
                return format!("{line}\n");
            }
            // Shift every later bar down 3%: a different future.
            let mut cols: Vec<String> = line.split(',').map(String::from).collect();
            for col in cols.iter_mut().take(5).skip(1) {
                let v: f64 = col.parse().unwrap();
                *col = format!("{:.1}", v * 0.97);
            }
            format!("{}\n", cols.join(","))
        })
        .collect();
    let a = f.write("a.csv", &original);
    let b = f.write("b.csv", &changed);
    backtest(&f, "a.redb", &data(a.to_str().unwrap()), false);
    backtest(&f, "b.redb", &data(b.to_str().unwrap()), false);
    let (ea, eb) = (export(&f, "a.redb"), export(&f, "b.redb"));
    let t_ns = ledger::event::Timestamp::parse_rfc3339(&t).unwrap();
    let up_to_t = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .skip(1) // session_started names the data file's hash, which differs
            .take_while(|l| ledger::event::json::parse_event(l).unwrap().ts <= t_ns)
            .cloned()
            .collect()
    };
    let (pa, pb) = (up_to_t(&ea), up_to_t(&eb));
    assert!(pa.len() > 5_000, "a real prefix ({} events)", pa.len());
    assert!(
        pa.iter().any(|l| l.contains("\"type\":\"fill\"")),
        "with trading in it"
    );
    assert_eq!(pa, pb, "events up to {t} must not depend on later bars");
    assert_ne!(
        ea[pa.len() + 1..],
        eb[pb.len() + 1..],
        "the later bars did change the run"
    );
}

#[test]
fn replay_of_a_backtest_reproduces_its_positions() {
    let f = Fixture::empty();
    let run = json(&backtest(
        &f,
        "bt.redb",
        &data(&path("replay/btcusdt-1m.csv")),
        true,
    ));
    let replay = json(&on(&f, "bt.redb", &["--json", "replay"]).ok());
    assert_eq!(run["positions"], replay["positions"]);
    assert_eq!(run["head_hash"], replay["head_hash"]);
    on(&f, "bt.redb", &["verify"]).ok();
    let audit = json(&on(&f, "bt.redb", &["--json", "audit", "bybit:linear:BTCUSDT"]).ok());
    assert_eq!(audit["matches_replay"], true);
}

#[test]
fn a_rerun_over_another_ledgers_market_events_sees_exactly_its_ticks() {
    let f = Fixture::empty();
    let csv = f.write("month.csv", &sample_rows(8_000));
    backtest(&f, "live.redb", &data(csv.to_str().unwrap()), false);
    let source = f.dir.path().join("live.redb");
    let from_log = vec![
        "--from-log".to_string(),
        source.to_str().unwrap().to_string(),
    ];
    backtest(&f, "rerun.redb", &from_log, false);
    let (a, b) = (export(&f, "live.redb"), export(&f, "rerun.redb"));
    // The same strategy on the same ticks decides the same: only the session's
    // config (its data source) differs.
    assert_eq!(a.len(), b.len());
    assert_eq!(a[1..], b[1..]);
    assert!(a[0].contains("candles bybit:linear:BTCUSDT") && b[0].contains("from_log"));
}

#[test]
fn a_finer_timeframe_is_aggregated_for_the_play() {
    // The mean-reversion play trades 5m bars; the data is 1m.
    let f = Fixture::empty();
    let csv = f.write("month.csv", &sample_rows(6_000));
    let mut args = vec!["--json".to_string(), "run".into()];
    args.extend([
        "--strategy".into(),
        path("replay/strategies/mean_reversion.yaml"),
    ]);
    args.extend([
        "--data".into(),
        format!("bybit:linear:ETHUSDT={}", csv.display()),
    ]);
    args.extend(rules());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = json(&on(&f, "mr.redb", &refs).ok());
    assert_eq!(out["bars"], 1_200, "6,000 1m bars make 1,200 5m bars");
    assert_eq!(out["market_events"], 6_000);
    assert!(out["intents"].as_u64().unwrap() > 0, "{out}");
}

#[test]
fn a_bad_strategy_file_points_at_line_and_field() {
    let f = Fixture::empty();
    let text = std::fs::read_to_string(root().join("replay/strategies/ema_trend.yaml")).unwrap();
    let bad = f.write(
        "bad.yaml",
        &text.replace("\"fast > slow\"", "\"fsat > slow\""),
    );
    let err = on(
        &f,
        "x.redb",
        &[
            "run",
            "--strategy",
            bad.to_str().unwrap(),
            "--data",
            &path("replay/btcusdt-1m.csv"),
        ],
    )
    .fails();
    assert!(err.contains("bad.yaml:13: cases[0].when[1]"), "{err}");
    assert!(err.contains("fsat"), "{err}");
    assert!(
        !f.dir.path().join("x.redb").exists(),
        "nothing is created for a bad play"
    );
}

#[test]
fn a_ledger_with_events_is_not_overwritten() {
    let f = Fixture::sample();
    let mut args = vec![
        "run".to_string(),
        "--strategy".into(),
        path("replay/strategies/ema_trend.yaml"),
    ];
    args.extend(["--data".into(), path("replay/btcusdt-1m.csv")]);
    args.extend(rules());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = f.run(&refs).fails();
    assert!(err.contains("already holds events"), "{err}");
}

#[test]
fn report_of_a_backtest_json() {
    let f = Fixture::empty();
    let csv = f.write("week.csv", &sample_rows(10_080));
    backtest(&f, "bt.redb", &data(csv.to_str().unwrap()), false);
    let chart: PathBuf = f.dir.path().join("bt.svg");
    let v = json(
        &on(
            &f,
            "bt.redb",
            &["--json", "report", "--chart", chart.to_str().unwrap()],
        )
        .ok(),
    );
    assert!(std::fs::read_to_string(&chart).unwrap().contains("<svg"));
    let mut v = v;
    if let Some(obj) = v.as_object_mut() {
        obj.remove("chart");
    }
    insta::assert_json_snapshot!(v);
}
