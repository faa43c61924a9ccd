use proptest::prelude::*;

use super::super::{parse_one_pass, write_event};
use super::*;
use crate::event::Envelope;

const IDS: &[&str] = &[
    r#""bybit""#,
    r#""""#,
    r#""é-ü""#,
    r#""a\"b""#,
    r#""a\u0062""#,
    "\"x\ty\"",
    "null",
    "1",
    "true",
];
const DECIMALS: &[&str] = &[
    r#""42000.5""#,
    r#""0.010""#,
    r#""1""#,
    r#""-1""#,
    r#""0""#,
    r#""1e3""#,
    r#""1x""#,
    r#""99999999999999999999999999999999999""#,
    r#"" 1""#,
    "42",
    "null",
];
const SIDES: &[&str] = &[r#""buy""#, r#""sell""#, r#""Buy""#, r#""""#, "null", "0"];
const LIQUIDITY: &[&str] = &[r#""maker""#, r#""taker""#, r#""both""#, "null"];
const TIMES: &[&str] = &[
    r#""2026-01-05T00:00:01Z""#,
    r#""2026-01-05T00:00:01.123456789Z""#,
    r#""2026-01-05T00:00:01+01:00""#,
    r#""yesterday""#,
    "null",
    "5",
];
const EXTRA: &[&str] = &[
    "1", "0", "01", "-1", "1.5", "1e2", "true", "false", "null", r#""s""#, "{}", "[1]", "nul",
];

/// A field's key and the pool its values come from.
fn fields(kind: &str) -> Vec<(&'static str, &'static [&'static str])> {
    let mut fields = vec![
        ("ts", TIMES),
        ("recv_ts", TIMES),
        ("seq", EXTRA),
        ("venue", IDS),
        ("book", IDS),
        ("instrument", IDS),
        ("px", DECIMALS),
        ("qty", DECIMALS),
        ("side", SIDES),
    ];
    match kind {
        "trade" => fields.push(("trade_id", IDS)),
        _ => fields.extend([
            ("order_id", IDS),
            ("exec_id", IDS),
            ("fee", DECIMALS),
            ("fee_asset", IDS),
            ("liquidity", LIQUIDITY),
        ]),
    }
    fields
}

/// A line built from `picks`: for each field of `kind`, whether it is left out, given
/// once or twice, and which value of its pool; then extra keys, a reordering, and a
/// mutation of the text.
fn line(kind: &str, picks: &[(u8, usize)], extra: &[(usize, usize)], order: &[usize]) -> String {
    let mut pairs: Vec<String> = Vec::new();
    for ((key, pool), &(times, value)) in fields(kind).iter().zip(picks.iter().cycle()) {
        // Mostly the first (good) values, so that many lines are whole.
        let value = pool[if value % 3 == 0 {
            value % pool.len()
        } else {
            0
        }];
        let times = match times % 10 {
            0 => 0,
            1 => 2,
            _ => 1,
        };
        for _ in 0..times {
            pairs.push(format!(r#""{key}":{value}"#));
        }
    }
    for &(key, value) in extra {
        let key = ["x", "type", "ts", "v\\u0065nue", ""][key % 5];
        pairs.push(format!(r#""{key}":{}"#, EXTRA[value % EXTRA.len()]));
    }
    for (i, &j) in order.iter().enumerate() {
        let len = pairs.len();
        if len > 0 {
            pairs.swap(i % len, j % len);
        }
    }
    let body = pairs.join(",");
    match body.is_empty() {
        true => format!(r#"{{"type":"{kind}"}}"#),
        false => format!(r#"{{"type":"{kind}",{body}}}"#),
    }
}

fn mutate(line: &str, how: u8, at: usize) -> String {
    let mut at = at % (line.len() + 1);
    while !line.is_char_boundary(at) {
        at -= 1;
    }
    let (a, b) = line.split_at(at);
    match how % 8 {
        0 => format!("{a} {b}"),
        1 => a.to_string(),
        2 => format!("{line}x"),
        3 => format!("{a},{b}"),
        4 => format!("{a}\"{b}"),
        5 => format!("{a}}}{b}"),
        _ => line.to_string(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4_000, ..ProptestConfig::default() })]

    /// Whatever the fast path accepts, the serde path reads as the same event.
    #[test]
    fn fast_lines_parse_as_serde_parses_them(
        fill in any::<bool>(),
        picks in prop::collection::vec((any::<u8>(), any::<usize>()), 1..16),
        extra in prop::collection::vec((any::<usize>(), any::<usize>()), 0..3),
        order in prop::collection::vec(any::<usize>(), 0..6),
        how in any::<u8>(),
        at in any::<usize>(),
    ) {
        let kind = if fill { "fill" } else { "trade" };
        let text = mutate(&line(kind, &picks, &extra, &order), how, at);
        if let Some(event) = parse(kind, &text) {
            prop_assert_eq!(Ok(event), parse_one_pass(kind, &text), "{}", text);
        }
    }
}

/// The property above holds only if the fast path accepts lines at all: most of the
/// generated whole lines, and every line `export` writes.
#[test]
fn plain_lines_take_the_fast_path() {
    let mut accepted = 0;
    let total = 500;
    for i in 0..total {
        let kind = if i % 2 == 0 { "fill" } else { "trade" };
        // Every field once, good values, one ignorable extra key, shuffled.
        let picks = [(2, 0)];
        let extra = [(0, [0, 1, 6, 7, 8, 9][i % 6])];
        let order: Vec<usize> = (0..i % 6).map(|j| j * 31 + i).collect();
        let text = line(kind, &picks, &extra, &order);
        if let Some(event) = parse(kind, &text) {
            assert_eq!(Ok(event), parse_one_pass(kind, &text), "{text}");
            accepted += 1;
        }
    }
    assert_eq!(accepted, total, "whole plain lines must all be accepted");

    let exported = [
        r#"{"type":"fill","ts":"2026-01-05T00:00:01Z","venue":"bybit","book":"linear","instrument":"BTCUSDT","order_id":"o-1","exec_id":"e-1","side":"buy","px":"42000.5","qty":"0.010","fee":"0.231","fee_asset":"USDT","liquidity":"taker"}"#,
        r#"{"type":"trade","ts":"2026-01-05T00:00:02.5Z","recv_ts":"2026-01-05T00:00:03Z","venue":"bybit","book":"linear","instrument":"BTCUSDT","px":"42001","qty":"0.5","side":"sell","trade_id":"t-9"}"#,
        r#"{"type":"trade","ts":"2026-01-05T00:00:02Z","venue":"b","book":"l","instrument":"X","px":"1","qty":"1"}"#,
    ];
    for (i, text) in exported.iter().enumerate() {
        let kind = super::super::leading_kind(text).unwrap();
        let event = parse(kind, text).unwrap_or_else(|| panic!("not taken: {text}"));
        let mut out = Vec::new();
        let envelope = Envelope {
            seq: i as u64 + 1,
            event: event.clone(),
        };
        write_event(&envelope, &mut out).unwrap();
        let written = std::str::from_utf8(&out).unwrap().trim_end();
        assert_eq!(parse(kind, written), Some(event), "{written}");
    }
}

/// Lines the serde path refuses are never accepted here, whatever else they get right.
#[test]
fn refused_lines_are_left_to_serde() {
    let good = r#""ts":"2026-01-05T00:00:02Z","venue":"b","book":"l","instrument":"X","qty":"1""#;
    let cases = [
        format!(r#"{{"type":"trade",{good},"px":"1","px":"1"}}"#),
        format!(r#"{{"type":"trade",{good},"px":"-1"}}"#),
        format!(r#"{{"type":"trade",{good},"px":"1"}} "#),
        format!(r#"{{"type":"trade",{good},"px":"1",}}"#),
        format!(r#"{{"type":"trade",{good},"px":"1"}}}}"#),
        format!(r#"{{"type":"trade",{good},"px":"1","type":"trade"}}"#),
        format!(r#"{{"type":"trade",{good},"px":"1","ts":"2026-01-05T00:00:02Z"}}"#),
        format!(r#"{{"type":"trade",{good},"px":"1","recv_ts":5}}"#),
        format!(r#"{{"type":"trade",{good},"px":"1","seq":01}}"#),
        format!(r#"{{"type":"trade",{good},"px":"1","seq":-1}}"#),
        format!(r#"{{"type":"trade",{good}}}"#),
        format!("{{\"type\":\"trade\",{good},\"px\":\"1\",\"x\":\"a\u{1}b\"}}"),
    ];
    for text in cases {
        assert_eq!(parse("trade", &text), None, "{text}");
    }
}
