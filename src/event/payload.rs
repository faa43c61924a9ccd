//! The payload enum: every kind of fact the log can hold, with its JSON `type` name.
//!
//! The variant order is the stored format (bincode writes the variant index): variants
//! are only ever added at the end, never reordered or removed. A changed layout of an
//! existing variant bumps `codec::FORMAT_VERSION` and gets an upcast on read.

use serde::{Deserialize, Serialize};

use super::account::{Balance, ExchangeSnapshot, ForcedClose, Funding, Transfer};
use super::decision::{Intent, Plan, Skip};
use super::market::{Candle, FundingRate, Gap, Quote, Trade};
use super::order::{
    Fill, OrderAccepted, OrderAmend, OrderCancelled, OrderRef, OrderRejected, OrderRequestRejected,
    OrderSubmitted,
};
use super::reconcile::{CorrectionApplied, DriftDetected};
use super::session::{
    ClockOffset, Connection, Resubscribed, SessionStarted, SessionStopped, TicksDropped,
};
use super::{ClientOrderId, Decimal, ExecId, PositionKey, PositionKeyRef, Venue};

macro_rules! payloads {
    ($( $(#[$doc:meta])* $variant:ident($ty:ty) = $name:literal, )*) => {
        /// What happened. See the module doc for the stored-order rule.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub enum Payload {
            $( $(#[$doc])* $variant($ty), )*
        }

        impl Payload {
            /// Every JSON `type` name, in stored order.
            pub const KINDS: &'static [&'static str] = &[$($name),*];

            /// The JSON `type` name of this payload.
            pub fn kind(&self) -> &'static str {
                match self { $(Payload::$variant(_) => $name,)* }
            }

            /// Parse the fields of a JSON object whose `type` is `kind`. `None` when the
            /// kind is unknown.
            pub(crate) fn from_json(kind: &str, object: &str) -> Option<serde_json::Result<Payload>> {
                match kind {
                    $($name => Some(serde_json::from_str::<$ty>(object).map(Payload::$variant)),)*
                    _ => None,
                }
            }

            /// Deserialize the fields of a payload whose `type` is `kind` from `de`.
            /// `None` when the kind is unknown.
            pub(crate) fn from_deserializer<'de, D: serde::Deserializer<'de>>(
                kind: &str,
                de: D,
            ) -> Option<Result<Payload, D::Error>> {
                match kind {
                    $($name => Some(<$ty as serde::Deserialize>::deserialize(de).map(Payload::$variant)),)*
                    _ => None,
                }
            }

            /// Write the payload's fields as one JSON object.
            pub(crate) fn write_json_object(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
                match self { $(Payload::$variant(p) => serde_json::to_writer(out, p),)* }
            }

            /// The schema of each kind's fields, for `schemas/`.
            pub fn json_schemas(generator: &mut schemars::SchemaGenerator)
                -> Vec<(&'static str, schemars::Schema)> {
                vec![$(($name, generator.subschema_for::<$ty>()),)*]
            }
        }
    };
}

payloads! {
    /// A print on the tape.
    Trade(Trade) = "trade",
    /// Best bid and offer.
    Quote(Quote) = "quote",
    /// An OHLCV bar.
    Candle(Candle) = "candle",
    /// A published funding rate.
    FundingRate(FundingRate) = "funding_rate",
    /// A hole in market data.
    Gap(Gap) = "gap",
    /// A strategy's wish.
    Intent(Intent) = "intent",
    /// The executor's plan for an intent.
    Plan(Plan) = "plan",
    /// The executor's refusal of an intent, with its reason.
    Skip(Skip) = "skip",
    /// We sent an order.
    OrderSubmitted(OrderSubmitted) = "order_submitted",
    /// The venue acknowledged it.
    OrderAccepted(OrderAccepted) = "order_accepted",
    /// The venue refused it.
    OrderRejected(OrderRejected) = "order_rejected",
    /// We asked to amend it.
    OrderAmendRequested(OrderAmend) = "order_amend_requested",
    /// The venue amended it.
    OrderAmended(OrderAmend) = "order_amended",
    /// The venue refused the amend.
    OrderAmendRejected(OrderRequestRejected) = "order_amend_rejected",
    /// We asked to cancel it.
    OrderCancelRequested(OrderRef) = "order_cancel_requested",
    /// The venue refused the cancel.
    OrderCancelRejected(OrderRequestRejected) = "order_cancel_rejected",
    /// It left the book.
    OrderCancelled(OrderCancelled) = "order_cancelled",
    /// Its time in force ran out.
    OrderExpired(OrderRef) = "order_expired",
    /// Its stop trigger traded.
    OrderTriggered(OrderRef) = "order_triggered",
    /// An execution.
    Fill(Fill) = "fill",
    /// A funding payment.
    Funding(Funding) = "funding",
    /// A balance report.
    Balance(Balance) = "balance",
    /// Money in or out.
    Transfer(Transfer) = "transfer",
    /// The venue liquidated (part of) a position.
    Liquidation(ForcedClose) = "liquidation",
    /// The venue auto-deleveraged (part of) a position.
    Adl(ForcedClose) = "adl",
    /// What the venue says we hold.
    ExchangeSnapshot(ExchangeSnapshot) = "exchange_snapshot",
    /// Projection and venue disagree.
    DriftDetected(DriftDetected) = "drift_detected",
    /// The projection was corrected.
    CorrectionApplied(CorrectionApplied) = "correction_applied",
    /// A session began.
    SessionStarted(SessionStarted) = "session_started",
    /// A session ended.
    SessionStopped(SessionStopped) = "session_stopped",
    /// A venue connection came up.
    Connected(Connection) = "connected",
    /// A venue connection went down.
    Disconnected(Connection) = "disconnected",
    /// Channels resubscribed after a reconnect.
    Resubscribed(Resubscribed) = "resubscribed",
    /// Venue clock offset measured.
    ClockOffset(ClockOffset) = "clock_offset",
    /// Ticks dropped under backpressure.
    TicksDropped(TicksDropped) = "ticks_dropped",
}

impl Payload {
    /// The position this payload is about, when it names one itself. Order events
    /// after `order_submitted` name only the order; the log resolves those.
    pub fn position_key(&self) -> Option<PositionKey> {
        self.position_key_ref().map(PositionKeyRef::to_key)
    }

    /// [`Payload::position_key`], borrowed from the payload.
    pub fn position_key_ref(&self) -> Option<PositionKeyRef<'_>> {
        let (venue, book, instrument) = match self {
            Payload::Trade(p) => (&p.venue, &p.book, &p.instrument),
            Payload::Quote(p) => (&p.venue, &p.book, &p.instrument),
            Payload::Candle(p) => (&p.venue, &p.book, &p.instrument),
            Payload::FundingRate(p) => (&p.venue, &p.book, &p.instrument),
            Payload::Gap(p) => (&p.venue, &p.book, &p.instrument),
            Payload::Intent(p) => (&p.venue, &p.book, &p.instrument),
            Payload::Plan(p) => (&p.venue, &p.book, &p.instrument),
            Payload::Skip(p) => (&p.venue, &p.book, &p.instrument),
            Payload::OrderSubmitted(p) => (&p.venue, &p.book, &p.instrument),
            Payload::Fill(p) => (&p.venue, &p.book, &p.instrument),
            Payload::Funding(p) => (&p.venue, &p.book, &p.instrument),
            Payload::Liquidation(p) | Payload::Adl(p) => (&p.venue, &p.book, &p.instrument),
            Payload::CorrectionApplied(p) => match &p.correction {
                super::Correction::SetPosition {
                    book, instrument, ..
                } => (&p.venue, book, instrument),
                _ => return None,
            },
            _ => return None,
        };
        Some(PositionKeyRef::new(venue, book, instrument))
    }

    /// The order this payload is about, for order lifecycle events.
    pub fn client_order_id(&self) -> Option<&ClientOrderId> {
        match self {
            Payload::OrderSubmitted(p) => Some(&p.client_order_id),
            Payload::OrderAccepted(p) => Some(&p.client_order_id),
            Payload::OrderRejected(p) => Some(&p.client_order_id),
            Payload::OrderAmendRequested(p) | Payload::OrderAmended(p) => Some(&p.client_order_id),
            Payload::OrderAmendRejected(p) | Payload::OrderCancelRejected(p) => {
                Some(&p.client_order_id)
            }
            Payload::OrderCancelRequested(p)
            | Payload::OrderExpired(p)
            | Payload::OrderTriggered(p) => Some(&p.client_order_id),
            Payload::OrderCancelled(p) => Some(&p.client_order_id),
            Payload::CorrectionApplied(p) => match &p.correction {
                super::Correction::CloseOrder { client_order_id } => Some(client_order_id),
                _ => None,
            },
            _ => None,
        }
    }

    /// `(venue, exec_id)` for executions, which must be unique in the log.
    pub fn execution_id(&self) -> Option<(&Venue, &ExecId)> {
        match self {
            Payload::Fill(p) => Some((&p.venue, &p.exec_id)),
            Payload::Liquidation(p) | Payload::Adl(p) => Some((&p.venue, &p.exec_id)),
            _ => None,
        }
    }

    /// Field-level checks serde cannot express: positive quantities and prices,
    /// non-empty names, a sane bar. The message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(key) = self.position_key() {
            for (name, value) in [
                ("venue", key.venue.as_str()),
                ("book", key.book.as_str()),
                ("instrument", key.instrument.as_str()),
            ] {
                if value.is_empty() {
                    return Err(format!("`{name}` must not be empty"));
                }
            }
        }
        if let Some(id) = self.client_order_id() {
            if id.as_str().is_empty() {
                return Err("`client_order_id` must not be empty".to_string());
            }
        }
        if let Some((_, exec_id)) = self.execution_id() {
            if exec_id.as_str().is_empty() {
                return Err("`exec_id` must not be empty".to_string());
            }
        }
        match self {
            Payload::Trade(p) => positive(&[("px", p.px), ("qty", p.qty)]),
            // A whole position or more per interval is no venue's rate: most likely a
            // file in percent.
            Payload::FundingRate(p) if p.rate.abs() >= Decimal::ONE => Err(format!(
                "`rate` {} is 100% or more of the position per funding interval; funding files give fractions (0.0001 = 0.01%)",
                p.rate
            )),
            Payload::Fill(p) => positive(&[("px", p.px), ("qty", p.qty)]),
            Payload::Liquidation(p) | Payload::Adl(p) => positive(&[("px", p.px), ("qty", p.qty)]),
            Payload::Quote(p) => {
                positive(&[("bid_px", p.bid_px), ("ask_px", p.ask_px)])?;
                not_negative(&[("bid_qty", p.bid_qty), ("ask_qty", p.ask_qty)])
            }
            Payload::Candle(c) => {
                positive(&[
                    ("open", c.open),
                    ("high", c.high),
                    ("low", c.low),
                    ("close", c.close),
                ])?;
                not_negative(&[("volume", c.volume)])?;
                if c.low > c.high
                    || c.open > c.high
                    || c.close > c.high
                    || c.open < c.low
                    || c.close < c.low
                {
                    return Err(format!(
                        "bar is inconsistent: low {} high {} open {} close {}",
                        c.low, c.high, c.open, c.close
                    ));
                }
                Ok(())
            }
            Payload::OrderSubmitted(p) => {
                positive(&[("qty", p.qty)])?;
                optional_positive(&[("px", p.px), ("trigger_px", p.trigger_px)])?;
                use super::OrderType::*;
                match (p.order_type, p.px, p.trigger_px) {
                    (Limit | StopLimit, None, _) => Err("`px` is required for limit orders".into()),
                    (StopMarket | StopLimit, _, None) => {
                        Err("`trigger_px` is required for stop orders".into())
                    }
                    _ => Ok(()),
                }
            }
            Payload::OrderAmendRequested(p) | Payload::OrderAmended(p) => {
                optional_positive(&[("qty", p.qty), ("px", p.px), ("trigger_px", p.trigger_px)])
            }
            Payload::Plan(p) => p.orders.iter().try_for_each(|o| {
                positive(&[("orders[].qty", o.qty)])?;
                optional_positive(&[("orders[].px", o.px), ("orders[].trigger_px", o.trigger_px)])
            }),
            _ => Ok(()),
        }
    }
}

fn positive(fields: &[(&str, Decimal)]) -> Result<(), String> {
    match fields.iter().find(|(_, v)| !v.is_positive()) {
        Some((name, v)) => Err(format!("`{name}` must be positive, got {v}")),
        None => Ok(()),
    }
}

fn not_negative(fields: &[(&str, Decimal)]) -> Result<(), String> {
    match fields.iter().find(|(_, v)| v.is_negative()) {
        Some((name, v)) => Err(format!("`{name}` must not be negative, got {v}")),
        None => Ok(()),
    }
}

fn optional_positive(fields: &[(&str, Option<Decimal>)]) -> Result<(), String> {
    match fields
        .iter()
        .find(|(_, v)| v.is_some_and(|v| !v.is_positive()))
    {
        Some((name, Some(v))) => Err(format!("`{name}` must be positive, got {v}")),
        _ => Ok(()),
    }
}
