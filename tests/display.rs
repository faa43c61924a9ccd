//! What people read: the report chart's time axis and curve, and the rounding of derived
//! prices in tables (JSON keeps exact values).

use std::path::PathBuf;

use crate::support::{Fixture, root};

/// The first `rows` bars of the bundled BTCUSDT minute bars.
fn bars(rows: usize) -> String {
    let text = std::fs::read_to_string(root().join("replay/btcusdt-1m.csv")).unwrap();
    text.lines()
        .take(rows + 1)
        .map(|l| format!("{l}\n"))
        .collect()
}

/// A backtest of the EMA trend play (its 1h EMA needs ~20 hours of warm-up before the
/// first fill) over `rows` bars, and its report's chart.
fn backtest_chart(rows: usize) -> (Fixture, String) {
    let f = Fixture::empty();
    let csv = f.write("bars.csv", &bars(rows));
    let strategy = root().join("replay/strategies/ema_trend.yaml");
    f.run(&[
        "run",
        "--mode",
        "backtest",
        "--strategy",
        strategy.to_str().unwrap(),
        "--data",
        csv.to_str().unwrap(),
    ])
    .ok();
    let chart: PathBuf = f.dir.path().join("f.svg");
    f.run(&["report", "--chart", chart.to_str().unwrap()]).ok();
    let svg = std::fs::read_to_string(&chart).unwrap();
    (f, svg)
}

/// The x-axis labels of the chart (both panels): the `<text>` lines that are times.
fn x_labels(svg: &str) -> Vec<chrono::NaiveDateTime> {
    svg.lines()
        .filter(|l| l.starts_with("20") && l.len() == 16)
        .map(|l| chrono::NaiveDateTime::parse_from_str(l, "%Y-%m-%d %H:%M").unwrap())
        .collect()
}

/// The equity line's points (x, y in pixels): the blue polyline.
fn equity_line(svg: &str) -> Vec<(i64, i64)> {
    let line = svg
        .split("<polyline")
        .find(|p| p.contains("stroke=\"#0000FF\""))
        .expect("the equity polyline");
    let points = line.split("points=\"").nth(1).unwrap();
    let points = &points[..points.find('"').unwrap()];
    points
        .split_whitespace()
        .map(|xy| {
            let (x, y) = xy.split_once(',').unwrap();
            (x.parse().unwrap(), y.parse().unwrap())
        })
        .collect()
}

#[test]
fn chart_x_ticks_are_at_round_times() {
    // 33 hours of bars from 00:00: the ticks are every 6 hours at 00, 06, 12, 18.
    let (_f, svg) = backtest_chart(2_000);
    let labels = x_labels(&svg);
    assert!(labels.len() >= 8, "{labels:?}");
    let six_hours = chrono::Duration::hours(6);
    for (i, t) in labels.iter().enumerate() {
        assert_eq!(
            t.and_utc().timestamp() % six_hours.num_seconds(),
            0,
            "label {i} {t} is not on a 6-hour boundary: {labels:?}"
        );
    }
    // Each panel's ticks are one step apart.
    let half = labels.len() / 2;
    assert_eq!(labels[..half], labels[half..]);
    assert!(labels[..half].windows(2).all(|w| w[1] - w[0] == six_hours));

    // A week of bars: daily ticks at midnight.
    let (_f, svg) = backtest_chart(7 * 1_440 - 60);
    let labels = x_labels(&svg);
    assert!(!labels.is_empty());
    assert!(
        labels
            .iter()
            .all(|t| t.format("%H:%M").to_string() == "00:00"),
        "{labels:?}"
    );
}

#[test]
fn chart_curve_has_points_through_the_warm_up_before_the_first_fill() {
    let (f, svg) = backtest_chart(2_000);
    // The first fill comes after the warm-up (~20 of the 33 hours).
    let export = f.run(&["export"]).ok();
    let first_fill = export
        .lines()
        .position(|l| l.contains("\"type\":\"fill\""))
        .expect("the backtest fills");
    assert!(first_fill > 1_000, "fill at line {first_fill}");
    let line = equity_line(&svg);
    let (x0, x1) = (line[0].0, line[line.len() - 1].0);
    // No long straight segment: the points run bar by bar from the first bar on (before,
    // the curve jumped from its first point straight to the first fill).
    let widest = line.windows(2).map(|w| w[1].0 - w[0].0).max().unwrap();
    assert!(
        widest * 100 <= (x1 - x0),
        "a segment of {widest} px of {} px: {:?}",
        x1 - x0,
        &line[..4]
    );
    // Flat at the starting capital over the warm-up: the first points share a y.
    assert!(
        line[..20].iter().all(|p| p.1 == line[0].1),
        "{:?}",
        &line[..20]
    );

    // The report counts a curve point per bar (plus the first event's).
    let report = f.run(&["--json", "report"]).ok();
    let v: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(v["curve"]["points"], 2_001, "{}", v["curve"]);
}

/// Three buys at different prices: an average entry of 100.6666… (a 28-digit quotient).
fn uneven_fills() -> Vec<String> {
    [("1", "100", 1), ("1", "101", 2), ("1", "101", 3)]
        .iter()
        .map(|(qty, px, s)| {
            format!(
                r#"{{"type":"fill","ts":"2026-01-01T00:00:0{s}Z","venue":"bybit","book":"linear","instrument":"BTCUSDT","order_id":"o{s}","exec_id":"e{s}","side":"buy","px":"{px}","qty":"{qty}","fee":"0","liquidity":"taker"}}"#
            )
        })
        .collect()
}

#[test]
fn replay_tables_round_avg_px_and_json_keeps_it_exact() {
    let f = Fixture::empty();
    let log = f.write("fills.jsonl", &(uneven_fills().join("\n") + "\n"));
    f.run(&["import", log.to_str().unwrap()]).ok();

    let human = f.run(&["replay"]).ok();
    let row = human
        .lines()
        .find(|l| l.starts_with("bybit:linear:BTCUSDT"))
        .unwrap_or_else(|| panic!("{human}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[2], "100.66666667", "{human}");
    // No number in the table has more than 8 decimals.
    for cell in &cells[1..] {
        let decimals = cell.split_once('.').map_or(0, |(_, frac)| frac.len());
        assert!(decimals <= 8, "{cell} in {row}");
    }

    let json = f.run(&["--json", "replay"]).ok();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let avg = v["positions"][0]["avg_px"].as_str().unwrap().to_string();
    assert!(avg.starts_with("100.666666666666666666666666"), "{avg}");
    assert!(avg.len() > 20, "{avg}");
    // Exact: the JSON value times the quantity is the cost to the last digit's rounding.
    let exact: ledger::event::Decimal = avg.parse().unwrap();
    assert_eq!(exact.round_dp(8).to_string(), "100.66666667");
}
