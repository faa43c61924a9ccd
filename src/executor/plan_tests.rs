//! Tests of the planning rules (`plan.rs`, `size.rs`) through `Executor::prepare` and
//! the fixtures' `check` helper: every skip reason, sizing, rounding, caps, funding,
//! exits, and the stop and target orders.

use crate::event::{
    Decimal, Intent, IntentAction, OrderType, PositionKey, Side, Size, SkipReason, Symbol, Venue,
};

use super::fixtures::*;
use crate::reduce::Position;

use super::MarketContext;
use super::plan::limit_on_tick;

#[test]
fn every_skip_reason_has_a_fixture() {
    use IntentAction::*;
    use Side::*;
    use SkipReason::*;
    let mut unknown_venue = entry(Buy, qty("0.1"));
    unknown_venue.venue = Venue::from("kraken");
    let mut unknown_symbol = entry(Buy, qty("0.1"));
    unknown_symbol.instrument = Symbol::from("DOGEUSDT");
    let mut aapl = entry(Buy, qty("1"));
    (aapl.venue, aapl.book, aapl.instrument) = ("nasdaq".into(), "stocks".into(), "AAPL".into());
    let m = market();
    let saturday = MarketContext {
        now: ts("2026-01-10T15:00:00Z"),
        ..market()
    };
    let no_px = MarketContext {
        last_px: None,
        ..market()
    };
    let funding = |rate: &str| MarketContext {
        funding_rate: Some(d(rate)),
        ..market()
    };
    let (hot, cold) = (funding("0.0051"), funding("-0.006"));
    let cheap = MarketContext {
        last_px: Some(d("4000")),
        ..market()
    };
    let rich = MarketContext {
        equity: d("1000000"),
        ..market()
    };
    let broke = MarketContext {
        equity: d("0"),
        ..market()
    };
    let exit = |side, size| intent(Exit, side, size);
    let add = |side, size| intent(Add, side, size);
    let cases: Vec<(Intent, Option<Position>, &MarketContext, SkipReason, &str)> = vec![
        (unknown_venue, None, &m, UnknownInstrument, "venue kraken"),
        (
            unknown_symbol,
            None,
            &m,
            UnknownInstrument,
            "bybit:linear:DOGEUSDT",
        ),
        (
            aapl,
            None,
            &saturday,
            MarketClosed,
            "nasdaq is closed at 2026-01-10T15:00:00Z",
        ),
        (
            entry(Buy, qty("0.1")),
            None,
            &no_px,
            NoPrice,
            "no last price",
        ),
        (exit(Sell, qty("0.1")), None, &m, NothingToReduce, "flat"),
        (
            exit(Buy, qty("0.1")),
            held("0.5"),
            &m,
            NothingToReduce,
            "buy cannot reduce position 0.5",
        ),
        (
            intent(Trim, Sell, qty("0.1")),
            held("-0.5"),
            &m,
            NothingToReduce,
            "-0.5",
        ),
        (
            entry(Buy, qty("0.1")),
            held("0.5"),
            &m,
            PositionConflict,
            "entry buy while position 0.5",
        ),
        (
            entry(Sell, qty("0.1")),
            held("0.5"),
            &m,
            PositionConflict,
            "exit first",
        ),
        (
            add(Buy, qty("0.1")),
            None,
            &m,
            PositionConflict,
            "no open position",
        ),
        (
            add(Sell, qty("0.1")),
            held("0.5"),
            &m,
            PositionConflict,
            "against position 0.5",
        ),
        (
            entry(Buy, qty("0.1")),
            None,
            &hot,
            FundingRateExtreme,
            "0.0051",
        ),
        (
            entry(Sell, qty("0.1")),
            None,
            &cold,
            FundingRateExtreme,
            "above 0.005",
        ),
        (
            entry(Buy, qty("0.1")),
            None,
            &broke,
            InsufficientEquity,
            "equity 0",
        ),
        (
            entry(Buy, qty("0.0009")),
            None,
            &m,
            BelowMinQty,
            "qty 0 below min qty 0.001",
        ),
        (entry(Buy, qty("-1")), None, &m, BelowMinQty, "qty -1"),
        (
            entry(Buy, qty("0.001")),
            None,
            &cheap,
            BelowMinNotional,
            "notional 4 (qty 0.001 × px 4000)",
        ),
        (
            add(Buy, qty("0.1")),
            held("2.5"),
            &m,
            MaxLeverage,
            "= 104000 above 100000 (max leverage 10",
        ),
        (
            add(Buy, qty("1")),
            held("5"),
            &rich,
            PositionCap,
            "above 200000 (position cap 200000)",
        ),
    ];
    for (intent, position, market, reason, detail) in cases {
        check(&intent, position, market, Expect::Skip(reason, detail));
    }
}

#[test]
fn a_position_of_another_key_is_a_conflict() {
    let mut other = held("0.5").unwrap();
    other.key = PositionKey::new("bybit", "linear", "ETHUSDT");
    let want = Expect::Skip(
        SkipReason::PositionConflict,
        "given for bybit:linear:ETHUSDT",
    );
    check(&entry(Side::Buy, qty("0.1")), Some(other), &market(), want);
}

#[test]
fn each_size_kind_resolves_to_a_qty() {
    use IntentAction::*;
    let m = market();
    let cases = [
        (
            entry(Side::Buy, qty("0.5")),
            None,
            "i1-0 Entry buy Market 0.5 Ioc",
        ),
        (
            entry(Side::Buy, Size::Notional(d("1000"))),
            None,
            "i1-0 Entry buy Market 0.025 Ioc",
        ),
        // Equity fraction: 10000 × 0.5 ÷ 40000, not multiplied by the max leverage.
        (
            entry(Side::Sell, Size::EquityFraction(d("0.5"))),
            None,
            "i1-0 Entry sell Market 0.125 Ioc",
        ),
        (
            intent(Trim, Side::Sell, Size::PositionFraction(d("0.5"))),
            held("0.3"),
            "i1-0 Exit sell Market 0.15 Ioc reduce_only",
        ),
        (
            intent(Add, Side::Buy, Size::PositionFraction(d("0.5"))),
            held("0.3"),
            "i1-0 Entry buy Market 0.15 Ioc",
        ),
    ];
    for (intent, position, want) in cases {
        check(&intent, position, &m, Expect::Plan(&[want], &[]));
    }
    let notional = Size::Notional(d("1001"));
    let want = Expect::Plan(
        &["i1-0 Entry buy Market 0.025 Ioc"],
        &["→ 0.025 (lot 0.001, rounded down)"],
    );
    check(&entry(Side::Buy, notional), None, &m, want);
}

#[test]
fn qty_rounds_down_to_the_lot() {
    let want = Expect::Plan(
        &["i1-0 Entry buy Market 0.012 Ioc"],
        &["qty 0.0129 → 0.012 (lot 0.001"],
    );
    check(&entry(Side::Buy, qty("0.0129")), None, &market(), want);
}

#[test]
fn limit_prices_round_to_tick_never_worse() {
    let limit = |side, px: &str| Intent {
        order_type: OrderType::Limit,
        limit_px: Some(d(px)),
        ..entry(side, qty("0.1"))
    };
    let m = market();
    let buy = Expect::Plan(
        &["i1-0 Entry buy Limit 0.1 @40000.1 Gtc"],
        &["limit px 40000.17 → 40000.1"],
    );
    check(&limit(Side::Buy, "40000.17"), None, &m, buy);
    let sell = Expect::Plan(
        &["i1-0 Entry sell Limit 0.1 @40000.2 Gtc"],
        &["limit px 40000.11 → 40000.2"],
    );
    check(&limit(Side::Sell, "40000.11"), None, &m, sell);
    let on_tick = Expect::Plan(&["i1-0 Entry sell Limit 0.1 @40000.1 Gtc"], &[]);
    check(&limit(Side::Sell, "40000.10"), None, &m, on_tick);
    let no_px = Intent {
        limit_px: None,
        ..limit(Side::Buy, "1")
    };
    check(
        &no_px,
        None,
        &m,
        Expect::Skip(SkipReason::NoPrice, "without a limit price"),
    );
    check(
        &limit(Side::Buy, "0.05"),
        None,
        &m,
        Expect::Skip(SkipReason::NoPrice, "0.05"),
    );
}

#[test]
fn tick_rounding_is_never_worse_than_asked() {
    let tick = d("0.5");
    for cents in (0..1000).map(|i| 9_000_000 + i * 7) {
        let asked = Decimal::from_parts(cents, 2).unwrap();
        let buy = limit_on_tick(asked, Side::Buy, tick).unwrap();
        let sell = limit_on_tick(asked, Side::Sell, tick).unwrap();
        assert!(
            buy <= asked && asked.checked_sub(buy).unwrap() < tick,
            "{asked} → {buy}"
        );
        assert!(
            sell >= asked && sell.checked_sub(asked).unwrap() < tick,
            "{asked} → {sell}"
        );
        assert_eq!(buy.floor_to_step(tick), Some(buy), "{buy} on tick");
        assert_eq!(sell.floor_to_step(tick), Some(sell), "{sell} on tick");
    }
}

#[test]
fn leverage_above_the_cap_cuts_the_qty_and_says_so() {
    // 10000 equity × 10 = 100000 of notional: 2.5 BTC at 40000.
    let want = Expect::Plan(
        &["i1-0 Entry buy Market 2.5 Ioc"],
        &[
            "qty 5 → 2.5: (|position| 0 + qty 5) × px 40000 = 200000 above 100000 (max leverage 10 × equity 10000)",
        ],
    );
    check(&entry(Side::Buy, qty("5")), None, &market(), want);
    // An add counts the open position: 2 BTC held leaves room for 0.5.
    let add = intent(IntentAction::Add, Side::Buy, qty("1"));
    let want = Expect::Plan(&["i1-0 Entry buy Market 0.5 Ioc"], &["qty 1 → 0.5"]);
    check(&add, held("2"), &market(), want);
}

#[test]
fn the_position_cap_cuts_the_qty() {
    let rich = MarketContext {
        equity: d("1000000"),
        ..market()
    };
    let want = Expect::Plan(
        &["i1-0 Entry buy Market 5 Ioc"],
        &[
            "qty 6 → 5: (|position| 0 + qty 6) × px 40000 = 240000 above 200000 (position cap 200000)",
        ],
    );
    check(&entry(Side::Buy, qty("6")), None, &rich, want);
}

#[test]
fn funding_caps_leverage_skips_entries_and_never_blocks_exits() {
    let rate = |r: &str| MarketContext {
        funding_rate: Some(d(r)),
        ..market()
    };
    // Below cap_above: the instrument's 10× applies.
    check(
        &entry(Side::Buy, qty("2")),
        None,
        &rate("0.001"),
        Expect::Plan(&["i1-0 Entry buy Market 2 Ioc"], &[]),
    );
    // Above cap_above, either sign: 2× of 10000 = 0.5 BTC.
    for r in ["0.0011", "-0.002"] {
        let why = format!(
            "qty 2 → 0.5: (|position| 0 + qty 2) × px 40000 = 80000 above 20000 \
             (leverage capped at 2: funding rate {r}, |rate| above 0.001 × equity 10000)"
        );
        let want = [why.as_str()];
        check(
            &entry(Side::Buy, qty("2")),
            None,
            &rate(r),
            Expect::Plan(&["i1-0 Entry buy Market 0.5 Ioc"], &want),
        );
    }
    // Above skip_above: entries and adds are skipped, exits and trims go through.
    let add = intent(IntentAction::Add, Side::Buy, qty("0.1"));
    check(
        &add,
        held("0.1"),
        &rate("0.01"),
        Expect::Skip(SkipReason::FundingRateExtreme, "0.01"),
    );
    let exit = intent(
        IntentAction::Exit,
        Side::Sell,
        Size::PositionFraction(d("1")),
    );
    let want = Expect::Plan(&["i1-0 Exit sell Market 3 Ioc reduce_only"], &[]);
    check(&exit, held("3"), &rate("0.01"), want);
    let trim = intent(IntentAction::Trim, Side::Buy, qty("1"));
    let want = Expect::Plan(&["i1-0 Exit buy Market 1 Ioc reduce_only"], &[]);
    check(&trim, held("-3"), &rate("-0.01"), want);
}

#[test]
fn exits_are_reduce_only_and_capped_at_the_position() {
    let exit = intent(IntentAction::Exit, Side::Sell, qty("1"));
    let want = Expect::Plan(
        &["i1-0 Exit sell Market 0.3 Ioc reduce_only"],
        &["qty 1 → 0.3: an exit or trim reduces at most the open position"],
    );
    check(&exit, held("0.3"), &market(), want);
    // Exits are not leverage-checked: a 30× position may still be closed.
    let exit = intent(
        IntentAction::Exit,
        Side::Buy,
        Size::PositionFraction(d("1")),
    );
    let want = Expect::Plan(&["i1-0 Exit buy Market 7.5 Ioc reduce_only"], &[]);
    check(&exit, held("-7.5"), &market(), want);
    // A stop or target on an exit is dropped, and the plan says so.
    let exit = Intent {
        stop_loss: Some(d("50000")),
        ..intent(IntentAction::Exit, Side::Buy, qty("1"))
    };
    let want = Expect::Plan(&["i1-0 Exit buy Market 1 Ioc reduce_only"], &["ignored"]);
    check(&exit, held("-1"), &market(), want);
}

#[test]
fn stop_loss_and_take_profit_follow_the_entry() {
    let long = Intent {
        stop_loss: Some(d("39000.04")),
        take_profit: Some(d("42000.01")),
        ..entry(Side::Buy, qty("0.1"))
    };
    let want = Expect::Plan(
        &[
            "i1-0 Entry buy Market 0.1 Ioc",
            "i1-1 StopLoss sell StopMarket 0.1 trigger 39000 Gtc reduce_only",
            "i1-2 TakeProfit sell Limit 0.1 @42000.1 Gtc reduce_only",
        ],
        &[],
    );
    check(&long, None, &market(), want);
    let short = Intent {
        order_type: OrderType::Limit,
        limit_px: Some(d("40000.01")),
        stop_loss: Some(d("41000.06")),
        take_profit: Some(d("38000.09")),
        ..entry(Side::Sell, qty("5"))
    };
    let want = Expect::Plan(
        &[
            "i1-0 Entry sell Limit 2.499 @40000.1 Gtc",
            "i1-1 StopLoss buy StopMarket 2.499 trigger 41000.1 Gtc reduce_only",
            "i1-2 TakeProfit buy Limit 2.499 @38000 Gtc reduce_only",
        ],
        &["limit px 40000.01 → 40000.1", "qty 5 → 2.499"],
    );
    check(&short, None, &market(), want);
    let only_target = Intent {
        take_profit: Some(d("45000")),
        ..entry(Side::Buy, qty("0.1"))
    };
    let want = Expect::Plan(
        &[
            "i1-0 Entry buy Market 0.1 Ioc",
            "i1-1 TakeProfit sell Limit 0.1 @45000 Gtc reduce_only",
        ],
        &[],
    );
    check(&only_target, None, &market(), want);
}
