//! Failure replies.

use crate::routing::{Message, MessageKind, MessageType, RoutingKey, System};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Category of a failure; decides alerting and whether a retry can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The record is invalid (e.g. a missing required field).
    Validation,
    /// The record cannot be mapped (e.g. a non-numeric SKU for MailChimp).
    Mapping,
    /// Something the command refers to does not exist.
    NotFound,
    /// The target already has a conflicting record.
    Conflict,
    /// Credentials were refused.
    Auth,
    /// The target asked to slow down.
    RateLimited,
    /// The target is unreachable or answered 5xx.
    Unavailable,
    /// The call timed out.
    Timeout,
    /// The target refused the request for a business reason.
    RemoteRejected,
    /// A bug or unexpected state in Ferry.
    Internal,
}

impl ErrorCode {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Validation => "validation",
            Self::Mapping => "mapping",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::Auth => "auth",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
            Self::RemoteRejected => "remote_rejected",
            Self::Internal => "internal",
        }
    }

    /// Whether a retry may succeed without anyone changing anything
    /// (`rate_limited`, `unavailable`, `timeout`).
    pub fn is_transient(self) -> bool {
        matches!(self, Self::RateLimited | Self::Unavailable | Self::Timeout)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong. Must never contain secrets; personal data only where needed to
/// name the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FailureInfo {
    /// Category.
    pub code: ErrorCode,
    /// Human readable explanation: what failed and why.
    pub message: String,
    /// Whether retrying the command may help.
    pub retryable: bool,
    /// Structured details (e.g. the remote error body, without secrets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl FailureInfo {
    /// Longest message kept, in bytes; longer messages are cut.
    pub const MAX_MESSAGE_LEN: usize = 4096;

    /// A failure with `retryable` derived from the code.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let mut message: String = message.into();
        if message.len() > Self::MAX_MESSAGE_LEN {
            let mut cut = Self::MAX_MESSAGE_LEN;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        Self {
            code,
            message,
            retryable: code.is_transient(),
            details: None,
        }
    }

    /// Adds structured details.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    /// Overrides `retryable`.
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }
}

/// Reply event: a command could not be executed. Routed as
/// `<system>.<entity>.failed`, where the entity is the failed command's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CommandFailed {
    /// The system the command was addressed to.
    pub target: System,
    /// The failed command's message type (`customer.upsert`).
    pub command_type: MessageType,
    /// The business key of the record (SKU, e-mail, order number); may be personal data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_key: Option<String>,
    /// What went wrong.
    pub error: FailureInfo,
}

impl CommandFailed {
    /// The failure of `command`.
    pub fn for_command<C: Message>(command: &C, error: FailureInfo) -> Self {
        Self {
            target: command.system(),
            command_type: MessageType::parse(C::MESSAGE_TYPE)
                .unwrap_or_else(|_| MessageType::unknown()),
            record_key: command.record_key(),
            error,
        }
    }
}

impl Message for CommandFailed {
    const MESSAGE_TYPE: &'static str = "command.failed";
    const SCHEMA_VERSION: u16 = 1;
    const KIND: MessageKind = MessageKind::Event;

    fn system(&self) -> System {
        self.target
    }

    fn routing_key(&self) -> RoutingKey {
        RoutingKey::new(self.target, &self.command_type.with_verb("failed"))
    }

    fn record_key(&self) -> Option<String> {
        self.record_key.clone()
    }
}
