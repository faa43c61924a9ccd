//! Bybit's public linear stream for the feed: which topics a symbol needs, and frames →
//! events through the venue's pure parser ([`PublicState`]).

use std::time::Duration;

use crate::event::{Event, Timeframe};
use crate::venue::bybit::control::Control;
use crate::venue::bybit::public::{
    PublicFrame, PublicState, kline_topic, ticker_topic, trade_topic,
};
use crate::venue::bybit::wire::{FrameError, Namespace};

/// Which channels each symbol gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// `publicTrade.{symbol}`.
    pub trades: bool,
    /// `kline.{interval}.{symbol}` with this Bybit interval.
    pub kline: Option<String>,
    /// `tickers.{symbol}`.
    pub tickers: bool,
}

impl Topics {
    /// The topic names of `symbol`.
    pub fn for_symbol(&self, symbol: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.trades {
            out.push(trade_topic(symbol));
        }
        if let Some(interval) = &self.kline {
            out.push(kline_topic(interval, symbol));
        }
        if self.tickers {
            out.push(ticker_topic(symbol));
        }
        out
    }
}

/// Bybit's kline interval for `tf` (`1`..`720` minutes, `D`, `W`); `None` otherwise.
pub fn interval(tf: Timeframe) -> Option<String> {
    const MINUTES: [u32; 10] = [1, 3, 5, 15, 30, 60, 120, 240, 360, 720];
    match tf.seconds() {
        86_400 => Some("D".into()),
        604_800 => Some("W".into()),
        s if s % 60 == 0 && MINUTES.contains(&(s / 60)) => Some((s / 60).to_string()),
        _ => None,
    }
}

/// Closed-candle intervals a kline topic may send nothing for before it is taken as
/// stale: Bybit pushes a kline topic every 1–60 s and a venue replaying closed bars
/// (the fake) once per interval, so three silent intervals is a channel that died.
pub const KLINE_SILENT_INTERVALS: u32 = 3;

/// How long `topic` may be silent, on a connection that is otherwise alive, before it
/// is stale; `None` for topics without a cadence (trades and tickers of a quiet symbol
/// can rightly say nothing for a long time). `kline_limit` overrides the kline limit.
pub fn silence_limit(topic: &str, kline_limit: Option<Duration>) -> Option<Duration> {
    let interval = topic.strip_prefix("kline.")?.split('.').next()?;
    if let Some(limit) = kline_limit {
        return Some(limit);
    }
    let minutes: u64 = match interval {
        "D" => 1_440,
        "W" => 10_080,
        "M" => 44_640,
        n => n.parse().ok()?,
    };
    Some(Duration::from_secs(
        minutes * 60 * u64::from(KLINE_SILENT_INTERVALS),
    ))
}

/// The `topic` of a data frame, read without parsing it (topics hold no escapes).
pub fn frame_topic(frame: &str) -> Option<&str> {
    const KEY: &str = "\"topic\":\"";
    let start = frame.find(KEY)? + KEY.len();
    let len = frame[start..].find('"')?;
    Some(&frame[start..start + len])
}

/// What one frame gave the feed.
#[derive(Debug)]
pub enum Parsed {
    /// Market events (maybe none).
    Events(Vec<Event>),
    /// A subscribe ack (`op`, success, message, req_id).
    Ack {
        /// Whether the venue took it.
        success: bool,
        /// The venue's message.
        message: String,
        /// The echoed request id.
        req_id: Option<String>,
    },
    /// A heartbeat answer.
    Pong,
}

/// The parser state of one stream.
#[derive(Debug, Default)]
pub struct Parser {
    state: PublicState,
}

impl Parser {
    /// A parser for the default (`bybit`, `linear`) namespace.
    pub fn new() -> Parser {
        Parser {
            state: PublicState::new(Namespace::default()),
        }
    }

    /// Parse one text frame.
    pub fn parse(&mut self, frame: &str) -> Result<Parsed, FrameError> {
        Ok(match self.state.parse(frame)? {
            PublicFrame::Events(events) => Parsed::Events(events),
            PublicFrame::Control(Control::Pong) => Parsed::Pong,
            PublicFrame::Control(Control::Ack(ack)) => Parsed::Ack {
                success: ack.success,
                message: ack.message,
                req_id: ack.req_id,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kline_topics_go_stale_after_three_intervals_others_never() {
        let min = |m: u64| Some(Duration::from_secs(m * 60));
        assert_eq!(silence_limit("kline.1.BTCUSDT", None), min(3));
        assert_eq!(silence_limit("kline.240.BTCUSDT", None), min(720));
        assert_eq!(silence_limit("kline.D.BTCUSDT", None), min(3 * 1_440));
        assert_eq!(
            silence_limit("kline.5.BTCUSDT", Some(Duration::from_millis(300))),
            Some(Duration::from_millis(300))
        );
        assert_eq!(silence_limit("publicTrade.BTCUSDT", None), None);
        assert_eq!(
            silence_limit("tickers.BTCUSDT", Some(Duration::from_secs(1))),
            None
        );
        assert_eq!(
            frame_topic(r#"{"topic":"kline.1.BTCUSDT","type":"snapshot","data":[]}"#),
            Some("kline.1.BTCUSDT")
        );
        assert_eq!(frame_topic(r#"{"success":true,"op":"pong"}"#), None);
    }

    #[test]
    fn intervals_and_topics() {
        let tf = |s: &str| s.parse::<Timeframe>().unwrap();
        assert_eq!(interval(tf("1m")).as_deref(), Some("1"));
        assert_eq!(interval(tf("4h")).as_deref(), Some("240"));
        assert_eq!(interval(tf("1d")).as_deref(), Some("D"));
        assert_eq!(interval(tf("2m")), None);
        let t = Topics {
            trades: true,
            kline: Some("1".into()),
            tickers: true,
        };
        assert_eq!(
            t.for_symbol("BTCUSDT"),
            ["publicTrade.BTCUSDT", "kline.1.BTCUSDT", "tickers.BTCUSDT"]
        );
    }
}
