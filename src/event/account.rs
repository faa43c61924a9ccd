//! Account facts: funding payments, balances and transfers, liquidations and
//! auto-deleveraging, and exchange snapshots used by reconciliation.
//!
//! Funding, liquidation and ADL are their own kinds, never fills in disguise, so
//! reports can tell trading PnL from what the venue did to the account.

use serde::{Deserialize, Serialize};

use super::{Asset, Book, ClientOrderId, Decimal, ExecId, Side, Symbol, Venue, VenueOrderId};

/// A funding payment on a perpetual position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Funding {
    /// Venue namespace.
    pub venue: Venue,
    /// Asset class.
    pub book: Book,
    /// Instrument symbol.
    pub instrument: Symbol,
    /// What the account received (negative = paid), in the quote currency.
    pub amount: Decimal,
    /// The rate applied, when known.
    #[serde(default)]
    pub rate: Option<Decimal>,
}

/// A balance as the venue reports it: the projection takes it as the new balance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Balance {
    /// Venue namespace.
    pub venue: Venue,
    /// Currency.
    pub asset: Asset,
    /// Total balance (wallet balance).
    pub total: Decimal,
    /// Available for new orders, when reported.
    #[serde(default)]
    pub available: Option<Decimal>,
}

/// Money moved in or out of the account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Transfer {
    /// Venue namespace.
    pub venue: Venue,
    /// Currency.
    pub asset: Asset,
    /// Signed amount: positive is a deposit.
    pub amount: Decimal,
    /// The venue's id for it, when it has one.
    #[serde(default)]
    pub transfer_id: Option<String>,
}

/// The venue closed (part of) a position: a liquidation or an auto-deleverage.
/// Applied to the position like a fill but counted apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ForcedClose {
    /// Venue namespace.
    pub venue: Venue,
    /// Asset class.
    pub book: Book,
    /// Instrument symbol.
    pub instrument: Symbol,
    /// The venue's execution id (idempotent like a fill's).
    pub exec_id: ExecId,
    /// Side of the closing trade.
    pub side: Side,
    /// Price.
    pub px: Decimal,
    /// Quantity (> 0).
    pub qty: Decimal,
    /// Fee charged, positive is a cost.
    #[serde(default)]
    pub fee: Option<Decimal>,
}

/// A position as the venue reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SnapshotPosition {
    /// Asset class.
    pub book: Book,
    /// Instrument symbol.
    pub instrument: Symbol,
    /// Signed quantity.
    pub qty: Decimal,
    /// Average entry price.
    pub avg_px: Decimal,
}

/// An open order as the venue reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SnapshotOrder {
    /// Asset class.
    pub book: Book,
    /// Instrument symbol.
    pub instrument: Symbol,
    /// Our id, when the venue echoes it.
    #[serde(default)]
    pub client_order_id: Option<ClientOrderId>,
    /// The venue's id.
    pub venue_order_id: VenueOrderId,
    /// Side.
    pub side: Side,
    /// Quantity.
    pub qty: Decimal,
    /// Quantity filled so far.
    pub filled_qty: Decimal,
    /// Limit price.
    #[serde(default)]
    pub px: Option<Decimal>,
}

/// A balance in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SnapshotBalance {
    /// Currency.
    pub asset: Asset,
    /// Total.
    pub total: Decimal,
}

/// What the venue says the account holds, for reconciliation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExchangeSnapshot {
    /// Venue namespace.
    pub venue: Venue,
    /// Open positions.
    pub positions: Vec<SnapshotPosition>,
    /// Open orders.
    pub open_orders: Vec<SnapshotOrder>,
    /// Balances.
    pub balances: Vec<SnapshotBalance>,
}
