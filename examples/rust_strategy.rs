//! A strategy written in Rust against the [`Strategy`] trait, run through the same
//! engine as `ledger run --mode backtest`: the simulated exchange, the executor with
//! the venue rules of `replay/venues/bybit.yaml`, and the 1-minute bars of
//! `replay/btcusdt-1m.csv`, into a ledger file.
//!
//! ```text
//! cargo run --release --example rust_strategy -- [LEDGER]   # default: a temp file
//! ledger report --db LEDGER
//! ```
//!
//! The strategy is a Donchian breakout: go long when a bar closes above the highest
//! high of the previous `ENTRY_BARS` bars; exit when one closes below the lowest low of
//! the previous `EXIT_BARS` bars. Prices are compared as exact `Decimal`s (no f64).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use ledger::backend::{FeeRates, SimConfig, SimExchange};
use ledger::engine::{Engine, EngineOptions, MergedSource, RunStats, SourceSpec, config_hash};
use ledger::event::{
    Candle, Decimal, Intent, IntentAction, Mode, OrderType, PositionKey, Side, Size, StrategyId,
    Timeframe,
};
use ledger::executor::{Executor, parse_rules};
use ledger::log::{Ledger, Writer, WriterOptions};
use ledger::strategy::{PositionState, Strategy, StrategyError};

/// Bars of the entry channel (the breakout high).
const ENTRY_BARS: usize = 120;
/// Bars of the exit channel (the breakdown low).
const EXIT_BARS: usize = 60;

/// Long-only Donchian breakout on one instrument.
struct Donchian {
    id: StrategyId,
    key: PositionKey,
    timeframe: Timeframe,
    /// The highs and lows of the last `ENTRY_BARS` closed bars, oldest first.
    bars: VecDeque<(Decimal, Decimal)>,
}

impl Donchian {
    fn new(key: PositionKey, timeframe: Timeframe) -> Donchian {
        Donchian {
            id: StrategyId::from("donchian"),
            key,
            timeframe,
            bars: VecDeque::with_capacity(ENTRY_BARS + 1),
        }
    }

    /// Highest high of the last `n` bars (all of them must be there).
    fn highest(&self, n: usize) -> Option<Decimal> {
        let skip = self.bars.len().checked_sub(n)?;
        self.bars
            .iter()
            .skip(skip)
            .map(|(h, _)| *h)
            .reduce(Decimal::max)
    }

    /// Lowest low of the last `n` bars.
    fn lowest(&self, n: usize) -> Option<Decimal> {
        let skip = self.bars.len().checked_sub(n)?;
        self.bars
            .iter()
            .skip(skip)
            .map(|(_, l)| *l)
            .reduce(Decimal::min)
    }

    fn intent(
        &self,
        bar: &Candle,
        action: IntentAction,
        side: Side,
        size: Size,
        why: &str,
    ) -> Intent {
        Intent {
            // Derived from the bar, so a replay gives the same ids.
            intent_id: format!("{}-{}-{}", self.id, self.key, bar.open_time.as_nanos()),
            strategy_id: self.id.clone(),
            venue: self.key.venue.clone(),
            book: self.key.book.clone(),
            instrument: self.key.instrument.clone(),
            action,
            side,
            size,
            order_type: OrderType::Market,
            limit_px: None,
            stop_loss: None,
            take_profit: None,
            reason: why.to_string(),
        }
    }
}

impl Strategy for Donchian {
    fn id(&self) -> &StrategyId {
        &self.id
    }

    fn on_bar(
        &mut self,
        bar: &Candle,
        position: &PositionState,
    ) -> Result<Vec<Intent>, StrategyError> {
        let ours = bar.venue == self.key.venue
            && bar.book == self.key.book
            && bar.instrument == self.key.instrument;
        if !bar.closed || bar.timeframe != self.timeframe || !ours {
            return Ok(Vec::new());
        }
        // The channels are of the bars before this one.
        let mut out = Vec::new();
        if position.qty.is_zero() {
            if let Some(high) = self.highest(ENTRY_BARS) {
                if bar.close > high {
                    let half = Decimal::from_parts(5, 1).unwrap_or(Decimal::ONE);
                    out.push(self.intent(
                        bar,
                        IntentAction::Entry,
                        Side::Buy,
                        Size::EquityFraction(half),
                        "close above the entry channel",
                    ));
                }
            }
        } else if position.qty.is_positive() {
            if let Some(low) = self.lowest(EXIT_BARS) {
                if bar.close < low {
                    out.push(self.intent(
                        bar,
                        IntentAction::Exit,
                        Side::Sell,
                        Size::PositionFraction(Decimal::ONE),
                        "close below the exit channel",
                    ));
                }
            }
        }
        self.bars.push_back((bar.high, bar.low));
        if self.bars.len() > ENTRY_BARS {
            self.bars.pop_front();
        }
        Ok(out)
    }
}

/// Runs the strategy over `data` into the (new) ledger at `db`.
fn backtest(db: &Path, data: &Path, rules_path: &Path) -> Result<RunStats> {
    let key = PositionKey::new("bybit", "linear", "BTCUSDT");
    let timeframe: Timeframe = "1m".parse().map_err(anyhow::Error::msg)?;
    let text = std::fs::read_to_string(rules_path)
        .with_context(|| format!("cannot read {}", rules_path.display()))?;
    let rules = parse_rules(&text, &rules_path.display().to_string())?;
    let instrument = rules
        .instrument(&key)
        .with_context(|| format!("{key}: not in {}", rules_path.display()))?;
    let initial_equity = Decimal::from_int(10_000);
    let sim = SimConfig {
        fees_by_key: [(
            key.clone(),
            FeeRates {
                maker: instrument.maker_fee,
                taker: instrument.taker_fee,
            },
        )]
        .into(),
        ticks_by_key: [(key.clone(), instrument.tick_size)].into(),
        initial_equity,
        exec_id_prefix: "sim-1-".to_string(),
        ..SimConfig::default()
    };
    // The session's recorded parameters (`report` reads `initial_equity`).
    let params = vec![
        (
            "strategy".to_string(),
            "examples/rust_strategy.rs".to_string(),
        ),
        ("strategy_id".to_string(), "donchian".to_string()),
        (format!("candles {key}"), data.display().to_string()),
        ("rules".to_string(), rules_path.display().to_string()),
        ("initial_equity".to_string(), initial_equity.to_string()),
    ];
    let options = EngineOptions {
        mode: Mode::Backtest,
        config_hash: config_hash(&params),
        params,
        initial_equity,
        timeframe,
    };
    let ledger =
        Ledger::open_for_session(db).with_context(|| format!("cannot open {}", db.display()))?;
    anyhow::ensure!(
        ledger.reader()?.head()?.seq == 0,
        "{} already holds events; give a new path",
        db.display()
    );
    let mut writer = Writer::new(&ledger, WriterOptions::default())?;
    let mut engine = Engine::new(
        &mut writer,
        Donchian::new(key.clone(), timeframe),
        Executor::new(vec![rules]),
        SimExchange::new(sim),
        options,
    );
    let sources = [SourceSpec::Candles {
        key,
        path: data.to_path_buf(),
    }];
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let driven: Result<()> = runtime.block_on(async {
        for event in MergedSource::open(&sources)? {
            engine.on_market(event?).await?;
        }
        Ok(())
    });
    let reason = match &driven {
        Ok(()) => "end of data".to_string(),
        Err(e) => format!("error: {e:#}"),
    };
    let stats = engine.finish(&reason)?;
    driven?;
    Ok(stats)
}

fn main() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let db = match std::env::args_os().nth(1) {
        Some(path) => PathBuf::from(path),
        None => std::env::temp_dir().join(format!("rust_strategy-{}.redb", std::process::id())),
    };
    let stats = backtest(
        &db,
        &root.join("replay/btcusdt-1m.csv"),
        &root.join("replay/venues/bybit.yaml"),
    )?;
    let ledger = Ledger::open_to_read(&db)?;
    let head = ledger.reader()?.head()?;
    println!(
        "donchian: {} bars, {} intents, {} orders, {} fills",
        stats.bars, stats.intents, stats.orders, stats.fills
    );
    println!(
        "ledger {}: head seq {}  hash {}",
        db.display(),
        head.seq,
        head.hash
    );
    Ok(())
}
