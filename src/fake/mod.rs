//! Loopback fakes of the venues, speaking their real wire formats: what the live
//! adapters are tested against (tests never touch the internet), and what
//! `ledger fake-venue` serves so a user can rehearse a live setup offline.
//!
//! Written apart from the adapters (`crate::venue`) on purpose: a fake sharing the
//! client's parsers or signing would agree with their bugs. It may read the wall clock
//! (it plays the venue); nothing in the reducer, strategy or executor depends on it.

pub mod bybit;
