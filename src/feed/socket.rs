//! One public socket: connect with explicit frame limits, subscribe, ping every
//! `ping_every`, treat `idle_timeout` without a frame as a dead connection (a
//! blackholed path or a silently stale stream), and reconnect with exponential backoff
//! and jitter after any end — a close with code 1000 (venue maintenance) included.
//! Each state change is reported as a bookkeeping event.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use backon::BackoffBuilder;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::bybit::{Parsed, Parser};
use super::capture::CaptureWriter;
use super::subscriptions::Subscriptions;
use super::{FeedConfig, Queues, now};
use crate::event::{Connection, Event, Payload, Resubscribed};
use crate::venue::bybit::control::{ping_message, subscribe_message};

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

/// One socket task's inputs.
pub(crate) struct Shard {
    pub index: usize,
    pub config: FeedConfig,
    pub topics: Vec<String>,
    pub queues: Arc<Queues>,
    pub capture: Option<Arc<CaptureWriter>>,
    pub stop: watch::Receiver<bool>,
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
                        .session(ws, &mut subs, &mut parser, connected_before)
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
        let mut resubscribed = Vec::new();
        let mut ping = tokio::time::interval_at(
            Instant::now() + self.config.ping_every,
            self.config.ping_every,
        );
        let mut pings = 0u64;
        let mut deadline = Instant::now() + self.config.idle_timeout;
        loop {
            let msg = tokio::select! {
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
            match parser.parse(&text) {
                Ok(Parsed::Events(mut events)) => {
                    got_data = true;
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
