//! The release binary on a 10 M-event log: `import`, `replay` (from genesis, every
//! block verified), `export` to /dev/null, `stats`, and `audit` of a rare and a sparse
//! position, each as a separate process the way people run them.
//!
//! Peak RSS comes from `/usr/bin/time -f "%e %M"` (written to a file, so the command's
//! own stderr stays apart); wall time from an `Instant` around the process, since
//! `%e` has only 10 ms resolution (too coarse for small-scale runs and for audit).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use ledger::log::{Ledger, OpenMode, position_events};

use crate::report::{Report, Target};
use crate::synth::{BOOK, RARE, SPARSE, VENUE, ensure_fill_heavy_file, ensure_import_file};

/// Audit runs per position; the median is reported.
const AUDIT_RUNS: usize = 5;
/// Import and replay runs; the median is reported (the machine is shared, and one
/// run can land on a busy moment), with the fastest and slowest beside it.
const RUNS: usize = 3;
/// Peak RSS allowed to import, replay and export, in MB.
const RSS_MB_MAX: f64 = 200.0;

/// Where the binary and the files are.
pub struct LogBench<'a> {
    /// `target/release/ledger`.
    pub bin: &'a Path,
    /// Reused inputs (`target/bench-data`).
    pub data_dir: &'a Path,
    /// Scratch ledgers, deleted at the end.
    pub tmp_dir: &'a Path,
}

/// One timed process.
struct Timed {
    wall_secs: f64,
    rss_kb: u64,
    stdout: Vec<u8>,
}

impl Timed {
    fn rss_mb(&self) -> f64 {
        self.rss_kb as f64 / 1024.0
    }
}

/// Import `lines` events, then replay, export, stats and audit the result.
pub fn run(bench: &LogBench<'_>, lines: u64, report: &mut Report) -> Result<()> {
    let file = ensure_import_file(bench.data_dir, lines)?;
    let db = bench.tmp_dir.join("import.redb");
    let db_arg = db.as_os_str();
    let rate = |t: &Timed| lines as f64 / t.wall_secs;

    let mut imports = Vec::new();
    for _ in 0..RUNS {
        if db.exists() {
            std::fs::remove_file(&db)?;
        }
        imports.push(timed(
            bench,
            &[db_arg, "import".as_ref(), file.as_os_str()],
            false,
        )?);
    }
    report_runs(report, "import", &imports, lines, Target::AtLeast(1e6));

    let mut replays = Vec::new();
    for _ in 0..RUNS {
        replays.push(timed(bench, &[db_arg, "replay".as_ref()], false)?);
    }
    report_runs(
        report,
        "replay (genesis, verified)",
        &replays,
        lines,
        Target::AtLeast(5e6),
    );

    let export = timed(bench, &[db_arg, "export".as_ref()], false)?;
    report.add(
        "export to /dev/null events/s",
        rate(&export),
        "ev/s",
        Target::Info,
    );
    report.add(
        "export peak RSS",
        export.rss_mb(),
        "MB",
        Target::Below(RSS_MB_MAX),
    );

    bytes_per_event(bench, &db, lines, report)?;
    for instrument in [RARE, SPARSE] {
        audit(bench, &db, instrument, report)?;
    }
    std::fs::remove_file(&db)?;
    Ok(())
}

/// The fill-heavy log: import once, then `ledger replay` as a process, [`RUNS`] times.
pub fn fill_heavy(bench: &LogBench<'_>, lines: u64, report: &mut Report) -> Result<()> {
    let file = ensure_fill_heavy_file(bench.data_dir, lines)?;
    let db = bench.tmp_dir.join("fills.redb");
    let db_arg = db.as_os_str();
    if db.exists() {
        std::fs::remove_file(&db)?;
    }
    let import = timed(bench, &[db_arg, "import".as_ref(), file.as_os_str()], false)?;
    report.add(
        "import fill-heavy events/s",
        lines as f64 / import.wall_secs,
        "ev/s",
        Target::Info,
    );
    let mut replays = Vec::new();
    for _ in 0..RUNS {
        replays.push(timed(bench, &[db_arg, "replay".as_ref()], false)?);
    }
    report_runs(
        report,
        "replay fill-heavy (2/3 fills, 4 instruments, process)",
        &replays,
        lines,
        Target::AtLeast(5e6),
    );
    std::fs::remove_file(&db)?;
    Ok(())
}

/// File bytes per event against the encoded events' own bytes per event.
fn bytes_per_event(bench: &LogBench<'_>, db: &Path, lines: u64, report: &mut Report) -> Result<()> {
    let stats = timed(
        bench,
        &[db.as_os_str(), "stats".as_ref(), "--json".as_ref()],
        true,
    )?;
    let json: serde_json::Value = serde_json::from_slice(&stats.stdout).context("stats --json")?;
    let encoded = json["encoded_bytes_per_event"]
        .as_f64()
        .context("stats: no encoded_bytes_per_event")?;
    let file_bytes = std::fs::metadata(db)?.len();
    let on_disk = file_bytes as f64 / lines as f64;
    report.add("file bytes per event", on_disk, "B", Target::Info);
    report.add(
        "encoded bytes per event (stats)",
        encoded,
        "B",
        Target::Info,
    );
    report.add(
        "file / encoded bytes, as imported",
        on_disk / encoded,
        "x",
        Target::Info,
    );
    // `ledger compact` gives back what the import's transaction left free.
    let status = std::process::Command::new(ledger_bin())
        .arg("compact")
        .arg("--db")
        .arg(db)
        .stdout(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "ledger compact failed");
    let compacted = std::fs::metadata(db)?.len() as f64 / lines as f64;
    report.add(
        "file bytes per event after compact",
        compacted,
        "B",
        Target::Info,
    );
    report.add(
        "file / encoded bytes after compact",
        compacted / encoded,
        "x",
        Target::AtMost(2.0),
    );
    Ok(())
}

/// Median wall time of `ledger --json audit`, and of the in-process call it makes.
fn audit(bench: &LogBench<'_>, db: &Path, instrument: &str, report: &mut Report) -> Result<()> {
    let key = format!("{VENUE}:{BOOK}:{instrument}");
    let mut walls = Vec::with_capacity(AUDIT_RUNS);
    for _ in 0..AUDIT_RUNS {
        let start = Instant::now();
        let out = Command::new(bench.bin)
            .args(["--json", "audit", &key, "--db"])
            .arg(db)
            .stderr(Stdio::inherit())
            .output()?;
        walls.push(start.elapsed());
        ensure!(out.status.success(), "ledger audit {key}: {}", out.status);
    }
    let ledger = Ledger::open(db, OpenMode::Existing)?;
    let reader = ledger.reader()?;
    let blocks = reader.position_entries(&key)?.len();
    let mut calls = Vec::with_capacity(AUDIT_RUNS);
    let mut events = 0;
    for _ in 0..AUDIT_RUNS {
        let start = Instant::now();
        events = position_events(&ledger.reader()?, &key)?.len();
        calls.push(start.elapsed());
    }
    let label = instrument.to_lowercase();
    report.add(
        format!("audit {label}: events"),
        events as f64,
        "ev",
        Target::Info,
    );
    report.add(
        format!("audit {label}: blocks touched"),
        blocks as f64,
        "blk",
        Target::Info,
    );
    let target = if instrument == RARE {
        Target::Below(50.0)
    } else {
        Target::Info
    };
    report.add(
        format!("audit {label}: process, median"),
        median_ms(walls),
        "ms",
        target,
    );
    report.add(
        format!("audit {label}: position_events, median"),
        median_ms(calls),
        "ms",
        Target::Info,
    );
    Ok(())
}

/// The median rate of `runs` against `target`, the fastest and slowest beside it, and
/// the highest peak RSS of them all.
fn report_runs(report: &mut Report, what: &str, runs: &[Timed], lines: u64, target: Target) {
    let mut rates: Vec<f64> = runs.iter().map(|t| lines as f64 / t.wall_secs).collect();
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    report.add(
        format!("{what} events/s, median of {}", runs.len()),
        median,
        "ev/s",
        target,
    );
    report.add(
        format!("{what} events/s, slowest"),
        rates[0],
        "ev/s",
        Target::Info,
    );
    report.add(
        format!("{what} events/s, fastest"),
        rates[rates.len() - 1],
        "ev/s",
        Target::Info,
    );
    let rss = runs.iter().map(Timed::rss_mb).fold(0.0, f64::max);
    report.add(
        format!("{what} peak RSS"),
        rss,
        "MB",
        Target::Below(RSS_MB_MAX),
    );
}

fn median_ms(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1e3
}

/// Run `ledger SUBCOMMAND --db DB REST...` (`args` = `[DB, SUBCOMMAND, REST...]`) under
/// `/usr/bin/time`; stdout kept or sent to /dev/null.
fn timed(bench: &LogBench<'_>, args: &[&OsStr], keep_stdout: bool) -> Result<Timed> {
    let time_file = bench.tmp_dir.join("time.txt");
    let stdout = if keep_stdout {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    let name: Vec<_> = args[1..].iter().map(|a| a.to_string_lossy()).collect();
    let name = name.join(" ");
    eprintln!("running ledger {name}");
    let start = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%e %M", "-o"])
        .arg(&time_file)
        .arg(bench.bin)
        .arg(args[1])
        .arg("--db")
        .arg(args[0])
        .args(&args[2..])
        .stdout(stdout)
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run /usr/bin/time")?;
    let wall_secs = start.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("ledger {name}: {}", out.status);
    }
    let text = std::fs::read_to_string(&time_file)?;
    let rss_kb = parse_max_rss(&text).with_context(|| format!("/usr/bin/time: {text}"))?;
    Ok(Timed {
        wall_secs,
        rss_kb,
        stdout: out.stdout,
    })
}

/// Max RSS in KB from the last line of `/usr/bin/time -f "%e %M"`. Its wall seconds
/// are only to 10 ms, so the wall time reported is measured here around the process.
fn parse_max_rss(text: &str) -> Option<u64> {
    text.lines().last()?.split_whitespace().nth(1)?.parse().ok()
}

/// `target/release/ledger`, as cargo built it for this bench.
pub fn ledger_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ledger"))
}
