//! A hand-written reader of the stored bytes of the kinds a log is mostly made of
//! (market data, fills, the order lifecycle), for replay's decoding thread. Going
//! through serde costs a visitor, a `Result` and a move of the whole event per nested
//! value (~210 ns per event on the benchmark log); this reads the fields into locals
//! and builds the event once (~80 ns).
//!
//! It reads exactly what `super::options()` writes with bincode 1.3.3: integers as
//! varints (below 251 one byte; 251/252/253/254 then a u16/u32/u64/u128 LE; bincode
//! accepts non-minimal forms, so this does too), signed ones zigzagged, `u8`s, bools
//! and option tags as raw bytes, strings as a varint length and UTF-8, enum variants as
//! a varint index, struct fields in order, and nothing after the event. The size limit
//! needs no check: bincode does not apply it to slice decodes either, and the slice
//! bounds every length.
//!
//! It never decides anything on its own: on anything it does not read through to the
//! end (another kind, a bad tag, bad UTF-8, a short or long record, a decimal out of
//! range) it answers `None`, and the caller decodes with serde, which gives the value
//! or the error. `tests.rs` checks that both agree on generated and mangled records.

use compact_str::CompactString;

use crate::event::{
    Asset, Book, Candle, ClientOrderId, Decimal, Envelope, Event, ExecId, Fill, FillOrderId,
    Liquidity, OrderAccepted, OrderAmend, OrderCancelled, OrderRef, OrderRejected,
    OrderRequestRejected, OrderSubmitted, OrderType, Payload, Quote, Seq, Side, Symbol,
    TimeInForce, Timeframe, Timestamp, Trade, TradeId, Venue, VenueOrderId,
};

/// Decode `bytes` (a record of the current format) and hand the event to `to`;
/// `None`, with `to` not called, when the record is not one this module reads.
#[inline(always)]
pub(super) fn decode<E: Emit>(bytes: &[u8], to: E) -> Option<E::Out> {
    let mut r = Bytes(bytes);
    let ts = r.timestamp()?;
    let recv_ts = match r.option()? {
        false => None,
        true => Some(r.timestamp()?),
    };
    let head = Head { ts, recv_ts };
    // Payload variant indexes: the stored order of `Payload` (see payload.rs); a wrong
    // one fails the equivalence tests.
    match r.varint()? {
        0 => trade(r, head, to),
        1 => quote(r, head, to),
        2 => candle(r, head, to),
        8 => order_submitted(r, head, to),
        9 => order_accepted(r, head, to),
        10 => {
            let client_order_id = ClientOrderId(id(r.str()?));
            let reason = r.str()?;
            r.end()?;
            Some(to.emit(head.with(Payload::OrderRejected(OrderRejected {
                client_order_id,
                reason: reason.into(),
            }))))
        }
        11 => order_amend(r, head, to, Payload::OrderAmendRequested),
        12 => order_amend(r, head, to, Payload::OrderAmended),
        13 => order_request_rejected(r, head, to, Payload::OrderAmendRejected),
        14 => order_ref(r, head, to, Payload::OrderCancelRequested),
        15 => order_request_rejected(r, head, to, Payload::OrderCancelRejected),
        16 => {
            let client_order_id = ClientOrderId(id(r.str()?));
            let reason = r.option_str()?;
            r.end()?;
            Some(to.emit(head.with(Payload::OrderCancelled(OrderCancelled {
                client_order_id,
                reason: reason.map(String::from),
            }))))
        }
        17 => order_ref(r, head, to, Payload::OrderExpired),
        18 => order_ref(r, head, to, Payload::OrderTriggered),
        19 => fill(r, head, to),
        _ => None,
    }
}

/// Where a decoded event goes: back to the caller, or onto replay's block.
pub(super) trait Emit {
    type Out;

    fn emit(self, event: Event) -> Self::Out;
}

/// Return the event.
pub(super) struct Return;

impl Emit for Return {
    type Out = Event;

    #[inline(always)]
    fn emit(self, event: Event) -> Event {
        event
    }
}

/// Push the event, with its seq, onto a block being decoded.
pub(super) struct Push<'a> {
    pub seq: Seq,
    pub out: &'a mut Vec<Envelope>,
}

impl Emit for Push<'_> {
    type Out = ();

    #[inline(always)]
    fn emit(self, event: Event) {
        self.out.push(Envelope {
            seq: self.seq,
            event,
        });
    }
}

/// The envelope fields before the payload.
struct Head {
    ts: Timestamp,
    recv_ts: Option<Timestamp>,
}

impl Head {
    #[inline(always)]
    fn with(self, payload: Payload) -> Event {
        Event {
            ts: self.ts,
            recv_ts: self.recv_ts,
            payload,
        }
    }
}

// Ids are built as soon as they are read, each into its own variable, and moved into
// the event at the end. Moving an id copies it with wider loads than the stores that
// built it, which stalls (failed store forwarding) right after them: built inside the
// final expression, ids cost about a fifth of the decoding thread's time. Ids of up to
// 24 bytes allocate nothing, so building them before the record is known to be
// readable costs nothing when it falls back to serde.

/// An id: kept inline (no allocation) up to 24 bytes.
#[inline(always)]
fn id(text: &str) -> CompactString {
    CompactString::new(text)
}

#[inline(always)]
fn trade<E: Emit>(mut r: Bytes, head: Head, to: E) -> Option<E::Out> {
    let (venue, book, instrument) = r.key()?;
    let (venue, book, instrument) = (id(venue), id(book), id(instrument));
    let (px, qty) = (r.decimal()?, r.decimal()?);
    let side = match r.option()? {
        false => None,
        true => Some(r.side()?),
    };
    let trade_id = r.option_str()?;
    r.end()?;
    Some(to.emit(head.with(Payload::Trade(Trade {
        venue: Venue(venue),
        book: Book(book),
        instrument: Symbol(instrument),
        px,
        qty,
        side,
        trade_id: trade_id.map(TradeId::from),
    }))))
}

#[inline(always)]
fn quote<E: Emit>(mut r: Bytes, head: Head, to: E) -> Option<E::Out> {
    let (venue, book, instrument) = r.key()?;
    let (venue, book, instrument) = (id(venue), id(book), id(instrument));
    let (bid_px, bid_qty) = (r.decimal()?, r.decimal()?);
    let (ask_px, ask_qty) = (r.decimal()?, r.decimal()?);
    r.end()?;
    Some(to.emit(head.with(Payload::Quote(Quote {
        venue: Venue(venue),
        book: Book(book),
        instrument: Symbol(instrument),
        bid_px,
        bid_qty,
        ask_px,
        ask_qty,
    }))))
}

#[inline(always)]
fn candle<E: Emit>(mut r: Bytes, head: Head, to: E) -> Option<E::Out> {
    let (venue, book, instrument) = r.key()?;
    let (venue, book, instrument) = (id(venue), id(book), id(instrument));
    // A zero timeframe is an error in `Timeframe`'s own decoder: left to serde.
    let timeframe = u32::try_from(r.varint()?)
        .ok()
        .and_then(Timeframe::from_seconds)?;
    let open_time = r.timestamp()?;
    let (open, high, low, close) = (r.decimal()?, r.decimal()?, r.decimal()?, r.decimal()?);
    let volume = r.decimal()?;
    let closed = r.bool()?;
    r.end()?;
    Some(to.emit(head.with(Payload::Candle(Candle {
        venue: Venue(venue),
        book: Book(book),
        instrument: Symbol(instrument),
        timeframe,
        open_time,
        open,
        high,
        low,
        close,
        volume,
        closed,
    }))))
}

#[inline(always)]
fn fill<E: Emit>(mut r: Bytes, head: Head, to: E) -> Option<E::Out> {
    let (venue, book, instrument) = r.key()?;
    let (venue, book, instrument) = (id(venue), id(book), id(instrument));
    let order_id = r.option_str()?;
    let exec_id = id(r.str()?);
    let side = r.side()?;
    let (px, qty, fee) = (r.decimal()?, r.decimal()?, r.decimal()?);
    let fee_asset = r.option_str()?;
    let liquidity = match r.varint()? {
        0 => Liquidity::Maker,
        1 => Liquidity::Taker,
        _ => return None,
    };
    r.end()?;
    Some(to.emit(head.with(Payload::Fill(Fill {
        venue: Venue(venue),
        book: Book(book),
        instrument: Symbol(instrument),
        order_id: order_id.map(FillOrderId::from),
        exec_id: ExecId(exec_id),
        side,
        px,
        qty,
        fee,
        fee_asset: fee_asset.map(|a| Asset(id(a))),
        liquidity,
    }))))
}

fn order_submitted<E: Emit>(mut r: Bytes, head: Head, to: E) -> Option<E::Out> {
    let (venue, book, instrument) = r.key()?;
    let (venue, book, instrument) = (id(venue), id(book), id(instrument));
    let client_order_id = ClientOrderId(id(r.str()?));
    let side = r.side()?;
    let order_type = match r.varint()? {
        0 => OrderType::Market,
        1 => OrderType::Limit,
        2 => OrderType::StopMarket,
        3 => OrderType::StopLimit,
        _ => return None,
    };
    let qty = r.decimal()?;
    let (px, trigger_px) = (r.option_decimal()?, r.option_decimal()?);
    let tif = match r.varint()? {
        0 => TimeInForce::Gtc,
        1 => TimeInForce::Ioc,
        2 => TimeInForce::Fok,
        _ => return None,
    };
    let (reduce_only, post_only) = (r.bool()?, r.bool()?);
    r.end()?;
    Some(to.emit(head.with(Payload::OrderSubmitted(OrderSubmitted {
        venue: Venue(venue),
        book: Book(book),
        instrument: Symbol(instrument),
        client_order_id,
        side,
        order_type,
        qty,
        px,
        trigger_px,
        tif,
        reduce_only,
        post_only,
    }))))
}

fn order_accepted<E: Emit>(mut r: Bytes, head: Head, to: E) -> Option<E::Out> {
    let client_order_id = ClientOrderId(id(r.str()?));
    let venue_order_id = r.option_str()?;
    r.end()?;
    Some(to.emit(head.with(Payload::OrderAccepted(OrderAccepted {
        client_order_id,
        venue_order_id: venue_order_id.map(|v| VenueOrderId(id(v))),
    }))))
}

fn order_amend<E: Emit>(
    mut r: Bytes,
    head: Head,
    to: E,
    kind: fn(OrderAmend) -> Payload,
) -> Option<E::Out> {
    let client_order_id = ClientOrderId(id(r.str()?));
    let (qty, px) = (r.option_decimal()?, r.option_decimal()?);
    let trigger_px = r.option_decimal()?;
    r.end()?;
    Some(to.emit(head.with(kind(OrderAmend {
        client_order_id,
        qty,
        px,
        trigger_px,
    }))))
}

fn order_request_rejected<E: Emit>(
    mut r: Bytes,
    head: Head,
    to: E,
    kind: fn(OrderRequestRejected) -> Payload,
) -> Option<E::Out> {
    let client_order_id = ClientOrderId(id(r.str()?));
    let reason = r.str()?;
    r.end()?;
    Some(to.emit(head.with(kind(OrderRequestRejected {
        client_order_id,
        reason: reason.into(),
    }))))
}

fn order_ref<E: Emit>(
    mut r: Bytes,
    head: Head,
    to: E,
    kind: fn(OrderRef) -> Payload,
) -> Option<E::Out> {
    let client_order_id = ClientOrderId(id(r.str()?));
    r.end()?;
    Some(to.emit(head.with(kind(OrderRef { client_order_id }))))
}

/// The unread rest of a record.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    /// `Some` when the whole record was read (bincode rejects trailing bytes).
    #[inline(always)]
    fn end(&self) -> Option<()> {
        self.0.is_empty().then_some(())
    }

    #[inline(always)]
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    #[inline(always)]
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    /// A varint of up to 64 bits: u16..u64, lengths, variant indexes. The u128 marker
    /// (254) and 255 are errors for these in bincode.
    #[inline(always)]
    fn varint(&mut self) -> Option<u64> {
        match self.byte()? {
            b @ 0..=250 => Some(u64::from(b)),
            251 => self.array().map(u16::from_le_bytes).map(u64::from),
            252 => self.array().map(u32::from_le_bytes).map(u64::from),
            253 => self.array().map(u64::from_le_bytes),
            _ => None,
        }
    }

    /// A varint of up to 128 bits (decimal mantissas).
    #[inline(always)]
    fn varint128(&mut self) -> Option<u128> {
        match self.byte()? {
            b @ 0..=250 => Some(u128::from(b)),
            251 => self.array().map(u16::from_le_bytes).map(u128::from),
            252 => self.array().map(u32::from_le_bytes).map(u128::from),
            253 => self.array().map(u64::from_le_bytes).map(u128::from),
            254 => self.array().map(u128::from_le_bytes),
            _ => None,
        }
    }

    /// A bool or an option tag: 0 or 1, anything else is an error in bincode.
    #[inline(always)]
    fn bool(&mut self) -> Option<bool> {
        match self.byte()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    /// An `Option`'s tag: `true` when a value follows.
    #[inline(always)]
    fn option(&mut self) -> Option<bool> {
        self.bool()
    }

    #[inline(always)]
    fn timestamp(&mut self) -> Option<Timestamp> {
        let n = self.varint()?;
        // bincode's zigzag decoding.
        let ns = if n % 2 == 0 {
            (n / 2) as i64
        } else {
            !(n / 2) as i64
        };
        Some(Timestamp::from_nanos(ns))
    }

    /// `(i128 zigzag varint mantissa, u8 scale)`, checked as `Decimal`'s decoder does.
    #[inline(always)]
    fn decimal(&mut self) -> Option<Decimal> {
        let n = self.varint128()?;
        let mantissa = if n % 2 == 0 {
            (n / 2) as i128
        } else {
            !(n / 2) as i128
        };
        let scale = self.byte()?;
        Decimal::from_canonical_parts(mantissa, scale)
    }

    #[inline(always)]
    fn option_decimal(&mut self) -> Option<Option<Decimal>> {
        Some(match self.option()? {
            false => None,
            true => Some(self.decimal()?),
        })
    }

    #[inline(always)]
    fn str(&mut self) -> Option<&'a str> {
        let len = usize::try_from(self.varint()?).ok()?;
        let (text, rest) = self.0.split_at_checked(len)?;
        self.0 = rest;
        std::str::from_utf8(text).ok()
    }

    /// Venue, book and instrument, as every record that names a position has them.
    #[inline(always)]
    fn key(&mut self) -> Option<(&'a str, &'a str, &'a str)> {
        Some((self.str()?, self.str()?, self.str()?))
    }

    #[inline(always)]
    fn option_str(&mut self) -> Option<Option<&'a str>> {
        Some(match self.option()? {
            false => None,
            true => Some(self.str()?),
        })
    }

    #[inline(always)]
    fn side(&mut self) -> Option<Side> {
        match self.varint()? {
            0 => Some(Side::Buy),
            1 => Some(Side::Sell),
            _ => None,
        }
    }
}
