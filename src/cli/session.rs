//! `ledger run --mode paper|live`: a session on a venue's live market data.
//!
//! Paper trades the venue's public data through the same simulated exchange a backtest
//! uses (its settings are recorded as a backtest's are), so `run --mode backtest
//! --from-log` over the session's ledger makes the same decisions (`ledger diff
//! --decisions`). Live sends the orders to the venue.
//!
//! Restart = replay: a session on a ledger that already holds events folds it (from
//! the latest checkpoint) and goes on; a previous session that never stopped (a crash,
//! a kill) is named in the new session's `resumed_after` parameter.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::Output;
use super::bybit_link::{self, Endpoints};
use super::fake_venue::VenueName;
use super::run::{Args, RunMode, load_rules, run_params, sim_config, summary_of};
use crate::backend::{SimConfig, SimExchange};
use crate::engine::{
    Engine, EngineOptions, Outstanding, RunStats, SessionBackend, SessionCounts, SessionEnd,
    SessionLimits, config_hash, outstanding as outstanding_since, run_session,
};
use crate::event::{Event, Mode, OrderCancelled, Payload, Timeframe};
use crate::executor::{Executor, VenueRules};
use crate::feed::{Feed, FeedConfig};
use crate::log::{Ledger, Writer, WriterOptions};
use crate::strategy::{Play, PlayStrategy};

/// Ticks a symbol's queue holds before the feed drops (and counts) them.
const QUEUE_PER_SYMBOL: usize = 16 * 1024;

/// Run a paper or live session.
pub fn exec(db: &Path, args: Args, out: Output) -> Result<()> {
    let Some(venue) = args.venue else {
        bail!("--mode paper and --mode live need --venue (bybit)");
    };
    if args.from_log.is_some() || !(args.data.is_empty() && args.trades.is_empty()) {
        bail!(
            "a paper or live session trades the venue's live data: --data, --trades and --from-log are for --mode backtest"
        );
    }
    if args.mode == RunMode::Live && !args.confirm_live {
        bail!(
            "--mode live sends real orders: add --confirm-live (testnet unless --mainnet is also given)"
        );
    }
    if args.mainnet
        && args.mode == RunMode::Live
        && args.ws_url.is_none()
        && args.rest_url.is_none()
    {
        // Both flags given: mainnet, real money. Said once, loudly.
        out.note("warning: live on MAINNET: orders trade real money");
    }
    let play_text = std::fs::read_to_string(&args.strategy)
        .with_context(|| format!("cannot read strategy {}", args.strategy.display()))?;
    let play = Play::parse(&play_text, &args.strategy.display().to_string())?;
    let venue_name = match venue {
        VenueName::Bybit => "bybit",
    };
    if let Some(other) = play.instruments.iter().find(|k| k.venue.0 != venue_name) {
        bail!("{other}: the play trades it on another venue than --venue {venue_name}");
    }
    let interval = bybit_interval(play.timeframe)?;
    let endpoints = Endpoints::of(
        args.rest_url.as_deref(),
        args.ws_url.as_deref(),
        args.mainnet,
    );
    let ws_base = endpoints.ws_base.clone();
    let rules = load_rules(&args.rules)?;
    let sim = sim_config(&args, &play, &rules)?;
    let mut params = run_params(&args, &play, &[], &rules, &sim)?;
    params.push(("venue".to_string(), venue_name.to_string()));
    params.push(("ws_url".to_string(), ws_base.clone()));
    params.push(("kline".to_string(), interval.to_string()));
    if args.mode == RunMode::Live {
        params.push((
            "reconcile_every".to_string(),
            format!("{}s", args.reconcile_every),
        ));
    }
    let ledger = Ledger::open_for_session(db).context("cannot open the ledger")?;
    let before = ledger.reader()?.head()?.seq;
    let last = ledger.reader()?.last_session()?;
    // A restart must be ready at once: only what the new events rest on is re-proven
    // (see `Writer::resume`).
    let mut writer = Writer::resume(&ledger, WriterOptions::default())?;
    let mut outstanding = Outstanding::default();
    if let Some(mark) = last.filter(|m| m.stopped.is_none()) {
        // A live session's stops and targets not yet sent are the log's too; a paper
        // session's orders died with its in-memory exchange (`orphaned_paper_orders`).
        if args.mode == RunMode::Live {
            outstanding = outstanding_since(&ledger.reader()?, writer.projection(), mark.started)
                .context("cannot read what the unfinished session left outstanding")?;
        }
        if !outstanding.is_empty() {
            params.push(("restored".to_string(), outstanding.describe()));
        }
        params.push((
            "resumed_after".to_string(),
            format!(
                "the session started at seq {} never stopped (a crash or a kill); its state is the log's",
                mark.started
            ),
        ));
    }
    let mode = match args.mode {
        RunMode::Live => Mode::Live,
        _ => Mode::Paper,
    };
    let options = EngineOptions {
        mode,
        config_hash: config_hash(&params),
        params,
        initial_equity: sim.initial_equity,
        timeframe: play.timeframe,
    };
    let rules: Vec<VenueRules> = rules.into_iter().map(|r| r.rules).collect();
    let orphans = orphaned_paper_orders(&writer);
    let sim = SimConfig {
        exec_id_prefix: format!("sim-{}-", before + 1),
        ..sim
    };
    let symbols = play
        .instruments
        .iter()
        .map(|k| k.instrument.clone())
        .collect();
    let feed_config = FeedConfig {
        trades: false,
        kline: Some(play.timeframe),
        tickers: false,
        queue_capacity: QUEUE_PER_SYMBOL,
        // Candles missed while the socket was down come from the same venue's REST.
        rest_url: match (&args.rest_url, &args.ws_url, args.mainnet) {
            (Some(url), _, _) => Some(url.clone()),
            (None, Some(_), _) => None,
            (None, None, true) => Some(crate::backend::bybit::MAINNET_REST.to_string()),
            (None, None, false) => Some(crate::backend::bybit::TESTNET_REST.to_string()),
        },
        ..FeedConfig::new(format!("{ws_base}/v5/public/linear"), symbols)
    };
    let limits = SessionLimits {
        max_bars: args.max_bars,
        loss_limit: args.loss_limit,
        reconcile_every: (args.reconcile_every > 0)
            .then(|| std::time::Duration::from_secs(args.reconcile_every)),
    };
    crate::install_crypto();
    // One thread: a frame is read, parsed, decided on, committed and its order
    // written to the socket without a hand-off between threads (each costs a
    // wake-up on the tick-to-order path). The engine awaits between events, so the
    // streams' reads and heartbeats run there.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let strategy = PlayStrategy::new(play)?;
    let executor = Executor::new(rules);
    let setup = Setup {
        ledger: &ledger,
        before,
        feed_config,
        limits,
        out,
    };
    match mode {
        Mode::Live => {
            let config = endpoints.config(args.keys.as_deref())?;
            let venue = config.namespace.venue.clone();
            let unknown_after = args.unknown_after.map(Duration::from_secs);
            let backend =
                runtime.block_on(bybit_link::connect(&ledger, &writer, config, unknown_after))?;
            let mut engine = Engine::new(&mut writer, strategy, executor, backend, options);
            engine.resume(outstanding);
            go(&runtime, engine, setup, Vec::new(), Some(venue))
        }
        _ => {
            let engine = Engine::new(
                &mut writer,
                strategy,
                executor,
                SimExchange::new(sim),
                options,
            );
            go(&runtime, engine, setup, orphans, None)
        }
    }
}

/// What `go` needs besides the engine.
struct Setup<'a> {
    ledger: &'a Ledger,
    before: u64,
    feed_config: FeedConfig,
    limits: SessionLimits,
    out: Output,
}

/// Run the session to its end and print its summary. `prelude` is appended first;
/// `reconcile_on` (live) reconciles with that venue before the first market event.
fn go<S, B>(
    runtime: &tokio::runtime::Runtime,
    mut engine: Engine<'_, S, B>,
    setup: Setup<'_>,
    prelude: Vec<Event>,
    reconcile_on: Option<crate::event::Venue>,
) -> Result<()>
where
    S: crate::strategy::Strategy,
    B: SessionBackend,
{
    let Setup {
        ledger,
        before,
        feed_config,
        limits,
        out,
    } = setup;
    let mut counts = SessionCounts::default();
    let driven = runtime.block_on(async {
        // Orders a previous paper session left open lived in its in-process simulator,
        // which a restart does not have: they are closed, with the reason, not left
        // open forever.
        for event in prelude {
            engine.record(event)?;
        }
        if let Some(venue) = &reconcile_on {
            let (events, lines) = engine.backend_mut().take_bookkeeping();
            for event in events {
                engine.record(event)?;
            }
            lines.iter().for_each(|l| out.note(l));
            let now = engine
                .backend()
                .venue_now()
                .unwrap_or_else(crate::wall_clock::now);
            let differences = engine.reconcile(venue, now).await?;
            for d in &differences {
                out.note(&format!("reconcile: {d}"));
            }
            engine.commit()?;
        }
        let mut feed = Feed::spawn(feed_config).context("cannot start the market feed")?;
        let mut log = |line: String| out.note(&line);
        let end = run_session(
            &mut engine,
            &mut feed,
            stop_signal(),
            &limits,
            &mut counts,
            &mut log,
        )
        .await;
        feed.stop();
        Ok::<_, anyhow::Error>(end?)
    });
    let reason = match &driven {
        Ok(end) => end.reason(),
        Err(e) => format!("error: {e:#}"),
    };
    let mode_name = if reconcile_on.is_some() {
        "live"
    } else {
        "paper"
    };
    let finished = engine.finish(&reason);
    match (driven, finished) {
        (Ok(end), Ok(stats)) => {
            note_counts(&counts, &stats, out);
            summary_of(mode_name, ledger, before, &stats, out)?;
            match end {
                SessionEnd::Signal { .. } => bail!(
                    "interrupted by a signal: the session stopped cleanly (session_stopped reason `{reason}`); its events are committed"
                ),
                SessionEnd::LossLimit { .. } => bail!("kill switch: {reason}"),
                _ => Ok(()),
            }
        }
        (Ok(_), Err(e)) => Err(e.into()),
        (Err(e), Ok(_)) => Err(e.context(
            "the session stopped part-way; its events so far are committed, with session_stopped reason `error: …`",
        )),
        (Err(e), Err(stop)) => Err(e.context(format!(
            "the session stopped part-way, and its session_stopped could not be written ({stop}): readers will report the session as incomplete"
        ))),
    }
}

/// Completes on the first SIGINT or SIGTERM (the kill switch then runs); a second
/// signal is left to the default action, which ends the process.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // No handler: the session can still end by its limits or the feed.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}

/// `order_cancelled` for every order a previous paper session left open: its book was
/// in that process's simulator, which is gone.
fn orphaned_paper_orders(writer: &Writer) -> Vec<Event> {
    let projection = writer.projection();
    let ts = projection.last_ts();
    projection
        .orders()
        .filter(|o| !o.state.is_terminal())
        .map(|o| {
            Event::new(
                ts,
                Payload::OrderCancelled(OrderCancelled {
                    client_order_id: o.client_order_id.clone(),
                    reason: Some("paper session restarted: the simulated book of the previous session is gone".to_string()),
                }),
            )
        })
        .collect()
}

fn note_counts(counts: &SessionCounts, stats: &RunStats, out: Output) {
    out.note(&format!(
        "session: {} market events, {} forming candles not recorded, {} bookkeeping events (connections, drops, resubscriptions)",
        stats.market_events, counts.open_candles, counts.bookkeeping
    ));
}

/// Bybit's kline interval for a bar length (`venues.md` §B: 1 3 5 15 30 60 120 240 360
/// 720 minutes, D, W, M).
fn bybit_interval(tf: Timeframe) -> Result<&'static str> {
    const MINUTES: &[(i64, &str)] = &[
        (1, "1"),
        (3, "3"),
        (5, "5"),
        (15, "15"),
        (30, "30"),
        (60, "60"),
        (120, "120"),
        (240, "240"),
        (360, "360"),
        (720, "720"),
        (1440, "D"),
        (10080, "W"),
    ];
    let minutes = tf.nanos() / 60_000_000_000;
    match MINUTES.iter().find(|(m, _)| *m == minutes) {
        Some((_, name)) if tf.nanos() % 60_000_000_000 == 0 => Ok(name),
        _ => bail!(
            "the play's {tf} bars are not a Bybit kline interval (1m 3m 5m 15m 30m 1h 2h 4h 6h 12h 1d 1w)"
        ),
    }
}
