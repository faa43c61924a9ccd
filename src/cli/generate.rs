//! `ledger generate-candles`: the deterministic sample data behind `replay/` and the
//! benchmarks — a seeded random walk, so the bundled file can be re-made and checked.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};

use super::Output;
use crate::event::{Decimal, Timeframe, Timestamp};
use crate::ingest::sample::{generate_candles, write_candles_csv};

/// Arguments of `ledger generate-candles`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// PRNG seed: the same seed gives the same bars.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Number of bars.
    #[arg(long, default_value_t = 43_200)]
    pub bars: usize,
    /// Bar length.
    #[arg(long, default_value = "1m")]
    pub timeframe: String,
    /// Open time of the first bar (RFC 3339).
    #[arg(long, default_value = "2026-01-01T00:00:00Z")]
    pub start: String,
    /// First price.
    #[arg(long, default_value = "42000")]
    pub px: String,
    /// Output CSV (`time,open,high,low,close,volume`).
    #[arg(long)]
    pub out: PathBuf,
}

/// Run `ledger generate-candles`.
pub fn exec(args: Args, out: Output) -> Result<()> {
    let timeframe: Timeframe = args.timeframe.parse().map_err(anyhow::Error::msg)?;
    let start = Timestamp::parse_rfc3339(&args.start)?;
    let px: Decimal = args.px.parse()?;
    let candles = generate_candles(args.seed, start, args.bars, timeframe, px);
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut sink = BufWriter::new(file);
    write_candles_csv(&candles, &mut sink)?;
    sink.flush()?;
    if out.json {
        out.json_value(&serde_json::json!({
            "out": args.out.display().to_string(),
            "bars": candles.len(),
            "timeframe": timeframe.to_string(),
            "seed": args.seed,
            "first_open_time": candles.first().map(|c| c.open_time.to_string()),
            "last_open_time": candles.last().map(|c| c.open_time.to_string()),
        }))?;
    } else {
        out.text(&format!(
            "wrote {} {} bars to {}\n",
            candles.len(),
            timeframe,
            args.out.display()
        ))?;
    }
    Ok(())
}
