//! The registry's admin API (under `/api/v1`; `read` for GET, `operator` otherwise).
//!
//! | route | scope | what |
//! | --- | --- | --- |
//! | `POST /integrations` | operator | create a draft integration with both connections (credentials sealed) |
//! | `GET /integrations` | read | every integration (hints, never credentials) |
//! | `GET /integrations/{id}` | read | one integration |
//! | `PATCH /integrations/{id}` | operator | change name, connection settings, credentials (`expected_version` guards) |
//! | `POST /integrations/{id}/go-live` | operator | draft -> live |
//! | `POST /integrations/{id}/pause` | operator | live -> paused (connectors stop polling, defer commands) |
//! | `POST /integrations/{id}/resume` | operator | paused -> live |
//! | `DELETE /integrations/{id}` | operator | remove credentials, settings, mappings; connectors erase cursors and cross-references |
//! | `POST /integrations/{id}/test` | operator | test both saved connections: each connector tests the connection it holds |
//! | `POST /integrations/credentials/rotate` | operator | re-seal every credential under the current key |
//!
//! The connection test sends no credential in clear: it asks each connector to test the
//! connection it holds for the integration (`POST /api/v1/mailchimp/integrations/{id}/connection-test`,
//! `POST /api/v1/mpluskassa/integrations/{id}/connection-test`), opened by the connector
//! itself from the registry's sealed `integration.changed`, at the revision just saved
//! (`?revision=`). A replica that does not serve that revision yet (its queue busy, or the
//! change delivered to another replica) tests the sealed credentials sent along, opened with
//! its own keyring. The call goes over the internal admin HTTP with the operator token of
//! `[mapper.registry]`; without configured URLs (the all-in-one `ferry run`) to the admin
//! server it is served by, with the caller's own token. Only the connectors' verdicts come
//! back.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use ferry_platform::admin::{ApiError, OperatorAccess, ReadAccess};
use ferry_platform::config::Secret;
use ferry_proto::IntegrationId;
use serde::Serialize;
use serde_json::{Value as Json, json};
use utoipa::{OpenApi, ToSchema};

use crate::config::RegistrySection;
use crate::registry::{
    IntegrationPatch, IntegrationView, MailchimpInput, MailchimpPatch, MailchimpView, MplusInput,
    MplusPatch, MplusView, NewIntegration, Registry, RegistryError, State, Transition,
};

/// Shared state of the registry handlers.
pub struct RegistryState {
    registry: Registry,
    links: RegistrySection,
    http: reqwest::Client,
}

impl RegistryState {
    /// State over `registry`, reaching the connectors as `links` says.
    pub fn new(
        registry: Registry,
        links: RegistrySection,
    ) -> Result<Self, ferry_platform::service::ServiceError> {
        let mut http =
            reqwest::Client::builder().timeout(Duration::from_secs(links.test_timeout_secs.max(1)));
        if let Some(ca) = &links.admin_ca_file {
            let pem = std::fs::read(ca).map_err(|e| {
                ferry_platform::service::ServiceError::from(format!(
                    "mapper.registry.admin_ca_file {}: {e}",
                    ca.display()
                ))
            })?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)? {
                http = http.add_root_certificate(cert);
            }
        }
        let http = http.build()?;
        Ok(Self {
            registry,
            links,
            http,
        })
    }
}

fn integration(raw: &str) -> Result<IntegrationId, ApiError> {
    IntegrationId::parse(raw).map_err(|e| ApiError::invalid(format!("integration id: {e}")))
}

fn api_error(e: RegistryError) -> ApiError {
    match e {
        RegistryError::NotFound(_) => ApiError::NotFound(e.to_string()),
        RegistryError::Invalid { .. } => ApiError::invalid(e.to_string()),
        RegistryError::Conflict(_) => ApiError::Conflict(e.to_string()),
        RegistryError::NoKeyring => ApiError::Unavailable(e.to_string()),
        RegistryError::Credential { .. } | RegistryError::Encode(_) => ApiError::internal(e),
        RegistryError::Db(e) if ferry_platform::db::refused_text(&e) => {
            ApiError::invalid("a value holds a character no text field stores (NUL)")
        }
        RegistryError::Db(e) => {
            tracing::warn!(error = %e, "registry: database error");
            ApiError::Unavailable("database unavailable".to_owned())
        }
    }
}

/// Creates a draft integration.
#[utoipa::path(post, path = "/integrations", tag = "registry",
    request_body = NewIntegration,
    responses((status = 201, description = "Created (draft)", body = IntegrationView),
              (status = 400, description = "A value is invalid"),
              (status = 503, description = "No credentials key configured")))]
async fn create(
    OperatorAccess(who): OperatorAccess,
    state: web::Data<RegistryState>,
    body: web::Json<NewIntegration>,
) -> Result<HttpResponse, ApiError> {
    let view = state
        .registry
        .create(body.into_inner(), &who.name)
        .await
        .map_err(api_error)?;
    Ok(HttpResponse::Created().json(view))
}

/// Every integration.
#[utoipa::path(get, path = "/integrations", tag = "registry",
    responses((status = 200, description = "Integrations", body = [IntegrationView])))]
async fn list(_who: ReadAccess, state: web::Data<RegistryState>) -> Result<HttpResponse, ApiError> {
    let all = state.registry.list().await.map_err(api_error)?;
    Ok(HttpResponse::Ok().json(all))
}

/// One integration.
#[utoipa::path(get, path = "/integrations/{integration_id}", tag = "registry",
    params(("integration_id" = String, Path, description = "Integration id (UUID)")),
    responses((status = 200, description = "The integration", body = IntegrationView),
              (status = 404, description = "Not in the registry")))]
async fn get(
    _who: ReadAccess,
    state: web::Data<RegistryState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = integration(&path)?;
    let view = state.registry.get(id).await.map_err(api_error)?;
    Ok(HttpResponse::Ok().json(view))
}

/// Changes an integration.
#[utoipa::path(patch, path = "/integrations/{integration_id}", tag = "registry",
    params(("integration_id" = String, Path, description = "Integration id (UUID)")),
    request_body = IntegrationPatch,
    responses((status = 200, description = "Changed", body = IntegrationView),
              (status = 400, description = "A value is invalid"),
              (status = 404, description = "Not in the registry"),
              (status = 409, description = "Changed by someone else meanwhile")))]
async fn patch(
    OperatorAccess(who): OperatorAccess,
    state: web::Data<RegistryState>,
    path: web::Path<String>,
    body: web::Json<IntegrationPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = integration(&path)?;
    let view = state
        .registry
        .patch(id, body.into_inner(), &who.name)
        .await
        .map_err(api_error)?;
    Ok(HttpResponse::Ok().json(view))
}

async fn transition(
    who: &str,
    state: &RegistryState,
    path: &str,
    transition: Transition,
) -> Result<HttpResponse, ApiError> {
    let id = integration(path)?;
    let view = state
        .registry
        .transition(id, transition, who)
        .await
        .map_err(api_error)?;
    Ok(HttpResponse::Ok().json(view))
}

/// Draft -> live: the connectors start syncing.
#[utoipa::path(post, path = "/integrations/{integration_id}/go-live", tag = "registry",
    params(("integration_id" = String, Path, description = "Integration id (UUID)")),
    responses((status = 200, description = "Live", body = IntegrationView),
              (status = 409, description = "Not a draft")))]
async fn go_live(
    OperatorAccess(who): OperatorAccess,
    state: web::Data<RegistryState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    transition(&who.name, &state, &path, Transition::GoLive).await
}

/// Live -> paused: the connectors stop polling (cursors stay) and defer its commands.
#[utoipa::path(post, path = "/integrations/{integration_id}/pause", tag = "registry",
    params(("integration_id" = String, Path, description = "Integration id (UUID)")),
    responses((status = 200, description = "Paused", body = IntegrationView),
              (status = 409, description = "Not live")))]
async fn pause(
    OperatorAccess(who): OperatorAccess,
    state: web::Data<RegistryState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    transition(&who.name, &state, &path, Transition::Pause).await
}

/// Paused -> live: polling resumes from the cursors, so changes made meanwhile sync.
#[utoipa::path(post, path = "/integrations/{integration_id}/resume", tag = "registry",
    params(("integration_id" = String, Path, description = "Integration id (UUID)")),
    responses((status = 200, description = "Live again", body = IntegrationView),
              (status = 409, description = "Not paused")))]
async fn resume(
    OperatorAccess(who): OperatorAccess,
    state: web::Data<RegistryState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    transition(&who.name, &state, &path, Transition::Resume).await
}

/// Deletes an integration with its credentials, settings and mappings.
#[utoipa::path(delete, path = "/integrations/{integration_id}", tag = "registry",
    params(("integration_id" = String, Path, description = "Integration id (UUID)")),
    responses((status = 204, description = "Deleted"),
              (status = 404, description = "Not in the registry")))]
async fn delete(
    OperatorAccess(who): OperatorAccess,
    state: web::Data<RegistryState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = integration(&path)?;
    state
        .registry
        .delete(id, &who.name)
        .await
        .map_err(api_error)?;
    Ok(HttpResponse::NoContent().finish())
}

/// The result of a rotation.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotateResult {
    /// Integrations whose credentials were re-sealed.
    pub resealed: u64,
}

/// Re-seals every credential under the current key. Afterwards the old key can be removed
/// from `FERRY_CREDENTIALS_KEY` (of the mapper and the connectors).
#[utoipa::path(post, path = "/integrations/credentials/rotate", tag = "registry",
    responses((status = 200, description = "Re-sealed", body = RotateResult),
              (status = 503, description = "No credentials key configured")))]
async fn rotate(
    OperatorAccess(who): OperatorAccess,
    state: web::Data<RegistryState>,
) -> Result<HttpResponse, ApiError> {
    let resealed = state.registry.rotate(&who.name).await.map_err(api_error)?;
    Ok(HttpResponse::Ok().json(RotateResult { resealed }))
}

/// Both connections' verdicts.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestResult {
    /// Both connections work.
    pub ok: bool,
    /// The MailChimp connector's answer (`{ok, data_center, account_name, latency_ms, error}`),
    /// or `{ok: false, error}` when it could not be asked.
    #[schema(value_type = Object)]
    pub mailchimp: Json,
    /// The MplusKASSA connector's answer (`{ok, api_version, employee_exists, error}`).
    #[schema(value_type = Object)]
    pub mpluskassa: Json,
}

/// Tests both saved connections through the connectors.
#[utoipa::path(post, path = "/integrations/{integration_id}/test", tag = "registry",
    params(("integration_id" = String, Path, description = "Integration id (UUID)")),
    responses((status = 200, description = "Both verdicts", body = TestResult),
              (status = 404, description = "Not in the registry")))]
async fn test(
    OperatorAccess(who): OperatorAccess,
    request: HttpRequest,
    state: web::Data<RegistryState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = integration(&path)?;
    // The connectors test the credentials they hold (opened from the registry's sealed
    // event) when they serve this revision; else the sealed ones sent along, opened with
    // their own keyring. Nothing travels in clear.
    let (view, mailchimp_sealed, mpluskassa_sealed) =
        state.registry.sealed(id).await.map_err(api_error)?;
    tracing::info!(integration_id = %id, by = %who.name, revision = view.version, "testing the saved connections");
    // Without configured URLs the connectors are served by this very admin server.
    let own = {
        let addr = request.app_config().local_addr();
        let host = if addr.ip().is_unspecified() {
            std::net::SocketAddr::from(([127, 0, 0, 1], addr.port()))
        } else {
            addr
        };
        format!("http://{host}")
    };
    let token = match &state.links.admin_token {
        Some(token) => token.clone(),
        None => Secret::new(caller_token(&request)?),
    };
    let url = |base: Option<&str>, system: &str| {
        format!(
            "{}/api/v1/{system}/integrations/{id}/connection-test?revision={}",
            base.unwrap_or(&own).trim_end_matches('/'),
            view.version
        )
    };
    let mailchimp_url = url(state.links.mailchimp_admin_url.as_deref(), "mailchimp");
    let mpluskassa_url = url(state.links.mpluskassa_admin_url.as_deref(), "mpluskassa");
    let (mailchimp, mpluskassa) = tokio::join!(
        ask(&state.http, &mailchimp_url, &token, &mailchimp_sealed),
        ask(&state.http, &mpluskassa_url, &token, &mpluskassa_sealed),
    );
    let ok = |v: &Json| v.get("ok").and_then(Json::as_bool).unwrap_or(false);
    Ok(HttpResponse::Ok().json(TestResult {
        ok: ok(&mailchimp) && ok(&mpluskassa),
        mailchimp,
        mpluskassa,
    }))
}

fn caller_token(request: &HttpRequest) -> Result<String, ApiError> {
    request
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
        .ok_or(ApiError::Unauthorized("a bearer token is required"))
}

/// How long a connector is given to learn the revision just saved (the registry's event).
const CONNECTOR_CATCH_UP: Duration = Duration::from_secs(15);

/// Asks a connector to test the connection it holds; its JSON answer, or a verdict saying why
/// there is none. A connector that does not serve the integration (404) or this revision (409)
/// yet is asked again until [`CONNECTOR_CATCH_UP`] has passed.
async fn ask(
    http: &reqwest::Client,
    url: &str,
    token: &Secret,
    sealed: &ferry_platform::registry::SealedConnection,
) -> Json {
    let unreachable = |message: String| json!({"ok": false, "error": {"code": "connector_unreachable", "message": message}});
    let deadline = tokio::time::Instant::now() + CONNECTOR_CATCH_UP;
    loop {
        let response = match http
            .post(url)
            .bearer_auth(token.expose())
            .json(sealed)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                let kind = if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "connection refused"
                } else {
                    "request failed"
                };
                return unreachable(format!("the connector at {} {kind}", redact(url)));
            }
        };
        let status = response.status();
        let behind =
            status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::CONFLICT;
        if behind && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        }
        return match response.json::<Json>().await {
            Ok(answer) if status.is_success() => answer,
            Ok(answer) => json!({"ok": false, "error": {
                "code": if behind { "connector_behind" } else { "connector_refused" },
                "message": format!("the connector answered {status}: {}", answer.get("message").and_then(Json::as_str).unwrap_or("")),
            }}),
            Err(_) => unreachable(format!(
                "the connector at {} answered {status} without JSON",
                redact(url)
            )),
        };
    }
}

/// The URL without query or credentials (ours have neither, but stay safe).
fn redact(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// The OpenAPI description of the registry routes.
#[derive(OpenApi)]
#[openapi(
    paths(create, list, get, patch, go_live, pause, resume, delete, test, rotate),
    components(schemas(NewIntegration, MailchimpInput, MplusInput, IntegrationPatch, MailchimpPatch, MplusPatch, IntegrationView, MailchimpView, MplusView, State, TestResult, RotateResult)),
    tags((name = "registry", description = "Integrations: connections, sealed credentials, lifecycle"))
)]
pub struct RegistryApi;

/// Mounts the routes (relative to `/api/v1`). `/integrations/credentials/rotate` comes before
/// `/integrations/{id}/...` so it is never read as an id.
pub fn configure(cfg: &mut web::ServiceConfig, state: Arc<RegistryState>) {
    cfg.app_data(web::Data::from(state))
        .route("/integrations/credentials/rotate", web::post().to(rotate))
        .route("/integrations", web::post().to(create))
        .route("/integrations", web::get().to(list))
        .route("/integrations/{integration_id}", web::get().to(get))
        .route("/integrations/{integration_id}", web::patch().to(patch))
        .route("/integrations/{integration_id}", web::delete().to(delete))
        .route(
            "/integrations/{integration_id}/go-live",
            web::post().to(go_live),
        )
        .route(
            "/integrations/{integration_id}/pause",
            web::post().to(pause),
        )
        .route(
            "/integrations/{integration_id}/resume",
            web::post().to(resume),
        )
        .route("/integrations/{integration_id}/test", web::post().to(test));
}
