//! Whole-log verification: every header chained, every body hashed, every event
//! decoded and folded, every checkpoint compared with the fold at its seq, and the
//! ledger's identity recomputed from the records with every stored segment row
//! compared on the way.

use std::ops::ControlFlow;

use super::block::Hash;
use super::reader::{IdentityCheck, decode_record, for_each_record};
use super::{Head, LogError, Reader};
use crate::event::{Envelope, Seq, codec};
use crate::reduce::Projection;

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The verified head: its identity recomputed from every record.
    pub head: Head,
    /// Completed identity segments with no stored row (a ledger written before the
    /// identity table): not an error, the next writer stores them.
    pub identity_rows_missing: u64,
    /// Seqs of fills that took their order past its quantity (`reduce::Applied`).
    pub overfills: Vec<Seq>,
    /// Blocks checked.
    pub blocks: u64,
    /// Events decoded and folded.
    pub events: u64,
    /// Checkpoints whose projection hash matched the fold.
    pub checkpoints: u64,
    /// Hash of the final projection.
    pub projection_hash: Hash,
}

/// Verify everything; the error names the first bad seq. `progress` gets seqs done.
pub fn verify(reader: &Reader, mut progress: impl FnMut(Seq)) -> Result<VerifyReport, LogError> {
    let stored = reader.head()?;
    let mut identity = IdentityCheck::from_genesis();
    let (mut missing, mut overfills) = (0u64, Vec::new());
    let mut checkpoints = reader.checkpoints()?.into_iter().peekable();
    let mut projection = Projection::new();
    let (mut blocks, mut events, mut checked) = (0u64, 0u64, 0u64);
    reader.for_each_block(1, Seq::MAX, |header, body| {
        blocks += 1;
        missing += identity.absorb(reader, header, body, Seq::MAX)?.len() as u64;
        for_each_record(header, body, |seq, record| {
            let event = decode_record(header, seq, record)?;
            if projection.apply(&Envelope { seq, event })?.overfill {
                overfills.push(seq);
            }
            events += 1;
            while let Some(cp) = checkpoints.next_if(|cp| cp.seq <= seq) {
                check_checkpoint(&projection, &cp, seq)?;
                checked += 1;
            }
            Ok(ControlFlow::Continue(()))
        })?;
        progress(header.last_seq());
        Ok(ControlFlow::Continue(()))
    })?;
    if let Some(cp) = checkpoints.next() {
        return Err(LogError::Corrupt {
            seq: cp.seq,
            detail: format!("checkpoint after the head (seq {})", stored.seq),
        });
    }
    if events != stored.seq {
        return Err(LogError::Corrupt {
            seq: events + 1,
            detail: format!("head says {} events, found {events}", stored.seq),
        });
    }
    let head = Head {
        hash: identity.identity(),
        ..stored
    };
    // `stored.hash` came from the last stored row plus the tail; the recomputation
    // checked every row, so a difference here is a bug, not damage. Still refuse.
    if head.hash != stored.hash {
        return Err(LogError::Corrupt {
            seq: head.seq,
            detail: "the identity from the stored rows differs from the events'".into(),
        });
    }
    let bytes = codec::encode_value(&projection).map_err(|e| LogError::Encode {
        seq: stored.seq,
        detail: e.to_string(),
    })?;
    Ok(VerifyReport {
        head,
        identity_rows_missing: missing,
        overfills,
        blocks,
        events,
        checkpoints: checked,
        projection_hash: Hash(*blake3::hash(&bytes).as_bytes()),
    })
}

fn check_checkpoint(
    projection: &Projection,
    cp: &super::Checkpoint,
    seq: Seq,
) -> Result<(), LogError> {
    if cp.seq != seq {
        return Err(LogError::Corrupt {
            seq: cp.seq,
            detail: "checkpoint at a seq that was skipped".into(),
        });
    }
    let bytes = codec::encode_value(projection).map_err(|e| LogError::Encode {
        seq,
        detail: e.to_string(),
    })?;
    let actual = Hash(*blake3::hash(&bytes).as_bytes());
    if actual != cp.hash {
        return Err(LogError::Corrupt {
            seq,
            detail: format!(
                "checkpoint projection hash {} differs from the fold ({actual})",
                cp.hash
            ),
        });
    }
    if bytes != cp.bytes {
        return Err(LogError::Corrupt {
            seq,
            detail: "checkpoint bytes differ from the fold".into(),
        });
    }
    Ok(())
}
