//! `ledger replay [--from N] [--to M]`: fold the log and print the positions.
//!
//! With `--from`, the state before N comes from the nearest checkpoint at or before
//! N, verified against its stored hash, and only the rest is folded.

use std::path::Path;

use anyhow::{Result, bail};
use serde_json::json;

use super::Output;
use super::positions::{positions_json, positions_table};
use crate::log::{load_checkpoint, replay};
use crate::reduce::Projection;

/// Arguments of `ledger replay`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Start folding at the checkpoint at or before this seq (default: genesis);
    /// 1..=head.
    #[arg(long)]
    pub from: Option<u64>,
    /// Stop after this seq (default: the head); at least --from, at most the head.
    #[arg(long)]
    pub to: Option<u64>,
}

/// Run `ledger replay`.
pub fn exec(db: &Path, args: Args, out: Output) -> Result<()> {
    let ledger = super::open_to_read(db)?;
    let reader = ledger.reader()?;
    let head = reader.head_seq()?;
    let (from, to) = range(args.from, args.to, head)?;
    let (start, base) = match from {
        Some(from) => match reader.checkpoint_at_or_before(from - 1)? {
            Some(cp) => (load_checkpoint(&cp)?, cp.seq),
            None => (Projection::new(), 0),
        },
        None => (Projection::new(), 0),
    };
    let bar = out.progress(to.saturating_sub(base), "replay");
    let replayed = replay(&reader, start, to, |seq| bar.set_position(seq - base))?;
    bar.finish_and_clear();
    let block = reader.header_for(to)?.map(|h| h.hash).unwrap_or_default();
    let projection = &replayed.projection;
    let hash = blake3::Hash::from_bytes(projection.hash()).to_hex();
    if out.json {
        out.json_value(&json!({
            "head_seq": to,
            "head_hash": replayed.identity.to_hex(),
            "identity_recomputed": replayed.identity_recomputed,
            "block_hash": block.to_hex(),
            "replayed_from_seq": base + 1,
            "checkpoint_seq": (base > 0).then_some(base),
            "projection_hash": hash.to_string(),
            "overfills": replayed.overfills,
            "positions": positions_json(projection),
        }))?;
    } else {
        let origin = if base > 0 {
            format!("checkpoint at seq {base}")
        } else {
            "genesis".to_string()
        };
        let checked = if replayed.identity_recomputed {
            "recomputed from every event"
        } else {
            "from stored segment digests"
        };
        let mut text = format!(
            "{}\nhead seq {to}  hash {} ({checked})\nblock hash {block}\n\
             folded from {origin}; projection hash {hash}\n",
            positions_table(projection.positions()),
            replayed.identity
        );
        if !replayed.overfills.is_empty() {
            text.push_str(&overfill_line(&replayed.overfills));
        }
        out.text(&text)?;
    }
    Ok(())
}

/// The folded range `(--from, --to)` checked against the log's head: every seq named
/// must exist, and the range must not be empty or reversed (a silent clamp would
/// report a state the user did not ask for).
fn range(from: Option<u64>, to: Option<u64>, head: u64) -> Result<(Option<u64>, u64)> {
    if head == 0 && (from.is_some() || to.is_some()) {
        bail!("the ledger is empty: there is no seq to replay from or to");
    }
    if let Some(to) = to {
        if to == 0 || to > head {
            bail!("--to {to} is outside the log (1..={head})");
        }
    }
    let end = to.unwrap_or(head);
    if let Some(from) = from {
        if from == 0 || from > head {
            bail!("--from {from} is outside the log (1..={head})");
        }
        if from > end {
            bail!("--from {from} is after --to {end}: the range is empty");
        }
    }
    Ok((from, end))
}

/// The human line naming the overfilled fills (at most a few seqs, then a count).
pub(super) fn overfill_line(seqs: &[u64]) -> String {
    const SHOWN: usize = 8;
    let listed: Vec<String> = seqs.iter().take(SHOWN).map(u64::to_string).collect();
    let more = seqs.len().saturating_sub(SHOWN);
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!(
        "warning: {} fill(s) took an order past its quantity (overfill) at seq {}{tail}\n",
        seqs.len(),
        listed.join(", ")
    )
}
