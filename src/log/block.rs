//! Blocks: the unit of storage and of hashing.
//!
//! Events are stored in blocks of up to `BLOCK_MAX_EVENTS`, each filling at most one
//! 32 KiB redb page (`BLOCK_PAGE_BYTES`). One blake3 call hashes a
//! whole block body (blake3 runs at GB/s on large inputs, versus ~3.5 M calls/s for one
//! call per event), and the chain runs over block headers:
//!
//! ```text
//! body_hash  = blake3(body)
//! block_hash = blake3("ledger/block/v1" ‖ prev_hash ‖ first_seq ‖ count ‖ format ‖ body_hash)
//! ```
//!
//! An event is proven by its block: rehash the body, compare with the header, and walk
//! the header chain to the head. Each event's own digest (`event_digest`) is for people
//! to cite; it is derived, never stored.

use std::collections::BTreeMap;
use std::fmt;

use crate::event::{PositionKey, PositionKeyRef, Seq, codec};

/// Most events in one block. An audit reads and hashes every block that holds one of
/// its position's events, so blocks are kept small (1,024 events, ~50–80 KiB): a
/// position with 1,000 events spread over a 10 M-event log reads ~60 MB instead of
/// ~240 MB at 4,096. Per-block costs (a redb row, a 110-byte header, one hash call
/// setup) stay negligible: ~10 k blocks per 10 M events.
pub const BLOCK_MAX_EVENTS: u32 = 1024;

/// A block is sealed before an event would take its body past this, so that the body
/// and its redb leaf header (16 bytes for one `u64` key and its value's length) fill
/// one 32 KiB page. redb gives a value a power-of-two run of 4 KiB pages: the former
/// rule (1,024 events, ~48 KiB at ~47 bytes an event) left a quarter of every 64 KiB
/// run empty, 166 MB of a 10 M-event import. An event larger than this is a block of
/// its own, so a few huge snapshot events cannot make an audit read megabytes.
pub const BLOCK_PAGE_BYTES: usize = 32 * 1024 - 16;

/// A blake3 digest.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The `prev_hash` of the first block.
    pub const GENESIS: Hash = Hash([0; 32]);

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", &self.to_hex()[..16])
    }
}

/// The stored header of one block (the `chain` table row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHeader {
    /// Seq of the first event.
    pub first_seq: Seq,
    /// Number of events (≥ 1).
    pub count: u32,
    /// `codec::FORMAT_VERSION` of the events inside.
    pub format: u16,
    /// Hash of the previous block (`Hash::GENESIS` for the first).
    pub prev_hash: Hash,
    /// blake3 of the body.
    pub body_hash: Hash,
    /// This block's chained hash.
    pub hash: Hash,
}

impl BlockHeader {
    /// Bytes of an encoded header.
    pub const ENCODED_LEN: usize = 8 + 4 + 2 + 32 * 3;

    /// Header for a body that follows `prev_hash`.
    pub fn seal(prev_hash: Hash, first_seq: Seq, count: u32, body: &[u8]) -> BlockHeader {
        let body_hash = Hash(*blake3::hash(body).as_bytes());
        let format = codec::FORMAT_VERSION;
        let hash = Self::chain_hash(prev_hash, first_seq, count, format, body_hash);
        BlockHeader {
            first_seq,
            count,
            format,
            prev_hash,
            body_hash,
            hash,
        }
    }

    /// The chained hash of a block with these fields.
    pub fn chain_hash(prev: Hash, first_seq: Seq, count: u32, format: u16, body: Hash) -> Hash {
        let mut h = blake3::Hasher::new();
        h.update(b"ledger/block/v1");
        h.update(&prev.0);
        h.update(&first_seq.to_le_bytes());
        h.update(&count.to_le_bytes());
        h.update(&format.to_le_bytes());
        h.update(&body.0);
        Hash(*h.finalize().as_bytes())
    }

    /// Seq of the last event.
    pub fn last_seq(&self) -> Seq {
        self.first_seq + u64::from(self.count) - 1
    }

    /// Fixed-width little-endian encoding.
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[0..8].copy_from_slice(&self.first_seq.to_le_bytes());
        out[8..12].copy_from_slice(&self.count.to_le_bytes());
        out[12..14].copy_from_slice(&self.format.to_le_bytes());
        out[14..46].copy_from_slice(&self.prev_hash.0);
        out[46..78].copy_from_slice(&self.body_hash.0);
        out[78..110].copy_from_slice(&self.hash.0);
        out
    }

    /// Decode a stored header; `None` when the length is wrong.
    pub fn decode(bytes: &[u8]) -> Option<BlockHeader> {
        if bytes.len() != Self::ENCODED_LEN {
            return None;
        }
        let hash_at = |at: usize| {
            let mut h = [0u8; 32];
            h.copy_from_slice(&bytes[at..at + 32]);
            Hash(h)
        };
        Some(BlockHeader {
            first_seq: u64::from_le_bytes(bytes[0..8].try_into().ok()?),
            count: u32::from_le_bytes(bytes[8..12].try_into().ok()?),
            format: u16::from_le_bytes(bytes[12..14].try_into().ok()?),
            prev_hash: hash_at(14),
            body_hash: hash_at(46),
            hash: hash_at(78),
        })
    }
}

/// The digest people cite for one event: `blake3(seq ‖ stored record)`.
pub fn event_digest(seq: Seq, record: &[u8]) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(record);
    Hash(*h.finalize().as_bytes())
}

/// Append `value` as LEB128.
pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Bytes `put_varint` writes for `value`.
pub fn varint_len(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// Read a LEB128 value at `*pos`, advancing it; `None` when truncated or too long.
pub fn get_varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The records of a block body, in order. Yields `Err(offset)` at the first bad length.
pub fn records(body: &[u8]) -> Records<'_> {
    Records { body, pos: 0 }
}

/// Iterator over the records of a body.
pub struct Records<'a> {
    body: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<&'a [u8], usize>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.body.len() {
            return None;
        }
        let start = self.pos;
        let record = get_varint(self.body, &mut self.pos)
            .and_then(|len| usize::try_from(len).ok())
            .and_then(|len| {
                let end = self.pos.checked_add(len)?;
                let slice = self.body.get(self.pos..end)?;
                self.pos = end;
                Some(slice)
            });
        match record {
            Some(r) => Some(Ok(r)),
            None => {
                self.pos = self.body.len();
                Some(Err(start))
            }
        }
    }
}

/// A block being filled by the writer: body bytes plus the position-index rows it needs.
#[derive(Debug)]
pub struct BlockBuilder {
    /// Seq the block starts at.
    pub first_seq: Seq,
    /// Encoded records.
    pub body: Vec<u8>,
    /// Events so far.
    pub count: u32,
    /// Position key → offsets (index within the block) of its events.
    pub positions: BTreeMap<PositionKey, Vec<u32>>,
    /// Where each record starts in `body`, for reading back unsealed events.
    pub record_starts: Vec<usize>,
}

impl BlockBuilder {
    /// An empty block starting at `first_seq`.
    pub fn new(first_seq: Seq) -> BlockBuilder {
        BlockBuilder {
            first_seq,
            body: Vec::with_capacity(64 * 1024),
            count: 0,
            positions: BTreeMap::new(),
            record_starts: Vec::new(),
        }
    }

    /// True when no event has been added.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// True when the block must be sealed before another event is added.
    pub fn is_full(&self) -> bool {
        self.count >= BLOCK_MAX_EVENTS || self.body.len() >= BLOCK_PAGE_BYTES
    }

    /// True when a record of `len` bytes must go into the next block: this one holds
    /// events already, and the record would take the body past `BLOCK_PAGE_BYTES`.
    pub fn would_overflow(&self, len: usize) -> bool {
        let framed = varint_len(len as u64) + len;
        !self.is_empty() && self.body.len() + framed > BLOCK_PAGE_BYTES
    }

    /// Add an encoded record, indexed under `position` when it has one.
    pub fn push(&mut self, record: &[u8], position: Option<PositionKeyRef<'_>>) {
        self.record_starts.push(self.body.len());
        put_varint(&mut self.body, record.len() as u64);
        self.body.extend_from_slice(record);
        if let Some(key) = position {
            match self.positions.get_mut(key.query()) {
                Some(offsets) => offsets.push(self.count),
                None => {
                    self.positions.insert(key.to_key(), vec![self.count]);
                }
            }
        }
        self.count += 1;
    }

    /// The record at `seq`, when it is in this block.
    pub fn record(&self, seq: Seq) -> Option<&[u8]> {
        let index = usize::try_from(seq.checked_sub(self.first_seq)?).ok()?;
        let mut pos = *self.record_starts.get(index)?;
        let len = usize::try_from(get_varint(&self.body, &mut pos)?).ok()?;
        self.body.get(pos..pos + len)
    }
}

/// Encode a list of offsets as varint deltas (the `positions` table value).
pub fn encode_offsets(offsets: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(offsets.len() * 2);
    let mut prev = 0u32;
    for &o in offsets {
        put_varint(&mut out, u64::from(o - prev));
        prev = o;
    }
    out
}

/// Decode offsets written by `encode_offsets`; `None` when malformed.
pub fn decode_offsets(bytes: &[u8]) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut acc = 0u64;
    while pos < bytes.len() {
        acc = acc.checked_add(get_varint(bytes, &mut pos)?)?;
        out.push(u32::try_from(acc).ok()?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_chain_sensitivity() {
        let h = BlockHeader::seal(Hash::GENESIS, 1, 3, b"abc");
        assert_eq!(BlockHeader::decode(&h.encode()), Some(h));
        let other = BlockHeader::seal(Hash::GENESIS, 1, 3, b"abd");
        assert_ne!(h.hash, other.hash);
        let moved = BlockHeader::seal(Hash::GENESIS, 2, 3, b"abc");
        assert_ne!(h.hash, moved.hash, "the seq is part of the hash");
        assert_eq!(BlockHeader::decode(&[0u8; 10]), None);
    }

    #[test]
    fn records_round_trip_and_truncation_is_reported() {
        let mut b = BlockBuilder::new(10);
        let key = PositionKey::new("v", "b", "k");
        b.push(b"hello", Some(key.as_ref()));
        b.push(&[7u8; 300], None);
        b.push(b"", Some(key.as_ref()));
        let got: Vec<_> = records(&b.body).collect::<Result<_, _>>().unwrap();
        assert_eq!(got, vec![&b"hello"[..], &[7u8; 300][..], &b""[..]]);
        assert_eq!(b.record(11), Some(&[7u8; 300][..]));
        assert_eq!(b.positions[&PositionKey::new("v", "b", "k")], vec![0, 2]);
        let cut = &b.body[..b.body.len() - 100];
        assert!(records(cut).any(|r| r.is_err()));
    }

    #[test]
    fn offsets_round_trip() {
        let offsets = vec![0, 1, 5, 300, 4095];
        assert_eq!(decode_offsets(&encode_offsets(&offsets)), Some(offsets));
    }

    #[test]
    fn varint_len_is_what_put_varint_writes() {
        for value in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(varint_len(value), out.len(), "{value}");
        }
    }

    /// Filled as the writer fills it (seal when `would_overflow`, and when `is_full`
    /// after a push), a block's body stays within one page, unless a single record is
    /// larger than a page; and it is not sealed while the next record would still fit.
    #[test]
    fn a_block_fills_its_page_and_no_more() {
        for len in [
            1,
            30,
            46,
            47,
            127,
            128,
            1_000,
            BLOCK_PAGE_BYTES / 2,
            BLOCK_PAGE_BYTES,
        ] {
            let framed = varint_len(len as u64) + len;
            let mut b = BlockBuilder::new(1);
            let mut sealed = 0;
            while sealed < 3 {
                if b.would_overflow(len) {
                    assert!(
                        b.body.len() + framed > BLOCK_PAGE_BYTES,
                        "{len}: sealed early"
                    );
                    b = BlockBuilder::new(1);
                    sealed += 1;
                }
                b.push(&vec![1u8; len], None);
                assert!(b.body.len() <= BLOCK_PAGE_BYTES || b.count == 1, "{len}");
                if b.is_full() {
                    assert!(b.count == BLOCK_MAX_EVENTS || b.count == 1, "{len}");
                    b = BlockBuilder::new(1);
                    sealed += 1;
                }
            }
        }
        let mut big = BlockBuilder::new(1);
        assert!(
            !big.would_overflow(BLOCK_PAGE_BYTES * 3),
            "an empty block takes anything"
        );
        big.push(&vec![1u8; BLOCK_PAGE_BYTES * 3], None);
        assert!(big.would_overflow(1) && big.is_full());
    }
}
