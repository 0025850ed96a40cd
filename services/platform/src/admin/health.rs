//! Liveness, readiness and metrics endpoints (no authentication).
//!
//! - `GET /healthz`: the process serves HTTP: `200 {"status":"ok"}`.
//! - `GET /readyz`: every [`ReadinessCheck`] runs concurrently, each bounded by a timeout;
//!   `200` when all pass, else `503`. The body names each check and its status (`ok`,
//!   `failed`, `timeout`); failure details go to the log only, since the endpoint is open.
//! - `GET /metrics`: the Prometheus registry ([`crate::metrics`]) in the OpenMetrics text
//!   format. Unauthenticated, like most scrape targets: it holds counters labelled with queue,
//!   exchange, step and API operation names, never personal data or secrets. Keep the admin
//!   port off public networks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

/// Something `/readyz` checks: the broker connection, the database, …
///
/// The bus and [`crate::db::DbReadiness`] implement it; services can add their own.
#[async_trait::async_trait]
pub trait ReadinessCheck: Send + Sync {
    /// `Ok(())` when ready; otherwise why not (logged, not served).
    async fn check(&self) -> Result<(), String>;
}

/// The registered checks and their common timeout.
pub(crate) struct Readiness {
    pub(crate) checks: Vec<(String, Arc<dyn ReadinessCheck>)>,
    pub(crate) timeout: Duration,
}

/// Body of `/healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthBody {
    /// Always `ok`.
    pub status: &'static str,
}

/// Status of one readiness check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// The check passed.
    Ok,
    /// The check reported a problem.
    Failed,
    /// The check did not answer in time.
    Timeout,
}

/// Body of `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessBody {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// Each check by name.
    pub checks: BTreeMap<String, CheckStatus>,
}

/// Liveness probe.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses((status = 200, description = "The process is alive", body = HealthBody))
)]
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthBody { status: "ok" })
}

/// Runs every readiness check, each bounded by the common timeout.
async fn run_checks(readiness: &Readiness) -> BTreeMap<String, CheckStatus> {
    let timeout = readiness.timeout;
    let runs = readiness.checks.iter().map(|(name, check)| async move {
        let status = match tokio::time::timeout(timeout, check.check()).await {
            Ok(Ok(())) => CheckStatus::Ok,
            Ok(Err(reason)) => {
                tracing::warn!(check = %name, %reason, "readiness check failed");
                CheckStatus::Failed
            }
            Err(_) => {
                tracing::warn!(check = %name, timeout_ms = timeout.as_millis() as u64, "readiness check timed out");
                CheckStatus::Timeout
            }
        };
        (name.clone(), status)
    });
    futures::future::join_all(runs).await.into_iter().collect()
}

/// Readiness probe: runs every readiness check.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "Every dependency is reachable", body = ReadinessBody),
        (status = 503, description = "At least one dependency is not", body = ReadinessBody),
    )
)]
pub(crate) async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    let checks = run_checks(&readiness).await;
    let ready = checks.values().all(|s| *s == CheckStatus::Ok);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    HttpResponse::build(status).json(ReadinessBody {
        status: if ready { "ready" } else { "not_ready" },
        checks,
    })
}

/// Prometheus metrics of this process.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    responses((status = 200, description = "Metrics in the OpenMetrics text format", content_type = "application/openmetrics-text", body = String))
)]
pub(crate) async fn metrics(readiness: web::Data<Readiness>) -> HttpResponse {
    // Gauges of database state (parked messages, failed sagas, the pool) are read now, and
    // each readiness check (bus, database) sets `ferry_dependency_up`.
    let metrics = crate::metrics::global();
    let (_, checks) = futures::future::join(metrics.refresh(), run_checks(&readiness)).await;
    for (name, status) in &checks {
        metrics.set_dependency_up(name, *status == CheckStatus::Ok);
    }
    HttpResponse::Ok()
        .content_type(crate::metrics::CONTENT_TYPE)
        .body(crate::metrics::encode())
}
