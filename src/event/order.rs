//! Order lifecycle facts: submitted, accepted, rejected, amend and cancel requests and
//! their outcomes, triggered, expired, and fills.
//!
//! Orders are identified by `ClientOrderId`, which is unique within one ledger; a fill
//! names its order by either id, or by an id the ledger never saw (an external order).

use serde::{Deserialize, Serialize};

use super::{
    Asset, Book, ClientOrderId, Decimal, ExecId, FillOrderId, Symbol, Venue, VenueOrderId,
};

/// Buy or sell.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Buy: increases a position.
    Buy,
    /// Sell: decreases a position.
    Sell,
}

impl Side {
    /// `+1` for buy, `-1` for sell, as a decimal multiplier.
    pub fn sign(self) -> super::Decimal {
        match self {
            Side::Buy => super::Decimal::ONE,
            Side::Sell => -super::Decimal::ONE,
        }
    }

    /// The other side.
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    /// `buy` / `sell`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

/// How an order executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderType {
    /// At the best available price.
    Market,
    /// At `px` or better.
    Limit,
    /// Becomes a market order when the trigger price trades.
    StopMarket,
    /// Becomes a limit order at `px` when the trigger price trades.
    StopLimit,
}

/// Time in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimeInForce {
    /// Good till cancelled.
    Gtc,
    /// Immediate or cancel: what does not fill at once is cancelled.
    Ioc,
    /// Fill or kill: all at once or nothing.
    Fok,
}

/// Maker (added liquidity) or taker (removed it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Liquidity {
    /// Resting order that was hit.
    Maker,
    /// Order that crossed the book.
    Taker,
}

/// We sent an order (or are about to: the event is appended before the request leaves,
/// so a crash after sending is never an unknown order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderSubmitted {
    /// Venue namespace.
    pub venue: Venue,
    /// Asset class.
    pub book: Book,
    /// Instrument symbol.
    pub instrument: Symbol,
    /// Our id; reused on retries.
    pub client_order_id: ClientOrderId,
    /// Side.
    pub side: Side,
    /// Order type.
    pub order_type: OrderType,
    /// Quantity.
    pub qty: Decimal,
    /// Limit price (limit and stop-limit).
    #[serde(default)]
    pub px: Option<Decimal>,
    /// Trigger price (stop orders).
    #[serde(default)]
    pub trigger_px: Option<Decimal>,
    /// Time in force.
    pub tif: TimeInForce,
    /// May only reduce the position.
    pub reduce_only: bool,
    /// Must rest on the book (rejected if it would cross).
    pub post_only: bool,
}

/// The venue acknowledged the order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderAccepted {
    /// Our id.
    pub client_order_id: ClientOrderId,
    /// The venue's id, when it gave one.
    #[serde(default)]
    pub venue_order_id: Option<VenueOrderId>,
}

/// The venue refused the order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderRejected {
    /// Our id.
    pub client_order_id: ClientOrderId,
    /// The venue's reason.
    pub reason: String,
}

/// A change to an open order: new quantity and/or prices. Used for the request, and
/// for the venue's confirmation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderAmend {
    /// Our id.
    pub client_order_id: ClientOrderId,
    /// New total quantity.
    #[serde(default)]
    pub qty: Option<Decimal>,
    /// New limit price.
    #[serde(default)]
    pub px: Option<Decimal>,
    /// New trigger price.
    #[serde(default)]
    pub trigger_px: Option<Decimal>,
}

/// A request we made about an order (cancel), or a confirmation with no data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderRef {
    /// Our id.
    pub client_order_id: ClientOrderId,
}

/// The venue refused an amend or cancel: the order returns to its previous state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderRequestRejected {
    /// Our id.
    pub client_order_id: ClientOrderId,
    /// The venue's reason.
    pub reason: String,
}

/// The order left the book without (further) fills.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderCancelled {
    /// Our id.
    pub client_order_id: ClientOrderId,
    /// Why, when known (user request, IOC remainder, self-trade prevention…).
    #[serde(default)]
    pub reason: Option<String>,
}

/// One execution. Idempotent by `(venue, exec_id)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Fill {
    /// Venue namespace.
    pub venue: Venue,
    /// Asset class.
    pub book: Book,
    /// Instrument symbol.
    pub instrument: Symbol,
    /// The order: our client id, the venue's id, or an id we never saw (external).
    #[serde(default)]
    pub order_id: Option<FillOrderId>,
    /// The venue's execution id.
    pub exec_id: ExecId,
    /// Side.
    pub side: Side,
    /// Price.
    pub px: Decimal,
    /// Quantity (> 0).
    pub qty: Decimal,
    /// Fee in the quote currency: positive is a cost, negative a rebate.
    pub fee: Decimal,
    /// Currency of the fee, when not the quote currency's default.
    #[serde(default)]
    pub fee_asset: Option<Asset>,
    /// Maker or taker.
    pub liquidity: Liquidity,
}
