//! Stock keeping units: the key products are matched on.

use super::{ParseError, Reason, ValueKind, string_newtype, string_schema};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use std::borrow::Cow;

/// A stock keeping unit: trimmed, 1 to 64 characters, no whitespace or control
/// characters inside. Case is preserved (SKUs are compared exactly).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sku(String);

impl Sku {
    /// Longest accepted SKU, in characters.
    pub const MAX_CHARS: usize = 64;

    /// Parses a SKU.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let err = |reason| ParseError::new(ValueKind::Sku, raw, reason);
        let s = raw.trim();
        if s.is_empty() {
            return Err(err(Reason::Empty));
        }
        let chars = s.chars().count();
        if chars > Self::MAX_CHARS {
            return Err(err(Reason::TooLong {
                max: Self::MAX_CHARS,
                actual: chars,
            }));
        }
        if s.chars().any(char::is_control) {
            return Err(err(Reason::ControlCharacter));
        }
        if s.chars().any(char::is_whitespace) {
            return Err(err(Reason::Whitespace));
        }
        Ok(Self(s.to_owned()))
    }

    /// The SKU text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when the SKU consists of the ASCII digits 0-9 only (what MailChimp accepts).
    pub fn is_digits_only(&self) -> bool {
        self.0.bytes().all(|b| b.is_ascii_digit())
    }
}

string_newtype!(Sku);

impl JsonSchema for Sku {
    fn schema_name() -> Cow<'static, str> {
        "Sku".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        string_schema(
            "Stock keeping unit: 1-64 characters, no whitespace or control characters",
            Some(r"^[^\s\p{Cc}]{1,64}$"),
            None,
            Some(1),
            Some(Sku::MAX_CHARS),
        )
    }
}

/// A SKU made of digits only, as MailChimp requires. Leading zeros are kept.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NumericSku(Sku);

impl NumericSku {
    /// Parses a numeric SKU from text.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let sku = Sku::parse(raw)?;
        Self::from_sku(&sku)
    }

    /// Checks that `sku` is digits only. The error names the SKU and says that
    /// MailChimp SKUs may contain digits only; the SKU is never altered silently.
    pub fn from_sku(sku: &Sku) -> Result<Self, ParseError> {
        if sku.is_digits_only() {
            Ok(Self(sku.clone()))
        } else {
            Err(ParseError::new(
                ValueKind::NumericSku,
                sku.as_str(),
                Reason::Format("MailChimp SKUs may contain digits (0-9) only"),
            ))
        }
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The underlying [`Sku`].
    pub fn as_sku(&self) -> &Sku {
        &self.0
    }
}

impl TryFrom<Sku> for NumericSku {
    type Error = ParseError;
    fn try_from(sku: Sku) -> Result<Self, ParseError> {
        Self::from_sku(&sku)
    }
}

impl From<NumericSku> for Sku {
    fn from(n: NumericSku) -> Sku {
        n.0
    }
}

string_newtype!(NumericSku);

impl JsonSchema for NumericSku {
    fn schema_name() -> Cow<'static, str> {
        "NumericSku".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        string_schema(
            "SKU of digits only (MailChimp)",
            Some("^[0-9]{1,64}$"),
            None,
            Some(1),
            Some(Sku::MAX_CHARS),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_skus() {
        assert_eq!(Sku::parse("  AB-12/x ").expect("valid").as_str(), "AB-12/x");
        assert_eq!(Sku::parse("ÄÖ-ü").expect("unicode").as_str(), "ÄÖ-ü");
        assert!(Sku::parse(&"9".repeat(64)).is_ok());
        assert_eq!(
            Sku::parse(&"é".repeat(65)).map_err(|e| e.reason().clone()),
            Err(Reason::TooLong {
                max: 64,
                actual: 65
            })
        );
        assert_eq!(
            Sku::parse("").map_err(|e| e.reason().clone()),
            Err(Reason::Empty)
        );
        assert_eq!(
            Sku::parse("AB 12").map_err(|e| e.reason().clone()),
            Err(Reason::Whitespace)
        );
        assert_eq!(
            Sku::parse("AB\u{a0}12").map_err(|e| e.reason().clone()),
            Err(Reason::Whitespace)
        );
        assert_eq!(
            Sku::parse("AB\t12").map_err(|e| e.reason().clone()),
            Err(Reason::ControlCharacter)
        );
    }

    #[test]
    fn digits_only() {
        assert!(Sku::parse("000123").expect("valid").is_digits_only());
        assert!(!Sku::parse("12a").expect("valid").is_digits_only());
        assert!(!Sku::parse("١٢").expect("valid").is_digits_only());
    }

    #[test]
    fn numeric_sku_error_names_the_sku_and_rule() {
        let sku = Sku::parse("SHIRT-XL").expect("valid");
        let err = NumericSku::from_sku(&sku).expect_err("not numeric");
        let msg = err.to_string();
        assert!(msg.contains("SHIRT-XL"), "{msg}");
        assert!(msg.contains("digits"), "{msg}");
        assert_eq!(
            NumericSku::parse("007").expect("numeric").as_str(),
            "007",
            "leading zeros kept"
        );
    }

    #[test]
    fn serde_round_trip() {
        let sku: Sku = serde_json::from_str("\" X1 \"").expect("valid");
        assert_eq!(serde_json::to_string(&sku).expect("ser"), "\"X1\"");
        assert!(serde_json::from_str::<Sku>("\"\"").is_err());
        assert!(serde_json::from_str::<NumericSku>("\"12a\"").is_err());
        let n: NumericSku = serde_json::from_str("\"12\"").expect("valid");
        assert_eq!(Sku::from(n).as_str(), "12");
    }
}
