//! The deterministic simulated exchange: many orders per instrument, partial fills,
//! stops, reduce-only and post-only, amend and cancel, fees, slippage, funding, latency,
//! all answered with the same report events a live venue produces.
//!
//! Boundary: depends only on `crate::event` (and `crate::reduce` in tests). No clock,
//! no randomness, no hash-ordered iteration: time comes only from request `now`s and the
//! market events fed to [`SimExchange::on_market`], so the same inputs always give the
//! same reports, ids included. It does not decide what to trade, size orders or round
//! them to venue steps (the executor does), and it does not model margin or liquidation.
//!
//! # Rules
//!
//! **Requests and time.** Submit, cancel and amend act at `now + submit_latency_ns`
//! (never before an earlier request: they are handled in the order made). Requests are
//! acted on when time reaches that point: at the request itself when latency is zero,
//! else when a market event at or after it is fed. Reports are stamped with the time the
//! venue acted (acceptance time, or the market event's time), never earlier than any
//! report before them. An order matches only market events stamped strictly after its
//! acceptance; an order accepted inside a bar is matched against that whole bar (bars
//! cannot say when inside them a price traded). Submitting a known client id is a
//! retry and does nothing; cancel or amend of an id never submitted is a
//! [`BackendError`](crate::backend::BackendError).
//!
//! **Acceptance.** Refused with `order_rejected` and a reason when: the order fails the
//! payload checks (positive qty, `px` for limits, `trigger_px` for stops); it is
//! post-only but not a limit; it is reduce-only and there is no position, or its side
//! would increase the position; it is post-only and its price would cross the last
//! price (buy `px ≥ last`, sell `px ≤ last`); it is a market order under `BarClose` and
//! no price is known yet. Otherwise `order_accepted` with venue order id `{prefix}o{n}`.
//! A consequence: a reduce-only stop sent before its entry has filled is rejected, as on
//! real venues.
//!
//! **Market orders.** `BarClose`: fill on acceptance at the last close (or last trade
//! price) — the close of the last bar seen, when latency is shorter than a bar.
//! `NextOpen`: fill at the open of the next bar (or the next trade's price). Both taker,
//! slipped `slippage_bps` against the taker: `px × (1 ± bps/10 000)`, then moved onto
//! the instrument's tick grid against the taker (buys up to the next tick, sells down):
//! a venue never fills off its grid, and bar closes in real files sometimes are. A
//! price on the grid with zero slippage is untouched. Every taker price follows this
//! rule; maker fills are at the order's own (on-grid) limit. A remainder left by the liquidity model fills on later bars at their
//! close (`BarClose`) or open (`NextOpen`).
//!
//! **Limit orders.** A limit that crosses the last price on acceptance (or after an
//! amend) takes at once as taker at the last price, slipped but never beyond its limit.
//! A resting limit fills only when a bar trades *through* it (buy: `low < px`, sell:
//! `high > px`) — touching is not enough — at exactly its limit price, also when the bar
//! opened through it (no price improvement on gaps: conservative), as maker.
//!
//! **Stops.** A stop triggers when a bar touches its trigger (buy: `high ≥ trigger`,
//! sell: `low ≤ trigger`); triggers are checked on market events only, never on
//! acceptance. `order_triggered` is emitted before any fill. The start price is the
//! trigger, or the open when the bar gapped through it (buy `max(trigger, open)`, sell
//! `min(trigger, open)`). Stop-market fills there as taker, slipped. Stop-limit becomes a
//! limit at `px`: if that start price is within its limit it fills there as taker
//! (slipped, capped at `px`); otherwise it rests and is matched as a limit from the next
//! bar on.
//!
//! **Inside one bar**, per instrument: market orders first (they were waiting at the
//! open), then stops, then resting limits, each group in time priority (acceptance
//! order; amends keep priority). Stops before limits means that when a bar touches both
//! a position's stop and its target, the adverse move is assumed to have come first; the
//! stop's fill flattens the position and the reduce-only sweep cancels the target.
//!
//! **Liquidity.** Under `VolumeShare(s)`, each market event gives the instrument a
//! budget of `s × volume` (bars) or `s × qty` (trades), shared by its fills in the order
//! above; fills on acceptance draw on the last event's remaining budget. What does not
//! fit stays open (GTC) or is cancelled (IOC). `Unlimited` fills everything reached.
//!
//! **Time in force.** IOC and FOK orders get one chance: acceptance for market
//! (`BarClose`) and limit orders, the first bar for `NextOpen` market orders, the trigger
//! bar for stops. After it the remainder is cancelled (`order_cancelled`, reason
//! `ioc: …`); FOK fills all at once or nothing (`fok: …`).
//!
//! **Reduce-only.** A fill never takes more than the open position; after every fill,
//! open reduce-only orders of that instrument that can no longer reduce it (position
//! flat or reversed) are cancelled — stop and target behave as one-cancels-other.
//!
//! **Amend and cancel.** Amend changes qty / px / trigger of an open order:
//! `order_amended` (echoing the request), or `order_amend_rejected` when the order is not
//! open, a value is not positive, qty is below the filled quantity, px is set on an
//! order without a limit, the trigger on a stop already triggered, or a post-only price
//! would cross. An amend down to the filled quantity completes the order. Cancel gives
//! `order_cancelled`, or `order_cancel_rejected` when the order is not open. A request
//! about an order the venue rejected is a `BackendError`, or, when the rejection happened
//! while the request was in flight, gets no report (the reducer has no move for it).
//!
//! **Fees.** `notional × rate` with the instrument's maker or taker rate, positive is a
//! cost, not rounded. Fills carry exec ids `{prefix}{n}` (n from 1) and the client order
//! id in `order_id`.
//!
//! **Funding.** Each `funding_rate` event is taken as a settlement: with an open position
//! and a known last price, `funding` with `amount = −qty × last × rate` (longs pay a
//! positive rate, shorts receive it).
//!
//! **Account.** Positions net per instrument (signed qty, average-cost entry price as in
//! `reduce::Position`). Equity = `initial_equity + Σ(−side × qty × px) − fees + funding +
//! Σ qty × last price`, i.e. cash plus unrealized PnL at the last price.
//!
//! **Overflow.** Decimal overflow never panics: a fill that cannot be computed cancels
//! its order (reason `arithmetic overflow …`); a funding payment that cannot is skipped.

mod account;
mod book;
mod config;
mod exchange;
mod matching;
mod requests;
mod venue;

#[cfg(test)]
mod tests;

pub use config::{FeeRates, LiquidityModel, MarketFill, SimConfig};
pub use exchange::SimExchange;
