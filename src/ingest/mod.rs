//! Historical market data: candle, trade and funding-rate files → market events, gap flagging, bar
//! aggregation, and a seeded sample-data generator.
//!
//! Boundary: depends only on `crate::event` (plus `csv` and `chrono` for parsing). It
//! never reads the clock, draws no randomness (the sample generator is seeded), and
//! never writes to the log: it yields `Event`s for the caller to append. Readers stream
//! one row at a time, so file size does not bound memory.

#![deny(missing_docs)]

mod aggregate;
mod candle;
mod error;
mod funding;
mod gap;
mod json_rows;
mod rows;
pub mod sample;
mod text;
mod trade;

pub use aggregate::BarAggregator;
pub use candle::{
    CandleLayout, CandleOptions, CandleReader, TIMEFRAME_INFERENCE_ROWS, candle_event,
    read_candles_file,
};
pub use error::{AggregateError, IngestError};
pub use funding::{FundingReader, read_funding_file};
pub use gap::{AlwaysOpen, CALENDAR_PROBES_MAX, GapDetector, SessionCalendar, WithGaps, with_gaps};
pub use rows::FileFormat;
pub use text::{
    EPOCH_MICROS_BELOW, EPOCH_MILLIS_BELOW, EPOCH_SECONDS_BELOW, parse_decimal, parse_time,
};
pub use trade::{TradeOptions, TradeReader, read_trades_file};
