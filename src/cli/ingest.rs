//! `ledger ingest`: record a venue's live public market data (or a capture of it) into
//! the ledger, through the group-committing `Appender` (one commit covers many ticks).
//!
//! Only closed candles are recorded, so a recorded candle series is clean; every trade,
//! funding rate and bookkeeping event (connected, disconnected, resubscribed, ticks
//! dropped) is. The session is a `session_started` with mode `import` and
//! `command=ingest` in its params (it records market data and trades nothing, as an
//! import does), closed by a `session_stopped` naming why it ended.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::json;

use super::{Output, Table};
use crate::engine::config_hash;
use crate::event::{
    Event, Mode, Payload, SessionStarted, SessionStopped, Symbol, Timeframe, Venue,
};
use crate::feed::{Feed, FeedConfig, replay_capture};
use crate::log::{Appender, Ledger, PendingAppend, WriterOptions};

/// Bybit's public linear stream on testnet.
pub const BYBIT_TESTNET: &str = "wss://stream-testnet.bybit.com/v5/public/linear";
/// Bybit's public linear stream on mainnet.
pub const BYBIT_MAINNET: &str = "wss://stream.bybit.com/v5/public/linear";

/// Events per batch handed to the writer.
const BATCH: usize = 8192;
/// Batches submitted and not yet durable before the reader waits.
const IN_FLIGHT: usize = 4;

/// Which venue to record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VenueName {
    /// Bybit v5, linear perpetuals.
    Bybit,
}

/// Arguments of `ledger ingest`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The venue.
    #[arg(long, value_enum, default_value = "bybit")]
    pub venue: VenueName,
    /// Symbols, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub symbols: Vec<String>,
    /// The public WebSocket URL (overrides --testnet/--mainnet).
    #[arg(long, value_name = "URL")]
    pub ws_url: Option<String>,
    /// The venue's REST base URL, where closed candles missed while the socket was down
    /// are fetched after a reconnect (default: the --testnet/--mainnet one, unless
    /// --ws-url is given; without one they are recorded as gaps).
    #[arg(long, value_name = "URL")]
    pub rest_url: Option<String>,
    /// Use the venue's testnet (the default).
    #[arg(long, conflicts_with = "mainnet")]
    pub testnet: bool,
    /// Use the venue's mainnet.
    #[arg(long)]
    pub mainnet: bool,
    /// Also record closed candles of this timeframe (e.g. 1m).
    #[arg(long, value_name = "TF")]
    pub kline: Option<Timeframe>,
    /// Also record funding rates (tickers).
    #[arg(long)]
    pub tickers: bool,
    /// Events a symbol may have waiting before ticks are dropped (and counted).
    #[arg(long, value_name = "N", default_value_t = 65_536, value_parser = clap::value_parser!(u64).range(1..))]
    pub queue: u64,
    /// Append the raw frames to this file (replay it with --from-capture).
    #[arg(long, value_name = "FILE")]
    pub capture: Option<PathBuf>,
    /// Record a capture file instead of connecting.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["capture", "ws_url"])]
    pub from_capture: Option<PathBuf>,
    /// Stop after recording this many market events.
    #[arg(long, value_name = "N")]
    pub max_events: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Seconds without a frame before a connection counts as dead.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub idle_timeout: f64,
}

/// What a session recorded.
#[derive(Debug, Default, Clone)]
struct Summary {
    events: u64,
    trades: u64,
    candles: u64,
    funding: u64,
    dropped: u64,
    reconnects: u64,
    bad_frames: u64,
    open_candles_skipped: u64,
}

impl Summary {
    /// Count `e`; false for an event not to record (an open candle).
    fn keep(&mut self, e: &Event) -> bool {
        match &e.payload {
            Payload::Candle(c) if !c.closed => {
                self.open_candles_skipped += 1;
                return false;
            }
            Payload::Candle(_) => self.candles += 1,
            Payload::Trade(_) => self.trades += 1,
            Payload::FundingRate(_) => self.funding += 1,
            Payload::TicksDropped(d) => self.dropped += d.count,
            _ => {}
        }
        self.events += 1;
        true
    }

    fn market(&self) -> u64 {
        self.trades + self.candles + self.funding
    }
}

fn seconds(what: &str, s: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(s)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| format!("{what} must be a positive number of seconds"))
}

struct Writer {
    appender: Appender,
    pending: VecDeque<PendingAppend>,
}

impl Writer {
    async fn submit(&mut self, events: Vec<Event>) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let pending = self.appender.submit_async(events).await.context("append")?;
        self.pending.push_back(pending);
        while self.pending.len() > IN_FLIGHT {
            if let Some(p) = self.pending.pop_front() {
                p.wait_async().await.context("append")?;
            }
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<()> {
        while let Some(p) = self.pending.pop_front() {
            p.wait_async().await.context("append")?;
        }
        let appender = self.appender;
        tokio::task::spawn_blocking(move || appender.finish())
            .await
            .context("writer thread")?
            .context("final commit")?;
        Ok(())
    }
}

/// Run `ledger ingest`.
pub fn exec(db: &Path, args: Args, out: Output) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(ingest(db, args, out))
}

async fn ingest(db: &Path, args: Args, out: Output) -> Result<()> {
    let symbols: Vec<Symbol> = args
        .symbols
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(Symbol::from)
        .collect();
    if symbols.is_empty() {
        bail!("--symbols: give at least one symbol");
    }
    let venue = Venue::from("bybit");
    let url = match (&args.ws_url, args.mainnet) {
        (Some(url), _) => url.clone(),
        (None, true) => BYBIT_MAINNET.to_string(),
        (None, false) => BYBIT_TESTNET.to_string(),
    };
    let duration = args
        .duration
        .map(|s| seconds("--duration", s))
        .transpose()?;
    let idle = seconds("--idle-timeout", args.idle_timeout)?;
    let mut params = vec![
        ("command".to_string(), "ingest".to_string()),
        ("venue".to_string(), "bybit".to_string()),
        (
            "symbols".to_string(),
            symbols
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ),
    ];
    match &args.from_capture {
        Some(path) => params.push(("from_capture".into(), path.display().to_string())),
        None => params.push(("ws_url".into(), url.clone())),
    }
    if let Some(tf) = args.kline {
        params.push(("kline".into(), tf.to_string()));
    }
    let ledger = Ledger::open_for_session(db).context("cannot open the ledger")?;
    let appender =
        Appender::start(&ledger, WriterOptions::default()).context("cannot start the writer")?;
    let mut writer = Writer {
        appender,
        pending: VecDeque::new(),
    };
    let started = SessionStarted {
        mode: Mode::Import,
        config_hash: config_hash(&params),
        version: env!("CARGO_PKG_VERSION").to_string(),
        params,
    };
    writer
        .submit(vec![Event::new(
            crate::feed::now(),
            Payload::SessionStarted(started),
        )])
        .await?;
    let mut summary = Summary::default();
    let max = args.max_events.unwrap_or(u64::MAX);
    let outcome = match &args.from_capture {
        Some(path) => from_capture(path, &venue, &mut writer, &mut summary, max).await,
        None => {
            let mut config = FeedConfig::new(url, symbols);
            config.kline = args.kline;
            config.tickers = args.tickers;
            config.queue_capacity = usize::try_from(args.queue).unwrap_or(usize::MAX);
            config.capture = args.capture.clone();
            config.idle_timeout = idle;
            config.rest_url = match (&args.rest_url, &args.ws_url, args.mainnet) {
                (Some(url), _, _) => Some(url.clone()),
                // A WebSocket override (a fake, a proxy): the default REST would be
                // another venue's candles.
                (None, Some(_), _) => None,
                (None, None, true) => Some(crate::backend::bybit::MAINNET_REST.to_string()),
                (None, None, false) => Some(crate::backend::bybit::TESTNET_REST.to_string()),
            };
            live(config, duration, &mut writer, &mut summary, max).await
        }
    };
    let reason = match &outcome {
        Ok(reason) => reason.clone(),
        Err(e) => format!("error: {e:#}"),
    };
    let stop = Event::new(
        crate::feed::now(),
        Payload::SessionStopped(SessionStopped {
            reason: reason.clone(),
        }),
    );
    writer.submit(vec![stop]).await?;
    writer.finish().await?;
    outcome?;
    print(out, &summary, &reason)
}

/// Record from a live feed until a signal, the event cap or the duration.
async fn live(
    config: FeedConfig,
    duration: Option<Duration>,
    writer: &mut Writer,
    summary: &mut Summary,
    max: u64,
) -> Result<String> {
    let mut feed = Feed::spawn(config).context("cannot start the feed")?;
    let end = tokio::time::sleep(duration.unwrap_or(Duration::from_secs(u64::MAX / 4)));
    tokio::pin!(end);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut batch = Vec::with_capacity(BATCH);
    let reason = loop {
        batch.clear();
        let more = tokio::select! {
            more = feed.next_batch(BATCH, &mut batch) => more,
            _ = &mut ctrl_c => break "signal".to_string(),
            _ = &mut end => break "duration".to_string(),
        };
        if !more {
            break "feed ended".to_string();
        }
        let (kept, hit) = keep(&mut batch, summary, max);
        writer.submit(kept).await?;
        if hit {
            break "max-events".to_string();
        }
    };
    feed.stop();
    let stats = feed.stats();
    // What is already queued is recorded (with any drop counts) unless the cap is hit.
    if reason != "max-events" {
        batch.clear();
        while tokio::time::timeout(Duration::from_secs(2), feed.next_batch(BATCH, &mut batch))
            .await
            .unwrap_or(false)
        {
            let (kept, hit) = keep(&mut batch, summary, max);
            writer.submit(kept).await?;
            batch.clear();
            if hit {
                break;
            }
        }
    }
    summary.reconnects = stats.reconnects;
    summary.bad_frames = feed.stats().bad_frames;
    Ok(reason)
}

/// The events of `batch` to record, and whether the market-event cap was reached.
fn keep(batch: &mut Vec<Event>, summary: &mut Summary, max: u64) -> (Vec<Event>, bool) {
    let mut kept = Vec::with_capacity(batch.len());
    for e in batch.drain(..) {
        if summary.market() >= max {
            return (kept, true);
        }
        if summary.keep(&e) {
            kept.push(e);
        }
    }
    (kept, summary.market() >= max)
}

async fn from_capture(
    path: &Path,
    venue: &Venue,
    writer: &mut Writer,
    summary: &mut Summary,
    max: u64,
) -> Result<String> {
    let mut events = replay_capture(path, venue).context("cannot replay the capture")?;
    while !events.is_empty() {
        let rest = events.split_off(events.len().min(BATCH));
        let (kept, hit) = keep(&mut events, summary, max);
        writer.submit(kept).await?;
        if hit {
            return Ok("max-events".into());
        }
        events = rest;
    }
    Ok("end of capture".into())
}

fn print(out: Output, s: &Summary, reason: &str) -> Result<()> {
    if out.json {
        out.json_value(&json!({
            "events": s.events + 2,
            "trades": s.trades,
            "candles": s.candles,
            "funding_rates": s.funding,
            "dropped": s.dropped,
            "reconnects": s.reconnects,
            "bad_frames": s.bad_frames,
            "open_candles_skipped": s.open_candles_skipped,
            "stopped": reason,
        }))?;
        return Ok(());
    }
    let mut t = Table::new(&["what", "count"], &["count"]);
    for (what, n) in [
        ("events", s.events + 2),
        ("trades", s.trades),
        ("candles", s.candles),
        ("funding rates", s.funding),
        ("dropped", s.dropped),
        ("reconnects", s.reconnects),
        ("bad frames", s.bad_frames),
    ] {
        t.row(vec![what.to_string(), n.to_string()]);
    }
    out.text(&t.render())?;
    out.text(&format!("stopped: {reason}\n"))?;
    Ok(())
}
