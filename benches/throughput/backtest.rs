//! Backtests driven in-process the way `ledger run --mode backtest` drives them
//! (`src/cli/run.rs`): play and rules parsed from files, candle files merged by event
//! time, `Engine::on_market` for every event inside a current-thread tokio runtime,
//! `Engine::finish`, every event into a fresh ledger.
//!
//! The inputs (generated candles, the plays, the ten-instrument rules) are written
//! under the bench data directory; candle files are reused when already there. The
//! whole run is timed from opening the ledger to `finish`; each calendar month is also
//! timed on its own (only the `on_market` calls), to show the cost per bar stays flat.
//!
//! The market data is parsed on a reader thread (`MergedSource`), so on a machine
//! that is busy with something else the wall time says little. Each run also reports
//! the CPU time of the engine thread (the critical path), of the whole process, and how
//! long the engine thread was runnable but waiting for a CPU (`/proc` schedstat): a
//! large wait means the wall time was measured on a loaded machine.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::Datelike;
use ledger::backend::{SimConfig, SimExchange};
use ledger::engine::{Engine, EngineOptions, MergedSource, SourceSpec, config_hash, file_hash};
use ledger::event::{Decimal, Mode, Payload, PositionKey, Timeframe, Timestamp};
use ledger::executor::{Executor, parse_rules};
use ledger::ingest::sample::{generate_candles, write_candles_csv};
use ledger::log::{Ledger, Writer, WriterOptions};
use ledger::strategy::{Play, PlayStrategy};

use crate::report::{Report, Target, reset_peak_rss, status_kb};

/// Seed of the one-instrument run's candles.
const SEED_ONE: u64 = 42;
/// Instruments of the ten-instrument run (`sample:spot:I0..I9`, seeds 1..=10).
const TEN: u64 = 10;

/// Where the inputs and scratch ledgers go.
pub struct BacktestBench<'a> {
    /// The package root (for `replay/venues/sample.yaml`).
    pub manifest_dir: &'a Path,
    /// Reused inputs.
    pub data_dir: &'a Path,
    /// Scratch ledgers, deleted at the end.
    pub tmp_dir: &'a Path,
}

/// What one backtest needs.
struct Setup {
    play: PathBuf,
    rules: Vec<PathBuf>,
    sources: Vec<SourceSpec>,
}

/// One calendar month of a run.
struct Month {
    label: String,
    bars: u64,
    /// Events appended during the month (market data, decisions, orders, fills).
    events: u64,
    busy: Duration,
    /// Engine thread CPU time over the month (all of it, not only `on_market`).
    cpu_ns: u64,
}

impl Month {
    fn bars_per_sec(&self) -> f64 {
        self.bars as f64 / self.busy.as_secs_f64()
    }

    fn bars_per_cpu_sec(&self) -> f64 {
        self.bars as f64 / (self.cpu_ns as f64 / 1e9)
    }

    /// Engine-thread CPU per event appended: the cost measure that does not depend on
    /// how busy the market (and so the strategy) was that month.
    fn cpu_ns_per_event(&self) -> f64 {
        self.cpu_ns as f64 / self.events.max(1) as f64
    }
}

/// Current and peak RSS, in KB.
#[derive(Debug, Clone, Copy)]
struct Rss {
    now_kb: u64,
    peak_kb: u64,
}

impl Rss {
    fn read() -> Rss {
        Rss {
            now_kb: status_kb("VmRSS:").unwrap_or(0),
            peak_kb: status_kb("VmHWM:").unwrap_or(0),
        }
    }
}

/// CPU accounting of a run, from `/proc` (Linux; zeros elsewhere).
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    /// This thread's time on a CPU, ns.
    thread_run_ns: u64,
    /// This thread's time runnable but waiting for a CPU, ns.
    thread_wait_ns: u64,
    /// The process's user + system time, clock ticks (all threads, ended ones too).
    process_ticks: u64,
}

impl Cpu {
    fn read() -> Cpu {
        let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
        let mut fields = schedstat.split_whitespace().map(|f| f.parse().unwrap_or(0));
        let thread_run_ns = fields.next().unwrap_or(0);
        let thread_wait_ns = fields.next().unwrap_or(0);
        // utime and stime are fields 14 and 15; the command name (field 2) may hold
        // spaces, so count from the closing parenthesis.
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let after_comm = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        let ticks: Vec<u64> = after_comm
            .split_whitespace()
            .skip(11)
            .take(2)
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        Cpu {
            thread_run_ns,
            thread_wait_ns,
            process_ticks: ticks.iter().sum(),
        }
    }

    /// `(engine thread CPU s, engine thread wait s, process CPU s)` since `start`.
    fn since(self, start: Cpu) -> (f64, f64, f64) {
        // Linux reports utime/stime in USER_HZ, 100 on every mainstream platform.
        const TICKS_PER_SEC: f64 = 100.0;
        (
            self.thread_run_ns.saturating_sub(start.thread_run_ns) as f64 / 1e9,
            self.thread_wait_ns.saturating_sub(start.thread_wait_ns) as f64 / 1e9,
            self.process_ticks.saturating_sub(start.process_ticks) as f64 / TICKS_PER_SEC,
        )
    }
}

/// What one backtest did and took.
struct Outcome {
    secs: f64,
    /// Engine thread CPU, its wait for a CPU, and the process's CPU, in seconds.
    cpu: (f64, f64, f64),
    bars: u64,
    events: u64,
    months: Vec<Month>,
    rss_after_month_1: Option<Rss>,
}

/// One instrument, `bars` 1-minute bars, three indicators on two timeframes (and an
/// ATR on a third).
pub fn one_instrument(
    bench: &BacktestBench<'_>,
    bars: usize,
    scale: f64,
    report: &mut Report,
) -> Result<()> {
    let key = PositionKey::new("sample", "spot", "BTCUSDT");
    let csv = ensure_candles(bench.data_dir, SEED_ONE, bars)?;
    let play = bench.data_dir.join("bench-play-1.yaml");
    std::fs::write(&play, play_yaml("bench_one", std::slice::from_ref(&key)))?;
    let setup = Setup {
        play,
        rules: vec![bench.manifest_dir.join("replay/venues/sample.yaml")],
        sources: vec![SourceSpec::Candles { key, path: csv }],
    };
    let peak_reset = reset_peak_rss();
    let out = run(&setup, &bench.tmp_dir.join("backtest-1.redb"))?;
    let end = Rss::read();
    let name = "backtest 1 instrument";
    report_run(name, &out, Target::Below(2.0 * scale), report);
    report_memory(name, &out, end, peak_reset.then_some(end.peak_kb), report);
    Ok(())
}

/// The run's CPU time: the engine thread's (the critical path), how long it waited for
/// a CPU, and the whole process's (the reader thread's included).
fn report_cpu(name: &str, out: &Outcome, report: &mut Report) {
    let (engine, wait, process) = out.cpu;
    report.add(
        format!("{name}: engine thread CPU"),
        engine,
        "s",
        Target::Info,
    );
    report.add(
        format!("{name}: engine thread waiting for a CPU"),
        wait,
        "s",
        Target::Info,
    );
    report.add(format!("{name}: process CPU"), process, "s", Target::Info);
}

/// The figures of one run: its time against `target`, rates, CPU and months.
fn report_run(name: &str, out: &Outcome, target: Target, report: &mut Report) {
    report.add(format!("{name}: whole run"), out.secs, "s", target);
    report.add(
        format!("{name}: bars/s"),
        out.bars as f64 / out.secs,
        "bar/s",
        Target::Info,
    );
    report.add(
        format!("{name}: events/s"),
        out.events as f64 / out.secs,
        "ev/s",
        Target::Info,
    );
    report_cpu(name, out, report);
    report_months(name, &out.months, report);
}

/// Bars per second of each month (wall time in `on_market`, and engine thread CPU
/// time, which a loaded machine does not distort), and how far apart the fastest and
/// slowest are. The last month is partial (what is left of the data; at scale 1 the
/// bar that closes at midnight of the new year) and is left out.
fn report_months(name: &str, months: &[Month], report: &mut Report) {
    let full = months.get(..months.len().saturating_sub(1)).unwrap_or(&[]);
    // The partial last month is printed only when it is all there is: its few bars
    // make a meaningless rate (a bar or two over a CPU-clock tick).
    let shown = if full.is_empty() { months } else { full };
    for month in shown {
        report.add(
            format!("{name}: {} bars/s", month.label),
            month.bars_per_sec(),
            "bar/s",
            Target::Info,
        );
        report.add(
            format!("{name}: {} bars/CPU-s", month.label),
            month.bars_per_cpu_sec(),
            "bar/s",
            Target::Info,
        );
        report.add(
            format!("{name}: {} events", month.label),
            month.events as f64,
            "ev",
            Target::Info,
        );
        report.add(
            format!("{name}: {} CPU per event", month.label),
            month.cpu_ns_per_event(),
            "ns",
            Target::Info,
        );
    }
    let spread = |rates: Vec<f64>| {
        let (min, max) = rates
            .iter()
            .fold((f64::MAX, 0.0_f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
        max / min
    };
    if full.len() > 1 {
        report.add(
            format!("{name}: monthly bars/s max/min"),
            spread(full.iter().map(Month::bars_per_sec).collect()),
            "x",
            Target::Info,
        );
        report.add(
            format!("{name}: monthly bars/CPU-s max/min"),
            spread(full.iter().map(Month::bars_per_cpu_sec).collect()),
            "x",
            Target::Info,
        );
        report.add(
            format!("{name}: monthly CPU per event max/min"),
            spread(full.iter().map(Month::cpu_ns_per_event).collect()),
            "x",
            Target::Info,
        );
        let (first, last) = (&full[0], &full[full.len() - 1]);
        report.add(
            format!("{name}: CPU per event, last full month / first"),
            last.cpu_ns_per_event() / first.cpu_ns_per_event(),
            "x",
            Target::Info,
        );
    }
}

/// RSS after the first month, after the last, and the peak.
/// `peak_kb` is `None` when the peak could not be reset before the run (then it would
/// be an earlier stage's).
fn report_memory(name: &str, out: &Outcome, end: Rss, peak_kb: Option<u64>, report: &mut Report) {
    let mb = |kb: u64| kb as f64 / 1024.0;
    // The process's RSS also holds what earlier stages left with the allocator; the
    // growth from month 1 to the last month is what the run itself adds.
    if let Some(rss) = out.rss_after_month_1 {
        report.add(
            format!("{name}: RSS after month 1"),
            mb(rss.now_kb),
            "MB",
            Target::Info,
        );
    }
    let last = format!("{name}: RSS after month {}", out.months.len());
    report.add(last, mb(end.now_kb), "MB", Target::Info);
    if let Some(rss) = out.rss_after_month_1 {
        let growth = mb(end.now_kb) - mb(rss.now_kb);
        report.add(
            format!("{name}: RSS growth after month 1"),
            growth,
            "MB",
            Target::Info,
        );
    }
    if let Some(peak_kb) = peak_kb {
        report.add(
            format!("{name}: peak RSS (VmHWM)"),
            mb(peak_kb),
            "MB",
            Target::Info,
        );
    }
}

/// Ten instruments, `bars` 1-minute bars each, the same play over all of them.
pub fn ten_instruments(
    bench: &BacktestBench<'_>,
    bars: usize,
    scale: f64,
    report: &mut Report,
) -> Result<()> {
    let keys: Vec<PositionKey> = (0..TEN)
        .map(|i| PositionKey::new("sample", "spot", &format!("I{i}")))
        .collect();
    let mut sources = Vec::with_capacity(keys.len());
    for (seed, key) in (1..).zip(&keys) {
        let path = ensure_candles(bench.data_dir, seed, bars)?;
        sources.push(SourceSpec::Candles {
            key: key.clone(),
            path,
        });
    }
    let play = bench.data_dir.join("bench-play-10.yaml");
    std::fs::write(&play, play_yaml("bench_ten", &keys))?;
    let rules = bench.data_dir.join("bench-rules-10.yaml");
    std::fs::write(&rules, rules_yaml(&keys))?;
    let setup = Setup {
        play,
        rules: vec![rules],
        sources,
    };
    let out = run(&setup, &bench.tmp_dir.join("backtest-10.redb"))?;
    report_run(
        "backtest 10 instruments",
        &out,
        Target::Below(15.0 * scale),
        report,
    );
    Ok(())
}

/// Run one backtest into a new ledger at `db`, then delete it.
fn run(setup: &Setup, db: &Path) -> Result<Outcome> {
    let start = Instant::now();
    let cpu_start = Cpu::read();
    let play_text = std::fs::read_to_string(&setup.play)?;
    let play = Play::parse(&play_text, &setup.play.display().to_string())?;
    let mut rules = Vec::with_capacity(setup.rules.len());
    for path in &setup.rules {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
        rules.push(parse_rules(&text, &path.display().to_string())?);
    }
    // `ledger run`'s defaults: 10,000 equity, fills at the bar close, no slippage or
    // latency, unlimited liquidity.
    let sim = SimConfig::default();
    let params = params(setup, &play, &sim)?;
    let options = EngineOptions {
        mode: Mode::Backtest,
        config_hash: config_hash(&params),
        params,
        initial_equity: sim.initial_equity,
        timeframe: play.timeframe,
    };
    let ledger = Ledger::open_for_session(db)?;
    let mut writer = Writer::new(&ledger, WriterOptions::default())?;
    let strategy = PlayStrategy::new(play)?;
    let executor = Executor::new(rules);
    let mut engine = Engine::new(
        &mut writer,
        strategy,
        executor,
        SimExchange::new(sim),
        options,
    );
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let mut clock = MonthClock::default();
    runtime.block_on(async {
        for event in MergedSource::open(&setup.sources)? {
            let event = event?;
            let is_bar = matches!(&event.payload, Payload::Candle(c) if c.closed);
            clock.enter(event.ts);
            let on_market = Instant::now();
            engine.on_market(event).await?;
            clock.add(on_market.elapsed(), is_bar, engine.stats().events);
        }
        anyhow::Ok(())
    })?;
    let stats = engine.finish("end of data")?;
    let secs = start.elapsed().as_secs_f64();
    let cpu = Cpu::read().since(cpu_start);
    drop(writer);
    drop(ledger);
    std::fs::remove_file(db)?;
    let (months, rss_after_month_1) = clock.close();
    Ok(Outcome {
        secs,
        cpu,
        bars: stats.bars,
        events: stats.events,
        months,
        rss_after_month_1,
    })
}

/// The session parameters `ledger run` records (what shapes the run, files hashed).
fn params(setup: &Setup, play: &Play, sim: &SimConfig) -> Result<Vec<(String, String)>> {
    let mut params = vec![
        ("strategy".to_string(), setup.play.display().to_string()),
        ("strategy_hash".to_string(), file_hash(&setup.play)?),
        ("strategy_id".to_string(), play.id.to_string()),
    ];
    for spec in &setup.sources {
        let path = spec.path();
        params.push((
            "candles".to_string(),
            format!("{} blake3:{}", path.display(), file_hash(path)?),
        ));
    }
    for path in &setup.rules {
        params.push((
            "rules".to_string(),
            format!("{} blake3:{}", path.display(), file_hash(path)?),
        ));
    }
    params.push(("sim".to_string(), format!("{sim:?}")));
    Ok(params)
}

/// Per calendar month (UTC, by event time): bars seen and time spent in `on_market`.
#[derive(Default)]
struct MonthClock {
    months: Vec<Month>,
    current: Option<(i32, u32)>,
    rss_after_month_1: Option<Rss>,
    /// Engine thread CPU time when the current month started, ns.
    month_cpu_start_ns: u64,
    /// Events appended before the current month.
    month_events_start: u64,
    /// Events appended so far.
    events_now: u64,
}

impl MonthClock {
    /// An event of time `ts` is next: start a new month when it is in one.
    fn enter(&mut self, ts: Timestamp) {
        let date = chrono::DateTime::from_timestamp_nanos(ts.as_nanos());
        let month = (date.year(), date.month());
        if self.current == Some(month) {
            return;
        }
        if self.months.len() == 1 {
            self.rss_after_month_1 = Some(Rss::read());
        }
        self.end_month();
        self.current = Some(month);
        self.months.push(Month {
            label: format!("{:04}-{:02}", month.0, month.1),
            bars: 0,
            events: 0,
            busy: Duration::ZERO,
            cpu_ns: 0,
        });
        self.month_events_start = self.events_now;
    }

    /// Charge the engine thread CPU since the month started to it.
    fn end_month(&mut self) {
        let now_ns = Cpu::read().thread_run_ns;
        if let Some(month) = self.months.last_mut() {
            month.cpu_ns = now_ns.saturating_sub(self.month_cpu_start_ns);
        }
        self.month_cpu_start_ns = now_ns;
    }

    fn add(&mut self, busy: Duration, is_bar: bool, events_total: u64) {
        self.events_now = events_total;
        if let Some(month) = self.months.last_mut() {
            month.busy += busy;
            month.bars += u64::from(is_bar);
            month.events = events_total.saturating_sub(self.month_events_start);
        }
    }

    fn close(mut self) -> (Vec<Month>, Option<Rss>) {
        self.end_month();
        (self.months, self.rss_after_month_1)
    }
}

/// `bars` 1-minute candles from 2025-01-01 for `seed`, as CSV under `dir` (reused).
fn ensure_candles(dir: &Path, seed: u64, bars: usize) -> Result<PathBuf> {
    let path = dir.join(format!("candles-1m-{bars}-seed{seed}.csv"));
    if path.exists() {
        return Ok(path);
    }
    let start = Timestamp::parse_rfc3339("2025-01-01T00:00:00Z")?;
    let timeframe: Timeframe = "1m".parse().map_err(anyhow::Error::msg)?;
    let candles = generate_candles(seed, start, bars, timeframe, Decimal::from_int(42_000));
    let partial = path.with_extension("csv.partial");
    let file = std::fs::File::create(&partial)?;
    write_candles_csv(&candles, std::io::BufWriter::new(file))?;
    std::fs::rename(&partial, &path)?;
    Ok(path)
}

/// `replay/strategies/ema_trend.yaml` over `instruments`: EMA 12 and 48 on 1m, EMA 20
/// on 1h, ATR 14 on 15m.
fn play_yaml(id: &str, instruments: &[PositionKey]) -> String {
    let list: Vec<String> = instruments.iter().map(ToString::to_string).collect();
    format!(
        r#"id: {id}
instruments: [{}]
timeframe: 1m
features:
  fast: {{ ema: 12 }}
  slow: {{ ema: 48 }}
  trend: {{ ema: 20, timeframe: 1h }}
  atr: {{ atr: 14, timeframe: 15m }}
warmup: auto
cases:
  - when: ["position == 0", "fast > slow", "close > trend"]
    then:
      action: entry
      side: buy
      size: {{ equity_fraction: "0.5" }}
      order: market
      stop_loss: "close - 2 * atr"
      take_profit: "close + 4 * atr"
      reason: fast above slow in 1h uptrend
  - when: ["position > 0", "fast < slow"]
    then:
      action: exit
      side: sell
      size: {{ position_fraction: "1" }}
      order: market
      reason: cross down
  - when: ["position > 0"]
    any: ["close < trend", "close < entry_px - 3 * atr"]
    then:
      action: exit
      side: sell
      size: {{ position_fraction: "1" }}
      reason: 1h trend lost or 3 ATR adverse
"#,
        list.join(", ")
    )
}

/// Rules for venue `sample` listing `instruments`, as `replay/venues/sample.yaml` has
/// them for BTCUSDT.
fn rules_yaml(instruments: &[PositionKey]) -> String {
    let mut text =
        String::from("venue: sample\ncalendar: always_open\norders_per_second: 10\ninstruments:\n");
    for key in instruments {
        text.push_str(&format!(
            "  - book: {}\n    instrument: {}\n    tick_size: \"0.01\"\n    lot_size: \"0.00001\"\n    min_qty: \"0.00001\"\n    min_notional: \"5\"\n    max_leverage: \"1\"\n    maker_fee: \"0.001\"\n    taker_fee: \"0.001\"\n",
            key.book, key.instrument
        ));
    }
    text
}
