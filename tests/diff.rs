//! `ledger diff A B`: first differing seq, the events there, projections side by side,
//! and the exit status (0 identical, 1 different, 2 trouble).

use crate::support::{Fixture, ledger, redact, sample};

/// The sample with fill `e-3` at 42210 instead of 42200.
fn modified_sample() -> String {
    let text = std::fs::read_to_string(sample()).unwrap();
    let from = r#""exec_id":"e-3","side":"buy","px":"42200""#;
    assert!(text.contains(from));
    text.replace(from, r#""exec_id":"e-3","side":"buy","px":"42210""#)
}

/// The sample fixture plus `other.redb` imported from `text`.
fn with_other(text: &str) -> Fixture {
    let f = Fixture::sample();
    let file = f.write("other.jsonl", text);
    let other = f.dir.path().join("other.redb");
    ledger(f.dir.path(), &other, &["import", file.to_str().unwrap()]).ok();
    f
}

#[test]
fn diff_of_a_changed_fill_human_and_json() {
    let f = with_other(&modified_sample());
    let run = f.run(&["diff", "test.redb", "other.redb"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    insta::assert_snapshot!(redact(&run.stdout, &f));
    let run = f.run(&["--json", "diff", "test.redb", "other.redb"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&redact(&run.stdout, &f)).unwrap();
    assert_eq!(v["first_difference"]["seq"], 33);
    insta::assert_json_snapshot!(v);
}

#[test]
fn diff_of_identical_logs_names_the_common_head() {
    let sample_text = std::fs::read_to_string(sample()).unwrap();
    let f = with_other(&sample_text);
    let run = f.run(&["diff", "test.redb", "other.redb"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!(redact(&run.stdout, &f));
    let run = f.run(&["--json", "diff", "test.redb", "other.redb"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["identical"], true);
    assert_eq!(v["common_blocks_seq"], 52);
    assert_eq!(v["first_difference"], serde_json::Value::Null);
}

#[test]
fn diff_of_a_shorter_log_shows_the_absent_side() {
    let text = std::fs::read_to_string(sample()).unwrap();
    let head: String = text.lines().take(40).map(|l| format!("{l}\n")).collect();
    let f = with_other(&head);
    let run = f.run(&["--json", "diff", "test.redb", "other.redb"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["first_difference"]["seq"], 41);
    assert_eq!(v["first_difference"]["b"], serde_json::Value::Null);
    assert!(v["first_difference"]["a"]["type"].is_string());
    let human = f.run(&["diff", "test.redb", "other.redb"]).stdout;
    assert!(human.contains("  b: (absent)"), "{human}");
}

#[test]
fn diff_with_a_missing_ledger_is_trouble() {
    let f = Fixture::sample();
    let run = f.run(&["diff", "test.redb", "missing.redb"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no ledger here"), "{}", run.stderr);
}
