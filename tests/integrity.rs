//! Integrity and identity (issue 9, items 2, 3, 12, 13, 14): conflicting duplicates,
//! overfills, commands that must refuse a corrupted ledger, a head identity that does
//! not depend on block grouping, and permission errors that are not corruption.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{Fixture, Run, sample};

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The sample's fill `e-1` (seq 9), as a line of the file.
fn stored_e1() -> String {
    std::fs::read_to_string(sample())
        .unwrap()
        .lines()
        .find(|l| l.contains(r#""exec_id":"e-1""#))
        .unwrap()
        .to_string()
}

fn flip(path: &Path, offset: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset] ^= 0x5a;
    std::fs::write(path, bytes).unwrap();
}

/// Flip a byte inside a stored event of the sample ledger (a BTC fill's exec id);
/// returns its offset, so a test can flip it back.
fn corrupt(f: &Fixture) -> usize {
    let bytes = std::fs::read(&f.db).unwrap();
    let at = bytes
        .windows(6)
        .position(|w| w == b"0xaa02")
        .expect("event bytes are in the file")
        + 3;
    flip(&f.db, at);
    at
}

/// Issue 9 item 2: a fill whose `(venue, exec_id)` is stored but whose price differs
/// is a conflict: the import fails naming the file's line and the stored seq, and
/// nothing of the file is appended.
#[test]
fn a_conflicting_duplicate_is_refused_naming_the_line_and_the_stored_seq() {
    let f = Fixture::sample();
    let conflicting = stored_e1().replace(r#""px":"42000.5""#, r#""px":"42001""#);
    let text = format!(
        "{}\n{conflicting}\n",
        r#"{"type":"trade","ts":"2026-01-06T00:00:00Z","venue":"bybit","book":"linear","instrument":"BTCUSDT","px":"42000","qty":"1","side":"buy"}"#
    );
    let path = f.write("conflict.jsonl", &text);
    let run = f.run(&["import", path.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let err = run.fails();
    assert!(err.contains("conflict.jsonl:2:"), "names the line: {err}");
    assert!(err.contains("at seq 9"), "names the stored seq: {err}");
    assert!(err.contains("px"), "names the field that differs: {err}");
    let stats = json(&f.run(&["--json", "stats"]).ok());
    assert_eq!(stats["head_seq"], 52, "nothing of the file was appended");
}

/// Issue 9 item 2: an exact replay of stored executions stays idempotent; only
/// `recv_ts` (when we heard of it) may differ.
#[test]
fn an_exact_repeat_is_skipped_even_with_another_receive_time() {
    let f = Fixture::sample();
    let before = json(&f.run(&["--json", "stats"]).ok())["head_hash"].clone();
    let repeat = stored_e1().replacen(
        r#""ts":"2026-01-05T00:00:12Z""#,
        r#""ts":"2026-01-05T00:00:12Z","recv_ts":"2026-01-07T00:00:00Z""#,
        1,
    );
    let path = f.write("repeat.jsonl", &repeat);
    let v = json(&f.run(&["--json", "import", path.to_str().unwrap()]).ok());
    assert_eq!(v["appended"], 0);
    assert_eq!(v["skipped_duplicates"], 1);
    assert_eq!(v["head_hash"], before);
}

/// Issue 9 item 3: a fill of 5 on an order of 0.02 is applied (the venue's report of
/// what executed) but flagged: import warns with its seq; `replay --json`, `verify
/// --json` and `audit` show it.
#[test]
fn an_overfill_is_flagged_by_import_replay_verify_and_audit() {
    let f = Fixture::empty();
    let text = [
        r#"{"type":"order_submitted","ts":"2026-01-05T00:00:10Z","venue":"bybit","book":"linear","instrument":"BTCUSDT","client_order_id":"c-1","side":"buy","order_type":"limit","qty":"0.02","px":"42000.5","tif":"gtc","reduce_only":false,"post_only":false}"#,
        r#"{"type":"order_accepted","ts":"2026-01-05T00:00:11Z","client_order_id":"c-1","venue_order_id":"v-1"}"#,
        r#"{"type":"fill","ts":"2026-01-05T00:00:12Z","venue":"bybit","book":"linear","instrument":"BTCUSDT","order_id":"c-1","exec_id":"e-1","side":"buy","px":"42000.5","qty":"5","fee":"0","liquidity":"maker"}"#,
    ]
    .join("\n");
    let path = f.write("overfill.jsonl", &text);
    let human = f.run(&["import", path.to_str().unwrap()]);
    assert_eq!(human.code, 0, "{}", human.stderr);
    assert!(
        human.stdout.contains("overfill) at seq 3"),
        "import warns: {}",
        human.stdout
    );
    let replay = json(&f.run(&["--json", "replay"]).ok());
    assert_eq!(replay["overfills"], serde_json::json!([3]));
    let verify = json(&f.run(&["--json", "verify"]).ok());
    assert_eq!(verify["overfills"], serde_json::json!([3]));
    let audit = json(&f.run(&["--json", "audit", "bybit:linear:BTCUSDT"]).ok());
    assert_eq!(audit["overfills"], serde_json::json!([3]));
    let fill = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["seq"] == 3)
        .unwrap();
    assert_eq!(fill["overfill"], true);
    let audit = f.run(&["audit", "bybit:linear:BTCUSDT"]).ok();
    assert!(audit.contains("OVERFILL"), "{audit}");
}

/// Issue 9 item 12: `diff` reads and checks every block of both ledgers: a flipped
/// byte in a body is corruption (exit 3), not "identical".
#[test]
fn diff_refuses_a_corrupted_ledger() {
    let pristine = Fixture::sample();
    let damaged = Fixture::sample();
    corrupt(&damaged);
    for (a, b) in [
        (&damaged.db, &pristine.db),
        (&pristine.db, &damaged.db),
        (&damaged.db, &damaged.db),
    ] {
        let run = pristine.run(&["diff", a.to_str().unwrap(), b.to_str().unwrap()]);
        assert_eq!(run.code, 3, "{a:?} vs {b:?}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains("corrupted ledger at seq"),
            "{}",
            run.stderr
        );
    }
}

/// Issue 9 item 12: nothing appends to or compacts a ledger whose chain does not
/// verify: `import` and `compact` fail with exit 3. Flipping the byte back then gives
/// the original ledger, whole: nothing was appended or rewritten around the damage.
#[test]
fn import_and_compact_refuse_a_corrupted_ledger() {
    let f = Fixture::sample();
    let before = json(&f.run(&["--json", "verify"]).ok());
    let at = corrupt(&f);
    let extra = f.write(
        "more.jsonl",
        r#"{"type":"trade","ts":"2026-01-06T00:00:00Z","venue":"bybit","book":"linear","instrument":"BTCUSDT","px":"42000","qty":"1","side":"buy"}"#,
    );
    for cmd in [vec!["import", extra.to_str().unwrap()], vec!["compact"]] {
        let run = f.run(&cmd);
        assert_eq!(run.code, 3, "{cmd:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("corrupted ledger at seq"),
            "{}",
            run.stderr
        );
    }
    flip(&f.db, at);
    let after = json(&f.run(&["--json", "verify"]).ok());
    assert_eq!(after["head_seq"], 52);
    assert_eq!(after["head_hash"], before["head_hash"]);
    assert_eq!(after["block_hash"], before["block_hash"]);
}

/// `n` trades on one instrument, one a second from 2026-01-05.
fn trades(n: u64) -> String {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"type":"trade","ts":"{}","venue":"bybit","book":"linear","instrument":"BTCUSDT","px":"{}","qty":"0.1","side":"buy"}}"#,
                ledger::event::Timestamp::from_nanos(1_767_571_200_000_000_000 + i as i64 * 1_000_000_000),
                42_000 + i % 97
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Issue 9 item 13: the head hash is the ledger's identity, a function of its events
/// alone. The same 10,000 events (crossing identity segments) imported in one go, in
/// two files, with another `--checkpoint-every`, or exported and imported again give
/// the same head hash everywhere it is printed, while the storage chains differ.
#[test]
fn the_head_hash_does_not_depend_on_how_events_were_grouped() {
    let text = trades(10_000);
    let lines: Vec<&str> = text.lines().collect();
    let one = Fixture::empty();
    let whole = one.write("all.jsonl", &text);
    one.run(&["import", whole.to_str().unwrap()]).ok();

    let two = Fixture::empty();
    let first = two.write("first.jsonl", &lines[..4_321].join("\n"));
    let second = two.write("second.jsonl", &lines[4_321..].join("\n"));
    two.run(&[
        "import",
        first.to_str().unwrap(),
        "--checkpoint-every",
        "777",
    ])
    .ok();
    two.run(&["import", second.to_str().unwrap()]).ok();

    let three = Fixture::empty();
    let exported = three.write("exported.jsonl", &two.run(&["export"]).ok());
    three
        .run(&[
            "import",
            exported.to_str().unwrap(),
            "--checkpoint-every",
            "1",
        ])
        .ok();

    let heads = |f: &Fixture| -> Vec<Value> {
        let replay = json(&f.run(&["--json", "replay"]).ok());
        let verify = json(&f.run(&["--json", "verify"]).ok());
        let stats = json(&f.run(&["--json", "stats"]).ok());
        assert_eq!(replay["identity_recomputed"], true);
        vec![
            replay["head_hash"].clone(),
            verify["head_hash"].clone(),
            stats["head_hash"].clone(),
        ]
    };
    let expected = heads(&one);
    assert!(expected.iter().all(|h| *h == expected[0]), "{expected:?}");
    assert_eq!(heads(&two), expected);
    assert_eq!(heads(&three), expected);
    let block = |f: &Fixture| json(&f.run(&["--json", "verify"]).ok())["block_hash"].clone();
    assert_ne!(block(&one), block(&two), "the storage chains do differ");

    let run = one.run(&[
        "--json",
        "diff",
        one.db.to_str().unwrap(),
        two.db.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let diff = json(&run.stdout);
    assert_eq!(diff["identical"], true);
    assert_eq!(diff["a"]["head_hash"], diff["b"]["head_hash"]);
    // A replay up to a seq inside a segment gives the identity of that prefix.
    let prefix = Fixture::empty();
    let part = prefix.write("part.jsonl", &lines[..5_000].join("\n"));
    prefix.run(&["import", part.to_str().unwrap()]).ok();
    let partial = json(&two.run(&["--json", "replay", "--to", "5000"]).ok());
    let from_cp = json(
        &two.run(&["--json", "replay", "--from", "4500", "--to", "5000"])
            .ok(),
    );
    let own = json(&prefix.run(&["--json", "replay"]).ok());
    assert_eq!(partial["head_hash"], own["head_hash"]);
    assert_eq!(from_cp["head_hash"], own["head_hash"]);
}

/// Whether this process runs as root (whom file permissions do not stop).
fn running_as_root(dir: &Path) -> bool {
    let probe = dir.join(".uid-probe");
    std::fs::write(&probe, b"").unwrap();
    let root = std::fs::metadata(&probe).unwrap().uid() == 0;
    std::fs::remove_file(probe).unwrap();
    root
}

/// Run the binary as a user whom permissions apply to: as root (CI containers), drop
/// to `nobody` for the child, so read-only files and directories are really so.
fn unprivileged(dir: &Path, db: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ledger"));
    cmd.current_dir(dir).args(crate::support::with_db(db, args));
    if running_as_root(dir) {
        cmd.uid(65534).gid(65534);
    }
    Run::from_output(cmd.output().expect("the ledger binary runs"))
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Issue 9 item 14: a read-only ledger (file and directory) is readable by every
/// command that only reads; a write to it is a plain error (exit 1), not corruption.
#[test]
fn a_read_only_ledger_is_readable() {
    let f = Fixture::sample();
    chmod(&f.db, 0o444);
    chmod(f.dir.path(), 0o555);
    let (dir, db) = (f.dir.path(), &f.db);
    for cmd in [
        vec!["stats"],
        vec!["verify"],
        vec!["export"],
        vec!["audit", "bybit:linear:BTCUSDT"],
        vec!["replay"],
        vec!["--json", "report"],
    ] {
        let run = unprivileged(dir, db, &cmd);
        assert_eq!(run.code, 0, "{cmd:?}: {}", run.stderr);
    }
    let extra = std::env::temp_dir().join(format!("ro-extra-{}.jsonl", std::process::id()));
    std::fs::write(&extra, r#"{"type":"trade","ts":"2026-01-06T00:00:00Z","venue":"bybit","book":"linear","instrument":"BTCUSDT","px":"42000","qty":"1","side":"buy"}"#).unwrap();
    chmod(&extra, 0o644);
    let run = unprivileged(dir, db, &["import", extra.to_str().unwrap()]);
    std::fs::remove_file(&extra).unwrap();
    chmod(f.dir.path(), 0o755);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(!run.stderr.contains("corrupt"), "{}", run.stderr);
    assert!(
        run.stderr.contains(db.to_str().unwrap()),
        "names the path: {}",
        run.stderr
    );
}

/// Issue 9 item 14: a `--db` in a missing directory, or a new one in a read-only
/// directory, is an I/O error (exit 1) naming the path, never "corrupted ledger".
#[test]
fn missing_and_unwritable_paths_are_io_errors_naming_the_path() {
    let f = Fixture::empty();
    let sample = sample();
    let missing = f.dir.path().join("no/such/dir/l.redb");
    let readonly = f.dir.path().join("locked");
    std::fs::create_dir(&readonly).unwrap();
    chmod(&readonly, 0o555);
    chmod(f.dir.path(), 0o755);
    let fresh = readonly.join("new.redb");
    for (db, cmd) in [
        (&missing, vec!["stats"]),
        (&missing, vec!["import", sample.to_str().unwrap()]),
        (&fresh, vec!["import", sample.to_str().unwrap()]),
        (&fresh, vec!["stats"]),
    ] {
        let run = unprivileged(f.dir.path(), db, &cmd);
        assert_eq!(run.code, 1, "{db:?} {cmd:?}: {}", run.stderr);
        assert!(!run.stderr.contains("corrupt"), "{}", run.stderr);
        assert!(
            run.stderr.contains(db.to_str().unwrap()),
            "names the path: {}",
            run.stderr
        );
    }
    assert!(!fresh.exists(), "nothing was created");
}
