//! The fast event reader against serde: same values on every record of its kinds, and
//! on mangled records either the same value or a fallback to serde's error.

use compact_str::CompactString;
use proptest::prelude::*;
use proptest::sample::Index;
use serde::Serialize;

use super::{
    FORMAT_VERSION, MAX_EVENT_BYTES, decode_event, decode_event_into, decode_with_serde,
    encode_event, fast, options,
};
use crate::event::{
    Asset, Book, Candle, ClientOrderId, Decimal, Envelope, Event, ExecId, Fill, FillOrderId,
    Liquidity, OrderAccepted, OrderAmend, OrderCancelled, OrderRef, OrderRejected,
    OrderRequestRejected, OrderSubmitted, OrderType, Payload, Quote, Side, Symbol, TimeInForce,
    Timeframe, Timestamp, Trade, TradeId, Venue, VenueOrderId,
};
use bincode::Options;

/// The kinds `fast` reads; every valid record of these must be read by it.
fn is_fast_kind(payload: &Payload) -> bool {
    use Payload::*;
    matches!(
        payload,
        Trade(_)
            | Quote(_)
            | Candle(_)
            | OrderSubmitted(_)
            | OrderAccepted(_)
            | OrderRejected(_)
            | OrderAmendRequested(_)
            | OrderAmended(_)
            | OrderAmendRejected(_)
            | OrderCancelRequested(_)
            | OrderCancelRejected(_)
            | OrderCancelled(_)
            | OrderExpired(_)
            | OrderTriggered(_)
            | Fill(_)
    )
}

fn encode(event: &Event) -> Vec<u8> {
    let mut bytes = Vec::new();
    encode_event(event, &mut bytes).unwrap();
    bytes
}

/// Texts around the inline limit of ids (24 bytes), empty, and non-ASCII.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        Just(String::new()),
        "[A-Z]{1,12}",
        "[a-z0-9-]{23,26}",
        "[a-z0-9-]{27,300}",
        "\\PC{1,30}",
        any::<String>(),
    ]
    .boxed()
}

fn id<T: From<String> + std::fmt::Debug + 'static>() -> BoxedStrategy<T> {
    text().prop_map(T::from).boxed()
}

/// Decimals of every varint width, both signs, the extreme mantissas and scales.
fn decimal() -> BoxedStrategy<Decimal> {
    const MAX: i128 = (1 << 96) - 1;
    let mantissa = prop_oneof![
        -300i128..300,
        any::<i32>().prop_map(i128::from),
        any::<i64>().prop_map(i128::from),
        -MAX..=MAX,
        prop_oneof![Just(MAX), Just(-MAX), Just(MAX - 1), Just(1 - MAX)],
    ];
    let scale = prop_oneof![0u8..=8, 0u8..=28, Just(28u8)];
    (mantissa, scale)
        .prop_map(|(m, s)| Decimal::from_canonical_parts(m, s).unwrap())
        .boxed()
}

fn timestamp() -> BoxedStrategy<Timestamp> {
    prop_oneof![
        any::<i64>(),
        Just(i64::MIN),
        Just(i64::MAX),
        -300i64..300,
        1_600_000_000_000_000_000i64..1_900_000_000_000_000_000,
    ]
    .prop_map(Timestamp::from_nanos)
    .boxed()
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Buy), Just(Side::Sell)]
}

fn trade() -> BoxedStrategy<Payload> {
    (
        id(),
        id(),
        id(),
        decimal(),
        decimal(),
        proptest::option::of(side()),
        proptest::option::of(id::<TradeId>()),
    )
        .prop_map(|(venue, book, instrument, px, qty, side, trade_id)| {
            Payload::Trade(Trade {
                venue,
                book,
                instrument,
                px,
                qty,
                side,
                trade_id,
            })
        })
        .boxed()
}

fn quote() -> BoxedStrategy<Payload> {
    (id(), id(), id(), decimal(), decimal(), decimal(), decimal())
        .prop_map(
            |(venue, book, instrument, bid_px, bid_qty, ask_px, ask_qty)| {
                Payload::Quote(Quote {
                    venue,
                    book,
                    instrument,
                    bid_px,
                    bid_qty,
                    ask_px,
                    ask_qty,
                })
            },
        )
        .boxed()
}

fn candle() -> BoxedStrategy<Payload> {
    let seconds = prop_oneof![1u32..100_000, Just(u32::MAX), 1u32..=u32::MAX];
    (
        (id::<Venue>(), id::<Book>(), id::<Symbol>()),
        seconds.prop_map(|s| Timeframe::from_seconds(s).unwrap()),
        timestamp(),
        (decimal(), decimal(), decimal(), decimal(), decimal()),
        any::<bool>(),
    )
        .prop_map(
            |((venue, book, instrument), timeframe, open_time, ohlcv, closed)| {
                let (open, high, low, close, volume) = ohlcv;
                Payload::Candle(Candle {
                    venue,
                    book,
                    instrument,
                    timeframe,
                    open_time,
                    open,
                    high,
                    low,
                    close,
                    volume,
                    closed,
                })
            },
        )
        .boxed()
}

fn fill() -> BoxedStrategy<Payload> {
    (
        (id::<Venue>(), id::<Book>(), id::<Symbol>()),
        proptest::option::of(id::<FillOrderId>()),
        id::<ExecId>(),
        side(),
        (decimal(), decimal(), decimal()),
        proptest::option::of(id::<Asset>()),
        prop_oneof![Just(Liquidity::Maker), Just(Liquidity::Taker)],
    )
        .prop_map(
            |((venue, book, instrument), order_id, exec_id, side, money, fee_asset, liquidity)| {
                let (px, qty, fee) = money;
                Payload::Fill(Fill {
                    venue,
                    book,
                    instrument,
                    order_id,
                    exec_id,
                    side,
                    px,
                    qty,
                    fee,
                    fee_asset,
                    liquidity,
                })
            },
        )
        .boxed()
}

fn order_submitted() -> BoxedStrategy<Payload> {
    let order_type = prop_oneof![
        Just(OrderType::Market),
        Just(OrderType::Limit),
        Just(OrderType::StopMarket),
        Just(OrderType::StopLimit),
    ];
    let tif = prop_oneof![
        Just(TimeInForce::Gtc),
        Just(TimeInForce::Ioc),
        Just(TimeInForce::Fok),
    ];
    (
        (id::<Venue>(), id::<Book>(), id::<Symbol>()),
        id::<ClientOrderId>(),
        side(),
        order_type,
        decimal(),
        proptest::option::of(decimal()),
        proptest::option::of(decimal()),
        tif,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(key, client_order_id, side, order_type, qty, px, trigger_px, tif, ro, po)| {
                let (venue, book, instrument) = key;
                Payload::OrderSubmitted(OrderSubmitted {
                    venue,
                    book,
                    instrument,
                    client_order_id,
                    side,
                    order_type,
                    qty,
                    px,
                    trigger_px,
                    tif,
                    reduce_only: ro,
                    post_only: po,
                })
            },
        )
        .boxed()
}

fn order_lifecycle() -> BoxedStrategy<Payload> {
    let amend = (
        id::<ClientOrderId>(),
        proptest::option::of(decimal()),
        proptest::option::of(decimal()),
        proptest::option::of(decimal()),
    )
        .prop_map(|(client_order_id, qty, px, trigger_px)| OrderAmend {
            client_order_id,
            qty,
            px,
            trigger_px,
        });
    let refused = (id::<ClientOrderId>(), text()).prop_map(|(client_order_id, reason)| {
        OrderRequestRejected {
            client_order_id,
            reason,
        }
    });
    let order = id::<ClientOrderId>().prop_map(|client_order_id| OrderRef { client_order_id });
    prop_oneof![
        (
            id::<ClientOrderId>(),
            proptest::option::of(id::<VenueOrderId>())
        )
            .prop_map(|(client_order_id, venue_order_id)| {
                Payload::OrderAccepted(OrderAccepted {
                    client_order_id,
                    venue_order_id,
                })
            }),
        (id::<ClientOrderId>(), text()).prop_map(|(client_order_id, reason)| {
            Payload::OrderRejected(OrderRejected {
                client_order_id,
                reason,
            })
        }),
        amend.clone().prop_map(Payload::OrderAmendRequested),
        amend.prop_map(Payload::OrderAmended),
        refused.clone().prop_map(Payload::OrderAmendRejected),
        order.clone().prop_map(Payload::OrderCancelRequested),
        refused.prop_map(Payload::OrderCancelRejected),
        (id::<ClientOrderId>(), proptest::option::of(text())).prop_map(
            |(client_order_id, reason)| {
                Payload::OrderCancelled(OrderCancelled {
                    client_order_id,
                    reason,
                })
            }
        ),
        order.clone().prop_map(Payload::OrderExpired),
        order.prop_map(Payload::OrderTriggered),
    ]
    .boxed()
}

/// An event of a kind `fast` reads.
fn fast_event() -> impl Strategy<Value = Event> {
    let payload = prop_oneof![
        3 => trade(),
        3 => fill(),
        2 => candle(),
        2 => quote(),
        1 => order_submitted(),
        3 => order_lifecycle(),
    ];
    (timestamp(), proptest::option::of(timestamp()), payload).prop_map(|(ts, recv_ts, payload)| {
        Event {
            ts,
            recv_ts,
            payload,
        }
    })
}

/// A change to a record's bytes.
#[derive(Debug, Clone)]
enum Mutation {
    Set(Index, u8),
    Insert(Index, u8),
    Remove(Index),
    Truncate(Index),
    /// Keep a prefix and append arbitrary bytes: garbage where a field was expected.
    Splice(Index, Vec<u8>),
    Extend(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Tag and marker bytes are where decoding branches.
    let byte = prop_oneof![any::<u8>(), 0u8..=2, 250u8..=255];
    prop_oneof![
        4 => (any::<Index>(), byte.clone()).prop_map(|(i, b)| Mutation::Set(i, b)),
        1 => (any::<Index>(), byte).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => any::<Index>().prop_map(Mutation::Remove),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), proptest::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(i, b)| Mutation::Splice(i, b)),
        1 => proptest::collection::vec(any::<u8>(), 1..4).prop_map(Mutation::Extend),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let n = bytes.len();
    match mutation {
        Mutation::Set(i, b) if n > 0 => bytes[i.index(n)] = *b,
        Mutation::Insert(i, b) => bytes.insert(i.index(n + 1), *b),
        Mutation::Remove(i) if n > 0 => {
            bytes.remove(i.index(n));
        }
        Mutation::Truncate(i) => bytes.truncate(i.index(n + 1)),
        Mutation::Splice(i, tail) => {
            bytes.truncate(i.index(n + 1));
            bytes.extend_from_slice(tail);
        }
        Mutation::Extend(tail) => bytes.extend_from_slice(tail),
        Mutation::Set(..) | Mutation::Remove(_) => {}
    }
}

/// The public decoders (fast path first) give exactly what serde alone gives: the same
/// value (same stored bytes, not just numerically equal decimals) or the same error
/// message; `fast` reads every valid record of its kinds and nothing invalid.
fn assert_agrees_with_serde(bytes: &[u8]) -> Result<(), TestCaseError> {
    let reference = decode_with_serde(bytes);
    let read = fast::decode(bytes, fast::Return);
    match (&reference, &read) {
        (Ok(expected), Some(event)) => {
            prop_assert_eq!(event, expected);
            prop_assert_eq!(encode(event), encode(expected));
        }
        (Ok(expected), None) => prop_assert!(
            !is_fast_kind(&expected.payload),
            "fast left a valid {} record to serde",
            expected.payload.kind()
        ),
        (Err(e), Some(event)) => {
            prop_assert!(false, "fast read {event:?} where serde fails with {e}")
        }
        (Err(_), None) => {}
    }
    let public = decode_event(FORMAT_VERSION, bytes);
    let mut out = vec![Envelope {
        seq: 1,
        event: Event::new(Timestamp::from_nanos(1), fake_trade()),
    }];
    let into = decode_event_into(FORMAT_VERSION, bytes, 2, &mut out);
    match (&reference, public, into) {
        (Ok(expected), Ok(event), Ok(())) => {
            prop_assert_eq!(&event, expected);
            prop_assert_eq!(encode(&event), encode(expected));
            prop_assert_eq!(out.len(), 2);
            prop_assert_eq!(out[1].seq, 2);
            prop_assert_eq!(&out[1].event, expected);
            prop_assert_eq!(encode(&out[1].event), encode(expected));
        }
        (Err(expected), Err(a), Err(b)) => {
            prop_assert_eq!(a.to_string(), expected.to_string());
            prop_assert_eq!(b.to_string(), expected.to_string());
            prop_assert_eq!(out.len(), 1, "a failed decode pushes nothing");
        }
        (reference, public, into) => prop_assert!(
            false,
            "serde {reference:?}, decode_event {public:?}, decode_event_into {into:?}"
        ),
    }
    Ok(())
}

/// The payload of an event already in the block, which a decode must leave alone.
fn fake_trade() -> Payload {
    Payload::Trade(Trade {
        venue: "v".into(),
        book: "b".into(),
        instrument: "i".into(),
        px: Decimal::ONE,
        qty: Decimal::ONE,
        side: None,
        trade_id: None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    /// Every kind `fast` reads, with every field shape: it reads the record, and gives
    /// what serde gives.
    #[test]
    fn fast_decoding_equals_serde_decoding(event in fast_event()) {
        let bytes = encode(&event);
        let read = fast::decode(&bytes, fast::Return);
        prop_assert_eq!(read.as_ref(), Some(&event), "fast must read its kinds");
        assert_agrees_with_serde(&bytes)?;
    }

    /// Flipped, inserted, removed, truncated and appended bytes: the decoders still
    /// give serde's value or serde's error.
    #[test]
    fn fast_decoding_of_mangled_records_agrees_with_serde(
        event in fast_event(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let mut bytes = encode(&event);
        for m in &mutations {
            apply(&mut bytes, m);
        }
        assert_agrees_with_serde(&bytes)?;
    }
}

/// bincode's own serialization of a hand-built field sequence: records serde would
/// never write from an `Event`.
fn raw<T: Serialize>(fields: &T) -> Vec<u8> {
    options(MAX_EVENT_BYTES).serialize(fields).unwrap()
}

/// The fields of a trade record up to its decimals, with its payload index.
fn trade_head(variant: u32) -> (i64, u8, u32, &'static str, &'static str, &'static str) {
    (5, 0, variant, "bybit", "linear", "BTCUSDT")
}

#[test]
fn fast_decoding_agrees_with_serde_on_odd_and_broken_records() {
    let one = (1i128, 0u8);
    let candle = |tf: u64, closed: u8| {
        let price = (one, one, one, one, one);
        raw(&(trade_head(2), tf, 7i64, price, closed))
    };
    let fill = |exec: &[u8], liquidity: u32| {
        let mut bytes = raw(&(trade_head(19), 0u8));
        bytes.extend(raw(&(exec.len() as u64)));
        bytes.extend_from_slice(exec);
        bytes.extend(raw(&(0u32, one, one, one, 0u8, liquidity)));
        bytes
    };
    let ok_trade = raw(&(trade_head(0), one, one, 0u8, 0u8));
    let mut trailing = ok_trade.clone();
    trailing.push(0);
    // Who reads each record: both decoders, serde only (a kind `fast` leaves to it),
    // or neither (an error, which must be serde's).
    const BOTH: (bool, bool) = (true, true);
    const SERDE: (bool, bool) = (false, true);
    const NEITHER: (bool, bool) = (false, false);
    let mut non_minimal_ts = vec![251, 10, 0];
    non_minimal_ts.extend_from_slice(&ok_trade[1..]);
    let mut non_minimal_mantissa = raw(&trade_head(0));
    non_minimal_mantissa.push(254);
    non_minimal_mantissa.extend(2u128.to_le_bytes());
    non_minimal_mantissa.extend(raw(&(0u8, one, 0u8, 0u8)));
    let mut marker_255 = vec![255];
    marker_255.extend_from_slice(&ok_trade[1..]);
    let mut u128_in_u64 = vec![254];
    u128_in_u64.extend(10u128.to_le_bytes());
    u128_in_u64.extend_from_slice(&ok_trade[1..]);
    let mut long_string = raw(&(trade_head(19), 0u8));
    long_string.extend(raw(&(1_000_000u64, 0u8)));
    let mut huge_string = raw(&(trade_head(19), 0u8));
    huge_string.extend(raw(&u64::MAX));
    let max = (1i128 << 96) - 1;
    let cases: Vec<(&str, Vec<u8>, (bool, bool))> = vec![
        ("a plain trade", ok_trade.clone(), BOTH),
        ("a trailing byte", trailing, NEITHER),
        (
            "a truncated record",
            ok_trade[..ok_trade.len() - 1].to_vec(),
            NEITHER,
        ),
        ("a non-minimal varint", non_minimal_ts, BOTH),
        ("a non-minimal u128 mantissa", non_minimal_mantissa, BOTH),
        ("varint marker 255", marker_255, NEITHER),
        ("the u128 marker in an i64", u128_in_u64, NEITHER),
        (
            "mantissa 2^96",
            raw(&(trade_head(0), (max + 1, 0u8), one, 0u8, 0u8)),
            NEITHER,
        ),
        (
            "mantissa 2^96 - 1",
            raw(&(trade_head(0), (max, 0u8), one, 0u8, 0u8)),
            BOTH,
        ),
        (
            "mantissa -(2^96 - 1)",
            raw(&(trade_head(0), (-max, 28u8), one, 0u8, 0u8)),
            BOTH,
        ),
        (
            "scale 29",
            raw(&(trade_head(0), (1i128, 29u8), one, 0u8, 0u8)),
            NEITHER,
        ),
        (
            "side 2",
            raw(&(trade_head(0), one, one, 1u8, 2u32, 0u8)),
            NEITHER,
        ),
        (
            "option tag 2",
            raw(&(trade_head(0), one, one, 2u8, 0u8)),
            NEITHER,
        ),
        (
            "a sell with a trade id",
            raw(&(trade_head(0), one, one, 1u8, 1u32, 1u8, "t")),
            BOTH,
        ),
        (
            "a variant index above u32",
            raw(&(5i64, 0u8, 1u64 << 32)),
            NEITHER,
        ),
        ("an unknown payload", raw(&(5i64, 0u8, 1_000u32)), NEITHER),
        ("a funding rate", raw(&(trade_head(3), one, 0u8)), SERDE),
        ("a candle", candle(60, 1), BOTH),
        ("a zero timeframe", candle(0, 1), NEITHER),
        ("a timeframe above u32", candle((1 << 32) + 60, 1), NEITHER),
        ("bool 2", candle(60, 2), NEITHER),
        ("a fill", fill(b"e-1", 1), BOTH),
        (
            "a fill with a long exec id",
            fill("é".repeat(20).as_bytes(), 0),
            BOTH,
        ),
        ("invalid UTF-8", fill(b"e-\xff", 1), NEITHER),
        ("liquidity 2", fill(b"e-1", 2), NEITHER),
        ("a string longer than the record", long_string, NEITHER),
        ("a string length of u64::MAX", huge_string, NEITHER),
        ("an empty record", Vec::new(), NEITHER),
    ];
    for (name, bytes, (fast_reads, serde_reads)) in cases {
        let read = fast::decode(&bytes, fast::Return).is_some();
        assert_eq!(read, fast_reads, "{name}: fast reads it");
        assert_eq!(
            decode_with_serde(&bytes).is_ok(),
            serde_reads,
            "{name}: serde reads it"
        );
        if let Err(e) = assert_agrees_with_serde(&bytes) {
            panic!("{name}: {e}");
        }
    }
    // Ids are `CompactString`s: the fast reader builds the same ones.
    let long = Event::new(
        Timestamp::from_nanos(-1),
        Payload::OrderAccepted(OrderAccepted {
            client_order_id: ClientOrderId(CompactString::new("x".repeat(25))),
            venue_order_id: Some(VenueOrderId(CompactString::new("é"))),
        }),
    );
    assert_eq!(fast::decode(&encode(&long), fast::Return), Some(long));
}
