//! How positions print: the table for people and the JSON objects for machines.
//! Shared by `replay`, `audit` and `demo` so the three always agree.

use serde_json::{Value, json};

use super::Table;
use crate::reduce::{Position, Projection};

/// Column headers of the positions table.
const HEADERS: &[&str] = &[
    "position",
    "qty",
    "avg_px",
    "realized",
    "fees",
    "funding",
    "net",
    "unrealized",
    "mark_px",
];

/// The per-position fields of `position_json`, in table order (every column but the
/// key, plus the life ordinal): what `diff` compares.
pub const FIELDS: &[&str] = &[
    "qty",
    "avg_px",
    "realized",
    "fees",
    "funding",
    "net",
    "unrealized",
    "mark_px",
    "life",
];

/// One position as JSON (key names are the public contract).
pub fn position_json(p: &Position) -> Value {
    json!({
        "key": p.key.to_string(),
        "qty": p.qty.to_string(),
        "avg_px": avg_px(p).map(|v| v.to_string()),
        "realized": p.realized.to_string(),
        "fees": p.fees.to_string(),
        "funding": p.funding.to_string(),
        "net": p.net().to_string(),
        "unrealized": p.unrealized().to_string(),
        "mark_px": p.mark_px.map(|v| v.to_string()),
        "life": p.life,
    })
}

/// Every position of a projection as JSON, ordered by key.
pub fn positions_json(projection: &Projection) -> Vec<Value> {
    projection.positions().map(position_json).collect()
}

/// The positions table.
pub fn positions_table<'a>(positions: impl IntoIterator<Item = &'a Position>) -> String {
    let mut table = Table::new(HEADERS, &HEADERS[1..]);
    for p in positions {
        table.row(position_row(p));
    }
    table.render()
}

fn position_row(p: &Position) -> Vec<String> {
    let opt =
        |v: Option<crate::event::Decimal>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
    vec![
        p.key.to_string(),
        p.qty.to_string(),
        opt(avg_px(p)),
        p.realized.to_string(),
        p.fees.to_string(),
        p.funding.to_string(),
        p.net().to_string(),
        p.unrealized().to_string(),
        opt(p.mark_px),
    ]
}

/// The average entry price, absent when flat.
fn avg_px(p: &Position) -> Option<crate::event::Decimal> {
    (!p.qty.is_zero()).then(|| p.avg_px())
}
