//! The small derived indexes the writer keeps beside the events: the sessions index
//! (`tables::SESSIONS`) and the client order ids the ledger submitted
//! (`tables::SUBMITTED`). Both are written in the same transaction as the events they
//! index, so they never disagree with the committed log; a ledger written before one
//! of them existed gets its rows by one scan when a writer first opens it
//! ([`backfill`]), committed at once so later opens and readers never scan again.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use redb::{TableHandle, WriteTransaction};

use super::tables::{SESSIONS, SUBMITTED};
use super::{Ledger, LogError, Reader};
use crate::event::{ClientOrderId, Payload, Seq};

/// Index rows of the events appended since the last commit.
#[derive(Debug, Default)]
pub(super) struct IndexRows {
    /// Seq of a session event → 1 started, 0 stopped.
    sessions: Vec<(Seq, u8)>,
    /// Client order id → seq of its `order_submitted`, in seq order (a later submit of
    /// the same id overwrites: the row keeps the latest).
    submitted: Vec<(ClientOrderId, Seq)>,
}

impl IndexRows {
    /// Note the event at `seq` (just written) if an index holds it.
    pub(super) fn note(&mut self, seq: Seq, payload: &Payload) {
        match payload {
            Payload::SessionStarted(_) => self.sessions.push((seq, 1)),
            Payload::SessionStopped(_) => self.sessions.push((seq, 0)),
            Payload::OrderSubmitted(o) => self.submitted.push((o.client_order_id.clone(), seq)),
            _ => {}
        }
    }

    /// Forget the rows (the events they index were not committed).
    pub(super) fn clear(&mut self) {
        self.sessions.clear();
        self.submitted.clear();
    }

    /// Write the rows into `txn` and forget them. Tables are opened only when there
    /// is something to write: most commits of a session hold neither kind.
    pub(super) fn store(&mut self, txn: &WriteTransaction) -> Result<(), LogError> {
        if !self.sessions.is_empty() {
            let mut table = txn.open_table(SESSIONS)?;
            for (seq, kind) in self.sessions.drain(..) {
                table.insert(seq, kind)?;
            }
        }
        if !self.submitted.is_empty() {
            let mut table = txn.open_table(SUBMITTED)?;
            for (id, seq) in self.submitted.drain(..) {
                table.insert(id.as_str(), seq)?;
            }
        }
        Ok(())
    }
}

/// Give a ledger from before the sessions or submitted index the rows it lacks: one
/// scan of its events up to `head` (the reader's snapshot), written and committed in a
/// transaction of its own (the rows are derived; no event changes). Nothing is read
/// when both tables exist.
pub(super) fn backfill(
    ledger: &Ledger,
    reader: &Reader,
    head: Seq,
    two_phase_commit: bool,
) -> Result<(), LogError> {
    let read = ledger.begin_read()?;
    let sessions = table_exists(&read, SESSIONS.name())?;
    let submitted = table_exists(&read, SUBMITTED.name())?;
    drop(read);
    if sessions && submitted {
        return Ok(());
    }
    let mut rows = IndexRows::default();
    reader.for_each_event(1, head, |e| {
        rows.note(e.seq, &e.event.payload);
        Ok(ControlFlow::Continue(()))
    })?;
    if sessions {
        rows.sessions.clear();
    }
    if submitted {
        rows.submitted.clear();
    }
    let mut txn = ledger.db()?.begin_write()?;
    txn.set_quick_repair(two_phase_commit);
    // Both tables exist after this commit, even when the scan found no rows.
    txn.open_table(SESSIONS)?;
    txn.open_table(SUBMITTED)?;
    rows.store(&txn)?;
    txn.commit()?;
    Ok(())
}

/// Every client order id in the log up to `head`, found by a scan: for a ledger from
/// before the index opened read-only. Sorted, each once (as the index gives them).
pub(super) fn submitted_by_scan(
    reader: &Reader,
    head: Seq,
) -> Result<Vec<ClientOrderId>, LogError> {
    let mut ids = BTreeMap::new();
    reader.for_each_event(1, head, |e| {
        if let Payload::OrderSubmitted(o) = &e.event.payload {
            ids.insert(o.client_order_id.clone(), e.seq);
        }
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(ids.into_keys().collect())
}

fn table_exists(read: &redb::ReadTransaction, name: &str) -> Result<bool, LogError> {
    Ok(read.list_tables()?.any(|t| t.name() == name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use crate::event::json::parse_event;
    use crate::log::{OpenMode, Writer, WriterOptions, verify};

    /// `n` rounds of: trades, an order submitted and filled; a session around them,
    /// and one order the projection refuses (a fill-less duplicate submit), which must
    /// not be indexed because it is not written.
    fn events(from: u64, n: u64) -> Vec<Event> {
        let mut lines = vec![format!(
            r#"{{"type":"session_started","ts":"2026-01-05T00:00:00Z","mode":"live","config_hash":"x","version":"t"}}"#
        )];
        for i in from..from + n {
            let ts = format!("2026-01-05T00:{:02}:{:02}Z", (i / 60) % 60, i % 60);
            for _ in 0..3 {
                lines.push(format!(
                    r#"{{"type":"trade","ts":"{ts}","venue":"bybit","book":"linear","instrument":"BTCUSDT","px":"42000","qty":"0.1","side":"buy"}}"#
                ));
            }
            lines.push(format!(
                r#"{{"type":"order_submitted","ts":"{ts}","venue":"bybit","book":"linear","instrument":"BTCUSDT","client_order_id":"c-{i}","side":"buy","order_type":"limit","qty":"0.01","px":"41000","tif":"gtc","reduce_only":false,"post_only":false}}"#
            ));
            lines.push(format!(
                r#"{{"type":"order_submitted","ts":"{ts}","venue":"bybit","book":"linear","instrument":"BTCUSDT","client_order_id":"c-{i}","side":"buy","order_type":"limit","qty":"0.01","px":"41000","tif":"gtc","reduce_only":false,"post_only":false}}"#
            ));
            lines.push(format!(
                r#"{{"type":"fill","ts":"{ts}","venue":"bybit","book":"linear","instrument":"BTCUSDT","order_id":"c-{i}","exec_id":"e-{i}","side":"buy","px":"41000","qty":"0.01","fee":"0.01","liquidity":"maker"}}"#
            ));
        }
        lines.push(
            r#"{"type":"session_stopped","ts":"2026-01-05T01:00:00Z","reason":"end of data"}"#
                .to_string(),
        );
        lines.iter().map(|l| parse_event(l).unwrap()).collect()
    }

    fn append(ledger: &Ledger, events: Vec<Event>) {
        let mut writer = Writer::new(ledger, WriterOptions::default()).unwrap();
        let outcome = writer.append(events).unwrap();
        assert!(
            !outcome.rejected.is_empty(),
            "the repeated submits are refused"
        );
        writer.commit().unwrap();
    }

    fn by_scan(ledger: &Ledger) -> Vec<ClientOrderId> {
        let reader = ledger.reader().unwrap();
        submitted_by_scan(&reader, reader.head_seq().unwrap()).unwrap()
    }

    fn sessions(ledger: &Ledger) -> Option<crate::log::SessionMark> {
        ledger.reader().unwrap().last_session().unwrap()
    }

    #[test]
    fn the_index_holds_every_submitted_id_a_scan_finds() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("l.redb"), OpenMode::CreateIfMissing).unwrap();
        append(&ledger, events(0, 300));
        append(&ledger, events(300, 200));
        let ids = ledger.reader().unwrap().submitted_ids().unwrap();
        assert_eq!(ids.len(), 500);
        assert_eq!(ids, by_scan(&ledger));
    }

    #[test]
    fn a_ledger_from_before_the_index_is_backfilled_when_a_writer_opens_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.redb");
        let ledger = Ledger::open(&path, OpenMode::CreateIfMissing).unwrap();
        append(&ledger, events(0, 250));
        let want_sessions = sessions(&ledger);
        // What a build before the indexes left: the events without the index tables.
        let txn = ledger.db().unwrap().begin_write().unwrap();
        assert!(txn.delete_table(SUBMITTED).unwrap());
        assert!(txn.delete_table(SESSIONS).unwrap());
        txn.commit().unwrap();
        // Readers scan until a writer backfills.
        assert_eq!(ledger.reader().unwrap().submitted_ids().unwrap().len(), 250);
        assert_eq!(sessions(&ledger), want_sessions);

        let writer = Writer::resume(&ledger, WriterOptions::default()).unwrap();
        drop(writer);
        let read = ledger.begin_read().unwrap();
        assert!(table_exists(&read, SUBMITTED.name()).unwrap());
        assert!(table_exists(&read, SESSIONS.name()).unwrap());
        drop(read);
        assert_eq!(
            ledger.reader().unwrap().submitted_ids().unwrap(),
            by_scan(&ledger)
        );
        assert_eq!(sessions(&ledger), want_sessions);

        // And kept from there on.
        append(&ledger, events(250, 100));
        let ids = ledger.reader().unwrap().submitted_ids().unwrap();
        assert_eq!(ids.len(), 350);
        assert_eq!(ids, by_scan(&ledger));
        assert_eq!(sessions(&ledger).map(|m| m.stopped.is_some()), Some(true));
        drop(ledger);
        let reopened = Ledger::open(&path, OpenMode::Existing).unwrap();
        assert_eq!(
            reopened.reader().unwrap().submitted_ids().unwrap(),
            by_scan(&reopened)
        );
    }

    /// `Writer::resume` proves less than `Writer::new`, and must start from the same
    /// place: same head, identity and projection, and what it appends verifies.
    #[test]
    fn a_resumed_writer_starts_where_a_fully_checked_one_does() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("l.redb"), OpenMode::CreateIfMissing).unwrap();
        let options = WriterOptions {
            checkpoint_every: 1_500,
            ..WriterOptions::default()
        };
        // Across identity segments (4,096 events) and checkpoints.
        for round in 0..4 {
            let mut writer = Writer::resume(&ledger, options).unwrap();
            writer.append(events(round * 700, 700)).unwrap();
            writer.commit().unwrap();
            let full = Writer::new(&ledger, options).unwrap();
            let resumed = Writer::resume(&ledger, options).unwrap();
            assert_eq!(full.committed_head(), resumed.committed_head());
            assert_eq!(full.next_seq(), resumed.next_seq());
            assert_eq!(full.projection(), resumed.projection());
        }
        let reader = ledger.reader().unwrap();
        let report = verify(&reader, |_| {}).unwrap();
        assert_eq!(report.head, reader.head().unwrap());
        assert!(reader.head_seq().unwrap() > 2 * crate::log::identity::SEGMENT_EVENTS);
    }
}
