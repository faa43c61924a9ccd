//! Test-only builders for events and projections, shared by the reduce tests.
//!
//! Not compiled outside `cargo test`; holds no assertions of its own.

use crate::event::*;

use super::Projection;

/// A decimal from text.
pub(crate) fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// The position key every builder uses.
pub(crate) fn key() -> PositionKey {
    PositionKey::new("bybit", "linear", "BTCUSDT")
}

/// An envelope at `seq` (event time: `seq` microseconds).
pub(crate) fn env(seq: Seq, payload: Payload) -> Envelope {
    Envelope {
        seq,
        event: Event::new(Timestamp::from_nanos(seq as i64 * 1_000), payload),
    }
}

/// Fold `payloads` with seqs from 1; panics on the first error.
pub(crate) fn fold(payloads: &[Payload]) -> Projection {
    let mut projection = Projection::new();
    for (i, payload) in payloads.iter().enumerate() {
        let seq = i as Seq + 1;
        if let Err(e) = projection.apply(&env(seq, payload.clone())) {
            panic!("{e} ({payload:?})");
        }
    }
    projection
}

/// Apply `payload` as the next event.
pub(crate) fn apply(
    projection: &mut Projection,
    payload: Payload,
) -> Result<super::Applied, super::ReduceError> {
    let seq = projection.last_seq() + 1;
    projection.apply(&env(seq, payload))
}

/// `order_submitted` for `id` on `key()`; stop orders get a trigger, limits a price.
pub(crate) fn submit(id: &str, side: Side, qty: &str, order_type: OrderType) -> Payload {
    let k = key();
    let limit = matches!(order_type, OrderType::Limit | OrderType::StopLimit);
    let stop = matches!(order_type, OrderType::StopMarket | OrderType::StopLimit);
    Payload::OrderSubmitted(OrderSubmitted {
        venue: k.venue,
        book: k.book,
        instrument: k.instrument,
        client_order_id: ClientOrderId::from(id),
        side,
        order_type,
        qty: d(qty),
        px: limit.then(|| d("100")),
        trigger_px: stop.then(|| d("99")),
        tif: TimeInForce::Gtc,
        reduce_only: false,
        post_only: false,
    })
}

/// `order_accepted`, with a venue id.
pub(crate) fn accepted(id: &str, venue_id: Option<&str>) -> Payload {
    Payload::OrderAccepted(OrderAccepted {
        client_order_id: ClientOrderId::from(id),
        venue_order_id: venue_id.map(VenueOrderId::from),
    })
}

/// A fill on `key()` naming `order_id`.
pub(crate) fn fill(order_id: Option<&str>, side: Side, qty: &str, px: &str, fee: &str) -> Payload {
    let k = key();
    Payload::Fill(Fill {
        venue: k.venue,
        book: k.book,
        instrument: k.instrument,
        order_id: order_id.map(FillOrderId::from),
        exec_id: ExecId::from("x"),
        side,
        px: d(px),
        qty: d(qty),
        fee: d(fee),
        fee_asset: None,
        liquidity: Liquidity::Taker,
    })
}

/// An order event carrying only the client id, by payload kind name.
pub(crate) fn order_event(kind: &str, id: &str) -> Payload {
    let client_order_id = ClientOrderId::from(id);
    let r = OrderRef {
        client_order_id: client_order_id.clone(),
    };
    let refused = OrderRequestRejected {
        client_order_id: client_order_id.clone(),
        reason: "no".into(),
    };
    let amend = OrderAmend {
        client_order_id: client_order_id.clone(),
        qty: Some(d("10")),
        px: Some(d("101")),
        trigger_px: None,
    };
    match kind {
        "order_accepted" => accepted(id, None),
        "order_rejected" => Payload::OrderRejected(OrderRejected {
            client_order_id,
            reason: "no".into(),
        }),
        "order_amend_requested" => Payload::OrderAmendRequested(amend),
        "order_amended" => Payload::OrderAmended(amend),
        "order_amend_rejected" => Payload::OrderAmendRejected(refused),
        "order_cancel_requested" => Payload::OrderCancelRequested(r),
        "order_cancel_rejected" => Payload::OrderCancelRejected(refused),
        "order_cancelled" => Payload::OrderCancelled(OrderCancelled {
            client_order_id,
            reason: None,
        }),
        "order_expired" => Payload::OrderExpired(r),
        "order_triggered" => Payload::OrderTriggered(r),
        "close_order" => Payload::CorrectionApplied(CorrectionApplied {
            venue: key().venue,
            drift_seq: None,
            correction: Correction::CloseOrder { client_order_id },
            reason: "test".into(),
        }),
        other => panic!("unknown order event kind {other}"),
    }
}
