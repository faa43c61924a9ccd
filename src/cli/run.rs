//! `ledger run --mode backtest`: a strategy over historical data (files, or the market
//! events of another ledger) through the simulated exchange, every event into a fresh
//! ledger.
//!
//! The run's identity (strategy, data, venue rules, settings, version) is hashed into
//! the session-started event; the log holds event time only, so the same inputs give a
//! byte-identical log.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::json;

use super::Output;
use super::positions::{positions_json, positions_table};
use crate::backend::{LiquidityModel, MarketFill, SimConfig, SimExchange};
use crate::engine::{
    Engine, EngineOptions, MergedSource, RunStats, SourceSpec, config_hash, file_hash,
};
use crate::event::{Decimal, Mode, PositionKey};
use crate::executor::{Executor, parse_rules};
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
    /// Live market data and real orders (needs the venue adapters and --i-mean-live).
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
    /// Candle file, as FILE (for a single-instrument play) or VENUE:BOOK:SYMBOL=FILE.
    #[arg(long = "data", value_name = "[KEY=]FILE")]
    pub data: Vec<String>,
    /// Trade file, as FILE or VENUE:BOOK:SYMBOL=FILE; bars are built from the trades.
    #[arg(long = "trades", value_name = "[KEY=]FILE")]
    pub trades: Vec<String>,
    /// Re-run over the market events recorded in another ledger.
    #[arg(long, value_name = "DB")]
    pub from_log: Option<PathBuf>,
    /// Venue rules files (default: every replay/venues/*.yaml).
    #[arg(long = "rules", value_name = "FILE")]
    pub rules: Vec<PathBuf>,
    /// Starting equity, in the quote currency.
    #[arg(long, default_value = "10000")]
    pub initial_equity: String,
    /// Where market orders fill on bars.
    #[arg(long, value_enum, default_value = "close")]
    pub fill_at: FillAt,
    /// Slippage against takers on market and stop fills, in basis points.
    #[arg(long, default_value = "0")]
    pub slippage_bps: String,
    /// Time from a request to the venue acting on it, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: i64,
    /// Share of each bar's volume our orders may take (e.g. 0.1), or `unlimited`.
    #[arg(long, default_value = "unlimited")]
    pub liquidity: String,
    /// Append to a ledger that already holds events (default: refuse).
    #[arg(long)]
    pub append: bool,
}

impl Args {
    /// A backtest of `strategy` over `data` with every other setting at its default.
    pub fn backtest(strategy: PathBuf, data: PathBuf) -> Args {
        Args {
            mode: RunMode::Backtest,
            strategy,
            data: vec![data.display().to_string()],
            trades: Vec::new(),
            from_log: None,
            rules: Vec::new(),
            initial_equity: "10000".into(),
            fill_at: FillAt::Close,
            slippage_bps: "0".into(),
            latency_ms: 0,
            liquidity: "unlimited".into(),
            append: false,
        }
    }
}

/// Run `ledger run`.
pub fn exec(db: &Path, args: Args, out: Output) -> Result<()> {
    if args.mode != RunMode::Backtest {
        bail!(
            "--mode {:?} needs the live venue adapters, which this build does not have yet; use --mode backtest",
            args.mode
        );
    }
    let play_text = std::fs::read_to_string(&args.strategy)
        .with_context(|| format!("cannot read strategy {}", args.strategy.display()))?;
    let play = Play::parse(&play_text, &args.strategy.display().to_string())?;
    let sources = source_specs(&play, &args)?;
    if sources.is_empty() && args.from_log.is_none() {
        bail!("no market data: give --data, --trades or --from-log");
    }
    let rules_paths = rules_paths(&args.rules)?;
    let mut rules = Vec::new();
    for path in &rules_paths {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        rules.push(parse_rules(&text, &path.display().to_string())?);
    }
    let sim = sim_config(&args)?;
    let params = run_params(&args, &play, &sources, &rules_paths, &sim)?;
    let options = EngineOptions {
        mode: Mode::Backtest,
        config_hash: config_hash(&params),
        params,
        initial_equity: sim.initial_equity,
        timeframe: play.timeframe,
    };
    let ledger = Ledger::open_for_session(db)
        .with_context(|| format!("cannot open ledger {}", db.display()))?;
    if ledger.reader()?.head()?.seq > 0 && !args.append {
        bail!(
            "{} already holds events; give a new --db, or --append to add this run",
            db.display()
        );
    }
    let mut writer = Writer::new(&ledger, WriterOptions::default())?;
    let strategy = PlayStrategy::new(play)?;
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
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let bar = out.spinner("backtest");
    runtime.block_on(async {
        match &args.from_log {
            Some(source) => drive_from_log(&mut engine, source, &bar).await,
            None => drive_files(&mut engine, &sources, &bar).await,
        }
    })?;
    bar.finish_and_clear();
    let stats = engine.finish("end of data")?;
    summary(&ledger, &stats, out)
}

async fn drive_files<S: crate::strategy::Strategy>(
    engine: &mut Engine<'_, S, SimExchange>,
    sources: &[SourceSpec],
    bar: &indicatif::ProgressBar,
) -> Result<()> {
    let merged = MergedSource::open(sources)?;
    for (i, event) in merged.enumerate() {
        engine.on_market(event?).await?;
        if i % 4096 == 0 {
            bar.set_position(i as u64);
        }
    }
    Ok(())
}

async fn drive_from_log<S: crate::strategy::Strategy>(
    engine: &mut Engine<'_, S, SimExchange>,
    source: &Path,
    bar: &indicatif::ProgressBar,
) -> Result<()> {
    let ledger = Ledger::open_to_read(source)
        .with_context(|| format!("cannot open source ledger {}", source.display()))?;
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
            engine.on_market(event).await?;
        }
        bar.set_position(to);
        from = to + 1;
    }
    Ok(())
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

fn source_specs(play: &Play, args: &Args) -> Result<Vec<SourceSpec>> {
    let mut specs = Vec::new();
    for (list, trades) in [(&args.data, false), (&args.trades, true)] {
        for item in list.iter() {
            let (key, path) = match item.rsplit_once('=') {
                Some((key, path)) => (key.parse::<PositionKey>()?, PathBuf::from(path)),
                None => match play.instruments.as_slice() {
                    [only] => (only.clone(), PathBuf::from(item)),
                    _ => bail!(
                        "{item}: the play trades {} instruments; write KEY=FILE",
                        play.instruments.len()
                    ),
                },
            };
            if !play.instruments.contains(&key) {
                bail!("{item}: {key} is not one of the play's instruments");
            }
            specs.push(if trades {
                SourceSpec::Trades { key, path }
            } else {
                SourceSpec::Candles { key, path }
            });
        }
    }
    Ok(specs)
}

fn rules_paths(given: &[PathBuf]) -> Result<Vec<PathBuf>> {
    if !given.is_empty() {
        return Ok(given.to_vec());
    }
    let dir = Path::new("replay/venues");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("no --rules given and cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    paths.sort();
    Ok(paths)
}

fn sim_config(args: &Args) -> Result<SimConfig> {
    let decimal = |name: &str, text: &str| -> Result<Decimal> {
        text.parse::<Decimal>().with_context(|| format!("--{name}"))
    };
    let liquidity = match args.liquidity.as_str() {
        "unlimited" => LiquidityModel::Unlimited,
        share => LiquidityModel::VolumeShare(decimal("liquidity", share)?),
    };
    Ok(SimConfig {
        initial_equity: decimal("initial-equity", &args.initial_equity)?,
        slippage_bps: decimal("slippage-bps", &args.slippage_bps)?,
        submit_latency_ns: args.latency_ms.saturating_mul(1_000_000),
        market_fill: match args.fill_at {
            FillAt::Close => MarketFill::BarClose,
            FillAt::NextOpen => MarketFill::NextOpen,
        },
        liquidity,
        ..SimConfig::default()
    })
}

fn run_params(
    args: &Args,
    play: &Play,
    sources: &[SourceSpec],
    rules: &[PathBuf],
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
        let ledger = Ledger::open_to_read(source)
            .with_context(|| format!("cannot open source ledger {}", source.display()))?;
        let head = ledger.reader()?.head()?;
        params.push((
            "from_log".to_string(),
            format!("{} head {} {}", source.display(), head.seq, head.hash),
        ));
    }
    for path in rules {
        params.push((
            "rules".to_string(),
            format!("{} blake3:{}", path.display(), file_hash(path)?),
        ));
    }
    params.push(("sim".to_string(), format!("{sim:?}")));
    params.push(("version".to_string(), env!("CARGO_PKG_VERSION").to_string()));
    Ok(params)
}

fn summary(ledger: &Ledger, stats: &RunStats, out: Output) -> Result<()> {
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
            "events": stats.events,
            "market_events": stats.market_events,
            "bars": stats.bars,
            "intents": stats.intents,
            "plans": stats.plans,
            "skips": skips,
            "orders": stats.orders,
            "fills": stats.fills,
            "ignored_candles": stats.ignored_candles,
            "positions": positions_json(&projection),
        }))?;
    } else {
        let skipped: Vec<String> = skips.iter().map(|(k, v)| format!("{k} {v}")).collect();
        out.text(&format!(
            "backtest: {} bars, {} intents → {} plans, {} skips ({}), {} orders, {} fills{}\n{} events; head seq {}  hash {}\n\n{}",
            stats.bars, stats.intents, stats.plans, stats.skips.values().sum::<u64>(),
            if skipped.is_empty() { "none".to_string() } else { skipped.join(", ") },
            stats.orders, stats.fills,
            if stats.ignored_candles > 0 { format!(", {} candles of other timeframes ignored", stats.ignored_candles) } else { String::new() },
            stats.events, head.seq, head.hash,
            positions_table(projection.positions())
        ))?;
    }
    Ok(())
}
