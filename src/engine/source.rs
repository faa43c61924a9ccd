//! Market data in, in event-time order: candle and trade files (one per instrument)
//! merged into one stream, with gaps flagged.
//!
//! Ties in time break by the order the sources were given, so a run over the same
//! files always sees the same sequence. Nothing here decides anything.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::PathBuf;

use crate::event::{Event, PositionKey, Timestamp};
use crate::ingest::{
    AlwaysOpen, CandleOptions, IngestError, TradeOptions, read_candles_file, read_trades_file,
    with_gaps,
};

/// One market data file and the instrument it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// OHLCV candles (CSV or JSON; layouts as `ingest` reads them).
    Candles {
        /// The instrument.
        key: PositionKey,
        /// The file.
        path: PathBuf,
    },
    /// Trade prints.
    Trades {
        /// The instrument.
        key: PositionKey,
        /// The file.
        path: PathBuf,
    },
}

impl SourceSpec {
    /// The file.
    pub fn path(&self) -> &PathBuf {
        match self {
            SourceSpec::Candles { path, .. } | SourceSpec::Trades { path, .. } => path,
        }
    }
}

type EventStream = Box<dyn Iterator<Item = Result<Event, IngestError>>>;

/// Several sources merged by event time.
pub struct MergedSource {
    streams: Vec<EventStream>,
    heads: Vec<Option<Event>>,
    order: BinaryHeap<Reverse<(Timestamp, usize)>>,
    failed: bool,
}

impl MergedSource {
    /// Open every source; the first event of each is read now, so a file that cannot
    /// be read fails here.
    pub fn open(specs: &[SourceSpec]) -> Result<MergedSource, IngestError> {
        let mut merged = MergedSource {
            streams: Vec::with_capacity(specs.len()),
            heads: Vec::with_capacity(specs.len()),
            order: BinaryHeap::new(),
            failed: false,
        };
        for spec in specs {
            let stream: EventStream = match spec {
                SourceSpec::Candles { key, path } => {
                    let options = CandleOptions {
                        market: key.clone(),
                        timeframe: None,
                    };
                    Box::new(with_gaps(read_candles_file(path, options)?, AlwaysOpen))
                }
                SourceSpec::Trades { key, path } => {
                    let options = TradeOptions {
                        market: key.clone(),
                    };
                    Box::new(read_trades_file(path, options)?)
                }
            };
            merged.streams.push(stream);
            merged.heads.push(None);
            merged.advance(merged.streams.len() - 1)?;
        }
        Ok(merged)
    }

    fn advance(&mut self, index: usize) -> Result<(), IngestError> {
        match self.streams[index].next().transpose()? {
            Some(event) => {
                self.order.push(Reverse((event.ts, index)));
                self.heads[index] = Some(event);
            }
            None => self.heads[index] = None,
        }
        Ok(())
    }
}

impl Iterator for MergedSource {
    type Item = Result<Event, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let Reverse((_, index)) = self.order.pop()?;
        let event = self.heads[index].take()?;
        if let Err(e) = self.advance(index) {
            self.failed = true;
            return Some(Err(e));
        }
        Some(Ok(event))
    }
}
