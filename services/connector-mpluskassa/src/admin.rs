//! Admin API of connector-mpluskassa (under `/api/v1`, bearer token required).
//!
//! | route | scope | what |
//! | --- | --- | --- |
//! | `POST /mpluskassa/connection-test` | operator | tests credentials given in the body (the secret is never echoed); the endpoint goes through the egress guard (`[egress]`), and a failure says what failed (`error.code`) without the installation's texts |
//! | `GET /mpluskassa/integrations` | read | the served installations (no secrets) |
//! | `POST /mpluskassa/integrations/{id}/connection-test` | operator | tests a served installation with the credentials the connector holds (the registry's "test saved connection": no credentials travel); `?revision=N`: 409 until this replica serves revision `N` |
//! | `GET /mpluskassa/integrations/{id}/reference-data` | read | branches, employees, payment methods, VAT and turnover groups for setup screens |
//! | `POST /mpluskassa/integrations/{id}/sync` | operator | starts a pass now (`full`: from cursor 0) |
//! | `GET /mpluskassa/integrations/{id}/cursors` | read | the committed cursors |
//! | `GET /mpluskassa/integrations/{id}/progress` | read | per enabled entity: records read, percent and time left (in sync markers), rate over the last 20 s, state (the connector kit's [`IntegrationProgress`]) |
//! | `GET /mpluskassa/stats` | read | per integration: cursors and the progress of the last passes |
//!
//! Progress is read from the kit's `connector_runs`, so every replica answers, not only the one
//! polling the integration.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use ferry_platform::admin::{ApiError, ErrorBody, OperatorAccess, ReadAccess};
use ferry_platform::config::Secret;
use ferry_platform::connector::progress::{IntegrationProgress, ResourceProgress, Run, SyncState};
use ferry_platform::egress::{TestFailure, TestFailureCode, TransportFailure};
use ferry_platform::registry::{AtRevision, SealedConnection};
use ferry_proto::IntegrationId;
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::client::{ClientError, Connection, MplusClient, MplusError, TransportKind};
use crate::config::SkuSource;
use crate::ingest::{self, Ingest, Progress};
use crate::integrations::{Integration, Integrations};
use crate::registry::RegistryListener;
use crate::soap::types::{ApiVersion, Branch, Employee, PaymentMethod, TurnoverGroup, VatGroup};
use crate::store::{self, Cursor, SyncEntity};

/// What the handlers share.
#[derive(Clone)]
pub struct AdminState {
    integrations: Integrations,
    ingest: Ingest,
    db: DatabaseConnection,
    registry: Option<Arc<RegistryListener>>,
}

impl AdminState {
    /// The state of the routes.
    pub fn new(integrations: Integrations, ingest: Ingest, db: DatabaseConnection) -> Self {
        Self {
            integrations,
            ingest,
            db,
            registry: None,
        }
    }

    /// Answers `?revision=` of calls on an integration from `registry`'s revisions.
    pub fn with_registry(mut self, registry: Arc<RegistryListener>) -> Self {
        self.registry = Some(registry);
        self
    }

    fn integration(&self, id: &str) -> Result<Arc<Integration>, ApiError> {
        let parsed = IntegrationId::parse(id)
            .map_err(|e| ApiError::invalid(format!("integration id: {e}")))?;
        self.integrations
            .get(parsed)
            .ok_or_else(|| ApiError::not_found(format!("no MplusKASSA integration {parsed}")))
    }
}

/// Credentials to test.
#[derive(Deserialize, ToSchema)]
pub struct ConnectionTestRequest {
    /// SOAP endpoint (`https://api.mpluskassa.nl:<port>/`).
    endpoint: String,
    /// `ident` credential.
    ident: String,
    /// `secret` credential (never echoed nor logged).
    #[schema(value_type = String, format = Password)]
    secret: Secret,
    /// Also check that this employee exists (default 999999).
    #[serde(default)]
    employee_number: Option<i64>,
}

/// Outcome of a connection test.
#[derive(Serialize, ToSchema)]
#[schema(as = MplusKassaConnectionTestResult)]
pub struct ConnectionTestResult {
    /// Whether the installation answered and accepted the credentials.
    ok: bool,
    /// The API version it reports.
    api_version: Option<ApiVersion>,
    /// Whether the employee exists (when the connection works).
    employee_exists: Option<bool>,
    /// What went wrong: a code and Ferry's explanation (never the installation's texts).
    error: Option<TestFailure>,
}

/// What failed, without the installation's texts or internal error messages.
fn test_failure(error: &MplusError) -> TestFailure {
    match error {
        MplusError::Transport { kind, .. } => TestFailure::transport(match kind {
            TransportKind::Refused => TransportFailure::Refused,
            TransportKind::Tls => TransportFailure::Tls,
            TransportKind::Timeout => TransportFailure::Timeout,
            TransportKind::Connect => TransportFailure::Connect,
            TransportKind::Dropped => TransportFailure::Dropped,
        }),
        MplusError::Http { status, .. } => TestFailure::status(*status),
        MplusError::Fault { fault, .. } if fault.is_auth() => TestFailure::new(
            TestFailureCode::AuthRefused,
            "the installation refused the credentials (SOAP authentication fault)",
        ),
        MplusError::Fault { .. } => TestFailure::new(
            TestFailureCode::UnexpectedAnswer,
            "the installation answered with a SOAP fault",
        ),
        MplusError::Malformed { .. } => TestFailure::new(
            TestFailureCode::UnexpectedAnswer,
            "the answer is not MplusKASSA's SOAP API (unreadable or too large)",
        ),
        MplusError::Rejected { .. } => TestFailure::new(
            TestFailureCode::UnexpectedAnswer,
            "the installation refused the request",
        ),
        MplusError::Invalid { .. } => {
            TestFailure::new(TestFailureCode::InvalidInput, error.to_string())
        }
    }
}

fn failed(error: TestFailure) -> ConnectionTestResult {
    ConnectionTestResult {
        ok: false,
        api_version: None,
        employee_exists: None,
        error: Some(error),
    }
}

async fn test_client(client: &MplusClient, employee: i64) -> ConnectionTestResult {
    let version = match client.api_version().await {
        Ok(v) => v,
        Err(e) => return failed(test_failure(&e)),
    };
    match client.employee(employee).await {
        Ok(found) => ConnectionTestResult {
            ok: true,
            api_version: Some(version),
            employee_exists: Some(found.is_some_and(|e| e.active)),
            error: None,
        },
        Err(e) => failed(test_failure(&e)),
    }
}

/// Tests credentials before they are saved.
#[utoipa::path(
    post,
    path = "/mpluskassa/connection-test",
    tag = "mpluskassa",
    request_body = ConnectionTestRequest,
    responses((status = 200, description = "The outcome (ok or the reason: a refused destination too)", body = ConnectionTestResult),
               (status = 400, description = "The endpoint is not a usable URL"))
)]
async fn connection_test(
    OperatorAccess(who): OperatorAccess,
    state: web::Data<AdminState>,
    body: web::Json<ConnectionTestRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    tracing::info!(by = %who.name, endpoint = %body.endpoint, "MplusKASSA connection test");
    let connection = Connection {
        endpoint: body.endpoint,
        ident: body.ident,
        secret: body.secret,
    };
    let result =
        test_connection(&state, &connection, body.employee_number.unwrap_or(999_999)).await?;
    tracing::info!(
        by = %who.name,
        ok = result.ok,
        failure = ?result.error.as_ref().map(|e| e.code),
        "MplusKASSA connection tested"
    );
    Ok(HttpResponse::Ok().json(result))
}

/// A served installation (no secrets).
#[derive(Serialize, ToSchema)]
#[schema(as = MplusKassaIntegrationView)]
pub struct IntegrationView {
    /// Integration id.
    integration_id: String,
    /// Endpoint.
    endpoint: String,
    /// `ident` credential.
    ident: String,
    /// Branch.
    branch: i32,
    /// Workplace.
    workplace: Option<i32>,
    /// SKU source.
    sku_source: SkuSource,
}

/// The served installations.
#[utoipa::path(get, path = "/mpluskassa/integrations", tag = "mpluskassa",
    responses((status = 200, body = [IntegrationView])))]
async fn list_integrations(
    _who: ReadAccess,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, ApiError> {
    let views: Vec<IntegrationView> = state
        .integrations
        .all()
        .iter()
        .map(|i| IntegrationView {
            integration_id: i.key(),
            endpoint: i.settings.connection.endpoint.clone(),
            ident: i.settings.connection.ident.clone(),
            branch: i.settings.branch,
            workplace: i.settings.workplace,
            sku_source: i.settings.sku_source,
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

/// Tests `connection` with a client of the connector's settings (one attempt); a
/// destination the egress guard refuses is a failed test, an unusable URL a 400.
async fn test_connection(
    state: &AdminState,
    connection: &Connection,
    employee: i64,
) -> Result<ConnectionTestResult, ApiError> {
    let settings = crate::client::ClientSettings {
        max_attempts: 1,
        ..state.integrations.client_settings()
    };
    match MplusClient::new(connection, settings) {
        Ok(client) => Ok(test_client(&client, employee).await),
        Err(ClientError::Refused(refused)) => Ok(failed(TestFailure::refused(&refused))),
        Err(e) => Err(ApiError::invalid(e.to_string())),
    }
}

/// Tests a served installation's connection (the registry's "test saved connection": no
/// credential travels in clear). `?revision=N` names the registry revision saved: a replica
/// serving it tests its own connection; one that does not yet tests the sealed credentials of
/// the body, opened with its own keyring; without them it answers 409 (retry) or 404.
#[utoipa::path(post, path = "/mpluskassa/integrations/{id}/connection-test", tag = "mpluskassa",
    params(("id" = String, Path, description = "Integration id"), AtRevision),
    request_body(content = Option<SealedConnection>, description = "The registry's sealed credentials of this revision (optional)"),
    responses((status = 200, body = ConnectionTestResult),
              (status = 400, description = "Malformed request, or sealed credentials this service cannot open"),
              (status = 404, description = "Unknown integration"),
              (status = 409, description = "This replica does not serve that revision yet: retry")))]
async fn integration_connection_test(
    _who: OperatorAccess,
    state: web::Data<AdminState>,
    id: web::Path<String>,
    at: web::Query<AtRevision>,
    sealed: Option<web::Json<SealedConnection>>,
) -> Result<HttpResponse, ApiError> {
    let parsed =
        IntegrationId::parse(&id).map_err(|e| ApiError::invalid(format!("integration id: {e}")))?;
    let current = match &state.registry {
        None => state.integration(&id),
        Some(registry) => {
            registry
                .follower()
                .serving(parsed, at.revision, state.integrations.get(parsed), || {
                    ApiError::not_found(format!("no MplusKASSA integration {parsed}"))
                })
        }
    };
    let result = match (current, sealed, &state.registry) {
        (Ok(integration), _, _) => test_client(&integration.client, 999_999).await,
        (Err(_), Some(sealed), Some(registry)) => {
            let secret = registry.follower().open_for_test(
                parsed,
                "mpluskassa.secret",
                &sealed.secret_sealed,
                &ferry_platform::registry::mpluskassa_secret_context(parsed),
            )?;
            let connection = Connection {
                endpoint: sealed.url.clone().unwrap_or_default(),
                ident: sealed.ident.clone().unwrap_or_default(),
                secret: Secret::new(secret),
            };
            test_connection(&state, &connection, 999_999).await?
        }
        (Err(e), _, _) => return Err(e),
    };
    Ok(HttpResponse::Ok().json(result))
}

/// The installation's reference data, for setup screens.
#[derive(Serialize, ToSchema)]
pub struct ReferenceData {
    /// Branches with workplaces.
    branches: Vec<Branch>,
    /// Employees (999999: the super user, Ferry's default).
    employees: Vec<Employee>,
    /// Payment methods.
    payment_methods: Vec<PaymentMethod>,
    /// VAT groups (with the percentage read in the installation's scale).
    vat_groups: Vec<VatGroup>,
    /// Turnover groups (revenue accounts).
    turnover_groups: Vec<TurnoverGroup>,
}

/// A failed MplusKASSA call: `503` when trying again later may succeed, `409` when
/// MplusKASSA refuses the integration's connection (credentials, configuration) and only an
/// operator changing it helps (scripts/api-fuzz.sh found the refusal answered `503`).
fn remote_failure(e: MplusError) -> ApiError {
    if e.is_transient() {
        ApiError::Unavailable(format!("MplusKASSA: {e}"))
    } else {
        ApiError::Conflict(format!(
            "MplusKASSA refuses this integration's connection: {e}"
        ))
    }
}

/// Reads the reference data of an installation.
#[utoipa::path(get, path = "/mpluskassa/integrations/{id}/reference-data", tag = "mpluskassa",
    params(("id" = String, Path, description = "Integration id")),
    responses((status = 200, body = ReferenceData), (status = 404, description = "Unknown integration"),
               (status = 409, description = "MplusKASSA refuses the integration's connection (e.g. its credentials)", body = ErrorBody),
               (status = 503, description = "MplusKASSA did not answer")))]
async fn reference_data(
    _who: ReadAccess,
    state: web::Data<AdminState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let integration = state.integration(&id)?;
    let c = &integration.client;
    let (branches, employees, payment_methods, vat, turnover_groups) = tokio::try_join!(
        c.branches(),
        c.employees(),
        c.payment_methods(),
        c.vat_groups(),
        c.turnover_groups()
    )
    .map_err(remote_failure)?;
    Ok(HttpResponse::Ok().json(ReferenceData {
        branches,
        employees,
        payment_methods,
        vat_groups: vat.0,
        turnover_groups,
    }))
}

/// Which sync to start.
#[derive(Deserialize, ToSchema, Default)]
#[schema(as = MplusKassaSyncRequest)]
pub struct SyncRequest {
    /// Start the entities from cursor 0 (a full sync).
    #[serde(default)]
    full: bool,
    /// Only these entities (`relations`, `products`, `article_groups`, `stock`, `orders`) for a
    /// full sync; all when empty.
    #[serde(default)]
    entities: Vec<String>,
}

/// Starts a change-detection pass now.
#[utoipa::path(post, path = "/mpluskassa/integrations/{id}/sync", tag = "mpluskassa",
    params(("id" = String, Path, description = "Integration id")),
    request_body = SyncRequest,
    responses((status = 202, description = "Started; follow it in .../progress or /mpluskassa/stats"),
               (status = 400, description = "Unknown entity"), (status = 404, description = "Unknown integration")))]
async fn trigger_sync(
    OperatorAccess(who): OperatorAccess,
    state: web::Data<AdminState>,
    id: web::Path<String>,
    body: Option<web::Json<SyncRequest>>,
) -> Result<HttpResponse, ApiError> {
    let integration = state.integration(&id)?;
    let body = body.map(web::Json::into_inner).unwrap_or_default();
    let mut entities = Vec::new();
    for name in &body.entities {
        entities.push(
            SyncEntity::parse(name)
                .ok_or_else(|| ApiError::invalid(format!("unknown entity {name:?}")))?,
        );
    }
    if entities.is_empty() {
        entities = SyncEntity::ALL.to_vec();
    }
    if body.full {
        state
            .ingest
            .reset(integration.id(), &entities)
            .await
            .map_err(ApiError::internal)?;
    }
    tracing::info!(by = %who.name, integration = %integration.id(), full = body.full, "MplusKASSA sync requested");
    // The replica owning the integration's polling runs the pass (never two at once).
    state
        .ingest
        .request_pass(integration)
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Accepted().finish())
}

/// The committed cursors of an installation.
#[utoipa::path(get, path = "/mpluskassa/integrations/{id}/cursors", tag = "mpluskassa",
    params(("id" = String, Path, description = "Integration id")),
    responses((status = 200, body = [Cursor]), (status = 404, description = "Unknown integration")))]
async fn cursors(
    _who: ReadAccess,
    state: web::Data<AdminState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let integration = state.integration(&id)?;
    let cursors = store::cursors(&state.db, integration.id())
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(cursors))
}

/// Sync progress of an installation: per enabled entity (in pass order) records read,
/// percent and time left (measured in sync markers: MplusKASSA has no record count), rate
/// over the last 20 s, of the running pass or the last one that had something to read.
#[utoipa::path(get, path = "/mpluskassa/integrations/{id}/progress", tag = "mpluskassa",
    params(("id" = String, Path, description = "Integration id")),
    responses((status = 200, body = IntegrationProgress), (status = 404, description = "Unknown integration", body = ErrorBody)))]
async fn progress(
    _who: ReadAccess,
    state: web::Data<AdminState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let integration = state.integration(&id)?;
    let stored = state
        .ingest
        .progress(integration.id())
        .await
        .map_err(ApiError::internal)?;
    let now = chrono::Utc::now();
    let resources = SyncEntity::ALL
        .into_iter()
        .filter(|&e| ingest::enabled(&integration, e))
        .map(|e| {
            stored
                .iter()
                .find(|(entity, _)| *entity == e)
                .map_or_else(Run::idle, |(_, row)| row.run())
                .view(e.as_str(), now)
        })
        .collect();
    let polled = state.ingest.config().enabled && state.integrations.is_active(integration.id());
    Ok(HttpResponse::Ok().json(IntegrationProgress::new(
        integration.key(),
        "mpluskassa",
        polled,
        now,
        resources,
    )))
}

/// Statistics of one integration.
#[derive(Serialize, ToSchema)]
pub struct IntegrationStats {
    /// Integration id.
    integration_id: String,
    /// Committed cursors with totals.
    cursors: Vec<Cursor>,
    /// The last pass of each entity.
    progress: Vec<EntityProgress>,
}

/// Progress of one entity.
#[derive(Serialize, ToSchema)]
pub struct EntityProgress {
    /// The entity.
    entity: SyncEntity,
    /// Its progress.
    #[serde(flatten)]
    progress: Progress,
}

/// Change-detection statistics of every installation.
#[utoipa::path(get, path = "/mpluskassa/stats", tag = "mpluskassa",
    responses((status = 200, body = [IntegrationStats])))]
async fn stats(_who: ReadAccess, state: web::Data<AdminState>) -> Result<HttpResponse, ApiError> {
    let mut out = Vec::new();
    for integration in state.integrations.all() {
        out.push(IntegrationStats {
            integration_id: integration.key(),
            cursors: store::cursors(&state.db, integration.id())
                .await
                .map_err(ApiError::internal)?,
            progress: state
                .ingest
                .progress(integration.id())
                .await
                .map_err(ApiError::internal)?
                .iter()
                .map(|(entity, row)| EntityProgress {
                    entity: *entity,
                    progress: Progress::of(row),
                })
                .collect(),
        });
    }
    Ok(HttpResponse::Ok().json(out))
}

/// The OpenAPI description of these routes.
#[derive(OpenApi)]
#[openapi(
    paths(
        connection_test,
        list_integrations,
        integration_connection_test,
        reference_data,
        trigger_sync,
        cursors,
        progress,
        stats
    ),
    components(schemas(
        ConnectionTestRequest,
        ConnectionTestResult,
        TestFailure,
        TestFailureCode,
        IntegrationView,
        ReferenceData,
        SyncRequest,
        IntegrationStats,
        EntityProgress,
        Progress,
        IntegrationProgress,
        ResourceProgress,
        SyncState,
        Cursor,
        SyncEntity,
        SkuSource,
        ApiVersion,
        Branch,
        Employee,
        PaymentMethod,
        VatGroup,
        TurnoverGroup
    ))
)]
pub struct MplusAdminApi;

/// Mounts the routes (relative to `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig, state: AdminState) {
    cfg.app_data(web::Data::new(state))
        .route(
            "/mpluskassa/connection-test",
            web::post().to(connection_test),
        )
        .route("/mpluskassa/integrations", web::get().to(list_integrations))
        .route(
            "/mpluskassa/integrations/{id}/connection-test",
            web::post().to(integration_connection_test),
        )
        .route(
            "/mpluskassa/integrations/{id}/reference-data",
            web::get().to(reference_data),
        )
        .route(
            "/mpluskassa/integrations/{id}/sync",
            web::post().to(trigger_sync),
        )
        .route(
            "/mpluskassa/integrations/{id}/cursors",
            web::get().to(cursors),
        )
        .route(
            "/mpluskassa/integrations/{id}/progress",
            web::get().to(progress),
        )
        .route("/mpluskassa/stats", web::get().to(stats));
}
