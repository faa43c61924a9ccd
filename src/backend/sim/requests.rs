//! Requests to the simulated venue: the latency queue, acceptance checks, and the
//! answers to amend and cancel. Matching and fills are `exchange.rs`'s.

use crate::backend::{BackendError, OrderRequest};
use crate::event::{
    ClientOrderId, OrderAccepted, OrderAmend, OrderRejected, OrderRequestRejected, OrderType,
    Payload, Timestamp, VenueOrderId,
};

use super::book::{Ended, SimOrder};
use super::config::MarketFill;
use super::exchange::{SimExchange, reducible};
use super::matching::crosses;

/// Requests in flight (sent, not yet acted on). A strategy with this many unanswered
/// requests is broken; the bound keeps memory bounded and is answered with a
/// retryable error, as a venue's rate limit would be.
const QUEUED_MAX: usize = 65_536;

/// A request and when the venue acts on it.
#[derive(Debug, Clone)]
pub(super) struct Queued {
    at: Timestamp,
    request: Request,
}

/// What was asked.
#[derive(Debug, Clone)]
enum Request {
    Submit(OrderRequest),
    Cancel(ClientOrderId),
    Amend(OrderAmend),
}

impl SimExchange {
    /// True when the venue has seen `id` (pending, open or ended).
    pub(super) fn knows(&self, id: &ClientOrderId) -> bool {
        self.pending.contains(id) || self.book.knows(id)
    }

    /// Queue a submit; a known id is a retry and does nothing.
    pub(super) fn request_submit(
        &mut self,
        now: Timestamp,
        request: OrderRequest,
    ) -> Result<(), BackendError> {
        let id = request.order.client_order_id.clone();
        if self.knows(&id) {
            return Ok(());
        }
        self.check_queue()?;
        self.pending.insert(id);
        self.enqueue(now, Request::Submit(request));
        Ok(())
    }

    /// Queue a cancel of a known order.
    pub(super) fn request_cancel(
        &mut self,
        now: Timestamp,
        id: &ClientOrderId,
    ) -> Result<(), BackendError> {
        self.check_known(id)?;
        self.check_queue()?;
        self.enqueue(now, Request::Cancel(id.clone()));
        Ok(())
    }

    /// Queue an amend of a known order.
    pub(super) fn request_amend(
        &mut self,
        now: Timestamp,
        amend: OrderAmend,
    ) -> Result<(), BackendError> {
        self.check_known(&amend.client_order_id)?;
        self.check_queue()?;
        self.enqueue(now, Request::Amend(amend));
        Ok(())
    }

    /// Cancel and amend need an order the venue has seen and not rejected.
    fn check_known(&self, id: &ClientOrderId) -> Result<(), BackendError> {
        let what = match (self.knows(id), self.book.ended(id)) {
            (false, _) => format!("unknown order {id}"),
            (true, Some(Ended::Rejected)) => format!("order {id} was rejected"),
            (true, _) => return Ok(()),
        };
        Err(BackendError::permanent(&self.venue, what))
    }

    fn check_queue(&self) -> Result<(), BackendError> {
        match self.queue.len() < QUEUED_MAX {
            true => Ok(()),
            false => Err(BackendError::retryable(
                &self.venue,
                format!("{QUEUED_MAX} requests already in flight"),
            )),
        }
    }

    fn enqueue(&mut self, now: Timestamp, request: Request) {
        let latency = self.config.submit_latency_ns.max(0);
        let at = now.plus_nanos(latency).max(self.queued_until);
        self.queued_until = at;
        self.queue.push_back(Queued { at, request });
        self.advance(now);
    }

    /// Act on every queued request due by `now`, in the order they were made.
    pub(super) fn advance(&mut self, now: Timestamp) {
        while self.queue.front().is_some_and(|q| q.at <= now) {
            let Some(queued) = self.queue.pop_front() else {
                break;
            };
            let at = queued.at.max(self.clock);
            self.clock = at;
            match queued.request {
                Request::Submit(request) => self.accept(at, &request),
                // The rejection already ended the order; the reducer has no move for a
                // refused request on a rejected order, so none is reported.
                Request::Cancel(id)
                | Request::Amend(OrderAmend {
                    client_order_id: id,
                    ..
                }) if self.book.ended(&id) == Some(Ended::Rejected) => {}
                Request::Cancel(id) => self.cancel_requested(at, &id),
                Request::Amend(amend) => self.amend_requested(at, &amend),
            }
        }
    }

    /// Why the venue refuses `request`, if it does.
    fn admission(&self, request: &OrderRequest) -> Result<(), String> {
        Payload::OrderSubmitted(request.submitted()).validate()?;
        let o = &request.order;
        if o.post_only && o.order_type != OrderType::Limit {
            return Err("post-only requires a limit order".into());
        }
        if o.reduce_only {
            let qty = self.account.qty(&request.key);
            if qty.is_zero() {
                return Err("reduce-only: no position to reduce".into());
            }
            if reducible(o.side, qty).is_zero() {
                return Err("reduce-only: would increase the position".into());
            }
        }
        let last = self.last_px(&request.key);
        if let (true, Some(px), Some(last)) = (o.post_only, o.px, last) {
            if crosses(o.side, px, last) {
                return Err(format!("post-only: would cross the last price {last}"));
            }
        }
        let at_close = self.config.market_fill == MarketFill::BarClose;
        if o.order_type == OrderType::Market && at_close && last.is_none() {
            return Err("no market price yet to fill a market order".into());
        }
        Ok(())
    }

    fn accept(&mut self, at: Timestamp, request: &OrderRequest) {
        let id = request.order.client_order_id.clone();
        self.pending.remove(&id);
        if let Err(reason) = self.admission(request) {
            self.book.end_unopened(id.clone(), Ended::Rejected, at);
            let rejected = OrderRejected {
                client_order_id: id,
                reason,
            };
            self.emit(at, Payload::OrderRejected(rejected));
            return;
        }
        self.orders = self.orders.saturating_add(1);
        let venue_order_id =
            VenueOrderId(format!("{}o{}", self.config.exec_id_prefix, self.orders).into());
        let accepted = OrderAccepted {
            client_order_id: id.clone(),
            venue_order_id: Some(venue_order_id.clone()),
        };
        self.emit(at, Payload::OrderAccepted(accepted));
        let order = SimOrder::accepted(request, venue_order_id, at);
        let (order_type, key) = (order.order_type, order.key.clone());
        self.book.push(order);
        match order_type {
            OrderType::Market if self.config.market_fill == MarketFill::BarClose => {
                if let Some(last) = self.last_px(&key) {
                    self.take(at, &id, last, None);
                }
                self.end_of_chance(at, &id);
            }
            OrderType::Limit => {
                self.take_if_crossing(at, &id);
                self.end_of_chance(at, &id);
            }
            // Next-open market orders wait for the next bar; stops for their trigger.
            _ => {}
        }
    }

    fn not_open(&self, id: &ClientOrderId) -> String {
        match self.book.ended(id) {
            Some(how) => format!("order is {}", how.as_str()),
            None => "order is not open".to_string(),
        }
    }

    fn cancel_requested(&mut self, at: Timestamp, id: &ClientOrderId) {
        if self.book.get(id).is_some() {
            self.cancel_order(at, id, "cancelled on request");
            return;
        }
        let refused = OrderRequestRejected {
            client_order_id: id.clone(),
            reason: self.not_open(id),
        };
        self.emit(at, Payload::OrderCancelRejected(refused));
    }

    /// Why the venue refuses `amend`, if it does.
    fn amend_refusal(&self, amend: &OrderAmend) -> Option<String> {
        let id = &amend.client_order_id;
        let Some(o) = self.book.get(id) else {
            return Some(self.not_open(id));
        };
        let not_positive = [amend.qty, amend.px, amend.trigger_px]
            .iter()
            .any(|v| v.is_some_and(|v| !v.is_positive()));
        if not_positive {
            return Some("amended values must be positive".into());
        }
        if let Some(qty) = amend.qty.filter(|qty| *qty < o.filled) {
            return Some(format!("qty {qty} is below the filled {}", o.filled));
        }
        let has_limit = matches!(o.order_type, OrderType::Limit | OrderType::StopLimit);
        if amend.px.is_some() && !has_limit {
            return Some("the order has no limit price".into());
        }
        if amend.trigger_px.is_some() && !o.is_waiting_stop() {
            return Some("the order has no pending trigger".into());
        }
        match (o.post_only, amend.px, self.last_px(&o.key)) {
            (true, Some(px), Some(last)) if crosses(o.side, px, last) => {
                Some(format!("post-only: would cross the last price {last}"))
            }
            _ => None,
        }
    }

    fn amend_requested(&mut self, at: Timestamp, amend: &OrderAmend) {
        let id = &amend.client_order_id;
        if let Some(reason) = self.amend_refusal(amend) {
            let refused = OrderRequestRejected {
                client_order_id: id.clone(),
                reason,
            };
            self.emit(at, Payload::OrderAmendRejected(refused));
            return;
        }
        let mut complete = false;
        if let Some(o) = self.book.get_mut(id) {
            o.qty = amend.qty.unwrap_or(o.qty);
            o.px = amend.px.or(o.px);
            o.trigger_px = amend.trigger_px.or(o.trigger_px);
            complete = o.remaining().is_zero();
        }
        self.emit(at, Payload::OrderAmended(amend.clone()));
        match complete {
            // Amended down to what already filled: the order is done (the reducer
            // moves it to `filled` on the same event).
            true => {
                self.book.close(id, Ended::Filled, at);
            }
            false => self.take_if_crossing(at, id),
        }
    }
}
