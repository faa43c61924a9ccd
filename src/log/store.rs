//! Opening a ledger file: creating it, checking it is a ledger of a format this build
//! reads, and handing out readers and the writer.
//!
//! redb does not verify page checksums on ordinary reads; the blake3 chain is the
//! read-time integrity check, which is why readers verify what they return.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTableMetadata};

use super::tables::{BLOCKS, CHAIN, CHECKPOINTS, EXECUTIONS, LEDGER_FORMAT, META, POSITIONS};
use super::{LogError, Reader};

/// The first bytes of every redb file.
const REDB_MAGIC: &[u8] = b"redb";

/// redb page cache of a ledger that is written. 64 MiB holds the hot part of the
/// indexes without letting a 10 M-event import grow past ~200 MB resident.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// redb page cache of a trading or backtest session's ledger (`open_for_session`).
/// A session appends at the right edge of every table and looks up few executions;
/// those pages fit in a few MiB. With 64 MiB the cache would only fill up over a long
/// run and make its memory look like it grows with the run (measured: same speed at
/// 4 MiB as at 64 MiB on the year-long backtest).
const SESSION_CACHE_BYTES: usize = 8 * 1024 * 1024;

/// redb page cache of a ledger opened to scan (`open_to_read`). Commands that read
/// each block once (replay, export, verify, audit, diff) gain nothing from caching
/// blocks, and a large cache costs them: every block read lands in fresh memory the
/// cache holds on to (page faults were ~40% of an audit's time at 64 MiB).
const SCAN_CACHE_BYTES: usize = 4 * 1024 * 1024;

/// Whether opening may create the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the ledger when the file does not exist.
    CreateIfMissing,
    /// The ledger must exist.
    Existing,
}

/// An open ledger database. Cheap to clone; one process holds the file at a time.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    path: PathBuf,
}

impl Ledger {
    /// Open (or create) the ledger at `path`.
    pub fn open(path: &Path, mode: OpenMode) -> Result<Ledger, LogError> {
        Self::open_with_cache(path, mode, CACHE_BYTES)
    }

    /// Open (or create) the ledger a session appends to (see `SESSION_CACHE_BYTES`).
    pub fn open_for_session(path: &Path) -> Result<Ledger, LogError> {
        Self::open_with_cache(path, OpenMode::CreateIfMissing, SESSION_CACHE_BYTES)
    }

    /// Open an existing ledger to read it through once (see `SCAN_CACHE_BYTES`).
    /// Writing to it works, only with a small cache.
    pub fn open_to_read(path: &Path) -> Result<Ledger, LogError> {
        Self::open_with_cache(path, OpenMode::Existing, SCAN_CACHE_BYTES)
    }

    fn open_with_cache(
        path: &Path,
        mode: OpenMode,
        cache_bytes: usize,
    ) -> Result<Ledger, LogError> {
        let exists = path.exists();
        if !exists && mode == OpenMode::Existing {
            return Err(LogError::Missing {
                path: path.to_path_buf(),
            });
        }
        if exists {
            check_redb_magic(path)?;
        }
        let mut builder = redb::Builder::new();
        builder.set_cache_size(cache_bytes);
        let opened = if exists {
            builder.open(path)
        } else {
            builder.create(path)
        };
        let db = opened.map_err(|e| open_error(path, e))?;
        let ledger = Ledger {
            inner: Arc::new(Inner {
                db,
                path: path.to_path_buf(),
            }),
        };
        ledger.init_or_check()?;
        Ok(ledger)
    }

    /// A new ledger on a custom redb storage backend (tests inject I/O failures).
    #[cfg(test)]
    pub(crate) fn create_with_backend(
        backend: impl redb::StorageBackend,
    ) -> Result<Ledger, LogError> {
        let path = PathBuf::from("(test backend)");
        let db = redb::Builder::new()
            .create_with_backend(backend)
            .map_err(|e| open_error(&path, e))?;
        let ledger = Ledger {
            inner: Arc::new(Inner { db, path }),
        };
        ledger.init_or_check()?;
        Ok(ledger)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The redb handle, for the writer and readers of this module.
    pub(crate) fn db(&self) -> &Database {
        &self.inner.db
    }

    /// A consistent read-only view of the log as of now.
    pub fn reader(&self) -> Result<Reader, LogError> {
        Reader::new(self.inner.db.begin_read()?)
    }

    /// Rewrite the file without the free space earlier transactions left behind.
    /// Needs the only handle to the ledger (no reader or writer alive); returns the
    /// sizes before and after.
    pub fn compact(self) -> Result<(u64, u64), LogError> {
        let before = self.file_size();
        let path = self.inner.path.clone();
        let mut inner = Arc::try_unwrap(self.inner).map_err(|_| {
            LogError::Storage(format!("{}: still in use; cannot compact", path.display()))
        })?;
        inner
            .db
            .compact()
            .map_err(|e| LogError::Storage(format!("compacting {}: {e}", path.display())))?;
        drop(inner);
        let after = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        Ok((before, after))
    }

    /// Size of the database file in bytes.
    pub fn file_size(&self) -> u64 {
        std::fs::metadata(&self.inner.path)
            .map(|m| m.len())
            .unwrap_or(0)
    }

    fn init_or_check(&self) -> Result<(), LogError> {
        let path = self.path().to_path_buf();
        let read = self.inner.db.begin_read()?;
        let meta = match read.open_table(META) {
            Ok(t) => Some(t),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(e.into()),
        };
        let Some(meta) = meta else {
            let tables = read.list_tables()?.count();
            if tables > 0 {
                return Err(LogError::NotALedger {
                    path,
                    detail: "a redb database without ledger tables".into(),
                });
            }
            drop(read);
            return self.create_tables();
        };
        let magic = meta.get("magic")?.map(|v| v.value().to_vec());
        if magic.as_deref() != Some(b"ledger") {
            return Err(LogError::NotALedger {
                path,
                detail: "missing ledger magic".into(),
            });
        }
        let format = meta
            .get("format")?
            .and_then(|v| v.value().try_into().ok().map(u16::from_le_bytes))
            .ok_or_else(|| LogError::NotALedger {
                path: path.clone(),
                detail: "no format".into(),
            })?;
        if format < LEDGER_FORMAT {
            return Err(LogError::OlderFormat {
                path,
                found: format,
                supported: LEDGER_FORMAT,
            });
        }
        if format > LEDGER_FORMAT {
            return Err(LogError::NewerFormat {
                path,
                found: format,
                supported: LEDGER_FORMAT,
            });
        }
        let _ = meta.len()?;
        Ok(())
    }

    fn create_tables(&self) -> Result<(), LogError> {
        let mut txn = self.inner.db.begin_write()?;
        txn.set_quick_repair(true);
        {
            let mut meta = txn.open_table(META)?;
            meta.insert("magic", &b"ledger"[..])?;
            meta.insert("format", &LEDGER_FORMAT.to_le_bytes()[..])?;
            txn.open_table(BLOCKS)?;
            txn.open_table(CHAIN)?;
            txn.open_table(POSITIONS)?;
            txn.open_table(EXECUTIONS)?;
            txn.open_table(CHECKPOINTS)?;
        }
        txn.commit()?;
        Ok(())
    }
}

fn check_redb_magic(path: &Path) -> Result<(), LogError> {
    let mut head = [0u8; 4];
    let read = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head));
    match read {
        Ok(()) if head == REDB_MAGIC => Ok(()),
        Ok(()) => Err(LogError::NotALedger {
            path: path.to_path_buf(),
            detail: "not a redb database".into(),
        }),
        Err(e) => Err(LogError::NotALedger {
            path: path.to_path_buf(),
            detail: format!("cannot read its header: {e}"),
        }),
    }
}

fn open_error(path: &Path, e: redb::DatabaseError) -> LogError {
    let path = path.to_path_buf();
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen => LogError::Locked { path },
        redb::DatabaseError::UpgradeRequired(v) => LogError::NotALedger {
            path,
            detail: format!("redb file format {v} needs an upgrade"),
        },
        redb::DatabaseError::Storage(redb::StorageError::Io(io))
            if io.kind() == std::io::ErrorKind::WouldBlock =>
        {
            LogError::Locked { path }
        }
        other => LogError::Corrupt {
            seq: 0,
            detail: format!("{}: redb cannot open it: {other}", path.display()),
        },
    }
}
