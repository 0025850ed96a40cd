//! The one error a connector's command returns: transient, permanent or rate-limited, each
//! with the reason the requester and the activity log are told ([`FailureInfo`]).

use std::time::Duration;

use ferry_proto::messages::{ErrorCode, FailureInfo};
use sea_orm::DbErr;

/// Why a command did not succeed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandError {
    /// May pass later (timeouts, 5xx, a database hiccup, a record another command holds):
    /// retried through the bus's delay queues; on the last attempt the requester is told and
    /// the command parked for a replay.
    #[error("{}", .0.message)]
    Transient(FailureInfo),
    /// Will not pass as it is (refused credentials, the API's business refusals, a SKU the
    /// target cannot take): the requester is told at once, the command is done.
    #[error("{}", .0.message)]
    Permanent(FailureInfo),
    /// The API's rate limit: retried like a transient failure, never counted as the target's
    /// fault.
    #[error("{}", .info.message)]
    RateLimited {
        /// The reason.
        info: FailureInfo,
        /// What the API asked for, when it said (MailChimp never does).
        retry_after: Option<Duration>,
    },
}

impl CommandError {
    /// A permanent failure with `code`.
    pub fn permanent(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Permanent(FailureInfo::new(code, message).with_retryable(false))
    }

    /// A transient failure with `code`.
    pub fn transient(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Transient(FailureInfo::new(code, message).with_retryable(true))
    }

    /// A permanent failure whose reply carries `details` (e.g. the missing SKUs).
    pub fn permanent_with(
        code: ErrorCode,
        message: impl Into<String>,
        details: serde_json::Value,
    ) -> Self {
        Self::Permanent(
            FailureInfo::new(code, message)
                .with_retryable(false)
                .with_details(details),
        )
    }

    /// Whether another attempt may pass.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::Permanent(_))
    }

    /// The reason.
    pub fn info(&self) -> &FailureInfo {
        match self {
            Self::Transient(f) | Self::Permanent(f) | Self::RateLimited { info: f, .. } => f,
        }
    }

    /// The reason, owned.
    pub fn into_info(self) -> FailureInfo {
        match self {
            Self::Transient(f) | Self::Permanent(f) | Self::RateLimited { info: f, .. } => f,
        }
    }
}

impl From<DbErr> for CommandError {
    fn from(e: DbErr) -> Self {
        Self::transient(ErrorCode::Unavailable, format!("database: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_say_whether_to_retry_and_keep_their_reason() {
        let p = CommandError::permanent(ErrorCode::Mapping, "SKU GC-25 is not numeric");
        assert!(!p.is_retryable());
        assert!(!p.info().retryable);
        assert_eq!(p.to_string(), "SKU GC-25 is not numeric");
        let t = CommandError::from(DbErr::Custom("gone".into()));
        assert!(t.is_retryable());
        assert_eq!(t.info().code, ErrorCode::Unavailable);
        let r = CommandError::RateLimited {
            info: FailureInfo::new(ErrorCode::RateLimited, "429"),
            retry_after: None,
        };
        assert!(r.is_retryable());
        assert_eq!(r.into_info().code, ErrorCode::RateLimited);
    }
}
