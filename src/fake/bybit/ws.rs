//! The fake's WebSockets: `/v5/public/linear` (subscribe/unsubscribe acks, `ret_msg:
//! "pong"`, topic frames) and `/v5/private` (the `auth` op first, `op:"pong"` with
//! `args:[ts]`, the account topics). Frame and message sizes are capped as a venue
//! does; a socket that falls too far behind is closed, not buffered without bound.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::{Shared, auth};

/// Largest client message the fake reads: subscriptions and auth are small.
const MAX_MESSAGE_BYTES: usize = 64 * 1024;

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v5/public/linear", get(public))
        .route("/v5/private", get(private))
        .with_state(shared)
}

async fn public(State(shared): State<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| serve(socket, shared, false))
}

async fn private(State(shared): State<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| serve(socket, shared, true))
}

/// One connection: client ops in, subscribed frames out, until either side closes or
/// the fake is told to disconnect everyone.
async fn serve(mut socket: WebSocket, shared: Arc<Shared>, private: bool) {
    let conn_id = format!("fake-conn-{}", std::ptr::addr_of!(socket) as usize);
    let mut frames = match private {
        true => shared.private.subscribe(),
        false => shared.public.subscribe(),
    };
    let mut kick = shared.kick.subscribe();
    let mut stall = shared.stall.subscribe();
    // Topic → the mute serial when it was subscribed.
    let mut topics: BTreeMap<String, u64> = BTreeMap::new();
    let mut authed = false;
    loop {
        tokio::select! {
            _ = stall.changed() => {
                // Hold the socket open and say nothing until the peer gives up.
                loop {
                    match socket.recv().await {
                        Some(Ok(_)) => continue,
                        _ => return,
                    }
                }
            }
            _ = kick.changed() => {
                let close = CloseFrame { code: 1000, reason: "maintenance".into() };
                let _ = socket.send(Message::Close(Some(close))).await;
                return;
            }
            frame = frames.recv() => match frame {
                Ok(frame) if (authed || !private)
                    && topics.get(&frame.topic).is_some_and(|at| shared.delivers(&frame.topic, *at)) => {
                    if socket.send(Message::Text(frame.text.into())).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                // Too far behind: a venue cuts such a reader.
                Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => {
                let text = match incoming {
                    Some(Ok(Message::Text(text))) => text.to_string(),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => continue,
                };
                let now = shared.lock().now_ms();
                let reply = match serde_json::from_str::<Value>(&text) {
                    Ok(op) => answer(&op, &shared, private, &mut authed, &mut topics, &conn_id, now),
                    Err(_) => json!({"success": false, "ret_msg": "error:not a JSON request", "conn_id": conn_id, "op": ""}),
                };
                if socket.send(Message::Text(reply.to_string().into())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The reply to one client op.
fn answer(
    op: &Value,
    shared: &Shared,
    private: bool,
    authed: &mut bool,
    topics: &mut BTreeMap<String, u64>,
    conn_id: &str,
    now: i64,
) -> Value {
    let req_id = op.get("req_id").cloned().unwrap_or(json!(""));
    let name = op.get("op").and_then(Value::as_str).unwrap_or("");
    let args: Vec<Value> = op
        .get("args")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let ack = |success: bool, msg: &str| json!({"success": success, "ret_msg": msg, "conn_id": conn_id, "req_id": req_id, "op": name});
    match name {
        "ping" if private => {
            json!({"req_id": req_id, "op": "pong", "args": [now.to_string()], "conn_id": conn_id})
        }
        "ping" => ack(true, "pong"),
        "auth" if private => {
            let account = shared.lock().account.clone();
            match auth::check_ws(&account, &args, now) {
                Ok(()) => {
                    *authed = true;
                    ack(true, "")
                }
                Err(msg) => ack(false, &msg),
            }
        }
        "subscribe" | "unsubscribe" if private && !*authed => ack(false, "Request not authorized"),
        "subscribe" | "unsubscribe" => {
            let known = |topic: &str| match private {
                true => matches!(topic, "order" | "execution" | "position" | "wallet"),
                false => {
                    topic.starts_with("kline.")
                        || topic.starts_with("publicTrade.")
                        || topic.starts_with("tickers.")
                        || topic.starts_with("orderbook.")
                }
            };
            let names: Vec<&str> = args.iter().filter_map(Value::as_str).collect();
            if let Some(bad) = names.iter().find(|t| !known(t)) {
                return ack(false, &format!("error:handler not found,topic:{bad}"));
            }
            for topic in names {
                match name {
                    "subscribe" => {
                        topics.insert(topic.to_string(), shared.mute_serial());
                    }
                    _ => {
                        topics.remove(topic);
                    }
                }
            }
            ack(true, "")
        }
        _ => ack(false, &format!("error:unknown op {name}")),
    }
}
