//! The audit trail of state-changing admin calls (issue 19, finding 6).
//!
//! Every call under `/api/v1` that needs the `operator` scope (any method but `GET`, `HEAD`,
//! `OPTIONS`), allowed or refused, is
//! - logged at `info` with the target `ferry::audit` (token name, method, path, status; never
//!   a body or a query string: paths carry ids only), for the log collector to keep;
//! - kept in memory (the newest [`CAPACITY`] of this process), served newest first at
//!   `GET /api/v1/audit` (operator scope: it names the tokens).

use std::collections::VecDeque;
use std::sync::Mutex;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::OperatorAccess;

/// Records kept in memory per process.
pub const CAPACITY: usize = 1000;

/// One state-changing admin call.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditRecord {
    /// When it was answered.
    pub at: DateTime<Utc>,
    /// The name of the token presented, `null` when none was valid.
    pub token: Option<String>,
    /// The HTTP method.
    pub method: String,
    /// The path (without the query string).
    pub path: String,
    /// The HTTP status answered.
    pub status: u16,
}

/// The newest records of this process.
#[derive(Debug, Default)]
pub struct AuditTrail {
    records: Mutex<VecDeque<AuditRecord>>,
}

impl AuditTrail {
    /// Logs and keeps one record.
    pub fn record(&self, record: AuditRecord) {
        tracing::info!(
            target: "ferry::audit",
            token = record.token.as_deref().unwrap_or("-"),
            method = %record.method,
            path = %record.path,
            status = record.status,
            "admin call"
        );
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        if records.len() >= CAPACITY {
            records.pop_front();
        }
        records.push_back(record);
    }

    /// The records kept, newest first.
    pub fn newest_first(&self) -> Vec<AuditRecord> {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records.iter().rev().cloned().collect()
    }
}

/// The state-changing admin calls of this process, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "admin",
    responses(
        (status = 200, description = "The newest state-changing calls (up to 1000), newest first", body = [AuditRecord]),
    )
)]
pub(crate) async fn audit(_who: OperatorAccess, trail: web::Data<AuditTrail>) -> HttpResponse {
    HttpResponse::Ok().json(trail.newest_first())
}
