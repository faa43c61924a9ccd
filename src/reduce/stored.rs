//! The stored form of a [`Projection`]: what checkpoints hold and
//! [`Projection::hash`] hashes.
//!
//! In memory, a position key's mark and position share one map entry (a trade updates
//! both with one search). Stored, they are two maps, `positions` then (after the
//! orders) `marks`, each in key order: the layout the projection has always had, so
//! the checkpoints of existing ledgers keep their bytes and hashes. Likewise a
//! position's average price is computed, not kept, yet stored in its old place.
//! `the_stored_layout_is_the_two_map_layout` guards both.

use std::collections::{BTreeMap, BTreeSet};

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::event::{ClientOrderId, Decimal, PositionKey, Seq, Timestamp, Venue, VenueOrderId};

use super::account::BalanceKey;
use super::order::Order;
use super::position::Position;
use super::projection::{KeySlot, Projection};

/// The stored layout, borrowed from a projection to be written.
#[derive(Serialize)]
#[serde(rename = "Projection")]
struct StoredRef<'a> {
    last_seq: Seq,
    last_ts: Timestamp,
    positions: Column<'a, Position>,
    orders: &'a BTreeMap<ClientOrderId, Order>,
    venue_order_ids: &'a BTreeMap<(Venue, VenueOrderId), ClientOrderId>,
    marks: Column<'a, Decimal>,
    balances: &'a BTreeMap<BalanceKey, Decimal>,
    ended_orders: &'a BTreeSet<(Timestamp, ClientOrderId)>,
}

/// The stored layout, read back.
#[derive(Deserialize)]
#[serde(rename = "Projection")]
struct Stored {
    last_seq: Seq,
    last_ts: Timestamp,
    positions: BTreeMap<PositionKey, Position>,
    orders: BTreeMap<ClientOrderId, Order>,
    venue_order_ids: BTreeMap<(Venue, VenueOrderId), ClientOrderId>,
    marks: BTreeMap<PositionKey, Decimal>,
    balances: BTreeMap<BalanceKey, Decimal>,
    ended_orders: BTreeSet<(Timestamp, ClientOrderId)>,
}

/// One half of the slots as the map a `BTreeMap<PositionKey, T>` writes: the
/// positions, or the marks.
struct Column<'a, T> {
    slots: &'a BTreeMap<PositionKey, KeySlot>,
    part: fn(&KeySlot) -> Option<&T>,
}

impl<T: Serialize> Serialize for Column<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let held = || {
            self.slots
                .iter()
                .filter_map(|(key, slot)| Some((key, (self.part)(slot)?)))
        };
        // The length goes first (bincode needs it), so the entries are walked twice.
        let mut map = serializer.serialize_map(Some(held().count()))?;
        for (key, value) in held() {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl Serialize for Projection {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StoredRef {
            last_seq: self.last_seq,
            last_ts: self.last_ts,
            positions: Column {
                slots: &self.slots,
                part: |slot| slot.position.as_ref(),
            },
            orders: &self.orders,
            venue_order_ids: &self.venue_order_ids,
            marks: Column {
                slots: &self.slots,
                part: |slot| slot.mark.as_ref(),
            },
            balances: &self.balances,
            ended_orders: &self.ended_orders,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Projection {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Projection, D::Error> {
        let stored = Stored::deserialize(deserializer)?;
        let mut slots: BTreeMap<PositionKey, KeySlot> = stored
            .positions
            .into_iter()
            .map(|(key, position)| {
                let slot = KeySlot {
                    mark: None,
                    position: Some(position),
                };
                (key, slot)
            })
            .collect();
        for (key, mark) in stored.marks {
            slots.entry(key).or_default().mark = Some(mark);
        }
        Ok(Projection {
            last_seq: stored.last_seq,
            last_ts: stored.last_ts,
            slots,
            orders: stored.orders,
            venue_order_ids: stored.venue_order_ids,
            balances: stored.balances,
            ended_orders: stored.ended_orders,
        })
    }
}

/// A position's stored layout: its fields in declaration order, with `avg_px` (which
/// the position computes rather than keeps) in its place after `qty`.
#[derive(Serialize, Deserialize)]
#[serde(rename = "Position")]
struct StoredPosition {
    key: PositionKey,
    qty: Decimal,
    avg_px: Decimal,
    cost_basis: Decimal,
    realized: Decimal,
    fees: Decimal,
    funding: Decimal,
    mark_px: Option<Decimal>,
    life: u32,
    lives_closed: u32,
    life_realized: Decimal,
    life_cash: Decimal,
    fills: u64,
    liquidations: u64,
    adls: u64,
    opened_seq: Option<Seq>,
    closed_seq: Option<Seq>,
    last_seq: Seq,
}

impl Serialize for Position {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StoredPosition {
            key: self.key.clone(),
            qty: self.qty,
            avg_px: self.avg_px(),
            cost_basis: self.cost_basis,
            realized: self.realized,
            fees: self.fees,
            funding: self.funding,
            mark_px: self.mark_px,
            life: self.life,
            lives_closed: self.lives_closed,
            life_realized: self.life_realized,
            life_cash: self.life_cash,
            fills: self.fills,
            liquidations: self.liquidations,
            adls: self.adls,
            opened_seq: self.opened_seq,
            closed_seq: self.closed_seq,
            last_seq: self.last_seq,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Position {
    /// The stored `avg_px` is dropped: it is a function of `cost_basis` and `qty`, and
    /// a checkpoint is trusted only after its hash over these very bytes is checked.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Position, D::Error> {
        let stored = StoredPosition::deserialize(deserializer)?;
        Ok(Position {
            key: stored.key,
            qty: stored.qty,
            cost_basis: stored.cost_basis,
            realized: stored.realized,
            fees: stored.fees,
            funding: stored.funding,
            mark_px: stored.mark_px,
            life: stored.life,
            lives_closed: stored.lives_closed,
            life_realized: stored.life_realized,
            life_cash: stored.life_cash,
            fills: stored.fills,
            liquidations: stored.liquidations,
            adls: stored.adls,
            opened_seq: stored.opened_seq,
            closed_seq: stored.closed_seq,
            last_seq: stored.last_seq,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{d, fill, key};
    use super::*;
    use crate::event::codec;
    use crate::event::{Payload, Side, Trade};

    /// The layout every earlier build derived for `Projection`, kept here as the
    /// reference the hand-written one must match byte for byte.
    #[derive(Serialize)]
    struct TwoMapLayout {
        last_seq: Seq,
        last_ts: Timestamp,
        positions: BTreeMap<PositionKey, KeptAveragePosition>,
        orders: BTreeMap<ClientOrderId, Order>,
        venue_order_ids: BTreeMap<(Venue, VenueOrderId), ClientOrderId>,
        marks: BTreeMap<PositionKey, Decimal>,
        balances: BTreeMap<BalanceKey, Decimal>,
        ended_orders: BTreeSet<(Timestamp, ClientOrderId)>,
    }

    /// The position every earlier build derived, which kept `avg_px` as a field.
    #[derive(Serialize)]
    struct KeptAveragePosition {
        key: PositionKey,
        qty: Decimal,
        avg_px: Decimal,
        cost_basis: Decimal,
        realized: Decimal,
        fees: Decimal,
        funding: Decimal,
        mark_px: Option<Decimal>,
        life: u32,
        lives_closed: u32,
        life_realized: Decimal,
        life_cash: Decimal,
        fills: u64,
        liquidations: u64,
        adls: u64,
        opened_seq: Option<Seq>,
        closed_seq: Option<Seq>,
        last_seq: Seq,
    }

    fn kept_average(p: &Position) -> KeptAveragePosition {
        let avg_px = match p.qty.is_zero() {
            true => Decimal::ZERO,
            false => p.cost_basis.checked_div(p.qty.abs()).unwrap(),
        };
        KeptAveragePosition {
            key: p.key.clone(),
            qty: p.qty,
            avg_px,
            cost_basis: p.cost_basis,
            realized: p.realized,
            fees: p.fees,
            funding: p.funding,
            mark_px: p.mark_px,
            life: p.life,
            lives_closed: p.lives_closed,
            life_realized: p.life_realized,
            life_cash: p.life_cash,
            fills: p.fills,
            liquidations: p.liquidations,
            adls: p.adls,
            opened_seq: p.opened_seq,
            closed_seq: p.closed_seq,
            last_seq: p.last_seq,
        }
    }

    fn two_maps(p: &Projection) -> TwoMapLayout {
        TwoMapLayout {
            last_seq: p.last_seq,
            last_ts: p.last_ts,
            positions: p
                .positions()
                .map(|x| (x.key.clone(), kept_average(x)))
                .collect(),
            orders: p.orders.clone(),
            venue_order_ids: p.venue_order_ids.clone(),
            marks: p
                .slots
                .iter()
                .filter_map(|(k, s)| Some((k.clone(), s.mark?)))
                .collect(),
            balances: p.balances.clone(),
            ended_orders: p.ended_orders.clone(),
        }
    }

    fn trade_on(instrument: &str, px: &str) -> Payload {
        let k = key();
        Payload::Trade(Trade {
            venue: k.venue,
            book: k.book,
            instrument: instrument.into(),
            px: d(px),
            qty: d("1"),
            side: None,
            trade_id: None,
        })
    }

    #[test]
    fn the_stored_layout_is_the_two_map_layout() {
        // Keys with a mark only, a position only, and both.
        let payloads = [
            trade_on("MARK-ONLY", "5"),
            fill(None, Side::Buy, "2", "100", "0.1"),
            fill(None, Side::Buy, "1", "100.01", "0"),
            fill(None, Side::Sell, "0.7", "99", "0"),
            trade_on(key().instrument.as_str(), "101"),
            trade_on("ZZZ", "7"),
        ];
        let mut p = Projection::new();
        for (seq, payload) in payloads.into_iter().enumerate() {
            p.apply(&super::super::fixtures::env(seq as u64 + 1, payload))
                .unwrap();
        }
        let mut position_only = Projection::new();
        position_only
            .apply(&super::super::fixtures::env(
                1,
                fill(None, Side::Sell, "1", "100", "0"),
            ))
            .unwrap();
        for p in [Projection::new(), p, position_only] {
            let bytes = codec::encode_value(&p).unwrap();
            assert_eq!(bytes, codec::encode_value(&two_maps(&p)).unwrap());
            let back: Projection = codec::decode_value(&bytes).unwrap();
            assert_eq!(back, p);
        }
    }
}
