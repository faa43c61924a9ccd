//! Group commit for in-process producers (backtests, live sessions).
//!
//! One thread owns the `Writer`. Producers send batches over a bounded channel and
//! get each batch's outcome back only after the transaction holding it has committed
//! durably. The thread takes every batch already waiting (up to a bound) into one
//! transaction, so under load one fsync covers many batches; with a single slow
//! producer it degenerates to a commit per batch, which is the latency floor.

use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use super::{AppendOutcome, Head, Ledger, LogError, Prepared, Writer, WriterOptions};
use crate::event::Event;

/// Batches that may wait for the writer. Bounded so a producer faster than the disk is
/// slowed down (backpressure) instead of growing memory.
const QUEUE_BATCHES_MAX: usize = 64;

/// Most events folded into one commit: bounds the memory of a transaction and the
/// latency of the acknowledgements that wait for it.
const COMMIT_EVENTS_MAX: usize = 256 * 1024;

/// Where a batch's result goes once its commit is done.
type Ack = oneshot::Sender<Result<AppendOutcome, String>>;

struct Request {
    events: Batch,
    ack: Ack,
}

/// Events as the producer hands them over.
enum Batch {
    Events(Vec<Event>),
    /// Encoded on the producer's thread (see [`Prepared`]).
    Prepared(Prepared),
}

impl Batch {
    fn len(&self) -> usize {
        match self {
            Batch::Events(events) => events.len(),
            Batch::Prepared(prepared) => prepared.len(),
        }
    }
}

/// A handle producers append through. Dropping every handle stops the writer thread.
pub struct Appender {
    tx: mpsc::Sender<Request>,
    thread: Option<JoinHandle<Result<Head, LogError>>>,
}

/// A batch whose durable acknowledgement is still to come.
pub struct PendingAppend(oneshot::Receiver<Result<AppendOutcome, String>>);

impl PendingAppend {
    /// Wait (blocking the thread) for the commit that holds the batch.
    pub fn wait(self) -> Result<AppendOutcome, LogError> {
        match self.0.blocking_recv() {
            Ok(result) => result.map_err(LogError::WriterStopped),
            Err(_) => Err(LogError::WriterStopped("writer thread ended".into())),
        }
    }

    /// Wait (asynchronously) for the commit that holds the batch.
    pub async fn wait_async(self) -> Result<AppendOutcome, LogError> {
        match self.0.await {
            Ok(result) => result.map_err(LogError::WriterStopped),
            Err(_) => Err(LogError::WriterStopped("writer thread ended".into())),
        }
    }
}

impl Appender {
    /// Start the writer thread for `ledger`.
    pub fn start(ledger: &Ledger, options: WriterOptions) -> Result<Appender, LogError> {
        let writer = Writer::new(ledger, options)?;
        let (tx, rx) = mpsc::channel(QUEUE_BATCHES_MAX);
        let thread = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || run(writer, rx))
            .map_err(|e| LogError::Storage(format!("cannot start the writer thread: {e}")))?;
        Ok(Appender {
            tx,
            thread: Some(thread),
        })
    }

    /// Queue a batch (blocking while the queue is full); wait on the result for its
    /// durable acknowledgement.
    pub fn submit(&self, events: Vec<Event>) -> Result<PendingAppend, LogError> {
        let (ack, rx) = oneshot::channel();
        self.tx
            .blocking_send(Request {
                events: Batch::Events(events),
                ack,
            })
            .map_err(|_| LogError::WriterStopped("writer thread ended".into()))?;
        Ok(PendingAppend(rx))
    }

    /// Like `submit`, for events the producer has already prepared (encoded, execution
    /// ids hashed) on its own thread: a producer with a core to spare takes that work
    /// off the writer's thread.
    pub fn submit_prepared(&self, events: Prepared) -> Result<PendingAppend, LogError> {
        let (ack, rx) = oneshot::channel();
        self.tx
            .blocking_send(Request {
                events: Batch::Prepared(events),
                ack,
            })
            .map_err(|_| LogError::WriterStopped("writer thread ended".into()))?;
        Ok(PendingAppend(rx))
    }

    /// Queue a batch from async code.
    pub async fn submit_async(&self, events: Vec<Event>) -> Result<PendingAppend, LogError> {
        let (ack, rx) = oneshot::channel();
        self.tx
            .send(Request {
                events: Batch::Events(events),
                ack,
            })
            .await
            .map_err(|_| LogError::WriterStopped("writer thread ended".into()))?;
        Ok(PendingAppend(rx))
    }

    /// Stop accepting batches, wait for the last commit, and return the head.
    pub fn finish(mut self) -> Result<Head, LogError> {
        let thread = self.thread.take();
        drop(self);
        match thread.map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(LogError::WriterStopped("writer thread panicked".into())),
            None => Err(LogError::WriterStopped("already finished".into())),
        }
    }
}

fn run(mut writer: Writer, mut rx: mpsc::Receiver<Request>) -> Result<Head, LogError> {
    let mut group: Vec<(Ack, Result<AppendOutcome, LogError>)> = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        let mut events_in_group = 0;
        let mut next = Some(first);
        while let Some(request) = next.take() {
            events_in_group += request.events.len();
            let outcome = match request.events {
                Batch::Events(events) => writer.append(events),
                Batch::Prepared(mut prepared) => writer.append_prepared(&mut prepared),
            };
            group.push((request.ack, outcome));
            if events_in_group < COMMIT_EVENTS_MAX {
                next = rx.try_recv().ok();
            }
        }
        let committed = writer.commit();
        for (ack, outcome) in group.drain(..) {
            let result = match (&committed, outcome) {
                (Ok(_), Ok(o)) => Ok(o),
                (Err(e), _) => Err(e.to_string()),
                (_, Err(e)) => Err(e.to_string()),
            };
            // A producer that stopped waiting is not an error for the others.
            let _ = ack.send(result);
        }
        committed?;
    }
    writer.checkpoint_now()?;
    writer.commit()
}
