//! [`ReportBuilder`]: fold events one at a time into a [`Report`], in memory bounded by
//! the number of positions (not events).
//!
//! Equity at a point is `initial + Σ positions (realized − fees + funding + unrealized)`,
//! unrealized marked at the position's last mark then. The initial equity is the first
//! of these seen before the first execution, funding or correction: a `balance` total, a
//! `transfer` amount, or the `initial_equity` a `session_started` recorded (a backtest
//! records the equity it ran with). [`ReportOptions::initial_equity`] overrides it (the
//! report then says what it overrode); with neither, [`DEFAULT_INITIAL_EQUITY`]. Later
//! balances and transfers do not move the curve (they are not trading results).
//!
//! A position's drawdown runs from a peak PnL of zero (the position did not exist
//! before), as the account's runs from the initial equity: on a one-instrument log the
//! two agree.

use std::collections::BTreeMap;

use super::curve::{Clock, Curve, CurveSummary};
use super::lives::{Before, ExecutionFee, Lives};
use super::metrics::ratio;
use super::sessions::Sessions;
use crate::event::{Decimal, Envelope, Payload, PositionKey, Seq, Timestamp};
use crate::reduce::{Position, Projection, ReduceError};

/// Starting capital when neither the log nor the options say.
pub const DEFAULT_INITIAL_EQUITY: i64 = 10_000;

/// Options of a report.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReportOptions {
    /// Starting capital, overriding what the log recorded.
    pub initial_equity: Option<Decimal>,
}

/// Where the initial equity came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EquitySource {
    /// The first `balance` event's total.
    Balance,
    /// The first `transfer` event's amount.
    Transfer,
    /// The `initial_equity` parameter of the first `session_started`.
    Session,
    /// [`ReportOptions::initial_equity`].
    Option,
    /// [`DEFAULT_INITIAL_EQUITY`]: nothing recorded one.
    Default,
}

impl EquitySource {
    /// The public name.
    pub fn as_str(self) -> &'static str {
        match self {
            EquitySource::Balance => "balance",
            EquitySource::Transfer => "transfer",
            EquitySource::Session => "session",
            EquitySource::Option => "option",
            EquitySource::Default => "default",
        }
    }
}

/// Why a report could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The event does not apply to the projection.
    #[error(transparent)]
    Reduce(#[from] ReduceError),
    /// A sum left the decimal range.
    #[error("seq {seq}: arithmetic overflow in the report's {what}")]
    Overflow {
        /// The event being applied.
        seq: Seq,
        /// Which sum.
        what: &'static str,
    },
}

/// PnL and trading statistics of the account or of one position.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// `net + unrealized`.
    pub total_pnl: Decimal,
    /// `realized − fees + funding`.
    pub net_pnl: Decimal,
    /// Realized trading PnL.
    pub realized: Decimal,
    /// Open PnL at the last marks.
    pub unrealized: Decimal,
    /// Fees paid.
    pub fees: Decimal,
    /// Funding received.
    pub funding: Decimal,
    /// Fills.
    pub fills: u64,
    /// Liquidations and auto-deleverages.
    pub forced: u64,
    /// Closed lives.
    pub round_trips: u64,
    /// Round trips with a positive PnL after fees.
    pub wins: u64,
    /// Round trips with a negative PnL after fees.
    pub losses: u64,
    /// `wins / round_trips`.
    pub win_rate: Option<Decimal>,
    /// `gross wins / gross losses` over round trips; `None` without a loss.
    pub profit_factor: Option<Decimal>,
    /// Share of the report's time span with an open position.
    pub exposure: Option<Decimal>,
    /// Deepest fall of this PnL from its running peak, on the curve's points.
    pub max_drawdown: Decimal,
}

/// One position's line of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct InstrumentReport {
    /// The position.
    pub key: PositionKey,
    /// Its metrics.
    pub metrics: Metrics,
}

/// Everything `ledger report` prints.
#[derive(Debug, Clone)]
pub struct Report {
    /// Events folded.
    pub events: u64,
    /// Last seq folded.
    pub last_seq: Seq,
    /// Time of the first and last event.
    pub span: Option<(Timestamp, Timestamp)>,
    /// Starting capital.
    pub initial_equity: Decimal,
    /// Where it came from.
    pub initial_equity_source: EquitySource,
    /// What the log recorded, when the options overrode it.
    pub recorded_equity: Option<(Decimal, EquitySource)>,
    /// Equity after the last event.
    pub final_equity: Decimal,
    /// The account as a whole (its `max_drawdown` is the curve's).
    pub account: Metrics,
    /// Each position, ordered by key.
    pub instruments: Vec<InstrumentReport>,
    /// What a curve point stands for.
    pub clock: Clock,
    /// The equity curve's metrics and chart points.
    pub curve: CurveSummary,
    /// The sessions folded, and whether each ended.
    pub sessions: Sessions,
}

/// Per-position state beyond the projection.
#[derive(Debug, Clone, Default)]
struct Tracked {
    lives: Lives,
    /// Starts at zero: see the module doc.
    peak_pnl: Decimal,
    max_drawdown: Decimal,
}

/// Folds events into a [`Report`]. See the module doc.
pub struct ReportBuilder {
    options: ReportOptions,
    projection: Projection,
    tracked: BTreeMap<PositionKey, Tracked>,
    events: u64,
    first_ts: Option<Timestamp>,
    /// Set once trading started (or at the end).
    initial: Option<(Decimal, EquitySource)>,
    /// The first balance, transfer or session equity seen while `initial` is still open.
    candidate: Option<(Decimal, EquitySource)>,
    sessions: Sessions,
    candles: Option<Curve>,
    /// The event clock's curve; dropped at the first closed candle.
    events_curve: Option<Curve>,
    seen_candle: bool,
    /// Positions open now, and since when at least one has been.
    open: usize,
    open_since: Option<Timestamp>,
    exposed_ns: i128,
}

impl ReportBuilder {
    /// An empty builder.
    pub fn new(options: ReportOptions) -> ReportBuilder {
        ReportBuilder {
            options,
            projection: Projection::new(),
            tracked: BTreeMap::new(),
            events: 0,
            first_ts: None,
            initial: None,
            candidate: None,
            sessions: Sessions::default(),
            candles: None,
            events_curve: None,
            seen_candle: false,
            open: 0,
            open_since: None,
            exposed_ns: 0,
        }
    }

    /// Apply the next event of the log.
    pub fn apply(&mut self, env: &Envelope) -> Result<(), ReportError> {
        let seq = env.seq;
        let ts = env.event.ts;
        let payload = &env.event.payload;
        self.first_ts.get_or_insert(ts);
        self.events += 1;
        let moves_pnl = moves_pnl(payload);
        if moves_pnl && self.initial.is_none() {
            self.start_curves();
        }
        self.note_initial(payload);
        if self.candles.is_none() {
            // The candle curve runs from the first event, so every bar before the first
            // fill is a point (flat at the starting capital, restated when it is locked).
            self.candles = Some(Curve::starting_at(ts, self.initial_guess().0));
        }
        self.sessions.apply(seq, ts, payload);
        self.tick_clocks(payload, ts, seq)?;
        let key = moves_pnl.then(|| payload.position_key()).flatten();
        let before = key
            .as_ref()
            .map(|k| Before::of(self.projection.position(k)));
        self.projection.apply(env)?;
        if let (Some(key), Some(before)) = (key, before) {
            self.track(key, before, execution_fee(payload), ts, seq)?;
        }
        Ok(())
    }

    /// The initial equity as far as the events so far say.
    fn initial_guess(&self) -> (Decimal, EquitySource) {
        match (self.options.initial_equity, self.candidate) {
            (Some(given), _) => (given, EquitySource::Option),
            (None, Some(recorded)) => recorded,
            (None, None) => (
                Decimal::from_int(DEFAULT_INITIAL_EQUITY),
                EquitySource::Default,
            ),
        }
    }

    /// Lock the initial equity and start the curves at the first event's time (the
    /// candle curve has run since then at the guess: it is restated at the equity).
    fn start_curves(&mut self) {
        let (equity, source) = self.initial_guess();
        self.initial = Some((equity, source));
        let start = self.first_ts.unwrap_or_default();
        match self.candles.as_mut() {
            Some(curve) => curve.rebase(equity),
            None => self.candles = Some(Curve::starting_at(start, equity)),
        }
        if !self.seen_candle {
            self.events_curve = Some(Curve::starting_at(start, equity));
        }
    }

    fn note_initial(&mut self, payload: &Payload) {
        if self.initial.is_some() || self.candidate.is_some() {
            return;
        }
        self.candidate = match payload {
            Payload::Balance(b) => Some((b.total, EquitySource::Balance)),
            Payload::Transfer(t) => Some((t.amount, EquitySource::Transfer)),
            Payload::SessionStarted(s) => s
                .params
                .iter()
                .find(|(name, _)| name == "initial_equity")
                .and_then(|(_, v)| v.parse::<Decimal>().ok())
                .map(|v| (v, EquitySource::Session)),
            _ => None,
        };
    }

    /// Advance the clocks this event ticks, taking due points before it applies.
    fn tick_clocks(
        &mut self,
        payload: &Payload,
        ts: Timestamp,
        seq: Seq,
    ) -> Result<(), ReportError> {
        let candle_close = match payload {
            Payload::Candle(c) if c.closed => Some(c.open_time.plus_nanos(c.timeframe.nanos())),
            _ => None,
        };
        if candle_close.is_some() && !self.seen_candle {
            self.seen_candle = true;
            self.events_curve = None;
        }
        let candle_due = match (candle_close, self.candles.as_mut()) {
            (Some(close), Some(curve)) => curve.tick(close).then_some(close),
            _ => None,
        };
        let event_tick = (moves_pnl(payload) || matches!(payload, Payload::Trade(_))).then_some(ts);
        let event_due = match (event_tick, self.events_curve.as_mut()) {
            (Some(ts), Some(curve)) => curve.tick(ts).then_some(ts),
            _ => None,
        };
        if candle_due.is_none() && event_due.is_none() {
            return Ok(());
        }
        let equity = self.equity(seq)?;
        if let (Some(close), Some(curve)) = (candle_due, self.candles.as_mut()) {
            curve.take_due(close, equity);
        }
        if let (Some(ts), Some(curve)) = (event_due, self.events_curve.as_mut()) {
            curve.take_due(ts, equity);
        }
        Ok(())
    }

    /// Equity now; also moves each position's PnL drawdown (a point is being taken).
    fn equity(&mut self, seq: Seq) -> Result<Decimal, ReportError> {
        let overflow = |what| ReportError::Overflow { seq, what };
        // Before the lock nothing has moved PnL: the guess is every point's equity.
        let (mut equity, _) = self.initial.unwrap_or_else(|| self.initial_guess());
        for p in self.projection.positions() {
            let pnl = pnl(p).ok_or(overflow("position pnl"))?;
            equity = equity.checked_add(pnl).ok_or(overflow("equity"))?;
            let t = self.tracked.entry(p.key.clone()).or_default();
            let peak = t.peak_pnl.max(pnl);
            t.peak_pnl = peak;
            let fall = peak.checked_sub(pnl).ok_or(overflow("drawdown"))?;
            t.max_drawdown = t.max_drawdown.max(fall);
        }
        Ok(equity)
    }

    fn track(
        &mut self,
        key: PositionKey,
        before: Before,
        exec: Option<ExecutionFee>,
        ts: Timestamp,
        seq: Seq,
    ) -> Result<(), ReportError> {
        let Some(after) = self.projection.position(&key) else {
            return Ok(());
        };
        let t = self.tracked.entry(key).or_default();
        t.lives
            .apply(before, after, exec, ts)
            .ok_or(ReportError::Overflow {
                seq,
                what: "round trips",
            })?;
        match (before.qty.is_zero(), after.is_flat()) {
            (true, false) => {
                self.open += 1;
                if self.open == 1 {
                    self.open_since = Some(ts);
                }
            }
            (false, true) => {
                self.open = self.open.saturating_sub(1);
                if self.open == 0 {
                    self.exposed_ns += span_ns(self.open_since.take(), ts);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The report after the last applied event.
    pub fn finish(mut self) -> Result<Report, ReportError> {
        let seq = self.projection.last_seq();
        if self.initial.is_none() {
            self.start_curves();
        }
        let final_equity = self.equity(seq)?;
        // Invariant: `start_curves` above locked it.
        let (initial_equity, source) = self
            .initial
            .unwrap_or((Decimal::ZERO, EquitySource::Option));
        let (clock, curve) = match (
            self.seen_candle,
            self.candles.take(),
            self.events_curve.take(),
        ) {
            (false, _, Some(events)) => (Clock::Events, events),
            (_, Some(candles), _) => (Clock::Candles, candles),
            _ => (
                Clock::Events,
                Curve::starting_at(Timestamp::default(), initial_equity),
            ),
        };
        let curve = curve.finish(final_equity);
        let last_ts = self.projection.last_ts();
        let span = self.first_ts.map(|first| (first, last_ts));
        let span_total = span.map_or(0, |(a, b)| span_ns(Some(a), b));
        let overflow = ReportError::Overflow {
            seq,
            what: "totals",
        };
        let mut instruments = Vec::new();
        for p in self.projection.positions() {
            let t = self.tracked.get(&p.key).cloned().unwrap_or_default();
            let exposed = t.lives.exposed_ns_at(last_ts);
            let metrics = metrics_of(&[p], &[&t.lives], exposed, span_total, t.max_drawdown)
                .ok_or(ReportError::Overflow {
                    seq,
                    what: "totals",
                })?;
            instruments.push(InstrumentReport {
                key: p.key.clone(),
                metrics,
            });
        }
        let exposed = self.exposed_ns + span_ns(self.open_since, last_ts);
        let positions: Vec<&Position> = self.projection.positions().collect();
        let lives: Vec<&Lives> = positions
            .iter()
            .filter_map(|p| self.tracked.get(&p.key).map(|t| &t.lives))
            .collect();
        let account = metrics_of(
            &positions,
            &lives,
            exposed,
            span_total,
            curve.drawdown.max_abs,
        )
        .ok_or(overflow)?;
        Ok(Report {
            events: self.events,
            last_seq: seq,
            span,
            initial_equity,
            initial_equity_source: source,
            recorded_equity: self.candidate.filter(|_| source == EquitySource::Option),
            final_equity,
            account,
            instruments,
            clock,
            curve,
            sessions: self.sessions,
        })
    }
}

/// Sum the metrics of `positions` with their round trips.
fn metrics_of(
    positions: &[&Position],
    lives: &[&Lives],
    exposed_ns: i128,
    span_ns: i128,
    max_drawdown: Decimal,
) -> Option<Metrics> {
    let sum = |f: &dyn Fn(&Position) -> Option<Decimal>| {
        positions
            .iter()
            .try_fold(Decimal::ZERO, |acc, p| acc.checked_add(f(p)?))
    };
    let realized = sum(&|p| Some(p.realized))?;
    let fees = sum(&|p| Some(p.fees))?;
    let funding = sum(&|p| Some(p.funding))?;
    let unrealized = sum(&|p| Some(p.unrealized()))?;
    let net_pnl = sum(&|p| Some(p.net()))?;
    let round_trips: u64 = lives.iter().map(|l| l.round_trips).sum();
    let wins: u64 = lives.iter().map(|l| l.wins).sum();
    let losses: u64 = lives.iter().map(|l| l.losses).sum();
    let gross_wins = lives
        .iter()
        .try_fold(Decimal::ZERO, |acc, l| acc.checked_add(l.gross_wins))?;
    let gross_losses = lives
        .iter()
        .try_fold(Decimal::ZERO, |acc, l| acc.checked_add(l.gross_losses))?;
    let count = |n: u64| Decimal::from_int(i64::try_from(n).unwrap_or(i64::MAX));
    let exposure = match (i64::try_from(exposed_ns), i64::try_from(span_ns)) {
        (Ok(part), Ok(whole)) => ratio(Decimal::from_int(part), Decimal::from_int(whole)),
        _ => None,
    };
    Some(Metrics {
        total_pnl: net_pnl.checked_add(unrealized)?,
        net_pnl,
        realized,
        unrealized,
        fees,
        funding,
        fills: positions.iter().map(|p| p.fills).sum(),
        forced: positions.iter().map(|p| p.liquidations + p.adls).sum(),
        round_trips,
        wins,
        losses,
        win_rate: ratio(count(wins), count(round_trips)),
        profit_factor: ratio(gross_wins, gross_losses),
        exposure,
        max_drawdown,
    })
}

/// Events that can change a position's PnL (and so lock the initial equity).
fn moves_pnl(payload: &Payload) -> bool {
    matches!(
        payload,
        Payload::Fill(_)
            | Payload::Liquidation(_)
            | Payload::Adl(_)
            | Payload::Funding(_)
            | Payload::CorrectionApplied(_)
    )
}

fn execution_fee(payload: &Payload) -> Option<ExecutionFee> {
    match payload {
        Payload::Fill(f) => Some(ExecutionFee {
            qty: f.qty,
            fee: f.fee,
        }),
        Payload::Liquidation(fc) | Payload::Adl(fc) => Some(ExecutionFee {
            qty: fc.qty,
            fee: fc.fee.unwrap_or(Decimal::ZERO),
        }),
        _ => None,
    }
}

/// `net + unrealized` of one position.
fn pnl(p: &Position) -> Option<Decimal> {
    p.net().checked_add(p.unrealized())
}

fn span_ns(since: Option<Timestamp>, until: Timestamp) -> i128 {
    since.map_or(0, |s| {
        (i128::from(until.as_nanos()) - i128::from(s.as_nanos())).max(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::json::parse_event;

    /// Fold JSON lines (seqs from 1) into a report with 1000 of starting capital.
    fn check(lines: &[String]) -> Report {
        check_with(Some(Decimal::from_int(1000)), lines)
    }

    /// Fold JSON lines (seqs from 1) into a report, `initial_equity` overriding the log.
    fn check_with(initial_equity: Option<Decimal>, lines: &[String]) -> Report {
        let mut b = ReportBuilder::new(ReportOptions { initial_equity });
        for (i, line) in lines.iter().enumerate() {
            let event = parse_event(line).unwrap();
            b.apply(&Envelope {
                seq: i as u64 + 1,
                event,
            })
            .unwrap();
        }
        b.finish().unwrap()
    }

    fn fill(second: u32, side: &str, qty: &str, px: &str, fee: &str) -> String {
        format!(
            r#"{{"type":"fill","ts":"2026-01-01T00:00:{second:02}Z","venue":"v","book":"b","instrument":"X","order_id":"ext","exec_id":"e{second}","side":"{side}","px":"{px}","qty":"{qty}","fee":"{fee}","liquidity":"taker"}}"#
        )
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn win_rate_and_profit_factor_split_a_crossing_fee() {
        let r = check(&[
            // Life 1: long 1 @ 100 → sell 2 @ 110 crosses: +10, fee 1 + half of 2 = 2 → +8.
            fill(0, "buy", "1", "100", "1"),
            fill(10, "sell", "2", "110", "2"),
            // Life 2: short 1 @ 110 (fee share 1) → buy 1 @ 114: −4 − 1 − 1 = −6.
            fill(20, "buy", "1", "114", "1"),
            // Life 3: long 1 @ 100 → sell @ 103 with fees 1 + 2: 0, neither win nor loss.
            fill(30, "buy", "1", "100", "1"),
            fill(40, "sell", "1", "103", "2"),
        ]);
        let m = &r.account;
        assert_eq!((m.round_trips, m.wins, m.losses), (3, 1, 1));
        assert_eq!(m.win_rate, Some(d("0.333333")));
        // 8 / 6.
        assert_eq!(m.profit_factor, Some(d("1.333333")));
        assert_eq!(m.realized, d("9"));
        assert_eq!(m.fees, d("7"));
        assert_eq!(r.final_equity, d("1002"));
        // Open 0..20 and 30..40 of a 0..40 span.
        assert_eq!(m.exposure, Some(d("0.75")));
        assert_eq!(r.initial_equity_source, EquitySource::Option);
    }

    #[test]
    fn a_transfer_before_trading_is_the_starting_capital() {
        let transfer = r#"{"type":"transfer","ts":"2026-01-01T00:00:00Z","venue":"v","asset":"USD","amount":"250"}"#;
        let r = check_with(
            None,
            &[
                transfer.to_string(),
                fill(1, "buy", "1", "100", "1"),
                // A later transfer does not move the curve.
                transfer.replace("00:00:00", "00:00:02"),
            ],
        );
        assert_eq!(r.initial_equity, d("250"));
        assert_eq!(r.initial_equity_source, EquitySource::Transfer);
        assert_eq!(r.final_equity, d("249"));
        assert_eq!(r.curve.drawdown.max_abs, d("1"));
        assert_eq!(r.clock, Clock::Events);
    }

    fn session(equity: &str) -> String {
        format!(
            r#"{{"type":"session_started","ts":"2026-01-01T00:00:00Z","mode":"backtest","config_hash":"","version":"t","params":[["initial_equity","{equity}"]]}}"#
        )
    }

    fn trade(second: u32, px: &str) -> String {
        format!(
            r#"{{"type":"trade","ts":"2026-01-01T00:00:{second:02}Z","venue":"v","book":"b","instrument":"X","px":"{px}","qty":"1","side":"buy","trade_id":"t{second}"}}"#
        )
    }

    #[test]
    fn the_session_records_the_equity_and_an_option_overrides_it() {
        let lines = [session("50000"), fill(1, "buy", "1", "100", "1")];
        let r = check_with(None, &lines);
        assert_eq!(r.initial_equity, d("50000"));
        assert_eq!(r.initial_equity_source, EquitySource::Session);
        assert_eq!(r.final_equity, d("49999"));
        assert_eq!(r.recorded_equity, None);
        let r = check_with(Some(d("700")), &lines);
        assert_eq!(r.initial_equity, d("700"));
        assert_eq!(r.initial_equity_source, EquitySource::Option);
        assert_eq!(r.recorded_equity, Some((d("50000"), EquitySource::Session)));
        // The session never stopped: the report says so.
        assert_eq!(r.sessions.incomplete().count(), 1);
    }

    #[test]
    fn with_nothing_recorded_the_default_equity_is_named() {
        let r = check_with(None, &[fill(1, "buy", "1", "100", "1")]);
        assert_eq!(r.initial_equity, Decimal::from_int(DEFAULT_INITIAL_EQUITY));
        assert_eq!(r.initial_equity_source, EquitySource::Default);
    }

    /// Issue 9 item 7: on one instrument, the account's and the instrument's max
    /// drawdown are the same number (the first round trip's fees used to be left out
    /// of the instrument's, whose peak started at its first, already-charged, point).
    #[test]
    fn one_instrument_drawdown_is_the_accounts() {
        let r = check(&[
            fill(0, "buy", "1", "100", "1"),
            trade(1, "100"),
            fill(2, "sell", "1", "100", "1"),
            trade(3, "100"),
            fill(4, "buy", "1", "100", "1"),
            trade(5, "97"),
        ]);
        // Equity 1000 → 999 → 998 → 997 → 994: a fall of 6 from the start.
        assert_eq!(r.curve.drawdown.max_abs, d("6"));
        assert_eq!(r.instruments[0].metrics.max_drawdown, d("6"));
        assert_eq!(
            r.account.max_drawdown,
            r.instruments[0].metrics.max_drawdown
        );
    }
}
