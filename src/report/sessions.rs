//! The sessions a log holds, and whether each ran to its end. A run killed part-way
//! leaves a `session_started` with no `session_stopped`; one that failed or was
//! interrupted records its stop with a reason starting `error:` or `interrupted` (see
//! `cli::run`). Either is a partial run, and a reader that does not say so presents it
//! as a finished one.

use crate::event::{Mode, Payload, Seq, Timestamp};

/// One session of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// Seq of its `session_started`.
    pub started_seq: Seq,
    /// Event time of its `session_started`.
    pub started_ts: Timestamp,
    /// How it traded.
    pub mode: Mode,
    /// Its `session_stopped` (seq and reason); `None` when it never stopped.
    pub stopped: Option<(Seq, String)>,
}

impl Session {
    /// Whether it recorded an end that was not a failure or an interruption.
    pub fn complete(&self) -> bool {
        self.stopped
            .as_ref()
            .is_some_and(|(_, reason)| !stopped_early(reason))
    }
}

/// A stop reason that says the session did not reach its end.
fn stopped_early(reason: &str) -> bool {
    reason.starts_with("error") || reason.starts_with("interrupted")
}

/// Folds session events, in log order.
#[derive(Debug, Clone, Default)]
pub struct Sessions {
    list: Vec<Session>,
}

impl Sessions {
    /// Apply one event (anything but session events is ignored).
    pub fn apply(&mut self, seq: Seq, ts: Timestamp, payload: &Payload) {
        match payload {
            Payload::SessionStarted(s) => self.list.push(Session {
                started_seq: seq,
                started_ts: ts,
                mode: s.mode,
                stopped: None,
            }),
            Payload::SessionStopped(s) => {
                // A stop closes the latest session if it is still open; a stray stop
                // (no open session) closes nothing.
                if let Some(last) = self.list.last_mut().filter(|l| l.stopped.is_none()) {
                    last.stopped = Some((seq, s.reason.clone()));
                }
            }
            _ => {}
        }
    }

    /// Every session, in log order.
    pub fn list(&self) -> &[Session] {
        &self.list
    }

    /// Sessions that did not run to their end.
    pub fn incomplete(&self) -> impl Iterator<Item = &Session> {
        self.list.iter().filter(|s| !s.complete())
    }

    /// A one-line warning naming the incomplete sessions, or `None` when all ended.
    pub fn warning(&self) -> Option<String> {
        let what: Vec<String> = self
            .incomplete()
            .map(|s| match &s.stopped {
                None => format!(
                    "seq {}: no session_stopped (killed or crashed part-way)",
                    s.started_seq
                ),
                Some((_, reason)) => format!("seq {}: stopped early ({reason})", s.started_seq),
            })
            .collect();
        (!what.is_empty()).then(|| {
            format!(
                "incomplete session(s), figures cover only what was logged: {}",
                what.join("; ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{SessionStarted, SessionStopped};

    fn start() -> Payload {
        Payload::SessionStarted(SessionStarted {
            mode: Mode::Backtest,
            config_hash: String::new(),
            version: String::new(),
            params: Vec::new(),
        })
    }

    fn stop() -> Payload {
        Payload::SessionStopped(SessionStopped {
            reason: "end of data".into(),
        })
    }

    #[test]
    fn a_session_without_its_stop_is_incomplete() {
        let mut s = Sessions::default();
        let ts = Timestamp::default();
        s.apply(1, ts, &start());
        s.apply(5, ts, &stop());
        s.apply(6, ts, &start());
        s.apply(9, ts, &start());
        s.apply(12, ts, &stop());
        let incomplete: Vec<Seq> = s.incomplete().map(|s| s.started_seq).collect();
        assert_eq!(incomplete, vec![6]);
        assert_eq!(s.list()[0].stopped, Some((5, "end of data".into())));
        assert!(s.warning().unwrap().contains("seq 6"));
    }

    #[test]
    fn a_session_stopped_by_an_error_or_a_signal_is_incomplete() {
        let mut s = Sessions::default();
        let ts = Timestamp::default();
        for (seq, reason) in [(1, "error: bad row"), (3, "interrupted by a signal")] {
            s.apply(seq, ts, &start());
            s.apply(
                seq + 1,
                ts,
                &Payload::SessionStopped(SessionStopped {
                    reason: reason.into(),
                }),
            );
        }
        assert_eq!(s.incomplete().count(), 2);
        let w = s.warning().unwrap();
        assert!(w.contains("seq 1: stopped early (error: bad row)"), "{w}");
    }

    #[test]
    fn a_stray_stop_closes_nothing() {
        let mut s = Sessions::default();
        let ts = Timestamp::default();
        s.apply(1, ts, &stop());
        assert!(s.list().is_empty());
        assert!(s.warning().is_none());
    }
}
