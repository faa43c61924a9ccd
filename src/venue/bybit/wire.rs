//! What every Bybit parser shares: the frame error (which field, and the frame quoted),
//! the venue/book names events carry, and readers for Bybit's string-encoded numbers.
//!
//! Bybit sends prices, quantities and the timestamps inside private `data` as strings;
//! they are read with the ledger's exact `Decimal` (never `f64`) and as integer ms.

use serde::de::DeserializeOwned;

use crate::event::{Book, ClientOrderId, Decimal, Side, Timestamp, Venue};

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

/// Bybit's `orderLinkId` limit (`venues.md` §B): at most 36 characters of
/// `[A-Za-z0-9_-]`.
pub const LINK_ID_MAX: usize = 36;

/// The `orderLinkId` our client order id travels as. An id Bybit accepts goes as it
/// is; any other (the ledger's ids name the position, `venue:book:symbol`, and run
/// past 36 characters) goes as `lg-` and 32 hex digits of its blake3: deterministic,
/// so a restart sends a retried create under the same link id and the venue's 110072
/// keeps it idempotent. The backend maps link ids back to ours.
pub fn link_id(id: &ClientOrderId) -> ClientOrderId {
    let text = id.as_str();
    let valid = text.len() <= LINK_ID_MAX
        && !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        return id.clone();
    }
    let hash = blake3::hash(text.as_bytes()).to_hex();
    ClientOrderId::from(format!("lg-{}", &hash[..32]).as_str())
}

#[cfg(test)]
mod link_tests {
    use super::*;

    #[test]
    fn link_ids_fit_bybit_and_are_stable() {
        let short = ClientOrderId::from("my-id_1");
        assert_eq!(link_id(&short), short);
        let long = ClientOrderId::from("ema_trend-bybit:linear:BTCUSDT-1796752680000000000-0-0");
        let link = link_id(&long);
        assert_eq!(link, link_id(&long), "deterministic");
        assert!(link.as_str().len() <= LINK_ID_MAX);
        assert!(link.as_str().starts_with("lg-"));
        assert!(link.as_str()[3..].bytes().all(|b| b.is_ascii_hexdigit()));
        let other = ClientOrderId::from("ema_trend-bybit:linear:BTCUSDT-1796752680000000000-0-1");
        assert_ne!(link_id(&other), link);
        // 37 valid characters are too many.
        let edge = ClientOrderId::from("a".repeat(37).as_str());
        assert_ne!(link_id(&edge), edge);
    }
}
