//! The mapper's admin API (under `/api/v1`, bearer token: `read` for GET, `operator` else).
//!
//! | route | scope | what |
//! | --- | --- | --- |
//! | `GET /integrations/{id}/settings` | read | current settings (version 0 and the defaults when never saved) |
//! | `PUT /integrations/{id}/settings` | operator | save a new version (validated; `expected_version` guards against lost updates) |
//! | `GET /integrations/{id}/settings/history` | read | every version, newest first, with who and when |
//! | `GET /integrations/{id}/mappings` | read | current user mappings |
//! | `PUT /integrations/{id}/mappings` | operator | save a new version (every expression compiled, every target path checked) |
//! | `GET /integrations/{id}/mappings/history` | read | every version |
//! | `POST /integrations/{id}/mappings/validate` | operator | check mappings without saving |
//! | `POST /integrations/{id}/preview` | operator | map a sample record with the stored (or given) settings and mappings; sends nothing |
//!
//! Invalid documents are refused with `400 invalid_request` and an `errors` list, each with
//! its `path` and, for expressions, `line` and `column`.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use ferry_platform::admin::{ApiError, ErrorBody, OperatorAccess, ReadAccess};
use ferry_proto::IntegrationId;
use ferry_proto::messages::Flow;
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::error::MappingError;
use crate::mapper::{self, IntegrationConfig, Mapped, Observed};
use crate::registry::Registry;
use crate::rules::Mappings;
use crate::settings::Settings;
use crate::store::{self, Kind, StoreError, Version};
use crate::validation::FieldError;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AdminState {
    db: DatabaseConnection,
    registry: Registry,
}

impl AdminState {
    /// State over `db`; saved settings of a registered integration are republished through
    /// `registry` (its flows are part of `integration.changed`).
    pub fn new(db: DatabaseConnection, registry: Registry) -> Self {
        Self { db, registry }
    }
}

/// A `400 invalid_request` with every problem.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidationFailure {
    /// The usual error fields.
    #[serde(flatten)]
    pub error: ErrorBody,
    /// Every problem, with its place. Absent from a `400` that refuses the request itself
    /// (a malformed integration id or body), which is a plain error object.
    #[schema(required = false)]
    pub errors: Vec<FieldError>,
}

fn validation_failure(what: &str, errors: Vec<FieldError>) -> HttpResponse {
    let error = ApiError::invalid(format!(
        "the {what} have {} problem(s); see `errors`",
        errors.len()
    ))
    .body();
    HttpResponse::BadRequest().json(ValidationFailure { error, errors })
}

/// A save.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveRequest<T> {
    /// The new document.
    pub document: T,
    /// The version the change is based on; a save based on an outdated version is a
    /// `409 conflict`. Omit to overwrite whatever is current.
    #[serde(default)]
    pub expected_version: Option<i64>,
    /// Why (kept in the history).
    #[serde(default)]
    pub comment: Option<String>,
}

/// History paging.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Most versions returned, 1 to 500 (default 50).
    limit: Option<u64>,
}

/// A sample record to map.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// The flow: `customers`, `products`, `categories`, `stock` or `orders`.
    #[schema(value_type = String, example = "products")]
    pub flow: Flow,
    /// The observed payload as a connector publishes it, e.g.
    /// `{"source": "mpluskassa", "product": {...}, "raw": {...}}`.
    pub record: Json,
    /// Settings to preview with instead of the stored ones.
    #[serde(default)]
    pub settings: Option<Settings>,
    /// Mappings to preview with instead of the stored ones.
    #[serde(default)]
    pub mappings: Option<Mappings>,
}

/// What the record would become.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewResponse {
    /// `mapped`, `skipped` or `failed`.
    pub outcome: String,
    /// The routing key it would be sent with (`mapped`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<String>,
    /// Its message type (`mapped`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_type: Option<String>,
    /// The payload it would carry (`mapped`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Json>,
    /// Why nothing would be sent (`skipped`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Every mapping error (`failed`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<MappingError>,
}

/// The result of a validation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidationResult {
    /// Whether the document is valid.
    pub valid: bool,
    /// Every problem.
    pub errors: Vec<FieldError>,
}

fn integration(raw: &str) -> Result<IntegrationId, ApiError> {
    IntegrationId::parse(raw).map_err(|e| ApiError::invalid(format!("integration id: {e}")))
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict { .. } => ApiError::Conflict(e.to_string()),
        StoreError::Corrupt { .. } => ApiError::internal(e),
        StoreError::Db(db) if ferry_platform::db::refused_text(&db) => {
            ApiError::invalid("a value holds a character no text field stores (NUL)")
        }
        StoreError::Db(db) => {
            ApiError::Unavailable(format!("database unavailable: {}", db_kind(&db)))
        }
    }
}

fn db_kind(e: &sea_orm::DbErr) -> &'static str {
    match e {
        sea_orm::DbErr::ConnectionAcquire(_) | sea_orm::DbErr::Conn(_) => "no connection",
        _ => "query failed",
    }
}

fn limit(q: &HistoryQuery) -> Result<u64, ApiError> {
    match q.limit.unwrap_or(50) {
        n @ 1..=500 => Ok(n),
        _ => Err(ApiError::invalid("limit must be 1 to 500")),
    }
}

/// Current settings.
#[utoipa::path(get, path = "/integrations/{integration_id}/settings", tag = "mapper",
    params(("integration_id" = String, Path, description = "Integration id (UUID)")),
    responses((status = 200, description = "Current settings", body = Version<Settings>)))]
async fn get_settings(
    _who: ReadAccess,
    state: web::Data<AdminState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = integration(&path)?;
    let v: Version<Settings> = store::current(&state.db, id, Kind::Settings)
        .await
        .map_err(store_error)?;
    Ok(HttpResponse::Ok().json(v))
}

/// Saves settings as a new version.
#[utoipa::path(put, path = "/integrations/{integration_id}/settings", tag = "mapper",
    params(("integration_id" = String, Path, description = "Integration id (UUID)")),
    request_body = SaveRequest<Settings>,
    responses((status = 200, description = "Saved", body = Version<Settings>),
              (status = 400, description = "Invalid settings", body = ValidationFailure),
              (status = 409, description = "Saved by someone else meanwhile")))]
async fn put_settings(
    OperatorAccess(who): OperatorAccess,
    state: web::Data<AdminState>,
    path: web::Path<String>,
    body: web::Json<SaveRequest<Settings>>,
) -> Result<HttpResponse, ApiError> {
    let id = integration(&path)?;
    let body = body.into_inner();
    let mut errors = body.document.validate();
    // A SKU rule naming a value map needs that map in the current mappings.
    let mappings: Version<Mappings> = store::current(&state.db, id, Kind::Mappings)
        .await
        .map_err(store_error)?;
    if let Err(e) = IntegrationConfig::new(id, body.document.clone(), &mappings.document) {
        errors.extend(
            e.into_iter()
                .filter(|e| e.path.starts_with("products.sku_rule.map")),
        );
    }
    errors.dedup();
    if !errors.is_empty() {
        return Ok(validation_failure("settings", errors));
    }
    save_and_answer(&state, id, Kind::Settings, &body, &who.name).await
}

/// Every version of the settings, newest first.
#[utoipa::path(get, path = "/integrations/{integration_id}/settings/history", tag = "mapper",
    params(("integration_id" = String, Path, description = "Integration id (UUID)"), HistoryQuery),
    responses((status = 200, description = "Versions", body = [Version<Settings>])))]
async fn settings_history(
    _who: ReadAccess,
    state: web::Data<AdminState>,
    path: web::Path<String>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    history_answer::<Settings>(&state, &path, Kind::Settings, &query).await
}

/// Current user mappings.
#[utoipa::path(get, path = "/integrations/{integration_id}/mappings", tag = "mapper",
    params(("integration_id" = String, Path, description = "Integration id (UUID)")),
    responses((status = 200, description = "Current mappings", body = Version<Mappings>)))]
async fn get_mappings(
    _who: ReadAccess,
    state: web::Data<AdminState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = integration(&path)?;
    let v: Version<Mappings> = store::current(&state.db, id, Kind::Mappings)
        .await
        .map_err(store_error)?;
    Ok(HttpResponse::Ok().json(v))
}

/// Saves user mappings as a new version.
#[utoipa::path(put, path = "/integrations/{integration_id}/mappings", tag = "mapper",
    params(("integration_id" = String, Path, description = "Integration id (UUID)")),
    request_body = SaveRequest<Mappings>,
    responses((status = 200, description = "Saved", body = Version<Mappings>),
              (status = 400, description = "Invalid mappings", body = ValidationFailure),
              (status = 409, description = "Saved by someone else meanwhile")))]
async fn put_mappings(
    OperatorAccess(who): OperatorAccess,
    state: web::Data<AdminState>,
    path: web::Path<String>,
    body: web::Json<SaveRequest<Mappings>>,
) -> Result<HttpResponse, ApiError> {
    let id = integration(&path)?;
    let body = body.into_inner();
    if let Err(errors) = body.document.compile() {
        return Ok(validation_failure("mappings", errors));
    }
    // The settings' SKU rule may name a value map: it must stay.
    let settings: Version<Settings> = store::current(&state.db, id, Kind::Settings)
        .await
        .map_err(store_error)?;
    if let Err(errors) = IntegrationConfig::new(id, settings.document, &body.document) {
        let errors: Vec<FieldError> = errors
            .into_iter()
            .filter(|e| e.path.starts_with("products.sku_rule.map"))
            .map(|mut e| {
                e.path = "value_maps".to_owned();
                e.message = format!("the settings' SKU rule needs it: {}", e.message);
                e
            })
            .collect();
        if !errors.is_empty() {
            return Ok(validation_failure("mappings", errors));
        }
    }
    save_and_answer(&state, id, Kind::Mappings, &body, &who.name).await
}

/// Every version of the mappings, newest first.
#[utoipa::path(get, path = "/integrations/{integration_id}/mappings/history", tag = "mapper",
    params(("integration_id" = String, Path, description = "Integration id (UUID)"), HistoryQuery),
    responses((status = 200, description = "Versions", body = [Version<Mappings>])))]
async fn mappings_history(
    _who: ReadAccess,
    state: web::Data<AdminState>,
    path: web::Path<String>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    history_answer::<Mappings>(&state, &path, Kind::Mappings, &query).await
}

/// Checks mappings without saving them.
#[utoipa::path(post, path = "/integrations/{integration_id}/mappings/validate", tag = "mapper",
    params(("integration_id" = String, Path, description = "Integration id (UUID)")),
    request_body = Mappings,
    responses((status = 200, description = "The verdict", body = ValidationResult)))]
async fn validate_mappings(
    _who: OperatorAccess,
    path: web::Path<String>,
    body: web::Json<Mappings>,
) -> Result<HttpResponse, ApiError> {
    integration(&path)?;
    let errors = body.compile().err().unwrap_or_default();
    Ok(HttpResponse::Ok().json(ValidationResult {
        valid: errors.is_empty(),
        errors,
    }))
}

/// Maps a sample record without sending anything.
#[utoipa::path(post, path = "/integrations/{integration_id}/preview", tag = "mapper",
    params(("integration_id" = String, Path, description = "Integration id (UUID)")),
    request_body = PreviewRequest,
    responses((status = 200, description = "The result or every mapping error", body = PreviewResponse),
              (status = 400, description = "The record, settings or mappings are invalid", body = ValidationFailure)))]
async fn preview(
    _who: OperatorAccess,
    state: web::Data<AdminState>,
    path: web::Path<String>,
    body: web::Json<PreviewRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = integration(&path)?;
    let body = body.into_inner();
    let observed = Observed::from_payload(body.flow, body.record).map_err(|e| {
        ApiError::invalid(format!(
            "record: not a valid observed {} payload: {e}",
            crate::error::flow_name(body.flow)
        ))
    })?;
    let settings = match body.settings {
        Some(s) => s,
        None => {
            store::current::<Settings, _>(&state.db, id, Kind::Settings)
                .await
                .map_err(store_error)?
                .document
        }
    };
    let mappings = match body.mappings {
        Some(m) => m,
        None => {
            store::current::<Mappings, _>(&state.db, id, Kind::Mappings)
                .await
                .map_err(store_error)?
                .document
        }
    };
    let config = match IntegrationConfig::new(id, settings, &mappings) {
        Ok(c) => c,
        Err(errors) => return Ok(validation_failure("settings or mappings", errors)),
    };
    Ok(HttpResponse::Ok().json(outcome(&observed, &config)))
}

/// What mapping `observed` under `config` gives, as the preview shows it.
fn outcome(observed: &Observed, config: &IntegrationConfig) -> PreviewResponse {
    match mapper::map(observed, config) {
        Ok(Mapped::Send(command)) => PreviewResponse {
            outcome: "mapped".to_owned(),
            routing_key: Some(command.routing_key()),
            message_type: Some(command.message_type().to_owned()),
            payload: Some(command.payload_json()),
            reason: None,
            errors: Vec::new(),
        },
        Ok(Mapped::Skipped(skip)) => PreviewResponse {
            outcome: "skipped".to_owned(),
            routing_key: None,
            message_type: None,
            payload: None,
            reason: Some(skip.to_string()),
            errors: Vec::new(),
        },
        Err(failure) => PreviewResponse {
            outcome: "failed".to_owned(),
            routing_key: None,
            message_type: None,
            payload: None,
            reason: Some(failure.to_string()),
            errors: failure.errors,
        },
    }
}

/// One flow of a dry run.
#[derive(Debug, Serialize, ToSchema)]
pub struct DryRunFlow {
    /// The flow.
    pub flow: String,
    /// Whether it runs.
    pub enabled: bool,
    /// `mailchimp_to_mpluskassa` or `mpluskassa_to_mailchimp`.
    pub direction: String,
    /// What a typical record of the source becomes with the stored settings and mappings
    /// (absent for a disabled flow).
    pub sample: Option<PreviewResponse>,
}

/// What the first sync would do, flow by flow: nothing is read or sent. Each enabled flow
/// maps a typical record of its source system (the preview's samples) with the integration's
/// stored settings and mappings, so that a missing VAT code, a refused SKU or a broken user
/// mapping shows before the integration goes live.
#[utoipa::path(post, path = "/integrations/{integration_id}/dry-run", tag = "mapper",
    params(("integration_id" = String, Path, description = "Integration id (UUID)")),
    responses((status = 200, description = "Every flow", body = [DryRunFlow]),
              (status = 400, description = "The stored settings or mappings are invalid", body = ValidationFailure)))]
async fn dry_run(
    _who: OperatorAccess,
    state: web::Data<AdminState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    use crate::samples;
    let id = integration(&path)?;
    let settings = store::current::<Settings, _>(&state.db, id, Kind::Settings)
        .await
        .map_err(store_error)?
        .document;
    let mappings = store::current::<Mappings, _>(&state.db, id, Kind::Mappings)
        .await
        .map_err(store_error)?
        .document;
    let config = match IntegrationConfig::new(id, settings.clone(), &mappings) {
        Ok(c) => c,
        Err(errors) => return Ok(validation_failure("settings or mappings", errors)),
    };
    let mut flows = Vec::new();
    for flow in [
        Flow::Customers,
        Flow::Products,
        Flow::Categories,
        Flow::Stock,
        Flow::Orders,
    ] {
        let switch = settings.flows.get(flow);
        let direction = serde_json::to_value(switch.direction)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let sample = if switch.enabled {
            let mut record = match flow {
                Flow::Customers => samples::customer_json(true),
                Flow::Products => samples::product_json("100200", 2),
                Flow::Categories => samples::category_json(),
                Flow::Stock => samples::stock_json("100200", "12", "2", "10"),
                Flow::Orders => samples::order_json(2, "NL", false),
            };
            record["source"] = serde_json::to_value(switch.direction.source()).unwrap_or_default();
            Some(match Observed::from_payload(flow, record) {
                Ok(observed) => outcome(&observed, &config),
                Err(e) => PreviewResponse {
                    outcome: "failed".to_owned(),
                    routing_key: None,
                    message_type: None,
                    payload: None,
                    reason: Some(format!("sample record: {e}")),
                    errors: Vec::new(),
                },
            })
        } else {
            None
        };
        flows.push(DryRunFlow {
            flow: crate::error::flow_name(flow).to_owned(),
            enabled: switch.enabled,
            direction,
            sample,
        });
    }
    Ok(HttpResponse::Ok().json(flows))
}

/// The OpenAPI description of the mapper's routes.
#[derive(OpenApi)]
#[openapi(
    paths(get_settings, put_settings, settings_history, get_mappings, put_mappings, mappings_history, validate_mappings, preview, dry_run),
    components(schemas(Settings, Mappings, PreviewRequest, PreviewResponse, DryRunFlow, ValidationFailure, ValidationResult, FieldError, MappingError)),
    tags((name = "mapper", description = "Settings, user mappings and preview per integration"))
)]
pub struct MapperApi;

/// Mounts the routes (relative to `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig, state: Arc<AdminState>) {
    cfg.app_data(web::Data::from(state))
        .route(
            "/integrations/{integration_id}/settings",
            web::get().to(get_settings),
        )
        .route(
            "/integrations/{integration_id}/settings",
            web::put().to(put_settings),
        )
        .route(
            "/integrations/{integration_id}/settings/history",
            web::get().to(settings_history),
        )
        .route(
            "/integrations/{integration_id}/mappings",
            web::get().to(get_mappings),
        )
        .route(
            "/integrations/{integration_id}/mappings",
            web::put().to(put_mappings),
        )
        .route(
            "/integrations/{integration_id}/mappings/history",
            web::get().to(mappings_history),
        )
        .route(
            "/integrations/{integration_id}/mappings/validate",
            web::post().to(validate_mappings),
        )
        .route(
            "/integrations/{integration_id}/preview",
            web::post().to(preview),
        )
        .route(
            "/integrations/{integration_id}/dry-run",
            web::post().to(dry_run),
        );
}

/// Saves a new version of a document (settings or mappings) and answers with it as stored.
async fn save_and_answer<T>(
    state: &AdminState,
    id: IntegrationId,
    kind: Kind,
    body: &SaveRequest<T>,
    who: &str,
) -> Result<HttpResponse, ApiError>
where
    T: Serialize + serde::de::DeserializeOwned + Default,
{
    let version = store::save(
        &state.db,
        id,
        kind,
        &body.document,
        who,
        body.comment.clone(),
        body.expected_version,
    )
    .await
    .map_err(store_error)?;
    tracing::info!(integration_id = %id, version, by = %who, kind = kind.as_str(), "saved");
    if kind == Kind::Settings
        && let Err(error) = state.registry.settings_changed(id, who).await
    {
        // Saved; the next change or the next start publishes the flows.
        tracing::warn!(integration_id = %id, %error, "cannot publish the changed flows");
    }
    let saved: Version<T> = store::current(&state.db, id, kind)
        .await
        .map_err(store_error)?;
    Ok(HttpResponse::Ok().json(saved))
}

/// Every version of a document, newest first.
async fn history_answer<T>(
    state: &AdminState,
    path: &str,
    kind: Kind,
    query: &HistoryQuery,
) -> Result<HttpResponse, ApiError>
where
    T: Serialize + serde::de::DeserializeOwned + Default,
{
    let id = integration(path)?;
    let versions: Vec<Version<T>> = store::history(&state.db, id, kind, limit(query)?)
        .await
        .map_err(store_error)?;
    Ok(HttpResponse::Ok().json(versions))
}
