//! Bybit v5 REST as pure data: requests built as the exact bytes to send and sign, the
//! response envelope `{retCode, retMsg, result, retExtInfo, time}` (HTTP 200 even on
//! business errors) with a classified [`BybitError`], and typed results.
//!
//! GET payloads are query strings with keys in the caller's order, which the builders
//! fix (stable: `category` first, then as listed); POST payloads are JSON bodies built
//! once, signed, and never re-serialised. No HTTP client, no clock: the timestamp is an
//! argument.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::objects::{Execution, Order, Position, Wallet, read_list};
use super::sign::Credentials;
use super::wire::{FrameError, decimal, from_json, link_id, millis_text, side_name};
use crate::event::{
    Candle, ClientOrderId, Decimal, OrderType, Side, Symbol, TimeInForce, Timeframe, Timestamp,
};
use crate::executor::InstrumentRules;

/// Bybit's default receive window, ms.
pub const RECV_WINDOW_MS_DEFAULT: u64 = 5000;

/// GET or POST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Query string payload.
    Get,
    /// JSON body payload.
    Post,
}

/// A request ready to send: method, path, payload bytes (query string without `?`, or
/// JSON body) and the signed header values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// Method.
    pub method: Method,
    /// Path, e.g. `/v5/order/create`.
    pub path: &'static str,
    /// Exactly what was signed and must be sent.
    pub payload: Vec<u8>,
    /// `(name, value)` for X-BAPI-API-KEY, X-BAPI-TIMESTAMP, X-BAPI-SIGN, X-BAPI-RECV-WINDOW.
    pub headers: Vec<(&'static str, String)>,
}

/// An unsigned request: what the builders return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method.
    pub method: Method,
    /// Path.
    pub path: &'static str,
    /// Payload bytes.
    pub payload: Vec<u8>,
}

impl Request {
    /// A GET with `params` in this order (empty values are left out).
    pub fn get(path: &'static str, params: &[(&str, &str)]) -> Request {
        let query: Vec<String> = params
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        Request {
            method: Method::Get,
            path,
            payload: query.join("&").into_bytes(),
        }
    }

    fn post(path: &'static str, body: Map<String, Value>) -> Request {
        Request {
            method: Method::Post,
            path,
            payload: Value::Object(body).to_string().into_bytes(),
        }
    }

    /// Sign at `timestamp_ms` (call at send time, not enqueue time).
    pub fn sign(
        self,
        creds: &Credentials,
        timestamp_ms: i64,
        recv_window_ms: u64,
    ) -> SignedRequest {
        let sig = creds.sign_rest(timestamp_ms, recv_window_ms, &self.payload);
        SignedRequest {
            method: self.method,
            path: self.path,
            payload: self.payload,
            headers: vec![
                ("X-BAPI-API-KEY", creds.api_key().to_string()),
                ("X-BAPI-TIMESTAMP", timestamp_ms.to_string()),
                ("X-BAPI-SIGN", sig),
                ("X-BAPI-RECV-WINDOW", recv_window_ms.to_string()),
            ],
        }
    }
}

/// Percent-encode what is not unreserved (ids and symbols rarely need it).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn body(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// An order to create (`POST /v5/order/create`).
#[derive(Debug, Clone, PartialEq)]
pub struct CreateOrder {
    /// Instrument.
    pub symbol: Symbol,
    /// Our id (≤ 36 chars of `[A-Za-z0-9-_]`); a retry with it is a harmless 110072.
    pub client_order_id: ClientOrderId,
    /// Side.
    pub side: Side,
    /// Type.
    pub order_type: OrderType,
    /// Quantity.
    pub qty: Decimal,
    /// Limit price.
    pub px: Option<Decimal>,
    /// Trigger price (stop orders).
    pub trigger_px: Option<Decimal>,
    /// Time in force.
    pub tif: TimeInForce,
    /// Post-only (sent as `timeInForce: PostOnly`).
    pub post_only: bool,
    /// Reduce-only.
    pub reduce_only: bool,
}

/// `POST /v5/order/create`.
pub fn create_order(o: &CreateOrder) -> Request {
    let order_type = match o.order_type {
        OrderType::Market | OrderType::StopMarket => "Market",
        OrderType::Limit | OrderType::StopLimit => "Limit",
    };
    let tif = match (o.post_only, o.tif) {
        (true, _) => "PostOnly",
        (false, TimeInForce::Gtc) => "GTC",
        (false, TimeInForce::Ioc) => "IOC",
        (false, TimeInForce::Fok) => "FOK",
    };
    let mut b = body(&[
        ("category", "linear".into()),
        ("symbol", o.symbol.as_str().into()),
        ("side", side_name(o.side).into()),
        ("orderType", order_type.into()),
        ("qty", o.qty.to_string().into()),
        ("timeInForce", tif.into()),
        ("positionIdx", 0.into()),
        ("orderLinkId", link_id(&o.client_order_id).as_str().into()),
        ("reduceOnly", o.reduce_only.into()),
    ]);
    if let Some(px) = o.px {
        b.insert("price".into(), px.to_string().into());
    }
    if let Some(trigger) = o.trigger_px {
        b.insert("triggerPrice".into(), trigger.to_string().into());
        // 1: triggers when the price rises to it (a buy stop), 2: when it falls.
        let direction = match o.side {
            Side::Buy => 1,
            Side::Sell => 2,
        };
        b.insert("triggerDirection".into(), direction.into());
    }
    Request::post("/v5/order/create", b)
}

/// `POST /v5/order/amend` by our id; `None` fields are left unchanged.
pub fn amend_order(
    symbol: &Symbol,
    id: &ClientOrderId,
    qty: Option<Decimal>,
    px: Option<Decimal>,
    trigger_px: Option<Decimal>,
) -> Request {
    let mut b = body(&[
        ("category", "linear".into()),
        ("symbol", symbol.as_str().into()),
        ("orderLinkId", link_id(id).as_str().into()),
    ]);
    for (name, value) in [("qty", qty), ("price", px), ("triggerPrice", trigger_px)] {
        if let Some(v) = value {
            b.insert(name.into(), v.to_string().into());
        }
    }
    Request::post("/v5/order/amend", b)
}

/// `POST /v5/order/cancel` by our id.
pub fn cancel_order(symbol: &Symbol, id: &ClientOrderId) -> Request {
    let b = body(&[
        ("category", "linear".into()),
        ("symbol", symbol.as_str().into()),
        ("orderLinkId", link_id(id).as_str().into()),
    ]);
    Request::post("/v5/order/cancel", b)
}

/// `POST /v5/order/cancel-all` for every linear order settled in `settle_coin`.
pub fn cancel_all(settle_coin: &str) -> Request {
    let b = body(&[
        ("category", "linear".into()),
        ("settleCoin", settle_coin.into()),
    ]);
    Request::post("/v5/order/cancel-all", b)
}

/// What a failed response means for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorClass {
    /// Rate limit or server trouble: the same request may succeed later.
    Retryable,
    /// Our clock is outside the receive window: measure the offset, re-sign, retry.
    ResyncClock {
        /// `req_timestamp` from the message, ms.
        req_timestamp_ms: Option<i64>,
        /// `server_timestamp`, ms.
        server_timestamp_ms: Option<i64>,
        /// `recv_window`, ms.
        recv_window_ms: Option<i64>,
    },
    /// 110072 on create: the order already exists (a retry of an accepted create).
    DuplicateClientId,
    /// The venue refuses the request as sent: margin, reduce-only, params, auth, limits.
    Rejected,
    /// The order does not exist or already ended.
    NotFound,
    /// Nothing to do (110043: leverage not modified).
    Harmless,
    /// A code this table does not know: treat as a definitive failure, log it.
    Unknown,
}

/// A non-zero `retCode`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bybit: retCode {code}: {message}")]
pub struct BybitError {
    /// `retCode`.
    pub code: i64,
    /// `retMsg`.
    pub message: String,
    /// What the caller should do.
    pub class: ErrorClass,
}

impl BybitError {
    /// Whether a retry (after a wait or a clock resync) can help.
    pub fn retryable(&self) -> bool {
        matches!(
            self.class,
            ErrorClass::Retryable | ErrorClass::ResyncClock { .. }
        )
    }
}

/// The classification table of venues.md §B5.
pub fn classify(code: i64, message: &str) -> ErrorClass {
    match code {
        10006 | 10016 | 10000 | 10429 => ErrorClass::Retryable,
        10002 => ErrorClass::ResyncClock {
            req_timestamp_ms: bracketed(message, "req_timestamp["),
            server_timestamp_ms: bracketed(message, "server_timestamp["),
            recv_window_ms: bracketed(message, "recv_window["),
        },
        110072 => ErrorClass::DuplicateClientId,
        110007 | 110004 | 110044 | 110045 | 110012 | 110006 | 110017 | 110094 | 110003 | 10001
        | 110020 | 10003 | 10004 | 10005 | 10010 => ErrorClass::Rejected,
        110001 | 110008 | 110010 => ErrorClass::NotFound,
        110043 => ErrorClass::Harmless,
        _ => ErrorClass::Unknown,
    }
}

/// The integer after `key` up to `]`, as in `req_timestamp[1677853520948]`.
fn bracketed(message: &str, key: &str) -> Option<i64> {
    let start = message.find(key)? + key.len();
    let end = message[start..].find(']')? + start;
    message[start..end].parse().ok()
}

/// A response whose `retCode` is known.
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    /// The body is not a Bybit envelope (or its result does not parse).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The venue answered with a business error.
    #[error(transparent)]
    Venue(#[from] BybitError),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    ret_code: i64,
    #[serde(default)]
    ret_msg: String,
    #[serde(default)]
    result: Value,
    #[serde(default)]
    time: i64,
}

/// The `result` of a successful response and the envelope's `time` (server ms).
pub fn parse_envelope(body: &str) -> Result<(Value, i64), ResponseError> {
    let env: Envelope = from_json(body)?;
    if env.ret_code != 0 {
        return Err(BybitError {
            code: env.ret_code,
            class: classify(env.ret_code, &env.ret_msg),
            message: env.ret_msg,
        }
        .into());
    }
    Ok((env.result, env.time))
}

fn field<'a>(body: &str, result: &'a Value, name: &str) -> Result<&'a Value, FrameError> {
    result
        .get(name)
        .ok_or_else(|| FrameError::new(body, &format!("result.{name}"), "missing"))
}

fn text<'a>(body: &str, value: &'a Value, path: &str) -> Result<&'a str, FrameError> {
    value
        .as_str()
        .ok_or_else(|| FrameError::new(body, path, "expected a string"))
}

/// A page of a list endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// `nextPageCursor`; `None` when empty (the last page).
    pub next_cursor: Option<String>,
}

fn page<T>(
    body: &str,
    read: fn(&str, &str, Value) -> Result<T, FrameError>,
) -> Result<Page<T>, ResponseError> {
    let (mut result, _) = parse_envelope(body)?;
    let list = result
        .get_mut("list")
        .map(Value::take)
        .ok_or_else(|| FrameError::new(body, "result.list", "missing"))?;
    let items = read_list(body, "result.list", list, read)?;
    let next_cursor = result
        .get("nextPageCursor")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    Ok(Page { items, next_cursor })
}

/// `/v5/order/realtime` and `/v5/order/history`.
pub fn parse_orders(body: &str) -> Result<Page<Order>, ResponseError> {
    page(body, Order::read)
}

/// `/v5/position/list` (prices from `avgPrice`).
pub fn parse_positions(body: &str) -> Result<Page<Position>, ResponseError> {
    page(body, Position::read)
}

/// `/v5/execution/list`.
pub fn parse_executions(body: &str) -> Result<Page<Execution>, ResponseError> {
    page(body, Execution::read)
}

/// `/v5/account/wallet-balance`.
pub fn parse_wallets(body: &str) -> Result<Page<Wallet>, ResponseError> {
    page(body, Wallet::read)
}

/// `/v5/market/time`: the server time from `timeNano`.
pub fn parse_server_time(body: &str) -> Result<Timestamp, ResponseError> {
    let (result, _) = parse_envelope(body)?;
    let nanos = text(body, field(body, &result, "timeNano")?, "result.timeNano")?;
    let nanos: i64 = nanos
        .parse()
        .map_err(|_| FrameError::new(body, "result.timeNano", "expected digits"))?;
    Ok(Timestamp::from_nanos(nanos))
}

/// `/v5/market/instruments-info` → the executor's rules per symbol. Fees are not in
/// this endpoint: they come from the caller (fee-rate endpoint or config).
pub fn parse_instruments(
    body: &str,
    maker_fee: Decimal,
    taker_fee: Decimal,
) -> Result<Page<(Symbol, InstrumentRules)>, ResponseError> {
    let (result, _) = parse_envelope(body)?;
    let list = field(body, &result, "list")?
        .as_array()
        .ok_or_else(|| FrameError::new(body, "result.list", "expected an array"))?;
    let mut items = Vec::with_capacity(list.len());
    for (i, inst) in list.iter().enumerate() {
        let path = format!("result.list[{i}]");
        let get = |a: &str, b: &str| -> Result<Decimal, FrameError> {
            let p = format!("{path}.{a}.{b}");
            let v = inst.get(a).and_then(|o| o.get(b));
            let v = v.ok_or_else(|| FrameError::new(body, &p, "missing"))?;
            decimal(body, &p, text(body, v, &p)?)
        };
        let symbol = inst.get("symbol").and_then(Value::as_str);
        let symbol =
            symbol.ok_or_else(|| FrameError::new(body, &format!("{path}.symbol"), "missing"))?;
        let min_notional = match inst
            .get("lotSizeFilter")
            .and_then(|l| l.get("minNotionalValue"))
        {
            Some(_) => get("lotSizeFilter", "minNotionalValue")?,
            None => Decimal::ZERO,
        };
        items.push((
            Symbol::from(symbol),
            InstrumentRules {
                tick_size: get("priceFilter", "tickSize")?,
                lot_size: get("lotSizeFilter", "qtyStep")?,
                min_qty: get("lotSizeFilter", "minOrderQty")?,
                min_notional,
                max_leverage: get("leverageFilter", "maxLeverage")?,
                max_position_notional: None,
                maker_fee,
                taker_fee,
            },
        ));
    }
    let next_cursor = result
        .get("nextPageCursor")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    Ok(Page { items, next_cursor })
}

/// The `Timeframe` of a kline interval (`1 3 5 15 30 60 120 240 360 720 D W M`).
/// `M` (a calendar month) has no fixed length and is refused.
pub fn kline_timeframe(interval: &str) -> Option<Timeframe> {
    let seconds = match interval {
        "D" => 86_400,
        "W" => 604_800,
        minutes => minutes.parse::<u32>().ok()?.checked_mul(60)?,
    };
    Timeframe::from_seconds(seconds)
}

/// `/v5/market/kline` → closed candles, **oldest first** (Bybit sends newest first).
/// Every listed bar is taken as closed; the caller drops the still-open last one when
/// its `open_time + timeframe` is after the server time.
pub fn parse_klines(
    body: &str,
    ns: &super::wire::Namespace,
    timeframe: Timeframe,
) -> Result<Vec<Candle>, ResponseError> {
    let (result, _) = parse_envelope(body)?;
    let symbol = text(body, field(body, &result, "symbol")?, "result.symbol")?;
    let list = field(body, &result, "list")?
        .as_array()
        .ok_or_else(|| FrameError::new(body, "result.list", "expected an array"))?;
    let mut candles = Vec::with_capacity(list.len());
    for (i, row) in list.iter().enumerate().rev() {
        let cell = |j: usize| -> Result<&str, FrameError> {
            let p = format!("result.list[{i}][{j}]");
            let v = row
                .get(j)
                .ok_or_else(|| FrameError::new(body, &p, "missing"))?;
            text(body, v, &p)
        };
        let d = |j: usize| -> Result<Decimal, FrameError> {
            decimal(body, &format!("result.list[{i}][{j}]"), cell(j)?)
        };
        candles.push(Candle {
            venue: ns.venue.clone(),
            book: ns.book.clone(),
            instrument: Symbol::from(symbol),
            timeframe,
            open_time: millis_text(body, &format!("result.list[{i}][0]"), cell(0)?)?,
            open: d(1)?,
            high: d(2)?,
            low: d(3)?,
            close: d(4)?,
            volume: d(5)?,
            closed: true,
        });
    }
    Ok(candles)
}

/// A ticker's funding fields (`/v5/market/tickers`).
#[derive(Debug, Clone, PartialEq)]
pub struct Ticker {
    /// Instrument.
    pub symbol: Symbol,
    /// Current funding rate per interval.
    pub funding_rate: Option<Decimal>,
    /// Next funding time.
    pub next_funding_time: Option<Timestamp>,
    /// Mark price.
    pub mark_px: Option<Decimal>,
}

/// `/v5/market/tickers`.
pub fn parse_tickers(body: &str) -> Result<Vec<Ticker>, ResponseError> {
    let (result, _) = parse_envelope(body)?;
    let list = field(body, &result, "list")?
        .as_array()
        .ok_or_else(|| FrameError::new(body, "result.list", "expected an array"))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, t) in list.iter().enumerate() {
        let opt = |name: &str| -> Option<&str> {
            t.get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let p = |name: &str| format!("result.list[{i}].{name}");
        let symbol = opt("symbol").ok_or_else(|| FrameError::new(body, &p("symbol"), "missing"))?;
        out.push(Ticker {
            symbol: Symbol::from(symbol),
            funding_rate: opt("fundingRate")
                .map(|s| decimal(body, &p("fundingRate"), s))
                .transpose()?,
            next_funding_time: opt("nextFundingTime")
                .map(|s| millis_text(body, &p("nextFundingTime"), s))
                .transpose()?,
            mark_px: opt("markPrice")
                .map(|s| decimal(body, &p("markPrice"), s))
                .transpose()?,
        });
    }
    Ok(out)
}

/// One published rate of `/v5/market/funding/history`: `(symbol, rate, time)`.
pub fn parse_funding_history(
    body: &str,
) -> Result<Vec<(Symbol, Decimal, Timestamp)>, ResponseError> {
    let (result, _) = parse_envelope(body)?;
    let list = field(body, &result, "list")?
        .as_array()
        .ok_or_else(|| FrameError::new(body, "result.list", "expected an array"))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, r) in list.iter().enumerate() {
        let get = |name: &str| -> Result<&str, FrameError> {
            let p = format!("result.list[{i}].{name}");
            let v = r
                .get(name)
                .ok_or_else(|| FrameError::new(body, &p, "missing"))?;
            text(body, v, &p)
        };
        out.push((
            Symbol::from(get("symbol")?),
            decimal(
                body,
                &format!("result.list[{i}].fundingRate"),
                get("fundingRate")?,
            )?,
            millis_text(
                body,
                &format!("result.list[{i}].fundingRateTimestamp"),
                get("fundingRateTimestamp")?,
            )?,
        ));
    }
    Ok(out)
}

/// The `X-Bapi-Limit*` headers of an authenticated response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// `X-Bapi-Limit`: requests allowed per window.
    pub limit: u32,
    /// `X-Bapi-Limit-Status`: requests left.
    pub remaining: u32,
    /// `X-Bapi-Limit-Reset-Timestamp`: when the window resets.
    pub reset: Timestamp,
}

/// Read the limit headers from `(name, value)` pairs (names case-insensitive); `None`
/// when any is absent or not a number.
pub fn parse_rate_limit<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<RateLimit> {
    let (mut limit, mut remaining, mut reset) = (None, None, None);
    for (name, value) in headers {
        match name.to_ascii_lowercase().as_str() {
            "x-bapi-limit" => limit = value.trim().parse().ok(),
            "x-bapi-limit-status" => remaining = value.trim().parse().ok(),
            "x-bapi-limit-reset-timestamp" => {
                reset = value.trim().parse().ok().and_then(Timestamp::from_millis)
            }
            _ => {}
        }
    }
    Some(RateLimit {
        limit: limit?,
        remaining: remaining?,
        reset: reset?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venue::bybit::wire::Namespace;

    fn ok(result: &str) -> String {
        format!(
            r#"{{"retCode":0,"retMsg":"OK","result":{result},"retExtInfo":{{}},"time":1671017382656}}"#
        )
    }

    #[test]
    fn get_is_signed_over_the_exact_query() {
        let req = Request::get(
            "/v5/order/realtime",
            &[
                ("category", "linear"),
                ("symbol", "BTCUSDT"),
                ("cursor", ""),
            ],
        );
        assert_eq!(req.payload, b"category=linear&symbol=BTCUSDT");
        let signed = req.sign(
            &Credentials::new("test_api_key", "test_secret"),
            1_700_000_000_000,
            5000,
        );
        let sign = signed
            .headers
            .iter()
            .find(|(n, _)| *n == "X-BAPI-SIGN")
            .unwrap();
        assert_eq!(
            sign.1,
            "fd4f31228a46109dc6673062328693696df9a96c7ff04e6491a45e7f63a0fdd7"
        );
        assert_eq!(signed.headers.len(), 4);
    }

    #[test]
    fn post_bodies() {
        let o = CreateOrder {
            symbol: "BTCUSDT".into(),
            client_order_id: "my-id-1".into(),
            side: Side::Buy,
            order_type: OrderType::Limit,
            qty: "0.01".parse().unwrap(),
            px: Some("25000".parse().unwrap()),
            trigger_px: None,
            tif: TimeInForce::Gtc,
            post_only: false,
            reduce_only: false,
        };
        let body = String::from_utf8(create_order(&o).payload).unwrap();
        assert_eq!(
            body,
            r#"{"category":"linear","orderLinkId":"my-id-1","orderType":"Limit","positionIdx":0,"price":"25000","qty":"0.01","reduceOnly":false,"side":"Buy","symbol":"BTCUSDT","timeInForce":"GTC"}"#
        );
        let amend = amend_order(
            &"BTCUSDT".into(),
            &"my-id-1".into(),
            None,
            Some("25100".parse().unwrap()),
            None,
        );
        assert_eq!(
            String::from_utf8(amend.payload).unwrap(),
            r#"{"category":"linear","orderLinkId":"my-id-1","price":"25100","symbol":"BTCUSDT"}"#
        );
        assert_eq!(
            cancel_order(&"BTCUSDT".into(), &"a".into()).path,
            "/v5/order/cancel"
        );
        assert_eq!(
            cancel_all("USDT").payload,
            br#"{"category":"linear","settleCoin":"USDT"}"#
        );
    }

    #[test]
    fn errors_are_classified() {
        let clock = r#"{"retCode":10002,"retMsg":"invalid request, please check your server timestamp or recv_window param. req_timestamp[1677853520948],server_timestamp[1677853421570],recv_window[5000]","result":{},"retExtInfo":{},"time":1677853421570}"#;
        let Err(ResponseError::Venue(e)) = parse_envelope(clock) else {
            panic!()
        };
        assert_eq!(
            e.class,
            ErrorClass::ResyncClock {
                req_timestamp_ms: Some(1_677_853_520_948),
                server_timestamp_ms: Some(1_677_853_421_570),
                recv_window_ms: Some(5000),
            }
        );
        assert!(e.retryable());
        for (code, class) in [
            (10006, ErrorClass::Retryable),
            (10429, ErrorClass::Retryable),
            (110072, ErrorClass::DuplicateClientId),
            (110007, ErrorClass::Rejected),
            (110017, ErrorClass::Rejected),
            (10004, ErrorClass::Rejected),
            (110001, ErrorClass::NotFound),
            (110043, ErrorClass::Harmless),
            (99999, ErrorClass::Unknown),
        ] {
            assert_eq!(classify(code, ""), class, "{code}");
        }
        assert!(matches!(
            parse_envelope("<html>"),
            Err(ResponseError::Frame(_))
        ));
    }

    #[test]
    fn market_results() {
        let t = ok(r#"{"timeSecond":"1688639403","timeNano":"1688639403423213947"}"#);
        assert_eq!(
            parse_server_time(&t).unwrap().as_nanos(),
            1_688_639_403_423_213_947
        );
        let i = ok(
            r#"{"category":"linear","list":[{"symbol":"BTCUSDT","leverageFilter":{"maxLeverage":"100.00"},"priceFilter":{"tickSize":"0.10"},"lotSizeFilter":{"minOrderQty":"0.001","qtyStep":"0.001","minNotionalValue":"5"}}],"nextPageCursor":""}"#,
        );
        let fee: Decimal = "0.0002".parse().unwrap();
        let p = parse_instruments(&i, fee, fee).unwrap();
        assert_eq!(p.next_cursor, None);
        assert_eq!(p.items[0].1.tick_size, "0.1".parse().unwrap());
        assert_eq!(p.items[0].1.min_notional, "5".parse().unwrap());
        let k = ok(
            r#"{"symbol":"BTCUSDT","category":"linear","list":[["1670612400000","2","3","1","2.5","10","1"],["1670608800000","1","2","1","2","5","1"]]}"#,
        );
        let tf = kline_timeframe("60").unwrap();
        let c = parse_klines(&k, &Namespace::default(), tf).unwrap();
        assert!(c[0].open_time < c[1].open_time, "oldest first");
        assert_eq!(kline_timeframe("D").unwrap().to_string(), "1d");
        assert_eq!(kline_timeframe("M"), None);
        let tk = ok(
            r#"{"list":[{"symbol":"BTCUSDT","fundingRate":"-0.005","nextFundingTime":"1760342400000","markPrice":"66666.6"}]}"#,
        );
        assert_eq!(
            parse_tickers(&tk).unwrap()[0].funding_rate,
            Some("-0.005".parse().unwrap())
        );
        let fh = ok(
            r#"{"list":[{"symbol":"ETHPERP","fundingRate":"0.0001","fundingRateTimestamp":"1672041600000"}]}"#,
        );
        assert_eq!(parse_funding_history(&fh).unwrap().len(), 1);
    }

    #[test]
    fn account_results_and_limits() {
        let pos = ok(
            r#"{"list":[{"symbol":"BTCUSDT","side":"Buy","size":"0.5","avgPrice":"27000","updatedTime":"1"}],"nextPageCursor":"abc","category":"linear"}"#,
        );
        let p = parse_positions(&pos).unwrap();
        assert_eq!(p.next_cursor.as_deref(), Some("abc"));
        assert_eq!(p.items[0].avg_px, "27000".parse().unwrap());
        let bad =
            ok(r#"{"list":[{"symbol":"BTCUSDT","side":"Buy","size":"x","updatedTime":"1"}]}"#);
        let Err(ResponseError::Frame(e)) = parse_positions(&bad) else {
            panic!()
        };
        assert_eq!(e.field, "result.list[0].size");
        let limit = parse_rate_limit([
            ("X-Bapi-Limit", "10"),
            ("x-bapi-limit-status", "9"),
            ("X-Bapi-Limit-Reset-Timestamp", "1672738134824"),
        ]);
        assert_eq!(limit.unwrap().remaining, 9);
        assert_eq!(parse_rate_limit([("X-Bapi-Limit", "10")]), None);
    }
}
