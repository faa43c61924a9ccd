//! Restart of a live session on a 10 M-event ledger: what `ledger run --mode live`
//! does before its first turn (`src/cli/session.rs`), timed step by step.
//!
//! The ledger looks like a long live session: trades and closed 1-minute candles on
//! two instruments, 100 ms of event time apart, an order every [`ORDER_EVERY`] events
//! (submitted, acknowledged, filled), a session stopped and started again every
//! million events, checkpoints where the `Writer` makes them, and the head 999,999
//! events after the last one (the worst case: a session killed just before its next
//! checkpoint, so the restart folds the most). It is built once under the bench data
//! directory (keyed by size and layout version) and reused; restarts only read it, so
//! every run sees the same file.
//!
//! Timed per restart (median of [`RUNS`], the file's pages warm, as after a crash): open,
//! the head and the last session, `Writer::resume` (the header chain, the identity
//! tail, the fold from the latest checkpoint, the execution filter), every client order
//! id the ledger submitted (`Reader::submitted_ids`), and the projection's open orders
//! (what `restore` walks). Beside it, for the split: `Writer::new` (which rehashes
//! every block and identity segment: what `import` still does), the rehash of every
//! block alone, the way the submitted ids were learnt before the index (a scan of the
//! log), and the fold alone.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, ensure};
use ledger::event::{
    Book, Candle, ClientOrderId, Decimal, Event, ExecId, Fill, FillOrderId, Liquidity, Mode,
    OrderAccepted, OrderSubmitted, OrderType, Payload, SessionStarted, SessionStopped, Side,
    Symbol, TimeInForce, Timeframe, Timestamp, Trade, Venue, VenueOrderId,
};
use ledger::log::{
    DEFAULT_CHECKPOINT_EVERY, Ledger, OpenMode, Writer, WriterOptions, projection_at,
};

use crate::report::{Report, Target};

/// Restarts timed; the median is reported.
const RUNS: usize = 3;
/// One order (three events) every this many events.
const ORDER_EVERY: u64 = 500;
/// A session ends and the next starts every this many events.
const SESSION_EVERY: u64 = 1_000_000;
/// Events per commit while building.
const BUILD_COMMIT: u64 = 64 * 1024;
/// Bumped when the built ledger's content or layout changes (a cached one is rebuilt).
const LAYOUT: u32 = 2;
/// The candles' bar length.
const ONE_MINUTE: Timeframe = match Timeframe::from_seconds(60) {
    Some(tf) => tf,
    None => panic!("60 s is a timeframe"),
};
/// 2026-01-01T00:00:00Z.
const START_NS: i64 = 1_767_225_600_000_000_000;
/// Event time between two events.
const STEP_NS: i64 = 100_000_000;

/// Time restarts of a session on an `events`-event ledger kept under `data_dir`.
pub fn run(data_dir: &Path, events: u64, report: &mut Report) -> Result<()> {
    let path = ensure_ledger(data_dir, events)?;
    let mut runs = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        runs.push(restart(&path)?);
    }
    let median = |f: fn(&Restart) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let ms = |f: fn(&Restart) -> f64| median(f) * 1e3;
    report.add(
        format!("restart on {events} events: ready to trade"),
        ms(|r| r.total),
        "ms",
        Target::Below(1_000.0),
    );
    report.add(
        "restart: open + head + last session",
        ms(|r| r.open),
        "ms",
        Target::Info,
    );
    report.add(
        "restart: Writer::resume",
        ms(|r| r.writer),
        "ms",
        Target::Info,
    );
    report.add(
        "restart: submitted client ids (Reader::submitted_ids)",
        ms(|r| r.submitted),
        "ms",
        Target::Info,
    );
    report.add(
        "restart: open orders to restore",
        ms(|r| r.restore),
        "ms",
        Target::Info,
    );
    report.add(
        "restart: submitted ids found",
        median(|r| r.ids as f64),
        "ids",
        Target::Info,
    );

    let ledger = Ledger::open_for_session(&path)?;
    let start = Instant::now();
    drop(Writer::new(&ledger, WriterOptions::default())?);
    report.add(
        "restart split: Writer::new (full check, as import does)",
        start.elapsed().as_secs_f64() * 1e3,
        "ms",
        Target::Info,
    );
    let reader = ledger.reader()?;
    let head = reader.head_seq()?;
    let start = Instant::now();
    let mut blocks = 0u64;
    reader.for_each_block(1, head, |_, _| {
        blocks += 1;
        Ok(ControlFlow::Continue(()))
    })?;
    report.add(
        format!("restart split: rehash every block ({blocks} blocks)"),
        start.elapsed().as_secs_f64() * 1e3,
        "ms",
        Target::Info,
    );
    let start = Instant::now();
    let mut scanned = 0u64;
    reader.for_each_event(1, head, |e| {
        if let Payload::OrderSubmitted(_) = &e.event.payload {
            scanned += 1;
        }
        Ok(ControlFlow::Continue(()))
    })?;
    report.add(
        "restart split: submitted ids by a scan of the log (before the index)",
        start.elapsed().as_secs_f64() * 1e3,
        "ms",
        Target::Info,
    );
    let start = Instant::now();
    let (_, base) = projection_at(&reader, head)?;
    report.add(
        format!(
            "restart split: fold {} events after the checkpoint",
            head - base
        ),
        start.elapsed().as_secs_f64() * 1e3,
        "ms",
        Target::Info,
    );
    ensure!(
        scanned == runs[0].ids as u64,
        "the index holds {} ids, a scan finds {scanned}",
        runs[0].ids
    );
    Ok(())
}

/// One restart, in seconds per step.
struct Restart {
    total: f64,
    open: f64,
    writer: f64,
    submitted: f64,
    restore: f64,
    ids: usize,
}

/// What `ledger run --mode live` does on an existing ledger before its first turn
/// (minus connecting to the venue).
fn restart(path: &Path) -> Result<Restart> {
    let start = Instant::now();
    let ledger = Ledger::open_for_session(path)?;
    let reader = ledger.reader()?;
    let before = reader.head()?.seq;
    let last = reader.last_session()?;
    drop(reader);
    let open = start.elapsed().as_secs_f64();
    let t = Instant::now();
    let writer = Writer::resume(&ledger, WriterOptions::default())?;
    let writer_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let ids = ledger.reader()?.submitted_ids()?;
    let submitted = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let open_orders = writer
        .projection()
        .orders()
        .filter(|o| !o.state.is_terminal())
        .count();
    let restore = t.elapsed().as_secs_f64();
    let total = start.elapsed().as_secs_f64();
    ensure!(before > 0 && last.is_some(), "the ledger holds no session");
    std::hint::black_box(open_orders);
    Ok(Restart {
        total,
        open,
        writer: writer_secs,
        submitted,
        restore,
        ids: ids.len(),
    })
}

/// The restart ledger of `events` events under `dir`, built now unless a complete one
/// is there (built under another name and renamed when done).
fn ensure_ledger(dir: &Path, events: u64) -> Result<PathBuf> {
    let path = dir.join(format!("restart-v{LAYOUT}-{events}.redb"));
    if path.exists() {
        eprintln!("reusing {}", path.display());
        return Ok(path);
    }
    eprintln!("building {} ({events} events, once)", path.display());
    let partial = path.with_extension("redb.partial");
    if partial.exists() {
        std::fs::remove_file(&partial)?;
    }
    let started = Instant::now();
    {
        let ledger = Ledger::open(&partial, OpenMode::CreateIfMissing)?;
        // Checkpoints as a writer makes them up to 999,999 events before the head,
        // then none: the head sits just before the next one would have been.
        let split = events.saturating_sub(DEFAULT_CHECKPOINT_EVERY - 1).max(1);
        let no_checkpoints = WriterOptions {
            checkpoint_every: u64::MAX / 2,
            ..WriterOptions::default()
        };
        for (range, options) in [
            (0..split, WriterOptions::default()),
            (split..events, no_checkpoints),
        ] {
            let mut writer = Writer::new(&ledger, options)?;
            let mut batch = Vec::with_capacity(BUILD_COMMIT as usize);
            let mut i = range.start;
            while i < range.end {
                let end = (i + BUILD_COMMIT).min(range.end);
                while i < end {
                    batch.push(session_event(i, events));
                    i += 1;
                }
                let outcome = writer.append(batch.drain(..))?;
                if let Some((index, e)) = outcome.rejected.first() {
                    anyhow::bail!("event {index} of the batch ending at {i} refused: {e}");
                }
                writer.commit()?;
            }
            ensure!(writer.committed_head().seq == range.end, "short build");
        }
    }
    std::fs::rename(&partial, &path)?;
    eprintln!("built in {:.1} s", started.elapsed().as_secs_f64());
    Ok(path)
}

/// Event `i` (0-based) of the long session's ledger of `events` events.
fn session_event(i: u64, events: u64) -> Event {
    let ts = Timestamp::from_nanos(START_NS + i as i64 * STEP_NS);
    let at_session = i % SESSION_EVERY;
    if at_session == 0 {
        return Event::new(
            ts,
            Payload::SessionStarted(SessionStarted {
                mode: Mode::Live,
                config_hash: "bench".into(),
                version: "bench".into(),
                params: vec![("venue".into(), "bybit".into())],
            }),
        );
    }
    if at_session == SESSION_EVERY - 1 && i + 1 < events {
        return Event::new(
            ts,
            Payload::SessionStopped(SessionStopped {
                reason: "max bars reached".into(),
            }),
        );
    }
    let order = i / ORDER_EVERY;
    let instrument = Symbol::from(if order % 2 == 0 { "BTCUSDT" } else { "ETHUSDT" });
    let id = ClientOrderId::from(format!("lg-{order}"));
    let side = if order % 4 < 2 { Side::Buy } else { Side::Sell };
    let px = price(i);
    let qty = Decimal::from_parts(1, 3).unwrap_or(Decimal::ONE);
    match i % ORDER_EVERY {
        100 => Event::new(
            ts,
            Payload::OrderSubmitted(OrderSubmitted {
                venue: venue(),
                book: book(),
                instrument,
                client_order_id: id,
                side,
                order_type: OrderType::Limit,
                qty,
                px: Some(px),
                trigger_px: None,
                tif: TimeInForce::Gtc,
                reduce_only: false,
                post_only: false,
            }),
        ),
        101 => Event::new(
            ts,
            Payload::OrderAccepted(OrderAccepted {
                client_order_id: id,
                venue_order_id: Some(VenueOrderId::from(format!("v-{order}"))),
            }),
        ),
        // Fills come a while later, as a resting limit is traded through.
        200 => {
            let px = price(i - 100);
            Event::new(
                ts,
                Payload::Fill(Fill {
                    venue: venue(),
                    book: book(),
                    instrument,
                    order_id: Some(FillOrderId::from(id.as_str())),
                    exec_id: ExecId::from(format!("e-{order}")),
                    side,
                    px,
                    qty,
                    fee: Decimal::from_parts(2, 2).unwrap_or(Decimal::ZERO),
                    fee_asset: None,
                    liquidity: Liquidity::Maker,
                }),
            )
        }
        // A closed 1-minute candle per instrument every 600 events (one minute).
        n if i % 600 == 0 || i % 600 == 1 => {
            let symbol = if n % 2 == 0 { "BTCUSDT" } else { "ETHUSDT" };
            Event::new(
                ts,
                Payload::Candle(Candle {
                    venue: venue(),
                    book: book(),
                    instrument: Symbol::from(symbol),
                    timeframe: ONE_MINUTE,
                    open_time: Timestamp::from_nanos(START_NS + (i as i64 - 600) * STEP_NS),
                    open: px,
                    high: px,
                    low: px,
                    close: px,
                    volume: Decimal::ONE,
                    closed: true,
                }),
            )
        }
        _ => Event::new(
            ts,
            Payload::Trade(Trade {
                venue: venue(),
                book: book(),
                instrument: Symbol::from(if i % 3 == 0 { "ETHUSDT" } else { "BTCUSDT" }),
                px,
                qty: Decimal::from_parts(1 + (i % 50) as i64, 3).unwrap_or(Decimal::ONE),
                side: Some(if i % 2 == 0 { Side::Buy } else { Side::Sell }),
                trade_id: Some(format!("t{i}").into()),
            }),
        ),
    }
}

fn venue() -> Venue {
    Venue::from("bybit")
}

fn book() -> Book {
    Book::from("linear")
}

/// 60,000.0 to 60,099.9 on a 0.1 grid.
fn price(i: u64) -> Decimal {
    Decimal::from_parts(600_000 + ((i * 7_919) % 1_000) as i64, 1).unwrap_or(Decimal::ONE)
}
