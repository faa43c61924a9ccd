//! `ledger stats`: head, event counts by kind, blocks, checkpoints, size on disk, and
//! the sessions, with a warning for any that never recorded its end.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::Path;

use anyhow::Result;
use serde_json::json;

use super::{Output, Table};

/// Arguments of `ledger stats`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `ledger stats`.
pub fn exec(db: &Path, _args: Args, out: Output) -> Result<()> {
    let ledger = super::open_to_read(db)?;
    let reader = ledger.reader()?;
    let head = reader.head()?;
    let bar = out.progress(head.seq, "stats");
    let mut kinds: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut encoded = 0u64;
    let mut blocks = 0u64;
    let mut sessions = crate::report::Sessions::default();
    reader.for_each_block(1, u64::MAX, |header, body| {
        blocks += 1;
        encoded += body.len() as u64;
        crate::log::for_each_record(header, body, |seq, record| {
            let event = crate::log::decode_record(header, seq, record)?;
            *kinds.entry(event.payload.kind()).or_default() += 1;
            sessions.apply(seq, event.ts, &event.payload);
            Ok(ControlFlow::Continue(()))
        })?;
        bar.set_position(header.last_seq());
        Ok(ControlFlow::Continue(()))
    })?;
    bar.finish_and_clear();
    let checkpoints = reader.checkpoints()?.len();
    let file_bytes = ledger.file_size();
    let per_event = |bytes: u64| {
        if head.seq == 0 {
            0.0
        } else {
            bytes as f64 / head.seq as f64
        }
    };
    if out.json {
        out.json_value(&json!({
            "head_seq": head.seq,
            "head_hash": head.hash.to_hex(),
            "events": head.seq,
            "blocks": blocks,
            "checkpoints": checkpoints,
            "positions": reader.position_keys()?.len(),
            "kinds": kinds,
            "file_bytes": file_bytes,
            "encoded_bytes": encoded,
            "file_bytes_per_event": (per_event(file_bytes) * 10.0).round() / 10.0,
            "encoded_bytes_per_event": (per_event(encoded) * 10.0).round() / 10.0,
            "sessions": super::report::sessions_json(&sessions),
            "incomplete_sessions": sessions.incomplete().count(),
        }))?;
        if let Some(warning) = sessions.warning() {
            out.note(&format!("warning: {warning}"));
        }
    } else {
        let mut table = Table::new(&["kind", "events"], &["events"]);
        for (kind, n) in &kinds {
            table.row(vec![kind.to_string(), n.to_string()]);
        }
        let complete = sessions.list().len() - sessions.incomplete().count();
        let warning = sessions
            .warning()
            .map_or_else(String::new, |w| format!("warning: {w}\n"));
        out.text(&format!(
            "head seq {}  hash {}\n{} events in {blocks} blocks, {checkpoints} checkpoints, {} positions\nfile {} bytes ({:.1} per event); encoded events {} bytes ({:.1} per event)\nsessions: {} ({complete} complete)\n{warning}\n{}",
            head.seq, head.hash, head.seq, reader.position_keys()?.len(), file_bytes, per_event(file_bytes), encoded, per_event(encoded), sessions.list().len(), table.render()
        ))?;
    }
    Ok(())
}
