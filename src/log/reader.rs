//! Reading the log: the head, blocks with their headers, events, the position index and
//! checkpoints, all from one redb read transaction (a consistent snapshot).
//!
//! Every body handed out has been hashed and compared with its header, and every header
//! walked has been checked against its predecessor: what a reader returns proves itself.

use std::ops::ControlFlow;

use redb::{ReadOnlyTable, ReadTransaction, ReadableTable, ReadableTableMetadata};

use super::LogError;
use super::block::{self, BlockHeader, Hash};
use super::identity::{IdentityHasher, SEGMENT_EVENTS, SegmentDone, skip_records};
use super::tables::{BLOCKS, CHAIN, CHECKPOINTS, IDENTITY, POSITIONS, SESSIONS, SUBMITTED};
use crate::event::{ClientOrderId, Payload};
use crate::event::{Envelope, Seq, codec};

/// The last committed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Head {
    /// Its seq (0 for an empty log).
    pub seq: Seq,
    /// The ledger's identity at this seq: a digest of the events `1..=seq` alone
    /// (`identity.rs`), the same however they were stored. What people compare.
    pub hash: Hash,
    /// Hash of the block holding it (`Hash::GENESIS` for an empty log): the storage
    /// chain's tip, which depends on how events were grouped into blocks.
    pub chain: Hash,
}

/// Where the last session of a log starts and, if it ended, stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionMark {
    /// Seq of its `session_started`.
    pub started: Seq,
    /// Seq of its `session_stopped`; `None`: it never stopped (a crash, a kill).
    pub stopped: Option<Seq>,
}

/// A stored projection checkpoint.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The projection is the state after this seq.
    pub seq: Seq,
    /// The projection hash stored with it.
    pub hash: Hash,
    /// `codec` bytes of the projection.
    pub bytes: Vec<u8>,
}

/// A consistent view of the log.
pub struct Reader {
    chain: ReadOnlyTable<u64, &'static [u8]>,
    blocks: ReadOnlyTable<u64, &'static [u8]>,
    positions: ReadOnlyTable<(&'static str, u64), &'static [u8]>,
    checkpoints: ReadOnlyTable<u64, &'static [u8]>,
    /// `None` in a ledger written before the identity table existed.
    identity: Option<ReadOnlyTable<u64, &'static [u8]>>,
    /// `None` in a ledger written before the sessions index existed.
    sessions: Option<ReadOnlyTable<u64, u8>>,
    /// `None` in a ledger written before the submitted index existed.
    submitted: Option<ReadOnlyTable<&'static str, u64>>,
    _txn: ReadTransaction,
}

impl Reader {
    pub(crate) fn new(txn: ReadTransaction) -> Result<Reader, LogError> {
        Ok(Reader {
            chain: txn.open_table(CHAIN)?,
            blocks: txn.open_table(BLOCKS)?,
            positions: txn.open_table(POSITIONS)?,
            checkpoints: txn.open_table(CHECKPOINTS)?,
            identity: match txn.open_table(IDENTITY) {
                Ok(table) => Some(table),
                Err(redb::TableError::TableDoesNotExist(_)) => None,
                Err(e) => return Err(e.into()),
            },
            sessions: match txn.open_table(SESSIONS) {
                Ok(table) => Some(table),
                Err(redb::TableError::TableDoesNotExist(_)) => None,
                Err(e) => return Err(e.into()),
            },
            submitted: match txn.open_table(SUBMITTED) {
                Ok(table) => Some(table),
                Err(redb::TableError::TableDoesNotExist(_)) => None,
                Err(e) => return Err(e.into()),
            },
            _txn: txn,
        })
    }

    /// Seq of the last event (0 for an empty log), from the last header.
    pub fn head_seq(&self) -> Result<Seq, LogError> {
        Ok(self.last_header()?.map_or(0, |h| h.last_seq()))
    }

    /// The head of the log: its seq, its identity and its block hash. The identity
    /// comes from the stored segment rows plus a rehash of at most one segment's
    /// verified records (see `identity_at`).
    pub fn head(&self) -> Result<Head, LogError> {
        let Some(last) = self.last_header()? else {
            return Ok(Head {
                hash: self.identity_at(0)?,
                ..Head::default()
            });
        };
        Ok(Head {
            seq: last.last_seq(),
            hash: self.identity_at(last.last_seq())?,
            chain: last.hash,
        })
    }

    fn last_header(&self) -> Result<Option<BlockHeader>, LogError> {
        match self.chain.last()? {
            None => Ok(None),
            Some((k, v)) => decode_header(k.value(), v.value()).map(Some),
        }
    }

    /// The stored `c(index + 1)` of a completed identity segment, if it is stored.
    pub fn stored_segment(&self, index: u64) -> Result<Option<Hash>, LogError> {
        let Some(table) = &self.identity else {
            return Ok(None);
        };
        match table.get(index)? {
            None => Ok(None),
            Some(v) => match <[u8; 32]>::try_from(v.value()) {
                Ok(bytes) => Ok(Some(Hash(bytes))),
                Err(_) => Err(LogError::Corrupt {
                    seq: (index + 1) * SEGMENT_EVENTS,
                    detail: format!("identity row {index} is not 32 bytes"),
                }),
            },
        }
    }

    /// The identity of the log's first `seq` events (`seq` ≤ the head). Starts from
    /// the stored row of the last segment completed by `seq`, and rehashes the verified
    /// records after it; without that row (a ledger from before the identity table,
    /// opened read-only) the whole prefix is rehashed.
    pub fn identity_at(&self, seq: Seq) -> Result<Hash, LogError> {
        let segments = seq / SEGMENT_EVENTS;
        let stored = match segments {
            0 => Some(Hash::GENESIS),
            n => self.stored_segment(n - 1)?,
        };
        let mut check = match stored {
            Some(chain) => IdentityCheck::resume(chain, segments),
            None => IdentityCheck::from_genesis(),
        };
        let from = check.next_seq();
        if from <= seq {
            self.for_each_block(from, seq, |header, body| {
                check.absorb(self, header, body, seq)?;
                Ok(ControlFlow::Continue(()))
            })?;
        }
        Ok(check.identity())
    }

    /// Number of blocks.
    pub fn block_count(&self) -> Result<u64, LogError> {
        Ok(self.chain.len()?)
    }

    /// Walk every header from genesis, checking that seqs are gapless and each header
    /// chains to the one before. Cheap: bodies are not read. Calls `visit` with each.
    pub fn walk_headers(
        &self,
        mut visit: impl FnMut(&BlockHeader) -> ControlFlow<()>,
    ) -> Result<Seq, LogError> {
        let mut prev = Tip::default();
        for row in self.chain.iter()? {
            let (k, v) = row?;
            let h = decode_header(k.value(), v.value())?;
            check_link(&prev, &h)?;
            prev = Tip::after(&h);
            if visit(&h).is_break() {
                break;
            }
        }
        Ok(prev.seq)
    }

    /// The header of the block holding `seq`.
    pub fn header_for(&self, seq: Seq) -> Result<Option<BlockHeader>, LogError> {
        let Some(row) = self.chain.range(..=seq)?.next_back() else {
            return Ok(None);
        };
        let (k, v) = row?;
        let h = decode_header(k.value(), v.value())?;
        Ok((h.last_seq() >= seq).then_some(h))
    }

    /// Read the body of `header`'s block, check it against the header, and hand it to
    /// `visit` in place (no copy).
    pub fn with_verified_body<T>(
        &self,
        header: &BlockHeader,
        visit: impl FnOnce(&[u8]) -> Result<T, LogError>,
    ) -> Result<T, LogError> {
        let guard = self
            .blocks
            .get(header.first_seq)?
            .ok_or_else(|| LogError::Corrupt {
                seq: header.first_seq,
                detail: "block body missing".into(),
            })?;
        let body = guard.value();
        check_body(header, body)?;
        visit(body)
    }

    /// Visit every block overlapping `from..=to` in order, with its verified body.
    /// Headers are checked from genesis, so the chain up to `to` is proven.
    pub fn for_each_block(
        &self,
        from: Seq,
        to: Seq,
        mut visit: impl FnMut(&BlockHeader, &[u8]) -> Result<ControlFlow<()>, LogError>,
    ) -> Result<(), LogError> {
        let mut prev = Tip::default();
        let mut bodies = self
            .blocks
            .range(from.saturating_sub(u64::from(block::BLOCK_MAX_EVENTS))..)?;
        for row in self.chain.iter()? {
            let (k, v) = row?;
            let h = decode_header(k.value(), v.value())?;
            check_link(&prev, &h)?;
            prev = Tip::after(&h);
            if h.last_seq() < from {
                continue;
            }
            if h.first_seq > to {
                break;
            }
            let body = loop {
                match bodies.next().transpose()? {
                    Some((bk, bv)) if bk.value() == h.first_seq => break bv,
                    Some((bk, _)) if bk.value() < h.first_seq => continue,
                    _ => {
                        return Err(LogError::Corrupt {
                            seq: h.first_seq,
                            detail: "block body missing".into(),
                        });
                    }
                }
            };
            check_body(&h, body.value())?;
            if visit(&h, body.value())?.is_break() {
                break;
            }
        }
        Ok(())
    }

    /// Visit every event with `from <= seq <= to`, decoded, in order.
    pub fn for_each_event(
        &self,
        from: Seq,
        to: Seq,
        mut visit: impl FnMut(Envelope) -> Result<ControlFlow<()>, LogError>,
    ) -> Result<(), LogError> {
        let mut stop = false;
        self.for_each_block(from, to, |header, body| {
            for_each_record(header, body, |seq, record| {
                if seq < from {
                    return Ok(ControlFlow::Continue(()));
                }
                if seq > to {
                    stop = true;
                    return Ok(ControlFlow::Break(()));
                }
                let event = decode_record(header, seq, record)?;
                let flow = visit(Envelope { seq, event })?;
                stop = flow.is_break();
                Ok(flow)
            })?;
            Ok(if stop {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            })
        })
    }

    /// The last session of the log: the seq of its `session_started` and, if it ended,
    /// of its `session_stopped`. From the sessions index (two rows a session); a ledger
    /// from before the index is scanned backwards instead.
    pub fn last_session(&self) -> Result<Option<SessionMark>, LogError> {
        let Some(table) = &self.sessions else {
            return self.last_session_by_scan();
        };
        let mut stopped = None;
        for row in table.iter()?.rev() {
            let (seq, kind) = row?;
            match (kind.value(), stopped) {
                (1, _) => {
                    return Ok(Some(SessionMark {
                        started: seq.value(),
                        stopped,
                    }));
                }
                (_, None) => stopped = Some(seq.value()),
                // A stop after a stop: the earlier one's session is further back.
                (_, Some(_)) => {}
            }
        }
        Ok(None)
    }

    /// Every client order id the ledger ever submitted, sorted, each once: a venue
    /// lists executions for days, longer than the projection keeps ended orders, and
    /// each must come back under our id. From the submitted index (one row an id); a
    /// ledger from before the index is scanned instead (a writer backfills it on open).
    pub fn submitted_ids(&self) -> Result<Vec<ClientOrderId>, LogError> {
        let Some(table) = &self.submitted else {
            return super::submitted::submitted_by_scan(self, self.head_seq()?);
        };
        let mut ids = Vec::with_capacity(usize::try_from(table.len()?).unwrap_or(0));
        for row in table.iter()? {
            let (id, _) = row?;
            ids.push(ClientOrderId::from(id.value()));
        }
        Ok(ids)
    }

    fn last_session_by_scan(&self) -> Result<Option<SessionMark>, LogError> {
        const CHUNK: Seq = 64 * 1024;
        let mut to = self.head_seq()?;
        let mut stopped = None;
        while to > 0 {
            let from = to.saturating_sub(CHUNK - 1).max(1);
            let mut marks: Vec<(Seq, bool)> = Vec::new();
            self.for_each_event(from, to, |e| {
                match e.event.payload {
                    Payload::SessionStarted(_) => marks.push((e.seq, true)),
                    Payload::SessionStopped(_) => marks.push((e.seq, false)),
                    _ => {}
                }
                Ok(ControlFlow::Continue(()))
            })?;
            for (seq, started) in marks.into_iter().rev() {
                match (started, stopped) {
                    (true, _) => {
                        return Ok(Some(SessionMark {
                            started: seq,
                            stopped,
                        }));
                    }
                    (false, None) => stopped = Some(seq),
                    (false, Some(_)) => {}
                }
            }
            to = from - 1;
        }
        Ok(None)
    }

    /// The blocks (first seq) and offsets within them of every event indexed under
    /// `position_key`, in seq order.
    pub fn position_entries(&self, position_key: &str) -> Result<Vec<(Seq, Vec<u32>)>, LogError> {
        let mut out = Vec::new();
        for row in self
            .positions
            .range((position_key, 0)..=(position_key, u64::MAX))?
        {
            let (k, v) = row?;
            let (_, first_seq) = k.value();
            let offsets = block::decode_offsets(v.value()).ok_or_else(|| LogError::Corrupt {
                seq: first_seq,
                detail: format!("position index row for {position_key} is malformed"),
            })?;
            out.push((first_seq, offsets));
        }
        Ok(out)
    }

    /// Every position key present in the index, in order.
    pub fn position_keys(&self) -> Result<Vec<String>, LogError> {
        let mut keys: Vec<String> = Vec::new();
        for row in self.positions.iter()? {
            let (k, _) = row?;
            let (key, _) = k.value();
            if keys.last().map(String::as_str) != Some(key) {
                keys.push(key.to_string());
            }
        }
        Ok(keys)
    }

    /// The latest checkpoint at or before `seq`.
    pub fn checkpoint_at_or_before(&self, seq: Seq) -> Result<Option<Checkpoint>, LogError> {
        match self.checkpoints.range(..=seq)?.next_back() {
            None => Ok(None),
            Some(row) => {
                let (k, v) = row?;
                decode_checkpoint(k.value(), v.value()).map(Some)
            }
        }
    }

    /// Every checkpoint, in seq order.
    pub fn checkpoints(&self) -> Result<Vec<Checkpoint>, LogError> {
        let mut out = Vec::new();
        for row in self.checkpoints.iter()? {
            let (k, v) = row?;
            out.push(decode_checkpoint(k.value(), v.value())?);
        }
        Ok(out)
    }
}

/// The identity recomputed over verified blocks fed in seq order, each completed
/// segment compared with its stored row: what full scans (verify, replay from
/// genesis, the writer on open) use to refuse a ledger whose identity rows do not
/// match its events.
pub struct IdentityCheck {
    hasher: IdentityHasher,
    /// Compare completed segments with the stored rows (off when resuming from one).
    compare: bool,
}

impl IdentityCheck {
    /// Recompute from seq 1, comparing every stored row.
    pub fn from_genesis() -> IdentityCheck {
        IdentityCheck {
            hasher: IdentityHasher::default(),
            compare: true,
        }
    }

    /// Go on from the stored `c(segments)` (the digest after `segments` completed
    /// segments), trusting it: what a writer resuming a session does (`Writer::resume`).
    pub fn resume(chain: Hash, segments: u64) -> IdentityCheck {
        IdentityCheck {
            hasher: IdentityHasher::resume(chain, segments),
            compare: false,
        }
    }

    /// Seq of the next record expected.
    pub fn next_seq(&self) -> Seq {
        self.hasher.next_seq()
    }

    /// The hasher, to go on absorbing what is appended next.
    pub fn into_hasher(self) -> IdentityHasher {
        self.hasher
    }

    /// The identity of everything absorbed so far.
    pub fn identity(&self) -> Hash {
        self.hasher.identity()
    }

    /// Absorb the records of a verified block from `next_seq()` up to `to`; the block
    /// may begin before `next_seq()` (it must not begin after it). Returns the segments
    /// completed, after checking each against its stored row when there is one; rows
    /// that are missing come back for the writer to store.
    pub fn absorb(
        &mut self,
        reader: &Reader,
        header: &BlockHeader,
        body: &[u8],
        to: Seq,
    ) -> Result<Vec<SegmentDone>, LogError> {
        let mut done = Vec::new();
        let from = self.next_seq();
        if header.last_seq() < from || header.first_seq > to {
            return Ok(done);
        }
        if header.first_seq > from {
            return Err(LogError::Corrupt {
                seq: from,
                detail: format!("identity: block starts at {}", header.first_seq),
            });
        }
        let framing = |offset: usize| LogError::Corrupt {
            seq: header.first_seq,
            detail: format!("record framing broken at byte {offset} of the block"),
        };
        let start = skip_records(body, from - header.first_seq).ok_or_else(|| framing(0))?;
        let last = header.last_seq().min(to);
        let count = last - from + 1;
        let bytes = &body[start..];
        let bytes = match last == header.last_seq() {
            true => bytes,
            false => &bytes[..skip_records(bytes, count).ok_or_else(|| framing(start))?],
        };
        self.hasher
            .absorb(bytes, count, |segment| done.push(segment))
            .map_err(|offset| framing(start + offset))?;
        let mut missing = Vec::new();
        for segment in done {
            match (self.compare, reader.stored_segment(segment.index)?) {
                (true, Some(stored)) if stored != segment.chain => {
                    return Err(LogError::Corrupt {
                        seq: (segment.index + 1) * SEGMENT_EVENTS,
                        detail: format!(
                            "identity row {} does not match the events before it",
                            segment.index
                        ),
                    });
                }
                (_, Some(_)) => {}
                (_, None) => missing.push(segment),
            }
        }
        Ok(missing)
    }
}

/// Call `visit(seq, record)` for each record of a verified body, checking the count.
pub fn for_each_record(
    header: &BlockHeader,
    body: &[u8],
    mut visit: impl FnMut(Seq, &[u8]) -> Result<ControlFlow<()>, LogError>,
) -> Result<(), LogError> {
    let mut seq = header.first_seq;
    for record in block::records(body) {
        let record = record.map_err(|offset| LogError::Corrupt {
            seq,
            detail: format!("record length at byte {offset} of the block runs past its end"),
        })?;
        if seq > header.last_seq() {
            return Err(LogError::Corrupt {
                seq,
                detail: "block holds more events than its header".into(),
            });
        }
        if visit(seq, record)?.is_break() {
            return Ok(());
        }
        seq += 1;
    }
    if seq != header.last_seq() + 1 {
        return Err(LogError::Corrupt {
            seq,
            detail: "block holds fewer events than its header".into(),
        });
    }
    Ok(())
}

/// Decode one record of `header`'s block.
pub fn decode_record(
    header: &BlockHeader,
    seq: Seq,
    record: &[u8],
) -> Result<crate::event::Event, LogError> {
    codec::decode_event(header.format, record).map_err(|e| LogError::Corrupt {
        seq,
        detail: format!("event does not decode: {e}"),
    })
}

/// Decode one record of `header`'s block onto the end of `out` (see
/// `codec::decode_event_into`).
pub fn decode_record_into(
    header: &BlockHeader,
    seq: Seq,
    record: &[u8],
    out: &mut Vec<crate::event::Envelope>,
) -> Result<(), LogError> {
    codec::decode_event_into(header.format, record, seq, out).map_err(|e| LogError::Corrupt {
        seq,
        detail: format!("event does not decode: {e}"),
    })
}

fn decode_header(key: u64, bytes: &[u8]) -> Result<BlockHeader, LogError> {
    match BlockHeader::decode(bytes) {
        Some(h) if h.first_seq == key && h.count > 0 => Ok(h),
        _ => Err(LogError::Corrupt {
            seq: key,
            detail: "block header is malformed".into(),
        }),
    }
}

/// Where the chain stands after a block: its last seq and hash.
#[derive(Default)]
struct Tip {
    seq: Seq,
    hash: Hash,
}

impl Tip {
    fn after(h: &BlockHeader) -> Tip {
        Tip {
            seq: h.last_seq(),
            hash: h.hash,
        }
    }
}

fn check_link(prev: &Tip, h: &BlockHeader) -> Result<(), LogError> {
    if h.first_seq != prev.seq + 1 {
        return Err(LogError::Corrupt {
            seq: prev.seq + 1,
            detail: format!(
                "gap in the log: block after seq {} starts at {}",
                prev.seq, h.first_seq
            ),
        });
    }
    if h.prev_hash != prev.hash {
        return Err(LogError::Corrupt {
            seq: h.first_seq,
            detail: "block does not chain to the previous block's hash".into(),
        });
    }
    let expected =
        BlockHeader::chain_hash(h.prev_hash, h.first_seq, h.count, h.format, h.body_hash);
    if expected != h.hash {
        return Err(LogError::Corrupt {
            seq: h.first_seq,
            detail: "block header hash does not match".into(),
        });
    }
    Ok(())
}

fn check_body(h: &BlockHeader, body: &[u8]) -> Result<(), LogError> {
    if Hash(*blake3::hash(body).as_bytes()) != h.body_hash {
        return Err(LogError::Corrupt {
            seq: h.first_seq,
            detail: format!(
                "block {}..={} does not match its hash",
                h.first_seq,
                h.last_seq()
            ),
        });
    }
    Ok(())
}

fn decode_checkpoint(seq: Seq, bytes: &[u8]) -> Result<Checkpoint, LogError> {
    if bytes.len() < 32 {
        return Err(LogError::Corrupt {
            seq,
            detail: "checkpoint is truncated".into(),
        });
    }
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&bytes[..32]);
    Ok(Checkpoint {
        seq,
        hash: Hash(hash),
        bytes: bytes[32..].to_vec(),
    })
}
