//! Topic sets: what a socket should carry (desired) against what the venue has acked
//! on the current connection (current). A reconnect starts a connection with nothing
//! current, so resubscribing is the diff, and an ack that never came is retried on
//! the next connection rather than assumed.

use std::collections::{BTreeMap, BTreeSet};

use super::bybit::Topics;
use crate::event::Symbol;

/// Split `symbols` onto sockets carrying at most `cap` topics each; a symbol's topics
/// stay together on one socket. Bybit limits one connection's args to 21 000
/// characters, so a long symbol list needs several sockets.
pub fn shard(symbols: &[Symbol], topics: &Topics, cap: usize) -> Vec<Vec<String>> {
    let cap = cap.max(1);
    let mut shards: Vec<Vec<String>> = Vec::new();
    let mut seen = BTreeSet::new();
    for symbol in symbols {
        if !seen.insert(symbol.as_str()) {
            continue;
        }
        let mine = topics.for_symbol(symbol.as_str());
        match shards.last_mut() {
            Some(last) if last.len() + mine.len() <= cap => last.extend(mine),
            _ => shards.push(mine),
        }
    }
    shards
}

/// One socket's desired and acked topics.
#[derive(Debug, Clone, Default)]
pub struct Subscriptions {
    desired: BTreeSet<String>,
    current: BTreeSet<String>,
    /// Sent and not yet answered, by request id.
    pending: BTreeMap<String, Vec<String>>,
    next_req: u64,
}

impl Subscriptions {
    /// Wanting `topics`.
    pub fn new(topics: impl IntoIterator<Item = String>) -> Subscriptions {
        Subscriptions {
            desired: topics.into_iter().collect(),
            ..Subscriptions::default()
        }
    }

    /// The desired topics.
    pub fn desired(&self) -> &BTreeSet<String> {
        &self.desired
    }

    /// The acked topics.
    pub fn current(&self) -> &BTreeSet<String> {
        &self.current
    }

    /// A new connection: nothing is subscribed on it yet.
    pub fn reset(&mut self) {
        self.current.clear();
        self.pending.clear();
    }

    /// The topics to subscribe now (desired, neither acked nor pending) and the request
    /// id to send them under; `None` when there is nothing to do.
    pub fn request(&mut self) -> Option<(String, Vec<String>)> {
        let in_flight: BTreeSet<&String> = self.pending.values().flatten().collect();
        let todo: Vec<String> = self
            .desired
            .iter()
            .filter(|t| !self.current.contains(*t) && !in_flight.contains(t))
            .cloned()
            .collect();
        if todo.is_empty() {
            return None;
        }
        self.next_req += 1;
        let id = format!("sub-{}", self.next_req);
        self.pending.insert(id.clone(), todo.clone());
        Some((id, todo))
    }

    /// `topic` is acked but carries nothing (a silently stale channel): it is no longer
    /// taken as current, so the next [`Self::request`] subscribes it again.
    pub fn forget(&mut self, topic: &str) -> bool {
        self.current.remove(topic)
    }

    /// The venue answered `req_id`; returns the topics now current on success.
    pub fn acked(&mut self, req_id: Option<&str>, success: bool) -> Vec<String> {
        let Some(topics) = req_id.and_then(|id| self.pending.remove(id)) else {
            return Vec::new();
        };
        if !success {
            return Vec::new();
        }
        self.current.extend(topics.iter().cloned());
        topics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_keep_a_symbol_together() {
        let topics = Topics {
            trades: true,
            kline: Some("1".into()),
            tickers: false,
        };
        let symbols: Vec<Symbol> = ["A", "B", "C", "A"].into_iter().map(Symbol::from).collect();
        let shards = shard(&symbols, &topics, 5);
        assert_eq!(
            shards,
            [
                vec!["publicTrade.A", "kline.1.A", "publicTrade.B", "kline.1.B"],
                vec!["publicTrade.C", "kline.1.C"],
            ]
        );
    }

    #[test]
    fn resubscribe_is_the_diff() {
        let mut s = Subscriptions::new(["a".to_string(), "b".to_string()]);
        let (id, todo) = s.request().unwrap();
        assert_eq!(todo, ["a", "b"]);
        assert!(s.request().is_none(), "pending topics are not sent twice");
        assert_eq!(s.acked(Some(&id), true), ["a", "b"]);
        assert!(s.request().is_none());
        s.reset();
        let (id, todo) = s.request().unwrap();
        assert_eq!(todo, ["a", "b"]);
        assert!(s.acked(Some(&id), false).is_empty());
        assert!(s.current().is_empty());
    }
}
