//! What travels on the bus: a message with its routing data and headers, and a delivery of it
//! to one queue.

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use uuid::Uuid;

/// The two topic exchanges of the architecture: facts and requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Exchange {
    /// Facts: `<system>.<entity>.observed`, replies such as `<system>.<entity>.upserted`.
    Events,
    /// Requests addressed to one service: `<system>.<entity>.upsert`, `.find`, `.create`.
    Commands,
}

impl Exchange {
    /// The exchange's name without the deployment prefix.
    pub fn base_name(self) -> &'static str {
        match self {
            Self::Events => "ferry.events",
            Self::Commands => "ferry.commands",
        }
    }

    /// Parses [`Exchange::base_name`] back.
    pub fn from_base_name(name: &str) -> Option<Self> {
        match name {
            "ferry.events" => Some(Self::Events),
            "ferry.commands" => Some(Self::Commands),
            _ => None,
        }
    }
}

impl fmt::Display for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.base_name())
    }
}

/// Header names carried by every message, named once here.
pub mod headers {
    /// Canonical message type, e.g. `customer.observed`.
    pub const MESSAGE_TYPE: &str = "x-ferry-message-type";
    /// Integration (tenant) the message belongs to.
    pub const INTEGRATION_ID: &str = "x-ferry-integration-id";
    /// Correlation id: the saga or sync run.
    pub const CORRELATION_ID: &str = "x-ferry-correlation-id";
    /// W3C trace context.
    pub const TRACEPARENT: &str = "traceparent";
    /// W3C trace state.
    pub const TRACESTATE: &str = "tracestate";
    /// How many times this message has been handed to a handler of its queue (1-based).
    pub const ATTEMPT: &str = "x-ferry-attempt";
    /// Why a message was dead-lettered.
    pub const DEAD_REASON: &str = "x-ferry-dead-reason";
    /// The queue a dead-lettered message came from.
    pub const DEAD_QUEUE: &str = "x-ferry-dead-queue";
    /// The exchange the message was first published to.
    pub const ORIGINAL_EXCHANGE: &str = "x-ferry-original-exchange";
    /// The routing key the message was first published with.
    pub const ORIGINAL_ROUTING_KEY: &str = "x-ferry-original-routing-key";
}

/// A message as the bus carries it: an opaque body (the JSON envelope) plus the metadata that
/// brokers and operators need without decoding it.
#[derive(Clone, PartialEq, Eq)]
pub struct BusMessage {
    /// Where it is published.
    pub exchange: Exchange,
    /// `<system>.<entity>.<verb>`.
    pub routing_key: String,
    /// The envelope's message id; the inbox deduplicates on it.
    pub message_id: Uuid,
    /// String headers (see [`headers`]).
    pub headers: BTreeMap<String, String>,
    /// The serialized envelope.
    pub body: Bytes,
}

impl fmt::Debug for BusMessage {
    // The body may hold personal data: never print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BusMessage")
            .field("exchange", &self.exchange)
            .field("routing_key", &self.routing_key)
            .field("message_id", &self.message_id)
            .field("headers", &self.headers)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

impl BusMessage {
    /// A message with no headers.
    pub fn new(
        exchange: Exchange,
        routing_key: impl Into<String>,
        message_id: Uuid,
        body: impl Into<Bytes>,
    ) -> Self {
        Self {
            exchange,
            routing_key: routing_key.into(),
            message_id,
            headers: BTreeMap::new(),
            body: body.into(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.insert(name.to_owned(), value.into());
        self
    }

    /// Reads a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The message type header, or the routing key when it is absent.
    pub fn message_type(&self) -> &str {
        self.header(headers::MESSAGE_TYPE)
            .unwrap_or(self.routing_key.as_str())
    }

    /// Builds the bus form of a typed envelope: JSON body, exchange from the message kind,
    /// routing key from the payload, and the metadata headers.
    pub fn from_envelope<P: ferry_proto::Message>(
        envelope: &ferry_proto::Envelope<P>,
    ) -> Result<Self, ferry_proto::EnvelopeError> {
        let body = envelope.to_json_bytes()?;
        let exchange = match P::KIND {
            ferry_proto::MessageKind::Event => Exchange::Events,
            ferry_proto::MessageKind::Command => Exchange::Commands,
        };
        let mut message = Self::new(
            exchange,
            envelope.routing_key().to_string(),
            envelope.message_id.as_uuid(),
            body,
        )
        .with_header(headers::MESSAGE_TYPE, P::MESSAGE_TYPE)
        .with_header(headers::INTEGRATION_ID, envelope.integration_id.to_string())
        .with_header(headers::CORRELATION_ID, envelope.correlation_id.to_string());
        if let Some(traceparent) = envelope.trace.traceparent_str() {
            message = message.with_header(headers::TRACEPARENT, traceparent);
        }
        if let Some(tracestate) = envelope.trace.tracestate_str() {
            message = message.with_header(headers::TRACESTATE, tracestate);
        }
        Ok(message)
    }
}

/// Stamps `envelope` with the trace context of the current span, unless it carries one already,
/// so that what a handler publishes continues the trace it was called in.
pub fn with_current_trace<P: ferry_proto::Message>(
    envelope: ferry_proto::Envelope<P>,
) -> ferry_proto::Envelope<P> {
    if envelope.trace.traceparent.is_some() {
        return envelope;
    }
    let (traceparent, tracestate) = crate::telemetry::inject_current();
    let trace =
        ferry_proto::TraceContext::from_headers(traceparent.as_deref(), tracestate.as_deref());
    envelope.with_trace(trace)
}

/// Stamps `envelope` with a trace of its own, unless it carries one: a root span
/// `record.observed` linked to the current span (the sync run that read the record), so that
/// each observed record starts one trace which every service handling it continues.
pub fn with_new_trace<P: ferry_proto::Message>(
    envelope: ferry_proto::Envelope<P>,
) -> ferry_proto::Envelope<P> {
    if envelope.trace.traceparent.is_some() {
        return envelope;
    }
    let span = crate::telemetry::new_trace(tracing::info_span!(
        parent: None,
        "record.observed",
        message_type = P::MESSAGE_TYPE,
        message_id = %envelope.message_id,
    ));
    let (traceparent, tracestate) = crate::telemetry::inject(&span);
    let trace =
        ferry_proto::TraceContext::from_headers(traceparent.as_deref(), tracestate.as_deref());
    envelope.with_trace(trace)
}

/// One delivery of a message to one queue's handler.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The message as published (dead-letter bookkeeping headers included).
    pub message: BusMessage,
    /// The queue it was consumed from.
    pub queue: String,
    /// 1 on the first hand-over; grows by one with each retry through the delay queues.
    pub attempt: u32,
    /// True when the broker hands it over again after an unacknowledged earlier delivery
    /// (a consumer crash or a lost connection): the effect may already have happened.
    pub redelivered: bool,
}

/// What a handler decided about a delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The effect is committed: acknowledge and forget.
    Ack,
    /// A transient failure: try again later (delay queue with exponential backoff), and
    /// dead-letter once the retry policy's attempts are used up.
    Retry(String),
    /// A permanent failure (bad input, a mapping error): park it in the dead-letter queue now.
    DeadLetter(String),
}

/// A message parked in a dead-letter queue.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    /// The message, with its original exchange and routing key restored.
    pub message: BusMessage,
    /// The queue whose consumer gave up on it.
    pub queue: String,
    /// Why.
    pub reason: String,
    /// Attempts made before giving up.
    pub attempts: u32,
}

impl DeadLetter {
    /// Reads the bookkeeping headers of a message taken from a dead-letter queue.
    pub fn from_parked(message: BusMessage, fallback_queue: &str) -> Self {
        let queue = message
            .header(headers::DEAD_QUEUE)
            .unwrap_or(fallback_queue)
            .to_owned();
        let reason = message
            .header(headers::DEAD_REASON)
            .unwrap_or("dead-lettered by the broker (delivery limit reached)")
            .to_owned();
        let attempts = message
            .header(headers::ATTEMPT)
            .and_then(|a| a.parse().ok())
            .unwrap_or(1);
        Self {
            message,
            queue,
            reason,
            attempts,
        }
    }
}
