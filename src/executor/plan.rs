//! The pure half of the executor: one intent, the venue's rules, the position and the
//! market in; a [`Plan`] or a [`Skip`] out. No state, no clock, no I/O: the rate limiter,
//! the only state, is applied by [`super::Executor`] afterwards.
//!
//! # Rules, in the order they are applied (the first that fails is the Skip's reason)
//!
//! 1. The instrument must be in the venue's rules (`UnknownInstrument`), and the venue
//!    open at `now` (`MarketClosed`).
//! 2. A price: the intent's limit price rounded to tick (a buy rounds down, a sell up, so
//!    it is never worse than asked), else the last price (`NoPrice`). Stop intents carry
//!    no trigger price and are refused with `NoPrice`.
//! 3. Direction. Exits and trims need a position on the other side (`NothingToReduce`).
//!    An entry needs a flat position and an add an open one on its side
//!    (`PositionConflict`): the executor never reverses a position in one order, and a
//!    repeated entry signal is not silently turned into an add.
//! 4. Entries and adds only: funding |rate| above `skip_above` → `FundingRateExtreme`;
//!    above `cap_above` → leverage capped at `capped_leverage`. No funding rate known →
//!    no gate. Equity must be positive (`InsufficientEquity`).
//! 5. Size: `Qty` as is; `Notional` ÷ px; `EquityFraction` f → equity × f ÷ px, so f is
//!    the leverage the order adds (0.5 = half the equity) — it is *not* multiplied by
//!    the venue's max leverage, which would make one play 100× on Bybit and 1× on spot;
//!    the leverage cap below bounds it instead; `PositionFraction` f → |position| × f.
//! 6. Exits and trims are capped at |position| and are reduce-only; then every qty is
//!    rounded down to the lot size.
//! 7. qty > 0 and ≥ `min_qty` (`BelowMinQty`); qty × px ≥ `min_notional`
//!    (`BelowMinNotional`). Exits too: the venue would refuse them anyway.
//! 8. Entries and adds: (|position| + qty) × px ÷ equity above the leverage cap → the qty
//!    is cut to the largest lot multiple that fits and the cut is recorded in
//!    `adjustments`; when what fits is below the minimums → `MaxLeverage`. The position
//!    cap works the same way (`PositionCap`).
//! 9. Orders: the entry or exit order (`"{intent_id}-0"`; market → IOC, limit → GTC),
//!    then, for entries and adds, a reduce-only stop-market at the stop price rounded to
//!    tick and a reduce-only limit at the target (rounded never worse), both on the
//!    opposite side with the same qty, numbered on.

use crate::event::{
    ClientOrderId, Decimal, Intent, IntentAction, OrderRole, OrderType, Plan, PlannedOrder,
    PositionKey, Side, Skip, SkipReason, TimeInForce,
};
use crate::reduce::Position;

use super::prepare::MarketContext;
use super::rules::{InstrumentRules, VenueRules};

/// A Skip answering `intent`.
pub(super) fn skip(intent: &Intent, reason: SkipReason, detail: impl Into<String>) -> Skip {
    Skip {
        intent_id: intent.intent_id.clone(),
        venue: intent.venue.clone(),
        book: intent.book.clone(),
        instrument: intent.instrument.clone(),
        reason,
        detail: detail.into(),
    }
}

/// Why an intent is refused; [`Refusal::into_skip`] dresses it as the logged [`Skip`].
/// (Kept small: a `Skip` repeats the intent's names, and every step returns this.)
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Refusal {
    /// Machine-readable reason.
    pub reason: SkipReason,
    /// The numbers behind it.
    pub detail: String,
}

impl Refusal {
    /// A refusal for `reason`.
    pub(super) fn new(reason: SkipReason, detail: impl Into<String>) -> Refusal {
        Refusal {
            reason,
            detail: detail.into(),
        }
    }

    /// The Skip answering `intent`.
    pub(super) fn into_skip(self, intent: &Intent) -> Skip {
        skip(intent, self.reason, self.detail)
    }
}

/// What is being planned: the inputs every step reads, and the adjustments they record.
pub(super) struct Draft<'a> {
    pub intent: &'a Intent,
    pub rules: &'a InstrumentRules,
    pub market: &'a MarketContext,
    /// Signed position qty (long > 0); zero when there is none.
    pub held: Decimal,
    /// What was changed on the way, for the plan.
    pub adjustments: Vec<String>,
}

impl Draft<'_> {
    pub(super) fn refuse(&self, reason: SkipReason, detail: impl Into<String>) -> Refusal {
        Refusal::new(reason, detail)
    }

    pub(super) fn reducing(&self) -> bool {
        matches!(self.intent.action, IntentAction::Trim | IntentAction::Exit)
    }
}

/// Plan `intent` under `venue`'s rules, or say why not. See the module doc for the rules.
pub(super) fn plan(
    intent: &Intent,
    venue: &VenueRules,
    position: Option<&Position>,
    market: &MarketContext,
) -> Result<Plan, Refusal> {
    let key = PositionKey {
        venue: intent.venue.clone(),
        book: intent.book.clone(),
        instrument: intent.instrument.clone(),
    };
    let rules = venue.instrument(&key).ok_or_else(|| {
        let detail = format!("{key} is not in the {} instruments file", venue.venue);
        Refusal::new(SkipReason::UnknownInstrument, detail)
    })?;
    if !venue.calendar.is_open(market.now) {
        let detail = format!("{} is closed at {}", venue.venue, market.now);
        return Err(Refusal::new(SkipReason::MarketClosed, detail));
    }
    let held = match position {
        Some(p) if p.key != key => {
            let detail = format!("position given for {}, intent is for {key}", p.key);
            return Err(Refusal::new(SkipReason::PositionConflict, detail));
        }
        Some(p) => p.qty,
        None => Decimal::ZERO,
    };
    let mut draft = Draft {
        intent,
        rules,
        market,
        held,
        adjustments: Vec::new(),
    };
    let limit_px = draft.limit_px()?;
    let px = draft.reference_px(limit_px)?;
    draft.check_direction()?;
    let leverage_max = match draft.reducing() {
        true => None,
        false => Some(draft.leverage_max(venue)?),
    };
    let qty = draft.qty(px)?;
    let qty = match leverage_max {
        Some(cap) => draft.fit_caps(qty, px, cap)?,
        None => qty,
    };
    let orders = draft.orders(qty, limit_px)?;
    Ok(Plan {
        intent_id: intent.intent_id.clone(),
        venue: intent.venue.clone(),
        book: intent.book.clone(),
        instrument: intent.instrument.clone(),
        orders,
        adjustments: draft.adjustments,
    })
}

/// Smallest multiple of `step` not below `value` (for positive values: away from zero).
fn ceil_to_step(value: Decimal, step: Decimal) -> Option<Decimal> {
    let floor = value.floor_to_step(step)?;
    match floor < value {
        true => floor.checked_add(step),
        false => Some(floor),
    }
}

/// `px` on the tick grid, never worse for `side`: a buy rounds down, a sell up.
pub(super) fn limit_on_tick(px: Decimal, side: Side, tick: Decimal) -> Option<Decimal> {
    match side {
        Side::Buy => px.floor_to_step(tick),
        Side::Sell => ceil_to_step(px, tick),
    }
}

impl Draft<'_> {
    /// The intent's limit price on the tick grid, when it is a limit.
    fn limit_px(&mut self) -> Result<Option<Decimal>, Refusal> {
        let intent = self.intent;
        let asked = match (intent.order_type, intent.limit_px) {
            (OrderType::Market, _) => return Ok(None),
            (OrderType::Limit, Some(px)) => px,
            (OrderType::Limit, None) => {
                return Err(self.refuse(SkipReason::NoPrice, "limit intent without a limit price"));
            }
            (OrderType::StopMarket | OrderType::StopLimit, _) => {
                let detail = format!("{:?} intents carry no trigger price", intent.order_type);
                return Err(self.refuse(SkipReason::NoPrice, detail));
            }
        };
        let tick = self.rules.tick_size;
        let px = limit_on_tick(asked, intent.side, tick).filter(|px| px.is_positive());
        let Some(px) = px else {
            let detail = format!("limit price {asked} is not a positive price at tick {tick}");
            return Err(self.refuse(SkipReason::NoPrice, detail));
        };
        if px != asked {
            let side = intent.side.as_str();
            self.adjustments.push(format!(
                "limit px {asked} → {px} (tick {tick}, {side} never worse)"
            ));
        }
        Ok(Some(px))
    }

    /// The price used for sizing and checks: the limit price, else the last price.
    fn reference_px(&self, limit_px: Option<Decimal>) -> Result<Decimal, Refusal> {
        match (limit_px, self.market.last_px) {
            (Some(px), _) => Ok(px),
            (None, Some(px)) if px.is_positive() => Ok(px),
            (None, Some(px)) => Err(self.refuse(
                SkipReason::NoPrice,
                format!("last price {px} is not positive"),
            )),
            (None, None) => Err(self.refuse(SkipReason::NoPrice, "no last price yet")),
        }
    }

    fn check_direction(&self) -> Result<(), Refusal> {
        let (held, side) = (self.held, self.intent.side);
        let with_position = held.is_zero() || held.signum() == side.sign();
        let side = side.as_str();
        match self.intent.action {
            IntentAction::Exit | IntentAction::Trim if held.is_zero() => Err(self.refuse(
                SkipReason::NothingToReduce,
                format!("{side} to reduce, position flat"),
            )),
            IntentAction::Exit | IntentAction::Trim if with_position => Err(self.refuse(
                SkipReason::NothingToReduce,
                format!("a {side} cannot reduce position {held}"),
            )),
            IntentAction::Entry if !held.is_zero() => Err(self.refuse(
                SkipReason::PositionConflict,
                format!("entry {side} while position {held} is open: add to it, or exit first"),
            )),
            IntentAction::Add if held.is_zero() => Err(self.refuse(
                SkipReason::PositionConflict,
                format!("add {side} with no open position"),
            )),
            IntentAction::Add if !with_position => Err(self.refuse(
                SkipReason::PositionConflict,
                format!("add {side} against position {held}: exit first"),
            )),
            _ => Ok(()),
        }
    }

    /// The leverage an entry or add may reach (the instrument's, or the funding-capped
    /// one) and why, for the details of a later cut or skip.
    fn leverage_max(&self, venue: &VenueRules) -> Result<(Decimal, String), Refusal> {
        let max = self.rules.max_leverage;
        let mut cap = (max, format!("max leverage {max}"));
        if let (Some(gate), Some(rate)) = (&venue.funding, self.market.funding_rate) {
            if rate.abs() > gate.skip_above {
                let detail = format!("funding rate {rate}: |rate| above {}", gate.skip_above);
                return Err(self.refuse(SkipReason::FundingRateExtreme, detail));
            }
            if rate.abs() > gate.cap_above && gate.capped_leverage < max {
                let capped = gate.capped_leverage;
                let why = format!(
                    "leverage capped at {capped}: funding rate {rate}, |rate| above {}",
                    gate.cap_above
                );
                cap = (capped, why);
            }
        }
        let equity = self.market.equity;
        if !equity.is_positive() {
            let detail = format!("equity {equity} is not positive");
            return Err(self.refuse(SkipReason::InsufficientEquity, detail));
        }
        Ok(cap)
    }
}

impl Draft<'_> {
    /// The entry or exit order, then for entries and adds the stop and the target.
    fn orders(
        &mut self,
        qty: Decimal,
        limit_px: Option<Decimal>,
    ) -> Result<Vec<PlannedOrder>, Refusal> {
        let intent = self.intent;
        let reducing = self.reducing();
        let (role, tif) = match (reducing, limit_px) {
            (false, None) => (OrderRole::Entry, TimeInForce::Ioc),
            (false, Some(_)) => (OrderRole::Entry, TimeInForce::Gtc),
            (true, None) => (OrderRole::Exit, TimeInForce::Ioc),
            (true, Some(_)) => (OrderRole::Exit, TimeInForce::Gtc),
        };
        let order_type = match limit_px {
            Some(_) => OrderType::Limit,
            None => OrderType::Market,
        };
        let mut orders = vec![PlannedOrder {
            client_order_id: ClientOrderId(Default::default()),
            role,
            side: intent.side,
            order_type,
            qty,
            px: limit_px,
            trigger_px: None,
            tif,
            reduce_only: reducing,
            post_only: false,
        }];
        let protective = intent.stop_loss.is_some() || intent.take_profit.is_some();
        if reducing && protective {
            self.adjustments
                .push("stop_loss / take_profit ignored: exits and trims carry none".to_string());
        }
        if !reducing {
            orders.extend(self.stop_loss(qty)?);
            orders.extend(self.take_profit(qty)?);
        }
        for (n, order) in orders.iter_mut().enumerate() {
            order.client_order_id = ClientOrderId(format!("{}-{n}", intent.intent_id).into());
        }
        Ok(orders)
    }

    /// A reduce-only stop-market at the stop price, rounded to the nearest tick.
    fn stop_loss(&self, qty: Decimal) -> Result<Option<PlannedOrder>, Refusal> {
        let Some(asked) = self.intent.stop_loss else {
            return Ok(None);
        };
        let tick = self.rules.tick_size;
        let trigger = asked.round_to_step(tick).filter(|px| px.is_positive());
        let Some(trigger) = trigger else {
            let detail = format!("stop_loss {asked} is not a positive price at tick {tick}");
            return Err(self.refuse(SkipReason::NoPrice, detail));
        };
        Ok(Some(self.protective(
            OrderRole::StopLoss,
            qty,
            None,
            Some(trigger),
        )))
    }

    /// A reduce-only limit at the target, rounded never worse for its side.
    fn take_profit(&self, qty: Decimal) -> Result<Option<PlannedOrder>, Refusal> {
        let Some(asked) = self.intent.take_profit else {
            return Ok(None);
        };
        let tick = self.rules.tick_size;
        let side = self.intent.side.opposite();
        let px = limit_on_tick(asked, side, tick).filter(|px| px.is_positive());
        let Some(px) = px else {
            let detail = format!("take_profit {asked} is not a positive price at tick {tick}");
            return Err(self.refuse(SkipReason::NoPrice, detail));
        };
        Ok(Some(self.protective(
            OrderRole::TakeProfit,
            qty,
            Some(px),
            None,
        )))
    }

    fn protective(
        &self,
        role: OrderRole,
        qty: Decimal,
        px: Option<Decimal>,
        trigger_px: Option<Decimal>,
    ) -> PlannedOrder {
        let order_type = match role {
            OrderRole::StopLoss => OrderType::StopMarket,
            _ => OrderType::Limit,
        };
        PlannedOrder {
            client_order_id: ClientOrderId(Default::default()),
            role,
            side: self.intent.side.opposite(),
            order_type,
            qty,
            px,
            trigger_px,
            tif: TimeInForce::Gtc,
            reduce_only: true,
            post_only: false,
        }
    }
}
