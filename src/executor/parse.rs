//! Instruments files: one YAML file per venue, read into [`VenueRules`].
//!
//! ```yaml
//! venue: bybit
//! calendar: always_open            # or { weekly: { sessions: [...], holidays: [...] } }
//! orders_per_second: 10            # token bucket refilled by event time
//! funding:                         # optional: perpetuals only
//!   cap_above: "0.001"             # |rate| above → leverage capped at capped_leverage
//!   capped_leverage: "2"
//!   skip_above: "0.005"            # |rate| above → entries and adds skipped
//! instruments:
//!   - book: linear
//!     instrument: BTCUSDT
//!     tick_size: "0.1"
//!     lot_size: "0.001"
//!     min_qty: "0.001"
//!     min_notional: "5"
//!     max_leverage: "100"
//!     max_position_notional: "1000000"   # optional
//!     maker_fee: "0.0002"
//!     taker_fee: "0.00055"
//! ```
//!
//! A weekly calendar is `{ weekly: { sessions: [{ days: [mon, tue], open: "14:30",
//! close: "21:00" }], holidays: ["2026-01-19"] } }`, times and dates in UTC.
//! Errors name the file, line and field: `bybit.yaml:9: instruments[0].tick_size: must
//! be above zero, found 0`. This module does no file I/O: it is given the text and path.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDate, Weekday};
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::event::{Book, Decimal, Symbol, Venue};
use crate::yaml_file::{self, Errors, YamlFileError};

use super::rules::{Calendar, FundingGate, InstrumentRules, MINUTES_PER_DAY, Session, VenueRules};

/// Why an instruments file was refused (file, line, field).
pub type RulesError = YamlFileError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesYaml {
    venue: Spanned<String>,
    calendar: CalendarYaml,
    orders_per_second: Spanned<u32>,
    #[serde(default)]
    funding: Option<FundingYaml>,
    instruments: Spanned<Vec<Spanned<InstrumentYaml>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum CalendarYaml {
    AlwaysOpen,
    Weekly(WeeklyYaml),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WeeklyYaml {
    sessions: Spanned<Vec<Spanned<SessionYaml>>>,
    #[serde(default)]
    holidays: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionYaml {
    days: Vec<Spanned<String>>,
    open: Spanned<String>,
    close: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FundingYaml {
    cap_above: Spanned<String>,
    capped_leverage: Spanned<String>,
    skip_above: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstrumentYaml {
    book: Spanned<String>,
    instrument: Spanned<String>,
    tick_size: Spanned<String>,
    lot_size: Spanned<String>,
    min_qty: Spanned<String>,
    min_notional: Spanned<String>,
    max_leverage: Spanned<String>,
    #[serde(default)]
    max_position_notional: Option<Spanned<String>>,
    maker_fee: Spanned<String>,
    taker_fee: Spanned<String>,
}

/// What a decimal field must be.
#[derive(Clone, Copy)]
enum Bound {
    Any,
    NotNegative,
    Positive,
}

/// The content checks of an instruments file, on top of the shared error builder.
trait RulesChecks {
    fn decimal(
        &self,
        s: &Spanned<String>,
        field: &str,
        bound: Bound,
    ) -> Result<Decimal, RulesError>;
    fn name(&self, s: &Spanned<String>, field: &str) -> Result<String, RulesError>;
}

impl RulesChecks for Errors<'_> {
    fn decimal(
        &self,
        s: &Spanned<String>,
        field: &str,
        bound: Bound,
    ) -> Result<Decimal, RulesError> {
        let value: Decimal = s
            .value
            .trim()
            .parse()
            .map_err(|e| self.at(s, field, format!("{e}")))?;
        let refused = match bound {
            Bound::Any => None,
            Bound::NotNegative if value.is_negative() => Some("must not be negative"),
            Bound::Positive if !value.is_positive() => Some("must be above zero"),
            _ => None,
        };
        match refused {
            Some(message) => Err(self.at(s, field, format!("{message}, found {value}"))),
            None => Ok(value),
        }
    }

    fn name(&self, s: &Spanned<String>, field: &str) -> Result<String, RulesError> {
        let name = s.value.trim();
        let valid = !name.is_empty() && !name.contains(':') && !name.contains(char::is_whitespace);
        if !valid {
            return Err(self.at(
                s,
                field,
                format!("expected a name without `:` or spaces, found `{}`", s.value),
            ));
        }
        Ok(name.to_string())
    }
}

/// Parse and check the instruments file in `text`; `path` is only used in error messages.
pub fn parse_rules(text: &str, path: &str) -> Result<VenueRules, RulesError> {
    let yaml: RulesYaml = yaml_file::parse(text, path)?;
    let err = Errors::new(path);
    let venue = Venue(err.name(&yaml.venue, "venue")?.into());
    if yaml.orders_per_second.value == 0 {
        return Err(err.at(
            &yaml.orders_per_second,
            "orders_per_second",
            "must be at least 1",
        ));
    }
    let funding = match &yaml.funding {
        None => None,
        Some(f) => Some(funding(&err, f)?),
    };
    let calendar = match &yaml.calendar {
        CalendarYaml::AlwaysOpen => Calendar::AlwaysOpen,
        CalendarYaml::Weekly(w) => weekly(&err, w)?,
    };
    Ok(VenueRules {
        venue,
        calendar,
        instruments: instruments(&err, &yaml.instruments)?,
        orders_per_second: yaml.orders_per_second.value,
        funding,
    })
}

fn funding(err: &Errors<'_>, f: &FundingYaml) -> Result<FundingGate, RulesError> {
    let gate = FundingGate {
        cap_above: err.decimal(&f.cap_above, "funding.cap_above", Bound::NotNegative)?,
        capped_leverage: err.decimal(
            &f.capped_leverage,
            "funding.capped_leverage",
            Bound::Positive,
        )?,
        skip_above: err.decimal(&f.skip_above, "funding.skip_above", Bound::NotNegative)?,
    };
    if gate.skip_above < gate.cap_above {
        return Err(err.at(
            &f.skip_above,
            "funding.skip_above",
            format!(
                "must be at least cap_above ({}), found {}",
                gate.cap_above, gate.skip_above
            ),
        ));
    }
    Ok(gate)
}

/// The largest fee rate, as a fraction of notional: 1%. A venue's rates are hundredths
/// of that; a larger one is almost always a percentage written as a fraction.
const FEE_RATE_MAX: Decimal = Decimal::from_parts_const(1, 2);

/// A fee rate (a fraction of notional, negative for a rebate) within ±[`FEE_RATE_MAX`].
fn fee_rate(err: &Errors<'_>, s: &Spanned<String>, field: &str) -> Result<Decimal, RulesError> {
    let rate = err.decimal(s, field, Bound::Any)?;
    if rate.abs() > FEE_RATE_MAX {
        return Err(err.at(
            s,
            field,
            format!(
                "a fee rate is a fraction of notional (0.00055 = 5.5 bps) within ±{FEE_RATE_MAX}, found {rate}"
            ),
        ));
    }
    Ok(rate)
}

fn instruments(
    err: &Errors<'_>,
    list: &Spanned<Vec<Spanned<InstrumentYaml>>>,
) -> Result<BTreeMap<(Book, Symbol), InstrumentRules>, RulesError> {
    if list.value.is_empty() {
        return Err(err.at(list, "instruments", "list at least one instrument"));
    }
    let mut map = BTreeMap::new();
    for (i, s) in list.value.iter().enumerate() {
        let f = |name: &str| format!("instruments[{i}].{name}");
        let y = &s.value;
        let key = (
            Book(err.name(&y.book, &f("book"))?.into()),
            Symbol(err.name(&y.instrument, &f("instrument"))?.into()),
        );
        let max_position_notional = match &y.max_position_notional {
            None => None,
            Some(m) => Some(err.decimal(m, &f("max_position_notional"), Bound::Positive)?),
        };
        let rules = InstrumentRules {
            tick_size: err.decimal(&y.tick_size, &f("tick_size"), Bound::Positive)?,
            lot_size: err.decimal(&y.lot_size, &f("lot_size"), Bound::Positive)?,
            min_qty: err.decimal(&y.min_qty, &f("min_qty"), Bound::NotNegative)?,
            min_notional: err.decimal(&y.min_notional, &f("min_notional"), Bound::NotNegative)?,
            max_leverage: err.decimal(&y.max_leverage, &f("max_leverage"), Bound::Positive)?,
            max_position_notional,
            maker_fee: fee_rate(err, &y.maker_fee, &f("maker_fee"))?,
            taker_fee: fee_rate(err, &y.taker_fee, &f("taker_fee"))?,
        };
        if rules.taker_fee.is_negative() {
            let message = format!(
                "a taker fee below zero would pay takers (no venue does), found {}",
                rules.taker_fee
            );
            return Err(err.at(&y.taker_fee, f("taker_fee"), message));
        }
        if rules
            .maker_fee
            .checked_add(rules.taker_fee)
            .is_none_or(|sum| sum.is_negative())
        {
            let message = format!(
                "a maker rebate larger than the taker fee ({}) would pay a round trip, found {}",
                rules.taker_fee, rules.maker_fee
            );
            return Err(err.at(&y.maker_fee, f("maker_fee"), message));
        }
        if map.contains_key(&key) {
            let message = format!("duplicate instrument `{}:{}`", key.0, key.1);
            return Err(err.at(&y.instrument, f("instrument"), message));
        }
        map.insert(key, rules);
    }
    Ok(map)
}

fn weekly(err: &Errors<'_>, w: &WeeklyYaml) -> Result<Calendar, RulesError> {
    if w.sessions.value.is_empty() {
        return Err(err.at(
            &w.sessions,
            "calendar.weekly.sessions",
            "list at least one session",
        ));
    }
    let mut sessions = Vec::with_capacity(w.sessions.value.len());
    for (i, s) in w.sessions.value.iter().enumerate() {
        sessions.push(session(err, i, s)?);
    }
    let mut holidays = BTreeSet::new();
    for (i, h) in w.holidays.iter().enumerate() {
        let field = format!("calendar.weekly.holidays[{i}]");
        let date = NaiveDate::parse_from_str(h.value.trim(), "%Y-%m-%d").map_err(|_| {
            err.at(
                h,
                &field,
                format!("expected a date such as 2026-01-19, found `{}`", h.value),
            )
        })?;
        holidays.insert(date);
    }
    Ok(Calendar::Sessions { sessions, holidays })
}

fn session(err: &Errors<'_>, i: usize, s: &Spanned<SessionYaml>) -> Result<Session, RulesError> {
    let f = |name: &str| format!("calendar.weekly.sessions[{i}].{name}");
    let y = &s.value;
    if y.days.is_empty() {
        return Err(err.at(s, f("days"), "list at least one day"));
    }
    let mut days = Vec::with_capacity(y.days.len());
    for (d, day) in y.days.iter().enumerate() {
        let weekday = weekday(&day.value).ok_or_else(|| {
            err.at(
                day,
                format!("{}[{d}]", f("days")),
                format!("expected mon..sun, found `{}`", day.value),
            )
        })?;
        if !days.contains(&weekday) {
            days.push(weekday);
        }
    }
    let open_minute = minute_of_day(err, &y.open, &f("open"))?;
    let close_minute = minute_of_day(err, &y.close, &f("close"))?;
    if close_minute <= open_minute {
        return Err(err.at(
            &y.close,
            f("close"),
            format!(
                "must be after open ({}); split sessions that run over midnight",
                y.open.value
            ),
        ));
    }
    Ok(Session {
        days,
        open_minute,
        close_minute,
    })
}

fn weekday(text: &str) -> Option<Weekday> {
    use Weekday::*;
    let day = match text.trim() {
        "mon" => Mon,
        "tue" => Tue,
        "wed" => Wed,
        "thu" => Thu,
        "fri" => Fri,
        "sat" => Sat,
        "sun" => Sun,
        _ => return None,
    };
    Some(day)
}

/// `"HH:MM"` in UTC, `00:00` to `24:00`.
fn minute_of_day(err: &Errors<'_>, s: &Spanned<String>, field: &str) -> Result<u16, RulesError> {
    let refuse = || {
        err.at(
            s,
            field,
            format!(
                "expected a UTC time HH:MM from 00:00 to 24:00, found `{}`",
                s.value
            ),
        )
    };
    let (h, m) = s.value.trim().split_once(':').ok_or_else(refuse)?;
    let two_digits = |t: &str| t.len() == 2 && t.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(h) || !two_digits(m) {
        return Err(refuse());
    }
    let (h, m): (u16, u16) = (
        h.parse().map_err(|_| refuse())?,
        m.parse().map_err(|_| refuse())?,
    );
    let minute = h * 60 + m;
    if m >= 60 || minute > MINUTES_PER_DAY {
        return Err(refuse());
    }
    Ok(minute)
}
