//! Venue wire layers: pure translation between a venue's JSON and the ledger's events.
//!
//! Boundary: no sockets, no HTTP client, no clock reads, no randomness. Every time is an
//! argument and every input is bytes or text the caller received; the live runtime owns
//! the I/O and hands frames in. Wire types never leave their venue's module.

pub mod bybit;
