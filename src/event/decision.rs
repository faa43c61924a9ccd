//! Decisions: what a strategy wanted (intent), what the executor will do about it
//! (plan), or why it will not (skip). All three are logged so an audit can show the
//! reasoning behind every order, and every order that was not sent.

use serde::{Deserialize, Serialize};

use super::{
    Book, ClientOrderId, Decimal, OrderType, Side, StrategyId, Symbol, TimeInForce, Venue,
};

/// What an intent wants to do to a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IntentAction {
    /// Open a position from flat.
    Entry,
    /// Increase an open position.
    Add,
    /// Reduce an open position.
    Trim,
    /// Close an open position.
    Exit,
}

/// How big an intent is, in the strategy's terms; the executor turns it into a quantity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Size {
    /// Base quantity.
    Qty(Decimal),
    /// Quote notional.
    Notional(Decimal),
    /// Fraction of account equity (0.1 = 10%).
    EquityFraction(Decimal),
    /// Fraction of the open position (for trims; 1 = all).
    PositionFraction(Decimal),
}

/// A venue-agnostic wish from the strategy (the PM core). It never says whether
/// trading is possible now: that is the executor's call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Intent {
    /// Unique id, referenced by the plan or skip that answers it.
    pub intent_id: String,
    /// Who wanted it.
    pub strategy_id: StrategyId,
    /// Venue namespace.
    pub venue: Venue,
    /// Asset class.
    pub book: Book,
    /// Instrument symbol.
    pub instrument: Symbol,
    /// Entry, add, trim or exit.
    pub action: IntentAction,
    /// Side of the order that would carry it out.
    pub side: Side,
    /// Size.
    pub size: Size,
    /// Order type hint.
    pub order_type: OrderType,
    /// Limit price, when the hint is a limit.
    #[serde(default)]
    pub limit_px: Option<Decimal>,
    /// Protective stop price.
    #[serde(default)]
    pub stop_loss: Option<Decimal>,
    /// Profit target price.
    #[serde(default)]
    pub take_profit: Option<Decimal>,
    /// Human reason (e.g. which strategy case matched).
    pub reason: String,
}

/// What an order in a plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderRole {
    /// Opens or adds.
    Entry,
    /// Reduces or closes.
    Exit,
    /// Protective stop attached to an entry.
    StopLoss,
    /// Target attached to an entry.
    TakeProfit,
}

/// One order the executor will submit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlannedOrder {
    /// Id the order will carry.
    pub client_order_id: ClientOrderId,
    /// What it is for.
    pub role: OrderRole,
    /// Side.
    pub side: Side,
    /// Order type.
    pub order_type: OrderType,
    /// Quantity, already rounded to the lot size.
    pub qty: Decimal,
    /// Limit price, already rounded to the tick size.
    #[serde(default)]
    pub px: Option<Decimal>,
    /// Trigger price for stops.
    #[serde(default)]
    pub trigger_px: Option<Decimal>,
    /// Time in force.
    pub tif: TimeInForce,
    /// Reduce-only.
    pub reduce_only: bool,
    /// Post-only.
    pub post_only: bool,
}

/// The executor's answer when an intent can be carried out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Plan {
    /// The intent answered.
    pub intent_id: String,
    /// Venue namespace.
    pub venue: Venue,
    /// Asset class.
    pub book: Book,
    /// Instrument symbol.
    pub instrument: Symbol,
    /// Orders to submit, in order.
    pub orders: Vec<PlannedOrder>,
    /// What the executor changed on the way (rounding, caps), for the audit.
    #[serde(default)]
    pub adjustments: Vec<String>,
}

/// Machine-readable reason an intent was not carried out.
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
pub enum SkipReason {
    /// The venue's session is closed.
    MarketClosed,
    /// Below the venue's minimum notional after rounding.
    BelowMinNotional,
    /// Below the lot size / minimum quantity after rounding.
    BelowMinQty,
    /// Would exceed the leverage cap.
    MaxLeverage,
    /// Would exceed the position cap.
    PositionCap,
    /// An exit or trim with no position to reduce.
    NothingToReduce,
    /// The funding rate is beyond the extreme threshold.
    FundingRateExtreme,
    /// The order rate limit is exhausted.
    RateLimited,
    /// No price is known yet to size or check the order.
    NoPrice,
    /// Not enough equity to size the order.
    InsufficientEquity,
    /// The instrument is not in the venue's rules.
    UnknownInstrument,
    /// An entry while a position is already open, or similar conflict.
    PositionConflict,
}

/// The executor's answer when an intent cannot be carried out now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Skip {
    /// The intent answered.
    pub intent_id: String,
    /// Venue namespace.
    pub venue: Venue,
    /// Asset class.
    pub book: Book,
    /// Instrument symbol.
    pub instrument: Symbol,
    /// Why.
    pub reason: SkipReason,
    /// The numbers behind the reason, for people.
    pub detail: String,
}
