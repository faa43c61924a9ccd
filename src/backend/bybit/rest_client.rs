//! Signed REST over reqwest.
//!
//! A request is signed at send time, after any rate-limit wait and on every retry,
//! with a timestamp from the venue [`Clock`]: a request signed when it was queued
//! leaves the receive window after a delay (venues.md §C3). Retries use backon's
//! exponential backoff with jitter, and only for failures a retry can fix: the request
//! never arrived (connect error), the venue said "later" (10006, 10016, 10000, 10429,
//! HTTP 429), or a read whose answer was lost (an idempotent GET timed out). A create
//! that timed out is not retried: its outcome is unknown and the backend resolves it by
//! client id. A 10002 (recv window) is not retried blindly: the clock is measured again
//! and the request re-signed, once. Every wait, retry and resync is a [`Note`].

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

use crate::venue::bybit::Credentials;
use crate::venue::bybit::rest::{
    BybitError, ErrorClass, Method, Request, ResponseError, parse_envelope, parse_rate_limit,
};

use super::clock::{Clock, local_now_ns};
use super::limits::{EndpointClass, Limits};
use super::notes::{Note, Notes};

/// How hard to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first backoff.
    pub min_delay: Duration,
    /// The longest backoff.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

/// A REST call that failed. Never carries a credential: the signed headers are not
/// part of any variant, and reqwest's error names only the URL (no secret in it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestError {
    /// The venue answered with a `retCode`.
    #[error("{path}: {error}")]
    Venue {
        /// Endpoint.
        path: &'static str,
        /// The answer.
        error: BybitError,
        /// When the venue's window resets, from the limit headers.
        retry_after: Option<Duration>,
    },
    /// The request never reached the venue (connection refused, DNS, TLS).
    #[error("{path}: not sent: {reason}")]
    NotSent {
        /// Endpoint.
        path: &'static str,
        /// Why.
        reason: String,
    },
    /// Sent, but no answer came (timeout, connection reset): the outcome is unknown.
    #[error("{path}: no answer: {reason}")]
    NoAnswer {
        /// Endpoint.
        path: &'static str,
        /// Why.
        reason: String,
    },
    /// A non-200 HTTP status.
    #[error("{path}: HTTP {status}")]
    Http {
        /// Endpoint.
        path: &'static str,
        /// The status.
        status: u16,
    },
    /// The body is not a Bybit envelope or its result does not parse.
    #[error("{path}: bad response: {reason}")]
    BadResponse {
        /// Endpoint.
        path: &'static str,
        /// The parse error.
        reason: String,
    },
}

impl RestError {
    /// A reqwest failure: before the request left (connect) or after (unknown outcome).
    pub fn transport(path: &'static str, error: &reqwest::Error) -> RestError {
        // Without the URL: it carries nothing secret, but it is noise in every note.
        let reason = describe(error);
        match error.is_connect() {
            true => RestError::NotSent { path, reason },
            false => RestError::NoAnswer { path, reason },
        }
    }

    /// A parsed response's error.
    pub fn from_response(path: &'static str, error: ResponseError) -> RestError {
        match error {
            ResponseError::Venue(error) => RestError::Venue {
                path,
                error,
                retry_after: None,
            },
            ResponseError::Frame(e) => RestError::BadResponse {
                path,
                reason: e.to_string(),
            },
        }
    }

    /// The venue's error, when it answered with one.
    pub fn venue(&self) -> Option<&BybitError> {
        match self {
            RestError::Venue { error, .. } => Some(error),
            _ => None,
        }
    }

    /// True when the request may have been carried out though no answer says so: the
    /// caller must find out (by client id), never assume it failed.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            RestError::NoAnswer { .. } => true,
            RestError::Http { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// Whether sending the same request again may succeed; `idempotent` requests may
    /// also be repeated after a lost answer.
    pub fn retryable(&self, idempotent: bool) -> bool {
        match self {
            RestError::Venue { error, .. } => error.class == ErrorClass::Retryable,
            RestError::NotSent { .. } => true,
            RestError::NoAnswer { .. } => idempotent,
            RestError::Http { status, .. } => *status == 429 || (idempotent && *status >= 500),
            RestError::BadResponse { .. } => false,
        }
    }
}

fn describe(error: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = match error.is_timeout() {
        true => "timed out".to_string(),
        false => "request failed".to_string(),
    };
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The REST side of one account.
#[derive(Debug)]
pub struct RestClient {
    http: reqwest::Client,
    base_url: String,
    creds: Credentials,
    recv_window_ms: u64,
    clock: Arc<Clock>,
    limits: Limits,
    policy: RetryPolicy,
    notes: Notes,
}

impl RestClient {
    /// A client for `base_url` (no trailing slash).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        http: reqwest::Client,
        base_url: String,
        creds: Credentials,
        recv_window_ms: u64,
        clock: Arc<Clock>,
        limits: Limits,
        policy: RetryPolicy,
        notes: Notes,
    ) -> RestClient {
        RestClient {
            http,
            base_url,
            creds,
            recv_window_ms,
            clock,
            limits,
            policy,
            notes,
        }
    }

    /// The clock requests are stamped with.
    pub fn clock(&self) -> &Arc<Clock> {
        &self.clock
    }

    /// Measure the clock offset now (`why` goes into the note).
    pub async fn resync(&self, why: &str) -> Result<i64, RestError> {
        let m = self.clock.measure(&self.http, &self.base_url).await?;
        self.notes.push(Note::ClockMeasured {
            offset_ns: m.offset_ns,
            why: why.to_string(),
        });
        Ok(m.offset_ns)
    }

    /// Send `req` (retrying as the module doc says) and return the body of a
    /// `retCode` 0 answer. `symbol` selects the per-symbol order limit; `idempotent`
    /// says whether a request whose answer was lost may be sent again.
    pub async fn send(
        &self,
        req: &Request,
        symbol: Option<&str>,
        idempotent: bool,
    ) -> Result<String, RestError> {
        let class = EndpointClass::of(req.path);
        let seed = u64::try_from(local_now_ns()).unwrap_or(0);
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(self.policy.min_delay)
            .with_max_delay(self.policy.max_delay)
            .with_max_times(self.policy.max_retries as usize)
            .with_jitter()
            .with_jitter_seed(seed)
            .build();
        let mut attempt = 0u32;
        let mut resynced = false;
        loop {
            let waited = self.limits.acquire(class, symbol).await;
            if waited >= Duration::from_millis(1) {
                self.notes.push(Note::RateLimitWait {
                    class: class.name(),
                    symbol: symbol.map(str::to_string),
                    waited,
                });
            }
            let failure = match self.send_once(req, class).await {
                Ok(body) => return Ok(body),
                Err(e) => e,
            };
            let clock_off = failure
                .venue()
                .is_some_and(|e| matches!(e.class, ErrorClass::ResyncClock { .. }));
            if clock_off {
                if resynced {
                    return Err(failure);
                }
                resynced = true;
                // Measure, then go round: the next pass signs with the new offset.
                if let Err(e) = self.resync(&format!("{} answered 10002", req.path)).await {
                    self.notes.push(Note::Failed {
                        what: format!("clock resync failed: {e}"),
                    });
                    return Err(failure);
                }
                continue;
            }
            if !failure.retryable(idempotent) {
                return Err(failure);
            }
            let Some(mut delay) = backoff.next() else {
                return Err(failure);
            };
            if let RestError::Venue {
                retry_after: Some(reset),
                ..
            } = &failure
            {
                delay = delay.max(*reset);
            }
            attempt += 1;
            self.notes.push(Note::Retry {
                path: req.path,
                attempt,
                after: delay,
                reason: failure.to_string(),
            });
            tokio::time::sleep(delay).await;
        }
    }

    /// One signed attempt.
    async fn send_once(&self, req: &Request, class: EndpointClass) -> Result<String, RestError> {
        let path = req.path;
        let url = match req.method {
            Method::Get if !req.payload.is_empty() => format!(
                "{}{path}?{}",
                self.base_url,
                String::from_utf8_lossy(&req.payload)
            ),
            _ => format!("{}{path}", self.base_url),
        };
        let mut builder = match req.method {
            Method::Get => self.http.get(&url),
            Method::Post => self
                .http
                .post(&url)
                .header("Content-Type", "application/json")
                .body(req.payload.clone()),
        };
        if class != EndpointClass::Public {
            // Signed now, after the limiter's wait: the timestamp is the send time.
            let signed =
                req.clone()
                    .sign(&self.creds, self.clock.venue_now_ms(), self.recv_window_ms);
            for (name, value) in &signed.headers {
                builder = builder.header(*name, value);
            }
        }
        let response = builder
            .send()
            .await
            .map_err(|e| RestError::transport(path, &e))?;
        let limit = parse_rate_limit(
            response
                .headers()
                .iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))),
        );
        let venue_now = self.clock.venue_now_ms();
        if let Some(limit) = &limit {
            if let Some(pause) = self.limits.observe(class, limit, venue_now) {
                self.notes.push(Note::RateLimitWait {
                    class: class.name(),
                    symbol: None,
                    waited: pause,
                });
            }
        }
        let status = response.status().as_u16();
        let body = response
            .text()
            .await
            .map_err(|e| RestError::transport(path, &e))?;
        if status != 200 {
            return Err(RestError::Http { path, status });
        }
        match parse_envelope(&body) {
            Ok(_) => Ok(body),
            Err(ResponseError::Venue(error)) => {
                let retry_after = match error.code {
                    10006 => limit
                        .as_ref()
                        .and_then(|l| super::limits::reset_pause(l, venue_now)),
                    _ => None,
                };
                Err(RestError::Venue {
                    path,
                    error,
                    retry_after,
                })
            }
            Err(e) => Err(RestError::from_response(path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venue::bybit::rest::classify;

    fn venue(code: i64) -> RestError {
        RestError::Venue {
            path: "/v5/order/create",
            error: BybitError {
                code,
                message: String::new(),
                class: classify(code, ""),
            },
            retry_after: None,
        }
    }

    #[test]
    fn only_fixable_failures_are_retried() {
        for code in [10006, 10016, 10000, 10429] {
            assert!(venue(code).retryable(false), "{code}");
        }
        for code in [110007, 110017, 10001, 110072, 110001, 10004] {
            assert!(!venue(code).retryable(true), "{code}");
        }
        let lost = RestError::NoAnswer {
            path: "/v5/order/create",
            reason: "timed out".into(),
        };
        assert!(!lost.retryable(false) && lost.retryable(true));
        assert!(lost.outcome_unknown());
        let refused = RestError::NotSent {
            path: "/v5/order/create",
            reason: "refused".into(),
        };
        assert!(refused.retryable(false) && !refused.outcome_unknown());
        let busy = RestError::Http {
            path: "/v5/order/create",
            status: 429,
        };
        assert!(busy.retryable(false) && !busy.outcome_unknown());
    }
}
