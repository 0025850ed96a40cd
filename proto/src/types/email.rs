//! E-mail addresses: the key that decides whether a customer already exists.

use super::{ParseError, Reason, ValueKind, string_newtype, string_schema};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use std::borrow::Cow;

/// A syntactically valid e-mail address, trimmed and lower-cased.
///
/// Rules: at most 254 UTF-8 bytes, exactly one `@`, a non-empty local part of at most 64
/// bytes, a domain with at least one dot and no empty labels, no whitespace, no control
/// characters and none of `( ) < > , ; : \ " [ ]` (quoted local parts are not supported).
/// Non-ASCII (internationalised) addresses are accepted.
///
/// E-mail addresses are personal data: [`Email::masked`] gives a form fit for logs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Email(String);

impl Email {
    /// Longest accepted address, in UTF-8 bytes (RFC 5321 path limit).
    pub const MAX_LEN: usize = 254;
    /// Longest accepted local part, in UTF-8 bytes.
    pub const MAX_LOCAL_LEN: usize = 64;

    /// Parses and normalises (trim, lower-case) an e-mail address.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let err = |reason| ParseError::new(ValueKind::Email, raw, reason);
        let s = raw.trim().to_lowercase();
        if s.is_empty() {
            return Err(err(Reason::Empty));
        }
        if s.len() > Self::MAX_LEN {
            return Err(err(Reason::TooLong {
                max: Self::MAX_LEN,
                actual: s.len(),
            }));
        }
        if s.chars().any(char::is_control) {
            return Err(err(Reason::ControlCharacter));
        }
        if s.chars().any(char::is_whitespace) {
            return Err(err(Reason::Whitespace));
        }
        if let Some(c) = s.chars().find(|c| "()<>,;:\\\"[]".contains(*c)) {
            return Err(err(Reason::ForbiddenCharacter(c)));
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err(err(Reason::Format("it has no '@'")));
        };
        if domain.contains('@') {
            return Err(err(Reason::Format("it has more than one '@'")));
        }
        if local.is_empty() {
            return Err(err(Reason::Format("the part before '@' is empty")));
        }
        if local.len() > Self::MAX_LOCAL_LEN {
            return Err(err(Reason::Format(
                "the part before '@' is longer than 64 bytes",
            )));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(err(Reason::Format(
                "the part before '@' starts or ends with a dot or has two dots in a row",
            )));
        }
        if domain.is_empty() {
            return Err(err(Reason::Format("the domain after '@' is empty")));
        }
        if !domain.contains('.') {
            return Err(err(Reason::Format("the domain has no dot")));
        }
        if domain
            .split('.')
            .any(|label| label.is_empty() || label.starts_with('-') || label.ends_with('-'))
        {
            return Err(err(Reason::Format(
                "the domain has an empty label or a label starting or ending with '-'",
            )));
        }
        Ok(Self(s))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }

    /// A masked form for logs and error messages: `j***@example.com`.
    pub fn masked(&self) -> String {
        super::mask_email(&self.0)
    }
}

string_newtype!(Email);

impl JsonSchema for Email {
    fn schema_name() -> Cow<'static, str> {
        "Email".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        string_schema(
            "E-mail address, lower-case, at most 254 bytes",
            Some(r"^[^\s@]+@[^\s@]+\.[^\s@]+$"),
            Some("email"),
            Some(3),
            Some(Email::MAX_LEN),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(raw: &str) -> Reason {
        match Email::parse(raw) {
            Ok(e) => panic!("{raw:?} parsed as {e}"),
            Err(e) => e.reason().clone(),
        }
    }

    #[test]
    fn accepts_and_normalises() {
        let e = Email::parse("  John.Doe+shop@Example.COM \n").expect("valid");
        assert_eq!(e.as_str(), "john.doe+shop@example.com");
        assert_eq!(e.domain(), "example.com");
        assert_eq!(e.masked(), "j***@example.com");
        assert_eq!(
            Email::parse("ÜSER@bücher.de").expect("unicode").as_str(),
            "üser@bücher.de"
        );
        assert!(Email::parse("a@b.co").is_ok());
    }

    #[test]
    fn refuses_invalid_addresses() {
        assert_eq!(reason(""), Reason::Empty);
        assert_eq!(reason("   "), Reason::Empty);
        assert_eq!(reason("john doe@example.com"), Reason::Whitespace);
        assert_eq!(reason("john\u{0}@example.com"), Reason::ControlCharacter);
        assert_eq!(reason("john\u{7f}@example.com"), Reason::ControlCharacter);
        assert_eq!(
            reason("<john@example.com>"),
            Reason::ForbiddenCharacter('<')
        );
        assert!(matches!(reason("john.example.com"), Reason::Format(_)));
        assert!(matches!(reason("a@b@example.com"), Reason::Format(_)));
        assert!(matches!(reason("@example.com"), Reason::Format(_)));
        assert!(matches!(reason("john@"), Reason::Format(_)));
        assert!(matches!(reason("john@localhost"), Reason::Format(_)));
        assert!(matches!(reason("john@example..com"), Reason::Format(_)));
        assert!(matches!(reason("john@.example.com"), Reason::Format(_)));
        assert!(matches!(reason("john@example.com."), Reason::Format(_)));
        assert!(matches!(reason(".john@example.com"), Reason::Format(_)));
        assert!(matches!(reason("jo..hn@example.com"), Reason::Format(_)));
    }

    #[test]
    fn enforces_length_limits() {
        let domain = format!("{}.com", "d".repeat(60));
        let local = "l".repeat(64);
        let ok = format!("{local}@{}.{domain}.{domain}", "e".repeat(59));
        assert_eq!(ok.len(), 254, "test setup");
        assert!(Email::parse(&ok).is_ok());
        let too_long = format!("{local}@{}.{domain}.{domain}", "e".repeat(60));
        assert_eq!(
            reason(&too_long),
            Reason::TooLong {
                max: 254,
                actual: 255
            }
        );
        let long_local = format!("{}@example.com", "l".repeat(65));
        assert!(matches!(reason(&long_local), Reason::Format(_)));
    }

    #[test]
    fn serde_goes_through_parse() {
        let e: Email = serde_json::from_str("\"A@B.NL\"").expect("valid");
        assert_eq!(e.as_str(), "a@b.nl");
        assert_eq!(serde_json::to_string(&e).expect("ser"), "\"a@b.nl\"");
        let err = serde_json::from_str::<Email>("\"private.person@example\"")
            .expect_err("no dot in domain");
        let msg = err.to_string();
        assert!(!msg.contains("private.person"), "{msg}");
        assert!(serde_json::from_str::<Email>("42").is_err());
    }
}
