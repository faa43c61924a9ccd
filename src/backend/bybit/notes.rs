//! What the adapter did on its own (waits, retries, resyncs, reconnects, skipped
//! frames, unknown outcomes), queued for the engine to log: nothing it does is silent.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::event::ClientOrderId;

/// Notes kept before the oldest are dropped (and counted) when nobody drains them.
pub const NOTES_MAX: usize = 10_000;

/// One thing worth a log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// A rate limiter held a request back.
    RateLimitWait {
        /// Endpoint class.
        class: &'static str,
        /// Symbol, for per-symbol limits.
        symbol: Option<String>,
        /// How long.
        waited: Duration,
    },
    /// A request is sent again after a retryable failure.
    Retry {
        /// Endpoint.
        path: &'static str,
        /// Which retry (1 = the first).
        attempt: u32,
        /// The pause before it.
        after: Duration,
        /// What failed.
        reason: String,
    },
    /// The clock offset was measured.
    ClockMeasured {
        /// Venue minus ours, ns.
        offset_ns: i64,
        /// Why (start, a 10002 answer on an endpoint, a caller's request).
        why: String,
    },
    /// A submit whose outcome is unknown (sent, no answer): resolved by client id.
    OutcomeUnknown {
        /// The order.
        client_order_id: ClientOrderId,
        /// What happened to the request.
        reason: String,
    },
    /// An unknown outcome was settled by a query.
    Resolved {
        /// The order.
        client_order_id: ClientOrderId,
        /// Found at the venue (false: rejected as not found).
        found: bool,
    },
    /// A create answered 110072: the order already exists.
    DuplicateClientId {
        /// The order.
        client_order_id: ClientOrderId,
    },
    /// The private stream is up (authenticated and subscribed).
    Connected {
        /// True after a drop: a REST catch-up follows.
        reconnect: bool,
    },
    /// The private stream went down.
    Disconnected {
        /// Why.
        reason: String,
    },
    /// The private stream tries again after a pause.
    Reconnecting {
        /// Which attempt since the last good connection.
        attempt: u32,
        /// The pause.
        after: Duration,
    },
    /// A frame that did not parse was skipped.
    BadFrame {
        /// The parse error (it quotes the frame, shortened).
        error: String,
    },
    /// Fills and orders fetched over REST to cover what the stream may have missed.
    CatchUp {
        /// Why (reconnect, fills missing for an order).
        why: String,
        /// Executions fetched.
        executions: usize,
        /// Orders fetched.
        orders: usize,
    },
    /// An order message about an order the ledger does not track.
    External {
        /// The venue's id.
        order_id: String,
    },
    /// Something failed that the adapter will try again later.
    Failed {
        /// What.
        what: String,
    },
    /// Notes were dropped because nobody drained them.
    Dropped {
        /// How many.
        count: u64,
    },
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::RateLimitWait {
                class,
                symbol,
                waited,
            } => write!(
                f,
                "rate limit: waited {waited:?} for {class}{}",
                symbol
                    .as_deref()
                    .map(|s| format!(" {s}"))
                    .unwrap_or_default()
            ),
            Note::Retry {
                path,
                attempt,
                after,
                reason,
            } => write!(f, "retry {attempt} of {path} in {after:?}: {reason}"),
            Note::ClockMeasured { offset_ns, why } => {
                write!(f, "clock offset {} ms ({why})", offset_ns / 1_000_000)
            }
            Note::OutcomeUnknown {
                client_order_id,
                reason,
            } => write!(f, "order {client_order_id}: outcome unknown ({reason})"),
            Note::Resolved {
                client_order_id,
                found,
            } => match found {
                true => write!(f, "order {client_order_id}: found at the venue"),
                false => write!(f, "order {client_order_id}: not found at the venue"),
            },
            Note::DuplicateClientId { client_order_id } => {
                write!(f, "order {client_order_id}: already at the venue (110072)")
            }
            Note::Connected { reconnect } => match reconnect {
                true => write!(f, "private stream reconnected"),
                false => write!(f, "private stream connected"),
            },
            Note::Disconnected { reason } => write!(f, "private stream down: {reason}"),
            Note::Reconnecting { attempt, after } => {
                write!(
                    f,
                    "private stream: reconnect attempt {attempt} in {after:?}"
                )
            }
            Note::BadFrame { error } => write!(f, "private stream: skipped a frame: {error}"),
            Note::CatchUp {
                why,
                executions,
                orders,
            } => write!(
                f,
                "catch-up ({why}): {executions} executions, {orders} orders"
            ),
            Note::External { order_id } => write!(f, "order {order_id} is not the ledger's"),
            Note::Failed { what } => write!(f, "{what}"),
            Note::Dropped { count } => write!(f, "{count} notes dropped"),
        }
    }
}

/// A shared, bounded queue of notes.
#[derive(Debug, Clone, Default)]
pub struct Notes {
    inner: Arc<Mutex<(VecDeque<Note>, u64)>>,
}

impl Notes {
    /// Queue a note.
    pub fn push(&self, note: Note) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.0.push_back(note);
        while inner.0.len() > NOTES_MAX {
            inner.0.pop_front();
            inner.1 += 1;
        }
    }

    /// Everything queued since the last call, oldest first.
    pub fn take(&self) -> Vec<Note> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<Note> = inner.0.drain(..).collect();
        if inner.1 > 0 {
            out.insert(0, Note::Dropped { count: inner.1 });
            inner.1 = 0;
        }
        out
    }
}
