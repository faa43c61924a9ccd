//! Market data in, in event-time order: candle, trade and funding files (one per
//! instrument and kind) merged into one stream, with gaps flagged.
//!
//! Ties in time break by the order the sources were given, so a run over the same
//! files always sees the same sequence. Nothing here decides anything.
//!
//! Parsing (CSV or JSON, decimals, timestamps) is a quarter of a backtest's work, so the
//! merge runs on its own thread and hands events over in batches through a bounded
//! channel: the engine thread only appends, matches and decides. The order of events
//! is the merge's, whatever the threads' timing.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::event::{Event, Payload, PositionKey, Timestamp};
use crate::ingest::{
    AlwaysOpen, CandleOptions, GapDetector, IngestError, TradeOptions, read_candles_file,
    read_funding_file, read_trades_file,
};

/// Events per batch handed from the reader thread to the engine: large enough that
/// the channel's synchronization is a small share of the cost of parsing them.
const BATCH_EVENTS: usize = 512;

/// Batches the reader may be ahead of the engine. With `BATCH_EVENTS` that bounds the
/// read-ahead to ~4 k events (under 1 MB), enough to absorb either side's jitter.
const BATCHES_AHEAD: usize = 8;

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
    /// Funding settlements of a perpetual (each row a time and the rate applied).
    Funding {
        /// The instrument.
        key: PositionKey,
        /// The file.
        path: PathBuf,
    },
}

impl SourceSpec {
    /// The instrument.
    pub fn key(&self) -> &PositionKey {
        match self {
            SourceSpec::Candles { key, .. }
            | SourceSpec::Trades { key, .. }
            | SourceSpec::Funding { key, .. } => key,
        }
    }

    /// The file.
    pub fn path(&self) -> &PathBuf {
        match self {
            SourceSpec::Candles { path, .. }
            | SourceSpec::Trades { path, .. }
            | SourceSpec::Funding { path, .. } => path,
        }
    }
}

type EventStream = Box<dyn Iterator<Item = Result<Event, IngestError>> + Send>;

/// What the reader thread sends: events (the last one may be the error that ended
/// the input), or the end of the input.
enum Batch {
    Events(Vec<Result<Event, IngestError>>),
    End,
}

/// Several sources merged by event time, read ahead on a thread of their own.
pub struct MergedSource {
    batches: Receiver<Batch>,
    current: std::vec::IntoIter<Result<Event, IngestError>>,
    reader: Option<JoinHandle<()>>,
    done: bool,
}

impl MergedSource {
    /// Open every source; the first event of each is read now, so a file that cannot
    /// be read fails here. The rest is read on a thread.
    pub fn open(specs: &[SourceSpec]) -> Result<MergedSource, IngestError> {
        let merge = Merge::open(specs)?;
        let (sender, batches) = sync_channel(BATCHES_AHEAD);
        let reader = std::thread::Builder::new()
            .name("market-data".into())
            .spawn(move || merge.run(&sender))
            .map_err(|source| IngestError::Io {
                path: PathBuf::from("<market-data reader thread>"),
                source,
            })?;
        Ok(MergedSource {
            batches,
            current: Vec::new().into_iter(),
            reader: Some(reader),
            done: false,
        })
    }
}

impl Iterator for MergedSource {
    type Item = Result<Event, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.current.next() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            match self.batches.recv() {
                Ok(Batch::Events(events)) => self.current = events.into_iter(),
                Ok(Batch::End) => self.done = true,
                // The reader is gone without saying it finished: it panicked.
                Err(_) => {
                    self.done = true;
                    return Some(Err(IngestError::ReaderStopped));
                }
            }
        }
    }
}

impl Drop for MergedSource {
    fn drop(&mut self) {
        // Closing the channel first makes a reader blocked on a full channel give up.
        let (_, closed) = sync_channel(0);
        drop(std::mem::replace(&mut self.batches, closed));
        if let Some(reader) = self.reader.take() {
            // A reader that panicked has already been reported by `next`.
            let _ = reader.join();
        }
    }
}

/// The merge itself: each source's next event, the earliest first. Gaps are detected
/// on the merged stream, not per file: two files of one instrument with a day missing
/// between them are one series with a hole.
struct Merge {
    streams: Vec<EventStream>,
    heads: Vec<Option<Event>>,
    order: BinaryHeap<Reverse<(Timestamp, usize)>>,
    gaps: GapDetector<AlwaysOpen>,
    /// The candle a gap event was just handed out for.
    queued: Option<Event>,
}

impl Merge {
    fn open(specs: &[SourceSpec]) -> Result<Merge, IngestError> {
        let mut merge = Merge {
            streams: Vec::with_capacity(specs.len()),
            heads: Vec::with_capacity(specs.len()),
            order: BinaryHeap::new(),
            gaps: GapDetector::new(AlwaysOpen),
            queued: None,
        };
        for spec in specs {
            let stream: EventStream = match spec {
                SourceSpec::Candles { key, path } => {
                    let options = CandleOptions {
                        market: key.clone(),
                        timeframe: None,
                    };
                    Box::new(read_candles_file(path, options)?)
                }
                SourceSpec::Trades { key, path } => {
                    let options = TradeOptions {
                        market: key.clone(),
                    };
                    Box::new(read_trades_file(path, options)?)
                }
                SourceSpec::Funding { key, path } => {
                    Box::new(read_funding_file(path, key.clone())?)
                }
            };
            merge.streams.push(stream);
            merge.heads.push(None);
            merge.advance(merge.streams.len() - 1)?;
        }
        Ok(merge)
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

    /// The next event, or the error that ends the input (as before the reader had a
    /// thread: the event whose successor failed to read is not handed over).
    fn next(&mut self) -> Option<Result<Event, IngestError>> {
        if let Some(event) = self.queued.take() {
            return Some(Ok(event));
        }
        let Reverse((_, index)) = self.order.pop()?;
        let event = self.heads[index].take()?;
        if let Err(e) = self.advance(index) {
            return Some(Err(e));
        }
        let gap = match &event.payload {
            Payload::Candle(candle) => self.gaps.observe(candle),
            _ => None,
        };
        Some(Ok(match gap {
            // Stamped with the candle's time: the hole is known once the bar after it
            // closed (as `ingest::with_gaps` does).
            Some(gap) => {
                let ts = event.ts;
                self.queued = Some(event);
                Event::new(ts, Payload::Gap(gap))
            }
            None => event,
        }))
    }

    /// Merge to the end (or the first error) in batches; stop early when the engine
    /// hung up.
    fn run(mut self, sender: &SyncSender<Batch>) {
        loop {
            let mut events = Vec::with_capacity(BATCH_EVENTS);
            let mut ended = false;
            while events.len() < BATCH_EVENTS {
                match self.next() {
                    Some(Ok(event)) => events.push(Ok(event)),
                    Some(Err(e)) => {
                        events.push(Err(e));
                        ended = true;
                        break;
                    }
                    None => {
                        ended = true;
                        break;
                    }
                }
            }
            if !events.is_empty() && sender.send(Batch::Events(events)).is_err() {
                return;
            }
            if ended {
                let _ = sender.send(Batch::End);
                return;
            }
        }
    }
}
