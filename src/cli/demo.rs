//! `ledger demo`: the quick start. Backtests the bundled EMA trend play over the bundled
//! month of 1-minute bars into a fresh ledger, then shows what the log gives you: the
//! report, the hash-chain verification, and the audit of the position.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::Output;

/// The database `demo` writes when `--db` is left at its default.
const DEMO_DB: &str = "demo.redb";

/// Arguments of `ledger demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Strategy play to backtest.
    #[arg(long, default_value = "replay/strategies/ema_trend.yaml")]
    pub strategy: PathBuf,
    /// Candles to run it over.
    #[arg(long, default_value = "replay/btcusdt-1m.csv")]
    pub data: PathBuf,
    /// Position to audit.
    #[arg(long, default_value = "bybit:linear:BTCUSDT")]
    pub audit: String,
}

/// Run `ledger demo`.
pub fn exec(db: &Path, args: Args, out: Output) -> Result<()> {
    // The demo never touches a user's ledger: it writes `demo.redb` (replaced each
    // run) unless given a --db that does not exist yet.
    let db = if db == Path::new("ledger.redb") {
        PathBuf::from(DEMO_DB)
    } else {
        db.to_path_buf()
    };
    if db == Path::new(DEMO_DB) && db.exists() {
        std::fs::remove_file(&db).with_context(|| format!("cannot replace {}", db.display()))?;
    } else if db.exists() {
        bail!(
            "{} exists; the demo needs a fresh ledger file",
            db.display()
        );
    }
    let section = |title: &str| -> Result<()> {
        if !out.json {
            out.text(&format!("\n== {title}\n"))?;
        }
        Ok(())
    };
    section(&format!(
        "ledger run --mode backtest --strategy {} --data {} --db {}",
        args.strategy.display(),
        args.data.display(),
        db.display()
    ))?;
    let run = super::run::Args::backtest(args.strategy, args.data);
    super::run::exec(&db, run, out)?;
    section(&format!("ledger report --db {}", db.display()))?;
    super::report::exec(
        &db,
        super::report::Args {
            initial_equity: None,
            chart: None,
        },
        out,
    )?;
    section(&format!("ledger verify --db {}", db.display()))?;
    super::verify::exec(&db, super::verify::Args {}, out)?;
    section(&format!(
        "ledger audit {} --no-market --tail 12 --db {}",
        args.audit,
        db.display()
    ))?;
    let audit = super::audit::Args {
        position: args.audit,
        no_market: true,
        tail: Some(12),
    };
    super::audit::exec(&db, audit, out)
}
