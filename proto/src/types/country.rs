//! ISO 3166-1 alpha-2 country codes.

use super::{ParseError, Reason, ValueKind, string_newtype, string_schema};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use std::borrow::Cow;

/// All 249 officially assigned ISO 3166-1 alpha-2 codes, sorted. Reserved and
/// user-assigned codes (such as `UK`, `EU` or `XK`) are not included.
pub(crate) const ASSIGNED: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// An officially assigned ISO 3166-1 alpha-2 country code, stored upper-case.
///
/// Lower-case input is accepted (`"nl"` -> `NL`); surrounding whitespace is trimmed.
/// Names (`"Netherlands"`) and alpha-3 codes are not accepted here: map them first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CountryCode(&'static str);

impl CountryCode {
    /// Parses a country code.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let err = |reason| ParseError::new(ValueKind::CountryCode, raw, reason);
        let s = raw.trim();
        if s.is_empty() {
            return Err(err(Reason::Empty));
        }
        let upper = s.to_ascii_uppercase();
        if upper.len() != 2 || !upper.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(err(Reason::Format(
                "expected two letters (ISO 3166-1 alpha-2)",
            )));
        }
        match ASSIGNED.binary_search(&upper.as_str()) {
            Ok(index) => Ok(Self(ASSIGNED[index])),
            Err(_) => Err(err(Reason::UnknownCode("ISO 3166-1 alpha-2"))),
        }
    }

    /// The upper-case code.
    pub fn as_str(&self) -> &str {
        self.0
    }

    /// Every assigned code.
    pub fn all() -> impl Iterator<Item = CountryCode> {
        ASSIGNED.iter().map(|c| Self(c))
    }
}

string_newtype!(CountryCode);

impl JsonSchema for CountryCode {
    fn schema_name() -> Cow<'static, str> {
        "CountryCode".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let mut s = string_schema(
            "ISO 3166-1 alpha-2 country code, upper-case",
            None,
            None,
            None,
            None,
        );
        s.insert("enum".into(), ASSIGNED.to_vec().into());
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_sorted_unique_and_complete() {
        assert!(ASSIGNED.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(CountryCode::all().count(), 249);
    }

    #[test]
    fn parses_codes() {
        assert_eq!(CountryCode::parse("nl").expect("valid").as_str(), "NL");
        assert_eq!(CountryCode::parse(" Be ").expect("valid").as_str(), "BE");
        assert_eq!(
            CountryCode::parse("SS").expect("South Sudan").as_str(),
            "SS"
        );
        for bad in ["UK", "EU", "XK", "ZZ", "AN"] {
            assert_eq!(
                CountryCode::parse(bad).map_err(|e| e.reason().clone()),
                Err(Reason::UnknownCode("ISO 3166-1 alpha-2")),
                "{bad}"
            );
        }
        for bad in ["N", "NLD", "N1", "ÑL", "N\u{0}", "Netherlands"] {
            assert!(
                matches!(
                    CountryCode::parse(bad).map_err(|e| e.reason().clone()),
                    Err(Reason::Format(_))
                ),
                "{bad}"
            );
        }
        assert_eq!(
            CountryCode::parse("").map_err(|e| e.reason().clone()),
            Err(Reason::Empty)
        );
    }

    #[test]
    fn serde() {
        let c: CountryCode = serde_json::from_str("\"de\"").expect("valid");
        assert_eq!(serde_json::to_string(&c).expect("ser"), "\"DE\"");
        assert!(serde_json::from_str::<CountryCode>("\"XX\"").is_err());
    }
}
