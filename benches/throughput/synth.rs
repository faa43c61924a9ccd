//! Synthetic events: the mixes the append and import figures are measured on, and the
//! JSON Lines file `import` reads (generated once per size, then reused).
//!
//! Every event is a pure function of its index, so runs at the same scale see the same
//! data. Prices, sizes and sides move a little so the encoded sizes are realistic; the
//! fills are external (no order id), with unique exec ids, so the projection accepts
//! every one of them.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ledger::event::json::write_event;
use ledger::event::{
    Book, Decimal, Envelope, Event, ExecId, Fill, Liquidity, Payload, Side, Symbol, Timestamp,
    Trade, Venue,
};

/// Venue of every synthetic event.
pub const VENUE: &str = "bench";
/// Book of every synthetic event.
pub const BOOK: &str = "spot";
/// Instrument of the import file's rare position: one event in [`RARE_EVERY`].
pub const RARE: &str = "RARE";
/// Instrument of the import file's sparse position: one event in [`SPARSE_EVERY`].
pub const SPARSE: &str = "SPARSE";
/// 10 M events / 10,000 = ~1,000 events for the rare position's audit.
pub const RARE_EVERY: u64 = 10_000;
/// 10 M events / 1,000 = ~10,000 events for the sparse position's audit.
pub const SPARSE_EVERY: u64 = 1_000;
/// Instruments of the import file that take everything else.
const IMPORT_DENSE: [&str; 3] = ["D0", "D1", "D2"];
/// Instruments of the append mix.
const APPEND_INSTRUMENTS: [&str; 4] = ["A0", "A1", "A2", "A3"];
/// Fills per 100 events in the append mix (the rest are trades).
const APPEND_FILLS_PER_100: u64 = 3;
/// 2025-01-01T00:00:00Z; events are 1 ms apart from there.
const START_NS: i64 = 1_735_689_600_000_000_000;

/// Which events an append run writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendMix {
    /// 97% trades, 3% fills, over 4 instruments.
    Realistic,
    /// Fills only, over 4 instruments.
    FillsOnly,
}

/// Event `i` of an append run.
pub fn append_event(mix: AppendMix, i: u64) -> Event {
    let instrument = APPEND_INSTRUMENTS[(i % 4) as usize];
    let is_fill = match mix {
        AppendMix::FillsOnly => true,
        AppendMix::Realistic => mix64(i) % 100 < APPEND_FILLS_PER_100,
    };
    if is_fill {
        fill(i, instrument)
    } else {
        trade(i, instrument)
    }
}

/// Event `i` of the import file: half trades, half fills; the rare and sparse
/// instruments at fixed strides, the dense ones sharing the rest.
pub fn import_event(i: u64) -> Event {
    let instrument = if i % RARE_EVERY == RARE_EVERY / 2 {
        RARE
    } else if i % SPARSE_EVERY == SPARSE_EVERY / 3 {
        SPARSE
    } else {
        IMPORT_DENSE[(i % 3) as usize]
    };
    if mix64(i) & 1 == 1 {
        fill(i, instrument)
    } else {
        trade(i, instrument)
    }
}

/// Instruments of the fill-heavy log.
const FILL_HEAVY_INSTRUMENTS: [&str; 4] = ["F0", "F1", "F2", "F3"];

/// Event `i` of the fill-heavy log: two of every three are fills, round-robin over four
/// instruments.
pub fn fill_heavy_event(i: u64) -> Event {
    let instrument = FILL_HEAVY_INSTRUMENTS[(i % 4) as usize];
    if i % 3 == 0 {
        trade(i, instrument)
    } else {
        fill(i, instrument)
    }
}

/// The import file of `lines` events under `dir`, written now unless a complete one is
/// already there (it is written under another name and renamed when done).
pub fn ensure_import_file(dir: &Path, lines: u64) -> Result<PathBuf> {
    ensure_jsonl(dir, &format!("import-{lines}.jsonl"), lines, import_event)
}

/// The fill-heavy log of `lines` events under `dir`, as [`ensure_import_file`].
pub fn ensure_fill_heavy_file(dir: &Path, lines: u64) -> Result<PathBuf> {
    ensure_jsonl(dir, &format!("fills-{lines}.jsonl"), lines, fill_heavy_event)
}

fn ensure_jsonl(dir: &Path, name: &str, lines: u64, event: fn(u64) -> Event) -> Result<PathBuf> {
    let path = dir.join(name);
    if path.exists() {
        eprintln!("reusing {}", path.display());
        return Ok(path);
    }
    eprintln!("writing {} ({lines} lines, once)", path.display());
    let partial = path.with_extension("jsonl.partial");
    let file = File::create(&partial).with_context(|| format!("create {}", partial.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut line = Vec::with_capacity(512);
    for i in 0..lines {
        line.clear();
        let envelope = Envelope {
            seq: i + 1,
            event: event(i),
        };
        write_event(&envelope, &mut line)?;
        out.write_all(&line)?;
    }
    out.flush()?;
    drop(out);
    std::fs::rename(&partial, &path)?;
    Ok(path)
}

fn trade(i: u64, instrument: &str) -> Event {
    let trade = Trade {
        venue: Venue::from(VENUE),
        book: Book::from(BOOK),
        instrument: Symbol::from(instrument),
        px: px(i),
        qty: qty(i),
        side: Some(side(i)),
        trade_id: Some(format!("t{i}").into()),
    };
    Event::new(ts(i), Payload::Trade(trade))
}

fn fill(i: u64, instrument: &str) -> Event {
    let fill = Fill {
        venue: Venue::from(VENUE),
        book: Book::from(BOOK),
        instrument: Symbol::from(instrument),
        order_id: None,
        exec_id: ExecId::from(format!("x{i}")),
        side: side(i),
        px: px(i),
        qty: qty(i),
        fee: Decimal::from_parts(21 + (i % 7) as i64, 3).unwrap_or(Decimal::ZERO),
        fee_asset: None,
        liquidity: if i % 5 == 0 {
            Liquidity::Maker
        } else {
            Liquidity::Taker
        },
    };
    Event::new(ts(i), Payload::Fill(fill))
}

fn ts(i: u64) -> Timestamp {
    Timestamp::from_nanos(START_NS + i as i64 * 1_000_000)
}

/// 42,000.0 to 42,099.9 on a 0.1 grid.
fn px(i: u64) -> Decimal {
    Decimal::from_parts(420_000 + (mix64(i) % 1_000) as i64, 1).unwrap_or(Decimal::ONE)
}

/// 0.001 to 0.050.
fn qty(i: u64) -> Decimal {
    Decimal::from_parts(1 + (i % 50) as i64, 3).unwrap_or(Decimal::ONE)
}

fn side(i: u64) -> Side {
    if (i / 4) % 2 == 0 {
        Side::Buy
    } else {
        Side::Sell
    }
}

/// splitmix64's finalizer: a well-spread function of the index.
fn mix64(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
