//! Folding the log into a projection: from genesis, or from the nearest checkpoint,
//! whose stored hash is checked before it is trusted.

use std::ops::ControlFlow;

use super::block::Hash;
use super::reader::IdentityCheck;
use super::{LogError, Reader};
use crate::event::{Envelope, Seq, codec};
use crate::reduce::Projection;

/// Decode a checkpoint and check it against its stored hash.
pub fn load_checkpoint(cp: &super::Checkpoint) -> Result<Projection, LogError> {
    if Hash(*blake3::hash(&cp.bytes).as_bytes()) != cp.hash {
        return Err(LogError::Corrupt {
            seq: cp.seq,
            detail: "checkpoint does not match its projection hash".into(),
        });
    }
    let projection: Projection = codec::decode_value(&cp.bytes).map_err(|e| LogError::Corrupt {
        seq: cp.seq,
        detail: format!("checkpoint does not decode: {e}"),
    })?;
    if projection.last_seq() != cp.seq {
        return Err(LogError::Corrupt {
            seq: cp.seq,
            detail: format!(
                "checkpoint holds the state after seq {}",
                projection.last_seq()
            ),
        });
    }
    Ok(projection)
}

/// The projection after `seq`, starting from the latest checkpoint at or before it.
/// Returns it with the seq of the checkpoint used (0 for genesis).
pub fn projection_at(reader: &Reader, seq: Seq) -> Result<(Projection, Seq), LogError> {
    let (start, base) = match reader.checkpoint_at_or_before(seq)? {
        Some(cp) => (load_checkpoint(&cp)?, cp.seq),
        None => (Projection::new(), 0),
    };
    let projection = fold(reader, start, seq, |_| {})?;
    Ok((projection, base))
}

/// Blocks decoded ahead of the fold. Two stages on two cores: one thread reads,
/// verifies and decodes blocks while the other folds; four blocks (~16 k events) of
/// slack absorb jitter without holding more than a few MB.
const DECODED_BLOCKS_AHEAD: usize = 4;

/// Apply the events after `projection.last_seq()` up to `to` to `projection`.
/// `progress` is told each seq applied (cheaply: once per block).
pub fn fold(
    reader: &Reader,
    projection: Projection,
    to: Seq,
    progress: impl FnMut(Seq),
) -> Result<Projection, LogError> {
    fold_inner(reader, projection, to, None, &mut Vec::new(), progress)
}

/// A replay's outcome: the projection and the ledger's identity at its last seq.
#[derive(Debug)]
pub struct Replayed {
    /// The state after the last event folded.
    pub projection: Projection,
    /// The identity of the log up to there (`identity.rs`).
    pub identity: Hash,
    /// True when the identity was recomputed from every event (a replay from
    /// genesis), each stored identity row checked on the way; false when it came from
    /// the stored rows plus the last segment's records.
    pub identity_recomputed: bool,
    /// The seqs of the fills that took their order past its quantity (`Applied`).
    pub overfills: Vec<Seq>,
}

/// [`fold`], and the identity at `to`. From genesis the identity is recomputed in
/// the same pass over the blocks (on the decoding thread, from the bytes it has
/// verified anyway), and every stored identity row is checked against it.
pub fn replay(
    reader: &Reader,
    projection: Projection,
    to: Seq,
    progress: impl FnMut(Seq),
) -> Result<Replayed, LogError> {
    let mut overfills = Vec::new();
    if projection.last_seq() > 0 || to == 0 {
        let identity = reader.identity_at(to.max(projection.last_seq()))?;
        let projection = fold_inner(reader, projection, to, None, &mut overfills, progress)?;
        return Ok(Replayed {
            projection,
            identity,
            identity_recomputed: false,
            overfills,
        });
    }
    let mut check = IdentityCheck::from_genesis();
    let projection = fold_inner(
        reader,
        projection,
        to,
        Some(&mut check),
        &mut overfills,
        progress,
    )?;
    Ok(Replayed {
        projection,
        identity: check.identity(),
        identity_recomputed: true,
        overfills,
    })
}

fn fold_inner(
    reader: &Reader,
    mut projection: Projection,
    to: Seq,
    identity: Option<&mut IdentityCheck>,
    overfills: &mut Vec<Seq>,
    mut progress: impl FnMut(Seq),
) -> Result<Projection, LogError> {
    let from = projection.last_seq() + 1;
    if from > to {
        return Ok(projection);
    }
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Envelope>>(DECODED_BLOCKS_AHEAD);
        // Folded blocks go back to the decoder to be refilled: no allocation per block.
        let (spare_tx, spare_rx) = std::sync::mpsc::channel::<Vec<Envelope>>();
        let decoder = scope.spawn(move || decode_blocks(reader, from, to, identity, tx, spare_rx));
        let mut folded: Result<(), LogError> = Ok(());
        for block in rx.iter() {
            let last = block.last().map(|e| e.seq);
            for envelope in &block {
                match projection.apply(envelope) {
                    Ok(applied) if applied.overfill => overfills.push(envelope.seq),
                    Ok(_) => {}
                    Err(e) => {
                        folded = Err(e.into());
                        break;
                    }
                }
            }
            if folded.is_err() {
                break;
            }
            if let Some(seq) = last {
                progress(seq);
            }
            // Sent back full: the decoder clears it (dropping the events is work this,
            // the busier thread, need not do). It may have finished; then the block
            // is simply dropped here.
            let _ = spare_tx.send(block);
        }
        // Dropping the receiver stops the decoder at its next send.
        drop(rx);
        let decoded = decoder
            .join()
            .unwrap_or_else(|_| Err(LogError::Storage("the decoder thread panicked".into())));
        folded.and(decoded)
    })?;
    Ok(projection)
}

/// Read, verify and decode the events `from..=to`, one `Vec` per block; absorb
/// their records into `identity` when asked.
fn decode_blocks(
    reader: &Reader,
    from: Seq,
    to: Seq,
    mut identity: Option<&mut IdentityCheck>,
    tx: std::sync::mpsc::SyncSender<Vec<Envelope>>,
    spares: std::sync::mpsc::Receiver<Vec<Envelope>>,
) -> Result<(), LogError> {
    reader.for_each_block(from, to, |header, body| {
        if let Some(check) = identity.as_deref_mut() {
            check.absorb(reader, header, body, to)?;
        }
        let mut block = match spares.try_recv() {
            Ok(mut spare) => {
                spare.clear();
                spare
            }
            Err(_) => Vec::with_capacity(header.count as usize),
        };
        super::reader::for_each_record(header, body, |seq, record| {
            if seq < from {
                return Ok(ControlFlow::Continue(()));
            }
            if seq > to {
                return Ok(ControlFlow::Break(()));
            }
            super::reader::decode_record_into(header, seq, record, &mut block)?;
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(match tx.send(block) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        })
    })
}
