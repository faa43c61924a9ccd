//! `ledger audit`: one position's events, lives, recomputation and proof.

use crate::support::{Fixture, redact};

#[test]
fn audit_of_btc_human() {
    let f = Fixture::sample();
    insta::assert_snapshot!(redact(&f.run(&["audit", "bybit:linear:BTCUSDT"]).ok(), &f));
}

#[test]
fn audit_of_eth_json() {
    let f = Fixture::sample();
    let out = f.run(&["--json", "audit", "hyperliquid:perps:ETH"]).ok();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["matches_replay"], true);
    assert_eq!(v["chain_ok"], true);
    insta::assert_json_snapshot!(v);
}

#[test]
fn audit_lists_only_that_position_in_seq_order() {
    let f = Fixture::sample();
    let v: serde_json::Value =
        serde_json::from_str(&f.run(&["--json", "audit", "hyperliquid:perps:ETH"]).ok()).unwrap();
    let events = v["events"].as_array().unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    // Order events name only the order: they are found through the order's position.
    assert!(events.iter().any(|e| e["type"] == "order_expired"));
    assert!(
        events
            .iter()
            .all(|e| e.get("instrument").is_none_or(|i| i == "ETH"))
    );
}

#[test]
fn audit_of_an_unknown_position_names_the_known_ones() {
    let f = Fixture::sample();
    let err = f.run(&["audit", "bybit:linear:DOGEUSDT"]).fails();
    assert!(
        err.contains("no events for position bybit:linear:DOGEUSDT"),
        "{err}"
    );
    assert!(err.contains("hyperliquid:perps:ETH"), "{err}");
    let err = f.run(&["audit", "not-a-key"]).fails();
    assert!(
        err.contains("expected <venue>:<book>:<instrument>"),
        "{err}"
    );
}
