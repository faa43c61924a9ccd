//! Raw frame capture: every text frame appended as `<recv_ns>\t<frame>\n`, and a reader
//! that replays a capture through the same parser as the live feed.
//!
//! A frame's raw newlines are whitespace between JSON tokens (JSON escapes them inside
//! strings), so they are written as spaces and a line is always one frame.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::FeedError;
use super::bybit::{Parsed, Parser};
use crate::event::{Event, Timestamp, Venue};

/// Appends frames to a capture file (shared by the socket tasks).
#[derive(Debug)]
pub struct CaptureWriter {
    path: PathBuf,
    out: Mutex<BufWriter<File>>,
}

impl CaptureWriter {
    /// Open `path` for appending.
    pub fn create(path: &Path) -> Result<CaptureWriter, FeedError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| FeedError::Capture {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(CaptureWriter {
            path: path.to_path_buf(),
            out: Mutex::new(BufWriter::with_capacity(1 << 20, file)),
        })
    }

    /// Append one frame received at `recv`.
    pub fn write(&self, recv: Timestamp, frame: &str) -> Result<(), FeedError> {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let line = frame.replace(['\n', '\r'], " ");
        writeln!(out, "{}\t{line}", recv.as_nanos()).map_err(|source| FeedError::Capture {
            path: self.path.clone(),
            source,
        })
    }

    /// Push buffered lines to the file.
    pub fn flush(&self) -> Result<(), FeedError> {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        out.flush().map_err(|source| FeedError::Capture {
            path: self.path.clone(),
            source,
        })
    }
}

impl Drop for CaptureWriter {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Replays a capture file through the same parser: the same market events as live,
/// each with its capture's receive time as `recv_ts`. Frames the parser refuses are
/// skipped (as live); acks and pongs give nothing.
pub fn replay_capture(path: &Path, venue: &Venue) -> Result<Vec<Event>, FeedError> {
    if venue.as_str() != "bybit" {
        return Err(FeedError::UnknownVenue(venue.as_str().to_string()));
    }
    let io = |source| FeedError::Capture {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let mut parser = Parser::new();
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io)?;
        if line.is_empty() {
            continue;
        }
        let bad = |reason: &str| FeedError::CaptureLine {
            path: path.to_path_buf(),
            line: i + 1,
            reason: reason.to_string(),
        };
        let (recv, frame) = line.split_once('\t').ok_or_else(|| bad("no tab"))?;
        let recv: i64 = recv
            .parse()
            .map_err(|_| bad("receive time is not a number"))?;
        if let Ok(Parsed::Events(events)) = parser.parse(frame) {
            out.extend(events.into_iter().map(|mut e| {
                e.recv_ts = Some(Timestamp::from_nanos(recv));
                e
            }));
        }
    }
    Ok(out)
}
