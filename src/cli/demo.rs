//! `ledger demo`: the quick start. Builds a fresh ledger from the bundled sample in
//! `replay/`, prints the positions, verifies the chain and audits one position.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::Output;
use crate::log::{Ledger, OpenMode, WriterOptions};

/// The database `demo` writes when `--db` is left at its default.
const DEMO_DB: &str = "demo.redb";

/// Arguments of `ledger demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Sample events to load.
    #[arg(long, default_value = "replay/sample.jsonl")]
    pub sample: PathBuf,
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
    let ledger = Ledger::open(&db, OpenMode::CreateIfMissing)?;
    let summary = super::import::import_file(&ledger, &args.sample, WriterOptions::default(), out)?;
    drop(ledger);
    if !out.json {
        out.text(&format!(
            "== imported {} events from {} into {}\n\n== replay\n",
            summary.appended,
            args.sample.display(),
            db.display()
        ))?;
    }
    super::replay::exec(
        &db,
        super::replay::Args {
            from: None,
            to: None,
        },
        out,
    )?;
    if !out.json {
        out.text("\n== verify\n")?;
    }
    super::verify::exec(&db, super::verify::Args {}, out)?;
    if !out.json {
        out.text("\n== audit\n")?;
    }
    super::audit::exec(
        &db,
        super::audit::Args {
            position: args.audit,
        },
        out,
    )
}
