//! Reads while a session writes (issue 10): with a writer holding the ledger — as
//! `ledger run` or `ledger ingest` do for hours — every read command opens it, verifies
//! and reports the committed prefix, and never answers "database already open". A
//! second writer is still refused, as locked.

use std::process::Command;

use ledger::event::json::parse_event;
use ledger::log::{Ledger, Writer, WriterOptions};
use serde_json::Value;

use crate::support::{Fixture, Run, with_db};

/// `n` trades and fills on one instrument, from `first` (ms offsets), as events.
fn events(first: u64, n: u64) -> Vec<ledger::event::Event> {
    (first..first + n)
        .map(|i| {
            let line = if i % 3 == 0 {
                format!(
                    r#"{{"type":"fill","ts":"2026-01-05T00:00:00.{i:06}Z","venue":"bybit","book":"linear","instrument":"BTCUSDT","exec_id":"x-{i}","side":"buy","px":"42000.5","qty":"0.001","fee":"0.01","liquidity":"taker"}}"#
                )
            } else {
                format!(
                    r#"{{"type":"trade","ts":"2026-01-05T00:00:00.{i:06}Z","venue":"bybit","book":"linear","instrument":"BTCUSDT","px":"42000.{}","qty":"0.5"}}"#,
                    i % 10
                )
            };
            parse_event(&line).expect("fixture event")
        })
        .collect()
}

fn cli(f: &Fixture, args: &[&str]) -> Run {
    Run::from_output(
        Command::new(env!("CARGO_BIN_EXE_ledger"))
            .current_dir(f.dir.path())
            .args(with_db(&f.db, args))
            .output()
            .expect("the ledger binary runs"),
    )
}

fn json(run: Run) -> Value {
    serde_json::from_str(&run.ok()).expect("JSON output")
}

#[test]
fn read_commands_work_while_a_writer_holds_the_ledger_and_see_its_committed_prefix() {
    let f = Fixture::empty();
    let ledger = Ledger::open_for_session(&f.db).unwrap();
    let mut writer = Writer::new(&ledger, WriterOptions::default()).unwrap();
    writer.append(events(0, 3_000)).unwrap();
    let first = writer.commit().unwrap();
    // Appended but not committed: no reader may see these.
    writer.append(events(3_000, 500)).unwrap();

    let stats = json(cli(&f, &["--json", "stats"]));
    assert_eq!(stats["head_seq"], first.seq, "{stats}");
    let verify = json(cli(&f, &["--json", "verify"]));
    assert_eq!(verify["head_seq"], first.seq, "{verify}");
    let replay = json(cli(&f, &["--json", "replay"]));
    assert_eq!(replay["head_seq"], first.seq, "{replay}");
    assert_eq!(replay["head_hash"], stats["head_hash"]);
    let audit = json(cli(&f, &["--json", "audit", "bybit:linear:BTCUSDT"]));
    assert!(audit.is_object(), "{audit}");
    let exported = cli(&f, &["export"]).ok();
    assert_eq!(exported.lines().count() as u64, first.seq);
    cli(&f, &["--json", "report"]).ok();

    // A second writer is refused as locked (exit 1), not as corruption.
    f.write("more.jsonl", "");
    let err = cli(&f, &["import", "more.jsonl"]);
    assert_eq!(err.code, 1, "{}", err.stderr);
    assert!(
        err.stderr.contains("in use") || err.stderr.contains("lock"),
        "{}",
        err.stderr
    );

    // Readers follow the writer's commits.
    let second = writer.commit().unwrap();
    assert_eq!(second.seq, first.seq + 500);
    let stats = json(cli(&f, &["--json", "stats"]));
    assert_eq!(stats["head_seq"], second.seq);
    let fills = json(cli(&f, &["--json", "replay"]));
    assert_eq!(fills["head_seq"], second.seq);
    drop(writer);
    drop(ledger);
    // Once the writer is gone, the file is an ordinary ledger again.
    assert_eq!(json(cli(&f, &["--json", "verify"]))["head_seq"], second.seq);
}
