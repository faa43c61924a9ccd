//! `ledger`: an event-sourced trading ledger.
//!
//! Every market tick, decision, order transition and fill is appended to a blake3
//! hash-chained event log in an embedded redb database; positions, orders and PnL are
//! pure projections (a fold) of that log.
//!
//! # Layout, in the order data flows
//!
//! * [`event`]: the contract — payload kinds, exact decimals, time, ids, codec, JSON.
//! * [`ingest`]: market data files → market events; gaps; bar aggregation; samples.
//! * [`log`]: the redb store — blocks of events chained by blake3, single writer with
//!   group commit, readers, indexes, checkpoints, verification.
//! * [`reduce`]: the pure fold from events to a [`reduce::Projection`].
//! * [`report`]: the pure fold from events to an equity curve and its metrics
//!   (drawdown, Sharpe, Sortino, win rate, exposure) and a chart.
//! * [`strategy`]: the pure PM core — indicators, multi-timeframe features, the
//!   `Strategy` trait and YAML plays; bars and a position in, intents out.
//! * [`executor`]: intent → plan or skip under each venue's rules (market hours, tick and
//!   lot size, minimums, leverage and funding gates, reduce-only exits, rate limits).
//! * [`backend`]: the async `ExecutionBackend` contract and the deterministic simulated
//!   exchange that answers requests with the same report events a venue sends.
//! * [`feed`]: live market data: venue WebSockets → market events, with bounded queues.
//! * [`reconcile`]: the projection against a venue's snapshot → drift and correction
//!   events; pure.
//! * [`venue`]: pure venue wire layers (Bybit v5): signing, REST requests and results,
//!   WS frames → market and report events; no I/O.
//! * [`yaml_file`]: reading the YAML settings files (plays, venue rules) with errors
//!   that name the file, line and field.
//! * [`cli`]: one file per subcommand; `cli::output` is the only printer.

pub mod backend;
pub mod engine;
pub mod event;
pub mod executor;
pub mod fake;
pub mod feed;
pub mod ingest;
pub mod log;
pub mod reconcile;
pub mod reduce;
pub mod report;
pub mod strategy;
pub mod venue;
pub mod wall_clock;
pub mod yaml_file;

pub mod cli;

/// Install rustls' ring provider as the process default, once. reqwest and
/// tokio-tungstenite are built without a provider of their own (no aws-lc C build), so
/// anything that opens an HTTPS or WSS connection, or builds an HTTP client, calls this
/// first. Idempotent: a second call, or a provider installed by someone else, is fine.
pub fn install_crypto() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // `Err` means a default is already installed, which is all we need. ring's
        // provider is deprecated for lacking post-quantum key exchange; venues do not
        // offer it yet, and it spares the build aws-lc's C toolchain.
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
