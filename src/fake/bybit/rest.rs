//! The fake's REST endpoints: market data open to all, account endpoints behind the
//! HMAC check, each answer in Bybit's envelope with HTTP 200 (business errors are
//! `retCode`s), and the `X-Bapi-Limit*` headers with the 10/s per-endpoint order limit.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::exchange::{Create, Refusal, Trigger};
use super::{Shared, auth, envelope};

/// Order endpoints' limit per second (Bybit's default for linear create/amend/cancel).
const ORDER_LIMIT_PER_SECOND: u32 = 10;
/// Query endpoints' limit per second.
const QUERY_LIMIT_PER_SECOND: u32 = 50;

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method == Method::POST && uri.path() == "/v5/order/create" {
        let arrived = std::time::Instant::now();
        let mut arrivals = shared
            .create_arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        arrivals.push(arrived);
    }
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let params: Vec<(String, String)> = query_pairs(&query);
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let public = path.starts_with("/v5/market/");
    if public {
        let state = shared.lock();
        let now = state.now_ms();
        let result = match path.as_str() {
            "/v5/market/time" => Ok(json!({
                "timeSecond": (now / 1000).to_string(),
                "timeNano": (now as i128 * 1_000_000).to_string(),
            })),
            "/v5/market/instruments-info" => Ok(instruments(&state.exchange, param("symbol"))),
            "/v5/market/kline" => kline(
                &state,
                param("symbol"),
                param("limit"),
                (param("start"), param("end")),
            ),
            "/v5/market/tickers" => Ok(tickers(&state.exchange, param("symbol"))),
            "/v5/market/funding/history" => Ok(json!({"category": "linear", "list": []})),
            _ => return (StatusCode::NOT_FOUND, "not found").into_response(),
        };
        return answer(result, now, None);
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let payload = match method {
        Method::GET => query.clone(),
        _ => String::from_utf8_lossy(&body).to_string(),
    };
    if method == Method::GET && !body.is_empty() {
        return (StatusCode::FORBIDDEN, "GET with a body").into_response();
    }
    let delay = {
        let mut state = shared.lock();
        let now = state.now_ms();
        let signed = auth::Signed {
            key: header("x-bapi-api-key"),
            timestamp: header("x-bapi-timestamp"),
            sign: header("x-bapi-sign"),
            recv_window: header("x-bapi-recv-window"),
        };
        if let Err(refusal) = auth::check_rest(&state.account, &signed, &payload, now) {
            return answer(Err(refusal), now, None);
        }
        let limit = match path.starts_with("/v5/order/") && method == Method::POST {
            true => ORDER_LIMIT_PER_SECOND,
            false => QUERY_LIMIT_PER_SECOND,
        };
        let second = now / 1000;
        let slot = state.calls.entry(path.clone()).or_insert((second, 0));
        if slot.0 != second {
            *slot = (second, 0);
        }
        slot.1 += 1;
        let used = slot.1;
        let limits = Some((limit, limit.saturating_sub(used), (second + 1) * 1000));
        if used > limit || state.rate_limited() {
            return answer(
                Err(Refusal {
                    code: 10006,
                    msg: "Too many visits!".into(),
                }),
                now,
                limits,
            );
        }
        let body: Value = match method {
            Method::POST => match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(e) => {
                    return answer(
                        Err(Refusal {
                            code: 10001,
                            msg: format!("params error: body is not JSON: {e}"),
                        }),
                        now,
                        limits,
                    );
                }
            },
            _ => Value::Null,
        };
        let field = |name: &str| {
            body.get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| param(name))
        };
        let result = match (method.clone(), path.as_str()) {
            (Method::POST, "/v5/order/create") => match parse_create(&body) {
                Ok(req) => state.exchange.create(req, now).map(|(id, pushes)| {
                    shared.push_private(&mut state, pushes);
                    json!({"orderId": id, "orderLinkId": field("orderLinkId").unwrap_or_default()})
                }),
                Err(r) => Err(r),
            },
            (Method::POST, "/v5/order/cancel") => state
                .exchange
                .cancel(
                    field("orderId").as_deref(),
                    field("orderLinkId").as_deref(),
                    now,
                )
                .map(|(id, link, pushes)| {
                    shared.push_private(&mut state, pushes);
                    json!({"orderId": id, "orderLinkId": link})
                }),
            (Method::POST, "/v5/order/amend") => {
                let qty = decimal(&body, "qty");
                let price = decimal(&body, "price");
                let trigger = decimal(&body, "triggerPrice");
                match (qty, price, trigger) {
                    (Ok(qty), Ok(price), Ok(trigger)) => state
                        .exchange
                        .amend(
                            field("orderId").as_deref(),
                            field("orderLinkId").as_deref(),
                            qty,
                            price,
                            trigger,
                            now,
                        )
                        .map(|(id, link, pushes)| {
                            shared.push_private(&mut state, pushes);
                            json!({"orderId": id, "orderLinkId": link})
                        }),
                    (Err(r), _, _) | (_, Err(r), _) | (_, _, Err(r)) => Err(r),
                }
            }
            (Method::POST, "/v5/order/cancel-all") => {
                let (done, pushes) = state.exchange.cancel_all(field("symbol").as_deref(), now);
                shared.push_private(&mut state, pushes);
                let list: Vec<Value> = done
                    .into_iter()
                    .map(|(id, link)| json!({"orderId": id, "orderLinkId": link}))
                    .collect();
                Ok(json!({"list": list, "success": "1"}))
            }
            (Method::GET, "/v5/order/realtime") => {
                let list = state.exchange.orders(
                    param("symbol").as_deref(),
                    param("orderId").as_deref(),
                    param("orderLinkId").as_deref(),
                );
                Ok(json!({"category": "linear", "list": list, "nextPageCursor": ""}))
            }
            (Method::GET, "/v5/order/history") => {
                let list = state.exchange.history(param("symbol").as_deref());
                Ok(json!({"category": "linear", "list": list, "nextPageCursor": ""}))
            }
            (Method::GET, "/v5/position/list") => {
                let list = state.exchange.positions(param("symbol").as_deref());
                Ok(json!({"category": "linear", "list": list, "nextPageCursor": ""}))
            }
            (Method::GET, "/v5/account/wallet-balance") => {
                Ok(json!({"list": [state.exchange.wallet()]}))
            }
            (Method::GET, "/v5/execution/list") => {
                let list = state.exchange.executions(param("symbol").as_deref());
                Ok(json!({"category": "linear", "list": list, "nextPageCursor": ""}))
            }
            _ => return (StatusCode::NOT_FOUND, "not found").into_response(),
        };
        let delay = match path.as_str() {
            "/v5/order/create" => state.delay_create(),
            _ => None,
        };
        (answer(result, now, limits), delay)
    };
    let (response, delay) = delay;
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    response
}

fn answer(result: Result<Value, Refusal>, now: i64, limits: Option<(u32, u32, i64)>) -> Response {
    let body = match result {
        Ok(v) => envelope(0, "OK", v, now),
        Err(r) => envelope(r.code, &r.msg, json!({}), now),
    };
    let mut response = axum::Json(body).into_response();
    if let Some((limit, left, reset)) = limits {
        let headers = response.headers_mut();
        for (name, value) in [
            ("X-Bapi-Limit", limit.to_string()),
            ("X-Bapi-Limit-Status", left.to_string()),
            ("X-Bapi-Limit-Reset-Timestamp", reset.to_string()),
        ] {
            if let Ok(value) = value.parse() {
                headers.insert(name, value);
            }
        }
    }
    response
}

fn parse_create(body: &Value) -> Result<Create, Refusal> {
    let bad = |what: &str| Refusal {
        code: 10001,
        msg: format!("params error: {what}"),
    };
    let text = |name: &str| body.get(name).and_then(Value::as_str);
    if text("category") != Some("linear") {
        return Err(bad("category must be linear"));
    }
    let market = match text("orderType") {
        Some("Market") => true,
        Some("Limit") => false,
        _ => return Err(bad("orderType invalid")),
    };
    let buy = match text("side") {
        Some("Buy") => true,
        Some("Sell") => false,
        _ => return Err(bad("side invalid")),
    };
    let qty = decimal(body, "qty")?.ok_or_else(|| bad("qty is required"))?;
    let price = decimal(body, "price")?;
    if !market && price.is_none() {
        return Err(bad("price is required for a limit order"));
    }
    let trigger = match decimal(body, "triggerPrice")? {
        None => None,
        Some(price) if price.is_sign_positive() && !price.is_zero() => {
            // Bybit sends the direction as a number; a string is taken too.
            let direction = match body.get("triggerDirection") {
                Some(Value::Number(n)) => n.as_i64(),
                Some(Value::String(s)) => s.parse().ok(),
                _ => None,
            };
            match direction {
                Some(1) => Some(Trigger {
                    price,
                    rising: true,
                }),
                Some(2) => Some(Trigger {
                    price,
                    rising: false,
                }),
                _ => return Err(bad("triggerDirection must be 1 or 2")),
            }
        }
        Some(_) => return Err(bad("triggerPrice invalid")),
    };
    Ok(Create {
        symbol: text("symbol").unwrap_or_default().to_string(),
        buy,
        market,
        qty,
        price,
        tif: text("timeInForce").unwrap_or("GTC").to_string(),
        link_id: text("orderLinkId").unwrap_or_default().to_string(),
        reduce_only: body
            .get("reduceOnly")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        trigger,
    })
}

/// An amount field: Bybit takes strings; a JSON number is refused as the venue does.
fn decimal(body: &Value, name: &str) -> Result<Option<Decimal>, Refusal> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s.parse().map(Some).map_err(|_| Refusal {
            code: 10001,
            msg: format!("params error: {name} invalid"),
        }),
        Some(_) => Err(Refusal {
            code: 10001,
            msg: format!("params error: {name} must be a string"),
        }),
    }
}

fn instruments(x: &super::Exchange, symbol: Option<String>) -> Value {
    let list: Vec<Value> = x
        .instruments()
        .filter(|i| symbol.as_ref().is_none_or(|s| s == &i.symbol))
        .map(|i| {
            json!({
                "symbol": i.symbol,
                "contractType": "LinearPerpetual",
                "status": "Trading",
                "baseCoin": i.symbol.trim_end_matches("USDT"),
                "quoteCoin": "USDT",
                "settleCoin": "USDT",
                "priceScale": i.tick.scale().to_string(),
                "leverageFilter": {"minLeverage": "1", "maxLeverage": i.max_leverage.to_string(), "leverageStep": "0.01"},
                "priceFilter": {"minPrice": i.tick.to_string(), "maxPrice": "1999999.80", "tickSize": i.tick.to_string()},
                "lotSizeFilter": {"maxOrderQty": "1190.000", "minOrderQty": i.min_qty.to_string(), "qtyStep": i.lot.to_string(), "maxMktOrderQty": "500.000", "minNotionalValue": i.min_notional.to_string()},
                "fundingInterval": 480,
                "upperFundingRate": "0.00375",
                "lowerFundingRate": "-0.00375",
            })
        })
        .collect();
    json!({"category": "linear", "list": list, "nextPageCursor": ""})
}

/// The forming bar, then the bars pushed so far, newest first, as string arrays;
/// `start`/`end` (ms) bound the bars' open times, as Bybit's do.
fn kline(
    state: &super::State,
    symbol: Option<String>,
    limit: Option<String>,
    (start, end): (Option<String>, Option<String>),
) -> Result<Value, Refusal> {
    let bound = |v: Option<String>| -> Result<Option<i64>, Refusal> {
        v.map(|s| {
            s.parse().map_err(|_| Refusal {
                code: 10001,
                msg: "params error: start/end must be ms".into(),
            })
        })
        .transpose()
    };
    let (start, end) = (bound(start)?, bound(end)?);
    let symbol = symbol.ok_or(Refusal {
        code: 10001,
        msg: "params error: symbol is required".into(),
    })?;
    let limit: usize = limit
        .and_then(|l| l.parse().ok())
        .unwrap_or(200)
        .clamp(1, 1000);
    let list: Vec<Value> = state
        .forming_bar(&symbol)
        .into_iter()
        .chain(state.pushed_bars(&symbol).into_iter().rev())
        .filter(|b| start.is_none_or(|s| b.start_ms >= s) && end.is_none_or(|e| b.start_ms <= e))
        .take(limit)
        .map(|b| {
            json!([
                b.start_ms.to_string(),
                b.open.to_string(),
                b.high.to_string(),
                b.low.to_string(),
                b.close.to_string(),
                b.volume.to_string(),
                (b.volume * b.close).normalize().to_string(),
            ])
        })
        .collect();
    Ok(json!({"symbol": symbol, "category": "linear", "list": list}))
}

fn tickers(x: &super::Exchange, symbol: Option<String>) -> Value {
    let list: Vec<Value> = x
        .instruments()
        .filter(|i| symbol.as_ref().is_none_or(|s| s == &i.symbol))
        .map(|i| {
            let last = x.last_px(&i.symbol).map(|p| p.to_string()).unwrap_or_default();
            json!({"symbol": i.symbol, "lastPrice": last, "markPrice": last, "indexPrice": last, "fundingRate": "0.0001", "nextFundingTime": "0", "fundingIntervalHour": "8"})
        })
        .collect();
    json!({"category": "linear", "list": list})
}

/// `a=1&b=2` into decoded pairs.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}
