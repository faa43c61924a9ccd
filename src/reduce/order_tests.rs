//! Tests of the order state machine. The transition table in `order.rs`'s module doc is
//! parsed and is itself the expectation: every order event kind is tried in every
//! state, so the doc and the code cannot drift apart.

use crate::event::{ClientOrderId, OrderAmend, OrderType, Payload, Side};
use crate::reduce::fixtures::{apply, d, fill, fold, order_event, submit};
use crate::reduce::{OrderState, Projection, Violation};

const ID: &str = "c-1";

/// The events that bring a stop-limit buy of 10 to `state`. Pending states are
/// entered from `accepted`, so `prior` in the table means `accepted` here.
fn reach(state: OrderState) -> Vec<Payload> {
    use OrderState::*;
    let mut events = vec![submit(ID, Side::Buy, "10", OrderType::StopLimit)];
    let after_ack = match state {
        Submitted => return events,
        Rejected => return vec![events.remove(0), order_event("order_rejected", ID)],
        Accepted => None,
        PartiallyFilled => Some(fill(Some(ID), Side::Buy, "1", "100", "0")),
        Filled => Some(fill(Some(ID), Side::Buy, "10", "100", "0")),
        PendingCancel => Some(order_event("order_cancel_requested", ID)),
        PendingAmend => Some(order_event("order_amend_requested", ID)),
        Cancelled => Some(order_event("order_cancelled", ID)),
        Expired => Some(order_event("order_expired", ID)),
        Triggered => Some(order_event("order_triggered", ID)),
    };
    events.push(order_event("order_accepted", ID));
    events.extend(after_ack);
    events
}

/// The event of column `kind`: a partial fill of 1, or an order event for `ID`.
fn event(kind: &str) -> Payload {
    match kind {
        "fill" => fill(Some(ID), Side::Buy, "1", "100", "0"),
        other => order_event(other, ID),
    }
}

fn parse_state(name: &str) -> OrderState {
    OrderState::ALL
        .into_iter()
        .find(|s| s.as_str() == name)
        .unwrap_or_else(|| panic!("unknown state `{name}` in the table"))
}

/// The doc table: `(state, event kind, expected next state or None for illegal)`.
fn table() -> Vec<(OrderState, String, Option<OrderState>)> {
    let rows: Vec<Vec<String>> = include_str!("order.rs")
        .lines()
        .filter_map(|line| line.strip_prefix("//! |"))
        .filter(|line| !line.starts_with("---"))
        .map(|line| {
            let mut cells: Vec<String> = line.split('|').map(|c| c.trim().to_string()).collect();
            cells.pop(); // after the closing `|`
            cells
        })
        .collect();
    let (header, body) = rows.split_first().expect("the table has a header");
    let mut cells = Vec::new();
    for row in body {
        assert_eq!(row.len(), header.len(), "ragged row {row:?}");
        let state = parse_state(&row[0]);
        for (kind, cell) in header[1..].iter().zip(&row[1..]) {
            let cell: String = cell
                .chars()
                .filter(|c| c.is_ascii_lowercase() || matches!(c, '_' | '=' | '·'))
                .collect();
            let expected = match cell.as_str() {
                "·" => None,
                "=" => Some(state),
                "prior" => Some(OrderState::Accepted),
                name => Some(parse_state(name)),
            };
            cells.push((state, kind.clone(), expected));
        }
    }
    cells
}

/// Apply `kind` to an order in `state`; assert the outcome is `expected`.
fn check(state: OrderState, kind: &str, expected: Option<OrderState>) {
    let mut projection = fold(&reach(state));
    let id = ClientOrderId::from(ID);
    assert_eq!(
        projection.order(&id).unwrap().state,
        state,
        "fixture for {state}"
    );
    let before = projection.clone();
    let result = apply(&mut projection, event(kind));
    match expected {
        Some(next) => {
            assert!(result.is_ok(), "{kind} in {state}: {result:?}");
            assert_eq!(
                projection.order(&id).unwrap().state,
                next,
                "{kind} in {state}"
            );
        }
        None => {
            let err = result.expect_err(&format!("{kind} in {state} should be illegal"));
            assert_eq!(
                err.violation,
                Violation::IllegalTransition {
                    order: id,
                    event: match kind {
                        "close_order" => "close_order",
                        _ => event(kind).kind(),
                    },
                    state,
                },
                "{kind} in {state}"
            );
            assert_eq!(
                projection, before,
                "an error must leave the projection alone"
            );
            assert_eq!(projection.hash(), before.hash());
        }
    }
}

#[test]
fn every_event_in_every_state_follows_the_documented_table() {
    let cells = table();
    assert_eq!(
        cells.len(),
        OrderState::ALL.len() * 12,
        "10 states × 12 events"
    );
    for state in OrderState::ALL {
        assert!(
            cells.iter().any(|(s, _, _)| *s == state),
            "no row for {state}"
        );
    }
    for (state, kind, expected) in &cells {
        check(*state, kind, *expected);
    }
}

#[test]
fn a_fill_that_completes_the_order_fills_it_even_while_a_request_is_pending() {
    for pending in ["order_cancel_requested", "order_amend_requested"] {
        let mut p = fold(&reach(OrderState::Accepted));
        apply(&mut p, order_event(pending, ID)).unwrap();
        apply(&mut p, fill(Some(ID), Side::Buy, "4", "100", "0")).unwrap();
        let order = p.order(&ClientOrderId::from(ID)).unwrap();
        assert!(order.state.is_pending());
        assert_eq!(order.prior_state, Some(OrderState::PartiallyFilled));
        apply(&mut p, fill(Some(ID), Side::Buy, "6", "102", "0")).unwrap();
        let order = p.order(&ClientOrderId::from(ID)).unwrap();
        assert_eq!((order.state, order.prior_state), (OrderState::Filled, None));
        assert_eq!(order.filled_qty, d("10"));
        assert_eq!(order.avg_fill_px(), Some(d("101.2")));
        // The refusal of the request that lost the race changes nothing.
        let refusal = pending.replace("requested", "rejected");
        apply(&mut p, order_event(&refusal, ID)).unwrap();
        assert_eq!(
            p.order(&ClientOrderId::from(ID)).unwrap().state,
            OrderState::Filled
        );
    }
}

#[test]
fn a_refused_cancel_returns_to_the_state_the_fills_left() {
    let mut p = fold(&reach(OrderState::PendingCancel));
    apply(&mut p, fill(Some(ID), Side::Buy, "3", "100", "0")).unwrap();
    apply(&mut p, order_event("order_cancel_rejected", ID)).unwrap();
    let order = p.order(&ClientOrderId::from(ID)).unwrap();
    assert_eq!(
        (order.state, order.prior_state),
        (OrderState::PartiallyFilled, None)
    );
}

#[test]
fn a_trigger_during_a_request_is_remembered_for_its_refusal() {
    let mut p = fold(&reach(OrderState::PendingAmend));
    apply(&mut p, order_event("order_triggered", ID)).unwrap();
    apply(&mut p, order_event("order_amend_rejected", ID)).unwrap();
    let order = p.order(&ClientOrderId::from(ID)).unwrap();
    assert_eq!(order.state, OrderState::Triggered);
    // Once partially filled, a stop cannot trigger any more.
    let mut p = fold(&reach(OrderState::PartiallyFilled));
    apply(&mut p, order_event("order_cancel_requested", ID)).unwrap();
    let err = apply(&mut p, order_event("order_triggered", ID)).unwrap_err();
    assert!(
        matches!(err.violation, Violation::IllegalTransition { .. }),
        "{err}"
    );
}

#[test]
fn only_stop_orders_trigger() {
    let mut p = fold(&[
        submit(ID, Side::Buy, "10", OrderType::Limit),
        order_event("order_accepted", ID),
    ]);
    let err = apply(&mut p, order_event("order_triggered", ID)).unwrap_err();
    assert_eq!(
        err.violation,
        Violation::NotAStopOrder {
            order: ClientOrderId::from(ID)
        }
    );
}

fn amend(qty: &str) -> OrderAmend {
    OrderAmend {
        client_order_id: ClientOrderId::from(ID),
        qty: Some(d(qty)),
        px: Some(d("105")),
        trigger_px: None,
    }
}

#[test]
fn an_amend_sets_the_new_terms_and_may_not_go_below_the_filled_qty() {
    let mut p = fold(&reach(OrderState::PartiallyFilled));
    apply(&mut p, fill(Some(ID), Side::Buy, "3", "100", "0")).unwrap();
    let below = Payload::OrderAmendRequested(amend("3.5"));
    let err = apply(&mut p, below).unwrap_err();
    assert!(
        matches!(err.violation, Violation::AmendBelowFilled { .. }),
        "{err}"
    );
    apply(&mut p, Payload::OrderAmendRequested(amend("6"))).unwrap();
    let err = apply(&mut p, Payload::OrderAmended(amend("2"))).unwrap_err();
    assert!(
        matches!(err.violation, Violation::AmendBelowFilled { .. }),
        "{err}"
    );
    apply(&mut p, Payload::OrderAmended(amend("6"))).unwrap();
    let order = p.order(&ClientOrderId::from(ID)).unwrap();
    assert_eq!(
        (order.state, order.qty, order.px),
        (OrderState::PartiallyFilled, d("6"), Some(d("105")))
    );
    assert_eq!(
        order.trigger_px,
        Some(d("99")),
        "an absent field keeps its value"
    );
    // Amending down to exactly what filled completes the order.
    apply(&mut p, Payload::OrderAmendRequested(amend("4"))).unwrap();
    apply(&mut p, Payload::OrderAmended(amend("4"))).unwrap();
    assert_eq!(
        p.order(&ClientOrderId::from(ID)).unwrap().state,
        OrderState::Filled
    );
}

#[test]
fn fills_after_the_end_are_real_and_overfills_are_flagged() {
    let mut p = fold(&reach(OrderState::Cancelled));
    apply(&mut p, fill(Some(ID), Side::Buy, "2", "100", "0")).unwrap();
    let order = p.order(&ClientOrderId::from(ID)).unwrap();
    assert_eq!(
        (order.state, order.filled_qty),
        (OrderState::Cancelled, d("2"))
    );
    assert_eq!(
        p.position(&crate::reduce::fixtures::key()).unwrap().qty,
        d("2")
    );
    let mut p = fold(&reach(OrderState::PartiallyFilled));
    apply(&mut p, fill(Some(ID), Side::Buy, "12", "100", "0")).unwrap();
    let order = p.order(&ClientOrderId::from(ID)).unwrap();
    assert_eq!((order.state, order.overfilled), (OrderState::Filled, true));
    assert_eq!(order.remaining_qty(), d("0"));
}

#[test]
fn submitting_a_known_id_twice_and_events_for_unknown_ids_are_refused() {
    let mut p = fold(&reach(OrderState::Accepted));
    let err = apply(&mut p, submit(ID, Side::Sell, "1", OrderType::Market)).unwrap_err();
    assert_eq!(
        err.violation,
        Violation::DuplicateOrder {
            order: ClientOrderId::from(ID)
        }
    );
    let mut p = Projection::new();
    let err = apply(&mut p, order_event("order_cancelled", "nope")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "seq 1: order nope: order_cancelled for an unknown order"
    );
    assert_eq!(p, Projection::new());
}
