//! The fake Bybit's matching and account state: orders, positions, the USDT wallet and
//! executions of one UTA account on linear perpetuals, driven by replayed bars.
//!
//! Synchronous and deterministic: ids are counters, time is passed in, and every
//! change is returned as the private WebSocket messages Bybit would push (`order`,
//! `execution`, `position`, `wallet`), so the server only routes them. The wire values
//! (strings for amounts and for times inside `data`) are Bybit's, as `venues.md` §B
//! records them.
//!
//! Matching, per bar: a market order fills at once at the last price (the last bar's
//! close) as taker; a limit order that crosses the last price fills at once as taker at
//! the last price, unless it is PostOnly (then `Cancelled` with
//! `EC_PostOnlyWillTakeLiquidity`, as the venue does) or IOC/FOK with nothing to take;
//! a resting limit fills as maker at its price when a later bar trades through it
//! (low ≤ buy price, high ≥ sell price). `max_fill_per_bar` (0: unlimited) caps each
//! fill, which gives partial fills.
//!
//! Conditional orders (`triggerPrice` + `triggerDirection`, 1 = fires when the price
//! rises to it, 2 = when it falls to it) rest `Untriggered` until a bar's range reaches
//! the trigger (high ≥ it for 1, low ≤ it for 2), then say `Triggered` and work as the
//! plain order: a market fills as taker at the trigger (or at the bar's open when the
//! bar gapped past it), a limit rests at its price. A trigger already on the wrong side
//! of the last price is refused (110092 / 110093) as Bybit does, and a cancel before
//! the trigger ends the order `Deactivated`.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::{Value, json};

/// One instrument as `instruments-info` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Instrument {
    /// Symbol, e.g. `BTCUSDT`.
    pub symbol: String,
    /// Price step.
    pub tick: Decimal,
    /// Quantity step.
    pub lot: Decimal,
    /// Smallest order quantity.
    pub min_qty: Decimal,
    /// Smallest order value (qty × price).
    pub min_notional: Decimal,
    /// Highest leverage.
    pub max_leverage: Decimal,
}

/// A bar of the replayed market.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Open time, ms.
    pub start_ms: i64,
    /// Bar length, ms.
    pub len_ms: i64,
    /// Prices and base volume.
    pub open: Decimal,
    /// High.
    pub high: Decimal,
    /// Low.
    pub low: Decimal,
    /// Close.
    pub close: Decimal,
    /// Volume.
    pub volume: Decimal,
}

/// A refused request: Bybit's `retCode` and `retMsg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `retCode`.
    pub code: i64,
    /// `retMsg`.
    pub msg: String,
}

fn refuse(code: i64, msg: impl Into<String>) -> Refusal {
    Refusal {
        code,
        msg: msg.into(),
    }
}

/// A private-stream message: its topic and `data` array.
#[derive(Debug, Clone, PartialEq)]
pub struct Push {
    /// `order`, `execution`, `position` or `wallet`.
    pub topic: &'static str,
    /// The `data` array.
    pub data: Value,
}

/// The condition of a conditional order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trigger {
    /// `triggerPrice`.
    pub price: Decimal,
    /// `triggerDirection` 1 (true: fires when the price rises to it) or 2 (falls).
    pub rising: bool,
}

impl Trigger {
    /// Whether a bar's range reaches the trigger.
    fn reached_by(&self, bar: &Bar) -> bool {
        match self.rising {
            true => bar.high >= self.price,
            false => bar.low <= self.price,
        }
    }

    /// Where a market order fires in `bar`: the trigger, or the open past it (a gap).
    fn fill_px(&self, bar: &Bar) -> Decimal {
        match self.rising {
            true => self.price.max(bar.open),
            false => self.price.min(bar.open),
        }
    }
}

/// A create request, as the REST body gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Create {
    /// Symbol.
    pub symbol: String,
    /// `Buy` or `Sell`.
    pub buy: bool,
    /// `Market` or `Limit`.
    pub market: bool,
    /// Quantity.
    pub qty: Decimal,
    /// Limit price.
    pub price: Option<Decimal>,
    /// `GTC`, `IOC`, `FOK`, `PostOnly`.
    pub tif: String,
    /// Client id (may be empty).
    pub link_id: String,
    /// Reduce-only.
    pub reduce_only: bool,
    /// Set for a conditional order.
    pub trigger: Option<Trigger>,
}

#[derive(Debug, Clone, PartialEq)]
struct Order {
    id: String,
    link_id: String,
    symbol: String,
    buy: bool,
    market: bool,
    price: Option<Decimal>,
    qty: Decimal,
    filled: Decimal,
    value: Decimal,
    fee: Decimal,
    tif: String,
    reduce_only: bool,
    trigger: Option<Trigger>,
    status: &'static str,
    reject_reason: &'static str,
    cancel_type: &'static str,
    created_ms: i64,
    updated_ms: i64,
}

impl Order {
    fn open(&self) -> bool {
        matches!(self.status, "New" | "PartiallyFilled" | "Untriggered")
    }

    /// Waiting for its trigger: it neither matches nor fills.
    fn untriggered(&self) -> bool {
        self.status == "Untriggered"
    }

    fn leaves(&self) -> Decimal {
        match self.open() {
            true => self.qty - self.filled,
            false => Decimal::ZERO,
        }
    }

    fn wire(&self) -> Value {
        let avg = match self.filled.is_zero() {
            true => String::new(),
            false => (self.value / self.filled).normalize().to_string(),
        };
        json!({
            "category": "linear",
            "symbol": self.symbol,
            "orderId": self.id,
            "orderLinkId": self.link_id,
            "side": side(self.buy),
            "orderType": if self.market { "Market" } else { "Limit" },
            "price": self.price.map(|p| p.to_string()).unwrap_or_else(|| "0".into()),
            "qty": self.qty.to_string(),
            "timeInForce": self.tif,
            "orderStatus": self.status,
            "cancelType": self.cancel_type,
            "rejectReason": self.reject_reason,
            "avgPrice": avg,
            "leavesQty": self.leaves().to_string(),
            "leavesValue": (self.leaves() * self.price.unwrap_or_default()).normalize().to_string(),
            "cumExecQty": self.filled.to_string(),
            "cumExecValue": self.value.normalize().to_string(),
            "cumExecFee": self.fee.normalize().to_string(),
            "closedPnl": "0",
            "positionIdx": 0,
            "reduceOnly": self.reduce_only,
            "closeOnTrigger": false,
            "triggerPrice": self.trigger.map(|t| t.price.to_string()).unwrap_or_default(),
            "triggerDirection": match self.trigger {
                Some(Trigger { rising: true, .. }) => 1,
                Some(Trigger { rising: false, .. }) => 2,
                None => 0,
            },
            "triggerBy": if self.trigger.is_some() { "LastPrice" } else { "" },
            "takeProfit": "",
            "stopLoss": "",
            "stopOrderType": if self.trigger.is_some() { "Stop" } else { "" },
            "createType": "CreateByUser",
            "createdTime": self.created_ms.to_string(),
            "updatedTime": self.updated_ms.to_string(),
        })
    }
}

fn side(buy: bool) -> &'static str {
    match buy {
        true => "Buy",
        false => "Sell",
    }
}

/// Signed size and average entry of one position.
#[derive(Debug, Clone, Default, PartialEq)]
struct Position {
    qty: Decimal,
    avg: Decimal,
    realized: Decimal,
    seq: u64,
    updated_ms: i64,
}

/// Settings of the fake account.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountConfig {
    /// Starting USDT wallet balance.
    pub balance: Decimal,
    /// Leverage used for the margin check.
    pub leverage: Decimal,
    /// Maker fee rate.
    pub maker_fee: Decimal,
    /// Taker fee rate.
    pub taker_fee: Decimal,
    /// Largest quantity one fill takes (0: unlimited).
    pub max_fill_per_bar: Decimal,
}

impl Default for AccountConfig {
    fn default() -> Self {
        AccountConfig {
            balance: Decimal::from(100_000),
            leverage: Decimal::from(10),
            maker_fee: Decimal::new(2, 4),
            taker_fee: Decimal::new(55, 5),
            max_fill_per_bar: Decimal::ZERO,
        }
    }
}

/// The whole fake venue state. See the module doc.
#[derive(Debug)]
pub struct Exchange {
    config: AccountConfig,
    instruments: BTreeMap<String, Instrument>,
    last_px: BTreeMap<String, Decimal>,
    orders: BTreeMap<String, Order>,
    /// Every orderLinkId ever used, to its orderId: Bybit refuses a reuse (110072).
    links: BTreeMap<String, String>,
    positions: BTreeMap<String, Position>,
    /// Every execution, oldest first, as the wire object.
    executions: Vec<Value>,
    balance: Decimal,
    next_order: u64,
    next_exec: u64,
    next_seq: u64,
}

impl Exchange {
    /// An account with `config` trading `instruments`.
    pub fn new(config: AccountConfig, instruments: Vec<Instrument>) -> Exchange {
        Exchange {
            balance: config.balance,
            config,
            instruments: instruments
                .into_iter()
                .map(|i| (i.symbol.clone(), i))
                .collect(),
            last_px: BTreeMap::new(),
            orders: BTreeMap::new(),
            links: BTreeMap::new(),
            positions: BTreeMap::new(),
            executions: Vec::new(),
            next_order: 0,
            next_exec: 0,
            next_seq: 0,
        }
    }

    /// The instruments, by symbol.
    pub fn instruments(&self) -> impl Iterator<Item = &Instrument> {
        self.instruments.values()
    }

    /// The last traded price of `symbol`.
    pub fn last_px(&self, symbol: &str) -> Option<Decimal> {
        self.last_px.get(symbol).copied()
    }

    /// A bar of `symbol` closed at `now_ms`: resting orders it trades through fill,
    /// then its close becomes the last price.
    pub fn on_bar(&mut self, symbol: &str, bar: &Bar, now_ms: i64) -> Vec<Push> {
        let mut pushes = Vec::new();
        self.fire_triggers(symbol, bar, now_ms, &mut pushes);
        let resting: Vec<String> = self
            .orders
            .values()
            .filter(|o| o.symbol == symbol && o.open() && !o.market && !o.untriggered())
            .map(|o| o.id.clone())
            .collect();
        for id in resting {
            let Some(order) = self.orders.get(&id) else {
                continue;
            };
            let Some(px) = order.price else { continue };
            let through = match order.buy {
                true => bar.low <= px,
                false => bar.high >= px,
            };
            if through {
                self.fill(&id, px, true, now_ms, &mut pushes);
            }
        }
        self.last_px.insert(symbol.to_string(), bar.close);
        pushes
    }

    /// Conditional orders of `symbol` whose trigger `bar` reaches: `Triggered`, then a
    /// market fills at once (a stop is a taker), a limit is left to rest at its price.
    fn fire_triggers(&mut self, symbol: &str, bar: &Bar, now_ms: i64, pushes: &mut Vec<Push>) {
        let fired: Vec<(String, Trigger)> = self
            .orders
            .values()
            .filter(|o| o.symbol == symbol && o.untriggered())
            .filter_map(|o| o.trigger.map(|t| (o.id.clone(), t)))
            .filter(|(_, t)| t.reached_by(bar))
            .collect();
        for (id, trigger) in fired {
            let Some(order) = self.orders.get_mut(&id) else {
                continue;
            };
            order.status = "Triggered";
            order.updated_ms = now_ms;
            let (market, buy, qty, reduce_only) =
                (order.market, order.buy, order.qty, order.reduce_only);
            self.push_order(&id, pushes);
            if let Some(order) = self.orders.get_mut(&id) {
                order.status = "New";
            }
            let held = self
                .positions
                .get(symbol)
                .map(|p| p.qty)
                .unwrap_or_default();
            if reduce_only && (held.is_zero() || held.is_sign_positive() == buy || qty > held.abs())
            {
                // The position it protected is gone (or smaller): the venue drops it.
                self.finish(
                    &id,
                    "Deactivated",
                    "EC_NoError",
                    "CancelByReduceOnly",
                    now_ms,
                    pushes,
                );
                continue;
            }
            if market {
                self.fill(&id, trigger.fill_px(bar), false, now_ms, pushes);
            } else {
                self.push_order(&id, pushes);
            }
        }
    }

    /// Place an order; the answer is the orderId, the pushes what the private stream
    /// then says.
    pub fn create(&mut self, req: Create, now_ms: i64) -> Result<(String, Vec<Push>), Refusal> {
        let inst = self
            .instruments
            .get(&req.symbol)
            .ok_or_else(|| {
                refuse(
                    10001,
                    format!("params error: symbol invalid {}", req.symbol),
                )
            })?
            .clone();
        if !req.link_id.is_empty() {
            if req.link_id.len() > 36
                || !req
                    .link_id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(refuse(10001, "params error: orderLinkId invalid"));
            }
            if self.links.contains_key(&req.link_id) {
                return Err(refuse(110072, "OrderLinkedID is duplicate"));
            }
        }
        if req.qty < inst.min_qty || !(req.qty % inst.lot).is_zero() {
            return Err(refuse(10001, "params error: qty invalid"));
        }
        let last = self
            .last_px(&req.symbol)
            .ok_or_else(|| refuse(10001, "params error: no market yet"))?;
        let px = match (req.market, req.price) {
            (true, _) => last,
            (false, Some(p)) if p.is_sign_positive() && (p % inst.tick).is_zero() => p,
            (false, _) => return Err(refuse(10001, "params error: price invalid")),
        };
        let notional = req
            .qty
            .checked_mul(px)
            .ok_or_else(|| refuse(10001, "params error: qty invalid"))?;
        if notional < inst.min_notional {
            return Err(refuse(110094, "Order does not meet minimum order value"));
        }
        let held = self
            .positions
            .get(&req.symbol)
            .map(|p| p.qty)
            .unwrap_or_default();
        let signed = if req.buy { req.qty } else { -req.qty };
        if req.reduce_only
            && (held.is_zero() || held.is_sign_positive() == req.buy || req.qty > held.abs())
        {
            return Err(refuse(110017, "Reduce-only rule not satisfied"));
        }
        if let Some(t) = req.trigger {
            // Bybit refuses a trigger the price is already past.
            if t.rising && t.price <= last {
                return Err(refuse(
                    110092,
                    format!(
                        "expect Rising, but trigger_price[{}] <= current[{last}]",
                        t.price
                    ),
                ));
            }
            if !t.rising && t.price >= last {
                return Err(refuse(
                    110093,
                    format!(
                        "expect Falling, but trigger_price[{}] >= current[{last}]",
                        t.price
                    ),
                ));
            }
        }
        let opening = (held + signed).abs() > held.abs();
        if opening && !req.reduce_only {
            let margin = notional / self.config.leverage;
            if margin > self.available() {
                return Err(refuse(110007, "ab not enough for new order"));
            }
        }
        self.next_order += 1;
        let id = format!("fake-{:012}", self.next_order);
        if !req.link_id.is_empty() {
            self.links.insert(req.link_id.clone(), id.clone());
        }
        let order = Order {
            id: id.clone(),
            link_id: req.link_id.clone(),
            symbol: req.symbol.clone(),
            buy: req.buy,
            market: req.market,
            price: if req.market { None } else { Some(px) },
            qty: req.qty,
            filled: Decimal::ZERO,
            value: Decimal::ZERO,
            fee: Decimal::ZERO,
            tif: if req.market {
                "IOC".into()
            } else {
                req.tif.clone()
            },
            reduce_only: req.reduce_only,
            trigger: req.trigger,
            status: match req.trigger {
                Some(_) => "Untriggered",
                None => "New",
            },
            reject_reason: "EC_NoError",
            cancel_type: "UNKNOWN",
            created_ms: now_ms,
            updated_ms: now_ms,
        };
        if req.trigger.is_some() {
            self.orders.insert(id.clone(), order);
            let mut pushes = Vec::new();
            self.push_order(&id, &mut pushes);
            self.push_position(&req.symbol, now_ms, &mut pushes);
            return Ok((id, pushes));
        }
        let crosses = req.market
            || match req.buy {
                true => px >= last,
                false => px <= last,
            };
        self.orders.insert(id.clone(), order);
        let mut pushes = Vec::new();
        if crosses && req.tif == "PostOnly" {
            // Accepted, then cancelled: the venue's answer to a crossing PostOnly.
            self.finish(
                &id,
                "Cancelled",
                "EC_PostOnlyWillTakeLiquidity",
                "UNKNOWN",
                now_ms,
                &mut pushes,
            );
            return Ok((id, pushes));
        }
        if !crosses && matches!(req.tif.as_str(), "IOC" | "FOK") {
            self.finish(
                &id,
                "Cancelled",
                "EC_NoImmediateQtyToFill",
                "UNKNOWN",
                now_ms,
                &mut pushes,
            );
            return Ok((id, pushes));
        }
        if crosses {
            self.fill(&id, last, false, now_ms, &mut pushes);
            let left_open = self.orders.get(&id).is_some_and(Order::open);
            if left_open && (req.market || req.tif != "GTC") {
                self.finish(
                    &id,
                    "Cancelled",
                    "EC_NoEnoughQtyToFill",
                    "UNKNOWN",
                    now_ms,
                    &mut pushes,
                );
            }
        } else {
            self.push_order(&id, &mut pushes);
            self.push_position(&req.symbol, now_ms, &mut pushes);
        }
        Ok((id, pushes))
    }

    /// Cancel an open order named by orderId or orderLinkId (orderId wins).
    pub fn cancel(
        &mut self,
        order_id: Option<&str>,
        link_id: Option<&str>,
        now_ms: i64,
    ) -> Result<(String, String, Vec<Push>), Refusal> {
        let id = self.find_open(order_id, link_id)?;
        let mut pushes = Vec::new();
        let status = self.cancelled_status(&id);
        self.finish(
            &id,
            status,
            "EC_NoError",
            "CancelByUser",
            now_ms,
            &mut pushes,
        );
        let link = self
            .orders
            .get(&id)
            .map(|o| o.link_id.clone())
            .unwrap_or_default();
        Ok((id, link, pushes))
    }

    /// Change an open order's quantity and/or price; it keeps its orderId.
    pub fn amend(
        &mut self,
        order_id: Option<&str>,
        link_id: Option<&str>,
        qty: Option<Decimal>,
        price: Option<Decimal>,
        trigger_price: Option<Decimal>,
        now_ms: i64,
    ) -> Result<(String, String, Vec<Push>), Refusal> {
        let id = self.find_open(order_id, link_id)?;
        let order = self
            .orders
            .get(&id)
            .ok_or_else(|| refuse(110001, "order not exists or too late to replace"))?;
        let inst = self
            .instruments
            .get(&order.symbol)
            .cloned()
            .ok_or_else(|| refuse(10001, "params error"))?;
        if let Some(q) = qty {
            if q < order.filled || q < inst.min_qty || !(q % inst.lot).is_zero() {
                return Err(refuse(10001, "params error: qty invalid"));
            }
        }
        if let Some(p) = price {
            if order.market || !p.is_sign_positive() || !(p % inst.tick).is_zero() {
                return Err(refuse(10001, "params error: price invalid"));
            }
        }
        if let Some(p) = trigger_price {
            if !order.untriggered() || !p.is_sign_positive() || !(p % inst.tick).is_zero() {
                return Err(refuse(10001, "params error: triggerPrice invalid"));
            }
        }
        let mut pushes = Vec::new();
        let link = order.link_id.clone();
        if let Some(order) = self.orders.get_mut(&id) {
            if let Some(q) = qty {
                order.qty = q;
            }
            if let Some(p) = price {
                order.price = Some(p);
            }
            if let (Some(p), Some(t)) = (trigger_price, order.trigger.as_mut()) {
                t.price = p;
            }
            order.updated_ms = now_ms;
            if order.filled >= order.qty {
                order.status = "Filled";
            }
        }
        self.push_order(&id, &mut pushes);
        let symbol = self
            .orders
            .get(&id)
            .map(|o| o.symbol.clone())
            .unwrap_or_default();
        self.push_position(&symbol, now_ms, &mut pushes);
        Ok((id, link, pushes))
    }

    /// Cancel every open order (of `symbol`, when given).
    pub fn cancel_all(
        &mut self,
        symbol: Option<&str>,
        now_ms: i64,
    ) -> (Vec<(String, String)>, Vec<Push>) {
        let ids: Vec<String> = self
            .orders
            .values()
            .filter(|o| o.open() && symbol.is_none_or(|s| s == o.symbol))
            .map(|o| o.id.clone())
            .collect();
        let mut pushes = Vec::new();
        let mut done = Vec::new();
        for id in ids {
            let status = self.cancelled_status(&id);
            self.finish(
                &id,
                status,
                "EC_NoError",
                "CancelByUser",
                now_ms,
                &mut pushes,
            );
            let link = self
                .orders
                .get(&id)
                .map(|o| o.link_id.clone())
                .unwrap_or_default();
            done.push((id, link));
        }
        (done, pushes)
    }

    /// Orders for `/v5/order/realtime`: the open ones (of `symbol`), or, by id, that
    /// order whatever its state.
    pub fn orders(
        &self,
        symbol: Option<&str>,
        order_id: Option<&str>,
        link_id: Option<&str>,
    ) -> Vec<Value> {
        if order_id.is_some() || link_id.is_some() {
            return self
                .find(order_id, link_id)
                .ok()
                .and_then(|id| self.orders.get(&id))
                .map(Order::wire)
                .into_iter()
                .collect();
        }
        self.orders
            .values()
            .filter(|o| o.open() && symbol.is_none_or(|s| s == o.symbol))
            .map(Order::wire)
            .collect()
    }

    /// Every order the venue ever took, open or ended, in wire form (a test counts
    /// them per `orderLinkId`).
    pub fn all_orders(&self) -> Vec<Value> {
        self.orders.values().map(Order::wire).collect()
    }

    /// Closed orders for `/v5/order/history`.
    pub fn history(&self, symbol: Option<&str>) -> Vec<Value> {
        self.orders
            .values()
            .rev()
            .filter(|o| !o.open() && symbol.is_none_or(|s| s == o.symbol))
            .map(Order::wire)
            .collect()
    }

    /// Executions for `/v5/execution/list`, newest first.
    pub fn executions(&self, symbol: Option<&str>) -> Vec<Value> {
        self.executions
            .iter()
            .rev()
            .filter(|e| symbol.is_none_or(|s| e["symbol"] == s))
            .cloned()
            .collect()
    }

    /// Positions for `/v5/position/list` (REST names the entry `avgPrice`).
    pub fn positions(&self, symbol: Option<&str>) -> Vec<Value> {
        self.positions
            .iter()
            .filter(|(s, p)| !p.qty.is_zero() && symbol.is_none_or(|x| x == s.as_str()))
            .map(|(s, p)| {
                let mut v = self.position_wire(s, p);
                if let Some(o) = v.as_object_mut() {
                    if let Some(entry) = o.remove("entryPrice") {
                        o.insert("avgPrice".into(), entry);
                    }
                }
                v
            })
            .collect()
    }

    /// Add `amount` (negative: take) to the USDT wallet balance.
    pub fn credit(&mut self, amount: Decimal) {
        self.balance += amount;
    }

    /// The wallet for `/v5/account/wallet-balance`.
    pub fn wallet(&self) -> Value {
        let upl: Decimal = self
            .positions
            .iter()
            .map(|(s, p)| self.unrealized(s, p))
            .sum();
        let equity = self.balance + upl;
        json!({
            "accountType": "UNIFIED",
            "totalEquity": equity.normalize().to_string(),
            "totalWalletBalance": self.balance.normalize().to_string(),
            "totalMarginBalance": equity.normalize().to_string(),
            "totalAvailableBalance": self.available().normalize().to_string(),
            "totalPerpUPL": upl.normalize().to_string(),
            "coin": [{
                "coin": "USDT",
                "equity": equity.normalize().to_string(),
                "walletBalance": self.balance.normalize().to_string(),
                "unrealisedPnl": upl.normalize().to_string(),
                "locked": "0",
            }],
        })
    }

    /// Move a position behind the client's back (a test's drift): a trade by another
    /// session, at the last price, with no order the client knows.
    pub fn external_trade(
        &mut self,
        symbol: &str,
        buy: bool,
        qty: Decimal,
        now_ms: i64,
    ) -> Vec<Push> {
        let mut pushes = Vec::new();
        let Some(px) = self.last_px(symbol) else {
            return pushes;
        };
        self.next_order += 1;
        let id = format!("fake-{:012}", self.next_order);
        let order = Order {
            id: id.clone(),
            link_id: String::new(),
            symbol: symbol.to_string(),
            buy,
            market: true,
            price: None,
            qty,
            filled: Decimal::ZERO,
            value: Decimal::ZERO,
            fee: Decimal::ZERO,
            tif: "IOC".into(),
            reduce_only: false,
            trigger: None,
            status: "New",
            reject_reason: "EC_NoError",
            cancel_type: "UNKNOWN",
            created_ms: now_ms,
            updated_ms: now_ms,
        };
        self.orders.insert(id.clone(), order);
        self.fill(&id, px, false, now_ms, &mut pushes);
        pushes
    }

    fn available(&self) -> Decimal {
        let used: Decimal = self
            .positions
            .iter()
            .map(|(s, p)| (p.qty.abs() * self.last_px(s).unwrap_or(p.avg)) / self.config.leverage)
            .sum();
        let upl: Decimal = self
            .positions
            .iter()
            .map(|(s, p)| self.unrealized(s, p))
            .sum();
        (self.balance + upl - used).max(Decimal::ZERO)
    }

    fn unrealized(&self, symbol: &str, p: &Position) -> Decimal {
        match self.last_px(symbol) {
            Some(mark) => (mark - p.avg) * p.qty,
            None => Decimal::ZERO,
        }
    }

    /// A conditional order cancelled before its trigger ends `Deactivated`.
    fn cancelled_status(&self, id: &str) -> &'static str {
        match self.orders.get(id).is_some_and(Order::untriggered) {
            true => "Deactivated",
            false => "Cancelled",
        }
    }

    /// Only open orders (`New`, `PartiallyFilled`, `Untriggered`) can be cancelled or
    /// amended.
    fn find_open(&self, order_id: Option<&str>, link_id: Option<&str>) -> Result<String, Refusal> {
        let id = self.find(order_id, link_id)?;
        match self.orders.get(&id).is_some_and(Order::open) {
            true => Ok(id),
            false => Err(refuse(110001, "order not exists or too late to cancel")),
        }
    }

    fn find(&self, order_id: Option<&str>, link_id: Option<&str>) -> Result<String, Refusal> {
        let not_found = || refuse(110001, "order not exists or too late to cancel");
        let id = match (
            order_id.filter(|s| !s.is_empty()),
            link_id.filter(|s| !s.is_empty()),
        ) {
            (Some(id), _) => id.to_string(),
            (None, Some(link)) => self.links.get(link).cloned().ok_or_else(not_found)?,
            (None, None) => {
                return Err(refuse(
                    10001,
                    "params error: orderId or orderLinkId is required",
                ));
            }
        };
        match self.orders.get(&id) {
            Some(_) => Ok(id),
            None => Err(not_found()),
        }
    }

    /// End an order with `status`; nothing when it is not open (110001 for requests).
    fn finish(
        &mut self,
        id: &str,
        status: &'static str,
        reason: &'static str,
        cancel_type: &'static str,
        now_ms: i64,
        pushes: &mut Vec<Push>,
    ) {
        let Some(order) = self.orders.get_mut(id).filter(|o| o.open()) else {
            return;
        };
        order.status = status;
        order.reject_reason = reason;
        order.cancel_type = cancel_type;
        order.updated_ms = now_ms;
        let symbol = order.symbol.clone();
        self.push_order(id, pushes);
        self.push_position(&symbol, now_ms, pushes);
    }

    /// Fill (part of) an open order at `px`.
    fn fill(&mut self, id: &str, px: Decimal, maker: bool, now_ms: i64, pushes: &mut Vec<Push>) {
        let cap = self.config.max_fill_per_bar;
        let Some(order) = self.orders.get_mut(id).filter(|o| o.open()) else {
            return;
        };
        let mut qty = order.qty - order.filled;
        if !cap.is_zero() {
            qty = qty.min(cap);
        }
        let rate = if maker {
            self.config.maker_fee
        } else {
            self.config.taker_fee
        };
        let value = qty * px;
        let fee = value * rate;
        order.filled += qty;
        order.value += value;
        order.fee += fee;
        order.updated_ms = now_ms;
        order.status = if order.filled >= order.qty {
            "Filled"
        } else {
            "PartiallyFilled"
        };
        let (symbol, buy, link, order_qty, leaves, order_type, order_px) = (
            order.symbol.clone(),
            order.buy,
            order.link_id.clone(),
            order.qty,
            order.qty - order.filled,
            if order.market { "Market" } else { "Limit" },
            order.price.unwrap_or(px),
        );
        self.next_exec += 1;
        self.next_seq += 1;
        let exec_id = format!("fake-exec-{:012}", self.next_exec);
        let closed = self.apply(&symbol, buy, qty, px, fee, now_ms);
        let exec = json!({
            "category": "linear",
            "symbol": symbol,
            "orderId": id,
            "orderLinkId": link,
            "side": side(buy),
            "orderPrice": order_px.to_string(),
            "orderQty": order_qty.to_string(),
            "leavesQty": leaves.to_string(),
            "orderType": order_type,
            "execId": exec_id,
            "execPrice": px.to_string(),
            "execQty": qty.to_string(),
            "execValue": value.normalize().to_string(),
            "execFee": fee.normalize().to_string(),
            "feeRate": rate.to_string(),
            "execType": "Trade",
            "execTime": now_ms.to_string(),
            "isMaker": maker,
            "closedSize": closed.to_string(),
            "markPrice": px.to_string(),
            "seq": self.next_seq,
            "feeCurrency": "USDT",
            "createType": "CreateByUser",
            "stopOrderType": "UNKNOWN",
        });
        self.executions.push(exec.clone());
        pushes.push(Push {
            topic: "execution",
            data: json!([exec]),
        });
        self.push_order(id, pushes);
        self.push_position(&symbol, now_ms, pushes);
        pushes.push(Push {
            topic: "wallet",
            data: json!([self.wallet()]),
        });
    }

    /// Apply a fill to the position and wallet; returns the size it closed.
    fn apply(
        &mut self,
        symbol: &str,
        buy: bool,
        qty: Decimal,
        px: Decimal,
        fee: Decimal,
        now_ms: i64,
    ) -> Decimal {
        let position = self.positions.entry(symbol.to_string()).or_default();
        let signed = if buy { qty } else { -qty };
        let mut closed = Decimal::ZERO;
        let mut realized = Decimal::ZERO;
        if position.qty.is_zero() || position.qty.is_sign_positive() == buy {
            let total = position.qty.abs() + qty;
            position.avg = (position.avg * position.qty.abs() + px * qty) / total;
        } else {
            closed = qty.min(position.qty.abs());
            let sign = if position.qty.is_sign_positive() {
                Decimal::ONE
            } else {
                Decimal::NEGATIVE_ONE
            };
            realized = (px - position.avg) * closed * sign;
            if qty > position.qty.abs() {
                position.avg = px;
            }
        }
        position.qty += signed;
        if position.qty.is_zero() {
            position.avg = Decimal::ZERO;
        }
        position.realized += realized - fee;
        position.updated_ms = now_ms;
        self.balance += realized - fee;
        closed
    }

    fn push_order(&self, id: &str, pushes: &mut Vec<Push>) {
        if let Some(order) = self.orders.get(id) {
            pushes.push(Push {
                topic: "order",
                data: json!([order.wire()]),
            });
        }
    }

    /// Bybit emits a position message on every order action, changed or not.
    fn push_position(&mut self, symbol: &str, now_ms: i64, pushes: &mut Vec<Push>) {
        self.next_seq += 1;
        let seq = self.next_seq;
        let position = self.positions.entry(symbol.to_string()).or_default();
        position.seq = seq;
        if position.updated_ms == 0 {
            position.updated_ms = now_ms;
        }
        let p = position.clone();
        pushes.push(Push {
            topic: "position",
            data: json!([self.position_wire(symbol, &p)]),
        });
    }

    fn position_wire(&self, symbol: &str, p: &Position) -> Value {
        let mark = self.last_px(symbol).unwrap_or(p.avg);
        json!({
            "category": "linear",
            "symbol": symbol,
            "side": if p.qty.is_zero() { "" } else if p.qty.is_sign_positive() { "Buy" } else { "Sell" },
            "size": p.qty.abs().to_string(),
            "positionIdx": 0,
            "entryPrice": p.avg.normalize().to_string(),
            "markPrice": mark.to_string(),
            "leverage": self.config.leverage.to_string(),
            "positionValue": (p.qty.abs() * p.avg).normalize().to_string(),
            "unrealisedPnl": self.unrealized(symbol, p).normalize().to_string(),
            "cumRealisedPnl": p.realized.normalize().to_string(),
            "positionStatus": "Normal",
            "seq": p.seq,
            "updatedTime": p.updated_ms.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn btc() -> Instrument {
        Instrument {
            symbol: "BTCUSDT".into(),
            tick: d("0.1"),
            lot: d("0.001"),
            min_qty: d("0.001"),
            min_notional: d("5"),
            max_leverage: d("100"),
        }
    }

    fn bar(low: &str, high: &str, close: &str) -> Bar {
        Bar {
            start_ms: 0,
            len_ms: 60_000,
            open: d(close),
            high: d(high),
            low: d(low),
            close: d(close),
            volume: d("10"),
        }
    }

    fn exchange(config: AccountConfig) -> Exchange {
        let mut x = Exchange::new(config, vec![btc()]);
        x.on_bar("BTCUSDT", &bar("41900", "42100", "42000"), 1);
        x
    }

    fn create(tif: &str, buy: bool, price: Option<&str>, qty: &str, link: &str) -> Create {
        Create {
            symbol: "BTCUSDT".into(),
            buy,
            market: price.is_none(),
            qty: d(qty),
            price: price.map(d),
            tif: tif.into(),
            link_id: link.into(),
            reduce_only: false,
            trigger: None,
        }
    }

    fn statuses(pushes: &[Push]) -> Vec<String> {
        pushes
            .iter()
            .filter(|p| p.topic == "order")
            .map(|p| {
                format!(
                    "{} {}",
                    p.data[0]["orderStatus"].as_str().unwrap(),
                    p.data[0]["rejectReason"].as_str().unwrap()
                )
            })
            .collect()
    }

    #[test]
    fn a_market_order_fills_at_the_last_price_as_taker() {
        let mut x = exchange(AccountConfig::default());
        let (id, pushes) = x
            .create(create("GTC", true, None, "0.01", "a-1"), 10)
            .unwrap();
        assert_eq!(statuses(&pushes), ["Filled EC_NoError"]);
        let exec = &pushes[0].data[0];
        assert_eq!(
            (
                exec["execPrice"].as_str(),
                exec["execQty"].as_str(),
                exec["isMaker"].as_bool()
            ),
            (Some("42000"), Some("0.01"), Some(false))
        );
        assert_eq!(exec["execFee"], "0.231", "0.01 × 42000 × 0.055%");
        assert_eq!(exec["orderId"], id.as_str());
        assert_eq!(x.positions(None)[0]["avgPrice"], "42000");
        assert_eq!(x.positions(None)[0]["size"], "0.01");
    }

    #[test]
    fn a_resting_limit_fills_as_maker_when_a_bar_trades_through_it_partially_when_capped() {
        let mut x = exchange(AccountConfig {
            max_fill_per_bar: d("0.004"),
            ..AccountConfig::default()
        });
        let (_, pushes) = x
            .create(create("GTC", true, Some("41800"), "0.01", "b-1"), 10)
            .unwrap();
        assert_eq!(statuses(&pushes), ["New EC_NoError"]);
        assert!(
            x.on_bar("BTCUSDT", &bar("41850", "42000", "41900"), 20)
                .is_empty(),
            "not reached"
        );
        let first = x.on_bar("BTCUSDT", &bar("41700", "41900", "41750"), 30);
        assert_eq!(statuses(&first), ["PartiallyFilled EC_NoError"]);
        x.on_bar("BTCUSDT", &bar("41700", "41900", "41750"), 40);
        let last = x.on_bar("BTCUSDT", &bar("41700", "41900", "41750"), 50);
        assert_eq!(statuses(&last), ["Filled EC_NoError"]);
        assert_eq!(last[0].data[0]["execQty"], "0.002");
        assert_eq!(last[0].data[0]["isMaker"], true);
    }

    #[test]
    fn venue_traps_post_only_ioc_duplicates_reduce_only_margin_and_minimums() {
        let mut x = exchange(AccountConfig::default());
        let (_, pushes) = x
            .create(create("PostOnly", true, Some("42100"), "0.01", "c-1"), 10)
            .unwrap();
        assert_eq!(
            statuses(&pushes),
            ["Cancelled EC_PostOnlyWillTakeLiquidity"]
        );
        let (_, pushes) = x
            .create(create("IOC", true, Some("41000"), "0.01", "c-2"), 10)
            .unwrap();
        assert_eq!(statuses(&pushes), ["Cancelled EC_NoImmediateQtyToFill"]);
        let dup = x
            .create(create("GTC", true, Some("41000"), "0.01", "c-1"), 10)
            .unwrap_err();
        assert_eq!(dup.code, 110072);
        let mut reduce = create("GTC", false, None, "0.01", "c-3");
        reduce.reduce_only = true;
        assert_eq!(x.create(reduce, 10).unwrap_err().code, 110017);
        assert_eq!(
            x.create(create("GTC", true, None, "100", "c-4"), 10)
                .unwrap_err()
                .code,
            110007
        );
        assert_eq!(
            x.create(create("GTC", true, None, "0.0001", "c-5"), 10)
                .unwrap_err()
                .code,
            10001
        );
        assert_eq!(
            x.create(create("GTC", true, Some("4000"), "0.001", "c-6"), 10)
                .unwrap_err()
                .code,
            110094
        );
        assert_eq!(
            x.create(create("GTC", true, Some("41000.05"), "0.01", "c-7"), 10)
                .unwrap_err()
                .code,
            10001
        );
    }

    #[test]
    fn cancel_and_amend_by_link_id_and_not_found() {
        let mut x = exchange(AccountConfig::default());
        let (id, _) = x
            .create(create("GTC", true, Some("41000"), "0.01", "d-1"), 10)
            .unwrap();
        let (same, _, pushes) = x
            .amend(
                None,
                Some("d-1"),
                Some(d("0.02")),
                Some(d("41100")),
                None,
                20,
            )
            .unwrap();
        assert_eq!(same, id, "an amend keeps the orderId");
        assert_eq!(pushes[0].data[0]["qty"], "0.02");
        assert_eq!(pushes[0].data[0]["price"], "41100");
        let (_, link, pushes) = x.cancel(None, Some("d-1"), 30).unwrap();
        assert_eq!(link, "d-1");
        assert_eq!(statuses(&pushes), ["Cancelled EC_NoError"]);
        assert_eq!(pushes[0].data[0]["cancelType"], "CancelByUser");
        assert_eq!(
            x.cancel(None, Some("d-1"), 40).unwrap_err().code,
            110001,
            "already closed"
        );
        assert_eq!(x.cancel(None, Some("nope"), 40).unwrap_err().code, 110001);
        assert_eq!(
            x.orders(None, None, Some("d-1"))[0]["orderStatus"],
            "Cancelled"
        );
        assert!(x.orders(None, None, None).is_empty());
    }

    fn stop(buy: bool, trigger: &str, qty: &str, link: &str) -> Create {
        Create {
            reduce_only: true,
            trigger: Some(Trigger {
                price: d(trigger),
                rising: buy,
            }),
            ..create("GTC", buy, None, qty, link)
        }
    }

    #[test]
    fn a_stop_under_a_long_rests_until_a_bar_falls_to_it_then_fills_at_the_trigger() {
        let mut x = exchange(AccountConfig::default());
        x.create(create("GTC", true, None, "0.01", "s-in"), 10)
            .unwrap();
        let (_, pushes) = x.create(stop(false, "41000", "0.01", "s-1"), 10).unwrap();
        assert_eq!(statuses(&pushes), ["Untriggered EC_NoError"]);
        assert_eq!(pushes[0].data[0]["triggerDirection"], 2);
        let safe = x.on_bar("BTCUSDT", &bar("41001", "42500", "41500"), 20);
        assert!(
            safe.is_empty(),
            "the low stayed above the trigger: {safe:?}"
        );
        assert_eq!(
            x.orders(None, None, Some("s-1"))[0]["orderStatus"],
            "Untriggered"
        );
        let hit = x.on_bar("BTCUSDT", &bar("40900", "41600", "41500"), 30);
        assert_eq!(
            statuses(&hit),
            ["Triggered EC_NoError", "Filled EC_NoError"]
        );
        let exec = hit.iter().find(|p| p.topic == "execution").unwrap();
        assert_eq!(exec.data[0]["execPrice"], "41000");
        assert_eq!(exec.data[0]["isMaker"], false);
        assert!(x.positions(None).is_empty(), "flat after the stop");
    }

    #[test]
    fn a_stop_above_a_short_rests_until_a_bar_rises_to_it_and_a_gap_fills_at_the_open() {
        let mut x = exchange(AccountConfig::default());
        x.create(create("GTC", false, None, "0.01", "t-in"), 10)
            .unwrap();
        let (_, pushes) = x.create(stop(true, "43000", "0.01", "t-1"), 10).unwrap();
        assert_eq!(statuses(&pushes), ["Untriggered EC_NoError"]);
        assert_eq!(pushes[0].data[0]["triggerDirection"], 1);
        assert!(
            x.on_bar("BTCUSDT", &bar("41500", "42999", "42500"), 20)
                .is_empty()
        );
        let mut gap = bar("43100", "43400", "43300");
        gap.open = d("43200");
        let hit = x.on_bar("BTCUSDT", &gap, 30);
        assert_eq!(
            statuses(&hit),
            ["Triggered EC_NoError", "Filled EC_NoError"]
        );
        let exec = hit.iter().find(|p| p.topic == "execution").unwrap();
        assert_eq!(exec.data[0]["execPrice"], "43200", "gapped past: the open");
        assert!(x.positions(None).is_empty());
    }

    #[test]
    fn a_trigger_already_passed_is_refused_and_a_cancelled_stop_is_deactivated() {
        let mut x = exchange(AccountConfig::default());
        x.create(create("GTC", true, None, "0.01", "u-in"), 10)
            .unwrap();
        let wrong = x
            .create(stop(false, "42500", "0.01", "u-1"), 10)
            .unwrap_err();
        assert_eq!(wrong.code, 110093, "{wrong:?}");
        let entry = Create {
            reduce_only: false,
            ..stop(true, "41500", "0.01", "u-2")
        };
        let wrong = x.create(entry, 10).unwrap_err();
        assert_eq!(wrong.code, 110092, "{wrong:?}");
        x.create(stop(false, "41000", "0.01", "u-3"), 10).unwrap();
        let (_, _, pushes) = x.cancel(None, Some("u-3"), 20).unwrap();
        assert_eq!(statuses(&pushes), ["Deactivated EC_NoError"]);
    }

    #[test]
    fn positions_net_and_realize_against_the_average_entry() {
        let mut x = exchange(AccountConfig {
            taker_fee: Decimal::ZERO,
            ..AccountConfig::default()
        });
        x.create(create("GTC", true, None, "0.02", "e-1"), 10)
            .unwrap();
        x.on_bar("BTCUSDT", &bar("42000", "43000", "43000"), 20);
        x.create(create("GTC", false, None, "0.03", "e-2"), 30)
            .unwrap();
        let p = &x.positions(None)[0];
        assert_eq!(
            (
                p["side"].as_str(),
                p["size"].as_str(),
                p["avgPrice"].as_str()
            ),
            (Some("Sell"), Some("0.01"), Some("43000"))
        );
        assert_eq!(
            x.wallet()["totalWalletBalance"],
            "100020",
            "0.02 × +1000 realized"
        );
    }
}
