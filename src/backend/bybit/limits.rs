//! Client-side rate limits from Bybit's published table (venues.md §B4), so the
//! adapter waits before the venue answers 10006 rather than after: per endpoint class
//! (the UID limits), per symbol for order endpoints, and the IP limit across all.
//!
//! The venue's own count wins when it says so: a response whose
//! `X-Bapi-Limit-Status` is 0 pauses its class until `X-Bapi-Limit-Reset-Timestamp`.
//! Every wait is returned to the caller (who turns it into a note): none is silent.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::venue::bybit::rest::RateLimit;

/// The longest a reset header may pause a class: a wrong or far-off reset time must
/// not stall the adapter.
pub const HEADER_PAUSE_MAX: Duration = Duration::from_secs(10);

/// Which limit an endpoint counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EndpointClass {
    /// `order/create`, `amend`, `cancel`, `cancel-all`: 10/s (linear), also per symbol.
    Order,
    /// `order/realtime`, `order/history`, `execution/list`: 50/s.
    Query,
    /// `position/list`, `account/wallet-balance`: 50/s.
    Account,
    /// `market/*`: only the IP limit.
    Public,
}

impl EndpointClass {
    /// The class of an endpoint path.
    pub fn of(path: &str) -> EndpointClass {
        match path {
            "/v5/order/create"
            | "/v5/order/amend"
            | "/v5/order/cancel"
            | "/v5/order/cancel-all" => EndpointClass::Order,
            p if p.starts_with("/v5/market/") => EndpointClass::Public,
            p if p.starts_with("/v5/order/") || p.starts_with("/v5/execution/") => {
                EndpointClass::Query
            }
            _ => EndpointClass::Account,
        }
    }

    /// Its name in notes.
    pub fn name(self) -> &'static str {
        match self {
            EndpointClass::Order => "order",
            EndpointClass::Query => "query",
            EndpointClass::Account => "account",
            EndpointClass::Public => "public",
        }
    }
}

/// Requests per second for each class (the published defaults; some can be raised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsConfig {
    /// Order endpoints, per UID.
    pub order_per_second: u32,
    /// Order endpoints, per symbol.
    pub order_per_symbol_per_second: u32,
    /// Query endpoints.
    pub query_per_second: u32,
    /// Account endpoints.
    pub account_per_second: u32,
    /// Every request from this IP, per 5 s.
    pub ip_per_5_seconds: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            order_per_second: 10,
            order_per_symbol_per_second: 10,
            query_per_second: 50,
            account_per_second: 50,
            ip_per_5_seconds: 600,
        }
    }
}

/// The limiters.
#[derive(Debug)]
pub struct Limits {
    order: DefaultDirectRateLimiter,
    order_symbol: DefaultKeyedRateLimiter<String>,
    query: DefaultDirectRateLimiter,
    account: DefaultDirectRateLimiter,
    ip: DefaultDirectRateLimiter,
    paused: Mutex<BTreeMap<EndpointClass, Instant>>,
}

fn per_second(n: u32) -> Quota {
    Quota::per_second(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN))
}

impl Limits {
    /// Limiters for `config` (a zero rate counts as one per second).
    pub fn new(config: &LimitsConfig) -> Limits {
        let ip_burst = NonZeroU32::new(config.ip_per_5_seconds.max(1)).unwrap_or(NonZeroU32::MIN);
        let ip_period = Duration::from_secs(5) / ip_burst.get();
        let ip = Quota::with_period(ip_period)
            .unwrap_or_else(|| per_second(1))
            .allow_burst(ip_burst);
        Limits {
            order: RateLimiter::direct(per_second(config.order_per_second)),
            order_symbol: RateLimiter::keyed(per_second(config.order_per_symbol_per_second)),
            query: RateLimiter::direct(per_second(config.query_per_second)),
            account: RateLimiter::direct(per_second(config.account_per_second)),
            ip: RateLimiter::direct(ip),
            paused: Mutex::new(BTreeMap::new()),
        }
    }

    /// Wait until a request of `class` (for `symbol`) may go; returns how long it waited.
    pub async fn acquire(&self, class: EndpointClass, symbol: Option<&str>) -> Duration {
        let started = Instant::now();
        let pause = self
            .paused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&class)
            .copied();
        if let Some(until) = pause {
            if until > Instant::now() {
                tokio::time::sleep_until(until.into()).await;
            }
        }
        match class {
            EndpointClass::Order => {
                self.order.until_ready().await;
                if let Some(symbol) = symbol {
                    self.order_symbol.until_key_ready(&symbol.to_string()).await;
                }
            }
            EndpointClass::Query => self.query.until_ready().await,
            EndpointClass::Account => self.account.until_ready().await,
            EndpointClass::Public => {}
        }
        self.ip.until_ready().await;
        started.elapsed()
    }

    /// Take the venue's count into account: when it says nothing is left, pause the
    /// class until its reset (at most [`HEADER_PAUSE_MAX`]); returns the pause set.
    pub fn observe(
        &self,
        class: EndpointClass,
        limit: &RateLimit,
        venue_now_ms: i64,
    ) -> Option<Duration> {
        if limit.remaining > 0 {
            return None;
        }
        let pause = reset_pause(limit, venue_now_ms)?;
        self.pause(class, pause);
        Some(pause)
    }

    /// Hold every request of `class` back for `pause`.
    pub fn pause(&self, class: EndpointClass, pause: Duration) {
        let until = Instant::now() + pause.min(HEADER_PAUSE_MAX);
        let mut paused = self.paused.lock().unwrap_or_else(|e| e.into_inner());
        let entry = paused.entry(class).or_insert(until);
        *entry = (*entry).max(until);
    }
}

/// How long until the limit's reset, by the venue clock, capped at [`HEADER_PAUSE_MAX`].
pub fn reset_pause(limit: &RateLimit, venue_now_ms: i64) -> Option<Duration> {
    let reset_ms = limit.reset.as_nanos().div_euclid(1_000_000);
    let left = reset_ms.checked_sub(venue_now_ms)?;
    let left = u64::try_from(left).ok().filter(|ms| *ms > 0)?;
    Some(Duration::from_millis(left).min(HEADER_PAUSE_MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Timestamp;

    #[test]
    fn endpoints_have_their_classes() {
        assert_eq!(EndpointClass::of("/v5/order/create"), EndpointClass::Order);
        assert_eq!(
            EndpointClass::of("/v5/order/realtime"),
            EndpointClass::Query
        );
        assert_eq!(
            EndpointClass::of("/v5/execution/list"),
            EndpointClass::Query
        );
        assert_eq!(
            EndpointClass::of("/v5/position/list"),
            EndpointClass::Account
        );
        assert_eq!(EndpointClass::of("/v5/market/time"), EndpointClass::Public);
    }

    #[test]
    fn a_spent_window_pauses_until_its_reset() {
        let limit = |remaining, reset_ms| RateLimit {
            limit: 10,
            remaining,
            reset: Timestamp::from_millis(reset_ms).unwrap(),
        };
        assert_eq!(
            reset_pause(&limit(0, 10_400), 10_000),
            Some(Duration::from_millis(400))
        );
        assert_eq!(reset_pause(&limit(0, 9_000), 10_000), None);
        assert_eq!(
            reset_pause(&limit(0, 90_000), 10_000),
            Some(HEADER_PAUSE_MAX)
        );
        let limits = Limits::new(&LimitsConfig::default());
        assert_eq!(
            limits.observe(EndpointClass::Order, &limit(3, 10_400), 10_000),
            None
        );
    }

    #[tokio::test]
    async fn waits_past_the_quota_are_measured() {
        let limits = Limits::new(&LimitsConfig {
            order_per_second: 100,
            order_per_symbol_per_second: 5,
            ..LimitsConfig::default()
        });
        let mut waited = Duration::ZERO;
        for _ in 0..7 {
            waited += limits.acquire(EndpointClass::Order, Some("BTCUSDT")).await;
        }
        // A burst of 5 passes, the next two wait ~200 ms each.
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
        // Another symbol has its own bucket.
        let other = limits.acquire(EndpointClass::Order, Some("ETHUSDT")).await;
        assert!(other < Duration::from_millis(50), "{other:?}");
    }
}
