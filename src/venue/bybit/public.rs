//! The public linear WS: topic names, and frames → market events: `publicTrade` →
//! `trade`, `kline` → `candle` (ts = close time, as `ingest::candle` stamps bars),
//! `tickers` → `funding_rate` when the rate or next time changes, `orderbook` → `quote`
//! when the top of book changes. Acks and pongs come back as [`Control`].
//!
//! [`PublicState`] keeps what deltas need: the last ticker per symbol (a delta without
//! `fundingRate` keeps the last one) and each book. No clock, no I/O.

use std::collections::BTreeMap;

use serde_json::Value;

use super::control::{Control, read_control};
use super::rest::kline_timeframe;
use super::wire::{FrameError, Namespace, decimal, from_json, millis, millis_text, side};
use crate::event::{
    Candle, Decimal, Event, FundingRate, Payload, Quote, Symbol, Timestamp, Trade, TradeId,
};

/// `publicTrade.{symbol}`.
pub fn trade_topic(symbol: &str) -> String {
    format!("publicTrade.{symbol}")
}

/// `kline.{interval}.{symbol}` (interval `1 3 5 15 30 60 120 240 360 720 D W M`).
pub fn kline_topic(interval: &str, symbol: &str) -> String {
    format!("kline.{interval}.{symbol}")
}

/// `tickers.{symbol}`.
pub fn ticker_topic(symbol: &str) -> String {
    format!("tickers.{symbol}")
}

/// `orderbook.{depth}.{symbol}` (linear depths 1, 50, 200, 1000).
pub fn orderbook_topic(depth: u32, symbol: &str) -> String {
    format!("orderbook.{depth}.{symbol}")
}

/// What one public frame gave.
#[derive(Debug, Clone, PartialEq)]
pub enum PublicFrame {
    /// An ack or pong.
    Control(Control),
    /// Market events (possibly none: a book delta that left the top unchanged).
    Events(Vec<Event>),
}

#[derive(Debug, Clone, Default)]
struct TickerState {
    rate: Option<Decimal>,
    next: Option<Timestamp>,
}

#[derive(Debug, Clone, Default)]
struct BookState {
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
    top: Option<(Decimal, Decimal, Decimal, Decimal)>,
}

/// Per-symbol state the public stream needs between frames.
#[derive(Debug, Clone, Default)]
pub struct PublicState {
    ns: Namespace,
    tickers: BTreeMap<Symbol, TickerState>,
    books: BTreeMap<Symbol, BookState>,
}

fn str_at<'a>(frame: &str, v: &'a Value, name: &str, path: &str) -> Result<&'a str, FrameError> {
    v.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| FrameError::new(frame, &format!("{path}.{name}"), "missing or not a string"))
}

fn i64_at(frame: &str, v: &Value, name: &str, path: &str) -> Result<i64, FrameError> {
    v.get(name)
        .and_then(Value::as_i64)
        .ok_or_else(|| FrameError::new(frame, &format!("{path}.{name}"), "missing or not a number"))
}

impl PublicState {
    /// State naming `ns` in its events.
    pub fn new(ns: Namespace) -> PublicState {
        PublicState {
            ns,
            ..PublicState::default()
        }
    }

    /// Parse one public frame, updating the state.
    pub fn parse(&mut self, frame: &str) -> Result<PublicFrame, FrameError> {
        let value: Value = from_json(frame)?;
        let Some(object) = value.as_object() else {
            return Err(FrameError::new(frame, "json", "expected an object"));
        };
        if let Some(control) = read_control(frame, object) {
            return control.map(PublicFrame::Control);
        }
        let topic = str_at(frame, &value, "topic", "")?;
        let ts = millis(frame, "ts", i64_at(frame, &value, "ts", "")?)?;
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("snapshot");
        let data = value
            .get("data")
            .ok_or_else(|| FrameError::new(frame, "data", "missing"))?;
        let mut parts = topic.split('.');
        let events = match (parts.next(), parts.next(), parts.next()) {
            (Some("publicTrade"), Some(_), None) => self.trades(frame, data)?,
            (Some("kline"), Some(interval), Some(_)) => self.klines(frame, interval, data)?,
            (Some("tickers"), Some(_), None) => self.ticker(frame, ts, data)?,
            (Some("orderbook"), Some(_), Some(_)) => self.book(frame, ts, kind, data)?,
            _ => {
                return Err(FrameError::new(
                    frame,
                    "topic",
                    format!("unknown topic {topic:?}"),
                ));
            }
        };
        Ok(PublicFrame::Events(events))
    }

    fn trades(&self, frame: &str, data: &Value) -> Result<Vec<Event>, FrameError> {
        let list = data
            .as_array()
            .ok_or_else(|| FrameError::new(frame, "data", "expected an array"))?;
        let mut out = Vec::with_capacity(list.len());
        for (i, t) in list.iter().enumerate() {
            let path = format!("data[{i}]");
            let trade = Trade {
                venue: self.ns.venue.clone(),
                book: self.ns.book.clone(),
                instrument: Symbol::from(str_at(frame, t, "s", &path)?),
                px: decimal(frame, &format!("{path}.p"), str_at(frame, t, "p", &path)?)?,
                qty: decimal(frame, &format!("{path}.v"), str_at(frame, t, "v", &path)?)?,
                // `S` is the taker side.
                side: Some(side(
                    frame,
                    &format!("{path}.S"),
                    str_at(frame, t, "S", &path)?,
                )?),
                trade_id: t.get("i").and_then(Value::as_str).map(TradeId::from),
            };
            let ts = millis(frame, &format!("{path}.T"), i64_at(frame, t, "T", &path)?)?;
            out.push(Event::new(ts, Payload::Trade(trade)));
        }
        Ok(out)
    }

    fn klines(&self, frame: &str, interval: &str, data: &Value) -> Result<Vec<Event>, FrameError> {
        let timeframe = kline_timeframe(interval).ok_or_else(|| {
            FrameError::new(frame, "topic", format!("unsupported interval {interval:?}"))
        })?;
        let symbol = frame_symbol(frame)?;
        let list = data
            .as_array()
            .ok_or_else(|| FrameError::new(frame, "data", "expected an array"))?;
        let mut out = Vec::with_capacity(list.len());
        for (i, k) in list.iter().enumerate() {
            let path = format!("data[{i}]");
            let d = |name: &str| {
                decimal(
                    frame,
                    &format!("{path}.{name}"),
                    str_at(frame, k, name, &path)?,
                )
            };
            let open_time = millis(
                frame,
                &format!("{path}.start"),
                i64_at(frame, k, "start", &path)?,
            )?;
            let candle = Candle {
                venue: self.ns.venue.clone(),
                book: self.ns.book.clone(),
                instrument: symbol.clone(),
                timeframe,
                open_time,
                open: d("open")?,
                high: d("high")?,
                low: d("low")?,
                close: d("close")?,
                volume: d("volume")?,
                closed: k.get("confirm").and_then(Value::as_bool).unwrap_or(false),
            };
            // The ledger stamps a bar at its close time (open_time + timeframe).
            let ts = open_time.plus_nanos(timeframe.nanos());
            out.push(Event::new(ts, Payload::Candle(candle)));
        }
        Ok(out)
    }

    fn ticker(
        &mut self,
        frame: &str,
        ts: Timestamp,
        data: &Value,
    ) -> Result<Vec<Event>, FrameError> {
        let symbol = Symbol::from(str_at(frame, data, "symbol", "data")?);
        let state = self.tickers.entry(symbol.clone()).or_default();
        let before = (state.rate, state.next);
        if let Some(rate) = data
            .get("fundingRate")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            state.rate = Some(decimal(frame, "data.fundingRate", rate)?);
        }
        if let Some(next) = data
            .get("nextFundingTime")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            state.next = Some(millis_text(frame, "data.nextFundingTime", next)?);
        }
        let (Some(rate), next) = (state.rate, state.next) else {
            return Ok(Vec::new());
        };
        if before == (Some(rate), next) {
            return Ok(Vec::new());
        }
        let payload = Payload::FundingRate(FundingRate {
            venue: self.ns.venue.clone(),
            book: self.ns.book.clone(),
            instrument: symbol,
            rate,
            next_funding_time: next,
        });
        Ok(vec![Event::new(ts, payload)])
    }

    fn book(
        &mut self,
        frame: &str,
        ts: Timestamp,
        kind: &str,
        data: &Value,
    ) -> Result<Vec<Event>, FrameError> {
        let symbol = Symbol::from(str_at(frame, data, "s", "data")?);
        let update_id = data.get("u").and_then(Value::as_i64);
        let book = self.books.entry(symbol.clone()).or_default();
        // A snapshot, or u == 1 (a service restart), replaces the book.
        if kind == "snapshot" || update_id == Some(1) {
            book.bids.clear();
            book.asks.clear();
        }
        for (name, levels) in [("b", &mut book.bids), ("a", &mut book.asks)] {
            let list = data.get(name).and_then(Value::as_array);
            for (i, level) in list.into_iter().flatten().enumerate() {
                let path = format!("data.{name}[{i}]");
                let cell = |j: usize| -> Result<&str, FrameError> {
                    level
                        .get(j)
                        .and_then(Value::as_str)
                        .ok_or_else(|| FrameError::new(frame, &path, "expected [price, size]"))
                };
                let px = decimal(frame, &path, cell(0)?)?;
                let qty = decimal(frame, &path, cell(1)?)?;
                match qty.is_zero() {
                    true => levels.remove(&px),
                    false => levels.insert(px, qty),
                };
            }
        }
        let bid = book.bids.iter().next_back();
        let ask = book.asks.iter().next();
        let (Some((&bid_px, &bid_qty)), Some((&ask_px, &ask_qty))) = (bid, ask) else {
            return Ok(Vec::new());
        };
        let top = (bid_px, bid_qty, ask_px, ask_qty);
        if book.top == Some(top) {
            return Ok(Vec::new());
        }
        book.top = Some(top);
        let quote = Quote {
            venue: self.ns.venue.clone(),
            book: self.ns.book.clone(),
            instrument: symbol,
            bid_px,
            bid_qty,
            ask_px,
            ask_qty,
        };
        Ok(vec![Event::new(ts, Payload::Quote(quote))])
    }
}

/// The symbol of a kline frame: the topic's last part.
fn frame_symbol(frame: &str) -> Result<Symbol, FrameError> {
    let value: Value = from_json(frame)?;
    let topic = value
        .get("topic")
        .and_then(Value::as_str)
        .unwrap_or_default();
    topic
        .rsplit('.')
        .next()
        .filter(|s| !s.is_empty())
        .map(Symbol::from)
        .ok_or_else(|| FrameError::new(frame, "topic", "no symbol"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(state: &mut PublicState, frame: &str) -> Vec<Payload> {
        match state.parse(frame).unwrap() {
            PublicFrame::Events(e) => e.into_iter().map(|e| e.payload).collect(),
            PublicFrame::Control(c) => panic!("{c:?}"),
        }
    }

    #[test]
    fn trades_and_klines() {
        let mut s = PublicState::new(Namespace::default());
        let t = r#"{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1672304486868,"data":[{"T":1672304486865,"s":"BTCUSDT","S":"Sell","v":"0.001","p":"16578.50","i":"t-1","BT":false}]}"#;
        let Payload::Trade(tr) = &events(&mut s, t)[0] else {
            panic!()
        };
        assert_eq!(tr.side, Some(crate::event::Side::Sell));
        let k = r#"{"topic":"kline.5.BTCUSDT","data":[{"start":1672324800000,"end":1672325099999,"interval":"5","open":"16649.5","close":"16677","high":"16677","low":"16608","volume":"2.081","turnover":"1","confirm":true,"timestamp":1672324988882}],"ts":1672324988882,"type":"snapshot"}"#;
        let PublicFrame::Events(e) = s.parse(k).unwrap() else {
            panic!()
        };
        assert_eq!(e[0].ts, Timestamp::from_millis(1_672_325_100_000).unwrap());
        let Payload::Candle(c) = &e[0].payload else {
            panic!()
        };
        assert!(c.closed);
        assert_eq!(c.timeframe.to_string(), "5m");
    }

    #[test]
    fn ticker_deltas_keep_the_rate() {
        let mut s = PublicState::new(Namespace::default());
        let snap = r#"{"topic":"tickers.BTCUSDT","type":"snapshot","data":{"symbol":"BTCUSDT","fundingRate":"-0.005","nextFundingTime":"1760342400000","markPrice":"1"},"cs":1,"ts":1760325052630}"#;
        assert_eq!(events(&mut s, snap).len(), 1);
        let delta = r#"{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","markPrice":"2"},"cs":2,"ts":1760325052730}"#;
        assert!(events(&mut s, delta).is_empty());
        let delta = r#"{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","nextFundingTime":"1760371200000"},"cs":3,"ts":1760325052830}"#;
        let Payload::FundingRate(f) = &events(&mut s, delta)[0] else {
            panic!()
        };
        assert_eq!(f.rate, "-0.005".parse().unwrap());
    }

    #[test]
    fn book_top_changes() {
        let mut s = PublicState::new(Namespace::default());
        let snap = r#"{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1,"data":{"s":"BTCUSDT","b":[["100","1"],["99","2"]],"a":[["101","1"]],"u":5,"seq":1}}"#;
        assert_eq!(events(&mut s, snap).len(), 1);
        let same = r#"{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":2,"data":{"s":"BTCUSDT","b":[["98","1"]],"a":[],"u":6,"seq":2}}"#;
        assert!(events(&mut s, same).is_empty());
        let del = r#"{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":3,"data":{"s":"BTCUSDT","b":[["100","0"]],"a":[],"u":7,"seq":3}}"#;
        let Payload::Quote(q) = &events(&mut s, del)[0] else {
            panic!()
        };
        assert_eq!(q.bid_px, "99".parse().unwrap());
        let restart = r#"{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":4,"data":{"s":"BTCUSDT","b":[["50","1"]],"a":[["51","1"]],"u":1,"seq":4}}"#;
        let Payload::Quote(q) = &events(&mut s, restart)[0] else {
            panic!()
        };
        assert_eq!(q.ask_px, "51".parse().unwrap());
    }

    #[test]
    fn controls_topics_and_errors() {
        let mut s = PublicState::new(Namespace::default());
        let pong = r#"{"success":true,"ret_msg":"pong","conn_id":"c","req_id":"","op":"ping"}"#;
        assert_eq!(s.parse(pong).unwrap(), PublicFrame::Control(Control::Pong));
        assert_eq!(kline_topic("1", "BTCUSDT"), "kline.1.BTCUSDT");
        assert_eq!(trade_topic("BTCUSDT"), "publicTrade.BTCUSDT");
        assert_eq!(orderbook_topic(50, "BTCUSDT"), "orderbook.50.BTCUSDT");
        assert_eq!(ticker_topic("BTCUSDT"), "tickers.BTCUSDT");
        let bad = r#"{"topic":"publicTrade.BTCUSDT","ts":1,"data":[{"T":1,"s":"BTCUSDT","S":"Buy","v":"0.001","p":"x"}]}"#;
        assert_eq!(s.parse(bad).unwrap_err().field, "data[0].p");
    }
}
