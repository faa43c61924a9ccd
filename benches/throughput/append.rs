//! Appends from an in-process producer through the `Appender` (group commit): batches
//! of [`BATCH_EVENTS`], up to [`IN_FLIGHT_MAX`] waiting for their durable
//! acknowledgement, every one of them checked.
//!
//! The producer builds each batch as it goes (a few tens of ns per event, on the other
//! core from the writer thread), so the memory of a run stays at the batches in flight
//! instead of the whole data set. With [`Handover::Prepared`] it also encodes the
//! events and hashes their execution ids (`Appender::submit_prepared`), which is what a
//! producer with a core to spare should do; [`Handover::Events`] hands raw events over
//! and leaves all the work to the writer's thread.

use std::collections::VecDeque;
use std::path::Path;
use std::time::Instant;

use anyhow::{Result, bail, ensure};
use ledger::log::{
    AppendOutcome, Appender, Ledger, OpenMode, PendingAppend, Prepared, WriterOptions,
};

use crate::synth::{AppendMix, append_event};

/// Events per submitted batch.
const BATCH_EVENTS: u64 = 1_024;
/// Batches submitted and not yet acknowledged before the producer waits on the oldest.
const IN_FLIGHT_MAX: usize = 32;

/// What the producer hands to the appender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handover {
    /// Raw events: the writer thread encodes them.
    Events,
    /// Events encoded on the producer's thread.
    Prepared,
}

/// One timed append run.
#[derive(Debug, Clone, Copy)]
pub struct AppendRun {
    /// Events acknowledged durable.
    pub events: u64,
    /// From the first submit to the writer's last commit.
    pub secs: f64,
}

impl AppendRun {
    /// Events per second.
    pub fn rate(&self) -> f64 {
        self.events as f64 / self.secs
    }
}

/// Append `events` events of `mix` to a new ledger at `path`, then delete it.
pub fn run(path: &Path, events: u64, mix: AppendMix, handover: Handover) -> Result<AppendRun> {
    let ledger = Ledger::open(path, OpenMode::CreateIfMissing)?;
    let appender = Appender::start(&ledger, WriterOptions::default())?;
    let start = Instant::now();
    let mut in_flight: VecDeque<(u64, PendingAppend)> = VecDeque::with_capacity(IN_FLIGHT_MAX);
    let mut next = 0;
    while next < events {
        let count = BATCH_EVENTS.min(events - next);
        let batch = (next..next + count).map(|i| append_event(mix, i));
        let pending = match handover {
            Handover::Events => appender.submit(batch.collect())?,
            Handover::Prepared => {
                let mut prepared = Prepared::with_capacity(count as usize);
                for event in batch {
                    prepared.push(event)?;
                }
                appender.submit_prepared(prepared)?
            }
        };
        next += count;
        in_flight.push_back((count, pending));
        if in_flight.len() == IN_FLIGHT_MAX {
            let (count, pending) = in_flight.pop_front().expect("a batch is in flight");
            check(count, pending.wait()?)?;
        }
    }
    for (count, pending) in in_flight {
        check(count, pending.wait()?)?;
    }
    let head = appender.finish()?;
    let secs = start.elapsed().as_secs_f64();
    ensure!(
        head.seq == events,
        "head {} after {events} events",
        head.seq
    );
    drop(ledger);
    std::fs::remove_file(path)?;
    Ok(AppendRun { events, secs })
}

/// Every event of a batch must be written: no duplicates, no refusals.
fn check(count: u64, outcome: AppendOutcome) -> Result<()> {
    if let Some((index, err)) = outcome.rejected.first() {
        bail!("event {index} of a batch refused: {err}");
    }
    ensure!(
        outcome.appended == count && outcome.duplicates == 0,
        "batch of {count}: {} appended, {} duplicates",
        outcome.appended,
        outcome.duplicates
    );
    Ok(())
}

/// Median and 99th percentile latency (ms) of durable one-event commits, with redb's
/// two-phase commit (quick repair) on or off: what group commit amortizes away, and
/// what the two-phase commit costs.
pub fn commit_latency(db: &Path, commits: usize, two_phase_commit: bool) -> Result<(f64, f64)> {
    let ledger = ledger::log::Ledger::open(db, ledger::log::OpenMode::CreateIfMissing)?;
    let options = ledger::log::WriterOptions {
        two_phase_commit,
        ..Default::default()
    };
    let mut writer = ledger::log::Writer::new(&ledger, options)?;
    let mut times = Vec::with_capacity(commits);
    for i in 0..commits {
        let event = ledger::event::Event::new(
            ledger::event::Timestamp::from_nanos(1_700_000_000_000_000_000 + i as i64),
            ledger::event::Payload::SessionStopped(ledger::event::SessionStopped {
                reason: format!("tick {i}"),
            }),
        );
        let start = std::time::Instant::now();
        writer.append([event])?;
        writer.commit()?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    Ok((at(0.5), at(0.99)))
}
