//! The [`Executor`]: venue rules plus the one piece of state the decision needs, a
//! token bucket per venue, in front of the pure planner in `plan.rs`.
//!
//! Deterministic: the same rules, and the same intents with the same positions and
//! market contexts in the same order, give the same decisions. Time is `market.now`
//! (event time); nothing here reads the clock. Client order ids are `"{intent_id}-{n}"`
//! with `n` the order's index in its plan, so they need no counter: intent ids are
//! unique, and a replayed intent gets the same ids (retries stay idempotent).

use std::collections::BTreeMap;

use crate::event::{Decimal, Intent, Plan, PositionKey, Skip, SkipReason, Timestamp, Venue};
use crate::reduce::Position;

use super::bucket::TokenBucket;
use super::plan::{plan, skip};
use super::rules::{InstrumentRules, VenueRules};

/// What the executor knows of the market when it decides.
#[derive(Debug, Clone, PartialEq)]
pub struct MarketContext {
    /// Event time of the decision: the calendar and the rate limiter use it.
    pub now: Timestamp,
    /// Last traded (or mark) price; sizes market orders and checks every order.
    pub last_px: Option<Decimal>,
    /// Current funding rate per interval (0.0001 = 0.01%), for perpetuals.
    pub funding_rate: Option<Decimal>,
    /// Account equity in the quote currency; the base of leverage and equity fractions.
    pub equity: Decimal,
}

/// The executor's answer to an intent; both kinds are appended to the log.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Orders to submit.
    Plan(Plan),
    /// Why nothing is submitted.
    Skip(Skip),
}

impl Decision {
    /// The skip reason, when it is a skip.
    pub fn skip_reason(&self) -> Option<SkipReason> {
        match self {
            Decision::Plan(_) => None,
            Decision::Skip(skip) => Some(skip.reason),
        }
    }
}

#[derive(Debug, Clone)]
struct VenueState {
    rules: VenueRules,
    bucket: TokenBucket,
}

/// Turns intents into plans or skips under each venue's rules. See `plan.rs` for the
/// rules and their order; the rate limit is checked last, on the finished plan.
#[derive(Debug, Clone)]
pub struct Executor {
    venues: BTreeMap<Venue, VenueState>,
}

impl Executor {
    /// An executor for these venues, each with a full token bucket. When two rules name
    /// the same venue, the later one wins.
    pub fn new(rules: Vec<VenueRules>) -> Self {
        let venues = rules
            .into_iter()
            .map(|rules| {
                let bucket = TokenBucket::new(rules.orders_per_second);
                (rules.venue.clone(), VenueState { rules, bucket })
            })
            .collect();
        Executor { venues }
    }

    /// Plan `intent`, or say why not. `position` is the intent's position (`None` when
    /// there is none; a position of another key is a `PositionConflict`). A plan takes
    /// one rate-limit token per order; a skip takes none.
    pub fn prepare(
        &mut self,
        intent: &Intent,
        position: Option<&Position>,
        market: &MarketContext,
    ) -> Decision {
        let Some(state) = self.venues.get_mut(&intent.venue) else {
            let detail = format!("no instruments file for venue {}", intent.venue);
            return Decision::Skip(skip(intent, SkipReason::UnknownInstrument, detail));
        };
        let plan = match plan(intent, &state.rules, position, market) {
            Ok(plan) => plan,
            Err(refusal) => return Decision::Skip(refusal.into_skip(intent)),
        };
        // Invariant: a plan holds at most PLAN_ORDERS_MAX orders, so this fits a u32.
        let cost = plan.orders.len() as u32;
        if !state.bucket.try_take(market.now, cost) {
            let detail = format!(
                "{} orders needed, {} available at {} ({} per second)",
                cost,
                state.bucket.available(market.now),
                market.now,
                state.rules.orders_per_second
            );
            return Decision::Skip(skip(intent, SkipReason::RateLimited, detail));
        }
        Decision::Plan(plan)
    }

    /// The rules for one instrument, when its venue and instrument are known.
    pub fn rules(&self, key: &PositionKey) -> Option<&InstrumentRules> {
        self.venues.get(&key.venue)?.rules.instrument(key)
    }

    /// A venue's whole rules, when known.
    pub fn venue(&self, venue: &Venue) -> Option<&VenueRules> {
        self.venues.get(venue).map(|state| &state.rules)
    }

    /// Whether `venue` trades at event time `now`; an unknown venue never does.
    pub fn is_open(&self, venue: &Venue, now: Timestamp) -> bool {
        self.venues
            .get(venue)
            .is_some_and(|state| state.rules.calendar.is_open(now))
    }
}
