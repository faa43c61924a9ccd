//! The errors of reading market-data files and aggregating bars.
//!
//! Every file error says where: the path, the 1-based line and, for a bad value, the
//! column's name (as the header wrote it, or the layout's name for headerless files).
//! This module does not format for humans beyond `Display`; the CLI decides how to show it.

use std::io;
use std::path::PathBuf;

use crate::event::Timestamp;

/// Why a market-data file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        source: io::Error,
    },
    /// The text is not well-formed CSV or JSON, or a row has the wrong shape.
    #[error("{}:{line}: {reason}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line where the problem was found.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// One value could not be read.
    #[error("{}:{line}: column `{column}`: {reason}", path.display())]
    Field {
        /// The file.
        path: PathBuf,
        /// 1-based line of the row.
        line: u64,
        /// The column's name.
        column: String,
        /// What is wrong, quoting the text.
        reason: String,
    },
    /// The header names no column for a required field.
    #[error("{}: header has no `{field}` column (accepted names: {accepted})", path.display())]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The field that has no column.
        field: &'static str,
        /// The header names that would have been accepted, comma-separated.
        accepted: String,
    },
    /// A row is not strictly after (candles) or not at or after (trades) the previous one.
    #[error("{}:{line}: time {ts} is {problem} the previous row's {prev}", path.display())]
    OutOfOrder {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending row.
        line: u64,
        /// Its time.
        ts: Timestamp,
        /// The previous row's time.
        prev: Timestamp,
        /// `"a duplicate of"` or `"before"`.
        problem: &'static str,
    },
    /// A row was read but is not a valid event (e.g. a bar with `low > high`).
    #[error("{}:{line}: invalid row: {reason}", path.display())]
    InvalidRow {
        /// The file.
        path: PathBuf,
        /// 1-based line of the row.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// No timeframe was given and none could be inferred from the first rows.
    #[error("{}: cannot infer the timeframe: {reason} (it is read from the spacing of the first bars: give a file whose bars are one timeframe apart)", path.display())]
    Timeframe {
        /// The file.
        path: PathBuf,
        /// Why inference failed.
        reason: String,
    },
    /// The thread reading the market data ended without finishing its input (it
    /// panicked): a bug, never a property of the files.
    #[error("the market-data reader stopped before the end of its input")]
    ReaderStopped,
}

impl IngestError {
    /// Where the problem is, as `file` or `file:line`, for machine-readable errors.
    pub fn location(&self) -> Option<String> {
        match self {
            IngestError::Syntax { path, line, .. }
            | IngestError::Field { path, line, .. }
            | IngestError::OutOfOrder { path, line, .. }
            | IngestError::InvalidRow { path, line, .. } => {
                Some(format!("{}:{line}", path.display()))
            }
            IngestError::Io { path, .. }
            | IngestError::MissingColumn { path, .. }
            | IngestError::Timeframe { path, .. } => Some(path.display().to_string()),
            IngestError::ReaderStopped => None,
        }
    }
}

/// Why an input could not be added to a [`super::BarAggregator`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AggregateError {
    /// The input is older than the bucket being built.
    #[error("input at {ts} is before the current bucket starting {bucket_start}")]
    OutOfOrder {
        /// The input's time.
        ts: Timestamp,
        /// Start of the bucket being built.
        bucket_start: Timestamp,
    },
    /// A candle's timeframe does not divide the target timeframe.
    #[error("cannot build {target} bars from {input} bars: {input} does not divide {target}")]
    Timeframe {
        /// The input bar length.
        input: crate::event::Timeframe,
        /// The target bar length.
        target: crate::event::Timeframe,
    },
    /// The input is for a different instrument than the first input was.
    #[error("input for {got} but this aggregator builds bars for {expected}")]
    Instrument {
        /// `venue:book:instrument` of the first input.
        expected: String,
        /// `venue:book:instrument` of this input.
        got: String,
    },
    /// A sum went past the decimal range.
    #[error("volume overflow at {ts}")]
    Overflow {
        /// The input's time.
        ts: Timestamp,
    },
}
