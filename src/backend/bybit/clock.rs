//! The venue clock as we estimate it: our wall clock plus a measured offset.
//!
//! Bybit refuses a request whose timestamp is not inside
//! `server − recv_window ≤ ts < server + 1 s` (10002), so request timestamps and WS
//! auth expiries are taken from this clock, not from ours. The offset is measured
//! against `/v5/market/time` as `server − midpoint(send, receive)` (the midpoint cancels
//! a symmetric network delay), at start and whenever a 10002 says it drifted; the engine
//! records each measurement as a `clock_offset` event.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::event::Timestamp;
use crate::venue::bybit::rest::{Request, parse_server_time};

use super::rest_client::RestError;

/// Our wall clock, ns since the epoch (0 if the clock is before 1970, which no
/// machine trading live has).
pub fn local_now_ns() -> i64 {
    crate::wall_clock::now_ns()
}

/// The offset a measurement gives: `server − midpoint(sent, received)`, ns.
pub fn offset_from(sent_ns: i64, received_ns: i64, server_ns: i64) -> i64 {
    let midpoint = sent_ns + (received_ns - sent_ns) / 2;
    server_ns - midpoint
}

/// One measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measurement {
    /// Venue minus ours, ns (positive: the venue is ahead).
    pub offset_ns: i64,
    /// The request's round trip: the offset's uncertainty is half of it.
    pub round_trip: Duration,
}

/// The shared offset; readers never block.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ns: AtomicI64,
}

impl Clock {
    /// A clock with no offset yet.
    pub fn new() -> Clock {
        Clock::default()
    }

    /// The last measured offset, ns (positive: the venue is ahead).
    pub fn offset_ns(&self) -> i64 {
        self.offset_ns.load(Ordering::Relaxed)
    }

    /// Set the offset (from a measurement).
    pub fn set_offset_ns(&self, ns: i64) {
        self.offset_ns.store(ns, Ordering::Relaxed);
    }

    /// The venue's time now, as we estimate it, ms (what `X-BAPI-TIMESTAMP` carries).
    pub fn venue_now_ms(&self) -> i64 {
        (local_now_ns() + self.offset_ns()).div_euclid(1_000_000)
    }

    /// The venue's time now as a timestamp.
    pub fn venue_now(&self) -> Timestamp {
        Timestamp::from_nanos(local_now_ns() + self.offset_ns())
    }

    /// Measure against `GET {base}/v5/market/time` (public, unsigned) and keep the result.
    pub async fn measure(
        &self,
        http: &reqwest::Client,
        base_url: &str,
    ) -> Result<Measurement, RestError> {
        let req = Request::get("/v5/market/time", &[]);
        let url = format!("{base_url}{}", req.path);
        let sent = local_now_ns();
        let started = std::time::Instant::now();
        let response = http
            .get(&url)
            .send()
            .await
            .map_err(|e| RestError::transport(req.path, &e))?;
        let body = response
            .text()
            .await
            .map_err(|e| RestError::transport(req.path, &e))?;
        let received = local_now_ns();
        let round_trip = started.elapsed();
        let server = parse_server_time(&body).map_err(|e| RestError::from_response(req.path, e))?;
        let offset_ns = offset_from(sent, received, server.as_nanos());
        self.set_offset_ns(offset_ns);
        Ok(Measurement {
            offset_ns,
            round_trip,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_is_taken_at_the_midpoint() {
        // Sent at 1000, back at 1400: the server read its clock around 1200.
        assert_eq!(offset_from(1_000, 1_400, 5_200), 4_000);
        assert_eq!(offset_from(1_000, 1_400, 200), -1_000);
    }

    #[test]
    fn venue_time_moves_with_the_offset() {
        let clock = Clock::new();
        let before = clock.venue_now_ms();
        clock.set_offset_ns(4_000_000_000);
        let after = clock.venue_now_ms();
        assert!((after - before - 4_000).abs() < 1_000, "{before} {after}");
    }
}
