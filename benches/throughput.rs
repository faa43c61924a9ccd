//! Throughput of the ledger against the targets of the performance issue, on this
//! machine: a table on stdout, then one JSON line per figure (`grep '^{'`).
//!
//! ```text
//! cargo bench --bench throughput                                   # full size (minutes)
//! LEDGER_BENCH_SCALE=0.01 cargo bench --bench throughput           # smoke run (seconds)
//! cargo bench --bench throughput 2>/dev/null | grep '^{'           # JSON lines only
//! ```
//!
//! `LEDGER_BENCH_SCALE` (default 1) multiplies every count; time targets of whole runs
//! scale with it, rate and memory targets do not. `LEDGER_BENCH_ONLY` (default: all)
//! runs only the sections named in it, a comma-separated list of `append`, `ingest`, `log`
//! (sections 2–6, which share one imported log), `fills` (4b), `backtest` (7 and 8), `backtest1` (7),
//! `backtest10` (8), `restart` (9) and `latency` (10):
//!
//! ```text
//! LEDGER_BENCH_ONLY=backtest cargo bench --bench throughput        # the backtests only
//! ```
//!
//! What it measures, in order:
//!
//! 1. **append**: 5 M events (97% trades, 3% fills, 4 instruments) from an in-process
//!    producer through the `Appender`, batches of 1,024, up to 32 in flight, every
//!    batch acknowledged durable, the producer encoding its batches
//!    (`submit_prepared`); the same with raw events; then 1 M fills only. Target
//!    ≥ 1.5 M ev/s.
//! 2. **import** of a 10 M-line JSON Lines file (trades and fills, 5 instruments) by the
//!    release binary, three times into a fresh file: median ev/s (≥ 1 M), the fastest
//!    and slowest, and peak RSS (< 200 MB).
//! 3. **replay** of that log from genesis, every block verified, three times: median
//!    ev/s (≥ 5 M), fastest, slowest, RSS.
//! 4. **export** of it to /dev/null: ev/s, RSS (< 200 MB). Then, in its own section
//!    `fills`, the **fill-heavy replay**: a 1 M-event log, two thirds fills on four
//!    instruments, imported once; `ledger replay` timed as a whole process (open,
//!    verify every block, recompute the head identity, fold, print), three times:
//!    median ev/s (≥ 5 M).
//! 5. **bytes per event**: file size / events against the encoded events' size
//!    (`stats`): ratio ≤ 2.
//! 6. **audit** of a rare position (~1,000 events, 1 in 10,000) and a sparse one
//!    (~10,000, 1 in 1,000): median of 5 `ledger --json audit` processes (rare < 50 ms)
//!    and of 5 in-process `position_events` calls, with the blocks each touches.
//! 7. **backtest**, one instrument, a year of 1-minute bars, in-process as `ledger run`
//!    drives it: whole run (< 2 s), bars/s, events/s, bars/s of each month (flat cost
//!    per bar), RSS after month 1 and at the end.
//! 8. **backtest, ten instruments**, the same year: whole run (< 15 s), bars/s of each
//!    month. Both backtests also report the engine thread's CPU time (the critical
//!    path: market data is parsed on a thread of its own), how long it waited for a
//!    CPU (large on a loaded machine: then the wall times are not the code's) and the
//!    process's CPU time.
//! 9. **restart** of a live session on a 10 M-event ledger (built once, the head
//!    999,999 events after its last checkpoint): open, `Writer::resume`, every
//!    submitted client id (`Reader::submitted_ids`), the orders to restore; median of
//!    3 (< 1 s), with the split and what `Writer::new` and a scan would cost.
//! 10. **latency**, tick to order: the release binary in a live session against the
//!     loopback fake Bybit, one market order per closing bar, 400 bars 150 ms apart;
//!     bar frame sent → `/v5/order/create` at the fake, outbox commit included: p50,
//!     p99 (≤ 2 ms), max.
//!
//! Inputs are generated once under `target/bench-data/` (keyed by size) and reused;
//! scratch ledgers go to a temporary directory there (on the same disk as the data,
//! not a tmpfs) and are deleted at the end.

#[path = "throughput/append.rs"]
mod append;
#[path = "throughput/backtest.rs"]
mod backtest;
#[path = "throughput/cli.rs"]
mod cli;
#[path = "throughput/ingest.rs"]
mod ingest;
#[path = "throughput/latency.rs"]
mod latency;
#[path = "throughput/report.rs"]
mod report;
#[path = "throughput/restart.rs"]
mod restart;
#[path = "throughput/synth.rs"]
mod synth;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

use append::Handover;
use report::{Machine, Report, Target};
use synth::AppendMix;

/// The allocator the `ledger` binary uses, so in-process figures match it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Events of the realistic append run at scale 1.
const APPEND_EVENTS: f64 = 5_000_000.0;
/// Events of the fills-only append run at scale 1.
const APPEND_FILLS_EVENTS: f64 = 1_000_000.0;
/// Events of the fill-heavy replay log at scale 1 (two thirds fills, 4 instruments).
const FILL_HEAVY_LINES: f64 = 1_000_000.0;
/// Lines of the import file at scale 1 (~2 GB).
const IMPORT_LINES: f64 = 10_000_000.0;
/// Trades sent in each ingest run at scale 1.
const INGEST_TRADES: f64 = 2_000_000.0;
/// Events of the restart ledger at scale 1.
const RESTART_EVENTS: f64 = 10_000_000.0;
/// Orders timed in the tick-to-order run at scale 1 (150 ms apart).
const LATENCY_BARS: f64 = 400.0;
/// One year of 1-minute bars.
const YEAR_BARS: f64 = 525_600.0;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("throughput: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let scale = scale()?;
    let machine = Machine::detect(scale);
    let bin = cli::ledger_bin();
    let data_dir = data_dir(&bin)?;
    let tmp = tempfile::Builder::new()
        .prefix("ledgers-")
        .tempdir_in(&data_dir)?;
    eprintln!(
        "scale {scale}; inputs in {}, scratch in {}",
        data_dir.display(),
        tmp.path().display()
    );
    let only = Only::from_env()?;
    let mut report = Report::default();
    if only.runs("append") {
        appends(tmp.path(), scale, &mut report)?;
    }
    if only.runs("log") {
        let logs = cli::LogBench {
            bin: &bin,
            data_dir: &data_dir,
            tmp_dir: tmp.path(),
        };
        cli::run(&logs, count(IMPORT_LINES, scale), &mut report)?;
    }
    if only.runs("fills") {
        let logs = cli::LogBench {
            bin: &bin,
            data_dir: &data_dir,
            tmp_dir: tmp.path(),
        };
        cli::fill_heavy(&logs, count(FILL_HEAVY_LINES, scale), &mut report)?;
    }
    if only.runs("ingest") {
        ingest::run(tmp.path(), count(INGEST_TRADES, scale), &mut report)?;
    }
    let backtests = backtest::BacktestBench {
        manifest_dir: Path::new(env!("CARGO_MANIFEST_DIR")),
        data_dir: &data_dir,
        tmp_dir: tmp.path(),
    };
    let bars = count(YEAR_BARS, scale) as usize;
    if only.runs("backtest1") {
        backtest::one_instrument(&backtests, bars, scale, &mut report)?;
    }
    if only.runs("backtest10") {
        backtest::ten_instruments(&backtests, bars, scale, &mut report)?;
    }
    if only.runs("latency") {
        latency::run(
            &bin,
            tmp.path(),
            count(LATENCY_BARS, scale).max(20) as usize,
            &mut report,
        )?;
    }
    if only.runs("restart") {
        restart::run(&data_dir, count(RESTART_EVENTS, scale), &mut report)?;
    }
    report.print(&machine);
    tmp.close()?;
    Ok(())
}

fn appends(tmp: &Path, scale: f64, report: &mut Report) -> Result<()> {
    eprintln!("append (realistic mix)");
    let events = count(APPEND_EVENTS, scale);
    let path = tmp.join("append.redb");
    let mixed = append::run(&path, events, AppendMix::Realistic, Handover::Prepared)?;
    report.add(
        "append 97% trades/3% fills events/s",
        mixed.rate(),
        "ev/s",
        Target::AtLeast(1.5e6),
    );
    eprintln!("append (realistic mix, raw events: the writer thread encodes)");
    let raw = append::run(&path, events, AppendMix::Realistic, Handover::Events)?;
    report.add(
        "append, raw events handed over, events/s",
        raw.rate(),
        "ev/s",
        Target::Info,
    );
    eprintln!("append (fills only)");
    let events = count(APPEND_FILLS_EVENTS, scale);
    let path = tmp.join("append-fills.redb");
    let fills = append::run(&path, events, AppendMix::FillsOnly, Handover::Prepared)?;
    report.add(
        "append fills only events/s",
        fills.rate(),
        "ev/s",
        Target::Info,
    );
    eprintln!("commit latency (one event per durable commit)");
    let commits = count(400.0, scale.max(0.25)) as usize;
    for (two_phase, name) in [(true, "two-phase (default)"), (false, "one-phase")] {
        let db = tmp.join(format!("commit-{two_phase}.redb"));
        let (p50, p99) = append::commit_latency(&db, commits, two_phase)?;
        report.add(
            format!("commit latency {name} p50"),
            p50,
            "ms",
            Target::Info,
        );
        report.add(
            format!("commit latency {name} p99"),
            p99,
            "ms",
            Target::Info,
        );
    }
    Ok(())
}

/// The sections `LEDGER_BENCH_ONLY` selects (`None`: all of them).
struct Only(Option<Vec<String>>);

impl Only {
    /// Section names this binary knows; `backtest` stands for both backtests.
    const SECTIONS: [&'static str; 9] = [
        "append",
        "ingest",
        "log",
        "fills",
        "backtest",
        "backtest1",
        "backtest10",
        "restart",
        "latency",
    ];

    fn from_env() -> Result<Only> {
        let Ok(text) = std::env::var("LEDGER_BENCH_ONLY") else {
            return Ok(Only(None));
        };
        let names: Vec<String> = text
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect();
        for name in &names {
            anyhow::ensure!(
                Self::SECTIONS.contains(&name.as_str()),
                "LEDGER_BENCH_ONLY: unknown section {name:?} (known: {})",
                Self::SECTIONS.join(", ")
            );
        }
        Ok(Only(Some(names)))
    }

    /// True when `section` is to run.
    fn runs(&self, section: &str) -> bool {
        match &self.0 {
            None => true,
            Some(names) => names
                .iter()
                .any(|n| n == section || (n == "backtest" && section.starts_with("backtest"))),
        }
    }
}

/// `LEDGER_BENCH_SCALE`, default 1.
fn scale() -> Result<f64> {
    match std::env::var("LEDGER_BENCH_SCALE") {
        Ok(text) => {
            let scale: f64 = text.parse().context("LEDGER_BENCH_SCALE")?;
            anyhow::ensure!(
                scale > 0.0 && scale.is_finite(),
                "LEDGER_BENCH_SCALE must be > 0"
            );
            Ok(scale)
        }
        Err(_) => Ok(1.0),
    }
}

/// `full × scale`, at least 1.
fn count(full: f64, scale: f64) -> u64 {
    ((full * scale).round() as u64).max(1)
}

/// `target/bench-data`, next to the `release` directory the binary was built in.
fn data_dir(bin: &Path) -> Result<PathBuf> {
    let target = bin
        .parent()
        .and_then(Path::parent)
        .context("the ledger binary is not under a target directory")?;
    let dir = target.join("bench-data");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
