//! One public socket: connect with explicit frame limits, subscribe, ping every
//! `ping_every`, treat `idle_timeout` without a frame as a dead connection (a
//! blackholed path or a silently stale stream), and reconnect with exponential backoff
//! and jitter after any end — a close with code 1000 (venue maintenance) included.
//! Each state change is reported as a bookkeeping event.
//!
//! A topic can also die alone: acked, the socket alive (pongs, other topics), and
//! nothing more on it. Each topic with a cadence (klines: see
//! [`super::bybit::silence_limit`]) is watched; silent past its limit, it is
//! unsubscribed and subscribed again (a stderr line says why, a `resubscribed` event
//! records it once acked); silent again after that, the socket is reconnected.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use backon::BackoffBuilder;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::backfill::{self, Rest, Series};
use super::bybit::{Parsed, Parser, frame_topic, silence_limit};
use super::capture::CaptureWriter;
use super::subscriptions::Subscriptions;
use super::{FeedConfig, Queues, now};
use crate::event::{Connection, Event, Payload, Resubscribed, Timestamp};
use crate::venue::bybit::control::{ping_message, subscribe_message, unsubscribe_message};

/// Largest message accepted: Bybit's biggest public frames (1024 trades, a 1000-level
/// book snapshot) are well under this; anything larger is a fault, not data.
pub const MAX_MESSAGE: usize = 1 << 20;
/// Largest single frame accepted.
pub const MAX_FRAME: usize = 256 << 10;
/// Bad frames quoted on stderr per socket (the rest are only counted).
const QUOTED_BAD_FRAMES: u64 = 5;

/// The frame limits every feed socket uses (explicit, not the library's 64 MiB).
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_FRAME))
}

impl Shard {
    /// After a reconnect: every series this socket carried gets the closed candles it
    /// missed from REST, or a `gap` event (and a line saying why) for what it could
    /// not get.
    async fn backfill(&self, series: &mut Series) {
        let ns = crate::venue::bybit::Namespace::default();
        for (symbol, tf, last) in series.tracked() {
            let now = now();
            let step = tf.nanos();
            // Bars closed since the last seen, by our clock (a hint for a gap's size).
            let closed_since = ((now.as_nanos() - last.as_nanos()) / step - 1).max(0);
            let fetched = match &self.rest {
                Some(rest) => backfill::fetch(rest, &ns, &symbol, tf, last, now).await,
                None => Err("no REST URL to backfill from".to_string()),
            };
            let recv = super::now();
            match fetched {
                Ok(events) => {
                    let mut candles = 0;
                    let mut gaps = 0;
                    let admitted: Vec<Event> = events
                        .into_iter()
                        .filter(|e| series.admit(e))
                        .map(|mut e| {
                            match e.payload {
                                Payload::Gap(_) => gaps += 1,
                                _ => candles += 1,
                            }
                            e.recv_ts = Some(recv);
                            e
                        })
                        .collect();
                    eprintln!(
                        "ledger feed: {}: backfilled {candles} closed {tf} candle(s) of {symbol} over REST after the reconnect{}",
                        self.stream(),
                        match gaps {
                            0 => String::new(),
                            n => format!("; {n} gap(s) the venue could not fill"),
                        }
                    );
                    self.queues.push(admitted);
                }
                Err(why) => {
                    eprintln!(
                        "ledger feed: {}: cannot backfill {symbol} {tf} candles after the reconnect ({why}): recorded as a gap of up to {closed_since} bar(s)",
                        self.stream()
                    );
                    let mut gap = backfill::gap(
                        &ns,
                        &symbol,
                        last,
                        Timestamp::from_nanos(now.as_nanos() - now.as_nanos() % step),
                        step,
                        closed_since,
                    );
                    gap.recv_ts = Some(recv);
                    self.queues.push([gap]);
                }
            }
        }
    }
}

/// An interval that never fires in practice (no topic is watched yet).
fn far_interval() -> tokio::time::Interval {
    let far = Duration::from_secs(365 * 24 * 3600);
    tokio::time::interval_at(Instant::now() + far, far)
}

/// One socket task's inputs.
pub(crate) struct Shard {
    pub index: usize,
    pub config: FeedConfig,
    pub topics: Vec<String>,
    pub queues: Arc<Queues>,
    pub capture: Option<Arc<CaptureWriter>>,
    pub stop: watch::Receiver<bool>,
    /// Where missed closed candles are fetched after a reconnect; `None`: gap events.
    pub rest: Option<Rest>,
}

/// When each watched topic of one connection last carried data.
#[derive(Debug, Default)]
struct Watch {
    /// Topic → (its silence limit, last data or ack).
    heard: BTreeMap<String, (Duration, Instant)>,
    /// Topics resubscribed for silence on this connection and not heard from since.
    revived: BTreeSet<String>,
    /// Topics resubscribed for silence whose ack is still due (then: `resubscribed`).
    awaiting_ack: BTreeSet<String>,
}

impl Watch {
    fn heard(&mut self, topic: &str, at: Instant) {
        if let Some((_, last)) = self.heard.get_mut(topic) {
            *last = at;
            self.revived.remove(topic);
        }
    }

    /// The shortest limit, for how often to look (at least every 10 ms).
    fn period(&self) -> Option<Duration> {
        self.heard
            .values()
            .map(|(limit, _)| (*limit / 4).max(Duration::from_millis(10)))
            .min()
    }

    /// Topics silent past their limit at `now`, with how long they have been silent.
    fn stale(&self, now: Instant) -> Vec<(String, Duration)> {
        self.heard
            .iter()
            .filter_map(|(t, (limit, last))| {
                let silent = now.saturating_duration_since(*last);
                (silent > *limit).then(|| (t.clone(), silent))
            })
            .collect()
    }
}

/// Why a connection ended.
enum End {
    Stopped,
    Lost(String),
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

impl Shard {
    fn stream(&self) -> String {
        format!("public#{}", self.index)
    }

    fn control(&self, payload: Payload) {
        self.queues.push_control(Event::new(now(), payload));
    }

    fn connection(&self, reason: String) -> Connection {
        Connection {
            venue: self.config.venue.clone(),
            stream: self.stream(),
            reason,
        }
    }

    /// Run until stopped: connect, read, reconnect.
    pub async fn run(mut self) {
        let (min, max) = self.config.backoff;
        let builder = backon::ExponentialBuilder::default()
            .with_min_delay(min)
            .with_max_delay(max)
            .with_jitter()
            .without_max_times();
        let mut delays = builder.build();
        let mut subs = Subscriptions::new(self.topics.clone());
        let mut parser = Parser::new();
        let mut series = Series::default();
        let mut connected_before = false;
        loop {
            if *self.stop.borrow() {
                break;
            }
            let connect = tokio_tungstenite::connect_async_with_config(
                self.config.ws_url.as_str(),
                Some(ws_config()),
                true,
            );
            let attempt = tokio::select! {
                r = connect => r,
                _ = self.stop.changed() => break,
            };
            let end = match attempt {
                Ok((ws, _)) => {
                    if connected_before {
                        self.queues.reconnects.fetch_add(1, Ordering::Relaxed);
                    }
                    self.control(Payload::Connected(self.connection("connected".into())));
                    self.queues
                        .subscribed
                        .fetch_sub(subs.current().len() as u64, Ordering::Relaxed);
                    subs.reset();
                    let end = self
                        .session(ws, &mut subs, &mut parser, &mut series, connected_before)
                        .await;
                    connected_before = true;
                    self.queues
                        .subscribed
                        .fetch_sub(subs.current().len() as u64, Ordering::Relaxed);
                    subs.reset();
                    // A connection that carried data earns a fresh backoff.
                    if end.1 {
                        delays = builder.build();
                    }
                    end.0
                }
                Err(e) => End::Lost(format!("connect failed: {e}")),
            };
            if let Some(capture) = &self.capture {
                let _ = capture.flush();
            }
            match end {
                End::Stopped => break,
                End::Lost(reason) => {
                    self.control(Payload::Disconnected(self.connection(reason)));
                    let delay = delays.next().unwrap_or(max);
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.stop.changed() => break,
                    }
                }
            }
        }
        if let Some(capture) = &self.capture {
            let _ = capture.flush();
        }
        self.queues.producer_done();
    }

    /// One connection; returns why it ended and whether any data came.
    async fn session<S>(
        &mut self,
        ws: tokio_tungstenite::WebSocketStream<S>,
        subs: &mut Subscriptions,
        parser: &mut Parser,
        series: &mut Series,
        reconnect: bool,
    ) -> (End, bool)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let (mut tx, mut rx) = ws.split();
        let mut got_data = false;
        if let Some((id, topics)) = subs.request()
            && let Err(e) = tx
                .send(Message::Text(subscribe_message(&id, &topics).into()))
                .await
        {
            return (End::Lost(format!("subscribe send failed: {e}")), false);
        }
        if reconnect {
            // The subscribe is out: the venue's frames wait in the socket meanwhile.
            self.backfill(series).await;
        }
        let mut resubscribed = Vec::new();
        let mut ping = tokio::time::interval_at(
            Instant::now() + self.config.ping_every,
            self.config.ping_every,
        );
        let mut pings = 0u64;
        let mut deadline = Instant::now() + self.config.idle_timeout;
        let mut watch = Watch::default();
        let mut revivals = 0u64;
        // Rebuilt whenever a topic is acked (its limit joins the watch).
        let mut look = far_interval();
        loop {
            let msg = tokio::select! {
                _ = look.tick() => {
                    for (topic, silent) in watch.stale(Instant::now()) {
                        if watch.revived.contains(&topic) {
                            return (End::Lost(format!("topic {topic} stale: nothing for {silent:?} though resubscribed; the socket still answers")), got_data);
                        }
                        eprintln!(
                            "ledger feed: {}: topic {topic} stale: nothing for {silent:?} while the socket is alive; resubscribing",
                            self.stream()
                        );
                        revivals += 1;
                        let topics = vec![topic.clone()];
                        if let Err(e) = tx.send(Message::Text(unsubscribe_message(&format!("unsub-{revivals}"), &topics).into())).await {
                            return (End::Lost(format!("unsubscribe send failed: {e}")), got_data);
                        }
                        if subs.forget(&topic) {
                            self.queues.subscribed.fetch_sub(1, Ordering::Relaxed);
                        }
                        watch.heard.remove(&topic);
                        watch.revived.insert(topic.clone());
                        watch.awaiting_ack.insert(topic);
                    }
                    if let Some((id, topics)) = subs.request()
                        && let Err(e) = tx.send(Message::Text(subscribe_message(&id, &topics).into())).await
                    {
                        return (End::Lost(format!("subscribe send failed: {e}")), got_data);
                    }
                    continue;
                }
                _ = self.stop.changed() => {
                    let _ = tx.send(Message::Close(None)).await;
                    return (End::Stopped, got_data);
                }
                _ = ping.tick() => {
                    pings += 1;
                    if let Err(e) = tx.send(Message::Text(ping_message(&format!("ping-{pings}")).into())).await {
                        return (End::Lost(format!("ping send failed: {e}")), got_data);
                    }
                    continue;
                }
                _ = tokio::time::sleep_until(deadline) => {
                    return (End::Lost(format!("idle: no frame for {:?}", self.config.idle_timeout)), got_data);
                }
                msg = rx.next() => msg,
            };
            let text = match msg {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(frame))) => {
                    let reason = match frame {
                        Some(f) => {
                            format!("closed by venue: code {} {}", u16::from(f.code), f.reason)
                        }
                        None => "closed by venue".to_string(),
                    };
                    return (End::Lost(reason), got_data);
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {
                    deadline = Instant::now() + self.config.idle_timeout;
                    continue;
                }
                Some(Ok(Message::Binary(_))) => {
                    deadline = Instant::now() + self.config.idle_timeout;
                    self.queues.bad_frames.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                Some(Err(e)) => return (End::Lost(format!("read failed: {e}")), got_data),
                None => return (End::Lost("stream ended".into()), got_data),
            };
            let recv = now();
            deadline = Instant::now() + self.config.idle_timeout;
            self.queues.frames.fetch_add(1, Ordering::Relaxed);
            if let Some(capture) = &self.capture
                && let Err(e) = capture.write(recv, &text)
            {
                eprintln!("ledger feed: {e}; capture stopped");
                self.capture = None;
            }
            if let Some(topic) = frame_topic(&text) {
                watch.heard(topic, Instant::now());
            }
            match parser.parse(&text) {
                Ok(Parsed::Events(mut events)) => {
                    got_data = true;
                    events.retain(|e| series.admit(e));
                    for e in &mut events {
                        e.recv_ts = Some(recv);
                    }
                    self.queues.push(events);
                }
                Ok(Parsed::Pong) => {}
                Ok(Parsed::Ack {
                    success,
                    message,
                    req_id,
                }) => {
                    let topics = subs.acked(req_id.as_deref(), success);
                    self.queues
                        .subscribed
                        .fetch_add(topics.len() as u64, Ordering::Relaxed);
                    if !success {
                        eprintln!("ledger feed: subscribe refused: {message}");
                    }
                    let acked = Instant::now();
                    for topic in &topics {
                        if let Some(limit) = silence_limit(topic, self.config.kline_silence) {
                            watch.heard.insert(topic.clone(), (limit, acked));
                        }
                    }
                    if let Some(period) = watch.period() {
                        look = tokio::time::interval_at(acked + period, period);
                    }
                    let revived: Vec<String> = topics
                        .iter()
                        .filter(|t| watch.awaiting_ack.remove(*t))
                        .cloned()
                        .collect();
                    if !revived.is_empty() {
                        self.control(Payload::Resubscribed(Resubscribed {
                            venue: self.config.venue.clone(),
                            channels: revived,
                        }));
                    }
                    resubscribed.extend(topics);
                    if reconnect && !resubscribed.is_empty() && subs.current() == subs.desired() {
                        self.control(Payload::Resubscribed(Resubscribed {
                            venue: self.config.venue.clone(),
                            channels: std::mem::take(&mut resubscribed),
                        }));
                    }
                }
                Err(e) => {
                    let n = self.queues.bad_frames.fetch_add(1, Ordering::Relaxed);
                    if n < QUOTED_BAD_FRAMES {
                        eprintln!(
                            "ledger feed: skipped a bad frame ({e}): {}",
                            truncate(&text, 200)
                        );
                    }
                }
            }
        }
    }
}
