//! Order types, time in force, post-only, reduce-only and the one-bar stop/target rule.

use super::*;

const BUY: Side = Side::Buy;
const SELL: Side = Side::Sell;

#[test]
fn bar_close_market_fills_on_acceptance_slipped_against_the_taker() {
    let mut w = World::new(SimConfig {
        slippage_bps: d("10"),
        ..config()
    });
    w.market(bar(60, ["99", "101", "98", "100", "10"]));
    // 100 × 1.001 = 100.1; fee 2 × 100.1 × 0.0005 = 0.1001.
    assert_eq!(
        w.submit(60, order("e1", BUY, "2")),
        [
            "60 accepted e1",
            "60 fill e1 buy 2@100.1 fee 0.1001 Taker sim-1"
        ]
    );
    // 100 × 0.999 = 99.9; fee 99.9 × 0.0005 = 0.04995.
    assert_eq!(
        w.submit(60, order("x1", SELL, "1")),
        [
            "60 accepted x1",
            "60 fill x1 sell 1@99.9 fee 0.04995 Taker sim-2"
        ]
    );
    assert_eq!(w.position(), Some((d("1"), d("100.1"))));
}

#[test]
fn next_open_market_waits_for_the_next_bar_and_fills_at_its_open() {
    let mut w = World::new(SimConfig {
        market_fill: MarketFill::NextOpen,
        slippage_bps: d("10"),
        ..config()
    });
    w.market(bar(60, ["99", "101", "98", "100", "10"]));
    assert_eq!(w.submit(60, order("e1", BUY, "1")), ["60 accepted e1"]);
    // 101 × 1.001 = 101.101; fee 0.0505505.
    assert_eq!(
        w.market(bar(120, ["101", "102", "100", "101.5", "10"])),
        ["120 fill e1 buy 1@101.101 fee 0.0505505 Taker sim-1"]
    );
    assert_eq!(w.position(), Some((d("1"), d("101.101"))));
}

#[test]
fn bar_close_market_without_a_price_is_rejected() {
    let mut w = World::new(config());
    assert_eq!(
        w.submit(0, order("e1", BUY, "1")),
        ["0 rejected e1 (no market price yet to fill a market order)"]
    );
}

#[test]
fn resting_limit_fills_only_when_traded_through_at_its_price_as_maker() {
    let mut w = World::new(config());
    w.market(bar(60, ["100", "101", "99.5", "100", "10"]));
    assert_eq!(
        w.submit(60, order("b", BUY, "1").limit("99")),
        ["60 accepted b"]
    );
    // Touching 99 is not enough.
    assert!(
        w.market(bar(120, ["100", "100.5", "99", "99.5", "10"]))
            .is_empty()
    );
    // Opens through it at 98: still filled at 99 (no gap improvement); fee 99 × 0.0002.
    assert_eq!(
        w.market(bar(180, ["98", "99.8", "97.5", "99", "10"])),
        ["180 fill b buy 1@99 fee 0.0198 Maker sim-1"]
    );
    assert_eq!(
        w.submit(180, order("s", SELL, "1").limit("101")),
        ["180 accepted s"]
    );
    assert!(
        w.market(bar(240, ["100", "101", "99", "100", "10"]))
            .is_empty()
    );
    assert_eq!(
        w.market(bar(300, ["100", "101.5", "99", "100", "10"])),
        ["300 fill s sell 1@101 fee 0.0202 Maker sim-2"]
    );
    assert_eq!(w.position(), None);
}

#[test]
fn marketable_limit_takes_at_the_last_price_capped_by_its_limit() {
    let mut w = World::new(config());
    w.market(bar(60, ["100", "101", "99", "100", "10"]));
    assert_eq!(
        w.submit(60, order("a", BUY, "1").limit("101")),
        ["60 accepted a", "60 fill a buy 1@100 fee 0.05 Taker sim-1"]
    );
    let mut w = World::new(SimConfig {
        slippage_bps: d("10"),
        ..config()
    });
    w.market(bar(60, ["100", "101", "99", "100", "10"]));
    // Slipped 100.1 is beyond the limit: capped at 100.05; fee 0.050025.
    assert_eq!(
        w.submit(60, order("a", BUY, "1").limit("100.05")),
        [
            "60 accepted a",
            "60 fill a buy 1@100.05 fee 0.050025 Taker sim-1"
        ]
    );
}

#[test]
fn stop_market_triggers_then_fills_at_the_trigger_or_the_gapped_open() {
    let mut w = World::new(config());
    w.market(bar(60, ["100", "101", "99", "100", "10"]));
    w.submit(60, order("e", BUY, "2"));
    assert_eq!(
        w.submit(60, order("sl", SELL, "2").stop("95").reduce_only()),
        ["60 accepted sl"]
    );
    assert!(
        w.market(bar(120, ["100", "100", "95.5", "96", "10"]))
            .is_empty()
    );
    // Fee 2 × 95 × 0.0005 = 0.095.
    assert_eq!(
        w.market(bar(180, ["97", "98", "94", "96", "10"])),
        [
            "180 triggered sl",
            "180 fill sl sell 2@95 fee 0.095 Taker sim-2"
        ]
    );
    assert_eq!(w.position(), None);
    // A buy stop at 105 on a bar opening at 107: fills at the open.
    assert_eq!(
        w.submit(180, order("bs", BUY, "1").stop("105")),
        ["180 accepted bs"]
    );
    assert_eq!(
        w.market(bar(240, ["107", "108", "106", "107", "10"])),
        [
            "240 triggered bs",
            "240 fill bs buy 1@107 fee 0.0535 Taker sim-3"
        ]
    );
    assert_eq!(w.position(), Some((d("1"), d("107"))));
}

#[test]
fn stop_limit_fills_at_the_trigger_or_rests_when_gapped_past_its_limit() {
    let mut w = World::new(config());
    w.market(bar(60, ["100", "101", "99", "100", "10"]));
    w.submit(60, order("up", BUY, "1").stop_limit("105", "106"));
    assert_eq!(
        w.market(bar(120, ["104", "105.5", "103.5", "105", "10"])),
        [
            "120 triggered up",
            "120 fill up buy 1@105 fee 0.0525 Taker sim-1"
        ]
    );
    // Sell stop 95 limit 94 on a bar opening at 93: triggered, rests at 94.
    w.submit(120, order("down", SELL, "2").stop_limit("95", "94"));
    assert_eq!(
        w.market(bar(180, ["93", "93.5", "92", "93", "10"])),
        ["180 triggered down"]
    );
    assert_eq!(
        w.market(bar(240, ["93", "94.5", "92.5", "94", "10"])),
        ["240 fill down sell 2@94 fee 0.0376 Maker sim-2"]
    );
    assert_eq!(w.position(), Some((d("-1"), d("94"))));
}

#[test]
fn stop_and_target_in_one_bar_assume_the_stop_first_and_cancel_the_target() {
    let mut w = World::new(config());
    w.market(bar(60, ["100", "101", "99", "100", "10"]));
    w.submit(60, order("e", BUY, "1"));
    // The target is older (better time priority) and still loses to the stop.
    w.submit(60, order("tp", SELL, "1").limit("110").reduce_only());
    w.submit(60, order("sl", SELL, "1").stop("95").reduce_only());
    assert_eq!(
        w.market(bar(120, ["100", "111", "94", "105", "10"])),
        [
            "120 triggered sl",
            "120 fill sl sell 1@95 fee 0.0475 Taker sim-2",
            "120 cancelled tp (reduce-only: position closed)",
        ]
    );
    assert_eq!(w.position(), None);
    assert!(w.open_orders().is_empty());
}

#[test]
fn partial_fills_share_each_bars_volume_in_time_priority() {
    let mut w = World::new(SimConfig {
        liquidity: LiquidityModel::VolumeShare(d("0.1")),
        ..config()
    });
    w.market(bar(60, ["100", "101", "99.5", "100", "10"]));
    w.submit(60, order("a", BUY, "3").limit("99"));
    w.submit(60, order("b", BUY, "2").limit("99"));
    // Budget 0.1 × 20 = 2: all to `a`.
    assert_eq!(
        w.market(bar(120, ["99", "99.5", "98", "99", "20"])),
        ["120 fill a buy 2@99 fee 0.0396 Maker sim-1"]
    );
    let open = w.open_orders();
    assert_eq!(open[0], ("a".into(), d("3"), d("2"), Some(d("99"))));
    // Budget 3: the rest of `a` (1), then `b` (2).
    assert_eq!(
        w.market(bar(180, ["99", "99.5", "98", "99", "30"])),
        [
            "180 fill a buy 1@99 fee 0.0198 Maker sim-2",
            "180 fill b buy 2@99 fee 0.0396 Maker sim-3",
        ]
    );
    assert_eq!(w.position(), Some((d("5"), d("99"))));
    assert!(w.open_orders().is_empty());
}

#[test]
fn ioc_cancels_what_does_not_fill_at_once() {
    let mut w = World::new(SimConfig {
        liquidity: LiquidityModel::VolumeShare(d("0.1")),
        ..config()
    });
    // Budget 0.1 × 10 = 1.
    w.market(bar(60, ["100", "101", "99", "100", "10"]));
    assert_eq!(
        w.submit(60, order("m", BUY, "3").tif(TimeInForce::Ioc)),
        [
            "60 accepted m",
            "60 fill m buy 1@100 fee 0.05 Taker sim-1",
            "60 cancelled m (ioc: unfilled remainder cancelled)",
        ]
    );
    assert_eq!(
        w.submit(60, order("l", BUY, "1").limit("90").tif(TimeInForce::Ioc)),
        [
            "60 accepted l",
            "60 cancelled l (ioc: unfilled remainder cancelled)"
        ]
    );
    assert_eq!(w.position(), Some((d("1"), d("100"))));
}

#[test]
fn fok_fills_all_at_once_or_is_killed() {
    let mut w = World::new(SimConfig {
        liquidity: LiquidityModel::VolumeShare(d("0.1")),
        ..config()
    });
    w.market(bar(60, ["100", "101", "99", "100", "10"]));
    assert_eq!(
        w.submit(60, order("big", BUY, "3").tif(TimeInForce::Fok)),
        [
            "60 accepted big",
            "60 cancelled big (fok: could not fill in full)"
        ]
    );
    assert_eq!(
        w.submit(60, order("fits", BUY, "1").tif(TimeInForce::Fok)),
        [
            "60 accepted fits",
            "60 fill fits buy 1@100 fee 0.05 Taker sim-1"
        ]
    );
}

#[test]
fn post_only_is_rejected_when_it_would_cross_and_rests_as_maker_otherwise() {
    let mut w = World::new(config());
    w.market(bar(60, ["100", "101", "99", "100", "10"]));
    assert_eq!(
        w.submit(60, order("x", BUY, "1").limit("100").post_only()),
        ["60 rejected x (post-only: would cross the last price 100)"]
    );
    assert_eq!(
        w.submit(60, order("p", BUY, "1").limit("99.5").post_only()),
        ["60 accepted p"]
    );
    assert_eq!(
        w.amend(60, "p", None, Some("100.5")),
        ["60 amend_rejected p (post-only: would cross the last price 100)"]
    );
    assert_eq!(
        w.submit(60, order("m", BUY, "1").post_only()),
        ["60 rejected m (post-only requires a limit order)"]
    );
    assert_eq!(
        w.market(bar(120, ["100", "100", "99", "99.5", "10"])),
        ["120 fill p buy 1@99.5 fee 0.0199 Maker sim-1"]
    );
}

#[test]
fn reduce_only_is_rejected_without_a_position_or_when_it_would_increase_it() {
    let mut w = World::new(config());
    w.market(bar(60, ["100", "101", "99", "100", "10"]));
    assert_eq!(
        w.submit(60, order("r1", SELL, "1").reduce_only()),
        ["60 rejected r1 (reduce-only: no position to reduce)"]
    );
    w.submit(60, order("e", BUY, "1"));
    assert_eq!(
        w.submit(60, order("r2", BUY, "1").limit("90").reduce_only()),
        ["60 rejected r2 (reduce-only: would increase the position)"]
    );
    // Larger than the position: fills 1 at the last price, the rest is swept.
    assert_eq!(
        w.submit(60, order("r3", SELL, "3").limit("99").reduce_only()),
        [
            "60 accepted r3",
            "60 fill r3 sell 1@100 fee 0.05 Taker sim-2",
            "60 cancelled r3 (reduce-only: position closed)",
        ]
    );
    assert_eq!(w.position(), None);
}

#[test]
fn going_flat_cancels_the_remaining_reduce_only_orders() {
    let mut w = World::new(config());
    w.market(bar(60, ["100", "101", "99", "100", "10"]));
    w.submit(60, order("e", BUY, "2"));
    w.submit(60, order("sl", SELL, "2").stop("90").reduce_only());
    w.submit(60, order("tp", SELL, "2").limit("120").reduce_only());
    assert_eq!(
        w.submit(60, order("x", SELL, "2")),
        [
            "60 accepted x",
            "60 fill x sell 2@100 fee 0.1 Taker sim-2",
            "60 cancelled sl (reduce-only: position closed)",
            "60 cancelled tp (reduce-only: position closed)",
        ]
    );
    assert!(w.open_orders().is_empty());
}

#[test]
fn trade_prints_match_like_one_price_bars_with_their_own_volume_share() {
    let k = key();
    let print = |secs: i64, px: &str, qty: &str| {
        let trade = Trade {
            venue: k.venue.clone(),
            book: k.book.clone(),
            instrument: k.instrument.clone(),
            px: d(px),
            qty: d(qty),
            side: None,
            trade_id: None,
        };
        Event::new(t(secs), Payload::Trade(trade))
    };
    let mut w = World::new(SimConfig {
        liquidity: LiquidityModel::VolumeShare(d("0.1")),
        ..config()
    });
    w.market(print(1, "100", "5"));
    w.submit(1, order("b", BUY, "1").limit("99"));
    // A print at the limit does not trade through it.
    assert!(w.market(print(2, "99", "50")).is_empty());
    // 0.1 × 5 = 0.5 per print; fee 0.5 × 99 × 0.0002 = 0.0099.
    assert_eq!(
        w.market(print(3, "98.9", "5")),
        ["3 fill b buy 0.5@99 fee 0.0099 Maker sim-1"]
    );
    assert_eq!(
        w.market(print(4, "98.5", "20")),
        ["4 fill b buy 0.5@99 fee 0.0099 Maker sim-2"]
    );
    assert_eq!(w.position(), Some((d("1"), d("99"))));
}
