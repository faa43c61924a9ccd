//! The live Bybit v5 backend (linear, UTA): the I/O around the pure wire layer in
//! `venue::bybit`.
//!
//! * [`keys`]: the API key pair from the environment or a private key file.
//! * [`clock`]: the venue clock offset, measured against `/v5/market/time`.
//! * [`limits`]: the published rate limits, client side, and the venue's headers.
//! * [`rest_client`]: signed REST, signed at send time, retried only when it can help.
//! * [`private_stream`]: the private WS task (auth, subscribe, ping, reconnect).
//! * [`backend`]: [`BybitBackend`], the `ExecutionBackend` the engine drives.
//! * [`notes`]: what the adapter did on its own, for the engine to log.

pub mod backend;
mod bookkeeping;
pub mod clock;
pub mod keys;
pub mod limits;
pub mod notes;
pub mod private_stream;
pub mod rest_client;

use std::time::Duration;

pub use backend::BybitBackend;
pub use keys::{Keys, KeysError};
pub use limits::LimitsConfig;
pub use notes::Note;
pub use rest_client::RetryPolicy;

use crate::venue::bybit::Namespace;
use crate::venue::bybit::rest::RECV_WINDOW_MS_DEFAULT;

/// Mainnet REST.
pub const MAINNET_REST: &str = "https://api.bybit.com";
/// Mainnet private WS.
pub const MAINNET_PRIVATE_WS: &str = "wss://stream.bybit.com/v5/private";
/// Testnet REST.
pub const TESTNET_REST: &str = "https://api-testnet.bybit.com";
/// Testnet private WS.
pub const TESTNET_PRIVATE_WS: &str = "wss://stream-testnet.bybit.com/v5/private";
/// Demo-trading REST.
pub const DEMO_REST: &str = "https://api-demo.bybit.com";
/// Demo-trading private WS.
pub const DEMO_PRIVATE_WS: &str = "wss://stream-demo.bybit.com/v5/private";

/// Everything the backend needs.
#[derive(Debug, Clone)]
pub struct BybitConfig {
    /// REST base, no trailing slash.
    pub rest_url: String,
    /// Private WS URL (with `/v5/private`).
    pub ws_url: String,
    /// The key pair.
    pub keys: Keys,
    /// The venue and book the events name.
    pub namespace: Namespace,
    /// Settle coin for list queries and equity (`USDT`).
    pub settle_coin: String,
    /// `X-BAPI-RECV-WINDOW`, ms.
    pub recv_window_ms: u64,
    /// Per-request timeout: past it, a create's outcome is unknown.
    pub request_timeout: Duration,
    /// Time allowed for the stream's connect, auth and subscribe.
    pub connect_timeout: Duration,
    /// WS heartbeat (Bybit: 20 s).
    pub ping_interval: Duration,
    /// WS silence after which the connection is dead (2 × ping: a missed pong).
    pub idle_timeout: Duration,
    /// Largest WS message and frame read.
    pub max_message_bytes: usize,
    /// REST retries.
    pub retry: RetryPolicy,
    /// WS reconnect pauses (`max_retries` is ignored: the stream never gives up).
    pub reconnect: RetryPolicy,
    /// Client-side rate limits.
    pub limits: LimitsConfig,
    /// How long an order of unknown outcome may stay not found at the venue before it
    /// is rejected as "not found at venue" (well inside the 24 h history window).
    pub unknown_window: Duration,
    /// Least time between two status queries of one unknown order.
    pub resolve_every: Duration,
}

impl BybitConfig {
    /// Defaults for `rest_url` and `ws_url`.
    pub fn new(rest_url: impl Into<String>, ws_url: impl Into<String>, keys: Keys) -> BybitConfig {
        BybitConfig {
            rest_url: rest_url.into().trim_end_matches('/').to_string(),
            ws_url: ws_url.into(),
            keys,
            namespace: Namespace::default(),
            settle_coin: "USDT".to_string(),
            recv_window_ms: RECV_WINDOW_MS_DEFAULT,
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(40),
            max_message_bytes: 4 << 20,
            retry: RetryPolicy::default(),
            reconnect: RetryPolicy {
                max_retries: 0,
                min_delay: Duration::from_millis(500),
                max_delay: Duration::from_secs(30),
            },
            limits: LimitsConfig::default(),
            unknown_window: Duration::from_secs(60),
            resolve_every: Duration::from_secs(1),
        }
    }

    /// Mainnet.
    pub fn mainnet(keys: Keys) -> BybitConfig {
        BybitConfig::new(MAINNET_REST, MAINNET_PRIVATE_WS, keys)
    }

    /// Testnet.
    pub fn testnet(keys: Keys) -> BybitConfig {
        BybitConfig::new(TESTNET_REST, TESTNET_PRIVATE_WS, keys)
    }

    /// Demo trading.
    pub fn demo(keys: Keys) -> BybitConfig {
        BybitConfig::new(DEMO_REST, DEMO_PRIVATE_WS, keys)
    }
}
