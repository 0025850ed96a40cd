//! Following the integration registry: `ferry.integration.changed` (bound to this connector's
//! queue) adds, changes, pauses, resumes and removes MailChimp connections without a restart.
//!
//! - `draft`, `paused`: the connection is served (the client exists) but not active: no
//!   polling, commands deferred ([`is_active`](ferry_platform::connector::Integrations::is_active)); the
//!   cursors stay, so what changed meanwhile is read on resume.
//! - `live`: served and polled.
//! - `deleted`: no longer served; connection settings, cursors and cross-references erased.
//!
//! The API key arrives sealed and is opened here with the deployment's keyring
//! (`FERRY_CREDENTIALS_KEY`); it never reaches a table or a log line. The mapper republishes
//! every integration at its start (and periodically); each change is also kept in the
//! `ferry_registry_mirror` table, which every replica applies at start and every few seconds
//! (`ferry_platform::registry`). Its `[[integrations]]` from the configuration are served as
//! before.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_platform::bus::Outcome;
use ferry_platform::registry::{RegistryFollower, RegistryTarget, mailchimp_key_context};
use ferry_proto::messages::{Direction, Flow, IntegrationChanged};
use ferry_proto::{Envelope, IntegrationId};
use sea_orm::DatabaseConnection;

use crate::client::ApiKey;
use crate::integrations::{Connection, Integrations};
use crate::resource::Resource;

/// Applies registry changes to the served integrations.
pub type RegistryListener = ferry_platform::registry::RegistryListener<Target>;

/// The served integrations as the registry changes them (their settings stored in `db`).
pub struct Target {
    db: DatabaseConnection,
    integrations: Arc<Integrations>,
}

impl Target {
    /// Changes `integrations`, storing their settings in `db`.
    pub fn new(db: DatabaseConnection, integrations: Arc<Integrations>) -> Self {
        Self { db, integrations }
    }
}

#[async_trait]
impl RegistryTarget for Target {
    type Connection = Connection;

    fn connection(
        &self,
        follower: &RegistryFollower,
        envelope: &Envelope<IntegrationChanged>,
    ) -> Result<Option<Connection>, Outcome> {
        let id: IntegrationId = envelope.integration_id;
        let Some(mc) = &envelope.payload.mailchimp else {
            return Ok(None);
        };
        let key = follower.open(
            id,
            "mailchimp.api_key",
            &mc.api_key_sealed,
            &mailchimp_key_context(id),
        )?;
        let api_key = ApiKey::parse(&key).map_err(|e| {
            Outcome::DeadLetter(format!(
                "connector-mailchimp: integration {id}: mailchimp.api_key: {e}"
            ))
        })?;
        // A base URL the egress guard refuses is refused for good (not retried): the
        // integration must be saved with another one, or the deployment allow it.
        if let Some(base) = &mc.base_url {
            let checked = reqwest::Url::parse(base)
                .map_err(|e| e.to_string())
                .and_then(|url| {
                    self.integrations
                        .egress()
                        .check_credentialed_url(&url)
                        .map_err(|e| e.to_string())
                });
            if let Err(reason) = checked {
                return Err(Outcome::DeadLetter(format!(
                    "connector-mailchimp: integration {id}: mailchimp.base_url: {reason}"
                )));
            }
        }
        // Stock is read from MailChimp only when that is the stock flow's source.
        let publish_stock = envelope.payload.flows.iter().any(|f| {
            f.flow == Flow::Stock && f.enabled && f.direction == Direction::MailchimpToMpluskassa
        });
        Ok(Some(Connection {
            integration_id: id,
            api_key,
            base_url: mc.base_url.clone(),
            store_id: mc.store_id.clone(),
            list_id: mc.list_id.clone(),
            store_name: mc.store_name.clone(),
            currency: mc.currency,
            concurrency: 10,
            webhook_secret: None,
            company_merge_field: "COMPANY".to_owned(),
            resources: Resource::all(),
            publish_stock,
            audience_members: mc.audience_members,
        }))
    }

    async fn serve(
        &self,
        id: IntegrationId,
        connection: Connection,
        live: bool,
    ) -> Result<(), String> {
        self.integrations.set_active(id, live);
        self.integrations
            .upsert(&self.db, connection)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn erase(&self, id: IntegrationId) -> Result<(), String> {
        self.integrations
            .remove(&self.db, id, true)
            .await
            .map_err(|e| e.to_string())
    }
}
