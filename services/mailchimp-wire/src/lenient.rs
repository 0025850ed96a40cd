//! Reading MailChimp's JSON as it comes: ids and amounts may be strings or numbers, blank
//! strings mean absent, and a field of an unexpected type reads as absent (the record's
//! conversion then names what is missing) instead of failing the whole record.
//!
//! Every function is a `deserialize_with` for a field marked `#[serde(default)]`.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

/// A trimmed string; `None` when absent, null, blank or not a string.
pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        _ => None,
    })
}

/// A string as sent (not trimmed); `None` when absent or not a string.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        _ => None,
    })
}

/// An id that may be a string (trimmed, not blank) or a number.
pub fn id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// An id as sent, string (even blank) or number.
pub fn raw_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// An HTTP status; `None` when absent or not one.
pub fn status<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    Ok(Value::deserialize(d)?
        .as_u64()
        .and_then(|n| u16::try_from(n).ok()))
}

/// A boolean; `None` when absent or not a boolean.
pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(Value::deserialize(d)?.as_bool())
}

/// An amount (string or number); `None` when absent, null or a blank string.
pub fn amount<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Amount>, D::Error> {
    Ok(Amount::read(&Value::deserialize(d)?))
}

/// A nested object; `None` when absent or not an object.
pub fn object<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(
    d: D,
) -> Result<Option<T>, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(v.is_object().then(|| read(&v)))
}

/// A field that is present: an object, or (anything else) an empty record, so that its
/// conversion names what the record lacks.
pub fn present<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Ok(Some(read(&Value::deserialize(d)?)))
}

/// An array of objects; an element that is not an object reads as an empty record, a field
/// that is not an array as no elements.
pub fn objects<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items.iter().map(read).collect(),
        _ => Vec::new(),
    })
}

/// The strings of an array (trimmed, blank ones and other values left out).
pub fn texts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    })
}

/// A record read leniently: every field of the wire types reads anything, so only a value
/// that is not an object gives the empty record.
pub fn read<T: DeserializeOwned + Default>(v: &Value) -> T {
    if v.is_object() {
        T::deserialize(v).unwrap_or_default()
    } else {
        T::default()
    }
}

/// A money amount or quantity: MailChimp sends numbers, and strings in newer versions.
/// Read as received (a value that is no decimal is kept with the reason, for the record's
/// conversion to report); written as a JSON number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Amount {
    /// A decimal.
    Value(Decimal),
    /// Not a decimal: why (`"x" is not a decimal number`).
    Invalid(String),
}

impl Amount {
    /// What `v` holds: `None` for null and blank strings.
    pub fn read(v: &Value) -> Option<Self> {
        Some(match v {
            Value::Number(n) => Decimal::from_str(&n.to_string())
                .or_else(|_| Decimal::from_scientific(&n.to_string()))
                .map_or_else(
                    |_| Self::Invalid(format!("{n} is not a decimal number")),
                    Self::Value,
                ),
            Value::String(s) if s.trim().is_empty() => return None,
            Value::String(s) => Decimal::from_str(s.trim()).map_or_else(
                |_| Self::Invalid(format!("{s:?} is not a decimal number")),
                Self::Value,
            ),
            Value::Null => return None,
            other => Self::Invalid(format!("{other} is not a number")),
        })
    }

    /// The decimal, or why not, naming `field`.
    pub fn decimal(&self, field: &str) -> Result<Decimal, String> {
        match self {
            Self::Value(d) => Ok(*d),
            Self::Invalid(why) => Err(format!("field `{field}`: {why}")),
        }
    }
}

impl From<Decimal> for Amount {
    fn from(d: Decimal) -> Self {
        Self::Value(d)
    }
}

impl From<i64> for Amount {
    fn from(n: i64) -> Self {
        Self::Value(Decimal::from(n))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Value(d) => write!(f, "{}", d.normalize()),
            Self::Invalid(why) => f.write_str(why),
        }
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            // The shortest decimal text, as a JSON number (what MailChimp documents).
            Self::Value(d) => serde_json::Number::from_str(&d.normalize().to_string())
                .map_err(serde::ser::Error::custom)?
                .serialize(s),
            Self::Invalid(why) => Err(serde::ser::Error::custom(why)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn amounts_read_strings_and_numbers_and_name_what_is_wrong() {
        assert_eq!(
            Amount::read(&json!(2.5)),
            Some(Amount::Value(Decimal::new(25, 1)))
        );
        assert_eq!(
            Amount::read(&json!(" 10.00 ")),
            Some(Amount::Value(Decimal::new(1000, 2)))
        );
        assert_eq!(Amount::read(&json!("  ")), None);
        assert_eq!(Amount::read(&Value::Null), None);
        assert_eq!(
            Amount::read(&json!("ten")).map(|a| a.decimal("price")),
            Some(Err("field `price`: \"ten\" is not a decimal number".into()))
        );
        assert_eq!(
            Amount::read(&json!([1])).map(|a| a.decimal("price")),
            Some(Err("field `price`: [1] is not a number".into()))
        );
    }

    #[test]
    fn amounts_are_written_as_the_shortest_number() {
        let a = Amount::from(Decimal::new(2500, 3));
        assert_eq!(serde_json::to_string(&a).expect("number"), "2.5");
        assert_eq!(
            serde_json::to_string(&Amount::from(7)).expect("number"),
            "7"
        );
        assert!(serde_json::to_string(&Amount::Invalid("x".into())).is_err());
    }
}
