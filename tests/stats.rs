//! `ledger stats`.

use crate::support::{Fixture, redact};

#[test]
fn stats_of_the_sample() {
    let f = Fixture::sample();
    let human = redact(&f.run(&["stats"]).ok(), &f);
    // File sizes depend on redb's allocation; the rest is stable.
    let filters = vec![(r"file \d+ bytes \([0-9.]+ per event\)", "file [SIZE]")];
    insta::with_settings!({filters => filters}, { insta::assert_snapshot!(human) });
    let mut v: serde_json::Value = serde_json::from_str(&f.run(&["--json", "stats"]).ok()).unwrap();
    assert!(v["file_bytes"].as_u64().unwrap() > 0);
    v["file_bytes"] = "[SIZE]".into();
    v["file_bytes_per_event"] = "[SIZE]".into();
    insta::assert_json_snapshot!(v);
}

#[test]
fn compact_gives_back_space_and_leaves_the_log_as_it_was() {
    // A big import leaves free pages; compaction must not change a single event.
    let f = Fixture::sample();
    let before = f.run(&["export"]).ok();
    let head: serde_json::Value = serde_json::from_str(&f.run(&["--json", "replay"]).ok()).unwrap();
    let out: serde_json::Value = serde_json::from_str(&f.run(&["--json", "compact"]).ok()).unwrap();
    assert!(
        out["bytes_after"].as_u64().unwrap() <= out["bytes_before"].as_u64().unwrap(),
        "{out}"
    );
    assert_eq!(f.run(&["export"]).ok(), before);
    let after: serde_json::Value =
        serde_json::from_str(&f.run(&["--json", "replay"]).ok()).unwrap();
    assert_eq!(after["head_hash"], head["head_hash"]);
    f.run(&["verify"]).ok();
}
