//! The event contract: every fact the ledger records, its exact money and time types,
//! ids, the stored binary codec and the public JSON Lines form.
//!
//! Boundary: this module depends on nothing else in the crate, and does no I/O.

mod account;
pub mod codec;
mod decimal;
mod decision;
mod envelope;
mod ids;
pub mod json;
mod market;
mod order;
mod payload;
mod reconcile;
pub mod schema;
mod session;
mod time;

pub use account::{
    Balance, ExchangeSnapshot, ForcedClose, Funding, SnapshotBalance, SnapshotOrder,
    SnapshotPosition, Transfer,
};
pub use decimal::{Decimal, DecimalParseError};
pub use decision::{Intent, IntentAction, OrderRole, Plan, PlannedOrder, Size, Skip, SkipReason};
pub use envelope::{Envelope, Event};
pub use ids::{
    Asset, Book, ClientOrderId, ExecId, FillOrderId, KeyParts, PositionKey, PositionKeyParseError,
    PositionKeyRef, Seq, StrategyId, Symbol, TradeId, Venue, VenueOrderId,
};
pub use market::{Candle, FundingRate, Gap, GapKind, Quote, Timeframe, Trade};
pub use order::{
    Fill, Liquidity, OrderAccepted, OrderAmend, OrderCancelled, OrderRef, OrderRejected,
    OrderRequestRejected, OrderSubmitted, OrderType, Side, TimeInForce,
};
pub use payload::Payload;
pub use reconcile::{Correction, CorrectionApplied, DriftDetected, DriftScope};
pub use session::{
    ClockOffset, Connection, Mode, Resubscribed, SessionStarted, SessionStopped, TicksDropped,
};
pub use time::{Timestamp, TimestampParseError};
