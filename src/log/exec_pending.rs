//! Executions appended in the open transaction but not yet in the `executions` table.
//!
//! Execution keys are uniform 64-bit hashes, so inserting them into the table as they
//! arrive touches a random B-tree leaf each time; once the index outgrows the page
//! cache every insert reads a page back from the file (a 10 M-event import spent most
//! of its time there). Held here and inserted in key order in one pass, they walk the
//! tree's leaves once, front to back. Lookups see both: this buffer, then the table.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use redb::Table;

use crate::event::Seq;

/// Pending executions before a flush is forced, whatever the caller's commit rhythm:
/// 512 Ki entries is ~16 MiB of buffer, and each flush walks the index once.
pub const FLUSH_AT: usize = 1 << 19;

/// Execution key → seq, for keys not yet in the table.
#[derive(Debug, Default)]
pub struct PendingExecutions {
    rows: HashMap<u64, Seq, BuildHasherDefault<KeyHasher>>,
}

impl PendingExecutions {
    /// An empty buffer.
    pub fn new() -> PendingExecutions {
        PendingExecutions::default()
    }

    /// Seq of the execution stored under `key`, if it is pending.
    pub fn get(&self, key: u64) -> Option<Seq> {
        self.rows.get(&key).copied()
    }

    /// Record an execution to insert at the next flush.
    pub fn insert(&mut self, key: u64, seq: Seq) {
        self.rows.insert(key, seq);
    }

    /// Number of pending executions.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Keys pending, in no particular order (for rebuilding the filter).
    pub fn keys(&self) -> impl Iterator<Item = u64> + '_ {
        self.rows.keys().copied()
    }

    /// Insert every pending execution into `table`, in key order, and empty the buffer.
    pub fn flush(&mut self, table: &mut Table<u64, u64>) -> Result<(), redb::StorageError> {
        let mut rows: Vec<(u64, Seq)> = self.rows.drain().collect();
        rows.sort_unstable_by_key(|&(key, _)| key);
        for (key, seq) in rows {
            table.insert(key, seq)?;
        }
        Ok(())
    }
}

/// The keys are already uniform (blake3), so hashing them again would only cost time:
/// the hasher passes the key through.
#[derive(Debug, Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here (`write_u64`); any other input is folded in
        // so the hasher stays correct if that ever changes.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::{ReadableDatabase, ReadableTableMetadata, TableDefinition};

    const T: TableDefinition<u64, u64> = TableDefinition::new("t");

    #[test]
    fn flush_inserts_every_row_and_empties_the_buffer() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let db = redb::Database::create(file.path()).unwrap();
        let mut pending = PendingExecutions::default();
        for i in 0..1000u64 {
            pending.insert(i.wrapping_mul(0x9E37_79B9_7F4A_7C15), i + 1);
        }
        assert_eq!(
            pending.get(7u64.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            Some(8)
        );
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(T).unwrap();
            pending.flush(&mut table).unwrap();
        }
        txn.commit().unwrap();
        assert_eq!(pending.len(), 0);
        let read = db.begin_read().unwrap();
        let table = read.open_table(T).unwrap();
        assert_eq!(table.len().unwrap(), 1000);
        for i in 0..1000u64 {
            let key = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            assert_eq!(table.get(key).unwrap().map(|g| g.value()), Some(i + 1));
        }
    }
}
