//! `ledger audit <position>`: every event that shaped one position, grouped by life,
//! the position recomputed from those events alone and compared with the full replay,
//! and the hash-chain proof.
//!
//! It reads through the position index: the header chain is walked from genesis (a
//! few bytes per block) and only the blocks holding this position's events are read
//! and hashed, so it answers in milliseconds on a log of millions of events.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::positions::{position_json, positions_table};
use super::{Output, Table};
use crate::event::json::write_event;
use crate::event::{Payload, PositionKey};
use crate::log::{ProvenEvent, position_events, projection_at};
use crate::reduce::Projection;

/// Arguments of `ledger audit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Position key: <venue>:<book>:<instrument>, e.g. bybit:linear:BTCUSDT.
    pub position: String,
    /// Leave market observations (trades, candles, quotes) out of the listing; they
    /// still count in the recomputation.
    #[arg(long)]
    pub no_market: bool,
    /// Show only the last N events and lives in the tables.
    #[arg(long, value_name = "N")]
    pub tail: Option<usize>,
}

/// One life of a position: from flat to flat.
struct Life {
    ordinal: u32,
    first_seq: u64,
    last_seq: u64,
    realized: crate::event::Decimal,
    open: bool,
}

/// Run `ledger audit`.
pub fn exec(db: &Path, args: Args, out: Output) -> Result<()> {
    let key: PositionKey = args.position.parse()?;
    let ledger = super::open_to_read(db)?;
    let reader = ledger.reader()?;
    let events = position_events(&reader, &key.to_string())?;
    if events.is_empty() {
        let known = reader.position_keys()?;
        bail!(
            "no events for position {key} (positions in this ledger: {})",
            known.join(", ")
        );
    }
    let Recomputed {
        projection: recomputed,
        lives,
        lives_of_events,
        overfills,
    } = recompute(&key, &events)?;
    let shown: Vec<(&ProvenEvent, u32)> = events
        .iter()
        .zip(lives_of_events.iter().copied())
        .filter(|(e, _)| !(args.no_market && is_market(&e.envelope.event.payload)))
        .collect();
    let head = reader.head()?;
    let (replayed, _) = projection_at(&reader, head.seq)?;
    let from_log = recomputed.position(&key).map(position_json);
    let from_replay = replayed.position(&key).map(position_json);
    let matches = from_log == from_replay;
    if out.json {
        let rows = events
            .iter()
            .zip(&lives_of_events)
            .map(|(e, life)| event_json(e, *life, &overfills))
            .collect::<Result<Vec<_>>>()?;
        out.json_value(&json!({
            "position": key.to_string(),
            "events": rows,
            "lives": lives.iter().map(|l| json!({"life": l.ordinal, "first_seq": l.first_seq, "last_seq": l.last_seq, "realized": l.realized.to_string(), "open": l.open})).collect::<Vec<_>>(),
            "recomputed": from_log,
            "replay": from_replay,
            "matches_replay": matches,
            "overfills": overfills,
            "chain_ok": true,
            "head_seq": head.seq,
            "head_hash": head.hash.to_hex(),
        }))?;
    } else {
        let view = View {
            shown: &shown,
            total: events.len(),
            tail: args.tail,
            overfills: &overfills,
        };
        out.text(&human(&key, &view, &lives, &recomputed, matches, head))?;
    }
    if !matches {
        bail!("the position recomputed from its own events differs from the full replay");
    }
    Ok(())
}

/// The position recomputed from its own events.
struct Recomputed {
    projection: Projection,
    lives: Vec<Life>,
    /// The life each event belongs to (0: none).
    lives_of_events: Vec<u32>,
    /// Seqs (ascending) of fills that took their order past its quantity.
    overfills: Vec<u64>,
}

fn recompute(key: &PositionKey, events: &[ProvenEvent]) -> Result<Recomputed> {
    let mut projection = Projection::new();
    let mut lives: Vec<Life> = Vec::new();
    let mut per_event = Vec::with_capacity(events.len());
    let mut overfills = Vec::new();
    for e in events {
        let seq = e.envelope.seq;
        let before = projection
            .position(key)
            .map(|p| (p.life, p.realized, p.qty.is_zero()));
        let applied = projection
            .apply(&e.envelope)
            .with_context(|| format!("recomputing {key}"))?;
        if applied.overfill {
            overfills.push(seq);
        }
        let Some(p) = projection.position(key) else {
            per_event.push(0);
            continue;
        };
        per_event.push(p.life);
        // What this event realized belongs to the life that was open before it: a fill
        // that crosses zero closes the old life and opens the new one at its price.
        if let Some((life, realized_before, false)) = before {
            let delta = p.realized.checked_sub(realized_before).unwrap_or_default();
            if let Some(l) = lives.iter_mut().rev().find(|l| l.ordinal == life) {
                l.realized = l.realized.checked_add(delta).unwrap_or(l.realized);
                l.last_seq = seq;
            }
        }
        if !p.qty.is_zero() {
            match lives.last_mut() {
                Some(l) if l.ordinal == p.life => l.last_seq = seq,
                _ => lives.push(Life {
                    ordinal: p.life,
                    first_seq: seq,
                    last_seq: seq,
                    realized: crate::event::Decimal::ZERO,
                    open: true,
                }),
            }
        }
        let current = p.life;
        let open = !p.qty.is_zero();
        for l in lives.iter_mut().rev().take(2) {
            l.open = open && l.ordinal == current;
        }
    }
    Ok(Recomputed {
        projection,
        lives,
        lives_of_events: per_event,
        overfills,
    })
}

fn event_json(e: &ProvenEvent, life: u32, overfills: &[u64]) -> Result<Value> {
    let mut line = Vec::new();
    write_event(&e.envelope, &mut line)?;
    let mut value: Value = serde_json::from_slice(&line)?;
    if let Value::Object(map) = &mut value {
        map.insert("hash".into(), Value::String(e.digest.to_hex()));
        map.insert("life".into(), json!(life));
        if overfills.binary_search(&e.envelope.seq).is_ok() {
            map.insert("overfill".into(), json!(true));
        }
    }
    Ok(value)
}

/// What the human listing shows.
struct View<'a> {
    shown: &'a [(&'a ProvenEvent, u32)],
    total: usize,
    tail: Option<usize>,
    /// Seqs of overfilling fills (ascending), marked in the listing.
    overfills: &'a [u64],
}

fn is_market(payload: &Payload) -> bool {
    matches!(
        payload,
        Payload::Trade(_) | Payload::Candle(_) | Payload::Quote(_)
    )
}

fn human(
    key: &PositionKey,
    view: &View<'_>,
    lives: &[Life],
    recomputed: &Projection,
    matches: bool,
    head: crate::log::Head,
) -> String {
    let skip = |n: usize| view.tail.map_or(0, |t| n.saturating_sub(t));
    let mut table = Table::new(
        &["seq", "time", "life", "kind", "details", "hash"],
        &["seq", "life"],
    );
    for (e, life) in view.shown.iter().skip(skip(view.shown.len())) {
        table.row(vec![
            e.envelope.seq.to_string(),
            e.envelope.event.ts.to_string(),
            if *life == 0 {
                "-".into()
            } else {
                life.to_string()
            },
            e.envelope.event.payload.kind().to_string(),
            match view.overfills.binary_search(&e.envelope.seq) {
                Ok(_) => format!("{}  OVERFILL", summary(&e.envelope.event.payload)),
                Err(_) => summary(&e.envelope.event.payload),
            },
            e.digest.to_hex()[..16].to_string(),
        ]);
    }
    let mut life_table = Table::new(
        &["life", "first_seq", "last_seq", "realized", "state"],
        &["life", "first_seq", "last_seq", "realized"],
    );
    for l in lives.iter().skip(skip(lives.len())) {
        life_table.row(vec![
            l.ordinal.to_string(),
            l.first_seq.to_string(),
            l.last_seq.to_string(),
            l.realized.to_string(),
            if l.open {
                "open".into()
            } else {
                "closed".into()
            },
        ]);
    }
    let overfilled = match view.overfills {
        [] => String::new(),
        seqs => super::replay::overfill_line(seqs),
    };
    format!(
        "audit of {key}: {} events ({} listed), {} lives\n\n{}\nlives\n{}\nrecomputed from these events alone\n{}\nmatches full replay: {}\nhash chain: ok (genesis to head seq {}, hash {})\n{overfilled}",
        view.total,
        view.shown.len() - skip(view.shown.len()),
        lives.len(),
        table.render(),
        life_table.render(),
        positions_table(recomputed.position(key)),
        if matches { "yes" } else { "NO" },
        head.seq,
        head.hash
    )
}

/// The essential fields of an event, on one line.
pub fn summary(payload: &Payload) -> String {
    let opt = |v: &Option<crate::event::Decimal>| v.map(|v| format!(" @ {v}")).unwrap_or_default();
    match payload {
        Payload::Fill(f) => format!(
            "{} {} @ {} fee {} exec {}{}",
            f.side.as_str(),
            f.qty,
            f.px,
            f.fee,
            f.exec_id,
            f.order_id
                .as_ref()
                .map(|o| format!(" order {o}"))
                .unwrap_or_default()
        ),
        Payload::Trade(t) => format!(
            "{}{} @ {}",
            t.side
                .map(|s| format!("{} ", s.as_str()))
                .unwrap_or_default(),
            t.qty,
            t.px
        ),
        Payload::Candle(c) => format!(
            "{} o {} h {} l {} c {} v {}",
            c.timeframe, c.open, c.high, c.low, c.close, c.volume
        ),
        Payload::Funding(f) => format!("amount {}", f.amount),
        Payload::FundingRate(f) => format!("rate {}", f.rate),
        Payload::OrderSubmitted(o) => format!(
            "{} {} {} {}{} {}",
            o.client_order_id,
            o.side.as_str(),
            name(&o.order_type),
            o.qty,
            opt(&o.px),
            name(&o.tif)
        ),
        Payload::OrderAccepted(o) => format!(
            "{} venue id {}",
            o.client_order_id,
            o.venue_order_id
                .as_ref()
                .map(|v| v.to_string())
                .unwrap_or_else(|| "-".into())
        ),
        Payload::OrderRejected(o) => format!("{}: {}", o.client_order_id, o.reason),
        Payload::OrderCancelled(o) => format!(
            "{}{}",
            o.client_order_id,
            o.reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
        Payload::OrderAmendRequested(a) | Payload::OrderAmended(a) => format!(
            "{} qty {} px {}",
            a.client_order_id,
            a.qty.map(|v| v.to_string()).unwrap_or("-".into()),
            a.px.map(|v| v.to_string()).unwrap_or("-".into())
        ),
        Payload::Intent(i) => format!(
            "{} {} {} ({})",
            i.intent_id,
            name(&i.action),
            i.side.as_str(),
            i.reason
        ),
        Payload::Plan(p) => format!("{}: {} orders", p.intent_id, p.orders.len()),
        Payload::Skip(s) => format!("{}: {} {}", s.intent_id, name(&s.reason), s.detail),
        Payload::Liquidation(f) | Payload::Adl(f) => format!(
            "{} {} @ {} exec {}",
            f.side.as_str(),
            f.qty,
            f.px,
            f.exec_id
        ),
        other => other
            .client_order_id()
            .map(|id| id.to_string())
            .unwrap_or_default(),
    }
}

/// The JSON name of a unit enum value (`stop_market`, `gtc`, `below_min_notional`).
fn name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "?".to_string(),
    }
}
