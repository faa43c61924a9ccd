//! Tests of the `Executor`'s own state and lookups: the calendar, rules by key, and the
//! event-time rate limiter.

use crate::event::{Intent, IntentAction, PositionKey, Side, SkipReason, Venue};

use super::fixtures::*;
use super::{Decision, Executor, MarketContext};

#[test]
fn the_calendar_gates_an_equities_venue() {
    let mut aapl = entry(Side::Buy, qty("10"));
    (aapl.venue, aapl.book, aapl.instrument) = ("nasdaq".into(), "stocks".into(), "AAPL".into());
    let at = |now: &str, px: &str| MarketContext {
        now: ts(now),
        last_px: Some(d(px)),
        funding_rate: Some(d("0.5")),
        equity: d("10000"),
    };
    let open = Expect::Plan(&["i1-0 Entry buy Market 10 Ioc"], &[]);
    check(&aapl, None, &at("2026-01-06T14:30:00Z", "200"), open);
    let closed = |now| Expect::Skip(SkipReason::MarketClosed, now);
    for now in [
        "2026-01-06T14:29:59Z",
        "2026-01-06T21:00:00Z",
        "2026-01-11T15:00:00Z",
        "2026-01-19T15:00:00Z",
    ] {
        check(&aapl, None, &at(now, "200"), closed(now));
    }
    let executor = Executor::new(venues());
    assert!(executor.is_open(&Venue::from("nasdaq"), ts("2026-01-20T20:59:00Z")));
    assert!(!executor.is_open(&Venue::from("nasdaq"), ts("2026-01-19T20:59:00Z")));
    assert!(executor.is_open(&Venue::from("bybit"), ts("2026-01-19T20:59:00Z")));
    assert!(!executor.is_open(&Venue::from("kraken"), ts("2026-01-20T20:59:00Z")));
}

#[test]
fn rules_are_looked_up_by_position_key() {
    let executor = Executor::new(venues());
    let btc = executor.rules(&PositionKey::new("bybit", "linear", "BTCUSDT"));
    assert_eq!(btc, Some(&btc_rules()));
    assert!(
        executor
            .rules(&PositionKey::new("bybit", "spot", "BTCUSDT"))
            .is_none()
    );
    assert!(
        executor
            .rules(&PositionKey::new("nasdaq", "linear", "BTCUSDT"))
            .is_none()
    );
}

/// The reasons of a run of entries with stop and target (3 orders each) at `times_ms`.
fn rate_run(times_ms: &[i64]) -> Vec<Option<SkipReason>> {
    let mut executor = Executor::new(venues());
    let start = ts("2026-01-06T15:00:00Z");
    times_ms
        .iter()
        .enumerate()
        .map(|(n, ms)| {
            let intent = Intent {
                intent_id: format!("i{n}"),
                stop_loss: Some(d("39000")),
                take_profit: Some(d("41000")),
                ..entry(Side::Buy, qty("0.1"))
            };
            let market = MarketContext {
                now: start.plus_nanos(ms * 1_000_000),
                ..market()
            };
            executor.prepare(&intent, None, &market).skip_reason()
        })
        .collect()
}

#[test]
fn the_rate_limiter_refills_with_event_time() {
    use SkipReason::RateLimited;
    // 10 tokens: three plans of 3 leave 1; 200 ms later there are 3 again.
    let got = rate_run(&[0, 0, 0, 0, 100, 200, 200]);
    let want = [
        None,
        None,
        None,
        Some(RateLimited),
        Some(RateLimited),
        None,
        Some(RateLimited),
    ];
    assert_eq!(got, want);
    assert_eq!(rate_run(&[0, 0, 0, 0, 100, 200, 200]), got, "deterministic");
    // A second of event time refills the bucket entirely.
    assert_eq!(rate_run(&[0, 0, 0, 1_000, 1_000, 1_000]), [None; 6]);
}

#[test]
fn skips_take_no_rate_tokens() {
    let mut executor = Executor::new(venues());
    let m = market();
    let exit = intent(IntentAction::Exit, Side::Sell, qty("1"));
    for _ in 0..50 {
        let decision = executor.prepare(&exit, None, &m);
        assert_eq!(decision.skip_reason(), Some(SkipReason::NothingToReduce));
    }
    for _ in 0..10 {
        let decision = executor.prepare(&entry(Side::Buy, qty("0.1")), None, &m);
        assert_eq!(decision.skip_reason(), None);
    }
    let decision = executor.prepare(&entry(Side::Buy, qty("0.1")), None, &m);
    match decision {
        Decision::Skip(skip) => {
            assert_eq!(skip.reason, SkipReason::RateLimited);
            assert_eq!(
                skip.detail,
                "1 orders needed, 0 available at 2026-01-06T15:00:00Z (10 per second)"
            );
        }
        other => panic!("{other:?}"),
    }
}

/// Tidy: the executor keeps its boundary — every file documented, only `event` and
/// `reduce` from the crate, no clock, no I/O, no unordered maps, no `unwrap` outside tests,
/// and files that fit a reading.
#[test]
fn executor_sources_keep_the_boundary() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/executor");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 8, "{files:?}");
    let banned = [
        "HashMap",
        "HashSet",
        "SystemTime",
        "Instant",
        "Utc::now",
        "std::fs",
        "std::io",
        "tokio",
        "redb",
        ".unwrap()",
        ".expect(",
    ];
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.display();
        assert!(text.starts_with("//!"), "{name} opens without //!");
        assert!(text.lines().count() <= 600, "{name} is past 600 lines");
        if name.to_string().ends_with("_tests.rs") || name.to_string().ends_with("fixtures.rs") {
            continue;
        }
        let code = text
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or(&text);
        for word in banned {
            assert!(!code.contains(word), "{name} uses {word}");
        }
        for line in code.lines().filter(|l| l.contains("crate::")) {
            let allowed = ["crate::event", "crate::reduce", "crate::yaml_file"];
            assert!(allowed.iter().any(|a| line.contains(a)), "{name}: {line}");
        }
    }
}
