//! Tests of instruments-file parsing: a good file, exact decimals, errors that name the
//! file, line and field, and the bundled `replay/venues/*.yaml`.

use crate::event::{Decimal, PositionKey, Timestamp};

use super::parse::parse_rules;
use super::rules::FundingGate;

const GOOD: &str = r#"venue: nyse
calendar:
  weekly:
    sessions:
      - { days: [mon, tue, wed, thu, fri], open: "14:30", close: "21:00" }
    holidays: ["2026-01-19"]
orders_per_second: 5
funding:
  cap_above: "0.001"
  capped_leverage: "2"
  skip_above: "0.005"
instruments:
  - book: stocks
    instrument: IBM
    tick_size: "0.01"
    lot_size: "1"
    min_qty: "1"
    min_notional: "1"
    max_leverage: "4"
    maker_fee: "-0.0001"
    taker_fee: "0.0005"
"#;

/// `GOOD` with `from` replaced by `to`, parsed; the error's text.
fn error(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from}");
    parse_rules(&GOOD.replacen(from, to, 1), "t.yaml")
        .unwrap_err()
        .to_string()
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

#[test]
fn parses_a_good_file() {
    let rules = parse_rules(GOOD, "t.yaml").unwrap();
    assert_eq!(rules.venue.as_str(), "nyse");
    assert_eq!(rules.orders_per_second, 5);
    assert_eq!(
        rules.funding.as_ref().map(|f| f.skip_above),
        Some(d("0.005"))
    );
    let ibm = rules
        .instrument(&PositionKey::new("nyse", "stocks", "IBM"))
        .unwrap();
    assert_eq!(ibm.tick_size, d("0.01"));
    assert_eq!(ibm.maker_fee, d("-0.0001"));
    assert_eq!(ibm.max_position_notional, None);
    let at = |t: &str| Timestamp::parse_rfc3339(t).unwrap();
    assert!(rules.calendar.is_open(at("2026-01-20T14:30:00Z")));
    assert!(!rules.calendar.is_open(at("2026-01-19T14:30:00Z")));
}

#[test]
fn unquoted_numbers_are_read_exactly() {
    let text = GOOD.replacen("tick_size: \"0.01\"", "tick_size: 0.010", 1);
    let rules = parse_rules(&text, "t.yaml").unwrap();
    let ibm = rules
        .instrument(&PositionKey::new("nyse", "stocks", "IBM"))
        .unwrap();
    assert_eq!(ibm.tick_size, d("0.01"));
}

#[test]
fn content_errors_name_line_and_field() {
    let cases = [
        (
            "tick_size: \"0.01\"",
            "tick_size: \"0\"",
            "t.yaml:15: instruments[0].tick_size: must be above zero, found 0",
        ),
        (
            "lot_size: \"1\"",
            "lot_size: \"one\"",
            "t.yaml:16: instruments[0].lot_size: invalid decimal `one`: expected plain decimal notation such as \"42000.5\"",
        ),
        (
            "min_qty: \"1\"",
            "min_qty: \"-1\"",
            "t.yaml:17: instruments[0].min_qty: must not be negative, found -1",
        ),
        (
            "skip_above: \"0.005\"",
            "skip_above: \"0.0001\"",
            "t.yaml:11: funding.skip_above: must be at least cap_above (0.001), found 0.0001",
        ),
        (
            "orders_per_second: 5",
            "orders_per_second: 0",
            "t.yaml:7: orders_per_second: must be at least 1",
        ),
        (
            "venue: nyse",
            "venue: \"a:b\"",
            "t.yaml:1: venue: expected a name without `:` or spaces, found `a:b`",
        ),
        (
            "close: \"21:00\"",
            "close: \"14:00\"",
            "t.yaml:5: calendar.weekly.sessions[0].close: must be after open (14:30); split sessions that run over midnight",
        ),
        (
            "open: \"14:30\"",
            "open: \"14:60\"",
            "t.yaml:5: calendar.weekly.sessions[0].open: expected a UTC time HH:MM from 00:00 to 24:00, found `14:60`",
        ),
        (
            "thu, fri]",
            "thu, fry]",
            "t.yaml:5: calendar.weekly.sessions[0].days[4]: expected mon..sun, found `fry`",
        ),
        (
            "\"2026-01-19\"",
            "\"2026-13-19\"",
            "t.yaml:6: calendar.weekly.holidays[0]: expected a date such as 2026-01-19, found `2026-13-19`",
        ),
    ];
    for (from, to, want) in cases {
        assert_eq!(error(from, to), want, "replacing {from:?} with {to:?}");
    }
}

#[test]
fn duplicates_and_empty_lists_are_refused() {
    let twice = format!("{GOOD}{}", &GOOD[GOOD.find("  - book").unwrap()..]);
    let text = parse_rules(&twice, "t.yaml").unwrap_err().to_string();
    assert_eq!(
        text,
        "t.yaml:23: instruments[1].instrument: duplicate instrument `stocks:IBM`"
    );
    let cut = &GOOD[..GOOD.find("  - book").unwrap()];
    let text = parse_rules(
        &cut.replace("instruments:\n", "instruments: []\n"),
        "t.yaml",
    )
    .unwrap_err()
    .to_string();
    assert_eq!(text, "t.yaml:12: instruments: list at least one instrument");
}

#[test]
fn shape_errors_carry_the_line() {
    let text = error("maker_fee:", "makr_fee:");
    assert!(
        text.starts_with("t.yaml:20: unknown field `makr_fee`"),
        "{text}"
    );
    assert!(!text.contains("at line"), "{text}");
    let text = error("calendar:\n  weekly:", "calendar:\n  monthly:");
    assert!(text.starts_with("t.yaml:3: "), "{text}");
}

#[test]
fn the_bundled_instruments_files_parse() {
    let files = [
        (
            "replay/venues/bybit.yaml",
            include_str!("../../replay/venues/bybit.yaml"),
        ),
        (
            "replay/venues/nasdaq.yaml",
            include_str!("../../replay/venues/nasdaq.yaml"),
        ),
        (
            "replay/venues/sample.yaml",
            include_str!("../../replay/venues/sample.yaml"),
        ),
    ];
    for (path, text) in files {
        let rules = parse_rules(text, path).unwrap_or_else(|e| panic!("{e}"));
        let stem = path
            .rsplit('/')
            .next()
            .and_then(|f| f.strip_suffix(".yaml"));
        assert_eq!(Some(rules.venue.as_str()), stem, "{path}");
    }
    let bybit = parse_rules(files[0].1, files[0].0).unwrap();
    let btc = bybit
        .instrument(&PositionKey::new("bybit", "linear", "BTCUSDT"))
        .unwrap();
    assert_eq!((btc.tick_size, btc.lot_size), (d("0.1"), d("0.001")));
    let eth = bybit
        .instrument(&PositionKey::new("bybit", "linear", "ETHUSDT"))
        .unwrap();
    assert_eq!((eth.tick_size, eth.lot_size), (d("0.01"), d("0.01")));
    let sample = parse_rules(files[2].1, files[2].0).unwrap();
    assert!(
        sample
            .instrument(&PositionKey::new("sample", "spot", "BTCUSDT"))
            .is_some()
    );
    assert_eq!(bybit.orders_per_second, 10);
    assert_eq!((btc.min_notional, btc.max_leverage), (d("5"), d("100")));
    assert_eq!((btc.maker_fee, btc.taker_fee), (d("0.0002"), d("0.00055")));
    let gate = FundingGate {
        cap_above: d("0.001"),
        capped_leverage: d("2"),
        skip_above: d("0.005"),
    };
    assert_eq!(bybit.funding, Some(gate));
    let nasdaq = parse_rules(files[1].1, files[1].0).unwrap();
    let at = |t: &str| Timestamp::parse_rfc3339(t).unwrap();
    assert!(nasdaq.calendar.is_open(at("2026-01-20T14:30:00Z")));
    assert!(
        !nasdaq.calendar.is_open(at("2026-01-19T15:00:00Z")),
        "a holiday"
    );
    assert!(
        !nasdaq.calendar.is_open(at("2026-01-24T15:00:00Z")),
        "a Saturday"
    );
    let aapl = nasdaq
        .instrument(&PositionKey::new("nasdaq", "stocks", "AAPL"))
        .unwrap();
    assert_eq!((aapl.tick_size, aapl.lot_size), (d("0.01"), d("1")));
    assert_eq!(nasdaq.funding, None);
}
