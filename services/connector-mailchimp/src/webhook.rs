//! List (audience) webhooks: MailChimp POSTs `subscribe`, `unsubscribe`, `profile`,
//! `upemail` and `cleaned` events as `application/x-www-form-urlencoded` forms.
//!
//! Endpoint: `GET|POST /webhooks/mailchimp/{integration_id}?key=<webhook secret>`, mounted on
//! the admin server **outside** the bearer-token scope (MailChimp cannot send a bearer token).
//! It is protected by the integration's `webhook_secret` instead, compared in constant time;
//! a wrong or missing secret and an unknown integration all answer the same 404, so the
//! endpoint reveals nothing. The secret travels in the query string, not the path, because
//! the admin server logs request paths. `GET` answers 200 (MailChimp validates a URL with a
//! GET when it is registered).
//!
//! A POST does no API call: it writes one `mailchimp.record.recheck` command for the member
//! into the outbox and answers 200 at once. The connector's consumer then reads the member
//! and publishes `mailchimp.customer.observed` if this version was not published yet (the
//! poller may have seen it first; the fingerprint decides), so a webhook and a poll never
//! publish the same version twice, and a lost webhook is caught by the next poll.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use ferry_mailchimp_wire::{self as wire, WebhookEvent};
use ferry_platform::bus::outbox::Outbox;
use ferry_proto::{Envelope, IntegrationId, System};
use sea_orm::{DatabaseConnection, TransactionTrait};
use serde::Deserialize;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use crate::client::{ClientError, subscriber_hash};
use crate::ingest::{RecordRecheck, message};
use crate::integrations::{Integration, Integrations};
use crate::resource::Resource;

/// The path prefix of webhook URLs.
pub const PATH: &str = "/webhooks/mailchimp";

/// What the webhook endpoint needs.
pub struct WebhookState {
    /// Database (for the outbox).
    pub db: DatabaseConnection,
    /// The outbox.
    pub outbox: Outbox,
    /// The integrations.
    pub integrations: Arc<Integrations>,
}

/// Mounts the endpoint (public: see the module documentation).
pub fn configure(cfg: &mut web::ServiceConfig, state: Arc<WebhookState>) {
    cfg.app_data(web::Data::from(state)).service(
        web::resource(format!("{PATH}/{{integration_id}}"))
            .route(web::get().to(validate))
            .route(web::post().to(receive)),
    );
}

#[derive(Deserialize)]
struct KeyQuery {
    #[serde(default)]
    key: String,
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound().finish()
}

/// The integration, if the secret matches (constant time).
fn authorize(state: &WebhookState, integration_id: &str, key: &str) -> Option<Arc<Integration>> {
    let id = IntegrationId::parse(integration_id).ok()?;
    let integration = state.integrations.get(id)?;
    let secret = integration.connection.webhook_secret.as_ref()?;
    let matches: bool = secret.expose().as_bytes().ct_eq(key.as_bytes()).into();
    matches.then_some(integration)
}

async fn validate(
    state: web::Data<WebhookState>,
    path: web::Path<String>,
    query: web::Query<KeyQuery>,
) -> HttpResponse {
    match authorize(&state, &path, &query.key) {
        Some(_) => HttpResponse::Ok().finish(),
        None => not_found(),
    }
}

async fn receive(
    state: web::Data<WebhookState>,
    path: web::Path<String>,
    query: web::Query<KeyQuery>,
    body: web::Bytes,
) -> HttpResponse {
    let Some(integration) = authorize(&state, &path, &query.key) else {
        tracing::info!("MailChimp webhook refused: unknown integration or wrong secret");
        return not_found();
    };
    let form: Vec<(String, String)> = match serde_urlencoded::from_bytes(&body) {
        Ok(form) => form,
        Err(_) => return HttpResponse::BadRequest().body("not a form"),
    };
    let event = WebhookEvent::from_form(form.clone());
    let kind = event.field("type").unwrap_or_default().to_owned();
    if event
        .list_id()
        .is_some_and(|l| l != integration.connection.list_id)
    {
        tracing::info!(integration = %integration.id(), event = kind, "MailChimp webhook for another list ignored");
        return HttpResponse::Ok().finish();
    }
    let Some(email) = event.email() else {
        tracing::info!(integration = %integration.id(), event = kind, "MailChimp webhook without a member ignored");
        return HttpResponse::Ok().finish();
    };
    let mailchimp_id = subscriber_hash(email);
    // The record as received: every field of the form (the last of repeated ones).
    let raw: Map<String, Value> = form
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let recheck = RecordRecheck {
        target: System::Mailchimp,
        resource: Resource::Members,
        mailchimp_id,
        reason: None,
        raw: Value::Object(raw),
    };
    let Ok(message) = message(Envelope::new(integration.id(), recheck)) else {
        return HttpResponse::InternalServerError().finish();
    };
    let stored = async {
        let txn = state.db.begin().await?;
        state.outbox.enqueue(&txn, &message).await?;
        txn.commit().await
    }
    .await;
    match stored {
        Ok(()) => {
            state.outbox.wake();
            tracing::debug!(integration = %integration.id(), event = kind, "MailChimp webhook accepted");
            HttpResponse::Ok().finish()
        }
        Err(error) => {
            // MailChimp retries a failed delivery.
            tracing::warn!(integration = %integration.id(), %error, "cannot store a MailChimp webhook; MailChimp will retry");
            HttpResponse::ServiceUnavailable().finish()
        }
    }
}

/// Registers the list webhook `<public_base>/webhooks/mailchimp/<id>?key=<secret>` unless it
/// is registered already. Does nothing without a webhook secret.
pub async fn ensure_registered(
    integration: &Integration,
    public_base: &str,
) -> Result<bool, ClientError> {
    let Some(secret) = &integration.connection.webhook_secret else {
        return Ok(false);
    };
    let url = format!(
        "{}{PATH}/{}?key={}",
        public_base.trim_end_matches('/'),
        integration.id(),
        secret.expose()
    );
    let path = format!("{}/webhooks", integration.list_path());
    let existing: wire::ListWebhooks =
        wire::read(&integration.client.get("webhooks.list", &path, &[]).await?);
    if existing
        .webhooks
        .iter()
        .any(|w| w.url.as_deref() == Some(url.as_str()))
    {
        return Ok(false);
    }
    let body = wire::ListWebhook {
        url: Some(url),
        events: wire::WebhookEvents {
            subscribe: true,
            unsubscribe: true,
            profile: true,
            cleaned: true,
            upemail: true,
            campaign: false,
        },
        sources: wire::WebhookSources {
            user: true,
            admin: true,
            api: true,
        },
        ..wire::ListWebhook::default()
    };
    match integration
        .client
        .post_once("webhooks.post", &path, &body)
        .await
    {
        Ok(_) => Ok(true),
        // Registered meanwhile (by another replica, or an earlier attempt that did go through).
        Err(ClientError::Rejected { status: 400, .. }) => Ok(false),
        Err(e) => Err(e),
    }
}
