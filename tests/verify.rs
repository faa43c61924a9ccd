//! `ledger verify`.

use crate::support::{Fixture, redact};

#[test]
fn verify_of_the_sample_human_and_json() {
    let f = Fixture::sample();
    insta::assert_snapshot!(redact(&f.run(&["verify"]).ok(), &f));
    let v: serde_json::Value = serde_json::from_str(&f.run(&["--json", "verify"]).ok()).unwrap();
    insta::assert_json_snapshot!(v);
}

#[test]
fn verify_of_a_missing_ledger_fails_clearly() {
    let f = Fixture::empty();
    let err = f.run(&["verify"]).fails();
    assert!(err.contains("no ledger here"), "{err}");
}
