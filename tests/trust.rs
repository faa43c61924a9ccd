//! Issue 9, the backtest items: every number a run prints is what its ledger holds, the
//! venue rules shape the simulation, partial runs say so, and nonsense inputs are refused
//! before anything runs. Each test failed before its fix.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::{Fixture, root};

fn ema_trend() -> String {
    root()
        .join("replay/strategies/ema_trend.yaml")
        .to_str()
        .expect("utf-8 path")
        .to_string()
}

/// The bundled month of 1m bars, rows `from..to` (0-based, header kept).
fn bars(from: usize, to: usize) -> String {
    let text = std::fs::read_to_string(root().join("replay/btcusdt-1m.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let body: Vec<&str> = lines.skip(from).take(to - from).collect();
    format!("{header}\n{}\n", body.join("\n"))
}

/// Every exported event of the fixture's ledger.
fn events(f: &Fixture) -> Vec<Value> {
    f.run(&["export"])
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("JSON output")
}

fn run_json(f: &Fixture, extra: &[&str]) -> Value {
    let strategy = ema_trend();
    let mut args = vec!["--json", "run", "--strategy", strategy.as_str()];
    args.extend_from_slice(extra);
    json(&f.run(&args).ok())
}

fn param<'a>(session: &'a Value, name: &str) -> Option<&'a str> {
    session["params"]
        .as_array()?
        .iter()
        .find(|p| p[0] == name)
        .and_then(|p| p[1].as_str())
}

fn d(text: &str) -> rust_decimal::Decimal {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Item 1: a run appended to a ledger keeps every fill: execution ids are unique per
/// ledger, the summaries count what the ledger holds, and a long-only play never ends
/// short.
#[test]
fn run_append_keeps_every_fill() {
    let f = Fixture::empty();
    f.write("first.csv", &bars(0, 20_000));
    f.write("second.csv", &bars(20_000, 43_200));
    let one = run_json(&f, &["--data", "first.csv"]);
    let two = run_json(&f, &["--data", "second.csv", "--append"]);
    assert_eq!(two["first_seq"], one["head_seq"].as_u64().unwrap() + 1);
    let all = events(&f);
    let fills = of_type(&all, "fill");
    assert!(one["fills"].as_u64().unwrap() > 0 && two["fills"].as_u64().unwrap() > 0);
    assert_eq!(
        fills.len() as u64,
        one["fills"].as_u64().unwrap() + two["fills"].as_u64().unwrap(),
        "the summaries count what the ledger holds"
    );
    let mut ids: Vec<&str> = fills
        .iter()
        .map(|e| e["exec_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let n = ids.len();
    ids.dedup();
    assert_eq!(
        ids.len(),
        n,
        "execution ids are unique across the two sessions"
    );
    // Long only: the position never goes below zero, and ends flat or long.
    let positions = json(&f.run(&["--json", "replay"]).ok());
    let qty = positions["positions"][0]["qty"].as_str().unwrap();
    assert!(!d(qty).is_sign_negative(), "ended at {qty}");
    // No order of the second run is left accepted without its fill.
    let submitted = of_type(&all, "order_submitted").len();
    let ended = of_type(&all, "order_filled").len()
        + of_type(&all, "order_cancelled").len()
        + of_type(&all, "order_rejected").len();
    assert!(submitted >= ended);
}

/// Item 4: fees come from each instrument's venue rules and are recorded in the
/// session; a bad fee is refused.
#[test]
fn fees_come_from_the_venue_rules() {
    let f = Fixture::empty();
    f.write("bars.csv", &bars(0, 6_000));
    let bybit = std::fs::read_to_string(root().join("replay/venues/bybit.yaml")).unwrap();
    let custom = bybit.replace("taker_fee: \"0.00055\"", "taker_fee: \"0.002\"");
    assert_ne!(custom, bybit);
    f.write("rules.yaml", &custom);
    run_json(&f, &["--data", "bars.csv", "--rules", "rules.yaml"]);
    let all = events(&f);
    let session = of_type(&all, "session_started")[0];
    assert_eq!(
        param(session, "fees bybit:linear:BTCUSDT"),
        Some("maker=0.0002 taker=0.002")
    );
    let fills = of_type(&all, "fill");
    assert!(!fills.is_empty());
    for fill in fills {
        let rate = match fill["liquidity"].as_str().unwrap() {
            "taker" => d("0.002"),
            _ => d("0.0002"),
        };
        let px = d(fill["px"].as_str().unwrap());
        let qty = d(fill["qty"].as_str().unwrap());
        assert_eq!(d(fill["fee"].as_str().unwrap()), px * qty * rate, "{fill}");
    }
    for (bad, says) in [
        ("taker_fee: \"-0.001\"", "taker fee below zero"),
        ("taker_fee: \"0.055\"", "fraction of notional"),
    ] {
        f.write("bad.yaml", &bybit.replace("taker_fee: \"0.00055\"", bad));
        let err = f
            .run(&[
                "run",
                "--strategy",
                &ema_trend(),
                "--data",
                "bars.csv",
                "--rules",
                "bad.yaml",
                "--db",
                "bad.redb",
            ])
            .fails();
        assert!(
            err.contains("bad.yaml:") && err.contains("taker_fee") && err.contains(says),
            "{err}"
        );
    }
}

/// Item 5: a market order never fills off the instrument's tick grid, even when the
/// bar's close is off it (taker fills move to the next tick against the taker).
#[test]
fn fills_are_on_the_tick_grid() {
    let f = Fixture::empty();
    // Every price gets a stray 0.03: off BTCUSDT's 0.1 grid.
    let text: String = bars(0, 6_000)
        .lines()
        .enumerate()
        .map(|(i, line)| {
            if i == 0 {
                return format!("{line}\n");
            }
            let mut cells: Vec<String> = line.split(',').map(String::from).collect();
            for cell in &mut cells[1..5] {
                *cell = (d(cell) + d("0.03")).to_string();
            }
            format!("{}\n", cells.join(","))
        })
        .collect();
    f.write("bars.csv", &text);
    run_json(&f, &["--data", "bars.csv"]);
    let all = events(&f);
    let fills = of_type(&all, "fill");
    assert!(!fills.is_empty());
    let tick = d("0.1");
    for fill in fills {
        let px = d(fill["px"].as_str().unwrap());
        assert_eq!(px % tick, rust_decimal::Decimal::ZERO, "{fill}");
    }
}

/// Item 6: `report` uses the equity the run recorded; `--initial-equity` overrides it
/// and says what it overrode.
#[test]
fn report_takes_the_runs_initial_equity() {
    let f = Fixture::empty();
    f.write("bars.csv", &bars(0, 6_000));
    run_json(&f, &["--data", "bars.csv", "--initial-equity", "50000"]);
    let r = json(&f.run(&["--json", "report"]).ok());
    assert_eq!(r["initial_equity"], "50000");
    assert_eq!(r["initial_equity_source"], "session");
    let r = json(&f.run(&["--json", "report", "--initial-equity", "700"]).ok());
    assert_eq!(r["initial_equity"], "700");
    assert_eq!(r["initial_equity_source"], "option");
    assert_eq!(r["overridden_equity"]["initial_equity"], "50000");
    let human = f.run(&["report", "--initial-equity", "700"]).ok();
    assert!(human.contains("overriding the session 50000"), "{human}");
    // No chart unless asked, and only as SVG.
    assert!(!f.dir.path().join("test-report.svg").exists());
    let err = f.run(&["report", "--chart", "x.png"]).fails();
    assert!(err.contains(".svg"), "{err}");
}

/// Item 8: a run that fails part-way records why its session stopped, and readers say
/// the session is incomplete; a session with no stop at all (SIGKILL) is flagged too.
#[test]
fn a_partial_run_is_reported_incomplete() {
    let f = Fixture::empty();
    let mut text = bars(0, 3_000);
    text.push_str("2026-01-03T02:00:00Z,1,2,3,not-a-number,5\n");
    f.write("broken.csv", &text);
    let strategy = ema_trend();
    let err = f
        .run(&["run", "--strategy", &strategy, "--data", "broken.csv"])
        .fails();
    assert!(err.contains("broken.csv"), "{err}");
    let all = events(&f);
    let stops = of_type(&all, "session_stopped");
    assert_eq!(stops.len(), 1);
    assert!(
        stops[0]["reason"].as_str().unwrap().starts_with("error: "),
        "{}",
        stops[0]
    );
    let stats = json(&f.run(&["--json", "stats"]).ok());
    assert_eq!(stats["incomplete_sessions"], 1);
    let report = f.run(&["report"]).ok();
    assert!(report.contains("incomplete session"), "{report}");

    // Killed: the log has a start and no stop.
    let g = Fixture::empty();
    let killed = g.write(
        "killed.jsonl",
        concat!(
            r#"{"type":"session_started","ts":"2026-01-01T00:00:00Z","mode":"backtest","config_hash":"","version":"t","params":[]}"#,
            "\n",
            r#"{"type":"trade","ts":"2026-01-01T00:00:01Z","venue":"bybit","book":"linear","instrument":"BTCUSDT","px":"1","qty":"1","side":"buy","trade_id":"t1"}"#,
            "\n"
        ),
    );
    g.run(&["import", killed.to_str().unwrap()]).ok();
    let stats = g.run(&["stats"]).ok();
    assert!(stats.contains("no session_stopped"), "{stats}");
    let report = json(&g.run(&["--json", "report"]).ok());
    assert_eq!(report["incomplete_sessions"], 1);
    assert_eq!(report["sessions"][0]["complete"], false);
}

/// Item 8: SIGINT ends the session cleanly: committed, `session_stopped` with the
/// reason, a non-zero exit.
#[cfg(unix)]
#[test]
fn sigint_stops_the_session_cleanly() {
    let f = Fixture::empty();
    // A long run (two years of bars) so the signal lands while it is going.
    f.run(&["generate-candles", "--bars", "1051200", "--out", "long.csv"])
        .ok();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_ledger"))
        .current_dir(f.dir.path())
        .args([
            "run",
            "--db",
            f.db.to_str().unwrap(),
            "--strategy",
            &ema_trend(),
            "--data",
            "long.csv",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let run = crate::support::Run::from_output(out);
    let err = run.fails();
    assert!(err.contains("interrupted"), "{err}");
    let all = events(&f);
    let stops = of_type(&all, "session_stopped");
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0]["reason"], "interrupted by a signal");
    // The chain verifies: everything was committed cleanly.
    f.run(&["verify"]).ok();
}

/// Item 9: runs that would be silently empty are refused before they start.
#[test]
fn silent_empty_backtests_are_refused() {
    let f = Fixture::empty();
    f.run(&[
        "generate-candles",
        "--bars",
        "200",
        "--timeframe",
        "1h",
        "--out",
        "hourly.csv",
    ])
    .ok();
    let strategy = ema_trend();
    let err = f
        .run(&["run", "--strategy", &strategy, "--data", "hourly.csv"])
        .fails();
    assert!(err.contains("coarser than the strategy's 1m bars"), "{err}");

    let play = std::fs::read_to_string(&strategy)
        .unwrap()
        .replace("bybit:linear:BTCUSDT", "bybit:linear:DOGEUSDT");
    f.write("doge.yaml", &play);
    f.write("bars.csv", &bars(0, 100));
    let err = f
        .run(&["run", "--strategy", "doge.yaml", "--data", "bars.csv"])
        .fails();
    assert!(
        err.contains("bybit:linear:DOGEUSDT: no venue rules"),
        "{err}"
    );

    f.write(
        "old.csv",
        "time,open,high,low,close,volume\n1969-12-31T23:59:00Z,1,1,1,1,1\n",
    );
    let err = f
        .run(&["run", "--strategy", &strategy, "--data", "old.csv"])
        .fails();
    assert!(
        err.contains("old.csv") && err.contains("before 1970"),
        "{err}"
    );
    assert!(!f.db.exists() || events(&f).is_empty());
}

/// Item 10: a day missing between two files of one instrument is a gap.
#[test]
fn a_gap_between_files_is_detected() {
    let f = Fixture::empty();
    f.write("a.csv", &bars(0, 1_440));
    f.write("b.csv", &bars(2_880, 4_320));
    let key = "bybit:linear:BTCUSDT";
    run_json(
        &f,
        &[
            "--data",
            &format!("{key}=a.csv"),
            "--data",
            &format!("{key}=b.csv"),
        ],
    );
    let all = events(&f);
    let gaps = of_type(&all, "gap");
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0]["from"], "2026-01-02T00:00:00Z");
    assert_eq!(gaps[0]["to"], "2026-01-03T00:00:00Z");
    assert_eq!(gaps[0]["missing"], 1440);
}

/// Item 11 and the option checks: what would be ignored or is nonsense is refused.
#[test]
fn contradictory_and_nonsense_options_are_refused() {
    let f = Fixture::empty();
    f.write("bars.csv", &bars(0, 100));
    run_json(&f, &["--data", "bars.csv"]);
    let strategy = ema_trend();
    let source = f.db.to_str().unwrap().to_string();
    let err = f
        .run(&[
            "run",
            "--strategy",
            &strategy,
            "--from-log",
            &source,
            "--data",
            "bars.csv",
            "--db",
            "other.redb",
        ])
        .fails();
    assert!(err.contains("cannot be combined"), "{err}");
    for (option, value, says) in [
        ("--initial-equity", "0", "greater than 0"),
        ("--initial-equity", "-5", "greater than 0"),
        ("--slippage-bps", "-1", "between 0 and 10000"),
        ("--latency-ms", "-1", "between 0 and"),
        ("--liquidity", "0", "more than 0 and at most 1"),
    ] {
        let run = f.run(&[
            "run",
            "--strategy",
            &strategy,
            "--data",
            "bars.csv",
            "--db",
            "x.redb",
            option,
            value,
        ]);
        assert_ne!(run.code, 0);
        assert!(
            run.stderr.contains(says),
            "{option} {value}: {}",
            run.stderr
        );
    }
    let err = f
        .run(&[
            "run",
            "--strategy",
            &strategy,
            "--data",
            "bars.csv",
            "--data",
            "bars.csv",
            "--db",
            "x.redb",
        ])
        .fails();
    assert!(err.contains("given twice"), "{err}");
}

/// A data path with `=` in it (Hive-style folders) is a path, not `KEY=FILE`; the
/// bundled venue rules make `run` work outside the repository.
#[test]
fn hive_style_paths_and_bundled_rules() {
    let f = Fixture::empty();
    let dir: PathBuf = f.dir.path().join("date=2026-01-01");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("bars.csv"), bars(0, 3_000)).unwrap();
    let summary = run_json(&f, &["--data", "date=2026-01-01/bars.csv"]);
    assert!(summary["bars"].as_u64().unwrap() > 0);
    let all = events(&f);
    let session = of_type(&all, "session_started")[0];
    assert!(
        param(session, "rules").unwrap().starts_with("bundled:"),
        "{session}"
    );
}

/// Item 15 and `--json`: the demo never replaces a ledger, and prints one document.
#[test]
fn demo_never_replaces_a_ledger_and_prints_one_json_document() {
    let f = Fixture::empty();
    let replay = f.dir.path().join("replay");
    std::fs::create_dir_all(replay.join("strategies")).unwrap();
    std::fs::copy(
        root().join("replay/btcusdt-1m.csv"),
        replay.join("btcusdt-1m.csv"),
    )
    .unwrap();
    std::fs::copy(ema_trend(), replay.join("strategies/ema_trend.yaml")).unwrap();
    let mine = f.write("demo.redb", "not the demo's");
    let run = |args: &[&str]| {
        crate::support::Run::from_output(
            std::process::Command::new(env!("CARGO_BIN_EXE_ledger"))
                .current_dir(f.dir.path())
                .args(args)
                .output()
                .unwrap(),
        )
    };
    let doc = json(&run(&["--json", "demo"]).ok());
    assert_eq!(doc["db"], "demo-2.redb");
    for step in ["run", "report", "verify", "audit"] {
        assert!(doc[step].is_object(), "{step}: {doc}");
    }
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "not the demo's");
    assert!(f.dir.path().join("demo-2-report.svg").exists());
    let err = run(&["demo", "--db", "demo-2.redb"]).fails();
    assert!(err.contains("never replaces"), "{err}");
}

/// `--json` errors are one JSON object on stdout, with the same exit code.
#[test]
fn json_errors_are_json_on_stdout() {
    let f = Fixture::empty();
    f.write(
        "bad.csv",
        "time,open,high,low,close,volume\n2026-01-01T00:00:00Z,1,2,0.5,x,1\n",
    );
    let run = f.run(&[
        "--json",
        "run",
        "--strategy",
        &ema_trend(),
        "--data",
        "bad.csv",
    ]);
    assert_eq!(run.code, 1);
    let doc = json(&run.stdout);
    assert_eq!(doc["error"]["kind"], "input", "{doc}");
    assert!(
        doc["error"]["where"]
            .as_str()
            .unwrap()
            .ends_with("bad.csv:2"),
        "{doc}"
    );
    let run = f.run(&["--json", "stats", "--db", "missing/x.redb"]);
    assert_eq!(run.code, 1);
    assert_eq!(json(&run.stdout)["error"]["kind"], "io");
}

/// Help lists what a command uses: `diff` and `generate-candles` open no `--db` ledger,
/// so they do not offer one (it was global and silently ignored), and `demo`'s names
/// the file it writes.
#[test]
fn options_a_command_ignores_are_not_listed_for_it() {
    let f = Fixture::empty();
    for command in ["diff", "generate-candles"] {
        let help = f.run(&[command, "--help"]).ok();
        assert!(!help.contains("--db"), "{command}: {help}");
        let err = f.run(&[command, "--db", "x.redb"]).fails();
        assert!(err.contains("--db"), "{command}: {err}");
    }
    for command in [
        "run", "import", "export", "replay", "audit", "verify", "stats", "compact", "report",
    ] {
        let help = f.run(&[command, "--help"]).ok();
        assert!(help.contains("--db <FILE>"), "{command}: {help}");
    }
    let help = f.run(&["demo", "--help"]).ok();
    assert!(
        help.contains("demo.redb") && !help.contains("ledger.redb"),
        "{help}"
    );
}
