//! The one error type every value parser returns.

use std::fmt;

/// Longest excerpt of an offending value kept in a [`ParseError`] (in characters).
pub const MAX_ERROR_VALUE_CHARS: usize = 64;

/// Which kind of value failed to parse; printed in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValueKind {
    /// [`crate::Email`].
    Email,
    /// [`crate::Sku`].
    Sku,
    /// [`crate::NumericSku`].
    NumericSku,
    /// [`crate::CountryCode`].
    CountryCode,
    /// [`crate::CurrencyCode`].
    CurrencyCode,
    /// A decimal amount of [`crate::Money`].
    MoneyAmount,
    /// [`crate::TaxRate`].
    TaxRate,
    /// [`crate::Quantity`].
    Quantity,
    /// [`crate::PositiveQuantity`].
    PositiveQuantity,
    /// [`crate::Gtin`].
    Gtin,
    /// [`crate::ExternalId`].
    ExternalId,
    /// [`crate::IdempotencyKey`].
    IdempotencyKey,
    /// [`crate::HouseNumber`].
    HouseNumber,
    /// [`crate::Postcode`].
    Postcode,
    /// [`crate::Phone`].
    Phone,
    /// [`crate::VatNumber`].
    VatNumber,
    /// [`crate::NonEmptyText`] and its aliases.
    Text,
    /// A street line given to [`crate::model::split_street_line`].
    StreetLine,
    /// [`crate::routing::MessageType`].
    MessageType,
    /// [`crate::routing::RoutingKey`].
    RoutingKey,
    /// [`crate::trace::TraceParent`].
    TraceParent,
    /// [`crate::trace::TraceState`].
    TraceState,
    /// [`crate::MessageId`] / [`crate::IntegrationId`].
    Id,
}

impl ValueKind {
    /// Human readable name of the kind.
    pub fn name(self) -> &'static str {
        match self {
            Self::Email => "e-mail address",
            Self::Sku => "SKU",
            Self::NumericSku => "numeric SKU",
            Self::CountryCode => "country code",
            Self::CurrencyCode => "currency code",
            Self::MoneyAmount => "money amount",
            Self::TaxRate => "tax rate",
            Self::Quantity => "quantity",
            Self::PositiveQuantity => "positive quantity",
            Self::Gtin => "GTIN/EAN",
            Self::ExternalId => "external id",
            Self::IdempotencyKey => "idempotency key",
            Self::HouseNumber => "house number",
            Self::Postcode => "postcode",
            Self::Phone => "phone number",
            Self::VatNumber => "VAT number",
            Self::Text => "text",
            Self::StreetLine => "street line",
            Self::MessageType => "message type",
            Self::RoutingKey => "routing key",
            Self::TraceParent => "W3C traceparent",
            Self::TraceState => "W3C tracestate",
            Self::Id => "id",
        }
    }
}

impl fmt::Display for ValueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Reason {
    /// Empty (after trimming surrounding whitespace).
    #[error("it is empty")]
    Empty,
    /// Longer than allowed.
    #[error("it is {actual} long, at most {max} is allowed")]
    TooLong {
        /// The limit (characters or UTF-8 bytes, as documented per type).
        max: usize,
        /// The actual length in the same unit.
        actual: usize,
    },
    /// Contains a control character.
    #[error("it contains a control character")]
    ControlCharacter,
    /// Contains whitespace where none is allowed.
    #[error("it contains whitespace")]
    Whitespace,
    /// Contains a character outside the allowed set.
    #[error("it contains the character {0:?}, which is not allowed")]
    ForbiddenCharacter(char),
    /// Contains characters other than the digits 0-9.
    #[error("it must contain digits only (0-9)")]
    NotDigitsOnly,
    /// Not in the official code list.
    #[error("it is not an assigned code of {0}")]
    UnknownCode(&'static str),
    /// The check digit does not match.
    #[error("its check digit is wrong (expected {expected})")]
    CheckDigit {
        /// The check digit the other digits call for.
        expected: u8,
    },
    /// Outside the allowed numeric range.
    #[error("it is outside the allowed range {0}")]
    OutOfRange(&'static str),
    /// Does not have the required shape.
    #[error("{0}")]
    Format(&'static str),
}

/// A value from outside could not be parsed into one of the crate's types.
///
/// The message names the kind of value, an excerpt of the offending value
/// (truncated to [`MAX_ERROR_VALUE_CHARS`]; e-mail addresses are masked because they
/// are personal data) and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: {reason}")]
pub struct ParseError {
    kind: ValueKind,
    value: String,
    reason: Reason,
}

impl ParseError {
    /// Builds an error, redacting `raw` as fits `kind`.
    pub fn new(kind: ValueKind, raw: &str, reason: Reason) -> Self {
        let value = match kind {
            ValueKind::Email => mask_email(raw),
            _ => truncate(raw),
        };
        Self {
            kind,
            value,
            reason,
        }
    }

    /// The kind of value that failed.
    pub fn kind(&self) -> ValueKind {
        self.kind
    }

    /// The redacted excerpt of the offending value.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Why it failed.
    pub fn reason(&self) -> &Reason {
        &self.reason
    }
}

/// Truncates to [`MAX_ERROR_VALUE_CHARS`] characters, marking the cut with `…`.
pub(crate) fn truncate(raw: &str) -> String {
    let mut chars = raw.chars();
    let head: String = chars.by_ref().take(MAX_ERROR_VALUE_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

/// Masks an e-mail address for messages: `john@example.com` -> `j***@example.com`.
///
/// Input without a usable `@` is masked entirely except its first character.
pub fn mask_email(raw: &str) -> String {
    let trimmed = raw.trim();
    let first: String = trimmed.chars().take(1).collect();
    match trimmed.rsplit_once('@') {
        Some((_, domain)) if !domain.is_empty() => format!("{first}***@{}", truncate(domain)),
        _ => format!("{first}***"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_emails() {
        assert_eq!(mask_email("john@example.com"), "j***@example.com");
        assert_eq!(mask_email("no-at-sign"), "n***");
        assert_eq!(mask_email(""), "***");
        assert_eq!(mask_email("é@x.nl"), "é***@x.nl");
    }

    #[test]
    fn truncates_long_values_on_char_boundaries() {
        let long = "é".repeat(100);
        let t = truncate(&long);
        assert_eq!(t.chars().count(), MAX_ERROR_VALUE_CHARS + 1);
        assert!(t.ends_with('…'));
        assert_eq!(truncate("short"), "short");
    }

    #[test]
    fn email_errors_never_show_the_local_part() {
        let e = ParseError::new(ValueKind::Email, "secret.person@example.com", Reason::Empty);
        let shown = e.to_string();
        assert!(!shown.contains("secret.person"), "{shown}");
        assert!(shown.contains("s***@example.com"), "{shown}");
        assert!(shown.contains("e-mail address"), "{shown}");
    }
}
