//! Bounded text and identifier newtypes.

use super::{
    ParseError, Reason, ValueKind, check_len, reject_control, string_newtype, string_schema,
};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use std::borrow::Cow;

/// Trimmed, non-empty text of at most `MAX` UTF-8 bytes. Line breaks and tabs are
/// allowed; other control characters are not.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NonEmptyText<const MAX: usize>(String);

/// A name, title, city or street: at most 255 bytes.
pub type Name = NonEmptyText<255>;
/// A long (HTML) description or note: at most 64 KiB.
pub type LongText = NonEmptyText<65_536>;
/// A house number suffix (`a`, `bis`, `-3`): at most 16 bytes.
pub type HouseNumberSuffix = NonEmptyText<16>;

impl<const MAX: usize> NonEmptyText<MAX> {
    /// Parses text, trimming surrounding whitespace.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim();
        check_len(ValueKind::Text, raw, s, MAX)?;
        if s.chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(ParseError::new(
                ValueKind::Text,
                raw,
                Reason::ControlCharacter,
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_newtype!(NonEmptyText<const MAX: usize>);

impl<const MAX: usize> JsonSchema for NonEmptyText<MAX> {
    fn schema_name() -> Cow<'static, str> {
        format!("NonEmptyText{MAX}").into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        string_schema(
            &format!("Non-empty text, trimmed, at most {MAX} UTF-8 bytes"),
            Some(r"^\S(.|\n|\r|\t)*$"),
            None,
            Some(1),
            Some(MAX),
        )
    }
}

/// Declares a single-line string newtype with a byte limit and an extra check.
macro_rules! line_newtype {
    (
        $(#[$doc:meta])* $ty:ident, $kind:expr, $max:expr, $desc:literal, $pattern:expr,
        |$s:ident, $raw:ident| $extra:block
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $ty(String);

        impl $ty {
            /// Longest accepted value, in UTF-8 bytes.
            pub const MAX_LEN: usize = $max;

            /// Parses the value, trimming surrounding whitespace.
            pub fn parse(raw: &str) -> Result<Self, ParseError> {
                let $raw = raw;
                let $s = raw.trim();
                check_len($kind, raw, $s, $max)?;
                reject_control($kind, raw, $s)?;
                let $s: String = $extra;
                Ok(Self($s))
            }

            /// The value.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        string_newtype!($ty);

        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                stringify!($ty).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                string_schema($desc, $pattern, None, Some(1), Some($max))
            }
        }
    };
}

line_newtype!(
    /// An id of a record in another system (order number, customer id, category key):
    /// trimmed, 1 to 128 bytes, no control characters.
    ExternalId, ValueKind::ExternalId, 128, "Id in an external system, 1-128 bytes", None,
    |s, _raw| { s.to_owned() }
);

line_newtype!(
    /// A key that makes a command idempotent at the target (e.g. MplusKASSA
    /// `createOrderV3.idempotencyKey`): 1 to 255 bytes, no control characters.
    IdempotencyKey, ValueKind::IdempotencyKey, 255, "Idempotency key, 1-255 bytes", None,
    |s, _raw| { s.to_owned() }
);

impl IdempotencyKey {
    /// `ferry:<integration id>:<external id>`: valid by construction (a UUID plus an
    /// [`ExternalId`] of at most 128 bytes without control characters).
    pub(crate) fn for_order(integration: super::IntegrationId, external_id: &ExternalId) -> Self {
        Self(format!("ferry:{integration}:{external_id}"))
    }
}

line_newtype!(
    /// A house number (`12`, `12-14`): 1 to 16 bytes, starts with a digit.
    HouseNumber, ValueKind::HouseNumber, 16, "House number starting with a digit", Some("^[0-9]"),
    |s, raw| {
        if !s.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(ParseError::new(ValueKind::HouseNumber, raw, Reason::Format("a house number starts with a digit")));
        }
        s.to_owned()
    }
);

line_newtype!(
    /// A postal code (`1234 AB`, `SW1A 1AA`, `10115`): 1 to 16 bytes of letters, digits,
    /// spaces and hyphens. Case is preserved.
    Postcode, ValueKind::Postcode, 16, "Postal code", Some(r"^[\p{L}\p{N}][\p{L}\p{N} -]*$"),
    |s, raw| {
        if let Some(c) = s.chars().find(|c| !(c.is_alphanumeric() || *c == ' ' || *c == '-')) {
            return Err(ParseError::new(ValueKind::Postcode, raw, Reason::ForbiddenCharacter(c)));
        }
        s.to_owned()
    }
);

line_newtype!(
    /// A phone number as entered (`+31 6 1234 5678`): 1 to 32 bytes of digits, spaces and
    /// `+ - ( ) . /`, with at least one digit. Not normalised.
    Phone, ValueKind::Phone, 32, "Phone number", Some(r"^[0-9+()./ -]*[0-9][0-9+()./ -]*$"),
    |s, raw| {
        if let Some(c) = s.chars().find(|c| !(c.is_ascii_digit() || " +-()./".contains(*c))) {
            return Err(ParseError::new(ValueKind::Phone, raw, Reason::ForbiddenCharacter(c)));
        }
        if !s.chars().any(|c| c.is_ascii_digit()) {
            return Err(ParseError::new(ValueKind::Phone, raw, Reason::Format("a phone number contains digits")));
        }
        s.to_owned()
    }
);

line_newtype!(
    /// A VAT number, normalised to upper case without spaces or dots
    /// (`nl 8512.34.567 B01` -> `NL851234567B01`): 4 to 20 ASCII letters and digits.
    VatNumber, ValueKind::VatNumber, 32, "VAT number, upper-case letters and digits", Some("^[A-Z0-9]{4,20}$"),
    |s, raw| {
        let norm: String = s
            .chars()
            .filter(|c| !matches!(c, ' ' | '.' | '-'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if let Some(c) = norm.chars().find(|c| !c.is_ascii_alphanumeric()) {
            return Err(ParseError::new(ValueKind::VatNumber, raw, Reason::ForbiddenCharacter(c)));
        }
        if !(4..=20).contains(&norm.len()) {
            return Err(ParseError::new(ValueKind::VatNumber, raw, Reason::Format("a VAT number has 4 to 20 letters and digits")));
        }
        norm
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    fn reason<T: std::fmt::Debug>(r: Result<T, ParseError>) -> Reason {
        match r {
            Ok(v) => panic!("unexpectedly parsed: {v:?}"),
            Err(e) => e.reason().clone(),
        }
    }

    #[test]
    fn non_empty_text() {
        assert_eq!(Name::parse("  Jan  ").expect("name").as_str(), "Jan");
        assert_eq!(
            LongText::parse("line 1\n\tline 2")
                .expect("multi-line")
                .as_str(),
            "line 1\n\tline 2"
        );
        assert_eq!(reason(Name::parse(" \n ")), Reason::Empty);
        assert_eq!(reason(Name::parse("a\u{0}b")), Reason::ControlCharacter);
        assert_eq!(reason(Name::parse("a\u{1b}[31m")), Reason::ControlCharacter);
        assert!(Name::parse(&"ü".repeat(127)).is_ok(), "254 bytes");
        assert_eq!(
            reason(Name::parse(&"ü".repeat(128))),
            Reason::TooLong {
                max: 255,
                actual: 256
            }
        );
        assert!(LongText::parse(&"x".repeat(65_536)).is_ok());
        assert!(LongText::parse(&"x".repeat(65_537)).is_err());
        assert_eq!(Name::parse("Zoë 🚲").expect("emoji").as_str(), "Zoë 🚲");
    }

    #[test]
    fn external_ids_and_keys() {
        assert_eq!(ExternalId::parse(" ORD-1 ").expect("id").as_str(), "ORD-1");
        assert_eq!(reason(ExternalId::parse("")), Reason::Empty);
        assert_eq!(reason(ExternalId::parse("a\nb")), Reason::ControlCharacter);
        assert!(ExternalId::parse(&"x".repeat(128)).is_ok());
        assert!(matches!(
            reason(ExternalId::parse(&"x".repeat(129))),
            Reason::TooLong { max: 128, .. }
        ));
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
    }

    #[test]
    fn house_numbers_postcodes_phones() {
        assert!(HouseNumber::parse("12").is_ok());
        assert!(HouseNumber::parse("12-14").is_ok());
        assert!(matches!(
            reason(HouseNumber::parse("a12")),
            Reason::Format(_)
        ));
        assert!(HouseNumberSuffix::parse("bis").is_ok());
        assert!(HouseNumberSuffix::parse(&"a".repeat(17)).is_err());

        assert!(Postcode::parse("1234 AB").is_ok());
        assert!(Postcode::parse("SW1A 1AA").is_ok());
        assert_eq!(
            reason(Postcode::parse("1234;AB")),
            Reason::ForbiddenCharacter(';')
        );

        assert!(Phone::parse("+31 (0)6-1234.5678").is_ok());
        assert_eq!(
            reason(Phone::parse("call me")),
            Reason::ForbiddenCharacter('c')
        );
        assert!(matches!(reason(Phone::parse("+-")), Reason::Format(_)));
    }

    #[test]
    fn vat_numbers_are_normalised() {
        assert_eq!(
            VatNumber::parse("nl 8512.34.567 B01")
                .expect("vat")
                .as_str(),
            "NL851234567B01"
        );
        assert_eq!(
            reason(VatNumber::parse("NL85/1234")),
            Reason::ForbiddenCharacter('/')
        );
        assert!(matches!(reason(VatNumber::parse("N1")), Reason::Format(_)));
        let v: VatNumber = serde_json::from_str("\"be 0123.456.789\"").expect("de");
        assert_eq!(serde_json::to_string(&v).expect("ser"), "\"BE0123456789\"");
    }
}
