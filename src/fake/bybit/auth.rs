//! The fake's side of Bybit's HMAC authentication: it rebuilds the string the client
//! should have signed from what arrived (`timestamp + api_key + recv_window + payload`,
//! the raw query or the raw body) and compares hex, with the venue's error codes and
//! its acceptance window `server − recv_window ≤ timestamp < server + 1000`.
//!
//! Written apart from the client's signing code on purpose: a check that shares the
//! client's code would agree with its bugs.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::exchange::Refusal;

/// The key pair the fake accepts.
#[derive(Clone)]
pub struct Account {
    /// API key.
    pub key: String,
    /// API secret.
    pub secret: String,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("key", &self.key)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Lowercase hex HMAC-SHA256 of `text` under `secret`.
pub fn hmac_hex(secret: &str, text: &str) -> String {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(text.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The signed headers of a REST request, as received.
#[derive(Debug, Default)]
pub struct Signed<'a> {
    /// `X-BAPI-API-KEY`.
    pub key: Option<&'a str>,
    /// `X-BAPI-TIMESTAMP`.
    pub timestamp: Option<&'a str>,
    /// `X-BAPI-SIGN`.
    pub sign: Option<&'a str>,
    /// `X-BAPI-RECV-WINDOW` (default 5000).
    pub recv_window: Option<&'a str>,
}

/// Check a private REST request signed over `payload` at server time `now_ms`.
pub fn check_rest(
    account: &Account,
    signed: &Signed<'_>,
    payload: &str,
    now_ms: i64,
) -> Result<(), Refusal> {
    let refuse = |code, msg: String| Refusal { code, msg };
    let key = signed
        .key
        .ok_or_else(|| refuse(10003, "API key is invalid.".into()))?;
    if key != account.key {
        return Err(refuse(10003, "API key is invalid.".into()));
    }
    let ts_text = signed
        .timestamp
        .ok_or_else(|| refuse(10001, "params error: X-BAPI-TIMESTAMP is missing".into()))?;
    let ts: i64 = ts_text
        .parse()
        .map_err(|_| refuse(10001, "params error: X-BAPI-TIMESTAMP invalid".into()))?;
    let window_text = signed.recv_window.unwrap_or("5000");
    let window: i64 = window_text
        .parse()
        .map_err(|_| refuse(10001, "params error: recv_window invalid".into()))?;
    if !(now_ms - window <= ts && ts < now_ms + 1000) {
        return Err(refuse(
            10002,
            format!(
                "invalid request, please check your server timestamp or recv_window param. req_timestamp[{ts}],server_timestamp[{now_ms}],recv_window[{window}]"
            ),
        ));
    }
    let expected = hmac_hex(
        &account.secret,
        &format!("{ts_text}{key}{window_text}{payload}"),
    );
    match signed.sign {
        Some(sign) if sign.eq_ignore_ascii_case(&expected) => Ok(()),
        _ => Err(refuse(10004, "error sign! origin_string[...]".into())),
    }
}

/// Check a private WebSocket `auth` op: `args = [key, expires_ms, sign]`, the sign over
/// `GET/realtime{expires}`, and `expires` in the future.
pub fn check_ws(account: &Account, args: &[serde_json::Value], now_ms: i64) -> Result<(), String> {
    let [key, expires, sign] = args else {
        return Err("Params Error".into());
    };
    let (Some(key), Some(expires), Some(sign)) = (key.as_str(), expires.as_i64(), sign.as_str())
    else {
        return Err("Params Error".into());
    };
    if key != account.key {
        return Err("error:invalid api key".into());
    }
    if expires <= now_ms {
        return Err("error:request expired".into());
    }
    let expected = hmac_hex(&account.secret, &format!("GET/realtime{expires}"));
    match sign.eq_ignore_ascii_case(&expected) {
        true => Ok(()),
        false => Err("error:signature verification failed".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> Account {
        Account {
            key: "test_api_key".into(),
            secret: "test_secret".into(),
        }
    }

    /// The known answers of venues.md §C2.
    #[test]
    fn known_answers() {
        let s = |payload: &str| {
            hmac_hex(
                "test_secret",
                &format!("1700000000000test_api_key5000{payload}"),
            )
        };
        assert_eq!(
            s("category=linear&symbol=BTCUSDT"),
            "fd4f31228a46109dc6673062328693696df9a96c7ff04e6491a45e7f63a0fdd7"
        );
        assert_eq!(
            s(r#"{"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "test-order-1"}"#),
            "2df4a0603d69c08d5dea29ba85b46eb7db64ce9e9ebd34a7802a3d69700cb2a1"
        );
        assert_eq!(
            hmac_hex("test_secret", "GET/realtime1700000000000"),
            "bacffe7500499eb829bb58c45d36d1b3e5ac67c14eaeba91df5e99ccee013925"
        );
    }

    #[test]
    fn rest_checks_key_window_and_sign_with_the_venue_codes() {
        let a = account();
        let payload = "category=linear&symbol=BTCUSDT";
        let good = Signed {
            key: Some("test_api_key"),
            timestamp: Some("1700000000000"),
            sign: Some("fd4f31228a46109dc6673062328693696df9a96c7ff04e6491a45e7f63a0fdd7"),
            recv_window: Some("5000"),
        };
        assert_eq!(check_rest(&a, &good, payload, 1_700_000_002_000), Ok(()));
        let code = |signed: &Signed<'_>, payload: &str, now: i64| {
            check_rest(&a, signed, payload, now).unwrap_err().code
        };
        assert_eq!(
            code(&good, "category=linear&symbol=ETHUSDT", 1_700_000_002_000),
            10004
        );
        assert_eq!(
            code(&good, payload, 1_700_000_006_000),
            10002,
            "older than the window"
        );
        assert_eq!(
            code(&good, payload, 1_699_999_998_999),
            10002,
            "more than 1 s ahead"
        );
        let err = check_rest(&a, &good, payload, 1_700_000_006_000).unwrap_err();
        assert!(
            err.msg.contains(
                "req_timestamp[1700000000000],server_timestamp[1700000006000],recv_window[5000]"
            ),
            "{}",
            err.msg
        );
        assert_eq!(
            code(
                &Signed {
                    key: Some("other"),
                    ..good
                },
                payload,
                1_700_000_002_000
            ),
            10003
        );
    }

    #[test]
    fn ws_auth_needs_a_future_expiry_and_the_realtime_sign() {
        let a = account();
        let sign = "bacffe7500499eb829bb58c45d36d1b3e5ac67c14eaeba91df5e99ccee013925";
        let args = |expires: i64, sign: &str| {
            vec![
                serde_json::json!("test_api_key"),
                serde_json::json!(expires),
                serde_json::json!(sign),
            ]
        };
        assert_eq!(
            check_ws(&a, &args(1_700_000_000_000, sign), 1_699_999_999_000),
            Ok(())
        );
        assert!(check_ws(&a, &args(1_700_000_000_000, sign), 1_700_000_000_001).is_err());
        assert!(check_ws(&a, &args(1_700_000_000_000, "00"), 1_699_999_999_000).is_err());
        assert!(format!("{a:?}").contains("redacted") && !format!("{a:?}").contains("test_secret"));
    }
}
