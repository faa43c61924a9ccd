//! Control frames shared by the public and private WS: subscribe / unsubscribe / auth
//! acks (success and failure) and pong replies, plus the JSON the client sends for them.
//!
//! Bybit words these two ways: the public and private streams say
//! `{"success":..,"ret_msg":..}`, the auth failure of some streams says
//! `{"retCode":..,"retMsg":..}`; both are read. The public pong is an ack of `op:"ping"`
//! with `ret_msg:"pong"`, the private one is `op:"pong"`.

use serde_json::{Map, Value, json};

use super::wire::FrameError;

/// An acknowledged or refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// `subscribe`, `unsubscribe` or `auth`.
    pub op: String,
    /// Whether the venue did it.
    pub success: bool,
    /// The venue's message (empty on success).
    pub message: String,
    /// The echoed `req_id`, when sent back non-empty.
    pub req_id: Option<String>,
}

/// A control frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// A subscribe, unsubscribe or auth answer.
    Ack(Ack),
    /// A heartbeat answer.
    Pong,
}

fn text(object: &Map<String, Value>, names: &[&str]) -> String {
    names
        .iter()
        .find_map(|n| object.get(*n).and_then(Value::as_str))
        .unwrap_or_default()
        .to_string()
}

/// The control frame in `object`, `None` when it is not one (it has no `op`).
pub fn read_control(
    frame: &str,
    object: &Map<String, Value>,
) -> Option<Result<Control, FrameError>> {
    let op = object.get("op")?.as_str()?;
    let message = text(object, &["ret_msg", "retMsg"]);
    if op == "pong" || (op == "ping" && message == "pong") {
        return Some(Ok(Control::Pong));
    }
    let success = match (object.get("success"), object.get("retCode")) {
        (Some(Value::Bool(b)), _) => *b,
        (_, Some(code)) => code.as_i64() == Some(0),
        _ => return Some(Err(FrameError::new(frame, "success", "missing"))),
    };
    let req_id = Some(text(object, &["req_id", "reqId"])).filter(|s| !s.is_empty());
    Some(Ok(Control::Ack(Ack {
        op: op.to_string(),
        success,
        message,
        req_id,
    })))
}

/// `{"req_id":..,"op":"subscribe","args":[topics]}`.
pub fn subscribe_message(req_id: &str, topics: &[String]) -> String {
    json!({"req_id": req_id, "op": "subscribe", "args": topics}).to_string()
}

/// `{"req_id":..,"op":"unsubscribe","args":[topics]}`.
pub fn unsubscribe_message(req_id: &str, topics: &[String]) -> String {
    json!({"req_id": req_id, "op": "unsubscribe", "args": topics}).to_string()
}

/// `{"req_id":..,"op":"ping"}`, to send every 20 s.
pub fn ping_message(req_id: &str) -> String {
    json!({"req_id": req_id, "op": "ping"}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(frame: &str) -> Control {
        let value: Value = serde_json::from_str(frame).unwrap();
        read_control(frame, value.as_object().unwrap())
            .unwrap()
            .unwrap()
    }

    fn ack(op: &str, success: bool, message: &str) -> Control {
        Control::Ack(Ack {
            op: op.into(),
            success,
            message: message.into(),
            req_id: None,
        })
    }

    #[test]
    fn acks_and_pongs() {
        let ok = r#"{"success":true,"ret_msg":"","conn_id":"c","req_id":"","op":"subscribe"}"#;
        assert_eq!(check(ok), ack("subscribe", true, ""));
        let bad = r#"{"success":false,"ret_msg":"error:handler not found,topic:dcp.future","conn_id":"c","req_id":"r1","op":"subscribe"}"#;
        let Control::Ack(a) = check(bad) else {
            panic!()
        };
        assert!(!a.success);
        assert_eq!(a.req_id.as_deref(), Some("r1"));
        let auth = r#"{"op":"auth","success":false,"retCode":10003,"retMsg":"Invalid apikey","connId":"c"}"#;
        assert_eq!(check(auth), ack("auth", false, "Invalid apikey"));
        let auth = r#"{"retCode":0,"retMsg":"OK","op":"auth","connId":".."}"#;
        assert_eq!(check(auth), ack("auth", true, "OK"));
        let public = r#"{"success":true,"ret_msg":"pong","conn_id":"c","req_id":"","op":"ping"}"#;
        assert_eq!(check(public), Control::Pong);
        let private = r#"{"req_id":"test","op":"pong","args":["1675418560633"],"conn_id":"c"}"#;
        assert_eq!(check(private), Control::Pong);
    }

    #[test]
    fn messages() {
        let topics = vec!["publicTrade.BTCUSDT".to_string()];
        assert_eq!(
            subscribe_message("1", &topics),
            r#"{"args":["publicTrade.BTCUSDT"],"op":"subscribe","req_id":"1"}"#
        );
        assert_eq!(ping_message("7"), r#"{"op":"ping","req_id":"7"}"#);
        assert!(unsubscribe_message("2", &topics).contains("unsubscribe"));
    }
}
