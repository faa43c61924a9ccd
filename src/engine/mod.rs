//! Running strategies: market sources merged in event time, and the engine loop that
//! wires market data → reduce → strategy → executor → backend → events.

mod backtest;
mod config;
mod resume;
mod session;
mod source;

pub use backtest::{Engine, EngineOptions, MarketDriven, RunError, RunStats};
pub use config::{config_hash, file_hash};
pub use resume::{Outstanding, outstanding};
pub use session::{
    MarketFeed, SessionBackend, SessionCounts, SessionEnd, SessionLimits, run_session,
};
pub use source::{MergedSource, SourceSpec};
