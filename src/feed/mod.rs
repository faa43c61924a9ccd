//! Live market data: venue WebSockets → market events, with bounded queues.
//!
//! [`Feed::spawn`] starts one task per socket shard ([`socket`]); each parses its frames
//! with the venue's pure parser ([`bybit`]) and pushes the events into bounded
//! per-symbol queues ([`queue`]), where a full queue drops the tick and counts it
//! exactly. [`Feed::next`] hands out events in arrival order, bookkeeping included
//! (connected, disconnected, resubscribed, ticks dropped). Raw frames may be captured
//! and replayed through the same parser ([`capture`]).
//!
//! This module does I/O and reads the wall clock: market events carry the venue's
//! timestamps (the parser sets them); bookkeeping events carry the receive time.

pub mod backfill;
pub mod bybit;
pub mod capture;
pub mod queue;
pub mod socket;
pub mod subscriptions;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::event::{Event, Symbol, Timeframe, Timestamp, Venue};

pub use capture::replay_capture;
pub use queue::Queues;

/// What a feed connects to and subscribes.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    /// Venue namespace; only `bybit` is known.
    pub venue: Venue,
    /// The public WebSocket URL.
    pub ws_url: String,
    /// Instruments.
    pub symbols: Vec<Symbol>,
    /// Subscribe public trades.
    pub trades: bool,
    /// Subscribe klines of this timeframe.
    pub kline: Option<Timeframe>,
    /// Subscribe tickers (funding rates).
    pub tickers: bool,
    /// Events a symbol may have waiting before its ticks are dropped.
    pub queue_capacity: usize,
    /// Append raw frames to this file.
    pub capture: Option<PathBuf>,
    /// No frame for this long ⇒ the connection is dead (a blackholed or stale socket).
    pub idle_timeout: Duration,
    /// Application ping interval (Bybit asks for 20 s).
    pub ping_every: Duration,
    /// Topics one socket carries before symbols are sharded onto another socket.
    pub max_topics_per_socket: usize,
    /// First and longest reconnect delay (exponential with jitter in between).
    pub backoff: (Duration, Duration),
    /// How long a kline topic may send nothing while its socket is alive before it is
    /// resubscribed (and, silent again, the socket reconnected); `None`:
    /// [`bybit::KLINE_SILENT_INTERVALS`] intervals.
    pub kline_silence: Option<Duration>,
    /// The venue's REST base URL: closed candles missed while a socket was down are
    /// fetched from it after the reconnect; `None`: they are recorded as gaps.
    pub rest_url: Option<String>,
}

impl FeedConfig {
    /// Defaults for `symbols` on `ws_url`: trades only, 20 s pings, 60 s idle timeout.
    pub fn new(ws_url: impl Into<String>, symbols: Vec<Symbol>) -> FeedConfig {
        FeedConfig {
            venue: Venue::from("bybit"),
            ws_url: ws_url.into(),
            symbols,
            trades: true,
            kline: None,
            tickers: false,
            queue_capacity: 65_536,
            capture: None,
            idle_timeout: Duration::from_secs(60),
            ping_every: Duration::from_secs(20),
            max_topics_per_socket: 200,
            backoff: (Duration::from_millis(100), Duration::from_secs(10)),
            kline_silence: None,
            rest_url: None,
        }
    }
}

/// Why a feed could not start or a capture not be read.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The venue has no feed here.
    #[error("no live feed for venue `{0}` (known: bybit)")]
    UnknownVenue(String),
    /// The config cannot work.
    #[error("feed config: {0}")]
    Config(String),
    /// A capture file could not be opened, written or read.
    #[error("capture {path}: {source}")]
    Capture {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A capture line is not `<recv_ns>\t<frame>`.
    #[error("capture {path} line {line}: {reason}")]
    CaptureLine {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Counters a feed keeps while it runs (all exact).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedStats {
    /// Text frames received.
    pub frames: u64,
    /// Frames the parser refused (skipped).
    pub bad_frames: u64,
    /// Ticks dropped because a queue was full.
    pub dropped: u64,
    /// Connections made after the first one of each socket.
    pub reconnects: u64,
}

/// A running feed. Dropping it stops the sockets.
pub struct Feed {
    queues: Arc<Queues>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// The wall clock as a ledger timestamp (for bookkeeping events only).
pub fn now() -> Timestamp {
    crate::wall_clock::now()
}

impl Feed {
    /// Starts the socket task(s); returns at once. Needs a tokio runtime.
    pub fn spawn(config: FeedConfig) -> Result<Feed, FeedError> {
        if config.venue.as_str() != "bybit" {
            return Err(FeedError::UnknownVenue(config.venue.as_str().to_string()));
        }
        if config.symbols.is_empty() {
            return Err(FeedError::Config("no symbols".into()));
        }
        if config.queue_capacity == 0 {
            return Err(FeedError::Config("queue capacity must be > 0".into()));
        }
        if !config.trades && config.kline.is_none() && !config.tickers {
            return Err(FeedError::Config("nothing to subscribe".into()));
        }
        let interval = match config.kline {
            Some(tf) => Some(bybit::interval(tf).ok_or_else(|| {
                FeedError::Config(format!("Bybit has no kline interval for {tf}"))
            })?),
            None => None,
        };
        crate::install_crypto();
        let capture = match &config.capture {
            Some(path) => Some(Arc::new(capture::CaptureWriter::create(path)?)),
            None => None,
        };
        let topics = bybit::Topics {
            trades: config.trades,
            kline: interval,
            tickers: config.tickers,
        };
        let rest = match &config.rest_url {
            Some(base) => Some(backfill::Rest {
                http: reqwest::Client::builder()
                    .timeout(backfill::REQUEST_TIMEOUT)
                    .build()
                    .map_err(|e| FeedError::Config(format!("http client: {e}")))?,
                base: base.clone(),
            }),
            None => None,
        };
        let shards = subscriptions::shard(&config.symbols, &topics, config.max_topics_per_socket);
        let queues = Arc::new(Queues::new(config.venue.clone(), config.queue_capacity));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        queues.set_producers(shards.len());
        let tasks = shards
            .into_iter()
            .enumerate()
            .map(|(i, topics)| {
                let shard = socket::Shard {
                    index: i,
                    config: config.clone(),
                    topics,
                    queues: queues.clone(),
                    capture: capture.clone(),
                    stop: stopped.clone(),
                    rest: rest.clone(),
                };
                tokio::spawn(shard.run())
            })
            .collect();
        Ok(Feed {
            queues,
            stop,
            tasks,
        })
    }

    /// The next event in arrival order; `None` once stopped and drained.
    pub async fn next(&mut self) -> Option<Event> {
        self.queues.pop().await
    }

    /// Up to `max` events in arrival order, waiting only for the first; empty once
    /// stopped and drained. One lock for the lot: the bulk path for recorders.
    pub async fn next_batch(&mut self, max: usize, out: &mut Vec<Event>) -> bool {
        self.queues.pop_batch(max, out).await
    }

    /// Topics the venue has acked on the current connections (all of them: every
    /// desired topic is live).
    pub fn subscribed(&self) -> u64 {
        self.queues
            .subscribed
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counters so far.
    pub fn stats(&self) -> FeedStats {
        self.queues.stats()
    }

    /// Stop the sockets; events already queued can still be read, then `next` ends.
    pub fn stop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// A session reads its market events from a feed (`Feed::next` is cancel-safe: an
/// event leaves the queue only when it is returned).
impl crate::engine::MarketFeed for Feed {
    async fn next(&mut self) -> Option<Event> {
        Feed::next(self).await
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}
