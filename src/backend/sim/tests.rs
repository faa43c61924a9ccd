//! Hand-computed scenarios for the simulated exchange. Every scenario runs through one
//! harness ([`World`]) that appends the engine's `order_submitted` (and requests) and the
//! sim's reports to a log and folds each event through `reduce::Projection::apply`, so
//! every test also proves its report stream is legal for the order state machine.
//! Reports are compared as one line each: `<secs> <kind> <order> <details>`.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::backend::{ExecutionBackend, OrderRequest};
use crate::event::*;
use crate::reduce::Projection;

use super::{LiquidityModel, MarketFill, SimConfig, SimExchange};

/// Poll a future once: the sim's futures are complete when returned.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("sim futures are always ready"),
    }
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn t(secs: i64) -> Timestamp {
    Timestamp::from_nanos(secs * 1_000_000_000)
}

fn key() -> PositionKey {
    PositionKey::new("sim", "linear", "BTCUSDT")
}

/// Maker 2 bps, taker 5 bps, no latency, bar-close fills, no slippage, unlimited.
fn config() -> SimConfig {
    SimConfig {
        fees: super::FeeRates {
            maker: d("0.0002"),
            taker: d("0.0005"),
        },
        ..SimConfig::default()
    }
}

/// A closed one-minute bar ending at `close_secs` (the event time).
fn bar(close_secs: i64, ohlcv: [&str; 5]) -> Event {
    let k = key();
    let candle = Candle {
        venue: k.venue,
        book: k.book,
        instrument: k.instrument,
        timeframe: Timeframe::from_seconds(60).unwrap(),
        open_time: t(close_secs - 60),
        open: d(ohlcv[0]),
        high: d(ohlcv[1]),
        low: d(ohlcv[2]),
        close: d(ohlcv[3]),
        volume: d(ohlcv[4]),
        closed: true,
    };
    Event::new(t(close_secs), Payload::Candle(candle))
}

fn funding_rate(secs: i64, rate: &str) -> Event {
    let k = key();
    let rate = FundingRate {
        venue: k.venue,
        book: k.book,
        instrument: k.instrument,
        rate: d(rate),
        next_funding_time: None,
    };
    Event::new(t(secs), Payload::FundingRate(rate))
}

/// A GTC market order with no flags.
fn order(id: &str, side: Side, qty: &str) -> PlannedOrder {
    PlannedOrder {
        client_order_id: ClientOrderId::from(id),
        role: OrderRole::Entry,
        side,
        order_type: OrderType::Market,
        qty: d(qty),
        px: None,
        trigger_px: None,
        tif: TimeInForce::Gtc,
        reduce_only: false,
        post_only: false,
    }
}

/// Builders on a planned order.
trait Build {
    fn limit(self, px: &str) -> Self;
    fn stop(self, trigger: &str) -> Self;
    fn stop_limit(self, trigger: &str, px: &str) -> Self;
    fn tif(self, tif: TimeInForce) -> Self;
    fn reduce_only(self) -> Self;
    fn post_only(self) -> Self;
}

impl Build for PlannedOrder {
    fn limit(self, px: &str) -> Self {
        let (order_type, px) = (OrderType::Limit, Some(d(px)));
        PlannedOrder {
            order_type,
            px,
            ..self
        }
    }
    fn stop(self, trigger: &str) -> Self {
        let (order_type, trigger_px) = (OrderType::StopMarket, Some(d(trigger)));
        PlannedOrder {
            order_type,
            trigger_px,
            ..self
        }
    }
    fn stop_limit(self, trigger: &str, px: &str) -> Self {
        let order_type = OrderType::StopLimit;
        let (px, trigger_px) = (Some(d(px)), Some(d(trigger)));
        PlannedOrder {
            order_type,
            px,
            trigger_px,
            ..self
        }
    }
    fn tif(self, tif: TimeInForce) -> Self {
        PlannedOrder { tif, ..self }
    }
    fn reduce_only(self) -> Self {
        PlannedOrder {
            reduce_only: true,
            ..self
        }
    }
    fn post_only(self) -> Self {
        PlannedOrder {
            post_only: true,
            ..self
        }
    }
}

/// The engine's side of a backtest: the log, its projection, and the sim.
struct World {
    sim: SimExchange,
    projection: Projection,
    log: Vec<Event>,
}

impl World {
    fn new(config: SimConfig) -> World {
        World {
            sim: SimExchange::new(config),
            projection: Projection::new(),
            log: Vec::new(),
        }
    }

    fn append(&mut self, event: Event) {
        let seq = self.log.len() as Seq + 1;
        let envelope = Envelope {
            seq,
            event: event.clone(),
        };
        if let Err(e) = self.projection.apply(&envelope) {
            panic!("illegal event: {e}: {event:?}\nlog so far: {:#?}", self.log);
        }
        self.log.push(event);
    }

    /// Append a request event when the projection allows it (as the engine would).
    fn append_request(&mut self, now: i64, payload: Payload) {
        let event = Event::new(t(now), payload);
        if self.projection.check_transition(&event).is_ok() {
            self.append(event);
        }
    }

    fn drain(&mut self) -> Vec<String> {
        let reports = block_on(self.sim.reports()).unwrap();
        let lines = reports.iter().map(line).collect();
        for report in reports {
            self.append(report);
        }
        lines
    }

    fn market(&mut self, event: Event) -> Vec<String> {
        self.append(event.clone());
        self.sim.on_market(&event);
        self.drain()
    }

    fn submit(&mut self, now: i64, order: PlannedOrder) -> Vec<String> {
        let request = OrderRequest { key: key(), order };
        self.append(Event::new(
            t(now),
            Payload::OrderSubmitted(request.submitted()),
        ));
        block_on(self.sim.submit(t(now), request)).unwrap();
        self.drain()
    }

    fn cancel(&mut self, now: i64, id: &str) -> Vec<String> {
        let client_order_id = ClientOrderId::from(id);
        let request = OrderRef {
            client_order_id: client_order_id.clone(),
        };
        self.append_request(now, Payload::OrderCancelRequested(request));
        block_on(self.sim.cancel(t(now), &client_order_id)).unwrap();
        self.drain()
    }

    fn amend(&mut self, now: i64, id: &str, qty: Option<&str>, px: Option<&str>) -> Vec<String> {
        let amend = OrderAmend {
            client_order_id: ClientOrderId::from(id),
            qty: qty.map(d),
            px: px.map(d),
            trigger_px: None,
        };
        let id = amend.client_order_id.clone();
        self.append_request(now, Payload::OrderAmendRequested(amend.clone()));
        block_on(self.sim.amend(t(now), &id, amend.qty, amend.px, None)).unwrap();
        self.drain()
    }

    /// The sim's open positions as `(qty, avg_px)`, checked against the projection's.
    fn position(&self) -> Option<(Decimal, Decimal)> {
        let sim = block_on(self.sim.positions()).unwrap();
        let projected: Vec<_> = self
            .projection
            .positions()
            .filter(|p| !p.is_flat())
            .map(|p| (p.key.instrument.clone(), p.qty, p.avg_px()))
            .collect();
        let simulated: Vec<_> = sim
            .iter()
            .map(|p| (p.instrument.clone(), p.qty, p.avg_px))
            .collect();
        assert_eq!(projected, simulated, "projection and sim disagree");
        sim.first().map(|p| (p.qty, p.avg_px))
    }

    fn equity(&self) -> Decimal {
        block_on(self.sim.equity()).unwrap()
    }

    fn open_orders(&self) -> Vec<(String, Decimal, Decimal, Option<Decimal>)> {
        let orders = block_on(self.sim.open_orders()).unwrap();
        let id = |o: &SnapshotOrder| o.client_order_id.as_ref().map(|c| c.0.to_string());
        orders
            .iter()
            .map(|o| (id(o).unwrap_or_default(), o.qty, o.filled_qty, o.px))
            .collect()
    }
}

/// One report as a line: `<secs> <kind> <order> <details>`.
fn line(event: &Event) -> String {
    let secs = event.ts.as_nanos() / 1_000_000_000;
    let body = match &event.payload {
        Payload::OrderAccepted(p) => format!("accepted {}", p.client_order_id),
        Payload::OrderRejected(p) => format!("rejected {} ({})", p.client_order_id, p.reason),
        Payload::OrderCancelled(p) => {
            let reason = p.reason.as_deref().unwrap_or("");
            format!("cancelled {} ({reason})", p.client_order_id)
        }
        Payload::OrderTriggered(p) => format!("triggered {}", p.client_order_id),
        Payload::OrderAmended(p) => format!("amended {}", p.client_order_id),
        Payload::OrderAmendRejected(p) => {
            format!("amend_rejected {} ({})", p.client_order_id, p.reason)
        }
        Payload::OrderCancelRejected(p) => {
            format!("cancel_rejected {} ({})", p.client_order_id, p.reason)
        }
        Payload::Fill(f) => format!(
            "fill {} {} {}@{} fee {} {:?} {}",
            f.order_id.as_ref().map_or("-", |o| o.as_str()),
            f.side.as_str(),
            f.qty,
            f.px,
            f.fee,
            f.liquidity,
            f.exec_id
        ),
        Payload::Funding(f) => format!("funding {}", f.amount),
        other => format!("unexpected {}", other.kind()),
    };
    format!("{secs} {body}")
}

#[path = "tests_flow.rs"]
mod flow;
/// The boundary in the module doc, enforced: no reducer, clock, randomness or hash
/// maps in the simulator's own code.
#[test]
fn sim_code_stays_inside_its_boundary() {
    let files = [
        ("account.rs", include_str!("account.rs")),
        ("book.rs", include_str!("book.rs")),
        ("config.rs", include_str!("config.rs")),
        ("exchange.rs", include_str!("exchange.rs")),
        ("matching.rs", include_str!("matching.rs")),
        ("requests.rs", include_str!("requests.rs")),
        ("venue.rs", include_str!("venue.rs")),
    ];
    let banned = [
        "crate::reduce",
        "HashMap",
        "HashSet",
        "SystemTime",
        "Instant",
        "rand::",
    ];
    for (name, text) in files {
        let code = text.split("#[cfg(test)]").next().unwrap_or(text);
        let lines = code.lines().filter(|l| !l.trim_start().starts_with("//"));
        for line in lines {
            for word in banned {
                assert!(!line.contains(word), "{name} uses {word}: {line}");
            }
        }
        assert!(text.starts_with("//!"), "{name} has no module doc");
    }
}

#[path = "tests_orders.rs"]
mod orders;
