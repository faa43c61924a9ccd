//! Comparing two logs: the first seq where their events differ.
//!
//! Every block of both logs is read and checked (chain, body hash, identity rows): a
//! diff that trusted equal headers would call a ledger with a damaged body
//! "identical". The records (each event's stored bytes) are compared seq by seq,
//! across block boundaries, which differ between logs with the same events (imported
//! in other batches); events are decoded only where the bytes differ. Each log is read
//! on its own scoped thread feeding a bounded channel, so two logs of any length are
//! compared in fixed memory, and both identities come out of the same pass.
//! The longest run of identical block headers is still reported, as a storage fact.
//!
//! Boundary: this file compares events; projections and printing are the caller's.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::block::{BlockHeader, Hash};
use super::reader::{IdentityCheck, for_each_record};
use super::{Head, Ledger, LogError, Reader};
use crate::event::{Event, Seq};

/// Items in flight between the two readers. Small: the consumer only compares, and a
/// few blocks' worth of decoded events is plenty to keep both readers busy.
const CHANNEL_CAPACITY: usize = 1024;

/// Which of the two logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffSide {
    /// The first log.
    A,
    /// The second log.
    B,
}

/// A read failure on one side of a diff.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct DiffError {
    /// Which log.
    pub side: DiffSide,
    /// Its file.
    pub path: PathBuf,
    /// What went wrong.
    #[source]
    pub source: LogError,
}

/// The first events that differ; `None` on a side whose log ended before `seq`.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// Their seq.
    pub seq: Seq,
    /// The event in the first log.
    pub a: Option<Event>,
    /// The event in the second log.
    pub b: Option<Event>,
}

/// The outcome of comparing two logs.
#[derive(Debug, Clone, PartialEq)]
pub struct LogDiff {
    /// Head of the first log.
    pub head_a: Head,
    /// Head of the second log.
    pub head_b: Head,
    /// Last seq of the longest run of identical block headers (0 when none).
    pub common_blocks_seq: Seq,
    /// The first difference, `None` when the events are identical.
    pub first_difference: Option<Difference>,
}

/// Compare the events of `a` and `b`. See the module doc.
pub fn diff(a: &Ledger, b: &Ledger) -> Result<LogDiff, DiffError> {
    let head_a = side(a, DiffSide::A, |r| r.head())?;
    let head_b = side(b, DiffSide::B, |r| r.head())?;
    let mut common_blocks_seq = 0;
    lockstep(
        a,
        b,
        |reader, emit| reader.walk_headers(|h| emit(*h)).map(|_| ()),
        |ha, hb| match (ha, hb) {
            (Some(ha), Some(hb)) if ha.hash == hb.hash => {
                common_blocks_seq = ha.last_seq();
                ControlFlow::Continue(())
            }
            _ => ControlFlow::Break(()),
        },
    )?;
    let (first_difference, identity_a, identity_b) = compare_records(a, b)?;
    Ok(LogDiff {
        head_a: Head {
            hash: identity_a,
            ..head_a
        },
        head_b: Head {
            hash: identity_b,
            ..head_b
        },
        common_blocks_seq,
        first_difference,
    })
}

/// Verified blocks in flight from each side's reader to the comparison.
const BLOCKS_IN_FLIGHT: usize = 8;

/// One verified block, copied out of its read transaction to cross threads.
struct OwnedBlock {
    header: BlockHeader,
    body: Vec<u8>,
}

/// Read every block of both logs (each on its own thread, every body checked against
/// its header and every identity row against the records) and compare their records
/// seq by seq, across any block boundaries. Both logs are read to their ends even
/// after a difference: a damaged block anywhere is an error, never "identical" or a
/// plain difference. Returns the first difference and both recomputed identities.
fn compare_records(a: &Ledger, b: &Ledger) -> Result<(Option<Difference>, Hash, Hash), DiffError> {
    std::thread::scope(|scope| {
        let (tx_a, rx_a) = sync_channel(BLOCKS_IN_FLIGHT);
        let (tx_b, rx_b) = sync_channel(BLOCKS_IN_FLIGHT);
        let reader_a = scope.spawn(move || read_blocks(a, DiffSide::A, tx_a));
        let reader_b = scope.spawn(move || read_blocks(b, DiffSide::B, tx_b));
        let difference = first_difference(&mut Records::new(rx_a), &mut Records::new(rx_b));
        let join = |handle: std::thread::ScopedJoinHandle<'_, Result<Hash, DiffError>>| {
            handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        };
        let identity_a = join(reader_a)?;
        let identity_b = join(reader_b)?;
        // The readers succeeded, so every record compared came from a verified block.
        Ok((difference, identity_a, identity_b))
    })
}

/// Send `ledger`'s verified blocks to `tx` (until the comparison stops listening;
/// then go on verifying) and return its identity recomputed from the records.
fn read_blocks(
    ledger: &Ledger,
    which: DiffSide,
    tx: SyncSender<OwnedBlock>,
) -> Result<Hash, DiffError> {
    side(ledger, which, |reader| {
        let mut identity = IdentityCheck::from_genesis();
        let mut listening = true;
        reader.for_each_block(1, Seq::MAX, |header, body| {
            identity.absorb(reader, header, body, Seq::MAX)?;
            if listening {
                let block = OwnedBlock {
                    header: *header,
                    body: body.to_vec(),
                };
                listening = tx.send(block).is_ok();
            }
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(identity.identity())
    })
}

/// The first seq at which the two record streams differ, with both events there.
/// A stream that ends early (its reader failed, or its log is shorter) differs at the
/// next seq; the caller learns of a failure from the reader itself.
fn first_difference(a: &mut Records, b: &mut Records) -> Option<Difference> {
    loop {
        let (ra, rb) = (a.next(), b.next());
        let seq = match (&ra, &rb) {
            (None, None) => return None,
            (Some(x), Some(y)) if x.format == y.format && x.bytes == y.bytes => continue,
            (Some(x), _) => x.seq,
            (None, Some(y)) => y.seq,
        };
        let (ea, eb) = (ra.and_then(|r| r.event()), rb.and_then(|r| r.event()));
        // Records of different formats may still hold the same event.
        if ea.is_some() && ea == eb {
            continue;
        }
        return Some(Difference { seq, a: ea, b: eb });
    }
}

/// One record of a verified block.
struct Record {
    seq: Seq,
    format: u16,
    bytes: Vec<u8>,
}

impl Record {
    /// The event, or `None` when it does not decode (the reader reports that block).
    fn event(self) -> Option<Event> {
        crate::event::codec::decode_event(self.format, &self.bytes).ok()
    }
}

/// The records of a stream of verified blocks, in seq order.
struct Records {
    blocks: Receiver<OwnedBlock>,
    /// The current block's records, in reverse (popped from the end).
    pending: Vec<Record>,
}

impl Records {
    fn new(blocks: Receiver<OwnedBlock>) -> Records {
        Records {
            blocks,
            pending: Vec::new(),
        }
    }

    fn next(&mut self) -> Option<Record> {
        while self.pending.is_empty() {
            let block = self.blocks.recv().ok()?;
            let mut records = Vec::with_capacity(block.header.count as usize);
            let split = for_each_record(&block.header, &block.body, |seq, bytes| {
                records.push(Record {
                    seq,
                    format: block.header.format,
                    bytes: bytes.to_vec(),
                });
                Ok(ControlFlow::Continue(()))
            });
            // A block whose records do not split is damaged; its reader says so.
            split.ok()?;
            records.reverse();
            self.pending = records;
        }
        self.pending.pop()
    }
}

fn side<T>(
    ledger: &Ledger,
    which: DiffSide,
    f: impl FnOnce(&Reader) -> Result<T, LogError>,
) -> Result<T, DiffError> {
    let wrap = |source| DiffError {
        side: which,
        path: ledger.path().to_path_buf(),
        source,
    };
    let reader = ledger.reader().map_err(wrap)?;
    f(&reader).map_err(wrap)
}

/// Run `produce` on both logs and hand their items to `compare` in pairs (`None` once
/// a side has ended) until it breaks or both end. `a`'s items come from a scoped
/// thread through a bounded channel; `b`'s are produced on this thread.
fn lockstep<T: Send>(
    a: &Ledger,
    b: &Ledger,
    produce: impl Fn(&Reader, &mut dyn FnMut(T) -> ControlFlow<()>) -> Result<(), LogError> + Sync,
    mut compare: impl FnMut(Option<T>, Option<T>) -> ControlFlow<()>,
) -> Result<(), DiffError> {
    std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<T>(CHANNEL_CAPACITY);
        let produce = &produce;
        let producer = scope.spawn(move || {
            side(a, DiffSide::A, |reader| {
                // A closed channel means the consumer has its answer: stop reading.
                produce(reader, &mut |item| match tx.send(item) {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(_) => ControlFlow::Break(()),
                })
            })
        });
        let mut stopped = false;
        let result_b = side(b, DiffSide::B, |reader| {
            produce(reader, &mut |item| {
                let flow = compare(rx.recv().ok(), Some(item));
                stopped = flow.is_break();
                flow
            })
        });
        if !stopped && result_b.is_ok() {
            if let Ok(item) = rx.recv() {
                let _ = compare(Some(item), None);
            }
        }
        drop(rx);
        let result_a = match producer.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        result_a.and(result_b)
    })
}
