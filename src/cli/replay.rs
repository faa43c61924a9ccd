//! `ledger replay [--from N] [--to M]`: fold the log and print the positions.
//!
//! With `--from`, the state before N comes from the nearest checkpoint at or before
//! N, verified against its stored hash, and only the rest is folded.

use std::path::Path;

use anyhow::{Result, bail};
use serde_json::json;

use super::Output;
use super::positions::{positions_json, positions_table};
use crate::log::{fold, load_checkpoint};
use crate::reduce::Projection;

/// Arguments of `ledger replay`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Start folding at the checkpoint at or before this seq (default: genesis).
    #[arg(long)]
    pub from: Option<u64>,
    /// Stop after this seq (default: the head).
    #[arg(long)]
    pub to: Option<u64>,
}

/// Run `ledger replay`.
pub fn exec(db: &Path, args: Args, out: Output) -> Result<()> {
    let ledger = super::open_to_read(db)?;
    let reader = ledger.reader()?;
    let head = reader.head()?;
    let to = args.to.unwrap_or(head.seq).min(head.seq);
    if let Some(from) = args.from {
        if from == 0 || from > to.max(1) {
            bail!("--from {from} is outside the log (1..={to})");
        }
    }
    let (start, base) = match args.from {
        Some(from) => match reader.checkpoint_at_or_before(from - 1)? {
            Some(cp) => (load_checkpoint(&cp)?, cp.seq),
            None => (Projection::new(), 0),
        },
        None => (Projection::new(), 0),
    };
    let bar = out.progress(to.saturating_sub(base), "replay");
    let projection = fold(&reader, start, to, |seq| bar.set_position(seq - base))?;
    bar.finish_and_clear();
    let at = reader.header_for(to)?.map(|h| h.hash).unwrap_or_default();
    let hash = projection.hash();
    if out.json {
        out.json_value(&json!({
            "head_seq": to,
            "head_hash": at.to_hex(),
            "replayed_from_seq": base + 1,
            "checkpoint_seq": (base > 0).then_some(base),
            "projection_hash": blake3::Hash::from_bytes(hash).to_hex().to_string(),
            "positions": positions_json(&projection),
        }))?;
    } else {
        let origin = if base > 0 {
            format!("checkpoint at seq {base}")
        } else {
            "genesis".to_string()
        };
        out.text(&format!(
            "{}\nhead seq {to}  block hash {at}\nfolded from {origin}; projection hash {}\n",
            positions_table(projection.positions()),
            blake3::Hash::from_bytes(hash).to_hex()
        ))?;
    }
    Ok(())
}
