//! `ledger replay`: positions from genesis and from checkpoints.

use crate::support::{Fixture, sample};

#[test]
fn replay_of_the_sample_human() {
    let f = Fixture::sample();
    insta::assert_snapshot!(f.run(&["replay"]).ok());
}

#[test]
fn replay_of_the_sample_json() {
    let f = Fixture::sample();
    let out = f.run(&["--json", "replay"]).ok();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    insta::assert_json_snapshot!(v);
}

#[test]
fn replay_from_every_checkpoint_equals_replay_from_genesis() {
    // A checkpoint every 5 events gives many starting points.
    let f = Fixture::with_import(&sample(), &["--checkpoint-every", "5"]);
    let genesis: serde_json::Value =
        serde_json::from_str(&f.run(&["--json", "replay"]).ok()).unwrap();
    let head = genesis["head_seq"].as_u64().unwrap();
    let mut used_checkpoints = 0;
    for from in 1..=head {
        let out = f
            .run(&["--json", "replay", "--from", &from.to_string()])
            .ok();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["positions"], genesis["positions"], "from {from}");
        assert_eq!(
            v["projection_hash"], genesis["projection_hash"],
            "from {from}"
        );
        if v["checkpoint_seq"].is_u64() {
            used_checkpoints += 1;
        }
    }
    assert!(
        used_checkpoints > head / 2,
        "checkpoints were used ({used_checkpoints})"
    );
}

#[test]
fn replay_to_a_seq_stops_there() {
    let f = Fixture::sample();
    let out = f.run(&["--json", "replay", "--to", "1"]).ok();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["head_seq"], 1);
    assert_eq!(v["positions"], serde_json::json!([]));
}

#[test]
fn replay_from_outside_the_log_is_an_error() {
    let f = Fixture::sample();
    let err = f.run(&["replay", "--from", "100000"]).fails();
    assert!(err.contains("outside the log"), "{err}");
}

/// Issue 9 errors: a replay range is checked against the log, never clamped: a `--to`
/// past the head, `--from 0`, or `--from` after `--to` each name the real range.
#[test]
fn replay_ranges_are_checked_not_clamped() {
    let f = Fixture::sample();
    for (args, expected) in [
        (
            vec!["--from", "20", "--to", "10"],
            "--from 20 is after --to 10",
        ),
        (
            vec!["--from", "20000", "--to", "10000"],
            "--to 10000 is outside the log (1..=52)",
        ),
        (vec!["--to", "53"], "--to 53 is outside the log (1..=52)"),
        (vec!["--from", "0"], "--from 0 is outside the log (1..=52)"),
        (vec!["--to", "0"], "--to 0 is outside the log (1..=52)"),
    ] {
        let mut cmd = vec!["replay"];
        cmd.extend(args.iter().copied());
        let err = f.run(&cmd).fails();
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    let empty = Fixture::empty();
    empty.write("e.jsonl", "");
    empty.run(&["import", "e.jsonl"]).ok();
    let err = empty.run(&["replay", "--to", "1"]).fails();
    assert!(err.contains("the ledger is empty"), "{err}");
}
