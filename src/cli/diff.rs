//! `ledger diff A B`: where two ledgers part ways — the first differing seq, the two
//! events there side by side, and the two final projections' positions side by side.
//!
//! Exit status like `diff(1)`: 0 identical, 1 different, 2 trouble (3 when a ledger is
//! corrupt). Both ledgers are positional (there is no `--db`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::positions::position_json;
use super::{Output, Table};
use crate::event::json::write_event;
use crate::event::{Envelope, Event, Seq};
use crate::log::{DecisionDiff, Head, Ledger, LogDiff, diff, diff_decisions, projection_at};

/// Exit status when the ledgers differ.
pub const EXIT_DIFFERENT: u8 = 1;

/// Exit status when the comparison itself failed (a missing file, a read error).
pub const EXIT_TROUBLE: u8 = 2;

/// Arguments of `ledger diff`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Exit status: 0 when the two logs hold the same events, 1 when they differ, 2 on trouble
(3 when a ledger is corrupt). Every block of both ledgers is read and checked, and
their identities (the head hashes) recomputed; records are compared seq by seq, so
the same events stored in different blocks are identical.")]
pub struct Args {
    /// The first ledger database.
    pub a: PathBuf,
    /// The second ledger database.
    pub b: PathBuf,
    /// Compare only the decisions (intents, plans, skips, in order, with their times):
    /// a paper session against a backtest of its recorded market data (`run
    /// --from-log`) must decide the same, whatever else differs.
    #[arg(long)]
    pub decisions: bool,
}

/// Run `ledger diff`; returns the exit status.
pub fn exec(args: Args, out: Output) -> Result<u8> {
    let open = super::open_to_read;
    let a = open(&args.a)?;
    // The same file twice: one handle (redb locks a file to one opener).
    let same_file = match (args.a.canonicalize(), args.b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    };
    let b = if same_file { a.clone() } else { open(&args.b)? };
    if args.decisions {
        return decisions(&args, &a, &b, out);
    }
    let outcome = diff(&a, &b)?;
    let positions = side_by_side(&a, &b, &outcome)?;
    if out.json {
        out.json_value(&diff_json(&args, &outcome, &positions)?)?;
    } else {
        out.text(&human(&args, &outcome, &positions)?)?;
    }
    let identical = outcome.first_difference.is_none();
    Ok(if identical { 0 } else { EXIT_DIFFERENT })
}

/// One position in both final projections (`None`: the log never touched it).
struct PositionPair {
    key: String,
    a: Option<Value>,
    b: Option<Value>,
    differs: Vec<&'static str>,
}

fn side_by_side(a: &Ledger, b: &Ledger, outcome: &LogDiff) -> Result<Vec<PositionPair>> {
    let fold = |ledger: &Ledger, head: Head| -> Result<BTreeMap<String, Value>> {
        let reader = ledger.reader()?;
        let (projection, _) = projection_at(&reader, head.seq)
            .with_context(|| format!("folding {}", ledger.path().display()))?;
        Ok(projection
            .positions()
            .map(|p| (p.key.to_string(), position_json(p)))
            .collect())
    };
    let mut pa = fold(a, outcome.head_a)?;
    let mut pb = fold(b, outcome.head_b)?;
    let keys: std::collections::BTreeSet<String> = pa.keys().chain(pb.keys()).cloned().collect();
    Ok(keys
        .into_iter()
        .map(|key| {
            let (a, b) = (pa.remove(&key), pb.remove(&key));
            let differs = super::positions::FIELDS
                .iter()
                .copied()
                .filter(|f| field(a.as_ref(), f) != field(b.as_ref(), f))
                .collect();
            PositionPair { key, a, b, differs }
        })
        .collect())
}

fn field<'v>(p: Option<&'v Value>, name: &str) -> Option<&'v Value> {
    p.and_then(|p| p.get(name))
}

/// An event's JSON Lines form, without the newline.
fn event_line(seq: Seq, event: &Event) -> Result<String> {
    let mut line = Vec::new();
    write_event(
        &Envelope {
            seq,
            event: event.clone(),
        },
        &mut line,
    )?;
    Ok(String::from_utf8(line)?.trim_end().to_string())
}

/// An event's JSON Lines form as a value.
fn event_value(seq: Seq, event: &Event) -> Result<Value> {
    Ok(serde_json::from_str(&event_line(seq, event)?)?)
}

fn head_json(path: &Path, head: Head) -> Value {
    json!({
        "path": path.display().to_string(),
        "head_seq": head.seq,
        "head_hash": head.hash.to_hex(),
        "block_hash": head.chain.to_hex(),
    })
}

fn diff_json(args: &Args, d: &LogDiff, positions: &[PositionPair]) -> Result<Value> {
    let first = match &d.first_difference {
        None => Value::Null,
        Some(f) => {
            let side = |e: &Option<Event>| -> Result<Value> {
                Ok(match e {
                    None => Value::Null,
                    Some(e) => json!({"type": e.payload.kind(), "event": event_value(f.seq, e)?}),
                })
            };
            json!({"seq": f.seq, "a": side(&f.a)?, "b": side(&f.b)?})
        }
    };
    Ok(json!({
        "identical": d.first_difference.is_none(),
        "a": head_json(&args.a, d.head_a),
        "b": head_json(&args.b, d.head_b),
        "common_blocks_seq": d.common_blocks_seq,
        "first_difference": first,
        "positions": positions.iter().map(|p| json!({
            "key": p.key,
            "a": p.a,
            "b": p.b,
            "differs": p.differs,
        })).collect::<Vec<_>>(),
    }))
}

fn human(args: &Args, d: &LogDiff, positions: &[PositionPair]) -> Result<String> {
    let mut out = String::new();
    for (name, path, head) in [("a", &args.a, d.head_a), ("b", &args.b, d.head_b)] {
        out.push_str(&format!(
            "{name}: {}  head seq {}  hash {}\n",
            path.display(),
            head.seq,
            head.hash
        ));
    }
    match &d.first_difference {
        None if d.head_a.chain == d.head_b.chain => out.push_str(&format!(
            "identical: {} events, common head seq {} hash {}\n",
            d.head_a.seq, d.head_a.seq, d.head_a.hash
        )),
        None => out.push_str(&format!(
            "identical: {} events, common head seq {} hash {} \
             (stored in different blocks)\n",
            d.head_a.seq, d.head_a.seq, d.head_a.hash
        )),
        Some(f) => {
            out.push_str(&format!(
                "block headers identical up to seq {}\nfirst difference at seq {}\n",
                d.common_blocks_seq, f.seq
            ));
            for (name, e) in [("a", &f.a), ("b", &f.b)] {
                let text = match e {
                    None => "(absent)".to_string(),
                    Some(e) => format!("{}  {}", e.payload.kind(), event_line(f.seq, e)?),
                };
                out.push_str(&format!("  {name}: {text}\n"));
            }
        }
    }
    out.push('\n');
    out.push_str(&positions_table(positions));
    Ok(out)
}

/// One row per position and field: both values, `*` where they differ.
fn positions_table(positions: &[PositionPair]) -> String {
    let mut table = Table::new(&["position", "field", "a", "b", "diff"], &["a", "b"]);
    let show = |v: Option<&Value>| match v {
        None => "(absent)".to_string(),
        Some(Value::Null) => "-".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    for p in positions {
        for f in super::positions::FIELDS {
            let mark = if p.differs.contains(f) { "*" } else { "" };
            table.row(vec![
                p.key.clone(),
                f.to_string(),
                show(field(p.a.as_ref(), f)),
                show(field(p.b.as_ref(), f)),
                mark.to_string(),
            ]);
        }
    }
    table.render()
}

/// `ledger diff --decisions`.
fn decisions(args: &Args, a: &Ledger, b: &Ledger, out: Output) -> Result<u8> {
    let d = diff_decisions(a, b)?;
    if out.json {
        out.json_value(&decisions_json(args, &d)?)?;
    } else {
        out.text(&decisions_human(args, &d)?)?;
    }
    Ok(if d.first_difference.is_none() {
        0
    } else {
        EXIT_DIFFERENT
    })
}

fn decisions_json(args: &Args, d: &DecisionDiff) -> Result<Value> {
    let counts = |c: crate::log::DecisionCounts| json!({"intents": c.intents, "plans": c.plans, "skips": c.skips});
    let side = |e: &Option<(Seq, Event)>| -> Result<Value> {
        Ok(match e {
            None => Value::Null,
            Some((seq, e)) => {
                json!({"seq": seq, "type": e.payload.kind(), "event": event_value(*seq, e)?})
            }
        })
    };
    let first = match &d.first_difference {
        None => Value::Null,
        Some(f) => json!({"index": f.index, "a": side(&f.a)?, "b": side(&f.b)?}),
    };
    Ok(json!({
        "identical": d.first_difference.is_none(),
        "a": {"path": args.a.display().to_string(), "decisions": counts(d.a)},
        "b": {"path": args.b.display().to_string(), "decisions": counts(d.b)},
        "first_difference": first,
    }))
}

fn decisions_human(args: &Args, d: &DecisionDiff) -> Result<String> {
    let mut out = String::new();
    for (name, path, c) in [("a", &args.a, d.a), ("b", &args.b, d.b)] {
        out.push_str(&format!(
            "{name}: {}  {} intents, {} plans, {} skips\n",
            path.display(),
            c.intents,
            c.plans,
            c.skips
        ));
    }
    match &d.first_difference {
        None => out.push_str("decisions identical\n"),
        Some(f) => {
            out.push_str(&format!("first differing decision: #{}\n", f.index + 1));
            for (name, e) in [("a", &f.a), ("b", &f.b)] {
                let text = match e {
                    None => "(absent)".to_string(),
                    Some((seq, e)) => {
                        format!("seq {seq}  {}  {}", e.payload.kind(), event_line(*seq, e)?)
                    }
                };
                out.push_str(&format!("  {name}: {text}\n"));
            }
        }
    }
    Ok(out)
}
