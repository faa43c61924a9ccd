//! `ledger fake-venue bybit`: a loopback Bybit v5 that replays a candle file, for
//! rehearsing a live setup offline (point a session's `--rest-url`/`--ws-url` at it).
//! The instrument rules are the bundled Bybit rules; the account key pair comes from
//! `LEDGER_FAKE_KEY` / `LEDGER_FAKE_SECRET` (defaults `fake-key` / `fake-secret`: the
//! fake guards nothing, but it checks every signature as the venue does).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde_json::json;

use super::Output;
use crate::event::{Payload, PositionKey};
use crate::fake::bybit::{Account, AccountConfig, Bar, Config, FakeBybit, Instrument};
use crate::ingest::{CandleOptions, read_candles_file};

/// Which venue to fake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VenueName {
    /// Bybit v5, linear perpetuals.
    Bybit,
}

/// Arguments of `ledger fake-venue`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The venue to fake.
    #[arg(value_enum)]
    pub venue: VenueName,
    /// Address to listen on (port 0: any free port; the one chosen is printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Candle file to replay (CSV or JSON, as `run --data` reads).
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// The symbol the candles are for.
    #[arg(long, default_value = "BTCUSDT")]
    pub symbol: String,
    /// Wall milliseconds between bars (default: the bars' own length, so market time
    /// and the venue clock agree).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    pub pace_ms: Option<u64>,
    /// Starting USDT balance of the fake account.
    #[arg(long, default_value = "100000", value_parser = super::values::parse_positive_decimal)]
    pub balance: crate::event::Decimal,
}

/// Run `ledger fake-venue`: serve until interrupted.
pub fn exec(args: Args, out: Output) -> Result<()> {
    let key = PositionKey::new("bybit", "linear", &args.symbol);
    let rules = super::run::bundled_rules("bybit.yaml")?;
    let Some(r) = rules.instrument(&key) else {
        bail!(
            "{}: not in the bundled Bybit rules (known: {})",
            args.symbol,
            rules
                .instruments
                .keys()
                .map(|(_, s)| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let d = |v: crate::event::Decimal| -> Result<rust_decimal::Decimal> {
        v.to_string().parse().context("decimal out of range")
    };
    let instrument = Instrument {
        symbol: args.symbol.clone(),
        tick: d(r.tick_size)?,
        lot: d(r.lot_size)?,
        min_qty: d(r.min_qty)?,
        min_notional: d(r.min_notional)?,
        max_leverage: d(r.max_leverage)?,
    };
    let options = CandleOptions {
        market: key,
        timeframe: None,
    };
    let mut bars = Vec::new();
    for event in read_candles_file(&args.data, options)? {
        let event = event?;
        if let Payload::Candle(c) = event.payload {
            bars.push(Bar {
                start_ms: c.open_time.as_nanos() / 1_000_000,
                len_ms: c.timeframe.nanos() / 1_000_000,
                open: d(c.open)?,
                high: d(c.high)?,
                low: d(c.low)?,
                close: d(c.close)?,
                volume: d(c.volume)?,
            });
        }
    }
    let Some(len_ms) = bars.first().map(|b| b.len_ms) else {
        bail!("{}: no candles", args.data.display());
    };
    let pace = std::time::Duration::from_millis(args.pace_ms.unwrap_or(len_ms as u64));
    let account = Account {
        key: std::env::var("LEDGER_FAKE_KEY").unwrap_or_else(|_| "fake-key".into()),
        secret: std::env::var("LEDGER_FAKE_SECRET").unwrap_or_else(|_| "fake-secret".into()),
    };
    let config = Config {
        account,
        instruments: vec![instrument],
        bars: BTreeMap::from([(args.symbol.clone(), bars)]),
        account_config: AccountConfig {
            balance: d(args.balance)?,
            maker_fee: d(r.maker_fee)?,
            taker_fee: d(r.taker_fee)?,
            ..AccountConfig::default()
        },
        pace: Some(pace),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let fake = FakeBybit::start(config, args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        if out.json {
            out.json_value(&json!({
                "venue": "bybit",
                "rest_url": fake.rest_url(),
                "ws_public": format!("{}/v5/public/linear", fake.ws_url()),
                "ws_private": format!("{}/v5/private", fake.ws_url()),
            }))?;
        } else {
            out.text(&format!(
                "fake bybit on {}\n  rest  {}\n  ws    {}/v5/public/linear  {}/v5/private\n  one bar every {} ms; Ctrl-C stops",
                fake.addr(),
                fake.rest_url(),
                fake.ws_url(),
                fake.ws_url(),
                pace.as_millis()
            ))?;
        }
        tokio::signal::ctrl_c().await.context("cannot wait for Ctrl-C")?;
        Ok(())
    })
}
