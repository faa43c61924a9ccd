//! Comparing what two logs *decided*: their intents, plans and skips, in order,
//! whatever else (market data, connections, executions, seqs) lies between them.
//!
//! A paper session and a backtest over its recorded market events (`run --from-log`)
//! differ in everything around the decisions: session settings, bookkeeping events,
//! execution ids, seqs. What must not differ is what the strategy and executor did with
//! the same ticks; `ledger diff --decisions` checks exactly that.

use std::ops::ControlFlow;

use super::{Ledger, LogError};
use crate::event::{Event, Payload, Seq};

/// The first decisions that differ.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionDifference {
    /// Position in the sequence of decisions (0-based).
    pub index: usize,
    /// The decision in the first log, with its seq; `None`: that log has fewer.
    pub a: Option<(Seq, Event)>,
    /// The decision in the second log, with its seq.
    pub b: Option<(Seq, Event)>,
}

/// The outcome of comparing two logs' decisions.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionDiff {
    /// Decisions in the first log: intents, plans, skips.
    pub a: DecisionCounts,
    /// Decisions in the second log.
    pub b: DecisionCounts,
    /// `None` when every decision agrees (time and content).
    pub first_difference: Option<DecisionDifference>,
}

/// How many of each decision kind a log holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecisionCounts {
    /// Intents.
    pub intents: u64,
    /// Plans.
    pub plans: u64,
    /// Skips.
    pub skips: u64,
}

/// True for the events that record a decision.
pub fn is_decision(payload: &Payload) -> bool {
    matches!(
        payload,
        Payload::Intent(_) | Payload::Plan(_) | Payload::Skip(_)
    )
}

/// Compare the decisions of `a` and `b`. Memory grows with the number of decisions
/// (not of events): a year of minute bars decides a few thousand times.
pub fn diff_decisions(a: &Ledger, b: &Ledger) -> Result<DecisionDiff, LogError> {
    let (da, ca) = decisions(a)?;
    let (db, cb) = decisions(b)?;
    let first_difference = (0..da.len().max(db.len())).find_map(|index| {
        let (x, y) = (da.get(index), db.get(index));
        let same = matches!((x, y), (Some((_, x)), Some((_, y))) if x == y);
        (!same).then(|| DecisionDifference {
            index,
            a: x.cloned(),
            b: y.cloned(),
        })
    });
    Ok(DecisionDiff {
        a: ca,
        b: cb,
        first_difference,
    })
}

fn decisions(ledger: &Ledger) -> Result<(Vec<(Seq, Event)>, DecisionCounts), LogError> {
    let reader = ledger.reader()?;
    let head = reader.head_seq()?;
    let mut out = Vec::new();
    let mut counts = DecisionCounts::default();
    reader.for_each_event(1, head, |e| {
        match &e.event.payload {
            Payload::Intent(_) => counts.intents += 1,
            Payload::Plan(_) => counts.plans += 1,
            Payload::Skip(_) => counts.skips += 1,
            _ => return Ok(ControlFlow::Continue(())),
        }
        out.push((e.seq, e.event));
        Ok(ControlFlow::Continue(()))
    })?;
    Ok((out, counts))
}
