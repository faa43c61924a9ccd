//! What a session that never stopped left in flight besides its orders: the stops
//! and targets waiting for their entry to fill, and which action each working order
//! was sent for. The engine holds both in memory; after a crash they are read back
//! from the log (restart = replay: no second source of state), so an entry that
//! fills after the restart still gets its stop.
//!
//! A session that stopped cleanly left nothing: its stop cancelled every open order
//! and dropped the brackets not yet sent (see `Engine::cancel_all`), and a restart
//! must not undo that.

use std::ops::ControlFlow;

use crate::backend::OrderRequest;
use crate::event::{ClientOrderId, IntentAction, OrderRole, Payload, PositionKey, Seq};
use crate::log::{LogError, Reader};
use crate::reduce::Projection;

/// How far before an order's `order_submitted` its plan may be: the engine appends
/// the plan, then submits its direct orders one after the other, so the plan of the
/// n-th direct order is n events earlier. No plan has more direct orders than this.
const PLAN_WINDOW: Seq = 16;

/// The engine state a crashed session left, rebuilt from its log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outstanding {
    /// Per entry order, the stops and targets of its plan not yet submitted.
    pub brackets: Vec<(ClientOrderId, PositionKey, Vec<OrderRequest>)>,
    /// The direct orders not yet ended, with the action their intent asked for.
    pub working: Vec<(PositionKey, ClientOrderId, IntentAction)>,
}

impl Outstanding {
    /// True when nothing was left.
    pub fn is_empty(&self) -> bool {
        self.brackets.is_empty() && self.working.is_empty()
    }

    /// For the session's parameters: what was picked up, by client order id.
    pub fn describe(&self) -> String {
        let brackets = self
            .brackets
            .iter()
            .map(|(entry, _, requests)| {
                let ids: Vec<&str> = requests
                    .iter()
                    .map(|r| r.order.client_order_id.as_str())
                    .collect();
                format!("{} after {entry}", ids.join("+"))
            })
            .collect::<Vec<_>>();
        format!(
            "{} working orders; stops and targets not yet sent: {}",
            self.working.len(),
            match brackets.is_empty() {
                true => "none".to_string(),
                false => brackets.join(", "),
            }
        )
    }
}

/// What the orders submitted at or after `since` (the crashed session's start) left
/// outstanding, read from their plans and intents in the log.
pub fn outstanding(
    reader: &Reader,
    projection: &Projection,
    since: Seq,
) -> Result<Outstanding, LogError> {
    let mut orders: Vec<_> = projection
        .orders()
        .filter(|o| o.submitted_seq >= since)
        .collect();
    orders.sort_by_key(|o| o.submitted_seq);
    let submitted = reader.submitted_ids()?; // sorted, each once
    let sent =
        |id: &ClientOrderId| projection.order(id).is_some() || submitted.binary_search(id).is_ok();
    let mut out = Outstanding::default();
    for order in orders {
        let Some((action, plan)) = plan_of(reader, &order.client_order_id, order.submitted_seq)?
        else {
            continue;
        };
        let key = PositionKey {
            venue: plan.venue.clone(),
            book: plan.book.clone(),
            instrument: plan.instrument.clone(),
        };
        let (protective, direct): (Vec<_>, Vec<_>) = plan
            .orders
            .into_iter()
            .partition(|o| matches!(o.role, OrderRole::StopLoss | OrderRole::TakeProfit));
        if !direct
            .iter()
            .any(|o| o.client_order_id == order.client_order_id)
        {
            continue; // a stop or target itself
        }
        if let Some(action) = action.filter(|_| !order.state.is_terminal()) {
            out.working
                .push((key.clone(), order.client_order_id.clone(), action));
        }
        let is_entry = direct
            .first()
            .is_some_and(|o| o.client_order_id == order.client_order_id);
        let unsent: Vec<OrderRequest> = protective
            .into_iter()
            .filter(|o| !sent(&o.client_order_id))
            .map(|order| OrderRequest {
                key: key.clone(),
                order,
            })
            .collect();
        if is_entry && !unsent.is_empty() {
            out.brackets
                .push((order.client_order_id.clone(), key, unsent));
        }
    }
    Ok(out)
}

/// The plan that lists `id`, in the window before its `order_submitted` at
/// `submitted`, and the action of the intent it answered when that is in the window too.
fn plan_of(
    reader: &Reader,
    id: &ClientOrderId,
    submitted: Seq,
) -> Result<Option<(Option<IntentAction>, crate::event::Plan)>, LogError> {
    let Some(last) = submitted.checked_sub(1) else {
        return Ok(None);
    };
    let mut actions: Vec<(String, IntentAction)> = Vec::new();
    let mut found = None;
    reader.for_each_event(
        submitted.saturating_sub(PLAN_WINDOW + 1),
        last,
        |envelope| {
            match envelope.event.payload {
                Payload::Intent(i) => actions.push((i.intent_id, i.action)),
                Payload::Plan(p) if p.orders.iter().any(|o| &o.client_order_id == id) => {
                    found = Some(p);
                }
                _ => {}
            }
            Ok(ControlFlow::Continue(()))
        },
    )?;
    Ok(found.map(|plan| {
        let action = actions
            .iter()
            .rev()
            .find(|(intent, _)| *intent == plan.intent_id)
            .map(|(_, a)| *a);
        (action, plan)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::json::parse_event;
    use crate::event::{
        Decimal, Event, Intent, OrderType, Plan, PlannedOrder, Side, Size, TimeInForce, Timestamp,
    };
    use crate::log::{Ledger, OpenMode, Writer, WriterOptions};

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn planned(id: &str, role: OrderRole, side: Side, order_type: OrderType) -> PlannedOrder {
        PlannedOrder {
            client_order_id: ClientOrderId::from(id),
            role,
            side,
            order_type,
            qty: d("0.01"),
            px: (order_type == OrderType::Limit).then(|| d("41000")),
            trigger_px: (order_type == OrderType::StopMarket).then(|| d("40000")),
            tif: TimeInForce::Gtc,
            reduce_only: role != OrderRole::Entry,
            post_only: false,
        }
    }

    /// A session that entered with a stop and a target, then crashed with the events
    /// of `after` the last thing it wrote.
    fn crashed_session(after: &[&str]) -> (tempfile::TempDir, Ledger) {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("l.redb"), OpenMode::CreateIfMissing).unwrap();
        let ts = Timestamp::parse_rfc3339("2026-01-05T00:00:00Z").unwrap();
        let json = |l: &str| parse_event(l).unwrap();
        let intent = Intent {
            intent_id: "s-1".to_string(),
            strategy_id: "s".into(),
            venue: "bybit".into(),
            book: "linear".into(),
            instrument: "BTCUSDT".into(),
            action: IntentAction::Entry,
            side: Side::Buy,
            size: Size::PositionFraction(Decimal::ONE),
            order_type: OrderType::Limit,
            limit_px: Some(d("41000")),
            stop_loss: Some(d("40000")),
            take_profit: Some(d("43000")),
            reason: "test".to_string(),
        };
        let plan = Plan {
            intent_id: "s-1".to_string(),
            venue: "bybit".into(),
            book: "linear".into(),
            instrument: "BTCUSDT".into(),
            orders: vec![
                planned("c-1", OrderRole::Entry, Side::Buy, OrderType::Limit),
                planned(
                    "c-1-sl",
                    OrderRole::StopLoss,
                    Side::Sell,
                    OrderType::StopMarket,
                ),
                planned(
                    "c-1-tp",
                    OrderRole::TakeProfit,
                    Side::Sell,
                    OrderType::Limit,
                ),
            ],
            adjustments: Vec::new(),
        };
        let mut events = vec![
            json(
                r#"{"type":"session_started","ts":"2026-01-05T00:00:00Z","mode":"live","config_hash":"x","version":"t"}"#,
            ),
            Event::new(ts, Payload::Intent(intent)),
            Event::new(ts, Payload::Plan(plan)),
            json(
                r#"{"type":"order_submitted","ts":"2026-01-05T00:00:00Z","venue":"bybit","book":"linear","instrument":"BTCUSDT","client_order_id":"c-1","side":"buy","order_type":"limit","qty":"0.01","px":"41000","tif":"gtc","reduce_only":false,"post_only":false}"#,
            ),
        ];
        events.extend(after.iter().map(|l| json(l)));
        let mut writer = Writer::new(&ledger, WriterOptions::default()).unwrap();
        let outcome = writer.append(events).unwrap();
        assert!(outcome.rejected.is_empty(), "{:?}", outcome.rejected);
        writer.commit().unwrap();
        (dir, ledger)
    }

    fn left(ledger: &Ledger) -> Outstanding {
        let writer = Writer::resume(ledger, WriterOptions::default()).unwrap();
        outstanding(&ledger.reader().unwrap(), writer.projection(), 1).unwrap()
    }

    const FILLED: &str = r#"{"type":"fill","ts":"2026-01-05T00:00:01Z","venue":"bybit","book":"linear","instrument":"BTCUSDT","order_id":"c-1","exec_id":"e-1","side":"buy","px":"41000","qty":"0.01","fee":"0.01","liquidity":"maker"}"#;

    #[test]
    fn a_resting_entry_is_working_and_keeps_its_stop_and_target() {
        let (_dir, ledger) = crashed_session(&[]);
        let left = left(&ledger);
        let key = "bybit:linear:BTCUSDT".parse::<PositionKey>().unwrap();
        assert_eq!(
            left.working,
            vec![(key.clone(), ClientOrderId::from("c-1"), IntentAction::Entry)]
        );
        assert_eq!(left.brackets.len(), 1);
        let (entry, bracket_key, requests) = &left.brackets[0];
        assert_eq!((entry.as_str(), bracket_key), ("c-1", &key));
        let ids: Vec<_> = requests
            .iter()
            .map(|r| r.order.client_order_id.as_str())
            .collect();
        assert_eq!(ids, ["c-1-sl", "c-1-tp"]);
    }

    #[test]
    fn a_filled_entry_whose_stop_was_sent_before_the_crash_keeps_only_its_target() {
        let stop_sent = r#"{"type":"order_submitted","ts":"2026-01-05T00:00:01Z","venue":"bybit","book":"linear","instrument":"BTCUSDT","client_order_id":"c-1-sl","side":"sell","order_type":"stop_market","qty":"0.01","trigger_px":"40000","tif":"gtc","reduce_only":true,"post_only":false}"#;
        let (_dir, ledger) = crashed_session(&[FILLED, stop_sent]);
        let left = left(&ledger);
        assert!(
            left.working.is_empty(),
            "the entry ended: {:?}",
            left.working
        );
        let ids: Vec<_> = left.brackets[0]
            .2
            .iter()
            .map(|r| r.order.client_order_id.as_str())
            .collect();
        assert_eq!(ids, ["c-1-tp"]);
        assert!(left.describe().contains("c-1-tp after c-1"));
    }

    #[test]
    fn nothing_is_left_once_both_were_sent_or_the_session_began_after() {
        let (_dir, ledger) = crashed_session(&[FILLED]);
        let writer = Writer::resume(&ledger, WriterOptions::default()).unwrap();
        let head = ledger.reader().unwrap().head_seq().unwrap();
        let later = outstanding(&ledger.reader().unwrap(), writer.projection(), head + 1);
        assert!(later.unwrap().is_empty());
        drop(writer);
        let sl = r#"{"type":"order_submitted","ts":"2026-01-05T00:00:01Z","venue":"bybit","book":"linear","instrument":"BTCUSDT","client_order_id":"c-1-sl","side":"sell","order_type":"stop_market","qty":"0.01","trigger_px":"40000","tif":"gtc","reduce_only":true,"post_only":false}"#;
        let tp = r#"{"type":"order_submitted","ts":"2026-01-05T00:00:01Z","venue":"bybit","book":"linear","instrument":"BTCUSDT","client_order_id":"c-1-tp","side":"sell","order_type":"limit","qty":"0.01","px":"43000","tif":"gtc","reduce_only":true,"post_only":false}"#;
        let (_dir, ledger) = crashed_session(&[FILLED, sl, tp]);
        assert!(left(&ledger).is_empty());
    }
}
