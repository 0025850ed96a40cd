//! Admin API of the connector (under `/api/v1`, bearer token; GET needs `read`, the rest
//! `operator`):
//!
//! | route | what |
//! | --- | --- |
//! | `POST /mailchimp/connection-test` | tests credentials given in the body (`api_key`, optional `base_url`): ping + account name; the key is never echoed, logged or stored; the base URL goes through the egress guard (`[egress]`), and a failure says what failed (`error.code`) without the remote's body |
//! | `POST /mailchimp/integrations/{id}/connection-test` | tests the connection held for an integration (the registry's "test saved connection": no credentials travel); `?revision=N`: 409 until this replica serves revision `N` |
//! | `GET /mailchimp/integrations` | the connections served (no secrets) |
//! | `POST /mailchimp/integrations/{id}/sync` | starts a `full`, `incremental` or `reconcile` sync (all or some resources) on the replica owning the integration's polling; answers 202 |
//! | `GET /mailchimp/integrations/{id}/cursors` | poll watermarks and the progress of the running / last sync per resource |
//! | `GET /mailchimp/integrations/{id}/progress` | per enabled resource: done, total, percent, rate over the last 20 s, time left, state (the connector kit's [`IntegrationProgress`]), from the kit's `connector_runs` rows, so any replica answers |
//! | `GET /mailchimp/integrations/{id}/api-stats` | MailChimp calls by operation and outcome, retries, calls in flight, last error |
//!
//! The list webhook endpoint is not part of this API (it cannot carry a bearer token): see
//! [`crate::webhook`].

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use ferry_platform::admin::{ApiError, OperatorAccess, ReadAccess};
use ferry_platform::connector::cursors::{cursor_row, run_row};
use ferry_platform::connector::progress::{IntegrationProgress, ResourceProgress, Run, SyncState};
use ferry_platform::egress::{TestFailure, TestFailureCode};
use ferry_proto::IntegrationId;
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use utoipa::{OpenApi, ToSchema};

use crate::client::{ApiStatsSnapshot, CallStat};
use crate::ingest::{Ingester, SyncMode};
use crate::integrations::Integration;
use crate::registry::RegistryListener;
use crate::resource::Resource;
use crate::store;

mod connection;

pub use connection::{Audience, ConnectionTest, ConnectionTestResult, Store};

/// What the routes need.
pub struct AdminState {
    /// Database.
    pub db: DatabaseConnection,
    /// The ingester (and through it the integrations).
    pub ingester: Arc<Ingester>,
    /// Stops syncs started from the API at shutdown.
    pub shutdown: CancellationToken,
    /// The registry's revisions this replica serves (answers `?revision=`); `None`: any.
    pub registry: Option<Arc<RegistryListener>>,
}

/// A served connection, without secrets.
#[derive(Serialize, ToSchema)]
#[schema(as = MailchimpIntegrationView)]
pub struct IntegrationView {
    /// The integration.
    #[schema(value_type = String)]
    pub integration_id: IntegrationId,
    /// The key's data center.
    pub data_center: String,
    /// Base URL in use.
    pub base_url: String,
    /// Store.
    pub store_id: String,
    /// Audience.
    pub list_id: String,
    /// Simultaneous calls for the account (all replicas).
    pub concurrency: u32,
    /// This replica's share now: the account's connection slots it holds (they move to the
    /// replicas that need them).
    pub replica_concurrency: usize,
    /// Resources read.
    pub resources: Vec<Resource>,
    /// Whether list webhooks are accepted.
    pub webhooks: bool,
}

fn view(i: &Integration) -> IntegrationView {
    let c = &i.connection;
    IntegrationView {
        integration_id: c.integration_id,
        data_center: c.api_key.data_center().to_owned(),
        base_url: i.client.base_url().to_owned(),
        store_id: c.store_id.clone(),
        list_id: c.list_id.clone(),
        concurrency: c.concurrency,
        replica_concurrency: i.client.limit().share(),
        resources: c.resources.clone(),
        webhooks: c.webhook_secret.is_some(),
    }
}

/// The MailChimp connections this service serves.
#[utoipa::path(
    get,
    path = "/mailchimp/integrations",
    tag = "mailchimp",
    responses((status = 200, body = [IntegrationView]))
)]
async fn integrations(_who: ReadAccess, state: web::Data<AdminState>) -> HttpResponse {
    let all: Vec<IntegrationView> = state
        .ingester
        .integrations()
        .all()
        .iter()
        .map(|i| view(i))
        .collect();
    HttpResponse::Ok().json(all)
}

fn integration(state: &AdminState, id: &str) -> Result<Arc<Integration>, ApiError> {
    let parsed =
        IntegrationId::parse(id).map_err(|e| ApiError::invalid(format!("integration id: {e}")))?;
    state
        .ingester
        .integrations()
        .get(parsed)
        .ok_or_else(|| ApiError::not_found(format!("integration {id} has no MailChimp connection")))
}

/// What to sync.
#[derive(Deserialize, ToSchema)]
#[schema(as = MailchimpSyncRequest)]
pub struct SyncRequest {
    /// `full` (read and publish everything) or `incremental` (changes since the watermark).
    pub mode: SyncMode,
    /// Some resources only (default: all enabled).
    #[serde(default)]
    pub resources: Option<Vec<Resource>>,
}

/// A started sync.
#[derive(Serialize, ToSchema)]
pub struct SyncStarted {
    /// The integration.
    pub integration_id: String,
    /// The mode.
    pub mode: SyncMode,
    /// The resources, synced in this order.
    pub resources: Vec<Resource>,
}

/// Starts a sync; follow it with the progress (or cursors) endpoint. The replica owning the
/// integration's polling runs it (in place of its next poll, within a third of a poll lease),
/// so it never runs beside a poll of the same integration; without polling, or for an
/// integration no replica polls (paused, not live), the replica that took the call does.
#[utoipa::path(
    post,
    path = "/mailchimp/integrations/{integration_id}/sync",
    tag = "mailchimp",
    params(("integration_id" = String, Path, description = "Integration id")),
    request_body = SyncRequest,
    responses(
        (status = 202, description = "Started", body = SyncStarted),
        (status = 404, description = "No such integration", body = ferry_platform::admin::ErrorBody),
    )
)]
async fn sync(
    OperatorAccess(who): OperatorAccess,
    state: web::Data<AdminState>,
    path: web::Path<String>,
    body: web::Json<SyncRequest>,
) -> Result<HttpResponse, ApiError> {
    let integration = integration(&state, &path)?;
    let body = body.into_inner();
    let enabled = &integration.connection.resources;
    let resources: Vec<Resource> = Resource::all()
        .into_iter()
        .filter(|r| enabled.contains(r))
        .filter(|r| body.resources.as_ref().is_none_or(|only| only.contains(r)))
        .collect();
    if resources.is_empty() {
        return Err(ApiError::invalid(
            "none of the requested resources is enabled for this integration",
        ));
    }
    tracing::info!(by = %who.name, integration = %integration.id(), mode = ?body.mode, "MailChimp sync requested");
    let request = crate::ingest::SyncRequest {
        mode: body.mode,
        resources: resources.clone(),
    };
    // The replica owning the integration's polling runs it, never beside its polls; without
    // polling (or for an integration nobody polls), this replica does.
    let handed_over = state
        .ingester
        .request_sync(&integration, &request)
        .await
        .map_err(ApiError::internal)?;
    if !handed_over {
        let ingester = state.ingester.clone();
        let shutdown = state.shutdown.clone();
        let task_integration = integration.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                result = ingester.run_request(&task_integration, &request) => {
                    if let Err(error) = result {
                        tracing::warn!(%error, "requested MailChimp sync failed");
                    }
                }
            }
        });
    }
    let mode = body.mode;
    Ok(HttpResponse::Accepted().json(SyncStarted {
        integration_id: integration.id().to_string(),
        mode,
        resources,
    }))
}

/// Poll position and sync progress of one resource.
#[derive(Serialize, ToSchema)]
pub struct CursorView {
    /// The resource.
    pub resource: String,
    /// Changes since this instant are read by the next poll; `null`: never synced.
    pub watermark: Option<DateTime<Utc>>,
    /// When the last poll completed.
    pub last_poll_at: Option<DateTime<Utc>>,
    /// `idle`, `running`, `done`, `failed`.
    pub state: String,
    /// `full` or `incremental`.
    pub mode: String,
    /// Records the running or last sync has to read.
    pub total: i64,
    /// Records read so far.
    pub done: i64,
    /// Percentage read.
    pub progress_percent: f64,
    /// Records published.
    pub published: i64,
    /// Records parked as invalid.
    pub rejected: i64,
    /// Start of the running or last sync.
    pub started_at: Option<DateTime<Utc>>,
    /// Its end.
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it failed.
    pub last_error: Option<String>,
}

/// Cursors and sync progress of an integration.
#[utoipa::path(
    get,
    path = "/mailchimp/integrations/{integration_id}/cursors",
    tag = "mailchimp",
    params(("integration_id" = String, Path, description = "Integration id")),
    responses((status = 200, body = [CursorView]), (status = 404, body = ferry_platform::admin::ErrorBody))
)]
async fn cursors(
    _who: ReadAccess,
    state: web::Data<AdminState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let integration = integration(&state, &path)?;
    let id = integration.id();
    let (cursors, runs) = tokio::try_join!(
        store::CURSORS.all(&state.db, id),
        store::CURSORS.runs(&state.db, id)
    )
    .map_err(ApiError::internal)?;
    let mut resources: Vec<&str> = cursors
        .iter()
        .map(|c| c.resource.as_str())
        .chain(runs.iter().map(|r| r.resource.as_str()))
        .collect();
    resources.sort_unstable();
    resources.dedup();
    let views: Vec<CursorView> = resources
        .into_iter()
        .map(|resource| {
            CursorView::of(
                resource,
                cursors.iter().find(|c| c.resource == resource),
                runs.iter().find(|r| r.resource == resource),
            )
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

impl CursorView {
    /// A resource's cursor and its running or last sync (either may be missing).
    fn of(
        resource: &str,
        cursor: Option<&cursor_row::Model>,
        sync: Option<&run_row::Model>,
    ) -> Self {
        let total = sync.and_then(|r| r.total).unwrap_or(0);
        let done = sync.map_or(0, |r| i64::try_from(r.done()).unwrap_or(i64::MAX));
        let state = sync.map_or(SyncState::Idle.as_str(), |r| r.state.as_str());
        Self {
            progress_percent: if total > 0 {
                (done as f64 * 100.0 / total as f64).min(100.0)
            } else if state == SyncState::Done.as_str() {
                100.0
            } else {
                0.0
            },
            resource: resource.to_owned(),
            watermark: cursor.and_then(|c| c.watermark),
            last_poll_at: cursor.and_then(|c| c.polled_at),
            state: state.to_owned(),
            mode: sync.map_or("full", |r| r.mode.as_str()).to_owned(),
            total,
            done,
            published: sync.map_or(0, |r| r.published),
            rejected: sync.map_or(0, |r| r.parked),
            started_at: sync.and_then(|r| r.started_at),
            finished_at: sync.and_then(|r| r.finished_at),
            last_error: sync.and_then(|r| r.last_error.clone()),
        }
    }
}

/// Sync progress of an integration: per enabled resource (in sync order) records done, total,
/// percent, rate over the last 20 s and time left of the running sync, or the last one.
#[utoipa::path(
    get,
    path = "/mailchimp/integrations/{integration_id}/progress",
    tag = "mailchimp",
    params(("integration_id" = String, Path, description = "Integration id")),
    responses((status = 200, body = IntegrationProgress), (status = 404, body = ferry_platform::admin::ErrorBody))
)]
async fn progress(
    _who: ReadAccess,
    state: web::Data<AdminState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let integration = integration(&state, &path)?;
    let runs = store::CURSORS
        .runs(&state.db, integration.id())
        .await
        .map_err(ApiError::internal)?;
    let now = Utc::now();
    let resources = Resource::all()
        .into_iter()
        .filter(|r| integration.connection.resources.contains(r))
        .map(|r| {
            runs.iter()
                .find(|c| c.resource == r.as_str())
                .map_or_else(Run::idle, run_row::Model::run)
                .view(r.as_str(), now)
        })
        .collect();
    let integrations = state.ingester.integrations();
    let section = integrations.section();
    // A resource never synced starts at the next poll, if the poller syncs new resources.
    let polled =
        section.poll_enabled && section.initial_sync && integrations.is_active(integration.id());
    Ok(HttpResponse::Ok().json(IntegrationProgress::new(
        integration.id().to_string(),
        "mailchimp",
        polled,
        now,
        resources,
    )))
}

/// MailChimp call statistics of an integration (this replica, since start).
#[utoipa::path(
    get,
    path = "/mailchimp/integrations/{integration_id}/api-stats",
    tag = "mailchimp",
    params(("integration_id" = String, Path, description = "Integration id")),
    responses((status = 200, body = ApiStatsSnapshot), (status = 404, body = ferry_platform::admin::ErrorBody))
)]
async fn api_stats(
    _who: ReadAccess,
    state: web::Data<AdminState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let integration = integration(&state, &path)?;
    Ok(HttpResponse::Ok().json(integration.client.stats().snapshot()))
}

/// The OpenAPI description of these routes.
#[derive(OpenApi)]
#[openapi(
    paths(connection::connection_test, connection::integration_connection_test, integrations, sync, cursors, progress, api_stats),
    components(schemas(
        ConnectionTest, ConnectionTestResult, Audience, Store, IntegrationView, SyncRequest, SyncStarted,
        CursorView, ApiStatsSnapshot, CallStat, Resource, SyncMode, TestFailure, TestFailureCode,
        IntegrationProgress, ResourceProgress, SyncState
    )),
    tags((name = "mailchimp", description = "MailChimp connector"))
)]
pub struct ConnectorApi;

/// Mounts the routes (relative to `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig, state: Arc<AdminState>) {
    cfg.app_data(web::Data::from(state))
        .route(
            "/mailchimp/connection-test",
            web::post().to(connection::connection_test),
        )
        .route("/mailchimp/integrations", web::get().to(integrations))
        .route(
            "/mailchimp/integrations/{integration_id}/connection-test",
            web::post().to(connection::integration_connection_test),
        )
        .route(
            "/mailchimp/integrations/{integration_id}/sync",
            web::post().to(sync),
        )
        .route(
            "/mailchimp/integrations/{integration_id}/cursors",
            web::get().to(cursors),
        )
        .route(
            "/mailchimp/integrations/{integration_id}/progress",
            web::get().to(progress),
        )
        .route(
            "/mailchimp/integrations/{integration_id}/api-stats",
            web::get().to(api_stats),
        );
}
