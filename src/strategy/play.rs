//! Plays: declarative strategies written in YAML, checked and compiled once at load time
//! into a [`Play`] (features, parsed conditions, intent templates).
//!
//! ```yaml
//! id: ema_trend
//! instruments: [bybit:linear:BTCUSDT]
//! timeframe: 1m                        # base timeframe of the data
//! features:                            # name: { <indicator>: <period>, timeframe: <tf> }
//!   fast: { ema: 12 }                  # indicators: ema sma atr rsi highest lowest
//!   slow: { ema: 48, seed: first }     # ema only: seed sma (default) or first
//!   trend: { ema: 20, timeframe: 1h }  # higher timeframe, forward-filled
//! warmup: auto                         # or a base-bar count; never before features
//!                                      # and the lags the cases read are ready
//! cases:                               # first match wins
//!   - when: ["position == 0", "close > trend", "crosses_above(fast, slow)"]  # all hold
//!     any: ["fast > trend", "close > close[5]"]  # optional: at least one must hold
//!     then: { action: entry, side: buy, size: { equity_fraction: "0.5" }, order: market,
//!             stop_loss: "low[1] - 2 * fast", reason: "above trend" }
//! ```
//!
//! `order` is `market` (default) or `limit` with a `limit` price expression; `stop_loss`,
//! `take_profit` and `limit` are expressions in the condition language (see `expr`).
//!
//! Reversal: a case that matches with an `entry` against the open position (e.g. `when:
//! ["position < 0", …]`, `then: { action: entry, side: buy, … }`) makes two intents on
//! that bar: a market `exit` of the whole position (`position_fraction: 1`, id
//! `{entry id}-exit`, reason `reversal: {reason}`), then the entry, whose price
//! expressions are judged against the flat position the exit leaves (`position` 0,
//! `entry_px` undefined: an undefined price makes the case not match, as always). The
//! engine plans the entry against that flat position even before the exit fills. An
//! entry on the side of the open position stays one intent (the executor refuses it).
//!
//! Lags: `name[k]` is a feature's or bar field's value `k` base bars ago (`0` = now,
//! at most `LAG_MAX` = 500; `position`, `entry_px`, `equity` have none). Crosses are whole
//! conditions in function form: `crosses_above(a, b)` holds on the bar where
//! `a[1] <= b[1]` and `a > b`, `crosses_below(a, b)` where `a[1] >= b[1]` and `a < b`;
//! `a` and `b` are expressions. The deepest lag per variable is collected here, at load
//! time ([`Play::lags`]), so a run keeps just that much history, O(1) per bar; a lag
//! not yet available keeps the play warming up.
//!
//! EMA seed: `seed: sma` (the default, and the behaviour before the option existed)
//! starts the EMA at the mean of its first `n` closes, ready after `n` bars; `seed:
//! first` starts it at the first close, ready at once. Other values are refused with the
//! valid choices.
//! Errors name the file, line and field: `ema_trend.yaml:14: cases[0].when[1]: unknown
//! feature "fsat"`. This module does no file I/O: it is given the text and the path.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::event::{IntentAction, OrderType, PositionKey, Side, Size, StrategyId, Timeframe};
use crate::yaml_file::{self, Errors, YamlFileError};

use super::expr::{CROSS_NAMES, Condition, Expr, ExprError, Var};
use super::feature::FeatureSpec;
use super::indicator::{EmaSeed, IndicatorKind, IndicatorSpec, PERIOD_MAX};

/// The longest strategy id accepted, in characters.
pub const STRATEGY_ID_MAX: usize = 64;

/// A compiled play: everything checked, every expression parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Play {
    /// Strategy id, stamped on every intent.
    pub id: StrategyId,
    /// Instruments it trades; bars of others are ignored.
    pub instruments: Vec<PositionKey>,
    /// Base timeframe: the bars it is fed.
    pub timeframe: Timeframe,
    /// Features, sorted by name; `Var::Feature(i)` indexes this list.
    pub features: Vec<FeatureSpec>,
    /// When intents may start.
    pub warmup: Warmup,
    /// Cases in file order; the first that matches makes the bar's intent.
    pub cases: Vec<Case>,
    /// The deepest lag the cases read per variable (crosses included), sorted by
    /// variable: sizes the per-instrument history once, at load time.
    pub lags: Vec<(Var, usize)>,
}

/// When a play may start emitting intents. Never before every feature has a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Warmup {
    /// As soon as every feature is ready and every lag the cases read has a value
    /// (so `fast[3]` waits three base bars past `fast`'s own warm-up).
    Auto,
    /// After at least this many base bars (and every feature and lag ready).
    Bars(u64),
}

/// One rule: conditions and the intent they produce.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// All must hold.
    pub when: Vec<Condition>,
    /// When not empty, at least one must hold.
    pub any: Vec<Condition>,
    /// The intent template.
    pub then: Action,
}

/// The intent a case produces, with prices still as expressions.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// Entry, add, trim or exit.
    pub action: IntentAction,
    /// Order side.
    pub side: Side,
    /// Size, in the strategy's terms.
    pub size: Size,
    /// `Market` or `Limit`.
    pub order_type: OrderType,
    /// Limit price (only with `Limit`).
    pub limit_px: Option<Expr>,
    /// Protective stop price.
    pub stop_loss: Option<Expr>,
    /// Profit target price.
    pub take_profit: Option<Expr>,
    /// Human reason.
    pub reason: String,
}

/// Why a play file was refused (file, line, field).
pub type PlayError = YamlFileError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlayYaml {
    id: Spanned<String>,
    instruments: Spanned<Vec<Spanned<String>>>,
    timeframe: Spanned<String>,
    #[serde(default)]
    features: BTreeMap<String, Spanned<FeatureYaml>>,
    #[serde(default)]
    warmup: Option<Spanned<WarmupYaml>>,
    cases: Spanned<Vec<CaseYaml>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeatureYaml {
    ema: Option<u32>,
    sma: Option<u32>,
    atr: Option<u32>,
    rsi: Option<u32>,
    highest: Option<u32>,
    lowest: Option<u32>,
    timeframe: Option<String>,
    /// EMA only: `sma` (default) or `first`.
    seed: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum WarmupYaml {
    Bars(u64),
    Word(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseYaml {
    #[serde(default)]
    when: Vec<Spanned<String>>,
    #[serde(default)]
    any: Vec<Spanned<String>>,
    then: Spanned<ThenYaml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThenYaml {
    action: IntentAction,
    side: Side,
    size: Size,
    #[serde(default)]
    order: Option<OrderType>,
    #[serde(default)]
    limit: Option<Spanned<String>>,
    #[serde(default)]
    stop_loss: Option<Spanned<String>>,
    #[serde(default)]
    take_profit: Option<Spanned<String>>,
    #[serde(default)]
    reason: Option<String>,
}

impl Play {
    /// Parse and check the play in `text`; `path` is only used in error messages.
    pub fn parse(text: &str, path: &str) -> Result<Play, PlayError> {
        let yaml: PlayYaml = yaml_file::parse(text, path)?;
        let err = Errors::new(path);
        let id = match yaml.id.value.trim() {
            "" => return Err(err.at(&yaml.id, "id", "must not be empty")),
            // Ids are printed in tables and stamped on every intent: no line breaks, NUL
            // or other control characters.
            id if id.chars().any(char::is_control) => {
                return Err(err.at(
                    &yaml.id,
                    "id",
                    "must not contain control characters (line breaks, tabs, NUL)",
                ));
            }
            id if id.chars().count() > STRATEGY_ID_MAX => {
                return Err(err.at(
                    &yaml.id,
                    "id",
                    format!("must be at most {STRATEGY_ID_MAX} characters"),
                ));
            }
            id => StrategyId::from(id),
        };
        if yaml.cases.value.is_empty() {
            return Err(err.at(
                &yaml.cases,
                "cases",
                "list at least one case (a play without cases never trades)",
            ));
        }
        let timeframe: Timeframe = yaml
            .timeframe
            .value
            .parse()
            .map_err(|m: String| err.at(&yaml.timeframe, "timeframe", m))?;
        let instruments = instruments(&err, &yaml.instruments)?;
        let features = features(&err, &yaml.features, timeframe)?;
        let resolve = |name: &str| {
            Var::builtin(name).or_else(|| {
                features
                    .iter()
                    .position(|f| f.name == name)
                    .map(Var::Feature)
            })
        };
        let warmup = match &yaml.warmup {
            None => Warmup::Auto,
            Some(s) => match &s.value {
                WarmupYaml::Bars(n) => Warmup::Bars(*n),
                WarmupYaml::Word(w) if w == "auto" => Warmup::Auto,
                WarmupYaml::Word(w) => {
                    return Err(err.at(
                        s,
                        "warmup",
                        format!("expected `auto` or a bar count, found `{w}`"),
                    ));
                }
            },
        };
        let mut cases = Vec::with_capacity(yaml.cases.value.len());
        for (i, case) in yaml.cases.value.iter().enumerate() {
            cases.push(compile_case(&err, i, case, &resolve)?);
        }
        let lags = lags(&cases);
        Ok(Play {
            id,
            instruments,
            timeframe,
            features,
            warmup,
            cases,
            lags,
        })
    }
}

/// The deepest lag per variable over every expression of every case.
fn lags(cases: &[Case]) -> Vec<(Var, usize)> {
    let mut deepest: BTreeMap<Var, usize> = BTreeMap::new();
    let mut note = |var: Var, lag: usize| {
        let d = deepest.entry(var).or_insert(0);
        *d = (*d).max(lag);
    };
    for case in cases {
        for condition in case.when.iter().chain(&case.any) {
            for e in condition.exprs() {
                e.visit_lags(&mut note);
            }
        }
        let then = &case.then;
        for e in [&then.limit_px, &then.stop_loss, &then.take_profit]
            .into_iter()
            .flatten()
        {
            e.visit_lags(&mut note);
        }
    }
    deepest.into_iter().collect()
}

fn instruments(
    err: &Errors<'_>,
    list: &Spanned<Vec<Spanned<String>>>,
) -> Result<Vec<PositionKey>, PlayError> {
    if list.value.is_empty() {
        return Err(err.at(list, "instruments", "list at least one instrument"));
    }
    let mut keys: Vec<PositionKey> = Vec::with_capacity(list.value.len());
    for (i, s) in list.value.iter().enumerate() {
        let field = format!("instruments[{i}]");
        let key: PositionKey = s
            .value
            .parse()
            .map_err(|e| err.at(s, &field, format!("{e}")))?;
        if keys.contains(&key) {
            return Err(err.at(s, field, format!("duplicate instrument `{key}`")));
        }
        keys.push(key);
    }
    Ok(keys)
}

fn features(
    err: &Errors<'_>,
    map: &BTreeMap<String, Spanned<FeatureYaml>>,
    base: Timeframe,
) -> Result<Vec<FeatureSpec>, PlayError> {
    let mut specs = Vec::with_capacity(map.len());
    // BTreeMap: sorted by name, so feature indexes do not depend on hashing.
    for (name, s) in map {
        let field = format!("features.{name}");
        let valid_name = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            return Err(err.at(s, field, "a feature name is letters, digits and `_`"));
        }
        if Var::builtin(name).is_some() || CROSS_NAMES.contains(&name.as_str()) {
            return Err(err.at(s, field, format!("`{name}` is a built-in name")));
        }
        let f = &s.value;
        let chosen: Vec<(IndicatorKind, u32)> = [
            (IndicatorKind::Ema, f.ema),
            (IndicatorKind::Sma, f.sma),
            (IndicatorKind::Atr, f.atr),
            (IndicatorKind::Rsi, f.rsi),
            (IndicatorKind::Highest, f.highest),
            (IndicatorKind::Lowest, f.lowest),
        ]
        .into_iter()
        .filter_map(|(k, n)| n.map(|n| (k, n)))
        .collect();
        let [(kind, period)] = chosen[..] else {
            return Err(err.at(
                s,
                field,
                "give exactly one indicator: ema, sma, atr, rsi, highest or lowest",
            ));
        };
        let mut indicator = IndicatorSpec::new(kind, period).ok_or_else(|| {
            err.at(
                s,
                &field,
                format!("period must be 1..={PERIOD_MAX}, found {period}"),
            )
        })?;
        if let Some(seed) = &f.seed {
            let seed_field = format!("{field}.seed");
            if kind != IndicatorKind::Ema {
                return Err(err.at(s, seed_field, "`seed` applies only to an ema"));
            }
            let seed = EmaSeed::from_name(seed).ok_or_else(|| {
                err.at(
                    s,
                    &seed_field,
                    format!("unknown seed `{seed}`: expected {}", EmaSeed::CHOICES),
                )
            })?;
            indicator = indicator.with_seed(seed);
        }
        let timeframe = match &f.timeframe {
            None => base,
            Some(text) => text.parse().map_err(|m: String| err.at(s, &field, m))?,
        };
        if timeframe.seconds() % base.seconds() != 0 {
            let message =
                format!("timeframe {timeframe} is not a multiple of the base timeframe {base}");
            return Err(err.at(s, field, message));
        }
        specs.push(FeatureSpec {
            name: name.clone(),
            indicator,
            timeframe,
        });
    }
    Ok(specs)
}

fn compile_case(
    err: &Errors<'_>,
    i: usize,
    case: &CaseYaml,
    resolve: &dyn Fn(&str) -> Option<Var>,
) -> Result<Case, PlayError> {
    let conditions = |list: &[Spanned<String>], key: &str| {
        list.iter()
            .enumerate()
            .map(|(j, s)| {
                Condition::parse(&s.value, resolve)
                    .map_err(|e: ExprError| err.at(s, format!("cases[{i}].{key}[{j}]"), e.message))
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let when = conditions(&case.when, "when")?;
    let any = conditions(&case.any, "any")?;
    let then = &case.then.value;
    let price = |s: &Option<Spanned<String>>, key: &str| match s {
        None => Ok(None),
        Some(s) => Expr::parse(&s.value, resolve)
            .map(Some)
            .map_err(|e| err.at(s, format!("cases[{i}].then.{key}"), e.message)),
    };
    let limit_px = price(&then.limit, "limit")?;
    let stop_loss = price(&then.stop_loss, "stop_loss")?;
    let take_profit = price(&then.take_profit, "take_profit")?;
    let at =
        |key: &str, message: &str| err.at(&case.then, format!("cases[{i}].then.{key}"), message);
    let order_type = then.order.unwrap_or(OrderType::Market);
    match (order_type, &limit_px) {
        (OrderType::Market, None) | (OrderType::Limit, Some(_)) => {}
        (OrderType::Market, Some(_)) => {
            return Err(at("limit", "a market order takes no limit price"));
        }
        (OrderType::Limit, None) => return Err(at("limit", "a limit order needs a `limit` price")),
        (OrderType::StopMarket | OrderType::StopLimit, _) => {
            return Err(at(
                "order",
                "plays send market or limit orders; use stop_loss for stops",
            ));
        }
    }
    check_size(&then.size).map_err(|m| at("size", m))?;
    Ok(Case {
        when,
        any,
        then: Action {
            action: then.action,
            side: then.side,
            size: then.size.clone(),
            order_type,
            limit_px,
            stop_loss,
            take_profit,
            reason: then.reason.clone().unwrap_or_else(|| format!("cases[{i}]")),
        },
    })
}

fn check_size(size: &Size) -> Result<(), &'static str> {
    let (Size::Qty(v) | Size::Notional(v) | Size::EquityFraction(v) | Size::PositionFraction(v)) =
        size;
    if !v.is_positive() {
        return Err("size must be positive");
    }
    match size {
        Size::PositionFraction(f) if *f > crate::event::Decimal::ONE => {
            Err("position_fraction must be at most 1")
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"id: t
instruments: [bybit:linear:BTCUSDT]
timeframe: 1m
features:
  fast: { ema: 3 }
  slow: { sma: 5, timeframe: 5m }
warmup: 10
cases:
  - when: ["position == 0", "fast > slow"]
    then: { action: entry, side: buy, size: { qty: "0.01" }, order: limit, limit: "close - 1", reason: up }
  - any: ["fast < slow"]
    then: { action: exit, side: sell, size: { position_fraction: "1" } }
"#;

    /// `GOOD` with `from` replaced by `to`, parsed; the error's text.
    fn error(from: &str, to: &str) -> String {
        assert!(GOOD.contains(from), "{from}");
        Play::parse(&GOOD.replacen(from, to, 1), "t.yaml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn parses_a_good_play() {
        let play = Play::parse(GOOD, "t.yaml").unwrap();
        assert_eq!(play.id.as_str(), "t");
        assert_eq!(
            play.instruments,
            vec![PositionKey::new("bybit", "linear", "BTCUSDT")]
        );
        let names: Vec<_> = play.features.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["fast", "slow"]);
        assert_eq!(play.features[1].timeframe, "5m".parse().unwrap());
        assert_eq!(play.warmup, Warmup::Bars(10));
        assert_eq!(play.cases.len(), 2);
        assert_eq!(play.cases[0].then.order_type, OrderType::Limit);
        assert!(play.cases[0].then.limit_px.is_some());
        assert_eq!(play.cases[1].then.order_type, OrderType::Market);
        assert_eq!(play.cases[1].then.reason, "cases[1]");
        assert_eq!(play.cases[1].any.len(), 1);
    }

    #[test]
    fn content_errors_name_line_and_field() {
        let cases = [
            (
                "fast > slow",
                "fsat > slow",
                "t.yaml:9: cases[0].when[1]: unknown feature \"fsat\"",
            ),
            (
                "fast < slow",
                "fast <",
                "t.yaml:11: cases[1].any[0]: expected a number, a name or `(` at column 7, found end of expression",
            ),
            (
                "close - 1",
                "close - atr",
                "t.yaml:10: cases[0].then.limit: unknown feature \"atr\"",
            ),
            (
                "{ ema: 3 }",
                "{ ema: 0 }",
                "t.yaml:5: features.fast: period must be 1..=10000, found 0",
            ),
            (
                "{ ema: 3 }",
                "{ ema: 3, sma: 4 }",
                "t.yaml:5: features.fast: give exactly one indicator: ema, sma, atr, rsi, highest or lowest",
            ),
            (
                "timeframe: 5m",
                "timeframe: 90s",
                "t.yaml:6: features.slow: timeframe 90s is not a multiple of the base timeframe 1m",
            ),
            (
                "timeframe: 5m",
                "timeframe: 5x",
                "t.yaml:6: features.slow: invalid timeframe `5x`: expected e.g. 1m, 15m, 4h, 1d",
            ),
            (
                "id: t",
                "id: \"a\\nb\"",
                "t.yaml:1: id: must not contain control characters (line breaks, tabs, NUL)",
            ),
            (
                "close - 1",
                "close / 0",
                "t.yaml:10: cases[0].then.limit: division by zero at column 9",
            ),
            (
                "timeframe: 1m",
                "timeframe: fast",
                "t.yaml:3: timeframe: invalid timeframe `fast`: expected e.g. 1m, 15m, 4h, 1d",
            ),
            (
                "[bybit:linear:BTCUSDT]",
                "[BTCUSDT]",
                "t.yaml:2: instruments[0]: invalid position key `BTCUSDT`: expected <venue>:<book>:<instrument>, e.g. bybit:linear:BTCUSDT",
            ),
            (
                "warmup: 10",
                "warmup: soon",
                "t.yaml:7: warmup: expected `auto` or a bar count, found `soon`",
            ),
            (
                "qty: \"0.01\"",
                "qty: \"0\"",
                "t.yaml:10: cases[0].then.size: size must be positive",
            ),
            (
                "order: limit, limit: \"close - 1\"",
                "order: market, limit: \"close - 1\"",
                "t.yaml:10: cases[0].then.limit: a market order takes no limit price",
            ),
            (
                "position_fraction: \"1\"",
                "position_fraction: \"1.5\"",
                "t.yaml:12: cases[1].then.size: position_fraction must be at most 1",
            ),
            (
                "  slow:",
                "  close:",
                "t.yaml:6: features.close: `close` is a built-in name",
            ),
            (
                "  slow:",
                "  crosses_above:",
                "t.yaml:6: features.crosses_above: `crosses_above` is a built-in name",
            ),
            (
                "\"fast > slow\"",
                "\"fast[501] > slow\"",
                "t.yaml:9: cases[0].when[1]: lag 501 in `fast[501]` at column 5 is beyond the limit of 500 bars",
            ),
            (
                "\"fast > slow\"",
                "\"fast[x] > slow\"",
                "t.yaml:9: cases[0].when[1]: expected a whole number of bars 0..=500 in `fast[…]` at column 6, found `x`",
            ),
            (
                "\"fast > slow\"",
                "\"crosses_above(fast, equity)\"",
                "t.yaml:9: cases[0].when[1]: crosses_above at column 1: `equity` has no past values (lags apply to features and open/high/low/close/volume)",
            ),
            (
                "limit: \"close - 1\"",
                "limit: \"close[501] - 1\"",
                "t.yaml:10: cases[0].then.limit: lag 501 in `close[501]` at column 6 is beyond the limit of 500 bars",
            ),
            (
                "{ ema: 3 }",
                "{ ema: 3, seed: median }",
                "t.yaml:5: features.fast.seed: unknown seed `median`: expected sma (the default) or first",
            ),
            (
                "{ sma: 5, timeframe: 5m }",
                "{ sma: 5, timeframe: 5m, seed: first }",
                "t.yaml:6: features.slow.seed: `seed` applies only to an ema",
            ),
        ];
        for (from, to, want) in cases {
            assert_eq!(error(from, to), want, "replacing {from:?} with {to:?}");
        }
    }

    #[test]
    fn lags_and_seed_are_compiled_at_load_time() {
        let text = GOOD
            .replace("{ ema: 3 }", "{ ema: 3, seed: first }")
            .replace("\"fast > slow\"", "\"crosses_above(fast, slow[2])\"")
            .replace("\"fast < slow\"", "\"close[4] < fast[1]\"");
        let play = Play::parse(&text, "t.yaml").unwrap();
        assert_eq!(play.features[0].indicator.seed(), EmaSeed::First);
        assert_eq!(play.features[1].indicator.seed(), EmaSeed::Sma);
        // close[4] and the limit's close (now: no lag); fast[1] from the cross and
        // the any; slow[2] now and slow[3] before, for the cross.
        assert_eq!(
            play.lags,
            vec![(Var::Close, 4), (Var::Feature(0), 1), (Var::Feature(1), 3)]
        );
        let seeded = GOOD.replace("{ ema: 3 }", "{ ema: 3, seed: sma }");
        let play = Play::parse(&seeded, "t.yaml").unwrap();
        assert_eq!(play.features[0].indicator.seed(), EmaSeed::Sma);
        assert!(Play::parse(GOOD, "t.yaml").unwrap().lags.is_empty());
        // A stop can read the past too.
        let stop = GOOD.replace("reason: up", "stop_loss: \"low[3]\", reason: up");
        let play = Play::parse(&stop, "t.yaml").unwrap();
        assert_eq!(play.lags, vec![(Var::Low, 3)]);
    }

    #[test]
    fn shape_errors_carry_the_line() {
        let text = error("reason: up", "reasn: up");
        assert!(
            text.starts_with("t.yaml:10: unknown field `reasn`"),
            "{text}"
        );
        assert!(!text.contains("at line"), "{text}");
        let text = error("side: sell", "side: sideways");
        assert!(text.starts_with("t.yaml:12: "), "{text}");
        let text = error("warmup: 10", "warmup: 10\nextra: 1");
        assert!(text.starts_with("t.yaml:8: "), "{text}");
        assert!(text.contains("extra"), "{text}");
    }
}
