//! The live feed (`ledger::feed`) and `ledger ingest` against loopback venues: the fake
//! Bybit for trades, candles and reconnects, and small raw servers for a garbage
//! frame and a silently stale socket. No internet.

use std::collections::BTreeMap;
use std::time::Duration;

use ledger::event::{Event, Payload, Symbol};
use ledger::fake::bybit::{Account, AccountConfig, Bar, Config, FakeBybit, Instrument};
use ledger::feed::{Feed, FeedConfig};
use rust_decimal::Decimal;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn bars(n: usize, base: i64) -> Vec<Bar> {
    (0..n)
        .map(|i| {
            let px = Decimal::from(base + i as i64);
            Bar {
                start_ms: 1_767_225_600_000 + i as i64 * 60_000,
                len_ms: 60_000,
                open: px,
                high: px + Decimal::from(5),
                low: px - Decimal::from(5),
                close: px + Decimal::from(1),
                volume: d("2.5"),
            }
        })
        .collect()
}

fn instrument(symbol: &str) -> Instrument {
    Instrument {
        symbol: symbol.into(),
        tick: d("0.1"),
        lot: d("0.001"),
        min_qty: d("0.001"),
        min_notional: d("5"),
        max_leverage: d("100"),
    }
}

pub async fn fake(n: usize) -> FakeBybit {
    ledger::install_crypto();
    let config = Config {
        account: Account {
            key: "k".into(),
            secret: "s".into(),
        },
        instruments: vec![instrument("BTCUSDT"), instrument("ETHUSDT")],
        bars: BTreeMap::from([
            ("BTCUSDT".to_string(), bars(n, 42_000)),
            ("ETHUSDT".to_string(), bars(n, 2_000)),
        ]),
        account_config: AccountConfig::default(),
        pace: None,
    };
    FakeBybit::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn config(url: String) -> FeedConfig {
    let mut c = FeedConfig::new(url, vec![Symbol::from("BTCUSDT"), Symbol::from("ETHUSDT")]);
    c.kline = Some("1m".parse().unwrap());
    c.backoff = (Duration::from_millis(20), Duration::from_millis(200));
    c
}

async fn wait_subscribed(feed: &Feed, topics: u64) {
    for _ in 0..500 {
        if feed.subscribed() == topics {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never subscribed: {} of {topics}", feed.subscribed());
}

/// Events until `pred` holds for one of them (or a 10 s timeout fails the test).
async fn until(feed: &mut Feed, mut pred: impl FnMut(&Event) -> bool) -> Vec<Event> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let e = tokio::time::timeout_at(deadline, feed.next())
            .await
            .expect("timed out waiting for an event")
            .expect("feed ended");
        let hit = pred(&e);
        out.push(e);
        if hit {
            return out;
        }
    }
}

fn trades(events: &[Event]) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::Trade(t) => Some((t.instrument.as_str().to_string(), t.px.to_string())),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_delivers_the_fakes_trades_and_candles() {
    let fake = fake(3).await;
    let mut feed = Feed::spawn(config(format!("{}/v5/public/linear", fake.ws_url()))).unwrap();
    let first = feed.next().await.unwrap();
    assert!(matches!(first.payload, Payload::Connected(_)), "{first:?}");
    wait_subscribed(&feed, 4).await;
    let control = fake.control();
    assert!(control.step());
    assert!(control.step());
    let mut n = 0;
    let events = until(&mut feed, |e| {
        n += matches!(e.payload, Payload::Trade(_)) as usize;
        n == 4
    })
    .await;
    let mut got = trades(&events);
    got.sort();
    assert_eq!(
        got,
        [
            ("BTCUSDT".into(), "42001".into()),
            ("BTCUSDT".into(), "42002".into()),
            ("ETHUSDT".into(), "2001".into()),
            ("ETHUSDT".into(), "2002".into()),
        ]
    );
    let candles = events
        .iter()
        .filter(|e| matches!(&e.payload, Payload::Candle(c) if c.closed))
        .count();
    assert!(
        candles >= 3,
        "closed candles arrive with the trades: {candles}"
    );
    // Market events carry the venue's time, not ours.
    let t = events
        .iter()
        .find(|e| matches!(e.payload, Payload::Trade(_)))
        .unwrap();
    assert_eq!(t.ts.as_nanos() % 1_000_000, 0);
    assert!(t.recv_ts.is_some());
    feed.stop();
    let rest = tokio::time::timeout(Duration::from_secs(5), async {
        let mut rest = Vec::new();
        while let Some(e) = feed.next().await {
            rest.push(e);
        }
        rest
    })
    .await
    .expect("next() ends after stop()");
    assert!(
        rest.iter()
            .all(|e| !matches!(e.payload, Payload::Disconnected(_)))
    );
}
