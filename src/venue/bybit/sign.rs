//! HMAC-SHA256 signing for Bybit v5: REST (`timestamp + api_key + recv_window +
//! payload`) and private WS auth (`"GET/realtime" + expires`), as lowercase hex.
//!
//! The payload is signed exactly as it is sent (the query string or the JSON body bytes):
//! callers must never re-serialise after signing. Nothing cryptographic is written here
//! by hand; the `hmac` and `sha2` crates do the work. This file reads no clock: the
//! timestamp is an argument.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// An API key and its secret. `Debug` shows the key only; there is deliberately no
/// `Serialize`, `Display` or accessor for the secret, so it cannot reach a log or a file.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    api_key: String,
    secret: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("api_key", &self.api_key)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// Key and secret as Bybit issued them.
    pub fn new(api_key: impl Into<String>, secret: impl Into<String>) -> Credentials {
        Credentials {
            api_key: api_key.into(),
            secret: secret.into(),
        }
    }

    /// The public API key (sent in `X-BAPI-API-KEY` and in the WS auth args).
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The REST signature of `payload` (the exact query string or JSON body) sent at
    /// `timestamp_ms` with `recv_window_ms`.
    pub fn sign_rest(&self, timestamp_ms: i64, recv_window_ms: u64, payload: &[u8]) -> String {
        let mut mac = self.mac();
        mac.update(timestamp_ms.to_string().as_bytes());
        mac.update(self.api_key.as_bytes());
        mac.update(recv_window_ms.to_string().as_bytes());
        mac.update(payload);
        hex::encode(mac.finalize().into_bytes())
    }

    /// The private WS auth signature for `expires_ms` (a time in the future).
    pub fn sign_ws_auth(&self, expires_ms: i64) -> String {
        let mut mac = self.mac();
        mac.update(b"GET/realtime");
        mac.update(expires_ms.to_string().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The private WS auth request: `{"req_id":..,"op":"auth","args":[key, expires, sig]}`.
    pub fn auth_message(&self, req_id: &str, expires_ms: i64) -> String {
        let sig = self.sign_ws_auth(expires_ms);
        serde_json::json!({"req_id": req_id, "op": "auth", "args": [self.api_key, expires_ms, sig]})
            .to_string()
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes a key of any length (long keys are hashed, short ones padded), so
        // `new_from_slice` cannot fail for it; the fallback is unreachable.
        match Hmac::<Sha256>::new_from_slice(self.secret.as_bytes()) {
            Ok(mac) => mac,
            Err(_) => unreachable!("hmac accepts keys of every length"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials::new("test_api_key", "test_secret")
    }

    // Known answers from venues.md §C2 (recomputed independently there).
    #[test]
    fn rest_get_known_answer() {
        let sig = creds().sign_rest(1_700_000_000_000, 5000, b"category=linear&symbol=BTCUSDT");
        assert_eq!(
            sig,
            "fd4f31228a46109dc6673062328693696df9a96c7ff04e6491a45e7f63a0fdd7"
        );
    }

    #[test]
    fn rest_post_known_answer() {
        let body = br#"{"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "test-order-1"}"#;
        let sig = creds().sign_rest(1_700_000_000_000, 5000, body);
        assert_eq!(
            sig,
            "2df4a0603d69c08d5dea29ba85b46eb7db64ce9e9ebd34a7802a3d69700cb2a1"
        );
    }

    #[test]
    fn ws_auth_known_answer() {
        assert_eq!(
            creds().sign_ws_auth(1_700_000_000_000),
            "bacffe7500499eb829bb58c45d36d1b3e5ac67c14eaeba91df5e99ccee013925"
        );
    }

    #[test]
    fn auth_message_carries_the_signature() {
        let msg = creds().auth_message("1", 1_700_000_000_000);
        assert_eq!(
            msg,
            r#"{"args":["test_api_key",1700000000000,"bacffe7500499eb829bb58c45d36d1b3e5ac67c14eaeba91df5e99ccee013925"],"op":"auth","req_id":"1"}"#
        );
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let shown = format!("{:?} {:#?}", creds(), creds());
        assert!(!shown.contains("test_secret"), "{shown}");
        assert!(shown.contains("test_api_key"), "{shown}");
    }
}
