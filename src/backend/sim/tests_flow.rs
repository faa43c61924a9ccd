//! Latency, amend and cancel, fees, funding and equity, determinism, and a mixed
//! scenario checked against the projection.

use std::collections::BTreeMap;

use super::*;
use crate::reduce::OrderState;

const BUY: Side = Side::Buy;
const SELL: Side = Side::Sell;

#[test]
fn nothing_rests_or_fills_before_acceptance_time() {
    let mut w = World::new(SimConfig {
        submit_latency_ns: 100_000_000_000,
        liquidity: LiquidityModel::VolumeShare(d("0.1")),
        ..config()
    });
    w.market(bar(60, ["100", "101", "99.5", "100", "10"]));
    assert!(w.submit(60, order("a", BUY, "3").limit("99")).is_empty());
    // Trades through 99 while the order is still in flight (accepted at 160).
    assert!(
        w.market(bar(120, ["99.5", "100", "98", "99.5", "10"]))
            .is_empty()
    );
    assert!(w.open_orders().is_empty());
    assert_eq!(
        w.market(bar(180, ["99.5", "100", "98", "99.5", "10"])),
        [
            "160 accepted a",
            "180 fill a buy 1@99 fee 0.0198 Maker sim-1"
        ]
    );
    // An amend to 1.5 sent when 1 had filled arrives (at 280) after a second fill.
    assert!(w.amend(180, "a", Some("1.5"), None).is_empty());
    assert_eq!(
        w.market(bar(240, ["99.5", "100", "98", "99.5", "10"])),
        ["240 fill a buy 1@99 fee 0.0198 Maker sim-2"]
    );
    assert_eq!(
        w.market(bar(300, ["99.5", "100", "98", "99.5", "10"])),
        [
            "280 amend_rejected a (qty 1.5 is below the filled 2)",
            "300 fill a buy 1@99 fee 0.0198 Maker sim-3",
        ]
    );
    let id = ClientOrderId::from("a");
    assert_eq!(w.projection.order(&id).unwrap().state, OrderState::Filled);
}

#[test]
fn bar_close_market_with_latency_fills_at_the_close_seen_at_submit() {
    let mut w = World::new(SimConfig {
        submit_latency_ns: 5_000_000_000,
        ..config()
    });
    w.market(bar(60, ["99", "101", "98", "100", "10"]));
    assert!(w.submit(60, order("m", BUY, "1")).is_empty());
    assert_eq!(
        w.market(bar(120, ["101", "102", "100", "102", "10"])),
        ["65 accepted m", "65 fill m buy 1@100 fee 0.05 Taker sim-1"]
    );
}

#[test]
fn amend_changes_an_open_order_and_is_refused_once_it_ended() {
    let mut w = World::new(config());
    w.market(bar(60, ["100", "101", "99.5", "100", "10"]));
    w.submit(60, order("a", BUY, "1").limit("99"));
    assert_eq!(w.amend(60, "a", Some("2"), Some("98")), ["60 amended a"]);
    assert_eq!(
        w.open_orders(),
        [("a".into(), d("2"), d("0"), Some(d("98")))]
    );
    assert!(
        w.market(bar(120, ["99", "99.5", "98", "99", "10"]))
            .is_empty()
    );
    assert_eq!(
        w.market(bar(180, ["99", "99.5", "97.5", "99", "10"])),
        ["180 fill a buy 2@98 fee 0.0392 Maker sim-1"]
    );
    assert_eq!(
        w.amend(180, "a", None, Some("97")),
        ["180 amend_rejected a (order is filled)"]
    );
    w.submit(180, order("s", SELL, "1").stop("90"));
    assert_eq!(
        w.amend(180, "s", None, Some("89")),
        ["180 amend_rejected s (the order has no limit price)"]
    );
    let unknown = ClientOrderId::from("zz");
    let err = block_on(w.sim.amend(t(180), &unknown, None, Some(d("1")), None)).unwrap_err();
    assert_eq!(
        (err.to_string().as_str(), err.retryable),
        ("sim: unknown order zz", false)
    );
}

#[test]
fn an_ended_order_is_forgotten_after_a_day_of_event_time_as_the_ledger_does() {
    let mut w = World::new(config());
    w.market(bar(60, ["100", "101", "99.5", "100", "10"]));
    w.submit(60, order("a", BUY, "1").limit("99"));
    assert_eq!(
        w.market(bar(120, ["99", "99.5", "98", "99", "10"])),
        ["120 fill a buy 1@99 fee 0.0198 Maker sim-1"]
    );
    // Inside the window the venue still knows how it ended.
    let day = 24 * 3_600;
    w.market(bar(120 + day - 60, ["99", "99.5", "98", "99", "10"]));
    assert_eq!(
        w.cancel(120 + day - 60, "a"),
        [format!(
            "{} cancel_rejected a (order is filled)",
            120 + day - 60
        )]
    );
    // A day after it filled, both the venue and the projection have forgotten it.
    w.market(bar(120 + day, ["99", "99.5", "98", "99", "10"]));
    let id = ClientOrderId::from("a");
    assert!(w.projection.order(&id).is_none());
    let err = block_on(w.sim.cancel(t(120 + day), &id)).unwrap_err();
    assert_eq!(err.to_string(), "sim: unknown order a");
}

#[test]
fn amend_down_to_the_filled_quantity_completes_the_order() {
    let mut w = World::new(SimConfig {
        liquidity: LiquidityModel::VolumeShare(d("0.1")),
        ..config()
    });
    w.market(bar(60, ["100", "101", "99.5", "100", "10"]));
    w.submit(60, order("a", BUY, "3").limit("99"));
    w.market(bar(120, ["99", "99.5", "98", "99", "10"]));
    assert_eq!(w.amend(120, "a", Some("1"), None), ["120 amended a"]);
    assert!(w.open_orders().is_empty());
    let id = ClientOrderId::from("a");
    assert_eq!(w.projection.order(&id).unwrap().state, OrderState::Filled);
    assert_eq!(w.position(), Some((d("1"), d("99"))));
}

#[test]
fn cancel_removes_an_open_order_and_is_refused_when_not_open() {
    let mut w = World::new(config());
    w.market(bar(60, ["100", "101", "99.5", "100", "10"]));
    w.submit(60, order("a", BUY, "1").limit("99"));
    assert_eq!(w.cancel(60, "a"), ["60 cancelled a (cancelled on request)"]);
    assert_eq!(
        w.cancel(60, "a"),
        ["60 cancel_rejected a (order is cancelled)"]
    );
    w.submit(60, order("m", BUY, "1"));
    assert_eq!(
        w.cancel(60, "m"),
        ["60 cancel_rejected m (order is filled)"]
    );
    w.submit(60, order("r", BUY, "1").reduce_only().limit("90"));
    let rejected = ClientOrderId::from("r");
    let err = block_on(w.sim.cancel(t(60), &rejected)).unwrap_err();
    assert_eq!(err.to_string(), "sim: order r was rejected");
    let unknown = ClientOrderId::from("zz");
    assert!(
        !block_on(w.sim.cancel(t(60), &unknown))
            .unwrap_err()
            .retryable
    );
}

#[test]
fn a_repeated_submit_is_a_retry_and_does_nothing() {
    let mut w = World::new(config());
    w.market(bar(60, ["100", "101", "99.5", "100", "10"]));
    w.submit(60, order("a", BUY, "1").limit("99"));
    let again = OrderRequest {
        key: key(),
        order: order("a", BUY, "1").limit("99"),
    };
    block_on(w.sim.submit(t(61), again)).unwrap();
    assert!(w.drain().is_empty());
    assert_eq!(w.open_orders().len(), 1);
}

#[test]
fn maker_and_taker_fees_per_instrument_with_rebates() {
    let fees = super::super::FeeRates {
        maker: d("-0.0001"),
        taker: d("0.001"),
    };
    let mut w = World::new(SimConfig {
        fees_by_key: BTreeMap::from([(key(), fees)]),
        ..config()
    });
    w.market(bar(60, ["100", "101", "99.5", "100", "10"]));
    assert_eq!(
        w.submit(60, order("t", BUY, "1")),
        ["60 accepted t", "60 fill t buy 1@100 fee 0.1 Taker sim-1"]
    );
    w.submit(60, order("m", BUY, "1").limit("99"));
    assert_eq!(
        w.market(bar(120, ["99", "99.5", "98", "99", "10"])),
        ["120 fill m buy 1@99 fee -0.0099 Maker sim-2"]
    );
    // Fees 0.1 − 0.0099; marked at 99: 10000 − 199 − 0.0901 + 198.
    assert_eq!(w.equity(), d("9998.9099"));
}

#[test]
fn funding_is_paid_by_longs_and_received_by_shorts_and_moves_equity() {
    let mut w = World::new(config());
    w.market(bar(60, ["99", "101", "98", "100", "10"]));
    w.submit(60, order("e", BUY, "2"));
    assert_eq!(w.equity(), d("9999.9"));
    w.market(bar(120, ["100", "111", "100", "110", "10"]));
    assert_eq!(w.equity(), d("10019.9"));
    // −2 × 110 × 0.0001.
    assert_eq!(
        w.market(funding_rate(120, "0.0001")),
        ["120 funding -0.022"]
    );
    assert_eq!(w.equity(), d("10019.878"));
    // Flip to 2 short at 110 (fee 4 × 110 × 0.0005 = 0.22); shorts receive.
    w.submit(120, order("x", SELL, "4"));
    assert_eq!(w.market(funding_rate(180, "0.0001")), ["180 funding 0.022"]);
    assert_eq!(w.position(), Some((d("-2"), d("110"))));
    // Cash −200 + 440, fees 0.32, funding 0, held −2 × 110.
    assert_eq!(w.equity(), d("10019.68"));
    let p = w.projection.position(&key()).unwrap();
    assert_eq!(
        (p.realized, p.fees, p.funding),
        (d("20"), d("0.32"), d("0"))
    );
}

/// Submissions and requests at each bar of a mixed scenario.
fn act(w: &mut World, secs: i64, out: &mut Vec<String>) {
    let ro = |o: PlannedOrder| o.reduce_only();
    match secs {
        60 => {
            out.extend(w.submit(60, order("e1", BUY, "4")));
            out.extend(w.submit(60, ro(order("sl", SELL, "4").stop("97.5"))));
            out.extend(w.submit(60, ro(order("tp", SELL, "2").limit("104"))));
            out.extend(w.submit(60, order("l1", BUY, "2").limit("99.4")));
            out.extend(w.submit(60, order("pr", BUY, "1").limit("100").post_only()));
        }
        120 => out.extend(w.amend(120, "l1", None, Some("99.6"))),
        180 => out.extend(w.submit(180, order("s1", SELL, "1").limit("103.5").post_only())),
        240 => out.extend(w.market(funding_rate(240, "0.0001"))),
        300 => {
            out.extend(w.submit(300, order("f1", BUY, "3").tif(TimeInForce::Fok)));
            out.extend(w.submit(
                300,
                order("i1", SELL, "2").limit("90").tif(TimeInForce::Ioc),
            ));
        }
        360 => out.extend(w.submit(360, ro(order("sl2", SELL, "9").stop("99")))),
        420 => {
            out.extend(w.cancel(420, "tp"));
            out.extend(w.amend(420, "s1", Some("2"), None));
            out.extend(w.submit(420, order("b2", BUY, "2").stop_limit("104", "104.5")));
        }
        480 => out.extend(w.market(funding_rate(480, "-0.0002"))),
        _ => {}
    }
}

/// Every feature at once, with latency, slippage and a liquidity cap.
fn mixed() -> (Vec<String>, World) {
    let mut w = World::new(SimConfig {
        submit_latency_ns: 1_000_000_000,
        slippage_bps: d("5"),
        tick: d("0.01"),
        liquidity: LiquidityModel::VolumeShare(d("0.5")),
        ..config()
    });
    let bars = [
        ["100", "101", "99", "100", "10"],
        ["100", "102", "99.5", "101", "8"],
        ["101", "104", "100.5", "103", "6"],
        ["103", "103.5", "97", "98", "12"],
        ["98", "99", "96", "97", "10"],
        ["97", "101", "96.5", "100", "10"],
        ["100", "106", "99.5", "105", "10"],
        ["105", "105.5", "101", "102", "10"],
        ["102", "103", "100", "101", "10"],
    ];
    let mut out = Vec::new();
    for (i, ohlcv) in bars.into_iter().enumerate() {
        let secs = 60 * (i as i64 + 1);
        out.extend(w.market(bar(secs, ohlcv)));
        act(&mut w, secs, &mut out);
    }
    (out, w)
}

#[test]
fn the_same_inputs_give_the_same_reports() {
    let (first, a) = mixed();
    let (second, b) = mixed();
    assert_eq!(first, second);
    assert_eq!(a.log, b.log);
    assert_eq!(a.projection.hash(), b.projection.hash());
}

#[test]
fn a_mixed_scenario_is_legal_for_the_projection_and_agrees_with_it() {
    let (out, w) = mixed();
    // Every report was applied by the harness; the positions must agree too.
    let position = w.position();
    for kind in [
        "accepted",
        "rejected",
        "triggered",
        "fill",
        "cancelled",
        "amended",
        "funding",
    ] {
        assert!(
            out.iter().any(|l| l.split(' ').nth(1) == Some(kind)),
            "no {kind} in {out:#?}"
        );
    }
    // Equity from the projection's own accounting equals the sim's.
    let p = w.projection.position(&key()).unwrap();
    let net = p
        .realized
        .checked_sub(p.fees)
        .unwrap()
        .checked_add(p.funding)
        .unwrap();
    let projected = d("10000")
        .checked_add(net)
        .unwrap()
        .checked_add(p.unrealized());
    assert_eq!(projected, Some(w.equity()), "{out:#?} {position:?}");
}
