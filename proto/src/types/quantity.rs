//! Quantities of stock and order lines.

use super::{
    DECIMAL_PATTERN, ParseError, Reason, ValueKind, decimal_newtype, parse_decimal, string_schema,
};
use rust_decimal::Decimal;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use std::borrow::Cow;

/// A quantity (of stock): a decimal that may be zero or negative (a POS may sell
/// below zero physical stock). Serialized as a decimal string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Quantity(Decimal);

impl Quantity {
    /// Zero.
    pub const ZERO: Quantity = Quantity(Decimal::ZERO);

    /// Wraps a decimal (every decimal is a valid quantity).
    pub fn new(d: Decimal) -> Result<Self, ParseError> {
        Ok(Self(d))
    }

    /// From a whole number.
    pub fn from_i64(n: i64) -> Self {
        Self(Decimal::from(n))
    }

    /// Parses a decimal string (`"3"`, `"0.530"`, `"-2"`).
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        parse_decimal(ValueKind::Quantity, raw).map(Self)
    }

    /// The decimal value.
    pub fn value(&self) -> Decimal {
        self.0
    }

    /// Unscaled integer and number of decimal places, as MplusKASSA expects
    /// (`0.530` -> `(530, 3)`). `None` when the unscaled value exceeds 64 bits.
    pub fn to_scaled(&self) -> Option<(i64, u32)> {
        i64::try_from(self.0.mantissa())
            .ok()
            .map(|m| (m, self.0.scale()))
    }
}

decimal_newtype!(Quantity);

impl JsonSchema for Quantity {
    fn schema_name() -> Cow<'static, str> {
        "Quantity".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        string_schema(
            "Quantity as a decimal string, e.g. \"3\" or \"0.530\"",
            Some(DECIMAL_PATTERN),
            None,
            None,
            None,
        )
    }
}

/// A quantity greater than zero, for order lines. Zero and negative quantities are
/// refused (returns are not order lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PositiveQuantity(Decimal);

impl PositiveQuantity {
    /// A quantity from a decimal, refusing zero and negatives.
    pub fn new(d: Decimal) -> Result<Self, ParseError> {
        if d <= Decimal::ZERO {
            return Err(ParseError::new(
                ValueKind::PositiveQuantity,
                &d.to_string(),
                Reason::OutOfRange("greater than zero"),
            ));
        }
        Ok(Self(d))
    }

    /// Parses a decimal string greater than zero.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let d = parse_decimal(ValueKind::PositiveQuantity, raw)?;
        Self::new(d).map_err(|_| {
            ParseError::new(
                ValueKind::PositiveQuantity,
                raw,
                Reason::OutOfRange("greater than zero"),
            )
        })
    }

    /// The decimal value.
    pub fn value(&self) -> Decimal {
        self.0
    }

    /// As a plain [`Quantity`].
    pub fn as_quantity(&self) -> Quantity {
        Quantity(self.0)
    }
}

decimal_newtype!(PositiveQuantity);

impl JsonSchema for PositiveQuantity {
    fn schema_name() -> Cow<'static, str> {
        "PositiveQuantity".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        string_schema(
            "Quantity greater than zero as a decimal string",
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

    #[test]
    fn quantities() {
        assert_eq!(
            Quantity::parse("-2").expect("neg").value(),
            Decimal::from(-2)
        );
        assert_eq!(
            Quantity::parse("0.530").expect("q").to_scaled(),
            Some((530, 3))
        );
        assert_eq!(Quantity::from_i64(7).to_scaled(), Some((7, 0)));
        assert!(Quantity::parse("abc").is_err());
        assert!(
            serde_json::from_str::<Quantity>("3").is_err(),
            "numbers refused"
        );
        let q: Quantity = serde_json::from_str("\"3.50\"").expect("q");
        assert_eq!(serde_json::to_string(&q).expect("ser"), "\"3.50\"");
    }

    #[test]
    fn positive_quantities() {
        assert!(PositiveQuantity::parse("0.001").is_ok());
        assert_eq!(
            PositiveQuantity::parse("0").map_err(|e| e.reason().clone()),
            Err(Reason::OutOfRange("greater than zero"))
        );
        assert_eq!(
            PositiveQuantity::parse("-1").map_err(|e| e.reason().clone()),
            Err(Reason::OutOfRange("greater than zero"))
        );
        assert!(serde_json::from_str::<PositiveQuantity>("\"-3\"").is_err());
        assert_eq!(
            PositiveQuantity::parse("2").expect("2").as_quantity(),
            Quantity::from_i64(2)
        );
    }
}
