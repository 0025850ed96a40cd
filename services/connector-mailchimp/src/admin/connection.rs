//! The connection tests: credentials given in the body, or the connection held for an
//! integration; ping, account name, audiences and stores, and what failed (without the
//! remote's body).

use std::time::Instant;

use actix_web::{HttpResponse, web};
use ferry_platform::admin::{ApiError, OperatorAccess};
use ferry_platform::egress::{TestFailure, TestFailureCode, TransportFailure};
use ferry_platform::registry::{AtRevision, SealedConnection};
use ferry_proto::IntegrationId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::AdminState;
use crate::client::{ApiKey, ClientError, MailchimpClient};

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
pub(super) async fn integration_connection_test(
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
pub(super) async fn connection_test(
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
