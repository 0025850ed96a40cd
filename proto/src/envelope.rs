//! The envelope every message travels in, and its encoding.

use crate::routing::{MESSAGE_TYPE_PATTERN, Message, MessageKind, MessageType, RoutingKey};
use crate::trace::TraceContext;
use crate::types::{IntegrationId, MessageId, string_schema};
use chrono::{DateTime, Utc};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, de::DeserializeOwned};
use uuid::Uuid;

/// Largest encoded message accepted or produced (1 MiB). Larger bodies are refused
/// with [`EnvelopeError::TooLarge`] so the consumer can park them instead of crashing.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// A message: metadata plus a payload.
///
/// `P` is a catalogue type implementing [`Message`], or `serde_json::Value` for code
/// that handles any message (routing, activity log, dead-letter inspection).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Envelope<P> {
    /// Unique id of this message (UUID v7 for new messages).
    pub message_id: MessageId,
    /// The integration (tenant) the message belongs to.
    pub integration_id: IntegrationId,
    /// `<entity>.<verb>`, e.g. `customer.observed`.
    #[serde(deserialize_with = "de_message_type")]
    #[schemars(schema_with = "message_type_schema")]
    pub message_type: String,
    /// Version of the payload schema.
    pub schema_version: u16,
    /// The saga or sync run this message belongs to.
    pub correlation_id: Uuid,
    /// The message that caused this one (a reply's command, a command's event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<MessageId>,
    /// When the fact happened or the command was issued.
    pub occurred_at: DateTime<Utc>,
    /// W3C trace context.
    #[serde(default, skip_serializing_if = "TraceContext::is_empty")]
    pub trace: TraceContext,
    /// The message itself.
    pub payload: P,
}

fn de_message_type<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let raw = String::deserialize(d)?;
    MessageType::parse(&raw)
        .map(|t| t.as_str().to_owned())
        .map_err(serde::de::Error::custom)
}

fn message_type_schema(_: &mut SchemaGenerator) -> Schema {
    string_schema(
        "Message type <entity>.<verb>",
        Some(MESSAGE_TYPE_PATTERN),
        None,
        Some(3),
        Some(MessageType::MAX_LEN),
    )
}

/// Why a message could not be encoded or decoded. Every variant is permanent for the
/// message at hand: park it (dead-letter) rather than retry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The body exceeds [`MAX_MESSAGE_BYTES`].
    #[error("message of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Size of the body.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The body is not JSON or not an envelope.
    #[error("malformed envelope: {0}")]
    Malformed(#[source] serde_json::Error),
    /// The envelope carries another message type than the one expected.
    #[error("message {message_id} has type {found:?}, expected {expected:?}")]
    WrongMessageType {
        /// Id of the message.
        message_id: MessageId,
        /// The expected type.
        expected: &'static str,
        /// The type found.
        found: String,
    },
    /// The envelope carries an unsupported schema version.
    #[error(
        "message {message_id} of type {message_type} has schema version {found}, expected {expected}"
    )]
    WrongSchemaVersion {
        /// Id of the message.
        message_id: MessageId,
        /// Its type.
        message_type: String,
        /// The supported version.
        expected: u16,
        /// The version found.
        found: u16,
    },
    /// The payload does not match the schema of its message type.
    #[error("message {message_id} of type {message_type} has an invalid payload: {source}")]
    InvalidPayload {
        /// Id of the message.
        message_id: MessageId,
        /// Its type.
        message_type: String,
        /// What is wrong (values of personal data are masked).
        #[source]
        source: serde_json::Error,
    },
    /// The message could not be serialized.
    #[error("cannot encode message: {0}")]
    Encode(#[source] serde_json::Error),
}

impl<P: Message> Envelope<P> {
    /// A new message with a fresh id, its own id as correlation id, no cause, the
    /// current time and no trace context.
    pub fn new(integration_id: IntegrationId, payload: P) -> Self {
        let message_id = MessageId::new();
        Self {
            message_id,
            integration_id,
            message_type: P::MESSAGE_TYPE.to_owned(),
            schema_version: P::SCHEMA_VERSION,
            correlation_id: message_id.as_uuid(),
            causation_id: None,
            occurred_at: Utc::now(),
            trace: TraceContext::default(),
            payload,
        }
    }

    /// A message caused by `parent`: same integration and correlation id, causation id
    /// = the parent's id, trace context copied.
    pub fn caused_by<Q>(parent: &Envelope<Q>, payload: P) -> Self {
        Self {
            integration_id: parent.integration_id,
            correlation_id: parent.correlation_id,
            causation_id: Some(parent.message_id),
            trace: parent.trace.clone(),
            ..Self::new(parent.integration_id, payload)
        }
    }

    /// Replaces the correlation id (the saga / sync run).
    pub fn with_correlation(mut self, correlation_id: Uuid) -> Self {
        self.correlation_id = correlation_id;
        self
    }

    /// Replaces the trace context.
    pub fn with_trace(mut self, trace: TraceContext) -> Self {
        self.trace = trace;
        self
    }

    /// The routing key of the payload.
    pub fn routing_key(&self) -> RoutingKey {
        self.payload.routing_key()
    }

    /// Event or command.
    pub fn kind(&self) -> MessageKind {
        P::KIND
    }

    /// Decodes a body as a message of type `P`, checking size, JSON, message type and
    /// schema version, in that order, and reporting the first problem precisely.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        Envelope::<serde_json::Value>::from_json_slice(bytes)?.into_typed()
    }

    /// Converts to an untyped envelope (for generic handling such as activity logs).
    pub fn to_untyped(&self) -> Result<Envelope<serde_json::Value>, EnvelopeError> {
        let payload = serde_json::to_value(&self.payload).map_err(EnvelopeError::Encode)?;
        Ok(Envelope {
            message_id: self.message_id,
            integration_id: self.integration_id,
            message_type: self.message_type.clone(),
            schema_version: self.schema_version,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            occurred_at: self.occurred_at,
            trace: self.trace.clone(),
            payload,
        })
    }
}

impl<P: Serialize> Envelope<P> {
    /// Encodes the envelope as JSON; refuses results over [`MAX_MESSAGE_BYTES`].
    pub fn to_json_bytes(&self) -> Result<Vec<u8>, EnvelopeError> {
        let bytes = serde_json::to_vec(self).map_err(EnvelopeError::Encode)?;
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(EnvelopeError::TooLarge {
                size: bytes.len(),
                max: MAX_MESSAGE_BYTES,
            });
        }
        Ok(bytes)
    }
}

impl Envelope<serde_json::Value> {
    /// Decodes any envelope, leaving the payload untyped. Refuses bodies over
    /// [`MAX_MESSAGE_BYTES`] before parsing them.
    pub fn from_json_slice(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(EnvelopeError::TooLarge {
                size: bytes.len(),
                max: MAX_MESSAGE_BYTES,
            });
        }
        serde_json::from_slice(bytes).map_err(EnvelopeError::Malformed)
    }

    /// Types the payload as `P`, checking message type and schema version first.
    pub fn into_typed<P: Message>(self) -> Result<Envelope<P>, EnvelopeError> {
        if self.message_type != P::MESSAGE_TYPE {
            return Err(EnvelopeError::WrongMessageType {
                message_id: self.message_id,
                expected: P::MESSAGE_TYPE,
                found: self.message_type,
            });
        }
        if self.schema_version != P::SCHEMA_VERSION {
            return Err(EnvelopeError::WrongSchemaVersion {
                message_id: self.message_id,
                message_type: self.message_type,
                expected: P::SCHEMA_VERSION,
                found: self.schema_version,
            });
        }
        let payload =
            decode_payload::<P>(self.payload).map_err(|source| EnvelopeError::InvalidPayload {
                message_id: self.message_id,
                message_type: self.message_type.clone(),
                source,
            })?;
        Ok(Envelope {
            message_id: self.message_id,
            integration_id: self.integration_id,
            message_type: self.message_type,
            schema_version: self.schema_version,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            occurred_at: self.occurred_at,
            trace: self.trace,
            payload,
        })
    }
}

fn decode_payload<P: DeserializeOwned>(v: serde_json::Value) -> Result<P, serde_json::Error> {
    serde_json::from_value(v)
}
