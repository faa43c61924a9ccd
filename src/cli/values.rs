//! Parsers for option values with a valid range: a nonsense value (a negative equity,
//! slippage that pays the taker, a liquidity share of zero) is refused at the command
//! line with the range, not run.

use crate::backend::LiquidityModel;
use crate::event::Decimal;

fn decimal(text: &str) -> Result<Decimal, String> {
    text.trim()
        .parse::<Decimal>()
        .map_err(|e| format!("{text:?} is not a decimal number: {e}"))
}

/// A decimal > 0 (an equity, a price).
pub fn parse_positive_decimal(text: &str) -> Result<Decimal, String> {
    let v = decimal(text)?;
    if v.is_positive() {
        Ok(v)
    } else {
        Err(format!("{text}: must be greater than 0"))
    }
}

/// Slippage in basis points: 0 to 10 000 (a negative slippage would fill buys below the
/// market).
pub fn parse_slippage_bps(text: &str) -> Result<Decimal, String> {
    let v = decimal(text)?;
    if v.is_negative() || v > Decimal::from_int(10_000) {
        Err(format!("{text}: slippage must be between 0 and 10000 bps"))
    } else {
        Ok(v)
    }
}

/// The longest request latency a simulation accepts: one hour.
pub const LATENCY_MS_MAX: i64 = 3_600_000;

/// Request latency in milliseconds: 0 to one hour.
pub fn parse_latency_ms(text: &str) -> Result<i64, String> {
    let v: i64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number of milliseconds"))?;
    if (0..=LATENCY_MS_MAX).contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "{text}: latency must be between 0 and {LATENCY_MS_MAX} ms"
        ))
    }
}

/// A share of traded volume: `unlimited`, or more than 0 and at most 1.
pub fn parse_liquidity(text: &str) -> Result<LiquidityModel, String> {
    if text.trim() == "unlimited" {
        return Ok(LiquidityModel::Unlimited);
    }
    let v = decimal(text)?;
    if v.is_positive() && v <= Decimal::ONE {
        Ok(LiquidityModel::VolumeShare(v))
    } else {
        Err(format!(
            "{text}: liquidity is a share of each bar's volume, more than 0 and at most 1, or `unlimited`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_enforced() {
        assert!(parse_positive_decimal("0").is_err());
        assert!(parse_positive_decimal("-5").is_err());
        assert_eq!(
            parse_positive_decimal("50000"),
            Ok(Decimal::from_int(50_000))
        );
        assert!(parse_slippage_bps("-1").is_err());
        assert!(parse_slippage_bps("10001").is_err());
        assert_eq!(
            parse_slippage_bps("2.5"),
            "2.5".parse::<Decimal>().map_err(|e| e.to_string())
        );
        assert!(parse_latency_ms("-1").is_err());
        assert!(parse_latency_ms("3600001").is_err());
        assert_eq!(parse_latency_ms("250"), Ok(250));
        assert!(parse_liquidity("0").is_err());
        assert!(parse_liquidity("1.5").is_err());
        assert_eq!(parse_liquidity("unlimited"), Ok(LiquidityModel::Unlimited));
        assert_eq!(
            parse_liquidity("1"),
            Ok(LiquidityModel::VolumeShare(Decimal::ONE))
        );
    }
}
