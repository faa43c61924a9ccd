//! The ledger's identity: a digest of its events alone, whatever blocks they were
//! stored in.
//!
//! The block chain guards storage, but its hashes depend on where blocks were cut (a
//! commit, a checkpoint, the page size), so two ledgers with the same events — an
//! export re-imported, a replica, an import with another `--checkpoint-every` — have
//! different block hashes. People compare ledgers by one hash, so the head they are
//! shown is this identity instead:
//!
//! ```text
//! r(s)      = LEB128(len) ‖ record of seq s          (the bytes a block body holds)
//! segment k = seqs k·S+1 ..= (k+1)·S                 (S = SEGMENT_EVENTS, fixed)
//! c(0)      = 32 zero bytes
//! c(k+1)    = blake3("ledger/segment/v1" ‖ c(k) ‖ k u64 LE ‖ blake3(r(k·S+1) ‖ … ‖ r((k+1)·S)))
//! id(n)     = blake3("ledger/head/v1" ‖ c(q) ‖ n u64 LE ‖ blake3(r(q·S+1) ‖ … ‖ r(n)))   q = ⌊n/S⌋
//! ```
//!
//! Records are canonical (decimals normalized, one codec), so equal events give equal
//! bytes. A segment's digest is one blake3 call over ~190 KB of contiguous body bytes,
//! so the identity costs about as much as the block hashes (GB/s), not one call per
//! event. `c(k+1)` is stored per completed segment (the `identity` table), so a head's
//! identity needs at most one segment's bytes; `verify`, the writer on open and a full
//! replay recompute the rows and refuse a ledger whose rows disagree with its events.
//!
//! Boundary: pure hashing over bytes the caller has verified; no redb here.

use super::block::{Hash, get_varint};
use crate::event::Seq;

/// Events per identity segment. Part of the identity's definition: never changed
/// (a change would change every ledger's identity). 4,096 events (~200 KB) keep a
/// head's tail cheap to rehash and the table small (one 32-byte row per segment).
pub const SEGMENT_EVENTS: u64 = 4096;

/// The chained digest after segment `index` whose records hash to `digest`.
pub fn chain_segment(prev: Hash, index: u64, digest: Hash) -> Hash {
    tagged(b"ledger/segment/v1", prev, index, digest)
}

/// The identity of a log of `seq` events whose completed segments chain to `chain`
/// and whose remaining records hash to `tail`.
pub fn head_identity(chain: Hash, seq: Seq, tail: Hash) -> Hash {
    tagged(b"ledger/head/v1", chain, seq, tail)
}

/// `blake3(tag ‖ before ‖ n (little-endian) ‖ digest)`: the one shape of both steps;
/// the tag keeps a segment link from ever equalling a head.
fn tagged(tag: &[u8], before: Hash, n: u64, digest: Hash) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(tag);
    h.update(&before.0);
    h.update(&n.to_le_bytes());
    h.update(&digest.0);
    Hash(*h.finalize().as_bytes())
}

/// A segment that was completed while absorbing: its index and `c(index + 1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentDone {
    /// The segment's index `k` (it holds seqs `k·S+1 ..= (k+1)·S`).
    pub index: u64,
    /// The chained digest after it, as stored in the `identity` table.
    pub chain: Hash,
}

/// The identity computed incrementally: fed record bytes in seq order, it completes
/// segments as their last record arrives and can give the identity of any prefix end.
#[derive(Clone)]
pub struct IdentityHasher {
    /// `c(segment)`: the chain over the completed segments.
    chain: Hash,
    /// Index of the segment being filled.
    segment: u64,
    /// Records of the current segment absorbed so far.
    filled: u64,
    tail: blake3::Hasher,
}

impl Default for IdentityHasher {
    fn default() -> Self {
        Self::resume(Hash::GENESIS, 0)
    }
}

impl IdentityHasher {
    /// Continue after `segments` completed segments whose chain is `chain`: the next
    /// record fed must be seq `segments · S + 1`.
    pub fn resume(chain: Hash, segments: u64) -> IdentityHasher {
        IdentityHasher {
            chain,
            segment: segments,
            filled: 0,
            tail: blake3::Hasher::new(),
        }
    }

    /// Seq of the next record this hasher expects.
    pub fn next_seq(&self) -> Seq {
        self.segment * SEGMENT_EVENTS + self.filled + 1
    }

    /// The identity of the log up to the last record absorbed.
    pub fn identity(&self) -> Hash {
        let tail = Hash(*self.tail.finalize().as_bytes());
        head_identity(self.chain, self.next_seq() - 1, tail)
    }

    /// Absorb the framed records (`LEB128 len ‖ record`, as a block body holds them) of
    /// `count` consecutive events starting at `next_seq()`. Calls `done` for each
    /// segment completed. Callers hand over bodies whose framing they have walked;
    /// where a segment ends the framing is needed and checked again: `Err(offset)` when
    /// the bytes are not the records counted there.
    pub fn absorb(
        &mut self,
        framed: &[u8],
        count: u64,
        mut done: impl FnMut(SegmentDone),
    ) -> Result<(), usize> {
        let mut bytes = framed;
        let mut left = count;
        let mut base = 0usize;
        while left > 0 {
            let room = SEGMENT_EVENTS - self.filled;
            if left < room {
                self.tail.update(bytes);
                self.filled += left;
                return Ok(());
            }
            // The segment ends inside these bytes: find where its last record ends.
            let cut = skip_records(bytes, room).ok_or(base)?;
            self.tail.update(&bytes[..cut]);
            let digest = Hash(*self.tail.finalize().as_bytes());
            self.chain = chain_segment(self.chain, self.segment, digest);
            done(SegmentDone {
                index: self.segment,
                chain: self.chain,
            });
            self.segment += 1;
            self.filled = 0;
            self.tail.reset();
            bytes = &bytes[cut..];
            base += cut;
            left -= room;
        }
        if bytes.is_empty() { Ok(()) } else { Err(base) }
    }
}

/// The byte length of the first `n` framed records of `bytes`; `None` when they run
/// past its end.
pub fn skip_records(bytes: &[u8], n: u64) -> Option<usize> {
    let mut pos = 0usize;
    for _ in 0..n {
        let len = usize::try_from(get_varint(bytes, &mut pos)?).ok()?;
        pos = pos.checked_add(len).filter(|end| *end <= bytes.len())?;
    }
    Some(pos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::block::put_varint;

    /// `n` framed records of varying lengths, the i-th filled with byte `i`.
    fn framed(n: u64) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                let mut out = Vec::new();
                let len = (i * 7 % 300) as usize;
                put_varint(&mut out, len as u64);
                out.extend(std::iter::repeat_n(i as u8, len));
                out
            })
            .collect()
    }

    /// The definition in the module doc, computed the slow, obvious way.
    fn reference(records: &[Vec<u8>]) -> Hash {
        let s = SEGMENT_EVENTS as usize;
        let mut chain = Hash::GENESIS;
        let whole = records.len() / s;
        for k in 0..whole {
            let bytes: Vec<u8> = records[k * s..(k + 1) * s].concat();
            chain = chain_segment(chain, k as u64, Hash(*blake3::hash(&bytes).as_bytes()));
        }
        let tail: Vec<u8> = records[whole * s..].concat();
        head_identity(
            chain,
            records.len() as u64,
            Hash(*blake3::hash(&tail).as_bytes()),
        )
    }

    /// However the records are cut into pieces (blocks), the identity is the same, and
    /// it is the one the definition gives.
    #[test]
    fn identity_depends_on_the_records_not_on_how_they_are_grouped() {
        let records = framed(SEGMENT_EVENTS * 2 + 1234);
        let expected = reference(&records);
        for piece in [1usize, 7, 1000, 4096, 5000, 20_000] {
            let mut hasher = IdentityHasher::default();
            let mut segments = Vec::new();
            for chunk in records.chunks(piece) {
                let bytes = chunk.concat();
                hasher
                    .absorb(&bytes, chunk.len() as u64, |s| segments.push(s))
                    .unwrap();
            }
            assert_eq!(hasher.identity(), expected, "pieces of {piece}");
            assert_eq!(segments.len(), 2, "pieces of {piece}");
            assert_eq!(hasher.next_seq(), records.len() as u64 + 1);
        }
    }

    #[test]
    fn resuming_from_a_stored_segment_gives_the_same_identity() {
        let records = framed(SEGMENT_EVENTS + 10);
        let mut whole = IdentityHasher::default();
        let mut rows = Vec::new();
        whole
            .absorb(&records.concat(), records.len() as u64, |s| rows.push(s))
            .unwrap();
        let mut resumed = IdentityHasher::resume(rows[0].chain, 1);
        let tail = records[SEGMENT_EVENTS as usize..].concat();
        resumed
            .absorb(&tail, 10, |_| panic!("no segment ends"))
            .unwrap();
        assert_eq!(resumed.identity(), whole.identity());
    }

    #[test]
    fn one_changed_byte_or_one_event_more_changes_the_identity() {
        let records = framed(100);
        let base = reference(&records);
        let mut changed = records.clone();
        changed[50][1] ^= 1;
        assert_ne!(reference(&changed), base);
        assert_ne!(reference(&records[..99]), base);
        assert_ne!(reference(&[]), base);
    }

    #[test]
    fn bytes_that_are_not_the_records_counted_are_refused() {
        let records = framed(SEGMENT_EVENTS + 1).concat();
        let short = framed(SEGMENT_EVENTS - 1).concat();
        let mut hasher = IdentityHasher::default();
        // Claims a record more than the bytes hold, where a segment ends.
        assert!(hasher.absorb(&short, SEGMENT_EVENTS, |_| {}).is_err());
        // More bytes than the records counted.
        let mut hasher = IdentityHasher::default();
        assert!(hasher.absorb(&records, SEGMENT_EVENTS, |_| {}).is_err());
    }
}
