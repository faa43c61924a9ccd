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
    // One writer at a time: a second one is refused, saying why. Readers are not
    // (tests/live_reads.rs).
    f.write("more.jsonl", "");
    let err = f.run(&["import", "more.jsonl"]).fails();
    assert!(
        err.contains("held by another running ledger process"),
        "{err}"
    );
    f.run(&["replay"]).ok();
    drop(held);
    f.run(&["import", "more.jsonl"]).ok();
}

#[test]
fn missing_input_file() {
    let f = Fixture::sample();
    let err = f.run(&["import", "does-not-exist.jsonl"]).fails();
    assert!(err.contains("cannot open does-not-exist.jsonl"), "{err}");
}

#[test]
fn reconcile_refuses_a_missing_ledger_and_a_readable_key_file() {
    let f = Fixture::sample();
    let missing = f.dir.path().join("typo.redb");
    let err = f
        .run(&[
            "reconcile",
            "--venue",
            "bybit",
            "--db",
            missing.to_str().unwrap(),
        ])
        .fails();
    assert!(err.contains("no ledger at"), "{err}");
    assert!(!missing.exists(), "a mistyped path became a ledger");
    let keys = f.write("keys", "key=k\nsecret=never-print-this\n");
    std::fs::set_permissions(&keys, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let err = f
        .run(&[
            "reconcile",
            "--venue",
            "bybit",
            "--keys",
            keys.to_str().unwrap(),
        ])
        .fails();
    assert!(err.contains("chmod 600"), "{err}");
    assert!(!err.contains("never-print-this"), "{err}");
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

/// Issue 9 errors: a line that is JSON but no object says what a line must be (not
/// serde's "expected struct Head"); a position is a column on the file's own line.
#[test]
fn a_line_that_is_not_an_object_and_a_bad_column() {
    check("null", "is not an event: each line must be one JSON object");
    check("[1]", "is not an event");
    let f = Fixture::empty();
    let path = f.write(
        "col.jsonl",
        &format!("{GOOD}\n{}\n", GOOD.replace("42001", "4x")),
    );
    let err = f.run(&["import", path.to_str().unwrap()]).fails();
    assert!(err.contains("col.jsonl:2: "), "{err}");
    assert!(err.contains("(column "), "{err}");
    assert!(
        !err.contains("line 1 column"),
        "no serde line 1 on line 2: {err}"
    );
}

/// Issue 9 errors: a byte order mark before the first line is accepted (as CSV and
/// YAML inputs accept one).
#[test]
fn a_byte_order_mark_is_accepted() {
    let f = Fixture::empty();
    let path = f.write("bom.jsonl", &format!("\u{feff}{GOOD}\n{GOOD}\n"));
    let v: serde_json::Value =
        serde_json::from_str(&f.run(&["--json", "import", path.to_str().unwrap()]).ok()).unwrap();
    assert_eq!(v["appended"], 2);
}

/// Issue 9 errors: `--checkpoint-every 0` is refused with the valid range.
#[test]
fn checkpoint_every_zero_is_refused() {
    let f = Fixture::empty();
    let path = f.write("one.jsonl", GOOD);
    let run = f.run(&["import", path.to_str().unwrap(), "--checkpoint-every", "0"]);
    assert_eq!(run.code, 2, "a usage error");
    assert!(run.stderr.contains("1.."), "{}", run.stderr);
    assert!(!f.db.exists(), "nothing was created");
}

/// Issue 9 errors: events older than one before them are taken (a log is in seq
/// order; a backfilled fill is legitimately older) but counted and reported.
#[test]
fn events_out_of_time_order_are_counted() {
    let f = Fixture::sample();
    // The sample ends at 2026-01-06T01:00:00Z; the second and third go back.
    let at = |ts: &str| GOOD.replace("2026-01-05T00:00:02Z", ts);
    let text = [
        at("2026-01-07T00:00:00Z"),
        at("2026-01-05T00:00:00Z"),
        at("2026-01-06T12:00:00Z"),
        at("2026-01-07T00:00:01Z"),
    ]
    .join("\n");
    let path = f.write("late.jsonl", &text);
    let v: serde_json::Value =
        serde_json::from_str(&f.run(&["--json", "import", path.to_str().unwrap()]).ok()).unwrap();
    assert_eq!(v["appended"], 4);
    assert_eq!(v["out_of_time_order"], 2);
    let path = f.write("late2.jsonl", &at("2026-01-01T00:00:00Z"));
    let human = f.run(&["import", path.to_str().unwrap()]).ok();
    assert!(
        human.contains("1 events are older than an event before them"),
        "{human}"
    );
}

/// Issue 9: messages, not debug dumps, for a non-UTF-8 byte, a gzip file and a
/// duplicated header.
#[test]
fn csv_encoding_compression_and_duplicate_headers_are_explained() {
    let f = Fixture::empty();
    let strategy = crate::support::root().join("replay/strategies/ema_trend.yaml");
    let strategy = strategy.to_str().unwrap();
    let bytes: &[u8] = b"time,open,high,low,close,volume\n2026-01-01T00:00:00Z,1,2,0.5,1\xff,1\n";
    std::fs::write(f.dir.path().join("latin1.csv"), bytes).unwrap();
    std::fs::write(f.dir.path().join("bars.csv.gz"), [0x1f, 0x8b, 8, 0, 0, 0]).unwrap();
    f.write(
        "dup.csv",
        "time,open,high,low,close,close,volume\n2026-01-01T00:00:00Z,1,2,0.5,1,1,1\n",
    );
    for (file, says) in [
        ("latin1.csv", "latin1.csv:2: not UTF-8 text: field 5"),
        ("bars.csv.gz", "bars.csv.gz:1: the file is gzip-compressed"),
        (
            "dup.csv",
            "dup.csv:1: the header has `close` (close) more than once (columns 5, 6)",
        ),
    ] {
        let err = f
            .run(&["run", "--strategy", strategy, "--data", file])
            .fails();
        assert!(err.contains(says), "{file}: {err}");
        assert!(
            !err.contains("Utf8 {") && !err.contains("part-way"),
            "{err}"
        );
    }
}

/// Issue 9: a candle line whose open time is after its timestamp is refused, naming
/// the line.
#[test]
fn a_candle_opening_after_its_timestamp_is_refused() {
    let f = Fixture::empty();
    let file = f.write(
        "candles.jsonl",
        concat!(
            r#"{"type":"candle","ts":"2026-01-01T00:01:00Z","venue":"v","book":"b","instrument":"X","timeframe":"1m","open_time":"2026-01-01T00:00:00Z","open":"1","high":"1","low":"1","close":"1","volume":"1","closed":true}"#,
            "\n",
            r#"{"type":"candle","ts":"2026-01-01T00:01:00Z","venue":"v","book":"b","instrument":"X","timeframe":"1m","open_time":"2026-01-01T00:05:00Z","open":"1","high":"1","low":"1","close":"1","volume":"1","closed":true}"#,
            "\n"
        ),
    );
    let err = f.run(&["import", file.to_str().unwrap()]).fails();
    assert!(
        err.contains("candles.jsonl:2") && err.contains("open_time"),
        "{err}"
    );
}

/// Issue 9: plays that cannot mean anything are refused with the reason.
#[test]
fn empty_cases_control_characters_and_division_by_zero_are_refused() {
    let f = Fixture::empty();
    f.write("bars.csv", "time,open,high,low,close,volume\n2026-01-01T00:00:00Z,1,1,1,1,1\n2026-01-01T00:01:00Z,1,1,1,1,1\n");
    let head = "instruments: [bybit:linear:BTCUSDT]\ntimeframe: 1m\nfeatures: {}\n";
    let case = "cases:\n  - when: [\"close > 1\"]\n    then: { action: entry, side: buy, size: { qty: \"0.01\" } }\n";
    for (name, text, says) in [
        (
            "empty.yaml",
            format!("id: t\n{head}cases: []\n"),
            "empty.yaml:5: cases: list at least one case",
        ),
        (
            "nl.yaml",
            format!("id: \"a\\nb\"\n{head}{case}"),
            "nl.yaml:1: id: must not contain control characters",
        ),
        (
            "div.yaml",
            format!(
                "id: t\n{head}{}",
                case.replace("close > 1", "close / 0 > 1")
            ),
            "div.yaml:6: cases[0].when[0]: division by zero at column 9",
        ),
    ] {
        f.write(name, &text);
        let err = f
            .run(&["run", "--strategy", name, "--data", "bars.csv"])
            .fails();
        assert!(err.contains(says), "{name}: {err}");
    }
}

/// `generate-candles --json` says what it wrote, on stdout.
#[test]
fn generate_candles_json_reports_what_it_wrote() {
    let f = Fixture::empty();
    let out = f
        .run(&[
            "--json",
            "generate-candles",
            "--bars",
            "3",
            "--out",
            "g.csv",
        ])
        .ok();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["bars"], 3);
    assert_eq!(v["first_open_time"], "2026-01-01T00:00:00Z");
    assert_eq!(v["last_open_time"], "2026-01-01T00:02:00Z");
}
