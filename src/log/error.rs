//! Errors of the log: every variant says where (path, seq) and what went wrong.

use std::path::PathBuf;

use crate::event::Seq;
use crate::reduce::ReduceError;

/// A failure to open, read, write or verify a ledger.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Another process has the database open.
    #[error("{path}: held by another running ledger process (redb file lock)")]
    Locked {
        /// The database file.
        path: PathBuf,
    },
    /// The file is not a ledger database at all.
    #[error("{path}: not a ledger database ({detail})")]
    NotALedger {
        /// The database file.
        path: PathBuf,
        /// What was found instead.
        detail: String,
    },
    /// Written by an older `ledger` whose table layout this build does not read.
    #[error(
        "{path}: ledger format {found} was written by an older build; this build reads format {supported} (export it with the older build and import the JSON Lines here)"
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
        "{path}: ledger format {found} is newer than this build supports ({supported}); upgrade ledger"
    )]
    NewerFormat {
        /// The database file.
        path: PathBuf,
        /// Format in the file.
        found: u16,
        /// Newest format this build reads.
        supported: u16,
    },
    /// There is no ledger at the path.
    #[error("{path}: no ledger here (create one with `ledger import` or `ledger run`)")]
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
