//! Lags, crosses and the EMA seed through `ledger run`: a hand-written candle file and
//! plays whose intents must land on the bars computed by hand below.

use crate::support::{Fixture, root};

/// Closes of nine 1m bars from 2026-01-01T00:00Z (open = high = low = close).
const CLOSES: [i64; 9] = [8, 10, 12, 16, 10, 4, 4, 10, 16];

/// 2026-01-01T00:00:00Z in seconds.
const START: i64 = 1_767_225_600;

fn csv() -> String {
    let mut text = String::from("time,open,high,low,close,volume\n");
    for (i, c) in CLOSES.iter().enumerate() {
        text.push_str(&format!("{},{c},{c},{c},{c},100\n", START + 60 * i as i64));
    }
    text
}

/// A play on bybit:linear:BTCUSDT 1m with `features` and `cases` (YAML, indented).
fn play(features: &str, cases: &str) -> String {
    format!(
        "id: lags\ninstruments: [bybit:linear:BTCUSDT]\ntimeframe: 1m\nfeatures:\n{features}\
         warmup: auto\ncases:\n{cases}"
    )
}

const CROSS_CASES: &str = "  - when: [\"crosses_above(fast, slow)\"]\n    then: { action: entry, side: buy, size: { qty: \"1\" }, reason: up }\n  - when: [\"crosses_below(fast, slow)\"]\n    then: { action: exit, side: sell, size: { position_fraction: \"1\" }, reason: down }\n";

/// Runs `play_text` over the candle file; the (bar index, case index, reason) of every
/// intent, in log order.
fn intents(play_text: &str) -> Vec<(i64, usize, String)> {
    let f = Fixture::empty();
    let data = f.write("bars.csv", &csv());
    let strategy = f.write("play.yaml", play_text);
    let rules = root().join("replay/venues/bybit.yaml");
    f.run(&[
        "run",
        "--strategy",
        strategy.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
    ])
    .ok();
    let prefix = "lags-bybit:linear:BTCUSDT-";
    f.run(&["export"])
        .ok()
        .lines()
        .filter(|l| l.contains("\"type\":\"intent\""))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let id = v["intent_id"].as_str().unwrap();
            let (nanos, case) = id.strip_prefix(prefix).unwrap().split_once('-').unwrap();
            let bar = (nanos.parse::<i64>().unwrap() / 1_000_000_000 - START) / 60;
            let reason = v["reason"].as_str().unwrap().to_string();
            (bar, case.parse().unwrap(), reason)
        })
        .collect()
}

fn at(list: &[(i64, usize, &str)]) -> Vec<(i64, usize, String)> {
    list.iter()
        .map(|&(b, c, r)| (b, c, r.to_string()))
        .collect()
}

#[test]
fn crosses_above_fires_on_the_hand_computed_bars_with_the_default_sma_seed() {
    // fast = EMA(3), alpha 1/2, seeded with the SMA of the first 3; slow = SMA(3):
    // bar    0   1   2   3       4       5      6      7       8
    // close  8   10  12  16      10      4      4      10      16
    // fast   -   -   10  13      11.5    7.75   5.875  7.9375  11.96875
    // slow   -   -   10  12.667  12.667  10     6      6       10
    // Bar 2 has no slow[1] (auto warm-up waits). Above at 3 (10 <= 10, 13 > 12.667)
    // and 7 (5.875 <= 6, 7.9375 > 6); below at 4 (13 >= 12.667, 11.5 < 12.667).
    let features = "  fast: { ema: 3 }\n  slow: { sma: 3 }\n";
    let want = at(&[(3, 0, "up"), (4, 1, "down"), (7, 0, "up")]);
    assert_eq!(intents(&play(features, CROSS_CASES)), want);
    let explicit = "  fast: { ema: 3, seed: sma }\n  slow: { sma: 3 }\n";
    assert_eq!(
        intents(&play(explicit, CROSS_CASES)),
        want,
        "sma is the default"
    );
}

#[test]
fn the_first_value_seed_moves_the_crosses() {
    // fast = EMA(3) seeded with the first close:
    // fast   8   9   10.5  13.25  11.625  7.8125  5.90625  7.953125  11.9765625
    // slow   -   -   10    12.667 12.667  10      6        6         10
    // Bar 3: fast was already above (10.5 > 10): no cross. Below at 4 (13.25 >= 12.667,
    // 11.625 < 12.667); above at 7 (5.90625 <= 6, 7.953125 > 6).
    let features = "  fast: { ema: 3, seed: first }\n  slow: { sma: 3 }\n";
    let want = at(&[(4, 1, "down"), (7, 0, "up")]);
    assert_eq!(intents(&play(features, CROSS_CASES)), want);
}

#[test]
fn a_lagged_close_reads_two_bars_back() {
    // close[2] < close: bar 2 (8 < 12), 3 (10 < 16), 7 (4 < 10), 8 (4 < 16); not 4..=6.
    // Bars 0 and 1 have no close[2]: auto warm-up waits for it.
    let cases = "  - when: [\"close[2] < close\"]\n    then: { action: entry, side: buy, size: { qty: \"1\" }, reason: rising }\n";
    let want = at(&[
        (2, 0, "rising"),
        (3, 0, "rising"),
        (7, 0, "rising"),
        (8, 0, "rising"),
    ]);
    assert_eq!(intents(&play("", cases)), want);
}

#[test]
fn bad_lags_and_seeds_point_at_line_and_field() {
    let f = Fixture::empty();
    let data = f.write("bars.csv", &csv());
    let check = |name: &str, text: &str, want: &str| {
        let file = f.write(name, text);
        let err = f
            .run(&[
                "run",
                "--strategy",
                file.to_str().unwrap(),
                "--data",
                data.to_str().unwrap(),
            ])
            .fails();
        assert!(err.contains(want), "{err}");
        assert!(!f.db.exists(), "nothing is created for a bad play");
    };
    let features = "  fast: { ema: 3 }\n  slow: { sma: 3 }\n";
    check(
        "deep.yaml",
        &play(
            features,
            &CROSS_CASES.replace("(fast, slow)", "(fast[500], slow)"),
        ),
        "deep.yaml:9: cases[0].when[0]: crosses_above at column 1: needs a lag of 501 bars, beyond the limit of 500",
    );
    check(
        "seed.yaml",
        &play(
            "  fast: { ema: 3, seed: median }\n  slow: { sma: 3 }\n",
            CROSS_CASES,
        ),
        "seed.yaml:5: features.fast.seed: unknown seed `median`: expected sma (the default) or first",
    );
    check(
        "lag.yaml",
        &play(
            features,
            &CROSS_CASES.replace("crosses_above(fast, slow)", "fast[2.5] > slow"),
        ),
        "lag.yaml:9: cases[0].when[0]: expected a whole number of bars 0..=500 in `fast[…]` at column 6, found `2.5`",
    );
}
