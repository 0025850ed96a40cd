//! Following the integration registry: `ferry.integration.changed` (bound to this connector's
//! queue) adds, changes, pauses, resumes and removes MailChimp connections without a restart.
//!
//! - `draft`, `paused`: the connection is served (the client exists) but not active: no
//!   polling, commands deferred ([`crate::integrations::Integrations::is_active`]); the
//!   cursors stay, so what changed meanwhile is read on resume.
//! - `live`: served and polled.
//! - `deleted`: no longer served; connection settings, cursors and cross-references erased.
//!
//! The API key arrives sealed and is opened here with the deployment's keyring
//! (`FERRY_CREDENTIALS_KEY`); it never reaches a table or a log line. The mapper republishes
//! every integration at its start, so a connector started later learns them then (until
//! that, its `[[integrations]]` from the configuration are served as before).

use std::sync::Arc;

use ferry_platform::bus::{Delivery, Outcome};
use ferry_platform::registry::{RegistryFollower, mailchimp_key_context};
use ferry_proto::messages::{Direction, Flow, IntegrationChanged, IntegrationState};
use ferry_proto::{Envelope, IntegrationId};
use sea_orm::DatabaseConnection;

use crate::client::ApiKey;
use crate::ingest::Resource;
use crate::integrations::{Connection, Integrations};

/// Applies registry changes to the served integrations.
pub struct RegistryListener {
    follower: RegistryFollower,
    integrations: Arc<Integrations>,
}

impl RegistryListener {
    /// A listener updating `integrations`, opening credentials with `follower`.
    pub fn new(follower: RegistryFollower, integrations: Arc<Integrations>) -> Self {
        Self {
            follower,
            integrations,
        }
    }

    /// Handles one `integration.changed` delivery.
    pub async fn handle(&self, db: &DatabaseConnection, delivery: &Delivery) -> Outcome {
        let envelope = match self.follower.decode(delivery) {
            Ok(Some(e)) => e,
            Ok(None) => return Outcome::Ack,
            Err(out) => return out,
        };
        let id = envelope.integration_id;
        let change = &envelope.payload;
        if change.state == IntegrationState::Deleted {
            if let Err(e) = self.integrations.remove(db, id, true).await {
                return Outcome::Retry(format!("cannot erase integration {id}: {e}"));
            }
            self.follower.applied(id, change.revision);
            tracing::info!(integration = %id, "integration deleted: MailChimp connection, cursors and cross-references erased");
            return Outcome::Ack;
        }
        let connection = match self.connection(&envelope) {
            Ok(Some(c)) => c,
            // A change without a MailChimp connection: nothing to serve here.
            Ok(None) => return Outcome::Ack,
            Err(out) => return out,
        };
        let active = change.state == IntegrationState::Live;
        self.integrations.set_active(id, active);
        if let Err(e) = self.integrations.upsert(db, connection).await {
            return Outcome::Retry(format!("cannot serve integration {id}: {e}"));
        }
        self.follower.applied(id, change.revision);
        tracing::info!(integration = %id, revision = change.revision, active, "integration updated from the registry");
        Outcome::Ack
    }

    fn connection(
        &self,
        envelope: &Envelope<IntegrationChanged>,
    ) -> Result<Option<Connection>, Outcome> {
        let id: IntegrationId = envelope.integration_id;
        let Some(mc) = &envelope.payload.mailchimp else {
            return Ok(None);
        };
        let key = self.follower.open(
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
        }))
    }
}
