//! `ledger import FILE.jsonl`: append a JSON Lines file, all or nothing.
//!
//! The whole file goes into one redb write transaction: any bad line, or any event
//! that does not apply (e.g. an impossible order transition), aborts it, so nothing
//! from the file is appended. A parser thread reads and parses while this thread
//! appends, so the two cores overlap; it also encodes each event and hashes its
//! execution id, leaving the writer only the work that needs the ledger's state.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use anyhow::{Context, Result, anyhow};
use serde_json::json;

use super::Output;
use crate::event::json::parse_event;
use crate::log::{Ledger, OpenMode, Prepared, Writer, WriterOptions};

/// Lines parsed per batch handed to the writer: large enough to amortize the channel,
/// small enough that the two threads overlap well.
const BATCH_LINES: usize = 8192;

/// Batches in flight between the parser and the writer (bounds memory).
const BATCHES_IN_FLIGHT: usize = 8;

/// Arguments of `ledger import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// JSON Lines file, one event per line, tagged by "type".
    pub file: PathBuf,
    /// Store a projection checkpoint every this many events.
    #[arg(long, default_value_t = crate::log::DEFAULT_CHECKPOINT_EVERY)]
    pub checkpoint_every: u64,
}

struct Batch {
    /// Parsed and encoded on the parser thread (see `Prepared`).
    events: Prepared,
    lines: Vec<u64>,
    bytes: u64,
}

/// Counts of one import.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportSummary {
    /// Events appended.
    pub appended: u64,
    /// Duplicate executions skipped.
    pub duplicates: u64,
}

/// Run `ledger import`.
pub fn exec(db: &Path, args: Args, out: Output) -> Result<()> {
    let ledger = Ledger::open(db, OpenMode::CreateIfMissing)
        .with_context(|| format!("cannot open ledger {}", db.display()))?;
    let options = WriterOptions {
        checkpoint_every: args.checkpoint_every.max(1),
        ..WriterOptions::default()
    };
    let summary = import_file(&ledger, &args.file, options, out)?;
    let head = ledger.reader()?.head()?;
    if out.json {
        out.json_value(&json!({
            "appended": summary.appended,
            "skipped_duplicates": summary.duplicates,
            "head_seq": head.seq,
            "head_hash": head.hash.to_hex(),
        }))?;
    } else {
        out.text(&format!(
            "appended {} events, skipped {} duplicate executions\nhead seq {}  hash {}\n",
            summary.appended, summary.duplicates, head.seq, head.hash
        ))?;
    }
    Ok(())
}

/// Import `path` into `ledger` in one transaction. Used by `import` and `demo`.
pub fn import_file(
    ledger: &Ledger,
    path: &Path,
    options: WriterOptions,
    out: Output,
) -> Result<ImportSummary> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut writer = Writer::new(ledger, options)?;
    let bar = out.progress(total, "import");
    let (tx, rx) = mpsc::sync_channel(BATCHES_IN_FLIGHT);
    let parse_path = path.to_path_buf();
    let parser = std::thread::spawn(move || parse_lines(file, &parse_path, tx));
    let mut summary = ImportSummary::default();
    let mut failure = None;
    for batch in rx.iter() {
        let batch: Batch = match batch {
            Ok(b) => b,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        bar.inc(batch.bytes);
        match writer.append_prepared(batch.events) {
            Ok(o) if o.rejected.is_empty() => {
                summary.appended += o.appended;
                summary.duplicates += o.duplicates;
            }
            Ok(o) => {
                let (index, err) = &o.rejected[0];
                let line = batch.lines.get(*index).copied().unwrap_or(0);
                failure = Some(anyhow!("{}:{line}: {err}", path.display()));
                break;
            }
            Err(e) => {
                failure =
                    Some(anyhow::Error::new(e).context(format!("importing {}", path.display())));
                break;
            }
        }
    }
    drop(rx);
    let parsed = parser
        .join()
        .map_err(|_| anyhow!("the parser thread panicked"))?;
    bar.finish_and_clear();
    if let Some(err) = failure.or(parsed.err()) {
        writer.abort().context("rolling back the import")?;
        return Err(err.context("nothing was appended"));
    }
    writer.checkpoint_now()?;
    writer
        .commit()
        .with_context(|| format!("committing the import of {}", path.display()))?;
    Ok(summary)
}

fn parse_lines(file: File, path: &Path, tx: mpsc::SyncSender<Result<Batch>>) -> Result<()> {
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::with_capacity(1024);
    let mut line_no = 0u64;
    let mut batch = new_batch();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("{}:{}: cannot read", path.display(), line_no + 1))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        batch.bytes += n as u64;
        let text = match std::str::from_utf8(&buf) {
            Ok(t) => t.trim(),
            Err(e) => {
                return send_error(
                    &tx,
                    anyhow!("{}:{line_no}: not UTF-8 ({e})", path.display()),
                );
            }
        };
        if text.is_empty() {
            continue;
        }
        match parse_event(text) {
            Ok(event) => {
                if let Err(e) = batch.events.push(event) {
                    return send_error(
                        &tx,
                        anyhow!("{}:{line_no}: cannot store this event: {e}", path.display()),
                    );
                }
                batch.lines.push(line_no);
            }
            Err(e) => return send_error(&tx, anyhow!("{}:{line_no}: {e}", path.display())),
        }
        if batch.events.len() >= BATCH_LINES
            && tx
                .send(Ok(std::mem::replace(&mut batch, new_batch())))
                .is_err()
        {
            return Ok(());
        }
    }
    if !batch.events.is_empty() {
        let _ = tx.send(Ok(batch));
    }
    Ok(())
}

fn new_batch() -> Batch {
    Batch {
        events: Prepared::with_capacity(BATCH_LINES),
        lines: Vec::with_capacity(BATCH_LINES),
        bytes: 0,
    }
}

fn send_error(tx: &mpsc::SyncSender<Result<Batch>>, err: anyhow::Error) -> Result<()> {
    // The receiver may have stopped already; then the error it stopped for wins.
    let _ = tx.send(Err(err));
    Ok(())
}
