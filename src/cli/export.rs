//! `ledger export [--from N] [--to M]`: events as JSON Lines on stdout, streamed.

use std::io::{BufWriter, Write};
use std::ops::ControlFlow;
use std::path::Path;

use anyhow::Result;

use super::Output;
use crate::event::json::write_event;
use crate::log::LogError;

/// Arguments of `ledger export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// First seq to write.
    #[arg(long, default_value_t = 1)]
    pub from: u64,
    /// Last seq to write (default: the head).
    #[arg(long)]
    pub to: Option<u64>,
}

/// Run `ledger export`.
pub fn exec(db: &Path, args: Args, _out: Output) -> Result<()> {
    let ledger = super::open_to_read(db)?;
    let reader = ledger.reader()?;
    let to = args.to.unwrap_or(u64::MAX);
    let stdout = std::io::stdout().lock();
    let mut sink = BufWriter::with_capacity(1 << 20, stdout);
    let mut line = Vec::with_capacity(1024);
    let mut io_error = None;
    reader.for_each_event(args.from.max(1), to, |envelope| {
        line.clear();
        write_event(&envelope, &mut line).map_err(|e| LogError::Encode {
            seq: envelope.seq,
            detail: e.to_string(),
        })?;
        if let Err(e) = sink.write_all(&line) {
            io_error = Some(e);
            return Ok(ControlFlow::Break(()));
        }
        Ok(ControlFlow::Continue(()))
    })?;
    if let Some(e) = io_error {
        return Err(e.into());
    }
    sink.flush()?;
    Ok(())
}
