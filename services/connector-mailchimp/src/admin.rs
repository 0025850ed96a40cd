//! Admin API of the connector (under `/api/v1`, bearer token; GET needs `read`, the rest
//! `operator`):
//!
//! | route | what |
//! | --- | --- |
//! | `POST /mailchimp/connection-test` | tests credentials given in the body (`api_key`, optional `base_url`): ping + account name; the key is never echoed, logged or stored; the base URL goes through the egress guard (`[egress]`), and a failure says what failed (`error.code`) without the remote's body |
//! | `POST /mailchimp/integrations/{id}/connection-test` | tests the connection held for an integration (the registry's "test saved connection": no credentials travel); `?revision=N`: 409 until this replica serves revision `N` |
//! | `GET /mailchimp/integrations` | the connections served (no secrets) |
//! | `POST /mailchimp/integrations/{id}/sync` | starts a `full` or `incremental` sync (all or some resources); answers 202 |
//! | `GET /mailchimp/integrations/{id}/cursors` | poll watermarks and the progress of the running / last sync per resource |
//! | `GET /mailchimp/integrations/{id}/progress` | per enabled resource: done, total, percent, rate over the last 20 s, time left, state (the connector kit's [`IntegrationProgress`]), from the cursor rows, so any replica answers |
//! | `GET /mailchimp/integrations/{id}/api-stats` | MailChimp calls by operation and outcome, retries, calls in flight, last error |
//!
//! The list webhook endpoint is not part of this API (it cannot carry a bearer token): see
//! [`crate::webhook`].

use std::sync::Arc;
use std::time::Instant;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use ferry_platform::admin::{ApiError, OperatorAccess, ReadAccess};
use ferry_platform::connector::progress::{
    IntegrationProgress, ResourceProgress, Run, Samples, SyncState,
};
use ferry_platform::egress::{TestFailure, TestFailureCode, TransportFailure};
use ferry_platform::registry::{AtRevision, SealedConnection};
use ferry_proto::IntegrationId;
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use utoipa::{OpenApi, ToSchema};

use crate::client::{ApiKey, ApiStatsSnapshot, CallStat, ClientError, MailchimpClient};
use crate::ingest::{Ingester, SyncMode};
use crate::integrations::Integration;
use crate::registry::RegistryListener;
use crate::resource::Resource;
use crate::store;

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

/// Credentials to test. Never echoed.
#[derive(Deserialize, ToSchema)]
pub struct ConnectionTest {
    /// The API key (`<key>-<dc>`).
    pub api_key: String,
    /// Base URL override (a sandbox); default: the key's data center.
    #[serde(default)]
    pub base_url: Option<String>,
}

/// The result of a connection test.
#[derive(Serialize, ToSchema)]
#[schema(as = MailchimpConnectionTestResult)]
pub struct ConnectionTestResult {
    /// Whether MailChimp accepted the key.
    pub ok: bool,
    /// The key's data center, when the key is well-formed.
    pub data_center: Option<String>,
    /// The account's name, when reachable.
    pub account_name: Option<String>,
    /// How long the test took.
    pub latency_ms: u64,
    /// What failed: a code and Ferry's explanation (never MailChimp's or another server's
    /// own texts).
    pub error: Option<TestFailure>,
    /// The account's audiences, to choose one (setup wizard).
    pub audiences: Vec<Audience>,
    /// The account's e-commerce stores, to choose one or create a new one.
    pub stores: Vec<Store>,
}

/// An audience (list) of the account.
#[derive(Serialize, ToSchema)]
pub struct Audience {
    /// The list id.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// An e-commerce store of the account.
#[derive(Serialize, ToSchema)]
pub struct Store {
    /// The store id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The audience it is connected to.
    pub list_id: String,
    /// Its currency.
    pub currency_code: String,
}

/// The account's audiences and stores (first 1000 of each).
async fn audiences_and_stores(
    client: &MailchimpClient,
) -> Result<(Vec<Audience>, Vec<Store>), crate::client::ClientError> {
    let text = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let lists = client
        .get(
            "lists.list",
            "/lists",
            &[
                ("count", "1000".into()),
                ("fields", "lists.id,lists.name".into()),
            ],
        )
        .await?;
    let stores = client
        .get(
            "stores.list",
            "/ecommerce/stores",
            &[
                ("count", "1000".into()),
                (
                    "fields",
                    "stores.id,stores.name,stores.list_id,stores.currency_code".into(),
                ),
            ],
        )
        .await?;
    let items = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    Ok((
        items(&lists, "lists")
            .iter()
            .map(|l| Audience {
                id: text(l, "id"),
                name: text(l, "name"),
            })
            .collect(),
        items(&stores, "stores")
            .iter()
            .map(|s| Store {
                id: text(s, "id"),
                name: text(s, "name"),
                list_id: text(s, "list_id"),
                currency_code: text(s, "currency_code"),
            })
            .collect(),
    ))
}

/// What failed, without the remote's body or internal error texts.
fn test_failure(error: &ClientError) -> TestFailure {
    match error {
        ClientError::InvalidKey(_) | ClientError::InvalidBaseUrl(_) => {
            TestFailure::new(TestFailureCode::InvalidInput, error.to_string())
        }
        ClientError::Refused(refused) => TestFailure::refused(refused),
        ClientError::Build(_) => TestFailure::new(
            TestFailureCode::Internal,
            "the HTTP client could not be built",
        ),
        ClientError::Encode { .. } => TestFailure::new(
            TestFailureCode::Internal,
            "the request could not be written",
        ),
        // A bare 403 is MailChimp's edge throttling, not a refused key.
        ClientError::Throttled { .. } => TestFailure::status(429),
        ClientError::Rejected { status, .. } | ClientError::Server { status, .. } => {
            TestFailure::status(*status)
        }
        ClientError::Timeout { .. } => TestFailure::transport(TransportFailure::Timeout),
        ClientError::Connection { failure, .. } => TestFailure::transport(*failure),
        ClientError::Malformed { .. } => TestFailure::new(
            TestFailureCode::UnexpectedAnswer,
            "the answer is not MailChimp's API (not the JSON expected, or too large)",
        ),
    }
}

/// The verdict on a client: ping, account name, audiences and stores.
async fn test_client(client: &MailchimpClient, started: Instant) -> ConnectionTestResult {
    let dc = client.data_center().to_owned();
    let outcome = async {
        client.ping().await?;
        let account = client.account().await?;
        let (audiences, stores) = audiences_and_stores(client).await?;
        Ok::<_, ClientError>((account, audiences, stores))
    }
    .await;
    match outcome {
        Ok((account, audiences, stores)) => ConnectionTestResult {
            ok: true,
            data_center: Some(dc),
            account_name: account
                .get("account_name")
                .and_then(Value::as_str)
                .map(str::to_owned),
            latency_ms: started.elapsed().as_millis() as u64,
            error: None,
            audiences,
            stores,
        },
        Err(e) => failed_test(Some(dc), started, &e),
    }
}

fn failed_test(
    data_center: Option<String>,
    started: Instant,
    e: &ClientError,
) -> ConnectionTestResult {
    ConnectionTestResult {
        ok: false,
        data_center,
        account_name: None,
        latency_ms: started.elapsed().as_millis() as u64,
        error: Some(test_failure(e)),
        audiences: Vec::new(),
        stores: Vec::new(),
    }
}

/// Tests the connection the connector holds for an integration (the registry's "test saved
/// connection": no credential travels in clear). `?revision=N` names the registry revision
/// saved: a replica serving it tests its own connection; one that does not yet (its queue
/// busy, or the change delivered to another replica) tests the sealed credentials of the
/// body, opened with its own keyring; without them it answers 409 (retry) or 404.
#[utoipa::path(
    post,
    path = "/mailchimp/integrations/{integration_id}/connection-test",
    tag = "mailchimp",
    params(("integration_id" = String, Path, description = "Integration id"), AtRevision),
    request_body(content = Option<SealedConnection>, description = "The registry's sealed credentials of this revision (optional)"),
    responses(
        (status = 200, description = "The result (ok or the reason)", body = ConnectionTestResult),
        (status = 400, description = "Malformed request, or sealed credentials this service cannot open", body = ferry_platform::admin::ErrorBody),
        (status = 404, description = "No MailChimp connection of that integration here", body = ferry_platform::admin::ErrorBody),
        (status = 409, description = "This replica does not serve that revision yet: retry", body = ferry_platform::admin::ErrorBody),
    )
)]
async fn integration_connection_test(
    OperatorAccess(who): OperatorAccess,
    state: web::Data<AdminState>,
    path: web::Path<String>,
    at: web::Query<AtRevision>,
    sealed: Option<web::Json<SealedConnection>>,
) -> Result<HttpResponse, ApiError> {
    let id = IntegrationId::parse(&path)
        .map_err(|e| ApiError::invalid(format!("integration id: {e}")))?;
    let held = state.ingester.integrations().get(id);
    let missing = || ApiError::not_found(format!("integration {id} has no MailChimp connection"));
    let current = match &state.registry {
        None => held.ok_or_else(missing),
        Some(registry) => registry.follower().serving(id, at.revision, held, missing),
    };
    let started = Instant::now();
    let result = match (current, sealed, &state.registry) {
        (Ok(integration), _, _) => test_client(&integration.client, started).await,
        (Err(_), Some(sealed), Some(registry)) => {
            let key = registry.follower().open_for_test(
                id,
                "mailchimp.api_key",
                &sealed.secret_sealed,
                &ferry_platform::registry::mailchimp_key_context(id),
            )?;
            match ApiKey::parse(&key) {
                Err(e) => failed_test(None, started, &e),
                Ok(key) => {
                    let dc = key.data_center().to_owned();
                    match MailchimpClient::new(key, sealed.url.as_deref(), test_settings(&state)) {
                        Ok(client) => test_client(&client, started).await,
                        Err(e) => failed_test(Some(dc), started, &e),
                    }
                }
            }
        }
        (Err(e), _, _) => return Err(e),
    };
    tracing::info!(by = %who.name, integration = %id, ok = result.ok, failure = ?result.error.as_ref().map(|e| e.code), "saved MailChimp connection tested");
    Ok(HttpResponse::Ok().json(result))
}

/// The client settings of a connection test: few attempts, a generous timeout.
fn test_settings(state: &AdminState) -> crate::client::ClientSettings {
    crate::client::ClientSettings {
        max_attempts: 2,
        request_timeout: std::time::Duration::from_secs(20),
        ..state.ingester.integrations().client_settings(1)
    }
}

/// Tests MailChimp credentials without storing them.
#[utoipa::path(
    post,
    path = "/mailchimp/connection-test",
    tag = "mailchimp",
    request_body = ConnectionTest,
    responses(
        (status = 200, description = "The result (ok or the reason)", body = ConnectionTestResult),
        (status = 400, description = "Malformed request", body = ferry_platform::admin::ErrorBody),
    )
)]
async fn connection_test(
    OperatorAccess(who): OperatorAccess,
    state: web::Data<AdminState>,
    body: web::Json<ConnectionTest>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let body = body.into_inner();
    let result = match ApiKey::parse(&body.api_key) {
        Err(e) => failed_test(None, started, &e),
        Ok(key) => {
            let dc = key.data_center().to_owned();
            match MailchimpClient::new(key, body.base_url.as_deref(), test_settings(&state)) {
                Ok(client) => test_client(&client, started).await,
                Err(e) => failed_test(Some(dc), started, &e),
            }
        }
    };
    tracing::info!(
        by = %who.name,
        ok = result.ok,
        failure = ?result.error.as_ref().map(|e| e.code),
        "MailChimp connection tested"
    );
    Ok(HttpResponse::Ok().json(result))
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

/// Starts a sync; follow it with the progress (or cursors) endpoint.
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
    let ingester = state.ingester.clone();
    let shutdown = state.shutdown.clone();
    let mode = body.mode;
    let run = resources.clone();
    let task_integration = integration.clone();
    tokio::spawn(async move {
        for resource in run {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                result = ingester.sync(&task_integration, resource, mode) => {
                    if let Err(error) = result {
                        tracing::warn!(%error, resource = resource.as_str(), "requested MailChimp sync failed");
                        return;
                    }
                }
            }
        }
    });
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
    let rows = store::cursors(&state.db, integration.id())
        .await
        .map_err(ApiError::internal)?;
    let views: Vec<CursorView> = rows
        .into_iter()
        .map(|c| CursorView {
            progress_percent: if c.sync_total > 0 {
                (c.sync_done as f64 * 100.0 / c.sync_total as f64).min(100.0)
            } else if c.sync_state == "done" {
                100.0
            } else {
                0.0
            },
            resource: c.resource,
            watermark: c.watermark,
            last_poll_at: c.last_poll_at,
            state: c.sync_state,
            mode: c.sync_mode,
            total: c.sync_total,
            done: c.sync_done,
            published: c.sync_published,
            rejected: c.sync_rejected,
            started_at: c.sync_started_at,
            finished_at: c.sync_finished_at,
            last_error: c.last_error,
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

/// The running or last sync of a resource, from its cursor row.
fn run(c: &store::cursor::Model) -> Run {
    let state = SyncState::parse(&c.sync_state);
    let done = u64::try_from(c.sync_done).unwrap_or(0);
    // The total is known once the first page is read (0 until then, while running).
    let total = u64::try_from(c.sync_total)
        .ok()
        .filter(|&t| t > 0 || state != SyncState::Running);
    Run {
        state,
        mode: Some(c.sync_mode.clone()),
        done,
        total,
        position: done,
        position_total: total,
        started_at: c.sync_started_at,
        finished_at: c.sync_finished_at,
        last_error: c.last_error.clone(),
        samples: Samples::from_json(c.sync_samples.as_ref()),
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
    let rows = store::cursors(&state.db, integration.id())
        .await
        .map_err(ApiError::internal)?;
    let now = Utc::now();
    let resources = Resource::all()
        .into_iter()
        .filter(|r| integration.connection.resources.contains(r))
        .map(|r| {
            rows.iter()
                .find(|c| c.resource == r.as_str())
                .map_or_else(Run::idle, run)
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
    paths(connection_test, integration_connection_test, integrations, sync, cursors, progress, api_stats),
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
            web::post().to(connection_test),
        )
        .route("/mailchimp/integrations", web::get().to(integrations))
        .route(
            "/mailchimp/integrations/{integration_id}/connection-test",
            web::post().to(integration_connection_test),
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
