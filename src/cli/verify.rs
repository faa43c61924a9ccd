//! `ledger verify`: recompute the whole hash chain, the ledger's identity and every
//! checkpoint's projection hash. Exit 0 when everything holds; otherwise the first bad seq and exit code 3.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;

use super::Output;
use crate::log::verify;

/// Arguments of `ledger verify`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `ledger verify`.
pub fn exec(db: &Path, _args: Args, out: Output) -> Result<()> {
    let ledger = super::open_to_read(db)?;
    let reader = ledger.reader()?;
    let head = reader.head()?;
    let bar = out.progress(head.seq, "verify");
    let report = verify(&reader, |seq| bar.set_position(seq))
        .with_context(|| format!("verification of {} failed", db.display()))?;
    bar.finish_and_clear();
    if out.json {
        out.json_value(&json!({
            "ok": true,
            "head_seq": report.head.seq,
            "head_hash": report.head.hash.to_hex(),
            "block_hash": report.head.chain.to_hex(),
            "blocks": report.blocks,
            "events": report.events,
            "checkpoints_verified": report.checkpoints,
            "identity_rows_missing": report.identity_rows_missing,
            "overfills": report.overfills,
            "projection_hash": report.projection_hash.to_hex(),
        }))?;
    } else {
        let mut text = format!(
            "ok: {} events in {} blocks, hash chain intact, identity recomputed\n\
             head seq {}  hash {}\nblock hash {}\n\
             {} checkpoints match the fold; projection hash {}\n",
            report.events,
            report.blocks,
            report.head.seq,
            report.head.hash,
            report.head.chain,
            report.checkpoints,
            report.projection_hash
        );
        if report.identity_rows_missing > 0 {
            text.push_str(&format!(
                "note: {} identity segment rows are not stored yet (an older ledger); \
                 the next import or run stores them\n",
                report.identity_rows_missing
            ));
        }
        if !report.overfills.is_empty() {
            text.push_str(&super::replay::overfill_line(&report.overfills));
        }
        out.text(&text)?;
    }
    Ok(())
}
