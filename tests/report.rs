//! `ledger report`: metrics as JSON and tables, and the SVG chart.

use crate::support::{Fixture, redact};

/// A day in nanoseconds-free RFC 3339: `2026-01-0{d}T{hms}Z`.
fn at(day: u32, hms: &str) -> String {
    format!("2026-01-{:02}T{hms}Z", day + 1)
}

/// A hand-computed backtest on 1d candles: a balance of 1000, buy 1 @ 100 (fee 1),
/// closes 110 and 99, sell 1 @ 99 (fee 1), close 105.
fn candle_log() -> String {
    let candle = |day: u32, close: &str| {
        format!(
            r#"{{"type":"candle","ts":"{}","venue":"sim","book":"spot","instrument":"BTC","timeframe":"1d","open_time":"{}","open":"{close}","high":"{close}","low":"{close}","close":"{close}","volume":"1","closed":true}}"#,
            at(day + 1, "00:00:00"),
            at(day, "00:00:00")
        )
    };
    let fill = |day: u32, side: &str, id: &str| {
        let px = if side == "buy" { "100" } else { "99" };
        format!(
            r#"{{"type":"fill","ts":"{}","venue":"sim","book":"spot","instrument":"BTC","order_id":"ext","exec_id":"{id}","side":"{side}","px":"{px}","qty":"1","fee":"1","liquidity":"taker"}}"#,
            at(day, "00:00:01")
        )
    };
    [
        format!(
            r#"{{"type":"balance","ts":"{}","venue":"sim","asset":"USDT","total":"1000"}}"#,
            at(0, "00:00:00")
        ),
        fill(0, "buy", "e1"),
        candle(0, "110"),
        candle(1, "99"),
        fill(2, "sell", "e2"),
        candle(2, "105"),
    ]
    .join("\n")
        + "\n"
}

fn report_json(f: &Fixture, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json", "report"];
    all.extend_from_slice(args);
    let out = redact(&f.run(&all).ok(), f);
    serde_json::from_str(&out).unwrap()
}

fn assert_svg(path: &std::path::Path) {
    let svg = std::fs::read_to_string(path).expect("the chart was written");
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
    assert!(svg.contains("<polyline") || svg.contains("<path"));
    assert!(svg.trim_end().ends_with("</svg>"));
}

#[test]
fn report_of_the_sample_json() {
    let f = Fixture::sample();
    insta::assert_json_snapshot!(report_json(&f, &[]));
    // A report only reads: no chart unless asked for.
    assert!(!f.dir.path().join("test-report.svg").exists());
    report_json(&f, &["--chart", "equity.svg"]);
    assert_svg(&f.dir.path().join("equity.svg"));
}

#[test]
fn report_of_the_sample_human() {
    let f = Fixture::sample();
    insta::assert_snapshot!(redact(&f.run(&["report"]).ok(), &f));
}

#[test]
fn report_on_candles_is_hand_computed() {
    let f = Fixture::empty();
    let log = f.write("candles.jsonl", &candle_log());
    f.run(&["import", log.to_str().unwrap()]).ok();
    let v = report_json(&f, &["--chart", "out.svg"]);
    assert_svg(&f.dir.path().join("out.svg"));
    // Points (D0 1000), (D1 1009 = 1000 − 1 fee + 10 open), (D2 997), (D3 997).
    assert_eq!(v["initial_equity"], "1000");
    assert_eq!(v["initial_equity_source"], "balance");
    assert_eq!(v["final_equity"], "997");
    assert_eq!(v["curve"]["clock"], "candles");
    assert_eq!(v["curve"]["points"], 4);
    let a = &v["account"];
    assert_eq!(a["max_drawdown"], "12");
    // 12 / 1009 = 0.011892963… → 0.011893 → 1.1893 %.
    assert_eq!(a["max_drawdown_pct"], "1.1893");
    // One round trip: −1 realized − 2 fees = −3, a loss.
    assert_eq!(
        (a["round_trips"].as_u64(), a["losses"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(a["win_rate"], "0");
    assert_eq!(a["profit_factor"], "0");
    // Open from D0 00:00:01 to D2 00:00:01 out of D0 .. D3.
    assert_eq!(a["exposure"], "0.666667");
    // Daily returns 0, 0.009, 997/1009 − 1, 0 (sample sd, √365).
    let r = [0.0, 0.009, 997.0 / 1009.0 - 1.0, 0.0];
    let mean = r.iter().sum::<f64>() / 4.0;
    let sd = (r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 3.0).sqrt();
    let down = (r.iter().map(|x| x.min(0.0).powi(2)).sum::<f64>() / 4.0).sqrt();
    let sharpe = a["sharpe"].as_f64().unwrap();
    let sortino = a["sortino"].as_f64().unwrap();
    assert!(
        (sharpe - mean / sd * 365f64.sqrt()).abs() < 1e-5,
        "{sharpe}"
    );
    assert!(
        (sortino - mean / down * 365f64.sqrt()).abs() < 1e-5,
        "{sortino}"
    );
    assert_eq!(v["instruments"][0]["max_drawdown"], "12");
}

#[test]
fn initial_equity_option_is_used_without_a_balance() {
    let f = Fixture::sample();
    let v = report_json(&f, &["--initial-equity", "500"]);
    assert_eq!(v["initial_equity"], "500");
    assert_eq!(v["initial_equity_source"], "option");
    assert_eq!(v["final_equity"], "532.7922");
}
