//! The command line: one file per subcommand, each with its clap arguments and an
//! `exec` that calls the library; `output` is the only printer.
//!
//! Boundary: the only place that uses `anyhow`, reads files named by the user, and
//! decides exit codes.

mod audit;
mod bybit_link;
mod compact;
mod demo;
mod diff;
mod export;
mod fake_venue;
mod generate;
mod import;
mod ingest;
mod output;
mod positions;
mod reconcile;
mod replay;
mod report;
mod run;
mod session;
mod stats;
mod values;
mod verify;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

pub use output::{Output, Table};
use values::parse_positive_decimal;

/// Exit code when the log fails verification (a corrupted or altered ledger).
pub const EXIT_CORRUPT: u8 = 3;

/// An event-sourced trading ledger: a hash-chained event log in redb, with positions,
/// orders and PnL as pure projections of it.
#[derive(Debug, Parser)]
#[command(name = "ledger", version, about, max_term_width = 100)]
pub struct Cli {
    /// Print JSON instead of tables (and errors as a JSON object on stdout).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    command: Command,
}

/// The ledger a command reads or writes: an option of each command that has one (not
/// global, so `diff` and `generate-candles`, which have none, do not list it).
#[derive(Debug, clap::Args)]
struct LedgerArg {
    /// Ledger database file.
    #[arg(long, value_name = "FILE", default_value = "ledger.redb")]
    db: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Backtest the bundled play on the bundled month of bars into demo.redb, then report,
    /// verify and audit it.
    Demo(demo::Args),
    /// Run a strategy: backtest over files or another ledger's market events.
    Run {
        #[command(flatten)]
        ledger: LedgerArg,
        #[command(flatten)]
        args: run::Args,
    },
    /// Append events from a JSON Lines file (all or nothing).
    Import {
        #[command(flatten)]
        ledger: LedgerArg,
        #[command(flatten)]
        args: import::Args,
    },
    /// Record a venue's live public market data (or a capture of it): trades, closed
    /// candles, funding rates and connection events, until Ctrl-C or a limit.
    Ingest {
        #[command(flatten)]
        ledger: LedgerArg,
        #[command(flatten)]
        args: ingest::Args,
    },
    /// Write events as JSON Lines to stdout.
    Export {
        #[command(flatten)]
        ledger: LedgerArg,
        #[command(flatten)]
        args: export::Args,
    },
    /// Fold the log and print the positions.
    Replay {
        #[command(flatten)]
        ledger: LedgerArg,
        #[command(flatten)]
        args: replay::Args,
    },
    /// Every event that shaped one position, recomputed and proven.
    Audit {
        #[command(flatten)]
        ledger: LedgerArg,
        #[command(flatten)]
        args: audit::Args,
    },
    /// Recompute the hash chain and every checkpoint.
    Verify {
        #[command(flatten)]
        ledger: LedgerArg,
        #[command(flatten)]
        args: verify::Args,
    },
    /// Head, counts by kind, size on disk.
    Stats {
        #[command(flatten)]
        ledger: LedgerArg,
        #[command(flatten)]
        args: stats::Args,
    },
    /// Give back free space in the file (the log is unchanged).
    Compact {
        #[command(flatten)]
        ledger: LedgerArg,
        #[command(flatten)]
        args: compact::Args,
    },
    /// Write deterministic sample candles (the data in replay/ and the benchmarks).
    GenerateCandles(generate::Args),
    /// A loopback venue (Bybit v5) replaying a candle file, speaking the venue's REST
    /// and WebSocket formats with signature checks: rehearse a live setup offline.
    FakeVenue(fake_venue::Args),
    /// Compare the ledger with the venue (positions, open orders) and append the
    /// snapshot, a drift event per difference and its correction.
    Reconcile {
        #[command(flatten)]
        ledger: LedgerArg,
        #[command(flatten)]
        args: reconcile::Args,
    },
    /// Equity curve, PnL, drawdown, Sharpe/Sortino, win rate; tables or JSON, and an SVG
    /// chart with --chart.
    Report {
        #[command(flatten)]
        ledger: LedgerArg,
        #[command(flatten)]
        args: report::Args,
    },
    /// Compare two ledgers: first differing seq, the events there, both projections.
    /// Exit status 0 identical, 1 different, 2 trouble.
    Diff(diff::Args),
}

impl Cli {
    /// The exit status for an error of this command: 1, or 2 for `diff` (whose 1
    /// means "different", as for `diff(1)`).
    pub fn error_exit_code(&self) -> u8 {
        match self.command {
            Command::Diff(_) => diff::EXIT_TROUBLE,
            _ => 1,
        }
    }
}

/// Open an existing ledger to read it through (`Ledger::open_to_read`), with the path
/// in the error.
fn open_to_read(db: &Path) -> anyhow::Result<crate::log::Ledger> {
    use anyhow::Context;
    crate::log::Ledger::open_to_read(db).context("cannot open the ledger")
}

/// Run the parsed command; `Ok` holds the exit status (0 unless the command's result
/// is itself a status, as for `diff`). Errors carry their context for the user.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    let out = Output { json: cli.json };
    let done = match cli.command {
        Command::Diff(args) => return diff::exec(args, out),
        Command::Demo(args) => demo::exec(args, out),
        Command::Run { ledger, args } => run::exec(&ledger.db, args, out),
        Command::Import { ledger, args } => import::exec(&ledger.db, args, out),
        Command::Ingest { ledger, args } => ingest::exec(&ledger.db, args, out),
        Command::Export { ledger, args } => export::exec(&ledger.db, args, out),
        Command::Replay { ledger, args } => replay::exec(&ledger.db, args, out),
        Command::Audit { ledger, args } => audit::exec(&ledger.db, args, out),
        Command::Verify { ledger, args } => verify::exec(&ledger.db, args, out),
        Command::Stats { ledger, args } => stats::exec(&ledger.db, args, out),
        Command::Compact { ledger, args } => compact::exec(&ledger.db, args, out),
        Command::GenerateCandles(args) => generate::exec(args, out),
        Command::FakeVenue(args) => fake_venue::exec(args, out),
        Command::Reconcile { ledger, args } => reconcile::exec(&ledger.db, args, out),
        Command::Report { ledger, args } => report::exec(&ledger.db, args, out),
    };
    done.map(|()| 0)
}
