//! Reconciliation facts: a difference between the projection and the venue (drift),
//! and the correction applied for it. Corrections are the only way the projection is
//! moved to match the venue, so every such move is in the log with its reason.

use serde::{Deserialize, Serialize};

use super::{Asset, Book, ClientOrderId, Decimal, Seq, Symbol, Venue};

/// Where the projection and the venue disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DriftScope {
    /// A position's size or price.
    Position,
    /// An order's state or fill.
    Order,
    /// A balance.
    Balance,
    /// A venue report that breaks the order state machine.
    OrderTransition,
}

/// A difference found between the projection and the venue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DriftDetected {
    /// Venue namespace.
    pub venue: Venue,
    /// What kind of thing differs.
    pub scope: DriftScope,
    /// Which one (position key, client order id, asset).
    pub subject: String,
    /// What the projection says.
    pub ours: String,
    /// What the venue says.
    pub theirs: String,
    /// Anything else worth knowing.
    #[serde(default)]
    pub detail: String,
}

/// The change made to the projection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Correction {
    /// Set a position to the venue's size and price (realizing nothing).
    SetPosition {
        /// Asset class.
        book: Book,
        /// Instrument symbol.
        instrument: Symbol,
        /// New signed quantity.
        qty: Decimal,
        /// New average price.
        avg_px: Decimal,
    },
    /// Close an order we think is open but the venue does not know.
    CloseOrder {
        /// Our id.
        client_order_id: ClientOrderId,
    },
    /// Set a balance.
    SetBalance {
        /// Currency.
        asset: Asset,
        /// New total.
        total: Decimal,
    },
}

/// A correction applied to resolve a drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CorrectionApplied {
    /// Venue namespace.
    pub venue: Venue,
    /// The drift event this answers, when there is one.
    #[serde(default)]
    pub drift_seq: Option<Seq>,
    /// What changes.
    pub correction: Correction,
    /// Why.
    pub reason: String,
}
