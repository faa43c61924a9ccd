//! `ledger import FILE.jsonl`: append a JSON Lines file, all or nothing.
//!
//! The whole file goes into one redb write transaction: any bad line, or any event
//! that does not apply (e.g. an impossible order transition), aborts it, so nothing
//! from the file is appended. A parser thread reads and parses while this thread
//! appends, so the two cores overlap; it also encodes each event. Hashing execution ids
//! is left to the writer, which measured as the less busy of the two.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use anyhow::{Context, Result, anyhow};
use serde_json::json;

use super::Output;
use crate::event::Timestamp;
use crate::event::json::parse_event;
use crate::log::{Ledger, OpenMode, Prepared, Writer, WriterOptions};

/// Lines parsed per batch handed to the writer: large enough to amortize the channel,
/// small enough that the two threads overlap well.
const BATCH_LINES: usize = 8192;

/// Batches in flight between the parser and the writer (bounds memory: ~3 MB each).
const BATCHES_IN_FLIGHT: usize = 4;

/// Arguments of `ledger import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// JSON Lines file, one event per line, tagged by "type".
    pub file: PathBuf,
    /// Store a projection checkpoint every this many events (at least 1).
    #[arg(long, default_value_t = crate::log::DEFAULT_CHECKPOINT_EVERY,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub checkpoint_every: u64,
}

struct Batch {
    /// Parsed and encoded on the parser thread (see `Prepared`).
    events: Prepared,
    lines: Vec<u64>,
    bytes: u64,
    /// Events in this batch older than an event before them (see `ImportSummary`).
    out_of_order: u64,
}

/// Counts of one import.
#[derive(Debug, Clone, Default)]
pub struct ImportSummary {
    /// Events appended.
    pub appended: u64,
    /// Duplicate executions skipped (exact repeats of a stored execution).
    pub duplicates: u64,
    /// Events whose `ts` is earlier than that of an event before them (in the log or
    /// the file). Taken as they are: the log is ordered by seq, not by time
    /// (ARCHITECTURE.md, "Time order"), but a user importing a file should know.
    pub out_of_order: u64,
    /// Seqs of the fills that took their order past its quantity (applied, flagged).
    pub overfills: Vec<u64>,
}

/// Run `ledger import`.
pub fn exec(db: &Path, args: Args, out: Output) -> Result<()> {
    let ledger = Ledger::open(db, OpenMode::CreateIfMissing).context("cannot open the ledger")?;
    let options = WriterOptions {
        checkpoint_every: args.checkpoint_every,
        ..WriterOptions::default()
    };
    let summary = import_file(&ledger, &args.file, options, out)?;
    let head = ledger.reader()?.head()?;
    if out.json {
        out.json_value(&json!({
            "appended": summary.appended,
            "skipped_duplicates": summary.duplicates,
            "out_of_time_order": summary.out_of_order,
            "overfills": summary.overfills,
            "head_seq": head.seq,
            "head_hash": head.hash.to_hex(),
        }))?;
    } else {
        let mut text = format!(
            "appended {} events, skipped {} duplicate executions\nhead seq {}  hash {}\n",
            summary.appended, summary.duplicates, head.seq, head.hash
        );
        if summary.out_of_order > 0 {
            text.push_str(&format!(
                "note: {} events are older than an event before them (kept in file order)\n",
                summary.out_of_order
            ));
        }
        if !summary.overfills.is_empty() {
            text.push_str(&super::replay::overfill_line(&summary.overfills));
        }
        out.text(&text)?;
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
    let mut writer = Writer::new(ledger, options)
        .with_context(|| format!("cannot append to {}", ledger.path().display()))?;
    let latest = writer.projection().last_ts();
    let bar = out.progress_bytes(total, "import");
    let (tx, rx) = mpsc::sync_channel(BATCHES_IN_FLIGHT);
    // Appended batches go back to the parser to be refilled (see `append_prepared`).
    let (spare_tx, spare_rx) = mpsc::channel();
    let parse_path = path.to_path_buf();
    let parser = std::thread::spawn(move || parse_lines(file, &parse_path, latest, tx, spare_rx));
    let (stop_flushing, flushing) = mpsc::channel::<()>();
    let ledger_path = ledger.path().to_path_buf();
    let flusher = std::thread::spawn(move || flush_behind(&ledger_path, flushing));
    let mut summary = ImportSummary::default();
    let mut failure = None;
    for batch in rx.iter() {
        let mut batch: Batch = match batch {
            Ok(b) => b,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        bar.inc(batch.bytes);
        match writer.append_prepared(&mut batch.events) {
            Ok(o) if o.rejected.is_empty() => {
                summary.appended += o.appended;
                summary.duplicates += o.duplicates;
                summary.out_of_order += batch.out_of_order;
                summary.overfills.extend(o.overfills);
                batch.lines.clear();
                batch.bytes = 0;
                batch.out_of_order = 0;
                // The parser may have finished: then the batch is simply dropped.
                let _ = spare_tx.send(batch);
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
    drop(stop_flushing);
    let parsed = parser
        .join()
        .map_err(|_| anyhow!("the parser thread panicked"))?;
    // It only ever sleeps and syncs; a panic there would change nothing written.
    let _ = flusher.join();
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

/// How often `flush_behind` pushes the ledger file's written pages to the disk.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Push what the import has written so far to the disk, every `FLUSH_EVERY`, until
/// `stop` closes. The import is one transaction of about a gigabyte per 10 M events;
/// the kernel starts writing dirty pages back only past a share of memory (gigabytes
/// here), so without this the final commit's fsync writes it all while the import
/// waits. Flushed early, that work overlaps the parsing.
///
/// Durability does not depend on it: the commit still syncs everything itself. So a
/// failure here only loses the overlap, and is not reported: an I/O error it meets
/// is reported to the commit's own sync too (Linux reports a writeback error to every
/// descriptor open when it happened).
fn flush_behind(ledger_path: &Path, stop: mpsc::Receiver<()>) {
    let Ok(file) = File::open(ledger_path) else {
        return;
    };
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(FLUSH_EVERY) {
        let _ = file.sync_data();
    }
}

/// Parse `file` into batches for the writer. `latest` is the time of the log's last
/// event: an event older than it, or than any before it in the file, is counted.
fn parse_lines(
    file: File,
    path: &Path,
    mut latest: Timestamp,
    tx: mpsc::SyncSender<Result<Batch>>,
    spares: mpsc::Receiver<Batch>,
) -> Result<()> {
    let mut lines = Lines::new(file);
    let mut line_no = 0u64;
    let mut batch = new_batch();
    loop {
        let line = lines
            .next_line()
            .with_context(|| format!("{}:{}: cannot read", path.display(), line_no + 1))?;
        let Some(line) = line else {
            break;
        };
        line_no += 1;
        batch.bytes += line.len() as u64 + 1;
        // A byte order mark before the first line is an editor's, not the data's (CSV
        // and YAML inputs accept one too).
        let line = match line_no {
            1 => line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line),
            _ => line,
        };
        let text = match std::str::from_utf8(line) {
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
                if event.ts < latest {
                    batch.out_of_order += 1;
                } else {
                    latest = event.ts;
                }
                // The writer has the spare time: it hashes the execution ids.
                if let Err(e) = batch.events.push_encoded(event) {
                    return send_error(
                        &tx,
                        anyhow!("{}:{line_no}: cannot store this event: {e}", path.display()),
                    );
                }
                batch.lines.push(line_no);
            }
            Err(e) => return send_error(&tx, anyhow!("{}:{line_no}: {e}", path.display())),
        }
        if batch.events.len() >= BATCH_LINES {
            let next = spares.try_recv().unwrap_or_else(|_| new_batch());
            if tx.send(Ok(std::mem::replace(&mut batch, next))).is_err() {
                return Ok(());
            }
        }
    }
    if !batch.events.is_empty() {
        let _ = tx.send(Ok(batch));
    }
    Ok(())
}

/// A file's lines, read in large chunks and handed out as slices of the chunk:
/// `BufRead::read_until` would copy every line out once more.
struct Lines {
    file: File,
    buf: Vec<u8>,
    /// Unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    eof: bool,
    /// Bytes read from the file so far, and how far ahead of that the kernel has been
    /// asked to read (see `read_ahead`).
    read: u64,
    advised: u64,
}

/// How far ahead of the parser the kernel is asked to read the file.
const READ_AHEAD: u64 = 64 << 20;

impl Lines {
    fn new(file: File) -> Lines {
        Lines::with_buffer(file, 1 << 20)
    }

    fn with_buffer(file: File, bytes: usize) -> Lines {
        Lines {
            file,
            buf: vec![0; bytes.max(1)],
            start: 0,
            end: 0,
            eof: false,
            read: 0,
            advised: 0,
        }
    }

    /// Ask the kernel to read the next `READ_AHEAD` bytes in the background, once the
    /// parser is halfway through what it asked for last: a file that is not (or no
    /// longer) in the page cache would otherwise make the parser wait on the disk in
    /// 128 KiB steps. Only advice: when refused, reading is just slower, so the error
    /// is not worth stopping (or warning) for.
    fn read_ahead(&mut self) {
        #[cfg(target_os = "linux")]
        if self.read + READ_AHEAD / 2 >= self.advised {
            let len = std::num::NonZeroU64::new(READ_AHEAD);
            let advice = rustix::fs::Advice::WillNeed;
            let _ = rustix::fs::fadvise(&self.file, self.advised, len, advice);
            self.advised += READ_AHEAD;
        }
    }

    /// The next line without its `\n` (a last line without one included), or `None`
    /// at the end of the file.
    fn next_line(&mut self) -> std::io::Result<Option<&[u8]>> {
        loop {
            let unread = &self.buf[self.start..self.end];
            if let Some(at) = memchr::memchr(b'\n', unread) {
                let line = self.start..self.start + at;
                self.start += at + 1;
                return Ok(Some(&self.buf[line]));
            }
            if self.eof {
                let line = self.start..self.end;
                self.start = self.end;
                return Ok((!line.is_empty()).then(|| &self.buf[line]));
            }
            // Keep the partial line, at the front; a line longer than the buffer
            // doubles it.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
            self.read_ahead();
            match self.file.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.end += n;
                    self.read += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

fn new_batch() -> Batch {
    Batch {
        events: Prepared::with_capacity(BATCH_LINES),
        lines: Vec::with_capacity(BATCH_LINES),
        bytes: 0,
        out_of_order: 0,
    }
}

fn send_error(tx: &mpsc::SyncSender<Result<Batch>>, err: anyhow::Error) -> Result<()> {
    // The receiver may have stopped already; then the error it stopped for wins.
    let _ = tx.send(Err(err));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line, as `split('\n')` gives them (without the empty piece after a final
    /// newline), whatever the buffer size: lines across chunk ends, lines longer than
    /// the buffer, empty lines, a last line without a newline.
    #[test]
    fn lines_are_read_whole_across_chunk_boundaries() {
        let long = "x".repeat(100);
        let texts = [
            String::new(),
            "\n".to_string(),
            "a".to_string(),
            "a\n".to_string(),
            "a\nbc\n\ndef".to_string(),
            format!("{long}\nshort\n{long}{long}\n\r\n"),
            "é\nü\n".to_string(),
        ];
        for text in texts {
            let mut expected: Vec<&str> = text.split('\n').collect();
            if text.is_empty() || text.ends_with('\n') {
                expected.pop();
            }
            for buffer in [1, 2, 3, 7, 64, 1 << 20] {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("lines.jsonl");
                std::fs::write(&path, &text).unwrap();
                let mut lines = Lines::with_buffer(File::open(&path).unwrap(), buffer);
                let mut got = Vec::new();
                while let Some(line) = lines.next_line().unwrap() {
                    got.push(String::from_utf8(line.to_vec()).unwrap());
                }
                assert_eq!(got, expected, "{text:?} with a {buffer}-byte buffer");
            }
        }
    }
}
