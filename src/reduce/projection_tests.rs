//! Projection tests: forgetting ended orders after [`ORDER_RETENTION_NANOS`], and that a
//! fold resumed from a checkpoint (the codec round trip `log/` does) equals the fold
//! from genesis across those prunes.

use proptest::prelude::*;

use crate::event::codec;
use crate::event::*;

use super::super::fixtures::{accepted, d, fill, key, order_event, submit};
use super::super::{OrderState, ReduceError, Violation};
use super::{ORDER_RETENTION_NANOS, Projection};

/// One hour of event time, in ns.
const HOUR: i64 = 3_600 * 1_000_000_000;

/// Apply `payload` as the next event, at event time `ts_ns`.
fn at(
    projection: &mut Projection,
    ts_ns: i64,
    payload: Payload,
) -> Result<crate::reduce::Applied, ReduceError> {
    let env = Envelope {
        seq: projection.last_seq() + 1,
        event: Event::new(Timestamp::from_nanos(ts_ns), payload),
    };
    projection.apply(&env)
}

/// A trade on `key()` at `px`: moves only the mark (and the clock).
fn trade(px: &str) -> Payload {
    let k = key();
    Payload::Trade(Trade {
        venue: k.venue,
        book: k.book,
        instrument: k.instrument,
        px: d(px),
        qty: d("1"),
        side: Some(Side::Buy),
        trade_id: None,
    })
}

/// Order `o-1` (venue id `v-1`) bought 1 @ 100 and filled at event time 0.
fn filled_order() -> Projection {
    let mut p = Projection::new();
    at(&mut p, 0, submit("o-1", Side::Buy, "1", OrderType::Market)).unwrap();
    at(&mut p, 0, accepted("o-1", Some("v-1"))).unwrap();
    at(&mut p, 0, fill(Some("o-1"), Side::Buy, "1", "100", "0")).unwrap();
    assert_eq!(p.order(&"o-1".into()).unwrap().state, OrderState::Filled);
    p
}

#[test]
fn an_ended_order_is_kept_for_the_retention_window_then_forgotten() {
    let mut p = filled_order();
    at(&mut p, ORDER_RETENTION_NANOS - 1, trade("101")).unwrap();
    assert!(p.order(&"o-1".into()).is_some(), "still inside the window");
    at(&mut p, ORDER_RETENTION_NANOS, trade("102")).unwrap();
    assert!(
        p.order(&"o-1".into()).is_none(),
        "forgotten at the window's end"
    );
    assert!(
        p.order_by_venue_id(&"bybit".into(), &"v-1".into())
            .is_none()
    );
    assert_eq!(p.orders().count(), 0);
    // The position is untouched by forgetting.
    assert_eq!(p.position(&key()).unwrap().qty, d("1"));
}

#[test]
fn an_open_order_is_never_forgotten() {
    let mut p = Projection::new();
    at(&mut p, 0, submit("o-1", Side::Buy, "1", OrderType::Limit)).unwrap();
    at(&mut p, 0, accepted("o-1", None)).unwrap();
    at(&mut p, 30 * 24 * HOUR, trade("101")).unwrap();
    assert_eq!(p.order(&"o-1".into()).unwrap().state, OrderState::Accepted);
}

#[test]
fn a_late_fill_for_a_forgotten_order_applies_to_the_position_as_external() {
    for order_id in ["o-1", "v-1"] {
        let mut p = filled_order();
        let late = ORDER_RETENTION_NANOS + HOUR;
        at(
            &mut p,
            late,
            fill(Some(order_id), Side::Buy, "2", "110", "0.5"),
        )
        .unwrap();
        let position = p.position(&key()).unwrap();
        assert_eq!(position.qty, d("3"), "naming {order_id}");
        assert_eq!(position.fills, 2);
        assert_eq!(position.fees, d("0.5"));
        assert!(p.order(&"o-1".into()).is_none(), "not brought back");
    }
}

#[test]
fn inside_the_window_a_late_fill_still_finds_its_order() {
    let mut p = filled_order();
    at(&mut p, HOUR, fill(Some("v-1"), Side::Buy, "1", "100", "0")).unwrap();
    let order = p.order(&"o-1".into()).unwrap();
    assert!(order.overfilled);
    assert_eq!(order.filled_qty, d("2"));
}

#[test]
fn other_events_naming_a_forgotten_order_are_unknown_order_errors() {
    let mut p = filled_order();
    let before = p.clone();
    let late = ORDER_RETENTION_NANOS;
    for kind in [
        "order_cancel_rejected",
        "order_amend_rejected",
        "close_order",
    ] {
        let err = at(&mut p, late, order_event(kind, "o-1")).unwrap_err();
        assert!(
            matches!(err.violation, Violation::UnknownOrder { .. }),
            "{kind}: {err}"
        );
        // A refused event changes nothing, not even the forgetting it would have done.
        assert_eq!(p, before, "{kind}");
    }
}

#[test]
fn a_forgotten_client_id_may_be_submitted_again() {
    let mut p = filled_order();
    let late = ORDER_RETENTION_NANOS;
    at(
        &mut p,
        late,
        submit("o-1", Side::Sell, "1", OrderType::Market),
    )
    .unwrap();
    let order = p.order(&"o-1".into()).unwrap();
    assert_eq!(
        (order.state, order.side),
        (OrderState::Submitted, Side::Sell)
    );
}

#[test]
fn a_venue_order_id_of_a_forgotten_order_may_be_reused() {
    let mut p = filled_order();
    let late = ORDER_RETENTION_NANOS;
    at(
        &mut p,
        late,
        submit("o-2", Side::Sell, "1", OrderType::Market),
    )
    .unwrap();
    at(&mut p, late, accepted("o-2", Some("v-1"))).unwrap();
    let by_venue = p.order_by_venue_id(&"bybit".into(), &"v-1".into());
    assert_eq!(by_venue.unwrap().client_order_id.as_str(), "o-2");
}

/// One step of a generated history: hours to advance, then what happens.
#[derive(Debug, Clone)]
enum Step {
    /// A new market order that fills at once (`id` is taken from a counter).
    Filled,
    /// A new limit order, accepted and left open.
    Open,
    /// The oldest open order is cancelled.
    Cancel,
    /// A late fill naming order number `n` (it may be long forgotten).
    LateFill(u64),
    /// A trade: only moves the clock and the mark.
    Tick,
}

fn arb_step() -> impl Strategy<Value = (u8, Step)> {
    let step = prop_oneof![
        3 => Just(Step::Filled),
        2 => Just(Step::Open),
        2 => Just(Step::Cancel),
        2 => (0u64..40).prop_map(Step::LateFill),
        2 => Just(Step::Tick),
    ];
    (0u8..20, step)
}

/// The payloads of a generated history, with their event times (ns).
fn history(steps: &[(u8, Step)]) -> Vec<(i64, Payload)> {
    let mut out = Vec::new();
    let mut ts = 0;
    let mut sides = Vec::new();
    let mut open = std::collections::VecDeque::new();
    for (hours, step) in steps {
        ts += i64::from(*hours) * HOUR;
        let id = |n: u64| format!("o-{n}");
        match step {
            Step::Filled => {
                let n = sides.len() as u64;
                sides.push(Side::Buy);
                out.push((ts, submit(&id(n), Side::Buy, "1", OrderType::Market)));
                out.push((ts, accepted(&id(n), Some(&format!("v-{n}")))));
                out.push((ts, fill(Some(&id(n)), Side::Buy, "1", "100", "0.1")));
            }
            Step::Open => {
                let n = sides.len() as u64;
                sides.push(Side::Sell);
                out.push((ts, submit(&id(n), Side::Sell, "1", OrderType::Limit)));
                out.push((ts, accepted(&id(n), Some(&format!("v-{n}")))));
                open.push_back(n);
            }
            Step::Cancel => {
                if let Some(n) = open.pop_front() {
                    out.push((ts, order_event("order_cancelled", &id(n))));
                }
            }
            Step::LateFill(n) if (*n as usize) < sides.len() && !open.contains(n) => {
                let side = sides[*n as usize];
                out.push((ts, fill(Some(&format!("v-{n}")), side, "1", "101", "0")));
            }
            Step::LateFill(_) | Step::Tick => out.push((ts, trade("100"))),
        }
    }
    out
}

/// A checkpoint's round trip: encode, decode (what `log/` stores and loads).
fn round_trip(p: &Projection) -> Projection {
    codec::decode_value(&codec::encode_value(p).unwrap()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Folding from genesis, and from a checkpoint taken after any event, give the same
    /// projection and hash, with prunes on both sides of the checkpoint.
    #[test]
    fn a_fold_from_any_checkpoint_equals_the_fold_from_genesis(
        steps in proptest::collection::vec(arb_step(), 1..80),
        split in 0usize..1_000,
    ) {
        let events = history(&steps);
        let mut genesis = Projection::new();
        for (ts, payload) in &events {
            at(&mut genesis, *ts, payload.clone()).unwrap();
        }
        let split = split % (events.len() + 1);
        let mut resumed = Projection::new();
        for (ts, payload) in &events[..split] {
            at(&mut resumed, *ts, payload.clone()).unwrap();
        }
        let mut resumed = round_trip(&resumed);
        for (ts, payload) in &events[split..] {
            at(&mut resumed, *ts, payload.clone()).unwrap();
        }
        prop_assert_eq!(resumed.hash(), genesis.hash());
        prop_assert_eq!(&resumed, &genesis);
        // Bounded: only orders that ended within the window (or are open) remain.
        let last_ts = genesis.last_ts();
        for order in genesis.orders() {
            if let Some(ended) = order.ended_ts {
                prop_assert!(
                    ended.as_nanos() > last_ts.as_nanos() - ORDER_RETENTION_NANOS,
                    "{} ended at {ended} but is still held at {last_ts}",
                    order.client_order_id
                );
            }
        }
    }
}

#[test]
fn a_mark_that_would_overflow_is_refused_and_changes_nothing() {
    let mut p = Projection::new();
    let big = "79228162514264337593543950335";
    apply_at(&mut p, 1, fill(None, Side::Buy, "2", "1", "0"));
    apply_at(&mut p, 2, trade("3"));
    let before = p.clone();
    let err = p
        .apply(&super::super::fixtures::env(3, trade(big)))
        .unwrap_err();
    assert!(matches!(err.violation, Violation::Overflow { .. }), "{err}");
    assert_eq!(p, before, "a refused mark changed the projection");
    // The check the live path asks agrees with apply.
    let event = Event::new(Timestamp::from_nanos(3_000), trade(big));
    assert!(p.check_transition(&event).is_err());
    apply_at(&mut p, 3, trade("4"));
    assert_eq!(p.mark(&key()), Some(d("4")));
    assert_eq!(p.position(&key()).unwrap().mark_px, Some(d("4")));
}

fn apply_at(p: &mut Projection, seq: Seq, payload: Payload) {
    p.apply(&super::super::fixtures::env(seq, payload)).unwrap();
}

/// Amounts from ordinary to the edge of the decimal range, so some events overflow.
fn arb_amount() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        4 => prop::sample::select(vec!["1", "0.5", "3", "0.001", "100", "99.99", "42000.5"]),
        1 => prop::sample::select(vec![
            "79228162514264337593543950335",
            "39614081257132168796771975167",
            "0.0000000000000000000000000001",
            "1234567890123.123456789",
        ]),
    ]
}

/// A position-moving event on `key()`, or an order event; fills may name orders that
/// exist, with a matching side or not, or none.
fn arb_payload() -> impl Strategy<Value = Payload> {
    let side = prop_oneof![Just(Side::Buy), Just(Side::Sell)];
    let order = prop_oneof![Just(None), (0u8..4).prop_map(Some)];
    let forced = |kind: u8, side: Side, qty: &str, px: &str| {
        let k = key();
        let fc = ForcedClose {
            venue: k.venue,
            book: k.book,
            instrument: k.instrument,
            exec_id: "liq".into(),
            side,
            px: d(px),
            qty: d(qty),
            fee: None,
        };
        match kind {
            0 => Payload::Liquidation(fc),
            _ => Payload::Adl(fc),
        }
    };
    prop_oneof![
        4 => (order, side.clone(), arb_amount(), arb_amount(), arb_amount()).prop_map(
            |(order, side, qty, px, fee)| {
                let id = order.map(|n| format!("o-{n}"));
                fill(id.as_deref(), side, qty, px, fee)
            }
        ),
        1 => (0u8..2, side.clone(), arb_amount(), arb_amount())
            .prop_map(move |(kind, side, qty, px)| forced(kind, side, qty, px)),
        1 => (arb_amount(), any::<bool>()).prop_map(|(amount, paid)| {
            let k = key();
            let amount = if paid { -d(amount) } else { d(amount) };
            Payload::Funding(Funding {
                venue: k.venue,
                book: k.book,
                instrument: k.instrument,
                amount,
                rate: None,
            })
        }),
        2 => arb_amount().prop_map(trade),
        1 => (0u8..4, side, arb_amount()).prop_map(|(n, side, qty)| {
            submit(&format!("o-{n}"), side, qty, OrderType::Market)
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// `apply` writes fills, forced closes and funding in place, while
    /// `check_transition` (what the live path asks first) plans them as a `Change`:
    /// both must give the same verdict on every event, and a refused event must leave
    /// the projection exactly as it was.
    #[test]
    fn apply_and_check_transition_agree_and_a_refusal_changes_nothing(
        payloads in proptest::collection::vec(arb_payload(), 1..60),
    ) {
        let mut p = Projection::new();
        for (i, payload) in payloads.into_iter().enumerate() {
            let event = Event::new(Timestamp::from_nanos(i as i64 * HOUR), payload);
            let verdict = p.check_transition(&event);
            let before = p.clone();
            let seq = p.last_seq() + 1;
            let applied = p.apply(&Envelope { seq, event });
            prop_assert_eq!(applied.clone().err().map(|e| e.violation), verdict.err());
            if applied.is_err() {
                prop_assert_eq!(&p, &before);
            }
        }
    }
}
