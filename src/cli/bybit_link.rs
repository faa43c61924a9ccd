//! Linking a ledger to Bybit, for `run --mode live` and `reconcile`: the endpoints
//! (testnet unless `--mainnet`; `--rest-url`/`--ws-url` win), the keys (a 0600 file or
//! the environment), and a backend that knows the ledger's orders before it hears
//! anything from the venue.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::backend::bybit::{BybitBackend, BybitConfig, Keys};
use crate::log::{Ledger, Writer};

/// Bybit's public and private WebSocket bases, testnet and mainnet (`venues.md` §B).
const WS_TESTNET: &str = "wss://stream-testnet.bybit.com";
const WS_MAINNET: &str = "wss://stream.bybit.com";

/// Where the venue is.
#[derive(Debug, Clone)]
pub(super) struct Endpoints {
    /// REST base URL.
    pub rest: String,
    /// WebSocket base URL (`/v5/public/linear` and `/v5/private` are appended).
    pub ws_base: String,
}

impl Endpoints {
    /// The overrides, else testnet, or mainnet with `mainnet`.
    pub fn of(rest_url: Option<&str>, ws_url: Option<&str>, mainnet: bool) -> Endpoints {
        let rest = match (rest_url, mainnet) {
            (Some(url), _) => url.trim_end_matches('/').to_string(),
            (None, true) => crate::backend::bybit::MAINNET_REST.to_string(),
            (None, false) => crate::backend::bybit::TESTNET_REST.to_string(),
        };
        let ws_base = match (ws_url, mainnet) {
            (Some(url), _) => url.trim_end_matches('/').to_string(),
            (None, true) => WS_MAINNET.to_string(),
            (None, false) => WS_TESTNET.to_string(),
        };
        Endpoints { rest, ws_base }
    }

    /// The backend's settings, with keys from `keys` (a 0600 file) or, without one,
    /// `LEDGER_BYBIT_KEY`/`LEDGER_BYBIT_SECRET`.
    pub fn config(&self, keys: Option<&Path>) -> Result<BybitConfig> {
        let keys = match keys {
            Some(path) => Keys::from_file(path)?,
            None => Keys::from_env()?,
        };
        Ok(BybitConfig::new(
            self.rest.clone(),
            format!("{}/v5/private", self.ws_base),
            keys,
        ))
    }
}

/// Connect to the venue for `writer`'s ledger. Restart = replay: the backend learns the
/// link id of every order the ledger ever submitted (from the writer-kept index; the venue lists executions of
/// orders the projection has long forgotten, and they must come back under our ids),
/// tracks the open ones again, and asks about every order whose submit never got an
/// answer (its outcome stays unknown until the venue says, never assumed).
pub(super) async fn connect(
    ledger: &Ledger,
    writer: &Writer,
    config: BybitConfig,
    unknown_after: Option<Duration>,
) -> Result<BybitBackend> {
    let mut config = config;
    if let Some(window) = unknown_after {
        config.unknown_window = window;
    }
    let mut backend = BybitBackend::connect(config)
        .await
        .context("cannot connect to the venue")?;
    for id in ledger.reader()?.submitted_ids()? {
        backend.remember(&id);
    }
    backend.restore(writer.projection());
    backend.resolve_unknown().await;
    Ok(backend)
}
