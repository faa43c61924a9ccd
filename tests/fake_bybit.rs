//! The loopback Bybit speaks the venue's wire formats: signed REST in the envelope,
//! the private stream behind `auth`, the public topics, and the faults tests inject.
//! The client here is written from `venues.md` alone (its own HMAC), so the fake is
//! checked against the documented protocol, not against the adapter.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, KeyInit, Mac};
use ledger::fake::bybit::{Account, AccountConfig, Bar, Config, Control, FakeBybit, Instrument};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio_tungstenite::tungstenite::Message;

const KEY: &str = "k-test";
const SECRET: &str = "s-test";

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn bars() -> Vec<Bar> {
    [
        ("42000", "42050", "41950", "42010"),
        ("42010", "42100", "41700", "41800"),
        ("41800", "41900", "41750", "41850"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (o, h, l, c))| Bar {
        start_ms: 1_767_225_600_000 + i as i64 * 60_000,
        len_ms: 60_000,
        open: d(o),
        high: d(h),
        low: d(l),
        close: d(c),
        volume: d("12.5"),
    })
    .collect()
}

async fn start() -> FakeBybit {
    ledger::install_crypto();
    let config = Config {
        account: Account {
            key: KEY.into(),
            secret: SECRET.into(),
        },
        instruments: vec![Instrument {
            symbol: "BTCUSDT".into(),
            tick: d("0.1"),
            lot: d("0.001"),
            min_qty: d("0.001"),
            min_notional: d("5"),
            max_leverage: d("100"),
        }],
        bars: BTreeMap::from([("BTCUSDT".to_string(), bars())]),
        account_config: AccountConfig::default(),
        pace: None,
    };
    FakeBybit::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn hmac_hex(text: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(text.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A signed private call; `offset_ms` moves the client's timestamp, `sign` overrides
/// the signature.
async fn call(
    fake: &FakeBybit,
    method: &str,
    path: &str,
    payload: &str,
    offset_ms: i64,
    sign: Option<&str>,
) -> (Value, reqwest::header::HeaderMap) {
    let ts = (now_ms() + offset_ms).to_string();
    let signature = sign
        .map(str::to_string)
        .unwrap_or_else(|| hmac_hex(&format!("{ts}{KEY}5000{payload}")));
    let client = reqwest::Client::new();
    let request = match method {
        "GET" => client.get(format!("{}{path}?{payload}", fake.rest_url())),
        _ => client
            .post(format!("{}{path}", fake.rest_url()))
            .header("Content-Type", "application/json")
            .body(payload.to_string()),
    };
    let response = request
        .header("X-BAPI-API-KEY", KEY)
        .header("X-BAPI-TIMESTAMP", &ts)
        .header("X-BAPI-SIGN", signature)
        .header("X-BAPI-RECV-WINDOW", "5000")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "HTTP 200 even on business errors");
    let headers = response.headers().clone();
    (response.json().await.unwrap(), headers)
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(fake: &FakeBybit, path: &str) -> Socket {
    tokio_tungstenite::connect_async(format!("{}{path}", fake.ws_url()))
        .await
        .unwrap()
        .0
}

async fn send(socket: &mut Socket, op: Value) -> Value {
    socket
        .send(Message::Text(op.to_string().into()))
        .await
        .unwrap();
    next(socket).await
}

/// The next text frame (within a second).
async fn next(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(1), socket.next())
            .await
            .expect("a frame within 1 s")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = frame {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// Frames until one of `topic` comes.
async fn next_of(socket: &mut Socket, topic: &str) -> Value {
    loop {
        let frame = next(socket).await;
        if frame["topic"] == topic {
            return frame;
        }
    }
}

async fn private(fake: &FakeBybit) -> Socket {
    let mut socket = connect(fake, "/v5/private").await;
    let early = send(&mut socket, json!({"op": "subscribe", "args": ["order"]})).await;
    assert_eq!(
        early["success"], false,
        "no subscription before auth: {early}"
    );
    let expires = now_ms() + 1000;
    let bad = send(
        &mut socket,
        json!({"op": "auth", "args": [KEY, expires, "00ff"]}),
    )
    .await;
    assert_eq!(bad["success"], false, "{bad}");
    let sign = hmac_hex(&format!("GET/realtime{expires}"));
    let ok = send(
        &mut socket,
        json!({"req_id": "a1", "op": "auth", "args": [KEY, expires, sign]}),
    )
    .await;
    assert_eq!(
        (
            ok["success"].as_bool(),
            ok["op"].as_str(),
            ok["req_id"].as_str()
        ),
        (Some(true), Some("auth"), Some("a1")),
        "{ok}"
    );
    let sub = send(
        &mut socket,
        json!({"op": "subscribe", "args": ["order", "execution", "position", "wallet"]}),
    )
    .await;
    assert_eq!(sub["success"], true, "{sub}");
    let pong = send(&mut socket, json!({"req_id": "p", "op": "ping"})).await;
    assert_eq!(
        pong["op"], "pong",
        "private pong is an op with args [ts]: {pong}"
    );
    assert!(pong["args"][0].as_str().unwrap().parse::<i64>().is_ok());
    socket
}

fn create(link: &str, side: &str, kind: &str, price: Option<&str>) -> String {
    let mut body = json!({"category": "linear", "symbol": "BTCUSDT", "side": side, "orderType": kind, "qty": "0.010", "orderLinkId": link, "positionIdx": 0});
    if let Some(p) = price {
        body["price"] = json!(p);
        body["timeInForce"] = json!("GTC");
    }
    body.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_orders_answer_on_rest_and_report_on_the_private_stream() {
    let fake = start().await;
    let mut socket = private(&fake).await;
    let (answer, headers) = call(
        &fake,
        "POST",
        "/v5/order/create",
        &create("ledger-1", "Buy", "Market", None),
        0,
        None,
    )
    .await;
    assert_eq!(answer["retCode"], 0, "{answer}");
    assert_eq!(answer["result"]["orderLinkId"], "ledger-1");
    for name in [
        "x-bapi-limit",
        "x-bapi-limit-status",
        "x-bapi-limit-reset-timestamp",
    ] {
        assert!(headers.contains_key(name), "{name}");
    }
    let exec = next_of(&mut socket, "execution").await;
    let fill = &exec["data"][0];
    assert_eq!(
        (
            fill["execType"].as_str(),
            fill["orderLinkId"].as_str(),
            fill["execPrice"].as_str(),
            fill["execQty"].as_str()
        ),
        (
            Some("Trade"),
            Some("ledger-1"),
            Some("42010"),
            Some("0.010")
        )
    );
    assert!(
        fill["execTime"].is_string(),
        "times inside data are strings"
    );
    let order = next_of(&mut socket, "order").await;
    assert_eq!(order["data"][0]["orderStatus"], "Filled");
    assert!(order["creationTime"].is_i64());

    let (again, _) = call(
        &fake,
        "POST",
        "/v5/order/create",
        &create("ledger-1", "Buy", "Market", None),
        0,
        None,
    )
    .await;
    assert_eq!(again["retCode"], 110072, "a reused orderLinkId: {again}");
    let (positions, _) = call(
        &fake,
        "GET",
        "/v5/position/list",
        "category=linear&symbol=BTCUSDT",
        0,
        None,
    )
    .await;
    assert_eq!(
        positions["result"]["list"][0]["avgPrice"], "42010",
        "REST says avgPrice: {positions}"
    );
    let (by_link, _) = call(
        &fake,
        "GET",
        "/v5/order/realtime",
        "category=linear&orderLinkId=ledger-1",
        0,
        None,
    )
    .await;
    assert_eq!(
        by_link["result"]["list"][0]["orderStatus"], "Filled",
        "an order found by its client id after it closed"
    );

    // A resting limit fills as maker when a bar trades through it.
    let (rest, _) = call(
        &fake,
        "POST",
        "/v5/order/create",
        &create("ledger-2", "Buy", "Limit", Some("41750.0")),
        0,
        None,
    )
    .await;
    assert_eq!(rest["retCode"], 0, "{rest}");
    assert_eq!(
        next_of(&mut socket, "order").await["data"][0]["orderStatus"],
        "New"
    );
    fake.control().step();
    let exec = next_of(&mut socket, "execution").await;
    assert_eq!(
        (
            exec["data"][0]["isMaker"].as_bool(),
            exec["data"][0]["execPrice"].as_str()
        ),
        (Some(true), Some("41750.0"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_skew_and_rate_limits_get_the_venue_codes() {
    let fake = start().await;
    let query = "category=linear&symbol=BTCUSDT";
    let (bad, _) = call(
        &fake,
        "GET",
        "/v5/order/realtime",
        query,
        0,
        Some("deadbeef"),
    )
    .await;
    assert_eq!(bad["retCode"], 10004);
    let (late, _) = call(&fake, "GET", "/v5/order/realtime", query, -6_000, None).await;
    assert_eq!(late["retCode"], 10002);
    assert!(
        late["retMsg"]
            .as_str()
            .unwrap()
            .contains("recv_window[5000]"),
        "{late}"
    );
    // The venue's clock 3 s ahead: a client that does not measure the offset is refused.
    fake.control().set_skew_ms(3_000);
    let (ahead, _) = call(&fake, "GET", "/v5/order/realtime", query, 0, None).await;
    assert_eq!(
        ahead["retCode"], 0,
        "3 s behind the venue is inside the 5 s window"
    );
    fake.control().set_skew_ms(-3_000);
    let (behind, _) = call(&fake, "GET", "/v5/order/realtime", query, 0, None).await;
    assert_eq!(
        behind["retCode"], 10002,
        "a timestamp ahead of the venue by more than 1 s"
    );
    fake.control().set_skew_ms(0);
    fake.control().rate_limit_next(2);
    for _ in 0..2 {
        let (limited, headers) = call(&fake, "GET", "/v5/order/realtime", query, 0, None).await;
        assert_eq!(limited["retCode"], 10006);
        assert_eq!(limited["retMsg"], "Too many visits!");
        assert!(headers.contains_key("x-bapi-limit-reset-timestamp"));
    }
    assert_eq!(
        call(&fake, "GET", "/v5/order/realtime", query, 0, None)
            .await
            .0["retCode"],
        0
    );
    // A GET with a body is refused as the venue does (HTTP 403).
    let status = reqwest::Client::new()
        .get(format!("{}/v5/order/realtime?{query}", fake.rest_url()))
        .body("{}")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_topics_dropped_fills_and_disconnects() {
    let fake = start().await;
    let control: Control = fake.control();
    let mut public = connect(&fake, "/v5/public/linear").await;
    let ack = send(&mut public, json!({"req_id": "s", "op": "subscribe", "args": ["kline.1.BTCUSDT", "publicTrade.BTCUSDT"]})).await;
    assert_eq!(
        (ack["success"].as_bool(), ack["op"].as_str()),
        (Some(true), Some("subscribe")),
        "{ack}"
    );
    let bad = send(
        &mut public,
        json!({"op": "subscribe", "args": ["dcp.future"]}),
    )
    .await;
    assert_eq!(bad["success"], false);
    assert!(
        bad["ret_msg"]
            .as_str()
            .unwrap()
            .contains("handler not found"),
        "{bad}"
    );
    let pong = send(&mut public, json!({"op": "ping"})).await;
    assert_eq!(pong["ret_msg"], "pong");
    assert!(control.step());
    let kline = next_of(&mut public, "kline.1.BTCUSDT").await;
    let bar = &kline["data"][0];
    assert_eq!(
        (bar["close"].as_str(), bar["confirm"].as_bool()),
        (Some("41800"), Some(true))
    );
    assert!(bar["start"].is_i64(), "kline times are numbers");
    let trade = next_of(&mut public, "publicTrade.BTCUSDT").await;
    assert_eq!(trade["data"][0]["p"], "41800");

    // A fill frame lost on the stream is still on REST.
    let mut socket = private(&fake).await;
    control.drop_executions(1);
    let (answer, _) = call(
        &fake,
        "POST",
        "/v5/order/create",
        &create("ledger-9", "Sell", "Market", None),
        0,
        None,
    )
    .await;
    assert_eq!(answer["retCode"], 0);
    assert_eq!(
        next_of(&mut socket, "order").await["data"][0]["orderStatus"],
        "Filled"
    );
    let (fills, _) = call(
        &fake,
        "GET",
        "/v5/execution/list",
        "category=linear&symbol=BTCUSDT",
        0,
        None,
    )
    .await;
    assert_eq!(
        fills["result"]["list"][0]["orderLinkId"], "ledger-9",
        "{fills}"
    );

    // Maintenance: every socket closes with 1000.
    control.disconnect_all();
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(1), public.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.map(|f| u16::from(f.code)), Some(1000));
}
