//! `ledger reconcile --venue bybit`: ask the venue what the account holds, compare it
//! with the ledger's projection, and append the snapshot, a drift event per difference
//! and the correction that repairs it (`crate::reconcile`). Fills the venue reports
//! that the ledger missed (a session down while they happened) are fetched first and
//! appended as fills, so a correction covers only what no report explains.
//!
//! A second reconcile right after finds nothing and appends nothing. The ledger must
//! not be held by a running session (one writer): a session reconciles on its own at
//! start.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::json;

use super::Output;
use super::bybit_link::{self, Endpoints};
use super::fake_venue::VenueName;
use crate::backend::ExecutionBackend;
use crate::event::{ExchangeSnapshot, Venue};
use crate::log::{Ledger, Writer, WriterOptions};

/// Arguments of `ledger reconcile`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The venue.
    #[arg(long, value_enum)]
    pub venue: VenueName,
    /// The venue's REST base URL (default: testnet, or mainnet with --mainnet).
    #[arg(long, value_name = "URL")]
    pub rest_url: Option<String>,
    /// The venue's WebSocket base URL (its private stream reports fills).
    #[arg(long, value_name = "URL")]
    pub ws_url: Option<String>,
    /// Use the venue's mainnet endpoints.
    #[arg(long)]
    pub mainnet: bool,
    /// API key file (0600); default: LEDGER_BYBIT_KEY / LEDGER_BYBIT_SECRET.
    #[arg(long, value_name = "FILE")]
    pub keys: Option<PathBuf>,
}

/// Run `ledger reconcile`.
pub fn exec(db: &Path, args: Args, out: Output) -> Result<()> {
    let VenueName::Bybit = args.venue;
    if !db.exists() {
        // A mistyped path must not become a new ledger holding the venue's whole
        // account as drift.
        bail!(
            "no ledger at {}: reconcile compares an existing ledger with the venue",
            db.display()
        );
    }
    let config = Endpoints::of(
        args.rest_url.as_deref(),
        args.ws_url.as_deref(),
        args.mainnet,
    )
    .config(args.keys.as_deref())?;
    let venue: Venue = config.namespace.venue.clone();
    let ledger = Ledger::open_for_session(db).context("cannot open the ledger")?;
    let mut writer = Writer::resume(&ledger, WriterOptions::default())?;
    crate::install_crypto();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let (caught_up, differences) = runtime.block_on(async {
        let mut backend = bybit_link::connect(&ledger, &writer, config, None).await?;
        // The catch-up `restore` asked for: what the venue reported while no session
        // listened, as the reports themselves.
        // Counted as the ledger took them: a report it already holds is skipped.
        let caught_up = append(&mut writer, backend.reports().await?)?;
        // This command's own connection is told on stderr, not recorded: a reconcile
        // that finds nothing appends nothing.
        let (_, lines) = backend.bookkeeping();
        lines.iter().for_each(|l| out.note(l));
        let snapshot = ExchangeSnapshot {
            venue: venue.clone(),
            positions: backend.positions().await?,
            open_orders: backend.open_orders().await?,
            balances: backend.balances().await?,
        };
        let now = backend.venue_now();
        let (events, differences) =
            crate::reconcile::reconcile(writer.projection(), &snapshot, now, writer.next_seq());
        append(&mut writer, events)?;
        Ok::<_, anyhow::Error>((caught_up, differences))
    })?;
    let head = writer.commit()?;
    if out.json {
        out.json_value(&json!({
            "venue": venue.to_string(),
            "reports_caught_up": caught_up,
            "in_sync": differences.is_empty(),
            "differences": differences.iter().map(|d| json!({
                "scope": format!("{:?}", d.scope).to_lowercase(),
                "subject": d.subject,
                "ledger": d.ours,
                "venue": d.theirs,
                "corrected": d.corrected,
            })).collect::<Vec<_>>(),
            "head_seq": head.seq,
        }))?;
    } else {
        let mut text = format!("{venue}: {caught_up} report(s) caught up\n");
        if differences.is_empty() {
            text.push_str("in sync: the ledger matches the venue\n");
        }
        for d in &differences {
            text.push_str(&format!(
                "{:<9} {}: ledger {}, venue {} — {}\n",
                format!("{:?}", d.scope).to_lowercase(),
                d.subject,
                d.ours,
                d.theirs,
                if d.corrected {
                    "corrected"
                } else {
                    "recorded (no correction)"
                }
            ));
        }
        text.push_str(&format!("head seq {}  hash {}\n", head.seq, head.hash));
        out.text(&text)?;
    }
    Ok(())
}

/// Append venue events; returns how many were new to the ledger.
fn append(writer: &mut Writer, events: Vec<crate::event::Event>) -> Result<u64> {
    if events.is_empty() {
        return Ok(0);
    }
    let outcome = writer.append(events)?;
    if let Some((_, e)) = outcome.rejected.first() {
        bail!("the ledger refused a venue event: {e}");
    }
    Ok(outcome.appended)
}
