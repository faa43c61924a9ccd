//! The [`ExecutionBackend`] face of [`SimExchange`]: each async method does its work at
//! once and returns a future that is already complete.
//!
//! Nothing here decides anything: the rules are in `exchange.rs`.

use std::future::{Future, ready};

use crate::backend::{BackendError, ExecutionBackend, OrderRequest};
use crate::event::{
    ClientOrderId, Decimal, Event, OrderAmend, SnapshotOrder, SnapshotPosition, Timestamp,
};

use super::SimExchange;

impl ExecutionBackend for SimExchange {
    fn submit(
        &mut self,
        now: Timestamp,
        request: OrderRequest,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        ready(self.request_submit(now, request))
    }

    fn cancel(
        &mut self,
        now: Timestamp,
        id: &ClientOrderId,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        ready(self.request_cancel(now, id))
    }

    fn amend(
        &mut self,
        now: Timestamp,
        id: &ClientOrderId,
        qty: Option<Decimal>,
        px: Option<Decimal>,
        trigger_px: Option<Decimal>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        let amend = OrderAmend {
            client_order_id: id.clone(),
            qty,
            px,
            trigger_px,
        };
        ready(self.request_amend(now, amend))
    }

    fn open_orders(&self) -> impl Future<Output = Result<Vec<SnapshotOrder>, BackendError>> + Send {
        ready(Ok(self.book.open().iter().map(|o| o.snapshot()).collect()))
    }

    fn positions(
        &self,
    ) -> impl Future<Output = Result<Vec<SnapshotPosition>, BackendError>> + Send {
        let positions = self.account.snapshot().map_err(|_| {
            BackendError::permanent(&self.venue, "arithmetic overflow in an average price")
        });
        ready(positions)
    }

    fn equity(&self) -> impl Future<Output = Result<Decimal, BackendError>> + Send {
        let equity = self
            .account
            .equity(self.config.initial_equity, |key| self.last_px(key))
            .map_err(|_| BackendError::permanent(&self.venue, "arithmetic overflow in equity"));
        ready(equity)
    }

    fn reports(&mut self) -> impl Future<Output = Result<Vec<Event>, BackendError>> + Send {
        ready(Ok(self.take_reports()))
    }
}
