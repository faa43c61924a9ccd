//! An event and its place in the log.
//!
//! `Event` is what producers hand to the log (no seq yet); `Envelope` is what readers
//! get back (with its seq). Hashes live at the block level (see `crate::log::block`):
//! each event's digest is computed on demand for display and proofs.

use serde::{Deserialize, Serialize};

use super::{Payload, Seq, Timestamp};

/// A fact with its event time. This is the stored record (bincode, see `codec`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened (venue time for market data and reports).
    pub ts: Timestamp,
    /// When we received it, where that differs from `ts` (live sessions only).
    pub recv_ts: Option<Timestamp>,
    /// What happened.
    pub payload: Payload,
}

impl Event {
    /// An event with no separate receive time.
    pub fn new(ts: Timestamp, payload: Payload) -> Event {
        Event {
            ts,
            recv_ts: None,
            payload,
        }
    }
}

/// An event read back from the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// Its place in the log, gapless from 1.
    pub seq: Seq,
    /// The event.
    pub event: Event,
}
