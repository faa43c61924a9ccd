//! The redb table layout. People read these files with their own tools, so this is
//! documented in ARCHITECTURE.md too; change both together and bump `LEDGER_FORMAT`.

use redb::TableDefinition;

/// Version of the table layout (not of the event encoding, see `codec::FORMAT_VERSION`).
pub const LEDGER_FORMAT: u16 = 2;

/// `"magic"` → `b"ledger"`, `"format"` → `LEDGER_FORMAT` (u16 LE).
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// First seq of a block → the block body: its events, each `varint len ‖ bincode(Event)`.
pub const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");

/// First seq of a block → its 110-byte header (count, format, prev/body/block hashes).
/// Kept apart from the bodies so the whole chain can be walked without reading them.
pub const CHAIN: TableDefinition<u64, &[u8]> = TableDefinition::new("chain");

/// `(position key, block first seq)` → offsets (varint deltas) of that position's
/// events inside the block: `audit` reads only the blocks it needs.
pub const POSITIONS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("positions");

/// Bucket (top 16 bits of the execution key, the first 8 bytes LE of
/// `blake3(venue ‖ 0 ‖ exec_id)`) → its entries `key u64 LE ‖ seq u64 LE`, sorted.
/// See `exec_index.rs` for why.
pub const EXECUTIONS: TableDefinition<u16, &[u8]> = TableDefinition::new("executions");

/// Seq → `projection hash (32 bytes) ‖ codec(Projection)`, the state after that seq.
pub const CHECKPOINTS: TableDefinition<u64, &[u8]> = TableDefinition::new("checkpoints");

/// Identity segment index `k` → `c(k+1)`, the 32-byte chained digest of the events
/// `1 ..= (k+1)·SEGMENT_EVENTS` (see `identity.rs`). Derived from the events: a ledger
/// written before this table existed gets its rows from the writer on open.
pub const IDENTITY: TableDefinition<u64, &[u8]> = TableDefinition::new("identity");

/// Seq of a session event → `1` for `session_started`, `0` for `session_stopped`. Tiny
/// (two rows a session), so a restart learns whether the last session ended without
/// reading the log. Derived from the events: a ledger from before this table gets its
/// rows from the writer on open.
pub const SESSIONS: TableDefinition<u64, u8> = TableDefinition::new("sessions");

/// Client order id → seq of its latest `order_submitted`. Every id the ledger ever
/// submitted, so a restart learns them (a venue reports executions for days, longer
/// than the projection keeps ended orders) without scanning the log. Derived from the
/// events, written in the same transaction as them: a ledger from before this table
/// gets its rows from the writer on open (`submitted.rs`).
pub const SUBMITTED: TableDefinition<&str, u64> = TableDefinition::new("submitted");
