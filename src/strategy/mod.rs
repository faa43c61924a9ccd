//! The pure PM core: indicators, multi-timeframe features, the [`Strategy`] trait and the
//! declarative YAML strategy format ("plays").
//!
//! Boundary: depends only on [`crate::event`]. No clock, no randomness, no I/O beyond
//! parsing a play from text; the same bars and positions in give the same intents out.
//! It never asks whether trading is possible now: that is the executor's call.

mod expr;
mod feature;
mod indicator;
mod lag;
mod play;
mod rolling;
mod run;

pub use expr::{
    BinOp, CROSS_NAMES, CmpOp, Condition, CrossDir, EXPR_DEPTH_MAX, EXPR_LEN_MAX, Expr, ExprError,
    LAG_MAX, Scope, Var,
};
pub use feature::{FeatureError, FeatureSet, FeatureSpec};
pub use indicator::{
    Atr, Ema, EmaSeed, Indicator, IndicatorKind, IndicatorOverflow, IndicatorSpec, Ohlcv,
    PERIOD_MAX, Rsi, Sma,
};
pub use play::{Action, Case, Play, PlayError, Warmup};
pub use rolling::{Extreme, Rolling};
pub use run::{PlayStrategy, PositionState, Strategy, StrategyError};
