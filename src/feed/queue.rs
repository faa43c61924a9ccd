//! Bounded per-symbol queues between the socket tasks and the reader.
//!
//! One arrival-ordered deque holds every waiting event; each symbol may have at most
//! `capacity` market events in it. A tick over that bound is dropped and counted, per
//! symbol, exactly; the reader gets the count as a `TicksDropped` event before the next
//! event it reads, so memory stays bounded however far the reader falls behind and no
//! drop is silent. Bookkeeping events are never dropped (they are few).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;

use super::FeedStats;
use crate::event::{Event, Payload, Symbol, TicksDropped, Venue};

#[derive(Debug, Default)]
struct Inner {
    events: VecDeque<(Option<Symbol>, Event)>,
    waiting: HashMap<Symbol, usize>,
    /// Drops not yet reported, per symbol, in first-drop order.
    unreported: Vec<(Symbol, u64)>,
    producers: usize,
}

/// The queues of one feed.
#[derive(Debug)]
pub struct Queues {
    venue: Venue,
    capacity: usize,
    inner: Mutex<Inner>,
    ready: Notify,
    /// Counters.
    pub frames: AtomicU64,
    /// Frames the parser refused.
    pub bad_frames: AtomicU64,
    /// Reconnections.
    pub reconnects: AtomicU64,
    dropped: AtomicU64,
    /// Topics acked on the sockets' current connections.
    pub subscribed: AtomicU64,
}

/// The instrument a market event is about, `None` for bookkeeping.
fn instrument(event: &Event) -> Option<&Symbol> {
    match &event.payload {
        Payload::Trade(p) => Some(&p.instrument),
        Payload::Candle(p) => Some(&p.instrument),
        Payload::Quote(p) => Some(&p.instrument),
        Payload::FundingRate(p) => Some(&p.instrument),
        _ => None,
    }
}

impl Queues {
    /// Queues allowing `capacity` waiting events per symbol.
    pub fn new(venue: Venue, capacity: usize) -> Queues {
        Queues {
            venue,
            capacity,
            inner: Mutex::new(Inner::default()),
            ready: Notify::new(),
            frames: AtomicU64::new(0),
            bad_frames: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            subscribed: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep using it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many producers will call [`Queues::producer_done`].
    pub fn set_producers(&self, n: usize) {
        self.lock().producers = n;
    }

    /// A producer ended; when the last one has, readers see the end after draining.
    pub fn producer_done(&self) {
        let mut inner = self.lock();
        inner.producers = inner.producers.saturating_sub(1);
        drop(inner);
        self.ready.notify_waiters();
        self.ready.notify_one();
    }

    /// Queue `events` (one frame's worth) under one lock, dropping and counting what
    /// does not fit.
    pub fn push(&self, events: impl IntoIterator<Item = Event>) {
        let mut inner = self.lock();
        let mut any = false;
        for event in events {
            let Some(symbol) = instrument(&event).cloned() else {
                inner.events.push_back((None, event));
                any = true;
                continue;
            };
            let waiting = inner.waiting.entry(symbol.clone()).or_insert(0);
            if *waiting >= self.capacity {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                match inner.unreported.iter_mut().find(|(s, _)| *s == symbol) {
                    Some((_, n)) => *n += 1,
                    None => inner.unreported.push((symbol, 1)),
                }
                continue;
            }
            *waiting += 1;
            inner.events.push_back((Some(symbol), event));
            any = true;
        }
        drop(inner);
        if any {
            self.ready.notify_one();
        }
    }

    /// Queue one bookkeeping event (never dropped).
    pub fn push_control(&self, event: Event) {
        self.lock().events.push_back((None, event));
        self.ready.notify_one();
    }

    fn take(&self, inner: &mut Inner, max: usize, out: &mut Vec<Event>) {
        for (symbol, count) in inner.unreported.drain(..) {
            out.push(Event::new(
                super::now(),
                Payload::TicksDropped(TicksDropped {
                    venue: self.venue.clone(),
                    instrument: Some(symbol),
                    count,
                    reason: format!("queue full (capacity {})", self.capacity),
                }),
            ));
        }
        while out.len() < max {
            let Some((symbol, event)) = inner.events.pop_front() else {
                break;
            };
            if let Some(symbol) = symbol
                && let Some(n) = inner.waiting.get_mut(&symbol)
            {
                *n = n.saturating_sub(1);
            }
            out.push(event);
        }
    }

    /// Up to `max` (≥ 1) events, waiting for at least one; false once every producer
    /// has ended and the queues are drained.
    pub async fn pop_batch(&self, max: usize, out: &mut Vec<Event>) -> bool {
        let max = max.max(1);
        loop {
            {
                let mut inner = self.lock();
                let before = out.len();
                self.take(&mut inner, before + max, out);
                if out.len() > before {
                    return true;
                }
                if inner.producers == 0 {
                    return false;
                }
            }
            self.ready.notified().await;
        }
    }

    /// The next event; `None` once every producer has ended and the queues are drained.
    pub async fn pop(&self) -> Option<Event> {
        let mut one = Vec::with_capacity(1);
        loop {
            {
                let mut inner = self.lock();
                if inner.unreported.is_empty() {
                    if let Some((symbol, event)) = inner.events.pop_front() {
                        if let Some(symbol) = symbol
                            && let Some(n) = inner.waiting.get_mut(&symbol)
                        {
                            *n = n.saturating_sub(1);
                        }
                        return Some(event);
                    }
                } else {
                    // Report drops first, one event per call.
                    self.take(&mut inner, 0, &mut one);
                    let first = one.remove(0);
                    for rest in one.drain(..).rev() {
                        inner.events.push_front((None, rest));
                    }
                    return Some(first);
                }
                if inner.producers == 0 {
                    return None;
                }
            }
            self.ready.notified().await;
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> FeedStats {
        FeedStats {
            frames: self.frames.load(Ordering::Relaxed),
            bad_frames: self.bad_frames.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Book, Decimal, Timestamp, Trade};

    fn trade(symbol: &str, i: i64) -> Event {
        Event::new(
            Timestamp::from_nanos(i),
            Payload::Trade(Trade {
                venue: Venue::from("bybit"),
                book: Book::from("linear"),
                instrument: Symbol::from(symbol),
                px: Decimal::from_int(100 + i),
                qty: Decimal::from_int(1),
                side: None,
                trade_id: None,
            }),
        )
    }

    fn dropped(events: &[Event]) -> Vec<(String, u64)> {
        events
            .iter()
            .filter_map(|e| match &e.payload {
                Payload::TicksDropped(d) => Some((
                    d.instrument
                        .as_ref()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    d.count,
                )),
                _ => None,
            })
            .collect()
    }

    /// A producer pushes 10 ticks of A and 3 of B into capacity-4 queues before the
    /// reader runs: 6 drops of A exactly, none of B, and the kept ticks are the first
    /// ones in arrival order.
    #[tokio::test]
    async fn overflow_counts_drops_exactly() {
        let q = Queues::new(Venue::from("bybit"), 4);
        q.set_producers(1);
        for i in 0..10 {
            q.push([trade("A", i)]);
            if i < 3 {
                q.push([trade("B", 100 + i)]);
            }
        }
        assert_eq!(q.stats().dropped, 6);
        // Reading A0 frees one place: A20 fits, A21..A23 are dropped.
        let mut out = Vec::new();
        assert!(q.pop_batch(2, &mut out).await);
        assert_eq!(dropped(&out), [("A".to_string(), 6)]);
        q.push([
            trade("A", 20),
            trade("A", 21),
            trade("A", 22),
            trade("A", 23),
        ]);
        q.producer_done();
        while q.pop_batch(3, &mut out).await {}
        assert_eq!(
            dropped(&out),
            [("A".to_string(), 6), ("A".to_string(), 3)],
            "after reading one A tick, 1 of 4 more fits"
        );
        let ts: Vec<i64> = out
            .iter()
            .filter(|e| matches!(e.payload, Payload::Trade(_)))
            .map(|e| e.ts.as_nanos())
            .collect();
        assert_eq!(ts, [0, 100, 1, 101, 2, 102, 3, 20]);
        assert_eq!(q.stats().dropped, 9);
    }

    /// `pop` reports the count before the next tick and ends after the producer does.
    #[tokio::test]
    async fn pop_reports_then_ends() {
        let q = Queues::new(Venue::from("bybit"), 1);
        q.set_producers(1);
        q.push([trade("A", 1), trade("A", 2), trade("A", 3)]);
        q.producer_done();
        let first = q.pop().await.unwrap();
        assert_eq!(dropped(&[first]), [("A".to_string(), 2)]);
        assert_eq!(q.pop().await.unwrap().ts.as_nanos(), 1);
        assert!(q.pop().await.is_none());
    }
}
