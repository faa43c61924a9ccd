//! Funding files in backtests (`run --funding`): each rate is a settlement the simulated
//! exchange applies to the open position at the last price, recorded as `funding`
//! events that the report sums; the file is part of the session's provenance; bad files
//! and combinations are refused with where.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

use crate::support::{Fixture, root};

const KEY: &str = "bybit:linear:BTCUSDT";

fn ema_trend() -> String {
    root()
        .join("replay/strategies/ema_trend.yaml")
        .display()
        .to_string()
}

fn bars() -> String {
    root().join("replay/btcusdt-1m.csv").display().to_string()
}

fn d(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap_or_else(|| panic!("not a decimal: {v}"))).unwrap()
}

/// Settlements every 8 hours over the bundled month (2026-01-01 .. 01-30), with rates
/// that change sign, as a CSV with Bybit's column names.
fn funding_csv() -> (String, usize) {
    let mut text = String::from("symbol,fundingRate,fundingRateTimestamp\n");
    let start_ms: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
    let mut rows = 0;
    for i in 1..90 {
        let rate = match i % 3 {
            0 => "0.0001",
            1 => "-0.00025",
            _ => "0.00019881",
        };
        text.push_str(&format!(
            "BTCUSDT,{rate},{}\n",
            start_ms + i * 8 * 3_600_000 + 17
        ));
        rows += 1;
    }
    (text, rows)
}

fn events(f: &Fixture) -> Vec<Value> {
    f.run(&["export"])
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Every rate settles the position it finds: amount = −qty × last close × rate, the
/// summary counts rates and payments, the report's funding is their sum, and the
/// session records the file with its hash.
#[test]
fn funding_rates_settle_the_open_position_at_the_last_price() {
    let f = Fixture::empty();
    let (text, rows) = funding_csv();
    f.write("funding.csv", &text);
    let strategy = ema_trend();
    let data = bars();
    let run: Value = serde_json::from_str(
        &f.run(&[
            "--json",
            "run",
            "--strategy",
            &strategy,
            "--data",
            &data,
            "--funding",
            "funding.csv",
        ])
        .ok(),
    )
    .unwrap();
    assert_eq!(run["funding_rates"], rows as u64);

    let all = events(&f);
    let session = all.iter().find(|e| e["type"] == "session_started").unwrap();
    let recorded = session["params"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p[0] == format!("funding {KEY}"))
        .and_then(|p| p[1].as_str())
        .expect("the funding file is a recorded input");
    assert!(recorded.starts_with("funding.csv blake3:"), "{recorded}");

    // Walk the log as the venue would: the position from fills, the mark from closes.
    let mut qty = Decimal::ZERO;
    let mut last = None;
    let mut expected = Vec::new();
    let mut paid = Vec::new();
    for e in &all {
        match e["type"].as_str().unwrap() {
            "candle" if e["closed"] == true => last = Some(d(&e["close"])),
            "fill" => {
                let q = d(&e["qty"]);
                qty += if e["side"] == "buy" { q } else { -q };
            }
            "funding_rate" if !qty.is_zero() => {
                expected.push(-(qty * last.unwrap() * d(&e["rate"])));
            }
            "funding" => paid.push(d(&e["amount"])),
            _ => {}
        }
    }
    assert!(
        !paid.is_empty(),
        "the play holds positions across settlements"
    );
    assert!(
        paid.len() < rows,
        "flat at some settlements: nothing paid then"
    );
    assert_eq!(paid, expected);
    assert_eq!(run["fundings"], paid.len() as u64);
    let total: Decimal = paid.iter().sum();
    assert!(!total.is_zero());

    let report: Value = serde_json::from_str(&f.run(&["--json", "report"]).ok()).unwrap();
    assert_eq!(d(&report["account"]["funding"]), total);
    assert_eq!(
        d(&report["account"]["net_pnl"]),
        d(&report["account"]["realized"]) - d(&report["account"]["fees"]) + total,
        "net pnl includes funding"
    );

    assert_eq!(
        d(&report["final_equity"]),
        d(&report["initial_equity"]) + d(&report["account"]["total_pnl"]),
    );
}

/// freqtrade's funding rows (`[ms, rate, 0, 0, 0, 0]`) read as settlements too.
#[test]
fn freqtrade_funding_rows_are_read() {
    let f = Fixture::empty();
    f.write(
        "funding.json",
        "[[1767254400017,0.0001,0.0,0.0,0.0,0.0],\n [1767283200004,0.0003,0.0,0.0,0.0,0.0]]\n",
    );
    let (strategy, data) = (ema_trend(), bars());
    let key_file = format!("{KEY}=funding.json");
    let run: Value = serde_json::from_str(
        &f.run(&[
            "--json",
            "run",
            "--strategy",
            &strategy,
            "--data",
            &data,
            "--funding",
            &key_file,
        ])
        .ok(),
    )
    .unwrap();
    assert_eq!(run["funding_rates"], 2);
    let rates: Vec<Value> = events(&f)
        .into_iter()
        .filter(|e| e["type"] == "funding_rate")
        .collect();
    assert_eq!(rates[0]["ts"], "2026-01-01T08:00:00.017Z");
    assert_eq!(rates[1]["rate"], "0.0003");
}

/// Bad funding input is refused, saying where; nothing half-runs silently.
#[test]
fn bad_funding_input_is_refused_with_where() {
    let f = Fixture::empty();
    let (strategy, data) = (ema_trend(), bars());
    f.write(
        "late.csv",
        "time,rate\n2026-01-02T00:00:00Z,0.0001\n2026-01-01T16:00:00Z,0.0001\n",
    );
    f.write("percent.csv", "time,rate\n2026-01-02T00:00:00Z,1.5\n");
    f.write("other.csv", "time,rate\n2026-01-03T00:00:00Z,0.0001\n");
    f.write("headerless.csv", "1767254400000,0.0001\n");
    let run = |extra: &[&str], db: &str| {
        let mut args = vec!["run", "--strategy", &strategy, "--data", &data, "--db", db];
        args.extend_from_slice(extra);
        f.run(&args).fails()
    };
    let err = run(&["--funding", "late.csv"], "a.redb");
    assert!(
        err.contains("late.csv:3") && err.contains("before the previous row"),
        "{err}"
    );
    let err = run(&["--funding", "percent.csv"], "b.redb");
    assert!(
        err.contains("percent.csv:2") && err.contains("fractions"),
        "{err}"
    );
    let err = run(&["--funding", "headerless.csv"], "c.redb");
    assert!(
        err.contains("headerless.csv:1") && err.contains("header"),
        "{err}"
    );
    let err = run(
        &["--funding", "other.csv", "--funding", "late.csv"],
        "d.redb",
    );
    assert!(err.contains("one per instrument"), "{err}");
    let err = run(&["--funding", "bybit:linear:ETHUSDT=other.csv"], "e.redb");
    assert!(err.contains("not one of the play's instruments"), "{err}");

    // Funding alone is not market data for the play.
    let err = f
        .run(&[
            "run",
            "--strategy",
            &strategy,
            "--funding",
            "other.csv",
            "--db",
            "f.redb",
        ])
        .fails();
    assert!(err.contains("no --data or --trades"), "{err}");

    // --from-log brings the source's funding rates: a file beside it would be unused.
    f.run(&[
        "run",
        "--strategy",
        &strategy,
        "--data",
        &data,
        "--db",
        "src.redb",
    ])
    .ok();
    let err = f
        .run(&[
            "run",
            "--strategy",
            &strategy,
            "--from-log",
            "src.redb",
            "--funding",
            "other.csv",
            "--db",
            "g.redb",
        ])
        .fails();
    assert!(err.contains("--funding"), "{err}");
}

/// The executor's funding gate sees the file's rates: above the venue's `skip_above`
/// (0.5% for Bybit) no new exposure is taken, and each refusal is a recorded skip.
#[test]
fn an_extreme_funding_rate_skips_entries_with_the_reason() {
    let f = Fixture::empty();
    f.write("funding.csv", "time,rate\n2026-01-01T00:00:30Z,0.006\n");
    let (strategy, data) = (ema_trend(), bars());
    let run: Value = serde_json::from_str(
        &f.run(&[
            "--json",
            "run",
            "--strategy",
            &strategy,
            "--data",
            &data,
            "--funding",
            "funding.csv",
        ])
        .ok(),
    )
    .unwrap();
    assert_eq!(run["fills"], 0, "{run}");
    assert!(
        run["skips"]["funding_rate_extreme"].as_u64().unwrap() > 0,
        "{run}"
    );
}
