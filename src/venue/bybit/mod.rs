//! Bybit v5, category `linear` (USDT perpetuals), Unified Trading Account.
//!
//! * [`sign`]: HMAC-SHA256 signatures for REST and WS auth; [`Credentials`].
//! * [`public`]: public WS frames (trades, klines, tickers, order book) → market events.
//! * [`private`]: private WS frames (order, execution, position, wallet) and the
//!   [`Translator`] that turns them into the backend's report events.
//! * [`control`]: subscribe/auth acks, pongs, and the subscribe and ping messages.
//! * [`objects`]: orders, executions, positions and wallets (shared by REST and WS).
//! * [`rest`]: requests as exact signed bytes; the response envelope and its classified
//!   errors; typed results of the market and account endpoints.
//! * [`status`]: the `orderStatus` mapping.
//! * [`wire`]: the frame error and the field readers the others share.
//!
//! Boundary: pure and synchronous. No I/O, no clock (times are arguments), and no wire
//! struct is public outside this module: callers get ledger types.

pub mod control;
pub mod objects;
pub mod private;
pub mod public;
pub mod rest;
pub mod sign;
pub mod status;
pub mod wire;

pub use private::{ExternalOrder, PrivateFrame, Translation, Translator, parse_private};
pub use sign::Credentials;
pub use wire::{FrameError, Namespace};
