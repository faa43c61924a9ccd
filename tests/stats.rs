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
