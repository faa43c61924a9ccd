//! Tick-to-order latency: the release `ledger run --mode live` against the loopback
//! fake Bybit in this process. A play that enters on one bar and exits on the next
//! makes every closing kline an order; the bench stamps the instant before the fake
//! sends the bar's frames and the fake stamps the instant its handler gets the
//! `/v5/order/create` (`Control::create_arrivals`). In between: the WebSocket hop,
//! parsing, the reducer, the strategy, the executor, the outbox's durable commit,
//! signing and the REST hop, so the figure is an upper bound of frame received →
//! order on the wire.
//!
//! Bars are spaced so orders stay under Bybit's 10 creates/s and each order's fill
//! comes back before the next bar: every sample is one order on a quiet session.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use ledger::fake::bybit::{Account, AccountConfig, Bar, Config, FakeBybit, Instrument};
use rust_decimal::Decimal;

use crate::report::{Report, Target};

const KEY: &str = "bench-key";
const SECRET: &str = "bench-secret";
/// Bars stepped before sampling: the session's start-up (instruments, clock,
/// reconcile, subscriptions) and the play's warm-up.
const WARMUP_BARS: usize = 5;
/// Wall time between bars.
const PACE: Duration = Duration::from_millis(150);

/// In on a flat position, out on a long one: one market order per bar.
const PLAY: &str = r#"
id: latency
instruments: [bybit:linear:BTCUSDT]
timeframe: 1m
cases:
  - when: ["position == 0"]
    then:
      action: entry
      side: buy
      size: { equity_fraction: "0.01" }
      order: market
      reason: in
  - when: ["position > 0"]
    then:
      action: exit
      side: sell
      size: { position_fraction: "1" }
      order: market
      reason: out
"#;

fn dec(s: &str) -> Decimal {
    // Literals of this file: an invariant, not input.
    s.parse().expect("a decimal literal")
}

/// `n` one-minute bars, a gentle zig-zag around 40,000.
fn bars(n: usize) -> Vec<Bar> {
    (0..n)
        .map(|i| {
            let close = dec("40000") + Decimal::from((i % 7) as i64) * dec("0.5");
            Bar {
                start_ms: 1_767_225_600_000 + i as i64 * 60_000,
                len_ms: 60_000,
                open: close,
                high: close + dec("1"),
                low: close - dec("1"),
                close,
                volume: dec("3.5"),
            }
        })
        .collect()
}

async fn fake(n: usize) -> Result<FakeBybit> {
    ledger::install_crypto();
    let config = Config {
        account: Account {
            key: KEY.into(),
            secret: SECRET.into(),
        },
        instruments: vec![Instrument {
            symbol: "BTCUSDT".into(),
            tick: dec("0.1"),
            lot: dec("0.001"),
            min_qty: dec("0.001"),
            min_notional: dec("5"),
            max_leverage: dec("100"),
        }],
        bars: [("BTCUSDT".to_string(), bars(n))].into(),
        account_config: AccountConfig::default(),
        pace: None,
    };
    Ok(FakeBybit::start(config, "127.0.0.1:0".parse()?).await?)
}

/// Nearest-rank percentile of sorted `xs`.
fn percentile(xs: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * xs.len() as f64).ceil() as usize;
    xs[rank.clamp(1, xs.len()) - 1]
}

pub fn run(bin: &Path, tmp: &Path, samples: usize, report: &mut Report) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    eprintln!("latency (live session against the loopback fake, {samples} bars)");
    let latencies = rt.block_on(measure(bin, tmp, samples))?;
    ensure!(
        latencies.len() * 10 >= samples * 9,
        "only {} of {samples} bars produced an order",
        latencies.len()
    );
    let mut sorted = latencies.clone();
    sorted.sort_by(f64::total_cmp);
    report.add(
        "tick-to-order p50 (bar frame sent -> create at fake)",
        percentile(&sorted, 50.0),
        "ms",
        Target::Info,
    );
    report.add(
        "tick-to-order p99",
        percentile(&sorted, 99.0),
        "ms",
        Target::AtMost(2.0),
    );
    report.add(
        "tick-to-order max",
        sorted.last().copied().unwrap_or(0.0),
        "ms",
        Target::Info,
    );
    report.add(
        "tick-to-order orders sampled",
        latencies.len() as f64,
        "",
        Target::Info,
    );
    Ok(())
}

async fn measure(bin: &Path, tmp: &Path, samples: usize) -> Result<Vec<f64>> {
    // Enough bars for start-up too; the session is stopped by Ctrl-C, not a bar count.
    let venue = fake(WARMUP_BARS + samples + 200).await?;
    let play = tmp.join("latency.yaml");
    std::fs::write(&play, PLAY)?;
    let db = tmp.join("latency.redb");
    let log = std::fs::File::create(tmp.join("latency.log"))?;
    let mut child = Command::new(bin)
        .env("LEDGER_BYBIT_KEY", KEY)
        .env("LEDGER_BYBIT_SECRET", SECRET)
        .args([
            "run",
            "--mode",
            "live",
            "--confirm-live",
            "--venue",
            "bybit",
        ])
        .arg("--strategy")
        .arg(&play)
        .arg("--rest-url")
        .arg(venue.rest_url())
        .arg("--ws-url")
        .arg(venue.ws_url())
        .arg("--db")
        .arg(&db)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("starting ledger run")?;
    let control = venue.control();
    // Start-up: until the session has subscribed and traded once.
    let ready = Instant::now() + Duration::from_secs(30);
    while control.create_arrivals().is_empty() {
        ensure!(Instant::now() < ready, "the session never sent an order");
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("ledger run ended early: {status}");
        }
        control.step();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for _ in 0..WARMUP_BARS {
        control.step();
        tokio::time::sleep(PACE).await;
    }
    let mut latencies = Vec::with_capacity(samples);
    for _ in 0..samples {
        let before = control.create_arrivals().len();
        let sent = Instant::now();
        if !control.step() {
            break;
        }
        tokio::time::sleep(PACE).await;
        let arrivals = control.create_arrivals();
        if let Some(first) = arrivals.get(before) {
            latencies.push(first.duration_since(sent).as_secs_f64() * 1e3);
        }
    }
    // Ctrl-C: the session's kill switch cancels, records why and stops.
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()?;
    ensure!(interrupted.success(), "kill -INT failed: {interrupted}");
    let stopped = Instant::now() + Duration::from_secs(30);
    while child.try_wait()?.is_none() {
        if Instant::now() > stopped {
            child.kill()?;
            anyhow::bail!("ledger run did not stop on Ctrl-C");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(latencies)
}
