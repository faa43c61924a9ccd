//! `ledger compact`: give back the free space redb leaves in the file after large
//! transactions (an import, a long backtest). The log is unchanged: same events, same
//! chain, same head hash. Only a ledger that verifies is compacted.

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
    let ledger = Ledger::open(db, OpenMode::Existing).context("cannot open the ledger")?;
    // Rewriting pages of a ledger that does not prove itself would bury the damage
    // (and redb's compaction moves pages it never checks): verify everything first.
    let reader = ledger.reader()?;
    let bar = out.progress(reader.head_seq()?, "verify");
    let report = crate::log::verify(&reader, |seq| bar.set_position(seq))
        .with_context(|| format!("not compacting {}: it does not verify", db.display()))?;
    bar.finish_and_clear();
    drop(reader);
    let head = report.head;
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
