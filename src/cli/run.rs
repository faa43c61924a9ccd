//! `ledger run --mode backtest`: a strategy over historical data (files, or the market
//! events of another ledger) through the simulated exchange, every event into a fresh
//! ledger.
//!
//! The run's identity (strategy, data, venue rules, settings, version) is hashed into
//! the session-started event; the log holds event time only, so the same inputs give a
//! byte-identical log.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::json;

use super::Output;
use super::positions::{positions_json, positions_table};
use crate::backend::{FeeRates, LiquidityModel, MarketFill, SimConfig, SimExchange};
use crate::engine::{
    Engine, EngineOptions, MergedSource, RunStats, SourceSpec, config_hash, file_hash,
};
use crate::event::{Decimal, Mode, PositionKey};
use crate::executor::{Executor, VenueRules, parse_rules};
use crate::log::{Ledger, Writer, WriterOptions};
use crate::strategy::{Play, PlayStrategy};

/// Market events read per chunk from a source ledger (`--from-log`): bounds memory.
const FROM_LOG_CHUNK: u64 = 64 * 1024;

/// How a session trades.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RunMode {
    /// Historical data through the simulated exchange.
    Backtest,
    /// Live market data, simulated orders (needs the venue adapters).
    Paper,
    /// Live market data and real orders (needs the venue adapters).
    Live,
}

/// Where market orders fill on bar data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FillAt {
    /// The close of the bar that triggered the order (as NautilusTrader does).
    Close,
    /// The open of the next bar.
    NextOpen,
}

/// Arguments of `ledger run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// backtest | paper | live.
    #[arg(long, value_enum, default_value = "backtest")]
    pub mode: RunMode,
    /// Strategy play file (YAML).
    #[arg(long)]
    pub strategy: PathBuf,
    /// Candle file (CSV or JSON), as FILE for a single-instrument play or
    /// VENUE:BOOK:SYMBOL=FILE; repeat for several files or instruments.
    #[arg(long = "data", value_name = "[KEY=]FILE")]
    pub data: Vec<String>,
    /// Trade file, as FILE or VENUE:BOOK:SYMBOL=FILE; bars are built from the trades;
    /// repeat for several.
    #[arg(long = "trades", value_name = "[KEY=]FILE")]
    pub trades: Vec<String>,
    /// Funding-rate file of a perpetual, as FILE or VENUE:BOOK:SYMBOL=FILE (one per
    /// instrument): each row (time, rate) is a settlement, and an open position pays or
    /// receives `qty × last price × rate` then (CSV with a header, or freqtrade's JSON
    /// rows); repeat for several instruments.
    #[arg(long = "funding", value_name = "[KEY=]FILE")]
    pub funding: Vec<String>,
    /// Re-run over the market events recorded in another ledger (instead of --data and
    /// --trades).
    #[arg(long, value_name = "DB")]
    pub from_log: Option<PathBuf>,
    /// Venue rules file, one per venue; repeat for several (default: the rules bundled
    /// in the binary, the same as replay/venues/*.yaml). Fees and tick sizes of the
    /// simulation come from them.
    #[arg(long = "rules", value_name = "FILE")]
    pub rules: Vec<PathBuf>,
    /// Starting equity, in the quote currency (> 0; recorded in the session, so
    /// `report` uses it).
    #[arg(long, value_name = "AMOUNT", default_value = "10000", allow_negative_numbers = true, value_parser = super::values::parse_positive_decimal)]
    pub initial_equity: Decimal,
    /// Where market orders fill on bars.
    #[arg(long, value_enum, default_value = "close")]
    pub fill_at: FillAt,
    /// Slippage against takers on market and stop fills, in basis points (0..=10000).
    #[arg(long, value_name = "BPS", default_value = "0", allow_negative_numbers = true, value_parser = super::values::parse_slippage_bps)]
    pub slippage_bps: Decimal,
    /// Time from a request to the venue acting on it, in milliseconds (0..=3600000).
    #[arg(long, value_name = "MS", default_value = "0", allow_negative_numbers = true, value_parser = super::values::parse_latency_ms)]
    pub latency_ms: i64,
    /// Share of each bar's volume our orders may take (more than 0, at most 1), or
    /// `unlimited`.
    #[arg(long, value_name = "SHARE", default_value = "unlimited", allow_negative_numbers = true, value_parser = super::values::parse_liquidity)]
    pub liquidity: LiquidityModel,
    /// Append to a ledger that already holds events (default: refuse). A paper or live
    /// session resumes its ledger without it (restart = replay).
    #[arg(long)]
    pub append: bool,
    /// The venue of a paper or live session.
    #[arg(long, value_enum)]
    pub venue: Option<super::fake_venue::VenueName>,
    /// The venue's public WebSocket (paper and live; default: the venue's testnet, or
    /// mainnet with --mainnet). Point it at `ledger fake-venue` to rehearse offline.
    #[arg(long, value_name = "URL")]
    pub ws_url: Option<String>,
    /// The venue's REST base URL (live).
    #[arg(long, value_name = "URL")]
    pub rest_url: Option<String>,
    /// Use the venue's mainnet endpoints (default: testnet). Live orders on mainnet
    /// trade real money.
    #[arg(long)]
    pub mainnet: bool,
    /// Required for --mode live: it sends real orders (to testnet unless --mainnet).
    #[arg(long)]
    pub confirm_live: bool,
    /// API key file for live (`key=…` and `secret=…` lines; must be 0600); default: the
    /// LEDGER_BYBIT_KEY and LEDGER_BYBIT_SECRET environment variables.
    #[arg(long, value_name = "FILE")]
    pub keys: Option<PathBuf>,
    /// Live: how long an order whose submit got no answer may stay unfound at the
    /// venue (asked by client id) before it is recorded as rejected "not found at
    /// venue" (default 60).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub unknown_after: Option<u64>,
    /// Stop after this many bars (paper and live).
    #[arg(long, value_name = "N")]
    pub max_bars: Option<u64>,
    /// Kill switch: once the session has lost this much (quote currency), cancel every
    /// open order, record why, and stop (paper and live).
    #[arg(long, value_name = "AMOUNT", value_parser = super::values::parse_positive_decimal)]
    pub loss_limit: Option<Decimal>,
    /// Live: reconcile with the venue every this many seconds of venue time (besides at
    /// start and after every reconnect of the private stream); 0: never periodically.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub reconcile_every: u64,
    /// At the end of the data, close every open position with a market order at the
    /// last bar's close (intents with reason `close at end`), so the final balance is
    /// flat. Needs `--fill-at close` and `--latency-ms 0`.
    #[arg(long)]
    pub close_at_end: bool,
}

impl Args {
    /// A backtest of `strategy` over `data` with every other setting at its default.
    pub fn backtest(strategy: PathBuf, data: PathBuf) -> Args {
        Args {
            mode: RunMode::Backtest,
            strategy,
            data: vec![data.display().to_string()],
            trades: Vec::new(),
            funding: Vec::new(),
            from_log: None,
            rules: Vec::new(),
            initial_equity: Decimal::from_int(10_000),
            fill_at: FillAt::Close,
            slippage_bps: Decimal::ZERO,
            latency_ms: 0,
            liquidity: LiquidityModel::Unlimited,
            append: false,
            close_at_end: false,
            venue: None,
            ws_url: None,
            rest_url: None,
            mainnet: false,
            confirm_live: false,
            keys: None,
            unknown_after: None,
            max_bars: None,
            loss_limit: None,
            reconcile_every: 300,
        }
    }
}

/// Run `ledger run`.
pub fn exec(db: &Path, args: Args, out: Output) -> Result<()> {
    if args.mode != RunMode::Backtest {
        return super::session::exec(db, args, out);
    }
    if args.close_at_end && (args.fill_at != FillAt::Close || args.latency_ms != 0) {
        bail!(
            "--close-at-end fills its closing orders at the last bar's close: it needs --fill-at close and --latency-ms 0 (after the last bar there is no later market event to fill them at)"
        );
    }
    let play_text = std::fs::read_to_string(&args.strategy)
        .with_context(|| format!("cannot read strategy {}", args.strategy.display()))?;
    let play = Play::parse(&play_text, &args.strategy.display().to_string())?;
    let sources = source_specs(&play, &args)?;
    if sources.is_empty() && args.from_log.is_none() {
        bail!("no market data: give --data, --trades or --from-log");
    }
    let rules = load_rules(&args.rules)?;
    let sim = sim_config(&args, &play, &rules)?;
    let params = run_params(&args, &play, &sources, &rules, &sim)?;
    let rules: Vec<VenueRules> = rules.into_iter().map(|r| r.rules).collect();
    let options = EngineOptions {
        mode: Mode::Backtest,
        config_hash: config_hash(&params),
        params,
        initial_equity: sim.initial_equity,
        timeframe: play.timeframe,
    };
    let ledger = Ledger::open_for_session(db).context("cannot open the ledger")?;
    let before = ledger.reader()?.head()?.seq;
    if before > 0 && !args.append {
        bail!(
            "{} already holds events; give a new --db, or --append to add this run",
            db.display()
        );
    }
    let mut writer = Writer::new(&ledger, WriterOptions::default())?;
    let strategy = PlayStrategy::new(play)?;
    // The session's first event gets seq `before + 1`: a prefix no other run of this
    // ledger can have.
    let sim = SimConfig {
        exec_id_prefix: format!("sim-{}-", before + 1),
        ..sim
    };
    let mut engine = Engine::new(
        &mut writer,
        strategy,
        Executor::new(rules),
        SimExchange::new(sim),
        options,
    );
    for spec in &sources {
        if let SourceSpec::Trades { key, .. } = spec {
            engine.aggregate_trades(key.clone());
        }
    }
    let stop = StopFlag::install()?;
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let bar = out.spinner("backtest");
    let driven = runtime.block_on(async {
        let driven = match &args.from_log {
            Some(source) => drive_from_log(&mut engine, source, &bar, &stop).await,
            None => drive_files(&mut engine, &sources, &bar, &stop).await,
        }?;
        if args.close_at_end && matches!(driven, Driven::EndOfData) {
            engine.close_at_end().await?;
        }
        Ok::<_, anyhow::Error>(driven)
    });
    bar.finish_and_clear();
    // Every way out records why the session ended, so a reader can tell a finished run
    // from a partial one: the end of the data, a signal, or the error that stopped it
    // (if the ledger itself failed, the stop cannot be written, and readers report the
    // session as incomplete).
    let reason = match &driven {
        Ok(Driven::EndOfData) => "end of data".to_string(),
        Ok(Driven::Interrupted) => "interrupted by a signal".to_string(),
        Err(e) => format!("error: {e:#}"),
    };
    let finished = engine.finish(&reason);
    match (driven, finished) {
        (Ok(Driven::EndOfData), Ok(stats)) => summary(&ledger, before, &stats, out),
        (Ok(Driven::Interrupted), Ok(stats)) => {
            summary(&ledger, before, &stats, out)?;
            bail!("interrupted by a signal: the session stopped cleanly (session_stopped reason `{reason}`); its events are committed")
        }
        (Ok(_), Err(e)) => Err(e.into()),
        // Refused before its first event (a file that cannot be opened, say): there
        // was no session to stop.
        (Err(e), Ok(stats)) if stats.events == 0 => Err(e),
        (Err(e), Ok(_)) => Err(e.context("the run stopped part-way; its events so far are committed, with session_stopped reason `error: …`")),
        (Err(e), Err(stop)) => Err(e.context(format!(
            "the run stopped part-way, and its session_stopped could not be written ({stop}): readers will report the session as incomplete"
        ))),
    }
}

/// How the market data loop ended.
enum Driven {
    EndOfData,
    Interrupted,
}

/// Set by SIGINT or SIGTERM: the loop stops at the next event and the session ends
/// cleanly. A second signal while the flag is set exits at once (status 130), for a run
/// stuck where it does not look at the flag.
pub(super) struct StopFlag(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl StopFlag {
    fn install() -> Result<StopFlag> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        for signal in [SIGINT, SIGTERM] {
            signal_hook::flag::register_conditional_shutdown(signal, 130, flag.clone())
                .context("cannot install the signal handler")?;
            signal_hook::flag::register(signal, flag.clone())
                .context("cannot install the signal handler")?;
        }
        Ok(StopFlag(flag))
    }

    fn raised(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

async fn drive_files<S: crate::strategy::Strategy>(
    engine: &mut Engine<'_, S, SimExchange>,
    sources: &[SourceSpec],
    bar: &indicatif::ProgressBar,
    stop: &StopFlag,
) -> Result<Driven> {
    let merged = MergedSource::open(sources)?;
    for (i, event) in merged.enumerate() {
        if stop.raised() {
            return Ok(Driven::Interrupted);
        }
        engine.on_market(event?).await?;
        if i % 4096 == 0 {
            bar.set_position(i as u64);
        }
    }
    Ok(Driven::EndOfData)
}

async fn drive_from_log<S: crate::strategy::Strategy>(
    engine: &mut Engine<'_, S, SimExchange>,
    source: &Path,
    bar: &indicatif::ProgressBar,
    stop: &StopFlag,
) -> Result<Driven> {
    let ledger =
        Ledger::open_to_read(source).context("cannot open the source ledger (--from-log)")?;
    let reader = ledger.reader()?;
    let head = reader.head()?.seq;
    let mut from = 1;
    while from <= head {
        let to = (from + FROM_LOG_CHUNK - 1).min(head);
        let mut chunk = Vec::new();
        reader.for_each_event(from, to, |envelope| {
            if is_market(&envelope.event.payload) {
                chunk.push(envelope.event);
            }
            Ok(std::ops::ControlFlow::Continue(()))
        })?;
        for event in chunk {
            if stop.raised() {
                return Ok(Driven::Interrupted);
            }
            engine.on_market(event).await?;
        }
        bar.set_position(to);
        from = to + 1;
    }
    Ok(Driven::EndOfData)
}

/// Market observations are replayed; everything else in the source (its decisions,
/// orders and fills) belongs to the run that made it.
fn is_market(payload: &crate::event::Payload) -> bool {
    use crate::event::Payload as P;
    matches!(
        payload,
        P::Trade(_) | P::Quote(_) | P::Candle(_) | P::FundingRate(_) | P::Gap(_)
    )
}

/// The market data files of the run, each with its instrument. `KEY=FILE` is split only
/// when the left side is a position key (`VENUE:BOOK:SYMBOL`): a path with `=` in it
/// (Hive-style `date=2024-01-01/` folders) is a path. Every instrument of the play needs
/// data, and a file is given once.
fn source_specs(play: &Play, args: &Args) -> Result<Vec<SourceSpec>> {
    if args.from_log.is_some()
        && !(args.data.is_empty() && args.trades.is_empty() && args.funding.is_empty())
    {
        bail!(
            "--from-log replays the market events of another ledger (its funding rates too); it cannot be combined with --data, --trades or --funding (the files would not be used)"
        );
    }
    let mut specs: Vec<SourceSpec> = Vec::new();
    for (list, option, kind) in [
        (&args.data, "--data", Kind::Candles),
        (&args.trades, "--trades", Kind::Trades),
        (&args.funding, "--funding", Kind::Funding),
    ] {
        for item in list.iter() {
            let (key, path) = match item.split_once('=') {
                Some((key, path)) if key.contains(':') => (
                    key.parse::<PositionKey>().with_context(|| {
                        format!("{option} {item}: `{key}` is not a position key")
                    })?,
                    PathBuf::from(path),
                ),
                _ => match play.instruments.as_slice() {
                    [only] => (only.clone(), PathBuf::from(item)),
                    _ => bail!(
                        "{option} {item}: the play trades {} instruments; write {option} VENUE:BOOK:SYMBOL=FILE",
                        play.instruments.len()
                    ),
                },
            };
            if !play.instruments.contains(&key) {
                bail!("{option} {item}: {key} is not one of the play's instruments");
            }
            if let Some(twice) = specs.iter().find(|s| s.path() == &path) {
                bail!(
                    "{option} {item}: {} is given twice (already for {}); give each file once",
                    path.display(),
                    twice.key()
                );
            }
            if kind == Kind::Funding
                && specs
                    .iter()
                    .any(|s| matches!(s, SourceSpec::Funding { key: k, .. } if *k == key))
            {
                bail!(
                    "{option} {item}: {key} already has a funding file; give one per instrument (two could settle one time twice): concatenate them"
                );
            }
            specs.push(match kind {
                Kind::Candles => SourceSpec::Candles { key, path },
                Kind::Trades => SourceSpec::Trades { key, path },
                Kind::Funding => SourceSpec::Funding { key, path },
            });
        }
    }
    if args.from_log.is_none() && !specs.is_empty() {
        let missing: Vec<String> = play
            .instruments
            .iter()
            .filter(|k| {
                !specs
                    .iter()
                    .any(|s| s.key() == *k && !matches!(s, SourceSpec::Funding { .. }))
            })
            .map(|k| k.to_string())
            .collect();
        if !missing.is_empty() {
            bail!(
                "the play trades {} but no --data or --trades was given for {}",
                play.instruments
                    .iter()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                missing.join(", ")
            );
        }
    }
    Ok(specs)
}

/// What a market data option gives.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Candles,
    Trades,
    Funding,
}

/// The venue rules compiled into the binary (`replay/venues/*.yaml`): `run` works from
/// any directory, and `--rules` replaces them.
const BUNDLED_RULES: &[(&str, &str)] = &[
    ("bybit.yaml", include_str!("../../replay/venues/bybit.yaml")),
    (
        "nasdaq.yaml",
        include_str!("../../replay/venues/nasdaq.yaml"),
    ),
    (
        "sample.yaml",
        include_str!("../../replay/venues/sample.yaml"),
    ),
];

/// The bundled rules file `name` (e.g. `bybit.yaml`), parsed.
pub(super) fn bundled_rules(name: &str) -> Result<VenueRules> {
    let Some((_, text)) = BUNDLED_RULES.iter().find(|(n, _)| *n == name) else {
        bail!("no bundled rules named {name}");
    };
    Ok(parse_rules(text, &format!("bundled:{name}"))?)
}

/// One venue's rules and where they came from (for the session's provenance).
pub(super) struct LoadedRules {
    /// `bundled:NAME` or the file's path.
    origin: String,
    /// blake3 of the text, hex.
    hash: String,
    pub(super) rules: VenueRules,
}

/// The `--rules` files, or the bundled rules; two files for one venue are refused (which
/// one would win is a guess).
pub(super) fn load_rules(given: &[PathBuf]) -> Result<Vec<LoadedRules>> {
    let mut loaded: Vec<LoadedRules> = Vec::new();
    let mut add = |origin: String, text: &str| -> Result<()> {
        let rules = parse_rules(text, &origin)?;
        if let Some(other) = loaded.iter().find(|l| l.rules.venue == rules.venue) {
            bail!(
                "{origin} and {} both give rules for venue {}: give one rules file per venue",
                other.origin,
                rules.venue
            );
        }
        let hash = blake3::hash(text.as_bytes()).to_hex().to_string();
        loaded.push(LoadedRules {
            origin,
            hash,
            rules,
        });
        Ok(())
    };
    if given.is_empty() {
        for (name, text) in BUNDLED_RULES {
            add(format!("bundled:{name}"), text)?;
        }
    } else {
        for path in given {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read rules {}", path.display()))?;
            add(path.display().to_string(), &text)?;
        }
    }
    Ok(loaded)
}

/// The simulated exchange for this run: the options, and each instrument's fees and
/// tick from its venue rules. An instrument without rules is refused before the run
/// starts (every intent would be skipped as `unknown_instrument`).
pub(super) fn sim_config(args: &Args, play: &Play, rules: &[LoadedRules]) -> Result<SimConfig> {
    let liquidity = args.liquidity;
    let mut fees_by_key = BTreeMap::new();
    let mut ticks_by_key = BTreeMap::new();
    for key in &play.instruments {
        let Some(r) = rules.iter().find_map(|r| r.rules.instrument(key)) else {
            let origins: Vec<&str> = rules.iter().map(|r| r.origin.as_str()).collect();
            bail!(
                "{key}: no venue rules for this instrument of the play (rules read: {}); add it to a rules file and pass --rules",
                origins.join(", ")
            );
        };
        fees_by_key.insert(
            key.clone(),
            FeeRates {
                maker: r.maker_fee,
                taker: r.taker_fee,
            },
        );
        ticks_by_key.insert(key.clone(), r.tick_size);
    }
    Ok(SimConfig {
        fees_by_key,
        ticks_by_key,
        initial_equity: args.initial_equity,
        slippage_bps: args.slippage_bps,
        submit_latency_ns: args.latency_ms.saturating_mul(1_000_000),
        market_fill: match args.fill_at {
            FillAt::Close => MarketFill::BarClose,
            FillAt::NextOpen => MarketFill::NextOpen,
        },
        liquidity,
        ..SimConfig::default()
    })
}

/// The session's recorded parameters: what ran, on what, with which settings. The
/// names are a contract (`report` reads `initial_equity`): `strategy`, `strategy_hash`,
/// `strategy_id`, `candles KEY` / `trades KEY` / `funding KEY`, `from_log`, `rules`, `initial_equity`,
/// `fees KEY` (`maker=R taker=R`), `tick KEY`, `fill_at`, `slippage_bps`, `latency_ms`,
/// `liquidity`, `close_at_end` (`true` / `false`), `version`.
pub(super) fn run_params(
    args: &Args,
    play: &Play,
    sources: &[SourceSpec],
    rules: &[LoadedRules],
    sim: &SimConfig,
) -> Result<Vec<(String, String)>> {
    let mut params = vec![
        ("strategy".to_string(), args.strategy.display().to_string()),
        ("strategy_hash".to_string(), file_hash(&args.strategy)?),
        ("strategy_id".to_string(), play.id.to_string()),
    ];
    for spec in sources {
        let kind = match spec {
            SourceSpec::Candles { key, .. } => format!("candles {key}"),
            SourceSpec::Trades { key, .. } => format!("trades {key}"),
            SourceSpec::Funding { key, .. } => format!("funding {key}"),
        };
        let path = spec.path();
        params.push((
            kind,
            format!(
                "{} blake3:{}",
                path.display(),
                file_hash(path).with_context(|| format!("cannot read {}", path.display()))?
            ),
        ));
    }
    if let Some(source) = &args.from_log {
        let ledger =
            Ledger::open_to_read(source).context("cannot open the source ledger (--from-log)")?;
        let head = ledger.reader()?.head()?;
        params.push((
            "from_log".to_string(),
            format!("{} head {} {}", source.display(), head.seq, head.hash),
        ));
    }
    for r in rules {
        params.push((
            "rules".to_string(),
            format!("{} blake3:{}", r.origin, r.hash),
        ));
    }
    params.push(("initial_equity".to_string(), sim.initial_equity.to_string()));
    for (key, fees) in &sim.fees_by_key {
        params.push((
            format!("fees {key}"),
            format!("maker={} taker={}", fees.maker, fees.taker),
        ));
    }
    for (key, tick) in &sim.ticks_by_key {
        params.push((format!("tick {key}"), tick.to_string()));
    }
    let fill_at = match sim.market_fill {
        MarketFill::BarClose => "close",
        MarketFill::NextOpen => "next-open",
    };
    params.push(("fill_at".to_string(), fill_at.to_string()));
    params.push(("slippage_bps".to_string(), sim.slippage_bps.to_string()));
    params.push(("latency_ms".to_string(), args.latency_ms.to_string()));
    let liquidity = match sim.liquidity {
        LiquidityModel::Unlimited => "unlimited".to_string(),
        LiquidityModel::VolumeShare(share) => share.to_string(),
    };
    params.push(("liquidity".to_string(), liquidity));
    params.push(("close_at_end".to_string(), args.close_at_end.to_string()));
    params.push(("version".to_string(), env!("CARGO_PKG_VERSION").to_string()));
    Ok(params)
}

/// The run's summary; `before` is the head before the run (its events follow it).
pub(super) fn summary(ledger: &Ledger, before: u64, stats: &RunStats, out: Output) -> Result<()> {
    summary_of("backtest", ledger, before, stats, out)
}

/// The summary of a run in `mode` (`backtest`, `paper`, `live`).
pub(super) fn summary_of(
    mode: &str,
    ledger: &Ledger,
    before: u64,
    stats: &RunStats,
    out: Output,
) -> Result<()> {
    if stats.ignored_candles > 0 {
        out.note(&format!(
            "warning: {} candle(s) of another timeframe than their instrument's first were ignored",
            stats.ignored_candles
        ));
    }
    if stats.bars == 0 {
        out.note("warning: the strategy saw no closed bar: the data is shorter than one bar of its timeframe");
    }
    let reader = ledger.reader()?;
    let head = reader.head()?;
    let (projection, _) = crate::log::projection_at(&reader, head.seq)?;
    let skips: serde_json::Map<String, serde_json::Value> = stats
        .skips
        .iter()
        .map(|(reason, n)| {
            (
                serde_json::to_value(reason)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
                json!(n),
            )
        })
        .collect();
    if out.json {
        out.json_value(&json!({
            "head_seq": head.seq,
            "head_hash": head.hash.to_hex(),
            "first_seq": before + 1,
            "events": stats.events,
            "market_events": stats.market_events,
            "bars": stats.bars,
            "intents": stats.intents,
            "plans": stats.plans,
            "skips": skips,
            "orders": stats.orders,
            "fills": stats.fills,
            "funding_rates": stats.funding_rates,
            "fundings": stats.fundings,
            "ignored_candles": stats.ignored_candles,
            "positions": positions_json(&projection),
        }))?;
    } else {
        let skipped: Vec<String> = skips.iter().map(|(k, v)| format!("{k} {v}")).collect();
        out.text(&format!(
            "{mode}: {} bars, {} intents → {} plans, {} skips ({}), {} orders, {} fills{}{}\n{} events; head seq {}  hash {}\n\n{}",
            stats.bars, stats.intents, stats.plans, stats.skips.values().sum::<u64>(),
            if skipped.is_empty() { "none".to_string() } else { skipped.join(", ") },
            stats.orders, stats.fills,
            if stats.ignored_candles > 0 { format!(", {} candles of other timeframes ignored", stats.ignored_candles) } else { String::new() },
            if stats.funding_rates > 0 { format!(", {} funding rates → {} payments", stats.funding_rates, stats.fundings) } else { String::new() },
            stats.events, head.seq, head.hash,
            positions_table(projection.positions())
        ))?;
    }
    Ok(())
}
