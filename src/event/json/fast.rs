//! A fast path for the lines an import is mostly made of: trades and fills, written
//! plainly (no whitespace between tokens, no escapes), as `export` writes them.
//!
//! Why by hand: serde's derived visitors cost ~530 ns a line here, most of it in the
//! per-key machinery, not in tokenizing (sonic-rs behind the same serde types measured
//! 513 ns, with or without `target-cpu=native`). At 10 M lines that is the import's
//! critical path. This path reads such a line directly into the payload.
//!
//! It only ever accepts: anything it does not recognize (another kind, an escape,
//! whitespace, a number where a string belongs, a duplicate or missing field, a value
//! that does not parse or validate) returns `None`, and the serde path reads the line,
//! with its own error messages. Every value is converted by the same function the
//! serde path calls, so an accepted line gives the same event (the property test
//! `fast_lines_parse_as_serde_parses_them` holds it to that).

use super::super::{
    Asset, Book, Decimal, Event, ExecId, Fill, FillOrderId, Liquidity, Payload, Side, Symbol,
    Timestamp, Trade, TradeId, Venue,
};

/// The event of a plain `trade` or `fill` line, or `None` for the serde path.
#[inline(always)]
pub(super) fn parse(kind: &str, line: &str) -> Option<Event> {
    let mut fields = Fields::new(line)?;
    let mut head = Head::default();
    let payload = match kind {
        "trade" => Payload::Trade(trade(&mut fields, &mut head)?),
        "fill" => Payload::Fill(fill(&mut fields, &mut head)?),
        _ => return None,
    };
    if !head.seen_type {
        return None;
    }
    payload.validate().ok()?;
    Some(Event {
        ts: head.ts?,
        recv_ts: head.recv_ts.flatten(),
        payload,
    })
}

/// A JSON value as this path sees it.
#[derive(Clone, Copy)]
enum Value<'a> {
    /// A string without escapes or control characters.
    Str(&'a str),
    Null,
    /// `true`, `false` or a plain integer: only ever ignored (unknown keys).
    Scalar,
}

/// The `"key":value` pairs of a one-object line, in order.
struct Fields<'a> {
    text: &'a str,
    at: usize,
    done: bool,
}

impl<'a> Fields<'a> {
    fn new(text: &'a str) -> Option<Fields<'a>> {
        (text.as_bytes().first() == Some(&b'{')).then_some(Fields {
            text,
            at: 1,
            done: false,
        })
    }

    /// The next pair; `Some(None)` after the closing brace, which must end the line;
    /// `None` when the line is not plain.
    #[inline(always)]
    fn next(&mut self) -> Option<Option<(&'a str, Value<'a>)>> {
        if self.done {
            return Some(None);
        }
        let key = self.string()?;
        if self.byte()? != b':' {
            return None;
        }
        let value = match *self.text.as_bytes().get(self.at)? {
            b'"' => Value::Str(self.string()?),
            b'n' => self.word("null", Value::Null)?,
            b't' => self.word("true", Value::Scalar)?,
            b'f' => self.word("false", Value::Scalar)?,
            b'0' => {
                self.at += 1;
                Value::Scalar
            }
            b'1'..=b'9' => {
                let digits = self.text.as_bytes()[self.at..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                self.at += digits;
                Value::Scalar
            }
            _ => return None,
        };
        match self.byte()? {
            b',' => {}
            b'}' if self.at == self.text.len() => self.done = true,
            _ => return None,
        }
        Some(Some((key, value)))
    }

    #[inline(always)]
    fn byte(&mut self) -> Option<u8> {
        let b = *self.text.as_bytes().get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn word(&mut self, word: &str, value: Value<'a>) -> Option<Value<'a>> {
        self.text[self.at..].starts_with(word).then(|| {
            self.at += word.len();
            value
        })
    }

    /// A quoted string with no escape and no control character (JSON forbids those
    /// raw; the serde path reports them).
    #[inline(always)]
    fn string(&mut self) -> Option<&'a str> {
        if self.byte()? != b'"' {
            return None;
        }
        let rest = &self.text.as_bytes()[self.at..];
        let len = rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if rest[len] != b'"' {
            return None;
        }
        let start = self.at;
        self.at += len + 1;
        // Both ends are ASCII quotes, so this is on char boundaries.
        self.text.get(start..start + len)
    }
}

/// The event's own fields (see `head::Intercept` for the serde path).
#[derive(Default)]
struct Head {
    seen_type: bool,
    ts: Option<Timestamp>,
    /// `Some(None)` once `recv_ts: null` is seen.
    recv_ts: Option<Option<Timestamp>>,
}

impl Head {
    /// A key the payload does not know: the head's are taken, any other is ignored as
    /// serde ignores it (`seq`, fields of newer writers). `None` when a head value is
    /// not acceptable or a head key repeats.
    fn take(&mut self, key: &str, value: Value<'_>) -> Option<()> {
        match key {
            "type" => (!std::mem::replace(&mut self.seen_type, true)).then_some(()),
            "ts" => set(&mut self.ts, timestamp(value)?),
            "recv_ts" => set(&mut self.recv_ts, optional(value, timestamp)?),
            _ => Some(()),
        }
    }
}

/// Fill an empty slot; `None` for a repeated key (the serde path reports it).
fn set<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    match slot {
        Some(_) => None,
        None => {
            *slot = Some(value);
            Some(())
        }
    }
}

fn string(value: Value<'_>) -> Option<&str> {
    match value {
        Value::Str(s) => Some(s),
        _ => None,
    }
}

/// `null` is `None`, as `#[serde(default)] Option<T>` reads it.
fn optional<'a, T>(value: Value<'a>, read: impl Fn(Value<'a>) -> Option<T>) -> Option<Option<T>> {
    match value {
        Value::Null => Some(None),
        v => read(v).map(Some),
    }
}

fn timestamp(value: Value<'_>) -> Option<Timestamp> {
    Timestamp::parse_rfc3339(string(value)?).ok()
}

fn decimal(value: Value<'_>) -> Option<Decimal> {
    string(value)?.parse().ok()
}

fn side(value: Value<'_>) -> Option<Side> {
    match string(value)? {
        "buy" => Some(Side::Buy),
        "sell" => Some(Side::Sell),
        _ => None,
    }
}

fn liquidity(value: Value<'_>) -> Option<Liquidity> {
    match string(value)? {
        "maker" => Some(Liquidity::Maker),
        "taker" => Some(Liquidity::Taker),
        _ => None,
    }
}

fn id<'a, T: From<&'a str>>(value: Value<'a>) -> Option<T> {
    string(value).map(T::from)
}

#[inline(always)]
fn trade(fields: &mut Fields<'_>, head: &mut Head) -> Option<Trade> {
    let (mut venue, mut book, mut instrument) = (None, None, None);
    let (mut px, mut qty, mut side_, mut trade_id) = (None, None, None, None);
    while let Some((key, value)) = fields.next()? {
        match key {
            "venue" => set(&mut venue, id::<Venue>(value)?)?,
            "book" => set(&mut book, id::<Book>(value)?)?,
            "instrument" => set(&mut instrument, id::<Symbol>(value)?)?,
            "px" => set(&mut px, decimal(value)?)?,
            "qty" => set(&mut qty, decimal(value)?)?,
            "side" => set(&mut side_, optional(value, side)?)?,
            "trade_id" => set(&mut trade_id, optional(value, id::<TradeId>)?)?,
            _ => head.take(key, value)?,
        }
    }
    Some(Trade {
        venue: venue?,
        book: book?,
        instrument: instrument?,
        px: px?,
        qty: qty?,
        side: side_.flatten(),
        trade_id: trade_id.flatten(),
    })
}

#[inline(always)]
fn fill(fields: &mut Fields<'_>, head: &mut Head) -> Option<Fill> {
    let (mut venue, mut book, mut instrument) = (None, None, None);
    let (mut order_id, mut exec_id, mut side_) = (None, None, None);
    let (mut px, mut qty, mut fee, mut fee_asset, mut liquidity_) = (None, None, None, None, None);
    while let Some((key, value)) = fields.next()? {
        match key {
            "venue" => set(&mut venue, id::<Venue>(value)?)?,
            "book" => set(&mut book, id::<Book>(value)?)?,
            "instrument" => set(&mut instrument, id::<Symbol>(value)?)?,
            "order_id" => set(&mut order_id, optional(value, id::<FillOrderId>)?)?,
            "exec_id" => set(&mut exec_id, id::<ExecId>(value)?)?,
            "side" => set(&mut side_, side(value)?)?,
            "px" => set(&mut px, decimal(value)?)?,
            "qty" => set(&mut qty, decimal(value)?)?,
            "fee" => set(&mut fee, decimal(value)?)?,
            "fee_asset" => set(&mut fee_asset, optional(value, id::<Asset>)?)?,
            "liquidity" => set(&mut liquidity_, liquidity(value)?)?,
            _ => head.take(key, value)?,
        }
    }
    Some(Fill {
        venue: venue?,
        book: book?,
        instrument: instrument?,
        order_id: order_id.flatten(),
        exec_id: exec_id?,
        side: side_?,
        px: px?,
        qty: qty?,
        fee: fee?,
        fee_asset: fee_asset.flatten(),
        liquidity: liquidity_?,
    })
}

#[cfg(test)]
mod tests;
