//! Whole-log verification: every header chained, every body hashed, every event
//! decoded and folded, every checkpoint compared with the fold at its seq.

use std::ops::ControlFlow;

use super::block::Hash;
use super::reader::{decode_record, for_each_record};
use super::{Head, LogError, Reader};
use crate::event::{Envelope, Seq, codec};
use crate::reduce::Projection;

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The verified head.
    pub head: Head,
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
    let head = reader.head()?;
    let mut checkpoints = reader.checkpoints()?.into_iter().peekable();
    let mut projection = Projection::new();
    let (mut blocks, mut events, mut checked) = (0u64, 0u64, 0u64);
    reader.for_each_block(1, Seq::MAX, |header, body| {
        blocks += 1;
        for_each_record(header, body, |seq, record| {
            let event = decode_record(header, seq, record)?;
            projection.apply(&Envelope { seq, event })?;
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
            detail: format!("checkpoint after the head (seq {})", head.seq),
        });
    }
    if events != head.seq {
        return Err(LogError::Corrupt {
            seq: events + 1,
            detail: format!("head says {} events, found {events}", head.seq),
        });
    }
    let bytes = codec::encode_value(&projection).map_err(|e| LogError::Encode {
        seq: head.seq,
        detail: e.to_string(),
    })?;
    Ok(VerifyReport {
        head,
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
