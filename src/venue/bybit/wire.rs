//! What every Bybit parser shares: the frame error (which field, and the frame quoted),
//! the venue/book names events carry, and readers for Bybit's string-encoded numbers.
//!
//! Bybit sends prices, quantities and the timestamps inside private `data` as strings;
//! they are read with the ledger's exact `Decimal` (never `f64`) and as integer ms.

use serde::de::DeserializeOwned;

use crate::event::{Book, Decimal, Side, Timestamp, Venue};

/// How much of a bad frame an error quotes: enough to recognise it in a log, bounded so
/// a 1024-trade message does not flood one.
pub const FRAME_QUOTE_CHARS_MAX: usize = 200;

/// A frame or response that could not be read. Never retryable: the same bytes fail
/// the same way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bybit: bad frame, {field}: {reason}; frame: {frame}")]
pub struct FrameError {
    /// The field (or `json` for the frame as a whole).
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
    /// The frame, clipped to [`FRAME_QUOTE_CHARS_MAX`] characters.
    pub frame: String,
}

impl FrameError {
    /// An error about `field` in `frame`.
    pub fn new(frame: &str, field: &str, reason: impl Into<String>) -> FrameError {
        let mut quoted: String = frame.chars().take(FRAME_QUOTE_CHARS_MAX).collect();
        if quoted.len() < frame.len() {
            quoted.push('…');
        }
        FrameError {
            field: field.to_string(),
            reason: reason.into(),
            frame: quoted,
        }
    }
}

/// The venue and book the events name (`bybit`, `linear` by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// Venue namespace.
    pub venue: Venue,
    /// Asset class.
    pub book: Book,
}

impl Default for Namespace {
    fn default() -> Namespace {
        Namespace {
            venue: Venue::from("bybit"),
            book: Book::from("linear"),
        }
    }
}

/// Deserialize `frame` into `T`; serde's message names the missing or mistyped field.
pub fn from_json<T: DeserializeOwned>(frame: &str) -> Result<T, FrameError> {
    serde_json::from_str(frame).map_err(|e| FrameError::new(frame, "json", e.to_string()))
}

/// Deserialize an already-parsed value into `T`, quoting `frame` on failure.
pub fn from_value<T: DeserializeOwned>(
    frame: &str,
    field: &str,
    value: serde_json::Value,
) -> Result<T, FrameError> {
    serde_json::from_value(value).map_err(|e| FrameError::new(frame, field, e.to_string()))
}

/// A decimal string.
pub fn decimal(frame: &str, field: &str, text: &str) -> Result<Decimal, FrameError> {
    text.parse()
        .map_err(|e: crate::event::DecimalParseError| FrameError::new(frame, field, e.reason))
}

/// A decimal string where `""` means absent (Bybit's empty `triggerPrice`, `liqPrice`).
pub fn optional_decimal(
    frame: &str,
    field: &str,
    text: &str,
) -> Result<Option<Decimal>, FrameError> {
    match text {
        "" => Ok(None),
        _ => decimal(frame, field, text).map(Some),
    }
}

/// Milliseconds since the epoch, as a number.
pub fn millis(frame: &str, field: &str, ms: i64) -> Result<Timestamp, FrameError> {
    Timestamp::from_millis(ms).ok_or_else(|| FrameError::new(frame, field, "out of range"))
}

/// Milliseconds since the epoch, as a string (`"1672364262444"`).
pub fn millis_text(frame: &str, field: &str, text: &str) -> Result<Timestamp, FrameError> {
    let ms: i64 = text
        .parse()
        .map_err(|_| FrameError::new(frame, field, format!("expected ms digits, got {text:?}")))?;
    millis(frame, field, ms)
}

/// `Buy` / `Sell`.
pub fn side(frame: &str, field: &str, text: &str) -> Result<Side, FrameError> {
    match text {
        "Buy" => Ok(Side::Buy),
        "Sell" => Ok(Side::Sell),
        _ => Err(FrameError::new(
            frame,
            field,
            format!("expected Buy or Sell, got {text:?}"),
        )),
    }
}

/// The wire name of a side.
pub fn side_name(side: Side) -> &'static str {
    match side {
        Side::Buy => "Buy",
        Side::Sell => "Sell",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_quote_a_clipped_frame_and_name_the_field() {
        let frame = format!("{{\"x\":\"{}\"}}", "a".repeat(500));
        let err = decimal(&frame, "data[0].p", "1e5").unwrap_err();
        assert_eq!(err.field, "data[0].p");
        assert_eq!(err.frame.chars().count(), FRAME_QUOTE_CHARS_MAX + 1);
        assert!(err.to_string().contains("data[0].p"));
    }

    #[test]
    fn string_readers() {
        assert_eq!(optional_decimal("", "f", "").unwrap(), None);
        assert_eq!(
            millis_text("", "t", "1672364262444").unwrap(),
            Timestamp::from_millis(1_672_364_262_444).unwrap()
        );
        assert!(millis_text("", "t", "12a").is_err());
        assert_eq!(side("", "S", "Sell").unwrap(), Side::Sell);
        assert!(side("", "S", "").is_err());
    }
}
