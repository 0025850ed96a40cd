//! Quantities on the wire are an unscaled `xsd:long` plus `decimalPlaces` (1.5 = 15 with 1
//! decimal place); here they become exact decimals.

use rust_decimal::Decimal;

use crate::WireError;

/// An exact quantity from an unscaled value and its decimal places (normalised: 0.530 = 0.53).
pub fn from_wire(value: i64, decimal_places: u32) -> Result<Decimal, WireError> {
    Decimal::try_from_i128_with_scale(i128::from(value), decimal_places)
        .map(|d| d.normalize())
        .map_err(|_| {
            WireError::Content(format!(
                "quantity {value} with {decimal_places} decimal places"
            ))
        })
}

/// A quantity as `(unscaled value, decimalPlaces)`, fewest places; `None` when the unscaled
/// value does not fit an `xsd:long`.
pub fn to_wire(q: Decimal) -> Option<(i64, u32)> {
    let q = q.normalize();
    let scale = q.scale();
    i64::try_from(q.mantissa()).ok().map(|m| (m, scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_exact() {
        assert_eq!(from_wire(530, 3).expect("q").to_string(), "0.53");
        assert_eq!(from_wire(2, 0).expect("q").to_string(), "2");
        assert!(from_wire(1, 29).is_err());
        assert_eq!(to_wire(Decimal::new(1500, 3)), Some((15, 1)));
        assert_eq!(to_wire(Decimal::from(3)), Some((3, 0)));
        assert_eq!(to_wire(Decimal::MAX), None);
    }
}
