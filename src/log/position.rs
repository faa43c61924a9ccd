//! The events of one position, read through the position index: only the blocks that
//! hold them are read (and each is verified against the chain).

use super::block::{Hash, event_digest};
use super::reader::{decode_record, for_each_record};
use super::{LogError, Reader};
use crate::event::Envelope;

/// An event with the digest people cite for it.
#[derive(Debug, Clone)]
pub struct ProvenEvent {
    /// The event.
    pub envelope: Envelope,
    /// `blake3(seq ‖ stored record)`.
    pub digest: Hash,
    /// Hash of the block that holds it (chained to the head).
    pub block_hash: Hash,
}

/// Every event indexed under `position_key`, in seq order. The header chain is checked
/// from genesis to the head on the way (cheap: headers only).
///
/// Reading and rehashing the blocks is most of the work (an event is proven by its
/// whole block), so the blocks are split in two halves read on two threads.
pub fn position_events(reader: &Reader, position_key: &str) -> Result<Vec<ProvenEvent>, LogError> {
    let entries = reader.position_entries(position_key)?;
    let (first, second) = entries.split_at(entries.len() / 2);
    let (first, second) = std::thread::scope(|scope| {
        let second = scope.spawn(|| read_blocks(reader, second));
        let first = reader
            .walk_headers(|_| std::ops::ControlFlow::Continue(()))
            .and_then(|_| read_blocks(reader, first));
        let second = second
            .join()
            .unwrap_or_else(|_| Err(LogError::Storage("the block reader thread panicked".into())));
        (first, second)
    });
    // The first half's error, if any, is the lower seq: report it first.
    let mut out = first?;
    out.extend(second?);
    Ok(out)
}

/// The wanted events of `entries` (block first seq, offsets), each block verified.
fn read_blocks(reader: &Reader, entries: &[(u64, Vec<u32>)]) -> Result<Vec<ProvenEvent>, LogError> {
    let mut out = Vec::new();
    for (first_seq, offsets) in entries {
        let first_seq = *first_seq;
        let header = reader
            .header_for(first_seq)?
            .filter(|h| h.first_seq == first_seq)
            .ok_or_else(|| LogError::Corrupt {
                seq: first_seq,
                detail: "position index names a missing block".into(),
            })?;
        reader.with_verified_body(&header, |body| {
            let mut wanted = offsets
                .iter()
                .map(|&o| header.first_seq + u64::from(o))
                .peekable();
            for_each_record(&header, body, |seq, record| {
                if wanted.next_if_eq(&seq).is_some() {
                    let event = decode_record(&header, seq, record)?;
                    out.push(ProvenEvent {
                        envelope: Envelope { seq, event },
                        digest: event_digest(seq, record),
                        block_hash: header.hash,
                    });
                }
                Ok(if wanted.peek().is_none() {
                    std::ops::ControlFlow::Break(())
                } else {
                    std::ops::ControlFlow::Continue(())
                })
            })?;
            match wanted.next() {
                Some(seq) => Err(LogError::Corrupt {
                    seq,
                    detail: "position index names an event past its block".into(),
                }),
                None => Ok(()),
            }
        })?;
    }
    Ok(out)
}
