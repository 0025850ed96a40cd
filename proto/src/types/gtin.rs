//! Global trade item numbers (EAN/UPC barcodes).

use super::{ParseError, Reason, ValueKind, string_newtype, string_schema};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use std::borrow::Cow;

/// A GTIN: EAN-8, UPC-A (12), EAN-13 or GTIN-14 digits with a valid check digit.
/// Stored as given (leading zeros kept); [`Gtin::to_gtin14`] gives the padded form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Gtin(String);

impl Gtin {
    /// Parses a GTIN; surrounding whitespace is trimmed.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let err = |reason| ParseError::new(ValueKind::Gtin, raw, reason);
        let s = raw.trim();
        if s.is_empty() {
            return Err(err(Reason::Empty));
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(Reason::NotDigitsOnly));
        }
        if ![8, 12, 13, 14].contains(&s.len()) {
            return Err(err(Reason::Format(
                "expected 8, 12, 13 or 14 digits (EAN-8, UPC-A, EAN-13, GTIN-14)",
            )));
        }
        let digits: Vec<u8> = s.bytes().map(|b| b - b'0').collect();
        let (body, check) = digits.split_at(digits.len() - 1);
        let expected = check_digit(body);
        if check.first() != Some(&expected) {
            return Err(err(Reason::CheckDigit { expected }));
        }
        Ok(Self(s.to_owned()))
    }

    /// The digits as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The GTIN left-padded with zeros to 14 digits.
    pub fn to_gtin14(&self) -> String {
        format!("{:0>14}", self.0)
    }
}

/// GS1 check digit of `body` (all digits but the last): weights 3,1,3,... from the right.
fn check_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(*d) * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    // `(10 - sum % 10) % 10` is always below 10.
    ((10 - sum % 10) % 10) as u8
}

string_newtype!(Gtin);

impl JsonSchema for Gtin {
    fn schema_name() -> Cow<'static, str> {
        "Gtin".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        string_schema(
            "GTIN (EAN-8, UPC-A, EAN-13 or GTIN-14) with a valid check digit",
            Some("^([0-9]{8}|[0-9]{12,14})$"),
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
    fn accepts_valid_codes() {
        for ok in [
            "96385074",
            "036000291452",
            "4006381333931",
            "10012345678902",
            " 4006381333931 ",
        ] {
            assert!(Gtin::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            Gtin::parse("96385074").expect("ean8").to_gtin14(),
            "00000096385074"
        );
    }

    #[test]
    fn refuses_invalid_codes() {
        assert_eq!(
            Gtin::parse("4006381333932").map_err(|e| e.reason().clone()),
            Err(Reason::CheckDigit { expected: 1 })
        );
        assert_eq!(
            Gtin::parse("40063813339a1").map_err(|e| e.reason().clone()),
            Err(Reason::NotDigitsOnly)
        );
        assert_eq!(
            Gtin::parse("").map_err(|e| e.reason().clone()),
            Err(Reason::Empty)
        );
        for bad in ["1234567", "123456789", "123456789012345"] {
            assert!(
                matches!(
                    Gtin::parse(bad).map_err(|e| e.reason().clone()),
                    Err(Reason::Format(_))
                ),
                "{bad}"
            );
        }
        assert!(Gtin::parse("4006381 333931").is_err());
        assert!(Gtin::parse("٤٠٠٦٣٨١٣٣٣٩٣١").is_err());
    }
}
