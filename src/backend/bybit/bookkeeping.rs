//! The adapter's notes as a session records them: connections and clock offsets become
//! events in the log (so `audit`/`report` can see when the stream was down and what
//! clock the requests used); waits, retries and skipped frames become operator lines.

use super::{BybitBackend, Note};
use crate::event::{Connection, Event, Payload, Timestamp};

impl BybitBackend {
    /// Events and log lines for what the adapter did since the last call. Events are
    /// stamped with the venue-synced clock (ours plus the measured offset).
    pub fn bookkeeping(&mut self) -> (Vec<Event>, Vec<String>) {
        let offset = self.clock_offset();
        let now = Timestamp::from_nanos(venue_now_ns(offset.offset_ns));
        let venue = offset.venue.clone();
        let mut events = Vec::new();
        let mut lines = Vec::new();
        for note in self.take_notes() {
            let line = note.to_string();
            let event = match note {
                Note::Connected { reconnect } => Some(Payload::Connected(Connection {
                    venue: venue.clone(),
                    stream: "private".to_string(),
                    reason: match reconnect {
                        true => "reconnected; fills and orders caught up over REST".to_string(),
                        false => "connected".to_string(),
                    },
                })),
                Note::Disconnected { reason } => Some(Payload::Disconnected(Connection {
                    venue: venue.clone(),
                    stream: "private".to_string(),
                    reason,
                })),
                Note::ClockMeasured { offset_ns, .. } => {
                    Some(Payload::ClockOffset(crate::event::ClockOffset {
                        venue: venue.clone(),
                        offset_ns,
                    }))
                }
                _ => None,
            };
            if let Some(payload) = event {
                events.push(Event::new(now, payload));
            }
            lines.push(format!("{venue}: {line}"));
        }
        (events, lines)
    }
}

/// Our wall clock plus the venue's offset, in ns since the epoch (this is I/O code: the
/// reducer never sees a clock, only the events stamped here).
fn venue_now_ns(offset_ns: i64) -> i64 {
    crate::wall_clock::venue_now(offset_ns).as_nanos()
}
