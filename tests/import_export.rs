//! `ledger import` and `ledger export`: counts, duplicates, and round trips.

use std::ops::ControlFlow;

use ledger::event::json::{parse_event, write_event};
use ledger::event::{Event, Fill, Liquidity, Payload, PositionKey, Side, Timestamp, Trade};
use ledger::log::{Ledger, OpenMode, Writer, WriterOptions, projection_at};
use proptest::prelude::*;

use crate::support::{Fixture, sample};

#[test]
fn import_prints_counts_and_head() {
    let f = Fixture::empty();
    let out = f
        .run(&["--json", "import", sample().to_str().unwrap()])
        .ok();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["appended"], 52);
    assert_eq!(v["skipped_duplicates"], 0);
    assert_eq!(v["head_seq"], 52);
    assert_eq!(v["head_hash"].as_str().unwrap().len(), 64);
}

#[test]
fn duplicate_fills_are_skipped_and_counted() {
    let f = Fixture::sample();
    let fill = |exec: &str, venue: &str| {
        format!(
            r#"{{"type":"fill","ts":"2026-01-06T00:00:00Z","venue":"{venue}","book":"linear","instrument":"BTCUSDT","exec_id":"{exec}","side":"buy","px":"42000","qty":"0.01","fee":"0","liquidity":"taker"}}"#
        )
    };
    // e-1 is in the log already (the sample's own line: an exact repeat); e-new twice
    // in the file; e-1 on another venue is new.
    let sample = std::fs::read_to_string(crate::support::sample()).unwrap();
    let stored = sample
        .lines()
        .find(|l| l.contains(r#""exec_id":"e-1""#))
        .unwrap()
        .to_string();
    let text = [
        stored,
        fill("e-new", "bybit"),
        fill("e-new", "bybit"),
        fill("e-1", "okx"),
    ]
    .join("\n");
    let path = f.write("dups.jsonl", &text);
    let v: serde_json::Value =
        serde_json::from_str(&f.run(&["--json", "import", path.to_str().unwrap()]).ok()).unwrap();
    assert_eq!(v["appended"], 2);
    assert_eq!(v["skipped_duplicates"], 2);
    assert_eq!(v["head_seq"], 54);
    // Importing the same file again appends nothing.
    let v: serde_json::Value =
        serde_json::from_str(&f.run(&["--json", "import", path.to_str().unwrap()]).ok()).unwrap();
    assert_eq!(v["appended"], 0);
    assert_eq!(v["skipped_duplicates"], 4);
}

#[test]
fn export_then_import_gives_the_same_projection_and_events() {
    let a = Fixture::sample();
    let exported = a.run(&["export"]).ok();
    assert_eq!(exported.lines().count(), 52);
    let b = Fixture::empty();
    let path = b.write("exported.jsonl", &exported);
    b.run(&["import", path.to_str().unwrap()]).ok();
    let replay = |f: &Fixture| -> serde_json::Value {
        serde_json::from_str(&f.run(&["--json", "replay"]).ok()).unwrap()
    };
    assert_eq!(replay(&a)["projection_hash"], replay(&b)["projection_hash"]);
    assert_eq!(
        replay(&a)["head_hash"],
        replay(&b)["head_hash"],
        "same events give the same chain"
    );
    assert_eq!(b.run(&["export"]).ok(), exported);
}

#[test]
fn export_range_and_broken_pipe() {
    let f = Fixture::sample();
    let out = f.run(&["export", "--from", "10", "--to", "12"]).ok();
    let seqs: Vec<u64> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, vec![10, 11, 12]);
}

fn arb_event() -> impl Strategy<Value = Event> {
    let key = prop_oneof![
        Just(PositionKey::new("bybit", "linear", "BTCUSDT")),
        Just(PositionKey::new("hyperliquid", "perps", "ETH"))
    ];
    (
        key,
        any::<bool>(),
        1u32..5000,
        1u32..2000,
        -50i32..200,
        0u8..3,
        0u32..1000,
    )
        .prop_map(|(key, buy, px, qty, fee, kind, exec)| {
            let d = |v: i64, scale: u32| ledger::event::Decimal::from_parts(v, scale).unwrap();
            let side = if buy { Side::Buy } else { Side::Sell };
            let payload = match kind {
                0 => Payload::Trade(Trade {
                    venue: key.venue,
                    book: key.book,
                    instrument: key.instrument,
                    px: d(px.into(), 1),
                    qty: d(qty.into(), 3),
                    side: Some(side),
                    trade_id: None,
                }),
                _ => Payload::Fill(Fill {
                    venue: key.venue,
                    book: key.book,
                    instrument: key.instrument,
                    order_id: None,
                    exec_id: format!("x-{exec}").as_str().into(),
                    side,
                    px: d(px.into(), 1),
                    qty: d(qty.into(), 3),
                    fee: d(fee.into(), 4),
                    fee_asset: None,
                    liquidity: Liquidity::Taker,
                }),
            };
            Event::new(Timestamp::from_nanos(1_700_000_000_000_000_000), payload)
        })
}

fn write_all(ledger: &Ledger, events: Vec<Event>) -> ledger::log::AppendOutcome {
    let mut w = Writer::new(
        ledger,
        WriterOptions {
            checkpoint_every: 7,
            ..WriterOptions::default()
        },
    )
    .unwrap();
    let outcome = w.append(events).unwrap();
    w.commit().unwrap();
    outcome
}

fn export_lines(ledger: &Ledger) -> Vec<String> {
    let mut lines = Vec::new();
    ledger
        .reader()
        .unwrap()
        .for_each_event(1, u64::MAX, |env| {
            let mut buf = Vec::new();
            write_event(&env, &mut buf).unwrap();
            lines.push(String::from_utf8(buf).unwrap());
            Ok(ControlFlow::Continue(()))
        })
        .unwrap();
    lines
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn export_import_round_trip(events in proptest::collection::vec(arb_event(), 1..300)) {
        let dir = tempfile::tempdir().unwrap();
        let a = Ledger::open(&dir.path().join("a.redb"), OpenMode::CreateIfMissing).unwrap();
        let first = write_all(&a, events);
        let lines = export_lines(&a);
        prop_assert_eq!(lines.len() as u64, first.appended);
        let b = Ledger::open(&dir.path().join("b.redb"), OpenMode::CreateIfMissing).unwrap();
        let parsed: Vec<Event> = lines.iter().map(|l| parse_event(l.trim_end()).unwrap()).collect();
        let second = write_all(&b, parsed);
        prop_assert_eq!(second.duplicates, 0);
        prop_assert_eq!(&export_lines(&b), &lines);
        let (ra, rb) = (a.reader().unwrap(), b.reader().unwrap());
        prop_assert_eq!(ra.head().unwrap(), rb.head().unwrap());
        let pa = projection_at(&ra, ra.head().unwrap().seq).unwrap().0;
        let pb = projection_at(&rb, rb.head().unwrap().seq).unwrap().0;
        prop_assert_eq!(pa.hash(), pb.hash());
    }
}
