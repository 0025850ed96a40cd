//! Postal addresses.

use crate::types::{
    CountryCode, HouseNumber, HouseNumberSuffix, Name, ParseError, Postcode, Reason, ValueKind,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A postal address. House number and suffix are separate fields because MplusKASSA
/// and Dutch addressing keep them apart; [`split_street_line`] splits a combined line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Address {
    /// Street name without the house number.
    pub street: Name,
    /// House number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub house_number: Option<HouseNumber>,
    /// House number suffix (`a`, `bis`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub house_number_suffix: Option<HouseNumberSuffix>,
    /// Postal code.
    pub postcode: Postcode,
    /// City.
    pub city: Name,
    /// Region, state or province.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Name>,
    /// Country.
    pub country: CountryCode,
}

impl Address {
    /// The street line (`Dorpsstraat 12a`, `Veldstraat 102-3`, `Rue de la Paix 5 bis`): the
    /// number after the street, a suffix starting with a digit after a `-` (so `102`, `3`
    /// never reads as `1023`), a one-letter suffix right after the number, a longer one after
    /// a space. [`split_street_line`] splits it back into the same parts.
    pub fn street_line(&self) -> String {
        let mut line = self.street.to_string();
        if let Some(n) = &self.house_number {
            line.push(' ');
            line.push_str(n.as_str());
            if let Some(s) = &self.house_number_suffix {
                let s = s.as_str();
                if s.starts_with(|c: char| c.is_ascii_digit()) {
                    line.push('-');
                } else if s.chars().count() > 1 {
                    line.push(' ');
                }
                line.push_str(s);
            }
        }
        line
    }
}

/// A street line split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreetParts {
    /// The street name.
    pub street: Name,
    /// The house number, when the line has one.
    pub house_number: Option<HouseNumber>,
    /// The suffix after the number, when there is one.
    pub house_number_suffix: Option<HouseNumberSuffix>,
}

/// Splits a street line such as `"Dorpsstraat 12a"` into street `Dorpsstraat`, number
/// `12` and suffix `a`.
///
/// The house number is the last word (after the first) that starts with a digit; its
/// leading digits are the number, the rest of that word plus any following words the
/// suffix (a leading `-` or `/` is dropped: `12-3` -> `12`, `3`). Streets starting with
/// a number (`1e Helmersstraat 5`) keep it. A line without such a word is all street.
pub fn split_street_line(line: &str) -> Result<StreetParts, ParseError> {
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.is_empty() {
        return Err(ParseError::new(ValueKind::StreetLine, line, Reason::Empty));
    }
    let number_at = words
        .iter()
        .enumerate()
        .skip(1)
        .rev()
        .find(|(_, w)| w.starts_with(|c: char| c.is_ascii_digit()))
        .map(|(i, _)| i);
    let Some(i) = number_at else {
        return Ok(StreetParts {
            street: Name::parse(&words.join(" "))?,
            house_number: None,
            house_number_suffix: None,
        });
    };
    let word = words[i];
    let digits_end = word
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(word.len());
    let (number, rest) = word.split_at(digits_end);
    let mut suffix_words: Vec<&str> = Vec::new();
    let rest = rest.trim_start_matches(['-', '/']);
    if !rest.is_empty() {
        suffix_words.push(rest);
    }
    suffix_words.extend(&words[i + 1..]);
    let suffix = suffix_words.join(" ");
    Ok(StreetParts {
        street: Name::parse(&words[..i].join(" "))?,
        house_number: Some(HouseNumber::parse(number)?),
        house_number_suffix: if suffix.is_empty() {
            None
        } else {
            Some(HouseNumberSuffix::parse(&suffix)?)
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> (String, Option<String>, Option<String>) {
        let p = split_street_line(line).expect("splits");
        (
            p.street.to_string(),
            p.house_number.map(|n| n.to_string()),
            p.house_number_suffix.map(|s| s.to_string()),
        )
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn street_lines_keep_number_and_suffix_apart_and_split_back() {
        for (line, expected) in [
            ("Dorpsstraat 12a", "Dorpsstraat 12a"),
            ("Dorpsstraat 12", "Dorpsstraat 12"),
            ("Veldstraat 102-3", "Veldstraat 102-3"),
            ("Veldstraat 102/3", "Veldstraat 102-3"),
            ("Rue de la Paix 5 bis", "Rue de la Paix 5 bis"),
            ("Dorpsstraat 12 A", "Dorpsstraat 12A"),
            ("Dorpsstraat", "Dorpsstraat"),
        ] {
            let parts = split_street_line(line).expect("splits");
            let address = Address {
                street: parts.street.clone(),
                house_number: parts.house_number.clone(),
                house_number_suffix: parts.house_number_suffix.clone(),
                postcode: Postcode::parse("1234 AB").expect("postcode"),
                city: Name::parse("Ons Dorp").expect("city"),
                region: None,
                country: CountryCode::parse("NL").expect("country"),
            };
            assert_eq!(address.street_line(), expected, "{line}");
            let again = split_street_line(&address.street_line()).expect("splits again");
            assert_eq!(again, parts, "{line}");
        }
    }

    #[test]
    fn splits_street_lines() {
        assert_eq!(
            split("Dorpsstraat 12a"),
            ("Dorpsstraat".into(), some("12"), some("a"))
        );
        assert_eq!(
            split("Dorpsstraat 12"),
            ("Dorpsstraat".into(), some("12"), None)
        );
        assert_eq!(
            split("Dorpsstraat 12 A"),
            ("Dorpsstraat".into(), some("12"), some("A"))
        );
        assert_eq!(
            split("Dorpsstraat 12-3"),
            ("Dorpsstraat".into(), some("12"), some("3"))
        );
        assert_eq!(
            split("Rue de la Paix 5 bis"),
            ("Rue de la Paix".into(), some("5"), some("bis"))
        );
        assert_eq!(
            split("1e Helmersstraat 5"),
            ("1e Helmersstraat".into(), some("5"), None)
        );
        assert_eq!(
            split("Laan 1940-1945 12"),
            ("Laan 1940-1945".into(), some("12"), None)
        );
        assert_eq!(
            split("  Königstraße   7 "),
            ("Königstraße".into(), some("7"), None)
        );
        assert_eq!(split("Main Street"), ("Main Street".into(), None, None));
        assert_eq!(split("12"), ("12".into(), None, None));
    }

    #[test]
    fn refuses_empty_lines() {
        assert!(split_street_line("   ").is_err());
        assert!(
            split_street_line("Straat 1 abcdefghijklmnopq").is_err(),
            "suffix too long"
        );
    }

    #[test]
    fn address_serde() {
        let json = r#"{"street":"Dorpsstraat","house_number":"12","postcode":"1234 AB","city":"Ons Dorp","country":"nl"}"#;
        let a: Address = serde_json::from_str(json).expect("valid");
        assert_eq!(a.country.as_str(), "NL");
        let back: Address =
            serde_json::from_str(&serde_json::to_string(&a).expect("ser")).expect("de");
        assert_eq!(back, a);
        assert!(serde_json::from_str::<Address>(&json.replace("\"nl\"", "\"xx\"")).is_err());
        assert!(serde_json::from_str::<Address>(&json.replace("\"Dorpsstraat\"", "\"\"")).is_err());
    }
}
