//! Why a call failed: typed, naming the operation and the cause, never the key, a query
//! string or an e-mail address.

use std::time::Duration;

use ferry_platform::egress::{EgressError, TransportFailure};
use ferry_proto::messages::{ErrorCode, FailureInfo};
use serde::Serialize;

/// A field error of a MailChimp validation answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldError {
    /// The field (may be empty).
    pub field: String,
    /// MailChimp's message.
    pub message: String,
}

/// Why a call failed. Messages name the operation (`customers.put`) and the cause, never the
/// key, a query string or an e-mail address.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The API key cannot be used.
    #[error("the MailChimp API key is malformed: {0}")]
    InvalidKey(&'static str),
    /// The base URL cannot be used.
    #[error("the MailChimp base URL is invalid: {0}")]
    InvalidBaseUrl(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
    /// The egress guard refused the destination (an internal address not allowed, or plain
    /// `http://` outside the sandbox mode).
    #[error("the MailChimp base URL is refused: {0}")]
    Refused(EgressError),
    /// MailChimp refused the request (4xx other than throttling).
    #[error("{op}: MailChimp answered {status} {title}: {detail}{}", fields_suffix(.errors))]
    Rejected {
        /// The operation.
        op: &'static str,
        /// HTTP status.
        status: u16,
        /// Problem title (`Invalid Resource`).
        title: String,
        /// Problem detail.
        detail: String,
        /// Field errors.
        errors: Vec<FieldError>,
    },
    /// MailChimp kept throttling (429 or a bare 403).
    #[error("{op}: MailChimp throttled the call (HTTP {status}) {attempts} time(s)")]
    Throttled {
        /// The operation.
        op: &'static str,
        /// 429 or 403.
        status: u16,
        /// Attempts made.
        attempts: u32,
    },
    /// MailChimp answered 5xx.
    #[error("{op}: MailChimp failed with HTTP {status} ({attempts} attempt(s)): {detail}")]
    Server {
        /// The operation.
        op: &'static str,
        /// HTTP status.
        status: u16,
        /// Problem detail, when there was one.
        detail: String,
        /// Attempts made.
        attempts: u32,
    },
    /// No answer in time.
    #[error("{op}: no answer from MailChimp within {timeout:?} ({attempts} attempt(s))")]
    Timeout {
        /// The operation.
        op: &'static str,
        /// The request timeout.
        timeout: Duration,
        /// Attempts made.
        attempts: u32,
    },
    /// The connection failed or was dropped.
    #[error("{op}: connection to MailChimp failed ({attempts} attempt(s)): {cause}")]
    Connection {
        /// The operation.
        op: &'static str,
        /// What happened, by kind (TLS, connect, dropped).
        failure: TransportFailure,
        /// What happened.
        cause: String,
        /// Attempts made.
        attempts: u32,
        /// The request may have reached MailChimp (the connection broke after it was sent).
        maybe_sent: bool,
    },
    /// The request body has no JSON form (a bug of the caller: nothing was sent).
    #[error("{op}: the request body cannot be written as JSON: {cause}")]
    Encode {
        /// The operation.
        op: &'static str,
        /// What is wrong.
        cause: String,
    },
    /// The answer was not the JSON expected.
    #[error("{op}: malformed answer from MailChimp (HTTP {status}): {cause}")]
    Malformed {
        /// The operation.
        op: &'static str,
        /// HTTP status.
        status: u16,
        /// What is wrong.
        cause: String,
    },
}

fn fields_suffix(errors: &[FieldError]) -> String {
    if errors.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = errors
        .iter()
        .map(|e| {
            if e.field.is_empty() {
                e.message.clone()
            } else {
                format!("{}: {}", e.field, e.message)
            }
        })
        .collect();
    format!(" ({})", parts.join("; "))
}

impl ClientError {
    /// The canonical failure category.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidKey(_) | Self::InvalidBaseUrl(_) => ErrorCode::Auth,
            Self::Refused(_) => ErrorCode::Validation,
            Self::Build(_) | Self::Encode { .. } => ErrorCode::Internal,
            Self::Rejected { status, .. } => match status {
                401 | 403 => ErrorCode::Auth,
                404 => ErrorCode::NotFound,
                409 => ErrorCode::Conflict,
                400 | 422 => ErrorCode::RemoteRejected,
                _ => ErrorCode::RemoteRejected,
            },
            Self::Throttled { .. } => ErrorCode::RateLimited,
            Self::Server { .. } | Self::Connection { .. } | Self::Malformed { .. } => {
                ErrorCode::Unavailable
            }
            Self::Timeout { .. } => ErrorCode::Timeout,
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        self.code().is_transient()
    }

    /// A 404 answer.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Rejected { status: 404, .. })
    }

    /// The failure to put into a `command.failed` reply.
    pub fn failure(&self) -> FailureInfo {
        let info = FailureInfo::new(self.code(), self.to_string());
        match self {
            Self::Rejected {
                status,
                title,
                errors,
                ..
            } => info.with_details(serde_json::json!({
                "http_status": status, "title": title, "errors": errors,
            })),
            _ => info,
        }
    }
}

/// MailChimp's error texts may quote an e-mail address ("x@y.nl is already a list member");
/// errors are logged and sent in replies, so every address in them is masked.
pub fn scrub(text: &str) -> String {
    if !text.contains('@') {
        return text.to_owned();
    }
    text.split(' ')
        .map(|word| {
            if !word.contains('@') {
                return word.to_owned();
            }
            let core = word.trim_matches(|c: char| !(c.is_alphanumeric() || c == '@'));
            if core.is_empty() {
                word.to_owned()
            } else {
                word.replace(core, &ferry_proto::mask_email(core))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_texts_never_carry_an_email_address() {
        let masked =
            scrub("A customer with the email address jan.jansen@example.nl already exists.");
        assert!(!masked.contains("jan.jansen@example.nl"), "{masked}");
        assert!(
            masked.starts_with("A customer with the email address "),
            "{masked}"
        );
        assert!(masked.ends_with(" already exists."), "{masked}");
        assert_eq!(scrub("no address here"), "no address here");
    }
}
