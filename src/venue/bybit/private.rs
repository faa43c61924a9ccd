//! The private WS (`order`, `execution`, `position`, `wallet`, the `auth` ack) and the
//! [`Translator`]: a deterministic state machine from Bybit's messages to the report
//! events of `backend::api` (order_accepted, order_rejected, order_amended,
//! order_cancelled, order_expired, order_triggered, fill, funding, liquidation, adl).
//!
//! Orders are keyed by `orderLinkId` (the ledger's `ClientOrderId`). The traps it
//! handles, each tested below:
//! * `execType` `Funding` is a `funding` event (amount = −execFee), never a fill;
//!   `AdlTrade` / `BustTrade` are `adl` / `liquidation`, never fills.
//! * Fills come only from `execution`, deduplicated by execId; an order's
//!   `PartiallyFilled` / `Filled` messages give no fills.
//! * A cancel racing a fill gives two `Filled` messages: the first ends the order, the
//!   rest say nothing.
//! * A crossing PostOnly ends `Cancelled` with `EC_PostOnlyWillTakeLiquidity`: that is
//!   `order_rejected` (or `order_cancelled` with that reason once the order was already
//!   accepted, since the ledger accepts a reject only for an unacknowledged order).
//! * A `Cancelled` IOC/FOK with quantity left is `order_expired` (see `status.rs`).
//! * `New` / `Untriggered` accept once; a later open message with another qty, price or
//!   trigger price is `order_amended`, with the same values nothing.
//! * An order message for an id the translator never tracked is returned as an
//!   [`ExternalOrder`], not as events: reconciliation decides what it means.
//!
//! Event ts is the venue's time of the fact (`updatedTime`, `execTime`; a wallet's
//! `creationTime`); `recv_ts` is left `None` for the caller. No clock, no I/O.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::Value;

use super::control::{Control, read_control};
use super::objects::{ExecType, Execution, Order, Position, Wallet, read_list};
use super::status::{OrderState, POST_ONLY_WOULD_TAKE};
use super::wire::{FrameError, Namespace, millis};
use crate::event::{
    ClientOrderId, Decimal, Event, ExecId, Fill, FillOrderId, ForcedClose, Funding, Liquidity,
    OrderAccepted, OrderAmend, OrderCancelled, OrderRef, OrderRejected, OrderSubmitted, Payload,
    Timestamp,
};

/// How many execIds the translator remembers to drop duplicates. Bybit re-sends an
/// execution after a reconnect or a REST catch-up, never days later: 100 000 is hours
/// of fills at the 10 orders/s limit, and about 5 MB.
pub const EXEC_IDS_MAX: usize = 100_000;

/// How many ended orders the translator remembers, so a late duplicate `Filled` or
/// `Cancelled` for one is recognised rather than reported as external.
pub const ENDED_ORDERS_MAX: usize = 10_000;

/// A parsed private frame.
#[derive(Debug, Clone, PartialEq)]
pub enum PrivateFrame {
    /// An auth, subscribe or pong answer.
    Control(Control),
    /// `order` topic.
    Orders(Vec<Order>),
    /// `execution` topic.
    Executions(Vec<Execution>),
    /// `position` topic (sent on every order action, even when nothing changed).
    Positions(Vec<Position>),
    /// `wallet` topic, with the frame's `creationTime`.
    Wallets(Timestamp, Vec<Wallet>),
}

/// Parse one private WS text frame.
pub fn parse_private(frame: &str) -> Result<PrivateFrame, FrameError> {
    let value: Value = super::wire::from_json(frame)?;
    let Value::Object(mut object) = value else {
        return Err(FrameError::new(frame, "json", "expected an object"));
    };
    if let Some(control) = read_control(frame, &object) {
        return control.map(PrivateFrame::Control);
    }
    let topic = object
        .get("topic")
        .and_then(Value::as_str)
        .ok_or_else(|| FrameError::new(frame, "topic", "missing"))?
        .to_string();
    let data = object
        .remove("data")
        .ok_or_else(|| FrameError::new(frame, "data", "missing"))?;
    // `order.linear` and friends are the categorised names of the same topics.
    match topic.split('.').next().unwrap_or_default() {
        "order" => read_list(frame, "data", data, Order::read).map(PrivateFrame::Orders),
        "execution" => {
            read_list(frame, "data", data, Execution::read).map(PrivateFrame::Executions)
        }
        "position" => read_list(frame, "data", data, Position::read).map(PrivateFrame::Positions),
        "wallet" => {
            let ms = object.get("creationTime").and_then(Value::as_i64);
            let ms = ms.ok_or_else(|| FrameError::new(frame, "creationTime", "missing"))?;
            let ts = millis(frame, "creationTime", ms)?;
            let wallets = read_list(frame, "data", data, Wallet::read)?;
            Ok(PrivateFrame::Wallets(ts, wallets))
        }
        _ => Err(FrameError::new(
            frame,
            "topic",
            format!("unknown topic {topic:?}"),
        )),
    }
}

/// An order the ledger did not place (or no longer remembers), for reconciliation.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalOrder {
    /// The order message as Bybit sent it.
    pub order: Order,
}

/// What one batch of messages means.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Translation {
    /// Report events, in the order of the messages.
    pub events: Vec<Event>,
    /// Order messages about orders the translator does not track.
    pub external: Vec<ExternalOrder>,
}

/// Where a tracked order is, as far as the events already emitted go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Submitted, nothing emitted yet: accept or reject are still legal.
    Submitted,
    /// Accepted (or filled, which implies it).
    Working,
    /// Filled, cancelled, expired or rejected: nothing more about it but fills.
    Ended,
}

#[derive(Debug, Clone)]
struct Tracked {
    phase: Phase,
    qty: Decimal,
    px: Option<Decimal>,
    trigger_px: Option<Decimal>,
    triggered: bool,
}

/// Turns private messages into report events. Deterministic: the same messages in the
/// same order give the same events. Memory is bounded by [`EXEC_IDS_MAX`] and
/// [`ENDED_ORDERS_MAX`] (open orders are bounded by the venue's 500 per symbol).
#[derive(Debug, Clone)]
pub struct Translator {
    ns: Namespace,
    orders: BTreeMap<ClientOrderId, Tracked>,
    ended: VecDeque<ClientOrderId>,
    exec_ids: BTreeSet<ExecId>,
    exec_order: VecDeque<ExecId>,
}

impl Translator {
    /// A translator naming `ns` in its events.
    pub fn new(ns: Namespace) -> Translator {
        Translator {
            ns,
            orders: BTreeMap::new(),
            ended: VecDeque::new(),
            exec_ids: BTreeSet::new(),
            exec_order: VecDeque::new(),
        }
    }

    /// Track an order the ledger is submitting (call when `order_submitted` is appended).
    /// Its first `New` message will be `order_accepted`.
    pub fn track(&mut self, order: &OrderSubmitted) {
        self.insert(order, Phase::Submitted);
    }

    /// Track an order the ledger already saw accepted (after a restart): no second
    /// `order_accepted` for it.
    pub fn track_accepted(&mut self, order: &OrderSubmitted) {
        self.insert(order, Phase::Working);
    }

    fn insert(&mut self, order: &OrderSubmitted, phase: Phase) {
        let tracked = Tracked {
            phase,
            qty: order.qty,
            px: order.px,
            trigger_px: order.trigger_px,
            triggered: false,
        };
        self.orders.insert(order.client_order_id.clone(), tracked);
    }

    /// The events for a parsed frame; control, position and wallet-less frames give none
    /// (a wallet gives one `balance` per coin).
    pub fn translate(&mut self, frame: &PrivateFrame) -> Translation {
        let mut out = Translation::default();
        match frame {
            PrivateFrame::Orders(orders) => orders.iter().for_each(|o| self.order(o, &mut out)),
            PrivateFrame::Executions(execs) => {
                execs.iter().for_each(|e| self.execution(e, &mut out))
            }
            PrivateFrame::Wallets(ts, wallets) => {
                for balance in wallets.iter().flat_map(|w| w.to_balances(&self.ns)) {
                    out.events.push(Event::new(*ts, Payload::Balance(balance)));
                }
            }
            PrivateFrame::Control(_) | PrivateFrame::Positions(_) => {}
        }
        out
    }

    fn order(&mut self, order: &Order, out: &mut Translation) {
        let tracked = order
            .order_link_id
            .as_ref()
            .and_then(|id| self.orders.get_mut(id).map(|t| (id.clone(), t)));
        let Some((id, tracked)) = tracked else {
            out.external.push(ExternalOrder {
                order: order.clone(),
            });
            return;
        };
        let before = tracked.phase;
        let payloads = order_payloads(&id, tracked, order);
        let ended_now = before != Phase::Ended && tracked.phase == Phase::Ended;
        let ts = order.updated_time;
        out.events
            .extend(payloads.into_iter().map(|p| Event::new(ts, p)));
        if ended_now {
            self.remember_ended(id);
        }
    }

    fn remember_ended(&mut self, id: ClientOrderId) {
        self.ended.push_back(id);
        while self.ended.len() > ENDED_ORDERS_MAX {
            if let Some(old) = self.ended.pop_front() {
                self.orders.remove(&old);
            }
        }
    }

    fn execution(&mut self, exec: &Execution, out: &mut Translation) {
        if !self.exec_ids.insert(exec.exec_id.clone()) {
            return;
        }
        self.exec_order.push_back(exec.exec_id.clone());
        while self.exec_order.len() > EXEC_IDS_MAX {
            if let Some(old) = self.exec_order.pop_front() {
                self.exec_ids.remove(&old);
            }
        }
        let payload = match exec.exec_type {
            ExecType::Trade => self.fill(exec),
            ExecType::Funding => Payload::Funding(Funding {
                venue: self.ns.venue.clone(),
                book: self.ns.book.clone(),
                instrument: exec.symbol.clone(),
                // Bybit: positive execFee = paid; the ledger: positive amount = received.
                amount: -exec.fee,
                rate: None,
            }),
            ExecType::AdlTrade => Payload::Adl(self.forced_close(exec)),
            ExecType::BustTrade => Payload::Liquidation(self.forced_close(exec)),
            // Delivery, settlement, block trades, moved positions: not a report the
            // ledger models yet; reconciliation sees their effect on the position.
            ExecType::Other(_) => return,
        };
        out.events.push(Event::new(exec.exec_time, payload));
    }

    fn fill(&mut self, exec: &Execution) -> Payload {
        let order_id = match &exec.order_link_id {
            Some(id) => {
                // A fill implies the order was acknowledged: an accept after it
                // would be an illegal move for the ledger.
                if let Some(t) = self.orders.get_mut(id) {
                    if t.phase == Phase::Submitted {
                        t.phase = Phase::Working;
                    }
                }
                Some(FillOrderId::from(id.as_str()))
            }
            None => exec
                .order_id
                .as_ref()
                .map(|id| FillOrderId::from(id.as_str())),
        };
        let fee_asset = exec
            .fee_currency
            .clone()
            .filter(|asset| !exec.symbol.as_str().ends_with(asset.as_str()));
        Payload::Fill(Fill {
            venue: self.ns.venue.clone(),
            book: self.ns.book.clone(),
            instrument: exec.symbol.clone(),
            order_id,
            exec_id: exec.exec_id.clone(),
            side: exec.side,
            px: exec.px,
            qty: exec.qty,
            fee: exec.fee,
            fee_asset,
            liquidity: match exec.is_maker {
                true => Liquidity::Maker,
                false => Liquidity::Taker,
            },
        })
    }

    fn forced_close(&self, exec: &Execution) -> ForcedClose {
        ForcedClose {
            venue: self.ns.venue.clone(),
            book: self.ns.book.clone(),
            instrument: exec.symbol.clone(),
            exec_id: exec.exec_id.clone(),
            side: exec.side,
            px: exec.px,
            qty: exec.qty,
            fee: Some(exec.fee),
        }
    }
}

/// The payloads one order message means for a tracked order, updating its phase.
fn order_payloads(id: &ClientOrderId, t: &mut Tracked, order: &Order) -> Vec<Payload> {
    if t.phase == Phase::Ended {
        // A duplicate Filled after a racing cancel, or a late Cancelled: one outcome.
        return Vec::new();
    }
    let mut out = Vec::new();
    let order_ref = || OrderRef {
        client_order_id: id.clone(),
    };
    match order.state() {
        OrderState::New | OrderState::PartiallyFilled => {
            if t.phase == Phase::Submitted {
                t.phase = Phase::Working;
                t.qty = order.qty;
                t.px = order.px;
                t.trigger_px = order.trigger_px;
                out.push(Payload::OrderAccepted(OrderAccepted {
                    client_order_id: id.clone(),
                    venue_order_id: Some(order.order_id.clone()),
                }));
            } else if let Some(amend) = amended(id, t, order) {
                out.push(Payload::OrderAmended(amend));
            }
            let triggered = order.status == super::status::OrderStatus::Triggered;
            if triggered && !t.triggered && t.trigger_px.is_some() {
                t.triggered = true;
                out.push(Payload::OrderTriggered(order_ref()));
            }
        }
        OrderState::Filled => t.phase = Phase::Ended,
        OrderState::Cancelled => {
            t.phase = Phase::Ended;
            out.push(cancelled(id, order));
        }
        OrderState::Expired => {
            t.phase = Phase::Ended;
            out.push(Payload::OrderExpired(order_ref()));
        }
        OrderState::Rejected => {
            let was_submitted = t.phase == Phase::Submitted;
            t.phase = Phase::Ended;
            out.push(match was_submitted {
                true => Payload::OrderRejected(OrderRejected {
                    client_order_id: id.clone(),
                    reason: reject_reason(order),
                }),
                // Accepted first (a `New` came, or a fill): the ledger cannot reject an
                // acknowledged order, so the same fact is a cancel with its reason.
                false => cancelled(id, order),
            });
        }
    }
    out
}

fn reject_reason(order: &Order) -> String {
    match order.reject_reason.as_str() {
        "" | "EC_NoError" => order.cancel_type.clone(),
        reason => reason.to_string(),
    }
}

fn cancelled(id: &ClientOrderId, order: &Order) -> Payload {
    let reason = match (order.reject_reason.as_str(), order.cancel_type.as_str()) {
        (POST_ONLY_WOULD_TAKE, _) => Some(POST_ONLY_WOULD_TAKE.to_string()),
        (_, "" | "UNKNOWN") => None,
        (_, cancel_type) => Some(cancel_type.to_string()),
    };
    Payload::OrderCancelled(OrderCancelled {
        client_order_id: id.clone(),
        reason,
    })
}

/// The amend an open order message confirms: only the fields that changed.
fn amended(id: &ClientOrderId, t: &mut Tracked, order: &Order) -> Option<OrderAmend> {
    let qty = (order.qty != t.qty).then_some(order.qty);
    let px = (order.px != t.px).then_some(order.px).flatten();
    let trigger_px = (order.trigger_px != t.trigger_px)
        .then_some(order.trigger_px)
        .flatten();
    if qty.is_none() && px.is_none() && trigger_px.is_none() {
        return None;
    }
    t.qty = order.qty;
    t.px = order.px;
    t.trigger_px = order.trigger_px;
    Some(OrderAmend {
        client_order_id: id.clone(),
        qty,
        px,
        trigger_px,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{OrderType, Side, TimeInForce};

    fn submitted(id: &str) -> OrderSubmitted {
        OrderSubmitted {
            venue: "bybit".into(),
            book: "linear".into(),
            instrument: "BTCUSDT".into(),
            client_order_id: id.into(),
            side: Side::Buy,
            order_type: OrderType::Limit,
            qty: "1".parse().unwrap(),
            px: Some("25000".parse().unwrap()),
            trigger_px: None,
            tif: TimeInForce::Gtc,
            reduce_only: false,
            post_only: false,
        }
    }

    /// An `order` frame for `c-1` with fields overridden by `(key, value)` pairs.
    fn order_frame(fields: &[(&str, &str)]) -> String {
        let mut o = serde_json::json!({"category":"linear","symbol":"BTCUSDT","orderId":"o-1",
            "orderLinkId":"c-1","side":"Buy","orderType":"Limit","price":"25000","qty":"1",
            "timeInForce":"GTC","orderStatus":"New","cancelType":"UNKNOWN",
            "rejectReason":"EC_NoError","leavesQty":"1","cumExecQty":"0","triggerPrice":"",
            "reduceOnly":false,"createdTime":"1672364262444","updatedTime":"1672364262457"});
        for (k, v) in fields {
            o[*k] = serde_json::Value::String(v.to_string());
        }
        serde_json::json!({"id":"x","topic":"order","creationTime":1_672_364_262_474_i64,"data":[o]})
            .to_string()
    }

    fn exec_frame(exec_type: &str, exec_id: &str, fee: &str) -> String {
        serde_json::json!({"topic":"execution","id":"x","creationTime":1_746_270_400_355_i64,"data":[{
            "category":"linear","symbol":"BTCUSDT","orderId":"o-1","orderLinkId":"c-1",
            "side":"Buy","execId":exec_id,"execPrice":"25000","execQty":"0.5",
            "execFee":fee,"feeCurrency":"USDT","execType":exec_type,
            "execTime":"1746270400353","isMaker":true,"seq":1}]})
        .to_string()
    }

    /// Feed frames in order and return every event's kind, and the external count.
    fn run(t: &mut Translator, frames: &[String]) -> (Vec<Payload>, usize) {
        let mut payloads = Vec::new();
        let mut external = 0;
        for f in frames {
            let parsed = parse_private(f).unwrap();
            let out = t.translate(&parsed);
            payloads.extend(out.events.into_iter().map(|e| e.payload));
            external += out.external.len();
        }
        (payloads, external)
    }

    fn kinds(payloads: &[Payload]) -> Vec<&'static str> {
        payloads.iter().map(Payload::kind).collect()
    }

    fn tracked() -> Translator {
        let mut t = Translator::new(Namespace::default());
        t.track(&submitted("c-1"));
        t
    }

    #[test]
    fn new_accepts_once_and_amends_only_on_change() {
        let mut t = tracked();
        let (p, _) = run(
            &mut t,
            &[
                order_frame(&[]),
                order_frame(&[]),
                order_frame(&[("qty", "2"), ("price", "25100")]),
                order_frame(&[("qty", "2"), ("price", "25100")]),
            ],
        );
        assert_eq!(kinds(&p), ["order_accepted", "order_amended"]);
        let Payload::OrderAmended(a) = &p[1] else {
            panic!()
        };
        assert_eq!(a.qty, Some("2".parse().unwrap()));
        assert_eq!(a.px, Some("25100".parse().unwrap()));
        let Payload::OrderAccepted(a) = &p[0] else {
            panic!()
        };
        assert_eq!(a.venue_order_id.as_ref().unwrap().as_str(), "o-1");
    }

    #[test]
    fn funding_is_never_a_fill() {
        let mut t = tracked();
        let (p, _) = run(&mut t, &[exec_frame("Funding", "f-1", "1.25")]);
        let Payload::Funding(f) = &p[0] else {
            panic!("{p:?}")
        };
        assert_eq!(f.amount, "-1.25".parse().unwrap());
    }

    #[test]
    fn adl_and_bust_are_forced_closes() {
        let mut t = tracked();
        let frames = [
            exec_frame("AdlTrade", "a-1", "0"),
            exec_frame("BustTrade", "b-1", "0"),
        ];
        let (p, _) = run(&mut t, &frames);
        assert_eq!(kinds(&p), ["adl", "liquidation"]);
    }

    #[test]
    fn fills_come_from_executions_once() {
        let mut t = tracked();
        let frames = [
            order_frame(&[]),
            order_frame(&[("orderStatus", "PartiallyFilled"), ("leavesQty", "0.5")]),
            exec_frame("Trade", "e-1", "0.1"),
            exec_frame("Trade", "e-1", "0.1"),
        ];
        let (p, _) = run(&mut t, &frames);
        assert_eq!(kinds(&p), ["order_accepted", "fill"]);
        let Payload::Fill(f) = &p[1] else { panic!() };
        assert_eq!(f.exec_id.as_str(), "e-1");
        assert_eq!(f.fee, "0.1".parse().unwrap());
        assert_eq!(f.liquidity, Liquidity::Maker);
        assert_eq!(f.fee_asset, None);
        assert_eq!(f.order_id.as_ref().unwrap().as_str(), "c-1");
    }

    #[test]
    fn a_fill_before_the_ack_suppresses_the_accept() {
        let mut t = tracked();
        let frames = [exec_frame("Trade", "e-1", "0.1"), order_frame(&[])];
        assert_eq!(kinds(&run(&mut t, &frames).0), ["fill"]);
    }

    #[test]
    fn two_filled_messages_are_one_outcome() {
        let mut t = tracked();
        let filled = [
            ("orderStatus", "Filled"),
            ("leavesQty", "0"),
            ("cumExecQty", "1"),
        ];
        let racing = [
            ("orderStatus", "Filled"),
            ("cancelType", "CancelByUser"),
            ("rejectReason", "EC_OrigClOrdIDDoesNotExist"),
        ];
        let frames = [order_frame(&[]), order_frame(&filled), order_frame(&racing)];
        assert_eq!(kinds(&run(&mut t, &frames).0), ["order_accepted"]);
        // A cancel arriving after the order ended says nothing either.
        let late = [order_frame(&[("orderStatus", "Cancelled")])];
        assert!(run(&mut t, &late).0.is_empty());
    }

    #[test]
    fn crossing_post_only_is_rejected() {
        let mut t = tracked();
        let frame = order_frame(&[
            ("orderStatus", "Cancelled"),
            ("timeInForce", "PostOnly"),
            ("rejectReason", "EC_PostOnlyWillTakeLiquidity"),
        ]);
        let (p, _) = run(&mut t, &[frame]);
        let Payload::OrderRejected(r) = &p[0] else {
            panic!("{p:?}")
        };
        assert_eq!(r.reason, "EC_PostOnlyWillTakeLiquidity");
    }

    #[test]
    fn post_only_rejected_after_an_ack_is_a_cancel() {
        let mut t = tracked();
        let frame = order_frame(&[
            ("orderStatus", "Cancelled"),
            ("timeInForce", "PostOnly"),
            ("rejectReason", "EC_PostOnlyWillTakeLiquidity"),
        ]);
        let (p, _) = run(&mut t, &[order_frame(&[]), frame]);
        assert_eq!(kinds(&p), ["order_accepted", "order_cancelled"]);
    }

    #[test]
    fn ioc_remainder_expires_and_user_cancel_cancels() {
        let mut t = tracked();
        let ioc = order_frame(&[
            ("orderStatus", "Cancelled"),
            ("timeInForce", "IOC"),
            ("leavesQty", "0.5"),
        ]);
        assert_eq!(kinds(&run(&mut t, &[ioc]).0), ["order_expired"]);
        let mut t = tracked();
        let user = order_frame(&[("orderStatus", "Cancelled"), ("cancelType", "CancelByUser")]);
        let (p, _) = run(&mut t, &[order_frame(&[]), user]);
        let Payload::OrderCancelled(c) = &p[1] else {
            panic!()
        };
        assert_eq!(c.reason.as_deref(), Some("CancelByUser"));
    }

    #[test]
    fn rejected_before_ack() {
        let mut t = tracked();
        let frame = order_frame(&[
            ("orderStatus", "Rejected"),
            ("rejectReason", "EC_NoEnoughQtyToFill"),
        ]);
        assert_eq!(kinds(&run(&mut t, &[frame]).0), ["order_rejected"]);
    }

    #[test]
    fn unknown_orders_are_external() {
        let mut t = Translator::new(Namespace::default());
        let (p, external) = run(
            &mut t,
            &[order_frame(&[]), order_frame(&[("orderLinkId", "")])],
        );
        assert!(p.is_empty());
        assert_eq!(external, 2);
    }

    #[test]
    fn triggered_stop_reports_once() {
        let mut t = Translator::new(Namespace::default());
        let mut stop = submitted("c-1");
        stop.order_type = OrderType::StopMarket;
        stop.trigger_px = Some("24000".parse().unwrap());
        t.track(&stop);
        let base = [("orderStatus", "Untriggered"), ("triggerPrice", "24000")];
        let trig = [("orderStatus", "Triggered"), ("triggerPrice", "24000")];
        let frames = [order_frame(&base), order_frame(&trig), order_frame(&trig)];
        assert_eq!(
            kinds(&run(&mut t, &frames).0),
            ["order_accepted", "order_triggered"]
        );
    }

    #[test]
    fn other_frames() {
        let wallet = r#"{"id":"w","topic":"wallet","creationTime":1700034722104,"data":[{"accountType":"UNIFIED","totalEquity":"10","coin":[{"coin":"USDT","walletBalance":"9","equity":"10"}]}]}"#;
        let mut t = Translator::new(Namespace::default());
        let out = t.translate(&parse_private(wallet).unwrap());
        assert_eq!(
            out.events[0].ts,
            Timestamp::from_millis(1_700_034_722_104).unwrap()
        );
        assert_eq!(kinds(&[out.events[0].payload.clone()]), ["balance"]);
        let auth = r#"{"success":true,"ret_msg":"","op":"auth","conn_id":"c"}"#;
        assert!(matches!(
            parse_private(auth).unwrap(),
            PrivateFrame::Control(_)
        ));
        let pos = r#"{"id":"p","topic":"position.linear","creationTime":1,"data":[{"symbol":"BTCUSDT","side":"Buy","size":"0.01","entryPrice":"28000","updatedTime":"1697682317038"}]}"#;
        assert!(matches!(parse_private(pos).unwrap(), PrivateFrame::Positions(p) if p.len() == 1));
    }

    #[test]
    fn bad_frames_are_typed_errors() {
        let err = parse_private("not json").unwrap_err();
        assert_eq!(err.field, "json");
        let err = parse_private(r#"{"topic":"order","data":[{"symbol":"BTCUSDT"}]}"#).unwrap_err();
        assert_eq!(err.field, "data[0]");
        assert!(err.to_string().contains("orderId"), "{err}");
        let err = parse_private(r#"{"topic":"nope","data":[]}"#).unwrap_err();
        assert_eq!(err.field, "topic");
        let bad = exec_frame("Trade", "e-1", "x1");
        assert_eq!(parse_private(&bad).unwrap_err().field, "data[0].execFee");
    }
}
