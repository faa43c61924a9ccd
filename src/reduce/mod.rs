//! The pure fold from events to a [`Projection`]: positions with average-cost PnL,
//! the order state machine, marks and balances.
//!
//! Boundary: depends only on `crate::event`; no I/O, no clock, no randomness, and no
//! unordered map reaches the projection's stored form or hash.

mod account;
mod error;
#[cfg(test)]
mod fixtures;
mod order;
mod position;
mod projection;
mod stored;

pub use account::BalanceKey;
pub use error::{ReduceError, Violation};
pub use order::{Order, OrderState};
pub use position::Position;
pub use projection::{Applied, ORDER_RETENTION_NANOS, Projection};
