//! Ingest: a loopback WebSocket server sends Bybit `publicTrade` frames (100 trades a
//! frame, as Bybit batches) as fast as it can; the feed parses them into bounded
//! queues and an `Appender` group-commits them. Two runs: keeping up (a large queue:
//! trades/s parsed and durably appended) and a 10× overload (a reader throttled to a
//! tenth of the sender: peak RSS stays bounded, and recorded + dropped = sent exactly).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use futures_util::{SinkExt, StreamExt};
use ledger::event::{Payload, Symbol};
use ledger::feed::{Feed, FeedConfig};
use ledger::log::{Appender, Ledger, OpenMode, WriterOptions};
use tokio_tungstenite::tungstenite::Message;

use crate::report::{Report, Target, reset_peak_rss, status_kb};

const PER_FRAME: usize = 100;

fn frame(n: u64) -> String {
    let t0 = 1_767_225_600_000 + n as i64;
    let trades: Vec<String> = (0..PER_FRAME)
        .map(|i| {
            format!(
                r#"{{"T":{},"s":"BTCUSDT","S":"{}","v":"0.0{}","p":"9{}.5","L":"PlusTick","i":"{n}-{i}","BT":false,"seq":{n}}}"#,
                t0,
                if i % 2 == 0 { "Buy" } else { "Sell" },
                1 + i % 9,
                40_000 + i
            )
        })
        .collect();
    format!(
        r#"{{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":{t0},"data":[{}]}}"#,
        trades.join(",")
    )
}

/// Serve one connection: ack the subscribe, send `frames` frames, then idle.
async fn server(frames: u64) -> Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("ws://{}/", listener.local_addr()?);
    let texts: Vec<String> = (0..64).map(frame).collect();
    tokio::spawn(async move {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
            return;
        };
        let Some(Ok(Message::Text(_))) = ws.next().await else {
            return;
        };
        let ack =
            r#"{"success":true,"ret_msg":"","conn_id":"b","req_id":"sub-1","op":"subscribe"}"#;
        if ws.send(Message::Text(ack.into())).await.is_err() {
            return;
        }
        for n in 0..frames {
            let text = texts[(n % 64) as usize].clone();
            if ws.feed(Message::Text(text.into())).await.is_err() {
                return;
            }
        }
        let _ = ws.flush().await;
        while let Some(Ok(_)) = ws.next().await {}
    });
    Ok(url)
}

struct Outcome {
    recorded: u64,
    dropped: u64,
    secs: f64,
    peak_kb: u64,
}

async fn one(
    db: &Path,
    trades: u64,
    capacity: usize,
    throttle: Option<Duration>,
) -> Result<Outcome> {
    let frames = trades / PER_FRAME as u64;
    let sent = frames * PER_FRAME as u64;
    let url = server(frames).await?;
    let ledger = Ledger::open(db, OpenMode::CreateIfMissing)?;
    let appender = Appender::start(&ledger, WriterOptions::default())?;
    let mut config = FeedConfig::new(url, vec![Symbol::from("BTCUSDT")]);
    config.queue_capacity = capacity;
    let mut feed = Feed::spawn(config)?;
    reset_peak_rss();
    let (mut recorded, mut dropped) = (0u64, 0u64);
    let mut start = None;
    let mut batch = Vec::with_capacity(8192);
    let mut pending = std::collections::VecDeque::new();
    while recorded + dropped < sent {
        batch.clear();
        let more = tokio::time::timeout(
            Duration::from_secs(20),
            feed.next_batch(if throttle.is_some() { 1000 } else { 8192 }, &mut batch),
        )
        .await
        .context("feed stalled")?;
        ensure!(more, "feed ended");
        for e in &batch {
            match &e.payload {
                Payload::Trade(_) => recorded += 1,
                Payload::TicksDropped(d) => dropped += d.count,
                _ => {}
            }
        }
        start.get_or_insert_with(Instant::now);
        pending.push_back(appender.submit_async(std::mem::take(&mut batch)).await?);
        while pending.len() > 4 {
            if let Some(p) = pending.pop_front() {
                p.wait_async().await?;
            }
        }
        if let Some(pause) = throttle {
            tokio::time::sleep(pause).await;
        }
    }
    for p in pending {
        p.wait_async().await?;
    }
    let secs = start.map_or(0.0, |s| s.elapsed().as_secs_f64());
    feed.stop();
    tokio::task::spawn_blocking(move || appender.finish()).await??;
    ensure!(
        recorded + dropped == sent && feed.stats().dropped == dropped,
        "recorded {recorded} + dropped {dropped} != sent {sent}"
    );
    Ok(Outcome {
        recorded,
        dropped,
        secs,
        peak_kb: status_kb("VmHWM:").unwrap_or(0),
    })
}

pub fn run(tmp: &Path, trades: u64, report: &mut Report) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    eprintln!("ingest (loopback WS, {PER_FRAME} trades a frame)");
    let fast = rt.block_on(one(&tmp.join("ingest.redb"), trades, 1 << 22, None))?;
    report.add(
        "ingest: trades/s parsed and durably appended",
        fast.recorded as f64 / fast.secs,
        "tr/s",
        Target::AtLeast(200_000.0),
    );
    report.add(
        "ingest: peak RSS",
        fast.peak_kb as f64 / 1024.0,
        "MB",
        Target::Info,
    );
    eprintln!("ingest (10x overload: reader throttled, queue 20 000)");
    let slow = rt.block_on(one(
        &tmp.join("ingest-overload.redb"),
        trades,
        20_000,
        Some(Duration::from_millis(25)),
    ))?;
    report.add(
        "ingest overload: trades dropped (counted)",
        slow.dropped as f64,
        "tr",
        Target::Info,
    );
    report.add(
        "ingest overload: trades recorded",
        slow.recorded as f64,
        "tr",
        Target::Info,
    );
    report.add(
        "ingest overload: peak RSS",
        slow.peak_kb as f64 / 1024.0,
        "MB",
        Target::Info,
    );
    Ok(())
}
