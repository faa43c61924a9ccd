//! Reconciliation (seed 004 §3.2): the projection against a venue's snapshot.
//!
//! Given what the ledger believes (the projection) and what the venue says (an
//! [`ExchangeSnapshot`]), produce the events that record and repair every difference:
//! the snapshot itself, then per difference a `drift_detected` and the
//! `correction_applied` that makes the projection match the venue, citing the drift's
//! seq. Nothing is overwritten silently: each move is in the log with its reason, and
//! `audit` shows it as a correction.
//!
//! Pure and deterministic: the same projection and snapshot give the same events, in
//! the same order (keys in sorted order). When nothing differs, nothing is produced,
//! so a second reconcile after the first's corrections adds nothing, and a replay of
//! the log applies each correction exactly once (it is an event, with its seq).
//!
//! What is compared: position sizes (an average price the venue rounds differently is
//! not a drift; a size is), our open orders the venue does not hold (closed), the
//! venue's open orders we do not know (reported as external; the ledger cannot invent
//! their history), and balances. A balance the ledger was never told (a new ledger:
//! Bybit's `wallet` topic sends no snapshot on subscribe) is learned, as a `balance`
//! event, not called drift: there was no belief to differ from.

use std::collections::BTreeMap;

use crate::event::{
    Balance, Correction, CorrectionApplied, Decimal, DriftDetected, DriftScope, Event,
    ExchangeSnapshot, Payload, PositionKey, Seq, Timestamp, Venue,
};
use crate::reduce::{OrderState, Projection};

/// One difference, as `reconcile` prints it.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// Position, order or balance.
    pub scope: DriftScope,
    /// Which one.
    pub subject: String,
    /// What the ledger says.
    pub ours: String,
    /// What the venue says.
    pub theirs: String,
    /// Whether a correction was appended (external orders have none).
    pub corrected: bool,
}

impl std::fmt::Display for Difference {
    /// One line for the operator: `Position bybit:linear:BTCUSDT: ledger …, venue … (corrected)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} {}: ledger {}, venue {} ({})",
            self.scope,
            self.subject,
            self.ours,
            self.theirs,
            if self.corrected {
                "corrected"
            } else {
                "recorded"
            }
        )
    }
}

/// The events that record `snapshot` and repair every difference with `projection`,
/// numbered from `first_seq` (the seq the snapshot will get), and the differences.
/// Empty when the two agree.
pub fn reconcile(
    projection: &Projection,
    snapshot: &ExchangeSnapshot,
    ts: Timestamp,
    first_seq: Seq,
) -> (Vec<Event>, Vec<Difference>) {
    let venue = &snapshot.venue;
    let mut found: Vec<(DriftDetected, Option<Correction>)> = Vec::new();
    positions(projection, snapshot, &mut found);
    orders(projection, snapshot, &mut found);
    let learned = balances(projection, snapshot, &mut found);
    let learned = learned
        .into_iter()
        .map(|b| Event::new(ts, Payload::Balance(b)));
    if found.is_empty() {
        return (learned.collect(), Vec::new());
    }
    let mut events = vec![Event::new(ts, Payload::ExchangeSnapshot(snapshot.clone()))];
    let mut differences = Vec::new();
    for (drift, correction) in found {
        let drift_seq = first_seq + events.len() as Seq;
        differences.push(Difference {
            scope: drift.scope,
            subject: drift.subject.clone(),
            ours: drift.ours.clone(),
            theirs: drift.theirs.clone(),
            corrected: correction.is_some(),
        });
        let reason = format!(
            "reconcile: {} {} is {} at the venue, {} in the ledger (snapshot seq {first_seq})",
            scope_name(drift.scope),
            drift.subject,
            drift.theirs,
            drift.ours
        );
        events.push(Event::new(ts, Payload::DriftDetected(drift)));
        if let Some(correction) = correction {
            events.push(Event::new(
                ts,
                Payload::CorrectionApplied(CorrectionApplied {
                    venue: venue.clone(),
                    drift_seq: Some(drift_seq),
                    correction,
                    reason,
                }),
            ));
        }
    }
    events.extend(learned);
    (events, differences)
}

fn scope_name(scope: DriftScope) -> &'static str {
    match scope {
        DriftScope::Position => "position",
        DriftScope::Order => "order",
        DriftScope::Balance => "balance",
        DriftScope::OrderTransition => "order transition",
    }
}

fn drift(
    venue: &Venue,
    scope: DriftScope,
    subject: String,
    ours: String,
    theirs: String,
    detail: &str,
) -> DriftDetected {
    DriftDetected {
        venue: venue.clone(),
        scope,
        subject,
        ours,
        theirs,
        detail: detail.to_string(),
    }
}

fn positions(
    projection: &Projection,
    snapshot: &ExchangeSnapshot,
    found: &mut Vec<(DriftDetected, Option<Correction>)>,
) {
    let venue = &snapshot.venue;
    let mut theirs: BTreeMap<PositionKey, (Decimal, Decimal)> = BTreeMap::new();
    for p in &snapshot.positions {
        let key = PositionKey {
            venue: venue.clone(),
            book: p.book.clone(),
            instrument: p.instrument.clone(),
        };
        theirs.insert(key, (p.qty, p.avg_px));
    }
    let mut keys: Vec<PositionKey> = theirs.keys().cloned().collect();
    keys.extend(
        projection
            .positions()
            .filter(|p| p.key.venue == *venue && !p.qty.is_zero())
            .map(|p| p.key.clone()),
    );
    keys.sort();
    keys.dedup();
    for key in keys {
        let ours = projection
            .position(&key)
            .filter(|p| !p.qty.is_zero())
            .map(|p| (p.qty, p.avg_px()));
        let venue_side = theirs.get(&key).copied().filter(|(q, _)| !q.is_zero());
        let (our_qty, venue_qty) = (
            ours.map(|o| o.0).unwrap_or_default(),
            venue_side.map(|t| t.0).unwrap_or_default(),
        );
        if our_qty == venue_qty {
            continue;
        }
        let show = |side: Option<(Decimal, Decimal)>| match side {
            Some((q, px)) => format!("{q} @ {px}"),
            None => "flat".to_string(),
        };
        let (qty, avg_px) = venue_side.unwrap_or((Decimal::ZERO, Decimal::ZERO));
        found.push((
            drift(
                venue,
                DriftScope::Position,
                key.to_string(),
                show(ours),
                show(venue_side),
                "position size differs (a fill missed or made outside the ledger)",
            ),
            Some(Correction::SetPosition {
                book: key.book.clone(),
                instrument: key.instrument.clone(),
                qty,
                avg_px,
            }),
        ));
    }
}

fn orders(
    projection: &Projection,
    snapshot: &ExchangeSnapshot,
    found: &mut Vec<(DriftDetected, Option<Correction>)>,
) {
    let venue = &snapshot.venue;
    let open_there: BTreeMap<_, _> = snapshot
        .open_orders
        .iter()
        .filter_map(|o| o.client_order_id.as_ref().map(|id| (id.clone(), o)))
        .collect();
    let mut ours: Vec<_> = projection
        .orders()
        // An order the venue never answered is not compared: its outcome is settled
        // by asking the venue for it by client id (the outbox), which tells "never
        // arrived" (rejected) from "arrived late" (accepted, maybe filled). A snapshot
        // taken meanwhile would close an order that may yet report fills.
        .filter(|o| {
            o.key.venue == *venue && !o.state.is_terminal() && o.state != OrderState::Submitted
        })
        .collect();
    ours.sort_by(|a, b| a.client_order_id.cmp(&b.client_order_id));
    for order in ours {
        if open_there.contains_key(&order.client_order_id) {
            continue;
        }
        found.push((
            drift(
                venue,
                DriftScope::Order,
                order.client_order_id.to_string(),
                format!("{:?}", order.state).to_lowercase(),
                "not open".to_string(),
                "open in the ledger, not open at the venue",
            ),
            Some(Correction::CloseOrder {
                client_order_id: order.client_order_id.clone(),
            }),
        ));
    }
    let mut external: Vec<_> = snapshot
        .open_orders
        .iter()
        .filter(|o| {
            o.client_order_id
                .as_ref()
                .is_none_or(|id| projection.order(id).is_none())
        })
        .collect();
    external.sort_by(|a, b| a.venue_order_id.cmp(&b.venue_order_id));
    for o in external {
        let subject = match &o.client_order_id {
            Some(id) => id.to_string(),
            None => format!("venue order {}", o.venue_order_id),
        };
        found.push((
            drift(
                venue,
                DriftScope::Order,
                subject,
                "unknown".to_string(),
                format!(
                    "open {:?} {} {}{}",
                    o.side,
                    o.qty,
                    o.instrument,
                    o.px.map(|p| format!(" @ {p}")).unwrap_or_default()
                )
                .to_lowercase(),
                "an external order (placed outside this ledger): recorded, not adopted",
            ),
            None,
        ));
    }
}

/// Balance drifts into `found`; the balances the ledger never knew, to be learned.
fn balances(
    projection: &Projection,
    snapshot: &ExchangeSnapshot,
    found: &mut Vec<(DriftDetected, Option<Correction>)>,
) -> Vec<Balance> {
    let venue = &snapshot.venue;
    let mut theirs: Vec<_> = snapshot.balances.iter().collect();
    theirs.sort_by(|a, b| a.asset.cmp(&b.asset));
    let mut learned = Vec::new();
    for b in theirs {
        let ours = projection
            .balances()
            .find(|((v, a), _)| v == venue && *a == b.asset)
            .map(|(_, total)| *total);
        let Some(ours) = ours else {
            learned.push(Balance {
                venue: venue.clone(),
                asset: b.asset.clone(),
                total: b.total,
                available: None,
            });
            continue;
        };
        if ours == b.total {
            continue;
        }
        found.push((
            drift(
                venue,
                DriftScope::Balance,
                b.asset.to_string(),
                ours.to_string(),
                b.total.to_string(),
                "balance differs",
            ),
            Some(Correction::SetBalance {
                asset: b.asset.clone(),
                total: b.total,
            }),
        ));
    }
    learned
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::json::parse_event;
    use crate::event::{SnapshotBalance, SnapshotOrder, SnapshotPosition};

    fn fold(lines: &[&str]) -> Projection {
        let mut p = Projection::new();
        for (i, line) in lines.iter().enumerate() {
            p.apply_event(i as u64 + 1, &parse_event(line).unwrap())
                .unwrap();
        }
        p
    }

    fn snapshot(qty: &str, orders: Vec<SnapshotOrder>, usdt: &str) -> ExchangeSnapshot {
        ExchangeSnapshot {
            venue: Venue::from("bybit"),
            positions: vec![SnapshotPosition {
                book: "linear".into(),
                instrument: "BTCUSDT".into(),
                qty: qty.parse().unwrap(),
                avg_px: "42000".parse().unwrap(),
            }],
            open_orders: orders,
            balances: vec![SnapshotBalance {
                asset: "USDT".into(),
                total: usdt.parse().unwrap(),
            }],
        }
    }

    const FILL: &str = r#"{"type":"fill","ts":"2026-01-05T00:00:00Z","venue":"bybit","book":"linear","instrument":"BTCUSDT","exec_id":"e-1","side":"buy","px":"42000","qty":"0.01","fee":"0","liquidity":"taker"}"#;
    const SUBMITTED: &str = r#"{"type":"order_submitted","ts":"2026-01-05T00:00:01Z","venue":"bybit","book":"linear","instrument":"BTCUSDT","client_order_id":"c-1","side":"buy","order_type":"limit","qty":"0.01","px":"41000","tif":"gtc","reduce_only":false,"post_only":false}"#;
    const ACCEPTED: &str = r#"{"type":"order_accepted","ts":"2026-01-05T00:00:02Z","client_order_id":"c-1","venue_order_id":"v-1"}"#;

    #[test]
    fn an_order_the_venue_never_answered_is_left_to_the_outbox() {
        let projection = fold(&[FILL, SUBMITTED]);
        let mut snap = snapshot("0.01", Vec::new(), "1000");
        snap.balances.clear();
        let (events, diffs) = reconcile(&projection, &snap, Timestamp::from_nanos(1), 3);
        assert!(diffs.is_empty(), "{diffs:?}");
        assert!(events.is_empty());
    }

    #[test]
    fn every_difference_gets_a_drift_and_a_correction_and_then_nothing_is_left() {
        let mut projection = fold(&[FILL, SUBMITTED, ACCEPTED]);
        let external = SnapshotOrder {
            book: "linear".into(),
            instrument: "BTCUSDT".into(),
            client_order_id: None,
            venue_order_id: "v-9".into(),
            side: crate::event::Side::Sell,
            qty: "1".parse().unwrap(),
            filled_qty: Decimal::ZERO,
            px: Some("50000".parse().unwrap()),
        };
        let snap = snapshot("0.03", vec![external.clone()], "1000");
        let ts = Timestamp::from_nanos(1);
        let (events, diffs) = reconcile(&projection, &snap, ts, 4);
        let kinds: Vec<&str> = events.iter().map(|e| e.payload.kind()).collect();
        assert_eq!(
            kinds,
            [
                "exchange_snapshot",
                "drift_detected",
                "correction_applied",
                "drift_detected",
                "correction_applied",
                "drift_detected",
                "balance"
            ]
        );
        assert_eq!(
            diffs.len(),
            3,
            "a balance never known is learned: {diffs:?}"
        );
        assert_eq!(diffs[0].ours, "0.01 @ 42000");
        assert_eq!(diffs[0].theirs, "0.03 @ 42000");
        assert!(
            !diffs[2].corrected,
            "an external order is recorded, not adopted"
        );
        // Each correction cites the seq of the drift right before it.
        for (i, e) in events.iter().enumerate() {
            if let Payload::CorrectionApplied(c) = &e.payload {
                assert_eq!(c.drift_seq, Some(4 + i as u64 - 1));
            }
        }
        for (i, e) in events.iter().enumerate() {
            projection.apply_event(4 + i as u64, e).unwrap();
        }
        let key = PositionKey::new("bybit", "linear", "BTCUSDT");
        assert_eq!(
            projection.position(&key).unwrap().qty,
            "0.03".parse().unwrap()
        );
        // Second pass: only the external order is still there (it cannot be
        // corrected); the rest agrees.
        let (again, diffs) = reconcile(&projection, &snap, ts, 20);
        assert_eq!(diffs.len(), 1, "{diffs:?}");
        assert_eq!(again.len(), 2);
        // Without it, nothing at all.
        let snap = snapshot("0.03", Vec::new(), "1000");
        assert_eq!(
            reconcile(&projection, &snap, ts, 20),
            (Vec::new(), Vec::new())
        );
    }

    #[test]
    fn a_known_balance_the_venue_disagrees_with_is_drift_set_to_the_venues() {
        const BALANCE: &str = r#"{"type":"balance","ts":"2026-01-05T00:00:00Z","venue":"bybit","asset":"USDT","total":"900"}"#;
        let mut projection = fold(&[FILL, BALANCE]);
        let snap = snapshot("0.01", Vec::new(), "1000.5");
        let ts = Timestamp::from_nanos(1);
        let (events, diffs) = reconcile(&projection, &snap, ts, 3);
        assert_eq!(diffs.len(), 1, "{diffs:?}");
        assert_eq!(diffs[0].scope, DriftScope::Balance);
        assert_eq!(
            (diffs[0].ours.as_str(), diffs[0].theirs.as_str()),
            ("900", "1000.5")
        );
        let kinds: Vec<&str> = events.iter().map(|e| e.payload.kind()).collect();
        assert_eq!(
            kinds,
            ["exchange_snapshot", "drift_detected", "correction_applied"]
        );
        for (i, e) in events.iter().enumerate() {
            projection.apply_event(3 + i as u64, e).unwrap();
        }
        let total = projection.balances().next().map(|(_, t)| *t);
        assert_eq!(total, Some("1000.5".parse().unwrap()));
        assert_eq!(
            reconcile(&projection, &snap, ts, 6),
            (Vec::new(), Vec::new())
        );
    }
}
