//! Parse-don't-validate value types.
//!
//! Every type here has a private field and is built only by `parse` (or a checked
//! constructor), so an invalid value cannot exist past the boundary. Each one
//! serializes as a JSON string and deserializes *through* `parse`, which means invalid
//! JSON cannot construct it either. Decimal quantities are strings on the wire as well,
//! so no value ever passes through a binary float.

mod country;
mod currency;
mod email;
mod error;
mod gtin;
mod ids;
mod money;
mod quantity;
mod sku;
mod text;

pub use country::CountryCode;
pub use currency::CurrencyCode;
pub use email::Email;
pub use error::{MAX_ERROR_VALUE_CHARS, ParseError, Reason, ValueKind, mask_email};
pub use gtin::Gtin;
pub use ids::{IntegrationId, MessageId};
pub use money::{Money, MoneyError, TaxRate};
pub use quantity::{PositiveQuantity, Quantity};
pub use sku::{NumericSku, Sku};
pub use text::{
    ExternalId, HouseNumber, HouseNumberSuffix, IdempotencyKey, LongText, Name, NonEmptyText,
    Phone, Postcode, VatNumber,
};

use rust_decimal::Decimal;
use schemars::Schema;
use std::str::FromStr;

/// Implements `Serialize` (as string), `Deserialize` (through `parse`), `Display`,
/// `AsRef<str>`, `FromStr` and `TryFrom<&str>/<String>` for a string newtype that has
/// `fn parse(&str) -> Result<Self, ParseError>` and `fn as_str(&self) -> &str`.
macro_rules! string_newtype {
    ($ty:ident $(<const $n:ident: usize>)?) => {
        impl $(<const $n: usize>)? ::serde::Serialize for $ty $(<$n>)? {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de $(, const $n: usize)?> ::serde::Deserialize<'de> for $ty $(<$n>)? {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = <String as ::serde::Deserialize>::deserialize(d)?;
                Self::parse(&raw).map_err(::serde::de::Error::custom)
            }
        }

        impl $(<const $n: usize>)? ::std::fmt::Display for $ty $(<$n>)? {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $(<const $n: usize>)? AsRef<str> for $ty $(<$n>)? {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl $(<const $n: usize>)? ::std::str::FromStr for $ty $(<$n>)? {
            type Err = $crate::types::ParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl $(<const $n: usize>)? TryFrom<&str> for $ty $(<$n>)? {
            type Error = $crate::types::ParseError;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                Self::parse(s)
            }
        }

        impl $(<const $n: usize>)? TryFrom<String> for $ty $(<$n>)? {
            type Error = $crate::types::ParseError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl $(<const $n: usize>)? From<$ty $(<$n>)?> for String {
            fn from(v: $ty $(<$n>)?) -> String {
                v.as_str().to_owned()
            }
        }
    };
}
pub(crate) use string_newtype;

/// Like [`string_newtype`] for decimal newtypes that have `parse` and `fn value(&self) -> Decimal`:
/// serialized as a decimal string (`"21.5"`), never a JSON number.
macro_rules! decimal_newtype {
    ($ty:ident) => {
        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.value())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = <String as ::serde::Deserialize>::deserialize(d)?;
                Self::parse(&raw).map_err(::serde::de::Error::custom)
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.value(), f)
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::types::ParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<::rust_decimal::Decimal> for $ty {
            type Error = $crate::types::ParseError;
            fn try_from(d: ::rust_decimal::Decimal) -> Result<Self, Self::Error> {
                Self::new(d)
            }
        }

        impl From<$ty> for ::rust_decimal::Decimal {
            fn from(v: $ty) -> ::rust_decimal::Decimal {
                v.value()
            }
        }
    };
}
pub(crate) use decimal_newtype;

/// Regular expression (JSON Schema `pattern`) of a decimal string as accepted on the wire.
pub(crate) const DECIMAL_PATTERN: &str = r"^-?[0-9]+(\.[0-9]+)?$";

/// A JSON Schema for a string with the given constraints.
pub(crate) fn string_schema(
    description: &str,
    pattern: Option<&str>,
    format: Option<&str>,
    min_length: Option<usize>,
    max_length: Option<usize>,
) -> Schema {
    let mut map = serde_json::Map::new();
    map.insert("type".into(), "string".into());
    map.insert("description".into(), description.into());
    if let Some(p) = pattern {
        map.insert("pattern".into(), p.into());
    }
    if let Some(f) = format {
        map.insert("format".into(), f.into());
    }
    if let Some(n) = min_length {
        map.insert("minLength".into(), n.into());
    }
    if let Some(n) = max_length {
        map.insert("maxLength".into(), n.into());
    }
    Schema::from(map)
}

/// Parses a plain decimal string (`-12.50`; no exponent, no `+`, no `_`, surrounding
/// whitespace trimmed) into a [`Decimal`].
pub(crate) fn parse_decimal(kind: ValueKind, raw: &str) -> Result<Decimal, ParseError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(ParseError::new(kind, raw, Reason::Empty));
    }
    if s.len() > 64 {
        return Err(ParseError::new(
            kind,
            raw,
            Reason::TooLong {
                max: 64,
                actual: s.len(),
            },
        ));
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || frac.is_some_and(|f| !all_digits(f)) {
        return Err(ParseError::new(
            kind,
            raw,
            Reason::Format("expected a plain decimal number such as 12 or -3.50"),
        ));
    }
    Decimal::from_str(s).map_err(|_| {
        ParseError::new(
            kind,
            raw,
            Reason::OutOfRange("of a 96-bit decimal with at most 28 decimal places"),
        )
    })
}

/// Refuses ASCII/Unicode control characters.
pub(crate) fn reject_control(kind: ValueKind, raw: &str, s: &str) -> Result<(), ParseError> {
    if s.chars().any(char::is_control) {
        return Err(ParseError::new(kind, raw, Reason::ControlCharacter));
    }
    Ok(())
}

/// Refuses empty strings and strings longer than `max` UTF-8 bytes.
pub(crate) fn check_len(kind: ValueKind, raw: &str, s: &str, max: usize) -> Result<(), ParseError> {
    if s.is_empty() {
        return Err(ParseError::new(kind, raw, Reason::Empty));
    }
    if s.len() > max {
        return Err(ParseError::new(
            kind,
            raw,
            Reason::TooLong {
                max,
                actual: s.len(),
            },
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_grammar_is_strict() {
        for ok in ["0", "12", "-3.50", " 7.1 ", "0.0001"] {
            assert!(parse_decimal(ValueKind::Quantity, ok).is_ok(), "{ok}");
        }
        for bad in [
            "", " ", "1e3", "+1", "1_000", "1.", ".5", "--1", "1,5", "NaN", "inf", "١٢",
        ] {
            assert!(parse_decimal(ValueKind::Quantity, bad).is_err(), "{bad}");
        }
        let too_big = "9".repeat(40);
        assert!(matches!(
            parse_decimal(ValueKind::Quantity, &too_big).map_err(|e| e.reason().clone()),
            Err(Reason::OutOfRange(_))
        ));
    }
}
