//! Comparing two logs: the first seq where their events differ.
//!
//! Block headers are compared first: a header's hash chains to every block before it,
//! so equal hashes prove equal prefixes without reading a body. Events are decoded
//! only from the first block whose header differs, and compared one by one (block
//! boundaries can differ between logs with the same events, e.g. imported in other
//! batches). Each log is read by its own producer — one on a scoped thread — feeding
//! a bounded channel, so two logs of any length are compared in fixed memory.
//!
//! Boundary: this file compares events; projections and printing are the caller's.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::mpsc::sync_channel;

use super::{Head, Ledger, LogError, Reader};
use crate::event::{Envelope, Event, Seq};

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
    let from = common_blocks_seq + 1;
    let mut first_difference = None;
    lockstep(
        a,
        b,
        |reader, emit| reader.for_each_event(from, Seq::MAX, |env| Ok(emit(env))),
        |ea: Option<Envelope>, eb: Option<Envelope>| {
            let same = match (&ea, &eb) {
                (Some(x), Some(y)) => x.event == y.event,
                _ => false,
            };
            if same {
                return ControlFlow::Continue(());
            }
            let seq = ea.as_ref().or(eb.as_ref()).map_or(from, |e| e.seq);
            first_difference = Some(Difference {
                seq,
                a: ea.map(|e| e.event),
                b: eb.map(|e| e.event),
            });
            ControlFlow::Break(())
        },
    )?;
    Ok(LogDiff {
        head_a,
        head_b,
        common_blocks_seq,
        first_difference,
    })
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
