//! Account balances per `(venue, asset)`: set by balance reports and corrections,
//! moved by transfers.
//!
//! Fees, funding and realized PnL are deliberately *not* applied to balances: venues
//! charge them in assets we cannot always name (a fill's `fee_asset` is optional, PnL
//! settles in the quote currency the key does not carry) and every venue reports its
//! wallet balance anyway, so applying both would count twice. A balance here is the
//! last reported total plus the transfers since.

use crate::event::{Asset, Decimal, Venue};

use super::error::{Violation, checked};

/// The key of a balance.
pub type BalanceKey = (Venue, Asset);

/// `balance` after a signed transfer of `amount` (absent balances start at zero).
pub(crate) fn transferred(
    key: &BalanceKey,
    balance: Option<Decimal>,
    amount: Decimal,
) -> Result<Decimal, Violation> {
    let subject = format!("balance {}:{}", key.0, key.1);
    let before = balance.unwrap_or(Decimal::ZERO);
    checked(before.checked_add(amount), &subject, "total")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfers_add_to_a_balance_that_starts_at_zero() {
        let key = (Venue::from("bybit"), Asset::from("USDT"));
        let one = Decimal::ONE;
        assert_eq!(transferred(&key, None, -one).unwrap(), -one);
        assert_eq!(
            transferred(&key, Some(Decimal::from_int(5)), one).unwrap(),
            Decimal::from_int(6)
        );
        let max: Decimal = "79228162514264337593543950335".parse().unwrap();
        let err = transferred(&key, Some(max), one).unwrap_err();
        assert_eq!(
            err.to_string(),
            "arithmetic overflow in total of balance bybit:USDT"
        );
    }
}
