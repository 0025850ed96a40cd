//! Following the integration registry: `ferry.integration.changed` (bound to this connector's
//! queue) adds, changes, pauses, resumes and removes MplusKASSA installations without a
//! restart.
//!
//! - `draft`, `paused`: the installation is served (the client exists) but not active: no
//!   change detection, commands deferred ([`Integrations::is_active`]); the cursors stay, so
//!   what changed meanwhile is read on resume.
//! - `live`: served and polled.
//! - `deleted`: no longer served; connection settings, cursors and cross-references erased.
//!
//! The secret arrives sealed and is opened here with the deployment's keyring
//! (`FERRY_CREDENTIALS_KEY`); it never reaches a table or a log line. The mapper republishes
//! every integration at its start, so this connector learns them then (until that, its
//! `[[integrations]]` from the configuration are served as before).

use ferry_platform::bus::{Delivery, Outcome};
use ferry_platform::config::Secret;
use ferry_platform::registry::{RegistryFollower, mpluskassa_secret_context};
use ferry_proto::messages::{IntegrationChanged, IntegrationState};
use ferry_proto::{CurrencyCode, Envelope};

use crate::client::Connection;
use crate::config::{Entities, SkuSource};
use crate::integrations::{IntegrationSettings, Integrations};

/// Applies registry changes to the served installations.
pub struct RegistryListener {
    follower: RegistryFollower,
    integrations: Integrations,
}

impl RegistryListener {
    /// A listener updating `integrations`, opening credentials with `follower`.
    pub fn new(follower: RegistryFollower, integrations: Integrations) -> Self {
        Self {
            follower,
            integrations,
        }
    }

    /// Handles one `integration.changed` delivery.
    pub async fn handle(&self, delivery: &Delivery) -> Outcome {
        let envelope = match self.follower.decode(delivery) {
            Ok(Some(e)) => e,
            Ok(None) => return Outcome::Ack,
            Err(out) => return out,
        };
        let id = envelope.integration_id;
        let change = &envelope.payload;
        if change.state == IntegrationState::Deleted {
            if let Err(e) = self.integrations.remove(id, true).await {
                return Outcome::Retry(format!("cannot erase integration {id}: {e}"));
            }
            self.follower.applied(id, change.revision);
            tracing::info!(integration = %id, "integration deleted: MplusKASSA connection, cursors and cross-references erased");
            return Outcome::Ack;
        }
        let settings = match self.settings(&envelope) {
            Ok(Some(s)) => s,
            // A change without an MplusKASSA connection: nothing to serve here.
            Ok(None) => return Outcome::Ack,
            Err(out) => return out,
        };
        let active = change.state == IntegrationState::Live;
        self.integrations.set_active(id, active);
        if let Err(e) = self.integrations.upsert(settings).await {
            return Outcome::Retry(format!("cannot serve integration {id}: {e}"));
        }
        self.follower.applied(id, change.revision);
        tracing::info!(integration = %id, revision = change.revision, active, "integration updated from the registry");
        Outcome::Ack
    }

    fn settings(
        &self,
        envelope: &Envelope<IntegrationChanged>,
    ) -> Result<Option<IntegrationSettings>, Outcome> {
        let id = envelope.integration_id;
        let Some(mk) = &envelope.payload.mpluskassa else {
            return Ok(None);
        };
        let secret = self.follower.open(
            id,
            "mpluskassa.secret",
            &mk.secret_sealed,
            &mpluskassa_secret_context(id),
        )?;
        // The installation's amounts are in the shop's currency.
        let currency = envelope
            .payload
            .mailchimp
            .as_ref()
            .map_or(CurrencyCode::EUR, |m| m.currency);
        Ok(Some(IntegrationSettings {
            id,
            connection: Connection {
                endpoint: mk.endpoint.clone(),
                ident: mk.ident.clone(),
                secret: Secret::new(secret),
            },
            branch: mk.branch,
            workplace: mk.workplace,
            sku_source: SkuSource::default(),
            currency,
            default_turnover_group: None,
            default_vat_code: None,
            observe: Entities::default(),
        }))
    }
}
