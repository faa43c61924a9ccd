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
        opt(avg_px(p).map(display_px)),
        p.realized.to_string(),
        p.fees.to_string(),
        p.funding.to_string(),
        p.net().to_string(),
        p.unrealized().to_string(),
        opt(p.mark_px),
    ]
}

/// Most decimals a derived price (the average entry, a quotient) shows in tables: one
/// of 28 digits says nothing a reader can use. JSON keeps the exact value.
pub const DISPLAY_PX_DP: u32 = 8;

/// `px` for people: rounded (half away from zero) to [`DISPLAY_PX_DP`] decimals, with
/// the trailing zeros of the rounding dropped; a price with fewer decimals is as is.
fn display_px(px: crate::event::Decimal) -> crate::event::Decimal {
    let rounded = px.round_dp(DISPLAY_PX_DP);
    match rounded == px {
        true => px,
        false => rounded.normalized(),
    }
}

/// The average entry price, absent when flat.
fn avg_px(p: &Position) -> Option<crate::event::Decimal> {
    (!p.qty.is_zero()).then(|| p.avg_px())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_prices_have_at_most_eight_decimals() {
        let d = |s: &str| s.parse::<crate::event::Decimal>().unwrap();
        let third = d("302").checked_div(d("3")).unwrap();
        assert_eq!(third.to_string().len(), 30, "{third}");
        assert_eq!(display_px(third).to_string(), "100.66666667");
        assert_eq!(display_px(d("0.1200000004")).to_string(), "0.12");
        assert_eq!(display_px(d("42000.5")).to_string(), "42000.5");
        assert_eq!(display_px(d("-1.123456785")).to_string(), "-1.12345679");
    }
}
