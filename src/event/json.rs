//! The public JSON form: one event per line (JSON Lines), tagged by `"type"`, with
//! `ts` (and optionally `recv_ts`, `seq`) beside the payload's own fields.
//!
//! Parsing reads the line twice: once for the head (`type`, `ts`), once into the
//! payload's own struct. Keys a payload does not know (`seq`, `type`, `ts`, additions
//! from newer writers) are ignored, so exported lines import as they are.

use std::borrow::Cow;
use std::io::Write;

use serde::Deserialize;

use super::{Envelope, Event, Payload, Timestamp};

#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    ts: Timestamp,
    #[serde(default)]
    recv_ts: Option<Timestamp>,
}

/// Why a JSON line is not an event. The caller adds where (file, line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JsonEventError(pub String);

/// Read one JSON line as an event, validating its fields.
pub fn parse_event(line: &str) -> Result<Event, JsonEventError> {
    let head: Head<'_> = serde_json::from_str(line).map_err(|e| JsonEventError(e.to_string()))?;
    let payload = match Payload::from_json(&head.kind, line) {
        Some(parsed) => parsed.map_err(|e| JsonEventError(format!("{}: {e}", head.kind)))?,
        None => {
            return Err(JsonEventError(format!(
                "unknown event type `{}` (known: {})",
                head.kind.chars().take(40).collect::<String>(),
                Payload::KINDS.join(", ")
            )));
        }
    };
    payload
        .validate()
        .map_err(|e| JsonEventError(format!("{}: {e}", head.kind)))?;
    Ok(Event {
        ts: head.ts,
        recv_ts: head.recv_ts,
        payload,
    })
}

/// Append `envelope` as one JSON line (with trailing newline) to `out`.
pub fn write_event(envelope: &Envelope, out: &mut Vec<u8>) -> serde_json::Result<()> {
    let event = &envelope.event;
    // Invariant: writing to a Vec cannot fail; the `?`s below only carry serde errors.
    write!(
        out,
        "{{\"type\":\"{}\",\"seq\":{},\"ts\":\"{}\"",
        event.payload.kind(),
        envelope.seq,
        event.ts
    )
    .map_err(serde_json::Error::io)?;
    if let Some(recv_ts) = event.recv_ts {
        write!(out, ",\"recv_ts\":\"{recv_ts}\"").map_err(serde_json::Error::io)?;
    }
    let object_start = out.len();
    event.payload.write_json_object(out)?;
    // The payload is a JSON object `{...}`: splice its fields after the head.
    debug_assert_eq!(out.get(object_start), Some(&b'{'));
    if out.len() - object_start > 2 {
        out[object_start] = b',';
    } else {
        out.truncate(object_start);
        out.push(b'}');
    }
    out.push(b'\n');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: &[&str] = &[
        r#"{"type":"fill","ts":"2026-01-05T00:00:01Z","venue":"bybit","book":"linear","instrument":"BTCUSDT","order_id":"o-1","exec_id":"e-1","side":"buy","px":"42000.5","qty":"0.010","fee":"0.231","liquidity":"taker"}"#,
        r#"{"type":"funding","ts":"2026-01-05T08:00:00Z","venue":"bybit","book":"linear","instrument":"BTCUSDT","amount":"-0.42"}"#,
        r#"{"type":"trade","ts":"2026-01-05T00:00:02Z","venue":"bybit","book":"linear","instrument":"BTCUSDT","px":"42001","qty":"0.5","side":"sell","trade_id":"t-9"}"#,
        r#"{"type":"order_submitted","ts":"2026-01-05T00:00:03Z","venue":"bybit","book":"linear","instrument":"BTCUSDT","client_order_id":"c-1","side":"buy","order_type":"limit","qty":"1","px":"100","tif":"gtc","reduce_only":false,"post_only":false}"#,
        r#"{"type":"order_accepted","ts":"2026-01-05T00:00:04Z","client_order_id":"c-1","venue_order_id":"v-77"}"#,
        r#"{"type":"order_cancelled","ts":"2026-01-05T00:00:05Z","client_order_id":"c-1"}"#,
    ];

    #[test]
    fn the_documented_lines_are_accepted_and_round_trip() {
        for (i, line) in SAMPLES.iter().enumerate() {
            let event = parse_event(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            let mut out = Vec::new();
            write_event(
                &Envelope {
                    seq: i as u64 + 1,
                    event: event.clone(),
                },
                &mut out,
            )
            .unwrap();
            let text = std::str::from_utf8(&out).unwrap();
            assert!(text.ends_with('\n'));
            assert_eq!(parse_event(text.trim_end()).unwrap(), event, "{text}");
        }
    }

    #[test]
    fn errors_name_the_problem() {
        let cases = [
            (r#"{"ts":"2026-01-05T00:00:01Z"}"#, "missing field `type`"),
            (
                r#"{"type":"nope","ts":"2026-01-05T00:00:01Z"}"#,
                "unknown event type `nope`",
            ),
            (
                r#"{"type":"trade","ts":"2026-01-05T00:00:01Z","venue":"b","book":"l","instrument":"X","px":"1x","qty":"1"}"#,
                "invalid decimal `1x`",
            ),
            (
                r#"{"type":"trade","ts":"2026-01-05T00:00:01Z","venue":"b","book":"l","instrument":"X","qty":"1"}"#,
                "missing field `px`",
            ),
            (
                r#"{"type":"trade","ts":"2026-01-05T00:00:01Z","venue":"b","book":"l","instrument":"X","px":"1","qty":"-1"}"#,
                "`qty` must be positive",
            ),
            (
                r#"{"type":"trade","ts":"yesterday","venue":"b"}"#,
                "invalid timestamp",
            ),
            (r#"{"type":"trade""#, "EOF"),
        ];
        for (line, expected) in cases {
            let err = parse_event(line).unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{line}: got `{err}`, want `{expected}`"
            );
        }
    }
}
