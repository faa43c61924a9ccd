//! The [`Strategy`] trait and [`PlayStrategy`], which runs a compiled [`Play`]: closed
//! bars and the current position in, venue-agnostic intents out.
//!
//! Invariant: `on_bar` is a pure function of the bars seen so far and the position
//! passed in: no clock, no randomness, no hash-order iteration. Intent ids are derived
//! from the strategy, instrument, bar time and case index (a reversal's exit adds
//! `-exit`), so a replay gives the same ids. A bar gives at most one intent, or two for a
//! reversal (exit, then entry: see the play format).
//!
//! It never decides whether an intent can be carried out (session hours, minimum size,
//! leverage): that is the executor's call.

use std::collections::BTreeMap;

use crate::event::{
    Candle, Decimal, Intent, IntentAction, OrderType, PositionKey, Side, Size, StrategyId,
};

use super::expr::{Scope, Var};
use super::feature::{FeatureError, FeatureSet};
use super::indicator::Ohlcv;
use super::lag::History;
use super::play::{Case, Play, Warmup};

/// The position a strategy sees: a small input struct, so this module does not depend on
/// the reducer's projection (the caller maps one to the other).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PositionState {
    /// Signed quantity: positive long, negative short, zero flat.
    pub qty: Decimal,
    /// Entry cost of the open size (zero when flat): the average entry price is
    /// derived from it only when a play asks (a division per bar otherwise).
    pub cost_basis: Decimal,
    /// Account equity, in the quote currency.
    pub equity: Decimal,
}

impl PositionState {
    /// No position, with `equity` in the account.
    pub fn flat(equity: Decimal) -> PositionState {
        PositionState {
            qty: Decimal::ZERO,
            cost_basis: Decimal::ZERO,
            equity,
        }
    }

    /// Average entry price (`cost_basis / |qty|`) while open; `None` when flat.
    pub fn avg_px(&self) -> Option<Decimal> {
        match self.qty.is_zero() {
            true => None,
            false => self.cost_basis.checked_div(self.qty.abs()),
        }
    }
}

/// Why a strategy could not process a bar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StrategyError {
    /// The bar could not be added to the instrument's features.
    #[error("strategy {strategy}, {key}: {source}")]
    Feature {
        /// The strategy.
        strategy: StrategyId,
        /// The instrument.
        key: PositionKey,
        /// What went wrong (boxed: keeps `Result`s small on the per-bar path).
        source: Box<FeatureError>,
    },
}

/// The PM core's contract: pure decisions from bars and positions.
pub trait Strategy {
    /// The strategy's id.
    fn id(&self) -> &StrategyId;

    /// Process one bar. Bars a strategy does not trade (another instrument or
    /// timeframe, or a bar not yet closed) give no intents. The same sequence of bars
    /// and positions always gives the same intents.
    fn on_bar(
        &mut self,
        bar: &Candle,
        position: &PositionState,
    ) -> Result<Vec<Intent>, StrategyError>;
}

/// A [`Play`] with its per-instrument features.
#[derive(Debug, Clone)]
pub struct PlayStrategy {
    play: Play,
    /// Per instrument: its features and the lag history the play reads.
    features: BTreeMap<PositionKey, (FeatureSet, History)>,
}

impl PlayStrategy {
    /// Ready to be fed bars; fails only when `play` was built by hand with a feature
    /// timeframe that is not a multiple of its base timeframe.
    pub fn new(play: Play) -> Result<PlayStrategy, StrategyError> {
        let mut features = BTreeMap::new();
        for key in &play.instruments {
            let set = FeatureSet::new(play.timeframe, &play.features).map_err(|source| {
                StrategyError::Feature {
                    strategy: play.id.clone(),
                    key: key.clone(),
                    source: Box::new(source),
                }
            })?;
            features.insert(key.clone(), (set, History::new(&play.lags)));
        }
        Ok(PlayStrategy { play, features })
    }

    /// The play being run.
    pub fn play(&self) -> &Play {
        &self.play
    }

    /// The features of one instrument.
    pub fn features(&self, key: &PositionKey) -> Option<&FeatureSet> {
        self.features.get(key).map(|(set, _)| set)
    }
}

impl Strategy for PlayStrategy {
    fn id(&self) -> &StrategyId {
        &self.play.id
    }

    fn on_bar(
        &mut self,
        bar: &Candle,
        position: &PositionState,
    ) -> Result<Vec<Intent>, StrategyError> {
        if !bar.closed || bar.timeframe != self.play.timeframe {
            return Ok(Vec::new());
        }
        let key = PositionKey {
            venue: bar.venue.clone(),
            book: bar.book.clone(),
            instrument: bar.instrument.clone(),
        };
        let Some((features, history)) = self.features.get_mut(&key) else {
            return Ok(Vec::new());
        };
        let ohlcv = Ohlcv {
            open: bar.open,
            high: bar.high,
            low: bar.low,
            close: bar.close,
            volume: bar.volume,
        };
        features
            .push(bar.open_time, &ohlcv)
            .map_err(|source| StrategyError::Feature {
                strategy: self.play.id.clone(),
                key: key.clone(),
                source: Box::new(source),
            })?;
        // Every base bar is recorded, warm or not, so lags count bars from the start.
        history.record(&|var| bar_value(var, &ohlcv, features));
        let warm = match self.play.warmup {
            Warmup::Auto => true,
            Warmup::Bars(n) => features.bars_seen() >= n,
        };
        if !warm || !features.ready() || !history.ready() {
            return Ok(Vec::new());
        }
        let scope = BarScope {
            bar: &ohlcv,
            position,
            features,
            history,
        };
        // First match wins; a case whose price expressions are undefined does not match.
        let intents = self
            .play
            .cases
            .iter()
            .enumerate()
            .find_map(|(i, case)| intents_for(&self.play.id, &key, bar, i, case, &scope));
        Ok(intents.unwrap_or_default())
    }
}

struct BarScope<'a> {
    bar: &'a Ohlcv,
    position: &'a PositionState,
    features: &'a FeatureSet,
    history: &'a History,
}

/// The value of a bar field or feature now; `None` for the account values, which are
/// not bar data.
fn bar_value(var: Var, bar: &Ohlcv, features: &FeatureSet) -> Option<Decimal> {
    match var {
        Var::Open => Some(bar.open),
        Var::High => Some(bar.high),
        Var::Low => Some(bar.low),
        Var::Close => Some(bar.close),
        Var::Volume => Some(bar.volume),
        Var::Feature(i) => features.value(i),
        Var::Position | Var::EntryPx | Var::Equity => None,
    }
}

impl Scope for BarScope<'_> {
    fn get(&self, var: Var) -> Option<Decimal> {
        match var {
            Var::Position => Some(self.position.qty),
            Var::EntryPx => self.position.avg_px(),
            Var::Equity => Some(self.position.equity),
            _ => bar_value(var, self.bar, self.features),
        }
    }

    fn lagged(&self, var: Var, lag: usize) -> Option<Decimal> {
        self.history.get(var, lag)
    }
}

/// True when `action` on `side` is an entry against the open position `qty`: a
/// reversal (the play's module doc).
fn reverses(action: IntentAction, side: Side, qty: Decimal) -> bool {
    action == IntentAction::Entry && !qty.is_zero() && qty.signum() != side.sign()
}

/// The intents case `index` makes on this bar, if it matches: one, or for a reversal
/// (an entry against the open position) an exit of the whole position, then the
/// entry, whose price expressions are judged against the flat position the exit
/// leaves.
fn intents_for(
    strategy: &StrategyId,
    key: &PositionKey,
    bar: &Candle,
    index: usize,
    case: &Case,
    scope: &BarScope<'_>,
) -> Option<Vec<Intent>> {
    let all = case.when.iter().all(|c| c.eval(scope));
    let any = case.any.is_empty() || case.any.iter().any(|c| c.eval(scope));
    if !(all && any) {
        return None;
    }
    let then = &case.then;
    let reversal = reverses(then.action, then.side, scope.position.qty);
    let flat = PositionState::flat(scope.position.equity);
    let flat_scope = BarScope {
        position: &flat,
        ..*scope
    };
    let price_scope = match reversal {
        true => &flat_scope,
        false => scope,
    };
    // `Some(None)`: no expression given; `None`: given but undefined now.
    let price = |e: &Option<super::expr::Expr>| match e {
        None => Some(None),
        Some(e) => e.eval(price_scope).map(Some),
    };
    let limit_px = price(&then.limit_px)?;
    let stop_loss = price(&then.stop_loss)?;
    let take_profit = price(&then.take_profit)?;
    let intent_id = format!("{strategy}-{key}-{}-{index}", bar.open_time.as_nanos());
    let entry = Intent {
        intent_id,
        strategy_id: strategy.clone(),
        venue: key.venue.clone(),
        book: key.book.clone(),
        instrument: key.instrument.clone(),
        action: then.action,
        side: then.side,
        size: then.size.clone(),
        order_type: then.order_type,
        limit_px,
        stop_loss,
        take_profit,
        reason: then.reason.clone(),
    };
    if !reversal {
        return Some(vec![entry]);
    }
    let exit = Intent {
        intent_id: format!("{}-exit", entry.intent_id),
        action: IntentAction::Exit,
        size: Size::PositionFraction(Decimal::ONE),
        order_type: OrderType::Market,
        limit_px: None,
        stop_loss: None,
        take_profit: None,
        reason: match then.reason.is_empty() {
            true => "reversal".to_string(),
            false => format!("reversal: {}", then.reason),
        },
        ..entry.clone()
    };
    Some(vec![exit, entry])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Book, Symbol, Timestamp, Venue};

    const EMA_TREND: &str = include_str!("../../replay/strategies/ema_trend.yaml");
    const MEAN_REVERSION: &str = include_str!("../../replay/strategies/mean_reversion.yaml");

    /// A deterministic path: a slow sine-like swing (integer arithmetic) plus a trend
    /// that flips every `flip` bars, so crosses happen in both directions.
    fn price(i: i64, flip: i64) -> Decimal {
        let swing = [0, 3, 5, 6, 5, 3, 0, -3, -5, -6, -5, -3][(i % 12) as usize];
        let leg = (i / flip) % 2;
        let pos = i % flip;
        let trend = match leg {
            0 => pos * 4,
            _ => (flip - pos) * 4,
        };
        Decimal::from_parts(100_000 + 100 * (trend + swing), 2).unwrap_or(Decimal::ONE)
    }

    fn candle(key: &PositionKey, timeframe: &str, i: i64, close: Decimal) -> Candle {
        let tf: crate::event::Timeframe = timeframe.parse().unwrap();
        let step = Decimal::from_int(2);
        Candle {
            venue: key.venue.clone(),
            book: key.book.clone(),
            instrument: key.instrument.clone(),
            timeframe: tf,
            open_time: Timestamp::from_nanos(i * tf.nanos()),
            open: close,
            high: close.checked_add(step).unwrap(),
            low: close.checked_sub(step).unwrap(),
            close,
            volume: Decimal::ONE,
            closed: true,
        }
    }

    /// Runs `play` over `bars`, holding the position each intent implies (entries fill
    /// one unit at the close; exits flatten). Returns the intents bar by bar.
    fn run(play: &Play, bars: &[Candle]) -> Vec<Vec<Intent>> {
        let mut strategy = PlayStrategy::new(play.clone()).unwrap();
        let mut position = PositionState::flat(Decimal::from_int(10_000));
        let mut out = Vec::new();
        for bar in bars {
            let intents = strategy.on_bar(bar, &position).unwrap();
            for intent in &intents {
                position = match intent.action {
                    IntentAction::Entry | IntentAction::Add => PositionState {
                        qty: intent.side.sign(),
                        cost_basis: bar.close,
                        equity: position.equity,
                    },
                    IntentAction::Exit | IntentAction::Trim => PositionState::flat(position.equity),
                };
            }
            out.push(intents);
        }
        out
    }

    fn series(key: &PositionKey, timeframe: &str, len: i64, flip: i64) -> Vec<Candle> {
        (0..len)
            .map(|i| candle(key, timeframe, i, price(i, flip)))
            .collect()
    }

    fn btc() -> PositionKey {
        PositionKey::new("bybit", "linear", "BTCUSDT")
    }

    fn eth() -> PositionKey {
        PositionKey::new("bybit", "linear", "ETHUSDT")
    }

    #[test]
    fn example_plays_load_and_trade() {
        let ema = Play::parse(EMA_TREND, "ema_trend.yaml").unwrap();
        let mr = Play::parse(MEAN_REVERSION, "mean_reversion.yaml").unwrap();
        assert_eq!(ema.features.len(), 4);
        assert_eq!(mr.cases.len(), 4);

        // The 1h EMA(20) needs 20 hours: with `auto` warm-up nothing fires before.
        let out = run(&ema, &series(&btc(), "1m", 30 * 60, 150));
        let first_bar = out.iter().position(|v| !v.is_empty()).unwrap();
        assert!(first_bar >= 20 * 60 - 1, "intent at bar {first_bar}");
        let all: Vec<&Intent> = out.iter().flatten().collect();
        let entry = all[0];
        assert_eq!((entry.action, entry.side), (IntentAction::Entry, Side::Buy));
        assert!(entry.stop_loss.unwrap() < entry.take_profit.unwrap());
        assert!(all.iter().any(|i| i.action == IntentAction::Exit));

        let out = run(&mr, &series(&eth(), "5m", 600, 40));
        let all: Vec<&Intent> = out.iter().flatten().collect();
        assert!(
            all.iter()
                .any(|i| i.side == Side::Buy && i.limit_px.is_some())
        );
        assert!(
            all.iter()
                .any(|i| i.side == Side::Sell && i.action == IntentAction::Entry)
        );
        assert!(
            all.iter()
                .all(|i| i.strategy_id.as_str() == "mean_reversion")
        );
    }

    #[test]
    fn warmup_gates_intents_until_bar_count_and_features_ready() {
        let text = |warmup: &str| {
            format!(
                "id: w\ninstruments: [x:y:Z]\ntimeframe: 1m\nfeatures:\n  s: {{ sma: 3 }}\n\
                 warmup: {warmup}\ncases:\n  - when: [\"s > 0\"]\n    then: {{ action: entry, \
                 side: buy, size: {{ qty: \"1\" }} }}\n"
            )
        };
        let key = PositionKey::new("x", "y", "Z");
        let bars = series(&key, "1m", 10, 50);
        let first = |warmup: &str| {
            let play = Play::parse(&text(warmup), "w.yaml").unwrap();
            let mut strategy = PlayStrategy::new(play).unwrap();
            let flat = PositionState::flat(Decimal::ONE);
            bars.iter()
                .position(|b| !strategy.on_bar(b, &flat).unwrap().is_empty())
        };
        assert_eq!(first("auto"), Some(2), "SMA(3) is ready on the third bar");
        assert_eq!(
            first("1"),
            Some(2),
            "a short warm-up still waits for the features"
        );
        assert_eq!(first("7"), Some(6));
    }

    #[test]
    fn ignores_other_instruments_timeframes_and_open_bars() {
        let play = Play::parse(EMA_TREND, "ema_trend.yaml").unwrap();
        let mut strategy = PlayStrategy::new(play).unwrap();
        let flat = PositionState::flat(Decimal::ONE);
        let mut open_bar = candle(&btc(), "1m", 0, Decimal::ONE);
        open_bar.closed = false;
        for bar in [
            candle(&eth(), "1m", 0, Decimal::ONE),
            candle(&btc(), "5m", 0, Decimal::ONE),
            open_bar,
        ] {
            assert_eq!(strategy.on_bar(&bar, &flat).unwrap(), vec![]);
        }
        assert_eq!(strategy.features(&btc()).unwrap().bars_seen(), 0);
        // And an out-of-order bar of its own is an error naming strategy and instrument.
        let bar = candle(&btc(), "1m", 5, Decimal::ONE);
        strategy.on_bar(&bar, &flat).unwrap();
        let err = strategy.on_bar(&bar, &flat).unwrap_err().to_string();
        assert!(
            err.starts_with("strategy ema_trend, bybit:linear:BTCUSDT: bar at"),
            "{err}"
        );
    }

    #[test]
    fn no_lookahead_changing_later_bars_keeps_earlier_output() {
        let play = Play::parse(EMA_TREND, "ema_trend.yaml").unwrap();
        let bars = series(&btc(), "1m", 26 * 60, 150);
        let cut = 23 * 60 + 17; // inside an hour and inside a 15m bucket
        let mut changed = bars.clone();
        for (i, bar) in changed.iter_mut().enumerate().skip(cut + 1) {
            let close = Decimal::from_int(50_000 + (i as i64 * 13) % 997);
            *bar = candle(&btc(), "1m", i as i64, close);
        }
        let a = run(&play, &bars);
        let b = run(&play, &changed);
        assert_eq!(a[..=cut], b[..=cut]);
        assert_ne!(
            a[cut + 1..],
            b[cut + 1..],
            "the change must matter afterwards"
        );
        assert!(
            a[..=cut].iter().any(|v| !v.is_empty()),
            "intents before the cut"
        );
        // Features too: feed both up to the cut and compare every value.
        let (mut sa, mut sb) = (
            PlayStrategy::new(play.clone()).unwrap(),
            PlayStrategy::new(play.clone()).unwrap(),
        );
        let flat = PositionState::flat(Decimal::ONE);
        for (x, y) in bars.iter().zip(&changed).take(cut + 1) {
            sa.on_bar(x, &flat).unwrap();
            sb.on_bar(y, &flat).unwrap();
            let (fa, fb) = (sa.features(&btc()).unwrap(), sb.features(&btc()).unwrap());
            for i in 0..play.features.len() {
                assert_eq!(fa.value(i), fb.value(i));
            }
        }
    }

    #[test]
    fn deterministic_ids_and_intents() {
        let play = Play::parse(MEAN_REVERSION, "mean_reversion.yaml").unwrap();
        let bars = series(&eth(), "5m", 600, 40);
        let a = run(&play, &bars);
        let b = run(&play, &bars);
        assert_eq!(a, b);
        let at = a.iter().position(|v| !v.is_empty()).unwrap();
        let nanos = bars[at].open_time.as_nanos();
        assert_eq!(
            a[at][0].intent_id,
            format!("mean_reversion-bybit:linear:ETHUSDT-{nanos}-0")
        );
        let ids: std::collections::BTreeSet<_> =
            a.iter().flatten().map(|i| i.intent_id.clone()).collect();
        assert_eq!(ids.len(), a.iter().flatten().count(), "ids are unique");
    }

    #[test]
    fn entry_px_is_undefined_while_flat_and_prices_must_be_defined() {
        let text = "id: p\ninstruments: [x:y:Z]\ntimeframe: 1m\ncases:\n\
                    - when: [\"close > 0\"]\n  then: { action: entry, side: buy, size: { qty: \"1\" }, \
                    stop_loss: \"entry_px - 1\" }\n\
                    - when: [\"close > 0\"]\n  then: { action: entry, side: buy, size: { qty: \"2\" } }\n";
        let play = Play::parse(text, "p.yaml").unwrap();
        let mut strategy = PlayStrategy::new(play).unwrap();
        let key = PositionKey::new("x", "y", "Z");
        let bar = candle(&key, "1m", 0, Decimal::from_int(10));
        let flat = PositionState::flat(Decimal::ONE);
        let intents = strategy.on_bar(&bar, &flat).unwrap();
        // Case 0's stop is undefined while flat, so case 1 wins.
        assert_eq!(intents.len(), 1);
        assert!(intents[0].intent_id.ends_with("-1"));
        let long = PositionState {
            qty: Decimal::ONE,
            cost_basis: Decimal::from_int(9),
            equity: Decimal::ONE,
        };
        let bar = candle(&key, "1m", 1, Decimal::from_int(10));
        let intents = strategy.on_bar(&bar, &long).unwrap();
        assert_eq!(intents[0].stop_loss, Some(Decimal::from_int(8)));
        assert_eq!(
            (
                intents[0].venue.clone(),
                intents[0].book.clone(),
                intents[0].instrument.clone()
            ),
            (Venue::from("x"), Book::from("y"), Symbol::from("Z"))
        );
    }

    /// A one-instrument play on `x:y:Z` 1m bars with `features` and one entry case per
    /// condition (case `i` buys `i + 1`), fed `closes` while flat; the case index of
    /// the intent on each bar.
    fn fire(
        features: &str,
        warmup: &str,
        conditions: &[&str],
        closes: &[i64],
    ) -> Vec<Option<usize>> {
        let mut text = format!(
            "id: l\ninstruments: [x:y:Z]\ntimeframe: 1m\nfeatures:\n{features}warmup: {warmup}\ncases:\n"
        );
        for c in conditions {
            text.push_str(&format!(
                "  - when: [\"{c}\"]\n    then: {{ action: entry, side: buy, size: {{ qty: \"1\" }} }}\n"
            ));
        }
        let play = Play::parse(&text, "l.yaml").unwrap();
        let mut strategy = PlayStrategy::new(play).unwrap();
        let key = PositionKey::new("x", "y", "Z");
        let flat = PositionState::flat(Decimal::from_int(1_000));
        closes
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let bar = candle(&key, "1m", i as i64, Decimal::from_int(c));
                let intents = strategy.on_bar(&bar, &flat).unwrap();
                intents
                    .first()
                    .and_then(|it| it.intent_id.rsplit('-').next()?.parse().ok())
            })
            .collect()
    }

    #[test]
    fn lags_read_earlier_bars_and_auto_warmup_waits_for_them() {
        // close[2] < close: bar i fires when close rose over the last two bars; the
        // first comparable bar is 2. Closes 5 5 5 7 6 4 8: bar 2: 5 < 5 no; 3: 5 < 7;
        // 4: 5 < 6; 5: 7 < 4 no; 6: 6 < 8.
        let closes = [5, 5, 5, 7, 6, 4, 8];
        let got = fire("  s: { sma: 1 }\n", "auto", &["close[2] < close"], &closes);
        assert_eq!(got, [None, None, None, Some(0), Some(0), None, Some(0)]);
        // s = SMA(2) is ready at bar 1, s[3] at bar 4; with `auto` a case that only reads
        // close still waits for s[3] (the play's warm-up covers its deepest lag).
        // SMA(2): -, 5, 5, 6, 6.5, 5, 6. s[3] at bar 4 = s at bar 1 = 5; bar 5: 5; bar
        // 6: 6.
        let got = fire(
            "  s: { sma: 2 }\n",
            "auto",
            &["close > 0", "s[3] > 0"],
            &closes,
        );
        assert_eq!(got, [None, None, None, None, Some(0), Some(0), Some(0)]);
        let got = fire(
            "  s: { sma: 2 }\n",
            "auto",
            &["s[3] == 5", "s[3] == 6"],
            &closes,
        );
        assert_eq!(got, [None, None, None, None, Some(0), Some(0), Some(1)]);
        // A bar-count warm-up shorter than the lag still waits for it; a longer one rules.
        let got = fire("  s: { sma: 2 }\n", "2", &["s[3] > 0"], &closes);
        assert_eq!(got[..5], [None, None, None, None, Some(0)]);
        let got = fire("  s: { sma: 2 }\n", "6", &["s[3] > 0"], &closes);
        assert_eq!(got[..6], [None, None, None, None, None, Some(0)]);
    }

    #[test]
    fn crosses_fire_on_the_crossing_bar_only() {
        // fast = EMA(3) seeded with the first close (alpha 1/2), slow = SMA(3):
        // close  10  10  10  13     16     10      4       4        10
        // fast   10  10  10  11.5   13.75  11.875  7.9375  5.96875  7.984375
        // slow   -   -   10  11     13     13      10      6        6
        // Above at bar 3 (10 <= 10, then 11.5 > 11) and bar 8 (5.97 <= 6, then 7.98 > 6);
        // below at bar 5 (13.75 >= 13, then 11.875 < 13). Bar 2 has no slow[1] yet.
        let closes = [10, 10, 10, 13, 16, 10, 4, 4, 10];
        let features = "  fast: { ema: 3, seed: first }\n  slow: { sma: 3 }\n";
        let got = fire(
            features,
            "auto",
            &["crosses_above(fast, slow)", "crosses_below(fast, slow)"],
            &closes,
        );
        let want = [
            None,
            None,
            None,
            Some(0),
            None,
            Some(1),
            None,
            None,
            Some(0),
        ];
        assert_eq!(got, want);
        // With the default (SMA) seed fast is undefined on bars 0 and 1 and, the first
        // three closes being equal, the same from bar 2 on: the same crosses.
        let sma_seed = "  fast: { ema: 3 }\n  slow: { sma: 3 }\n";
        let got = fire(
            sma_seed,
            "auto",
            &["crosses_above(fast, slow)", "crosses_below(fast, slow)"],
            &closes,
        );
        assert_eq!(got, want);
    }

    #[test]
    fn an_entry_against_the_position_is_an_exit_then_the_entry_judged_flat() {
        // Case 0 sells while flat; case 1 buys while short (a reversal): its stop
        // reads entry_px, undefined while flat, so case 2 (no stop) wins instead.
        let text = "id: r\ninstruments: [x:y:Z]\ntimeframe: 1m\ncases:\n\
                    - when: [\"position == 0\"]\n  then: { action: entry, side: sell, size: { qty: \"1\" } }\n\
                    - when: [\"position < 0\", \"close > 10\"]\n  then: { action: entry, side: buy, size: { qty: \"2\" }, \
                    stop_loss: \"entry_px - 1\" }\n\
                    - when: [\"position < 0\"]\n  then: { action: entry, side: buy, size: { qty: \"3\" }, \
                    stop_loss: \"close - 1\", reason: flip }\n\
                    - when: [\"position > 0\"]\n  then: { action: entry, side: buy, size: { qty: \"4\" } }\n";
        let play = Play::parse(text, "r.yaml").unwrap();
        let mut strategy = PlayStrategy::new(play).unwrap();
        let key = PositionKey::new("x", "y", "Z");
        let short = PositionState {
            qty: -Decimal::ONE,
            cost_basis: Decimal::from_int(12),
            equity: Decimal::from_int(100),
        };
        let bar = candle(&key, "1m", 0, Decimal::from_int(11));
        let intents = strategy.on_bar(&bar, &short).unwrap();
        let nanos = bar.open_time.as_nanos();
        let got: Vec<_> = intents
            .iter()
            .map(|i| {
                (
                    i.intent_id.as_str(),
                    i.action,
                    i.side,
                    i.size.clone(),
                    i.reason.as_str(),
                )
            })
            .collect();
        let (exit_id, entry_id) = (
            format!("r-x:y:Z-{nanos}-2-exit"),
            format!("r-x:y:Z-{nanos}-2"),
        );
        assert_eq!(
            got,
            [
                (
                    exit_id.as_str(),
                    IntentAction::Exit,
                    Side::Buy,
                    Size::PositionFraction(Decimal::ONE),
                    "reversal: flip"
                ),
                (
                    entry_id.as_str(),
                    IntentAction::Entry,
                    Side::Buy,
                    Size::Qty(Decimal::from_int(3)),
                    "flip"
                ),
            ]
        );
        assert_eq!(intents[0].order_type, OrderType::Market);
        assert_eq!(intents[0].stop_loss, None);
        assert_eq!(intents[1].stop_loss, Some(Decimal::from_int(10)));
        // An entry on the side of the position is no reversal: one intent (the
        // executor refuses it as a position conflict).
        let long = PositionState {
            qty: Decimal::ONE,
            ..short
        };
        let bar = candle(&key, "1m", 1, Decimal::from_int(11));
        let intents = strategy.on_bar(&bar, &long).unwrap();
        assert_eq!(intents.len(), 1);
        assert_eq!(intents[0].action, IntentAction::Entry);
    }
}
