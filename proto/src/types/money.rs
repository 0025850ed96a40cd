//! Money and tax rates. Amounts are decimals, never binary floats.

use super::{
    CurrencyCode, DECIMAL_PATTERN, ParseError, Reason, ValueKind, decimal_newtype, parse_decimal,
    string_schema,
};
use rust_decimal::{Decimal, RoundingStrategy};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;

/// An amount of money in a currency.
///
/// On the wire: `{"amount": "19.95", "currency": "EUR"}`; the amount is a decimal
/// string (JSON numbers are refused so no value passes through a float).
/// Amounts may be negative (refunds, discounts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Money {
    #[serde(serialize_with = "ser_decimal", deserialize_with = "de_amount")]
    #[schemars(schema_with = "amount_schema")]
    amount: Decimal,
    currency: CurrencyCode,
}

/// A computation on [`Money`] that cannot be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The amount does not fit the integer type of the target system.
    #[error("the amount {amount} {currency} does not fit into 64-bit minor units")]
    Overflow {
        /// The amount.
        amount: Decimal,
        /// Its currency.
        currency: CurrencyCode,
    },
    /// Two amounts in different currencies were combined.
    #[error("cannot combine {left} with {right}")]
    CurrencyMismatch {
        /// Currency of the left operand.
        left: CurrencyCode,
        /// Currency of the right operand.
        right: CurrencyCode,
    },
}

impl Money {
    /// An amount in `currency`.
    pub fn new(amount: Decimal, currency: CurrencyCode) -> Self {
        Self { amount, currency }
    }

    /// Parses a decimal amount string (`"19.95"`) in `currency`.
    pub fn parse(amount: &str, currency: CurrencyCode) -> Result<Self, ParseError> {
        Ok(Self::new(
            parse_decimal(ValueKind::MoneyAmount, amount)?,
            currency,
        ))
    }

    /// Zero in `currency`.
    pub fn zero(currency: CurrencyCode) -> Self {
        Self::new(Decimal::ZERO, currency)
    }

    /// From integer minor units (MplusKASSA sends cents: `1995` EUR -> 19.95).
    pub fn from_minor_units(minor: i64, currency: CurrencyCode) -> Self {
        Self::new(
            Decimal::new(minor, currency.minor_unit_exponent()),
            currency,
        )
    }

    /// To integer minor units (19.95 EUR -> `1995`), rounding half away from zero
    /// when the amount has more decimals than the currency's minor unit.
    pub fn to_minor_units(&self) -> Result<i64, MoneyError> {
        let exp = self.currency.minor_unit_exponent();
        let scaled = self
            .amount
            .round_dp_with_strategy(exp, RoundingStrategy::MidpointAwayFromZero)
            .checked_mul(Decimal::from(10_i64.pow(exp)))
            .ok_or(MoneyError::Overflow {
                amount: self.amount,
                currency: self.currency,
            })?;
        i64::try_from(scaled.trunc()).map_err(|_| MoneyError::Overflow {
            amount: self.amount,
            currency: self.currency,
        })
    }

    /// The amount.
    pub fn amount(&self) -> Decimal {
        self.amount
    }

    /// The currency.
    pub fn currency(&self) -> CurrencyCode {
        self.currency
    }

    /// Sum of two amounts in the same currency.
    pub fn checked_add(&self, other: &Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            });
        }
        self.amount
            .checked_add(other.amount)
            .map(|amount| Money::new(amount, self.currency))
            .ok_or(MoneyError::Overflow {
                amount: self.amount,
                currency: self.currency,
            })
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

fn ser_decimal<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(d)
}

fn de_amount<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    let raw = String::deserialize(d)?;
    parse_decimal(ValueKind::MoneyAmount, &raw).map_err(serde::de::Error::custom)
}

fn amount_schema(_: &mut SchemaGenerator) -> Schema {
    string_schema(
        "Decimal amount as a string, e.g. \"19.95\"",
        Some(DECIMAL_PATTERN),
        None,
        None,
        None,
    )
}

/// A tax (VAT) rate in percent, 0 to 100 inclusive (`21` = 21 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaxRate(Decimal);

impl TaxRate {
    /// A rate from a decimal percentage.
    pub fn new(percent: Decimal) -> Result<Self, ParseError> {
        if percent < Decimal::ZERO || percent > Decimal::ONE_HUNDRED {
            return Err(ParseError::new(
                ValueKind::TaxRate,
                &percent.to_string(),
                Reason::OutOfRange("0..=100 percent"),
            ));
        }
        Ok(Self(percent))
    }

    /// Parses a percentage string (`"21"`, `"9.0"`).
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let d = parse_decimal(ValueKind::TaxRate, raw)?;
        Self::new(d).map_err(|_| {
            ParseError::new(
                ValueKind::TaxRate,
                raw,
                Reason::OutOfRange("0..=100 percent"),
            )
        })
    }

    /// The percentage.
    pub fn value(&self) -> Decimal {
        self.0
    }

    /// The rate as a fraction (21 % -> 0.21).
    pub fn fraction(&self) -> Decimal {
        self.0 / Decimal::ONE_HUNDRED
    }
}

decimal_newtype!(TaxRate);

impl JsonSchema for TaxRate {
    fn schema_name() -> Cow<'static, str> {
        "TaxRate".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        string_schema(
            "Tax rate in percent (0 to 100) as a decimal string, e.g. \"21\"",
            Some(r"^[0-9]+(\.[0-9]+)?$"),
            None,
            None,
            None,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).expect("test decimal")
    }

    #[test]
    fn minor_units_round_trip() {
        let eur = CurrencyCode::EUR;
        let m = Money::from_minor_units(1995, eur);
        assert_eq!(m.amount(), dec("19.95"));
        assert_eq!(m.to_minor_units(), Ok(1995));
        assert_eq!(Money::from_minor_units(-50, eur).amount(), dec("-0.50"));
        let jpy = CurrencyCode::parse("JPY").expect("jpy");
        assert_eq!(Money::from_minor_units(1995, jpy).amount(), dec("1995"));
        let kwd = CurrencyCode::parse("KWD").expect("kwd");
        assert_eq!(Money::new(dec("1.2345"), kwd).to_minor_units(), Ok(1235));
    }

    #[test]
    fn to_minor_units_rounds_half_away_from_zero() {
        let eur = CurrencyCode::EUR;
        assert_eq!(Money::new(dec("0.125"), eur).to_minor_units(), Ok(13));
        assert_eq!(Money::new(dec("-0.125"), eur).to_minor_units(), Ok(-13));
        assert_eq!(Money::new(dec("0.124"), eur).to_minor_units(), Ok(12));
    }

    #[test]
    fn overflow_is_an_error() {
        let huge = Money::new(Decimal::MAX, CurrencyCode::EUR);
        assert!(matches!(
            huge.to_minor_units(),
            Err(MoneyError::Overflow { .. })
        ));
        let big = Money::new(dec("100000000000000000"), CurrencyCode::EUR);
        assert!(matches!(
            big.to_minor_units(),
            Err(MoneyError::Overflow { .. })
        ));
    }

    #[test]
    fn add_checks_currency() {
        let a = Money::parse("1.10", CurrencyCode::EUR).expect("a");
        let b = Money::parse("2.20", CurrencyCode::EUR).expect("b");
        assert_eq!(a.checked_add(&b).expect("sum").amount(), dec("3.30"));
        let usd = Money::parse("1", CurrencyCode::parse("USD").expect("usd")).expect("usd");
        assert!(matches!(
            a.checked_add(&usd),
            Err(MoneyError::CurrencyMismatch { .. })
        ));
    }

    #[test]
    fn serde_uses_strings_only() {
        let m = Money::parse("19.95", CurrencyCode::EUR).expect("m");
        let json = serde_json::to_string(&m).expect("ser");
        assert_eq!(json, r#"{"amount":"19.95","currency":"EUR"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).expect("de"), m);
        assert!(serde_json::from_str::<Money>(r#"{"amount":19.95,"currency":"EUR"}"#).is_err());
        assert!(serde_json::from_str::<Money>(r#"{"amount":"1e3","currency":"EUR"}"#).is_err());
        assert!(serde_json::from_str::<Money>(r#"{"amount":"1","currency":"EURO"}"#).is_err());
        assert!(serde_json::from_str::<Money>(r#"{"amount":"1"}"#).is_err());
    }

    #[test]
    fn tax_rates() {
        assert_eq!(TaxRate::parse("21").expect("21").fraction(), dec("0.21"));
        assert!(TaxRate::parse("0").is_ok());
        assert!(TaxRate::parse("100").is_ok());
        assert_eq!(
            TaxRate::parse("100.01").map_err(|e| e.reason().clone()),
            Err(Reason::OutOfRange("0..=100 percent"))
        );
        assert!(TaxRate::parse("-1").is_err());
        assert!(TaxRate::parse("21%").is_err());
        assert!(
            serde_json::from_str::<TaxRate>("21").is_err(),
            "numbers refused"
        );
        let t: TaxRate = serde_json::from_str("\"9\"").expect("string");
        assert_eq!(serde_json::to_string(&t).expect("ser"), "\"9\"");
    }
}
