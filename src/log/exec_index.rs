//! The execution index: which `(venue, exec_id)` pairs are already in the log, so a
//! fill is applied once however often a venue (or an import file) repeats it.
//!
//! Stored layout (`executions` table): the 64-bit execution key
//! (`blake3(venue ‖ 0 ‖ exec_id)`, first 8 bytes LE) falls in one of 65,536 buckets
//! by its top 16 bits; a bucket's row is its entries `key u64 LE ‖ seq u64 LE`, sorted
//! by `(key, seq)`. Two executions whose keys collide are both kept; the stored events
//! tell them apart.
//!
//! Why buckets and not one row per execution: keys are uniform hashes, so per-key rows
//! are inserted at random places in the B-tree, and once the index outgrows the page
//! cache every insert reads a page back from the file. Here new executions wait in
//! memory (`pending`) and are merged into their buckets in one ordered pass per commit
//! (or per `FLUSH_AT` executions): one row rewrite per touched bucket instead of one
//! B-tree insert per execution. A bucket holds ~150 entries (2.4 KiB) at 10 M
//! executions, ~1,500 (24 KiB) at 100 M, where a full flush costs about what per-key
//! inserts did.
//!
//! In memory: a Bloom filter over every stored and pending key answers "certainly new"
//! for almost every execution without touching the table.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use redb::{ReadableTable, Table};

use super::LogError;
use super::exec_filter::ExecFilter;
use super::tables::EXECUTIONS;
use crate::event::{ExecId, Seq, Venue};

/// Pending executions before a flush is forced, whatever the caller's commit rhythm
/// (~16 MiB of map). Each flush rewrites nearly every bucket, so fewer flushes mean
/// less written; the bound is the import's memory (under 200 MB).
pub const FLUSH_AT: usize = 1 << 19;

/// Bytes per stored entry.
const ENTRY: usize = 16;

/// The bucket (table key) of an execution key.
fn bucket(key: u64) -> u16 {
    (key >> 48) as u16
}

/// The execution index key: 64 bits of `blake3(venue ‖ 0 ‖ exec_id)`.
pub fn execution_key(venue: &Venue, exec_id: &ExecId) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(venue.as_str().as_bytes());
    h.update(&[0]);
    h.update(exec_id.as_str().as_bytes());
    let bytes = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&bytes.as_bytes()[..8]);
    u64::from_le_bytes(first)
}

/// The writer's view of the index: the filter, and executions not yet in the table.
#[derive(Debug)]
pub struct ExecIndex {
    filter: ExecFilter,
    pending: HashMap<u64, Seq, BuildHasherDefault<KeyHasher>>,
    /// Pending executions whose key is already pending for another execution (a 64-bit
    /// collision: practically never, but never lost).
    collided: Vec<(u64, Seq)>,
}

impl ExecIndex {
    /// The index of a ledger, its filter built from the stored buckets.
    pub fn load(read: &redb::ReadTransaction) -> Result<ExecIndex, LogError> {
        let table = read.open_table(EXECUTIONS)?;
        let mut stored = 0u64;
        for row in table.iter()? {
            let (bucket, value) = row?;
            stored += entries(bucket.value(), value.value())?.len() as u64;
        }
        let mut filter = ExecFilter::with_capacity(stored);
        for row in table.iter()? {
            let (bucket, value) = row?;
            for (key, _) in entries(bucket.value(), value.value())? {
                filter.insert(key);
            }
        }
        Ok(ExecIndex {
            filter,
            pending: HashMap::default(),
            collided: Vec::new(),
        })
    }

    /// Warm the cache for these keys' filter probes (see `ExecFilter::warm`): for a
    /// few executions of a batch, just before they are checked one by one.
    pub fn warm(&self, keys: impl Iterator<Item = u64> + Clone) {
        self.filter.warm(keys.clone());
        // And their slots in `pending`, which `insert` probes next: independent
        // lookups, so their misses overlap too.
        for key in keys {
            std::hint::black_box(self.pending.get(&key));
        }
    }

    /// Seqs of the executions stored or pending under `key` (usually none).
    pub fn candidates(&self, table: &Table<u16, &[u8]>, key: u64) -> Result<Vec<Seq>, LogError> {
        if !self.filter.may_contain(key) {
            return Ok(Vec::new());
        }
        let mut seqs: Vec<Seq> = self.pending.get(&key).copied().into_iter().collect();
        seqs.extend(
            self.collided
                .iter()
                .filter(|(k, _)| *k == key)
                .map(|&(_, s)| s),
        );
        if let Some(row) = table.get(bucket(key))? {
            let found = entries(bucket(key), row.value())?;
            let start = found.partition_point(|&(k, _)| k < key);
            seqs.extend(
                found[start..]
                    .iter()
                    .take_while(|(k, _)| *k == key)
                    .map(|e| e.1),
            );
        }
        Ok(seqs)
    }

    /// Record a new execution; it reaches the table at the next flush.
    pub fn insert(
        &mut self,
        table: &mut Table<u16, &[u8]>,
        key: u64,
        seq: Seq,
    ) -> Result<(), LogError> {
        if let Some(&other) = self.pending.get(&key) {
            if other != seq {
                self.collided.push((key, seq));
            }
        } else {
            self.pending.insert(key, seq);
        }
        self.filter.insert(key);
        if self.filter.is_full() {
            self.rebuild_filter(table)?;
        }
        if self.pending.len() >= FLUSH_AT {
            self.flush(table)?;
        }
        Ok(())
    }

    /// Merge every pending execution into its bucket, in bucket order.
    pub fn flush(&mut self, table: &mut Table<u16, &[u8]>) -> Result<(), LogError> {
        if self.pending.is_empty() && self.collided.is_empty() {
            return Ok(());
        }
        let mut rows: Vec<(u64, Seq)> = self.pending.drain().collect();
        rows.append(&mut self.collided);
        rows.sort_unstable();
        let mut merged = Vec::new();
        for group in rows.chunk_by(|a, b| bucket(a.0) == bucket(b.0)) {
            let b = bucket(group[0].0);
            merged.clear();
            match table.get(b)? {
                Some(row) => merge(&entries(b, row.value())?, group, &mut merged),
                None => merge(&[], group, &mut merged),
            }
            table.insert(b, merged.as_slice())?;
        }
        Ok(())
    }

    /// Forget pending executions (their transaction was aborted). The filter keeps
    /// their keys: it may only over-approximate, never miss.
    pub fn discard_pending(&mut self) {
        self.pending.clear();
        self.collided.clear();
    }

    /// Number of pending executions.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.pending.len() + self.collided.len()
    }

    fn rebuild_filter(&mut self, table: &Table<u16, &[u8]>) -> Result<(), LogError> {
        let mut bigger = ExecFilter::with_capacity(self.filter.len() * 2);
        for row in table.iter()? {
            let (bucket, value) = row?;
            for (key, _) in entries(bucket.value(), value.value())? {
                bigger.insert(key);
            }
        }
        for key in self
            .pending
            .keys()
            .chain(self.collided.iter().map(|(k, _)| k))
        {
            bigger.insert(*key);
        }
        self.filter = bigger;
        Ok(())
    }
}

/// Decode a bucket row; a damaged one is reported, not trusted.
fn entries(bucket: u16, bytes: &[u8]) -> Result<Vec<(u64, Seq)>, LogError> {
    if bytes.len() % ENTRY != 0 {
        return Err(LogError::Corrupt {
            seq: 0,
            detail: format!(
                "executions bucket {bucket}: {} bytes is not a whole number of entries",
                bytes.len()
            ),
        });
    }
    let read = |b: &[u8]| {
        let mut word = [0u8; 8];
        word.copy_from_slice(b);
        u64::from_le_bytes(word)
    };
    Ok(bytes
        .chunks_exact(ENTRY)
        .map(|e| (read(&e[..8]), read(&e[8..])))
        .collect())
}

/// Merge two sorted entry lists into `out`, encoded.
fn merge(stored: &[(u64, Seq)], new: &[(u64, Seq)], out: &mut Vec<u8>) {
    out.reserve((stored.len() + new.len()) * ENTRY);
    let (mut i, mut j) = (0, 0);
    while i < stored.len() || j < new.len() {
        let take_stored = j == new.len() || (i < stored.len() && stored[i] <= new[j]);
        let (key, seq) = match take_stored {
            true => {
                i += 1;
                stored[i - 1]
            }
            false => {
                j += 1;
                new[j - 1]
            }
        };
        out.extend_from_slice(&key.to_le_bytes());
        out.extend_from_slice(&seq.to_le_bytes());
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
    use redb::ReadableDatabase;

    fn spread(i: u64) -> u64 {
        i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    fn setup() -> (tempfile::NamedTempFile, redb::Database) {
        let file = tempfile::NamedTempFile::new().unwrap();
        let db = redb::Database::create(file.path()).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(EXECUTIONS).unwrap();
        txn.commit().unwrap();
        (file, db)
    }

    #[test]
    fn executions_are_found_pending_and_after_flushes() {
        let (_file, db) = setup();
        let mut index = ExecIndex::load(&db.begin_read().unwrap()).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(EXECUTIONS).unwrap();
            for i in 0..3_000u64 {
                index.insert(&mut table, spread(i), i + 1).unwrap();
                if i == 1_000 {
                    index.flush(&mut table).unwrap();
                }
            }
            assert_eq!(
                index.candidates(&table, spread(2_500)).unwrap(),
                vec![2_501]
            );
            assert_eq!(index.candidates(&table, spread(10)).unwrap(), vec![11]);
            index.flush(&mut table).unwrap();
            assert_eq!(index.pending(), 0);
        }
        txn.commit().unwrap();
        let index = ExecIndex::load(&db.begin_read().unwrap()).unwrap();
        let txn = db.begin_write().unwrap();
        let table = txn.open_table(EXECUTIONS).unwrap();
        for i in 0..3_000u64 {
            assert_eq!(index.candidates(&table, spread(i)).unwrap(), vec![i + 1]);
        }
        let absent = (3_000..13_000u64)
            .filter(|&i| !index.candidates(&table, spread(i)).unwrap().is_empty())
            .count();
        assert_eq!(absent, 0, "a key never inserted was found");
    }

    #[test]
    fn colliding_keys_keep_every_execution() {
        let (_file, db) = setup();
        let mut index = ExecIndex::load(&db.begin_read().unwrap()).unwrap();
        let txn = db.begin_write().unwrap();
        let mut table = txn.open_table(EXECUTIONS).unwrap();
        index.insert(&mut table, 42, 1).unwrap();
        index.insert(&mut table, 42, 2).unwrap();
        let mut seqs = index.candidates(&table, 42).unwrap();
        seqs.sort_unstable();
        assert_eq!(seqs, vec![1, 2]);
        index.flush(&mut table).unwrap();
        index.insert(&mut table, 42, 3).unwrap();
        let mut seqs = index.candidates(&table, 42).unwrap();
        seqs.sort_unstable();
        assert_eq!(seqs, vec![1, 2, 3]);
    }

    #[test]
    fn a_damaged_bucket_is_an_error() {
        let err = entries(7, &[0u8; 17]).unwrap_err().to_string();
        assert!(err.contains("executions bucket 7"), "{err}");
    }

    #[test]
    fn merge_keeps_order() {
        let mut out = Vec::new();
        merge(&[(1, 1), (5, 2)], &[(0, 9), (5, 3), (7, 4)], &mut out);
        let got = entries(0, &out).unwrap();
        assert_eq!(got, vec![(0, 9), (1, 1), (5, 2), (5, 3), (7, 4)]);
    }
}
