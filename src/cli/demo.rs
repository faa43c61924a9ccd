//! `ledger demo`: the quick start. Backtests the bundled EMA trend play over the bundled
//! month of 1-minute bars into a fresh ledger, then shows what the log gives you: the
//! report, the hash-chain verification, and the audit of the position.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::json;

use super::Output;

/// The database `demo` writes when `--db` is left at its default.
const DEMO_DB: &str = "demo.redb";

/// How many `demo-N.redb` names the demo tries before asking for a `--db`.
const DEMO_DBS_MAX: u32 = 99;

/// Arguments of `ledger demo`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Writes demo.redb in the working directory (demo-2.redb, demo-3.redb, … when it exists:
the demo never replaces a ledger) and its chart demo-report.svg beside it, unless --db
names a new file. With --json, prints one JSON document with the run, report, verify and
audit results.")]
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
    /// Ledger to write: a new file (default: demo.redb, or the first free demo-N.redb).
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
}

/// Run `ledger demo`.
pub fn exec(args: Args, out: Output) -> Result<()> {
    let db = demo_db(args.db.as_deref())?;
    if out.json {
        // One JSON document for the whole demo, its steps by name.
        let (done, docs) = super::output::capture_json(|| steps(&db, args, out));
        done?;
        let mut doc = serde_json::Map::new();
        doc.insert("db".into(), json!(db.display().to_string()));
        for (name, value) in ["run", "report", "verify", "audit"].into_iter().zip(docs) {
            doc.insert(name.into(), value);
        }
        return Ok(out.json_value(&serde_json::Value::Object(doc))?);
    }
    steps(&db, args, out)
}

/// The ledger the demo writes. It never replaces one: by default the first of
/// `demo.redb`, `demo-2.redb`, … that does not exist; a `--db` that exists is refused.
fn demo_db(db: Option<&Path>) -> Result<PathBuf> {
    if let Some(db) = db {
        if db.exists() {
            bail!(
                "{} exists; the demo writes a fresh ledger and never replaces one: give a new --db",
                db.display()
            );
        }
        return Ok(db.to_path_buf());
    }
    (1..=DEMO_DBS_MAX)
        .map(|n| match n {
            1 => PathBuf::from(DEMO_DB),
            n => PathBuf::from(format!("demo-{n}.redb")),
        })
        .find(|p| !p.exists())
        .with_context(|| {
            format!(
                "demo.redb .. demo-{DEMO_DBS_MAX}.redb all exist; remove some, or give a new --db"
            )
        })
}

fn steps(db: &Path, args: Args, out: Output) -> Result<()> {
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
    super::run::exec(db, run, out)?;
    let chart = chart_path(db);
    section(&format!(
        "ledger report --chart {} --db {}",
        chart.display(),
        db.display()
    ))?;
    super::report::exec(
        db,
        super::report::Args {
            initial_equity: None,
            chart: Some(chart),
        },
        out,
    )?;
    section(&format!("ledger verify --db {}", db.display()))?;
    super::verify::exec(db, super::verify::Args {}, out)?;
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
    super::audit::exec(db, audit, out)
}

/// `<stem>-report.svg` beside the demo's ledger (the demo's own file, so it may be
/// replaced).
fn chart_path(db: &Path) -> PathBuf {
    let stem = db
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "demo".into());
    db.with_file_name(format!("{stem}-report.svg"))
}
