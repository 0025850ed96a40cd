//! The integration registry: every integration with its state, its two connections and its
//! credentials, sealed at rest, beside the settings and mappings of [`crate::store`].
//!
//! `mapper_integrations` holds one row per integration: name, state (`draft`, `live`,
//! `paused`), the MailChimp connection (API key sealed; base URL, list, store, store name,
//! currency in clear), the MplusKASSA connection (secret sealed; endpoint, ident, branch,
//! workplace in clear), masked hints of both secrets ([`secrets::hint`]), a version that grows
//! with every change, and who created and last changed it (the admin token's name).
//!
//! Credentials are sealed with the deployment's [`Keyring`] (`FERRY_CREDENTIALS_KEY`), bound
//! to the integration and the field (`integration/<id>/mailchimp.api_key`,
//! `integration/<id>/mpluskassa.secret`), so a sealed value copied to another row does not
//! open. They are write-only: no view of this module carries them, not even sealed.
//!
//! Every change writes the row and an `integration.changed` event (routing key
//! `ferry.integration.changed`, credentials only sealed) into the mapper's outbox in one
//! transaction; a deletion publishes the same event with state `deleted`. At start, and then
//! every `mapper.registry.republish_interval_secs`, the mapper republishes every integration
//! ([`Registry::publish_all`]), so a connector that starts later (or lost its queue) learns
//! the current state; consumers skip revisions they have applied already.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ferry_platform::bus::BusMessage;
use ferry_platform::bus::outbox::Outbox;
use ferry_platform::config::Secret;
use ferry_platform::egress::EgressGuard;
use ferry_platform::registry::{
    SealedConnection, mailchimp_key_context, mpluskassa_secret_context,
};
use ferry_platform::secrets::{self, Keyring, SecretError};
use ferry_proto::messages::{
    FlowSetting, IntegrationChanged, IntegrationState, MailchimpConnectionInfo,
    MpluskassaConnectionInfo,
};
use ferry_proto::{CurrencyCode, Envelope, IntegrationId};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;
use sea_orm::{QueryOrder, Schema, TransactionTrait};
use sea_orm_migration::prelude::{MigrationName, MigrationTrait, SchemaManager};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::settings::Settings;
use crate::store::{self, Kind};

/// The table.
pub mod integration_row {
    use super::*;

    /// One integration.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "mapper_integrations")]
    pub struct Model {
        /// The integration id (UUID v7).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// A name for people.
        pub name: String,
        /// `draft`, `live` or `paused`.
        pub state: String,
        /// 1, 2, 3, ...: grows with every change.
        pub version: i64,
        /// MailChimp: API base URL override (the sandbox).
        pub mailchimp_base_url: Option<String>,
        /// MailChimp: audience id.
        pub mailchimp_list_id: String,
        /// MailChimp: e-commerce store id.
        pub mailchimp_store_id: String,
        /// MailChimp: store name.
        pub mailchimp_store_name: String,
        /// MailChimp: store currency.
        pub mailchimp_currency: String,
        /// MailChimp: the API key, sealed.
        pub mailchimp_api_key_sealed: String,
        /// MailChimp: the API key's hint.
        pub mailchimp_api_key_hint: String,
        /// MplusKASSA: SOAP endpoint.
        pub mpluskassa_endpoint: String,
        /// MplusKASSA: ident.
        pub mpluskassa_ident: String,
        /// MplusKASSA: branch.
        pub mpluskassa_branch: i32,
        /// MplusKASSA: workplace.
        pub mpluskassa_workplace: Option<i32>,
        /// MplusKASSA: the secret, sealed.
        pub mpluskassa_secret_sealed: String,
        /// MplusKASSA: the secret's hint.
        pub mpluskassa_secret_hint: String,
        /// Created when.
        pub created_at: DateTime<Utc>,
        /// Created by (token name).
        pub created_by: String,
        /// Last changed when.
        pub updated_at: DateTime<Utc>,
        /// Last changed by (token name).
        pub updated_by: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Creates `mapper_integrations`.
pub struct CreateIntegrations;

impl MigrationName for CreateIntegrations {
    fn name(&self) -> &str {
        "m20261124_000002_mapper_integrations"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateIntegrations {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        manager
            .create_table(
                schema
                    .create_table_from_entity(integration_row::Entity)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }
}

/// An integration's state in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Being set up: the connectors know it, nothing syncs.
    Draft,
    /// Syncing.
    Live,
    /// Stopped by an operator; changes made meanwhile are picked up on resume.
    Paused,
}

impl State {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Draft => "draft",
            State::Live => "live",
            State::Paused => "paused",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "draft" => Some(State::Draft),
            "live" => Some(State::Live),
            "paused" => Some(State::Paused),
            _ => None,
        }
    }

    fn event_state(self) -> IntegrationState {
        match self {
            State::Draft => IntegrationState::Draft,
            State::Live => IntegrationState::Live,
            State::Paused => IntegrationState::Paused,
        }
    }
}

/// A state change an operator asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// draft -> live.
    GoLive,
    /// live -> paused.
    Pause,
    /// paused -> live.
    Resume,
}

impl Transition {
    fn apply(self, from: State) -> Option<State> {
        match (self, from) {
            (Transition::GoLive, State::Draft) => Some(State::Live),
            (Transition::Pause, State::Live) => Some(State::Paused),
            (Transition::Resume, State::Paused) => Some(State::Live),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Transition::GoLive => "go live",
            Transition::Pause => "pause",
            Transition::Resume => "resume",
        }
    }
}

/// The MailChimp connection of a new integration. The API key is write-only.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailchimpInput {
    /// The API key (`<key>-<dc>`) or OAuth token. Never returned.
    #[schema(value_type = String, format = Password)]
    pub api_key: Secret,
    /// API base URL override (the sandbox, e.g. `http://127.0.0.1:9110/3.0`).
    #[serde(default)]
    pub base_url: Option<String>,
    /// The audience (list) id.
    pub list_id: String,
    /// The e-commerce store id.
    pub store_id: String,
    /// The store's name (when Ferry creates the store; default `Ferry`).
    #[serde(default)]
    pub store_name: Option<String>,
    /// The store's currency (ISO 4217, default `EUR`).
    #[serde(default)]
    pub currency: Option<String>,
}

/// The MplusKASSA connection of a new integration. The secret is write-only.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MplusInput {
    /// The SOAP endpoint (`https://api.mpluskassa.nl:<port>/`).
    pub endpoint: String,
    /// The API ident.
    pub ident: String,
    /// The API secret. Never returned.
    #[schema(value_type = String, format = Password)]
    pub secret: Secret,
    /// Branch for stock and orders (default 1).
    #[serde(default)]
    pub branch: Option<i32>,
    /// Workplace for orders.
    #[serde(default)]
    pub workplace: Option<i32>,
}

/// `POST /integrations`: a new draft integration with both connections.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIntegration {
    /// A name for people.
    pub name: String,
    /// The MailChimp connection.
    pub mailchimp: MailchimpInput,
    /// The MplusKASSA connection.
    pub mpluskassa: MplusInput,
}

/// Changes to a MailChimp connection; absent fields stay.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailchimpPatch {
    /// A new API key.
    #[schema(value_type = Option<String>, format = Password)]
    pub api_key: Option<Secret>,
    /// A new base URL (`""` removes the override).
    pub base_url: Option<String>,
    /// A new audience id.
    pub list_id: Option<String>,
    /// A new store id.
    pub store_id: Option<String>,
    /// A new store name.
    pub store_name: Option<String>,
    /// A new currency.
    pub currency: Option<String>,
}

/// Changes to an MplusKASSA connection; absent fields stay.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MplusPatch {
    /// A new endpoint.
    pub endpoint: Option<String>,
    /// A new ident.
    pub ident: Option<String>,
    /// A new secret.
    #[schema(value_type = Option<String>, format = Password)]
    pub secret: Option<Secret>,
    /// A new branch.
    pub branch: Option<i32>,
    /// A new workplace (`0` removes it).
    pub workplace: Option<i32>,
}

/// `PATCH /integrations/{id}`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationPatch {
    /// A new name.
    pub name: Option<String>,
    /// MailChimp changes.
    pub mailchimp: Option<MailchimpPatch>,
    /// MplusKASSA changes.
    pub mpluskassa: Option<MplusPatch>,
    /// The version the change is based on; an outdated one is a `409 conflict`.
    pub expected_version: Option<i64>,
}

/// The MailChimp connection as shown: no key, only its hint.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MailchimpView {
    /// API base URL override.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The audience id.
    pub list_id: String,
    /// The store id.
    pub store_id: String,
    /// The store name.
    pub store_name: String,
    /// The currency.
    pub currency: String,
    /// The last characters of the API key (`…-us1`).
    pub api_key_hint: String,
}

/// The MplusKASSA connection as shown: no secret, only its hint.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MplusView {
    /// The endpoint.
    pub endpoint: String,
    /// The ident.
    pub ident: String,
    /// The branch.
    pub branch: i32,
    /// The workplace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workplace: Option<i32>,
    /// The last characters of the secret (or `…` for a short one).
    pub secret_hint: String,
}

/// An integration as the admin API shows it. Carries no credentials.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct IntegrationView {
    /// The id.
    #[schema(value_type = String)]
    pub id: Uuid,
    /// The name.
    pub name: String,
    /// `draft`, `live` or `paused`.
    pub state: State,
    /// Grows with every change (`expected_version` of a PATCH).
    pub version: i64,
    /// The MailChimp connection.
    pub mailchimp: MailchimpView,
    /// The MplusKASSA connection.
    pub mpluskassa: MplusView,
    /// Created when.
    pub created_at: DateTime<Utc>,
    /// Created by.
    pub created_by: String,
    /// Last changed when.
    pub updated_at: DateTime<Utc>,
    /// Last changed by.
    pub updated_by: String,
}

impl From<&integration_row::Model> for IntegrationView {
    fn from(r: &integration_row::Model) -> Self {
        Self {
            id: r.id,
            name: r.name.clone(),
            state: State::parse(&r.state).unwrap_or(State::Paused),
            version: r.version,
            mailchimp: MailchimpView {
                base_url: r.mailchimp_base_url.clone(),
                list_id: r.mailchimp_list_id.clone(),
                store_id: r.mailchimp_store_id.clone(),
                store_name: r.mailchimp_store_name.clone(),
                currency: r.mailchimp_currency.clone(),
                api_key_hint: r.mailchimp_api_key_hint.clone(),
            },
            mpluskassa: MplusView {
                endpoint: r.mpluskassa_endpoint.clone(),
                ident: r.mpluskassa_ident.clone(),
                branch: r.mpluskassa_branch,
                workplace: r.mpluskassa_workplace,
                secret_hint: r.mpluskassa_secret_hint.clone(),
            },
            created_at: r.created_at,
            created_by: r.created_by.clone(),
            updated_at: r.updated_at,
            updated_by: r.updated_by.clone(),
        }
    }
}

/// The opened credentials of one integration, for a connection test. Never logged.
pub struct OpenedCredentials {
    /// The MailChimp API key.
    pub mailchimp_api_key: String,
    /// The MailChimp base URL override.
    pub mailchimp_base_url: Option<String>,
    /// The MplusKASSA endpoint.
    pub mpluskassa_endpoint: String,
    /// The MplusKASSA ident.
    pub mpluskassa_ident: String,
    /// The MplusKASSA secret.
    pub mpluskassa_secret: String,
}

impl std::fmt::Debug for OpenedCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpenedCredentials(***)")
    }
}

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No such integration.
    #[error("integration {0} is not in the registry")]
    NotFound(IntegrationId),
    /// A value is invalid.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field (`mailchimp.api_key`, ...).
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The change was based on an older version, or the transition is not allowed now.
    #[error("{0}")]
    Conflict(String),
    /// No credentials key is configured.
    #[error("no credentials key configured: set {}", secrets::KEYRING_ENV)]
    NoKeyring,
    /// A sealed credential does not open (key removed too early, or altered).
    #[error("credential {field} of integration {integration} does not open: {reason}")]
    Credential {
        /// The integration.
        integration: Uuid,
        /// The field.
        field: &'static str,
        /// Why (never the value).
        reason: SecretError,
    },
    /// The event could not be encoded.
    #[error("cannot encode the integration.changed event: {0}")]
    Encode(String),
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] DbErr),
}

fn invalid(field: &'static str, reason: impl Into<String>) -> RegistryError {
    RegistryError::Invalid {
        field,
        reason: reason.into(),
    }
}

fn text(field: &'static str, raw: &str, max: usize) -> Result<String, RegistryError> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(invalid(field, format!("must be at most {max} characters")));
    }
    // A control character (NUL above all, which PostgreSQL refuses to store) is never part of
    // a name, an id or an ident: a malformed request, not a server error.
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(value.to_owned())
}

/// A credential: non-empty, no whitespace or control characters. The value is never echoed.
fn credential(field: &'static str, raw: &str) -> Result<String, RegistryError> {
    if raw.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if raw.len() > 512 {
        return Err(invalid(field, "must be at most 512 characters"));
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            field,
            "must not contain whitespace or control characters",
        ));
    }
    Ok(raw.to_owned())
}

fn url(field: &'static str, raw: &str) -> Result<String, RegistryError> {
    let value = text(field, raw, 500)?;
    if !(value.starts_with("http://") || value.starts_with("https://")) || value.contains('?') {
        return Err(invalid(
            field,
            "must be an http(s) URL without a query string",
        ));
    }
    Ok(value)
}

fn currency(raw: Option<&str>) -> Result<String, RegistryError> {
    let raw = raw.unwrap_or("EUR");
    CurrencyCode::parse(raw.trim())
        .map(|c| c.as_str().to_owned())
        .map_err(|e| invalid("mailchimp.currency", e.to_string()))
}

fn branch(raw: i32) -> Result<i32, RegistryError> {
    if raw < 1 {
        return Err(invalid("mpluskassa.branch", "must be at least 1"));
    }
    Ok(raw)
}

/// The registry over the mapper's database.
#[derive(Clone)]
pub struct Registry {
    db: DatabaseConnection,
    outbox: Outbox,
    keyring: Option<Keyring>,
    egress: Arc<EgressGuard>,
}

impl Registry {
    /// The registry in `db`, publishing through `outbox`, sealing with `keyring`.
    pub fn new(db: DatabaseConnection, outbox: Outbox, keyring: Option<Keyring>) -> Self {
        Self {
            db,
            outbox,
            keyring,
            egress: Arc::new(EgressGuard::default()),
        }
    }

    /// Accepts saved endpoints as `guard` allows them (default: `https://` to public
    /// destinations only).
    pub fn with_egress(mut self, guard: EgressGuard) -> Self {
        self.egress = Arc::new(guard);
        self
    }

    /// `url` for `field` (a base URL or endpoint that will carry credentials): well formed,
    /// then allowed by the egress guard (https, or sandbox-mode http to an allowed internal
    /// destination; no internal destination the configuration does not name).
    fn endpoint(&self, field: &'static str, raw: &str) -> Result<String, RegistryError> {
        let value = url(field, raw)?;
        let parsed = reqwest::Url::parse(&value)
            .map_err(|e| invalid(field, format!("is not a URL: {e}")))?;
        self.egress
            .check_credentialed_url(&parsed)
            .map_err(|e| invalid(field, format!("{e} (credentials would travel to it)")))?;
        Ok(value)
    }

    fn keyring(&self) -> Result<&Keyring, RegistryError> {
        self.keyring.as_ref().ok_or(RegistryError::NoKeyring)
    }

    fn seal(&self, plaintext: &str, context: &str) -> Result<String, RegistryError> {
        self.keyring()?
            .seal(plaintext, context)
            .map_err(|_| RegistryError::NoKeyring)
    }

    /// Every integration, oldest first.
    pub async fn list(&self) -> Result<Vec<IntegrationView>, RegistryError> {
        let rows = integration_row::Entity::find()
            .order_by_asc(integration_row::Column::Id)
            .all(&self.db)
            .await?;
        Ok(rows.iter().map(IntegrationView::from).collect())
    }

    /// Reads a row for a change: a no-op update first takes the write lock (a row lock on
    /// PostgreSQL; on SQLite the database's write lock, waited for, before the transaction
    /// read anything, so it cannot fail later as a stale snapshot).
    async fn row_for_update<C: ConnectionTrait>(
        txn: &C,
        id: IntegrationId,
    ) -> Result<integration_row::Model, RegistryError> {
        integration_row::Entity::update_many()
            .col_expr(
                integration_row::Column::Version,
                Expr::col(integration_row::Column::Version).into(),
            )
            .filter(integration_row::Column::Id.eq(id.as_uuid()))
            .exec(txn)
            .await?;
        Self::row(txn, id).await
    }

    async fn row<C: ConnectionTrait>(
        db: &C,
        id: IntegrationId,
    ) -> Result<integration_row::Model, RegistryError> {
        integration_row::Entity::find_by_id(id.as_uuid())
            .one(db)
            .await?
            .ok_or(RegistryError::NotFound(id))
    }

    /// One integration.
    pub async fn get(&self, id: IntegrationId) -> Result<IntegrationView, RegistryError> {
        Ok(IntegrationView::from(&Self::row(&self.db, id).await?))
    }

    /// The integration with both connections' credentials as stored, sealed (for the
    /// connectors' saved-connection test: they open them with their own keyring).
    pub async fn sealed(
        &self,
        id: IntegrationId,
    ) -> Result<(IntegrationView, SealedConnection, SealedConnection), RegistryError> {
        let row = Self::row(&self.db, id).await?;
        let mailchimp = SealedConnection {
            secret_sealed: row.mailchimp_api_key_sealed.clone(),
            url: row.mailchimp_base_url.clone(),
            ident: None,
        };
        let mpluskassa = SealedConnection {
            secret_sealed: row.mpluskassa_secret_sealed.clone(),
            url: Some(row.mpluskassa_endpoint.clone()),
            ident: Some(row.mpluskassa_ident.clone()),
        };
        Ok((IntegrationView::from(&row), mailchimp, mpluskassa))
    }

    /// Creates a draft integration with both connections, credentials sealed.
    pub async fn create(
        &self,
        input: NewIntegration,
        who: &str,
    ) -> Result<IntegrationView, RegistryError> {
        let id = Uuid::now_v7();
        let name = text("name", &input.name, 200)?;
        let mc = input.mailchimp;
        let mp = input.mpluskassa;
        let api_key = credential("mailchimp.api_key", mc.api_key.expose())?;
        let secret = credential("mpluskassa.secret", mp.secret.expose())?;
        let now = Utc::now();
        let row = integration_row::Model {
            id,
            name,
            state: State::Draft.as_str().to_owned(),
            version: 1,
            mailchimp_base_url: match mc.base_url.as_deref() {
                Some(b) if !b.trim().is_empty() => Some(self.endpoint("mailchimp.base_url", b)?),
                _ => None,
            },
            mailchimp_list_id: text("mailchimp.list_id", &mc.list_id, 100)?,
            mailchimp_store_id: text("mailchimp.store_id", &mc.store_id, 50)?,
            mailchimp_store_name: text(
                "mailchimp.store_name",
                mc.store_name.as_deref().unwrap_or("Ferry"),
                200,
            )?,
            mailchimp_currency: currency(mc.currency.as_deref())?,
            mailchimp_api_key_sealed: self.seal(&api_key, &mailchimp_key_context(id))?,
            mailchimp_api_key_hint: secrets::hint(&api_key),
            mpluskassa_endpoint: self.endpoint("mpluskassa.endpoint", &mp.endpoint)?,
            mpluskassa_ident: text("mpluskassa.ident", &mp.ident, 200)?,
            mpluskassa_branch: branch(mp.branch.unwrap_or(1))?,
            mpluskassa_workplace: mp.workplace.filter(|w| *w > 0),
            mpluskassa_secret_sealed: self.seal(&secret, &mpluskassa_secret_context(id))?,
            mpluskassa_secret_hint: secrets::hint(&secret),
            created_at: now,
            created_by: who.to_owned(),
            updated_at: now,
            updated_by: who.to_owned(),
        };
        let txn = self.db.begin().await?;
        integration_row::Entity::insert(integration_row::ActiveModel::from(row.clone()))
            .exec_without_returning(&txn)
            .await?;
        self.enqueue_changed(&txn, &row).await?;
        txn.commit().await?;
        self.outbox.wake();
        tracing::info!(integration_id = %id, by = %who, "integration created (draft)");
        Ok(IntegrationView::from(&row))
    }

    /// Changes name and connection settings; new credentials are sealed.
    pub async fn patch(
        &self,
        id: IntegrationId,
        patch: IntegrationPatch,
        who: &str,
    ) -> Result<IntegrationView, RegistryError> {
        let txn = self.db.begin().await?;
        let mut row = Self::row_for_update(&txn, id).await?;
        if let Some(expected) = patch.expected_version
            && expected != row.version
        {
            return Err(RegistryError::Conflict(format!(
                "version {} is current, the change was based on version {expected}",
                row.version
            )));
        }
        let uuid = row.id;
        if let Some(name) = patch.name {
            row.name = text("name", &name, 200)?;
        }
        if let Some(mc) = patch.mailchimp {
            // A saved key is never sent to a host it was not entered for.
            if let Some(base) = &mc.base_url {
                let base = (!base.trim().is_empty()).then(|| base.trim());
                if base != row.mailchimp_base_url.as_deref() && mc.api_key.is_none() {
                    return Err(invalid(
                        "mailchimp.api_key",
                        "a new base URL needs the API key again (a saved key is never sent to another host)",
                    ));
                }
            }
            if let Some(key) = mc.api_key {
                let key = credential("mailchimp.api_key", key.expose())?;
                row.mailchimp_api_key_sealed = self.seal(&key, &mailchimp_key_context(uuid))?;
                row.mailchimp_api_key_hint = secrets::hint(&key);
            }
            if let Some(base) = mc.base_url {
                row.mailchimp_base_url = if base.trim().is_empty() {
                    None
                } else {
                    Some(self.endpoint("mailchimp.base_url", &base)?)
                };
            }
            if let Some(v) = mc.list_id {
                row.mailchimp_list_id = text("mailchimp.list_id", &v, 100)?;
            }
            if let Some(v) = mc.store_id {
                row.mailchimp_store_id = text("mailchimp.store_id", &v, 50)?;
            }
            if let Some(v) = mc.store_name {
                row.mailchimp_store_name = text("mailchimp.store_name", &v, 200)?;
            }
            if let Some(v) = mc.currency {
                row.mailchimp_currency = currency(Some(&v))?;
            }
        }
        if let Some(mp) = patch.mpluskassa {
            // A saved secret is never sent to an endpoint it was not entered for.
            if let Some(endpoint) = &mp.endpoint
                && endpoint.trim() != row.mpluskassa_endpoint
                && mp.secret.is_none()
            {
                return Err(invalid(
                    "mpluskassa.secret",
                    "a new endpoint needs the secret again (a saved secret is never sent to another host)",
                ));
            }
            if let Some(secret) = mp.secret {
                let secret = credential("mpluskassa.secret", secret.expose())?;
                row.mpluskassa_secret_sealed =
                    self.seal(&secret, &mpluskassa_secret_context(uuid))?;
                row.mpluskassa_secret_hint = secrets::hint(&secret);
            }
            if let Some(v) = mp.endpoint {
                row.mpluskassa_endpoint = self.endpoint("mpluskassa.endpoint", &v)?;
            }
            if let Some(v) = mp.ident {
                row.mpluskassa_ident = text("mpluskassa.ident", &v, 200)?;
            }
            if let Some(v) = mp.branch {
                row.mpluskassa_branch = branch(v)?;
            }
            if let Some(v) = mp.workplace {
                row.mpluskassa_workplace = (v > 0).then_some(v);
            }
        }
        let row = self.save(&txn, row, who).await?;
        txn.commit().await?;
        self.outbox.wake();
        tracing::info!(integration_id = %id, version = row.version, by = %who, "integration changed");
        Ok(IntegrationView::from(&row))
    }

    /// Goes live, pauses or resumes.
    pub async fn transition(
        &self,
        id: IntegrationId,
        transition: Transition,
        who: &str,
    ) -> Result<IntegrationView, RegistryError> {
        let txn = self.db.begin().await?;
        let mut row = Self::row_for_update(&txn, id).await?;
        let from = State::parse(&row.state).unwrap_or(State::Paused);
        let to = transition.apply(from).ok_or_else(|| {
            RegistryError::Conflict(format!(
                "cannot {} integration {id}: it is {}",
                transition.name(),
                from.as_str()
            ))
        })?;
        row.state = to.as_str().to_owned();
        let row = self.save(&txn, row, who).await?;
        txn.commit().await?;
        self.outbox.wake();
        tracing::info!(integration_id = %id, state = to.as_str(), by = %who, "integration state changed");
        Ok(IntegrationView::from(&row))
    }

    /// Deletes an integration: its row and credentials, its settings and mappings; publishes
    /// `integration.changed` with state `deleted` (connectors erase their cursors and
    /// cross-references, the notifier its activity).
    pub async fn delete(&self, id: IntegrationId, who: &str) -> Result<(), RegistryError> {
        let txn = self.db.begin().await?;
        let row = Self::row_for_update(&txn, id).await?;
        integration_row::Entity::delete_by_id(row.id)
            .exec(&txn)
            .await?;
        store::config_version::Entity::delete_many()
            .filter(store::config_version::Column::IntegrationId.eq(row.id))
            .exec(&txn)
            .await?;
        let revision = u64::try_from(row.version + 1).unwrap_or(u64::MAX);
        let event = IntegrationChanged::new(IntegrationState::Deleted, Vec::new(), revision);
        self.enqueue(&txn, id, event).await?;
        txn.commit().await?;
        self.outbox.wake();
        tracing::info!(integration_id = %id, by = %who, "integration deleted");
        Ok(())
    }

    /// Re-seals every credential sealed under an older key with the current key (and
    /// republishes the integrations concerned). Returns how many integrations changed.
    pub async fn rotate(&self, who: &str) -> Result<u64, RegistryError> {
        let keyring = self.keyring()?.clone();
        let ids: Vec<Uuid> = integration_row::Entity::find()
            .order_by_asc(integration_row::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect();
        let mut changed = 0;
        for uuid in ids {
            let txn = self.db.begin().await?;
            let id =
                IntegrationId::from_uuid(uuid).map_err(|e| RegistryError::Encode(e.to_string()))?;
            let mut row = match Self::row_for_update(&txn, id).await {
                Ok(row) => row,
                // Deleted meanwhile: nothing to re-seal.
                Err(RegistryError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            let mut touched = false;
            for (field, sealed, context) in [
                (
                    "mailchimp.api_key",
                    &mut row.mailchimp_api_key_sealed,
                    mailchimp_key_context(uuid),
                ),
                (
                    "mpluskassa.secret",
                    &mut row.mpluskassa_secret_sealed,
                    mpluskassa_secret_context(uuid),
                ),
            ] {
                if keyring.needs_reseal(sealed) {
                    *sealed = keyring.reseal(sealed, &context).map_err(|reason| {
                        RegistryError::Credential {
                            integration: uuid,
                            field,
                            reason,
                        }
                    })?;
                    touched = true;
                }
            }
            if touched {
                self.save(&txn, row, who).await?;
                txn.commit().await?;
                changed += 1;
            } else {
                txn.rollback().await?;
            }
        }
        self.outbox.wake();
        tracing::info!(
            integrations = changed,
            key = keyring.current_key_id(),
            by = %who,
            "credentials re-sealed"
        );
        Ok(changed)
    }

    /// Opens both credentials of an integration (for a connection test).
    pub async fn open(
        &self,
        id: IntegrationId,
    ) -> Result<(IntegrationView, OpenedCredentials), RegistryError> {
        let row = Self::row(&self.db, id).await?;
        let keyring = self.keyring()?;
        let open = |field: &'static str, sealed: &str, context: String| {
            keyring
                .open(sealed, &context)
                .map_err(|reason| RegistryError::Credential {
                    integration: row.id,
                    field,
                    reason,
                })
        };
        let credentials = OpenedCredentials {
            mailchimp_api_key: open(
                "mailchimp.api_key",
                &row.mailchimp_api_key_sealed,
                mailchimp_key_context(row.id),
            )?,
            mailchimp_base_url: row.mailchimp_base_url.clone(),
            mpluskassa_endpoint: row.mpluskassa_endpoint.clone(),
            mpluskassa_ident: row.mpluskassa_ident.clone(),
            mpluskassa_secret: open(
                "mpluskassa.secret",
                &row.mpluskassa_secret_sealed,
                mpluskassa_secret_context(row.id),
            )?,
        };
        Ok((IntegrationView::from(&row), credentials))
    }

    /// Publishes (through the outbox) the current state of every integration: run at start,
    /// so connectors learn the registry without asking.
    pub async fn publish_all(&self) -> Result<usize, RegistryError> {
        let rows = integration_row::Entity::find()
            .order_by_asc(integration_row::Column::Id)
            .all(&self.db)
            .await?;
        let mut published = 0;
        for row in &rows {
            let id = IntegrationId::from_uuid(row.id)
                .map_err(|e| RegistryError::Encode(e.to_string()))?;
            let txn = self.db.begin().await?;
            let row = match Self::row_for_update(&txn, id).await {
                Ok(row) => row,
                Err(RegistryError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            self.enqueue_changed(&txn, &row).await?;
            txn.commit().await?;
            published += 1;
        }
        self.outbox.wake();
        Ok(published)
    }

    /// Publishes a registered integration as a new version after its settings changed (its
    /// flows are part of the event). `Ok(false)`: not in the registry (configured elsewhere).
    pub async fn settings_changed(
        &self,
        id: IntegrationId,
        who: &str,
    ) -> Result<bool, RegistryError> {
        let txn = self.db.begin().await?;
        let row = match Self::row_for_update(&txn, id).await {
            Ok(row) => row,
            Err(RegistryError::NotFound(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        self.save(&txn, row, who).await?;
        txn.commit().await?;
        self.outbox.wake();
        Ok(true)
    }

    /// Stores `row` as the next version, with its event.
    async fn save<C: ConnectionTrait>(
        &self,
        txn: &C,
        mut row: integration_row::Model,
        who: &str,
    ) -> Result<integration_row::Model, RegistryError> {
        let previous = row.version;
        row.version += 1;
        row.updated_at = Utc::now();
        row.updated_by = who.to_owned();
        let active = integration_row::ActiveModel::from(row.clone()).reset_all();
        let updated = integration_row::Entity::update_many()
            .set(active)
            .filter(integration_row::Column::Id.eq(row.id))
            .filter(integration_row::Column::Version.eq(previous))
            .exec(txn)
            .await?;
        if updated.rows_affected != 1 {
            return Err(RegistryError::Conflict(format!(
                "integration {} changed meanwhile; reload and try again",
                row.id
            )));
        }
        self.enqueue_changed(txn, &row).await?;
        Ok(row)
    }

    async fn enqueue_changed<C: ConnectionTrait>(
        &self,
        txn: &C,
        row: &integration_row::Model,
    ) -> Result<(), RegistryError> {
        let id =
            IntegrationId::from_uuid(row.id).map_err(|e| RegistryError::Encode(e.to_string()))?;
        let settings: Settings = store::current(txn, id, Kind::Settings)
            .await
            .map(|v| v.document)
            .unwrap_or_default();
        let state = State::parse(&row.state).unwrap_or(State::Paused);
        let mut event = IntegrationChanged::new(
            state.event_state(),
            flows(&settings),
            u64::try_from(row.version).unwrap_or(0),
        );
        event.name = Some(row.name.clone());
        event.mailchimp = Some(MailchimpConnectionInfo {
            api_key_sealed: row.mailchimp_api_key_sealed.clone(),
            base_url: row.mailchimp_base_url.clone(),
            list_id: row.mailchimp_list_id.clone(),
            store_id: row.mailchimp_store_id.clone(),
            store_name: row.mailchimp_store_name.clone(),
            currency: CurrencyCode::parse(&row.mailchimp_currency)
                .map_err(|e| RegistryError::Encode(e.to_string()))?,
            audience_members: settings.customers.audience.published(),
        });
        event.mpluskassa = Some(MpluskassaConnectionInfo {
            endpoint: row.mpluskassa_endpoint.clone(),
            ident: row.mpluskassa_ident.clone(),
            secret_sealed: row.mpluskassa_secret_sealed.clone(),
            branch: row.mpluskassa_branch,
            workplace: row.mpluskassa_workplace,
        });
        self.enqueue(txn, id, event).await
    }

    async fn enqueue<C: ConnectionTrait>(
        &self,
        txn: &C,
        id: IntegrationId,
        event: IntegrationChanged,
    ) -> Result<(), RegistryError> {
        let envelope = Envelope::new(id, event);
        let message = BusMessage::from_envelope(&envelope)
            .map_err(|e| RegistryError::Encode(e.to_string()))?;
        self.outbox.enqueue(txn, &message).await?;
        Ok(())
    }
}

/// The flows of `settings` as the event lists them.
fn flows(settings: &Settings) -> Vec<FlowSetting> {
    use ferry_proto::messages::Flow;
    [
        Flow::Customers,
        Flow::Products,
        Flow::Categories,
        Flow::Stock,
        Flow::Orders,
    ]
    .into_iter()
    .map(|flow| {
        let switch = settings.flows.get(flow);
        FlowSetting {
            flow,
            direction: switch.direction,
            enabled: switch.enabled,
        }
    })
    .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn transitions() {
        assert_eq!(Transition::GoLive.apply(State::Draft), Some(State::Live));
        assert_eq!(Transition::Pause.apply(State::Live), Some(State::Paused));
        assert_eq!(Transition::Resume.apply(State::Paused), Some(State::Live));
        assert_eq!(Transition::Pause.apply(State::Draft), None);
        assert_eq!(Transition::Resume.apply(State::Live), None);
        assert_eq!(Transition::GoLive.apply(State::Paused), None);
    }

    #[test]
    fn credentials_are_checked_without_echoing_them() {
        let e = credential("mpluskassa.secret", "has space").unwrap_err();
        assert!(!e.to_string().contains("has space"));
        assert!(credential("mailchimp.api_key", "").is_err());
        assert!(url("mpluskassa.endpoint", "ftp://x").is_err());
        assert!(url("mpluskassa.endpoint", "http://x/?secret=1").is_err());
    }

    #[test]
    fn text_is_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(text("name", "  Shop  ", 10).unwrap(), "Shop");
        assert!(text("name", "   ", 10).is_err());
        assert!(text("name", "abcdefghijk", 10).is_err());
        let e = text("mpluskassa.ident", "a\u{0}b", 10).unwrap_err();
        assert!(e.to_string().contains("mpluskassa.ident"), "{e}");
        assert!(text("name", "tab\there", 10).is_err());
        // Hostile but printable unicode is text: right-to-left marks, emoji, combining marks.
        assert!(text("name", "\u{202e}Shöp 🛒", 20).is_ok());
    }
}
