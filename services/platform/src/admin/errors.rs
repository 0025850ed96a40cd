//! The admin API's single error type and its table of codes.
//!
//! Every error leaves the server as
//!
//! ```json
//! {"message": "…", "code": "not_found", "type": "invalid_request", "link": "…#error-not_found"}
//! ```
//!
//! with the HTTP status from [`ErrorCode::status`]. Internal errors are logged with their
//! cause and answered with a fixed message, so no detail leaks.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::config::Scope;

/// Where error codes are documented (the project README, section "Admin API errors");
/// `link` is this plus `#error-<code>`.
pub const ERROR_DOCS: &str = "README.md";

/// Broad class of an error (the body's `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    /// The caller can fix the request.
    InvalidRequest,
    /// Authentication or authorization failed.
    Auth,
    /// The server failed; retrying may help.
    Internal,
}

/// Stable machine-readable error codes (the body's `code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Malformed or invalid request (body, query, path).
    InvalidRequest,
    /// The resource does not exist.
    NotFound,
    /// No valid bearer token.
    Unauthorized,
    /// The token's scope does not allow this call.
    Forbidden,
    /// The request conflicts with the resource's current state.
    Conflict,
    /// The request body is larger than the admin server reads (`admin.max_body_bytes`).
    PayloadTooLarge,
    /// Too many failed authentications from this address; try again after `Retry-After`.
    RateLimited,
    /// A dependency (bus, database) is unavailable.
    Unavailable,
    /// Unexpected server failure.
    Internal,
}

impl ErrorCode {
    /// The one table: code -> (HTTP status, code string, type).
    const fn spec(self) -> (StatusCode, &'static str, ErrorType) {
        match self {
            ErrorCode::InvalidRequest => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                ErrorType::InvalidRequest,
            ),
            ErrorCode::NotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                ErrorType::InvalidRequest,
            ),
            ErrorCode::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", ErrorType::Auth),
            ErrorCode::Forbidden => (StatusCode::FORBIDDEN, "forbidden", ErrorType::Auth),
            ErrorCode::Conflict => (StatusCode::CONFLICT, "conflict", ErrorType::InvalidRequest),
            ErrorCode::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                ErrorType::InvalidRequest,
            ),
            ErrorCode::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                ErrorType::Auth,
            ),
            ErrorCode::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                ErrorType::Internal,
            ),
            ErrorCode::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                ErrorType::Internal,
            ),
        }
    }

    /// HTTP status of this code.
    pub const fn status(self) -> StatusCode {
        self.spec().0
    }

    /// The code as it appears in bodies (`not_found`).
    pub const fn as_str(self) -> &'static str {
        self.spec().1
    }

    /// The broad class of this code.
    pub const fn error_type(self) -> ErrorType {
        self.spec().2
    }

    /// Documentation link of this code.
    pub fn link(self) -> String {
        format!("{ERROR_DOCS}#error-{}", self.as_str())
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Human-readable description.
    pub message: String,
    /// Stable error code.
    pub code: ErrorCode,
    /// Broad class of the error.
    #[serde(rename = "type")]
    pub error_type: ErrorType,
    /// Documentation of the code.
    pub link: String,
}

/// Why an admin API call failed. Handlers return `Result<_, ApiError>`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or invalid; the message says why.
    #[error("{0}")]
    InvalidRequest(String),
    /// Something named by the request does not exist.
    #[error("{0}")]
    NotFound(String),
    /// No bearer token, or an unknown one.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The token is valid but its scope does not allow the call.
    #[error("this call requires a token with the `{required}` scope")]
    Forbidden {
        /// The scope the call needs.
        required: Scope,
    },
    /// The token is limited to other integrations than the call names (or the call names
    /// none); the message says which it may use.
    #[error("{0}")]
    OutsideIntegrations(String),
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// The request body exceeds the configured limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Too many failed authentications from the caller's address (`admin.auth_failures_per_minute`).
    #[error("too many failed authentications from this address; try again in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until the address may try again.
        retry_after_secs: u64,
    },
    /// A dependency is unavailable; the message names it (no details).
    #[error("{0}")]
    Unavailable(String),
    /// Anything unexpected. The cause is logged, never sent.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// Wraps an unexpected failure; the caller sees only `internal error`.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ApiError::Internal(cause.into())
    }

    /// `not_found` with a message like `dead letter 0190… not found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::NotFound(message.into())
    }

    /// `invalid_request` with a message saying what is wrong.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::InvalidRequest(message.into())
    }

    /// This error's code.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::InvalidRequest(_) => ErrorCode::InvalidRequest,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::Unauthorized(_) => ErrorCode::Unauthorized,
            ApiError::Forbidden { .. } | ApiError::OutsideIntegrations(_) => ErrorCode::Forbidden,
            ApiError::Conflict(_) => ErrorCode::Conflict,
            ApiError::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            ApiError::RateLimited { .. } => ErrorCode::RateLimited,
            ApiError::Unavailable(_) => ErrorCode::Unavailable,
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The JSON body sent for this error.
    pub fn body(&self) -> ErrorBody {
        let code = self.code();
        ErrorBody {
            message: self.to_string(),
            code,
            error_type: code.error_type(),
            link: code.link(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code().status()
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(error = %cause, "admin API call failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::Unauthorized(_) => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer realm="ferry""#),
                ));
            }
            ApiError::Forbidden { .. } => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer realm="ferry", error="insufficient_scope""#),
                ));
            }
            ApiError::RateLimited { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            _ => {}
        }
        response.json(self.body())
    }
}

/// Turns actix's extractor errors (bad JSON, query or path) into `invalid_request` bodies.
pub(crate) fn extractor_error(err: impl fmt::Display) -> actix_web::Error {
    ApiError::InvalidRequest(err.to_string()).into()
}

/// A JSON body's error: `payload_too_large` (413) over the limit, else `invalid_request`.
pub(crate) fn json_error(err: actix_web::error::JsonPayloadError) -> actix_web::Error {
    use actix_web::error::JsonPayloadError;
    match err {
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => ApiError::PayloadTooLarge(
            format!("the request body is larger than {limit} bytes (admin.max_body_bytes)"),
        )
        .into(),
        other => extractor_error(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_cause() {
        let err = ApiError::internal("password=hunter2 in connection string");
        let body = err.body();
        assert_eq!(body.message, "internal error");
        assert_eq!(body.code, ErrorCode::Internal);
        assert_eq!(err.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn the_table_maps_codes_to_statuses() {
        assert_eq!(ErrorCode::NotFound.status(), StatusCode::NOT_FOUND);
        assert_eq!(ErrorCode::Conflict.as_str(), "conflict");
        assert!(ErrorCode::Forbidden.link().ends_with("#error-forbidden"));
        assert_eq!(ErrorCode::Unauthorized.error_type(), ErrorType::Auth);
    }
}
