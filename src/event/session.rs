//! Session facts: start and stop, connections, resubscriptions, clock offsets, and
//! ticks dropped under backpressure (counted, never silent).

use serde::{Deserialize, Serialize};

use super::{Symbol, Venue};

/// How a session trades.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Historical data through the simulated exchange.
    Backtest,
    /// Live data, simulated orders.
    Paper,
    /// Live data, real orders.
    Live,
    /// Events brought in by `ledger import`.
    Import,
}

/// A session began. The config hash pins what ran (strategy, data, parameters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SessionStarted {
    /// Mode.
    pub mode: Mode,
    /// blake3 of the canonical config, hex.
    pub config_hash: String,
    /// `ledger` version that wrote it.
    pub version: String,
    /// Human-readable parameters (strategy file, data files and their hashes).
    #[serde(default)]
    pub params: Vec<(String, String)>,
}

/// A session ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SessionStopped {
    /// Why (end of data, signal, error).
    pub reason: String,
}

/// A connection to a venue came up or went down.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Connection {
    /// Venue namespace.
    pub venue: Venue,
    /// Which stream (public, private, trade).
    pub stream: String,
    /// Why it went down, or `connected`.
    #[serde(default)]
    pub reason: String,
}

/// Channels subscribed again after a reconnect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Resubscribed {
    /// Venue namespace.
    pub venue: Venue,
    /// Channel names.
    pub channels: Vec<String>,
}

/// The venue's clock minus ours, measured at this event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ClockOffset {
    /// Venue namespace.
    pub venue: Venue,
    /// Offset in nanoseconds (positive: venue ahead).
    pub offset_ns: i64,
}

/// Ticks dropped because a bounded queue was full.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TicksDropped {
    /// Venue namespace.
    pub venue: Venue,
    /// Instrument, when the queue is per instrument.
    #[serde(default)]
    pub instrument: Option<Symbol>,
    /// How many.
    pub count: u64,
    /// Which queue and why.
    pub reason: String,
}
