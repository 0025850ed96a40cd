//! How MplusQAPI calls fail and how each failure is classified: [`MplusError`] names the
//! operation and what went wrong (transport, HTTP status, SOAP fault, unreadable answer, a
//! business result other than OK, a request that cannot be written); [`MplusError::code`]
//! maps it to the canonical [`ErrorCode`], which decides whether it is retried
//! ([`MplusError::is_transient`]). [`ClientError`]: why a client could not be built.

use std::fmt;

use ferry_mplusqapi::{Fault, WireError};
use ferry_platform::egress::{EgressError, TransportFailure};
use ferry_proto::messages::ErrorCode;

/// How a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MplusError {
    /// No usable HTTP answer: connect failure, timeout, dropped connection.
    #[error("MplusKASSA {operation}: {kind} ({message})")]
    Transport {
        /// The operation.
        operation: &'static str,
        /// What happened.
        kind: TransportKind,
        /// Details (never the URL: it carries the credentials).
        message: String,
    },
    /// An HTTP error status without a SOAP fault.
    #[error("MplusKASSA {operation}: HTTP {status}")]
    Http {
        /// The operation.
        operation: &'static str,
        /// The status.
        status: u16,
    },
    /// A SOAP fault.
    #[error("MplusKASSA {operation}: SOAP fault {} ({})", .fault.code, .fault.message)]
    Fault {
        /// The operation.
        operation: &'static str,
        /// The fault.
        fault: Fault,
    },
    /// The response could not be read.
    #[error("MplusKASSA {operation}: unreadable response: {message}")]
    Malformed {
        /// The operation.
        operation: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The installation refused the request (a result other than OK).
    #[error("MplusKASSA {operation} refused: {result}{}", if .message.is_empty() { String::new() } else { format!(": {}", .message) })]
    Rejected {
        /// The operation.
        operation: &'static str,
        /// The result enum value (`CREATE-ORDER-RESULT-FAILED`).
        result: String,
        /// The `errorMessage`.
        message: String,
    },
    /// The request cannot be written (a value out of range).
    #[error("MplusKASSA {operation}: {message}")]
    Invalid {
        /// The operation.
        operation: &'static str,
        /// Why.
        message: String,
    },
}

/// Kinds of transport failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// The connection could not be made.
    Connect,
    /// No complete answer in time.
    Timeout,
    /// The connection broke (closed without an answer, reset).
    Dropped,
    /// The egress guard refused the destination (internal, or plain http outside the sandbox
    /// mode); nothing was sent.
    Refused,
    /// The TLS handshake failed.
    Tls,
}

impl From<TransportFailure> for TransportKind {
    fn from(failure: TransportFailure) -> Self {
        match failure {
            TransportFailure::Refused => Self::Refused,
            TransportFailure::Tls => Self::Tls,
            TransportFailure::Timeout => Self::Timeout,
            TransportFailure::Connect => Self::Connect,
            TransportFailure::Dropped => Self::Dropped,
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "cannot connect",
            Self::Timeout => "timed out",
            Self::Dropped => "connection dropped",
            Self::Refused => "destination refused",
            Self::Tls => "TLS handshake failed",
        })
    }
}

impl MplusError {
    /// The operation that failed.
    pub fn operation(&self) -> &'static str {
        match self {
            Self::Transport { operation, .. }
            | Self::Http { operation, .. }
            | Self::Fault { operation, .. }
            | Self::Malformed { operation, .. }
            | Self::Rejected { operation, .. }
            | Self::Invalid { operation, .. } => operation,
        }
    }

    /// The canonical failure category.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Transport {
                kind: TransportKind::Timeout,
                ..
            } => ErrorCode::Timeout,
            // A configuration matter: trying again changes nothing.
            Self::Transport {
                kind: TransportKind::Refused,
                ..
            } => ErrorCode::Validation,
            Self::Transport { .. } | Self::Malformed { .. } => ErrorCode::Unavailable,
            Self::Http { status: 429, .. } => ErrorCode::RateLimited,
            // 408: the server gave up waiting for our request (a loaded or slow link).
            Self::Http { status: 408, .. } => ErrorCode::Timeout,
            Self::Http { status, .. } if *status >= 500 => ErrorCode::Unavailable,
            Self::Http {
                status: 401 | 403, ..
            } => ErrorCode::Auth,
            Self::Http { .. } => ErrorCode::RemoteRejected,
            Self::Fault { fault, .. } if fault.is_auth() => ErrorCode::Auth,
            Self::Fault { fault, .. } if fault.is_client() => ErrorCode::RemoteRejected,
            Self::Fault { .. } => ErrorCode::Unavailable,
            Self::Rejected { .. } => ErrorCode::RemoteRejected,
            Self::Invalid { .. } => ErrorCode::Validation,
        }
    }

    /// Whether trying again later may succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        self.code().is_transient()
    }

    /// The `status` label of `ferry_api_calls_total` for this failure.
    pub(super) fn metric_status(&self) -> String {
        match self {
            Self::Transport { kind, .. } => match kind {
                TransportKind::Connect => "connect",
                TransportKind::Timeout => "timeout",
                TransportKind::Dropped => "dropped",
                TransportKind::Refused => "refused",
                TransportKind::Tls => "tls",
            }
            .to_owned(),
            Self::Http { status, .. } => status.to_string(),
            Self::Fault { .. } => "fault".to_owned(),
            Self::Malformed { .. } => "malformed".to_owned(),
            Self::Rejected { .. } => "rejected".to_owned(),
            Self::Invalid { .. } => "invalid".to_owned(),
        }
    }
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The endpoint is not a usable http(s) URL.
    #[error("invalid MplusKASSA endpoint {endpoint:?}: {reason}")]
    Endpoint {
        /// The endpoint as configured.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(String),
    /// The egress guard refused the endpoint.
    #[error("MplusKASSA endpoint refused: {0}")]
    Refused(EgressError),
}

/// A wire error as [`MplusError::Malformed`] of `operation`.
pub fn malformed(operation: &'static str) -> impl Fn(WireError) -> MplusError {
    move |e| MplusError::Malformed {
        operation,
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_operation_and_classify() {
        let e = MplusError::Rejected {
            operation: "createOrderV3",
            result: "CREATE-ORDER-RESULT-FAILED".into(),
            message: "Article 9 not found.".into(),
        };
        assert_eq!(
            e.to_string(),
            "MplusKASSA createOrderV3 refused: CREATE-ORDER-RESULT-FAILED: Article 9 not found."
        );
        assert!(!e.is_transient());
        let t = MplusError::Transport {
            operation: "getProducts",
            kind: TransportKind::Timeout,
            message: "operation timed out".into(),
        };
        assert_eq!(t.code(), ErrorCode::Timeout);
        assert!(t.is_transient());
        let auth = MplusError::Fault {
            operation: "getApiVersion",
            fault: Fault {
                code: "SOAP-ENV:Client".into(),
                message: "Authentication failed".into(),
            },
        };
        assert_eq!(auth.code(), ErrorCode::Auth);
        assert!(
            MplusError::Http {
                operation: "x",
                status: 503
            }
            .is_transient()
        );
        // A request timeout from the server is retried like a timeout of ours.
        let timeout = MplusError::Http {
            operation: "findOrder",
            status: 408,
        };
        assert_eq!(timeout.code(), ErrorCode::Timeout);
        assert!(timeout.is_transient());
        assert!(
            !MplusError::Http {
                operation: "x",
                status: 400
            }
            .is_transient()
        );
    }
}
