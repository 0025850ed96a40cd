//! W3C trace context carried by every envelope.

use crate::types::{ParseError, Reason, ValueKind, string_newtype, string_schema};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// A W3C `traceparent` of version `00`: `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`,
/// lower-case hex, with neither id all zeros.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TraceParent(String);

impl TraceParent {
    /// Parses a traceparent header value.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let err = |reason| ParseError::new(ValueKind::TraceParent, raw, reason);
        let is_hex = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        let parts: Vec<&str> = raw.split('-').collect();
        let [version, trace_id, parent_id, flags] = parts.as_slice() else {
            return Err(err(Reason::Format("expected 00-<32 hex>-<16 hex>-<2 hex>")));
        };
        if *version != "00" {
            return Err(err(Reason::Format(
                "only traceparent version 00 is supported",
            )));
        }
        if trace_id.len() != 32 || parent_id.len() != 16 || flags.len() != 2 {
            return Err(err(Reason::Format("expected 00-<32 hex>-<16 hex>-<2 hex>")));
        }
        if !(is_hex(trace_id) && is_hex(parent_id) && is_hex(flags)) {
            return Err(err(Reason::Format("ids and flags must be lower-case hex")));
        }
        if trace_id.bytes().all(|b| b == b'0') || parent_id.bytes().all(|b| b == b'0') {
            return Err(err(Reason::Format(
                "trace id and parent id must not be all zeros",
            )));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The header value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 32-hex-digit trace id.
    pub fn trace_id(&self) -> &str {
        self.0.get(3..35).unwrap_or("")
    }

    /// The 16-hex-digit parent (span) id.
    pub fn parent_id(&self) -> &str {
        self.0.get(36..52).unwrap_or("")
    }

    /// True when the `sampled` flag is set.
    pub fn sampled(&self) -> bool {
        self.0
            .get(53..55)
            .and_then(|f| u8::from_str_radix(f, 16).ok())
            .is_some_and(|f| f & 1 == 1)
    }
}

string_newtype!(TraceParent);

impl JsonSchema for TraceParent {
    fn schema_name() -> Cow<'static, str> {
        "TraceParent".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        string_schema(
            "W3C traceparent (version 00)",
            Some("^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"),
            None,
            None,
            None,
        )
    }
}

/// A W3C `tracestate`: 1 to 512 bytes of printable ASCII (vendor entries are passed
/// through unparsed).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TraceState(String);

impl TraceState {
    /// Longest accepted tracestate, in bytes.
    pub const MAX_LEN: usize = 512;

    /// Parses a tracestate header value.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let err = |reason| ParseError::new(ValueKind::TraceState, raw, reason);
        let s = raw.trim();
        if s.is_empty() {
            return Err(err(Reason::Empty));
        }
        if s.len() > Self::MAX_LEN {
            return Err(err(Reason::TooLong {
                max: Self::MAX_LEN,
                actual: s.len(),
            }));
        }
        if let Some(c) = s.chars().find(|c| !(' '..='~').contains(c)) {
            return Err(err(if c.is_control() {
                Reason::ControlCharacter
            } else {
                Reason::ForbiddenCharacter(c)
            }));
        }
        Ok(Self(s.to_owned()))
    }

    /// The header value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_newtype!(TraceState);

impl JsonSchema for TraceState {
    fn schema_name() -> Cow<'static, str> {
        "TraceState".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        string_schema(
            "W3C tracestate",
            Some("^[ -~]+$"),
            None,
            Some(1),
            Some(TraceState::MAX_LEN),
        )
    }
}

/// The W3C trace context of a message, so one order is one trace across services.
/// Deserialization is strict (an invalid `traceparent` is an error); use
/// [`TraceContext::from_headers`] for lenient extraction from transport headers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TraceContext {
    /// The `traceparent` header value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<TraceParent>,
    /// The `tracestate` header value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<TraceState>,
}

impl TraceContext {
    /// No trace context.
    pub fn none() -> Self {
        Self::default()
    }

    /// Strictly parses both values.
    pub fn parse(traceparent: Option<&str>, tracestate: Option<&str>) -> Result<Self, ParseError> {
        Ok(Self {
            traceparent: traceparent.map(TraceParent::parse).transpose()?,
            tracestate: tracestate.map(TraceState::parse).transpose()?,
        })
    }

    /// Leniently builds a context from transport headers, as the W3C spec asks:
    /// an invalid `traceparent` is dropped (a new trace starts), and a `tracestate`
    /// without a valid `traceparent`, or invalid itself, is dropped too.
    pub fn from_headers(traceparent: Option<&str>, tracestate: Option<&str>) -> Self {
        let traceparent = traceparent.and_then(|t| TraceParent::parse(t).ok());
        let tracestate = traceparent
            .as_ref()
            .and(tracestate)
            .and_then(|t| TraceState::parse(t).ok());
        Self {
            traceparent,
            tracestate,
        }
    }

    /// The `traceparent` text, if any.
    pub fn traceparent_str(&self) -> Option<&str> {
        self.traceparent.as_ref().map(TraceParent::as_str)
    }

    /// The `tracestate` text, if any.
    pub fn tracestate_str(&self) -> Option<&str> {
        self.tracestate.as_ref().map(TraceState::as_str)
    }

    /// True when neither value is present.
    pub fn is_empty(&self) -> bool {
        self.traceparent.is_none() && self.tracestate.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_valid_traceparent() {
        let t = TraceParent::parse(VALID).expect("valid");
        assert_eq!(t.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.parent_id(), "00f067aa0ba902b7");
        assert!(t.sampled());
        assert!(
            !TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
                .expect("valid")
                .sampled()
        );
    }

    #[test]
    fn refuses_invalid_traceparent() {
        for bad in [
            "",
            "garbage",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(TraceParent::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tracestate() {
        assert!(TraceState::parse("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7").is_ok());
        assert!(TraceState::parse("a=\u{7}").is_err());
        assert!(TraceState::parse("a=é").is_err());
        assert!(TraceState::parse(&"a".repeat(513)).is_err());
    }

    #[test]
    fn strict_deserialization_and_lenient_headers() {
        let bad = r#"{"traceparent":"00-zz"}"#;
        assert!(serde_json::from_str::<TraceContext>(bad).is_err());
        let ok: TraceContext = serde_json::from_str("{}").expect("empty");
        assert!(ok.is_empty());

        let lenient = TraceContext::from_headers(Some("00-zz"), Some("a=b"));
        assert!(
            lenient.is_empty(),
            "tracestate without traceparent is dropped"
        );
        let good = TraceContext::from_headers(Some(VALID), Some("a=b"));
        assert_eq!(good.traceparent_str(), Some(VALID));
        assert_eq!(good.tracestate_str(), Some("a=b"));
        assert!(TraceContext::parse(Some("00-zz"), None).is_err());
    }
}
