//! ISO 4217 currency codes.

use super::{ParseError, Reason, ValueKind, string_newtype, string_schema};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use std::borrow::Cow;

/// ISO 4217 alpha-3 codes with their minor-unit exponent, sorted by code.
///
/// Active codes as of 2025, plus `ANG`, `SLL` and `ZWL`, which are kept while they are
/// still in circulation during their replacement. Funds and precious-metal codes
/// without minor units use exponent 0.
pub(crate) const CURRENCIES: [(&str, u32); 181] = [
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BOV", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHE", 2),
    ("CHF", 2),
    ("CHW", 2),
    ("CLF", 4),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("COU", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MXV", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SLL", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("USN", 2),
    ("UYI", 0),
    ("UYU", 2),
    ("UYW", 4),
    ("UZS", 2),
    ("VED", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XAG", 0),
    ("XAU", 0),
    ("XBA", 0),
    ("XBB", 0),
    ("XBC", 0),
    ("XBD", 0),
    ("XCD", 2),
    ("XCG", 2),
    ("XDR", 0),
    ("XOF", 0),
    ("XPD", 0),
    ("XPF", 0),
    ("XPT", 0),
    ("XSU", 0),
    ("XTS", 0),
    ("XUA", 0),
    ("XXX", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
    ("ZWL", 2),
];

/// An ISO 4217 alpha-3 currency code, stored upper-case (`"eur"` -> `EUR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CurrencyCode(&'static str, u32);

impl CurrencyCode {
    /// The euro, the currency of most MplusKASSA installations.
    pub const EUR: CurrencyCode = CurrencyCode("EUR", 2);

    /// Parses a currency code.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let err = |reason| ParseError::new(ValueKind::CurrencyCode, raw, reason);
        let s = raw.trim();
        if s.is_empty() {
            return Err(err(Reason::Empty));
        }
        let upper = s.to_ascii_uppercase();
        if upper.len() != 3 || !upper.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(err(Reason::Format("expected three letters (ISO 4217)")));
        }
        match CURRENCIES.binary_search_by(|(code, _)| (*code).cmp(upper.as_str())) {
            Ok(index) => Ok(Self(CURRENCIES[index].0, CURRENCIES[index].1)),
            Err(_) => Err(err(Reason::UnknownCode("ISO 4217"))),
        }
    }

    /// The upper-case code.
    pub fn as_str(&self) -> &str {
        self.0
    }

    /// Number of decimal places of the minor unit (EUR: 2 = cents, JPY: 0, KWD: 3).
    pub fn minor_unit_exponent(&self) -> u32 {
        self.1
    }

    /// Every known code.
    pub fn all() -> impl Iterator<Item = CurrencyCode> {
        CURRENCIES.iter().map(|(c, e)| Self(c, *e))
    }
}

string_newtype!(CurrencyCode);

impl JsonSchema for CurrencyCode {
    fn schema_name() -> Cow<'static, str> {
        "CurrencyCode".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let mut s = string_schema("ISO 4217 currency code, upper-case", None, None, None, None);
        s.insert(
            "enum".into(),
            CURRENCIES
                .iter()
                .map(|(c, _)| *c)
                .collect::<Vec<_>>()
                .into(),
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_sorted_and_unique() {
        assert!(CURRENCIES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(CURRENCIES.iter().all(|(c, e)| c.len() == 3 && *e <= 4));
    }

    #[test]
    fn parses_codes() {
        let eur = CurrencyCode::parse(" eur ").expect("valid");
        assert_eq!(eur, CurrencyCode::EUR);
        assert_eq!(eur.minor_unit_exponent(), 2);
        assert_eq!(
            CurrencyCode::parse("JPY")
                .expect("valid")
                .minor_unit_exponent(),
            0
        );
        assert_eq!(
            CurrencyCode::parse("KWD")
                .expect("valid")
                .minor_unit_exponent(),
            3
        );
        for bad in ["ABC", "HRK", "XYZ"] {
            assert_eq!(
                CurrencyCode::parse(bad).map_err(|e| e.reason().clone()),
                Err(Reason::UnknownCode("ISO 4217")),
                "{bad}"
            );
        }
        for bad in ["EU", "EURO", "€", "E1R", "ÉUR"] {
            assert!(
                matches!(
                    CurrencyCode::parse(bad).map_err(|e| e.reason().clone()),
                    Err(Reason::Format(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn serde() {
        let c: CurrencyCode = serde_json::from_str("\"usd\"").expect("valid");
        assert_eq!(serde_json::to_string(&c).expect("ser"), "\"USD\"");
        assert!(serde_json::from_str::<CurrencyCode>("\"US\"").is_err());
    }
}
