//! The single writer: appends events into blocks inside one redb write transaction,
//! keeps the indexes and the projection in step, and commits durably.
//!
//! Invariants it keeps:
//! * seqs are gapless: a seq is given only to an event that is written;
//! * an execution `(venue, exec_id)` appears once: a repeat is skipped and counted;
//! * every event in the log applies cleanly to the projection: one that does not is
//!   refused and reported, never written;
//! * index rows and checkpoints go in the same transaction as their events;
//! * after a failed commit the writer refuses everything until the ledger is reopened.
//!
//! It does not decide batching: callers (`Appender`, `import`) choose when to commit.

use redb::{ReadableTable, Table, WriteTransaction};

use super::block::{self, BlockBuilder, BlockHeader, Hash};
use super::exec_index::{ExecIndex, execution_key};
use super::identity::{IdentityHasher, SEGMENT_EVENTS, SegmentDone};
use super::reader::{Head, IdentityCheck, Reader, decode_record, for_each_record};
use super::submitted::{IndexRows, backfill};
use super::tables::{BLOCKS, CHAIN, CHECKPOINTS, EXECUTIONS, IDENTITY, POSITIONS};
use super::{Ledger, LogError};
use crate::event::{Event, ExecId, Seq, Venue, codec};
use crate::reduce::{Projection, ReduceError, Violation};

/// How often (in events) the writer stores a projection checkpoint. Replaying from a
/// checkpoint skips at most this many events; 1 M events fold in ~0.1 s.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 1_000_000;

/// Writer settings.
#[derive(Debug, Clone, Copy)]
pub struct WriterOptions {
    /// Store a checkpoint after every this many events.
    pub checkpoint_every: u64,
    /// Commit in two phases with redb's quick repair (the default): a ledger killed
    /// mid-write reopens at once, and a torn commit slot cannot be taken for a good one
    /// (redb's design doc recommends it for data outsiders influence). Off only to
    /// measure what it costs (`benches/`).
    pub two_phase_commit: bool,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
            two_phase_commit: true,
        }
    }
}

/// What happened to a batch of appended events.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct AppendOutcome {
    /// Events written.
    pub appended: u64,
    /// Executions skipped because their `(venue, exec_id)` is already in the log.
    pub duplicates: u64,
    /// Events refused because they do not apply (index in the batch, why), among them
    /// executions that conflict with a stored one (`Violation::ExecutionConflict`).
    pub rejected: Vec<(usize, ReduceError)>,
    /// Seqs of fills written that took their order above its quantity
    /// (`reduce::Applied::overfill`): applied, and to be reported.
    pub overfills: Vec<Seq>,
    /// Seq of the last event written by this batch (0 if none).
    pub last_seq: Seq,
}

/// Events with the work that needs no ledger state already done: each one's stored
/// record and its execution key. A producer on another thread (the import parser)
/// prepares them, so the writer's thread does only what needs the ledger: dedupe,
/// apply, index, hash, store.
#[derive(Debug, Default)]
pub struct Prepared {
    events: Vec<Event>,
    records: Vec<u8>,
    ends: Vec<usize>,
    exec_keys: Vec<Option<u64>>,
}

impl Prepared {
    /// Room for `events` events.
    pub fn with_capacity(events: usize) -> Prepared {
        Prepared {
            events: Vec::with_capacity(events),
            records: Vec::with_capacity(events * 64),
            ends: Vec::with_capacity(events),
            exec_keys: Vec::with_capacity(events),
        }
    }

    /// Encode `event`, hash its execution id, and add it.
    pub fn push(&mut self, event: Event) -> Result<(), codec::CodecError> {
        let exec_key = event
            .payload
            .execution_id()
            .map(|(venue, exec_id)| execution_key(venue, exec_id));
        self.push_with(event, exec_key)
    }

    /// Encode `event` and add it, leaving its execution id for the writer to hash: for
    /// a producer whose core is the busier of the two (the import's JSON parser).
    pub fn push_encoded(&mut self, event: Event) -> Result<(), codec::CodecError> {
        self.push_with(event, None)
    }

    fn push_with(&mut self, event: Event, exec_key: Option<u64>) -> Result<(), codec::CodecError> {
        codec::encode_event(&event, &mut self.records)?;
        self.ends.push(self.records.len());
        self.exec_keys.push(exec_key);
        self.events.push(event);
        Ok(())
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Remove every event, keeping the memory.
    pub fn clear(&mut self) {
        self.events.clear();
        self.records.clear();
        self.ends.clear();
        self.exec_keys.clear();
    }
}

/// Hash the execution ids of `events[window]` whose keys are missing, and warm the
/// index's cache for all their keys.
fn hash_and_warm(
    executions: &ExecIndex,
    events: &[Event],
    keys: &mut [Option<u64>],
    window: std::ops::Range<usize>,
) {
    let end = window.end.min(keys.len()).min(events.len());
    let start = window.start.min(end);
    for (key, event) in keys[start..end].iter_mut().zip(&events[start..end]) {
        if key.is_none() {
            *key = event
                .payload
                .execution_id()
                .map(|(venue, id)| execution_key(venue, id));
        }
    }
    executions.warm(keys[start..end].iter().filter_map(|key| *key));
}

/// What `append_one` gets besides the event: work done ahead, when there is some.
#[derive(Clone, Copy)]
struct Ahead<'a> {
    record: &'a [u8],
    exec_key: Option<u64>,
}

/// The one writer of a ledger.
pub struct Writer {
    ledger: Ledger,
    options: WriterOptions,
    txn: Option<WriteTransaction>,
    block: BlockBuilder,
    prev_hash: Hash,
    committed: Head,
    projection: Projection,
    last_checkpoint: Seq,
    failed: Option<String>,
    scratch: Vec<u8>,
    executions: ExecIndex,
    /// The identity over every sealed block (`identity.rs`).
    identity: IdentityHasher,
    /// Identity rows to store with the next commit: segments completed since the last
    /// one, and rows a ledger from before the identity table lacks.
    identity_rows: Vec<SegmentDone>,
    /// Sessions and submitted-ids index rows to store with the next commit.
    index_rows: IndexRows,
}

/// How much of the stored log a writer proves before it appends (see
/// [`Writer::new`] and [`Writer::resume`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenCheck {
    /// Every header, every body, every identity row.
    Full,
    /// Every header; the bodies and identity the new events build on.
    Tail,
}

impl Writer {
    /// The writer of `ledger`, with its projection rebuilt from the latest checkpoint.
    ///
    /// Nothing is appended to a ledger that does not prove itself: the whole chain is
    /// checked first, every block body rehashed and every identity row recomputed (one
    /// pass at GB/s; a corrupted ledger is refused with the first bad seq). For
    /// `import`, `ingest` and anything else that grows a ledger; a restarting session
    /// uses [`Writer::resume`].
    pub fn new(ledger: &Ledger, options: WriterOptions) -> Result<Writer, LogError> {
        Self::open(ledger, options, OpenCheck::Full)
    }

    /// The writer of a session restarting on `ledger` (`ledger run`, `ledger
    /// reconcile`): what [`Writer::new`] gives, proving only what the new events rest
    /// on, so a restart on a long ledger is ready at once (10 M events: ~0.6 s of
    /// rehashing saved).
    ///
    /// What an append needs to be true of the stored log, and is checked here:
    /// * the header chain it extends: every header from genesis, each linked to the one
    ///   before and hashed (a few ms for 10 M events: headers are 110 B a block);
    /// * the state it applies events to: the latest checkpoint against its hash, and
    ///   every block after it rehashed as it is folded;
    /// * the identity it extends: the last stored identity row, and the events after it
    ///   (< 4,096) rehashed onto it.
    ///
    /// What is not re-proven: the bodies before the checkpoint and the identity rows
    /// before the last. Nothing appended depends on them, and appending does not hide
    /// damage there: `verify`, `diff`, `replay` from genesis and every reader of those
    /// blocks still find it and name its seq, and `import`, `ingest` and `compact`
    /// (which rewrite or grow ledgers people hand around) keep the full check of
    /// [`Writer::new`]. A ledger from before the identity table is checked in full.
    pub fn resume(ledger: &Ledger, options: WriterOptions) -> Result<Writer, LogError> {
        Self::open(ledger, options, OpenCheck::Tail)
    }

    fn open(ledger: &Ledger, options: WriterOptions, check: OpenCheck) -> Result<Writer, LogError> {
        let reader = ledger.reader()?;
        let tail = match check {
            OpenCheck::Full => None,
            OpenCheck::Tail => verify_tail(&reader)?,
        };
        let (chain, identity, identity_rows) = match tail {
            Some((chain, identity)) => (chain, identity, Vec::new()),
            None => verify_for_append(&reader)?,
        };
        let seq = identity.next_seq() - 1;
        let (projection, last_checkpoint) = super::replay::projection_at(&reader, seq)?;
        let executions = ExecIndex::load(&ledger.begin_read()?)?;
        backfill(ledger, &reader, seq, options.two_phase_commit)?;
        let committed = Head {
            seq,
            hash: identity.identity(),
            chain,
        };
        Ok(Writer {
            ledger: ledger.clone(),
            options,
            txn: None,
            block: BlockBuilder::new(seq + 1),
            prev_hash: chain,
            committed,
            projection,
            last_checkpoint,
            failed: None,
            scratch: Vec::with_capacity(512),
            executions,
            identity,
            identity_rows,
            index_rows: IndexRows::default(),
        })
    }

    /// The projection including appended but uncommitted events.
    pub fn projection(&self) -> &Projection {
        &self.projection
    }

    /// The last committed event.
    pub fn committed_head(&self) -> Head {
        self.committed
    }

    /// Seq the next appended event will get.
    pub fn next_seq(&self) -> Seq {
        self.block.first_seq + u64::from(self.block.count)
    }

    /// Append events to the open transaction (opening one if needed). Not durable until
    /// `commit`.
    pub fn append(
        &mut self,
        events: impl IntoIterator<Item = Event>,
    ) -> Result<AppendOutcome, LogError> {
        let txn = self.take_txn()?;
        let result = self.append_batch(&txn, events);
        self.txn = Some(txn);
        result
    }

    /// Append prepared events (see [`Prepared`]) to the open transaction. Not durable
    /// until `commit`. `batch` is left empty with its memory, for the producer to
    /// refill: batches are megabytes, and fresh ones cost page faults.
    pub fn append_prepared(&mut self, batch: &mut Prepared) -> Result<AppendOutcome, LogError> {
        let txn = self.take_txn()?;
        let result = self.append_prepared_in(&txn, batch);
        self.txn = Some(txn);
        batch.clear();
        result
    }

    /// Seal the open block, store a checkpoint when one is due, and commit durably.
    /// On failure the writer stops (see module doc).
    pub fn commit(&mut self) -> Result<Head, LogError> {
        if let Some(why) = &self.failed {
            return Err(LogError::WriterStopped(why.clone()));
        }
        let Some(txn) = self.txn.take() else {
            return Ok(self.committed);
        };
        let result = self
            .seal_in(&txn)
            .and_then(|()| self.flush_executions(&txn))
            .and_then(|()| self.checkpoint_in(&txn, false))
            .and_then(|()| self.index_rows.store(&txn))
            .and_then(|()| txn.commit().map_err(LogError::from));
        match result {
            Ok(()) => {
                self.committed = Head {
                    seq: self.next_seq() - 1,
                    hash: self.identity.identity(),
                    chain: self.prev_hash,
                };
                Ok(self.committed)
            }
            Err(e) => {
                self.failed = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// Store a checkpoint of the current projection in the open transaction now.
    pub fn checkpoint_now(&mut self) -> Result<(), LogError> {
        let txn = self.take_txn()?;
        let result = self
            .seal_in(&txn)
            .and_then(|()| self.checkpoint_in(&txn, true));
        self.txn = Some(txn);
        result
    }

    /// Drop everything appended since the last commit. The writer is consumed: its
    /// projection has moved past the log, so a new one must be made from the file.
    pub fn abort(mut self) -> Result<(), LogError> {
        self.executions.discard_pending();
        self.index_rows.clear();
        if let Some(txn) = self.txn.take() {
            txn.abort()?;
        }
        Ok(())
    }

    /// The open transaction (beginning one if needed), held apart from `self` so its
    /// tables can stay open while the block and projection change. Callers put it back.
    fn take_txn(&mut self) -> Result<WriteTransaction, LogError> {
        if let Some(why) = &self.failed {
            return Err(LogError::WriterStopped(why.clone()));
        }
        match self.txn.take() {
            Some(txn) => Ok(txn),
            None => {
                let mut txn = self.ledger.db()?.begin_write()?;
                // Quick repair saves allocator state at each commit (two-phase commit), so
                // a ledger killed mid-write reopens at once instead of walking the file.
                txn.set_quick_repair(self.options.two_phase_commit);
                Ok(txn)
            }
        }
    }

    fn append_batch(
        &mut self,
        txn: &WriteTransaction,
        events: impl IntoIterator<Item = Event>,
    ) -> Result<AppendOutcome, LogError> {
        let mut outcome = AppendOutcome::default();
        // Opened on the first execution only: most batches (market data) have none, and
        // opening a table costs more than appending a tick.
        let mut exec_table = None;
        for (index, event) in events.into_iter().enumerate() {
            self.append_one(txn, &mut exec_table, index, &event, None, &mut outcome)?;
        }
        Ok(outcome)
    }

    fn append_prepared_in(
        &mut self,
        txn: &WriteTransaction,
        batch: &Prepared,
    ) -> Result<AppendOutcome, LogError> {
        let mut outcome = AppendOutcome::default();
        let mut exec_table = None;
        let mut start = 0;
        // The index's cache lines for the next `WARM_AHEAD` executions are warmed ahead
        // of them: far enough to overlap their cache misses, near enough that what this
        // batch's events touch in between does not evict them again. Keys the producer
        // left unhashed (`push_encoded`) are hashed in the same pass.
        const WARM_AHEAD: usize = 64;
        let mut keys = batch.exec_keys.clone();
        hash_and_warm(&self.executions, &batch.events, &mut keys, 0..WARM_AHEAD);
        let items = batch.events.iter().zip(&batch.ends).enumerate();
        for (index, (event, &end)) in items {
            if index % WARM_AHEAD == 0 {
                let window = index + WARM_AHEAD..index + 2 * WARM_AHEAD;
                hash_and_warm(&self.executions, &batch.events, &mut keys, window);
            }
            let exec_key = keys[index];
            let record = batch
                .records
                .get(start..end)
                .ok_or_else(|| LogError::Encode {
                    seq: self.next_seq(),
                    detail: "prepared record out of bounds".into(),
                })?;
            start = end;
            let ahead = Ahead { record, exec_key };
            self.append_one(
                txn,
                &mut exec_table,
                index,
                event,
                Some(ahead),
                &mut outcome,
            )?;
        }
        Ok(outcome)
    }

    fn append_one<'t>(
        &mut self,
        txn: &'t WriteTransaction,
        exec_table: &mut Option<Table<'t, u16, &'static [u8]>>,
        index: usize,
        event: &Event,
        ahead: Option<Ahead<'_>>,
        out: &mut AppendOutcome,
    ) -> Result<(), LogError> {
        let seq = self.next_seq();
        let exec_key = match event.payload.execution_id() {
            Some((venue, exec_id)) => {
                let table = match exec_table {
                    Some(table) => table,
                    None => exec_table.insert(txn.open_table(EXECUTIONS)?),
                };
                let key = match ahead.and_then(|a| a.exec_key) {
                    Some(key) => key,
                    None => execution_key(venue, exec_id),
                };
                match self.stored_execution(txn, table, key, venue, exec_id)? {
                    None => {}
                    Some((_, stored)) if same_execution(&stored, event) => {
                        out.duplicates += 1;
                        return Ok(());
                    }
                    Some((stored_seq, stored)) => {
                        let violation = Violation::ExecutionConflict {
                            venue: venue.clone(),
                            exec_id: exec_id.clone(),
                            stored_seq,
                            fields: differing_fields(&stored, event),
                        };
                        out.rejected.push((index, ReduceError { seq, violation }));
                        return Ok(());
                    }
                }
                Some(key)
            }
            None => None,
        };
        match self.projection.apply_event(seq, event) {
            Ok(applied) if applied.overfill => out.overfills.push(seq),
            Ok(_) => {}
            Err(e) => {
                out.rejected.push((index, e));
                return Ok(());
            }
        }
        if ahead.is_none() {
            self.scratch.clear();
            codec::encode_event(event, &mut self.scratch).map_err(|e| LogError::Encode {
                seq,
                detail: e.to_string(),
            })?;
        }
        let len = ahead.map_or(self.scratch.len(), |a| a.record.len());
        if self.block.would_overflow(len) {
            self.seal_in(txn)?;
        }
        // Borrowed: the block copies a key only the first time it sees it.
        let position = match event.payload.position_key_ref() {
            Some(key) => Some(key),
            None => event
                .payload
                .client_order_id()
                .and_then(|id| self.projection.order(id))
                .map(|order| order.key.as_ref()),
        };
        match ahead {
            Some(ahead) => self.block.push(ahead.record, position),
            None => self.block.push(&self.scratch, position),
        }
        if let (Some(key), Some(table)) = (exec_key, exec_table.as_mut()) {
            self.executions.insert(table, key, seq)?;
        }
        self.index_rows.note(seq, &event.payload);
        out.appended += 1;
        out.last_seq = seq;
        if seq >= self.last_checkpoint + self.options.checkpoint_every {
            // A checkpoint is the state after a block's last event: seal here.
            self.seal_in(txn)?;
            self.checkpoint_in(txn, true)?;
        } else if self.block.is_full() {
            self.seal_in(txn)?;
        }
        Ok(())
    }

    /// Move the pending executions into the table (before every commit).
    fn flush_executions(&mut self, txn: &WriteTransaction) -> Result<(), LogError> {
        self.executions.flush(&mut txn.open_table(EXECUTIONS)?)
    }

    fn seal_in(&mut self, txn: &WriteTransaction) -> Result<(), LogError> {
        if self.block.is_empty() {
            return Ok(());
        }
        let next = self.next_seq();
        let block = std::mem::replace(&mut self.block, BlockBuilder::new(next));
        let header = BlockHeader::seal(self.prev_hash, block.first_seq, block.count, &block.body);
        txn.open_table(BLOCKS)?
            .insert(block.first_seq, block.body.as_slice())?;
        txn.open_table(CHAIN)?
            .insert(block.first_seq, &header.encode()[..])?;
        let mut positions = txn.open_table(POSITIONS)?;
        for (key, offsets) in &block.positions {
            let key = key.to_string();
            let offsets = block::encode_offsets(offsets);
            positions.insert((key.as_str(), block.first_seq), offsets.as_slice())?;
        }
        let rows = &mut self.identity_rows;
        self.identity
            .absorb(&block.body, u64::from(block.count), |done| rows.push(done))
            .map_err(|offset| LogError::Encode {
                seq: block.first_seq,
                detail: format!("block framing broken at byte {offset}"),
            })?;
        if !self.identity_rows.is_empty() {
            let mut table = txn.open_table(IDENTITY)?;
            for row in self.identity_rows.drain(..) {
                table.insert(row.index, &row.chain.0[..])?;
            }
        }
        self.prev_hash = header.hash;
        Ok(())
    }

    fn checkpoint_in(&mut self, txn: &WriteTransaction, force: bool) -> Result<(), LogError> {
        let seq = self.next_seq() - 1;
        let due = seq >= self.last_checkpoint + self.options.checkpoint_every;
        if seq == 0 || seq == self.last_checkpoint || !(force || due) {
            return Ok(());
        }
        let bytes = codec::encode_value(&self.projection).map_err(|e| LogError::Encode {
            seq,
            detail: format!("checkpoint: {e}"),
        })?;
        let mut row = Vec::with_capacity(32 + bytes.len());
        row.extend_from_slice(blake3::hash(&bytes).as_bytes());
        row.extend_from_slice(&bytes);
        txn.open_table(CHECKPOINTS)?.insert(seq, row.as_slice())?;
        self.last_checkpoint = seq;
        Ok(())
    }

    /// The stored execution `(venue, exec_id)` (in the log, or earlier in this
    /// transaction) with its seq: the index gives candidate seqs, the stored events
    /// decide.
    fn stored_execution(
        &self,
        txn: &WriteTransaction,
        table: &Table<u16, &[u8]>,
        key: u64,
        venue: &Venue,
        exec_id: &ExecId,
    ) -> Result<Option<(Seq, Event)>, LogError> {
        for seq in self.executions.candidates(table, key)? {
            let stored = self.stored_event(txn, seq)?;
            if stored.payload.execution_id() == Some((venue, exec_id)) {
                return Ok(Some((seq, stored)));
            }
        }
        Ok(None)
    }

    /// The event at `seq`, from the open block or from the stored blocks.
    fn stored_event(&self, txn: &WriteTransaction, seq: Seq) -> Result<Event, LogError> {
        if let Some(record) = self.block.record(seq) {
            return codec::decode_event(codec::FORMAT_VERSION, record).map_err(|e| {
                LogError::Corrupt {
                    seq,
                    detail: e.to_string(),
                }
            });
        }
        let missing = || LogError::Corrupt {
            seq,
            detail: "execution index points at a missing event".into(),
        };
        let chain = txn.open_table(CHAIN)?;
        let blocks = txn.open_table(BLOCKS)?;
        let (_, header) = chain.range(..=seq)?.next_back().ok_or_else(missing)??;
        let header = BlockHeader::decode(header.value()).ok_or_else(missing)?;
        let body = blocks.get(header.first_seq)?.ok_or_else(missing)?;
        let mut found = None;
        for_each_record(&header, body.value(), |s, record| {
            if s == seq {
                found = Some(decode_record(&header, s, record)?);
                return Ok(std::ops::ControlFlow::Break(()));
            }
            Ok(std::ops::ControlFlow::Continue(()))
        })?;
        found.ok_or_else(missing)
    }
}

/// An execution seen again is a duplicate only when it is the same execution: same
/// kind, same fields, same event time. Only the local receive time may differ (a
/// venue resends an execution after a reconnect; we receive it later).
fn same_execution(stored: &Event, event: &Event) -> bool {
    stored.ts == event.ts && stored.payload == event.payload
}

/// The fields of two executions with one `(venue, exec_id)` that differ, as their JSON
/// names: what a conflict error shows.
fn differing_fields(stored: &Event, event: &Event) -> String {
    let mut fields = Vec::new();
    if stored.ts != event.ts {
        fields.push("ts".to_string());
    }
    if stored.payload.kind() != event.payload.kind() {
        fields.push("type".to_string());
    } else {
        let as_json = |e: &Event| {
            let mut out = Vec::new();
            let parsed = e.payload.write_json_object(&mut out).ok().and_then(|()| {
                serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&out).ok()
            });
            parsed.unwrap_or_default()
        };
        let (a, b) = (as_json(stored), as_json(event));
        let names: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        fields.extend(
            names
                .into_iter()
                .filter(|name| a.get(*name) != b.get(*name))
                .cloned(),
        );
    }
    match fields.is_empty() {
        true => "content".to_string(),
        false => fields.join(", "),
    }
}

/// Check the whole stored log before appending to it: every header chained, every body
/// against its hash, every identity row against the events. Returns the chain's tip,
/// the identity hasher positioned at the head, and the identity rows the ledger lacks
/// (written before the table existed) for the first commit to store.
fn verify_for_append(
    reader: &Reader,
) -> Result<(Hash, IdentityHasher, Vec<SegmentDone>), LogError> {
    let mut check = IdentityCheck::from_genesis();
    let mut missing = Vec::new();
    let mut tip = Hash::GENESIS;
    reader.for_each_block(1, Seq::MAX, |header, body| {
        missing.extend(check.absorb(reader, header, body, Seq::MAX)?);
        tip = header.hash;
        Ok(std::ops::ControlFlow::Continue(()))
    })?;
    Ok((tip, check.into_hasher(), missing))
}

/// What [`Writer::resume`] proves (see there): the whole header chain, and the
/// identity from its last stored row through the head. Returns the chain's tip and the
/// identity hasher at the head; `None` when the identity row it would start from is not
/// stored (a ledger from before the identity table): then the full check runs.
fn verify_tail(reader: &Reader) -> Result<Option<(Hash, IdentityHasher)>, LogError> {
    let mut tip = Hash::GENESIS;
    let head = reader.walk_headers(|header| {
        tip = header.hash;
        std::ops::ControlFlow::Continue(())
    })?;
    let segments = head / SEGMENT_EVENTS;
    let chain = match segments {
        0 => Hash::GENESIS,
        n => match reader.stored_segment(n - 1)? {
            Some(chain) => chain,
            None => return Ok(None),
        },
    };
    let mut check = IdentityCheck::resume(chain, segments);
    if check.next_seq() <= head {
        reader.for_each_block(check.next_seq(), head, |header, body| {
            check.absorb(reader, header, body, head)?;
            Ok(std::ops::ControlFlow::Continue(()))
        })?;
    }
    Ok(Some((tip, check.into_hasher())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::json::parse_event;
    use crate::log::OpenMode;

    /// Fills (some repeated) and trades on two positions.
    fn events() -> Vec<Event> {
        let mut lines = Vec::new();
        for i in 0..3_000u32 {
            let exec = i % 2_500; // the last 500 repeat earlier executions
            // A repeat is an exact replay: every field follows from the execution id.
            let (side, instrument) = if exec % 3 == 0 {
                ("sell", "ETH")
            } else {
                ("buy", "BTC")
            };
            lines.push(format!(
                r#"{{"type":"fill","ts":"2026-01-05T00:00:{:02}Z","venue":"v","book":"b","instrument":"{instrument}","exec_id":"e-{exec}","side":"{side}","px":"{}.5","qty":"0.01","fee":"0.01","liquidity":"taker"}}"#,
                exec % 60,
                100 + exec % 7
            ));
            lines.push(format!(
                r#"{{"type":"trade","ts":"2026-01-05T00:00:{:02}Z","venue":"v","book":"b","instrument":"{instrument}","px":"{}","qty":"1","side":"buy"}}"#,
                i % 60,
                100 + i % 5
            ));
        }
        lines.iter().map(|l| parse_event(l).unwrap()).collect()
    }

    #[test]
    fn prepared_appends_write_the_same_log_as_plain_appends() {
        let dir = tempfile::tempdir().unwrap();
        let plain =
            Ledger::open(&dir.path().join("plain.redb"), OpenMode::CreateIfMissing).unwrap();
        let prepared =
            Ledger::open(&dir.path().join("prepared.redb"), OpenMode::CreateIfMissing).unwrap();
        let mut a = Writer::new(&plain, WriterOptions::default()).unwrap();
        let mut b = Writer::new(&prepared, WriterOptions::default()).unwrap();
        let mut outcomes = (AppendOutcome::default(), AppendOutcome::default());
        // One batch, refilled: `append_prepared` leaves it empty.
        let mut batch = Prepared::with_capacity(700);
        for chunk in events().chunks(700) {
            let oa = a.append(chunk.iter().cloned()).unwrap();
            assert!(batch.is_empty());
            for event in chunk {
                batch.push(event.clone()).unwrap();
            }
            let ob = b.append_prepared(&mut batch).unwrap();
            outcomes.0.appended += oa.appended;
            outcomes.0.duplicates += oa.duplicates;
            outcomes.1.appended += ob.appended;
            outcomes.1.duplicates += ob.duplicates;
            a.commit().unwrap();
            b.commit().unwrap();
        }
        assert_eq!(outcomes.0.duplicates, 500);
        assert_eq!(outcomes.0, outcomes.1);
        assert_eq!(a.committed_head(), b.committed_head());
        assert_eq!(a.projection(), b.projection());
    }

    /// Blocks are cut to fill redb's page runs: almost nothing of their allocation is
    /// left empty (at 1,024 events a block, a quarter of each 64 KiB run was).
    #[test]
    fn stored_blocks_fill_their_pages() {
        use redb::ReadableTableMetadata;
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("l.redb"), OpenMode::CreateIfMissing).unwrap();
        let mut writer = Writer::new(&ledger, WriterOptions::default()).unwrap();
        writer.append(events()).unwrap();
        writer.commit().unwrap();
        let read = ledger.begin_read().unwrap();
        let blocks = read.open_table(BLOCKS).unwrap();
        let stats = blocks.stats().unwrap();
        assert!(blocks.len().unwrap() >= 4, "too few blocks to tell");
        let (stored, empty) = (stats.stored_bytes(), stats.fragmented_bytes());
        // The last block is partly empty, as is any block sealed by a checkpoint.
        assert!(
            empty * 10 < stored,
            "{empty} empty bytes for {stored} stored"
        );
    }

    /// A storage backend whose writes and syncs fail while `fail` is set.
    #[derive(Debug)]
    struct Flaky {
        inner: redb::backends::InMemoryBackend,
        fail: std::sync::Arc<std::sync::atomic::AtomicBool>,
    }

    impl Flaky {
        fn check(&self) -> std::io::Result<()> {
            match self.fail.load(std::sync::atomic::Ordering::SeqCst) {
                true => Err(std::io::Error::other("injected I/O failure")),
                false => Ok(()),
            }
        }
    }

    impl redb::StorageBackend for Flaky {
        fn len(&self) -> std::io::Result<u64> {
            self.inner.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
            self.inner.read(offset, out)
        }
        fn set_len(&self, len: u64) -> std::io::Result<()> {
            self.check()?;
            self.inner.set_len(len)
        }
        fn sync_data(&self) -> std::io::Result<()> {
            self.check()?;
            self.inner.sync_data()
        }
        fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
            self.check()?;
            self.inner.write(offset, data)
        }
    }

    #[test]
    fn after_a_failed_commit_the_writer_refuses_everything() {
        let fail = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let backend = Flaky {
            inner: redb::backends::InMemoryBackend::new(),
            fail: fail.clone(),
        };
        let ledger = Ledger::create_with_backend(backend).unwrap();
        let mut writer = Writer::new(&ledger, WriterOptions::default()).unwrap();
        let all = events();
        writer.append(all[..10].iter().cloned()).unwrap();
        let head = writer.commit().unwrap();
        assert_eq!(head.seq, 10);

        fail.store(true, std::sync::atomic::Ordering::SeqCst);
        writer.append(all[10..20].iter().cloned()).unwrap();
        assert!(
            writer.commit().is_err(),
            "the injected failure must surface"
        );

        // The disk is healthy again, but this writer does not trust its state.
        fail.store(false, std::sync::atomic::Ordering::SeqCst);
        let appended = writer.append(all[20..30].iter().cloned());
        assert!(
            matches!(appended, Err(LogError::WriterStopped(_))),
            "{appended:?}"
        );
        assert!(matches!(writer.commit(), Err(LogError::WriterStopped(_))));
        assert_eq!(writer.committed_head(), head);
    }
}
