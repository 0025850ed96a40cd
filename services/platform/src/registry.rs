//! Following the integration registry: what every consumer of `ferry.integration.changed`
//! needs, so the connectors follow it the same way.
//!
//! The registry (in the mapper) publishes an [`IntegrationChanged`] after every change and, at
//! its start, one per integration. A [`RegistryFollower`] decodes them, drops stale ones
//! (a revision not above one already applied: deliveries may come out of order, and the
//! registry republishes everything periodically), and opens
//! the sealed credentials with the deployment's [`Keyring`]; the caller applies the change
//! and then [`RegistryFollower::applied`] records its revision.

use std::collections::HashMap;
use std::sync::Mutex;

use ferry_proto::messages::IntegrationChanged;
use ferry_proto::{Envelope, IntegrationId, Message};

use crate::bus::{Binding, Delivery, Outcome};
use crate::secrets::{Keyring, SecretError};

/// The sealing context of an integration's MailChimp API key.
pub fn mailchimp_key_context(id: impl std::fmt::Display) -> String {
    format!("integration/{id}/mailchimp.api_key")
}

/// The sealing context of an integration's MplusKASSA secret.
pub fn mpluskassa_secret_context(id: impl std::fmt::Display) -> String {
    format!("integration/{id}/mpluskassa.secret")
}

/// The binding that brings registry changes to a queue (events exchange).
pub fn binding() -> Binding {
    Binding::events("ferry.integration.changed")
}

/// Whether a delivery is a registry change.
pub fn is_registry_change(delivery: &Delivery) -> bool {
    delivery.message.message_type() == IntegrationChanged::MESSAGE_TYPE
}

/// Decodes registry changes, drops stale ones, opens credentials.
#[derive(Debug)]
pub struct RegistryFollower {
    service: &'static str,
    keyring: Option<Keyring>,
    revisions: Mutex<HashMap<IntegrationId, u64>>,
}

impl RegistryFollower {
    /// A follower for `service` (named in its errors), with the host's keyring or, without
    /// one, the keyring of `FERRY_CREDENTIALS_KEY` (none: changes with credentials are
    /// parked with that reason).
    pub fn new(service: &'static str, keyring: Option<Keyring>) -> Result<Self, SecretError> {
        let keyring = match keyring {
            Some(k) => Some(k),
            None => match Keyring::from_env() {
                Ok(k) => Some(k),
                Err(SecretError::Missing) => None,
                Err(e) => return Err(e),
            },
        };
        Ok(Self {
            service,
            keyring,
            revisions: Mutex::default(),
        })
    }

    /// The change in `delivery`, or `Ok(None)` when this or a newer revision was applied
    /// already (the registry republishes periodically).
    pub fn decode(
        &self,
        delivery: &Delivery,
    ) -> Result<Option<Envelope<IntegrationChanged>>, Outcome> {
        let envelope =
            Envelope::<IntegrationChanged>::decode(&delivery.message.body).map_err(|e| {
                Outcome::DeadLetter(format!(
                    "{} cannot decode integration.changed {}: {e}",
                    self.service, delivery.message.message_id
                ))
            })?;
        let known = self
            .revisions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&envelope.integration_id)
            .copied();
        if known.is_some_and(|k| k >= envelope.payload.revision) {
            tracing::debug!(integration = %envelope.integration_id, revision = envelope.payload.revision, "stale registry change ignored");
            return Ok(None);
        }
        Ok(Some(envelope))
    }

    /// Opens a sealed credential of integration `id`; a failure parks the change with a
    /// reason naming the integration and the field, never the value.
    pub fn open(
        &self,
        id: IntegrationId,
        field: &str,
        sealed: &str,
        context: &str,
    ) -> Result<String, Outcome> {
        let keyring = self.keyring.as_ref().ok_or_else(|| {
            Outcome::DeadLetter(format!(
                "{}: integration {id}: {} cannot be opened: {}",
                self.service,
                field,
                SecretError::Missing
            ))
        })?;
        keyring.open(sealed, context).map_err(|e| {
            Outcome::DeadLetter(format!(
                "{}: integration {id}: {field} cannot be opened: {e}",
                self.service
            ))
        })
    }

    /// Records that revision `revision` of `id` is applied.
    pub fn applied(&self, id: IntegrationId, revision: u64) {
        let mut revisions = self.revisions.lock().unwrap_or_else(|e| e.into_inner());
        let entry = revisions.entry(id).or_insert(revision);
        *entry = (*entry).max(revision);
    }
}
