//! Backtest and live reports: fold the log into an equity curve and its metrics —
//! PnL, round trips, win rate, profit factor, drawdown, Sharpe, Sortino, exposure —
//! for the account and per position, plus a downsampled chart.
//!
//! Boundary: depends only on `crate::event` and `crate::reduce`; no I/O, no clock. The
//! caller feeds events one at a time ([`ReportBuilder::apply`]), so memory is bounded
//! by the number of positions and the chart's fixed size, never by the log's length.
//! Money is exact `Decimal` throughout; only Sharpe and Sortino are `f64`.

mod build;
mod chart;
mod curve;
mod downsample;
mod lives;
mod metrics;
mod sessions;

pub use build::{
    DEFAULT_INITIAL_EQUITY, EquitySource, InstrumentReport, Metrics, Report, ReportBuilder,
    ReportError, ReportOptions,
};
pub use chart::{ChartError, render_svg};
pub use curve::{Clock, CurveSummary};
pub use downsample::{ChartPoint, MAX_CHART_POINTS};
pub use metrics::{DAY_NS, Drawdown, PERIODS_PER_YEAR};
pub use sessions::{Session, Sessions};
