//! The public JSON form: one event per line (JSON Lines), tagged by `"type"`, with
//! `ts` (and optionally `recv_ts`, `seq`) beside the payload's own fields.
//!
//! A line that starts with `{"type":"…"` (as every exported line does) is parsed in
//! one pass: the kind is read from the prefix, and the payload's own struct is
//! deserialized with `ts`/`recv_ts` taken out of the key stream on the way
//! (`head::Intercept`). Any other line is read twice: once for the head (`type`, `ts`),
//! once into the payload's struct. Both give the same events and the same errors for
//! bad values. Keys a payload does not know (`seq`, additions from newer writers) are
//! ignored, so exported lines import as they are. Plain trade and fill lines, most of
//! any import, are read without serde first (`fast`), with the same result.

mod fast;
mod head;

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
#[inline]
pub fn parse_event(line: &str) -> Result<Event, JsonEventError> {
    match leading_kind(line) {
        Some(kind) => match fast::parse(kind, line) {
            Some(event) => Ok(event),
            None => parse_one_pass(kind, line),
        },
        None => parse_two_pass(line),
    }
}

/// The `type` of a line that begins `{"type":"<kind>"` with no escapes in the kind.
fn leading_kind(line: &str) -> Option<&str> {
    let rest = line.strip_prefix(r#"{"type":""#)?;
    let end = rest.find(['"', '\\'])?;
    (rest.as_bytes()[end] == b'"').then(|| &rest[..end])
}

fn parse_one_pass(kind: &str, line: &str) -> Result<Event, JsonEventError> {
    let mut fields = head::HeadFields::default();
    let mut de = serde_json::Deserializer::from_str(line);
    let parsed = Payload::from_deserializer(kind, head::Intercept::new(&mut de, &mut fields));
    let payload = match parsed {
        Some(Ok(payload)) => payload,
        Some(Err(e)) if fields.head_error => return Err(JsonEventError(message(&e))),
        Some(Err(e)) => return Err(JsonEventError(format!("{kind}: {}", message(&e)))),
        None => return Err(unknown_kind(kind)),
    };
    de.end().map_err(|e| JsonEventError(message(&e)))?;
    let ts = fields
        .ts
        .ok_or_else(|| JsonEventError("missing field `ts`".into()))?;
    payload
        .validate()
        .map_err(|e| JsonEventError(format!("{kind}: {e}")))?;
    times_agree(Event {
        ts,
        recv_ts: fields.recv_ts,
        payload,
    })
}

/// A candle is stamped when it is seen, never before it opened: an `open_time` after
/// `ts` is a broken line (it would mark a price from the future).
fn times_agree(event: Event) -> Result<Event, JsonEventError> {
    if let Payload::Candle(c) = &event.payload {
        if c.open_time > event.ts {
            return Err(JsonEventError(format!(
                "candle: open_time {} is after its ts {} (a candle is stamped at or after it opens)",
                c.open_time, event.ts
            )));
        }
    }
    Ok(event)
}

fn unknown_kind(kind: &str) -> JsonEventError {
    JsonEventError(format!(
        "unknown event type `{}` (known: {})",
        kind.chars().take(40).collect::<String>(),
        Payload::KINDS.join(", ")
    ))
}

/// serde_json's message with its position as a column: the caller names the file and
/// line, and a JSON line is always "line 1" to serde, which only misleads.
fn message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&position) {
        Some(bare) => format!("{bare} (column {})", e.column()),
        None => text,
    }
}

/// A line that is valid JSON but not an object (`null`, `[1]`, `42`) or not JSON at
/// all: say what a line must be, not what serde expected of an internal struct.
fn not_an_object(line: &str) -> JsonEventError {
    let shown: String = line.trim().chars().take(40).collect();
    JsonEventError(format!(
        "`{shown}` is not an event: each line must be one JSON object with a \
         \"type\" and a \"ts\", such as {{\"type\":\"trade\",\"ts\":\"2026-01-05T00:00:01Z\",...}}"
    ))
}

fn parse_two_pass(line: &str) -> Result<Event, JsonEventError> {
    if !line.trim_start().starts_with('{') {
        return Err(not_an_object(line));
    }
    let head: Head<'_> = serde_json::from_str(line).map_err(|e| JsonEventError(message(&e)))?;
    let payload = match Payload::from_json(&head.kind, line) {
        Some(parsed) => {
            parsed.map_err(|e| JsonEventError(format!("{}: {}", head.kind, message(&e))))?
        }
        None => return Err(unknown_kind(&head.kind)),
    };
    payload
        .validate()
        .map_err(|e| JsonEventError(format!("{}: {e}", head.kind)))?;
    times_agree(Event {
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
    fn one_pass_and_two_pass_agree() {
        let extra = [
            r#"{"type":"trade","seq":9,"recv_ts":"2026-01-05T00:00:03.5Z","px":"1","ts":"2026-01-05T00:00:02Z","venue":"b","book":"l","instrument":"X","qty":"1","side":"buy","future_field":{"ts":1}}"#,
            r#"{"type":"trade","ts":"2026-01-05T00:00:02Z","recv_ts":null,"v\u0065nue":"b","book":"l","instrument":"X","px":"1","qty":"1","side":"buy"}"#,
        ];
        for line in SAMPLES.iter().chain(extra.iter()) {
            assert!(leading_kind(line).is_some(), "{line}");
            let one = parse_one_pass(leading_kind(line).unwrap(), line);
            assert_eq!(one, parse_two_pass(line), "{line}");
            assert!(one.is_ok(), "{line}: {one:?}");
        }
        let recv = parse_event(extra[0]).unwrap();
        assert_eq!(
            recv.recv_ts.unwrap().to_string(),
            "2026-01-05T00:00:03.500Z"
        );
    }

    #[test]
    fn one_pass_refuses_what_two_pass_refuses() {
        let bad = [
            r#"{"type":"trade","ts":"2026-01-05T00:00:02Z","ts":"2026-01-05T00:00:02Z","venue":"b","book":"l","instrument":"X","px":"1","qty":"1","side":"buy"}"#,
            r#"{"type":"trade","type":"fill","ts":"2026-01-05T00:00:02Z","venue":"b","book":"l","instrument":"X","px":"1","qty":"1","side":"buy"}"#,
            r#"{"type":"trade","venue":"b","book":"l","instrument":"X","px":"1","qty":"1","side":"buy"}"#,
            r#"{"type":"trade","ts":"2026-01-05T00:00:02Z","venue":"b","book":"l","instrument":"X","px":"1","qty":"1","side":"buy"} x"#,
            r#"{"type":"trade","ts":"2026-01-05T00:00:02Z","recv_ts":5,"venue":"b","book":"l","instrument":"X","px":"1","qty":"1","side":"buy"}"#,
        ];
        for line in bad {
            let one = parse_one_pass(leading_kind(line).unwrap(), line);
            let two = parse_two_pass(line);
            assert!(one.is_err() && two.is_err(), "{line}: {one:?} / {two:?}");
        }
        assert_eq!(leading_kind(r#"{"type":"tr\u0061de","ts":"x"}"#), None);
        assert_eq!(leading_kind(r#"{ "type":"trade"}"#), None);
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

    /// Issue 9 errors: a line that is not an object says what a line must be (not
    /// "expected struct Head"), and a position is a column, not serde's "line 1".
    #[test]
    fn errors_speak_of_lines_and_columns_not_internals() {
        for line in ["null", "[1]", "42", "\"trade\""] {
            let err = parse_event(line).unwrap_err().to_string();
            assert!(err.contains("is not an event"), "{line}: {err}");
            assert!(!err.contains("Head") && !err.contains("struct"), "{err}");
        }
        let line = r#"{"type":"trade","ts":"2026-01-05T00:00:01Z","venue":"b","book":"l","instrument":"X","px":"1x","qty":"1","side":"buy"}"#;
        let err = parse_event(line).unwrap_err().to_string();
        assert!(err.contains("(column "), "{err}");
        assert!(!err.contains("line 1"), "{err}");
        let line = r#"{"ts":"2026-01-05T00:00:01Z","type":"trade","px":}"#;
        let err = parse_event(line).unwrap_err().to_string();
        assert!(err.contains("(column ") && !err.contains("line 1"), "{err}");
    }
}
