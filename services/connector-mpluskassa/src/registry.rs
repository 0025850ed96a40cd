//! Following the integration registry: `ferry.integration.changed` (bound to this connector's
//! queue) adds, changes, pauses, resumes and removes MplusKASSA installations without a
//! restart.
//!
//! - `draft`, `paused`: the installation is served (the client exists) but not active: no
//!   change detection, commands deferred ([`is_active`](ferry_platform::connector::Integrations::is_active)); the cursors stay, so
//!   what changed meanwhile is read on resume.
//! - `live`: served and polled.
//! - `deleted`: no longer served; connection settings, cursors and cross-references erased.
//!
//! The secret arrives sealed and is opened here with the deployment's keyring
//! (`FERRY_CREDENTIALS_KEY`); it never reaches a table or a log line. The mapper republishes
//! every integration at its start (and periodically); each change is also kept in the
//! `ferry_registry_mirror` table, which every replica applies at start and every few seconds
//! (`ferry_platform::registry`). Its `[[integrations]]` from the configuration are served as
//! before.

use async_trait::async_trait;
use ferry_platform::bus::Outcome;
use ferry_platform::config::Secret;
use ferry_platform::registry::{RegistryFollower, RegistryTarget, mpluskassa_secret_context};
use ferry_proto::messages::IntegrationChanged;
use ferry_proto::{CurrencyCode, Envelope, IntegrationId};

use crate::client::Connection;
use crate::config::{Entities, SalesSettings, SkuSource};
use crate::integrations::{IntegrationSettings, Integrations};

/// Applies registry changes to the served installations.
pub type RegistryListener = ferry_platform::registry::RegistryListener<Integrations>;

#[async_trait]
impl RegistryTarget for Integrations {
    type Connection = IntegrationSettings;

    fn connection(
        &self,
        follower: &RegistryFollower,
        envelope: &Envelope<IntegrationChanged>,
    ) -> Result<Option<IntegrationSettings>, Outcome> {
        let id = envelope.integration_id;
        let Some(mk) = &envelope.payload.mpluskassa else {
            return Ok(None);
        };
        // An endpoint the egress guard refuses is refused for good (not retried): the
        // integration must be saved with another one, or the deployment allow it.
        let checked = reqwest::Url::parse(&mk.endpoint)
            .map_err(|e| e.to_string())
            .and_then(|url| {
                self.client_settings()
                    .egress
                    .check_credentialed_url(&url)
                    .map_err(|e| e.to_string())
            });
        if let Err(reason) = checked {
            return Err(Outcome::DeadLetter(format!(
                "connector-mpluskassa: integration {id}: mpluskassa.endpoint: {reason}"
            )));
        }
        let secret = follower.open(
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
            sales: SalesSettings::default(),
        }))
    }

    async fn serve(
        &self,
        id: IntegrationId,
        settings: IntegrationSettings,
        live: bool,
    ) -> Result<(), String> {
        self.set_active(id, live);
        self.upsert(settings)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn erase(&self, id: IntegrationId) -> Result<(), String> {
        self.remove(id, true).await.map_err(|e| e.to_string())
    }
}
