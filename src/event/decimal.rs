//! Exact decimal money and quantities.
//!
//! Prices, quantities, fees and PnL are never `f64`. The value type is `rust_decimal`
//! (96-bit mantissa, scale 0..=28); this newtype adds the two things the ledger needs
//! on top of it: a *canonical* stored form ("1.0" and "1.00" encode to the same bytes,
//! so they hash the same) and a JSON form that is always a string, as venues send it.
//! Arithmetic is checked: an overflow is an error the caller attributes to a seq, never
//! a panic.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An exact decimal number. Equality is numeric (`1.0 == 1.00`).
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Decimal(rust_decimal::Decimal);

/// Why a text could not be read as a decimal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid decimal `{text}`: {reason}")]
pub struct DecimalParseError {
    /// The offending text (truncated to 40 characters).
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Decimal {
    /// Zero.
    pub const ZERO: Decimal = Decimal(rust_decimal::Decimal::ZERO);
    /// One.
    pub const ONE: Decimal = Decimal(rust_decimal::Decimal::ONE);

    /// `mantissa × 10^-scale`; `None` when the scale is above 28.
    pub fn from_parts(mantissa: i64, scale: u32) -> Option<Decimal> {
        rust_decimal::Decimal::try_from_i128_with_scale(i128::from(mantissa), scale)
            .ok()
            .map(Decimal)
    }

    /// `mantissa × 10^-scale` as a constant (a scale above 28 is clamped to 28).
    pub const fn from_parts_const(mantissa: u32, scale: u32) -> Decimal {
        Decimal(rust_decimal::Decimal::from_parts(
            mantissa, 0, 0, false, scale,
        ))
    }

    /// A whole number.
    pub fn from_int(value: i64) -> Decimal {
        Decimal(rust_decimal::Decimal::from(value))
    }

    /// The same value with trailing zeros removed: the canonical form.
    pub fn normalized(self) -> Decimal {
        Decimal(self.0.normalize())
    }

    /// True when both have the same mantissa, scale and sign: not just equal numbers
    /// (`1.0 == 1.00`, but they are not identical).
    pub fn is_identical(self, other: Decimal) -> bool {
        self.0.serialize() == other.0.serialize()
    }

    /// True for zero (of any scale).
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// True when strictly above zero.
    pub fn is_positive(self) -> bool {
        self.0.is_sign_positive() && !self.0.is_zero()
    }

    /// True when strictly below zero.
    pub fn is_negative(self) -> bool {
        self.0.is_sign_negative() && !self.0.is_zero()
    }

    /// Absolute value.
    pub fn abs(self) -> Decimal {
        Decimal(self.0.abs())
    }

    /// `-1`, `0` or `1`.
    pub fn signum(self) -> Decimal {
        if self.is_zero() {
            Decimal::ZERO
        } else if self.is_negative() {
            -Decimal::ONE
        } else {
            Decimal::ONE
        }
    }

    /// Checked addition.
    pub fn checked_add(self, other: Decimal) -> Option<Decimal> {
        match exact_sum(self.0, other.0, false) {
            Some(sum) => Some(sum),
            None => self.0.checked_add(other.0).map(Decimal),
        }
    }

    /// Checked subtraction.
    pub fn checked_sub(self, other: Decimal) -> Option<Decimal> {
        match exact_sum(self.0, other.0, true) {
            Some(difference) => Some(difference),
            None => self.0.checked_sub(other.0).map(Decimal),
        }
    }

    /// Checked multiplication; results past 28 fractional digits are rounded (banker's).
    pub fn checked_mul(self, other: Decimal) -> Option<Decimal> {
        self.0.checked_mul(other.0).map(Decimal)
    }

    /// Checked division; `None` on division by zero or overflow.
    pub fn checked_div(self, other: Decimal) -> Option<Decimal> {
        self.0.checked_div(other.0).map(Decimal)
    }

    /// Round to `dp` fractional digits, half away from zero.
    pub fn round_dp(self, dp: u32) -> Decimal {
        Decimal(
            self.0
                .round_dp_with_strategy(dp, rust_decimal::RoundingStrategy::MidpointAwayFromZero),
        )
    }

    /// Largest multiple of `step` that is not above `self` in magnitude (towards zero).
    /// `None` when `step` is not positive.
    pub fn floor_to_step(self, step: Decimal) -> Option<Decimal> {
        if !step.is_positive() {
            return None;
        }
        let units = self.0.checked_div(step.0)?.trunc();
        units.checked_mul(step.0).map(Decimal)
    }

    /// Nearest multiple of `step` (half away from zero). `None` when `step` is not positive.
    pub fn round_to_step(self, step: Decimal) -> Option<Decimal> {
        if !step.is_positive() {
            return None;
        }
        let units = self
            .0
            .checked_div(step.0)?
            .round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        units.checked_mul(step.0).map(Decimal)
    }

    /// The smaller of two values.
    pub fn min(self, other: Decimal) -> Decimal {
        if other < self { other } else { self }
    }

    /// The larger of two values.
    pub fn max(self, other: Decimal) -> Decimal {
        if other > self { other } else { self }
    }

    /// True when `|self| < 2^bits`, judged from the representation (mantissa against
    /// `2^bits × 10^scale`), without arithmetic that could round or fail. The hot checks
    /// use it to skip an overflow test that provably cannot fail.
    pub fn magnitude_below_pow2(self, bits: u32) -> bool {
        let bound = 1u128.checked_shl(bits).map_or(u128::MAX, |b| {
            b.saturating_mul(POW10[self.0.scale() as usize])
        });
        self.0.mantissa().unsigned_abs() < bound
    }

    /// True when `|self| ≥ 10^exponent`, for `exponent` in `-28..=0`, judged from the
    /// representation (see `magnitude_below_pow2`).
    pub fn magnitude_at_least_pow10(self, exponent: i32) -> bool {
        let digits = exponent.clamp(-28, 0).unsigned_abs();
        let scale = self.0.scale();
        match scale.checked_sub(digits) {
            // |m| × 10^-scale ≥ 10^-digits ⇔ |m| ≥ 10^(scale − digits).
            Some(shift) => self.0.mantissa().unsigned_abs() >= POW10[shift as usize],
            // Any non-zero value at this scale is at least 10^-scale > 10^-digits.
            None => !self.0.is_zero(),
        }
    }

    /// Canonical `(mantissa, scale)`: the stored and hashed form.
    pub fn to_canonical_parts(self) -> (i128, u8) {
        let n = self.0.normalize();
        // Invariant: rust_decimal scales are 0..=28, so they fit a u8.
        (n.mantissa(), n.scale() as u8)
    }

    /// Rebuild from stored parts.
    pub fn from_canonical_parts(mantissa: i128, scale: u8) -> Option<Decimal> {
        rust_decimal::Decimal::try_from_i128_with_scale(mantissa, u32::from(scale))
            .ok()
            .map(Decimal)
    }

    /// Lossy conversion for charts and ratios in reports; never used for money.
    pub fn to_f64_lossy(self) -> f64 {
        use rust_decimal::prelude::ToPrimitive;
        self.0.to_f64().unwrap_or(f64::NAN)
    }
}

/// `a + b` (or `a − b`) when it is exact: both aligned to the larger scale in `i128`,
/// and the result non-zero and within 96 bits. That is bit for bit what rust_decimal
/// returns for such a sum (same mantissa, same scale), only without its 192-bit
/// buffer, which it takes whenever an operand is above 64 bits: running PnL and cost
/// basis are, once a division has given them 28 digits. `None` hands everything else
/// (zeros, whose sign and scale rust_decimal has its own rules for; rounding;
/// overflow) to rust_decimal. `exact_sums_are_what_rust_decimal_returns` guards it.
#[inline]
fn exact_sum(
    a: rust_decimal::Decimal,
    b: rust_decimal::Decimal,
    subtract: bool,
) -> Option<Decimal> {
    if a.is_zero() || b.is_zero() {
        return None;
    }
    let scale = a.scale().max(b.scale());
    let ma = aligned(a.mantissa(), scale - a.scale())?;
    let mb = aligned(b.mantissa(), scale - b.scale())?;
    let sum = match subtract {
        true => ma.checked_sub(mb)?,
        false => ma.checked_add(mb)?,
    };
    if sum == 0 || sum.unsigned_abs() >> 96 != 0 {
        return None;
    }
    rust_decimal::Decimal::try_from_i128_with_scale(sum, scale)
        .ok()
        .map(Decimal)
}

/// `mantissa × 10^shift`, or `None` when that leaves `i128`. A table compare instead
/// of `i128::checked_mul`, which is a slow library call.
#[inline]
fn aligned(mantissa: i128, shift: u32) -> Option<i128> {
    if shift == 0 {
        return Some(mantissa);
    }
    // Scales are 0..=28, so `shift` indexes both tables.
    let shift = shift as usize;
    (mantissa.unsigned_abs() <= ALIGN_LIMIT[shift]).then(|| mantissa * POW10[shift] as i128)
}

/// `i128::MAX / 10^n`: the largest magnitude `aligned` can scale by `10^n`.
const ALIGN_LIMIT: [u128; 29] = {
    let mut table = [0u128; 29];
    let mut i = 0;
    while i < 29 {
        table[i] = (i128::MAX as u128) / POW10[i];
        i += 1;
    }
    table
};

/// `10^0 ..= 10^28`: every power a rust_decimal scale can name.
const POW10: [u128; 29] = {
    let mut table = [1u128; 29];
    let mut i = 1;
    while i < 29 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

impl std::ops::Neg for Decimal {
    type Output = Decimal;

    /// Negation (cannot overflow: the mantissa is sign-magnitude).
    fn neg(self) -> Decimal {
        Decimal(-self.0)
    }
}

impl FromStr for Decimal {
    type Err = DecimalParseError;

    /// Plain decimal notation only (`-12.50`); exponents and non-numbers are refused, and
    /// so is any text that would lose digits, so what is read is exactly what was written.
    fn from_str(text: &str) -> Result<Decimal, DecimalParseError> {
        let err = |reason: &str| DecimalParseError {
            text: text.chars().take(40).collect(),
            reason: reason.to_string(),
        };
        let digits = text.strip_prefix('-').unwrap_or(text);
        let well_formed = !digits.is_empty()
            && !digits.starts_with('.')
            && !digits.ends_with('.')
            && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && digits.bytes().filter(|&b| b == b'.').count() <= 1;
        if !well_formed {
            return Err(err("expected plain decimal notation such as \"42000.5\""));
        }
        rust_decimal::Decimal::from_str_exact(text)
            .map(Decimal)
            .map_err(|e| err(&e.to_string()))
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.normalize(), f)
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl Serialize for Decimal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            self.to_canonical_parts().serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_str(DecimalVisitor)
        } else {
            let (mantissa, scale) = <(i128, u8)>::deserialize(deserializer)?;
            Decimal::from_canonical_parts(mantissa, scale)
                .ok_or_else(|| de::Error::custom("stored decimal out of range"))
        }
    }
}

struct DecimalVisitor;

impl Visitor<'_> for DecimalVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal as a JSON string, such as \"42000.5\"")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
        v.parse().map_err(E::custom)
    }
}

impl schemars::JsonSchema for Decimal {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Decimal".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^-?[0-9]+(\\.[0-9]+)?$",
            "description": "An exact decimal in plain notation, as a string (\"42000.5\")."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn trailing_zeros_do_not_change_the_stored_bytes() {
        let a = bincode::serialize(&d("1.0")).unwrap();
        let b = bincode::serialize(&d("1.00")).unwrap();
        let c = bincode::serialize(&d("1")).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_ne!(a, bincode::serialize(&d("1.01")).unwrap());
    }

    #[test]
    fn json_form_is_a_canonical_string() {
        assert_eq!(serde_json::to_string(&d("0.010")).unwrap(), "\"0.01\"");
        assert_eq!(
            serde_json::from_str::<Decimal>("\"-42000.5\"").unwrap(),
            d("-42000.5")
        );
        assert!(
            serde_json::from_str::<Decimal>("42000.5").is_err(),
            "numbers are refused"
        );
    }

    #[test]
    fn refuses_what_is_not_plain_decimal_notation() {
        for bad in [
            "", "-", ".5", "5.", "1e5", "abc", "1.2.3", "+1", " 1", "NaN",
        ] {
            assert!(bad.parse::<Decimal>().is_err(), "{bad:?} should be refused");
        }
        assert!(
            "123456789012345678901234567890.1"
                .parse::<Decimal>()
                .is_err()
        );
    }

    use proptest::prelude::*;

    fn raw(d: Decimal) -> [u8; 16] {
        d.0.serialize()
    }

    /// A decimal from a mantissa up to 96 bits and any scale rust_decimal allows.
    fn any_decimal() -> impl Strategy<Value = Decimal> {
        let mantissa = prop_oneof![
            -1_000i128..1_000,
            -(1i128 << 64)..(1i128 << 64),
            -((1i128 << 96) - 1)..(1i128 << 96),
            Just((1i128 << 96) - 1),
            Just(-((1i128 << 96) - 1)),
        ];
        (mantissa, 0u32..=28)
            .prop_map(|(m, s)| Decimal(rust_decimal::Decimal::from_i128_with_scale(m, s)))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// The fast exact sum is rust_decimal's own answer, to the bit (mantissa, scale
        /// and sign), or it declines.
        #[test]
        fn exact_sums_are_what_rust_decimal_returns(
            (a, b) in prop_oneof![
                (any_decimal(), any_decimal()),
                // Sums that cancel: zero results have their own sign rules.
                any_decimal().prop_map(|a| (a, a)),
                any_decimal().prop_map(|a| (a, -a)),
                any_decimal().prop_map(|a| (a, a.normalized())),
            ]
        ) {
            for subtract in [false, true] {
                let slow = match subtract {
                    true => a.0.checked_sub(b.0),
                    false => a.0.checked_add(b.0),
                };
                if let Some(fast) = exact_sum(a.0, b.0, subtract) {
                    let slow = slow.map(Decimal);
                    prop_assert!(slow.is_some(), "{a:?} ± {b:?}: only the fast path has a result");
                    prop_assert_eq!(raw(fast), raw(slow.unwrap_or_default()), "{:?} ± {:?}", a, b);
                }
                let public = match subtract {
                    true => a.checked_sub(b),
                    false => a.checked_add(b),
                };
                prop_assert_eq!(public.map(raw), slow.map(|d| raw(Decimal(d))));
            }
        }

        /// `magnitude_at_least_pow10` agrees with comparing the values.
        #[test]
        fn tenth_power_bound_is_exact(a in any_decimal(), exponent in -28i32..=0) {
            let limit = rust_decimal::Decimal::new(1, exponent.unsigned_abs());
            prop_assert_eq!(a.magnitude_at_least_pow10(exponent), a.0.abs() >= limit);
        }

        /// `magnitude_below_pow2` agrees with comparing the values.
        #[test]
        fn magnitude_bound_is_exact(a in any_decimal(), bits in 0u32..100) {
            let bound = rust_decimal::Decimal::from_i128_with_scale(1, 0);
            let below = (0..bits).try_fold(bound, |acc, _| acc.checked_mul(rust_decimal::Decimal::TWO))
                .map(|limit| a.0.abs() < limit)
                .unwrap_or(true);
            prop_assert_eq!(a.magnitude_below_pow2(bits), below);
        }
    }

    #[test]
    fn magnitude_bounds_follow_the_value_not_the_representation() {
        assert!(d("4294967295").magnitude_below_pow2(32));
        assert!(!d("4294967296").magnitude_below_pow2(32));
        assert!(d("4294967295.99").magnitude_below_pow2(32));
        assert!(!d("-4294967296.00").magnitude_below_pow2(32));
        assert!(d("0.0000000000000000000000000001").magnitude_below_pow2(0));
        assert!(!d("1").magnitude_below_pow2(0));
        // A 28-digit mantissa at scale 24 is a small value.
        assert!(d("1234.567890123456789012345678").magnitude_below_pow2(11));
        assert!(!d("1234.567890123456789012345678").magnitude_below_pow2(10));
        assert!(d("79228162514264337593543950335").magnitude_below_pow2(96));
        assert!(d("79228162514264337593543950335").magnitude_below_pow2(200));
        assert!(!d("79228162514264337593543950335").magnitude_below_pow2(95));
    }

    #[test]
    fn step_rounding() {
        assert_eq!(d("0.0127").floor_to_step(d("0.001")), Some(d("0.012")));
        assert_eq!(d("-0.0127").floor_to_step(d("0.001")), Some(d("-0.012")));
        assert_eq!(d("100.26").round_to_step(d("0.5")), Some(d("100.5")));
        assert_eq!(d("1").floor_to_step(Decimal::ZERO), None);
    }
}
