//! The event log in redb: blocks of events chained by blake3, the single writer with
//! group commit, consistent readers, the position and execution indexes, projection
//! checkpoints, verification, and comparing two logs.
//!
//! Boundary: knows the event codec and the reducer (to keep checkpoints and refuse
//! events that do not apply); knows nothing of strategies, venues or the CLI.

mod appender;
pub mod block;
mod decisions;
mod diff;
mod error;
mod exec_filter;
mod exec_index;
pub mod identity;
mod position;
mod reader;
mod replay;
mod store;
mod submitted;
pub mod tables;
mod verify;
mod writer;

pub use appender::{Appender, PendingAppend};
pub use block::{BlockHeader, Hash};
pub use decisions::{
    DecisionCounts, DecisionDiff, DecisionDifference, diff_decisions, is_decision,
};
pub use diff::{DiffError, DiffSide, Difference, LogDiff, diff};
pub use error::LogError;
pub use position::{ProvenEvent, position_events};
pub use reader::{Checkpoint, Head, Reader, SessionMark, decode_record, for_each_record};
pub use replay::{Replayed, fold, load_checkpoint, projection_at, replay};
pub use store::{Ledger, OpenMode};
pub use verify::{VerifyReport, verify};
pub use writer::{AppendOutcome, DEFAULT_CHECKPOINT_EVERY, Prepared, Writer, WriterOptions};
