//! The private WS (`/v5/private`) on its own task: connect, `auth` (signed with an
//! expiry on the venue clock), subscribe `order`, `execution`, `position`, `wallet`,
//! ping every 20 s, and read with sizes capped and an idle bound; on any close (code
//! 1000 included), error, or silence longer than the idle timeout (a blackholed TCP
//! path answers nothing, not even a FIN), reconnect with backoff and authenticate again.
//!
//! Frames are parsed here and queued, with their receive time, in the [`Inbox`]; the
//! backend translates them when the engine asks for reports, so the `Translator` has a
//! single owner. Each queued frame wakes [`Inbox::ready`]. A frame that does not parse
//! is noted and skipped. Each successful (re)connection is queued too: after a
//! reconnect the backend catches up over REST on what the stream may have missed.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{Notify, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::event::Timestamp;
use crate::venue::bybit::Credentials;
use crate::venue::bybit::control::{Control, ping_message, subscribe_message};
use crate::venue::bybit::{PrivateFrame, parse_private};

use super::clock::{Clock, local_now_ns};
use super::notes::{Note, Notes};

/// The topics subscribed.
pub const TOPICS: [&str; 4] = ["order", "execution", "position", "wallet"];

/// Frames queued before new ones are dropped (and a REST catch-up is asked for): the
/// engine drains the inbox continuously, so this is only reached when it is stuck.
pub const INBOX_MAX: usize = 100_000;

/// How long an auth expiry lies ahead of the venue clock.
const AUTH_EXPIRY_MS: i64 = 5_000;

/// Settings of the stream.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// Full URL, e.g. `wss://stream.bybit.com/v5/private`.
    pub url: String,
    /// Heartbeat period (Bybit asks for 20 s).
    pub ping_interval: Duration,
    /// Silence (no frame, no pong) after which the connection is declared dead.
    pub idle_timeout: Duration,
    /// Time allowed for connect, auth and subscribe.
    pub connect_timeout: Duration,
    /// Largest message and frame read.
    pub max_message_bytes: usize,
    /// First reconnect pause.
    pub reconnect_min: Duration,
    /// Longest reconnect pause.
    pub reconnect_max: Duration,
}

/// What the stream queued.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A parsed data frame and when we received it.
    Frame {
        /// Our receive time.
        recv: Timestamp,
        /// The frame.
        frame: PrivateFrame,
    },
    /// Authenticated and subscribed.
    Up {
        /// True when an earlier connection had been up.
        reconnect: bool,
    },
}

/// The queue between the stream task and the backend.
#[derive(Debug)]
pub struct Inbox {
    queue: Mutex<VecDeque<Incoming>>,
    overflowed: AtomicBool,
    ready: Arc<Notify>,
    sessions: watch::Sender<u64>,
}

impl Inbox {
    fn new() -> Inbox {
        Inbox {
            queue: Mutex::new(VecDeque::new()),
            overflowed: AtomicBool::new(false),
            ready: Arc::new(Notify::new()),
            sessions: watch::channel(0).0,
        }
    }

    fn push(&self, item: Incoming) {
        {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            if queue.len() >= INBOX_MAX {
                self.overflowed.store(true, Ordering::Relaxed);
            } else {
                queue.push_back(item);
            }
        }
        self.ready.notify_one();
    }

    /// Everything queued, oldest first, and whether frames were dropped since the last
    /// call (then the caller must catch up over REST).
    pub fn drain(&self) -> (Vec<Incoming>, bool) {
        let items = self
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        (items, self.overflowed.swap(false, Ordering::Relaxed))
    }

    /// Woken whenever something is queued (a permit is kept if nobody waits).
    pub fn ready(&self) -> Arc<Notify> {
        self.ready.clone()
    }

    /// How many times the stream came up; watch it to wait for a (re)connection.
    pub fn sessions(&self) -> watch::Receiver<u64> {
        self.sessions.subscribe()
    }
}

/// The running stream; dropping it stops the task.
#[derive(Debug)]
pub struct PrivateStream {
    inbox: Arc<Inbox>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PrivateStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PrivateStream {
    /// Start the stream on the current runtime.
    pub fn spawn(
        config: StreamConfig,
        creds: Credentials,
        clock: Arc<Clock>,
        notes: Notes,
    ) -> PrivateStream {
        let inbox = Arc::new(Inbox::new());
        let task = tokio::spawn(run(config, creds, clock, notes, inbox.clone()));
        PrivateStream { inbox, task }
    }

    /// Its queue.
    pub fn inbox(&self) -> &Arc<Inbox> {
        &self.inbox
    }
}

fn backoff(config: &StreamConfig) -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(config.reconnect_min)
        .with_max_delay(config.reconnect_max)
        .without_max_times()
        .with_jitter()
        .with_jitter_seed(u64::try_from(local_now_ns()).unwrap_or(0))
        .build()
}

async fn run(
    config: StreamConfig,
    creds: Credentials,
    clock: Arc<Clock>,
    notes: Notes,
    inbox: Arc<Inbox>,
) {
    let mut ever_up = false;
    let mut pauses = backoff(&config);
    let mut attempt = 0u32;
    loop {
        let (was_up, reason) = session(&config, &creds, &clock, &notes, &inbox, ever_up).await;
        notes.push(Note::Disconnected { reason });
        if was_up {
            ever_up = true;
            pauses = backoff(&config);
            attempt = 0;
        }
        attempt += 1;
        let after = pauses.next().unwrap_or(config.reconnect_max);
        notes.push(Note::Reconnecting { attempt, after });
        tokio::time::sleep(after).await;
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One connection, until it ends: whether it came up, and why it ended.
async fn session(
    config: &StreamConfig,
    creds: &Credentials,
    clock: &Clock,
    notes: &Notes,
    inbox: &Inbox,
    reconnect: bool,
) -> (bool, String) {
    let setup = tokio::time::timeout(config.connect_timeout, open(config, creds, clock, inbox));
    let mut socket = match setup.await {
        Ok(Ok(socket)) => socket,
        Ok(Err(reason)) => return (false, reason),
        Err(_) => return (false, "connect, auth and subscribe timed out".to_string()),
    };
    inbox.push(Incoming::Up { reconnect });
    inbox.sessions.send_modify(|n| *n += 1);
    notes.push(Note::Connected { reconnect });
    let mut ping = tokio::time::interval(config.ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    let mut heard = Instant::now();
    let mut pings = 0u64;
    loop {
        tokio::select! {
            _ = ping.tick() => {
                if heard.elapsed() > config.idle_timeout {
                    return (true, format!("nothing heard for {:?}", heard.elapsed()));
                }
                pings += 1;
                let text = ping_message(&format!("ping-{pings}"));
                if let Err(e) = socket.send(Message::Text(text.into())).await {
                    return (true, format!("ping failed: {e}"));
                }
            }
            read = tokio::time::timeout(config.idle_timeout, socket.next()) => {
                let message = match read {
                    Err(_) => return (true, format!("nothing heard for {:?}", config.idle_timeout)),
                    Ok(None) => return (true, "closed without a close frame".to_string()),
                    Ok(Some(Err(e))) => return (true, format!("read failed: {e}")),
                    Ok(Some(Ok(message))) => message,
                };
                heard = Instant::now();
                match message {
                    Message::Text(text) => handle(text.as_str(), notes, inbox),
                    Message::Close(frame) => {
                        let code = frame.as_ref().map(|f| u16::from(f.code)).unwrap_or(1005);
                        return (true, format!("closed by the venue (code {code})"));
                    }
                    // Pings are answered by tungstenite; binary frames are not Bybit's.
                    _ => {}
                }
            }
        }
    }
}

/// Connect, authenticate, subscribe; the first error as text.
async fn open(
    config: &StreamConfig,
    creds: &Credentials,
    clock: &Clock,
    inbox: &Inbox,
) -> Result<Socket, String> {
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(config.max_message_bytes))
        .max_frame_size(Some(config.max_message_bytes));
    let (mut socket, _) =
        tokio_tungstenite::connect_async_with_config(config.url.as_str(), Some(ws_config), true)
            .await
            .map_err(|e| format!("connect failed: {e}"))?;
    // The expiry must lie ahead of the venue's clock, not ours.
    let expires = clock.venue_now_ms() + AUTH_EXPIRY_MS;
    let auth = creds.auth_message("auth", expires);
    socket
        .send(Message::Text(auth.into()))
        .await
        .map_err(|e| format!("auth send failed: {e}"))?;
    await_ack(&mut socket, "auth", inbox).await?;
    let topics: Vec<String> = TOPICS.iter().map(|t| t.to_string()).collect();
    socket
        .send(Message::Text(
            subscribe_message("subscribe", &topics).into(),
        ))
        .await
        .map_err(|e| format!("subscribe send failed: {e}"))?;
    await_ack(&mut socket, "subscribe", inbox).await?;
    Ok(socket)
}

/// Read until the ack of `op`; data frames meanwhile are queued.
async fn await_ack(socket: &mut Socket, op: &str, inbox: &Inbox) -> Result<(), String> {
    loop {
        let message = match socket.next().await {
            None => return Err(format!("closed before the {op} ack")),
            Some(Err(e)) => return Err(format!("read failed before the {op} ack: {e}")),
            Some(Ok(message)) => message,
        };
        let text = match message {
            Message::Text(text) => text,
            Message::Close(_) => return Err(format!("closed before the {op} ack")),
            _ => continue,
        };
        match parse_private(text.as_str()) {
            Ok(PrivateFrame::Control(Control::Ack(ack))) if ack.op == op => {
                return match ack.success {
                    true => Ok(()),
                    false => Err(format!("{op} refused: {}", ack.message)),
                };
            }
            Ok(PrivateFrame::Control(_)) => {}
            Ok(frame) => inbox.push(Incoming::Frame {
                recv: Timestamp::from_nanos(local_now_ns()),
                frame,
            }),
            Err(e) => return Err(format!("bad frame before the {op} ack: {e}")),
        }
    }
}

fn handle(text: &str, notes: &Notes, inbox: &Inbox) {
    match parse_private(text) {
        Ok(PrivateFrame::Control(Control::Pong)) => {}
        Ok(PrivateFrame::Control(Control::Ack(ack))) => {
            if !ack.success {
                notes.push(Note::Failed {
                    what: format!("private stream: {} refused: {}", ack.op, ack.message),
                });
            }
        }
        Ok(frame) => inbox.push(Incoming::Frame {
            recv: Timestamp::from_nanos(local_now_ns()),
            frame,
        }),
        Err(e) => notes.push(Note::BadFrame {
            error: e.to_string(),
        }),
    }
}
