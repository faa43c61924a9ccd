//! The executor: intent → [`Plan`](crate::event::Plan) | [`Skip`](crate::event::Skip).
//! Every "can I trade now?" question lives here — market hours, tick and lot size,
//! minimums, leverage and position caps, reduce-only exits, funding-rate gates and the
//! order rate — so the strategy (the PM core) never asks it (seed 000, section 1).
//!
//! Boundary: depends only on [`crate::event`] and [`crate::reduce`]. Pure and
//! deterministic: no clock (time is `MarketContext::now`), no I/O beyond parsing an
//! instruments file from text, no unordered map reaching a decision.

mod bucket;
#[cfg(test)]
mod fixtures;
mod parse;
#[cfg(test)]
mod parse_tests;
mod plan;
#[cfg(test)]
mod plan_tests;
mod prepare;
#[cfg(test)]
mod prepare_tests;
mod rules;
mod size;

pub use bucket::{PLAN_ORDERS_MAX, TokenBucket};
pub use parse::{RulesError, parse_rules};
pub use prepare::{Decision, Executor, MarketContext};
pub use rules::{Calendar, FundingGate, InstrumentRules, MINUTES_PER_DAY, Session, VenueRules};
