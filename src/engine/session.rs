//! The loop of a paper or live session: the same [`Engine`] a backtest runs, driven by
//! a market feed, the backend's reports and a stop signal, on tokio.
//!
//! A backtest pulls market events from files as fast as it can; a session waits for
//! whichever comes first: a market event (→ `Engine::on_market`), reports a live
//! venue pushed between market events (→ `Engine::poll_reports`), or a stop (Ctrl-C:
//! the kill switch). Bookkeeping events of the feed (connections, resubscriptions,
//! dropped ticks) are appended as they come. Everything is committed after each turn
//! of the loop (market events waiting together share one commit), so a reader sees
//! the session as it goes and a crash loses nothing a venue acknowledged.
//!
//! The strategy, executor and reducer stay synchronous and pure: this loop only
//! decides what reaches them in which order, and the log records that order, so a
//! backtest over the session's recorded market events (`run --from-log`) replays the
//! same decisions.
//!
//! Bars are the closed candles of the feed. A candle still forming (a venue pushes one
//! every second or so) is not appended: the closed one supersedes it, and a simulated
//! exchange must not match against half a bar.

use std::future::Future;
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::sync::Notify;

use super::backtest::{Engine, MarketDriven, RunError};
use crate::backend::{ExecutionBackend, SimExchange};
use crate::event::{Decimal, Event, Payload, Timestamp};
use crate::strategy::Strategy;

/// Market events handled before one commit when several are waiting: bounds the
/// latency a burst adds to the first event's durability.
const BATCH_MAX: usize = 256;

/// How often the backend's periodic work runs (see [`SessionBackend::housekeeping`]).
const HOUSEKEEPING_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// How long a stopping session waits for the answers to what it sent last (a market
/// order's fill, a cancel's confirmation) before it says which are still out.
const SETTLE_AT_STOP: std::time::Duration = std::time::Duration::from_secs(5);

/// A source of a session's market and bookkeeping events, in arrival order.
pub trait MarketFeed {
    /// The next event; `None` when the feed has ended for good. Must be cancel-safe
    /// (the loop drops it when a report or a stop comes first): an event is either
    /// returned or still queued.
    fn next(&mut self) -> impl Future<Output = Option<Event>> + Send;
}

impl MarketFeed for tokio::sync::mpsc::Receiver<Event> {
    async fn next(&mut self) -> Option<Event> {
        self.recv().await
    }
}

/// A backend a session can run on: a venue that pushes reports says when some wait.
pub trait SessionBackend: ExecutionBackend + MarketDriven {
    /// Notified when reports are waiting for [`ExecutionBackend::reports`]; `None` for a
    /// backend whose reports only follow market events or requests (the simulator).
    fn reports_ready(&self) -> Option<Arc<Notify>> {
        None
    }

    /// What the backend did on its own since last asked: events for the log
    /// (connections, clock offsets) and lines for the operator (waits, retries,
    /// skipped frames). Nothing it does is silent.
    fn take_bookkeeping(&mut self) -> (Vec<Event>, Vec<String>) {
        (Vec::new(), Vec::new())
    }

    /// Periodic work between events (a live venue settles orders of unknown outcome
    /// by their client id here). Called about once a second.
    fn housekeeping(&mut self) -> impl Future<Output = ()> + Send {
        std::future::ready(())
    }

    /// The venue to reconcile with; `None` for a backend that is its own truth (the
    /// simulator).
    fn reconcile_venue(&self) -> Option<crate::event::Venue> {
        None
    }

    /// Why a reconcile is due on the backend's own account (its private stream came
    /// back after a drop), taken once.
    fn take_reconcile_due(&mut self) -> Option<String> {
        None
    }

    /// The venue's clock now, which periodic reconciles are timed and stamped by.
    fn venue_now(&self) -> Option<Timestamp> {
        None
    }
}

impl SessionBackend for SimExchange {}

impl SessionBackend for crate::backend::bybit::BybitBackend {
    fn reports_ready(&self) -> Option<Arc<Notify>> {
        Some(crate::backend::bybit::BybitBackend::reports_ready(self))
    }

    fn take_bookkeeping(&mut self) -> (Vec<Event>, Vec<String>) {
        self.bookkeeping()
    }

    fn housekeeping(&mut self) -> impl Future<Output = ()> + Send {
        self.resolve_unknown()
    }

    fn reconcile_venue(&self) -> Option<crate::event::Venue> {
        Some(self.clock_offset().venue)
    }

    fn take_reconcile_due(&mut self) -> Option<String> {
        crate::backend::bybit::BybitBackend::take_reconcile_due(self)
    }

    fn venue_now(&self) -> Option<Timestamp> {
        Some(crate::backend::bybit::BybitBackend::venue_now(self))
    }
}

/// When a session stops, or reconciles, on its own.
#[derive(Debug, Clone, Default)]
pub struct SessionLimits {
    /// Reconcile with the venue after this much venue time since the last reconcile
    /// (a live backend only): what no stream message told (a trade made elsewhere, a
    /// dropped frame) is found within this bound. `None`: at start and after
    /// reconnects only.
    pub reconcile_every: Option<std::time::Duration>,
    /// Stop after this many bars.
    pub max_bars: Option<u64>,
    /// Stop (cancelling every open order) once the session has lost this much: the
    /// kill switch's loss limit, in the quote currency, > 0.
    pub loss_limit: Option<Decimal>,
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEnd {
    /// The feed ended (a capture or a recorded source ran out).
    FeedEnded,
    /// `max_bars` bars were seen.
    MaxBars(u64),
    /// Ctrl-C or SIGTERM: open orders were cancelled.
    Signal {
        /// Orders asked to cancel.
        cancelled: usize,
    },
    /// The loss limit was reached: open orders were cancelled.
    LossLimit {
        /// The session's PnL when it stopped.
        pnl: Decimal,
        /// The limit.
        limit: Decimal,
        /// Orders asked to cancel.
        cancelled: usize,
    },
}

impl SessionEnd {
    /// The `session_stopped` reason.
    pub fn reason(&self) -> String {
        match self {
            SessionEnd::FeedEnded => "end of data".to_string(),
            SessionEnd::MaxBars(n) => format!("max bars reached ({n})"),
            SessionEnd::Signal { cancelled } => {
                format!("interrupted by a signal; kill switch cancelled {cancelled} open order(s)")
            }
            SessionEnd::LossLimit {
                pnl,
                limit,
                cancelled,
            } => format!(
                "loss limit {limit} reached (pnl {pnl}); kill switch cancelled {cancelled} open order(s)"
            ),
        }
    }
}

/// What a session saw besides the engine's own counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionCounts {
    /// Candles still forming, not appended (see the module doc).
    pub open_candles: u64,
    /// Bookkeeping events appended (connections, drops, resubscriptions, clock).
    pub bookkeeping: u64,
    /// Times the backend said reports were waiting.
    pub report_wakeups: u64,
    /// Reconciles run inside the loop (after reconnects, periodic), start excluded.
    pub reconciles: u64,
}

/// Run a session until the feed ends, a limit is reached, or `stop` completes; then
/// wait (a bounded while) for the venue's answers to what is still in flight, so the
/// log the session leaves holds the fill of its last market order, not a reconcile
/// later.
pub async fn run_session<S, B, F>(
    engine: &mut Engine<'_, S, B>,
    feed: &mut F,
    stop: impl Future<Output = ()>,
    limits: &SessionLimits,
    counts: &mut SessionCounts,
    log: &mut (dyn FnMut(String) + Send),
) -> Result<SessionEnd, RunError>
where
    S: Strategy,
    B: SessionBackend,
    F: MarketFeed,
{
    let end = run_until_end(engine, feed, stop, limits, counts, log).await?;
    settle(engine, SETTLE_AT_STOP, log).await?;
    Ok(end)
}

/// Poll reports (and the backend's periodic work, which settles unknown outcomes)
/// until no order is in flight or `within` has passed; the ones still out are logged.
/// How long a venue's report stream must stay quiet before a stopping session
/// takes it as settled.
const SETTLE_QUIET: std::time::Duration = std::time::Duration::from_millis(300);

async fn settle<S: Strategy, B: SessionBackend>(
    engine: &mut Engine<'_, S, B>,
    within: std::time::Duration,
    log: &mut (dyn FnMut(String) + Send),
) -> Result<(), RunError> {
    let ready = engine.backend().reports_ready();
    if engine.in_flight().is_empty() && ready.is_none() {
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + within;
    let mut housekeeping = tokio::time::Instant::now() + HOUSEKEEPING_EVERY;
    let mut last_seq = engine.next_seq()?;
    let mut quiet_since = tokio::time::Instant::now();
    loop {
        let now = tokio::time::Instant::now();
        if now >= housekeeping {
            engine.backend_mut().housekeeping().await;
            housekeeping = now + HOUSEKEEPING_EVERY;
        }
        engine.poll_reports().await?;
        record_bookkeeping(engine, log)?;
        engine.commit()?;
        let seq = engine.next_seq()?;
        if seq != last_seq {
            (last_seq, quiet_since) = (seq, now);
        }
        let out = engine.in_flight();
        // A venue pushes what follows a fill (the wallet, the position) just after
        // it: the orders are answered once the stream has been quiet a moment, so
        // the stopped ledger holds the balance the venue does.
        if out.is_empty() && (ready.is_none() || now.duration_since(quiet_since) >= SETTLE_QUIET) {
            return Ok(());
        }
        if now >= deadline {
            let ids: Vec<String> = out.iter().map(ToString::to_string).collect();
            log(format!(
                "stopping with {} order(s) still unanswered after {} s: {}; the next \
                 run or `ledger reconcile` settles them",
                ids.len(),
                within.as_secs(),
                ids.join(", ")
            ));
            return Ok(());
        }
        let wait = (deadline.min(housekeeping)).saturating_duration_since(now);
        let wait = wait.min(std::time::Duration::from_millis(50));
        match &ready {
            Some(ready) => {
                let _ = tokio::time::timeout(wait, ready.notified()).await;
            }
            None => tokio::time::sleep(wait).await,
        }
    }
}

async fn run_until_end<S, B, F>(
    engine: &mut Engine<'_, S, B>,
    feed: &mut F,
    stop: impl Future<Output = ()>,
    limits: &SessionLimits,
    counts: &mut SessionCounts,
    log: &mut (dyn FnMut(String) + Send),
) -> Result<SessionEnd, RunError>
where
    S: Strategy,
    B: SessionBackend,
    F: MarketFeed,
{
    tokio::pin!(stop);
    let ready = engine.backend().reports_ready();
    let mut tick = tokio::time::interval(HOUSEKEEPING_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let venue = engine.backend().reconcile_venue();
    // The session reconciled at its start, just before this loop.
    let mut last_reconcile = engine.backend().venue_now();
    loop {
        let step = tokio::select! {
            biased;
            () = &mut stop => Step::Stop,
            () = notified(ready.as_deref()), if ready.is_some() => Step::Reports,
            _ = tick.tick() => Step::Housekeeping,
            event = feed.next() => Step::Feed(event.map(Box::new)),
        };
        match step {
            Step::Housekeeping => {
                engine.backend_mut().housekeeping().await;
                engine.poll_reports().await?;
            }
            Step::Stop => {
                let cancelled = engine.cancel_all().await?;
                engine.commit()?;
                return Ok(SessionEnd::Signal { cancelled });
            }
            Step::Reports => {
                counts.report_wakeups += 1;
                engine.poll_reports().await?;
            }
            Step::Feed(None) => {
                engine.commit()?;
                return Ok(SessionEnd::FeedEnded);
            }
            Step::Feed(Some(event)) => {
                handle(engine, *event, counts).await?;
                // Whatever else is already waiting shares this turn's commit.
                for _ in 1..BATCH_MAX {
                    if limits
                        .max_bars
                        .is_some_and(|max| engine.stats().bars >= max)
                    {
                        break;
                    }
                    match feed.next().now_or_never() {
                        Some(Some(event)) => handle(engine, event, counts).await?,
                        Some(None) => {
                            engine.commit()?;
                            return Ok(SessionEnd::FeedEnded);
                        }
                        None => break,
                    }
                }
            }
        }
        counts.bookkeeping += record_bookkeeping(engine, log)?;
        if let Some(venue) = &venue {
            let now = engine.backend().venue_now();
            let why = match engine.backend_mut().take_reconcile_due() {
                Some(why) => Some(why),
                None => periodic_due(limits.reconcile_every, last_reconcile, now),
            };
            if let (Some(why), Some(now)) = (why, now) {
                match reconcile(engine, venue, now, &why, log).await {
                    Ok(()) => {
                        counts.reconciles += 1;
                        last_reconcile = Some(now);
                    }
                    // A venue that does not answer now is asked again at the next
                    // turn; the session trades on.
                    Err(RunError::Backend(e)) => {
                        log(format!("reconcile ({why}) failed, will retry: {e}"))
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        engine.commit()?;
        if let Some(limit) = limits.loss_limit {
            let pnl = engine.pnl();
            if pnl
                .checked_add(limit)
                .is_some_and(|left| left.is_negative())
            {
                let cancelled = engine.cancel_all().await?;
                engine.commit()?;
                return Ok(SessionEnd::LossLimit {
                    pnl,
                    limit,
                    cancelled,
                });
            }
        }
        if let Some(max) = limits.max_bars {
            if engine.stats().bars >= max {
                return Ok(SessionEnd::MaxBars(max));
            }
        }
    }
}

/// "periodic" once `every` of venue time has passed since `last`.
fn periodic_due(
    every: Option<std::time::Duration>,
    last: Option<Timestamp>,
    now: Option<Timestamp>,
) -> Option<String> {
    let every = i64::try_from(every?.as_nanos()).unwrap_or(i64::MAX);
    let (last, now) = (last?, now?);
    (now.as_nanos().saturating_sub(last.as_nanos()) >= every).then(|| "periodic".to_string())
}

/// The start reconcile's steps, mid-session: drift and correction events per
/// difference (nothing when in sync), one operator line per difference and one for
/// the outcome.
async fn reconcile<S: Strategy, B: SessionBackend>(
    engine: &mut Engine<'_, S, B>,
    venue: &crate::event::Venue,
    now: Timestamp,
    why: &str,
    log: &mut (dyn FnMut(String) + Send),
) -> Result<(), RunError> {
    let differences = engine.reconcile(venue, now).await?;
    for d in &differences {
        log(format!("reconcile ({why}): {d}"));
    }
    if differences.is_empty() {
        log(format!("reconcile ({why}): in sync with {venue}"));
    }
    Ok(())
}

/// Append the backend's bookkeeping events and log its lines; how many events.
fn record_bookkeeping<S: Strategy, B: SessionBackend>(
    engine: &mut Engine<'_, S, B>,
    log: &mut (dyn FnMut(String) + Send),
) -> Result<u64, RunError> {
    let (events, lines) = engine.backend_mut().take_bookkeeping();
    let n = events.len() as u64;
    for event in events {
        engine.record(event)?;
    }
    lines.into_iter().for_each(&mut *log);
    Ok(n)
}

enum Step {
    Stop,
    Housekeeping,
    Reports,
    /// Boxed: an event is large next to the other steps.
    Feed(Option<Box<Event>>),
}

async fn notified(ready: Option<&Notify>) {
    match ready {
        Some(notify) => notify.notified().await,
        // Disabled by the select's condition; never polled.
        None => std::future::pending().await,
    }
}

async fn handle<S: Strategy, B: SessionBackend>(
    engine: &mut Engine<'_, S, B>,
    event: Event,
    counts: &mut SessionCounts,
) -> Result<(), RunError> {
    match &event.payload {
        Payload::Candle(c) if !c.closed => {
            counts.open_candles += 1;
            Ok(())
        }
        Payload::Trade(_)
        | Payload::Quote(_)
        | Payload::Candle(_)
        | Payload::FundingRate(_)
        | Payload::Gap(_) => engine.on_market(event).await,
        _ => {
            counts.bookkeeping += 1;
            engine.record(event)
        }
    }
}
