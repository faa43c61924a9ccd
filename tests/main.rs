//! Integration tests: one binary, a file per subcommand, plus crash, corruption,
//! bad-input and round-trip files. They run the real `ledger` binary on fixtures in
//! `replay/` and on files they write, in temporary directories.

mod support;

mod audit;
mod backtest;
mod bad_input;
mod bybit_backend;
mod corruption;
mod crash;
mod diff;
mod display;
mod fake_bybit;
mod funding;
mod import_export;
mod in_flight;
mod ingest;
mod integrity;
mod live;
mod live_reads;
mod outbox;
mod paper;
mod replay;
mod report;
mod reversal;
mod stats;
mod strategy_lags;
mod submit_crash;
mod trust;
mod verify;
