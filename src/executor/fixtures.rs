//! Test fixtures for the executor: two venues (a 24/7 perpetuals venue with a funding
//! gate, an equities venue with sessions and a holiday), intent and market builders, and
//! the one data-driven `check(intent, position, market, expected)` helper. Plans are
//! compared as one line per order, so the types can change without rewriting every case.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDate, Weekday};

use crate::event::{
    Book, Decimal, Intent, IntentAction, OrderType, Plan, PositionKey, Side, Size, SkipReason,
    StrategyId, Symbol, Timestamp, Venue,
};
use crate::reduce::Position;

use super::{
    Calendar, Decision, Executor, FundingGate, InstrumentRules, MarketContext, Session, VenueRules,
};

pub(super) fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

pub(super) fn ts(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

pub(super) fn btc_rules() -> InstrumentRules {
    InstrumentRules {
        tick_size: d("0.1"),
        lot_size: d("0.001"),
        min_qty: d("0.001"),
        min_notional: d("5"),
        max_leverage: d("10"),
        max_position_notional: Some(d("200000")),
        maker_fee: d("0.0002"),
        taker_fee: d("0.00055"),
    }
}

pub(super) fn venues() -> Vec<VenueRules> {
    let bybit = VenueRules {
        venue: Venue::from("bybit"),
        calendar: Calendar::AlwaysOpen,
        instruments: BTreeMap::from([(
            (Book::from("linear"), Symbol::from("BTCUSDT")),
            btc_rules(),
        )]),
        orders_per_second: 10,
        funding: Some(FundingGate {
            cap_above: d("0.001"),
            capped_leverage: d("2"),
            skip_above: d("0.005"),
        }),
    };
    use Weekday::*;
    let nasdaq = VenueRules {
        venue: Venue::from("nasdaq"),
        calendar: Calendar::Sessions {
            sessions: vec![Session {
                days: vec![Mon, Tue, Wed, Thu, Fri],
                open_minute: 14 * 60 + 30,
                close_minute: 21 * 60,
            }],
            holidays: BTreeSet::from([NaiveDate::from_ymd_opt(2026, 1, 19).unwrap()]),
        },
        instruments: BTreeMap::from([(
            (Book::from("stocks"), Symbol::from("AAPL")),
            InstrumentRules {
                tick_size: d("0.01"),
                lot_size: d("1"),
                min_qty: d("1"),
                min_notional: d("1"),
                max_leverage: d("2"),
                max_position_notional: None,
                maker_fee: d("0"),
                taker_fee: d("0"),
            },
        )]),
        orders_per_second: 5,
        funding: None,
    };
    vec![bybit, nasdaq]
}

/// A market buy entry on `bybit:linear:BTCUSDT`; tests change what they need.
pub(super) fn intent(action: IntentAction, side: Side, size: Size) -> Intent {
    Intent {
        intent_id: "i1".to_string(),
        strategy_id: StrategyId::from("t"),
        venue: Venue::from("bybit"),
        book: Book::from("linear"),
        instrument: Symbol::from("BTCUSDT"),
        action,
        side,
        size,
        order_type: OrderType::Market,
        limit_px: None,
        stop_loss: None,
        take_profit: None,
        reason: "test".to_string(),
    }
}

pub(super) fn entry(side: Side, size: Size) -> Intent {
    intent(IntentAction::Entry, side, size)
}

pub(super) fn qty(s: &str) -> Size {
    Size::Qty(d(s))
}

/// Tuesday 15:00 UTC, last price 40000, equity 10000, no funding rate.
pub(super) fn market() -> MarketContext {
    MarketContext {
        now: ts("2026-01-06T15:00:00Z"),
        last_px: Some(d("40000")),
        funding_rate: None,
        equity: d("10000"),
    }
}

/// A `bybit:linear:BTCUSDT` position of signed `qty`.
pub(super) fn held(qty: &str) -> Option<Position> {
    let mut p = Position::new(PositionKey::new("bybit", "linear", "BTCUSDT"));
    p.qty = d(qty);
    // Held at an average of 40,000.
    p.cost_basis = d("40000").checked_mul(p.qty.abs()).unwrap();
    Some(p)
}

/// What a case expects.
pub(super) enum Expect<'a> {
    /// These orders, one line each, and adjustments containing these fragments in order.
    Plan(&'a [&'a str], &'a [&'a str]),
    /// This reason, with a detail containing this fragment.
    Skip(SkipReason, &'a str),
}

/// One line per order: `id role side type qty [@px] [trigger] tif [reduce_only]`.
pub(super) fn render(plan: &Plan) -> Vec<String> {
    plan.orders
        .iter()
        .map(|o| {
            let mut line = format!(
                "{} {:?} {} {:?} {}",
                o.client_order_id,
                o.role,
                o.side.as_str(),
                o.order_type,
                o.qty
            );
            if let Some(px) = o.px {
                line += &format!(" @{px}");
            }
            if let Some(px) = o.trigger_px {
                line += &format!(" trigger {px}");
            }
            line += &format!(" {:?}", o.tif);
            if o.reduce_only {
                line += " reduce_only";
            }
            line.replace('"', "")
        })
        .collect()
}

pub(super) fn check(
    intent: &Intent,
    position: Option<Position>,
    market: &MarketContext,
    expect: Expect,
) {
    let decision = Executor::new(venues()).prepare(intent, position.as_ref(), market);
    match (expect, decision) {
        (Expect::Plan(orders, adjustments), Decision::Plan(plan)) => {
            assert_eq!(plan.intent_id, intent.intent_id);
            assert_eq!(
                (&plan.venue, &plan.book, &plan.instrument),
                (&intent.venue, &intent.book, &intent.instrument)
            );
            assert_eq!(render(&plan), orders, "adjustments: {:?}", plan.adjustments);
            assert_eq!(
                plan.adjustments.len(),
                adjustments.len(),
                "{:?}",
                plan.adjustments
            );
            for (got, want) in plan.adjustments.iter().zip(adjustments) {
                assert!(got.contains(want), "{got:?} should contain {want:?}");
            }
        }
        (Expect::Skip(reason, fragment), Decision::Skip(skip)) => {
            assert_eq!(skip.reason, reason, "{}", skip.detail);
            assert!(
                skip.detail.contains(fragment),
                "{:?} lacks {fragment:?}",
                skip.detail
            );
            assert_eq!(skip.intent_id, intent.intent_id);
            assert_eq!(skip.instrument, intent.instrument);
        }
        (_, decision) => panic!("unexpected {decision:#?}"),
    }
}
