//! Execution backends: the [`ExecutionBackend`] contract the engine drives, and the
//! deterministic simulated exchange ([`SimExchange`]) that backtests run against, and
//! the live Bybit backend ([`BybitBackend`]).
//!
//! Boundary: backends answer requests with report events (`order_accepted`, `fill`, …);
//! they never append to the log or touch the projection themselves.

mod api;
pub mod bybit;
pub mod sim;

pub use api::{BackendError, ExecutionBackend, OrderRequest};
pub use bybit::{BybitBackend, BybitConfig, Keys};
pub use sim::{FeeRates, LiquidityModel, MarketFill, SimConfig, SimExchange};
