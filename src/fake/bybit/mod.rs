//! A loopback Bybit v5 (linear perpetuals, one UTA account) speaking the venue's REST
//! and WebSocket formats, signature checks included: the test double of the live
//! adapter, and `ledger fake-venue bybit` for users rehearsing a live setup offline.
//!
//! Market data is a candle file per symbol, replayed one bar per step: each step
//! pushes the bar (`kline.{interval}.{symbol}`, `confirm:true`) and a trade at its close
//! (`publicTrade.{symbol}`), and matches resting orders against it ([`exchange`]).
//! Bars are rebased so the first one opens at the server's start (floored to the bar
//! length): paced at one bar per bar length, market time and the venue clock agree.
//! The venue clock is the wall clock plus a settable skew: this is the venue, not the
//! ledger, so it may read the clock.
//!
//! Faults a test injects through [`Control`]: clock skew, rate-limit answers (10006),
//! dropped `execution` frames (REST still has the fill), a REST answer delayed while the
//! private stream already tells the outcome, closing every socket, silencing every
//! socket without closing it, and silencing one public topic on the sockets that have
//! it (a silently stale channel: pongs and other topics go on; a new subscribe to it
//! works).

pub mod auth;
pub mod exchange;
mod rest;
mod ws;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::broadcast;

pub use auth::Account;
pub use exchange::{AccountConfig, Bar, Exchange, Instrument};

/// Messages a socket may fall behind by before it is cut (as a venue drops a slow
/// reader) rather than buffering without bound.
const SOCKET_BACKLOG: usize = 4096;

/// Everything the fake needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// The key pair it accepts.
    pub account: Account,
    /// Its instruments.
    pub instruments: Vec<Instrument>,
    /// Bars per symbol, oldest first, one length for all.
    pub bars: BTreeMap<String, Vec<Bar>>,
    /// The account's balance, leverage, fees and fill cap.
    pub account_config: AccountConfig,
    /// Wall time between bars; `None`: bars advance only by [`Control::step`].
    pub pace: Option<Duration>,
}

/// A frame for the sockets: the topic (for subscription matching) and its text.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub topic: String,
    pub text: String,
}

/// Injected faults and the clock.
#[derive(Debug, Default)]
struct Faults {
    skew_ms: i64,
    rate_limited: u32,
    drop_executions: u32,
    delay_create: Option<Duration>,
}

pub(crate) struct State {
    pub exchange: Exchange,
    bars: BTreeMap<String, Vec<Bar>>,
    next_bar: usize,
    shift_ms: i64,
    interval: String,
    faults: Faults,
    pub account: Account,
    /// Per-second request counts of private endpoints (the UID limit's window).
    pub calls: BTreeMap<String, (i64, u32)>,
}

impl State {
    /// The venue clock, ms.
    pub fn now_ms(&self) -> i64 {
        wall_ms() + self.faults.skew_ms
    }

    /// True (and counted down) while a test asked for rate-limit answers.
    pub fn rate_limited(&mut self) -> bool {
        if self.faults.rate_limited > 0 {
            self.faults.rate_limited -= 1;
            return true;
        }
        false
    }

    pub fn delay_create(&self) -> Option<Duration> {
        self.faults.delay_create
    }

    /// Bars already pushed, rebased, for `/v5/market/kline`.
    pub fn pushed_bars(&self, symbol: &str) -> Vec<Bar> {
        self.bars
            .get(symbol)
            .map(|bars| {
                bars.iter()
                    .take(self.next_bar)
                    .map(|b| self.rebased(b))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The bar forming now (the next to be pushed) as far as it has traded: its open
    /// only. Bybit lists the forming candle first in `/v5/market/kline`.
    pub fn forming_bar(&self, symbol: &str) -> Option<Bar> {
        let bar = self.bars.get(symbol)?.get(self.next_bar)?;
        Some(Bar {
            high: bar.open,
            low: bar.open,
            close: bar.open,
            volume: rust_decimal::Decimal::ZERO,
            ..self.rebased(bar)
        })
    }

    pub fn interval(&self) -> &str {
        &self.interval
    }

    fn rebased(&self, bar: &Bar) -> Bar {
        Bar {
            start_ms: bar.start_ms + self.shift_ms,
            ..bar.clone()
        }
    }
}

pub(crate) struct Shared {
    state: Mutex<State>,
    pub public: broadcast::Sender<Frame>,
    pub private: broadcast::Sender<Frame>,
    /// Bumped to make every socket close.
    pub kick: tokio::sync::watch::Sender<u64>,
    /// Bumped to make every open socket go silent (a blackholed path).
    pub stall: tokio::sync::watch::Sender<u64>,
    /// Public topics muted, with the serial of the mute: a subscription older than it
    /// gets nothing of that topic.
    muted: Mutex<BTreeMap<String, u64>>,
    /// Mutes so far (0: none, the fast path).
    mute_serial: std::sync::atomic::AtomicU64,
    /// When each `/v5/order/create` reached the handler: the far end of a
    /// tick-to-order latency measured against the fake.
    pub create_arrivals: Mutex<Vec<std::time::Instant>>,
}

impl Shared {
    /// The mute serial a subscription made now carries.
    pub fn mute_serial(&self) -> u64 {
        self.mute_serial.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether a subscription to `topic` made at `serial` still gets its frames.
    pub fn delivers(&self, topic: &str, serial: u64) -> bool {
        if self.mute_serial() == 0 {
            return true;
        }
        let muted = self.muted.lock().unwrap_or_else(|e| e.into_inner());
        muted.get(topic).is_none_or(|m| *m <= serial)
    }

    /// The state; a poisoned lock (a panicked handler) is still usable: every change
    /// is made whole under the lock before anything can panic.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Send the private pushes of one change, minus any execution frame a test
    /// asked to drop.
    pub fn push_private(&self, state: &mut State, pushes: Vec<exchange::Push>) {
        let now = state.now_ms();
        for push in pushes {
            if push.topic == "execution" && state.faults.drop_executions > 0 {
                state.faults.drop_executions -= 1;
                continue;
            }
            let id = format!("fake-{}-{now}", push.topic);
            let text =
                json!({"id": id, "topic": push.topic, "creationTime": now, "data": push.data});
            // No subscriber is not an error: nobody is listening yet.
            let _ = self.private.send(Frame {
                topic: push.topic.to_string(),
                text: text.to_string(),
            });
        }
    }
}

/// A running fake; dropping it does not stop the server (its runtime does).
pub struct FakeBybit {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

/// The handle a test uses to drive the fake and inject faults.
#[derive(Clone)]
pub struct Control {
    shared: Arc<Shared>,
}

impl FakeBybit {
    /// Bind `listen` (port 0: any free port) and serve on the current tokio runtime.
    pub async fn start(config: Config, listen: SocketAddr) -> std::io::Result<FakeBybit> {
        let len_ms = config
            .bars
            .values()
            .find_map(|b| b.first().map(|b| b.len_ms))
            .unwrap_or(60_000)
            .max(1);
        let first = config
            .bars
            .values()
            .filter_map(|b| b.first().map(|b| b.start_ms))
            .min()
            .unwrap_or(0);
        let start = wall_ms() / len_ms * len_ms;
        let interval = match len_ms / 60_000 {
            1440 => "D".to_string(),
            m if m > 0 => m.to_string(),
            _ => "1".to_string(),
        };
        let mut exchange = Exchange::new(config.account_config.clone(), config.instruments.clone());
        // The first bar is the market before the session: a price to trade at.
        let shift_ms = start - first - len_ms;
        for (symbol, bars) in &config.bars {
            if let Some(bar) = bars.first() {
                exchange.on_bar(symbol, bar, start);
            }
        }
        let (public, _) = broadcast::channel(SOCKET_BACKLOG);
        let (private, _) = broadcast::channel(SOCKET_BACKLOG);
        let (kick, _) = tokio::sync::watch::channel(0);
        let (stall, _) = tokio::sync::watch::channel(0);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                exchange,
                bars: config.bars.clone(),
                next_bar: 1,
                shift_ms,
                interval,
                faults: Faults::default(),
                account: config.account.clone(),
                calls: BTreeMap::new(),
            }),
            public,
            private,
            kick,
            stall,
            muted: Mutex::new(BTreeMap::new()),
            mute_serial: std::sync::atomic::AtomicU64::new(0),
            create_arrivals: Mutex::new(Vec::new()),
        });
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let app = rest::router(shared.clone()).merge(ws::router(shared.clone()));
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing_free_log(&format!("fake bybit: server stopped: {e}"));
            }
        });
        if let Some(pace) = config.pace {
            let control = Control {
                shared: shared.clone(),
            };
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(pace);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    if !control.step() {
                        break;
                    }
                }
            });
        }
        Ok(FakeBybit { addr, shared })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// REST base URL.
    pub fn rest_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// WebSocket base URL (append `/v5/public/linear` or `/v5/private`).
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Its control handle.
    pub fn control(&self) -> Control {
        Control {
            shared: self.shared.clone(),
        }
    }
}

impl Control {
    /// Push the next bar of every symbol and match against it; false at the end of
    /// the data.
    pub fn step(&self) -> bool {
        let mut state = self.shared.lock();
        let index = state.next_bar;
        let now = state.now_ms();
        let symbols: Vec<(String, Bar)> = state
            .bars
            .iter()
            .filter_map(|(s, bars)| bars.get(index).map(|b| (s.clone(), b.clone())))
            .collect();
        if symbols.is_empty() {
            return false;
        }
        state.next_bar += 1;
        for (symbol, bar) in symbols {
            let bar = state.rebased(&bar);
            let pushes = state.exchange.on_bar(&symbol, &bar, now);
            self.shared.push_private(&mut state, pushes);
            for frame in public_frames(&symbol, &bar, state.interval(), index) {
                let _ = self.shared.public.send(frame);
            }
        }
        true
    }

    /// Shift the venue clock by `ms` (a client must measure it, not retry blindly).
    pub fn set_skew_ms(&self, ms: i64) {
        self.shared.lock().faults.skew_ms = ms;
    }

    /// Answer the next `n` private REST calls with 10006 "Too many visits!".
    pub fn rate_limit_next(&self, n: u32) {
        self.shared.lock().faults.rate_limited = n;
    }

    /// Drop the next `n` `execution` frames of the private stream (REST keeps them).
    pub fn drop_executions(&self, n: u32) {
        self.shared.lock().faults.drop_executions = n;
    }

    /// Hold every create answer this long (the private stream tells at once).
    pub fn delay_create(&self, delay: Option<Duration>) {
        self.shared.lock().faults.delay_create = delay;
    }

    /// Close every WebSocket connection (code 1000, as a venue's maintenance does).
    pub fn disconnect_all(&self) {
        self.shared.kick.send_modify(|n| *n += 1);
    }

    /// Make every open WebSocket go silent without closing: no frames, no pongs, no
    /// FIN (a blackholed path). Connections opened afterwards work.
    pub fn blackhole_all(&self) {
        self.shared.stall.send_modify(|n| *n += 1);
    }

    /// When each order create request arrived (taken or refused), oldest first.
    pub fn create_arrivals(&self) -> Vec<std::time::Instant> {
        let arrivals = self.shared.create_arrivals.lock();
        arrivals.unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Every order the venue took, open or ended, in wire form.
    pub fn all_orders(&self) -> Vec<Value> {
        self.shared.lock().exchange.all_orders()
    }

    /// Stop sending public `topic` to every socket subscribed to it now, while they
    /// stay open and everything else flows; a subscribe made afterwards gets it again.
    pub fn mute_topic(&self, topic: &str) {
        let mut muted = self.shared.muted.lock().unwrap_or_else(|e| e.into_inner());
        let serial = self
            .shared
            .mute_serial
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel)
            + 1;
        muted.insert(topic.to_string(), serial);
    }

    /// Move `amount` USDT into (or out of) the wallet with no `wallet` push: a
    /// transfer the client's stream never heard of, for reconciliation to find.
    pub fn credit_silently(&self, amount: rust_decimal::Decimal) {
        self.shared.lock().exchange.credit(amount);
    }

    /// Trade `qty` of `symbol` on the account behind the client's back.
    pub fn external_trade(&self, symbol: &str, buy: bool, qty: rust_decimal::Decimal) {
        let mut state = self.shared.lock();
        let now = state.now_ms();
        let pushes = state.exchange.external_trade(symbol, buy, qty, now);
        self.shared.push_private(&mut state, pushes);
    }
}

/// The public frames of one bar: its closed kline and a trade at its close.
fn public_frames(symbol: &str, bar: &Bar, interval: &str, index: usize) -> Vec<Frame> {
    let end = bar.start_ms + bar.len_ms;
    let kline_topic = format!("kline.{interval}.{symbol}");
    let kline = json!({
        "topic": kline_topic,
        "type": "snapshot",
        "ts": end,
        "data": [{
            "start": bar.start_ms,
            "end": end - 1,
            "interval": interval,
            "open": bar.open.to_string(),
            "close": bar.close.to_string(),
            "high": bar.high.to_string(),
            "low": bar.low.to_string(),
            "volume": bar.volume.to_string(),
            "turnover": (bar.volume * bar.close).normalize().to_string(),
            "confirm": true,
            "timestamp": end,
        }],
    });
    let trade_topic = format!("publicTrade.{symbol}");
    let trade = json!({
        "topic": trade_topic,
        "type": "snapshot",
        "ts": end,
        "data": [{
            "T": end - 1,
            "s": symbol,
            "S": "Buy",
            "v": bar.volume.to_string(),
            "p": bar.close.to_string(),
            "L": "ZeroPlusTick",
            "i": format!("fake-trade-{symbol}-{index}"),
            "BT": false,
            "seq": index,
        }],
    });
    vec![
        Frame {
            topic: kline_topic,
            text: kline.to_string(),
        },
        Frame {
            topic: trade_topic,
            text: trade.to_string(),
        },
    ]
}

/// Bybit's envelope: HTTP 200 whatever the outcome.
pub(crate) fn envelope(code: i64, msg: &str, result: Value, now_ms: i64) -> Value {
    json!({"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": now_ms})
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The fake logs to stderr: it is a tool, and the project has no logger yet.
pub(crate) fn tracing_free_log(line: &str) {
    eprintln!("{line}");
}
