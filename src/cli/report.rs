//! `ledger report [--initial-equity X] [--chart FILE.svg]`: the equity curve and metrics
//! of a backtest or live ledger, as tables or JSON, and, when asked, an SVG chart of
//! equity and drawdown. A report only reads: without `--chart` it writes nothing, so it
//! works on a ledger in a read-only directory.
//!
//! Events stream from the log into `report::ReportBuilder` one at a time, so memory is
//! bounded by the number of positions whatever the log's length.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::{Output, Table};
use crate::event::Decimal;
use crate::report::{
    EquitySource, Metrics, PERIODS_PER_YEAR, Report, ReportBuilder, ReportOptions, Sessions,
    render_svg,
};

/// Arguments of `ledger report`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Equity = initial equity + Σ positions (realized − fees + funding + unrealized at the mark).
One curve point per closed candle close time; per trade/fill/funding event when the log
has no closed candle. Sharpe and Sortino use daily returns (UTC days of event time, empty
days count as 0) annualized with 365 days; win rate and profit factor are over round trips
(flat → flat) after their share of fees.

The starting capital is what the log recorded before trading (a backtest's session records
the equity it ran with; a live session's first balance or transfer); --initial-equity
overrides it, and the report names what it overrode. A session without a session_stopped
(the run failed or was killed part-way) is reported as incomplete.")]
pub struct Args {
    /// Starting capital, overriding what the log recorded (default: the recorded one,
    /// else 10000).
    #[arg(long, value_name = "AMOUNT", allow_negative_numbers = true, value_parser = super::parse_positive_decimal)]
    pub initial_equity: Option<Decimal>,
    /// Write an SVG chart of equity and drawdown to this file (must end in `.svg`).
    #[arg(long, value_name = "FILE.svg", value_parser = parse_chart_path)]
    pub chart: Option<PathBuf>,
}

/// Only SVG is drawn: a `.png` name holding SVG would lie about the file.
fn parse_chart_path(text: &str) -> std::result::Result<PathBuf, String> {
    let path = PathBuf::from(text);
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("svg") => Ok(path),
        _ => Err(format!(
            "{text}: the chart is SVG; give a file name ending in .svg"
        )),
    }
}

/// Run `ledger report`.
pub fn exec(db: &Path, args: Args, out: Output) -> Result<()> {
    let ledger = super::open_to_read(db)?;
    let reader = ledger.reader()?;
    let head = reader.head()?;
    let mut builder = ReportBuilder::new(ReportOptions {
        initial_equity: args.initial_equity,
    });
    let bar = out.progress(head.seq, "report");
    let mut failure = None;
    reader.for_each_event(1, head.seq, |env| {
        if env.seq % 4096 == 0 {
            bar.set_position(env.seq);
        }
        match builder.apply(&env) {
            Ok(()) => Ok(ControlFlow::Continue(())),
            Err(e) => {
                failure = Some(e);
                Ok(ControlFlow::Break(()))
            }
        }
    })?;
    bar.finish_and_clear();
    if let Some(e) = failure {
        return Err(e).context("building the report");
    }
    let report = builder.finish().context("building the report")?;
    if let Some(chart) = &args.chart {
        let title = format!("{} — equity and drawdown", file_name(db));
        let svg = render_svg(&report.curve.chart, &title)?;
        std::fs::write(chart, svg).with_context(|| format!("cannot write {}", chart.display()))?;
    }
    if out.json {
        if let Some(warning) = report.sessions.warning() {
            out.note(&format!("warning: {warning}"));
        }
        out.json_value(&report_json(&report, args.chart.as_deref()))?;
    } else {
        out.text(&human(&report, args.chart.as_deref()))?;
    }
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn opt<T: ToString>(v: Option<T>) -> Option<String> {
    v.map(|v| v.to_string())
}

/// An `f64` ratio rounded to 6 digits, for stable output.
fn round6(v: Option<f64>) -> Option<f64> {
    v.map(|v| (v * 1e6).round() / 1e6)
}

/// A ratio as a percentage (exact: a shift of the decimal point).
fn pct(ratio: Decimal) -> Decimal {
    ratio
        .checked_mul(Decimal::from_int(100))
        .unwrap_or(ratio)
        .normalized()
}

/// One metrics object (key names are the public contract).
fn metrics_json(m: &Metrics) -> Value {
    json!({
        "total_pnl": m.total_pnl.to_string(),
        "net_pnl": m.net_pnl.to_string(),
        "realized": m.realized.to_string(),
        "unrealized": m.unrealized.to_string(),
        "fees": m.fees.to_string(),
        "funding": m.funding.to_string(),
        "fills": m.fills,
        "forced_closes": m.forced,
        "round_trips": m.round_trips,
        "wins": m.wins,
        "losses": m.losses,
        "win_rate": opt(m.win_rate),
        "profit_factor": opt(m.profit_factor),
        "exposure": opt(m.exposure),
        "max_drawdown": m.max_drawdown.to_string(),
    })
}

/// The sessions of a log as JSON (shared with `stats`).
pub(super) fn sessions_json(sessions: &Sessions) -> Value {
    json!(
        sessions
            .list()
            .iter()
            .map(|s| json!({
                "started_seq": s.started_seq,
                "started_ts": s.started_ts.to_string(),
                "mode": s.mode,
                "complete": s.complete(),
                "stopped_seq": s.stopped.as_ref().map(|(seq, _)| *seq),
                "reason": s.stopped.as_ref().map(|(_, reason)| reason.clone()),
            }))
            .collect::<Vec<_>>()
    )
}

fn report_json(r: &Report, chart: Option<&Path>) -> Value {
    let mut account = metrics_json(&r.account);
    account["max_drawdown_pct"] = json!(pct(r.curve.drawdown.max_ratio).to_string());
    account["sharpe"] = json!(round6(r.curve.sharpe));
    account["sortino"] = json!(round6(r.curve.sortino));
    json!({
        "events": r.events,
        "last_seq": r.last_seq,
        "first_ts": opt(r.span.map(|s| s.0)),
        "last_ts": opt(r.span.map(|s| s.1)),
        "initial_equity": r.initial_equity.to_string(),
        "initial_equity_source": r.initial_equity_source.as_str(),
        "overridden_equity": r.recorded_equity.map(|(v, source)| json!({
            "initial_equity": v.to_string(),
            "source": source.as_str(),
        })),
        "sessions": sessions_json(&r.sessions),
        "incomplete_sessions": r.sessions.incomplete().count(),
        "final_equity": r.final_equity.to_string(),
        "curve": {
            "clock": r.clock.as_str(),
            "points": r.curve.points,
            "chart_points": r.curve.chart.len(),
            "return_periods": r.curve.periods,
            "periods_per_year": PERIODS_PER_YEAR,
        },
        "account": account,
        "instruments": r.instruments.iter().map(|i| {
            let mut m = metrics_json(&i.metrics);
            m["key"] = json!(i.key.to_string());
            m
        }).collect::<Vec<_>>(),
        "chart": chart.map(|c| c.display().to_string()),
    })
}

/// Metric rows shared by the account and per-instrument tables.
const COLUMNS: &[&str] = &[
    "position",
    "total_pnl",
    "realized",
    "unrealized",
    "fees",
    "funding",
    "fills",
    "round_trips",
    "win_rate",
    "profit_factor",
    "exposure",
    "max_dd",
];

fn row(name: String, m: &Metrics) -> Vec<String> {
    let dash = |v: Option<Decimal>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    vec![
        name,
        m.total_pnl.to_string(),
        m.realized.to_string(),
        m.unrealized.to_string(),
        m.fees.to_string(),
        m.funding.to_string(),
        m.fills.to_string(),
        m.round_trips.to_string(),
        dash(m.win_rate),
        dash(m.profit_factor),
        dash(m.exposure),
        m.max_drawdown.to_string(),
    ]
}

fn human(r: &Report, chart: Option<&Path>) -> String {
    let source = match (r.initial_equity_source, r.recorded_equity) {
        (EquitySource::Option, Some((v, recorded))) => {
            format!("--initial-equity, overriding the {} {v}", recorded.as_str())
        }
        (EquitySource::Option, None) => "--initial-equity".to_string(),
        (EquitySource::Default, _) => "default: the log records none".to_string(),
        (other, _) => other.as_str().to_string(),
    };
    let span = r
        .span
        .map_or_else(|| "empty log".to_string(), |(a, b)| format!("{a} .. {b}"));
    let mut summary = Table::new(&["metric", "value"], &["value"]);
    let ratio = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.4}"));
    for (name, value) in [
        ("initial equity", format!("{} ({source})", r.initial_equity)),
        ("final equity", r.final_equity.to_string()),
        ("total pnl", r.account.total_pnl.to_string()),
        (
            "net pnl (realized - fees + funding)",
            r.account.net_pnl.to_string(),
        ),
        ("max drawdown", r.curve.drawdown.max_abs.to_string()),
        (
            "max drawdown %",
            pct(r.curve.drawdown.max_ratio).to_string(),
        ),
        ("sharpe (daily, 365)", ratio(r.curve.sharpe)),
        ("sortino (daily, 365)", ratio(r.curve.sortino)),
        ("return periods (days)", r.curve.periods.to_string()),
        (
            "curve points",
            format!("{} ({} clock)", r.curve.points, r.clock.as_str()),
        ),
    ] {
        summary.row(vec![name.to_string(), value]);
    }
    let mut table = Table::new(COLUMNS, &COLUMNS[1..]);
    table.row(row("account".into(), &r.account));
    for i in &r.instruments {
        table.row(row(i.key.to_string(), &i.metrics));
    }
    let incomplete = r
        .sessions
        .warning()
        .map_or_else(String::new, |w| format!("warning: {w}\n"));
    let chart = chart.map_or_else(String::new, |c| {
        format!("chart written to {}\n", c.display())
    });
    format!(
        "{} events, seq 1..={}, {span}\n{incomplete}\n{}\n{}{chart}",
        r.events,
        r.last_seq,
        summary.render(),
        table.render(),
    )
}
