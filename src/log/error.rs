//! Errors of the log: every variant says where (path, seq) and what went wrong.

use std::path::PathBuf;

use crate::event::Seq;
use crate::reduce::ReduceError;

/// A failure to open, read, write or verify a ledger.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Another process has the database open.
    #[error("{}: held by another running ledger process (redb file lock)", path.display())]
    Locked {
        /// The database file.
        path: PathBuf,
    },
    /// The file is not a ledger database at all.
    #[error("{}: not a ledger database ({detail})", path.display())]
    NotALedger {
        /// The database file.
        path: PathBuf,
        /// What was found instead.
        detail: String,
    },
    /// Written by an older `ledger` whose table layout this build does not read.
    #[error(
        "{}: ledger format {found} was written by an older build; this build reads format {supported} (export it with the older build and import the JSON Lines here)",
        path.display()
    )]
    OlderFormat {
        /// The database file.
        path: PathBuf,
        /// Format in the file.
        found: u16,
        /// The format this build reads.
        supported: u16,
    },
    /// Written by a newer `ledger`.
    #[error(
        "{}: ledger format {found} is newer than this build supports ({supported}); upgrade ledger",
        path.display()
    )]
    NewerFormat {
        /// The database file.
        path: PathBuf,
        /// Format in the file.
        found: u16,
        /// Newest format this build reads.
        supported: u16,
    },
    /// The file could not be opened, read or created: permissions, a missing
    /// directory, a full disk. Not corruption: the data may well be fine.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// A write was asked of a ledger opened read-only.
    #[error("{}: opened read-only; this command cannot write to it", path.display())]
    ReadOnly {
        /// The file.
        path: PathBuf,
    },
    /// redb cannot open the file: its own structures are damaged.
    #[error("{}: damaged ledger file: {detail}", path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What redb said.
        detail: String,
    },
    /// A new, empty database: its tables are to be created (internal to opening).
    #[error("the ledger has no tables yet")]
    Uninitialized,
    /// There is no ledger at the path.
    #[error(
        "{}: no ledger here (create one with `ledger import` or `ledger run`)",
        path.display()
    )]
    Missing {
        /// The database file.
        path: PathBuf,
    },
    /// The stored data does not prove itself: a hash, a length or a record is wrong.
    #[error("corrupted ledger at seq {seq}: {detail}")]
    Corrupt {
        /// First seq known to be affected (the block's first seq for block damage).
        seq: Seq,
        /// What does not hold.
        detail: String,
    },
    /// redb reported an error.
    #[error("storage error: {0}")]
    Storage(String),
    /// An event does not apply to the projection (broken order transition, overflow).
    #[error(transparent)]
    Reduce(#[from] ReduceError),
    /// An event could not be encoded.
    #[error("cannot encode event for seq {seq}: {detail}")]
    Encode {
        /// The seq it would have had.
        seq: Seq,
        /// Why.
        detail: String,
    },
    /// A commit failed earlier; the writer accepts nothing until the ledger is reopened.
    #[error("the writer stopped after a failed commit ({0}); reopen the ledger")]
    WriterStopped(String),
}

impl LogError {
    /// An I/O failure on `path`.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> LogError {
        LogError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// True when the ledger's data does not prove itself (exit code 3), as opposed to
    /// a failure to reach it (permissions, a lock, a missing file).
    /// Where the problem is (`seq N` or the file), for machine-readable errors.
    pub fn location(&self) -> Option<String> {
        match self {
            LogError::Corrupt { seq, .. } | LogError::Encode { seq, .. } => {
                Some(format!("seq {seq}"))
            }
            LogError::Locked { path }
            | LogError::NotALedger { path, .. }
            | LogError::OlderFormat { path, .. }
            | LogError::NewerFormat { path, .. }
            | LogError::Io { path, .. }
            | LogError::ReadOnly { path }
            | LogError::Damaged { path, .. }
            | LogError::Missing { path } => Some(path.display().to_string()),
            _ => None,
        }
    }

    pub fn is_corruption(&self) -> bool {
        matches!(self, LogError::Corrupt { .. } | LogError::Damaged { .. })
    }
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for LogError {
            fn from(e: $t) -> LogError {
                let text = e.to_string();
                if text.contains("orrupt") {
                    LogError::Corrupt { seq: 0, detail: format!("redb: {text}") }
                } else {
                    LogError::Storage(text)
                }
            }
        }
    )*};
}

storage_from!(
    redb::StorageError,
    redb::TransactionError,
    redb::TableError,
    redb::CommitError,
    redb::SetDurabilityError
);
