//! Systems, message kinds, message types, routing keys and the [`Message`] trait.

use crate::types::{ParseError, Reason, ValueKind, string_newtype, string_schema};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::borrow::Cow;
use std::fmt;

/// A system a message is about or addressed to; the first routing key segment.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum System {
    /// MailChimp (e-commerce store and audience).
    Mailchimp,
    /// MplusKASSA point of sale.
    Mpluskassa,
    /// Ferry itself (integration registry and other internal facts).
    Ferry,
}

impl System {
    /// The lower-case name used in routing keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mailchimp => "mailchimp",
            Self::Mpluskassa => "mpluskassa",
            Self::Ferry => "ferry",
        }
    }

    /// Parses the lower-case name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "mailchimp" => Some(Self::Mailchimp),
            "mpluskassa" => Some(Self::Mpluskassa),
            "ferry" => Some(Self::Ferry),
            _ => None,
        }
    }
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a message states a fact (event) or asks for an effect (command).
/// Events and commands are published to different exchanges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    /// A fact that happened; any number of consumers.
    Event,
    /// A request for one target connector to do something; answered by a reply event.
    Command,
}

impl MessageKind {
    /// `"event"` or `"command"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Event => "event",
            Self::Command => "command",
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// True for a non-empty routing segment of lower-case ASCII letters, digits and `-`.
fn is_segment(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A message type `<entity>.<verb>` (`customer.upsert`): two segments of lower-case
/// ASCII letters, digits and `-`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageType(String);

impl MessageType {
    /// Longest accepted message type, in bytes.
    pub const MAX_LEN: usize = 64;

    /// Parses a message type.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let err = |reason| ParseError::new(ValueKind::MessageType, raw, reason);
        if raw.is_empty() {
            return Err(err(Reason::Empty));
        }
        if raw.len() > Self::MAX_LEN {
            return Err(err(Reason::TooLong {
                max: Self::MAX_LEN,
                actual: raw.len(),
            }));
        }
        match raw.split_once('.') {
            Some((entity, verb)) if is_segment(entity) && is_segment(verb) => {
                Ok(Self(raw.to_owned()))
            }
            _ => Err(err(Reason::Format(
                "expected <entity>.<verb> of lower-case letters, digits and '-'",
            ))),
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The entity (`customer` of `customer.upsert`).
    pub fn entity(&self) -> &str {
        self.0.split_once('.').map_or("", |(e, _)| e)
    }

    /// `<same entity>.<verb>`; `verb` must be a valid segment (crate-internal use).
    pub(crate) fn with_verb(&self, verb: &'static str) -> Self {
        Self(format!("{}.{verb}", self.entity()))
    }

    /// Placeholder for a `Message` implementation whose `MESSAGE_TYPE` is malformed
    /// (the catalogue's are checked by tests).
    pub(crate) fn unknown() -> Self {
        Self("unknown.command".to_owned())
    }

    /// The verb (`upsert` of `customer.upsert`).
    pub fn verb(&self) -> &str {
        self.0.split_once('.').map_or("", |(_, v)| v)
    }
}

string_newtype!(MessageType);

impl JsonSchema for MessageType {
    fn schema_name() -> Cow<'static, str> {
        "MessageType".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        string_schema(
            "Message type <entity>.<verb>",
            Some(MESSAGE_TYPE_PATTERN),
            None,
            Some(3),
            Some(MessageType::MAX_LEN),
        )
    }
}

/// JSON Schema pattern of a [`MessageType`].
pub(crate) const MESSAGE_TYPE_PATTERN: &str = "^[a-z0-9-]+\\.[a-z0-9-]+$";

/// An AMQP routing key `<system>.<entity>.<verb>` (`mpluskassa.customer.upsert`):
/// three segments of lower-case ASCII letters, digits and `-`, at most 255 bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoutingKey(String);

impl RoutingKey {
    /// Longest routing key AMQP allows, in bytes.
    pub const MAX_LEN: usize = 255;

    /// Parses a routing key.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let err = |reason| ParseError::new(ValueKind::RoutingKey, raw, reason);
        if raw.is_empty() {
            return Err(err(Reason::Empty));
        }
        if raw.len() > Self::MAX_LEN {
            return Err(err(Reason::TooLong {
                max: Self::MAX_LEN,
                actual: raw.len(),
            }));
        }
        let segments: Vec<&str> = raw.split('.').collect();
        if segments.len() != 3 || !segments.iter().all(|s| is_segment(s)) {
            return Err(err(Reason::Format(
                "expected <system>.<entity>.<verb> of lower-case letters, digits and '-'",
            )));
        }
        Ok(Self(raw.to_owned()))
    }

    /// `<system>.<message type>`.
    pub fn new(system: System, message_type: &MessageType) -> Self {
        // Both parts are valid segments by construction.
        Self(format!("{}.{}", system.as_str(), message_type.as_str()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first segment.
    pub fn system(&self) -> &str {
        self.0.split('.').next().unwrap_or("")
    }

    /// The second segment.
    pub fn entity(&self) -> &str {
        self.0.split('.').nth(1).unwrap_or("")
    }

    /// The third segment.
    pub fn verb(&self) -> &str {
        self.0.split('.').nth(2).unwrap_or("")
    }
}

string_newtype!(RoutingKey);

impl JsonSchema for RoutingKey {
    fn schema_name() -> Cow<'static, str> {
        "RoutingKey".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        string_schema(
            "AMQP routing key <system>.<entity>.<verb>",
            Some("^[a-z0-9-]+\\.[a-z0-9-]+\\.[a-z0-9-]+$"),
            None,
            Some(5),
            Some(RoutingKey::MAX_LEN),
        )
    }
}

/// A payload type of the catalogue: events and commands.
///
/// The message type and schema version are carried in the [`crate::Envelope`]; the
/// routing key is `<system>.<MESSAGE_TYPE>` unless a message overrides it
/// ([`crate::messages::CommandFailed`] routes as `<system>.<entity>.failed`).
pub trait Message: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static {
    /// `<entity>.<verb>`, e.g. `customer.upsert`.
    const MESSAGE_TYPE: &'static str;
    /// Version of the payload schema; bumped on incompatible changes.
    const SCHEMA_VERSION: u16;
    /// Event or command (decides the exchange).
    const KIND: MessageKind;

    /// Whose system this message is about (events) or addressed to (commands).
    fn system(&self) -> System;

    /// The routing key, `<system>.<MESSAGE_TYPE>` by default.
    fn routing_key(&self) -> RoutingKey {
        RoutingKey(format!("{}.{}", self.system().as_str(), Self::MESSAGE_TYPE))
    }

    /// The business key of the record the message is about (SKU, e-mail, external
    /// order id, ...), for activity logs and failure reports. May be personal data
    /// (an e-mail address): mask it before logging.
    fn record_key(&self) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systems_serialize_lowercase() {
        assert_eq!(
            serde_json::to_string(&System::Mpluskassa).expect("ser"),
            "\"mpluskassa\""
        );
        for s in [System::Mailchimp, System::Mpluskassa, System::Ferry] {
            assert_eq!(System::parse(s.as_str()), Some(s));
        }
        assert_eq!(System::parse("MailChimp"), None);
        assert!(serde_json::from_str::<System>("\"MailChimp\"").is_err());
    }

    #[test]
    fn message_types() {
        let t = MessageType::parse("stock.set-done").expect("valid");
        assert_eq!((t.entity(), t.verb()), ("stock", "set-done"));
        for bad in [
            "",
            "customer",
            "Customer.upsert",
            "customer.upsert.x",
            "customer.",
            ".x",
            "a_b.c",
            "a .b",
        ] {
            assert!(MessageType::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn routing_keys() {
        let k = RoutingKey::parse("mpluskassa.customer.upsert").expect("valid");
        assert_eq!(
            (k.system(), k.entity(), k.verb()),
            ("mpluskassa", "customer", "upsert")
        );
        let t = MessageType::parse("order.find").expect("valid");
        assert_eq!(
            RoutingKey::new(System::Mailchimp, &t).as_str(),
            "mailchimp.order.find"
        );
        for bad in [
            "",
            "customer.upsert",
            "a.b.c.d",
            "Mailchimp.customer.upsert",
            "mailchimp..upsert",
            "mailchimp.*.upsert",
            "mailchimp.#",
            "mailchimp.customer.upsért",
        ] {
            assert!(RoutingKey::parse(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}.b.c", "a".repeat(252));
        assert!(RoutingKey::parse(&long).is_err());
        assert!(RoutingKey::parse(&format!("{}.b.c", "a".repeat(251))).is_ok());
    }
}
