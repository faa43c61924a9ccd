//! The objects Bybit sends both over REST and on the private WS: orders, executions,
//! positions and wallets, read into typed values with exact decimals and timestamps.
//!
//! Each `read` takes the raw JSON object, the whole frame (quoted on error) and the
//! object's path in it (`data[2]`, `result.list[0]`), so an error names the field.
//! Position prices differ by source: the WS says `entryPrice`, REST says `avgPrice`;
//! both are read. Nothing here knows about the ledger's order state machine.

use serde::Deserialize;
use serde_json::Value;

use super::status::{Closing, OrderState, OrderStatus, order_state};
use super::wire::{
    FrameError, Namespace, decimal, from_value, millis_text, optional_decimal, side,
};
use crate::event::{
    Asset, Balance, ClientOrderId, Decimal, ExecId, Side, SnapshotBalance, SnapshotOrder,
    SnapshotPosition, Symbol, Timestamp, VenueOrderId,
};

/// An order as Bybit reports it (WS `order` topic, `/v5/order/realtime`, `/history`).
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    /// Instrument.
    pub symbol: Symbol,
    /// The venue's id.
    pub order_id: VenueOrderId,
    /// Our id (`orderLinkId`); `None` when empty (an order placed without one).
    pub order_link_id: Option<ClientOrderId>,
    /// Side.
    pub side: Side,
    /// `Limit` or `Market`.
    pub order_type: String,
    /// Limit price; `None` when empty or zero (market orders).
    pub px: Option<Decimal>,
    /// Total quantity.
    pub qty: Decimal,
    /// `GTC`, `IOC`, `FOK`, `PostOnly`, `RPI`.
    pub tif: String,
    /// The wire status.
    pub status: OrderStatus,
    /// `cancelType` (`CancelByUser`, …; `UNKNOWN` when not cancelled).
    pub cancel_type: String,
    /// `rejectReason` (`EC_NoError`, `EC_PostOnlyWillTakeLiquidity`, …).
    pub reject_reason: String,
    /// Quantity still working.
    pub leaves_qty: Decimal,
    /// Quantity executed so far.
    pub cum_exec_qty: Decimal,
    /// Trigger price of a conditional order.
    pub trigger_px: Option<Decimal>,
    /// May only reduce the position.
    pub reduce_only: bool,
    /// When the venue created it.
    pub created_time: Timestamp,
    /// When the venue last changed it: the event time of what it reports.
    pub updated_time: Timestamp,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawOrder {
    symbol: String,
    order_id: String,
    #[serde(default)]
    order_link_id: String,
    side: String,
    #[serde(default)]
    order_type: String,
    #[serde(default)]
    price: String,
    qty: String,
    #[serde(default)]
    time_in_force: String,
    order_status: String,
    #[serde(default)]
    cancel_type: String,
    #[serde(default)]
    reject_reason: String,
    #[serde(default)]
    leaves_qty: String,
    #[serde(default)]
    cum_exec_qty: String,
    #[serde(default)]
    trigger_price: String,
    #[serde(default)]
    reduce_only: bool,
    created_time: String,
    updated_time: String,
}

/// `"0"` and `""` both mean no price on Bybit.
fn price(frame: &str, field: &str, text: &str) -> Result<Option<Decimal>, FrameError> {
    Ok(optional_decimal(frame, field, text)?.filter(|px| !px.is_zero()))
}

/// An absent quantity (`""`) is zero.
fn qty_or_zero(frame: &str, field: &str, text: &str) -> Result<Decimal, FrameError> {
    Ok(optional_decimal(frame, field, text)?.unwrap_or(Decimal::ZERO))
}

impl Order {
    /// Read one order object found at `path` in `frame`.
    pub fn read(frame: &str, path: &str, value: Value) -> Result<Order, FrameError> {
        let raw: RawOrder = from_value(frame, path, value)?;
        let f = |name: &str| format!("{path}.{name}");
        let status = OrderStatus::parse(&raw.order_status).ok_or_else(|| {
            FrameError::new(
                frame,
                &f("orderStatus"),
                format!("unknown status {:?}", raw.order_status),
            )
        })?;
        Ok(Order {
            symbol: Symbol::from(raw.symbol),
            order_id: VenueOrderId::from(raw.order_id),
            order_link_id: (!raw.order_link_id.is_empty())
                .then(|| ClientOrderId::from(raw.order_link_id)),
            side: side(frame, &f("side"), &raw.side)?,
            order_type: raw.order_type,
            px: price(frame, &f("price"), &raw.price)?,
            qty: decimal(frame, &f("qty"), &raw.qty)?,
            tif: raw.time_in_force,
            status,
            cancel_type: raw.cancel_type,
            reject_reason: raw.reject_reason,
            leaves_qty: qty_or_zero(frame, &f("leavesQty"), &raw.leaves_qty)?,
            cum_exec_qty: qty_or_zero(frame, &f("cumExecQty"), &raw.cum_exec_qty)?,
            trigger_px: price(frame, &f("triggerPrice"), &raw.trigger_price)?,
            reduce_only: raw.reduce_only,
            created_time: millis_text(frame, &f("createdTime"), &raw.created_time)?,
            updated_time: millis_text(frame, &f("updatedTime"), &raw.updated_time)?,
        })
    }

    /// The ledger state this message means (status table plus refinements).
    pub fn state(&self) -> OrderState {
        let closing = Closing {
            tif: &self.tif,
            leaves_qty: self.leaves_qty,
            reject_reason: &self.reject_reason,
        };
        order_state(self.status, closing)
    }

    /// The order as reconciliation compares it.
    pub fn to_snapshot(&self, ns: &Namespace) -> SnapshotOrder {
        SnapshotOrder {
            book: ns.book.clone(),
            instrument: self.symbol.clone(),
            client_order_id: self.order_link_id.clone(),
            venue_order_id: self.order_id.clone(),
            side: self.side,
            qty: self.qty,
            filled_qty: self.cum_exec_qty,
            px: self.px,
        }
    }
}

/// What an execution is (`execType`); only `Trade` is a fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecType {
    /// An ordinary fill.
    Trade,
    /// An auto-deleveraging close.
    AdlTrade,
    /// A funding settlement (positive `execFee` = paid).
    Funding,
    /// A liquidation (bankruptcy) trade.
    BustTrade,
    /// Anything else (`Delivery`, `Settle`, `BlockTrade`, `MovePosition`, …), kept as sent.
    Other(String),
}

impl ExecType {
    fn parse(text: String) -> ExecType {
        match text.as_str() {
            "Trade" => ExecType::Trade,
            "AdlTrade" => ExecType::AdlTrade,
            "Funding" => ExecType::Funding,
            "BustTrade" => ExecType::BustTrade,
            _ => ExecType::Other(text),
        }
    }
}

/// One execution (WS `execution` topic, `/v5/execution/list`).
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    /// Instrument.
    pub symbol: Symbol,
    /// The venue's order id (may be empty for funding).
    pub order_id: Option<VenueOrderId>,
    /// Our id; `None` when empty.
    pub order_link_id: Option<ClientOrderId>,
    /// Side of this execution.
    pub side: Side,
    /// The venue's execution id (the idempotency key).
    pub exec_id: ExecId,
    /// Price.
    pub px: Decimal,
    /// Quantity.
    pub qty: Decimal,
    /// Fee: positive is a cost (for funding: positive is paid).
    pub fee: Decimal,
    /// `feeCurrency`, when sent.
    pub fee_currency: Option<Asset>,
    /// What kind of execution.
    pub exec_type: ExecType,
    /// When it executed: the event time.
    pub exec_time: Timestamp,
    /// Maker (true) or taker.
    pub is_maker: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawExecution {
    symbol: String,
    #[serde(default)]
    order_id: String,
    #[serde(default)]
    order_link_id: String,
    side: String,
    exec_id: String,
    exec_price: String,
    exec_qty: String,
    #[serde(default)]
    exec_fee: String,
    #[serde(default)]
    fee_currency: String,
    exec_type: String,
    exec_time: String,
    #[serde(default)]
    is_maker: bool,
}

impl Execution {
    /// Read one execution object found at `path` in `frame`.
    pub fn read(frame: &str, path: &str, value: Value) -> Result<Execution, FrameError> {
        let raw: RawExecution = from_value(frame, path, value)?;
        let f = |name: &str| format!("{path}.{name}");
        if raw.exec_id.is_empty() {
            return Err(FrameError::new(frame, &f("execId"), "empty"));
        }
        Ok(Execution {
            symbol: Symbol::from(raw.symbol),
            order_id: (!raw.order_id.is_empty()).then(|| VenueOrderId::from(raw.order_id)),
            order_link_id: (!raw.order_link_id.is_empty())
                .then(|| ClientOrderId::from(raw.order_link_id)),
            side: side(frame, &f("side"), &raw.side)?,
            exec_id: ExecId::from(raw.exec_id),
            px: decimal(frame, &f("execPrice"), &raw.exec_price)?,
            qty: decimal(frame, &f("execQty"), &raw.exec_qty)?,
            fee: qty_or_zero(frame, &f("execFee"), &raw.exec_fee)?,
            fee_currency: (!raw.fee_currency.is_empty()).then(|| Asset::from(raw.fee_currency)),
            exec_type: ExecType::parse(raw.exec_type),
            exec_time: millis_text(frame, &f("execTime"), &raw.exec_time)?,
            is_maker: raw.is_maker,
        })
    }
}

/// A position (WS `position` topic, `/v5/position/list`).
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    /// Instrument.
    pub symbol: Symbol,
    /// Signed size: `side` `Sell` is negative, `""` (flat) is zero.
    pub qty: Decimal,
    /// Average entry price (WS `entryPrice`, REST `avgPrice`); zero when flat.
    pub avg_px: Decimal,
    /// Mark price, when sent.
    pub mark_px: Option<Decimal>,
    /// Liquidation price; `None` when empty.
    pub liq_px: Option<Decimal>,
    /// `positionIdx`: 0 one-way, 1/2 hedge mode.
    pub position_idx: i64,
    /// When the venue last changed it.
    pub updated_time: Timestamp,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPosition {
    symbol: String,
    #[serde(default)]
    side: String,
    size: String,
    #[serde(default)]
    entry_price: String,
    #[serde(default)]
    avg_price: String,
    #[serde(default)]
    mark_price: String,
    #[serde(default)]
    liq_price: String,
    #[serde(default)]
    position_idx: i64,
    updated_time: String,
}

impl Position {
    /// Read one position object found at `path` in `frame`.
    pub fn read(frame: &str, path: &str, value: Value) -> Result<Position, FrameError> {
        let raw: RawPosition = from_value(frame, path, value)?;
        let f = |name: &str| format!("{path}.{name}");
        let size = decimal(frame, &f("size"), &raw.size)?;
        let qty = match raw.side.as_str() {
            "" | "None" => Decimal::ZERO,
            _ => match side(frame, &f("side"), &raw.side)? {
                Side::Buy => size,
                Side::Sell => -size,
            },
        };
        // WS sends entryPrice, REST avgPrice: whichever is present.
        let (field, text) = match raw.entry_price.is_empty() {
            false => ("entryPrice", raw.entry_price.as_str()),
            true => ("avgPrice", raw.avg_price.as_str()),
        };
        Ok(Position {
            symbol: Symbol::from(raw.symbol),
            qty,
            avg_px: qty_or_zero(frame, &f(field), text)?,
            mark_px: optional_decimal(frame, &f("markPrice"), &raw.mark_price)?,
            liq_px: optional_decimal(frame, &f("liqPrice"), &raw.liq_price)?,
            position_idx: raw.position_idx,
            updated_time: millis_text(frame, &f("updatedTime"), &raw.updated_time)?,
        })
    }

    /// The position as reconciliation compares it.
    pub fn to_snapshot(&self, ns: &Namespace) -> SnapshotPosition {
        SnapshotPosition {
            book: ns.book.clone(),
            instrument: self.symbol.clone(),
            qty: self.qty,
            avg_px: self.avg_px,
        }
    }
}

/// One coin of a wallet.
#[derive(Debug, Clone, PartialEq)]
pub struct CoinBalance {
    /// Currency.
    pub asset: Asset,
    /// `walletBalance`: deposits plus realised PnL, fees and funding.
    pub wallet_balance: Decimal,
    /// `equity`: wallet balance plus unrealised PnL.
    pub equity: Decimal,
    /// `availableToWithdraw`, when sent (deprecated on UTA, often empty).
    pub available: Option<Decimal>,
}

/// A wallet (WS `wallet` topic, `/v5/account/wallet-balance`).
#[derive(Debug, Clone, PartialEq)]
pub struct Wallet {
    /// `accountType` (`UNIFIED`).
    pub account_type: String,
    /// `totalEquity` in USD: what the backend's `equity()` reports.
    pub total_equity: Decimal,
    /// `totalAvailableBalance`, when sent.
    pub total_available: Option<Decimal>,
    /// Per coin.
    pub coins: Vec<CoinBalance>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawWallet {
    #[serde(default)]
    account_type: String,
    total_equity: String,
    #[serde(default)]
    total_available_balance: String,
    #[serde(default)]
    coin: Vec<RawCoin>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCoin {
    coin: String,
    wallet_balance: String,
    #[serde(default)]
    equity: String,
    #[serde(default)]
    available_to_withdraw: String,
}

impl Wallet {
    /// Read one wallet object found at `path` in `frame`.
    pub fn read(frame: &str, path: &str, value: Value) -> Result<Wallet, FrameError> {
        let raw: RawWallet = from_value(frame, path, value)?;
        let f = |name: &str| format!("{path}.{name}");
        let mut coins = Vec::with_capacity(raw.coin.len());
        for (i, c) in raw.coin.into_iter().enumerate() {
            let g = |name: &str| format!("{path}.coin[{i}].{name}");
            coins.push(CoinBalance {
                asset: Asset::from(c.coin),
                wallet_balance: decimal(frame, &g("walletBalance"), &c.wallet_balance)?,
                equity: qty_or_zero(frame, &g("equity"), &c.equity)?,
                available: optional_decimal(
                    frame,
                    &g("availableToWithdraw"),
                    &c.available_to_withdraw,
                )?,
            });
        }
        Ok(Wallet {
            account_type: raw.account_type,
            total_equity: decimal(frame, &f("totalEquity"), &raw.total_equity)?,
            total_available: optional_decimal(
                frame,
                &f("totalAvailableBalance"),
                &raw.total_available_balance,
            )?,
            coins,
        })
    }

    /// One `balance` payload per coin (total = wallet balance).
    pub fn to_balances(&self, ns: &Namespace) -> Vec<Balance> {
        self.coins
            .iter()
            .map(|c| Balance {
                venue: ns.venue.clone(),
                asset: c.asset.clone(),
                total: c.wallet_balance,
                available: c.available,
            })
            .collect()
    }

    /// The coins as a snapshot's balances.
    pub fn to_snapshot(&self) -> Vec<SnapshotBalance> {
        self.coins
            .iter()
            .map(|c| SnapshotBalance {
                asset: c.asset.clone(),
                total: c.wallet_balance,
            })
            .collect()
    }
}

/// Read every element of the array `value` (at `path`) with `read`.
pub fn read_list<T>(
    frame: &str,
    path: &str,
    value: Value,
    read: fn(&str, &str, Value) -> Result<T, FrameError>,
) -> Result<Vec<T>, FrameError> {
    let Value::Array(items) = value else {
        return Err(FrameError::new(frame, path, "expected an array"));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| read(frame, &format!("{path}[{i}]"), item))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    const ORDER: &str = r#"{"category":"linear","symbol":"BTCUSDT","orderId":"o-1","orderLinkId":"c-1","side":"Buy","orderType":"Limit","price":"25000","qty":"1","timeInForce":"GTC","orderStatus":"PartiallyFilled","cancelType":"UNKNOWN","rejectReason":"EC_NoError","avgPrice":"25000","leavesQty":"0.4","cumExecQty":"0.6","triggerPrice":"","reduceOnly":false,"createdTime":"1672364262444","updatedTime":"1672364262457"}"#;

    #[test]
    fn reads_an_order() {
        let o = Order::read(ORDER, "data[0]", value(ORDER)).unwrap();
        assert_eq!(o.order_link_id, Some(ClientOrderId::from("c-1")));
        assert_eq!(o.px, Some("25000".parse().unwrap()));
        assert_eq!(o.trigger_px, None);
        assert_eq!(o.state(), OrderState::PartiallyFilled);
        assert_eq!(
            o.updated_time,
            Timestamp::from_millis(1_672_364_262_457).unwrap()
        );
        let snap = o.to_snapshot(&Namespace::default());
        assert_eq!(snap.filled_qty, "0.6".parse().unwrap());
    }

    #[test]
    fn a_bad_field_is_named() {
        let bad = ORDER.replace(r#""qty":"1""#, r#""qty":"one""#);
        let err = Order::read(&bad, "data[0]", value(&bad)).unwrap_err();
        assert_eq!(err.field, "data[0].qty");
        let bad = ORDER.replace("PartiallyFilled", "Sleeping");
        let err = Order::read(&bad, "data[0]", value(&bad)).unwrap_err();
        assert_eq!(err.field, "data[0].orderStatus");
        let bad = ORDER.replace(r#""side":"Buy","#, "");
        let err = Order::read(&bad, "data[0]", value(&bad)).unwrap_err();
        assert!(err.reason.contains("side"), "{err}");
    }

    #[test]
    fn positions_from_ws_and_rest() {
        let ws = r#"{"symbol":"BTCUSDT","side":"Sell","size":"0.01","positionIdx":0,"entryPrice":"28000","markPrice":"28184.5","liqPrice":"","updatedTime":"1697682317038"}"#;
        let p = Position::read(ws, "data[0]", value(ws)).unwrap();
        assert_eq!(p.qty, "-0.01".parse().unwrap());
        assert_eq!(p.avg_px, "28000".parse().unwrap());
        assert_eq!(p.liq_px, None);
        let rest = r#"{"symbol":"ETHUSDT","side":"","size":"0","avgPrice":"0","updatedTime":"1697682317038"}"#;
        let p = Position::read(rest, "list[0]", value(rest)).unwrap();
        assert!(p.qty.is_zero());
        let rest =
            r#"{"symbol":"ETHUSDT","side":"Buy","size":"2","avgPrice":"1800.5","updatedTime":"1"}"#;
        let p = Position::read(rest, "list[0]", value(rest)).unwrap();
        assert_eq!(p.avg_px, "1800.5".parse().unwrap());
    }

    #[test]
    fn wallet_balances() {
        let w = r#"{"accountType":"UNIFIED","totalEquity":"10262.91","totalAvailableBalance":"9556.6","coin":[{"coin":"USDT","equity":"9684.46","walletBalance":"9684.40","availableToWithdraw":""}]}"#;
        let w = Wallet::read(w, "data[0]", value(w)).unwrap();
        assert_eq!(w.total_equity, "10262.91".parse().unwrap());
        let b = w.to_balances(&Namespace::default());
        assert_eq!(b[0].total, "9684.40".parse().unwrap());
        assert_eq!(b[0].available, None);
    }

    #[test]
    fn executions() {
        let e = r#"{"symbol":"BTCUSDT","orderId":"o","orderLinkId":"","side":"Sell","execId":"e-1","execPrice":"95900.1","execQty":"0.5","execFee":"26.37","feeCurrency":"USDT","execType":"Delivery","execTime":"1746270400353","isMaker":false}"#;
        let e = Execution::read(e, "data[0]", value(e)).unwrap();
        assert_eq!(e.exec_type, ExecType::Other("Delivery".into()));
        assert_eq!(e.order_link_id, None);
        let bad = r#"{"symbol":"BTCUSDT","side":"Sell","execId":"","execPrice":"1","execQty":"1","execType":"Trade","execTime":"1"}"#;
        assert_eq!(
            Execution::read(bad, "x", value(bad)).unwrap_err().field,
            "x.execId"
        );
    }
}
