//! Bad input: each is a clear error naming the line, a non-zero exit, and nothing
//! appended.

use crate::support::Fixture;

const GOOD: &str = r#"{"type":"trade","ts":"2026-01-05T00:00:02Z","venue":"bybit","book":"linear","instrument":"BTCUSDT","px":"42001","qty":"0.5","side":"sell","trade_id":"t-9"}"#;

fn check(bad_line: &str, expected: &str) {
    let f = Fixture::sample();
    let before = f.run(&["export"]).ok();
    let text = format!("{GOOD}\n{GOOD}\n{bad_line}\n{GOOD}\n");
    let path = f.write("bad.jsonl", &text);
    let err = f.run(&["import", path.to_str().unwrap()]).fails();
    assert!(err.contains("bad.jsonl:3: "), "names the line: {err}");
    assert!(
        err.contains(expected),
        "says what is wrong ({expected}): {err}"
    );
    assert!(err.contains("nothing was appended"), "{err}");
    assert_eq!(f.run(&["export"]).ok(), before, "the log is unchanged");
    f.run(&["verify"]).ok();
}

#[test]
fn malformed_json() {
    check(r#"{"type":"trade","ts":"#, "EOF while parsing");
}

#[test]
fn unknown_type() {
    check(
        r#"{"type":"teleport","ts":"2026-01-05T00:00:02Z"}"#,
        "unknown event type `teleport`",
    );
}

#[test]
fn bad_decimal() {
    check(
        &GOOD.replace("\"42001\"", "\"42,001\""),
        "invalid decimal `42,001`",
    );
    check(
        &GOOD.replace("\"42001\"", "42001.5"),
        "decimal as a JSON string",
    );
}

#[test]
fn missing_field() {
    check(&GOOD.replace(r#""px":"42001","#, ""), "missing field `px`");
}

#[test]
fn negative_quantity() {
    check(
        &GOOD.replace(r#""qty":"0.5""#, r#""qty":"-0.5""#),
        "`qty` must be positive",
    );
}

#[test]
fn bad_timestamp() {
    check(
        &GOOD.replace("2026-01-05T00:00:02Z", "2026-13-05"),
        "invalid timestamp",
    );
}

#[test]
fn impossible_order_transition() {
    // c-1 of the sample is filled: accepting it again breaks the state machine.
    check(
        r#"{"type":"order_accepted","ts":"2026-01-06T00:00:00Z","client_order_id":"c-1"}"#,
        "c-1",
    );
    check(
        r#"{"type":"order_cancelled","ts":"2026-01-06T00:00:00Z","client_order_id":"nope"}"#,
        "nope",
    );
}

#[test]
fn not_a_ledger_file() {
    let f = Fixture::empty();
    std::fs::write(&f.db, b"hello, I am a text file").unwrap();
    for cmd in [
        &["verify"][..],
        &["replay"],
        &["stats"],
        &["export"],
        &["audit", "a:b:c"],
    ] {
        let err = f.run(cmd).fails();
        assert!(err.contains("not a ledger database"), "{cmd:?}: {err}");
    }
    let sample = crate::support::sample();
    let err = f.run(&["import", sample.to_str().unwrap()]).fails();
    assert!(err.contains("not a ledger database"), "{err}");
    assert_eq!(
        std::fs::read(&f.db).unwrap(),
        b"hello, I am a text file",
        "left untouched"
    );
}

#[test]
fn a_ledger_held_by_another_process() {
    let f = Fixture::sample();
    let held = ledger::log::Ledger::open(&f.db, ledger::log::OpenMode::Existing).unwrap();
    let err = f.run(&["replay"]).fails();
    assert!(
        err.contains("held by another running ledger process"),
        "{err}"
    );
    drop(held);
    f.run(&["replay"]).ok();
}

#[test]
fn missing_input_file() {
    let f = Fixture::sample();
    let err = f.run(&["import", "does-not-exist.jsonl"]).fails();
    assert!(err.contains("cannot open does-not-exist.jsonl"), "{err}");
}

#[test]
fn a_ledger_from_a_newer_format_is_refused_clearly() {
    let f = Fixture::sample();
    {
        // What a future `ledger` would write: the same tables, a higher format number.
        let db = redb::Database::open(&f.db).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut meta = txn.open_table(ledger::log::tables::META).unwrap();
            meta.insert("format", &99u16.to_le_bytes()[..]).unwrap();
        }
        txn.commit().unwrap();
    }
    for cmd in [
        &["verify"][..],
        &["replay"],
        &["export"],
        &["import", "x.jsonl"],
    ] {
        let err = f.run(cmd).fails();
        let expected = format!(
            "ledger format 99 is newer than this build supports ({})",
            ledger::log::tables::LEDGER_FORMAT
        );
        assert!(err.contains(&expected), "{cmd:?}: {err}");
    }
}

#[test]
fn a_ledger_from_an_older_format_is_refused_clearly() {
    let f = Fixture::sample();
    {
        // What the previous table layout wrote: format 1 (one row per execution).
        let db = redb::Database::open(&f.db).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut meta = txn.open_table(ledger::log::tables::META).unwrap();
            meta.insert("format", &1u16.to_le_bytes()[..]).unwrap();
        }
        txn.commit().unwrap();
    }
    for cmd in [&["verify"][..], &["replay"], &["import", "x.jsonl"]] {
        let err = f.run(cmd).fails();
        assert!(
            err.contains("ledger format 1 was written by an older build"),
            "{cmd:?}: {err}"
        );
    }
}
