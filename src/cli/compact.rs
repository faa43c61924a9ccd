//! `ledger compact`: give back the free space redb leaves in the file after large
//! transactions (an import, a long backtest). The log is unchanged: same events, same
//! chain, same head hash.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;

use super::Output;
use crate::log::{Ledger, OpenMode};

/// Arguments of `ledger compact`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `ledger compact`.
pub fn exec(db: &Path, _args: Args, out: Output) -> Result<()> {
    let ledger = Ledger::open(db, OpenMode::Existing)
        .with_context(|| format!("cannot open ledger {}", db.display()))?;
    let head = ledger.reader()?.head()?;
    let (before, after) = ledger.compact()?;
    if out.json {
        out.json_value(
            &json!({ "head_seq": head.seq, "bytes_before": before, "bytes_after": after }),
        )?;
    } else {
        out.text(&format!(
            "compacted {}: {before} → {after} bytes; head seq {} unchanged\n",
            db.display(),
            head.seq
        ))?;
    }
    Ok(())
}
