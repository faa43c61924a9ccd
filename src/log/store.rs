//! Opening a ledger file: creating it, checking it is a ledger of a format this build
//! reads, and handing out readers and the writer.
//!
//! redb does not verify page checksums on ordinary reads; the blake3 chain is the
//! read-time integrity check, which is why readers verify what they return.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadOnlyDatabase, ReadableDatabase, ReadableTableMetadata};

use super::tables::{
    BLOCKS, CHAIN, CHECKPOINTS, EXECUTIONS, IDENTITY, LEDGER_FORMAT, META, POSITIONS, SESSIONS,
    SUBMITTED,
};
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

/// How processes share a ledger file: one writer (a session, an import), and any
/// number of read-only opens beside it (`audit`, `replay`, `stats`, … while a session
/// runs) that see its committed prefix. redb's `SingleWriter` mode takes byte-range
/// locks; a second writer is refused (`LogError::Locked`), as before. Every open uses
/// it: redb's modes do not mix on one file.
const CONCURRENCY: redb::ConcurrencyMode = redb::ConcurrencyMode::SingleWriter;

/// Whether opening may create the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the ledger when the file does not exist.
    CreateIfMissing,
    /// The ledger must exist.
    Existing,
}

/// An open ledger database. Cheap to clone; one process writes the file at a time,
/// and any number read it beside the writer.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

struct Inner {
    db: Handle,
    path: PathBuf,
}

/// How the file is open: for writing (one process holds it), or read-only (a file
/// or directory the user may not write is still readable, and readers never change it).
enum Handle {
    Write(Database),
    Read(ReadOnlyDatabase),
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

    /// Open an existing ledger read-only to read it through once (see
    /// `SCAN_CACHE_BYTES`): a file the user may only read opens, and nothing is written.
    /// A ledger whose last writer was killed before redb could record its allocator
    /// state needs a repair, which only a writable open does: that is tried when the
    /// file is writable, else the error says what to do.
    pub fn open_to_read(path: &Path) -> Result<Ledger, LogError> {
        check_existing(path)?;
        let mut builder = redb::Builder::new();
        builder
            .set_cache_size(SCAN_CACHE_BYTES)
            .set_concurrency_mode(CONCURRENCY);
        let db = match builder.open_read_only(path) {
            Ok(db) => Handle::Read(db),
            Err(redb::DatabaseError::RepairAborted) if is_writable(path) => {
                return Self::open_with_cache(path, OpenMode::Existing, SCAN_CACHE_BYTES);
            }
            Err(redb::DatabaseError::RepairAborted) => {
                return Err(LogError::NotALedger {
                    path: path.to_path_buf(),
                    detail: "its last writer stopped before recording its state; it needs a \
                             repair, which needs write access: open it once with a command \
                             that writes (e.g. `ledger compact`) as a user who may write it"
                        .into(),
                });
            }
            Err(e) => return Err(open_error(path, e)),
        };
        let ledger = Ledger {
            inner: Arc::new(Inner {
                db,
                path: path.to_path_buf(),
            }),
        };
        ledger.check()?;
        Ok(ledger)
    }

    fn open_with_cache(
        path: &Path,
        mode: OpenMode,
        cache_bytes: usize,
    ) -> Result<Ledger, LogError> {
        let exists = match mode {
            OpenMode::Existing => check_existing(path).map(|()| true)?,
            OpenMode::CreateIfMissing => match std::fs::metadata(path) {
                Ok(_) => check_existing(path).map(|()| true)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                Err(source) => return Err(LogError::io(path, source)),
            },
        };
        let mut builder = redb::Builder::new();
        builder
            .set_cache_size(cache_bytes)
            .set_concurrency_mode(CONCURRENCY);
        let opened = if exists {
            builder.open(path)
        } else {
            builder.create(path)
        };
        let db = opened.map_err(|e| open_error(path, e))?;
        let ledger = Ledger {
            inner: Arc::new(Inner {
                db: Handle::Write(db),
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
            inner: Arc::new(Inner {
                db: Handle::Write(db),
                path,
            }),
        };
        ledger.init_or_check()?;
        Ok(ledger)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The redb handle for writing; an error when the ledger was opened read-only.
    pub(crate) fn db(&self) -> Result<&Database, LogError> {
        match &self.inner.db {
            Handle::Write(db) => Ok(db),
            Handle::Read(_) => Err(LogError::ReadOnly {
                path: self.inner.path.clone(),
            }),
        }
    }

    /// A redb read transaction.
    pub(crate) fn begin_read(&self) -> Result<redb::ReadTransaction, LogError> {
        Ok(match &self.inner.db {
            Handle::Write(db) => db.begin_read()?,
            Handle::Read(db) => db.begin_read()?,
        })
    }

    /// A consistent read-only view of the log as of now.
    pub fn reader(&self) -> Result<Reader, LogError> {
        Reader::new(self.begin_read()?)
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
        let Handle::Write(db) = &mut inner.db else {
            return Err(LogError::ReadOnly { path });
        };
        db.compact()
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

    /// Check the ledger's tables, creating them in a new (empty) file.
    fn init_or_check(&self) -> Result<(), LogError> {
        match self.check() {
            Err(LogError::Uninitialized) => self.create_tables(),
            other => other,
        }
    }

    /// Check that this is a ledger of the format this build reads.
    fn check(&self) -> Result<(), LogError> {
        let path = self.path().to_path_buf();
        let read = self.begin_read()?;
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
            return Err(match self.inner.db {
                Handle::Write(_) => LogError::Uninitialized,
                Handle::Read(_) => LogError::NotALedger {
                    path,
                    detail: "an empty redb database".into(),
                },
            });
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
        let mut txn = self.db()?.begin_write()?;
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
            txn.open_table(IDENTITY)?;
            txn.open_table(SESSIONS)?;
            txn.open_table(SUBMITTED)?;
        }
        txn.commit()?;
        Ok(())
    }
}

/// An existing file that starts like a redb database. A missing file, a directory or
/// an unreadable file is an I/O problem (exit 1), never "corrupted".
fn check_existing(path: &Path) -> Result<(), LogError> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LogError::Missing {
                path: path.to_path_buf(),
            });
        }
        Err(source) => return Err(LogError::io(path, source)),
    };
    if meta.is_dir() {
        return Err(LogError::NotALedger {
            path: path.to_path_buf(),
            detail: "a directory".into(),
        });
    }
    let mut head = [0u8; 4];
    let read = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head));
    match read {
        Ok(()) if head == REDB_MAGIC => Ok(()),
        Ok(()) => Err(LogError::NotALedger {
            path: path.to_path_buf(),
            detail: "not a redb database".into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(LogError::NotALedger {
            path: path.to_path_buf(),
            detail: "too short to be a redb database".into(),
        }),
        Err(source) => Err(LogError::io(path, source)),
    }
}

/// Whether this process may open `path` for writing.
fn is_writable(path: &Path) -> bool {
    std::fs::OpenOptions::new().write(true).open(path).is_ok()
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
        // Permissions, a missing directory, a full disk: the file is not the problem
        // (a short read is: the file was cut).
        redb::DatabaseError::Storage(redb::StorageError::Io(source))
            if !matches!(
                source.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
            ) =>
        {
            LogError::Io { path, source }
        }
        other => LogError::Damaged {
            path,
            detail: format!("redb cannot open it: {other}"),
        },
    }
}
